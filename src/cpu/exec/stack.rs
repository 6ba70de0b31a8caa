//! The stack: PUSH/POP (registers, memory, immediates), PUSHA/POPA, PUSHF/POPF with the
//! IOPL/VM/VIF rules, ENTER/LEAVE; and the push/pop primitives every other group uses.

use iced_x86::{Code, Mnemonic as M};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::bit;
use crate::cpu::state::{reg, sreg, Mode, Model};
use crate::cpu::{Cpu, Cr4, Op, Width, U16, U32, U64};
use crate::sized;

impl Cpu {
    /// The mask of the stack pointer: SP, ESP or RSP as SS.B and the mode say.
    #[inline(always)]
    pub fn sp_mask(&self) -> u64 {
        match self.stack_bytes() {
            8 => u64::MAX,
            4 => 0xFFFF_FFFF,
            _ => 0xFFFF,
        }
    }

    /// SS for a stack access: flat in 64-bit mode (base 0, no limit; see [`sreg::FLAT`]).
    #[inline(always)]
    fn stack_seg(&self) -> u8 {
        if self.mode == Mode::Long {
            sreg::SS | sreg::FLAT
        } else {
            sreg::SS
        }
    }

    /// Sets the stack pointer at its width, keeping the bits above it.
    #[inline(always)]
    pub fn set_sp(&mut self, v: u64) {
        let mask = self.sp_mask();
        let sp = &mut self.gpr[reg::RSP as usize];
        *sp = (*sp & !mask) | (v & mask);
    }

    /// Pushes a `W`; nothing changes if the write faults.
    #[inline(always)]
    pub fn push<W: Width>(&mut self, v: u64) -> R {
        let mask = self.sp_mask();
        let rsp = self.gpr[reg::RSP as usize];
        let new = rsp.wrapping_sub(W::BYTES) & mask;
        self.write::<W>(self.stack_seg(), new, v)?;
        self.gpr[reg::RSP as usize] = (rsp & !mask) | new;
        Ok(())
    }

    /// Reads the `W` at SS:rSP + `offset` and returns it with the stack-pointer offset just
    /// past it (masked to the stack width), changing nothing.
    #[inline(always)]
    pub fn peek<W: Width>(&mut self, offset: u64) -> Result<(u64, u64), Fault> {
        let mask = self.sp_mask();
        let sp = self.gpr[reg::RSP as usize].wrapping_add(offset) & mask;
        let v = self.read::<W>(self.stack_seg(), sp)?;
        Ok((v, sp.wrapping_add(W::BYTES) & mask))
    }

    /// Pops a `W`; nothing changes if the read faults.
    #[inline(always)]
    pub fn pop<W: Width>(&mut self) -> Result<u64, Fault> {
        let (v, sp) = self.peek::<W>(0)?;
        self.set_sp(sp);
        Ok(v)
    }
}

fn push_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.push::<W>(v)
}

fn push_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    cpu.push::<W>(v)
}

fn push_i<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.push::<W>(op.imm)
}

fn pop_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.pop::<W>()?;
    W::set(cpu, op.r, v);
    Ok(())
}

/// POP r/m: the effective address is computed after rSP is incremented (SDM Vol. 2 POP), and
/// a faulting store leaves rSP unchanged.
fn pop_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let old = cpu.gpr[reg::RSP as usize];
    let v = cpu.pop::<W>()?;
    let off = cpu.ea(op);
    if let Err(f) = cpu.write::<W>(op.seg, off, v) {
        cpu.gpr[reg::RSP as usize] = old;
        return Err(f);
    }
    Ok(())
}

/// Decodes the stack group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    match ins.mnemonic() {
        M::Push | M::Pop if d.is_reg(0) && ins.op0_register().is_segment_register() => {
            super::segment::decode_push_pop_sreg(d, op)
        }
        M::Push => {
            let size = d.op_size(0);
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = sized!(size, push_r);
            } else if d.is_mem(0) {
                d.mem(op);
                op.run = sized!(size, push_m);
            } else {
                // The pushed width is the operand size, not the immediate's encoded size.
                let size = ins.stack_pointer_increment().unsigned_abs() as usize;
                op.imm = d.imm(0);
                op.run = sized!(size, push_i);
            }
            Some(Flow::Next)
        }
        M::Pop => {
            let size = d.op_size(0);
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = sized!(size, pop_r);
            } else {
                d.mem(op);
                op.run = sized!(size, pop_m);
            }
            Some(Flow::Next)
        }
        _ => decode_frame(d, op),
    }
}

/// EFLAGS.IOPL.
fn iopl(cpu: &Cpu) -> u64 {
    (cpu.flags.bits & bit::IOPL) >> 12
}

/// PUSHA/PUSHAD: pushes rAX, rCX, rDX, rBX, the original rSP, rBP, rSI, rDI. rSP changes
/// only once every store has succeeded.
fn pusha<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let mask = cpu.sp_mask();
    let mut sp = cpu.gpr[reg::RSP as usize] & mask;
    for r in [
        reg::RAX,
        reg::RCX,
        reg::RDX,
        reg::RBX,
        reg::RSP,
        reg::RBP,
        reg::RSI,
        reg::RDI,
    ] {
        sp = sp.wrapping_sub(W::BYTES) & mask;
        let v = W::get(cpu, r);
        cpu.write::<W>(sreg::SS, sp, v)?;
    }
    cpu.set_sp(sp);
    Ok(())
}

/// POPA/POPAD: pops rDI, rSI, rBP, skips the saved rSP, then rBX, rDX, rCX, rAX. Every load
/// happens before any register changes.
fn popa<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let mask = cpu.sp_mask();
    let sp = cpu.gpr[reg::RSP as usize] & mask;
    let mut v = [0u64; 8];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = cpu.read::<W>(sreg::SS, sp.wrapping_add(i as u64 * W::BYTES) & mask)?;
    }
    for (i, r) in [
        reg::RDI,
        reg::RSI,
        reg::RBP,
        reg::RSP,
        reg::RBX,
        reg::RDX,
        reg::RCX,
        reg::RAX,
    ]
    .into_iter()
    .enumerate()
    {
        if r != reg::RSP {
            W::set(cpu, r, v[i]);
        }
    }
    cpu.set_sp(sp.wrapping_add(8 * W::BYTES));
    Ok(())
}

/// PUSHF/PUSHFD/PUSHFQ (SDM Vol. 2 PUSHF): the image has VM and RF clear. In virtual-8086
/// mode with IOPL < 3 only the 16-bit form with CR4.VME runs: it pushes VIF in the IF
/// position and IOPL as 3 (SDM Vol. 3B "Virtual Mode Extensions"); anything else traps to the monitor.
fn pushf<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let mut v = cpu.rflags() & !(bit::VM | bit::RF);
    if cpu.mode == Mode::V8086 && iopl(cpu) < 3 {
        if W::BYTES != 2 || !cpu.cr4.contains(Cr4::VME) {
            return Err(Fault::GP0);
        }
        let vif = if cpu.flags.has(bit::VIF) { bit::IF } else { 0 };
        v = (v & !bit::IF) | vif | bit::IOPL;
    }
    cpu.push::<W>(v & W::MASK)
}

/// POPF/POPFD/POPFQ (SDM Vol. 2 POPF): which bits change depends on the mode, CPL and IOPL.
/// VM, VIP and VIF are never loaded (except VIF by the 16-bit form under CR4.VME); the
/// 32/64-bit forms clear RF.
fn popf<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let (mut v, sp) = cpu.peek::<W>(0)?;
    let iopl = iopl(cpu);
    let wide = if W::BYTES > 2 {
        bit::AC | bit::ID | bit::RF
    } else {
        0
    };
    let mut mask = bit::ARITH | bit::TF | bit::DF | bit::NT | wide;
    match cpu.mode {
        Mode::Real => {
            mask |= bit::IF | bit::IOPL;
            if cpu.model == Model::I80286 {
                // The 286 in real mode keeps FLAGS bits 12-15 clear.
                v &= !(bit::IOPL | bit::NT);
            }
        }
        Mode::V8086 if iopl == 3 => mask |= bit::IF,
        Mode::V8086 => {
            // IOPL < 3: only the 16-bit form under CR4.VME, which loads VIF instead of IF and
            // traps if it would set TF, or set IF while VIP is set (SDM Vol. 3B "Virtual Mode Extensions").
            if W::BYTES != 2 || !cpu.cr4.contains(Cr4::VME) {
                return Err(Fault::GP0);
            }
            if v & bit::TF != 0 || (v & bit::IF != 0 && cpu.flags.has(bit::VIP)) {
                return Err(Fault::GP0);
            }
            mask |= bit::VIF;
            if v & bit::IF != 0 {
                v |= bit::VIF;
            }
        }
        _ => {
            // Protected, compatibility and 64-bit mode: IOPL only at CPL 0, IF only at
            // CPL <= IOPL; both are silently kept otherwise.
            if cpu.cpl == 0 {
                mask |= bit::IOPL;
            }
            if cpu.cpl as u64 <= iopl {
                mask |= bit::IF;
            }
        }
    }
    cpu.write_flags(v & !bit::RF, mask);
    cpu.set_sp(sp);
    Ok(())
}

/// ENTER alloc, level (SDM Vol. 2 ENTER): pushes rBP, copies `level - 1` frame pointers from
/// the enclosing frame, pushes the new frame pointer, and reserves `alloc` bytes. The final
/// stack pointer is write-checked; registers change only when nothing faulted.
fn enter<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let alloc = op.imm & 0xFFFF;
    let level = op.imm2 & 31;
    let mask = cpu.sp_mask();
    let rsp = cpu.gpr[reg::RSP as usize];
    let mut sp = rsp.wrapping_sub(W::BYTES) & mask;
    let bp = W::get(cpu, reg::RBP);
    cpu.write::<W>(sreg::SS, sp, bp)?;
    // FrameTemp: rSP after the push, the bits above the stack width kept.
    let frame = ((rsp & !mask) | sp) & W::MASK;
    if level > 0 {
        // The enclosing frame pointers are read through rBP at the stack width.
        let mut from = cpu.gpr[reg::RBP as usize] & mask;
        for _ in 1..level {
            from = from.wrapping_sub(W::BYTES) & mask;
            let v = cpu.read::<W>(sreg::SS, from)?;
            sp = sp.wrapping_sub(W::BYTES) & mask;
            cpu.write::<W>(sreg::SS, sp, v)?;
        }
        sp = sp.wrapping_sub(W::BYTES) & mask;
        cpu.write::<W>(sreg::SS, sp, frame)?;
    }
    let last = sp.wrapping_sub(alloc) & mask;
    cpu.read_rmw::<W>(sreg::SS, last)?;
    W::set(cpu, reg::RBP, frame);
    cpu.set_sp(last);
    Ok(())
}

/// LEAVE (SDM Vol. 2 LEAVE): rSP = rBP at the stack width, then pops rBP.
fn leave<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let mask = cpu.sp_mask();
    let bp = cpu.gpr[reg::RBP as usize] & mask;
    let v = cpu.read::<W>(sreg::SS, bp)?;
    cpu.set_sp(bp.wrapping_add(W::BYTES));
    W::set(cpu, reg::RBP, v);
    Ok(())
}

/// PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.
fn decode_frame(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let (run, flow): (crate::cpu::Handler, Flow) = match ins.code() {
        // PUSHA/POPA are #UD in 64-bit mode (the decoder already calls them invalid there).
        _ if d.bits == 64
            && matches!(ins.mnemonic(), M::Pusha | M::Pushad | M::Popa | M::Popad) =>
        {
            return None
        }
        Code::Pushaw => (pusha::<U16>, Flow::Next),
        Code::Pushad => (pusha::<U32>, Flow::Next),
        Code::Popaw => (popa::<U16>, Flow::Next),
        Code::Popad => (popa::<U32>, Flow::Next),
        Code::Pushfw => (pushf::<U16>, Flow::Next),
        Code::Pushfd => (pushf::<U32>, Flow::Next),
        Code::Pushfq => (pushf::<U64>, Flow::Next),
        // POPF may set IF or TF, which are sampled between blocks.
        Code::Popfw => (popf::<U16>, Flow::End),
        Code::Popfd => (popf::<U32>, Flow::End),
        Code::Popfq => (popf::<U64>, Flow::End),
        Code::Enterw_imm16_imm8 => (enter::<U16>, Flow::Next),
        Code::Enterd_imm16_imm8 => (enter::<U32>, Flow::Next),
        Code::Enterq_imm16_imm8 => (enter::<U64>, Flow::Next),
        Code::Leavew => (leave::<U16>, Flow::Next),
        Code::Leaved => (leave::<U32>, Flow::Next),
        Code::Leaveq => (leave::<U64>, Flow::Next),
        _ => return None,
    };
    if ins.mnemonic() == M::Enter {
        op.imm = d.imm(0) & 0xFFFF;
        op.imm2 = ins.immediate8_2nd() as u16;
    }
    op.run = run;
    Some(flow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::string::tests::{exec_one, flat32, long64, real};
    use crate::cpu::Segment;

    const STACK: u64 = 0x1000;

    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.gpr[r as usize]
    }

    #[test]
    fn stack_accesses_in_64_bit_mode_are_flat_and_a_non_canonical_rsp_is_ss_fault() {
        let mut cpu = long64();
        cpu.gpr[reg::RSP as usize] = 0x9000;
        cpu.gpr[reg::RAX as usize] = 0x1122_3344_5566_7788;
        exec_one(&mut cpu, &[0x50]).unwrap(); // push rax
        exec_one(&mut cpu, &[0x5B]).unwrap(); // pop rbx
        assert_eq!(get(&cpu, reg::RBX), 0x1122_3344_5566_7788);
        assert_eq!(get(&cpu, reg::RSP), 0x9000);
        cpu.gpr[reg::RSP as usize] = 0x8000_0000_0000_0008;
        assert_eq!(exec_one(&mut cpu, &[0x50]), Err(Fault::ss(0)));
        assert_eq!(exec_one(&mut cpu, &[0x5B]), Err(Fault::ss(0)));
        assert_eq!(
            get(&cpu, reg::RSP),
            0x8000_0000_0000_0008,
            "unchanged by the faults"
        );
    }

    /// Virtual-8086 mode with real-mode-like segment caches at 0 and SP = 0x1000.
    fn v86(iopl: u64, vme: bool) -> Cpu {
        let mut cpu = flat32();
        for s in cpu.segs.iter_mut().take(6) {
            *s = Segment::real(0);
        }
        cpu.flags.bits |= iopl << 12;
        if vme {
            cpu.cr4 |= Cr4::VME;
        }
        cpu.write_flags(bit::VM, bit::VM);
        assert_eq!(cpu.mode, Mode::V8086);
        cpu.gpr[reg::RSP as usize] = STACK;
        cpu
    }

    /// Runs POPF (`code`) with `image` on the stack; returns the flags after, or the fault.
    fn popf_with(cpu: &mut Cpu, code: &[u8], image: u64) -> Result<u64, Fault> {
        let sp = get(cpu, reg::RSP);
        cpu.mem.write_bytes(sp, &image.to_le_bytes()).unwrap();
        exec_one(cpu, code)?;
        Ok(cpu.flags.get())
    }

    const ALL: u64 = 0x003F_7FD7;

    #[test]
    fn popf_in_real_mode_loads_every_flag_but_vm_vip_vif() {
        let mut cpu = real();
        cpu.gpr[reg::RSP as usize] = STACK;
        let f = popf_with(&mut cpu, &[0x66, 0x9D], ALL).unwrap(); // popfd
        assert_eq!(
            f,
            ALL & !(bit::VM | bit::VIP | bit::VIF | bit::RF) | bit::FIXED1
        );
        assert_eq!(get(&cpu, reg::RSP), STACK + 4);
    }

    #[test]
    fn the_286_keeps_flags_12_to_15_clear_in_real_mode() {
        let mut cpu = real();
        cpu.model = Model::I80286;
        cpu.gpr[reg::RSP as usize] = STACK;
        let f = popf_with(&mut cpu, &[0x9D], 0xFFFF).unwrap();
        assert_eq!(f & 0xF000, 0);
        assert_eq!(f & 0x0FFF, 0x0FD7);
    }

    #[test]
    fn popf_at_cpl_0_changes_iopl_and_if() {
        let mut cpu = flat32();
        cpu.gpr[reg::RSP as usize] = STACK;
        let f = popf_with(&mut cpu, &[0x9D], bit::IOPL | bit::IF | bit::CF).unwrap();
        assert_eq!(
            f & (bit::IOPL | bit::IF | bit::CF),
            bit::IOPL | bit::IF | bit::CF
        );
        assert!(
            cpu.block_ended(),
            "IF changed: interrupts are sampled after the block"
        );
    }

    #[test]
    fn popf_above_cpl_0_keeps_iopl_and_keeps_if_unless_cpl_le_iopl() {
        let mut cpu = flat32();
        cpu.set_cpl(3);
        cpu.gpr[reg::RSP as usize] = STACK;
        // CPL 3, IOPL 0: IF and IOPL silently stay; no fault.
        let f = popf_with(&mut cpu, &[0x9D], bit::IOPL | bit::IF | bit::ZF | bit::AC).unwrap();
        assert_eq!(f & (bit::IOPL | bit::IF), 0);
        assert_eq!(f & (bit::ZF | bit::AC), bit::ZF | bit::AC);
        // CPL 3, IOPL 3 (set by a CPL-0 POPF earlier): IF changes, IOPL still cannot.
        cpu.flags.bits |= bit::IOPL;
        let f = popf_with(&mut cpu, &[0x66, 0x9D], bit::IF).unwrap(); // popfw
        assert_eq!(f & (bit::IOPL | bit::IF), bit::IOPL | bit::IF);
        // CPL 1, IOPL 1: IF changes, IOPL does not.
        cpu.set_cpl(1);
        cpu.flags.bits = (cpu.flags.bits & !bit::IOPL) | 1 << 12;
        let f = popf_with(&mut cpu, &[0x9D], 0).unwrap();
        assert_eq!(f & (bit::IOPL | bit::IF), 1 << 12);
    }

    #[test]
    fn popfq_clears_rf_and_never_loads_vm_vip_vif() {
        let mut cpu = long64();
        cpu.gpr[reg::RSP as usize] = STACK;
        cpu.flags.bits |= bit::VIP | bit::RF;
        let f = popf_with(
            &mut cpu,
            &[0x9D],
            bit::VM | bit::VIF | bit::RF | bit::ID | bit::DF,
        )
        .unwrap();
        assert_eq!(
            f & (bit::VM | bit::VIF | bit::RF | bit::VIP | bit::ID | bit::DF),
            bit::VIP | bit::ID | bit::DF
        );
        assert_eq!(get(&cpu, reg::RSP), STACK + 8);
    }

    #[test]
    fn popf_in_v8086_mode_with_iopl_3_keeps_iopl() {
        let mut cpu = v86(3, false);
        let f = popf_with(&mut cpu, &[0x9D], bit::IF | bit::NT).unwrap();
        assert_eq!(
            f & (bit::IF | bit::NT | bit::IOPL | bit::VM),
            bit::IF | bit::NT | bit::IOPL | bit::VM
        );
        let f = popf_with(&mut cpu, &[0x9D], 0).unwrap();
        assert_eq!(f & bit::IOPL, bit::IOPL);
    }

    #[test]
    fn popf_in_v8086_mode_with_iopl_below_3_traps_without_vme() {
        let mut cpu = v86(0, false);
        assert_eq!(popf_with(&mut cpu, &[0x9D], 0), Err(Fault::GP0));
        assert_eq!(get(&cpu, reg::RSP), STACK, "nothing popped");
        assert_eq!(
            exec_one(&mut cpu, &[0x9C]),
            Err(Fault::GP0),
            "PUSHF traps too"
        );
    }

    #[test]
    fn popf_under_vme_loads_vif_instead_of_if() {
        let mut cpu = v86(0, true);
        let f = popf_with(&mut cpu, &[0x9D], bit::IF | bit::CF).unwrap();
        assert_eq!(f & (bit::IF | bit::VIF | bit::CF), bit::VIF | bit::CF);
        // Clearing the image's IF clears VIF.
        let f = popf_with(&mut cpu, &[0x9D], 0).unwrap();
        assert_eq!(f & (bit::IF | bit::VIF), 0);
        // #GP if it would set TF, or set IF while VIP is pending; the 32-bit form always traps.
        assert_eq!(popf_with(&mut cpu, &[0x9D], bit::TF), Err(Fault::GP0));
        assert_eq!(popf_with(&mut cpu, &[0x66, 0x9D], 0), Err(Fault::GP0));
        cpu.flags.bits |= bit::VIP;
        assert_eq!(popf_with(&mut cpu, &[0x9D], bit::IF), Err(Fault::GP0));
        popf_with(&mut cpu, &[0x9D], 0).unwrap();
    }

    #[test]
    fn pushf_clears_vm_and_rf_in_the_image() {
        let mut cpu = v86(3, false);
        cpu.flags.bits |= bit::RF | bit::IF;
        exec_one(&mut cpu, &[0x66, 0x9C]).unwrap(); // pushfd
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(STACK - 4, &mut b);
        let image = u32::from_le_bytes(b) as u64;
        assert_eq!(image & (bit::VM | bit::RF), 0);
        assert_eq!(image & (bit::IF | bit::IOPL), bit::IF | bit::IOPL);
    }

    #[test]
    fn pushf_under_vme_shows_vif_as_if_and_iopl_as_3() {
        let mut cpu = v86(0, true);
        cpu.flags.bits |= bit::VIF;
        cpu.flags.bits &= !bit::IF;
        exec_one(&mut cpu, &[0x9C]).unwrap();
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(STACK - 2, &mut b);
        let image = u16::from_le_bytes(b) as u64;
        assert_eq!(image & (bit::IF | bit::IOPL), bit::IF | bit::IOPL);
        assert_eq!(
            exec_one(&mut cpu, &[0x66, 0x9C]),
            Err(Fault::GP0),
            "PUSHFD traps"
        );
    }

    #[test]
    fn pusha_and_popa_round_trip_and_popa_skips_sp() {
        let mut cpu = flat32();
        for r in 0..8u8 {
            cpu.gpr[r as usize] = 0x1000_0000 * (r as u64 + 1) + r as u64;
        }
        cpu.gpr[reg::RSP as usize] = STACK;
        exec_one(&mut cpu, &[0x60]).unwrap(); // pushad
        assert_eq!(get(&cpu, reg::RSP), STACK - 32);
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(STACK - 20, &mut b);
        assert_eq!(u32::from_le_bytes(b) as u64, STACK, "the original ESP");
        let saved: Vec<u64> = (0..8).map(|r| get(&cpu, r)).collect();
        for r in [0u8, 1, 2, 3, 5, 6, 7] {
            cpu.gpr[r as usize] = 0;
        }
        cpu.mem.write_bytes(STACK - 20, &[0xEE; 4]).unwrap();
        exec_one(&mut cpu, &[0x61]).unwrap(); // popad
        let now: Vec<u64> = (0..8).map(|r| get(&cpu, r)).collect();
        assert_eq!(now[..4], saved[..4]);
        assert_eq!(now[5..], saved[5..]);
        assert_eq!(get(&cpu, reg::RSP), STACK);
    }

    #[test]
    fn pusha_16_in_real_mode_pushes_words() {
        let mut cpu = real();
        cpu.gpr[reg::RAX as usize] = 0xAAAA_1234;
        cpu.gpr[reg::RSP as usize] = 0xDEAD_0100;
        exec_one(&mut cpu, &[0x60]).unwrap();
        assert_eq!(get(&cpu, reg::RSP), 0xDEAD_00F0);
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(0xFE, &mut b);
        assert_eq!(u16::from_le_bytes(b), 0x1234);
    }

    #[test]
    fn pusha_that_faults_changes_no_register() {
        let mut cpu = flat32();
        let mut ss = Segment::from_cache(
            0x10,
            0,
            0x0FFF,
            crate::cpu::segment::attr::DATA_RW | crate::cpu::segment::attr::DB,
        );
        ss.refresh(cpu.mode, sreg::SS);
        cpu.segs[sreg::SS as usize] = ss;
        cpu.gpr[reg::RSP as usize] = 0x10;
        assert_eq!(exec_one(&mut cpu, &[0x60]), Err(Fault::ss(0)));
        assert_eq!(get(&cpu, reg::RSP), 0x10);
    }

    #[test]
    fn enter_builds_a_nested_frame_and_leave_undoes_it() {
        let mut cpu = flat32();
        // An enclosing frame at EBP = 0x2000 with two frame pointers below it.
        cpu.mem
            .write_bytes(0x1FFC, &0x1111_1111u32.to_le_bytes())
            .unwrap();
        cpu.mem
            .write_bytes(0x1FF8, &0x2222_2222u32.to_le_bytes())
            .unwrap();
        cpu.gpr[reg::RBP as usize] = 0x2000;
        cpu.gpr[reg::RSP as usize] = 0x3000;
        exec_one(&mut cpu, &[0xC8, 0x10, 0x00, 0x03]).unwrap(); // enter 16, 3
        let frame = 0x3000 - 4;
        let dword = |cpu: &Cpu, a: u64| {
            let mut b = [0u8; 4];
            cpu.mem.read_bytes(a, &mut b);
            u32::from_le_bytes(b) as u64
        };
        assert_eq!(dword(&cpu, 0x2FFC), 0x2000, "old EBP");
        assert_eq!(dword(&cpu, 0x2FF8), 0x1111_1111);
        assert_eq!(dword(&cpu, 0x2FF4), 0x2222_2222);
        assert_eq!(dword(&cpu, 0x2FF0), frame, "the new frame pointer");
        assert_eq!(get(&cpu, reg::RBP), frame);
        assert_eq!(get(&cpu, reg::RSP), 0x2FF0 - 16);
        exec_one(&mut cpu, &[0xC9]).unwrap(); // leave
        assert_eq!((get(&cpu, reg::RSP), get(&cpu, reg::RBP)), (0x3000, 0x2000));
    }

    #[test]
    fn enter_level_0_and_1_in_64_bit_mode() {
        let mut cpu = long64();
        cpu.gpr[reg::RBP as usize] = 0x5000;
        cpu.gpr[reg::RSP as usize] = 0x3000;
        exec_one(&mut cpu, &[0xC8, 0x20, 0x00, 0x00]).unwrap(); // enter 32, 0
        assert_eq!(
            (get(&cpu, reg::RBP), get(&cpu, reg::RSP)),
            (0x2FF8, 0x2FF8 - 32)
        );
        cpu.gpr[reg::RSP as usize] = 0x3000;
        cpu.gpr[reg::RBP as usize] = 0x5000;
        exec_one(&mut cpu, &[0xC8, 0x00, 0x00, 0x01]).unwrap(); // enter 0, 1
        let mut b = [0u8; 8];
        cpu.mem.read_bytes(0x2FF0, &mut b);
        assert_eq!(
            u64::from_le_bytes(b),
            0x2FF8,
            "level 1 pushes only the frame pointer"
        );
        assert_eq!((get(&cpu, reg::RBP), get(&cpu, reg::RSP)), (0x2FF8, 0x2FF0));
    }

    #[test]
    fn enter_faults_before_changing_registers() {
        // The final stack pointer is write-checked: a 16-bit stack segment whose limit the
        // allocation crosses (expand-up, SP wraps below 0) raises #SS(0).
        let mut cpu = flat32();
        let mut ss = Segment::from_cache(0x10, 0, 0x0FFF, crate::cpu::segment::attr::DATA_RW);
        ss.refresh(cpu.mode, sreg::SS);
        cpu.segs[sreg::SS as usize] = ss;
        cpu.gpr[reg::RSP as usize] = 0x100;
        cpu.gpr[reg::RBP as usize] = 0x800;
        assert_eq!(
            exec_one(&mut cpu, &[0x66, 0xC8, 0x00, 0x02, 0x00]),
            Err(Fault::ss(0))
        ); // enter 0x200, 0
        assert_eq!((get(&cpu, reg::RSP), get(&cpu, reg::RBP)), (0x100, 0x800));
    }
}
