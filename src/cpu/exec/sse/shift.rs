//! Shifts: PSLLW/D/Q, PSRLW/D/Q, PSRAW/D by a register, memory or immediate count, and the
//! whole-register byte shifts PSLLDQ/PSRLDQ. The count is the source's low 64 bits (or the
//! immediate); a count at or above the lane width clears the lane, or fills it with the sign
//! for arithmetic shifts (SDM Vol. 2B PSLLW/PSRAW/PSRLW).

use iced_x86::Mnemonic as M;

use super::simd;
use super::xmm::map2;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

/// The shift count of source `b`: its low quadword.
#[inline(always)]
fn count(b: u128) -> u64 {
    b as u64
}

simd_op!(Psllw, |a, b, i| {
    let c = count(b);
    map2::<u16>(a, 0, |x, _| if c > 15 { 0 } else { x << c })
});
simd_op!(Pslld, |a, b, i| {
    let c = count(b);
    map2::<u32>(a, 0, |x, _| if c > 31 { 0 } else { x << c })
});
simd_op!(Psllq, |a, b, i| {
    let c = count(b);
    map2::<u64>(a, 0, |x, _| if c > 63 { 0 } else { x << c })
});
simd_op!(Psrlw, |a, b, i| {
    let c = count(b);
    map2::<u16>(a, 0, |x, _| if c > 15 { 0 } else { x >> c })
});
simd_op!(Psrld, |a, b, i| {
    let c = count(b);
    map2::<u32>(a, 0, |x, _| if c > 31 { 0 } else { x >> c })
});
simd_op!(Psrlq, |a, b, i| {
    let c = count(b);
    map2::<u64>(a, 0, |x, _| if c > 63 { 0 } else { x >> c })
});
simd_op!(Psraw, |a, b, i| {
    let c = count(b).min(15);
    map2::<u16>(a, 0, |x, _| ((x as i16) >> c) as u16)
});
simd_op!(Psrad, |a, b, i| {
    let c = count(b).min(31);
    map2::<u32>(a, 0, |x, _| ((x as i32) >> c) as u32)
});
simd_op!(
    /// Shift left by `imm` bytes (16 or more clears the register).
    Pslldq,
    |a, b, i| if b > 15 { 0 } else { a << (8 * b) }
);
simd_op!(
    /// Shift right by `imm` bytes.
    Psrldq,
    |a, b, i| if b > 15 { 0 } else { a >> (8 * b) }
);

/// Decodes the shift family (the immediate forms take the count as their source).
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.mnemonic() {
        M::Psllw => simd::<Psllw>(d, op),
        M::Pslld => simd::<Pslld>(d, op),
        M::Psllq => simd::<Psllq>(d, op),
        M::Psrlw => simd::<Psrlw>(d, op),
        M::Psrld => simd::<Psrld>(d, op),
        M::Psrlq => simd::<Psrlq>(d, op),
        M::Psraw => simd::<Psraw>(d, op),
        M::Psrad => simd::<Psrad>(d, op),
        M::Pslldq => simd::<Pslldq>(d, op),
        M::Psrldq => simd::<Psrldq>(d, op),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::Simd;

    #[test]
    fn counts_beyond_the_lane_clear_or_fill_with_the_sign() {
        let a = 0x8001_0000_0000_0000_0000_0000_8000_4001u128;
        assert_eq!(Psllw::op(a, 1, 0) as u32, 0x0000_8002);
        assert_eq!(Psllw::op(a, 16, 0), 0);
        assert_eq!(Psrlw::op(a, 1 << 64, 0), a, "only the low quadword counts");
        assert_eq!(Psraw::op(a, 100, 0) as u32, 0xFFFF_0000);
        assert_eq!(Psrad::op(a, 31, 0) >> 96, 0xFFFF_FFFF);
        assert_eq!(Psrlq::op(a, 64, 0), 0);
        assert_eq!(Psllq::op(1, 63, 0), 1 << 63);
        assert_eq!(Pslldq::op(a, 4, 0), a << 32);
        assert_eq!(Psrldq::op(a, 16, 0), 0);
        assert_eq!(Psrlw::op64(0x8000, 15, 0), 1);
    }
}
