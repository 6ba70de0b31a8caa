//! CRC32 (SSE4.2): accumulates the CRC-32C (Castagnoli, polynomial 0x11EDC6F41) of a byte,
//! word, dword or qword into a 32-bit value, bit-reflected and without the final inversion
//! (SDM Vol. 2A CRC32). A general-purpose instruction: no SSE state, no CR0/CR4 checks.

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::{Cpu, Op, Width, U32};
use crate::sized;

/// The reflected polynomial.
const POLY: u32 = 0x82F6_3B78;

/// The CRC of each byte value (the table of the byte-at-a-time algorithm).
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { c >> 1 ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The CRC-32C of the low `bytes` bytes of `data`, continuing from `crc`.
pub fn crc32c(mut crc: u32, data: u64, bytes: u32) -> u32 {
    for k in 0..bytes {
        let b = (data >> (8 * k)) as u8;
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ crc >> 8;
    }
    crc
}

/// CRC32 r32/r64, r/m: `W` is the source width; the destination is written as 32 bits
/// zero-extended (the 64-bit form's upper half is zero too).
fn crc_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.rm);
    let c = crc32c(cpu.gpr[(op.r & 15) as usize] as u32, v, W::BYTES as u32);
    U32::set(cpu, op.r, c as u64);
    Ok(())
}

fn crc_m<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    let c = crc32c(cpu.gpr[(op.r & 15) as usize] as u32, v, W::BYTES as u32);
    U32::set(cpu, op.r, c as u64);
    Ok(())
}

/// Decodes CRC32.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    op.r = d.reg(0);
    let size = d.op_size(1);
    if d.is_mem(1) {
        d.mem(op);
        op.run = sized!(size, crc_m);
    } else {
        op.rm = d.reg(1);
        op.run = sized!(size, crc_r);
    }
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The CRC-32C check value: "123456789" with initial and final inversion.
        let mut c = !0u32;
        for b in b"123456789" {
            c = crc32c(c, *b as u64, 1);
        }
        assert_eq!(!c, 0xE306_9283);
        // Wider operands are the same as their bytes in order.
        let q = 0x0807_0605_0403_0201u64;
        let mut c8 = 0x1234_5678;
        for k in 0..8 {
            c8 = crc32c(c8, q >> (8 * k), 1);
        }
        assert_eq!(crc32c(0x1234_5678, q, 8), c8);
    }
}
