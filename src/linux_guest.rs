//! The Linux test guests: Debian's stock kernels with the busybox initramfs that
//! `scripts/fetch-linux-guests.sh` builds (its `/init` is `scripts/linux-init.sh`), booted
//! with the serial console captured, timed to the init marker and to power-off. The
//! integration tests (tests/linux.rs) and `vx86 bench linux` use it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::machine::boot::{BootOptions, KernelDecompress};
use crate::machine::{Exit, Host, Machine, MachineConfig};
use crate::Error;

/// The line `/init` prints first, once userspace runs.
pub const MARKER: &str = "== vx86 init ==";

/// The kernel command line of the tests and the benchmark: the serial console from the
/// first instruction on (earlyprintk), nothing that hides a problem.
pub const CMDLINE: &str = "console=ttyS0 earlyprintk=serial";

/// Guest RAM for the Linux guests: 128 MiB, QEMU's default.
pub const MEMORY: u64 = 128 << 20;

/// The fixed RTC start time of the tests (2024-01-01T00:00:00Z), for repeatable runs.
pub const RTC_START: u64 = 1_704_067_200;

/// A guest architecture: the folder under the guests folder and `uname -m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// linux-image-amd64.
    X86_64,
    /// linux-image-686-pae.
    I386,
}

impl Arch {
    /// The folder name under the guests folder.
    pub fn dir(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
        }
    }

    /// What `uname -m` prints in the guest.
    pub fn machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i686",
        }
    }
}

/// Where the guests are: `$VX86_GUESTS`, else `.cache/guests` in the source tree.
pub fn guests_dir() -> PathBuf {
    match std::env::var_os("VX86_GUESTS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/guests"),
    }
}

/// The kernel and initramfs of `arch`, or a message saying how to get them.
pub fn guest_files(arch: Arch) -> Result<(PathBuf, PathBuf), String> {
    let dir = guests_dir().join(arch.dir());
    let kernel = dir.join("vmlinuz");
    let initrd = dir.join("initramfs.cpio.gz");
    for f in [&kernel, &initrd] {
        if !f.is_file() {
            return Err(format!(
                "Linux guest file {} is missing: run scripts/fetch-linux-guests.sh (it downloads \
                 Debian's kernels and busybox and builds the initramfs; it tells what to provide \
                 on a host without apt), or set VX86_GUESTS to a folder holding \
                 {}/vmlinuz and {}/initramfs.cpio.gz",
                f.display(),
                arch.dir(),
                arch.dir()
            ));
        }
    }
    Ok((kernel, initrd))
}

/// Limits of one boot: a hang fails fast instead of running forever.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Guest instructions at most.
    pub max_instructions: u64,
    /// Virtual time at most: a guest idling in HLT (a kernel that gave up) retires few
    /// instructions while its timers move virtual time on.
    pub max_virtual: Duration,
    /// Host time at most.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_instructions: 40_000_000_000,
            max_virtual: Duration::from_secs(120),
            timeout: Duration::from_secs(300),
        }
    }
}

/// A point of a boot: host time since the boot began (loading included) and guest
/// instructions retired.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moment {
    /// Host wall time since [`boot`] was called.
    pub wall: Duration,
    /// Guest instructions retired.
    pub instructions: u64,
    /// Virtual time (ns).
    pub virtual_ns: u64,
}

/// What a boot did.
#[derive(Debug)]
pub struct BootRun {
    /// Everything the guest wrote to COM1.
    pub log: String,
    /// Why the machine stopped.
    pub exit: Exit,
    /// When the marker appeared (the end of the slice that printed it).
    pub marker: Option<Moment>,
    /// When the machine stopped.
    pub end: Moment,
    /// Why the host stopped it early, if it did (timeout, kernel panic).
    pub stopped_because: Option<String>,
}

/// Captures COM1 and watches for the marker, a kernel panic and the timeout.
struct Capture {
    log: Vec<u8>,
    /// Bytes of `log` already searched for the marker and panics.
    scanned: usize,
    marker_seen: bool,
    /// Stop at the marker once (to read the instruction count there).
    stop_at_marker: bool,
    deadline: Instant,
    /// When to hand control back to [`boot`] to check virtual time.
    checkpoint: Instant,
    why: Option<String>,
    echo: bool,
}

/// How often [`boot`] checks virtual time against its limit.
const CHECKPOINT: Duration = Duration::from_millis(200);

impl Capture {
    fn scan(&mut self) {
        // Look a little behind the previous end, for a marker split across two writes.
        let from = self.scanned.saturating_sub(64);
        let text = String::from_utf8_lossy(&self.log[from..]);
        if !self.marker_seen && text.contains(MARKER) {
            self.marker_seen = true;
            self.stop_at_marker = true;
        }
        if self.why.is_none() && text.contains("end Kernel panic") {
            self.why = Some("kernel panic".into());
        }
        self.scanned = self.log.len();
    }
}

impl Host for Capture {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        if port == 0 {
            if self.echo {
                use std::io::Write;
                let _ = std::io::stderr().write_all(bytes);
            }
            self.log.extend_from_slice(bytes);
            self.scan();
        }
    }
    fn debugcon_out(&mut self, _: &[u8]) {}
    fn post_code(&mut self, _: u8) {}
    fn serial_in(&mut self, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn stop_requested(&mut self) -> bool {
        if self.why.is_none() && Instant::now() >= self.deadline {
            self.why = Some("timeout".into());
        }
        let now = Instant::now();
        let checkpoint = now >= self.checkpoint;
        if checkpoint {
            self.checkpoint = now + CHECKPOINT;
        }
        self.why.is_some() || std::mem::take(&mut self.stop_at_marker) || checkpoint
    }
}

/// Boots `kernel` with `initrd` and [`CMDLINE`], COM1 captured (and copied to stderr with
/// `echo`), until the guest powers off, a limit is reached, or the kernel panics.
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    decompress: KernelDecompress,
    limits: Limits,
    echo: bool,
) -> Result<BootRun, Error> {
    let started = Instant::now();
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::file(p, format!("cannot read: {e}")));
    let mut m = Machine::new(MachineConfig {
        memory: MEMORY,
        rtc_start: RTC_START,
        max_instructions: Some(limits.max_instructions),
        ..MachineConfig::default()
    })?;
    let opts = BootOptions {
        cmdline: CMDLINE.into(),
        initrd: Some((initrd.to_path_buf(), read(initrd)?)),
        kernel_decompress: decompress,
        ..BootOptions::default()
    };
    m.boot(kernel, &read(kernel)?, &opts)?;
    let mut host = Capture {
        log: Vec::new(),
        scanned: 0,
        marker_seen: false,
        stop_at_marker: false,
        deadline: started + limits.timeout,
        checkpoint: Instant::now() + CHECKPOINT,
        why: None,
        echo,
    };
    let moment = |m: &Machine| Moment {
        wall: started.elapsed(),
        instructions: m.cpu.icount,
        virtual_ns: m.now(),
    };
    let mut marker = None;
    let exit = loop {
        let exit = m.run(&mut host);
        if exit != Exit::Stopped || host.why.is_some() {
            break exit;
        }
        // Stopped at the marker or at a checkpoint: note the moment, check, go on.
        if host.marker_seen && marker.is_none() {
            marker = Some(moment(&m));
        }
        if m.now() > limits.max_virtual.as_nanos() as u64 {
            host.why = Some(format!(
                "virtual time limit ({} s)",
                limits.max_virtual.as_secs()
            ));
            break exit;
        }
    };
    Ok(BootRun {
        log: String::from_utf8_lossy(&host.log).into_owned(),
        exit,
        marker,
        end: moment(&m),
        stopped_because: host.why,
    })
}

/// Lines of a kernel log that show a problem: `BUG`, `WARNING`, `Oops`, `panic`, `Unknown`
/// anything, an unhandled or unchecked MSR access, `spurious` interrupts, or an unstable
/// clocksource.
pub fn problem_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            ["BUG", "WARNING", "Oops", "panic", "Unknown", "spurious"]
                .iter()
                .any(|w| l.contains(w))
                || ["unknown", "unhandled", "unchecked"]
                    .iter()
                    .any(|w| l.contains(w) && l.contains("MSR"))
                || (l.contains("clocksource") && l.contains("unstable"))
        })
        .collect()
}

/// `vx86 bench linux`: boots the x86-64 guest (the kernel unpacked on the host) and prints
/// the wall time to the init marker and to power-off with the guest instruction counts;
/// where `qemu-system-x86_64` is installed, boots the same kernel and initramfs under QEMU's
/// TCG and prints its times too, measured the same way.
pub fn bench(repeat: u32) -> Result<u8, Error> {
    let (kernel, initrd) =
        guest_files(Arch::X86_64).map_err(|e| Error::option("bench linux", e))?;
    println!("kernel {}  initrd {}", kernel.display(), initrd.display());
    let mut best: Option<BootRun> = None;
    for _ in 0..repeat.max(1) {
        let run = boot(
            &kernel,
            &initrd,
            KernelDecompress::Host,
            Limits::default(),
            false,
        )?;
        if run.exit != Exit::PowerOff || run.marker.is_none() {
            return Err(Error::option(
                "bench linux",
                format!(
                    "the guest did not reach power-off through /init ({}; {}); its log ends:\n{}",
                    run.exit.describe(),
                    run.stopped_because.as_deref().unwrap_or("no early stop"),
                    tail(&run.log, 20)
                ),
            ));
        }
        if best.as_ref().is_none_or(|b| run.end.wall < b.end.wall) {
            best = Some(run);
        }
    }
    let run = best.expect("at least one run");
    let marker = run.marker.expect("checked above");
    let mips = |m: &Moment| m.instructions as f64 / m.wall.as_secs_f64().max(1e-9) / 1e6;
    println!(
        "vx86  /init marker {:>7.2} s  {:>14} instructions  {:>7.1} MIPS  {:>7.2} s virtual",
        marker.wall.as_secs_f64(),
        marker.instructions,
        mips(&marker),
        marker.virtual_ns as f64 / 1e9
    );
    println!(
        "vx86  power-off    {:>7.2} s  {:>14} instructions  {:>7.1} MIPS  {:>7.2} s virtual",
        run.end.wall.as_secs_f64(),
        run.end.instructions,
        mips(&run.end),
        run.end.virtual_ns as f64 / 1e9
    );
    match qemu_times(&kernel, &initrd) {
        Ok(Some((to_init, to_off))) => {
            println!("qemu  /init marker {:>7.2} s  (TCG)", to_init.as_secs_f64());
            match to_off {
                Some(t) => println!("qemu  power-off    {:>7.2} s  (TCG)", t.as_secs_f64()),
                None => println!("qemu  power-off    did not happen within the time limit"),
            }
        }
        Ok(None) => println!("qemu  (qemu-system-x86_64 not found: no comparison)"),
        Err(e) => println!("qemu  failed: {e}"),
    }
    Ok(0)
}

/// The last `n` lines of `log`.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Boots the guest under `qemu-system-x86_64` with TCG and returns the wall time to the
/// marker and to its exit after power-off; `None` when QEMU is not installed.
fn qemu_times(
    kernel: &Path,
    initrd: &Path,
) -> Result<Option<(Duration, Option<Duration>)>, String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg",
        "-M",
        "pc",
        "-m",
        "128M",
        "-nographic",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", CMDLINE])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot start qemu-system-x86_64: {e}")),
    };
    let mut out = child.stdout.take().expect("piped");
    let mut log = Vec::new();
    let mut buf = [0u8; 4096];
    let mut to_init = None;
    let limit = Duration::from_secs(300);
    // QEMU exits after the guest powers off (-no-reboot): read until EOF.
    loop {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.extend_from_slice(&buf[..n]);
                if to_init.is_none()
                    && String::from_utf8_lossy(&log[log.len().saturating_sub(n + 64)..])
                        .contains(MARKER)
                {
                    to_init = Some(started.elapsed());
                }
            }
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let to_off = (status.success() && started.elapsed() <= limit).then(|| started.elapsed());
    match to_init {
        Some(t) => Ok(Some((t, to_off))),
        None => Err(format!(
            "QEMU never printed the marker; its output ends:\n{}",
            tail(&String::from_utf8_lossy(&log), 10)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_lines_catch_what_a_healthy_boot_never_prints() {
        let log = "[    0.1] ok line\n\
                   [    0.2] WARNING: CPU: 0 PID: 1 at foo\n\
                   [    0.3] unchecked MSR access error: RDMSR from 0xe7\n\
                   [    0.4] clocksource: timekeeping watchdog: Marking clocksource 'tsc' as unstable\n\
                   [    0.5] Kernel panic - not syncing: VFS\n\
                   [    0.6] bugs\t\t: spectre_v1\n\
                   [    0.7] Unknown symbol in module\n";
        assert_eq!(
            problem_lines(log),
            vec![
                "[    0.2] WARNING: CPU: 0 PID: 1 at foo",
                "[    0.3] unchecked MSR access error: RDMSR from 0xe7",
                "[    0.4] clocksource: timekeeping watchdog: Marking clocksource 'tsc' as unstable",
                "[    0.5] Kernel panic - not syncing: VFS",
                "[    0.7] Unknown symbol in module",
            ]
        );
    }

    #[test]
    fn missing_guests_say_how_to_get_them() {
        std::env::set_var("VX86_GUESTS", "/nonexistent/guests");
        let err = guest_files(Arch::I386).unwrap_err();
        std::env::remove_var("VX86_GUESTS");
        assert!(
            err.contains("/nonexistent/guests/i386/vmlinuz is missing"),
            "{err}"
        );
        assert!(err.contains("scripts/fetch-linux-guests.sh"), "{err}");
    }
}
