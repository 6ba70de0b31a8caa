//! Floating-point arithmetic: ADD, SUB, MUL, DIV, SQRT, MIN, MAX (packed and scalar, single
//! and double), ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD, DPPS/DPPD, ROUNDPS/PD/SS/SD, and the
//! approximations RCPPS/RCPSS/RSQRTPS/RSQRTSS (SDM Vol. 2, each instruction's "Operation").

use iced_x86::Mnemonic as M;

use super::fp::commit;
use super::fp::{
    add, div, f32s, f64s, from_f32s, from_f64s, mul, pd, ps, sd, simd_fp, sqrt, ss, sub,
};
use super::{load, set_xmm, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::softfloat::{
    compare::compare_unpacked, compare::Relation, rndint, Class, Ctx, Exc, Float, Round, Unpacked,
    F32, F64,
};
use crate::cpu::{Cpu, Op};

/// MINPS/MAXPS and their kin: any NaN (quiet or signalling) raises #IA and gives the
/// source; so do two zeros of any sign; a denormal read as zero under DAZ is returned as
/// that zero (SDM Vol. 2B MINPS "Operation").
#[inline(always)]
fn minmax<F: Float>(ctx: &mut Ctx, x: F, y: F, max: bool) -> F {
    let (ux, uy) = (x.unpack(ctx), y.unpack(ctx));
    let rel = compare_unpacked(ctx, &ux, &uy, true);
    let pick_x = match rel {
        Relation::Less => !max,
        Relation::Greater => max,
        _ => false,
    };
    let (v, u) = if pick_x { (x, ux) } else { (y, uy) };
    if u.class == Class::Zero {
        F::special(&Unpacked::zero(u.sign))
    } else {
        v
    }
}

/// The rounding mode of ROUNDxx: `imm[2]` selects MXCSR.RC, else `imm[1:0]`.
#[inline(always)]
fn round_mode(ctx: &Ctx, imm: u8) -> Round {
    if imm & 4 != 0 {
        ctx.round
    } else {
        Round::from_bits(imm as u16 & 3)
    }
}

/// After ROUNDxx: `imm[3]` suppresses the precision exception; the denormal-operand
/// exception is not one ROUNDxx reports (SDM Vol. 2B ROUNDPS "SIMD Floating-Point
/// Exceptions": invalid and precision only).
#[inline(always)]
fn round_flags(ctx: &mut Ctx, imm: u8) {
    ctx.flags.remove(Exc::DE);
    if imm & 8 != 0 {
        ctx.flags.remove(Exc::PE);
    }
}

fp_op!(Addps, |c, a, b, i| ps(c, a, b, add));
fp_op!(Addpd, |c, a, b, i| pd(c, a, b, add));
fp_op!(Addss, |c, a, b, i| ss(c, a, b, add));
fp_op!(Addsd, |c, a, b, i| sd(c, a, b, add));
fp_op!(Subps, |c, a, b, i| ps(c, a, b, sub));
fp_op!(Subpd, |c, a, b, i| pd(c, a, b, sub));
fp_op!(Subss, |c, a, b, i| ss(c, a, b, sub));
fp_op!(Subsd, |c, a, b, i| sd(c, a, b, sub));
fp_op!(Mulps, |c, a, b, i| ps(c, a, b, mul));
fp_op!(Mulpd, |c, a, b, i| pd(c, a, b, mul));
fp_op!(Mulss, |c, a, b, i| ss(c, a, b, mul));
fp_op!(Mulsd, |c, a, b, i| sd(c, a, b, mul));
fp_op!(Divps, |c, a, b, i| ps(c, a, b, div));
fp_op!(Divpd, |c, a, b, i| pd(c, a, b, div));
fp_op!(Divss, |c, a, b, i| ss(c, a, b, div));
fp_op!(Divsd, |c, a, b, i| sd(c, a, b, div));
fp_op!(Sqrtps, |c, a, b, i| ps(c, a, b, |c, _, y| sqrt(c, y)));
fp_op!(Sqrtpd, |c, a, b, i| pd(c, a, b, |c, _, y| sqrt(c, y)));
fp_op!(Sqrtss, |c, a, b, i| ss(c, a, b, |c, _, y| sqrt(c, y)));
fp_op!(Sqrtsd, |c, a, b, i| sd(c, a, b, |c, _, y| sqrt(c, y)));
fp_op!(Minps, |c, a, b, i| ps(c, a, b, |c, x, y| minmax(
    c, x, y, false
)));
fp_op!(Minpd, |c, a, b, i| pd(c, a, b, |c, x, y| minmax(
    c, x, y, false
)));
fp_op!(Minss, |c, a, b, i| ss(c, a, b, |c, x, y| minmax(
    c, x, y, false
)));
fp_op!(Minsd, |c, a, b, i| sd(c, a, b, |c, x, y| minmax(
    c, x, y, false
)));
fp_op!(Maxps, |c, a, b, i| ps(c, a, b, |c, x, y| minmax(
    c, x, y, true
)));
fp_op!(Maxpd, |c, a, b, i| pd(c, a, b, |c, x, y| minmax(
    c, x, y, true
)));
fp_op!(Maxss, |c, a, b, i| ss(c, a, b, |c, x, y| minmax(
    c, x, y, true
)));
fp_op!(Maxsd, |c, a, b, i| sd(c, a, b, |c, x, y| minmax(
    c, x, y, true
)));

fp_op!(
    /// Subtract in the even lanes, add in the odd ones.
    Addsubps,
    |c, a, b, i| {
        let (x, y) = (f32s(a), f32s(b));
        from_f32s([
            sub(c, x[0], y[0]),
            add(c, x[1], y[1]),
            sub(c, x[2], y[2]),
            add(c, x[3], y[3]),
        ])
    }
);
fp_op!(Addsubpd, |c, a, b, i| {
    let (x, y) = (f64s(a), f64s(b));
    from_f64s([sub(c, x[0], y[0]), add(c, x[1], y[1])])
});
fp_op!(
    /// Pairs of the destination, then pairs of the source.
    Haddps,
    |c, a, b, i| {
        let (x, y) = (f32s(a), f32s(b));
        from_f32s([
            add(c, x[0], x[1]),
            add(c, x[2], x[3]),
            add(c, y[0], y[1]),
            add(c, y[2], y[3]),
        ])
    }
);
fp_op!(Hsubps, |c, a, b, i| {
    let (x, y) = (f32s(a), f32s(b));
    from_f32s([
        sub(c, x[0], x[1]),
        sub(c, x[2], x[3]),
        sub(c, y[0], y[1]),
        sub(c, y[2], y[3]),
    ])
});
fp_op!(Haddpd, |c, a, b, i| {
    let (x, y) = (f64s(a), f64s(b));
    from_f64s([add(c, x[0], x[1]), add(c, y[0], y[1])])
});
fp_op!(Hsubpd, |c, a, b, i| {
    let (x, y) = (f64s(a), f64s(b));
    from_f64s([sub(c, x[0], x[1]), sub(c, y[0], y[1])])
});

/// DPPS: products of the lanes `imm[7:4]` selects (others +0.0), summed as
/// (p0 + p1) + (p2 + p3), into the lanes `imm[3:0]` selects (others +0.0). The three
/// stages (multiplies, first sums, last sum) raise their exceptions in `c[0]`, `c[1]`,
/// `c[2]`: the processor checks them stage by stage, so an unmasked exception in a later
/// stage still records the earlier stages' flags. The sums treat the products as operands
/// (DAZ and the denormal exception apply to them).
pub fn dpps(c: &mut [Ctx; 3], a: u128, b: u128, i: u8) -> u128 {
    let (x, y) = (f32s(a), f32s(b));
    let mut p = [F32(0); 4];
    for k in 0..4 {
        if i >> (4 + k) & 1 != 0 {
            p[k] = mul(&mut c[0], x[k], y[k]);
        }
    }
    let s1 = add(&mut c[1], p[0], p[1]);
    let s2 = add(&mut c[1], p[2], p[3]);
    let s = add(&mut c[2], s1, s2);
    from_f32s(std::array::from_fn(|k| {
        if i >> k & 1 != 0 {
            s
        } else {
            F32(0)
        }
    }))
}

/// DPPD: as [`dpps`] with two lanes (`imm[5:4]`, `imm[1:0]`) and one sum.
pub fn dppd(c: &mut [Ctx; 3], a: u128, b: u128, i: u8) -> u128 {
    let (x, y) = (f64s(a), f64s(b));
    let mut p = [F64(0); 2];
    for k in 0..2 {
        if i >> (4 + k) & 1 != 0 {
            p[k] = mul(&mut c[0], x[k], y[k]);
        }
    }
    let s = add(&mut c[1], p[0], p[1]);
    from_f64s(std::array::from_fn(|k| {
        if i >> k & 1 != 0 {
            s
        } else {
            F64(0)
        }
    }))
}

/// DPPS (`DOUBLE` false) and DPPD, committing each stage's exceptions in order.
fn dp<const DOUBLE: bool, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let mut c = [Ctx::sse(cpu.sse.mxcsr); 3];
    let r = if DOUBLE {
        dppd(&mut c, a, b, op.imm as u8)
    } else {
        dpps(&mut c, a, b, op.imm as u8)
    };
    for stage in &c {
        commit(cpu, stage)?;
    }
    set_xmm(cpu, op.r, r);
    Ok(())
}

fp_op!(Roundps, |c, a, b, i| {
    let m = round_mode(c, i);
    let r = ps(c, a, b, |c, _, y| rndint::round_to_int(c, y, m));
    round_flags(c, i);
    r
});
fp_op!(Roundpd, |c, a, b, i| {
    let m = round_mode(c, i);
    let r = pd(c, a, b, |c, _, y| rndint::round_to_int(c, y, m));
    round_flags(c, i);
    r
});
fp_op!(Roundss, |c, a, b, i| {
    let m = round_mode(c, i);
    let r = ss(c, a, b, |c, _, y| rndint::round_to_int(c, y, m));
    round_flags(c, i);
    r
});
fp_op!(Roundsd, |c, a, b, i| {
    let m = round_mode(c, i);
    let r = sd(c, a, b, |c, _, y| rndint::round_to_int(c, y, m));
    round_flags(c, i);
    r
});

/// Rounds a positive or negative normal binary32 to 12 significant bits (11 fraction bits),
/// nearest: the precision vx86 gives its reciprocal approximations.
fn to_12_bits(v: u32) -> u32 {
    v.wrapping_add(1 << 11) & !0xFFF
}

/// RCPPS lane: 1/x to 12 bits (relative error at most 2^-12, within the SDM's
/// 1.5 × 2^-12). Denormal operands read as zeros and results below 2^-126 are flushed to
/// zero, as the SDM describes; no exception is raised and MXCSR is not used.
pub fn rcp(x: F32) -> F32 {
    let (sign, exp, frac) = (x.0 & 0x8000_0000, x.0 >> 23 & 0xFF, x.0 & 0x7F_FFFF);
    match (exp, frac) {
        (0, _) => F32(sign | 0x7F80_0000),
        (0xFF, 0) => F32(sign),
        (0xFF, _) => F32(x.0 | 0x40_0000),
        _ => {
            let mut c = Ctx::sse(0x1F80);
            let r = div(&mut c, F32(0x3F80_0000), F32(x.0 & 0x7FFF_FFFF));
            if r.0 >> 23 == 0 {
                F32(sign)
            } else {
                F32(sign | to_12_bits(r.0))
            }
        }
    }
}

/// RSQRTPS lane: 1/√x to 12 bits, with the special cases of the SDM: ±0 (and denormals)
/// give ±∞, +∞ gives +0, a negative number the real indefinite; no exception is raised.
pub fn rsqrt(x: F32) -> F32 {
    let (sign, exp, frac) = (x.0 >> 31, x.0 >> 23 & 0xFF, x.0 & 0x7F_FFFF);
    match (sign, exp, frac) {
        (_, 0, _) => F32(sign << 31 | 0x7F80_0000),
        (_, 0xFF, f) if f != 0 => F32(x.0 | 0x40_0000),
        (1, _, _) => F32::INDEFINITE,
        (0, 0xFF, _) => F32(0),
        _ => {
            let mut c = Ctx::sse(0x1F80);
            let s = sqrt(&mut c, x);
            let r = div(&mut c, F32(0x3F80_0000), s);
            F32(to_12_bits(r.0))
        }
    }
}

fp_op!(Rcpps, |c, a, b, i| from_f32s(f32s(b).map(rcp)));
fp_op!(Rsqrtps, |c, a, b, i| from_f32s(f32s(b).map(rsqrt)));
fp_op!(Rcpss, |c, a, b, i| (a & !0xFFFF_FFFF)
    | rcp(F32(b as u32)).0 as u128);
fp_op!(Rsqrtss, |c, a, b, i| (a & !0xFFFF_FFFF)
    | rsqrt(F32(b as u32)).0 as u128);

/// Decodes the floating-point arithmetic family.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.mnemonic() {
        M::Addps => simd_fp::<Addps>(d, op),
        M::Addpd => simd_fp::<Addpd>(d, op),
        M::Addss => simd_fp::<Addss>(d, op),
        M::Addsd => simd_fp::<Addsd>(d, op),
        M::Subps => simd_fp::<Subps>(d, op),
        M::Subpd => simd_fp::<Subpd>(d, op),
        M::Subss => simd_fp::<Subss>(d, op),
        M::Subsd => simd_fp::<Subsd>(d, op),
        M::Mulps => simd_fp::<Mulps>(d, op),
        M::Mulpd => simd_fp::<Mulpd>(d, op),
        M::Mulss => simd_fp::<Mulss>(d, op),
        M::Mulsd => simd_fp::<Mulsd>(d, op),
        M::Divps => simd_fp::<Divps>(d, op),
        M::Divpd => simd_fp::<Divpd>(d, op),
        M::Divss => simd_fp::<Divss>(d, op),
        M::Divsd => simd_fp::<Divsd>(d, op),
        M::Sqrtps => simd_fp::<Sqrtps>(d, op),
        M::Sqrtpd => simd_fp::<Sqrtpd>(d, op),
        M::Sqrtss => simd_fp::<Sqrtss>(d, op),
        M::Sqrtsd => simd_fp::<Sqrtsd>(d, op),
        M::Minps => simd_fp::<Minps>(d, op),
        M::Minpd => simd_fp::<Minpd>(d, op),
        M::Minss => simd_fp::<Minss>(d, op),
        M::Minsd => simd_fp::<Minsd>(d, op),
        M::Maxps => simd_fp::<Maxps>(d, op),
        M::Maxpd => simd_fp::<Maxpd>(d, op),
        M::Maxss => simd_fp::<Maxss>(d, op),
        M::Maxsd => simd_fp::<Maxsd>(d, op),
        M::Addsubps => simd_fp::<Addsubps>(d, op),
        M::Addsubpd => simd_fp::<Addsubpd>(d, op),
        M::Haddps => simd_fp::<Haddps>(d, op),
        M::Haddpd => simd_fp::<Haddpd>(d, op),
        M::Hsubps => simd_fp::<Hsubps>(d, op),
        M::Hsubpd => simd_fp::<Hsubpd>(d, op),
        M::Dpps | M::Dppd => {
            op.r = super::vreg(d.ins.op0_register());
            let s = super::source(d, op, 1, false);
            op.imm = super::imm8(d) as u64;
            let double = d.ins.mnemonic() == M::Dppd;
            op.run = match (double, s) {
                (false, src::REG) => dp::<false, { src::REG }>,
                (false, _) => dp::<false, { src::M128A }>,
                (true, src::REG) => dp::<true, { src::REG }>,
                (true, _) => dp::<true, { src::M128A }>,
            };
            Some(Flow::Next)
        }
        M::Roundps => simd_fp::<Roundps>(d, op),
        M::Roundpd => simd_fp::<Roundpd>(d, op),
        M::Roundss => simd_fp::<Roundss>(d, op),
        M::Roundsd => simd_fp::<Roundsd>(d, op),
        M::Rcpps => simd_fp::<Rcpps>(d, op),
        M::Rcpss => simd_fp::<Rcpss>(d, op),
        M::Rsqrtps => simd_fp::<Rsqrtps>(d, op),
        M::Rsqrtss => simd_fp::<Rsqrtss>(d, op),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::fp::SimdFp;

    fn f(v: f32) -> u128 {
        v.to_bits() as u128
    }

    #[test]
    fn scalar_ops_keep_the_upper_lanes_and_packed_ops_do_all() {
        let mut c = Ctx::sse(0x1F80);
        let a = 0xAAAA_AAAA_BBBB_BBBB_CCCC_CCCC_0000_0000 | f(1.5);
        let r = Addss::op(&mut c, a, f(2.25), 0);
        assert_eq!(r, (a & !0xFFFF_FFFF) | f(3.75));
        let p = from_f32s([
            F32(1.0f32.to_bits()),
            F32(4.0f32.to_bits()),
            F32(9.0f32.to_bits()),
            F32(0),
        ]);
        let r = f32s(Sqrtps::op(&mut c, 0, p, 0));
        assert_eq!(r.map(|x| f32::from_bits(x.0)), [1.0, 2.0, 3.0, 0.0]);
        assert!(c.flags.is_empty());
    }

    #[test]
    fn min_max_return_the_source_for_nans_and_zeros() {
        let mut c = Ctx::sse(0x1F80);
        let nan = 0x7FC0_0001u128;
        assert_eq!(Minss::op(&mut c, nan, f(1.0), 0), f(1.0));
        assert!(c.flags.contains(Exc::IE), "a QNaN is invalid for MIN");
        let mut c = Ctx::sse(0x1F80);
        assert_eq!(Maxss::op(&mut c, f(1.0), nan, 0), nan);
        assert_eq!(Minss::op(&mut c, f(-0.0), f(0.0), 0), f(0.0));
        assert_eq!(Maxss::op(&mut c, f(0.0), f(-0.0), 0), f(-0.0));
        assert_eq!(Minss::op(&mut c, f(-2.0), f(3.0), 0), f(-2.0));
        assert_eq!(
            Maxsd::op(
                &mut c,
                2.0f64.to_bits() as u128,
                3.0f64.to_bits() as u128,
                0
            ),
            3.0f64.to_bits() as u128
        );
    }

    #[test]
    fn horizontal_addsub_and_dot_products() {
        let mut c = Ctx::sse(0x1F80);
        let v = |x: [f32; 4]| from_f32s(x.map(|v| F32(v.to_bits())));
        let a = v([1.0, 2.0, 3.0, 4.0]);
        let b = v([10.0, 20.0, 30.0, 40.0]);
        assert_eq!(Haddps::op(&mut c, a, b, 0), v([3.0, 7.0, 30.0, 70.0]));
        assert_eq!(Addsubps::op(&mut c, a, b, 0), v([-9.0, 22.0, -27.0, 44.0]));
        let mut cs = [c; 3];
        assert_eq!(dpps(&mut cs, a, b, 0xF1), v([300.0, 0.0, 0.0, 0.0]));
        assert_eq!(dpps(&mut cs, a, b, 0x36), v([0.0, 50.0, 50.0, 0.0]));
        assert!(cs.iter().all(|c| c.flags.is_empty()));
    }

    #[test]
    fn round_modes_and_the_precision_suppression() {
        let mut c = Ctx::sse(0x1F80 | 1 << 13);
        assert_eq!(Roundss::op(&mut c, 0, f(2.5), 0), f(2.0), "nearest even");
        assert!(c.flags.contains(Exc::PE));
        let mut c = Ctx::sse(0x1F80 | 1 << 13);
        assert_eq!(Roundss::op(&mut c, 0, f(2.5), 4), f(2.0), "MXCSR: down");
        assert_eq!(Roundss::op(&mut c, 0, f(-2.5), 0x0A), f(-2.0), "up, no PE");
        assert_eq!(Roundss::op(&mut c, 0, f(2.5), 0x0B), f(2.0), "toward zero");
    }

    #[test]
    fn approximations_are_within_the_bound_and_handle_the_specials() {
        for x in [1.0f32, 3.0, 0.1, 1e30, -7.5, 2.0e-38] {
            let r = f32::from_bits(rcp(F32(x.to_bits())).0);
            assert!(((r * x) - 1.0).abs() <= 1.5 / 4096.0, "{x}: {r}");
            if x > 0.0 {
                let s = f32::from_bits(rsqrt(F32(x.to_bits())).0);
                assert!(((s * x.sqrt()) - 1.0).abs() <= 1.5 / 4096.0, "{x}: {s}");
            }
        }
        assert_eq!(rcp(F32(0x8000_0000)).0, 0xFF80_0000);
        assert_eq!(rcp(F32(0x7F80_0000)).0, 0);
        assert_eq!(rcp(F32(0x7F7F_FFFF)).0, 0, "1/max is below 2^-126");
        assert_eq!(rsqrt(F32((-4.0f32).to_bits())).0, 0xFFC0_0000);
        assert_eq!(rsqrt(F32(0)).0, 0x7F80_0000);
    }
}
