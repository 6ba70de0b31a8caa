//! BMI1/BMI2 (VEX-encoded, 32/64-bit): ANDN, BEXTR, BLSI, BLSMSK, BLSR, BZHI, MULX, PDEP,
//! PEXT, RORX, SARX, SHLX, SHRX; and ADX: ADCX, ADOX.
//!
//! Operands, as the op carries them: `op.r` is the destination (for BLSI/BLSMSK/BLSR the
//! VEX.vvvv register, for MULX the high half), `op.rm` or the memory operand is ModRM.rm,
//! `op.extra` is the VEX.vvvv source register, `op.imm` the RORX count.
//!
//! Flags (SDM Vol. 2A, each instruction): where AF and PF are undefined vx86 computes them as
//! a logic op on the result would (clear AF, PF from the result), so ANDN and BEXTR record
//! their flags lazily as `FlagOp::Logic`.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::{bit, FlagOp};
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Handler, Op, Width, U32, U64};

/// The operations, as const-generic selectors.
pub mod kind {
    #![allow(missing_docs)]
    pub const ANDN: u8 = 0;
    pub const BEXTR: u8 = 1;
    pub const BLSI: u8 = 2;
    pub const BLSMSK: u8 = 3;
    pub const BLSR: u8 = 4;
    pub const BZHI: u8 = 5;
    pub const MULX: u8 = 6;
    pub const PDEP: u8 = 7;
    pub const PEXT: u8 = 8;
    pub const RORX: u8 = 9;
    pub const SARX: u8 = 10;
    pub const SHLX: u8 = 11;
    pub const SHRX: u8 = 12;
    pub const ADCX: u8 = 13;
    pub const ADOX: u8 = 14;
}
use kind::*;

/// Deposits the low bits of `src` at the set bits of `mask` (PDEP).
pub fn pdep(src: u64, mut mask: u64) -> u64 {
    let mut r = 0;
    let mut k = 0;
    while mask != 0 {
        let low = mask & mask.wrapping_neg();
        if (src >> k) & 1 != 0 {
            r |= low;
        }
        k += 1;
        mask ^= low;
    }
    r
}

/// Gathers the bits of `src` at the set bits of `mask` into the low bits (PEXT).
pub fn pext(src: u64, mut mask: u64) -> u64 {
    let mut r = 0;
    let mut k = 0;
    while mask != 0 {
        let low = mask & mask.wrapping_neg();
        if src & low != 0 {
            r |= 1 << k;
        }
        k += 1;
        mask ^= low;
    }
    r
}

/// Runs operation `K` at width `W`; `b` is the ModRM.rm operand's value.
#[inline(always)]
fn exec<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op, b: u64) {
    let v = W::get(cpu, op.extra);
    let bits = W::BITS as u64;
    let r = match K {
        ANDN => {
            let r = !v & b & W::MASK;
            cpu.flags.set_lazy(FlagOp::Logic, W::BITS, 0, 0, r);
            r
        }
        BEXTR => {
            let (start, len) = (v & 0xFF, (v >> 8) & 0xFF);
            let shifted = if start < bits { b >> start } else { 0 };
            let r = if len < bits {
                shifted & ((1 << len) - 1)
            } else {
                shifted
            };
            cpu.flags.set_lazy(FlagOp::Logic, W::BITS, 0, 0, r);
            r
        }
        BLSI => {
            let r = b.wrapping_neg() & b & W::MASK;
            cpu.flags.set_result(W::BITS, r, b != 0, false, false);
            r
        }
        BLSMSK => {
            let r = (b.wrapping_sub(1) ^ b) & W::MASK;
            cpu.flags.set_result(W::BITS, r, b == 0, false, false);
            r
        }
        BLSR => {
            let r = b.wrapping_sub(1) & b & W::MASK;
            cpu.flags.set_result(W::BITS, r, b == 0, false, false);
            r
        }
        BZHI => {
            let n = v & 0xFF;
            let r = if n < bits { b & ((1 << n) - 1) } else { b };
            cpu.flags.set_result(W::BITS, r, n > bits - 1, false, false);
            r
        }
        MULX => {
            let p = W::get(cpu, reg::RDX) as u128 * b as u128;
            // The low half first: when both destinations are one register it keeps the high.
            W::set(cpu, op.extra, p as u64 & W::MASK);
            (p >> W::BITS) as u64 & W::MASK
        }
        PDEP => pdep(v, b) & W::MASK,
        PEXT => pext(v, b),
        SARX => ((W::sext(b) as i64) >> (v & (bits - 1))) as u64 & W::MASK,
        SHLX => (b << (v & (bits - 1))) & W::MASK,
        SHRX => b >> (v & (bits - 1)),
        ADCX | ADOX => {
            let flag = if K == ADCX { bit::CF } else { bit::OF };
            let cin = cpu.flags.get() & flag != 0;
            let a = W::get(cpu, op.r);
            let s = a as u128 + b as u128 + cin as u128;
            cpu.flags.assign(flag, s >> W::BITS != 0);
            s as u64 & W::MASK
        }
        _ => 0,
    };
    W::set(cpu, op.r, r);
}

fn bmi_r<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let b = W::get(cpu, op.rm);
    exec::<W, K>(cpu, op, b);
    Ok(())
}

fn bmi_m<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let b = cpu.read_ea::<W>(op)?;
    exec::<W, K>(cpu, op, b);
    Ok(())
}

/// RORX with its count in `op.imm` (register source).
fn rorx_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let b = W::get(cpu, op.rm);
    W::set(cpu, op.r, rotr::<W>(b, op.imm as u32));
    Ok(())
}

/// RORX with a memory source.
fn rorx_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let b = cpu.read_ea::<W>(op)?;
    W::set(cpu, op.r, rotr::<W>(b, op.imm as u32));
    Ok(())
}

/// Rotates right at width `W` by `n` modulo the width.
#[inline(always)]
fn rotr<W: Width>(v: u64, n: u32) -> u64 {
    if W::BITS == 64 {
        v.rotate_right(n)
    } else {
        (v as u32).rotate_right(n) as u64
    }
}

/// Decodes the BMI/ADX group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let m = d.ins.mnemonic();
    // (kind, ModRM.rm operand index, VEX.vvvv operand index)
    let (k, rm, vvvv) = match m {
        M::Andn => (ANDN, 2, Some(1)),
        M::Bextr => (BEXTR, 1, Some(2)),
        M::Blsi => (BLSI, 1, None),
        M::Blsmsk => (BLSMSK, 1, None),
        M::Blsr => (BLSR, 1, None),
        M::Bzhi => (BZHI, 1, Some(2)),
        M::Mulx => (MULX, 2, Some(1)),
        M::Pdep => (PDEP, 2, Some(1)),
        M::Pext => (PEXT, 2, Some(1)),
        M::Rorx => (RORX, 1, None),
        M::Sarx => (SARX, 1, Some(2)),
        M::Shlx => (SHLX, 1, Some(2)),
        M::Shrx => (SHRX, 1, Some(2)),
        M::Adcx => (ADCX, 1, None),
        M::Adox => (ADOX, 1, None),
        _ => return None,
    };
    let size = d.op_size(0);
    if size != 4 && size != 8 {
        return None;
    }
    op.r = d.reg(0);
    if let Some(i) = vvvv {
        op.extra = d.reg(i);
    }
    let mem = d.is_mem(rm);
    if mem {
        d.mem(op);
    } else {
        op.rm = d.reg(rm);
    }
    if k == RORX {
        op.imm = d.imm(2) & (size as u64 * 8 - 1);
        op.run = match (size, mem) {
            (4, false) => rorx_r::<U32>,
            (4, true) => rorx_m::<U32>,
            (_, false) => rorx_r::<U64>,
            (_, true) => rorx_m::<U64>,
        };
        return Some(Flow::Next);
    }
    macro_rules! pick {
        ($W:ty, $f:ident) => {
            match k {
                ANDN => $f::<$W, ANDN> as Handler,
                BEXTR => $f::<$W, BEXTR>,
                BLSI => $f::<$W, BLSI>,
                BLSMSK => $f::<$W, BLSMSK>,
                BLSR => $f::<$W, BLSR>,
                BZHI => $f::<$W, BZHI>,
                MULX => $f::<$W, MULX>,
                PDEP => $f::<$W, PDEP>,
                PEXT => $f::<$W, PEXT>,
                SARX => $f::<$W, SARX>,
                SHLX => $f::<$W, SHLX>,
                SHRX => $f::<$W, SHRX>,
                ADCX => $f::<$W, ADCX>,
                _ => $f::<$W, ADOX>,
            }
        };
    }
    op.run = match (size, mem) {
        (4, false) => pick!(U32, bmi_r),
        (4, true) => pick!(U32, bmi_m),
        (_, false) => pick!(U64, bmi_r),
        (_, true) => pick!(U64, bmi_m),
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    /// Runs `K` at width `W` with dst `r` = RAX, vvvv = RCX, ModRM.rm = RBX.
    fn run<W: Width, const K: u8>(rax: u64, rcx: u64, rbx: u64, fl: u64) -> (u64, u64) {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.gpr[reg::RAX as usize] = rax;
        cpu.gpr[reg::RCX as usize] = rcx;
        cpu.gpr[reg::RBX as usize] = rbx;
        cpu.flags.set(fl | 2);
        let mut op = Op::new(5);
        op.r = reg::RAX;
        op.extra = reg::RCX;
        op.rm = reg::RBX;
        bmi_r::<W, K>(&mut cpu, &op).unwrap();
        (cpu.gpr[reg::RAX as usize], cpu.flags.get() & ARITH)
    }

    #[test]
    fn bmi1_table() {
        assert_eq!(
            run::<U32, ANDN>(0, 0xF0F0_F0F0, 0xFFFF_0000, 0),
            (0x0F0F_0000, PF)
        );
        assert_eq!(run::<U64, ANDN>(0, u64::MAX, 5, CF | OF), (0, ZF | PF));
        // BEXTR: start 4, length 8.
        assert_eq!(run::<U32, BEXTR>(0, 0x0804, 0x1234_5678, 0), (0x67, 0));
        assert_eq!(
            run::<U32, BEXTR>(0, 0xFF00, 0x8000_0000, 0),
            (0x8000_0000, SF | PF)
        );
        assert_eq!(run::<U64, BEXTR>(0, 0x0140, u64::MAX, 0), (0, ZF | PF));
        assert_eq!(run::<U32, BLSI>(0, 0, 0b1011_0000, 0), (0b1_0000, CF));
        assert_eq!(run::<U32, BLSI>(0, 0, 0, CF), (0, ZF | PF));
        assert_eq!(run::<U32, BLSMSK>(0, 0, 0b1011_0000, 0), (0b1_1111, 0));
        assert_eq!(run::<U32, BLSMSK>(0, 0, 0, 0), (0xFFFF_FFFF, CF | SF | PF));
        assert_eq!(run::<U64, BLSR>(0, 0, 0b1011_0000, 0), (0b1010_0000, PF));
        assert_eq!(run::<U64, BLSR>(0, 0, 0, 0), (0, CF | ZF | PF));
    }

    #[test]
    fn bmi2_table() {
        assert_eq!(run::<U32, BZHI>(0, 4, 0xFFFF_FFFF, 0), (0xF, PF));
        assert_eq!(
            run::<U32, BZHI>(0, 32, 0x8000_0000, 0),
            (0x8000_0000, CF | SF | PF)
        );
        assert_eq!(run::<U64, BZHI>(0, 0x100, 7, 0), (0, ZF | PF));
        assert_eq!(run::<U32, PDEP>(0, 0b101, 0xF0F0, 0), (0b0101_0000, 0));
        assert_eq!(run::<U64, PEXT>(0, 0xABCD, 0xFF00, 0), (0xAB, 0));
        assert_eq!(run::<U32, SARX>(0, 33, 0x8000_0000, CF), (0xC000_0000, CF));
        assert_eq!(run::<U64, SHLX>(0, 65, 1, 0), (2, 0));
        assert_eq!(run::<U32, SHRX>(0, 31, 0xFFFF_FFFF, 0), (1, 0));
        assert_eq!(rotr::<U32>(0x1234_5678, 8), 0x7812_3456);
    }

    #[test]
    fn mulx_writes_both_halves() {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.gpr[reg::RDX as usize] = u64::MAX;
        cpu.gpr[reg::RBX as usize] = 2;
        let mut op = Op::new(5);
        op.r = reg::RAX;
        op.extra = reg::RCX;
        op.rm = reg::RBX;
        bmi_r::<U64, MULX>(&mut cpu, &op).unwrap();
        assert_eq!(
            (cpu.gpr[reg::RAX as usize], cpu.gpr[reg::RCX as usize]),
            (1, u64::MAX - 1)
        );
        op.extra = reg::RAX;
        bmi_r::<U32, MULX>(&mut cpu, &op).unwrap();
        assert_eq!(cpu.gpr[reg::RAX as usize], 1);
    }

    #[test]
    fn adx_use_one_flag_each() {
        assert_eq!(run::<U32, ADCX>(0xFFFF_FFFF, 0, 0, CF | ZF), (0, CF | ZF));
        assert_eq!(run::<U32, ADCX>(1, 0, 1, OF), (2, OF));
        assert_eq!(run::<U64, ADOX>(u64::MAX, 0, 1, CF), (0, CF | OF));
        assert_eq!(run::<U64, ADOX>(1, 0, 1, OF | SF), (3, SF));
    }
}
