//! Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, CBW/CWDE/CDQE,
//! CWD/CDQ/CQO, LAHF/SAHF, XLAT, XADD, CMPXCHG(8B/16B), MOVBE.

use iced_x86::{Mnemonic as M, Register};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::bit;
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Op, Width, U16, U32, U64, U8};
use crate::sized;

fn mov_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.rm);
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_ri<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    W::set(cpu, op.r, op.imm);
    Ok(())
}

fn mov_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_mr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.write_ea::<W>(op, v)
}

fn mov_mi<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.write_ea::<W>(op, op.imm)
}

/// `MOV AL/AX/EAX/RAX, moffs` with a 64-bit absolute offset in `imm`.
fn mov_r_moffs<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read::<W>(op.seg, op.imm)?;
    W::set(cpu, op.r, v);
    Ok(())
}

/// `MOV moffs, AL/AX/EAX/RAX` with a 64-bit absolute offset in `imm`.
fn mov_moffs_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.write::<W>(op.seg, op.imm, v)
}

/// MOVZX/MOVSX/MOVSXD register forms: `D` destination, `S` source, `SX` sign-extends.
fn ext_rr<D: Width, S: Width, const SX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let v = S::get(cpu, op.rm);
    D::set(cpu, op.r, if SX { S::sext(v) } else { v });
    Ok(())
}

fn ext_rm<D: Width, S: Width, const SX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<S>(op)?;
    D::set(cpu, op.r, if SX { S::sext(v) } else { v });
    Ok(())
}

fn lea<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.ea(op);
    W::set(cpu, op.r, v);
    Ok(())
}

fn xchg_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let b = W::get(cpu, op.rm);
    W::set(cpu, op.r, b);
    W::set(cpu, op.rm, a);
    Ok(())
}

fn xchg_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let m = cpu.read_rmw::<W>(op.seg, off)?;
    let r = W::get(cpu, op.r);
    cpu.write::<W>(op.seg, off, r)?;
    W::set(cpu, op.r, m);
    Ok(())
}

fn cmov_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    // A 32-bit CMOV zero-extends its destination even when the condition is false.
    let v = if cpu.flags.cond(op.imm2 as u8) {
        W::get(cpu, op.rm)
    } else {
        W::get(cpu, op.r)
    };
    W::set(cpu, op.r, v);
    Ok(())
}

fn cmov_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    // The source is read (and may fault) whatever the condition.
    let m = cpu.read_ea::<W>(op)?;
    let v = if cpu.flags.cond(op.imm2 as u8) {
        m
    } else {
        W::get(cpu, op.r)
    };
    W::set(cpu, op.r, v);
    Ok(())
}

fn set_r(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.flags.cond(op.imm2 as u8) as u64;
    U8::set(cpu, op.r, v);
    Ok(())
}

fn set_m(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.flags.cond(op.imm2 as u8) as u64;
    cpu.write_ea::<U8>(op, v)
}

/// CBW/CWDE/CDQE: sign-extend the lower half of the accumulator into `W`.
fn cbw<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let half = W::BITS / 2;
    let v = cpu.gpr[reg::RAX as usize];
    let sh = 64 - half as u32;
    let x = (((v << sh) as i64) >> sh) as u64;
    W::set(cpu, reg::RAX, x);
    Ok(())
}

/// CWD/CDQ/CQO: fill rDX with the sign of rAX.
fn cwd<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let neg = W::get(cpu, reg::RAX) & W::SIGN != 0;
    W::set(cpu, reg::RDX, if neg { W::MASK } else { 0 });
    Ok(())
}

fn lahf(cpu: &mut Cpu, _: &Op) -> R {
    let f = cpu.flags.get() & 0xFF;
    U8::set(cpu, reg::HIGH8, f | 0x02);
    Ok(())
}

fn sahf(cpu: &mut Cpu, _: &Op) -> R {
    let ah = U8::get(cpu, reg::HIGH8);
    let mask = bit::SF | bit::ZF | bit::AF | bit::PF | bit::CF;
    cpu.flags.set_arith(mask, ah);
    Ok(())
}

/// XLAT: AL = [seg:rBX + AL] at the address size.
fn xlat(cpu: &mut Cpu, op: &Op) -> R {
    let mask = crate::cpu::operand::ASIZE_MASK[(op.asize & 3) as usize];
    let off = cpu.gpr[reg::RBX as usize].wrapping_add(U8::get(cpu, reg::RAX)) & mask;
    let v = cpu.read::<U8>(op.seg, off)?;
    U8::set(cpu, reg::RAX, v);
    Ok(())
}

/// Decodes the data-movement group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    match ins.mnemonic() {
        M::Mov => decode_mov(d, op),
        M::Movzx | M::Movsx | M::Movsxd => {
            let dst = d.op_size(0);
            let src = d.op_size(1);
            let sx = ins.mnemonic() != M::Movzx;
            op.r = d.reg(0);
            let mem = d.is_mem(1);
            if mem {
                d.mem(op);
            } else {
                op.rm = d.reg(1);
            }
            macro_rules! ext {
                ($D:ty, $S:ty) => {
                    match (mem, sx) {
                        (false, false) => ext_rr::<$D, $S, false> as crate::cpu::Handler,
                        (false, true) => ext_rr::<$D, $S, true>,
                        (true, false) => ext_rm::<$D, $S, false>,
                        (true, true) => ext_rm::<$D, $S, true>,
                    }
                };
            }
            op.run = match (dst, src) {
                (2, 1) => ext!(U16, U8),
                (4, 1) => ext!(U32, U8),
                (8, 1) => ext!(U64, U8),
                (2, 2) => ext!(U16, U16),
                (4, 2) => ext!(U32, U16),
                (8, 2) => ext!(U64, U16),
                (4, 4) => ext!(U32, U32),
                (8, 4) => ext!(U64, U32),
                _ => return None,
            };
            Some(Flow::Next)
        }
        M::Lea => {
            if !d.is_mem(1) {
                return None;
            }
            op.r = d.reg(0);
            d.mem(op);
            op.run = sized!(d.op_size(0), lea);
            Some(Flow::Next)
        }
        M::Xchg => {
            let size = d.op_size(0);
            if d.is_reg(0) && d.is_reg(1) {
                op.r = d.reg(0);
                op.rm = d.reg(1);
                op.run = sized!(size, xchg_rr);
            } else {
                let (m, r) = if d.is_mem(0) { (0, 1) } else { (1, 0) };
                let _ = m;
                op.r = d.reg(r);
                d.mem(op);
                op.run = sized!(size, xchg_rm);
            }
            Some(Flow::Next)
        }
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => {
            op.imm2 = ins.condition_code() as u16 - 1;
            op.r = d.reg(0);
            let size = d.op_size(0);
            if d.is_reg(1) {
                op.rm = d.reg(1);
                op.run = sized!(size, cmov_rr);
            } else {
                d.mem(op);
                op.run = sized!(size, cmov_rm);
            }
            Some(Flow::Next)
        }
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => {
            op.imm2 = ins.condition_code() as u16 - 1;
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = set_r;
            } else {
                d.mem(op);
                op.run = set_m;
            }
            Some(Flow::Next)
        }
        M::Cbw => Some(set(op, cbw::<U16>)),
        M::Cwde => Some(set(op, cbw::<U32>)),
        M::Cdqe => Some(set(op, cbw::<U64>)),
        M::Cwd => Some(set(op, cwd::<U16>)),
        M::Cdq => Some(set(op, cwd::<U32>)),
        M::Cqo => Some(set(op, cwd::<U64>)),
        M::Lahf => Some(set(op, lahf)),
        M::Sahf => Some(set(op, sahf)),
        M::Xlatb => {
            op.seg = d.mem_seg();
            op.asize = match ins.memory_base() {
                Register::BX => 0,
                Register::EBX => 1,
                _ => 2,
            };
            Some(set(op, xlat))
        }
        _ => None,
    }
}

fn set(op: &mut Op, h: crate::cpu::Handler) -> Flow {
    op.run = h;
    Flow::Next
}

fn decode_mov(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let r0 = ins.op0_register();
    let r1 = if ins.op_count() > 1 {
        ins.op1_register()
    } else {
        Register::None
    };
    if r0.is_segment_register() || r1.is_segment_register() {
        return super::segment::decode_mov_sreg(d, op);
    }
    if r0.is_cr() || r1.is_cr() || r0.is_dr() || r1.is_dr() || r0.is_tr() || r1.is_tr() {
        return super::system::decode_mov_crdr(d, op);
    }
    let size = d.op_size(0);
    if d.is_reg(0) {
        op.r = d.reg(0);
        if d.is_reg(1) {
            op.rm = d.reg(1);
            op.run = sized!(size, mov_rr);
        } else if d.is_mem(1) {
            if let Some(off) = moffs64(d) {
                op.seg = d.mem_seg();
                op.imm = off;
                op.run = sized!(size, mov_r_moffs);
            } else {
                d.mem(op);
                op.run = sized!(size, mov_rm);
            }
        } else {
            op.imm = d.imm(1);
            op.run = sized!(size, mov_ri);
        }
    } else {
        if d.is_reg(1) {
            op.r = d.reg(1);
            if let Some(off) = moffs64(d) {
                op.seg = d.mem_seg();
                op.imm = off;
                op.run = sized!(size, mov_moffs_r);
                return Some(Flow::Next);
            }
            op.run = sized!(size, mov_mr);
        } else {
            op.imm = d.imm(1);
            op.run = sized!(size, mov_mi);
        }
        d.mem(op);
    }
    Some(Flow::Next)
}

/// A `moffs` operand whose 64-bit offset does not fit the op's 32-bit displacement.
fn moffs64(d: &Decoded) -> Option<u64> {
    let ins = d.ins;
    let abs = ins.memory_base() == Register::None
        && ins.memory_index() == Register::None
        && ins.memory_displ_size() == 8;
    let disp = ins.memory_displacement64();
    (abs && disp as i64 != disp as i32 as i64).then_some(disp)
}
