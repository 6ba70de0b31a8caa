//! The save areas: FXSAVE/FXRSTOR (512 bytes, the 32-bit format and, with REX.W, the 64-bit
//! one) and XSAVE/XSAVEOPT/XRSTOR (the same legacy region, a 64-byte header, standard
//! format only) for the two state components vx86 has: x87 (0) and SSE (1)
//! (SDM Vol. 1 10.5, 13.4–13.9; Vol. 2 FXSAVE, XSAVE, XRSTOR).
//!
//! Legacy region: FCW, FSW, abridged FTW, FOP, FIP/FCS, FDP/FDS (or 64-bit FIP, FDP) at
//! 0–23, MXCSR at 24, MXCSR_MASK at 28, ST0–ST7 (16 bytes each) at 32, XMM0–XMM15 at 160
//! (XMM0–7 outside 64-bit mode); bytes 416–511 are left untouched.

use iced_x86::Mnemonic as M;

use super::x87_area::{self, X87_LEN};
use super::xmm::mxcsr;
use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::operand::ASIZE_MASK;
use crate::cpu::state::{reg, Mode};
use crate::cpu::{Cpu, Cr0, Cr4, Op, U64};

/// Offset of MXCSR in the legacy region.
const MXCSR_AT: usize = 24;
/// Offset of XMM0 in the legacy region.
const XMM_AT: usize = 160;
/// Offset of the XSAVE header (XSTATE_BV, XCOMP_BV, reserved).
const HEADER_AT: u64 = 512;

/// The XMM registers a save area holds in the current mode.
fn xmm_count(cpu: &Cpu) -> usize {
    if cpu.mode == Mode::Long {
        16
    } else {
        8
    }
}

/// The offset of the area after the alignment and access checks of its first and last
/// byte, so that no part is written (or loaded) unless all of it can be.
///
/// A misaligned area raises #GP(0), or #AC(0) where alignment checking is on and the address
/// is not a multiple of 4: the SDM (Vol. 2A FXSAVE, Vol. 2C XSAVE, "#AC") leaves the choice
/// between the two, and the width of the check, to the implementation; vx86 does as the AMD
/// processors host-diff runs on. A page fault reports the area's last byte in CR2 if its
/// page is not present (as the host processors do), else the first byte.
fn area(cpu: &mut Cpu, op: &Op, len: u64, align: u64, write: bool) -> Result<u64, Fault> {
    let off = cpu.ea(op);
    let lin = cpu.seg(op.seg).lin_base.wrapping_add(off);
    if lin & (align - 1) != 0 {
        return Err(if cpu.alignment_checking() && lin & 3 != 0 {
            Fault::AC
        } else {
            Fault::GP0
        });
    }
    // The last byte first: with the whole area on a page that is not present, the host
    // processors report the last byte in CR2.
    let last = off.wrapping_add(len - 1) & ASIZE_MASK[(op.asize & 3) as usize];
    for o in [last, off] {
        if write {
            cpu.probe_write(op.seg, o, 1)?;
        } else {
            cpu.read::<crate::cpu::U8>(op.seg, o)?;
        }
    }
    Ok(off)
}

/// Writes `bytes` (a multiple of 8 long) at `off + at`.
fn put(cpu: &mut Cpu, op: &Op, off: u64, at: usize, bytes: &[u8]) -> R {
    for (k, c) in bytes.chunks(8).enumerate() {
        let mut q = [0u8; 8];
        q[..c.len()].copy_from_slice(c);
        let o = off.wrapping_add((at + 8 * k) as u64) & ASIZE_MASK[(op.asize & 3) as usize];
        cpu.write::<U64>(op.seg, o, u64::from_le_bytes(q))?;
    }
    Ok(())
}

/// Reads `n` bytes (a multiple of 8) at `off + at`.
fn get(cpu: &mut Cpu, op: &Op, off: u64, at: usize, out: &mut [u8]) -> R {
    for k in 0..out.len() / 8 {
        let o = off.wrapping_add((at + 8 * k) as u64) & ASIZE_MASK[(op.asize & 3) as usize];
        let q = cpu.read::<U64>(op.seg, o)?;
        out[8 * k..8 * k + 8].copy_from_slice(&q.to_le_bytes());
    }
    Ok(())
}

/// MXCSR and MXCSR_MASK as stored at byte 24.
fn mxcsr_bytes(cpu: &Cpu) -> [u8; 8] {
    ((mxcsr::MASK as u64) << 32 | cpu.sse.mxcsr as u64).to_le_bytes()
}

/// The XMM registers of the current mode as bytes.
fn xmm_bytes(cpu: &Cpu) -> Vec<u8> {
    cpu.sse.xmm[..xmm_count(cpu)]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

/// Loads XMM registers from the bytes of the region at 160.
fn set_xmm_bytes(cpu: &mut Cpu, bytes: &[u8]) {
    for (k, c) in bytes.chunks(16).enumerate() {
        let mut b = [0u8; 16];
        b.copy_from_slice(c);
        cpu.sse.xmm[k] = u128::from_le_bytes(b);
    }
}

/// FXSAVE/FXRSTOR raise #NM when CR0.TS or CR0.EM is set (SDM Vol. 2A FXSAVE).
fn fx_ready(cpu: &Cpu) -> R {
    if cpu.cr0.intersects(Cr0::TS | Cr0::EM) {
        return Err(Fault::NM);
    }
    Ok(())
}

/// XSAVE* and XRSTOR raise #UD without CR4.OSXSAVE, then #NM when CR0.TS is set.
fn x_ready(cpu: &Cpu) -> R {
    if !cpu.cr4.contains(Cr4::OSXSAVE) {
        return Err(Fault::UD);
    }
    if cpu.cr0.contains(Cr0::TS) {
        return Err(Fault::NM);
    }
    Ok(())
}

/// FXSAVE (`WIDE`: FXSAVE64).
fn fxsave<const WIDE: bool>(cpu: &mut Cpu, op: &Op) -> R {
    fx_ready(cpu)?;
    let off = area(cpu, op, 512, 16, true)?;
    let x87 = x87_area::save(cpu, WIDE);
    put(cpu, op, off, 0, &x87[..MXCSR_AT])?;
    put(cpu, op, off, MXCSR_AT, &mxcsr_bytes(cpu))?;
    put(cpu, op, off, 32, &x87[32..])?;
    let x = xmm_bytes(cpu);
    put(cpu, op, off, XMM_AT, &x)
}

/// FXRSTOR (`WIDE`: FXRSTOR64): #GP(0) if the image's MXCSR sets a reserved bit.
fn fxrstor<const WIDE: bool>(cpu: &mut Cpu, op: &Op) -> R {
    fx_ready(cpu)?;
    let off = area(cpu, op, 512, 16, false)?;
    let mut x87 = [0u8; X87_LEN];
    get(cpu, op, off, 0, &mut x87)?;
    let mx = u32::from_le_bytes([x87[24], x87[25], x87[26], x87[27]]);
    if mx & !mxcsr::MASK != 0 {
        return Err(Fault::GP0);
    }
    let mut x = vec![0u8; 16 * xmm_count(cpu)];
    get(cpu, op, off, XMM_AT, &mut x)?;
    x87_area::load(cpu, &x87, WIDE);
    cpu.sse.mxcsr = mx;
    set_xmm_bytes(cpu, &x);
    Ok(())
}

/// The requested-feature bitmap: XCR0 AND EDX:EAX.
fn rfbm(cpu: &Cpu) -> u64 {
    let mask =
        (cpu.gpr[reg::RDX as usize] as u32 as u64) << 32 | cpu.gpr[reg::RAX as usize] as u32 as u64;
    cpu.xcr0 & mask
}

/// XINUSE: the components not in their initial configuration (SDM Vol. 1 13.6).
fn in_use(cpu: &Cpu) -> u64 {
    let x87 = !x87_area::is_init(cpu) as u64;
    let sse = cpu.sse.xmm.iter().any(|&x| x != 0) as u64;
    x87 | sse << 1
}

/// XSAVE and XSAVEOPT (which may skip components in their initial configuration; vx86
/// writes them all, as XSAVE does) (`WIDE`: the 64-bit x87 format).
fn xsave<const WIDE: bool>(cpu: &mut Cpu, op: &Op) -> R {
    x_ready(cpu)?;
    let off = area(cpu, op, crate::cpu::cpuid::XSAVE_AREA as u64, 64, true)?;
    let rfbm = rfbm(cpu);
    let mut header = [0u8; 8];
    get(cpu, op, off, HEADER_AT as usize, &mut header)?;
    if rfbm & 1 != 0 {
        let x87 = x87_area::save(cpu, WIDE);
        put(cpu, op, off, 0, &x87[..MXCSR_AT])?;
        put(cpu, op, off, 32, &x87[32..])?;
    }
    if rfbm & 2 != 0 {
        put(cpu, op, off, MXCSR_AT, &mxcsr_bytes(cpu))?;
        let x = xmm_bytes(cpu);
        put(cpu, op, off, XMM_AT, &x)?;
    }
    // XSTATE_BV: the saved components' XINUSE bits; the others stay as they were.
    let bv = u64::from_le_bytes(header) & !rfbm | in_use(cpu) & rfbm;
    put(cpu, op, off, HEADER_AT as usize, &bv.to_le_bytes())
}

/// XRSTOR (`WIDE`: XRSTOR64), standard format: a component of RFBM is loaded where
/// XSTATE_BV has its bit, else initialised; MXCSR is loaded whenever RFBM has SSE. #GP(0)
/// for a compacted or malformed header, XSTATE_BV bits outside XCR0 or a reserved MXCSR bit
/// (SDM Vol. 1 13.8), checked before anything changes.
fn xrstor<const WIDE: bool>(cpu: &mut Cpu, op: &Op) -> R {
    x_ready(cpu)?;
    let off = area(cpu, op, crate::cpu::cpuid::XSAVE_AREA as u64, 64, false)?;
    let rfbm = rfbm(cpu);
    let mut header = [0u8; 64];
    get(cpu, op, off, HEADER_AT as usize, &mut header)?;
    let bv = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
    if header[8..].iter().any(|&b| b != 0) || bv & !cpu.xcr0 != 0 {
        return Err(Fault::GP0);
    }
    let mut x87 = [0u8; X87_LEN];
    get(cpu, op, off, 0, &mut x87)?;
    let mx = u32::from_le_bytes([x87[24], x87[25], x87[26], x87[27]]);
    if rfbm & 2 != 0 && mx & !mxcsr::MASK != 0 {
        return Err(Fault::GP0);
    }
    let mut x = vec![0u8; 16 * xmm_count(cpu)];
    get(cpu, op, off, XMM_AT, &mut x)?;
    if rfbm & 1 != 0 {
        if bv & 1 != 0 {
            x87_area::load(cpu, &x87, WIDE);
        } else {
            x87_area::init(cpu);
        }
    }
    if rfbm & 2 != 0 {
        cpu.sse.mxcsr = mx;
        if bv & 2 != 0 {
            set_xmm_bytes(cpu, &x);
        } else {
            let n = xmm_count(cpu);
            cpu.sse.xmm[..n].fill(0);
        }
    }
    Ok(())
}

/// Decodes the save-area instructions (the memory operand is already in `op`).
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    if !d.is_mem(0) {
        return None;
    }
    op.run = match d.ins.mnemonic() {
        M::Fxsave => fxsave::<false>,
        M::Fxsave64 => fxsave::<true>,
        M::Fxrstor => fxrstor::<false>,
        M::Fxrstor64 => fxrstor::<true>,
        M::Xsave | M::Xsaveopt => xsave::<false>,
        M::Xsave64 | M::Xsaveopt64 => xsave::<true>,
        M::Xrstor => xrstor::<false>,
        M::Xrstor64 => xrstor::<true>,
        _ => return None,
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use crate::cpu::exec::system::testing::*;
    use crate::cpu::{Cpu, Cr0, Cr4, Fault};

    const AREA: u64 = 0x20000;

    fn cpu() -> Cpu {
        let mut c = long();
        c.cr4 |= Cr4::OSFXSR | Cr4::OSXSAVE;
        c.xcr0 = 3;
        c.gpr[3] = AREA; // RBX
        c.gpr[0] = 3; // RAX: RFBM = x87 | SSE
        c.gpr[2] = 0;
        // The x87 in its initial configuration (FNINIT and zeroed registers).
        super::x87_area::init(&mut c);
        c
    }

    fn q(c: &Cpu, a: u64) -> u64 {
        let mut b = [0u8; 8];
        c.mem.read_bytes(a, &mut b);
        u64::from_le_bytes(b)
    }

    // FXSAVE64 [rbx], FXRSTOR64 [rbx], XSAVE [rbx], XRSTOR [rbx].
    const FXSAVE64: &[u8] = &[0x48, 0x0F, 0xAE, 0x03];
    const FXRSTOR64: &[u8] = &[0x48, 0x0F, 0xAE, 0x0B];
    const XSAVE: &[u8] = &[0x0F, 0xAE, 0x23];
    const XRSTOR: &[u8] = &[0x0F, 0xAE, 0x2B];

    #[test]
    fn fxsave_and_fxrstor_round_trip_xmm_and_mxcsr() {
        let mut c = cpu();
        c.sse.xmm[15] = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210;
        c.sse.mxcsr = 0x9FC0;
        assert_eq!(exec(&mut c, FXSAVE64), Ok(()));
        assert_eq!(q(&c, AREA + 24), 0xFFFF_0000_9FC0, "MXCSR and MXCSR_MASK");
        assert_eq!(q(&c, AREA + 160 + 15 * 16), 0xFEDC_BA98_7654_3210);
        c.sse = Default::default();
        assert_eq!(exec(&mut c, FXRSTOR64), Ok(()));
        assert_eq!(c.sse.xmm[15], 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210);
        assert_eq!(c.sse.mxcsr, 0x9FC0);
        // A reserved MXCSR bit in the image: #GP(0), nothing loaded.
        c.mem
            .write_bytes(AREA + 24, &0x1_0000u32.to_le_bytes())
            .unwrap();
        c.sse.xmm[15] = 0;
        assert_eq!(exec(&mut c, FXRSTOR64), Err(Fault::GP0));
        assert_eq!(c.sse.xmm[15], 0);
        // Misaligned: #GP(0); CR0.TS: #NM.
        c.gpr[3] = AREA + 8;
        assert_eq!(exec(&mut c, FXSAVE64), Err(Fault::GP0));
        c.cr0 |= Cr0::TS;
        assert_eq!(exec(&mut c, FXSAVE64), Err(Fault::NM));
    }

    #[test]
    fn a_misaligned_area_under_alignment_checking_is_ac_unless_dword_aligned() {
        use crate::cpu::flags::bit;
        let mut c = cpu();
        c.write_flags(bit::AC, bit::AC);
        c.cr0 |= Cr0::AM;
        c.set_cpl(3);
        for (at, want) in [
            (2, Fault::AC),
            (7, Fault::AC),
            (4, Fault::GP0),
            (8, Fault::GP0),
        ] {
            c.gpr[3] = AREA + at;
            assert_eq!(exec(&mut c, FXSAVE64), Err(want), "FXSAVE at +{at}");
            assert_eq!(exec(&mut c, FXRSTOR64), Err(want), "FXRSTOR at +{at}");
        }
        // Without alignment checking: #GP(0).
        c.set_cpl(0);
        c.gpr[3] = AREA + 2;
        assert_eq!(exec(&mut c, FXSAVE64), Err(Fault::GP0));
    }

    #[test]
    fn a_page_fault_on_the_area_reports_its_last_byte() {
        // Beyond the 1 GiB the test page tables map: the whole area, then its second half.
        const UNMAPPED: u64 = 0x4000_0000;
        let mut c = cpu();
        for start in [UNMAPPED, UNMAPPED - 256] {
            c.gpr[3] = start;
            for ins in [FXSAVE64, FXRSTOR64] {
                c.pf_addr = 0;
                let r = exec(&mut c, ins).map_err(|f| f.vector);
                assert_eq!(r, Err(crate::cpu::fault::Vector::PF));
                assert_eq!(c.pf_addr, start + 511);
            }
        }
    }

    #[test]
    fn xsave_writes_xstate_bv_and_xrstor_initialises_absent_components() {
        let mut c = cpu();
        c.sse.xmm[1] = 5;
        c.mem.write_bytes(AREA + 512, &[0xF0; 64]).unwrap();
        assert_eq!(exec(&mut c, XSAVE), Ok(()));
        // XINUSE: x87 initial, SSE not; bits outside RFBM keep their old value.
        assert_eq!(q(&c, AREA + 512), 0xF0F0_F0F0_F0F0_F0F2);
        assert_eq!(
            q(&c, AREA + 520),
            0xF0F0_F0F0_F0F0_F0F0,
            "XCOMP_BV untouched"
        );
        // XRSTOR: reserved header bits raise #GP(0).
        assert_eq!(exec(&mut c, XRSTOR), Err(Fault::GP0));
        c.mem.write_bytes(AREA + 512, &[0; 64]).unwrap();
        // XSTATE_BV = 0: SSE initialised (XMM zeroed), MXCSR still loaded from the image.
        c.mem
            .write_bytes(AREA + 24, &0x1F00u32.to_le_bytes())
            .unwrap();
        assert_eq!(exec(&mut c, XRSTOR), Ok(()));
        assert_eq!(c.sse.xmm[1], 0);
        assert_eq!(c.sse.mxcsr, 0x1F00);
        // XSTATE_BV = SSE: loaded.
        c.mem.write_bytes(AREA + 512, &2u64.to_le_bytes()).unwrap();
        c.mem
            .write_bytes(AREA + 160 + 16, &7u64.to_le_bytes())
            .unwrap();
        assert_eq!(exec(&mut c, XRSTOR), Ok(()));
        assert_eq!(c.sse.xmm[1], 7);
        // A component beyond XCR0 in XSTATE_BV: #GP(0); 64-byte alignment; CR4.OSXSAVE.
        c.mem.write_bytes(AREA + 512, &4u64.to_le_bytes()).unwrap();
        assert_eq!(exec(&mut c, XRSTOR), Err(Fault::GP0));
        c.gpr[3] = AREA + 16;
        assert_eq!(exec(&mut c, XSAVE), Err(Fault::GP0));
        c.cr4.remove(Cr4::OSXSAVE);
        assert_eq!(exec(&mut c, XSAVE), Err(Fault::UD));
    }

    #[test]
    fn the_x87_state_travels_through_fxsave_and_xrstor_initialises_it() {
        let mut c = cpu();
        c.fpu.set_control(0x0C7F);
        c.fpu.push(crate::cpu::softfloat::F80::ONE);
        assert_eq!(exec(&mut c, FXSAVE64), Ok(()));
        assert_eq!(q(&c, AREA) & 0xFFFF, 0x0C7F, "FCW");
        assert_eq!(q(&c, AREA) >> 32 & 0xFF, 0x80, "abridged FTW: R7 valid");
        assert_eq!(q(&c, AREA + 32), 1 << 63, "ST0 = 1.0");
        c.fpu.init();
        assert_eq!(exec(&mut c, FXRSTOR64), Ok(()));
        assert_eq!((c.fpu.cw, c.fpu.top, c.fpu.valid), (0x0C7F, 7, 0x80));
        // XSAVE reports x87 in use; XRSTOR with XSTATE_BV[0] clear initialises it.
        assert_eq!(exec(&mut c, XSAVE), Ok(()));
        assert_eq!(q(&c, AREA + 512) & 1, 1);
        c.mem.write_bytes(AREA + 512, &0u64.to_le_bytes()).unwrap();
        assert_eq!(exec(&mut c, XRSTOR), Ok(()));
        assert!(super::super::x87_area::is_init(&c));
    }

    #[test]
    fn rfbm_limits_what_xsave_writes() {
        let mut c = cpu();
        c.gpr[0] = 1; // x87 only: MXCSR and the XMM registers stay untouched
        c.sse.xmm[0] = 9;
        c.mem.write_bytes(AREA, &[0xAA; 576]).unwrap();
        assert_eq!(exec(&mut c, XSAVE), Ok(()));
        assert_eq!(q(&c, AREA + 160), 0xAAAA_AAAA_AAAA_AAAA);
        assert_eq!(q(&c, AREA + 24), 0xAAAA_AAAA_AAAA_AAAA);
        assert_eq!(q(&c, AREA) & 0xFFFF, 0x037F, "FCW");
    }
}
