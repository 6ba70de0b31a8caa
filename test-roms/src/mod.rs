//! vx86's own guest test kernels, written in Rust with iced-x86's `code_asm` (no assembler
//! needed), and the demo kernel `vx86 run` boots when given nothing to boot.
//!
//! Each kernel is a function that assembles its code and wraps it in its image format; the
//! built files are committed next to this directory (`test-roms/*.elf`, ...). The test
//! `tests/test_roms.rs` rebuilds every file, checks that it matches the committed one, and
//! boots each kernel in a `Machine`. See `test-roms/README.md`.

pub mod image;
pub mod rt;

mod aout;
mod data;
mod demo;
mod elf;
mod fwcfg;
mod ioapic;
mod irq;
mod lapic;
mod linux;
mod mb1;
mod mb2;
mod mbcheck;
mod pic;
mod uart;

use iced_x86::code_asm::IcedError;

/// The RAM of the machine the test kernels expect (the kernels check the memory map and
/// sizes they are given against it).
pub const MEMORY: u64 = 128 << 20;

/// The command line the multiboot and Linux test kernels are given.
pub const APPEND: &str = "answer=42 vx86-test";

/// How a test kernel ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// isa-debug-exit with [`rt::PASS`]: exit status 1.
    Pass,
    /// CLI; HLT: "halted for good", exit status 0 (the demo).
    Halt,
}

/// A file in `test-roms/`.
pub struct Rom {
    /// File name in `test-roms/`.
    pub file: &'static str,
    /// What it is or checks, in a line.
    pub what: &'static str,
    /// Builds the file's bytes.
    pub build: fn() -> Result<Vec<u8>, IcedError>,
    /// How the kernel ends; `None` for a data file (a module, an initrd).
    pub ending: Option<Ending>,
    /// Multiboot modules (file in `test-roms/`, arguments).
    pub modules: &'static [(&'static str, &'static str)],
    /// A Linux initrd (file in `test-roms/`).
    pub initrd: Option<&'static str>,
    /// Whether the kernel gets [`APPEND`] as its command line.
    pub append: bool,
}

const fn kernel(
    file: &'static str,
    what: &'static str,
    build: fn() -> Result<Vec<u8>, IcedError>,
) -> Rom {
    Rom {
        file,
        what,
        build,
        ending: Some(Ending::Pass),
        modules: &[],
        initrd: None,
        append: false,
    }
}

/// The multiboot modules the boot-information kernels are given.
pub const MODULES: &[(&str, &str)] = &[(data::A, "alpha"), (data::B, "beta gamma")];

/// Every file, data files first (kernels boot with them).
pub fn all() -> Vec<Rom> {
    vec![
        Rom {
            ending: None,
            ..kernel(data::A, "module A: a line of text", data::a)
        },
        Rom {
            ending: None,
            ..kernel(
                data::B,
                "module B / initrd: 5000 bytes of a pattern",
                data::b,
            )
        },
        Rom {
            ending: Some(Ending::Halt),
            ..kernel("demo.elf", "the demo kernel `vx86 run` boots", demo::build)
        },
        Rom {
            modules: MODULES,
            append: true,
            ..kernel("mb1.elf", "multiboot 1 ELF32: boot information", mb1::build)
        },
        Rom {
            append: true,
            ..kernel(
                "mb1-aout.bin",
                "multiboot 1 a.out kludge: load layout",
                aout::build,
            )
        },
        Rom {
            modules: MODULES,
            append: true,
            ..kernel(
                "mb2-32.elf",
                "multiboot 2 ELF32: boot information tags",
                mb2::build32,
            )
        },
        Rom {
            modules: MODULES,
            append: true,
            ..kernel(
                "mb2-64.elf",
                "multiboot 2 ELF64: tags, then 64-bit mode",
                mb2::build64,
            )
        },
        kernel(
            "elf32.elf",
            "plain ELF32: flat protected mode",
            elf::build32,
        ),
        kernel(
            "elf64.elf",
            "plain ELF64: 64-bit mode, identity map",
            elf::build64,
        ),
        kernel(
            "pic.elf",
            "PIT IRQ 0 and RTC IRQ 8 through the 8259s",
            pic::build,
        ),
        kernel(
            "lapic.elf",
            "local APIC timer: one-shot, periodic, TSC-deadline",
            lapic::build,
        ),
        kernel(
            "ioapic.elf",
            "PIT and HPET through the I/O APIC, HPET legacy",
            ioapic::build,
        ),
        kernel(
            "uart.elf",
            "COM1 probed in loopback as Linux's 8250 driver does",
            uart::build,
        ),
        Rom {
            initrd: Some(data::B),
            append: true,
            ..kernel(
                "linux.bzimage",
                "handmade bzImage: boot_params",
                linux::build,
            )
        },
    ]
}
