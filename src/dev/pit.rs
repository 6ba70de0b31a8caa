//! The 8254 programmable interval timer (ports 0x40–0x43) and system control port B (0x61).
//!
//! References: Intel 8254 datasheet (231164) — "Operational Description" (control word,
//! counter latch command, read-back command, status byte), "Mode Definitions" with the mode
//! timing diagrams, the "Gate Pin Operations" table; IBM PC/AT technical reference for port
//! 0x61.
//!
//! The three counters run from one 1.193182 MHz clock. Nothing is ticked per clock: each
//! counter keeps a *segment* (the clock edge where its counting element (CE) was last loaded or
//! resumed, the value it held there, and how OUT evolves from there), and any read at virtual
//! time `now` computes the exact CE and OUT the chip shows after the last clock edge at or
//! before `now`. Clock edge n happens at `ceil(n * 1e9 / 1193182)` ns; the clock is free
//! running, so a count written between two edges is loaded on the next one, as the datasheet
//! says ("loaded on the next CLK pulse"), and mode 0's OUT goes high N + 1 clocks after the
//! write. Linux calibrates its TSC against counter 2 through port 0x61, so this exactness is
//! what the guest measures.
//!
//! Board wiring: counter 0's OUT is IRQ 0 (`out(0, now)`, with [`Timed`] deadlines at each
//! OUT0 transition); counters 0 and 1 have their gates tied high; counter 2's gate is port 0x61
//! bit 0 and its OUT reads back in port 0x61 bit 5.

use super::bus::{DevCtx, PortIo, Timed};

/// The PIT's input clock in Hz (105/88 MHz, rounded as PC emulators do).
pub const PIT_HZ: u64 = 1_193_182;
/// Counter 0's data port (the IRQ 0 timer).
pub const COUNTER0: u16 = 0x40;
/// Counter 1's data port (DRAM refresh on the PC).
pub const COUNTER1: u16 = 0x41;
/// Counter 2's data port (the speaker; gated by port 0x61).
pub const COUNTER2: u16 = 0x42;
/// The control word register (write only).
pub const CONTROL: u16 = 0x43;
/// System control port B.
pub const PORT_B: u16 = 0x61;

const NS_PER_S: u128 = 1_000_000_000;
/// Control word SC1–SC0 = 11: the read-back command.
const CW_READ_BACK: u8 = 0xC0;
/// Read-back bit 5 (active low): latch the count of the selected counters.
const RB_NO_COUNT: u8 = 0x20;
/// Read-back bit 4 (active low): latch the status of the selected counters.
const RB_NO_STATUS: u8 = 0x10;
/// Port B bit 0: counter 2's gate.
const PB_GATE2: u8 = 0x01;
/// Port B bit 1: speaker data enable (ANDed with OUT2).
const PB_SPEAKER: u8 = 0x02;
/// Port B bit 4: refresh request, toggles on every refresh cycle.
const PB_REFRESH: u8 = 0x10;
/// Port B bit 5: OUT of counter 2.
const PB_OUT2: u8 = 0x20;
/// Port B bits that are writable (0–3); 4–7 are status.
const PB_WRITABLE: u8 = 0x0F;
/// PIT clocks per refresh cycle: the AT's counter 1 in mode 2 with count 18, 15.08 µs.
const REFRESH_CLOCKS: u64 = 18;

/// The number of PIT clock edges at or before virtual time `now`.
fn clock_edges(now: u64) -> u64 {
    (now as u128 * PIT_HZ as u128 / NS_PER_S) as u64
}

/// The virtual time of clock edge `n`.
fn edge_time(n: u64) -> u64 {
    let t = (n as u128 * NS_PER_S).div_ceil(PIT_HZ as u128);
    t.min(u64::MAX as u128) as u64
}

/// A 16-bit value read as four BCD digits (digits above 9 count with their binary weight).
fn from_bcd(v: u16) -> u32 {
    (0..4)
        .rev()
        .fold(0, |acc, i| acc * 10 + ((v >> (4 * i)) & 0xF) as u32)
}

/// `v` (below 10000) as four BCD digits.
fn to_bcd(v: u32) -> u16 {
    (0..4)
        .rev()
        .fold(0, |acc, i| (acc << 4) | ((v / 10u32.pow(i)) % 10) as u16)
}

/// The lengths of mode 3's high and low halves for count `n` (odd counts: high one longer).
fn halves(n: u64) -> (u64, u64) {
    (n.div_ceil(2), n / 2)
}

/// Where a counter's CE and OUT stand from one clock edge on, until the next event.
#[derive(Debug, Clone, Copy)]
struct Seg {
    /// The clock edge at which the CE held `count`.
    edge: u64,
    /// Modes 0, 1, 4, 5: the CE at `edge`. Modes 2, 3 when `run`: the count N loaded at
    /// `edge`; when not running: the frozen CE.
    count: u32,
    /// The CE counts (loaded and, for modes 0, 2, 3, 4, not held by the gate).
    run: bool,
    /// Modes 0, 1, 4, 5: the terminal count still ahead changes OUT.
    armed: bool,
    /// OUT when nothing armed decides it.
    out: bool,
    /// Mode 3: the segment starts with the low half (a count loaded at the end of a high half).
    low_first: bool,
}

/// One of the three counters.
#[derive(Debug, Clone)]
struct Counter {
    /// M2–M0 as written (the status byte returns them; 6 and 7 act as 2 and 3).
    mode_bits: u8,
    /// RW1–RW0: 1 LSB only, 2 MSB only, 3 LSB then MSB.
    rw: u8,
    bcd: bool,
    /// The count register (CR), last complete value.
    cr: u16,
    /// The LSB of a two-byte count waiting for its MSB.
    cr_lsb: u8,
    /// The write flip-flop: the next byte written is the MSB.
    write_msb: bool,
    /// A count was written since the control word.
    counted: bool,
    /// Status NULL COUNT: the CR holds a count not yet loaded into the CE.
    null_count: bool,
    /// The clock edge count when the CR was last completed (modes 2 and 3 load it at the
    /// end of the cycle that was running then).
    cr_edge: u64,
    /// The output latch (counter latch or read-back).
    latch: Option<u16>,
    /// The latched status byte.
    status: Option<u8>,
    /// The read flip-flop: the next byte read is the MSB.
    read_msb: bool,
    gate: bool,
    seg: Seg,
    /// The clock edge at which the CR is loaded into the CE ("on the next CLK pulse").
    pending: Option<u64>,
}

impl Counter {
    /// The state QEMU gives at reset, which is also what a PC BIOS programs for counter 0:
    /// mode 3, LSB then MSB, binary, count 0 (65536) loaded at time 0.
    fn power_on(gate: bool) -> Counter {
        let mut c = Counter {
            mode_bits: 3,
            rw: 3,
            bcd: false,
            cr: 0,
            cr_lsb: 0,
            write_msb: false,
            counted: true,
            null_count: false,
            cr_edge: 0,
            latch: None,
            status: None,
            read_msb: false,
            gate,
            seg: Seg {
                edge: 0,
                count: 0,
                run: false,
                armed: false,
                out: true,
                low_first: false,
            },
            pending: None,
        };
        c.load(0);
        c
    }

    fn mode(&self) -> u8 {
        match self.mode_bits {
            6 => 2,
            7 => 3,
            m => m,
        }
    }

    fn periodic(&self) -> bool {
        matches!(self.mode(), 2 | 3)
    }

    /// The CE wraps at 2^16 in binary, 10^4 in BCD.
    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    /// The CR as a count: 0 is the largest (65536 binary, 10000 BCD).
    fn initial(&self) -> u32 {
        let v = if self.bcd {
            from_bcd(self.cr)
        } else {
            self.cr as u32
        };
        if v == 0 {
            self.modulus() as u32
        } else {
            v
        }
    }

    /// The gate enables counting in modes 0, 2, 3, 4; in modes 1 and 5 it only triggers.
    fn counting(&self) -> bool {
        self.seg.run && (self.gate || matches!(self.mode(), 1 | 5))
    }

    /// Mode 3 at `e` clocks into a running segment: (OUT, CE). Datasheet mode 3: an even count
    /// is loaded and decremented by two; an odd count loads N - 1, and OUT stays high one
    /// clock longer (showing 0) before going low.
    fn mode3(&self, e: u64) -> (bool, u64) {
        let n = self.seg.count.max(1) as u64;
        let (hi, lo) = halves(n);
        let p = e % n;
        let (low, q) = match (self.seg.low_first, p) {
            (true, p) if p < lo => (true, p),
            (true, p) => (false, p - lo),
            (false, p) if p < hi => (false, p),
            (false, p) => (true, p - hi),
        };
        let ce = if n.is_multiple_of(2) {
            n - 2 * q
        } else if !low && q + 1 == hi {
            0
        } else {
            n - 1 - 2 * q
        };
        (!low, ce)
    }

    /// The CE after clock edge `k` (as an integer below the modulus).
    fn ce(&self, k: u64) -> u32 {
        let s = self.seg;
        let m = self.modulus();
        let e = k.saturating_sub(s.edge);
        let v = match self.mode() {
            2 | 3 if !s.run => s.count as u64,
            2 => {
                let n = s.count.max(1) as u64;
                n - e % n
            }
            3 => self.mode3(e).1,
            _ if self.counting() => s.count as u64 + m - e % m,
            _ => s.count as u64,
        };
        (v % m) as u32
    }

    /// OUT after clock edge `k`, as the mode timing diagrams draw it.
    fn out_at(&self, k: u64) -> bool {
        let s = self.seg;
        let e = k.saturating_sub(s.edge);
        let tc = s.armed && self.counting();
        match self.mode() {
            // Low from the count write until terminal count, then high.
            0 => s.out || (tc && e >= s.count as u64),
            // Low from the trigger's load until terminal count.
            1 => {
                if tc {
                    e >= s.count as u64
                } else {
                    s.out
                }
            }
            // Low for the one clock when the CE is 1; forced high while the gate is low.
            2 => {
                let n = s.count.max(1) as u64;
                !s.run || e % n != n - 1
            }
            3 => !s.run || self.mode3(e).0,
            // Modes 4 and 5: low for the one clock when the CE reaches 0.
            _ => !(tc && e == s.count as u64),
        }
    }

    /// The CE as the chip shows it (BCD digits in BCD mode).
    fn display(&self, k: u64) -> u16 {
        let v = self.ce(k);
        if self.bcd {
            to_bcd(v)
        } else {
            v as u16
        }
    }

    /// Restarts the segment at edge `k` with the same future (for the periodic modes this
    /// freezes the CE: its callers are a falling gate and a control word).
    fn settle(&mut self, k: u64) {
        if k <= self.seg.edge {
            return;
        }
        let e = k - self.seg.edge;
        if self.periodic() {
            if self.seg.run {
                self.seg.count = self.ce(k);
                self.seg.run = false;
                self.seg.out = true;
            }
        } else if self.counting() {
            let out = self.out_at(k);
            let ce = self.ce(k);
            // Modes 4/5 are still armed on the very clock of their strobe.
            let strobe = matches!(self.mode(), 4 | 5);
            let s = &mut self.seg;
            let count = s.count as u64;
            let ahead = if strobe { e <= count } else { e < count };
            s.armed = s.armed && ahead;
            s.count = if e <= count { (count - e) as u32 } else { ce };
            s.out = out;
        }
        self.seg.edge = k;
    }

    /// The CR is transferred to the CE at clock edge `edge`.
    fn load(&mut self, edge: u64) {
        let periodic = self.periodic();
        let mode = self.mode();
        self.null_count = false;
        self.seg = Seg {
            edge,
            count: self.initial(),
            run: !periodic || self.gate,
            armed: !periodic,
            out: mode != 0,
            low_first: false,
        };
    }

    /// Modes 2 and 3 while running: the edge at which a CR written at `cr_edge` is loaded (the
    /// end of the current period, or of the current half in mode 3), and whether the new
    /// segment then starts with the low half.
    fn reload_edge(&self) -> (u64, bool) {
        let s = self.seg;
        let n = s.count.max(1) as u64;
        let rel = self.cr_edge.saturating_sub(s.edge);
        let base = rel - rel % n;
        if self.mode() == 2 {
            return (s.edge + base + n, false);
        }
        let (hi, lo) = halves(n);
        let first = if s.low_first { lo } else { hi };
        if first > 0 && base + first > rel {
            (s.edge + base + first, !s.low_first)
        } else {
            (s.edge + base + n, s.low_first)
        }
    }

    fn periodic_reload_due(&self) -> bool {
        self.pending.is_none() && self.null_count && self.counted && self.seg.run && self.periodic()
    }

    /// Applies the loads that happened by clock edge `k`.
    fn sync(&mut self, k: u64) {
        if let Some(p) = self.pending {
            if p <= k {
                self.pending = None;
                self.load(p);
            }
        }
        if self.periodic_reload_due() {
            let (r, low_first) = self.reload_edge();
            if r <= k {
                self.load(r);
                self.seg.low_first = low_first;
            }
        }
    }

    /// The next clock edge after `after` at which OUT may change or a load happens.
    fn next_event(&self, after: u64) -> Option<u64> {
        let mut best: Option<u64> = None;
        let mut consider = |e: u64| {
            if e > after {
                best = Some(best.map_or(e, |b| b.min(e)));
            }
        };
        if let Some(p) = self.pending {
            consider(p);
        }
        if self.periodic_reload_due() {
            consider(self.reload_edge().0);
        }
        let s = self.seg;
        let count = s.count as u64;
        let ea = after.saturating_sub(s.edge);
        match self.mode() {
            0 | 1 if s.armed && self.counting() => consider(s.edge + count),
            4 | 5 if s.armed && self.counting() => {
                consider(s.edge + count);
                consider(s.edge + count + 1);
            }
            2 if s.run && count > 1 => {
                let p = ea % count;
                consider(s.edge + ea - p + if p < count - 1 { count - 1 } else { count });
            }
            3 if s.run && count > 1 => {
                let (hi, lo) = halves(count);
                let first = if s.low_first { lo } else { hi };
                let p = ea % count;
                consider(s.edge + ea - p + if p < first { first } else { count });
            }
            _ => {}
        }
        best
    }

    /// A control word for this counter (SC = this counter, RW != 0). Datasheet: all control
    /// logic is reset, OUT goes to its initial state (low in mode 0, high otherwise) and the
    /// counter waits for a count.
    fn control(&mut self, k: u64, cw: u8) {
        self.settle(k);
        self.mode_bits = (cw >> 1) & 7;
        self.rw = (cw >> 4) & 3;
        self.bcd = cw & 1 != 0;
        self.seg.run = false;
        self.seg.armed = false;
        self.seg.out = self.mode() != 0;
        self.seg.low_first = false;
        self.pending = None;
        self.counted = false;
        self.null_count = true;
        self.write_msb = false;
        self.read_msb = false;
        self.latch = None;
    }

    fn latch_count(&mut self, k: u64) {
        // A second latch before the first is read is ignored.
        if self.latch.is_none() {
            self.latch = Some(self.display(k));
        }
    }

    fn latch_status(&mut self, k: u64) {
        if self.status.is_none() {
            let s = (self.out_at(k) as u8) << 7
                | (self.null_count as u8) << 6
                | self.rw << 4
                | self.mode_bits << 1
                | self.bcd as u8;
            self.status = Some(s);
        }
    }

    fn write(&mut self, k: u64, value: u8) {
        match self.rw {
            1 => self.count_written(k, value as u16),
            2 => self.count_written(k, (value as u16) << 8),
            _ if !self.write_msb => {
                self.cr_lsb = value;
                self.write_msb = true;
                // Mode 0: writing the first byte disables counting and sets OUT low at once.
                if self.mode() == 0 {
                    self.settle(k);
                    self.seg.run = false;
                    self.seg.armed = false;
                    self.seg.out = false;
                }
            }
            _ => {
                self.write_msb = false;
                self.count_written(k, self.cr_lsb as u16 | (value as u16) << 8);
            }
        }
    }

    /// A complete count reached the CR at clock edge `k`.
    fn count_written(&mut self, k: u64, value: u16) {
        self.cr = value;
        self.null_count = true;
        self.cr_edge = k;
        self.counted = true;
        match self.mode() {
            0 => {
                self.settle(k);
                self.seg.run = false;
                self.seg.armed = false;
                self.seg.out = false;
                self.pending = Some(k + 1);
            }
            4 => self.pending = Some(k + 1),
            // While counting, modes 2 and 3 load the new count at the end of the cycle.
            2 | 3 if !self.seg.run || self.pending.is_some() => self.pending = Some(k + 1),
            // Modes 1 and 5 wait for a gate trigger.
            _ => {}
        }
    }

    fn read(&mut self, k: u64) -> u8 {
        // A latched status is read first, then a latched count (datasheet, read-back command).
        if let Some(s) = self.status.take() {
            return s;
        }
        let value = self.latch.unwrap_or_else(|| self.display(k));
        let (byte, done) = match self.rw {
            1 => (value as u8, true),
            2 => ((value >> 8) as u8, true),
            _ if !self.read_msb => (value as u8, false),
            _ => ((value >> 8) as u8, true),
        };
        if self.rw == 3 {
            self.read_msb = !self.read_msb;
        }
        if done {
            self.latch = None;
        }
        byte
    }

    /// The gate input changes at clock edge `k`. Datasheet "Gate" table: modes 0 and 4 stop
    /// while it is low; modes 2 and 3 stop with OUT high and reload on its rising edge; modes 1
    /// and 5 are triggered (loaded on the next clock) by its rising edge.
    fn set_gate(&mut self, k: u64, level: bool) {
        if level == self.gate {
            return;
        }
        self.settle(k);
        self.gate = level;
        if level && self.counted && self.mode() != 0 && self.mode() != 4 {
            self.pending = Some(k + 1);
        }
    }
}

/// The 8254 with port 0x61.
#[derive(Debug, Clone)]
pub struct Pit {
    counters: [Counter; 3],
    /// Port 0x61 bits 0–3 as written.
    port_b: u8,
    /// The latest clock edge the counters were brought up to.
    last_edge: u64,
}

impl Default for Pit {
    fn default() -> Self {
        Pit::new()
    }
}

impl Pit {
    /// The PIT at power-on (virtual time 0): every counter in mode 3 with count 65536 — so
    /// counter 0 already ticks IRQ 0 at 18.2 Hz, as after QEMU's reset or a PC BIOS; counter 2's
    /// gate (port 0x61 bit 0) is low.
    pub fn new() -> Pit {
        Pit {
            counters: [
                Counter::power_on(true),
                Counter::power_on(true),
                Counter::power_on(false),
            ],
            port_b: 0,
            last_edge: 0,
        }
    }

    /// Brings all counters up to virtual time `now`; returns the clock edge count.
    fn sync(&mut self, now: u64) -> u64 {
        let k = clock_edges(now);
        self.last_edge = self.last_edge.max(k);
        for c in &mut self.counters {
            c.sync(k);
        }
        k
    }

    /// The OUT pin of counter `channel` (0–2) at virtual time `now`; false for other channels.
    pub fn out(&mut self, channel: usize, now: u64) -> bool {
        let k = self.sync(now);
        self.counters.get(channel).is_some_and(|c| c.out_at(k))
    }

    /// The speaker input at `now`: OUT2 gated by port 0x61 bit 1.
    pub fn speaker(&mut self, now: u64) -> bool {
        self.port_b & PB_SPEAKER != 0 && self.out(2, now)
    }

    fn read_byte(&mut self, now: u64, port: u16) -> u8 {
        let k = self.sync(now);
        match port {
            COUNTER0..=COUNTER2 => self.counters[(port - COUNTER0) as usize].read(k),
            // The refresh bit toggles once per refresh cycle; bits 6 and 7 (IOCHK and SERR
            // NMI sources) read 0: nothing on this board raises them.
            PORT_B => {
                let refresh = if (k / REFRESH_CLOCKS) % 2 == 1 {
                    PB_REFRESH
                } else {
                    0
                };
                let out2 = if self.counters[2].out_at(k) {
                    PB_OUT2
                } else {
                    0
                };
                (self.port_b & PB_WRITABLE) | refresh | out2
            }
            // The control port is write only: the data bus floats.
            _ => 0xFF,
        }
    }

    fn write_byte(&mut self, now: u64, port: u16, value: u8) {
        let k = self.sync(now);
        match port {
            COUNTER0..=COUNTER2 => self.counters[(port - COUNTER0) as usize].write(k, value),
            CONTROL => self.control_word(k, value),
            PORT_B => {
                self.port_b = value & PB_WRITABLE;
                self.counters[2].set_gate(k, value & PB_GATE2 != 0);
            }
            _ => {}
        }
    }

    /// Control word: SC1–SC0 select the counter (11 = read-back); RW = 00 is the counter
    /// latch command.
    fn control_word(&mut self, k: u64, cw: u8) {
        if cw & CW_READ_BACK == CW_READ_BACK {
            for (i, c) in self.counters.iter_mut().enumerate() {
                if cw & (2 << i) != 0 {
                    if cw & RB_NO_STATUS == 0 {
                        c.latch_status(k);
                    }
                    if cw & RB_NO_COUNT == 0 {
                        c.latch_count(k);
                    }
                }
            }
            return;
        }
        let c = &mut self.counters[(cw >> 6) as usize];
        if cw & 0x30 == 0 {
            c.latch_count(k);
        } else {
            c.control(k, cw);
        }
    }
}

impl Timed for Pit {
    /// The next clock edge at which OUT0 may change (both edges: the PIC's edge detector needs
    /// to see OUT0 low before it can see it rise).
    fn deadline(&self) -> Option<u64> {
        self.counters[0].next_event(self.last_edge).map(edge_time)
    }

    fn tick(&mut self, now: u64) {
        self.sync(now);
    }
}

impl PortIo for Pit {
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32 {
        (0..size.min(4) as u16)
            .map(|i| (self.read_byte(ctx.now, port.wrapping_add(i)) as u32) << (8 * i))
            .fold(0, |acc, b| acc | b)
    }

    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32) {
        for i in 0..size.min(4) as u16 {
            self.write_byte(ctx.now, port.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    /// The virtual time of PIT clock edge `n`.
    fn at(n: u64) -> u64 {
        edge_time(n)
    }

    struct Rig {
        pit: Pit,
        mem: PhysMem,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                pit: Pit::new(),
                mem: PhysMem::new(4096).unwrap(),
            }
        }

        fn out(&mut self, now: u64, port: u16, value: u8) {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.pit.io_write(&mut ctx, port, 1, value as u32);
        }

        fn inb(&mut self, now: u64, port: u16) -> u8 {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.pit.io_read(&mut ctx, port, 1) as u8
        }

        /// Control word, then a two-byte count, all at `now`.
        fn program(&mut self, now: u64, counter: u16, cw: u8, count: u16) {
            self.out(now, CONTROL, cw);
            self.out(now, COUNTER0 + counter, count as u8);
            self.out(now, COUNTER0 + counter, (count >> 8) as u8);
        }

        /// Counter latch command, then LSB and MSB (two-byte access mode).
        fn latched(&mut self, now: u64, counter: u16) -> u16 {
            self.out(now, CONTROL, (counter as u8) << 6);
            let lo = self.inb(now, COUNTER0 + counter) as u16;
            lo | (self.inb(now, COUNTER0 + counter) as u16) << 8
        }
    }

    #[test]
    fn clock_edges_and_their_times_agree() {
        // Edge n happens at ceil(n * 1e9 / 1193182) ns: at that time it has happened, 1 ns
        // earlier it has not.
        for n in [1, 2, 18, 1000, 65536, 1_193_182, 10_000_000_007] {
            assert_eq!(clock_edges(at(n)), n);
            assert_eq!(clock_edges(at(n) - 1), n - 1);
        }
        assert_eq!(at(1_193_182), 1_000_000_000);
    }

    #[test]
    fn mode_waveforms_follow_the_timing_diagrams() {
        // Counter 0 (gate high), count written at clock edge 100, so loaded on edge 101.
        // Each row: (control word, count, [(CE, OUT) after edges 101, 102, ...]).
        const H: bool = true;
        const L: bool = false;
        type Wave = (u8, u16, &'static [(u16, bool)]);
        let cases: &[Wave] = &[
            // Mode 0: OUT low until terminal count, N + 1 clocks after the write; the CE wraps.
            (
                0x30,
                5,
                &[
                    (5, L),
                    (4, L),
                    (3, L),
                    (2, L),
                    (1, L),
                    (0, H),
                    (0xFFFF, H),
                    (0xFFFE, H),
                ],
            ),
            // Mode 2: OUT low for the clock where the CE is 1, period N.
            (
                0x34,
                4,
                &[
                    (4, H),
                    (3, H),
                    (2, H),
                    (1, L),
                    (4, H),
                    (3, H),
                    (2, H),
                    (1, L),
                    (4, H),
                ],
            ),
            // Mode 6 is mode 2.
            (0x3C, 3, &[(3, H), (2, H), (1, L), (3, H)]),
            // Mode 3, even count: decrement by two, OUT toggles every N/2 clocks.
            (
                0x36,
                4,
                &[(4, H), (2, H), (4, L), (2, L), (4, H), (2, H), (4, L)],
            ),
            // Mode 3, odd count: N - 1 loaded; high (N + 1)/2 clocks, low (N - 1)/2.
            (
                0x36,
                5,
                &[
                    (4, H),
                    (2, H),
                    (0, H),
                    (4, L),
                    (2, L),
                    (4, H),
                    (2, H),
                    (0, H),
                    (4, L),
                ],
            ),
            // Mode 7 is mode 3.
            (
                0x3E,
                6,
                &[(6, H), (4, H), (2, H), (6, L), (4, L), (2, L), (6, H)],
            ),
            // Mode 4: one clock low when the CE reaches 0, then counting on without reload.
            (
                0x38,
                3,
                &[(3, H), (2, H), (1, H), (0, L), (0xFFFF, H), (0xFFFE, H)],
            ),
        ];
        for &(cw, count, rows) in cases {
            let mut r = Rig::new();
            r.program(at(100), 0, cw, count);
            assert_eq!(
                r.pit.out(0, at(100)),
                cw & 0x0E != 0,
                "cw {cw:#x}: OUT after the write"
            );
            for (i, &(ce, out)) in rows.iter().enumerate() {
                let edge = 101 + i as u64;
                for t in [at(edge), at(edge + 1) - 1] {
                    assert_eq!(r.latched(t, 0), ce, "cw {cw:#x} edge {edge} t {t}");
                    assert_eq!(r.pit.out(0, t), out, "cw {cw:#x} edge {edge} t {t}");
                }
            }
        }
    }

    #[test]
    fn gate_triggered_modes_on_counter_2() {
        // Modes 1 and 5 start on the gate's rising edge (port 0x61 bit 0), loading on the next
        // clock. Mode 1: OUT low from that load until terminal count; retriggerable. Mode 5:
        // one clock low at terminal count.
        let mut r = Rig::new();
        r.program(at(100), 2, 0xB2, 3); // counter 2, mode 1
        assert!(r.pit.out(2, at(150)), "mode 1: OUT high until triggered");
        r.out(at(200), PORT_B, 0x01);
        assert!(r.pit.out(2, at(200)));
        let expect = [
            (3, false),
            (2, false),
            (1, false),
            (0, true),
            (0xFFFF, true),
        ];
        for (i, &(ce, out)) in expect.iter().enumerate() {
            let t = at(201 + i as u64);
            assert_eq!(r.latched(t, 2), ce, "mode 1 edge {}", 201 + i);
            assert_eq!(
                r.inb(t, PORT_B) & PB_OUT2 != 0,
                out,
                "mode 1 edge {}",
                201 + i
            );
        }
        // Retrigger during a one-shot: the count restarts, OUT stays low.
        r.out(at(300), PORT_B, 0x00);
        r.out(at(302), PORT_B, 0x01);
        assert!(!r.pit.out(2, at(303)));
        r.out(at(304), PORT_B, 0x00);
        r.out(at(304), PORT_B, 0x01);
        assert!(!r.pit.out(2, at(307)), "retriggered at 304: low until 308");
        assert!(r.pit.out(2, at(308)));

        let mut r = Rig::new();
        r.program(at(100), 2, 0xBA, 3); // counter 2, mode 5
        r.out(at(200), PORT_B, 0x01);
        let expect = [(3, true), (2, true), (1, true), (0, false), (0xFFFF, true)];
        for (i, &(ce, out)) in expect.iter().enumerate() {
            let t = at(201 + i as u64);
            assert_eq!(r.latched(t, 2), ce, "mode 5 edge {}", 201 + i);
            assert_eq!(r.pit.out(2, t), out, "mode 5 edge {}", 201 + i);
        }
    }

    #[test]
    fn gate_low_stops_counting() {
        // Mode 0 holds the count while the gate is low; mode 2 also forces OUT high, and the
        // gate's rising edge reloads the count on the next clock.
        let mut r = Rig::new();
        r.out(0, PORT_B, 0x01);
        r.program(at(100), 2, 0xB0, 100); // mode 0
        assert_eq!(r.latched(at(111), 2), 90);
        r.out(at(111), PORT_B, 0x00);
        assert_eq!(r.latched(at(500), 2), 90, "held while the gate is low");
        r.out(at(500), PORT_B, 0x01);
        assert_eq!(r.latched(at(510), 2), 80);
        assert!(!r.pit.out(2, at(589)));
        assert!(
            r.pit.out(2, at(590)),
            "terminal count after the 100 counted clocks"
        );

        let mut r = Rig::new();
        r.out(0, PORT_B, 0x01);
        r.program(at(100), 2, 0xB4, 10); // mode 2
        assert!(!r.pit.out(2, at(110)), "CE = 1 on edge 110");
        r.out(at(110), PORT_B, 0x00);
        assert!(r.pit.out(2, at(110)), "gate low forces OUT high at once");
        assert_eq!(r.latched(at(200), 2), 1);
        r.out(at(200), PORT_B, 0x01);
        assert_eq!(
            r.latched(at(201), 2),
            10,
            "reloaded on the clock after the rising gate"
        );
        assert!(!r.pit.out(2, at(210)));
        assert!(r.pit.out(2, at(211)));
    }

    #[test]
    fn new_count_in_modes_2_and_3_waits_for_the_cycle_end() {
        // Modes 2 and 3: a count written while counting is loaded at the end of the current
        // period (mode 2) or half-period (mode 3); NULL COUNT stays set until then.
        let mut r = Rig::new();
        r.program(at(100), 0, 0x34, 10);
        r.out(at(105), COUNTER0, 4);
        r.out(at(105), COUNTER0, 0);
        r.out(at(105), CONTROL, 0xE2); // read-back status of counter 0
        assert_eq!(r.inb(at(105), COUNTER0) & 0x40, 0x40, "NULL COUNT");
        assert_eq!(r.latched(at(109), 0), 2);
        assert_eq!(r.latched(at(110), 0), 1);
        assert!(!r.pit.out(0, at(110)));
        let seq = [(4, true), (3, true), (2, true), (1, false), (4, true)];
        for (i, &(ce, out)) in seq.iter().enumerate() {
            let t = at(111 + i as u64);
            assert_eq!(r.latched(t, 0), ce);
            assert_eq!(r.pit.out(0, t), out);
        }
        r.out(at(120), CONTROL, 0xE2);
        assert_eq!(r.inb(at(120), COUNTER0) & 0x40, 0, "loaded");

        let mut r = Rig::new();
        r.program(at(100), 0, 0x36, 10);
        r.out(at(103), COUNTER0, 4);
        r.out(at(103), COUNTER0, 0);
        assert_eq!(r.latched(at(105), 0), 2);
        assert!(r.pit.out(0, at(105)));
        let seq = [(4, false), (2, false), (4, true), (2, true), (4, false)];
        for (i, &(ce, out)) in seq.iter().enumerate() {
            let t = at(106 + i as u64);
            assert_eq!(r.latched(t, 0), ce, "edge {}", 106 + i);
            assert_eq!(r.pit.out(0, t), out, "edge {}", 106 + i);
        }
    }

    #[test]
    fn mode_0_first_byte_stops_counting_and_sets_out_low() {
        // Mode 0, two-byte count: the first byte disables counting and sets OUT low without a
        // clock; the second loads the new count on the next clock.
        let mut r = Rig::new();
        r.program(at(100), 0, 0x30, 5);
        assert!(r.pit.out(0, at(106)));
        r.out(at(110), COUNTER0, 0x20);
        assert!(!r.pit.out(0, at(110)));
        assert_eq!(r.latched(at(150), 0), 0xFFFC, "held since edge 110");
        r.out(at(150), COUNTER0, 0x00);
        assert_eq!(r.latched(at(151), 0), 0x20);
        assert!(!r.pit.out(0, at(182)));
        assert!(r.pit.out(0, at(183)));
    }

    #[test]
    fn latch_and_read_back_commands() {
        // A latched count stays until read; a second latch before that is ignored. Read-back
        // latches status and count of several counters at once; status reads first.
        let mut r = Rig::new();
        r.program(at(100), 0, 0x34, 1000);
        r.out(at(150), CONTROL, 0x00);
        r.out(at(200), CONTROL, 0x00);
        assert_eq!(r.inb(at(300), COUNTER0), (951u16 & 0xFF) as u8);
        assert_eq!(r.inb(at(300), COUNTER0), (951u16 >> 8) as u8);
        assert_eq!(r.latched(at(300), 0), 801, "released: live count again");

        r.out(0, PORT_B, 0x01);
        r.program(at(400), 2, 0xB6, 0x1234); // counter 2 mode 3
        r.out(at(401), CONTROL, 0xCA); // read-back count + status, counters 0 and 2
        assert_eq!(
            r.inb(at(500), COUNTER0),
            0x80 | 0x34,
            "OUT high, RW 3, mode 2, binary"
        );
        let c0 = r.inb(at(500), COUNTER0) as u16 | (r.inb(at(500), COUNTER0) as u16) << 8;
        assert_eq!(
            c0, 700,
            "loaded on edge 101: 300 clocks into the 1000-clock period"
        );
        assert_eq!(r.inb(at(500), COUNTER2), 0x80 | 0x36);
        let c2 = r.inb(at(500), COUNTER2) as u16 | (r.inb(at(500), COUNTER2) as u16) << 8;
        assert_eq!(c2, 0x1234, "loaded on edge 401 and latched there");
        // Status only: NULL COUNT after a control word, before any count.
        r.out(at(600), CONTROL, 0x70); // counter 1, mode 0
        r.out(at(600), CONTROL, 0xE4);
        assert_eq!(
            r.inb(at(600), COUNTER1),
            0x40 | 0x30,
            "OUT low in mode 0, NULL COUNT"
        );
        r.out(at(600), COUNTER1, 2);
        r.out(at(600), COUNTER1, 0);
        r.out(at(600), CONTROL, 0xE4);
        assert_eq!(
            r.inb(at(600), COUNTER1),
            0x40 | 0x30,
            "written, not yet loaded"
        );
        r.out(at(601), CONTROL, 0xE4);
        assert_eq!(r.inb(at(601), COUNTER1), 0x30, "loaded");
        r.out(at(603), CONTROL, 0xE4);
        assert_eq!(
            r.inb(at(603), COUNTER1),
            0x80 | 0x30,
            "terminal count: OUT high"
        );
        // Count-only read-back of one counter; unselected counters are not latched.
        r.out(at(700), CONTROL, 0xD2);
        assert_eq!(
            r.inb(at(900), COUNTER0) as u16 | (r.inb(at(900), COUNTER0) as u16) << 8,
            401,
            "599 clocks into the period"
        );
        assert_eq!(
            r.latched(at(900), 2),
            0x1234 - 2 * 499,
            "mode 3 counts by two: 499 clocks after its load on edge 401"
        );
    }

    #[test]
    fn bcd_counting() {
        // BCD: the CE counts decades; a count of 0 is 10000.
        let mut r = Rig::new();
        r.program(at(100), 0, 0x35, 0x0012); // mode 2, BCD
        for (i, ce) in [0x12, 0x11, 0x10, 0x09, 0x08].into_iter().enumerate() {
            assert_eq!(r.latched(at(101 + i as u64), 0), ce);
        }
        r.program(at(200), 0, 0x31, 0x0000); // mode 0, BCD, 10000
        assert_eq!(r.latched(at(201), 0), 0x0000);
        assert_eq!(r.latched(at(202), 0), 0x9999);
        assert_eq!(r.latched(at(201 + 1234), 0), to_bcd(10000 - 1234));
        assert!(!r.pit.out(0, at(201 + 9999)));
        assert!(r.pit.out(0, at(201 + 10000)));
    }

    #[test]
    fn access_modes_and_flip_flops() {
        // RW = 01: LSB only (MSB 0); RW = 10: MSB only (LSB 0); RW = 11: LSB then MSB, with
        // separate read and write flip-flops that may interleave.
        let mut r = Rig::new();
        r.out(at(100), CONTROL, 0x14); // counter 0, LSB only, mode 2
        r.out(at(100), COUNTER0, 0x20);
        assert_eq!(r.inb(at(101), COUNTER0), 0x20);
        assert_eq!(r.inb(at(102), COUNTER0), 0x1F, "every read is an LSB");
        r.out(at(200), CONTROL, 0x24); // MSB only
        r.out(at(200), COUNTER0, 0x01);
        assert_eq!(r.inb(at(201), COUNTER0), 0x01);
        assert_eq!(r.inb(at(202), COUNTER0), 0x00, "255: MSB 0");

        r.program(at(300), 0, 0x34, 0x0300);
        r.out(at(400), CONTROL, 0x00);
        assert_eq!(r.inb(at(400), COUNTER0), 0x9D); // 0x300 - 99 = 0x29D
        r.out(at(400), COUNTER0, 0x00);
        assert_eq!(r.inb(at(400), COUNTER0), 0x02);
        r.out(at(400), COUNTER0, 0x01);
        assert_eq!(
            r.latched(at(768 + 301), 0),
            0x0100,
            "new count at the end of the cycle"
        );
        // Unlatched two-byte reads see the CE at each read.
        let lo = r.inb(at(1100), COUNTER0);
        let hi = r.inb(at(1100 + 0x10), COUNTER0);
        assert_eq!((lo, hi), (0xE1, 0x00));
        // A 16-bit IN from 0x40 is two byte reads.
        let mut ctx = DevCtx {
            now: at(1200),
            mem: &mut r.mem,
        };
        r.pit.io_write(&mut ctx, CONTROL, 1, 0x00);
        assert_eq!(
            r.pit.io_read(&mut ctx, COUNTER0, 2) & 0xFF,
            (0x100 - (1200 - 1069)) & 0xFF
        );
    }

    #[test]
    fn port_61_gate_out2_refresh_and_speaker() {
        // Port 0x61: bits 0-3 read back as written, bit 4 toggles every refresh cycle (18 PIT
        // clocks, 15.08 us), bit 5 is OUT2, bits 6-7 (NMI sources) read 0; bits 4-7 ignore
        // writes.
        let mut r = Rig::new();
        r.out(0, PORT_B, 0xFF);
        assert_eq!(r.inb(0, PORT_B) & 0xCF, 0x0F);
        for (edge, bit) in [(0, 0), (17, 0), (18, PB_REFRESH), (35, PB_REFRESH), (36, 0)] {
            assert_eq!(r.inb(at(edge), PORT_B) & PB_REFRESH, bit, "edge {edge}");
        }
        assert!(15_000 < at(18) && at(18) < 15_100);
        // Power-on counter 2: mode 3 with 65536; OUT2 high until the gate runs it.
        r.out(at(100), PORT_B, 0x03);
        r.program(at(100), 2, 0xB6, 4);
        assert_eq!(r.inb(at(101), PORT_B) & PB_OUT2, PB_OUT2);
        assert!(r.pit.speaker(at(101)));
        assert_eq!(r.inb(at(103), PORT_B) & PB_OUT2, 0);
        assert!(!r.pit.speaker(at(103)));
        r.out(at(104), PORT_B, 0x01);
        assert!(!r.pit.speaker(at(105)), "speaker data disabled");
    }

    #[test]
    fn linux_style_tsc_calibration_through_port_61() {
        // Linux (pit_calibrate_tsc): gate on, speaker off, counter 2 mode 0 with 50 ms worth
        // of clocks, then poll port 0x61 bit 5. OUT2 must rise exactly latch + 1 clocks after
        // the last count byte, in virtual time.
        let mut r = Rig::new();
        let t0 = 1_234_567;
        let latch = (PIT_HZ / 20) as u16;
        let v = r.inb(t0, PORT_B);
        r.out(t0, PORT_B, (v & !PB_SPEAKER) | PB_GATE2);
        r.program(t0, 2, 0xB0, latch);
        let rise = at(clock_edges(t0) + 1 + latch as u64);
        assert_eq!(r.inb(rise - 1, PORT_B) & PB_OUT2, 0);
        assert_eq!(r.inb(rise, PORT_B) & PB_OUT2, PB_OUT2);
        let elapsed = rise - t0;
        assert!((50_000_000..50_001_700).contains(&elapsed), "{elapsed} ns");
        // quick_pit_calibrate reads the MSB of a 0xFFFF mode-0 count: it drops every 256 clocks.
        r.program(t0, 2, 0xB0, 0xFFFF);
        let load = clock_edges(t0) + 1;
        for j in [0u64, 1, 2, 100, 200] {
            let t = at(load + 256 * j);
            let _lsb = r.inb(t, COUNTER2);
            assert_eq!(
                r.inb(t, COUNTER2),
                0xFF - j as u8,
                "MSB after {j} * 256 clocks"
            );
        }
    }

    #[test]
    fn deadlines_follow_out0_edges() {
        // The board raises IRQ 0 from OUT0: each deadline is the next OUT0 transition, and
        // ticking there shows the new level.
        let mut r = Rig::new();
        assert_eq!(
            r.pit.deadline(),
            Some(at(32768)),
            "power-on mode 3, 65536: first fall"
        );
        r.program(at(100), 0, 0x34, 4); // mode 2
        assert_eq!(r.pit.deadline(), Some(at(101)), "the load");
        r.pit.tick(at(101));
        let mut seen = vec![];
        for _ in 0..4 {
            let t = r.pit.deadline().unwrap();
            r.pit.tick(t);
            seen.push((clock_edges(t), r.pit.out(0, t)));
        }
        assert_eq!(seen, [(104, false), (105, true), (108, false), (109, true)]);
        r.program(at(200), 0, 0x30, 50); // mode 0: one rise, then nothing
        r.pit.tick(at(201));
        assert_eq!(r.pit.deadline(), Some(at(251)));
        r.pit.tick(at(251));
        assert!(r.pit.out(0, at(251)));
        assert_eq!(r.pit.deadline(), None);
        r.program(at(300), 0, 0x36, 5); // mode 3, odd: high 3, low 2
        r.pit.tick(at(301));
        assert_eq!(r.pit.deadline(), Some(at(304)));
        r.pit.tick(at(304));
        assert_eq!(r.pit.deadline(), Some(at(306)));
    }

    #[test]
    fn guest_values_never_panic() {
        // Every control word and byte, on every port, at awkward times.
        let mut r = Rig::new();
        let mut t = 0;
        for cw in 0..=255u8 {
            for port in [COUNTER0, COUNTER1, COUNTER2, CONTROL, PORT_B] {
                t += 377;
                r.out(t, CONTROL, cw);
                r.out(t, port, cw.wrapping_mul(37));
                r.out(t, port, 0xFF);
                r.inb(t + 1, port);
                r.inb(t + 5000, port);
                let _ = r.pit.deadline();
                r.pit.out(0, t + 9000);
            }
        }
        assert!(!r.pit.out(7, t), "no such counter");
    }
}
