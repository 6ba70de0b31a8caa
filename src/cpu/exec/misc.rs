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

/// Virtual time PAUSE takes: the spin-wait hint holds the pipeline for about 140 cycles on
/// Intel processors since Skylake (Optimization Reference Manual, "Pause Latency in Skylake
/// Microarchitecture"), some tens on others; vx86 takes 100 ns. Spin-waits on the TSC
/// (Linux's delay_tsc, timer_irq_works) then run a fraction of the iterations they would if
/// PAUSE were a one-instruction NOP.
pub const PAUSE_NS: u64 = 100;

/// PAUSE: time passes; the slice, sized in virtual time, ends that much sooner.
fn pause(cpu: &mut Cpu, _: &Op) -> R {
    cpu.idle_ns += PAUSE_NS;
    // The PAUSE itself still retires in this slice.
    let last = cpu.icount + 1;
    cpu.stop_at = cpu.stop_at.saturating_sub(PAUSE_NS).max(last);
    if cpu.stop_at == last {
        cpu.end_block();
    }
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
        M::Pause => {
            op.run = pause;
            Some(Flow::Next)
        }
        M::Nop
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

#[cfg(test)]
mod tests {
    use super::PAUSE_NS;
    use crate::cpu::exec::system::testing::real;
    use crate::cpu::{OpenBus, RunExit};

    #[test]
    fn pause_takes_virtual_time_and_shortens_the_slice_by_it() {
        let mut cpu = real();
        // PAUSE ×4, HLT at 0x1000.
        let code = [0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90, 0xF4];
        cpu.mem.write_bytes(0x1000, &code).unwrap();
        let start = cpu.now();
        // 150 ns of slice: the first PAUSE leaves 50, the second spends the rest.
        assert_eq!(cpu.run(&mut OpenBus, 150), RunExit::Budget);
        assert_eq!(cpu.icount, 2);
        assert_eq!(cpu.now() - start, 2 + 2 * PAUSE_NS);
        assert_eq!(cpu.run(&mut OpenBus, 1000), RunExit::Halted);
        assert_eq!(cpu.now() - start, 5 + 4 * PAUSE_NS);
    }
}
