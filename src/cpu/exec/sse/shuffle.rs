//! Shuffles, unpacks, packs, blends, byte alignment, duplicating moves and the sign/zero
//! extensions PMOVSX/PMOVZX (SDM Vol. 2, each instruction's "Operation").

use iced_x86::Mnemonic as M;

use super::xmm::{from_q, hi, join, lo, split, Lane};
use super::{load, set_xmm, simd, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::{Cpu, Handler, Op};

simd_op!(Pshufd, |a, b, i| {
    let d: [u32; 4] = split(b);
    join::<u32, 4>(std::array::from_fn(|k| d[(i as usize >> (2 * k)) & 3]))
});
simd_op!(Pshuflw, |a, b, i| {
    let w: [u16; 8] = split(b);
    let l: [u16; 4] = std::array::from_fn(|k| w[(i as usize >> (2 * k)) & 3]);
    from_q(join::<u16, 4>(l) as u64, hi(b))
});
simd_op!(Pshufhw, |a, b, i| {
    let w: [u16; 8] = split(b);
    let h: [u16; 4] = std::array::from_fn(|k| w[4 + ((i as usize >> (2 * k)) & 3)]);
    from_q(lo(b), join::<u16, 4>(h) as u64)
});
simd_op!(
    /// PSHUFB: each byte selects a byte of the destination, or zero when its bit 7 is set.
    Pshufb,
    |a, b, i| {
        let (x, s): ([u8; 16], [u8; 16]) = (split(a), split(b));
        join::<u8, 16>(std::array::from_fn(|k| {
            if s[k] & 0x80 != 0 {
                0
            } else {
                x[(s[k] & 15) as usize]
            }
        }))
    },
    op64 |a, b, i| {
        let (x, s): ([u8; 8], [u8; 8]) = (split(a as u128), split(b as u128));
        join::<u8, 8>(std::array::from_fn(|k| {
            if s[k] & 0x80 != 0 {
                0
            } else {
                x[(s[k] & 7) as usize]
            }
        })) as u64
    }
);
simd_op!(Shufps, |a, b, i| {
    let (x, y): ([u32; 4], [u32; 4]) = (split(a), split(b));
    let s = |k: usize| (i as usize >> (2 * k)) & 3;
    join([x[s(0)], x[s(1)], y[s(2)], y[s(3)]])
});
simd_op!(Shufpd, |a, b, i| {
    let x = if i & 1 != 0 { hi(a) } else { lo(a) };
    let y = if i & 2 != 0 { hi(b) } else { lo(b) };
    from_q(x, y)
});

/// Interleaves the lanes of the low (`HIGH` false) or high halves of `a` and `b`, `a` first.
#[inline(always)]
fn interleave<L: Lane, const N: usize, const HIGH: bool>(a: u128, b: u128) -> u128 {
    let (x, y): ([L; N], [L; N]) = (split(a), split(b));
    let base = if HIGH { N / 2 } else { 0 };
    join::<L, N>(std::array::from_fn(|k| {
        let v = if k % 2 == 0 { &x } else { &y };
        v[base + k / 2]
    }))
}

macro_rules! unpack {
    ($name:ident, $t:ty, $high:expr) => {
        simd_op!(
            $name,
            |a, b, i| interleave::<$t, { 128 / <$t>::BITS as usize }, $high>(a, b),
            op64 | a,
            b,
            i | interleave::<$t, { 64 / <$t>::BITS as usize }, $high>(a as u128, b as u128) as u64
        );
    };
}
unpack!(Punpcklbw, u8, false);
unpack!(Punpcklwd, u16, false);
unpack!(Punpckldq, u32, false);
unpack!(Punpcklqdq, u64, false);
unpack!(Punpckhbw, u8, true);
unpack!(Punpckhwd, u16, true);
unpack!(Punpckhdq, u32, true);
unpack!(Punpckhqdq, u64, true);

/// Packs the lanes of `a` then `b` with `f` (a saturating narrowing).
#[inline(always)]
fn pack<W: Lane, const N: usize, Nw: Lane, const M2: usize>(
    a: u128,
    b: u128,
    f: fn(W) -> Nw,
) -> u128 {
    let (x, y): ([W; N], [W; N]) = (split(a), split(b));
    join::<Nw, M2>(std::array::from_fn(|k| {
        if k < N {
            f(x[k])
        } else {
            f(y[k - N])
        }
    }))
}

fn ss_b(w: u16) -> u8 {
    (w as i16).clamp(i8::MIN as i16, i8::MAX as i16) as u8
}
fn us_b(w: u16) -> u8 {
    (w as i16).clamp(0, 255) as u8
}
fn ss_w(d: u32) -> u16 {
    (d as i32).clamp(i16::MIN as i32, i16::MAX as i32) as u16
}
fn us_w(d: u32) -> u16 {
    (d as i32).clamp(0, 65535) as u16
}

simd_op!(
    Packsswb,
    |a, b, i| pack::<u16, 8, u8, 16>(a, b, ss_b),
    op64 | a,
    b,
    i | pack::<u16, 4, u8, 8>(a as u128, b as u128, ss_b) as u64
);
simd_op!(
    Packuswb,
    |a, b, i| pack::<u16, 8, u8, 16>(a, b, us_b),
    op64 | a,
    b,
    i | pack::<u16, 4, u8, 8>(a as u128, b as u128, us_b) as u64
);
simd_op!(
    Packssdw,
    |a, b, i| pack::<u32, 4, u16, 8>(a, b, ss_w),
    op64 | a,
    b,
    i | pack::<u32, 2, u16, 4>(a as u128, b as u128, ss_w) as u64
);
simd_op!(Packusdw, |a, b, i| pack::<u32, 4, u16, 8>(a, b, us_w));

/// Selects lane k of `b` where bit k of `mask` is set, else of `a`.
#[inline(always)]
fn blend<L: Lane, const N: usize>(a: u128, b: u128, mask: u32) -> u128 {
    let (x, y): ([L; N], [L; N]) = (split(a), split(b));
    join::<L, N>(std::array::from_fn(|k| {
        if mask >> k & 1 != 0 {
            y[k]
        } else {
            x[k]
        }
    }))
}

simd_op!(Pblendw, |a, b, i| blend::<u16, 8>(a, b, i as u32));
simd_op!(Blendps, |a, b, i| blend::<u32, 4>(a, b, i as u32));
simd_op!(Blendpd, |a, b, i| blend::<u64, 2>(a, b, i as u32));

/// The sign bits of the lanes of `v`, lane 0 in bit 0.
#[inline(always)]
pub fn signs<L: Lane, const N: usize>(v: u128) -> u32 {
    if L::BITS == 8 {
        // Bit 7 of each byte gathered by one multiply per quadword: byte i's bit lands
        // in bit 56 + i (the products of different bytes never meet there).
        let gather =
            |q: u64| ((q & 0x8080_8080_8080_8080).wrapping_mul(0x0002_0408_1020_4081) >> 56) as u32;
        return gather(v as u64) | gather((v >> 64) as u64) << 8;
    }
    let mut m = 0;
    let mut k = 0;
    while k < N {
        m |= ((v >> (L::BITS as usize * (k + 1) - 1)) & 1) as u32 * (1 << k);
        k += 1;
    }
    m
}

/// BLENDVPS/BLENDVPD/PBLENDVB: the implicit XMM0 selects lanes by their sign bits.
fn blendv<L: Lane, const N: usize, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let mask = signs::<L, N>(xmm(cpu, 0));
    set_xmm(cpu, op.r, blend::<L, N>(a, b, mask));
    Ok(())
}

/// INSERTPS: a dword (from the source register at `imm[7:6]`, or from memory) replaces
/// destination dword `imm[5:4]`; then the dwords of `imm[3:0]` are cleared.
#[inline(always)]
fn insertps(a: u128, v: u32, i: u8) -> u128 {
    let mut d: [u32; 4] = split(a);
    d[(i as usize >> 4) & 3] = v;
    for (k, x) in d.iter_mut().enumerate() {
        if i >> k & 1 != 0 {
            *x = 0;
        }
    }
    join(d)
}
simd_op!(InsertpsReg, |a, b, i| insertps(
    a,
    u32::get(b, (i as usize >> 6) & 3),
    i
));
simd_op!(InsertpsMem, |a, b, i| insertps(a, b as u32, i));

simd_op!(
    /// PALIGNR: the destination:source pair shifted right by `imm` bytes.
    Palignr,
    |a, b, i| {
        let n = i as u32 * 8;
        match n {
            0 => b,
            1..=127 => b >> n | a << (128 - n),
            128 => a,
            129..=255 => a >> (n - 128),
            _ => 0,
        }
    },
    op64 |a, b, i| {
        let v = (a as u128) << 64 | b as u128;
        if i >= 16 {
            0
        } else {
            (v >> (8 * i as u32)) as u64
        }
    }
);

simd_op!(Movddup, |a, b, i| from_q(lo(b), lo(b)));
simd_op!(Movsldup, |a, b, i| {
    let d: [u32; 4] = split(b);
    join([d[0], d[0], d[2], d[2]])
});
simd_op!(Movshdup, |a, b, i| {
    let d: [u32; 4] = split(b);
    join([d[1], d[1], d[3], d[3]])
});

macro_rules! extend {
    ($name:ident, $from:ty, $to:ty, $n:expr, $signed:ty, $wide:ty) => {
        simd_op!($name, |a, b, i| join::<$to, $n>(std::array::from_fn(|k| {
            <$from as Lane>::get(b, k) as $signed as $wide as $to
        })));
    };
}
extend!(Pmovsxbw, u8, u16, 8, i8, i16);
extend!(Pmovsxbd, u8, u32, 4, i8, i32);
extend!(Pmovsxbq, u8, u64, 2, i8, i64);
extend!(Pmovsxwd, u16, u32, 4, i16, i32);
extend!(Pmovsxwq, u16, u64, 2, i16, i64);
extend!(Pmovsxdq, u32, u64, 2, i32, i64);
extend!(Pmovzxbw, u8, u16, 8, u8, u16);
extend!(Pmovzxbd, u8, u32, 4, u8, u32);
extend!(Pmovzxbq, u8, u64, 2, u8, u64);
extend!(Pmovzxwd, u16, u32, 4, u16, u32);
extend!(Pmovzxwq, u16, u64, 2, u16, u64);
extend!(Pmovzxdq, u32, u64, 2, u32, u64);

fn blendv_handler<L: Lane, const N: usize>(s: u8) -> Handler {
    match s {
        src::REG => blendv::<L, N, { src::REG }>,
        _ => blendv::<L, N, { src::M128A }>,
    }
}

/// Decodes the shuffle family.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.mnemonic() {
        M::Pshufd => simd::<Pshufd>(d, op),
        M::Pshuflw | M::Pshufw => simd::<Pshuflw>(d, op),
        M::Pshufhw => simd::<Pshufhw>(d, op),
        M::Pshufb => simd::<Pshufb>(d, op),
        M::Shufps => simd::<Shufps>(d, op),
        M::Shufpd => simd::<Shufpd>(d, op),
        M::Unpcklps => simd::<Punpckldq>(d, op),
        M::Unpckhps => simd::<Punpckhdq>(d, op),
        M::Unpcklpd => simd::<Punpcklqdq>(d, op),
        M::Unpckhpd => simd::<Punpckhqdq>(d, op),
        M::Punpcklbw => simd::<Punpcklbw>(d, op),
        M::Punpcklwd => simd::<Punpcklwd>(d, op),
        M::Punpckldq => simd::<Punpckldq>(d, op),
        M::Punpcklqdq => simd::<Punpcklqdq>(d, op),
        M::Punpckhbw => simd::<Punpckhbw>(d, op),
        M::Punpckhwd => simd::<Punpckhwd>(d, op),
        M::Punpckhdq => simd::<Punpckhdq>(d, op),
        M::Punpckhqdq => simd::<Punpckhqdq>(d, op),
        M::Packsswb => simd::<Packsswb>(d, op),
        M::Packssdw => simd::<Packssdw>(d, op),
        M::Packuswb => simd::<Packuswb>(d, op),
        M::Packusdw => simd::<Packusdw>(d, op),
        M::Pblendw => simd::<Pblendw>(d, op),
        M::Blendps => simd::<Blendps>(d, op),
        M::Blendpd => simd::<Blendpd>(d, op),
        M::Blendvps | M::Blendvpd | M::Pblendvb => {
            op.r = super::vreg(d.ins.op0_register());
            let s = super::source(d, op, 1, false);
            op.run = match d.ins.mnemonic() {
                M::Blendvps => blendv_handler::<u32, 4>(s),
                M::Blendvpd => blendv_handler::<u64, 2>(s),
                _ => blendv_handler::<u8, 16>(s),
            };
            Some(Flow::Next)
        }
        M::Insertps if d.is_mem(1) => simd::<InsertpsMem>(d, op),
        M::Insertps => simd::<InsertpsReg>(d, op),
        M::Palignr => simd::<Palignr>(d, op),
        M::Movddup => simd::<Movddup>(d, op),
        M::Movsldup => simd::<Movsldup>(d, op),
        M::Movshdup => simd::<Movshdup>(d, op),
        M::Pmovsxbw => simd::<Pmovsxbw>(d, op),
        M::Pmovsxbd => simd::<Pmovsxbd>(d, op),
        M::Pmovsxbq => simd::<Pmovsxbq>(d, op),
        M::Pmovsxwd => simd::<Pmovsxwd>(d, op),
        M::Pmovsxwq => simd::<Pmovsxwq>(d, op),
        M::Pmovsxdq => simd::<Pmovsxdq>(d, op),
        M::Pmovzxbw => simd::<Pmovzxbw>(d, op),
        M::Pmovzxbd => simd::<Pmovzxbd>(d, op),
        M::Pmovzxbq => simd::<Pmovzxbq>(d, op),
        M::Pmovzxwd => simd::<Pmovzxwd>(d, op),
        M::Pmovzxwq => simd::<Pmovzxwq>(d, op),
        M::Pmovzxdq => simd::<Pmovzxdq>(d, op),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::Simd;

    fn d(v: [u32; 4]) -> u128 {
        join(v)
    }

    #[test]
    fn shuffles_pick_lanes_by_the_immediate() {
        let b = d([10, 11, 12, 13]);
        assert_eq!(Pshufd::op(0, b, 0b00_01_10_11), d([13, 12, 11, 10]));
        assert_eq!(
            Shufps::op(d([0, 1, 2, 3]), b, 0b11_10_01_00),
            d([0, 1, 12, 13])
        );
        assert_eq!(Shufpd::op(from_q(1, 2), from_q(3, 4), 0b01), from_q(2, 3));
        let w = join::<u16, 8>([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            Pshuflw::op(0, w, 0x1B),
            join::<u16, 8>([3, 2, 1, 0, 4, 5, 6, 7])
        );
        assert_eq!(
            Pshufhw::op(0, w, 0x1B),
            join::<u16, 8>([0, 1, 2, 3, 7, 6, 5, 4])
        );
        assert_eq!(
            Pshuflw::op64(0x0003_0002_0001_0000, 0x0003_0002_0001_0000, 0),
            0,
            "PSHUFW"
        );
        let bytes = join::<u8, 16>(std::array::from_fn(|k| 0x10 + k as u8));
        let sel = join::<u8, 16>(std::array::from_fn(|k| {
            if k == 3 {
                0x80
            } else {
                15 - k as u8
            }
        }));
        let r: [u8; 16] = split(Pshufb::op(bytes, sel, 0));
        assert_eq!((r[0], r[3], r[15]), (0x1F, 0, 0x10));
        assert_eq!(
            Pshufb::op64(0x0706_0504_0302_0100, 0x0000_0000_0000_0009, 0),
            0x0000_0000_0000_0001
        );
    }

    #[test]
    fn unpacks_and_packs() {
        let a = join::<u16, 8>([0, 1, 2, 3, 4, 5, 6, 7]);
        let b = join::<u16, 8>([10, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(
            Punpcklwd::op(a, b, 0),
            join::<u16, 8>([0, 10, 1, 11, 2, 12, 3, 13])
        );
        assert_eq!(
            Punpckhwd::op(a, b, 0),
            join::<u16, 8>([4, 14, 5, 15, 6, 16, 7, 17])
        );
        assert_eq!(Punpckhqdq::op(a, b, 0), from_q(hi(a), hi(b)));
        assert_eq!(
            Punpckhbw::op64(0x0807_0605_0403_0201, 0x1817_1615_1413_1211, 0),
            0x1808_1707_1606_1505
        );
        assert_eq!(
            Punpcklbw::op64(0x0807_0605_0403_0201, 0x1817_1615_1413_1211, 0),
            0x1404_1303_1202_1101
        );
        let w = join::<u16, 8>([0x7FFF, 0x8000, 0x0080, 0xFF80, 0x0100, 0xFFFF, 5, 0]);
        let r: [u8; 16] = split(Packsswb::op(w, 0, 0));
        assert_eq!(&r[..8], &[0x7F, 0x80, 0x7F, 0x80, 0x7F, 0xFF, 5, 0]);
        let r: [u8; 16] = split(Packuswb::op(w, w, 0));
        assert_eq!(&r[8..], &[0xFF, 0, 0x80, 0, 0xFF, 0, 5, 0]);
        assert_eq!(
            Packusdw::op(d([0x1_0000, 0xFFFF_FFFF, 7, 0]), 0, 0),
            join::<u16, 8>([0xFFFF, 0, 7, 0, 0, 0, 0, 0])
        );
        assert_eq!(
            Packssdw::op64(0x8000_0000_0000_7FFF, 0x0000_0001_FFFF_FFFF, 0),
            0x0001_FFFF_8000_7FFF
        );
    }

    #[test]
    fn blends_alignr_insertps_and_extensions() {
        assert_eq!(
            Blendps::op(d([0, 1, 2, 3]), d([9, 9, 9, 9]), 0b0101),
            d([9, 1, 9, 3])
        );
        assert_eq!(signs::<u32, 4>(d([0x8000_0000, 0, 0xFFFF_FFFF, 1])), 0b0101);
        let a = join::<u8, 16>(std::array::from_fn(|k| 0x20 + k as u8));
        let b = join::<u8, 16>(std::array::from_fn(|k| 0x10 + k as u8));
        let r: [u8; 16] = split(Palignr::op(a, b, 5));
        assert_eq!((r[0], r[10], r[11], r[15]), (0x15, 0x1F, 0x20, 0x24));
        assert_eq!(Palignr::op(a, b, 16), a);
        assert_eq!(Palignr::op(a, b, 32), 0);
        assert_eq!(
            Palignr::op64(0x1111_1111_2222_2222, 0x3333_3333_4444_4444, 4),
            0x2222_2222_3333_3333
        );
        assert_eq!(
            InsertpsReg::op(d([1, 2, 3, 4]), d([5, 6, 7, 8]), 0b10_01_0001),
            d([0, 7, 3, 4])
        );
        assert_eq!(
            InsertpsMem::op(d([1, 2, 3, 4]), 9, 0b11_11_0000),
            d([1, 2, 3, 9])
        );
        assert_eq!(
            Pmovsxbd::op(0, 0x7F_80_01_FF, 0),
            d([0xFFFF_FFFF, 1, 0xFFFF_FF80, 0x7F])
        );
        assert_eq!(Pmovzxwq::op(0, 0xFFFF_8000, 0), from_q(0x8000, 0xFFFF));
        assert_eq!(Movshdup::op(0, d([1, 2, 3, 4]), 0), d([2, 2, 4, 4]));
    }
}
