//! Multiboot 2 (Multiboot2 Specification 2.0): 32- and 64-bit ELF kernels, or the address
//! tag's layout.
//!
//! The header (§3.1) lies 8-byte aligned in the first 32 KiB, architecture 0 (i386). Its
//! tags (§3.1.3–3.1.13) are honoured or, unless marked optional, refused with an error:
//! information request (every requested tag vx86 cannot give is refused), address, entry
//! address, console flags (a required console needs a display), framebuffer (a required
//! one needs a display, and a graphics one unless the kernel accepts EGA text), module
//! alignment (modules are always page-aligned) and relocatable (the image is loaded where
//! it was linked, which the tag allows; its base is reported). The EFI tags (boot services,
//! EFI i386/amd64 entry) are refused: vx86 boots without UEFI. Unknown required tags are
//! refused too.
//!
//! 64-bit ELF kernels are accepted (QEMU refuses them) and, as the specification requires,
//! entered in 32-bit protected mode at their entry point (or the entry address tag), which
//! must lie below 4 GiB. EAX = 0x36D76289, EBX = the boot information (§3.6): command line
//! (`--append` alone, as GRUB 2 passes it), boot loader name, modules (their arguments),
//! basic memory information, the e820 memory map, the framebuffer when a display is
//! configured, the ACPI RSDP (old, and new for ACPI 2.0+) when the board has one, the
//! image load base for relocatable images, and the end tag; tags are 8-byte aligned.

use super::elf::{self, check_entry};
use super::layout::{align_up, layout, le16, le32, le8, put16, put32, put64};
use super::multiboot1::{check_entry_32bit, load_aout, AoutFields};
use super::place::{self, Blob, Placer};
use super::{
    alloc_boot_data, alloc_cpu_tables, mem_lower_upper, modules, place_modules, BootEnv,
    BootOptions, BootPlan, EntryMode, KernelFormat, LoadError, PixelFormat,
};
use crate::cpu::reg;

/// The header magic (§3.1.1).
pub const HEADER_MAGIC: u32 = 0xE852_50D6;
/// EAX at entry (§3.3).
pub const BOOTLOADER_MAGIC: u32 = 0x36D7_6289;
/// The header lies in this many first bytes of the file.
pub const SEARCH: usize = 32768;
/// `architecture` of 32-bit protected-mode i386.
pub const ARCH_I386: u32 = 0;

/// Header tag types (§3.1.3 onwards).
pub mod tag {
    /// Terminates the tag list.
    pub const END: u16 = 0;
    /// Information request.
    pub const INFORMATION_REQUEST: u16 = 1;
    /// Load addresses (a.out-style layout).
    pub const ADDRESS: u16 = 2;
    /// Entry address.
    pub const ENTRY_ADDRESS: u16 = 3;
    /// Console flags.
    pub const CONSOLE_FLAGS: u16 = 4;
    /// Preferred framebuffer mode.
    pub const FRAMEBUFFER: u16 = 5;
    /// Modules must be page-aligned.
    pub const MODULE_ALIGN: u16 = 6;
    /// Keep EFI boot services running.
    pub const EFI_BS: u16 = 7;
    /// EFI i386 entry address.
    pub const ENTRY_ADDRESS_EFI32: u16 = 8;
    /// EFI amd64 entry address.
    pub const ENTRY_ADDRESS_EFI64: u16 = 9;
    /// The image is relocatable.
    pub const RELOCATABLE: u16 = 10;
    /// Flags bit: the loader may ignore the tag.
    pub const OPTIONAL: u16 = 1;
}

/// Boot information tag types (§3.6).
pub mod info {
    /// End of the list.
    pub const END: u32 = 0;
    /// Command line.
    pub const CMDLINE: u32 = 1;
    /// Boot loader name.
    pub const BOOT_LOADER_NAME: u32 = 2;
    /// A module.
    pub const MODULE: u32 = 3;
    /// mem_lower / mem_upper.
    pub const BASIC_MEMINFO: u32 = 4;
    /// BIOS boot device.
    pub const BOOTDEV: u32 = 5;
    /// Memory map.
    pub const MMAP: u32 = 6;
    /// VBE information.
    pub const VBE: u32 = 7;
    /// Framebuffer information.
    pub const FRAMEBUFFER: u32 = 8;
    /// ELF section headers.
    pub const ELF_SECTIONS: u32 = 9;
    /// APM table.
    pub const APM: u32 = 10;
    /// A copy of the ACPI 1.0 RSDP.
    pub const ACPI_OLD: u32 = 14;
    /// A copy of the ACPI 2.0+ RSDP.
    pub const ACPI_NEW: u32 = 15;
    /// Image load base physical address.
    pub const LOAD_BASE_ADDR: u32 = 21;
}

layout! {
    /// The fixed part of the multiboot 2 header (§3.1.1).
    header, size 16 {
        /// 0xE85250D6.
        MAGIC: 0, 4;
        /// 0: i386 protected mode.
        ARCHITECTURE: 4, 4;
        /// Bytes of header, tags included.
        HEADER_LENGTH: 8, 4;
        /// magic + architecture + header_length + checksum == 0.
        CHECKSUM: 12, 4;
    }
}

layout! {
    /// The framebuffer information tag (§3.6.12), with GRUB's 16-bit `reserved` field.
    fb_tag, size 38 {
        /// 8.
        TYPE: 0, 4;
        /// Bytes of tag.
        SIZE_FIELD: 4, 4;
        /// Physical address.
        ADDR: 8, 8;
        /// Bytes per line.
        PITCH: 16, 4;
        /// Width.
        WIDTH: 20, 4;
        /// Height.
        HEIGHT: 24, 4;
        /// Bits per pixel.
        BPP: 28, 1;
        /// 0 indexed, 1 RGB, 2 EGA text.
        FB_TYPE: 29, 1;
        /// Zero.
        RESERVED: 30, 2;
        /// RGB: red position and size, green, blue.
        COLOR_INFO: 32, 6;
    }
}

/// The offset of a valid multiboot 2 header (magic and checksum) in the first 32 KiB.
pub(crate) fn find_header(b: &[u8]) -> Option<usize> {
    let end = b.len().min(SEARCH);
    (0..end.saturating_sub(header::SIZE - 1))
        .step_by(8)
        .find(|&at| {
            let word = |off| le32(b, at + off).unwrap_or(0);
            word(0) == HEADER_MAGIC
                && word(0)
                    .wrapping_add(word(4))
                    .wrapping_add(word(8))
                    .wrapping_add(word(12))
                    == 0
        })
}

/// What the header's tags ask for.
#[derive(Default)]
struct Request {
    /// Information tags the kernel must get.
    required_info: Vec<u32>,
    address: Option<AoutFields>,
    entry: Option<u32>,
    /// Console flags of a required console-flags tag.
    console: Option<u32>,
    /// A required framebuffer tag was given.
    framebuffer_required: bool,
    relocatable: bool,
}

/// Reads and checks the header tags.
fn parse_tags(b: &[u8], at: usize) -> Result<Request, String> {
    let len = le32(b, at + header::HEADER_LENGTH).unwrap_or(0) as usize;
    let arch = le32(b, at + header::ARCHITECTURE).unwrap_or(0);
    if arch != ARCH_I386 {
        return Err(format!(
            "multiboot2 header is for architecture {arch}, not i386 (0)"
        ));
    }
    if len < header::SIZE + 8 {
        return Err(format!(
            "multiboot2 header_length {len} is too small for the header and its end tag"
        ));
    }
    let end = at.saturating_add(len);
    if end > b.len() {
        return Err(format!(
            "truncated: the multiboot2 header at {at:#x} of {len} bytes runs past the end of \
             the file ({} bytes)",
            b.len()
        ));
    }
    if end > SEARCH {
        return Err(format!(
            "header out of range: the multiboot2 header at {at:#x} of {len} bytes extends \
             beyond the first 32 KiB"
        ));
    }
    let mut req = Request::default();
    let mut off = at + header::SIZE;
    loop {
        if off + 8 > end {
            return Err("multiboot2 header has no end tag".into());
        }
        // In range: off + 8 <= end <= b.len().
        let ty = le16(b, off).unwrap_or(0);
        let flags = le16(b, off + 2).unwrap_or(0);
        let size = le32(b, off + 4).unwrap_or(0) as usize;
        if size < 8 {
            return Err(format!(
                "multiboot2 header tag {ty} at {off:#x} has size {size}, less than 8"
            ));
        }
        if size > end - off {
            return Err(format!(
                "multiboot2 header tag {ty} at {off:#x} of {size} bytes runs past the header's \
                 end"
            ));
        }
        let optional = flags & tag::OPTIONAL != 0;
        let need = |n: usize| -> Result<(), String> {
            if size < n {
                Err(format!(
                    "multiboot2 header tag {ty} at {off:#x} has size {size}, needs {n}"
                ))
            } else {
                Ok(())
            }
        };
        let word = |i: usize| le32(b, off + 8 + 4 * i).unwrap_or(0);
        match ty {
            tag::END => break,
            tag::INFORMATION_REQUEST if !optional => {
                req.required_info.extend((0..(size - 8) / 4).map(word));
            }
            tag::INFORMATION_REQUEST => {}
            tag::ADDRESS => {
                need(24)?;
                req.address = Some(AoutFields {
                    header_addr: word(0),
                    load_addr: word(1),
                    load_end_addr: word(2),
                    bss_end_addr: word(3),
                });
            }
            tag::ENTRY_ADDRESS => {
                need(12)?;
                req.entry = Some(word(0));
            }
            tag::CONSOLE_FLAGS => {
                need(12)?;
                if !optional {
                    req.console = Some(word(0));
                }
            }
            tag::FRAMEBUFFER => {
                need(20)?;
                req.framebuffer_required |= !optional;
            }
            tag::MODULE_ALIGN => {}
            tag::RELOCATABLE => {
                need(24)?;
                req.relocatable = true;
            }
            tag::EFI_BS | tag::ENTRY_ADDRESS_EFI32 | tag::ENTRY_ADDRESS_EFI64 if !optional => {
                return Err(format!(
                    "multiboot2 header tag {ty} asks for UEFI (boot services or an EFI entry \
                     point); vx86 boots kernels without UEFI"
                ));
            }
            _ if !optional => {
                return Err(format!(
                    "unsupported multiboot2 header tag {ty} at {off:#x} (required)"
                ));
            }
            _ => {}
        }
        off += align_up(size as u64, 8).unwrap_or(u64::MAX) as usize;
    }
    Ok(req)
}

/// Loads a multiboot 2 kernel whose header is at `at`.
pub(crate) fn load(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    at: usize,
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let req = parse_tags(b, at)?;
    let rsdp = read_rsdp(env);
    let fb = env.framebuffer;

    let mut can_give = vec![
        info::CMDLINE,
        info::BOOT_LOADER_NAME,
        info::MODULE,
        info::BASIC_MEMINFO,
        info::MMAP,
    ];
    if fb.is_some() {
        can_give.push(info::FRAMEBUFFER);
    }
    if let Some(r) = &rsdp {
        can_give.push(info::ACPI_OLD);
        if r.len() > 20 {
            can_give.push(info::ACPI_NEW);
        }
    }
    if req.relocatable {
        can_give.push(info::LOAD_BASE_ADDR);
    }
    if let Some(&t) = req
        .required_info
        .iter()
        .find(|&&t| t != info::END && !can_give.contains(&t))
    {
        return Err(LoadError::from(format!(
            "the kernel requires boot information tag {t} ({}), which vx86 cannot give",
            info_name(t)
        )));
    }
    if let Some(c) = req.console {
        // Bit 0: a console is required; bit 1: EGA text is supported.
        let ok = match fb.map(|f| f.format) {
            None => c & 1 == 0,
            Some(PixelFormat::Text) => c & 1 == 0 || c & 2 != 0,
            Some(PixelFormat::Rgb { .. }) => true,
        };
        if !ok {
            return Err(LoadError::from(format!(
                "the kernel requires a console it supports (multiboot2 console flags {c:#x}) \
                 and the configured display offers none"
            )));
        }
    }
    if req.framebuffer_required {
        let text_ok = req.console.is_some_and(|c| c & 2 != 0);
        match fb.map(|f| f.format) {
            None => {
                return Err(LoadError::from(
                    "the kernel requires a framebuffer (multiboot2 framebuffer tag) and no \
                     display is configured"
                        .to_string(),
                ))
            }
            Some(PixelFormat::Text) if !text_ok => {
                return Err(LoadError::from(
                    "the kernel requires a graphics framebuffer (multiboot2 framebuffer tag) \
                     and the display is text-only"
                        .to_string(),
                ))
            }
            _ => {}
        }
    }

    let (entry, start, end) = if let Some(a) = &req.address {
        let (start, end) = load_aout(env, placer, b, at, a, true)?;
        let entry = match req.entry {
            Some(e) => e as u64,
            None => {
                return Err(LoadError::from(
                    "multiboot2 address tag without an entry address tag: no entry point"
                        .to_string(),
                ))
            }
        };
        check_entry(entry, start <= entry && entry < end)?;
        (entry, start, end)
    } else {
        let image = elf::parse(b).map_err(|e| {
            format!("multiboot2 header without an address tag needs an ELF kernel: {e}")
        })?;
        image.load(b, env.mem, placer)?;
        let entry = req.entry.map_or(image.phys_entry(), u64::from);
        check_entry(entry, image.holds(entry))?;
        let start = image.segments.iter().map(|s| s.paddr).min().unwrap_or(0);
        (entry, start, image.phys_end())
    };
    check_entry_32bit(entry)?;

    let mods = modules(opts, false);
    let placed = place_modules(env.mem, placer, &mods, end)?;

    let mut blob = Blob::default();
    blob.push(&[0; 8], 8);
    push_string_tag(&mut blob, info::CMDLINE, &opts.cmdline);
    push_string_tag(
        &mut blob,
        info::BOOT_LOADER_NAME,
        super::multiboot1::LOADER_NAME,
    );
    for (m, &(s, e)) in mods.iter().zip(&placed) {
        let mut t = tag_start(info::MODULE, 16 + m.string.len() + 1, 16);
        put32(&mut t, 8, s as u32);
        put32(&mut t, 12, e as u32);
        t.extend_from_slice(m.string.as_bytes());
        t.push(0);
        blob.push(&t, 8);
    }
    let (lower, upper) = mem_lower_upper(env.e820);
    let mut t = tag_start(info::BASIC_MEMINFO, 16, 16);
    put32(&mut t, 8, lower);
    put32(&mut t, 12, upper);
    blob.push(&t, 8);
    let mut t = tag_start(info::MMAP, 16 + 24 * env.e820.len(), 16);
    put32(&mut t, 8, 24);
    put32(&mut t, 12, 0);
    for e in env.e820 {
        let mut entry = [0; 24];
        put64(&mut entry, 0, e.addr);
        put64(&mut entry, 8, e.size);
        put32(&mut entry, 16, e.kind);
        t.extend_from_slice(&entry);
    }
    blob.push(&t, 8);
    if let Some(fb) = &fb {
        let size = match fb.format {
            PixelFormat::Text => fb_tag::COLOR_INFO,
            PixelFormat::Rgb { .. } => fb_tag::SIZE,
        };
        let mut t = tag_start(info::FRAMEBUFFER, size, size);
        put64(&mut t, fb_tag::ADDR, fb.addr);
        put32(&mut t, fb_tag::PITCH, fb.pitch);
        put32(&mut t, fb_tag::WIDTH, fb.width);
        put32(&mut t, fb_tag::HEIGHT, fb.height);
        t[fb_tag::BPP] = fb.bpp;
        put16(&mut t, fb_tag::RESERVED, 0);
        match fb.format {
            PixelFormat::Text => t[fb_tag::FB_TYPE] = 2,
            PixelFormat::Rgb { red, green, blue } => {
                t[fb_tag::FB_TYPE] = 1;
                t[fb_tag::COLOR_INFO..fb_tag::SIZE]
                    .copy_from_slice(&[red.0, red.1, green.0, green.1, blue.0, blue.1]);
            }
        }
        blob.push(&t, 8);
    }
    if let Some(r) = &rsdp {
        let mut t = tag_start(info::ACPI_OLD, 8 + 20, 8);
        t.extend_from_slice(&r[..20]);
        blob.push(&t, 8);
        if r.len() > 20 {
            let mut t = tag_start(info::ACPI_NEW, 8 + r.len(), 8);
            t.extend_from_slice(r);
            blob.push(&t, 8);
        }
    }
    if req.relocatable {
        let mut t = tag_start(info::LOAD_BASE_ADDR, 12, 12);
        put32(&mut t, 8, start as u32);
        blob.push(&t, 8);
    }
    blob.push(&tag_start(info::END, 8, 8), 8);
    let total = blob.data.len() as u32;
    put32(&mut blob.data, 0, total);

    let (gdt, _) = alloc_cpu_tables(placer, false)?;
    let addr = alloc_boot_data(placer, total as u64, 8, "multiboot2 information")?;
    place::write(
        env.mem,
        addr,
        &blob.placed_at(addr),
        "multiboot2 information",
    )?;

    let mut gpr = [0; 16];
    gpr[reg::RAX as usize] = BOOTLOADER_MAGIC as u64;
    gpr[reg::RBX as usize] = addr;
    Ok(BootPlan {
        format: KernelFormat::Multiboot2,
        mode: EntryMode::Protected,
        entry,
        gpr,
        gdt,
        page_tables: None,
        claims: placer.claims().to_vec(),
    })
}

/// The first `len` bytes of a tag of `size` bytes: type and size filled in, the rest zero.
fn tag_start(ty: u32, size: usize, len: usize) -> Vec<u8> {
    let mut t = vec![0; len];
    put32(&mut t, 0, ty);
    put32(&mut t, 4, size as u32);
    t
}

/// Appends a tag holding a NUL-terminated string.
fn push_string_tag(blob: &mut Blob, ty: u32, s: &str) {
    let mut t = tag_start(ty, 8 + s.len() + 1, 8);
    t.extend_from_slice(s.as_bytes());
    t.push(0);
    blob.push(&t, 8);
}

/// The board's RSDP: 20 bytes (ACPI 1.0) or 36 (revision 2 and later), if it has one and
/// the signature is there.
fn read_rsdp(env: &BootEnv) -> Option<Vec<u8>> {
    let addr = env.acpi_rsdp?;
    let mut r = vec![0; 36];
    env.mem.read_bytes(addr, &mut r);
    if &r[..8] != b"RSD PTR " {
        return None;
    }
    if le8(&r, 15).unwrap_or(0) < 2 {
        r.truncate(20);
    }
    Some(r)
}

fn info_name(t: u32) -> &'static str {
    match t {
        info::BOOTDEV => "BIOS boot device",
        info::VBE => "VBE information",
        info::FRAMEBUFFER => "framebuffer: no display is configured",
        info::ELF_SECTIONS => "ELF sections",
        info::APM => "APM table",
        info::ACPI_OLD | info::ACPI_NEW => "ACPI RSDP: the board has no ACPI tables",
        11 | 12 | 17..=20 => "EFI",
        13 => "SMBIOS tables",
        16 => "networking",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::le64;
    use super::super::layout::tests::assert_tiles;
    use super::super::testimg::*;
    use super::super::{load, BootOptions, Framebuffer};
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn structures_tile_as_the_specification_lays_them_out() {
        assert_tiles(header::FIELDS, 0, header::SIZE);
        assert_tiles(fb_tag::FIELDS, 0, fb_tag::SIZE);
    }

    /// The boot information as (type, payload after the 8-byte tag head) pairs, checking
    /// the total size, 8-byte alignment and the end tag on the way.
    fn tags(mem: &crate::mem::PhysMem, addr: u64) -> Vec<(u32, Vec<u8>)> {
        assert_eq!(addr % 8, 0, "the information is 8-byte aligned");
        let head = read(mem, addr, 8);
        let total = le32(&head, 0).unwrap() as u64;
        assert_eq!(le32(&head, 4), Some(0), "reserved");
        let all = read(mem, addr, total as usize);
        let mut out = Vec::new();
        let mut off = 8;
        loop {
            assert_eq!(off % 8, 0, "tags start 8-byte aligned");
            let ty = le32(&all, off).unwrap();
            let size = le32(&all, off + 4).unwrap() as usize;
            out.push((ty, all[off + 8..off + size].to_vec()));
            off += size.next_multiple_of(8);
            if ty == info::END {
                assert_eq!(size, 8);
                assert_eq!(off as u64, total, "the end tag closes the information");
                return out;
            }
        }
    }

    #[test]
    fn elf32_kernel_gets_every_information_tag() {
        let mut mem = test_mem();
        write_rsdp(&mut mem, 0xE_0000, 2);
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        env.acpi_rsdp = Some(0xE_0000);
        env.framebuffer = Some(Framebuffer::VGA_TEXT);
        let opts = BootOptions {
            cmdline: "root=/dev/sda".into(),
            modules: vec![(PathBuf::from("m.bin"), vec![9; 100], "mod args".into())],
            ..BootOptions::default()
        };
        let plan = load(&mut env, Path::new("k"), &mb2_image(&[]), &opts).unwrap();
        assert_eq!(plan.format, KernelFormat::Multiboot2);
        assert_eq!(plan.mode, EntryMode::Protected);
        assert_eq!(plan.entry, 0x10_0004);
        assert_eq!(plan.gpr[reg::RAX as usize], 0x36D7_6289);
        let t = tags(&mem, plan.gpr[reg::RBX as usize]);
        let types: Vec<u32> = t.iter().map(|x| x.0).collect();
        assert_eq!(types, vec![1, 2, 3, 4, 6, 8, 14, 15, 0]);
        assert_eq!(
            t[0].1, b"root=/dev/sda\0",
            "GRUB 2 passes the arguments alone"
        );
        assert_eq!(t[1].1, b"vx86\0");
        let (ms, me) = (le32(&t[2].1, 0).unwrap(), le32(&t[2].1, 4).unwrap());
        assert_eq!(ms % 4096, 0);
        assert!(ms >= 0x10_1030);
        assert_eq!(me, ms + 100);
        assert_eq!(&t[2].1[8..], b"mod args\0");
        assert_eq!(read(&mem, ms as u64, 100), vec![9; 100]);
        assert_eq!(le32(&t[3].1, 0), Some(639));
        assert_eq!(le32(&t[3].1, 4), Some(((TEST_RAM >> 10) - 1024) as u32));
        let map = test_e820();
        assert_eq!(le32(&t[4].1, 0), Some(24), "entry_size");
        assert_eq!(le32(&t[4].1, 4), Some(0), "entry_version");
        assert_eq!(t[4].1.len(), 8 + 24 * map.len());
        for (n, e) in map.iter().enumerate() {
            let m = &t[4].1[8 + 24 * n..];
            assert_eq!(le64(m, 0), Some(e.addr));
            assert_eq!(le64(m, 8), Some(e.size));
            assert_eq!(le32(m, 16), Some(e.kind));
            assert_eq!(le32(m, 20), Some(0));
        }
        // EGA text: address, pitch, 80x25, 16 bpp, type 2, no colour information.
        assert_eq!(t[5].1.len(), fb_tag::COLOR_INFO - 8);
        assert_eq!(le64(&t[5].1, 0), Some(0xB8000));
        assert_eq!(le32(&t[5].1, 8), Some(160));
        assert_eq!(le32(&t[5].1, 12), Some(80));
        assert_eq!(le32(&t[5].1, 16), Some(25));
        assert_eq!((t[5].1[20], t[5].1[21]), (16, 2));
        assert_eq!(&t[6].1[..8], b"RSD PTR ");
        assert_eq!(t[6].1.len(), 20);
        assert_eq!(t[7].1.len(), 36);
        assert_eq!(t[7].1[15], 2);
    }

    #[test]
    fn elf64_kernel_is_entered_in_32_bit_mode() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let img = mb2_elf64_image();
        let plan = load(&mut env, Path::new("k64"), &img, &BootOptions::default()).unwrap();
        assert_eq!(plan.mode, EntryMode::Protected);
        assert_eq!(plan.entry, 0x20_0000);
        assert_eq!(plan.page_tables, None);
        let t = tags(&mem, plan.gpr[reg::RBX as usize]);
        assert_eq!(t[0].1, b"\0", "empty command line");
        let types: Vec<u32> = t.iter().map(|x| x.0).collect();
        assert_eq!(types, vec![1, 2, 4, 6, 0], "no modules, display or ACPI");
    }

    #[test]
    fn address_entry_and_relocatable_tags_are_honoured() {
        let body = mb2_aout_tags();
        let img = mb2_image_with(&body, 0x3000);
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let plan = load(&mut env, Path::new("k"), &img, &BootOptions::default()).unwrap();
        assert_eq!(plan.entry, 0x10_0040);
        assert_eq!(read(&mem, 0x10_0000, 0x2000), img[..0x2000].to_vec());
        assert_eq!(read(&mem, 0x10_2000, 0x1000), vec![0; 0x1000]);
        let t = tags(&mem, plan.gpr[reg::RBX as usize]);
        let base = t.iter().find(|x| x.0 == info::LOAD_BASE_ADDR).unwrap();
        assert_eq!(le32(&base.1, 0), Some(0x10_0000));
    }

    #[test]
    fn optional_tags_vx86_cannot_honour_are_ignored() {
        let tags = [
            mb2_tag(tag::EFI_BS, tag::OPTIONAL, &[]),
            mb2_tag(tag::FRAMEBUFFER, tag::OPTIONAL, &[1024, 768, 32]),
            mb2_tag(
                tag::INFORMATION_REQUEST,
                tag::OPTIONAL,
                &[info::ELF_SECTIONS],
            ),
            mb2_tag(77, tag::OPTIONAL, &[]),
            mb2_tag(tag::MODULE_ALIGN, 0, &[]),
        ]
        .concat();
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        assert!(load(
            &mut env,
            Path::new("k"),
            &mb2_image(&tags),
            &BootOptions::default()
        )
        .is_ok());
    }

    #[test]
    fn malformed_multiboot2_images_are_refused_with_the_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                mb2_image(&mb2_tag(77, 0, &[])),
                "unsupported multiboot2 header tag 77 at 0x110 (required)",
            ),
            (
                mb2_image(&mb2_tag(tag::EFI_BS, 0, &[])),
                "multiboot2 header tag 7 asks for UEFI (boot services or an EFI entry point); \
                 vx86 boots kernels without UEFI",
            ),
            (
                mb2_image(&mb2_tag(
                    tag::INFORMATION_REQUEST,
                    0,
                    &[info::CMDLINE, info::ELF_SECTIONS],
                )),
                "the kernel requires boot information tag 9 (ELF sections), which vx86 cannot give",
            ),
            (
                mb2_image(&mb2_tag(tag::INFORMATION_REQUEST, 0, &[info::ACPI_NEW])),
                "the kernel requires boot information tag 15 (ACPI RSDP: the board has no ACPI \
                 tables), which vx86 cannot give",
            ),
            (
                mb2_image(&mb2_tag(tag::FRAMEBUFFER, 0, &[800, 600, 32])),
                "the kernel requires a framebuffer (multiboot2 framebuffer tag) and no display \
                 is configured",
            ),
            (
                mb2_image(&mb2_tag(tag::CONSOLE_FLAGS, 0, &[1])),
                "the kernel requires a console it supports (multiboot2 console flags 0x1) and \
                 the configured display offers none",
            ),
            (
                mb2_image(&mb2_tag(tag::ENTRY_ADDRESS, 0, &[])),
                "multiboot2 header tag 3 at 0x110 has size 8, needs 12",
            ),
            (
                mb2_image(&mb2_tag(tag::ENTRY_ADDRESS, 0, &[0x50_0000])),
                "entry point 0x500000 lies outside every loaded segment",
            ),
            (
                mb2_image_with(
                    &mb2_tag(tag::ADDRESS, 0, &[0x10_0100, 0x10_0000, 0, 0]),
                    0x3000,
                ),
                "multiboot2 address tag without an entry address tag: no entry point",
            ),
            (
                mb2_with_header(&[], |h| put32(h, 4, 4)),
                "multiboot2 header is for architecture 4, not i386 (0)",
            ),
            (
                mb2_with_header(&[], |h| put32(h, 8, 16)),
                "multiboot2 header_length 16 is too small for the header and its end tag",
            ),
            (
                mb2_with_header(&[], |h| put32(h, 8, 0x8000)),
                "truncated: the multiboot2 header at 0x100 of 32768 bytes runs past the end of \
                 the file (8192 bytes)",
            ),
            (
                mb2_with_header(&mb2_tag(tag::INFORMATION_REQUEST, 0, &[1, 2]), |h| {
                    put32(h, 8, 28)
                }),
                "multiboot2 header tag 1 at 0x110 of 16 bytes runs past the header's end",
            ),
            (
                mb2_image(
                    &mb2_tag(
                        tag::ENTRY_ADDRESS,
                        0,
                        &[0x10_0004, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    )[..16],
                ),
                "multiboot2 header tag 3 at 0x110 of 48 bytes runs past the header's end",
            ),
            (
                mb2_image(&[0; 8]),
                "multiboot2 header tag 0 at 0x110 has size 0, less than 8",
            ),
        ];
        for (img, want) in cases {
            let mut mem = test_mem();
            let map = test_e820();
            let mut env = test_env(&mut mem, &map);
            let got = load(&mut env, Path::new("mb2"), &img, &BootOptions::default())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert_eq!(got, format!("mb2: {want}"));
        }
    }

    #[test]
    fn a_text_display_satisfies_kernels_that_accept_ega_text() {
        let tags = [
            mb2_tag(tag::CONSOLE_FLAGS, 0, &[3]),
            mb2_tag(tag::FRAMEBUFFER, 0, &[0, 0, 0]),
        ]
        .concat();
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        env.framebuffer = Some(Framebuffer::VGA_TEXT);
        assert!(load(
            &mut env,
            Path::new("k"),
            &mb2_image(&tags),
            &BootOptions::default()
        )
        .is_ok());
        let only_fb = mb2_tag(tag::FRAMEBUFFER, 0, &[0, 0, 0]);
        let err = load(
            &mut env,
            Path::new("k"),
            &mb2_image(&only_fb),
            &BootOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("text-only"), "{err}");
    }
}
