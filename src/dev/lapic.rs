//! The local APIC (Intel SDM Vol. 3A chapter 11): the xAPIC registers in the 4-KiB page at
//! `IA32_APIC_BASE` (0xFEE00000 after reset) and the same registers as the x2APIC MSRs
//! 0x800–0x8FF; interrupt acceptance and priority (TPR, PPR, IRR → ISR, EOI), the local vector
//! table (timer, thermal, performance counters, LINT0, LINT1, error), the error status
//! register, interprocessor interrupts through the ICR, and the timer in one-shot, periodic and
//! TSC-deadline modes.
//!
//! How the board wires it:
//! - MMIO: [`Mmio`] with offsets relative to the APIC page (`apic_base() & !0xFFF`). While
//!   the APIC is globally disabled or in x2APIC mode the page is not the APIC's (SDM 11.4.3,
//!   11.12.2): reads return all ones and writes vanish.
//! - MSRs: the CPU's MSR code forwards 0x800–0x8FF to [`Lapic::msr_read`] /
//!   [`Lapic::msr_write`] (`None` / `false` mean #GP(0)), IA32_APIC_BASE writes to
//!   [`Lapic::apic_base_write`] (after checking bits above MAXPHYADDR and whether CPUID claims
//!   x2APIC) and reads to [`Lapic::apic_base`], IA32_TSC_DEADLINE to
//!   [`Lapic::set_tsc_deadline`] / [`Lapic::tsc_deadline`]; a guest write to the TSC is passed
//!   on with [`Lapic::set_tsc_offset`].
//! - Inputs: [`Lapic::set_lint0`] (the 8259's INT), [`Lapic::set_lint1`] (the NMI line),
//!   [`Lapic::deliver`] / [`Lapic::deliver_nmi`] for messages from the I/O APIC or MSIs
//!   (after [`Lapic::accepts`] says the destination names this APIC).
//! - Outputs, sampled after every access and tick: [`Lapic::interrupt_pending`] then
//!   [`Lapic::ack`] at INTA; [`Lapic::extint_pending`] (then the vector comes from the 8259);
//!   [`Lapic::take_nmi`]; [`Lapic::take_eoi`] (level-triggered EOIs for the I/O APIC);
//!   [`Lapic::take_ipis`] (IPIs for other processors, INIT and SIPI).
//! - While [`Lapic::enabled`] is false (IA32_APIC_BASE.EN clear) the processor behaves as one
//!   without an APIC (SDM 11.4.3): the board connects the 8259's INT and the NMI line to the
//!   CPU directly.
//!
//! Time: the timer counts the bus clock [`BUS_HZ`] = 1 GHz, one count per virtual nanosecond
//! at divide-by-1, as QEMU's APIC does; the TSC runs at 1 GHz too (TSC = virtual ns + offset).

use super::bus::{DevCtx, Mmio, Timed};
use crate::cpu::bus::ones;
use crate::cpu::msr::{APIC_BASE_BSP, APIC_BASE_EN};

/// The frequency of the clock the APIC timer divides (SDM 11.5.4: the bus or core crystal
/// clock): 1 GHz, so one count is one virtual nanosecond at divide-by-1.
pub const BUS_HZ: u64 = 1_000_000_000;

/// The reset value of IA32_APIC_BASE's address field.
pub const DEFAULT_BASE: u64 = 0xFEE0_0000;

/// IA32_APIC_BASE.EXTD (bit 10): x2APIC mode.
pub const BASE_EXTD: u64 = 1 << 10;
/// IA32_APIC_BASE bits that are reserved whatever MAXPHYADDR is: 7:0, 9 and 63:52.
const BASE_RESERVED: u64 = 0xFF | 1 << 9 | !((1u64 << 52) - 1);

/// The version register: version 0x14 (an integrated xAPIC), six LVT entries (bits 23:16
/// hold the count minus one), no EOI-broadcast suppression (bit 24 clear) (SDM 11.4.8).
pub const VERSION: u32 = 0x0005_0014;

/// Register indices: the xAPIC offset divided by 16, which is also the x2APIC MSR minus
/// 0x800 (SDM Table 11-1 and Table 11-6).
pub mod reg {
    /// Local APIC ID.
    pub const ID: u32 = 0x02;
    /// Local APIC version.
    pub const VERSION: u32 = 0x03;
    /// Task priority register (TPR).
    pub const TPR: u32 = 0x08;
    /// Arbitration priority register (APR), xAPIC only.
    pub const APR: u32 = 0x09;
    /// Processor priority register (PPR).
    pub const PPR: u32 = 0x0A;
    /// EOI register.
    pub const EOI: u32 = 0x0B;
    /// Remote read register (not on Pentium 4 and later: reserved).
    pub const RRD: u32 = 0x0C;
    /// Logical destination register (LDR).
    pub const LDR: u32 = 0x0D;
    /// Destination format register (DFR), xAPIC only.
    pub const DFR: u32 = 0x0E;
    /// Spurious interrupt vector register (SVR).
    pub const SVR: u32 = 0x0F;
    /// In-service register, eight 32-bit words.
    pub const ISR0: u32 = 0x10;
    /// Trigger mode register, eight words.
    pub const TMR0: u32 = 0x18;
    /// Interrupt request register, eight words.
    pub const IRR0: u32 = 0x20;
    /// Error status register (ESR).
    pub const ESR: u32 = 0x28;
    /// LVT corrected machine-check interrupt (not present: the APIC has six LVT entries).
    pub const LVT_CMCI: u32 = 0x2F;
    /// Interrupt command register, bits 31:0 (the whole 64-bit ICR in x2APIC mode).
    pub const ICR_LO: u32 = 0x30;
    /// Interrupt command register, bits 63:32 (xAPIC only).
    pub const ICR_HI: u32 = 0x31;
    /// LVT timer.
    pub const LVT_TIMER: u32 = 0x32;
    /// LVT thermal sensor.
    pub const LVT_THERMAL: u32 = 0x33;
    /// LVT performance monitoring counters.
    pub const LVT_PERF: u32 = 0x34;
    /// LVT LINT0.
    pub const LVT_LINT0: u32 = 0x35;
    /// LVT LINT1.
    pub const LVT_LINT1: u32 = 0x36;
    /// LVT error.
    pub const LVT_ERROR: u32 = 0x37;
    /// Timer initial count.
    pub const TIMER_INITIAL: u32 = 0x38;
    /// Timer current count.
    pub const TIMER_CURRENT: u32 = 0x39;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x3E;
    /// SELF IPI, x2APIC only.
    pub const SELF_IPI: u32 = 0x3F;
}

/// The first x2APIC MSR (index 0 of [`reg`]).
pub const X2APIC_MSR_BASE: u32 = 0x800;

/// LVT and ICR bit: the delivery status (send pending).
pub const LVT_DELIVERY_STATUS: u32 = 1 << 12;
/// LVT LINT bit: the input pin is active low.
pub const LVT_POLARITY_LOW: u32 = 1 << 13;
/// LVT LINT bit: remote IRR (a level-triggered fixed interrupt is in service).
pub const LVT_REMOTE_IRR: u32 = 1 << 14;
/// LVT LINT bit: level-triggered.
pub const LVT_LEVEL: u32 = 1 << 15;
/// LVT bit: masked.
pub const LVT_MASKED: u32 = 1 << 16;
/// LVT timer mode field (bits 18:17): 0 one-shot, 1 periodic, 2 TSC-deadline.
pub const LVT_TIMER_MODE_SHIFT: u32 = 17;

/// SVR bit 8: APIC software enable.
pub const SVR_ENABLE: u32 = 1 << 8;
/// SVR bit 9: focus processor checking disabled.
pub const SVR_FOCUS_DISABLED: u32 = 1 << 9;

/// ESR bit 4: an IPI with lowest-priority delivery was refused (x2APIC).
pub const ESR_REDIRECTABLE_IPI: u32 = 1 << 4;
/// ESR bit 5: this APIC tried to send an illegal vector (0–15).
pub const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
/// ESR bit 6: this APIC received or generated an illegal vector (0–15).
pub const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
/// ESR bit 7: software accessed a register the APIC does not have (xAPIC).
pub const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// LVT slots, in register order from [`reg::LVT_TIMER`].
const LVT_TIMER: usize = 0;
const LVT_LINT0: usize = 3;
const LVT_LINT1: usize = 4;
const LVT_ERROR: usize = 5;
/// Writable bits of each LVT entry (SDM Figure 11-8): vector and mask everywhere; timer
/// mode; delivery mode for thermal, performance and LINT; polarity and trigger for LINT.
const LVT_WRITABLE: [u32; 6] = [
    0x0007_00FF,
    0x0001_07FF,
    0x0001_07FF,
    0x0001_A7FF,
    0x0001_A7FF,
    0x0001_00FF,
];

/// x2APIC ICR bits that must be zero (SDM 11.12.9: 31:20, 17:16 and 13; delivery status
/// bit 12 is ignored).
const X2_ICR_RESERVED: u64 = 0xFFF0_0000 | 0x3_0000 | 1 << 13;

/// Delivery modes of the ICR and LVT entries (SDM 11.5.1, 11.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// The vector goes to the IRR.
    Fixed,
    /// Fixed, to the processor of lowest priority.
    LowestPriority,
    /// A system management interrupt.
    Smi,
    /// A non-maskable interrupt.
    Nmi,
    /// INIT (or INIT level de-assert, with `level` clear).
    Init,
    /// Start-up IPI: the vector is the page of the entry point.
    Startup,
    /// External interrupt: the vector comes from an 8259.
    ExtInt,
    /// The reserved encoding 011.
    Reserved,
}

impl DeliveryMode {
    /// The mode encoded in bits 10:8.
    pub fn from_bits(v: u32) -> DeliveryMode {
        match (v >> 8) & 7 {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            6 => DeliveryMode::Startup,
            7 => DeliveryMode::ExtInt,
            _ => DeliveryMode::Reserved,
        }
    }
}

/// Where an IPI goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiDest {
    /// Physical destination: an APIC ID (0xFF, or 0xFFFFFFFF in x2APIC mode, is broadcast).
    Physical(u32),
    /// Logical destination, matched against each APIC's LDR and DFR.
    Logical(u32),
    /// Shorthand: every processor, this one included.
    AllIncludingSelf,
    /// Shorthand: every processor but this one.
    AllExcludingSelf,
}

/// An IPI written to the ICR that may concern another processor (or is INIT/SIPI), kept for
/// the board (a later SMP machine delivers these; the single-CPU machine drops them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipi {
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Vector (fixed and lowest priority) or start page (SIPI).
    pub vector: u8,
    /// Destination.
    pub dest: IpiDest,
    /// The level bit (0 only for INIT level de-assert).
    pub level: bool,
    /// Trigger mode: level-triggered.
    pub trigger_level: bool,
}

/// Timer modes of LVT timer bits 18:17 (SDM Table 11-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

/// A 256-bit vector register (IRR, ISR, TMR) as eight 32-bit words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits256([u32; 8]);

impl Bits256 {
    fn set(&mut self, v: u8) {
        self.0[(v >> 5) as usize] |= 1 << (v & 31);
    }
    fn clear(&mut self, v: u8) {
        self.0[(v >> 5) as usize] &= !(1 << (v & 31));
    }
    fn get(&self, v: u8) -> bool {
        self.0[(v >> 5) as usize] & (1 << (v & 31)) != 0
    }
    /// The highest set vector.
    fn highest(&self) -> Option<u8> {
        (0..8)
            .rev()
            .find(|&i| self.0[i] != 0)
            .map(|i| (i as u32 * 32 + 31 - self.0[i].leading_zeros()) as u8)
    }
}

/// Why a register access failed: in x2APIC mode it is #GP(0); in xAPIC mode the ESR logs an
/// illegal register address.
#[derive(Debug)]
struct Illegal;

/// The local APIC of one processor.
#[derive(Debug)]
pub struct Lapic {
    /// The initial APIC ID (CPUID), which is also the x2APIC ID.
    initial_id: u32,
    /// IA32_APIC_BASE: base address, BSP, EXTD, EN.
    apic_base: u64,
    /// The xAPIC ID (bits 31:24 of the ID register).
    id: u8,
    tpr: u8,
    /// xAPIC LDR (bits 31:24 meaningful); in x2APIC mode derived from the ID.
    ldr: u32,
    dfr: u32,
    svr: u32,
    irr: Bits256,
    isr: Bits256,
    tmr: Bits256,
    /// The ESR as software reads it (the errors latched by the last ESR write).
    esr: u32,
    /// Errors detected since the last ESR write.
    esr_pending: u32,
    /// Whether the next error raises the LVT error interrupt (rearmed by an ESR write).
    esr_armed: bool,
    icr: u64,
    lvt: [u32; 6],
    /// Remote IRR of LINT0 and LINT1 (level-triggered fixed interrupts in service).
    lint_remote_irr: [bool; 2],
    /// The raw electrical level of LINT0 and LINT1.
    lint_level: [bool; 2],
    timer_initial: u32,
    timer_divide: u32,
    /// Whether a one-shot count is running (periodic: whether the initial count is non-zero).
    timer_armed: bool,
    /// A virtual time at which the count was `timer_anchor_count`; it reaches zero (the
    /// next expiry) `timer_anchor_count` counts later (one-shot and periodic modes).
    timer_anchor: u64,
    /// The count at `timer_anchor`.
    timer_anchor_count: u32,
    /// IA32_TSC_DEADLINE (zero: disarmed).
    tsc_deadline: u64,
    /// TSC minus virtual time.
    tsc_offset: u64,
    nmi: bool,
    eois: Vec<u8>,
    ipis: Vec<Ipi>,
}

impl Lapic {
    /// A local APIC after power-up (SDM 11.4.7.1): globally enabled at 0xFEE00000, software
    /// disabled (SVR 0xFF), every LVT entry masked.
    pub fn new(apic_id: u32, bsp: bool) -> Lapic {
        let mut l = Lapic {
            initial_id: apic_id,
            apic_base: DEFAULT_BASE | APIC_BASE_EN | if bsp { APIC_BASE_BSP } else { 0 },
            id: apic_id as u8,
            tpr: 0,
            ldr: 0,
            dfr: u32::MAX,
            svr: 0xFF,
            irr: Bits256::default(),
            isr: Bits256::default(),
            tmr: Bits256::default(),
            esr: 0,
            esr_pending: 0,
            esr_armed: true,
            icr: 0,
            lvt: [LVT_MASKED; 6],
            lint_remote_irr: [false; 2],
            lint_level: [false; 2],
            timer_initial: 0,
            timer_divide: 0,
            timer_armed: false,
            timer_anchor: 0,
            timer_anchor_count: 0,
            tsc_deadline: 0,
            tsc_offset: 0,
            nmi: false,
            eois: Vec::new(),
            ipis: Vec::new(),
        };
        l.reset_registers();
        l
    }

    /// RESET: the power-up state, IA32_APIC_BASE included.
    pub fn reset(&mut self) {
        let bsp = self.apic_base & APIC_BASE_BSP;
        self.apic_base = DEFAULT_BASE | APIC_BASE_EN | bsp;
        self.id = self.initial_id as u8;
        self.reset_registers();
    }

    /// INIT: the power-up state except the APIC ID and IA32_APIC_BASE (SDM 11.4.7.3).
    pub fn init(&mut self) {
        self.reset_registers();
    }

    /// The register state of SDM 11.4.7.1 (ID and IA32_APIC_BASE are left alone).
    fn reset_registers(&mut self) {
        self.tpr = 0;
        self.ldr = 0;
        self.dfr = u32::MAX;
        self.svr = 0xFF;
        self.irr = Bits256::default();
        self.isr = Bits256::default();
        self.tmr = Bits256::default();
        self.esr = 0;
        self.esr_pending = 0;
        self.esr_armed = true;
        self.icr = 0;
        self.lvt = [LVT_MASKED; 6];
        self.lint_remote_irr = [false; 2];
        self.timer_initial = 0;
        self.timer_divide = 0;
        self.timer_armed = false;
        self.tsc_deadline = 0;
        self.nmi = false;
        self.eois.clear();
    }

    /// Programs the APIC as a PC BIOS leaves it for the operating system (SeaBIOS does the
    /// same): software enabled, LINT0 as ExtINT (virtual wire mode, the 8259 reaches the
    /// CPU through the APIC), LINT1 as NMI. A direct kernel boot calls this in place of the
    /// BIOS, so kernels that only program the 8259 still get its interrupts.
    pub fn set_virtual_wire(&mut self) {
        self.svr |= SVR_ENABLE;
        self.lvt[LVT_LINT0] = 7 << 8 | LVT_LEVEL;
        self.lvt[LVT_LINT1] = 4 << 8 | LVT_LEVEL;
    }

    // ---- IA32_APIC_BASE ----

    /// IA32_APIC_BASE as RDMSR reads it.
    pub fn apic_base(&self) -> u64 {
        self.apic_base
    }

    /// The physical address of the xAPIC register page.
    pub fn mmio_base(&self) -> u64 {
        self.apic_base & !0xFFF & ((1 << 52) - 1)
    }

    /// WRMSR to IA32_APIC_BASE; `false` means #GP(0). The MSR code checks the address bits
    /// above MAXPHYADDR and that CPUID claims x2APIC before it lets EXTD be set; this checks
    /// the always-reserved bits and the mode transitions of SDM 11.12.5 (Figure 11-26):
    /// EXTD without EN, x2APIC straight to xAPIC and disabled straight to x2APIC are #GP.
    /// BSP is read-only. Clearing EN returns the APIC to its power-up state (SDM 11.4.3).
    pub fn apic_base_write(&mut self, value: u64) -> bool {
        if value & BASE_RESERVED != 0 {
            return false;
        }
        let (en, extd) = (value & APIC_BASE_EN != 0, value & BASE_EXTD != 0);
        let (was_en, was_x2) = (self.enabled(), self.x2apic());
        if (extd && !en) || (was_x2 && en && !extd) || (!was_en && extd) {
            return false;
        }
        let bsp = self.apic_base & APIC_BASE_BSP;
        self.apic_base = (value & !APIC_BASE_BSP) | bsp;
        if was_en && !en {
            self.reset_registers();
            self.id = self.initial_id as u8;
        }
        if extd && !was_x2 {
            // SDM 11.12.10.2: the logical ID follows from the x2APIC ID.
            let id = self.initial_id;
            self.ldr = (id >> 4) << 16 | 1 << (id & 0xF);
        }
        true
    }

    /// Whether the APIC is globally enabled (IA32_APIC_BASE.EN). When it is not, the board
    /// treats the processor as one without an APIC (the 8259 and NMI lines go straight in).
    pub fn enabled(&self) -> bool {
        self.apic_base & APIC_BASE_EN != 0
    }

    /// Whether the APIC is in x2APIC mode (IA32_APIC_BASE.EXTD).
    pub fn x2apic(&self) -> bool {
        self.apic_base & BASE_EXTD != 0
    }

    /// Whether SVR.8 (APIC software enable) is set.
    pub fn software_enabled(&self) -> bool {
        self.svr & SVR_ENABLE != 0
    }

    /// The APIC ID in use: the x2APIC ID in x2APIC mode, the xAPIC ID otherwise.
    pub fn id(&self) -> u32 {
        if self.x2apic() {
            self.initial_id
        } else {
            self.id as u32
        }
    }

    // ---- The TSC deadline ----

    /// Tells the APIC the TSC's offset from virtual time (TSC = virtual ns + offset), after
    /// a guest write to the TSC; the deadline compares against the TSC.
    pub fn set_tsc_offset(&mut self, offset: u64) {
        self.tsc_offset = offset;
    }

    /// WRMSR to IA32_TSC_DEADLINE: a non-zero value arms the timer, zero disarms it; ignored
    /// unless the timer is in TSC-deadline mode (SDM 11.5.4.1).
    pub fn set_tsc_deadline(&mut self, tsc: u64) {
        if self.timer_mode() == TimerMode::TscDeadline && self.enabled() {
            self.tsc_deadline = tsc;
        }
    }

    /// RDMSR of IA32_TSC_DEADLINE: zero outside TSC-deadline mode or once it fired.
    pub fn tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TimerMode::TscDeadline {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// The virtual time at which the TSC reaches the deadline (0 if it already has).
    fn tsc_deadline_ns(&self) -> u64 {
        let ns = self.tsc_deadline as i128 - self.tsc_offset as i64 as i128;
        ns.clamp(0, u64::MAX as i128) as u64
    }

    // ---- Inputs ----

    /// Drives the LINT0 pin (on a PC: the master 8259's INT).
    pub fn set_lint0(&mut self, level: bool) {
        self.set_lint(0, level);
    }

    /// Drives the LINT1 pin (on a PC: the NMI line).
    pub fn set_lint1(&mut self, level: bool) {
        self.set_lint(1, level);
    }

    /// A LINT pin changed: NMI and edge-triggered fixed entries act on the asserting edge,
    /// level-triggered fixed entries while asserted (SDM 11.5.1); ExtINT is sampled by
    /// [`Lapic::extint_pending`]. INIT and SMI through LINT are not modelled.
    fn set_lint(&mut self, n: usize, level: bool) {
        let was = self.lint_asserted(n);
        self.lint_level[n] = level;
        if !self.enabled() {
            return;
        }
        let now = self.lint_asserted(n);
        let lvt = self.lvt[LVT_LINT0 + n];
        if lvt & LVT_MASKED != 0 {
            return;
        }
        match DeliveryMode::from_bits(lvt) {
            DeliveryMode::Nmi if now && !was => self.nmi = true,
            DeliveryMode::Fixed if self.lint_level_triggered(n) => self.lint_level_check(n),
            DeliveryMode::Fixed if now && !was => {
                self.accept(lvt as u8, false);
            }
            _ => {}
        }
    }

    /// Whether LINTn is asserted, after its polarity.
    fn lint_asserted(&self, n: usize) -> bool {
        self.lint_level[n] ^ (self.lvt[LVT_LINT0 + n] & LVT_POLARITY_LOW != 0)
    }

    /// Whether LINTn is a level-triggered fixed input (LINT1 supports only edge: SDM 11.5.1).
    fn lint_level_triggered(&self, n: usize) -> bool {
        n == 0 && self.lvt[LVT_LINT0] & LVT_LEVEL != 0
    }

    /// A level-triggered fixed LINT input delivers while asserted and its remote IRR is clear.
    fn lint_level_check(&mut self, n: usize) {
        let lvt = self.lvt[LVT_LINT0 + n];
        if self.enabled()
            && lvt & LVT_MASKED == 0
            && DeliveryMode::from_bits(lvt) == DeliveryMode::Fixed
            && self.lint_level_triggered(n)
            && self.lint_asserted(n)
            && !self.lint_remote_irr[n]
            && self.accept(lvt as u8, true)
        {
            self.lint_remote_irr[n] = true;
        }
    }

    /// A fixed or lowest-priority interrupt message (from the I/O APIC or an MSI) for this
    /// APIC. Vectors 0–15 are refused with ESR.6 (SDM 11.5.3). Dropped while the APIC is
    /// globally disabled; held in the IRR while it is software disabled (SDM 11.4.7.2).
    pub fn deliver(&mut self, vector: u8, level_triggered: bool) {
        if self.enabled() {
            self.accept(vector, level_triggered);
        }
    }

    /// An NMI message for this APIC.
    pub fn deliver_nmi(&mut self) {
        if self.enabled() {
            self.nmi = true;
        }
    }

    /// Whether an interrupt message with destination `dest` (physical or logical mode)
    /// names this APIC (SDM 11.6.2): physical ID or broadcast (0xFF, 0xFFFFFFFF in x2APIC
    /// mode); logical flat (LDR & dest) or cluster (same cluster, member bits overlap).
    pub fn accepts(&self, dest: u32, logical: bool) -> bool {
        if !self.enabled() {
            return false;
        }
        if self.x2apic() {
            if dest == u32::MAX {
                return true;
            }
            if !logical {
                return dest == self.initial_id;
            }
            return dest >> 16 == self.ldr >> 16 && dest & self.ldr & 0xFFFF != 0;
        }
        let dest = dest & 0xFF;
        if dest == 0xFF {
            return true;
        }
        if !logical {
            return dest == self.id as u32;
        }
        let ldr = self.ldr >> 24;
        if self.dfr >> 28 == 0xF {
            ldr & dest != 0
        } else {
            (dest >> 4 == ldr >> 4 || dest >> 4 == 0xF) && dest & ldr & 0xF != 0
        }
    }

    /// Accepts a vector into the IRR (setting or clearing its TMR bit); vectors 0–15 are
    /// illegal and logged in the ESR instead (SDM 11.5.2).
    fn accept(&mut self, vector: u8, level: bool) -> bool {
        if vector < 16 {
            self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return false;
        }
        self.irr.set(vector);
        if level {
            self.tmr.set(vector);
        } else {
            self.tmr.clear(vector);
        }
        true
    }

    /// A local interrupt from LVT slot `i` (timer, error): fixed and edge-triggered.
    fn local_interrupt(&mut self, i: usize) {
        let lvt = self.lvt[i];
        if lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
    }

    /// Logs an error in the ESR; the first error since the last ESR write raises the LVT
    /// error interrupt (SDM 11.5.3).
    fn error(&mut self, bits: u32) {
        self.esr_pending |= bits;
        if self.esr_armed && self.lvt[LVT_ERROR] & LVT_MASKED == 0 {
            self.esr_armed = false;
            self.local_interrupt(LVT_ERROR);
        }
    }

    // ---- Outputs ----

    /// Whether an NMI is waiting (from LINT1 or an NMI IPI).
    pub fn nmi_pending(&self) -> bool {
        self.nmi
    }

    /// Takes the waiting NMI, if any.
    pub fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.nmi)
    }

    /// Whether an ExtINT is asserted: a LINT pin programmed as ExtINT, unmasked and asserted
    /// (ExtINT is always level-sensitive: SDM 11.5.1). The board then takes the vector from
    /// the 8259 at INTA; the IRR, ISR and PPR play no part.
    pub fn extint_pending(&self) -> bool {
        self.enabled()
            && (0..2).any(|n| {
                let lvt = self.lvt[LVT_LINT0 + n];
                lvt & LVT_MASKED == 0
                    && DeliveryMode::from_bits(lvt) == DeliveryMode::ExtInt
                    && self.lint_asserted(n)
            })
    }

    /// Whether a fixed interrupt may be dispatched now: the highest IRR vector's priority
    /// class is above PPR's (SDM 11.8.3). A software-disabled APIC holds its IRR.
    pub fn interrupt_pending(&self) -> bool {
        self.deliverable().is_some()
    }

    /// The IRR vector that would be dispatched now.
    fn deliverable(&self) -> Option<u8> {
        if !self.enabled() || !self.software_enabled() {
            return None;
        }
        let v = self.irr.highest()?;
        (v >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// INTA: the highest deliverable vector moves from the IRR to the ISR and is returned; if
    /// none is deliverable any more, the spurious vector (SVR.7:0), with no ISR change
    /// (SDM 11.8.4, 11.9).
    pub fn ack(&mut self) -> u8 {
        match self.deliverable() {
            Some(v) => {
                self.irr.clear(v);
                self.isr.set(v);
                v
            }
            None => self.svr as u8,
        }
    }

    /// The next vector of a level-triggered interrupt whose EOI the I/O APICs must see (the
    /// EOI broadcast: SDM 11.8.5), oldest first.
    pub fn take_eoi(&mut self) -> Option<u8> {
        if self.eois.is_empty() {
            None
        } else {
            Some(self.eois.remove(0))
        }
    }

    /// The IPIs sent since the last call that concern other processors, and every INIT and
    /// SIPI (a single-processor board drops them; the SMP board will deliver them).
    pub fn take_ipis(&mut self) -> Vec<Ipi> {
        std::mem::take(&mut self.ipis)
    }

    // ---- Priorities ----

    /// PPR (SDM 11.8.3.1): TPR if its class is at least the highest in-service class,
    /// otherwise that class with sub-class zero.
    pub fn ppr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0);
        if self.tpr >> 4 >= isrv >> 4 {
            self.tpr
        } else {
            isrv & 0xF0
        }
    }

    /// APR (SDM 11.6.2.4, Figure 11-15): TPR if its class is at least the highest requested
    /// class and above the highest in-service class, otherwise the highest of the three
    /// classes with sub-class zero.
    fn apr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0) >> 4;
        let irrv = self.irr.highest().unwrap_or(0) >> 4;
        let tpr = self.tpr >> 4;
        if tpr >= irrv && tpr > isrv {
            self.tpr
        } else {
            tpr.max(isrv).max(irrv) << 4
        }
    }

    /// EOI: the highest in-service vector leaves the ISR; if it was level-triggered, its EOI
    /// is broadcast to the I/O APICs and a LINT input with that vector has its remote IRR
    /// cleared (and delivers again if still asserted) (SDM 11.8.5).
    fn eoi(&mut self) {
        let Some(v) = self.isr.highest() else { return };
        self.isr.clear(v);
        if self.tmr.get(v) {
            self.eois.push(v);
            for n in 0..2 {
                if self.lint_remote_irr[n] && self.lvt[LVT_LINT0 + n] as u8 == v {
                    self.lint_remote_irr[n] = false;
                    self.lint_level_check(n);
                }
            }
        }
    }

    // ---- The timer ----

    fn timer_mode(&self) -> TimerMode {
        match (self.lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3 {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            // 11b is reserved: it counts as one-shot.
            _ => TimerMode::OneShot,
        }
    }

    /// Bus clocks per count from the divide configuration (SDM Figure 11-10: bits 3, 1:0).
    fn timer_div(&self) -> u64 {
        let code = (self.timer_divide & 3) | (self.timer_divide >> 1 & 4);
        if code == 7 {
            1
        } else {
            2 << code
        }
    }

    /// Nanoseconds per count.
    fn ns_per_count(&self) -> u64 {
        self.timer_div() * (1_000_000_000 / BUS_HZ)
    }

    /// Nanoseconds from initial count to zero.
    fn timer_period(&self) -> u64 {
        self.timer_initial as u64 * self.ns_per_count()
    }

    /// The virtual time at which the count reaches zero.
    fn timer_expiry(&self) -> u64 {
        self.timer_anchor
            .saturating_add(self.timer_anchor_count as u64 * self.ns_per_count())
    }

    /// The current count at `now` (brought up to date by `tick(now)` first).
    fn current_count(&self, now: u64) -> u32 {
        if !self.timer_armed || self.timer_mode() == TimerMode::TscDeadline {
            return 0;
        }
        let counted = now.saturating_sub(self.timer_anchor) / self.ns_per_count();
        (self.timer_anchor_count as u64).saturating_sub(counted) as u32
    }

    // ---- Register access ----

    /// Reads register `r`; `Err` for a register this mode does not have (or, in x2APIC
    /// mode, a write-only one).
    fn read_reg(&mut self, r: u32, now: u64) -> Result<u64, Illegal> {
        let x2 = self.x2apic();
        Ok(match r {
            reg::ID if x2 => self.initial_id as u64,
            reg::ID => (self.id as u64) << 24,
            reg::VERSION => VERSION as u64,
            reg::TPR => self.tpr as u64,
            reg::APR if !x2 => self.apr() as u64,
            reg::PPR => self.ppr() as u64,
            // EOI is write-only: RDMSR faults; the xAPIC reads zero.
            reg::EOI if !x2 => 0,
            reg::LDR => self.ldr as u64,
            reg::DFR if !x2 => (self.dfr | 0x0FFF_FFFF) as u64,
            reg::SVR => self.svr as u64,
            0x10..=0x17 => self.isr.0[(r - reg::ISR0) as usize] as u64,
            0x18..=0x1F => self.tmr.0[(r - reg::TMR0) as usize] as u64,
            0x20..=0x27 => self.irr.0[(r - reg::IRR0) as usize] as u64,
            reg::ESR => self.esr as u64,
            // The IPI goes out at once, so the delivery status always reads idle.
            reg::ICR_LO if x2 => self.icr,
            reg::ICR_LO => self.icr & 0xFFFF_FFFF,
            reg::ICR_HI if !x2 => self.icr >> 32,
            0x32..=0x37 => {
                let i = (r - reg::LVT_TIMER) as usize;
                let mut v = self.lvt[i];
                if (i == LVT_LINT0 || i == LVT_LINT1) && self.lint_remote_irr[i - LVT_LINT0] {
                    v |= LVT_REMOTE_IRR;
                }
                v as u64
            }
            reg::TIMER_INITIAL => self.timer_initial as u64,
            reg::TIMER_CURRENT => self.current_count(now) as u64,
            reg::TIMER_DIVIDE => self.timer_divide as u64,
            _ => return Err(Illegal),
        })
    }

    /// Writes register `r` (32 bits, or the 64-bit ICR in x2APIC mode); `Err` for a register
    /// this mode does not have or cannot write. Read-only registers ignore xAPIC writes.
    fn write_reg(&mut self, r: u32, v: u64, now: u64) -> Result<(), Illegal> {
        let x2 = self.x2apic();
        let v32 = v as u32;
        match r {
            reg::ID if !x2 => self.id = (v32 >> 24) as u8,
            reg::TPR => self.tpr = v32 as u8,
            reg::EOI => self.eoi(),
            reg::LDR if !x2 => self.ldr = v32 & 0xFF00_0000,
            reg::DFR if !x2 => self.dfr = v32 | 0x0FFF_FFFF,
            reg::SVR => {
                // Focus checking, software enable, vector; EOI-broadcast suppression is not
                // offered (VERSION bit 24 clear), so bit 12 stays clear.
                self.svr = v32 & 0x3FF;
                if !self.software_enabled() {
                    // SDM 11.4.7.2: software disable masks every LVT entry.
                    for lvt in &mut self.lvt {
                        *lvt |= LVT_MASKED;
                    }
                }
            }
            reg::ESR => {
                // Write-before-read: latch the errors seen since the last write, rearm.
                self.esr = std::mem::take(&mut self.esr_pending);
                self.esr_armed = true;
            }
            reg::ICR_LO => {
                self.icr = if x2 {
                    v & !(LVT_DELIVERY_STATUS as u64)
                } else {
                    (self.icr & !0xFFFF_FFFF) | (v32 & 0x000C_CFFF) as u64
                };
                self.send_ipi();
            }
            reg::ICR_HI if !x2 => {
                self.icr = (self.icr & 0xFFFF_FFFF) | ((v32 & 0xFF00_0000) as u64) << 32;
            }
            0x32..=0x37 => self.write_lvt((r - reg::LVT_TIMER) as usize, v32),
            reg::TIMER_INITIAL => {
                // TSC-deadline mode ignores the initial count (SDM 11.5.4.1).
                if self.timer_mode() != TimerMode::TscDeadline {
                    self.timer_initial = v32;
                    self.timer_anchor = now;
                    self.timer_anchor_count = v32;
                    self.timer_armed = v32 != 0;
                }
            }
            reg::TIMER_DIVIDE => {
                // The count continues from where it is, at the new rate.
                self.timer_anchor_count = self.current_count(now);
                self.timer_anchor = now;
                self.timer_divide = v32 & 0xB;
            }
            reg::SELF_IPI if x2 => self.send_self(v32 as u8),
            // Read-only registers: x2APIC faults, xAPIC ignores the write.
            reg::ID
            | reg::VERSION
            | reg::APR
            | reg::PPR
            | reg::LDR
            | 0x10..=0x27
            | reg::TIMER_CURRENT
                if !x2 => {}
            _ => return Err(Illegal),
        }
        Ok(())
    }

    /// Writes LVT slot `i`. A software-disabled APIC keeps the mask set (SDM 11.4.7.2);
    /// a change into or out of TSC-deadline mode disarms the timer (SDM 11.5.4.1), a change
    /// between one-shot and periodic only changes what happens at zero.
    fn write_lvt(&mut self, i: usize, v: u32) {
        let old_mode = self.timer_mode();
        let mut v = v & LVT_WRITABLE[i];
        if !self.software_enabled() {
            v |= LVT_MASKED;
        }
        self.lvt[i] = v;
        if i == LVT_TIMER {
            let mode = self.timer_mode();
            let deadline = TimerMode::TscDeadline;
            if mode != old_mode && (mode == deadline || old_mode == deadline) {
                self.timer_armed = false;
                self.timer_initial = 0;
                self.tsc_deadline = 0;
            }
        } else if i == LVT_LINT0 || i == LVT_LINT1 {
            self.lint_level_check(i - LVT_LINT0);
        }
    }

    /// Sends the IPI in the ICR (SDM 11.6.1). It goes out at once: fixed, lowest-priority
    /// and NMI IPIs that name this APIC are accepted here; anything that may name another
    /// processor, and every INIT and SIPI, goes to [`Lapic::take_ipis`].
    fn send_ipi(&mut self) {
        let lo = self.icr as u32;
        let mode = DeliveryMode::from_bits(lo);
        let vector = lo as u8;
        let x2 = self.x2apic();
        let dest = match (lo >> 18) & 3 {
            1 => {
                // The self shorthand carries fixed interrupts only.
                if mode == DeliveryMode::Fixed {
                    self.send_self(vector);
                }
                return;
            }
            2 => IpiDest::AllIncludingSelf,
            3 => IpiDest::AllExcludingSelf,
            _ => {
                let d = if x2 {
                    (self.icr >> 32) as u32
                } else {
                    (self.icr >> 56) as u32
                };
                if lo & 1 << 11 != 0 {
                    IpiDest::Logical(d)
                } else {
                    IpiDest::Physical(d)
                }
            }
        };
        match mode {
            DeliveryMode::Fixed | DeliveryMode::LowestPriority => {
                if mode == DeliveryMode::LowestPriority && x2 {
                    // SDM 11.12.9: no lowest-priority IPIs in x2APIC mode.
                    self.error(ESR_REDIRECTABLE_IPI);
                    return;
                }
                if vector < 16 {
                    self.error(ESR_SEND_ILLEGAL_VECTOR);
                    return;
                }
            }
            DeliveryMode::Nmi | DeliveryMode::Init | DeliveryMode::Startup | DeliveryMode::Smi => {}
            DeliveryMode::ExtInt | DeliveryMode::Reserved => return,
        }
        let level = lo & 1 << 14 != 0;
        let trigger_level = lo & 1 << 15 != 0;
        let to_self = match dest {
            IpiDest::AllIncludingSelf => true,
            IpiDest::AllExcludingSelf => false,
            IpiDest::Physical(d) => self.accepts(d, false),
            IpiDest::Logical(d) => self.accepts(d, true),
        };
        let only_self = matches!(dest, IpiDest::Physical(d) if d == self.id() && to_self);
        if to_self {
            match mode {
                DeliveryMode::Fixed | DeliveryMode::LowestPriority => {
                    self.accept(vector, trigger_level);
                }
                DeliveryMode::Nmi => self.nmi = true,
                _ => {}
            }
        }
        let init_sipi = matches!(mode, DeliveryMode::Init | DeliveryMode::Startup);
        if !only_self || init_sipi {
            self.ipis.push(Ipi {
                mode,
                vector,
                dest,
                level,
                trigger_level,
            });
        }
    }

    /// A fixed, edge-triggered IPI to this APIC (self shorthand or the SELF IPI register).
    fn send_self(&mut self, vector: u8) {
        if vector < 16 {
            self.error(ESR_SEND_ILLEGAL_VECTOR);
        } else {
            self.accept(vector, false);
        }
    }

    // ---- x2APIC MSRs ----

    /// RDMSR of an x2APIC register (0x800–0x8FF); `None` means #GP(0): not in x2APIC mode,
    /// a register x2APIC does not have (APR, DFR, the ICR's upper half, CMCI, reserved
    /// indices) or a write-only one (EOI, SELF IPI) (SDM 11.12.1.2).
    pub fn msr_read(&mut self, now: u64, msr: u32) -> Option<u64> {
        let r = msr.checked_sub(X2APIC_MSR_BASE).filter(|&r| r < 0x100)?;
        if !self.x2apic() {
            return None;
        }
        self.tick(now);
        self.read_reg(r, now).ok()
    }

    /// WRMSR of an x2APIC register; `false` means #GP(0): not in x2APIC mode, a reserved or
    /// read-only register, bits 63:32 set (except in the 64-bit ICR), a non-zero write to
    /// EOI or ESR, or reserved ICR bits (SDM 11.12.1.2, 11.12.9).
    pub fn msr_write(&mut self, now: u64, msr: u32, value: u64) -> bool {
        let Some(r) = msr.checked_sub(X2APIC_MSR_BASE).filter(|&r| r < 0x100) else {
            return false;
        };
        if !self.x2apic() {
            return false;
        }
        let bad = match r {
            reg::ICR_LO => value & X2_ICR_RESERVED != 0,
            reg::EOI | reg::ESR => value != 0,
            _ => value >> 32 != 0,
        };
        if bad {
            return false;
        }
        self.tick(now);
        self.write_reg(r, value, now).is_ok()
    }

    /// Whether the register page answers MMIO (globally enabled and not in x2APIC mode).
    pub fn mmio_enabled(&self) -> bool {
        self.enabled() && !self.x2apic()
    }
}

impl Mmio for Lapic {
    /// xAPIC registers are 32 bits wide on 16-byte boundaries (SDM 11.4.1): a read inside
    /// the first dword of a slot returns its bytes; the rest of each slot reads zero.
    fn mmio_read(&mut self, ctx: &mut DevCtx, offset: u64, size: u8) -> u64 {
        let ones = ones(size);
        if !self.mmio_enabled() || offset >= 0x1000 {
            return ones;
        }
        self.tick(ctx.now);
        let r = (offset >> 4) as u32;
        let v = match self.read_reg(r, ctx.now) {
            Ok(v) => v as u32 as u64,
            Err(Illegal) => {
                self.error(ESR_ILLEGAL_REGISTER);
                0
            }
        };
        let byte = offset & 0xF;
        if byte >= 4 {
            0
        } else {
            (v >> (8 * byte)) & ones
        }
    }

    /// Writes take effect only as aligned 32-bit (or wider) accesses to the start of a slot;
    /// narrower ones are ignored, as QEMU does (the SDM leaves them undefined).
    fn mmio_write(&mut self, ctx: &mut DevCtx, offset: u64, size: u8, value: u64) {
        if !self.mmio_enabled() || offset >= 0x1000 || offset & 0xF != 0 || size < 4 {
            return;
        }
        self.tick(ctx.now);
        let r = (offset >> 4) as u32;
        if self.write_reg(r, value & 0xFFFF_FFFF, ctx.now).is_err() {
            self.error(ESR_ILLEGAL_REGISTER);
        }
    }
}

impl Timed for Lapic {
    fn deadline(&self) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        match self.timer_mode() {
            TimerMode::TscDeadline => (self.tsc_deadline != 0).then(|| self.tsc_deadline_ns()),
            _ if self.timer_armed => Some(self.timer_expiry()),
            _ => None,
        }
    }

    /// Expires the timer: one-shot stops at zero, periodic reloads (a late tick catches up by
    /// whole periods and raises one interrupt), TSC-deadline fires and clears the deadline.
    /// A masked timer still counts; it only raises no interrupt (SDM 11.5.4).
    fn tick(&mut self, now: u64) {
        let Some(due) = self.deadline() else { return };
        if now < due {
            return;
        }
        match self.timer_mode() {
            TimerMode::TscDeadline => self.tsc_deadline = 0,
            TimerMode::OneShot => self.timer_armed = false,
            TimerMode::Periodic => {
                // Reload: count from the initial count at the last expiry not after `now`.
                let period = self.timer_period();
                self.timer_anchor = due + (now - due) / period * period;
                self.timer_anchor_count = self.timer_initial;
            }
        }
        self.local_interrupt(LVT_TIMER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    /// A software-enabled APIC and memory for its accesses.
    fn setup() -> (Lapic, PhysMem) {
        let mut l = Lapic::new(0, true);
        let mut mem = PhysMem::new(4096).unwrap();
        w(&mut l, &mut mem, 0, reg::SVR, SVR_ENABLE | 0xFF);
        (l, mem)
    }

    fn r(l: &mut Lapic, mem: &mut PhysMem, now: u64, reg: u32) -> u32 {
        l.mmio_read(&mut DevCtx { now, mem }, (reg as u64) << 4, 4) as u32
    }

    fn w(l: &mut Lapic, mem: &mut PhysMem, now: u64, reg: u32, v: u32) {
        l.mmio_write(&mut DevCtx { now, mem }, (reg as u64) << 4, 4, v as u64);
    }

    /// The ISR/IRR/TMR bit of `v` as read through the registers.
    fn bit(l: &mut Lapic, mem: &mut PhysMem, base: u32, v: u8) -> bool {
        r(l, mem, 0, base + (v >> 5) as u32) & 1 << (v & 31) != 0
    }

    #[test]
    fn power_up_state_matches_the_sdm() {
        // SDM 11.4.7.1: SVR 0xFF, DFR all ones, LVTs masked, APIC base 0xFEE00000 enabled.
        let mut l = Lapic::new(3, true);
        let mut mem = PhysMem::new(4096).unwrap();
        assert_eq!(l.apic_base(), 0xFEE0_0900);
        assert_eq!(r(&mut l, &mut mem, 0, reg::ID), 3 << 24);
        assert_eq!(r(&mut l, &mut mem, 0, reg::VERSION), 0x0005_0014);
        assert_eq!(r(&mut l, &mut mem, 0, reg::SVR), 0xFF);
        assert_eq!(r(&mut l, &mut mem, 0, reg::DFR), 0xFFFF_FFFF);
        for i in 0..6 {
            assert_eq!(r(&mut l, &mut mem, 0, reg::LVT_TIMER + i), LVT_MASKED);
        }
        let max_lvt = (r(&mut l, &mut mem, 0, reg::VERSION) >> 16) & 0xFF;
        assert_eq!(
            max_lvt + 1,
            6,
            "the version register counts the six LVT entries"
        );
    }

    #[test]
    fn higher_class_than_ppr_is_deliverable_and_tpr_blocks_lower_classes() {
        // SDM 11.8.3: an IRR vector is dispatched only if its class exceeds PPR's class.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TPR, 0x50);
        l.deliver(0x55, false);
        assert!(!l.interrupt_pending(), "class 5 is not above TPR class 5");
        assert_eq!(r(&mut l, &mut mem, 0, reg::PPR), 0x50);
        l.deliver(0x61, false);
        assert!(l.interrupt_pending());
        assert_eq!(l.ack(), 0x61);
        assert!(bit(&mut l, &mut mem, reg::ISR0, 0x61));
        assert!(!bit(&mut l, &mut mem, reg::IRR0, 0x61));
        assert_eq!(
            r(&mut l, &mut mem, 0, reg::PPR),
            0x60,
            "PPR takes the ISR class"
        );
        // Lowering TPR does not let 0x55 past the in-service class 6.
        w(&mut l, &mut mem, 0, reg::TPR, 0);
        assert!(!l.interrupt_pending());
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert!(l.interrupt_pending());
        assert_eq!(l.ack(), 0x55);
    }

    #[test]
    fn ppr_keeps_tpr_subclass_when_tpr_class_wins() {
        // SDM 11.8.3.1: PPR = TPR when TPR[7:4] >= ISRV[7:4], else ISRV[7:4]:0.
        let (mut l, mut mem) = setup();
        l.deliver(0x43, false);
        l.ack();
        w(&mut l, &mut mem, 0, reg::TPR, 0x4A);
        assert_eq!(r(&mut l, &mut mem, 0, reg::PPR), 0x4A);
        w(&mut l, &mut mem, 0, reg::TPR, 0x2F);
        assert_eq!(r(&mut l, &mut mem, 0, reg::PPR), 0x40);
    }

    #[test]
    fn apr_follows_figure_11_15() {
        // APR is TPR when TPR's class >= IRRV's and > ISRV's; else the highest class.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TPR, 0x35);
        assert_eq!(r(&mut l, &mut mem, 0, reg::APR), 0x35);
        l.deliver(0x80, false);
        assert_eq!(r(&mut l, &mut mem, 0, reg::APR), 0x80);
    }

    #[test]
    fn eoi_retires_the_highest_in_service_vector_first() {
        // SDM 11.8.5: EOI clears the highest-priority ISR bit (nested interrupts unwind).
        let (mut l, mut mem) = setup();
        l.deliver(0x40, false);
        assert_eq!(l.ack(), 0x40);
        l.deliver(0x90, false);
        assert_eq!(l.ack(), 0x90, "a higher class nests");
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert!(!bit(&mut l, &mut mem, reg::ISR0, 0x90));
        assert!(bit(&mut l, &mut mem, reg::ISR0, 0x40));
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert!(!bit(&mut l, &mut mem, reg::ISR0, 0x40));
        assert_eq!(l.take_eoi(), None, "edge-triggered EOIs are not broadcast");
    }

    #[test]
    fn level_triggered_eoi_is_broadcast_with_its_vector() {
        // SDM 11.8.5: for a vector whose TMR bit is set, the EOI goes to the I/O APICs.
        let (mut l, mut mem) = setup();
        l.deliver(0x31, true);
        assert!(bit(&mut l, &mut mem, reg::TMR0, 0x31));
        assert_eq!(l.ack(), 0x31);
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert_eq!(l.take_eoi(), Some(0x31));
        assert_eq!(l.take_eoi(), None);
        l.deliver(0x31, false);
        assert!(!bit(&mut l, &mut mem, reg::TMR0, 0x31), "edge clears TMR");
    }

    #[test]
    fn ack_with_nothing_deliverable_gives_the_spurious_vector() {
        // SDM 11.9: a vanished interrupt at INTA yields the SVR's vector; ISR is untouched.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::SVR, SVR_ENABLE | 0xEF);
        assert_eq!(l.ack(), 0xEF);
        l.deliver(0x40, false);
        w(&mut l, &mut mem, 0, reg::TPR, 0xF0);
        assert_eq!(l.ack(), 0xEF);
        assert!(bit(&mut l, &mut mem, reg::IRR0, 0x40));
        assert_eq!(r(&mut l, &mut mem, 0, reg::ISR0 + 2), 0);
    }

    #[test]
    fn software_disabled_apic_holds_irr_and_masks_lvts() {
        // SDM 11.4.7.2: IRR is held, LVT masks are forced on and cannot be cleared.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::LVT_ERROR, 0x33);
        w(&mut l, &mut mem, 0, reg::SVR, 0xFF);
        assert_ne!(r(&mut l, &mut mem, 0, reg::LVT_ERROR) & LVT_MASKED, 0);
        w(&mut l, &mut mem, 0, reg::LVT_ERROR, 0x33);
        assert_ne!(r(&mut l, &mut mem, 0, reg::LVT_ERROR) & LVT_MASKED, 0);
        l.deliver(0x50, false);
        assert!(!l.interrupt_pending());
        w(&mut l, &mut mem, 0, reg::SVR, SVR_ENABLE | 0xFF);
        assert!(
            l.interrupt_pending(),
            "the held request is dispatched once enabled"
        );
    }

    #[test]
    fn illegal_vectors_are_refused_and_logged_in_esr_after_a_write() {
        // SDM 11.5.3: errors become visible only after a write to the ESR.
        let (mut l, mut mem) = setup();
        l.deliver(5, false);
        assert!(!l.interrupt_pending());
        assert_eq!(r(&mut l, &mut mem, 0, reg::ESR), 0, "not yet latched");
        w(&mut l, &mut mem, 0, reg::ESR, 0);
        assert_eq!(r(&mut l, &mut mem, 0, reg::ESR), ESR_RECEIVE_ILLEGAL_VECTOR);
        w(&mut l, &mut mem, 0, reg::ESR, 0);
        assert_eq!(r(&mut l, &mut mem, 0, reg::ESR), 0, "the write cleared it");
    }

    #[test]
    fn errors_raise_the_lvt_error_interrupt_once_until_esr_is_written() {
        // SDM 11.5.3: an ESR write rearms the error interrupt.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::LVT_ERROR, 0xFE);
        r(&mut l, &mut mem, 0, 0x0C); // the remote read register is gone: illegal address
        assert!(bit(&mut l, &mut mem, reg::IRR0, 0xFE));
        assert_eq!(l.ack(), 0xFE);
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        l.deliver(1, false);
        assert!(!l.interrupt_pending(), "not rearmed yet");
        w(&mut l, &mut mem, 0, reg::ESR, 0);
        assert_eq!(
            r(&mut l, &mut mem, 0, reg::ESR),
            ESR_ILLEGAL_REGISTER | ESR_RECEIVE_ILLEGAL_VECTOR
        );
        l.deliver(2, false);
        assert!(l.interrupt_pending(), "rearmed by the ESR write");
    }

    #[test]
    fn masked_error_lvt_logs_without_interrupt() {
        // The mask stops the interrupt, not the logging.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::LVT_ERROR, 0xFE | LVT_MASKED);
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0004_0003); // self IPI vector 3: illegal
        assert!(!l.interrupt_pending());
        w(&mut l, &mut mem, 0, reg::ESR, 0);
        assert_eq!(r(&mut l, &mut mem, 0, reg::ESR), ESR_SEND_ILLEGAL_VECTOR);
    }

    #[test]
    fn self_ipi_is_delivered_at_once_and_delivery_status_reads_idle() {
        // SDM 11.6.1: the self shorthand sends a fixed interrupt to this APIC.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0004_0077);
        assert_eq!(r(&mut l, &mut mem, 0, reg::ICR_LO) & LVT_DELIVERY_STATUS, 0);
        assert!(l.interrupt_pending());
        assert_eq!(l.ack(), 0x77);
        assert!(l.take_ipis().is_empty(), "a self IPI concerns no one else");
    }

    #[test]
    fn physical_ipi_to_own_id_is_local_and_init_sipi_are_recorded() {
        // A fixed IPI with this APIC's ID is accepted here; INIT and SIPI go to the board.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::ICR_HI, 0);
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0000_0088);
        assert_eq!(l.ack(), 0x88);
        assert!(l.take_ipis().is_empty());
        w(&mut l, &mut mem, 0, reg::ICR_HI, 1 << 24);
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0000_C500); // INIT assert, level, to APIC 1
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0000_0610); // SIPI, page 0x10
        let ipis = l.take_ipis();
        assert_eq!(ipis.len(), 2);
        assert_eq!(ipis[0].mode, DeliveryMode::Init);
        assert_eq!(ipis[0].dest, IpiDest::Physical(1));
        assert!(ipis[0].level && ipis[0].trigger_level);
        assert_eq!(ipis[1].mode, DeliveryMode::Startup);
        assert_eq!(ipis[1].vector, 0x10);
        assert!(!l.interrupt_pending());
    }

    #[test]
    fn broadcast_shorthands() {
        // All-including-self reaches this APIC and the others; all-excluding-self only others.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0008_0050);
        assert_eq!(l.ack(), 0x50);
        assert_eq!(l.take_ipis()[0].dest, IpiDest::AllIncludingSelf);
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x000C_0051);
        assert!(!l.interrupt_pending());
        assert_eq!(l.take_ipis()[0].dest, IpiDest::AllExcludingSelf);
        w(&mut l, &mut mem, 0, reg::ICR_LO, 0x0008_0400); // NMI to all including self
        assert!(l.take_nmi());
    }

    #[test]
    fn logical_destinations_flat_and_cluster() {
        // SDM 11.6.2.2: flat model ANDs the 8-bit mask; cluster matches cluster and members.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::LDR, 0x0400_0000);
        assert!(l.accepts(0x0C, true));
        assert!(!l.accepts(0x03, true));
        w(&mut l, &mut mem, 0, reg::DFR, 0x0FFF_FFFF);
        w(&mut l, &mut mem, 0, reg::LDR, 0x3200_0000);
        assert!(l.accepts(0x32, true));
        assert!(!l.accepts(0x22, true));
        assert!(l.accepts(0xFF, true));
        assert!(l.accepts(0, false) && !l.accepts(1, false));
    }

    #[test]
    fn lint0_extint_and_lint1_nmi_in_virtual_wire_mode() {
        // SDM 11.5.1: ExtINT is level-sensitive and bypasses IRR; NMI acts on the edge.
        let (mut l, mut mem) = setup();
        assert!(!l.extint_pending());
        l.set_virtual_wire();
        l.set_lint0(true);
        assert!(l.extint_pending());
        assert!(!l.interrupt_pending());
        l.set_lint0(false);
        assert!(!l.extint_pending());
        l.set_lint1(true);
        assert!(l.nmi_pending());
        assert!(l.take_nmi());
        l.set_lint1(true);
        assert!(!l.nmi_pending(), "no new edge, no new NMI");
        w(&mut l, &mut mem, 0, reg::LVT_LINT0, 0x700 | LVT_MASKED);
        l.set_lint0(true);
        assert!(!l.extint_pending(), "masked");
    }

    #[test]
    fn lint0_fixed_level_sets_remote_irr_until_eoi_then_redelivers() {
        // SDM 11.5.1: remote IRR is set on acceptance and cleared by the EOI.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::LVT_LINT0, 0x42 | LVT_LEVEL);
        l.set_lint0(true);
        assert_ne!(r(&mut l, &mut mem, 0, reg::LVT_LINT0) & LVT_REMOTE_IRR, 0);
        assert_eq!(l.ack(), 0x42);
        assert!(
            !l.interrupt_pending(),
            "still asserted, but remote IRR holds it"
        );
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert_eq!(l.take_eoi(), Some(0x42));
        assert_ne!(r(&mut l, &mut mem, 0, reg::LVT_LINT0) & LVT_REMOTE_IRR, 0);
        assert!(l.interrupt_pending(), "still asserted: delivered again");
        assert_eq!(l.ack(), 0x42);
        l.set_lint0(false);
        w(&mut l, &mut mem, 0, reg::EOI, 0);
        assert_eq!(r(&mut l, &mut mem, 0, reg::LVT_LINT0) & LVT_REMOTE_IRR, 0);
        assert!(!l.interrupt_pending());
    }

    #[test]
    fn lint_polarity_and_edge_fixed() {
        // Active-low LINT0: the falling pin is the asserting edge.
        let (mut l, mut mem) = setup();
        l.set_lint0(true);
        w(&mut l, &mut mem, 0, reg::LVT_LINT0, 0x44 | LVT_POLARITY_LOW);
        assert!(!l.interrupt_pending());
        l.set_lint0(false);
        assert_eq!(l.ack(), 0x44);
        l.set_lint0(true);
        assert!(!l.interrupt_pending());
    }

    #[test]
    fn globally_disabled_apic_is_absent_and_reenables_in_reset_state() {
        // SDM 11.4.3: with EN clear the processor acts as one without an APIC.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TPR, 0x20);
        assert!(l.apic_base_write(DEFAULT_BASE));
        assert!(!l.enabled());
        assert_eq!(
            r(&mut l, &mut mem, 0, reg::TPR),
            u32::MAX,
            "MMIO not claimed"
        );
        l.deliver(0x40, false);
        l.set_lint1(true);
        assert!(!l.interrupt_pending() && !l.nmi_pending() && !l.extint_pending());
        assert!(l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN));
        assert_eq!(r(&mut l, &mut mem, 0, reg::TPR), 0);
        assert_eq!(r(&mut l, &mut mem, 0, reg::SVR), 0xFF);
    }

    #[test]
    fn apic_base_transitions_follow_the_x2apic_state_diagram() {
        // SDM 11.12.5: EXTD without EN, x2APIC->xAPIC and disabled->x2APIC are #GP.
        let mut l = Lapic::new(0, true);
        assert!(!l.apic_base_write(DEFAULT_BASE | BASE_EXTD));
        assert!(
            !l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN | 1 << 9),
            "reserved bit"
        );
        assert!(l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN | BASE_EXTD));
        assert!(l.x2apic());
        assert!(
            !l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN),
            "x2APIC to xAPIC"
        );
        assert!(l.apic_base_write(DEFAULT_BASE));
        assert!(
            !l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN | BASE_EXTD),
            "off to x2APIC"
        );
        assert!(l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN));
        assert_eq!(l.apic_base() & APIC_BASE_BSP, APIC_BASE_BSP, "BSP is kept");
    }

    #[test]
    fn x2apic_msr_access_rules() {
        // SDM 11.12.1.2: MSRs only in x2APIC mode; reserved/RO/WO registers raise #GP.
        let mut l = Lapic::new(5, true);
        assert_eq!(l.msr_read(0, 0x802), None, "xAPIC mode");
        assert!(l.apic_base_write(DEFAULT_BASE | APIC_BASE_EN | BASE_EXTD));
        let mut mem = PhysMem::new(4096).unwrap();
        assert_eq!(
            r(&mut l, &mut mem, 0, reg::VERSION),
            u32::MAX,
            "no MMIO in x2APIC"
        );
        assert_eq!(l.msr_read(0, 0x802), Some(5), "32-bit x2APIC ID");
        assert_eq!(
            l.msr_read(0, 0x80D),
            Some(1 << 5),
            "LDR derived from the ID"
        );
        assert_eq!(l.msr_read(0, 0x803), Some(VERSION as u64));
        assert_eq!(l.msr_read(0, 0x809), None, "no APR");
        assert_eq!(l.msr_read(0, 0x80E), None, "no DFR");
        assert_eq!(l.msr_read(0, 0x80B), None, "EOI is write-only");
        assert_eq!(l.msr_read(0, 0x83F), None, "SELF IPI is write-only");
        assert_eq!(l.msr_read(0, 0x831), None, "no ICR high half");
        assert!(!l.msr_write(0, 0x802, 1), "ID is read-only");
        assert!(!l.msr_write(0, 0x80D, 1), "LDR is read-only");
        assert!(!l.msr_write(0, 0x808, 1 << 32), "upper half reserved");
        assert!(!l.msr_write(0, 0x80B, 1), "EOI takes only zero");
        assert!(!l.msr_write(0, 0x828, 1), "ESR takes only zero");
        assert!(l.msr_write(0, 0x808, 0x20));
        assert_eq!(l.msr_read(0, 0x808), Some(0x20));
        assert!(l.msr_write(0, 0x80F, 0x1FF));
        // SELF IPI and the 64-bit ICR.
        assert!(l.msr_write(0, 0x83F, 0x61));
        assert_eq!(l.ack(), 0x61);
        assert!(l.msr_write(0, 0x80B, 0));
        assert!(!l.msr_write(0, 0x830, 1 << 20 | 0x62), "reserved ICR bit");
        assert!(l.msr_write(0, 0x830, 5u64 << 32 | 0x62));
        assert_eq!(l.msr_read(0, 0x830), Some(5u64 << 32 | 0x62));
        assert!(l.interrupt_pending());
        assert!(l.msr_write(0, 0x830, 0x00_0162), "lowest priority");
        assert!(l.msr_write(0, 0x828, 0));
        assert_eq!(l.msr_read(0, 0x828), Some(ESR_REDIRECTABLE_IPI as u64));
        assert!(l.msr_write(0, 0x80B, 0));
    }

    #[test]
    fn one_shot_timer_counts_at_the_divided_bus_clock() {
        // SDM 11.5.4: the count drops by one every `divide` bus clocks and stops at zero.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TIMER_DIVIDE, 0x3); // divide by 16
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 0x40);
        w(&mut l, &mut mem, 1000, reg::TIMER_INITIAL, 100);
        assert_eq!(l.deadline(), Some(1000 + 1600));
        assert_eq!(r(&mut l, &mut mem, 1000, reg::TIMER_CURRENT), 100);
        assert_eq!(r(&mut l, &mut mem, 1015, reg::TIMER_CURRENT), 100);
        assert_eq!(r(&mut l, &mut mem, 1016, reg::TIMER_CURRENT), 99);
        assert_eq!(r(&mut l, &mut mem, 2599, reg::TIMER_CURRENT), 1);
        l.tick(2599);
        assert!(!l.interrupt_pending());
        l.tick(2600);
        assert_eq!(l.ack(), 0x40);
        assert_eq!(r(&mut l, &mut mem, 2600, reg::TIMER_CURRENT), 0);
        assert_eq!(l.deadline(), None, "one-shot stays at zero");
    }

    #[test]
    fn every_divide_value() {
        // SDM Figure 11-10: 000=2 001=4 010=8 011=16 1000=32 1001=64 1010=128 1011=1.
        let (mut l, mut mem) = setup();
        for (code, div) in [
            (0x0, 2),
            (0x1, 4),
            (0x2, 8),
            (0x3, 16),
            (0x8, 32),
            (0x9, 64),
            (0xA, 128),
            (0xB, 1),
        ] {
            w(&mut l, &mut mem, 0, reg::TIMER_DIVIDE, code);
            assert_eq!(r(&mut l, &mut mem, 0, reg::TIMER_DIVIDE), code);
            w(&mut l, &mut mem, 0, reg::TIMER_INITIAL, 10);
            assert_eq!(l.deadline(), Some(10 * div), "divide code {code:#x}");
        }
    }

    #[test]
    fn periodic_timer_reloads_and_masked_timer_still_counts() {
        // SDM 11.5.4: periodic mode reloads the initial count at zero; the mask stops only
        // the interrupt.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TIMER_DIVIDE, 0xB);
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 1 << 17 | 0x41);
        w(&mut l, &mut mem, 0, reg::TIMER_INITIAL, 1000);
        l.tick(1000);
        assert_eq!(l.ack(), 0x41);
        w(&mut l, &mut mem, 1000, reg::EOI, 0);
        assert_eq!(r(&mut l, &mut mem, 1000, reg::TIMER_CURRENT), 1000);
        assert_eq!(r(&mut l, &mut mem, 1250, reg::TIMER_CURRENT), 750);
        assert_eq!(l.deadline(), Some(2000));
        // A late tick catches up by whole periods with one interrupt.
        l.tick(3500);
        assert_eq!(l.deadline(), Some(4000));
        assert_eq!(r(&mut l, &mut mem, 3500, reg::TIMER_CURRENT), 500);
        assert_eq!(l.ack(), 0x41);
        w(&mut l, &mut mem, 3500, reg::EOI, 0);
        w(
            &mut l,
            &mut mem,
            3500,
            reg::LVT_TIMER,
            1 << 17 | 0x41 | LVT_MASKED,
        );
        l.tick(4000);
        assert!(!l.interrupt_pending());
        assert_eq!(r(&mut l, &mut mem, 4100, reg::TIMER_CURRENT), 900);
        // Writing zero stops it.
        w(&mut l, &mut mem, 4100, reg::TIMER_INITIAL, 0);
        assert_eq!(l.deadline(), None);
        assert_eq!(r(&mut l, &mut mem, 4100, reg::TIMER_CURRENT), 0);
    }

    #[test]
    fn changing_divide_keeps_the_count_and_changes_the_rate() {
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TIMER_DIVIDE, 0xB);
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 0x40);
        w(&mut l, &mut mem, 0, reg::TIMER_INITIAL, 1000);
        w(&mut l, &mut mem, 400, reg::TIMER_DIVIDE, 0x0); // now divide by 2
        assert_eq!(r(&mut l, &mut mem, 400, reg::TIMER_CURRENT), 600);
        assert_eq!(l.deadline(), Some(400 + 1200));
    }

    #[test]
    fn periodic_to_one_shot_runs_to_zero_and_stops() {
        // A mode change between one-shot and periodic leaves the count running.
        let (mut l, mut mem) = setup();
        w(&mut l, &mut mem, 0, reg::TIMER_DIVIDE, 0xB);
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 1 << 17 | 0x40);
        w(&mut l, &mut mem, 0, reg::TIMER_INITIAL, 100);
        w(&mut l, &mut mem, 250, reg::LVT_TIMER, 0x40);
        assert_eq!(r(&mut l, &mut mem, 250, reg::TIMER_CURRENT), 50);
        l.tick(300);
        assert_eq!(r(&mut l, &mut mem, 300, reg::TIMER_CURRENT), 0);
        assert_eq!(l.deadline(), None);
    }

    #[test]
    fn tsc_deadline_mode_fires_once_at_the_deadline_and_clears_it() {
        // SDM 11.5.4.1: the interrupt comes when the TSC reaches the MSR; the MSR reads 0
        // afterwards; the initial count is ignored and the current count reads 0.
        let (mut l, mut mem) = setup();
        l.set_tsc_deadline(5000);
        assert_eq!(l.tsc_deadline(), 0, "ignored outside TSC-deadline mode");
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 2 << 17 | 0x50);
        w(&mut l, &mut mem, 0, reg::TIMER_INITIAL, 100);
        assert_eq!(r(&mut l, &mut mem, 0, reg::TIMER_INITIAL), 0);
        l.set_tsc_offset(1000); // TSC = ns + 1000
        l.set_tsc_deadline(5000);
        assert_eq!(l.tsc_deadline(), 5000);
        assert_eq!(l.deadline(), Some(4000));
        l.tick(3999);
        assert!(!l.interrupt_pending());
        assert_eq!(r(&mut l, &mut mem, 3999, reg::TIMER_CURRENT), 0);
        l.tick(4000);
        assert_eq!(l.ack(), 0x50);
        assert_eq!(l.tsc_deadline(), 0);
        assert_eq!(l.deadline(), None);
        // A write of zero disarms; leaving the mode disarms too.
        l.set_tsc_deadline(9000);
        l.set_tsc_deadline(0);
        assert_eq!(l.deadline(), None);
        l.set_tsc_deadline(9000);
        w(&mut l, &mut mem, 0, reg::LVT_TIMER, 0x50);
        assert_eq!(l.deadline(), None);
        assert_eq!(l.tsc_deadline(), 0);
    }

    #[test]
    fn mmio_is_dword_registers_on_16_byte_slots() {
        // SDM 11.4.1: registers are 32 bits at 16-byte alignment; narrow writes are ignored.
        let (mut l, mut mem) = setup();
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut mem,
        };
        l.mmio_write(&mut ctx, 0x80, 1, 0x30);
        assert_eq!(l.mmio_read(&mut ctx, 0x80, 4), 0);
        l.mmio_write(&mut ctx, 0x80, 4, 0x30);
        assert_eq!(l.mmio_read(&mut ctx, 0x80, 1), 0x30);
        assert_eq!(l.mmio_read(&mut ctx, 0x84, 4), 0);
        assert_eq!(l.mmio_read(&mut ctx, 0x32, 1), 0x05, "byte 2 of VERSION");
    }
}
