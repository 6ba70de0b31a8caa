//! Lazy arithmetic flags (the QEMU `CC_OP` model): arithmetic records its kind, operands and
//! result; CF, PF, AF, ZF, SF and OF are computed only when something reads them.

/// RFLAGS bits (SDM Vol. 1 3.4.3), named as in the manual.
pub mod bit {
    /// Carry flag.
    pub const CF: u64 = 1 << 0;
    /// Bit 1 reads as one.
    pub const FIXED1: u64 = 1 << 1;
    /// Parity flag (even parity of the result's low byte).
    pub const PF: u64 = 1 << 2;
    /// Auxiliary carry (carry out of bit 3).
    pub const AF: u64 = 1 << 4;
    /// Zero flag.
    pub const ZF: u64 = 1 << 6;
    /// Sign flag.
    pub const SF: u64 = 1 << 7;
    /// Trap flag (single step).
    pub const TF: u64 = 1 << 8;
    /// Interrupt enable flag.
    pub const IF: u64 = 1 << 9;
    /// Direction flag.
    pub const DF: u64 = 1 << 10;
    /// Overflow flag.
    pub const OF: u64 = 1 << 11;
    /// I/O privilege level (two bits).
    pub const IOPL: u64 = 3 << 12;
    /// Nested task.
    pub const NT: u64 = 1 << 14;
    /// Resume flag.
    pub const RF: u64 = 1 << 16;
    /// Virtual-8086 mode.
    pub const VM: u64 = 1 << 17;
    /// Alignment check / access control (SMAP).
    pub const AC: u64 = 1 << 18;
    /// Virtual interrupt flag.
    pub const VIF: u64 = 1 << 19;
    /// Virtual interrupt pending.
    pub const VIP: u64 = 1 << 20;
    /// CPUID available (software can toggle it).
    pub const ID: u64 = 1 << 21;
    /// The six arithmetic flags, the ones kept lazily.
    pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
}

use bit::*;

/// What produced the arithmetic flags, and therefore how to compute them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FlagOp {
    /// The arithmetic flags are stored plainly in `bits`.
    Done,
    /// `res = a + b`.
    Add,
    /// `res = a + b + 1` (ADC with CF set).
    Adc,
    /// `res = a - b` (also CMP, NEG as `0 - b`).
    Sub,
    /// `res = a - b - 1` (SBB with CF set).
    Sbb,
    /// AND/OR/XOR/TEST: CF = OF = AF = 0.
    Logic,
    /// `res = a + 1`; `b` holds the CF that INC leaves alone.
    Inc,
    /// `res = a - 1`; `b` holds the CF that DEC leaves alone.
    Dec,
    /// `res = a << b` with `b` >= 1 (above the width only on the 8086).
    Shl,
    /// `res = a >> b` (logical) with `b` >= 1.
    Shr,
    /// `res = a >> b` (arithmetic) with `b` >= 1.
    Sar,
}

/// RFLAGS with the arithmetic part kept lazily.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// How the arithmetic flags are to be computed.
    pub op: FlagOp,
    /// Operand width in bits (8, 16, 32 or 64) of the recorded operation.
    pub width: u8,
    /// First operand.
    pub a: u64,
    /// Second operand (or the saved CF for INC/DEC, the count for shifts).
    pub b: u64,
    /// Result, truncated to `width`.
    pub res: u64,
    /// All other RFLAGS bits; the arithmetic ones too while `op` is `Done`.
    pub bits: u64,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            op: FlagOp::Done,
            width: 8,
            a: 0,
            b: 0,
            res: 0,
            bits: FIXED1,
        }
    }
}

#[inline(always)]
fn sign_of(width: u8) -> u64 {
    1u64 << (width - 1)
}

#[inline(always)]
fn sext(v: u64, width: u8) -> i64 {
    let sh = 64 - width as u32;
    ((v << sh) as i64) >> sh
}

impl Flags {
    /// Records an arithmetic result for lazy evaluation.
    #[inline(always)]
    pub fn set_lazy(&mut self, op: FlagOp, width: u8, a: u64, b: u64, res: u64) {
        self.op = op;
        self.width = width;
        self.a = a;
        self.b = b;
        self.res = res;
    }

    /// CF.
    #[inline]
    pub fn cf(&self) -> bool {
        let w = self.width;
        match self.op {
            FlagOp::Done => self.bits & CF != 0,
            FlagOp::Add => self.res < self.a,
            FlagOp::Adc => self.res <= self.a,
            FlagOp::Sub => self.a < self.b,
            FlagOp::Sbb => self.a <= self.b,
            FlagOp::Logic => false,
            FlagOp::Inc | FlagOp::Dec => self.b != 0,
            FlagOp::Shl => self.b <= w as u64 && (self.a >> (w as u64 - self.b)) & 1 != 0,
            FlagOp::Shr => self.b <= w as u64 && (self.a >> (self.b - 1)) & 1 != 0,
            FlagOp::Sar => (sext(self.a, w) >> (self.b - 1).min(63)) & 1 != 0,
        }
    }

    /// ZF.
    #[inline]
    pub fn zf(&self) -> bool {
        match self.op {
            FlagOp::Done => self.bits & ZF != 0,
            _ => self.res == 0,
        }
    }

    /// SF.
    #[inline]
    pub fn sf(&self) -> bool {
        match self.op {
            FlagOp::Done => self.bits & SF != 0,
            _ => self.res & sign_of(self.width) != 0,
        }
    }

    /// PF: even parity of the low byte of the result.
    #[inline]
    pub fn pf(&self) -> bool {
        match self.op {
            FlagOp::Done => self.bits & PF != 0,
            _ => (self.res as u8).count_ones() & 1 == 0,
        }
    }

    /// AF: carry or borrow out of bit 3.
    #[inline]
    pub fn af(&self) -> bool {
        match self.op {
            FlagOp::Done => self.bits & AF != 0,
            FlagOp::Add | FlagOp::Adc | FlagOp::Sub | FlagOp::Sbb => {
                (self.a ^ self.b ^ self.res) & 0x10 != 0
            }
            FlagOp::Inc => self.res & 0xF == 0,
            FlagOp::Dec => self.res & 0xF == 0xF,
            FlagOp::Logic | FlagOp::Shl | FlagOp::Shr | FlagOp::Sar => false,
        }
    }

    /// OF.
    #[inline]
    pub fn of(&self) -> bool {
        let s = sign_of(self.width);
        match self.op {
            FlagOp::Done => self.bits & OF != 0,
            FlagOp::Add | FlagOp::Adc => (self.a ^ self.res) & (self.b ^ self.res) & s != 0,
            FlagOp::Sub | FlagOp::Sbb => (self.a ^ self.b) & (self.a ^ self.res) & s != 0,
            FlagOp::Logic | FlagOp::Sar => false,
            FlagOp::Inc => self.res == s,
            FlagOp::Dec => self.res == s - 1,
            // Defined for a 1-bit shift (MSB(res) XOR CF, i.e. the top two bits of the operand
            // differ); Intel hardware gives the same formula for larger counts.
            FlagOp::Shl => (self.a ^ (self.a << 1)) & s != 0,
            FlagOp::Shr => self.a & s != 0,
        }
    }

    /// The six arithmetic flags as RFLAGS bits.
    #[inline]
    pub fn arith(&self) -> u64 {
        if self.op == FlagOp::Done {
            return self.bits & ARITH;
        }
        ((self.cf() as u64) * CF)
            | ((self.pf() as u64) * PF)
            | ((self.af() as u64) * AF)
            | ((self.zf() as u64) * ZF)
            | ((self.sf() as u64) * SF)
            | ((self.of() as u64) * OF)
    }

    /// The whole RFLAGS value.
    #[inline]
    pub fn get(&self) -> u64 {
        (self.bits & !ARITH) | self.arith() | FIXED1
    }

    /// Replaces the whole RFLAGS value (the caller has applied any privilege rules).
    #[inline]
    pub fn set(&mut self, v: u64) {
        self.bits = (v & !(0x8 | 0x20 | 0x8000)) | FIXED1;
        self.op = FlagOp::Done;
    }

    /// Computes the arithmetic flags into `bits` so single flags can be changed.
    #[inline]
    pub fn materialize(&mut self) {
        if self.op != FlagOp::Done {
            self.bits = (self.bits & !ARITH) | self.arith();
            self.op = FlagOp::Done;
        }
    }

    /// Sets or clears the given arithmetic flag bits, keeping the others.
    #[inline]
    pub fn assign(&mut self, mask: u64, on: bool) {
        self.materialize();
        if on {
            self.bits |= mask;
        } else {
            self.bits &= !mask;
        }
    }

    /// Replaces the arithmetic flags in `mask` with those of `value`.
    #[inline]
    pub fn set_arith(&mut self, mask: u64, value: u64) {
        self.materialize();
        self.bits = (self.bits & !mask) | (value & mask);
    }

    /// Sets ZF, SF and PF from `res` of width `width`, with CF, OF, AF given.
    #[inline]
    pub fn set_result(&mut self, width: u8, res: u64, cf: bool, of: bool, af: bool) {
        let res = res & (u64::MAX >> (64 - width as u32));
        let v = ((cf as u64) * CF)
            | ((((res as u8).count_ones() & 1 == 0) as u64) * PF)
            | ((af as u64) * AF)
            | (((res == 0) as u64) * ZF)
            | ((((res & sign_of(width)) != 0) as u64) * SF)
            | ((of as u64) * OF);
        self.bits = (self.bits & !ARITH) | v;
        self.op = FlagOp::Done;
    }

    /// Whether a control flag (IF, DF, TF, …) is set.
    #[inline(always)]
    pub fn has(&self, mask: u64) -> bool {
        self.bits & mask != 0
    }

    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc: 0 = O … 15 = G).
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        let base = match self.op {
            FlagOp::Sub => {
                let (a, b, w) = (self.a, self.b, self.width);
                match cc >> 1 {
                    1 => Some(a < b),
                    2 => Some(a == b),
                    3 => Some(a <= b),
                    6 => Some(sext(a, w) < sext(b, w)),
                    7 => Some(sext(a, w) <= sext(b, w)),
                    _ => None,
                }
            }
            FlagOp::Logic => match cc >> 1 {
                0 | 1 => Some(false),
                2 | 3 => Some(self.res == 0),
                _ => None,
            },
            _ => None,
        };
        let v = match base {
            Some(v) => v,
            None => match cc >> 1 {
                0 => self.of(),
                1 => self.cf(),
                2 => self.zf(),
                3 => self.cf() || self.zf(),
                4 => self.sf(),
                5 => self.pf(),
                6 => self.sf() != self.of(),
                _ => self.zf() || (self.sf() != self.of()),
            },
        };
        v ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags as a string of the letters that are set, in the manual's order.
    fn letters(f: &Flags) -> String {
        let v = f.get();
        [
            (OF, 'O'),
            (SF, 'S'),
            (ZF, 'Z'),
            (AF, 'A'),
            (PF, 'P'),
            (CF, 'C'),
        ]
        .iter()
        .filter(|(m, _)| v & m != 0)
        .map(|(_, c)| *c)
        .collect()
    }

    fn run(op: FlagOp, width: u8, a: u64, b: u64, res: u64) -> String {
        let mut f = Flags::default();
        f.set_lazy(op, width, a, b, res);
        letters(&f)
    }

    #[test]
    fn add_table() {
        // (a, b) -> flags, 8-bit
        assert_eq!(run(FlagOp::Add, 8, 0x7F, 0x01, 0x80), "OSA");
        assert_eq!(run(FlagOp::Add, 8, 0xFF, 0x01, 0x00), "ZAPC");
        assert_eq!(run(FlagOp::Add, 8, 0x80, 0x80, 0x00), "OZPC");
        assert_eq!(run(FlagOp::Add, 8, 0x0F, 0x01, 0x10), "A");
        assert_eq!(run(FlagOp::Add, 32, 0xFFFF_FFFF, 1, 0), "ZAPC");
        assert_eq!(run(FlagOp::Adc, 8, 0xFF, 0x00, 0x00), "ZAPC");
        assert_eq!(run(FlagOp::Adc, 16, 0x7FFF, 0x0000, 0x8000), "OSAP");
    }

    #[test]
    fn sub_table() {
        assert_eq!(run(FlagOp::Sub, 8, 0x00, 0x01, 0xFF), "SAPC");
        assert_eq!(run(FlagOp::Sub, 8, 0x80, 0x01, 0x7F), "OA");
        assert_eq!(run(FlagOp::Sub, 8, 0x05, 0x05, 0x00), "ZP");
        assert_eq!(run(FlagOp::Sbb, 8, 0x05, 0x05, 0xFF), "SAPC");
        // NEG is 0 - b.
        assert_eq!(run(FlagOp::Sub, 8, 0, 0x80, 0x80), "OSC");
        assert_eq!(run(FlagOp::Sub, 64, 0, 0, 0), "ZP");
    }

    #[test]
    fn inc_dec_keep_cf() {
        assert_eq!(run(FlagOp::Inc, 8, 0x7F, 1, 0x80), "OSAC");
        assert_eq!(run(FlagOp::Dec, 8, 0x80, 0, 0x7F), "OA");
        assert_eq!(run(FlagOp::Dec, 16, 0x0001, 0, 0x0000), "ZP");
    }

    #[test]
    fn logic_and_shifts() {
        assert_eq!(run(FlagOp::Logic, 8, 0, 0, 0x80), "S");
        assert_eq!(run(FlagOp::Logic, 32, 0, 0, 0), "ZP");
        // SHL 0x81 by 1 = 0x02, CF = 1, OF = MSB(res) ^ CF = 1.
        assert_eq!(run(FlagOp::Shl, 8, 0x81, 1, 0x02), "OC");
        // SHR 0x81 by 1 = 0x40, CF = 1, OF = MSB(a) = 1.
        assert_eq!(run(FlagOp::Shr, 8, 0x81, 1, 0x40), "OC");
        // SAR 0x81 by 1 = 0xC0, CF = 1, OF = 0.
        assert_eq!(run(FlagOp::Sar, 8, 0x81, 1, 0xC0), "SPC");
        assert_eq!(run(FlagOp::Sar, 16, 0x8000, 16, 0xFFFF), "SPC");
    }

    #[test]
    fn conditions_agree_with_flags() {
        let samples = [
            (0u64, 0u64),
            (1, 2),
            (2, 1),
            (0x80, 1),
            (1, 0x80),
            (0xFF, 0xFF),
            (0x7F, 0x80),
        ];
        for op in [FlagOp::Sub, FlagOp::Add, FlagOp::Logic] {
            for &(a, b) in &samples {
                let res = match op {
                    FlagOp::Sub => a.wrapping_sub(b) & 0xFF,
                    FlagOp::Add => a.wrapping_add(b) & 0xFF,
                    _ => a & b,
                };
                let mut f = Flags::default();
                f.set_lazy(op, 8, a, b, res);
                let mut d = f;
                d.materialize();
                for cc in 0..16 {
                    assert_eq!(
                        f.cond(cc),
                        d.cond(cc),
                        "op {op:?} a {a:#x} b {b:#x} cc {cc}"
                    );
                }
            }
        }
    }
}
