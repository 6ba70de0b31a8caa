//! The stack: PUSH/POP (registers, memory, immediates), PUSHA/POPA, PUSHF/POPF with the
//! IOPL/VM/VIF rules, ENTER/LEAVE; and the push/pop primitives every other group uses.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::{reg, sreg};
use crate::cpu::{Cpu, Op, Width};
use crate::sized;

impl Cpu {
    /// The mask of the stack pointer: SP, ESP or RSP as SS.B and the mode say.
    #[inline(always)]
    pub fn sp_mask(&self) -> u64 {
        match self.stack_bytes() {
            8 => u64::MAX,
            4 => 0xFFFF_FFFF,
            _ => 0xFFFF,
        }
    }

    /// Sets the stack pointer at its width, keeping the bits above it.
    #[inline(always)]
    pub fn set_sp(&mut self, v: u64) {
        let mask = self.sp_mask();
        let sp = &mut self.gpr[reg::RSP as usize];
        *sp = (*sp & !mask) | (v & mask);
    }

    /// Pushes a `W`; nothing changes if the write faults.
    #[inline(always)]
    pub fn push<W: Width>(&mut self, v: u64) -> R {
        let mask = self.sp_mask();
        let rsp = self.gpr[reg::RSP as usize];
        let new = rsp.wrapping_sub(W::BYTES) & mask;
        self.write::<W>(sreg::SS, new, v)?;
        self.gpr[reg::RSP as usize] = (rsp & !mask) | new;
        Ok(())
    }

    /// Reads the `W` at SS:rSP + `offset` and returns it with the stack-pointer offset just
    /// past it (masked to the stack width), changing nothing.
    #[inline(always)]
    pub fn peek<W: Width>(&mut self, offset: u64) -> Result<(u64, u64), Fault> {
        let mask = self.sp_mask();
        let sp = self.gpr[reg::RSP as usize].wrapping_add(offset) & mask;
        let v = self.read::<W>(sreg::SS, sp)?;
        Ok((v, sp.wrapping_add(W::BYTES) & mask))
    }

    /// Pops a `W`; nothing changes if the read faults.
    #[inline(always)]
    pub fn pop<W: Width>(&mut self) -> Result<u64, Fault> {
        let (v, sp) = self.peek::<W>(0)?;
        self.set_sp(sp);
        Ok(v)
    }
}

fn push_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.push::<W>(v)
}

fn push_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    cpu.push::<W>(v)
}

fn push_i<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.push::<W>(op.imm)
}

fn pop_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.pop::<W>()?;
    W::set(cpu, op.r, v);
    Ok(())
}

/// POP r/m: the effective address is computed after rSP is incremented (SDM Vol. 2 POP), and
/// a faulting store leaves rSP unchanged.
fn pop_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let old = cpu.gpr[reg::RSP as usize];
    let v = cpu.pop::<W>()?;
    let off = cpu.ea(op);
    if let Err(f) = cpu.write::<W>(op.seg, off, v) {
        cpu.gpr[reg::RSP as usize] = old;
        return Err(f);
    }
    Ok(())
}

/// Decodes the stack group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    match ins.mnemonic() {
        M::Push | M::Pop if d.is_reg(0) && ins.op0_register().is_segment_register() => {
            super::segment::decode_push_pop_sreg(d, op)
        }
        M::Push => {
            let size = d.op_size(0);
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = sized!(size, push_r);
            } else if d.is_mem(0) {
                d.mem(op);
                op.run = sized!(size, push_m);
            } else {
                // The pushed width is the operand size, not the immediate's encoded size.
                let size = ins.stack_pointer_increment().unsigned_abs() as usize;
                op.imm = d.imm(0);
                op.run = sized!(size, push_i);
            }
            Some(Flow::Next)
        }
        M::Pop => {
            let size = d.op_size(0);
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = sized!(size, pop_r);
            } else {
                d.mem(op);
                op.run = sized!(size, pop_m);
            }
            Some(Flow::Next)
        }
        _ => decode_frame(d, op),
    }
}

/// PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.
fn decode_frame(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}
