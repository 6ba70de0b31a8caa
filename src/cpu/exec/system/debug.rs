//! MOV to/from DR0–DR7 (SDM Vol. 2B "MOV—Move to/from Debug Registers", Vol. 3B 18.2): CPL 0
//! only, DR4/DR5 alias DR6/DR7 unless CR4.DE makes them #UD, DR7.GD turns any access into a
//! #DB fault, and the fixed bits of DR6 and DR7 read as the manual says. Breakpoints are
//! stored but not yet matched.

use iced_x86::{Code, Register};

use super::{cpl0, ud, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::Mode;
use crate::cpu::{Cpu, Cr4, Handler, Op, Width, U32, U64};

/// DR6.BD: the #DB was raised by general detection.
pub const DR6_BD: u64 = 1 << 13;
/// DR6 bits that read as one (no RTM): 4–11 and 16–31.
pub const DR6_ONES: u64 = 0xFFFF_0FF0;
/// DR6 bits software may write: B0–B3, BD, BS, BT.
pub const DR6_WRITABLE: u64 = 0xE00F;
/// DR7.GD: general-detect enable.
pub const DR7_GD: u64 = 1 << 13;
/// DR7 bits that read as one: bit 10.
pub const DR7_ONES: u64 = 1 << 10;
/// DR7 bits software may write: L0–G3, LE, GE, GD, and the R/W and LEN fields.
pub const DR7_WRITABLE: u64 = 0xFFFF_23FF;

impl Cpu {
    /// The checks before any debug-register access: CPL 0 (#GP(0)), DR4/DR5 with CR4.DE
    /// (#UD), and DR7.GD, which sets DR6.BD and raises #DB as a fault; the processor clears
    /// GD on entering the handler so that the handler may use the registers (SDM Vol. 3B
    /// 18.2.4).
    fn check_dr_access(&mut self, n: u8) -> R {
        cpl0(self)?;
        if (n == 4 || n == 5) && self.cr4.contains(Cr4::DE) {
            return Err(Fault::UD);
        }
        if self.dr[7] & DR7_GD != 0 {
            self.dr[6] |= DR6_BD;
            self.dr[7] &= !DR7_GD;
            return Err(Fault::DB);
        }
        Ok(())
    }

    /// Writes DR`n` (DR4/DR5 write DR6/DR7): in 64-bit mode a 1 in bits 63:32 of DR6 or DR7
    /// is #GP(0).
    pub fn write_dr(&mut self, n: u8, v: u64) -> R {
        match n {
            0..=3 => self.dr[n as usize] = v,
            _ => {
                if v >> 32 != 0 {
                    return Err(Fault::GP0);
                }
                if n & 1 == 0 {
                    self.dr[6] = DR6_ONES | (v & DR6_WRITABLE);
                } else {
                    self.dr[7] = DR7_ONES | (v & DR7_WRITABLE);
                }
            }
        }
        Ok(())
    }

    /// Reads DR`n` (DR4/DR5 read DR6/DR7).
    pub fn read_dr(&self, n: u8) -> u64 {
        match n {
            0..=3 => self.dr[n as usize],
            _ => self.dr[6 + (n & 1) as usize],
        }
    }
}

fn mov_from_dr<W: Width, const N: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.check_dr_access(N)?;
    let v = cpu.read_dr(N);
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_to_dr<W: Width, const N: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.check_dr_access(N)?;
    let v = W::get(cpu, op.rm);
    // Outside 64-bit mode the register is 32 bits wide: addresses are too.
    let v = if cpu.mode == Mode::Long {
        v
    } else {
        v & 0xFFFF_FFFF
    };
    cpu.write_dr(N, v)
}

/// MOV to/from DRn: 64-bit operands in 64-bit mode, 32-bit elsewhere.
pub(super) fn decode_mov_dr(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let (to, dr, wide) = match ins.code() {
        Code::Mov_r32_dr => (false, ins.op1_register(), false),
        Code::Mov_r64_dr => (false, ins.op1_register(), true),
        Code::Mov_dr_r32 => (true, ins.op0_register(), false),
        Code::Mov_dr_r64 => (true, ins.op0_register(), true),
        _ => return ud(op),
    };
    let n = dr as u32 - Register::DR0 as u32;
    macro_rules! pick {
        ($f:ident, $W:ty) => {
            match n {
                0 => $f::<$W, 0> as Handler,
                1 => $f::<$W, 1>,
                2 => $f::<$W, 2>,
                3 => $f::<$W, 3>,
                4 => $f::<$W, 4>,
                5 => $f::<$W, 5>,
                6 => $f::<$W, 6>,
                7 => $f::<$W, 7>,
                _ => return ud(op),
            }
        };
    }
    if to {
        op.rm = d.reg(1);
        op.run = if wide {
            pick!(mov_to_dr, U64)
        } else {
            pick!(mov_to_dr, U32)
        };
        // Breakpoint setup changes what later instructions must check.
        Some(Flow::End)
    } else {
        op.r = d.reg(0);
        op.run = if wide {
            pick!(mov_from_dr, U64)
        } else {
            pick!(mov_from_dr, U32)
        };
        Some(Flow::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot};
    use super::*;
    use crate::cpu::state::reg;

    #[test]
    fn fixed_bits_of_dr6_and_dr7() {
        let mut c = prot();
        c.gpr[reg::RAX as usize] = 0;
        exec(&mut c, &[0x0F, 0x23, 0xF0]).unwrap(); // mov dr6, eax
        exec(&mut c, &[0x0F, 0x23, 0xF8]).unwrap(); // mov dr7, eax
        assert_eq!(c.dr[6], 0xFFFF_0FF0);
        assert_eq!(c.dr[7], 0x400);
        c.gpr[reg::RAX as usize] = 0xFFFF_FFFF;
        exec(&mut c, &[0x0F, 0x23, 0xF0]).unwrap();
        exec(&mut c, &[0x0F, 0x23, 0xF8]).unwrap();
        assert_eq!(c.dr[6], 0xFFFF_EFFF);
        assert_eq!(c.dr[7], 0xFFFF_27FF);
    }

    #[test]
    fn dr4_and_dr5_alias_dr6_and_dr7_unless_cr4_de() {
        let mut c = prot();
        c.dr[7] = 0x401;
        exec(&mut c, &[0x0F, 0x21, 0xE8]).unwrap(); // mov eax, dr5
        assert_eq!(c.gpr[reg::RAX as usize], 0x401);
        c.gpr[reg::RAX as usize] = 0x1;
        exec(&mut c, &[0x0F, 0x23, 0xE0]).unwrap(); // mov dr4, eax
        assert_eq!(c.dr[6], 0xFFFF_0FF1);
        c.cr4 |= Cr4::DE;
        assert_eq!(exec(&mut c, &[0x0F, 0x21, 0xE8]), Err(Fault::UD));
        assert_eq!(exec(&mut c, &[0x0F, 0x23, 0xE0]), Err(Fault::UD));
        exec(&mut c, &[0x0F, 0x21, 0xF8]).unwrap(); // mov eax, dr7 is fine
    }

    #[test]
    fn cpl_above_0_raises_gp() {
        let mut c = prot();
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x21, 0xC0]), Err(Fault::GP0));
    }

    #[test]
    fn general_detect_raises_db_and_clears_gd() {
        let mut c = prot();
        c.dr[7] = 0x400 | DR7_GD;
        assert_eq!(exec(&mut c, &[0x0F, 0x21, 0xC0]), Err(Fault::DB));
        assert_ne!(c.dr[6] & DR6_BD, 0);
        assert_eq!(c.dr[7] & DR7_GD, 0);
        exec(&mut c, &[0x0F, 0x21, 0xC0]).unwrap();
    }

    #[test]
    fn upper_bits_of_dr6_dr7_in_64_bit_mode() {
        let mut c = long();
        c.gpr[reg::RAX as usize] = 1 << 32;
        assert_eq!(
            exec(&mut c, &[0x0F, 0x23, 0xF8]),
            Err(Fault::GP0),
            "mov dr7, rax"
        );
        assert_eq!(
            exec(&mut c, &[0x0F, 0x23, 0xF0]),
            Err(Fault::GP0),
            "mov dr6, rax"
        );
        c.gpr[reg::RAX as usize] = 0xFFFF_8000_0000_1000;
        exec(&mut c, &[0x0F, 0x23, 0xC0]).unwrap(); // mov dr0, rax
        exec(&mut c, &[0x0F, 0x21, 0xC3]).unwrap(); // mov rbx, dr0
        assert_eq!(c.gpr[reg::RBX as usize], 0xFFFF_8000_0000_1000);
    }
}
