//! FADD, FSUB, FSUBR, FMUL, FDIV, FDIVR with their pop and integer forms, FCHS, FABS,
//! FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM, FPREM1 (SDM Vol. 2A).

use super::state::sw;
use super::{enter, fmt, note, note_mem, read_m80, R};
use crate::cpu::fault::Fault;
use crate::cpu::softfloat::{
    add::add_unpacked, div::div_unpacked, mul::mul_unpacked, rem, rndint, scale,
    sqrt::sqrt_unpacked, Ctx, Exc, Float, Unpacked, F32, F64, F80,
};
use crate::cpu::{Cpu, Op, U16, U32, U64};

/// The operations, numbered as the ModR/M reg field of opcode D8 numbers them.
pub const ADD: u8 = 0;
/// ×.
pub const MUL: u8 = 1;
/// a − b.
pub const SUB: u8 = 4;
/// b − a.
pub const SUBR: u8 = 5;
/// a ÷ b.
pub const DIV: u8 = 6;
/// b ÷ a.
pub const DIVR: u8 = 7;

/// `a K b` (a the destination's old value, b the other operand).
#[inline]
fn compute<const K: u8>(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked) -> F80 {
    match K {
        ADD => add_unpacked(ctx, a, b, false),
        SUB => add_unpacked(ctx, a, b, true),
        SUBR => add_unpacked(ctx, b, a, true),
        MUL => mul_unpacked(ctx, a, b),
        DIV => div_unpacked(ctx, a, b),
        _ => div_unpacked(ctx, b, a),
    }
}

/// An integer operand, exactly.
pub(crate) fn int_operand(v: i64) -> Unpacked {
    if v == 0 {
        Unpacked::zero(false)
    } else {
        Unpacked::finite(v < 0, 63, v.unsigned_abs())
    }
}

/// Reads a memory operand of format `SRC` and takes it apart.
pub(crate) fn read_operand<const SRC: u8>(
    cpu: &mut Cpu,
    op: &Op,
    off: u64,
) -> Result<Unpacked, Fault> {
    let ctx = Ctx::new();
    Ok(match SRC {
        fmt::M32 => F32(cpu.read::<U32>(op.seg, off)? as u32).unpack(&ctx),
        fmt::M64 => F64(cpu.read::<U64>(op.seg, off)?).unpack(&ctx),
        fmt::I16 => int_operand(cpu.read::<U16>(op.seg, off)? as i16 as i64),
        fmt::I32 => int_operand(cpu.read::<U32>(op.seg, off)? as i32 as i64),
        fmt::I64 => int_operand(cpu.read::<U64>(op.seg, off)? as i64),
        _ => read_m80(cpu, op, off)?.unpack(&ctx),
    })
}

/// Writes a result to ST(`dst`) and pops `pops` times, as the x87 does: an unmasked #IA,
/// #D or #Z leaves the registers and the stack as they were (SDM Vol. 1 8.5); otherwise
/// the result (bias-adjusted after an unmasked #O or #U) is written, and C1 says whether
/// it was rounded up.
pub(crate) fn commit(cpu: &mut Cpu, dst: u8, ctx: &Ctx, r: F80, pops: u8) {
    let f = &mut cpu.fpu;
    let pre = Exc::IE | Exc::DE | Exc::ZE;
    if ctx.unmasked().intersects(pre) {
        f.set_c1(false);
        f.raise(ctx.flags & pre);
        return;
    }
    f.set_st(dst, r);
    f.set_c1(ctx.up);
    f.raise(ctx.flags);
    for _ in 0..pops {
        f.pop();
    }
}

/// ST(0) ← ST(0) K [mem].
pub fn arith_mem<const K: u8, const SRC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let off = cpu.ea(op);
    let b = read_operand::<SRC>(cpu, op, off)?;
    note_mem(cpu, op, off);
    if cpu.fpu.empty(0) {
        cpu.fpu.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    let a = cpu.fpu.st(0).unpack(&ctx);
    let r = compute::<K>(&mut ctx, &a, &b);
    commit(cpu, 0, &ctx, r, 0);
    Ok(())
}

/// ST(0) ← ST(0) K ST(i).
pub fn arith_st0<const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if f.empty(0) || f.empty(op.rm) {
        f.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = f.ctx();
    let (a, b) = (f.st(0).unpack(&ctx), f.st(op.rm).unpack(&ctx));
    let r = compute::<K>(&mut ctx, &a, &b);
    commit(cpu, 0, &ctx, r, 0);
    Ok(())
}

/// ST(i) ← ST(i) K ST(0), then pop if `POP`.
pub fn arith_sti<const K: u8, const POP: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if f.empty(0) || f.empty(op.rm) {
        f.underflow(op.rm, POP as u8);
        return Ok(());
    }
    let mut ctx = f.ctx();
    let (a, b) = (f.st(op.rm).unpack(&ctx), f.st(0).unpack(&ctx));
    let r = compute::<K>(&mut ctx, &a, &b);
    commit(cpu, op.rm, &ctx, r, POP as u8);
    Ok(())
}

/// A unary operation on ST(0) with no exceptions of its own (FCHS, FABS): C1 is cleared.
fn sign_op(cpu: &mut Cpu, op: &Op, f: fn(F80) -> F80) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let fpu = &mut cpu.fpu;
    if fpu.empty(0) {
        fpu.underflow(0, 0);
        return Ok(());
    }
    let v = f(fpu.st(0));
    fpu.set_st(0, v);
    fpu.set_c1(false);
    Ok(())
}

/// FCHS.
pub fn fchs(cpu: &mut Cpu, op: &Op) -> R {
    sign_op(cpu, op, |v| -v)
}

/// FABS.
pub fn fabs(cpu: &mut Cpu, op: &Op) -> R {
    sign_op(cpu, op, F80::abs)
}

/// A rounding operation on ST(0) (FSQRT, FRNDINT).
fn unary(cpu: &mut Cpu, op: &Op, f: fn(&mut Ctx, F80) -> F80) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    if cpu.fpu.empty(0) {
        cpu.fpu.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    let r = f(&mut ctx, cpu.fpu.st(0));
    commit(cpu, 0, &ctx, r, 0);
    Ok(())
}

/// FSQRT (precision control applies).
pub fn fsqrt(cpu: &mut Cpu, op: &Op) -> R {
    unary(cpu, op, |ctx, a| {
        let u = a.unpack(ctx);
        sqrt_unpacked(ctx, &u)
    })
}

/// FRNDINT: to an integer in the rounding mode of the control word.
pub fn frndint(cpu: &mut Cpu, op: &Op) -> R {
    unary(cpu, op, |ctx, a| {
        let round = ctx.round;
        rndint::round_to_int(ctx, a, round)
    })
}

/// FSCALE: ST(0) ← ST(0) · 2^trunc(ST(1)).
pub fn fscale(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if f.empty(0) || f.empty(1) {
        f.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = f.ctx();
    let r = scale::fscale(&mut ctx, f.st(0), f.st(1));
    commit(cpu, 0, &ctx, r, 0);
    Ok(())
}

/// FXTRACT: ST(0) ← exponent, then push the significand.
pub fn fxtract(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if f.empty(0) || !f.empty(7) {
        // The masked response to both stack faults: two indefinites.
        if f.stack_fault(!f.empty(0)) {
            f.set_st(0, F80::INDEFINITE);
            f.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut ctx = f.ctx();
    let (e, s) = scale::fxtract(&mut ctx, f.st(0));
    if ctx.unmasked().intersects(Exc::IE | Exc::DE | Exc::ZE) {
        f.set_c1(false);
        f.raise(ctx.flags);
        return Ok(());
    }
    f.set_st(0, e);
    f.push(s);
    f.set_c1(false);
    f.raise(ctx.flags);
    Ok(())
}

/// FPREM (`NEAREST` false) and FPREM1: the partial remainder of ST(0) by ST(1), with C2
/// set while incomplete and the quotient's low bits in C0 (Q2), C3 (Q1), C1 (Q0).
pub fn fprem<const NEAREST: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    // C2 is cleared whatever happens next (the host-diff runs: a stack fault or an unmasked
    // #IA leaves C0 and C3 as they were).
    f.set_cc(sw::C2, 0);
    if f.empty(0) || f.empty(1) {
        f.underflow(0, 0);
        return Ok(());
    }
    let mut ctx = f.ctx();
    let r = rem::fprem(&mut ctx, f.st(0), f.st(1), NEAREST);
    if ctx.unmasked().intersects(Exc::IE | Exc::DE) {
        f.set_c1(false);
        f.raise(ctx.flags & (Exc::IE | Exc::DE));
        return Ok(());
    }
    f.set_st(0, r.value);
    let q = r.quotient;
    if !r.divided {
        f.set_c1(false);
    } else if r.complete {
        let bit = |b: u64, flag: u16| if q & b != 0 { flag } else { 0 };
        let cc = bit(4, sw::C0) | bit(2, sw::C3) | bit(1, sw::C1);
        f.set_cc(sw::CC, cc);
    } else {
        f.set_cc(sw::CC, sw::C2);
    }
    f.raise(ctx.flags);
    Ok(())
}
