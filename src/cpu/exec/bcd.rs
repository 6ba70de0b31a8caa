//! Decimal adjust: DAA, DAS, AAA, AAS, AAM imm8, AAD imm8, and the undocumented SALC (D6).
//! All are #UD in 64-bit mode (iced-x86 already decodes them as invalid there).
//!
//! Flags follow SDM Vol. 2A "DAA", "DAS", "AAA", "AAS", "AAM", "AAD"; for the flags the manual
//! leaves undefined vx86 picks what falls out of the hardware's last ALU step: DAA/DAS clear
//! OF; AAA/AAS set SF, ZF, PF from AL and clear OF; AAM sets them as a logic op on AL (CF, OF,
//! AF clear); AAD as the 8-bit ADD of AL and AH * imm8 it performs.

use iced_x86::Mnemonic as M;

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::{FlagOp, Flags};
use crate::cpu::interrupt::IntKind;
use crate::cpu::state::{reg, Model};
use crate::cpu::{Cpu, Op, Width, U16, U8};

/// Sets all six arithmetic flags from `al` with CF, AF and OF given.
#[inline(always)]
fn set8(f: &mut Flags, al: u64, cf: bool, af: bool, of: bool) {
    f.set_result(8, al, cf, of, af);
}

/// The threshold above which DAA/DAS adjust the high digit. The 8086 compares with 9Fh when
/// AF was set on entry (its microcode tests AL after the low-digit adjustment); later
/// processors always with 99h (SingleStepTests 8086 vectors, opcodes 27 and 2F).
#[inline(always)]
fn high_limit<const OLD: bool>(af: bool) -> u64 {
    if OLD && af {
        0x9F
    } else {
        0x99
    }
}

/// DAA: decimal adjust AL after addition. Returns the new AL and sets the flags. `OLD`
/// selects the 8086.
pub fn daa<const OLD: bool>(f: &mut Flags, al: u64) -> u64 {
    let (cf, af) = (f.cf(), f.af());
    let naf = (al & 0xF) > 9 || af;
    // A carry out of AL + 6 needs AL > F9h, so the second test already covers it.
    let ncf = al > high_limit::<OLD>(af) || cf;
    let r = (al + if naf { 6 } else { 0 } + if ncf { 0x60 } else { 0 }) & 0xFF;
    set8(f, r, ncf, naf, false);
    r
}

/// DAS: decimal adjust AL after subtraction. `OLD` selects the 8086.
pub fn das<const OLD: bool>(f: &mut Flags, al: u64) -> u64 {
    let (cf, af) = (f.cf(), f.af());
    let naf = (al & 0xF) > 9 || af;
    let high = al > high_limit::<OLD>(af) || cf;
    // CF: the old CF, a borrow out of AL - 6 (not on the 8086), or the second adjustment.
    let ncf = high || (!OLD && naf && al < 6);
    let r = al
        .wrapping_sub(if naf { 6 } else { 0 })
        .wrapping_sub(if high { 0x60 } else { 0 })
        & 0xFF;
    set8(f, r, ncf, naf, false);
    r
}

/// AAA (`SUB` false) or AAS: ASCII adjust AX after addition or subtraction. `OLD` selects the
/// 8086, which adjusts AL and AH separately (no carry or borrow from AL into AH).
pub fn aaa<const SUB: bool, const OLD: bool>(f: &mut Flags, ax: u64) -> u64 {
    let adjust = (ax & 0xF) > 9 || f.af();
    let r = if !adjust {
        ax
    } else if OLD {
        let al = if SUB { ax.wrapping_sub(6) } else { ax + 6 } & 0xFF;
        let ah = if SUB {
            (ax >> 8).wrapping_sub(1)
        } else {
            (ax >> 8) + 1
        } & 0xFF;
        ah << 8 | al
    } else if SUB {
        // SDM "AAS": AX ← AX – 6; AH ← AH – 1.
        ax.wrapping_sub(6).wrapping_sub(0x100) & 0xFFFF
    } else {
        (ax + 0x106) & 0xFFFF
    };
    let r = r & 0xFF0F;
    set8(f, r & 0xFF, adjust, adjust, false);
    r
}

fn daa_h<const OLD: bool>(cpu: &mut Cpu, _: &Op) -> R {
    let al = U8::get(cpu, reg::RAX);
    let r = daa::<OLD>(&mut cpu.flags, al);
    U8::set(cpu, reg::RAX, r);
    Ok(())
}

fn das_h<const OLD: bool>(cpu: &mut Cpu, _: &Op) -> R {
    let al = U8::get(cpu, reg::RAX);
    let r = das::<OLD>(&mut cpu.flags, al);
    U8::set(cpu, reg::RAX, r);
    Ok(())
}

fn aaa_h<const SUB: bool, const OLD: bool>(cpu: &mut Cpu, _: &Op) -> R {
    let ax = U16::get(cpu, reg::RAX);
    let r = aaa::<SUB, OLD>(&mut cpu.flags, ax);
    U16::set(cpu, reg::RAX, r);
    Ok(())
}

/// AAM personalities, as const-generic selectors.
mod aam_kind {
    pub const MODERN: u8 = 0;
    pub const I286: u8 = 1;
    pub const I8086: u8 = 2;
}

/// AAM imm8: AH = AL / imm8, AL = AL MOD imm8; #DE if imm8 is 0. The old processors set the
/// flags before the divide error (the vectors show SF, ZF, PF of a zero result on the 8086,
/// of AL zero-extended to 16 bits on the 80286), and the 8086 takes it after the instruction,
/// as for DIV.
fn aam<const P: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let base = op.imm & 0xFF;
    let al = U8::get(cpu, reg::RAX);
    if base == 0 {
        return match P {
            aam_kind::I8086 => {
                cpu.flags.set_lazy(FlagOp::Logic, 8, 0, 0, 0);
                cpu.interrupt(0, IntKind::Exception, None)
            }
            aam_kind::I286 => {
                cpu.flags.set_lazy(FlagOp::Logic, 16, 0, 0, al);
                Err(Fault::DE)
            }
            _ => Err(Fault::DE),
        };
    }
    let (q, r) = (al / base, al % base);
    U16::set(cpu, reg::RAX, q << 8 | r);
    cpu.flags.set_lazy(FlagOp::Logic, 8, 0, 0, r);
    Ok(())
}

/// AAD imm8: AL = AL + AH * imm8, AH = 0; flags as that 8-bit addition.
fn aad(cpu: &mut Cpu, op: &Op) -> R {
    let ax = U16::get(cpu, reg::RAX);
    let a = ax & 0xFF;
    let b = ((ax >> 8) * (op.imm & 0xFF)) & 0xFF;
    let r = (a + b) & 0xFF;
    U16::set(cpu, reg::RAX, r);
    cpu.flags.set_lazy(FlagOp::Add, 8, a, b, r);
    Ok(())
}

/// SALC: AL = CF ? FFh : 00h, flags unchanged (undocumented; D6).
fn salc(cpu: &mut Cpu, _: &Op) -> R {
    let v = if cpu.flags.cf() { 0xFF } else { 0 };
    U8::set(cpu, reg::RAX, v);
    Ok(())
}

/// Decodes the decimal-adjust group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    if d.bits == 64 {
        return None;
    }
    let old = d.model == Model::I8086;
    op.run = match d.ins.mnemonic() {
        M::Daa if old => daa_h::<true>,
        M::Daa => daa_h::<false>,
        M::Das if old => das_h::<true>,
        M::Das => das_h::<false>,
        M::Aaa if old => aaa_h::<false, true>,
        M::Aaa => aaa_h::<false, false>,
        M::Aas if old => aaa_h::<true, true>,
        M::Aas => aaa_h::<true, false>,
        M::Aam => {
            op.imm = d.imm(0);
            match d.model {
                Model::I8086 => aam::<{ aam_kind::I8086 }>,
                Model::I80286 => aam::<{ aam_kind::I286 }>,
                Model::Modern => aam::<{ aam_kind::MODERN }>,
            }
        }
        M::Aad => {
            op.imm = d.imm(0);
            aad
        }
        M::Salc => salc,
        _ => return None,
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;

    fn with(flags: u64) -> Flags {
        let mut f = Flags::default();
        f.set_arith(ARITH, flags);
        f
    }

    fn run_daa(al: u64, fl: u64) -> (u64, u64) {
        let mut f = with(fl);
        let r = daa::<false>(&mut f, al);
        (r, f.get() & ARITH)
    }

    fn run_das(al: u64, fl: u64) -> (u64, u64) {
        let mut f = with(fl);
        let r = das::<false>(&mut f, al);
        (r, f.get() & ARITH)
    }

    #[test]
    fn daa_table() {
        // 0x19 + 0x28 = 0x41 with AF: adjusts to 0x47.
        assert_eq!(run_daa(0x41, AF), (0x47, AF | PF));
        assert_eq!(run_daa(0x0A, 0), (0x10, AF));
        assert_eq!(run_daa(0x9A, 0), (0x00, CF | AF | ZF | PF));
        assert_eq!(run_daa(0xA0, 0), (0x00, CF | ZF | PF));
        assert_eq!(run_daa(0x00, CF), (0x60, CF | PF));
        assert_eq!(run_daa(0xFA, 0), (0x60, CF | AF | PF));
        assert_eq!(run_daa(0x99, 0), (0x99, SF | PF));
    }

    #[test]
    fn old_daa_das_use_9fh_after_a_low_adjust() {
        // 8086 vectors: AL = 9Ah, AF = 1 gives A0h with CF = 0; DAS of 00h with AF gives FAh,
        // CF = 0.
        let mut f = with(AF);
        assert_eq!(
            (daa::<true>(&mut f, 0x9A), f.get() & ARITH),
            (0xA0, AF | SF | PF)
        );
        let mut f = with(AF);
        assert_eq!(
            (das::<true>(&mut f, 0x00), f.get() & ARITH),
            (0xFA, AF | SF | PF)
        );
        let mut f = with(AF);
        assert_eq!(
            (das::<false>(&mut f, 0x00), f.get() & ARITH),
            (0xFA, CF | AF | SF | PF)
        );
    }

    #[test]
    fn das_table() {
        // 0x47 - 0x28 = 0x1F with AF: adjusts to 0x19.
        assert_eq!(run_das(0x1F, AF), (0x19, AF));
        assert_eq!(run_das(0x03, AF), (0xFD, CF | AF | SF));
        assert_eq!(run_das(0x9A, 0), (0x34, CF | AF));
        assert_eq!(run_das(0x00, CF), (0xA0, CF | SF | PF));
        assert_eq!(run_das(0x66, 0), (0x66, PF));
    }

    fn run_aaa<const SUB: bool, const OLD: bool>(ax: u64, fl: u64) -> (u64, u64) {
        let mut f = with(fl);
        let r = aaa::<SUB, OLD>(&mut f, ax);
        (r, f.get() & ARITH)
    }

    #[test]
    fn aaa_aas_table() {
        assert_eq!(run_aaa::<false, false>(0x000B, 0), (0x0101, CF | AF));
        assert_eq!(run_aaa::<false, false>(0x0005, 0), (0x0005, PF));
        assert_eq!(
            run_aaa::<false, false>(0x00FA, 0),
            (0x0200, CF | AF | ZF | PF)
        );
        // The 8086 does not carry from AL into AH.
        assert_eq!(
            run_aaa::<false, true>(0x00FA, 0),
            (0x0100, CF | AF | ZF | PF)
        );
        assert_eq!(run_aaa::<true, false>(0x020B, 0), (0x0105, CF | AF | PF));
        assert_eq!(run_aaa::<true, false>(0x0203, AF), (0x000D, CF | AF));
        assert_eq!(run_aaa::<true, true>(0x0203, AF), (0x010D, CF | AF));
        assert_eq!(run_aaa::<true, false>(0x0209, 0), (0x0209, PF));
    }
}
