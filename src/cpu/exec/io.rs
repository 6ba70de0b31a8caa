//! Port I/O: IN and OUT with an imm8 or DX port, 8/16/32-bit, and the I/O permission check
//! that INS/OUTS share (SDM Vol. 1 "Protection of I/O ports").

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::bus::ones;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::segment::attr;
use crate::cpu::state::{reg, Mode};
use crate::cpu::{Cpu, Op, Width, U16, U32, U8};

/// Offset of the I/O map base address in a 32-bit or 64-bit TSS (SDM Vol. 3A "Task-State Segment", "Task Management in 64-bit Mode").
const TSS_IOMAP_BASE: u64 = 0x66;
/// Descriptor types (S = 0) of an available and a busy 32-bit/64-bit TSS.
const TSS32_AVAILABLE: u16 = 0x9;
const TSS32_BUSY: u16 = 0xB;

/// Virtual time one port access takes: an ISA/LPC bus cycle of about a microsecond, which
/// is why `outb` to port 0x80 serves as Linux's `io_delay`. Software calibrates against it:
/// Linux's quick_pit_calibrate reads the 8254 once after writing a count and relies on that
/// read outlasting a PIT clock (838 ns), so that the counter has loaded.
pub const PORT_IO_NS: u64 = 1000;

/// EFLAGS.IOPL.
fn iopl(cpu: &Cpu) -> u8 {
    ((cpu.flags.bits & bit::IOPL) >> 12) as u8
}

impl Cpu {
    /// The I/O permission check of IN, OUT, INS and OUTS for `size` bytes at `port`: in
    /// protected mode with CPL > IOPL, and always in virtual-8086 mode, every bit of the
    /// accessed ports in the TSS I/O permission bitmap must be clear (SDM Vol. 1 "I/O Permission Bit Map").
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
        if !tr.usable()
            || (ty != TSS32_AVAILABLE && ty != TSS32_BUSY)
            || (tr.limit as u64) < TSS_IOMAP_BASE + 1
        {
            return Err(Fault::GP0);
        }
        let base = self.read_sys(tr.base.wrapping_add(TSS_IOMAP_BASE), 2)?;
        let off = base + port as u64 / 8;
        if off + 1 > tr.limit as u64 {
            return Err(Fault::GP0);
        }
        let bits = self.read_sys(tr.base.wrapping_add(off), 2)?;
        // One bit per port byte accessed.
        let mask = ((1u64 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Fault::GP0);
        }
        Ok(())
    }

    /// Reads `size` bytes from `port` on the bus, then samples the bus lines (a device may
    /// have raised INTR or asked to stop).
    pub fn port_in(&mut self, port: u16, size: u8) -> u32 {
        // The bus cycle passes before the device answers.
        self.idle_ns += PORT_IO_NS;
        let mem = &mut self.mem;
        let v = self
            .bus
            .at(self.icount + self.idle_ns)
            .io_read(mem, port, size);
        self.sync_bus();
        v & ones(size) as u32
    }

    /// Writes `size` bytes to `port` on the bus, then samples the bus lines.
    pub fn port_out(&mut self, port: u16, size: u8, value: u32) {
        self.idle_ns += PORT_IO_NS;
        let mem = &mut self.mem;
        self.bus.at(self.icount + self.idle_ns).io_write(
            mem,
            port,
            size,
            value & ones(size) as u32,
        );
        self.sync_bus();
    }
}

/// IN rAX, port: `DX` selects the DX form, else the port is `op.imm`.
fn in_<W: Width, const DX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let port = if DX {
        cpu.gpr[reg::RDX as usize] as u16
    } else {
        op.imm as u16
    };
    cpu.io_permission(port, W::BYTES as u8)?;
    let v = cpu.port_in(port, W::BYTES as u8);
    W::set(cpu, reg::RAX, v as u64);
    Ok(())
}

/// OUT port, rAX.
fn out<W: Width, const DX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let port = if DX {
        cpu.gpr[reg::RDX as usize] as u16
    } else {
        op.imm as u16
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::string::tests::{exec_one, flat32, real};
    use crate::cpu::Segment;

    const TSS: u64 = 0x8000;
    /// The I/O map base the tests' TSS uses.
    const IOMAP: u64 = 0x68;

    /// Loads TR with a 32-bit TSS whose bitmap denies `denied` ports and ends at `limit`.
    fn tss(cpu: &mut Cpu, denied: &[u16], limit: u32, ty: u16) {
        cpu.mem
            .write_bytes(TSS + TSS_IOMAP_BASE, &(IOMAP as u16).to_le_bytes())
            .unwrap();
        cpu.mem.write_bytes(TSS + IOMAP, &[0u8; 0x2000]).unwrap();
        cpu.mem.write_bytes(TSS + IOMAP + 0x2000, &[0xFF]).unwrap();
        for &p in denied {
            let at = TSS + IOMAP + p as u64 / 8;
            let b = cpu.mem.read_u8(at).unwrap();
            cpu.mem.write_u8(at, b | 1 << (p & 7));
        }
        cpu.tr = Segment::from_cache(0x28, TSS, limit, attr::P | ty);
    }

    fn user(cpu: &mut Cpu, iopl: u64) {
        cpu.flags.bits = (cpu.flags.bits & !bit::IOPL) | iopl << 12;
        cpu.set_cpl(3);
    }

    const FULL: u32 = (IOMAP + 0x2000) as u32;

    #[test]
    fn each_port_access_is_a_bus_cycle_of_virtual_time() {
        // IN AL, 0x61; OUT 0x80, AL; REP INSB with CX = 3: five accesses.
        let mut cpu = real();
        let t = cpu.now() - cpu.icount;
        exec_one(&mut cpu, &[0xE4, 0x61]).unwrap();
        exec_one(&mut cpu, &[0xE6, 0x80]).unwrap();
        assert_eq!(cpu.now() - cpu.icount - t, 2 * PORT_IO_NS);
        cpu.gpr[reg::RCX as usize] = 3;
        cpu.gpr[reg::RDI as usize] = 0x100;
        exec_one(&mut cpu, &[0xF3, 0x6C]).unwrap();
        assert_eq!(cpu.now() - cpu.icount - t, 5 * PORT_IO_NS);
    }

    #[test]
    fn real_mode_never_checks() {
        let mut cpu = real();
        cpu.tr = Segment::from_cache(0, 0, 0, attr::P | 0x3);
        exec_one(&mut cpu, &[0xE4, 0x80]).unwrap(); // in al, 0x80
        assert_eq!(
            cpu.gpr[reg::RAX as usize] & 0xFF,
            0xFF,
            "an open bus reads all ones"
        );
    }

    #[test]
    fn cpl_at_most_iopl_skips_the_bitmap() {
        let mut cpu = flat32();
        tss(&mut cpu, &[0x80], FULL, TSS32_BUSY);
        exec_one(&mut cpu, &[0xE6, 0x80]).unwrap(); // CPL 0, IOPL 0
        user(&mut cpu, 3);
        exec_one(&mut cpu, &[0xE6, 0x80]).unwrap();
    }

    #[test]
    fn every_port_of_the_access_must_be_allowed() {
        let mut cpu = flat32();
        tss(&mut cpu, &[0x81, 0x89], FULL, TSS32_BUSY);
        user(&mut cpu, 0);
        exec_one(&mut cpu, &[0xE6, 0x80]).unwrap(); // out 0x80, al
        assert_eq!(exec_one(&mut cpu, &[0x66, 0xE7, 0x80]), Err(Fault::GP0)); // out 0x80, ax
        cpu.gpr[reg::RDX as usize] = 0x85;
        exec_one(&mut cpu, &[0xED]).unwrap(); // in eax, dx: ports 0x85-0x88
        cpu.gpr[reg::RDX as usize] = 0x87;
        let rip = cpu.rip();
        // Ports 0x87-0x8A span two bitmap bytes; 0x89 is denied.
        assert_eq!(exec_one(&mut cpu, &[0xED]), Err(Fault::GP0));
        assert_eq!(cpu.rip(), rip);
    }

    #[test]
    fn the_bitmap_bytes_must_lie_inside_the_tss_limit() {
        let mut cpu = flat32();
        // The bitmap covers bytes 0..0x80 (ports 0-0x3FF), and the CPU always reads two bytes.
        tss(&mut cpu, &[], (IOMAP + 0x80) as u32, TSS32_AVAILABLE);
        user(&mut cpu, 0);
        cpu.gpr[reg::RDX as usize] = 0x3F7;
        exec_one(&mut cpu, &[0xEC]).unwrap();
        cpu.gpr[reg::RDX as usize] = 0x400;
        assert_eq!(exec_one(&mut cpu, &[0xEC]), Err(Fault::GP0));
        // A map base beyond the limit denies every port.
        cpu.mem
            .write_bytes(TSS + TSS_IOMAP_BASE, &0xFFFFu16.to_le_bytes())
            .unwrap();
        cpu.gpr[reg::RDX as usize] = 0;
        assert_eq!(exec_one(&mut cpu, &[0xEC]), Err(Fault::GP0));
    }

    #[test]
    fn a_16_bit_tss_has_no_bitmap() {
        let mut cpu = flat32();
        tss(&mut cpu, &[], FULL, 0x3);
        user(&mut cpu, 0);
        assert_eq!(exec_one(&mut cpu, &[0xE4, 0x10]), Err(Fault::GP0));
    }

    #[test]
    fn virtual_8086_mode_always_checks() {
        let mut cpu = flat32();
        tss(&mut cpu, &[0x60], FULL, TSS32_BUSY);
        cpu.flags.bits |= bit::IOPL;
        cpu.write_flags(bit::VM, bit::VM);
        assert_eq!(cpu.mode, Mode::V8086);
        exec_one(&mut cpu, &[0xE4, 0x61]).unwrap();
        assert_eq!(
            exec_one(&mut cpu, &[0xE4, 0x60]),
            Err(Fault::GP0),
            "even with IOPL 3"
        );
    }

    #[test]
    fn ins_and_outs_share_the_check() {
        let mut cpu = flat32();
        tss(&mut cpu, &[0x1F0], FULL, TSS32_BUSY);
        user(&mut cpu, 0);
        cpu.gpr[reg::RDX as usize] = 0x1F0;
        cpu.gpr[reg::RCX as usize] = 4;
        cpu.gpr[reg::RDI as usize] = 0x3000;
        assert_eq!(exec_one(&mut cpu, &[0xF3, 0x66, 0x6D]), Err(Fault::GP0)); // rep insw
        assert_eq!(cpu.gpr[reg::RCX as usize], 4);
        assert_eq!(exec_one(&mut cpu, &[0x6E]), Err(Fault::GP0)); // outsb
        cpu.gpr[reg::RCX as usize] = 0;
        exec_one(&mut cpu, &[0xF3, 0x6E]).unwrap(); // count 0: no access, no check
    }
}
