//! Rounding and packing: one routine for every format and precision, with the x86 rules for
//! tininess (after rounding), masked and unmasked underflow and overflow, and FTZ (SDM Vol. 1
//! 4.8.4, 4.9.1.4, 4.9.1.5, 10.2.3.3).

use super::{Ctx, Exc, Float, Round};

/// The parameters of a result format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fmt {
    /// Significand bits, the integer bit included (24, 53, 64; or 24/53 for x87 precision
    /// control on 80-bit results).
    pub p: u32,
    /// The smallest normal exponent (unbiased).
    pub emin: i32,
    /// The largest finite exponent (unbiased).
    pub emax: i32,
    /// The exponent bias.
    pub bias: i32,
    /// The exponent bias adjustment of the x87's unmasked overflow/underflow responses.
    pub adjust: i32,
}

/// A rounded result ready for packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed {
    /// The sign.
    pub sign: bool,
    /// The biased exponent field (0 for zeros and denormals, all ones for ∞).
    pub bexp: u32,
    /// The `p`-bit significand, integer bit at bit p−1 (set for normals and ∞).
    pub sig: u64,
    /// The precision `sig` was rounded to.
    pub p: u32,
}

/// Whether rounding away the low `d` bits of `sig` (1 ≤ d ≤ 127) increments the kept part,
/// and whether anything was lost.
#[inline]
fn round_bits(round: Round, sign: bool, sig: u128, d: u32) -> (u128, bool, bool) {
    let (kept, rem, half) = if d >= 128 {
        (0, sig, if d == 128 { 1u128 << 127 } else { 0 })
    } else {
        (sig >> d, sig & ((1u128 << d) - 1), 1u128 << (d - 1))
    };
    let inexact = rem != 0;
    let inc = match round {
        Round::Nearest => {
            if d > 128 {
                false
            } else {
                rem > half || (rem == half && kept & 1 == 1)
            }
        }
        Round::Zero => false,
        Round::Up => !sign && inexact,
        Round::Down => sign && inexact,
    };
    (kept, inc, inexact)
}

/// Rounds sig · 2^(exp − 127) (`sig` with bit 127 set; a sticky bit may sit in bit 0) to
/// format `f`, raising the exceptions of `ctx`'s rules.
pub fn round_pack(ctx: &mut Ctx, f: &Fmt, sign: bool, exp: i32, sig: u128) -> Packed {
    debug_assert!(sig >> 127 == 1, "round_pack wants a normalized significand");
    let p = f.p;
    let d = 128 - p;
    ctx.up = false;
    // Tininess after rounding: the result rounded to p bits with an unbounded exponent lies
    // below 2^emin.
    let tiny = exp < f.emin - 1
        || (exp == f.emin - 1 && {
            let (kept, inc, _) = round_bits(ctx.round, sign, sig, d);
            !(inc && kept + 1 == 1u128 << p)
        });
    if tiny {
        if ctx.ftz && ctx.masks.contains(Exc::UE) {
            // SDM Vol. 1 10.2.3.3: a correctly signed zero, UE and PE.
            ctx.raise(Exc::UE | Exc::PE);
            return Packed {
                sign,
                bexp: 0,
                sig: 0,
                p,
            };
        }
        if !ctx.masks.contains(Exc::UE) {
            ctx.raise(Exc::UE);
            if ctx.x87 {
                // The x87 delivers the result scaled by 2^adjust (SDM Vol. 1 8.5.5).
                return round_normal(ctx, f, sign, exp + f.adjust, sig);
            }
        }
    }
    // Denormal results keep the bits above 2^(emin − p + 1).
    let shift = if exp < f.emin {
        d + (f.emin - exp) as u32
    } else {
        d
    };
    let (kept, inc, inexact) = round_bits(ctx.round, sign, sig, shift);
    let mut kept = kept + inc as u128;
    let mut e = exp.max(f.emin);
    if kept >> p != 0 {
        kept >>= 1;
        e += 1;
    }
    if inexact {
        ctx.raise(Exc::PE);
        if tiny {
            ctx.raise(Exc::UE);
        }
        ctx.up = inc;
    }
    if e > f.emax {
        return overflow(ctx, f, sign, e, kept as u64);
    }
    let bexp = if kept >> (p - 1) != 0 {
        (e + f.bias) as u32
    } else {
        0
    };
    Packed {
        sign,
        bexp,
        sig: kept as u64,
        p,
    }
}

/// Rounds with an unbounded exponent range below (the x87's unmasked-underflow response).
fn round_normal(ctx: &mut Ctx, f: &Fmt, sign: bool, exp: i32, sig: u128) -> Packed {
    let p = f.p;
    let (kept, inc, inexact) = round_bits(ctx.round, sign, sig, 128 - p);
    let mut kept = kept + inc as u128;
    let mut e = exp;
    if kept >> p != 0 {
        kept >>= 1;
        e += 1;
    }
    if inexact {
        ctx.raise(Exc::PE);
        ctx.up = inc;
    }
    if e < f.emin {
        // Still tiny after the adjustment (only FSCALE gets here): a zero, UE and PE.
        ctx.raise(Exc::PE);
        ctx.up = false;
        return Packed {
            sign,
            bexp: 0,
            sig: 0,
            p,
        };
    }
    Packed {
        sign,
        bexp: (e + f.bias) as u32,
        sig: kept as u64,
        p,
    }
}

/// The overflow responses (SDM Vol. 1 4.9.1.4 Table 4-10, 8.5.4).
fn overflow(ctx: &mut Ctx, f: &Fmt, sign: bool, e: i32, kept: u64) -> Packed {
    let p = f.p;
    ctx.raise(Exc::OE);
    let unmasked = ctx.x87 && !ctx.masks.contains(Exc::OE);
    if unmasked && e - f.adjust <= f.emax {
        // The x87 delivers the rounded result scaled by 2^-adjust.
        return Packed {
            sign,
            bexp: (e - f.adjust + f.bias) as u32,
            sig: kept,
            p,
        };
    }
    ctx.raise(Exc::PE);
    // Still too large after the adjustment (only FSCALE gets here): ∞ in every mode.
    let to_inf = unmasked
        || match ctx.round {
            Round::Nearest => true,
            Round::Zero => false,
            Round::Up => !sign,
            Round::Down => sign,
        };
    ctx.up = to_inf;
    if to_inf {
        Packed {
            sign,
            bexp: (f.emax + f.bias + 1) as u32,
            sig: 1 << (p - 1),
            p,
        }
    } else {
        Packed {
            sign,
            bexp: (f.emax + f.bias) as u32,
            sig: if p == 64 { u64::MAX } else { (1 << p) - 1 },
            p,
        }
    }
}

/// Rounds sig · 2^(exp − 127) to `F` in `F`'s format for `ctx` (normalizing `sig` first;
/// zero gives +0 or −0 as `sign` says).
pub fn round_to<F: Float>(ctx: &mut Ctx, sign: bool, exp: i32, sig: u128) -> F {
    let fmt = <F as Float>::fmt(ctx);
    round_fmt(ctx, &fmt, sign, exp, sig)
}

/// [`round_to`] with an explicit format.
pub fn round_fmt<F: Float>(ctx: &mut Ctx, fmt: &Fmt, sign: bool, exp: i32, sig: u128) -> F {
    if sig == 0 {
        ctx.up = false;
        return F::special(&super::Unpacked::zero(sign));
    }
    let lz = sig.leading_zeros();
    F::from_packed(round_pack(ctx, fmt, sign, exp - lz as i32, sig << lz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{Precision, F32, F80};

    fn ctx(round: Round) -> Ctx {
        Ctx {
            round,
            ..Ctx::new()
        }
    }

    #[test]
    fn halfway_cases_round_to_even_and_directed_modes_follow_the_sign() {
        // 1 + 2^-24 (exactly halfway between 1 and 1 + 2^-23) in binary32.
        let sig = (1u128 << 127) | (1u128 << (127 - 24));
        let mut c = ctx(Round::Nearest);
        assert_eq!(round_to::<F32>(&mut c, false, 0, sig), F32(0x3F80_0000));
        assert_eq!(c.flags, Exc::PE);
        assert!(!c.up);
        // 1 + 2^-23 + 2^-24: halfway, odd kept part: rounds up.
        let sig2 = sig | (1u128 << (127 - 23));
        assert_eq!(round_to::<F32>(&mut c, false, 0, sig2), F32(0x3F80_0002));
        assert!(c.up);
        let mut c = ctx(Round::Up);
        assert_eq!(round_to::<F32>(&mut c, false, 0, sig), F32(0x3F80_0001));
        assert_eq!(round_to::<F32>(&mut c, true, 0, sig), F32(0xBF80_0000));
        let mut c = ctx(Round::Down);
        assert_eq!(round_to::<F32>(&mut c, true, 0, sig), F32(0xBF80_0001));
        // Only a sticky bit beyond: nearest goes down, up goes up.
        let sticky = (1u128 << 127) | 1;
        let mut c = ctx(Round::Nearest);
        assert_eq!(round_to::<F32>(&mut c, false, 0, sticky), F32(0x3F80_0000));
        assert_eq!(c.flags, Exc::PE);
    }

    #[test]
    fn a_carry_out_of_the_significand_bumps_the_exponent() {
        // (2 - 2^-24) rounds to 2.0 in binary32 under round-to-nearest (halfway, odd).
        let sig = u128::MAX << 103; // 25 ones
        let mut c = ctx(Round::Nearest);
        assert_eq!(round_to::<F32>(&mut c, false, 0, sig), F32(0x4000_0000));
        assert!(c.up);
    }

    #[test]
    fn overflow_gives_infinity_or_the_largest_number_by_rounding_mode() {
        let big = 1u128 << 127;
        for (round, sign, want) in [
            (Round::Nearest, false, 0x7F80_0000),
            (Round::Zero, false, 0x7F7F_FFFF),
            (Round::Up, false, 0x7F80_0000),
            (Round::Up, true, 0xFF7F_FFFF),
            (Round::Down, true, 0xFF80_0000),
            (Round::Down, false, 0x7F7F_FFFF),
        ] {
            let mut c = ctx(round);
            assert_eq!(
                round_to::<F32>(&mut c, sign, 128, big),
                F32(want),
                "{round:?} {sign}"
            );
            assert_eq!(c.flags, Exc::OE | Exc::PE);
        }
        // 80-bit at 24-bit precision: the largest number has 24 significand bits.
        let mut c = Ctx {
            round: Round::Zero,
            prec: Precision::Single,
            ..Ctx::new()
        };
        assert_eq!(
            round_to::<F80>(&mut c, false, 16384, big),
            F80 {
                se: 0x7FFE,
                m: 0xFFFF_FF00_0000_0000
            }
        );
    }

    #[test]
    fn tininess_is_detected_after_rounding() {
        // binary32: (2^-126)(1 - 2^-25) rounds to 2^-126 at 24 bits with an unbounded
        // exponent, so it is not tiny: PE without UE. (Berkeley's "before rounding" would
        // raise UE.)
        let just_below = 0u128.wrapping_sub(1 << 103); // (1 - 2^-25) · 2^128
        let mut c = ctx(Round::Nearest);
        let r = round_to::<F32>(&mut c, false, -127, just_below);
        assert_eq!(r, F32(0x0080_0000));
        assert_eq!(c.flags, Exc::PE);
        // A bit lower it stays tiny and inexact: UE and PE, a denormal result.
        let lower = just_below - (1u128 << 102);
        let mut c = ctx(Round::Nearest);
        let r = round_to::<F32>(&mut c, false, -127, lower);
        assert_eq!(c.flags, Exc::UE | Exc::PE);
        assert_eq!(
            r,
            F32(0x0080_0000),
            "it still rounds up to the smallest normal"
        );
        // An exact denormal raises nothing while underflow is masked...
        let mut c = ctx(Round::Nearest);
        assert_eq!(
            round_to::<F32>(&mut c, false, -130, 1u128 << 127),
            F32(0x0008_0000)
        );
        assert_eq!(c.flags, Exc::empty());
        // ... and UE when it is unmasked; the x87 then delivers it scaled by 2^192.
        let mut c = Ctx {
            masks: Exc::all() - Exc::UE,
            ..ctx(Round::Nearest)
        };
        let r = round_to::<F32>(&mut c, false, -130, 1u128 << 127);
        assert_eq!(c.flags, Exc::UE);
        assert_eq!(r, F32((62 + 127) << 23));
    }

    #[test]
    fn ftz_flushes_tiny_results_to_signed_zero() {
        let mut c = Ctx {
            ftz: true,
            x87: false,
            ..ctx(Round::Nearest)
        };
        assert_eq!(
            round_to::<F32>(&mut c, true, -130, 1u128 << 127),
            F32(0x8000_0000)
        );
        assert_eq!(c.flags, Exc::UE | Exc::PE);
    }

    #[test]
    fn zero_results_keep_their_sign() {
        let mut c = ctx(Round::Nearest);
        assert_eq!(round_to::<F80>(&mut c, true, 0, 0), F80::zero(true));
    }
}
