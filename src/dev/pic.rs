//! The 8259A programmable interrupt controller pair of the PC/AT (master at 0x20/0x21, slave at
//! 0xA0/0xA1, the slave's INT on the master's IR2), with the PIIX edge/level control registers
//! (ELCR) at 0x4D0/0x4D1.
//!
//! References: Intel 8259A datasheet (231468) — "Interrupt Sequence", "Programming the 8259A"
//! (ICW1–ICW4, OCW1–OCW3), "The Special Fully Nest Mode", "Edge and Level Triggered Modes";
//! Intel 82371AB (PIIX4) datasheet, interrupt controller registers (ICW1's LTIM replaced by the
//! ELCR; which ELCR bits are reserved).
//!
//! Model notes (where the chip leaves room, what is chosen here):
//! - IR inputs are levels driven by the board through [`Pic::set_irq`]. An edge-triggered IR
//!   latches its request on the rising edge and keeps it until the INTA cycle (or ICW1), so a
//!   device may pulse its line; a level-triggered IR's request follows the line. (The
//!   datasheet asks an edge-triggered IR to stay high until the first INTA and answers a
//!   request withdrawn earlier with IR7; the latch follows QEMU, so kernels tested there see
//!   the same interrupts here.)
//! - A request that is no longer there when the CPU acknowledges (a level line that dropped, a
//!   mask set in between) gets the chip's "default IR7": vector base + 7 with no ISR bit set.
//!   When the master selects its cascade input and the slave has nothing left, the master
//!   still takes IR2 in service and the slave answers with its own base + 7 (spurious IRQ 15).
//! - The CPU is an 8086-family processor: vectors are always ICW2's T7–T3 plus the level, and
//!   the MCS-80/85 CALL format (ICW4.uPM = 0) is not modelled.
//! - As on PIIX, ICW1.LTIM is ignored: the ELCR alone chooses edge or level per line, and IRQ 0,
//!   1, 2, 8 and 13 are always edge-triggered.
//! - As on the AT, a device that drives the bus's IRQ2 pin reaches the slave's IR1 (IRQ 9),
//!   since the master's IR2 carries the cascade.

use super::bus::{DevCtx, PortIo};

/// Master command port (A0 = 0): ICW1, OCW2, OCW3; reads IRR/ISR or the poll word.
pub const MASTER_CMD: u16 = 0x20;
/// Master data port (A0 = 1): ICW2–ICW4, OCW1; reads the IMR.
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_CMD: u16 = 0xA0;
/// Slave data port.
pub const SLAVE_DATA: u16 = 0xA1;
/// Edge/level control register for IRQ 0–7 (PIIX).
pub const ELCR_MASTER: u16 = 0x4D0;
/// Edge/level control register for IRQ 8–15 (PIIX).
pub const ELCR_SLAVE: u16 = 0x4D1;

/// ICW1 is recognised by D4 = 1 on A0 = 0.
const ICW1: u8 = 0x10;
/// ICW1.IC4: an ICW4 follows.
const ICW1_IC4: u8 = 0x01;
/// ICW1.SNGL: single chip, no ICW3.
const ICW1_SNGL: u8 = 0x02;
/// ICW4.AEOI: automatic end of interrupt.
const ICW4_AEOI: u8 = 0x02;
/// ICW4.SFNM: special fully nested mode.
const ICW4_SFNM: u8 = 0x10;
/// An OCW3 has D4 = 0 and D3 = 1 (an OCW2 has both 0).
const OCW3: u8 = 0x08;
/// OCW3.RIS: read the ISR (1) or the IRR (0) ...
const OCW3_RIS: u8 = 0x01;
/// ... when OCW3.RR = 1.
const OCW3_RR: u8 = 0x02;
/// OCW3.P: poll command.
const OCW3_P: u8 = 0x04;
/// OCW3.SMM: set (1) or reset (0) special mask mode ...
const OCW3_SMM: u8 = 0x20;
/// ... when OCW3.ESMM = 1.
const OCW3_ESMM: u8 = 0x40;
/// OCW2.R: rotate.
const OCW2_R: u8 = 0x80;
/// OCW2.SL: the command names a level in L2–L0.
const OCW2_SL: u8 = 0x40;
/// OCW2.EOI: end of interrupt.
const OCW2_EOI: u8 = 0x20;
/// ELCR bits that PIIX reserves (IRQ 0, 1, 2 on the master; IRQ 8 and 13 on the slave).
const ELCR_MASTER_WRITABLE: u8 = 0xF8;
const ELCR_SLAVE_WRITABLE: u8 = 0xDE;
/// The master's IR that carries the slave's INT on the PC.
const CASCADE_IR: u8 = 2;

/// Where a chip is in its initialization sequence: which ICW the next A0 = 1 write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Init {
    /// Initialized: A0 = 1 writes are OCW1.
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

/// One 8259A.
#[derive(Debug, Clone)]
struct Chip {
    /// Interrupt request register.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// The IR input levels, for edge detection.
    lines: u8,
    /// Level-triggered lines (the PIIX ELCR for this chip).
    elcr: u8,
    /// ELCR bits that can be set.
    elcr_writable: u8,
    /// T7–T3 of the vector (ICW2).
    base: u8,
    init: Init,
    icw1: u8,
    /// Master: the IRs that have a slave; slave: its ID in bits 2–0.
    icw3: u8,
    icw4: u8,
    /// The IR with the lowest priority; the next one up has the highest.
    lowest: u8,
    /// OCW3 RR/RIS: a read at A0 = 0 returns the ISR instead of the IRR.
    read_isr: bool,
    /// OCW3 P: the next read is the poll word.
    poll: bool,
    /// OCW3 SMM: special mask mode.
    special_mask: bool,
    /// OCW2 "rotate in automatic EOI mode" is set.
    rotate_aeoi: bool,
}

impl Chip {
    fn new(elcr_writable: u8) -> Chip {
        Chip {
            irr: 0,
            isr: 0,
            imr: 0,
            lines: 0,
            elcr: 0,
            elcr_writable,
            base: 0,
            init: Init::Ready,
            icw1: 0,
            icw3: 0,
            icw4: 0,
            lowest: 7,
            read_isr: false,
            poll: false,
            special_mask: false,
            rotate_aeoi: false,
        }
    }

    /// Drives IR `ir` to `level`. Edge: a rising edge latches a request. Level: the request
    /// follows the line.
    fn set_line(&mut self, ir: u8, level: bool) {
        let bit = 1 << ir;
        if level {
            if self.lines & bit == 0 || self.elcr & bit != 0 {
                self.irr |= bit;
            }
            self.lines |= bit;
        } else {
            self.lines &= !bit;
            if self.elcr & bit != 0 {
                self.irr &= !bit;
            }
        }
    }

    fn set_elcr(&mut self, value: u8) {
        self.elcr = value & self.elcr_writable;
        // Lines that became level-triggered now report their line as the request.
        self.irr = (self.irr & !self.elcr) | (self.lines & self.elcr);
    }

    fn single(&self) -> bool {
        self.icw1 & ICW1_SNGL != 0
    }

    fn auto_eoi(&self) -> bool {
        self.icw4 & ICW4_AEOI != 0
    }

    /// Master: whether IR `ir` has a slave (ICW3), so INTA lets the slave give the vector.
    fn has_slave_on(&self, ir: u8) -> bool {
        !self.single() && self.icw3 & (1 << ir) != 0
    }

    /// Slave: whether it answers an INTA whose cascade address is `ir` (its ICW3 ID).
    fn answers_cascade(&self, ir: u8) -> bool {
        self.single() || self.icw3 & 7 == ir
    }

    /// The levels in priority order, highest first.
    fn by_priority(&self) -> impl Iterator<Item = u8> {
        let first = (self.lowest + 1) & 7;
        (0..8).map(move |i| (first + i) & 7)
    }

    /// The priority resolver: the level that would be serviced now, if any. A request must be
    /// unmasked and of higher priority than every level in service, except that in special mask
    /// mode a masked level in service blocks nothing, and in special fully nested mode a level
    /// with a slave is not blocked by itself being in service (datasheet, "Special Fully Nest
    /// Mode" a; "Special Mask Mode").
    fn resolve(&self) -> Option<u8> {
        let requests = self.irr & !self.imr;
        if requests == 0 {
            return None;
        }
        let blocking = if self.special_mask {
            self.isr & !self.imr
        } else {
            self.isr
        };
        let sfnm = self.icw4 & ICW4_SFNM != 0;
        for ir in self.by_priority() {
            let bit = 1 << ir;
            if blocking & bit != 0 {
                let through = sfnm && self.has_slave_on(ir) && requests & bit != 0;
                return through.then_some(ir);
            }
            if requests & bit != 0 {
                return Some(ir);
            }
        }
        None
    }

    /// The INTA of level `ir`: ISR bit set (unless automatic EOI, which resets it at the end of
    /// the second INTA pulse), edge request cleared.
    fn accept(&mut self, ir: u8) {
        let bit = 1 << ir;
        if self.elcr & bit == 0 {
            self.irr &= !bit;
        }
        if !self.auto_eoi() {
            self.isr |= bit;
        } else if self.rotate_aeoi {
            self.lowest = ir;
        }
    }

    /// The in-service level of highest priority, which a non-specific EOI ends.
    fn highest_in_service(&self) -> Option<u8> {
        self.by_priority().find(|ir| self.isr & (1 << ir) != 0)
    }

    /// The poll word (OCW3 P = 1, then a read): I (bit 7) and W2–W0, the request acknowledged
    /// as by an INTA.
    fn poll_word(&mut self) -> u8 {
        self.poll = false;
        match self.resolve() {
            Some(ir) => {
                self.accept(ir);
                0x80 | ir
            }
            None => 0,
        }
    }

    fn read(&mut self, a0: bool) -> u8 {
        if self.poll {
            return self.poll_word();
        }
        match (a0, self.read_isr) {
            (true, _) => self.imr,
            (false, true) => self.isr,
            (false, false) => self.irr,
        }
    }

    fn write(&mut self, a0: bool, value: u8) {
        if !a0 {
            if value & ICW1 != 0 {
                self.icw1(value);
            } else if value & OCW3 != 0 {
                self.ocw3(value);
            } else {
                self.ocw2(value);
            }
            return;
        }
        match self.init {
            Init::Ready => self.imr = value,
            Init::Icw2 => {
                self.base = value & 0xF8;
                self.init = if !self.single() {
                    Init::Icw3
                } else if self.icw1 & ICW1_IC4 != 0 {
                    Init::Icw4
                } else {
                    Init::Ready
                };
            }
            Init::Icw3 => {
                self.icw3 = value;
                self.init = if self.icw1 & ICW1_IC4 != 0 {
                    Init::Icw4
                } else {
                    Init::Ready
                };
            }
            Init::Icw4 => {
                self.icw4 = value;
                self.init = Init::Ready;
            }
        }
    }

    /// ICW1 starts the initialization sequence. Datasheet: the edge sense circuit is reset (an
    /// edge-triggered IR must make a new low-to-high transition), the IMR is cleared, IR7 gets
    /// the lowest priority, special mask mode is cleared and status read is set to IRR; without
    /// IC4 all ICW4 functions are zero. The ISR is cleared too, as QEMU does.
    fn icw1(&mut self, value: u8) {
        self.icw1 = value;
        self.init = Init::Icw2;
        self.imr = 0;
        self.isr = 0;
        self.irr = self.lines & self.elcr;
        self.icw3 = 0;
        self.lowest = 7;
        self.special_mask = false;
        self.read_isr = false;
        self.poll = false;
        self.rotate_aeoi = false;
        if value & ICW1_IC4 == 0 {
            self.icw4 = 0;
        }
    }

    /// OCW2: EOI and rotation commands (R, SL, EOI in bits 7–5; the level in L2–L0).
    fn ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value & (OCW2_R | OCW2_SL | OCW2_EOI) {
            // Non-specific EOI, optionally rotating the ended level to lowest priority.
            0x20 | 0xA0 => {
                if let Some(ir) = self.highest_in_service() {
                    self.isr &= !(1 << ir);
                    if value & OCW2_R != 0 {
                        self.lowest = ir;
                    }
                }
            }
            // Specific EOI, optionally rotating.
            0x60 | 0xE0 => {
                self.isr &= !(1 << level);
                if value & OCW2_R != 0 {
                    self.lowest = level;
                }
            }
            // Rotate in automatic EOI mode: set (R = 1) or clear (R = 0).
            0x80 => self.rotate_aeoi = true,
            0x00 => self.rotate_aeoi = false,
            // Set priority: L2–L0 becomes the lowest level.
            0xC0 => self.lowest = level,
            // 0x40: no operation.
            _ => {}
        }
    }

    fn ocw3(&mut self, value: u8) {
        if value & OCW3_P != 0 {
            self.poll = true;
        }
        if value & OCW3_RR != 0 {
            self.read_isr = value & OCW3_RIS != 0;
        }
        if value & OCW3_ESMM != 0 {
            self.special_mask = value & OCW3_SMM != 0;
        }
    }
}

/// The cascaded 8259A pair with the PIIX ELCR.
///
/// Board wiring: `set_irq(line, level)` for IRQ 0–15 whenever a device's line changes (levels,
/// not events); `int_output()` is the master's INT pin (to the CPU's INTR or LAPIC LINT0);
/// `ack()` is the INTA cycle and returns the vector. Ports: 0x20, 0x21, 0xA0, 0xA1, 0x4D0,
/// 0x4D1 (aliases that keep A0 in bit 0 and bit 7 = 1 for the slave decode the same way).
#[derive(Debug, Clone)]
pub struct Pic {
    master: Chip,
    slave: Chip,
}

impl Default for Pic {
    fn default() -> Self {
        Pic::new()
    }
}

impl Pic {
    /// A pair at power-on: not initialized (vector base 0, nothing masked, all lines
    /// edge-triggered), as QEMU resets it. Firmware or the kernel programs it, or the board
    /// calls [`Pic::bios_init`] for a direct kernel boot.
    pub fn new() -> Pic {
        Pic {
            master: Chip::new(ELCR_MASTER_WRITABLE),
            slave: Chip::new(ELCR_SLAVE_WRITABLE),
        }
    }

    /// Programs the pair as a PC BIOS leaves it: master vectors 0x08–0x0F, slave 0x70–0x77,
    /// slave on IR2 with ID 2, 8086 mode, normal EOI; then loads the masks (`imr` bit n masks
    /// IRQ n).
    pub fn bios_init(&mut self, imr: u16) {
        let program = |chip: &mut Chip, base: u8, icw3: u8, mask: u8| {
            chip.write(false, ICW1 | ICW1_IC4);
            chip.write(true, base);
            chip.write(true, icw3);
            chip.write(true, 0x01);
            chip.write(true, mask);
        };
        program(&mut self.master, 0x08, 1 << CASCADE_IR, imr as u8);
        program(&mut self.slave, 0x70, CASCADE_IR, (imr >> 8) as u8);
        self.update_cascade();
    }

    /// Drives interrupt line `line` (IRQ 0–15) to `level`. IRQ 2 is the AT bus pin that the
    /// board routes to IRQ 9; lines above 15 are ignored.
    pub fn set_irq(&mut self, line: u8, level: bool) {
        match line {
            2 => self.slave.set_line(1, level),
            0..=7 => self.master.set_line(line, level),
            8..=15 => self.slave.set_line(line - 8, level),
            _ => return,
        }
        self.update_cascade();
    }

    /// The master's INT pin: an unmasked request of high enough priority is waiting.
    pub fn int_output(&self) -> bool {
        self.master.resolve().is_some()
    }

    /// The INTA cycle: returns the vector and updates ISR/IRR on the master and, through the
    /// cascade, on the slave. A request that vanished gives the default IR7 of the chip that
    /// was asked (no ISR bit set on it); a slave that does not answer the cascade address leaves
    /// the data bus floating (0xFF).
    pub fn ack(&mut self) -> u8 {
        let Some(ir) = self.master.resolve() else {
            return self.master.base | 7;
        };
        self.master.accept(ir);
        if !self.master.has_slave_on(ir) {
            self.update_cascade();
            return self.master.base | ir;
        }
        let vector = if !self.slave.answers_cascade(ir) {
            0xFF
        } else if let Some(s) = self.slave.resolve() {
            self.slave.accept(s);
            self.slave.base | s
        } else {
            self.slave.base | 7
        };
        // The master samples the slave's INT afresh after the INTA sequence, so a slave that
        // still has a request (automatic EOI, or a higher level that came in) is seen again
        // rather than hidden behind an edge that already happened.
        self.master.lines &= !(1 << CASCADE_IR);
        self.update_cascade();
        vector
    }

    /// Feeds the slave's INT output into the master's IR2.
    fn update_cascade(&mut self) {
        let int = self.slave.resolve().is_some();
        self.master.set_line(CASCADE_IR, int);
    }

    fn read_byte(&mut self, port: u16) -> u8 {
        let v = match port {
            ELCR_MASTER => self.master.elcr,
            ELCR_SLAVE => self.slave.elcr,
            0x20..=0x3F => self.master.read(port & 1 != 0),
            0xA0..=0xBF => self.slave.read(port & 1 != 0),
            _ => return 0xFF,
        };
        // A poll read acknowledges like an INTA and may change the slave's INT.
        self.update_cascade();
        v
    }

    fn write_byte(&mut self, port: u16, value: u8) {
        match port {
            ELCR_MASTER => self.master.set_elcr(value),
            ELCR_SLAVE => self.slave.set_elcr(value),
            0x20..=0x3F => self.master.write(port & 1 != 0, value),
            0xA0..=0xBF => self.slave.write(port & 1 != 0, value),
            _ => return,
        }
        self.update_cascade();
    }
}

impl PortIo for Pic {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        // A wider access is split into byte accesses at consecutive ports, as the ISA bridge does.
        (0..size.min(4) as u16)
            .map(|i| (self.read_byte(port.wrapping_add(i)) as u32) << (8 * i))
            .fold(0, |acc, b| acc | b)
    }

    fn io_write(&mut self, _: &mut DevCtx, port: u16, size: u8, value: u32) {
        for i in 0..size.min(4) as u16 {
            self.write_byte(port.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    /// A PIC driven through its ports, with the memory a `DevCtx` needs.
    struct Rig {
        pic: Pic,
        mem: PhysMem,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                pic: Pic::new(),
                mem: PhysMem::new(4096).unwrap(),
            }
        }

        /// A pair programmed through the ports as a PC BIOS does: ICW1 = 0x11 (edge, cascade,
        /// ICW4 needed), ICW2 = 0x08 / 0x70, ICW3 = 0x04 / 0x02, ICW4 = `icw4`; nothing masked.
        fn initialized(icw4_master: u8, icw4_slave: u8) -> Rig {
            let mut r = Rig::new();
            for (cmd, base, icw3, icw4) in [
                (0x20, 0x08, 0x04, icw4_master),
                (0xA0, 0x70, 0x02, icw4_slave),
            ] {
                r.out(cmd, 0x11);
                r.out(cmd + 1, base);
                r.out(cmd + 1, icw3);
                r.out(cmd + 1, icw4);
                r.out(cmd + 1, 0x00);
            }
            r
        }

        fn out(&mut self, port: u16, value: u8) {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.pic.io_write(&mut ctx, port, 1, value as u32);
        }

        fn inb(&mut self, port: u16) -> u8 {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.pic.io_read(&mut ctx, port, 1) as u8
        }

        /// OCW3 "read IRR" then a read of the command port.
        fn irr(&mut self, cmd: u16) -> u8 {
            self.out(cmd, 0x0A);
            self.inb(cmd)
        }

        /// OCW3 "read ISR" then a read of the command port.
        fn isr(&mut self, cmd: u16) -> u8 {
            self.out(cmd, 0x0B);
            self.inb(cmd)
        }

        /// Raises and lowers a line: an edge-triggered request.
        fn pulse(&mut self, irq: u8) {
            self.pic.set_irq(irq, true);
            self.pic.set_irq(irq, false);
        }
    }

    #[test]
    fn init_sequence_programs_vector_bases_and_the_mask() {
        // ICW2 gives T7-T3 of the vector; OCW1 after the sequence is the IMR, read back at A0=1.
        let mut r = Rig::initialized(0x01, 0x01);
        r.out(0x21, 0xB8);
        r.out(0xA1, 0x8F);
        assert_eq!(r.inb(0x21), 0xB8);
        assert_eq!(r.inb(0xA1), 0x8F);
        r.out(0x21, 0x00);
        r.out(0xA1, 0x00);
        r.pulse(0);
        assert!(r.pic.int_output());
        assert_eq!(r.pic.ack(), 0x08);
        r.out(0x20, 0x20);
        r.pulse(14);
        assert_eq!(r.pic.ack(), 0x76);
        // ICW2's low three bits are ignored in 8086 mode.
        r.out(0x20, 0x11);
        r.out(0x21, 0x27);
        r.out(0x21, 0x04);
        r.out(0x21, 0x01);
        r.pulse(3);
        assert_eq!(r.pic.ack(), 0x23);
    }

    #[test]
    fn icw1_resets_mask_and_sequence_lengths_follow_sngl_and_ic4() {
        // ICW1 clears the IMR. With SNGL there is no ICW3, without IC4 no ICW4: the next A0=1
        // write after ICW2 is then already OCW1.
        let mut r = Rig::initialized(0x01, 0x01);
        r.out(0x21, 0xFF);
        r.out(0x20, 0x12); // ICW1: single, no ICW4
        assert_eq!(r.inb(0x21), 0x00, "ICW1 clears the IMR");
        r.out(0x21, 0x40); // ICW2
        r.out(0x21, 0x5A); // OCW1
        assert_eq!(r.inb(0x21), 0x5A);
        r.out(0x20, 0x13); // ICW1: single, ICW4
        r.out(0x21, 0x40); // ICW2
        r.out(0x21, 0x03); // ICW4: 8086, AEOI
        r.out(0x21, 0x00); // OCW1
        r.pic.set_irq(5, true);
        assert_eq!(r.pic.ack(), 0x45);
        assert_eq!(r.isr(0x20), 0, "automatic EOI leaves no ISR bit");
        // In single mode IR2 (where the slave's INT arrives) is an ordinary input.
        r.pulse(9);
        assert_eq!(r.pic.ack(), 0x42);
    }

    #[test]
    fn priority_resolution_in_fully_nested_mode() {
        // IR0 is highest. A level in service blocks itself and lower levels; a higher one nests.
        struct Case {
            pending: &'static [u8],
            in_service: Option<u8>,
            expect: Option<u8>,
        }
        let cases = [
            Case {
                pending: &[3, 5],
                in_service: None,
                expect: Some(0x0B),
            },
            Case {
                pending: &[7, 6, 4],
                in_service: None,
                expect: Some(0x0C),
            },
            Case {
                pending: &[4],
                in_service: Some(3),
                expect: None,
            },
            Case {
                pending: &[3],
                in_service: Some(3),
                expect: None,
            },
            Case {
                pending: &[1],
                in_service: Some(3),
                expect: Some(0x09),
            },
            Case {
                pending: &[9],
                in_service: Some(3),
                expect: Some(0x71),
            },
            Case {
                pending: &[9],
                in_service: Some(1),
                expect: None,
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            let mut r = Rig::initialized(0x01, 0x01);
            if let Some(l) = c.in_service {
                r.pulse(l);
                assert_eq!(r.pic.ack(), 0x08 + l, "case {i}");
            }
            for &l in c.pending {
                r.pic.set_irq(l, true);
            }
            assert_eq!(r.pic.int_output(), c.expect.is_some(), "case {i}");
            if let Some(v) = c.expect {
                assert_eq!(r.pic.ack(), v, "case {i}");
            }
        }
    }

    #[test]
    fn eoi_kinds() {
        // Non-specific EOI ends the highest-priority level in service; specific EOI the one
        // named in L2-L0; OCW2 = 0x40 is a no-op.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(5);
        assert_eq!(r.pic.ack(), 0x0D);
        r.pulse(3); // higher: nests
        assert_eq!(r.pic.ack(), 0x0B);
        assert_eq!(r.isr(0x20), 0x28);
        r.out(0x20, 0x40);
        assert_eq!(r.isr(0x20), 0x28, "OCW2 no-op");
        r.out(0x20, 0x20);
        assert_eq!(
            r.isr(0x20),
            0x20,
            "non-specific EOI ends IR3, the highest in service"
        );
        r.pulse(3);
        assert_eq!(r.pic.ack(), 0x0B);
        r.out(0x20, 0x65);
        assert_eq!(
            r.isr(0x20),
            0x08,
            "specific EOI 5 ends IR5 although IR3 is higher"
        );
        r.out(0x20, 0x63);
        assert_eq!(r.isr(0x20), 0x00);
    }

    #[test]
    fn rotation_commands() {
        // Rotate on non-specific EOI: the ended level becomes the lowest. Set priority: L2-L0
        // becomes lowest. Rotate on specific EOI: the named level becomes lowest.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(1);
        assert_eq!(r.pic.ack(), 0x09);
        r.out(0x20, 0xA0); // rotate on non-specific EOI: IR1 lowest, IR2 highest
        r.pic.set_irq(0, true);
        r.pic.set_irq(4, true);
        assert_eq!(r.pic.ack(), 0x0C, "IR4 outranks IR0 once IR1 is lowest");
        r.out(0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x08);
        r.out(0x20, 0x20);

        r.out(0x20, 0xC5); // set priority: IR5 lowest, IR6 highest
        r.pic.set_irq(0, false);
        r.pic.set_irq(4, false);
        for l in [3, 7, 5] {
            r.pic.set_irq(l, true);
        }
        assert_eq!(r.pic.ack(), 0x0F, "IR7 outranks IR3 after set priority 5");
        r.out(0x20, 0xE7); // rotate on specific EOI 7: IR7 lowest, IR0 highest again
        assert_eq!(r.pic.ack(), 0x0B);
        r.out(0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x0D);
    }

    #[test]
    fn automatic_eoi_and_rotate_in_automatic_eoi() {
        // AEOI: the ISR bit is reset at the end of INTA. With "rotate in AEOI" set, each
        // acknowledged level becomes the lowest, so equal-priority devices take turns.
        let mut r = Rig::initialized(0x03, 0x01);
        r.pulse(4);
        assert_eq!(r.pic.ack(), 0x0C);
        assert_eq!(r.isr(0x20), 0);
        r.out(0x20, 0x80); // set rotate in AEOI
        r.pulse(4);
        r.pulse(6);
        assert_eq!(r.pic.ack(), 0x0C);
        r.pulse(4);
        assert_eq!(
            r.pic.ack(),
            0x0E,
            "IR4 rotated to lowest, so IR6 goes first"
        );
        assert_eq!(r.pic.ack(), 0x0C);
        r.out(0x20, 0x00); // clear rotate in AEOI
        r.out(0x20, 0xC7); // back to IR0 highest
        r.pulse(6);
        r.pulse(4);
        assert_eq!(r.pic.ack(), 0x0C);
        assert_eq!(r.pic.ack(), 0x0E);
    }

    #[test]
    fn special_mask_mode_lets_lower_levels_through() {
        // With IR3 in service and masked, special mask mode enables all other unmasked levels,
        // lower ones included; without it IR3's ISR bit still blocks IR5.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(3);
        assert_eq!(r.pic.ack(), 0x0B);
        r.out(0x21, 0x08);
        r.pic.set_irq(5, true);
        assert!(!r.pic.int_output(), "masking alone does not unblock IR5");
        r.out(0x20, 0x68); // OCW3: set special mask
        assert!(r.pic.int_output());
        assert_eq!(r.pic.ack(), 0x0D);
        assert_eq!(r.isr(0x20), 0x28);
        r.out(0x20, 0x48); // OCW3: reset special mask
        r.out(0x20, 0x65);
        r.pic.set_irq(5, false);
        r.pic.set_irq(6, true);
        assert!(!r.pic.int_output(), "IR3 in service blocks IR6 again");
    }

    #[test]
    fn edge_and_level_triggering_with_the_elcr() {
        // Edge: one interrupt per rising edge, however long the line stays high. Level (ELCR
        // bit set): the IRR follows the line, and a line still high after EOI interrupts again.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pic.set_irq(5, true);
        assert_eq!(r.pic.ack(), 0x0D);
        r.out(0x20, 0x20);
        assert!(!r.pic.int_output(), "edge: a line held high requests once");
        assert_eq!(r.irr(0x20) & 0x20, 0);
        r.pic.set_irq(5, false);

        r.out(0x4D0, 0x20);
        assert_eq!(r.inb(0x4D0), 0x20);
        r.pic.set_irq(5, true);
        assert_eq!(r.irr(0x20) & 0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x0D);
        assert_eq!(
            r.irr(0x20) & 0x20,
            0x20,
            "level: IRR stays while the line is high"
        );
        r.out(0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x0D, "level: still high after EOI, so again");
        r.out(0x20, 0x20);
        r.pic.set_irq(5, false);
        assert_eq!(r.irr(0x20) & 0x20, 0);
        assert!(!r.pic.int_output());

        // PIIX: IRQ 0, 1, 2, 8 and 13 cannot be level-triggered.
        r.out(0x4D0, 0xFF);
        r.out(0x4D1, 0xFF);
        assert_eq!(r.inb(0x4D0), 0xF8);
        assert_eq!(r.inb(0x4D1), 0xDE);
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut r.mem,
        };
        r.pic.io_write(&mut ctx, 0x4D0, 2, 0x0C00);
        assert_eq!(
            r.pic.io_read(&mut ctx, 0x4D0, 2),
            0x0C00,
            "word access covers both"
        );
    }

    #[test]
    fn edge_requests_latch_and_icw1_resets_the_edge_sense() {
        // A latched edge request survives the line going low (the board may pulse); after ICW1
        // a line that is high must go low and high again to request.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(6);
        assert!(r.pic.int_output());
        assert_eq!(r.pic.ack(), 0x0E);
        r.pic.set_irq(4, true);
        r.out(0x20, 0x11);
        r.out(0x21, 0x08);
        r.out(0x21, 0x04);
        r.out(0x21, 0x01);
        assert_eq!(r.isr(0x20), 0);
        assert!(!r.pic.int_output());
        r.pic.set_irq(4, true);
        assert!(!r.pic.int_output(), "no new edge");
        r.pic.set_irq(4, false);
        r.pulse(4);
        assert_eq!(r.pic.ack(), 0x0C);
    }

    #[test]
    fn spurious_irq7_when_the_request_vanished() {
        // The request must still be there at INTA; otherwise the chip answers with IR7's vector
        // and sets no ISR bit (datasheet, "Edge and Level Triggered Modes").
        struct Case {
            name: &'static str,
            level: bool,
            vanish: fn(&mut Rig),
        }
        let cases = [
            Case {
                name: "level line dropped",
                level: true,
                vanish: |r| r.pic.set_irq(5, false),
            },
            Case {
                name: "masked before INTA",
                level: false,
                vanish: |r| r.out(0x21, 0x20),
            },
        ];
        for c in cases {
            let mut r = Rig::initialized(0x01, 0x01);
            if c.level {
                r.out(0x4D0, 0x20);
            }
            r.pic.set_irq(5, true);
            assert!(r.pic.int_output(), "{}", c.name);
            (c.vanish)(&mut r);
            assert_eq!(r.pic.ack(), 0x0F, "{}", c.name);
            assert_eq!(r.isr(0x20), 0, "{}: a default IR7 sets no ISR bit", c.name);
        }
        // A real IR7 does set its ISR bit: that is how software tells them apart.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(7);
        assert_eq!(r.pic.ack(), 0x0F);
        assert_eq!(r.isr(0x20), 0x80);
    }

    #[test]
    fn spurious_irq15_goes_through_the_cascade() {
        // The master latched the slave's request on IR2; when the slave's level-triggered
        // request is gone at INTA, the master still takes IR2 in service and the slave answers
        // with its own IR7 vector (0x77), with no ISR bit on the slave.
        let mut r = Rig::initialized(0x01, 0x01);
        r.out(0x4D1, 0x04); // IRQ 10 level-triggered
        r.pic.set_irq(10, true);
        assert!(r.pic.int_output());
        r.pic.set_irq(10, false);
        assert!(r.pic.int_output(), "the master's edge latch on IR2 holds");
        assert_eq!(r.pic.ack(), 0x77);
        assert_eq!(r.isr(0xA0), 0);
        assert_eq!(
            r.isr(0x20),
            0x04,
            "master's ISR2 is set: software EOIs the master only"
        );
        r.out(0x20, 0x20);
        assert!(!r.pic.int_output());
    }

    #[test]
    fn cascade_delivers_slave_vectors_and_nests() {
        // A slave request sets the master's IR2; INTA sets ISR2 on the master and the slave's
        // own ISR bit, and the slave gives the vector. Software EOIs the slave, then the master.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(12);
        assert_eq!(r.irr(0x20), 0x04);
        assert_eq!(r.pic.ack(), 0x74);
        assert_eq!(r.isr(0x20), 0x04);
        assert_eq!(r.isr(0xA0), 0x10);
        r.pulse(14);
        assert!(
            !r.pic.int_output(),
            "IRQ 14 waits behind IRQ 12 on the slave"
        );
        r.out(0xA0, 0x20);
        assert!(!r.pic.int_output(), "and behind ISR2 on the master");
        r.out(0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x76);
        r.out(0xA0, 0x20);
        r.out(0x20, 0x20);
        // Master IR0/IR1 outrank the whole slave.
        r.pulse(9);
        r.pulse(1);
        assert_eq!(r.pic.ack(), 0x09);
        assert!(!r.pic.int_output(), "IR2 is below IR1 in service");
        r.out(0x20, 0x20);
        assert_eq!(r.pic.ack(), 0x71);
    }

    #[test]
    fn special_fully_nested_mode_lets_higher_slave_levels_through() {
        // SFNM on the master: with IRQ 12 in service, a higher slave level (IRQ 9) still
        // interrupts; in normal nesting the master's ISR2 blocks it.
        for (icw4, expect) in [(0x11, true), (0x01, false)] {
            let mut r = Rig::initialized(icw4, 0x01);
            r.pulse(12);
            assert_eq!(r.pic.ack(), 0x74);
            r.pulse(9);
            assert_eq!(r.pic.int_output(), expect, "icw4 {icw4:#x}");
            if expect {
                assert_eq!(r.pic.ack(), 0x71);
                assert_eq!(r.isr(0xA0), 0x12);
            }
            r.pulse(3);
            assert!(
                !r.pic.int_output(),
                "IR3 stays blocked by ISR2 in both modes"
            );
        }
    }

    #[test]
    fn auto_eoi_slave_with_two_requests_delivers_both() {
        // With automatic EOI on both chips nothing stays in service, so two slave requests
        // come one after the other without any EOI.
        let mut r = Rig::initialized(0x03, 0x03);
        r.pulse(11);
        r.pulse(13);
        assert_eq!(r.pic.ack(), 0x73);
        assert!(r.pic.int_output());
        assert_eq!(r.pic.ack(), 0x75);
        assert!(!r.pic.int_output());
    }

    #[test]
    fn slave_with_another_id_does_not_answer() {
        // The slave drives the data bus only when the master's cascade address equals its ID
        // (ICW3); otherwise the bus floats.
        let mut r = Rig::initialized(0x01, 0x01);
        r.out(0xA0, 0x11);
        r.out(0xA1, 0x70);
        r.out(0xA1, 0x05);
        r.out(0xA1, 0x01);
        r.pulse(8);
        assert_eq!(r.pic.ack(), 0xFF);
        assert_eq!(r.isr(0xA0), 0);
    }

    #[test]
    fn poll_mode_reads_and_acknowledges() {
        // OCW3 P=1: the next read returns I (bit 7) and the highest level, and counts as INTA.
        let mut r = Rig::initialized(0x01, 0x01);
        r.out(0x20, 0x0C);
        assert_eq!(r.inb(0x20), 0x00, "nothing pending: I = 0");
        r.pulse(6);
        r.pulse(3);
        r.out(0x20, 0x0C);
        assert_eq!(r.inb(0x21), 0x83, "either port reads the poll word");
        assert_eq!(r.isr(0x20), 0x08);
        assert_eq!(r.inb(0x21), 0x00, "the next read is the IMR again");
        r.out(0x20, 0x20);
        r.out(0x20, 0x0C);
        assert_eq!(r.inb(0x20), 0x86);
        // Polling the slave: the master sees IR2, the slave gives its own level.
        r.out(0x20, 0x20);
        r.pulse(15);
        r.out(0x20, 0x0C);
        assert_eq!(r.inb(0x20), 0x82);
        r.out(0xA0, 0x0C);
        assert_eq!(r.inb(0xA0), 0x87);
        assert_eq!(r.isr(0xA0), 0x80);
    }

    #[test]
    fn irr_and_isr_reads_and_irq2_redirect() {
        // OCW3 RR/RIS select the register read at A0 = 0 and the choice sticks; IRQ 2 on the
        // bus is the slave's IR1 (IRQ 9), as on the AT.
        let mut r = Rig::initialized(0x01, 0x01);
        r.pic.set_irq(4, true);
        r.pic.set_irq(6, true);
        r.out(0x20, 0x0A);
        assert_eq!(r.inb(0x20), 0x50);
        assert_eq!(r.inb(0x20), 0x50);
        assert_eq!(r.pic.ack(), 0x0C);
        r.out(0x20, 0x0B);
        assert_eq!(r.inb(0x20), 0x10);
        assert_eq!(r.inb(0x20), 0x10);
        r.out(0x20, 0x08); // OCW3 with RR = 0 keeps the selection
        assert_eq!(r.inb(0x20), 0x10);
        let mut r = Rig::initialized(0x01, 0x01);
        r.pulse(2);
        assert_eq!(r.pic.ack(), 0x71);
        r.out(0x31, 0x5A);
        assert_eq!(
            r.inb(0x21),
            0x5A,
            "the chip decodes A0 only; the board picks the aliases"
        );
    }

    #[test]
    fn bios_init_programs_the_pc_layout() {
        // What a PC BIOS leaves: IRQ 0-7 at 0x08-0x0F, IRQ 8-15 at 0x70-0x77, the given masks.
        let mut r = Rig::new();
        r.pic.bios_init(0xFEFA); // IRQ 0, 2 and 8 unmasked
        assert_eq!((r.inb(0x21), r.inb(0xA1)), (0xFA, 0xFE));
        r.pulse(1);
        assert!(!r.pic.int_output(), "IRQ 1 masked");
        r.pulse(0);
        assert_eq!(r.pic.ack(), 0x08);
        r.out(0x20, 0x20);
        r.pulse(8);
        assert_eq!(r.pic.ack(), 0x70);
    }
}
