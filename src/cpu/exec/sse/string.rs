//! The SSE4.2 string compares PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM (SDM Vol. 2B 4.1):
//! a set, ranges, a string or a substring in XMM1 against the text in XMM2/m128, with
//! explicit (EAX/EDX, RAX/RDX with REX.W) or implicit (NUL-terminated) lengths, giving an
//! index in ECX or a mask in XMM0, and CF, ZF, SF, OF (AF and PF cleared). The memory
//! operand need not be aligned.

use iced_x86::Mnemonic as M;

use super::xmm::{join, split};
use super::{load, set_xmm, src, sse_ready, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::bit;
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Handler, Op, Width, U32};

/// The elements of a 128-bit value in the format `imm[1:0]`, sign-extended when signed.
fn elements(v: u128, imm: u8) -> ([i32; 16], usize) {
    match imm & 3 {
        0 => (split::<u8, 16>(v).map(|x| x as i32), 16),
        1 => {
            let w: [u16; 8] = split(v);
            (
                std::array::from_fn(|k| if k < 8 { w[k] as i32 } else { 0 }),
                8,
            )
        }
        2 => (split::<u8, 16>(v).map(|x| x as i8 as i32), 16),
        _ => {
            let w: [u16; 8] = split(v);
            (
                std::array::from_fn(|k| if k < 8 { w[k] as i16 as i32 } else { 0 }),
                8,
            )
        }
    }
}

/// The implicit length: the index of the first zero element, or `n`.
fn implicit_len(e: &[i32; 16], n: usize) -> usize {
    e[..n].iter().position(|&x| x == 0).unwrap_or(n)
}

/// The explicit length from a register: its absolute value, saturated to `n`.
fn explicit_len(v: u64, wide: bool, n: usize) -> usize {
    let l = if wide { v as i64 } else { v as i32 as i64 };
    l.unsigned_abs().min(n as u64) as usize
}

/// IntRes2 of the comparison of `a` (XMM1, `la` valid elements) with `b` (XMM2/m128, `lb`
/// valid elements) under control `imm`, and the element count.
pub fn compare(a: u128, b: u128, la: usize, lb: usize, imm: u8) -> (u32, usize) {
    let (x, n) = elements(a, imm);
    let (y, _) = elements(b, imm);
    let mut res1 = 0u32;
    match imm >> 2 & 3 {
        // Equal any: text element i equals any valid set element.
        0 => {
            for i in 0..lb {
                if x[..la].contains(&y[i]) {
                    res1 |= 1 << i;
                }
            }
        }
        // Ranges: text element i lies in a valid pair [x[2k], x[2k+1]].
        1 => {
            for i in 0..lb {
                let inside = (0..la / 2).any(|k| x[2 * k] <= y[i] && y[i] <= x[2 * k + 1]);
                if inside {
                    res1 |= 1 << i;
                }
            }
        }
        // Equal each: both invalid compare true, one invalid false.
        2 => {
            for i in 0..n {
                let eq = match (i < la, i < lb) {
                    (true, true) => x[i] == y[i],
                    (false, false) => true,
                    _ => false,
                };
                if eq {
                    res1 |= 1 << i;
                }
            }
        }
        // Equal ordered: the substring x starts at text position j (an invalid needle element
        // matches anything; a valid one fails against an invalid text element; positions past
        // the end of the fragment are not checked).
        _ => {
            for j in 0..n {
                let hit = (0..n - j).all(|i| match (i < la, j + i < lb) {
                    (false, _) => true,
                    (true, false) => false,
                    (true, true) => x[i] == y[j + i],
                });
                if hit {
                    res1 |= 1 << j;
                }
            }
        }
    }
    let all = (1u32 << n) - 1;
    let res2 = match imm >> 4 & 3 {
        1 => !res1 & all,
        3 => res1 ^ ((1u32 << lb) - 1),
        _ => res1,
    };
    (res2, n)
}

/// The flags of a string compare: CF = IntRes2 ≠ 0, ZF = XMM2's string ends inside,
/// SF = XMM1's string ends inside, OF = IntRes2 bit 0.
fn set_flags(cpu: &mut Cpu, res2: u32, la: usize, lb: usize, n: usize) {
    let mut f = 0;
    if res2 != 0 {
        f |= bit::CF;
    }
    if lb < n {
        f |= bit::ZF;
    }
    if la < n {
        f |= bit::SF;
    }
    if res2 & 1 != 0 {
        f |= bit::OF;
    }
    cpu.flags.set_arith(bit::ARITH, f);
}

/// PCMPxSTRx: `EXPLICIT` lengths from EAX/EDX (`WIDE`: RAX/RDX), `INDEX` to ECX or a mask
/// to XMM0, source form `S`.
fn pcmpstr<const EXPLICIT: bool, const INDEX: bool, const WIDE: bool, const S: u8>(
    cpu: &mut Cpu,
    op: &Op,
) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    let imm = op.imm as u8;
    let n = if imm & 1 != 0 { 8 } else { 16 };
    let (la, lb) = if EXPLICIT {
        (
            explicit_len(cpu.gpr[reg::RAX as usize], WIDE, n),
            explicit_len(cpu.gpr[reg::RDX as usize], WIDE, n),
        )
    } else {
        (
            implicit_len(&elements(a, imm).0, n),
            implicit_len(&elements(b, imm).0, n),
        )
    };
    let (res2, n) = compare(a, b, la, lb, imm);
    if INDEX {
        let i = if res2 == 0 {
            n as u32
        } else if imm & 0x40 != 0 {
            31 - res2.leading_zeros()
        } else {
            res2.trailing_zeros()
        };
        U32::set(cpu, reg::RCX, i as u64);
    } else {
        let m = if imm & 0x40 == 0 {
            res2 as u128
        } else if n == 16 {
            join::<u8, 16>(std::array::from_fn(|k| {
                if res2 >> k & 1 != 0 {
                    0xFF
                } else {
                    0
                }
            }))
        } else {
            join::<u16, 8>(std::array::from_fn(|k| {
                if res2 >> k & 1 != 0 {
                    0xFFFF
                } else {
                    0
                }
            }))
        };
        set_xmm(cpu, 0, m);
    }
    set_flags(cpu, res2, la, lb, n);
    Ok(())
}

fn handler<const E: bool, const I: bool, const W: bool>(s: u8) -> Handler {
    if s == src::REG {
        pcmpstr::<E, I, W, { src::REG }>
    } else {
        pcmpstr::<E, I, W, { src::M128 }>
    }
}

/// Decodes the string compares.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    op.r = super::vreg(d.ins.op0_register());
    let s = super::source(d, op, 1, true);
    op.imm = super::imm8(d) as u64;
    op.run = match d.ins.mnemonic() {
        M::Pcmpestri => handler::<true, true, false>(s),
        M::Pcmpestri64 => handler::<true, true, true>(s),
        M::Pcmpestrm => handler::<true, false, false>(s),
        M::Pcmpestrm64 => handler::<true, false, true>(s),
        M::Pcmpistri => handler::<false, true, false>(s),
        M::Pcmpistrm => handler::<false, false, false>(s),
        _ => return None,
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &[u8]) -> u128 {
        let mut b = [0u8; 16];
        b[..s.len()].copy_from_slice(s);
        u128::from_le_bytes(b)
    }

    #[test]
    fn equal_any_finds_characters_of_a_set() {
        // Set "aeiou", text "hello world": e(1), o(4), o(7).
        let (a, b) = (text(b"aeiou"), text(b"hello world"));
        let (r, n) = compare(a, b, 5, 11, 0x00);
        assert_eq!((r, n), (1 << 1 | 1 << 4 | 1 << 7, 16));
        // Negative polarity: every other position, invalid ones included.
        assert_eq!(compare(a, b, 5, 11, 0x10).0, !r & 0xFFFF);
        // Masked negative: only the valid text positions are inverted.
        assert_eq!(compare(a, b, 5, 11, 0x30).0, !r & 0x7FF);
    }

    #[test]
    fn ranges_equal_each_and_ordered() {
        // Ranges "az": lower-case letters of "Hi There".
        let (r, _) = compare(text(b"az"), text(b"Hi There"), 2, 8, 0x04);
        assert_eq!(r, 0b1111_0010);
        // Equal each: "abcd" vs "abXd" over 4 valid and 12 invalid-both elements.
        let (r, _) = compare(text(b"abcd"), text(b"abXd"), 4, 4, 0x08);
        assert_eq!(r, 0xFFFF & !(1 << 2));
        // Equal ordered: "lo" in "hello, lo" at 3 and 7; the needle's end matches anything.
        let (r, _) = compare(text(b"lo"), text(b"hello, lo"), 2, 9, 0x0C);
        assert_eq!(r & 0x1FF, 1 << 3 | 1 << 7);
        // A partial match at the end of the fragment counts.
        let (r, _) = compare(text(b"ab"), text(b"xxxxxxxxxxxxxxxa"), 2, 16, 0x0C);
        assert_eq!(r, 1 << 15);
    }

    #[test]
    fn lengths() {
        assert_eq!(explicit_len((-3i64) as u64, true, 16), 3);
        assert_eq!(explicit_len(0xFFFF_FFFF_8000_0000, false, 16), 16);
        assert_eq!(explicit_len(5, false, 8), 5);
        let (e, n) = elements(text(b"ab\0c"), 1);
        assert_eq!(
            (implicit_len(&e, n), n),
            (2, 8),
            "words 0x6261, 0x6300, then zero"
        );
        let (e, n) = elements(text(b"ab\0c"), 0);
        assert_eq!(implicit_len(&e, n), 2);
    }
}
