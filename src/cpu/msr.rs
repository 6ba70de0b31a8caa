//! The model-specific registers behind RDMSR and WRMSR (SDM Vol. 4 Table 2-2, the
//! architectural MSRs): what each holds, which bits are reserved, and what writing it changes.
//! An index the model does not implement raises #GP(0), as on hardware.

use super::cpuid::{self, Feature, PHYS_ADDR_BITS};
use super::fault::Fault;
use super::operand::canonical;
use super::state::{sreg, Cr0, Efer};
use super::Cpu;

/// MSR indices, named as in the SDM.
pub mod index {
    /// IA32_TIME_STAMP_COUNTER.
    pub const TSC: u32 = 0x10;
    /// IA32_PLATFORM_ID (read-only).
    pub const PLATFORM_ID: u32 = 0x17;
    /// IA32_APIC_BASE.
    pub const APIC_BASE: u32 = 0x1B;
    /// IA32_ARCH_CAPABILITIES (read-only; CPUID.(EAX=7,ECX=0):EDX[29]).
    pub const ARCH_CAPABILITIES: u32 = 0x10A;
    /// IA32_BIOS_SIGN_ID: the microcode update signature.
    pub const BIOS_SIGN_ID: u32 = 0x8B;
    /// IA32_MTRRCAP (read-only).
    pub const MTRRCAP: u32 = 0xFE;
    /// IA32_SYSENTER_CS.
    pub const SYSENTER_CS: u32 = 0x174;
    /// IA32_SYSENTER_ESP.
    pub const SYSENTER_ESP: u32 = 0x175;
    /// IA32_SYSENTER_EIP.
    pub const SYSENTER_EIP: u32 = 0x176;
    /// IA32_MISC_ENABLE.
    pub const MISC_ENABLE: u32 = 0x1A0;
    /// IA32_DEBUGCTL.
    pub const DEBUGCTL: u32 = 0x1D9;
    /// IA32_MTRR_PHYSBASE0; PHYSMASKn and the other pairs follow at +1, +2, …
    pub const MTRR_PHYSBASE0: u32 = 0x200;
    /// IA32_MTRR_FIX64K_00000.
    pub const MTRR_FIX64K_00000: u32 = 0x250;
    /// IA32_MTRR_FIX16K_80000.
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    /// IA32_MTRR_FIX16K_A0000.
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    /// IA32_MTRR_FIX4K_C0000; the 4-KiB ranges run to IA32_MTRR_FIX4K_F8000 at 0x26F.
    pub const MTRR_FIX4K_C0000: u32 = 0x268;
    /// IA32_PAT.
    pub const PAT: u32 = 0x277;
    /// IA32_MTRR_DEF_TYPE.
    pub const MTRR_DEF_TYPE: u32 = 0x2FF;
    /// IA32_TSC_DEADLINE.
    pub const TSC_DEADLINE: u32 = 0x6E0;
    /// IA32_EFER.
    pub const EFER: u32 = 0xC000_0080;
    /// IA32_STAR.
    pub const STAR: u32 = 0xC000_0081;
    /// IA32_LSTAR.
    pub const LSTAR: u32 = 0xC000_0082;
    /// IA32_CSTAR (kept, but SYSCALL outside 64-bit mode is #UD on Intel processors).
    pub const CSTAR: u32 = 0xC000_0083;
    /// IA32_FMASK.
    pub const FMASK: u32 = 0xC000_0084;
    /// IA32_FS_BASE.
    pub const FS_BASE: u32 = 0xC000_0100;
    /// IA32_GS_BASE.
    pub const GS_BASE: u32 = 0xC000_0101;
    /// IA32_KERNEL_GS_BASE.
    pub const KERNEL_GS_BASE: u32 = 0xC000_0102;
    /// IA32_TSC_AUX.
    pub const TSC_AUX: u32 = 0xC000_0103;
}

/// Variable-range MTRR pairs (IA32_MTRRCAP.VCNT).
pub const MTRR_VCNT: u64 = 8;
/// IA32_MTRRCAP: VCNT, fixed ranges (bit 8) and write-combining (bit 10); no SMRR.
pub const MTRRCAP: u64 = MTRR_VCNT | 1 << 8 | 1 << 10;

/// IA32_ARCH_CAPABILITIES (SDM Vol. 4 Table 2-2): vx86 executes nothing speculatively, so
/// it reports itself immune to the transient-execution attacks there are bits for: RDCL_NO
/// (Meltdown, 0), SSB_NO (4), MDS_NO (5), IF_PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO,
/// FBSDP_NO, PSDP_NO (MMIO stale data, 13-15), BHI_NO (20), PBRSB_NO (24), GDS_NO (26),
/// RFDS_NO (27) and ITS_NO (62). An OS then skips page-table isolation and buffer clearing,
/// which only cost time here. Nothing that claims IA32_SPEC_CTRL features (IBRS_ALL, RSBA)
/// or TSX controls.
pub const ARCH_CAPABILITIES: u64 = 1
    | 1 << 4
    | 1 << 5
    | 1 << 6
    | 1 << 8
    | 1 << 13
    | 1 << 14
    | 1 << 15
    | 1 << 20
    | 1 << 24
    | 1 << 26
    | 1 << 27
    | 1 << 62;

/// IA32_MISC_ENABLE at reset: fast strings on (bit 0, "default 1" in SDM Vol. 4 Table 2-2).
pub const MISC_ENABLE_RESET: u64 = 1;

/// IA32_APIC_BASE.BSP: this is the bootstrap processor (read-only).
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE.EN: the local APIC is enabled.
pub const APIC_BASE_EN: u64 = 1 << 11;

/// IA32_MISC_ENABLE bits software may change: fast strings (0), automatic thermal control
/// (3), limit CPUID maxval (22), xTPR message disable (23), XD bit disable (34).
pub const MISC_ENABLE_RW: u64 =
    1 | 1 << 3 | cpuid::MISC_ENABLE_LIMIT_CPUID | 1 << 23 | cpuid::MISC_ENABLE_XD_DISABLE;
/// IA32_MISC_ENABLE bits that read as one: branch-trace storage (11) and PEBS (12)
/// unavailable. Performance monitoring (7) and MONITOR/MWAIT (18) read as zero.
pub const MISC_ENABLE_RO_ONES: u64 = 1 << 11 | 1 << 12;

/// Bits MAXPHYADDR and up, which must be zero in physical-address fields.
const PHYS_RESERVED: u64 = !((1u64 << PHYS_ADDR_BITS) - 1);

/// Whether `t` is a memory type MTRRs may hold: UC, WC, WT, WP, WB (SDM Vol. 3A 12.11.1).
fn mtrr_type_ok(t: u64) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6)
}

/// Whether every byte of a PAT or fixed-range MTRR value holds a valid type.
fn types_ok(v: u64, ok: fn(u64) -> bool) -> bool {
    (0..8).all(|i| ok((v >> (8 * i)) & 0xFF))
}

/// Whether `t` is a PAT memory type: UC, WC, WT, WP, WB, UC- (SDM Vol. 3A 12.12.2).
fn pat_type_ok(t: u64) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6 | 7)
}

/// The slot in `Msrs::mtrr_fixed` of a fixed-range MTRR index.
fn fixed_slot(i: u32) -> Option<usize> {
    match i {
        index::MTRR_FIX64K_00000 => Some(0),
        index::MTRR_FIX16K_80000 => Some(1),
        index::MTRR_FIX16K_A0000 => Some(2),
        0x268..=0x26F => Some(3 + (i - index::MTRR_FIX4K_C0000) as usize),
        _ => None,
    }
}

/// The pair and half (base or mask) of a variable-range MTRR index.
fn variable_slot(i: u32) -> Option<(usize, bool)> {
    let n = i.checked_sub(index::MTRR_PHYSBASE0)?;
    (n < 2 * MTRR_VCNT as u32).then_some(((n / 2) as usize, n % 2 == 1))
}

/// The MSRs a board's local APIC implements: IA32_APIC_BASE, IA32_TSC_DEADLINE and the
/// x2APIC registers 0x800–0x8FF.
fn is_apic_msr(i: u32) -> bool {
    i == index::APIC_BASE || i == index::TSC_DEADLINE || (0x800..=0x8FF).contains(&i)
}

impl Cpu {
    /// RDMSR: the value of MSR `i`, or #GP(0) if the model has no such MSR.
    pub fn read_msr(&mut self, i: u32) -> Result<u64, Fault> {
        if self.apic && is_apic_msr(i) {
            return self
                .bus
                .at(self.icount + self.idle_ns)
                .msr_read(i)
                .ok_or(Fault::GP0);
        }
        let m = &self.msr;
        Ok(match i {
            index::TSC => self.tsc(),
            index::PLATFORM_ID => 0,
            index::APIC_BASE => m.apic_base,
            index::ARCH_CAPABILITIES if cpuid::has(Feature::ARCH_CAPABILITIES) => ARCH_CAPABILITIES,
            index::BIOS_SIGN_ID => (cpuid::MICROCODE_REVISION as u64) << 32,
            index::MTRRCAP => MTRRCAP,
            index::SYSENTER_CS => m.sysenter_cs,
            index::SYSENTER_ESP => m.sysenter_esp,
            index::SYSENTER_EIP => m.sysenter_eip,
            index::MISC_ENABLE => (m.misc_enable & MISC_ENABLE_RW) | MISC_ENABLE_RO_ONES,
            // No last-branch records or branch single-stepping: the register reads zero.
            index::DEBUGCTL => 0,
            index::PAT => m.pat,
            index::MTRR_DEF_TYPE => m.mtrr_def_type,
            index::TSC_DEADLINE if cpuid::has(Feature::TSC_DEADLINE) => m.tsc_deadline,
            index::EFER => self.efer.bits(),
            index::STAR => m.star,
            index::LSTAR => m.lstar,
            index::CSTAR => m.cstar,
            index::FMASK => m.fmask,
            index::FS_BASE => self.segs[sreg::FS as usize].base,
            index::GS_BASE => self.segs[sreg::GS as usize].base,
            index::KERNEL_GS_BASE => m.kernel_gs_base,
            index::TSC_AUX => m.tsc_aux,
            _ => {
                if let Some(s) = fixed_slot(i) {
                    m.mtrr_fixed[s]
                } else if let Some((n, mask)) = variable_slot(i) {
                    if mask {
                        m.mtrr_var[n].1
                    } else {
                        m.mtrr_var[n].0
                    }
                } else {
                    return Err(Fault::GP0);
                }
            }
        })
    }

    /// WRMSR: writes `v` to MSR `i`, or raises #GP(0) for an unknown MSR, a read-only one, a
    /// reserved bit, an invalid memory type or a non-canonical address, changing nothing.
    pub fn write_msr(&mut self, i: u32, v: u64) -> Result<(), Fault> {
        if self.apic && is_apic_msr(i) {
            if !self.bus.at(self.icount + self.idle_ns).msr_write(i, v) {
                return Err(Fault::GP0);
            }
            // As after I/O and MMIO: the write may have raised an interrupt (an EOI exposing
            // the next one, a self-IPI, a deadline already past) or moved a timer deadline.
            self.sync_bus();
            if i == index::APIC_BASE {
                // Kept here too: CPUID's APIC flag follows IA32_APIC_BASE.EN.
                self.msr.apic_base = v;
            }
            return Ok(());
        }
        let gp = Err(Fault::GP0);
        let canonical_or_gp = |v: u64| if canonical(v) { Ok(v) } else { Err(Fault::GP0) };
        match i {
            index::TSC => {
                // The counter continues from the written value (SDM Vol. 3B 18.17).
                let raw = self.tsc().wrapping_sub(self.tsc_offset);
                self.tsc_offset = v.wrapping_sub(raw);
            }
            index::APIC_BASE => {
                // x2APIC (bit 10) is not claimed, so it is reserved too; BSP is read-only.
                if v & !(APIC_BASE_BSP | APIC_BASE_EN | (!PHYS_RESERVED & !0xFFF)) != 0 {
                    return gp;
                }
                self.msr.apic_base = (v & !APIC_BASE_BSP) | (self.msr.apic_base & APIC_BASE_BSP);
            }
            // Writing the signature register (usually 0, before CPUID) only arms the
            // report of the microcode revision, which vx86 always gives.
            index::BIOS_SIGN_ID => {}
            index::SYSENTER_CS => self.msr.sysenter_cs = v & 0xFFFF_FFFF,
            index::SYSENTER_ESP => self.msr.sysenter_esp = canonical_or_gp(v)?,
            index::SYSENTER_EIP => self.msr.sysenter_eip = canonical_or_gp(v)?,
            index::MISC_ENABLE => {
                // Read-only bits are ignored; unknown bits are reserved.
                if v & !(MISC_ENABLE_RW | MISC_ENABLE_RO_ONES | 1 << 7 | 1 << 18) != 0 {
                    return gp;
                }
                // XD disable leaves a set EFER.NXE alone; it only makes NXE unsettable.
                self.msr.misc_enable = v & MISC_ENABLE_RW;
            }
            index::DEBUGCTL => {
                if v != 0 {
                    return gp;
                }
            }
            index::PAT => {
                if !types_ok(v, pat_type_ok) {
                    return gp;
                }
                self.msr.pat = v;
            }
            index::MTRR_DEF_TYPE => {
                if v & !(0xFF | 1 << 10 | 1 << 11) != 0 || !mtrr_type_ok(v & 0xFF) {
                    return gp;
                }
                self.msr.mtrr_def_type = v;
            }
            index::TSC_DEADLINE if cpuid::has(Feature::TSC_DEADLINE) => self.msr.tsc_deadline = v,
            index::EFER => self.write_efer(v)?,
            index::STAR => self.msr.star = v,
            index::LSTAR => self.msr.lstar = canonical_or_gp(v)?,
            index::CSTAR => self.msr.cstar = canonical_or_gp(v)?,
            // Bits 63:32 of IA32_FMASK are reserved: they are kept as zero.
            index::FMASK => self.msr.fmask = v & 0xFFFF_FFFF,
            index::FS_BASE | index::GS_BASE => {
                let s = if i == index::FS_BASE {
                    sreg::FS
                } else {
                    sreg::GS
                };
                self.segs[s as usize].base = canonical_or_gp(v)?;
                let mode = self.mode;
                self.segs[s as usize].refresh(mode, s);
            }
            index::KERNEL_GS_BASE => self.msr.kernel_gs_base = canonical_or_gp(v)?,
            index::TSC_AUX => {
                if v >> 32 != 0 {
                    return gp;
                }
                self.msr.tsc_aux = v;
            }
            _ => {
                if let Some(s) = fixed_slot(i) {
                    if !types_ok(v, mtrr_type_ok) {
                        return gp;
                    }
                    self.msr.mtrr_fixed[s] = v;
                } else if let Some((n, mask)) = variable_slot(i) {
                    if mask {
                        // PHYSMASKn: bits 10:0 reserved, V at bit 11.
                        if v & (PHYS_RESERVED | 0x7FF) != 0 {
                            return gp;
                        }
                        self.msr.mtrr_var[n].1 = v;
                    } else {
                        // PHYSBASEn: type in 7:0, bits 11:8 reserved.
                        if v & (PHYS_RESERVED | 0xF00) != 0 || !mtrr_type_ok(v & 0xFF) {
                            return gp;
                        }
                        self.msr.mtrr_var[n].0 = v;
                    }
                } else {
                    return gp;
                }
            }
        }
        Ok(())
    }

    /// WRMSR to IA32_EFER (SDM Vol. 3A 2.2.1, 10.8.5): reserved bits and changing LME while
    /// paging is on raise #GP(0); LMA is read-only (the written bit is ignored). Changing
    /// NXE changes which accesses the TLB's cached rights allow, so the TLB is flushed.
    pub fn write_efer(&mut self, v: u64) -> Result<(), Fault> {
        let mut valid = cpuid::efer_valid();
        if self.msr.misc_enable & cpuid::MISC_ENABLE_XD_DISABLE != 0 {
            valid.remove(Efer::NXE);
        }
        if v & !valid.bits() != 0 {
            return Err(Fault::GP0);
        }
        let old = self.efer;
        if self.cr0.contains(Cr0::PG) && (v ^ old.bits()) & Efer::LME.bits() != 0 {
            return Err(Fault::GP0);
        }
        let new = Efer::from_bits_retain((v & !Efer::LMA.bits()) | (old & Efer::LMA).bits());
        self.efer = new;
        if (old ^ new).contains(Efer::NXE) {
            self.flush_tlb_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    fn cpu() -> Cpu {
        Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap())
    }

    #[test]
    fn unknown_msrs_raise_gp() {
        let mut c = cpu();
        for i in [
            0x0,
            0x3A,
            0x48,
            0x179,
            0x6E0,
            0x800,
            0xC000_0085,
            0xC001_0000,
            0x210,
            0x26F + 1,
        ] {
            assert_eq!(c.read_msr(i), Err(Fault::GP0), "{i:#x}");
            assert_eq!(c.write_msr(i, 0), Err(Fault::GP0), "{i:#x}");
        }
    }

    #[test]
    fn read_only_msrs_refuse_writes() {
        let mut c = cpu();
        assert_eq!(c.read_msr(index::MTRRCAP), Ok(0x508));
        assert_eq!(c.write_msr(index::MTRRCAP, 0x508), Err(Fault::GP0));
        assert_eq!(c.read_msr(index::PLATFORM_ID), Ok(0));
        assert_eq!(c.write_msr(index::PLATFORM_ID, 0), Err(Fault::GP0));
    }

    #[test]
    fn efer_lme_changes_only_with_paging_off_and_lma_is_read_only() {
        let mut c = cpu();
        c.write_msr(index::EFER, (Efer::LME | Efer::SCE | Efer::NXE).bits())
            .unwrap();
        assert_eq!(c.efer, Efer::LME | Efer::SCE | Efer::NXE);
        c.write_msr(index::EFER, (Efer::LME | Efer::LMA).bits())
            .unwrap();
        assert_eq!(c.efer, Efer::LME, "LMA is not written");
        assert_eq!(
            c.write_msr(index::EFER, 1 << 1),
            Err(Fault::GP0),
            "reserved bit"
        );
        assert_eq!(
            c.write_msr(index::EFER, 1 << 12),
            Err(Fault::GP0),
            "SVME is AMD's"
        );
        c.cr0 |= Cr0::PE | Cr0::PG;
        assert_eq!(
            c.write_msr(index::EFER, 0),
            Err(Fault::GP0),
            "LME with paging on"
        );
        assert_eq!(c.efer, Efer::LME);
        c.write_msr(index::EFER, (Efer::LME | Efer::NXE).bits())
            .unwrap();
        assert_eq!(c.read_msr(index::EFER), Ok((Efer::LME | Efer::NXE).bits()));
    }

    #[test]
    fn xd_disable_makes_nxe_reserved() {
        let mut c = cpu();
        c.write_msr(index::MISC_ENABLE, cpuid::MISC_ENABLE_XD_DISABLE)
            .unwrap();
        assert_eq!(c.write_msr(index::EFER, Efer::NXE.bits()), Err(Fault::GP0));
        assert_eq!(
            c.read_msr(index::MISC_ENABLE),
            Ok(cpuid::MISC_ENABLE_XD_DISABLE | MISC_ENABLE_RO_ONES)
        );
        assert_eq!(c.write_msr(index::MISC_ENABLE, 1 << 40), Err(Fault::GP0));
    }

    #[test]
    fn tsc_writes_move_the_offset() {
        let mut c = cpu();
        c.icount = 1000;
        c.write_msr(index::TSC, 5).unwrap();
        assert_eq!(c.read_msr(index::TSC), Ok(5));
        c.icount = 1010;
        assert_eq!(c.read_msr(index::TSC), Ok(15));
    }

    #[test]
    fn addresses_must_be_canonical() {
        let mut c = cpu();
        let bad = 0x0000_8000_0000_0000;
        for i in [
            index::LSTAR,
            index::CSTAR,
            index::SYSENTER_EIP,
            index::SYSENTER_ESP,
            index::FS_BASE,
            index::GS_BASE,
            index::KERNEL_GS_BASE,
        ] {
            assert_eq!(c.write_msr(i, bad), Err(Fault::GP0), "{i:#x}");
            c.write_msr(i, 0xFFFF_8000_0000_1000).unwrap();
            assert_eq!(c.read_msr(i), Ok(0xFFFF_8000_0000_1000), "{i:#x}");
        }
        c.write_msr(index::STAR, bad).unwrap();
        assert_eq!(
            c.read_msr(index::STAR),
            Ok(bad),
            "STAR holds selectors, not an address"
        );
    }

    #[test]
    fn fs_and_gs_base_are_the_segment_caches() {
        let mut c = cpu();
        c.enter_long_mode(0x1000, 0x10000, 1);
        c.write_msr(index::FS_BASE, 0x1234_5000).unwrap();
        assert_eq!(c.segs[sreg::FS as usize].base, 0x1234_5000);
        assert_eq!(c.segs[sreg::FS as usize].lin_base, 0x1234_5000);
        c.segs[sreg::GS as usize].base = 0x777;
        assert_eq!(c.read_msr(index::GS_BASE), Ok(0x777));
    }

    #[test]
    fn pat_rejects_reserved_memory_types() {
        let mut c = cpu();
        assert_eq!(
            c.read_msr(index::PAT),
            Ok(0x0007_0406_0007_0406),
            "power-on value"
        );
        c.write_msr(index::PAT, 0x0007_0501_0007_0406).unwrap();
        assert_eq!(
            c.write_msr(index::PAT, 0x0000_0000_0000_0002),
            Err(Fault::GP0),
            "type 2 is reserved"
        );
        assert_eq!(
            c.write_msr(index::PAT, 0x0300_0000_0000_0000),
            Err(Fault::GP0),
            "type 3 is reserved"
        );
        assert_eq!(
            c.write_msr(index::PAT, 0x0000_0000_0000_0008),
            Err(Fault::GP0),
            "bits 7:3 are reserved"
        );
        assert_eq!(c.read_msr(index::PAT), Ok(0x0007_0501_0007_0406));
    }

    #[test]
    fn mtrrs_hold_valid_types() {
        let mut c = cpu();
        c.write_msr(index::MTRR_DEF_TYPE, 0xC06).unwrap();
        assert_eq!(c.read_msr(index::MTRR_DEF_TYPE), Ok(0xC06));
        assert_eq!(
            c.write_msr(index::MTRR_DEF_TYPE, 0x7),
            Err(Fault::GP0),
            "type 7 is not an MTRR type"
        );
        assert_eq!(c.write_msr(index::MTRR_DEF_TYPE, 0x1006), Err(Fault::GP0));
        c.write_msr(0x20F, 0xFF_F000_0800).unwrap(); // PHYSMASK7
        assert_eq!(c.read_msr(0x20F), Ok(0xFF_F000_0800));
        assert_eq!(
            c.write_msr(0x20E, 0x100_0000_0006),
            Err(Fault::GP0),
            "above MAXPHYADDR"
        );
        assert_eq!(
            c.write_msr(0x20E, 0x106),
            Err(Fault::GP0),
            "bits 11:8 reserved"
        );
        c.write_msr(0x20E, 0x8000_0006).unwrap();
        assert_eq!(c.msr.mtrr_var[7], (0x8000_0006, 0xFF_F000_0800));
        c.write_msr(0x26F, 0x0606_0606_0505_0000).unwrap();
        assert_eq!(c.msr.mtrr_fixed[10], 0x0606_0606_0505_0000);
        assert_eq!(c.write_msr(0x259, 0x0200), Err(Fault::GP0));
    }

    #[test]
    fn apic_base_keeps_bsp_and_rejects_x2apic() {
        let mut c = cpu();
        c.write_msr(index::APIC_BASE, 0xFEC0_0000 | APIC_BASE_EN)
            .unwrap();
        assert_eq!(
            c.read_msr(index::APIC_BASE),
            Ok(0xFEC0_0000 | APIC_BASE_EN | APIC_BASE_BSP)
        );
        assert_eq!(
            c.write_msr(index::APIC_BASE, 0xFEE0_0000 | 1 << 10),
            Err(Fault::GP0)
        );
        assert_eq!(c.write_msr(index::APIC_BASE, 1 << 45), Err(Fault::GP0));
    }

    #[test]
    fn tsc_aux_and_fmask_are_32_bit() {
        let mut c = cpu();
        assert_eq!(c.write_msr(index::TSC_AUX, 1 << 32), Err(Fault::GP0));
        c.write_msr(index::TSC_AUX, 0xDEAD_BEEF).unwrap();
        assert_eq!(c.read_msr(index::TSC_AUX), Ok(0xDEAD_BEEF));
        c.write_msr(index::FMASK, 0x1_0004_7700).unwrap();
        assert_eq!(c.read_msr(index::FMASK), Ok(0x4_7700));
    }

    #[test]
    fn microcode_signature_reads_the_revision() {
        let mut c = cpu();
        c.write_msr(index::BIOS_SIGN_ID, 0).unwrap();
        assert_eq!(c.read_msr(index::BIOS_SIGN_ID), Ok(1 << 32));
    }

    #[test]
    fn fast_strings_are_on_from_reset() {
        // SDM Vol. 4 Table 2-2, IA32_MISC_ENABLE bit 0: fast-strings enable, "default 1".
        let mut c = cpu();
        assert_eq!(c.read_msr(index::MISC_ENABLE).unwrap() & 1, 1);
    }

    #[test]
    fn arch_capabilities_say_an_interpreter_does_not_speculate() {
        let mut c = cpu();
        assert!(cpuid::has(Feature::ARCH_CAPABILITIES));
        let caps = c.read_msr(index::ARCH_CAPABILITIES).unwrap();
        for bit in [0, 4, 5, 6, 8, 13, 14, 15, 20, 24, 26, 27, 62] {
            assert_ne!(caps & 1 << bit, 0, "bit {bit}");
        }
        // Nothing that would claim IA32_SPEC_CTRL controls, TSX, or a mitigation to do.
        for bit in [1, 2, 3, 7, 17, 19] {
            assert_eq!(caps & 1 << bit, 0, "bit {bit}");
        }
        assert_eq!(c.write_msr(index::ARCH_CAPABILITIES, caps), Err(Fault::GP0));
    }
}
