//! The three formats and their unpacked form: sign, class, unbiased exponent and a
//! significand normalized to bit 63 (SDM Vol. 1 4.2.2, 4.8.2, 8.2.2).

use super::round::{Fmt, Packed};
use super::{Ctx, Precision};

/// What an operand is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ±0.
    Zero,
    /// A finite nonzero number (normal or denormal).
    Finite,
    /// ±∞.
    Inf,
    /// A quiet NaN.
    QNaN,
    /// A signaling NaN.
    SNaN,
    /// An 80-bit encoding the 387 and later reject: pseudo-NaN, pseudo-infinity, unnormal.
    Unsupported,
}

/// An operand taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// The sign (true: negative).
    pub sign: bool,
    /// What it is.
    pub class: Class,
    /// Finite: the unbiased exponent of bit 63 of `sig` (value = sig · 2^(exp − 63)).
    pub exp: i32,
    /// Finite: the significand with bit 63 set. NaN: the payload left-aligned with bit 63
    /// set and bit 62 the quiet bit (the 80-bit layout).
    pub sig: u64,
    /// The operand was a denormal (or an 80-bit pseudo-denormal): #DE where it is used.
    pub denormal: bool,
}

impl Unpacked {
    /// A zero.
    pub const fn zero(sign: bool) -> Unpacked {
        Unpacked {
            sign,
            class: Class::Zero,
            exp: 0,
            sig: 0,
            denormal: false,
        }
    }

    /// An infinity.
    pub const fn inf(sign: bool) -> Unpacked {
        Unpacked {
            sign,
            class: Class::Inf,
            exp: 0,
            sig: 1 << 63,
            denormal: false,
        }
    }

    /// A finite number sig · 2^(exp − 63), normalized here (`sig` must not be 0).
    pub fn finite(sign: bool, exp: i32, sig: u64) -> Unpacked {
        let lz = sig.leading_zeros();
        Unpacked {
            sign,
            class: Class::Finite,
            exp: exp - lz as i32,
            sig: sig << lz,
            denormal: false,
        }
    }

    /// The real indefinite: the negative QNaN with only the quiet bit in its payload.
    pub const fn indefinite() -> Unpacked {
        Unpacked {
            sign: true,
            class: Class::QNaN,
            exp: 0,
            sig: 0xC000_0000_0000_0000,
            denormal: false,
        }
    }

    /// A NaN of either kind.
    #[inline]
    pub fn is_nan(&self) -> bool {
        matches!(self.class, Class::QNaN | Class::SNaN)
    }

    /// A NaN or an unsupported encoding: the operand decides the result alone.
    #[inline]
    pub fn is_nan_or_unsupported(&self) -> bool {
        matches!(self.class, Class::QNaN | Class::SNaN | Class::Unsupported)
    }

    /// This NaN quieted.
    pub fn quieted(mut self) -> Unpacked {
        self.class = Class::QNaN;
        self.sig |= 1 << 62;
        self
    }
}

/// A binary floating-point format that the operations work on.
pub trait Float: Copy + PartialEq + std::fmt::Debug {
    /// The default QNaN (real indefinite).
    const INDEFINITE: Self;
    /// The format at full precision (conversions and exact results).
    const FULL: Fmt;
    /// The x87 register format: storing it to memory (FST, FIST) raises no #DE.
    const REGISTER: bool = false;
    /// Takes the value apart (DAZ, from `ctx`, turns denormals into zeros).
    fn unpack(self, ctx: &Ctx) -> Unpacked;
    /// The rounding format of results (for 80-bit ones, the precision control).
    fn fmt(ctx: &Ctx) -> Fmt;
    /// Assembles a rounded result.
    fn from_packed(p: Packed) -> Self;
    /// Assembles a zero, an infinity or a NaN (quieted) of an unpacked value; finite values
    /// go through rounding instead.
    fn special(u: &Unpacked) -> Self;
}

/// An IEEE binary32 value by its bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F32(pub u32);

/// An IEEE binary64 value by its bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F64(pub u64);

/// An x87 80-bit extended value: the sign and exponent word and the 64-bit significand with
/// its explicit integer bit (SDM Vol. 1 Figure 4-3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F80 {
    /// Bit 15: sign; bits 14:0: biased exponent.
    pub se: u16,
    /// The significand, integer bit at bit 63.
    pub m: u64,
}

impl F32 {
    /// The real indefinite.
    pub const INDEFINITE: F32 = F32(0xFFC0_0000);
    /// Format parameters.
    pub const FMT: Fmt = Fmt {
        p: 24,
        emin: -126,
        emax: 127,
        bias: 127,
        adjust: 192,
    };
}

impl F64 {
    /// The real indefinite.
    pub const INDEFINITE: F64 = F64(0xFFF8_0000_0000_0000);
    /// Format parameters.
    pub const FMT: Fmt = Fmt {
        p: 53,
        emin: -1022,
        emax: 1023,
        bias: 1023,
        adjust: 1536,
    };
}

impl F80 {
    /// The real indefinite.
    pub const INDEFINITE: F80 = F80 {
        se: 0xFFFF,
        m: 0xC000_0000_0000_0000,
    };
    /// +0.
    pub const ZERO: F80 = F80 { se: 0, m: 0 };
    /// +1.
    pub const ONE: F80 = F80 {
        se: 0x3FFF,
        m: 1 << 63,
    };
    /// Format parameters at 64-bit precision.
    pub const FMT: Fmt = Fmt {
        p: 64,
        emin: -16382,
        emax: 16383,
        bias: 16383,
        adjust: 24576,
    };

    /// The value from its 80-bit memory image (little-endian: significand, then sign and
    /// exponent).
    pub fn from_bytes(b: [u8; 10]) -> F80 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[..8]);
        F80 {
            se: u16::from_le_bytes([b[8], b[9]]),
            m: u64::from_le_bytes(m),
        }
    }

    /// The 80-bit memory image.
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.m.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    /// The sign bit.
    #[inline]
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    /// The biased exponent.
    #[inline]
    pub fn exp(self) -> u16 {
        self.se & 0x7FFF
    }

    /// The value with the sign cleared.
    #[inline]
    pub fn abs(self) -> F80 {
        F80 {
            se: self.se & 0x7FFF,
            m: self.m,
        }
    }

    /// A zero of the given sign.
    #[inline]
    pub fn zero(sign: bool) -> F80 {
        F80 {
            se: (sign as u16) << 15,
            m: 0,
        }
    }

    /// An infinity of the given sign.
    #[inline]
    pub fn inf(sign: bool) -> F80 {
        F80 {
            se: (sign as u16) << 15 | 0x7FFF,
            m: 1 << 63,
        }
    }

    /// The class the x87 sees (no DAZ on the x87).
    pub fn class(self) -> Class {
        self.unpack(&Ctx::new()).class
    }

    /// The format parameters at precision `pc`.
    pub fn fmt_pc(pc: Precision) -> Fmt {
        Fmt {
            p: pc.bits(),
            ..F80::FMT
        }
    }
}

impl std::ops::Neg for F80 {
    type Output = F80;
    /// The value with the sign flipped (FCHS).
    fn neg(self) -> F80 {
        F80 {
            se: self.se ^ 0x8000,
            m: self.m,
        }
    }
}

impl Float for F32 {
    const INDEFINITE: F32 = F32::INDEFINITE;
    const FULL: Fmt = F32::FMT;

    fn unpack(self, ctx: &Ctx) -> Unpacked {
        let sign = self.0 >> 31 != 0;
        let e = (self.0 >> 23 & 0xFF) as i32;
        let f = (self.0 & 0x7F_FFFF) as u64;
        unpack_ieee(sign, e, f, 23, 0xFF, 127, ctx.daz)
    }

    fn fmt(_: &Ctx) -> Fmt {
        F32::FMT
    }

    fn from_packed(p: Packed) -> F32 {
        F32((p.sign as u32) << 31 | p.bexp << 23 | (p.sig as u32 & 0x7F_FFFF))
    }

    fn special(u: &Unpacked) -> F32 {
        let s = (u.sign as u32) << 31;
        F32(match u.class {
            Class::Zero => s,
            Class::Inf => s | 0x7F80_0000,
            Class::QNaN | Class::SNaN => s | 0x7FC0_0000 | (u.sig >> 40) as u32 & 0x7F_FFFF,
            Class::Finite | Class::Unsupported => 0xFFC0_0000,
        })
    }
}

impl Float for F64 {
    const INDEFINITE: F64 = F64::INDEFINITE;
    const FULL: Fmt = F64::FMT;

    fn unpack(self, ctx: &Ctx) -> Unpacked {
        let sign = self.0 >> 63 != 0;
        let e = (self.0 >> 52 & 0x7FF) as i32;
        let f = self.0 & 0xF_FFFF_FFFF_FFFF;
        unpack_ieee(sign, e, f, 52, 0x7FF, 1023, ctx.daz)
    }

    fn fmt(_: &Ctx) -> Fmt {
        F64::FMT
    }

    fn from_packed(p: Packed) -> F64 {
        F64((p.sign as u64) << 63 | (p.bexp as u64) << 52 | (p.sig & 0xF_FFFF_FFFF_FFFF))
    }

    fn special(u: &Unpacked) -> F64 {
        let s = (u.sign as u64) << 63;
        F64(match u.class {
            Class::Zero => s,
            Class::Inf => s | 0x7FF0_0000_0000_0000,
            Class::QNaN | Class::SNaN => {
                s | 0x7FF8_0000_0000_0000 | (u.sig >> 11) & 0xF_FFFF_FFFF_FFFF
            }
            Class::Finite | Class::Unsupported => 0xFFF8_0000_0000_0000,
        })
    }
}

impl Float for F80 {
    const INDEFINITE: F80 = F80::INDEFINITE;
    const FULL: Fmt = F80::FMT;
    const REGISTER: bool = true;

    fn unpack(self, _: &Ctx) -> Unpacked {
        let sign = self.sign();
        let e = self.exp() as i32;
        let m = self.m;
        let int = m >> 63 != 0;
        let mut u = Unpacked {
            sign,
            class: Class::Finite,
            exp: 0,
            sig: m,
            denormal: false,
        };
        if e == 0x7FFF {
            u.class = if !int {
                Class::Unsupported
            } else if m << 1 == 0 {
                Class::Inf
            } else if m & 1 << 62 != 0 {
                Class::QNaN
            } else {
                Class::SNaN
            };
        } else if e == 0 {
            if m == 0 {
                u.class = Class::Zero;
            } else {
                // Denormals and pseudo-denormals (integer bit set) both weigh 2^-16382 per
                // integer-bit unit (SDM Vol. 1 8.2.2).
                let lz = m.leading_zeros();
                u.sig = m << lz;
                u.exp = 1 - 16383 - lz as i32;
                u.denormal = true;
            }
        } else if !int {
            u.class = Class::Unsupported;
        } else {
            u.exp = e - 16383;
        }
        u
    }

    fn fmt(ctx: &Ctx) -> Fmt {
        F80::fmt_pc(ctx.prec)
    }

    fn from_packed(p: Packed) -> F80 {
        F80 {
            se: (p.sign as u16) << 15 | p.bexp as u16,
            m: p.sig << (64 - p.p),
        }
    }

    fn special(u: &Unpacked) -> F80 {
        let s = (u.sign as u16) << 15;
        match u.class {
            Class::Zero => F80 { se: s, m: 0 },
            Class::Inf => F80 {
                se: s | 0x7FFF,
                m: 1 << 63,
            },
            Class::QNaN | Class::SNaN => F80 {
                se: s | 0x7FFF,
                m: u.sig | 0xC000_0000_0000_0000,
            },
            Class::Finite | Class::Unsupported => F80::INDEFINITE,
        }
    }
}

/// Unpacks binary32/64 fields: biased exponent `e`, fraction `f` of `fbits` bits.
fn unpack_ieee(
    sign: bool,
    e: i32,
    f: u64,
    fbits: u32,
    emax: i32,
    bias: i32,
    daz: bool,
) -> Unpacked {
    let shift = 63 - fbits;
    if e == emax {
        if f == 0 {
            return Unpacked::inf(sign);
        }
        let quiet = f >> (fbits - 1) & 1 != 0;
        return Unpacked {
            sign,
            class: if quiet { Class::QNaN } else { Class::SNaN },
            exp: 0,
            sig: 1 << 63 | f << shift,
            denormal: false,
        };
    }
    if e == 0 {
        if f == 0 || daz {
            return Unpacked::zero(sign);
        }
        let lz = f.leading_zeros();
        return Unpacked {
            sign,
            class: Class::Finite,
            exp: 1 - bias - (lz as i32 - shift as i32),
            sig: f << lz,
            denormal: true,
        };
    }
    Unpacked {
        sign,
        class: Class::Finite,
        exp: e - bias,
        sig: (1 << 63) | f << shift,
        denormal: false,
    }
}
