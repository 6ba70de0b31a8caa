//! The processor's MMU: linear-address slow paths behind the TLB fast path, page walks, TLB
//! fills and flushes, and the self-modifying-code check on stores (as in Bochs's paging.cc).

pub mod paging;
pub mod tlb;

use crate::cpu::bus::ones;
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::{Cpu, Cr0, Cr4};
use crate::mem::Backing;
use paging::{Access, Privilege, Translation};
use tlb::{Tlb, TlbEntry, TlbMeta, TlbSet, INVALID};

/// Where the bytes of one physical access live.
enum Target {
    Host(usize),
    Bus(u64),
}

impl Cpu {
    /// The TLB set the current privilege, EFLAGS.AC, CR0.AM and CR4.SMAP select.
    pub(crate) fn tlb_set(&self) -> TlbSet {
        let ac = self.flags.has(bit::AC);
        if self.cpl == 3 {
            if ac && self.cr0.contains(Cr0::AM) {
                TlbSet::UserAligned
            } else {
                TlbSet::User
            }
        } else if ac && self.cr4.contains(Cr4::SMAP) {
            TlbSet::SupervisorAc
        } else {
            TlbSet::Supervisor
        }
    }

    /// Points the TLB at the set for the current privilege. Call after CPL, EFLAGS.AC,
    /// CR0.AM or CR4.SMAP change.
    pub fn update_tlb_set(&mut self) {
        let base = self.tlb_set() as usize * tlb::ENTRIES;
        if base != self.tlb.base {
            self.tlb.set_base(base);
        }
    }

    /// Flushes the whole TLB (CR0.PG/CR4 paging bits, A20, or a CR3 load without PGE).
    pub fn flush_tlb_all(&mut self) {
        self.tlb.flush_all();
    }

    /// The privilege explicit data accesses of the current set are checked with.
    fn set_privilege(set: TlbSet) -> Privilege {
        match set {
            TlbSet::Supervisor => Privilege::Supervisor,
            TlbSet::SupervisorAc => Privilege::SupervisorAc,
            TlbSet::User | TlbSet::UserAligned => Privilege::User,
        }
    }

    /// Fills the current set's entry for the page of `lin` from a translation made for the
    /// set's own privilege. ROM and code pages get no write tag; MMIO gets no entry at all.
    pub(crate) fn tlb_fill(&mut self, lin: u64, t: &Translation, backing: Backing) {
        let set = self.tlb_set();
        if set == TlbSet::UserAligned {
            return;
        }
        let who = Cpu::set_privilege(set);
        let page = lin >> 12;
        let (host, writable_mem) = match backing {
            Backing::Ram(p) => (p as usize, true),
            Backing::Rom(p) => (p as usize, false),
            Backing::Mmio => return,
        };
        let allowed = |cpu: &Cpu, a: Access| cpu.check_rights_pub(t, a, who);
        let code = self.mem.holds_code(t.phys);
        let entry = TlbEntry {
            read: if allowed(self, Access::Read) {
                page
            } else {
                INVALID
            },
            write: if writable_mem && t.dirty && !code && allowed(self, Access::Write) {
                page
            } else {
                INVALID
            },
            exec: if allowed(self, Access::Exec) {
                page
            } else {
                INVALID
            },
            addend: host.wrapping_sub((lin & !0xFFF) as usize),
        };
        let idx = Tlb::index_in(set, lin);
        self.tlb.fill(
            idx,
            entry,
            TlbMeta {
                phys: t.phys,
                global: t.global,
                listed: 0,
            },
            lin,
            t.large,
        );
    }

    /// Resolves one access that does not cross a page: translation, TLB fill (reads only:
    /// a write fills after its store, which may clear the page's code mark), backing.
    fn resolve(
        &mut self,
        lin: u64,
        access: Access,
        who: Privilege,
    ) -> Result<(Target, u64, Translation), Fault> {
        let t = self.translate(lin, access, who)?;
        let phys = t.phys | (lin & 0xFFF);
        let backing = self.mem.backing(t.phys);
        if access != Access::Write && Cpu::set_privilege(self.tlb_set()) == who {
            self.tlb_fill(lin, &t, backing);
        }
        let target = match backing {
            Backing::Ram(p) => Target::Host(p as usize + (lin & 0xFFF) as usize),
            Backing::Rom(p) if access != Access::Write => {
                Target::Host(p as usize + (lin & 0xFFF) as usize)
            }
            Backing::Rom(_) => Target::Bus(u64::MAX), // writes to ROM vanish
            Backing::Mmio => Target::Bus(phys),
        };
        Ok((target, phys, t))
    }

    /// #AC(0) for an `n`-byte data access at `lin` not aligned on `n` while alignment
    /// checking is on.
    pub(crate) fn check_alignment(&self, lin: u64, n: u8, who: Privilege) -> Result<(), Fault> {
        // SDM Vol. 3A 6.15 (#AC): CR0.AM, EFLAGS.AC and CPL 3, for data accesses.
        if who == Privilege::User
            && self.tlb_set() == TlbSet::UserAligned
            && n > 1
            && lin & (n as u64 - 1) != 0
        {
            return Err(Fault::AC);
        }
        Ok(())
    }

    /// Reads `n` (1–8) bytes at linear address `lin` through the slow path: page-crossing,
    /// MMIO, TLB misses. Both pages of a crossing access are translated before any byte is read.
    pub fn read_lin(&mut self, lin: u64, n: u8, who: Privilege) -> Result<u64, Fault> {
        self.check_alignment(lin, n, who)?;
        let first = (0x1000 - (lin & 0xFFF)).min(n as u64) as u8;
        let (t0, _, _) = self.resolve(lin, Access::Read, who)?;
        if first == n {
            return Ok(self.load_target(t0, n));
        }
        let lin2 = lin.wrapping_add(first as u64) & self.lin_mask;
        let (t1, _, _) = self.resolve(lin2, Access::Read, who)?;
        let lo = self.load_target(t0, first);
        let hi = self.load_target(t1, n - first);
        Ok(lo | hi << (8 * first as u32))
    }

    /// Writes `n` (1–8) bytes at linear address `lin` through the slow path.
    pub fn write_lin(&mut self, lin: u64, n: u8, v: u64, who: Privilege) -> Result<(), Fault> {
        self.check_alignment(lin, n, who)?;
        let first = (0x1000 - (lin & 0xFFF)).min(n as u64) as u8;
        let (t0, p0, tr) = self.resolve(lin, Access::Write, who)?;
        let second = if first < n {
            let lin2 = lin.wrapping_add(first as u64) & self.lin_mask;
            Some(self.resolve(lin2, Access::Write, who)?)
        } else {
            None
        };
        self.store_target(t0, p0, first, v);
        if let Some((t1, p1, _)) = second {
            self.store_target(t1, p1, n - first, v >> (8 * first as u32));
        }
        // Fill after the store: the store may have just cleared the page's code mark.
        if first == n && Cpu::set_privilege(self.tlb_set()) == who {
            let b = self.mem.backing(tr.phys);
            self.tlb_fill(lin, &tr, b);
        }
        Ok(())
    }

    /// Checks that a write of `n` bytes at `lin` would succeed, without writing (for
    /// instructions that must fault before changing anything).
    pub fn probe_write_lin(&mut self, lin: u64, n: u8, who: Privilege) -> Result<(), Fault> {
        self.check_alignment(lin, n, who)?;
        let first = (0x1000 - (lin & 0xFFF)).min(n as u64);
        self.translate(lin, Access::Write, who)?;
        if first < n as u64 {
            self.translate(lin.wrapping_add(first) & self.lin_mask, Access::Write, who)?;
        }
        Ok(())
    }

    fn load_target(&mut self, t: Target, n: u8) -> u64 {
        match t {
            Target::Host(p) => {
                let mut v = 0u64;
                for i in 0..n as usize {
                    // SAFETY: `p` points into a RAM or ROM page that `resolve` found backing
                    // this access, and the access does not leave that page.
                    v |= (unsafe { *((p + i) as *const u8) } as u64) << (8 * i);
                }
                v
            }
            Target::Bus(u64::MAX) => ones(n),
            Target::Bus(phys) => {
                // The bus cycle passes before the device answers.
                self.idle_ns += self.bus.get().mmio_latency_ns(phys);
                let mem = &mut self.mem;
                let v = self
                    .bus
                    .at(self.icount + self.idle_ns)
                    .mmio_read(mem, phys, n)
                    & ones(n);
                self.sync_bus();
                v
            }
        }
    }

    fn store_target(&mut self, t: Target, phys: u64, n: u8, v: u64) {
        match t {
            Target::Host(p) => {
                if self.mem.holds_code(phys) {
                    self.invalidate_code_page(phys & !0xFFF);
                }
                for i in 0..n as usize {
                    // SAFETY: as in `load_target`; RAM pages are writable host memory.
                    unsafe { *((p + i) as *mut u8) = (v >> (8 * i)) as u8 };
                }
            }
            Target::Bus(u64::MAX) => {}
            Target::Bus(phys) => {
                self.idle_ns += self.bus.get().mmio_latency_ns(phys);
                let mem = &mut self.mem;
                self.bus
                    .at(self.icount + self.idle_ns)
                    .mmio_write(mem, phys, n, v & ones(n));
                self.sync_bus();
            }
        }
    }

    /// Reads `n` bytes at `lin` as an implicit supervisor access (descriptor tables, TSS, IDT).
    pub fn read_sys(&mut self, lin: u64, n: u8) -> Result<u64, Fault> {
        let lin = lin & self.sys_mask();
        self.read_lin(lin, n, Privilege::Supervisor)
    }

    /// Writes `n` bytes at `lin` as an implicit supervisor access (accessed bits, busy bits,
    /// the TSS on task switches).
    pub fn write_sys(&mut self, lin: u64, n: u8, v: u64) -> Result<(), Fault> {
        let lin = lin & self.sys_mask();
        self.write_lin(lin, n, v, Privilege::Supervisor)
    }

    /// The linear-address mask of system-table accesses: in IA-32e mode the GDT, LDT, IDT and
    /// TSS bases are 64-bit even while compatibility-mode code runs (SDM Vol. 3A 3.5.1).
    fn sys_mask(&self) -> u64 {
        if self.efer.contains(crate::cpu::Efer::LMA) {
            u64::MAX
        } else {
            0xFFFF_FFFF
        }
    }

    /// Drops the decoded blocks of physical page `page` because it is being written, and
    /// ends the running block in case it was one of them.
    pub(crate) fn invalidate_code_page(&mut self, page: u64) {
        self.mem.clear_holds_code(page);
        self.icache.invalidate_page(page);
        self.end_block();
    }

    /// Invalidates code pages that memory saw written behind the CPU's back (DMA, A/D bits).
    pub(crate) fn sync_dirty_code(&mut self) {
        for page in self.mem.take_dirty_code() {
            self.icache.invalidate_page(page);
            self.end_block();
        }
    }

    /// Samples the bus lines after an access to it.
    pub(crate) fn sync_bus(&mut self) {
        let st = self.bus.at(self.icount + self.idle_ns).status();
        self.apply_bus_status(st);
        if self.mem.has_dirty_code() {
            self.sync_dirty_code();
        }
    }

    /// Applies what the bus reports: INTR level, NMI edge, stop and A20 requests.
    pub(crate) fn apply_bus_status(&mut self, st: crate::cpu::BusStatus) {
        use crate::cpu::BusStatus;
        self.intr = st.contains(BusStatus::INTR);
        if st.contains(BusStatus::NMI) {
            self.nmi_pending = true;
        }
        if st.contains(BusStatus::A20) {
            self.flush_tlb_all();
            self.icache.flush();
        }
        if st.intersects(BusStatus::STOP | BusStatus::INTR | BusStatus::NMI | BusStatus::INIT) {
            self.end_block();
        }
        if st.contains(BusStatus::STOP) {
            self.stop_requested = true;
        }
    }

    /// The checks of `paging::check_rights` for a TLB fill.
    fn check_rights_pub(&self, t: &Translation, access: Access, who: Privilege) -> bool {
        // Paging off: everything is allowed.
        if !self.cr0.contains(Cr0::PG) {
            return true;
        }
        self.rights_ok(t, access, who)
    }
}
