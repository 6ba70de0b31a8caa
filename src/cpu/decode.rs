//! Decoding: iced-x86 `Instruction` -> [`Op`]. The mnemonic picks the instruction group (one
//! table below, readable whole); the group picks the handler for the exact operand form and
//! width, once, so executing an op is one indirect call.

use iced_x86::{CpuidFeature, FlowControl, Instruction, Mnemonic as M, OpKind, Register};

use super::exec;
use super::op::{Handler, Op};
use super::state::{reg, sreg, Model};

/// Whether the block continues after an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Straight-line: the next instruction may follow in the same block.
    Next,
    /// The op may change RIP, the mode, IF, or anything decoding depends on: end the block.
    End,
}

/// A group's decoder: fills `op` (handler and operands) or returns `None` for #UD.
pub type GroupDecode = fn(&Decoded, &mut Op) -> Option<Flow>;

/// What a group decoder sees of one instruction.
pub struct Decoded<'a> {
    /// The instruction as iced-x86 decoded it, with IP relative to the block start.
    pub ins: &'a Instruction,
    /// Code size: 16, 32 or 64.
    pub bits: u32,
    /// The CPU model (the 8086 and 286 differ in places).
    pub model: Model,
}

/// The register-file index of a general register of any width (byte registers AH–BH as
/// `HIGH8 | n`), RIP/EIP as `reg::RIP`, or `None`.
pub fn gpr_index(r: Register) -> Option<u8> {
    use Register as R;
    Some(match r {
        R::AL | R::AX | R::EAX | R::RAX => 0,
        R::CL | R::CX | R::ECX | R::RCX => 1,
        R::DL | R::DX | R::EDX | R::RDX => 2,
        R::BL | R::BX | R::EBX | R::RBX => 3,
        R::SPL | R::SP | R::ESP | R::RSP => 4,
        R::BPL | R::BP | R::EBP | R::RBP => 5,
        R::SIL | R::SI | R::ESI | R::RSI => 6,
        R::DIL | R::DI | R::EDI | R::RDI => 7,
        R::R8L | R::R8W | R::R8D | R::R8 => 8,
        R::R9L | R::R9W | R::R9D | R::R9 => 9,
        R::R10L | R::R10W | R::R10D | R::R10 => 10,
        R::R11L | R::R11W | R::R11D | R::R11 => 11,
        R::R12L | R::R12W | R::R12D | R::R12 => 12,
        R::R13L | R::R13W | R::R13D | R::R13 => 13,
        R::R14L | R::R14W | R::R14D | R::R14 => 14,
        R::R15L | R::R15W | R::R15D | R::R15 => 15,
        R::AH => reg::HIGH8,
        R::CH => reg::HIGH8 | 1,
        R::DH => reg::HIGH8 | 2,
        R::BH => reg::HIGH8 | 3,
        R::RIP | R::EIP => reg::RIP,
        _ => return None,
    })
}

/// The segment-register index (`sreg::*`) of a segment register.
pub fn sreg_index(r: Register) -> Option<u8> {
    Some(match r {
        Register::ES => sreg::ES,
        Register::CS => sreg::CS,
        Register::SS => sreg::SS,
        Register::DS => sreg::DS,
        Register::FS => sreg::FS,
        Register::GS => sreg::GS,
        _ => return None,
    })
}

impl Decoded<'_> {
    /// Operand `i` is a register.
    pub fn is_reg(&self, i: u32) -> bool {
        self.ins.op_kind(i) == OpKind::Register
    }

    /// Operand `i` is a ModRM memory operand.
    pub fn is_mem(&self, i: u32) -> bool {
        self.ins.op_kind(i) == OpKind::Memory
    }

    /// Operand `i` is an immediate.
    pub fn is_imm(&self, i: u32) -> bool {
        matches!(
            self.ins.op_kind(i),
            OpKind::Immediate8
                | OpKind::Immediate8_2nd
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate64
                | OpKind::Immediate8to16
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32to64
        )
    }

    /// The register-file index of register operand `i` (see [`gpr_index`]).
    pub fn reg(&self, i: u32) -> u8 {
        gpr_index(self.ins.op_register(i)).unwrap_or(reg::ZERO)
    }

    /// The size in bytes of register operand `i`.
    pub fn reg_size(&self, i: u32) -> usize {
        self.ins.op_register(i).size()
    }

    /// The immediate of operand `i`, sign-extended as the encoding says.
    pub fn imm(&self, i: u32) -> u64 {
        self.ins.immediate(i)
    }

    /// The size in bytes of the memory operand.
    pub fn mem_size(&self) -> usize {
        self.ins.memory_size().size()
    }

    /// The size in bytes of operand `i`, whatever its kind.
    pub fn op_size(&self, i: u32) -> usize {
        match self.ins.op_kind(i) {
            OpKind::Register => self.reg_size(i),
            OpKind::Memory => self.mem_size(),
            OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
            _ => 8,
        }
    }

    /// The address size of the instruction's memory operand: 0, 1, 2 for 16, 32, 64 bits.
    pub fn addr_size(&self) -> u8 {
        let ins = self.ins;
        let sized = |r: Register| match r {
            Register::RIP => 2,
            Register::EIP => 1,
            r => match r.size() {
                2 => 0,
                4 => 1,
                _ => 2,
            },
        };
        if ins.memory_base() != Register::None {
            sized(ins.memory_base())
        } else if ins.memory_index() != Register::None {
            sized(ins.memory_index())
        } else {
            match ins.memory_displ_size() {
                2 => 0,
                4 => 1,
                8 => 2,
                // No ModRM memory operand: the code size's default (string ops decide alone).
                _ => match self.bits {
                    16 => 0,
                    32 => 1,
                    _ => 2,
                },
            }
        }
    }

    /// Fills the op's effective-address fields from the memory operand.
    pub fn mem(&self, op: &mut Op) {
        let ins = self.ins;
        op.base = gpr_index(ins.memory_base()).unwrap_or(reg::ZERO);
        op.index = gpr_index(ins.memory_index()).unwrap_or(reg::ZERO);
        op.scale = ins.memory_index_scale().trailing_zeros() as u8;
        op.seg = sreg_index(ins.memory_segment()).unwrap_or(sreg::DS);
        op.asize = self.addr_size();
        let disp = ins.memory_displacement64();
        op.disp = if op.base == reg::RIP {
            disp.wrapping_sub(ins.next_ip()) as i32
        } else {
            disp as i32
        };
    }

    /// [`Decoded::mem`], marking an access through ES, CS, SS or DS in 64-bit code as flat
    /// (see [`sreg::FLAT`]), for handlers that reach memory only through `Cpu::read`,
    /// `Cpu::write` and `Cpu::read_rmw`.
    pub fn mem_flat(&self, op: &mut Op) {
        self.mem(op);
        if self.bits == 64 && op.seg <= sreg::DS {
            op.seg |= sreg::FLAT;
        }
    }

    /// The segment of the memory operand (with any override).
    pub fn mem_seg(&self) -> u8 {
        sreg_index(self.ins.memory_segment()).unwrap_or(sreg::DS)
    }

    /// The displacement of a near branch from the next instruction.
    pub fn branch_rel(&self) -> u64 {
        self.ins
            .near_branch_target()
            .wrapping_sub(self.ins.next_ip())
    }
}

/// Picks the handler instantiation for an operand size in bytes (1, 2, 4, 8).
#[macro_export]
macro_rules! sized {
    ($size:expr, $f:ident $(, $g:expr)*) => {
        match $size {
            1 => $f::<$crate::cpu::U8 $(, {$g})*> as $crate::cpu::Handler,
            2 => $f::<$crate::cpu::U16 $(, {$g})*> as $crate::cpu::Handler,
            4 => $f::<$crate::cpu::U32 $(, {$g})*> as $crate::cpu::Handler,
            _ => $f::<$crate::cpu::U64 $(, {$g})*> as $crate::cpu::Handler,
        }
    };
}

/// Picks the handler `f::<W, CC>` for operand size `size` and condition code `cc` (0–15, the
/// low nibble of the Jcc opcode), so that the condition is a constant in the handler.
#[macro_export]
macro_rules! sized_cc {
    ($size:expr, $f:ident, $cc:expr) => {
        match $cc {
            0 => $crate::sized!($size, $f, 0),
            1 => $crate::sized!($size, $f, 1),
            2 => $crate::sized!($size, $f, 2),
            3 => $crate::sized!($size, $f, 3),
            4 => $crate::sized!($size, $f, 4),
            5 => $crate::sized!($size, $f, 5),
            6 => $crate::sized!($size, $f, 6),
            7 => $crate::sized!($size, $f, 7),
            8 => $crate::sized!($size, $f, 8),
            9 => $crate::sized!($size, $f, 9),
            10 => $crate::sized!($size, $f, 10),
            11 => $crate::sized!($size, $f, 11),
            12 => $crate::sized!($size, $f, 12),
            13 => $crate::sized!($size, $f, 13),
            14 => $crate::sized!($size, $f, 14),
            _ => $crate::sized!($size, $f, 15),
        }
    };
}

/// Picks the handler `f::<CC>` for condition code `cc` (see [`sized_cc`]).
#[macro_export]
macro_rules! with_cc {
    ($f:ident, $cc:expr) => {
        match $cc {
            0 => $f::<0> as $crate::cpu::Handler,
            1 => $f::<1> as $crate::cpu::Handler,
            2 => $f::<2> as $crate::cpu::Handler,
            3 => $f::<3> as $crate::cpu::Handler,
            4 => $f::<4> as $crate::cpu::Handler,
            5 => $f::<5> as $crate::cpu::Handler,
            6 => $f::<6> as $crate::cpu::Handler,
            7 => $f::<7> as $crate::cpu::Handler,
            8 => $f::<8> as $crate::cpu::Handler,
            9 => $f::<9> as $crate::cpu::Handler,
            10 => $f::<10> as $crate::cpu::Handler,
            11 => $f::<11> as $crate::cpu::Handler,
            12 => $f::<12> as $crate::cpu::Handler,
            13 => $f::<13> as $crate::cpu::Handler,
            14 => $f::<14> as $crate::cpu::Handler,
            _ => $f::<15> as $crate::cpu::Handler,
        }
    };
}

/// The instruction groups, one `exec` module each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Alu,
    Shift,
    MulDiv,
    Bcd,
    Bit,
    Bmi,
    Mov,
    Stack,
    String,
    Branch,
    Far,
    Segment,
    System,
    Io,
    FlagOps,
    Misc,
    X87,
    Sse,
}

impl Group {
    fn decoder(self) -> GroupDecode {
        use exec::*;
        match self {
            Group::Alu => alu::decode,
            Group::Shift => shift::decode,
            Group::MulDiv => muldiv::decode,
            Group::Bcd => bcd::decode,
            Group::Bit => bit::decode,
            Group::Bmi => bmi::decode,
            Group::Mov => mov::decode,
            Group::Stack => stack::decode,
            Group::String => string::decode,
            Group::Branch => branch::decode,
            Group::Far => far::decode,
            Group::Segment => segment::decode,
            Group::System => system::decode,
            Group::Io => io::decode,
            Group::FlagOps => flagops::decode,
            Group::Misc => misc::decode,
            Group::X87 => x87::decode,
            Group::Sse => sse::decode,
        }
    }
}

/// The instruction group of a mnemonic: the whole instruction set on one page.
fn group(m: M) -> Option<Group> {
    use Group::*;
    Some(match m {
        M::Add
        | M::Or
        | M::Adc
        | M::Sbb
        | M::And
        | M::Sub
        | M::Xor
        | M::Cmp
        | M::Test
        | M::Inc
        | M::Dec
        | M::Neg
        | M::Not => Alu,
        M::Shl
        | M::Sal
        | M::Shr
        | M::Sar
        | M::Rol
        | M::Ror
        | M::Rcl
        | M::Rcr
        | M::Shld
        | M::Shrd => Shift,
        M::Mul | M::Imul | M::Div | M::Idiv => MulDiv,
        M::Daa | M::Das | M::Aaa | M::Aas | M::Aam | M::Aad | M::Salc => Bcd,
        M::Bt
        | M::Bts
        | M::Btr
        | M::Btc
        | M::Bsf
        | M::Bsr
        | M::Popcnt
        | M::Lzcnt
        | M::Tzcnt
        | M::Bswap => Bit,
        M::Andn
        | M::Bextr
        | M::Blsi
        | M::Blsmsk
        | M::Blsr
        | M::Bzhi
        | M::Mulx
        | M::Pdep
        | M::Pext
        | M::Rorx
        | M::Sarx
        | M::Shlx
        | M::Shrx
        | M::Adcx
        | M::Adox => Bmi,
        M::Mov
        | M::Movzx
        | M::Movsx
        | M::Movsxd
        | M::Xchg
        | M::Xadd
        | M::Cmpxchg
        | M::Cmpxchg8b
        | M::Cmpxchg16b
        | M::Lea
        | M::Xlatb
        | M::Cbw
        | M::Cwde
        | M::Cdqe
        | M::Cwd
        | M::Cdq
        | M::Cqo
        | M::Lahf
        | M::Sahf
        | M::Movbe
        | M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg
        | M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => Mov,
        M::Push
        | M::Pop
        | M::Pusha
        | M::Pushad
        | M::Popa
        | M::Popad
        | M::Pushf
        | M::Pushfd
        | M::Pushfq
        | M::Popf
        | M::Popfd
        | M::Popfq
        | M::Enter
        | M::Leave => Stack,
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Movsq
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Cmpsq
        | M::Scasb
        | M::Scasw
        | M::Scasd
        | M::Scasq
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Lodsq
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Stosq
        | M::Insb
        | M::Insw
        | M::Insd
        | M::Outsb
        | M::Outsw
        | M::Outsd => String,
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg
        | M::Jcxz
        | M::Jecxz
        | M::Jrcxz
        | M::Loop
        | M::Loope
        | M::Loopne
        | M::Jmp
        | M::Call
        | M::Ret => Branch,
        M::Retf
        | M::Iret
        | M::Iretd
        | M::Iretq
        | M::Int
        | M::Int1
        | M::Int3
        | M::Into
        | M::Bound => Far,
        M::Lds
        | M::Les
        | M::Lfs
        | M::Lgs
        | M::Lss
        | M::Arpl
        | M::Lar
        | M::Lsl
        | M::Verr
        | M::Verw
        | M::Lldt
        | M::Sldt
        | M::Ltr
        | M::Str => Segment,
        M::Lgdt
        | M::Lidt
        | M::Sgdt
        | M::Sidt
        | M::Lmsw
        | M::Smsw
        | M::Clts
        | M::Invlpg
        | M::Invpcid
        | M::Invd
        | M::Wbinvd
        | M::Wbnoinvd
        | M::Cpuid
        | M::Rdtsc
        | M::Rdtscp
        | M::Rdpid
        | M::Rdmsr
        | M::Wrmsr
        | M::Rdpmc
        | M::Swapgs
        | M::Rdfsbase
        | M::Rdgsbase
        | M::Wrfsbase
        | M::Wrgsbase
        | M::Cli
        | M::Sti
        | M::Clac
        | M::Stac
        | M::Hlt
        | M::Rdrand
        | M::Rdseed
        | M::Monitor
        | M::Mwait
        | M::Loadall
        | M::Syscall
        | M::Sysret
        | M::Sysretq
        | M::Sysenter
        | M::Sysexit
        | M::Sysexitq => System,
        M::In | M::Out => Io,
        M::Clc | M::Stc | M::Cmc | M::Cld | M::Std => FlagOps,
        M::Nop
        | M::Pause
        | M::Ud0
        | M::Ud1
        | M::Ud2
        | M::Endbr32
        | M::Endbr64
        | M::Reservednop
        | M::Prefetch
        | M::Prefetchw
        | M::Prefetchwt1
        | M::Prefetchit0
        | M::Prefetchit1
        | M::Cldemote
        | M::Rdsspd
        | M::Rdsspq => Misc,
        M::Wait
        | M::F2xm1
        | M::Fabs
        | M::Fadd
        | M::Faddp
        | M::Fbld
        | M::Fbstp
        | M::Fchs
        | M::Fclex
        | M::Fcmovb
        | M::Fcmovbe
        | M::Fcmove
        | M::Fcmovnb
        | M::Fcmovnbe
        | M::Fcmovne
        | M::Fcmovnu
        | M::Fcmovu
        | M::Fcom
        | M::Fcomi
        | M::Fcomip
        | M::Fcomp
        | M::Fcompp
        | M::Fcos
        | M::Fdecstp
        | M::Fdisi
        | M::Fdiv
        | M::Fdivp
        | M::Fdivr
        | M::Fdivrp
        | M::Feni
        | M::Ffree
        | M::Ffreep
        | M::Fiadd
        | M::Ficom
        | M::Ficomp
        | M::Fidiv
        | M::Fidivr
        | M::Fild
        | M::Fimul
        | M::Fincstp
        | M::Finit
        | M::Fist
        | M::Fistp
        | M::Fisttp
        | M::Fisub
        | M::Fisubr
        | M::Fld
        | M::Fld1
        | M::Fldcw
        | M::Fldenv
        | M::Fldl2e
        | M::Fldl2t
        | M::Fldlg2
        | M::Fldln2
        | M::Fldpi
        | M::Fldz
        | M::Fmul
        | M::Fmulp
        | M::Fnclex
        | M::Fndisi
        | M::Fneni
        | M::Fninit
        | M::Fnop
        | M::Fnsave
        | M::Fnsetpm
        | M::Fnstcw
        | M::Fnstenv
        | M::Fnstsw
        | M::Fpatan
        | M::Fprem
        | M::Fprem1
        | M::Fptan
        | M::Frndint
        | M::Frstor
        | M::Fsave
        | M::Fscale
        | M::Fsetpm
        | M::Fsin
        | M::Fsincos
        | M::Fsqrt
        | M::Fst
        | M::Fstcw
        | M::Fstenv
        | M::Fstp
        | M::Fstpnce
        | M::Fstsw
        | M::Fsub
        | M::Fsubp
        | M::Fsubr
        | M::Fsubrp
        | M::Ftst
        | M::Fucom
        | M::Fucomi
        | M::Fucomip
        | M::Fucomp
        | M::Fucompp
        | M::Fxam
        | M::Fxch
        | M::Fxtract
        | M::Fyl2x
        | M::Fyl2xp1 => X87,
        _ => return None,
    })
}

/// Whether an instruction belongs to the x87 / MMX / SSE / AVX families that a later issue
/// implements; until then they raise #NM or #UD as the CR0 bits say.
fn is_fpu_or_simd(ins: &Instruction) -> bool {
    ins.cpuid_features().iter().any(|f| {
        matches!(
            f,
            CpuidFeature::FPU
                | CpuidFeature::FPU287
                | CpuidFeature::FPU287XL_ONLY
                | CpuidFeature::FPU387
                | CpuidFeature::FPU387SL_ONLY
                | CpuidFeature::MMX
                | CpuidFeature::SSE
                | CpuidFeature::SSE2
                | CpuidFeature::SSE3
                | CpuidFeature::SSSE3
                | CpuidFeature::SSE4_1
                | CpuidFeature::SSE4_2
                | CpuidFeature::SSE4A
                | CpuidFeature::AVX
                | CpuidFeature::AVX2
                | CpuidFeature::FXSR
                | CpuidFeature::XSAVE
                | CpuidFeature::AES
                | CpuidFeature::PCLMULQDQ
                | CpuidFeature::FMA
                | CpuidFeature::F16C
        )
    })
}

/// The outcome of decoding one instruction.
pub struct DecodedOp {
    /// The op to run.
    pub op: Op,
    /// Whether the block ends after it.
    pub flow: Flow,
    /// Whether vx86 lacks the instruction (the op raises #UD and the host log says so).
    pub unimplemented: bool,
    /// Whether the instruction cannot make an event pending or change what the run loop
    /// checks between blocks (IF, TF, HLT, the interrupt shadow, the bus lines), so blocks
    /// of such instructions may be chained without those checks. Faults are events too, but
    /// the run loop sees them anyway.
    pub plain: bool,
}

/// The group of an instruction: MMX, SSE and the other SIMD-state encodings by their CPUID
/// feature (iced names some of them as string instructions: MOVSD, CMPSD), the rest by
/// mnemonic.
fn group_of(ins: &Instruction) -> Option<Group> {
    if exec::sse::claims(ins) {
        return Some(Group::Sse);
    }
    group(ins.mnemonic())
}

/// Whether instructions with this mnemonic are plain (see [`DecodedOp::plain`]).
fn plain(ins: &Instruction) -> bool {
    let Some(g) = group_of(ins) else {
        return false;
    };
    let special_operand = (0..ins.op_count()).any(|i| {
        ins.op_kind(i) == OpKind::Register && {
            let r = ins.op_register(i);
            r.is_segment_register() || r.is_cr() || r.is_dr() || r.is_tr()
        }
    });
    let simple = match g {
        Group::Alu
        | Group::Shift
        | Group::MulDiv
        | Group::Bcd
        | Group::Bit
        | Group::Bmi
        | Group::Mov => true,
        Group::FlagOps | Group::Branch | Group::Misc => true,
        // A frozen x87 instruction (FERR#) ends its block itself.
        Group::X87 => true,
        // So does an MMX instruction that waits for a pending x87 exception.
        Group::Sse => true,
        Group::Stack => !matches!(ins.mnemonic(), M::Popf | M::Popfd | M::Popfq),
        Group::String => !matches!(
            ins.mnemonic(),
            M::Insb | M::Insw | M::Insd | M::Outsb | M::Outsw | M::Outsd
        ),
        Group::Far | Group::Segment | Group::System | Group::Io => false,
    };
    simple && !special_operand
}

/// Translates one decoded instruction into an op.
pub fn translate(ins: &Instruction, bits: u32, model: Model) -> DecodedOp {
    let mut op = Op::new(ins.len() as u8);
    let d = Decoded { ins, bits, model };
    if ins.is_invalid() {
        // iced-x86 stops at 15 bytes and reports what runs past them as invalid.
        op.run = if ins.len() >= 15 {
            exec::misc::too_long
        } else {
            exec::misc::invalid
        };
        return DecodedOp {
            op,
            flow: Flow::End,
            unimplemented: false,
            plain: true,
        };
    }
    let mut flow = match group_of(ins).and_then(|g| g.decoder()(&d, &mut op)) {
        Some(flow) => flow,
        None if is_fpu_or_simd(ins) => {
            op.run = exec::misc::fpu_unavailable;
            return DecodedOp {
                op,
                flow: Flow::End,
                unimplemented: false,
                plain: true,
            };
        }
        None => {
            op = Op::new(ins.len() as u8);
            op.run = exec::misc::invalid;
            return DecodedOp {
                op,
                flow: Flow::End,
                unimplemented: true,
                plain: true,
            };
        }
    };
    if ins.flow_control() != FlowControl::Next {
        flow = Flow::End;
    }
    DecodedOp {
        op,
        flow,
        unimplemented: false,
        plain: plain(ins),
    }
}

/// A handler that only raises #UD, for groups to return where a form is illegal.
pub fn ud_handler() -> Handler {
    exec::misc::invalid
}
