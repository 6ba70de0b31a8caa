//! Direct kernel boot, as QEMU's `-kernel` does it: no firmware runs; the loader puts the
//! kernel, its modules and the boot information in RAM and says how the CPU must start.
//!
//! [`load`] recognises the format, in this order:
//! 1. **Multiboot 2** (a header in the first 32 KiB): 32- and 64-bit ELF kernels, or the
//!    address tag's a.out-style layout; entered in 32-bit protected mode, EAX = 0x36D76289,
//!    EBX = the boot information (see [`multiboot2`]).
//! 2. **Multiboot 1** (a header in the first 8 KiB): ELF or the a.out kludge; EAX =
//!    0x2BADB002, EBX = the boot information (see [`multiboot1`]).
//! 3. **Linux bzImage** ("HdrS" at 0x202), boot protocol 2.06 or later: the 32-bit boot
//!    protocol (or the 64-bit one on request), ESI = the zero page (see [`bzimage`]). By
//!    default the compressed kernel inside is unpacked on the host and booted as a vmlinux
//!    ([`vmlinux`], [`decompress`]); [`KernelDecompress::Guest`] runs the kernel's own
//!    decompressor instead.
//! 4. **Linux vmlinux** (an ELF with the kernel's own notes, see [`vmlinux`]): entered as
//!    a bzImage unpacked on the host is, through the 64- or 32-bit boot protocol.
//! 5. **Plain ELF**: segments at their physical addresses; an ELF32 kernel starts in flat
//!    32-bit protected mode with paging off, an ELF64 kernel in 64-bit mode with the first
//!    4 GiB identity-mapped (2-MiB pages); all general registers zero (see [`elf`]).
//!
//! Entry points of ELF kernels are translated to physical addresses through the segment
//! that contains them (`p_paddr + (e_entry - p_vaddr)`), as GRUB does, so a higher-half
//! kernel linked at virtual addresses starts at its physical load address.
//!
//! Boot information (multiboot info, the zero page, command lines, the GDT, long-mode page
//! tables) goes in free RAM between 64 KiB and 640 KiB (the window GRUB uses for the
//! multiboot information), modules go after the kernel, page-aligned, and a Linux initrd as
//! high as the kernel allows. Nothing below 64 KiB is touched: kernels put trampolines there.
//! Every failure is an [`Error`] naming the file and what is wrong; nothing here panics on
//! any input.

pub mod bzimage;
pub mod decompress;
pub mod elf;
pub mod layout;
pub mod multiboot1;
pub mod multiboot2;
mod place;
pub mod vmlinux;
pub mod xz;
mod zeropage;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testimg;

use std::path::{Path, PathBuf};

use crate::cpu::flags::bit;
use crate::cpu::setup::descriptor;
use crate::cpu::{Cpu, Cr0};
use crate::mem::PhysMem;
use crate::Error;

pub use layout::{e820, E820Entry};
pub use place::Claim;
use place::Placer;

/// What the machine offers the loader.
pub struct BootEnv<'a> {
    /// Guest memory; the loader writes the kernel and boot information into it.
    pub mem: &'a mut PhysMem,
    /// The memory map: usable RAM (type 1) and everything else. Loaders put nothing outside
    /// type-1 ranges and pass the map on to the kernel unchanged.
    pub e820: &'a [E820Entry],
    /// Physical address of the ACPI RSDP, if the board built ACPI tables (already in
    /// memory: multiboot 2 copies it into its ACPI tags).
    pub acpi_rsdp: Option<u64>,
    /// The display's framebuffer, if a display is configured.
    pub framebuffer: Option<Framebuffer>,
}

/// A framebuffer as boot protocols describe it to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    /// Physical address (0xB8000 for VGA text).
    pub addr: u64,
    /// Width in pixels, or in characters for text.
    pub width: u32,
    /// Height in pixels, or in characters for text.
    pub height: u32,
    /// Bytes per line.
    pub pitch: u32,
    /// Bits per pixel (16 for text: a character and its attribute).
    pub bpp: u8,
    /// How pixels are encoded.
    pub format: PixelFormat,
}

impl Framebuffer {
    /// The VGA text screen: 80×25 characters at 0xB8000.
    pub const VGA_TEXT: Framebuffer = Framebuffer {
        addr: 0xB8000,
        width: 80,
        height: 25,
        pitch: 160,
        bpp: 16,
        format: PixelFormat::Text,
    };
}

/// The encoding of a framebuffer's pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// EGA/VGA text: a character byte and an attribute byte per cell.
    Text,
    /// Direct colour: (bit position, bit count) of red, green and blue.
    Rgb {
        /// Red field (position, size).
        red: (u8, u8),
        /// Green field (position, size).
        green: (u8, u8),
        /// Blue field (position, size).
        blue: (u8, u8),
    },
}

/// What the user asked for, beside the kernel itself.
#[derive(Clone, Debug, Default)]
pub struct BootOptions {
    /// The kernel command line (`--append`).
    pub cmdline: String,
    /// A Linux initrd (`--initrd`): the file and its bytes. A multiboot kernel gets it as
    /// its first module, as QEMU does.
    pub initrd: Option<(PathBuf, Vec<u8>)>,
    /// Multiboot modules (`--module FILE[,ARGS]`): file, bytes, arguments.
    pub modules: Vec<(PathBuf, Vec<u8>, String)>,
    /// Enter a Linux kernel at its 64-bit entry point (startup_32 + 0x200) in long mode
    /// rather than through the 32-bit boot protocol; the kernel must set XLF_KERNEL_64.
    pub linux_64bit_entry: bool,
    /// Who unpacks a bzImage's compressed kernel (`--kernel-decompress`).
    pub kernel_decompress: KernelDecompress,
}

/// Who unpacks the compressed kernel inside a Linux bzImage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelDecompress {
    /// vx86, on the host, before the guest starts; the kernel proper is entered directly
    /// (see [`vmlinux`]). Payloads vx86 cannot decode (LZO) fall back to `Guest`.
    #[default]
    Host,
    /// The kernel's own decompressor, in the guest, as a boot loader would start it.
    Guest,
}

/// The kinds of kernel vx86 boots directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// Multiboot 1 (ELF or a.out kludge).
    Multiboot1,
    /// Multiboot 2 (32- or 64-bit ELF, or the address tag).
    Multiboot2,
    /// Linux bzImage.
    Linux,
    /// A Linux kernel as an ELF file (vmlinux), given directly or unpacked from a bzImage.
    Vmlinux,
    /// A plain 32-bit ELF executable.
    Elf32,
    /// A plain 64-bit ELF executable.
    Elf64,
}

/// The processor state a boot starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    /// Flat 32-bit protected mode, paging off, with vx86's GDT ([`crate::cpu::setup::gdt`]:
    /// CS 0x08, data 0x10), as multiboot and ELF32 kernels expect.
    Protected,
    /// Linux's 32-bit boot protocol: flat protected mode, paging off, CS = `__BOOT_CS`
    /// (0x10), DS = ES = SS = `__BOOT_DS` (0x18).
    LinuxProtected,
    /// 64-bit mode with the first 4 GiB identity-mapped, vx86's GDT (CS 0x18, data 0x10).
    Long,
    /// Linux's 64-bit boot protocol: 64-bit mode, first 4 GiB identity-mapped, CS =
    /// `__BOOT_CS` (0x10, 64-bit code), DS = ES = SS = `__BOOT_DS` (0x18).
    LinuxLong,
}

/// How the CPU starts after a direct boot, and what the loader put where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// What was loaded.
    pub format: KernelFormat,
    /// The processor mode at entry.
    pub mode: EntryMode,
    /// The entry point (RIP).
    pub entry: u64,
    /// The general registers at entry, indexed by [`crate::cpu::reg`] (RAX…R15).
    pub gpr: [u64; 16],
    /// Where [`BootPlan::apply`] writes the GDT (64 bytes reserved).
    pub gdt: u64,
    /// Where [`BootPlan::apply`] writes the long-mode page tables (24 KiB reserved), for
    /// the 64-bit modes.
    pub page_tables: Option<u64>,
    /// Every range of RAM the boot uses, in the order it was placed.
    pub claims: Vec<Claim>,
}

/// Bytes reserved for the GDT a boot writes.
const GDT_BYTES: u64 = 64;
/// Identity map of this many GiB for the 64-bit entries.
const IDENTITY_GIB: u64 = 4;
/// Bytes of page tables for the identity map: PML4, PDPT and one PD per GiB.
const PAGE_TABLE_BYTES: u64 = (2 + IDENTITY_GIB) * 4096;
/// Where boot information goes first: GRUB's window for the multiboot information.
const LOW_WINDOW: (u64, u64) = (0x1_0000, 0xA_0000);
/// Where it goes when the low window is full: above 1 MiB, below 4 GiB.
const HIGH_WINDOW: (u64, u64) = (0x10_0000, 1 << 32);

impl BootPlan {
    /// Puts a CPU fresh from reset at the plan's entry: writes the GDT (and page tables),
    /// loads the flat segments, sets CR0 (and CR4, EFER, CR3 for 64-bit), RFLAGS = 2
    /// (interrupts off), the general registers and RIP. The caches are on (CR0.CD and
    /// CR0.NW clear) and the MTRRs set up, as firmware leaves them. A20 must be enabled by
    /// the board.
    pub fn apply(&self, cpu: &mut Cpu) {
        cpu.gpr[..16].copy_from_slice(&self.gpr);
        cpu.write_flags(bit::FIXED1, u64::MAX);
        cpu.cr0.remove(Cr0::CD | Cr0::NW);
        firmware_mtrrs(cpu);
        let tables = self.page_tables.unwrap_or(0);
        match self.mode {
            EntryMode::Protected => cpu.enter_protected_flat(self.gdt),
            EntryMode::LinuxProtected => {
                let gdt = bzimage::boot_gdt(false);
                cpu.enter_protected_with(self.gdt, &gdt, bzimage::BOOT_CS, bzimage::BOOT_DS)
            }
            EntryMode::Long => cpu.enter_long_mode(self.gdt, tables, IDENTITY_GIB),
            EntryMode::LinuxLong => {
                let gdt = bzimage::boot_gdt(true);
                cpu.enter_long_mode_with(
                    self.gdt,
                    &gdt,
                    (bzimage::BOOT_CS, bzimage::BOOT_DS),
                    tables,
                    IDENTITY_GIB,
                )
            }
        }
        cpu.set_rip(self.entry);
    }
}

/// Programs the MTRRs as PC firmware does before it boots anything (SeaBIOS's mtrr_setup;
/// they are off at reset, SDM Vol. 3A 12.11.5): below 1 MiB the fixed ranges give RAM
/// write-back, the VGA window uncached and the BIOS area write-protected; everything else
/// is write-back but 3 GiB to 4 GiB, the PCI hole with the APICs and HPET (the board puts
/// no RAM there), uncached by variable range 0; default type write-back. Without this,
/// Linux finds the MTRRs disabled and leaves the PAT unprogrammed.
fn firmware_mtrrs(cpu: &mut Cpu) {
    use crate::cpu::msr::index;
    const WB: u64 = 0x0606_0606_0606_0606;
    const WP: u64 = 0x0505_0505_0505_0505;
    let writes = [
        (index::MTRR_DEF_TYPE, 0),
        (index::MTRR_FIX64K_00000, WB),
        (index::MTRR_FIX16K_80000, WB),
        (index::MTRR_FIX16K_A0000, 0),
        (index::MTRR_PHYSBASE0, 0xC000_0000),
        // PhysMask: 1 GiB (address bits 39:30 must match), V (bit 11).
        (index::MTRR_PHYSBASE0 + 1, 0xFF_C000_0000 | 1 << 11),
    ];
    for (i, v) in writes {
        // Valid values: the model accepts them (tested), so nothing can fail here.
        let _ = cpu.write_msr(i, v);
    }
    for i in 0..8 {
        let _ = cpu.write_msr(index::MTRR_FIX4K_C0000 + i, WP);
    }
    // E (bit 11), FE (bit 10), default type WB.
    let _ = cpu.write_msr(index::MTRR_DEF_TYPE, 1 << 11 | 1 << 10 | 6);
}

/// A loader failure: what is wrong, and in which file (`None`: the kernel).
#[derive(Debug)]
pub(crate) struct LoadError {
    file: Option<PathBuf>,
    problem: String,
}

impl LoadError {
    /// A problem with `file` (an initrd or a module) rather than the kernel.
    pub(crate) fn in_file(file: &Path, problem: String) -> LoadError {
        LoadError {
            file: Some(file.to_path_buf()),
            problem,
        }
    }
}

impl From<String> for LoadError {
    fn from(problem: String) -> LoadError {
        LoadError {
            file: None,
            problem,
        }
    }
}

/// Loads `bytes` (the contents of the file `kernel`) into `env.mem` and returns how the CPU
/// must start. Detects the format (see the module documentation); every malformed input
/// gives an [`Error::File`] naming the kernel, initrd or module at fault.
pub fn load(
    env: &mut BootEnv,
    kernel: &Path,
    bytes: &[u8],
    opts: &BootOptions,
) -> Result<BootPlan, Error> {
    let mut placer = Placer::new(env.e820);
    let result = match detect(bytes) {
        Some(Detected::Multiboot2(at)) => multiboot2::load(env, &mut placer, bytes, at, opts),
        Some(Detected::Multiboot1(at)) => {
            multiboot1::load(env, &mut placer, kernel, bytes, at, opts)
        }
        Some(Detected::Linux) => bzimage::load(env, &mut placer, bytes, opts),
        Some(Detected::Vmlinux) => vmlinux::load(env, &mut placer, bytes, opts),
        Some(Detected::Elf) => elf::boot(env, &mut placer, bytes, opts),
        None => Err(LoadError::from(not_a_kernel(bytes))),
    };
    result.map_err(|e| Error::file(e.file.as_deref().unwrap_or(kernel), e.problem))
}

/// The format of `bytes`, if vx86 can boot it directly.
pub fn detect_format(bytes: &[u8]) -> Option<KernelFormat> {
    Some(match detect(bytes)? {
        Detected::Multiboot2(_) => KernelFormat::Multiboot2,
        Detected::Multiboot1(_) => KernelFormat::Multiboot1,
        Detected::Linux => KernelFormat::Linux,
        Detected::Vmlinux => KernelFormat::Vmlinux,
        Detected::Elf => match bytes.get(4) {
            Some(2) => KernelFormat::Elf64,
            _ => KernelFormat::Elf32,
        },
    })
}

/// A recognised format, with the offset of its multiboot header.
enum Detected {
    Multiboot2(usize),
    Multiboot1(usize),
    Linux,
    Vmlinux,
    Elf,
}

fn detect(bytes: &[u8]) -> Option<Detected> {
    if let Some(at) = multiboot2::find_header(bytes) {
        Some(Detected::Multiboot2(at))
    } else if let Some(at) = multiboot1::find_header(bytes) {
        Some(Detected::Multiboot1(at))
    } else if bytes.get(bzimage::HDRS_OFFSET..bzimage::HDRS_OFFSET + 4) == Some(b"HdrS") {
        Some(Detected::Linux)
    } else if vmlinux::is_vmlinux(bytes) {
        Some(Detected::Vmlinux)
    } else if elf::is_elf(bytes) {
        Some(Detected::Elf)
    } else {
        None
    }
}

fn not_a_kernel(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "empty file: not a kernel".to_string()
    } else {
        format!(
            "not a kernel vx86 can boot ({} bytes): no multiboot 1 or 2 header, no Linux \
             setup header (\"HdrS\" at 0x202), no ELF magic",
            bytes.len()
        )
    }
}

/// A multiboot module ready to place: file, bytes and the string the kernel sees.
pub(crate) struct Module<'a> {
    pub(crate) path: &'a Path,
    pub(crate) bytes: &'a [u8],
    pub(crate) string: String,
}

/// The modules of a multiboot boot: the initrd first (QEMU passes `-initrd` files to
/// multiboot kernels as modules), then `--module`s. With `with_path` the string is the file
/// name followed by the arguments (QEMU's multiboot 1), else the arguments alone (GRUB 2).
pub(crate) fn modules(opts: &BootOptions, with_path: bool) -> Vec<Module<'_>> {
    let initrd = opts
        .initrd
        .iter()
        .map(|(p, b)| (p.as_path(), b.as_slice(), ""));
    let mods = opts
        .modules
        .iter()
        .map(|(p, b, a)| (p.as_path(), b.as_slice(), a.as_str()));
    initrd
        .chain(mods)
        .map(|(path, bytes, args)| Module {
            path,
            bytes,
            string: match (with_path, args.is_empty()) {
                (true, true) => path.display().to_string(),
                (true, false) => format!("{} {args}", path.display()),
                (false, _) => args.to_string(),
            },
        })
        .collect()
}

/// Places `modules` page-aligned after `kernel_end` (and above 1 MiB), below 4 GiB, and
/// writes them; returns each one's (start, end).
pub(crate) fn place_modules(
    mem: &mut PhysMem,
    placer: &mut Placer,
    modules: &[Module],
    kernel_end: u64,
) -> Result<Vec<(u64, u64)>, LoadError> {
    let mut placed = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let what = format!("module {i}");
        let len = m.bytes.len() as u64;
        let lo = kernel_end.max(HIGH_WINDOW.0);
        let at = placer
            .alloc(len, 4096, (lo, HIGH_WINDOW.1), false, &what)
            .ok_or_else(|| {
                LoadError::in_file(
                    m.path,
                    format!("module of {len} bytes does not fit in free RAM below 4 GiB"),
                )
            })?;
        place::write(mem, at, m.bytes, &what)?;
        placed.push((at, at + len));
    }
    Ok(placed)
}

/// Finds room for boot data: the low window first, then above 1 MiB below 4 GiB.
pub(crate) fn alloc_boot_data(
    placer: &mut Placer,
    len: u64,
    align: u64,
    what: &str,
) -> Result<u64, String> {
    placer
        .alloc(len, align, LOW_WINDOW, false, what)
        .or_else(|| placer.alloc(len, align, HIGH_WINDOW, false, what))
        .ok_or_else(|| format!("no free RAM below 4 GiB for the {what} ({len} bytes)"))
}

/// Reserves the GDT, and the page tables for 64-bit modes.
pub(crate) fn alloc_cpu_tables(
    placer: &mut Placer,
    long: bool,
) -> Result<(u64, Option<u64>), String> {
    let gdt = alloc_boot_data(placer, GDT_BYTES, 16, "GDT")?;
    let tables = if long {
        Some(alloc_boot_data(
            placer,
            PAGE_TABLE_BYTES,
            4096,
            "page tables",
        )?)
    } else {
        None
    };
    Ok((gdt, tables))
}

/// KiB of conventional memory (the RAM range at 0, up to 640 KiB) and of memory from 1 MiB
/// to the first hole, as multiboot's mem_lower / mem_upper and Linux's alt_mem_k count them.
pub(crate) fn mem_lower_upper(map: &[E820Entry]) -> (u32, u32) {
    let placer = Placer::new(map);
    let lower = placer.ram_end_at(0).map_or(0, |e| e.min(0xA_0000) / 1024);
    let upper = placer
        .ram_end_at(0x10_0000)
        .map_or(0, |e| (e - 0x10_0000) / 1024);
    (lower as u32, upper.min(u32::MAX as u64) as u32)
}

/// Descriptor for a flat code or data segment, for the GDTs the boot protocols need.
pub(crate) fn flat(attr: u16) -> u64 {
    descriptor(0, 0xFFFFF, attr)
}

#[cfg(test)]
mod tests {
    use super::testimg::*;
    use super::*;
    use crate::cpu::{reg, Mode, Model};

    #[test]
    fn unknown_files_are_refused_by_name() {
        let mut mem = test_mem();
        let map = test_e820();
        let mut env = test_env(&mut mem, &map);
        let err = load(
            &mut env,
            Path::new("k.bin"),
            &[0x90; 100],
            &BootOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "k.bin: not a kernel vx86 can boot (100 bytes): no multiboot 1 or 2 header, no \
             Linux setup header (\"HdrS\" at 0x202), no ELF magic"
        );
        let err = load(&mut env, Path::new("e"), &[], &BootOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "e: empty file: not a kernel");
    }

    #[test]
    fn formats_are_detected_in_priority_order() {
        assert_eq!(detect_format(&elf32_image()), Some(KernelFormat::Elf32));
        assert_eq!(detect_format(&elf64_image()), Some(KernelFormat::Elf64));
        assert_eq!(
            detect_format(&mb1_elf_image()),
            Some(KernelFormat::Multiboot1)
        );
        assert_eq!(
            detect_format(&mb1_aout_image()),
            Some(KernelFormat::Multiboot1)
        );
        assert_eq!(
            detect_format(&mb2_image(&[])),
            Some(KernelFormat::Multiboot2)
        );
        assert_eq!(detect_format(&bzimage()), Some(KernelFormat::Linux));
        // An image with both headers is booted as multiboot 2.
        let mut both = mb2_image(&[]);
        both[0x40..0x4C].copy_from_slice(&mb1_header(0));
        assert_eq!(detect_format(&both), Some(KernelFormat::Multiboot2));
    }

    #[test]
    fn mem_lower_and_upper_follow_the_map() {
        assert_eq!(
            mem_lower_upper(&test_e820()),
            (639, (TEST_RAM - 0x10_0000) as u32 / 1024)
        );
        assert_eq!(mem_lower_upper(&[]), (0, 0));
    }

    #[test]
    fn apply_enters_protected_mode_for_multiboot() {
        let mut mem = test_mem();
        let plan =
            load_on_test_machine(&mut mem, &mb1_elf_image(), &BootOptions::default()).unwrap();
        let mut cpu = Cpu::new(Model::Modern, mem);
        plan.apply(&mut cpu);
        assert_eq!(cpu.mode, Mode::Protected);
        assert_eq!(cpu.rip(), plan.entry);
        assert_eq!(cpu.reg64(reg::RAX), 0x2BAD_B002);
        assert_eq!(cpu.seg(crate::cpu::sreg::CS).selector, 0x08);
        assert!(!cpu.cr0.contains(Cr0::PG));
        assert_eq!(cpu.rflags() & bit::IF, 0);
        assert_eq!(cpu.gdtr.base, plan.gdt);
    }

    #[test]
    fn apply_enters_long_mode_for_elf64_and_linux_selectors_for_bzimage() {
        let mut mem = test_mem();
        let map = test_e820();
        let plan = load_on_test_machine(&mut mem, &elf64_image(), &BootOptions::default()).unwrap();
        assert_eq!(plan.mode, EntryMode::Long);
        let mut cpu = Cpu::new(Model::Modern, mem);
        plan.apply(&mut cpu);
        assert_eq!(cpu.mode, Mode::Long);
        assert_eq!(cpu.cr3, plan.page_tables.unwrap());
        assert_eq!(cpu.rip(), plan.entry);

        let mut mem = test_mem();
        let mut env = test_env(&mut mem, &map);
        let opts = BootOptions {
            linux_64bit_entry: true,
            ..BootOptions::default()
        };
        let plan = load(&mut env, Path::new("bz"), &bzimage(), &opts).unwrap();
        let mut cpu = Cpu::new(Model::Modern, mem);
        plan.apply(&mut cpu);
        assert_eq!(cpu.mode, Mode::Long);
        assert_eq!(cpu.seg(crate::cpu::sreg::CS).selector, 0x10);
        assert_eq!(cpu.seg(crate::cpu::sreg::DS).selector, 0x18);
        assert_eq!(cpu.seg(crate::cpu::sreg::SS).selector, 0x18);

        let mut mem = test_mem();
        let plan = load_on_test_machine(&mut mem, &bzimage(), &BootOptions::default()).unwrap();
        let mut cpu = Cpu::new(Model::Modern, mem);
        plan.apply(&mut cpu);
        assert_eq!(cpu.mode, Mode::Protected);
        assert_eq!(cpu.seg(crate::cpu::sreg::CS).selector, 0x10);
        assert!(cpu.seg(crate::cpu::sreg::CS).big(), "32-bit code segment");
        assert_eq!(cpu.seg(crate::cpu::sreg::ES).selector, 0x18);
        assert_eq!(cpu.gdtr.limit, 31);
    }

    #[test]
    fn apply_leaves_the_mtrrs_as_pc_firmware_does() {
        use crate::cpu::msr::index;
        let mut mem = test_mem();
        let plan = load_on_test_machine(&mut mem, &elf64_image(), &BootOptions::default()).unwrap();
        let mut cpu = Cpu::new(Model::Modern, mem);
        assert_eq!(cpu.read_msr(index::MTRR_DEF_TYPE), Ok(0), "off at reset");
        plan.apply(&mut cpu);
        // Enabled (E), fixed ranges on (FE), default type write-back.
        assert_eq!(cpu.read_msr(index::MTRR_DEF_TYPE), Ok(0xC06));
        assert_eq!(
            cpu.read_msr(index::MTRR_FIX64K_00000),
            Ok(0x0606_0606_0606_0606)
        );
        assert_eq!(
            cpu.read_msr(index::MTRR_FIX16K_A0000),
            Ok(0),
            "VGA window UC"
        );
        assert_eq!(
            cpu.read_msr(0x26F),
            Ok(0x0505_0505_0505_0505),
            "BIOS ROM WP"
        );
        // 3 GiB to 4 GiB, where the devices are, uncached.
        assert_eq!(cpu.read_msr(index::MTRR_PHYSBASE0), Ok(0xC000_0000));
        assert_eq!(
            cpu.read_msr(index::MTRR_PHYSBASE0 + 1),
            Ok(0xFF_C000_0000 | 1 << 11)
        );
    }

    /// Applies `plan` to a fresh CPU and runs it until the probe code halts; returns the
    /// CPU and what the probe stored: EAX, EBX, ESI, CS.
    fn run_probe(plan: &BootPlan, mem: PhysMem) -> (Cpu, [u32; 4]) {
        let mut cpu = Cpu::new(Model::Modern, mem);
        plan.apply(&mut cpu);
        let exit = cpu.run(&mut crate::cpu::OpenBus, 1000);
        assert_eq!(
            exit,
            crate::cpu::RunExit::Halted,
            "fault: {:?}",
            cpu.last_fault
        );
        let mut b = [0u8; 16];
        cpu.mem.read_bytes(0x500, &mut b);
        let w = |i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        let probe = [w(0), w(1), w(2), w(3) & 0xFFFF];
        (cpu, probe)
    }

    #[test]
    fn each_kind_of_kernel_runs_from_its_entry_with_its_registers() {
        let boot = |img: &[u8], opts: &BootOptions| {
            let mut mem = test_mem();
            let plan = load_on_test_machine(&mut mem, img, opts).unwrap();
            (plan, mem)
        };
        let none = BootOptions::default();

        let (plan, mem) = boot(&mb1_elf_image(), &none);
        let (cpu, p) = run_probe(&plan, mem);
        assert_eq!(
            p,
            [0x2BAD_B002, plan.gpr[reg::RBX as usize] as u32, 0, 0x08]
        );
        assert_eq!(cpu.mode, Mode::Protected);

        // A 64-bit multiboot 2 kernel starts in 32-bit protected mode.
        let (plan, mem) = boot(&mb2_elf64_image(), &none);
        let (cpu, p) = run_probe(&plan, mem);
        assert_eq!(
            p,
            [0x36D7_6289, plan.gpr[reg::RBX as usize] as u32, 0, 0x08]
        );
        assert_eq!(cpu.mode, Mode::Protected);

        let (plan, mem) = boot(&elf64_image(), &none);
        let (cpu, p) = run_probe(&plan, mem);
        assert_eq!(p, [0, 0, 0, 0x18]);
        assert_eq!(cpu.mode, Mode::Long);

        let (plan, mem) = boot(&elf32_image(), &none);
        let (_, p) = run_probe(&plan, mem);
        assert_eq!(p, [0, 0, 0, 0x08]);

        // Linux: the 32-bit protocol enters at the protected-mode kernel's start, the
        // 64-bit one 0x200 further; ESI holds the zero page either way.
        let setup = (BZ_SETUP_SECTS + 1) * 512;
        let mut img = bzimage();
        img[setup..setup + PROBE.len()].copy_from_slice(&PROBE);
        img[setup + 0x200..setup + 0x200 + PROBE.len()].copy_from_slice(&PROBE);
        let (plan, mem) = boot(&img, &none);
        let (cpu, p) = run_probe(&plan, mem);
        assert_eq!(p, [0, 0, plan.gpr[reg::RSI as usize] as u32, 0x10]);
        assert_eq!(cpu.mode, Mode::Protected);
        let long = BootOptions {
            linux_64bit_entry: true,
            ..BootOptions::default()
        };
        let (plan, mem) = boot(&img, &long);
        let (cpu, p) = run_probe(&plan, mem);
        assert_eq!(p, [0, 0, plan.gpr[reg::RSI as usize] as u32, 0x10]);
        assert_eq!(cpu.mode, Mode::Long);
    }
}
