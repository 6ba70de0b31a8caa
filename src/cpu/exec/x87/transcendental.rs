//! FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1 (SDM Vol. 2A). FSIN, FCOS,
//! FSINCOS and FPTAN leave an operand of magnitude 2^63 or more unchanged and set C2.

use super::arith::commit;
use super::state::sw;
use super::{enter, note, R};
use crate::cpu::softfloat::{trans, Ctx, Exc, F80};
use crate::cpu::{Cpu, Op};

/// FSIN or FCOS.
fn trig(cpu: &mut Cpu, op: &Op, f: fn(&mut Ctx, F80) -> Option<F80>) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    // C2 is cleared unless the operand is out of range.
    cpu.fpu.set_cc(sw::C2, 0);
    if cpu.fpu.empty(0) {
        cpu.fpu.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    match f(&mut ctx, cpu.fpu.st(0)) {
        None => cpu.fpu.set_cc(sw::C2, sw::C2),
        Some(r) => {
            cpu.fpu.set_cc(sw::C2, 0);
            commit(cpu, 0, &ctx, r, 0);
        }
    }
    Ok(())
}

/// FSIN.
pub fn fsin(cpu: &mut Cpu, op: &Op) -> R {
    trig(cpu, op, trans::fsin)
}

/// FCOS.
pub fn fcos(cpu: &mut Cpu, op: &Op) -> R {
    trig(cpu, op, trans::fcos)
}

/// FSINCOS and FPTAN: ST(0) ← the first result, then push the second.
fn two_results(cpu: &mut Cpu, op: &Op, f: fn(&mut Ctx, F80) -> Option<(F80, F80)>) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let fpu = &mut cpu.fpu;
    fpu.set_cc(sw::C2, 0);
    if fpu.empty(0) || !fpu.empty(7) {
        // Underflow or overflow: the masked response leaves two indefinites.
        if fpu.stack_fault(!fpu.empty(0)) {
            fpu.set_st(0, F80::INDEFINITE);
            fpu.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut ctx = fpu.ctx();
    let Some((first, second)) = f(&mut ctx, fpu.st(0)) else {
        fpu.set_cc(sw::C2, sw::C2);
        return Ok(());
    };
    fpu.set_cc(sw::C2, 0);
    if ctx.unmasked().intersects(Exc::IE | Exc::DE) {
        fpu.raise(ctx.flags & (Exc::IE | Exc::DE));
        return Ok(());
    }
    fpu.set_st(0, first);
    fpu.push(second);
    fpu.set_c1(ctx.up);
    fpu.raise(ctx.flags);
    Ok(())
}

/// FSINCOS: ST(0) ← sin, push cos.
pub fn fsincos(cpu: &mut Cpu, op: &Op) -> R {
    two_results(cpu, op, trans::fsincos)
}

/// FPTAN: ST(0) ← tan, push 1.0 (a NaN result is pushed in its place).
pub fn fptan(cpu: &mut Cpu, op: &Op) -> R {
    two_results(cpu, op, |ctx, a| {
        let t = trans::ftan(ctx, a)?;
        let nan = t.exp() == 0x7FFF && t.m << 1 != 0;
        Some((t, if nan { t } else { F80::ONE }))
    })
}

/// F2XM1: ST(0) ← 2^ST(0) − 1.
pub fn f2xm1(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    if cpu.fpu.empty(0) {
        cpu.fpu.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    let r = trans::f2xm1(&mut ctx, cpu.fpu.st(0));
    commit(cpu, 0, &ctx, r, 0);
    Ok(())
}

/// ST(1) ← f(ST(1), ST(0)), then pop.
fn binary(cpu: &mut Cpu, op: &Op, f: fn(&mut Ctx, F80, F80) -> F80) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    if cpu.fpu.empty(0) || cpu.fpu.empty(1) {
        cpu.fpu.underflow(1, 1);
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    let r = f(&mut ctx, cpu.fpu.st(1), cpu.fpu.st(0));
    commit(cpu, 1, &ctx, r, 1);
    Ok(())
}

/// FPATAN: ST(1) ← atan(ST(1)/ST(0)) in the quadrant of (ST(0), ST(1)), pop.
pub fn fpatan(cpu: &mut Cpu, op: &Op) -> R {
    binary(cpu, op, trans::fpatan)
}

/// FYL2X (ST(1) ← ST(1) · log2 ST(0)) and, with `P1`, FYL2XP1 (· log2(ST(0) + 1)); pop.
pub fn fyl2x<const P1: bool>(cpu: &mut Cpu, op: &Op) -> R {
    binary(cpu, op, if P1 { trans::fyl2xp1 } else { trans::fyl2x })
}
