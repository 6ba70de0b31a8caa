//! The MC146818 real-time clock and its 128 bytes of CMOS RAM (index port 0x70, whose bit 7
//! is the NMI mask on the PC, and data port 0x71).
//!
//! References: Motorola MC146818A datasheet — the address map, "Update Cycle", "Interrupts",
//! registers A–D, the periodic interrupt rate table (32.768 kHz time base); Dallas DS12887 datasheet (divider bits, the first update 500 ms after the divider
//! leaves reset, the century byte); IBM AT technical reference and QEMU/SeaBIOS for the CMOS
//! layout (memory size, equipment, checksum).
//!
//! Timing model: the divider chain counts 32.768 kHz ticks of virtual time from a known origin.
//! An update happens at every multiple of 32768 ticks (once a second), instantly; UIP is set for
//! the 8 ticks (244 µs) before it; the periodic flag is set at every multiple of the rate's
//! tick count. All of that is computed lazily from `now` at each access, so the clock follows
//! virtual time exactly and costs nothing between accesses. The time registers are kept as the
//! bytes the guest sees; an update decodes them in the current format (BCD or binary, 12 or 24
//! hours), advances them and writes back the fields that changed, as the chip's update logic
//! works on the stored bytes. Daylight-saving (register B bit 0) is stored but not acted on.

use super::bus::{DevCtx, PortIo, Timed};

/// Index port: bits 6–0 select the CMOS byte, bit 7 masks NMI.
pub const INDEX_PORT: u16 = 0x70;
/// Data port: the selected byte.
pub const DATA_PORT: u16 = 0x71;

const SECONDS: usize = 0x00;
const SECONDS_ALARM: usize = 0x01;
const MINUTES: usize = 0x02;
const MINUTES_ALARM: usize = 0x03;
const HOURS: usize = 0x04;
const HOURS_ALARM: usize = 0x05;
const DAY_OF_WEEK: usize = 0x06;
const DAY_OF_MONTH: usize = 0x07;
const MONTH: usize = 0x08;
const YEAR: usize = 0x09;
const REG_A: usize = 0x0A;
const REG_B: usize = 0x0B;
const REG_C: usize = 0x0C;
const REG_D: usize = 0x0D;
/// The first byte of plain NVRAM.
const NVRAM: usize = 0x0E;
/// The century (IBM convention, kept in the clock's format like the year).
const CENTURY: usize = 0x32;

/// Register A: update in progress (read only).
const A_UIP: u8 = 0x80;
/// Register A: divider bits DV2–DV0.
const A_DV: u8 = 0x70;
/// DV = 010: the 32.768 kHz time base, the clock runs.
const A_DV_RUN: u8 = 0x20;
/// DV = 11x: the divider chain is held in reset.
const A_DV_RESET: u8 = 0x60;
/// Register A: rate select RS3–RS0.
const A_RS: u8 = 0x0F;
/// Register B: SET halts updates so the time can be written.
const B_SET: u8 = 0x80;
/// Register B: periodic interrupt enable.
const B_PIE: u8 = 0x40;
/// Register B: alarm interrupt enable.
const B_AIE: u8 = 0x20;
/// Register B: update-ended interrupt enable.
const B_UIE: u8 = 0x10;
/// Register B: data mode, 1 = binary, 0 = BCD.
const B_DM: u8 = 0x04;
/// Register B: 1 = 24-hour, 0 = 12-hour with the PM flag in hours bit 7.
const B_24H: u8 = 0x02;
/// Register C: IRQF, any enabled flag set (the IRQ pin is asserted).
const C_IRQF: u8 = 0x80;
/// Register C: periodic interrupt flag (lines up with B_PIE).
const C_PF: u8 = 0x40;
/// Register C: alarm flag (lines up with B_AIE).
const C_AF: u8 = 0x20;
/// Register C: update-ended flag (lines up with B_UIE).
const C_UF: u8 = 0x10;
/// Register D: valid RAM and time.
const D_VRT: u8 = 0x80;
/// Hours bit 7 in 12-hour mode.
const PM: u8 = 0x80;
/// An alarm byte of the form 11xxxxxx matches any value.
const ALARM_DONT_CARE: u8 = 0xC0;

const NS_PER_S: u128 = 1_000_000_000;
/// The divider chain's input: 32.768 kHz.
const CHAIN_HZ: u64 = 32_768;
/// UIP rises this many chain ticks (244 µs) before each update.
const UIP_TICKS: u64 = 8;

/// Days from 1970-01-01 to year `y`, month `m` (1–12), day `d` of the proleptic Gregorian
/// calendar. The year is counted from March so that the leap day is the last day of a year;
/// 400 years are exactly 146097 days.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (y, mar) = if m > 2 {
        (y, m as i64 - 3)
    } else {
        (y - 1, m as i64 + 9)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    // Days from March 1 to the first of month `mar` (0 = March): 31,30,31,30,31 repeating.
    let doy = (153 * mar + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    // Remove the leap days (every 4 years, but not every 100, yet every 400) to find the year.
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mar = (5 * doy + 2) / 153;
    let d = (doy - (153 * mar + 2) / 5 + 1) as u32;
    let m = if mar < 10 { mar + 3 } else { mar - 9 } as u32;
    let y = era * 400 + yoe + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` of year `y`; months out of range count 31 (the update logic then
/// carries into the next month as the chip's comparator would).
fn days_in_month(m: u8, y: i64) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

fn decode(b: u8, binary: bool) -> u8 {
    if binary {
        b
    } else {
        (b >> 4) * 10 + (b & 0xF)
    }
}

fn encode(v: u8, binary: bool) -> u8 {
    let v = v % 100;
    if binary {
        v
    } else {
        ((v / 10) << 4) | (v % 10)
    }
}

/// Advances a field that counts `lo..lo + count` by `n` steps: (new value, carries out). A
/// value at or past the top wraps to `lo` with a carry on its first step.
fn step_field(v: u8, n: u64, lo: u8, count: u8) -> (u8, u64) {
    if n == 0 {
        return (v, 0);
    }
    let (start, n, carry) = if v >= lo && v < lo + count {
        ((v - lo) as u64, n, 0)
    } else {
        (0, n - 1, 1)
    };
    let t = start + n;
    (lo + (t % count as u64) as u8, carry + t / count as u64)
}

/// The clock and calendar fields, decoded (hours 0–23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Time {
    sec: u8,
    min: u8,
    hour: u8,
    dow: u8,
    day: u8,
    month: u8,
    year: u8,
    century: u8,
}

impl Time {
    /// The UTC time `secs` after the Unix epoch (day of week: Sunday = 1).
    fn from_unix(secs: u64) -> Time {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        Time {
            sec: (rem % 60) as u8,
            min: (rem / 60 % 60) as u8,
            hour: (rem / 3600) as u8,
            dow: ((days + 4) % 7 + 1) as u8,
            day: d as u8,
            month: m as u8,
            year: (y % 100) as u8,
            century: (y / 100 % 100) as u8,
        }
    }

    fn full_year(&self) -> i64 {
        self.century as i64 * 100 + self.year as i64
    }

    fn date_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.month, self.full_year())
    }

    /// One day forward, the chip's way: each field wraps when at or past its top.
    fn step_day(&mut self) {
        if self.day >= days_in_month(self.month, self.full_year()) {
            self.day = 1;
            if self.month >= 12 {
                self.month = 1;
                if self.year >= 99 {
                    self.year = 0;
                    self.century = if self.century >= 99 {
                        0
                    } else {
                        self.century + 1
                    };
                } else {
                    self.year += 1;
                }
            } else {
                self.month += 1;
            }
        } else {
            self.day += 1;
        }
    }

    /// `n` update cycles (seconds) forward.
    fn advance(&mut self, n: u64) {
        let (sec, c) = step_field(self.sec, n, 0, 60);
        let (min, c) = step_field(self.min, c, 0, 60);
        let (hour, mut days) = step_field(self.hour, c, 0, 24);
        (self.sec, self.min, self.hour) = (sec, min, hour);
        if days == 0 {
            return;
        }
        self.dow = step_field(self.dow, days, 1, 7).0;
        // Out-of-range dates (a guest may write anything) are walked a day at a time until the
        // fields are in range again, which takes at most one month; then the rest at once.
        while days > 0 && !self.date_valid() {
            self.step_day();
            days -= 1;
        }
        if days > 0 {
            let start = days_from_civil(self.full_year(), self.month as u32, self.day as u32);
            let (y, m, d) = civil_from_days(start + days as i64);
            self.century = (y / 100 % 100) as u8;
            self.year = (y % 100) as u8;
            self.month = m as u8;
            self.day = d as u8;
        }
    }
}

/// The MC146818 RTC with its CMOS RAM.
///
/// Board wiring: `irq()` is IRQ 8 (sample it after every access and tick); `nmi_masked()` is
/// port 0x70 bit 7 for the NMI logic; ports 0x70 and 0x71; [`Timed`] deadlines for the update
/// and periodic interrupts while they are enabled.
#[derive(Debug, Clone)]
pub struct Rtc {
    cmos: [u8; 128],
    index: u8,
    nmi_masked: bool,
    /// Virtual time (ns) at which the divider chain was at `chain_base`.
    chain_origin: u64,
    chain_base: u64,
    /// The divider chain counts (DV = 010).
    chain_running: bool,
    /// The chain count the registers were last brought up to.
    chain_last: u64,
}

impl Rtc {
    /// The RTC at virtual time 0, showing the UTC time `start_unix_secs` seconds after the
    /// Unix epoch, in the format a PC BIOS leaves: BCD, 24-hour, divider running, 1024 Hz
    /// periodic rate selected, no interrupts enabled (registers A–D = 0x26, 0x02, 0x00, 0x80).
    /// The first update comes at virtual time 1 s.
    pub fn new(start_unix_secs: u64) -> Rtc {
        let mut rtc = Rtc {
            cmos: [0; 128],
            index: 0,
            nmi_masked: false,
            chain_origin: 0,
            chain_base: 0,
            chain_running: true,
            chain_last: 0,
        };
        rtc.cmos[REG_A] = A_DV_RUN | 0x06;
        rtc.cmos[REG_B] = B_24H;
        rtc.cmos[REG_D] = D_VRT;
        let t = Time::from_unix(start_unix_secs);
        rtc.store_time(None, &t);
        rtc
    }

    /// The IRQ 8 line: asserted while register C's IRQF is set.
    pub fn irq(&self) -> bool {
        self.cmos[REG_C] & C_IRQF != 0
    }

    /// Port 0x70 bit 7 as last written: NMI is masked.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// Sets a CMOS RAM byte (0x0E–0x7F) for the firmware's view of the machine. The clock's
    /// own registers 0x00–0x0D are the guest's to program and are left alone here.
    pub fn set_cmos(&mut self, index: usize, value: u8) {
        if (NVRAM..self.cmos.len()).contains(&index) {
            self.cmos[index] = value;
        }
    }

    /// A CMOS byte as stored, without the side effects of a guest read (0xFF out of range).
    pub fn cmos(&self, index: usize) -> u8 {
        self.cmos.get(index).copied().unwrap_or(0xFF)
    }

    /// Fills the bytes a PC BIOS (and SeaBIOS, and kernels that still look) read about the
    /// machine, as QEMU's PC board sets them: base memory 640 KiB (0x15/0x16); memory above
    /// 1 MiB in KiB, capped at 0xFFFF (0x17/0x18 and 0x30/0x31); memory from 16 MiB to the top
    /// of low RAM in 64 KiB units, capped (0x34/0x35); memory above 4 GiB in 64 KiB units
    /// (0x5B–0x5D); equipment byte 0x14 (no floppy, FPU present, PS/2 mouse, EGA/VGA); no
    /// floppy or fixed-disk types (0x10, 0x12); and the AT checksum of 0x10–0x2D at 0x2E/0x2F.
    /// `below_4g` and `above_4g` are the RAM sizes below and above the 4 GiB hole, as the
    /// board's e820 map splits them.
    pub fn setup_pc(&mut self, below_4g: u64, above_4g: u64) {
        let kib = |v: u64| (v / 1024).min(0xFFFF) as u16;
        let base = kib(below_4g).min(640);
        let ext = kib(below_4g.saturating_sub(1 << 20));
        let above_16m = (below_4g.saturating_sub(16 << 20) / 65536).min(0xFFFF) as u16;
        let high = (above_4g / 65536).min(0xFF_FFFF);
        for (index, word) in [(0x15, base), (0x17, ext), (0x30, ext), (0x34, above_16m)] {
            self.cmos[index] = word as u8;
            self.cmos[index + 1] = (word >> 8) as u8;
        }
        self.cmos[0x5B] = high as u8;
        self.cmos[0x5C] = (high >> 8) as u8;
        self.cmos[0x5D] = (high >> 16) as u8;
        self.cmos[0x10] = 0x00;
        self.cmos[0x12] = 0x00;
        // Equipment: bit 1 math coprocessor, bit 2 PS/2 mouse, bits 5-4 = 00 EGA/VGA.
        self.cmos[0x14] = 0x06;
        let sum: u16 = self.cmos[0x10..=0x2D].iter().map(|&b| b as u16).sum();
        self.cmos[0x2E] = (sum >> 8) as u8;
        self.cmos[0x2F] = sum as u8;
    }

    fn binary(&self) -> bool {
        self.cmos[REG_B] & B_DM != 0
    }

    fn h24(&self) -> bool {
        self.cmos[REG_B] & B_24H != 0
    }

    fn decode_hour(&self, b: u8) -> u8 {
        if self.h24() {
            decode(b, self.binary())
        } else {
            decode(b & !PM, self.binary()) % 12 + if b & PM != 0 { 12 } else { 0 }
        }
    }

    fn encode_hour(&self, h: u8) -> u8 {
        if self.h24() {
            encode(h, self.binary())
        } else {
            let h12 = if h.is_multiple_of(12) { 12 } else { h % 12 };
            encode(h12, self.binary()) | if h >= 12 { PM } else { 0 }
        }
    }

    /// The time registers, decoded in the current format.
    fn time(&self) -> Time {
        let d = |i: usize| decode(self.cmos[i], self.binary());
        Time {
            sec: d(SECONDS),
            min: d(MINUTES),
            hour: self.decode_hour(self.cmos[HOURS]),
            dow: d(DAY_OF_WEEK),
            day: d(DAY_OF_MONTH),
            month: d(MONTH),
            year: d(YEAR),
            century: d(CENTURY),
        }
    }

    /// Writes back the fields of `new` that differ from `old` (all of them without `old`).
    fn store_time(&mut self, old: Option<&Time>, new: &Time) {
        let bin = self.binary();
        let fields = [
            (SECONDS, old.map(|t| t.sec), new.sec),
            (MINUTES, old.map(|t| t.min), new.min),
            (DAY_OF_WEEK, old.map(|t| t.dow), new.dow),
            (DAY_OF_MONTH, old.map(|t| t.day), new.day),
            (MONTH, old.map(|t| t.month), new.month),
            (YEAR, old.map(|t| t.year), new.year),
            (CENTURY, old.map(|t| t.century), new.century),
        ];
        for (index, before, after) in fields {
            if before != Some(after) {
                self.cmos[index] = encode(after, bin);
            }
        }
        if old.map(|t| t.hour) != Some(new.hour) {
            self.cmos[HOURS] = self.encode_hour(new.hour);
        }
    }

    /// The divider chain count at `now`.
    fn chain_at(&self, now: u64) -> u64 {
        if !self.chain_running {
            return self.chain_base;
        }
        let ticks = now.saturating_sub(self.chain_origin) as u128 * CHAIN_HZ as u128 / NS_PER_S;
        self.chain_base + ticks as u64
    }

    /// The virtual time at which the running chain reaches count `c`.
    fn chain_time(&self, c: u64) -> u64 {
        let ns = (c.saturating_sub(self.chain_base) as u128 * NS_PER_S).div_ceil(CHAIN_HZ as u128);
        self.chain_origin
            .saturating_add(ns.min(u64::MAX as u128) as u64)
    }

    /// The periodic interrupt's period in chain ticks (MC146818A rate table, 32.768 kHz column:
    /// rates 1 and 2 repeat rates 8 and 9), or none for rate 0.
    fn period(&self) -> Option<u64> {
        match self.cmos[REG_A] & A_RS {
            0 => None,
            rs @ (1 | 2) => Some(1 << (rs + 6)),
            rs => Some(1 << (rs - 1)),
        }
    }

    /// UIP: set for the 244 µs before each update, never while SET halts updates.
    fn uip(&self, now: u64) -> bool {
        self.chain_running
            && self.cmos[REG_B] & B_SET == 0
            && self.chain_at(now) % CHAIN_HZ >= CHAIN_HZ - UIP_TICKS
    }

    /// Brings the registers up to `now`: periodic flag, update cycles with their alarm check
    /// and update-ended flag, then IRQF.
    fn sync(&mut self, now: u64) {
        let c1 = self.chain_at(now);
        let c0 = self.chain_last;
        if c1 > c0 {
            if let Some(p) = self.period() {
                if c1 / p > c0 / p {
                    self.cmos[REG_C] |= C_PF;
                }
            }
            let updates = c1 / CHAIN_HZ - c0 / CHAIN_HZ;
            if updates > 0 && self.cmos[REG_B] & B_SET == 0 {
                self.update(updates);
            }
            self.chain_last = c1;
        }
        self.update_irqf();
    }

    /// `n` update cycles: the time advances, AF is set if any of them matched the alarm, and
    /// UF is set.
    fn update(&mut self, n: u64) {
        let before = self.time();
        if self.cmos[REG_C] & C_AF == 0 && self.alarm_within(&before, n) {
            self.cmos[REG_C] |= C_AF;
        }
        let mut after = before;
        after.advance(n);
        self.store_time(Some(&before), &after);
        self.cmos[REG_C] |= C_UF;
    }

    /// Whether the time after any of the next `n` updates from `t` matches the alarm
    /// (seconds, minutes, hours; an alarm byte 11xxxxxx matches anything).
    fn alarm_within(&self, t: &Time, n: u64) -> bool {
        let field = |b: u8, hour: bool| {
            if b & ALARM_DONT_CARE == ALARM_DONT_CARE {
                None
            } else if hour {
                Some(self.decode_hour(b))
            } else {
                Some(decode(b, self.binary()))
            }
        };
        let alarm = [
            field(self.cmos[SECONDS_ALARM], false),
            field(self.cmos[MINUTES_ALARM], false),
            field(self.cmos[HOURS_ALARM], true),
        ];
        let (mut s, mut m, mut h) = (t.sec, t.min, t.hour);
        // Once the fields are in range (at most an hour) the sequence repeats every day, so
        // looking further never finds a first match.
        for _ in 0..n.min(86_400 + 3_600 + 1) {
            let (s2, c) = step_field(s, 1, 0, 60);
            let (m2, c) = step_field(m, c, 0, 60);
            let (h2, _) = step_field(h, c, 0, 24);
            (s, m, h) = (s2, m2, h2);
            if [s, m, h]
                .iter()
                .zip(alarm)
                .all(|(&v, a)| a.is_none_or(|a| a == v))
            {
                return true;
            }
        }
        false
    }

    /// IRQF = PF·PIE + AF·AIE + UF·UIE (the flag and enable bits line up).
    fn update_irqf(&mut self) {
        let c = self.cmos[REG_C];
        let enabled = c & self.cmos[REG_B] & (C_PF | C_AF | C_UF) != 0;
        self.cmos[REG_C] = if enabled { c | C_IRQF } else { c & !C_IRQF };
    }

    /// Register A: DV2–DV0 and RS3–RS0 (UIP is read only).
    fn write_a(&mut self, now: u64, value: u8) {
        let old_dv = self.cmos[REG_A] & A_DV;
        let dv = value & A_DV;
        self.cmos[REG_A] = value & !A_UIP;
        if dv & A_DV_RESET == A_DV_RESET {
            // The chain is held in reset: no updates, no periodic interrupts.
            self.chain_running = false;
            self.chain_base = 0;
        } else if dv == A_DV_RUN {
            if !self.chain_running {
                // DS12887: out of reset, the first update comes 500 ms later; from a stopped
                // oscillator the chain goes on where it stopped.
                if old_dv & A_DV_RESET == A_DV_RESET {
                    self.chain_base = CHAIN_HZ / 2;
                }
                self.chain_origin = now;
                self.chain_running = true;
            }
        } else if self.chain_running {
            // Other divider settings do not fit the PC's 32.768 kHz crystal: the clock stops.
            self.chain_base = self.chain_at(now);
            self.chain_running = false;
        }
        self.chain_last = self.chain_at(now);
    }

    fn read_data(&mut self, now: u64) -> u8 {
        self.sync(now);
        let index = self.index as usize;
        match index {
            REG_A => self.cmos[REG_A] | if self.uip(now) { A_UIP } else { 0 },
            REG_C => {
                // Reading register C clears all flags and releases the IRQ pin.
                let v = self.cmos[REG_C];
                self.cmos[REG_C] = 0;
                v
            }
            REG_D => D_VRT,
            _ => self.cmos[index],
        }
    }

    fn write_data(&mut self, now: u64, value: u8) {
        self.sync(now);
        match self.index as usize {
            REG_A => self.write_a(now, value),
            // SET = 1 clears UIE (MC146818A, register B).
            REG_B => {
                self.cmos[REG_B] = if value & B_SET != 0 {
                    value & !B_UIE
                } else {
                    value
                };
            }
            REG_C | REG_D => {}
            index => self.cmos[index] = value,
        }
        self.update_irqf();
    }
}

impl Timed for Rtc {
    /// The next periodic or update event that would raise IRQ 8; none while IRQ 8 is already
    /// asserted (only a read of register C lowers it) or nothing is enabled.
    fn deadline(&self) -> Option<u64> {
        if self.irq() || !self.chain_running {
            return None;
        }
        let b = self.cmos[REG_B];
        let last = self.chain_last;
        let periodic = self
            .period()
            .filter(|_| b & B_PIE != 0)
            .map(|p| (last / p + 1) * p);
        let update =
            (b & B_SET == 0 && b & (B_UIE | B_AIE) != 0).then(|| (last / CHAIN_HZ + 1) * CHAIN_HZ);
        let next = match (periodic, update) {
            (Some(p), Some(u)) => Some(p.min(u)),
            (p, u) => p.or(u),
        };
        next.map(|c| self.chain_time(c))
    }

    fn tick(&mut self, now: u64) {
        self.sync(now);
    }
}

impl PortIo for Rtc {
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32 {
        (0..size.min(4) as u16)
            .map(|i| {
                let b = match port.wrapping_add(i) {
                    DATA_PORT => self.read_data(ctx.now),
                    // The index register is write only on PIIX.
                    _ => 0xFF,
                };
                (b as u32) << (8 * i)
            })
            .fold(0, |acc, b| acc | b)
    }

    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32) {
        for i in 0..size.min(4) as u16 {
            let b = (value >> (8 * i)) as u8;
            match port.wrapping_add(i) {
                INDEX_PORT => {
                    self.index = b & 0x7F;
                    self.nmi_masked = b & 0x80 != 0;
                }
                DATA_PORT => self.write_data(ctx.now, b),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    struct Rig {
        rtc: Rtc,
        mem: PhysMem,
    }

    impl Rig {
        fn new(start: u64) -> Rig {
            Rig {
                rtc: Rtc::new(start),
                mem: PhysMem::new(4096).unwrap(),
            }
        }

        fn write(&mut self, now: u64, index: u8, value: u8) {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.rtc.io_write(&mut ctx, INDEX_PORT, 1, index as u32);
            self.rtc.io_write(&mut ctx, DATA_PORT, 1, value as u32);
        }

        fn read(&mut self, now: u64, index: u8) -> u8 {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.rtc.io_write(&mut ctx, INDEX_PORT, 1, index as u32);
            self.rtc.io_read(&mut ctx, DATA_PORT, 1) as u8
        }

        /// The time registers as (sec, min, hour, dow, day, month, year, century) bytes.
        fn clock(&mut self, now: u64) -> [u8; 8] {
            [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(|i| self.read(now, i))
        }

        /// Sets the clock the way a BIOS does: SET, write the bytes, clear SET. `b` is register
        /// B's format bits (DM, 24/12).
        fn set_clock(&mut self, now: u64, b: u8, bytes: [u8; 8]) {
            self.write(now, 0x0B, B_SET | b);
            for (i, v) in [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32]
                .into_iter()
                .zip(bytes)
            {
                self.write(now, i, v);
            }
            self.write(now, 0x0B, b);
        }
    }

    #[test]
    fn calendar_arithmetic_matches_known_dates() {
        // Unix time -> (Y, M, D, h, m, s, day of week with Sunday = 1).
        let cases = [
            (0, (1970, 1, 1, 0, 0, 0, 5)),
            (1_700_000_000, (2023, 11, 14, 22, 13, 20, 3)),
            (951_782_400, (2000, 2, 29, 0, 0, 0, 3)),
            (946_684_799, (1999, 12, 31, 23, 59, 59, 6)),
            (4_102_444_799, (2099, 12, 31, 23, 59, 59, 5)),
            (4_107_542_400, (2100, 3, 1, 0, 0, 0, 2)),
            (253_402_300_799, (9999, 12, 31, 23, 59, 59, 6)),
        ];
        for (secs, (y, mo, d, h, mi, s, dow)) in cases {
            let t = Time::from_unix(secs);
            assert_eq!(
                (t.full_year(), t.month, t.day, t.hour, t.min, t.sec, t.dow),
                (y, mo, d, h, mi, s, dow),
                "{secs}"
            );
            assert_eq!(
                days_from_civil(y, mo as u32, d as u32),
                (secs / 86_400) as i64
            );
        }
        // Day numbers and dates round-trip over four centuries, and consecutive days are
        // consecutive dates.
        let mut prev = civil_from_days(-200_000);
        for day in -199_999..200_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            let next_of_prev = if prev.2 < days_in_month(prev.1 as u8, prev.0) as u32 {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), next_of_prev);
            prev = (y, m, d);
        }
    }

    #[test]
    fn starts_from_the_given_utc_time_in_bios_format() {
        // Power-on format: BCD, 24-hour; A = 0x26, B = 0x02, C = 0, D = 0x80 (valid RAM).
        let mut r = Rig::new(1_700_000_000);
        assert_eq!(r.clock(0), [0x20, 0x13, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20]);
        assert_eq!(
            [0x0A, 0x0B, 0x0C, 0x0D].map(|i| r.read(0, i)),
            [0x26, 0x02, 0x00, 0x80]
        );
        // Then it follows virtual time: an update each second, exactly.
        assert_eq!(r.read(S - 1, 0x00), 0x20);
        assert_eq!(r.read(S, 0x00), 0x21);
        assert_eq!(
            r.clock(100 * S + 5),
            [0x00, 0x15, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20]
        );
        // A long jump of virtual time lands on the same date as the arithmetic says.
        let later = 400 * 86_400 + 3_723;
        let t = Time::from_unix(1_700_000_000 + later);
        let c = r.clock(later * S);
        assert_eq!(
            c[4..8],
            [t.day, t.month, t.year, t.century].map(|v| encode(v, false))
        );
        assert_eq!(
            c[..4],
            [t.sec, t.min, t.hour, t.dow].map(|v| encode(v, false))
        );
    }

    #[test]
    fn date_rollover_with_leap_years_and_century() {
        // The update after 23:59:59 on the last day of a month carries into the next month, the
        // year and the century (0x32); February has 29 days in leap years (2000 yes, 2100 no).
        // (BCD bytes: sec, min, hour, dow, day, month, year, century.)
        let cases: [([u8; 8], [u8; 8]); 7] = [
            (
                [0x59, 0x59, 0x23, 6, 0x31, 0x12, 0x99, 0x19],
                [0, 0, 0, 7, 0x01, 0x01, 0x00, 0x20],
            ),
            (
                [0x59, 0x59, 0x23, 2, 0x28, 0x02, 0x00, 0x20],
                [0, 0, 0, 3, 0x29, 0x02, 0x00, 0x20],
            ),
            (
                [0x59, 0x59, 0x23, 1, 0x28, 0x02, 0x00, 0x21],
                [0, 0, 0, 2, 0x01, 0x03, 0x00, 0x21],
            ),
            (
                [0x59, 0x59, 0x23, 5, 0x29, 0x02, 0x24, 0x20],
                [0, 0, 0, 6, 0x01, 0x03, 0x24, 0x20],
            ),
            (
                [0x59, 0x59, 0x23, 3, 0x28, 0x02, 0x23, 0x20],
                [0, 0, 0, 4, 0x01, 0x03, 0x23, 0x20],
            ),
            (
                [0x59, 0x59, 0x23, 3, 0x30, 0x04, 0x24, 0x20],
                [0, 0, 0, 4, 0x01, 0x05, 0x24, 0x20],
            ),
            (
                [0x59, 0x59, 0x23, 7, 0x31, 0x12, 0x99, 0x99],
                [0, 0, 0, 1, 0x01, 0x01, 0x00, 0x00],
            ),
        ];
        for (before, after) in cases {
            let mut r = Rig::new(0);
            r.set_clock(S / 2, B_24H, before);
            assert_eq!(r.clock(S - 1), before);
            assert_eq!(r.clock(S), after, "from {before:x?}");
        }
    }

    #[test]
    fn binary_and_12_hour_formats() {
        // DM = 1: binary bytes. 24/12 = 0: hours 1-12 with bit 7 = PM; 12 AM is midnight.
        let mut r = Rig::new(0);
        r.set_clock(S / 2, B_DM | B_24H, [59, 59, 23, 1, 31, 1, 99, 20]);
        assert_eq!(r.clock(S), [0, 0, 0, 2, 1, 2, 99, 20]);
        // 12-hour BCD: hour byte, then the byte after the update an hour later.
        let cases = [
            (0x11, 0x92, "11 AM -> 12 PM"),
            (0x92, 0x81, "12 PM -> 1 PM"),
            (0x91, 0x12, "11 PM -> 12 AM, next day"),
            (0x12, 0x01, "12 AM -> 1 AM"),
        ];
        for (hour, next, what) in cases {
            let mut r = Rig::new(0);
            r.set_clock(S / 2, 0, [0x59, 0x59, hour, 1, 0x10, 0x06, 0x24, 0x20]);
            assert_eq!(r.read(S, 0x04), next, "{what}");
            assert_eq!(
                r.read(S, 0x07),
                if next == 0x12 { 0x11 } else { 0x10 },
                "{what}"
            );
        }
        // 12-hour binary.
        let mut r = Rig::new(0);
        r.set_clock(S / 2, B_DM, [59, 59, 0x80 | 12, 1, 10, 6, 24, 20]);
        assert_eq!(r.read(S, 0x04), 0x81, "12 PM -> 1 PM in binary");
        // A power-on clock switched to binary by software keeps its bytes until rewritten:
        // the chip does not convert.
        let mut r = Rig::new(1_700_000_000);
        r.write(0, 0x0B, B_24H | B_DM);
        assert_eq!(r.read(0, 0x00), 0x20);
    }

    #[test]
    fn uip_is_set_for_244_us_before_each_update() {
        // UIP rises 8 ticks of 32.768 kHz (244.1 us) before the update and falls with it; the
        // time registers change only at the update.
        let mut r = Rig::new(1_700_000_000);
        let rise = 999_755_860; // ceil(32760 * 1e9 / 32768)
        assert_eq!(r.read(rise - 1, 0x0A) & A_UIP, 0);
        assert_eq!(r.read(rise, 0x0A) & A_UIP, A_UIP);
        assert_eq!(r.read(S - 1, 0x0A) & A_UIP, A_UIP);
        assert_eq!(r.read(S - 1, 0x00), 0x20);
        assert_eq!(r.read(S, 0x0A) & A_UIP, 0);
        assert_eq!(r.read(S, 0x00), 0x21);
        assert_eq!(r.read(S + rise, 0x0A) & A_UIP, A_UIP);
        // SET halts updates and clears UIP.
        r.write(S + rise, 0x0B, B_SET | B_24H);
        assert_eq!(r.read(S + rise, 0x0A) & A_UIP, 0);
        assert_eq!(r.read(5 * S, 0x00), 0x21, "no updates while SET");
        r.write(5 * S, 0x0B, B_24H);
        assert_eq!(r.read(6 * S, 0x00), 0x22);
    }

    #[test]
    fn divider_reset_and_restart() {
        // DV = 11x holds the chain in reset (no updates); back to 010 the first update comes
        // 500 ms later. Other divider values stop the clock where it is.
        let mut r = Rig::new(0);
        r.write(S / 4, 0x0A, 0x70);
        assert_eq!(r.read(10 * S, 0x00), 0x00);
        r.write(10 * S, 0x0A, 0x26);
        assert_eq!(r.read(10 * S + 500 * MS - 1, 0x00), 0x00);
        assert_eq!(r.read(10 * S + 500 * MS, 0x00), 0x01);
        assert_eq!(r.read(11 * S + 500 * MS, 0x00), 0x02);
        r.write(11 * S + 750 * MS, 0x0A, 0x06); // oscillator off
        assert_eq!(r.read(20 * S, 0x00), 0x02);
        r.write(20 * S, 0x0A, 0x26); // resumes 750 ms before its next update
        assert_eq!(r.read(20 * S + 750 * MS - 1, 0x00), 0x02);
        assert_eq!(r.read(20 * S + 750 * MS, 0x00), 0x03);
    }

    #[test]
    fn periodic_flag_at_each_rate() {
        // Rate select RS: period 2^(RS-1) ticks of 32.768 kHz; RS 1 and 2 repeat 8 and 9; RS 0
        // is off. PF is set each period whether or not PIE is; reading C clears it.
        // (RS, period in ns, times of the first two periodic edges)
        let cases: [(u8, f64, [u64; 2]); 5] = [
            (3, 122_070.312_5, [122_071, 244_141]),
            (6, 976_562.5, [976_563, 1_953_125]),
            (1, 3_906_250.0, [3_906_250, 7_812_500]),
            (9, 7_812_500.0, [7_812_500, 15_625_000]),
            (15, 500_000_000.0, [500 * MS, S]),
        ];
        for (rs, period, [first, second]) in cases {
            assert_eq!(period.ceil() as u64, first);
            let mut r = Rig::new(0);
            r.write(0, 0x0A, A_DV_RUN | rs);
            assert_eq!(r.read(first - 1, 0x0C), 0, "rs {rs}");
            assert_eq!(r.read(first, 0x0C), C_PF, "rs {rs}");
            assert_eq!(r.read(first, 0x0C), 0, "rs {rs}: cleared by the read");
            assert_eq!(r.read(second - 1, 0x0C) & C_PF, 0, "rs {rs}");
            assert_eq!(r.read(second, 0x0C) & C_PF, C_PF, "rs {rs}");
        }
        let mut r = Rig::new(0);
        r.write(0, 0x0A, A_DV_RUN);
        assert_eq!(
            r.read(S / 2, 0x0C) & C_PF,
            0,
            "RS = 0: no periodic interrupt"
        );
        // With PIE the flag raises IRQ 8, and the deadline is the next period.
        let mut r = Rig::new(0);
        r.write(0, 0x0B, B_24H | B_PIE);
        assert_eq!(r.rtc.deadline(), Some(976_563));
        r.rtc.tick(976_562);
        assert!(!r.rtc.irq());
        r.rtc.tick(976_563);
        assert!(r.rtc.irq());
        assert_eq!(
            r.rtc.deadline(),
            None,
            "IRQ 8 stays up until register C is read"
        );
        assert_eq!(r.read(976_563, 0x0C), C_IRQF | C_PF);
        assert!(!r.rtc.irq());
        assert_eq!(r.rtc.deadline(), Some(1_953_125));
    }

    #[test]
    fn alarm_with_dont_care_bytes() {
        // AF is set at the update where seconds, minutes and hours equal the alarm bytes; an
        // alarm byte 11xxxxxx matches any value. The clock starts at 12:00:00 (BCD); `fires`
        // says which of the updates 1..=130 seconds later set AF.
        type AlarmCase = ([u8; 3], fn(u64) -> bool);
        let cases: [AlarmCase; 6] = [
            ([0x05, 0x00, 0x12], |s| s == 5),
            ([0xC0, 0x01, 0x12], |s| (60..120).contains(&s)),
            ([0x30, 0xFF, 0xC0], |s| s % 60 == 30),
            ([0xC0, 0xC0, 0xC0], |_| true),
            ([0x05, 0x00, 0x13], |_| false),
            ([0x75, 0xC0, 0xC0], |_| false),
        ];
        for (alarm, fires) in cases {
            let mut r = Rig::new(0);
            r.set_clock(0, B_24H, [0x00, 0x00, 0x12, 1, 0x01, 0x01, 0x24, 0x20]);
            r.write(0, 0x01, alarm[0]);
            r.write(0, 0x03, alarm[1]);
            r.write(0, 0x05, alarm[2]);
            for s in 1..=130 {
                let af = r.read(s * S, 0x0C) & C_AF != 0;
                assert_eq!(af, fires(s), "alarm {alarm:x?} at +{s} s");
            }
        }
    }

    #[test]
    fn alarm_across_a_long_gap_and_in_12_hour_mode() {
        // A guest that polls register C once after a day still sees AF if the alarm time
        // passed; an interrupt-driven one gets IRQ 8 at the matching update.
        let mut r = Rig::new(0); // 00:00:00
        r.write(0, 0x0A, A_DV_RUN); // no periodic flag in the way
        r.write(0, 0x01, 0x00);
        r.write(0, 0x03, 0x30);
        r.write(0, 0x05, 0x10);
        assert_eq!(r.read(10 * 3600 * S, 0x0C) & C_AF, 0, "10:00:00: not yet");
        assert_eq!(r.read(30 * 3600 * S, 0x0C) & C_AF, C_AF, "passed 10:30:00");
        // 12-hour mode: the alarm hour carries the PM bit too.
        let mut r = Rig::new(0);
        r.write(0, 0x0A, A_DV_RUN);
        r.set_clock(0, B_AIE, [0x59, 0x59, 0x91, 1, 0x01, 0x01, 0x24, 0x20]); // 11:59:59 PM
        r.write(0, 0x01, 0x00);
        r.write(0, 0x03, 0x00);
        r.write(0, 0x05, 0x12); // 12 AM
        assert_eq!(r.rtc.deadline(), Some(S));
        r.rtc.tick(S);
        assert!(r.rtc.irq());
        assert_eq!(r.read(S, 0x0C), C_IRQF | C_AF | C_UF);
        assert!(!r.rtc.irq());
    }

    #[test]
    fn update_ended_interrupt_and_register_c() {
        // UF is set by every update; with UIE it raises IRQ 8 until register C is read, which
        // returns and clears all flags. Enabling an interrupt whose flag is already set raises
        // IRQ 8 at once (IRQF = PF.PIE + AF.AIE + UF.UIE).
        let mut r = Rig::new(0);
        r.write(0, 0x0A, A_DV_RUN); // no periodic flag in the way
        assert_eq!(r.read(S, 0x0C), C_UF, "UF without UIE: no IRQF");
        assert_eq!(r.read(S, 0x0C), 0);
        r.write(S, 0x0B, B_24H | B_UIE);
        assert_eq!(r.rtc.deadline(), Some(2 * S));
        r.rtc.tick(2 * S - 1);
        assert!(!r.rtc.irq());
        r.rtc.tick(2 * S);
        assert!(r.rtc.irq());
        r.rtc.tick(3 * S);
        assert_eq!(r.read(3 * S, 0x0C), C_IRQF | C_UF);
        assert!(!r.rtc.irq());
        assert_eq!(r.read(3 * S, 0x0C), 0);
        // A flag set while disabled raises IRQ 8 when its enable bit is set; clearing the
        // enable bit lowers it.
        r.write(3 * S, 0x0B, B_24H);
        r.rtc.tick(4 * S);
        assert!(!r.rtc.irq());
        r.write(4 * S, 0x0B, B_24H | B_UIE);
        assert!(r.rtc.irq());
        r.write(4 * S, 0x0B, B_24H);
        assert!(!r.rtc.irq());
        // SET = 1 clears UIE.
        r.write(4 * S, 0x0B, B_SET | B_UIE | B_24H);
        assert_eq!(r.read(4 * S, 0x0B), B_SET | B_24H);
        // Registers C and D are read only; D reads VRT.
        r.write(4 * S, 0x0C, 0xFF);
        r.write(4 * S, 0x0D, 0x00);
        assert_eq!(r.read(4 * S, 0x0D), D_VRT);
        assert_eq!(r.read(4 * S, 0x0C) & 0x0F, 0, "bits 3-0 of C read 0");
    }

    #[test]
    fn index_port_nmi_mask_and_nvram() {
        // Port 0x70 bit 7 masks NMI and is not part of the index; NVRAM bytes keep what is
        // written; the index register reads back as all ones.
        let mut r = Rig::new(0);
        assert!(!r.rtc.nmi_masked());
        r.write(0, 0x80 | 0x40, 0xA5);
        assert!(r.rtc.nmi_masked());
        assert_eq!(r.read(0, 0x40), 0xA5);
        assert!(!r.rtc.nmi_masked());
        r.write(0, 0x7F, 0x5A);
        assert_eq!(r.read(0, 0xFF), 0x5A, "index 0xFF is 0x7F with NMI masked");
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut r.mem,
        };
        assert_eq!(r.rtc.io_read(&mut ctx, INDEX_PORT, 1), 0xFF);
        r.rtc.set_cmos(0x0A, 0x00);
        assert_eq!(
            r.rtc.cmos(0x0A),
            0x26,
            "set_cmos leaves the clock registers alone"
        );
        r.rtc.set_cmos(0x20, 0x77);
        assert_eq!(r.read(0, 0x20), 0x77);
    }

    #[test]
    fn pc_memory_size_and_equipment_bytes() {
        // QEMU's layout: 0x15/16 base KiB, 0x17/18 = 0x30/31 extended KiB (capped), 0x34/35
        // above 16 MiB in 64 KiB, 0x5B-0x5D above 4 GiB in 64 KiB; checksum of 0x10-0x2D.
        let mut rtc = Rtc::new(0);
        rtc.setup_pc(32 << 20, 0);
        let bytes = |rtc: &Rtc, idx: &[usize]| idx.iter().map(|&i| rtc.cmos(i)).collect::<Vec<_>>();
        assert_eq!(bytes(&rtc, &[0x15, 0x16]), [0x80, 0x02]);
        assert_eq!(
            bytes(&rtc, &[0x17, 0x18, 0x30, 0x31]),
            [0x00, 0x7C, 0x00, 0x7C]
        );
        assert_eq!(bytes(&rtc, &[0x34, 0x35]), [0x00, 0x01]);
        assert_eq!(bytes(&rtc, &[0x5B, 0x5C, 0x5D]), [0, 0, 0]);
        assert_eq!(rtc.cmos(0x14), 0x06);
        let sum: u16 = (0x10..=0x2D).map(|i| rtc.cmos(i) as u16).sum();
        assert_eq!(bytes(&rtc, &[0x2E, 0x2F]), [(sum >> 8) as u8, sum as u8]);

        rtc.setup_pc(128 << 20, 0);
        assert_eq!(
            bytes(&rtc, &[0x17, 0x18, 0x30, 0x31]),
            [0xFF; 4],
            "capped at 0xFFFF KiB"
        );
        assert_eq!(bytes(&rtc, &[0x34, 0x35]), [0x00, 0x07]);
        rtc.setup_pc(3 << 30, 5 << 30);
        assert_eq!(bytes(&rtc, &[0x17, 0x18]), [0xFF, 0xFF]);
        assert_eq!(bytes(&rtc, &[0x34, 0x35]), [0x00, 0xBF]);
        assert_eq!(bytes(&rtc, &[0x5B, 0x5C, 0x5D]), [0x00, 0x40, 0x01]);
        // 8 MiB: less than 16 MiB, so nothing above it.
        rtc.setup_pc(8 << 20, 0);
        assert_eq!(bytes(&rtc, &[0x17, 0x18, 0x34, 0x35]), [0x00, 0x1C, 0, 0]);
    }

    #[test]
    fn garbage_in_time_registers_never_panics_and_settles() {
        // A guest may write anything to the time registers; the update logic wraps every
        // field at or past its top, so the clock is back in range after one day.
        let mut r = Rig::new(0);
        r.set_clock(0, B_24H, [0xFF; 8]);
        let c = r.clock(2 * 86_400 * S);
        let t = Time {
            sec: decode(c[0], false),
            min: decode(c[1], false),
            hour: decode(c[2], false),
            dow: c[3],
            day: decode(c[4], false),
            month: decode(c[5], false),
            year: decode(c[6], false),
            century: decode(c[7], false),
        };
        assert!(t.sec < 60 && t.min < 60 && t.hour < 24 && (1..=7).contains(&t.dow));
        assert!(t.date_valid(), "{c:x?}");
        let mut t = 0;
        for v in 0..=255u8 {
            for idx in 0..=0x7Fu8 {
                t += 12_345_679;
                r.write(t, idx, v);
                r.read(t + 1, idx);
            }
            let _ = r.rtc.deadline();
            r.rtc.tick(t + 2);
        }
    }
}
