//! `vx86 run`: building a machine from command-line options, loading what it boots, running
//! it on the terminal, and turning the result into an exit status.

use std::path::PathBuf;
use std::time::Instant;

use crate::host::console::{Console, Sink};
use crate::machine::boot::{BootOptions, KernelDecompress};
use crate::machine::{Exit, Machine, MachineConfig};
use crate::Error;

/// The demo kernel `vx86 run` boots when given nothing to boot (built from
/// `test-roms/src/demo.rs`).
pub const DEMO_KERNEL: &[u8] = include_bytes!("../test-roms/demo.elf");
/// The name the demo kernel goes by in messages.
const DEMO_NAME: &str = "(built-in demo kernel)";

/// Reads a file the user named, or says which one could not be read and why.
fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read the {what}: {e}")))
}

/// The command line for a kernel booted without `--append`: a Linux kernel (a bzImage, told
/// by its setup header's "HdrS") gets `console=ttyS0` when no display shows the VGA screen,
/// so that its console and shell reach the terminal; anything else gets an empty line.
/// QEMU leaves this to the user; without it a Linux boot under `--display none` is silent.
pub fn default_cmdline(kernel: &[u8], display: bool) -> &'static str {
    let linux = kernel.get(0x202..0x206) == Some(b"HdrS".as_slice());
    if linux && !display {
        "console=ttyS0"
    } else {
        ""
    }
}

/// What to boot and how, as `vx86 run` takes it.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A disk image to boot (not supported by this board yet).
    pub image: Option<PathBuf>,
    /// A kernel to boot directly (multiboot 1/2, ELF, Linux bzImage).
    pub kernel: Option<PathBuf>,
    /// An initial ramdisk for Linux.
    pub initrd: Option<PathBuf>,
    /// The kernel command line; `None`: [`default_cmdline`].
    pub append: Option<String>,
    /// Multiboot modules, each `FILE[,ARGS]`.
    pub modules: Vec<String>,
    /// Guest RAM in bytes.
    pub memory: u64,
    /// Where COM1 goes.
    pub serial: Sink,
    /// Where the 0xE9 console goes.
    pub debugcon: Sink,
    /// Draw the VGA text screen on the terminal.
    pub display: bool,
    /// Stop after this many guest instructions.
    pub max_instructions: Option<u64>,
    /// Stop after this many host seconds.
    pub timeout: Option<f64>,
    /// Pace virtual time to the host clock.
    pub realtime: bool,
    /// The RTC's start time in seconds since the epoch (default: the host's clock).
    pub rtc: Option<u64>,
    /// Print POST codes.
    pub trace_post: bool,
    /// Print one line of statistics on stderr at exit.
    pub stats: bool,
    /// End the run when the guest resets the machine, instead of rebooting it.
    pub no_reboot: bool,
    /// Who unpacks a bzImage's compressed kernel (`--kernel-decompress host|guest`).
    pub kernel_decompress: KernelDecompress,
}

/// Parses a memory size as QEMU does: a number with an optional K, M, G or T suffix (binary
/// units); a bare number means MiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "'{s}': unknown size suffix '{c}' (use K, M, G or T)"
                    ))
                }
            };
            (&s[..i], m)
        }
        _ => (s, 1 << 20),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 512M or 2G"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("'{s}' is out of range"))
}

/// Parses an RTC start time: seconds since the epoch, or `YYYY-MM-DDTHH:MM:SS` (UTC).
pub fn parse_rtc(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs);
    }
    let bad = || format!("'{s}' is not seconds since 1970 or YYYY-MM-DDTHH:MM:SS");
    let (date, time) = s
        .trim_end_matches('Z')
        .split_once(['T', ' '])
        .ok_or_else(bad)?;
    let d: Vec<u64> = date
        .split('-')
        .map(|x| x.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let t: Vec<u64> = time
        .split(':')
        .map(|x| x.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if d.len() != 3
        || t.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || t[0] > 23
        || t[1] > 59
        || t[2] > 60
        || !(1970..=9999).contains(&d[0])
    {
        return Err(bad());
    }
    // In range: 1970 onwards gives no negative day count, 9999 no overflow.
    let days = crate::dev::rtc::days_from_civil(d[0] as i64, d[1] as u32, d[2] as u32) as u64;
    Ok(days * 86400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Builds the machine, loads its guest, runs it, and returns the process exit status.
pub fn run(opts: &RunOptions) -> Result<u8, Error> {
    if let Some(image) = &opts.image {
        return Err(Error::file(
            image,
            "booting disk images needs firmware that this board does not have yet; use --kernel",
        ));
    }
    let rtc_start = match opts.rtc {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let config = MachineConfig {
        memory: opts.memory,
        rtc_start,
        max_instructions: opts.max_instructions,
        realtime: opts.realtime,
        trace_post: opts.trace_post,
    };
    let (kernel, bytes) = match &opts.kernel {
        Some(path) => (path.clone(), read(path, "kernel")?),
        None => (PathBuf::from(DEMO_NAME), DEMO_KERNEL.to_vec()),
    };
    let boot = BootOptions {
        cmdline: opts
            .append
            .clone()
            .unwrap_or_else(|| default_cmdline(&bytes, opts.display).to_string()),
        initrd: match &opts.initrd {
            Some(p) => Some((p.clone(), read(p, "initrd")?)),
            None => None,
        },
        modules: opts
            .modules
            .iter()
            .map(|m| {
                let (file, args) = m.split_once(',').unwrap_or((m, ""));
                let path = PathBuf::from(file);
                read(&path, "module").map(|b| (path, b, args.to_string()))
            })
            .collect::<Result<_, _>>()?,
        linux_64bit_entry: false,
        kernel_decompress: opts.kernel_decompress,
    };
    if opts.display && (opts.serial == Sink::Stdio || opts.debugcon == Sink::Stdio) {
        return Err(Error::option(
            "display",
            "the terminal display takes the terminal: send --serial and --debugcon to none or file:PATH",
        ));
    }
    let mut console = Console::new(&opts.serial, &opts.debugcon)?;
    if opts.display {
        console.show_screen();
    }
    if let Some(t) = opts.timeout {
        console.stop_after(t);
    }
    let started = Instant::now();
    let (mut instructions, mut virtual_ns) = (0u64, 0u64);
    let exit = loop {
        // A guest reset boots the same kernel on a fresh machine, as a PC's reset would
        // restart its firmware; `--no-reboot` makes it end the run instead, as in QEMU.
        let mut machine = Machine::new(config.clone())?;
        machine.boot(&kernel, &bytes, &boot)?;
        let exit = machine.run(&mut console);
        instructions += machine.cpu.icount;
        virtual_ns += machine.now();
        if exit != Exit::Reset || opts.no_reboot {
            break exit;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if opts.stats {
        eprintln!(
            "vx86: {instructions} instructions in {secs:.3} s ({:.1} MIPS), {:.6} s virtual, exit: {}",
            instructions as f64 / secs.max(1e-9) / 1e6,
            virtual_ns as f64 / 1e9,
            exit.describe()
        );
    }
    match exit {
        Exit::TripleFault | Exit::InstructionLimit => eprintln!("vx86: {}", exit.describe()),
        Exit::Stopped if console.timed_out() => {
            eprintln!("vx86: timeout after {:.1} s", opts.timeout.unwrap_or(0.0));
            return Ok(3);
        }
        _ => {}
    }
    Ok(exit.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_without_a_display_gets_a_serial_console_by_default() {
        let mut bz = vec![0u8; 0x400];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(default_cmdline(&bz, false), "console=ttyS0");
        // The VGA console is visible: Linux's own default (tty0) is right.
        assert_eq!(default_cmdline(&bz, true), "");
        // Multiboot and other kernels, and files too short to hold a setup header.
        assert_eq!(default_cmdline(&[0u8; 0x400], false), "");
        assert_eq!(default_cmdline(&[0u8; 16], false), "");
    }

    #[test]
    fn sizes_parse_like_qemu() {
        assert_eq!(parse_size("128"), Ok(128 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn rtc_times_parse_to_epoch_seconds() {
        assert_eq!(parse_rtc("0"), Ok(0));
        assert_eq!(parse_rtc("1970-01-02T00:00:00"), Ok(86400));
        assert_eq!(parse_rtc("2000-03-01T12:34:56Z"), Ok(951_914_096));
        assert!(parse_rtc("2000-13-01T00:00:00").is_err());
        assert!(parse_rtc("yesterday").is_err());
        // A year the u64 day count used to overflow on.
        assert!(parse_rtc("18446744073709551615-01-01T00:00:00").is_err());
        assert_eq!(parse_rtc("9999-12-31T23:59:59"), Ok(253_402_300_799));
    }
}
