//! The High Precision Event Timer (IA-PC HPET specification 1.0a): a 64-bit main counter at
//! 100 MHz (a 10 ns period, as QEMU and Bochs expose it) and three comparators, each one-shot
//! or periodic, 64- or 32-bit, routed to an I/O APIC input or, in legacy replacement mode, to
//! IRQ0 and IRQ8. MMIO at 0xFED00000 (1 KiB of registers); every 64-bit register can also be
//! accessed as two 32-bit halves.
//!
//! How the board wires it: after every access and tick it reads [`Hpet::level_lines`] (the
//! I/O APIC inputs held high by level-triggered timers) and [`Hpet::take_edges`] (inputs that
//! saw an edge-triggered interrupt since the last call: the board pulses them high then low).
//! Both are bit masks of I/O APIC pins. In legacy replacement mode ([`Hpet::legacy`]) timer 0
//! drives pin 2 and timer 1 pin 8, which the board also feeds to the 8259's IRQ0 and IRQ8
//! while disconnecting the PIT and RTC interrupts (spec 2.3.9.2.1). FSB (MSI) delivery is not
//! offered.

use super::bus::{DevCtx, Mmio, Timed};
use crate::cpu::bus::ones;

/// The main counter's period in femtoseconds (10 ns: 100 MHz).
pub const PERIOD_FS: u64 = 10_000_000;
/// Virtual nanoseconds per main-counter tick.
pub const NS_PER_TICK: u64 = PERIOD_FS / 1_000_000;
/// Number of comparators.
pub const TIMERS: usize = 3;

/// General capabilities and ID register.
pub const GCAP_ID: u64 = 0x000;
/// General configuration register.
pub const GEN_CONF: u64 = 0x010;
/// General interrupt status register.
pub const GINTR_STA: u64 = 0x020;
/// Main counter value register.
pub const MAIN_CNT: u64 = 0x0F0;
/// Timer 0's configuration and capability register; timer N's is 0x20 × N further.
pub const TIMER0_CONF: u64 = 0x100;
/// Offset of the comparator register within a timer's block.
pub const TIMER_COMPARATOR: u64 = 0x08;
/// Offset of the FSB interrupt route register within a timer's block.
pub const TIMER_FSB_ROUTE: u64 = 0x10;

/// GCAP_ID: revision 1, NUM_TIM_CAP = 2 (three timers), COUNT_SIZE_CAP (64-bit),
/// LEG_RT_CAP, vendor 0x8086, COUNTER_CLK_PERIOD in bits 63:32.
pub const CAPABILITIES: u64 =
    PERIOD_FS << 32 | 0x8086 << 16 | 1 << 15 | 1 << 13 | ((TIMERS as u64 - 1) << 8) | 1;

/// GEN_CONF.ENABLE_CNF: the main counter runs and timers may interrupt.
pub const ENABLE_CNF: u64 = 1 << 0;
/// GEN_CONF.LEG_RT_CNF: legacy replacement routing.
pub const LEG_RT_CNF: u64 = 1 << 1;

/// Tn_INT_TYPE_CNF: level-triggered (0: edge).
pub const TN_INT_TYPE_LEVEL: u64 = 1 << 1;
/// Tn_INT_ENB_CNF: the timer may raise its interrupt.
pub const TN_INT_ENB: u64 = 1 << 2;
/// Tn_TYPE_CNF: periodic (0: one-shot).
pub const TN_TYPE_PERIODIC: u64 = 1 << 3;
/// Tn_PER_INT_CAP: the timer can be periodic (read-only).
pub const TN_PER_INT_CAP: u64 = 1 << 4;
/// Tn_SIZE_CAP: the comparator is 64 bits wide (read-only).
pub const TN_SIZE_CAP: u64 = 1 << 5;
/// Tn_VAL_SET_CNF: the next comparator write sets the accumulator of a periodic timer.
pub const TN_VAL_SET: u64 = 1 << 6;
/// Tn_32MODE_CNF: the timer runs as a 32-bit timer.
pub const TN_32MODE: u64 = 1 << 8;
/// Tn_INT_ROUTE_CNF field shift (bits 13:9): the I/O APIC input.
pub const TN_INT_ROUTE_SHIFT: u32 = 9;
/// Configuration bits software may write.
const TN_WRITABLE: u64 = TN_INT_TYPE_LEVEL
    | TN_INT_ENB
    | TN_TYPE_PERIODIC
    | TN_VAL_SET
    | TN_32MODE
    | 0x1F << TN_INT_ROUTE_SHIFT;

/// The I/O APIC inputs each timer may be routed to (Tn_INT_ROUTE_CAP): 20–23 and 2, and 8
/// for timer 1, as QEMU offers.
pub const ROUTE_CAP: [u32; TIMERS] = [0x00F0_0004, 0x00F0_0104, 0x00F0_0004];

/// Legacy replacement: timer 0's I/O APIC input (IRQ0's, after the MADT override).
pub const LEGACY_PIN_TIMER0: u32 = 2;
/// Legacy replacement: timer 1's I/O APIC input (IRQ8).
pub const LEGACY_PIN_TIMER1: u32 = 8;

/// One comparator.
#[derive(Clone, Copy, Debug)]
struct Timer {
    /// The writable configuration bits.
    config: u64,
    comparator: u64,
    /// The value last written to the comparator: a periodic timer's increment.
    period: u64,
    /// The virtual time of the next comparator match, while the counter runs.
    next: Option<u64>,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            config: 0,
            comparator: u64::MAX,
            period: 0,
            next: None,
        }
    }

    /// The comparator width in bits.
    fn width_mask(&self) -> u64 {
        if self.config & TN_32MODE != 0 {
            0xFFFF_FFFF
        } else {
            u64::MAX
        }
    }
}

/// The HPET.
#[derive(Debug)]
pub struct Hpet {
    config: u64,
    /// GINTR_STA: Tn_INT_STS for level-triggered timers.
    status: u32,
    /// The main counter's value at `anchor`.
    counter_base: u64,
    /// The virtual time of `counter_base` (counting since then while enabled).
    anchor: u64,
    timers: [Timer; TIMERS],
    edges: u32,
}

impl Default for Hpet {
    fn default() -> Hpet {
        Hpet::new()
    }
}

impl Hpet {
    /// An HPET after reset: halted at zero, comparators all ones, interrupts off.
    pub fn new() -> Hpet {
        Hpet {
            config: 0,
            status: 0,
            counter_base: 0,
            anchor: 0,
            timers: [Timer::new(); TIMERS],
            edges: 0,
        }
    }

    /// Whether legacy replacement routing is on: the board then feeds timer 0 to IRQ0 and
    /// timer 1 to IRQ8 in place of the PIT and the RTC.
    pub fn legacy(&self) -> bool {
        self.config & LEG_RT_CNF != 0
    }

    /// I/O APIC inputs held asserted by level-triggered timers: status set, interrupt
    /// enabled, the counter enabled (spec 2.3.9.2.1: ENABLE_CNF clear disables all timer
    /// interrupts).
    pub fn level_lines(&self) -> u32 {
        if self.config & ENABLE_CNF == 0 {
            return 0;
        }
        (0..TIMERS)
            .filter(|&n| {
                let c = self.timers[n].config;
                self.status & 1 << n != 0 && c & TN_INT_TYPE_LEVEL != 0 && c & TN_INT_ENB != 0
            })
            .fold(0, |m, n| m | 1 << self.route(n))
    }

    /// I/O APIC inputs that received an edge-triggered interrupt since the last call.
    pub fn take_edges(&mut self) -> u32 {
        std::mem::take(&mut self.edges)
    }

    /// Timer `n`'s I/O APIC input.
    fn route(&self, n: usize) -> u32 {
        match n {
            0 if self.legacy() => LEGACY_PIN_TIMER0,
            1 if self.legacy() => LEGACY_PIN_TIMER1,
            _ => ((self.timers[n].config >> TN_INT_ROUTE_SHIFT) & 0x1F) as u32,
        }
    }

    fn enabled(&self) -> bool {
        self.config & ENABLE_CNF != 0
    }

    /// The main counter at `now`.
    fn counter(&self, now: u64) -> u64 {
        if self.enabled() {
            self.counter_base
                .wrapping_add(now.saturating_sub(self.anchor) / NS_PER_TICK)
        } else {
            self.counter_base
        }
    }

    /// Sets the counter to `value` at `now`.
    fn set_counter(&mut self, now: u64, value: u64) {
        self.counter_base = value;
        self.anchor = now;
    }

    /// Recomputes timer `n`'s next match: the first counter value after the one at `now`
    /// whose low bits (32 or 64) equal the comparator.
    fn schedule(&mut self, n: usize, now: u64) {
        let t = &self.timers[n];
        if !self.enabled() {
            self.timers[n].next = None;
            return;
        }
        let mask = t.width_mask();
        let cur = self.counter(now);
        let mut delta = t.comparator.wrapping_sub(cur) & mask;
        if delta == 0 {
            // The counter is at the comparator: the next match is a full wrap away.
            delta = mask;
            if mask == u64::MAX {
                self.timers[n].next = None;
                return;
            }
            delta += 1;
        }
        // Ticks from `counter_base` to the match, converted to virtual time.
        let ticks = (cur.wrapping_sub(self.counter_base) as u128) + delta as u128;
        let at = self.anchor as u128 + ticks * NS_PER_TICK as u128;
        self.timers[n].next = u64::try_from(at).ok();
    }

    fn schedule_all(&mut self, now: u64) {
        for n in 0..TIMERS {
            self.schedule(n, now);
        }
    }

    /// A comparator match on timer `n`: level timers set their status bit (even with the
    /// interrupt disabled: spec 2.3.9.2.1), edge timers with the interrupt enabled send an
    /// edge; a periodic timer adds its period to the comparator, by whole periods past the
    /// counter if the tick came late (spec 2.3.9.2.3).
    fn fire(&mut self, n: usize, now: u64) {
        let cur = self.counter(now);
        let config = self.timers[n].config;
        if config & TN_INT_TYPE_LEVEL != 0 {
            self.status |= 1 << n;
        } else if config & TN_INT_ENB != 0 {
            self.edges |= 1 << self.route(n);
        }
        let t = &mut self.timers[n];
        if t.config & TN_TYPE_PERIODIC != 0 && t.period & t.width_mask() != 0 {
            let mask = t.width_mask();
            let period = t.period & mask;
            // How far the counter is past the comparator (it matched, so this is small).
            let past = cur.wrapping_sub(t.comparator) & mask;
            let steps = past / period + 1;
            t.comparator = t.comparator.wrapping_add(steps.wrapping_mul(period)) & mask;
        }
        self.schedule(n, now);
    }

    /// Reads the 64-bit register at `reg` (8-byte aligned).
    fn read64(&self, reg: u64, now: u64) -> u64 {
        match reg {
            GCAP_ID => CAPABILITIES,
            GEN_CONF => self.config,
            GINTR_STA => self.status as u64,
            MAIN_CNT => self.counter(now),
            0x100..=0x15F => {
                let n = ((reg - TIMER0_CONF) / 0x20) as usize;
                let t = &self.timers[n];
                match reg & 0x1F {
                    0x00 => (ROUTE_CAP[n] as u64) << 32 | t.config | TN_PER_INT_CAP | TN_SIZE_CAP,
                    TIMER_COMPARATOR => t.comparator & t.width_mask(),
                    // FSB delivery is not offered: the route register reads zero.
                    _ => 0,
                }
            }
            // Reserved registers read zero.
            _ => 0,
        }
    }

    /// Writes 32 bits at the dword `reg` (4-byte aligned); `high` for the upper half of a
    /// 64-bit register.
    fn write32(&mut self, reg: u64, v: u32, now: u64) {
        let high = reg & 4 != 0;
        let reg64 = reg & !7;
        let merge = |old: u64| {
            if high {
                (old & 0xFFFF_FFFF) | (v as u64) << 32
            } else {
                (old & !0xFFFF_FFFF) | v as u64
            }
        };
        match reg64 {
            GEN_CONF => {
                if high {
                    return;
                }
                let cur = self.counter(now);
                self.config = v as u64 & (ENABLE_CNF | LEG_RT_CNF);
                // Halting keeps the count; enabling resumes from it.
                self.set_counter(now, cur);
                self.schedule_all(now);
            }
            // Write 1 to clear; a zero changes nothing.
            GINTR_STA if !high => self.status &= !(v & ((1 << TIMERS) - 1)),
            MAIN_CNT => {
                let value = merge(self.counter(now));
                self.set_counter(now, value);
                self.schedule_all(now);
            }
            0x100..=0x15F => {
                let n = ((reg64 - TIMER0_CONF) / 0x20) as usize;
                match reg64 & 0x1F {
                    0x00 if !high => self.write_timer_config(n, v as u64, now),
                    TIMER_COMPARATOR => self.write_comparator(n, high, v, now),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Writes timer `n`'s configuration (the low dword: the high one is the read-only
    /// route capability).
    fn write_timer_config(&mut self, n: usize, v: u64, now: u64) {
        let t = &mut self.timers[n];
        let old = t.config;
        let mut new = v & TN_WRITABLE;
        // An input the timer cannot drive is not taken: the field keeps its value, so
        // software reading it back sees the refusal (spec 2.3.9.2.1, Tn_INT_ROUTE_CNF).
        let route = (new >> TN_INT_ROUTE_SHIFT) & 0x1F;
        if ROUTE_CAP[n] & 1 << route == 0 {
            new = (new & !(0x1F << TN_INT_ROUTE_SHIFT)) | (old & 0x1F << TN_INT_ROUTE_SHIFT);
        }
        t.config = new;
        if new & TN_32MODE != 0 {
            t.comparator &= 0xFFFF_FFFF;
            t.period &= 0xFFFF_FFFF;
        }
        if old & TN_INT_TYPE_LEVEL != 0 && new & TN_INT_TYPE_LEVEL == 0 {
            self.status &= !(1 << n);
        }
        self.schedule(n, now);
    }

    /// Writes half of timer `n`'s comparator. A one-shot timer, or a periodic one with
    /// VAL_SET, takes the value as its comparator; every write also sets the period, the
    /// periodic increment (spec 2.3.9.2.3). VAL_SET clears once the comparator is complete:
    /// after the high half, or after the low half in 32-bit mode. 32-bit mode ignores the
    /// high half.
    fn write_comparator(&mut self, n: usize, high: bool, v: u32, now: u64) {
        let t = &mut self.timers[n];
        let m32 = t.config & TN_32MODE != 0;
        if high && m32 {
            return;
        }
        let merge = |old: u64| {
            if high {
                (old & 0xFFFF_FFFF) | (v as u64) << 32
            } else {
                (old & !0xFFFF_FFFF) | v as u64
            }
        };
        if t.config & TN_TYPE_PERIODIC == 0 || t.config & TN_VAL_SET != 0 {
            t.comparator = merge(t.comparator);
        }
        t.period = merge(t.period);
        if high || m32 {
            t.config &= !TN_VAL_SET;
        }
        self.schedule(n, now);
    }
}

impl Mmio for Hpet {
    fn mmio_read(&mut self, ctx: &mut DevCtx, offset: u64, size: u8) -> u64 {
        if offset >= 0x400 {
            return ones(size);
        }
        self.tick(ctx.now);
        let v = self.read64(offset & !7, ctx.now) >> (8 * (offset & 7));
        if size >= 8 {
            v
        } else {
            v & ((1u64 << (8 * size.max(1) as u32)) - 1)
        }
    }

    /// 64-bit writes act as the low half then the high half; narrower writes merge into
    /// their dword (the status register merges with zeros, so only written ones clear).
    fn mmio_write(&mut self, ctx: &mut DevCtx, offset: u64, size: u8, value: u64) {
        if offset >= 0x400 {
            return;
        }
        self.tick(ctx.now);
        let now = ctx.now;
        if size >= 8 && offset & 7 == 0 {
            self.write32(offset, value as u32, now);
            self.write32(offset + 4, (value >> 32) as u32, now);
            return;
        }
        let dword = offset & !3;
        let shift = 8 * (offset & 3) as u32;
        let bytes = (size.clamp(1, 4) as u32).min(4 - (offset & 3) as u32);
        let mask = ((u64::MAX >> (64 - 8 * bytes)) << shift) as u32;
        let cur = if dword & !7 == GINTR_STA {
            0
        } else {
            (self.read64(dword & !7, now) >> (8 * (dword & 4))) as u32
        };
        let v = (cur & !mask) | ((value << shift) as u32 & mask);
        self.write32(dword, v, now);
    }
}

impl Timed for Hpet {
    fn deadline(&self) -> Option<u64> {
        self.timers.iter().filter_map(|t| t.next).min()
    }

    fn tick(&mut self, now: u64) {
        for n in 0..TIMERS {
            if self.timers[n].next.is_some_and(|at| at <= now) {
                self.fire(n, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    struct Rig {
        h: Hpet,
        mem: PhysMem,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                h: Hpet::new(),
                mem: PhysMem::new(4096).unwrap(),
            }
        }
        fn r(&mut self, now: u64, off: u64, size: u8) -> u64 {
            self.h.mmio_read(
                &mut DevCtx {
                    now,
                    mem: &mut self.mem,
                },
                off,
                size,
            )
        }
        fn w(&mut self, now: u64, off: u64, size: u8, v: u64) {
            self.h.mmio_write(
                &mut DevCtx {
                    now,
                    mem: &mut self.mem,
                },
                off,
                size,
                v,
            )
        }
    }

    fn conf(n: u64) -> u64 {
        TIMER0_CONF + 0x20 * n
    }

    fn cmp(n: u64) -> u64 {
        conf(n) + TIMER_COMPARATOR
    }

    fn route(pin: u64) -> u64 {
        pin << TN_INT_ROUTE_SHIFT
    }

    #[test]
    fn capabilities_describe_three_64_bit_timers_at_100_mhz() {
        // Spec 2.3.9.2.1: 64-bit counter, three timers, legacy capable, period in fs.
        let mut r = Rig::new();
        assert_eq!(r.r(0, GCAP_ID, 8), 0x0098_9680_8086_A201);
        assert_eq!(r.r(0, GCAP_ID + 4, 4), 10_000_000, "10 ns period");
        assert_eq!(r.r(0, GCAP_ID, 4), 0x8086_A201);
        let t1 = r.r(0, conf(1), 8);
        assert_eq!(t1 >> 32, 0x00F0_0104, "timer 1 may use pins 2, 8, 20-23");
        assert_ne!(t1 & TN_PER_INT_CAP, 0);
        assert_ne!(t1 & TN_SIZE_CAP, 0);
        assert_eq!(r.r(0, cmp(0), 8), u64::MAX, "comparators reset to all ones");
    }

    #[test]
    fn main_counter_follows_virtual_time_only_while_enabled() {
        // The counter ticks every 10 ns while ENABLE_CNF is set and holds when halted.
        let mut r = Rig::new();
        assert_eq!(r.r(1000, MAIN_CNT, 8), 0, "halted at reset");
        r.w(1000, GEN_CONF, 4, ENABLE_CNF);
        assert_eq!(r.r(1009, MAIN_CNT, 8), 0);
        assert_eq!(r.r(1010, MAIN_CNT, 8), 1);
        assert_eq!(r.r(2000, MAIN_CNT, 8), 100);
        r.w(2005, GEN_CONF, 4, 0);
        assert_eq!(r.r(9000, MAIN_CNT, 8), 100, "halted");
        r.w(9000, MAIN_CNT, 8, 0x1_2345_6789);
        assert_eq!(r.r(9000, MAIN_CNT, 4), 0x2345_6789);
        assert_eq!(r.r(9000, MAIN_CNT + 4, 4), 1);
        r.w(9000, MAIN_CNT + 4, 4, 0xAB);
        assert_eq!(r.r(9000, MAIN_CNT, 8), 0xAB_2345_6789, "32-bit half write");
        r.w(9000, GEN_CONF, 4, ENABLE_CNF);
        assert_eq!(r.r(9050, MAIN_CNT, 8), 0xAB_2345_678E);
    }

    #[test]
    fn one_shot_edge_timer_fires_once_at_the_match() {
        // Spec 2.3.9.2.2: a one-shot timer interrupts when the counter equals the comparator.
        let mut r = Rig::new();
        r.w(0, conf(2), 8, TN_INT_ENB | route(20));
        r.w(0, cmp(2), 8, 50);
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        assert_eq!(r.h.deadline(), Some(500));
        r.h.tick(499);
        assert_eq!(r.h.take_edges(), 0);
        r.h.tick(500);
        assert_eq!(r.h.take_edges(), 1 << 20);
        assert_eq!(r.h.deadline(), None, "a 64-bit one-shot matches once");
        assert_eq!(
            r.r(500, GINTR_STA, 8),
            0,
            "edge timers leave the status alone"
        );
    }

    #[test]
    fn comparator_behind_the_counter_does_not_fire_until_it_wraps() {
        // The match is on equality: a comparator already passed is not a match.
        let mut r = Rig::new();
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        r.w(1000, cmp(0), 8, 50); // counter is 100
        assert_eq!(r.h.deadline(), None);
        r.w(1000, conf(0), 4, TN_32MODE | TN_INT_ENB | route(2));
        assert_eq!(
            r.h.deadline(),
            Some(1000 + ((1u64 << 32) - 50) * 10),
            "a 32-bit comparator matches again after the low half wraps"
        );
    }

    #[test]
    fn level_timer_sets_status_until_written_one() {
        // Level timers set Tn_INT_STS and hold the line until software writes 1 to it.
        let mut r = Rig::new();
        r.w(0, conf(0), 8, TN_INT_TYPE_LEVEL | TN_INT_ENB | route(21));
        r.w(0, cmp(0), 8, 10);
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        r.h.tick(100);
        assert_eq!(r.r(100, GINTR_STA, 8), 1);
        assert_eq!(r.h.level_lines(), 1 << 21);
        assert_eq!(r.h.take_edges(), 0);
        r.w(100, GINTR_STA, 4, 0);
        assert_eq!(r.r(100, GINTR_STA, 8), 1, "writing zero changes nothing");
        r.w(100, GINTR_STA, 4, 1);
        assert_eq!(r.r(100, GINTR_STA, 8), 0);
        assert_eq!(r.h.level_lines(), 0);
    }

    #[test]
    fn level_timer_without_int_enb_sets_status_but_no_line() {
        // Spec: with Tn_INT_ENB clear the timer still sets its status bit.
        let mut r = Rig::new();
        r.w(0, conf(1), 8, TN_INT_TYPE_LEVEL | route(22));
        r.w(0, cmp(1), 8, 1);
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        r.h.tick(10);
        assert_eq!(r.r(10, GINTR_STA, 8), 2);
        assert_eq!(r.h.level_lines(), 0);
        // Switching to edge clears the status.
        r.w(10, conf(1), 8, route(22));
        assert_eq!(r.r(10, GINTR_STA, 8), 0);
    }

    #[test]
    fn periodic_timer_accumulates_with_val_set() {
        // Spec 2.3.9.2.3: VAL_SET lets software set the accumulator; later writes set the
        // increment; each match adds the increment to the comparator.
        let mut r = Rig::new();
        r.w(
            0,
            conf(0),
            8,
            TN_INT_ENB | TN_TYPE_PERIODIC | TN_VAL_SET | route(2),
        );
        r.w(0, cmp(0), 8, 100);
        assert_eq!(
            r.r(0, conf(0), 8) & TN_VAL_SET,
            0,
            "VAL_SET clears after the write"
        );
        r.w(0, cmp(0), 8, 40);
        assert_eq!(
            r.r(0, cmp(0), 8),
            100,
            "without VAL_SET only the increment changes"
        );
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        r.h.tick(1000);
        assert_eq!(r.h.take_edges(), 1 << 2);
        assert_eq!(r.r(1000, cmp(0), 8), 140);
        assert_eq!(r.h.deadline(), Some(1400));
        r.h.tick(1400);
        assert_eq!(r.h.take_edges(), 1 << 2);
        assert_eq!(r.r(1400, cmp(0), 8), 180);
        // A late tick catches up by whole periods and interrupts once.
        r.h.tick(2650);
        assert_eq!(r.h.take_edges(), 1 << 2);
        assert_eq!(r.r(2650, cmp(0), 8), 300);
        assert_eq!(r.h.deadline(), Some(3000));
    }

    #[test]
    fn linux_periodic_setup_in_32_bit_mode() {
        // Linux: config periodic|VAL_SET|32-bit, comparator = now + delta, then delta.
        let mut r = Rig::new();
        r.w(0, GEN_CONF, 4, ENABLE_CNF | LEG_RT_CNF);
        let cfg = TN_INT_ENB | TN_TYPE_PERIODIC | TN_VAL_SET | TN_32MODE;
        r.w(500, conf(0), 4, cfg);
        let now = r.r(500, MAIN_CNT, 4);
        assert_eq!(now, 50);
        r.w(500, cmp(0), 4, now + 1000);
        r.w(500, cmp(0), 4, 1000);
        assert_eq!(r.h.deadline(), Some(10_500));
        r.h.tick(10_500);
        assert_eq!(r.h.take_edges(), 1 << LEGACY_PIN_TIMER0);
        assert_eq!(r.h.deadline(), Some(20_500));
    }

    #[test]
    fn thirty_two_bit_mode_truncates_and_wraps_the_comparator() {
        // Tn_32MODE_CNF: the comparator is 32 bits; the high half ignores writes and reads 0;
        // the periodic accumulator wraps at 2^32.
        let mut r = Rig::new();
        r.w(
            0,
            conf(2),
            8,
            TN_32MODE | TN_TYPE_PERIODIC | TN_VAL_SET | TN_INT_ENB,
        );
        r.w(0, cmp(2), 8, 0x5_FFFF_FFF0);
        assert_eq!(r.r(0, cmp(2), 8), 0xFFFF_FFF0);
        r.w(0, cmp(2), 4, 0x20);
        r.w(0, MAIN_CNT, 8, 0xFFFF_FFE0);
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        assert_eq!(r.h.deadline(), Some(0x10 * 10));
        r.h.tick(160);
        assert_eq!(r.r(160, cmp(2), 8), 0x10, "wrapped at 32 bits");
        assert_eq!(r.h.deadline(), Some(160 + 0x20 * 10));
    }

    #[test]
    fn legacy_replacement_routes_timers_0_and_1_to_irq0_and_irq8() {
        // Spec 2.3.9.2.1: LEG_RT_CNF sends timer 0 to IRQ0/pin 2, timer 1 to IRQ8/pin 8.
        let mut r = Rig::new();
        for n in 0..3 {
            r.w(0, conf(n), 8, TN_INT_ENB | route(20 + n));
            r.w(0, cmp(n), 8, 5);
        }
        r.w(0, GEN_CONF, 4, ENABLE_CNF | LEG_RT_CNF);
        assert!(r.h.legacy());
        r.h.tick(50);
        assert_eq!(r.h.take_edges(), 1 << 2 | 1 << 8 | 1 << 22);
        r.w(50, GEN_CONF, 4, ENABLE_CNF);
        r.w(50, MAIN_CNT, 8, 0);
        r.h.tick(100);
        assert_eq!(r.h.take_edges(), 1 << 20 | 1 << 21 | 1 << 22);
    }

    #[test]
    fn route_outside_the_capability_is_refused() {
        // A route the timer cannot use reads back unchanged.
        let mut r = Rig::new();
        r.w(0, conf(0), 4, route(20));
        r.w(0, conf(0), 4, route(8));
        assert_eq!(
            (r.r(0, conf(0), 4) >> 9) & 0x1F,
            20,
            "timer 0 cannot reach pin 8"
        );
        r.w(0, conf(1), 4, route(8));
        assert_eq!((r.r(0, conf(1), 4) >> 9) & 0x1F, 8);
    }

    #[test]
    fn halting_the_counter_stops_matches_and_lines() {
        let mut r = Rig::new();
        r.w(0, conf(0), 8, TN_INT_TYPE_LEVEL | TN_INT_ENB | route(20));
        r.w(0, cmp(0), 8, 10);
        r.w(0, GEN_CONF, 4, ENABLE_CNF);
        r.h.tick(100);
        assert_eq!(r.h.level_lines(), 1 << 20);
        r.w(100, GEN_CONF, 4, 0);
        assert_eq!(r.h.level_lines(), 0);
        assert_eq!(r.h.deadline(), None);
    }

    #[test]
    fn byte_writes_and_reserved_registers() {
        let mut r = Rig::new();
        r.w(0, conf(0), 1, TN_INT_ENB);
        assert_eq!(r.r(0, conf(0), 1) & TN_INT_ENB, TN_INT_ENB);
        assert_eq!(r.r(0, 0x30, 8), 0, "reserved");
        assert_eq!(r.r(0, conf(0) + TIMER_FSB_ROUTE, 8), 0, "no FSB delivery");
        r.w(0, GCAP_ID, 8, 0);
        assert_eq!(r.r(0, GCAP_ID, 8), CAPABILITIES, "read-only");
    }
}
