//! Division: a 128-bit quotient by two 128/64 long-division steps, the remainder as sticky.

use super::round::round_to;
use super::{nan, Class, Ctx, Exc, Float, Unpacked};

/// a ÷ b.
pub fn div<F: Float>(ctx: &mut Ctx, a: F, b: F) -> F {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    div_unpacked(ctx, &ua, &ub)
}

/// a ÷ b of unpacked operands, rounded to `F`.
pub fn div_unpacked<F: Float>(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked) -> F {
    if let Some(r) = nan::two::<F>(ctx, a, b) {
        return r;
    }
    ctx.up = false;
    let sign = a.sign ^ b.sign;
    // A zero divisor raises #Z alone, even with a denormal dividend.
    if b.class != Class::Zero {
        nan::denormals(ctx, &[a, b]);
    }
    match (a.class, b.class) {
        (Class::Inf, Class::Inf) | (Class::Zero, Class::Zero) => nan::invalid(ctx),
        (Class::Inf, _) => F::special(&Unpacked::inf(sign)),
        (_, Class::Inf) => F::special(&Unpacked::zero(sign)),
        (Class::Zero, _) => F::special(&Unpacked::zero(sign)),
        (_, Class::Zero) => {
            ctx.raise(Exc::ZE);
            F::special(&Unpacked::inf(sign))
        }
        _ => {
            let (exp, sig) = div_sig(a.exp, a.sig, b.exp, b.sig);
            round_to(ctx, sign, exp, sig)
        }
    }
}

/// The quotient of two normalized significands as (exp, sig) with value sig · 2^(exp − 127),
/// bit 0 sticky.
pub fn div_sig(ea: i32, ma: u64, eb: i32, mb: u64) -> (i32, u128) {
    let b = mb as u128;
    // Keep the first quotient digit below 2^64: halve the dividend when it is the larger.
    let (num, exp) = if ma >= mb {
        ((ma as u128) << 63, ea - eb)
    } else {
        ((ma as u128) << 64, ea - eb - 1)
    };
    let q1 = num / b;
    let r1 = num % b;
    let n2 = r1 << 64;
    let q2 = n2 / b;
    let r2 = n2 % b;
    (exp, q1 << 64 | q2 | (r2 != 0) as u128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Round, F32, F64, F80};

    #[test]
    fn quotients() {
        let mut c = Ctx::new();
        // 1/3 in binary32: 0x3EAAAAAB (rounded up), inexact.
        assert_eq!(
            div(&mut c, F32(0x3F80_0000), F32(0x4040_0000)),
            F32(0x3EAA_AAAB)
        );
        assert_eq!(c.flags, Exc::PE);
        assert!(c.up);
        let mut c = Ctx {
            round: Round::Zero,
            ..Ctx::new()
        };
        assert_eq!(
            div(&mut c, F32(0x3F80_0000), F32(0x4040_0000)),
            F32(0x3EAA_AAAA)
        );
        // 1/3 in binary64.
        let mut c = Ctx::new();
        assert_eq!(
            div(
                &mut c,
                F64(0x3FF0_0000_0000_0000),
                F64(0x4008_0000_0000_0000)
            ),
            F64(0x3FD5_5555_5555_5555)
        );
        // 1/3 in extended: 0xAAAA...AAAB at exponent -2.
        let three = F80 {
            se: 0x4000,
            m: 0xC000_0000_0000_0000,
        };
        assert_eq!(
            div(&mut c, F80::ONE, three),
            F80 {
                se: 0x3FFD,
                m: 0xAAAA_AAAA_AAAA_AAAB
            }
        );
        // 6 / 3 = 2 exactly.
        let mut c = Ctx::new();
        let six = F80 {
            se: 0x4001,
            m: 0xC000_0000_0000_0000,
        };
        assert_eq!(
            div(&mut c, six, three),
            F80 {
                se: 0x4000,
                m: 1 << 63
            }
        );
        assert_eq!(c.flags, Exc::empty());
    }

    #[test]
    fn zero_and_infinity_cases() {
        let mut c = Ctx::new();
        assert_eq!(div(&mut c, F32(0xBF80_0000), F32(0)), F32(0xFF80_0000));
        assert_eq!(c.flags, Exc::ZE);
        let mut c = Ctx::new();
        assert_eq!(div(&mut c, F32(0), F32(0)), F32::INDEFINITE);
        assert_eq!(c.flags, Exc::IE);
        let mut c = Ctx::new();
        assert_eq!(
            div(&mut c, F32(0x3F80_0000), F32(0xFF80_0000)),
            F32(0x8000_0000)
        );
        assert_eq!(c.flags, Exc::empty());
    }
}
