//! System Control Port A at 0x92 (the PS/2 "fast A20 and reset" port, as on the PIIX and
//! later chipsets): bit 1 gates A20, a 0 -> 1 transition of bit 0 resets the CPU; the other
//! bits are kept and read back.
//!
//! The chipset ORs this A20 gate with the keyboard controller's: the board enables A20 when
//! either [`Port92::a20`] or the i8042's `a20()` is true.

use super::bus::{DevCtx, PortIo};
use crate::cpu::bus::ones;

/// The port.
pub const PORT: u16 = 0x92;
/// Bit 0: fast reset (a 0 -> 1 transition resets the processor).
pub const FAST_RESET: u8 = 0x01;
/// Bit 1: fast A20 gate (1 = A20 enabled).
pub const FAST_A20: u8 = 0x02;

/// System Control Port A.
#[derive(Debug, Default)]
pub struct Port92 {
    value: u8,
    reset: bool,
}

impl Port92 {
    /// The port after power-on: 0 (A20 not gated on by this port, no reset).
    pub fn new() -> Port92 {
        Port92::default()
    }

    /// Whether this port enables A20.
    pub fn a20(&self) -> bool {
        self.value & FAST_A20 != 0
    }

    /// Whether the guest asked for a reset (latched until [`Port92::clear_reset`]).
    pub fn reset_requested(&self) -> bool {
        self.reset
    }

    /// The board performed the reset: the latch and bit 0 clear (a reset clears the port's
    /// reset bit, so the next 0 -> 1 write resets again).
    pub fn clear_reset(&mut self) {
        self.reset = false;
        self.value &= !FAST_RESET;
    }
}

impl PortIo for Port92 {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        let ones = ones(size.min(4)) as u32;
        if port == PORT {
            (ones & !0xFF) | self.value as u32
        } else {
            ones
        }
    }

    fn io_write(&mut self, _: &mut DevCtx, port: u16, _size: u8, value: u32) {
        if port != PORT {
            return;
        }
        let v = value as u8;
        if v & FAST_RESET != 0 && self.value & FAST_RESET == 0 {
            self.reset = true;
        }
        self.value = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    fn rw(p: &mut Port92, write: Option<u8>) -> u8 {
        let mut mem = PhysMem::new(4096).unwrap();
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut mem,
        };
        if let Some(v) = write {
            p.io_write(&mut ctx, PORT, 1, v as u32);
        }
        p.io_read(&mut ctx, PORT, 1) as u8
    }

    #[test]
    fn fast_a20_follows_bit_1_and_other_bits_read_back() {
        // Bit 1 gates A20; every bit written reads back.
        let mut p = Port92::new();
        assert!(!p.a20());
        assert_eq!(rw(&mut p, Some(FAST_A20 | 0xC0)), 0xC2);
        assert!(p.a20());
        assert_eq!(rw(&mut p, Some(0x08)), 0x08);
        assert!(!p.a20());
        assert!(!p.reset_requested());
    }

    #[test]
    fn reset_on_rising_edge_of_bit_0() {
        // Only a 0 -> 1 transition of bit 0 resets; writing 1 again while it is 1 does not,
        // and after the reset the bit is clear, so a new write of 1 resets again.
        let mut p = Port92::new();
        rw(&mut p, Some(FAST_RESET | FAST_A20));
        assert!(p.reset_requested());
        assert!(p.a20(), "the same write set A20");
        p.reset = false;
        rw(&mut p, Some(FAST_RESET));
        assert!(!p.reset_requested(), "no edge");
        rw(&mut p, Some(0));
        rw(&mut p, Some(FAST_RESET));
        assert!(p.reset_requested());
        p.clear_reset();
        assert!(!p.reset_requested());
        assert_eq!(rw(&mut p, None) & FAST_RESET, 0);
        rw(&mut p, Some(FAST_RESET));
        assert!(p.reset_requested());
    }

    #[test]
    fn other_ports_read_all_ones() {
        let mut p = Port92::new();
        let mut mem = PhysMem::new(4096).unwrap();
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut mem,
        };
        assert_eq!(p.io_read(&mut ctx, 0x93, 1), 0xFF);
        assert_eq!(p.io_read(&mut ctx, PORT, 2), 0xFF00);
    }
}
