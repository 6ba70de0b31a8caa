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
        /// Number of sequences.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Random seed (a fresh one is chosen and printed when absent).
        #[arg(long)]
        seed: Option<u64>,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Conformance(Conformance::Sst { dir, cpu, filter }) => {
            let model = match cpu {
                CpuArg::I8086 => Model::I8086,
                CpuArg::I286 => Model::I80286,
                CpuArg::Modern => Model::Modern,
            };
            vx86::conformance::sst::main(&dir, model, filter.as_deref())
        }
        Command::Conformance(Conformance::HostDiff { count, seed }) => {
            vx86::conformance::hostdiff::main(count, seed)
        }
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
            if n != w.instructions {
                return Err(vx86::Error::option(
                    "bench",
                    format!(
                        "{} retired {n} instructions, expected {}",
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
