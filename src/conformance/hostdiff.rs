//! Differential testing against the host CPU: random sequences of user-mode instructions run
//! natively (in a forked child, on x86-64 Linux hosts) and in vx86 (a `Cpu` in IA-32e mode at
//! CPL 3), and the registers, flags, scratch memory and exceptions are compared. Sequences
//! come in families ([`Family`]): integer instructions, x87 instructions ([`x87`]), and SSE
//! instructions (`gen::sse`); every run loads and saves the x87 and SSE state as FXRSTOR and
//! FXSAVE images, and XMM0–XMM15 and MXCSR are always compared, the x87 state for x87 runs. Three quarters of the sequences are 64-bit code; the rest run as 32-bit code in
//! compatibility mode, which adds the instructions 64-bit mode lacks (BCD, PUSHA/POPA, BOUND,
//! ARPL, INTO, the one-byte INC/DEC) and 32-bit stack and string semantics.
//!
//! Both sides see the same linear addresses: the host maps a small region at a fixed address
//! (code page, scratch buffer, unmapped guard page, context page) and vx86 maps the same
//! linear pages with its own page tables, so pointers held in registers mean the same thing.
//!
//! - [`gen`]: the sequence generator (iced-x86's encoder over every general-purpose form).
//! - [`native`]: the host runner (fork, trampoline, signal recovery); x86-64 Linux only.
//! - [`emu`]: the vx86 runner (long mode, CPL 3, an IDT whose handlers tell the vector).
//! - [`compare`]: the comparison and the mismatch report.
//!
//! The run prints the seed, progress every tenth, one report per mismatch (the first 25;
//! `VX86_HOSTDIFF_SHOW=n` shows n, those of instructions vx86 implements first), the
//! mnemonics of failing sequences with their failure rates, and last `N passed, M failed`.
//! A case is reproduced by its seed and index alone.

pub mod compare;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod driver;
pub mod emu;
pub mod gen;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub mod native;
pub mod x87;

use iced_x86::Instruction;

use crate::Error;

/// Bytes of the scratch buffer that memory operands, string instructions and the stack use:
/// two pages, so that accesses also straddle a page boundary without faulting.
pub const BUF_LEN: usize = 8192;
/// The most bytes one sequence may take.
pub const MAX_CODE: usize = 64;
/// Offset of the sequence inside the code page (the host's prologue sits just before it).
pub const SEQ_OFFSET: u64 = 0x200;
/// Offset of the scratch buffer page in the region.
pub const BUF_OFFSET: u64 = 0x1000;
/// Offset of the unmapped guard page that follows the buffer.
pub const GUARD_OFFSET: u64 = 0x3000;
/// Offset of the host's context page (never mapped in vx86).
pub const CTX_OFFSET: u64 = 0x4000;
/// Bytes of the whole region.
pub const REGION_LEN: u64 = 0x5000;
/// The GS base on both sides (FS holds the host's thread pointer and is never used).
pub const GS_BASE: u64 = 0x1_0000;
/// Linux's 32-bit user code selector (`__USER32_CS`), the same as vx86's GDT's.
pub const USER_CODE32: u16 = 0x23;
/// Linux's user data selector (`__USER_DS`), the same as vx86's GDT's.
pub const USER_DATA: u16 = 0x2B;
/// Linux's 64-bit user code selector (`__USER_CS`).
pub const USER_CODE64: u16 = 0x33;
/// Sequences per batch (one forked host child runs a batch).
pub const BATCH: usize = 256;
/// Bytes of an FXSAVE image: the x87 and SSE state a case starts from and ends with.
pub const FX_LEN: usize = 512;
/// MXCSR as the host and vx86 start every case (all exceptions masked, round to nearest).
pub const MXCSR_DEFAULT: u32 = 0x1F80;

/// A family of instruction sequences, generated and counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// General-purpose integer instructions.
    Int,
    /// x87 FPU instructions (with the x87 state loaded and compared).
    X87,
    /// MMX, SSE … SSE4.2, PCLMULQDQ, CRC32 and the SIMD control instructions, on random XMM
    /// registers (special floating-point values included) and MXCSR settings ([`gen`]'s
    /// `sse` module); XMM0–XMM15 and MXCSR are compared whole.
    Sse,
}

impl Family {
    /// The family's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Family::Int => "int",
            Family::X87 => "x87",
            Family::Sse => "sse",
        }
    }

    /// The families run for a command-line choice: `int`, `x87`, `sse` or `all`.
    pub fn parse(s: &str) -> Option<Vec<Family>> {
        Some(match s {
            "int" => vec![Family::Int],
            "x87" => vec![Family::X87],
            "sse" => vec![Family::Sse],
            "all" => vec![Family::Int, Family::X87, Family::Sse],
            _ => return None,
        })
    }
}

/// The FXSAVE image of the state after FNINIT, with MXCSR at its default: what the
/// integer family starts from.
pub fn default_fx() -> Box<[u8; FX_LEN]> {
    let mut fx = Box::new([0u8; FX_LEN]);
    fx[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
    fx[24..28].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    fx[28..32].copy_from_slice(&0xFFFFu32.to_le_bytes());
    fx
}

/// Offset of MXCSR in an FXSAVE image.
pub const FX_MXCSR: usize = 24;
/// Offset of XMM0 in an FXSAVE image (XMM0–XMM15 follow, 16 bytes each).
pub const FX_XMM: usize = 160;

/// XMM0–XMM15 and MXCSR of an FXSAVE image.
pub fn sse_of(fx: &[u8; FX_LEN]) -> ([u128; 16], u32) {
    let mut xmm = [0u128; 16];
    for (i, x) in xmm.iter_mut().enumerate() {
        let at = FX_XMM + 16 * i;
        let mut b = [0u8; 16];
        b.copy_from_slice(&fx[at..at + 16]);
        *x = u128::from_le_bytes(b);
    }
    let m = &fx[FX_MXCSR..FX_MXCSR + 4];
    (xmm, u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
}

/// Stores XMM0–XMM15 and MXCSR into an FXSAVE image.
pub fn set_sse(fx: &mut [u8; FX_LEN], xmm: &[u128; 16], mxcsr: u32) {
    for (i, x) in xmm.iter().enumerate() {
        fx[FX_XMM + 16 * i..FX_XMM + 16 * (i + 1)].copy_from_slice(&x.to_le_bytes());
    }
    fx[FX_MXCSR..FX_MXCSR + 4].copy_from_slice(&mxcsr.to_le_bytes());
}

/// Where the test region lies: the same linear addresses on the host and in vx86.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Linear address of the region (page aligned, below 2 GiB so `[disp32]` reaches it).
    pub base: u64,
}

impl Layout {
    /// Where the sequence starts.
    pub fn seq(&self) -> u64 {
        self.base + SEQ_OFFSET
    }

    /// The scratch buffer.
    pub fn buf(&self) -> u64 {
        self.base + BUF_OFFSET
    }

    /// The unmapped guard page after the buffer.
    pub fn guard(&self) -> u64 {
        self.base + GUARD_OFFSET
    }

    /// The host's context page.
    pub fn ctx(&self) -> u64 {
        self.base + CTX_OFFSET
    }
}

/// One generated test: a sequence with its inputs.
#[derive(Clone, Debug)]
pub struct Case {
    /// The case number (with the seed, it regenerates the case).
    pub index: u64,
    /// Code size: 64, or 32 for a sequence run in compatibility mode (then only the low 32
    /// bits of RAX…RDI are compared; R8–R15 and the upper halves are undefined there).
    pub bits: u32,
    /// The machine code of the sequence, placed at [`Layout::seq`].
    pub code: Vec<u8>,
    /// The sequence decoded (IPs are linear addresses).
    pub insns: Vec<Instruction>,
    /// RAX…R15 on entry.
    pub regs: [u64; 16],
    /// RFLAGS on entry.
    pub rflags: u64,
    /// The scratch buffer on entry.
    pub mem: Box<[u8; BUF_LEN]>,
    /// RFLAGS bits left undefined before instruction `k` (`insns.len() + 1` entries: the last
    /// one applies after the whole sequence).
    pub undefined: Vec<u64>,
    /// Register bits the vendors define differently, per position as `undefined` (bit n of
    /// entry r: bit n of register r); they are not compared.
    pub vendor_bits: Vec<[u64; 16]>,
    /// The family the case belongs to.
    pub family: Family,
    /// The x87 and SSE state on entry, as an FXSAVE image (64-bit layout).
    pub fx: Box<[u8; FX_LEN]>,
    /// x87 status-word bits left undefined before instruction `k` (as `undefined`).
    pub sw_undefined: Vec<u16>,
    /// The sequence ends in a transcendental instruction whose last bit (and C1) the
    /// implementations may round differently (SDM Vol. 1 8.3.10: within one ulp).
    pub last_bit: bool,
    /// Buffer bytes not compared (the pointer fields of stored x87 environments).
    pub mem_ignore: Vec<std::ops::Range<usize>>,
}

/// An exception that stopped the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exc {
    /// The vector (`None` if unknown).
    pub vector: Option<u8>,
    /// The error code (0 where the vector has none).
    pub code: u32,
    /// CR2 for #PF.
    pub addr: u64,
    /// RIP saved by the exception: the faulting instruction (or the next one for traps).
    pub rip: u64,
    /// Whether it was delivered (vx86 may instead shut down while delivering it, which
    /// fails the comparison; the report shows the fault the instruction raised).
    pub delivered: bool,
}

/// How a sequence ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// It ran to its end.
    Completed,
    /// An exception stopped it; the registers are those the exception saved.
    Exception(Exc),
    /// The runner itself failed (the host child died, vx86 did not reach the end).
    Failed(String),
}

/// The state after a sequence ran.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// RAX…R15.
    pub regs: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    /// The scratch buffer.
    pub mem: Box<[u8; BUF_LEN]>,
    /// The x87 and SSE state, as an FXSAVE image.
    pub fx: Box<[u8; FX_LEN]>,
    /// How it ended.
    pub event: Event,
}

impl Outcome {
    /// An outcome for a runner failure: the inputs unchanged and the reason.
    pub fn failed(case: &Case, why: String) -> Outcome {
        Outcome {
            regs: case.regs,
            rflags: case.rflags,
            mem: case.mem.clone(),
            fx: case.fx.clone(),
            event: Event::Failed(why),
        }
    }
}

/// The totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sequences whose results matched.
    pub passed: u64,
    /// Sequences whose results differed (or could not be run).
    pub failed: u64,
}

/// Whether this host can run sequences natively (x86-64 Linux).
pub fn supported() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
}

/// Runs `count` random sequences of each family natively and in vx86; prints the seed first
/// and `N passed, M failed` last; returns the exit status (0 iff nothing failed).
pub fn main(count: u64, seed: Option<u64>, families: &[Family]) -> Result<u8, Error> {
    if !supported() {
        println!("host-diff: unsupported on this host (it needs an x86-64 Linux host)");
        return Err(Error::Host(
            "host-diff runs only on x86-64 Linux hosts".into(),
        ));
    }
    let seed = seed.unwrap_or_else(time_seed);
    let mut failed = 0;
    for &f in families {
        failed += run_family(count, seed, f)?.failed;
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// A fresh seed from the clock and the process id.
fn time_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    gen::mix(t ^ (std::process::id() as u64) << 32)
}

/// Runs `count` integer sequences from `seed` on all cores and prints the seed, sparse
/// progress, the first mismatch reports, a per-mnemonic failure table and the closing
/// `N passed, M failed` line. Fails on hosts other than x86-64 Linux.
pub fn run(count: u64, seed: u64) -> Result<Summary, Error> {
    run_family(count, seed, Family::Int)
}

/// [`run`] for the sequences of `family`.
pub fn run_family(count: u64, seed: u64, family: Family) -> Result<Summary, Error> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        driver::run(count, seed, family)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (count, seed, family);
        Err(Error::Host(
            "host-diff runs only on x86-64 Linux hosts".into(),
        ))
    }
}
