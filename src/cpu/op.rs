//! `Op`: one decoded instruction as the interpreter runs it — a handler chosen at decode time
//! for the exact operand form and width, and the operands it needs, pre-extracted.

use super::fault::Fault;
use super::state::reg;
use super::Cpu;

/// An instruction handler. RIP already points at the next instruction when it runs; on
/// `Err` the run loop puts RIP back and delivers the fault.
pub type Handler = fn(&mut Cpu, &Op) -> Result<(), Fault>;

/// One decoded instruction (32 bytes).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Op {
    /// The handler.
    pub run: Handler,
    /// Immediate operand; for near branches the signed displacement from the next
    /// instruction; for far pointers the offset; for `moffs` forms the absolute offset.
    pub imm: u64,
    /// Memory displacement (sign-extended at use; RIP-relative is relative to the next RIP).
    pub disp: i32,
    /// Instruction length in bytes.
    pub len: u8,
    /// First register operand (destination, or ModRM.reg), by index (see [`reg`]).
    pub r: u8,
    /// Second register operand (source, or ModRM.rm in register forms).
    pub rm: u8,
    /// Effective-address base register (`reg::ZERO` if none, `reg::RIP` for RIP-relative).
    pub base: u8,
    /// Effective-address index register (`reg::ZERO` if none).
    pub index: u8,
    /// log2 of the index scale.
    pub scale: u8,
    /// Segment register of the memory operand.
    pub seg: u8,
    /// Address size: 0 = 16-bit, 1 = 32-bit, 2 = 64-bit.
    pub asize: u8,
    /// A second immediate: far-pointer selector, ENTER nesting level, a condition code…
    pub imm2: u16,
    /// Handler-specific extra (operand size in bytes for some forms, REP kind…).
    pub extra: u8,
    /// The segment-override/default distinction some handlers need, or padding.
    pub pad: u8,
}

fn no_handler(_: &mut Cpu, _: &Op) -> Result<(), Fault> {
    Err(Fault::UD)
}

impl Op {
    /// An op that raises #UD, with every operand empty.
    pub fn new(len: u8) -> Op {
        Op {
            run: no_handler,
            imm: 0,
            disp: 0,
            len,
            r: reg::ZERO,
            rm: reg::ZERO,
            base: reg::ZERO,
            index: reg::ZERO,
            scale: 0,
            seg: super::state::sreg::DS,
            asize: 1,
            imm2: 0,
            extra: 0,
            pad: 0,
        }
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("len", &self.len)
            .field("r", &self.r)
            .field("rm", &self.rm)
            .field("base", &self.base)
            .field("index", &self.index)
            .field("scale", &self.scale)
            .field("disp", &self.disp)
            .field("seg", &self.seg)
            .field("asize", &self.asize)
            .field("imm", &self.imm)
            .field("imm2", &self.imm2)
            .field("extra", &self.extra)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn op_is_32_bytes() {
        assert_eq!(std::mem::size_of::<super::Op>(), 32);
    }
}
