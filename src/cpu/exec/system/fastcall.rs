//! Fast system calls and 64-bit segment-base access (SDM Vol. 2B SYSCALL, SYSRET, SYSENTER,
//! SYSEXIT, SWAPGS, RDFSBASE/RDGSBASE, WRFSBASE/WRGSBASE; Vol. 3A 5.8.7, 5.8.8).
//!
//! These load CS and SS with fixed flat descriptor caches computed from the MSRs, never
//! reading the GDT. vx86 is a GenuineIntel processor: SYSCALL and SYSRET exist only in 64-bit
//! mode (#UD elsewhere, where AMD processors would run their legacy forms).

use iced_x86::Code;

use super::{cpl0, ud, R};
use crate::cpu::cpuid::{self, Feature};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::operand::canonical;
use crate::cpu::segment::attr;
use crate::cpu::state::{reg, sreg, Mode};
use crate::cpu::{Cpu, Cr0, Cr4, Efer, Op, Segment, Width, U32, U64};

/// Code segment type 11 (execute/read, accessed), flat, 4-KiB granular.
const CODE: u16 = attr::P | attr::S | attr::CODE | attr::RW | attr::ACCESSED | attr::G;
/// Data segment type 3 (read/write, accessed), flat, 32-bit, 4-KiB granular.
const STACK: u16 = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G;

/// The RFLAGS bits SYSRET takes from R11: everything but RF, VM and the reserved bits.
const SYSRET_FLAGS: u64 = 0x3C_7FD7;

impl Cpu {
    /// Loads CS and SS with the flat caches the fast system calls use, sets the CPL and
    /// recomputes the mode. `long` picks a 64-bit (L = 1) or a 32-bit (D = 1) code segment.
    fn load_flat_cs_ss(&mut self, cs: u16, ss: u16, dpl: u8, long: bool) {
        let dpl_bits = (dpl as u16) << attr::DPL_SHIFT;
        let size = if long { attr::L } else { attr::DB };
        self.segs[sreg::CS as usize] =
            Segment::from_cache(cs, 0, 0xFFFF_FFFF, CODE | size | dpl_bits);
        self.segs[sreg::SS as usize] = Segment::from_cache(ss, 0, 0xFFFF_FFFF, STACK | dpl_bits);
        self.cpl = dpl;
        self.update_mode();
    }
}

/// SYSCALL: RCX = RIP, R11 = RFLAGS; RIP = IA32_LSTAR; RFLAGS &= !IA32_FMASK (and RF);
/// CS = IA32_STAR[47:32] & 0xFFFC, SS = that + 8, CPL 0.
fn syscall(cpu: &mut Cpu, _: &Op) -> R {
    if !cpu.efer.contains(Efer::SCE) {
        return Err(Fault::UD);
    }
    let rflags = cpu.rflags() & !bit::RF;
    let next = cpu.rip();
    cpu.gpr[reg::RCX as usize] = next;
    cpu.gpr[reg::R11 as usize] = rflags;
    let sel = ((cpu.msr.star >> 32) as u16) & 0xFFFC;
    cpu.load_flat_cs_ss(sel, sel.wrapping_add(8), 0, true);
    cpu.write_flags(rflags & !cpu.msr.fmask, u64::MAX);
    cpu.set_rip(cpu.msr.lstar);
    Ok(())
}

/// SYSRET: back to CPL 3, to 64-bit mode (REX.W: RIP = RCX, CS = IA32_STAR[63:48] + 16) or
/// compatibility mode (RIP = ECX, CS = IA32_STAR[63:48]); SS = IA32_STAR[63:48] + 8; RFLAGS
/// from R11. A non-canonical RCX faults at CPL 0, before anything changes.
fn sysret<const Q: bool>(cpu: &mut Cpu, _: &Op) -> R {
    if !cpu.efer.contains(Efer::SCE) {
        return Err(Fault::UD);
    }
    cpl0(cpu)?;
    let rcx = cpu.gpr[reg::RCX as usize];
    let rip = if Q { rcx } else { rcx & 0xFFFF_FFFF };
    if !canonical(rip) {
        return Err(Fault::GP0);
    }
    let base = (cpu.msr.star >> 48) as u16;
    let cs = if Q { base.wrapping_add(16) } else { base } | 3;
    let ss = base.wrapping_add(8) | 3;
    let flags = (cpu.gpr[reg::R11 as usize] & SYSRET_FLAGS) | bit::FIXED1;
    cpu.load_flat_cs_ss(cs, ss, 3, Q);
    cpu.write_flags(flags, u64::MAX);
    cpu.set_rip(rip);
    Ok(())
}

/// SYSENTER: #GP(0) in real mode or with a null IA32_SYSENTER_CS; clears VM, IF and RF;
/// CS = IA32_SYSENTER_CS & 0xFFFC, SS = CS + 8, CPL 0; 64-bit CS in IA-32e mode.
fn sysenter(cpu: &mut Cpu, _: &Op) -> R {
    let cs = cpu.msr.sysenter_cs as u16;
    if !cpu.cr0.contains(Cr0::PE) || cs & 0xFFFC == 0 {
        return Err(Fault::GP0);
    }
    let ia32e = cpu.efer.contains(Efer::LMA);
    cpu.write_flags(0, bit::VM | bit::IF | bit::RF);
    let (rsp, rip) = if ia32e {
        (cpu.msr.sysenter_esp, cpu.msr.sysenter_eip)
    } else {
        (
            cpu.msr.sysenter_esp & 0xFFFF_FFFF,
            cpu.msr.sysenter_eip & 0xFFFF_FFFF,
        )
    };
    let cs = cs & 0xFFFC;
    cpu.load_flat_cs_ss(cs, cs.wrapping_add(8), 0, ia32e);
    cpu.gpr[reg::RSP as usize] = rsp;
    cpu.set_rip(rip);
    Ok(())
}

/// SYSEXIT: back to CPL 3 with RSP = rCX and RIP = rDX; CS = IA32_SYSENTER_CS + 16 (+ 32 for
/// the REX.W form, into 64-bit mode), SS = CS + 8.
fn sysexit<const Q: bool>(cpu: &mut Cpu, _: &Op) -> R {
    let base = cpu.msr.sysenter_cs as u16;
    if !cpu.cr0.contains(Cr0::PE) || base & 0xFFFC == 0 {
        return Err(Fault::GP0);
    }
    cpl0(cpu)?;
    let (rsp, rip) = if Q {
        (cpu.gpr[reg::RCX as usize], cpu.gpr[reg::RDX as usize])
    } else {
        (
            cpu.gpr[reg::RCX as usize] & 0xFFFF_FFFF,
            cpu.gpr[reg::RDX as usize] & 0xFFFF_FFFF,
        )
    };
    if Q && (!canonical(rsp) || !canonical(rip)) {
        return Err(Fault::GP0);
    }
    let cs = base.wrapping_add(if Q { 32 } else { 16 }) | 3;
    cpu.load_flat_cs_ss(cs, cs.wrapping_add(8), 3, Q);
    cpu.gpr[reg::RSP as usize] = rsp;
    cpu.set_rip(rip);
    Ok(())
}

/// SWAPGS: exchanges GS.base with IA32_KERNEL_GS_BASE (64-bit mode, CPL 0).
fn swapgs(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)?;
    let gs = &mut cpu.segs[sreg::GS as usize];
    std::mem::swap(&mut gs.base, &mut cpu.msr.kernel_gs_base);
    gs.refresh(Mode::Long, sreg::GS);
    Ok(())
}

/// RDFSBASE/RDGSBASE: #UD unless CR4.FSGSBASE; the 32-bit form reads the low half.
fn rdbase<W: Width, const SEG: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !cpu.cr4.contains(Cr4::FSGSBASE) {
        return Err(Fault::UD);
    }
    let v = cpu.segs[SEG as usize].base;
    W::set(cpu, op.r, v);
    Ok(())
}

/// WRFSBASE/WRGSBASE: #UD unless CR4.FSGSBASE; #GP(0) for a non-canonical base.
fn wrbase<W: Width, const SEG: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !cpu.cr4.contains(Cr4::FSGSBASE) {
        return Err(Fault::UD);
    }
    let v = W::get(cpu, op.r);
    if !canonical(v) {
        return Err(Fault::GP0);
    }
    let s = &mut cpu.segs[SEG as usize];
    s.base = v;
    s.refresh(Mode::Long, SEG);
    Ok(())
}

/// Decodes the fast system calls, SWAPGS and the FS/GS base instructions.
pub(super) fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    use Code as C;
    let long = d.bits == 64;
    let code = d.ins.code();
    op.run = match code {
        C::Syscall if long && cpuid::has(Feature::SYSCALL) => syscall,
        C::Sysretd if long && cpuid::has(Feature::SYSCALL) => sysret::<false>,
        C::Sysretq if long && cpuid::has(Feature::SYSCALL) => sysret::<true>,
        C::Sysenter if cpuid::has(Feature::SEP) => sysenter,
        C::Sysexitd if cpuid::has(Feature::SEP) => sysexit::<false>,
        C::Sysexitq if long && cpuid::has(Feature::SEP) => sysexit::<true>,
        C::Swapgs if long => swapgs,
        C::Rdfsbase_r32
        | C::Rdfsbase_r64
        | C::Rdgsbase_r32
        | C::Rdgsbase_r64
        | C::Wrfsbase_r32
        | C::Wrfsbase_r64
        | C::Wrgsbase_r32
        | C::Wrgsbase_r64
            if long && cpuid::has(Feature::FSGSBASE) =>
        {
            op.r = d.reg(0);
            let fs = matches!(
                code,
                C::Rdfsbase_r32 | C::Rdfsbase_r64 | C::Wrfsbase_r32 | C::Wrfsbase_r64
            );
            let wide = matches!(
                code,
                C::Rdfsbase_r64 | C::Rdgsbase_r64 | C::Wrfsbase_r64 | C::Wrgsbase_r64
            );
            let read = matches!(
                code,
                C::Rdfsbase_r32 | C::Rdfsbase_r64 | C::Rdgsbase_r32 | C::Rdgsbase_r64
            );
            op.run = match (read, fs, wide) {
                (true, true, false) => rdbase::<U32, { sreg::FS }>,
                (true, true, true) => rdbase::<U64, { sreg::FS }>,
                (true, false, false) => rdbase::<U32, { sreg::GS }>,
                (true, false, true) => rdbase::<U64, { sreg::GS }>,
                (false, true, false) => wrbase::<U32, { sreg::FS }>,
                (false, true, true) => wrbase::<U64, { sreg::FS }>,
                (false, false, false) => wrbase::<U32, { sreg::GS }>,
                (false, false, true) => wrbase::<U64, { sreg::GS }>,
            };
            return Some(Flow::Next);
        }
        _ => return ud(op),
    };
    // All of these change CS, RIP or the privilege level, except SWAPGS; end the block.
    Some(Flow::End)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{decodes_to_ud, exec, long, prot};
    use super::*;
    use crate::cpu::msr::index;
    use crate::cpu::Model;

    fn r(c: &Cpu, i: u8) -> u64 {
        c.gpr[i as usize]
    }

    fn star(kernel_cs: u64, user_base: u64) -> u64 {
        user_base << 48 | kernel_cs << 32
    }

    #[test]
    fn syscall_needs_efer_sce_and_64_bit_mode() {
        let mut c = long();
        assert_eq!(exec(&mut c, &[0x0F, 0x05]), Err(Fault::UD));
        assert!(
            decodes_to_ud(&[0x0F, 0x05], 32, Model::Modern),
            "Intel: no SYSCALL outside 64-bit mode"
        );
        assert!(
            decodes_to_ud(&[0x0F, 0x07], 32, Model::Modern),
            "nor SYSRET"
        );
    }

    #[test]
    fn syscall_loads_flat_kernel_segments_and_masks_rflags() {
        let mut c = long();
        c.write_msr(index::EFER, (c.efer | Efer::SCE).bits())
            .unwrap();
        c.msr.star = star(0x10, 0x23);
        c.msr.lstar = 0xFFFF_FFFF_8100_0000;
        c.msr.fmask = bit::IF | bit::TF | bit::DF;
        c.set_cpl(3);
        c.segs[sreg::CS as usize].selector = 0x33;
        c.write_flags(bit::IF | bit::DF | bit::CF | bit::RF, u64::MAX);
        let rip = c.rip();
        exec(&mut c, &[0x0F, 0x05]).unwrap();
        assert_eq!(r(&c, reg::RCX), rip + 2);
        assert_eq!(
            r(&c, reg::R11),
            bit::IF | bit::DF | bit::CF | bit::FIXED1,
            "RF is not saved"
        );
        assert_eq!(c.rflags(), bit::CF | bit::FIXED1);
        assert_eq!(c.rip(), 0xFFFF_FFFF_8100_0000);
        assert_eq!(c.cpl, 0);
        assert_eq!(c.mode, Mode::Long);
        let cs = c.segs[sreg::CS as usize];
        assert_eq!(
            (cs.selector, cs.base, cs.limit, cs.dpl()),
            (0x10, 0, 0xFFFF_FFFF, 0)
        );
        assert!(cs.long() && !cs.big());
        let ss = c.segs[sreg::SS as usize];
        assert_eq!((ss.selector, ss.dpl()), (0x18, 0));
        assert!(ss.big());
    }

    #[test]
    fn sysret_returns_to_64_bit_or_compatibility_mode() {
        let mut c = long();
        c.efer |= Efer::SCE;
        c.msr.star = star(0x10, 0x23);
        c.gpr[reg::RCX as usize] = 0x40_1000;
        c.gpr[reg::R11 as usize] = 0x3F_FFFF;
        exec(&mut c, &[0x48, 0x0F, 0x07]).unwrap(); // sysretq
        assert_eq!(c.cpl, 3);
        assert_eq!(c.mode, Mode::Long);
        assert_eq!(c.segs[sreg::CS as usize].selector, 0x33);
        assert_eq!(c.segs[sreg::SS as usize].selector, 0x2B);
        assert_eq!(c.rip(), 0x40_1000);
        assert_eq!(
            c.rflags(),
            SYSRET_FLAGS,
            "RF, VM and the reserved bits are never restored"
        );

        let mut c = long();
        c.efer |= Efer::SCE;
        c.msr.star = star(0x10, 0x23);
        c.gpr[reg::RCX as usize] = 0xFFFF_FFFF_0040_2000;
        c.gpr[reg::R11 as usize] = 0x202;
        exec(&mut c, &[0x0F, 0x07]).unwrap(); // sysret (32-bit)
        assert_eq!(c.mode, Mode::Compat);
        assert_eq!(c.segs[sreg::CS as usize].selector, 0x23);
        assert!(c.segs[sreg::CS as usize].big());
        assert_eq!(c.rip(), 0x40_2000);
    }

    #[test]
    fn sysret_faults_at_cpl_0() {
        let mut c = long();
        c.efer |= Efer::SCE;
        c.gpr[reg::RCX as usize] = 0x0000_8000_0000_0000;
        assert_eq!(
            exec(&mut c, &[0x48, 0x0F, 0x07]),
            Err(Fault::GP0),
            "non-canonical RCX"
        );
        assert_eq!(c.cpl, 0);
        c.set_cpl(3);
        c.gpr[reg::RCX as usize] = 0x1000;
        assert_eq!(exec(&mut c, &[0x48, 0x0F, 0x07]), Err(Fault::GP0), "CPL 3");
    }

    #[test]
    fn sysenter_and_sysexit_in_protected_mode() {
        let mut c = prot();
        assert_eq!(
            exec(&mut c, &[0x0F, 0x34]),
            Err(Fault::GP0),
            "null IA32_SYSENTER_CS"
        );
        c.msr.sysenter_cs = 0x0B; // RPL bits are ignored
        c.msr.sysenter_esp = 0x9000;
        c.msr.sysenter_eip = 0x20_0000;
        c.set_cpl(3);
        c.write_flags(bit::IF, bit::IF);
        exec(&mut c, &[0x0F, 0x34]).unwrap();
        assert_eq!((c.cpl, c.rip(), r(&c, reg::RSP)), (0, 0x20_0000, 0x9000));
        assert_eq!(c.segs[sreg::CS as usize].selector, 0x08);
        assert_eq!(c.segs[sreg::SS as usize].selector, 0x10);
        assert!(!c.flags.has(bit::IF));
        assert_eq!(c.mode, Mode::Protected);
        c.gpr[reg::RCX as usize] = 0x7000;
        c.gpr[reg::RDX as usize] = 0x30_0000;
        exec(&mut c, &[0x0F, 0x35]).unwrap();
        assert_eq!((c.cpl, c.rip(), r(&c, reg::RSP)), (3, 0x30_0000, 0x7000));
        assert_eq!(c.segs[sreg::CS as usize].selector, 0x1B);
        assert_eq!(c.segs[sreg::SS as usize].selector, 0x23);
        assert_eq!(
            exec(&mut c, &[0x0F, 0x35]),
            Err(Fault::GP0),
            "SYSEXIT at CPL 3"
        );
    }

    #[test]
    fn sysenter_from_compatibility_mode_enters_64_bit_mode() {
        let mut c = long();
        c.msr.sysenter_cs = 0x10;
        c.msr.sysenter_eip = 0xFFFF_FFFF_8000_0000;
        c.msr.sysenter_esp = 0xFFFF_FFFF_8000_8000;
        c.load_flat_cs_ss(0x23, 0x2B, 3, false);
        assert_eq!(c.mode, Mode::Compat);
        exec(&mut c, &[0x0F, 0x34]).unwrap();
        assert_eq!(c.mode, Mode::Long);
        assert_eq!(
            (c.rip(), r(&c, reg::RSP)),
            (0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_8000_8000)
        );
        c.gpr[reg::RDX as usize] = 0x0000_8000_0000_0000;
        assert_eq!(
            exec(&mut c, &[0x48, 0x0F, 0x35]),
            Err(Fault::GP0),
            "non-canonical RDX"
        );
        c.gpr[reg::RDX as usize] = 0x40_0000;
        exec(&mut c, &[0x48, 0x0F, 0x35]).unwrap();
        assert_eq!(c.segs[sreg::CS as usize].selector, 0x33);
        assert_eq!(c.mode, Mode::Long);
    }

    #[test]
    fn sysenter_in_real_mode_is_gp() {
        let mut c = super::super::testing::real();
        c.msr.sysenter_cs = 0x08;
        assert_eq!(exec(&mut c, &[0x0F, 0x34]), Err(Fault::GP0));
    }

    #[test]
    fn swapgs_exchanges_the_bases() {
        let mut c = long();
        c.segs[sreg::GS as usize].base = 0x1000;
        c.msr.kernel_gs_base = 0xFFFF_8000_0000_0000;
        exec(&mut c, &[0x0F, 0x01, 0xF8]).unwrap();
        assert_eq!(c.segs[sreg::GS as usize].lin_base, 0xFFFF_8000_0000_0000);
        assert_eq!(c.msr.kernel_gs_base, 0x1000);
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xF8]), Err(Fault::GP0));
    }

    #[test]
    fn fs_gs_base_instructions() {
        let mut c = long();
        c.gpr[reg::RAX as usize] = 0xFFFF_8000_0000_1000;
        let wrfsbase = [0xF3, 0x48, 0x0F, 0xAE, 0xD0];
        assert_eq!(
            exec(&mut c, &wrfsbase),
            Err(Fault::UD),
            "CR4.FSGSBASE clear"
        );
        c.cr4 |= Cr4::FSGSBASE;
        c.set_cpl(3);
        exec(&mut c, &wrfsbase).unwrap();
        assert_eq!(c.segs[sreg::FS as usize].lin_base, 0xFFFF_8000_0000_1000);
        exec(&mut c, &[0xF3, 0x0F, 0xAE, 0xC3]).unwrap(); // rdfsbase ebx
        assert_eq!(r(&c, reg::RBX), 0x1000);
        c.gpr[reg::RAX as usize] = 0x0000_8000_0000_0000;
        assert_eq!(
            exec(&mut c, &[0xF3, 0x48, 0x0F, 0xAE, 0xD8]),
            Err(Fault::GP0),
            "wrgsbase non-canonical"
        );
        c.gpr[reg::RAX as usize] = 0xFFFF_FFFF_1234_5678;
        exec(&mut c, &[0xF3, 0x0F, 0xAE, 0xD8]).unwrap(); // wrgsbase eax zero-extends
        exec(&mut c, &[0xF3, 0x48, 0x0F, 0xAE, 0xCA]).unwrap(); // rdgsbase rdx
        assert_eq!(r(&c, reg::RDX), 0x1234_5678);
    }
}
