//! The x87 FPU instructions (SDM Vol. 1 chapter 8, Vol. 2 F*): decoding to handlers chosen
//! for the exact form (register or memory operand, its format, pops), and what every
//! handler shares: the #NM checks of CR0.EM/TS (SDM Vol. 3A 2.5), pending unmasked
//! exceptions reported on the next waiting instruction as #MF with CR0.NE set or through
//! FERR# with CR0.NE clear (SDM Vol. 1 8.7, D.1), the last instruction and data pointers,
//! and operand access for the 80-bit, BCD and environment formats. The arithmetic itself is
//! the soft-float library's ([`crate::cpu::softfloat`]).
//!
//! Files: [`state`] (the FPU state), [`load_store`], [`arith`], [`compare`],
//! [`transcendental`], [`control`] (control words, environment, save/restore).
//!
//! The legacy FERR# path: with CR0.NE clear, a waiting instruction that finds an unmasked
//! exception pending asserts FERR# ([`Cpu::fpu_ferr`]) and freezes (the CPU halts with RIP at
//! the instruction) until an interrupt arrives; a PC routes FERR# to IRQ 13, whose handler
//! clears the exception (FNCLEX) and returns to the instruction, which then runs. A board
//! that drives IGNNE# ([`Cpu::set_fpu_ignne`]) makes waiting instructions ignore it.

pub mod arith;
pub mod compare;
pub mod control;
pub mod load_store;
pub mod state;
pub mod transcendental;

use iced_x86::{Code as C, Register};

use super::R;
use crate::cpu::cpuid::{self, Feature};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::operand::ASIZE_MASK;
use crate::cpu::softfloat::F80;
use crate::cpu::{Cpu, Cr0, Handler, Op, U16, U64, U8};
pub use state::Fpu;

/// The memory formats of x87 operands, as const-generic selectors.
pub mod fmt {
    #![allow(missing_docs)]
    /// binary32.
    pub const M32: u8 = 0;
    /// binary64.
    pub const M64: u8 = 1;
    /// 16-bit integer.
    pub const I16: u8 = 2;
    /// 32-bit integer.
    pub const I32: u8 = 3;
    /// 64-bit integer.
    pub const I64: u8 = 4;
    /// 80-bit extended.
    pub const M80: u8 = 5;
    /// 18-digit packed BCD.
    pub const BCD: u8 = 6;
    /// A register ST(i) (compare forms).
    pub const REG: u8 = 7;
    /// The constant +0.0 (FTST).
    pub const ZERO: u8 = 8;
}

impl Cpu {
    /// The FERR# output: an unmasked x87 exception is pending and was signalled the legacy
    /// way (CR0.NE clear). A PC board routes it to IRQ 13 (through the 8259's input 13) and
    /// polls it when [`Cpu::run`] returns.
    pub fn fpu_ferr(&self) -> bool {
        self.fpu.ferr
    }

    /// Drives the IGNNE# input (on a PC, a write to port F0H asserts it until FERR# drops).
    pub fn set_fpu_ignne(&mut self, asserted: bool) {
        self.fpu.ignne = asserted;
    }
}

/// The checks before an x87 instruction: #NM when CR0.EM or CR0.TS is set (SDM Vol. 3A
/// Table 2-2), then for a waiting instruction a pending unmasked exception. Returns
/// `Ok(false)` when the instruction must not run now (frozen on FERR#).
#[inline(always)]
pub(crate) fn enter(cpu: &mut Cpu, op: &Op, wait: bool) -> Result<bool, Fault> {
    if cpu.cr0.intersects(Cr0::EM | Cr0::TS) {
        return Err(Fault::NM);
    }
    if wait && cpu.fpu.sw & state::sw::ES != 0 {
        return pending(cpu, op);
    }
    Ok(true)
}

/// A waiting instruction met a pending unmasked exception.
#[cold]
pub(super) fn pending(cpu: &mut Cpu, op: &Op) -> Result<bool, Fault> {
    if cpu.cr0.contains(Cr0::NE) {
        return Err(Fault::MF);
    }
    if cpu.fpu.ignne {
        return Ok(true);
    }
    // FERR#: the processor stops before the instruction until an interrupt arrives.
    cpu.fpu.ferr = true;
    let rip = cpu.rip().wrapping_sub(op.len as u64) & cpu.ip_mask;
    cpu.set_rip(rip);
    cpu.halted = true;
    cpu.end_block();
    Ok(false)
}

/// Records the instruction pointer and opcode of a non-control instruction (SDM Vol. 1
/// 8.1.8, 8.1.9).
#[inline(always)]
pub(crate) fn note(cpu: &mut Cpu, op: &Op) {
    cpu.fpu.fip = cpu.rip().wrapping_sub(op.len as u64) & cpu.ip_mask;
    cpu.fpu.fcs = cpu.seg(crate::cpu::sreg::CS).selector;
    cpu.fpu.fop = op.imm2;
}

/// [`note`], and the data pointer of a memory operand at `off`.
#[inline(always)]
pub(crate) fn note_mem(cpu: &mut Cpu, op: &Op, off: u64) {
    note(cpu, op);
    cpu.fpu.fdp = off;
    cpu.fpu.fds = cpu.seg(op.seg).selector;
}

/// `off + k` within the address size.
#[inline(always)]
pub(crate) fn at(op: &Op, off: u64, k: u64) -> u64 {
    off.wrapping_add(k) & ASIZE_MASK[(op.asize & 3) as usize]
}

/// Reads an 80-bit value.
pub(crate) fn read_m80(cpu: &mut Cpu, op: &Op, off: u64) -> Result<F80, Fault> {
    let m = cpu.read::<U64>(op.seg, off)?;
    let se = cpu.read::<U16>(op.seg, at(op, off, 8))? as u16;
    Ok(F80 { se, m })
}

/// Writes an 80-bit value; nothing is written unless all ten bytes can be.
pub(crate) fn write_m80(cpu: &mut Cpu, op: &Op, off: u64, v: F80) -> R {
    cpu.probe_write(op.seg, at(op, off, 8), 2)?;
    cpu.write::<U64>(op.seg, off, v.m)?;
    cpu.write::<U16>(op.seg, at(op, off, 8), v.se as u64)
}

/// Reads `out.len()` bytes: the first `align` bytes as one access (alignment checking sees
/// the operand's alignment), then the last byte (a #PF on an operand that crosses a page
/// reports it, as the host-diff runs show for FLDENV and FRSTOR), then the rest.
pub(crate) fn read_block(cpu: &mut Cpu, op: &Op, off: u64, out: &mut [u8], align: u8) -> R {
    match align {
        8 => drop(cpu.read::<U64>(op.seg, off)?),
        4 => drop(cpu.read::<crate::cpu::U32>(op.seg, off)?),
        2 => drop(cpu.read::<U16>(op.seg, off)?),
        _ => {}
    }
    cpu.read::<U8>(op.seg, at(op, off, out.len() as u64 - 1))?;
    for (k, b) in out.iter_mut().enumerate() {
        *b = cpu.read::<U8>(op.seg, at(op, off, k as u64))? as u8;
    }
    Ok(())
}

/// Writes `bytes`; nothing is written unless all of them can be (the first `align` bytes
/// are probed as one access, so alignment checking sees the operand's alignment).
pub(crate) fn write_block(cpu: &mut Cpu, op: &Op, off: u64, bytes: &[u8], align: u8) -> R {
    cpu.probe_write(op.seg, off, align)?;
    cpu.probe_write(op.seg, at(op, off, bytes.len() as u64 - 1), 1)?;
    for (k, b) in bytes.iter().enumerate() {
        cpu.write::<U8>(op.seg, at(op, off, k as u64), *b as u64)?;
    }
    Ok(())
}

/// The index of an x87 register operand ST(i).
fn st_index(r: Register) -> u8 {
    (r as u32).wrapping_sub(Register::ST0 as u32) as u8 & 7
}

/// The index i of the ST(i) operand encoded in the opcode's low bits, if any.
fn sti_operand(ins: &iced_x86::Instruction) -> Option<u8> {
    let oc = ins.op_code();
    (0..oc.op_count())
        .find(|&i| oc.op_kind(i) == iced_x86::OpCodeOperandKind::sti_opcode)
        .map(|i| st_index(ins.op_register(i)))
}

/// The FOP of an instruction: the low three bits of its first opcode byte and its ModR/M
/// byte. Memory forms get mod and r/m as the addressing suggests (iced keeps no raw bytes).
fn fop(d: &Decoded) -> u16 {
    let ins = d.ins;
    let oc = ins.op_code();
    if oc.op_code() > 0xFF {
        // A register form iced takes as a two-byte opcode (D9 E8 is FLD1, D8 C0+i FADD).
        let modrm = (oc.op_code() & 0xFF) as u16 + sti_operand(ins).unwrap_or(0) as u16;
        return ((oc.op_code() >> 8) as u16 & 7) << 8 | modrm;
    }
    let first = (oc.op_code() & 7) as u16;
    let reg = oc.group_index().max(0) as u16 & 7;
    let modrm = if d.is_mem(0) || (ins.op_count() > 1 && d.is_mem(1)) {
        let base = ins.memory_base();
        let index = ins.memory_index();
        let disp = ins.memory_displ_size();
        // 16-bit addressing has its own rm table, [disp16] included.
        let sixteen = d.addr_size() == 0;
        let rm = if sixteen {
            use Register as Rg;
            match (base, index) {
                (Rg::BX, Rg::SI) => 0,
                (Rg::BX, Rg::DI) => 1,
                (Rg::BP, Rg::SI) => 2,
                (Rg::BP, Rg::DI) => 3,
                (Rg::SI, _) => 4,
                (Rg::DI, _) => 5,
                (Rg::BP, _) | (Rg::None, _) => 6,
                _ => 7,
            }
        } else if index != Register::None || (base.number() & 7) == 4 {
            4
        } else if base == Register::None && d.bits == 64 {
            // 64-bit code encodes an absolute [disp32] with a SIB byte: rm = 5 is RIP-relative.
            4
        } else if base == Register::None || base == Register::RIP || base == Register::EIP {
            5
        } else {
            base.number() as u16 & 7
        };
        let md = if base == Register::None || base == Register::RIP || base == Register::EIP {
            0
        } else {
            match disp {
                0 => 0,
                1 => 1,
                _ => 2,
            }
        };
        md << 6 | reg << 3 | rm
    } else {
        let rm = match sti_operand(ins) {
            Some(i) => i as u16,
            None => oc.rm_group_index().max(0) as u16 & 7,
        };
        0xC0 | reg << 3 | rm
    };
    first << 8 | modrm
}

/// Decodes the x87 group (and WAIT/FWAIT).
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    use arith as a;
    use compare as c;
    use control as k;
    use fmt::*;
    use load_store as l;
    use transcendental as t;
    let ins = d.ins;
    // ST(i) of the register forms, whichever operand it is.
    op.rm = sti_operand(ins).unwrap_or(0);
    if (0..ins.op_count()).any(|i| d.is_mem(i)) {
        d.mem(op);
    }
    op.imm2 = fop(d);
    // FISTTP arrived with SSE3; CPUID decides whether it exists.
    let sse3 = cpuid::has(Feature::SSE3);
    let run: Handler = match ins.code() {
        C::Wait => k::fwait,
        // Arithmetic.
        C::Fadd_m32fp => a::arith_mem::<{ a::ADD }, M32>,
        C::Fmul_m32fp => a::arith_mem::<{ a::MUL }, M32>,
        C::Fsub_m32fp => a::arith_mem::<{ a::SUB }, M32>,
        C::Fsubr_m32fp => a::arith_mem::<{ a::SUBR }, M32>,
        C::Fdiv_m32fp => a::arith_mem::<{ a::DIV }, M32>,
        C::Fdivr_m32fp => a::arith_mem::<{ a::DIVR }, M32>,
        C::Fadd_m64fp => a::arith_mem::<{ a::ADD }, M64>,
        C::Fmul_m64fp => a::arith_mem::<{ a::MUL }, M64>,
        C::Fsub_m64fp => a::arith_mem::<{ a::SUB }, M64>,
        C::Fsubr_m64fp => a::arith_mem::<{ a::SUBR }, M64>,
        C::Fdiv_m64fp => a::arith_mem::<{ a::DIV }, M64>,
        C::Fdivr_m64fp => a::arith_mem::<{ a::DIVR }, M64>,
        C::Fiadd_m32int => a::arith_mem::<{ a::ADD }, I32>,
        C::Fimul_m32int => a::arith_mem::<{ a::MUL }, I32>,
        C::Fisub_m32int => a::arith_mem::<{ a::SUB }, I32>,
        C::Fisubr_m32int => a::arith_mem::<{ a::SUBR }, I32>,
        C::Fidiv_m32int => a::arith_mem::<{ a::DIV }, I32>,
        C::Fidivr_m32int => a::arith_mem::<{ a::DIVR }, I32>,
        C::Fiadd_m16int => a::arith_mem::<{ a::ADD }, I16>,
        C::Fimul_m16int => a::arith_mem::<{ a::MUL }, I16>,
        C::Fisub_m16int => a::arith_mem::<{ a::SUB }, I16>,
        C::Fisubr_m16int => a::arith_mem::<{ a::SUBR }, I16>,
        C::Fidiv_m16int => a::arith_mem::<{ a::DIV }, I16>,
        C::Fidivr_m16int => a::arith_mem::<{ a::DIVR }, I16>,
        C::Fadd_st0_sti => a::arith_st0::<{ a::ADD }>,
        C::Fmul_st0_sti => a::arith_st0::<{ a::MUL }>,
        C::Fsub_st0_sti => a::arith_st0::<{ a::SUB }>,
        C::Fsubr_st0_sti => a::arith_st0::<{ a::SUBR }>,
        C::Fdiv_st0_sti => a::arith_st0::<{ a::DIV }>,
        C::Fdivr_st0_sti => a::arith_st0::<{ a::DIVR }>,
        C::Fadd_sti_st0 => a::arith_sti::<{ a::ADD }, false>,
        C::Fmul_sti_st0 => a::arith_sti::<{ a::MUL }, false>,
        C::Fsub_sti_st0 => a::arith_sti::<{ a::SUB }, false>,
        C::Fsubr_sti_st0 => a::arith_sti::<{ a::SUBR }, false>,
        C::Fdiv_sti_st0 => a::arith_sti::<{ a::DIV }, false>,
        C::Fdivr_sti_st0 => a::arith_sti::<{ a::DIVR }, false>,
        C::Faddp_sti_st0 => a::arith_sti::<{ a::ADD }, true>,
        C::Fmulp_sti_st0 => a::arith_sti::<{ a::MUL }, true>,
        C::Fsubp_sti_st0 => a::arith_sti::<{ a::SUB }, true>,
        C::Fsubrp_sti_st0 => a::arith_sti::<{ a::SUBR }, true>,
        C::Fdivp_sti_st0 => a::arith_sti::<{ a::DIV }, true>,
        C::Fdivrp_sti_st0 => a::arith_sti::<{ a::DIVR }, true>,
        C::Fchs => a::fchs,
        C::Fabs => a::fabs,
        C::Fsqrt => a::fsqrt,
        C::Frndint => a::frndint,
        C::Fscale => a::fscale,
        C::Fxtract => a::fxtract,
        C::Fprem => a::fprem::<false>,
        C::Fprem1 => a::fprem::<true>,
        // Loads and stores.
        C::Fld_m32fp => l::fld_mem::<M32>,
        C::Fld_m64fp => l::fld_mem::<M64>,
        C::Fld_m80fp => l::fld_mem::<M80>,
        C::Fild_m16int => l::fld_mem::<I16>,
        C::Fild_m32int => l::fld_mem::<I32>,
        C::Fild_m64int => l::fld_mem::<I64>,
        C::Fbld_m80bcd => l::fld_mem::<BCD>,
        C::Fld_sti => l::fld_sti,
        C::Fld1 => l::fld_const::<{ l::ONE }>,
        C::Fldl2t => l::fld_const::<{ l::L2T }>,
        C::Fldl2e => l::fld_const::<{ l::L2E }>,
        C::Fldpi => l::fld_const::<{ l::PI }>,
        C::Fldlg2 => l::fld_const::<{ l::LG2 }>,
        C::Fldln2 => l::fld_const::<{ l::LN2 }>,
        C::Fldz => l::fld_const::<{ l::Z }>,
        C::Fst_m32fp => l::fst_mem::<M32, false>,
        C::Fstp_m32fp => l::fst_mem::<M32, true>,
        C::Fst_m64fp => l::fst_mem::<M64, false>,
        C::Fstp_m64fp => l::fst_mem::<M64, true>,
        C::Fstp_m80fp => l::fst_mem::<M80, true>,
        C::Fist_m16int => l::fst_mem::<I16, false>,
        C::Fistp_m16int => l::fst_mem::<I16, true>,
        C::Fist_m32int => l::fst_mem::<I32, false>,
        C::Fistp_m32int => l::fst_mem::<I32, true>,
        C::Fistp_m64int => l::fst_mem::<I64, true>,
        C::Fbstp_m80bcd => l::fst_mem::<BCD, true>,
        C::Fisttp_m16int if sse3 => l::fisttp::<I16>,
        C::Fisttp_m32int if sse3 => l::fisttp::<I32>,
        C::Fisttp_m64int if sse3 => l::fisttp::<I64>,
        C::Fst_sti => l::fst_sti::<false, false>,
        C::Fstp_sti | C::Fstp_sti_DFD0 | C::Fstp_sti_DFD8 => l::fst_sti::<true, false>,
        C::Fstpnce_sti => l::fst_sti::<true, true>,
        C::Fxch_st0_sti | C::Fxch_st0_sti_DDC8 | C::Fxch_st0_sti_DFC8 => l::fxch,
        C::Fcmovb_st0_sti => l::fcmov::<0x2>,
        C::Fcmove_st0_sti => l::fcmov::<0x4>,
        C::Fcmovbe_st0_sti => l::fcmov::<0x6>,
        C::Fcmovu_st0_sti => l::fcmov::<0xA>,
        C::Fcmovnb_st0_sti => l::fcmov::<0x3>,
        C::Fcmovne_st0_sti => l::fcmov::<0x5>,
        C::Fcmovnbe_st0_sti => l::fcmov::<0x7>,
        C::Fcmovnu_st0_sti => l::fcmov::<0xB>,
        C::Ffree_sti => l::ffree::<false>,
        C::Ffreep_sti => l::ffree::<true>,
        C::Fincstp => l::fincstp,
        C::Fdecstp => l::fdecstp,
        // Comparisons.
        C::Fcom_m32fp => c::fcom::<M32, 0, false>,
        C::Fcomp_m32fp => c::fcom::<M32, 1, false>,
        C::Fcom_m64fp => c::fcom::<M64, 0, false>,
        C::Fcomp_m64fp => c::fcom::<M64, 1, false>,
        C::Ficom_m16int => c::fcom::<I16, 0, false>,
        C::Ficomp_m16int => c::fcom::<I16, 1, false>,
        C::Ficom_m32int => c::fcom::<I32, 0, false>,
        C::Ficomp_m32int => c::fcom::<I32, 1, false>,
        C::Fcom_st0_sti | C::Fcom_st0_sti_DCD0 => c::fcom::<REG, 0, false>,
        C::Fcomp_st0_sti | C::Fcomp_st0_sti_DCD8 | C::Fcomp_st0_sti_DED0 => {
            c::fcom::<REG, 1, false>
        }
        C::Fcompp => {
            op.rm = 1;
            c::fcom::<REG, 2, false>
        }
        C::Fucom_st0_sti => c::fcom::<REG, 0, true>,
        C::Fucomp_st0_sti => c::fcom::<REG, 1, true>,
        C::Fucompp => {
            op.rm = 1;
            c::fcom::<REG, 2, true>
        }
        C::Ftst => c::fcom::<ZERO, 0, false>,
        C::Fcomi_st0_sti => c::fcomi::<false, false>,
        C::Fcomip_st0_sti => c::fcomi::<true, false>,
        C::Fucomi_st0_sti => c::fcomi::<false, true>,
        C::Fucomip_st0_sti => c::fcomi::<true, true>,
        C::Fxam => c::fxam,
        // Transcendental functions.
        C::Fsin => t::fsin,
        C::Fcos => t::fcos,
        C::Fsincos => t::fsincos,
        C::Fptan => t::fptan,
        C::Fpatan => t::fpatan,
        C::F2xm1 => t::f2xm1,
        C::Fyl2x => t::fyl2x::<false>,
        C::Fyl2xp1 => t::fyl2x::<true>,
        // Control and environment.
        C::Fldcw_m2byte => k::fldcw,
        C::Fnstcw_m2byte => k::fstcw::<false>,
        C::Fstcw_m2byte => k::fstcw::<true>,
        C::Fnstsw_m2byte => k::fstsw::<false, false>,
        C::Fstsw_m2byte => k::fstsw::<true, false>,
        C::Fnstsw_AX => k::fstsw::<false, true>,
        C::Fstsw_AX => k::fstsw::<true, true>,
        C::Fnclex => k::fclex::<false>,
        C::Fclex => k::fclex::<true>,
        C::Fninit => k::finit::<false>,
        C::Finit => k::finit::<true>,
        C::Fldenv_m14byte | C::Fldenv_m28byte => k::fldenv,
        C::Fnstenv_m14byte | C::Fnstenv_m28byte => k::fstenv::<false>,
        C::Fstenv_m14byte | C::Fstenv_m28byte => k::fstenv::<true>,
        C::Frstor_m94byte | C::Frstor_m108byte => k::frstor,
        C::Fnsave_m94byte | C::Fnsave_m108byte => k::fsave::<false>,
        C::Fsave_m94byte | C::Fsave_m108byte => k::fsave::<true>,
        C::Fnop => k::fnop,
        // The 8087's and 287's FNENI, FNDISI and FNSETPM do nothing on the 387 and later.
        C::Fneni | C::Fndisi | C::Fnsetpm => k::fnop_legacy::<false>,
        C::Feni | C::Fdisi | C::Fsetpm => k::fnop_legacy::<true>,
        _ => return None,
    };
    op.run = run;
    // The 14/94-byte forms store the 16-bit layouts.
    op.extra = matches!(
        ins.code(),
        C::Fldenv_m14byte
            | C::Fnstenv_m14byte
            | C::Fstenv_m14byte
            | C::Frstor_m94byte
            | C::Fnsave_m94byte
            | C::Fsave_m94byte
    ) as u8;
    Some(Flow::Next)
}

#[cfg(test)]
mod tests;
