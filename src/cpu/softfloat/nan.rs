//! NaN propagation (SDM Vol. 1 4.8.3.5 and Table 4-7) and the invalid-operand responses.

use super::{Class, Ctx, Exc, Float, Unpacked};

/// The result of an operation with one operand that is a NaN or unsupported, if it is:
/// an SNaN is quieted and raises #IA; an unsupported 80-bit encoding raises #IA and gives the
/// real indefinite.
pub fn one<F: Float>(ctx: &mut Ctx, a: &Unpacked) -> Option<F> {
    match a.class {
        Class::QNaN => Some(F::special(a)),
        Class::SNaN => {
            ctx.raise(Exc::IE);
            Some(F::special(&a.quieted()))
        }
        Class::Unsupported => {
            ctx.raise(Exc::IE);
            Some(F::INDEFINITE)
        }
        _ => None,
    }
}

/// The NaN that an operation on `a` and `b` returns, if either is a NaN or unsupported.
/// x87: a QNaN before an SNaN, else the NaN with the larger significand, the positive one
/// on a tie; SSE: the first operand's NaN, else the second's.
pub fn two<F: Float>(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked) -> Option<F> {
    if !a.is_nan_or_unsupported() && !b.is_nan_or_unsupported() {
        return None;
    }
    Some(F::special(&pick(ctx, a, b)?))
}

/// [`two`] as an unpacked NaN (`None`: the real indefinite after an unsupported operand).
pub fn pick(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked) -> Option<Unpacked> {
    if a.class == Class::SNaN || b.class == Class::SNaN {
        ctx.raise(Exc::IE);
    }
    if a.class == Class::Unsupported || b.class == Class::Unsupported {
        ctx.raise(Exc::IE);
        return Some(Unpacked::indefinite());
    }
    let r = match (a.is_nan(), b.is_nan()) {
        // One SNaN and one QNaN: the QNaN.
        (true, true) if ctx.x87 && a.class != b.class => {
            if a.class == Class::QNaN {
                *a
            } else {
                *b
            }
        }
        (true, true) if ctx.x87 => {
            let (qa, qb) = (a.quieted(), b.quieted());
            if qa.sig > qb.sig {
                qa
            } else if qb.sig > qa.sig {
                qb
            } else if !qa.sign {
                qa
            } else {
                qb
            }
        }
        (true, _) => *a,
        (false, true) => *b,
        (false, false) => return None,
    };
    Some(r.quieted())
}

/// The masked response to an invalid operation without a NaN operand.
pub fn invalid<F: Float>(ctx: &mut Ctx) -> F {
    ctx.raise(Exc::IE);
    F::INDEFINITE
}

/// Raises #DE for denormal operands (x87: the denormal-operand exception; SSE without DAZ).
#[inline]
pub fn denormals(ctx: &mut Ctx, ops: &[&Unpacked]) {
    if ops.iter().any(|u| u.denormal) {
        ctx.raise(Exc::DE);
    }
}
