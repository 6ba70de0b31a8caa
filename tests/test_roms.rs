//! vx86's own guest kernels (`test-roms/`): every image is rebuilt from its Rust source and
//! must match the committed file; then each kernel boots in a `Machine` the way `vx86 run
//! --kernel` boots it, and must report success through isa-debug-exit (the demo: halt for
//! good after its ticks). Two runs of the demo must match exactly.
//!
//! After changing a kernel's source: `VX86_REGEN_ROMS=1 cargo test --test test_roms`.

#[path = "../test-roms/src/mod.rs"]
mod roms;

use std::path::{Path, PathBuf};

use vx86::machine::boot::BootOptions;
use vx86::machine::{Exit, Host, Machine, MachineConfig};

/// Guest instructions a test kernel may run before the test calls it stuck.
const MAX_INSTRUCTIONS: u64 = 200_000_000;
/// The RTC's start (2024-01-01T00:00:00Z), so runs do not depend on the host clock.
const RTC_START: u64 = 1_704_067_200;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-roms")
}

fn rom(file: &str) -> roms::Rom {
    roms::all()
        .into_iter()
        .find(|r| r.file == file)
        .unwrap_or_else(|| panic!("no rom {file}"))
}

fn build(file: &str) -> Vec<u8> {
    (rom(file).build)().unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Collects what the guest prints.
#[derive(Default)]
struct Recorder {
    serial: Vec<u8>,
    debugcon: Vec<u8>,
}

impl Host for Recorder {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        if port == 0 {
            self.serial.extend_from_slice(bytes);
        }
    }
    fn debugcon_out(&mut self, bytes: &[u8]) {
        self.debugcon.extend_from_slice(bytes);
    }
    fn post_code(&mut self, _: u8) {}
    fn serial_in(&mut self, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Boots `image` as the file `file` of `test-roms/` with that rom's options, and runs it.
fn boot_image(file: &str, image: &[u8]) -> (Exit, Recorder, Machine) {
    boot_custom(file, image, roms::MEMORY, &|_| {})
}

/// Boots `image` as `file` with `memory` bytes of RAM and the rom's options as `edit` leaves
/// them, and runs it.
fn boot_custom(
    file: &str,
    image: &[u8],
    memory: u64,
    edit: &dyn Fn(&mut BootOptions),
) -> (Exit, Recorder, Machine) {
    let r = rom(file);
    let mut m = Machine::new(MachineConfig {
        memory,
        rtc_start: RTC_START,
        max_instructions: Some(MAX_INSTRUCTIONS),
        ..MachineConfig::default()
    })
    .unwrap();
    let data = |f: &str| (dir().join(f), build(f));
    let mut opts = BootOptions {
        cmdline: if r.append {
            roms::APPEND.to_string()
        } else {
            String::new()
        },
        initrd: r.initrd.map(data),
        modules: r
            .modules
            .iter()
            .map(|&(f, args)| {
                let (p, b) = data(f);
                (p, b, args.to_string())
            })
            .collect(),
        linux_64bit_entry: false,
        kernel_decompress: Default::default(),
    };
    edit(&mut opts);
    m.boot(&dir().join(file), image, &opts)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut host = Recorder::default();
    let exit = m.run(&mut host);
    (exit, host, m)
}

/// Builds and boots test kernel `file`; it must pass.
fn run_pass(file: &str) -> Recorder {
    let r = rom(file);
    assert_eq!(
        r.ending,
        Some(roms::Ending::Pass),
        "{file} is not a test kernel"
    );
    let (exit, host, m) = boot_image(file, &build(file));
    let log = String::from_utf8_lossy(&host.debugcon);
    println!(
        "{file} ({}): {} instructions, {} ns virtual:\n{log}",
        r.what,
        m.cpu.icount,
        m.now()
    );
    assert_eq!(
        exit,
        Exit::DebugExit(1),
        "{file} did not pass ({} instructions, {} ns); it reported:\n{log}",
        m.cpu.icount,
        m.now()
    );
    assert!(
        log.ends_with("all checks passed\n"),
        "{file} reported:\n{log}"
    );
    host
}

#[test]
fn images_match_their_sources() {
    let regen = std::env::var_os("VX86_REGEN_ROMS").is_some();
    let mut stale = Vec::new();
    for r in roms::all() {
        let built = (r.build)().unwrap_or_else(|e| panic!("{}: {e}", r.file));
        let path = dir().join(r.file);
        if std::fs::read(&path).ok().as_deref() == Some(&built[..]) {
            continue;
        }
        if regen {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &built).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            stale.push(r.file);
        }
    }
    assert!(
        stale.is_empty(),
        "test-roms/ {stale:?} differ from their sources: run `VX86_REGEN_ROMS=1 cargo test \
         --test test_roms` and commit the result"
    );
}

#[test]
fn multiboot1_elf_boot_information() {
    run_pass("mb1.elf");
}

#[test]
fn multiboot1_aout_kludge_layout() {
    run_pass("mb1-aout.bin");
}

#[test]
fn multiboot2_elf32_tags() {
    run_pass("mb2-32.elf");
}

#[test]
fn multiboot2_elf64_tags_then_long_mode() {
    run_pass("mb2-64.elf");
}

#[test]
fn plain_elf32_flat_protected_mode() {
    run_pass("elf32.elf");
}

#[test]
fn plain_elf64_long_mode_identity_map() {
    run_pass("elf64.elf");
}

#[test]
fn pit_and_rtc_interrupts_through_the_8259() {
    run_pass("pic.elf");
}

#[test]
fn local_apic_timer_one_shot_periodic_tsc_deadline() {
    run_pass("lapic.elf");
}

#[test]
fn pit_and_hpet_through_the_ioapic() {
    run_pass("ioapic.elf");
}

#[test]
fn uart_probed_in_loopback_like_linux() {
    let host = run_pass("uart.elf");
    // Only the final line reached the wire: nothing sent in loopback did.
    assert_eq!(
        String::from_utf8_lossy(&host.serial),
        "uart: COM1 is a 16550A\n"
    );
}

#[test]
fn handmade_bzimage_boot_params() {
    run_pass("linux.bzimage");
}

#[test]
fn demo_kernel_prints_its_banner_modes_and_ticks_then_halts() {
    assert_eq!(rom("demo.elf").ending, Some(roms::Ending::Halt));
    let image = build("demo.elf");
    let started = std::time::Instant::now();
    let (exit, host, m) = boot_image("demo.elf", &image);
    let secs = started.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&host.serial).into_owned();
    println!(
        "{out}\n{} instructions in {secs:.4} s of host time",
        m.cpu.icount
    );
    assert_eq!(exit, Exit::Halted, "the demo ends with CLI; HLT:\n{out}");
    assert_eq!(exit.status(), 0);
    for want in [
        "vx86 demo kernel",
        "cpu:     vx86 virtual x86-64 processor",
        "memory:  128 MiB of RAM",
        "I/O APIC with 24 pins, HPET with 3 timers at 100 MHz",
        "loader:  vx86 (multiboot 1)",
        "[32-bit] entered from the loader in 32-bit protected mode",
        "EFER.LME set",
        "[64-bit] far jump",
        "  tick  1/10 at  10.000 ms",
        "  tick 10/10 at 100.000 ms",
        "goodbye",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    // Ten ticks of 10 ms of virtual time, and few instructions: HLT skips the idle time.
    // (The serial output's port accesses add a microsecond each: about 2 ms.)
    assert!(
        (100_000_000..103_000_000).contains(&m.now()),
        "virtual time {}",
        m.now()
    );
    assert!(m.cpu.icount < 1_000_000, "{} instructions", m.cpu.icount);
}

#[test]
fn demo_kernel_runs_identically_twice() {
    // The committed image: the one `vx86 run` embeds.
    let image = std::fs::read(dir().join("demo.elf")).unwrap();
    let run = || {
        let (exit, host, m) = boot_image("demo.elf", &image);
        (exit, host.serial, m.cpu.icount, m.now())
    };
    let first = run();
    let second = run();
    assert_eq!(first.0, Exit::Halted);
    assert!(!first.1.is_empty());
    assert_eq!(
        first, second,
        "same kernel, same output and instruction count"
    );
}

#[test]
fn kernels_fail_when_the_boot_is_not_what_they_expect() {
    // The checks are real: each kernel notices a machine or boot that differs from what
    // the test configures, and says what.
    type Edit = &'static dyn Fn(&mut BootOptions);
    let cases: [(&str, u64, Edit, &str); 5] = [
        ("mb1.elf", 64 << 20, &|_| {}, "FAIL: mem_upper (KiB)"),
        (
            "mb1.elf",
            roms::MEMORY,
            &|o| o.modules.swap(0, 1),
            "FAIL: module 0 length",
        ),
        (
            "mb2-32.elf",
            roms::MEMORY,
            &|o| o.modules.clear(),
            "FAIL: tag types seen",
        ),
        (
            "mb2-64.elf",
            roms::MEMORY,
            &|o| o.cmdline.push('!'),
            "FAIL: cmdline tag",
        ),
        (
            "linux.bzimage",
            roms::MEMORY,
            &|o| o.initrd = None,
            "FAIL: ramdisk_size",
        ),
    ];
    for (file, memory, edit, want) in cases {
        let (exit, host, _) = boot_custom(file, &build(file), memory, edit);
        let log = String::from_utf8_lossy(&host.debugcon);
        let failed = Exit::DebugExit(u32::from(roms::rt::FAIL) << 1 | 1);
        assert_eq!(exit, failed, "{file} should have failed:\n{log}");
        assert!(log.contains(want), "{file} should report {want:?}:\n{log}");
    }
}

#[test]
fn the_runtime_reports_unexpected_exceptions() {
    // The kernels' IDT turns any exception into a report and a failure: a #UD in 32-bit
    // code, and a #PF (not present, read: error code 0) above the 64-bit identity map.
    use iced_x86::code_asm::*;
    use roms::image::{Boot, Kernel};
    use roms::rt::{assemble, Out, CODE};
    let ud = assemble(32, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.ud2()
    })
    .unwrap();
    let pf = assemble(64, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.mov(rax, 0x1_0000_0000u64)?;
        r.mov(eax, dword_ptr(rax))
    })
    .unwrap();
    for (elf64, code, want) in [
        (
            false,
            ud,
            "FAIL: unexpected exception 0x00000006, error code 0x00000000, at 0x",
        ),
        (
            true,
            pf,
            "FAIL: unexpected exception 0x0000000e, error code 0x00000000, at 0x",
        ),
    ] {
        let image = Kernel::new(elf64, Boot::Plain, code).build();
        let (exit, host, _) = boot_image("elf32.elf", &image);
        let log = String::from_utf8_lossy(&host.debugcon);
        assert_eq!(
            exit,
            Exit::DebugExit(u32::from(roms::rt::FAIL) << 1 | 1),
            "{log}"
        );
        assert!(log.starts_with(want), "{log}");
    }
}
