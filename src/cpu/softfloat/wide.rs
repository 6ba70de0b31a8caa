//! A wide internal format for the transcendental functions: a sign, an unbounded exponent
//! and a 128-bit significand whose bit 0 is sticky, so that results carry some 125 correct
//! bits into the final rounding to 64 bits (where an error of 2^-120 relative decides the
//! rounding only in cases rarer than 2^-55).

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::round::{round_pack, Fmt};
use super::{shr_jam128, Class, Ctx, Float, Unpacked, F80};

/// A wide value: sig · 2^(exp − 127), `sig` with bit 127 set, or zero when `sig` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct W {
    /// The sign.
    pub sign: bool,
    /// The exponent of bit 127.
    pub exp: i32,
    /// The significand (bit 0 sticky).
    pub sig: u128,
}

/// π.
pub const PI: W = W {
    sign: false,
    exp: 1,
    sig: 0xC90FDAA22168C234C4C6628B80DC1CD1,
};
/// π/2.
pub const PI_2: W = W {
    sign: false,
    exp: 0,
    sig: 0xC90FDAA22168C234C4C6628B80DC1CD1,
};
/// π/4.
pub const PI_4: W = W {
    sign: false,
    exp: -1,
    sig: 0xC90FDAA22168C234C4C6628B80DC1CD1,
};
/// 3π/4.
pub const PI_3_4: W = W {
    sign: false,
    exp: 1,
    sig: 0x96CBE3F9990E91A79394C9E8A0A5159C,
};
/// ln 2.
pub const LN2: W = W {
    sign: false,
    exp: -1,
    sig: 0xB17217F7D1CF79ABC9E3B39803F2F6AF,
};
/// log2 e.
pub const LOG2_E: W = W {
    sign: false,
    exp: 0,
    sig: 0xB8AA3B295C17F0BBBE87FED0691D3E88,
};
/// log2 10.
pub const LOG2_10: W = W {
    sign: false,
    exp: 1,
    sig: 0xD49A784BCD1B8AFE492BF6FF4DAFDB4C,
};
/// log10 2.
pub const LOG10_2: W = W {
    sign: false,
    exp: -2,
    sig: 0x9A209A84FBCFF7988F8959AC0B7C9178,
};
/// 1.
pub const ONE: W = W {
    sign: false,
    exp: 0,
    sig: 1 << 127,
};
/// 0.
pub const ZERO: W = W {
    sign: false,
    exp: 0,
    sig: 0,
};

impl W {
    /// A value sig · 2^(exp − 127), normalized here.
    pub fn new(sign: bool, exp: i32, sig: u128) -> W {
        if sig == 0 {
            return W {
                sign,
                exp: 0,
                sig: 0,
            };
        }
        let lz = sig.leading_zeros();
        W {
            sign,
            exp: exp - lz as i32,
            sig: sig << lz,
        }
    }

    /// A finite or zero unpacked operand.
    pub fn from_unpacked(u: &Unpacked) -> W {
        match u.class {
            Class::Finite => W {
                sign: u.sign,
                exp: u.exp,
                sig: (u.sig as u128) << 64,
            },
            _ => W {
                sign: u.sign,
                exp: 0,
                sig: 0,
            },
        }
    }

    /// A small integer.
    pub fn int(v: i64) -> W {
        W::new(v < 0, 127, v.unsigned_abs() as u128)
    }

    /// Whether this is zero.
    #[inline]
    pub fn is_zero(&self) -> bool {
        self.sig == 0
    }

    /// |self|.
    #[inline]
    pub fn abs(self) -> W {
        W {
            sign: false,
            ..self
        }
    }

    /// self · 2^n.
    #[inline]
    pub fn scale(self, n: i32) -> W {
        if self.is_zero() {
            self
        } else {
            W {
                exp: self.exp + n,
                ..self
            }
        }
    }

    /// self + o, with the lost bits jammed into the sticky bit.
    fn plus(self, o: W) -> W {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (a, b) = if (self.exp, self.sig) >= (o.exp, o.sig) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (a.exp - b.exp) as u32;
        if d >= 127 {
            // b lies wholly below a's last bit. It only tells the direction of an exact a
            // (bit 0 clear); an inexact a keeps its own sticky bit, so two negligible
            // errors never cancel into a false exact result.
            if a.sig & 1 != 0 {
                return a;
            }
            let sig = if a.sign == b.sign {
                a.sig | 1
            } else {
                a.sig - 1
            };
            return W::new(a.sign, a.exp, sig);
        }
        // One bit of headroom for a carry.
        let x = a.sig >> 1 | (a.sig & 1);
        let y = shr_jam128(b.sig >> 1 | (b.sig & 1), d);
        let s = if a.sign == b.sign { x + y } else { x - y };
        W::new(a.sign, a.exp + 1, s)
    }

    /// self · o (the upper 128 bits of the product, the rest sticky).
    fn times(self, o: W) -> W {
        if self.is_zero() || o.is_zero() {
            return W {
                sign: self.sign ^ o.sign,
                exp: 0,
                sig: 0,
            };
        }
        let (hi, lo) = mul_128(self.sig, o.sig);
        W::new(
            self.sign ^ o.sign,
            self.exp + o.exp + 1,
            hi | (lo != 0) as u128,
        )
    }

    /// self ÷ o (`o` nonzero): 128 quotient bits by restoring division, the rest sticky.
    fn over(self, o: W) -> W {
        if self.is_zero() {
            return self;
        }
        let b = o.sig;
        let mut r = self.sig;
        let mut q: u128 = 0;
        let mut exp = self.exp - o.exp;
        if r < b {
            exp -= 1;
            // r · 2 may pass 2^128; the subtraction below wraps back exactly.
            let carry = r >> 127 != 0;
            r <<= 1;
            if carry || r >= b {
                r = r.wrapping_sub(b);
                q = 1;
            }
        } else {
            r -= b;
            q = 1;
        }
        for _ in 0..127 {
            let carry = r >> 127 != 0;
            r <<= 1;
            q <<= 1;
            if carry || r >= b {
                r = r.wrapping_sub(b);
                q |= 1;
            }
        }
        W {
            sign: self.sign ^ o.sign,
            exp,
            sig: q | (r != 0) as u128,
        }
    }

    /// self ÷ n for a positive integer n.
    pub fn div_int(self, n: u64) -> W {
        if self.is_zero() {
            return self;
        }
        // The 192-bit quotient sig · 2^64 / n in two steps, then its top 128 bits.
        let n = n as u128;
        let qh = self.sig / n;
        let r = self.sig % n;
        let ql = (r << 64) / n;
        let r2 = (r << 64) % n;
        let lz = qh.leading_zeros();
        let (top, lost) = if lz == 0 {
            (qh, ql != 0)
        } else {
            (
                qh << lz | ql >> (64 - lz),
                ql & ((1u128 << (64 - lz)) - 1) != 0,
            )
        };
        W {
            sign: self.sign,
            exp: self.exp - lz as i32,
            sig: top | (lost || r2 != 0) as u128,
        }
    }

    /// √self (self ≥ 0): Newton's iteration from a 32-bit integer square root.
    pub fn sqrt(self) -> W {
        if self.is_zero() {
            return self;
        }
        // self = sig · 2^e; approximate by its top 64 bits with an even exponent.
        let e = self.exp - 127;
        let (top, e2) = if e & 1 == 0 {
            ((self.sig >> 64) as u64, e + 64)
        } else {
            ((self.sig >> 65) as u64, e + 65)
        };
        let mut y = W::new(false, 127 + e2 / 2, isqrt64(top) as u128);
        for _ in 0..4 {
            y = (y + self / y).scale(-1);
        }
        y
    }

    /// Rounds to an 80-bit value at precision `fmt` with the rounding and exception rules of
    /// `ctx`.
    pub fn to_f80(self, ctx: &mut Ctx, fmt: &Fmt) -> F80 {
        if self.is_zero() {
            ctx.up = false;
            return F80::zero(self.sign);
        }
        F80::from_packed(round_pack(ctx, fmt, self.sign, self.exp, self.sig))
    }

    /// Compares magnitudes.
    pub fn mag_lt(&self, o: &W) -> bool {
        if self.is_zero() {
            return !o.is_zero();
        }
        if o.is_zero() {
            return false;
        }
        (self.exp, self.sig) < (o.exp, o.sig)
    }
}

impl Add for W {
    type Output = W;
    /// The sum (see [`W::plus`]).
    fn add(self, o: W) -> W {
        self.plus(o)
    }
}

impl Sub for W {
    type Output = W;
    /// The difference.
    fn sub(self, o: W) -> W {
        self.plus(-o)
    }
}

impl Mul for W {
    type Output = W;
    /// The product (see [`W::times`]).
    fn mul(self, o: W) -> W {
        self.times(o)
    }
}

impl Div for W {
    type Output = W;
    /// The quotient (see [`W::over`]).
    fn div(self, o: W) -> W {
        self.over(o)
    }
}

impl Neg for W {
    type Output = W;
    /// The value with the sign flipped.
    fn neg(self) -> W {
        W {
            sign: !self.sign,
            ..self
        }
    }
}

/// The full 256-bit product of two 128-bit numbers as (high, low).
pub fn mul_128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// ⌊√x⌋ for a 64-bit x, by bits.
fn isqrt64(x: u64) -> u64 {
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for i in (0..32).rev() {
        rem = rem << 2 | ((x >> (2 * i)) & 3) as u128;
        let trial = root << 2 | 1;
        if rem >= trial {
            rem -= trial;
            root = root << 1 | 1;
        } else {
            root <<= 1;
        }
    }
    root as u64
}
