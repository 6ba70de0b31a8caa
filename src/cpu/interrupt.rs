//! Interrupt and exception delivery in every mode (SDM Vol. 3A chapter 6): the real-mode IVT,
//! protected-mode IDT gates with privilege changes, long-mode 16-byte gates with IST, and the
//! double-fault rules.

use super::fault::{Fault, FaultClass, Vector};
use super::flags::bit;
use super::state::{sreg, Mode};
use super::{Cpu, Segment, U16};

/// What raised an interrupt: it decides the privilege check, the saved RIP and EXT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// A processor exception (fault or trap); RIP was set by the caller.
    Exception,
    /// INTR or NMI; EXT is set in error codes.
    External,
    /// INT n: the gate's DPL must be >= CPL; in v8086 mode IOPL and VME rules apply.
    Software,
    /// INT3 and INTO: like INT n for the DPL check, but not redirected in v8086 mode.
    SoftException,
    /// INT1 (ICEBP): delivered like a hardware #DB, without the DPL check.
    Icebp,
}

impl Cpu {
    /// Delivers a fault raised by an instruction (RIP points at it), applying the
    /// double-fault rules (SDM Vol. 3A Table 6-5) to faults raised during delivery.
    pub fn deliver_fault(&mut self, mut f: Fault) {
        self.last_fault = Some(f);
        // A delivered fault uses up one instruction of the budget without retiring one, so
        // that a fault loop (a handler that faults again) cannot keep `run` from returning.
        self.stop_at = self.stop_at.saturating_sub(1);
        let mut current: Option<Vector> = None;
        loop {
            if let Some(prev) = current {
                let double = matches!(
                    (prev.class(), f.vector.class()),
                    (FaultClass::Contributory, FaultClass::Contributory)
                        | (FaultClass::PageFault, FaultClass::Contributory)
                        | (FaultClass::PageFault, FaultClass::PageFault)
                );
                if prev.class() == FaultClass::DoubleFault {
                    // A fault while delivering #DF: triple fault, the processor shuts down.
                    self.shutdown = true;
                    return;
                }
                if double {
                    f = Fault::with_code(Vector::DF, 0);
                }
            }
            if f.vector == Vector::PF {
                self.cr2 = self.pf_addr;
            }
            let code = f.vector.has_error_code().then_some(f.code);
            match self.interrupt(f.vector.number(), IntKind::Exception, code) {
                Ok(()) => return,
                Err(next) => {
                    current = Some(f.vector);
                    f = next;
                }
            }
        }
    }

    /// Delivers an external interrupt (INTR vector or NMI) at an instruction boundary.
    pub fn deliver_external(&mut self, vector: u8) {
        self.halted = false;
        if let Err(f) = self.interrupt(vector, IntKind::External, None) {
            self.deliver_fault(f);
        }
    }

    /// Delivers interrupt `vector` through the IVT/IDT of the current mode. RIP must already
    /// be the address to return to (the faulting instruction, or the next one for traps and
    /// software interrupts).
    pub fn interrupt(&mut self, vector: u8, kind: IntKind, code: Option<u32>) -> Result<(), Fault> {
        self.end_block = true;
        match self.mode {
            Mode::Real => self.real_interrupt(vector),
            _ => self.protected_interrupt(vector, kind, code),
        }
    }

    /// Real-address mode: push FLAGS, CS, IP and load CS:IP from the IVT (SDM Vol. 2 INT n).
    fn real_interrupt(&mut self, vector: u8) -> Result<(), Fault> {
        let off = vector as u64 * 4;
        if off + 3 > self.idtr.limit as u64 && self.model != super::Model::I8086 {
            return Err(Fault::gp(vector as u32 * 8 + 2));
        }
        let flags = self.rflags();
        let cs = self.segs[sreg::CS as usize].selector as u64;
        let ip = self.rip() & 0xFFFF;
        self.push::<U16>(flags)?;
        self.push::<U16>(cs)?;
        self.push::<U16>(ip)?;
        let entry = self.read_sys(self.idtr.base + off, 4)?;
        self.flags.bits &= !(bit::IF | bit::TF | bit::AC | bit::RF);
        self.segs[sreg::CS as usize] = Segment {
            selector: (entry >> 16) as u16,
            base: (entry >> 16) << 4,
            ..self.segs[sreg::CS as usize]
        };
        let mode = self.mode;
        self.segs[sreg::CS as usize].refresh(mode, sreg::CS);
        self.set_rip(entry & 0xFFFF);
        Ok(())
    }
}

impl Cpu {
    /// Protected-mode, virtual-8086 and long-mode delivery through the IDT (to be written).
    fn protected_interrupt(
        &mut self,
        _vector: u8,
        _kind: IntKind,
        _code: Option<u32>,
    ) -> Result<(), Fault> {
        self.shutdown = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu::segment::attr;
    use crate::cpu::{sreg, Cpu, Model, OpenBus, RunExit, Segment};
    use crate::mem::PhysMem;

    #[test]
    fn a_fault_loop_still_returns_from_run() {
        // UD2 at 0000:0100 and the #UD vector pointing back at it: every delivery faults
        // again without retiring an instruction, yet `run` must return.
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
        cpu.segs[sreg::SS as usize] = Segment::real(0);
        cpu.update_mode();
        cpu.gpr[crate::cpu::reg::RSP as usize] = 0x8000;
        cpu.mem.write_bytes(6 * 4, &[0x00, 0x01, 0x00, 0x00]).unwrap();
        cpu.mem.write_bytes(0x100, &[0x0F, 0x0B]).unwrap();
        cpu.set_rip(0x100);
        assert_eq!(cpu.run(&mut OpenBus, 10), RunExit::Budget);
        assert_eq!(cpu.rip(), 0x100);
    }
}
