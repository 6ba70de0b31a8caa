//! System instructions: descriptor-table registers, control and debug registers, TLB and
//! cache control, interrupt-flag control and HLT, CPUID/RDTSC/RDMSR and friends, and the fast
//! system calls. One file per family under `system/`; this one routes mnemonics to them and
//! gives every mnemonic the router sends here a deliberate answer.

mod cache;
mod control;
mod debug;
mod fastcall;
mod info;
mod intflag;
mod tables;

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::Model;
use crate::cpu::{Cpu, Op};

/// Decodes the system group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let m = d.ins.mnemonic();
    // The 8086 has none of the 0F system instructions; the 286 has the descriptor-table and
    // machine-status-word ones (SDM Vol. 2, IA-32 Architecture Compatibility sections).
    let exists = match d.model {
        Model::I8086 => matches!(m, M::Cli | M::Sti | M::Hlt),
        Model::I80286 => {
            matches!(
                m,
                M::Cli
                    | M::Sti
                    | M::Hlt
                    | M::Lgdt
                    | M::Lidt
                    | M::Sgdt
                    | M::Sidt
                    | M::Lmsw
                    | M::Smsw
                    | M::Clts
            )
        }
        Model::Modern => true,
    };
    if !exists {
        return ud(op);
    }
    match m {
        M::Lgdt | M::Lidt | M::Sgdt | M::Sidt => tables::decode(d, op),
        M::Lmsw | M::Smsw | M::Clts => control::decode_msw(d, op),
        M::Invlpg | M::Invpcid | M::Invd | M::Wbinvd | M::Wbnoinvd => cache::decode(d, op),
        M::Cpuid | M::Rdtsc | M::Rdtscp | M::Rdpid | M::Rdmsr | M::Wrmsr | M::Rdpmc => {
            info::decode(d, op)
        }
        M::Cli | M::Sti | M::Clac | M::Stac | M::Hlt => intflag::decode(d, op),
        M::Syscall
        | M::Sysret
        | M::Sysretq
        | M::Sysenter
        | M::Sysexit
        | M::Sysexitq
        | M::Swapgs
        | M::Rdfsbase
        | M::Rdgsbase
        | M::Wrfsbase
        | M::Wrgsbase => fastcall::decode(d, op),
        // Not claimed in CPUID, so #UD as on a processor without them: RDRAND/RDSEED would
        // make runs non-deterministic, MONITOR/MWAIT come with a later issue, and LOADALL
        // exists only on the 286/386 (which vx86's 286 model does not record). XGETBV and
        // XSETBV belong to the SSE group (exec::sse::state).
        M::Rdrand | M::Rdseed | M::Monitor | M::Mwait | M::Loadall => ud(op),
        _ => None,
    }
}

/// MOV to/from control and debug registers (MOV to/from test registers is #UD since the
/// Pentium, and iced-x86 already rejects it).
pub fn decode_mov_crdr(d: &Decoded, op: &mut Op) -> Option<Flow> {
    if d.model != Model::Modern {
        return ud(op);
    }
    let r0 = d.ins.op0_register();
    let r1 = d.ins.op1_register();
    if r0.is_cr() || r1.is_cr() {
        control::decode_mov_cr(d, op)
    } else if r0.is_dr() || r1.is_dr() {
        debug::decode_mov_dr(d, op)
    } else {
        ud(op)
    }
}

/// A deliberate #UD: the op raises it, and the host log does not call it unimplemented.
fn ud(op: &mut Op) -> Option<Flow> {
    op.run = crate::cpu::decode::ud_handler();
    Some(Flow::End)
}

/// #GP(0) unless CPL is 0 (real mode is CPL 0; virtual-8086 mode is CPL 3).
#[inline]
fn cpl0(cpu: &Cpu) -> R {
    if cpu.cpl != 0 {
        return Err(Fault::GP0);
    }
    Ok(())
}

/// Helpers for the unit tests of the system group: processors in each mode, and running one
/// instruction from its bytes through the real decoder and handler.
#[cfg(test)]
pub(crate) mod testing {
    use iced_x86::{Decoder, DecoderOptions};

    use crate::cpu::decode::translate;
    use crate::cpu::fault::Fault;
    use crate::cpu::{Cpu, Model};
    use crate::mem::PhysMem;

    /// A modern processor in real mode with 4 MiB of RAM.
    pub fn real() -> Cpu {
        let mut c = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
        c.set_rip(0x1000);
        c.segs[1] = crate::cpu::Segment::real(0);
        c.update_mode();
        c
    }

    /// Flat 32-bit protected mode at CPL 0, paging off, GDT at 0x1000.
    pub fn prot() -> Cpu {
        let mut c = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
        c.enter_protected_flat(0x1000);
        c.set_rip(0x10_0000);
        c
    }

    /// 64-bit mode at CPL 0: GDT at 0x1000, 1 GiB identity-mapped by tables at 0x10000.
    pub fn long() -> Cpu {
        let mut c = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
        c.enter_long_mode(0x1000, 0x10000, 1);
        c.set_rip(0x10_0000);
        c
    }

    /// Decodes `bytes` at the current code size and runs the op, as the run loop would
    /// (RIP past the instruction while it runs, put back on a fault).
    pub fn exec(c: &mut Cpu, bytes: &[u8]) -> Result<(), Fault> {
        let bits = c.code_bits();
        let ins = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE).decode();
        assert!(
            !ins.is_invalid(),
            "{bytes:02x?} does not decode in {bits}-bit code"
        );
        let d = translate(&ins, bits, c.model);
        assert!(
            !d.unimplemented,
            "{bytes:02x?} ({:?}) reached no handler",
            ins.mnemonic()
        );
        let start = c.rip();
        c.set_rip(start + ins.len() as u64);
        let r = (d.op.run)(c, &d.op);
        if r.is_err() {
            c.set_rip(start);
        }
        r
    }

    /// Whether `bytes` decode (in `bits`-bit code, for `model`) to the plain #UD handler.
    pub fn decodes_to_ud(bytes: &[u8], bits: u32, model: Model) -> bool {
        let ins = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE).decode();
        let d = translate(&ins, bits, model);
        d.op.run as usize == crate::cpu::decode::ud_handler() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::testing::decodes_to_ud;
    use crate::cpu::Model;

    #[test]
    fn undeclared_instructions_are_deliberate_ud() {
        for (bytes, bits) in [
            (&[0x0F, 0xC7, 0xF0][..], 32), // RDRAND
            (&[0x0F, 0xC7, 0xF8][..], 64), // RDSEED
            (&[0x0F, 0x01, 0xC8][..], 32), // MONITOR
            (&[0x0F, 0x01, 0xC9][..], 64), // MWAIT
        ] {
            assert!(decodes_to_ud(bytes, bits, Model::Modern), "{bytes:02x?}");
        }
    }

    /// Every mnemonic the router sends to this group, with one encoding (and code size) each.
    const ROUTED: &[(iced_x86::Mnemonic, u32, &[u8])] = {
        use iced_x86::Mnemonic as M;
        &[
            (M::Lgdt, 32, &[0x0F, 0x01, 0x10]),
            (M::Lidt, 32, &[0x0F, 0x01, 0x18]),
            (M::Sgdt, 32, &[0x0F, 0x01, 0x00]),
            (M::Sidt, 32, &[0x0F, 0x01, 0x08]),
            (M::Lmsw, 32, &[0x0F, 0x01, 0xF0]),
            (M::Smsw, 32, &[0x0F, 0x01, 0xE0]),
            (M::Clts, 32, &[0x0F, 0x06]),
            (M::Invlpg, 32, &[0x0F, 0x01, 0x38]),
            (M::Invpcid, 64, &[0x66, 0x0F, 0x38, 0x82, 0x03]),
            (M::Invd, 32, &[0x0F, 0x08]),
            (M::Wbinvd, 32, &[0x0F, 0x09]),
            (M::Wbnoinvd, 32, &[0xF3, 0x0F, 0x09]),
            (M::Cpuid, 32, &[0x0F, 0xA2]),
            (M::Rdtsc, 32, &[0x0F, 0x31]),
            (M::Rdtscp, 32, &[0x0F, 0x01, 0xF9]),
            (M::Rdpid, 64, &[0xF3, 0x0F, 0xC7, 0xF8]),
            (M::Rdmsr, 32, &[0x0F, 0x32]),
            (M::Wrmsr, 32, &[0x0F, 0x30]),
            (M::Rdpmc, 32, &[0x0F, 0x33]),
            (M::Swapgs, 64, &[0x0F, 0x01, 0xF8]),
            (M::Rdfsbase, 64, &[0xF3, 0x0F, 0xAE, 0xC0]),
            (M::Rdgsbase, 64, &[0xF3, 0x0F, 0xAE, 0xC8]),
            (M::Wrfsbase, 64, &[0xF3, 0x0F, 0xAE, 0xD0]),
            (M::Wrgsbase, 64, &[0xF3, 0x0F, 0xAE, 0xD8]),
            (M::Cli, 32, &[0xFA]),
            (M::Sti, 32, &[0xFB]),
            (M::Clac, 32, &[0x0F, 0x01, 0xCA]),
            (M::Stac, 32, &[0x0F, 0x01, 0xCB]),
            (M::Hlt, 32, &[0xF4]),
            (M::Rdrand, 32, &[0x0F, 0xC7, 0xF0]),
            (M::Rdseed, 32, &[0x0F, 0xC7, 0xF8]),
            (M::Monitor, 32, &[0x0F, 0x01, 0xC8]),
            (M::Mwait, 32, &[0x0F, 0x01, 0xC9]),
            (M::Syscall, 64, &[0x0F, 0x05]),
            (M::Syscall, 32, &[0x0F, 0x05]),
            (M::Sysret, 64, &[0x0F, 0x07]),
            (M::Sysretq, 64, &[0x48, 0x0F, 0x07]),
            (M::Sysenter, 32, &[0x0F, 0x34]),
            (M::Sysexit, 32, &[0x0F, 0x35]),
            (M::Sysexitq, 64, &[0x48, 0x0F, 0x35]),
            (M::Mov, 32, &[0x0F, 0x20, 0xC0]),
            (M::Mov, 32, &[0x0F, 0x22, 0xC0]),
            (M::Mov, 64, &[0x44, 0x0F, 0x22, 0xC0]),
            (M::Mov, 32, &[0x0F, 0x21, 0xC0]),
            (M::Mov, 64, &[0x0F, 0x23, 0xF8]),
        ]
    };

    #[test]
    fn every_routed_mnemonic_gets_a_deliberate_answer() {
        use iced_x86::{Decoder, DecoderOptions};
        for &(m, bits, bytes) in ROUTED {
            let ins = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE).decode();
            assert_eq!(ins.mnemonic(), m, "{bytes:02x?}");
            let d = crate::cpu::decode::translate(&ins, bits, Model::Modern);
            assert!(
                !d.unimplemented,
                "{m:?} ({bytes:02x?}, {bits}-bit) is reported as unimplemented"
            );
        }
    }

    #[test]
    fn old_models_lack_the_newer_system_instructions() {
        assert!(
            decodes_to_ud(&[0x0F, 0xA2], 16, Model::I80286),
            "no CPUID on the 286"
        );
        assert!(
            decodes_to_ud(&[0x0F, 0x20, 0xC0], 16, Model::I80286),
            "no MOV CR on the 286"
        );
        assert!(
            decodes_to_ud(&[0x0F, 0x01, 0x16, 0, 0], 16, Model::I8086),
            "no LGDT on the 8086"
        );
        assert!(
            !decodes_to_ud(&[0x0F, 0x01, 0x16, 0, 0], 16, Model::I80286),
            "the 286 has LGDT"
        );
        assert!(!decodes_to_ud(&[0xFA], 16, Model::I8086), "CLI");
    }
}
