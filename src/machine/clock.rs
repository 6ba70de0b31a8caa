//! Virtual time. It comes from the retired-instruction count (one instruction is one
//! nanosecond of virtual time, and the TSC ticks once per nanosecond), plus the time HLT
//! skipped while waiting for the next timer: so runs are deterministic, and an idle guest
//! costs no host time. Devices report their next deadline; the clock keeps them in a small
//! queue indexed by timer and tells the run loop how far the CPU may run.

/// Virtual nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// The timers of the board, one slot each in the deadline queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Timer {
    /// 8254 PIT counters and the port 0x61 refresh toggle.
    Pit,
    /// MC146818 update cycle, periodic and alarm interrupts.
    Rtc,
    /// Local APIC timer.
    Lapic,
    /// HPET comparators.
    Hpet,
    /// UART character timeouts (all four ports).
    Uart,
    /// PS/2 controller.
    I8042,
}

/// Number of [`Timer`] slots.
pub const TIMERS: usize = 6;

/// Virtual time and the deadline queue.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Nanoseconds skipped while the CPU was halted.
    idle_ns: u64,
    deadlines: [Option<u64>; TIMERS],
}

impl Clock {
    /// A clock at virtual time zero with no deadlines.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// Virtual time (ns) after `icount` retired instructions.
    #[inline]
    pub fn now(&self, icount: u64) -> u64 {
        icount + self.idle_ns
    }

    /// Nanoseconds skipped by HLT so far.
    pub fn idle_ns(&self) -> u64 {
        self.idle_ns
    }

    /// Records the next event of `timer` (or none).
    pub fn set(&mut self, timer: Timer, deadline: Option<u64>) {
        self.deadlines[timer as usize] = deadline;
    }

    /// The earliest pending deadline.
    pub fn earliest(&self) -> Option<u64> {
        self.deadlines.iter().flatten().copied().min()
    }

    /// How many instructions the CPU may retire from `icount` before virtual time reaches
    /// `deadline` (at least one, so the machine always makes progress).
    pub fn instructions_until(&self, icount: u64, deadline: u64) -> u64 {
        deadline.saturating_sub(self.now(icount)).max(1)
    }

    /// Skips virtual time forward to `deadline` while the CPU is halted; returns the
    /// nanoseconds skipped (the TSC must advance by as much).
    pub fn skip_to(&mut self, icount: u64, deadline: u64) -> u64 {
        let skip = deadline.saturating_sub(self.now(icount));
        self.idle_ns += skip;
        skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_instructions_plus_skipped_idle() {
        let mut c = Clock::new();
        assert_eq!(c.now(100), 100);
        assert_eq!(c.skip_to(100, 1_000), 900);
        assert_eq!(c.now(100), 1_000);
        assert_eq!(c.now(150), 1_050);
        assert_eq!(c.skip_to(150, 10), 0, "time never runs backwards");
    }

    #[test]
    fn the_queue_yields_the_earliest_deadline() {
        let mut c = Clock::new();
        assert_eq!(c.earliest(), None);
        c.set(Timer::Pit, Some(500));
        c.set(Timer::Rtc, Some(300));
        c.set(Timer::Hpet, None);
        assert_eq!(c.earliest(), Some(300));
        c.set(Timer::Rtc, None);
        assert_eq!(c.earliest(), Some(500));
        assert_eq!(c.instructions_until(200, 500), 300);
        assert_eq!(
            c.instructions_until(600, 500),
            1,
            "a passed deadline still lets the CPU move"
        );
    }
}
