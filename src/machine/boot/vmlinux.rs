//! Fast kernel entry: booting the Linux kernel proper (a `vmlinux` ELF) without running
//! the bzImage's own decompressor, as Firecracker and cloud-hypervisor boot vmlinux.
//!
//! A bzImage's protected-mode part is a small decompressor followed by the compressed
//! kernel (the setup header's `payload_offset` and `payload_length`, boot protocol 2.08+).
//! Under an interpreter the decompressor is half of the boot, so by default vx86 unpacks
//! the payload on the host (see [`super::decompress`]) and loads the vmlinux ELF inside it:
//! each `PT_LOAD` segment at its physical address (`p_paddr`, LOAD_PHYSICAL_ADDR for
//! Debian's kernels, where the kernel runs without relocation; the relocation table
//! appended after the ELF is not needed there). The kernel is entered at `e_entry`, which a
//! vmlinux links as a physical address (`ENTRY(phys_startup_64)` / `phys_startup_32` in
//! arch/x86/kernel/vmlinux.lds.S), with the zero page in RSI/ESI:
//! - x86-64 kernels through the 64-bit boot protocol (long mode, the first 4 GiB
//!   identity-mapped, `__BOOT_CS`/`__BOOT_DS`), the state the decompressor leaves;
//! - i386 kernels through the 32-bit boot protocol (flat protected mode, paging off).
//!
//! The zero page carries the bzImage's setup header. A vmlinux given directly has none, so
//! one is made up: boot protocol 2.15, the command-line size of x86 (2,048 bytes with the
//! NUL), the initrd limit of the kernel's class.
//!
//! Telling a vmlinux from any ELF ([`is_vmlinux`]): it carries the kernel's own ELF notes,
//! owner "Linux" (`LINUX_ELFNOTE_BUILD_SALT`, emitted by init/version.c since Linux 4.19),
//! or the Xen note `XEN_ELFNOTE_GUEST_OS` = "linux" that every x86 kernel with Xen or PVH
//! support has. A plain ELF (a test kernel, a hobby OS) has neither.

use super::bzimage::{self, SetupHeader};
use super::decompress::{self, Compression};
use super::elf::{self, ehdr32, ehdr64, phdr32, phdr64};
use super::layout::{le16, le32, le64, put16, put32, put64};
use super::place::Placer;
use super::zeropage::{self, hdr};
use super::{alloc_cpu_tables, BootEnv, BootOptions, BootPlan, EntryMode, KernelFormat, LoadError};
use crate::cpu::reg;

/// `PT_NOTE`: a program header describing ELF notes.
const PT_NOTE: u32 = 4;
/// `XEN_ELFNOTE_GUEST_OS` (include/xen/interface/elfnote.h): the guest OS name.
const XEN_ELFNOTE_GUEST_OS: u32 = 6;
/// x86's COMMAND_LINE_SIZE less the NUL: the longest command line a vmlinux takes.
const CMDLINE_SIZE: u32 = 2047;
/// The boot protocol version of a made-up setup header (2.15, Linux 5.5+).
const PROTOCOL: u16 = 0x020F;

/// One ELF note: owner name (without the NUL), type, descriptor.
type Note<'a> = (&'a [u8], u32, &'a [u8]);

/// The notes of every `PT_NOTE` segment of ELF file `b`; malformed ones are skipped.
fn notes(b: &[u8]) -> Vec<Note<'_>> {
    let mut out = Vec::new();
    let is64 = b.get(4) == Some(&2);
    let (phoff, phentsize, phnum) = if is64 {
        (
            le64(b, ehdr64::E_PHOFF),
            le16(b, ehdr64::E_PHENTSIZE),
            le16(b, ehdr64::E_PHNUM),
        )
    } else {
        (
            le32(b, ehdr32::E_PHOFF).map(u64::from),
            le16(b, ehdr32::E_PHENTSIZE),
            le16(b, ehdr32::E_PHNUM),
        )
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return out;
    };
    for i in 0..phnum as u64 {
        let Some(ph) = phoff
            .checked_add(i * phentsize as u64)
            .and_then(|p| usize::try_from(p).ok())
        else {
            break;
        };
        if le32(b, ph) != Some(PT_NOTE) {
            continue;
        }
        let (off, size) = if is64 {
            (
                le64(b, ph + phdr64::P_OFFSET),
                le64(b, ph + phdr64::P_FILESZ),
            )
        } else {
            (
                le32(b, ph + phdr32::P_OFFSET).map(u64::from),
                le32(b, ph + phdr32::P_FILESZ).map(u64::from),
            )
        };
        let (Some(off), Some(size)) = (off, size) else {
            continue;
        };
        let Some(seg) = usize::try_from(off)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| b.get(o..o.checked_add(s)?))
        else {
            continue;
        };
        parse_notes(seg, &mut out);
    }
    out
}

/// Parses a run of `Elf_Nhdr` records (namesz, descsz, type; name and descriptor each
/// padded to 4 bytes, as in both ELF classes).
fn parse_notes<'a>(mut seg: &'a [u8], out: &mut Vec<Note<'a>>) {
    while seg.len() >= 12 {
        let (Some(namesz), Some(descsz), Some(kind)) = (le32(seg, 0), le32(seg, 4), le32(seg, 8))
        else {
            return;
        };
        let name_end = 12 + namesz as usize;
        let desc_at = name_end.next_multiple_of(4);
        let desc_end = desc_at + descsz as usize;
        let (Some(name), Some(desc)) = (seg.get(12..name_end), seg.get(desc_at..desc_end)) else {
            return;
        };
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        out.push((name, kind, desc));
        seg = seg.get(desc_end.next_multiple_of(4)..).unwrap_or(&[]);
    }
}

/// Whether ELF file `b` is a Linux kernel (a vmlinux): see the module documentation.
pub fn is_vmlinux(b: &[u8]) -> bool {
    elf::is_elf(b)
        && notes(b).iter().any(|&(name, kind, desc)| {
            name == b"Linux"
                || (name == b"Xen" && kind == XEN_ELFNOTE_GUEST_OS && desc.starts_with(b"linux"))
        })
}

/// Unpacks a bzImage's payload and boots the vmlinux in it. `Ok(None)`: the payload's
/// format is one vx86 does not decode (LZO, or unknown), so the caller boots the bzImage
/// through its own decompressor instead.
pub(crate) fn load_payload(
    env: &mut BootEnv,
    placer: &mut Placer,
    payload: &[u8],
    header: &SetupHeader,
    opts: &BootOptions,
) -> Result<Option<BootPlan>, LoadError> {
    let Some(format) = Compression::detect(payload).filter(|f| f.supported()) else {
        return Ok(None);
    };
    let ram = env.mem.ram_size();
    let unpacked = decompress::decompress(format, payload, ram).map_err(|e| {
        format!("cannot unpack the kernel: {e} (--kernel-decompress guest lets the kernel do it)")
    })?;
    if !elf::is_elf(&unpacked) {
        return Err(LoadError::from(format!(
            "the kernel's {} payload holds no vmlinux ELF",
            format.name()
        )));
    }
    load_elf(env, placer, &unpacked, header, opts).map(Some)
}

/// Boots a vmlinux given directly, with a made-up setup header.
pub(crate) fn load(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let elf = elf::parse(b)?;
    let image = made_up_header(&elf);
    let header = SetupHeader {
        image: &image,
        initrd_addr_max: le32(&image, hdr::INITRD_ADDR_MAX).unwrap_or(0) as u64,
    };
    load_elf(env, placer, b, &header, opts)
}

/// The setup header of a vmlinux given without its bzImage (image bytes 0..0x26C).
fn made_up_header(elf: &elf::Elf) -> Vec<u8> {
    let start = elf.segments.iter().map(|s| s.paddr).min().unwrap_or(0);
    let mut h = vec![0u8; hdr::SIZE];
    put16(&mut h, hdr::BOOT_FLAG, 0xAA55);
    // The jump's second byte gives the header's end: 0x202 + 0x6A = 0x26C.
    h[hdr::JUMP] = 0xEB;
    h[hdr::JUMP + 1] = (hdr::SIZE - bzimage::HDRS_OFFSET) as u8;
    h[hdr::HEADER..hdr::HEADER + 4].copy_from_slice(b"HdrS");
    put16(&mut h, hdr::VERSION, PROTOCOL);
    h[hdr::LOADFLAGS] = zeropage::LOADED_HIGH;
    put32(&mut h, hdr::KERNEL_ALIGNMENT, 0x20_0000);
    put32(&mut h, hdr::CMDLINE_SIZE, CMDLINE_SIZE);
    // i386 kernels map low memory up to 896 MiB: the limit their bzImages state.
    let initrd_max: u32 = if elf.is64 { 0x7FFF_FFFF } else { 0x37FF_FFFF };
    put32(&mut h, hdr::INITRD_ADDR_MAX, initrd_max);
    if elf.is64 {
        put16(&mut h, hdr::XLOADFLAGS, zeropage::XLF_KERNEL_64);
    }
    put64(&mut h, hdr::PREF_ADDRESS, start);
    put32(
        &mut h,
        hdr::INIT_SIZE,
        elf.phys_end().saturating_sub(start).min(u32::MAX as u64) as u32,
    );
    h
}

/// Loads vmlinux ELF `b` at its physical addresses, writes the boot data from `header` and
/// returns the plan that enters it.
fn load_elf(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    header: &SetupHeader,
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let elf = elf::parse(b)?;
    if !opts.modules.is_empty() {
        return Err(LoadError::from(
            "a Linux kernel takes no multiboot modules (use --initrd)".to_string(),
        ));
    }
    let cmdline_size = le32(header.image, hdr::CMDLINE_SIZE).unwrap_or(255) as usize;
    if opts.cmdline.len() > cmdline_size {
        return Err(LoadError::from(format!(
            "the command line has {} bytes, the kernel accepts {cmdline_size} (cmdline_size)",
            opts.cmdline.len()
        )));
    }
    if env.e820.len() > zeropage::E820_MAX_ENTRIES_ZEROPAGE {
        return Err(LoadError::from(format!(
            "the e820 map has {} entries; the zero page holds {}",
            env.e820.len(),
            zeropage::E820_MAX_ENTRIES_ZEROPAGE
        )));
    }
    elf.load(b, env.mem, placer)
        .map_err(|e| format!("vmlinux: {e}"))?;
    // A vmlinux's e_entry is physical already (phys_startup_64 / phys_startup_32).
    let entry = elf.entry;
    elf::check_entry(entry, elf.holds(entry)).map_err(|e| format!("vmlinux: {e}"))?;
    let start = elf.segments.iter().map(|s| s.paddr).min().unwrap_or(entry);
    let zp = bzimage::write_boot_params(env, placer, header, start, opts)?;
    let (gdt, page_tables) = alloc_cpu_tables(placer, elf.is64)?;
    let mut gpr = [0; 16];
    gpr[reg::RSI as usize] = zp;
    Ok(BootPlan {
        format: KernelFormat::Vmlinux,
        mode: if elf.is64 {
            EntryMode::LinuxLong
        } else {
            EntryMode::LinuxProtected
        },
        entry,
        gpr,
        gdt,
        page_tables,
        claims: placer.claims().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::layout::put64;
    use super::super::testimg::*;
    use super::super::{load, KernelDecompress};
    use super::*;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// An ELF note record: name, type, descriptor (both padded to 4 bytes).
    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.push(0);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n.extend_from_slice(desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    /// `elf64_image()` (entry 0x200000, one segment there) with a PT_NOTE segment at 0x300
    /// holding `notes`.
    fn with_notes(notes: &[u8]) -> Vec<u8> {
        let mut b = elf64_image();
        put16(&mut b, 56, 2);
        let ph = 64 + 56;
        put32(&mut b, ph, PT_NOTE);
        put64(&mut b, ph + 8, 0x300);
        put64(&mut b, ph + 32, notes.len() as u64);
        b[0x300..0x300 + notes.len()].copy_from_slice(notes);
        b
    }

    /// A vmlinux: the kernel's build-salt note (type 0x100, the release string).
    fn vmlinux() -> Vec<u8> {
        let mut n = note(b"GNU", 3, &[0xAB; 20]);
        n.extend(note(b"Linux", 0x100, b"6.1.0-vx86\0"));
        with_notes(&n)
    }

    /// `bzimage()` whose payload is `payload`.
    fn bzimage_with(payload: &[u8]) -> Vec<u8> {
        let setup = (BZ_SETUP_SECTS + 1) * 512;
        let mut b = bzimage();
        b.truncate(setup + 0x200);
        b.extend_from_slice(payload);
        b.resize(b.len().next_multiple_of(16), 0);
        let paragraphs = ((b.len() - setup) / 16) as u32;
        put32(&mut b, hdr::SYSSIZE, paragraphs);
        put32(&mut b, hdr::PAYLOAD_LENGTH, payload.len() as u32);
        b
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn opts(decompress: KernelDecompress) -> BootOptions {
        BootOptions {
            cmdline: "console=ttyS0".into(),
            initrd: Some((PathBuf::from("initrd"), vec![0x5A; 5000])),
            kernel_decompress: decompress,
            ..BootOptions::default()
        }
    }

    #[test]
    fn a_vmlinux_is_told_from_a_plain_elf_by_the_kernels_notes() {
        assert!(is_vmlinux(&vmlinux()));
        assert!(!is_vmlinux(&elf64_image()), "no notes");
        assert!(!is_vmlinux(&with_notes(&note(b"GNU", 3, &[1; 20]))));
        // Older kernels: the Xen guest-OS note says "linux".
        assert!(is_vmlinux(&with_notes(&note(b"Xen", 6, b"linux\0"))));
        assert!(!is_vmlinux(&with_notes(&note(b"Xen", 6, b"netbsd\0"))));
        // Truncated or lying note headers are skipped, not trusted.
        let mut bad = note(b"Linux", 0x100, b"x");
        put32(&mut bad, 4, 0xFFFF_FFF0);
        assert!(!is_vmlinux(&with_notes(&bad)));
        assert_eq!(
            super::super::detect_format(&vmlinux()),
            Some(KernelFormat::Vmlinux)
        );
        assert_eq!(
            super::super::detect_format(&elf64_image()),
            Some(KernelFormat::Elf64)
        );
    }

    #[test]
    fn a_vmlinux_given_directly_enters_its_physical_entry_with_a_made_up_header() {
        let mut mem = test_mem();
        let plan =
            load_on_test_machine(&mut mem, &vmlinux(), &opts(KernelDecompress::Host)).unwrap();
        assert_eq!(plan.format, KernelFormat::Vmlinux);
        assert_eq!(plan.mode, EntryMode::LinuxLong);
        assert_eq!(plan.entry, 0x20_0000);
        assert_eq!(read(&mem, 0x20_0000, 64), ELF_CODE.to_vec());
        let z = read(&mem, plan.gpr[reg::RSI as usize], 4096);
        assert_eq!(&z[hdr::HEADER..hdr::HEADER + 4], b"HdrS");
        assert_eq!(le16(&z, hdr::BOOT_FLAG), Some(0xAA55));
        assert_eq!(le16(&z, hdr::VERSION), Some(PROTOCOL));
        assert_eq!(le32(&z, hdr::CMDLINE_SIZE), Some(2047));
        assert_eq!(le16(&z, hdr::XLOADFLAGS), Some(zeropage::XLF_KERNEL_64));
        assert_eq!(le32(&z, hdr::CODE32_START), Some(0x20_0000));
        assert_eq!(z[hdr::TYPE_OF_LOADER], 0xFF);
        assert_eq!(
            cstr(&mem, le32(&z, hdr::CMD_LINE_PTR).unwrap()),
            "console=ttyS0"
        );
        let rd = le32(&z, hdr::RAMDISK_IMAGE).unwrap() as u64;
        assert_eq!(le32(&z, hdr::RAMDISK_SIZE), Some(5000));
        assert_eq!(read(&mem, rd, 5000), vec![0x5A; 5000]);
        // The segment is claimed: nothing else may land on the kernel.
        assert!(plan
            .claims
            .iter()
            .any(|c| c.start == 0x20_0000 && c.end == 0x20_0100));
    }

    #[test]
    fn a_bzimage_is_unpacked_on_the_host_unless_the_guest_is_asked_to() {
        let img = bzimage_with(&gzip(&vmlinux()));
        let mut mem = test_mem();
        let plan = load_on_test_machine(&mut mem, &img, &opts(KernelDecompress::Host)).unwrap();
        assert_eq!(plan.format, KernelFormat::Vmlinux);
        assert_eq!(
            plan.mode,
            EntryMode::LinuxLong,
            "an ELF64 kernel: 64-bit protocol"
        );
        assert_eq!(plan.entry, 0x20_0000);
        assert_eq!(read(&mem, 0x20_0000, 64), ELF_CODE.to_vec());
        // The zero page carries the bzImage's own header.
        let z = read(&mem, plan.gpr[reg::RSI as usize], 4096);
        assert_eq!(le16(&z, hdr::XLOADFLAGS), Some(zeropage::XLF_KERNEL_64 | 2));
        assert_eq!(z[hdr::SETUP_SECTS], BZ_SETUP_SECTS as u8);
        assert_eq!(
            le32(&z, hdr::PAYLOAD_LENGTH),
            le32(&img, hdr::PAYLOAD_LENGTH)
        );

        let mut mem = test_mem();
        let plan = load_on_test_machine(&mut mem, &img, &opts(KernelDecompress::Guest)).unwrap();
        assert_eq!(plan.format, KernelFormat::Linux);
        assert_eq!(plan.mode, EntryMode::LinuxProtected);
        assert_eq!(plan.entry, 0x10_0000);
    }

    #[test]
    fn a_32_bit_vmlinux_takes_the_32_bit_protocol() {
        let mut b = elf32_image();
        // elf32_image has two PT_LOADs from offset 52; add the PT_NOTE after them, and
        // make the entry physical, as a vmlinux links it.
        let n = note(b"Linux", 0x100, b"6.1.0-686\0");
        put16(&mut b, 44, 3);
        put32(&mut b, 24, 0x10_0004);
        let ph = 52 + 2 * 32;
        put32(&mut b, ph, PT_NOTE);
        put32(&mut b, ph + 4, 0x300);
        put32(&mut b, ph + 16, n.len() as u32);
        b[0x300..0x300 + n.len()].copy_from_slice(&n);
        assert!(is_vmlinux(&b));
        let mut mem = test_mem();
        let plan = load_on_test_machine(
            &mut mem,
            &bzimage_with(&gzip(&b)),
            &opts(KernelDecompress::Host),
        )
        .unwrap();
        assert_eq!(plan.format, KernelFormat::Vmlinux);
        assert_eq!(plan.mode, EntryMode::LinuxProtected);
        assert!(plan.page_tables.is_none());
        assert_eq!(plan.entry, 0x10_0004);
        assert_eq!(read(&mem, 0x10_1000, 16), ELF_DATA.to_vec());
    }

    #[test]
    fn payloads_vx86_cannot_decode_boot_through_the_kernels_decompressor() {
        let map = test_e820();
        let mut mem = test_mem();
        let mut env = test_env(&mut mem, &map);
        let lzo = bzimage_with(b"\x89LZO\x00\x0d\x0a\x1a\x0a rest of an lzo stream");
        let plan = load(
            &mut env,
            Path::new("bz"),
            &lzo,
            &opts(KernelDecompress::Host),
        )
        .unwrap();
        assert_eq!(plan.format, KernelFormat::Linux);

        // A damaged stream of a known format is an error that names the way out.
        let mut gz = gzip(&vmlinux());
        let n = gz.len();
        gz[n / 2] ^= 0xFF;
        gz[n / 2 + 1] ^= 0xFF;
        let mut mem = test_mem();
        let err = load_on_test_machine(&mut mem, &bzimage_with(&gz), &opts(KernelDecompress::Host))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("kernel: cannot unpack the kernel: gzip payload"),
            "{err}"
        );
        assert!(
            err.ends_with("(--kernel-decompress guest lets the kernel do it)"),
            "{err}"
        );

        // A payload that unpacks to something other than an ELF.
        let mut mem = test_mem();
        let err = load_on_test_machine(
            &mut mem,
            &bzimage_with(&gzip(&[0x90; 300])),
            &opts(KernelDecompress::Host),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "kernel: the kernel's gzip payload holds no vmlinux ELF"
        );
    }
}
