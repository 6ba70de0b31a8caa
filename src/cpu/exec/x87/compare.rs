//! FCOM, FCOMP, FCOMPP, FUCOM, FUCOMP, FUCOMPP, FICOM, FICOMP, FTST (condition codes),
//! FCOMI, FCOMIP, FUCOMI, FUCOMIP (EFLAGS) and FXAM (SDM Vol. 2A).

use super::arith::read_operand;
use super::state::sw;
use super::{enter, fmt, note, note_mem, R};
use crate::cpu::flags::bit;
use crate::cpu::softfloat::compare::{compare_unpacked, Relation};
use crate::cpu::softfloat::{Class, Exc, Float, Unpacked};
use crate::cpu::{Cpu, Op};

/// The condition codes of a relation (SDM Vol. 2A FCOM Table 3-21).
fn cc_of(r: Relation) -> u16 {
    match r {
        Relation::Greater => 0,
        Relation::Less => sw::C0,
        Relation::Equal => sw::C3,
        Relation::Unordered => sw::C0 | sw::C2 | sw::C3,
    }
}

/// Compares ST(0) with the operand of format `SRC` (ST(i), memory, or +0.0 for FTST),
/// then pops `POPS` times. `QUIET`: only an SNaN is invalid (FUCOM).
pub fn fcom<const SRC: u8, const POPS: u8, const QUIET: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let b = match SRC {
        fmt::REG => {
            note(cpu, op);
            if cpu.fpu.empty(op.rm) {
                None
            } else {
                Some(cpu.fpu.st(op.rm).unpack(&cpu.fpu.ctx()))
            }
        }
        fmt::ZERO => {
            note(cpu, op);
            Some(Unpacked::zero(false))
        }
        _ => {
            let off = cpu.ea(op);
            let b = read_operand::<SRC>(cpu, op, off)?;
            note_mem(cpu, op, off);
            Some(b)
        }
    };
    let f = &mut cpu.fpu;
    let (Some(b), false) = (b, f.empty(0)) else {
        // The condition codes say "unordered" even when the fault is unmasked.
        f.set_cc(sw::C0 | sw::C2 | sw::C3, sw::C0 | sw::C2 | sw::C3);
        if f.stack_fault(false) {
            for _ in 0..POPS {
                f.pop();
            }
        }
        return Ok(());
    };
    let mut ctx = f.ctx();
    let a = f.st(0).unpack(&ctx);
    let r = compare_unpacked(&mut ctx, &a, &b, !QUIET);
    f.raise(ctx.flags);
    f.set_cc(sw::CC, cc_of(r));
    if ctx.unmasked().intersects(Exc::IE | Exc::DE) {
        return Ok(());
    }
    for _ in 0..POPS {
        f.pop();
    }
    Ok(())
}

/// FCOMI/FUCOMI ST(0), ST(i) and the popping forms: ZF, PF, CF from the relation (as
/// unsigned compares set them), OF, SF and AF cleared.
pub fn fcomi<const POP: bool, const QUIET: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let mask = bit::ZF | bit::PF | bit::CF | bit::OF | bit::SF | bit::AF;
    let f = &mut cpu.fpu;
    if f.empty(0) || f.empty(op.rm) {
        // EFLAGS say "unordered" even when the fault is unmasked (the host-diff runs).
        cpu.flags.set_arith(mask, bit::ZF | bit::PF | bit::CF);
        if cpu.fpu.stack_fault(false) && POP {
            cpu.fpu.pop();
        }
        return Ok(());
    }
    let mut ctx = f.ctx();
    let (a, b) = (f.st(0).unpack(&ctx), f.st(op.rm).unpack(&ctx));
    let r = compare_unpacked(&mut ctx, &a, &b, !QUIET);
    // C1 is left as it was (the SDM says cleared; the host-diff runs on AMD disagree).
    f.raise(ctx.flags);
    let flags = match r {
        Relation::Greater => 0,
        Relation::Less => bit::CF,
        Relation::Equal => bit::ZF,
        Relation::Unordered => bit::ZF | bit::PF | bit::CF,
    };
    cpu.flags.set_arith(mask, flags);
    if ctx.unmasked().intersects(Exc::IE | Exc::DE) {
        return Ok(());
    }
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// FXAM: the class of ST(0) in C3, C2, C0 and its sign in C1 (SDM Vol. 2A FXAM Table 3-45).
pub fn fxam(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    let v = f.st(0);
    let class = if f.empty(0) {
        sw::C3 | sw::C0
    } else {
        match v.class() {
            Class::Unsupported => 0,
            Class::QNaN | Class::SNaN => sw::C0,
            Class::Finite if v.exp() == 0 => sw::C3 | sw::C2,
            Class::Finite => sw::C2,
            Class::Inf => sw::C2 | sw::C0,
            Class::Zero => sw::C3,
        }
    };
    let sign = if v.sign() { sw::C1 } else { 0 };
    f.set_cc(sw::CC, class | sign);
    Ok(())
}
