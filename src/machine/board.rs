//! The board: which device answers which ports and MMIO ranges and drives which interrupt
//! line, written as tables that read like a schematic, and the [`Bus`] the CPU drives.

use crate::cpu::bus::ones;
use crate::cpu::{Bus, BusStatus};
use crate::dev::bus::{DevCtx, PortIo};
use crate::dev::debug::DebugPorts;
use crate::mem::PhysMem;

use super::clock::Clock;
use super::{Exit, MachineConfig};

/// Number of serial ports (COM1–COM4).
pub const SERIAL_PORTS: usize = 4;

/// The devices that answer port I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum PortDev {
    None,
    Debug,
}

/// Port ranges (half-open) and the device that decodes them.
const PORT_MAP: &[(u16, u16, PortDev)] = &[
    (0x80, 0x81, PortDev::Debug), // POST codes
    (0xE9, 0xEA, PortDev::Debug), // Bochs/QEMU debug console
    (0xF4, 0xF8, PortDev::Debug), // isa-debug-exit
];

/// The devices of the PC and their wiring.
pub struct Board {
    /// Debug console, isa-debug-exit, POST port.
    pub debug: DebugPorts,
    ports: Box<[PortDev]>,
    /// Virtual time of the access being served (set by the machine before running the CPU,
    /// advanced by the CPU's instruction count through `sync`).
    now: u64,
}

impl Board {
    /// The standard board for `config`.
    pub fn new(_config: &MachineConfig) -> Board {
        let mut ports = vec![PortDev::None; 0x10000].into_boxed_slice();
        for &(start, end, dev) in PORT_MAP {
            for p in start..end {
                ports[p as usize] = dev;
            }
        }
        Board {
            debug: DebugPorts::new(),
            ports,
            now: 0,
        }
    }

    /// Brings timed devices up to `now` and records their next deadlines in `clock`.
    pub fn tick(&mut self, now: u64, _clock: &mut Clock) {
        self.now = now;
    }

    /// Feeds host input to serial port `port`.
    pub fn serial_input(&mut self, _port: usize, _bytes: &[u8]) {}

    /// Takes the bytes serial port `port` transmitted.
    pub fn serial_output(&mut self, _port: usize) -> Vec<u8> {
        Vec::new()
    }

    /// A request from the guest to end the run (isa-debug-exit, power-off).
    pub fn exit_request(&self) -> Option<Exit> {
        self.debug.exit_status().map(Exit::DebugExit)
    }
}

impl Bus for Board {
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        let mut ctx = DevCtx { now: self.now, mem };
        match self.ports[port as usize] {
            PortDev::Debug => self.debug.io_read(&mut ctx, port, size),
            PortDev::None => ones(size) as u32,
        }
    }

    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        let mut ctx = DevCtx { now: self.now, mem };
        match self.ports[port as usize] {
            PortDev::Debug => self.debug.io_write(&mut ctx, port, size, value),
            PortDev::None => {}
        }
    }

    fn mmio_read(&mut self, _mem: &mut PhysMem, _addr: u64, size: u8) -> u64 {
        ones(size)
    }

    fn mmio_write(&mut self, _mem: &mut PhysMem, _addr: u64, _size: u8, _value: u64) {}

    fn ack_interrupt(&mut self, _mem: &mut PhysMem) -> Option<u8> {
        None
    }

    fn status(&mut self) -> BusStatus {
        let mut s = BusStatus::empty();
        if self.debug.exit_status().is_some() {
            s |= BusStatus::STOP;
        }
        s
    }
}
