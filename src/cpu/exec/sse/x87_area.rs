//! The x87 part of the FXSAVE/XSAVE legacy region (bytes 0–159, MXCSR at 24–31 excepted):
//! the bridge between the save areas and the x87 register file.
//!
//! Until the x87 FPU exists, the processor has no x87 state to save: the image is that of an
//! initialised FPU (FNINIT: FCW 0x037F, every register empty) and loads are ignored.

use crate::cpu::Cpu;

/// Bytes of the x87 image (through ST7).
pub const X87_LEN: usize = 160;

/// The x87 image in FXSAVE format (`wide`: 64-bit FIP/FDP).
pub fn save(_cpu: &Cpu, _wide: bool) -> [u8; X87_LEN] {
    let mut b = [0u8; X87_LEN];
    b[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
    b
}

/// Loads the x87 state from an image in FXSAVE format.
pub fn load(_cpu: &mut Cpu, _img: &[u8; X87_LEN], _wide: bool) {}

/// Puts the x87 state in its initial configuration (XRSTOR with XSTATE_BV[0] clear).
pub fn init(_cpu: &mut Cpu) {}

/// Whether the x87 state is in its initial configuration.
pub fn is_init(_cpu: &Cpu) -> bool {
    true
}
