//! Near control flow: JMP, Jcc, JCXZ/JECXZ/JRCXZ, LOOP/LOOPE/LOOPNE, CALL and RET (near).

use iced_x86::{Code, Mnemonic as M, OpKind};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::operand::{canonical, ASIZE_MASK};
use crate::cpu::state::{reg, sreg, Mode, Model};
use crate::cpu::{Cpu, Op, Width};
use crate::{sized, sized_cc};

impl Cpu {
    /// Sets RIP to a near-branch target, raising #GP(0) if it lies beyond the CS limit (or is
    /// non-canonical in 64-bit mode); the fault is reported on the branch itself.
    #[inline(always)]
    pub fn branch_to(&mut self, target: u64) -> R {
        if self.mode == Mode::Long {
            if !canonical(target) {
                return Err(Fault::GP0);
            }
        } else if target > self.segs[sreg::CS as usize].limit as u64 && self.model != Model::I8086 {
            return Err(Fault::GP0);
        }
        self.set_rip(target);
        Ok(())
    }
}

/// JMP rel: `W` is the operand size, which truncates the target.
fn jmp_rel<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let t = cpu.rip().wrapping_add(op.imm) & W::MASK;
    cpu.branch_to(t)
}

fn jmp_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let t = W::get(cpu, op.rm);
    cpu.branch_to(t)
}

fn jmp_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let t = cpu.read_ea::<W>(op)?;
    cpu.branch_to(t)
}

/// Jcc with the condition fixed at decode time, so evaluating it folds to a few compares.
fn jcc<W: Width, const CC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if cpu.flags.cond(CC) {
        let t = cpu.rip().wrapping_add(op.imm) & W::MASK;
        return cpu.branch_to(t);
    }
    Ok(())
}

/// JCXZ/JECXZ/JRCXZ: the count register's width is the address size (`op.asize`).
fn jcxz<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if cpu.gpr[reg::RCX as usize] & ASIZE_MASK[(op.asize & 3) as usize] == 0 {
        let t = cpu.rip().wrapping_add(op.imm) & W::MASK;
        return cpu.branch_to(t);
    }
    Ok(())
}

/// LOOP (K = 0), LOOPE (K = 1), LOOPNE (K = 2): decrement the count register at the
/// address size, then branch if it is not zero (and ZF agrees).
fn loop_<W: Width, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let mask = ASIZE_MASK[(op.asize & 3) as usize];
    let rcx = cpu.gpr[reg::RCX as usize];
    let count = rcx.wrapping_sub(1) & mask;
    cpu.gpr[reg::RCX as usize] = (rcx & !mask) | count;
    let take = count != 0
        && match K {
            1 => cpu.flags.zf(),
            2 => !cpu.flags.zf(),
            _ => true,
        };
    if take {
        let t = cpu.rip().wrapping_add(op.imm) & W::MASK;
        return cpu.branch_to(t);
    }
    Ok(())
}

fn call_rel<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let ret = cpu.rip();
    let t = ret.wrapping_add(op.imm) & W::MASK;
    // The target is checked before anything is pushed.
    let saved = cpu.rip();
    cpu.branch_to(t)?;
    cpu.set_rip(saved);
    cpu.push::<W>(ret)?;
    cpu.set_rip(t);
    Ok(())
}

fn call_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let t = W::get(cpu, op.rm);
    call_abs::<W>(cpu, t)
}

fn call_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let t = cpu.read_ea::<W>(op)?;
    call_abs::<W>(cpu, t)
}

fn call_abs<W: Width>(cpu: &mut Cpu, t: u64) -> R {
    let ret = cpu.rip();
    cpu.branch_to(t)?;
    cpu.set_rip(ret);
    cpu.push::<W>(ret)?;
    cpu.set_rip(t);
    Ok(())
}

/// RET and RET imm16 (`op.imm` bytes released after popping).
fn ret<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (t, sp) = cpu.peek::<W>(0)?;
    cpu.branch_to(t)?;
    cpu.set_sp(sp.wrapping_add(op.imm));
    Ok(())
}

/// Decodes near branches.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    // The operand size of a near branch: from the branch kind, or the memory/register size.
    let size = match ins.op0_kind() {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        _ if ins.op_count() > 0 && (d.is_reg(0) || d.is_mem(0)) => d.op_size(0),
        _ => match ins.code() {
            Code::Retnw | Code::Retnw_imm16 => 2,
            Code::Retnd | Code::Retnd_imm16 => 4,
            _ => 8,
        },
    };
    match ins.mnemonic() {
        M::Jmp => {
            match ins.op0_kind() {
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                    op.imm = d.branch_rel();
                    op.run = sized!(size, jmp_rel);
                }
                OpKind::Register => {
                    op.rm = d.reg(0);
                    op.run = sized!(size, jmp_r);
                }
                OpKind::Memory if ins.is_jmp_far_indirect() => {
                    return super::far::decode_far_jmp_call(d, op)
                }
                OpKind::Memory => {
                    d.mem(op);
                    op.run = sized!(size, jmp_m);
                }
                _ => return super::far::decode_far_jmp_call(d, op),
            }
            Some(Flow::End)
        }
        M::Call => {
            match ins.op0_kind() {
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                    op.imm = d.branch_rel();
                    op.run = sized!(size, call_rel);
                }
                OpKind::Register => {
                    op.rm = d.reg(0);
                    op.run = sized!(size, call_r);
                }
                OpKind::Memory if ins.is_call_far_indirect() => {
                    return super::far::decode_far_jmp_call(d, op)
                }
                OpKind::Memory => {
                    d.mem(op);
                    op.run = sized!(size, call_m);
                }
                _ => return super::far::decode_far_jmp_call(d, op),
            }
            Some(Flow::End)
        }
        M::Ret => {
            op.imm = if ins.op_count() > 0 {
                d.imm(0) & 0xFFFF
            } else {
                0
            };
            op.run = sized!(size, ret);
            Some(Flow::End)
        }
        M::Jcxz | M::Jecxz | M::Jrcxz => {
            op.imm = d.branch_rel();
            op.asize = match ins.mnemonic() {
                M::Jcxz => 0,
                M::Jecxz => 1,
                _ => 2,
            };
            op.run = sized!(size, jcxz);
            Some(Flow::End)
        }
        M::Loop | M::Loope | M::Loopne => {
            op.imm = d.branch_rel();
            // The count register (CX, ECX, RCX) follows the address size, named in the code.
            let name = format!("{:?}", ins.code());
            op.asize = if name.ends_with("_RCX") {
                2
            } else if name.ends_with("_ECX") {
                1
            } else {
                0
            };
            op.run = match ins.mnemonic() {
                M::Loop => sized!(size, loop_, 0),
                M::Loope => sized!(size, loop_, 1),
                _ => sized!(size, loop_, 2),
            };
            Some(Flow::End)
        }
        _ => {
            // Jcc
            op.imm = d.branch_rel();
            let cc = ins.condition_code() as u8 - 1;
            op.imm2 = cc as u16;
            op.run = sized_cc!(size, jcc, cc);
            Some(Flow::End)
        }
    }
}
