//! Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR by 1, CL and imm8; SHLD and
//! SHRD by CL and imm8; the 8086's undocumented SETMO/SETMOC (D0–D3 /6).
//!
//! Count masking (SDM Vol. 2B "SAL/SAR/SHL/SHR", IA-32 Architecture Compatibility): the 80286
//! and later mask the count to 5 bits (6 bits for 64-bit operands); the 8086 does not mask it,
//! so a shift by CL = 200 really shifts 200 times. A masked count of zero changes no flags.
//!
//! Flags: SHL/SHR/SAR are recorded lazily (`FlagOp::Shl`/`Shr`/`Sar`); rotates change only CF
//! and OF and set them eagerly. OF for counts other than 1 is undefined, and models differ:
//! - the 8086 and 80286 shift one bit per microcode step, so OF is what the last 1-bit step
//!   leaves (the 80286 vectors record it for the imm8 forms, and RCL/RCR by a multiple of 9
//!   or 17 still set OF);
//! - modern Intel processors compute OF for SHL/SHR as for a 1-bit shift of the original
//!   operand (`flags.rs`); rotates use the 1-bit formula on the result.
//!
//! AF is cleared. The personality is a const generic chosen at decode time.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::{bit, FlagOp, Flags};
use crate::cpu::state::{reg, Model};
use crate::cpu::{Cpu, Handler, Op, Width, U16, U32, U64};

/// The operations, numbered as ModRM.reg of opcodes D0–D3 (SDM Vol. 2 Table A-6, group 2).
pub mod kind {
    #![allow(missing_docs)]
    pub const ROL: u8 = 0;
    pub const ROR: u8 = 1;
    pub const RCL: u8 = 2;
    pub const RCR: u8 = 3;
    pub const SHL: u8 = 4;
    pub const SHR: u8 = 5;
    /// /6: SAL (an alias of SHL) on the 80186 and later; SETMO/SETMOC on the 8086.
    pub const SETMO: u8 = 6;
    pub const SAR: u8 = 7;
}
use kind::*;

/// Shift personalities, as const-generic selectors.
pub mod personality {
    /// 64-bit-era Intel: counts masked to 5 or 6 bits; OF as for a 1-bit shift.
    pub const MODERN: u8 = 0;
    /// 80286: counts masked to 5 bits, one bit per step.
    pub const I286: u8 = 1;
    /// 8086: counts not masked, one bit per step.
    pub const I8086: u8 = 2;
}
use personality::{I286, I8086, MODERN};

/// The count mask of personality `P` at width `W`.
#[inline(always)]
const fn count_mask(p: u8, bits: u8) -> u8 {
    match p {
        I8086 => 0xFF,
        MODERN if bits == 64 => 0x3F,
        _ => 0x1F,
    }
}

/// Sets CF and OF, keeping the other arithmetic flags (rotates change only these two).
#[inline(always)]
fn set_cf_of(f: &mut Flags, cf: bool, of: bool) {
    if f.op != FlagOp::Done {
        return set_cf_of_lazy(f, cf, of);
    }
    f.bits = (f.bits & !(bit::CF | bit::OF)) | ((cf as u64) * bit::CF) | ((of as u64) * bit::OF);
}

/// The flags are still lazy: computes them first. Out of line (a tail call), so that the
/// common case, a rotate whose flags are already plain, needs no stack frame.
#[cold]
#[inline(never)]
fn set_cf_of_lazy(f: &mut Flags, cf: bool, of: bool) {
    f.materialize();
    f.bits = (f.bits & !(bit::CF | bit::OF)) | ((cf as u64) * bit::CF) | ((of as u64) * bit::OF);
}

/// Rotates the `W`-bit value `a` left by `c` modulo the width (native rotates, no branch).
#[inline(always)]
fn rotl<W: Width>(a: u64, c: u32) -> u64 {
    match W::BITS {
        8 => (a as u8).rotate_left(c) as u64,
        16 => (a as u16).rotate_left(c) as u64,
        32 => (a as u32).rotate_left(c) as u64,
        _ => a.rotate_left(c),
    }
}

/// Rotates the `W`-bit value `a` right by `c` modulo the width.
#[inline(always)]
fn rotr<W: Width>(a: u64, c: u32) -> u64 {
    match W::BITS {
        8 => (a as u8).rotate_right(c) as u64,
        16 => (a as u16).rotate_right(c) as u64,
        32 => (a as u32).rotate_right(c) as u64,
        _ => a.rotate_right(c),
    }
}

/// `a << n` at width `W`, for any `n` (0 when all bits leave).
#[inline(always)]
fn shl_w<W: Width>(a: u64, n: u32) -> u64 {
    if n < 64 {
        (a << n) & W::MASK
    } else {
        0
    }
}

/// `a >> n` for any `n`.
#[inline(always)]
fn shr_w(a: u64, n: u32) -> u64 {
    if n < 64 {
        a >> n
    } else {
        0
    }
}

/// Shifts or rotates `a` by `n` (already masked, 1..=255) at width `W` for personality `P`,
/// records the flags, and returns the result.
#[inline(always)]
pub fn shift<W: Width, const K: u8, const P: u8>(f: &mut Flags, a: u64, n: u32) -> u64 {
    let w = W::BITS as u32;
    match K {
        SHL if P == MODERN => {
            let r = shl_w::<W>(a, n);
            f.set_lazy(FlagOp::Shl, W::BITS, a, n as u64, r);
            r
        }
        SHL => {
            // One step at a time: the flags are those of shifting the next-to-last value by 1.
            let prev = shl_w::<W>(a, n - 1);
            let r = (prev << 1) & W::MASK;
            f.set_lazy(FlagOp::Shl, W::BITS, prev, 1, r);
            r
        }
        SHR if P == MODERN => {
            let r = shr_w(a, n);
            f.set_lazy(FlagOp::Shr, W::BITS, a, n as u64, r);
            r
        }
        SHR => {
            let prev = shr_w(a, n - 1);
            let r = prev >> 1;
            f.set_lazy(FlagOp::Shr, W::BITS, prev, 1, r);
            r
        }
        SAR => {
            let r = ((W::sext(a) as i64) >> n.min(63)) as u64 & W::MASK;
            f.set_lazy(FlagOp::Sar, W::BITS, a, n as u64, r);
            r
        }
        ROL => {
            // SDM "RCL/RCR/ROL/ROR": the rotate is by count MOD size, but CF and OF are set
            // whenever the masked count is not zero.
            let r = rotl::<W>(a, n);
            let cf = r & 1 != 0;
            set_cf_of(f, cf, (r & W::SIGN != 0) ^ cf);
            r
        }
        ROR => {
            let r = rotr::<W>(a, n);
            let msb = r & W::SIGN != 0;
            set_cf_of(f, msb, msb ^ (r & (W::SIGN >> 1) != 0));
            r
        }
        RCL | RCR => {
            // Through CF: a (W+1)-bit rotate, by count MOD 9 or 17 for 8- and 16-bit operands.
            // A count that is a multiple of W+1 rotates nothing, but OF is still set (the
            // 80286 vectors record it; modern processors leave it undefined).
            let c = n % (w + 1);
            let x = ((f.cf() as u128) << w) | a as u128;
            let m = (1u128 << (w + 1)) - 1;
            let y = match c {
                0 => x,
                _ if K == RCL => (x << c) | (x >> (w + 1 - c)),
                _ => (x >> c) | (x << (w + 1 - c)),
            } & m;
            let r = y as u64 & W::MASK;
            let cf = (y >> w) & 1 != 0;
            let msb = r & W::SIGN != 0;
            let of = if K == RCL {
                msb ^ cf
            } else {
                msb ^ (r & (W::SIGN >> 1) != 0)
            };
            set_cf_of(f, cf, of);
            r
        }
        _ => {
            // SETMO (8086): the result is all ones, the flags as for OR with all ones.
            f.set_lazy(FlagOp::Logic, W::BITS, 0, 0, W::MASK);
            W::MASK
        }
    }
}

/// Register destination, count in `op.imm` (decode made it non-zero and masked it).
fn sh_ri<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let r = shift::<W, K, P>(&mut cpu.flags, a, op.imm as u32);
    W::set(cpu, op.r, r);
    Ok(())
}

/// Memory destination, count in `op.imm`.
fn sh_mi<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let a = cpu.read_rmw::<W>(op.seg, off)?;
    let r = shift::<W, K, P>(&mut cpu.flags, a, op.imm as u32);
    cpu.write::<W>(op.seg, off, r)
}

/// Register destination, count in CL.
fn sh_rc<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let n = (cpu.gpr[reg::RCX as usize] as u8 & count_mask(P, W::BITS)) as u32;
    let a = W::get(cpu, op.r);
    // A zero count leaves the flags alone; the write still zero-extends a 32-bit register.
    let r = if n == 0 {
        a
    } else {
        shift::<W, K, P>(&mut cpu.flags, a, n)
    };
    W::set(cpu, op.r, r);
    Ok(())
}

/// Memory destination, count in CL.
fn sh_mc<W: Width, const K: u8, const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let n = (cpu.gpr[reg::RCX as usize] as u8 & count_mask(P, W::BITS)) as u32;
    let off = cpu.ea(op);
    // The operand is accessed (and may fault) even when the count is zero.
    let a = cpu.read_rmw::<W>(op.seg, off)?;
    if n == 0 {
        return Ok(());
    }
    let r = shift::<W, K, P>(&mut cpu.flags, a, n);
    cpu.write::<W>(op.seg, off, r)
}

/// A register form whose immediate count masks to zero: only the 32-bit zero-extension.
fn sh_r0<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    W::set(cpu, op.r, a);
    Ok(())
}

/// A memory form whose immediate count masks to zero: the access checks, nothing else.
fn sh_m0<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    cpu.read_rmw::<W>(op.seg, off)?;
    Ok(())
}

/// SHLD (`L`) or SHRD: shifts `dst` by `n` (1..=63, masked) filling from `src`; sets the
/// flags; returns the result.
#[inline(always)]
pub fn double_shift<W: Width, const L: bool>(f: &mut Flags, dst: u64, src: u64, n: u32) -> u64 {
    let w = W::BITS as u32;
    let (r, cf) = if W::BITS == 16 {
        // Counts above 16 give an undefined result; P6 and later shift dst:src:dst (SDM Vol. 2B
        // "SHLD": "the result is undefined"; Bochs documents the P6 pattern).
        let v = (dst << 32) | (src << 16) | dst;
        if L {
            ((v >> (32 - n)) & 0xFFFF, (v >> (48 - n)) & 1 != 0)
        } else {
            ((v >> n) & 0xFFFF, (v >> (n - 1)) & 1 != 0)
        }
    } else {
        let v = ((dst as u128) << w) | src as u128;
        let v2 = ((src as u128) << w) | dst as u128;
        if L {
            (
                ((v << n) >> w) as u64 & W::MASK,
                (v >> (2 * w - n)) & 1 != 0,
            )
        } else {
            ((v2 >> n) as u64 & W::MASK, (v2 >> (n - 1)) & 1 != 0)
        }
    };
    let msb = r & W::SIGN != 0;
    // OF: the sign change for a 1-bit shift; the same formula on the result otherwise.
    let of = if L {
        msb ^ cf
    } else {
        msb ^ (r & (W::SIGN >> 1) != 0)
    };
    f.set_result(W::BITS, r, cf, of, false);
    r
}

/// The count of a double shift: CL, or the immediate in `op.imm`, masked.
#[inline(always)]
fn dcount<W: Width, const CL: bool>(cpu: &Cpu, op: &Op) -> u32 {
    let n = if CL {
        cpu.gpr[reg::RCX as usize]
    } else {
        op.imm
    };
    (n as u8 & count_mask(MODERN, W::BITS)) as u32
}

fn dsh_r<W: Width, const L: bool, const CL: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let n = dcount::<W, CL>(cpu, op);
    let a = W::get(cpu, op.rm);
    let r = if n == 0 {
        a
    } else {
        let s = W::get(cpu, op.r);
        double_shift::<W, L>(&mut cpu.flags, a, s, n)
    };
    W::set(cpu, op.rm, r);
    Ok(())
}

fn dsh_m<W: Width, const L: bool, const CL: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let n = dcount::<W, CL>(cpu, op);
    let off = cpu.ea(op);
    let a = cpu.read_rmw::<W>(op.seg, off)?;
    if n == 0 {
        return Ok(());
    }
    let s = W::get(cpu, op.r);
    let r = double_shift::<W, L>(&mut cpu.flags, a, s, n);
    cpu.write::<W>(op.seg, off, r)
}

/// Picks `$f::<W, K, extra…>` for a width in bytes and a run-time kind.
macro_rules! by_kind {
    ($size:expr, $k:expr, $f:ident $(, $g:expr)*) => {
        match $k {
            ROL => crate::sized!($size, $f, ROL $(, $g)*),
            ROR => crate::sized!($size, $f, ROR $(, $g)*),
            RCL => crate::sized!($size, $f, RCL $(, $g)*),
            RCR => crate::sized!($size, $f, RCR $(, $g)*),
            SHL => crate::sized!($size, $f, SHL $(, $g)*),
            SHR => crate::sized!($size, $f, SHR $(, $g)*),
            SETMO => crate::sized!($size, $f, SETMO $(, $g)*),
            _ => crate::sized!($size, $f, SAR $(, $g)*),
        }
    };
}

/// Decodes the shift group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let k = match d.ins.mnemonic() {
        M::Rol => ROL,
        M::Ror => ROR,
        M::Rcl => RCL,
        M::Rcr => RCR,
        M::Shl => SHL,
        M::Shr => SHR,
        // D0–D3 /6: SETMO/SETMOC on the 8086, an alias of SHL from the 80186 on.
        M::Sal if d.model == Model::I8086 => SETMO,
        M::Sal => SHL,
        M::Sar => SAR,
        M::Shld | M::Shrd => return decode_double(d, op),
        _ => return None,
    };
    let size = d.op_size(0);
    let mem = d.is_mem(0);
    if mem {
        d.mem(op);
    } else {
        op.r = d.reg(0);
    }
    let p = match d.model {
        Model::I8086 => I8086,
        Model::I80286 => I286,
        Model::Modern => MODERN,
    };
    macro_rules! pick {
        ($f:ident) => {
            match p {
                I8086 => by_kind!(size, k, $f, I8086),
                I286 => by_kind!(size, k, $f, I286),
                _ => by_kind!(size, k, $f, MODERN),
            }
        };
    }
    if d.is_imm(1) {
        let n = d.imm(1) as u8 & count_mask(p, size as u8 * 8);
        op.imm = n as u64;
        op.run = match (n, mem) {
            (0, false) => crate::sized!(size, sh_r0),
            (0, true) => crate::sized!(size, sh_m0),
            (_, false) => pick!(sh_ri),
            (_, true) => pick!(sh_mi),
        };
    } else {
        op.run = if mem { pick!(sh_mc) } else { pick!(sh_rc) };
    }
    Some(Flow::Next)
}

fn decode_double(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let left = d.ins.mnemonic() == M::Shld;
    let cl = !d.is_imm(2);
    op.r = d.reg(1);
    op.imm = if cl { 0 } else { d.imm(2) };
    let mem = d.is_mem(0);
    if mem {
        d.mem(op);
    } else {
        op.rm = d.reg(0);
    }
    macro_rules! pick {
        ($W:ty) => {
            match (mem, left, cl) {
                (false, false, false) => dsh_r::<$W, false, false> as Handler,
                (false, false, true) => dsh_r::<$W, false, true>,
                (false, true, false) => dsh_r::<$W, true, false>,
                (false, true, true) => dsh_r::<$W, true, true>,
                (true, false, false) => dsh_m::<$W, false, false>,
                (true, false, true) => dsh_m::<$W, false, true>,
                (true, true, false) => dsh_m::<$W, true, false>,
                (true, true, true) => dsh_m::<$W, true, true>,
            }
        };
    }
    op.run = match d.op_size(0) {
        2 => pick!(U16),
        4 => pick!(U32),
        8 => pick!(U64),
        _ => return None,
    };
    Some(Flow::Next)
}

/// Runs one shift by `n` (0 changes nothing) at width `W`, personality `P`, with the flags
/// `flags_in` (arithmetic bits), for tests: returns the result and the arithmetic flags.
pub fn flags_after<W: Width, const K: u8, const P: u8>(
    a: u64,
    n: u32,
    flags_in: u64,
) -> (u64, u64) {
    let mut f = Flags::default();
    f.set_arith(bit::ARITH, flags_in);
    let r = if n == 0 {
        a
    } else {
        shift::<W, K, P>(&mut f, a, n)
    };
    (r, f.get() & bit::ARITH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;
    use crate::cpu::U8;

    fn sh8<const K: u8>(a: u64, n: u32, fin: u64) -> (u64, u64) {
        flags_after::<U8, K, MODERN>(a, n, fin)
    }

    #[test]
    fn shl_table() {
        // (a, count) -> (result, CF PF AF ZF SF OF)
        assert_eq!(sh8::<SHL>(0x81, 1, 0), (0x02, CF | OF));
        assert_eq!(sh8::<SHL>(0x40, 1, 0), (0x80, SF | OF));
        assert_eq!(sh8::<SHL>(0xC0, 1, 0), (0x80, CF | SF));
        assert_eq!(sh8::<SHL>(0x01, 8, 0), (0x00, CF | ZF | PF));
        assert_eq!(sh8::<SHL>(0xFF, 9, 0), (0x00, ZF | PF));
        assert_eq!(
            flags_after::<U16, SHL, MODERN>(0x8000, 1, 0),
            (0, CF | ZF | PF | OF)
        );
        assert_eq!(
            flags_after::<U32, SHL, MODERN>(0x1, 31, 0),
            (0x8000_0000, SF | PF)
        );
        assert_eq!(
            flags_after::<U64, SHL, MODERN>(0x3, 63, 0),
            (1 << 63, CF | SF | PF)
        );
        // Count 0: the flags stay as they were.
        assert_eq!(sh8::<SHL>(0x81, 0, OF | AF), (0x81, OF | AF));
    }

    #[test]
    fn shl_of_for_large_counts_follows_the_original_top_bits() {
        // Intel: OF as for a 1-bit shift of the original (RAX 0x18F2086424981487 SHL 34 gives
        // CF = 0, OF = 0 on hardware).
        let (r, f) = flags_after::<U64, SHL, MODERN>(0x18F2_0864_2498_1487, 34, 0);
        assert_eq!(r, 0x9260_521C_0000_0000);
        assert_eq!(f & (CF | OF), 0);
        let (_, f) = flags_after::<U64, SHL, MODERN>(0xABEC_FF12_9778_3575, 56, 0);
        assert_eq!(f & (CF | OF), CF | OF);
    }

    #[test]
    fn old_models_take_of_from_the_last_step() {
        // 80286 vectors: SHL byte by 10 leaves OF = MSB(res) ^ CF = 0, SHR by 31 OF = 0.
        assert_eq!(flags_after::<U8, SHL, I286>(0xC5, 10, OF), (0, ZF | PF));
        assert_eq!(flags_after::<U8, SHL, MODERN>(0xC5, 10, 0), (0, ZF | PF));
        assert_eq!(flags_after::<U8, SHR, I286>(0x80, 31, OF), (0, ZF | PF));
        assert_eq!(flags_after::<U8, SHR, I286>(0x80, 2, 0), (0x20, 0));
        assert_eq!(flags_after::<U8, SHR, I286>(0x80, 1, 0), (0x40, OF));
        assert_eq!(flags_after::<U8, SHL, I286>(0x60, 2, 0), (0x80, CF | SF));
        assert_eq!(
            flags_after::<U8, SHL, MODERN>(0x60, 2, 0),
            (0x80, CF | SF | OF)
        );
        // 8086: counts are not masked; a shift by 200 clears the byte.
        assert_eq!(flags_after::<U16, SHL, I8086>(0xFFFF, 200, 0), (0, ZF | PF));
        assert_eq!(
            flags_after::<U16, SHL, I8086>(0xFFFF, 16, 0),
            (0, CF | ZF | PF | OF)
        );
        assert_eq!(flags_after::<U8, ROL, I8086>(0x81, 200, 0), (0x81, CF));
        assert_eq!(flags_after::<U8, RCL, I8086>(0x81, 200, 0), (0x05, 0));
    }

    #[test]
    fn shr_sar_table() {
        assert_eq!(sh8::<SHR>(0x81, 1, 0), (0x40, CF | OF));
        assert_eq!(sh8::<SHR>(0x01, 1, 0), (0x00, CF | ZF | PF));
        assert_eq!(sh8::<SHR>(0x80, 8, 0), (0x00, CF | ZF | PF | OF));
        assert_eq!(
            flags_after::<U64, SHR, MODERN>(u64::MAX, 63, 0),
            (1, CF | OF)
        );
        assert_eq!(sh8::<SAR>(0x81, 1, 0), (0xC0, CF | SF | PF));
        assert_eq!(sh8::<SAR>(0x80, 7, 0), (0xFF, SF | PF));
        assert_eq!(sh8::<SAR>(0x80, 200, 0), (0xFF, CF | SF | PF));
        assert_eq!(sh8::<SAR>(0x7F, 200, 0), (0x00, ZF | PF));
        assert_eq!(
            flags_after::<U16, SAR, MODERN>(0x8000, 16, 0),
            (0xFFFF, CF | SF | PF)
        );
        assert_eq!(flags_after::<U32, SAR, MODERN>(0x6000_0000, 30, 0), (1, CF));
    }

    #[test]
    fn rotates_change_only_cf_and_of() {
        let keep = ZF | SF | PF | AF;
        assert_eq!(sh8::<ROL>(0x81, 1, keep), (0x03, keep | CF | OF));
        assert_eq!(sh8::<ROL>(0x40, 1, 0), (0x80, OF));
        // A count that is a multiple of the size rotates nothing but still sets CF and OF.
        assert_eq!(sh8::<ROL>(0x81, 8, 0), (0x81, CF));
        assert_eq!(sh8::<ROL>(0x80, 16, 0), (0x80, OF));
        assert_eq!(sh8::<ROR>(0x01, 1, keep), (0x80, keep | CF | OF));
        assert_eq!(sh8::<ROR>(0x02, 1, CF), (0x01, 0));
        assert_eq!(
            flags_after::<U32, ROR, MODERN>(0xB25D_542F, 15, 0),
            (0xA85F_64BA, CF | OF)
        );
        assert_eq!(flags_after::<U64, ROL, MODERN>(1 << 63, 1, 0), (1, CF | OF));
    }

    #[test]
    fn rotates_through_carry() {
        // RCL AL=0x80, CF=0 by 1: AL=0, CF=1, OF = MSB ^ CF = 1.
        assert_eq!(sh8::<RCL>(0x80, 1, 0), (0x00, CF | OF));
        assert_eq!(sh8::<RCL>(0x00, 1, CF), (0x01, 0));
        // By 9 (mod 9 = 0): nothing rotates; OF = MSB ^ CF as the last step of the 80286.
        assert_eq!(sh8::<RCL>(0x55, 9, CF | ZF), (0x55, CF | ZF | OF));
        assert_eq!(sh8::<RCR>(0x55, 18, ZF | OF), (0x55, ZF | OF));
        // By 8: a 9-bit rotate, CF enters bit 7.
        assert_eq!(sh8::<RCL>(0x01, 8, CF), (0x80, CF));
        assert_eq!(sh8::<RCR>(0x01, 1, 0), (0x00, CF));
        assert_eq!(sh8::<RCR>(0x00, 1, CF), (0x80, OF));
        assert_eq!(
            flags_after::<U16, RCR, MODERN>(0x0001, 17, CF),
            (0x0001, CF)
        );
        assert_eq!(flags_after::<U16, RCL, MODERN>(0x8000, 16, 0), (0x4000, 0));
        assert_eq!(flags_after::<U16, RCL, MODERN>(0x4000, 1, 0), (0x8000, OF));
        assert_eq!(
            flags_after::<U64, RCL, MODERN>(1 << 63, 1, CF),
            (1, CF | OF)
        );
        assert_eq!(flags_after::<U64, RCR, MODERN>(1, 63, CF), (0b110, 0));
        assert_eq!(
            flags_after::<U32, RCR, MODERN>(1, 1, CF),
            (0x8000_0000, CF | OF)
        );
    }

    #[test]
    fn setmo_gives_all_ones() {
        assert_eq!(sh8::<SETMO>(0x12, 1, CF | OF), (0xFF, SF | PF));
        assert_eq!(
            flags_after::<U16, SETMO, MODERN>(0, 3, 0),
            (0xFFFF, SF | PF)
        );
    }

    fn dsh<W: Width, const L: bool>(dst: u64, src: u64, n: u32) -> (u64, u64) {
        let mut f = Flags::default();
        let r = double_shift::<W, L>(&mut f, dst, src, n);
        (r, f.get() & ARITH)
    }

    #[test]
    fn shld_shrd_table() {
        assert_eq!(
            dsh::<U32, true>(0x8000_0001, 0xC000_0000, 1),
            (0x0000_0003, CF | PF | OF)
        );
        assert_eq!(
            dsh::<U32, true>(0x1234_5678, 0x9ABC_DEF0, 8),
            (0x3456_789A, PF)
        );
        assert_eq!(
            dsh::<U32, false>(0x1234_5678, 0x9ABC_DEF0, 8),
            (0xF012_3456, SF | PF)
        );
        assert_eq!(dsh::<U32, false>(0x0000_0001, 0, 1), (0, CF | ZF | PF));
        assert_eq!(dsh::<U64, true>(1 << 63, u64::MAX, 63), (u64::MAX >> 1, PF));
        assert_eq!(dsh::<U64, true>(2, 0, 63), (0, CF | ZF | PF | OF));
        assert_eq!(dsh::<U16, true>(0x1234, 0x5678, 4), (0x2345, CF | OF));
        assert_eq!(dsh::<U16, false>(0x1234, 0x5678, 4), (0x8123, SF | OF));
        // Counts above 16 (undefined): P6 shifts dst:src:dst.
        assert_eq!(dsh::<U16, true>(0x1234, 0x5678, 20), (0x6781, CF | PF | OF));
        assert_eq!(dsh::<U16, false>(0x1234, 0x5678, 20), (0x4567, CF | OF));
    }
}
