//! The sequence generator: random sequences of one to four user-mode general-purpose integer
//! instructions, built with iced-x86's encoder from every 64-bit-mode (or, for a quarter of
//! the cases, 32-bit-mode) form of the mnemonics below (so 8/16/32/64-bit widths, register
//! and memory operands, implicit-operand forms and immediates are all covered), plus raw-byte
//! string instructions, ENTER/LEAVE, XLAT and opcodes that are invalid in 64-bit mode.
//!
//! Every instruction is decoded again with iced to validate it. The generator keeps the
//! sequence safe and its result defined:
//! - memory operands address the scratch buffer (occasionally across into the unmapped guard
//!   page, to provoke #PF) through a *base* register that no instruction may write, an
//!   *index* register holding a small value (also the bit offset of BT* with a memory
//!   operand), RIP-relative displacements or `[disp32]`;
//! - RSP points into the buffer and only stack instructions change it; string instructions
//!   appear only in sequences whose RSI/RDI/RCX hold buffer pointers and a small count, and
//!   ENTER/LEAVE only where RBP holds a frame pointer;
//! - an instruction that reads a flag that an earlier one left undefined is not generated, and
//!   for each position the set of undefined flags is recorded for the comparison (SDM Vol. 1
//!   Appendix A and each instruction's "Flags Affected");
//! - forms whose result is undefined (BSWAP r16, SHLD/SHRD r16 by more than 16) are avoided.

use iced_x86::{
    Code, CpuidFeature, Decoder, DecoderOptions, Encoder, EncodingKind, FlowControl, Instruction,
    InstructionInfoFactory, Mnemonic as M, OpAccess, OpCodeOperandKind as K, OpKind, Register,
    RflagsBits,
};

use super::{Case, Family, Layout, BUF_LEN, GS_BASE, MAX_CODE};

mod sse;
use crate::cpu::flags::bit;

/// The splitmix64 finalizer: spreads the bits of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic random number generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A value biased towards the edge cases of integer arithmetic.
    pub fn value(&mut self) -> u64 {
        const EDGES: [u64; 12] = [
            0x7F,
            0x80,
            0xFF,
            0x7FFF,
            0x8000,
            0xFFFF,
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_FFFF,
            0x7FFF_FFFF_FFFF_FFFF,
            0x8000_0000_0000_0000,
            0x1_0000_0000,
        ];
        match self.below(16) {
            0..=5 => self.next_u64(),
            6 => 0,
            7 => u64::MAX,
            8 => self.below(256),
            9 => (self.below(256) as i64 - 128) as u64,
            10 => 1 << self.below(64),
            11 => EDGES[self.below(12) as usize]
                .wrapping_add(self.below(3))
                .wrapping_sub(1),
            12 => self.next_u64() & 0xFFFF_FFFF,
            13 => self.next_u64() & 0xFFFF,
            _ => self.next_u64() >> self.below(64),
        }
    }
}

/// Host CPU features that decide which instructions may be generated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR, TZCNT).
    pub bmi1: bool,
    /// BMI2 (BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX).
    pub bmi2: bool,
    /// ADX (ADCX, ADOX).
    pub adx: bool,
    /// MOVBE.
    pub movbe: bool,
    /// POPCNT.
    pub popcnt: bool,
    /// LZCNT (ABM).
    pub lzcnt: bool,
    /// CMPXCHG16B.
    pub cx16: bool,
    /// LAHF/SAHF in 64-bit mode.
    pub lahf_lm: bool,
    /// SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 and CLFLUSH.
    pub simd: bool,
    /// PCLMULQDQ.
    pub pclmulqdq: bool,
    /// CLFLUSHOPT.
    pub clflushopt: bool,
    /// The host is an Intel processor, whose behaviour vx86 models where the vendors differ
    /// (elsewhere those register bits are not compared, or the form is not generated).
    pub intel: bool,
    /// The host runs 32-bit code in compatibility mode (Linux's 32-bit user code segment).
    pub compat: bool,
}

impl Features {
    /// Every optional feature present.
    pub fn all() -> Features {
        Features {
            bmi1: true,
            bmi2: true,
            adx: true,
            movbe: true,
            popcnt: true,
            lzcnt: true,
            cx16: true,
            lahf_lm: true,
            simd: true,
            pclmulqdq: true,
            clflushopt: true,
            intel: true,
            compat: true,
        }
    }

    /// Whether an instruction needing `f` may be generated.
    fn has(&self, f: CpuidFeature) -> bool {
        use CpuidFeature as F;
        match f {
            F::INTEL8086
            | F::INTEL186
            | F::INTEL286
            | F::INTEL386
            | F::INTEL486
            | F::X64
            | F::CMOV
            | F::CX8
            | F::MULTIBYTENOP
            | F::PAUSE => true,
            F::BMI1 => self.bmi1,
            F::BMI2 => self.bmi2,
            F::ADX => self.adx,
            F::MOVBE => self.movbe,
            F::POPCNT => self.popcnt,
            F::LZCNT => self.lzcnt,
            F::CMPXCHG16B => self.cx16,
            F::SSE | F::SSE2 | F::SSE3 | F::SSSE3 | F::SSE4_1 | F::SSE4_2 | F::CLFSH => self.simd,
            F::PCLMULQDQ => self.pclmulqdq,
            F::CLFLUSHOPT => self.clflushopt,
            _ => false,
        }
    }
}

/// The mnemonics generated from iced's table of encodings.
const ENCODED: &[M] = &[
    M::Add,
    M::Or,
    M::Adc,
    M::Sbb,
    M::And,
    M::Sub,
    M::Xor,
    M::Cmp,
    M::Test,
    M::Inc,
    M::Dec,
    M::Neg,
    M::Not,
    M::Shl,
    M::Sal,
    M::Shr,
    M::Sar,
    M::Rol,
    M::Ror,
    M::Rcl,
    M::Rcr,
    M::Shld,
    M::Shrd,
    M::Mul,
    M::Imul,
    M::Div,
    M::Idiv,
    M::Bt,
    M::Bts,
    M::Btr,
    M::Btc,
    M::Bsf,
    M::Bsr,
    M::Popcnt,
    M::Lzcnt,
    M::Tzcnt,
    M::Bswap,
    M::Andn,
    M::Bextr,
    M::Blsi,
    M::Blsmsk,
    M::Blsr,
    M::Bzhi,
    M::Mulx,
    M::Pdep,
    M::Pext,
    M::Rorx,
    M::Sarx,
    M::Shlx,
    M::Shrx,
    M::Adcx,
    M::Adox,
    M::Mov,
    M::Movzx,
    M::Movsx,
    M::Movsxd,
    M::Xchg,
    M::Xadd,
    M::Cmpxchg,
    M::Cmpxchg8b,
    M::Cmpxchg16b,
    M::Lea,
    M::Cbw,
    M::Cwde,
    M::Cdqe,
    M::Cwd,
    M::Cdq,
    M::Cqo,
    M::Lahf,
    M::Sahf,
    M::Movbe,
    M::Cmovo,
    M::Cmovno,
    M::Cmovb,
    M::Cmovae,
    M::Cmove,
    M::Cmovne,
    M::Cmovbe,
    M::Cmova,
    M::Cmovs,
    M::Cmovns,
    M::Cmovp,
    M::Cmovnp,
    M::Cmovl,
    M::Cmovge,
    M::Cmovle,
    M::Cmovg,
    M::Seto,
    M::Setno,
    M::Setb,
    M::Setae,
    M::Sete,
    M::Setne,
    M::Setbe,
    M::Seta,
    M::Sets,
    M::Setns,
    M::Setp,
    M::Setnp,
    M::Setl,
    M::Setge,
    M::Setle,
    M::Setg,
    M::Push,
    M::Pop,
    M::Pushf,
    M::Pushfq,
    M::Clc,
    M::Stc,
    M::Cmc,
    M::Cld,
    M::Std,
    M::Nop,
    M::Pause,
];

/// Mnemonics that exist only outside 64-bit mode, generated in compatibility mode as well.
const LEGACY: &[M] = &[
    M::Daa,
    M::Das,
    M::Aaa,
    M::Aas,
    M::Aam,
    M::Aad,
    M::Salc,
    M::Pusha,
    M::Pushad,
    M::Popa,
    M::Popad,
    M::Pushfd,
    M::Bound,
    M::Arpl,
    M::Into,
];

/// String instructions, generated as raw bytes: (mnemonic, opcode of the byte form).
const STRINGS: &[(M, u8)] = &[
    (M::Movsb, 0xA4),
    (M::Movsw, 0xA5),
    (M::Movsd, 0xA5),
    (M::Movsq, 0xA5),
    (M::Cmpsb, 0xA6),
    (M::Cmpsw, 0xA7),
    (M::Cmpsd, 0xA7),
    (M::Cmpsq, 0xA7),
    (M::Stosb, 0xAA),
    (M::Stosw, 0xAB),
    (M::Stosd, 0xAB),
    (M::Stosq, 0xAB),
    (M::Lodsb, 0xAC),
    (M::Lodsw, 0xAD),
    (M::Lodsd, 0xAD),
    (M::Lodsq, 0xAD),
    (M::Scasb, 0xAE),
    (M::Scasw, 0xAF),
    (M::Scasd, 0xAF),
    (M::Scasq, 0xAF),
];

/// Opcodes that are invalid in 64-bit mode (SDM Vol. 2 Appendix A, "i64"), and UD2: #UD.
const INVALID: &[&[u8]] = &[
    &[0x06],
    &[0x07],
    &[0x0E],
    &[0x16],
    &[0x17],
    &[0x1E],
    &[0x1F],
    &[0x27],
    &[0x2F],
    &[0x37],
    &[0x3F],
    &[0x60],
    &[0x61],
    &[0x82, 0xC0, 0x01],
    &[0xCE],
    &[0xD4, 0x0A],
    &[0xD5, 0x0A],
    &[0xD6],
    &[0x0F, 0x0B],
];

/// Opcodes that raise #UD in compatibility mode: UD2, and LEA with a register operand.
const INVALID32: &[&[u8]] = &[&[0x0F, 0x0B], &[0x8D, 0xC0]];

/// How a group's instructions are made.
#[derive(Clone, Debug)]
enum Kind {
    /// From iced's encodings of the mnemonic.
    Encoded(Vec<Code>),
    /// A string instruction with its byte-form opcode.
    String(u8),
    /// XLAT (needs RBX to be the base register).
    Xlat,
    /// ENTER (needs RBP to hold a frame pointer for nesting levels above 0).
    Enter,
    /// LEAVE (needs RBP to hold a frame pointer).
    Leave,
    /// An opcode that raises #UD in 64-bit mode.
    Invalid,
}

#[derive(Clone, Debug)]
struct Group {
    mnemonic: M,
    kind: Kind,
}

const R64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
const R32: [Register; 16] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
    Register::R8D,
    Register::R9D,
    Register::R10D,
    Register::R11D,
    Register::R12D,
    Register::R13D,
    Register::R14D,
    Register::R15D,
];
const R16: [Register; 16] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::SP,
    Register::BP,
    Register::SI,
    Register::DI,
    Register::R8W,
    Register::R9W,
    Register::R10W,
    Register::R11W,
    Register::R12W,
    Register::R13W,
    Register::R14W,
    Register::R15W,
];
const R8: [Register; 16] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::SPL,
    Register::BPL,
    Register::SIL,
    Register::DIL,
    Register::R8L,
    Register::R9L,
    Register::R10L,
    Register::R11L,
    Register::R12L,
    Register::R13L,
    Register::R14L,
    Register::R15L,
];
const HIGH8: [Register; 4] = [Register::AH, Register::CH, Register::DH, Register::BH];

const RCX: usize = 1;
const RBX: usize = 3;
const RSP: usize = 4;
const RBP: usize = 5;
const RSI: usize = 6;
const RDI: usize = 7;

/// The register of `width` bytes with encoding number `n`.
fn sized_reg(width: usize, n: usize) -> Register {
    match width {
        1 => R8[n],
        2 => R16[n],
        4 => R32[n],
        _ => R64[n],
    }
}

/// The number (0–15) of the 64-bit register that contains `r`, if it is a general register.
pub fn gpr_number(r: Register) -> Option<usize> {
    let full = r.full_register();
    R64.iter().position(|&x| x == full)
}

/// Converts iced's [`RflagsBits`] to RFLAGS bit positions (the six arithmetic flags and DF).
pub fn rflags_from_iced(f: u32) -> u64 {
    let mut v = 0;
    for (i, r) in [
        (RflagsBits::CF, bit::CF),
        (RflagsBits::PF, bit::PF),
        (RflagsBits::AF, bit::AF),
        (RflagsBits::ZF, bit::ZF),
        (RflagsBits::SF, bit::SF),
        (RflagsBits::OF, bit::OF),
        (RflagsBits::DF, bit::DF),
        (RflagsBits::AC, bit::AC),
    ] {
        if f & i != 0 {
            v |= r;
        }
    }
    v
}

/// Whether the generator can fill an operand of this kind.
fn supported_kind(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_rm
            | K::r32_opcode
            | K::r32_vvvv
            | K::r64_reg
            | K::r64_rm
            | K::r64_opcode
            | K::r64_vvvv
            | K::mem
            | K::mem_offs
            | K::al
            | K::cl
            | K::ax
            | K::eax
            | K::rax
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
    )
}

/// Whether `code` is a 64-bit-mode general-purpose form the generator can build and the host
/// can run.
fn usable(code: Code, features: &Features, bits: u32) -> bool {
    let oc = code.op_code();
    oc.is_instruction()
        && if bits == 64 { oc.mode64() } else { oc.mode32() }
        && matches!(oc.encoding(), EncodingKind::Legacy | EncodingKind::VEX)
        && oc.decoder_option() == DecoderOptions::NONE
        && !oc.is_privileged()
        // SDM Vol. 2A BSWAP: "the result is undefined" with a 16-bit operand.
        && code != Code::Bswap_r16
        && (features.lahf_lm || !matches!(code, Code::Lahf | Code::Sahf))
        && code.cpuid_features().iter().all(|&f| features.has(f))
        && oc.op_kinds().iter().all(|&k| supported_kind(k))
}

/// The mnemonics whose flags depend on the shift count (a masked count of 0 changes nothing).
fn is_shift(m: M) -> bool {
    matches!(
        m,
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd
    )
}

/// Builds [`Case`]s: for a given seed and index always the same one.
pub struct Generator {
    layout: Layout,
    intel: bool,
    /// Whether compatibility-mode (32-bit) sequences are generated too.
    compat: bool,
    /// The instruction groups for 64-bit and for 32-bit code.
    tables: [Table; 2],
    /// Whether the sequences are of the SSE family (see [`Generator::sse`]).
    sse: bool,
    /// The SSE-family instruction groups for 64-bit and for 32-bit code.
    sse_tables: [sse::SseTable; 2],
}

/// The instruction groups of one code size.
struct Table {
    groups: Vec<Group>,
    /// Indices of the string instruction groups.
    strings: Vec<usize>,
}

impl Table {
    fn new(features: &Features, bits: u32) -> Table {
        let mut groups: Vec<Group> = Vec::new();
        let legacy: &[M] = if bits == 32 { LEGACY } else { &[] };
        for &m in ENCODED.iter().chain(legacy) {
            let codes: Vec<Code> = Code::values()
                .filter(|c| c.mnemonic() == m && usable(*c, features, bits))
                .collect();
            if !codes.is_empty() {
                groups.push(Group {
                    mnemonic: m,
                    kind: Kind::Encoded(codes),
                });
            }
        }
        let mut strings = Vec::new();
        for &(m, op) in STRINGS {
            // No REX.W outside 64-bit mode (0x48 is DEC EAX there).
            if bits == 32 && string_width_prefix(m) == Some(0x48) {
                continue;
            }
            strings.push(groups.len());
            groups.push(Group {
                mnemonic: m,
                kind: Kind::String(op),
            });
        }
        for (mnemonic, kind) in [
            (M::Xlatb, Kind::Xlat),
            (M::Enter, Kind::Enter),
            (M::Leave, Kind::Leave),
            (M::INVALID, Kind::Invalid),
        ] {
            groups.push(Group { mnemonic, kind });
        }
        Table { groups, strings }
    }
}

/// The state of one sequence while it is generated.
struct Seq {
    /// Code size: 64, or 32 for compatibility mode.
    bits: u32,
    rng: Rng,
    regs: [u64; 16],
    /// Registers no instruction may write (bit n: register n), except where allowed.
    pinned: u16,
    /// The base register of memory operands and its value.
    base: usize,
    /// The index register (small value) of memory operands and BT* bit offsets.
    index: usize,
    string: bool,
    frame: bool,
    rbp_valid: bool,
    rcx_written: bool,
    /// RSP before the next instruction, while the generator can follow it (PUSH and POP
    /// move it by known amounts; ENTER and LEAVE end that).
    rsp: Option<u64>,
    undefined: u64,
    /// Register bits whose value the vendors define differently (bit n of entry r: bit n of
    /// register r); no instruction reads them as a whole register.
    vendor_bits: [u64; 16],
    code: Vec<u8>,
    insns: Vec<Instruction>,
    undef_list: Vec<u64>,
    vendor_list: Vec<[u64; 16]>,
    /// An instruction that always faults was placed: nothing after it would run.
    ended: bool,
    /// Bytes written into the scratch buffer after the instructions are chosen (offset in
    /// the buffer, bytes): operands an instruction needs to be meaningful, such as a valid
    /// MXCSR image for LDMXCSR or special floating-point values.
    fixups: Vec<(usize, Vec<u8>)>,
}

impl Generator {
    /// A generator for sequences in `layout` using only what `features` allow.
    pub fn new(layout: Layout, features: Features) -> Generator {
        Generator {
            layout,
            intel: features.intel,
            compat: features.compat,
            tables: [Table::new(&features, 64), Table::new(&features, 32)],
            sse: false,
            sse_tables: [
                sse::SseTable::new(&features, 64),
                sse::SseTable::new(&features, 32),
            ],
        }
    }

    /// The same generator making sequences of the SSE family.
    pub fn sse(mut self) -> Generator {
        self.sse = true;
        self
    }

    /// The mnemonics this generator produces in 64-bit (`bits` 64) or 32-bit code.
    pub fn mnemonics(&self, bits: u32) -> Vec<M> {
        if self.sse {
            return self.sse_tables[(bits == 32) as usize].mnemonics();
        }
        self.table(bits).groups.iter().map(|g| g.mnemonic).collect()
    }

    fn table(&self, bits: u32) -> &Table {
        &self.tables[(bits == 32) as usize]
    }

    /// Case `index` of the run with `seed`.
    pub fn case(&self, seed: u64, index: u64) -> Case {
        let mut rng = Rng::new(mix(seed ^ mix(index.wrapping_add(0x5EED))));
        let bits = if self.compat && rng.chance(1, 4) {
            32
        } else {
            64
        };
        let nregs = if bits == 32 { 8 } else { 16 };
        let buf = self.layout.buf();
        let mut rflags = bit::FIXED1 | bit::IF | (rng.next_u64() & bit::ARITH);
        if rng.chance(1, 4) {
            rflags |= bit::DF;
        }
        // Alignment checking (CR0.AM is set on both sides): misaligned accesses raise #AC.
        if rng.chance(1, 16) {
            rflags |= bit::AC;
        }
        let mut regs = [0u64; 16];
        for r in regs.iter_mut() {
            *r = rng.value();
        }
        let string = rng.chance(1, 4);
        let frame = rng.chance(1, 8);
        let mut pinned: u16 = 1 << RSP;
        if string {
            pinned |= 1 << RSI | 1 << RDI | 1 << RCX;
        }
        if frame {
            pinned |= 1 << RBP;
        }
        let pick_free = |rng: &mut Rng, pinned: u16| loop {
            let n = rng.below(nregs) as usize;
            if pinned & (1 << n) == 0 {
                return n;
            }
        };
        let base = if pinned & (1 << RBX) == 0 && rng.chance(1, 6) {
            RBX
        } else {
            pick_free(&mut rng, pinned)
        };
        pinned |= 1 << base;
        let index_reg = pick_free(&mut rng, pinned);
        pinned |= 1 << index_reg;
        let len = BUF_LEN as u64;
        regs[base] = buf + 0x100 + rng.below(len - 0x200);
        regs[index_reg] = if rng.chance(1, 4) {
            (rng.below(24) as i64 - 16) as u64
        } else {
            rng.below(48)
        };
        // The stack: in the middle of a page, or right at the page boundary (pushes and
        // pops straddle it), sometimes misaligned.
        let top = if rng.chance(1, 4) {
            0x1000 + 8 * rng.below(4)
        } else {
            0x1800
        };
        regs[RSP] = buf + top - 8 * rng.below(8);
        if rng.chance(1, 8) {
            regs[RSP] -= rng.below(8);
        }
        if string {
            let ptr = |rng: &mut Rng| {
                if rng.chance(1, 4) {
                    buf + 0x1000 - 0x20 + rng.below(0x40)
                } else {
                    buf + 0x100 + rng.below(len - 0x200)
                }
            };
            regs[RSI] = ptr(&mut rng);
            regs[RDI] = ptr(&mut rng);
            regs[RCX] = rng.below(9);
        }
        if frame {
            regs[RBP] = regs[RSP] + 8 * rng.below(5);
        }
        let mut mem = Box::new([0u8; BUF_LEN]);
        for chunk in mem.chunks_mut(8) {
            let v = if rng.chance(1, 8) {
                rng.value()
            } else {
                rng.next_u64()
            };
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        let mut st = Seq {
            bits,
            rng,
            regs,
            pinned,
            base,
            index: index_reg,
            string,
            frame,
            rbp_valid: frame,
            rcx_written: false,
            rsp: Some(regs[RSP]),
            undefined: 0,
            vendor_bits: [0; 16],
            code: Vec::new(),
            insns: Vec::new(),
            undef_list: vec![0],
            vendor_list: vec![[0; 16]],
            ended: false,
            fixups: Vec::new(),
        };
        let n = 1 + st.rng.below(4);
        let mut factory = InstructionInfoFactory::new();
        for _ in 0..n {
            if st.ended {
                break;
            }
            if self.sse && !st.rng.chance(1, 8) {
                self.sse_instruction(&mut st, &mut factory);
            } else {
                self.instruction(&mut st, &mut factory);
            }
        }
        if st.insns.is_empty() {
            let ins = decode_at_bits(&[0x90], self.layout.seq(), bits).expect("NOP decodes");
            st.code.push(0x90);
            st.insns.push(ins);
            st.undef_list.push(0);
            st.vendor_list.push([0; 16]);
        }
        for (at, bytes) in &st.fixups {
            let end = (at + bytes.len()).min(BUF_LEN);
            if *at < end {
                mem[*at..end].copy_from_slice(&bytes[..end - at]);
            }
        }
        let (family, fx) = if self.sse {
            let mut r = Rng::new(mix(seed ^ mix(index ^ 0x55E0_55E0)));
            (Family::Sse, sse::initial_fx(&mut r))
        } else {
            (Family::Int, super::default_fx())
        };
        Case {
            index,
            bits,
            code: st.code,
            insns: st.insns,
            regs: st.regs,
            rflags,
            mem,
            sw_undefined: vec![0; st.undef_list.len()],
            undefined: st.undef_list,
            vendor_bits: st.vendor_list,
            family,
            fx,
            last_bit: false,
            mem_ignore: Vec::new(),
        }
    }

    /// Appends one instruction to the sequence (or nothing if no candidate fits).
    fn instruction(&self, st: &mut Seq, factory: &mut InstructionInfoFactory) {
        let table = self.table(st.bits);
        for _ in 0..200 {
            let g = if st.string && st.rng.chance(1, 3) {
                &table.groups[table.strings[st.rng.below(table.strings.len() as u64) as usize]]
            } else {
                &table.groups[st.rng.below(table.groups.len() as u64) as usize]
            };
            let ip = self.layout.seq() + st.code.len() as u64;
            let made = match &g.kind {
                Kind::Encoded(codes) => {
                    let code = codes[st.rng.below(codes.len() as u64) as usize];
                    (0..4).find_map(|attempt| {
                        let ins = self.build(st, code, attempt)?;
                        let bytes = encode(&ins, ip, st.bits)?;
                        let d = decode_at_bits(&bytes, ip, st.bits)?;
                        let lock_ud = ins.has_lock_prefix() && d.code() == Code::INVALID;
                        if d.len() != bytes.len() || (d.code() != code && !lock_ud) {
                            return None;
                        }
                        self.accept(st, factory, &d, &g.kind).then_some((bytes, d))
                    })
                }
                _ => {
                    let Some(bytes) = self.raw(st, g) else {
                        continue;
                    };
                    let Some(d) = decode_at_bits(&bytes, ip, st.bits) else {
                        continue;
                    };
                    let invalid = matches!(g.kind, Kind::Invalid);
                    if (!invalid && d.len() != bytes.len())
                        || !self.accept(st, factory, &d, &g.kind)
                    {
                        continue;
                    }
                    Some((bytes, d))
                }
            };
            let Some((bytes, d)) = made else { continue };
            if d.code() == Code::INVALID || d.code() == Code::Ud2 {
                st.ended = true;
            }
            match (&g.kind, d.mnemonic()) {
                (Kind::Enter, _) => st.rbp_valid = st.rbp_valid || !bytes.starts_with(&[0x66]),
                (Kind::Leave, _) => st.rbp_valid = false,
                _ => {}
            }
            st.code.extend_from_slice(&bytes);
            st.insns.push(d);
            st.undef_list.push(st.undefined);
            st.vendor_list.push(st.vendor_bits);
            return;
        }
    }

    /// Checks a decoded candidate against the sequence's rules and, if it passes, updates the
    /// undefined-flag and register-write state.
    fn accept(
        &self,
        st: &mut Seq,
        factory: &mut InstructionInfoFactory,
        d: &Instruction,
        kind: &Kind,
    ) -> bool {
        if st.code.len() + d.len() > MAX_CODE {
            return false;
        }
        let invalid = d.code() == Code::INVALID || d.code() == Code::Ud2;
        // INTO traps (#OF) when OF is set and otherwise goes on, like any instruction.
        if !invalid && d.flow_control() != FlowControl::Next && d.mnemonic() != M::Into {
            return false;
        }
        if invalid {
            return true;
        }
        let m = d.mnemonic();
        // Registers written: pinned ones only where the instruction's purpose allows it.
        let mut writes_rcx = false;
        let mut defined: u16 = 0;
        for ur in factory.info(d).used_registers() {
            let Some(n) = gpr_number(ur.register()) else {
                continue;
            };
            let wide = ur.register().size() >= 4;
            // A whole-register read of vendor-specific bits would spread them.
            if ur.register().size() == 8
                && st.vendor_bits[n] != 0
                && matches!(
                    ur.access(),
                    OpAccess::Read
                        | OpAccess::CondRead
                        | OpAccess::ReadWrite
                        | OpAccess::ReadCondWrite
                )
            {
                return false;
            }
            if wide && matches!(ur.access(), OpAccess::Write | OpAccess::ReadWrite) {
                defined |= 1 << n;
            }
            if !matches!(
                ur.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            ) {
                continue;
            }
            let Some(n) = gpr_number(ur.register()) else {
                continue;
            };
            writes_rcx |= n == RCX;
            if st.pinned & (1 << n) == 0 {
                continue;
            }
            let stack = matches!(
                m,
                M::Push | M::Pop | M::Pushf | M::Pushfq | M::Enter | M::Leave
            );
            let allowed = match n {
                RSP => stack && !(m == M::Pop && d.op0_kind() == OpKind::Register),
                RSI | RDI | RCX => matches!(kind, Kind::String(_)),
                RBP => matches!(kind, Kind::Enter | Kind::Leave),
                _ => false,
            };
            if !allowed {
                return false;
            }
        }
        if matches!(kind, Kind::Leave) && !st.rbp_valid {
            return false;
        }
        if matches!(kind, Kind::Enter) && d.immediate8_2nd() & 31 != 0 && !st.rbp_valid {
            return false;
        }
        // Flags: never consume an undefined flag; record which ones stay undefined.
        let read = rflags_from_iced(d.rflags_read());
        if read & st.undefined != 0 {
            return false;
        }
        let mut undefined = rflags_from_iced(d.rflags_undefined());
        let mut definite = rflags_from_iced(d.rflags_modified());
        if is_shift(m) {
            let width = if d.op0_kind() == OpKind::Register {
                d.op0_register().size()
            } else {
                d.memory_size().size()
            } * 8;
            let last = d.op_count() - 1;
            let count = if d.op_kind(last) == OpKind::Register {
                (!st.rcx_written).then_some(st.regs[RCX] & 0xFF)
            } else {
                Some(d.immediate(last))
            };
            let mask = if width == 64 { 0x3F } else { 0x1F };
            let narrow_shift = matches!(m, M::Shl | M::Sal | M::Shr) && width < 32;
            match count.map(|c| c & mask) {
                // SDM Vol. 2B SAL/SAR/SHL/SHR etc.: a masked count of 0 affects no flag.
                Some(0) => {
                    definite = 0;
                    undefined = 0;
                }
                Some(c) => {
                    // SDM Vol. 2B SHLD/SHRD: a count above the operand size leaves the result
                    // and flags undefined (only possible with 16-bit operands).
                    if matches!(m, M::Shld | M::Shrd) && c > width as u64 {
                        return false;
                    }
                    // SAL/SHL/SHR: CF is undefined when the count is at least the width.
                    if narrow_shift && c >= width as u64 {
                        undefined |= bit::CF;
                    }
                }
                None => {
                    if matches!(m, M::Shld | M::Shrd) && width == 16 {
                        return false;
                    }
                    definite = 0;
                    if narrow_shift {
                        undefined |= bit::CF;
                    }
                }
            }
        }
        // A repeated CMPS/SCAS with a zero count compares nothing and leaves the flags alone.
        if (d.has_rep_prefix() || d.has_repne_prefix())
            && matches!(
                m,
                M::Cmpsb
                    | M::Cmpsw
                    | M::Cmpsd
                    | M::Cmpsq
                    | M::Scasb
                    | M::Scasw
                    | M::Scasd
                    | M::Scasq
            )
        {
            definite = 0;
        }
        st.undefined = (st.undefined & !definite) | undefined;
        st.rcx_written |= writes_rcx;
        st.rsp = match m {
            M::Enter | M::Leave => None,
            _ => st
                .rsp
                .map(|v| v.wrapping_add(d.stack_pointer_increment() as i64 as u64)),
        };
        for n in 0..16 {
            if defined & (1 << n) != 0 {
                st.vendor_bits[n] = 0;
            }
        }
        // BSF/BSR with a zero source and CMPXCHG that fails leave a 32-bit register
        // destination "unchanged": Intel processors zero-extend it (SDM Vol. 2A writes DEST),
        // AMD processors keep all 64 bits.
        if !self.intel
            && matches!(m, M::Bsf | M::Bsr | M::Cmpxchg)
            && d.op0_kind() == OpKind::Register
            && d.op0_register().size() == 4
        {
            if let Some(n) = gpr_number(d.op0_register()) {
                st.vendor_bits[n] |= 0xFFFF_FFFF_0000_0000;
            }
        }
        true
    }

    /// Fills the operands of `code`; `attempt > 0` keeps every register operand off the
    /// pinned registers.
    fn build(&self, st: &mut Seq, code: Code, attempt: u32) -> Option<Instruction> {
        let oc = code.op_code();
        let m = oc.mnemonic();
        let mut ins = Instruction::default();
        ins.set_code(code);
        let avoid = if attempt > 0 || m == M::Pop {
            st.pinned
        } else {
            0
        };
        let mut has_mem = false;
        let mem_size = oc.memory_size().size().max(1) as u64;
        // Locked accesses (and XCHG's implicit lock) stay naturally aligned: a split lock is
        // slow on hosts that detect it, and means nothing more to an emulator.
        let lock = oc.can_use_lock_prefix() && st.rng.chance(1, 4);
        let align = if code == Code::Cmpxchg16b_m128 {
            16
        } else {
            mem_size
        };
        let aligned = lock || m == M::Xchg;
        for (i, &k) in oc.op_kinds().iter().enumerate() {
            let i = i as u32;
            let width = match k {
                K::r8_or_mem | K::r8_reg | K::r8_opcode => 1,
                K::r16_or_mem | K::r16_reg | K::r16_rm | K::r16_opcode => 2,
                K::r32_or_mem | K::r32_reg | K::r32_rm | K::r32_opcode | K::r32_vvvv => 4,
                _ => 8,
            };
            match k {
                // AMD processors read 32 bits for MOVSXD r16, m16 (as #AC and #PF show) where
                // Intel's manual says 16: elsewhere the memory form is left out.
                K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem
                    if (self.intel || code != Code::Movsxd_r16_rm16) && st.rng.chance(1, 2) =>
                {
                    has_mem = true;
                    self.access_mem(st, &mut ins, i, mem_size, align, aligned);
                }
                K::r8_or_mem
                | K::r16_or_mem
                | K::r32_or_mem
                | K::r64_or_mem
                | K::r8_reg
                | K::r8_opcode
                | K::r16_reg
                | K::r16_rm
                | K::r16_opcode
                | K::r32_reg
                | K::r32_rm
                | K::r32_opcode
                | K::r32_vvvv
                | K::r64_reg
                | K::r64_rm
                | K::r64_opcode
                | K::r64_vvvv => {
                    // BT* with a memory operand: the bit offset register reaches anywhere, so
                    // it must be the index register with its small value.
                    let r = if has_mem && matches!(m, M::Bt | M::Bts | M::Btr | M::Btc) {
                        sized_reg(width, st.index)
                    } else {
                        pick_reg(&mut st.rng, width, avoid, st.bits)
                    };
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, r);
                }
                K::mem if m == M::Lea => self.lea_mem(st, &mut ins, i),
                K::mem => {
                    has_mem = true;
                    self.access_mem(st, &mut ins, i, mem_size, align, aligned);
                }
                K::mem_offs => {
                    has_mem = true;
                    let target = self.target(st, mem_size, align, aligned);
                    let seg_base = segment_prefix(st, &mut ins);
                    ins.set_op_kind(i, OpKind::Memory);
                    ins.set_memory_displ_size(8);
                    ins.set_memory_displacement64(target.wrapping_sub(seg_base));
                }
                K::al | K::cl | K::ax | K::eax | K::rax => {
                    let r = match k {
                        K::al => Register::AL,
                        K::cl => Register::CL,
                        K::ax => Register::AX,
                        K::eax => Register::EAX,
                        _ => Register::RAX,
                    };
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, r);
                }
                _ => {
                    let (kind, value) = self.immediate(st, m, k, code);
                    ins.set_op_kind(i, kind);
                    ins.try_set_immediate_i64(i, value).ok()?;
                }
            }
        }
        // LOCK with a register destination raises #UD: tried now and then.
        if lock && (has_mem || st.rng.chance(1, 16)) {
            ins.set_has_lock_prefix(true);
        }
        Some(ins)
    }

    /// An immediate operand of kind `k` for mnemonic `m`.
    fn immediate(&self, st: &mut Seq, m: M, k: K, code: Code) -> (OpKind, i64) {
        let r = &mut st.rng;
        let count_like = matches!(
            m,
            M::Shl
                | M::Sal
                | M::Shr
                | M::Sar
                | M::Rol
                | M::Ror
                | M::Rcl
                | M::Rcr
                | M::Bt
                | M::Bts
                | M::Btr
                | M::Btc
                | M::Rorx
        );
        let byte =
            if matches!(m, M::Shld | M::Shrd) && code.op_code().op_kinds().contains(&K::r16_reg) {
                // Counts above 16 leave a 16-bit SHLD/SHRD undefined; keep the masked count <= 16.
                (r.below(17) | r.below(8) << 5) as i64
            } else if count_like || matches!(m, M::Shld | M::Shrd) {
                if r.chance(3, 4) {
                    r.below(72) as i64
                } else {
                    r.below(256) as i64
                }
            } else {
                r.value() as u8 as i64
            };
        let v = r.value();
        match k {
            K::imm8 => (OpKind::Immediate8, byte),
            K::imm8_const_1 => (OpKind::Immediate8, 1),
            K::imm8sex16 => (OpKind::Immediate8to16, byte as i8 as i64),
            K::imm8sex32 => (OpKind::Immediate8to32, byte as i8 as i64),
            K::imm8sex64 => (OpKind::Immediate8to64, byte as i8 as i64),
            K::imm16 => (OpKind::Immediate16, v as u16 as i64),
            K::imm32 => (OpKind::Immediate32, v as u32 as i64),
            K::imm32sex64 => (OpKind::Immediate32to64, v as i32 as i64),
            _ => (OpKind::Immediate64, v as i64),
        }
    }

    /// A linear address in the scratch buffer for an access of `size` bytes, aligned to
    /// `align` half of the time (always if `aligned`): often near the base register (for
    /// 8-bit displacements), sometimes across the boundary between the buffer's two pages,
    /// and now and then into the guard page.
    fn target(&self, st: &mut Seq, size: u64, align: u64, aligned: bool) -> u64 {
        let buf = self.layout.buf();
        let len = BUF_LEN as u64;
        let r = &mut st.rng;
        let off = match r.below(40) {
            // Across the end of the buffer (or wholly past it): #PF on the guard page.
            0 => return buf + len - size + 1 + r.below(size + 8),
            // Across the middle page boundary.
            1..=3 => 0x1000 - size + 1 + r.below(size),
            4..=15 => {
                let near = st.regs[st.base]
                    .wrapping_sub(buf)
                    .wrapping_add(r.below(256))
                    .wrapping_sub(128);
                near.clamp(16, len - 16 - size)
            }
            _ => 16 + r.below(len - 32 - size),
        };
        let align = align.clamp(1, 16);
        if aligned || r.chance(1, 2) {
            return buf + (off & !(align - 1));
        }
        buf + off
    }

    /// A memory operand that the instruction really accesses: in the buffer, through the
    /// base/index registers, RIP-relative or `[disp32]`, now and then with a segment prefix.
    fn access_mem(
        &self,
        st: &mut Seq,
        ins: &mut Instruction,
        i: u32,
        size: u64,
        align: u64,
        aligned: bool,
    ) {
        let target = self.target(st, size, align, aligned);
        let target = target.wrapping_sub(segment_prefix(st, ins));
        let base_val = st.regs[st.base];
        let index_val = st.regs[st.index];
        ins.set_op_kind(i, OpKind::Memory);
        let scale = 1u64 << st.rng.below(4);
        // PUSH and POP often address the stack itself.
        let stacky = matches!(ins.mnemonic(), M::Push | M::Pop) && st.rng.chance(1, 2);
        let form = if stacky { 0 } else { st.rng.below(20) };
        // 32-bit code has 32-bit addresses, no RIP-relative form and no R8-R15.
        let narrow = st.bits == 32;
        let r64 = if narrow { &R32 } else { &R64 };
        let (base, index, disp, addr32) = match form {
            // RSP as the base (POP computes the address after incrementing RSP).
            0..=1 if st.rsp.is_some() => {
                let rsp = st.rsp.unwrap_or_default();
                (r64[RSP], Register::None, target.wrapping_sub(rsp), narrow)
            }
            14..=16 if narrow => (Register::None, Register::None, target, true),
            0..=7 => (
                r64[st.base],
                Register::None,
                target.wrapping_sub(base_val),
                narrow,
            ),
            8..=9 => (
                R32[st.base],
                Register::None,
                target.wrapping_sub(base_val),
                true,
            ),
            10..=13 => {
                let disp = target
                    .wrapping_sub(base_val)
                    .wrapping_sub(index_val.wrapping_mul(scale));
                (r64[st.base], r64[st.index], disp, narrow)
            }
            14..=16 => {
                ins.set_memory_base(Register::RIP);
                ins.set_memory_displ_size(8);
                ins.set_memory_displacement64(target);
                return;
            }
            17..=18 => (Register::None, Register::None, target, narrow),
            _ => (
                Register::None,
                r64[st.index],
                target.wrapping_sub(index_val.wrapping_mul(scale)),
                narrow,
            ),
        };
        ins.set_memory_base(base);
        ins.set_memory_index(index);
        ins.set_memory_index_scale(if index == Register::None {
            1
        } else {
            scale as u32
        });
        let disp = if addr32 { disp as u32 as u64 } else { disp };
        let small = if addr32 {
            disp as u32 as i32 as i64
        } else {
            disp as i64
        };
        let size = if base == Register::None {
            if addr32 {
                4
            } else {
                8
            }
        } else if small == 0 {
            0
        } else if (-128..128).contains(&small) {
            1
        } else if addr32 {
            4
        } else {
            8
        };
        ins.set_memory_displ_size(size);
        ins.set_memory_displacement64(disp);
    }

    /// A random effective address for LEA (which accesses nothing).
    fn lea_mem(&self, st: &mut Seq, ins: &mut Instruction, i: u32) {
        let r = &mut st.rng;
        ins.set_op_kind(i, OpKind::Memory);
        if st.bits == 32 && r.chance(1, 4) {
            // 16-bit addressing (0x67): [BX|BP + SI|DI + disp], wrapping at 64 KiB.
            let base = [Register::BX, Register::BP, Register::None][r.below(3) as usize];
            let index = [Register::SI, Register::DI, Register::None][r.below(3) as usize];
            ins.set_memory_base(base);
            ins.set_memory_index(index);
            ins.set_memory_index_scale(1);
            let disp = r.next_u64() as u16 as u64;
            let size = if base == Register::None && index == Register::None {
                2
            } else {
                [0, 1, 2][r.below(3) as usize]
            };
            let disp = match size {
                0 => 0,
                1 => disp as u8 as i8 as i16 as u16 as u64,
                _ => disp,
            };
            ins.set_memory_displ_size(size);
            ins.set_memory_displacement64(disp);
            return;
        }
        let addr32 = st.bits == 32 || r.chance(1, 4);
        let nregs = if st.bits == 32 { 8 } else { 16 };
        let regs = if addr32 { &R32 } else { &R64 };
        if st.bits == 64 && r.chance(1, 8) {
            ins.set_memory_base(if addr32 { Register::EIP } else { Register::RIP });
            ins.set_memory_displ_size(if addr32 { 4 } else { 8 });
            let target = self
                .layout
                .seq()
                .wrapping_add(r.below(0x20000))
                .wrapping_sub(0x10000);
            ins.set_memory_displacement64(if addr32 { target as u32 as u64 } else { target });
            return;
        }
        let base = if r.chance(1, 6) {
            Register::None
        } else {
            regs[r.below(nregs) as usize]
        };
        let index = if r.chance(1, 3) {
            Register::None
        } else {
            loop {
                let n = r.below(nregs) as usize;
                if n != RSP {
                    break regs[n];
                }
            }
        };
        ins.set_memory_base(base);
        ins.set_memory_index(index);
        ins.set_memory_index_scale(if index == Register::None {
            1
        } else {
            1 << r.below(4)
        });
        let disp = if r.chance(1, 2) {
            r.below(256) as i64 - 128
        } else {
            r.value() as i32 as i64
        };
        let (disp, size) = if base == Register::None {
            (disp, if addr32 { 4 } else { 8 })
        } else if (-128..128).contains(&disp) {
            (disp, 1)
        } else {
            (disp, if addr32 { 4 } else { 8 })
        };
        ins.set_memory_displ_size(size);
        ins.set_memory_displacement64(if addr32 {
            disp as u32 as u64
        } else {
            disp as u64
        });
    }

    /// The bytes of a raw-byte instruction, or `None` where the sequence does not allow it.
    fn raw(&self, st: &mut Seq, g: &Group) -> Option<Vec<u8>> {
        let r = &mut st.rng;
        let mut b = Vec::new();
        match g.kind {
            Kind::String(op) => {
                if !st.string {
                    return None;
                }
                // 0x67 in 32-bit code means 16-bit SI/DI, below the lowest mappable page.
                if st.bits == 64 && r.chance(1, 4) {
                    b.push(0x67);
                }
                if string_width_prefix(g.mnemonic) == Some(0x66) {
                    b.push(0x66);
                }
                let compare = matches!(op, 0xA6 | 0xA7 | 0xAE | 0xAF);
                match r.below(if compare { 3 } else { 2 }) {
                    0 => {}
                    1 => b.push(0xF3),
                    _ => b.push(0xF2),
                }
                if string_width_prefix(g.mnemonic) == Some(0x48) {
                    b.push(0x48);
                }
                b.push(op);
                Some(b)
            }
            Kind::Xlat => {
                if st.base != RBX {
                    return None;
                }
                if st.bits == 64 && r.chance(1, 4) {
                    b.push(0x67);
                }
                b.push(0xD7);
                Some(b)
            }
            Kind::Enter => {
                if !st.frame {
                    return None;
                }
                if r.chance(1, 6) {
                    b.push(0x66);
                }
                let size = if r.chance(1, 2) {
                    r.below(9) * 8
                } else {
                    r.below(65)
                } as u16;
                let level = if r.chance(2, 3) {
                    0
                } else {
                    1 + r.below(4) as u8
                };
                b.push(0xC8);
                b.extend_from_slice(&size.to_le_bytes());
                b.push(level);
                Some(b)
            }
            Kind::Leave => {
                if !st.frame {
                    return None;
                }
                if r.chance(1, 6) {
                    b.push(0x66);
                }
                b.push(0xC9);
                Some(b)
            }
            Kind::Invalid => {
                let list = if st.bits == 64 { INVALID } else { INVALID32 };
                Some(list[r.below(list.len() as u64) as usize].to_vec())
            }
            Kind::Encoded(_) => None,
        }
    }
}

/// The operand-size prefix (0x66) or REX.W (0x48) a string mnemonic needs with its opcode.
fn string_width_prefix(m: M) -> Option<u8> {
    match m {
        M::Movsw | M::Cmpsw | M::Stosw | M::Lodsw | M::Scasw => Some(0x66),
        M::Movsq | M::Cmpsq | M::Stosq | M::Lodsq | M::Scasq => Some(0x48),
        _ => None,
    }
}

/// Now and then gives `ins` a segment prefix: ES, CS, SS and DS are ignored in 64-bit mode,
/// GS adds [`GS_BASE`]. Returns the base the prefix adds.
fn segment_prefix(st: &mut Seq, ins: &mut Instruction) -> u64 {
    if !st.rng.chance(1, 12) {
        return 0;
    }
    // In 32-bit code ES, CS, SS and DS apply (all flat; a write through CS raises #GP).
    let choices = if st.bits == 64 { 5 } else { 4 };
    let seg = [
        Register::ES,
        Register::CS,
        Register::SS,
        Register::DS,
        Register::GS,
    ][st.rng.below(choices) as usize];
    ins.set_segment_prefix(seg);
    if seg == Register::GS {
        GS_BASE
    } else {
        0
    }
}

/// A random general register of `width` bytes that is not in `avoid`.
/// In 32-bit code only the eight legacy registers exist (and no SPL…DIL).
fn pick_reg(rng: &mut Rng, width: usize, avoid: u16, bits: u32) -> Register {
    loop {
        if width == 1 && rng.chance(1, 6) {
            let n = rng.below(4) as usize;
            if avoid & (1 << n) == 0 {
                return HIGH8[n];
            }
            continue;
        }
        let count = match (bits, width) {
            (32, 1) => 4,
            (32, _) => 8,
            _ => 16,
        };
        let n = rng.below(count) as usize;
        if avoid & (1 << n) == 0 {
            return sized_reg(width, n);
        }
    }
}

/// Encodes `ins` at `ip` for `bits`-bit code.
fn encode(ins: &Instruction, ip: u64, bits: u32) -> Option<Vec<u8>> {
    let mut e = Encoder::new(bits);
    e.encode(ins, ip).ok()?;
    Some(e.take_buffer())
}

/// Decodes one 64-bit instruction at `ip` from `bytes`.
pub fn decode_at(bytes: &[u8], ip: u64) -> Option<Instruction> {
    decode_at_bits(bytes, ip, 64)
}

/// Decodes one `bits`-bit instruction at `ip` from `bytes`.
pub fn decode_at_bits(bytes: &[u8], ip: u64, bits: u32) -> Option<Instruction> {
    let mut d = Decoder::with_ip(bits, bytes, ip, DecoderOptions::NONE);
    let ins = d.decode();
    (d.last_error() == iced_x86::DecoderError::None || ins.code() == Code::INVALID).then_some(ins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::hostdiff::BUF_OFFSET;

    fn generator() -> Generator {
        Generator::new(Layout { base: 0x5000_0000 }, Features::all())
    }

    #[test]
    fn cases_are_reproducible_from_seed_and_index() {
        let g = generator();
        let (a, b) = (g.case(42, 17), g.case(42, 17));
        assert_eq!(
            (a.code, a.regs, a.rflags, a.undefined),
            (b.code, b.regs, b.rflags, b.undefined)
        );
        assert_eq!(a.mem, b.mem);
        assert_ne!(g.case(42, 18).code, g.case(42, 17).code);
    }

    #[test]
    fn every_mnemonic_has_forms_with_all_features() {
        let g = generator();
        let have = g.mnemonics(64);
        for m in ENCODED {
            assert!(have.contains(m), "{m:?} has no usable form");
        }
        // 32-bit code lacks the 64-bit-only forms and has the legacy ones.
        let have32 = g.mnemonics(32);
        let only64 = [
            M::Movsxd,
            M::Cdqe,
            M::Cqo,
            M::Pushfq,
            M::Cmpxchg16b,
            M::Movsq,
        ];
        for m in ENCODED.iter().chain(LEGACY) {
            assert_eq!(
                have32.contains(m),
                !only64.contains(m),
                "{m:?} in 32-bit code"
            );
        }
        assert!(!have.contains(&M::Daa) && !have.contains(&M::Pushad));
        let none = Generator::new(Layout { base: 0x5000_0000 }, Features::default());
        assert!(!none.mnemonics(64).contains(&M::Mulx) && !none.mnemonics(64).contains(&M::Lahf));
    }

    #[test]
    fn sequences_decode_stay_in_the_buffer_and_never_write_pinned_registers() {
        let g = generator();
        let buf = 0x5000_0000 + BUF_OFFSET;
        let mut factory = InstructionInfoFactory::new();
        let mut mems = 0;
        let (mut rsp_based, mut stack_on_stack) = (0, 0);
        for i in 0..3000 {
            let c = g.case(7, i);
            assert!(!c.insns.is_empty() && c.code.len() <= MAX_CODE);
            assert_eq!(c.undefined.len(), c.insns.len() + 1);
            let mut ip = 0x5000_0200;
            for (k, ins) in c.insns.iter().enumerate() {
                assert_eq!(ins.ip(), ip);
                ip += ins.len() as u64;
                let invalid = ins.code() == Code::INVALID || ins.code() == Code::Ud2;
                assert!(
                    invalid || ins.flow_control() == FlowControl::Next || ins.mnemonic() == M::Into,
                    "{ins}"
                );
                if invalid {
                    assert_eq!(k, c.insns.len() - 1, "nothing follows an invalid opcode");
                }
                if ins.memory_base() == Register::RSP {
                    rsp_based += 1;
                    stack_on_stack += matches!(ins.mnemonic(), M::Push | M::Pop) as u32;
                }
                if matches!(ins.mnemonic(), M::Lea | M::Nop | M::Xlatb)
                    || ins.memory_base() == Register::RSP
                {
                    continue;
                }
                for op in 0..ins.op_count() {
                    if ins.op_kind(op) != OpKind::Memory {
                        continue;
                    }
                    // Base and index registers are pinned, so the inputs give the address.
                    let ea = ins
                        .virtual_address(op, 0, |r, _, _| {
                            if r.is_segment_register() {
                                return Some(if r == Register::GS { GS_BASE } else { 0 });
                            }
                            let n = gpr_number(r)?;
                            Some(c.regs[n] & (u64::MAX >> (64 - 8 * r.size() as u32)))
                        })
                        .unwrap();
                    assert!(
                        (buf..buf + BUF_LEN as u64 + 24).contains(&ea),
                        "{ins}: {ea:#x}"
                    );
                    mems += 1;
                }
                // RSP is only written by stack instructions.
                for ur in factory.info(ins).used_registers() {
                    if gpr_number(ur.register()) == Some(RSP)
                        && matches!(ur.access(), OpAccess::Write | OpAccess::ReadWrite)
                    {
                        assert!(
                            matches!(
                                ins.mnemonic(),
                                M::Push | M::Pop | M::Pushf | M::Pushfq | M::Enter | M::Leave
                            ),
                            "{ins}"
                        );
                    }
                }
            }
        }
        assert!(mems > 1000, "memory operands are common ({mems})");
        assert!(
            rsp_based > 50 && stack_on_stack > 2,
            "{rsp_based} {stack_on_stack}"
        );
    }

    #[test]
    fn vendor_specific_upper_halves_are_marked_on_other_hosts_and_never_read_whole() {
        let amd = Features {
            intel: false,
            ..Features::all()
        };
        let g = Generator::new(Layout { base: 0x5000_0000 }, amd);
        let mut factory = InstructionInfoFactory::new();
        let mut marked = 0;
        for i in 0..4000 {
            let c = g.case(11, i);
            for (k, ins) in c.insns.iter().enumerate() {
                let before = c.vendor_bits[k];
                for ur in factory.info(ins).used_registers() {
                    let Some(n) = gpr_number(ur.register()) else {
                        continue;
                    };
                    let reads = matches!(
                        ur.access(),
                        OpAccess::Read
                            | OpAccess::CondRead
                            | OpAccess::ReadWrite
                            | OpAccess::ReadCondWrite
                    );
                    assert!(
                        !(reads && ur.register().size() == 8 && before[n] != 0),
                        "{ins}"
                    );
                }
                let after = c.vendor_bits[k + 1];
                if matches!(ins.mnemonic(), M::Bsf | M::Bsr | M::Cmpxchg)
                    && ins.op0_kind() == OpKind::Register
                    && ins.op0_register().size() == 4
                {
                    let n = gpr_number(ins.op0_register()).unwrap();
                    assert_eq!(after[n], 0xFFFF_FFFF_0000_0000, "{ins}");
                    marked += 1;
                }
            }
        }
        assert!(marked > 10);
        let intel = generator().case(11, 5);
        assert!(intel.vendor_bits.iter().all(|v| *v == [0; 16]));
    }

    #[test]
    fn flags_left_undefined_are_recorded_and_never_read() {
        let g = generator();
        let mut saw_undefined = false;
        for i in 0..3000 {
            let c = g.case(9, i);
            for (k, ins) in c.insns.iter().enumerate() {
                assert_eq!(
                    rflags_from_iced(ins.rflags_read()) & c.undefined[k],
                    0,
                    "{ins}"
                );
            }
            saw_undefined |= c.undefined.last().is_some_and(|u| *u != 0);
            // Flags stay undefined through a repeated CMPS/SCAS (its count may be zero).
            for (k, ins) in c.insns.iter().enumerate() {
                if ins.has_repe_prefix() || ins.has_repne_prefix() {
                    assert_eq!(c.undefined[k + 1] & c.undefined[k], c.undefined[k], "{ins}");
                }
            }
        }
        assert!(saw_undefined);
    }
}
