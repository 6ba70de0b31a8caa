//! CLC, STC, CMC, CLD, STD (CLI/STI, with their IOPL and VME rules, live with the system group).

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::bit;
use crate::cpu::{Cpu, Op};

fn clc(cpu: &mut Cpu, _: &Op) -> R {
    cpu.flags.assign(bit::CF, false);
    Ok(())
}

fn stc(cpu: &mut Cpu, _: &Op) -> R {
    cpu.flags.assign(bit::CF, true);
    Ok(())
}

fn cmc(cpu: &mut Cpu, _: &Op) -> R {
    let cf = cpu.flags.cf();
    cpu.flags.assign(bit::CF, !cf);
    Ok(())
}

fn cld(cpu: &mut Cpu, _: &Op) -> R {
    cpu.flags.bits &= !bit::DF;
    Ok(())
}

fn std(cpu: &mut Cpu, _: &Op) -> R {
    cpu.flags.bits |= bit::DF;
    Ok(())
}

/// Decodes the flag group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    op.run = match d.ins.mnemonic() {
        M::Clc => clc,
        M::Stc => stc,
        M::Cmc => cmc,
        M::Cld => cld,
        M::Std => std,
        _ => return None,
    };
    Some(Flow::Next)
}
