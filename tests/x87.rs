//! The x87 FPU end to end: guest programs (written with iced-x86's `code_asm`) compute with
//! the FPU in protected and real mode; #MF, #NM and the legacy FERR#/IRQ 13 path go through
//! an IDT to handlers in the guest.

use iced_x86::code_asm::*;
use vx86::cpu::bus::{Bus, BusStatus};
use vx86::cpu::setup::gdt;
use vx86::cpu::softfloat::F80;
use vx86::cpu::{reg, Cpu, Cr0, Model, OpenBus, RunExit, TableReg};
use vx86::mem::PhysMem;

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x20_0000;
const IDT: u64 = 0x3000;
const STACK: u64 = 0x8_0000;

/// Flat 32-bit protected mode, FPU as after RESET, an empty IDT at `IDT`.
fn prot() -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
    cpu.enter_protected_flat(0x1000);
    cpu.idtr = TableReg {
        base: IDT,
        limit: 0x7FF,
    };
    cpu.gpr[reg::RSP as usize] = STACK;
    cpu
}

/// A 32-bit interrupt gate for `vector` to `handler`.
fn gate(cpu: &mut Cpu, vector: u8, handler: u64) {
    let d = (handler & 0xFFFF)
        | (gdt::CODE32 as u64) << 16
        | 0x8E << 40
        | ((handler >> 16) & 0xFFFF) << 48;
    cpu.mem
        .write_bytes(IDT + 8 * vector as u64, &d.to_le_bytes())
        .unwrap();
}

/// Assembles `body` at `at` in 32-bit code.
fn asm(at: u64, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    body(&mut a).unwrap();
    a.assemble(at).unwrap()
}

fn load(cpu: &mut Cpu, at: u64, code: &[u8]) {
    cpu.mem.write_bytes(at, code).unwrap();
}

fn f64_at(cpu: &Cpu, at: u64) -> f64 {
    let mut b = [0u8; 8];
    cpu.mem.read_bytes(at, &mut b);
    f64::from_le_bytes(b)
}

fn u32_at(cpu: &Cpu, at: u64) -> u32 {
    let mut b = [0u8; 4];
    cpu.mem.read_bytes(at, &mut b);
    u32::from_le_bytes(b)
}

/// Runs until HLT.
fn run_to_hlt(cpu: &mut Cpu, bus: &mut dyn Bus) {
    cpu.set_rip(CODE);
    let exit = cpu.run(bus, 100_000);
    assert_eq!(exit, RunExit::Halted, "the program reaches HLT");
}

#[test]
fn a_numeric_program_computes_what_ieee_doubles_do() {
    let mut cpu = prot();
    // Inputs: 2.0 and the loop bound.
    cpu.mem.write_bytes(DATA, &2.0f64.to_le_bytes()).unwrap();
    cpu.mem
        .write_bytes(DATA + 8, &100u32.to_le_bytes())
        .unwrap();
    let code = asm(CODE, |a| {
        a.fninit()?;
        // Double precision (PC = 10), round to nearest: results are IEEE binary64 results.
        a.mov(word_ptr(DATA as u32 + 0x100), 0x027F)?;
        a.fldcw(word_ptr(DATA as u32 + 0x100))?;
        // sqrt(2).
        a.fld(qword_ptr(DATA as u32))?;
        a.fsqrt()?;
        a.fstp(qword_ptr(DATA as u32 + 0x10))?;
        // The harmonic sum 1/1 + ... + 1/100, one FIDIV and FADDP per term.
        a.fldz()?;
        a.mov(ecx, 1)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(dword_ptr(DATA as u32 + 0x104), ecx)?;
        a.fld1()?;
        a.fidiv(dword_ptr(DATA as u32 + 0x104))?;
        a.faddp(st1, st0)?;
        a.inc(ecx)?;
        a.cmp(ecx, dword_ptr(DATA as u32 + 8))?;
        a.jbe(top)?;
        a.fst(qword_ptr(DATA as u32 + 0x18))?;
        // Compare the sum with sqrt(2): FCOMIP sets CF/ZF for JA; FNSTSW AX + SAHF for FCOM.
        a.fld(qword_ptr(DATA as u32 + 0x10))?;
        a.fcomip(st0, st1)?;
        a.setb(al)?;
        a.mov(byte_ptr(DATA as u32 + 0x22), al)?;
        a.fcom_2(st0, st0)?;
        a.fnstsw(ax)?;
        a.sahf()?;
        a.sete(ah)?;
        a.mov(word_ptr(DATA as u32 + 0x20), ax)?;
        // 123456 to packed BCD, and back through FBLD.
        a.mov(dword_ptr(DATA as u32 + 0x104), 123_456)?;
        a.fild(dword_ptr(DATA as u32 + 0x104))?;
        a.fbstp(tword_ptr(DATA as u32 + 0x30))?;
        a.fbld(tword_ptr(DATA as u32 + 0x30))?;
        a.fistp(dword_ptr(DATA as u32 + 0x40))?;
        a.hlt()
    });
    load(&mut cpu, CODE, &code);
    run_to_hlt(&mut cpu, &mut OpenBus);
    assert_eq!(f64_at(&cpu, DATA + 0x10), 2.0f64.sqrt());
    let mut h = 0.0f64;
    for k in 1..=100 {
        h += 1.0 / k as f64;
    }
    assert_eq!(
        f64_at(&cpu, DATA + 0x18),
        h,
        "the same roundings as binary64"
    );
    // AL: the status word's low byte (PE); AH: ST0 = ST0 through SAHF; then CF of FCOMIP.
    assert_eq!(
        u32_at(&cpu, DATA + 0x20) & 0xFF_FFFF,
        0x01_0120,
        "sqrt 2 < H(100); ST0 = ST0"
    );
    let mut bcd = [0u8; 10];
    cpu.mem.read_bytes(DATA + 0x30, &mut bcd);
    assert_eq!(bcd, [0x56, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(u32_at(&cpu, DATA + 0x40), 123_456);
}

/// The #MF handler: stores the status word and the faulting EIP, clears the exception.
fn mf_handler(at: u64) -> Vec<u8> {
    asm(at, |a| {
        a.fnstsw(word_ptr(DATA as u32 + 0x200))?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(DATA as u32 + 0x204), eax)?;
        a.inc(dword_ptr(DATA as u32 + 0x208))?;
        a.fnclex()?;
        a.iretd()
    })
}

#[test]
fn an_unmasked_exception_raises_mf_on_the_next_waiting_instruction() {
    let mut cpu = prot();
    cpu.cr0 |= Cr0::NE;
    let handler = CODE + 0x1000;
    gate(&mut cpu, 16, handler);
    load(&mut cpu, handler, &mf_handler(handler));
    let mut fwait_at = 0;
    let code = asm(CODE, |a| {
        a.fninit()?;
        a.mov(word_ptr(DATA as u32 + 0x100), 0x037B)?; // #Z unmasked
        a.fldcw(word_ptr(DATA as u32 + 0x100))?;
        a.fld1()?;
        a.fldz()?;
        a.fdivp(st1, st0)?; // 1 / 0: ZE pending
        a.fnstsw(ax)?; // non-waiting: no #MF
        a.mov(word_ptr(DATA as u32 + 0x210), ax)?;
        a.wait()?; // #MF here
        a.fld1()?;
        a.hlt()
    });
    // Where the WAIT is: after the FNSTSW and the MOV.
    let mut d = iced_x86::Decoder::with_ip(32, &code, CODE, iced_x86::DecoderOptions::NONE);
    for ins in &mut d {
        if ins.mnemonic() == iced_x86::Mnemonic::Wait {
            fwait_at = ins.ip();
        }
    }
    load(&mut cpu, CODE, &code);
    run_to_hlt(&mut cpu, &mut OpenBus);
    // An unmasked #Z writes nothing and does not pop: TOP stays 6.
    assert_eq!(
        u32_at(&cpu, DATA + 0x210) & 0xFFFF,
        0xB084,
        "B, ES, ZE, TOP 6 before the handler"
    );
    assert_eq!(u32_at(&cpu, DATA + 0x208), 1, "the handler ran once");
    assert_eq!(
        u32_at(&cpu, DATA + 0x204) as u64,
        fwait_at,
        "#MF is a fault at the WAIT"
    );
    assert_eq!(
        cpu.fpu.st(0),
        F80::ONE,
        "execution went on after the handler"
    );
    assert_eq!(
        (cpu.fpu.st(1), cpu.fpu.st(2)),
        (F80::ZERO, F80::ONE),
        "operands untouched"
    );
}

#[test]
fn cr0_ts_raises_nm_and_the_instruction_runs_after_clts() {
    let mut cpu = prot();
    cpu.cr0 |= Cr0::TS | Cr0::MP;
    let handler = CODE + 0x1000;
    gate(&mut cpu, 7, handler);
    load(
        &mut cpu,
        handler,
        &asm(handler, |a| {
            a.inc(dword_ptr(DATA as u32 + 0x208))?;
            a.clts()?;
            a.iretd()
        }),
    );
    let code = asm(CODE, |a| {
        a.fninit()?; // #NM, then runs
        a.fld1()?;
        a.hlt()
    });
    load(&mut cpu, CODE, &code);
    run_to_hlt(&mut cpu, &mut OpenBus);
    assert_eq!(u32_at(&cpu, DATA + 0x208), 1);
    assert_eq!(cpu.fpu.st(0), F80::ONE);
    assert_eq!(cpu.fpu.control(), 0x037F);
}

/// A bus whose only device is an interrupt line with a fixed vector.
#[derive(Default)]
struct IrqBus {
    pending: bool,
}

impl Bus for IrqBus {
    fn io_read(&mut self, _: &mut PhysMem, _: u16, _: u8) -> u32 {
        0xFFFF_FFFF
    }
    fn io_write(&mut self, _: &mut PhysMem, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: &mut PhysMem, _: u64, _: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _: &mut PhysMem, _: u64, _: u8, _: u64) {}
    fn ack_interrupt(&mut self, _: &mut PhysMem) -> Option<u8> {
        std::mem::take(&mut self.pending).then_some(0x75)
    }
    fn status(&mut self) -> BusStatus {
        if self.pending {
            BusStatus::INTR
        } else {
            BusStatus::empty()
        }
    }
}

#[test]
fn without_cr0_ne_ferr_freezes_the_fpu_until_irq13_clears_it() {
    let mut cpu = prot();
    cpu.cr0 -= Cr0::NE;
    let handler = CODE + 0x1000;
    // IRQ 13 as a PC's second 8259 delivers it (vector 75H after the BIOS's remap).
    gate(&mut cpu, 0x75, handler);
    load(&mut cpu, handler, &mf_handler(handler));
    let code = asm(CODE, |a| {
        a.fninit()?;
        a.sti()?;
        a.mov(word_ptr(DATA as u32 + 0x100), 0x037B)?;
        a.fldcw(word_ptr(DATA as u32 + 0x100))?;
        a.fldz()?;
        a.fld1()?;
        a.fdivrp(st1, st0)?; // 1 / 0 again
        a.fld1()?; // frozen here until IRQ 13
        a.hlt()
    });
    load(&mut cpu, CODE, &code);
    let mut bus = IrqBus::default();
    cpu.set_rip(CODE);
    assert_eq!(cpu.run(&mut bus, 100_000), RunExit::Halted);
    assert!(cpu.fpu_ferr(), "FERR# is asserted");
    let frozen = cpu.rip();
    assert_eq!(cpu.fpu.top, 6, "FLD1 has not run");
    // The board sees FERR# and raises IRQ 13.
    bus.pending = true;
    cpu.set_intr(true);
    assert_eq!(cpu.run(&mut bus, 100_000), RunExit::Halted);
    assert_eq!(u32_at(&cpu, DATA + 0x208), 1, "the IRQ 13 handler ran");
    assert_eq!(
        u32_at(&cpu, DATA + 0x204) as u64,
        frozen,
        "it returned to the frozen FLD1"
    );
    assert!(!cpu.fpu_ferr(), "FNCLEX dropped FERR#");
    assert_eq!(cpu.fpu.top, 5, "FLD1 ran after the handler");
}

#[test]
fn real_mode_programs_save_and_restore_the_16_bit_layout() {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
    cpu.segs[1] = vx86::cpu::Segment::real(0);
    cpu.update_mode();
    cpu.gpr[reg::RSP as usize] = 0x7000;
    let mut a = CodeAssembler::new(16).unwrap();
    a.fninit().unwrap();
    a.fldpi().unwrap();
    a.fld1().unwrap();
    a.fnsave(ptr(0x800u32)).unwrap(); // 94 bytes, then FNINIT
    a.fldz().unwrap();
    a.frstor(ptr(0x800u32)).unwrap();
    a.faddp(st1, st0).unwrap(); // π + 1
    a.fistp(word_ptr(0x900u32)).unwrap();
    a.fnstsw(ax).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    cpu.mem.write_bytes(0x1000, &code).unwrap();
    cpu.set_rip(0x1000);
    assert_eq!(cpu.run(&mut OpenBus, 1000), RunExit::Halted);
    let mut w = [0u8; 2];
    cpu.mem.read_bytes(0x900, &mut w);
    assert_eq!(u16::from_le_bytes(w), 4, "π + 1 rounds to 4");
    let mut tw = [0u8; 2];
    cpu.mem.read_bytes(0x804, &mut tw);
    assert_eq!(
        u16::from_le_bytes(tw),
        0x0FFF,
        "tags of the saved state: two valid"
    );
    assert_eq!(
        cpu.gpr[reg::RAX as usize] & 0xFFFF,
        0x0020,
        "PE from FISTP, TOP 0"
    );
}

/// Guest x87 throughput (run with `--release -- --ignored`): a loop of loads, adds,
/// multiplies, a divide and a store, and one of FSIN.
#[test]
#[ignore]
fn x87_throughput() {
    for (name, body) in [("arith", 0u8), ("fsin", 1u8)] {
        let mut cpu = prot();
        cpu.mem.write_bytes(DATA, &1.0001f64.to_le_bytes()).unwrap();
        let n: u32 = if body == 0 { 1_000_000 } else { 20_000 };
        let code = asm(CODE, |a| {
            a.fninit()?;
            a.fld1()?;
            a.mov(ecx, n)?;
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            if body == 0 {
                a.fld(qword_ptr(DATA as u32))?;
                a.fmul(qword_ptr(DATA as u32))?;
                a.fadd_2(st0, st1)?;
                a.fdiv(qword_ptr(DATA as u32))?;
                a.fstp(qword_ptr(DATA as u32 + 8))?;
            } else {
                a.fld(qword_ptr(DATA as u32))?;
                a.fsin()?;
                a.fstp(qword_ptr(DATA as u32 + 8))?;
            }
            a.dec(ecx)?;
            a.jnz(top)?;
            a.hlt()
        });
        load(&mut cpu, CODE, &code);
        cpu.set_rip(CODE);
        let t = std::time::Instant::now();
        let before = cpu.icount;
        assert_eq!(cpu.run(&mut OpenBus, u64::MAX / 2), RunExit::Halted);
        let dt = t.elapsed().as_secs_f64();
        let ins = cpu.icount - before;
        println!(
            "{name}: {ins} instructions in {dt:.3} s: {:.1} M instructions/s, {:.0} ns per loop",
            ins as f64 / dt / 1e6,
            dt * 1e9 / n as f64
        );
    }
}
