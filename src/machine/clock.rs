//! The timer deadline queue. Virtual time itself lives in the CPU (`Cpu::now`: one
//! nanosecond per retired instruction, plus the time skipped while halted), so runs are
//! deterministic and an idle guest costs no host time. Devices report their next deadline;
//! the clock keeps them in a small queue indexed by timer and tells the run loop how far the
//! CPU may run.

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
    /// ACPI PM timer (the SCI when its top bit toggles).
    Acpi,
}

/// Number of [`Timer`] slots.
pub const TIMERS: usize = 7;

/// The deadline queue.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    deadlines: [Option<u64>; TIMERS],
}

impl Clock {
    /// A queue with no deadlines.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// Records the next event of `timer` (or none).
    pub fn set(&mut self, timer: Timer, deadline: Option<u64>) {
        self.deadlines[timer as usize] = deadline;
    }

    /// The earliest pending deadline.
    pub fn earliest(&self) -> Option<u64> {
        self.deadlines.iter().flatten().copied().min()
    }
}

/// How many instructions the CPU may retire from virtual time `now` before `deadline` (at
/// least one, so the machine always makes progress).
pub fn instructions_until(now: u64, deadline: u64) -> u64 {
    deadline.saturating_sub(now).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(instructions_until(200, 500), 300);
        assert_eq!(
            instructions_until(600, 500),
            1,
            "a passed deadline still lets the CPU move"
        );
    }
}
