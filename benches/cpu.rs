//! Guest MIPS for the workloads in `vx86::workloads`, reported as criterion throughput
//! (elements = guest instructions retired).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu");
    g.sample_size(10);
    for w in vx86::workloads::all() {
        g.throughput(Throughput::Elements(w.instructions));
        let mut cpu = w.machine();
        g.bench_function(w.name, |b| {
            b.iter(|| {
                let n = w.run(&mut cpu);
                assert_eq!(n, w.instructions, "{}", w.name);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
