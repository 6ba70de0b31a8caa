//! The I/O APIC (Intel 82093AA datasheet, with the EOI register of the ICH-era version 0x20
//! I/O APICs that QEMU models): 24 interrupt inputs, each with a redirection entry that turns
//! it into an interrupt message for the local APICs.
//!
//! Registers (MMIO at 0xFEC00000): IOREGSEL at 0x00 selects an indirect register, IOWIN at
//! 0x10 reads and writes it, and a write of a vector to the EOI register at 0x40 acts as an
//! EOI for level-triggered entries with that vector. Indirect registers: 0x00 ID, 0x01
//! version, 0x02 arbitration ID, 0x10 + 2n / 0x11 + 2n redirection entry n, low / high dword.
//!
//! How the board wires it: interrupt sources drive [`IoApic::set_irq`] (pin, electrical
//! level); after every access and every `set_irq` the board drains
//! [`IoApic::take_deliveries`] and hands each [`Delivery`] to the local APIC whose
//! destination it names (fixed and lowest priority: `Lapic::deliver(vector, level)`; NMI:
//! `Lapic::deliver_nmi`; ExtINT: the 8259's INT reaches the CPU; INIT/SMI: ignored on a
//! one-CPU machine). Level-triggered EOIs from the local APIC (`Lapic::take_eoi`) come back
//! through [`IoApic::eoi`].

use super::bus::{DevCtx, Mmio};
use crate::cpu::bus::ones;

/// Offset of IOREGSEL, the index register.
pub const IOREGSEL: u64 = 0x00;
/// Offset of IOWIN, the data window.
pub const IOWIN: u64 = 0x10;
/// Offset of the EOI register (version 0x20 I/O APICs).
pub const EOI: u64 = 0x40;

/// Number of interrupt inputs (redirection entries).
pub const PINS: usize = 24;
/// The version register: version 0x20, maximum redirection entry 23 (bits 23:16).
pub const VERSION: u32 = ((PINS as u32 - 1) << 16) | 0x20;

/// Indirect register: I/O APIC ID (bits 27:24).
pub const REG_ID: u8 = 0x00;
/// Indirect register: version.
pub const REG_VERSION: u8 = 0x01;
/// Indirect register: arbitration ID (bits 27:24, read-only, loaded from the ID).
pub const REG_ARB: u8 = 0x02;
/// Indirect register: the first redirection entry's low dword.
pub const REG_REDIR0: u8 = 0x10;

/// Redirection entry: delivery status (read-only; messages go out at once, so always idle).
pub const RTE_DELIVERY_STATUS: u64 = 1 << 12;
/// Redirection entry: the input is active low.
pub const RTE_POLARITY_LOW: u64 = 1 << 13;
/// Redirection entry: remote IRR (read-only): a level interrupt was accepted, no EOI yet.
pub const RTE_REMOTE_IRR: u64 = 1 << 14;
/// Redirection entry: level-triggered.
pub const RTE_LEVEL: u64 = 1 << 15;
/// Redirection entry: masked.
pub const RTE_MASKED: u64 = 1 << 16;
/// Redirection entry: logical destination mode.
pub const RTE_LOGICAL: u64 = 1 << 11;
/// Writable bits: vector, delivery mode, destination mode, polarity, trigger, mask, and the
/// destination field (63:56).
const RTE_WRITABLE: u64 = 0xFF00_0000_0001_AFFF;

/// Delivery modes of a redirection entry (82093AA Table "Redirection Table Entry").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Deliver the vector to every destination processor.
    Fixed,
    /// Deliver the vector to the destination processor of lowest priority.
    LowestPriority,
    /// A system management interrupt (edge only).
    Smi,
    /// A non-maskable interrupt (edge only).
    Nmi,
    /// INIT (edge only).
    Init,
    /// External interrupt: the destination asks the 8259 for the vector (edge only).
    ExtInt,
    /// The reserved encodings 011 and 110.
    Reserved,
}

impl DeliveryMode {
    fn from_bits(v: u64) -> DeliveryMode {
        match (v >> 8) & 7 {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            7 => DeliveryMode::ExtInt,
            _ => DeliveryMode::Reserved,
        }
    }

    /// Whether the mode honours level triggering; the others require edge (82093AA 3.2.4).
    fn may_be_level(self) -> bool {
        matches!(self, DeliveryMode::Fixed | DeliveryMode::LowestPriority)
    }
}

/// An interrupt message the I/O APIC sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The input pin it came from.
    pub pin: u8,
    /// Vector.
    pub vector: u8,
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Logical (true) or physical destination mode.
    pub logical: bool,
    /// Destination: an APIC ID or a logical destination set.
    pub dest: u8,
    /// Level-triggered: the local APIC sets the TMR bit and broadcasts the EOI.
    pub level: bool,
}

/// The I/O APIC.
#[derive(Debug)]
pub struct IoApic {
    id: u8,
    sel: u8,
    redir: [u64; PINS],
    /// The electrical level of each input.
    input: u32,
    remote_irr: u32,
    deliveries: Vec<Delivery>,
}

impl Default for IoApic {
    fn default() -> IoApic {
        IoApic::new()
    }
}

impl IoApic {
    /// An I/O APIC after reset: ID 0, every entry masked (82093AA 3.2.4).
    pub fn new() -> IoApic {
        IoApic {
            id: 0,
            sel: 0,
            redir: [RTE_MASKED; PINS],
            input: 0,
            remote_irr: 0,
            deliveries: Vec::new(),
        }
    }

    /// Drives input `pin` to `level` (the electrical level; the entry's polarity decides
    /// what counts as asserted). Edge entries send on the asserting edge; level entries send
    /// while asserted and remote IRR is clear. A masked entry ignores its input: a masked
    /// edge is lost (82093AA 3.2.4, mask bit). Pins beyond 23 are ignored.
    pub fn set_irq(&mut self, pin: usize, level: bool) {
        if pin >= PINS {
            return;
        }
        let was = self.asserted(pin);
        if level {
            self.input |= 1 << pin;
        } else {
            self.input &= !(1 << pin);
        }
        let rte = self.redir[pin];
        if rte & RTE_MASKED != 0 {
            return;
        }
        if self.level_triggered(pin) {
            self.service_level(pin);
        } else if self.asserted(pin) && !was {
            self.send(pin);
        }
    }

    /// An EOI for `vector` (broadcast by a local APIC, or written to the EOI register):
    /// level entries with that vector clear remote IRR, and send again if still asserted.
    pub fn eoi(&mut self, vector: u8) {
        for pin in 0..PINS {
            if self.remote_irr & 1 << pin != 0 && self.redir[pin] as u8 == vector {
                self.remote_irr &= !(1 << pin);
                self.service_level(pin);
            }
        }
    }

    /// The interrupt messages sent since the last call, oldest first.
    pub fn take_deliveries(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.deliveries)
    }

    /// Whether `pin`'s input is asserted, after its polarity.
    fn asserted(&self, pin: usize) -> bool {
        (self.input >> pin & 1 != 0) ^ (self.redir[pin] & RTE_POLARITY_LOW != 0)
    }

    fn level_triggered(&self, pin: usize) -> bool {
        let rte = self.redir[pin];
        rte & RTE_LEVEL != 0 && DeliveryMode::from_bits(rte).may_be_level()
    }

    /// A level entry sends while its input is asserted, unmasked, and remote IRR is clear;
    /// remote IRR is then set until the EOI.
    fn service_level(&mut self, pin: usize) {
        if self.level_triggered(pin)
            && self.redir[pin] & RTE_MASKED == 0
            && self.asserted(pin)
            && self.remote_irr & 1 << pin == 0
        {
            self.remote_irr |= 1 << pin;
            self.send(pin);
        }
    }

    fn send(&mut self, pin: usize) {
        let rte = self.redir[pin];
        self.deliveries.push(Delivery {
            pin: pin as u8,
            vector: rte as u8,
            mode: DeliveryMode::from_bits(rte),
            logical: rte & RTE_LOGICAL != 0,
            dest: (rte >> 56) as u8,
            level: self.level_triggered(pin),
        });
    }

    /// The indirect register `sel`; unimplemented indices read all ones.
    fn read_indirect(&self) -> u32 {
        match self.sel {
            REG_ID | REG_ARB => (self.id as u32) << 24,
            REG_VERSION => VERSION,
            s @ 0x10..=0x3F => {
                let pin = ((s - REG_REDIR0) / 2) as usize;
                let mut rte = self.redir[pin];
                if self.remote_irr & 1 << pin != 0 {
                    rte |= RTE_REMOTE_IRR;
                }
                if s & 1 == 0 {
                    rte as u32
                } else {
                    (rte >> 32) as u32
                }
            }
            _ => u32::MAX,
        }
    }

    /// Writes the indirect register `sel`. An ID write also loads the arbitration ID.
    fn write_indirect(&mut self, v: u32) {
        match self.sel {
            REG_ID => self.id = (v >> 24) as u8 & 0xF,
            s @ 0x10..=0x3F => {
                let pin = ((s - REG_REDIR0) / 2) as usize;
                let old = self.redir[pin];
                let new = if s & 1 == 0 {
                    (old & !0xFFFF_FFFF) | v as u64
                } else {
                    (old & 0xFFFF_FFFF) | (v as u64) << 32
                };
                self.redir[pin] = new & RTE_WRITABLE;
                // Remote IRR means nothing for edge entries: switching to edge clears it
                // (Linux relies on this to clear a stuck remote IRR on version 0x11 parts).
                if !self.level_triggered(pin) {
                    self.remote_irr &= !(1 << pin);
                }
                // Unmasking an asserted level input sends it; a masked edge stays lost.
                self.service_level(pin);
            }
            _ => {}
        }
    }
}

impl Mmio for IoApic {
    fn mmio_read(&mut self, _: &mut DevCtx, offset: u64, size: u8) -> u64 {
        let ones = ones(size);
        let (base, v) = match offset {
            0x00..=0x03 => (IOREGSEL, self.sel as u32),
            0x10..=0x13 => (IOWIN, self.read_indirect()),
            _ => return ones,
        };
        ((v as u64) >> (8 * (offset - base))) & ones
    }

    /// Narrow writes merge into the dword (IOREGSEL takes its low byte).
    fn mmio_write(&mut self, _: &mut DevCtx, offset: u64, size: u8, value: u64) {
        let bytes = size.clamp(1, 4) as u32;
        let merge = |cur: u32, base: u64| {
            let shift = 8 * (offset - base) as u32;
            let mask = ((u64::MAX >> (64 - 8 * bytes)) << shift) as u32;
            (cur & !mask) | ((value << shift) as u32 & mask)
        };
        match offset {
            0x00..=0x03 => self.sel = merge(self.sel as u32, IOREGSEL) as u8,
            0x10..=0x13 => {
                let v = merge(self.read_indirect(), IOWIN);
                self.write_indirect(v);
            }
            EOI => self.eoi(value as u8),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    fn read(io: &mut IoApic, mem: &mut PhysMem, index: u8) -> u32 {
        let mut ctx = DevCtx { now: 0, mem };
        io.mmio_write(&mut ctx, IOREGSEL, 4, index as u64);
        io.mmio_read(&mut ctx, IOWIN, 4) as u32
    }

    fn write(io: &mut IoApic, mem: &mut PhysMem, index: u8, v: u32) {
        let mut ctx = DevCtx { now: 0, mem };
        io.mmio_write(&mut ctx, IOREGSEL, 4, index as u64);
        io.mmio_write(&mut ctx, IOWIN, 4, v as u64);
    }

    /// Programs entry `pin` (low dword `lo`, destination `dest`).
    fn program(io: &mut IoApic, mem: &mut PhysMem, pin: u8, lo: u32, dest: u8) {
        write(io, mem, REG_REDIR0 + 2 * pin + 1, (dest as u32) << 24);
        write(io, mem, REG_REDIR0 + 2 * pin, lo);
    }

    fn setup() -> (IoApic, PhysMem) {
        (IoApic::new(), PhysMem::new(4096).unwrap())
    }

    #[test]
    fn reset_state_id_version_and_arbitration() {
        // 82093AA: entries reset masked; the arbitration ID is loaded from the ID.
        let (mut io, mut mem) = setup();
        assert_eq!(read(&mut io, &mut mem, REG_VERSION), 0x0017_0020);
        for pin in 0..PINS as u8 {
            assert_eq!(read(&mut io, &mut mem, REG_REDIR0 + 2 * pin), 1 << 16);
            assert_eq!(read(&mut io, &mut mem, REG_REDIR0 + 2 * pin + 1), 0);
        }
        write(&mut io, &mut mem, REG_ID, 0x0500_0000);
        assert_eq!(read(&mut io, &mut mem, REG_ID), 0x0500_0000);
        assert_eq!(read(&mut io, &mut mem, REG_ARB), 0x0500_0000);
        write(&mut io, &mut mem, REG_VERSION, 0);
        assert_eq!(read(&mut io, &mut mem, REG_VERSION), VERSION, "read-only");
        assert_eq!(read(&mut io, &mut mem, 0x40), u32::MAX, "no such register");
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut mem,
        };
        io.mmio_write(&mut ctx, IOREGSEL, 4, 0x13);
        assert_eq!(io.mmio_read(&mut ctx, IOREGSEL, 4), 0x13);
    }

    #[test]
    fn edge_entry_sends_once_per_asserting_edge() {
        // Edge-triggered inputs send a message on each rising edge only.
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 4, 0x34, 0);
        io.set_irq(4, true);
        io.set_irq(4, true);
        let d = io.take_deliveries();
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0],
            Delivery {
                pin: 4,
                vector: 0x34,
                mode: DeliveryMode::Fixed,
                logical: false,
                dest: 0,
                level: false
            }
        );
        io.set_irq(4, false);
        assert!(io.take_deliveries().is_empty());
        io.set_irq(4, true);
        assert_eq!(io.take_deliveries().len(), 1);
    }

    #[test]
    fn masked_edge_is_lost() {
        // 82093AA: an edge on a masked input is neither sent nor held.
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 2, 0x30 | RTE_MASKED as u32, 0);
        io.set_irq(2, true);
        program(&mut io, &mut mem, 2, 0x30, 0);
        assert!(io.take_deliveries().is_empty());
        io.set_irq(2, false);
        io.set_irq(2, true);
        assert_eq!(io.take_deliveries().len(), 1);
    }

    #[test]
    fn level_entry_holds_remote_irr_until_eoi_then_resends_if_asserted() {
        // A level message sets remote IRR; the EOI clears it and a still-asserted input
        // sends again.
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 10, 0x4A | RTE_LEVEL as u32, 0);
        io.set_irq(10, true);
        let d = io.take_deliveries();
        assert_eq!(d.len(), 1);
        assert!(d[0].level);
        assert_ne!(
            read(&mut io, &mut mem, REG_REDIR0 + 20) & RTE_REMOTE_IRR as u32,
            0
        );
        io.set_irq(10, true);
        assert!(io.take_deliveries().is_empty(), "remote IRR holds it");
        io.eoi(0x4B);
        assert!(io.take_deliveries().is_empty(), "another vector's EOI");
        io.eoi(0x4A);
        assert_eq!(io.take_deliveries().len(), 1, "still asserted: sent again");
        io.set_irq(10, false);
        io.eoi(0x4A);
        assert!(io.take_deliveries().is_empty());
        assert_eq!(
            read(&mut io, &mut mem, REG_REDIR0 + 20) & RTE_REMOTE_IRR as u32,
            0
        );
    }

    #[test]
    fn eoi_register_at_0x40() {
        // Version 0x20 parts take an EOI by writing the vector to offset 0x40.
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 9, 0x59 | RTE_LEVEL as u32, 0);
        io.set_irq(9, true);
        io.take_deliveries();
        io.mmio_write(
            &mut DevCtx {
                now: 0,
                mem: &mut mem,
            },
            EOI,
            4,
            0x59,
        );
        assert_eq!(io.take_deliveries().len(), 1);
    }

    #[test]
    fn unmasking_an_asserted_level_input_sends_it() {
        // Level inputs are sampled, so an input asserted while masked goes out on unmask.
        let (mut io, mut mem) = setup();
        program(
            &mut io,
            &mut mem,
            11,
            0x5B | (RTE_LEVEL | RTE_MASKED) as u32,
            0,
        );
        io.set_irq(11, true);
        assert!(io.take_deliveries().is_empty());
        program(&mut io, &mut mem, 11, 0x5B | RTE_LEVEL as u32, 0);
        assert_eq!(io.take_deliveries().len(), 1);
    }

    #[test]
    fn active_low_polarity() {
        // With polarity low, a low input is asserted (PCI interrupts are wired so).
        let (mut io, mut mem) = setup();
        io.set_irq(16, true);
        program(
            &mut io,
            &mut mem,
            16,
            0x60 | (RTE_LEVEL | RTE_POLARITY_LOW) as u32,
            0,
        );
        assert!(io.take_deliveries().is_empty(), "high is inactive");
        io.set_irq(16, false);
        assert_eq!(io.take_deliveries().len(), 1);
        // Edge, active low: the falling edge sends.
        program(&mut io, &mut mem, 17, 0x61 | RTE_POLARITY_LOW as u32, 0);
        io.set_irq(17, true);
        io.set_irq(17, false);
        let d = io.take_deliveries();
        assert_eq!((d.len(), d[0].vector), (1, 0x61));
    }

    #[test]
    fn switching_to_edge_clears_remote_irr() {
        // Linux clears a stuck remote IRR on old I/O APICs by toggling the trigger mode.
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 5, 0x35 | RTE_LEVEL as u32, 0);
        io.set_irq(5, true);
        program(&mut io, &mut mem, 5, 0x35, 0);
        assert_eq!(
            read(&mut io, &mut mem, REG_REDIR0 + 10) & RTE_REMOTE_IRR as u32,
            0
        );
    }

    #[test]
    fn message_carries_mode_destination_and_destination_mode() {
        let (mut io, mut mem) = setup();
        program(&mut io, &mut mem, 3, 0x0933, 0x0F); // lowest priority, logical, vector 0x33
        program(&mut io, &mut mem, 1, 0x0400, 0xFF); // NMI
        program(&mut io, &mut mem, 0, 0x0700 | RTE_LEVEL as u32, 0); // ExtINT: edge only
        io.set_irq(3, true);
        io.set_irq(1, true);
        io.set_irq(0, true);
        io.set_irq(0, false);
        io.set_irq(0, true);
        let d = io.take_deliveries();
        assert_eq!(d[0].mode, DeliveryMode::LowestPriority);
        assert!(d[0].logical);
        assert_eq!((d[0].dest, d[0].vector), (0x0F, 0x33));
        assert_eq!((d[1].mode, d[1].dest), (DeliveryMode::Nmi, 0xFF));
        assert_eq!(d[2].mode, DeliveryMode::ExtInt);
        assert!(!d[2].level);
        assert_eq!(
            d.len(),
            4,
            "ExtINT is edge-triggered whatever the trigger bit says"
        );
    }

    #[test]
    fn read_only_bits_ignore_writes_and_narrow_accesses_work() {
        let (mut io, mut mem) = setup();
        write(&mut io, &mut mem, REG_REDIR0, 0xFFFF_FFFF);
        assert_eq!(read(&mut io, &mut mem, REG_REDIR0), 0x0001_AFFF);
        write(&mut io, &mut mem, REG_REDIR0 + 1, 0xFFFF_FFFF);
        assert_eq!(read(&mut io, &mut mem, REG_REDIR0 + 1), 0xFF00_0000);
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut mem,
        };
        io.mmio_write(&mut ctx, IOREGSEL, 1, REG_VERSION as u64);
        assert_eq!(io.mmio_read(&mut ctx, IOWIN + 2, 1), 0x17);
        assert_eq!(
            io.mmio_read(&mut ctx, 0x20, 4),
            0xFFFF_FFFF,
            "unmapped offset"
        );
    }
}
