//! Rounding to an integral value in the same format (FRNDINT, ROUNDSS/ROUNDSD).

use super::convert::round_int;
use super::round::round_fmt;
use super::{nan, Class, Ctx, Float, Round, Unpacked};

/// `a` rounded to an integer in mode `round`; PE when inexact.
pub fn round_to_int<F: Float>(ctx: &mut Ctx, a: F, round: Round) -> F {
    let mut u = a.unpack(ctx);
    // FRNDINT raises #DE for a denormal; ROUNDSS/ROUNDSD do not.
    u.denormal &= F::REGISTER;
    round_to_int_unpacked(ctx, &u, round)
}

/// [`round_to_int`] of an unpacked value.
pub fn round_to_int_unpacked<F: Float>(ctx: &mut Ctx, u: &Unpacked, round: Round) -> F {
    if let Some(r) = nan::one::<F>(ctx, u) {
        return r;
    }
    ctx.up = false;
    match u.class {
        Class::Finite if u.exp < 63 => {
            let Some((sign, mag)) = round_int(ctx, u, round) else {
                return F::special(u);
            };
            let up = ctx.up;
            let r = round_fmt(ctx, &F::FULL, sign, 63, mag << 64);
            ctx.up = up;
            r
        }
        Class::Finite => {
            // Already an integer: only the denormal check and the packing (exact).
            nan::denormals(ctx, &[u]);
            round_fmt(ctx, &F::FULL, u.sign, u.exp, (u.sig as u128) << 64)
        }
        _ => F::special(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Exc, F64, F80};

    #[test]
    fn rounds_to_integers_keeping_the_sign_of_zero() {
        let mut c = Ctx::new();
        // 2.5 -> 2 nearest; -0.4 -> -0.
        assert_eq!(
            round_to_int(&mut c, F64(0x4004_0000_0000_0000), Round::Nearest),
            F64(0x4000_0000_0000_0000)
        );
        assert_eq!(
            round_to_int(&mut c, F64(0xBFD9_9999_9999_999A), Round::Nearest),
            F64(1 << 63)
        );
        assert_eq!(c.flags, Exc::PE);
        // -0.4 rounded down is -1.
        assert_eq!(
            round_to_int(&mut c, F64(0xBFD9_9999_9999_999A), Round::Down),
            F64(0xBFF0_0000_0000_0000)
        );
        // 2^63 - 0.5 in extended rounds to 2^63 (up, nearest-even).
        let mut c = Ctx::new();
        let x = F80 {
            se: 0x403D,
            m: u64::MAX,
        };
        assert_eq!(
            round_to_int(&mut c, x, Round::Nearest),
            F80 {
                se: 0x403E,
                m: 1 << 63
            }
        );
    }
}
