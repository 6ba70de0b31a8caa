//! Bit instructions: BT, BTS, BTR, BTC; BSF, BSR; TZCNT, LZCNT, POPCNT; BSWAP.
//!
//! BT* with a register bit offset and a memory operand address a bit string: the offset is a
//! signed `W`-bit value that selects the `W`-bit word at `ea + (offset >> log2 W) * W/8`
//! (SDM Vol. 2A "BT", Table 3-2). Only CF changes; ZF is unaffected and OF, SF, AF, PF are
//! undefined (left unchanged, as Bochs does).
//!
//! BSF/BSR with a zero source set ZF and leave the destination as it was; the register is
//! still written, so a 32-bit destination is zero-extended (what Intel processors do; AMD
//! documents the value as unchanged). Their undefined flags are those of a logic op on the
//! source (CF = OF = AF = 0, SF/PF from the source), recorded lazily.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::{bit, FlagOp, Flags};
use crate::cpu::operand::ASIZE_MASK;
use crate::cpu::{Cpu, Handler, Op, Width, U16, U32, U64};
use crate::sized;

/// The bit-test operations, numbered as ModRM.reg - 4 of opcode 0F BA.
pub mod kind {
    #![allow(missing_docs)]
    pub const BT: u8 = 0;
    pub const BTS: u8 = 1;
    pub const BTR: u8 = 2;
    pub const BTC: u8 = 3;
}
use kind::*;

/// The scan/count operations, as const-generic selectors.
pub mod scan {
    #![allow(missing_docs)]
    pub const BSF: u8 = 0;
    pub const BSR: u8 = 1;
    pub const TZCNT: u8 = 2;
    pub const LZCNT: u8 = 3;
    pub const POPCNT: u8 = 4;
}

/// Applies bit-test operation `K` to bit `n` of `v`: sets CF to the old bit and returns the
/// new value.
#[inline(always)]
fn bt_apply<const K: u8>(f: &mut Flags, v: u64, n: u32) -> u64 {
    let m = 1u64 << n;
    f.assign(bit::CF, v & m != 0);
    match K {
        BTS => v | m,
        BTR => v & !m,
        BTC => v ^ m,
        _ => v,
    }
}

/// Register destination, bit offset from register `op.r`.
fn bt_rr<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let n = (W::get(cpu, op.r) & (W::BITS as u64 - 1)) as u32;
    let v = W::get(cpu, op.rm);
    let r = bt_apply::<K>(&mut cpu.flags, v, n);
    if K != BT {
        W::set(cpu, op.rm, r);
    }
    Ok(())
}

/// Register destination, bit offset in `op.imm` (masked at decode).
fn bt_ri<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.rm);
    let r = bt_apply::<K>(&mut cpu.flags, v, op.imm as u32);
    if K != BT {
        W::set(cpu, op.rm, r);
    }
    Ok(())
}

/// Reads (for a read-modify-write when `K` writes), applies, and writes back.
#[inline(always)]
fn bt_mem<W: Width, const K: u8>(cpu: &mut Cpu, seg: u8, off: u64, n: u32) -> R {
    if K == BT {
        let v = cpu.read::<W>(seg, off)?;
        bt_apply::<K>(&mut cpu.flags, v, n);
        return Ok(());
    }
    let v = cpu.read_rmw::<W>(seg, off)?;
    // The flags change only once the write can no longer fault.
    let mut f = cpu.flags;
    let r = bt_apply::<K>(&mut f, v, n);
    cpu.write::<W>(seg, off, r)?;
    cpu.flags = f;
    Ok(())
}

/// Memory bit string, bit offset in `op.imm` (masked to the operand size at decode).
fn bt_mi<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    bt_mem::<W, K>(cpu, op.seg, off, op.imm as u32)
}

/// Memory bit string, signed bit offset in register `op.r`.
fn bt_mr<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let offset = W::sext(W::get(cpu, op.r)) as i64;
    let shift = W::BITS.trailing_zeros();
    let disp = (offset >> shift).wrapping_mul(W::BYTES as i64) as u64;
    let off = cpu.ea(op).wrapping_add(disp) & ASIZE_MASK[(op.asize & 3) as usize];
    bt_mem::<W, K>(
        cpu,
        op.seg,
        off,
        (offset as u64 & (W::BITS as u64 - 1)) as u32,
    )
}

/// Replaces all six arithmetic flags.
#[inline(always)]
fn set_arith(f: &mut Flags, v: u64) {
    f.bits = (f.bits & !bit::ARITH) | v;
    f.op = FlagOp::Done;
}

/// Scan/count operation `K` on `src`; `old` is the destination's value. Returns the result and
/// sets the flags.
#[inline(always)]
fn scan_op<W: Width, const K: u8>(f: &mut Flags, src: u64, old: u64) -> u64 {
    match K {
        scan::BSF | scan::BSR => {
            f.set_lazy(FlagOp::Logic, W::BITS, 0, 0, src);
            if src == 0 {
                old
            } else if K == scan::BSF {
                src.trailing_zeros() as u64
            } else {
                63 - src.leading_zeros() as u64
            }
        }
        scan::TZCNT | scan::LZCNT => {
            let r = if src == 0 {
                W::BITS as u64
            } else if K == scan::TZCNT {
                src.trailing_zeros() as u64
            } else {
                (src.leading_zeros() - (64 - W::BITS as u32)) as u64
            };
            // CF: the source was zero; ZF: the result is zero; OF, SF, PF, AF undefined.
            f.set_result(W::BITS, r, src == 0, false, false);
            r
        }
        _ => {
            // POPCNT: every flag cleared but ZF, which tells a zero source.
            set_arith(f, if src == 0 { bit::ZF } else { 0 });
            src.count_ones() as u64
        }
    }
}

fn scan_rr<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let src = W::get(cpu, op.rm);
    let old = W::get(cpu, op.r);
    let r = scan_op::<W, K>(&mut cpu.flags, src, old);
    W::set(cpu, op.r, r);
    Ok(())
}

fn scan_rm<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let src = cpu.read_ea::<W>(op)?;
    let old = W::get(cpu, op.r);
    let r = scan_op::<W, K>(&mut cpu.flags, src, old);
    W::set(cpu, op.r, r);
    Ok(())
}

/// BSWAP: the 16-bit form is undefined; Intel processors give zero in the low word.
fn bswap<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    let r = match W::BITS {
        16 => 0,
        32 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    };
    W::set(cpu, op.r, r);
    Ok(())
}

/// Decodes the bit group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let m = d.ins.mnemonic();
    let k = match m {
        M::Bt => BT,
        M::Bts => BTS,
        M::Btr => BTR,
        M::Btc => BTC,
        M::Bswap => {
            op.r = d.reg(0);
            op.run = match d.op_size(0) {
                2 => bswap::<U16>,
                4 => bswap::<U32>,
                _ => bswap::<U64>,
            };
            return Some(Flow::Next);
        }
        _ => return decode_scan(d, op),
    };
    let size = d.op_size(0);
    macro_rules! pick {
        ($f:ident) => {
            match k {
                BT => sized!(size, $f, BT),
                BTS => sized!(size, $f, BTS),
                BTR => sized!(size, $f, BTR),
                _ => sized!(size, $f, BTC),
            }
        };
    }
    let mem = d.is_mem(0);
    if mem {
        d.mem(op);
    } else {
        op.rm = d.reg(0);
    }
    if d.is_imm(1) {
        // SDM: an immediate bit offset is taken modulo the operand size.
        op.imm = d.imm(1) & (size as u64 * 8 - 1);
        op.run = if mem { pick!(bt_mi) } else { pick!(bt_ri) };
    } else {
        op.r = d.reg(1);
        op.run = if mem { pick!(bt_mr) } else { pick!(bt_rr) };
    }
    Some(Flow::Next)
}

fn decode_scan(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let k = match d.ins.mnemonic() {
        M::Bsf => scan::BSF,
        M::Bsr => scan::BSR,
        M::Tzcnt => scan::TZCNT,
        M::Lzcnt => scan::LZCNT,
        M::Popcnt => scan::POPCNT,
        _ => return None,
    };
    op.r = d.reg(0);
    let mem = d.is_mem(1);
    if mem {
        d.mem(op);
    } else {
        op.rm = d.reg(1);
    }
    macro_rules! pick {
        ($W:ty) => {
            match (k, mem) {
                (scan::BSF, false) => scan_rr::<$W, { scan::BSF }> as Handler,
                (scan::BSF, true) => scan_rm::<$W, { scan::BSF }>,
                (scan::BSR, false) => scan_rr::<$W, { scan::BSR }>,
                (scan::BSR, true) => scan_rm::<$W, { scan::BSR }>,
                (scan::TZCNT, false) => scan_rr::<$W, { scan::TZCNT }>,
                (scan::TZCNT, true) => scan_rm::<$W, { scan::TZCNT }>,
                (scan::LZCNT, false) => scan_rr::<$W, { scan::LZCNT }>,
                (scan::LZCNT, true) => scan_rm::<$W, { scan::LZCNT }>,
                (_, false) => scan_rr::<$W, { scan::POPCNT }>,
                (_, true) => scan_rm::<$W, { scan::POPCNT }>,
            }
        };
    }
    op.run = match d.op_size(0) {
        2 => pick!(U16),
        4 => pick!(U32),
        8 => pick!(U64),
        _ => return None,
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;

    fn flags(fl: u64) -> Flags {
        let mut f = Flags::default();
        f.set_arith(ARITH, fl);
        f
    }

    #[test]
    fn bit_test_ops_set_only_cf() {
        let keep = ZF | SF | OF | PF | AF;
        let mut f = flags(keep);
        assert_eq!(bt_apply::<BT>(&mut f, 0b100, 2), 0b100);
        assert_eq!(f.get() & ARITH, keep | CF);
        let mut f = flags(CF);
        assert_eq!(bt_apply::<BTS>(&mut f, 0, 63), 1 << 63);
        assert_eq!(f.get() & ARITH, 0);
        let mut f = flags(0);
        assert_eq!(bt_apply::<BTR>(&mut f, 0xFF, 7), 0x7F);
        assert_eq!(f.get() & ARITH, CF);
        let mut f = flags(0);
        assert_eq!(bt_apply::<BTC>(&mut f, 0x0F, 4), 0x1F);
        assert_eq!(f.get() & ARITH, 0);
    }

    fn scan<W: Width, const K: u8>(src: u64, old: u64) -> (u64, u64) {
        let mut f = flags(OF | CF | AF);
        let r = scan_op::<W, K>(&mut f, src, old);
        (r, f.get() & ARITH)
    }

    #[test]
    fn scan_table() {
        assert_eq!(scan::<U32, { scan::BSF }>(0x8000_0000, 7), (31, SF | PF));
        assert_eq!(scan::<U32, { scan::BSF }>(0x18, 7), (3, PF));
        assert_eq!(scan::<U32, { scan::BSF }>(0, 7), (7, ZF | PF));
        assert_eq!(scan::<U16, { scan::BSR }>(0x0101, 0), (8, 0));
        assert_eq!(scan::<U64, { scan::BSR }>(u64::MAX, 0), (63, SF | PF));
        assert_eq!(scan::<U16, { scan::TZCNT }>(0, 5), (16, CF));
        assert_eq!(scan::<U32, { scan::TZCNT }>(1, 5), (0, ZF | PF));
        assert_eq!(scan::<U16, { scan::LZCNT }>(0x0001, 5), (15, PF));
        assert_eq!(scan::<U32, { scan::LZCNT }>(0, 5), (32, CF));
        assert_eq!(scan::<U64, { scan::LZCNT }>(1 << 63, 5), (0, ZF | PF));
        assert_eq!(scan::<U64, { scan::POPCNT }>(u64::MAX, 5), (64, 0));
        assert_eq!(scan::<U16, { scan::POPCNT }>(0, 5), (0, ZF));
    }
}
