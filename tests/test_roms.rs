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
    let r = rom(file);
    let mut m = Machine::new(MachineConfig {
        memory: roms::MEMORY,
        rtc_start: RTC_START,
        max_instructions: Some(MAX_INSTRUCTIONS),
        ..MachineConfig::default()
    })
    .unwrap();
    let data = |f: &str| (dir().join(f), build(f));
    let opts = BootOptions {
        cmdline: if r.append { roms::APPEND.to_string() } else { String::new() },
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
    };
    m.boot(&dir().join(file), image, &opts)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut host = Recorder::default();
    let exit = m.run(&mut host);
    (exit, host, m)
}

/// Builds and boots test kernel `file`; it must pass.
fn run_pass(file: &str) -> Recorder {
    let (exit, host, m) = boot_image(file, &build(file));
    let log = String::from_utf8_lossy(&host.debugcon);
    println!("{file}: {} instructions, {} ns virtual:\n{log}", m.cpu.icount, m.now());
    assert_eq!(
        exit,
        Exit::DebugExit(1),
        "{file} did not pass ({} instructions, {} ns); it reported:\n{log}",
        m.cpu.icount,
        m.now()
    );
    assert!(log.ends_with("all checks passed\n"), "{file} reported:\n{log}");
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
