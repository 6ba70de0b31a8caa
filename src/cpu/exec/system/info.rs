//! CPUID, RDTSC, RDTSCP, RDPID, RDPMC, RDMSR and WRMSR (SDM Vol. 2A/2B): the instructions
//! that read the processor model, its time-stamp counter and its MSRs.

use iced_x86::Code;

use super::{cpl0, ud, R};
use crate::cpu::cpuid::{self, Feature};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Cr4, Op, Width, U32, U64};

/// Splits a 64-bit value into EDX:EAX, clearing the upper halves of RDX and RAX.
#[inline]
fn set_edx_eax(cpu: &mut Cpu, v: u64) {
    U32::set(cpu, reg::RAX, v);
    U32::set(cpu, reg::RDX, v >> 32);
}

fn cpuid(cpu: &mut Cpu, _: &Op) -> R {
    let leaf = U32::get(cpu, reg::RAX) as u32;
    let sub = U32::get(cpu, reg::RCX) as u32;
    let [a, b, c, d] = cpuid::query(cpu, leaf, sub);
    U32::set(cpu, reg::RAX, a as u64);
    U32::set(cpu, reg::RBX, b as u64);
    U32::set(cpu, reg::RCX, c as u64);
    U32::set(cpu, reg::RDX, d as u64);
    Ok(())
}

/// CR4.TSD makes the time-stamp counter privileged (#GP(0) above CPL 0).
#[inline]
fn tsd_check(cpu: &Cpu) -> R {
    if cpu.cpl > 0 && cpu.cr4.contains(Cr4::TSD) {
        return Err(Fault::GP0);
    }
    Ok(())
}

fn rdtsc(cpu: &mut Cpu, _: &Op) -> R {
    tsd_check(cpu)?;
    let t = cpu.tsc();
    set_edx_eax(cpu, t);
    Ok(())
}

/// RDTSCP: RDTSC plus IA32_TSC_AUX in ECX.
fn rdtscp(cpu: &mut Cpu, _: &Op) -> R {
    tsd_check(cpu)?;
    let t = cpu.tsc();
    set_edx_eax(cpu, t);
    let aux = cpu.msr.tsc_aux;
    U32::set(cpu, reg::RCX, aux);
    Ok(())
}

/// RDPID r: IA32_TSC_AUX at any privilege (no CR4.TSD check).
fn rdpid<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let aux = cpu.msr.tsc_aux;
    W::set(cpu, op.r, aux);
    Ok(())
}

/// RDPMC: vx86 has no performance counters (CPUID leaf 0xA reports version 0), so every
/// counter index is invalid: #GP(0) at any privilege.
fn rdpmc(_: &mut Cpu, _: &Op) -> R {
    Err(Fault::GP0)
}

fn rdmsr(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)?;
    let v = cpu.read_msr(U32::get(cpu, reg::RCX) as u32)?;
    set_edx_eax(cpu, v);
    Ok(())
}

fn wrmsr(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)?;
    let v = U32::get(cpu, reg::RDX) << 32 | U32::get(cpu, reg::RAX);
    cpu.write_msr(U32::get(cpu, reg::RCX) as u32, v)
}

/// Decodes CPUID, RDTSC, RDTSCP, RDPID, RDPMC, RDMSR, WRMSR.
pub(super) fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let code = d.ins.code();
    let (run, flow): (crate::cpu::Handler, Flow) = match code {
        Code::Cpuid => (cpuid, Flow::Next),
        // The counter advances with retired instructions, counted at block ends: end the
        // block so that the next read sees this one's successors counted.
        Code::Rdtsc if cpuid::has(Feature::TSC) => (rdtsc, Flow::End),
        Code::Rdtscp if cpuid::has(Feature::RDTSCP) => (rdtscp, Flow::End),
        Code::Rdpid_r32 | Code::Rdpid_r64 if cpuid::has(Feature::RDPID) => {
            op.r = d.reg(0);
            (
                if code == Code::Rdpid_r64 {
                    rdpid::<U64>
                } else {
                    rdpid::<U32>
                },
                Flow::Next,
            )
        }
        Code::Rdpmc => (rdpmc, Flow::Next),
        Code::Rdmsr if cpuid::has(Feature::MSR) => (rdmsr, Flow::Next),
        // An MSR write may change EFER, segment bases or the TLB.
        Code::Wrmsr if cpuid::has(Feature::MSR) => (wrmsr, Flow::End),
        _ => return ud(op),
    };
    op.run = run;
    Some(flow)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot};
    use super::*;
    use crate::cpu::msr::index;

    fn r(c: &Cpu, i: u8) -> u64 {
        c.gpr[i as usize]
    }

    #[test]
    fn cpuid_writes_all_four_registers_zero_extended() {
        let mut c = long();
        for i in [reg::RAX, reg::RBX, reg::RCX, reg::RDX] {
            c.gpr[i as usize] = u64::MAX;
        }
        c.gpr[reg::RAX as usize] = 0xFFFF_FFFF_0000_0000;
        exec(&mut c, &[0x0F, 0xA2]).unwrap();
        assert_eq!(r(&c, reg::RAX), crate::cpu::cpuid::max_basic_leaf() as u64);
        assert_eq!(r(&c, reg::RBX), u32::from_le_bytes(*b"Genu") as u64);
        assert_eq!(r(&c, reg::RDX), u32::from_le_bytes(*b"ineI") as u64);
        assert_eq!(r(&c, reg::RCX), u32::from_le_bytes(*b"ntel") as u64);
    }

    #[test]
    fn rdtsc_and_cr4_tsd() {
        let mut c = prot();
        c.icount = 0x1_0000_0002;
        c.tsc_offset = 3;
        exec(&mut c, &[0x0F, 0x31]).unwrap();
        assert_eq!((r(&c, reg::RDX), r(&c, reg::RAX)), (1, 5));
        c.set_cpl(3);
        exec(&mut c, &[0x0F, 0x31]).unwrap();
        c.cr4 |= Cr4::TSD;
        assert_eq!(exec(&mut c, &[0x0F, 0x31]), Err(Fault::GP0));
        assert_eq!(
            exec(&mut c, &[0x0F, 0x01, 0xF9]),
            Err(Fault::GP0),
            "RDTSCP too"
        );
        c.msr.tsc_aux = 0x42;
        exec(&mut c, &[0xF3, 0x0F, 0xC7, 0xF8]).unwrap(); // rdpid eax ignores TSD
        assert_eq!(r(&c, reg::RAX), 0x42);
    }

    #[test]
    fn rdtscp_returns_tsc_aux() {
        let mut c = long();
        c.msr.tsc_aux = 7;
        c.gpr[reg::RCX as usize] = u64::MAX;
        exec(&mut c, &[0x0F, 0x01, 0xF9]).unwrap();
        assert_eq!(r(&c, reg::RCX), 7);
    }

    #[test]
    fn rdpmc_has_no_counters() {
        let mut c = prot();
        c.cr4 |= Cr4::PCE;
        assert_eq!(exec(&mut c, &[0x0F, 0x33]), Err(Fault::GP0));
    }

    #[test]
    fn rdmsr_wrmsr_round_trip_and_privilege() {
        let mut c = long();
        c.gpr[reg::RCX as usize] = index::STAR as u64;
        c.gpr[reg::RDX as usize] = 0xFFFF_FFFF_0023_0010;
        c.gpr[reg::RAX as usize] = 0xFFFF_FFFF_0000_0000;
        exec(&mut c, &[0x0F, 0x30]).unwrap();
        assert_eq!(
            c.msr.star, 0x0023_0010_0000_0000,
            "upper halves of RDX/RAX are ignored"
        );
        c.gpr[reg::RAX as usize] = u64::MAX;
        c.gpr[reg::RDX as usize] = u64::MAX;
        exec(&mut c, &[0x0F, 0x32]).unwrap();
        assert_eq!((r(&c, reg::RDX), r(&c, reg::RAX)), (0x0023_0010, 0));
        c.gpr[reg::RCX as usize] = 0x1234;
        assert_eq!(exec(&mut c, &[0x0F, 0x32]), Err(Fault::GP0), "unknown MSR");
        c.gpr[reg::RCX as usize] = index::STAR as u64;
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x32]), Err(Fault::GP0));
        assert_eq!(exec(&mut c, &[0x0F, 0x30]), Err(Fault::GP0));
    }
}
