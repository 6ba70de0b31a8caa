//! ELF executables (System V ABI gABI, "Program Loading"): the parser the multiboot loaders
//! share, and the plain-ELF boot path.
//!
//! A plain ELF kernel's `PT_LOAD` segments are copied to their physical addresses
//! (`p_paddr`) and the rest of each segment (`p_memsz - p_filesz`, the bss) is zeroed. An
//! ELF32 kernel (EM_386) starts in flat 32-bit protected mode with paging off; an ELF64
//! kernel (EM_X86_64) starts in 64-bit mode with the first 4 GiB identity-mapped with 2-MiB
//! pages (page tables and GDT in low memory, see [`super`]). Interrupts are off, all general
//! registers are zero (so the kernel sets its own stack), and a plain ELF kernel takes no
//! command line, initrd or modules: use multiboot for those.

use super::layout::{layout, le16, le32, le64, le8};
use super::place::{self, Placer};
use super::{alloc_cpu_tables, BootEnv, BootOptions, BootPlan, EntryMode, KernelFormat, LoadError};

layout! {
    /// The ELF32 file header (gABI "ELF Header").
    ehdr32, size 52 {
        /// Magic, class, data encoding, version, OS ABI, padding.
        E_IDENT: 0, 16;
        /// Object file type (ET_EXEC 2, ET_DYN 3).
        E_TYPE: 16, 2;
        /// Machine (EM_386 3).
        E_MACHINE: 18, 2;
        /// Format version (1).
        E_VERSION: 20, 4;
        /// Entry point (virtual).
        E_ENTRY: 24, 4;
        /// File offset of the program header table.
        E_PHOFF: 28, 4;
        /// File offset of the section header table.
        E_SHOFF: 32, 4;
        /// Processor flags.
        E_FLAGS: 36, 4;
        /// Size of this header.
        E_EHSIZE: 40, 2;
        /// Size of one program header.
        E_PHENTSIZE: 42, 2;
        /// Number of program headers.
        E_PHNUM: 44, 2;
        /// Size of one section header.
        E_SHENTSIZE: 46, 2;
        /// Number of section headers.
        E_SHNUM: 48, 2;
        /// Section index of the section-name string table.
        E_SHSTRNDX: 50, 2;
    }
}

layout! {
    /// The ELF64 file header.
    ehdr64, size 64 {
        /// Magic, class, data encoding, version, OS ABI, padding.
        E_IDENT: 0, 16;
        /// Object file type.
        E_TYPE: 16, 2;
        /// Machine (EM_X86_64 62).
        E_MACHINE: 18, 2;
        /// Format version.
        E_VERSION: 20, 4;
        /// Entry point (virtual).
        E_ENTRY: 24, 8;
        /// File offset of the program header table.
        E_PHOFF: 32, 8;
        /// File offset of the section header table.
        E_SHOFF: 40, 8;
        /// Processor flags.
        E_FLAGS: 48, 4;
        /// Size of this header.
        E_EHSIZE: 52, 2;
        /// Size of one program header.
        E_PHENTSIZE: 54, 2;
        /// Number of program headers.
        E_PHNUM: 56, 2;
        /// Size of one section header.
        E_SHENTSIZE: 58, 2;
        /// Number of section headers.
        E_SHNUM: 60, 2;
        /// Section index of the section-name string table.
        E_SHSTRNDX: 62, 2;
    }
}

layout! {
    /// An ELF32 program header.
    phdr32, size 32 {
        /// Segment type (PT_LOAD 1).
        P_TYPE: 0, 4;
        /// File offset of the segment's bytes.
        P_OFFSET: 4, 4;
        /// Virtual address.
        P_VADDR: 8, 4;
        /// Physical address: where vx86 loads it.
        P_PADDR: 12, 4;
        /// Bytes in the file.
        P_FILESZ: 16, 4;
        /// Bytes in memory (the rest is zeroed).
        P_MEMSZ: 20, 4;
        /// Permissions.
        P_FLAGS: 24, 4;
        /// Alignment.
        P_ALIGN: 28, 4;
    }
}

layout! {
    /// An ELF64 program header (note the moved `p_flags`).
    phdr64, size 56 {
        /// Segment type.
        P_TYPE: 0, 4;
        /// Permissions.
        P_FLAGS: 4, 4;
        /// File offset of the segment's bytes.
        P_OFFSET: 8, 8;
        /// Virtual address.
        P_VADDR: 16, 8;
        /// Physical address.
        P_PADDR: 24, 8;
        /// Bytes in the file.
        P_FILESZ: 32, 8;
        /// Bytes in memory.
        P_MEMSZ: 40, 8;
        /// Alignment.
        P_ALIGN: 48, 8;
    }
}

/// `e_ident[EI_CLASS]` of 32-bit objects.
pub const ELFCLASS32: u8 = 1;
/// `e_ident[EI_CLASS]` of 64-bit objects.
pub const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]`: little-endian.
pub const ELFDATA2LSB: u8 = 1;
/// `e_type` of an executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a shared object (position-independent executables).
pub const ET_DYN: u16 = 3;
/// `e_machine` of IA-32.
pub const EM_386: u16 = 3;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// `e_phnum` escape meaning "more than 0xFFFF program headers".
const PN_XNUM: u16 = 0xFFFF;

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// A loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Index among the program headers (for messages).
    pub(crate) index: usize,
    pub(crate) offset: u64,
    pub(crate) filesz: u64,
    pub(crate) vaddr: u64,
    pub(crate) paddr: u64,
    pub(crate) memsz: u64,
}

/// A parsed ELF executable: its class, entry and loadable segments.
#[derive(Clone, Debug)]
pub(crate) struct Elf {
    pub(crate) is64: bool,
    pub(crate) entry: u64,
    pub(crate) segments: Vec<Segment>,
}

/// Parses the headers of an ELF executable for x86, checking every offset against the file.
pub(crate) fn parse(b: &[u8]) -> Result<Elf, String> {
    if !is_elf(b) {
        return Err("not an ELF file (bad magic)".into());
    }
    let class = le8(b, 4).ok_or("truncated ELF header")?;
    let is64 = match class {
        ELFCLASS32 => false,
        ELFCLASS64 => true,
        c => return Err(format!("unsupported ELF class {c} (1: 32-bit, 2: 64-bit)")),
    };
    let ehsize = if is64 { ehdr64::SIZE } else { ehdr32::SIZE };
    if b.len() < ehsize {
        return Err(format!(
            "truncated ELF header: {} bytes, the header needs {ehsize}",
            b.len()
        ));
    }
    if b[5] != ELFDATA2LSB {
        return Err(format!(
            "ELF data encoding {} is not little-endian (x86 kernels are)",
            b[5]
        ));
    }
    if b[6] != 1 {
        return Err(format!("unsupported ELF version {}", b[6]));
    }
    let r16 = |off| le16(b, off).ok_or("truncated ELF header");
    let e_type = r16(ehdr32::E_TYPE)?;
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(format!(
            "ELF type {e_type} is not an executable (ET_EXEC 2 or ET_DYN 3)"
        ));
    }
    let machine = r16(ehdr32::E_MACHINE)?;
    let want = if is64 { EM_X86_64 } else { EM_386 };
    if machine != want {
        return Err(format!(
            "ELF machine {machine} is not {} ({want})",
            if is64 { "x86-64" } else { "i386" }
        ));
    }
    let (entry, phoff, phentsize, phnum, min_phent) = if is64 {
        (
            le64(b, ehdr64::E_ENTRY).ok_or("truncated ELF header")?,
            le64(b, ehdr64::E_PHOFF).ok_or("truncated ELF header")?,
            r16(ehdr64::E_PHENTSIZE)?,
            r16(ehdr64::E_PHNUM)?,
            phdr64::SIZE,
        )
    } else {
        (
            le32(b, ehdr32::E_ENTRY).ok_or("truncated ELF header")? as u64,
            le32(b, ehdr32::E_PHOFF).ok_or("truncated ELF header")? as u64,
            r16(ehdr32::E_PHENTSIZE)?,
            r16(ehdr32::E_PHNUM)?,
            phdr32::SIZE,
        )
    };
    if phnum == 0 {
        return Err("ELF file has no program headers".into());
    }
    if phnum == PN_XNUM {
        return Err("ELF file has more than 65534 program headers (PN_XNUM)".into());
    }
    if (phentsize as usize) < min_phent {
        return Err(format!(
            "ELF program header size {phentsize} is smaller than {min_phent}"
        ));
    }
    let table_len = phentsize as u64 * phnum as u64;
    if phoff
        .checked_add(table_len)
        .is_none_or(|end| end > b.len() as u64)
    {
        return Err(format!(
            "ELF program header table at {phoff:#x} ({phnum} entries of {phentsize} bytes) \
             lies beyond the end of the file ({} bytes)",
            b.len()
        ));
    }
    let mut segments = Vec::new();
    for i in 0..phnum as usize {
        // In range: the whole table was checked above.
        let ph = phoff as usize + i * phentsize as usize;
        let p_type = le32(b, ph).ok_or("truncated program header")?;
        if p_type != PT_LOAD {
            continue;
        }
        let seg = if is64 {
            let f = |off| le64(b, ph + off).ok_or("truncated program header");
            Segment {
                index: i,
                offset: f(phdr64::P_OFFSET)?,
                vaddr: f(phdr64::P_VADDR)?,
                paddr: f(phdr64::P_PADDR)?,
                filesz: f(phdr64::P_FILESZ)?,
                memsz: f(phdr64::P_MEMSZ)?,
            }
        } else {
            let f = |off| {
                le32(b, ph + off)
                    .map(u64::from)
                    .ok_or("truncated program header")
            };
            Segment {
                index: i,
                offset: f(phdr32::P_OFFSET)?,
                vaddr: f(phdr32::P_VADDR)?,
                paddr: f(phdr32::P_PADDR)?,
                filesz: f(phdr32::P_FILESZ)?,
                memsz: f(phdr32::P_MEMSZ)?,
            }
        };
        if seg.filesz > seg.memsz {
            return Err(format!(
                "ELF segment {i}: p_filesz {:#x} exceeds p_memsz {:#x}",
                seg.filesz, seg.memsz
            ));
        }
        if seg
            .offset
            .checked_add(seg.filesz)
            .is_none_or(|end| end > b.len() as u64)
        {
            return Err(format!(
                "ELF segment {i}: file bytes {:#x}+{:#x} lie beyond the end of the file \
                 ({} bytes)",
                seg.offset,
                seg.filesz,
                b.len()
            ));
        }
        if !is64 && seg.paddr + seg.memsz > 1 << 32 {
            return Err(format!(
                "ELF segment {i} at {:#x} of {:#x} bytes ends above 4 GiB",
                seg.paddr, seg.memsz
            ));
        }
        if seg.memsz > 0 {
            segments.push(seg);
        }
    }
    if segments.is_empty() {
        return Err("ELF file has no loadable segment (PT_LOAD)".into());
    }
    Ok(Elf {
        is64,
        entry,
        segments,
    })
}

impl Elf {
    /// Copies every segment to its physical address, zeroes its bss, and claims the range.
    pub(crate) fn load(
        &self,
        b: &[u8],
        mem: &mut crate::mem::PhysMem,
        placer: &mut Placer,
    ) -> Result<(), String> {
        for s in &self.segments {
            let what = format!("ELF segment {}", s.index);
            placer.claim(s.paddr, s.memsz, &what)?;
            // In range: `parse` checked offset + filesz against the file.
            let data = &b[s.offset as usize..(s.offset + s.filesz) as usize];
            place::write(mem, s.paddr, data, &what)?;
            place::zero(mem, s.paddr + s.filesz, s.memsz - s.filesz, &what)?;
        }
        Ok(())
    }

    /// The entry point as a physical address: `e_entry` moved by `p_paddr - p_vaddr` of the
    /// segment whose virtual range holds it (GRUB's rule), or as is when none does.
    pub(crate) fn phys_entry(&self) -> u64 {
        self.segments
            .iter()
            .find(|s| s.vaddr <= self.entry && self.entry - s.vaddr < s.memsz)
            .map_or(self.entry, |s| s.paddr.wrapping_add(self.entry - s.vaddr))
    }

    /// One past the highest physical byte of any segment.
    pub(crate) fn phys_end(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.paddr.saturating_add(s.memsz))
            .max()
            .unwrap_or(0)
    }

    /// Whether physical `addr` lies in a loaded segment.
    pub(crate) fn holds(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| s.paddr <= addr && addr - s.paddr < s.memsz)
    }
}

/// Fails unless the entry point lies in the loaded image.
pub(crate) fn check_entry(entry: u64, inside: bool) -> Result<(), String> {
    if inside {
        Ok(())
    } else {
        Err(format!(
            "entry point {entry:#x} lies outside every loaded segment"
        ))
    }
}

/// Boots a plain ELF executable.
pub(crate) fn boot(
    env: &mut BootEnv,
    placer: &mut Placer,
    b: &[u8],
    opts: &BootOptions,
) -> Result<BootPlan, LoadError> {
    let elf = parse(b)?;
    if !opts.cmdline.is_empty() || opts.initrd.is_some() || !opts.modules.is_empty() {
        return Err(LoadError::from(
            "a plain ELF kernel takes no command line, initrd or modules (a multiboot \
             header would let it receive them)"
                .to_string(),
        ));
    }
    elf.load(b, env.mem, placer)?;
    let entry = elf.phys_entry();
    check_entry(entry, elf.holds(entry))?;
    let (gdt, page_tables) = alloc_cpu_tables(placer, elf.is64)?;
    Ok(BootPlan {
        format: if elf.is64 {
            KernelFormat::Elf64
        } else {
            KernelFormat::Elf32
        },
        mode: if elf.is64 {
            EntryMode::Long
        } else {
            EntryMode::Protected
        },
        entry,
        gpr: [0; 16],
        gdt,
        page_tables,
        claims: placer.claims().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::layout::tests::assert_tiles;
    use super::super::testimg::*;
    use super::super::{load, BootOptions};
    use super::*;
    use std::path::Path;

    #[test]
    fn headers_tile_as_the_abi_specifies() {
        assert_tiles(ehdr32::FIELDS, 0, ehdr32::SIZE);
        assert_tiles(ehdr64::FIELDS, 0, ehdr64::SIZE);
        assert_tiles(phdr32::FIELDS, 0, phdr32::SIZE);
        assert_tiles(phdr64::FIELDS, 0, phdr64::SIZE);
    }

    #[test]
    fn elf32_segments_land_at_their_physical_addresses_with_bss_zeroed() {
        let mut mem = test_mem();
        mem.write_bytes(0x10_1000 + 0x20, &[0xAA; 0x10]).unwrap();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let img = elf32_image();
        let plan = load(&mut env, Path::new("k.elf"), &img, &BootOptions::default()).unwrap();
        assert_eq!(plan.format, KernelFormat::Elf32);
        assert_eq!(plan.mode, EntryMode::Protected);
        // Linked at 0xC0100000, loaded at 1 MiB: the entry moves with its segment.
        assert_eq!(plan.entry, 0x10_0000 + 4);
        assert_eq!(plan.gpr, [0; 16]);
        assert_eq!(read(&mem, 0x10_0000, 64), ELF_CODE.to_vec());
        assert_eq!(read(&mem, 0x10_1000, 0x10), ELF_DATA.to_vec());
        assert_eq!(
            read(&mem, 0x10_1000 + 0x20, 0x10),
            vec![0; 0x10],
            "bss is zeroed"
        );
        assert!(plan.gdt >= 0x1_0000 && plan.gdt < 0xA_0000);
        assert_eq!(plan.page_tables, None);
    }

    #[test]
    fn elf64_enters_long_mode_with_page_tables() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let plan = load(
            &mut env,
            Path::new("k"),
            &elf64_image(),
            &BootOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.format, KernelFormat::Elf64);
        assert_eq!(plan.mode, EntryMode::Long);
        assert_eq!(plan.entry, 0x20_0000);
        let pt = plan.page_tables.unwrap();
        assert_eq!(pt % 4096, 0);
        assert_eq!(read(&mem, 0x20_0000, 64), ELF_CODE.to_vec());
    }

    #[test]
    fn malformed_elf_files_are_refused_with_the_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                elf32_image()[..30].to_vec(),
                "truncated ELF header: 30 bytes, the header needs 52",
            ),
            (
                patch(elf32_image(), 4, &[3]),
                "unsupported ELF class 3 (1: 32-bit, 2: 64-bit)",
            ),
            (
                patch(elf32_image(), 5, &[2]),
                "ELF data encoding 2 is not little-endian (x86 kernels are)",
            ),
            (
                patch(elf32_image(), 16, &[1, 0]),
                "ELF type 1 is not an executable (ET_EXEC 2 or ET_DYN 3)",
            ),
            (
                patch(elf32_image(), 18, &[62, 0]),
                "ELF machine 62 is not i386 (3)",
            ),
            (
                patch(elf32_image(), 44, &[0, 0]),
                "ELF file has no program headers",
            ),
            (
                patch(elf32_image(), 28, &0x7000u32.to_le_bytes()),
                "ELF program header table at 0x7000 (2 entries of 32 bytes) lies beyond the \
                 end of the file (8192 bytes)",
            ),
            (
                elf32_image()[..0x1008].to_vec(),
                "ELF segment 1: file bytes 0x1000+0x10 lie beyond the end of the file (4104 bytes)",
            ),
            (
                patch(elf32_image(), 52 + 32 + 16, &0x100u32.to_le_bytes()),
                "ELF segment 1: p_filesz 0x100 exceeds p_memsz 0x30",
            ),
            (
                patch(elf32_image(), 52 + 12, &0x3FF_FFF8u32.to_le_bytes()),
                "ELF segment 0 at 0x3fffff8..0x4000038 lies beyond RAM (RAM ends at 0x4000000)",
            ),
            (
                patch(elf32_image(), 52 + 12, &0x9_FBF8u32.to_le_bytes()),
                "ELF segment 0 at 0x9fbf8..0x9fc38 overlaps reserved memory 0x9fc00..0x100000 \
                 (e820 type 2)",
            ),
            (
                patch(elf32_image(), 52 + 32 + 12, &0x10_0008u32.to_le_bytes()),
                "ELF segment 1 at 0x100008..0x100038 overlaps the ELF segment 0 at \
                 0x100000..0x100040",
            ),
            (
                patch(elf32_image(), 24, &0x50_0000u32.to_le_bytes()),
                "entry point 0x500000 lies outside every loaded segment",
            ),
        ];
        for (img, want) in cases {
            let mut mem = test_mem();
            let map = test_e820();
            let mut env = test_env(&mut mem, &map);
            let err = load(
                &mut env,
                Path::new("bad.elf"),
                &img,
                &BootOptions::default(),
            )
            .unwrap_err();
            assert_eq!(err.to_string(), format!("bad.elf: {want}"));
        }
    }

    #[test]
    fn plain_elf_refuses_a_command_line() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let opts = BootOptions {
            cmdline: "quiet".into(),
            ..BootOptions::default()
        };
        let err = load(&mut env, Path::new("k"), &elf32_image(), &opts).unwrap_err();
        assert!(err.to_string().contains("takes no command line"), "{err}");
    }
}
