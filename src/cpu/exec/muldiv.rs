//! MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV.
//!
//! Flags (SDM Vol. 2A "MUL", "IMUL"): CF = OF = the product does not fit the destination;
//! SF, ZF, PF and AF are undefined: vx86 sets SF, ZF, PF from the low half and clears AF, as
//! Bochs and QEMU do. DIV/IDIV leave all flags undefined: vx86 leaves them unchanged.
//! When a product fits, the flags are exactly those of a logic op on the low half, so they are
//! recorded lazily as `FlagOp::Logic`; only an overflowing product sets them eagerly.
//!
//! #DE on a zero divisor or a quotient that does not fit. Personalities, chosen at decode
//! time: the 8086 pushes the address of the *next* instruction for a divide error (it raises
//! the interrupt from microcode, like a trap), its IDIV quotient range excludes -2^(n-1), and a
//! REP/REPNE prefix makes IMUL and IDIV negate their result (the microcode's sign flag is the
//! prefix latch); all three are recorded in the SingleStepTests vectors. The 80286 divides as
//! modern processors do.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::FlagOp;
use crate::cpu::interrupt::IntKind;
use crate::cpu::state::{reg, Model};
use crate::cpu::{Cpu, Handler, Op, Width, U16, U32, U64, U8};

/// The one-operand operations, numbered as ModRM.reg of opcodes F6/F7.
pub mod kind {
    #![allow(missing_docs)]
    pub const MUL: u8 = 4;
    pub const IMUL: u8 = 5;
    pub const DIV: u8 = 6;
    pub const IDIV: u8 = 7;
}
use kind::*;

/// Personalities, as const-generic selectors.
pub mod personality {
    /// The 80286 and later.
    pub const MODERN: u8 = 0;
    /// The 8086.
    pub const I8086: u8 = 1;
    /// The 8086 with a REP/REPNE prefix: IMUL and IDIV negate their result.
    pub const I8086_REP: u8 = 2;
}
use personality::{I8086, I8086_REP, MODERN};

/// Sets the flags of a multiply: lazily as a logic op when the product fits (CF = OF = AF = 0,
/// SF/ZF/PF from `lo`), eagerly with CF = OF = 1 when it does not.
#[inline(always)]
fn mul_flags<W: Width>(cpu: &mut Cpu, lo: u64, overflow: bool) {
    if overflow {
        cpu.flags.set_result(W::BITS, lo, true, true, false);
    } else {
        cpu.flags.set_lazy(FlagOp::Logic, W::BITS, 0, 0, lo);
    }
}

/// Raises the divide error: a fault, or on the 8086 an interrupt taken after the instruction.
#[cold]
#[inline(never)]
fn divide_error<const P: u8>(cpu: &mut Cpu) -> R {
    if P == MODERN {
        Err(Fault::DE)
    } else {
        // RIP already points at the next instruction: that is what the 8086 pushes.
        cpu.interrupt(0, IntKind::Exception, None)
    }
}

/// Writes a double-width result: AX for bytes, rDX:rAX otherwise.
#[inline(always)]
fn set_pair<W: Width>(cpu: &mut Cpu, lo: u64, hi: u64) {
    if W::BITS == 8 {
        U16::set(cpu, reg::RAX, lo | hi << 8);
    } else {
        W::set(cpu, reg::RAX, lo);
        W::set(cpu, reg::RDX, hi);
    }
}

/// The double-width dividend: AX for bytes, rDX:rAX otherwise (as `u128`).
#[inline(always)]
fn dividend<W: Width>(cpu: &Cpu) -> u128 {
    if W::BITS == 8 {
        U16::get(cpu, reg::RAX) as u128
    } else {
        ((W::get(cpu, reg::RDX) as u128) << W::BITS) | W::get(cpu, reg::RAX) as u128
    }
}

/// The signed product of two `W` values, as `i128`.
#[inline(always)]
fn smul<W: Width>(a: u64, b: u64) -> i128 {
    if W::BITS == 64 {
        (a as i64 as i128) * (b as i64 as i128)
    } else {
        // Both fit 32 bits: the product fits `i64`, which is cheaper than `i128`.
        ((W::sext(a) as i64) * (W::sext(b) as i64)) as i128
    }
}

/// MUL/IMUL/DIV/IDIV with the implicit accumulator, on source `s`.
#[inline(always)]
fn one_op<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, s: u64) -> R {
    let a = W::get(cpu, reg::RAX);
    match K {
        MUL => {
            let (lo, hi) = if W::BITS == 64 {
                let p = a as u128 * s as u128;
                (p as u64, (p >> 64) as u64)
            } else {
                let p = a * s;
                (p & W::MASK, p >> W::BITS)
            };
            set_pair::<W>(cpu, lo, hi);
            mul_flags::<W>(cpu, lo, hi != 0);
        }
        IMUL => {
            let mut p = smul::<W>(a, s);
            if P == I8086_REP {
                p = -p;
            }
            let lo = p as u64 & W::MASK;
            let hi = (p >> W::BITS) as u64 & W::MASK;
            set_pair::<W>(cpu, lo, hi);
            mul_flags::<W>(cpu, lo, p != W::sext(lo) as i64 as i128);
        }
        DIV => {
            if s == 0 {
                return divide_error::<P>(cpu);
            }
            let n = dividend::<W>(cpu);
            let (q, r) = if W::BITS == 64 {
                (n / s as u128, n % s as u128)
            } else {
                let n = n as u64;
                ((n / s) as u128, (n % s) as u128)
            };
            if q > W::MASK as u128 {
                return divide_error::<P>(cpu);
            }
            set_pair::<W>(cpu, q as u64, r as u64);
        }
        _ => {
            let d = W::sext(s) as i64 as i128;
            let n = dividend::<W>(cpu);
            // Sign-extend the double-width dividend.
            let sh = 128 - 2 * W::BITS as u32;
            let n = ((n << sh) as i128) >> sh;
            let (Some(mut q), Some(r)) = (n.checked_div(d), n.checked_rem(d)) else {
                return divide_error::<P>(cpu);
            };
            if P == I8086_REP {
                q = -q;
            }
            let max = (W::SIGN - 1) as i128;
            // The 8086 also rejects -2^(n-1) (its microcode checks the magnitude).
            let min = if P == MODERN { -max - 1 } else { -max };
            if q < min || q > max {
                return divide_error::<P>(cpu);
            }
            set_pair::<W>(cpu, q as u64 & W::MASK, r as u64 & W::MASK);
        }
    }
    Ok(())
}

fn md_r<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let s = W::get(cpu, op.rm);
    one_op::<W, K, P>(cpu, s)
}

fn md_m<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let s = cpu.read_ea::<W>(op)?;
    one_op::<W, K, P>(cpu, s)
}

/// The truncated signed product and whether it overflowed `W`.
#[inline(always)]
fn imul_trunc<W: Width>(a: u64, b: u64) -> (u64, bool) {
    let p = smul::<W>(a, b);
    let lo = p as u64 & W::MASK;
    (lo, p != W::sext(lo) as i64 as i128)
}

/// `IMUL r, r/m` (register source).
fn imul2_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (lo, of) = imul_trunc::<W>(W::get(cpu, op.r), W::get(cpu, op.rm));
    W::set(cpu, op.r, lo);
    mul_flags::<W>(cpu, lo, of);
    Ok(())
}

/// `IMUL r, m`.
fn imul2_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let b = cpu.read_ea::<W>(op)?;
    let (lo, of) = imul_trunc::<W>(W::get(cpu, op.r), b);
    W::set(cpu, op.r, lo);
    mul_flags::<W>(cpu, lo, of);
    Ok(())
}

/// `IMUL r, r, imm`.
fn imul3_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (lo, of) = imul_trunc::<W>(W::get(cpu, op.rm), op.imm & W::MASK);
    W::set(cpu, op.r, lo);
    mul_flags::<W>(cpu, lo, of);
    Ok(())
}

/// `IMUL r, m, imm`.
fn imul3_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let b = cpu.read_ea::<W>(op)?;
    let (lo, of) = imul_trunc::<W>(b, op.imm & W::MASK);
    W::set(cpu, op.r, lo);
    mul_flags::<W>(cpu, lo, of);
    Ok(())
}

/// Decodes the multiply/divide group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let k = match ins.mnemonic() {
        M::Mul => MUL,
        M::Imul => IMUL,
        M::Div => DIV,
        M::Idiv => IDIV,
        _ => return None,
    };
    let size = d.op_size(0);
    if ins.op_count() > 1 {
        // IMUL r, r/m and IMUL r, r/m, imm (0F AF, 69, 6B).
        op.r = d.reg(0);
        let mem = d.is_mem(1);
        if mem {
            d.mem(op);
        } else {
            op.rm = d.reg(1);
        }
        op.run = if ins.op_count() == 3 {
            op.imm = d.imm(2);
            if mem {
                crate::sized!(size, imul3_rm)
            } else {
                crate::sized!(size, imul3_rr)
            }
        } else if mem {
            crate::sized!(size, imul2_rm)
        } else {
            crate::sized!(size, imul2_rr)
        };
        return Some(Flow::Next);
    }
    let p = match d.model {
        Model::I8086 if ins.has_rep_prefix() || ins.has_repne_prefix() => I8086_REP,
        Model::I8086 => I8086,
        _ => MODERN,
    };
    let mem = d.is_mem(0);
    if mem {
        d.mem(op);
    } else {
        op.rm = d.reg(0);
    }
    macro_rules! pick {
        ($W:ty) => {
            match (k, p, mem) {
                (MUL, _, false) => md_r::<$W, MUL, MODERN> as Handler,
                (MUL, _, true) => md_m::<$W, MUL, MODERN>,
                (IMUL, I8086_REP, false) => md_r::<$W, IMUL, I8086_REP>,
                (IMUL, I8086_REP, true) => md_m::<$W, IMUL, I8086_REP>,
                (IMUL, _, false) => md_r::<$W, IMUL, MODERN>,
                (IMUL, _, true) => md_m::<$W, IMUL, MODERN>,
                (DIV, MODERN, false) => md_r::<$W, DIV, MODERN>,
                (DIV, MODERN, true) => md_m::<$W, DIV, MODERN>,
                (DIV, _, false) => md_r::<$W, DIV, I8086>,
                (DIV, _, true) => md_m::<$W, DIV, I8086>,
                (_, MODERN, false) => md_r::<$W, IDIV, MODERN>,
                (_, MODERN, true) => md_m::<$W, IDIV, MODERN>,
                (_, I8086, false) => md_r::<$W, IDIV, I8086>,
                (_, I8086, true) => md_m::<$W, IDIV, I8086>,
                (_, _, false) => md_r::<$W, IDIV, I8086_REP>,
                (_, _, true) => md_m::<$W, IDIV, I8086_REP>,
            }
        };
    }
    op.run = match size {
        1 => pick!(U8),
        2 => pick!(U16),
        4 => pick!(U32),
        _ => pick!(U64),
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;
    use crate::mem::PhysMem;

    fn cpu() -> Cpu {
        Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap())
    }

    /// Runs a one-operand op on rDX:rAX with source `s`: (rAX, rDX, arithmetic flags) or the
    /// fault.
    fn run<W: Width, const K: u8, const P: u8>(
        ax: u64,
        dx: u64,
        s: u64,
    ) -> Result<(u64, u64, u64), Fault> {
        let mut c = cpu();
        c.gpr[reg::RAX as usize] = ax;
        c.gpr[reg::RDX as usize] = dx;
        c.flags.set(0x2);
        one_op::<W, K, P>(&mut c, s)?;
        Ok((
            c.gpr[reg::RAX as usize],
            c.gpr[reg::RDX as usize],
            c.flags.get() & ARITH,
        ))
    }

    #[test]
    fn mul_table() {
        // AL * s -> AX; CF = OF = (AH != 0); SF/ZF/PF from AL.
        assert_eq!(
            run::<U8, MUL, MODERN>(0x1280, 0, 2),
            Ok((0x0100, 0, CF | OF | ZF | PF))
        );
        assert_eq!(run::<U8, MUL, MODERN>(0x0010, 0, 8), Ok((0x0080, 0, SF)));
        assert_eq!(
            run::<U8, MUL, MODERN>(0xFF, 0, 0xFF),
            Ok((0xFE01, 0, CF | OF))
        );
        assert_eq!(
            run::<U16, MUL, MODERN>(0xFFFF, 7, 0xFFFF),
            Ok((0x0001, 0xFFFE, CF | OF))
        );
        assert_eq!(run::<U16, MUL, MODERN>(0, 7, 5), Ok((0, 0, ZF | PF)));
        // 32-bit results zero-extend rAX and rDX.
        assert_eq!(
            run::<U32, MUL, MODERN>(0xFFFF_FFFF_8000_0000, u64::MAX, 4),
            Ok((0, 2, CF | OF | ZF | PF))
        );
        assert_eq!(
            run::<U64, MUL, MODERN>(u64::MAX, 0, u64::MAX),
            Ok((1, u64::MAX - 1, CF | OF))
        );
    }

    #[test]
    fn imul_table() {
        // -1 * -1 = 1 fits; -128 * -1 = 128 does not fit a byte.
        assert_eq!(run::<U8, IMUL, MODERN>(0xFF, 0, 0xFF), Ok((0x0001, 0, 0)));
        assert_eq!(
            run::<U8, IMUL, MODERN>(0x80, 0, 0xFF),
            Ok((0x0080, 0, CF | OF | SF))
        );
        assert_eq!(run::<U8, IMUL, MODERN>(0x80, 0, 0x01), Ok((0xFF80, 0, SF)));
        assert_eq!(
            run::<U16, IMUL, MODERN>(0x8000, 0, 0x8000),
            Ok((0, 0x4000, CF | OF | ZF | PF))
        );
        assert_eq!(
            run::<U32, IMUL, MODERN>(0xFFFF_FFFF, 0, 2),
            Ok((0xFFFF_FFFE, 0xFFFF_FFFF, SF))
        );
        assert_eq!(
            run::<U64, IMUL, MODERN>(1 << 63, 0, u64::MAX),
            Ok((1 << 63, 0, CF | OF | SF | PF))
        );
        // 8086 with REP: the product is negated.
        assert_eq!(
            run::<U8, IMUL, I8086_REP>(0x03, 0, 0x05),
            Ok((0xFFF1, 0, SF))
        );
    }

    #[test]
    fn div_table() {
        assert_eq!(
            run::<U8, DIV, MODERN>(0x0107, 0, 2),
            Ok((0x0183, 0, 0x2 & ARITH))
        );
        assert_eq!(run::<U8, DIV, MODERN>(0x01FF, 0, 2), Ok((0x01FF, 0, 0)));
        assert_eq!(run::<U8, DIV, MODERN>(0x0200, 0, 2), Err(Fault::DE));
        assert_eq!(run::<U8, DIV, MODERN>(0x00FF, 0, 0), Err(Fault::DE));
        assert_eq!(
            run::<U16, DIV, MODERN>(0x0005, 0x0001, 0x0002),
            Ok((0x8002, 0x0001, 0))
        );
        assert_eq!(
            run::<U16, DIV, MODERN>(0x0000, 0x0002, 0x0002),
            Err(Fault::DE)
        );
        assert_eq!(
            run::<U32, DIV, MODERN>(0xFFFF_FFFF, 0xFFFF_FFFE, 0xFFFF_FFFF),
            Ok((0xFFFF_FFFF, 0xFFFF_FFFE, 0))
        );
        assert_eq!(run::<U64, DIV, MODERN>(0, 1, 2), Ok((1 << 63, 0, 0)));
        assert_eq!(run::<U64, DIV, MODERN>(0, 1, 1), Err(Fault::DE));
    }

    #[test]
    fn idiv_table() {
        // -7 / 2 = -3 rem -1 (truncation toward zero, remainder takes the dividend's sign).
        assert_eq!(run::<U8, IDIV, MODERN>(0xFFF9, 0, 2), Ok((0xFFFD, 0, 0)));
        assert_eq!(
            run::<U16, IDIV, MODERN>(0xFFF9, 0xFFFF, 0xFFFE),
            Ok((0x0003, 0xFFFF, 0))
        );
        // -128 fits a modern IDIV; not on the 8086.
        assert_eq!(run::<U8, IDIV, MODERN>(0xFF00, 0, 2), Ok((0x0080, 0, 0)));
        assert_eq!(run::<U8, IDIV, MODERN>(0x0100, 0, 2), Err(Fault::DE));
        assert_eq!(
            run::<U32, IDIV, MODERN>(0, 0x8000_0000, 0xFFFF_FFFF),
            Err(Fault::DE)
        );
        assert_eq!(
            run::<U64, IDIV, MODERN>(0, 1 << 63, u64::MAX),
            Err(Fault::DE)
        );
        assert_eq!(
            run::<U64, IDIV, MODERN>(1 << 63, u64::MAX, u64::MAX),
            Err(Fault::DE)
        );
        assert_eq!(
            run::<U64, IDIV, MODERN>(u64::MAX, u64::MAX, u64::MAX),
            Ok((1, 0, 0))
        );
        assert_eq!(run::<U16, IDIV, MODERN>(0, 0, 0), Err(Fault::DE));
    }

    #[test]
    fn imul_forms_truncate() {
        assert_eq!(imul_trunc::<U16>(0x4000, 2), (0x8000, true));
        assert_eq!(imul_trunc::<U16>(0xFFFF, 0xFFFF), (1, false));
        assert_eq!(imul_trunc::<U32>(0x10000, 0x10000), (0, true));
        assert_eq!(imul_trunc::<U64>(u64::MAX, 1 << 63), (1 << 63, true));
        assert_eq!(imul_trunc::<U64>(3, u64::MAX), (u64::MAX - 2, false));
    }
}
