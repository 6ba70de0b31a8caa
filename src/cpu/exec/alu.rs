//! ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST, INC, DEC, NEG, NOT.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::{bit, FlagOp, Flags};
use crate::cpu::{Cpu, Op, Width};
use crate::sized;

/// The binary operations, as const-generic selectors.
pub mod kind {
    #![allow(missing_docs)]
    pub const ADD: u8 = 0;
    pub const OR: u8 = 1;
    pub const ADC: u8 = 2;
    pub const SBB: u8 = 3;
    pub const AND: u8 = 4;
    pub const SUB: u8 = 5;
    pub const XOR: u8 = 6;
    pub const CMP: u8 = 7;
    pub const TEST: u8 = 8;
}
use kind::*;

/// Computes `a K b` at width `W`, records the flags, and returns the result.
#[inline(always)]
pub fn binop<W: Width, const K: u8>(f: &mut Flags, a: u64, b: u64) -> u64 {
    match K {
        ADD => {
            let r = a.wrapping_add(b) & W::MASK;
            f.set_lazy(FlagOp::Add, W::BITS, a, b, r);
            r
        }
        ADC => {
            let c = f.cf();
            let r = a.wrapping_add(b).wrapping_add(c as u64) & W::MASK;
            f.set_lazy(if c { FlagOp::Adc } else { FlagOp::Add }, W::BITS, a, b, r);
            r
        }
        SUB | CMP => {
            let r = a.wrapping_sub(b) & W::MASK;
            f.set_lazy(FlagOp::Sub, W::BITS, a, b, r);
            r
        }
        SBB => {
            let c = f.cf();
            let r = a.wrapping_sub(b).wrapping_sub(c as u64) & W::MASK;
            f.set_lazy(if c { FlagOp::Sbb } else { FlagOp::Sub }, W::BITS, a, b, r);
            r
        }
        AND | TEST => {
            let r = a & b;
            f.set_lazy(FlagOp::Logic, W::BITS, 0, 0, r);
            r
        }
        OR => {
            let r = a | b;
            f.set_lazy(FlagOp::Logic, W::BITS, 0, 0, r);
            r
        }
        _ => {
            let r = a ^ b;
            f.set_lazy(FlagOp::Logic, W::BITS, 0, 0, r);
            r
        }
    }
}

/// Whether operation `K` writes its result back.
const fn writes(k: u8) -> bool {
    k != CMP && k != TEST
}

fn alu_rr<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let b = W::get(cpu, op.rm);
    let r = binop::<W, K>(&mut cpu.flags, a, b);
    if writes(K) {
        W::set(cpu, op.r, r);
    }
    Ok(())
}

fn alu_ri<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let r = binop::<W, K>(&mut cpu.flags, a, op.imm & W::MASK);
    if writes(K) {
        W::set(cpu, op.r, r);
    }
    Ok(())
}

fn alu_rm<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let b = cpu.read_ea::<W>(op)?;
    let a = W::get(cpu, op.r);
    let r = binop::<W, K>(&mut cpu.flags, a, b);
    if writes(K) {
        W::set(cpu, op.r, r);
    }
    Ok(())
}

fn alu_mr<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let b = W::get(cpu, op.r);
    if writes(K) {
        let a = cpu.read_rmw::<W>(op.seg, off)?;
        let r = binop::<W, K>(&mut cpu.flags, a, b);
        cpu.write::<W>(op.seg, off, r)
    } else {
        let a = cpu.read::<W>(op.seg, off)?;
        binop::<W, K>(&mut cpu.flags, a, b);
        Ok(())
    }
}

fn alu_mi<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let b = op.imm & W::MASK;
    if writes(K) {
        let a = cpu.read_rmw::<W>(op.seg, off)?;
        let r = binop::<W, K>(&mut cpu.flags, a, b);
        cpu.write::<W>(op.seg, off, r)
    } else {
        let a = cpu.read::<W>(op.seg, off)?;
        binop::<W, K>(&mut cpu.flags, a, b);
        Ok(())
    }
}

/// `XOR r, r` / `SUB r, r`: the zeroing idiom, without reading the register.
fn zero_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.flags.set_lazy(FlagOp::Logic, W::BITS, 0, 0, 0);
    W::set(cpu, op.r, 0);
    Ok(())
}

/// The unary operations, as const-generic selectors.
mod unary {
    pub const INC: u8 = 0;
    pub const DEC: u8 = 1;
    pub const NEG: u8 = 2;
    pub const NOT: u8 = 3;
}

#[inline(always)]
fn unop<W: Width, const K: u8>(f: &mut Flags, a: u64) -> u64 {
    match K {
        unary::INC => {
            let r = a.wrapping_add(1) & W::MASK;
            let cf = f.cf() as u64;
            f.set_lazy(FlagOp::Inc, W::BITS, a, cf, r);
            r
        }
        unary::DEC => {
            let r = a.wrapping_sub(1) & W::MASK;
            let cf = f.cf() as u64;
            f.set_lazy(FlagOp::Dec, W::BITS, a, cf, r);
            r
        }
        unary::NEG => {
            let r = 0u64.wrapping_sub(a) & W::MASK;
            f.set_lazy(FlagOp::Sub, W::BITS, 0, a, r);
            r
        }
        _ => !a & W::MASK,
    }
}

fn un_r<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let r = unop::<W, K>(&mut cpu.flags, a);
    W::set(cpu, op.r, r);
    Ok(())
}

fn un_m<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let a = cpu.read_rmw::<W>(op.seg, off)?;
    let r = unop::<W, K>(&mut cpu.flags, a);
    cpu.write::<W>(op.seg, off, r)
}

/// Decodes the ALU group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let k = match d.ins.mnemonic() {
        M::Add => ADD,
        M::Or => OR,
        M::Adc => ADC,
        M::Sbb => SBB,
        M::And => AND,
        M::Sub => SUB,
        M::Xor => XOR,
        M::Cmp => CMP,
        M::Test => TEST,
        M::Inc | M::Dec | M::Neg | M::Not => return decode_unary(d, op),
        _ => return None,
    };
    let size = d.op_size(0);
    macro_rules! pick {
        ($f:ident) => {
            match k {
                ADD => sized!(size, $f, ADD),
                OR => sized!(size, $f, OR),
                ADC => sized!(size, $f, ADC),
                SBB => sized!(size, $f, SBB),
                AND => sized!(size, $f, AND),
                SUB => sized!(size, $f, SUB),
                XOR => sized!(size, $f, XOR),
                CMP => sized!(size, $f, CMP),
                _ => sized!(size, $f, TEST),
            }
        };
    }
    if d.is_reg(0) {
        op.r = d.reg(0);
        if d.is_reg(1) {
            op.rm = d.reg(1);
            op.run = if (k == XOR || k == SUB) && op.r == op.rm {
                sized!(size, zero_r)
            } else {
                pick!(alu_rr)
            };
        } else if d.is_mem(1) {
            d.mem_flat(op);
            op.run = pick!(alu_rm);
        } else {
            op.imm = d.imm(1);
            op.run = pick!(alu_ri);
        }
    } else {
        d.mem_flat(op);
        if d.is_reg(1) {
            op.r = d.reg(1);
            op.run = pick!(alu_mr);
        } else {
            op.imm = d.imm(1);
            op.run = pick!(alu_mi);
        }
    }
    Some(Flow::Next)
}

fn decode_unary(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let size = d.op_size(0);
    macro_rules! pick {
        ($f:ident) => {
            match d.ins.mnemonic() {
                M::Inc => sized!(size, $f, unary::INC),
                M::Dec => sized!(size, $f, unary::DEC),
                M::Neg => sized!(size, $f, unary::NEG),
                _ => sized!(size, $f, unary::NOT),
            }
        };
    }
    if d.is_reg(0) {
        op.r = d.reg(0);
        op.run = pick!(un_r);
    } else {
        d.mem(op);
        op.run = pick!(un_m);
    }
    Some(Flow::Next)
}

/// The flags an ALU result leaves, for tests: runs `K` on `a`, `b` at width `W`.
pub fn flags_after<W: Width, const K: u8>(a: u64, b: u64, cf_in: bool) -> (u64, u64) {
    let mut f = Flags::default();
    f.assign(bit::CF, cf_in);
    let r = binop::<W, K>(&mut f, a, b);
    (r, f.get() & bit::ARITH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;
    use crate::cpu::{U16, U32, U8};

    #[test]
    fn adc_and_sbb_use_carry_in() {
        assert_eq!(
            flags_after::<U8, ADC>(0xFF, 0, true),
            (0, CF | ZF | PF | AF)
        );
        assert_eq!(
            flags_after::<U8, SBB>(0, 0, true),
            (0xFF, CF | SF | PF | AF)
        );
        assert_eq!(
            flags_after::<U16, ADC>(0x7FFF, 0, true),
            (0x8000, OF | SF | PF | AF)
        );
    }

    #[test]
    fn logic_clears_cf_and_of() {
        assert_eq!(flags_after::<U32, AND>(0xF0, 0x0F, true), (0, ZF | PF));
        assert_eq!(flags_after::<U8, XOR>(0x80, 0x01, false), (0x81, SF | PF));
    }
}
