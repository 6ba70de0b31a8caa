//! The SSE family of the generator: sequences of legacy-encoded SSE … SSE4.2, PCLMULQDQ and
//! CRC32 instructions (every form iced-x86 knows, register and memory operands), now and
//! then an integer instruction between them, on random XMM registers rich in special
//! floating-point values (zeros, denormals, infinities, quiet and signalling NaNs, the
//! integer-conversion limits), under a random MXCSR (rounding mode, DAZ, FTZ, masks and
//! sticky flags). Float memory operands get the same kind of values (written into the
//! buffer once the address is known), and LDMXCSR mostly finds a valid image.
//!
//! Left out, each for a reason that holds on any host:
//! - RCPPS, RCPSS, RSQRTPS, RSQRTSS: their approximations are implementation-specific (the
//!   SDM bounds only the relative error), so hosts of other vendors or generations differ;
//!   vx86's tables are checked by unit tests instead.
//! - XSAVE, XSAVEOPT, XRSTOR, XGETBV: the host's XCR0 enables state components (AVX, …)
//!   vx86 does not have, so the areas and the value read differ by design; XSETBV is
//!   privileged.
//!
//! The MMX forms run on a random x87 state (TOP, tags, register contents, now and then an
//! unmasked exception pending), and the sequences compare the x87 control, status and tag
//! words and registers besides the XMM registers. FXRSTOR mostly finds a valid image; an
//! FXSAVE ends its sequence, and the fields of its image the vendors fill differently (FOP,
//! the x87 pointers, MXCSR_MASK) are not compared.

use iced_x86::{
    Code, CpuidFeature, EncodingKind, Instruction, InstructionInfoFactory, Mnemonic as M,
    OpCodeOperandKind as K, OpKind, Register,
};

use super::{
    decode_at_bits, encode, gpr_number, pick_reg, Features, Generator, Kind, Rng, Seq, GS_BASE, RSP,
};
use crate::conformance::hostdiff::{default_fx, set_sse, BUF_LEN, FX_LEN};

/// One mnemonic and its usable forms.
#[derive(Clone, Debug)]
struct SseGroup {
    codes: Vec<Code>,
}

/// The SSE-family groups of one code size.
#[derive(Clone, Debug, Default)]
pub struct SseTable {
    groups: Vec<SseGroup>,
}

/// Mnemonics left out on purpose (see the module documentation).
const EXCLUDED: &[M] = &[
    M::Rcpps,
    M::Rcpss,
    M::Rsqrtps,
    M::Rsqrtss,
    M::Xsave,
    M::Xsave64,
    M::Xsaveopt,
    M::Xsaveopt64,
    M::Xrstor,
    M::Xrstor64,
    M::Xgetbv,
    M::Xsetbv,
];

/// Whether the generator can fill an operand of this kind.
fn supported_kind(k: K) -> bool {
    matches!(
        k,
        K::xmm_reg
            | K::xmm_rm
            | K::xmm_or_mem
            | K::mm_reg
            | K::mm_rm
            | K::mm_or_mem
            | K::mem
            | K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::r32_reg
            | K::r64_reg
            | K::r32_rm
            | K::r64_rm
            | K::imm8
            | K::seg_rDI
    )
}

/// Whether `code` is an SSE-family form the generator builds and the host runs.
fn usable(code: Code, features: &Features, bits: u32) -> bool {
    let oc = code.op_code();
    let f = code.cpuid_features();
    oc.is_instruction()
        && if bits == 64 { oc.mode64() } else { oc.mode32() }
        && oc.encoding() == EncodingKind::Legacy
        && oc.decoder_option() == iced_x86::DecoderOptions::NONE
        && !oc.is_privileged()
        && !EXCLUDED.contains(&code.mnemonic())
        && f.iter().any(|f| {
            matches!(
                f,
                CpuidFeature::MMX
                    | CpuidFeature::SSE
                    | CpuidFeature::SSE2
                    | CpuidFeature::SSE3
                    | CpuidFeature::SSSE3
                    | CpuidFeature::SSE4_1
                    | CpuidFeature::SSE4_2
                    | CpuidFeature::PCLMULQDQ
                    | CpuidFeature::CLFSH
                    | CpuidFeature::CLFLUSHOPT
                    | CpuidFeature::FXSR
            )
        })
        && f.iter().all(|&f| features.has(f))
        && oc.op_kinds().iter().all(|&k| supported_kind(k))
}

impl SseTable {
    /// The groups for `bits`-bit code on a host with `features`.
    pub fn new(features: &Features, bits: u32) -> SseTable {
        let mut groups: Vec<(M, SseGroup)> = Vec::new();
        for code in Code::values().filter(|c| usable(*c, features, bits)) {
            let m = code.mnemonic();
            match groups.iter_mut().find(|g| g.0 == m) {
                Some(g) => g.1.codes.push(code),
                None => groups.push((m, SseGroup { codes: vec![code] })),
            }
        }
        SseTable {
            groups: groups.into_iter().map(|g| g.1).collect(),
        }
    }

    /// The mnemonics of the table.
    pub fn mnemonics(&self) -> Vec<M> {
        self.groups.iter().map(|g| g.codes[0].mnemonic()).collect()
    }
}

/// Whether a 16-byte memory operand of `m` may be misaligned (SDM Vol. 2 Table 2-21 and
/// the instructions' pages).
fn unaligned_ok(m: M) -> bool {
    matches!(
        m,
        M::Movups
            | M::Movupd
            | M::Movdqu
            | M::Lddqu
            | M::Pcmpestri
            | M::Pcmpestri64
            | M::Pcmpestrm
            | M::Pcmpestrm64
            | M::Pcmpistri
            | M::Pcmpistrm
    )
}

/// A binary32 value biased towards the cases floating-point arithmetic treats specially.
fn special32(r: &mut Rng) -> u32 {
    let sign = (r.below(2) as u32) << 31;
    let mant = r.next_u64() as u32 & 0x7F_FFFF;
    sign | match r.below(20) {
        0 => 0,
        1 => 1 + r.below(0x7F_FFFF) as u32,
        2 => 0x7F80_0000,
        3 => 0x7FC0_0000 | mant,
        4 => 0x7F80_0000 | (mant >> 1).max(1),
        5 => 0x0080_0000 | (mant & 0xF),
        6 => 0x7F7F_FFFF - (mant & 0xF),
        7 => 0x3F80_0000 | (mant & 0x7),
        // Exact halves (ties for the integer conversions and ROUNDPS).
        8 => [0x3F00_0000, 0x3FC0_0000, 0x4020_0000, 0x4060_0000][r.below(4) as usize],
        // Around 2^31, 2^32, 2^63 and 2^64: the limits of CVT*2SI.
        9 => {
            [0x4F00_0000, 0x4F80_0000, 0x5F00_0000, 0x5F80_0000][r.below(4) as usize]
                - r.below(2) as u32
        }
        // Around the smallest normal: underflow and FTZ.
        10 => 0x0080_0000 + r.below(64) as u32 - 32,
        // Near overflow.
        11 => 0x7E00_0000 | mant,
        12..=15 => (r.below(60) as u32 + 97) << 23 | mant,
        _ => r.next_u64() as u32 & 0x7FFF_FFFF,
    }
}

/// A binary64 value biased as [`special32`].
fn special64(r: &mut Rng) -> u64 {
    let sign = r.below(2) << 63;
    let mant = r.next_u64() & 0xF_FFFF_FFFF_FFFF;
    sign | match r.below(20) {
        0 => 0,
        1 => 1 + r.below(0xF_FFFF_FFFF_FFFF),
        2 => 0x7FF0_0000_0000_0000,
        3 => 0x7FF8_0000_0000_0000 | mant,
        4 => 0x7FF0_0000_0000_0000 | (mant >> 1).max(1),
        5 => 0x0010_0000_0000_0000 | (mant & 0xF),
        6 => 0x7FEF_FFFF_FFFF_FFFF - (mant & 0xF),
        7 => 0x3FF0_0000_0000_0000 | (mant & 0x7),
        8 => [
            0x3FE0_0000_0000_0000,
            0x3FF8_0000_0000_0000,
            0x4004_0000_0000_0000,
            0x400C_0000_0000_0000,
        ][r.below(4) as usize],
        9 => {
            [
                0x41E0_0000_0000_0000,
                0x41F0_0000_0000_0000,
                0x43E0_0000_0000_0000,
                0x43F0_0000_0000_0000,
            ][r.below(4) as usize]
                - r.below(2)
                + (r.below(3) << 20)
        }
        10 => 0x0010_0000_0000_0000 + r.below(64) - 32,
        11 => 0x7FC0_0000_0000_0000 | mant,
        // Values whose binary32 conversion under- or overflows, or is exact.
        12 => (r.below(80) + 1023 - 150) << 52 | mant,
        13 => (r.below(20) + 1023 + 120) << 52 | mant,
        14 | 15 => (r.below(120) + 963) << 52 | mant,
        _ => r.next_u64() & 0x7FFF_FFFF_FFFF_FFFF,
    }
}

/// A 128-bit value: binary32 lanes, binary64 lanes, small integers, text with NULs (for
/// the string compares), or random bits.
fn value128(r: &mut Rng) -> u128 {
    match r.below(8) {
        0..=2 => {
            let l: [u32; 4] = std::array::from_fn(|_| special32(r));
            l.iter().rev().fold(0u128, |v, &x| v << 32 | x as u128)
        }
        3..=5 => special64(r) as u128 | (special64(r) as u128) << 64,
        6 => {
            let b: [u8; 16] = std::array::from_fn(|_| match r.below(8) {
                0 => 0,
                1..=3 => b'a' + r.below(4) as u8,
                _ => r.below(256) as u8,
            });
            u128::from_le_bytes(b)
        }
        _ => (r.value() as u128) << 64 | r.value() as u128,
    }
}

/// The FXSAVE image a case starts with: an initialised x87, random XMM values and MXCSR
/// settings.
pub fn initial_fx(r: &mut Rng) -> Box<[u8; FX_LEN]> {
    let xmm = std::array::from_fn(|_| value128(r));
    let mut fx = default_fx();
    set_sse(&mut fx, &xmm, random_mxcsr(r));
    random_x87(r, &mut fx);
    fx
}

/// A random x87 state for the MMX forms: TOP, the abridged tags, the eight registers, and
/// once in 32 cases an unmasked invalid-operation exception pending (MMX instructions then
/// raise #MF).
fn random_x87(r: &mut Rng, fx: &mut [u8; FX_LEN]) {
    if r.chance(1, 4) {
        return;
    }
    let top = r.below(8) as u16;
    let mut fsw = top << 11;
    let mut fcw = 0x037Fu16;
    if r.chance(1, 32) {
        fsw |= 0x8081; // B, ES, IE
        fcw &= !1; // IM clear
    }
    fx[0..2].copy_from_slice(&fcw.to_le_bytes());
    fx[2..4].copy_from_slice(&fsw.to_le_bytes());
    fx[4] = r.below(256) as u8;
    for i in 0..8 {
        let at = 32 + 16 * i;
        let se = match r.below(4) {
            0 => 0xFFFF,
            1 => 0,
            _ => r.below(0x10000) as u16,
        };
        fx[at..at + 8].copy_from_slice(&r.value().to_le_bytes());
        fx[at + 8..at + 10].copy_from_slice(&se.to_le_bytes());
    }
}

/// A valid FXRSTOR image: random x87 and SSE state with a valid MXCSR.
fn fx_image(r: &mut Rng) -> Vec<u8> {
    initial_fx(r).to_vec()
}

/// Random MXCSR settings: any rounding mode, DAZ and FZ now and then, mostly all
/// exceptions masked, sticky flags half the time.
fn random_mxcsr(r: &mut Rng) -> u32 {
    let mut mxcsr = (r.below(4) as u32) << 13;
    if r.chance(1, 4) {
        mxcsr |= 1 << 6; // DAZ
    }
    if r.chance(1, 4) {
        mxcsr |= 1 << 15; // FZ
    }
    mxcsr |= if r.chance(3, 4) {
        0x3F << 7
    } else {
        (r.below(64) as u32) << 7
    };
    if r.chance(1, 2) {
        mxcsr |= r.below(64) as u32;
    }
    mxcsr
}

/// MXCSR bits that make LDMXCSR and FXRSTOR raise #GP(0) on every processor: random
/// garbage in bits 16–31 with one of bits 18–31 set. Bit 16 and 17 alone are left out: which
/// bits are reserved is per processor (MXCSR_MASK, SDM Vol. 1 11.6.6), and AMD processors
/// with misaligned SSE mode accept bit 17 (MM, the misaligned-exception mask), which vx86
/// (MXCSR_MASK FFFFH, as Intel's) rejects.
fn reserved_mxcsr(r: &mut Rng) -> u32 {
    (r.value() as u32 & 0xFFFF_0000) | 1 << (18 + r.below(14))
}

/// An XMM register of the code size (XMM8–15 exist only in 64-bit mode).
fn pick_xmm(r: &mut Rng, bits: u32) -> Register {
    let n = if bits == 64 { 16 } else { 8 };
    Register::XMM0 + r.below(n) as u32
}

impl Generator {
    /// Appends one SSE-family instruction to the sequence (or nothing if none fits).
    pub(super) fn sse_instruction(&self, st: &mut Seq, factory: &mut InstructionInfoFactory) {
        let table = &self.sse_tables[(st.bits == 32) as usize];
        if table.groups.is_empty() {
            return;
        }
        for _ in 0..100 {
            let g = &table.groups[st.rng.below(table.groups.len() as u64) as usize];
            let code = g.codes[st.rng.below(g.codes.len() as u64) as usize];
            let ip = self.layout.seq() + st.code.len() as u64;
            let Some(ins) = self.build_sse(st, code) else {
                continue;
            };
            let Some(bytes) = encode(&ins, ip, st.bits) else {
                continue;
            };
            let Some(d) = decode_at_bits(&bytes, ip, st.bits) else {
                continue;
            };
            if d.len() != bytes.len() || d.code() != code {
                continue;
            }
            if !self.accept(st, factory, &d, &Kind::Encoded(Vec::new())) {
                continue;
            }
            self.sse_fixup(st, &d);
            if matches!(d.mnemonic(), M::Fxsave | M::Fxsave64) {
                // Its image holds fields the vendors fill differently (see `sse_fixup`):
                // nothing after it may read them.
                st.ended = true;
            }
            st.code.extend_from_slice(&bytes);
            st.insns.push(d);
            st.undef_list.push(st.undefined);
            st.vendor_list.push(st.vendor_bits);
            return;
        }
    }

    /// Fills the operands of an SSE-family form.
    fn build_sse(&self, st: &mut Seq, code: Code) -> Option<Instruction> {
        let oc = code.op_code();
        let m = oc.mnemonic();
        let mut ins = Instruction::default();
        ins.set_code(code);
        let size = oc.memory_size().size().max(1) as u64;
        let (align, aligned) = if size == 16 && !unaligned_ok(m) {
            (16, st.rng.chance(15, 16))
        } else {
            (size.min(16), false)
        };
        for (i, &k) in oc.op_kinds().iter().enumerate() {
            let i = i as u32;
            let width = match k {
                K::r8_or_mem => 1,
                K::r16_or_mem => 2,
                K::r32_or_mem | K::r32_reg | K::r32_rm => 4,
                _ => 8,
            };
            match k {
                K::xmm_reg | K::xmm_rm => {
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, pick_xmm(&mut st.rng, st.bits));
                }
                K::xmm_or_mem if st.rng.chance(1, 2) => {
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, pick_xmm(&mut st.rng, st.bits));
                }
                K::mm_reg | K::mm_rm => {
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, Register::MM0 + st.rng.below(8) as u32);
                }
                K::mm_or_mem if st.rng.chance(1, 2) => {
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, Register::MM0 + st.rng.below(8) as u32);
                }
                K::xmm_or_mem | K::mm_or_mem | K::mem => {
                    self.access_mem(st, &mut ins, i, size, align, aligned)
                }
                K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem
                    if st.rng.chance(1, 2) =>
                {
                    self.access_mem(st, &mut ins, i, size, align, aligned)
                }
                K::r8_or_mem
                | K::r16_or_mem
                | K::r32_or_mem
                | K::r64_or_mem
                | K::r32_reg
                | K::r64_reg
                | K::r32_rm
                | K::r64_rm => {
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, pick_reg(&mut st.rng, width, st.pinned, st.bits));
                }
                K::seg_rDI => {
                    // MASKMOVDQU stores at DS:rDI: only where RDI points into the buffer.
                    if !st.string {
                        return None;
                    }
                    ins.set_op_kind(
                        i,
                        if st.bits == 64 {
                            OpKind::MemorySegRDI
                        } else {
                            OpKind::MemorySegEDI
                        },
                    );
                }
                _ => {
                    let v = if st.rng.chance(1, 2) {
                        st.rng.below(20) as u8
                    } else {
                        st.rng.next_u64() as u8
                    };
                    ins.set_op_kind(i, OpKind::Immediate8);
                    ins.set_immediate8(v);
                }
            }
        }
        Some(ins)
    }

    /// Writes meaningful values at the memory operand an instruction reads: a valid MXCSR
    /// image for LDMXCSR (mostly), special floating-point values otherwise (half the time).
    fn sse_fixup(&self, st: &mut Seq, d: &Instruction) {
        let Some(i) = (0..d.op_count()).find(|&i| d.op_kind(i) == OpKind::Memory) else {
            return;
        };
        let regs = st.regs;
        let rsp = st.rsp;
        let Some(ea) = d.virtual_address(i, 0, |r, _, _| {
            if r.is_segment_register() {
                return Some(if r == Register::GS { GS_BASE } else { 0 });
            }
            let n = gpr_number(r)?;
            let v = if r == Register::RIP || r == Register::EIP {
                return Some(d.next_ip());
            } else if n == RSP {
                // PUSH and POP earlier in the sequence moved it: `regs` holds its start.
                rsp?
            } else {
                regs[n]
            };
            Some(v & (u64::MAX >> (64 - 8 * r.size() as u32)))
        }) else {
            if matches!(d.mnemonic(), M::Fxsave | M::Fxsave64) {
                // Where its vendor-specific bytes land is unknown: compare no memory.
                st.ignore.push(0..BUF_LEN);
            }
            return;
        };
        let Some(at) = ea.checked_sub(self.layout.buf()) else {
            return;
        };
        if at >= BUF_LEN as u64 {
            return;
        }
        if matches!(d.mnemonic(), M::Fxsave | M::Fxsave64) {
            // Not compared in the image: FOP and the x87 instruction and data pointers (bytes
            // 6–23), which AMD processors store only while an x87 exception is pending (AMD64
            // APM Vol. 5, FXSAVE) and recent Intel ones store without FCS/FDS (SDM Vol. 1
            // 8.1.8); and MXCSR_MASK (bytes 28–31), the processor's own (SDM Vol. 1 11.6.6):
            // AMD processors with misaligned SSE mode report bit 17 (MM), vx86 FFFFH as
            // Intel's do.
            let at = at as usize;
            for r in [6..24, 28..32] {
                st.ignore
                    .push((at + r.start).min(BUF_LEN)..(at + r.end).min(BUF_LEN));
            }
        }
        let bytes = if d.mnemonic() == M::Ldmxcsr {
            let mut mxcsr = random_mxcsr(&mut st.rng);
            if st.rng.chance(1, 8) {
                mxcsr |= reserved_mxcsr(&mut st.rng);
            }
            mxcsr.to_le_bytes().to_vec()
        } else if matches!(d.mnemonic(), M::Fxrstor | M::Fxrstor64) {
            let mut img = fx_image(&mut st.rng);
            if st.rng.chance(1, 8) {
                let bad = u32::from_le_bytes([img[24], img[25], img[26], img[27]])
                    | reserved_mxcsr(&mut st.rng);
                img[24..28].copy_from_slice(&bad.to_le_bytes());
            }
            img
        } else if st.rng.chance(1, 2) {
            value128(&mut st.rng).to_le_bytes()[..d.memory_size().size().clamp(1, 16)].to_vec()
        } else {
            return;
        };
        // An earlier instruction's operand (an MXCSR image for LDMXCSR) must stay as it was
        // written: a later fixup that overlaps it is dropped.
        let at = at as usize;
        let range = at..at + bytes.len();
        if st
            .fixups
            .iter()
            .any(|(o, b)| *o < range.end && range.start < o + b.len())
        {
            return;
        }
        st.fixups.push((at, bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::hostdiff::{sse_of, Family, Layout};

    /// The linear address of `d`'s memory operand, from the registers a sequence ended with
    /// (GS based at GS_BASE, the other segments at 0).
    fn final_ea(d: &Instruction, regs: &[u64]) -> u64 {
        d.virtual_address(0, 0, |r, _, _| {
            if r == Register::RIP || r == Register::EIP {
                return Some(d.next_ip());
            }
            if r.is_segment_register() {
                return Some(if r == Register::GS { GS_BASE } else { 0 });
            }
            let n = gpr_number(r)?;
            Some(regs[n] & (u64::MAX >> (64 - 8 * r.size() as u32)))
        })
        .unwrap()
    }

    #[test]
    fn the_table_covers_the_sse_mnemonics_and_leaves_out_the_excluded() {
        let t = SseTable::new(&Features::all(), 64);
        let m = t.mnemonics();
        for want in [
            M::Addps,
            M::Movdqa,
            M::Pshufb,
            M::Pcmpistri,
            M::Crc32,
            M::Pclmulqdq,
            M::Ldmxcsr,
            M::Maskmovdqu,
            M::Roundsd,
            M::Cvttsd2si,
        ] {
            assert!(m.contains(&want), "{want:?}");
        }
        for no in EXCLUDED {
            assert!(!m.contains(no), "{no:?}");
        }
        assert!(!m.contains(&M::Fistp) && !m.contains(&M::Vaddps));
        assert!(SseTable::new(&Features::default(), 64).groups.is_empty());
    }

    #[test]
    fn sse_cases_hold_sse_instructions_and_a_valid_mxcsr() {
        let g = Generator::new(Layout { base: 0x5000_0000 }, Features::all()).sse();
        let mut sse = 0;
        for i in 0..500 {
            let c = g.case(3, i);
            assert_eq!(c.family, Family::Sse);
            assert_eq!(sse_of(&c.fx).1 & !0xFFFF, 0);
            sse += c
                .insns
                .iter()
                .filter(|i| crate::cpu::exec::sse::claims(i))
                .count();
        }
        assert!(sse > 500, "{sse}");
    }

    #[test]
    fn fxsave_ends_the_sequence_and_its_vendor_fields_are_not_compared() {
        let g = Generator::new(Layout { base: 0x5000_0000 }, Features::all()).sse();
        let mut seen = 0;
        for i in 0..5000 {
            let c = g.case(11, i);
            let Some(k) = c
                .insns
                .iter()
                .position(|i| matches!(i.mnemonic(), M::Fxsave | M::Fxsave64))
            else {
                continue;
            };
            assert_eq!(
                k + 1,
                c.insns.len(),
                "case {i}: FXSAVE is the last instruction"
            );
            let d = &c.insns[k];
            let at = (d.memory_displacement64() as usize).wrapping_sub(0x5000_1000);
            let absolute = d.memory_base() == Register::None && d.memory_index() == Register::None;
            if absolute && at < BUF_LEN - 32 {
                for b in (at + 6..at + 24).chain(at + 28..at + 32) {
                    assert!(c.mem_ignore.iter().any(|r| r.contains(&b)), "case {i}");
                }
                assert!(
                    !c.mem_ignore.iter().any(|r| r.contains(&(at + 24))),
                    "MXCSR"
                );
                seen += 1;
            }
        }
        assert!(seen > 0);
    }

    /// The vendor-specific bytes of every FXSAVE that completes are left out of the
    /// comparison where FXSAVE really wrote them, however earlier instructions moved the
    /// registers of its address (a POP before an RSP-based FXSAVE shifted the image by two
    /// bytes past its ignored range: seed 1795566569612654082, case 184550 on the CI host);
    /// and a fixup never overwrites an earlier instruction's operand (a MOVNTI destination
    /// fixup overlapped an LDMXCSR image and made it an AMD-only valid MXCSR, case 14341).
    #[test]
    fn fxsave_images_are_ignored_where_they_land_and_ldmxcsr_images_stay_valid() {
        use crate::conformance::hostdiff::{emu::Emu, Event};
        let layout = Layout { base: 0x5000_0000 };
        let g = Generator::new(layout, Features::all()).sse();
        let mut emu = Emu::new(layout).unwrap();
        let (mut fxsaves, mut ldmxcsrs) = (0, 0);
        for i in 0..20_000 {
            let c = g.case(1_795_566_569_612_654_082, i);
            let out = emu.run(&c);
            let last = c.insns.last().unwrap();
            if matches!(last.mnemonic(), M::Fxsave | M::Fxsave64)
                && matches!(out.event, Event::Completed)
            {
                // FXSAVE ends its sequence and changes no register: the final registers
                // give its address.
                let at = final_ea(last, &out.regs).wrapping_sub(layout.buf()) as usize;
                for b in (at + 6..at + 24).chain(at + 28..at + 32) {
                    if b < BUF_LEN {
                        assert!(c.mem_ignore.iter().any(|r| r.contains(&b)), "case {i}");
                    }
                }
                fxsaves += 1;
            }
            // An LDMXCSR that raises #GP(0) in vx86 must do so on every processor: its image
            // has a bit of 18–31 set, not bit 16 or 17 alone (AMD accepts bit 17).
            let Event::Exception(e) = &out.event else {
                continue;
            };
            let Some(d) = c.insns.iter().find(|d| d.ip() == e.rip) else {
                continue;
            };
            if e.vector != Some(13) || d.mnemonic() != M::Ldmxcsr {
                continue;
            }
            let at = final_ea(d, &out.regs).wrapping_sub(layout.buf()) as usize;
            if at + 4 <= BUF_LEN {
                let v = u32::from_le_bytes(c.mem[at..at + 4].try_into().unwrap());
                assert_ne!(v & 0xFFFC_0000, 0, "case {i}: MXCSR image {v:#x}");
                ldmxcsrs += 1;
            }
        }
        assert!(fxsaves > 50, "{fxsaves}");
        assert!(ldmxcsrs > 5, "{ldmxcsrs}");
    }
}
