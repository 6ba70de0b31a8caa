//! The run itself (x86-64 Linux only): worker threads generate batches, run them on the
//! host and in vx86, compare, and print progress, the first reports and the summary.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use iced_x86::Mnemonic;

use super::{compare, emu, gen, native, x87, Case, Family, Summary, BATCH};
use crate::Error;

/// Mismatch reports printed in full at most (`VX86_HOSTDIFF_SHOW` overrides it).
const SHOW: usize = 25;

/// How many mismatch reports to print.
fn show() -> usize {
    std::env::var("VX86_HOSTDIFF_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SHOW)
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
    /// Passing cases whose transcendental result differed in the last bit or C1.
    last_bit: u64,
    tally: Tally,
}

/// Runs `count` sequences of `family` from `seed`; see [`super::run`].
pub fn run(count: u64, seed: u64, family: Family) -> Result<Summary, Error> {
    let region = native::region()?;
    let layout = region.layout;
    let mut features = native::host_features();
    features.compat = native::compat_works(region)?;
    if !features.compat {
        println!("host-diff: this host does not run 32-bit code; compatibility-mode sequences are left out");
    }
    let generator = gen::Generator::new(layout, features);
    let x87_generator = x87::X87Gen::new(
        layout,
        features.compat,
        crate::cpu::cpuid::has(crate::cpu::cpuid::Feature::SSE3),
    );
    let sse_generator = gen::Generator::new(layout, features).sse();
    let make = |seed: u64, i: u64| match family {
        Family::X87 => x87_generator.case(seed, i),
        Family::Sse => sse_generator.case(seed, i),
        Family::Int => generator.case(seed, i),
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = threads.min(count.div_ceil(BATCH as u64).max(1) as usize);
    println!(
        "host-diff: family {}, seed {seed}, {count} sequences, {threads} threads, region at {:#x}",
        family.name(),
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
                        let cases: Vec<Case> = (first..last).map(|i| make(seed, i)).collect();
                        let natives = host.run(&cases)?;
                        let mut batch_failed = 0;
                        for (case, native) in cases.iter().zip(&natives) {
                            let mine = emu.run(case);
                            let report = compare::diff(case, native, &mine);
                            tally(&mut res.tally, case, report.is_some());
                            match report {
                                None => {
                                    res.summary.passed += 1;
                                    res.last_bit +=
                                        compare::within_last_bit(case, native, &mine) as u64;
                                }
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
        total.last_bit += r.last_bit;
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
    if total.unimplemented > 0 {
        println!(
            "host-diff: {} of the failed sequences hold an instruction vx86 does not implement",
            total.unimplemented
        );
    }
    if total.last_bit > 0 {
        println!(
            "host-diff: {} passing sequences end in a transcendental result that differs from \
             the host's in its last bit or in C1 (tolerated: within one ulp)",
            total.last_bit
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
        .filter(|i| {
            crate::cpu::decode::translate(i, case.bits, crate::cpu::Model::Modern).unimplemented
        })
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
