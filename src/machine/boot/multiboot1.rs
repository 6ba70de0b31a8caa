//! Multiboot 1 (Multiboot Specification 0.6.96): ELF kernels and the a.out kludge.
//!
//! The header (§3.1) lies 4-byte aligned in the first 8 KiB; flags bits 0–15 are
//! requirements: vx86 honours bit 0 (modules page-aligned: always done), bit 1 (memory
//! information: always given) and bit 2 (video mode: framebuffer information is given when
//! a display is configured, else the kernel gets none, as GRUB falls back to text), and
//! refuses any other requirement bit. Bit 16 selects the a.out kludge: the header's
//! addresses say what to load where; otherwise the kernel must be ELF (32-bit, or 64-bit
//! with a 32-bit entry point).
//!
//! The machine state (§3.2): flat 32-bit protected mode, paging off, interrupts off,
//! EAX = 0x2BADB002, EBX = the boot information (§3.3), which holds mem_lower/mem_upper,
//! the command line (the kernel's file name, a space and `--append`, as QEMU passes it),
//! the modules (the file name and its arguments as string, as QEMU does), the e820 memory
//! map, the boot loader name "vx86", and the framebuffer when there is one.

use std::path::Path;

use super::elf::{self, check_entry};
use super::layout::{layout, le32, put16, put32, put64};
use super::place::{self, Blob, Placer};
use super::{
    alloc_boot_data, alloc_cpu_tables, mem_lower_upper, modules, place_modules, BootEnv,
    BootOptions, BootPlan, EntryMode, Framebuffer, KernelFormat, LoadError, PixelFormat,
};
use crate::cpu::reg;

/// The header magic (§3.1.1).
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// EAX at entry (§3.2).
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header lies in this many first bytes of the file.
pub const SEARCH: usize = 8192;
/// The boot loader name vx86 reports.
pub const LOADER_NAME: &str = "vx86";

/// Header flags (§3.1.2).
pub mod flags {
    /// Modules must be page-aligned.
    pub const PAGE_ALIGN: u32 = 1 << 0;
    /// mem_* and mmap_* must be given.
    pub const MEMORY_INFO: u32 = 1 << 1;
    /// Video mode information must be given.
    pub const VIDEO_MODE: u32 = 1 << 2;
    /// The header's address fields are valid (the a.out kludge).
    pub const AOUT_KLUDGE: u32 = 1 << 16;
    /// The requirement bits vx86 knows.
    pub const KNOWN_REQUIREMENTS: u32 = PAGE_ALIGN | MEMORY_INFO | VIDEO_MODE;
}

/// Boot information flags (§3.3).
pub mod info_flags {
    /// mem_lower / mem_upper are valid.
    pub const MEMORY: u32 = 1 << 0;
    /// cmdline is valid.
    pub const CMDLINE: u32 = 1 << 2;
    /// mods_count / mods_addr are valid.
    pub const MODS: u32 = 1 << 3;
    /// mmap_length / mmap_addr are valid.
    pub const MEM_MAP: u32 = 1 << 6;
    /// boot_loader_name is valid.
    pub const BOOT_LOADER_NAME: u32 = 1 << 9;
    /// framebuffer_* are valid.
    pub const FRAMEBUFFER: u32 = 1 << 12;
}

layout! {
    /// The multiboot header (§3.1.1), with the a.out kludge and video fields.
    header, size 48 {
        /// 0x1BADB002.
        MAGIC: 0, 4;
        /// Requirements and features.
        FLAGS: 4, 4;
        /// magic + flags + checksum == 0.
        CHECKSUM: 8, 4;
        /// Physical address of this header (a.out kludge).
        HEADER_ADDR: 12, 4;
        /// Physical address of the start of the text segment.
        LOAD_ADDR: 16, 4;
        /// End of the data segment (0: the rest of the file).
        LOAD_END_ADDR: 20, 4;
        /// End of the bss (0: no bss).
        BSS_END_ADDR: 24, 4;
        /// Entry point.
        ENTRY_ADDR: 28, 4;
        /// Preferred video mode: 0 linear graphics, 1 EGA text.
        MODE_TYPE: 32, 4;
        /// Preferred width.
        WIDTH: 36, 4;
        /// Preferred height.
        HEIGHT: 40, 4;
        /// Preferred depth.
        DEPTH: 44, 4;
    }
}

layout! {
    /// The boot information structure (§3.3).
    info, size 116 {
        /// Which fields are valid.
        FLAGS: 0, 4;
        /// KiB of memory from 0.
        MEM_LOWER: 4, 4;
        /// KiB of memory from 1 MiB to the first hole.
        MEM_UPPER: 8, 4;
        /// BIOS boot device (not given: no BIOS booted the kernel).
        BOOT_DEVICE: 12, 4;
        /// Command line (physical address of a C string).
        CMDLINE: 16, 4;
        /// Number of modules.
        MODS_COUNT: 20, 4;
        /// Physical address of the module list.
        MODS_ADDR: 24, 4;
        /// a.out symbol table or ELF section headers (not given).
        SYMS: 28, 16;
        /// Bytes of memory map.
        MMAP_LENGTH: 44, 4;
        /// Physical address of the memory map.
        MMAP_ADDR: 48, 4;
        /// Bytes of drive structures (not given).
        DRIVES_LENGTH: 52, 4;
        /// Drive structures.
        DRIVES_ADDR: 56, 4;
        /// ROM configuration table (not given).
        CONFIG_TABLE: 60, 4;
        /// Physical address of the boot loader's name.
        BOOT_LOADER_NAME: 64, 4;
        /// APM table (not given).
        APM_TABLE: 68, 4;
        /// VBE control information (not given).
        VBE_CONTROL_INFO: 72, 4;
        /// VBE mode information.
        VBE_MODE_INFO: 76, 4;
        /// VBE mode.
        VBE_MODE: 80, 2;
        /// VBE protected-mode interface segment.
        VBE_INTERFACE_SEG: 82, 2;
        /// Its offset.
        VBE_INTERFACE_OFF: 84, 2;
        /// Its length.
        VBE_INTERFACE_LEN: 86, 2;
        /// Framebuffer physical address.
        FRAMEBUFFER_ADDR: 88, 8;
        /// Bytes per line.
        FRAMEBUFFER_PITCH: 96, 4;
        /// Width (pixels or characters).
        FRAMEBUFFER_WIDTH: 100, 4;
        /// Height.
        FRAMEBUFFER_HEIGHT: 104, 4;
        /// Bits per pixel.
        FRAMEBUFFER_BPP: 108, 1;
        /// 0 indexed, 1 direct RGB, 2 EGA text.
        FRAMEBUFFER_TYPE: 109, 1;
        /// Colour information: RGB field positions and sizes, or the palette.
        COLOR_INFO: 110, 6;
    }
}

layout! {
    /// One module list entry (§3.3).
    module, size 16 {
        /// First byte.
        MOD_START: 0, 4;
        /// One past the last byte.
        MOD_END: 4, 4;
        /// Physical address of the module's string.
        STRING: 8, 4;
        /// Zero.
        RESERVED: 12, 4;
    }
}

layout! {
    /// One memory map entry (§3.3); `size` counts the bytes after itself (20).
    mmap_entry, size 24 {
        /// Bytes of the entry after this field.
        SIZE_FIELD: 0, 4;
        /// First address.
        BASE_ADDR: 4, 8;
        /// Length.
        LENGTH: 12, 8;
        /// e820 type.
        TYPE: 20, 4;
    }
}

/// The offset of a valid multiboot 1 header (magic and checksum) in the first 8 KiB.
pub(crate) fn find_header(b: &[u8]) -> Option<usize> {
    let end = b.len().min(SEARCH);
    (0..end.saturating_sub(11)).step_by(4).find(|&at| {
        let word = |off| le32(b, at + off).unwrap_or(0);
        word(0) == HEADER_MAGIC && word(0).wrapping_add(word(4)).wrapping_add(word(8)) == 0
    })
}

/// The address fields of the a.out kludge (multiboot 1) or the address tag (multiboot 2).
pub(crate) struct AoutFields {
    pub(crate) header_addr: u32,
    pub(crate) load_addr: u32,
    pub(crate) load_end_addr: u32,
    pub(crate) bss_end_addr: u32,
}

/// Loads an image by its header's address fields (§3.1.3): the file from offset
/// `header_offset - (header_addr - load_addr)` goes to `load_addr`, up to `load_end_addr`
/// (0: to the end of the file), then zeroes up to `bss_end_addr` (0: none). `load_addr`
/// 0xFFFFFFFF (multiboot 2 only) loads from the start of the file. Returns the physical
/// range loaded, bss included.
pub(crate) fn load_aout(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    header_offset: usize,
    a: &AoutFields,
    whole_file_escape: bool,
) -> Result<(u64, u64), String> {
    let (file_off, load_addr) = if whole_file_escape && a.load_addr == u32::MAX {
        let addr = (a.header_addr as u64)
            .checked_sub(header_offset as u64)
            .ok_or_else(|| {
                format!(
                    "header out of range: header_addr {:#x} is below the header's file offset \
                     {header_offset:#x}",
                    a.header_addr
                )
            })?;
        (0u64, addr)
    } else {
        if a.load_addr > a.header_addr {
            return Err(format!(
                "header out of range: load_addr {:#x} is above header_addr {:#x}",
                a.load_addr, a.header_addr
            ));
        }
        let back = (a.header_addr - a.load_addr) as u64;
        let off = (header_offset as u64).checked_sub(back).ok_or_else(|| {
            format!(
                "header out of range: load_addr {:#x} lies {back:#x} bytes before the header, \
                 before the start of the file",
                a.load_addr
            )
        })?;
        (off, a.load_addr as u64)
    };
    let len = b.len() as u64;
    let load_len = if a.load_end_addr == 0 {
        len - file_off
    } else {
        (a.load_end_addr as u64)
            .checked_sub(load_addr)
            .ok_or_else(|| {
                format!(
                    "header out of range: load_end_addr {:#x} is below load_addr {load_addr:#x}",
                    a.load_end_addr
                )
            })?
    };
    if file_off + load_len > len {
        return Err(format!(
            "truncated: the header asks for {load_len:#x} bytes from file offset {file_off:#x}, \
             the file has {len} bytes"
        ));
    }
    let end = load_addr + load_len;
    let bss_end = match a.bss_end_addr as u64 {
        0 => end,
        e if e < end => {
            return Err(format!(
                "header out of range: bss_end_addr {e:#x} is below the end of the loaded \
                 image {end:#x}"
            ))
        }
        e => e,
    };
    placer.claim(load_addr, bss_end - load_addr, "kernel image")?;
    let data = &b[file_off as usize..(file_off + load_len) as usize];
    place::write(env.mem, load_addr, data, "kernel image")?;
    place::zero(env.mem, end, bss_end - end, "kernel bss")?;
    Ok((load_addr, bss_end))
}

/// Loads a multiboot 1 kernel whose header is at `at`.
pub(crate) fn load(
    env: &mut BootEnv,
    placer: &mut Placer,
    kernel: &Path,
    b: &[u8],
    at: usize,
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let hdr = |off: usize| {
        le32(b, at + off).ok_or_else(|| {
            format!(
                "truncated multiboot header at {at:#x}: field at +{off} lies beyond the end of \
                 the file ({} bytes)",
                b.len()
            )
        })
    };
    let fl = hdr(header::FLAGS)?;
    let unknown = fl & 0xFFFF & !flags::KNOWN_REQUIREMENTS;
    if unknown != 0 {
        return Err(LoadError::from(format!(
            "multiboot header requires features vx86 does not provide (flags {fl:#x}, unknown \
             requirement bits {unknown:#x})"
        )));
    }
    let (entry, kernel_end) = if fl & flags::AOUT_KLUDGE != 0 {
        let a = AoutFields {
            header_addr: hdr(header::HEADER_ADDR)?,
            load_addr: hdr(header::LOAD_ADDR)?,
            load_end_addr: hdr(header::LOAD_END_ADDR)?,
            bss_end_addr: hdr(header::BSS_END_ADDR)?,
        };
        let entry = hdr(header::ENTRY_ADDR)? as u64;
        let (start, end) = load_aout(env, placer, b, at, &a, false)?;
        check_entry(entry, start <= entry && entry < end)?;
        (entry, end)
    } else {
        let image = elf::parse(b).map_err(|e| {
            format!(
                "multiboot header without the a.out kludge (flags bit 16) needs an ELF kernel: {e}"
            )
        })?;
        image.load(b, env.mem, placer)?;
        let entry = image.phys_entry();
        check_entry(entry, image.holds(entry))?;
        (entry, image.phys_end())
    };
    check_entry_32bit(entry)?;

    let mods = modules(opts, true);
    let placed = place_modules(env.mem, placer, &mods, kernel_end)?;

    let cmdline = if opts.cmdline.is_empty() {
        kernel.display().to_string()
    } else {
        format!("{} {}", kernel.display(), opts.cmdline)
    };
    let mut blob = Blob::default();
    let i = blob.push(&[0; info::SIZE], 8);
    let mut info_flags = info_flags::MEMORY
        | info_flags::CMDLINE
        | info_flags::MODS
        | info_flags::MEM_MAP
        | info_flags::BOOT_LOADER_NAME;
    let (lower, upper) = mem_lower_upper(env.e820);
    put32(&mut blob.data, i + info::MEM_LOWER, lower);
    put32(&mut blob.data, i + info::MEM_UPPER, upper);
    let s = blob.push_str(&cmdline, 4);
    blob.point(i + info::CMDLINE, s);
    let s = blob.push_str(LOADER_NAME, 4);
    blob.point(i + info::BOOT_LOADER_NAME, s);

    let list = blob.push(&vec![0; module::SIZE * mods.len()], 4);
    put32(&mut blob.data, i + info::MODS_COUNT, mods.len() as u32);
    blob.point(i + info::MODS_ADDR, list);
    for (n, (m, &(start, end))) in mods.iter().zip(&placed).enumerate() {
        let e = list + n * module::SIZE;
        put32(&mut blob.data, e + module::MOD_START, start as u32);
        put32(&mut blob.data, e + module::MOD_END, end as u32);
        let s = blob.push_str(&m.string, 4);
        blob.point(e + module::STRING, s);
    }

    let mut map = Vec::with_capacity(env.e820.len() * mmap_entry::SIZE);
    for e in env.e820 {
        let mut entry = [0; mmap_entry::SIZE];
        put32(
            &mut entry,
            mmap_entry::SIZE_FIELD,
            (mmap_entry::SIZE - 4) as u32,
        );
        put64(&mut entry, mmap_entry::BASE_ADDR, e.addr);
        put64(&mut entry, mmap_entry::LENGTH, e.size);
        put32(&mut entry, mmap_entry::TYPE, e.kind);
        map.extend_from_slice(&entry);
    }
    let m = blob.push(&map, 8);
    put32(&mut blob.data, i + info::MMAP_LENGTH, map.len() as u32);
    blob.point(i + info::MMAP_ADDR, m);

    if let Some(fb) = &env.framebuffer {
        info_flags |= info_flags::FRAMEBUFFER;
        write_framebuffer(&mut blob.data[i..i + info::SIZE], fb);
    }
    put32(&mut blob.data, i + info::FLAGS, info_flags);

    let (gdt, _) = alloc_cpu_tables(placer, false)?;
    let len = blob.data.len() as u64;
    let addr = alloc_boot_data(placer, len, 8, "multiboot information")?;
    place::write(
        env.mem,
        addr,
        &blob.placed_at(addr),
        "multiboot information",
    )?;

    let mut gpr = [0; 16];
    gpr[reg::RAX as usize] = BOOTLOADER_MAGIC as u64;
    gpr[reg::RBX as usize] = addr;
    Ok(BootPlan {
        format: KernelFormat::Multiboot1,
        mode: EntryMode::Protected,
        entry,
        gpr,
        gdt,
        page_tables: None,
        claims: placer.claims().to_vec(),
    })
}

/// Fails unless `entry` is reachable from 32-bit protected mode (a 64-bit ELF kernel must
/// start with a 32-bit stub below 4 GiB).
pub(crate) fn check_entry_32bit(entry: u64) -> Result<(), String> {
    if entry >> 32 == 0 {
        Ok(())
    } else {
        Err(format!(
            "entry point {entry:#x} is above 4 GiB: multiboot starts kernels in 32-bit \
             protected mode"
        ))
    }
}

/// Fills the framebuffer fields (§3.3, framebuffer_*) of a boot information structure.
fn write_framebuffer(i: &mut [u8], fb: &Framebuffer) {
    put64(i, info::FRAMEBUFFER_ADDR, fb.addr);
    put32(i, info::FRAMEBUFFER_PITCH, fb.pitch);
    put32(i, info::FRAMEBUFFER_WIDTH, fb.width);
    put32(i, info::FRAMEBUFFER_HEIGHT, fb.height);
    i[info::FRAMEBUFFER_BPP] = fb.bpp;
    match fb.format {
        PixelFormat::Text => i[info::FRAMEBUFFER_TYPE] = 2,
        PixelFormat::Rgb { red, green, blue } => {
            i[info::FRAMEBUFFER_TYPE] = 1;
            let c = info::COLOR_INFO;
            i[c..c + 6].copy_from_slice(&[red.0, red.1, green.0, green.1, blue.0, blue.1]);
        }
    }
    // No VBE information: the mode was not set through a VBE BIOS.
    put16(i, info::VBE_MODE, 0);
}

#[cfg(test)]
mod tests {
    use super::super::layout::tests::assert_tiles;
    use super::super::layout::{le64, le8};
    use super::super::testimg::*;
    use super::super::{e820, load, BootOptions};
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn structures_tile_as_the_specification_lays_them_out() {
        assert_tiles(header::FIELDS, 0, header::SIZE);
        assert_tiles(info::FIELDS, 0, info::SIZE);
        assert_tiles(module::FIELDS, 0, module::SIZE);
        assert_tiles(mmap_entry::FIELDS, 0, mmap_entry::SIZE);
    }

    fn opts() -> BootOptions {
        BootOptions {
            cmdline: "console=ttyS0 debug".into(),
            initrd: None,
            modules: vec![
                (
                    PathBuf::from("mod/a.bin"),
                    vec![0x11; 5000],
                    "alpha beta".into(),
                ),
                (PathBuf::from("b.bin"), vec![0x22; 3], String::new()),
            ],
            ..BootOptions::default()
        }
    }

    /// Checks the boot information a multiboot 1 kernel receives, field by field.
    fn check_info(mem: &crate::mem::PhysMem, plan: &BootPlan, kernel_end: u64) {
        assert_eq!(plan.gpr[reg::RAX as usize], 0x2BAD_B002);
        let mbi = plan.gpr[reg::RBX as usize];
        assert!(
            (0x1_0000..0xA_0000).contains(&mbi),
            "info in GRUB's low window"
        );
        let i = read(mem, mbi, info::SIZE);
        assert_eq!(
            le32(&i, info::FLAGS),
            Some(0x24D),
            "memory, cmdline, mods, mmap, name"
        );
        assert_eq!(le32(&i, info::MEM_LOWER), Some(639));
        assert_eq!(
            le32(&i, info::MEM_UPPER),
            Some(((TEST_RAM >> 10) - 1024) as u32)
        );
        assert_eq!(
            cstr(mem, le32(&i, info::CMDLINE).unwrap()),
            "k.elf console=ttyS0 debug"
        );
        assert_eq!(cstr(mem, le32(&i, info::BOOT_LOADER_NAME).unwrap()), "vx86");
        assert_eq!(le32(&i, info::MODS_COUNT), Some(2));
        let mods = read(mem, le32(&i, info::MODS_ADDR).unwrap() as u64, 32);
        let start0 = le32(&mods, 0).unwrap() as u64;
        assert_eq!(start0 % 4096, 0, "modules are page-aligned");
        assert!(start0 >= kernel_end, "modules follow the kernel");
        assert_eq!(
            le32(&mods, 4),
            Some(start0 as u32 + 5000),
            "mod_end is exclusive"
        );
        assert_eq!(cstr(mem, le32(&mods, 8).unwrap()), "mod/a.bin alpha beta");
        assert_eq!(le32(&mods, 12), Some(0));
        let start1 = le32(&mods, 16).unwrap() as u64;
        assert_eq!(start1, start0 + 0x2000, "next page after module 0");
        assert_eq!(le32(&mods, 20), Some(start1 as u32 + 3));
        assert_eq!(cstr(mem, le32(&mods, 24).unwrap()), "b.bin");
        assert_eq!(read(mem, start0, 5000), vec![0x11; 5000]);
        assert_eq!(read(mem, start1, 3), vec![0x22; 3]);
        let map = test_e820();
        assert_eq!(le32(&i, info::MMAP_LENGTH), Some(24 * map.len() as u32));
        let mm = read(
            mem,
            le32(&i, info::MMAP_ADDR).unwrap() as u64,
            24 * map.len(),
        );
        for (n, e) in map.iter().enumerate() {
            let m = &mm[n * 24..];
            assert_eq!(le32(m, 0), Some(20), "size excludes itself");
            assert_eq!(le64(m, 4), Some(e.addr));
            assert_eq!(le64(m, 12), Some(e.size));
            assert_eq!(le32(m, 20), Some(e.kind));
        }
        assert_eq!(map[1].kind, e820::RESERVED);
    }

    #[test]
    fn elf_kernel_gets_complete_boot_information() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let plan = load(&mut env, Path::new("k.elf"), &mb1_elf_image(), &opts()).unwrap();
        assert_eq!(plan.format, KernelFormat::Multiboot1);
        assert_eq!(plan.mode, EntryMode::Protected);
        assert_eq!(plan.entry, 0x10_0000 + 4);
        assert_eq!(read(&mem, 0x10_0000, 64), ELF_CODE.to_vec());
        check_info(&mem, &plan, 0x10_1030);
    }

    #[test]
    fn aout_kludge_loads_by_the_header_addresses() {
        let mut mem = test_mem();
        mem.write_bytes(0x10_3000, &[0xFF; 0x100]).unwrap();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let img = mb1_aout_image();
        let plan = load(&mut env, Path::new("k.elf"), &img, &opts()).unwrap();
        assert_eq!(plan.entry, 0x10_0040);
        // The file from offset 0 lands at load_addr 0x100000, up to load_end_addr.
        assert_eq!(read(&mem, 0x10_0000, 0x3000), img[..0x3000].to_vec());
        assert_eq!(read(&mem, 0x10_3000, 0x100), vec![0; 0x100], "bss zeroed");
        check_info(&mem, &plan, 0x10_4000);
    }

    #[test]
    fn framebuffer_information_when_a_display_is_configured() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        env.framebuffer = Some(Framebuffer {
            addr: 0xFD00_0000,
            width: 1024,
            height: 768,
            pitch: 4096,
            bpp: 32,
            format: PixelFormat::Rgb {
                red: (16, 8),
                green: (8, 8),
                blue: (0, 8),
            },
        });
        let plan = load(
            &mut env,
            Path::new("k"),
            &mb1_elf_image(),
            &BootOptions::default(),
        )
        .unwrap();
        let i = read(&mem, plan.gpr[reg::RBX as usize], info::SIZE);
        assert_eq!(
            le32(&i, 0).unwrap() & info_flags::FRAMEBUFFER,
            info_flags::FRAMEBUFFER
        );
        assert_eq!(le64(&i, info::FRAMEBUFFER_ADDR), Some(0xFD00_0000));
        assert_eq!(le32(&i, info::FRAMEBUFFER_PITCH), Some(4096));
        assert_eq!(le32(&i, info::FRAMEBUFFER_WIDTH), Some(1024));
        assert_eq!(le32(&i, info::FRAMEBUFFER_HEIGHT), Some(768));
        assert_eq!(le8(&i, info::FRAMEBUFFER_BPP), Some(32));
        assert_eq!(le8(&i, info::FRAMEBUFFER_TYPE), Some(1));
        assert_eq!(
            &i[info::COLOR_INFO..info::COLOR_INFO + 6],
            &[16, 8, 8, 8, 0, 8]
        );
        assert_eq!(
            cstr(&mem, le32(&i, info::CMDLINE).unwrap()),
            "k",
            "no --append"
        );
        assert_eq!(le32(&i, info::MODS_COUNT), Some(0));
    }

    #[test]
    fn an_initrd_becomes_the_first_module() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let mut o = opts();
        o.initrd = Some((PathBuf::from("initrd.img"), vec![7; 10]));
        let plan = load(&mut env, Path::new("k"), &mb1_elf_image(), &o).unwrap();
        let i = read(&mem, plan.gpr[reg::RBX as usize], info::SIZE);
        assert_eq!(le32(&i, info::MODS_COUNT), Some(3));
        let mods = read(&mem, le32(&i, info::MODS_ADDR).unwrap() as u64, 16);
        assert_eq!(cstr(&mem, le32(&mods, 8).unwrap()), "initrd.img");
    }

    #[test]
    fn malformed_multiboot1_images_are_refused_with_the_reason() {
        let aout = mb1_aout_image();
        let h = MB1_AOUT_HEADER;
        let cases: Vec<(Vec<u8>, &str)> =
            vec![
            (
                with_mb1_flags(&aout, h, flags::AOUT_KLUDGE | 1 << 5),
                "multiboot header requires features vx86 does not provide (flags 0x10020, \
                 unknown requirement bits 0x20)",
            ),
            (
                patch(aout.clone(), h + header::LOAD_ADDR, &0x10_2000u32.to_le_bytes()),
                "header out of range: load_addr 0x102000 is above header_addr 0x100100",
            ),
            (
                patch(aout.clone(), h + header::LOAD_ADDR, &0xF_0000u32.to_le_bytes()),
                "header out of range: load_addr 0xf0000 lies 0x10100 bytes before the header, \
                 before the start of the file",
            ),
            (
                patch(aout.clone(), h + header::LOAD_END_ADDR, &0x20_0000u32.to_le_bytes()),
                "truncated: the header asks for 0x100000 bytes from file offset 0x0, the file \
                 has 12288 bytes",
            ),
            (
                patch(aout.clone(), h + header::BSS_END_ADDR, &0x10_1000u32.to_le_bytes()),
                "header out of range: bss_end_addr 0x101000 is below the end of the loaded \
                 image 0x103000",
            ),
            (
                patch(aout.clone(), h + header::ENTRY_ADDR, &0x50_0000u32.to_le_bytes()),
                "entry point 0x500000 lies outside every loaded segment",
            ),
            (
                [mb1_header(0).as_slice(), &[0; 52]].concat(),
                "multiboot header without the a.out kludge (flags bit 16) needs an ELF kernel: \
                 not an ELF file (bad magic)",
            ),
            (
                aout[..h + 20].to_vec(),
                "truncated multiboot header at 0x100: field at +20 lies beyond the end of the \
                 file (276 bytes)",
            ),
        ];
        for (img, want) in cases {
            let mut mem = test_mem();
            let map = test_e820();
            let mut env = test_env(&mut mem, &map);
            let got = load(&mut env, Path::new("mb.bin"), &img, &BootOptions::default())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert_eq!(got, format!("mb.bin: {want}"));
        }
    }

    #[test]
    fn aout_image_into_reserved_memory_is_refused() {
        let mut aout = mb1_aout_image();
        let h = MB1_AOUT_HEADER;
        // Move the whole image to 0x9F000: its end crosses into the EBDA.
        for (f, v) in [
            (header::HEADER_ADDR, 0x9_F100u32),
            (header::LOAD_ADDR, 0x9_F000),
            (header::LOAD_END_ADDR, 0xA_2000),
            (header::BSS_END_ADDR, 0xA_3000),
            (header::ENTRY_ADDR, 0x9_F040),
        ] {
            aout = patch(aout, h + f, &v.to_le_bytes());
        }
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let err = load(&mut env, Path::new("k"), &aout, &BootOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "k: kernel image at 0x9f000..0xa3000 overlaps reserved memory 0x9fc00..0x100000 \
             (e820 type 2)"
        );
    }

    #[test]
    fn a_module_too_large_for_ram_names_the_module() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let o = BootOptions {
            modules: vec![(
                PathBuf::from("huge.bin"),
                vec![0; TEST_RAM as usize],
                String::new(),
            )],
            ..BootOptions::default()
        };
        let err = load(&mut env, Path::new("k"), &mb1_elf_image(), &o).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("huge.bin: module of {TEST_RAM} bytes does not fit in free RAM below 4 GiB")
        );
    }
}
