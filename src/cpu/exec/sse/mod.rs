//! MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 (with CRC32), PCLMULQDQ, and the SIMD state
//! instructions (LDMXCSR/STMXCSR, FXSAVE/FXRSTOR, XSAVE/XRSTOR/XSAVEOPT, XGETBV/XSETBV),
//! fences, prefetches and cache-line flushes.
//!
//! One file per family. Most instructions are a pure function of two 128-bit values and an
//! immediate ([`Simd`]); the generic handlers here fetch the operands for the exact form
//! (register, aligned or unaligned memory of 16, 8, 4, 2 or 1 bytes, an immediate) chosen at
//! decode time, after the availability checks every SSE instruction makes first:
//! CR0.EM or CR4.OSFXSR clear raise #UD, CR0.TS raises #NM (SDM Vol. 3A 2.5, 13.1.3).

/// Defines a [`Simd`] operation as a unit struct: `simd_op!(Name, |a, b, imm| body)`, with
/// an optional MMX form `op64 |a, b, imm| body`.
macro_rules! simd_op {
    ($(#[$doc:meta])* $name:ident, |$a:ident, $b:ident, $i:ident| $body:expr
        $(, op64 |$a6:ident, $b6:ident, $i6:ident| $body6:expr)?) => {
        #[doc = concat!("`", stringify!($name), "`.")]
        $(#[$doc])*
        pub struct $name;
        impl $crate::cpu::exec::sse::Simd for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn op($a: u128, $b: u128, $i: u8) -> u128 {
                $body
            }
            $(
                #[inline(always)]
                #[allow(unused_variables)]
                fn op64($a6: u64, $b6: u64, $i6: u8) -> u64 {
                    $body6
                }
            )?
        }
    };
}

/// Defines a [`fp::SimdFp`] operation as a unit struct: `fp_op!(Name, |ctx, a, b, imm| body)`.
macro_rules! fp_op {
    ($(#[$doc:meta])* $name:ident, |$c:ident, $a:ident, $b:ident, $i:ident| $body:expr) => {
        #[doc = concat!("`", stringify!($name), "`.")]
        $(#[$doc])*
        pub struct $name;
        impl $crate::cpu::exec::sse::fp::SimdFp for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn op(
                $c: &mut $crate::cpu::softfloat::Ctx,
                $a: u128,
                $b: u128,
                $i: u8,
            ) -> u128 {
                $body
            }
        }
    };
}

pub mod compare;
pub mod convert;
pub mod crc;
pub mod float;
pub mod fp;
pub mod int;
pub mod logic;
pub mod moves;
pub mod save;
pub mod shift;
pub mod shuffle;
pub mod state;
pub mod string;
pub mod x87_area;
pub mod xmm;

use iced_x86::{Mnemonic as M, OpKind, Register};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::state::Model;
use crate::cpu::{Cpu, Cr0, Cr4, Handler, Op, U16, U32, U64, U8};

pub use xmm::SseState;

/// A SIMD operation on the destination `a` and the source `b` (an immediate operand, if
/// any, in `imm`): the 128-bit XMM form, and the 64-bit MMX form where there is one.
pub trait Simd {
    /// The XMM form.
    fn op(a: u128, b: u128, imm: u8) -> u128;
    /// The MMX form: by default the XMM form on zero-extended operands, which is right for
    /// every lane-wise operation.
    #[inline(always)]
    fn op64(a: u64, b: u64, imm: u8) -> u64 {
        Self::op(a as u128, b as u128, imm) as u64
    }
}

/// Where the source operand comes from, as a const-generic selector.
pub mod src {
    /// An XMM register (`Op::rm`).
    pub const REG: u8 = 0;
    /// 16 bytes of memory that must be aligned.
    pub const M128A: u8 = 1;
    /// 16 bytes of memory, any alignment.
    pub const M128: u8 = 2;
    /// 8 bytes of memory, zero-extended.
    pub const M64: u8 = 3;
    /// 4 bytes of memory, zero-extended.
    pub const M32: u8 = 4;
    /// 2 bytes of memory, zero-extended.
    pub const M16: u8 = 5;
    /// 1 byte of memory, zero-extended.
    pub const M8: u8 = 6;
    /// The immediate (shift counts of the immediate forms).
    pub const IMM: u8 = 7;
}

/// Raises #UD or #NM unless SSE instructions may run now: CR0.EM set or CR4.OSFXSR clear
/// raise #UD, then CR0.TS raises #NM (SDM Vol. 3A Table 13-1).
#[inline(always)]
pub fn sse_ready(cpu: &Cpu) -> R {
    if cpu.cr0.intersects(Cr0::EM | Cr0::TS) || !cpu.cr4.contains(Cr4::OSFXSR) {
        return Err(sse_unavailable(cpu));
    }
    Ok(())
}

#[cold]
fn sse_unavailable(cpu: &Cpu) -> Fault {
    if cpu.cr0.contains(Cr0::EM) || !cpu.cr4.contains(Cr4::OSFXSR) {
        Fault::UD
    } else {
        Fault::NM
    }
}

/// XMM register `r`.
#[inline(always)]
pub fn xmm(cpu: &Cpu, r: u8) -> u128 {
    cpu.sse.xmm[(r & 15) as usize]
}

/// Sets XMM register `r`.
#[inline(always)]
pub fn set_xmm(cpu: &mut Cpu, r: u8, v: u128) {
    cpu.sse.xmm[(r & 15) as usize] = v;
}

/// Reads the source operand of form `S` (see [`src`]).
#[inline(always)]
pub fn load<const S: u8>(cpu: &mut Cpu, op: &Op) -> Result<u128, Fault> {
    match S {
        src::REG => Ok(xmm(cpu, op.rm)),
        src::M128A | src::M128 => {
            let off = cpu.ea(op);
            cpu.read128(op.seg, off, S == src::M128A)
        }
        src::M64 => Ok(cpu.read_ea::<U64>(op)? as u128),
        src::M32 => Ok(cpu.read_ea::<U32>(op)? as u128),
        src::M16 => Ok(cpu.read_ea::<U16>(op)? as u128),
        src::M8 => Ok(cpu.read_ea::<U8>(op)? as u128),
        _ => Ok(op.imm as u8 as u128),
    }
}

/// Writes 16 bytes at the op's memory operand (`aligned`: #GP(0) unless 16-byte aligned).
#[inline(always)]
pub fn store128(cpu: &mut Cpu, op: &Op, v: u128, aligned: bool) -> R {
    let off = cpu.ea(op);
    cpu.write128(op.seg, off, v, aligned)
}

/// `xmm[r] = O(xmm[r], source, imm)`.
fn xmm_op<O: Simd, const S: u8>(cpu: &mut Cpu, op: &Op) -> R {
    sse_ready(cpu)?;
    let b = load::<S>(cpu, op)?;
    let a = xmm(cpu, op.r);
    set_xmm(cpu, op.r, O::op(a, b, op.imm as u8));
    Ok(())
}

/// The register number of an XMM or MMX register operand.
pub fn vreg(r: Register) -> u8 {
    if r.is_xmm() || r.is_mm() {
        r.number() as u8
    } else {
        crate::cpu::decode::gpr_index(r).unwrap_or(crate::cpu::state::reg::ZERO)
    }
}

/// The source form of the instruction's operand `i` (register, memory of its size, or an
/// immediate), filling the op's register or effective-address fields. 16-byte memory
/// operands must be aligned unless `unaligned`.
pub fn source(d: &Decoded, op: &mut Op, i: u32, unaligned: bool) -> u8 {
    match d.ins.op_kind(i) {
        OpKind::Memory => {
            d.mem(op);
            match d.mem_size() {
                16 if unaligned => src::M128,
                16 => src::M128A,
                8 => src::M64,
                4 => src::M32,
                2 => src::M16,
                _ => src::M8,
            }
        }
        OpKind::Register => {
            op.rm = vreg(d.ins.op_register(i));
            src::REG
        }
        _ => {
            op.imm = d.ins.immediate(i);
            src::IMM
        }
    }
}

/// The immediate byte of the instruction, if it has one (its last operand).
pub fn imm8(d: &Decoded) -> u8 {
    let n = d.ins.op_count();
    if n > 0 && d.is_imm(n - 1) {
        d.ins.immediate(n - 1) as u8
    } else {
        0
    }
}

/// The handler of XMM operation `O` for source form `s`.
pub fn xmm_handler<O: Simd>(s: u8) -> Handler {
    match s {
        src::REG => xmm_op::<O, { src::REG }>,
        src::M128A => xmm_op::<O, { src::M128A }>,
        src::M128 => xmm_op::<O, { src::M128 }>,
        src::M64 => xmm_op::<O, { src::M64 }>,
        src::M32 => xmm_op::<O, { src::M32 }>,
        src::M16 => xmm_op::<O, { src::M16 }>,
        src::M8 => xmm_op::<O, { src::M8 }>,
        _ => xmm_op::<O, { src::IMM }>,
    }
}

/// Decodes `op0, op1 [, imm8]` for operation `O`: XMM (and MMX, where the instruction has an
/// MMX form) destination, register or memory source.
pub fn simd<O: Simd>(d: &Decoded, op: &mut Op) -> Option<Flow> {
    simd_with::<O>(d, op, false)
}

/// As [`simd`], for instructions whose 16-byte memory operand need not be aligned.
pub fn simd_unaligned<O: Simd>(d: &Decoded, op: &mut Op) -> Option<Flow> {
    simd_with::<O>(d, op, true)
}

fn simd_with<O: Simd>(d: &Decoded, op: &mut Op, unaligned: bool) -> Option<Flow> {
    let r0 = d.ins.op0_register();
    op.r = vreg(r0);
    let s = source(d, op, 1, unaligned);
    if s != src::IMM {
        op.imm = imm8(d) as u64;
    }
    op.run = if r0.is_mm() {
        mmx::handler::<O>(s)?
    } else if r0.is_xmm() {
        xmm_handler::<O>(s)
    } else {
        return None;
    };
    Some(Flow::Next)
}

pub mod mmx;

/// Whether an instruction is one of this module's: a legacy-encoded MMX, SSE…SSE4.2, FXSR,
/// XSAVE, XSAVEOPT, PCLMULQDQ, CLFLUSH or CLFLUSHOPT instruction (x87 instructions that
/// need SSE3, FISTTP, belong to the FPU).
pub fn claims(ins: &iced_x86::Instruction) -> bool {
    use iced_x86::CpuidFeature as F;
    if ins.encoding() != iced_x86::EncodingKind::Legacy {
        return false;
    }
    let f = ins.cpuid_features();
    !f.iter().any(|f| {
        matches!(
            f,
            F::FPU | F::FPU287 | F::FPU287XL_ONLY | F::FPU387 | F::FPU387SL_ONLY
        )
    }) && f.iter().any(|f| {
        matches!(
            f,
            F::MMX
                | F::SSE
                | F::SSE2
                | F::SSE3
                | F::SSSE3
                | F::SSE4_1
                | F::SSE4_2
                | F::FXSR
                | F::XSAVE
                | F::XSAVEOPT
                | F::PCLMULQDQ
                | F::CLFSH
                | F::CLFLUSHOPT
        )
    })
}

/// Decodes an instruction of this module (see [`claims`]), or returns `None` for #UD.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    if d.model != Model::Modern {
        return None;
    }
    family(d.ins.mnemonic())?(d, op)
}

/// The family decoder of a mnemonic.
fn family(m: M) -> Option<crate::cpu::decode::GroupDecode> {
    Some(match m {
        M::Pand
        | M::Pandn
        | M::Por
        | M::Pxor
        | M::Andps
        | M::Andpd
        | M::Andnps
        | M::Andnpd
        | M::Orps
        | M::Orpd
        | M::Xorps
        | M::Xorpd => logic::decode,
        M::Psllw
        | M::Pslld
        | M::Psllq
        | M::Psrlw
        | M::Psrld
        | M::Psrlq
        | M::Psraw
        | M::Psrad
        | M::Pslldq
        | M::Psrldq => shift::decode,
        M::Paddb
        | M::Paddw
        | M::Paddd
        | M::Paddq
        | M::Psubb
        | M::Psubw
        | M::Psubd
        | M::Psubq
        | M::Paddsb
        | M::Paddsw
        | M::Paddusb
        | M::Paddusw
        | M::Psubsb
        | M::Psubsw
        | M::Psubusb
        | M::Psubusw
        | M::Pmullw
        | M::Pmulhw
        | M::Pmulhuw
        | M::Pmulld
        | M::Pmuludq
        | M::Pmuldq
        | M::Pmaddwd
        | M::Pmaddubsw
        | M::Pmulhrsw
        | M::Pavgb
        | M::Pavgw
        | M::Psadbw
        | M::Mpsadbw
        | M::Pminub
        | M::Pminsw
        | M::Pmaxub
        | M::Pmaxsw
        | M::Pminsb
        | M::Pminsd
        | M::Pminuw
        | M::Pminud
        | M::Pmaxsb
        | M::Pmaxsd
        | M::Pmaxuw
        | M::Pmaxud
        | M::Pabsb
        | M::Pabsw
        | M::Pabsd
        | M::Psignb
        | M::Psignw
        | M::Psignd
        | M::Phaddw
        | M::Phaddd
        | M::Phaddsw
        | M::Phsubw
        | M::Phsubd
        | M::Phsubsw
        | M::Phminposuw
        | M::Pcmpeqb
        | M::Pcmpeqw
        | M::Pcmpeqd
        | M::Pcmpeqq
        | M::Pcmpgtb
        | M::Pcmpgtw
        | M::Pcmpgtd
        | M::Pcmpgtq
        | M::Ptest
        | M::Pclmulqdq => int::decode,
        M::Pshufd
        | M::Pshufhw
        | M::Pshuflw
        | M::Pshufw
        | M::Pshufb
        | M::Shufps
        | M::Shufpd
        | M::Unpcklps
        | M::Unpckhps
        | M::Unpcklpd
        | M::Unpckhpd
        | M::Punpcklbw
        | M::Punpcklwd
        | M::Punpckldq
        | M::Punpcklqdq
        | M::Punpckhbw
        | M::Punpckhwd
        | M::Punpckhdq
        | M::Punpckhqdq
        | M::Packsswb
        | M::Packssdw
        | M::Packuswb
        | M::Packusdw
        | M::Pblendw
        | M::Blendps
        | M::Blendpd
        | M::Blendvps
        | M::Blendvpd
        | M::Pblendvb
        | M::Insertps
        | M::Palignr
        | M::Movddup
        | M::Movsldup
        | M::Movshdup
        | M::Pmovsxbw
        | M::Pmovsxbd
        | M::Pmovsxbq
        | M::Pmovsxwd
        | M::Pmovsxwq
        | M::Pmovsxdq
        | M::Pmovzxbw
        | M::Pmovzxbd
        | M::Pmovzxbq
        | M::Pmovzxwd
        | M::Pmovzxwq
        | M::Pmovzxdq => shuffle::decode,
        M::Movaps
        | M::Movapd
        | M::Movdqa
        | M::Movups
        | M::Movupd
        | M::Movdqu
        | M::Lddqu
        | M::Movntps
        | M::Movntpd
        | M::Movntdq
        | M::Movntdqa
        | M::Movnti
        | M::Movntq
        | M::Maskmovdqu
        | M::Maskmovq
        | M::Movss
        | M::Movsd
        | M::Movd
        | M::Movq
        | M::Movq2dq
        | M::Movdq2q
        | M::Movlps
        | M::Movhps
        | M::Movlpd
        | M::Movhpd
        | M::Movhlps
        | M::Movlhps
        | M::Movmskps
        | M::Movmskpd
        | M::Pmovmskb
        | M::Pextrb
        | M::Pextrw
        | M::Pextrd
        | M::Pextrq
        | M::Extractps
        | M::Pinsrb
        | M::Pinsrw
        | M::Pinsrd
        | M::Pinsrq
        | M::Emms => moves::decode,
        M::Pcmpestri
        | M::Pcmpestri64
        | M::Pcmpestrm
        | M::Pcmpestrm64
        | M::Pcmpistri
        | M::Pcmpistrm => string::decode,
        M::Crc32 => crc::decode,
        M::Ldmxcsr
        | M::Stmxcsr
        | M::Fxsave
        | M::Fxsave64
        | M::Fxrstor
        | M::Fxrstor64
        | M::Xsave
        | M::Xsave64
        | M::Xsaveopt
        | M::Xsaveopt64
        | M::Xrstor
        | M::Xrstor64
        | M::Xgetbv
        | M::Xsetbv
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Clflush
        | M::Clflushopt => state::decode,
        M::Cmpps
        | M::Cmppd
        | M::Cmpss
        | M::Cmpsd
        | M::Comiss
        | M::Comisd
        | M::Ucomiss
        | M::Ucomisd => compare::decode,
        M::Cvtdq2ps
        | M::Cvtps2dq
        | M::Cvttps2dq
        | M::Cvtdq2pd
        | M::Cvtpd2dq
        | M::Cvttpd2dq
        | M::Cvtps2pd
        | M::Cvtpd2ps
        | M::Cvtss2sd
        | M::Cvtsd2ss
        | M::Cvtsi2ss
        | M::Cvtsi2sd
        | M::Cvtss2si
        | M::Cvttss2si
        | M::Cvtsd2si
        | M::Cvttsd2si
        | M::Cvtpi2ps
        | M::Cvtps2pi
        | M::Cvttps2pi
        | M::Cvtpi2pd
        | M::Cvtpd2pi
        | M::Cvttpd2pi => convert::decode,
        _ => float::decode,
    })
}
