//! Hardware task switches through TSS descriptors and task gates (SDM Vol. 3A 7.3), for JMP,
//! CALL, IRET with EFLAGS.NT, and interrupts through task gates. Legacy protected mode only:
//! IA-32e mode has no task switching (callers raise #GP(0) there).
//!
//! The switch checks the new TSS, reads the whole new task state and probes every write
//! before it changes anything; a fault up to that point leaves the old task intact. After
//! the commit point the segment registers of the new task are loaded and checked, and a
//! fault there belongs to the new task (SDM Vol. 3A 7.3, Table 7-1).

use super::descriptor::{
    selector_null, selector_rpl, selector_ti, Descriptor, SystemType, TSS_BUSY,
};
use super::fault::Fault;
use super::flags::bit;
use super::mmu::paging::Privilege;
use super::segment::{attr, Segment};
use super::state::{reg, sreg, Cr0, Cr4, Efer};
use super::Cpu;

/// What started a task switch: it decides the busy bits, NT and the back link (SDM Vol. 3A
/// Table 7-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSource {
    /// JMP to a TSS or task gate: old task not busy, no link.
    Jmp,
    /// CALL to a TSS or task gate: nested (NT set, back link written).
    Call,
    /// IRET with NT = 1: back to the linked task; old task not busy, its NT cleared.
    Iret,
    /// An interrupt or exception through a task gate: nested like CALL.
    Interrupt,
}

impl TaskSource {
    fn nests(self) -> bool {
        matches!(self, TaskSource::Call | TaskSource::Interrupt)
    }
}

/// A fault during a task switch, and whether it came before the commit point (the old task
/// is intact and the fault is the initiating instruction's) or after it (the new task is
/// loaded, RIP is its EIP, and the fault is delivered in its context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchError {
    /// Before the commit point.
    Before(Fault),
    /// After the commit point.
    After(Fault),
}

impl SwitchError {
    /// The fault, wherever it happened.
    pub fn fault(self) -> Fault {
        match self {
            SwitchError::Before(f) | SwitchError::After(f) => f,
        }
    }
}

/// The dynamic state read from the new task's TSS.
struct TaskState {
    eip: u64,
    eflags: u64,
    gpr: [u64; 8],
    /// ES, CS, SS, DS, FS, GS.
    sels: [u16; 6],
    ldt: u16,
    cr3: u64,
    trap: bool,
}

impl Cpu {
    /// Switches to the task whose TSS descriptor `d` (available, or busy for IRET) the GDT
    /// selector `sel` selects. RIP must be the old task's resume address. Returns whether the
    /// new TSS asks for a debug trap (its T bit). `ext` is the EXT bit of error codes when an
    /// external event started the switch.
    pub fn task_switch(
        &mut self,
        sel: u16,
        d: Descriptor,
        source: TaskSource,
        ext: u32,
    ) -> Result<bool, SwitchError> {
        use SwitchError::Before;
        let code = Fault::selector_code(sel) | ext;
        if !d.present() {
            return Err(Before(Fault::np(code)));
        }
        let new32 = d.typ() & 0x8 != 0;
        if d.limit() < if new32 { 0x67 } else { 0x2B } {
            return Err(Before(Fault::ts(code)));
        }
        let old32 = self.tr.attr & 0x8 != 0;
        if self.tr.limit < if old32 { 0x5F } else { 0x29 } {
            return Err(Before(Fault::ts(
                Fault::selector_code(self.tr.selector) | ext,
            )));
        }
        let nbase = d.base() as u64;
        let obase = self.tr.base;
        let state = self.read_task_state(nbase, new32).map_err(Before)?;
        // Every write the switch makes is probed first, so none of them can fault halfway.
        let dyn_range = if old32 { (0x20, 0x5F) } else { (0x0E, 0x29) };
        self.probe_sys(obase + dyn_range.0, obase + dyn_range.1)
            .map_err(Before)?;
        if source.nests() {
            self.probe_sys(nbase, nbase + 1).map_err(Before)?;
        }
        let gdt = self.gdtr.base;
        let gdt_byte = |s: u16| gdt.wrapping_add((s & 0xFFF8) as u64) + 5;
        if matches!(source, TaskSource::Jmp | TaskSource::Iret) {
            self.probe_sys(gdt_byte(self.tr.selector), gdt_byte(self.tr.selector))
                .map_err(Before)?;
        }
        if source != TaskSource::Iret {
            self.probe_sys(gdt_byte(sel), gdt_byte(sel))
                .map_err(Before)?;
        }
        self.save_task_state(obase, old32, source).map_err(Before)?;
        if matches!(source, TaskSource::Jmp | TaskSource::Iret) {
            self.set_tss_busy(self.tr.selector, false).map_err(Before)?;
        }
        if source.nests() {
            self.write_sys(nbase, 2, self.tr.selector as u64)
                .map_err(Before)?;
        }
        if source != TaskSource::Iret {
            self.set_tss_busy(sel, true).map_err(Before)?;
        }
        self.commit_task(sel, d, source, state)
            .map_err(SwitchError::After)
    }

    /// Probes that the linear bytes `first..=last` take supervisor writes.
    fn probe_sys(&mut self, first: u64, last: u64) -> Result<(), Fault> {
        let (first, last) = (first & 0xFFFF_FFFF, last & 0xFFFF_FFFF);
        self.probe_write_lin(first, 1, Privilege::Supervisor)?;
        if last >> 12 != first >> 12 {
            self.probe_write_lin(last, 1, Privilege::Supervisor)?;
        }
        Ok(())
    }

    /// Reads the dynamic fields of a 16- or 32-bit TSS at `base` (SDM Vol. 3A Figures 7-2,
    /// 7-11). A 16-bit TSS has no FS, GS or CR3; the upper halves of the general registers
    /// read as ones and FS/GS become null, as the 80386 and its successors do.
    fn read_task_state(&mut self, base: u64, tss32: bool) -> Result<TaskState, Fault> {
        let mut s = TaskState {
            eip: 0,
            eflags: 0,
            gpr: [0; 8],
            sels: [0; 6],
            ldt: 0,
            cr3: 0,
            trap: false,
        };
        if tss32 {
            s.cr3 = self.read_sys(base + 0x1C, 4)?;
            s.eip = self.read_sys(base + 0x20, 4)?;
            s.eflags = self.read_sys(base + 0x24, 4)?;
            for i in 0..8 {
                s.gpr[i] = self.read_sys(base + 0x28 + 4 * i as u64, 4)?;
            }
            for i in 0..6 {
                s.sels[i] = self.read_sys(base + 0x48 + 4 * i as u64, 2)? as u16;
            }
            s.ldt = self.read_sys(base + 0x60, 2)? as u16;
            s.trap = self.read_sys(base + 0x64, 2)? & 1 != 0;
        } else {
            s.eip = self.read_sys(base + 0x0E, 2)?;
            s.eflags = self.read_sys(base + 0x10, 2)?;
            for i in 0..8 {
                s.gpr[i] = 0xFFFF_0000 | self.read_sys(base + 0x12 + 2 * i as u64, 2)?;
            }
            for i in 0..4 {
                s.sels[i] = self.read_sys(base + 0x22 + 2 * i as u64, 2)? as u16;
            }
            s.ldt = self.read_sys(base + 0x2A, 2)? as u16;
        }
        Ok(s)
    }

    /// Saves the old task's dynamic state in its TSS. IRET saves NT cleared.
    fn save_task_state(&mut self, base: u64, tss32: bool, source: TaskSource) -> Result<(), Fault> {
        let mut eflags = self.rflags();
        if source == TaskSource::Iret {
            eflags &= !bit::NT;
        }
        let rip = self.rip();
        if tss32 {
            self.write_sys(base + 0x20, 4, rip)?;
            self.write_sys(base + 0x24, 4, eflags)?;
            for i in 0..8 {
                let v = self.gpr[i];
                self.write_sys(base + 0x28 + 4 * i as u64, 4, v)?;
            }
            for i in 0..6 {
                let v = self.segs[i].selector as u64;
                self.write_sys(base + 0x48 + 4 * i as u64, 2, v)?;
            }
        } else {
            self.write_sys(base + 0x0E, 2, rip)?;
            self.write_sys(base + 0x10, 2, eflags)?;
            for i in 0..8 {
                let v = self.gpr[i];
                self.write_sys(base + 0x12 + 2 * i as u64, 2, v)?;
            }
            for i in 0..4 {
                let v = self.segs[i].selector as u64;
                self.write_sys(base + 0x22 + 2 * i as u64, 2, v)?;
            }
        }
        Ok(())
    }

    /// Everything after the commit point: TR, CR0.TS, DR7, the registers, CR3, then the LDT
    /// and segment registers with their checks (SDM Vol. 3A 7.3 steps 10-13).
    fn commit_task(
        &mut self,
        sel: u16,
        d: Descriptor,
        source: TaskSource,
        s: TaskState,
    ) -> Result<bool, Fault> {
        let new32 = d.typ() & 0x8 != 0;
        self.tr = Segment::from_cache(sel, d.base() as u64, d.limit(), d.attr() | TSS_BUSY as u16);
        self.cr0 |= Cr0::TS;
        // A task switch clears the local breakpoint enables L0-L3 and LE (SDM Vol. 3B 18.2.4).
        self.dr[7] &= !0x155;
        self.shadow = false;
        let mut eflags = s.eflags;
        if source.nests() {
            eflags |= bit::NT;
        }
        self.set_rip(s.eip);
        for (i, v) in s.gpr.iter().enumerate() {
            self.gpr[reg::RAX as usize + i] = *v;
        }
        // The selectors are loaded now, with unusable caches that the checks below fill in, so
        // a fault in the new task's context reports the new selectors.
        for (i, &v) in s.sels.iter().enumerate() {
            self.segs[i] = Segment {
                selector: v,
                attr: self.segs[i].attr | attr::UNUSABLE,
                ..self.segs[i]
            };
        }
        self.ldtr = Segment {
            selector: s.ldt,
            attr: attr::UNUSABLE,
            ..Segment::null(0)
        };
        self.write_flags(eflags, 0x003F_7FD7);
        if new32 && self.cr0.contains(Cr0::PG) && s.cr3 != self.cr3 {
            self.cr3 = s.cr3;
            if self.cr4.contains(Cr4::PAE) && !self.efer.contains(Efer::LMA) {
                self.load_pdptes()?;
            }
            self.tlb.flush_nonglobal();
        }
        self.load_task_ldt(s.ldt)?;
        if self.flags.has(bit::VM) {
            // A virtual-8086 task: real-style segments at CPL 3.
            for (i, &v) in s.sels.iter().enumerate() {
                self.segs[i] = Segment::v86(v);
            }
            self.update_mode();
            return Ok(new32 && s.trap);
        }
        let [es, cs, ss, ds, fs, gs] = s.sels;
        let cpl = selector_rpl(cs);
        self.load_task_ss(ss, cpl)?;
        for (seg, v) in [
            (sreg::DS, ds),
            (sreg::ES, es),
            (sreg::FS, fs),
            (sreg::GS, gs),
        ] {
            self.load_task_data(seg, v, cpl)?;
        }
        self.load_task_cs(cs)?;
        Ok(new32 && s.trap)
    }

    /// The new task's LDT: a GDT selector of a present LDT descriptor, else #TS(LDT).
    fn load_task_ldt(&mut self, ldt: u16) -> Result<(), Fault> {
        let fault = Fault::ts(Fault::selector_code(ldt));
        if selector_ti(ldt) {
            return Err(fault);
        }
        if selector_null(ldt) {
            return Ok(());
        }
        let d = self.fetch_descriptor(ldt, fault)?;
        if d.system_type(false) != Some(SystemType::Ldt) || !d.present() {
            return Err(fault);
        }
        self.ldtr = Segment::from_cache(ldt, d.base() as u64, d.limit(), d.attr());
        Ok(())
    }

    /// The new task's SS: writable data with DPL = RPL = the new CPL, else #TS; #SS if not
    /// present.
    fn load_task_ss(&mut self, ss: u16, cpl: u8) -> Result<(), Fault> {
        let code = Fault::selector_code(ss);
        if selector_null(ss) {
            return Err(Fault::ts(code));
        }
        let d = self.fetch_descriptor(ss, Fault::ts(code))?;
        if !d.writable() {
            return Err(Fault::ts(code));
        }
        if !d.present() {
            return Err(Fault::ss(code));
        }
        if d.dpl() != cpl || selector_rpl(ss) != d.dpl() {
            return Err(Fault::ts(code));
        }
        self.set_descriptor_accessed(ss, d)?;
        self.set_seg(sreg::SS, d.to_segment(ss));
        self.set_cpl(cpl);
        Ok(())
    }

    /// A data segment register of the new task: null is fine; else the MOV rules with #TS
    /// in place of #GP, and #NP if not present.
    fn load_task_data(&mut self, seg: u8, v: u16, cpl: u8) -> Result<(), Fault> {
        if selector_null(v) {
            self.set_seg(seg, Segment::null(v));
            return Ok(());
        }
        let code = Fault::selector_code(v);
        let d = self.fetch_descriptor(v, Fault::ts(code))?;
        self.check_data_descriptor(v, d, cpl, Fault::ts(code))?;
        if !d.present() {
            return Err(Fault::np(code));
        }
        self.set_descriptor_accessed(v, d)?;
        self.set_seg(seg, d.to_segment(v));
        Ok(())
    }

    /// The new task's CS: a code segment whose DPL equals its RPL (non-conforming) or is at
    /// most its RPL (conforming), else #TS; #NP if not present. Its RPL is the new CPL.
    fn load_task_cs(&mut self, cs: u16) -> Result<(), Fault> {
        let code = Fault::selector_code(cs);
        if selector_null(cs) {
            return Err(Fault::ts(code));
        }
        let d = self.fetch_descriptor(cs, Fault::ts(code))?;
        let rpl = selector_rpl(cs);
        if !d.is_code() || (!d.conforming() && d.dpl() != rpl) || (d.conforming() && d.dpl() > rpl)
        {
            return Err(Fault::ts(code));
        }
        if !d.present() {
            return Err(Fault::np(code));
        }
        self.set_descriptor_accessed(cs, d)?;
        self.load_cs(cs, d, rpl);
        Ok(())
    }
}
