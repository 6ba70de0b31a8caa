//! The contract between devices and the board: port I/O and MMIO register access with the
//! virtual time and guest memory at hand, and timer deadlines.
//!
//! Interrupts are not pushed: each device exposes its output lines as plain methods
//! (`irq()`, `out(n)`, …) and the board samples them after every access and every tick, then
//! drives the interrupt controllers' inputs. That keeps devices free of shared state.

use crate::mem::PhysMem;

/// What a device sees of the machine while it is accessed.
pub struct DevCtx<'a> {
    /// Virtual time in nanoseconds.
    pub now: u64,
    /// Guest memory, for devices that do DMA.
    pub mem: &'a mut PhysMem,
}

/// A device on the I/O port bus. `port` is the absolute port; `size` is 1, 2 or 4 bytes.
pub trait PortIo {
    /// IN from one of the device's ports.
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32;
    /// OUT to one of the device's ports.
    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32);
}

/// A device with memory-mapped registers. `offset` is relative to the device's base.
pub trait Mmio {
    /// A read of `size` (1, 2, 4 or 8) bytes.
    fn mmio_read(&mut self, ctx: &mut DevCtx, offset: u64, size: u8) -> u64;
    /// A write of `size` bytes.
    fn mmio_write(&mut self, ctx: &mut DevCtx, offset: u64, size: u8, value: u64);
}

/// A device that keeps time: it tells the board when it next needs to run, and is ticked
/// when virtual time reaches that point.
pub trait Timed {
    /// The virtual time (ns) of the device's next event, if any.
    fn deadline(&self) -> Option<u64>;
    /// Brings the device up to virtual time `now` (called at or after its deadline, and
    /// whenever the board likes: it must be idempotent for the same `now`).
    fn tick(&mut self, now: u64);
}
