//! Differential testing against the host CPU: random sequences of user-mode integer
//! instructions run natively (in a forked child, on x86-64 Linux hosts) and in vx86 (a 64-bit
//! `Cpu` at CPL 3), and the registers, flags, scratch memory and exceptions are compared.
//!
//! Both sides see the same linear addresses: the host maps a small region at a fixed address
//! (code page, scratch buffer, unmapped guard page, context page) and vx86 maps the same
//! linear pages with its own page tables, so pointers held in registers mean the same thing.
//!
//! - [`gen`]: the sequence generator (iced-x86's encoder over every general-purpose form).
//! - [`native`]: the host runner (fork, trampoline, signal recovery); x86-64 Linux only.
//! - [`emu`]: the vx86 runner (long mode, CPL 3, an IDT whose handlers tell the vector).
//! - [`compare`]: the comparison and the mismatch report.

pub mod compare;
pub mod emu;
pub mod gen;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub mod native;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use iced_x86::{Instruction, Mnemonic};

use crate::Error;

/// Bytes of the scratch buffer that memory operands, string instructions and the stack use:
/// two pages, so that accesses also straddle a page boundary without faulting.
pub const BUF_LEN: usize = 8192;
/// The most bytes one sequence may take.
pub const MAX_CODE: usize = 64;
/// Offset of the sequence inside the code page (the host's prologue sits just before it).
pub const SEQ_OFFSET: u64 = 0x200;
/// Offset of the scratch buffer page in the region.
pub const BUF_OFFSET: u64 = 0x1000;
/// Offset of the unmapped guard page that follows the buffer.
pub const GUARD_OFFSET: u64 = 0x3000;
/// Offset of the host's context page (never mapped in vx86).
pub const CTX_OFFSET: u64 = 0x4000;
/// Bytes of the whole region.
pub const REGION_LEN: u64 = 0x5000;
/// The GS base on both sides (FS holds the host's thread pointer and is never used).
pub const GS_BASE: u64 = 0x1_0000;
/// Sequences per batch (one forked host child runs a batch).
pub const BATCH: usize = 256;
/// Mismatch reports printed in full at most (`VX86_HOSTDIFF_SHOW` overrides it).
const SHOW: usize = 25;

/// How many mismatch reports to print.
fn show() -> usize {
    std::env::var("VX86_HOSTDIFF_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SHOW)
}

/// Where the test region lies: the same linear addresses on the host and in vx86.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Linear address of the region (page aligned, below 2 GiB so `[disp32]` reaches it).
    pub base: u64,
}

impl Layout {
    /// Where the sequence starts.
    pub fn seq(&self) -> u64 {
        self.base + SEQ_OFFSET
    }

    /// The scratch buffer.
    pub fn buf(&self) -> u64 {
        self.base + BUF_OFFSET
    }

    /// The unmapped guard page after the buffer.
    pub fn guard(&self) -> u64 {
        self.base + GUARD_OFFSET
    }

    /// The host's context page.
    pub fn ctx(&self) -> u64 {
        self.base + CTX_OFFSET
    }
}

/// One generated test: a sequence with its inputs.
#[derive(Clone, Debug)]
pub struct Case {
    /// The case number (with the seed, it regenerates the case).
    pub index: u64,
    /// The machine code of the sequence, placed at [`Layout::seq`].
    pub code: Vec<u8>,
    /// The sequence decoded (IPs are linear addresses).
    pub insns: Vec<Instruction>,
    /// RAX…R15 on entry.
    pub regs: [u64; 16],
    /// RFLAGS on entry.
    pub rflags: u64,
    /// The scratch buffer on entry.
    pub mem: Box<[u8; BUF_LEN]>,
    /// RFLAGS bits left undefined before instruction `k` (`insns.len() + 1` entries: the last
    /// one applies after the whole sequence).
    pub undefined: Vec<u64>,
    /// Register bits the vendors define differently, per position as `undefined` (bit n of
    /// entry r: bit n of register r); they are not compared.
    pub vendor_bits: Vec<[u64; 16]>,
}

/// An exception that stopped the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exc {
    /// The vector (`None` if unknown).
    pub vector: Option<u8>,
    /// The error code (0 where the vector has none).
    pub code: u32,
    /// CR2 for #PF.
    pub addr: u64,
    /// RIP saved by the exception: the faulting instruction (or the next one for traps).
    pub rip: u64,
    /// Whether it was delivered (vx86 may instead shut down while delivering it; the
    /// comparison then uses the fault the instruction raised).
    pub delivered: bool,
}

/// How a sequence ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// It ran to its end.
    Completed,
    /// An exception stopped it; the registers are those the exception saved.
    Exception(Exc),
    /// The runner itself failed (the host child died, vx86 did not reach the end).
    Failed(String),
}

/// The state after a sequence ran.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// RAX…R15.
    pub regs: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    /// The scratch buffer.
    pub mem: Box<[u8; BUF_LEN]>,
    /// How it ended.
    pub event: Event,
}

impl Outcome {
    /// An outcome for a runner failure: the inputs unchanged and the reason.
    pub fn failed(case: &Case, why: String) -> Outcome {
        Outcome {
            regs: case.regs,
            rflags: case.rflags,
            mem: case.mem.clone(),
            event: Event::Failed(why),
        }
    }
}

/// The totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sequences whose results matched.
    pub passed: u64,
    /// Sequences whose results differed (or could not be run).
    pub failed: u64,
}

/// Whether this host can run sequences natively (x86-64 Linux).
pub fn supported() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
}

/// Runs `count` random sequences natively and in vx86; prints the seed first and
/// `N passed, M failed` last; returns the exit status (0 iff nothing failed).
pub fn main(count: u64, seed: Option<u64>) -> Result<u8, Error> {
    if !supported() {
        println!("host-diff: unsupported on this host (it needs an x86-64 Linux host)");
        return Err(Error::Host(
            "host-diff runs only on x86-64 Linux hosts".into(),
        ));
    }
    let seed = seed.unwrap_or_else(time_seed);
    let summary = run(count, seed)?;
    Ok(if summary.failed == 0 { 0 } else { 1 })
}

/// A fresh seed from the clock and the process id.
fn time_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    gen::mix(t ^ (std::process::id() as u64) << 32)
}

/// Per-mnemonic counts: (sequences containing it, failed ones among them).
type Tally = HashMap<Mnemonic, (u64, u64)>;

/// What one worker thread found.
#[derive(Default)]
struct WorkerResult {
    summary: Summary,
    /// The first mismatch reports, keyed by (whether vx86 lacks one of the instructions,
    /// case index): failures of implemented instructions come first.
    reports: Vec<((bool, u64), String)>,
    /// Failures in sequences with an instruction vx86 does not implement.
    unimplemented: u64,
    /// Exceptions vx86 raised but shut down delivering.
    undelivered: u64,
    tally: Tally,
}

/// Runs `count` sequences from `seed` on all cores and prints the seed, sparse progress, the
/// first mismatch reports, a per-mnemonic failure table and the closing
/// `N passed, M failed` line. Fails on hosts other than x86-64 Linux.
pub fn run(count: u64, seed: u64) -> Result<Summary, Error> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        run_native(count, seed)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (count, seed);
        Err(Error::Host(
            "host-diff runs only on x86-64 Linux hosts".into(),
        ))
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn run_native(count: u64, seed: u64) -> Result<Summary, Error> {
    let region = native::region()?;
    let layout = region.layout;
    let generator = gen::Generator::new(layout, native::host_features());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = threads.min(count.div_ceil(BATCH as u64).max(1) as usize);
    println!(
        "host-diff: seed {seed}, {count} sequences, {threads} threads, region at {:#x}",
        layout.base
    );
    let start = std::time::Instant::now();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let print = Mutex::new(());
    let show = show();
    let results: Vec<Result<WorkerResult, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut host = native::Runner::new(region)?;
                    let mut emu = emu::Emu::new(layout)?;
                    let mut res = WorkerResult::default();
                    loop {
                        let first = next.fetch_add(BATCH as u64, Ordering::Relaxed);
                        if first >= count {
                            break;
                        }
                        let last = (first + BATCH as u64).min(count);
                        let cases: Vec<Case> =
                            (first..last).map(|i| generator.case(seed, i)).collect();
                        let natives = host.run(&cases)?;
                        let mut batch_failed = 0;
                        for (case, native) in cases.iter().zip(&natives) {
                            let mine = emu.run(case);
                            if let Event::Exception(e) = &mine.event {
                                res.undelivered += !e.delivered as u64;
                            }
                            let report = compare::diff(case, native, &mine);
                            tally(&mut res.tally, case, report.is_some());
                            match report {
                                None => res.summary.passed += 1,
                                Some(r) => {
                                    res.summary.failed += 1;
                                    batch_failed += 1;
                                    let lacking = unimplemented(case);
                                    res.unimplemented += !lacking.is_empty() as u64;
                                    let mut r = r;
                                    if !lacking.is_empty() {
                                        r.push_str(&format!(
                                            "  note: vx86 does not implement {}\n",
                                            lacking.join(", ")
                                        ));
                                    }
                                    res.reports.push(((!lacking.is_empty(), case.index), r));
                                    if res.reports.len() > 4 * show + 64 {
                                        res.reports.sort_by_key(|r| r.0);
                                        res.reports.truncate(show);
                                    }
                                }
                            }
                        }
                        let f = failed.fetch_add(batch_failed, Ordering::Relaxed) + batch_failed;
                        let n = last - first;
                        let d = done.fetch_add(n, Ordering::Relaxed) + n;
                        if (d - n) * 10 / count != d * 10 / count {
                            let _guard = print.lock();
                            println!(
                                "host-diff: {d}/{count} sequences, {f} failed, {:.1} s",
                                start.elapsed().as_secs_f64()
                            );
                            let _ = std::io::stdout().flush();
                        }
                    }
                    Ok(res)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Host("a host-diff worker panicked".into())))
            })
            .collect()
    });
    let mut total = WorkerResult::default();
    for r in results {
        let r = r?;
        total.summary.passed += r.summary.passed;
        total.summary.failed += r.summary.failed;
        total.unimplemented += r.unimplemented;
        total.undelivered += r.undelivered;
        total.reports.extend(r.reports);
        for (m, (n, f)) in r.tally {
            let e = total.tally.entry(m).or_default();
            e.0 += n;
            e.1 += f;
        }
    }
    total.reports.sort_by_key(|r| r.0);
    for (_, r) in total.reports.iter().take(show) {
        println!("{r}");
    }
    if total.summary.failed as usize > show {
        println!(
            "host-diff: {} more mismatches not shown (VX86_HOSTDIFF_SHOW=n shows n)",
            total.summary.failed as usize - show
        );
    }
    print_tally(&total.tally);
    if total.undelivered > 0 {
        println!(
            "host-diff: vx86 shut down delivering {} exceptions (compared as the faults raised)",
            total.undelivered
        );
    }
    if total.unimplemented > 0 {
        println!(
            "host-diff: {} of the failed sequences hold an instruction vx86 does not implement",
            total.unimplemented
        );
    }
    println!("host-diff: {:.1} s", start.elapsed().as_secs_f64());
    println!(
        "{} passed, {} failed",
        total.summary.passed, total.summary.failed
    );
    Ok(total.summary)
}

/// The instructions of `case` that vx86 lacks (they decode to the #UD it raises for
/// unimplemented instructions).
fn unimplemented(case: &Case) -> Vec<String> {
    case.insns
        .iter()
        .filter(|i| crate::cpu::decode::translate(i, 64, crate::cpu::Model::Modern).unimplemented)
        .map(compare::format_insn)
        .collect()
}

/// Counts the mnemonics of `case` (each once) as seen, and as failed when it failed.
fn tally(t: &mut Tally, case: &Case, failed: bool) {
    let mut seen: Vec<Mnemonic> = case.insns.iter().map(|i| i.mnemonic()).collect();
    seen.sort_by_key(|m| *m as u32);
    seen.dedup();
    for m in seen {
        let e = t.entry(m).or_default();
        e.0 += 1;
        e.1 += failed as u64;
    }
}

/// Prints the mnemonics that appear in failing sequences, worst failure rate first.
fn print_tally(t: &Tally) {
    let mut rows: Vec<(Mnemonic, u64, u64)> = t
        .iter()
        .filter(|(_, v)| v.1 > 0)
        .map(|(m, v)| (*m, v.0, v.1))
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| (b.2 * a.1).cmp(&(a.2 * b.1)).then(b.2.cmp(&a.2)));
    println!("host-diff: mnemonics in failing sequences (failed/seen):");
    for chunk in rows.chunks(6).take(10) {
        let line: Vec<String> = chunk
            .iter()
            .map(|(m, n, f)| format!("{m:?} {f}/{n}"))
            .collect();
        println!("  {}", line.join(", "));
    }
}
