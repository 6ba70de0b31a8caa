//! IEEE 754 arithmetic in software, with the x86 rules: binary32 and binary64 (SSE) and the
//! x87 80-bit extended format, in pure integer arithmetic so that results are the same on
//! every host (an ARM host's own NaN and denormal rules never show through).
//!
//! Every operation takes a [`Ctx`]: the rounding mode, the x87 precision control (for 80-bit
//! results), the exception masks and the SSE DAZ/FTZ options; it returns the result and
//! records the exceptions raised in [`Ctx::flags`] (and in [`Ctx::up`] whether the last
//! rounding increased the magnitude, the x87's C1). The algorithms follow Berkeley
//! SoftFloat's structure: unpack to a sign, an unbiased exponent and a normalized
//! significand ([`unpack`]), compute exactly or with a sticky bit in 128 bits, and round
//! and pack once ([`round`]). The x86 specifics come from the Intel SDM Vol. 1:
//! - NaNs (4.8.3.5, Table 4-7): the x87 returns the NaN with the larger significand (a QNaN
//!   before an SNaN); SSE returns the first operand's NaN; an SNaN is quieted and raises
//!   #IA; with no NaN operand an invalid operation returns the "real indefinite" QNaN
//!   ([`F32::INDEFINITE`], [`F64::INDEFINITE`], [`F80::INDEFINITE`]).
//! - Underflow (4.9.1.5): tininess is detected after rounding; a masked underflow is raised
//!   only with an inexact result; an unmasked one whenever the result is tiny, and the x87
//!   then delivers the result with its exponent biased by 2^24576 (overflow: 2^-24576).
//! - Overflow (4.9.1.4): masked, the result is ∞ or the largest finite number, as the
//!   rounding mode and the sign say.
//! - 80-bit operands the 387 and later do not support (pseudo-NaNs, pseudo-infinities,
//!   unnormals) raise #IA (8.2.2); pseudo-denormals are read as denormals.
//!
//! Files: [`unpack`] (the unpacked form and the three formats), [`round`] (rounding and
//! packing), [`nan`], [`add`], [`mul`], [`div`], [`sqrt`], [`convert`], [`compare`],
//! [`rndint`], [`rem`], [`scale`], and [`wide`] with [`trans`] for the transcendental
//! functions of the x87.

pub mod add;
pub mod compare;
pub mod convert;
pub mod div;
pub mod mul;
pub mod nan;
pub mod rem;
pub mod rndint;
pub mod round;
pub mod scale;
pub mod sqrt;
pub mod trans;
pub mod unpack;
pub mod wide;

#[cfg(all(test, target_arch = "x86_64"))]
mod host_tests;
#[cfg(test)]
mod tests;

pub use unpack::{Class, Float, Unpacked, F32, F64, F80};

bitflags::bitflags! {
    /// The floating-point exceptions, at the bit positions of the x87 status word and of
    /// MXCSR (SDM Vol. 1 8.1.3.4, 10.2.3.1).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Exc: u8 {
        /// IE: invalid operation.
        const IE = 1 << 0;
        /// DE: denormal operand.
        const DE = 1 << 1;
        /// ZE: divide by zero.
        const ZE = 1 << 2;
        /// OE: overflow.
        const OE = 1 << 3;
        /// UE: underflow.
        const UE = 1 << 4;
        /// PE: precision (inexact result).
        const PE = 1 << 5;
    }
}

/// The rounding modes, numbered as in the x87 RC field and MXCSR.RC (SDM Vol. 1 Table 4-8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Round {
    /// Round to nearest, ties to even.
    #[default]
    Nearest = 0,
    /// Round down, toward −∞.
    Down = 1,
    /// Round up, toward +∞.
    Up = 2,
    /// Round toward zero (truncate).
    Zero = 3,
}

impl Round {
    /// The mode of a 2-bit RC field.
    pub fn from_bits(rc: u16) -> Round {
        match rc & 3 {
            0 => Round::Nearest,
            1 => Round::Down,
            2 => Round::Up,
            _ => Round::Zero,
        }
    }
}

/// The x87 precision control: the significand bits of 80-bit results of FADD, FSUB(R),
/// FMUL, FDIV(R) and FSQRT (SDM Vol. 1 8.1.5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 24 bits (PC = 00).
    Single,
    /// 53 bits (PC = 10).
    Double,
    /// 64 bits (PC = 11, and the reserved PC = 01 as the 387 and later treat it).
    #[default]
    Extended,
}

impl Precision {
    /// The precision of a 2-bit PC field.
    pub fn from_bits(pc: u16) -> Precision {
        match pc & 3 {
            0 => Precision::Single,
            2 => Precision::Double,
            _ => Precision::Extended,
        }
    }

    /// Significand bits, the integer bit included.
    pub fn bits(self) -> u32 {
        match self {
            Precision::Single => 24,
            Precision::Double => 53,
            Precision::Extended => 64,
        }
    }
}

/// The environment of an operation and the exceptions it raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// The rounding mode.
    pub round: Round,
    /// The precision of 80-bit results (x87 PC); binary32/64 results ignore it.
    pub prec: Precision,
    /// The masked exceptions: they decide the underflow and overflow responses.
    pub masks: Exc,
    /// x87 rules: NaN choice by the larger significand, and bias-adjusted results for an
    /// unmasked overflow or underflow. Otherwise SSE rules (first operand's NaN).
    pub x87: bool,
    /// SSE DAZ: denormal operands read as zeros of the same sign, without #DE.
    pub daz: bool,
    /// SSE FTZ: a tiny result with underflow masked becomes a zero, raising UE and PE.
    pub ftz: bool,
    /// The exceptions raised so far.
    pub flags: Exc,
    /// The last rounding increased the magnitude (the x87 reports it in C1).
    pub up: bool,
}

impl Ctx {
    /// The x87 environment of a control word (RC bits 11:10, PC bits 9:8, masks 5:0).
    pub fn x87(cw: u16) -> Ctx {
        Ctx {
            round: Round::from_bits(cw >> 10),
            prec: Precision::from_bits(cw >> 8),
            masks: Exc::from_bits_truncate(cw as u8),
            x87: true,
            daz: false,
            ftz: false,
            flags: Exc::empty(),
            up: false,
        }
    }

    /// The SSE environment of an MXCSR value (RC bits 14:13, FTZ bit 15, DAZ bit 6, masks
    /// bits 12:7).
    pub fn sse(mxcsr: u32) -> Ctx {
        Ctx {
            round: Round::from_bits((mxcsr >> 13) as u16),
            prec: Precision::Extended,
            masks: Exc::from_bits_truncate((mxcsr >> 7) as u8),
            x87: false,
            daz: mxcsr & 1 << 6 != 0,
            ftz: mxcsr & 1 << 15 != 0,
            flags: Exc::empty(),
            up: false,
        }
    }

    /// An environment with every exception masked, round to nearest, 64-bit precision, x87
    /// rules (for tests and internal constants).
    pub fn new() -> Ctx {
        Ctx::x87(0x037F)
    }

    /// Raises `e`.
    #[inline]
    pub fn raise(&mut self, e: Exc) {
        self.flags |= e;
    }

    /// The raised exceptions that are unmasked.
    #[inline]
    pub fn unmasked(&self) -> Exc {
        self.flags & !self.masks
    }
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx::new()
    }
}

/// Shifts right by `n`, ORing the bits shifted out into bit 0 (the sticky bit).
#[inline]
pub fn shr_jam128(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n < 128 {
        (x >> n) | ((x << (128 - n) != 0) as u128)
    } else {
        (x != 0) as u128
    }
}

/// [`shr_jam128`] for 64 bits.
#[inline]
pub fn shr_jam64(x: u64, n: u32) -> u64 {
    if n == 0 {
        x
    } else if n < 64 {
        (x >> n) | ((x << (64 - n) != 0) as u64)
    } else {
        (x != 0) as u64
    }
}
