//! Direct entry into protected or long mode, as boot loaders and tests need it: a GDT in guest
//! memory, segment caches loaded from it, and (for long mode) identity-mapped page tables.

use super::segment::{attr, Segment};
use super::state::{sreg, Cr0, Cr4, Efer};
use super::Cpu;

/// Selectors of the GDT that [`Cpu::enter_protected_flat`] and [`Cpu::enter_long_mode`] write.
pub mod gdt {
    /// Flat 32-bit code, DPL 0.
    pub const CODE32: u16 = 0x08;
    /// Flat data, DPL 0.
    pub const DATA: u16 = 0x10;
    /// 64-bit code, DPL 0.
    pub const CODE64: u16 = 0x18;
    /// Flat 32-bit code, DPL 3.
    pub const USER_CODE32: u16 = 0x23;
    /// Flat data, DPL 3.
    pub const USER_DATA: u16 = 0x2B;
    /// 64-bit code, DPL 3.
    pub const USER_CODE64: u16 = 0x33;
    /// Number of descriptors written.
    pub const ENTRIES: u64 = 7;
}

/// Encodes a code/data segment descriptor (SDM Vol. 3A 3.4.5).
pub fn descriptor(base: u32, limit: u32, attr: u16) -> u64 {
    let limit = limit as u64;
    let base = base as u64;
    (limit & 0xFFFF)
        | (base & 0xFF_FFFF) << 16
        | ((attr as u64) & 0xFF) << 40
        | ((limit >> 16) & 0xF) << 48
        | (((attr as u64) >> 8) & 0xF) << 52
        | (base >> 24) << 56
}

/// The segment attributes (as [`attr`] encodes them) of descriptor `d`.
fn attr_of(d: u64) -> u16 {
    (((d >> 40) & 0xFF) | ((d >> 44) & 0xF00)) as u16
}

impl Cpu {
    fn write_gdt(&mut self, gdt: u64) {
        let flat = attr::G | attr::DB;
        let entries = [
            0,
            descriptor(0, 0xFFFFF, attr::CODE_RX | flat),
            descriptor(0, 0xFFFFF, attr::DATA_RW | flat),
            descriptor(0, 0xFFFFF, attr::CODE_RX | attr::G | attr::L),
            descriptor(0, 0xFFFFF, attr::CODE_RX | flat | 3 << attr::DPL_SHIFT),
            descriptor(0, 0xFFFFF, attr::DATA_RW | flat | 3 << attr::DPL_SHIFT),
            descriptor(
                0,
                0xFFFFF,
                attr::CODE_RX | attr::G | attr::L | 3 << attr::DPL_SHIFT,
            ),
        ];
        self.write_gdt_entries(gdt, &entries);
    }

    fn write_gdt_entries(&mut self, gdt: u64, entries: &[u64]) {
        for (i, e) in entries.iter().enumerate() {
            self.mem
                .write_bytes(gdt + i as u64 * 8, &e.to_le_bytes())
                .expect("GDT inside RAM");
        }
        self.gdtr = super::TableReg {
            base: gdt,
            limit: (entries.len() as u64 * 8).saturating_sub(1) as u32,
        };
    }

    fn load_flat(&mut self, cs: u16, ds: u16, code_attr: u16) {
        let data = Segment::from_cache(
            ds,
            0,
            0xFFFF_FFFF,
            attr::DATA_RW | attr::G | attr::DB | (ds & 3) << attr::DPL_SHIFT,
        );
        for i in [sreg::ES, sreg::SS, sreg::DS, sreg::FS, sreg::GS] {
            self.segs[i as usize] = data;
        }
        self.segs[sreg::CS as usize] = Segment::from_cache(cs, 0, 0xFFFF_FFFF, code_attr);
        self.cpl = (cs & 3) as u8;
    }

    /// Enters flat 32-bit protected mode at CPL 0 with a GDT written at physical `gdt`
    /// (see [`gdt`]); paging stays off. `gdt` must lie in RAM.
    pub fn enter_protected_flat(&mut self, gdt: u64) {
        self.write_gdt(gdt);
        self.cr0 |= Cr0::PE;
        self.load_flat(gdt::CODE32, gdt::DATA, attr::CODE_RX | attr::G | attr::DB);
        self.update_mode();
        self.flush_tlb_all();
    }

    /// Enters flat 32-bit protected mode like [`Cpu::enter_protected_flat`], with the
    /// caller's GDT: `descriptors` (flat code and data, see [`descriptor`]) written at `gdt`,
    /// CS = `cs` and the data segments = `ds`. Boot protocols that fix the selectors need it
    /// (Linux: `__BOOT_CS` 0x10, `__BOOT_DS` 0x18).
    pub fn enter_protected_with(&mut self, gdt: u64, descriptors: &[u64], cs: u16, ds: u16) {
        self.write_gdt_entries(gdt, descriptors);
        self.cr0 |= Cr0::PE;
        let code = descriptors.get((cs >> 3) as usize).copied().unwrap_or(0);
        self.load_flat(cs, ds, attr_of(code));
        self.update_mode();
        self.flush_tlb_all();
    }

    /// Enters 64-bit mode at CPL 0: GDT at `gdt`, a PML4 at `tables` identity-mapping the
    /// first `gib` GiB with 2-MiB pages (tables take `(2 + gib) * 4096` bytes of RAM).
    pub fn enter_long_mode(&mut self, gdt: u64, tables: u64, gib: u64) {
        self.write_gdt(gdt);
        self.long_mode_paging(tables, gib);
        self.load_flat(gdt::CODE64, gdt::DATA, attr::CODE_RX | attr::G | attr::L);
        self.update_mode();
        self.flush_tlb_all();
    }

    /// Enters 64-bit mode like [`Cpu::enter_long_mode`], with the caller's GDT (see
    /// [`Cpu::enter_protected_with`]); the descriptor at `cs` must be a 64-bit code segment.
    pub fn enter_long_mode_with(
        &mut self,
        gdt: u64,
        descriptors: &[u64],
        (cs, ds): (u16, u16),
        tables: u64,
        gib: u64,
    ) {
        self.write_gdt_entries(gdt, descriptors);
        self.long_mode_paging(tables, gib);
        let code = descriptors.get((cs >> 3) as usize).copied().unwrap_or(0);
        self.load_flat(cs, ds, attr_of(code));
        self.update_mode();
        self.flush_tlb_all();
    }

    /// Writes identity-mapping tables at `tables` and turns on PAE, EFER.LME/LMA and CR0.PG.
    fn long_mode_paging(&mut self, tables: u64, gib: u64) {
        let gib = gib.clamp(1, 512);
        let pml4 = tables;
        let pdpt = tables + 0x1000;
        let pw = |cpu: &mut Cpu, a: u64, v: u64| {
            cpu.mem
                .write_bytes(a, &v.to_le_bytes())
                .expect("page tables inside RAM")
        };
        pw(self, pml4, pdpt | 0x7);
        for g in 0..gib {
            let pd = tables + 0x2000 + g * 0x1000;
            pw(self, pdpt + g * 8, pd | 0x7);
            for i in 0..512 {
                pw(self, pd + i * 8, (g << 30) | (i << 21) | 0x87);
            }
        }
        self.cr3 = pml4;
        self.cr4 |= Cr4::PAE;
        self.efer |= Efer::LME | Efer::LMA;
        self.cr0 |= Cr0::PE | Cr0::PG;
    }
}
