//! The processor: registers, modes, the MMU and the interpreter. It knows nothing about PCs,
//! only about the [`Bus`] it drives and the guest memory ([`PhysMem`]) it owns.
//!
//! The hot path: [`run`](Cpu::run) finds the decoded block at the current physical RIP
//! ([`icache`]), and executes its [`Op`]s, each a handler chosen once at decode time for the
//! exact operand form and width. Memory goes through the software TLB ([`mmu`]) and flags are
//! computed lazily ([`flags`]). Handlers return [`Fault`]s as values; the run loop restores RIP
//! and delivers them ([`interrupt`]).

pub mod bus;
pub mod cpuid;
pub mod decode;
pub mod descriptor;
pub mod exec;
pub mod fault;
pub mod flags;
pub mod icache;
pub mod interrupt;
pub mod mmu;
pub mod msr;
pub mod op;
pub mod operand;
pub mod personality;
pub mod run;
pub mod segment;
pub mod setup;
pub mod softfloat;
pub mod state;
pub mod task;

pub use bus::{Bus, BusStatus, OpenBus};
pub use fault::{Fault, Vector};
pub use flags::Flags;
pub use op::{Handler, Op};
pub use operand::{Width, U16, U32, U64, U8};
pub use run::RunExit;
pub use segment::Segment;
pub use state::{reg, sreg, Cr0, Cr4, Efer, Mode, Model, Msrs, TableReg};

use crate::mem::PhysMem;
use bus::BusSlot;
use icache::{ICache, LinkContext};
use mmu::tlb::Tlb;

/// One x86 processor.
pub struct Cpu {
    /// General registers: RAX…R15 at 0–15, RIP at 16, an always-zero register at 17
    /// (see [`reg`]). The rest pad the array so indices masked with 31 need no bounds check.
    pub gpr: [u64; 32],
    /// RFLAGS, with the arithmetic flags kept lazily.
    pub flags: Flags,
    /// Segment registers ES, CS, SS, DS, FS, GS (see [`sreg`]); slots 6 and 7 are padding so
    /// that an index masked with 7 needs no bounds check.
    pub segs: [Segment; 8],
    /// The software TLB.
    pub tlb: Tlb,
    /// Instructions retired since reset, exact at every instruction boundary (a REP string
    /// counts one per iteration); virtual time is derived from it.
    pub icount: u64,
    /// Virtual nanoseconds that passed without retiring instructions: skipped while the CPU
    /// was halted, and spent in the bus cycles of port I/O (see [`Cpu::now`]).
    pub idle_ns: u64,
    /// `run` returns when `icount` reaches this.
    pub(crate) stop_at: u64,
    /// The running block stops when `icount` reaches this; 0 ends it after the current
    /// instruction (see [`Cpu::end_block`]).
    pub(crate) block_stop: u64,
    /// Guest physical memory.
    pub mem: PhysMem,
    pub(crate) bus: BusSlot,
    pub(crate) icache: ICache,
    /// The operating mode (derived; see [`Cpu::update_mode`]).
    pub mode: Mode,
    /// Current privilege level.
    pub cpl: u8,
    /// The model whose behaviour is emulated.
    pub model: Model,
    /// CR0.
    pub cr0: Cr0,
    /// CR2: the last page-fault linear address.
    pub cr2: u64,
    /// The linear address of the #PF being raised; CR2 receives it on delivery.
    pub pf_addr: u64,
    /// CR3: the page-table root (and PCID).
    pub cr3: u64,
    /// CR4.
    pub cr4: Cr4,
    /// CR8: the task-priority register (bits 3:0).
    pub cr8: u64,
    /// IA32_EFER.
    pub efer: Efer,
    /// XCR0 (extended-state enable mask).
    pub xcr0: u64,
    /// The SSE registers: XMM0–XMM15 and MXCSR.
    pub sse: exec::sse::SseState,
    /// The PAE page-directory-pointer table entries, loaded with CR3 in legacy PAE paging.
    pub pdpte: [u64; 4],
    /// The paging-structure cache for PAE and 4-level walks.
    pub(crate) pde_cache: Box<[mmu::paging::PdeCacheEntry; mmu::paging::PDE_CACHE]>,
    /// GDTR.
    pub gdtr: TableReg,
    /// IDTR.
    pub idtr: TableReg,
    /// LDTR with its descriptor cache.
    pub ldtr: Segment,
    /// TR with its descriptor cache.
    pub tr: Segment,
    /// DR0–DR7 (DR4/DR5 alias DR6/DR7 when CR4.DE is clear).
    pub dr: [u64; 8],
    /// The model-specific registers kept as storage.
    pub msr: Msrs,
    /// Added to the time-stamp counter (WRMSR to IA32_TSC sets it).
    pub tsc_offset: u64,
    /// TSC ticks per retired instruction, as a ratio (numerator, denominator).
    pub tsc_ratio: (u64, u64),
    /// The bus has a local APIC: CPUID reports it (and x2APIC, TSC-deadline), and its MSRs
    /// (IA32_APIC_BASE, 0x800–0x8FF, IA32_TSC_DEADLINE) go to the bus.
    pub apic: bool,
    /// HLT executed; waiting for an interrupt.
    pub halted: bool,
    /// The INTR line as last sampled from the bus.
    pub intr: bool,
    /// An NMI is waiting for delivery.
    pub nmi_pending: bool,
    /// NMIs are blocked until the next IRET (an NMI handler is running).
    pub nmi_blocked: bool,
    /// Interrupts are inhibited for one instruction (after STI, MOV SS, POP SS).
    pub shadow: bool,
    /// A triple fault (or a shutdown) happened; the processor stopped.
    pub shutdown: bool,
    /// Mask of linear addresses: 32 bits outside 64-bit mode.
    pub lin_mask: u64,
    /// Mask of the instruction pointer: IP, EIP or RIP as the code size says.
    pub ip_mask: u64,
    /// The last fault an instruction raised (for debuggers, traces and tests).
    pub last_fault: Option<Fault>,
    /// The exception being delivered, for the double-fault rules.
    pub(crate) delivering: Option<Vector>,
    /// The bus asked the CPU to stop at the next boundary.
    pub(crate) stop_requested: bool,
    /// Unimplemented instructions already reported on the host log.
    pub(crate) reported: std::collections::HashSet<u64>,
    /// The x87 FPU.
    pub fpu: exec::x87::Fpu,
}

impl Cpu {
    /// A processor of the given model owning `mem`, in its power-on state.
    pub fn new(model: Model, mem: PhysMem) -> Cpu {
        let mut cpu = Cpu {
            gpr: [0; 32],
            flags: Flags::default(),
            segs: [Segment::default(); 8],
            tlb: Tlb::new(),
            icount: 0,
            idle_ns: 0,
            stop_at: 0,
            block_stop: 0,
            mem,
            bus: BusSlot::new(),
            icache: ICache::new(),
            mode: Mode::Real,
            cpl: 0,
            model,
            cr0: Cr0::empty(),
            cr2: 0,
            pf_addr: 0,
            cr3: 0,
            cr4: Cr4::empty(),
            cr8: 0,
            efer: Efer::empty(),
            xcr0: 1,
            sse: Default::default(),
            pdpte: [0; 4],
            pde_cache: Box::new([Default::default(); mmu::paging::PDE_CACHE]),
            gdtr: TableReg::default(),
            idtr: TableReg::default(),
            ldtr: Segment::default(),
            tr: Segment::default(),
            dr: [0; 8],
            msr: Msrs::default(),
            tsc_offset: 0,
            tsc_ratio: (1, 1),
            apic: false,
            halted: false,
            intr: false,
            nmi_pending: false,
            nmi_blocked: false,
            shadow: false,
            shutdown: false,
            lin_mask: 0xFFFF_FFFF,
            ip_mask: 0xFFFF,
            delivering: None,
            last_fault: None,
            stop_requested: false,
            reported: Default::default(),
            fpu: exec::x87::Fpu::power_on(),
        };
        cpu.reset();
        cpu
    }

    /// The power-on / RESET state (SDM Vol. 3A Table 10-1): real mode at F000:FFF0.
    pub fn reset(&mut self) {
        self.gpr = [0; 32];
        // EDX holds the processor signature after reset.
        self.gpr[reg::RDX as usize] = cpuid::SIGNATURE as u64;
        self.flags = Flags::default();
        for (i, s) in self.segs.iter_mut().enumerate().take(6) {
            *s = Segment::real(0);
            if i == sreg::CS as usize {
                *s = Segment::from_cache(0xF000, 0xFFFF_0000, 0xFFFF, segment::attr::CODE_RX);
            }
        }
        self.set_rip(0xFFF0);
        self.cr0 = Cr0::ET | Cr0::CD | Cr0::NW;
        self.cr2 = 0;
        self.cr3 = 0;
        self.cr4 = Cr4::empty();
        self.cr8 = 0;
        self.efer = Efer::empty();
        self.xcr0 = 1;
        // RESET clears the XMM registers and sets MXCSR to 0x1F80 (SDM Vol. 3A Table 10-1).
        self.sse = Default::default();
        self.gdtr = TableReg {
            base: 0,
            limit: 0xFFFF,
        };
        self.idtr = TableReg {
            base: 0,
            limit: 0xFFFF,
        };
        self.ldtr = Segment::from_cache(0, 0, 0xFFFF, 0x82);
        self.tr = Segment::from_cache(0, 0, 0xFFFF, 0x8B);
        self.dr = [0, 0, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400];
        self.msr = Msrs {
            pat: 0x0007_0406_0007_0406,
            apic_base: 0xFEE0_0900,
            misc_enable: msr::MISC_ENABLE_RESET,
            ..Msrs::default()
        };
        self.halted = false;
        self.nmi_pending = false;
        self.nmi_blocked = false;
        self.shadow = false;
        self.shutdown = false;
        self.delivering = None;
        // SDM Vol. 3A Table 10-1: FCW 0040H, FTW 5555H (eight +0.0), everything else 0.
        self.fpu = exec::x87::Fpu::power_on();
        if self.model == Model::I8086 {
            // The 8086 has no CR0 and keeps FLAGS bits 12-15 set.
            self.cr0 = Cr0::empty();
        }
        self.update_mode();
        self.flush_tlb_all();
    }

    /// RIP.
    #[inline(always)]
    pub fn rip(&self) -> u64 {
        self.gpr[reg::RIP as usize]
    }

    /// Sets RIP.
    #[inline(always)]
    pub fn set_rip(&mut self, v: u64) {
        self.gpr[reg::RIP as usize] = v;
    }

    /// A 64-bit general register by index (0–15).
    #[inline(always)]
    pub fn reg64(&self, r: u8) -> u64 {
        self.gpr[(r & 31) as usize]
    }

    /// Sets a 64-bit general register by index (0–15).
    #[inline(always)]
    pub fn set_reg64(&mut self, r: u8, v: u64) {
        self.gpr[(r & 31) as usize] = v;
    }

    /// The full RFLAGS value.
    #[inline]
    pub fn rflags(&self) -> u64 {
        let v = self.flags.get();
        match self.model {
            // The 8086 reads FLAGS bits 12-15 as ones; the 286 in real mode as zeros.
            Model::I8086 => v | 0xF000,
            _ => v,
        }
    }

    /// Segment register `i` (see [`sreg`]).
    #[inline(always)]
    pub fn seg(&self, i: u8) -> &Segment {
        &self.segs[(i & 7) as usize]
    }

    /// Recomputes the mode from CR0.PE, EFLAGS.VM, EFER.LMA and CS.L, and everything derived
    /// from it (segment windows, the linear-address mask, the TLB set).
    pub fn update_mode(&mut self) {
        let cs = self.segs[sreg::CS as usize];
        self.mode = if !self.cr0.contains(Cr0::PE) {
            Mode::Real
        } else if self.efer.contains(Efer::LMA) {
            if cs.long() {
                Mode::Long
            } else {
                Mode::Compat
            }
        } else if self.flags.has(flags::bit::VM) {
            Mode::V8086
        } else {
            Mode::Protected
        };
        self.cpl = match self.mode {
            Mode::Real => 0,
            Mode::V8086 => 3,
            _ => self.cpl,
        };
        self.lin_mask = if self.mode == Mode::Long {
            u64::MAX
        } else {
            0xFFFF_FFFF
        };
        self.ip_mask = match self.code_bits() {
            16 => 0xFFFF,
            32 => 0xFFFF_FFFF,
            _ => u64::MAX,
        };
        // Links between blocks were made for one CS, mode and CPL: void them if any of these
        // changed (an IRET or interrupt that reloads the same CS keeps them).
        let context = LinkContext {
            mode: self.mode as u8,
            cpl: self.cpl,
            bits: self.code_bits() as u8,
            cs_base: cs.lin_base,
            cs_limit: cs.limit,
        };
        if self.icache.enter(context) {
            self.tlb.new_code_gen();
        }
        for i in 0..6u8 {
            let mode = self.mode;
            self.segs[i as usize].refresh(mode, i);
        }
        self.update_tlb_set();
        self.end_block();
    }

    /// The code size decoding uses now: 16, 32 or 64.
    #[inline]
    pub fn code_bits(&self) -> u32 {
        match self.mode {
            Mode::Long => 64,
            Mode::V8086 => 16,
            _ if self.segs[sreg::CS as usize].big() => 32,
            _ => 16,
        }
    }

    /// The stack-pointer width in bytes: 8 in 64-bit mode, else SS.B selects 4 or 2.
    #[inline]
    pub fn stack_bytes(&self) -> u8 {
        match self.mode {
            Mode::Long => 8,
            Mode::Real | Mode::V8086 if self.model != Model::Modern => 2,
            _ if self.segs[sreg::SS as usize].big() => 4,
            _ => 2,
        }
    }

    /// Raises the INTR line state the CPU samples between blocks (for machines and tests).
    pub fn set_intr(&mut self, asserted: bool) {
        self.intr = asserted;
    }

    /// Queues an NMI.
    pub fn raise_nmi(&mut self) {
        self.nmi_pending = true;
    }

    /// Sets the current privilege level and everything that depends on it.
    pub fn set_cpl(&mut self, cpl: u8) {
        self.cpl = cpl;
        self.update_tlb_set();
    }

    /// Ends the running block after the current instruction: the next one must be looked
    /// up afresh (self-modifying code, a mode or CS change, an event to check).
    #[inline(always)]
    pub fn end_block(&mut self) {
        self.block_stop = 0;
    }

    /// Whether the running block was ended early (see [`Cpu::end_block`]).
    #[inline(always)]
    pub fn block_ended(&self) -> bool {
        self.block_stop == 0
    }

    /// Writes the RFLAGS bits in `mask` from `value` (the caller has applied the privilege
    /// rules that decide `mask`), and updates what depends on them: the mode (VM), the TLB
    /// set (AC), and the block boundary (IF, TF: interrupts and traps are checked between
    /// blocks).
    pub fn write_flags(&mut self, value: u64, mask: u64) {
        use flags::bit;
        self.flags.materialize();
        let old = self.flags.bits;
        let new = (old & !mask) | (value & mask);
        self.flags.set(new);
        let changed = old ^ self.flags.bits;
        if changed & bit::VM != 0 {
            self.update_mode();
        } else if changed & bit::AC != 0 {
            self.update_tlb_set();
        }
        if changed & (bit::IF | bit::TF | bit::VM) != 0 {
            self.end_block();
        }
    }

    /// Virtual time in nanoseconds: one per retired instruction, plus the time skipped while
    /// halted and the bus cycles of port I/O. Deterministic: the same guest and inputs give the same times.
    #[inline]
    pub fn now(&self) -> u64 {
        self.icount + self.idle_ns
    }

    /// The time-stamp counter now: virtual time scaled by `tsc_ratio`, plus the offset a
    /// WRMSR to IA32_TSC set.
    pub fn tsc(&self) -> u64 {
        let (n, d) = self.tsc_ratio;
        ((self.now() as u128 * n as u128 / d.max(1) as u128) as u64).wrapping_add(self.tsc_offset)
    }

    /// Reports an instruction vx86 does not implement, once per (address, first bytes).
    pub(crate) fn report_unimplemented(&mut self, lin: u64, bytes: &[u8], what: &str) {
        let mut key = lin;
        for &b in bytes.iter().take(4) {
            key = key.rotate_left(8) ^ b as u64;
        }
        if self.reported.len() < 4096 && self.reported.insert(key) {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            eprintln!(
                "vx86: #UD for unimplemented instruction at {lin:#x}: {} ({what})",
                hex.join(" ")
            );
        }
    }
}
