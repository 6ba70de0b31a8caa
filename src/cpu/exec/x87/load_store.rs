//! FLD, FILD, FBLD and the constants; FST, FSTP, FIST, FISTP, FISTTP, FBSTP; FXCH, FCMOVcc,
//! FFREE, FFREEP, FINCSTP, FDECSTP (SDM Vol. 2A).

use super::arith::read_operand;
use super::{enter, fmt, note, note_mem, read_m80, write_m80, R};
use crate::cpu::softfloat::convert::{convert_unpacked, round_int, to_int};
use crate::cpu::softfloat::wide;
use crate::cpu::softfloat::{Class, Ctx, Exc, Float, Round, F32, F64, F80};
use crate::cpu::{Cpu, Op, U16, U32, U64};

/// The constants of FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ.
pub const ONE: u8 = 0;
/// log2 10.
pub const L2T: u8 = 1;
/// log2 e.
pub const L2E: u8 = 2;
/// π.
pub const PI: u8 = 3;
/// log10 2.
pub const LG2: u8 = 4;
/// ln 2.
pub const LN2: u8 = 5;
/// +0.0.
pub const Z: u8 = 6;

/// The largest magnitude FBSTP stores: 18 nines.
const BCD_MAX: u128 = 999_999_999_999_999_999;

/// The packed BCD indefinite (SDM Vol. 1 Table 4-11): FFFF C000 0000 0000 0000H.
const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];

/// The value of an 18-digit packed BCD operand (digits above 9 count with their binary
/// value, an undefined case).
pub fn bcd_value(b: &[u8; 10]) -> F80 {
    let mut v: i64 = 0;
    for k in (0..9).rev() {
        v = v * 100 + (b[k] >> 4) as i64 * 10 + (b[k] & 0xF) as i64;
    }
    let mut ctx = Ctx::new();
    let r: F80 = crate::cpu::softfloat::convert::from_int(&mut ctx, v);
    if b[9] & 0x80 != 0 {
        -r
    } else {
        r
    }
}

/// The packed BCD image of a magnitude below 10^18.
fn bcd_image(sign: bool, mut mag: u128) -> [u8; 10] {
    let mut b = [0u8; 10];
    for byte in b.iter_mut().take(9) {
        let lo = (mag % 10) as u8;
        mag /= 10;
        let hi = (mag % 10) as u8;
        mag /= 10;
        *byte = hi << 4 | lo;
    }
    b[9] = (sign as u8) << 7;
    b
}

/// FLD m32fp/m64fp/m80fp, FILD m16/m32/m64int, FBLD m80bcd: push the operand.
pub fn fld_mem<const SRC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let off = cpu.ea(op);
    let mut ctx = cpu.fpu.ctx();
    let v = match SRC {
        // An extended load is a copy: no exceptions (SDM Vol. 2A FLD).
        fmt::M80 => read_m80(cpu, op, off)?,
        fmt::BCD => bcd_value(&read_m80(cpu, op, off)?.to_bytes()),
        _ => convert_unpacked::<F80>(&mut ctx, &read_operand::<SRC>(cpu, op, off)?),
    };
    note_mem(cpu, op, off);
    push_checked(cpu, &ctx, v);
    Ok(())
}

/// Pushes a loaded value: stack overflow first, then the operand's own exceptions (an
/// unmasked #IA pushes nothing; a denormal is loaded even with #D unmasked, as the
/// host-diff runs show).
fn push_checked(cpu: &mut Cpu, ctx: &Ctx, v: F80) {
    let f = &mut cpu.fpu;
    if !f.empty(7) {
        f.overflow();
        return;
    }
    if ctx.unmasked().intersects(Exc::IE) {
        f.set_c1(false);
        f.raise(ctx.flags);
        return;
    }
    f.push(v);
    f.set_c1(false);
    f.raise(ctx.flags);
}

/// FLD ST(i).
pub fn fld_sti(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    // An empty source is reported before a full stack (the host-diff runs: C1 = 0).
    let v = if f.empty(op.rm) {
        if !f.stack_fault(false) {
            return Ok(());
        }
        F80::INDEFINITE
    } else if !f.empty(7) {
        f.overflow();
        return Ok(());
    } else {
        f.st(op.rm)
    };
    f.push(v);
    f.set_c1(false);
    Ok(())
}

/// The constant rounded by the control word's mode from its exact value (SDM Vol. 1 8.3.8:
/// the constants follow RC; no exception is raised). The host-diff runs show FLDLG2 in
/// round-to-nearest giving 9A209A84FBCFF799, which a 66-bit constant would round to even.
fn constant(c: u8, round: Round) -> F80 {
    let w = match c {
        ONE => return F80::ONE,
        Z => return F80::ZERO,
        L2T => wide::LOG2_10,
        L2E => wide::LOG2_E,
        PI => wide::PI,
        LG2 => wide::LOG10_2,
        _ => wide::LN2,
    };
    let mut ctx = Ctx {
        round,
        ..Ctx::new()
    };
    w.to_f80(&mut ctx, &F80::FMT)
}

/// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ.
pub fn fld_const<const C: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if !f.empty(7) {
        f.overflow();
        return Ok(());
    }
    let v = constant(C, f.ctx().round);
    f.push(v);
    f.set_c1(false);
    Ok(())
}

/// FST ST(i) / FSTP ST(i); with `NCE` the reserved alias D9 D8+i, which on an empty ST(0)
/// raises nothing, writes nothing and only pops (the host-diff runs on AMD; iced calls it
/// FSTPNCE).
pub fn fst_sti<const POP: bool, const NCE: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    if f.empty(0) {
        if NCE {
            f.set_c1(false);
            f.pop();
        } else {
            f.underflow(op.rm, POP as u8);
        }
        return Ok(());
    }
    let v = f.st(0);
    f.set_st(op.rm, v);
    f.set_c1(false);
    if POP {
        f.pop();
    }
    Ok(())
}

/// The memory image of ST(0) in format `DST` (rounding with `round`), and the exceptions
/// of the conversion in `ctx`. The image is `len` bytes of `bytes`.
fn image<const DST: u8>(ctx: &mut Ctx, v: F80, round: Round) -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let len = match DST {
        fmt::M32 => {
            let r: F32 = crate::cpu::softfloat::convert::convert(ctx, v);
            b[..4].copy_from_slice(&r.0.to_le_bytes());
            4
        }
        fmt::M64 => {
            let r: F64 = crate::cpu::softfloat::convert::convert(ctx, v);
            b[..8].copy_from_slice(&r.0.to_le_bytes());
            8
        }
        fmt::M80 => {
            b = v.to_bytes();
            10
        }
        fmt::I16 | fmt::I32 | fmt::I64 => {
            let bits = match DST {
                fmt::I16 => 16,
                fmt::I32 => 32,
                _ => 64,
            };
            let r = to_int(ctx, v, bits, round);
            b[..8].copy_from_slice(&r.to_le_bytes());
            bits as usize / 8
        }
        _ => {
            // FBSTP: to an integer in RC, then 18 BCD digits; out of range, a NaN or an
            // infinity is invalid and stores the BCD indefinite.
            let u = v.unpack(ctx);
            let mut probe = *ctx;
            match round_int(&mut probe, &u, round) {
                Some((sign, mag)) if mag <= BCD_MAX && u.class != Class::Unsupported => {
                    probe.flags &= !Exc::DE;
                    *ctx = probe;
                    b = bcd_image(sign, mag);
                }
                _ => {
                    ctx.raise(Exc::IE);
                    ctx.up = false;
                    b = BCD_INDEFINITE;
                }
            }
            10
        }
    };
    (b, len)
}

/// The indefinite of format `DST` (the masked response to an invalid store).
fn indefinite_image<const DST: u8>() -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let len = match DST {
        fmt::M32 => {
            b[..4].copy_from_slice(&F32::INDEFINITE.0.to_le_bytes());
            4
        }
        fmt::M64 => {
            b[..8].copy_from_slice(&F64::INDEFINITE.0.to_le_bytes());
            8
        }
        fmt::M80 => {
            b = F80::INDEFINITE.to_bytes();
            10
        }
        fmt::I16 => {
            b[1] = 0x80;
            2
        }
        fmt::I32 => {
            b[3] = 0x80;
            4
        }
        fmt::I64 => {
            b[7] = 0x80;
            8
        }
        _ => {
            b = BCD_INDEFINITE;
            10
        }
    };
    (b, len)
}

/// Checks that a store of format `DST` at `off` can be written.
fn probe<const DST: u8>(cpu: &mut Cpu, op: &Op, off: u64) -> R {
    match DST {
        fmt::I16 => cpu.probe_write(op.seg, off, 2),
        fmt::M32 | fmt::I32 => cpu.probe_write(op.seg, off, 4),
        fmt::M64 | fmt::I64 => cpu.probe_write(op.seg, off, 8),
        _ => {
            cpu.probe_write(op.seg, off, 8)?;
            cpu.probe_write(op.seg, super::at(op, off, 8), 2)
        }
    }
}

/// Writes a memory image of `len` bytes.
fn write_image(cpu: &mut Cpu, op: &Op, off: u64, b: &[u8; 10], len: usize) -> R {
    match len {
        2 => cpu.write::<U16>(op.seg, off, u16::from_le_bytes([b[0], b[1]]) as u64),
        4 => cpu.write::<U32>(
            op.seg,
            off,
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        ),
        8 => {
            let mut q = [0u8; 8];
            q.copy_from_slice(&b[..8]);
            cpu.write::<U64>(op.seg, off, u64::from_le_bytes(q))
        }
        _ => write_m80(cpu, op, off, F80::from_bytes(*b)),
    }
}

/// Stores ST(0) in format `DST` rounding with `round`, popping if `POP`. Nothing changes if
/// the memory write faults; an unmasked exception other than #P stores nothing and does
/// not pop (SDM Vol. 1 8.5).
fn store<const DST: u8, const POP: bool>(cpu: &mut Cpu, op: &Op, round: Option<Round>) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let off = cpu.ea(op);
    // The destination is checked (#PF, #AC, #GP) before any x87 exception is decided.
    probe::<DST>(cpu, op, off)?;
    if cpu.fpu.empty(0) {
        if cpu.fpu.ie_masked() {
            let (b, len) = indefinite_image::<DST>();
            write_image(cpu, op, off, &b, len)?;
        }
        note_mem(cpu, op, off);
        if cpu.fpu.stack_fault(false) && POP {
            cpu.fpu.pop();
        }
        return Ok(());
    }
    let mut ctx = cpu.fpu.ctx();
    let round = round.unwrap_or(ctx.round);
    let (b, len) = image::<DST>(&mut ctx, cpu.fpu.st(0), round);
    let unmasked = ctx.unmasked();
    if !(unmasked - Exc::PE).is_empty() {
        note_mem(cpu, op, off);
        // Nothing is stored: an unmasked overflow or underflow reports no precision
        // exception for a memory destination (the host-diff runs).
        let flags = if unmasked.intersects(Exc::OE | Exc::UE) {
            ctx.flags - Exc::PE
        } else {
            ctx.flags
        };
        cpu.fpu.set_c1(false);
        cpu.fpu.raise(flags);
        return Ok(());
    }
    write_image(cpu, op, off, &b, len)?;
    note_mem(cpu, op, off);
    let f = &mut cpu.fpu;
    f.set_c1(ctx.up);
    f.raise(ctx.flags);
    if POP {
        f.pop();
    }
    Ok(())
}

/// FST/FSTP m32fp/m64fp/m80fp, FIST/FISTP m16/m32/m64int, FBSTP m80bcd.
pub fn fst_mem<const DST: u8, const POP: bool>(cpu: &mut Cpu, op: &Op) -> R {
    store::<DST, POP>(cpu, op, None)
}

/// FISTTP m16/m32/m64int: truncates whatever the rounding mode (SSE3).
pub fn fisttp<const DST: u8>(cpu: &mut Cpu, op: &Op) -> R {
    store::<DST, true>(cpu, op, Some(Round::Zero))
}

/// FXCH ST(i): an empty register reads as the real indefinite (masked underflow).
pub fn fxch(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let f = &mut cpu.fpu;
    let (mut a, mut b) = (f.st(0), f.st(op.rm));
    let (ea, eb) = (f.empty(0), f.empty(op.rm));
    f.set_c1(false);
    if ea || eb {
        if !f.stack_fault(false) {
            return Ok(());
        }
        if ea {
            a = F80::INDEFINITE;
        }
        if eb {
            b = F80::INDEFINITE;
        }
    }
    f.set_st(op.rm, a);
    f.set_st(0, b);
    Ok(())
}

/// FCMOVcc ST(0), ST(i): `CC` is the Jcc condition nibble (B, E, BE, U and negations).
pub fn fcmov<const CC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    let cond = cpu.flags.cond(CC);
    let f = &mut cpu.fpu;
    if f.empty(0) || f.empty(op.rm) {
        f.underflow(0, 0);
        return Ok(());
    }
    // C1 stays as it was (the host-diff runs).
    if cond {
        let v = f.st(op.rm);
        f.set_st(0, v);
    }
    Ok(())
}

/// FFREE ST(i) and FFREEP ST(i) (tag empty, then pop).
pub fn ffree<const POP: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    cpu.fpu.free(op.rm);
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// FINCSTP: TOP + 1, tags unchanged, C1 cleared.
pub fn fincstp(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    cpu.fpu.top = (cpu.fpu.top + 1) & 7;
    cpu.fpu.set_c1(false);
    Ok(())
}

/// FDECSTP: TOP − 1, tags unchanged, C1 cleared.
pub fn fdecstp(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    cpu.fpu.top = cpu.fpu.top.wrapping_sub(1) & 7;
    cpu.fpu.set_c1(false);
    Ok(())
}
