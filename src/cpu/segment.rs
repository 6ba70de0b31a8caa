//! Segment registers: the visible selector, the hidden descriptor cache, and the offset windows
//! the memory fast path checks accesses against.

use super::descriptor::{selector_null, selector_rpl, Descriptor};
use super::fault::Fault;
use super::state::{sreg, Mode};

/// Attribute bits of a segment descriptor cache: the descriptor's access byte in bits 0–7 and
/// its flags nibble (AVL, L, D/B, G) in bits 8–11 (SDM Vol. 3A 3.4.5).
pub mod attr {
    /// Segment type (four bits).
    pub const TYPE: u16 = 0xF;
    /// Accessed (code/data types).
    pub const ACCESSED: u16 = 1 << 0;
    /// Data: writable. Code: readable.
    pub const RW: u16 = 1 << 1;
    /// Data: expand-down. Code: conforming.
    pub const DC: u16 = 1 << 2;
    /// Code segment (with S = 1).
    pub const CODE: u16 = 1 << 3;
    /// S: code or data (1) rather than system (0).
    pub const S: u16 = 1 << 4;
    /// Descriptor privilege level (two bits).
    pub const DPL_SHIFT: u16 = 5;
    /// Present.
    pub const P: u16 = 1 << 7;
    /// Available to software.
    pub const AVL: u16 = 1 << 8;
    /// 64-bit code segment.
    pub const L: u16 = 1 << 9;
    /// Default operation size (code) / big (stack, expand-down bound).
    pub const DB: u16 = 1 << 10;
    /// Granularity: limit in 4-KiB units.
    pub const G: u16 = 1 << 11;
    /// Not from the descriptor: the cache holds a null selector and any access faults.
    pub const UNUSABLE: u16 = 1 << 15;
    /// A present, writable, accessed data segment (what real mode and resets load).
    pub const DATA_RW: u16 = P | S | RW | ACCESSED;
    /// A present, readable, accessed code segment.
    pub const CODE_RX: u16 = P | S | CODE | RW | ACCESSED;
}

/// An empty window: no offset passes `lo <= off && off + n - 1 <= hi`.
const CLOSED: (u64, u64) = (u64::MAX, 0);

/// A segment register with its descriptor cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The visible selector.
    pub selector: u16,
    /// Cached attributes (see [`attr`]).
    pub attr: u16,
    /// Cached limit in bytes (already scaled by G).
    pub limit: u32,
    /// Cached base address.
    pub base: u64,
    /// The base that linear addresses use: 0 for ES/CS/SS/DS in 64-bit mode.
    pub lin_base: u64,
    /// Lowest offset a read may touch.
    pub read_lo: u64,
    /// Highest offset a read may touch.
    pub read_hi: u64,
    /// Lowest offset a write may touch.
    pub write_lo: u64,
    /// Highest offset a write may touch.
    pub write_hi: u64,
}

impl Segment {
    /// A real-mode segment for `selector`: base `selector << 4`, limit 64 KiB, read/write.
    pub fn real(selector: u16) -> Segment {
        Segment::from_cache(selector, (selector as u64) << 4, 0xFFFF, attr::DATA_RW)
    }

    /// A virtual-8086-mode segment for `selector`: base `selector << 4`, limit 64 KiB, a
    /// read/write data segment at DPL 3 (SDM Vol. 3A 20.1.1).
    pub fn v86(selector: u16) -> Segment {
        Segment::from_cache(
            selector,
            (selector as u64) << 4,
            0xFFFF,
            attr::DATA_RW | 3 << attr::DPL_SHIFT,
        )
    }

    /// The cache of a segment register loaded with a null selector: unusable, so that any
    /// access outside 64-bit mode raises #GP(0) (SDM Vol. 3A 3.4.2). Intel processors clear
    /// the base too (what Linux calls the absence of X86_BUG_NULL_SEG).
    pub fn null(selector: u16) -> Segment {
        Segment::from_cache(
            selector,
            0,
            0,
            attr::UNUSABLE | ((selector & 3) << attr::DPL_SHIFT),
        )
    }

    /// A segment with the given cache contents; call [`Segment::refresh`] before use.
    pub fn from_cache(selector: u16, base: u64, limit: u32, attr: u16) -> Segment {
        let mut s = Segment {
            selector,
            attr,
            limit,
            base,
            lin_base: base,
            read_lo: 0,
            read_hi: limit as u64,
            write_lo: 0,
            write_hi: limit as u64,
        };
        s.refresh(Mode::Real, 0);
        s
    }

    /// The descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.attr >> attr::DPL_SHIFT) & 3) as u8
    }

    /// The requested privilege level of the selector.
    pub fn rpl(&self) -> u8 {
        (self.selector & 3) as u8
    }

    /// Whether the cache holds a code segment.
    pub fn is_code(&self) -> bool {
        self.attr & (attr::S | attr::CODE) == attr::S | attr::CODE
    }

    /// Whether the cache holds a conforming code segment.
    pub fn conforming(&self) -> bool {
        self.is_code() && self.attr & attr::DC != 0
    }

    /// D/B: 32-bit default size.
    pub fn big(&self) -> bool {
        self.attr & attr::DB != 0
    }

    /// L: 64-bit code segment.
    pub fn long(&self) -> bool {
        self.attr & attr::L != 0
    }

    /// Whether the cache is usable at all (not loaded from a null selector).
    pub fn usable(&self) -> bool {
        self.attr & attr::UNUSABLE == 0
    }

    /// Recomputes the linear base and the fast-path offset windows after the cache or the
    /// mode changed. `index` is the segment register number (`sreg::*`).
    pub fn refresh(&mut self, mode: Mode, index: u8) {
        use super::state::sreg;
        self.lin_base = self.base;
        let (read, write) = match mode {
            Mode::Long => {
                // SDM Vol. 3A 3.2.4: no limit checks in 64-bit mode, and only FS/GS bases apply.
                if index != sreg::FS && index != sreg::GS {
                    self.lin_base = 0;
                }
                ((0, u64::MAX), (0, u64::MAX))
            }
            Mode::Real | Mode::V8086 => {
                // Real mode checks only the cached limit (which unreal mode leaves large).
                let w = (0, self.limit as u64);
                (w, w)
            }
            Mode::Protected | Mode::Compat => {
                if !self.usable() || self.attr & attr::P == 0 {
                    (CLOSED, CLOSED)
                } else {
                    let span = if self.attr & attr::CODE == 0 && self.attr & attr::DC != 0 {
                        // Expand-down data: valid offsets lie above the limit (SDM Vol. 3A 3.4.5.1).
                        let top = if self.big() { 0xFFFF_FFFF } else { 0xFFFF };
                        ((self.limit as u64).saturating_add(1), top)
                    } else {
                        (0, self.limit as u64)
                    };
                    let is_code = self.attr & attr::CODE != 0;
                    let readable = !is_code || self.attr & attr::RW != 0;
                    let writable = !is_code && self.attr & attr::RW != 0;
                    (
                        if readable { span } else { CLOSED },
                        if writable { span } else { CLOSED },
                    )
                }
            }
        };
        (self.read_lo, self.read_hi) = read;
        (self.write_lo, self.write_hi) = write;
    }

    /// Whether an `n`-byte read at `off` passes the fast-path window.
    #[inline(always)]
    pub fn read_ok(&self, off: u64, n: u64) -> bool {
        off >= self.read_lo && off.wrapping_add(n - 1) <= self.read_hi
    }

    /// Whether an `n`-byte write at `off` passes the fast-path window.
    #[inline(always)]
    pub fn write_ok(&self, off: u64, n: u64) -> bool {
        off >= self.write_lo && off.wrapping_add(n - 1) <= self.write_hi
    }
}

impl Default for Segment {
    fn default() -> Self {
        Segment::real(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::state::sreg;

    #[test]
    fn real_mode_window_is_the_cached_limit() {
        let s = Segment::real(0x1234);
        assert_eq!(s.base, 0x12340);
        assert!(s.read_ok(0xFFFE, 2));
        assert!(
            !s.read_ok(0xFFFF, 2),
            "a 286+ faults on a word at offset 0xFFFF"
        );
    }

    #[test]
    fn expand_down_windows_lie_above_the_limit() {
        let mut s = Segment::from_cache(0x10, 0, 0x0FFF, attr::DATA_RW | attr::DC);
        s.refresh(Mode::Protected, sreg::SS);
        assert!(!s.read_ok(0x0FFF, 1));
        assert!(s.read_ok(0x1000, 4) && s.write_ok(0xFFFC, 4));
        assert!(
            !s.read_ok(0xFFFE, 4),
            "16-bit expand-down tops out at 0xFFFF"
        );
    }

    #[test]
    fn code_segments_never_take_writes() {
        let mut s = Segment::from_cache(0x8, 0, 0xFFFF_FFFF, attr::CODE_RX);
        s.refresh(Mode::Protected, sreg::CS);
        assert!(s.read_ok(0x100, 4));
        assert!(!s.write_ok(0x100, 4));
    }

    #[test]
    fn long_mode_ignores_limits_and_most_bases() {
        let mut s = Segment::from_cache(0x10, 0x1000, 0xFFFF, attr::DATA_RW);
        s.refresh(Mode::Long, sreg::DS);
        assert_eq!(s.lin_base, 0);
        assert!(s.write_ok(0xFFFF_FFFF_0000, 8));
        s.refresh(Mode::Long, sreg::FS);
        assert_eq!(s.lin_base, 0x1000);
    }
}

impl super::Cpu {
    /// Loads segment register `seg` (not CS) with `selector` as MOV, POP and LDS/LES/… do.
    /// Real mode changes only the selector and base (the limit and attributes stay, which is
    /// what unreal mode relies on); virtual-8086 mode loads a 64-KiB DPL-3 segment; protected,
    /// compatibility and 64-bit mode check the descriptor (SDM Vol. 2 MOV, Vol. 3A 5.5-5.7).
    pub fn load_seg(&mut self, seg: u8, selector: u16) -> Result<(), Fault> {
        let mode = self.mode;
        match mode {
            Mode::Real => {
                // The cache becomes a present, writable data segment at DPL 0 again (usable
                // after a null load in protected mode); the limit and the G/B bits stay.
                let s = &mut self.segs[(seg & 7) as usize];
                s.selector = selector;
                s.base = (selector as u64) << 4;
                s.attr = (s.attr & (attr::AVL | attr::L | attr::DB | attr::G)) | attr::DATA_RW;
                s.refresh(mode, seg);
                Ok(())
            }
            Mode::V8086 => {
                self.set_seg(seg, Segment::v86(selector));
                Ok(())
            }
            _ => self.load_seg_protected(seg, selector),
        }
    }

    /// The descriptor checks of a data-segment or SS load outside real and virtual-8086 mode.
    fn load_seg_protected(&mut self, seg: u8, sel: u16) -> Result<(), Fault> {
        let code = Fault::selector_code(sel);
        if seg == sreg::SS {
            if selector_null(sel) {
                // SDM Vol. 2 MOV: 64-bit mode allows a null SS below CPL 3 if RPL = CPL.
                if self.mode == Mode::Long && self.cpl != 3 && selector_rpl(sel) == self.cpl {
                    self.set_seg(seg, Segment::null(sel));
                    return Ok(());
                }
                return Err(Fault::GP0);
            }
            let d = self.fetch_descriptor(sel, Fault::gp(code))?;
            if selector_rpl(sel) != self.cpl || !d.writable() || d.dpl() != self.cpl {
                return Err(Fault::gp(code));
            }
            if !d.present() {
                return Err(Fault::ss(code));
            }
            self.set_descriptor_accessed(sel, d)?;
            self.set_seg(seg, d.to_segment(sel));
            return Ok(());
        }
        if selector_null(sel) {
            // A null selector loads DS/ES/FS/GS without a fault; using it faults later.
            self.set_seg(seg, Segment::null(sel));
            return Ok(());
        }
        let d = self.fetch_descriptor(sel, Fault::gp(code))?;
        self.check_data_descriptor(sel, d, self.cpl, Fault::gp(code))?;
        if !d.present() {
            return Err(Fault::np(code));
        }
        self.set_descriptor_accessed(sel, d)?;
        self.set_seg(seg, d.to_segment(sel));
        Ok(())
    }

    /// The type and privilege rule for DS/ES/FS/GS (SDM Vol. 3A 5.6): a data or readable
    /// code segment, and for data or non-conforming code, RPL <= DPL and `cpl` <= DPL.
    pub(crate) fn check_data_descriptor(
        &self,
        sel: u16,
        d: Descriptor,
        cpl: u8,
        fault: Fault,
    ) -> Result<(), Fault> {
        if !d.readable() {
            return Err(fault);
        }
        if !d.conforming() && (selector_rpl(sel) > d.dpl() || cpl > d.dpl()) {
            return Err(fault);
        }
        Ok(())
    }

    /// Replaces segment register `seg`'s selector and cache and recomputes its windows.
    pub(crate) fn set_seg(&mut self, seg: u8, mut s: Segment) {
        s.refresh(self.mode, seg);
        self.segs[(seg & 7) as usize] = s;
    }

    /// Loads CS from a checked descriptor with RPL = `cpl`, sets CPL, and recomputes the mode
    /// (CS.L and CS.D decide it). The caller has set the accessed bit.
    pub(crate) fn load_cs(&mut self, sel: u16, d: Descriptor, cpl: u8) {
        self.segs[sreg::CS as usize] = d.to_segment((sel & 0xFFFC) | cpl as u16);
        self.set_cpl(cpl);
        self.update_mode();
    }

    /// After a return to an outer privilege level (RET far, IRET), ES, DS, FS and GS become
    /// null if they hold a selector the new CPL may not use: a data or non-conforming code
    /// segment with DPL < CPL (SDM Vol. 2 RET, IRET). The base stays, as FS/GS bases set
    /// through MSRs survive a return to 64-bit user code.
    pub(crate) fn null_inaccessible_data_segs(&mut self) {
        let cpl = self.cpl;
        for seg in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            let s = &mut self.segs[seg as usize];
            if selector_null(s.selector) || !s.usable() || (s.dpl() < cpl && !s.conforming()) {
                s.selector = 0;
                s.attr |= attr::UNUSABLE;
                let mode = self.mode;
                s.refresh(mode, seg);
            }
        }
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;
    use crate::cpu::setup::{descriptor, gdt};
    use crate::cpu::{Cpu, Model};
    use crate::mem::PhysMem;

    const GDT: u64 = 0x1000;

    /// A flat protected-mode CPU with extra descriptors from index 7 on.
    fn cpu_with(extra: &[u64]) -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_protected_flat(GDT);
        for (i, d) in extra.iter().enumerate() {
            cpu.mem
                .write_bytes(GDT + (7 + i as u64) * 8, &d.to_le_bytes())
                .unwrap();
        }
        cpu.gdtr.limit = ((7 + extra.len()) * 8 - 1) as u32;
        cpu
    }

    fn data(dpl: u16, a: u16) -> u64 {
        descriptor(0x10000, 0xFFFF, a | dpl << attr::DPL_SHIFT)
    }

    #[test]
    fn data_load_sets_cache_and_accessed_bit() {
        let mut cpu = cpu_with(&[data(0, attr::P | attr::S | attr::RW)]);
        cpu.load_seg(sreg::DS, 0x38).unwrap();
        let ds = *cpu.seg(sreg::DS);
        assert_eq!((ds.selector, ds.base, ds.limit), (0x38, 0x10000, 0xFFFF));
        assert!(ds.read_ok(0xFFFF, 1) && !ds.read_ok(0xFFFF, 2));
        let byte5 = cpu.mem.read_u8(GDT + 0x38 + 5).unwrap();
        assert_eq!(byte5 & 1, 1, "the accessed bit is set in the GDT");
    }

    #[test]
    fn null_selectors() {
        let mut cpu = cpu_with(&[]);
        cpu.load_seg(sreg::ES, 0x0003).unwrap();
        assert!(!cpu.seg(sreg::ES).usable());
        assert_eq!(cpu.seg(sreg::ES).selector, 3);
        assert_eq!(
            cpu.read::<crate::cpu::U8>(sreg::ES, 0),
            Err(Fault::GP0),
            "using a null segment is #GP(0)"
        );
        assert_eq!(cpu.load_seg(sreg::SS, 0), Err(Fault::GP0));
    }

    #[test]
    fn null_ss_in_64_bit_mode_needs_rpl_equal_cpl_below_3() {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_long_mode(GDT, 0x10000, 1);
        assert_eq!(cpu.load_seg(sreg::SS, 1), Err(Fault::GP0));
        cpu.load_seg(sreg::SS, 0).unwrap();
        assert_eq!(cpu.seg(sreg::SS).selector, 0);
    }

    #[test]
    fn privilege_and_type_checks() {
        let mut cpu = cpu_with(&[
            data(0, attr::P | attr::S | attr::RW), // 0x38: DPL 0 data
            descriptor(0, 0xFFFF, attr::P | attr::S | attr::CODE), // 0x40: execute-only code
            descriptor(
                0,
                0xFFFF,
                attr::P | attr::S | attr::CODE | attr::RW | attr::DC,
            ), // 0x48: conforming readable, DPL 0
            data(3, attr::S | attr::RW),           // 0x50: not present
            data(0, attr::P | attr::S),            // 0x58: read-only data
        ]);
        cpu.set_cpl(3);
        assert_eq!(
            cpu.load_seg(sreg::DS, 0x3B),
            Err(Fault::gp(0x38)),
            "CPL 3 may not load DPL 0 data"
        );
        assert_eq!(
            cpu.load_seg(sreg::DS, 0x40 | 3),
            Err(Fault::gp(0x40)),
            "execute-only code is not readable"
        );
        cpu.load_seg(sreg::DS, 0x48 | 3).unwrap();
        assert_eq!(cpu.load_seg(sreg::FS, 0x53), Err(Fault::np(0x50)));
        assert_eq!(cpu.load_seg(sreg::SS, 0x53), Err(Fault::ss(0x50)));
        cpu.set_cpl(0);
        assert_eq!(
            cpu.load_seg(sreg::DS, 0x3B),
            Err(Fault::gp(0x38)),
            "RPL 3 > DPL 0"
        );
        assert_eq!(
            cpu.load_seg(sreg::SS, 0x58),
            Err(Fault::gp(0x58)),
            "SS must be writable"
        );
        assert_eq!(
            cpu.load_seg(sreg::SS, 0x3B),
            Err(Fault::gp(0x38)),
            "SS RPL must equal CPL"
        );
        assert_eq!(
            cpu.load_seg(sreg::SS, 0x60),
            Err(Fault::gp(0x60)),
            "beyond the GDT limit"
        );
        assert_eq!(cpu.load_seg(sreg::SS, 0x04), Err(Fault::gp(0x04)), "no LDT");
        cpu.load_seg(sreg::SS, gdt::DATA).unwrap();
    }

    #[test]
    fn real_mode_loads_keep_the_limit_and_make_the_cache_usable() {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.segs[sreg::DS as usize] =
            Segment::from_cache(0, 0, 0xFFFF_FFFF, attr::UNUSABLE | attr::G | attr::DB);
        cpu.load_seg(sreg::DS, 0x1000).unwrap();
        let ds = *cpu.seg(sreg::DS);
        assert!(ds.usable());
        assert_eq!(
            (ds.base, ds.limit),
            (0x10000, 0xFFFF_FFFF),
            "unreal mode keeps its limit"
        );
        assert_eq!(ds.attr, attr::DATA_RW | attr::G | attr::DB);
    }

    #[test]
    fn virtual_8086_loads_real_style_segments() {
        let mut cpu = cpu_with(&[]);
        cpu.write_flags(crate::cpu::flags::bit::VM, crate::cpu::flags::bit::VM);
        assert_eq!(cpu.mode, Mode::V8086);
        cpu.load_seg(sreg::DS, 0x1234).unwrap();
        let ds = *cpu.seg(sreg::DS);
        assert_eq!((ds.base, ds.limit, ds.dpl()), (0x12340, 0xFFFF, 3));
    }
}
