//! Data movement: MOVAPS/UPS/APD/UPD/DQA/DQU, LDDQU, the non-temporal moves (MOVNTPS/PD,
//! MOVNTDQ, MOVNTDQA, MOVNTI, MASKMOVDQU: plain moves here, the hint changes nothing an
//! interpreter can show), MOVSS/MOVSD, MOVD/MOVQ, the half moves MOVLPS/HPS/LPD/HPD and
//! MOVHLPS/MOVLHPS, the sign masks MOVMSKPS/PD and PMOVMSKB, and PEXTRx/EXTRACTPS/PINSRx.
//! The MMX forms (and EMMS) live in [`super::mmx`].

use iced_x86::{Code, Mnemonic as M, OpKind};

use super::shuffle::signs;
use super::xmm::{from_q, hi, lo, Lane};
use super::{mmx, set_xmm, simd, simd_unaligned, sse_ready, store128, vreg, xmm, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::state::sreg;
use crate::cpu::{Cpu, Handler, Op, Width, U16, U32, U64, U8};

simd_op!(
    /// The source, whole (a load or register copy).
    Take,
    |a, b, i| b
);
simd_op!(
    /// MOVSS between registers: the low dword of the source, the rest of the destination.
    MergeLo32,
    |a, b, i| (a & !0xFFFF_FFFF) | (b & 0xFFFF_FFFF)
);
simd_op!(
    /// MOVSD between registers, MOVLPS/MOVLPD loads: the low quadword of the source.
    MergeLo64,
    |a, b, i| from_q(lo(b), hi(a))
);
simd_op!(
    /// MOVQ xmm, xmm/m64: the low quadword, zero-extended.
    ZeroExtLo64,
    |a, b, i| lo(b) as u128
);
simd_op!(
    /// MOVHPS/MOVHPD loads and MOVLHPS: the source's low quadword into the high one.
    SetHi64,
    |a, b, i| from_q(lo(a), lo(b))
);
simd_op!(
    /// MOVHLPS: the source's high quadword into the low one.
    HighToLow,
    |a, b, i| from_q(hi(b), hi(a))
);

/// A 16-byte store of XMM `r` (MOVAPS/MOVUPS/MOVNTPS… m128, xmm).
fn store<const ALIGNED: bool>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = xmm(cpu, op.r);
    store128(cpu, op, v, ALIGNED)
}

/// A store of the low (`HIGH` false) or high quadword of XMM `r`.
fn store64<const HIGH: bool>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = xmm(cpu, op.r);
    cpu.write_ea::<U64>(op, if HIGH { hi(v) } else { lo(v) })
}

/// MOVSS m32, xmm.
fn store32(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = xmm(cpu, op.r) as u64;
    cpu.write_ea::<U32>(op, v)
}

/// MOVD/MOVQ xmm, r32/r64: zero-extended.
fn mov_x_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = W::get(cpu, op.rm);
    set_xmm(cpu, op.r, v as u128);
    Ok(())
}

/// MOVD/MOVQ xmm, m32/m64: zero-extended.
fn mov_x_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = cpu.read_ea::<W>(op)?;
    set_xmm(cpu, op.r, v as u128);
    Ok(())
}

/// MOVD/MOVQ r32/r64, xmm.
fn mov_r_x<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = xmm(cpu, op.r) as u64;
    W::set(cpu, op.rm, v & W::MASK);
    Ok(())
}

/// MOVD/MOVQ m32/m64, xmm.
fn mov_m_x<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = xmm(cpu, op.r) as u64;
    cpu.write_ea::<W>(op, v & W::MASK)
}

/// MOVMSKPS/MOVMSKPD/PMOVMSKB: the lanes' sign bits into a general register, zero-extended.
fn movmsk<L: Lane, const N: usize>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let m = signs::<L, N>(xmm(cpu, op.rm));
    U32::set(cpu, op.r, m as u64);
    Ok(())
}

/// PEXTRB/W/D/Q, EXTRACTPS to a register: lane `imm` of `B` bits, zero-extended.
fn pextr_r<const B: u32>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let n = 128 / B;
    let v = (xmm(cpu, op.r) >> (B * (op.imm as u32 & (n - 1)))) as u64;
    let v = if B == 64 { v } else { v & ((1u64 << B) - 1) };
    if B == 64 {
        U64::set(cpu, op.rm, v);
    } else {
        U32::set(cpu, op.rm, v);
    }
    Ok(())
}

/// PEXTRB/W/D/Q, EXTRACTPS to memory.
fn pextr_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let n = 128 / W::BITS as u32;
    let v = (xmm(cpu, op.r) >> (W::BITS as u32 * (op.imm as u32 & (n - 1)))) as u64;
    cpu.write_ea::<W>(op, v & W::MASK)
}

/// Replaces lane `imm` of `W` bits of XMM `r` with `v`.
#[inline(always)]
fn insert<W: Width>(cpu: &mut Cpu, op: &Op, v: u64) {
    let n = 128 / W::BITS as u32;
    let sh = W::BITS as u32 * (op.imm as u32 & (n - 1));
    let mask = (W::MASK as u128) << sh;
    let x = xmm(cpu, op.r);
    set_xmm(cpu, op.r, (x & !mask) | ((v & W::MASK) as u128) << sh);
}

/// PINSRB/W/D/Q from a register (its low `W` bits).
fn pinsr_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = cpu.gpr[(op.rm & 15) as usize];
    insert::<W>(cpu, op, v);
    Ok(())
}

/// PINSRB/W/D/Q from memory.
fn pinsr_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = cpu.read_ea::<W>(op)?;
    insert::<W>(cpu, op, v);
    Ok(())
}

/// MOVNTI: a general-register store (no SSE state is involved, so no CR0/CR4 checks).
fn movnti<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.write_ea::<W>(op, v)
}

/// MASKMOVDQU: stores the bytes of XMM `r` whose mask byte (XMM `rm`) has bit 7 set to
/// DS:rDI (a segment override applies). The 16 bytes are checked as one store first
/// (segment, alignment check, both pages), then the selected bytes are written. SDM Vol. 2B
/// MASKMOVDQU leaves the faults of an all-zero mask to the implementation: like the AMD
/// processors host-diff runs on, vx86 then checks the segment and alignment, not the pages.
fn maskmovdqu(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let data = xmm(cpu, op.r);
    let mask = signs::<u8, 16>(xmm(cpu, op.rm));
    let off = cpu.ea(op);
    // Alignment checking looks at 8-byte units here (as two quadword stores would).
    cpu.probe_write128(op.seg, off, 8, mask != 0)?;
    let amask = crate::cpu::operand::ASIZE_MASK[(op.asize & 3) as usize];
    for k in 0..16u64 {
        if mask >> k & 1 != 0 {
            let a = off.wrapping_add(k) & amask;
            cpu.write::<U8>(op.seg, a, (data >> (8 * k)) as u64 & 0xFF)?;
        }
    }
    Ok(())
}

/// Fills `op` for a form whose operand 0 is memory and operand 1 an XMM register.
fn store_form(d: &Decoded, op: &mut Op, run: Handler) -> Option<Flow> {
    d.mem(op);
    op.r = vreg(d.ins.op1_register());
    op.run = run;
    Some(Flow::Next)
}

/// A general-register or memory operand of `bytes` bytes: the handler for each.
fn gpr_or_mem(d: &Decoded, op: &mut Op, i: u32, reg: Handler, mem: Handler) -> Option<Flow> {
    if d.ins.op_kind(i) == OpKind::Memory {
        d.mem(op);
        op.run = mem;
    } else {
        op.rm = vreg(d.ins.op_register(i));
        op.run = reg;
    }
    Some(Flow::Next)
}

/// Decodes the move family.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let mem0 = d.is_mem(0);
    // Any MMX register operand: the MMX forms.
    if (0..ins.op_count()).any(|i| d.is_reg(i) && ins.op_register(i).is_mm())
        || ins.mnemonic() == M::Emms
        || ins.mnemonic() == M::Movntq
        || ins.mnemonic() == M::Maskmovq
    {
        return mmx::decode_move(d, op);
    }
    match ins.mnemonic() {
        M::Movaps | M::Movapd | M::Movdqa | M::Movntps | M::Movntpd | M::Movntdq if mem0 => {
            store_form(d, op, store::<true>)
        }
        M::Movups | M::Movupd | M::Movdqu if mem0 => store_form(d, op, store::<false>),
        M::Movaps | M::Movapd | M::Movdqa | M::Movntdqa => simd::<Take>(d, op),
        M::Movups | M::Movupd | M::Movdqu | M::Lddqu => simd_unaligned::<Take>(d, op),
        M::Movss if mem0 => store_form(d, op, store32),
        M::Movss if d.is_mem(1) => simd::<Take>(d, op),
        M::Movss => simd::<MergeLo32>(d, op),
        M::Movsd if mem0 => store_form(d, op, store64::<false>),
        M::Movsd if d.is_mem(1) => simd::<Take>(d, op),
        M::Movsd => simd::<MergeLo64>(d, op),
        M::Movlps | M::Movlpd | M::Movhps | M::Movhpd if mem0 => {
            let high = matches!(ins.mnemonic(), M::Movhps | M::Movhpd);
            store_form(
                d,
                op,
                if high {
                    store64::<true>
                } else {
                    store64::<false>
                },
            )
        }
        M::Movlps | M::Movlpd => simd::<MergeLo64>(d, op),
        M::Movhps | M::Movhpd | M::Movlhps => simd::<SetHi64>(d, op),
        M::Movhlps => simd::<HighToLow>(d, op),
        M::Movd | M::Movq => match ins.code() {
            Code::Movq_xmm_xmmm64 => simd::<ZeroExtLo64>(d, op),
            Code::Movq_xmmm64_xmm if mem0 => store_form(d, op, store64::<false>),
            Code::Movq_xmmm64_xmm => simd::<ZeroExtLo64>(d, op),
            Code::Movd_xmm_rm32 => {
                op.r = vreg(ins.op0_register());
                gpr_or_mem(d, op, 1, mov_x_r::<U32>, mov_x_m::<U32>)
            }
            Code::Movq_xmm_rm64 => {
                op.r = vreg(ins.op0_register());
                gpr_or_mem(d, op, 1, mov_x_r::<U64>, mov_x_m::<U64>)
            }
            Code::Movd_rm32_xmm => {
                op.r = vreg(ins.op1_register());
                gpr_or_mem(d, op, 0, mov_r_x::<U32>, mov_m_x::<U32>)
            }
            Code::Movq_rm64_xmm => {
                op.r = vreg(ins.op1_register());
                gpr_or_mem(d, op, 0, mov_r_x::<U64>, mov_m_x::<U64>)
            }
            _ => None,
        },
        M::Movmskps | M::Movmskpd | M::Pmovmskb => {
            op.r = vreg(ins.op0_register());
            op.rm = vreg(ins.op1_register());
            op.run = match ins.mnemonic() {
                M::Movmskps => movmsk::<u32, 4>,
                M::Movmskpd => movmsk::<u64, 2>,
                _ => movmsk::<u8, 16>,
            };
            Some(Flow::Next)
        }
        M::Pextrb | M::Pextrw | M::Pextrd | M::Pextrq | M::Extractps => {
            op.imm = super::imm8(d) as u64;
            op.r = vreg(ins.op1_register());
            let (reg, mem): (Handler, Handler) = match ins.mnemonic() {
                M::Pextrb => (pextr_r::<8>, pextr_m::<U8>),
                M::Pextrw => (pextr_r::<16>, pextr_m::<U16>),
                M::Pextrq => (pextr_r::<64>, pextr_m::<U64>),
                _ => (pextr_r::<32>, pextr_m::<U32>),
            };
            if ins.code() == Code::Pextrw_r32_xmm_imm8 || ins.code() == Code::Pextrw_r64_xmm_imm8 {
                // The SSE2 form: GPR destination in ModRM.reg, XMM source in ModRM.rm.
                op.r = vreg(ins.op1_register());
                op.rm = vreg(ins.op0_register());
                op.run = reg;
                return Some(Flow::Next);
            }
            gpr_or_mem(d, op, 0, reg, mem)
        }
        M::Pinsrb | M::Pinsrw | M::Pinsrd | M::Pinsrq => {
            op.imm = super::imm8(d) as u64;
            op.r = vreg(ins.op0_register());
            let (reg, mem): (Handler, Handler) = match ins.mnemonic() {
                M::Pinsrb => (pinsr_r::<U8>, pinsr_m::<U8>),
                M::Pinsrw => (pinsr_r::<U16>, pinsr_m::<U16>),
                M::Pinsrd => (pinsr_r::<U32>, pinsr_m::<U32>),
                _ => (pinsr_r::<U64>, pinsr_m::<U64>),
            };
            gpr_or_mem(d, op, 1, reg, mem)
        }
        M::Movnti => {
            d.mem(op);
            op.r = vreg(ins.op1_register());
            op.run = if d.reg_size(1) == 8 {
                movnti::<U64>
            } else {
                movnti::<U32>
            };
            Some(Flow::Next)
        }
        M::Maskmovdqu => {
            let ins = d.ins;
            op.r = vreg(ins.op1_register());
            op.rm = vreg(ins.op2_register());
            op.seg = crate::cpu::decode::sreg_index(ins.memory_segment()).unwrap_or(sreg::DS);
            op.base = crate::cpu::state::reg::RDI;
            op.asize = d.addr_size();
            op.run = maskmovdqu;
            Some(Flow::Next)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::Simd;

    #[test]
    fn merges_keep_the_destination_where_the_manual_says() {
        let a = from_q(0x1111_1111_2222_2222, 0x3333_3333_4444_4444);
        let b = from_q(0x5555_5555_6666_6666, 0x7777_7777_8888_8888);
        assert_eq!(
            MergeLo32::op(a, b, 0),
            from_q(0x1111_1111_6666_6666, 0x3333_3333_4444_4444)
        );
        assert_eq!(
            MergeLo64::op(a, b, 0),
            from_q(0x5555_5555_6666_6666, 0x3333_3333_4444_4444)
        );
        assert_eq!(ZeroExtLo64::op(a, b, 0), 0x5555_5555_6666_6666);
        assert_eq!(
            SetHi64::op(a, b, 0),
            from_q(0x1111_1111_2222_2222, 0x5555_5555_6666_6666)
        );
        assert_eq!(
            HighToLow::op(a, b, 0),
            from_q(0x7777_7777_8888_8888, 0x3333_3333_4444_4444)
        );
    }
}
