//! TLB and cache control: INVLPG, INVPCID (SDM Vol. 2A), INVD, WBINVD and WBNOINVD. vx86 has
//! no data caches, so the cache instructions only check privilege; the TLB ones flush the
//! software TLB. It is not tagged by PCID, so invalidating "one PCID" flushes every
//! non-global entry, which the architecture allows (doing more than asked).

use iced_x86::Code;

use super::{cpl0, ud, R};
use crate::cpu::cpuid::{self, Feature};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::operand::canonical;
use crate::cpu::state::Mode;
use crate::cpu::{Cpu, Cr4, Op, Width, U32, U64};

/// INVLPG m: drops the TLB entries of the page holding the linear address of `m`. It touches
/// no memory, checks no segment limit, and is a no-op for a non-canonical address.
fn invlpg(cpu: &mut Cpu, op: &Op) -> R {
    cpl0(cpu)?;
    let off = cpu.ea(op);
    let lin = cpu.seg(op.seg).lin_base.wrapping_add(off) & cpu.lin_mask;
    if cpu.mode != Mode::Long || canonical(lin) {
        cpu.tlb.flush_page(lin);
    }
    Ok(())
}

/// INVPCID r, m128: the type in the register, the descriptor (PCID in bits 11:0, linear
/// address in bits 127:64) in memory.
fn invpcid<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    if cpu.mode == Mode::V8086 {
        return Err(Fault::UD);
    }
    cpl0(cpu)?;
    let kind = W::get(cpu, op.r);
    if kind > 3 {
        return Err(Fault::GP0);
    }
    let off = cpu.ea(op);
    let lo = cpu.read::<U64>(op.seg, off)?;
    let addr = cpu.read::<U64>(
        op.seg,
        off.wrapping_add(8) & crate::cpu::operand::ASIZE_MASK[(op.asize & 3) as usize],
    )?;
    let pcid = lo & 0xFFF;
    if lo >> 12 != 0 {
        return Err(Fault::GP0);
    }
    if kind <= 1 && pcid != 0 && !cpu.cr4.contains(Cr4::PCIDE) {
        return Err(Fault::GP0);
    }
    match kind {
        0 => {
            if !canonical(addr) {
                return Err(Fault::GP0);
            }
            cpu.tlb.flush_page(addr);
        }
        2 => cpu.flush_tlb_all(),
        _ => cpu.tlb.flush_nonglobal(),
    }
    Ok(())
}

/// INVD, WBINVD, WBNOINVD: privileged; nothing to write back.
fn wbinvd(cpu: &mut Cpu, _: &Op) -> R {
    cpl0(cpu)
}

/// Decodes INVLPG, INVPCID, INVD, WBINVD, WBNOINVD.
pub(super) fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.code() {
        Code::Invlpg_m => {
            d.mem(op);
            op.run = invlpg;
            // The next instruction may lie in the page whose mapping changed.
            Some(Flow::End)
        }
        Code::Invpcid_r32_m128 | Code::Invpcid_r64_m128 if cpuid::has(Feature::INVPCID) => {
            op.r = d.reg(0);
            d.mem(op);
            op.run = if d.ins.code() == Code::Invpcid_r64_m128 {
                invpcid::<U64>
            } else {
                invpcid::<U32>
            };
            Some(Flow::End)
        }
        // Without WBNOINVD support, F3 0F 09 is WBINVD; with it, the same thing here.
        Code::Invd | Code::Wbinvd | Code::Wbnoinvd => {
            op.run = wbinvd;
            Some(Flow::Next)
        }
        _ => ud(op),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{exec, long, prot};
    use super::*;
    use crate::cpu::mmu::paging::Privilege;
    use crate::cpu::state::reg;

    fn filled(c: &Cpu, lin: u64) -> bool {
        c.tlb.entries[c.tlb.index(lin)].read == lin >> 12
    }

    #[test]
    fn invlpg_drops_one_page() {
        let mut c = prot();
        c.read_lin(0x5000, 1, Privilege::Supervisor).unwrap();
        c.read_lin(0x6000, 1, Privilege::Supervisor).unwrap();
        c.gpr[reg::RAX as usize] = 0x5123;
        exec(&mut c, &[0x0F, 0x01, 0x38]).unwrap(); // invlpg [eax]
        assert!(!filled(&c, 0x5000));
        assert!(filled(&c, 0x6000));
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0x38]), Err(Fault::GP0));
    }

    #[test]
    fn invpcid_types_and_checks() {
        let mut c = long();
        c.read_lin(0x5000, 1, Privilege::Supervisor).unwrap();
        c.read_lin(0x6000, 1, Privilege::Supervisor).unwrap();
        c.gpr[reg::RBX as usize] = 0x8000;
        let desc = |c: &mut Cpu, pcid: u64, addr: u64| {
            c.mem.write_bytes(0x8000, &pcid.to_le_bytes()).unwrap();
            c.mem.write_bytes(0x8008, &addr.to_le_bytes()).unwrap();
        };
        let invpcid = [0x66, 0x0F, 0x38, 0x82, 0x03]; // invpcid rax, [rbx]
        desc(&mut c, 0, 0x5000);
        c.gpr[reg::RAX as usize] = 0;
        exec(&mut c, &invpcid).unwrap();
        assert!(
            !filled(&c, 0x5000),
            "type 0: the address (2-MiB pages here: the TLB flushes their range)"
        );
        c.read_lin(0x6000, 1, Privilege::Supervisor).unwrap();
        c.gpr[reg::RAX as usize] = 4;
        assert_eq!(exec(&mut c, &invpcid), Err(Fault::GP0), "type 4");
        c.gpr[reg::RAX as usize] = 0;
        desc(&mut c, 0, 0x8000_0000_0000);
        assert_eq!(
            exec(&mut c, &invpcid),
            Err(Fault::GP0),
            "non-canonical address"
        );
        desc(&mut c, 1, 0);
        c.gpr[reg::RAX as usize] = 1;
        assert_eq!(
            exec(&mut c, &invpcid),
            Err(Fault::GP0),
            "PCID 1 with CR4.PCIDE = 0"
        );
        desc(&mut c, 1 << 12, 0);
        c.gpr[reg::RAX as usize] = 2;
        assert_eq!(
            exec(&mut c, &invpcid),
            Err(Fault::GP0),
            "descriptor bits 63:12"
        );
        desc(&mut c, 0, 0);
        exec(&mut c, &invpcid).unwrap();
        assert!(!filled(&c, 0x6000), "type 2: everything");
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &invpcid), Err(Fault::GP0));
    }

    #[test]
    fn cache_instructions_are_privileged_no_ops() {
        let mut c = prot();
        for b in [&[0x0F, 0x08][..], &[0x0F, 0x09], &[0xF3, 0x0F, 0x09]] {
            exec(&mut c, b).unwrap();
        }
        c.set_cpl(3);
        for b in [&[0x0F, 0x08][..], &[0x0F, 0x09], &[0xF3, 0x0F, 0x09]] {
            assert_eq!(exec(&mut c, b), Err(Fault::GP0));
        }
    }
}
