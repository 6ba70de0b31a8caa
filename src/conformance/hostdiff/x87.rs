//! The x87 family: random sequences of one to six x87 instructions from every form iced
//! encodes (register and memory operands of each format, the constants, compares,
//! FCMOVcc and FCOMI with EFLAGS, control words, environments and saved states), run on a
//! random x87 state: TOP, tags and all eight registers (zeros, denormals, pseudo-denormals,
//! unnormals, infinities, NaNs, pseudo-NaNs, extreme and near-one exponents), a control word
//! with every rounding and precision mode and masked or unmasked exceptions, and sometimes
//! an exception already pending. Memory operands get a value of their format planted at
//! their address (also straddling the unmapped guard page).
//!
//! What the comparison leaves out, the generator records: the condition-code bits each
//! instruction leaves undefined (SDM Vol. 2A, "FPU Flags Affected"), and a status-word
//! store (FSTSW, FNSTENV, FNSAVE) is not generated while any is undefined; the pointer
//! fields of FNSTENV/FNSAVE images are not compared (vendor-specific). Transcendental
//! instructions come last in their sequence (their last bit may differ between
//! implementations, see [`Case::last_bit`]); F2XM1 and FYL2XP1 get an operand inside their
//! domain pushed just before them.

use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Mnemonic as M, Register};

use super::gen::{decode_at_bits, mix, Rng};
use super::{Case, Family, Layout, BUF_LEN, FX_LEN, MAX_CODE, MXCSR_DEFAULT};
use crate::cpu::flags::bit;

/// Condition-code bits of the status word.
const C0: u16 = 1 << 8;
const C1: u16 = 1 << 9;
const C2: u16 = 1 << 10;
const C3: u16 = 1 << 14;
const CC: u16 = C0 | C1 | C2 | C3;

/// How an instruction treats the condition codes: (defined, left undefined); the rest keep
/// their state.
fn cc_effect(m: M) -> (u16, u16) {
    match m {
        M::Fcom
        | M::Fcomp
        | M::Fcompp
        | M::Fucom
        | M::Fucomp
        | M::Fucompp
        | M::Ficom
        | M::Ficomp
        | M::Ftst
        | M::Fxam
        | M::Fprem
        | M::Fprem1
        | M::Fninit
        | M::Fldenv
        | M::Frstor
        | M::Fnsave => (CC, 0),
        // The SDM says FCOMI clears C1; AMD leaves it (either is accepted).
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => (0, C1),
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan => (C1 | C2, C0 | C3),
        M::Fcmovb
        | M::Fcmovbe
        | M::Fcmove
        | M::Fcmovnb
        | M::Fcmovnbe
        | M::Fcmovne
        | M::Fcmovnu
        | M::Fcmovu
        | M::Ffree
        | M::Ffreep
        | M::Fnop
        | M::Fnclex => (0, CC),
        M::Fldcw
        | M::Fnstcw
        | M::Fnstsw
        | M::Wait
        | M::Fnstenv
        | M::Fneni
        | M::Fndisi
        | M::Fnsetpm => (0, 0),
        _ => (C1, C0 | C2 | C3),
    }
}

/// Whether the instruction stores the status word.
fn stores_sw(m: M) -> bool {
    matches!(m, M::Fnstsw | M::Fnstenv | M::Fnsave)
}

/// Whether the instruction's result may differ in its last bit between implementations.
fn transcendental(m: M) -> bool {
    matches!(
        m,
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan | M::Fpatan | M::F2xm1 | M::Fyl2x | M::Fyl2xp1
    )
}

/// A random 80-bit value biased to the edges of the format.
pub fn rand_f80(r: &mut Rng) -> [u8; 10] {
    let sign = (r.below(2) as u16) << 15;
    let mut m = match r.below(6) {
        0 => 1 << 63 | r.next_u64() >> r.below(64),
        1 => u64::MAX << r.below(64),
        2 => 1 << 63 | (r.below(4) << 61) | r.below(8),
        _ => 1 << 63 | r.next_u64(),
    };
    let e: u16 = match r.below(20) {
        0 => 0,
        1 => 0x7FFF,
        2 => r.below(70) as u16,
        3 => 0x7FFF - r.below(70) as u16,
        4..=6 => 0x3FFF + r.below(130) as u16 - 65,
        7 => 0x3FFF + r.below(8) as u16 - 4,
        8 => 0x3F81 - 40 + r.below(80) as u16,
        9 => 0x3C01 - 60 + r.below(120) as u16,
        _ => r.below(0x7FFF) as u16,
    };
    match r.below(24) {
        0 => m = 0,
        1 => m &= !(1 << 63),
        2 => m = 1 << 63,
        3 => m = 0xC000_0000_0000_0000,
        _ => {}
    }
    if e == 0 && r.chance(1, 2) {
        m &= !(1 << 63);
    }
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&m.to_le_bytes());
    b[8..].copy_from_slice(&(sign | e).to_le_bytes());
    b
}

/// A random binary32 (`bits` 32) or binary64 value biased to the edges.
fn rand_ieee(r: &mut Rng, bits: u32) -> u64 {
    let (ebits, fbits) = if bits == 32 { (8, 23) } else { (11, 52) };
    let emax = (1u64 << ebits) - 1;
    let e = match r.below(8) {
        0 => 0,
        1 => emax,
        2 => r.below(4),
        3 => emax - 1 - r.below(4),
        4 => emax / 2 + r.below(8) - 4,
        _ => r.below(emax + 1),
    };
    let f = match r.below(5) {
        0 => 0,
        1 => 1 << r.below(fbits),
        2 => (1 << fbits) - 1 - r.below(3),
        _ => r.next_u64() & ((1 << fbits) - 1),
    };
    (r.below(2) << (bits - 1)) | e << fbits | f
}

/// A value inside F2XM1's domain (|x| ≤ 1) or, with `narrow`, FYL2XP1's (|x| < 1 − √2/2),
/// with zeros, denormals and NaNs now and then.
fn in_domain(r: &mut Rng, narrow: bool) -> [u8; 10] {
    let mut b = rand_f80(r);
    let se = u16::from_le_bytes([b[8], b[9]]);
    let e = se & 0x7FFF;
    if e != 0x7FFF && e != 0 {
        let top = if narrow { 0x3FFC } else { 0x3FFE };
        let ne = top - (r.below(70).min(top as u64 - 1) as u16);
        b[8..].copy_from_slice(&((se & 0x8000) | ne).to_le_bytes());
        b[7] |= 0x80;
    }
    b
}

/// 18 random BCD digits and a sign.
fn rand_bcd(r: &mut Rng) -> [u8; 10] {
    let mut b = [0u8; 10];
    let digits = match r.below(4) {
        0 => r.below(19),
        _ => 18,
    } as usize;
    for i in 0..digits {
        let d = r.below(10) as u8;
        b[i / 2] |= d << (4 * (i % 2));
    }
    b[9] = (r.below(2) as u8) << 7;
    b
}

/// An FLDENV/FRSTOR image: control, status and tag words (pointers random).
fn rand_env(r: &mut Rng, sixteen: bool, buf: &mut [u8]) {
    let cw = 0x0040
        | (r.below(4) as u16) << 10
        | (r.below(4) as u16) << 8
        | if r.chance(3, 4) {
            0x3F
        } else {
            r.below(64) as u16
        }
        | if r.chance(1, 4) {
            (r.next_u64() as u16) & 0xF080
        } else {
            0
        };
    let flags = if r.chance(3, 4) {
        0
    } else {
        r.below(128) as u16
    };
    let sw = flags | (r.next_u64() as u16 & (CC | 7 << 11 | 0x8080));
    let tw = match r.below(4) {
        0 => 0xFFFF,
        1 => 0,
        _ => r.next_u64() as u16,
    };
    let words = [cw, sw, tw];
    for (i, w) in words.iter().enumerate() {
        let at = if sixteen { 2 * i } else { 4 * i };
        buf[at..at + 2].copy_from_slice(&w.to_le_bytes());
    }
}

/// The x87 instruction forms generated.
fn usable(code: Code, fisttp: bool) -> bool {
    let mut i = Instruction::default();
    i.set_code(code);
    let x87 = i.cpuid_features().iter().any(|f| {
        matches!(
            f,
            iced_x86::CpuidFeature::FPU
                | iced_x86::CpuidFeature::FPU287
                | iced_x86::CpuidFeature::FPU387
        )
    });
    if !x87 && code != Code::Wait {
        return false;
    }
    !matches!(
        code,
        // The waiting forms are WAIT plus the no-wait form (generated as two instructions).
        Code::Finit
            | Code::Fclex
            | Code::Fstenv_m14byte
            | Code::Fstenv_m28byte
            | Code::Fsave_m94byte
            | Code::Fsave_m108byte
            | Code::Fstsw_m2byte
            | Code::Fstsw_AX
            | Code::Fstcw_m2byte
            | Code::Feni
            | Code::Fdisi
            | Code::Fsetpm
            // 287XL / 387SL only.
            | Code::Frstpm
            | Code::Fstdw_AX
            | Code::Fstsg_AX
            | Code::Fnstdw_AX
            | Code::Fnstsg_AX
    ) && (fisttp || i.mnemonic() != M::Fisttp)
}

/// Builds the cases of the x87 family.
pub struct X87Gen {
    layout: Layout,
    compat: bool,
    codes: Vec<Code>,
}

/// The state of one sequence while it is generated.
struct Seq {
    bits: u32,
    rng: Rng,
    base: usize,
    base_value: u64,
    mem: Box<[u8; BUF_LEN]>,
    /// Buffer bytes a store of the sequence may have written (no BCD or environment is
    /// planted there: a store could make them undefined).
    dirty: Vec<std::ops::Range<usize>>,
    code: Vec<u8>,
    insns: Vec<Instruction>,
    sw_undefined: u16,
    undef_list: Vec<u16>,
    ignore: Vec<std::ops::Range<usize>>,
    last_bit: bool,
}

/// General registers by number, 64- and 32-bit.
const R64: [Register; 8] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
];
const R32: [Register; 8] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
];

impl X87Gen {
    /// A generator for `layout`; `compat`: 32-bit sequences too; `fisttp`: vx86 has FISTTP
    /// (its CPUID claims SSE3).
    pub fn new(layout: Layout, compat: bool, fisttp: bool) -> X87Gen {
        X87Gen {
            layout,
            compat,
            codes: Code::values()
                .filter(|c| usable(*c, fisttp))
                .filter(|c| match std::env::var("VX86_X87_ONLY") {
                    // A debugging aid: only the listed mnemonics (comma-separated).
                    Ok(list) => list
                        .split(',')
                        .any(|m| format!("{:?}", c.mnemonic()).eq_ignore_ascii_case(m)),
                    Err(_) => true,
                })
                .collect(),
        }
    }

    /// The mnemonics generated.
    pub fn mnemonics(&self) -> Vec<M> {
        let mut v: Vec<M> = self.codes.iter().map(|c| c.mnemonic()).collect();
        v.sort_by_key(|m| *m as u32);
        v.dedup();
        v
    }

    /// Case `index` of the run with `seed`.
    pub fn case(&self, seed: u64, index: u64) -> Case {
        let mut rng = Rng::new(mix(seed ^ mix(index.wrapping_add(0x87_87))));
        let bits = if self.compat && rng.chance(1, 4) {
            32
        } else {
            64
        };
        let nregs = if bits == 32 { 8 } else { 16 };
        let mut regs = [0u64; 16];
        for r in regs.iter_mut().take(nregs) {
            *r = rng.value();
        }
        let buf = self.layout.buf();
        regs[4] = buf + 0x1800;
        // The base register of memory operands: neither RSP nor RAX (FNSTSW AX writes it).
        let base = 1 + rng.below(7) as usize;
        let base = if base == 4 { 3 } else { base };
        regs[base] = buf + 0x1000;
        let mut rflags = bit::FIXED1 | bit::IF | (rng.next_u64() & bit::ARITH);
        if rng.chance(1, 16) {
            rflags |= bit::AC;
        }
        let mut mem = Box::new([0u8; BUF_LEN]);
        for chunk in mem.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let fx = self.initial_state(&mut rng);
        let mut st = Seq {
            bits,
            rng,
            base,
            base_value: regs[base],
            mem,
            dirty: Vec::new(),
            code: Vec::new(),
            insns: Vec::new(),
            sw_undefined: 0,
            undef_list: vec![0],
            ignore: Vec::new(),
            last_bit: false,
        };
        let n = 1 + st.rng.below(6);
        for _ in 0..n {
            if st.last_bit {
                break;
            }
            self.instruction(&mut st);
        }
        if st.insns.is_empty() {
            self.push_raw(&mut st, &[0xD9, 0xD0]); // FNOP
        }
        Case {
            index,
            bits,
            regs,
            rflags,
            mem: st.mem,
            undefined: vec![0; st.insns.len() + 1],
            vendor_bits: vec![[0; 16]; st.insns.len() + 1],
            code: st.code,
            insns: st.insns,
            family: Family::X87,
            fx,
            sw_undefined: st.undef_list,
            last_bit: st.last_bit,
            mem_ignore: st.ignore,
        }
    }

    /// A random x87 state as an FXSAVE image.
    fn initial_state(&self, r: &mut Rng) -> Box<[u8; FX_LEN]> {
        let mut fx = Box::new([0u8; FX_LEN]);
        let masks = match r.below(8) {
            0..=4 => 0x3F,
            5 => 0x3F & !(1 << r.below(6)),
            _ => r.below(64) as u16,
        };
        let cw = 0x0040 | (r.below(4) as u16) << 10 | (r.below(4) as u16) << 8 | masks;
        let flags = match r.below(8) {
            0..=5 => 0,
            _ => r.below(64) as u16,
        };
        let mut sw = flags | (r.next_u64() as u16 & CC) | (r.below(8) as u16) << 11;
        if r.chance(1, 16) {
            sw |= 1 << 6;
        }
        if flags & !masks & 0x3F != 0 {
            sw |= 0x8080;
        }
        let tags = match r.below(6) {
            0 => 0,
            1 => 0xFF,
            _ => r.next_u64() as u8,
        };
        fx[0..2].copy_from_slice(&cw.to_le_bytes());
        fx[2..4].copy_from_slice(&sw.to_le_bytes());
        fx[4] = tags;
        fx[24..28].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
        fx[28..32].copy_from_slice(&0xFFFFu32.to_le_bytes());
        for i in 0..8 {
            fx[32 + 16 * i..42 + 16 * i].copy_from_slice(&rand_f80(r));
        }
        fx
    }

    /// Appends raw bytes as one instruction.
    fn push_raw(&self, st: &mut Seq, bytes: &[u8]) {
        let ip = self.layout.seq() + st.code.len() as u64;
        let d = decode_at_bits(bytes, ip, st.bits).expect("raw x87 bytes decode");
        self.commit(st, bytes, d);
    }

    /// Records an accepted instruction.
    fn commit(&self, st: &mut Seq, bytes: &[u8], d: Instruction) {
        let (def, undef) = cc_effect(d.mnemonic());
        st.sw_undefined = (st.sw_undefined & !def) | undef;
        if transcendental(d.mnemonic()) {
            st.last_bit = true;
        }
        st.code.extend_from_slice(bytes);
        st.insns.push(d);
        st.undef_list.push(st.sw_undefined);
    }

    /// A memory operand at buffer offset `at`.
    fn mem_operand(&self, st: &Seq, at: usize) -> MemoryOperand {
        let target = self.layout.buf() + at as u64;
        let disp = target.wrapping_sub(st.base_value) as i64;
        let base = if st.bits == 64 {
            R64[st.base]
        } else {
            R32[st.base]
        };
        MemoryOperand::with_base_displ(base, disp)
    }

    /// A buffer offset for an operand of `size` bytes: anywhere, now and then straddling
    /// the end of the buffer (the guard page after it is unmapped), often aligned.
    fn place(&self, st: &mut Seq, size: usize) -> usize {
        let r = &mut st.rng;
        if r.chance(1, 40) {
            return BUF_LEN - 1 - r.below(size.max(2) as u64 - 1) as usize;
        }
        let mut at = 0x40 + r.below((BUF_LEN - 0x100) as u64) as usize;
        if r.chance(3, 4) {
            at &= !7;
        }
        at
    }

    /// Appends one x87 instruction (or two: a WAIT form, or a load before F2XM1/FYL2XP1).
    fn instruction(&self, st: &mut Seq) {
        for _ in 0..50 {
            let code = self.codes[st.rng.below(self.codes.len() as u64) as usize];
            let m = code.mnemonic();
            if stores_sw(m) && st.sw_undefined != 0 {
                continue;
            }
            if matches!(m, M::F2xm1 | M::Fyl2xp1) {
                // An operand inside the domain first.
                let at = self.place(st, 10);
                if at + 10 > BUF_LEN || self.overlaps_dirty(st, at, 10) {
                    continue;
                }
                let v = in_domain(&mut st.rng, m == M::Fyl2xp1);
                st.mem[at..at + 10].copy_from_slice(&v);
                let Ok(ld) = Instruction::with1(Code::Fld_m80fp, self.mem_operand(st, at)) else {
                    continue;
                };
                if !self.try_push(st, &ld) {
                    continue;
                }
            }
            let Some(ins) = self.build(st, code) else {
                continue;
            };
            if self.try_push(st, &ins) {
                return;
            }
        }
    }

    fn overlaps_dirty(&self, st: &Seq, at: usize, len: usize) -> bool {
        st.dirty.iter().any(|r| r.start < at + len && at < r.end)
    }

    /// Encodes, validates and appends `ins`.
    fn try_push(&self, st: &mut Seq, ins: &Instruction) -> bool {
        let ip = self.layout.seq() + st.code.len() as u64;
        let mut e = Encoder::new(st.bits);
        if e.encode(ins, ip).is_err() {
            return false;
        }
        let bytes = e.take_buffer();
        if st.code.len() + bytes.len() > MAX_CODE {
            return false;
        }
        let Some(d) = decode_at_bits(&bytes, ip, st.bits) else {
            return false;
        };
        if d.code() != ins.code() || d.len() != bytes.len() {
            return false;
        }
        self.commit(st, &bytes, d);
        true
    }

    /// An instruction of `code` with operands, planting its memory operand's value.
    fn build(&self, st: &mut Seq, code: Code) -> Option<Instruction> {
        let oc = code.op_code();
        let m = code.mnemonic();
        match oc.op_count() {
            0 => Some(Instruction::with(code)),
            1 if code == Code::Fnstsw_AX => Instruction::with1(code, Register::AX).ok(),
            1 if oc.op_kind(0) == iced_x86::OpCodeOperandKind::sti_opcode => {
                let i = st.rng.below(8) as usize;
                Instruction::with1(code, st_reg(i)).ok()
            }
            1 => {
                let probe = Instruction::with1(code, MemoryOperand::with_displ(0, 4)).ok()?;
                let size = probe.memory_size().size().max(1);
                let at = self.place(st, size);
                let ins = Instruction::with1(code, self.mem_operand(st, at)).ok()?;
                if !self.plant(st, m, code, at, size) {
                    return None;
                }
                Some(ins)
            }
            _ => {
                let i = st.rng.below(8) as usize;
                let (a, b) = match oc.op_kind(0) {
                    iced_x86::OpCodeOperandKind::st0 => (Register::ST0, st_reg(i)),
                    _ => (st_reg(i), Register::ST0),
                };
                Instruction::with2(code, a, b).ok()
            }
        }
    }

    /// Writes a value of the operand's format at `at` (loads), or notes the bytes a store
    /// may write. Returns false where the operand cannot go there.
    fn plant(&self, st: &mut Seq, m: M, code: Code, at: usize, size: usize) -> bool {
        let end = (at + size).min(BUF_LEN);
        let store = matches!(
            m,
            M::Fst
                | M::Fstp
                | M::Fist
                | M::Fistp
                | M::Fisttp
                | M::Fbstp
                | M::Fnstcw
                | M::Fnstsw
                | M::Fnstenv
                | M::Fnsave
        );
        if store {
            st.dirty.push(at..end);
            // The pointer fields of an environment (bytes 6..14 or 12..28) are not compared.
            let sixteen = matches!(code, Code::Fnstenv_m14byte | Code::Fnsave_m94byte);
            if matches!(m, M::Fnstenv | M::Fnsave) {
                let (lo, hi) = if sixteen { (6, 14) } else { (12, 28) };
                st.ignore
                    .push((at + lo).min(BUF_LEN)..(at + hi).min(BUF_LEN));
            }
            return true;
        }
        // A load must not read the bytes of a stored environment that are not compared.
        if st.ignore.iter().any(|r| r.start < at + size && at < r.end) {
            return false;
        }
        let r = &mut st.rng;
        let mut v = vec![0u8; size];
        match (m, size) {
            (M::Fbld, _) => {
                if self.overlaps_dirty(st, at, size) {
                    return false;
                }
                v.copy_from_slice(&rand_bcd(&mut st.rng));
            }
            (M::Fldenv | M::Frstor, _) => {
                if self.overlaps_dirty(st, at, size) {
                    return false;
                }
                for b in v.iter_mut() {
                    *b = st.rng.next_u64() as u8;
                }
                let sixteen = matches!(code, Code::Fldenv_m14byte | Code::Frstor_m94byte);
                rand_env(&mut st.rng, sixteen, &mut v);
                if m == M::Frstor {
                    let env = if sixteen { 14 } else { 28 };
                    for i in 0..8 {
                        v[env + 10 * i..env + 10 * i + 10].copy_from_slice(&rand_f80(&mut st.rng));
                    }
                }
            }
            (M::Fldcw, _) => {
                let cw = 0x0040
                    | (r.below(4) as u16) << 10
                    | (r.below(4) as u16) << 8
                    | if r.chance(3, 4) {
                        0x3F
                    } else {
                        r.below(64) as u16
                    }
                    | if r.chance(1, 4) {
                        (r.next_u64() as u16) & 0xF0C0
                    } else {
                        0
                    };
                v.copy_from_slice(&cw.to_le_bytes());
            }
            (
                M::Fild
                | M::Fiadd
                | M::Fisub
                | M::Fisubr
                | M::Fimul
                | M::Fidiv
                | M::Fidivr
                | M::Ficom
                | M::Ficomp,
                _,
            ) => {
                let x = r.value();
                v.copy_from_slice(&x.to_le_bytes()[..size]);
            }
            (_, 4) => v.copy_from_slice(&(rand_ieee(r, 32) as u32).to_le_bytes()),
            (_, 8) => v.copy_from_slice(&rand_ieee(r, 64).to_le_bytes()),
            (_, 10) => v.copy_from_slice(&rand_f80(r)),
            _ => {
                for b in v.iter_mut() {
                    *b = r.next_u64() as u8;
                }
            }
        }
        st.mem[at..end].copy_from_slice(&v[..end - at]);
        true
    }
}

/// ST(i).
fn st_reg(i: usize) -> Register {
    [
        Register::ST0,
        Register::ST1,
        Register::ST2,
        Register::ST3,
        Register::ST4,
        Register::ST5,
        Register::ST6,
        Register::ST7,
    ][i & 7]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen() -> X87Gen {
        X87Gen::new(Layout { base: 0x5000_0000 }, true, false)
    }

    #[test]
    fn cases_are_reproducible_and_cover_the_x87_forms() {
        let g = gen();
        let (a, b) = (g.case(3, 9), g.case(3, 9));
        assert_eq!((a.code, a.fx, a.mem), (b.code, b.fx, b.mem));
        let mut seen = std::collections::HashSet::new();
        for i in 0..4000 {
            let c = g.case(5, i);
            assert!(c.code.len() <= MAX_CODE);
            assert_eq!(c.sw_undefined.len(), c.insns.len() + 1);
            for (k, ins) in c.insns.iter().enumerate() {
                seen.insert(ins.mnemonic());
                if stores_sw(ins.mnemonic()) {
                    assert_eq!(c.sw_undefined[k], 0, "{ins}");
                }
                if transcendental(ins.mnemonic()) {
                    assert_eq!(k, c.insns.len() - 1, "transcendentals come last");
                }
            }
        }
        for m in g.mnemonics() {
            assert!(seen.contains(&m), "{m:?} never generated");
        }
    }
}
