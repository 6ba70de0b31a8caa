//! `lapic.elf`: the local APIC timer in its three modes (SDM Vol. 3A 11.5.4). The kernel
//! checks that CPUID reports an APIC, x2APIC and TSC-deadline support and that
//! IA32_APIC_BASE holds the default base with EN and BSP; then, through the xAPIC registers
//! at 0xFEE00000,
//! - one-shot at divide-by-16: one interrupt 62500 × 16 bus clocks (1 ms at the 1 GHz bus)
//!   after the initial count is written, the current count counting down and then 0;
//! - periodic at divide-by-1: ten periods of 0.5 ms;
//!
//! and, after switching to x2APIC mode (the MMIO page then reads all ones; the registers are
//! MSRs 0x800 and up), TSC-deadline mode: one interrupt when the TSC passes
//! IA32_TSC_DEADLINE, which then reads 0; at once for a deadline already past; never for one
//! cleared before it came. Each on its own vector.

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel};
use super::irq::{
    self, check_interval, check_ticks, handler, lapic_eoi, lapic_write, reset, tick, wait, LAPIC,
};
use super::rt::{self, var, Out, Rt, CODE, R};

/// Slots of the three modes' interrupts.
const ONE_SHOT: u64 = 20;
const PERIODIC: u64 = ONE_SHOT + irq::SLOT;
const DEADLINE: u64 = PERIODIC + irq::SLOT;
/// Slot of the PIT interrupts that show a cleared deadline stayed quiet.
const WITNESS: u64 = DEADLINE + irq::SLOT;
/// The TSC when the one-shot count was written; the deadline.
const ARMED: u64 = 100;
/// The current count read right after arming.
const CCR_EARLY: u64 = 101;

/// xAPIC register offsets (SDM Vol. 3A table 11-1).
const ID: u32 = 0x20;
const VERSION: u32 = 0x30;
const SVR: u32 = 0xF0;
const LVT_TIMER: u32 = 0x320;
const INITIAL_COUNT: u32 = 0x380;
const CURRENT_COUNT: u32 = 0x390;
const DIVIDE: u32 = 0x3E0;

fn reg(offset: u32) -> AsmMemoryOperand {
    dword_ptr(LAPIC as u64 + offset as u64)
}

/// Builds `lapic.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.print("lapic: the local APIC timer\n")?;
        r.pic_init(0x20, 0x28)?;
        identify(r)?;
        one_shot(r)?;
        periodic(r)?;
        tsc_deadline(r)?;
        // Nothing fired twice: the one-shot timer stayed quiet after its interrupt.
        r.check_eq(
            dword_ptr(var(ONE_SHOT)),
            1,
            "one-shot interrupts in the whole run",
        )?;
        r.pass("lapic")
    })?;
    Ok(Kernel::new(false, Boot::Plain, code).build())
}

fn identify(r: &mut Rt) -> R {
    r.mov(eax, 1)?;
    r.cpuid()?;
    r.and(edx, 1 << 9)?;
    r.check_eq(edx, 1 << 9, "CPUID.01H:EDX.APIC")?;
    r.mov(eax, ecx)?;
    r.and(eax, 1 << 21)?;
    r.check_eq(eax, 1 << 21, "CPUID.01H:ECX.x2APIC")?;
    r.and(ecx, 1 << 24)?;
    r.check_eq(ecx, 1 << 24, "CPUID.01H:ECX.TSC-Deadline")?;
    r.mov(ecx, 0x1B)?;
    r.rdmsr()?;
    r.check_eq(
        eax,
        0xFEE0_0900u32,
        "IA32_APIC_BASE: base 0xFEE00000, EN, BSP, not EXTD",
    )?;
    r.check_eq(reg(ID), 0, "APIC ID register")?;
    r.mov(eax, reg(VERSION))?;
    r.and(eax, 0xF0)?;
    r.check_eq(eax, 0x10, "APIC version: an integrated APIC (0x1X)")?;
    r.print("CPUID: APIC, x2APIC, TSC-deadline; xAPIC at 0xFEE00000, ID 0\n")?;
    // Software-enable the APIC; spurious vector 0xFF.
    lapic_write(r, SVR, 0x1FF)
}

fn one_shot(r: &mut Rt) -> R {
    let h = handler(r, ONE_SHOT, lapic_eoi)?;
    r.set_gate(0x40, h)?;
    reset(r, ONE_SHOT)?;
    lapic_write(r, DIVIDE, 0x3)?; // divide by 16
    lapic_write(r, LVT_TIMER, 0x40)?; // one-shot, vector 0x40
    r.rdtsc()?;
    r.mov(dword_ptr(var(ARMED)), eax)?;
    lapic_write(r, INITIAL_COUNT, 62_500)?;
    r.mov(eax, reg(CURRENT_COUNT))?;
    r.mov(dword_ptr(var(CCR_EARLY)), eax)?;
    wait(r, ONE_SHOT, 1)?;
    r.check_range(
        dword_ptr(var(CCR_EARLY)),
        62_000,
        62_500,
        "current count right after arming",
    )?;
    r.check_eq(
        reg(CURRENT_COUNT),
        0,
        "current count after the one-shot interrupt",
    )?;
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(ONE_SHOT, 0))?;
            r.sub(eax, dword_ptr(var(ARMED)))
        },
        1_000_000,
        irq::TOLERANCE_PPM,
        "one-shot, vector 0x40: 62500 counts at divide-by-16",
    )
}

fn periodic(r: &mut Rt) -> R {
    let h = handler(r, PERIODIC, lapic_eoi)?;
    r.set_gate(0x41, h)?;
    reset(r, PERIODIC)?;
    lapic_write(r, DIVIDE, 0xB)?; // divide by 1
    lapic_write(r, LVT_TIMER, 1 << 17 | 0x41)?; // periodic, vector 0x41
    lapic_write(r, INITIAL_COUNT, 500_000)?;
    wait(r, PERIODIC, 11)?;
    lapic_write(r, LVT_TIMER, 1 << 16)?; // masked
    lapic_write(r, INITIAL_COUNT, 0)?; // stopped
    check_ticks(
        r,
        PERIODIC,
        0,
        10,
        5_000_000,
        "periodic, vector 0x41: 10 periods of 500000 counts",
    )
}

fn tsc_deadline(r: &mut Rt) -> R {
    // x2APIC mode: IA32_APIC_BASE.EXTD (SDM Vol. 3A 11.12.1).
    r.mov(ecx, 0x1B)?;
    r.rdmsr()?;
    r.or(eax, 1 << 10)?;
    r.wrmsr()?;
    r.check_eq(
        reg(VERSION),
        0xFFFF_FFFFu32,
        "the xAPIC page in x2APIC mode",
    )?;
    r.mov(ecx, 0x802)?;
    r.rdmsr()?;
    r.check_eq(eax, 0, "x2APIC ID (MSR 0x802)")?;
    r.mov(ecx, 0x80F)?;
    r.rdmsr()?;
    r.check_eq(eax, 0x1FF, "x2APIC SVR (MSR 0x80F) kept across the switch")?;
    r.print("x2APIC mode: registers are MSRs, the MMIO page is gone\n")?;

    let h = handler(r, DEADLINE, |r| {
        r.mov(ecx, 0x80B)?; // EOI
        r.xor(eax, eax)?;
        r.xor(edx, edx)?;
        r.wrmsr()
    })?;
    r.set_gate(0x42, h)?;
    reset(r, DEADLINE)?;
    r.mov(ecx, 0x832)?; // LVT timer: TSC-deadline mode, vector 0x42
    r.mov(eax, 2 << 17 | 0x42)?;
    r.xor(edx, edx)?;
    r.wrmsr()?;
    r.rdtsc()?;
    r.add(eax, 2_000_000)?;
    r.adc(edx, 0)?;
    r.mov(dword_ptr(var(ARMED)), eax)?;
    r.mov(ecx, 0x6E0)?; // IA32_TSC_DEADLINE
    r.wrmsr()?;
    wait(r, DEADLINE, 1)?;
    r.mov(ecx, 0x6E0)?;
    r.rdmsr()?;
    r.check_eq(eax, 0, "IA32_TSC_DEADLINE after it fired")?;
    r.mov(eax, tick(DEADLINE, 0))?;
    r.sub(eax, dword_ptr(var(ARMED)))?;
    r.print("TSC-deadline, vector 0x42: the interrupt came ")?;
    r.print_dec(eax, 0)?;
    r.print(" ns after the deadline\n")?;
    // Unsigned: an interrupt before the deadline wraps around and fails too.
    r.check_range(
        eax,
        0,
        1000,
        "TSC-deadline interrupt time minus the deadline (ns)",
    )?;
    deadline_edge_cases(r)
}

/// A deadline already past fires at once; one cleared before it comes never fires (the
/// PIT, through the 8259 and LINT0, wakes the CPU after it would have).
fn deadline_edge_cases(r: &mut Rt) -> R {
    r.rdtsc()?;
    r.mov(dword_ptr(var(ARMED)), eax)?;
    r.sub(eax, 1000)?;
    r.sbb(edx, 0)?;
    r.mov(ecx, 0x6E0)?;
    r.wrmsr()?;
    wait(r, DEADLINE, 2)?;
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(DEADLINE, 1))?;
            r.sub(eax, dword_ptr(var(ARMED)))
        },
        500,
        1_000_000,
        "TSC-deadline in the past: the interrupt came after writing it",
    )?;

    let h = handler(r, WITNESS, |r| r.outb(0x20, 0x20))?;
    r.set_gate(0x20, h)?;
    reset(r, WITNESS)?;
    r.rdtsc()?;
    r.add(eax, 500_000)?;
    r.adc(edx, 0)?;
    r.mov(ecx, 0x6E0)?;
    r.wrmsr()?;
    r.xor(eax, eax)?;
    r.xor(edx, edx)?;
    r.wrmsr()?; // disarmed
    irq::pit_rate(r, 2 * 1193)?;
    r.outb(0x21, 0xFE)?;
    wait(r, WITNESS, 1)?;
    r.outb(0x21, 0xFF)?;
    irq::pit_stop(r)?;
    r.check_eq(
        dword_ptr(var(DEADLINE)),
        2,
        "TSC-deadline interrupts after clearing one",
    )?;
    r.print("TSC-deadline: a past deadline fires at once, a cleared one never\n")
}
