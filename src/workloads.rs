//! Guest workloads for measuring the interpreter: small programs with an exact instruction
//! count, shared by the criterion benches and `vx86 bench`.

use crate::cpu::{reg, Cpu, Model, OpenBus, RunExit};
use crate::mem::PhysMem;

/// Where workload code is loaded.
pub const CODE: u64 = 0x10_0000;

/// A guest workload.
pub struct Workload {
    /// Short name, e.g. `alu64`.
    pub name: &'static str,
    /// Machine code, loaded at [`CODE`].
    pub code: Vec<u8>,
    /// Runs in 64-bit mode (else flat 32-bit protected mode).
    pub long: bool,
    /// Maps [`DATA`]..[`DATA`] + 64 MiB with 4-KiB pages (else 2-MiB pages or no paging).
    pub small_pages: bool,
    /// Guest instructions one run retires before its final HLT.
    pub instructions: u64,
}

/// Where workloads keep their data.
pub const DATA: u64 = 0x0200_0000;
/// Bytes of data the paging workload walks through.
pub const DATA_SIZE: u64 = 64 << 20;
/// Where the 4-KiB page tables for [`DATA`] live.
const TABLES: u64 = 0x0080_0000;

impl Workload {
    /// A CPU with the workload loaded and its mode entered, ready for [`Workload::run`].
    pub fn machine(&self) -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(128 << 20).expect("guest RAM"));
        if self.long {
            cpu.enter_long_mode(0x1000, 0x10000, 4);
            if self.small_pages {
                map_small_pages_long(&mut cpu);
            }
        } else {
            cpu.enter_protected_flat(0x1000);
            if self.small_pages {
                map_small_pages_32(&mut cpu);
            }
        }
        cpu.mem
            .write_bytes(CODE, &self.code)
            .expect("code inside RAM");
        cpu
    }

    /// Runs the workload once from the start; returns the instructions retired before its
    /// final HLT, or `None` if it did not end at that HLT: a budget one past
    /// [`Workload::instructions`] lets a guest that runs long show itself too.
    pub fn run(&self, cpu: &mut Cpu) -> Option<u64> {
        cpu.set_rip(CODE);
        cpu.gpr[reg::RSP as usize] = 0x80000;
        cpu.halted = false;
        let start = cpu.icount;
        let exit = cpu.run(&mut OpenBus, self.instructions + 1);
        // HLT retires like any instruction.
        (exit == RunExit::Halted).then(|| cpu.icount - start - 1)
    }
}

fn put(cpu: &mut Cpu, addr: u64, v: u64, n: usize) {
    cpu.mem
        .write_bytes(addr, &v.to_le_bytes()[..n])
        .expect("page tables inside RAM");
}

/// Remaps the 64 MiB at [`DATA`] with 4-KiB pages in the identity map `enter_long_mode` made
/// (its page directory for the first GiB is at 0x12000).
fn map_small_pages_long(cpu: &mut Cpu) {
    let pd = 0x12000;
    for i in 0..DATA_SIZE / (2 << 20) {
        let pt = TABLES + i * 0x1000;
        let base = DATA + i * (2 << 20);
        for j in 0..512 {
            put(cpu, pt + j * 8, (base + j * 0x1000) | 0x7, 8);
        }
        put(cpu, pd + (base >> 21) * 8, pt | 0x7, 8);
    }
    cpu.flush_tlb_all();
}

/// 32-bit paging with 4-KiB pages identity-mapping the first 128 MiB.
fn map_small_pages_32(cpu: &mut Cpu) {
    let pd = TABLES;
    for i in 0..32 {
        let pt = TABLES + 0x1000 + i * 0x1000;
        for j in 0..1024 {
            put(cpu, pt + j * 4, ((i << 22) + (j << 12)) | 0x7, 4);
        }
        put(cpu, pd + i * 4, pt | 0x7, 4);
    }
    cpu.cr3 = pd;
    cpu.cr0 |= crate::cpu::Cr0::PG;
    cpu.update_mode();
    cpu.flush_tlb_all();
}

/// The inner loop of Linux's multi-precision multiply-and-subtract (`mpihelp_submul_1` in
/// lib/crypto/mpi, as Debian's 6.1 x86-64 kernel builds it: 32-bit half products with IMUL,
/// carries through CMP/SETB/ADC, one load and one store per limb): 38 instructions per limb
/// over `n` limbs (at most 4 Mi). The kernel's Diffie-Hellman self-tests spend half of its
/// boot to /init here.
pub fn mpi_submul(n: u32) -> Workload {
    let n = n.min(4 << 20);
    let mut c = vec![0xB9, 0x89, 0x67, 0x45, 0x23]; // mov ecx, 0x23456789 (the low limb half)
    c.extend_from_slice(&[0x41, 0xBA, 0x01, 0xEF, 0xCD, 0xAB]); // mov r10d, 0xABCDEF01
    c.extend_from_slice(&[0x41, 0x89, 0xC9]); // mov r9d, ecx
    c.push(0xB8); // mov eax, -n
    c.extend_from_slice(&n.wrapping_neg().to_le_bytes());
    c.extend_from_slice(&[0x48, 0x98]); // cdqe
    c.extend_from_slice(&[0x49, 0x89, 0xC0]); // mov r8, rax
    c.extend_from_slice(&[0x49, 0x89, 0xC4]); // mov r12, rax
    c.extend_from_slice(&[0x48, 0xBD, 0, 0, 0, 0, 1, 0, 0, 0]); // mov rbp, 1 << 32
    c.push(0xBB); // mov ebx, DATA (the multiplicand)
    c.extend_from_slice(&(DATA as u32).to_le_bytes());
    c.extend_from_slice(&[0x41, 0xBB]); // mov r11d, the result (apart from the multiplicand in the TLB)
    c.extend_from_slice(&((DATA + (32 << 20) + 0x5000) as u32).to_le_bytes());
    c.extend_from_slice(&[0x31, 0xF6]); // xor esi, esi
    c.extend_from_slice(&[0xEB, 0x03]); // jmp into the loop past its first instruction
    c.extend_from_slice(&[
        0x49, 0x63, 0xC0, 0x4C, 0x29, 0xE0, 0x48, 0x8B, 0x0C, 0xC3, 0x48, 0x8D, 0x3C, 0xC5, 0x00,
        0x00, 0x00, 0x00, 0x48, 0x89, 0xCA, 0x89, 0xC9, 0x48, 0xC1, 0xEA, 0x20, 0x48, 0x89, 0xC8,
        0x49, 0x0F, 0xAF, 0xC1, 0x49, 0x89, 0xD5, 0x4D, 0x0F, 0xAF, 0xE9, 0x49, 0x0F, 0xAF, 0xCA,
        0x49, 0x0F, 0xAF, 0xD2, 0x49, 0x89, 0xC6, 0x89, 0xC0, 0x49, 0xC1, 0xEE, 0x20, 0x4C, 0x01,
        0xE9, 0x4C, 0x01, 0xF1, 0x49, 0x89, 0xD6, 0x48, 0x01, 0xEA, 0x4C, 0x39, 0xE9, 0x49, 0x89,
        0xCD, 0x49, 0x0F, 0x43, 0xD6, 0x48, 0x01, 0xF0, 0x49, 0xC1, 0xE5, 0x20, 0x4C, 0x01, 0xE8,
        0x48, 0x39, 0xF0, 0x40, 0x0F, 0x92, 0xC6, 0x4C, 0x01, 0xDF, 0x48, 0xC1, 0xE9, 0x20, 0x4C,
        0x8B, 0x2F, 0x40, 0x0F, 0xB6, 0xF6, 0x49, 0x29, 0xC5, 0x48, 0x11, 0xCE, 0x4C, 0x89, 0x2F,
        0x48, 0x01, 0xD6, 0x41, 0x83, 0xC0, 0x01, 0x0F, 0x85, 0x7B, 0xFF, 0xFF, 0xFF,
    ]);
    c.push(0xF4); // hlt
    Workload {
        name: "mpi64",
        code: c,
        long: true,
        small_pages: false,
        instructions: 12 + 38 * n as u64 - 1,
    }
}

/// Integer ALU loop: `n` iterations of six instructions.
pub fn alu_loop(long: bool, n: u32) -> Workload {
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
    Workload {
        name: if long { "alu64" } else { "alu32" },
        code: c,
        long,
        small_pages: false,
        instructions: 2 + 6 * n as u64,
    }
}

/// Memory through 4-KiB pages: `rounds` passes over the 64 MiB at [`DATA`], one page after
/// another, each page read twice and written twice (eleven instructions per page).
pub fn paging(long: bool, rounds: u32) -> Workload {
    let pages = (DATA_SIZE / 4096) as u32;
    let mut c = vec![0xBF];
    c.extend_from_slice(&rounds.to_le_bytes()); // mov edi, rounds
    c.push(0xBE); // outer: mov esi, DATA
    c.extend_from_slice(&(DATA as u32).to_le_bytes());
    c.push(0xB9); // mov ecx, pages
    c.extend_from_slice(&pages.to_le_bytes());
    let inner = c.len();
    c.extend_from_slice(&[0x8B, 0x06]); // l: mov eax, [esi]
    c.extend_from_slice(&[0x8B, 0x96, 0x00, 0x08, 0, 0]); // mov edx, [esi+0x800]
    c.extend_from_slice(&[0x01, 0xD0]); // add eax, edx
    c.extend_from_slice(&[0x89, 0x46, 0x04]); // mov [esi+4], eax
    c.extend_from_slice(&[0x89, 0x96, 0x04, 0x08, 0, 0]); // mov [esi+0x804], edx
    c.extend_from_slice(&[0x31, 0xC2]); // xor edx, eax
    c.extend_from_slice(&[0x01, 0xD3]); // add ebx, edx
    c.extend_from_slice(&[0x81, 0xC6, 0x00, 0x10, 0, 0]); // add esi, 4096
    c.extend_from_slice(&[0x83, 0xE8, 0x01]); // sub eax, 1
    c.extend_from_slice(&[0xFF, 0xC9]); // dec ecx
    let back = inner as i64 - (c.len() as i64 + 2);
    c.extend_from_slice(&[0x75, back as i8 as u8]); // jnz l
    c.extend_from_slice(&[0xFF, 0xCF]); // dec edi
    let back = 5 - (c.len() as i64 + 6);
    c.extend_from_slice(&[0x0F, 0x85]); // jnz outer
    c.extend_from_slice(&(back as i32).to_le_bytes());
    c.push(0xF4); // hlt
    Workload {
        name: if long { "paging64" } else { "paging32" },
        code: c,
        long,
        small_pages: true,
        instructions: 1 + rounds as u64 * (2 + 11 * pages as u64 + 2),
    }
}

/// Calls and returns: `n` iterations of a loop that calls a leaf function through a
/// register and one that calls a function which calls another (eleven instructions).
pub fn calls(long: bool, n: u32) -> Workload {
    let mut c = vec![0xB9];
    c.extend_from_slice(&n.to_le_bytes()); // mov ecx, n
                                           // l: call f (E8 rel32); call g; dec ecx; jnz l; hlt
    let l = c.len();
    c.extend_from_slice(&[0xE8, 0, 0, 0, 0]);
    let call_f = c.len();
    c.extend_from_slice(&[0xE8, 0, 0, 0, 0]);
    let call_g = c.len();
    c.extend_from_slice(&[0xFF, 0xC9]); // dec ecx
    let back = l as i64 - (c.len() as i64 + 2);
    c.extend_from_slice(&[0x75, back as i8 as u8]); // jnz l
    c.push(0xF4);
    let f = c.len();
    c.extend_from_slice(&[0x01, 0xC8, 0xC3]); // f: add eax, ecx; ret
    let g = c.len();
    c.extend_from_slice(&[0xE8, 0, 0, 0, 0]); // g: call f
    let call_f2 = c.len();
    c.extend_from_slice(&[0x31, 0xC3, 0xC3]); // xor ebx, eax; ret
    let patch = |c: &mut Vec<u8>, end: usize, target: usize| {
        let rel = (target as i64 - end as i64) as i32;
        c[end - 4..end].copy_from_slice(&rel.to_le_bytes());
    };
    patch(&mut c, call_f, f);
    patch(&mut c, call_g, g);
    patch(&mut c, call_f2, f);
    Workload {
        name: if long { "calls64" } else { "calls32" },
        code: c,
        long,
        small_pages: false,
        instructions: 1 + 11 * n as u64,
    }
}

/// Data-dependent branches: a linear congruential generator whose bits pick the path
/// (ten to twelve instructions per iteration, as the bits say).
pub fn branchy(long: bool, n: u32) -> Workload {
    let mut c = vec![0xB9];
    c.extend_from_slice(&n.to_le_bytes()); // mov ecx, n
    c.extend_from_slice(&[0xB8, 0x01, 0, 0, 0]); // mov eax, 1
    let l = c.len();
    c.extend_from_slice(&[0x69, 0xC0, 0x6D, 0x4E, 0xC6, 0x41]); // imul eax, eax, 1103515245
    c.extend_from_slice(&[0x05, 0x39, 0x30, 0, 0]); // add eax, 12345
    c.extend_from_slice(&[0xA9, 0x00, 0x00, 0x01, 0x00]); // test eax, 0x10000
    c.extend_from_slice(&[0x74, 0x04]); // jz a
    c.extend_from_slice(&[0xFF, 0xC3]); // inc ebx
    c.extend_from_slice(&[0xEB, 0x02]); // jmp b
    c.extend_from_slice(&[0xFF, 0xCB]); // a: dec ebx ; (then falls to b)
    c.extend_from_slice(&[0xA9, 0x00, 0x00, 0x02, 0x00]); // b: test eax, 0x20000
    c.extend_from_slice(&[0x75, 0x02]); // jnz d
    c.extend_from_slice(&[0x01, 0xDA]); // add edx, ebx
    c.extend_from_slice(&[0x31, 0xC6]); // d: xor esi, eax
    c.extend_from_slice(&[0xFF, 0xC9]); // dec ecx
    let back = l as i64 - (c.len() as i64 + 2);
    c.extend_from_slice(&[0x75, back as i8 as u8]); // jnz l
    c.push(0xF4);
    // The path length depends on the generator's bits 16 and 17; count it the same way.
    let (mut eax, mut instructions) = (1u32, 2);
    for _ in 0..n {
        eax = eax.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let taken = if eax & 0x10000 != 0 { 2 } else { 1 };
        let added = if eax & 0x20000 != 0 { 0 } else { 1 };
        instructions += 4 + taken + 2 + added + 3;
    }
    Workload {
        name: if long { "branchy64" } else { "branchy32" },
        code: c,
        long,
        small_pages: false,
        instructions,
    }
}

/// String copy or fill: one REP MOVS (or REP STOS with `fill`) over `bytes` bytes in
/// `width`-byte (1, 4 or 8) elements, from [`DATA`] to [`DATA`] + 4 MiB (so source and
/// destination pages share TLB slots). Three setup instructions, then one per element: each
/// iteration retires as an instruction.
pub fn rep_string(name: &'static str, long: bool, fill: bool, width: u32, bytes: u32) -> Workload {
    let n = bytes / width;
    let mut c = Vec::new();
    if fill {
        c.push(0xB8); // mov eax, 0x04030201
        c.extend_from_slice(&0x0403_0201u32.to_le_bytes());
    } else {
        c.push(0xBE); // mov esi, DATA
        c.extend_from_slice(&(DATA as u32).to_le_bytes());
    }
    c.push(0xBF); // mov edi, DATA + 4 MiB
    c.extend_from_slice(&(DATA as u32 + (4 << 20)).to_le_bytes());
    c.push(0xB9); // mov ecx, n
    c.extend_from_slice(&n.to_le_bytes());
    c.push(0xF3); // rep
    if width == 8 {
        c.push(0x48); // REX.W
    }
    let op = if fill { 0xAA } else { 0xA4 };
    c.push(if width == 1 { op } else { op + 1 }); // movs/stos
    c.push(0xF4); // hlt
    Workload {
        name,
        code: c,
        long,
        small_pages: false,
        instructions: 3 + n as u64,
    }
}

/// SSE: `n` iterations of a 16-byte copy through XMM0 (unaligned load, aligned store), a
/// byte compare with its mask (the core of strlen/memchr), an integer add and a packed
/// single multiply-add, cycling through one 4-KiB page at [`DATA`] (eleven instructions);
/// three setup instructions set CR4.OSFXSR and OSXMMEXCPT first.
pub fn sse(long: bool, n: u32) -> Workload {
    let mut c = vec![0x0F, 0x20, 0xE0]; // mov eax, cr4
    c.extend_from_slice(&[0x0D, 0x00, 0x06, 0, 0]); // or eax, 0x600
    c.extend_from_slice(&[0x0F, 0x22, 0xE0]); // mov cr4, eax
    c.push(0xB9); // mov ecx, n
    c.extend_from_slice(&n.to_le_bytes());
    c.push(0xBE); // mov esi, DATA
    c.extend_from_slice(&(DATA as u32).to_le_bytes());
    c.extend_from_slice(&[0x66, 0x0F, 0xEF, 0xFF]); // pxor xmm7, xmm7
    let l = c.len();
    c.extend_from_slice(&[0xF3, 0x0F, 0x6F, 0x06]); // l: movdqu xmm0, [esi]
    c.extend_from_slice(&[0x66, 0x0F, 0x7F, 0x86, 0x00, 0x10, 0, 0]); // movdqa [esi+0x1000], xmm0
    c.extend_from_slice(&[0x66, 0x0F, 0x74, 0xC7]); // pcmpeqb xmm0, xmm7
    c.extend_from_slice(&[0x66, 0x0F, 0xD7, 0xC0]); // pmovmskb eax, xmm0
    c.extend_from_slice(&[0x66, 0x0F, 0xFE, 0xC8]); // paddd xmm1, xmm0
    c.extend_from_slice(&[0x0F, 0x59, 0xD3]); // mulps xmm2, xmm3
    c.extend_from_slice(&[0x0F, 0x58, 0xE2]); // addps xmm4, xmm2
    c.extend_from_slice(&[0x83, 0xC6, 0x10]); // add esi, 16
    c.extend_from_slice(&[0x81, 0xE6]); // and esi, DATA | 0xFF0
    c.extend_from_slice(&(DATA as u32 | 0xFF0).to_le_bytes());
    c.extend_from_slice(&[0xFF, 0xC9]); // dec ecx
    let back = l as i64 - (c.len() as i64 + 2);
    c.extend_from_slice(&[0x75, back as i8 as u8]); // jnz l
    c.push(0xF4); // hlt
    Workload {
        name: if long { "sse64" } else { "sse32" },
        code: c,
        long,
        small_pages: false,
        instructions: 6 + 11 * n as u64,
    }
}

/// Every workload, as the benches run them.
pub fn all() -> Vec<Workload> {
    let mut v = Vec::new();
    for long in [false, true] {
        v.push(alu_loop(long, 1_000_000));
        v.push(paging(long, 8));
        v.push(calls(long, 500_000));
        v.push(branchy(long, 500_000));
        v.push(sse(long, 500_000));
    }
    v.push(mpi_submul(200_000));
    const MB4: u32 = 4 << 20;
    v.push(rep_string("rep_movsb32", false, false, 1, MB4));
    v.push(rep_string("rep_movsd32", false, false, 4, MB4));
    v.push(rep_string("rep_stosd32", false, true, 4, MB4));
    v.push(rep_string("rep_movsq64", true, false, 8, MB4));
    v.push(rep_string("rep_stosq64", true, true, 8, MB4));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small versions of every workload end at their HLT after exactly the instructions
    /// their formula gives (the benches check the same at full size).
    #[test]
    fn every_workload_halts_after_its_instruction_count() {
        let small = [
            alu_loop(false, 100),
            alu_loop(true, 100),
            paging(false, 1),
            paging(true, 1),
            calls(false, 100),
            calls(true, 100),
            branchy(false, 1000),
            branchy(true, 1000),
            sse(false, 100),
            sse(true, 100),
            mpi_submul(100),
            rep_string("movsb", false, false, 1, 4096),
            rep_string("stosq", true, true, 8, 4096),
        ];
        for w in small {
            let mut cpu = w.machine();
            cpu.set_rip(CODE);
            cpu.gpr[reg::RSP as usize] = 0x80000;
            let start = cpu.icount;
            cpu.run(&mut OpenBus, 1 << 30);
            assert!(cpu.halted, "{}", w.name);
            assert_eq!(cpu.icount - start - 1, w.instructions, "{}", w.name);
            let mut cpu = w.machine();
            assert_eq!(w.run(&mut cpu), Some(w.instructions), "{}", w.name);
        }
    }
}
