//! Addition and subtraction (IEEE 754 6.3 for the signs of zero sums).

use super::round::round_to;
use super::{nan, shr_jam128, Class, Ctx, Float, Round, Unpacked};

/// a + b.
pub fn add<F: Float>(ctx: &mut Ctx, a: F, b: F) -> F {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    add_unpacked(ctx, &ua, &ub, false)
}

/// a − b.
pub fn sub<F: Float>(ctx: &mut Ctx, a: F, b: F) -> F {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    add_unpacked(ctx, &ua, &ub, true)
}

/// a + b (or a − b with `negate_b`) of unpacked operands, rounded to `F`.
pub fn add_unpacked<F: Float>(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked, negate_b: bool) -> F {
    if let Some(r) = nan::two::<F>(ctx, a, b) {
        return r;
    }
    nan::denormals(ctx, &[a, b]);
    let bsign = b.sign ^ negate_b;
    ctx.up = false;
    match (a.class, b.class) {
        (Class::Inf, Class::Inf) => {
            if a.sign != bsign {
                nan::invalid(ctx)
            } else {
                F::special(a)
            }
        }
        (Class::Inf, _) => F::special(a),
        (_, Class::Inf) => F::special(&Unpacked::inf(bsign)),
        (Class::Zero, Class::Zero) => {
            let sign = if a.sign == bsign {
                a.sign
            } else {
                ctx.round == Round::Down
            };
            F::special(&Unpacked::zero(sign))
        }
        // x + 0 still rounds x to the destination precision.
        (Class::Zero, _) => round_to(ctx, bsign, b.exp, (b.sig as u128) << 64),
        (_, Class::Zero) => round_to(ctx, a.sign, a.exp, (a.sig as u128) << 64),
        _ => {
            let (sign, exp, sig) = add_finite(a.sign, a.exp, a.sig, bsign, b.exp, b.sig);
            if sig == 0 {
                return F::special(&Unpacked::zero(ctx.round == Round::Down));
            }
            round_to(ctx, sign, exp, sig)
        }
    }
}

/// The exact-with-sticky sum of two finite nonzero values (significands with bit 63 set):
/// (sign, exp, sig) with value sig · 2^(exp − 127) before normalization by `round_to`.
/// An exact zero comes back as `sig == 0`.
pub fn add_finite(sa: bool, ea: i32, ma: u64, sb: bool, eb: i32, mb: u64) -> (bool, i32, u128) {
    // The larger magnitude first; both at bit 126, so a carry fits.
    let (sa, ea, ma, sb, eb, mb) = if (ea, ma) >= (eb, mb) {
        (sa, ea, ma, sb, eb, mb)
    } else {
        (sb, eb, mb, sa, ea, ma)
    };
    let x = (ma as u128) << 63;
    let d = (ea - eb) as u32;
    let y = shr_jam128((mb as u128) << 63, d);
    let s = if sa == sb { x + y } else { x - y };
    // Bit 126 weighs 2^ea, so with bit 127 as the reference the exponent is ea + 1.
    (sa, ea + 1, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Exc, Precision, F32, F64, F80};

    fn c(round: Round) -> Ctx {
        Ctx {
            round,
            ..Ctx::new()
        }
    }

    #[test]
    fn binary32_sums() {
        let mut x = c(Round::Nearest);
        // 1 + 2^-24: halfway, even: 1.0, inexact.
        assert_eq!(
            add(&mut x, F32(0x3F80_0000), F32(0x3380_0000)),
            F32(0x3F80_0000)
        );
        assert_eq!(x.flags, Exc::PE);
        // 1 + 1 = 2.
        let mut x = c(Round::Nearest);
        assert_eq!(
            add(&mut x, F32(0x3F80_0000), F32(0x3F80_0000)),
            F32(0x4000_0000)
        );
        assert_eq!(x.flags, Exc::empty());
        // 1 - 1 = +0, but -0 when rounding down.
        assert_eq!(sub(&mut x, F32(0x3F80_0000), F32(0x3F80_0000)), F32(0));
        let mut x = c(Round::Down);
        assert_eq!(
            sub(&mut x, F32(0x3F80_0000), F32(0x3F80_0000)),
            F32(0x8000_0000)
        );
        // -0 + -0 = -0 in every mode; +0 + -0 = +0 except rounding down.
        let mut x = c(Round::Nearest);
        assert_eq!(
            add(&mut x, F32(0x8000_0000), F32(0x8000_0000)),
            F32(0x8000_0000)
        );
        assert_eq!(add(&mut x, F32(0), F32(0x8000_0000)), F32(0));
        // The smallest denormals: 2^-149 + 2^-149 = 2^-148, exact, #DE raised.
        let mut x = c(Round::Nearest);
        assert_eq!(add(&mut x, F32(1), F32(1)), F32(2));
        assert_eq!(x.flags, Exc::DE);
        // Largest normal + 1 ulp/2 -> overflow to infinity (halfway, odd).
        let mut x = c(Round::Nearest);
        assert_eq!(
            add(&mut x, F32(0x7F7F_FFFF), F32(0x7380_0000)),
            F32(0x7F80_0000)
        );
        assert_eq!(x.flags, Exc::OE | Exc::PE);
        // inf - inf: invalid, the default NaN.
        let mut x = c(Round::Nearest);
        assert_eq!(
            sub(&mut x, F32(0x7F80_0000), F32(0x7F80_0000)),
            F32(0xFFC0_0000)
        );
        assert_eq!(x.flags, Exc::IE);
    }

    #[test]
    fn sticky_bits_survive_a_far_smaller_operand() {
        // 1 - 2^-200 in binary64: rounds to 1 in nearest, to 1 - 2^-53 toward zero.
        let one = F64(0x3FF0_0000_0000_0000);
        let tiny = F64(((1023 - 200) as u64) << 52);
        let mut x = c(Round::Nearest);
        assert_eq!(sub(&mut x, one, tiny), one);
        assert_eq!(x.flags, Exc::PE);
        let mut x = c(Round::Zero);
        assert_eq!(sub(&mut x, one, tiny), F64(0x3FEF_FFFF_FFFF_FFFF));
        let mut x = c(Round::Up);
        assert_eq!(add(&mut x, one, tiny), F64(0x3FF0_0000_0000_0001));
    }

    #[test]
    fn extended_sums_honour_precision_control() {
        // 1 + 2^-30 at 24-bit precision is 1 (inexact); at 64 bits it is exact.
        let one = F80::ONE;
        let small = F80 {
            se: 0x3FFF - 30,
            m: 1 << 63,
        };
        let mut x = Ctx {
            prec: Precision::Single,
            ..Ctx::new()
        };
        assert_eq!(add(&mut x, one, small), one);
        assert_eq!(x.flags, Exc::PE);
        let mut x = Ctx::new();
        assert_eq!(
            add(&mut x, one, small),
            F80 {
                se: 0x3FFF,
                m: 1 << 63 | 1 << 33
            }
        );
        assert_eq!(x.flags, Exc::empty());
        // Precision control also rounds x + 0.
        let mut x = Ctx {
            prec: Precision::Double,
            round: Round::Up,
            ..Ctx::new()
        };
        let r = add(
            &mut x,
            F80 {
                se: 0x3FFF,
                m: 1 << 63 | 1,
            },
            F80::ZERO,
        );
        assert_eq!(
            r,
            F80 {
                se: 0x3FFF,
                m: 1 << 63 | 1 << 11
            }
        );
        assert!(x.up);
    }
}
