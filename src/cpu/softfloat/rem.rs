//! The x87 partial remainders FPREM (quotient truncated) and FPREM1 (IEEE remainder,
//! quotient rounded to nearest), exact, with the partial reduction for exponent differences
//! of 64 and more (SDM Vol. 2A FPREM/FPREM1).

use super::round::round_fmt;
use super::{nan, Class, Ctx, Float, F80};

/// The outcome of one FPREM/FPREM1 step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remainder {
    /// The (partial) remainder.
    pub value: F80,
    /// The low bits of the quotient (C0 = Q2, C3 = Q1, C1 = Q0).
    pub quotient: u64,
    /// The reduction is complete (C2 clear).
    pub complete: bool,
    /// A quotient was computed (finite nonzero operands); for NaNs, infinities, zeros and
    /// invalid operations the x87 leaves C0 and C3 alone (the host-diff runs).
    pub divided: bool,
}

/// ST(0) rem ST(1): `nearest` selects FPREM1.
pub fn fprem(ctx: &mut Ctx, a: F80, b: F80, nearest: bool) -> Remainder {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    let done = |value| Remainder {
        value,
        quotient: 0,
        complete: true,
        divided: false,
    };
    if let Some(r) = nan::two::<F80>(ctx, &ua, &ub) {
        return done(r);
    }
    ctx.up = false;
    match (ua.class, ub.class) {
        // #IA takes precedence over #DE.
        (Class::Inf, _) | (_, Class::Zero) => return done(nan::invalid(ctx)),
        (Class::Zero, _) => {
            nan::denormals(ctx, &[&ub]);
            return Remainder {
                divided: true,
                ..done(a)
            };
        }
        (_, Class::Inf) => {
            nan::denormals(ctx, &[&ua]);
            // ST(0) stays; the quotient is 0 (C0, C3, C1 cleared).
            let value = round_fmt(ctx, &F80::FMT, ua.sign, ua.exp, (ua.sig as u128) << 64);
            return Remainder {
                divided: true,
                ..done(value)
            };
        }
        _ => {}
    }
    nan::denormals(ctx, &[&ua, &ub]);
    let d = ua.exp - ub.exp;
    let (big_a, big_b) = (ua.sig as u128, ub.sig as u128);
    if d >= 64 {
        // Partial: reduce by N = 32 + (D mod 32) bits with a truncated quotient.
        let n = 32 + (d & 31);
        let num = big_a << n;
        let r = num % big_b;
        let q = num / big_b;
        // r weighs 2^(eb + D − N − 63).
        let value = if r == 0 {
            F80::zero(ua.sign)
        } else {
            round_fmt(ctx, &F80::FMT, ua.sign, ub.exp + d - n + 64, r)
        };
        return Remainder {
            value,
            quotient: q as u64,
            complete: false,
            divided: true,
        };
    }
    let lowest = if nearest { -1 } else { 0 };
    if d < lowest {
        return Remainder {
            divided: true,
            ..done(round_fmt(ctx, &F80::FMT, ua.sign, ua.exp, big_a << 64))
        };
    }
    // In units of 2^(eb − 64): A' = A · 2^(D+1), B' = 2B.
    let num = big_a << (d + 1) as u32;
    let den = big_b << 1;
    let mut q = num / den;
    let mut r = num % den;
    let mut sign = ua.sign;
    if nearest && (2 * r > den || (2 * r == den && q & 1 == 1)) {
        r = den - r;
        q += 1;
        sign = !sign;
    }
    let value = if r == 0 {
        F80::zero(ua.sign)
    } else {
        round_fmt(ctx, &F80::FMT, sign, ub.exp + 63, r)
    };
    Remainder {
        value,
        quotient: q as u64,
        complete: true,
        divided: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{convert::from_int, Exc};

    fn int(v: i64) -> F80 {
        from_int(&mut Ctx::new(), v)
    }

    #[test]
    fn remainders_and_quotient_bits() {
        let mut c = Ctx::new();
        // 17 rem 5 = 2, quotient 3; FPREM1: 17 - 15 = 2 too (3.4 rounds to 3).
        let r = fprem(&mut c, int(17), int(5), false);
        assert_eq!((r.value, r.quotient, r.complete), (int(2), 3, true));
        let r = fprem(&mut c, int(18), int(5), true);
        assert_eq!(
            (r.value, r.quotient),
            (int(-2), 4),
            "18/5 = 3.6 rounds to 4"
        );
        // -7 rem 2 = -1 (truncated quotient 3); FPREM1: -7/2 = -3.5 -> -4: -7 + 8 = 1.
        let r = fprem(&mut c, int(-7), int(2), false);
        assert_eq!((r.value, r.quotient), (int(-1), 3));
        let r = fprem(&mut c, int(-7), int(2), true);
        assert_eq!((r.value, r.quotient), (int(1), 4));
        // An exact multiple gives a zero with the dividend's sign.
        let r = fprem(&mut c, int(-6), int(3), false);
        assert_eq!(r.value, F80::zero(true));
        assert_eq!(c.flags, Exc::empty());
        // 1 rem 3: 1 (quotient 0); FPREM1: 1 (1/3 rounds to 0); 2 rem1 3 = -1.
        let r = fprem(&mut c, int(2), int(3), true);
        assert_eq!((r.value, r.quotient), (int(-1), 1));
    }

    #[test]
    fn large_exponent_differences_reduce_partially() {
        let mut c = Ctx::new();
        let big = F80 {
            se: 0x3FFF + 100,
            m: 1 << 63,
        };
        let r = fprem(&mut c, big, int(3), false);
        assert!(!r.complete);
        assert!(r.value.exp() < big.exp());
        // Iterating finishes with 2^100 mod 3 = 1.
        let mut v = big;
        for _ in 0..10 {
            let r = fprem(&mut c, v, int(3), false);
            v = r.value;
            if r.complete {
                break;
            }
        }
        assert_eq!(v, int(1));
    }

    #[test]
    fn special_operands() {
        let mut c = Ctx::new();
        assert_eq!(
            fprem(&mut c, F80::inf(false), int(3), false).value,
            F80::INDEFINITE
        );
        assert_eq!(c.flags, Exc::IE);
        let mut c = Ctx::new();
        assert_eq!(fprem(&mut c, int(5), F80::inf(true), false).value, int(5));
        assert_eq!(
            fprem(&mut c, F80::zero(true), int(3), false).value,
            F80::zero(true)
        );
        assert_eq!(c.flags, Exc::empty());
    }
}
