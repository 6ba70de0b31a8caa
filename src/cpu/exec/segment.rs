//! Segment-register instructions: MOV to/from Sreg, PUSH/POP Sreg, LDS/LES/LFS/LGS/LSS, and
//! the protected-mode descriptor instructions ARPL, LAR, LSL, VERR, VERW, LLDT, SLDT, LTR,
//! STR (SDM Vol. 2; Vol. 3A 5.10.4 for the checks they make).

use iced_x86::{Code, Mnemonic as M, Register};

use super::R;
use crate::cpu::decode::{sreg_index, Decoded, Flow};
use crate::cpu::descriptor::{
    selector_null, selector_rpl, selector_ti, Descriptor, SystemType, TSS_BUSY,
};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::operand::{canonical, ASIZE_MASK};
use crate::cpu::segment::Segment;
use crate::cpu::state::{reg, sreg, Cr4, Efer, Mode, Model};
use crate::cpu::{Cpu, Op, Width, U16, U32, U64};
use crate::sized;

/// Loads a segment register for MOV/POP: MOV SS and POP SS also inhibit interrupts (and
/// debug traps) until the next instruction has run (SDM Vol. 3A 6.8.3).
fn load_sreg(cpu: &mut Cpu, seg: u8, v: u64) -> R {
    cpu.load_seg(seg, v as u16)?;
    if seg == sreg::SS {
        cpu.shadow = true;
    }
    Ok(())
}

fn mov_sreg_r(cpu: &mut Cpu, op: &Op) -> R {
    let v = U16::get(cpu, op.rm);
    load_sreg(cpu, op.extra, v)
}

fn mov_sreg_m(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<U16>(op)?;
    load_sreg(cpu, op.extra, v)
}

/// MOV r, Sreg: a 32- or 64-bit destination gets the selector zero-extended (P6 and later).
fn mov_r_sreg<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.seg(op.extra).selector as u64;
    W::set(cpu, op.rm, v);
    Ok(())
}

/// MOV m16, Sreg: always a 16-bit store, whatever the operand size.
fn mov_m_sreg(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.seg(op.extra).selector as u64;
    cpu.write_ea::<U16>(op, v)
}

/// PUSH Sreg: with a 32- or 64-bit operand size the stack pointer moves by 4 or 8 but only
/// the selector's 16 bits are written, as recent Intel processors do (SDM Vol. 2 PUSH).
fn push_sreg<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.seg(op.extra).selector as u64;
    if W::BYTES == 2 {
        return cpu.push::<U16>(v);
    }
    let mask = cpu.sp_mask();
    let rsp = cpu.gpr[reg::RSP as usize];
    let new = rsp.wrapping_sub(W::BYTES) & mask;
    cpu.write::<U16>(sreg::SS, new, v)?;
    cpu.gpr[reg::RSP as usize] = (rsp & !mask) | new;
    Ok(())
}

/// POP Sreg: the stack pointer moves at the old stack's width, after the load succeeded.
fn pop_sreg<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (v, sp) = cpu.peek::<W>(0)?;
    let mask = cpu.sp_mask();
    let rsp = (cpu.gpr[reg::RSP as usize] & !mask) | sp;
    load_sreg(cpu, op.extra, v)?;
    cpu.gpr[reg::RSP as usize] = rsp;
    Ok(())
}

/// POP CS (opcode 0Fh on the 8086 only): loads CS real-mode style. The 8086 personality
/// decodes the opcode and points its op here.
pub fn pop_cs(cpu: &mut Cpu, _: &Op) -> R {
    let v = cpu.pop::<U16>()?;
    let s = &mut cpu.segs[sreg::CS as usize];
    s.selector = v as u16;
    s.base = (v & 0xFFFF) << 4;
    let mode = cpu.mode;
    cpu.segs[sreg::CS as usize].refresh(mode, sreg::CS);
    cpu.end_block();
    Ok(())
}

/// LDS/LES/LFS/LGS/LSS: offset then selector from memory; the register is written only
/// after the segment load succeeded.
fn load_far<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let v = cpu.read::<W>(op.seg, off)?;
    let sel_off = off.wrapping_add(W::BYTES) & ASIZE_MASK[(op.asize & 3) as usize];
    let sel = cpu.read::<U16>(op.seg, sel_off)?;
    cpu.load_seg(op.extra, sel as u16)?;
    W::set(cpu, op.r, v);
    Ok(())
}

/// Real and virtual-8086 mode do not recognize ARPL, LAR, LSL, VERR, VERW, LLDT, SLDT, LTR,
/// STR (#UD).
fn protected_only(cpu: &Cpu) -> R {
    match cpu.mode {
        Mode::Real | Mode::V8086 => Err(Fault::UD),
        _ => Ok(()),
    }
}

/// ARPL r/m16, r16: raise the destination selector's RPL to the source's; ZF says whether
/// it changed. The destination is written only then (SDM Vol. 2A ARPL): a memory operand is
/// read as a read (a #PF error code without W/R, no #GP for a read-only segment) and the
/// write, if any, comes before any flag changes.
fn arpl<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    protected_only(cpu)?;
    let dst = if MEM {
        cpu.read_ea::<U16>(op)?
    } else {
        U16::get(cpu, op.rm)
    };
    let src = U16::get(cpu, op.r);
    if dst & 3 < src & 3 {
        let v = (dst & !3) | (src & 3);
        if MEM {
            cpu.write_ea::<U16>(op, v)?;
        } else {
            U16::set(cpu, op.rm, v);
        }
        cpu.flags.assign(bit::ZF, true);
    } else {
        cpu.flags.assign(bit::ZF, false);
    }
    Ok(())
}

/// The selector operand of LAR, LSL, VERR, VERW, LLDT, LTR (register or m16).
fn selector_operand<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> Result<u16, Fault> {
    Ok(if MEM {
        cpu.read_ea::<U16>(op)?
    } else {
        U16::get(cpu, op.rm)
    } as u16)
}

/// The descriptor LAR/LSL/VERR/VERW inspect: `None` (ZF = 0) for a null selector, one
/// beyond its table, or one the privilege rule hides: non-conforming-code segments and
/// system descriptors need CPL <= DPL and RPL <= DPL.
fn visible_descriptor(cpu: &mut Cpu, sel: u16) -> Result<Option<Descriptor>, Fault> {
    if selector_null(sel) {
        return Ok(None);
    }
    let Some(d) = cpu.read_descriptor(sel)? else {
        return Ok(None);
    };
    if !d.conforming() && (cpu.cpl > d.dpl() || selector_rpl(sel) > d.dpl()) {
        return Ok(None);
    }
    Ok(Some(d))
}

/// Whether LAR (`LSL` false) or LSL (`LSL` true) accepts the system-descriptor type (SDM
/// Vol. 2 LAR, LSL: gates have no limit; IA-32e mode knows only LDT, TSS and call gates).
fn system_ok(d: Descriptor, long: bool, lsl: bool) -> bool {
    use SystemType::*;
    match d.system_type(long) {
        Some(Ldt | Tss16Avail | Tss16Busy | Tss32Avail | Tss32Busy | Tss64Avail | Tss64Busy) => {
            true
        }
        Some(CallGate16 | TaskGate | CallGate32 | CallGate64) => !lsl,
        _ => false,
    }
}

/// LAR: the access rights (type, DPL, P, and the AVL/L/D/G nibble for 32/64-bit operands),
/// the limit bits 19:16 read as zero.
fn lar<W: Width, const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    protected_only(cpu)?;
    let sel = selector_operand::<MEM>(cpu, op)?;
    let long = cpu.efer.contains(Efer::LMA);
    match visible_descriptor(cpu, sel)? {
        Some(d) if d.is_segment() || system_ok(d, long, false) => {
            let rights = (d.0 >> 32) & if W::BYTES == 2 { 0xFF00 } else { 0x00F0_FF00 };
            W::set(cpu, op.r, rights);
            cpu.flags.assign(bit::ZF, true);
        }
        _ => cpu.flags.assign(bit::ZF, false),
    }
    Ok(())
}

/// LSL: the segment limit in bytes (scaled by G).
fn lsl<W: Width, const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    protected_only(cpu)?;
    let sel = selector_operand::<MEM>(cpu, op)?;
    let long = cpu.efer.contains(Efer::LMA);
    match visible_descriptor(cpu, sel)? {
        Some(d) if d.is_segment() || system_ok(d, long, true) => {
            W::set(cpu, op.r, d.limit() as u64);
            cpu.flags.assign(bit::ZF, true);
        }
        _ => cpu.flags.assign(bit::ZF, false),
    }
    Ok(())
}

/// VERR (`W` false) / VERW (`W` true): whether the segment is readable / writable from the
/// current privilege, as a DS load would find it (presence is not checked).
fn verify<const WRITE: bool, const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    protected_only(cpu)?;
    let sel = selector_operand::<MEM>(cpu, op)?;
    let ok = match visible_descriptor(cpu, sel)? {
        Some(d) if WRITE => d.writable() && !d.conforming(),
        Some(d) => d.readable(),
        None => false,
    };
    cpu.flags.assign(bit::ZF, ok);
    Ok(())
}

/// The CPL-0 rule of LLDT and LTR.
fn ring0(cpu: &Cpu) -> R {
    protected_only(cpu)?;
    if cpu.cpl != 0 {
        return Err(Fault::GP0);
    }
    Ok(())
}

/// Reads a system descriptor for LLDT/LTR from the GDT: 16 bytes in IA-32e mode (the upper
/// type field zero, the base canonical), 8 bytes otherwise; returns the cache to load.
fn system_descriptor(cpu: &mut Cpu, sel: u16) -> Result<(Descriptor, Segment), Fault> {
    let fault = Fault::gp(Fault::selector_code(sel));
    if selector_ti(sel) {
        return Err(fault);
    }
    if cpu.efer.contains(Efer::LMA) {
        let d = cpu.fetch_descriptor16(sel, fault)?;
        if !d.upper_type_clear() {
            return Err(fault);
        }
        if d.lo.present() && !canonical(d.base()) {
            return Err(fault);
        }
        return Ok((d.lo, d.to_segment(sel)));
    }
    let d = cpu.fetch_descriptor(sel, fault)?;
    Ok((d, d.to_segment(sel)))
}

/// LLDT: a null selector leaves LDTR unusable; otherwise a present LDT descriptor in the GDT.
fn lldt<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    ring0(cpu)?;
    let sel = selector_operand::<MEM>(cpu, op)?;
    if selector_null(sel) {
        cpu.ldtr = Segment::null(sel);
        return Ok(());
    }
    let (d, cache) = system_descriptor(cpu, sel)?;
    if d.system_type(cpu.efer.contains(Efer::LMA)) != Some(SystemType::Ldt) {
        return Err(Fault::gp(Fault::selector_code(sel)));
    }
    if !d.present() {
        return Err(Fault::np(Fault::selector_code(sel)));
    }
    cpu.ldtr = cache;
    Ok(())
}

/// LTR: a present, available TSS descriptor in the GDT, which LTR marks busy.
fn ltr<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> R {
    ring0(cpu)?;
    let sel = selector_operand::<MEM>(cpu, op)?;
    if selector_null(sel) {
        return Err(Fault::GP0);
    }
    let (d, mut cache) = system_descriptor(cpu, sel)?;
    let code = Fault::selector_code(sel);
    match d.system_type(cpu.efer.contains(Efer::LMA)) {
        Some(SystemType::Tss16Avail | SystemType::Tss32Avail | SystemType::Tss64Avail) => {}
        _ => return Err(Fault::gp(code)),
    }
    if !d.present() {
        return Err(Fault::np(code));
    }
    cpu.set_tss_busy(sel, true)?;
    cache.attr |= TSS_BUSY as u16;
    cpu.tr = cache;
    Ok(())
}

/// SLDT/STR store rule: #UD outside protected mode, and with CR4.UMIP #GP(0) above CPL 0.
fn store_check(cpu: &Cpu) -> R {
    protected_only(cpu)?;
    if cpu.cr4.contains(Cr4::UMIP) && cpu.cpl > 0 {
        return Err(Fault::GP0);
    }
    Ok(())
}

/// SLDT (`TR` false) / STR (`TR` true) to a register: zero-extended to the operand size.
fn store_sys_r<W: Width, const TR: bool>(cpu: &mut Cpu, op: &Op) -> R {
    store_check(cpu)?;
    let v = if TR {
        cpu.tr.selector
    } else {
        cpu.ldtr.selector
    } as u64;
    W::set(cpu, op.rm, v);
    Ok(())
}

/// SLDT / STR to memory: always 16 bits.
fn store_sys_m<const TR: bool>(cpu: &mut Cpu, op: &Op) -> R {
    store_check(cpu)?;
    let v = if TR {
        cpu.tr.selector
    } else {
        cpu.ldtr.selector
    } as u64;
    cpu.write_ea::<U16>(op, v)
}

/// The segment register LDS…LSS load.
fn far_load_target(m: M) -> u8 {
    match m {
        M::Lds => sreg::DS,
        M::Les => sreg::ES,
        M::Lfs => sreg::FS,
        M::Lgs => sreg::GS,
        _ => sreg::SS,
    }
}

/// Decodes the segment group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let m = ins.mnemonic();
    match m {
        M::Lfs | M::Lgs | M::Lss if d.model == Model::I80286 => return None,
        M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
            op.r = d.reg(0);
            op.extra = far_load_target(m);
            d.mem(op);
            op.run = sized!(d.reg_size(0), load_far);
            // LSS changes the stack width; LDS/LES may be followed by anything.
            return Some(if m == M::Lss { Flow::End } else { Flow::Next });
        }
        M::Arpl => {
            op.r = d.reg(1);
            if d.is_mem(0) {
                d.mem(op);
                op.run = arpl::<true>;
            } else {
                op.rm = d.reg(0);
                op.run = arpl::<false>;
            }
        }
        M::Lar | M::Lsl => {
            op.r = d.reg(0);
            let size = d.reg_size(0);
            let mem = d.is_mem(1);
            if mem {
                d.mem(op);
            } else {
                op.rm = d.reg(1);
            }
            op.run = match (m, mem) {
                (M::Lar, true) => sized!(size, lar, true),
                (M::Lar, false) => sized!(size, lar, false),
                (_, true) => sized!(size, lsl, true),
                (_, false) => sized!(size, lsl, false),
            };
        }
        M::Verr | M::Verw | M::Lldt | M::Ltr => {
            let mem = d.is_mem(0);
            if mem {
                d.mem(op);
            } else {
                op.rm = d.reg(0);
            }
            op.run = match (m, mem) {
                (M::Verr, true) => verify::<false, true>,
                (M::Verr, false) => verify::<false, false>,
                (M::Verw, true) => verify::<true, true>,
                (M::Verw, false) => verify::<true, false>,
                (M::Lldt, true) => lldt::<true>,
                (M::Lldt, false) => lldt::<false>,
                (_, true) => ltr::<true>,
                (_, false) => ltr::<false>,
            };
            // LLDT and LTR change what descriptor loads see; end the block to be plain.
            if matches!(m, M::Lldt | M::Ltr) {
                return Some(Flow::End);
            }
        }
        M::Sldt | M::Str => {
            let tr = m == M::Str;
            if d.is_mem(0) {
                d.mem(op);
                op.run = if tr {
                    store_sys_m::<true>
                } else {
                    store_sys_m::<false>
                };
            } else {
                op.rm = d.reg(0);
                let size = d.reg_size(0);
                op.run = if tr {
                    sized!(size, store_sys_r, true)
                } else {
                    sized!(size, store_sys_r, false)
                };
            }
        }
        _ => return None,
    }
    Some(Flow::Next)
}

/// Whether the model has segment register `seg`: the 80286 has no FS or GS (#UD). The 8086
/// aliases those encodings to ES..DS, which its personality decodes.
fn has_sreg(d: &Decoded, seg: u8) -> bool {
    !(d.model == Model::I80286 && (seg == sreg::FS || seg == sreg::GS))
}

/// MOV to/from a segment register. MOV CS is #UD; MOV SS ends the block so that its
/// interrupt shadow covers exactly the next instruction.
pub fn decode_mov_sreg(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let r0 = ins.op0_register();
    if r0.is_segment_register() {
        let seg = sreg_index(r0)?;
        if seg == sreg::CS || !has_sreg(d, seg) {
            return None;
        }
        op.extra = seg;
        if d.is_mem(1) {
            d.mem(op);
            op.run = mov_sreg_m;
        } else {
            op.rm = d.reg(1);
            op.run = mov_sreg_r;
        }
        return Some(if seg == sreg::SS {
            Flow::End
        } else {
            Flow::Next
        });
    }
    op.extra = sreg_index(ins.op1_register())?;
    if !has_sreg(d, op.extra) {
        return None;
    }
    if d.is_mem(0) {
        d.mem(op);
        op.run = mov_m_sreg;
    } else {
        op.rm = d.reg(0);
        op.run = match ins.op0_register().size() {
            2 => mov_r_sreg::<U16>,
            4 => mov_r_sreg::<U32>,
            _ => mov_r_sreg::<U64>,
        };
    }
    Some(Flow::Next)
}

/// PUSH/POP of a segment register. POP CS does not exist past the 8086; POP SS ends the
/// block for its interrupt shadow.
pub fn decode_push_pop_sreg(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let seg = sreg_index(ins.op0_register())?;
    if !has_sreg(d, seg) {
        return None;
    }
    let size = ins.stack_pointer_increment().unsigned_abs() as usize;
    op.extra = seg;
    if ins.mnemonic() == M::Push {
        op.run = sized!(size, push_sreg);
        return Some(Flow::Next);
    }
    if seg == sreg::CS || ins.code() == Code::INVALID || ins.op0_register() == Register::None {
        return None;
    }
    op.run = sized!(size, pop_sreg);
    Some(if seg == sreg::SS {
        Flow::End
    } else {
        Flow::Next
    })
}

#[cfg(test)]
mod tests {
    use crate::cpu::decode::translate;
    use crate::cpu::Model;
    use iced_x86::{Decoder, DecoderOptions, Instruction};

    /// Whether vx86 runs the instruction rather than raising #UD for it.
    fn decodes(bytes: &[u8], model: Model) -> bool {
        let mut ins = Instruction::default();
        Decoder::with_ip(16, bytes, 0, DecoderOptions::NONE).decode_out(&mut ins);
        !ins.is_invalid() && !translate(&ins, 16, model).unimplemented
    }

    #[test]
    fn the_286_has_no_fs_gs_or_lss() {
        let mov_fs = [0x8E, 0xE0];
        assert!(decodes(&mov_fs, Model::Modern));
        assert!(
            !decodes(&mov_fs, Model::I80286),
            "MOV FS is #UD on the 80286"
        );
        assert!(!decodes(&[0x0F, 0xA0], Model::I80286), "PUSH FS");
        assert!(!decodes(&[0x0F, 0xB2, 0x07], Model::I80286), "LSS");
        assert!(decodes(&[0xC5, 0x07], Model::I80286), "LDS exists");
        assert!(!decodes(&[0x8E, 0xC8], Model::Modern), "MOV CS is #UD");
    }

    #[test]
    fn arpl_reads_its_destination_and_writes_only_when_it_raises_the_rpl() {
        use crate::cpu::{reg, Cpu, OpenBus};
        use crate::mem::PhysMem;
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_protected_flat(0x1000);
        // arpl cs:[0x3000], ax: a write through the read-only CS would raise #GP(0), but
        // RPL 3 is already above AX's RPL 1, so nothing is written (as processors do; a
        // not-present page also faults as a read).
        let code = [0x2E, 0x63, 0x05, 0x00, 0x30, 0x00, 0x00];
        cpu.mem.write_bytes(0x2000, &code).unwrap();
        cpu.mem
            .write_bytes(0x3000, &0x0013u16.to_le_bytes())
            .unwrap();
        cpu.set_rip(0x2000);
        cpu.gpr[reg::RAX as usize] = 0x0001;
        cpu.step(&mut OpenBus);
        assert_eq!(cpu.last_fault, None);
        assert_eq!(cpu.rip(), 0x2007);
        assert!(!cpu.flags.zf());
    }
}
