//! The integer instruction groups end to end: small guest programs (written with iced-x86's
//! `code_asm`) run in 64-bit, 32-bit and real mode; registers, memory and flags are checked.

use iced_x86::code_asm::*;
use vx86::cpu::{reg, Cpu, Model, OpenBus, RunExit};
use vx86::mem::PhysMem;

/// Where the programs are loaded, and their data area.
const CODE: u64 = 0x100000;
const DATA: u64 = 0x200000;
/// CF PF AF ZF SF OF.
const ARITH: u64 = 0x8D5;
const CF: u64 = 1;
const PF: u64 = 4;
const AF: u64 = 0x10;
const ZF: u64 = 0x40;
const SF: u64 = 0x80;
const OF: u64 = 0x800;

/// Assembles the body with `jmp $` after it.
fn assemble(bits: u32, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    body(&mut a).unwrap();
    let mut end = a.create_label();
    a.set_label(&mut end).unwrap();
    a.jmp(end).unwrap();
    a.assemble(CODE).unwrap()
}

/// Runs `code` for `steps` instructions after `setup` prepared the CPU.
fn run(mut cpu: Cpu, code: &[u8], steps: u64) -> Cpu {
    cpu.mem.write_bytes(CODE, code).unwrap();
    cpu.set_rip(CODE);
    cpu.gpr[reg::RSP as usize] = 0x80000;
    let exit = cpu.run(&mut OpenBus, steps);
    assert_eq!(exit, RunExit::Budget);
    cpu
}

fn run64(steps: u64, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(0x1000, 0x10000, 1);
    run(cpu, &assemble(64, body), steps)
}

fn run32(steps: u64, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_protected_flat(0x1000);
    run(cpu, &assemble(32, body), steps)
}

/// Saves the arithmetic flags into `dst` without PUSHF: LAHF and SETO through RAX (clobbered).
fn save_flags(a: &mut CodeAssembler, dst: AsmRegister64) -> Result<(), IcedError> {
    a.lahf()?;
    a.seto(al)?;
    a.mov(dst, rax)
}

/// The 32-bit-mode form of [`save_flags`].
fn save_flags32(a: &mut CodeAssembler, dst: AsmRegister32) -> Result<(), IcedError> {
    a.lahf()?;
    a.seto(al)?;
    a.mov(dst, eax)
}

/// The RFLAGS arithmetic bits from a register [`save_flags`] wrote.
fn saved(v: u64) -> u64 {
    ((v >> 8) & 0xD5) | (v & 1) << 11
}

fn r(cpu: &Cpu, i: u8) -> u64 {
    cpu.gpr[i as usize]
}

fn mem64(cpu: &Cpu, a: u64) -> u64 {
    let mut b = [0u8; 8];
    cpu.mem.read_bytes(a, &mut b);
    u64::from_le_bytes(b)
}

#[test]
fn shifts_and_rotates_in_64_bit_mode() {
    let cpu = run64(100, |a| {
        a.mov(r15, 0x81u64)?;
        a.shl(r15b, 1)?; // 02, CF = 1, OF = 1
        save_flags(a, rbx)?;
        a.mov(ecx, 65)?;
        a.mov(rdx, 1u64)?;
        a.shl(rdx, cl)?; // count masked to 1: RDX = 2
        a.mov(rsi, -16i64)?;
        a.sar(rsi, 2)?; // -4
        a.stc()?;
        a.mov(edi, 0)?;
        a.rcl(edi, 1)?; // 1
        a.mov(r8, 0x1234_5678_9ABC_DEF0u64)?;
        a.mov(r9, 0xFEDC_BA98_7654_3210u64)?;
        a.shld(r8, r9, 8)?; // 0x3456789ABCDEF0FE
        a.mov(r10, DATA)?;
        a.mov(qword_ptr(r10), r9)?;
        a.shr(qword_ptr(r10), 4)?; // 0x0FEDCBA987654321
        a.mov(r11d, 0xFFFF_FFFFu32)?;
        a.mov(ecx, 32)?;
        a.rol(r11d, cl)?; // count 0: no rotation, flags kept
        a.mov(r12, 0x8000_0000_0000_0000u64)?;
        a.ror(r12, 63)?; // 1
        a.mov(r13w, 0x8001u32)?;
        a.rcr(r13w, 1)?; // CF from ROR (0) enters bit 15: 0x4000, CF = 1
        save_flags(a, r14)?;
        Ok(())
    });
    assert_eq!(r(&cpu, reg::R15), 0x02);
    assert_eq!(saved(r(&cpu, reg::RBX)) & ARITH, CF | OF);
    assert_eq!(r(&cpu, reg::RDX), 2);
    assert_eq!(r(&cpu, reg::RSI), (-4i64) as u64);
    assert_eq!(r(&cpu, reg::RDI), 1);
    assert_eq!(r(&cpu, reg::R8), 0x3456_789A_BCDE_F0FE);
    assert_eq!(mem64(&cpu, DATA), 0x0FED_CBA9_8765_4321);
    assert_eq!(r(&cpu, reg::R11), 0xFFFF_FFFF);
    assert_eq!(r(&cpu, reg::R12), 1);
    assert_eq!(r(&cpu, reg::R13) & 0xFFFF, 0x4000);
    assert_eq!(saved(r(&cpu, reg::R14)) & (CF | OF), CF | OF);
}

#[test]
fn multiply_and_divide_in_64_bit_mode() {
    let cpu = run64(100, |a| {
        a.mov(rax, u64::MAX)?;
        a.mov(rcx, 3u64)?;
        a.mul(rcx)?; // RDX:RAX = 3 * (2^64 - 1)
        a.mov(r8, rax)?;
        a.mov(r9, rdx)?;
        save_flags(a, r15)?;
        a.mov(rax, 100u64)?;
        a.mov(rdx, 0u64)?;
        a.mov(rcx, 7u64)?;
        a.div(rcx)?; // 14 rem 2
        a.mov(r10, rax)?;
        a.mov(r11, rdx)?;
        a.mov(rax, -100i64)?;
        a.cqo()?;
        a.idiv(rcx)?; // -14 rem -2
        a.mov(r12, rax)?;
        a.mov(r13, rdx)?;
        a.mov(ebx, 0x10000)?;
        a.imul_2(ebx, ebx)?; // overflows 32 bits: 0, CF = OF = 1
        a.imul_3(esi, ecx, -3)?; // -21 zero-extended
        a.mov(rdi, DATA)?;
        a.mov(qword_ptr(rdi), 6)?;
        a.imul_3(rbp, qword_ptr(rdi), 1000)?;
        a.mov(al, 0x80)?;
        a.mov(dl, 0xFF)?;
        a.imul(dl)?; // AX = 0x0080: does not fit a byte
        a.mov(r14, rax)?;
        save_flags(a, rdx)?;
        Ok(())
    });
    assert_eq!((r(&cpu, reg::R8), r(&cpu, reg::R9)), (u64::MAX - 2, 2));
    assert_eq!(saved(r(&cpu, reg::R15)) & (CF | OF), CF | OF);
    assert_eq!((r(&cpu, reg::R10), r(&cpu, reg::R11)), (14, 2));
    assert_eq!(
        (r(&cpu, reg::R12), r(&cpu, reg::R13)),
        ((-14i64) as u64, (-2i64) as u64)
    );
    assert_eq!(r(&cpu, reg::RBX), 0);
    assert_eq!(r(&cpu, reg::RSI), 0xFFFF_FFEB);
    assert_eq!(r(&cpu, reg::RBP), 6000);
    assert_eq!(r(&cpu, reg::R14) & 0xFFFF, 0x0080);
    assert_eq!(saved(r(&cpu, reg::RDX)) & (CF | OF), CF | OF);
}

#[test]
fn bit_instructions_in_64_bit_mode() {
    let cpu = run64(100, |a| {
        a.mov(rsi, DATA + 16)?;
        a.mov(qword_ptr(rsi - 16), 0)?;
        a.mov(rax, -65i64)?; // bit 63 of the qword at rsi - 16
        a.bts(qword_ptr(rsi), rax)?;
        a.mov(rbx, 0x10u64)?;
        a.btr(rbx, 4)?; // CF = 1, RBX = 0
        a.setc(cl)?;
        a.mov(edx, 0x0800_0100)?;
        a.bsf(edi, edx)?; // 8
        a.bsr(r8d, edx)?; // 27
        a.mov(r9, 0xFFFF_FFFF_FFFF_FFFFu64)?;
        a.xor(r10d, r10d)?;
        a.bsf(r9d, r10d)?; // source 0: ZF, destination kept (zero-extended)
        a.setz(ch)?;
        a.popcnt(r11, rdx)?; // 2
        a.tzcnt(r12d, r10d)?; // 32, CF = 1
        a.lzcnt(r13, rdx)?; // 36
        a.mov(r14, 0x0102_0304_0506_0708u64)?;
        a.bswap(r14)?;
        a.mov(r15d, 0x1122_3344)?;
        a.bswap(r15d)?;
        Ok(())
    });
    assert_eq!(mem64(&cpu, DATA), 1 << 63);
    assert_eq!(r(&cpu, reg::RBX), 0);
    assert_eq!(r(&cpu, reg::RCX) & 0xFFFF, 0x0101);
    assert_eq!(r(&cpu, reg::RDI), 8);
    assert_eq!(r(&cpu, reg::R8), 27);
    assert_eq!(r(&cpu, reg::R9), 0xFFFF_FFFF);
    assert_eq!(r(&cpu, reg::R11), 2);
    assert_eq!(r(&cpu, reg::R12), 32);
    assert_eq!(r(&cpu, reg::R13), 36);
    assert_eq!(r(&cpu, reg::R14), 0x0807_0605_0403_0201);
    assert_eq!(r(&cpu, reg::R15), 0x4433_2211);
}

#[test]
fn bmi_and_adx_in_64_bit_mode() {
    let cpu = run64(100, |a| {
        a.mov(rax, 0xF0F0u64)?;
        a.mov(rbx, 0xFF00u64)?;
        a.andn(rcx, rax, rbx)?; // 0x0F00
        a.mov(rdx, 0x0804u64)?;
        a.bextr(rsi, rax, rdx)?; // (0xF0F0 >> 4) & 0xFF = 0x0F
        a.blsr(rdi, rax)?; // 0xF0E0
        a.pdep(r8, rdx, rbx)?; // deposit 0x04 into mask 0xFF00: 0x0400
        a.pext(r9, rax, rbx)?; // 0xF0
        a.mov(rdx, 0x1_0000_0000u64)?;
        a.mulx(r10, r11, rdx)?; // 2^64: hi 1, lo 0
        a.rorx(r12d, eax, 4)?; // 0x00000F0F
        a.mov(ebp, 3)?;
        a.shlx(r13, rax, rbp)?; // 0x78780
        a.stc()?;
        a.mov(r14, u64::MAX)?;
        a.adcx(r14, rbx)?; // MAX + 0xFF00 + 1 = 0xFF00 with CF = 1
        a.setc(r15b)?;
        Ok(())
    });
    assert_eq!(r(&cpu, reg::RCX), 0x0F00);
    assert_eq!(r(&cpu, reg::RSI), 0x0F);
    assert_eq!(r(&cpu, reg::RDI), 0xF0E0);
    assert_eq!(r(&cpu, reg::R8), 0x0400);
    assert_eq!(r(&cpu, reg::R9), 0xF0);
    assert_eq!((r(&cpu, reg::R10), r(&cpu, reg::R11)), (1, 0));
    assert_eq!(r(&cpu, reg::R12), 0x0000_0F0F);
    assert_eq!(r(&cpu, reg::R13), 0x7_8780);
    assert_eq!(r(&cpu, reg::R14), 0xFF00);
    assert_eq!(r(&cpu, reg::R15) & 0xFF, 1);
}

#[test]
fn atomics_in_64_bit_mode() {
    let cpu = run64(100, |a| {
        a.mov(rdi, DATA)?;
        a.mov(qword_ptr(rdi), 10)?;
        a.mov(rbx, 5u64)?;
        a.lock().xadd(qword_ptr(rdi), rbx)?; // [rdi] = 15, RBX = 10
        a.mov(rax, 15u64)?;
        a.mov(rcx, 99u64)?;
        a.lock().cmpxchg(qword_ptr(rdi), rcx)?; // equal: [rdi] = 99
        a.setz(r8b)?;
        a.lock().cmpxchg(qword_ptr(rdi), rcx)?; // RAX 15 != 99: RAX = 99
        a.setz(r9b)?;
        a.mov(qword_ptr(rdi + 16), 1)?;
        a.mov(qword_ptr(rdi + 24), 2)?;
        a.mov(rax, 1u64)?;
        a.mov(rdx, 2u64)?;
        a.mov(rbx, 3u64)?;
        a.mov(rcx, 4u64)?;
        a.lock().cmpxchg16b(xmmword_ptr(rdi + 16))?;
        a.movbe(r10, qword_ptr(rdi + 16))?;
        Ok(())
    });
    assert_eq!(mem64(&cpu, DATA), 99);
    assert_eq!(r(&cpu, reg::RBX), 3);
    assert_eq!((r(&cpu, reg::R8) & 0xFF, r(&cpu, reg::R9) & 0xFF), (1, 0));
    assert_eq!(r(&cpu, reg::RAX), 1);
    assert_eq!((mem64(&cpu, DATA + 16), mem64(&cpu, DATA + 24)), (3, 4));
    assert_eq!(r(&cpu, reg::R10), 3 << 56);
}

#[test]
fn decimal_adjust_and_32_bit_forms_in_protected_mode() {
    let cpu = run32(100, |a| {
        a.mov(al, 0x19)?;
        a.add(al, 0x28)?; // 0x41, AF
        a.daa()?; // 0x47
        a.mov(bl, al)?;
        a.mov(al, 0x47)?;
        a.sub(al, 0x28)?; // 0x1F, AF
        a.das()?; // 0x19
        a.mov(bh, al)?;
        save_flags32(a, ebp)?;
        a.mov(ax, 0x0009)?;
        a.add(al, 0x05)?; // 0x0E
        a.aaa()?; // AX = 0x0104
        a.mov(cx, ax)?;
        a.mov(al, 77)?;
        a.aam(10)?; // AX = 0x0707
        a.mov(dx, ax)?;
        a.mov(ax, 0x0307)?;
        a.aad(10)?; // AX = 37
        a.mov(si, ax)?;
        a.stc()?;
        a.salc()?; // AL = FF
        a.mov(edi, 0x8000_0000u32)?;
        a.shr(edi, 31)?;
        a.mov(eax, 7)?;
        a.mov(dword_ptr(DATA), 3)?;
        a.xor(edx, edx)?;
        a.div(dword_ptr(DATA))?; // EAX = 2, EDX = 1
        Ok(())
    });
    assert_eq!(r(&cpu, reg::RBX) & 0xFFFF, 0x1947);
    assert_eq!(saved(r(&cpu, reg::RBP)) & ARITH, AF);
    assert_eq!(r(&cpu, reg::RCX) & 0xFFFF, 0x0104);
    assert_eq!(r(&cpu, reg::RSI) & 0xFFFF, 37);
    assert_eq!(r(&cpu, reg::RDI), 1);
    assert_eq!((r(&cpu, reg::RAX), r(&cpu, reg::RDX)), (2, 1));
}

#[test]
fn aam_result_and_salc_in_protected_mode() {
    let cpu = run32(100, |a| {
        a.mov(al, 77)?;
        a.aam(10)?;
        a.mov(dx, ax)?;
        a.clc()?;
        a.salc()?;
        a.mov(ecx, eax)?;
        save_flags32(a, ebx)?;
        Ok(())
    });
    assert_eq!(r(&cpu, reg::RDX) & 0xFFFF, 0x0707);
    assert_eq!(r(&cpu, reg::RCX) & 0xFF, 0);
    assert_eq!(saved(r(&cpu, reg::RBX)) & CF, 0);
}

#[test]
fn flags_after_sub_and_shift_chain() {
    // SHR leaves OF = MSB of the original operand; SAR clears it; ZF/PF from the result.
    let cpu = run64(100, |a| {
        a.mov(eax, 0x8000_0001u32)?;
        a.shr(eax, 1)?;
        save_flags(a, rbx)?;
        a.mov(ecx, 0x8000_0000u32)?;
        a.sar(ecx, 31)?;
        save_flags(a, rdx)?;
        a.xor(r8d, r8d)?;
        a.popcnt(r9, r8)?;
        save_flags(a, r10)?;
        Ok(())
    });
    assert_eq!(saved(r(&cpu, reg::RBX)) & ARITH, CF | PF | OF);
    assert_eq!(r(&cpu, reg::RCX), 0xFFFF_FFFF);
    assert_eq!(saved(r(&cpu, reg::RDX)) & ARITH, SF | PF);
    assert_eq!(saved(r(&cpu, reg::R10)) & ARITH, ZF);
}

/// Runs 16-bit code at 0000:7C00 in real mode on `model`, with every exception vector up to 13
/// pointing at 0000:0500, where `jmp $` waits.
fn run16(
    model: Model,
    steps: u64,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Cpu {
    let mut a = CodeAssembler::new(16).unwrap();
    body(&mut a).unwrap();
    let mut end = a.create_label();
    a.set_label(&mut end).unwrap();
    a.jmp(end).unwrap();
    let code = a.assemble(0x7C00).unwrap();
    let mut cpu = Cpu::new(model, PhysMem::new(1 << 20).unwrap());
    for v in 0..14u64 {
        cpu.mem
            .write_bytes(v * 4, &[0x00, 0x05, 0x00, 0x00])
            .unwrap();
    }
    cpu.mem.write_bytes(0x500, &[0xEB, 0xFE]).unwrap();
    cpu.mem.write_bytes(0x7C00, &code).unwrap();
    cpu.segs[vx86::cpu::sreg::CS as usize] =
        vx86::cpu::Segment::from_cache(0, 0, 0xFFFF, vx86::cpu::segment::attr::CODE_RX);
    cpu.update_mode();
    cpu.set_rip(0x7C00);
    cpu.gpr[reg::RSP as usize] = 0x7000;
    assert_eq!(cpu.run(&mut OpenBus, steps), RunExit::Budget);
    cpu
}

#[test]
fn memory_forms_fault_before_writing_anything() {
    // A word at offset FFFFh crosses the real-mode segment limit: #GP before any write.
    type Body = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let bodies: [Body; 5] = [
        |a| a.xadd(word_ptr(bx), ax),
        |a| a.cmpxchg(word_ptr(bx), cx),
        |a| a.shl(word_ptr(bx), 3),
        |a| a.bts(word_ptr(bx), cx),
        |a| a.div(word_ptr(bx)),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let cpu = run16(Model::Modern, 10, |a| {
            a.mov(bx, 0xFFFFu32)?;
            a.mov(byte_ptr(bx), 0x5A)?;
            a.mov(ax, 0x1234u32)?;
            a.mov(cx, 0x0001u32)?;
            a.mov(dx, 0u32)?;
            a.cmc()?;
            body(a)
        });
        assert_eq!(cpu.rip(), 0x500, "form {i} faulted");
        assert_eq!(
            cpu.mem.read_u8(0xFFFF),
            Some(0x5A),
            "form {i} wrote nothing"
        );
        assert_eq!(r(&cpu, reg::RAX) & 0xFFFF, 0x1234, "form {i} left AX");
        assert_eq!(cpu.flags.get() & CF, CF, "form {i} left the flags");
    }
}

/// A real-mode CPU of `model` with the #DE vector pointing at 0000:0500, where `jmp $` waits.
fn real_mode_divide_by_zero(model: Model) -> Cpu {
    let mut cpu = Cpu::new(model, PhysMem::new(1 << 20).unwrap());
    let code = [0xB0, 0x05, 0xB3, 0x00, 0xF6, 0xF3, 0x90, 0xEB, 0xFE]; // mov al,5; mov bl,0; div bl
    let handler = [0xEB, 0xFE];
    cpu.mem.write_bytes(0x0, &[0x00, 0x05, 0x00, 0x00]).unwrap();
    cpu.mem.write_bytes(0x500, &handler).unwrap();
    cpu.mem.write_bytes(0x7C00, &code).unwrap();
    cpu.segs[vx86::cpu::sreg::CS as usize] =
        vx86::cpu::Segment::from_cache(0, 0, 0xFFFF, vx86::cpu::segment::attr::CODE_RX);
    cpu.update_mode();
    cpu.set_rip(0x7C00);
    cpu.gpr[reg::RSP as usize] = 0x7000;
    assert_eq!(cpu.run(&mut OpenBus, 5), RunExit::Budget);
    cpu
}

#[test]
fn divide_error_pushes_the_faulting_ip_on_modern_and_the_next_on_8086() {
    let read16 = |cpu: &Cpu, a: u64| {
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(a, &mut b);
        u16::from_le_bytes(b)
    };
    let cpu = real_mode_divide_by_zero(Model::Modern);
    assert_eq!(cpu.rip(), 0x500);
    assert_eq!(r(&cpu, reg::RSP), 0x7000 - 6);
    assert_eq!(read16(&cpu, 0x7000 - 6), 0x7C04, "the DIV itself");
    let cpu = real_mode_divide_by_zero(Model::I8086);
    assert_eq!(cpu.rip(), 0x500);
    assert_eq!(
        read16(&cpu, 0x7000 - 6),
        0x7C06,
        "the instruction after the DIV"
    );
}
