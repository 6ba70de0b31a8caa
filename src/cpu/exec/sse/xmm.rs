//! The SSE register file (XMM0–XMM15 and MXCSR) and lane access for 128-bit values.
//!
//! An XMM register is a `u128` whose bit n is bit n of the register; lane i of width w holds
//! bits `w*i .. w*(i+1)`. The lane helpers below split and join values; they compile to
//! shifts and moves the optimiser folds.

/// MXCSR bits (SDM Vol. 1 10.2.3), named as in the manual.
pub mod mxcsr {
    /// Invalid-operation flag.
    pub const IE: u32 = 1 << 0;
    /// Denormal flag.
    pub const DE: u32 = 1 << 1;
    /// Divide-by-zero flag.
    pub const ZE: u32 = 1 << 2;
    /// Overflow flag.
    pub const OE: u32 = 1 << 3;
    /// Underflow flag.
    pub const UE: u32 = 1 << 4;
    /// Precision (inexact) flag.
    pub const PE: u32 = 1 << 5;
    /// The six exception flags.
    pub const FLAGS: u32 = 0x3F;
    /// Denormals are zeros: denormal source operands read as zero.
    pub const DAZ: u32 = 1 << 6;
    /// The exception masks (IM at bit 7 … PM at bit 12); mask bit = flag bit << 7.
    pub const MASKS: u32 = 0x3F << 7;
    /// Invalid-operation mask.
    pub const IM: u32 = 1 << 7;
    /// Rounding control (bits 14:13): 0 nearest, 1 down, 2 up, 3 toward zero.
    pub const RC: u32 = 3 << 13;
    /// The shift of the rounding-control field.
    pub const RC_SHIFT: u32 = 13;
    /// Flush to zero: tiny results become zero when underflow is masked.
    pub const FZ: u32 = 1 << 15;
    /// The power-on value: all exceptions masked, round to nearest.
    pub const DEFAULT: u32 = 0x1F80;
    /// The bits that may be set (MXCSR_MASK as FXSAVE stores it; DAZ is supported).
    pub const MASK: u32 = 0xFFFF;
}

/// The SSE state: the sixteen XMM registers and MXCSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseState {
    /// XMM0–XMM15 (XMM8–15 exist only in 64-bit mode).
    pub xmm: [u128; 16],
    /// The SIMD control and status register.
    pub mxcsr: u32,
}

impl Default for SseState {
    fn default() -> Self {
        SseState {
            xmm: [0; 16],
            mxcsr: mxcsr::DEFAULT,
        }
    }
}

/// A lane type: an unsigned integer of 8, 16, 32 or 64 bits.
pub trait Lane: Copy + Default {
    /// Lanes in 128 bits.
    const N: usize;
    /// Bits per lane.
    const BITS: u32;
    /// Lane `i` of `v`.
    fn get(v: u128, i: usize) -> Self;
    /// The lane as the low bits of a `u128`.
    fn wide(self) -> u128;
    /// The lane from its little-endian bytes (the first `BITS / 8` of `b`).
    fn from_bytes(b: &[u8]) -> Self;
    /// Stores the lane's little-endian bytes into `b`.
    fn put_bytes(self, b: &mut [u8]);
}

macro_rules! lane {
    ($t:ty) => {
        impl Lane for $t {
            const N: usize = 128 / <$t>::BITS as usize;
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn get(v: u128, i: usize) -> Self {
                (v >> (Self::BITS as usize * i)) as $t
            }
            #[inline(always)]
            fn wide(self) -> u128 {
                self as u128
            }
            #[inline(always)]
            fn from_bytes(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
            #[inline(always)]
            fn put_bytes(self, b: &mut [u8]) {
                b[..std::mem::size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
            }
        }
    };
}
lane!(u8);
lane!(u16);
lane!(u32);
lane!(u64);

/// The first `N` lanes of `v` as an array (through its bytes, which the optimiser turns
/// into vector moves).
#[inline(always)]
pub fn split<L: Lane, const N: usize>(v: u128) -> [L; N] {
    let b = v.to_le_bytes();
    let w = L::BITS as usize / 8;
    std::array::from_fn(|i| L::from_bytes(&b[w * i..]))
}

/// Joins lanes into a value (lane 0 lowest; bits past the `N` lanes are zero).
#[inline(always)]
pub fn join<L: Lane, const N: usize>(lanes: [L; N]) -> u128 {
    let mut b = [0u8; 16];
    let w = L::BITS as usize / 8;
    for (i, l) in lanes.iter().enumerate() {
        l.put_bytes(&mut b[w * i..]);
    }
    u128::from_le_bytes(b)
}

/// Applies `f` to each pair of lanes of `a` and `b`.
#[inline(always)]
pub fn map2<L: Lane>(a: u128, b: u128, f: impl Fn(L, L) -> L) -> u128 {
    let (x, y) = (a.to_le_bytes(), b.to_le_bytes());
    let mut r = [0u8; 16];
    let w = L::BITS as usize / 8;
    for i in 0..L::N {
        f(L::from_bytes(&x[w * i..]), L::from_bytes(&y[w * i..])).put_bytes(&mut r[w * i..]);
    }
    u128::from_le_bytes(r)
}

/// Applies `f` to each lane of `a`.
#[inline(always)]
pub fn map1<L: Lane>(a: u128, f: impl Fn(L) -> L) -> u128 {
    map2::<L>(a, 0, |x, _| f(x))
}

/// The low 64 bits.
#[inline(always)]
pub fn lo(v: u128) -> u64 {
    v as u64
}

/// The high 64 bits.
#[inline(always)]
pub fn hi(v: u128) -> u64 {
    (v >> 64) as u64
}

/// A value from its two quadwords.
#[inline(always)]
pub fn from_q(lo: u64, hi: u64) -> u128 {
    lo as u128 | (hi as u128) << 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_split_and_join_in_little_endian_order() {
        let v = 0x0F0E_0D0C_0B0A_0908_0706_0504_0302_0100u128;
        let b: [u8; 16] = split(v);
        assert_eq!(b[0], 0x00);
        assert_eq!(b[15], 0x0F);
        let w: [u16; 8] = split(v);
        assert_eq!(w[1], 0x0302);
        assert_eq!(join(w), v);
        assert_eq!(u32::get(v, 3), 0x0F0E_0D0C);
        assert_eq!(map2::<u8>(v, v, |a, b| a.wrapping_add(b)), v << 1);
        assert_eq!(
            (lo(v), hi(v)),
            (0x0706_0504_0302_0100, 0x0F0E_0D0C_0B0A_0908)
        );
        assert_eq!(from_q(lo(v), hi(v)), v);
        assert_eq!(SseState::default().mxcsr, 0x1F80);
    }
}
