//! Square root, digit by digit: 66 root bits and the remainder as sticky (a square root is
//! never exactly halfway, so that decides every rounding).

use super::round::round_to;
use super::{nan, Class, Ctx, Float, Unpacked};

/// √a.
pub fn sqrt<F: Float>(ctx: &mut Ctx, a: F) -> F {
    let ua = a.unpack(ctx);
    sqrt_unpacked(ctx, &ua)
}

/// √a of an unpacked operand, rounded to `F`.
pub fn sqrt_unpacked<F: Float>(ctx: &mut Ctx, a: &Unpacked) -> F {
    if let Some(r) = nan::one::<F>(ctx, a) {
        return r;
    }
    ctx.up = false;
    match a.class {
        Class::Zero => F::special(a),
        Class::Inf if !a.sign => F::special(a),
        // #IA takes precedence over #DE (a negative denormal raises only #IA).
        _ if a.sign => nan::invalid(ctx),
        _ => {
            nan::denormals(ctx, &[a]);
            let (exp, sig) = sqrt_sig(a.exp, a.sig);
            round_to(ctx, false, exp, sig)
        }
    }
}

/// The square root of sig · 2^(exp − 63) as (exp, sig) with value sig · 2^(exp − 127),
/// bit 0 sticky.
pub fn sqrt_sig(exp: i32, sig: u64) -> (i32, u128) {
    // value = X · 2^e2 with e2 even, X = sig or 2·sig.
    let e = exp - 63;
    let (x, e2) = if e & 1 != 0 {
        ((sig as u128) << 1, e - 1)
    } else {
        (sig as u128, e)
    };
    // X has at most 65 bits: 33 digit pairs. Take ROOT_BITS root bits, padding X with zero
    // pairs: root = floor(sqrt(X · 4^(ROOT_BITS − 33))).
    const ROOT_BITS: u32 = 68;
    const PAIRS: u32 = 33;
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for i in 0..ROOT_BITS {
        let pair = if i < PAIRS {
            (x >> (2 * (PAIRS - 1 - i))) & 3
        } else {
            0
        };
        rem = rem << 2 | pair;
        let trial = root << 2 | 1;
        if rem >= trial {
            rem -= trial;
            root = root << 1 | 1;
        } else {
            root <<= 1;
        }
    }
    // sqrt(value) = root · 2^(e2/2 − (ROOT_BITS − PAIRS)).
    let sig = root << 1 | (rem != 0) as u128;
    // sig · 2^(e2/2 − 35 − 1) = sig · 2^(exp' − 127).
    (e2 / 2 - (ROOT_BITS - PAIRS) as i32 - 1 + 127, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Exc, F32, F64, F80};

    #[test]
    fn roots() {
        let mut c = Ctx::new();
        assert_eq!(sqrt(&mut c, F32(0x4080_0000)), F32(0x4000_0000)); // sqrt 4 = 2
        assert_eq!(c.flags, Exc::empty());
        assert_eq!(sqrt(&mut c, F32(0x4000_0000)), F32(0x3FB5_04F3)); // sqrt 2
        assert_eq!(c.flags, Exc::PE);
        let mut c = Ctx::new();
        assert_eq!(
            sqrt(&mut c, F64(0x4000_0000_0000_0000)),
            F64(0x3FF6_A09E_667F_3BCD)
        );
        // sqrt 2 in extended: 0xB504F333F9DE6484 (the next bits 597D... round down).
        let two = F80 {
            se: 0x4000,
            m: 1 << 63,
        };
        assert_eq!(
            sqrt(&mut c, two),
            F80 {
                se: 0x3FFF,
                m: 0xB504_F333_F9DE_6484
            }
        );
        // sqrt -0 = -0; sqrt -1 invalid.
        let mut c = Ctx::new();
        assert_eq!(sqrt(&mut c, F32(0x8000_0000)), F32(0x8000_0000));
        assert_eq!(c.flags, Exc::empty());
        assert_eq!(sqrt(&mut c, F32(0xBF80_0000)), F32::INDEFINITE);
        assert_eq!(c.flags, Exc::IE);
        // The smallest denormal: sqrt(2^-149) = 2^-74.5.
        let mut c = Ctx::new();
        let r = sqrt(&mut c, F32(1));
        assert_eq!(r, F32(0x1A35_04F3));
        assert_eq!(c.flags, Exc::DE | Exc::PE);
    }
}
