//! Guest MIPS for small workloads in 32- and 64-bit mode, reported as criterion throughput
//! (elements = guest instructions retired).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vx86::cpu::{reg, Cpu, Model, OpenBus};
use vx86::mem::PhysMem;

/// A workload: its code, where it runs, and how many instructions one iteration retires.
struct Workload {
    name: &'static str,
    code: Vec<u8>,
    long: bool,
    instructions: u64,
}

fn machine(w: &Workload) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(128 << 20).unwrap());
    if w.long {
        cpu.enter_long_mode(0x1000, 0x10000, 4);
    } else {
        cpu.enter_protected_flat(0x1000);
    }
    cpu.mem.write_bytes(0x100000, &w.code).unwrap();
    cpu
}

/// Integer ALU loop: `n` iterations of 6 instructions.
fn alu_loop(long: bool, n: u32) -> Workload {
    let mut c = vec![0xB9];
    c.extend_from_slice(&n.to_le_bytes()); // mov ecx, n
    c.extend_from_slice(&[0x31, 0xC0]); // xor eax, eax
    c.extend_from_slice(&[0x01, 0xC8]); // l: add eax, ecx
    c.extend_from_slice(&[0x31, 0xC2]); // xor edx, eax
    c.extend_from_slice(&[0x8D, 0x1C, 0x10]); // lea ebx, [eax+edx]
    c.extend_from_slice(&[0x29, 0xDA]); // sub edx, ebx
    c.extend_from_slice(&[0xFF, 0xC9]); // dec ecx
    c.extend_from_slice(&[0x75, 0xF3]); // jnz l
    c.extend_from_slice(&[0xF4]); // hlt
    Workload { name: if long { "alu64" } else { "alu32" }, code: c, long, instructions: 2 + 6 * n as u64 }
}

/// One REP MOVS (or REP STOS with `fill`) over `bytes` bytes in `width`-byte (1, 4, 8) elements, from
/// 4 MiB to 8 MiB (the two buffers share TLB slots): 3 setup instructions, then one per
/// element, as each iteration retires as an instruction.
fn rep_string(name: &'static str, long: bool, fill: bool, width: u32, bytes: u32) -> Workload {
    let n = bytes / width;
    let mut c = Vec::new();
    if fill {
        c.push(0xB8);
        c.extend_from_slice(&0x0403_0201u32.to_le_bytes()); // mov eax, 0x04030201
    } else {
        c.push(0xBE);
        c.extend_from_slice(&0x40_0000u32.to_le_bytes()); // mov esi, 4 MiB
    }
    c.push(0xBF);
    c.extend_from_slice(&0x80_0000u32.to_le_bytes()); // mov edi, 8 MiB
    c.push(0xB9);
    c.extend_from_slice(&n.to_le_bytes()); // mov ecx, n
    c.push(0xF3); // rep
    if width == 8 {
        c.push(0x48); // REX.W
    }
    let op = if fill { 0xAA } else { 0xA4 };
    c.push(if width == 1 { op } else { op + 1 }); // movs/stos
    c.push(0xF4); // hlt
    Workload { name, code: c, long, instructions: 3 + n as u64 }
}

fn bench(c: &mut Criterion) {
    const MB4: u32 = 4 << 20;
    let workloads = [
        alu_loop(false, 1_000_000),
        alu_loop(true, 1_000_000),
        rep_string("rep_movsb32", false, false, 1, MB4),
        rep_string("rep_movsd32", false, false, 4, MB4),
        rep_string("rep_stosd32", false, true, 4, MB4),
        rep_string("rep_movsq64", true, false, 8, MB4),
        rep_string("rep_stosq64", true, true, 8, MB4),
    ];
    let mut g = c.benchmark_group("cpu");
    g.sample_size(10);
    for w in &workloads {
        g.throughput(Throughput::Elements(w.instructions));
        let mut cpu = machine(w);
        g.bench_function(w.name, |b| {
            b.iter(|| {
                cpu.set_rip(0x100000);
                cpu.gpr[reg::RSP as usize] = 0x80000;
                cpu.halted = false;
                let start = cpu.icount;
                cpu.run(&mut OpenBus, w.instructions);
                assert_eq!(cpu.icount - start, w.instructions, "{}", w.name);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
