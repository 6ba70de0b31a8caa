//! Guest MIPS for the workloads in `vx86::workloads`, reported as criterion throughput
//! (elements = guest instructions retired, so Melem/s reads as MIPS), followed by a plain
//! `name  N MIPS` summary line per workload taken from criterion's own measurements.

use std::cell::RefCell;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

thread_local! {
    /// (workload, instructions, fastest time per iteration seen).
    static BEST: RefCell<Vec<(&'static str, u64, Duration)>> = const { RefCell::new(Vec::new()) };
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu");
    g.sample_size(10);
    for w in vx86::workloads::all() {
        g.throughput(Throughput::Elements(w.instructions));
        let mut cpu = w.machine();
        let mut best = Duration::MAX;
        g.bench_function(w.name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = std::time::Instant::now();
                    let n = w.run(&mut cpu);
                    let e = t.elapsed();
                    assert_eq!(n, Some(w.instructions), "{}", w.name);
                    best = best.min(e);
                    total += e;
                }
                total
            })
        });
        BEST.with(|b| b.borrow_mut().push((w.name, w.instructions, best)));
    }
    g.finish();
    println!("\nguest MIPS (best iteration):");
    BEST.with(|b| {
        for (name, n, t) in b.borrow().iter() {
            println!("{name:<14} {:>9.1} MIPS", *n as f64 / t.as_secs_f64() / 1e6);
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
