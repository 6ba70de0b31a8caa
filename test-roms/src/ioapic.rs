//! `ioapic.elf`: interrupts through the I/O APIC (82093AA; IA-PC HPET 1.0a), with both 8259s
//! masked. The kernel checks the I/O APIC's version and 24 entries, then takes
//! - PIT counter 0 at about 1 kHz on pin 2 (ISA IRQ 0's input, as the MADT override says):
//!   ten periods of 1193 PIT clocks;
//! - HPET timer 2, periodic and level-triggered, on pin 20 (one its route capability
//!   offers): ten periods of 1 ms; the entry's remote IRR set inside the handler, which
//!   clears the timer's status bit before the EOI; the main counter at 100 MHz against the
//!   TSC;
//! - the HPET in legacy replacement mode: timer 0 periodic on pin 2 with the PIT still
//!   running at 4 kHz, which must no longer reach pin 2 (ten periods of 0.5 ms exactly),
//!   and timer 1 one-shot on pin 8 (the RTC's input) 200 µs after it is armed; then timer 0
//!   through the 8259's IRQ 0 (and the local APIC's LINT0 virtual wire) with the I/O APIC
//!   pins masked.

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel};
use super::irq::{
    self, check_interval, check_ticks, handler, ioapic_read, ioapic_route, lapic_eoi, lapic_write,
    reset, tick, wait, HPET,
};
use super::rt::{self, var, Out, Rt, CODE, R};

/// Slots.
const PIT: u64 = 20;
const HPET2: u64 = PIT + irq::SLOT;
const LEGACY0: u64 = HPET2 + irq::SLOT;
const LEGACY1: u64 = LEGACY0 + irq::SLOT;
const LEGACY_PIC: u64 = LEGACY1 + irq::SLOT;
/// Entry 20's low dword inside the first HPET interrupt.
const REMOTE_IRR: u64 = 100;
/// TSC when the HPET was enabled / timer 1 armed.
const T_ENABLE: u64 = 101;
const T_ARM: u64 = 102;

/// HPET registers.
const GCAP: u64 = 0x000;
const GEN_CONF: u64 = 0x010;
const GINTR_STA: u64 = 0x020;
const MAIN_CNT: u64 = 0x0F0;
const fn timer_conf(n: u64) -> u64 {
    0x100 + 0x20 * n
}
const fn timer_cmp(n: u64) -> u64 {
    0x108 + 0x20 * n
}
const ENABLE: u32 = 1;
const LEG_RT: u32 = 2;
const TN_LEVEL: u32 = 1 << 1;
const TN_ENB: u32 = 1 << 2;
const TN_PERIODIC: u32 = 1 << 3;
const TN_VAL_SET: u32 = 1 << 6;

fn hpet(offset: u64) -> AsmMemoryOperand {
    dword_ptr(HPET as u64 + offset)
}

/// Redirection entry bits: level-triggered, masked.
const LEVEL: u32 = 1 << 15;
const MASKED: u32 = 1 << 16;

/// Builds `ioapic.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.print("ioapic: PIT and HPET through the I/O APIC, HPET legacy replacement\n")?;
        r.pic_init(0x20, 0x28)?; // and leave every line masked
        lapic_write(r, 0xF0, 0x1FF)?; // software-enable the local APIC
        identify(r)?;
        pit(r)?;
        hpet_periodic(r)?;
        hpet_legacy(r)?;
        r.pass("ioapic")
    })?;
    Ok(Kernel::new(false, Boot::Plain, code).build())
}

fn identify(r: &mut Rt) -> R {
    ioapic_read(r, 1)?;
    r.mov(edx, eax)?;
    r.and(eax, 0xFF)?;
    r.check_eq(eax, 0x20, "I/O APIC version")?;
    r.shr(edx, 16)?;
    r.and(edx, 0xFF)?;
    r.check_eq(edx, 23, "I/O APIC maximum redirection entry")?;
    ioapic_read(r, 0x10 + 2 * 2)?;
    r.and(eax, MASKED)?;
    r.check_eq(eax, MASKED, "redirection entry 2 masked after reset")?;
    r.print("I/O APIC: version 0x20, 24 entries, masked at reset\n")
}

fn pit(r: &mut Rt) -> R {
    let h = handler(r, PIT, lapic_eoi)?;
    r.set_gate(0x50, h)?;
    reset(r, PIT)?;
    ioapic_route(r, 2, 0x50)?; // fixed, physical, edge, active high
    irq::pit_rate(r, 1193)?;
    wait(r, PIT, 11)?;
    ioapic_route(r, 2, MASKED)?;
    irq::pit_stop(r)?;
    check_ticks(
        r,
        PIT,
        0,
        10,
        10 * irq::pit_ns(1193),
        "PIT on I/O APIC pin 2, vector 0x50: 10 periods of 1193 clocks",
    )
}

fn hpet_periodic(r: &mut Rt) -> R {
    r.check_eq(
        hpet(GCAP + 4),
        10_000_000,
        "HPET COUNTER_CLK_PERIOD: 10 ns (fs)",
    )?;
    r.mov(eax, hpet(GCAP))?;
    r.and(eax, 1 << 15 | 0x1F << 8)?;
    r.check_eq(
        eax,
        1 << 15 | 2 << 8,
        "HPET LEG_RT_CAP and NUM_TIM_CAP (3 timers)",
    )?;
    r.mov(eax, hpet(timer_conf(2) + 4))?;
    r.and(eax, 1 << 20)?;
    r.check_eq(eax, 1 << 20, "HPET timer 2 route capability: pin 20")?;
    r.mov(eax, hpet(timer_conf(2)))?;
    r.and(eax, 1 << 4)?;
    r.check_eq(eax, 1 << 4, "HPET timer 2 periodic capability")?;

    let h = handler(r, HPET2, |r| {
        let mut later = r.label();
        r.cmp(dword_ptr(var(HPET2)), 1)?;
        r.jne(later)?;
        ioapic_read(r, 0x10 + 2 * 20)?;
        r.mov(dword_ptr(var(REMOTE_IRR)), eax)?;
        r.set(&mut later)?;
        // Level-triggered: clear the status bit (write 1) before the EOI, or the line
        // stays high and the entry fires again.
        r.mov(hpet(GINTR_STA), 1 << 2)?;
        lapic_eoi(r)
    })?;
    r.set_gate(0x51, h)?;
    reset(r, HPET2)?;
    ioapic_route(r, 20, LEVEL | 0x51)?;
    r.mov(
        hpet(timer_conf(2)),
        TN_LEVEL | TN_ENB | TN_PERIODIC | TN_VAL_SET | 20 << 9,
    )?;
    // The counter is halted at 0: the first match at 1 ms, then every 1 ms.
    r.mov(hpet(timer_cmp(2)), 100_000)?;
    r.mov(hpet(timer_cmp(2) + 4), 0)?;
    r.rdtsc()?;
    r.mov(dword_ptr(var(T_ENABLE)), eax)?;
    r.mov(hpet(GEN_CONF), ENABLE)?;
    wait(r, HPET2, 11)?;
    r.mov(hpet(timer_conf(2)), 0)?;
    ioapic_route(r, 20, MASKED)?;
    check_ticks(
        r,
        HPET2,
        0,
        10,
        10_000_000,
        "HPET timer 2 on pin 20 (level), vector 0x51: 10 periods of 100000 ticks",
    )?;
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(HPET2, 0))?;
            r.sub(eax, dword_ptr(var(T_ENABLE)))
        },
        1_000_000,
        irq::TOLERANCE_PPM,
        "HPET timer 2: first interrupt after enabling the counter",
    )?;
    r.mov(eax, dword_ptr(var(REMOTE_IRR)))?;
    r.and(eax, 1 << 14 | LEVEL | 0xFF)?;
    r.check_eq(
        eax,
        1 << 14 | LEVEL | 0x51,
        "entry 20 in the handler: remote IRR, level, vector",
    )?;
    ioapic_read(r, 0x10 + 2 * 20)?;
    r.and(eax, 1 << 14)?;
    r.check_eq(eax, 0, "entry 20 remote IRR after the EOI")?;
    // The main counter keeps 100 MHz against the TSC: counter * 10 - (TSC - enable time).
    check_interval(
        r,
        |r| {
            r.rdtsc()?;
            r.sub(eax, dword_ptr(var(T_ENABLE)))?;
            r.mov(ecx, eax)?;
            r.mov(eax, hpet(MAIN_CNT))?;
            r.imul_3(eax, eax, 10)?;
            r.sub(eax, ecx)?;
            r.add(eax, 1000)
        },
        1000,
        1_000_000,
        "HPET main counter * 10 ns minus TSC time since enabling, plus 1000",
    )
}

fn hpet_legacy(r: &mut Rt) -> R {
    let h0 = handler(r, LEGACY0, lapic_eoi)?;
    r.set_gate(0x52, h0)?;
    let h1 = handler(r, LEGACY1, lapic_eoi)?;
    r.set_gate(0x53, h1)?;
    reset(r, LEGACY0)?;
    reset(r, LEGACY1)?;
    // The PIT runs at 4 kHz: legacy replacement must keep it off pin 2.
    irq::pit_rate(r, 298)?;
    r.mov(hpet(GEN_CONF), ENABLE | LEG_RT)?;
    ioapic_route(r, 2, 0x52)?;
    ioapic_route(r, 8, 0x53)?;
    // Timer 0 periodic every 0.5 ms from now (HPET spec 2.3.9.2.3: VAL_SET, then the
    // comparator, then the period).
    r.mov(hpet(timer_conf(0)), TN_ENB | TN_PERIODIC | TN_VAL_SET)?;
    r.mov(eax, hpet(MAIN_CNT))?;
    r.add(eax, 50_000)?;
    r.mov(hpet(timer_cmp(0)), eax)?;
    r.mov(hpet(timer_cmp(0) + 4), 0)?;
    r.mov(hpet(timer_cmp(0)), 50_000)?;
    wait(r, LEGACY0, 11)?;
    r.mov(hpet(timer_conf(0)), 0)?;
    irq::pit_stop(r)?;
    check_ticks(
        r,
        LEGACY0,
        0,
        10,
        5_000_000,
        "HPET legacy timer 0 on pin 2, vector 0x52: 10 periods of 50000 ticks",
    )?;
    // Timer 1 one-shot, 200 µs from now, on pin 8.
    r.mov(hpet(timer_conf(1)), TN_ENB)?;
    r.rdtsc()?;
    r.mov(dword_ptr(var(T_ARM)), eax)?;
    r.mov(eax, hpet(MAIN_CNT))?;
    r.add(eax, 20_000)?;
    r.mov(hpet(timer_cmp(1)), eax)?;
    r.mov(hpet(timer_cmp(1) + 4), 0)?;
    wait(r, LEGACY1, 1)?;
    r.mov(hpet(timer_conf(1)), 0)?;
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(LEGACY1, 0))?;
            r.sub(eax, dword_ptr(var(T_ARM)))
        },
        200_000,
        10_000,
        "HPET legacy timer 1 on pin 8, vector 0x53: one-shot 20000 ticks after arming",
    )?;
    r.check_eq(
        dword_ptr(var(LEGACY0)),
        11,
        "legacy timer 0 interrupts (no extra ones)",
    )?;
    hpet_legacy_pic(r)
}

/// Legacy replacement routes timer 0 to the 8259's IRQ 0 too: with pin 2 masked and IRQ 0
/// unmasked, its interrupts come through the 8259 and the local APIC's LINT0 (ExtINT).
fn hpet_legacy_pic(r: &mut Rt) -> R {
    let h = handler(r, LEGACY_PIC, |r| r.outb(0x20, 0x20))?;
    r.set_gate(0x20, h)?;
    reset(r, LEGACY_PIC)?;
    ioapic_route(r, 2, MASKED)?;
    ioapic_route(r, 8, MASKED)?;
    r.mov(hpet(timer_conf(0)), TN_ENB | TN_PERIODIC | TN_VAL_SET)?;
    r.mov(eax, hpet(MAIN_CNT))?;
    r.add(eax, 100_000)?;
    r.mov(hpet(timer_cmp(0)), eax)?;
    r.mov(hpet(timer_cmp(0) + 4), 0)?;
    r.mov(hpet(timer_cmp(0)), 100_000)?;
    r.outb(0x21, 0xFE)?;
    wait(r, LEGACY_PIC, 6)?;
    r.outb(0x21, 0xFF)?;
    r.mov(hpet(timer_conf(0)), 0)?;
    r.mov(hpet(GEN_CONF), 0)?;
    check_ticks(
        r,
        LEGACY_PIC,
        0,
        5,
        5_000_000,
        "HPET legacy timer 0 through the 8259's IRQ 0, vector 0x20: 5 periods of 100000 ticks",
    )
}
