//! `pic.elf`: interrupts through the 8259A pair. The kernel reprograms both PICs (vectors
//! 0x20 and 0x28), then takes
//! - PIT counter 0 in mode 2 at about 1 kHz on IRQ 0: the first interrupt one period after
//!   programming, ten periods in 10 × 1193 PIT clocks of TSC, IRQ 0 in service (ISR read with
//!   OCW3) inside the handler and not after the EOI;
//! - the RTC's periodic interrupt on IRQ 8 through the slave and the cascade, at two rates
//!   chosen with register A's rate select (1024 Hz and 8192 Hz), register C reporting IRQF
//!   and PF in the handler (the first interrupt of each run may be one the 8259 latched
//!   while masked, when setting PIE raised IRQF at once: periods count from the second);
//! - counter 2 gated and polled through port 0x61, as Linux calibrates the TSC;
//! - the RTC's update-ended interrupt, a second apart, the seconds register one further.

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel};
use super::irq::{self, check_interval, check_ticks, handler, reset, tick, wait};
use super::rt::{self, var, Out, Rt, CODE, R};

/// Slot of the PIT's interrupts.
const PIT: u64 = 20;
/// Slot of the RTC's interrupts.
const RTC: u64 = PIT + irq::SLOT;
/// The RTC's register C as the second interrupt of a run saw it.
const RTC_C: u64 = 100;
/// The master's ISR inside the first PIT interrupt, and after its EOI.
const ISR_IN: u64 = 101;
const ISR_AFTER: u64 = 102;
/// The TSC when the PIT was programmed.
const PIT_START: u64 = 103;
/// PIT count for about 1 kHz.
const PIT_COUNT: u16 = 1193;

/// Builds `pic.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.print("pic: PIT and RTC interrupts through the 8259A pair\n")?;
        r.pic_init(0x20, 0x28)?;
        pit(r)?;
        pit_counter2(r)?;
        rtc(r)?;
        rtc_update(r)?;
        r.pass("pic")
    })?;
    Ok(Kernel::new(false, Boot::Plain, code).build())
}

fn pit(r: &mut Rt) -> R {
    let h = handler(r, PIT, |r| {
        // OCW3: read the ISR, inside the handler and after the EOI (first interrupt only).
        let mut later = r.label();
        r.cmp(dword_ptr(var(PIT)), 1)?;
        r.jne(later)?;
        r.outb(0x20, 0x0B)?;
        r.in_(al, 0x20)?;
        r.mov(byte_ptr(var(ISR_IN)), al)?;
        r.outb(0x20, 0x20)?;
        r.in_(al, 0x20)?;
        r.mov(byte_ptr(var(ISR_AFTER)), al)?;
        r.outb(0x20, 0x0A)?; // back to reading the IRR
        let mut done = r.label();
        r.jmp(done)?;
        r.set(&mut later)?;
        r.outb(0x20, 0x20)?; // non-specific EOI
        r.set(&mut done)
    })?;
    r.set_gate(0x20, h)?;
    reset(r, PIT)?;
    irq::pit_rate(r, PIT_COUNT)?;
    r.rdtsc()?;
    r.mov(dword_ptr(var(PIT_START)), eax)?;
    r.outb(0x21, 0xFE)?; // unmask IRQ 0
    wait(r, PIT, 11)?;
    r.outb(0x21, 0xFF)?;
    irq::pit_stop(r)?;
    let period = irq::pit_ns(PIT_COUNT as u64);
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(PIT, 0))?;
            r.sub(eax, dword_ptr(var(PIT_START)))
        },
        period,
        10_000,
        "PIT IRQ 0 (vector 0x20): first interrupt after programming",
    )?;
    check_ticks(
        r,
        PIT,
        0,
        10,
        10 * period,
        "PIT IRQ 0: 10 periods of 1193 clocks",
    )?;
    r.check_u8(ptr(var(ISR_IN)), 1, "master ISR inside the IRQ 0 handler")?;
    r.check_u8(ptr(var(ISR_AFTER)), 0, "master ISR after the EOI")
}

/// Writes `value` to RTC register `index`.
fn cmos_write(r: &mut Rt, index: u8, value: impl Fn(&mut Rt) -> R) -> R {
    r.outb(0x70, index)?;
    r.in_(al, 0x71)?;
    value(r)?;
    r.out(0x71, al)
}

fn rtc(r: &mut Rt) -> R {
    let h = handler(r, RTC, |r| {
        // Register C: reading it acknowledges the interrupt (IRQF and the flags clear).
        r.outb(0x70, 0x0C)?;
        r.in_(al, 0x71)?;
        let mut later = r.label();
        r.cmp(dword_ptr(var(RTC)), 2)?;
        r.jne(later)?;
        r.mov(byte_ptr(var(RTC_C)), al)?;
        r.set(&mut later)?;
        r.outb(0xA0, 0x20)?; // EOI to the slave, then the master (the cascade)
        r.outb(0x20, 0x20)
    })?;
    r.set_gate(0x28, h)?;
    for (rs, hz) in [(6u8, 1024u64), (3, 8192)] {
        reset(r, RTC)?;
        r.mov(dword_ptr(var(RTC_C)), 0)?;
        // Register A: keep the divider, set the rate select; register B: PIE.
        cmos_write(r, 0x0A, |r| {
            r.and(al, 0xF0)?;
            r.or(al, rs as u32)
        })?;
        cmos_write(r, 0x0B, |r| r.or(al, 0x40))?;
        r.outb(0x70, 0x0C)?;
        r.in_(al, 0x71)?;
        r.outb(0xA1, 0xFE)?; // unmask IRQ 8
        r.outb(0x21, 0xFB)?; // and the cascade, IRQ 2
                             // The first interrupt may come at once: PF was likely set already, and setting PIE
                             // raised IRQF, an edge the masked 8259 latched. Measure from the second one.
        wait(r, RTC, 10)?;
        r.outb(0xA1, 0xFF)?;
        r.outb(0x21, 0xFF)?;
        cmos_write(r, 0x0B, |r| r.and(al, !0x40u32 & 0xFF))?;
        check_ticks(
            r,
            RTC,
            1,
            9,
            8 * 1_000_000_000 / hz,
            &format!("RTC IRQ 8 (vector 0x28) at rate select {rs}: 8 periods of 1/{hz} s"),
        )?;
        r.mov(al, byte_ptr(var(RTC_C)))?;
        r.and(eax, 0xC0)?;
        r.check_eq(eax, 0xC0, "RTC register C in the handler: IRQF and PF")?;
    }
    Ok(())
}

/// Linux's TSC calibration (`pit_calibrate_tsc`): counter 2 in mode 0 with its gate opened
/// through port 0x61, polling OUT2 in port 0x61 bit 5. OUT2 goes high N + 1 clocks after
/// the count is written.
fn pit_counter2(r: &mut Rt) -> R {
    r.in_(al, 0x61)?;
    r.and(al, !0x02u32 & 0xFF)?; // speaker off
    r.or(al, 0x01)?; // gate 2 high
    r.out(0x61, al)?;
    r.outb(0x43, 0xB0)?; // counter 2, lobyte/hibyte, mode 0, binary
    r.outb(0x42, (PIT_COUNT & 0xFF) as u8)?;
    r.outb(0x42, (PIT_COUNT >> 8) as u8)?;
    r.rdtsc()?;
    r.mov(ecx, eax)?;
    let mut poll = r.label();
    r.set(&mut poll)?;
    r.in_(al, 0x61)?;
    r.test(al, 0x20)?;
    r.jz(poll)?;
    r.rdtsc()?;
    r.sub(eax, ecx)?;
    check_interval(
        r,
        |_| Ok(()),
        irq::pit_ns(PIT_COUNT as u64 + 1),
        irq::TOLERANCE_PPM,
        "PIT counter 2 through port 0x61 (TSC calibration): OUT2 high after 1194 clocks",
    )?;
    r.in_(al, 0x61)?;
    r.and(al, !0x03u32 & 0xFF)?;
    r.out(0x61, al)
}

/// The RTC's update-ended interrupt: once a second, with UF in register C and the seconds
/// register one further (BCD) after each.
fn rtc_update(r: &mut Rt) -> R {
    reset(r, RTC)?;
    r.mov(dword_ptr(var(RTC_C)), 0)?;
    r.outb(0x70, 0x0C)?; // clear the flags first: UF would raise IRQF at once
    r.in_(al, 0x71)?;
    cmos_write(r, 0x0B, |r| r.or(al, 0x10))?; // UIE
    r.outb(0xA1, 0xFE)?;
    r.outb(0x21, 0xFB)?;
    wait(r, RTC, 1)?;
    r.outb(0x70, 0x00)?;
    r.in_(al, 0x71)?;
    r.movzx(ebx, al)?;
    wait(r, RTC, 2)?;
    r.outb(0xA1, 0xFF)?;
    r.outb(0x21, 0xFF)?;
    cmos_write(r, 0x0B, |r| r.and(al, !0x10u32 & 0xFF))?;
    check_ticks(
        r,
        RTC,
        0,
        1,
        1_000_000_000,
        "RTC update-ended interrupts on IRQ 8: 1 s apart",
    )?;
    r.mov(al, byte_ptr(var(RTC_C)))?;
    r.and(eax, 0x90)?;
    r.check_eq(eax, 0x90, "RTC register C in the handler: IRQF and UF")?;
    // The seconds after the second update: the first's plus one, in BCD, modulo 60.
    let mut wrap = r.label();
    let mut nine = r.label();
    let mut done = r.label();
    r.mov(ecx, ebx)?;
    r.cmp(ecx, 0x59)?;
    r.je(wrap)?;
    r.mov(eax, ecx)?;
    r.and(eax, 0xF)?;
    r.cmp(eax, 9)?;
    r.je(nine)?;
    r.inc(ecx)?;
    r.jmp(done)?;
    r.set(&mut nine)?;
    r.add(ecx, 7)?;
    r.jmp(done)?;
    r.set(&mut wrap)?;
    r.xor(ecx, ecx)?;
    r.set(&mut done)?;
    r.outb(0x70, 0x00)?;
    r.in_(al, 0x71)?;
    r.movzx(eax, al)?;
    r.sub(eax, ecx)?;
    r.check_eq(
        eax,
        0,
        "RTC seconds after an update minus (the seconds before + 1, BCD)",
    )?;
    r.print("RTC update-ended interrupt: register C UF, the seconds counted on in BCD\n")
}
