//! Floating-point compares: CMPPS/CMPPD/CMPSS/CMPSD with the eight predicates of `imm[2:0]`
//! (all ones or all zeros per lane), and COMISS/COMISD/UCOMISS/UCOMISD into ZF, PF, CF
//! (OF, SF, AF cleared). The "less" predicates and COMIS* signal #IA on any NaN, the others
//! only on an SNaN (SDM Vol. 2A CMPPS Table 3-1, COMISS).

use iced_x86::Mnemonic as M;

use super::fp::{commit, pd, ps, sd, simd_fp, ss};
use super::{load, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::bit;
use crate::cpu::softfloat::{compare::compare, compare::Relation, Ctx, Float, F32, F64};
use crate::cpu::{Cpu, Handler, Op};

/// Whether predicate `p` holds for `rel`, and whether it signals on a QNaN.
#[inline(always)]
fn predicate(p: u8) -> (fn(Relation) -> bool, bool) {
    use Relation::*;
    match p & 7 {
        0 => (|r| r == Equal, false),
        1 => (|r| r == Less, true),
        2 => (|r| r == Less || r == Equal, true),
        3 => (|r| r == Unordered, false),
        4 => (|r| r != Equal, false),
        5 => (|r| r != Less, true),
        6 => (|r| !(r == Less || r == Equal), true),
        _ => (|r| r != Unordered, false),
    }
}

/// One lane of CMPxx: all ones where the predicate holds.
#[inline(always)]
fn cmp<F: Float>(ctx: &mut Ctx, x: F, y: F, imm: u8, ones: F, zero: F) -> F {
    let (holds, signaling) = predicate(imm);
    if holds(compare(ctx, x, y, signaling)) {
        ones
    } else {
        zero
    }
}

fp_op!(Cmpps, |c, a, b, i| ps(c, a, b, |c, x, y| cmp(
    c,
    x,
    y,
    i,
    F32(!0),
    F32(0)
)));
fp_op!(Cmppd, |c, a, b, i| pd(c, a, b, |c, x, y| cmp(
    c,
    x,
    y,
    i,
    F64(!0),
    F64(0)
)));
fp_op!(Cmpss, |c, a, b, i| ss(c, a, b, |c, x, y| cmp(
    c,
    x,
    y,
    i,
    F32(!0),
    F32(0)
)));
fp_op!(Cmpsd, |c, a, b, i| sd(c, a, b, |c, x, y| cmp(
    c,
    x,
    y,
    i,
    F64(!0),
    F64(0)
)));

/// COMISS/UCOMISS (`DOUBLE` false) and COMISD/UCOMISD: the flags of the low lanes;
/// `SIGNALING` for COMIS* (a QNaN is invalid too).
fn comis<const DOUBLE: bool, const SIGNALING: bool, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let rel = if DOUBLE {
        compare(&mut ctx, F64(a as u64), F64(b as u64), SIGNALING)
    } else {
        compare(&mut ctx, F32(a as u32), F32(b as u32), SIGNALING)
    };
    commit(cpu, &ctx)?;
    let f = match rel {
        Relation::Unordered => bit::ZF | bit::PF | bit::CF,
        Relation::Greater => 0,
        Relation::Less => bit::CF,
        Relation::Equal => bit::ZF,
    };
    cpu.flags.set_arith(bit::ARITH, f);
    Ok(())
}

fn comis_handler<const D: bool, const SIG: bool>(s: u8) -> Handler {
    match s {
        src::REG => comis::<D, SIG, { src::REG }>,
        src::M64 => comis::<D, SIG, { src::M64 }>,
        _ => comis::<D, SIG, { src::M32 }>,
    }
}

/// Decodes the floating-point compares.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let m = d.ins.mnemonic();
    match m {
        M::Cmpps => simd_fp::<Cmpps>(d, op),
        M::Cmppd => simd_fp::<Cmppd>(d, op),
        M::Cmpss => simd_fp::<Cmpss>(d, op),
        M::Cmpsd => simd_fp::<Cmpsd>(d, op),
        M::Comiss | M::Ucomiss | M::Comisd | M::Ucomisd => {
            op.r = super::vreg(d.ins.op0_register());
            let s = super::source(d, op, 1, false);
            op.run = match m {
                M::Comiss => comis_handler::<false, true>(s),
                M::Ucomiss => comis_handler::<false, false>(s),
                M::Comisd => comis_handler::<true, true>(s),
                _ => comis_handler::<true, false>(s),
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
    use crate::cpu::softfloat::Exc;

    #[test]
    fn predicates_and_their_nan_signalling() {
        let one = 1.0f32.to_bits() as u128;
        let two = 2.0f32.to_bits() as u128;
        let qnan = 0x7FC0_0000u128;
        let mut c = Ctx::sse(0x1F80);
        let want = [0, !0u32, !0, 0, !0, 0, 0, !0];
        for (p, w) in want.iter().enumerate() {
            assert_eq!(
                Cmpss::op(&mut c, one, two, p as u8) as u32,
                *w,
                "predicate {p}"
            );
        }
        assert!(c.flags.is_empty());
        assert_eq!(
            Cmpss::op(&mut c, qnan, one, 0) as u32,
            0,
            "EQ with a QNaN: false, quiet"
        );
        assert!(c.flags.is_empty());
        assert_eq!(Cmpss::op(&mut c, qnan, one, 3) as u32, !0, "UNORD");
        assert_eq!(Cmpss::op(&mut c, qnan, one, 1) as u32, 0);
        assert_eq!(c.flags, Exc::IE, "LT signals on a QNaN");
        assert_eq!(Cmpss::op(&mut c, 0, 1 << 31, 0) as u32, !0, "+0 = -0");
    }
}
