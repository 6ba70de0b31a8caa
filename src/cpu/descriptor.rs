//! GDT/LDT/IDT/TSS descriptors (SDM Vol. 3A 3.4.5, 3.5, 5.8.3, 6.11, 6.14.1, 7.2.2): parsing
//! the raw 8-byte (and, in IA-32e mode, 16-byte) entries, and fetching them from the
//! descriptor tables with the table-limit checks every segment load starts with.

use super::fault::Fault;
use super::segment::{attr, Segment};
use super::Cpu;

/// The types of system descriptors (S = 0), as the type field and the mode decide them
/// (SDM Vol. 3A Table 3-2). In IA-32e mode the 32-bit types name their 64-bit forms and the
/// 16-bit types are invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemType {
    /// 16-bit TSS (available), type 1.
    Tss16Avail,
    /// LDT, type 2 (16 bytes in IA-32e mode).
    Ldt,
    /// 16-bit TSS (busy), type 3.
    Tss16Busy,
    /// 16-bit call gate, type 4.
    CallGate16,
    /// Task gate, type 5.
    TaskGate,
    /// 16-bit interrupt gate, type 6.
    IntGate16,
    /// 16-bit trap gate, type 7.
    TrapGate16,
    /// 32-bit TSS (available), type 9.
    Tss32Avail,
    /// 32-bit TSS (busy), type 11.
    Tss32Busy,
    /// 32-bit call gate, type 12.
    CallGate32,
    /// 32-bit interrupt gate, type 14.
    IntGate32,
    /// 32-bit trap gate, type 15.
    TrapGate32,
    /// 64-bit TSS (available), type 9 in IA-32e mode.
    Tss64Avail,
    /// 64-bit TSS (busy), type 11 in IA-32e mode.
    Tss64Busy,
    /// 64-bit call gate, type 12 in IA-32e mode.
    CallGate64,
    /// 64-bit interrupt gate, type 14 in IA-32e mode.
    IntGate64,
    /// 64-bit trap gate, type 15 in IA-32e mode.
    TrapGate64,
}

impl SystemType {
    /// Whether this is a TSS descriptor (available or busy, any size).
    pub fn is_tss(self) -> bool {
        use SystemType::*;
        matches!(
            self,
            Tss16Avail | Tss16Busy | Tss32Avail | Tss32Busy | Tss64Avail | Tss64Busy
        )
    }

    /// Whether this is a busy TSS.
    pub fn is_busy_tss(self) -> bool {
        use SystemType::*;
        matches!(self, Tss16Busy | Tss32Busy | Tss64Busy)
    }

    /// Whether this is an interrupt gate (delivery clears IF).
    pub fn is_interrupt_gate(self) -> bool {
        use SystemType::*;
        matches!(self, IntGate16 | IntGate32 | IntGate64)
    }

    /// Whether this is an interrupt or trap gate.
    pub fn is_int_or_trap_gate(self) -> bool {
        use SystemType::*;
        matches!(
            self,
            IntGate16 | IntGate32 | IntGate64 | TrapGate16 | TrapGate32 | TrapGate64
        )
    }

    /// Whether this is a call gate.
    pub fn is_call_gate(self) -> bool {
        matches!(
            self,
            SystemType::CallGate16 | SystemType::CallGate32 | SystemType::CallGate64
        )
    }

    /// The operand size of a gate, in bytes: 2, 4 or 8.
    pub fn gate_size(self) -> u8 {
        use SystemType::*;
        match self {
            CallGate16 | IntGate16 | TrapGate16 => 2,
            CallGate64 | IntGate64 | TrapGate64 => 8,
            _ => 4,
        }
    }
}

/// The type field of a busy TSS differs from an available one in bit 1 (SDM Vol. 3A 7.2.2).
pub const TSS_BUSY: u8 = 0x2;

/// One raw 8-byte descriptor, with accessors for each field (SDM Vol. 3A Figure 3-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    /// The 4-bit type field.
    pub fn typ(self) -> u8 {
        ((self.0 >> 40) & 0xF) as u8
    }

    /// S: a code or data segment (rather than a system descriptor).
    pub fn is_segment(self) -> bool {
        self.0 & (1 << 44) != 0
    }

    /// The descriptor privilege level.
    pub fn dpl(self) -> u8 {
        ((self.0 >> 45) & 3) as u8
    }

    /// P: present.
    pub fn present(self) -> bool {
        self.0 & (1 << 47) != 0
    }

    /// A code segment.
    pub fn is_code(self) -> bool {
        self.is_segment() && self.typ() & 0x8 != 0
    }

    /// A data segment.
    pub fn is_data(self) -> bool {
        self.is_segment() && self.typ() & 0x8 == 0
    }

    /// A conforming code segment.
    pub fn conforming(self) -> bool {
        self.is_code() && self.typ() & 0x4 != 0
    }

    /// A readable segment: any data segment, or code with R set.
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.typ() & 0x2 != 0)
    }

    /// A writable data segment.
    pub fn writable(self) -> bool {
        self.is_data() && self.typ() & 0x2 != 0
    }

    /// The accessed bit of a code or data segment.
    pub fn accessed(self) -> bool {
        self.typ() & 0x1 != 0
    }

    /// L: a 64-bit code segment.
    pub fn long(self) -> bool {
        self.0 & (1 << 53) != 0
    }

    /// D/B: 32-bit default size or big stack.
    pub fn big(self) -> bool {
        self.0 & (1 << 54) != 0
    }

    /// The base address (bits 31:0).
    pub fn base(self) -> u32 {
        (((self.0 >> 16) & 0xFF_FFFF) | ((self.0 >> 56) << 24)) as u32
    }

    /// The limit in bytes, scaled by G (SDM Vol. 3A 3.4.5).
    pub fn limit(self) -> u32 {
        let raw = ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xF_0000)) as u32;
        if self.0 & (1 << 55) != 0 {
            raw << 12 | 0xFFF
        } else {
            raw
        }
    }

    /// The attributes in the segment-cache format (see [`attr`]): access byte and flags.
    pub fn attr(self) -> u16 {
        (((self.0 >> 40) & 0xFF) | ((self.0 >> 52) & 0xF) << 8) as u16
    }

    /// The system-descriptor type, or `None` for code/data and reserved types. `long` is
    /// IA-32e mode (EFER.LMA), where types 1, 3, 4, 5, 6 and 7 are reserved.
    pub fn system_type(self, long: bool) -> Option<SystemType> {
        use SystemType::*;
        if self.is_segment() {
            return None;
        }
        Some(match (self.typ(), long) {
            (2, _) => Ldt,
            (1, false) => Tss16Avail,
            (3, false) => Tss16Busy,
            (4, false) => CallGate16,
            (5, false) => TaskGate,
            (6, false) => IntGate16,
            (7, false) => TrapGate16,
            (9, false) => Tss32Avail,
            (11, false) => Tss32Busy,
            (12, false) => CallGate32,
            (14, false) => IntGate32,
            (15, false) => TrapGate32,
            (9, true) => Tss64Avail,
            (11, true) => Tss64Busy,
            (12, true) => CallGate64,
            (14, true) => IntGate64,
            (15, true) => TrapGate64,
            _ => return None,
        })
    }

    /// A gate's target selector (the TSS selector for a task gate).
    pub fn gate_selector(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// A gate's target offset bits 31:0 (only 15:0 count for 16-bit gates).
    pub fn gate_offset(self) -> u32 {
        ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xFFFF_0000)) as u32
    }

    /// A call gate's parameter count (five bits).
    pub fn gate_params(self) -> u8 {
        ((self.0 >> 32) & 0x1F) as u8
    }

    /// A 64-bit interrupt or trap gate's interrupt-stack-table index (three bits).
    pub fn gate_ist(self) -> u8 {
        ((self.0 >> 32) & 0x7) as u8
    }

    /// The descriptor cache a segment register holds once loaded with `selector`.
    pub fn to_segment(self, selector: u16) -> Segment {
        Segment::from_cache(
            selector,
            self.base() as u64,
            self.limit(),
            self.attr() | (attr::ACCESSED * self.is_segment() as u16),
        )
    }
}

/// A 16-byte system descriptor of IA-32e mode (LDT, TSS, call gate, interrupt/trap gate):
/// the legacy 8 bytes and the upper 8 (SDM Vol. 3A Figures 5-9, 6-8, 7-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor16 {
    /// The low 8 bytes, laid out as a legacy descriptor.
    pub lo: Descriptor,
    /// The upper 8 bytes: base or offset bits 63:32, then a reserved dword whose type field
    /// must be zero for call gates and system segments.
    pub hi: u64,
}

impl Descriptor16 {
    /// The 64-bit base of an LDT or TSS descriptor.
    pub fn base(self) -> u64 {
        self.lo.base() as u64 | (self.hi & 0xFFFF_FFFF) << 32
    }

    /// The 64-bit offset of a gate.
    pub fn gate_offset(self) -> u64 {
        self.lo.gate_offset() as u64 | (self.hi & 0xFFFF_FFFF) << 32
    }

    /// Whether the type field of the upper 8 bytes is zero, as a valid 64-bit call gate, LDT
    /// or TSS descriptor requires (SDM Vol. 3A 5.8.3.1).
    pub fn upper_type_clear(self) -> bool {
        (self.hi >> 40) & 0x1F == 0
    }

    /// The descriptor cache for LDTR or TR.
    pub fn to_segment(self, selector: u16) -> Segment {
        Segment::from_cache(selector, self.base(), self.lo.limit(), self.lo.attr())
    }
}

/// The selector's table indicator: 1 selects the LDT.
pub fn selector_ti(sel: u16) -> bool {
    sel & 4 != 0
}

/// The selector's requested privilege level.
pub fn selector_rpl(sel: u16) -> u8 {
    (sel & 3) as u8
}

/// Whether a selector is null (index 0 in the GDT, any RPL).
pub fn selector_null(sel: u16) -> bool {
    sel & 0xFFFC == 0
}

impl Cpu {
    /// The linear address of the `size`-byte descriptor `sel` selects, or `None` if it lies
    /// beyond the GDT or LDT limit (or the LDT is unusable). Callers raise the fault their
    /// instruction names, usually #GP(selector) or #TS(selector).
    pub fn descriptor_addr(&self, sel: u16, size: u64) -> Option<u64> {
        let index = (sel & 0xFFF8) as u64;
        let (base, limit) = if selector_ti(sel) {
            if !self.ldtr.usable() || selector_null(self.ldtr.selector) {
                return None;
            }
            (self.ldtr.base, self.ldtr.limit)
        } else {
            (self.gdtr.base, self.gdtr.limit)
        };
        (index + size - 1 <= limit as u64).then_some(base.wrapping_add(index))
    }

    /// Reads the 8-byte descriptor `sel` selects: `Ok(None)` if it lies beyond its table's
    /// limit; `Err` only for a fault of the read itself (#PF).
    pub fn read_descriptor(&mut self, sel: u16) -> Result<Option<Descriptor>, Fault> {
        match self.descriptor_addr(sel, 8) {
            Some(addr) => Ok(Some(Descriptor(self.read_sys(addr, 8)?))),
            None => Ok(None),
        }
    }

    /// Reads the 8-byte descriptor `sel` selects, raising `fault` if it lies beyond its
    /// table's limit.
    pub fn fetch_descriptor(&mut self, sel: u16, fault: Fault) -> Result<Descriptor, Fault> {
        self.read_descriptor(sel)?.ok_or(fault)
    }

    /// Reads the 16-byte IA-32e system descriptor `sel` selects, raising `fault` if any of
    /// its bytes lies beyond its table's limit.
    pub fn fetch_descriptor16(&mut self, sel: u16, fault: Fault) -> Result<Descriptor16, Fault> {
        let addr = self.descriptor_addr(sel, 16).ok_or(fault)?;
        let lo = Descriptor(self.read_sys(addr, 8)?);
        let hi = self.read_sys(addr.wrapping_add(8), 8)?;
        Ok(Descriptor16 { lo, hi })
    }

    /// Sets the accessed bit of a code or data descriptor in memory if it is clear (SDM
    /// Vol. 3A 3.4.5.1), so that the loaded cache and the table agree.
    pub fn set_descriptor_accessed(&mut self, sel: u16, d: Descriptor) -> Result<(), Fault> {
        if d.is_segment() && !d.accessed() {
            if let Some(addr) = self.descriptor_addr(sel, 8) {
                let byte = ((d.0 >> 40) as u8) | 1;
                self.write_sys(addr + 5, 1, byte as u64)?;
            }
        }
        Ok(())
    }

    /// Sets or clears the busy bit of the TSS descriptor `sel` selects in the GDT.
    pub fn set_tss_busy(&mut self, sel: u16, busy: bool) -> Result<(), Fault> {
        let addr = self.gdtr.base.wrapping_add((sel & 0xFFF8) as u64) + 5;
        let byte = self.read_sys(addr, 1)?;
        let new = if busy {
            byte | TSS_BUSY as u64
        } else {
            byte & !(TSS_BUSY as u64)
        };
        if new != byte {
            self.write_sys(addr, 1, new)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::setup::descriptor;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    #[test]
    fn code_and_data_fields() {
        // A flat 4-GiB 32-bit code segment, DPL 3, non-conforming, readable.
        let d = Descriptor(descriptor(
            0x1234_5678,
            0xFFFFF,
            attr::CODE_RX | attr::G | attr::DB | 3 << attr::DPL_SHIFT,
        ));
        assert!(d.is_segment() && d.is_code() && !d.is_data());
        assert!(d.readable() && !d.writable() && !d.conforming());
        assert_eq!(d.dpl(), 3);
        assert!(d.present() && d.big() && !d.long());
        assert_eq!(d.base(), 0x1234_5678);
        assert_eq!(
            d.limit(),
            0xFFFF_FFFF,
            "G scales the limit to 4-KiB units, low bits ones"
        );
        assert_eq!(d.system_type(false), None);
        // Byte granular expand-down data.
        let e = Descriptor(descriptor(
            0,
            0x0FFF,
            attr::P | attr::S | attr::RW | attr::DC,
        ));
        assert!(e.is_data() && e.writable() && !e.accessed());
        assert_eq!(e.limit(), 0x0FFF);
        assert_eq!(
            e.to_segment(0x10).attr & attr::ACCESSED,
            attr::ACCESSED,
            "the cache reads as accessed"
        );
    }

    #[test]
    fn system_types_depend_on_the_mode() {
        let sys = |t: u64| Descriptor(t << 40 | 1 << 47);
        assert_eq!(sys(1).system_type(false), Some(SystemType::Tss16Avail));
        assert_eq!(
            sys(1).system_type(true),
            None,
            "16-bit TSS types are reserved in IA-32e mode"
        );
        assert_eq!(sys(5).system_type(false), Some(SystemType::TaskGate));
        assert_eq!(
            sys(5).system_type(true),
            None,
            "no task gates in IA-32e mode"
        );
        assert_eq!(sys(0xE).system_type(true), Some(SystemType::IntGate64));
        assert_eq!(sys(0xF).system_type(false), Some(SystemType::TrapGate32));
        assert_eq!(sys(0xB).system_type(false), Some(SystemType::Tss32Busy));
        assert_eq!(sys(2).system_type(true), Some(SystemType::Ldt));
        for t in [0, 8, 10, 13] {
            assert_eq!(sys(t).system_type(false), None, "type {t} is reserved");
        }
        assert!(
            SystemType::IntGate16.is_interrupt_gate()
                && !SystemType::TrapGate32.is_interrupt_gate()
        );
        assert_eq!(SystemType::CallGate16.gate_size(), 2);
        assert_eq!(SystemType::TrapGate64.gate_size(), 8);
    }

    #[test]
    fn gate_fields() {
        // 32-bit call gate: selector 0x08, offset 0x1234_5678, 3 parameters, DPL 3.
        let g = Descriptor(0x5678 | 0x08 << 16 | 3 << 32 | 0xEC << 40 | 0x1234 << 48);
        assert_eq!(g.system_type(false), Some(SystemType::CallGate32));
        assert_eq!(g.gate_selector(), 0x08);
        assert_eq!(g.gate_offset(), 0x1234_5678);
        assert_eq!(g.gate_params(), 3);
        assert_eq!(g.dpl(), 3);
        let g64 = Descriptor16 {
            lo: Descriptor(0x5678 | 0x10 << 16 | 2 << 32 | 0x8E << 40 | 0x1234 << 48),
            hi: 0xFFFF_8000,
        };
        assert_eq!(g64.lo.gate_ist(), 2);
        assert_eq!(g64.gate_offset(), 0xFFFF_8000_1234_5678);
        assert!(g64.upper_type_clear());
        assert!(!Descriptor16 {
            hi: 0xC << 40,
            ..g64
        }
        .upper_type_clear());
    }

    #[test]
    fn table_limits_and_accessed_bit() {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_protected_flat(0x1000);
        // The data descriptor is written accessed by setup; clear it to see it set again.
        let raw = descriptor(
            0,
            0xFFFFF,
            (attr::DATA_RW & !attr::ACCESSED) | attr::G | attr::DB,
        );
        cpu.mem.write_bytes(0x1010, &raw.to_le_bytes()).unwrap();
        let d = cpu.fetch_descriptor(0x10, Fault::GP0).unwrap();
        assert!(!d.accessed());
        cpu.set_descriptor_accessed(0x10, d).unwrap();
        assert!(cpu.fetch_descriptor(0x10, Fault::GP0).unwrap().accessed());
        // The GDT has 7 entries: selector 0x38 lies beyond its limit.
        assert_eq!(
            cpu.fetch_descriptor(0x38, Fault::gp(0x38)),
            Err(Fault::gp(0x38))
        );
        assert!(cpu.descriptor_addr(0x30, 8).is_some());
        assert!(
            cpu.descriptor_addr(0x30, 16).is_none(),
            "a 16-byte descriptor needs 16 bytes of table"
        );
        // An LDT selector with no LDT loaded.
        assert!(cpu.descriptor_addr(0x0C, 8).is_none());
    }
}
