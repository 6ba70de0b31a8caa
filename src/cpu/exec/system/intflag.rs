//! CLI and STI with their IOPL, VME and PVI rules, STI's interrupt shadow (SDM Vol. 2A CLI,
//! Vol. 2B STI, Vol. 3A 20.3/20.4), CLAC/STAC (EFLAGS.AC for SMAP), and HLT.

use iced_x86::Mnemonic as M;

use super::{cpl0, ud, R};
use crate::cpu::cpuid::{self, Feature};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::state::Mode;
use crate::cpu::{Cpu, Cr4, Op};

/// Which flag CLI/STI may change in the current mode and privilege: IF, VIF, or neither
/// (#GP(0)).
fn interrupt_flag(cpu: &Cpu) -> Result<u64, Fault> {
    let iopl = ((cpu.flags.bits & bit::IOPL) >> 12) as u8;
    match cpu.mode {
        Mode::Real => Ok(bit::IF),
        Mode::V8086 if iopl == 3 => Ok(bit::IF),
        Mode::V8086 if cpu.cr4.contains(Cr4::VME) => Ok(bit::VIF),
        Mode::V8086 => Err(Fault::GP0),
        _ if iopl >= cpu.cpl => Ok(bit::IF),
        _ if cpu.cpl == 3 && cpu.cr4.contains(Cr4::PVI) => Ok(bit::VIF),
        _ => Err(Fault::GP0),
    }
}

fn cli(cpu: &mut Cpu, _: &Op) -> R {
    let f = interrupt_flag(cpu)?;
    cpu.write_flags(0, f);
    Ok(())
}

/// STI: setting IF from 0 inhibits interrupts until the next instruction has run. Setting VIF
/// with VIP pending is #GP(0) instead, so that the monitor can deliver the interrupt.
fn sti(cpu: &mut Cpu, _: &Op) -> R {
    let f = interrupt_flag(cpu)?;
    if f == bit::VIF {
        if cpu.flags.has(bit::VIP) {
            return Err(Fault::GP0);
        }
    } else if !cpu.flags.has(bit::IF) {
        cpu.shadow = true;
    }
    cpu.write_flags(f, f);
    Ok(())
}

/// CLAC/STAC: CPL 0 only, and #UD (not #GP) above it (SDM Vol. 2A CLAC).
fn ac<const SET: bool>(cpu: &mut Cpu, _: &Op) -> R {
    if cpu.cpl != 0 {
        return Err(Fault::UD);
    }
    cpu.write_flags(if SET { bit::AC } else { 0 }, bit::AC);
    Ok(())
}

/// HLT: CPL 0 only; the processor waits for an interrupt, NMI or reset, and resumes after
/// the HLT.
fn hlt(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)?;
    cpu.halted = true;
    cpu.end_block();
    Ok(())
}

/// Decodes CLI, STI, CLAC, STAC, HLT.
pub(super) fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    op.run = match d.ins.mnemonic() {
        // IF changes end the block through `write_flags`.
        M::Cli => cli,
        M::Sti => sti,
        M::Clac | M::Stac if !cpuid::has(Feature::SMAP) => return ud(op),
        M::Clac => ac::<false>,
        M::Stac => ac::<true>,
        M::Hlt => {
            op.run = hlt;
            return Some(Flow::End);
        }
        _ => return ud(op),
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot, real};
    use super::*;

    const CLI: [u8; 1] = [0xFA];
    const STI: [u8; 1] = [0xFB];

    fn set_iopl(c: &mut Cpu, iopl: u64) {
        c.write_flags(iopl << 12, bit::IOPL);
    }

    #[test]
    fn real_mode_always_changes_if() {
        let mut c = real();
        exec(&mut c, &STI).unwrap();
        assert!(c.flags.has(bit::IF));
        assert!(c.shadow, "STI from IF = 0 opens the interrupt shadow");
        c.shadow = false;
        exec(&mut c, &STI).unwrap();
        assert!(!c.shadow, "no shadow when IF was already 1");
        exec(&mut c, &CLI).unwrap();
        assert!(!c.flags.has(bit::IF));
        assert!(c.block_ended(), "IF changes end the block");
    }

    #[test]
    fn protected_mode_needs_iopl_at_least_cpl() {
        let mut c = prot();
        c.set_cpl(3);
        set_iopl(&mut c, 0);
        assert_eq!(exec(&mut c, &CLI), Err(Fault::GP0));
        assert_eq!(exec(&mut c, &STI), Err(Fault::GP0));
        set_iopl(&mut c, 3);
        exec(&mut c, &STI).unwrap();
        assert!(c.flags.has(bit::IF));
        c.set_cpl(1);
        set_iopl(&mut c, 1);
        exec(&mut c, &CLI).unwrap();
        assert!(!c.flags.has(bit::IF));
    }

    #[test]
    fn pvi_turns_cpl_3_cli_sti_into_vif() {
        let mut c = prot();
        c.cr4 |= Cr4::PVI;
        c.set_cpl(3);
        set_iopl(&mut c, 0);
        c.write_flags(bit::IF | bit::VIF, bit::IF | bit::VIF);
        exec(&mut c, &CLI).unwrap();
        assert!(c.flags.has(bit::IF), "IF untouched");
        assert!(!c.flags.has(bit::VIF));
        exec(&mut c, &STI).unwrap();
        assert!(c.flags.has(bit::VIF));
        assert!(!c.shadow, "VIF has no shadow");
        c.write_flags(bit::VIP, bit::VIP | bit::VIF);
        assert_eq!(exec(&mut c, &STI), Err(Fault::GP0), "VIP pending");
        c.set_cpl(2);
        assert_eq!(exec(&mut c, &CLI), Err(Fault::GP0), "PVI is for CPL 3 only");
    }

    #[test]
    fn virtual_8086_mode_uses_iopl_3_or_vme() {
        let mut c = prot();
        c.write_flags(bit::VM, bit::VM);
        assert_eq!(c.mode, Mode::V8086);
        assert_eq!(exec(&mut c, &CLI), Err(Fault::GP0));
        c.cr4 |= Cr4::VME;
        c.write_flags(bit::IF | bit::VIF, bit::IF | bit::VIF);
        exec(&mut c, &CLI).unwrap();
        assert!(c.flags.has(bit::IF) && !c.flags.has(bit::VIF));
        set_iopl(&mut c, 3);
        exec(&mut c, &CLI).unwrap();
        assert!(!c.flags.has(bit::IF), "IOPL 3 changes IF itself");
    }

    #[test]
    fn clac_stac_are_cpl_0_and_ud_above() {
        let mut c = long();
        exec(&mut c, &[0x0F, 0x01, 0xCB]).unwrap(); // stac
        assert!(c.flags.has(bit::AC));
        exec(&mut c, &[0x0F, 0x01, 0xCA]).unwrap(); // clac
        assert!(!c.flags.has(bit::AC));
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xCB]), Err(Fault::UD));
    }

    #[test]
    fn hlt_halts_at_cpl_0_only() {
        let mut c = prot();
        let rip = c.rip();
        exec(&mut c, &[0xF4]).unwrap();
        assert!(c.halted);
        assert_eq!(c.rip(), rip + 1, "resumes after the HLT");
        c.halted = false;
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0xF4]), Err(Fault::GP0));
        assert!(!c.halted);
    }
}
