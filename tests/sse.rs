//! MMX and SSE end to end: small guest programs (written with iced-x86's `code_asm`) that
//! enable SSE the way an operating system does, then copy, scan, compare, checksum and
//! compute with XMM registers in 64-bit and 32-bit mode; registers, memory, MXCSR and the
//! faults (#UD, #NM, #GP, #XM) are checked.

use iced_x86::code_asm::*;
use vx86::cpu::{reg, Cpu, Cr0, Cr4, Fault, Model, OpenBus, RunExit};
use vx86::mem::PhysMem;

/// Where the programs are loaded, and their data area.
const CODE: u64 = 0x100000;
const DATA: u64 = 0x200000;

/// Assembles the body with `hlt` after it.
fn assemble(bits: u32, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    body(&mut a).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE).unwrap()
}

/// Runs `code` until HLT (or a fault, which shuts the CPU down: there is no IDT).
fn run(mut cpu: Cpu, code: &[u8], data: &[u8]) -> Cpu {
    cpu.mem.write_bytes(CODE, code).unwrap();
    cpu.mem.write_bytes(DATA, data).unwrap();
    cpu.set_rip(CODE);
    cpu.gpr[reg::RSP as usize] = 0x80000;
    let exit = cpu.run(&mut OpenBus, 100_000);
    assert_ne!(exit, RunExit::Budget, "the program did not finish");
    cpu
}

fn cpu64() -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(0x1000, 0x10000, 1);
    cpu
}

fn cpu32() -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_protected_flat(0x1000);
    cpu
}

/// The operating system's part: CR0.MP set, CR0.EM clear, CR4.OSFXSR and OSXMMEXCPT set.
fn enable_sse64(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, cr0)?;
    a.and(rax, !(Cr0::EM.bits() | Cr0::TS.bits()) as i32)?;
    a.or(rax, Cr0::MP.bits() as i32)?;
    a.mov(cr0, rax)?;
    a.mov(rax, cr4)?;
    a.or(rax, OS_SSE.bits() as i32)?;
    a.mov(cr4, rax)
}

fn enable_sse32(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(eax, cr0)?;
    a.and(eax, !(Cr0::EM.bits() | Cr0::TS.bits()) as i32)?;
    a.or(eax, Cr0::MP.bits() as i32)?;
    a.mov(cr0, eax)?;
    a.mov(eax, cr4)?;
    a.or(eax, OS_SSE.bits() as i32)?;
    a.mov(cr4, eax)
}

/// The CR4 bits an operating system sets for SSE.
const OS_SSE: Cr4 = Cr4::OSFXSR.union(Cr4::OSXMMEXCPT);

fn r(cpu: &Cpu, i: u8) -> u64 {
    cpu.gpr[i as usize]
}

fn mem(cpu: &Cpu, a: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    cpu.mem.read_bytes(a, &mut b);
    b
}

#[test]
fn strlen_with_pcmpeqb_and_pmovmskb() {
    // The SSE2 strlen every C library has: compare 16 bytes with zero, take the byte mask.
    let text = b"The quick brown fox jumps over the lazy dog\0";
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            let mut top = a.create_label();
            let mut done = a.create_label();
            a.mov(rdi, DATA)?;
            a.pxor(xmm0, xmm0)?;
            a.mov(rsi, rdi)?;
            a.set_label(&mut top)?;
            a.movdqu(xmm1, xmmword_ptr(rsi))?;
            a.pcmpeqb(xmm1, xmm0)?;
            a.pmovmskb(eax, xmm1)?;
            a.test(eax, eax)?;
            a.jnz(done)?;
            a.add(rsi, 16)?;
            a.jmp(top)?;
            a.set_label(&mut done)?;
            a.bsf(eax, eax)?;
            a.add(rsi, rax)?;
            a.sub(rsi, rdi)?;
            Ok(())
        }),
        text,
    );
    assert_eq!(r(&cpu, reg::RSI), text.len() as u64 - 1);
}

#[test]
fn memcpy_with_aligned_and_unaligned_moves_in_32_bit_mode() {
    let src: Vec<u8> = (0..64u8).collect();
    let cpu = run(
        cpu32(),
        &assemble(32, |a| {
            enable_sse32(a)?;
            a.mov(esi, DATA as u32 + 1)?;
            a.mov(edi, DATA as u32 + 0x100)?;
            a.movdqu(xmm0, xmmword_ptr(esi))?;
            a.movups(xmm1, xmmword_ptr(esi + 16))?;
            a.movdqa(xmmword_ptr(edi), xmm0)?;
            a.movaps(xmmword_ptr(edi + 16), xmm1)?;
            a.movq(xmm2, qword_ptr(esi + 32))?;
            a.movq(qword_ptr(edi + 32), xmm2)?;
            a.movd(eax, xmm2)?;
            Ok(())
        }),
        &src,
    );
    assert_eq!(mem(&cpu, DATA + 0x100, 40), src[1..41].to_vec());
    assert_eq!(
        r(&cpu, reg::RAX) as u32,
        u32::from_le_bytes([33, 34, 35, 36])
    );
}

#[test]
fn sse_needs_osfxsr_and_faults_on_ts_and_misalignment() {
    // Without CR4.OSFXSR: #UD.
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            a.pxor(xmm0, xmm0)?;
            Ok(())
        }),
        &[],
    );
    assert_eq!(cpu.last_fault, Some(Fault::UD));
    // CR0.TS: #NM (the lazy FPU switch).
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            a.mov(rax, cr0)?;
            a.or(rax, Cr0::TS.bits() as i32)?;
            a.mov(cr0, rax)?;
            a.paddd(xmm0, xmm1)?;
            Ok(())
        }),
        &[],
    );
    assert_eq!(cpu.last_fault, Some(Fault::NM));
    // MOVAPS from an address that is not a multiple of 16: #GP(0).
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            a.mov(rax, DATA + 8)?;
            a.movaps(xmm0, xmmword_ptr(rax))?;
            Ok(())
        }),
        &[],
    );
    assert_eq!(cpu.last_fault, Some(Fault::GP0));
}

#[test]
fn string_compares_crc32_and_shuffles() {
    let mut data = vec![0u8; 64];
    data[..12].copy_from_slice(b"hello, world");
    data[16..18].copy_from_slice(b"wo");
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            a.mov(rsi, DATA)?;
            a.movdqu(xmm0, xmmword_ptr(rsi + 16))?;
            // Equal ordered, unsigned bytes: where "wo" starts in the text.
            a.pcmpistri(xmm0, xmmword_ptr(rsi), 0x0C)?;
            a.mov(r8, rcx)?;
            // CRC-32C of the 12 bytes.
            a.mov(eax, -1i32)?;
            a.crc32(rax, qword_ptr(rsi))?;
            a.crc32(eax, dword_ptr(rsi + 8))?;
            a.not(eax)?;
            a.mov(r9, rax)?;
            // Reverse the bytes with PSHUFB.
            a.mov(rdx, 0x0001_0203_0405_0607u64)?;
            a.movq(xmm2, rdx)?;
            a.mov(rdx, 0x0809_0A0B_0C0D_0E0Fu64)?;
            a.movq(xmm3, rdx)?;
            a.punpcklqdq(xmm3, xmm2)?;
            a.movdqu(xmm1, xmmword_ptr(rsi))?;
            a.pshufb(xmm1, xmm3)?;
            a.movdqu(xmmword_ptr(rsi + 32), xmm1)?;
            a.pextrq(r10, xmm1, 1)?;
            Ok(())
        }),
        &data,
    );
    assert_eq!(r(&cpu, reg::R8), 7);
    let mut crc = !0u32;
    for b in b"hello, world" {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    assert_eq!(r(&cpu, reg::R9), !crc as u64);
    let mut rev = data[..16].to_vec();
    rev.reverse();
    assert_eq!(mem(&cpu, DATA + 32, 16), rev);
    assert_eq!(
        r(&cpu, reg::R10),
        u64::from_le_bytes(rev[8..].try_into().unwrap())
    );
}

#[test]
fn mxcsr_and_the_fxsave_area() {
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            a.mov(rsi, DATA)?;
            a.mov(dword_ptr(rsi), 0x7F80 | 0x8040)?; // FZ, DAZ, round toward zero
            a.ldmxcsr(dword_ptr(rsi))?;
            a.mov(rax, 0x1122_3344_5566_7788u64)?;
            a.movq(xmm7, rax)?;
            a.movq(xmm15, rax)?;
            a.fxsave64(ptr(rsi + 0x200))?;
            a.pxor(xmm7, xmm7)?;
            a.pxor(xmm15, xmm15)?;
            a.mov(dword_ptr(rsi), 0x1F80)?;
            a.ldmxcsr(dword_ptr(rsi))?;
            a.fxrstor64(ptr(rsi + 0x200))?;
            a.stmxcsr(dword_ptr(rsi + 4))?;
            a.movq(rbx, xmm15)?;
            Ok(())
        }),
        &[],
    );
    assert_eq!(cpu.sse.mxcsr, 0xFFC0);
    assert_eq!(mem(&cpu, DATA + 4, 4), 0xFFC0u32.to_le_bytes());
    let area = mem(&cpu, DATA + 0x200, 512);
    assert_eq!(
        &area[24..32],
        &[0xC0, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0],
        "MXCSR, MXCSR_MASK"
    );
    assert_eq!(
        &area[160 + 7 * 16..160 + 7 * 16 + 8],
        &0x1122_3344_5566_7788u64.to_le_bytes()
    );
    assert_eq!(r(&cpu, reg::RBX), 0x1122_3344_5566_7788);
    assert_eq!(cpu.sse.xmm[7], 0x1122_3344_5566_7788);
    // A reserved MXCSR bit: #GP(0).
    let cpu = run(
        cpu64(),
        &assemble(64, |a| {
            enable_sse64(a)?;
            a.mov(rsi, DATA)?;
            a.mov(dword_ptr(rsi), 0x1_0000)?;
            a.ldmxcsr(dword_ptr(rsi))?;
            Ok(())
        }),
        &[],
    );
    assert_eq!(cpu.last_fault, Some(Fault::GP0));
}
