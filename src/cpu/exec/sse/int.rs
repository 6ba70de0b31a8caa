//! Integer SIMD arithmetic: wrapping and saturating add/subtract, multiplies, multiply-add,
//! averages, sums of absolute differences, minimum/maximum, absolute value and sign, the
//! horizontal adds and subtracts, PHMINPOSUW, the integer compares, PTEST and PCLMULQDQ
//! (SDM Vol. 2, each instruction's "Operation").

use iced_x86::Mnemonic as M;

use super::xmm::{hi, join, lo, map2, split};
use super::{load, simd, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::bit;
use crate::cpu::{Cpu, Handler, Op};

/// Signed saturation of a 32-bit value to 16 bits.
#[inline(always)]
pub fn sat16(v: i32) -> u16 {
    v.clamp(i16::MIN as i32, i16::MAX as i32) as i16 as u16
}

simd_op!(Paddb, |a, b, i| map2::<u8>(a, b, |x, y| x.wrapping_add(y)));
simd_op!(Paddw, |a, b, i| map2::<u16>(a, b, |x, y| x.wrapping_add(y)));
simd_op!(Paddd, |a, b, i| map2::<u32>(a, b, |x, y| x.wrapping_add(y)));
simd_op!(Paddq, |a, b, i| map2::<u64>(a, b, |x, y| x.wrapping_add(y)));
simd_op!(Psubb, |a, b, i| map2::<u8>(a, b, |x, y| x.wrapping_sub(y)));
simd_op!(Psubw, |a, b, i| map2::<u16>(a, b, |x, y| x.wrapping_sub(y)));
simd_op!(Psubd, |a, b, i| map2::<u32>(a, b, |x, y| x.wrapping_sub(y)));
simd_op!(Psubq, |a, b, i| map2::<u64>(a, b, |x, y| x.wrapping_sub(y)));
simd_op!(Paddsb, |a, b, i| map2::<u8>(
    a,
    b,
    |x, y| (x as i8).saturating_add(y as i8) as u8
));
simd_op!(Paddsw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| (x as i16).saturating_add(y as i16) as u16
));
simd_op!(Paddusb, |a, b, i| map2::<u8>(a, b, |x, y| x
    .saturating_add(y)));
simd_op!(Paddusw, |a, b, i| map2::<u16>(a, b, |x, y| x
    .saturating_add(y)));
simd_op!(Psubsb, |a, b, i| map2::<u8>(
    a,
    b,
    |x, y| (x as i8).saturating_sub(y as i8) as u8
));
simd_op!(Psubsw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| (x as i16).saturating_sub(y as i16) as u16
));
simd_op!(Psubusb, |a, b, i| map2::<u8>(a, b, |x, y| x
    .saturating_sub(y)));
simd_op!(Psubusw, |a, b, i| map2::<u16>(a, b, |x, y| x
    .saturating_sub(y)));

simd_op!(Pmullw, |a, b, i| map2::<u16>(a, b, |x, y| x
    .wrapping_mul(y)));
simd_op!(Pmulhw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| ((x as i16 as i32 * y as i16 as i32) >> 16) as u16
));
simd_op!(Pmulhuw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| ((x as u32 * y as u32) >> 16) as u16
));
simd_op!(Pmulld, |a, b, i| map2::<u32>(a, b, |x, y| x
    .wrapping_mul(y)));
simd_op!(
    /// Unsigned 32×32→64 multiply of dwords 0 and 2.
    Pmuludq,
    |a, b, i| map2::<u64>(a, b, |x, y| (x as u32 as u64) * (y as u32 as u64))
);
simd_op!(
    /// Signed 32×32→64 multiply of dwords 0 and 2.
    Pmuldq,
    |a, b, i| map2::<u64>(a, b, |x, y| ((x as i32 as i64) * (y as i32 as i64)) as u64)
);
simd_op!(
    /// Signed word products summed in pairs into dwords.
    Pmaddwd,
    |a, b, i| {
        let (x, y): ([u16; 8], [u16; 8]) = (split(a), split(b));
        let d: [u32; 4] = std::array::from_fn(|k| {
            let p = |j: usize| x[j] as i16 as i32 * y[j] as i16 as i32;
            p(2 * k).wrapping_add(p(2 * k + 1)) as u32
        });
        join(d)
    }
);
simd_op!(
    /// Unsigned bytes of the destination times signed bytes of the source, summed in pairs
    /// with signed saturation.
    Pmaddubsw,
    |a, b, i| {
        let (x, y): ([u8; 16], [u8; 16]) = (split(a), split(b));
        let w: [u16; 8] = std::array::from_fn(|k| {
            let p = |j: usize| x[j] as i32 * y[j] as i8 as i32;
            sat16(p(2 * k) + p(2 * k + 1))
        });
        join(w)
    }
);
simd_op!(
    /// Signed word multiply, rounded and scaled: `((a*b >> 14) + 1) >> 1`.
    Pmulhrsw,
    |a, b, i| map2::<u16>(a, b, |x, y| {
        ((((x as i16 as i32 * y as i16 as i32) >> 14) + 1) >> 1) as u16
    })
);
simd_op!(Pavgb, |a, b, i| map2::<u8>(
    a,
    b,
    |x, y| ((x as u16 + y as u16 + 1) >> 1) as u8
));
simd_op!(Pavgw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| ((x as u32 + y as u32 + 1) >> 1) as u16
));
simd_op!(
    /// Sums of the absolute byte differences of each quadword, in its low word.
    Psadbw,
    |a, b, i| map2::<u64>(a, b, |x, y| {
        (0..8)
            .map(|k| ((x >> (8 * k)) as u8).abs_diff((y >> (8 * k)) as u8) as u64)
            .sum()
    })
);
simd_op!(
    /// Eight sums of absolute differences between 4-byte blocks: the destination's bytes from
    /// offset `imm[2]*4`, the source block at `imm[1:0]*4` (SDM Vol. 2B MPSADBW).
    Mpsadbw,
    |a, b, i| {
        let (x, y): ([u8; 16], [u8; 16]) = (split(a), split(b));
        let o1 = (i as usize >> 2 & 1) * 4;
        let o2 = (i as usize & 3) * 4;
        let w: [u16; 8] = std::array::from_fn(|k| {
            (0..4)
                .map(|j| x[o1 + k + j].abs_diff(y[o2 + j]) as u16)
                .sum()
        });
        join(w)
    }
);

simd_op!(Pminub, |a, b, i| map2::<u8>(a, b, |x, y| x.min(y)));
simd_op!(Pmaxub, |a, b, i| map2::<u8>(a, b, |x, y| x.max(y)));
simd_op!(Pminuw, |a, b, i| map2::<u16>(a, b, |x, y| x.min(y)));
simd_op!(Pmaxuw, |a, b, i| map2::<u16>(a, b, |x, y| x.max(y)));
simd_op!(Pminud, |a, b, i| map2::<u32>(a, b, |x, y| x.min(y)));
simd_op!(Pmaxud, |a, b, i| map2::<u32>(a, b, |x, y| x.max(y)));
simd_op!(Pminsb, |a, b, i| map2::<u8>(
    a,
    b,
    |x, y| (x as i8).min(y as i8) as u8
));
simd_op!(Pmaxsb, |a, b, i| map2::<u8>(
    a,
    b,
    |x, y| (x as i8).max(y as i8) as u8
));
simd_op!(Pminsw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| (x as i16).min(y as i16) as u16
));
simd_op!(Pmaxsw, |a, b, i| map2::<u16>(
    a,
    b,
    |x, y| (x as i16).max(y as i16) as u16
));
simd_op!(Pminsd, |a, b, i| map2::<u32>(
    a,
    b,
    |x, y| (x as i32).min(y as i32) as u32
));
simd_op!(Pmaxsd, |a, b, i| map2::<u32>(
    a,
    b,
    |x, y| (x as i32).max(y as i32) as u32
));

simd_op!(Pabsb, |a, b, i| map2::<u8>(a, b, |_, y| (y as i8)
    .unsigned_abs()));
simd_op!(Pabsw, |a, b, i| map2::<u16>(a, b, |_, y| (y as i16)
    .unsigned_abs()));
simd_op!(Pabsd, |a, b, i| map2::<u32>(a, b, |_, y| (y as i32)
    .unsigned_abs()));
simd_op!(Psignb, |a, b, i| map2::<u8>(a, b, |x, y| {
    match (y as i8).signum() {
        -1 => x.wrapping_neg(),
        0 => 0,
        _ => x,
    }
}));
simd_op!(Psignw, |a, b, i| map2::<u16>(a, b, |x, y| {
    match (y as i16).signum() {
        -1 => x.wrapping_neg(),
        0 => 0,
        _ => x,
    }
}));
simd_op!(Psignd, |a, b, i| map2::<u32>(a, b, |x, y| {
    match (y as i32).signum() {
        -1 => x.wrapping_neg(),
        0 => 0,
        _ => x,
    }
}));

/// A horizontal word operation: pairs of the destination, then pairs of the source.
#[inline(always)]
fn hwords<const N: usize, const H: usize>(
    a: [u16; N],
    b: [u16; N],
    f: fn(u16, u16) -> u16,
) -> [u16; N] {
    std::array::from_fn(|k| {
        let v = if k < H { &a } else { &b };
        let j = 2 * (k % H);
        f(v[j], v[j + 1])
    })
}

/// A horizontal dword operation, as [`hwords`].
#[inline(always)]
fn hdwords<const N: usize, const H: usize>(
    a: [u32; N],
    b: [u32; N],
    f: fn(u32, u32) -> u32,
) -> [u32; N] {
    std::array::from_fn(|k| {
        let v = if k < H { &a } else { &b };
        let j = 2 * (k % H);
        f(v[j], v[j + 1])
    })
}

macro_rules! horizontal {
    ($name:ident, $lanes:ident, $t:ty, $f:expr) => {
        simd_op!(
            $name,
            |a, b, i| join($lanes::<
                { 128 / <$t>::BITS as usize },
                { 64 / <$t>::BITS as usize },
            >(split(a), split(b), $f)),
            op64 | a,
            b,
            i | join($lanes::<
                { 64 / <$t>::BITS as usize },
                { 32 / <$t>::BITS as usize },
            >(split(a as u128), split(b as u128), $f)) as u64
        );
    };
}

horizontal!(Phaddw, hwords, u16, |x, y| x.wrapping_add(y));
horizontal!(Phsubw, hwords, u16, |x, y| x.wrapping_sub(y));
horizontal!(Phaddsw, hwords, u16, |x, y| sat16(
    x as i16 as i32 + y as i16 as i32
));
horizontal!(Phsubsw, hwords, u16, |x, y| sat16(
    x as i16 as i32 - y as i16 as i32
));
horizontal!(Phaddd, hdwords, u32, |x, y| x.wrapping_add(y));
horizontal!(Phsubd, hdwords, u32, |x, y| x.wrapping_sub(y));

simd_op!(
    /// The smallest unsigned word of the source and its index (the lowest on ties).
    Phminposuw,
    |a, b, i| {
        let w: [u16; 8] = split(b);
        let (mut min, mut at) = (w[0], 0u16);
        for (k, &v) in w.iter().enumerate().skip(1) {
            if v < min {
                min = v;
                at = k as u16;
            }
        }
        min as u128 | (at as u128) << 16
    }
);

simd_op!(Pcmpeqb, |a, b, i| map2::<u8>(a, b, |x, y| if x == y {
    !0
} else {
    0
}));
simd_op!(Pcmpeqw, |a, b, i| map2::<u16>(a, b, |x, y| if x == y {
    !0
} else {
    0
}));
simd_op!(Pcmpeqd, |a, b, i| map2::<u32>(a, b, |x, y| if x == y {
    !0
} else {
    0
}));
simd_op!(Pcmpeqq, |a, b, i| map2::<u64>(a, b, |x, y| if x == y {
    !0
} else {
    0
}));
simd_op!(Pcmpgtb, |a, b, i| map2::<u8>(a, b, |x, y| {
    if x as i8 > y as i8 {
        !0
    } else {
        0
    }
}));
simd_op!(Pcmpgtw, |a, b, i| map2::<u16>(a, b, |x, y| {
    if x as i16 > y as i16 {
        !0
    } else {
        0
    }
}));
simd_op!(Pcmpgtd, |a, b, i| map2::<u32>(a, b, |x, y| {
    if x as i32 > y as i32 {
        !0
    } else {
        0
    }
}));
simd_op!(Pcmpgtq, |a, b, i| map2::<u64>(a, b, |x, y| {
    if x as i64 > y as i64 {
        !0
    } else {
        0
    }
}));

/// The carry-less product of two quadwords.
pub fn clmul(a: u64, b: u64) -> u128 {
    let mut r = 0u128;
    for k in 0..64 {
        if b >> k & 1 != 0 {
            r ^= (a as u128) << k;
        }
    }
    r
}

simd_op!(
    /// Carry-less multiply of the destination quadword `imm[0]` by the source quadword
    /// `imm[4]`.
    Pclmulqdq,
    |a, b, i| {
        let x = if i & 1 != 0 { hi(a) } else { lo(a) };
        let y = if i & 0x10 != 0 { hi(b) } else { lo(b) };
        clmul(x, y)
    }
);

/// PTEST: ZF = (a AND b) = 0, CF = (NOT a AND b) = 0; AF, OF, PF, SF cleared.
fn ptest<const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let mut f = 0;
    if a & b == 0 {
        f |= bit::ZF;
    }
    if !a & b == 0 {
        f |= bit::CF;
    }
    cpu.flags.set_arith(bit::ARITH, f);
    Ok(())
}

/// Decodes the integer arithmetic family.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    Some(match d.ins.mnemonic() {
        M::Paddb => simd::<Paddb>(d, op)?,
        M::Paddw => simd::<Paddw>(d, op)?,
        M::Paddd => simd::<Paddd>(d, op)?,
        M::Paddq => simd::<Paddq>(d, op)?,
        M::Psubb => simd::<Psubb>(d, op)?,
        M::Psubw => simd::<Psubw>(d, op)?,
        M::Psubd => simd::<Psubd>(d, op)?,
        M::Psubq => simd::<Psubq>(d, op)?,
        M::Paddsb => simd::<Paddsb>(d, op)?,
        M::Paddsw => simd::<Paddsw>(d, op)?,
        M::Paddusb => simd::<Paddusb>(d, op)?,
        M::Paddusw => simd::<Paddusw>(d, op)?,
        M::Psubsb => simd::<Psubsb>(d, op)?,
        M::Psubsw => simd::<Psubsw>(d, op)?,
        M::Psubusb => simd::<Psubusb>(d, op)?,
        M::Psubusw => simd::<Psubusw>(d, op)?,
        M::Pmullw => simd::<Pmullw>(d, op)?,
        M::Pmulhw => simd::<Pmulhw>(d, op)?,
        M::Pmulhuw => simd::<Pmulhuw>(d, op)?,
        M::Pmulld => simd::<Pmulld>(d, op)?,
        M::Pmuludq => simd::<Pmuludq>(d, op)?,
        M::Pmuldq => simd::<Pmuldq>(d, op)?,
        M::Pmaddwd => simd::<Pmaddwd>(d, op)?,
        M::Pmaddubsw => simd::<Pmaddubsw>(d, op)?,
        M::Pmulhrsw => simd::<Pmulhrsw>(d, op)?,
        M::Pavgb => simd::<Pavgb>(d, op)?,
        M::Pavgw => simd::<Pavgw>(d, op)?,
        M::Psadbw => simd::<Psadbw>(d, op)?,
        M::Mpsadbw => simd::<Mpsadbw>(d, op)?,
        M::Pminub => simd::<Pminub>(d, op)?,
        M::Pmaxub => simd::<Pmaxub>(d, op)?,
        M::Pminuw => simd::<Pminuw>(d, op)?,
        M::Pmaxuw => simd::<Pmaxuw>(d, op)?,
        M::Pminud => simd::<Pminud>(d, op)?,
        M::Pmaxud => simd::<Pmaxud>(d, op)?,
        M::Pminsb => simd::<Pminsb>(d, op)?,
        M::Pmaxsb => simd::<Pmaxsb>(d, op)?,
        M::Pminsw => simd::<Pminsw>(d, op)?,
        M::Pmaxsw => simd::<Pmaxsw>(d, op)?,
        M::Pminsd => simd::<Pminsd>(d, op)?,
        M::Pmaxsd => simd::<Pmaxsd>(d, op)?,
        M::Pabsb => simd::<Pabsb>(d, op)?,
        M::Pabsw => simd::<Pabsw>(d, op)?,
        M::Pabsd => simd::<Pabsd>(d, op)?,
        M::Psignb => simd::<Psignb>(d, op)?,
        M::Psignw => simd::<Psignw>(d, op)?,
        M::Psignd => simd::<Psignd>(d, op)?,
        M::Phaddw => simd::<Phaddw>(d, op)?,
        M::Phaddd => simd::<Phaddd>(d, op)?,
        M::Phaddsw => simd::<Phaddsw>(d, op)?,
        M::Phsubw => simd::<Phsubw>(d, op)?,
        M::Phsubd => simd::<Phsubd>(d, op)?,
        M::Phsubsw => simd::<Phsubsw>(d, op)?,
        M::Phminposuw => simd::<Phminposuw>(d, op)?,
        M::Pcmpeqb => simd::<Pcmpeqb>(d, op)?,
        M::Pcmpeqw => simd::<Pcmpeqw>(d, op)?,
        M::Pcmpeqd => simd::<Pcmpeqd>(d, op)?,
        M::Pcmpeqq => simd::<Pcmpeqq>(d, op)?,
        M::Pcmpgtb => simd::<Pcmpgtb>(d, op)?,
        M::Pcmpgtw => simd::<Pcmpgtw>(d, op)?,
        M::Pcmpgtd => simd::<Pcmpgtd>(d, op)?,
        M::Pcmpgtq => simd::<Pcmpgtq>(d, op)?,
        M::Pclmulqdq => simd::<Pclmulqdq>(d, op)?,
        M::Ptest => {
            op.r = super::vreg(d.ins.op0_register());
            let s = super::source(d, op, 1, false);
            op.run = match s {
                src::REG => ptest::<{ src::REG }> as Handler,
                _ => ptest::<{ src::M128A }>,
            };
            Flow::Next
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::xmm::from_q;
    use crate::cpu::exec::sse::Simd;

    fn w(v: [u16; 8]) -> u128 {
        join(v)
    }

    #[test]
    fn wrapping_and_saturating_adds() {
        let a = w([0x7FFF, 0x8000, 0xFFFF, 1, 0, 0x1234, 0x8001, 0x7FFE]);
        let b = w([1, 0xFFFF, 1, 0xFFFF, 0, 0x1111, 0x8000, 2]);
        assert_eq!(
            Paddw::op(a, b, 0),
            w([0x8000, 0x7FFF, 0, 0, 0, 0x2345, 1, 0x8000])
        );
        assert_eq!(
            Paddsw::op(a, b, 0),
            w([0x7FFF, 0x8000, 0, 0, 0, 0x2345, 0x8000, 0x7FFF])
        );
        assert_eq!(
            Paddusw::op(a, b, 0),
            w([0x8000, 0xFFFF, 0xFFFF, 0xFFFF, 0, 0x2345, 0xFFFF, 0x8000])
        );
        assert_eq!(
            Psubusw::op(a, b, 0),
            w([0x7FFE, 0, 0xFFFE, 0, 0, 0x0123, 1, 0x7FFC])
        );
        assert_eq!(Psubsb::op(0x80, 0x01, 0), 0x80, "-128 - 1 saturates");
    }

    #[test]
    fn multiplies() {
        let a = w([0x8000, 3, 0xFFFF, 0x4000, 0, 0, 0, 0]);
        let b = w([0x8000, 5, 0xFFFF, 0x4000, 0, 0, 0, 0]);
        assert_eq!(Pmullw::op(a, b, 0), w([0, 15, 1, 0, 0, 0, 0, 0]));
        assert_eq!(Pmulhw::op(a, b, 0), w([0x4000, 0, 0, 0x1000, 0, 0, 0, 0]));
        assert_eq!(
            Pmulhuw::op(a, b, 0),
            w([0x4000, 0, 0xFFFE, 0x1000, 0, 0, 0, 0])
        );
        // PMADDWD: (-32768)(-32768) + 3*5 and the one overflowing case.
        assert_eq!(Pmaddwd::op(a, b, 0) as u32, 0x4000_000F);
        let m = w([0x8000; 8]);
        assert_eq!(Pmaddwd::op(m, m, 0) as u32, 0x8000_0000);
        assert_eq!(
            Pmuludq::op(from_q(0xFFFF_FFFF, 2), from_q(0xFFFF_FFFF, 3), 0),
            from_q(0xFFFF_FFFE_0000_0001, 6)
        );
        assert_eq!(
            Pmuldq::op(0xFFFF_FFFF, 2, 0) as u64,
            (-2i64) as u64,
            "signed dword 0"
        );
        assert_eq!(Pmulhrsw::op(0x4000, 0x4000, 0) as u16, 0x2000);
        // PMADDUBSW: 255 * 127 * 2 saturates to 0x7FFF; 255 * -128 * 2 to 0x8000.
        assert_eq!(Pmaddubsw::op(0xFFFF, 0x7F7F, 0) as u16, 0x7FFF);
        assert_eq!(Pmaddubsw::op(0xFFFF, 0x8080, 0) as u16, 0x8000);
    }

    #[test]
    fn averages_sad_and_mpsadbw() {
        assert_eq!(Pavgb::op(0xFF, 0x00, 0) as u8, 0x80);
        assert_eq!(Pavgw::op(1, 2, 0) as u16, 2);
        let a = from_q(0x0807_0605_0403_0201, 0xFF);
        let b = from_q(0x0102_0304_0506_0708, 0);
        assert_eq!(Psadbw::op(a, b, 0), from_q(32, 255));
        assert_eq!(Psadbw::op64(0x0807_0605_0403_0201, 0, 0), 36);
        let x: u128 = join::<u8, 16>(std::array::from_fn(|k| k as u8));
        let y: u128 = 0;
        // Block 1 from byte 0, block 2 = the zero dword: sums of bytes k..k+3.
        let r: [u16; 8] = split(Mpsadbw::op(x, y, 0));
        assert_eq!(r, std::array::from_fn(|k| (4 * k + 6) as u16));
        let r: [u16; 8] = split(Mpsadbw::op(x, y, 4));
        assert_eq!(r[0], 4 + 5 + 6 + 7);
    }

    #[test]
    fn min_max_abs_sign() {
        assert_eq!(Pminsw::op(0x8000, 1, 0) as u16, 0x8000);
        assert_eq!(Pminuw::op(0x8000, 1, 0) as u16, 1);
        assert_eq!(Pmaxsd::op(0xFFFF_FFFF, 0, 0) as u32, 0);
        assert_eq!(Pabsb::op(0, 0x80_FF_01, 0), 0x80_01_01);
        assert_eq!(
            Psignw::op(
                w([5, 5, 5, 0, 0, 0, 0, 0]),
                w([0xFFFF, 0, 7, 0, 0, 0, 0, 0]),
                0
            ),
            w([0xFFFB, 0, 5, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn horizontal_operations_take_the_destination_then_the_source() {
        let a = w([1, 2, 3, 4, 5, 6, 7, 8]);
        let b = w([10, 20, 30, 40, 50, 60, 0x7FFF, 1]);
        assert_eq!(Phaddw::op(a, b, 0), w([3, 7, 11, 15, 30, 70, 110, 0x8000]));
        assert_eq!(Phaddsw::op(a, b, 0), w([3, 7, 11, 15, 30, 70, 110, 0x7FFF]));
        assert_eq!(Phsubw::op(a, b, 0) as u16, 0xFFFF);
        // MMX: [a0+a1, a2+a3, b0+b1, b2+b3].
        assert_eq!(
            Phaddw::op64(0x0004_0003_0002_0001, 0x0028_001E_0014_000A, 0),
            0x0046_001E_0007_0003
        );
        assert_eq!(Phaddd::op64(0x2_0000_0001, 0x5_0000_0004, 0), 0x9_0000_0003);
        assert_eq!(
            Phminposuw::op(0, w([9, 3, 7, 3, 8, 8, 8, 8]), 0),
            3 | 1 << 16
        );
    }

    #[test]
    fn compares_and_clmul() {
        assert_eq!(Pcmpeqb::op(0x1234, 0x5534, 0), !0xFF00);
        assert_eq!(Pcmpgtb::op(0x01, 0xFF, 0), 0xFF, "1 > -1");
        assert_eq!(Pcmpgtq::op(from_q(0, 1), 0, 0), from_q(0, !0));
        assert_eq!(clmul(0b11, 0b11), 0b101);
        assert_eq!(clmul(u64::MAX, 2), (u64::MAX as u128) << 1);
        assert_eq!(Pclmulqdq::op(from_q(3, 0), from_q(0, 3), 0x10), 5);
    }
}
