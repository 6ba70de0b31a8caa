//! The `vx86` command line: parses options and calls the library; no logic of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use vx86::cpu::Model;

/// vx86: a whole-system x86 PC emulator with a pure-Rust interpreter CPU.
#[derive(Parser)]
#[command(name = "vx86", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boots a guest: a kernel given with --kernel (multiboot 1/2, ELF, Linux bzImage), or the
    /// built-in demo kernel when nothing is given.
    Run(RunArgs),
    /// Instruction conformance tests.
    #[command(subcommand)]
    Conformance(Conformance),
    /// Runs the guest workloads and prints guest MIPS for each; `vx86 bench linux` times a
    /// Linux boot to /init and to power-off (and QEMU's, where it is installed).
    Bench {
        /// Only workloads whose name contains this; `linux`: the Linux boot.
        filter: Option<String>,
        /// Repetitions of each workload.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
    /// Builds a busybox initramfs (cpio newc, gzip) with the given /init script.
    Initramfs {
        /// A statically linked busybox: it becomes /bin/busybox.
        #[arg(long)]
        busybox: PathBuf,
        /// The /init script.
        #[arg(long)]
        init: PathBuf,
        /// The archive to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum Conformance {
    /// Runs a folder of SingleStepTests MOO.gz files and prints a pass rate per file.
    Sst {
        /// The folder holding the *.MOO.gz files and metadata.json.
        dir: PathBuf,
        /// The CPU personality the vectors were recorded on.
        #[arg(long, value_enum, default_value_t = CpuArg::Modern)]
        cpu: CpuArg,
        /// Only files whose opcode (file name stem) starts with this, e.g. `D0` or `0F`.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Runs random user-mode instruction sequences natively and in vx86 and compares them.
    HostDiff {
        /// Number of sequences of each family.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// The instruction families: int, x87, sse or all.
        #[arg(long, default_value = "all")]
        family: String,
        /// Random seed (a fresh one is chosen and printed when absent).
        #[arg(long)]
        seed: Option<u64>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A disk image to boot (needs firmware: not supported yet; use --kernel).
    image: Option<PathBuf>,
    /// A kernel to boot directly, as QEMU's -kernel (multiboot 1/2, ELF32/64, bzImage).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// An initial ramdisk (Linux), or the first module (multiboot).
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// The kernel command line [default: console=ttyS0 for a Linux bzImage when the
    /// display is none, else empty].
    #[arg(long)]
    append: Option<String>,
    /// A multiboot module: FILE[,ARGS] (repeatable).
    #[arg(long = "module")]
    modules: Vec<String>,
    /// Guest RAM: a size like 512M or 2G (a bare number is MiB).
    #[arg(long, default_value = "128M", value_parser = vx86::launch::parse_size)]
    memory: u64,
    /// Where COM1 goes: stdio, none or file:PATH.
    #[arg(long, default_value = "stdio")]
    serial: vx86::host::console::Sink,
    /// Where the 0xE9 debug console goes: stdio, none or file:PATH.
    #[arg(long, default_value = "stdio")]
    debugcon: vx86::host::console::Sink,
    /// The display: none, or terminal (the VGA text screen drawn in the terminal).
    #[arg(long, default_value = "none")]
    display: DisplayArg,
    /// Stop after this many guest instructions (exit status 3).
    #[arg(long)]
    max_instructions: Option<u64>,
    /// Stop after this many seconds of host time (exit status 3).
    #[arg(long)]
    timeout: Option<f64>,
    /// Pace virtual time to the host clock (for interactive use).
    #[arg(long)]
    realtime: bool,
    /// The RTC's start time: seconds since 1970 or YYYY-MM-DDTHH:MM:SS (UTC); default now.
    #[arg(long, value_parser = vx86::launch::parse_rtc)]
    rtc: Option<u64>,
    /// Print the POST codes the guest writes to port 0x80.
    #[arg(long)]
    trace_post: bool,
    /// Print one line of statistics on stderr at exit.
    #[arg(long)]
    stats: bool,
    /// Exit when the guest resets the machine instead of rebooting it.
    #[arg(long)]
    no_reboot: bool,
    /// Who unpacks a Linux bzImage's compressed kernel: host (vx86, before the guest starts;
    /// the kernel proper is entered directly) or guest (the kernel's own decompressor).
    #[arg(long, value_enum, default_value_t = DecompressArg::Host)]
    kernel_decompress: DecompressArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum DecompressArg {
    /// vx86 unpacks the kernel on the host (fast).
    Host,
    /// The kernel's own decompressor runs in the guest.
    Guest,
}

#[derive(Clone, Copy, ValueEnum)]
enum DisplayArg {
    /// No display.
    None,
    /// The VGA text screen in the terminal.
    Terminal,
}

#[derive(Clone, Copy, ValueEnum)]
enum CpuArg {
    /// Intel 8086.
    #[value(name = "8086")]
    I8086,
    /// Intel 80286.
    #[value(name = "286")]
    I286,
    /// The default x86-64 model.
    Modern,
}

/// Rewrites QEMU's single-dash spellings (`-kernel K`, `-m 512`, `-nographic`, …) into
/// this CLI's, so an existing `qemu-system-x86_64 …` line works with the program name
/// swapped. `run` is implied when the first argument is a QEMU option.
fn qemu_args(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut iter = args.into_iter();
    out.extend(iter.next());
    let rest: Vec<String> = iter.collect();
    if rest
        .first()
        .is_some_and(|a| a.starts_with('-') && !a.starts_with("--") && a.len() > 2)
    {
        out.push("run".into());
    }
    for a in rest {
        let mapped = match a.as_str() {
            "-kernel" | "-initrd" | "-append" | "-serial" | "-debugcon" | "-display" => {
                format!("-{a}")
            }
            "-m" => "--memory".into(),
            "-nographic" => {
                out.push("--display".into());
                "none".into()
            }
            "-no-shutdown" => continue,
            _ => a,
        };
        out.push(mapped);
    }
    out
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(qemu_args(std::env::args().collect())) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run(a) => vx86::launch::run(&vx86::launch::RunOptions {
            image: a.image,
            kernel: a.kernel,
            initrd: a.initrd,
            append: a.append,
            modules: a.modules,
            memory: a.memory,
            serial: a.serial,
            debugcon: a.debugcon,
            display: matches!(a.display, DisplayArg::Terminal),
            max_instructions: a.max_instructions,
            timeout: a.timeout,
            realtime: a.realtime,
            rtc: a.rtc,
            trace_post: a.trace_post,
            stats: a.stats,
            no_reboot: a.no_reboot,
            kernel_decompress: match a.kernel_decompress {
                DecompressArg::Host => vx86::machine::boot::KernelDecompress::Host,
                DecompressArg::Guest => vx86::machine::boot::KernelDecompress::Guest,
            },
        }),
        Command::Conformance(Conformance::Sst { dir, cpu, filter }) => {
            let model = match cpu {
                CpuArg::I8086 => Model::I8086,
                CpuArg::I286 => Model::I80286,
                CpuArg::Modern => Model::Modern,
            };
            vx86::conformance::sst::main(&dir, model, filter.as_deref())
        }
        Command::Conformance(Conformance::HostDiff {
            count,
            family,
            seed,
        }) => match vx86::conformance::hostdiff::Family::parse(&family) {
            Some(families) => vx86::conformance::hostdiff::main(count, seed, &families),
            None => Err(vx86::Error::Host(format!(
                "unknown host-diff family {family:?} (int, x87, sse or all)"
            ))),
        },
        Command::Bench { filter, repeat } if filter.as_deref() == Some("linux") => {
            vx86::linux_guest::bench(repeat)
        }
        Command::Bench { filter, repeat } => bench(filter.as_deref(), repeat),
        Command::Initramfs {
            busybox,
            init,
            output,
        } => vx86::initramfs::main(&busybox, &init, &output),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vx86: {e}");
            ExitCode::from(2)
        }
    }
}

/// `vx86 bench`: guest MIPS per workload (best of `repeat` runs).
fn bench(filter: Option<&str>, repeat: u32) -> Result<u8, vx86::Error> {
    for w in vx86::workloads::all() {
        if filter.is_some_and(|f| !w.name.contains(f)) {
            continue;
        }
        let mut cpu = w.machine();
        let mut best = f64::MAX;
        for _ in 0..repeat.max(1) {
            let t = std::time::Instant::now();
            let n = w.run(&mut cpu);
            best = best.min(t.elapsed().as_secs_f64());
            if n != Some(w.instructions) {
                return Err(vx86::Error::option(
                    "bench",
                    format!(
                        "{} retired {n:?} instructions before its HLT, expected {}",
                        w.name, w.instructions
                    ),
                ));
            }
        }
        println!(
            "{:<12} {:>10} instructions  {:>8.1} MIPS",
            w.name,
            w.instructions,
            w.instructions as f64 / best / 1e6
        );
    }
    Ok(0)
}
