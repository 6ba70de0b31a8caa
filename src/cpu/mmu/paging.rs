//! Page walks (SDM Vol. 3A chapter 4): 32-bit paging (4 KiB and 4 MiB pages), PAE (4 KiB and
//! 2 MiB) and 4-level paging (4 KiB, 2 MiB, 1 GiB), with A/D updates, U/S, R/W and CR0.WP,
//! NX (EFER.NXE), SMEP and SMAP, and the exact #PF error code.

use crate::cpu::cpuid::PHYS_ADDR_BITS;
use crate::cpu::fault::{Fault, PfCode};
use crate::cpu::{Cpu, Cr0, Cr4, Efer};

/// The kind of an access, as the paging checks distinguish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A data read.
    Read,
    /// A data write.
    Write,
    /// An instruction fetch.
    Exec,
}

/// Who makes an access, for the U/S, SMEP and SMAP checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// CPL 3, not an implicit supervisor access.
    User,
    /// CPL < 3, or an implicit supervisor access (descriptor tables, TSS); SMAP applies.
    Supervisor,
    /// CPL < 3 with EFLAGS.AC = 1: SMAP does not apply (explicit accesses only).
    SupervisorAc,
}

/// The result of a successful walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the 4-KiB frame holding the linear address.
    pub phys: u64,
    /// User-accessible at every level.
    pub user: bool,
    /// Writable at every level.
    pub writable: bool,
    /// Execute-disabled at some level (only with EFER.NXE).
    pub nx: bool,
    /// The leaf's dirty bit is set (writes may go through without another walk).
    pub dirty: bool,
    /// The leaf is global (CR4.PGE).
    pub global: bool,
    /// The page size in bytes, if larger than 4 KiB.
    pub large: Option<u64>,
}

const P: u64 = 1 << 0;
const RW: u64 = 1 << 1;
const US: u64 = 1 << 2;
const A: u64 = 1 << 5;
const D: u64 = 1 << 6;
const PS: u64 = 1 << 7;
const G: u64 = 1 << 8;
const XD: u64 = 1 << 63;

/// Bits 51:MAXPHYADDR of a PAE/4-level entry, which must be zero.
const fn high_reserved() -> u64 {
    ((1u64 << 52) - 1) & !((1u64 << PHYS_ADDR_BITS) - 1)
}

/// The address bits of a PAE/4-level entry.
const ADDR: u64 = ((1u64 << PHYS_ADDR_BITS) - 1) & !0xFFF;

/// Entries in the paging-structure cache.
pub const PDE_CACHE: usize = 256;

/// A paging-structure-cache entry: the page table that maps one 2-MiB region, and the
/// rights the entries above it grant. Valid only in the TLB generation it was made in, so
/// every TLB flush (MOV CR3, INVLPG, …) drops it too, as the SDM requires.
#[derive(Clone, Copy, Debug, Default)]
pub struct PdeCacheEntry {
    /// Linear address bits 63:21.
    pub tag: u64,
    /// The TLB generation (0: empty).
    pub gen: u64,
    /// Physical address of the page table.
    pub table: u64,
    /// U/S of every level above.
    pub user: bool,
    /// R/W of every level above.
    pub writable: bool,
    /// XD of some level above.
    pub nx: bool,
}

impl Cpu {
    /// Which privilege the current CPL and EFLAGS.AC give explicit data accesses.
    pub fn data_privilege(&self) -> Privilege {
        if self.cpl == 3 {
            Privilege::User
        } else if self.flags.has(crate::cpu::flags::bit::AC) {
            Privilege::SupervisorAc
        } else {
            Privilege::Supervisor
        }
    }

    /// Translates linear address `lin` for an access of kind `access` by `who`, setting A/D
    /// bits, or returns the #PF the access raises.
    pub fn translate(
        &mut self,
        lin: u64,
        access: Access,
        who: Privilege,
    ) -> Result<Translation, Fault> {
        if !self.cr0.contains(Cr0::PG) {
            // The address mask (A20 gate, or the 20/24-bit bus of the 8086/80286) applies
            // without paging too.
            return Ok(Translation {
                phys: lin & 0xFFFF_FFFF & self.mem.addr_mask() & !0xFFF,
                user: true,
                writable: true,
                nx: false,
                dirty: true,
                global: false,
                large: None,
            });
        }
        if self.efer.contains(Efer::LMA) {
            self.walk_pae(lin, access, who, 4)
        } else if self.cr4.contains(Cr4::PAE) {
            self.walk_pae(lin, access, who, 3)
        } else {
            self.walk_32(lin, access, who)
        }
    }

    /// The #PF for an access to `lin`, with its error code; records `lin` for CR2.
    fn page_fault(
        &mut self,
        lin: u64,
        access: Access,
        who: Privilege,
        present: bool,
        rsvd: bool,
    ) -> Fault {
        self.pf_addr = lin;
        Fault::pf(self.pf_code(access, who, present, rsvd))
    }

    fn pf_code(&self, access: Access, who: Privilege, present: bool, rsvd: bool) -> u32 {
        let mut c = PfCode::empty();
        c.set(PfCode::P, present);
        c.set(PfCode::W, access == Access::Write);
        c.set(PfCode::U, who == Privilege::User);
        c.set(PfCode::RSVD, rsvd);
        let nx_on = self.efer.contains(Efer::NXE) && self.cr4.contains(Cr4::PAE);
        c.set(
            PfCode::I,
            access == Access::Exec && (nx_on || self.cr4.contains(Cr4::SMEP)),
        );
        c.bits()
    }

    /// The protection checks of SDM Vol. 3A 4.6 on a completed walk.
    pub(crate) fn rights_ok(&self, t: &Translation, access: Access, who: Privilege) -> bool {
        let smap = self.cr4.contains(Cr4::SMAP);
        match (access, who) {
            (Access::Exec, Privilege::User) => t.user && !t.nx,
            (Access::Exec, _) => !(t.nx || (t.user && self.cr4.contains(Cr4::SMEP))),
            (Access::Read, Privilege::User) => t.user,
            (Access::Write, Privilege::User) => t.user && t.writable,
            (Access::Read, Privilege::Supervisor) => !(t.user && smap),
            (Access::Read, Privilege::SupervisorAc) => true,
            (Access::Write, w) => {
                let smap_ok = !(t.user && smap && w == Privilege::Supervisor);
                smap_ok && (t.writable || !self.cr0.contains(Cr0::WP))
            }
        }
    }

    fn pte_read(&mut self, addr: u64, wide: bool) -> u64 {
        let addr = addr & self.mem.addr_mask();
        let n = if wide { 8 } else { 4 };
        if let Some(p) = self.mem.ram_ptr(addr, n) {
            // SAFETY: `ram_ptr` vouches for `n` bytes of RAM at `p`.
            return unsafe {
                if wide {
                    u64::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 8]))
                } else {
                    u32::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 4])) as u64
                }
            };
        }
        let mut v = 0u64;
        let mut mmio = false;
        for i in 0..n {
            match self.mem.read_u8(addr + i) {
                Some(b) => v |= (b as u64) << (8 * i),
                None => mmio = true,
            }
        }
        if mmio {
            let mem = &mut self.mem;
            v = self
                .bus
                .at(self.icount + self.idle_ns)
                .mmio_read(mem, addr, n as u8);
        }
        v
    }

    fn pte_write(&mut self, addr: u64, v: u64, wide: bool) {
        let addr = addr & self.mem.addr_mask();
        let n = if wide { 8 } else { 4 };
        if let Some(p) = self.mem.ram_ptr(addr, n) {
            self.mem.note_write(addr);
            // SAFETY: `ram_ptr` vouches for `n` bytes of RAM at `p`.
            unsafe {
                if wide {
                    std::ptr::write_unaligned(p as *mut [u8; 8], v.to_le_bytes());
                } else {
                    std::ptr::write_unaligned(p as *mut [u8; 4], (v as u32).to_le_bytes());
                }
            }
            if self.mem.has_dirty_code() {
                self.sync_dirty_code();
            }
            return;
        }
        for i in 0..n {
            if !self.mem.write_u8(addr + i, (v >> (8 * i)) as u8) {
                let mem = &mut self.mem;
                self.bus.at(self.icount + self.idle_ns).mmio_write(
                    mem,
                    addr + i,
                    1,
                    (v >> (8 * i)) & 0xFF,
                );
            }
        }
        if self.mem.has_dirty_code() {
            self.sync_dirty_code();
        }
    }

    /// Sets A on the entries walked and A/D on the leaf, writing back only what changed.
    fn set_accessed(&mut self, entries: &[(u64, u64)], leaf_dirty: bool, wide: bool) {
        let last = entries.len() - 1;
        for (i, &(addr, v)) in entries.iter().enumerate() {
            let mut nv = v | A;
            if i == last && leaf_dirty {
                nv |= D;
            }
            if nv != v {
                self.pte_write(addr, nv, wide);
            }
        }
    }

    fn walk_32(&mut self, lin: u64, access: Access, who: Privilege) -> Result<Translation, Fault> {
        let lin = lin & 0xFFFF_FFFF;
        let pde_addr = (self.cr3 & 0xFFFF_F000) + ((lin >> 22) & 0x3FF) * 4;
        let pde = self.pte_read(pde_addr, false);
        if pde & P == 0 {
            return Err(self.page_fault(lin, access, who, false, false));
        }
        let mut t = Translation {
            phys: 0,
            user: pde & US != 0,
            writable: pde & RW != 0,
            nx: false,
            dirty: false,
            global: false,
            large: None,
        };
        let leaf;
        let mut walked = [(pde_addr, pde), (0, 0)];
        let n;
        if pde & PS != 0 && self.cr4.contains(Cr4::PSE) {
            // 4-MiB page; PSE-36 puts physical bits 39:32 in PDE bits 20:13, bit 21 reserved.
            if pde & (1 << 21) != 0 {
                return Err(self.page_fault(lin, access, who, true, true));
            }
            let base = (pde & 0xFFC0_0000) | ((pde >> 13) & 0xFF) << 32;
            t.phys = base | (lin & 0x003F_F000);
            t.large = Some(4 << 20);
            leaf = pde;
            n = 1;
        } else {
            let pte_addr = (pde & 0xFFFF_F000) + ((lin >> 12) & 0x3FF) * 4;
            let pte = self.pte_read(pte_addr, false);
            if pte & P == 0 {
                return Err(self.page_fault(lin, access, who, false, false));
            }
            t.user &= pte & US != 0;
            t.writable &= pte & RW != 0;
            t.phys = pte & 0xFFFF_F000;
            walked[1] = (pte_addr, pte);
            leaf = pte;
            n = 2;
        }
        t.global = leaf & G != 0 && self.cr4.contains(Cr4::PGE);
        if !self.rights_ok(&t, access, who) {
            return Err(self.page_fault(lin, access, who, true, false));
        }
        let write = access == Access::Write;
        self.set_accessed(&walked[..n], write, false);
        t.dirty = write || leaf & D != 0;
        t.phys &= self.mem.addr_mask();
        Ok(t)
    }

    fn walk_pae(
        &mut self,
        lin: u64,
        access: Access,
        who: Privilege,
        levels: u32,
    ) -> Result<Translation, Fault> {
        let nxe = self.efer.contains(Efer::NXE);
        let rsvd_base = high_reserved() | if nxe { 0 } else { XD };
        let not_present = |cpu: &mut Cpu| cpu.page_fault(lin, access, who, false, false);
        let reserved = |cpu: &mut Cpu| cpu.page_fault(lin, access, who, true, true);

        let mut t = Translation {
            phys: 0,
            user: true,
            writable: true,
            nx: false,
            dirty: false,
            global: false,
            large: None,
        };
        let mut walked: [(u64, u64); 4] = [(0, 0); 4];
        let mut n = 0;
        let mut table;
        let mut level;
        // The page table for this 2-MiB region, with the rights of the levels above it, as
        // the paging-structure cache remembers it (SDM Vol. 3A 4.10.3).
        let mut pde_hit = None;
        let slot = ((lin >> 21) as usize) & (PDE_CACHE - 1);
        let cached = self.pde_cache[slot];
        if cached.gen == self.tlb.gen && cached.tag == lin >> 21 {
            pde_hit = Some(cached);
        }
        let mut pt_seen = None;
        if let Some(c) = pde_hit {
            table = c.table;
            level = 1;
            t.user = c.user;
            t.writable = c.writable;
            t.nx = c.nx;
        } else if levels == 4 {
            table = self.cr3 & ADDR;
            level = 4;
        } else {
            // Legacy PAE: the four PDPTEs were loaded with CR3 (SDM Vol. 3A 4.4.1).
            let pdpte = self.pdpte[((lin >> 30) & 3) as usize];
            if pdpte & P == 0 {
                return Err(not_present(self));
            }
            table = pdpte & ADDR;
            level = 2;
        }
        let leaf;
        loop {
            let shift = 12 + 9 * (level - 1);
            let addr = table + ((lin >> shift) & 0x1FF) * 8;
            let e = self.pte_read(addr, true);
            if e & P == 0 {
                return Err(not_present(self));
            }
            let mut rsvd = rsvd_base;
            let is_leaf = level == 1 || (e & PS != 0 && level <= 3);
            if level == 4 {
                rsvd |= PS;
            }
            if is_leaf && level == 3 {
                rsvd |= 0x3FFF_E000; // 1-GiB page: bits 29:13
            } else if is_leaf && level == 2 {
                rsvd |= 0x001F_E000; // 2-MiB page: bits 20:13
            }
            if e & rsvd != 0 {
                return Err(reserved(self));
            }
            t.user &= e & US != 0;
            t.writable &= e & RW != 0;
            t.nx |= nxe && e & XD != 0;
            walked[n] = (addr, e);
            n += 1;
            if is_leaf {
                let size = 1u64 << shift;
                t.phys = (e & ADDR & !(size - 1)) | (lin & (size - 1) & !0xFFF);
                if level > 1 {
                    t.large = Some(size);
                }
                leaf = e;
                break;
            }
            table = e & ADDR;
            level -= 1;
            if level == 1 {
                pt_seen = Some(PdeCacheEntry {
                    tag: lin >> 21,
                    gen: self.tlb.gen,
                    table,
                    user: t.user,
                    writable: t.writable,
                    nx: t.nx,
                });
            }
        }
        t.global = leaf & G != 0 && self.cr4.contains(Cr4::PGE);
        if !self.rights_ok(&t, access, who) {
            return Err(self.page_fault(lin, access, who, true, false));
        }
        let write = access == Access::Write;
        self.set_accessed(&walked[..n], write, true);
        if let Some(e) = pt_seen {
            // Only successful walks are remembered: their upper entries now have A set.
            self.pde_cache[slot] = e;
        }
        t.dirty = write || leaf & D != 0;
        t.phys &= self.mem.addr_mask();
        Ok(t)
    }

    /// Loads the four PAE PDPTEs from CR3 (MOV CR3, or enabling legacy PAE paging); a
    /// reserved bit in a present entry is #GP(0) (SDM Vol. 3A 4.4.1).
    pub fn load_pdptes(&mut self) -> Result<(), Fault> {
        let base = self.cr3 & 0xFFFF_FFE0;
        let mut v = [0u64; 4];
        for (i, e) in v.iter_mut().enumerate() {
            *e = self.pte_read(base + i as u64 * 8, true);
            if *e & P != 0 && *e & (high_reserved() | 0x1E6 | XD) != 0 {
                return Err(Fault::GP0);
            }
        }
        self.pdpte = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    fn cpu() -> Cpu {
        let mut c = Cpu::new(Model::Modern, PhysMem::new(16 << 20).unwrap());
        c.cr0 |= Cr0::PE | Cr0::PG;
        c
    }

    fn put(c: &mut Cpu, addr: u64, v: u64) {
        c.mem.write_bytes(addr, &v.to_le_bytes()).unwrap();
    }

    fn get(c: &Cpu, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        c.mem.read_bytes(addr, &mut b);
        u64::from_le_bytes(b)
    }

    #[test]
    fn without_paging_the_address_mask_applies() {
        // An 8086 has 20 address lines: FFFF:0010 is physical 0 (the vectors record it).
        let mut c = Cpu::new(Model::I8086, PhysMem::new(1 << 20).unwrap());
        c.mem.set_addr_mask(0xF_FFFF);
        let t = c
            .translate(0x10_0010, Access::Write, Privilege::Supervisor)
            .unwrap();
        assert_eq!(t.phys, 0);
    }

    #[test]
    fn two_level_walk_sets_accessed_and_dirty() {
        let mut c = cpu();
        c.cr3 = 0x1000;
        put(&mut c, 0x1000 + 4, 0x2000 | P | RW | US); // PDE for 0x0040_0000
        put(&mut c, 0x2000 + 4 * 3, 0x5000 | P | RW | US); // PTE for 0x0040_3000
        let t = c
            .translate(0x0040_3123, Access::Write, Privilege::User)
            .unwrap();
        assert_eq!(t.phys, 0x5000);
        assert!(t.dirty);
        assert_eq!(
            get(&c, 0x2000 + 12) & 0xFFFF_FFFF,
            0x5000 | P | RW | US | A | D
        );
        assert_eq!(
            get(&c, 0x1004) & 0xFFFF_FFFF,
            0x2000 | P | RW | US | A,
            "PDE gets A, never D"
        );
    }

    #[test]
    fn user_write_to_read_only_page_reports_p_w_u() {
        let mut c = cpu();
        c.cr3 = 0x1000;
        put(&mut c, 0x1000, 0x2000 | P | RW | US);
        put(&mut c, 0x2000, 0x5000 | P | US);
        let f = c
            .translate(0x0000_0010, Access::Write, Privilege::User)
            .unwrap_err();
        assert_eq!(f, Fault::pf((PfCode::P | PfCode::W | PfCode::U).bits()));
        assert_eq!(c.pf_addr, 0x10);
        // A supervisor write goes through unless CR0.WP is set.
        assert!(c
            .translate(0x10, Access::Write, Privilege::Supervisor)
            .is_ok());
        c.cr0 |= Cr0::WP;
        assert_eq!(
            c.translate(0x10, Access::Write, Privilege::Supervisor)
                .unwrap_err()
                .code,
            (PfCode::P | PfCode::W).bits()
        );
    }

    #[test]
    fn four_mib_pages_need_pse() {
        let mut c = cpu();
        c.cr3 = 0x1000;
        put(&mut c, 0x1000 + 4 * 2, 0x0080_0000 | P | RW | PS);
        c.cr4 |= Cr4::PSE;
        let t = c
            .translate(0x0081_2345, Access::Read, Privilege::Supervisor)
            .unwrap();
        assert_eq!(t.phys, 0x0081_2000);
        assert_eq!(t.large, Some(4 << 20));
    }

    #[test]
    fn four_level_with_nx_and_1gib_pages() {
        let mut c = cpu();
        c.cr4 |= Cr4::PAE;
        c.efer |= Efer::LME | Efer::LMA | Efer::NXE;
        c.cr3 = 0x1000;
        put(&mut c, 0x1000, 0x2000 | P | RW | US);
        put(&mut c, 0x2000 + 8, 0x4000_0000 | P | RW | PS | XD); // 1 GiB at 1 GiB, no exec
        let t = c
            .translate(0x4012_3456, Access::Read, Privilege::Supervisor)
            .unwrap();
        assert_eq!(t.phys, 0x4012_3000);
        let f = c
            .translate(0x4012_3456, Access::Exec, Privilege::Supervisor)
            .unwrap_err();
        assert_eq!(f.code, (PfCode::P | PfCode::I).bits());
        // A PS bit in a PML4E is reserved.
        put(&mut c, 0x1000 + 8, 0x3000 | P | PS);
        let f = c
            .translate(1 << 39, Access::Read, Privilege::Supervisor)
            .unwrap_err();
        assert_eq!(f.code, (PfCode::P | PfCode::RSVD).bits());
    }

    #[test]
    fn smep_and_smap() {
        let mut c = cpu();
        c.cr3 = 0x1000;
        put(&mut c, 0x1000, 0x2000 | P | RW | US);
        put(&mut c, 0x2000, 0x5000 | P | RW | US);
        c.cr4 |= Cr4::SMEP | Cr4::SMAP;
        assert!(c.translate(0, Access::Exec, Privilege::Supervisor).is_err());
        assert!(c.translate(0, Access::Read, Privilege::Supervisor).is_err());
        assert!(c
            .translate(0, Access::Read, Privilege::SupervisorAc)
            .is_ok());
        assert!(c.translate(0, Access::Exec, Privilege::User).is_ok());
    }

    #[test]
    fn legacy_pae_uses_cached_pdptes() {
        let mut c = cpu();
        c.cr4 |= Cr4::PAE;
        c.cr3 = 0x1000;
        put(&mut c, 0x1000 + 8, 0x2000 | P);
        put(&mut c, 0x2000, 0x0020_0000 | P | RW | PS); // 2 MiB page at 2 MiB
        c.load_pdptes().unwrap();
        let t = c
            .translate(0x4000_1234, Access::Write, Privilege::Supervisor)
            .unwrap();
        assert_eq!(t.phys, 0x0020_1000);
        put(&mut c, 0x1000 + 8, 0x2000 | P | 2);
        assert_eq!(c.load_pdptes(), Err(Fault::GP0), "PDPTE bit 1 is reserved");
    }
}
