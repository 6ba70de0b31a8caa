//! The ACPI fixed hardware of the PIIX4 power-management function: the PM1a event block
//! (PM1_STS/PM1_EN), the PM1a control block (SCI_EN, SLP_TYP, SLP_EN), the 3.579545 MHz
//! power-management timer, the GPE0 block, and the SCI they drive.
//!
//! References: ACPI 6.4 §4.8.3 (PM1 event and control registers, the PM timer, TMR_STS on
//! each toggle of the timer's top bit), §4.8.4.1 (GPE blocks), §7.4.2 and §16.1 (SLP_TYP of
//! `\_S5` with SLP_EN powers off); Intel 82371AB PIIX4 datasheet (290562) §7.2 (the
//! registers' places in the 64-byte PM I/O space: PMSTS 00h, PMEN 02h, PMCNTRL 04h, PMTMR
//! 08h, GPSTS 0Ch, GPEN 0Eh; SUS_TYP 000 = soft off).
//!
//! This board has no SMM: ACPI is always on. SCI_EN is set from reset and the FADT declares
//! no SMI command port, so an OS never has to ask for the switch. The PIIX4's SMI and
//! device-monitoring registers (10h–3Fh) read 0 and ignore writes.
//!
//! The timer is a pure function of virtual time: its value at `now` ns is
//! `floor(now * 3579545 / 10^9)` modulo 2^24, so guests that calibrate against it measure
//! virtual time exactly. TMR_STS is brought up to date on every access and tick; a deadline
//! is only asked for when the toggle would raise an SCI.
//!
//! Board API: the base port follows PCI function 01.3's PMBA ([`AcpiPm::set_base`]); `sci()`
//! is the level of the SCI (ISA IRQ 9, level-triggered, active high); `power_off_requested()`
//! latches a sleep to S5; [`AcpiPm::press_power_button`] for a host-side ACPI shutdown;
//! [`Timed`] for the timer's SCI.

use super::bus::{DevCtx, PortIo, Timed};

/// The PM timer's clock in Hz.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// FADT flag TMR_VAL_EXT: the PIIX4's timer is 24 bits wide, so the FADT leaves it clear.
pub const TMR_VAL_EXT: bool = false;
/// Width of the timer in bits (24, or 32 with TMR_VAL_EXT).
pub const TIMER_BITS: u32 = if TMR_VAL_EXT { 32 } else { 24 };
/// The SLP_TYP value `\_S5` names: the PIIX4's SUS_TYP 000, soft off.
pub const S5_SLP_TYP: u8 = 0;

/// PM1a_EVT_BLK: PM1_STS (16 bits) at offset 0.
pub const PM1_STS: u16 = 0x00;
/// PM1_EN (16 bits), the second half of PM1a_EVT_BLK.
pub const PM1_EN: u16 = 0x02;
/// PM1a_CNT_BLK: PM1_CNT (16 bits).
pub const PM1_CNT: u16 = 0x04;
/// PM_TMR_BLK: the timer (32 bits, read-only).
pub const PM_TMR: u16 = 0x08;
/// GPE0_BLK: GPE0_STS (16 bits).
pub const GPE0_STS: u16 = 0x0C;
/// GPE0_EN (16 bits), the second half of GPE0_BLK.
pub const GPE0_EN: u16 = 0x0E;
/// Length of PM1a_EVT_BLK in bytes.
pub const PM1_EVT_LEN: u8 = 4;
/// Length of PM1a_CNT_BLK in bytes.
pub const PM1_CNT_LEN: u8 = 2;
/// Length of PM_TMR_BLK in bytes.
pub const PM_TMR_LEN: u8 = 4;
/// Length of GPE0_BLK in bytes (status and enable halves).
pub const GPE0_BLK_LEN: u8 = 4;
/// Bytes of I/O space the block decodes.
pub const IO_SIZE: u16 = 64;

/// PM1_STS bit 0: the timer's top bit toggled.
pub const TMR_STS: u16 = 1 << 0;
/// PM1_STS bit 4: a bus master requested the bus.
pub const BM_STS: u16 = 1 << 4;
/// PM1_STS bit 5: the BIOS released the global lock.
pub const GBL_STS: u16 = 1 << 5;
/// PM1_STS bit 8: the power button was pressed.
pub const PWRBTN_STS: u16 = 1 << 8;
/// PM1_STS bit 10: the RTC alarm fired.
pub const RTC_STS: u16 = 1 << 10;
/// PM1_STS bit 11 (PIIX4): power button override.
pub const PWRBTNOR_STS: u16 = 1 << 11;
/// PM1_STS bit 15: the system woke.
pub const WAK_STS: u16 = 1 << 15;
/// PM1_STS bits a written 1 clears.
const PM1_STS_W1C: u16 = TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | RTC_STS | PWRBTNOR_STS | WAK_STS;

/// PM1_EN bit 0: TMR_STS raises the SCI.
pub const TMR_EN: u16 = 1 << 0;
/// PM1_EN bit 5: GBL_STS raises the SCI.
pub const GBL_EN: u16 = 1 << 5;
/// PM1_EN bit 8: PWRBTN_STS raises the SCI.
pub const PWRBTN_EN: u16 = 1 << 8;
/// PM1_EN bit 10: RTC_STS raises the SCI.
pub const RTC_EN: u16 = 1 << 10;
/// The PM1_EN bits that exist.
const PM1_EN_MASK: u16 = TMR_EN | GBL_EN | PWRBTN_EN | RTC_EN;

/// PM1_CNT bit 0: events raise the SCI (not an SMI).
pub const SCI_EN: u16 = 1 << 0;
/// PM1_CNT bit 1: bus master requests wake the processor from C3.
pub const BM_RLD: u16 = 1 << 1;
/// PM1_CNT bit 2 (write-only): release the global lock to the BIOS.
pub const GBL_RLS: u16 = 1 << 2;
/// PM1_CNT bits 12:10: the sleep type SLP_EN enters.
pub const SLP_TYP_SHIFT: u32 = 10;
/// PM1_CNT SLP_TYP field mask.
pub const SLP_TYP_MASK: u16 = 7 << SLP_TYP_SHIFT;
/// PM1_CNT bit 13 (write-only, reads 0): enter the sleep state SLP_TYP names.
pub const SLP_EN: u16 = 1 << 13;
/// The PM1_CNT bits that hold a value.
const PM1_CNT_STORED: u16 = SCI_EN | BM_RLD | SLP_TYP_MASK;

/// The PM timer count (before wrapping) at virtual time `now` ns.
pub fn timer_ticks(now: u64) -> u64 {
    (now as u128 * PM_TIMER_HZ as u128 / 1_000_000_000) as u64
}

/// The first virtual time (ns) at which the count reaches `ticks`.
pub fn time_of_tick(ticks: u64) -> u64 {
    let t = (ticks as u128 * 1_000_000_000).div_ceil(PM_TIMER_HZ as u128);
    t.min(u64::MAX as u128) as u64
}

/// The PIIX4's ACPI registers.
#[derive(Debug)]
pub struct AcpiPm {
    base: u16,
    pm1_sts: u16,
    pm1_en: u16,
    pm1_cnt: u16,
    gpe0_sts: u16,
    gpe0_en: u16,
    /// How many times the timer's top bit had toggled at the last tick.
    epoch: u64,
    power_off: bool,
}

impl AcpiPm {
    /// The block at I/O port `base`, as after reset with ACPI on: SCI_EN set, every status
    /// and enable bit clear, the timer at 0 at virtual time 0.
    pub fn new(base: u16) -> AcpiPm {
        AcpiPm {
            base,
            pm1_sts: 0,
            pm1_en: 0,
            pm1_cnt: SCI_EN,
            gpe0_sts: 0,
            gpe0_en: 0,
            epoch: 0,
            power_off: false,
        }
    }

    /// The first port of the block.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// Moves the block (the guest rewrote PMBA).
    pub fn set_base(&mut self, base: u16) {
        self.base = base;
    }

    /// The SCI: an enabled status bit is set while SCI_EN is on (ISA IRQ 9, level, high).
    pub fn sci(&self) -> bool {
        self.pm1_cnt & SCI_EN != 0
            && (self.pm1_sts & self.pm1_en & PM1_EN_MASK != 0 || self.gpe0_sts & self.gpe0_en != 0)
    }

    /// Whether the guest put the machine in S5 (latched until [`AcpiPm::clear_power_off`]).
    pub fn power_off_requested(&self) -> bool {
        self.power_off
    }

    /// The board acted on the power-off request.
    pub fn clear_power_off(&mut self) {
        self.power_off = false;
    }

    /// The power button was pressed: PWRBTN_STS is set (an SCI if PWRBTN_EN).
    pub fn press_power_button(&mut self) {
        self.pm1_sts |= PWRBTN_STS;
    }

    /// The timer's value at `now` (24 bits, or 32 with TMR_VAL_EXT).
    pub fn timer(&self, now: u64) -> u32 {
        (timer_ticks(now) & ((1u64 << TIMER_BITS) - 1)) as u32
    }

    fn read_byte(&self, offset: u16, now: u64) -> u8 {
        let word = |w: u16| (w >> (8 * (offset & 1))) as u8;
        match offset {
            0x00..=0x01 => word(self.pm1_sts),
            0x02..=0x03 => word(self.pm1_en),
            0x04..=0x05 => word(self.pm1_cnt),
            0x08..=0x0B => (self.timer(now) >> (8 * (offset - PM_TMR))) as u8,
            0x0C..=0x0D => word(self.gpe0_sts),
            0x0E..=0x0F => word(self.gpe0_en),
            _ => 0,
        }
    }

    fn write_byte(&mut self, offset: u16, value: u8) {
        let shift = 8 * (offset & 1);
        let v = (value as u16) << shift;
        let lane = 0xFFu16 << shift;
        match offset {
            0x00..=0x01 => self.pm1_sts &= !(v & PM1_STS_W1C),
            0x02..=0x03 => self.pm1_en = (self.pm1_en & !lane) | (v & PM1_EN_MASK),
            0x04..=0x05 => {
                let stored = lane & PM1_CNT_STORED;
                self.pm1_cnt = (self.pm1_cnt & !stored) | (v & stored);
                // SLP_TYP and SLP_EN share the high byte: the sleep takes the type written
                // with it. Only S5 is offered (the DSDT has no other \_Sx); other types do
                // nothing. GBL_RLS would signal an SMI handler, and there is none.
                if v & SLP_EN != 0 {
                    let typ = ((self.pm1_cnt & SLP_TYP_MASK) >> SLP_TYP_SHIFT) as u8;
                    if typ == S5_SLP_TYP {
                        self.power_off = true;
                    }
                }
            }
            0x0C..=0x0D => self.gpe0_sts &= !v,
            0x0E..=0x0F => self.gpe0_en = (self.gpe0_en & !lane) | v,
            _ => {}
        }
    }
}

impl Timed for AcpiPm {
    fn deadline(&self) -> Option<u64> {
        let armed =
            self.pm1_cnt & SCI_EN != 0 && self.pm1_en & TMR_EN != 0 && self.pm1_sts & TMR_STS == 0;
        armed.then(|| time_of_tick((self.epoch + 1) << (TIMER_BITS - 1)))
    }

    fn tick(&mut self, now: u64) {
        // ACPI §4.8.3.3: TMR_STS is set whenever the timer's top bit changes.
        let epoch = timer_ticks(now) >> (TIMER_BITS - 1);
        if epoch > self.epoch {
            self.epoch = epoch;
            self.pm1_sts |= TMR_STS;
        }
    }
}

impl PortIo for AcpiPm {
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32 {
        self.tick(ctx.now);
        (0..size.clamp(1, 4)).fold(0, |v, i| {
            let off = port.wrapping_add(i as u16).wrapping_sub(self.base);
            let b = if off < IO_SIZE {
                self.read_byte(off, ctx.now)
            } else {
                0xFF
            };
            v | (b as u32) << (8 * i)
        })
    }

    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32) {
        self.tick(ctx.now);
        for i in 0..size.clamp(1, 4) {
            let off = port.wrapping_add(i as u16).wrapping_sub(self.base);
            if off < IO_SIZE {
                self.write_byte(off, (value >> (8 * i)) as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    const BASE: u16 = 0x600;

    struct Io {
        pm: AcpiPm,
        mem: PhysMem,
    }

    impl Io {
        fn new() -> Io {
            Io {
                pm: AcpiPm::new(BASE),
                mem: PhysMem::new(4096).unwrap(),
            }
        }
        fn inp(&mut self, now: u64, reg: u16, size: u8) -> u32 {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.pm.io_read(&mut ctx, BASE + reg, size)
        }
        fn out(&mut self, now: u64, reg: u16, size: u8, v: u32) {
            let mut ctx = DevCtx {
                now,
                mem: &mut self.mem,
            };
            self.pm.io_write(&mut ctx, BASE + reg, size, v);
        }
    }

    #[test]
    fn timer_counts_virtual_time_at_3_579545_mhz() {
        // The count at t ns is floor(t * 3579545 / 1e9): tick 1 at 280 ns (279.4 rounded
        // up), 3579545 after one second, and 24 bits wide.
        let mut io = Io::new();
        assert_eq!(io.inp(0, PM_TMR, 4), 0);
        assert_eq!(io.inp(279, PM_TMR, 4), 0);
        assert_eq!(io.inp(280, PM_TMR, 4), 1);
        assert_eq!(time_of_tick(1), 280);
        assert_eq!(io.inp(1_000_000_000, PM_TMR, 4), 3_579_545);
        assert_eq!(io.inp(10_000_000_000, PM_TMR, 4), 35_795_450 & 0xFF_FFFF);
        let wrap = time_of_tick(1 << 24);
        assert_eq!(io.inp(wrap - 1, PM_TMR, 4), 0xFF_FFFF);
        assert_eq!(io.inp(wrap, PM_TMR, 4), 0);
        // Byte and word reads see the same count.
        let t = 1_234_567_891;
        let v = io.inp(t, PM_TMR, 4);
        assert_eq!(v, timer_ticks(t) as u32 & 0xFF_FFFF);
        assert_eq!(io.inp(t, PM_TMR + 2, 2), v >> 16);
        assert_eq!(
            io.inp(t, PM_TMR + 3, 1),
            0,
            "bits 31:24 read 0 without TMR_VAL_EXT"
        );
    }

    #[test]
    fn tmr_sts_sets_when_bit_23_toggles() {
        // TMR_STS is set each time the top bit (23) changes, every 2^23 ticks (2.34 s),
        // whether or not TMR_EN is set; writing 1 clears it.
        let mut io = Io::new();
        let t1 = time_of_tick(1 << 23);
        assert_eq!(t1, 2_343_484_438);
        assert_eq!(io.inp(t1 - 1, PM1_STS, 2) as u16 & TMR_STS, 0);
        assert_eq!(io.inp(t1, PM1_STS, 2) as u16 & TMR_STS, TMR_STS);
        io.out(t1, PM1_STS, 2, 0);
        assert_eq!(
            io.inp(t1, PM1_STS, 2) as u16,
            TMR_STS,
            "zeros clear nothing"
        );
        io.out(t1, PM1_STS, 2, TMR_STS as u32);
        assert_eq!(io.inp(t1 + 1000, PM1_STS, 2), 0);
        let t2 = time_of_tick(2 << 23);
        assert_eq!(
            io.inp(t2 - 1, PM1_STS, 2),
            0,
            "not again until the next toggle"
        );
        assert_eq!(io.inp(t2, PM1_STS, 2) as u16, TMR_STS, "1 -> 0 toggles too");
    }

    #[test]
    fn timer_sci_needs_tmr_en_and_has_a_deadline() {
        // With TMR_EN set, the toggle raises the SCI; the board wakes at the exact time.
        // Clearing TMR_STS drops the level.
        let mut io = Io::new();
        assert_eq!(io.pm.deadline(), None, "no SCI to raise: no deadline");
        io.out(0, PM1_EN, 2, TMR_EN as u32);
        assert_eq!(io.inp(0, PM1_EN, 2), TMR_EN as u32);
        let t1 = time_of_tick(1 << 23);
        assert_eq!(io.pm.deadline(), Some(t1));
        io.pm.tick(t1 - 1);
        assert!(!io.pm.sci());
        io.pm.tick(t1);
        assert!(io.pm.sci());
        assert_eq!(io.pm.deadline(), None, "already pending");
        io.out(t1 + 5, PM1_STS, 2, TMR_STS as u32);
        assert!(!io.pm.sci());
        assert_eq!(io.pm.deadline(), Some(time_of_tick(2 << 23)));
        // SCI_EN clear: the status still sets, but no SCI and no deadline.
        io.out(t1 + 5, PM1_CNT, 2, 0);
        assert_eq!(io.pm.deadline(), None);
        io.pm.tick(time_of_tick(2 << 23));
        assert!(!io.pm.sci());
        assert_eq!(io.inp(time_of_tick(2 << 23), PM1_STS, 2) as u16, TMR_STS);
    }

    #[test]
    fn sci_en_is_set_from_reset_and_pm1_cnt_reads_back() {
        // ACPI is always on: SCI_EN reads 1 from reset; SLP_TYP reads back; SLP_EN and
        // GBL_RLS are write-only and read 0.
        let mut io = Io::new();
        assert_eq!(io.inp(0, PM1_CNT, 2), SCI_EN as u32);
        io.out(
            0,
            PM1_CNT,
            2,
            (SCI_EN | GBL_RLS | 5 << SLP_TYP_SHIFT) as u32,
        );
        assert_eq!(io.inp(0, PM1_CNT, 2), (SCI_EN | 5 << SLP_TYP_SHIFT) as u32);
        assert!(!io.pm.power_off_requested());
    }

    #[test]
    fn slp_en_with_the_s5_type_powers_off() {
        // ACPI §16.1.7: OSPM writes SLP_TYP (from \_S5) with SLP_EN: the machine goes to
        // soft off. Another sleep type does nothing on this board.
        let mut io = Io::new();
        io.out(0, PM1_CNT, 2, (SCI_EN | SLP_EN | 1 << SLP_TYP_SHIFT) as u32);
        assert!(!io.pm.power_off_requested(), "S3 is not offered");
        io.out(0, PM1_CNT, 2, (SCI_EN | S5_SLP_TYP as u16) as u32);
        assert!(!io.pm.power_off_requested(), "SLP_TYP alone does nothing");
        io.out(
            0,
            PM1_CNT,
            2,
            (SCI_EN | SLP_EN | (S5_SLP_TYP as u16) << 10) as u32,
        );
        assert!(io.pm.power_off_requested());
        assert_eq!(io.inp(0, PM1_CNT, 2) as u16 & SLP_EN, 0);
        io.pm.clear_power_off();
        // Linux's acpi_hw_legacy_sleep writes SLP_TYP first, then SLP_TYP|SLP_EN, as
        // words; a byte write of the high half works the same.
        io.out(0, PM1_CNT + 1, 1, (SLP_EN >> 8) as u32);
        assert!(io.pm.power_off_requested());
    }

    #[test]
    fn power_button_status_and_enable() {
        // PWRBTN_STS is set by the button and raises the SCI when PWRBTN_EN is set.
        let mut io = Io::new();
        io.pm.press_power_button();
        assert_eq!(io.inp(0, PM1_STS, 2) as u16, PWRBTN_STS);
        assert!(!io.pm.sci());
        io.out(0, PM1_EN + 1, 1, (PWRBTN_EN >> 8) as u32);
        assert!(io.pm.sci());
        io.out(0, PM1_STS + 1, 1, (PWRBTN_STS >> 8) as u32);
        assert!(!io.pm.sci());
        // Only the defined enable bits stick; PM1_STS and PM1_EN read as one dword.
        io.out(0, PM1_EN, 2, 0xFFFF);
        assert_eq!(io.inp(0, PM1_STS, 4), (PM1_EN_MASK as u32) << 16);
    }

    #[test]
    fn gpe0_block_has_status_and_enable_halves() {
        // GPE0_EN is read/write; GPE0_STS is write-1-to-clear and nothing on this board
        // sets it, so it reads 0 and never raises the SCI.
        let mut io = Io::new();
        io.out(0, GPE0_EN, 2, 0xA5C3);
        assert_eq!(io.inp(0, GPE0_STS, 4), 0xA5C3_0000);
        assert_eq!(io.inp(0, GPE0_EN + 1, 1), 0xA5);
        io.out(0, GPE0_STS, 2, 0xFFFF);
        assert_eq!(io.inp(0, GPE0_STS, 2), 0);
        assert!(!io.pm.sci());
    }

    #[test]
    fn block_follows_its_base_and_unused_offsets_read_zero() {
        // The PIIX4's registers at 10h–3Fh (SMI and device monitors) read 0 here; ports
        // outside the block read all ones. When PMBA moves, so does the block.
        let mut io = Io::new();
        assert_eq!(io.inp(0, 0x10, 4), 0);
        assert_eq!(io.inp(0, 0x3C, 4), 0);
        assert_eq!(
            io.inp(0, 0x3E, 4),
            0xFFFF_0000,
            "past the 64 bytes: open bus"
        );
        io.pm.set_base(0xB000);
        assert_eq!(io.pm.base(), 0xB000);
        let mut ctx = DevCtx {
            now: 1_000_000_000,
            mem: &mut io.mem,
        };
        assert_eq!(io.pm.io_read(&mut ctx, 0xB008, 4), 3_579_545);
        assert_eq!(io.pm.io_read(&mut ctx, 0x608, 4), 0xFFFF_FFFF);
    }
}
