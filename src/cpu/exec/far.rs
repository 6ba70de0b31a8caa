//! Far control transfers (SDM Vol. 2 JMP, CALL, RET, IRET, INT n, BOUND; Vol. 3A 5.8, 6, 7):
//! far JMP/CALL direct and through memory, to code segments, call gates, task gates and
//! TSSs; far RET to the same or an outer privilege level; IRET in real, virtual-8086,
//! protected and IA-32e mode, including returns to virtual-8086 mode and nested-task
//! returns; INT n, INT3, INTO, INT1 and BOUND.
//!
//! Every transfer checks all it needs (descriptors, limits, the new stack and every push)
//! before changing a register, so a fault leaves the instruction's state intact.

use iced_x86::{Code, Mnemonic as M, OpKind};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::descriptor::{selector_null, selector_rpl, selector_ti, Descriptor, SystemType};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::interrupt::{IntKind, NewStack};
use crate::cpu::operand::{canonical, ASIZE_MASK};
use crate::cpu::segment::Segment;
use crate::cpu::state::{reg, sreg, Cr4, Efer, Mode, Model};
use crate::cpu::task::{SwitchError, TaskSource};
use crate::cpu::{Cpu, Op, Width, U16, U32};
use crate::sized;

/// All ones in an operand of `n` bytes.
fn size_mask(n: u64) -> u64 {
    match n {
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

// ---------------------------------------------------------------------------------------
// Far JMP and CALL
// ---------------------------------------------------------------------------------------

fn jmp_far_ptr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    far_jmp(cpu, op.imm2, op.imm, W::BYTES)
}

fn jmp_far_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (sel, off) = read_far_pointer::<W>(cpu, op)?;
    far_jmp(cpu, sel, off, W::BYTES)
}

fn call_far_ptr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    far_call(cpu, op.imm2, op.imm, W::BYTES)
}

fn call_far_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let (sel, off) = read_far_pointer::<W>(cpu, op)?;
    far_call(cpu, sel, off, W::BYTES)
}

/// A far pointer m16:16/32/64 in memory: the offset, then the selector.
fn read_far_pointer<W: Width>(cpu: &mut Cpu, op: &Op) -> Result<(u16, u64), Fault> {
    let at = cpu.ea(op);
    let off = cpu.read::<W>(op.seg, at)?;
    let sel_at = at.wrapping_add(W::BYTES) & ASIZE_MASK[(op.asize & 3) as usize];
    let sel = cpu.read::<U16>(op.seg, sel_at)? as u16;
    Ok((sel, off))
}

/// Loads CS real-mode style: real mode changes only the selector and base; virtual-8086 mode
/// loads a whole 64-KiB segment.
fn load_cs_real(cpu: &mut Cpu, sel: u16) {
    if cpu.mode == Mode::V8086 {
        cpu.set_seg(sreg::CS, Segment::v86(sel));
    } else {
        let s = &mut cpu.segs[sreg::CS as usize];
        s.selector = sel;
        s.base = (sel as u64) << 4;
        let mode = cpu.mode;
        cpu.segs[sreg::CS as usize].refresh(mode, sreg::CS);
    }
    cpu.end_block();
}

/// The CS limit a real-mode or virtual-8086 far transfer checks its target against.
fn real_target_ok(cpu: &Cpu, off: u64) -> bool {
    match cpu.mode {
        Mode::V8086 => off <= 0xFFFF,
        _ => cpu.model == Model::I8086 || off <= cpu.segs[sreg::CS as usize].limit as u64,
    }
}

fn far_jmp(cpu: &mut Cpu, sel: u16, off: u64, n: u64) -> R {
    let off = off & size_mask(n);
    if matches!(cpu.mode, Mode::Real | Mode::V8086) {
        if !real_target_ok(cpu, off) {
            return Err(Fault::GP0);
        }
        load_cs_real(cpu, sel);
        cpu.set_rip(off);
        return Ok(());
    }
    let Target { sel, d, kind } = far_target(cpu, sel)?;
    match kind {
        TargetKind::Code => {
            check_code_target(cpu, sel, d)?;
            let off = target_offset(cpu, d, off)?;
            cpu.set_descriptor_accessed(sel, d)?;
            let cpl = cpu.cpl;
            cpu.load_cs(sel, d, cpl);
            cpu.set_rip(off);
            Ok(())
        }
        TargetKind::CallGate(gate_off, ty) => {
            let (tsel, td) = gate_code_segment(cpu, sel, d)?;
            // JMP never changes privilege: conforming needs DPL <= CPL, else DPL = CPL.
            let tcode = Fault::gp(Fault::selector_code(tsel));
            if (td.conforming() && td.dpl() > cpu.cpl) || (!td.conforming() && td.dpl() != cpu.cpl)
            {
                return Err(tcode);
            }
            if !td.present() {
                return Err(Fault::np(Fault::selector_code(tsel)));
            }
            let off = target_offset(cpu, td, gate_off & size_mask(ty.gate_size() as u64))?;
            cpu.set_descriptor_accessed(tsel, td)?;
            let cpl = cpu.cpl;
            cpu.load_cs(tsel, td, cpl);
            cpu.set_rip(off);
            Ok(())
        }
        TargetKind::TaskGate => task_gate_switch(cpu, sel, d, TaskSource::Jmp),
        TargetKind::Tss => tss_switch(cpu, sel, d, TaskSource::Jmp),
    }
}

fn far_call(cpu: &mut Cpu, sel: u16, off: u64, n: u64) -> R {
    let off = off & size_mask(n);
    let nb = n as u8;
    if matches!(cpu.mode, Mode::Real | Mode::V8086) {
        if !real_target_ok(cpu, off) {
            return Err(Fault::GP0);
        }
        let cs = cpu.segs[sreg::CS as usize].selector as u64;
        let ret = cpu.rip() & size_mask(n);
        let rsp = cpu.gpr[reg::RSP as usize];
        let pushed = if nb == 4 {
            cpu.push::<U32>(cs).and_then(|_| cpu.push::<U32>(ret))
        } else {
            cpu.push::<U16>(cs).and_then(|_| cpu.push::<U16>(ret))
        };
        if let Err(f) = pushed {
            cpu.gpr[reg::RSP as usize] = rsp;
            return Err(f);
        }
        load_cs_real(cpu, sel);
        cpu.set_rip(off);
        return Ok(());
    }
    let Target { sel, d, kind } = far_target(cpu, sel)?;
    match kind {
        TargetKind::Code => {
            check_code_target(cpu, sel, d)?;
            let cpl = cpu.cpl;
            let mut st = current_stack(cpu, Fault::ss(0));
            st.push(nb, cpu.segs[sreg::CS as usize].selector as u64)?;
            st.push(nb, cpu.rip() & size_mask(n))?;
            let off = target_offset(cpu, d, off)?;
            cpu.set_descriptor_accessed(sel, d)?;
            st.commit(cpu)?;
            cpu.set_sp(st.sp);
            cpu.load_cs(sel, d, cpl);
            cpu.set_rip(off);
            Ok(())
        }
        TargetKind::CallGate(gate_off, ty) => {
            let (tsel, td) = gate_code_segment(cpu, sel, d)?;
            if td.dpl() > cpu.cpl {
                return Err(Fault::gp(Fault::selector_code(tsel)));
            }
            if !td.present() {
                return Err(Fault::np(Fault::selector_code(tsel)));
            }
            let off = gate_off & size_mask(ty.gate_size() as u64);
            if !td.conforming() && td.dpl() < cpu.cpl {
                call_gate_inner(cpu, d, ty, tsel, td, off)
            } else {
                call_gate_same(cpu, ty, tsel, td, off)
            }
        }
        TargetKind::TaskGate => task_gate_switch(cpu, sel, d, TaskSource::Call),
        TargetKind::Tss => tss_switch(cpu, sel, d, TaskSource::Call),
    }
}

/// The current stack as a [`NewStack`], for pushes that must all succeed or none.
fn current_stack(cpu: &Cpu, fault: Fault) -> NewStack {
    NewStack::new(
        cpu.segs[sreg::SS as usize],
        cpu.gpr[reg::RSP as usize],
        cpu.stack_bytes(),
        cpu.cpl,
        fault,
    )
}

/// What a far JMP/CALL selector names.
enum TargetKind {
    /// A code segment.
    Code,
    /// A call gate with its full target offset.
    CallGate(u64, SystemType),
    /// A task gate (legacy mode).
    TaskGate,
    /// A TSS (legacy mode).
    Tss,
}

struct Target {
    sel: u16,
    d: Descriptor,
    kind: TargetKind,
}

/// The descriptor a far JMP/CALL names, with the checks common to both (SDM Vol. 2 JMP,
/// CALL): non-null, inside its table, and of a type the mode allows.
fn far_target(cpu: &mut Cpu, sel: u16) -> Result<Target, Fault> {
    if selector_null(sel) {
        return Err(Fault::GP0);
    }
    let fault = Fault::gp(Fault::selector_code(sel));
    let d = cpu.fetch_descriptor(sel, fault)?;
    if d.is_code() {
        return Ok(Target {
            sel,
            d,
            kind: TargetKind::Code,
        });
    }
    let long = cpu.efer.contains(Efer::LMA);
    let kind = match d.system_type(long) {
        Some(ty @ (SystemType::CallGate16 | SystemType::CallGate32)) => {
            TargetKind::CallGate(d.gate_offset() as u64, ty)
        }
        Some(SystemType::CallGate64) => {
            let d16 = cpu.fetch_descriptor16(sel, fault)?;
            if !d16.upper_type_clear() {
                return Err(fault);
            }
            TargetKind::CallGate(d16.gate_offset(), SystemType::CallGate64)
        }
        Some(SystemType::TaskGate) => TargetKind::TaskGate,
        Some(
            SystemType::Tss16Avail
            | SystemType::Tss32Avail
            | SystemType::Tss16Busy
            | SystemType::Tss32Busy,
        ) => TargetKind::Tss,
        _ => return Err(fault),
    };
    Ok(Target { sel, d, kind })
}

/// The privilege rules of a direct far JMP/CALL to a code segment: conforming needs DPL <=
/// CPL, non-conforming RPL <= CPL and DPL = CPL; IA-32e mode rejects L = D = 1.
fn check_code_target(cpu: &Cpu, sel: u16, d: Descriptor) -> R {
    let fault = Fault::gp(Fault::selector_code(sel));
    if cpu.efer.contains(Efer::LMA) && d.long() && d.big() {
        return Err(fault);
    }
    let cpl = cpu.cpl;
    if d.conforming() {
        if d.dpl() > cpl {
            return Err(fault);
        }
    } else if selector_rpl(sel) > cpl || d.dpl() != cpl {
        return Err(fault);
    }
    if !d.present() {
        return Err(Fault::np(Fault::selector_code(sel)));
    }
    Ok(())
}

/// The target offset in code segment `d`: within its limit (as a 32-bit offset) unless the
/// target is 64-bit code, where it must be canonical; else #GP(0).
fn target_offset(cpu: &Cpu, d: Descriptor, off: u64) -> Result<u64, Fault> {
    if cpu.efer.contains(Efer::LMA) && d.long() {
        if !canonical(off) {
            return Err(Fault::GP0);
        }
        return Ok(off);
    }
    let off = off & 0xFFFF_FFFF;
    if off > d.limit() as u64 {
        return Err(Fault::GP0);
    }
    Ok(off)
}

/// The checks on a call gate and its target code segment shared by JMP and CALL: gate DPL at
/// least CPL and RPL, gate present, a non-null code selector inside its table naming a code
/// segment (64-bit code in IA-32e mode).
fn gate_code_segment(
    cpu: &mut Cpu,
    sel: u16,
    gate: Descriptor,
) -> Result<(u16, Descriptor), Fault> {
    if gate.dpl() < cpu.cpl || gate.dpl() < selector_rpl(sel) {
        return Err(Fault::gp(Fault::selector_code(sel)));
    }
    if !gate.present() {
        return Err(Fault::np(Fault::selector_code(sel)));
    }
    let tsel = gate.gate_selector();
    if selector_null(tsel) {
        return Err(Fault::GP0);
    }
    let tfault = Fault::gp(Fault::selector_code(tsel));
    let td = cpu.fetch_descriptor(tsel, tfault)?;
    if !td.is_code() {
        return Err(tfault);
    }
    if cpu.efer.contains(Efer::LMA) && (!td.long() || td.big()) {
        return Err(tfault);
    }
    Ok((tsel, td))
}

/// CALL through a call gate without a privilege change: push CS and the return offset at
/// the gate's width.
fn call_gate_same(cpu: &mut Cpu, ty: SystemType, tsel: u16, td: Descriptor, off: u64) -> R {
    let n = ty.gate_size();
    let cpl = cpu.cpl;
    let mut st = current_stack(cpu, Fault::ss(0));
    st.push(n, cpu.segs[sreg::CS as usize].selector as u64)?;
    st.push(n, cpu.rip() & size_mask(n as u64))?;
    let off = target_offset(cpu, td, off)?;
    cpu.set_descriptor_accessed(tsel, td)?;
    st.commit(cpu)?;
    cpu.set_sp(st.sp);
    cpu.load_cs(tsel, td, cpl);
    cpu.set_rip(off);
    Ok(())
}

/// CALL through a call gate to a more privileged non-conforming segment (SDM Vol. 3A 5.8.5):
/// the stack for the new CPL comes from the TSS; the old SS:ESP, the gate's parameters
/// (legacy gates only) and the return address go on it.
fn call_gate_inner(
    cpu: &mut Cpu,
    gate: Descriptor,
    ty: SystemType,
    tsel: u16,
    td: Descriptor,
    off: u64,
) -> R {
    let dpl = td.dpl();
    let n = ty.gate_size();
    let nmask = size_mask(n as u64);
    let old_ss = cpu.segs[sreg::SS as usize].selector as u64;
    let old_sp = cpu.gpr[reg::RSP as usize];
    let old_cs = cpu.segs[sreg::CS as usize].selector as u64;
    let ret = cpu.rip() & nmask;
    if ty == SystemType::CallGate64 {
        // The new SS is a null selector with RPL = the new CPL; no parameters are copied.
        let rsp = cpu.tss64_stack(dpl as u64 * 8 + 4, 0)?;
        if !canonical(rsp) {
            return Err(Fault::ss(0));
        }
        let mut st = NewStack::new(cpu.segs[sreg::SS as usize], rsp, 8, dpl, Fault::ss(0));
        for v in [old_ss, old_sp, old_cs, ret] {
            st.push(8, v)?;
        }
        let off = target_offset(cpu, td, off)?;
        cpu.set_descriptor_accessed(tsel, td)?;
        st.commit(cpu)?;
        cpu.segs[sreg::SS as usize] = Segment::null(dpl as u16);
        cpu.gpr[reg::RSP as usize] = st.sp;
        cpu.load_cs(tsel, td, dpl);
        cpu.set_rip(off);
        return Ok(());
    }
    let (ss_sel, esp) = cpu.tss_stack(dpl, 0)?;
    let ssd = cpu.check_new_ss(ss_sel, dpl, 0)?;
    let ss_bytes = if ssd.big() { 4 } else { 2 };
    let mut st = NewStack::new(
        ssd.to_segment(ss_sel),
        esp,
        ss_bytes,
        dpl,
        Fault::ss(Fault::selector_code(ss_sel)),
    );
    st.push(n, old_ss)?;
    st.push(n, old_sp & nmask)?;
    // The parameters keep their order: the deepest one on the old stack is pushed first.
    for i in (0..gate.gate_params() as u64).rev() {
        let v = if n == 4 {
            cpu.peek::<U32>(i * 4)?.0
        } else {
            cpu.peek::<U16>(i * 2)?.0
        };
        st.push(n, v)?;
    }
    st.push(n, old_cs)?;
    st.push(n, ret)?;
    let off = target_offset(cpu, td, off)?;
    cpu.set_descriptor_accessed(ss_sel, ssd)?;
    cpu.set_descriptor_accessed(tsel, td)?;
    st.commit(cpu)?;
    cpu.segs[sreg::SS as usize] = ssd.to_segment(ss_sel);
    let smask = size_mask(ss_bytes as u64);
    let rsp = &mut cpu.gpr[reg::RSP as usize];
    *rsp = (*rsp & !smask) | (st.sp & smask);
    cpu.load_cs(tsel, td, dpl);
    cpu.set_rip(off);
    Ok(())
}

/// JMP/CALL to a task gate: gate DPL >= CPL and RPL, present; its TSS selector must name an
/// available TSS in the GDT (SDM Vol. 2 JMP/CALL TASK-GATE).
fn task_gate_switch(cpu: &mut Cpu, sel: u16, gate: Descriptor, source: TaskSource) -> R {
    if gate.dpl() < cpu.cpl || gate.dpl() < selector_rpl(sel) {
        return Err(Fault::gp(Fault::selector_code(sel)));
    }
    if !gate.present() {
        return Err(Fault::np(Fault::selector_code(sel)));
    }
    let tss_sel = gate.gate_selector();
    let fault = Fault::gp(Fault::selector_code(tss_sel));
    if selector_ti(tss_sel) {
        return Err(fault);
    }
    let d = cpu.fetch_descriptor(tss_sel, fault)?;
    match d.system_type(false) {
        Some(SystemType::Tss16Avail | SystemType::Tss32Avail) => {}
        _ => return Err(fault),
    }
    let r = cpu.task_switch(tss_sel, d, source, 0);
    finish_switch(cpu, r)
}

/// JMP/CALL to a TSS descriptor: DPL >= CPL and RPL, and not busy.
fn tss_switch(cpu: &mut Cpu, sel: u16, d: Descriptor, source: TaskSource) -> R {
    let busy = d.system_type(false).is_some_and(|t| t.is_busy_tss());
    if d.dpl() < cpu.cpl || d.dpl() < selector_rpl(sel) || busy {
        return Err(Fault::gp(Fault::selector_code(sel)));
    }
    let r = cpu.task_switch(sel, d, source, 0);
    finish_switch(cpu, r)
}

/// Completes an instruction's task switch: a fault before the commit point is the
/// instruction's; one after it (or a new EIP beyond the CS limit) is delivered in the new
/// task; the T bit raises its #DB trap.
fn finish_switch(cpu: &mut Cpu, r: Result<bool, SwitchError>) -> R {
    match r {
        Err(SwitchError::Before(f)) => Err(f),
        Err(SwitchError::After(f)) => {
            cpu.deliver_fault(f);
            Ok(())
        }
        Ok(trap) => {
            if cpu.rip() > cpu.segs[sreg::CS as usize].limit as u64 {
                cpu.deliver_fault(Fault::GP0);
                return Ok(());
            }
            if trap {
                if let Err(f) = cpu.task_switch_trap() {
                    cpu.deliver_fault(f);
                }
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Far RET
// ---------------------------------------------------------------------------------------

/// RET far (and RET far imm16, `op.imm` bytes released from both stacks).
fn retf<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let n = W::BYTES;
    let (ip, _) = cpu.peek::<W>(0)?;
    let (cs, _) = cpu.peek::<W>(n)?;
    let sel = cs as u16;
    if matches!(cpu.mode, Mode::Real | Mode::V8086) {
        if !real_target_ok(cpu, ip) {
            return Err(Fault::GP0);
        }
        let sp = cpu.gpr[reg::RSP as usize].wrapping_add(2 * n + op.imm);
        load_cs_real(cpu, sel);
        cpu.set_rip(ip);
        cpu.set_sp(sp);
        return Ok(());
    }
    let d = check_return_cs(cpu, sel)?;
    let rpl = selector_rpl(sel);
    if rpl == cpu.cpl {
        let off = target_offset(cpu, d, ip)?;
        cpu.set_descriptor_accessed(sel, d)?;
        let sp = cpu.gpr[reg::RSP as usize].wrapping_add(2 * n + op.imm);
        cpu.set_sp(sp);
        cpu.load_cs(sel, d, rpl);
        cpu.set_rip(off);
        return Ok(());
    }
    // Outer privilege: SS:rSP follow the return address and the released parameters.
    let (sp, _) = cpu.peek::<W>(2 * n + op.imm)?;
    let (ss, _) = cpu.peek::<W>(3 * n + op.imm)?;
    let to64 = cpu.efer.contains(Efer::LMA) && d.long();
    let ssd = check_return_ss(cpu, ss as u16, rpl, to64)?;
    let off = target_offset(cpu, d, ip)?;
    cpu.set_descriptor_accessed(sel, d)?;
    if let Some(sd) = ssd {
        cpu.set_descriptor_accessed(ss as u16, sd)?;
    }
    finish_outer_return(cpu, sel, d, rpl, ss as u16, ssd, sp.wrapping_add(op.imm));
    cpu.set_rip(off);
    Ok(())
}

/// The return code segment checks of RET far and IRET (SDM Vol. 2): non-null, inside its
/// table, code (not L = D = 1 in IA-32e mode), RPL >= CPL, DPL matching RPL as conforming
/// or not, present.
fn check_return_cs(cpu: &mut Cpu, sel: u16) -> Result<Descriptor, Fault> {
    if selector_null(sel) {
        return Err(Fault::GP0);
    }
    let code = Fault::selector_code(sel);
    let d = cpu.fetch_descriptor(sel, Fault::gp(code))?;
    if !d.is_code() || (cpu.efer.contains(Efer::LMA) && d.long() && d.big()) {
        return Err(Fault::gp(code));
    }
    let rpl = selector_rpl(sel);
    if rpl < cpu.cpl || (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl) {
        return Err(Fault::gp(code));
    }
    if !d.present() {
        return Err(Fault::np(code));
    }
    Ok(d)
}

/// The stack segment a return to privilege `rpl` loads: RPL and DPL equal to `rpl`, writable
/// data, present. A null selector is allowed only returning to 64-bit code below CPL 3
/// (`Ok(None)`).
fn check_return_ss(
    cpu: &mut Cpu,
    ss: u16,
    rpl: u8,
    to64: bool,
) -> Result<Option<Descriptor>, Fault> {
    if selector_null(ss) {
        return if to64 && rpl != 3 {
            Ok(None)
        } else {
            Err(Fault::GP0)
        };
    }
    let code = Fault::selector_code(ss);
    let d = cpu.fetch_descriptor(ss, Fault::gp(code))?;
    if selector_rpl(ss) != rpl || d.dpl() != rpl || !d.writable() {
        return Err(Fault::gp(code));
    }
    if !d.present() {
        return Err(Fault::ss(code));
    }
    Ok(Some(d))
}

/// Loads CS, SS and rSP for a return that pops SS:rSP, then nulls the data segment
/// registers the new CPL may not use if the privilege level changed.
fn finish_outer_return(
    cpu: &mut Cpu,
    sel: u16,
    d: Descriptor,
    rpl: u8,
    ss: u16,
    ssd: Option<Descriptor>,
    sp: u64,
) {
    let outer = rpl != cpu.cpl;
    cpu.segs[sreg::SS as usize] = match ssd {
        Some(sd) => sd.to_segment(ss),
        None => Segment::null(ss),
    };
    cpu.load_cs(sel, d, rpl);
    if cpu.mode == Mode::Long {
        cpu.gpr[reg::RSP as usize] = sp;
    } else {
        cpu.set_sp(sp);
    }
    if outer {
        cpu.null_inaccessible_data_segs();
    }
}

// ---------------------------------------------------------------------------------------
// IRET
// ---------------------------------------------------------------------------------------

/// IRET/IRETD/IRETQ. A completed IRET also ends NMI blocking (SDM Vol. 3A 6.7.1).
fn iret<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    match cpu.mode {
        Mode::Real => iret_real::<W>(cpu)?,
        Mode::V8086 => iret_v86::<W>(cpu)?,
        _ => iret_protected::<W>(cpu)?,
    }
    cpu.nmi_blocked = false;
    Ok(())
}

/// The FLAGS bits a real-mode IRET/POPF may write: all of the low 16 on modern processors;
/// the 8086 and 80286 keep bits 12-15 as their own (ones on the 8086, zeros on the 286).
fn real_flags_mask(cpu: &Cpu) -> u64 {
    match cpu.model {
        Model::Modern => 0x7FD5,
        _ => 0x0FD5,
    }
}

fn iret_real<W: Width>(cpu: &mut Cpu) -> R {
    let n = W::BYTES;
    let (ip, _) = cpu.peek::<W>(0)?;
    let (cs, _) = cpu.peek::<W>(n)?;
    let (fl, sp) = cpu.peek::<W>(2 * n)?;
    if !real_target_ok(cpu, ip) {
        return Err(Fault::GP0);
    }
    // 32-bit: EFLAGS <- (temp AND 257FD5H) OR (EFLAGS AND 1A0000H): VM, VIF, VIP stay.
    let mask = if n == 4 {
        0x25_7FD5
    } else {
        real_flags_mask(cpu)
    };
    cpu.write_flags(fl, mask);
    load_cs_real(cpu, cs as u16);
    cpu.set_rip(ip);
    cpu.set_sp(sp);
    Ok(())
}

fn iret_v86<W: Width>(cpu: &mut Cpu) -> R {
    let n = W::BYTES;
    let iopl = (cpu.flags.bits & bit::IOPL) >> 12;
    let vme = iopl < 3 && cpu.cr4.contains(Cr4::VME) && n == 2;
    if iopl < 3 && !vme {
        return Err(Fault::GP0);
    }
    let (ip, _) = cpu.peek::<W>(0)?;
    let (cs, _) = cpu.peek::<W>(n)?;
    let (fl, sp) = cpu.peek::<W>(2 * n)?;
    if ip > 0xFFFF {
        return Err(Fault::GP0);
    }
    if vme {
        // SDM Vol. 3A 20.3.3 / Vol. 2 IRET: VIF takes the popped IF; IF and IOPL stay. A
        // pending virtual interrupt being enabled, or TF, goes to the monitor instead.
        if (fl & bit::IF != 0 && cpu.flags.has(bit::VIP)) || fl & bit::TF != 0 {
            return Err(Fault::GP0);
        }
        cpu.write_flags(fl, 0x7FD5 & !(bit::IF | bit::IOPL));
        let vif = if fl & bit::IF != 0 { bit::VIF } else { 0 };
        cpu.write_flags(vif, bit::VIF);
    } else {
        // IOPL = 3: VM, IOPL, VIP and VIF are not modified.
        let mask = if n == 4 { 0x25_7FD5 } else { 0x7FD5 } & !bit::IOPL;
        cpu.write_flags(fl, mask);
    }
    load_cs_real(cpu, cs as u16);
    cpu.set_rip(ip);
    cpu.set_sp(sp);
    Ok(())
}

fn iret_protected<W: Width>(cpu: &mut Cpu) -> R {
    let n = W::BYTES;
    let lma = cpu.efer.contains(Efer::LMA);
    if cpu.flags.has(bit::NT) {
        // IA-32e mode has no task switching.
        if lma {
            return Err(Fault::GP0);
        }
        return task_return(cpu);
    }
    let (ip, _) = cpu.peek::<W>(0)?;
    let (cs, _) = cpu.peek::<W>(n)?;
    let (fl, _) = cpu.peek::<W>(2 * n)?;
    if !lma && n == 4 && fl & bit::VM != 0 && cpu.cpl == 0 {
        return iret_to_v86(cpu, ip, cs as u16, fl);
    }
    let sel = cs as u16;
    let d = check_return_cs(cpu, sel)?;
    let rpl = selector_rpl(sel);
    let to64 = lma && d.long();
    // An IRET that starts in 64-bit mode always pops SS:RSP; elsewhere only on a return to
    // an outer privilege level.
    let pop_ss = rpl > cpu.cpl || cpu.mode == Mode::Long;
    let mut new_stack = None;
    if pop_ss {
        let (sp, _) = cpu.peek::<W>(3 * n)?;
        let (ss, _) = cpu.peek::<W>(4 * n)?;
        let ssd = check_return_ss(cpu, ss as u16, rpl, to64)?;
        new_stack = Some((ss as u16, ssd, sp));
    }
    let off = target_offset(cpu, d, ip)?;
    cpu.set_descriptor_accessed(sel, d)?;
    if let Some((ss, Some(sd), _)) = new_stack {
        cpu.set_descriptor_accessed(ss, sd)?;
    }
    // The flags IRET may change depend on the CPL before the return (SDM Vol. 2 IRET).
    let cpl = cpu.cpl;
    let iopl = ((cpu.flags.bits & bit::IOPL) >> 12) as u8;
    let mut mask =
        bit::CF | bit::PF | bit::AF | bit::ZF | bit::SF | bit::TF | bit::DF | bit::OF | bit::NT;
    if n != 2 {
        mask |= bit::RF | bit::AC | bit::ID;
    }
    if cpl <= iopl {
        mask |= bit::IF;
    }
    if cpl == 0 {
        mask |= bit::IOPL;
        if n != 2 {
            mask |= bit::VIF | bit::VIP;
        }
    }
    let same_sp = cpu.gpr[reg::RSP as usize].wrapping_add(3 * n);
    cpu.write_flags(fl, mask);
    match new_stack {
        Some((ss, ssd, sp)) => finish_outer_return(cpu, sel, d, rpl, ss, ssd, sp),
        None => {
            cpu.set_sp(same_sp);
            cpu.load_cs(sel, d, rpl);
        }
    }
    cpu.set_rip(off);
    Ok(())
}

/// IRETD at CPL 0 with VM set in the popped EFLAGS: back to virtual-8086 mode, popping ESP,
/// SS, ES, DS, FS and GS too (SDM Vol. 2 IRET RETURN-TO-VIRTUAL-8086-MODE).
fn iret_to_v86(cpu: &mut Cpu, ip: u64, cs: u16, fl: u64) -> R {
    let mut v = [0u64; 6];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = cpu.peek::<U32>(12 + 4 * i as u64)?.0;
    }
    if ip > 0xFFFF {
        return Err(Fault::GP0);
    }
    let [esp, ss, es, ds, fs, gs] = v;
    for (seg, sel) in [
        (sreg::CS, cs as u64),
        (sreg::SS, ss),
        (sreg::ES, es),
        (sreg::DS, ds),
        (sreg::FS, fs),
        (sreg::GS, gs),
    ] {
        cpu.segs[seg as usize] = Segment::v86(sel as u16);
    }
    cpu.write_flags(fl, 0x003F_7FD7);
    cpu.update_mode();
    cpu.gpr[reg::RSP as usize] = esp;
    cpu.set_rip(ip);
    Ok(())
}

/// IRET with NT set: switch back to the task named by the current TSS's back link, which
/// must be a busy TSS in the GDT (SDM Vol. 2 IRET TASK-RETURN).
fn task_return(cpu: &mut Cpu) -> R {
    let link = cpu.read_sys(cpu.tr.base, 2)? as u16;
    let fault = Fault::ts(Fault::selector_code(link));
    if selector_ti(link) {
        return Err(fault);
    }
    let d = cpu.fetch_descriptor(link, fault)?;
    match d.system_type(false) {
        Some(SystemType::Tss16Busy | SystemType::Tss32Busy) => {}
        _ => return Err(fault),
    }
    let r = cpu.task_switch(link, d, TaskSource::Iret, 0);
    finish_switch(cpu, r)
}

// ---------------------------------------------------------------------------------------
// INT n, INT3, INTO, INT1, BOUND
// ---------------------------------------------------------------------------------------

/// Raises a software interrupt with RIP at the next instruction. A fault after a task
/// switch through a task gate committed belongs to the new task and is delivered there.
fn soft_interrupt(cpu: &mut Cpu, vector: u8, kind: IntKind) -> R {
    let tr = cpu.tr.selector;
    match cpu.interrupt(vector, kind, None) {
        Err(f) if cpu.tr.selector != tr => {
            cpu.deliver_fault(f);
            Ok(())
        }
        r => r,
    }
}

fn int_n(cpu: &mut Cpu, op: &Op) -> R {
    soft_interrupt(cpu, op.imm as u8, IntKind::Software)
}

fn int3(cpu: &mut Cpu, _: &Op) -> R {
    soft_interrupt(cpu, 3, IntKind::SoftException)
}

fn into(cpu: &mut Cpu, _: &Op) -> R {
    if cpu.flags.of() {
        return soft_interrupt(cpu, 4, IntKind::SoftException);
    }
    Ok(())
}

fn int1(cpu: &mut Cpu, _: &Op) -> R {
    soft_interrupt(cpu, 1, IntKind::Icebp)
}

/// BOUND: #BR (a fault) if the signed index lies outside [lower, upper] in memory.
fn bound<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let at = cpu.ea(op);
    let lo = cpu.read::<W>(op.seg, at)?;
    let hi_at = at.wrapping_add(W::BYTES) & ASIZE_MASK[(op.asize & 3) as usize];
    let hi = cpu.read::<W>(op.seg, hi_at)?;
    let idx = W::sext(W::get(cpu, op.r)) as i64;
    if idx < W::sext(lo) as i64 || idx > W::sext(hi) as i64 {
        return Err(Fault::BR);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Decodes the far-transfer group: RET far, IRET, INT n, INT3, INTO, INT1, BOUND.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    match ins.mnemonic() {
        M::Retf => {
            let size = match ins.code() {
                Code::Retfw | Code::Retfw_imm16 => 2,
                Code::Retfd | Code::Retfd_imm16 => 4,
                _ => 8,
            };
            op.imm = if ins.op_count() > 0 {
                d.imm(0) & 0xFFFF
            } else {
                0
            };
            op.run = sized!(size, retf);
        }
        M::Iret | M::Iretd | M::Iretq => {
            let size = match ins.code() {
                Code::Iretw => 2,
                Code::Iretd => 4,
                _ => 8,
            };
            op.run = sized!(size, iret);
        }
        M::Int => {
            op.imm = d.imm(0) & 0xFF;
            op.run = int_n;
        }
        M::Int3 => op.run = int3,
        M::Into => op.run = into,
        M::Int1 => op.run = int1,
        M::Bound => {
            op.r = d.reg(0);
            d.mem(op);
            op.run = if d.reg_size(0) == 2 {
                bound::<U16>
            } else {
                bound::<U32>
            };
            return Some(Flow::Next);
        }
        _ => return None,
    }
    Some(Flow::End)
}

/// Far JMP/CALL (direct ptr16:16/32 or indirect m16:16/32/64).
pub fn decode_far_jmp_call(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let call = ins.mnemonic() == M::Call;
    match ins.op0_kind() {
        OpKind::FarBranch16 | OpKind::FarBranch32 => {
            let size = if ins.op0_kind() == OpKind::FarBranch16 {
                2
            } else {
                4
            };
            op.imm = if size == 2 {
                ins.far_branch16() as u64
            } else {
                ins.far_branch32() as u64
            };
            op.imm2 = ins.far_branch_selector();
            op.run = if call {
                sized!(size, call_far_ptr)
            } else {
                sized!(size, jmp_far_ptr)
            };
        }
        OpKind::Memory => {
            let size = d.mem_size().checked_sub(2)?;
            d.mem(op);
            op.run = if call {
                sized!(size, call_far_m)
            } else {
                sized!(size, jmp_far_m)
            };
        }
        _ => return None,
    }
    Some(Flow::End)
}
