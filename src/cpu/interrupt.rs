//! Interrupt and exception delivery in every mode (SDM Vol. 3A chapter 6): the real-mode IVT,
//! protected-mode IDT gates with privilege changes and the stack switch from the TSS,
//! virtual-8086 mode (with CR4.VME redirection), IA-32e 16-byte gates with IST, task gates,
//! and the double-fault rules.
//!
//! Delivery computes and checks everything (gate, target code segment, new stack, every push)
//! before it changes any register, so that a fault raised during delivery finds the state of
//! the interrupted instruction, as the SDM requires (Vol. 3A 6.12.1, 6.14).

use super::descriptor::{selector_null, selector_rpl, Descriptor, Descriptor16, SystemType};
use super::fault::{Fault, FaultClass, Vector};
use super::flags::bit;
use super::mmu::paging::Privilege;
use super::operand::canonical;
use super::segment::Segment;
use super::state::{reg, sreg, Cr4, Efer, Mode, Model};
use super::task::TaskSource;
use super::{Cpu, U16};

/// What raised an interrupt: it decides the privilege check, the saved RIP and EXT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// A processor exception (fault or trap); RIP was set by the caller.
    Exception,
    /// INTR or NMI; EXT is set in error codes.
    External,
    /// INT n: the gate's DPL must be >= CPL; in v8086 mode IOPL and VME rules apply.
    Software,
    /// INT3 and INTO: like INT n for the DPL check, but not redirected in v8086 mode.
    SoftException,
    /// INT1 (ICEBP): delivered like a hardware #DB, without the DPL check.
    Icebp,
}

impl IntKind {
    /// The EXT bit of error codes raised while delivering this event (SDM Vol. 3A 6.13): set
    /// for events external to the program, clear for INT n, INT3 and INTO.
    pub fn ext(self) -> u32 {
        match self {
            IntKind::Software | IntKind::SoftException => 0,
            _ => 1,
        }
    }
}

/// Whether delivering `v` as a fault pushes RF = 1 (SDM Vol. 3A 17.3.1.1: every fault-class
/// exception but an instruction-breakpoint #DB, so that IRET resumes without re-triggering
/// instruction breakpoints).
fn sets_rf(v: Vector) -> bool {
    !matches!(
        v,
        Vector::DB | Vector::NMI | Vector::BP | Vector::OF | Vector::DF | Vector::MC
    )
}

impl Cpu {
    /// Delivers a fault raised by an instruction (RIP points at it), applying the
    /// double-fault rules (SDM Vol. 3A Table 6-5) to faults raised during delivery.
    pub fn deliver_fault(&mut self, mut f: Fault) {
        self.last_fault = Some(f);
        // A delivered fault uses up one instruction of the budget without retiring one, so
        // that a fault loop (a handler that faults again) cannot keep `run` from returning.
        self.stop_at = self.stop_at.saturating_sub(1);
        let mut current: Option<Vector> = None;
        loop {
            if let Some(prev) = current {
                if prev.class() == FaultClass::DoubleFault {
                    // A fault while delivering #DF: triple fault, the processor shuts down.
                    self.shutdown = true;
                    return;
                }
                let double = matches!(
                    (prev.class(), f.vector.class()),
                    (FaultClass::Contributory, FaultClass::Contributory)
                        | (FaultClass::PageFault, FaultClass::Contributory)
                        | (FaultClass::PageFault, FaultClass::PageFault)
                );
                if double {
                    f = Fault::with_code(Vector::DF, 0);
                }
            }
            if f.vector == Vector::PF {
                self.cr2 = self.pf_addr;
            }
            if sets_rf(f.vector) && self.mode != Mode::Real {
                self.flags.bits |= bit::RF;
            }
            let code = f.vector.has_error_code().then_some(f.code);
            match self.interrupt(f.vector.number(), IntKind::Exception, code) {
                Ok(()) => return,
                Err(next) => {
                    current = Some(f.vector);
                    f = next;
                }
            }
        }
    }

    /// Delivers an external interrupt (INTR vector or NMI) at an instruction boundary.
    pub fn deliver_external(&mut self, vector: u8) {
        self.halted = false;
        if let Err(f) = self.interrupt(vector, IntKind::External, None) {
            self.deliver_fault(f);
        }
    }

    /// Delivers interrupt `vector` through the IVT/IDT of the current mode. RIP must already
    /// be the address to return to (the faulting instruction, or the next one for traps and
    /// software interrupts). On `Err`, nothing has changed, except where a task switch
    /// through a task gate committed first (TR then names the new task, and the fault
    /// belongs to the new task's context).
    pub fn interrupt(&mut self, vector: u8, kind: IntKind, code: Option<u32>) -> Result<(), Fault> {
        self.end_block();
        match self.mode {
            Mode::Real => self.real_interrupt(vector),
            _ => self.protected_interrupt(vector, kind, code),
        }
    }

    /// Real-address mode: push FLAGS, CS, IP and load CS:IP from the IVT (SDM Vol. 2 INT n).
    /// A fault on the way leaves SP as it was.
    fn real_interrupt(&mut self, vector: u8) -> Result<(), Fault> {
        let off = vector as u64 * 4;
        if off + 3 > self.idtr.limit as u64 && self.model != Model::I8086 {
            return Err(Fault::gp(vector as u32 * 8 + 2));
        }
        let entry = self.read_sys(self.idtr.base + off, 4)?;
        let flags = self.rflags();
        let cs = self.segs[sreg::CS as usize].selector as u64;
        let ip = self.rip() & 0xFFFF;
        let rsp = self.gpr[reg::RSP as usize];
        let pushed = self
            .push::<U16>(flags)
            .and_then(|_| self.push::<U16>(cs))
            .and_then(|_| self.push::<U16>(ip));
        if let Err(f) = pushed {
            self.gpr[reg::RSP as usize] = rsp;
            return Err(f);
        }
        self.write_flags(0, bit::IF | bit::TF | bit::AC | bit::RF);
        let s = &mut self.segs[sreg::CS as usize];
        s.selector = (entry >> 16) as u16;
        s.base = (entry >> 16) << 4;
        let mode = self.mode;
        self.segs[sreg::CS as usize].refresh(mode, sreg::CS);
        self.set_rip(entry & 0xFFFF);
        Ok(())
    }
}

/// Pushes onto a stack that may not be the current one (a stack switch, or the current stack
/// before CS changes): every push is checked against the stack's limits as it is recorded,
/// and [`NewStack::commit`] probes every page before it writes anything, so a fault leaves
/// memory and registers untouched.
pub(crate) struct NewStack {
    /// The stack segment's cache, with windows for the mode the pushes happen in.
    seg: Segment,
    /// The stack pointer after the pushes so far.
    pub sp: u64,
    /// SP, ESP or RSP.
    mask: u64,
    /// 64-bit stack: canonical checks instead of limits, no segment base.
    long: bool,
    /// Who writes: the privilege the pushes are made at.
    who: Privilege,
    /// What a limit (or canonical) violation raises.
    fault: Fault,
    writes: [(u64, u8, u64); 40],
    count: usize,
}

impl NewStack {
    /// A stack in segment `seg` (its cache as loaded) at `sp`. `bytes` is its width (2, 4
    /// or 8; 8 makes it a 64-bit stack), `cpl` the privilege level the pushes are made at.
    pub(crate) fn new(mut seg: Segment, sp: u64, bytes: u8, cpl: u8, fault: Fault) -> NewStack {
        let long = bytes == 8;
        seg.refresh(if long { Mode::Long } else { Mode::Protected }, sreg::SS);
        let mask = match bytes {
            8 => u64::MAX,
            4 => 0xFFFF_FFFF,
            _ => 0xFFFF,
        };
        let who = if cpl == 3 {
            Privilege::User
        } else {
            Privilege::Supervisor
        };
        NewStack {
            seg,
            sp: sp & mask,
            mask,
            long,
            who,
            fault,
            writes: [(0, 0, 0); 40],
            count: 0,
        }
    }

    /// Records a push of `n` bytes of `v`, checking it against the stack's limits.
    pub(crate) fn push(&mut self, n: u8, v: u64) -> Result<(), Fault> {
        let new = self.sp.wrapping_sub(n as u64) & self.mask;
        let lin = if self.long {
            if !canonical(new) || !canonical(new.wrapping_add(n as u64 - 1)) {
                return Err(self.fault);
            }
            new
        } else {
            if !self.seg.write_ok(new, n as u64) {
                return Err(self.fault);
            }
            self.seg.lin_base.wrapping_add(new) & 0xFFFF_FFFF
        };
        if self.count == self.writes.len() {
            return Err(self.fault);
        }
        self.writes[self.count] = (lin, n, v);
        self.count += 1;
        self.sp = new;
        Ok(())
    }

    /// Writes the recorded pushes, after checking that every page takes the write.
    pub(crate) fn commit(&self, cpu: &mut Cpu) -> Result<(), Fault> {
        // The pushes may target a 64-bit stack while the CPU is still in a 32-bit mode (an
        // interrupt from compatibility mode); page-crossing halves use `lin_mask`.
        let saved = cpu.lin_mask;
        cpu.lin_mask = if self.long { u64::MAX } else { 0xFFFF_FFFF };
        let r = self.write_all(cpu);
        cpu.lin_mask = saved;
        r
    }

    fn write_all(&self, cpu: &mut Cpu) -> Result<(), Fault> {
        for &(lin, n, _) in &self.writes[..self.count] {
            cpu.probe_write_lin(lin, n, self.who)?;
        }
        for &(lin, n, v) in &self.writes[..self.count] {
            cpu.write_lin(lin, n, v, self.who)?;
        }
        Ok(())
    }
}

/// The target of an interrupt or trap gate, checked.
struct GateTarget {
    /// The gate type.
    ty: SystemType,
    /// Target code-segment selector.
    sel: u16,
    /// Target code-segment descriptor.
    cs: Descriptor,
    /// Target offset (the gate's width applied).
    offset: u64,
    /// IA-32e interrupt-stack-table index.
    ist: u8,
}

impl Cpu {
    /// Protected-mode, virtual-8086 and IA-32e delivery through the IDT (SDM Vol. 2 INT n,
    /// Vol. 3A 6.12, 6.14, 20.3).
    fn protected_interrupt(
        &mut self,
        vector: u8,
        kind: IntKind,
        code: Option<u32>,
    ) -> Result<(), Fault> {
        let ext = kind.ext();
        if self.mode == Mode::V8086
            && kind == IntKind::Software
            && self.v86_software_interrupt(vector)?
        {
            return Ok(());
        }
        let long = self.efer.contains(Efer::LMA);
        let idt_code = vector as u32 * 8 + 2 + ext;
        let size: u64 = if long { 16 } else { 8 };
        let off = vector as u64 * size;
        if off + size - 1 > self.idtr.limit as u64 {
            return Err(Fault::gp(idt_code));
        }
        let addr = self.idtr.base.wrapping_add(off);
        let gate = Descriptor(self.read_sys(addr, 8)?);
        let ty = match gate.system_type(long) {
            Some(t) if t.is_int_or_trap_gate() || t == SystemType::TaskGate => t,
            _ => return Err(Fault::gp(idt_code)),
        };
        // The DPL check applies to INT n, INT3 and INTO only, never to INT1 or hardware events.
        if matches!(kind, IntKind::Software | IntKind::SoftException) && gate.dpl() < self.cpl {
            return Err(Fault::gp(vector as u32 * 8 + 2));
        }
        if !gate.present() {
            return Err(Fault::np(idt_code));
        }
        if ty == SystemType::TaskGate {
            return self.task_gate_interrupt(gate, ext, code);
        }
        let offset = match ty.gate_size() {
            8 => Descriptor16 {
                lo: gate,
                hi: self.read_sys(addr.wrapping_add(8), 8)?,
            }
            .gate_offset(),
            4 => gate.gate_offset() as u64,
            _ => gate.gate_offset() as u64 & 0xFFFF,
        };
        let sel = gate.gate_selector();
        if selector_null(sel) {
            return Err(Fault::gp(ext));
        }
        let sel_fault = Fault::gp(Fault::selector_code(sel) | ext);
        let cs = self.fetch_descriptor(sel, sel_fault)?;
        if !cs.is_code() || cs.dpl() > self.cpl {
            return Err(sel_fault);
        }
        if long && (!cs.long() || cs.big()) {
            return Err(sel_fault);
        }
        if !cs.present() {
            return Err(Fault::np(Fault::selector_code(sel) | ext));
        }
        let inner = !cs.conforming() && cs.dpl() < self.cpl;
        let v86 = self.mode == Mode::V8086;
        // From virtual-8086 mode only a ring-0 non-conforming handler will do.
        if v86 && (!inner || cs.dpl() != 0) {
            return Err(sel_fault);
        }
        let t = GateTarget {
            ty,
            sel,
            cs,
            offset,
            ist: gate.gate_ist(),
        };
        if long {
            self.deliver_long(&t, inner, ext, code)
        } else if inner {
            self.deliver_inner(&t, v86, ext, code)
        } else {
            self.deliver_same(&t, ext, code)
        }
    }

    /// The SS:ESP for privilege level `dpl` in the current 16- or 32-bit TSS, or #TS(TR +
    /// EXT) if the TSS is too short (SDM Vol. 2 INT n, CALL).
    pub(crate) fn tss_stack(&mut self, dpl: u8, ext: u32) -> Result<(u16, u64), Fault> {
        let fault = Fault::ts(Fault::selector_code(self.tr.selector) | ext);
        let base = self.tr.base;
        if self.tr.attr & 0x8 != 0 {
            let at = dpl as u64 * 8 + 4;
            if at + 5 > self.tr.limit as u64 {
                return Err(fault);
            }
            let esp = self.read_sys(base + at, 4)?;
            let ss = self.read_sys(base + at + 4, 2)? as u16;
            Ok((ss, esp))
        } else {
            let at = dpl as u64 * 4 + 2;
            if at + 3 > self.tr.limit as u64 {
                return Err(fault);
            }
            let sp = self.read_sys(base + at, 2)?;
            let ss = self.read_sys(base + at + 2, 2)? as u16;
            Ok((ss, sp))
        }
    }

    /// An 8-byte stack pointer from the 64-bit TSS at `offset` (RSPn or ISTn), or #TS(TR +
    /// EXT) if it lies beyond the TSS limit (SDM Vol. 3A 7.7).
    pub(crate) fn tss64_stack(&mut self, offset: u64, ext: u32) -> Result<u64, Fault> {
        if offset + 7 > self.tr.limit as u64 {
            return Err(Fault::ts(Fault::selector_code(self.tr.selector) | ext));
        }
        self.read_sys(self.tr.base.wrapping_add(offset), 8)
    }

    /// Checks the stack segment `ss_sel` for a privilege change to `dpl`: #TS for a null,
    /// out-of-table, wrong-privilege or non-writable selector, #SS if not present (SDM Vol. 2
    /// INT n, CALL). `ext` is added to the error codes.
    pub(crate) fn check_new_ss(
        &mut self,
        ss_sel: u16,
        dpl: u8,
        ext: u32,
    ) -> Result<Descriptor, Fault> {
        if selector_null(ss_sel) {
            return Err(Fault::ts(ext));
        }
        let code = Fault::selector_code(ss_sel) | ext;
        let d = self.fetch_descriptor(ss_sel, Fault::ts(code))?;
        if selector_rpl(ss_sel) != dpl || d.dpl() != dpl || !d.writable() {
            return Err(Fault::ts(code));
        }
        if !d.present() {
            return Err(Fault::ss(code));
        }
        Ok(d)
    }

    /// Interrupt to an inner privilege level in legacy protected or virtual-8086 mode: switch
    /// to the TSS stack, push the old SS:ESP (and from v8086 mode GS, FS, DS, ES) and the
    /// return frame.
    fn deliver_inner(
        &mut self,
        t: &GateTarget,
        v86: bool,
        ext: u32,
        code: Option<u32>,
    ) -> Result<(), Fault> {
        let dpl = t.cs.dpl();
        let (ss_sel, esp) = self.tss_stack(dpl, ext)?;
        let ssd = self.check_new_ss(ss_sel, dpl, ext)?;
        let n = t.ty.gate_size();
        let nmask = if n == 4 { 0xFFFF_FFFF } else { 0xFFFF };
        let ss_bytes = if ssd.big() { 4 } else { 2 };
        let mut st = NewStack::new(
            ssd.to_segment(ss_sel),
            esp,
            ss_bytes,
            dpl,
            Fault::ss(Fault::selector_code(ss_sel) | ext),
        );
        if v86 {
            for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                st.push(n, self.segs[s as usize].selector as u64)?;
            }
        }
        st.push(n, self.segs[sreg::SS as usize].selector as u64)?;
        st.push(n, self.gpr[reg::RSP as usize] & nmask)?;
        st.push(n, self.rflags() & nmask)?;
        st.push(n, self.segs[sreg::CS as usize].selector as u64)?;
        st.push(n, self.rip() & nmask)?;
        if let Some(c) = code {
            st.push(n, c as u64)?;
        }
        if t.offset > t.cs.limit() as u64 {
            return Err(Fault::gp(ext));
        }
        self.set_descriptor_accessed(ss_sel, ssd)?;
        self.set_descriptor_accessed(t.sel, t.cs)?;
        st.commit(self)?;
        // Committed: nothing below can fault.
        self.segs[sreg::SS as usize] = ssd.to_segment(ss_sel);
        let smask = if ssd.big() { 0xFFFF_FFFF } else { 0xFFFF };
        let rsp = &mut self.gpr[reg::RSP as usize];
        *rsp = (*rsp & !smask) | (st.sp & smask);
        if v86 {
            for s in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
                self.segs[s as usize] = Segment::null(0);
            }
        }
        self.finish_gate(t, dpl);
        Ok(())
    }

    /// Interrupt at the same privilege level (or to a conforming segment) in legacy protected
    /// mode: push the return frame on the current stack.
    fn deliver_same(&mut self, t: &GateTarget, ext: u32, code: Option<u32>) -> Result<(), Fault> {
        let n = t.ty.gate_size();
        let nmask = if n == 4 { 0xFFFF_FFFF } else { 0xFFFF };
        let cpl = self.cpl;
        let ss = self.segs[sreg::SS as usize];
        let mut st = NewStack::new(
            ss,
            self.gpr[reg::RSP as usize],
            self.stack_bytes(),
            cpl,
            Fault::ss(ext),
        );
        st.push(n, self.rflags() & nmask)?;
        st.push(n, self.segs[sreg::CS as usize].selector as u64)?;
        st.push(n, self.rip() & nmask)?;
        if let Some(c) = code {
            st.push(n, c as u64)?;
        }
        if t.offset > t.cs.limit() as u64 {
            return Err(Fault::gp(ext));
        }
        self.set_descriptor_accessed(t.sel, t.cs)?;
        st.commit(self)?;
        self.set_sp(st.sp);
        self.finish_gate(t, cpl);
        Ok(())
    }

    /// IA-32e delivery (SDM Vol. 3A 6.14): 64-bit frame SS, RSP, RFLAGS, CS, RIP (and error
    /// code) always pushed, RSP from the TSS on a privilege change or from the IST, aligned
    /// down to 16 bytes; a privilege change loads SS with a null selector of the new CPL.
    fn deliver_long(
        &mut self,
        t: &GateTarget,
        inner: bool,
        ext: u32,
        code: Option<u32>,
    ) -> Result<(), Fault> {
        let new_cpl = if inner { t.cs.dpl() } else { self.cpl };
        let rsp = if t.ist != 0 {
            self.tss64_stack(t.ist as u64 * 8 + 28, ext)?
        } else if inner {
            self.tss64_stack(new_cpl as u64 * 8 + 4, ext)?
        } else {
            self.gpr[reg::RSP as usize]
        };
        if !canonical(rsp) {
            return Err(Fault::ss(ext));
        }
        let ss = self.segs[sreg::SS as usize];
        let mut st = NewStack::new(ss, rsp & !0xF, 8, new_cpl, Fault::ss(ext));
        st.push(8, ss.selector as u64)?;
        st.push(8, self.gpr[reg::RSP as usize])?;
        st.push(8, self.rflags())?;
        st.push(8, self.segs[sreg::CS as usize].selector as u64)?;
        st.push(8, self.rip())?;
        if let Some(c) = code {
            st.push(8, c as u64)?;
        }
        if !canonical(t.offset) {
            return Err(Fault::gp(ext));
        }
        self.set_descriptor_accessed(t.sel, t.cs)?;
        st.commit(self)?;
        if inner {
            self.segs[sreg::SS as usize] = Segment::null(new_cpl as u16);
        }
        self.gpr[reg::RSP as usize] = st.sp;
        self.finish_gate(t, new_cpl);
        Ok(())
    }

    /// The register changes common to interrupt and trap gates once the frame is written:
    /// CS:RIP from the gate, CPL, and TF, NT, RF, VM (and IF for interrupt gates) cleared.
    fn finish_gate(&mut self, t: &GateTarget, cpl: u8) {
        let mut clear = bit::TF | bit::NT | bit::RF | bit::VM;
        if t.ty.is_interrupt_gate() {
            clear |= bit::IF;
        }
        self.write_flags(0, clear);
        self.load_cs(t.sel, t.cs, cpl);
        self.set_rip(t.offset);
    }

    /// An interrupt through a task gate (SDM Vol. 2 INT n TASK-GATE, Vol. 3A 6.11.2): switch
    /// to the task with nesting, then push the error code on its stack.
    fn task_gate_interrupt(
        &mut self,
        gate: Descriptor,
        ext: u32,
        code: Option<u32>,
    ) -> Result<(), Fault> {
        let tss_sel = gate.gate_selector();
        let fault = Fault::gp(Fault::selector_code(tss_sel) | ext);
        if super::descriptor::selector_ti(tss_sel) {
            return Err(fault);
        }
        let d = self.fetch_descriptor(tss_sel, fault)?;
        match d.system_type(false) {
            Some(SystemType::Tss16Avail | SystemType::Tss32Avail) => {}
            _ => return Err(fault),
        }
        let trap = self
            .task_switch(tss_sel, d, TaskSource::Interrupt, ext)
            .map_err(|e| e.fault())?;
        if let Some(c) = code {
            // The error code goes on the new task's stack, at the new TSS's width.
            if d.typ() & 0x8 != 0 {
                self.push::<super::U32>(c as u64)?;
            } else {
                self.push::<U16>(c as u64)?;
            }
        }
        if self.rip() > self.segs[sreg::CS as usize].limit as u64 {
            return Err(Fault::gp(ext));
        }
        if trap {
            self.task_switch_trap()?;
        }
        Ok(())
    }

    /// The #DB trap a task switch raises when the new TSS has its T bit set (SDM Vol. 3A
    /// 7.2.1), taken before the new task's first instruction with DR6.BT set.
    pub(crate) fn task_switch_trap(&mut self) -> Result<(), Fault> {
        self.dr[6] |= 1 << 15;
        self.interrupt(1, IntKind::Exception, None)
    }

    /// INT n in virtual-8086 mode (SDM Vol. 3A 20.3.3, Table 20-2): with CR4.VME and a clear
    /// bit in the TSS's interrupt redirection bitmap the interrupt goes to the 8086
    /// program's own vector table (returns `true`); otherwise IOPL < 3 is #GP(0) and IOPL = 3
    /// goes through the IDT (returns `false`).
    fn v86_software_interrupt(&mut self, vector: u8) -> Result<bool, Fault> {
        let iopl = ((self.flags.bits & bit::IOPL) >> 12) as u8;
        if self.cr4.contains(Cr4::VME) {
            // The bitmap is the 32 bytes below the I/O map base of the 32-bit TSS.
            if self.tr.attr & 0x8 == 0 || self.tr.limit < 0x67 {
                return Err(Fault::GP0);
            }
            let io_base = self.read_sys(self.tr.base + 0x66, 2)?;
            let at = io_base.wrapping_sub(32) + vector as u64 / 8;
            if at > self.tr.limit as u64 {
                return Err(Fault::GP0);
            }
            let byte = self.read_sys(self.tr.base + at, 1)?;
            if byte >> (vector & 7) & 1 == 0 {
                self.v86_redirect(vector, iopl)?;
                return Ok(true);
            }
        }
        if iopl < 3 {
            return Err(Fault::GP0);
        }
        Ok(false)
    }

    /// VME methods 5 and 6: a real-mode style interrupt through the vector table at linear
    /// address 0. With IOPL < 3 the pushed FLAGS carry IOPL = 3 and VIF in place of IF, and
    /// VIF (not IF) is cleared.
    fn v86_redirect(&mut self, vector: u8, iopl: u8) -> Result<(), Fault> {
        let entry = self.read_lin(vector as u64 * 4, 4, Privilege::User)?;
        let mut flags = self.rflags() & 0xFFFF;
        if iopl < 3 {
            flags = (flags & !bit::IF) | bit::IOPL;
            if self.flags.has(bit::VIF) {
                flags |= bit::IF;
            }
        }
        let ss = self.segs[sreg::SS as usize];
        let mut st = NewStack::new(ss, self.gpr[reg::RSP as usize], 2, 3, Fault::ss(0));
        st.push(2, flags)?;
        st.push(2, self.segs[sreg::CS as usize].selector as u64)?;
        st.push(2, self.rip() & 0xFFFF)?;
        st.commit(self)?;
        self.set_sp(st.sp);
        self.write_flags(0, bit::TF | if iopl < 3 { bit::VIF } else { bit::IF });
        self.set_seg(sreg::CS, Segment::v86((entry >> 16) as u16));
        self.set_rip(entry & 0xFFFF);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Cr0, Cr4, Model};
    use crate::mem::PhysMem;

    #[test]
    fn a_fault_loop_still_returns_from_run() {
        use crate::cpu::segment::attr;
        use crate::cpu::{OpenBus, RunExit};
        // UD2 at 0000:0100 and the #UD vector pointing back at it: every delivery faults
        // again without retiring an instruction, yet `run` must return.
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
        cpu.segs[sreg::SS as usize] = Segment::real(0);
        cpu.update_mode();
        cpu.gpr[crate::cpu::reg::RSP as usize] = 0x8000;
        cpu.mem
            .write_bytes(6 * 4, &[0x00, 0x01, 0x00, 0x00])
            .unwrap();
        cpu.mem.write_bytes(0x100, &[0x0F, 0x0B]).unwrap();
        cpu.set_rip(0x100);
        assert_eq!(cpu.run(&mut OpenBus, 10), RunExit::Budget);
        assert_eq!(cpu.rip(), 0x100);
    }

    /// Flat protected mode with 32-bit paging: linear 0x10000-0x10FFF mapped, 0xF000 not.
    fn paged() -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_protected_flat(0x1000);
        // Page directory at 0x2000, one page table at 0x3000.
        cpu.mem
            .write_bytes(0x2000, &0x3007u32.to_le_bytes())
            .unwrap();
        cpu.mem
            .write_bytes(0x3000 + 0x10 * 4, &0x10007u32.to_le_bytes())
            .unwrap();
        cpu.cr3 = 0x2000;
        cpu.cr4.remove(Cr4::PSE);
        cpu.cr0 |= Cr0::PG;
        cpu.flush_tlb_all();
        cpu
    }

    #[test]
    fn a_frame_across_a_missing_page_writes_nothing() {
        let mut cpu = paged();
        cpu.mem.write_bytes(0x10000, &[0xAA; 8]).unwrap();
        let ss = cpu.segs[sreg::SS as usize];
        let mut st = NewStack::new(ss, 0x10004, 4, 0, Fault::ss(0));
        st.push(4, 0x1111_1111).unwrap();
        st.push(4, 0x2222_2222).unwrap(); // at 0xFFFC: the unmapped page
        let f = st.commit(&mut cpu).unwrap_err();
        assert_eq!(f.vector, Vector::PF);
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(0x10000, &mut b);
        assert_eq!(
            b, [0xAA; 4],
            "the push to the mapped page did not happen either"
        );
    }

    #[test]
    fn pushes_beyond_the_limit_fault_as_recorded() {
        let cpu = paged();
        let mut ss = cpu.segs[sreg::SS as usize];
        ss.limit = 0x0FFF;
        let mut st = NewStack::new(ss, 0x1002, 4, 0, Fault::ss(0x10));
        assert_eq!(
            st.push(4, 0),
            Err(Fault::ss(0x10)),
            "0xFFE..0x1001 crosses the limit"
        );
        let mut st = NewStack::new(ss, 0x2, 2, 0, Fault::ss(0));
        st.push(2, 0).unwrap();
        assert_eq!(
            st.push(2, 0),
            Err(Fault::ss(0)),
            "SP wraps to 0xFFFE, above the limit"
        );
    }

    #[test]
    fn ext_is_clear_only_for_software_interrupts() {
        assert_eq!(IntKind::Software.ext(), 0);
        assert_eq!(IntKind::SoftException.ext(), 0);
        assert_eq!(IntKind::Exception.ext(), 1);
        assert_eq!(IntKind::External.ext(), 1);
        assert_eq!(IntKind::Icebp.ext(), 1);
        assert!(sets_rf(Vector::GP) && sets_rf(Vector::PF) && !sets_rf(Vector::DB));
    }
}
