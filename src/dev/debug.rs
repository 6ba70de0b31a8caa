//! Debug ports: the 0xE9 byte console (the Bochs/QEMU convention), isa-debug-exit at 0xF4
//! (a write of `v` ends the run with status `(v << 1) | 1`, as QEMU's device does), and the
//! POST code port 0x80.

use super::bus::{DevCtx, PortIo};
use crate::cpu::bus::ones;

/// Port of the byte console.
pub const CONSOLE_PORT: u16 = 0xE9;
/// First port of isa-debug-exit (four ports wide, as kvm-unit-tests use it).
pub const EXIT_PORT: u16 = 0xF4;
/// The POST diagnostic port.
pub const POST_PORT: u16 = 0x80;

/// The debug ports.
#[derive(Debug, Default)]
pub struct DebugPorts {
    console: Vec<u8>,
    exit: Option<u32>,
    post: Vec<u8>,
    last_post: u8,
}

impl DebugPorts {
    /// Debug ports with nothing written yet.
    pub fn new() -> DebugPorts {
        DebugPorts::default()
    }

    /// Bytes written to the console since the last call.
    pub fn take_console(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.console)
    }

    /// POST codes written since the last call.
    pub fn take_post(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.post)
    }

    /// The exit status a guest asked for through isa-debug-exit: `(v << 1) | 1`.
    pub fn exit_status(&self) -> Option<u32> {
        self.exit
    }

    /// The last POST code (port 0x80 reads it back, as on many chipsets).
    pub fn last_post(&self) -> u8 {
        self.last_post
    }
}

impl PortIo for DebugPorts {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        match port {
            // Bochs and QEMU return 0xE9 so guests can detect the console.
            CONSOLE_PORT => 0xE9,
            POST_PORT => self.last_post as u32,
            _ => ones(size.min(4)) as u32,
        }
    }

    fn io_write(&mut self, _: &mut DevCtx, port: u16, size: u8, value: u32) {
        match port {
            CONSOLE_PORT => self.console.push(value as u8),
            POST_PORT => {
                self.last_post = value as u8;
                self.post.push(value as u8);
            }
            EXIT_PORT..=0xF7 => {
                // QEMU's isa-debug-exit: the value written, at the access size, shifted and or-ed.
                let v = value & (ones(size.min(4)) as u32);
                self.exit = Some((v << 1) | 1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    fn ctx(mem: &mut PhysMem) -> DevCtx<'_> {
        DevCtx { now: 0, mem }
    }

    #[test]
    fn console_collects_bytes_and_reads_back_e9() {
        let mut mem = PhysMem::new(4096).unwrap();
        let mut d = DebugPorts::new();
        for b in b"hi\n" {
            d.io_write(&mut ctx(&mut mem), CONSOLE_PORT, 1, *b as u32);
        }
        assert_eq!(d.take_console(), b"hi\n");
        assert!(d.take_console().is_empty());
        assert_eq!(d.io_read(&mut ctx(&mut mem), CONSOLE_PORT, 1), 0xE9);
    }

    #[test]
    fn debug_exit_status_is_value_shifted_or_one() {
        let mut mem = PhysMem::new(4096).unwrap();
        let mut d = DebugPorts::new();
        assert_eq!(d.exit_status(), None);
        d.io_write(&mut ctx(&mut mem), EXIT_PORT, 1, 0x10);
        assert_eq!(d.exit_status(), Some(0x21));
        d.io_write(&mut ctx(&mut mem), EXIT_PORT, 4, 0);
        assert_eq!(
            d.exit_status(),
            Some(1),
            "writing 0 exits with status 1, as in QEMU"
        );
    }

    #[test]
    fn post_codes_are_kept_in_order() {
        let mut mem = PhysMem::new(4096).unwrap();
        let mut d = DebugPorts::new();
        d.io_write(&mut ctx(&mut mem), POST_PORT, 1, 0x11);
        d.io_write(&mut ctx(&mut mem), POST_PORT, 1, 0x22);
        assert_eq!(d.take_post(), vec![0x11, 0x22]);
        assert_eq!(d.io_read(&mut ctx(&mut mem), POST_PORT, 1), 0x22);
    }
}
