//! Interrupt plumbing the timer kernels share: handlers that timestamp each interrupt with
//! the TSC (virtual nanoseconds), waiting for interrupts with HLT, and checks on the
//! measured periods.
//!
//! A *slot* `s` is a counter at `var(s)` and the TSC (low half) of the first
//! [`MAX_TICKS`] interrupts at `var(s + 1)` onwards.

use iced_x86::code_asm::*;

use super::rt::{var, Rt, R};

/// Timestamps kept per slot.
pub const MAX_TICKS: u64 = 16;
/// The slot size in variables.
pub const SLOT: u64 = MAX_TICKS + 1;

/// The local APIC's xAPIC base.
pub const LAPIC: u32 = 0xFEE0_0000;
/// The I/O APIC's base.
pub const IOAPIC: u32 = 0xFEC0_0000;
/// The HPET's base.
pub const HPET: u32 = 0xFED0_0000;

/// Emits an interrupt handler out of line (jumped around) and returns its label: it saves
/// EAX, ECX, EDX, records the interrupt in `slot`, runs `eoi`, and returns.
pub fn handler(r: &mut Rt, slot: u64, eoi: impl Fn(&mut Rt) -> R) -> Result<CodeLabel, IcedError> {
    let mut h = r.label();
    let mut over = r.label();
    let mut full = r.label();
    r.jmp(over)?;
    r.set(&mut h)?;
    for reg in [eax, ecx, edx] {
        r.push_r(reg)?;
    }
    r.rdtsc()?;
    r.mov(ecx, dword_ptr(var(slot)))?;
    r.cmp(ecx, MAX_TICKS as u32)?;
    r.jae(full)?;
    if r.bits == 64 {
        r.mov(dword_ptr(rcx * 4 + var(slot + 1) as i32), eax)?;
    } else {
        r.mov(dword_ptr(ecx * 4 + var(slot + 1) as i32), eax)?;
    }
    r.set(&mut full)?;
    r.inc(dword_ptr(var(slot)))?;
    eoi(r)?;
    for reg in [edx, ecx, eax] {
        r.pop_r(reg)?;
    }
    r.iret()?;
    r.set(&mut over)?;
    Ok(h)
}

/// Clears `slot`.
pub fn reset(r: &mut Rt, slot: u64) -> R {
    r.mov(dword_ptr(var(slot)), 0)
}

/// Enables interrupts and halts until `slot` has counted `n` interrupts; disables them.
pub fn wait(r: &mut Rt, slot: u64, n: u32) -> R {
    let mut again = r.label();
    let mut done = r.label();
    r.set(&mut again)?;
    r.cli()?;
    r.cmp(dword_ptr(var(slot)), n)?;
    r.jae(done)?;
    // STI's interrupt shadow keeps an interrupt from slipping in before HLT.
    r.sti()?;
    r.hlt()?;
    r.jmp(again)?;
    r.set(&mut done)
}

/// The TSC of interrupt `i` of `slot`.
pub fn tick(slot: u64, i: u64) -> AsmMemoryOperand {
    dword_ptr(var(slot + 1 + i))
}

/// Checks that `to - from` (in EAX after `load`) is `expect_ns` within `tolerance_ppm`,
/// printing what was measured.
pub fn check_interval(
    r: &mut Rt,
    load: impl Fn(&mut Rt) -> R,
    expect_ns: u64,
    tolerance_ppm: u64,
    what: &str,
) -> R {
    let slack = (expect_ns * tolerance_ppm).div_ceil(1_000_000);
    r.push_r(eax)?;
    load(r)?;
    r.print(&format!("{what}: "))?;
    r.print_dec(eax, 0)?;
    r.print(&format!(" ns (expected {expect_ns})\n"))?;
    r.check_range(
        eax,
        (expect_ns - slack) as u32,
        (expect_ns + slack) as u32,
        &format!("{what} (ns)"),
    )?;
    r.pop_r(eax)
}

/// Checks the time between interrupts `from` and `to` of `slot`.
pub fn check_ticks(r: &mut Rt, slot: u64, from: u64, to: u64, expect_ns: u64, what: &str) -> R {
    check_interval(
        r,
        |r| {
            r.mov(eax, tick(slot, to))?;
            r.sub(eax, tick(slot, from))
        },
        expect_ns,
        TOLERANCE_PPM,
        what,
    )
}

/// How far a measured period may be from the expected one: 0.1 %. Virtual time is exact;
/// what remains is the few instructions between an interrupt and its timestamp.
pub const TOLERANCE_PPM: u64 = 1000;

/// Writes `value` to the xAPIC register at `offset`. (64-bit code reaches the APIC through
/// a register: an absolute address above 2 GiB does not fit a sign-extended disp32.)
pub fn lapic_write(r: &mut Rt, offset: u32, value: u32) -> R {
    if r.bits == 64 {
        r.push(rdi)?;
        r.mov(edi, LAPIC + offset)?;
        r.mov(dword_ptr(rdi), value)?;
        r.pop(rdi)
    } else {
        r.mov(dword_ptr(LAPIC as u64 + offset as u64), value)
    }
}

/// The local APIC EOI (xAPIC MMIO).
pub fn lapic_eoi(r: &mut Rt) -> R {
    lapic_write(r, 0xB0, 0)
}

/// Writes I/O APIC redirection entry `pin`: `low` (vector, mode, trigger, mask), destination
/// APIC ID 0.
pub fn ioapic_route(r: &mut Rt, pin: u32, low: u32) -> R {
    r.mov(dword_ptr(IOAPIC as u64), 0x11 + 2 * pin)?;
    r.mov(dword_ptr(IOAPIC as u64 + 0x10), 0)?;
    r.mov(dword_ptr(IOAPIC as u64), 0x10 + 2 * pin)?;
    r.mov(dword_ptr(IOAPIC as u64 + 0x10), low)
}

/// Reads I/O APIC register `index` into EAX.
pub fn ioapic_read(r: &mut Rt, index: u32) -> R {
    r.mov(dword_ptr(IOAPIC as u64), index)?;
    r.mov(eax, dword_ptr(IOAPIC as u64 + 0x10))
}

/// Programs PIT counter 0 in mode 2 (rate generator) with `count` (binary).
pub fn pit_rate(r: &mut Rt, count: u16) -> R {
    r.outb(0x43, 0x34)?;
    r.outb(0x40, count as u8)?;
    r.outb(0x40, (count >> 8) as u8)
}

/// Stops PIT counter 0's interrupts: mode 0 with no count written keeps OUT low.
pub fn pit_stop(r: &mut Rt) -> R {
    r.outb(0x43, 0x30)
}

/// Nanoseconds of `n` PIT clocks (1.193182 MHz).
pub fn pit_ns(n: u64) -> u64 {
    (n * 1_000_000_000).div_ceil(1_193_182)
}
