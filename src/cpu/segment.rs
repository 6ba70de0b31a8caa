//! Segment registers: the visible selector, the hidden descriptor cache, and the offset windows
//! the memory fast path checks accesses against.

use super::state::Mode;

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
    /// Loads segment register `seg` with `selector` as MOV, POP and LDS/LES/… do: real and
    /// virtual-8086 mode set base = selector << 4 (protected mode: to be written).
    pub fn load_seg(&mut self, seg: u8, selector: u16) -> Result<(), super::Fault> {
        let mode = self.mode;
        let s = &mut self.segs[(seg & 7) as usize];
        s.selector = selector;
        s.base = (selector as u64) << 4;
        s.refresh(mode, seg);
        Ok(())
    }
}
