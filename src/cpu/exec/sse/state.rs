//! The SIMD control instructions: LDMXCSR/STMXCSR, XGETBV/XSETBV, the fences, PREFETCHh and
//! CLFLUSH/CLFLUSHOPT; the save areas (FXSAVE/FXRSTOR, XSAVE/XSAVEOPT/XRSTOR) are in
//! [`super::save`].

use iced_x86::Mnemonic as M;

use super::xmm::mxcsr;
use super::{save, sse_ready, R};
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Cr4, Op, Width, U32, U8};

/// LDMXCSR m32: #GP(0) if a reserved bit is set (SDM Vol. 2A LDMXCSR).
fn ldmxcsr(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = cpu.read_ea::<U32>(op)? as u32;
    if v & !mxcsr::MASK != 0 {
        return Err(Fault::GP0);
    }
    cpu.sse.mxcsr = v;
    Ok(())
}

/// STMXCSR m32.
fn stmxcsr(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let v = cpu.sse.mxcsr as u64;
    cpu.write_ea::<U32>(op, v)
}

/// XGETBV: XCR0 into EDX:EAX; #UD unless CR4.OSXSAVE, #GP(0) for any XCR but 0 (reading
/// XINUSE with ECX = 1 is not reported in CPUID.(EAX=0DH,ECX=1):EAX[2]).
fn xgetbv(cpu: &mut Cpu, _: &Op) -> R {
    if !cpu.cr4.contains(Cr4::OSXSAVE) {
        return Err(Fault::UD);
    }
    if cpu.gpr[reg::RCX as usize] as u32 != 0 {
        return Err(Fault::GP0);
    }
    let v = cpu.xcr0;
    U32::set(cpu, reg::RAX, v & 0xFFFF_FFFF);
    U32::set(cpu, reg::RDX, v >> 32);
    Ok(())
}

/// XSETBV: EDX:EAX into XCR0 at CPL 0; XCR0.x87 must stay set and nothing unsupported may be
/// (SDM Vol. 2C XSETBV).
fn xsetbv(cpu: &mut Cpu, _: &Op) -> R {
    if !cpu.cr4.contains(Cr4::OSXSAVE) {
        return Err(Fault::UD);
    }
    if cpu.cpl != 0 || cpu.gpr[reg::RCX as usize] as u32 != 0 {
        return Err(Fault::GP0);
    }
    let v =
        (cpu.gpr[reg::RDX as usize] as u32 as u64) << 32 | cpu.gpr[reg::RAX as usize] as u32 as u64;
    if v & 1 == 0 || v & !crate::cpu::cpuid::XCR0_SUPPORTED != 0 {
        return Err(Fault::GP0);
    }
    cpu.xcr0 = v;
    Ok(())
}

/// LFENCE, MFENCE, SFENCE, PREFETCHh: an interpreter retires every access in order, and a
/// prefetch accesses nothing (it never faults).
fn nop(_: &mut Cpu, _: &Op) -> R {
    Ok(())
}

/// CLFLUSH/CLFLUSHOPT: no cache to flush, but the address is checked as a byte load is
/// (SDM Vol. 2A CLFLUSH: "subject to all permission checking and faults associated with a
/// byte load").
fn clflush(cpu: &mut Cpu, op: &Op) -> R {
    cpu.read_ea::<U8>(op).map(|_| ())
}

/// Decodes the state and control instructions.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let m = d.ins.mnemonic();
    if d.is_mem(0) {
        d.mem(op);
    }
    op.run = match m {
        M::Ldmxcsr => ldmxcsr,
        M::Stmxcsr => stmxcsr,
        M::Xgetbv => xgetbv,
        M::Xsetbv => xsetbv,
        M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2 => nop,
        M::Clflush | M::Clflushopt => clflush,
        _ => return save::decode(d, op),
    };
    Some(Flow::Next)
}

#[cfg(test)]
mod tests {
    use crate::cpu::exec::system::testing::*;
    use crate::cpu::{Cr4, Fault};

    #[test]
    fn xgetbv_and_xsetbv_follow_cr4_osxsave_and_the_supported_mask() {
        let mut c = long();
        c.cr4.remove(Cr4::OSXSAVE);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD0]), Err(Fault::UD));
        c.cr4.insert(Cr4::OSXSAVE);
        c.gpr[1] = 0;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD0]), Ok(()));
        assert_eq!((c.gpr[0], c.gpr[2]), (1, 0));
        c.gpr[0] = 3;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD1]), Ok(()));
        assert_eq!(c.xcr0, 3);
        c.gpr[0] = 7;
        assert_eq!(
            exec(&mut c, &[0x0F, 0x01, 0xD1]),
            Err(Fault::GP0),
            "AVX unsupported"
        );
        c.gpr[0] = 2;
        assert_eq!(
            exec(&mut c, &[0x0F, 0x01, 0xD1]),
            Err(Fault::GP0),
            "x87 must stay"
        );
        c.gpr[0] = 1;
        c.gpr[1] = 1;
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD0]), Err(Fault::GP0), "XCR 1");
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD1]), Err(Fault::GP0));
        c.gpr[1] = 0;
        c.set_cpl(3);
        assert_eq!(exec(&mut c, &[0x0F, 0x01, 0xD1]), Err(Fault::GP0), "CPL 3");
    }

    /// Hints and fences Linux runs early, before (or without) enabling SSE: each decodes and
    /// runs as a no-op in 32- and 64-bit code, CR0.TS set and CR4.OSFXSR clear included.
    #[test]
    fn hints_fences_and_cache_control_run_without_sse_enabled() {
        use crate::cpu::Cr0;
        const HINTS: &[&[u8]] = &[
            &[0x0F, 0x18, 0x00],             // PREFETCHNTA [eax]
            &[0x0F, 0x18, 0x08],             // PREFETCHT0 [eax]
            &[0x0F, 0x18, 0x10],             // PREFETCHT1 [eax]
            &[0x0F, 0x18, 0x18],             // PREFETCHT2 [eax]
            &[0x0F, 0x18, 0x20],             // 0F 18 /4: hint NOP
            &[0x0F, 0x18, 0x38],             // 0F 18 /7: hint NOP (PREFETCHIT0)
            &[0x0F, 0x18, 0x30],             // PREFETCHIT1 [eax]: hint NOP without the feature
            &[0x0F, 0x0D, 0x00],             // PREFETCH [eax] (AMD)
            &[0x0F, 0x0D, 0x08],             // PREFETCHW [eax]
            &[0x0F, 0x0D, 0x10],             // PREFETCHWT1 [eax]: hint NOP without the feature
            &[0x0F, 0x1C, 0x00],             // CLDEMOTE [eax]: the same
            &[0xF3, 0x0F, 0x1E, 0xC8],       // RDSSPD eax: a NOP while CET is off
            &[0xF3, 0x0F, 0x1E, 0xFA],       // ENDBR64
            &[0x0F, 0x19, 0x00],             // hint NOPs 0F 19-0F 1E
            &[0x0F, 0x1A, 0x00],             //
            &[0x0F, 0x1B, 0x00],             //
            &[0x0F, 0x1C, 0x00],             //
            &[0x0F, 0x1D, 0x00],             //
            &[0x0F, 0x1E, 0x00],             //
            &[0x0F, 0x1F, 0x00],             // NOP [eax]
            &[0x0F, 0x1F, 0x44, 0x00, 0x00], // NOP [eax+eax+0]
            &[0x0F, 0xAE, 0xE8],             // LFENCE
            &[0x0F, 0xAE, 0xF0],             // MFENCE
            &[0x0F, 0xAE, 0xF8],             // SFENCE
            &[0x0F, 0xAE, 0x38],             // CLFLUSH [eax]
            &[0x66, 0x0F, 0xAE, 0x38],       // CLFLUSHOPT [eax]
            &[0xF3, 0x90],                   // PAUSE
        ];
        for mut c in [prot(), long()] {
            c.cr4.remove(Cr4::OSFXSR | Cr4::OSXMMEXCPT);
            c.cr0 |= Cr0::TS;
            c.gpr[0] = 0x20000;
            let before = (c.gpr[..16].to_vec(), c.flags.get());
            for &bytes in HINTS {
                let rip = c.rip();
                assert_eq!(exec(&mut c, bytes), Ok(()), "{bytes:02x?}");
                assert_eq!(c.rip(), rip + bytes.len() as u64, "{bytes:02x?}");
                assert_eq!(
                    (c.gpr[..16].to_vec(), c.flags.get()),
                    before,
                    "{bytes:02x?}"
                );
            }
            // MOVNTI [eax], ecx and POPCNT edx, ecx: general-register instructions.
            c.gpr[1] = 0xF0F0_0001;
            assert_eq!(exec(&mut c, &[0x0F, 0xC3, 0x08]), Ok(()));
            let mut b = [0u8; 4];
            c.mem.read_bytes(0x20000, &mut b);
            assert_eq!(u32::from_le_bytes(b), 0xF0F0_0001);
            assert_eq!(exec(&mut c, &[0xF3, 0x0F, 0xB8, 0xD1]), Ok(()));
            assert_eq!(c.gpr[2], 9);
        }
    }
}
