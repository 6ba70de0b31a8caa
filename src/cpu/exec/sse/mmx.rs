//! MMX (SDM Vol. 1 chapter 9): the eight 64-bit registers MM0–MM7 are the significands of
//! the x87 physical registers R0–R7 ([`crate::cpu::exec::x87::Fpu::regs`]). Every MMX
//! instruction but EMMS puts the FPU in MMX mode: TOP = 0 and every register tagged valid;
//! a write also sets the register's sign and exponent to all ones (SDM Vol. 1 9.5.1). EMMS
//! tags them all empty. Before an MMX instruction: CR0.EM raises #UD, CR0.TS #NM, and a
//! pending unmasked x87 exception is reported as a waiting x87 instruction would (#MF, or
//! FERR# with CR0.NE clear).
//!
//! The operations are those of the XMM forms ([`Simd::op64`]); this file holds the MMX
//! handlers, the moves between MMX, XMM and general registers, and the conversions
//! between MMX and XMM registers (CVTPI2PS, CVTPS2PI, …).

use iced_x86::{Code, Mnemonic as M};

use super::fp::{commit, f32s, f64s, from_f64s};
use super::shuffle::signs;
use super::xmm::{from_q, hi};
use super::{load, set_xmm, src, sse_ready, vreg, xmm, Simd, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::exec::x87::state::sw;
use crate::cpu::fault::Fault;
use crate::cpu::softfloat::{convert, Ctx, Exc, Round, F32, F64, F80};
use crate::cpu::{Cpu, Cr0, Handler, Op, Width, U16, U32, U64, U8};

/// MMX register `r`: the significand of physical register R`r`.
#[inline(always)]
pub fn mm(cpu: &Cpu, r: u8) -> u64 {
    cpu.fpu.regs[(r & 7) as usize].m
}

/// Writes MMX register `r`: the significand, with sign and exponent all ones.
#[inline(always)]
pub fn set_mm(cpu: &mut Cpu, r: u8, v: u64) {
    cpu.fpu.regs[(r & 7) as usize] = F80 { se: 0xFFFF, m: v };
}

/// The transition to MMX mode: TOP = 0, all registers tagged valid.
#[inline(always)]
fn enter_mmx(cpu: &mut Cpu) {
    cpu.fpu.top = 0;
    cpu.fpu.valid = 0xFF;
}

/// The checks before an MMX instruction; `Ok(false)`: the processor froze on FERR# and
/// the instruction does not run now.
#[inline(always)]
pub fn mmx_ready(cpu: &mut Cpu, op: &Op) -> Result<bool, Fault> {
    if cpu.cr0.intersects(Cr0::EM | Cr0::TS) {
        return Err(if cpu.cr0.contains(Cr0::EM) {
            Fault::UD
        } else {
            Fault::NM
        });
    }
    if cpu.fpu.sw & sw::ES != 0 {
        return crate::cpu::exec::x87::pending(cpu, op);
    }
    Ok(true)
}

/// The checks of an SSE instruction with an MMX register operand (CVTPI2PS …): those of
/// SSE, then the pending x87 exception.
#[inline(always)]
fn sse_mmx_ready(cpu: &mut Cpu, op: &Op) -> Result<bool, Fault> {
    sse_ready(cpu)?;
    if cpu.fpu.sw & sw::ES != 0 {
        return crate::cpu::exec::x87::pending(cpu, op);
    }
    Ok(true)
}

/// `mm[r] = O(mm[r], source, imm)`; the source is MMX register `rm`, m64 or the immediate.
fn mmx_op<O: Simd, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    let b = match S {
        src::REG => mm(cpu, op.rm),
        src::IMM => op.imm as u8 as u64,
        src::M32 => cpu.read_ea::<U32>(op)?,
        _ => cpu.read_ea::<U64>(op)?,
    };
    enter_mmx(cpu);
    let a = mm(cpu, op.r);
    set_mm(cpu, op.r, O::op64(a, b, op.imm as u8));
    Ok(())
}

/// The handler of the MMX form of operation `O` for source form `s`.
pub fn handler<O: Simd>(s: u8) -> Option<Handler> {
    Some(match s {
        src::REG => mmx_op::<O, { src::REG }>,
        src::M64 => mmx_op::<O, { src::M64 }>,
        // PUNPCKLBW/WD/DQ mm, m32.
        src::M32 => mmx_op::<O, { src::M32 }>,
        src::IMM => mmx_op::<O, { src::IMM }>,
        _ => return None,
    })
}

/// EMMS: every register tagged empty, and TOP = 0 as for any MMX instruction (the AMD
/// processors host-diff runs on, and Bochs, reset TOP; the SDM speaks only of the tags).
fn emms(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    cpu.fpu.top = 0;
    cpu.fpu.valid = 0;
    Ok(())
}

/// MOVD/MOVQ mm, r32/r64 (zero-extended).
fn mov_mm_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    let v = W::get(cpu, op.rm);
    enter_mmx(cpu);
    set_mm(cpu, op.r, v);
    Ok(())
}

/// MOVD/MOVQ mm, m32/m64; MOVQ mm, mm/m64.
fn mov_mm_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    let v = cpu.read_ea::<W>(op)?;
    enter_mmx(cpu);
    set_mm(cpu, op.r, v);
    Ok(())
}

/// MOVD/MOVQ r32/r64, mm.
fn mov_r_mm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let v = mm(cpu, op.r);
    W::set(cpu, op.rm, v & W::MASK);
    Ok(())
}

/// MOVD/MOVQ/MOVNTQ m32/m64, mm.
fn mov_m_mm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    let v = mm(cpu, op.r);
    cpu.write_ea::<W>(op, v & W::MASK)?;
    enter_mmx(cpu);
    Ok(())
}

/// MOVQ mm, mm.
fn mov_mm_mm(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let v = mm(cpu, op.rm);
    set_mm(cpu, op.r, v);
    Ok(())
}

/// MOVQ2DQ xmm, mm: zero-extended.
fn movq2dq(cpu: &mut Cpu, op: &Op) -> R {
    if !sse_mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let v = mm(cpu, op.rm);
    set_xmm(cpu, op.r, v as u128);
    Ok(())
}

/// MOVDQ2Q mm, xmm: the low quadword.
fn movdq2q(cpu: &mut Cpu, op: &Op) -> R {
    if !sse_mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let v = xmm(cpu, op.rm) as u64;
    set_mm(cpu, op.r, v);
    Ok(())
}

/// PMOVMSKB r32, mm.
fn pmovmskb(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let m = signs::<u8, 16>(mm(cpu, op.rm) as u128) & 0xFF;
    U32::set(cpu, op.r, m as u64);
    Ok(())
}

/// PEXTRW r32, mm, imm8.
fn pextrw(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    enter_mmx(cpu);
    let v = mm(cpu, op.rm) >> (16 * (op.imm & 3)) & 0xFFFF;
    U32::set(cpu, op.r, v);
    Ok(())
}

/// PINSRW mm, r32/m16, imm8.
fn pinsrw<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    let v = if MEM {
        cpu.read_ea::<U16>(op)?
    } else {
        cpu.gpr[(op.rm & 15) as usize] & 0xFFFF
    };
    enter_mmx(cpu);
    let sh = 16 * (op.imm & 3);
    let a = mm(cpu, op.r);
    set_mm(cpu, op.r, (a & !(0xFFFF << sh)) | v << sh);
    Ok(())
}

/// MASKMOVQ: the bytes of MM `r` whose mask byte (MM `rm`) has bit 7 set to DS:rDI, after
/// checking the quadword as one store (an all-zero mask writes nothing).
fn maskmovq(cpu: &mut Cpu, op: &Op) -> R {
    if !mmx_ready(cpu, op)? {
        return Ok(());
    }
    // The transition comes before the store is checked: the host processors leave the FPU
    // in MMX mode when MASKMOVQ faults on its store (the SDM does not order the two).
    enter_mmx(cpu);
    let data = mm(cpu, op.r);
    let mask = signs::<u8, 16>(mm(cpu, op.rm) as u128) & 0xFF;
    let off = cpu.ea(op);
    let amask = crate::cpu::operand::ASIZE_MASK[(op.asize & 3) as usize];
    // SDM Vol. 2B MASKMOVQ leaves the faults of an all-zero mask to the implementation: as
    // for MASKMOVDQU, vx86 then checks the segment and alignment, not the pages.
    cpu.probe_masked_store(op.seg, off, 8, 8, mask != 0)?;
    for k in 0..8u64 {
        if mask >> k & 1 != 0 {
            cpu.write::<U8>(op.seg, off.wrapping_add(k) & amask, data >> (8 * k) & 0xFF)?;
        }
    }
    Ok(())
}

/// Decodes the MMX moves (MOVD/MOVQ with MMX registers, MOVQ2DQ, MOVDQ2Q, MOVNTQ,
/// MASKMOVQ, PEXTRW/PINSRW/PMOVMSKB on MMX registers, EMMS).
pub fn decode_move(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let mem = |d: &Decoded, op: &mut Op| d.mem(op);
    op.run = match ins.code() {
        Code::Emms => emms,
        Code::Movd_mm_rm32 | Code::Movq_mm_rm64 | Code::Movq_mm_mmm64 => {
            op.r = vreg(ins.op0_register());
            let wide = ins.code() != Code::Movd_mm_rm32;
            if d.is_mem(1) {
                mem(d, op);
                if wide {
                    mov_mm_m::<U64>
                } else {
                    mov_mm_m::<U32>
                }
            } else if ins.op1_register().is_mm() {
                op.rm = vreg(ins.op1_register());
                mov_mm_mm
            } else {
                op.rm = vreg(ins.op1_register());
                if wide {
                    mov_mm_r::<U64>
                } else {
                    mov_mm_r::<U32>
                }
            }
        }
        Code::Movd_rm32_mm | Code::Movq_rm64_mm | Code::Movq_mmm64_mm | Code::Movntq_m64_mm => {
            op.r = vreg(ins.op1_register());
            let wide = ins.code() != Code::Movd_rm32_mm;
            if d.is_mem(0) {
                mem(d, op);
                if wide {
                    mov_m_mm::<U64>
                } else {
                    mov_m_mm::<U32>
                }
            } else if ins.op0_register().is_mm() {
                op.rm = op.r;
                op.r = vreg(ins.op0_register());
                mov_mm_mm
            } else {
                op.rm = vreg(ins.op0_register());
                if wide {
                    mov_r_mm::<U64>
                } else {
                    mov_r_mm::<U32>
                }
            }
        }
        Code::Movq2dq_xmm_mm => {
            op.r = vreg(ins.op0_register());
            op.rm = vreg(ins.op1_register());
            movq2dq
        }
        Code::Movdq2q_mm_xmm => {
            op.r = vreg(ins.op0_register());
            op.rm = vreg(ins.op1_register());
            movdq2q
        }
        Code::Pmovmskb_r32_mm | Code::Pmovmskb_r64_mm => {
            op.r = vreg(ins.op0_register());
            op.rm = vreg(ins.op1_register());
            pmovmskb
        }
        Code::Pextrw_r32_mm_imm8 | Code::Pextrw_r64_mm_imm8 => {
            op.r = vreg(ins.op0_register());
            op.rm = vreg(ins.op1_register());
            op.imm = super::imm8(d) as u64;
            pextrw
        }
        Code::Pinsrw_mm_r32m16_imm8 | Code::Pinsrw_mm_r64m16_imm8 => {
            op.r = vreg(ins.op0_register());
            op.imm = super::imm8(d) as u64;
            if d.is_mem(1) {
                mem(d, op);
                pinsrw::<true>
            } else {
                op.rm = vreg(ins.op1_register());
                pinsrw::<false>
            }
        }
        Code::Maskmovq_rDI_mm_mm => {
            op.r = vreg(ins.op1_register());
            op.rm = vreg(ins.op2_register());
            op.seg = crate::cpu::decode::sreg_index(ins.memory_segment())
                .unwrap_or(crate::cpu::state::sreg::DS);
            op.base = crate::cpu::state::reg::RDI;
            op.asize = d.addr_size();
            maskmovq
        }
        _ => return None,
    };
    Some(Flow::Next)
}

/// CVTPI2PS xmm, mm/m64 (`DOUBLE` false: two singles into the low quadword, the high one
/// kept) and CVTPI2PD xmm, mm/m64; a register source enters MMX mode.
fn cvtpi2p<const DOUBLE: bool, const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let b = if MEM {
        sse_ready(cpu)?;
        cpu.read_ea::<U64>(op)?
    } else {
        if !sse_mmx_ready(cpu, op)? {
            return Ok(());
        }
        enter_mmx(cpu);
        mm(cpu, op.rm)
    };
    let a = xmm(cpu, op.r);
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let (x, y) = (b as u32 as i32 as i64, (b >> 32) as u32 as i32 as i64);
    let r = if DOUBLE {
        from_f64s([
            convert::from_int::<F64>(&mut ctx, x),
            convert::from_int::<F64>(&mut ctx, y),
        ])
    } else {
        let l = [
            convert::from_int::<F32>(&mut ctx, x),
            convert::from_int::<F32>(&mut ctx, y),
        ];
        from_q(l[0].0 as u64 | (l[1].0 as u64) << 32, hi(a))
    };
    commit(cpu, &ctx)?;
    set_xmm(cpu, op.r, r);
    Ok(())
}

/// CVT(T)PS2PI mm, xmm/m64 (`DOUBLE` false) and CVT(T)PD2PI mm, xmm/m128: two 32-bit
/// integers into an MMX register (entering MMX mode).
fn cvtp2pi<const DOUBLE: bool, const TRUNC: bool, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    if !sse_mmx_ready(cpu, op)? {
        return Ok(());
    }
    // A fault on the memory operand (#GP for a misaligned m128, #PF, #AC) leaves the x87
    // state as it was; once the source is read the transition happens, so that an #XM
    // leaves the FPU in MMX mode (as the host processors do).
    let b = load::<S>(cpu, op)?;
    enter_mmx(cpu);
    let mut ctx = Ctx::sse(cpu.sse.mxcsr);
    let round = if TRUNC { Round::Zero } else { ctx.round };
    let de = |c: &mut Ctx| c.flags.remove(Exc::DE);
    let (x, y) = if DOUBLE {
        let v = f64s(b);
        (
            convert::to_int(&mut ctx, v[0], 32, round),
            convert::to_int(&mut ctx, v[1], 32, round),
        )
    } else {
        let v = f32s(b);
        (
            convert::to_int(&mut ctx, v[0], 32, round),
            convert::to_int(&mut ctx, v[1], 32, round),
        )
    };
    de(&mut ctx);
    commit(cpu, &ctx)?;
    set_mm(cpu, op.r, x & 0xFFFF_FFFF | y << 32);
    Ok(())
}

/// Decodes the conversions between MMX registers (or m64) and XMM registers (CVTPI2PS,
/// CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI, CVTTPD2PI).
pub fn decode_convert(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    op.r = vreg(ins.op0_register());
    let m = ins.mnemonic();
    op.run = match m {
        M::Cvtpi2ps | M::Cvtpi2pd => {
            let double = m == M::Cvtpi2pd;
            if d.is_mem(1) {
                d.mem(op);
                if double {
                    cvtpi2p::<true, true>
                } else {
                    cvtpi2p::<false, true>
                }
            } else {
                op.rm = vreg(ins.op1_register());
                if double {
                    cvtpi2p::<true, false>
                } else {
                    cvtpi2p::<false, false>
                }
            }
        }
        M::Cvtps2pi | M::Cvttps2pi | M::Cvtpd2pi | M::Cvttpd2pi => {
            let s = super::source(d, op, 1, false);
            let t = matches!(m, M::Cvttps2pi | M::Cvttpd2pi);
            let dbl = matches!(m, M::Cvtpd2pi | M::Cvttpd2pi);
            match (dbl, t, s) {
                (false, false, src::REG) => cvtp2pi::<false, false, { src::REG }>,
                (false, false, _) => cvtp2pi::<false, false, { src::M64 }>,
                (false, true, src::REG) => cvtp2pi::<false, true, { src::REG }>,
                (false, true, _) => cvtp2pi::<false, true, { src::M64 }>,
                (true, false, src::REG) => cvtp2pi::<true, false, { src::REG }>,
                (true, false, _) => cvtp2pi::<true, false, { src::M128A }>,
                (true, true, src::REG) => cvtp2pi::<true, true, { src::REG }>,
                (true, true, _) => cvtp2pi::<true, true, { src::M128A }>,
            }
        }
        _ => return None,
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use crate::cpu::exec::system::testing::{exec, long};
    use crate::cpu::flags::bit;
    use crate::cpu::{Cpu, Cr0, Cr4, Fault};

    const DATA: u64 = 0x20000;
    /// Beyond the 1 GiB the test page tables map.
    const UNMAPPED: u64 = 0x4000_0000;

    /// 64-bit mode with SSE enabled and the x87 in a stack state: TOP = 5, R0–R3 valid.
    fn cpu() -> Cpu {
        let mut c = long();
        c.cr4 |= Cr4::OSFXSR;
        c.fpu.top = 5;
        c.fpu.valid = 0x0F;
        c
    }

    fn x87_untouched(c: &Cpu) -> bool {
        (c.fpu.top, c.fpu.valid) == (5, 0x0F)
    }

    fn mmx_mode(c: &Cpu) -> bool {
        (c.fpu.top, c.fpu.valid) == (0, 0xFF)
    }

    #[test]
    fn a_conversion_that_faults_on_its_source_leaves_the_x87_state() {
        // CVTPD2PI mm1, [rbx]: a misaligned m128 is #GP(0) before the transition.
        let mut c = cpu();
        c.gpr[3] = DATA + 8;
        assert_eq!(exec(&mut c, &[0x66, 0x0F, 0x2D, 0x0B]), Err(Fault::GP0));
        assert!(x87_untouched(&c));
        // CVTTPS2PI mm1, [rbx] on an unmapped page: #PF, the same.
        c.gpr[3] = UNMAPPED;
        assert_eq!(
            exec(&mut c, &[0x0F, 0x2C, 0x0B]).map_err(|f| f.vector),
            Err(crate::cpu::fault::Vector::PF)
        );
        assert!(x87_untouched(&c));
        // Aligned: 1.0 and -2.0 become 1 and -2 in MM1, and the FPU is in MMX mode.
        c.gpr[3] = DATA;
        c.mem.write_bytes(DATA, &1.0f64.to_le_bytes()).unwrap();
        c.mem
            .write_bytes(DATA + 8, &(-2.0f64).to_le_bytes())
            .unwrap();
        assert_eq!(exec(&mut c, &[0x66, 0x0F, 0x2D, 0x0B]), Ok(()));
        assert!(mmx_mode(&c));
        assert_eq!(super::mm(&c, 1), 0xFFFF_FFFE_0000_0001);
        assert_eq!(c.fpu.regs[1].se, 0xFFFF);
    }

    #[test]
    fn an_unmasked_sse_exception_after_the_source_is_read_leaves_mmx_mode() {
        // CVTPS2PI mm1, xmm2 with a NaN and IM unmasked: #XM (CR4.OSXMMEXCPT), in MMX mode.
        let mut c = cpu();
        c.cr4 |= Cr4::OSXMMEXCPT;
        c.sse.mxcsr = 0x1F80 & !0x80;
        c.sse.xmm[2] = 0x7FC0_0000;
        assert_eq!(exec(&mut c, &[0x0F, 0x2D, 0xCA]), Err(Fault::XM));
        assert!(mmx_mode(&c));
    }

    #[test]
    fn maskmovq_checks_pages_only_for_a_nonzero_mask_and_enters_mmx_mode_first() {
        // MASKMOVQ mm1, mm2 to [rdi] on an unmapped page.
        const MASKMOVQ: &[u8] = &[0x0F, 0xF7, 0xCA];
        let mut c = cpu();
        c.gpr[7] = UNMAPPED;
        c.fpu.regs[2].m = 0; // all-zero mask: no page is touched
        assert_eq!(exec(&mut c, MASKMOVQ), Ok(()));
        assert!(mmx_mode(&c));
        c.fpu.regs[2].m = 0x80;
        assert_eq!(
            exec(&mut c, MASKMOVQ).map_err(|f| f.vector),
            Err(crate::cpu::fault::Vector::PF)
        );
        assert_eq!(c.pf_addr, UNMAPPED);
        // Alignment checking at CPL 3: #AC for a misaligned quadword even with an all-zero
        // mask, after the transition to MMX mode (as the host processors do).
        let mut c = cpu();
        c.write_flags(bit::AC, bit::AC);
        c.cr0 |= Cr0::AM;
        c.set_cpl(3);
        c.gpr[7] = DATA + 3;
        c.fpu.regs[2].m = 0;
        assert_eq!(exec(&mut c, MASKMOVQ), Err(Fault::AC));
        assert!(mmx_mode(&c));
        // With a mask, aligned: the selected bytes are written.
        c.gpr[7] = DATA;
        c.fpu.regs[1].m = 0x1122_3344_5566_7788;
        c.fpu.regs[2].m = 0x8000_0000_0000_0080;
        c.mem.write_bytes(DATA, &[0; 8]).unwrap();
        assert_eq!(exec(&mut c, MASKMOVQ), Ok(()));
        let mut b = [0u8; 8];
        c.mem.read_bytes(DATA, &mut b);
        assert_eq!(u64::from_le_bytes(b), 0x1100_0000_0000_0088);
    }
}
