//! The floating-point side of SSE: the MXCSR environment of an instruction, the exception
//! rules, and lane helpers over the soft-float library (so results are IEEE binary32/64
//! with the x86 NaN, denormal and underflow rules on every host).
//!
//! An instruction computes all its lanes in one [`Ctx`] made from MXCSR (rounding control,
//! DAZ, FTZ, masks) and then [`commit`]s the exceptions raised (SDM Vol. 1 11.5.2): if one
//! is unmasked, nothing is written and #XM (CR4.OSXMMEXCPT set) or #UD is raised; an
//! unmasked pre-computation exception (invalid, denormal, divide by zero) suppresses the
//! post-computation flags (overflow, underflow, precision) in MXCSR.

use super::xmm::{from_q, hi, lo};
use super::{load, set_xmm, src, sse_ready, xmm, R};
use crate::cpu::fault::Fault;
use crate::cpu::softfloat::{self as sf, Ctx, Exc, Float, F32, F64};
use crate::cpu::{Cpu, Cr4, Handler, Op};

/// A floating-point SIMD operation: the destination `a`, the source `b`, the immediate, in
/// the environment `ctx` (which collects the exceptions).
pub trait SimdFp {
    /// The XMM form.
    fn op(ctx: &mut Ctx, a: u128, b: u128, imm: u8) -> u128;
}

/// The pre-computation exceptions.
const PRE: u32 = (Exc::IE.bits() | Exc::DE.bits() | Exc::ZE.bits()) as u32;

/// Records the exceptions `ctx` collected in MXCSR; with one unmasked, raises #XM (or #UD
/// when CR4.OSXMMEXCPT is clear) and the caller writes nothing.
#[inline(always)]
pub fn commit(cpu: &mut Cpu, ctx: &Ctx) -> R {
    let f = ctx.flags.bits() as u32;
    let unmasked = f & !(cpu.sse.mxcsr >> 7) & 0x3F;
    if unmasked == 0 {
        cpu.sse.mxcsr |= f;
        return Ok(());
    }
    Err(unmasked_exception(cpu, f, unmasked))
}

#[cold]
fn unmasked_exception(cpu: &mut Cpu, f: u32, unmasked: u32) -> Fault {
    cpu.sse.mxcsr |= if unmasked & PRE != 0 { f & PRE } else { f };
    if cpu.cr4.contains(Cr4::OSXMMEXCPT) {
        Fault::XM
    } else {
        Fault::UD
    }
}

/// Runs one rounding operation. When it raises an unmasked overflow or underflow, the
/// precision exception reports whether the result rounded with an unbounded exponent is
/// inexact (as the x87 rounds before it scales the result), not the masked response's
/// rounding (SDM Vol. 1 11.5.2.4/11.5.2.5 deliver no result; host-diff shows the flag).
#[inline(always)]
pub fn lane<T>(ctx: &mut Ctx, f: impl Fn(&mut Ctx) -> T) -> T {
    lane_scaled(ctx, None, f)
}

/// [`lane`]: `exact` says whether the result is exact when rounded with an unbounded
/// exponent, where the caller knows better than a rounding in the x87 manner (which falls
/// back to the masked response beyond the reach of its scaling).
#[inline(always)]
fn lane_scaled<T>(ctx: &mut Ctx, exact: Option<bool>, f: impl Fn(&mut Ctx) -> T) -> T {
    let before = ctx.flags;
    ctx.flags = Exc::empty();
    let r = f(ctx);
    let mut got = ctx.flags;
    if got.intersects((Exc::OE | Exc::UE) - ctx.masks) {
        let pe = match exact {
            Some(true) => Exc::empty(),
            Some(false) => Exc::PE,
            None => {
                let mut unbounded = *ctx;
                unbounded.flags = Exc::empty();
                unbounded.x87 = true;
                f(&mut unbounded);
                unbounded.flags & Exc::PE
            }
        };
        got = (got - Exc::PE) | pe;
    }
    ctx.flags = before | got;
    r
}

/// `x + y` (see [`lane`]).
#[inline(always)]
pub fn add<F: Float>(ctx: &mut Ctx, x: F, y: F) -> F {
    lane(ctx, |c| sf::add::add(c, x, y))
}

/// `x − y`.
#[inline(always)]
pub fn sub<F: Float>(ctx: &mut Ctx, x: F, y: F) -> F {
    lane(ctx, |c| sf::add::sub(c, x, y))
}

/// `x × y`.
#[inline(always)]
pub fn mul<F: Float>(ctx: &mut Ctx, x: F, y: F) -> F {
    lane(ctx, |c| sf::mul::mul(c, x, y))
}

/// `x ÷ y`.
#[inline(always)]
pub fn div<F: Float>(ctx: &mut Ctx, x: F, y: F) -> F {
    lane(ctx, |c| sf::div::div(c, x, y))
}

/// `√y`.
#[inline(always)]
pub fn sqrt<F: Float>(ctx: &mut Ctx, y: F) -> F {
    lane(ctx, |c| sf::sqrt::sqrt(c, y))
}

/// `x` converted to the format `G`.
#[inline(always)]
pub fn cvt<F: Float, G: Float>(ctx: &mut Ctx, x: F) -> G {
    lane(ctx, |c| sf::convert::convert::<F, G>(c, x))
}

/// A binary64 value narrowed to binary32 (CVTSD2SS, CVTPD2PS). Its result may lie beyond
/// any scaling, so the exactness of an unmasked overflow or underflow is judged here: the
/// significand (normalized, denormals included) fits in 24 bits.
#[inline(always)]
pub fn narrow(ctx: &mut Ctx, x: F64) -> F32 {
    let m = x.0 & 0xF_FFFF_FFFF_FFFF;
    let sig = if x.0 >> 52 & 0x7FF == 0 {
        m
    } else {
        m | 1 << 52
    };
    let exact = sig == 0 || 64 - sig.leading_zeros() - sig.trailing_zeros() <= 24;
    lane_scaled(ctx, Some(exact), |c| sf::convert::convert::<F64, F32>(c, x))
}

/// `xmm[r] = O(xmm[r], source, imm)` under MXCSR.
fn xmm_fp<O: SimdFp, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let r = O::op(&mut ctx, a, b, op.imm as u8);
    commit(cpu, &ctx)?;
    set_xmm(cpu, op.r, r);
    Ok(())
}

/// The handler of floating-point operation `O` for source form `s`.
pub fn handler<O: SimdFp>(s: u8) -> Handler {
    match s {
        src::REG => xmm_fp::<O, { src::REG }>,
        src::M128A => xmm_fp::<O, { src::M128A }>,
        src::M128 => xmm_fp::<O, { src::M128 }>,
        src::M64 => xmm_fp::<O, { src::M64 }>,
        _ => xmm_fp::<O, { src::M32 }>,
    }
}

/// Decodes `xmm, xmm/mem [, imm8]` for floating-point operation `O`.
pub fn simd_fp<O: SimdFp>(
    d: &crate::cpu::decode::Decoded,
    op: &mut Op,
) -> Option<crate::cpu::decode::Flow> {
    let r0 = d.ins.op0_register();
    if !r0.is_xmm() {
        return None;
    }
    op.r = super::vreg(r0);
    let s = super::source(d, op, 1, false);
    op.imm = super::imm8(d) as u64;
    op.run = handler::<O>(s);
    Some(crate::cpu::decode::Flow::Next)
}

/// The four binary32 lanes of `v`.
#[inline(always)]
pub fn f32s(v: u128) -> [F32; 4] {
    std::array::from_fn(|k| F32((v >> (32 * k)) as u32))
}

/// Joins four binary32 lanes.
#[inline(always)]
pub fn from_f32s(l: [F32; 4]) -> u128 {
    l.iter().rev().fold(0u128, |v, x| v << 32 | x.0 as u128)
}

/// The two binary64 lanes of `v`.
#[inline(always)]
pub fn f64s(v: u128) -> [F64; 2] {
    [F64(lo(v)), F64(hi(v))]
}

/// Joins two binary64 lanes.
#[inline(always)]
pub fn from_f64s(l: [F64; 2]) -> u128 {
    from_q(l[0].0, l[1].0)
}

/// `f` on each pair of binary32 lanes, in lane order.
#[inline(always)]
pub fn ps(ctx: &mut Ctx, a: u128, b: u128, f: impl Fn(&mut Ctx, F32, F32) -> F32) -> u128 {
    let (x, y) = (f32s(a), f32s(b));
    let mut r = [F32(0); 4];
    for k in 0..4 {
        r[k] = f(ctx, x[k], y[k]);
    }
    from_f32s(r)
}

/// `f` on each pair of binary64 lanes.
#[inline(always)]
pub fn pd(ctx: &mut Ctx, a: u128, b: u128, f: impl Fn(&mut Ctx, F64, F64) -> F64) -> u128 {
    let (x, y) = (f64s(a), f64s(b));
    let r0 = f(ctx, x[0], y[0]);
    let r1 = f(ctx, x[1], y[1]);
    from_f64s([r0, r1])
}

/// `f` on the low binary32 lanes; the rest of the destination stays.
#[inline(always)]
pub fn ss(ctx: &mut Ctx, a: u128, b: u128, f: impl Fn(&mut Ctx, F32, F32) -> F32) -> u128 {
    let r = f(ctx, F32(a as u32), F32(b as u32));
    (a & !0xFFFF_FFFF) | r.0 as u128
}

/// `f` on the low binary64 lanes; the high lane of the destination stays.
#[inline(always)]
pub fn sd(ctx: &mut Ctx, a: u128, b: u128, f: impl Fn(&mut Ctx, F64, F64) -> F64) -> u128 {
    let r = f(ctx, F64(lo(a)), F64(lo(b)));
    from_q(r.0, hi(a))
}
