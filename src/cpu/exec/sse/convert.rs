//! Conversions between binary32, binary64 and integers: CVTDQ2PS/PD, CVT(T)PS2DQ,
//! CVT(T)PD2DQ, CVTPS2PD, CVTPD2PS, CVTSS2SD, CVTSD2SS, CVTSI2SS/SD and CVT(T)SS2SI/SD2SI
//! (SDM Vol. 2A). A result out of the integer range, a NaN or an infinity gives the integer
//! indefinite (only the sign bit set) with #IA; the truncating forms round toward zero
//! whatever MXCSR.RC says. The MMX forms (CVTPI2PS …) are in [`super::mmx`].

use iced_x86::Mnemonic as M;

use super::fp::{commit, cvt, f32s, f64s, from_f32s, from_f64s, narrow, simd_fp};
use super::xmm::{from_q, hi};
use super::{load, set_xmm, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::softfloat::{convert, Ctx, Exc, Round, F32, F64};
use crate::cpu::{Cpu, Handler, Op, Width, U32, U64};

/// A binary32 or binary64 lane to a signed integer of `bits`, rounding as `round` says
/// (`None`: MXCSR.RC). The denormal-operand exception is not one these conversions report
/// (SDM Vol. 2A CVTSS2SI "SIMD Floating-Point Exceptions": invalid and precision only).
#[inline(always)]
fn to_int<F: crate::cpu::softfloat::Float>(ctx: &mut Ctx, x: F, bits: u32, trunc: bool) -> u64 {
    let de = ctx.flags.contains(Exc::DE);
    let round = if trunc { Round::Zero } else { ctx.round };
    let v = convert::to_int(ctx, x, bits, round);
    if !de {
        ctx.flags.remove(Exc::DE);
    }
    v
}

/// Signed dword lane `k` of `v`.
#[inline(always)]
fn dword(v: u128, k: usize) -> i64 {
    (v >> (32 * k)) as u32 as i32 as i64
}

fp_op!(Cvtdq2ps, |c, a, b, i| from_f32s(std::array::from_fn(|k| {
    convert::from_int::<F32>(c, dword(b, k))
})));
fp_op!(Cvtdq2pd, |c, a, b, i| from_f64s([
    convert::from_int::<F64>(c, dword(b, 0)),
    convert::from_int::<F64>(c, dword(b, 1)),
]));
fp_op!(Cvtps2dq, |c, a, b, i| {
    let x = f32s(b);
    let mut r = 0u128;
    for (k, v) in x.iter().enumerate() {
        r |= (to_int(c, *v, 32, false) as u128) << (32 * k);
    }
    r
});
fp_op!(Cvttps2dq, |c, a, b, i| {
    let x = f32s(b);
    let mut r = 0u128;
    for (k, v) in x.iter().enumerate() {
        r |= (to_int(c, *v, 32, true) as u128) << (32 * k);
    }
    r
});
fp_op!(Cvtpd2dq, |c, a, b, i| {
    let x = f64s(b);
    let lo = to_int(c, x[0], 32, false);
    let hi = to_int(c, x[1], 32, false);
    (lo | hi << 32) as u128
});
fp_op!(Cvttpd2dq, |c, a, b, i| {
    let x = f64s(b);
    let lo = to_int(c, x[0], 32, true);
    let hi = to_int(c, x[1], 32, true);
    (lo | hi << 32) as u128
});
fp_op!(Cvtps2pd, |c, a, b, i| {
    let x = f32s(b);
    from_f64s([cvt::<F32, F64>(c, x[0]), cvt::<F32, F64>(c, x[1])])
});
fp_op!(
    /// The two doubles to singles in the low quadword; the high one is cleared.
    Cvtpd2ps,
    |c, a, b, i| {
        let x = f64s(b);
        from_f32s([
            narrow(c, x[0]),
            narrow(c, x[1]),
            F32(0),
            F32(0),
        ])
    }
);
fp_op!(Cvtss2sd, |c, a, b, i| from_q(
    cvt::<F32, F64>(c, F32(b as u32)).0,
    hi(a)
));
fp_op!(Cvtsd2ss, |c, a, b, i| (a & !0xFFFF_FFFF)
    | narrow(c, F64(b as u64)).0 as u128);

/// CVTSI2SS/CVTSI2SD: the signed `W` integer (a register when `!MEM`) into the low lane.
fn cvtsi<W: Width, const DOUBLE: bool, const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = if MEM {
        cpu.read_ea::<W>(op)?
    } else {
        W::get(cpu, op.rm)
    };
    let v = W::sext(v) as i64;
    let a = xmm(cpu, op.r);
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let r = if DOUBLE {
        from_q(convert::from_int::<F64>(&mut ctx, v).0, hi(a))
    } else {
        (a & !0xFFFF_FFFF) | convert::from_int::<F32>(&mut ctx, v).0 as u128
    };
    commit(cpu, &ctx)?;
    set_xmm(cpu, op.r, r);
    Ok(())
}

/// CVT(T)SS2SI/CVT(T)SD2SI: the low lane to a 32-bit (`WIDE`: 64-bit) general register.
fn cvt2si<const DOUBLE: bool, const TRUNC: bool, const WIDE: bool, const S: u8>(
    cpu: &mut Cpu,
    op: &Op,
) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let bits = if WIDE { 64 } else { 32 };
    let v = if DOUBLE {
        to_int(&mut ctx, F64(b as u64), bits, TRUNC)
    } else {
        to_int(&mut ctx, F32(b as u32), bits, TRUNC)
    };
    commit(cpu, &ctx)?;
    if WIDE {
        U64::set(cpu, op.r, v);
    } else {
        U32::set(cpu, op.r, v);
    }
    Ok(())
}

fn cvt2si_handler<const D: bool, const T: bool, const W: bool>(s: u8) -> Handler {
    match s {
        src::REG => cvt2si::<D, T, W, { src::REG }>,
        src::M64 => cvt2si::<D, T, W, { src::M64 }>,
        _ => cvt2si::<D, T, W, { src::M32 }>,
    }
}

/// Decodes the conversions.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let m = ins.mnemonic();
    if (0..ins.op_count()).any(|i| d.is_reg(i) && ins.op_register(i).is_mm())
        || matches!(
            m,
            M::Cvtpi2ps | M::Cvtps2pi | M::Cvttps2pi | M::Cvtpi2pd | M::Cvtpd2pi | M::Cvttpd2pi
        )
    {
        return super::mmx::decode_convert(d, op);
    }
    match m {
        M::Cvtdq2ps => simd_fp::<Cvtdq2ps>(d, op),
        M::Cvtdq2pd => simd_fp::<Cvtdq2pd>(d, op),
        M::Cvtps2dq => simd_fp::<Cvtps2dq>(d, op),
        M::Cvttps2dq => simd_fp::<Cvttps2dq>(d, op),
        M::Cvtpd2dq => simd_fp::<Cvtpd2dq>(d, op),
        M::Cvttpd2dq => simd_fp::<Cvttpd2dq>(d, op),
        M::Cvtps2pd => simd_fp::<Cvtps2pd>(d, op),
        M::Cvtpd2ps => simd_fp::<Cvtpd2ps>(d, op),
        M::Cvtss2sd => simd_fp::<Cvtss2sd>(d, op),
        M::Cvtsd2ss => simd_fp::<Cvtsd2ss>(d, op),
        M::Cvtsi2ss | M::Cvtsi2sd => {
            op.r = super::vreg(ins.op0_register());
            let double = m == M::Cvtsi2sd;
            let wide = d.op_size(1) == 8;
            op.run = if d.is_mem(1) {
                d.mem(op);
                match (wide, double) {
                    (false, false) => cvtsi::<U32, false, true>,
                    (false, true) => cvtsi::<U32, true, true>,
                    (true, false) => cvtsi::<U64, false, true>,
                    (true, true) => cvtsi::<U64, true, true>,
                }
            } else {
                op.rm = super::vreg(ins.op1_register());
                match (wide, double) {
                    (false, false) => cvtsi::<U32, false, false>,
                    (false, true) => cvtsi::<U32, true, false>,
                    (true, false) => cvtsi::<U64, false, false>,
                    (true, true) => cvtsi::<U64, true, false>,
                }
            };
            Some(Flow::Next)
        }
        M::Cvtss2si | M::Cvttss2si | M::Cvtsd2si | M::Cvttsd2si => {
            op.r = super::vreg(ins.op0_register());
            let wide = d.reg_size(0) == 8;
            let s = super::source(d, op, 1, false);
            op.run = match (m, wide) {
                (M::Cvtss2si, false) => cvt2si_handler::<false, false, false>(s),
                (M::Cvtss2si, true) => cvt2si_handler::<false, false, true>(s),
                (M::Cvttss2si, false) => cvt2si_handler::<false, true, false>(s),
                (M::Cvttss2si, true) => cvt2si_handler::<false, true, true>(s),
                (M::Cvtsd2si, false) => cvt2si_handler::<true, false, false>(s),
                (M::Cvtsd2si, true) => cvt2si_handler::<true, false, true>(s),
                (_, false) => cvt2si_handler::<true, true, false>(s),
                (_, true) => cvt2si_handler::<true, true, true>(s),
            };
            Some(Flow::Next)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::fp::SimdFp;

    #[test]
    fn integer_conversions_round_truncate_and_saturate_to_the_indefinite() {
        let v = |x: [f32; 4]| from_f32s(x.map(|v| F32(v.to_bits())));
        let mut c = Ctx::sse(0x1F80);
        let r = Cvtps2dq::op(&mut c, 0, v([2.5, -1.5, 3e9, f32::NAN]), 0);
        assert_eq!(r, join(&[2, -2, i32::MIN, i32::MIN]));
        assert!(c.flags.contains(Exc::IE | Exc::PE));
        let mut c = Ctx::sse(0x1F80);
        let r = Cvttps2dq::op(&mut c, 0, v([2.9, -1.9, 0.0, -0.0]), 0);
        assert_eq!(r, join(&[2, -1, 0, 0]));
        assert_eq!(c.flags, Exc::PE);
        let r = Cvtdq2ps::op(&mut c, 0, join(&[1, -2, 16_777_217, 0]), 0);
        assert_eq!(r, v([1.0, -2.0, 16_777_216.0, 0.0]));
        let r = Cvtpd2ps::op(
            &mut c,
            !0,
            from_f64s([F64(1.5f64.to_bits()), F64(1e300f64.to_bits())]),
            0,
        );
        assert_eq!(r, v([1.5, f32::INFINITY, 0.0, 0.0]));
        assert!(c.flags.contains(Exc::OE));
    }

    fn join(d: &[i32; 4]) -> u128 {
        d.iter()
            .rev()
            .fold(0u128, |v, x| v << 32 | *x as u32 as u128)
    }
}
