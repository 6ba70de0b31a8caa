//! Multiplication.

use super::round::round_to;
use super::{nan, Class, Ctx, Float, Unpacked};

/// a × b.
pub fn mul<F: Float>(ctx: &mut Ctx, a: F, b: F) -> F {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    mul_unpacked(ctx, &ua, &ub)
}

/// a × b of unpacked operands, rounded to `F`.
pub fn mul_unpacked<F: Float>(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked) -> F {
    if let Some(r) = nan::two::<F>(ctx, a, b) {
        return r;
    }
    nan::denormals(ctx, &[a, b]);
    ctx.up = false;
    let sign = a.sign ^ b.sign;
    match (a.class, b.class) {
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf) => nan::invalid(ctx),
        (Class::Inf, _) | (_, Class::Inf) => F::special(&Unpacked::inf(sign)),
        (Class::Zero, _) | (_, Class::Zero) => F::special(&Unpacked::zero(sign)),
        _ => {
            // The product of two 64-bit significands is exact in 128 bits; bit 126 weighs
            // 2^(ea + eb).
            let p = a.sig as u128 * b.sig as u128;
            round_to(ctx, sign, a.exp + b.exp + 1, p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Exc, Round, F32, F64, F80};

    #[test]
    fn products_round_and_signal() {
        let mut c = Ctx::new();
        // 3 * 5 = 15.
        assert_eq!(
            mul(&mut c, F32(0x4040_0000), F32(0x40A0_0000)),
            F32(0x4170_0000)
        );
        assert_eq!(c.flags, Exc::empty());
        // (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46: rounds to 1 + 2^-22.
        assert_eq!(
            mul(&mut c, F32(0x3F80_0001), F32(0x3F80_0001)),
            F32(0x3F80_0002)
        );
        assert_eq!(c.flags, Exc::PE);
        // 0 * inf: invalid.
        let mut c = Ctx::new();
        assert_eq!(
            mul(&mut c, F64(0), F64(0xFFF0_0000_0000_0000)),
            F64::INDEFINITE
        );
        assert_eq!(c.flags, Exc::IE);
        // -0 * 5 = -0.
        assert_eq!(
            mul(&mut c, F64(1 << 63), F64(0x4014_0000_0000_0000)),
            F64(1 << 63)
        );
        // 2^-1000 * 2^-100 underflows to a denormal: 2^-1100 is below 2^-1074: zero, UE|PE.
        let mut c = Ctx::new();
        let r = mul(
            &mut c,
            F64(((1023 - 1000) as u64) << 52),
            F64(((1023 - 100) as u64) << 52),
        );
        assert_eq!(r, F64(0));
        assert_eq!(c.flags, Exc::UE | Exc::PE);
        // Rounding up gives the smallest denormal.
        let mut c = Ctx {
            round: Round::Up,
            ..Ctx::new()
        };
        let r = mul(
            &mut c,
            F64(((1023 - 1000) as u64) << 52),
            F64(((1023 - 100) as u64) << 52),
        );
        assert_eq!(r, F64(1));
        assert!(c.up);
    }

    #[test]
    fn extended_products_use_all_64_bits() {
        let mut c = Ctx::new();
        let x = F80 {
            se: 0x3FFF,
            m: 0xFFFF_FFFF_FFFF_FFFF,
        };
        // (2 - 2^-63)^2 = 4 - 2^-61 + 2^-126: rounds to 4 - 2^-61 (exact in 64 bits at exp 1).
        let r = mul(&mut c, x, x);
        assert_eq!(
            r,
            F80 {
                se: 0x4000,
                m: 0xFFFF_FFFF_FFFF_FFFE
            }
        );
        assert_eq!(c.flags, Exc::PE);
    }
}
