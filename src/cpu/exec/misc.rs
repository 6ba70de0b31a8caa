//! NOP forms, PAUSE, UD0/UD1/UD2, and the handlers for invalid and not-yet-implemented
//! instructions.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::{Cpu, Cr0, Op};

fn nop(_: &mut Cpu, _: &Op) -> R {
    Ok(())
}

/// #UD: an invalid opcode (or one vx86 does not implement).
pub fn invalid(_: &mut Cpu, _: &Op) -> R {
    Err(Fault::UD)
}

/// An instruction longer than 15 bytes: #GP(0), not #UD (SDM Vol. 2 2.3.11).
pub fn too_long(_: &mut Cpu, _: &Op) -> R {
    Err(Fault::GP0)
}

/// An x87/MMX/SSE instruction before the FPU issue: #NM when CR0.EM or CR0.TS ask for it
/// (SDM Vol. 3A 2.5), otherwise #UD, matching a CPUID that claims no FPU or SSE.
pub fn fpu_unavailable(cpu: &mut Cpu, _: &Op) -> R {
    if cpu.cr0.intersects(Cr0::EM | Cr0::TS) {
        return Err(Fault::NM);
    }
    Err(Fault::UD)
}

/// Decodes the miscellaneous group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.mnemonic() {
        // The hint-NOP space (SDM Vol. 2B NOP, "0F 18-0F 1F"; 0F 0D): prefetches and
        // hints that change no architectural state run as NOPs, as on processors without
        // the feature: PREFETCHIT0/1 (0F 18 /7, /6), CLDEMOTE (0F 1C /0), and RDSSPD/Q
        // (F3 0F 1E /1), a NOP while CET shadow stacks are off (SDM Vol. 1 17.2).
        M::Nop
        | M::Pause
        | M::Endbr32
        | M::Endbr64
        | M::Reservednop
        | M::Prefetch
        | M::Prefetchw
        | M::Prefetchwt1
        | M::Prefetchit0
        | M::Prefetchit1
        | M::Cldemote
        | M::Rdsspd
        | M::Rdsspq => {
            op.run = nop;
            Some(Flow::Next)
        }
        M::Ud0 | M::Ud1 | M::Ud2 => {
            op.run = invalid;
            Some(Flow::End)
        }
        _ => None,
    }
}
