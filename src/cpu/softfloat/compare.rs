//! Comparisons: ordered (signaling: any NaN raises #IA) and unordered (quiet: only an SNaN
//! does), as FCOM/FUCOM and COMISS/UCOMISS define them.

use super::{Class, Ctx, Exc, Float, Unpacked};

/// The relation of two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// a < b.
    Less,
    /// a = b (+0 = −0).
    Equal,
    /// a > b.
    Greater,
    /// A NaN or an unsupported operand.
    Unordered,
}

/// Compares `a` with `b`. `signaling`: a QNaN raises #IA too.
pub fn compare<F: Float>(ctx: &mut Ctx, a: F, b: F, signaling: bool) -> Relation {
    let (ua, ub) = (a.unpack(ctx), b.unpack(ctx));
    compare_unpacked(ctx, &ua, &ub, signaling)
}

/// [`compare`] of unpacked values.
pub fn compare_unpacked(ctx: &mut Ctx, a: &Unpacked, b: &Unpacked, signaling: bool) -> Relation {
    if a.is_nan_or_unsupported() || b.is_nan_or_unsupported() {
        let snan = |u: &Unpacked| matches!(u.class, Class::SNaN | Class::Unsupported);
        if signaling || snan(a) || snan(b) {
            ctx.raise(Exc::IE);
        }
        return Relation::Unordered;
    }
    super::nan::denormals(ctx, &[a, b]);
    let key = |u: &Unpacked| -> (i32, u64) {
        match u.class {
            Class::Zero => (i32::MIN, 0),
            Class::Inf => (i32::MAX, 0),
            _ => (u.exp, u.sig),
        }
    };
    if a.class == Class::Zero && b.class == Class::Zero {
        return Relation::Equal;
    }
    let less = match (a.sign, b.sign) {
        (true, false) => true,
        (false, true) => false,
        (false, false) => key(a) < key(b),
        (true, true) => key(a) > key(b),
    };
    if less {
        Relation::Less
    } else if a.sign == b.sign && key(a) == key(b) {
        Relation::Equal
    } else {
        Relation::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::softfloat::{F32, F80};

    #[test]
    fn relations() {
        let mut c = Ctx::new();
        assert_eq!(
            compare(&mut c, F32(0), F32(0x8000_0000), true),
            Relation::Equal
        );
        assert_eq!(
            compare(&mut c, F32(0xBF80_0000), F32(0), true),
            Relation::Less
        );
        assert_eq!(
            compare(&mut c, F32(0xBF80_0000), F32(0xC000_0000), true),
            Relation::Greater
        );
        assert_eq!(
            compare(&mut c, F32(0xFF80_0000), F32(0xFF7F_FFFF), true),
            Relation::Less
        );
        assert_eq!(c.flags, Exc::empty());
        assert_eq!(
            compare(&mut c, F32(0x7FC0_0000), F32(0), false),
            Relation::Unordered
        );
        assert_eq!(c.flags, Exc::empty(), "a quiet compare of a QNaN");
        assert_eq!(
            compare(&mut c, F32(0x7FC0_0000), F32(0), true),
            Relation::Unordered
        );
        assert_eq!(c.flags, Exc::IE);
        // An unnormal is unordered and invalid even for a quiet compare.
        let mut c = Ctx::new();
        let unnormal = F80 { se: 0x3FFF, m: 1 };
        assert_eq!(
            compare(&mut c, unnormal, F80::ONE, false),
            Relation::Unordered
        );
        assert_eq!(c.flags, Exc::IE);
    }
}
