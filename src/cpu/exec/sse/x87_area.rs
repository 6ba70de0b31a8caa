//! The x87 part of the FXSAVE/XSAVE legacy region (bytes 0–159, MXCSR at 24–31 excepted):
//! the bridge between the save areas and the x87 register file ([`crate::cpu::exec::x87`]).

use crate::cpu::exec::x87::state::{cw, sw};
use crate::cpu::Cpu;

/// Bytes of the x87 image (through ST7).
pub const X87_LEN: usize = 160;

/// The x87 image in FXSAVE format (`wide`: 64-bit FIP/FDP).
pub fn save(cpu: &Cpu, wide: bool) -> [u8; X87_LEN] {
    let mut b = [0u8; X87_LEN];
    cpu.fpu.fxsave_x87(&mut b, wide);
    b
}

/// Loads the x87 state from an image in FXSAVE format.
pub fn load(cpu: &mut Cpu, img: &[u8; X87_LEN], wide: bool) {
    cpu.fpu.fxrstor_x87(img, wide);
}

/// Puts the x87 state in its initial configuration (XRSTOR with XSTATE_BV[0] clear: SDM
/// Vol. 1 13.6, FCW 037FH, FSW and the tags clear, pointers and opcode zero, and the data
/// registers zero).
pub fn init(cpu: &mut Cpu) {
    cpu.fpu.init();
    cpu.fpu.regs = [Default::default(); 8];
}

/// Whether the x87 state is in its initial configuration (XINUSE[0] clear).
pub fn is_init(cpu: &Cpu) -> bool {
    let f = &cpu.fpu;
    f.cw == cw::INIT
        && f.status() & !sw::B == 0
        && f.valid == 0
        && f.fop == 0
        && f.fip == 0
        && f.fdp == 0
        && f.fcs == 0
        && f.fds == 0
        && f.regs.iter().all(|r| *r == Default::default())
}
