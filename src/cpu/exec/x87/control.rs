//! FLDCW, FSTCW/FNSTCW, FSTSW/FNSTSW, FCLEX/FNCLEX, FINIT/FNINIT, FLDENV, FSTENV/FNSTENV,
//! FSAVE/FNSAVE, FRSTOR, FNOP and WAIT/FWAIT (SDM Vol. 2A, Vol. 1 8.1.10 and Figures 8-9
//! to 8-12 for the environment layouts).

use super::state::sw;
use super::{enter, note, pending, read_block, write_block, R};
use crate::cpu::softfloat::F80;
use crate::cpu::state::Mode;
use crate::cpu::{Cpu, Cr0, Fault, Op, U16};

/// WAIT/FWAIT: #NM only when CR0.MP and CR0.TS are both set (SDM Vol. 3A Table 2-2), then
/// any pending unmasked exception.
pub fn fwait(cpu: &mut Cpu, op: &Op) -> R {
    if cpu.cr0.contains(Cr0::MP | Cr0::TS) {
        return Err(Fault::NM);
    }
    if cpu.fpu.sw & sw::ES != 0 {
        pending(cpu, op)?;
    }
    Ok(())
}

/// FLDCW m16: a new control word may unmask a pending exception (reported at the next
/// waiting instruction).
pub fn fldcw(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let v = cpu.read_ea::<U16>(op)? as u16;
    cpu.fpu.set_control(v);
    Ok(())
}

/// FSTCW/FNSTCW m16.
pub fn fstcw<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    let v = cpu.fpu.control();
    cpu.write_ea::<U16>(op, v as u64)
}

/// FSTSW/FNSTSW m16 or AX.
pub fn fstsw<const WAIT: bool, const AX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    let v = cpu.fpu.status() as u64;
    if AX {
        U16::set(cpu, crate::cpu::reg::RAX, v);
        Ok(())
    } else {
        cpu.write_ea::<U16>(op, v)
    }
}

use crate::cpu::Width;

/// FCLEX/FNCLEX: clears the exception flags, SF, ES and B (FERR# drops).
pub fn fclex<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    cpu.fpu.sw &= !(sw::FLAGS | sw::SF | sw::ES | sw::B);
    cpu.fpu.ferr = false;
    Ok(())
}

/// FINIT/FNINIT.
pub fn finit<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    cpu.fpu.init();
    Ok(())
}

/// FNOP: a non-control instruction that does nothing else.
pub fn fnop(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    note(cpu, op);
    Ok(())
}

/// The 8087's FENI/FDISI and the 287's FSETPM: no operation on the 387 and later.
pub fn fnop_legacy<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    enter(cpu, op, WAIT)?;
    Ok(())
}

/// The environment layouts: 16- or 32-bit (`op.extra` 1 or 0), real-address (real and
/// virtual-8086 modes) or protected.
struct Layout {
    sixteen: bool,
    real: bool,
}

impl Layout {
    fn of(cpu: &Cpu, op: &Op) -> Layout {
        Layout {
            sixteen: op.extra != 0,
            real: matches!(cpu.mode, Mode::Real | Mode::V8086),
        }
    }

    /// Bytes of the environment.
    fn len(&self) -> usize {
        if self.sixteen {
            14
        } else {
            28
        }
    }
}

/// The environment image (SDM Vol. 1 Figures 8-9 to 8-12). The unused upper halves of the
/// 32-bit layouts read as ones.
fn store_env(cpu: &Cpu, l: &Layout, out: &mut [u8]) {
    let f = &cpu.fpu;
    let (fip_lin, fdp_lin) = (
        ((f.fcs as u64) << 4).wrapping_add(f.fip) as u32,
        ((f.fds as u64) << 4).wrapping_add(f.fdp) as u32,
    );
    let fop = f.fop as u32 & 0x7FF;
    if l.sixteen {
        let words: [u16; 7] = if l.real {
            [
                f.cw,
                f.status(),
                f.tag_word(),
                fip_lin as u16,
                ((fip_lin >> 4) & 0xF000) as u16 | fop as u16,
                fdp_lin as u16,
                ((fdp_lin >> 4) & 0xF000) as u16,
            ]
        } else {
            [
                f.cw,
                f.status(),
                f.tag_word(),
                f.fip as u16,
                f.fcs,
                f.fdp as u16,
                f.fds,
            ]
        };
        for (i, w) in words.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
    } else {
        let hi = 0xFFFF_0000u32;
        let dwords: [u32; 7] = if l.real {
            [
                hi | f.cw as u32,
                hi | f.status() as u32,
                hi | f.tag_word() as u32,
                hi | (fip_lin & 0xFFFF),
                ((fip_lin & 0xFFFF_0000) >> 4) | fop,
                hi | (fdp_lin & 0xFFFF),
                (fdp_lin & 0xFFFF_0000) >> 4,
            ]
        } else {
            [
                hi | f.cw as u32,
                hi | f.status() as u32,
                hi | f.tag_word() as u32,
                f.fip as u32,
                f.fcs as u32 | fop << 16,
                f.fdp as u32,
                hi | f.fds as u32,
            ]
        };
        for (i, d) in dwords.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// Loads an environment image.
fn load_env(cpu: &mut Cpu, l: &Layout, b: &[u8]) {
    let w = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let d = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (cw, sw, tw, fip, fcs, fop, fdp, fds) = match (l.sixteen, l.real) {
        (true, true) => (
            w(0),
            w(2),
            w(4),
            w(6) as u64 | ((w(8) as u64 & 0xF000) << 4),
            0,
            w(8) & 0x7FF,
            w(10) as u64 | ((w(12) as u64 & 0xF000) << 4),
            0,
        ),
        (true, false) => (w(0), w(2), w(4), w(6) as u64, w(8), 0, w(10) as u64, w(12)),
        (false, true) => (
            w(0),
            w(4),
            w(8),
            (d(12) & 0xFFFF) as u64 | ((d(16) as u64 & 0x0FFF_F000) << 4),
            0,
            (d(16) & 0x7FF) as u16,
            (d(20) & 0xFFFF) as u64 | ((d(24) as u64 & 0x0FFF_F000) << 4),
            0,
        ),
        (false, false) => (
            w(0),
            w(4),
            w(8),
            d(12) as u64,
            w(16),
            w(18) & 0x7FF,
            d(20) as u64,
            w(24),
        ),
    };
    let f = &mut cpu.fpu;
    f.cw = cw & super::state::cw::WRITABLE | super::state::cw::FIXED;
    f.set_status(sw);
    f.set_tag_word(tw);
    f.fip = fip;
    f.fcs = fcs;
    f.fop = fop;
    f.fdp = fdp;
    f.fds = fds;
    f.update_es();
}

/// FLDENV m14/m28.
pub fn fldenv(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let l = Layout::of(cpu, op);
    let off = cpu.ea(op);
    let mut b = [0u8; 28];
    read_block(
        cpu,
        op,
        off,
        &mut b[..l.len()],
        if l.sixteen { 2 } else { 4 },
    )?;
    load_env(cpu, &l, &b);
    Ok(())
}

/// FSTENV/FNSTENV m14/m28: stores the environment, then masks every exception.
pub fn fstenv<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    let l = Layout::of(cpu, op);
    let off = cpu.ea(op);
    let mut b = [0u8; 28];
    store_env(cpu, &l, &mut b);
    write_block(cpu, op, off, &b[..l.len()], if l.sixteen { 2 } else { 4 })?;
    // All exceptions end up masked, so ES and B drop (the host-diff runs on AMD).
    cpu.fpu.cw |= super::state::cw::MASKS;
    cpu.fpu.update_es();
    Ok(())
}

/// FRSTOR m94/m108: the environment, then ST(0)…ST(7).
pub fn frstor(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, true)? {
        return Ok(());
    }
    let l = Layout::of(cpu, op);
    let n = l.len();
    let off = cpu.ea(op);
    let mut b = [0u8; 108];
    read_block(
        cpu,
        op,
        off,
        &mut b[..n + 80],
        if l.sixteen { 2 } else { 4 },
    )?;
    load_env(cpu, &l, &b);
    for i in 0..8u8 {
        let at = n + 10 * i as usize;
        let mut r = [0u8; 10];
        r.copy_from_slice(&b[at..at + 10]);
        let p = cpu.fpu.phys(i);
        cpu.fpu.regs[p] = F80::from_bytes(r);
    }
    Ok(())
}

/// FSAVE/FNSAVE m94/m108: the environment and ST(0)…ST(7), then FNINIT.
pub fn fsave<const WAIT: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if !enter(cpu, op, WAIT)? {
        return Ok(());
    }
    let l = Layout::of(cpu, op);
    let n = l.len();
    let off = cpu.ea(op);
    let mut b = [0u8; 108];
    store_env(cpu, &l, &mut b);
    for i in 0..8u8 {
        let at = n + 10 * i as usize;
        b[at..at + 10].copy_from_slice(&cpu.fpu.st(i).to_bytes());
    }
    write_block(cpu, op, off, &b[..n + 80], if l.sixteen { 2 } else { 4 })?;
    cpu.fpu.init();
    Ok(())
}
