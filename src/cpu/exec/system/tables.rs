//! LGDT, LIDT, SGDT, SIDT (SDM Vol. 2A "LGDT/LIDT", Vol. 2B "SGDT", "SIDT"): the
//! descriptor-table registers and their pseudo-descriptor in memory, a 16-bit limit followed
//! by a 24-, 32- or 64-bit base as the operand size says.

use iced_x86::Code;

use super::{cpl0, ud, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::operand::{canonical, ASIZE_MASK};
use crate::cpu::state::{Model, TableReg};
use crate::cpu::{Cpu, Cr4, Handler, Op, U16, U32, U64};

/// 16-bit operand size: a 24-bit base is loaded.
const O16: u8 = 0;
/// 32-bit operand size.
const O32: u8 = 1;
/// 64-bit mode: an 8-byte base.
const O64: u8 = 2;
/// The 80286: a 24-bit base, stored with its high byte set.
const M286: u8 = 3;

impl Cpu {
    /// CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR raise #GP(0) above CPL 0 (SDM Vol. 3A 2.5).
    pub fn check_umip(&self) -> R {
        if self.cpl > 0 && self.cr4.contains(Cr4::UMIP) {
            return Err(Fault::GP0);
        }
        Ok(())
    }
}

/// The offset of the base field, two bytes into the pseudo-descriptor (wrapping at the
/// address size).
#[inline]
fn base_offset(cpu: &Cpu, op: &Op) -> u64 {
    cpu.ea(op).wrapping_add(2) & ASIZE_MASK[(op.asize & 3) as usize]
}

fn lgdt<const IDT: bool, const SIZE: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let limit = cpu.read_ea::<U16>(op)?;
    let at = base_offset(cpu, op);
    let base = match SIZE {
        O64 => {
            let b = cpu.read::<U64>(op.seg, at)?;
            // A non-canonical base is refused (AMD APM Vol. 3 LGDT; Bochs does the same).
            if !canonical(b) {
                return Err(Fault::GP0);
            }
            b
        }
        O32 => cpu.read::<U32>(op.seg, at)?,
        _ => cpu.read::<U32>(op.seg, at)? & 0x00FF_FFFF,
    };
    let t = TableReg {
        base,
        limit: limit as u32,
    };
    if IDT {
        cpu.idtr = t;
    } else {
        cpu.gdtr = t;
    }
    Ok(())
}

fn sgdt<const IDT: bool, const SIZE: u8>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.check_umip()?;
    let t = if IDT { cpu.idtr } else { cpu.gdtr };
    let at = base_offset(cpu, op);
    // Probe the base's bytes first so that a fault there leaves memory untouched.
    if SIZE == O64 {
        cpu.probe_write(op.seg, at, 8)?;
        cpu.write_ea::<U16>(op, t.limit as u64)?;
        cpu.write::<U64>(op.seg, at, t.base)
    } else {
        // The full 32-bit base is stored whatever the operand size; the 286 stored 24 bits
        // and set the high byte (SDM Vol. 2B SGDT, IA-32 Architecture Compatibility).
        let base = if SIZE == M286 {
            (t.base & 0x00FF_FFFF) | 0xFF00_0000
        } else {
            t.base & 0xFFFF_FFFF
        };
        cpu.probe_write(op.seg, at, 4)?;
        cpu.write_ea::<U16>(op, t.limit as u64)?;
        cpu.write::<U32>(op.seg, at, base)
    }
}

/// Decodes LGDT, LIDT, SGDT and SIDT (memory operands only; iced-x86 gives the register
/// encodings to other instructions).
pub(super) fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    use Code as C;
    if !d.is_mem(0) {
        return ud(op);
    }
    let m286 = d.model == Model::I80286;
    macro_rules! pick {
        ($f:ident, $idt:expr, $size:expr) => {
            match ($size, m286) {
                (_, true) => $f::<$idt, M286> as Handler,
                (O16, _) => $f::<$idt, O16>,
                (O32, _) => $f::<$idt, O32>,
                _ => $f::<$idt, O64>,
            }
        };
    }
    op.run = match d.ins.code() {
        C::Lgdt_m1632_16 => pick!(lgdt, false, O16),
        C::Lgdt_m1632 => pick!(lgdt, false, O32),
        C::Lgdt_m1664 => pick!(lgdt, false, O64),
        C::Lidt_m1632_16 => pick!(lgdt, true, O16),
        C::Lidt_m1632 => pick!(lgdt, true, O32),
        C::Lidt_m1664 => pick!(lgdt, true, O64),
        C::Sgdt_m1632_16 => pick!(sgdt, false, O16),
        C::Sgdt_m1632 => pick!(sgdt, false, O32),
        C::Sgdt_m1664 => pick!(sgdt, false, O64),
        C::Sidt_m1632_16 => pick!(sgdt, true, O16),
        C::Sidt_m1632 => pick!(sgdt, true, O32),
        C::Sidt_m1664 => pick!(sgdt, true, O64),
        _ => return ud(op),
    };
    d.mem(op);
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot, real};
    use super::*;
    use crate::cpu::state::reg;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    const GP: Result<(), Fault> = Err(Fault::GP0);

    fn bytes(c: &Cpu, at: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        c.mem.read_bytes(at, &mut b);
        b
    }

    #[test]
    fn lgdt_16_bit_operand_loads_a_24_bit_base() {
        let mut c = real();
        c.mem
            .write_bytes(0x500, &[0x17, 0x00, 0x11, 0x22, 0x33, 0x44])
            .unwrap();
        exec(&mut c, &[0x0F, 0x01, 0x16, 0x00, 0x05]).unwrap(); // lgdt [0x500]
        assert_eq!(
            c.gdtr,
            TableReg {
                base: 0x33_2211,
                limit: 0x17
            }
        );
        exec(&mut c, &[0x66, 0x0F, 0x01, 0x1E, 0x00, 0x05]).unwrap(); // lidt o32 [0x500]
        assert_eq!(
            c.idtr,
            TableReg {
                base: 0x4433_2211,
                limit: 0x17
            }
        );
    }

    #[test]
    fn lgdt_in_64_bit_mode_loads_eight_bytes_and_checks_the_base() {
        let mut c = long();
        c.gpr[reg::RAX as usize] = 0x8000;
        c.mem
            .write_bytes(0x8000, &[0xFF, 0x0F, 0, 0x10, 0, 0, 0x80, 0xFF, 0xFF, 0xFF])
            .unwrap();
        exec(&mut c, &[0x0F, 0x01, 0x18]).unwrap(); // lidt [rax]
        assert_eq!(
            c.idtr,
            TableReg {
                base: 0xFFFF_FF80_0000_1000,
                limit: 0xFFF
            }
        );
        c.mem
            .write_bytes(0x8000, &[0xFF, 0x0F, 0, 0x10, 0, 0, 0, 0x80, 0, 0])
            .unwrap();
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x10]), GP, "non-canonical base");
        assert_eq!(c.gdtr.base, 0x1000, "GDTR unchanged");
    }

    #[test]
    fn lgdt_needs_cpl_0() {
        let mut c = prot();
        c.set_cpl(3);
        c.gpr[reg::RAX as usize] = 0x8000;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x10]), GP);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x18]), GP);
    }

    #[test]
    fn sgdt_stores_the_full_32_bit_base_and_honours_umip() {
        let mut c = prot();
        c.gdtr = TableReg {
            base: 0xAABB_CCDD,
            limit: 0x3F,
        };
        c.gpr[reg::RAX as usize] = 0x8000;
        exec(&mut c, &[0x66, 0x0F, 0x01, 0x00]).unwrap(); // sgdt o16 [eax]
        assert_eq!(bytes(&c, 0x8000, 6), [0x3F, 0, 0xDD, 0xCC, 0xBB, 0xAA]);
        c.set_cpl(3);
        exec(&mut c, &[0x0F, 0x01, 0x08]).unwrap(); // sidt [eax] is allowed without UMIP
        c.cr4 |= Cr4::UMIP;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x08]), GP);
    }

    #[test]
    fn sgdt_in_64_bit_mode_stores_ten_bytes() {
        let mut c = long();
        c.gdtr = TableReg {
            base: 0xFFFF_8000_1234_5678,
            limit: 0x7F,
        };
        c.gpr[reg::RAX as usize] = 0x8000;
        exec(&mut c, &[0x0F, 0x01, 0x00]).unwrap();
        assert_eq!(
            bytes(&c, 0x8000, 10),
            [0x7F, 0, 0x78, 0x56, 0x34, 0x12, 0, 0x80, 0xFF, 0xFF]
        );
    }

    #[test]
    fn sgdt_faulting_on_the_base_writes_nothing() {
        let mut c = prot();
        // Limit DS to 0x8003: the base bytes lie beyond it.
        c.segs[crate::cpu::sreg::DS as usize].limit = 0x8003;
        let mode = c.mode;
        c.segs[crate::cpu::sreg::DS as usize].refresh(mode, crate::cpu::sreg::DS);
        c.gpr[reg::RAX as usize] = 0x8000;
        c.mem.write_bytes(0x8000, &[0xEE; 6]).unwrap();
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x00]), GP);
        assert_eq!(bytes(&c, 0x8000, 6), [0xEE; 6]);
    }

    #[test]
    fn the_286_stores_ones_in_the_high_base_byte() {
        let mut c = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
        c.set_rip(0x1000);
        c.segs[1] = crate::cpu::Segment::real(0);
        c.update_mode();
        c.gdtr = TableReg {
            base: 0x12_3456,
            limit: 0x27,
        };
        exec(&mut c, &[0x0F, 0x01, 0x06, 0x00, 0x05]).unwrap(); // sgdt [0x500]
        assert_eq!(bytes(&c, 0x500, 6), [0x27, 0, 0x56, 0x34, 0x12, 0xFF]);
        c.cr0 = crate::cpu::Cr0::PE;
        exec(&mut c, &[0x0F, 0x01, 0xE0]).unwrap(); // smsw ax
        assert_eq!(c.gpr[reg::RAX as usize] & 0xFFFF, 0xFFF1);
    }
}
