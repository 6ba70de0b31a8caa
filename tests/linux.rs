//! Debian's stock kernels (x86-64 and i386) boot to a busybox shell and power off, each
//! through both kernel entries: unpacked on the host and entered as vmlinux (the default),
//! and through the kernel's own decompressor (`--kernel-decompress guest`). The guests come
//! from scripts/fetch-linux-guests.sh; without them these tests fail and say how to get
//! them (DESIGN.md section 8).
//!
//! `/init` (scripts/linux-init.sh) prints a marker and then one section per command; each
//! section's output is checked exactly, and the kernel log must be free of problem lines.

use md5::{Digest, Md5};
use vx86::cpu::cpuid;
use vx86::linux_guest::{self, Arch, Limits, MARKER};
use vx86::machine::boot::KernelDecompress;
use vx86::machine::Exit;

/// The lines of `log` between `-- name` and the next `-- ` line, carriage returns dropped.
fn section<'a>(log: &'a str, name: &str) -> Vec<&'a str> {
    let head = format!("-- {name}");
    let mut lines = log.lines().map(|l| l.trim_end_matches('\r'));
    lines.by_ref().find(|l| *l == head).unwrap_or_else(|| {
        panic!(
            "no '{head}' section in the log:\n{}",
            linux_guest::tail(log, 30)
        )
    });
    lines.take_while(|l| !l.starts_with("-- ")).collect()
}

/// The kernel's version string from the bzImage setup header (`kernel_version`):
/// "RELEASE (BUILDER) VERSION", which `uname -r` and `uname -v` print in two parts.
fn kernel_version(kernel: &std::path::Path) -> (String, String) {
    let b = std::fs::read(kernel).unwrap();
    let at = u16::from_le_bytes([b[0x20E], b[0x20F]]) as usize + 0x200;
    let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
    let s = std::str::from_utf8(&b[at..end]).unwrap();
    let (release, rest) = s.split_once(' ').unwrap();
    let (_, version) = rest.split_once(") ").unwrap();
    (release.to_string(), version.to_string())
}

/// The 16 MiB file /init hashes: `yes vx86 | head -c 16777216`.
fn blob_md5() -> String {
    let blob: Vec<u8> = b"vx86\n".iter().copied().cycle().take(16 << 20).collect();
    Md5::digest(&blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The loop /init runs: s = (s * 31 + i) mod 1000003 for i = 1..=100000.
fn loop_result() -> u64 {
    (1..=100_000u64).fold(0, |s, i| (s * 31 + i) % 1_000_003)
}

fn boot_and_check(arch: Arch, decompress: KernelDecompress) {
    let (kernel, initrd) = linux_guest::guest_files(arch).unwrap_or_else(|e| panic!("{e}"));
    let echo = std::env::var_os("VX86_ECHO").is_some();
    let run = linux_guest::boot(&kernel, &initrd, decompress, Limits::default(), echo).unwrap();
    let log = &run.log;
    let what = format!("{arch:?} ({decompress:?} decompression)");
    assert!(
        run.marker.is_some() && log.contains(MARKER),
        "{what}: /init never printed its marker ({}, {}); the log ends:\n{}",
        run.exit.describe(),
        run.stopped_because.as_deref().unwrap_or("no early stop"),
        linux_guest::tail(log, 40)
    );

    let (release, version) = kernel_version(&kernel);
    assert_eq!(
        section(log, "uname"),
        vec![format!(
            "Linux (none) {release} {version} {} GNU/Linux",
            arch.machine()
        )],
        "{what}"
    );

    let cpuinfo = section(log, "cpuinfo");
    let field = |name: &str| -> Vec<String> {
        cpuinfo
            .iter()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim_end() == name)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    assert_eq!(field("processor"), vec!["0"], "{what}: one processor");
    assert_eq!(
        field("vendor_id"),
        vec![std::str::from_utf8(cpuid::VENDOR).unwrap()],
        "{what}"
    );
    assert_eq!(field("model name"), vec![cpuid::BRAND], "{what}");
    let flags = field("flags");
    assert_eq!(flags.len(), 1, "{what}: one flags line");
    for f in [
        "fpu", "tsc", "msr", "pae", "cx8", "apic", "cmov", "fxsr", "sse", "sse2",
    ] {
        assert!(
            flags[0].split(' ').any(|x| x == f),
            "{what}: flag {f} missing from '{}'",
            flags[0]
        );
    }

    assert_eq!(
        section(log, "md5"),
        vec![format!("{}  /tmp/blob", blob_md5())],
        "{what}"
    );
    assert_eq!(
        section(log, "loop"),
        vec![format!("loop 100000 {}", loop_result())],
        "{what}"
    );
    assert!(
        log.contains("reboot: Power down"),
        "{what}: no power-down message"
    );
    assert_eq!(
        (run.exit, run.exit.status()),
        (Exit::PowerOff, 0),
        "{what}: {}",
        linux_guest::tail(log, 20)
    );
    let problems = linux_guest::problem_lines(log);
    assert!(
        problems.is_empty(),
        "{what}: the kernel log shows problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn x86_64_kernel_unpacked_on_the_host_boots_to_busybox_and_powers_off() {
    boot_and_check(Arch::X86_64, KernelDecompress::Host);
}

#[test]
fn x86_64_kernel_through_its_own_decompressor_boots_to_busybox_and_powers_off() {
    boot_and_check(Arch::X86_64, KernelDecompress::Guest);
}

#[test]
fn i386_kernel_unpacked_on_the_host_boots_to_busybox_and_powers_off() {
    boot_and_check(Arch::I386, KernelDecompress::Host);
}

#[test]
fn i386_kernel_through_its_own_decompressor_boots_to_busybox_and_powers_off() {
    boot_and_check(Arch::I386, KernelDecompress::Guest);
}

#[test]
fn the_expected_outputs_are_computed_right() {
    // Pinned from an independent computation (Python's hashlib and a loop), so that a slip
    // in the generators above cannot make both sides wrong the same way.
    assert_eq!(blob_md5(), "492de210652bde4f492029b8ed5c27d4");
    assert_eq!(loop_result(), 36212);
}
