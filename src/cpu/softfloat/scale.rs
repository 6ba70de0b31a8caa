//! FSCALE and FXTRACT (SDM Vol. 2A): scaling by a power of two and splitting into exponent
//! and significand, for 80-bit values.

use super::convert::from_int;
use super::round::round_fmt;
use super::{nan, Class, Ctx, Exc, Float, Unpacked, F80};

/// ST(0) · 2^trunc(ST(1)).
pub fn fscale(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    if let Some(r) = nan::two::<F80>(ctx, &ua, &ub) {
        return r;
    }
    nan::denormals(ctx, &[&ua, &ub]);
    ctx.up = false;
    match (ua.class, ub.class) {
        (Class::Zero, Class::Inf) if !ub.sign => nan::invalid(ctx),
        (Class::Inf, Class::Inf) if ub.sign => nan::invalid(ctx),
        (Class::Zero | Class::Inf, _) => a,
        (_, Class::Inf) => {
            if ub.sign {
                F80::zero(ua.sign)
            } else {
                F80::inf(ua.sign)
            }
        }
        _ => {
            // trunc(ST(1)), saturated far beyond any exponent range.
            let n: i32 = match ub.class {
                Class::Zero => 0,
                _ if ub.exp < 0 => 0,
                _ if ub.exp > 20 => 1 << 20,
                _ => (ub.sig >> (63 - ub.exp)) as i32,
            };
            let n = if ub.sign { -n } else { n };
            round_fmt(ctx, &F80::FMT, ua.sign, ua.exp + n, (ua.sig as u128) << 64)
        }
    }
}

/// FXTRACT: (exponent, significand) of ST(0), each an 80-bit value. A zero raises #Z and
/// gives −∞ as its exponent.
pub fn fxtract(ctx: &mut Ctx, a: F80) -> (F80, F80) {
    let u = a.unpack(ctx);
    if let Some(r) = nan::one::<F80>(ctx, &u) {
        return (r, r);
    }
    nan::denormals(ctx, &[&u]);
    ctx.up = false;
    match u.class {
        Class::Zero => {
            ctx.raise(Exc::ZE);
            (F80::inf(true), a)
        }
        Class::Inf => (F80::inf(false), a),
        _ => {
            let e = from_int::<F80>(ctx, u.exp as i64);
            let s = F80::special(&Unpacked::zero(u.sign));
            (
                e,
                F80 {
                    se: s.se | 0x3FFF,
                    m: u.sig,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let mut c = Ctx::new();
        let three = F80 {
            se: 0x4000,
            m: 0xC000_0000_0000_0000,
        };
        let minus_2_7 = F80 {
            se: 0xC000,
            m: 0xACCC_CCCC_CCCC_CCCD,
        };
        // 3 · 2^trunc(-2.7) = 3/4.
        assert_eq!(
            fscale(&mut c, three, minus_2_7),
            F80 {
                se: 0x3FFE,
                m: 0xC000_0000_0000_0000
            }
        );
        assert_eq!(c.flags, Exc::empty());
        // Overflow to infinity, masked.
        let huge = F80 {
            se: 0x4020,
            m: 1 << 63,
        };
        assert_eq!(fscale(&mut c, three, huge), F80::inf(false));
        assert_eq!(c.flags, Exc::OE | Exc::PE);
        // 0 · 2^+inf is invalid.
        let mut c = Ctx::new();
        assert_eq!(fscale(&mut c, F80::ZERO, F80::inf(false)), F80::INDEFINITE);
        assert_eq!(c.flags, Exc::IE);
    }

    #[test]
    fn extracting() {
        let mut c = Ctx::new();
        let six = F80 {
            se: 0x4001,
            m: 0xC000_0000_0000_0000,
        };
        let (e, s) = fxtract(&mut c, six);
        assert_eq!(
            e,
            F80 {
                se: 0x4000,
                m: 1 << 63
            }
        );
        assert_eq!(
            s,
            F80 {
                se: 0x3FFF,
                m: 0xC000_0000_0000_0000
            }
        );
        let (e, s) = fxtract(&mut c, F80::zero(true));
        assert_eq!((e, s), (F80::inf(true), F80::zero(true)));
        assert_eq!(c.flags, Exc::ZE);
    }
}
