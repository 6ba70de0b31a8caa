//! Control registers: MOV to/from CR0, CR2, CR3, CR4 and CR8 (SDM Vol. 2B "MOV—Move to/from
//! Control Registers", Vol. 3A 2.5), LMSW, SMSW and CLTS; and the write rules themselves as
//! [`Cpu`] methods, for the task switch and for tests: reserved bits, the IA-32e mode
//! consistency checks (Vol. 3A 10.8.5), legacy-PAE PDPTE loads (Vol. 3A 4.4.1) and TLB
//! invalidation (Vol. 3A 4.10.4.1).

use iced_x86::{Code, Register};

use super::{cpl0, ud, R};
use crate::cpu::cpuid::{self, PHYS_ADDR_BITS};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::{sreg, Mode, Model};
use crate::cpu::{Cpu, Cr0, Cr4, Efer, Handler, Op, Width, U16, U32, U64};

/// The CR0 bits that exist; writes to the other bits of CR0[31:0] are ignored (SDM Vol. 3A
/// 2.5: "Attempting to set any reserved bits in CR0[31:0] is ignored").
const CR0_DEFINED: u64 = Cr0::all().bits();

/// CR3 bit 63 with CR4.PCIDE = 1: keep the TLB entries of the new PCID (SDM Vol. 3A 4.10.4.1).
const CR3_NOFLUSH: u64 = 1 << 63;

/// TSS types in the TR cache that are 16-bit (available and busy).
const TSS16_TYPES: [u16; 2] = [1, 3];

impl Cpu {
    /// Whether the paging mode in use with these register values is legacy PAE paging.
    fn legacy_pae(cr0: Cr0, cr4: Cr4, efer: Efer) -> bool {
        cr0.contains(Cr0::PG) && cr4.contains(Cr4::PAE) && !efer.contains(Efer::LMA)
    }

    /// MOV to CR0: the checks of SDM Vol. 2B MOV and Vol. 3A 10.8.5, then the update.
    /// Enabling paging with EFER.LME = 1 activates IA-32e mode (EFER.LMA = 1); disabling it
    /// leaves IA-32e mode. Nothing changes if a check fails.
    pub fn write_cr0(&mut self, v: u64) -> R {
        if v >> 32 != 0 {
            return Err(Fault::GP0);
        }
        // ET is hard-wired to 1 since the P6 family.
        let new = Cr0::from_bits_retain(v & CR0_DEFINED) | Cr0::ET;
        if new.contains(Cr0::PG) && !new.contains(Cr0::PE) {
            return Err(Fault::GP0);
        }
        if new.contains(Cr0::NW) && !new.contains(Cr0::CD) {
            return Err(Fault::GP0);
        }
        let old = self.cr0;
        let mut efer = self.efer;
        let changed = old ^ new;
        if changed.contains(Cr0::PG) && new.contains(Cr0::PG) && efer.contains(Efer::LME) {
            // Activating IA-32e mode: PAE must be on, CS must not be a 64-bit segment and TR
            // must not hold a 16-bit TSS (SDM Vol. 3A 10.8.5, 64-bit mode consistency checks).
            if !self.cr4.contains(Cr4::PAE) || self.segs[sreg::CS as usize].long() {
                return Err(Fault::GP0);
            }
            if TSS16_TYPES.contains(&(self.tr.attr & crate::cpu::segment::attr::TYPE)) {
                return Err(Fault::GP0);
            }
            efer |= Efer::LMA;
        }
        if changed.contains(Cr0::PG) && !new.contains(Cr0::PG) {
            // Paging cannot be turned off in 64-bit mode, nor while PCIDs are enabled.
            if self.mode == Mode::Long || self.cr4.contains(Cr4::PCIDE) {
                return Err(Fault::GP0);
            }
            efer.remove(Efer::LMA);
        }
        let reload =
            Cpu::legacy_pae(new, self.cr4, efer) && changed.intersects(Cr0::PG | Cr0::CD | Cr0::NW);
        if reload {
            self.load_pdptes()?;
        }
        self.cr0 = new;
        self.efer = efer;
        if reload || changed.intersects(Cr0::PG | Cr0::WP | Cr0::CD) {
            // The software TLB caches rights decided with WP and translations made with PG.
            self.flush_tlb_all();
        }
        // PE and LMA decide the mode; AM (through update_mode) the TLB set.
        self.update_mode();
        Ok(())
    }

    /// MOV to CR3: reserved-bit check (bits MAXPHYADDR and up), the PCID no-flush bit, the
    /// PDPTE load of legacy PAE paging, and the TLB flush: non-global entries, or all of them
    /// without CR4.PGE. The TLB is not tagged by PCID, so it is flushed even when bit 63 asks
    /// to keep the new PCID's entries (invalidating more than required is allowed).
    pub fn write_cr3(&mut self, v: u64) -> R {
        let v = if self.cr4.contains(Cr4::PCIDE) {
            v & !CR3_NOFLUSH
        } else {
            v
        };
        if v >> PHYS_ADDR_BITS != 0 {
            return Err(Fault::GP0);
        }
        if Cpu::legacy_pae(self.cr0, self.cr4, self.efer) {
            let old = self.cr3;
            self.cr3 = v;
            if let Err(f) = self.load_pdptes() {
                self.cr3 = old;
                return Err(f);
            }
        } else {
            self.cr3 = v;
        }
        if self.cr4.contains(Cr4::PGE) {
            self.tlb.flush_nonglobal();
        } else {
            self.flush_tlb_all();
        }
        self.end_block();
        Ok(())
    }

    /// MOV to CR4: bits the CPUID model does not define are reserved; PAE cannot be cleared
    /// in IA-32e mode; PCIDE can be set only in IA-32e mode with CR3[11:0] = 0. Changes to
    /// PGE, PAE, PSE, SMEP, SMAP or PCIDE flush the whole TLB.
    pub fn write_cr4(&mut self, v: u64) -> R {
        if v & !cpuid::cr4_valid().bits() != 0 {
            return Err(Fault::GP0);
        }
        let new = Cr4::from_bits_retain(v);
        let old = self.cr4;
        let changed = old ^ new;
        if self.efer.contains(Efer::LMA) && !new.contains(Cr4::PAE) {
            return Err(Fault::GP0);
        }
        if changed.contains(Cr4::PCIDE)
            && new.contains(Cr4::PCIDE)
            && (!self.efer.contains(Efer::LMA) || self.cr3 & 0xFFF != 0)
        {
            return Err(Fault::GP0);
        }
        let reload = Cpu::legacy_pae(self.cr0, new, self.efer)
            && changed.intersects(Cr4::PAE | Cr4::PGE | Cr4::PSE | Cr4::SMEP);
        if reload {
            self.load_pdptes()?;
        }
        self.cr4 = new;
        if changed.intersects(Cr4::PGE | Cr4::PAE | Cr4::PSE | Cr4::SMEP | Cr4::SMAP | Cr4::PCIDE) {
            self.flush_tlb_all();
        }
        if changed.contains(Cr4::SMAP) {
            self.update_tlb_set();
        }
        self.end_block();
        Ok(())
    }

    /// MOV to CR8: the task-priority class in bits 3:0; the other bits are reserved.
    pub fn write_cr8(&mut self, v: u64) -> R {
        if v >> 4 != 0 {
            return Err(Fault::GP0);
        }
        self.cr8 = v;
        // A lower priority may unmask a pending interrupt: check at the boundary.
        self.end_block();
        Ok(())
    }

    /// The value MOV from CR`n` reads (n = 0, 2, 3, 4, 8).
    pub fn read_cr(&self, n: u8) -> u64 {
        match n {
            0 => self.cr0.bits(),
            2 => self.cr2,
            3 => self.cr3,
            4 => self.cr4.bits(),
            _ => self.cr8,
        }
    }

    /// LMSW: loads CR0[3:0] (PE, MP, EM, TS) from the source; PE can be set but not cleared
    /// (SDM Vol. 2A LMSW).
    pub fn lmsw(&mut self, v: u64) -> R {
        let old = self.cr0.bits();
        self.write_cr0((old & !0xF) | (v & 0xF) | (old & Cr0::PE.bits()))
    }
}

fn mov_from_cr<W: Width, const N: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let v = cpu.read_cr(N);
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_to_cr<W: Width, const N: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let v = W::get(cpu, op.rm);
    match N {
        0 => cpu.write_cr0(v),
        2 => {
            cpu.cr2 = v;
            Ok(())
        }
        3 => cpu.write_cr3(v),
        4 => cpu.write_cr4(v),
        _ => cpu.write_cr8(v),
    }
}

/// MOV to/from CRn: the operand size is 64 bits in 64-bit mode and 32 bits elsewhere, and the
/// ModRM r/m field always names a general register.
pub(super) fn decode_mov_cr(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let (to, cr, wide) = match ins.code() {
        Code::Mov_r32_cr => (false, ins.op1_register(), false),
        Code::Mov_r64_cr => (false, ins.op1_register(), true),
        Code::Mov_cr_r32 => (true, ins.op0_register(), false),
        Code::Mov_cr_r64 => (true, ins.op0_register(), true),
        _ => return ud(op),
    };
    macro_rules! pick {
        ($f:ident, $W:ty) => {
            match cr {
                Register::CR0 => $f::<$W, 0> as Handler,
                Register::CR2 => $f::<$W, 2>,
                Register::CR3 => $f::<$W, 3>,
                Register::CR4 => $f::<$W, 4>,
                // CR8 exists only in 64-bit mode (REX.R); iced-x86 rejects the others.
                Register::CR8 if d.bits == 64 => $f::<$W, 8>,
                _ => return ud(op),
            }
        };
    }
    if to {
        op.rm = d.reg(1);
        op.run = if wide {
            pick!(mov_to_cr, U64)
        } else {
            pick!(mov_to_cr, U32)
        };
        // A control-register write may change the mode, paging or the interrupt priority.
        Some(Flow::End)
    } else {
        op.r = d.reg(0);
        op.run = if wide {
            pick!(mov_from_cr, U64)
        } else {
            pick!(mov_from_cr, U32)
        };
        Some(Flow::Next)
    }
}

fn lmsw_r(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let v = U16::get(cpu, op.rm);
    cpu.lmsw(v)
}

fn lmsw_m(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let v = cpu.read_ea::<U16>(op)?;
    cpu.lmsw(v)
}

/// The machine status word SMSW stores: CR0, or on the 286 its four bits with bits 15:4 set.
#[inline]
fn msw<const M286: bool>(cpu: &Cpu) -> u64 {
    if M286 {
        0xFFF0 | (cpu.cr0.bits() & 0xF)
    } else {
        cpu.cr0.bits()
    }
}

/// SMSW to a register stores the operand size's worth of CR0 (SDM Vol. 2B SMSW).
fn smsw_r<W: Width, const M286: bool>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.check_umip()?;
    let v = msw::<M286>(cpu);
    W::set(cpu, op.r, v);
    Ok(())
}

/// SMSW to memory always stores 16 bits.
fn smsw_m<const M286: bool>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.check_umip()?;
    let v = msw::<M286>(cpu);
    cpu.write_ea::<U16>(op, v)
}

/// CLTS: clears CR0.TS at CPL 0.
fn clts(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)?;
    cpu.cr0.remove(Cr0::TS);
    Ok(())
}

/// LMSW, SMSW, CLTS.
pub(super) fn decode_msw(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let m286 = d.model == Model::I80286;
    match ins.code() {
        Code::Clts => {
            op.run = clts;
            Some(Flow::Next)
        }
        Code::Lmsw_rm16 | Code::Lmsw_r32m16 | Code::Lmsw_r64m16 => {
            if d.is_mem(0) {
                d.mem(op);
                op.run = lmsw_m;
            } else {
                op.rm = d.reg(0);
                op.run = lmsw_r;
            }
            // Setting PE enters protected mode.
            Some(Flow::End)
        }
        Code::Smsw_rm16 | Code::Smsw_r32m16 | Code::Smsw_r64m16 => {
            if d.is_mem(0) {
                d.mem(op);
                op.run = if m286 {
                    smsw_m::<true>
                } else {
                    smsw_m::<false>
                };
            } else {
                op.r = d.reg(0);
                op.run = match (d.reg_size(0), m286) {
                    (_, true) => smsw_r::<U16, true>,
                    (2, false) => smsw_r::<U16, false>,
                    (4, false) => smsw_r::<U32, false>,
                    _ => smsw_r::<U64, false>,
                };
            }
            Some(Flow::Next)
        }
        _ => ud(op),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot, real};
    use super::*;
    use crate::cpu::state::reg;
    use crate::cpu::Segment;

    const GP: Result<(), Fault> = Err(Fault::GP0);

    fn put(c: &mut Cpu, addr: u64, v: u64) {
        c.mem.write_bytes(addr, &v.to_le_bytes()).unwrap();
    }

    /// 32-bit paging tables at 0x20000 identity-mapping the first 4 MiB.
    fn map_32bit(c: &mut Cpu) {
        put(c, 0x20000, 0x21000 | 0x7);
        for i in 0..1024u64 {
            let e = (i << 12) | 0x7;
            c.mem
                .write_bytes(0x21000 + i * 4, &(e as u32).to_le_bytes())
                .unwrap();
        }
        c.cr3 = 0x20000;
    }

    #[test]
    fn mov_cr_needs_cpl_0() {
        let mut c = prot();
        c.set_cpl(3);
        c.gpr[reg::RAX as usize] = 0x11;
        assert_eq!(exec(&mut c, &[0x0F, 0x22, 0xC0]), GP, "mov cr0, eax");
        assert_eq!(exec(&mut c, &[0x0F, 0x20, 0xD8]), GP, "mov eax, cr3");
        assert_eq!(c.cr0, Cr0::PE | Cr0::ET | Cr0::CD | Cr0::NW);
    }

    #[test]
    fn cr0_reserved_bits_and_invalid_combinations() {
        let mut c = long();
        assert_eq!(
            c.write_cr0(c.cr0.bits() | 1 << 32),
            GP,
            "bits 63:32 raise #GP"
        );
        let mut c = prot();
        c.write_cr0(Cr0::PE.bits() | 1 << 7 | 1 << 20).unwrap();
        assert_eq!(
            c.cr0,
            Cr0::PE | Cr0::ET,
            "CR0[31:0] reserved bits are ignored, ET reads 1"
        );
        assert_eq!(c.write_cr0(Cr0::PG.bits()), GP, "PG without PE");
        assert_eq!(c.write_cr0((Cr0::PE | Cr0::NW).bits()), GP, "NW without CD");
        c.write_cr0((Cr0::PE | Cr0::NW | Cr0::CD).bits()).unwrap();
    }

    #[test]
    fn setting_and_clearing_pe_switches_real_and_protected_mode() {
        let mut c = real();
        c.gpr[reg::RAX as usize] = 0x11;
        exec(&mut c, &[0x0F, 0x22, 0xC0]).unwrap(); // mov cr0, eax
        assert_eq!(c.mode, Mode::Protected);
        assert_eq!(c.cpl, 0);
        assert_eq!(
            c.code_bits(),
            16,
            "the real-mode CS cache stays until a far jump"
        );
        c.gpr[reg::RAX as usize] = 0x10;
        exec(&mut c, &[0x0F, 0x22, 0xC0]).unwrap();
        assert_eq!(c.mode, Mode::Real);
    }

    #[test]
    fn enabling_32_bit_paging_flushes_the_tlb() {
        use crate::cpu::mmu::paging::Privilege;
        let mut c = prot();
        map_32bit(&mut c);
        // With paging off, 0x40_0000 is reachable and gets a TLB entry.
        c.read_lin(0x40_0000, 1, Privilege::Supervisor).unwrap();
        c.write_cr0((c.cr0 | Cr0::PG).bits()).unwrap();
        assert!(c.cr0.contains(Cr0::PG));
        assert!(!c.efer.contains(Efer::LMA));
        assert!(c.read_lin(0x1234, 1, Privilege::Supervisor).is_ok());
        let f = c.read_lin(0x40_0000, 1, Privilege::Supervisor).unwrap_err();
        assert_eq!(
            f.vector,
            crate::cpu::Vector::PF,
            "the stale entry was flushed"
        );
    }

    #[test]
    fn activating_ia32e_mode_needs_pae_and_sets_lma() {
        let mut c = prot();
        c.efer = Efer::LME;
        c.cr3 = 0x10000;
        assert_eq!(
            c.write_cr0((c.cr0 | Cr0::PG).bits()),
            GP,
            "PG with LME but no PAE"
        );
        assert!(!c.cr0.contains(Cr0::PG));
        c.write_cr4(Cr4::PAE.bits()).unwrap();
        c.segs[sreg::CS as usize].attr |= crate::cpu::segment::attr::L;
        assert_eq!(
            c.write_cr0((c.cr0 | Cr0::PG).bits()),
            GP,
            "CS.L = 1 on activation"
        );
        c.segs[sreg::CS as usize].attr &= !crate::cpu::segment::attr::L;
        c.tr.attr = (c.tr.attr & !0xF) | 3;
        assert_eq!(
            c.write_cr0((c.cr0 | Cr0::PG).bits()),
            GP,
            "16-bit TSS in TR"
        );
        c.tr.attr = (c.tr.attr & !0xF) | 0xB;
        c.write_cr0((c.cr0 | Cr0::PG).bits()).unwrap();
        assert!(c.efer.contains(Efer::LMA));
        assert_eq!(c.mode, Mode::Compat);
    }

    #[test]
    fn leaving_ia32e_mode_only_from_compatibility_mode() {
        let mut c = long();
        let off = (c.cr0 - Cr0::PG).bits();
        assert_eq!(c.write_cr0(off), GP, "clearing PG in 64-bit mode");
        assert_eq!(
            c.write_cr0((c.cr0 - Cr0::PE).bits()),
            GP,
            "clearing PE with PG set"
        );
        assert_eq!(c.write_cr4(0), GP, "clearing PAE in IA-32e mode");
        c.segs[sreg::CS as usize] = Segment::from_cache(
            0x08,
            0,
            0xFFFF_FFFF,
            crate::cpu::segment::attr::CODE_RX | 1 << 10 | 1 << 11,
        );
        c.update_mode();
        assert_eq!(c.mode, Mode::Compat);
        c.write_cr4((Cr4::PAE | Cr4::PCIDE).bits()).unwrap();
        assert_eq!(c.write_cr0(off), GP, "clearing PG with CR4.PCIDE = 1");
        c.write_cr4(Cr4::PAE.bits()).unwrap();
        c.write_cr0(off).unwrap();
        assert!(!c.efer.contains(Efer::LMA));
        assert!(c.efer.contains(Efer::LME));
        assert_eq!(c.mode, Mode::Protected);
    }

    #[test]
    fn cr4_rules() {
        let mut c = prot();
        assert_eq!(c.write_cr4(Cr4::VME.bits()), GP, "VME is not claimed");
        assert_eq!(c.write_cr4(1 << 12), GP, "LA57");
        assert_eq!(
            c.write_cr4(Cr4::PCIDE.bits()),
            GP,
            "PCIDE outside IA-32e mode"
        );
        c.write_cr4(
            (Cr4::SMEP | Cr4::SMAP | Cr4::UMIP | Cr4::FSGSBASE | Cr4::PGE | Cr4::DE | Cr4::TSD)
                .bits(),
        )
        .unwrap();
        let mut c = long();
        c.cr3 |= 5;
        assert_eq!(
            c.write_cr4((c.cr4 | Cr4::PCIDE).bits()),
            GP,
            "PCIDE with CR3[11:0] != 0"
        );
        c.cr3 &= !0xFFF;
        c.write_cr4((c.cr4 | Cr4::PCIDE).bits()).unwrap();
        assert_eq!(c.write_cr4(1 << 32 | c.cr4.bits()), GP, "CR4[63:32]");
    }

    #[test]
    fn cr3_reserved_bits_and_pcid_noflush() {
        let mut c = long();
        assert_eq!(c.write_cr3(1 << 40), GP, "above MAXPHYADDR");
        assert_eq!(c.write_cr3(1 << 63 | 0x10000), GP, "bit 63 without PCIDE");
        c.write_cr4((c.cr4 | Cr4::PCIDE).bits()).unwrap();
        c.write_cr3(1 << 63 | 0x10000 | 7).unwrap();
        assert_eq!(c.cr3, 0x10007, "bit 63 is not stored");
        c.gpr[reg::RBX as usize] = 0x10000;
        exec(&mut c, &[0x0F, 0x22, 0xDB]).unwrap(); // mov cr3, rbx
        assert_eq!(c.cr3, 0x10000);
    }

    #[test]
    fn cr3_load_keeps_global_entries_with_pge() {
        let mut c = long();
        // Identity map with global 2-MiB pages.
        for i in 0..512u64 {
            put(&mut c, 0x12000 + i * 8, (i << 21) | 0x187);
        }
        c.write_cr4((c.cr4 | Cr4::PGE).bits()).unwrap();
        let who = crate::cpu::mmu::paging::Privilege::Supervisor;
        c.read_lin(0x5000, 1, who).unwrap();
        let idx = c.tlb.index(0x5000);
        assert_eq!(c.tlb.entries[idx].read, 5, "filled");
        assert!(c.tlb.meta[idx].global);
        c.write_cr3(c.cr3).unwrap();
        assert_eq!(
            c.tlb.entries[idx].read, 5,
            "a global entry survives a CR3 load"
        );
        c.write_cr4((c.cr4 - Cr4::PGE).bits()).unwrap();
        assert_eq!(
            c.tlb.entries[idx].read,
            u64::MAX,
            "clearing PGE flushes everything"
        );
    }

    #[test]
    fn legacy_pae_loads_pdptes_and_rejects_reserved_bits() {
        let mut c = prot();
        put(&mut c, 0x30000, 0x31000 | 1);
        put(&mut c, 0x31000, 0x83); // 2-MiB page at 0
        c.cr3 = 0x30000;
        c.write_cr4(Cr4::PAE.bits()).unwrap();
        c.write_cr0((c.cr0 | Cr0::PG).bits()).unwrap();
        assert_eq!(
            c.pdpte[0],
            0x31000 | 1,
            "enabling PAE paging loads the PDPTEs"
        );
        put(&mut c, 0x40000, 0x31000 | 1 | 1 << 2);
        assert_eq!(c.write_cr3(0x40000), GP, "PDPTE bit 2 is reserved");
        assert_eq!(c.cr3, 0x30000, "CR3 unchanged after the fault");
        put(&mut c, 0x40000, 0x32000 | 1);
        c.write_cr3(0x40000).unwrap();
        assert_eq!(c.pdpte[0], 0x32000 | 1);
        // Toggling PGE reloads them too.
        put(&mut c, 0x40000, 0x33000 | 1);
        c.write_cr4((Cr4::PAE | Cr4::PGE).bits()).unwrap();
        assert_eq!(c.pdpte[0], 0x33000 | 1);
    }

    #[test]
    fn cr8_holds_four_bits_and_exists_only_in_64_bit_mode() {
        let mut c = long();
        c.gpr[reg::RAX as usize] = 0xF;
        exec(&mut c, &[0x44, 0x0F, 0x22, 0xC0]).unwrap(); // mov cr8, rax
        assert_eq!(c.cr8, 0xF);
        c.gpr[reg::RAX as usize] = 0x10;
        assert_eq!(exec(&mut c, &[0x44, 0x0F, 0x22, 0xC0]), GP);
        exec(&mut c, &[0x44, 0x0F, 0x20, 0xC3]).unwrap(); // mov rbx, cr8
        assert_eq!(c.gpr[reg::RBX as usize], 0xF);
    }

    #[test]
    fn mov_from_cr_reads_the_operand_size() {
        let mut c = long();
        c.cr2 = 0xFFFF_8000_0000_1234;
        c.gpr[reg::RCX as usize] = u64::MAX;
        exec(&mut c, &[0x0F, 0x20, 0xD1]).unwrap(); // mov rcx, cr2
        assert_eq!(c.gpr[reg::RCX as usize], 0xFFFF_8000_0000_1234);
        let mut c = prot();
        c.cr2 = 0x1234_5678;
        exec(&mut c, &[0x0F, 0x20, 0xD1]).unwrap(); // mov ecx, cr2
        assert_eq!(c.gpr[reg::RCX as usize], 0x1234_5678);
    }

    #[test]
    fn lmsw_sets_pe_but_never_clears_it() {
        let mut c = real();
        c.gpr[reg::RAX as usize] = 0xFFFF;
        exec(&mut c, &[0x0F, 0x01, 0xF0]).unwrap(); // lmsw ax
        assert_eq!(c.cr0.bits() & 0xF, 0xF);
        assert_eq!(c.mode, Mode::Protected);
        assert!(
            !c.cr0.contains(Cr0::NE),
            "only the low four bits are loaded"
        );
        c.gpr[reg::RAX as usize] = 0;
        exec(&mut c, &[0x0F, 0x01, 0xF0]).unwrap();
        assert_eq!(c.cr0.bits() & 0xF, 0x1, "PE stays");
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xF0]), GP);
    }

    #[test]
    fn smsw_register_width_and_memory() {
        let mut c = long();
        c.cr0 |= Cr0::NE;
        c.gpr[reg::RAX as usize] = u64::MAX;
        exec(&mut c, &[0x66, 0x0F, 0x01, 0xE0]).unwrap(); // smsw ax
        assert_eq!(
            c.gpr[reg::RAX as usize],
            0xFFFF_FFFF_FFFF_0000 | (c.cr0.bits() & 0xFFFF)
        );
        exec(&mut c, &[0x0F, 0x01, 0xE0]).unwrap(); // smsw eax
        assert_eq!(c.gpr[reg::RAX as usize], c.cr0.bits() & 0xFFFF_FFFF);
        exec(&mut c, &[0x48, 0x0F, 0x01, 0xE0]).unwrap(); // smsw rax
        assert_eq!(c.gpr[reg::RAX as usize], c.cr0.bits());
        c.gpr[reg::RBX as usize] = 0x8000;
        c.mem.write_bytes(0x8000, &[0xAA; 4]).unwrap();
        exec(&mut c, &[0x0F, 0x01, 0x23]).unwrap(); // smsw [rbx]
        let mut b = [0u8; 4];
        c.mem.read_bytes(0x8000, &mut b);
        assert_eq!(
            u16::from_le_bytes([b[0], b[1]]) as u64,
            c.cr0.bits() & 0xFFFF
        );
        assert_eq!(&b[2..], &[0xAA, 0xAA], "memory form stores 16 bits");
    }

    #[test]
    fn smsw_honours_umip_above_cpl_0() {
        let mut c = prot();
        c.set_cpl(3);
        exec(&mut c, &[0x0F, 0x01, 0xE0]).unwrap();
        c.cr4 |= Cr4::UMIP;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xE0]), GP);
        c.set_cpl(0);
        exec(&mut c, &[0x0F, 0x01, 0xE0]).unwrap();
    }

    #[test]
    fn clts_clears_ts_at_cpl_0_only() {
        let mut c = prot();
        c.cr0 |= Cr0::TS;
        c.set_cpl(1);
        assert_eq!(exec(&mut c, &[0x0F, 0x06]), GP);
        c.set_cpl(0);
        exec(&mut c, &[0x0F, 0x06]).unwrap();
        assert!(!c.cr0.contains(Cr0::TS));
    }

    #[test]
    fn cr0_am_and_cr4_smap_pick_the_tlb_set() {
        use crate::cpu::flags::bit;
        use crate::cpu::mmu::tlb::{TlbSet, ENTRIES};
        let mut c = prot();
        c.write_flags(bit::AC, bit::AC);
        c.write_cr0((c.cr0 | Cr0::AM).bits()).unwrap();
        c.set_cpl(3);
        assert_eq!(c.tlb.base, TlbSet::UserAligned as usize * ENTRIES);
        c.set_cpl(0);
        assert_eq!(c.tlb.base, TlbSet::Supervisor as usize * ENTRIES);
        c.write_cr4(Cr4::SMAP.bits()).unwrap();
        assert_eq!(c.tlb.base, TlbSet::SupervisorAc as usize * ENTRIES);
    }
}
