//! Linux bzImage, boot protocol 2.06 and later (Documentation/arch/x86/boot.rst), the way
//! QEMU's `-kernel` loads it, but entering the kernel through the 32-bit boot protocol
//! rather than running its real-mode setup code.
//!
//! The protected-mode kernel (the file after the `(setup_sects + 1) * 512` bytes of boot
//! sector and setup) is loaded at 1 MiB, or, for a relocatable kernel when that is not free
//! RAM, at `pref_address` or the lowest `kernel_alignment`-aligned free place. The
//! decompression area (`init_size` bytes from the address the kernel will run at) is
//! reserved too, so that nothing else lands there. A fresh zero page (`struct boot_params`)
//! gets the setup header copied from the image, the e820 map, the ACPI RSDP, the screen
//! (VGA text or a linear framebuffer), and the loader's fields: `type_of_loader` 0xFF
//! (undefined, as the protocol asks of unregistered loaders), `cmd_line_ptr`, the initrd
//! placed as high as possible below `initrd_addr_max` and the top of RAM, 4 KiB aligned,
//! and `heap_end_ptr` 0xFE00 with CAN_USE_HEAP, as QEMU sets them.
//!
//! Entry (boot.rst, "32-bit boot protocol"): flat protected mode, paging off, interrupts
//! off, a GDT with `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18), CS = `__BOOT_CS`, DS = ES =
//! SS = `__BOOT_DS`, ESI = the zero page, EBP = EDI = EBX = 0, at the protected-mode
//! kernel's start. With [`BootOptions::linux_64bit_entry`] and XLF_KERNEL_64 set, the
//! "64-bit boot protocol" instead: long mode with the first 4 GiB identity-mapped (which
//! covers the kernel, its init_size area, the zero page and the command line), a 64-bit
//! `__BOOT_CS`, RSI = the zero page, at the kernel's start + 0x200.

use super::layout::{e820, le16, le32, le64, le8, put16, put32, put64};
use super::place::{self, Placer};
use super::zeropage::{self, bp, hdr, si};
use super::{
    alloc_boot_data, alloc_cpu_tables, flat, mem_lower_upper, vmlinux, BootEnv, BootOptions,
    BootPlan, EntryMode, KernelDecompress, KernelFormat, LoadError, PixelFormat,
};
use crate::cpu::reg;
use crate::cpu::segment::attr;

/// Offset of the "HdrS" signature.
pub const HDRS_OFFSET: usize = 0x202;
/// The oldest boot protocol vx86 loads: 2.06 (cmdline_size; initrd_addr_max is there too).
pub const MIN_VERSION: u16 = 0x0206;
/// `__BOOT_CS`: the code selector the boot protocol requires.
pub const BOOT_CS: u16 = 0x10;
/// `__BOOT_DS`: the data selector the boot protocol requires.
pub const BOOT_DS: u16 = 0x18;
/// Where the protected-mode kernel goes: 1 MiB (LOADED_HIGH).
pub const KERNEL_ADDR: u64 = 0x10_0000;
/// Bytes a setup sector holds.
const SECTOR: usize = 512;

/// The GDT of the Linux boot protocols: null, null, `__BOOT_CS`, `__BOOT_DS`, flat; the code
/// segment is 64-bit for the 64-bit protocol.
pub fn boot_gdt(long: bool) -> [u64; 4] {
    let code = if long {
        attr::CODE_RX | attr::G | attr::L
    } else {
        attr::CODE_RX | attr::G | attr::DB
    };
    [0, 0, flat(code), flat(attr::DATA_RW | attr::G | attr::DB)]
}

/// The parts of the setup header that decide how the kernel is loaded.
struct Header {
    version: u16,
    setup_size: usize,
    relocatable: bool,
    kernel_alignment: u64,
    pref_address: u64,
    init_size: u64,
    initrd_addr_max: u64,
    cmdline_size: u64,
    xloadflags: u16,
    /// The compressed payload (offset in the protected-mode kernel, length), protocol 2.08+.
    payload: Option<(usize, usize)>,
    /// End of the setup header in the image (0x202 + the jump's second byte), capped at the
    /// zero page's room for it.
    end: usize,
}

fn parse(b: &[u8]) -> Result<Header, String> {
    let trunc = |off: usize| {
        format!(
            "truncated Linux setup header: field at {off:#x} lies beyond the end of the file \
             ({} bytes)",
            b.len()
        )
    };
    let u8_ = |off| le8(b, off).ok_or_else(|| trunc(off));
    let u16_ = |off| le16(b, off).ok_or_else(|| trunc(off));
    let u32_ = |off| le32(b, off).ok_or_else(|| trunc(off));
    let boot_flag = u16_(hdr::BOOT_FLAG)?;
    if boot_flag != 0xAA55 {
        return Err(format!(
            "bad boot_flag {boot_flag:#06x} at 0x1fe (a bzImage has 0xaa55)"
        ));
    }
    let version = u16_(hdr::VERSION)?;
    if version < MIN_VERSION {
        return Err(format!(
            "Linux boot protocol {}.{:02} is too old (vx86 needs 2.06 or later)",
            version >> 8,
            version & 0xFF
        ));
    }
    let end = HDRS_OFFSET + u8_(hdr::JUMP + 1)? as usize;
    if end > b.len() {
        return Err(trunc(end - 1));
    }
    // Fields up to kernel_alignment exist in every version >= 2.05.
    u32_(hdr::CMDLINE_SIZE)?;
    let loadflags = u8_(hdr::LOADFLAGS)?;
    if loadflags & zeropage::LOADED_HIGH == 0 {
        return Err(
            "zImage kernel (loadflags.LOADED_HIGH clear): only bzImage kernels are supported"
                .into(),
        );
    }
    let setup_sects = match u8_(hdr::SETUP_SECTS)? {
        0 => 4,
        n => n as usize,
    };
    let setup_size = (setup_sects + 1) * SECTOR;
    if setup_size >= b.len() {
        return Err(format!(
            "truncated: the setup takes {setup_size} bytes ({setup_sects} sectors and the boot \
             sector), the file has {} and no protected-mode kernel",
            b.len()
        ));
    }
    let pm_len = (b.len() - setup_size) as u64;
    let syssize = u32_(hdr::SYSSIZE)? as u64 * 16;
    if syssize > pm_len {
        return Err(format!(
            "truncated: syssize says the protected-mode kernel has {syssize} bytes, the file \
             holds {pm_len} after the setup"
        ));
    }
    let mut payload = None;
    if version >= 0x0208 {
        let off = u32_(hdr::PAYLOAD_OFFSET)? as u64;
        let len = u32_(hdr::PAYLOAD_LENGTH)? as u64;
        if off + len > pm_len {
            return Err(format!(
                "header out of range: payload at {off:#x} of {len:#x} bytes lies beyond the \
                 protected-mode kernel ({pm_len:#x} bytes)"
            ));
        }
        payload = Some((off as usize, len as usize));
    }
    let relocatable = u8_(hdr::RELOCATABLE_KERNEL)? != 0;
    let kernel_alignment = u32_(hdr::KERNEL_ALIGNMENT)? as u64;
    if relocatable && !kernel_alignment.is_power_of_two() {
        return Err(format!(
            "header out of range: kernel_alignment {kernel_alignment:#x} is not a power of two"
        ));
    }
    let (pref_address, init_size) = if version >= 0x020A {
        let f64_ = |off| le64(b, off).ok_or_else(|| trunc(off));
        (f64_(hdr::PREF_ADDRESS)?, u32_(hdr::INIT_SIZE)? as u64)
    } else {
        (KERNEL_ADDR, 0)
    };
    let xloadflags = if version >= 0x020C {
        u16_(hdr::XLOADFLAGS)?
    } else {
        0
    };
    Ok(Header {
        version,
        setup_size,
        relocatable,
        kernel_alignment: kernel_alignment.max(1),
        pref_address,
        init_size,
        initrd_addr_max: u32_(hdr::INITRD_ADDR_MAX)? as u64,
        cmdline_size: u32_(hdr::CMDLINE_SIZE)? as u64,
        xloadflags,
        payload,
        end: end.min(bp::PAD7),
    })
}

impl Header {
    /// Where the kernel will run when loaded at `load` (the decompressor's target): the
    /// load address aligned up to kernel_alignment but at least pref_address (LOAD_PHYSICAL_ADDR)
    /// for a relocatable kernel, else pref_address.
    fn runtime_addr(&self, load: u64) -> u64 {
        if self.relocatable {
            let aligned = load.next_multiple_of(self.kernel_alignment);
            aligned.max(self.pref_address)
        } else {
            self.pref_address
        }
    }

    /// Claims the kernel image at `load` and its decompression area.
    fn claim_at(&self, placer: &mut Placer, load: u64, pm_len: u64) -> Result<(), String> {
        placer.claim(load, pm_len, "Linux kernel")?;
        if self.init_size > 0 {
            let run = self.runtime_addr(load);
            let end = run.saturating_add(self.init_size);
            let start = run.max(load + pm_len);
            if end > start {
                placer
                    .claim(start, end - start, "kernel decompression area (init_size)")
                    .map_err(|e| {
                        format!(
                            "{e}: the kernel needs {:#x} bytes of RAM from {run:#x} to boot",
                            self.init_size
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// Picks the load address: 1 MiB, else (relocatable kernels) pref_address, else the lowest
/// aligned place that fits.
fn place_kernel(h: &Header, placer: &mut Placer, pm_len: u64) -> Result<u64, String> {
    let first = {
        let mut p = placer.clone();
        h.claim_at(&mut p, KERNEL_ADDR, pm_len).map(|_| p)
    };
    let err = match first {
        Ok(p) => {
            *placer = p;
            return Ok(KERNEL_ADDR);
        }
        Err(e) => e,
    };
    if !h.relocatable {
        return Err(err);
    }
    let mut candidates = vec![h.pref_address];
    let mut probe = placer.clone();
    let need = pm_len.max(h.init_size);
    if let Some(a) = probe.alloc(
        need,
        h.kernel_alignment,
        (KERNEL_ADDR, 1 << 32),
        false,
        "probe",
    ) {
        candidates.push(a);
    }
    for at in candidates {
        let mut p = placer.clone();
        if at < (1 << 32) && h.claim_at(&mut p, at, pm_len).is_ok() {
            *placer = p;
            return Ok(at);
        }
    }
    Err(err)
}

/// Loads a bzImage.
pub(crate) fn load(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let h = parse(b)?;
    if !opts.modules.is_empty() {
        return Err(LoadError::from(
            "a Linux kernel takes no multiboot modules (use --initrd)".to_string(),
        ));
    }
    let pm = &b[h.setup_size..];
    let long = opts.linux_64bit_entry;
    if long && h.xloadflags & zeropage::XLF_KERNEL_64 == 0 {
        return Err(LoadError::from(format!(
            "the kernel has no 64-bit entry point (boot protocol {}.{:02}, xloadflags {:#x} \
             without XLF_KERNEL_64)",
            h.version >> 8,
            h.version & 0xFF,
            h.xloadflags
        )));
    }
    if opts.cmdline.len() as u64 > h.cmdline_size {
        return Err(LoadError::from(format!(
            "the command line has {} bytes, the kernel accepts {} (cmdline_size)",
            opts.cmdline.len(),
            h.cmdline_size
        )));
    }
    if env.e820.len() > zeropage::E820_MAX_ENTRIES_ZEROPAGE {
        return Err(LoadError::from(format!(
            "the e820 map has {} entries; the zero page holds {}",
            env.e820.len(),
            zeropage::E820_MAX_ENTRIES_ZEROPAGE
        )));
    }
    let header = SetupHeader {
        image: &b[..h.end],
        initrd_addr_max: h.initrd_addr_max,
    };
    // Fast entry: unpack the payload here and boot the vmlinux inside (vmlinux.rs).
    if opts.kernel_decompress == KernelDecompress::Host {
        if let Some((off, len)) = h.payload {
            if let Some(plan) =
                vmlinux::load_payload(env, placer, &pm[off..off + len], &header, opts)?
            {
                return Ok(plan);
            }
        }
    }
    let pm_len = pm.len() as u64;
    let load_addr = place_kernel(&h, placer, pm_len)?;
    place::write(env.mem, load_addr, pm, "Linux kernel")?;

    let zp = write_boot_params(env, placer, &header, load_addr, opts)?;

    let (gdt, page_tables) = alloc_cpu_tables(placer, long)?;
    let mut gpr = [0; 16];
    gpr[reg::RSI as usize] = zp;
    Ok(BootPlan {
        format: KernelFormat::Linux,
        mode: if long {
            EntryMode::LinuxLong
        } else {
            EntryMode::LinuxProtected
        },
        entry: if long { load_addr + 0x200 } else { load_addr },
        gpr,
        gdt,
        page_tables,
        claims: placer.claims().to_vec(),
    })
}

/// The setup header a zero page starts from: the image's first bytes up to the header's end
/// (from a bzImage, or made up for a vmlinux), and the initrd limit it sets.
pub(crate) struct SetupHeader<'a> {
    /// The image bytes 0..end of the setup header (at most the zero page's room for it).
    pub(crate) image: &'a [u8],
    /// Highest address the initrd may occupy.
    pub(crate) initrd_addr_max: u64,
}

/// Writes the command line, the initrd and the zero page (the header copied from
/// `header` with the loader's fields filled in, the e820 map, ACPI and the screen); returns
/// the zero page's address. `code32_start` is where the protected-mode kernel was loaded.
pub(crate) fn write_boot_params(
    env: &mut BootEnv,
    placer: &mut Placer,
    header: &SetupHeader,
    code32_start: u64,
    opts: &BootOptions,
) -> Result<u64, LoadError> {
    let zp = alloc_boot_data(placer, bp::SIZE as u64, 4096, "zero page (boot_params)")?;
    let cmd = alloc_boot_data(
        placer,
        opts.cmdline.len() as u64 + 1,
        16,
        "kernel command line",
    )?;
    let mut cmdline = opts.cmdline.as_bytes().to_vec();
    cmdline.push(0);
    place::write(env.mem, cmd, &cmdline, "kernel command line")?;

    let initrd = match &opts.initrd {
        None => None,
        Some((path, data)) => {
            let len = data.len() as u64;
            let max = header.initrd_addr_max.min(u32::MAX as u64) + 1;
            let at = placer
                .alloc(len, 4096, (KERNEL_ADDR, max), true, "initrd")
                .ok_or_else(|| {
                    LoadError::in_file(
                        path,
                        format!(
                            "initrd too large: {len} bytes do not fit in free RAM below \
                             initrd_addr_max {:#x}",
                            header.initrd_addr_max
                        ),
                    )
                })?;
            place::write(env.mem, at, data, "initrd")?;
            Some((at, len))
        }
    };

    let mut z = vec![0u8; bp::SIZE];
    z[bp::HDR..header.image.len()].copy_from_slice(&header.image[bp::HDR..]);
    z[hdr::TYPE_OF_LOADER] = 0xFF;
    z[hdr::LOADFLAGS] |= zeropage::CAN_USE_HEAP;
    put16(&mut z, hdr::HEAP_END_PTR, 0xFE00);
    put32(&mut z, hdr::CODE32_START, code32_start as u32);
    put32(&mut z, hdr::CMD_LINE_PTR, cmd as u32);
    if let Some((at, len)) = initrd {
        put32(&mut z, hdr::RAMDISK_IMAGE, at as u32);
        put32(&mut z, hdr::RAMDISK_SIZE, len as u32);
    }
    if header.image.len() > hdr::HARDWARE_SUBARCH {
        // X86_SUBARCH_PC.
        put32(&mut z, hdr::HARDWARE_SUBARCH, 0);
    }
    let (_, upper) = mem_lower_upper(env.e820);
    put32(&mut z, bp::ALT_MEM_K, upper);
    put16(&mut z, si::EXT_MEM_K, upper.min(0xFFFF) as u16);
    if let Some(rsdp) = env.acpi_rsdp {
        put64(&mut z, bp::ACPI_RSDP_ADDR, rsdp);
    }
    write_screen_info(&mut z, env);
    z[bp::E820_ENTRIES] = env.e820.len() as u8;
    for (i, e) in env.e820.iter().enumerate() {
        let at = bp::E820_TABLE + i * e820::ENTRY_SIZE;
        z[at..at + e820::ENTRY_SIZE].copy_from_slice(&e.to_bytes());
    }
    place::write(env.mem, zp, &z, "zero page (boot_params)")?;
    Ok(zp)
}

/// Describes the display in `boot_params.screen_info`: VGA text, a VESA-style linear
/// framebuffer, or (no display) all zeros, which the kernel's VGA console reads as "no VGA".
fn write_screen_info(z: &mut [u8], env: &BootEnv) {
    let Some(fb) = env.framebuffer else {
        return;
    };
    match fb.format {
        PixelFormat::Text => {
            z[si::ORIG_VIDEO_MODE] = 3;
            z[si::ORIG_VIDEO_COLS] = fb.width.min(255) as u8;
            z[si::ORIG_VIDEO_LINES] = fb.height.min(255) as u8;
            z[si::ORIG_VIDEO_IS_VGA] = zeropage::VIDEO_TYPE_VGA;
            put16(z, si::ORIG_VIDEO_POINTS, 16);
        }
        PixelFormat::Rgb { red, green, blue } => {
            z[si::ORIG_VIDEO_IS_VGA] = zeropage::VIDEO_TYPE_VLFB;
            put16(z, si::LFB_WIDTH, fb.width.min(0xFFFF) as u16);
            put16(z, si::LFB_HEIGHT, fb.height.min(0xFFFF) as u16);
            put16(z, si::LFB_DEPTH, fb.bpp as u16);
            put32(z, si::LFB_BASE, fb.addr as u32);
            let bytes = fb.pitch as u64 * fb.height as u64;
            put32(z, si::LFB_SIZE, bytes.div_ceil(0x1_0000) as u32);
            put16(z, si::LFB_LINELENGTH, fb.pitch.min(0xFFFF) as u16);
            z[si::RED_SIZE] = red.1;
            z[si::RED_POS] = red.0;
            z[si::GREEN_SIZE] = green.1;
            z[si::GREEN_POS] = green.0;
            z[si::BLUE_SIZE] = blue.1;
            z[si::BLUE_POS] = blue.0;
            if fb.addr >> 32 != 0 {
                put32(z, si::CAPABILITIES, zeropage::VIDEO_CAPABILITY_64BIT_BASE);
                put32(z, si::EXT_LFB_BASE, (fb.addr >> 32) as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testimg::*;
    use super::super::{load, Framebuffer};
    use super::*;
    use std::path::{Path, PathBuf};

    /// The zero page the kernel gets.
    fn zero_page(mem: &crate::mem::PhysMem, plan: &BootPlan) -> Vec<u8> {
        read(mem, plan.gpr[reg::RSI as usize], bp::SIZE)
    }

    #[test]
    fn boot_params_carry_header_cmdline_initrd_and_e820() {
        let mut mem = test_mem();
        write_rsdp(&mut mem, 0xE_0000, 0);
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        env.acpi_rsdp = Some(0xE_0000);
        env.framebuffer = Some(Framebuffer::VGA_TEXT);
        let img = bzimage();
        let opts = BootOptions {
            cmdline: "console=ttyS0 root=/dev/ram0".into(),
            initrd: Some((PathBuf::from("initrd.cpio"), vec![0x5A; 10_000])),
            ..BootOptions::default()
        };
        let plan = load(&mut env, Path::new("bzImage"), &img, &opts).unwrap();
        assert_eq!(plan.format, KernelFormat::Linux);
        assert_eq!(plan.mode, EntryMode::LinuxProtected);
        assert_eq!(plan.entry, 0x10_0000);
        assert_eq!(plan.gpr[reg::RBX as usize], 0);
        assert_eq!(plan.gpr[reg::RBP as usize], 0);
        assert_eq!(plan.gpr[reg::RDI as usize], 0);
        // The protected-mode kernel follows the boot sector and BZ_SETUP_SECTS sectors.
        let setup = (BZ_SETUP_SECTS + 1) * 512;
        assert_eq!(
            read(&mem, 0x10_0000, img.len() - setup),
            img[setup..].to_vec()
        );

        let z = zero_page(&mem, &plan);
        assert_eq!(plan.gpr[reg::RSI as usize] % 4096, 0);
        // The header is the image's, with the loader's fields filled in.
        for off in [
            hdr::SETUP_SECTS,
            hdr::SYSSIZE,
            hdr::BOOT_FLAG,
            hdr::HEADER,
            hdr::VERSION,
        ] {
            assert_eq!(z[off], img[off], "header byte {off:#x} copied");
        }
        assert_eq!(&z[hdr::HEADER..hdr::HEADER + 4], b"HdrS");
        assert_eq!(le16(&z, hdr::VERSION), Some(0x020F));
        assert_eq!(z[hdr::TYPE_OF_LOADER], 0xFF);
        assert_eq!(
            z[hdr::LOADFLAGS],
            zeropage::LOADED_HIGH | zeropage::CAN_USE_HEAP
        );
        assert_eq!(le16(&z, hdr::HEAP_END_PTR), Some(0xFE00));
        assert_eq!(le32(&z, hdr::CODE32_START), Some(0x10_0000));
        let cmd = le32(&z, hdr::CMD_LINE_PTR).unwrap();
        assert_eq!(cstr(&mem, cmd), "console=ttyS0 root=/dev/ram0");
        let rd = le32(&z, hdr::RAMDISK_IMAGE).unwrap() as u64;
        assert_eq!(le32(&z, hdr::RAMDISK_SIZE), Some(10_000));
        assert_eq!(rd % 4096, 0);
        // As high as possible: the last page-aligned place below the top of RAM.
        assert_eq!(rd, (TEST_RAM - 10_000) & !0xFFF);
        assert_eq!(read(&mem, rd, 10_000), vec![0x5A; 10_000]);
        assert_eq!(le32(&z, hdr::INITRD_ADDR_MAX), Some(0x37FF_FFFF));
        assert_eq!(le64(&z, bp::ACPI_RSDP_ADDR), Some(0xE_0000));
        assert_eq!(z[bp::SENTINEL], 0, "the loader cleared the zero page");
        assert_eq!(
            le32(&z, bp::ALT_MEM_K),
            Some(((TEST_RAM >> 10) - 1024) as u32)
        );
        assert_eq!(
            le16(&z, si::EXT_MEM_K),
            Some(((TEST_RAM >> 10) - 1024) as u16)
        );
        assert_eq!(z[si::ORIG_VIDEO_MODE], 3);
        assert_eq!(z[si::ORIG_VIDEO_COLS], 80);
        assert_eq!(z[si::ORIG_VIDEO_LINES], 25);
        assert_eq!(z[si::ORIG_VIDEO_IS_VGA], 1);
        assert_eq!(le16(&z, si::ORIG_VIDEO_POINTS), Some(16));
        let map = test_e820();
        assert_eq!(z[bp::E820_ENTRIES] as usize, map.len());
        for (i, e) in map.iter().enumerate() {
            let at = bp::E820_TABLE + 20 * i;
            assert_eq!(le64(&z, at), Some(e.addr));
            assert_eq!(le64(&z, at + 8), Some(e.size));
            assert_eq!(le32(&z, at + 16), Some(e.kind));
        }
        // Past the header's end (0x202 + jump byte) the zero page stays zero.
        let end = 0x202 + img[0x201] as usize;
        assert!(z[end..bp::EDD_MBR_SIG_BUFFER].iter().all(|&b| b == 0));
        // The decompression area is reserved: init_size bytes from pref_address (16 MiB).
        let area = plan
            .claims
            .iter()
            .find(|c| c.what.contains("init_size"))
            .unwrap();
        assert_eq!(
            (area.start, area.end),
            (0x100_0000, 0x100_0000 + BZ_INIT_SIZE)
        );
    }

    #[test]
    fn the_64_bit_entry_is_startup_32_plus_0x200() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let opts = BootOptions {
            linux_64bit_entry: true,
            ..BootOptions::default()
        };
        let plan = load(&mut env, Path::new("bz"), &bzimage(), &opts).unwrap();
        assert_eq!(plan.mode, EntryMode::LinuxLong);
        assert_eq!(plan.entry, 0x10_0200);
        assert!(plan.page_tables.is_some());
        let z = zero_page(&mem, &plan);
        assert_eq!(cstr(&mem, le32(&z, hdr::CMD_LINE_PTR).unwrap()), "");
        assert_eq!(le32(&z, hdr::RAMDISK_IMAGE), Some(0));
        assert_eq!(z[si::ORIG_VIDEO_IS_VGA], 0, "no display: no VGA");
    }

    #[test]
    fn a_linear_framebuffer_is_described_as_vesa() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        env.framebuffer = Some(Framebuffer {
            addr: 0x1_2000_0000,
            width: 800,
            height: 600,
            pitch: 3200,
            bpp: 32,
            format: PixelFormat::Rgb {
                red: (16, 8),
                green: (8, 8),
                blue: (0, 8),
            },
        });
        let plan = load(
            &mut env,
            Path::new("bz"),
            &bzimage(),
            &BootOptions::default(),
        )
        .unwrap();
        let z = zero_page(&mem, &plan);
        assert_eq!(z[si::ORIG_VIDEO_IS_VGA], 0x23);
        assert_eq!(le16(&z, si::LFB_WIDTH), Some(800));
        assert_eq!(le16(&z, si::LFB_HEIGHT), Some(600));
        assert_eq!(le16(&z, si::LFB_DEPTH), Some(32));
        assert_eq!(le32(&z, si::LFB_BASE), Some(0x2000_0000));
        assert_eq!(le32(&z, si::EXT_LFB_BASE), Some(1));
        assert_eq!(le32(&z, si::CAPABILITIES), Some(2));
        assert_eq!(
            le32(&z, si::LFB_SIZE),
            Some(30),
            "3200 * 600 bytes in 64-KiB units"
        );
        assert_eq!(le16(&z, si::LFB_LINELENGTH), Some(3200));
        assert_eq!(&z[si::RED_SIZE..si::RSVD_SIZE], &[8, 16, 8, 8, 8, 0]);
    }

    #[test]
    fn a_relocatable_kernel_moves_when_1_mib_is_taken() {
        // RAM with a reserved hole at 1 MiB..2 MiB: the kernel goes to pref_address.
        let map = vec![
            E820Entry::new(0, 0x9_FC00, e820::RAM),
            E820Entry::new(0x10_0000, 0x10_0000, e820::RESERVED),
            E820Entry::new(0x20_0000, TEST_RAM - 0x20_0000, e820::RAM),
        ];
        let mut mem = test_mem();
        let mut env = test_env(&mut mem, &map);
        let plan = load(
            &mut env,
            Path::new("bz"),
            &bzimage(),
            &BootOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.entry, 0x100_0000, "pref_address");
        // Not relocatable: refused with the reason.
        let img = patch(bzimage(), hdr::RELOCATABLE_KERNEL, &[0]);
        let mut mem = test_mem();
        let mut env = test_env(&mut mem, &map);
        let err = load(&mut env, Path::new("bz"), &img, &BootOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bz: Linux kernel at 0x100000..0x104800 overlaps reserved memory 0x100000..0x200000 \
             (e820 type 2)"
        );
    }

    use super::super::E820Entry;

    #[test]
    fn malformed_bzimages_are_refused_with_the_reason() {
        let img = bzimage();
        let setup = (BZ_SETUP_SECTS + 1) * 512;
        let cases: Vec<(Vec<u8>, BootOptions, &str)> =
            vec![
            (
                patch(img.clone(), hdr::BOOT_FLAG, &[0x55, 0x55]),
                BootOptions::default(),
                "bad boot_flag 0x5555 at 0x1fe (a bzImage has 0xaa55)",
            ),
            (
                patch(img.clone(), hdr::VERSION, &[0x04, 0x02]),
                BootOptions::default(),
                "Linux boot protocol 2.04 is too old (vx86 needs 2.06 or later)",
            ),
            (
                img[..0x210].to_vec(),
                BootOptions::default(),
                "truncated Linux setup header: field at 0x26b lies beyond the end of the file \
                 (528 bytes)",
            ),
            (
                img[..setup].to_vec(),
                BootOptions::default(),
                "truncated: the setup takes 2560 bytes (4 sectors and the boot sector), the \
                 file has 2560 and no protected-mode kernel",
            ),
            (
                img[..setup + 0x100].to_vec(),
                BootOptions::default(),
                "truncated: syssize says the protected-mode kernel has 18432 bytes, the file \
                 holds 256 after the setup",
            ),
            (
                patch(img.clone(), hdr::LOADFLAGS, &[0]),
                BootOptions::default(),
                "zImage kernel (loadflags.LOADED_HIGH clear): only bzImage kernels are supported",
            ),
            (
                patch(img.clone(), hdr::PAYLOAD_LENGTH, &0x10_0000u32.to_le_bytes()),
                BootOptions::default(),
                "header out of range: payload at 0x200 of 0x100000 bytes lies beyond the \
                 protected-mode kernel (0x4800 bytes)",
            ),
            (
                patch(img.clone(), hdr::KERNEL_ALIGNMENT, &0x30_0000u32.to_le_bytes()),
                BootOptions::default(),
                "header out of range: kernel_alignment 0x300000 is not a power of two",
            ),
            (
                patch(img.clone(), hdr::XLOADFLAGS, &[0, 0]),
                BootOptions {
                    linux_64bit_entry: true,
                    ..BootOptions::default()
                },
                "the kernel has no 64-bit entry point (boot protocol 2.15, xloadflags 0x0 \
                 without XLF_KERNEL_64)",
            ),
            (
                img.clone(),
                BootOptions {
                    cmdline: "x".repeat(3000),
                    ..BootOptions::default()
                },
                "the command line has 3000 bytes, the kernel accepts 2047 (cmdline_size)",
            ),
            (
                patch(img.clone(), hdr::INIT_SIZE, &0x400_0000u32.to_le_bytes()),
                BootOptions::default(),
                "kernel decompression area (init_size) at 0x1000000..0x5000000 lies beyond RAM \
                 (RAM ends at 0x4000000): the kernel needs 0x4000000 bytes of RAM from \
                 0x1000000 to boot",
            ),
            (
                img.clone(),
                BootOptions {
                    modules: vec![(PathBuf::from("m"), vec![], String::new())],
                    ..BootOptions::default()
                },
                "a Linux kernel takes no multiboot modules (use --initrd)",
            ),
        ];
        for (img, opts, want) in cases {
            let mut mem = test_mem();
            let map = test_e820();
            let mut env = test_env(&mut mem, &map);
            let got = load(&mut env, Path::new("bzImage"), &img, &opts)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert_eq!(got, format!("bzImage: {want}"));
        }
    }

    #[test]
    fn an_initrd_too_large_names_the_initrd() {
        let img = patch(
            bzimage(),
            hdr::INITRD_ADDR_MAX,
            &0x1FF_FFFFu32.to_le_bytes(),
        );
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let opts = BootOptions {
            initrd: Some((PathBuf::from("big.cpio"), vec![0; 0x100_0000])),
            ..BootOptions::default()
        };
        let err = load(&mut env, Path::new("bz"), &img, &opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "big.cpio: initrd too large: 16777216 bytes do not fit in free RAM below \
             initrd_addr_max 0x1ffffff"
        );
        // Under the limit it lands as high as the limit allows.
        let opts = BootOptions {
            initrd: Some((PathBuf::from("ok.cpio"), vec![1; 0x1000])),
            ..BootOptions::default()
        };
        let mut mem = test_mem();
        let mut env = test_env(&mut mem, &map);
        let plan = load(&mut env, Path::new("bz"), &img, &opts).unwrap();
        let z = zero_page(&mem, &plan);
        assert_eq!(le32(&z, hdr::RAMDISK_IMAGE), Some(0x1FF_F000));
    }
}
