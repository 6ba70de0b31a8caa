//! The x87 FPU state (SDM Vol. 1 8.1): the eight data registers, the control, status and tag
//! words, the last instruction and data pointers, and the stack and exception bookkeeping
//! every instruction shares.

use crate::cpu::softfloat::{Class, Ctx, Exc, F80};

/// Status-word bits (SDM Vol. 1 Figure 8-4).
pub mod sw {
    /// Invalid operation.
    pub const IE: u16 = 1 << 0;
    /// Denormal operand.
    pub const DE: u16 = 1 << 1;
    /// Zero divide.
    pub const ZE: u16 = 1 << 2;
    /// Overflow.
    pub const OE: u16 = 1 << 3;
    /// Underflow.
    pub const UE: u16 = 1 << 4;
    /// Precision.
    pub const PE: u16 = 1 << 5;
    /// Stack fault.
    pub const SF: u16 = 1 << 6;
    /// Error summary: an unmasked exception is pending.
    pub const ES: u16 = 1 << 7;
    /// Condition code C0.
    pub const C0: u16 = 1 << 8;
    /// Condition code C1.
    pub const C1: u16 = 1 << 9;
    /// Condition code C2.
    pub const C2: u16 = 1 << 10;
    /// The TOP field (bits 13:11).
    pub const TOP: u16 = 7 << 11;
    /// Condition code C3.
    pub const C3: u16 = 1 << 14;
    /// FPU busy (mirrors ES).
    pub const B: u16 = 1 << 15;
    /// The exception flags.
    pub const FLAGS: u16 = 0x3F;
    /// The four condition codes.
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// Control-word fields (SDM Vol. 1 Figure 8-6).
pub mod cw {
    /// The exception masks (bits 5:0).
    pub const MASKS: u16 = 0x3F;
    /// The bits FLDCW keeps: masks, PC, RC and the infinity control of the 287 (bit 12).
    pub const WRITABLE: u16 = 0x1F3F;
    /// Bit 6 reads as one.
    pub const FIXED: u16 = 0x0040;
    /// The control word FNINIT loads: all masked, 64-bit precision, round to nearest.
    pub const INIT: u16 = 0x037F;
}

/// The full 2-bit tags (SDM Vol. 1 8.1.7).
pub mod tag {
    /// A valid nonzero number.
    pub const VALID: u16 = 0;
    /// A zero.
    pub const ZERO: u16 = 1;
    /// NaN, infinity, denormal or an unsupported encoding.
    pub const SPECIAL: u16 = 2;
    /// Empty.
    pub const EMPTY: u16 = 3;
}

/// The x87 FPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fpu {
    /// The physical data registers R0–R7 (ST(i) is R((TOP + i) mod 8)).
    pub regs: [F80; 8],
    /// The control word.
    pub cw: u16,
    /// The status word without its TOP field (kept in `top`).
    pub sw: u16,
    /// TOP: the physical register that is ST(0).
    pub top: u8,
    /// Bit i set: R(i) is not empty. The processor keeps only this (the abridged tag of
    /// FXSAVE) and derives the 2-bit tags from the contents when it stores them.
    pub valid: u8,
    /// The last non-control instruction's offset (FPU instruction pointer).
    pub fip: u64,
    /// Its code-segment selector.
    pub fcs: u16,
    /// Its opcode: the low three bits of the first opcode byte, then the ModR/M byte.
    pub fop: u16,
    /// The last memory operand's offset (FPU data pointer).
    pub fdp: u64,
    /// Its segment selector.
    pub fds: u16,
    /// FERR# is asserted: a waiting instruction found an unmasked exception pending while
    /// CR0.NE was clear (the legacy DOS-compatible reporting; SDM Vol. 1 D.1).
    pub ferr: bool,
    /// The IGNNE# input: while it is asserted (and CR0.NE is clear) pending exceptions are
    /// ignored by waiting instructions.
    pub ignne: bool,
}

impl Default for Fpu {
    fn default() -> Fpu {
        Fpu::power_on()
    }
}

impl Fpu {
    /// The state after RESET (SDM Vol. 3A Table 10-1): FCW 0040H, FSW 0, all registers
    /// +0.0 and tagged as zeros (FTW 5555H), pointers 0.
    pub fn power_on() -> Fpu {
        Fpu {
            regs: [F80::ZERO; 8],
            cw: cw::FIXED,
            sw: 0,
            top: 0,
            valid: 0xFF,
            fip: 0,
            fcs: 0,
            fop: 0,
            fdp: 0,
            fds: 0,
            ferr: false,
            ignne: false,
        }
    }

    /// FNINIT (SDM Vol. 2A FINIT): FCW 037FH, FSW 0, all tags empty, pointers and opcode 0.
    /// The data registers keep their contents.
    pub fn init(&mut self) {
        self.cw = cw::INIT;
        self.sw = 0;
        self.top = 0;
        self.valid = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fop = 0;
        self.fdp = 0;
        self.fds = 0;
        self.ferr = false;
    }

    /// The physical register of ST(i).
    #[inline(always)]
    pub fn phys(&self, i: u8) -> usize {
        (self.top.wrapping_add(i) & 7) as usize
    }

    /// ST(i).
    #[inline(always)]
    pub fn st(&self, i: u8) -> F80 {
        self.regs[self.phys(i)]
    }

    /// Whether ST(i) is empty.
    #[inline(always)]
    pub fn empty(&self, i: u8) -> bool {
        self.valid & (1 << self.phys(i)) == 0
    }

    /// Writes ST(i) and tags it valid.
    #[inline(always)]
    pub fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.valid |= 1 << p;
    }

    /// Tags ST(i) empty.
    #[inline(always)]
    pub fn free(&mut self, i: u8) {
        self.valid &= !(1 << self.phys(i));
    }

    /// Pushes `v` (the caller has checked for stack overflow).
    #[inline]
    pub fn push(&mut self, v: F80) {
        self.top = self.top.wrapping_sub(1) & 7;
        self.set_st(0, v);
    }

    /// Pops ST(0): tags it empty and increments TOP.
    #[inline]
    pub fn pop(&mut self) {
        self.free(0);
        self.top = (self.top + 1) & 7;
    }

    /// The status word with TOP.
    #[inline]
    pub fn status(&self) -> u16 {
        self.sw | (self.top as u16) << 11
    }

    /// Loads the status word (TOP included).
    pub fn set_status(&mut self, v: u16) {
        self.sw = v & !sw::TOP;
        self.top = (v >> 11) as u8 & 7;
    }

    /// The control word as FSTCW stores it.
    #[inline]
    pub fn control(&self) -> u16 {
        self.cw
    }

    /// Loads the control word (FLDCW) and recomputes the error summary.
    pub fn set_control(&mut self, v: u16) {
        self.cw = v & cw::WRITABLE | cw::FIXED;
        self.update_es();
    }

    /// The arithmetic environment of the control word.
    #[inline]
    pub fn ctx(&self) -> Ctx {
        Ctx::x87(self.cw)
    }

    /// Sets the condition codes in `mask` to `bits`.
    #[inline]
    pub fn set_cc(&mut self, mask: u16, bits: u16) {
        self.sw = self.sw & !mask | bits & mask;
    }

    /// Sets or clears C1.
    #[inline]
    pub fn set_c1(&mut self, on: bool) {
        self.set_cc(sw::C1, if on { sw::C1 } else { 0 });
    }

    /// Records exceptions: their flags, and ES and B when one is unmasked (SDM Vol. 1 8.5).
    #[inline]
    pub fn raise(&mut self, e: Exc) {
        let bits = e.bits() as u16;
        self.sw |= bits;
        if bits & !self.cw & cw::MASKS != 0 {
            self.sw |= sw::ES | sw::B;
        }
    }

    /// Recomputes ES and B from the flags and masks (after FLDCW, FLDENV, FRSTOR).
    pub fn update_es(&mut self) {
        if self.sw & !self.cw & cw::MASKS != 0 {
            self.sw |= sw::ES | sw::B;
        } else {
            self.sw &= !(sw::ES | sw::B);
            self.ferr = false;
        }
    }

    /// Whether #IA is masked.
    #[inline]
    pub fn ie_masked(&self) -> bool {
        self.cw & sw::IE != 0
    }

    /// A stack fault (SDM Vol. 1 8.5.1.1): IE and SF, C1 = 1 for overflow, 0 for underflow.
    /// Returns whether the masked response applies.
    pub fn stack_fault(&mut self, overflow: bool) -> bool {
        self.set_c1(overflow);
        self.raise(Exc::IE);
        self.sw |= sw::SF;
        self.ie_masked()
    }

    /// Stack underflow on an operation that writes ST(`dst`) and then pops `pops` times:
    /// the masked response writes the real indefinite and pops.
    pub fn underflow(&mut self, dst: u8, pops: u8) {
        if self.stack_fault(false) {
            self.set_st(dst, F80::INDEFINITE);
            for _ in 0..pops {
                self.pop();
            }
        }
    }

    /// Stack overflow on a push: the masked response pushes the real indefinite.
    pub fn overflow(&mut self) {
        if self.stack_fault(true) {
            self.push(F80::INDEFINITE);
        }
    }

    /// The 2-bit tag of physical register `p`, derived from its contents.
    pub fn tag(&self, p: usize) -> u16 {
        if self.valid & (1 << p) == 0 {
            return tag::EMPTY;
        }
        let v = self.regs[p];
        match v.class() {
            Class::Zero => tag::ZERO,
            Class::Finite if v.exp() != 0 => tag::VALID,
            _ => tag::SPECIAL,
        }
    }

    /// The tag word as FSTENV and FSAVE store it (tags by physical register).
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0, |tw, p| tw | self.tag(p) << (2 * p))
    }

    /// Loads a tag word (FLDENV, FRSTOR): only "empty" or not matters; the processor
    /// derives the rest from the contents.
    pub fn set_tag_word(&mut self, tw: u16) {
        self.valid = (0..8).fold(0, |v, p| {
            v | if (tw >> (2 * p)) & 3 == tag::EMPTY {
                0
            } else {
                1 << p
            }
        });
    }

    /// The x87 part of an FXSAVE image (bytes 0–159 except MXCSR at 24–31), in the 64-bit
    /// layout with `rex_w` (FIP and FDP as 64-bit offsets) or the 32-bit one (selectors
    /// beside 32-bit offsets) (SDM Vol. 1 Tables 10-2, 10-3).
    pub fn fxsave_x87(&self, area: &mut [u8], rex_w: bool) {
        area[0..2].copy_from_slice(&self.cw.to_le_bytes());
        area[2..4].copy_from_slice(&self.status().to_le_bytes());
        area[4] = self.valid;
        area[5] = 0;
        area[6..8].copy_from_slice(&self.fop.to_le_bytes());
        if rex_w {
            area[8..16].copy_from_slice(&self.fip.to_le_bytes());
            area[16..24].copy_from_slice(&self.fdp.to_le_bytes());
        } else {
            area[8..12].copy_from_slice(&(self.fip as u32).to_le_bytes());
            area[12..14].copy_from_slice(&self.fcs.to_le_bytes());
            area[14..16].fill(0);
            area[16..20].copy_from_slice(&(self.fdp as u32).to_le_bytes());
            area[20..22].copy_from_slice(&self.fds.to_le_bytes());
            area[22..24].fill(0);
        }
        for i in 0..8u8 {
            let at = 32 + 16 * i as usize;
            // The registers in stack order (ST0 first).
            area[at..at + 10].copy_from_slice(&self.st(i).to_bytes());
            area[at + 10..at + 16].fill(0);
        }
    }

    /// Loads the x87 part of an FXRSTOR image (see [`Fpu::fxsave_x87`]).
    pub fn fxrstor_x87(&mut self, area: &[u8], rex_w: bool) {
        let u16_at = |i: usize| u16::from_le_bytes([area[i], area[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([area[i], area[i + 1], area[i + 2], area[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&area[i..i + 8]);
            u64::from_le_bytes(b)
        };
        self.cw = u16_at(0) & cw::WRITABLE | cw::FIXED;
        self.set_status(u16_at(2));
        self.valid = area[4];
        self.fop = u16_at(6) & 0x7FF;
        if rex_w {
            self.fip = u64_at(8);
            self.fdp = u64_at(16);
        } else {
            self.fip = u32_at(8) as u64;
            self.fcs = u16_at(12);
            self.fdp = u32_at(16) as u64;
            self.fds = u16_at(20);
        }
        for i in 0..8u8 {
            let at = 32 + 16 * i as usize;
            let mut b = [0u8; 10];
            b.copy_from_slice(&area[at..at + 10]);
            let p = self.phys(i);
            self.regs[p] = F80::from_bytes(b);
        }
        self.update_es();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_wraps_and_tags_follow_the_contents() {
        let mut f = Fpu::power_on();
        assert_eq!(f.tag_word(), 0x5555, "RESET: eight zeros");
        f.init();
        assert_eq!(f.tag_word(), 0xFFFF);
        assert_eq!(f.control(), 0x037F);
        f.push(F80::ONE);
        assert_eq!(f.top, 7);
        assert_eq!(f.status() & sw::TOP, 7 << 11);
        f.push(F80::inf(true));
        f.push(F80 { se: 0, m: 1 });
        f.push(F80::ZERO);
        // R7 = 1.0 (valid), R6 = -inf (special), R5 = denormal (special), R4 = 0 (zero).
        assert_eq!(f.tag_word(), 0b00_10_10_01_11_11_11_11);
        assert_eq!(f.st(3), F80::ONE);
        f.pop();
        assert!(f.empty(7));
        assert_eq!(f.st(0), F80 { se: 0, m: 1 });
    }

    #[test]
    fn unmasked_exceptions_set_the_error_summary() {
        let mut f = Fpu::power_on();
        f.init();
        f.raise(Exc::PE);
        assert_eq!(f.status(), sw::PE, "masked: no ES");
        f.set_control(0x037F & !(sw::PE));
        assert_eq!(
            f.status(),
            sw::PE | sw::ES | sw::B,
            "unmasking a raised flag"
        );
        f.set_control(0x037F);
        assert_eq!(f.status(), sw::PE);
        assert!(f.stack_fault(true));
        assert_eq!(f.status(), sw::PE | sw::IE | sw::SF | sw::C1);
    }

    #[test]
    fn fxsave_images_round_trip() {
        let mut f = Fpu::power_on();
        f.init();
        f.push(F80::ONE);
        f.fip = 0x1234_5678_9ABC;
        f.fop = 0x5E9;
        let mut a = [0u8; 512];
        f.fxsave_x87(&mut a, true);
        assert_eq!(a[4], 0x80);
        assert_eq!(&a[32..42], &F80::ONE.to_bytes());
        let mut g = Fpu::power_on();
        g.fxrstor_x87(&a, true);
        assert_eq!(g, f);
    }
}
