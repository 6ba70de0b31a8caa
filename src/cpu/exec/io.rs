//! Port I/O: IN and OUT with an imm8 or DX port, 8/16/32-bit, and the I/O permission check
//! that INS/OUTS share (SDM Vol. 1 19.5, "Protection of I/O ports").

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::bus::ones;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::segment::attr;
use crate::cpu::state::{reg, Mode};
use crate::cpu::{Cpu, Op, Width, U16, U32, U8};

/// Offset of the I/O map base address in a 32-bit or 64-bit TSS (SDM Vol. 3A 8.2.1, 8.7).
const TSS_IOMAP_BASE: u64 = 0x66;
/// Descriptor types (S = 0) of an available and a busy 32-bit/64-bit TSS.
const TSS32_AVAILABLE: u16 = 0x9;
const TSS32_BUSY: u16 = 0xB;

/// EFLAGS.IOPL.
fn iopl(cpu: &Cpu) -> u8 {
    ((cpu.flags.bits & bit::IOPL) >> 12) as u8
}

impl Cpu {
    /// The I/O permission check of IN, OUT, INS and OUTS for `size` bytes at `port`: in
    /// protected mode with CPL > IOPL, and always in virtual-8086 mode, every bit of the
    /// accessed ports in the TSS I/O permission bitmap must be clear (SDM Vol. 1 19.5.2).
    #[inline]
    pub fn io_permission(&mut self, port: u16, size: u8) -> R {
        let checked = match self.mode {
            Mode::Real => false,
            Mode::V8086 => true,
            _ => self.cpl > iopl(self),
        };
        if checked {
            self.io_bitmap_check(port, size)
        } else {
            Ok(())
        }
    }

    /// Reads the TSS I/O permission bitmap. Only a 32-bit (or 64-bit) TSS has one; the two
    /// bytes holding the port's bits must lie inside the TSS limit (the processor always
    /// reads two), else #GP(0).
    #[cold]
    fn io_bitmap_check(&mut self, port: u16, size: u8) -> R {
        let tr = self.tr;
        let ty = tr.attr & (attr::S | attr::TYPE);
        if !tr.usable() || (ty != TSS32_AVAILABLE && ty != TSS32_BUSY) || (tr.limit as u64) < TSS_IOMAP_BASE + 1 {
            return Err(Fault::GP0);
        }
        let base = self.read_sys(tr.base.wrapping_add(TSS_IOMAP_BASE), 2)?;
        let off = base + port as u64 / 8;
        if off + 1 > tr.limit as u64 {
            return Err(Fault::GP0);
        }
        let bits = self.read_sys(tr.base.wrapping_add(off), 2)?;
        let mask = ones(size) << (port & 7);
        if bits & mask != 0 {
            return Err(Fault::GP0);
        }
        Ok(())
    }

    /// Reads `size` bytes from `port` on the bus, then samples the bus lines (a device may
    /// have raised INTR or asked to stop).
    pub fn port_in(&mut self, port: u16, size: u8) -> u32 {
        let mem = &mut self.mem;
        let v = self.bus.get().io_read(mem, port, size);
        self.sync_bus();
        v & ones(size) as u32
    }

    /// Writes `size` bytes to `port` on the bus, then samples the bus lines.
    pub fn port_out(&mut self, port: u16, size: u8, value: u32) {
        let mem = &mut self.mem;
        self.bus.get().io_write(mem, port, size, value & ones(size) as u32);
        self.sync_bus();
    }
}

/// IN rAX, port: `DX` selects the DX form, else the port is `op.imm`.
fn in_<W: Width, const DX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let port = if DX { cpu.gpr[reg::RDX as usize] as u16 } else { op.imm as u16 };
    cpu.io_permission(port, W::BYTES as u8)?;
    let v = cpu.port_in(port, W::BYTES as u8);
    W::set(cpu, reg::RAX, v as u64);
    Ok(())
}

/// OUT port, rAX.
fn out<W: Width, const DX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let port = if DX { cpu.gpr[reg::RDX as usize] as u16 } else { op.imm as u16 };
    cpu.io_permission(port, W::BYTES as u8)?;
    let v = W::get(cpu, reg::RAX);
    cpu.port_out(port, W::BYTES as u8, v as u32);
    Ok(())
}

/// Decodes IN and OUT. Both end the block: a device may raise an interrupt or stop the CPU.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let (data, port) = match ins.mnemonic() {
        M::In => (0, 1),
        M::Out => (1, 0),
        _ => return None,
    };
    let size = d.reg_size(data);
    let dx = d.is_reg(port);
    if !dx {
        op.imm = d.imm(port) & 0xFF;
    }
    op.run = match (ins.mnemonic(), size, dx) {
        (M::In, 1, false) => in_::<U8, false>,
        (M::In, 2, false) => in_::<U16, false>,
        (M::In, 4, false) => in_::<U32, false>,
        (M::In, 1, true) => in_::<U8, true>,
        (M::In, 2, true) => in_::<U16, true>,
        (M::In, 4, true) => in_::<U32, true>,
        (_, 1, false) => out::<U8, false>,
        (_, 2, false) => out::<U16, false>,
        (_, 4, false) => out::<U32, false>,
        (_, 1, true) => out::<U8, true>,
        (_, 2, true) => out::<U16, true>,
        (_, 4, true) => out::<U32, true>,
        _ => return None,
    };
    Some(Flow::End)
}
