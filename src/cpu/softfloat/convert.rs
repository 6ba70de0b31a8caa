//! Conversions between the formats and to and from integers (SDM Vol. 1 4.8.3.7 for the
//! integer indefinite; Vol. 2 FIST/FISTTP/CVTSS2SD/CVTSD2SI...).

use super::round::round_fmt;
use super::{nan, Class, Ctx, Exc, Float, Round, Unpacked};

/// Converts `a` to format `G`, rounding as `ctx` says (exact when widening).
pub fn convert<F: Float, G: Float>(ctx: &mut Ctx, a: F) -> G {
    let mut u = a.unpack(ctx);
    // The x87 raises no #DE when it stores a register (FST m32/m64 of a denormal).
    u.denormal &= !F::REGISTER;
    convert_unpacked(ctx, &u)
}

/// Converts an unpacked value to `G`.
pub fn convert_unpacked<G: Float>(ctx: &mut Ctx, u: &Unpacked) -> G {
    if let Some(r) = nan::one::<G>(ctx, u) {
        return r;
    }
    nan::denormals(ctx, &[u]);
    ctx.up = false;
    match u.class {
        Class::Finite => round_fmt(ctx, &G::FULL, u.sign, u.exp, (u.sig as u128) << 64),
        _ => G::special(u),
    }
}

/// The signed integer `v` as a `G`, rounded as `ctx` says (exact for the 80-bit format).
pub fn from_int<G: Float>(ctx: &mut Ctx, v: i64) -> G {
    ctx.up = false;
    if v == 0 {
        return G::special(&Unpacked::zero(false));
    }
    round_fmt(ctx, &G::FULL, v < 0, 63, (v.unsigned_abs() as u128) << 64)
}

/// The unsigned integer `v` as a `G`.
pub fn from_uint<G: Float>(ctx: &mut Ctx, v: u64) -> G {
    ctx.up = false;
    if v == 0 {
        return G::special(&Unpacked::zero(false));
    }
    round_fmt(ctx, &G::FULL, false, 63, (v as u128) << 64)
}

/// The integer nearest `u` in rounding mode `round` as (sign, magnitude), or `None` when it
/// is a NaN or an infinity or its magnitude reaches 2^64 (nothing is raised for that here).
/// Raises #DE for a denormal and PE for an inexact result, and sets [`Ctx::up`].
pub fn round_int(ctx: &mut Ctx, u: &Unpacked, round: Round) -> Option<(bool, u128)> {
    ctx.up = false;
    match u.class {
        Class::Zero => return Some((u.sign, 0)),
        Class::Finite => {}
        _ => return None,
    }
    nan::denormals(ctx, &[u]);
    if u.exp >= 64 {
        return None;
    }
    // value = sig · 2^(exp − 63): the integer part is sig >> (63 − exp).
    let x = (u.sig as u128) << 64;
    let s = (127 - u.exp) as u32;
    let (int, rem, half) = if s >= 128 {
        (0u128, x, if s == 128 { 1u128 << 127 } else { 0 })
    } else {
        (x >> s, x & ((1u128 << s) - 1), 1u128 << (s - 1))
    };
    let inexact = rem != 0;
    let inc = match round {
        Round::Nearest => s <= 128 && (rem > half || (rem == half && int & 1 == 1)),
        Round::Zero => false,
        Round::Up => !u.sign && inexact,
        Round::Down => u.sign && inexact,
    };
    if inexact {
        ctx.up = inc;
    }
    let int = int + inc as u128;
    if int >> 64 != 0 {
        ctx.up = false;
        return None;
    }
    if inexact {
        ctx.raise(Exc::PE);
    }
    Some((u.sign, int))
}

/// Converts to a signed integer of `bits` (16, 32, 64) in rounding mode `round` (the
/// x87 FIST, FISTTP with `Round::Zero`, and SSE CVT*2SI/CVTT*2SI). Out of range, a NaN or
/// an infinity raise #IA and give the integer indefinite (only the sign bit set), which the
/// caller stores only when #IA is masked. Returns the value as the low `bits` bits.
pub fn to_int<F: Float>(ctx: &mut Ctx, a: F, bits: u32, round: Round) -> u64 {
    let mut u = a.unpack(ctx);
    // Conversions to integers raise no #DE (FIST, FISTTP, CVT*2SI: SDM Vol. 2 exception
    // lists; the host-diff runs agree).
    u.denormal = false;
    to_int_unpacked(ctx, &u, bits, round)
}

/// [`to_int`] of an unpacked value.
pub fn to_int_unpacked(ctx: &mut Ctx, u: &Unpacked, bits: u32, round: Round) -> u64 {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    let indefinite = 1u64 << (bits - 1);
    if u.class == Class::Unsupported || u.is_nan() || u.class == Class::Inf {
        ctx.raise(Exc::IE);
        return indefinite;
    }
    let mut probe = *ctx;
    match round_int(&mut probe, u, round) {
        Some((sign, mag)) => {
            let limit = if sign {
                indefinite as u128
            } else {
                indefinite as u128 - 1
            };
            if mag > limit {
                // Out of range: #IA only (the precision exception is not reported).
                ctx.raise(Exc::IE | (probe.flags & Exc::DE));
                ctx.up = false;
                return indefinite;
            }
            *ctx = probe;
            let v = if sign {
                (mag as u64).wrapping_neg()
            } else {
                mag as u64
            };
            v & mask
        }
        None => {
            ctx.raise(Exc::IE | (probe.flags & Exc::DE));
            ctx.up = false;
            indefinite
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{F32, F64, F80};

    #[test]
    fn widening_is_exact_and_narrowing_rounds() {
        let mut c = Ctx::new();
        // 1.5f -> 1.5 extended.
        assert_eq!(
            convert::<F32, F80>(&mut c, F32(0x3FC0_0000)),
            F80 {
                se: 0x3FFF,
                m: 0xC000_0000_0000_0000
            }
        );
        // The smallest binary32 denormal widens to 2^-149 exactly, raising #DE.
        assert_eq!(
            convert::<F32, F80>(&mut c, F32(1)),
            F80 {
                se: (16383 - 149) as u16,
                m: 1 << 63
            }
        );
        assert_eq!(c.flags, Exc::DE);
        // An SNaN is quieted, keeping its payload, and raises #IA.
        let mut c = Ctx::new();
        assert_eq!(
            convert::<F32, F80>(&mut c, F32(0xFF80_0001)),
            F80 {
                se: 0xFFFF,
                m: 0xC000_0100_0000_0000
            }
        );
        assert_eq!(c.flags, Exc::IE);
        // 0.1 in double from extended rounds to nearest.
        let tenth = F80 {
            se: 0x3FFB,
            m: 0xCCCC_CCCC_CCCC_CCCD,
        };
        let mut c = Ctx::new();
        assert_eq!(
            convert::<F80, F64>(&mut c, tenth),
            F64(0x3FB9_9999_9999_999A)
        );
        assert_eq!(c.flags, Exc::PE);
        // Extended values below the binary32 range underflow to denormals or zero.
        let mut c = Ctx::new();
        let r = convert::<F80, F32>(
            &mut c,
            F80 {
                se: (16383 - 140) as u16,
                m: 0xC000_0000_0000_0001,
            },
        );
        assert_eq!(r, F32(0x0000_0300));
        assert_eq!(c.flags, Exc::UE | Exc::PE);
    }

    #[test]
    fn integer_conversions_and_the_integer_indefinite() {
        let mut c = Ctx::new();
        assert_eq!(
            from_int::<F80>(&mut c, -1),
            F80 {
                se: 0xBFFF,
                m: 1 << 63
            }
        );
        assert_eq!(
            from_int::<F80>(&mut c, i64::MIN),
            F80 {
                se: 0xC03E,
                m: 1 << 63
            }
        );
        // 2^53 + 1 does not fit a double: rounds to even.
        assert_eq!(
            from_int::<F64>(&mut c, (1 << 53) + 1),
            F64(0x4340_0000_0000_0000)
        );
        assert_eq!(c.flags, Exc::PE);
        // 2.5 -> 2 (nearest even), 3 (up), -2.5 -> -3 (down).
        let two_half = F64(0x4004_0000_0000_0000);
        let mut c = Ctx::new();
        assert_eq!(to_int(&mut c, two_half, 32, Round::Nearest), 2);
        assert_eq!(to_int(&mut c, two_half, 32, Round::Up), 3);
        assert!(c.up);
        assert_eq!(
            to_int(&mut c, F64(0xC004_0000_0000_0000), 32, Round::Down),
            (-3i32) as u32 as u64
        );
        assert_eq!(c.flags, Exc::PE);
        // 32768.0 does not fit 16 bits; -32768.0 does; NaN gives the indefinite.
        let mut c = Ctx::new();
        assert_eq!(to_int(&mut c, F32(0x4700_0000), 16, Round::Nearest), 0x8000);
        assert_eq!(c.flags, Exc::IE);
        let mut c = Ctx::new();
        assert_eq!(to_int(&mut c, F32(0xC700_0000), 16, Round::Nearest), 0x8000);
        assert_eq!(c.flags, Exc::empty());
        assert_eq!(
            to_int(&mut c, F32(0x7FC0_0000), 64, Round::Nearest),
            1 << 63
        );
        assert_eq!(c.flags, Exc::IE);
        // -0.5 truncates to 0 (inexact).
        let mut c = Ctx::new();
        assert_eq!(to_int(&mut c, F32(0xBF00_0000), 32, Round::Zero), 0);
        assert_eq!(c.flags, Exc::PE);
    }
}
