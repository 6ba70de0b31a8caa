//! The host side (x86-64 Linux only): sequences run natively in a forked child process.
//!
//! The parent maps the test region once at a fixed address (code page RWX, buffer RW, guard
//! page inaccessible, context page RW) and writes a prologue just before the sequence slot
//! and a recovery stub into the code page. For each batch it forks a child that, per case,
//! writes the sequence followed by the epilogue, the buffer and the input registers, and calls
//! the prologue: it saves the callee-saved registers and the host RSP in the context page,
//! loads RFLAGS and all sixteen GPRs from it, and falls into the sequence; the epilogue stores
//! them back and returns. A 32-bit case goes through a second prologue that ends in a far
//! jump to Linux's 32-bit user code segment, and its sequence ends in a far jump back to the
//! 64-bit epilogue. A fault raises a signal whose handler (on an alternate stack, so
//! the buffer under the guest RSP stays untouched) copies the registers, the trap number,
//! the error code and CR2 from the signal context into the context page and resumes at the
//! recovery stub. If the child dies anyway, the parent marks the case and forks again after
//! it, so nothing a sequence does can take vx86 down.

use std::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};

use super::gen::Features;
use super::{
    Case, Event, Exc, Layout, Outcome, BATCH, BUF_LEN, BUF_OFFSET, FX_LEN, GS_BASE, GUARD_OFFSET,
    MAX_CODE, REGION_LEN, USER_CODE32, USER_CODE64, USER_DATA,
};
use crate::Error;

/// Context page slots (byte offsets): the sixteen GPRs, then RFLAGS, the host RSP and what
/// the signal handler records.
const CTX_RFLAGS: u64 = 16 * 8;
const CTX_HOST_RSP: u64 = 17 * 8;
const SLOT_SIGNO: usize = 18;
const SLOT_TRAPNO: usize = 19;
const SLOT_ERR: usize = 20;
const SLOT_CR2: usize = 21;
const SLOT_RIP: usize = 22;
/// The far pointer (offset, then selector) to the sequence in 32-bit code.
const CTX_FAR: u64 = 24 * 8;
/// The FXSAVE image a case starts from (16-byte aligned).
const CTX_FX_IN: u64 = 0x400;
/// The FXSAVE image a case ends with.
const CTX_FX_OUT: u64 = 0x600;
/// MXCSR for the host code after a case.
const CTX_MXCSR: u64 = 0x800;
/// Where the 32-bit-case prologue lies in the code page.
const ENTRY32_OFFSET: u64 = 0;
/// Where 32-bit cases come back to 64-bit code to store their registers.
const EPILOGUE64_OFFSET: u64 = 0xC00;
/// Where the recovery stub lies in the code page.
const RECOVER_OFFSET: u64 = 0xE00;
/// Where the signal entry stub lies in the code page.
const SIGNAL_OFFSET: u64 = 0xF00;
/// Room for the epilogue.
const EPILOGUE_MAX: usize = 256;
/// Seconds a child may take for one batch before it is killed.
const ALARM_SECONDS: u32 = 60;
/// Addresses tried for the region: below 2 GiB (so `[disp32]` reaches it), away from where
/// Linux puts executables, heaps and mappings.
const CANDIDATES: [u64; 6] = [
    0x5000_0000,
    0x5400_0000,
    0x6000_0000,
    0x3000_0000,
    0x7000_0000,
    0x2000_0000,
];

/// The test region as mapped in this process.
pub struct Region {
    /// Where it lies.
    pub layout: Layout,
    /// The prologue's address.
    entry: u64,
    /// The prologue of 32-bit cases.
    entry32: u64,
    /// The far jump that ends a 32-bit sequence (back to the 64-bit epilogue).
    far_jump: [u8; 8],
    far_jump_len: usize,
    epilogue: [u8; EPILOGUE_MAX],
    epilogue_len: usize,
}

static REGION: OnceLock<Result<Region, String>> = OnceLock::new();
/// Read by the signal handler: the code page and the context page.
static CODE_ADDR: AtomicU64 = AtomicU64::new(0);
static CTX_ADDR: AtomicU64 = AtomicU64::new(0);

/// The region, mapped on first use.
pub fn region() -> Result<&'static Region, Error> {
    REGION
        .get_or_init(map_region)
        .as_ref()
        .map_err(|e| Error::Host(e.clone()))
}

/// The host CPU's optional features, from CPUID.
#[allow(unused_unsafe)]
pub fn host_features() -> Features {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 processor; leaves above the maximum are not read.
    unsafe {
        let max = __cpuid(0).eax;
        let max_ext = __cpuid(0x8000_0000).eax;
        let l1 = __cpuid(1);
        let l7 = if max >= 7 { __cpuid_count(7, 0).ebx } else { 0 };
        let e1 = if max_ext >= 0x8000_0001 {
            __cpuid(0x8000_0001).ecx
        } else {
            0
        };
        Features {
            cx16: l1.ecx >> 13 & 1 != 0,
            movbe: l1.ecx >> 22 & 1 != 0,
            popcnt: l1.ecx >> 23 & 1 != 0,
            bmi1: l7 >> 3 & 1 != 0,
            bmi2: l7 >> 8 & 1 != 0,
            adx: l7 >> 19 & 1 != 0,
            lahf_lm: e1 & 1 != 0,
            lzcnt: e1 >> 5 & 1 != 0,
            // SSE, SSE2, CLFSH in EDX; SSE3, SSSE3, SSE4.1, SSE4.2 in ECX.
            simd: l1.edx & (1 << 25 | 1 << 26 | 1 << 19) == (1 << 25 | 1 << 26 | 1 << 19)
                && l1.ecx & (1 | 1 << 9 | 1 << 19 | 1 << 20) == (1 | 1 << 9 | 1 << 19 | 1 << 20),
            pclmulqdq: l1.ecx >> 1 & 1 != 0,
            clflushopt: l7 >> 23 & 1 != 0,
            // Probed by running 32-bit code (see `compat_works`).
            compat: false,
            intel: {
                let v = __cpuid(0);
                [v.ebx, v.edx, v.ecx] == [0x756E_6547, 0x4965_6E69, 0x6C65_746E]
            },
        }
    }
}

/// `[addr]` as an absolute `[disp32]` operand with 64-bit addressing.
fn abs(addr: u64) -> MemoryOperand {
    MemoryOperand::with_displ(addr, 8)
}

const CALLEE_SAVED: [Register; 6] = [
    Register::RBX,
    Register::RBP,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
const GPRS: [Register; 16] = [
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

/// Saves the host's callee-saved registers and RSP, loads RFLAGS and the sixteen GPRs.
fn prologue(ctx: u64) -> Result<Vec<Instruction>, iced_x86::IcedError> {
    let mut v = Vec::new();
    for r in CALLEE_SAVED {
        v.push(Instruction::with1(Code::Push_r64, r)?);
    }
    v.push(Instruction::with2(
        Code::Mov_rm64_r64,
        abs(ctx + CTX_HOST_RSP),
        Register::RSP,
    )?);
    // The case's x87 and SSE state (pending x87 exceptions included).
    v.push(Instruction::with1(
        Code::Fxrstor64_m512byte,
        abs(ctx + CTX_FX_IN),
    )?);
    v.push(Instruction::with1(Code::Push_rm64, abs(ctx + CTX_RFLAGS))?);
    v.push(Instruction::with(Code::Popfq));
    for (i, r) in GPRS.iter().enumerate() {
        v.push(Instruction::with2(
            Code::Mov_r64_rm64,
            *r,
            abs(ctx + 8 * i as u64),
        )?);
    }
    Ok(v)
}

/// Like [`prologue`], for a 32-bit sequence: DS and ES get the flat user data selector
/// (64-bit processes run with null DS/ES, which 32-bit code cannot use), and a far jump
/// through the context page enters the sequence in compatibility mode.
fn prologue32(ctx: u64) -> Result<Vec<Instruction>, iced_x86::IcedError> {
    let mut v = prologue(ctx)?;
    let at = CALLEE_SAVED.len() + 1;
    let sregs = [
        Instruction::with2(Code::Mov_r32_imm32, Register::EAX, USER_DATA as u32)?,
        Instruction::with2(Code::Mov_Sreg_r32m16, Register::DS, Register::EAX)?,
        Instruction::with2(Code::Mov_Sreg_r32m16, Register::ES, Register::EAX)?,
    ];
    v.splice(at..at, sregs);
    v.push(Instruction::with1(Code::Jmp_m1632, abs(ctx + CTX_FAR))?);
    Ok(v)
}

/// Restores the host's stack, DF and callee-saved registers, and returns to the caller.
fn restore(v: &mut Vec<Instruction>, ctx: u64) -> Result<(), iced_x86::IcedError> {
    // A fresh x87 (FNINIT does not wait: a pending exception stays behind) and MXCSR.
    v.push(Instruction::with(Code::Fninit));
    v.push(Instruction::with1(Code::Ldmxcsr_m32, abs(ctx + CTX_MXCSR))?);
    // Null DS and ES again, as a 64-bit process has them.
    v.push(Instruction::with2(
        Code::Xor_r32_rm32,
        Register::EAX,
        Register::EAX,
    )?);
    v.push(Instruction::with2(
        Code::Mov_Sreg_r32m16,
        Register::DS,
        Register::EAX,
    )?);
    v.push(Instruction::with2(
        Code::Mov_Sreg_r32m16,
        Register::ES,
        Register::EAX,
    )?);
    // RFLAGS = 2: DF, AC and TF clear, as the host code expects.
    v.push(Instruction::with1(Code::Pushq_imm8, 2)?);
    v.push(Instruction::with(Code::Popfq));
    for r in CALLEE_SAVED.iter().rev() {
        v.push(Instruction::with1(Code::Pop_r64, *r)?);
    }
    v.push(Instruction::with(Code::Retnq));
    Ok(())
}

/// Stores the x87 and SSE state, the sixteen GPRs and RFLAGS, then returns to the caller.
fn epilogue(ctx: u64) -> Result<Vec<Instruction>, iced_x86::IcedError> {
    // FXSAVE does not wait for pending x87 exceptions and changes no register or flag.
    let mut v = vec![Instruction::with1(
        Code::Fxsave64_m512byte,
        abs(ctx + CTX_FX_OUT),
    )?];
    for (i, r) in GPRS.iter().enumerate() {
        v.push(Instruction::with2(
            Code::Mov_rm64_r64,
            abs(ctx + 8 * i as u64),
            *r,
        )?);
    }
    v.push(Instruction::with2(
        Code::Mov_r64_rm64,
        Register::RSP,
        abs(ctx + CTX_HOST_RSP),
    )?);
    v.push(Instruction::with(Code::Pushfq));
    v.push(Instruction::with1(Code::Pop_rm64, abs(ctx + CTX_RFLAGS))?);
    restore(&mut v, ctx)?;
    Ok(v)
}

/// Where the signal handler resumes: back on the host stack, then as the epilogue returns.
fn recovery(ctx: u64) -> Result<Vec<Instruction>, iced_x86::IcedError> {
    let mut v = vec![Instruction::with2(
        Code::Mov_r64_rm64,
        Register::RSP,
        abs(ctx + CTX_HOST_RSP),
    )?];
    restore(&mut v, ctx)?;
    Ok(v)
}

/// The signal handler's entry: Linux keeps EFLAGS.AC set in a handler when the interrupted
/// code had it set, and compiled code may access memory misaligned (16-byte moves of 8-byte
/// aligned data), so AC is cleared before the handler proper runs.
fn signal_entry(handler: u64) -> Result<Vec<Instruction>, iced_x86::IcedError> {
    Ok(vec![
        Instruction::with(Code::Pushfq),
        Instruction::with2(
            Code::And_rm32_imm32,
            MemoryOperand::with_base(Register::RSP),
            !0x4_0000u32,
        )?,
        Instruction::with(Code::Popfq),
        Instruction::with2(Code::Mov_r64_imm64, Register::RAX, handler)?,
        Instruction::with1(Code::Jmp_rm64, Register::RAX)?,
    ])
}

/// Encodes position-independent instructions one after another.
fn encode_all(list: Result<Vec<Instruction>, iced_x86::IcedError>) -> Result<Vec<u8>, String> {
    let list = list.map_err(|e| format!("host-diff trampoline: {e}"))?;
    let mut e = Encoder::new(64);
    let mut pos = 0u64;
    for ins in &list {
        pos += e
            .encode(ins, pos)
            .map_err(|e| format!("host-diff trampoline: {e}"))? as u64;
    }
    Ok(e.take_buffer())
}

fn map_region() -> Result<Region, String> {
    use libc::{
        MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_NONE,
        PROT_READ, PROT_WRITE,
    };
    for &addr in &CANDIDATES {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; a kernel that
        // ignores the flag may place the mapping elsewhere, which is checked and undone.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                REGION_LEN as usize,
                PROT_READ | PROT_WRITE | PROT_EXEC,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == MAP_FAILED {
            continue;
        }
        if p as u64 != addr {
            // SAFETY: `p` is the mapping just made, of that length, and nothing uses it.
            unsafe { libc::munmap(p, REGION_LEN as usize) };
            continue;
        }
        let layout = Layout { base: addr };
        let prologue = encode_all(prologue(layout.ctx()))?;
        let epilogue_bytes = encode_all(epilogue(layout.ctx()))?;
        let recover = encode_all(recovery(layout.ctx()))?;
        let signal = encode_all(signal_entry(on_signal as *const () as u64))?;
        let prologue32 = encode_all(prologue32(layout.ctx()))?;
        let far_jump = {
            let target = (addr + EPILOGUE64_OFFSET) as u32;
            let jmp = Instruction::with_far_branch(Code::Jmp_ptr1632, USER_CODE64, target)
                .map_err(|e| format!("host-diff trampoline: {e}"))?;
            let mut e = Encoder::new(32);
            e.encode(&jmp, 0)
                .map_err(|e| format!("host-diff trampoline: {e}"))?;
            e.take_buffer()
        };
        if prologue.len() as u64 > super::SEQ_OFFSET
            || ENTRY32_OFFSET + prologue32.len() as u64 > super::SEQ_OFFSET - prologue.len() as u64
            || far_jump.len() > 8
            || epilogue_bytes.len() > EPILOGUE_MAX
            || recover.len() > 0x100
            || signal.len() > 0x100
        {
            return Err("host-diff trampoline does not fit its slots".into());
        }
        let entry = layout.seq() - prologue.len() as u64;
        // SAFETY: the region is ours (mapped above, RWX, 16 KiB); the copies stay inside the
        // code page, and the protections change only pages of the region.
        unsafe {
            std::ptr::copy_nonoverlapping(prologue.as_ptr(), entry as *mut u8, prologue.len());
            std::ptr::copy_nonoverlapping(
                recover.as_ptr(),
                (addr + RECOVER_OFFSET) as *mut u8,
                recover.len(),
            );
            std::ptr::copy_nonoverlapping(
                signal.as_ptr(),
                (addr + SIGNAL_OFFSET) as *mut u8,
                signal.len(),
            );
            std::ptr::copy_nonoverlapping(
                prologue32.as_ptr(),
                (addr + ENTRY32_OFFSET) as *mut u8,
                prologue32.len(),
            );
            std::ptr::copy_nonoverlapping(
                epilogue_bytes.as_ptr(),
                (addr + EPILOGUE64_OFFSET) as *mut u8,
                epilogue_bytes.len(),
            );
            let rw = PROT_READ | PROT_WRITE;
            if libc::mprotect((addr + BUF_OFFSET) as *mut libc::c_void, BUF_LEN, rw) != 0
                || libc::mprotect(
                    (addr + GUARD_OFFSET) as *mut libc::c_void,
                    0x1000,
                    PROT_NONE,
                ) != 0
                || libc::mprotect(layout.ctx() as *mut libc::c_void, 0x1000, rw) != 0
            {
                return Err(format!(
                    "mprotect of the host-diff region failed: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        // SAFETY: the context page was made RW above; the far pointer is m16:32.
        unsafe {
            let mxcsr = (layout.ctx() + CTX_MXCSR) as *mut u8;
            std::ptr::copy_nonoverlapping(super::MXCSR_DEFAULT.to_le_bytes().as_ptr(), mxcsr, 4);
            let far = (layout.ctx() + CTX_FAR) as *mut u8;
            std::ptr::copy_nonoverlapping((layout.seq() as u32).to_le_bytes().as_ptr(), far, 4);
            std::ptr::copy_nonoverlapping(USER_CODE32.to_le_bytes().as_ptr(), far.add(4), 2);
        }
        CODE_ADDR.store(addr, Ordering::SeqCst);
        CTX_ADDR.store(layout.ctx(), Ordering::SeqCst);
        let mut epilogue = [0u8; EPILOGUE_MAX];
        epilogue[..epilogue_bytes.len()].copy_from_slice(&epilogue_bytes);
        let mut far = [0u8; 8];
        far[..far_jump.len()].copy_from_slice(&far_jump);
        return Ok(Region {
            layout,
            entry,
            entry32: addr + ENTRY32_OFFSET,
            far_jump: far,
            far_jump_len: far_jump.len(),
            epilogue,
            epilogue_len: epilogue_bytes.len(),
        });
    }
    Err(format!(
        "could not map the host-diff region at any of {CANDIDATES:#x?}"
    ))
}

/// One case as the child reads it.
#[repr(C)]
struct HostCase {
    bits: u32,
    len: usize,
    code: [u8; MAX_CODE],
    regs: [u64; 16],
    rflags: u64,
    mem: [u8; BUF_LEN],
    fx: [u8; FX_LEN],
}

/// One result as the child writes it.
#[repr(C)]
struct HostResult {
    regs: [u64; 16],
    rflags: u64,
    signo: u64,
    trapno: u64,
    err: u64,
    cr2: u64,
    rip: u64,
    mem: [u8; BUF_LEN],
    fx: [u8; FX_LEN],
}

/// The memory shared with the child: a batch of cases and their results.
#[repr(C)]
struct Shared {
    n: usize,
    /// Cases finished so far (the child's progress, read after it died).
    done: AtomicUsize,
    cases: [HostCase; BATCH],
    results: [HostResult; BATCH],
}

/// Runs batches of cases natively, one forked child per batch.
pub struct Runner {
    shared: *mut Shared,
    region: &'static Region,
}

impl Runner {
    /// A runner with its shared batch memory.
    pub fn new(region: &'static Region) -> Result<Runner, Error> {
        // SAFETY: a fresh anonymous shared mapping, zero-filled, sized for `Shared` (whose
        // fields are all valid when zero).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Shared>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Host(format!(
                "mapping the host-diff batch memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Runner {
            shared: p as *mut Shared,
            region,
        })
    }

    /// Runs up to [`BATCH`] cases natively and returns their outcomes in order.
    pub fn run(&mut self, cases: &[Case]) -> Result<Vec<Outcome>, Error> {
        assert!(
            cases.len() <= BATCH,
            "a host-diff batch holds at most {BATCH} cases"
        );
        let sh = self.shared;
        // SAFETY: `sh` is our shared mapping; no child runs now, so the parent is its only user.
        unsafe {
            for (i, c) in cases.iter().enumerate() {
                let hc = &mut *addr_of_mut!((*sh).cases[i]);
                let len = c.code.len().min(MAX_CODE);
                hc.len = len;
                hc.bits = c.bits;
                hc.code[..len].copy_from_slice(&c.code[..len]);
                hc.regs = c.regs;
                hc.rflags = c.rflags;
                hc.mem.copy_from_slice(&c.mem[..]);
                hc.fx.copy_from_slice(&c.fx[..]);
            }
            (*sh).n = cases.len();
        }
        let mut died: Vec<(usize, String)> = Vec::new();
        let mut start = 0;
        while start < cases.len() {
            // SAFETY: as above; the child is forked only after this store.
            unsafe { (*sh).done.store(start, Ordering::SeqCst) };
            // SAFETY: the child runs only `child`, which allocates nothing, takes no lock and
            // leaves with `_exit`, so forking from a multi-threaded process is sound.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                return Err(Error::Host(format!(
                    "fork: {}",
                    std::io::Error::last_os_error()
                )));
            }
            if pid == 0 {
                // SAFETY: in the child, with the shared batch and the inherited region.
                unsafe { child(sh, start, self.region) }
            }
            let mut status = 0;
            loop {
                // SAFETY: waiting for our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, 0) };
                if r == pid {
                    break;
                }
                if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::Host(format!(
                        "waitpid: {}",
                        std::io::Error::last_os_error()
                    )));
                }
            }
            // SAFETY: the child has exited; the parent is the only user again.
            let done = unsafe { (*sh).done.load(Ordering::SeqCst) };
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 && done == cases.len() {
                break;
            }
            let why = if libc::WIFSIGNALED(status) {
                format!("the host child died of signal {}", libc::WTERMSIG(status))
            } else {
                format!(
                    "the host child exited with status {}",
                    libc::WEXITSTATUS(status)
                )
            };
            died.push((done, why));
            start = done + 1;
        }
        let mut out = Vec::with_capacity(cases.len());
        for (i, c) in cases.iter().enumerate() {
            if let Some((_, why)) = died.iter().find(|d| d.0 == i) {
                out.push(Outcome::failed(c, why.clone()));
                continue;
            }
            // SAFETY: the child finished case `i` (it is below `done`) and has exited.
            let r = unsafe { &*addr_of!((*sh).results[i]) };
            let event = if r.signo == 0 {
                Event::Completed
            } else {
                Event::Exception(Exc {
                    vector: Some(r.trapno as u8),
                    code: r.err as u32,
                    addr: r.cr2,
                    rip: r.rip,
                    delivered: true,
                })
            };
            out.push(Outcome {
                regs: r.regs,
                rflags: r.rflags,
                mem: Box::new(r.mem),
                fx: Box::new(r.fx),
                event,
            });
        }
        Ok(out)
    }
}

/// Whether this host runs 32-bit code in compatibility mode (a kernel may have IA-32
/// emulation switched off): runs one 32-bit NOP natively.
pub fn compat_works(region: &'static Region) -> Result<bool, Error> {
    let mut runner = Runner::new(region)?;
    let seq = region.layout.seq();
    let nop = super::gen::decode_at_bits(&[0x90], seq, 32)
        .ok_or_else(|| Error::Host("NOP does not decode".into()))?;
    let mut regs = [0u64; 16];
    regs[4] = region.layout.buf() + 0x800;
    let case = Case {
        index: 0,
        bits: 32,
        code: vec![0x90],
        insns: vec![nop],
        regs,
        rflags: 0x202,
        mem: Box::new([0; BUF_LEN]),
        undefined: vec![0; 2],
        vendor_bits: vec![[0; 16]; 2],
        family: super::Family::Int,
        fx: super::default_fx(),
        sw_undefined: vec![0; 2],
        last_bit: false,
        mem_ignore: Vec::new(),
    };
    let out = runner.run(std::slice::from_ref(&case))?;
    Ok(out[0].event == Event::Completed)
}

impl Drop for Runner {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of that size; no child uses it any more.
        unsafe {
            libc::munmap(
                self.shared as *mut libc::c_void,
                std::mem::size_of::<Shared>(),
            )
        };
    }
}

/// The signal handler: records the fault and resumes at the recovery stub. A signal from
/// anywhere but the code page is not ours: the default action is restored and the fault
/// repeats, killing the child.
extern "C" fn on_signal(sig: libc::c_int, _info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    use libc::{
        REG_CR2, REG_EFL, REG_ERR, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_R8,
        REG_R9, REG_RAX, REG_RBP, REG_RBX,
    };
    use libc::{REG_RCX, REG_RDI, REG_RDX, REG_RIP, REG_RSI, REG_RSP, REG_TRAPNO};
    const ORDER: [libc::c_int; 16] = [
        REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI, REG_R8, REG_R9,
        REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
    ];
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers; the context page
    // is mapped RW in this process for as long as handlers are installed.
    unsafe {
        let uc = &mut *(uc as *mut libc::ucontext_t);
        let g = &mut uc.uc_mcontext.gregs;
        let rip = g[REG_RIP as usize] as u64;
        let code = CODE_ADDR.load(Ordering::Relaxed);
        if rip < code || rip >= code + 0x1000 {
            libc::signal(sig, libc::SIG_DFL);
            return;
        }
        let ctx = CTX_ADDR.load(Ordering::Relaxed) as *mut u64;
        for (i, r) in ORDER.iter().enumerate() {
            write_volatile(ctx.add(i), g[*r as usize] as u64);
        }
        write_volatile(ctx.add(16), g[REG_EFL as usize] as u64);
        write_volatile(ctx.add(SLOT_SIGNO), sig as u64);
        write_volatile(ctx.add(SLOT_TRAPNO), g[REG_TRAPNO as usize] as u64);
        write_volatile(ctx.add(SLOT_ERR), g[REG_ERR as usize] as u64);
        write_volatile(ctx.add(SLOT_CR2), g[REG_CR2 as usize] as u64);
        write_volatile(ctx.add(SLOT_RIP), rip);
        // The x87 and SSE state at the fault, as the kernel saved it in the frame.
        let fp = uc.uc_mcontext.fpregs as *const u8;
        if !fp.is_null() {
            let out = (ctx as *mut u8).add(CTX_FX_OUT as usize);
            for k in 0..FX_LEN {
                write_volatile(out.add(k), read_volatile(fp.add(k)));
            }
        }
        g[REG_RIP as usize] = (code + RECOVER_OFFSET) as i64;
        g[REG_RSP as usize] = read_volatile(ctx.add(17)) as i64;
        // Back to 64-bit code if the fault came from a 32-bit sequence (sigreturn loads CS
        // from the context; its low 16 bits).
        let csgsfs = &mut g[libc::REG_CSGSFS as usize];
        *csgsfs = (*csgsfs & !0xFFFF) | USER_CODE64 as i64;
        // TF, DF and AC off for the host code that follows.
        g[REG_EFL as usize] &= !(0x100 | 0x400 | 0x4_0000);
    }
}

/// The child: installs the handlers and runs cases `start..n`, then exits. Allocates
/// nothing and takes no lock (it is forked from a multi-threaded process).
unsafe fn child(sh: *mut Shared, start: usize, region: &Region) -> ! {
    const ALT_STACK: usize = 64 * 1024;
    let stack = libc::mmap(
        std::ptr::null_mut(),
        ALT_STACK,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if stack == libc::MAP_FAILED {
        libc::_exit(3);
    }
    let ss = libc::stack_t {
        ss_sp: stack,
        ss_flags: 0,
        ss_size: ALT_STACK,
    };
    if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
        libc::_exit(3);
    }
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
    ] {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = (region.layout.base + SIGNAL_OFFSET) as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            libc::_exit(3);
        }
    }
    // The GS base vx86 uses too (nothing on the host side uses GS in 64-bit mode).
    const ARCH_SET_GS: libc::c_long = 0x1001;
    if libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, GS_BASE) != 0 {
        libc::_exit(3);
    }
    libc::alarm(ALARM_SECONDS);
    let n = (*sh).n.min(BATCH);
    let ctx = region.layout.ctx() as *mut u64;
    let seq = region.layout.seq() as *mut u8;
    let buf = region.layout.buf() as *mut u64;
    // SAFETY (of the call below): `entry` is the prologue written by `map_region`; it keeps
    // the C ABI's callee-saved registers, RSP and DF, and returns normally or through the
    // recovery stub.
    let entry64: extern "C" fn() =
        std::mem::transmute::<usize, extern "C" fn()>(region.entry as usize);
    let entry32: extern "C" fn() =
        std::mem::transmute::<usize, extern "C" fn()>(region.entry32 as usize);
    for i in start..n {
        let c = addr_of!((*sh).cases[i]);
        let len = (*c).len.min(MAX_CODE);
        // Volatile stores: the compiler must not drop or move them past the call into code
        // it cannot see.
        for k in 0..len {
            write_volatile(seq.add(k), (*c).code[k]);
        }
        let (entry, tail, tail_len) = if (*c).bits == 32 {
            (entry32, &region.far_jump[..], region.far_jump_len)
        } else {
            (entry64, &region.epilogue[..], region.epilogue_len)
        };
        for (k, b) in tail.iter().enumerate().take(tail_len) {
            write_volatile(seq.add(len + k), *b);
        }
        let mem = (*c).mem.as_ptr() as *const [u8; 8];
        for k in 0..BUF_LEN / 8 {
            write_volatile(buf.add(k), u64::from_le_bytes(*mem.add(k)));
        }
        for r in 0..16 {
            write_volatile(ctx.add(r), (*c).regs[r]);
        }
        let fx_in = (ctx as *mut u8).add(CTX_FX_IN as usize);
        for k in 0..FX_LEN {
            write_volatile(fx_in.add(k), (*c).fx[k]);
        }
        write_volatile(ctx.add(16), (*c).rflags);
        write_volatile(ctx.add(SLOT_SIGNO), 0);
        entry();
        let res = addr_of_mut!((*sh).results[i]);
        for r in 0..16 {
            (*res).regs[r] = read_volatile(ctx.add(r));
        }
        (*res).rflags = read_volatile(ctx.add(16));
        (*res).signo = read_volatile(ctx.add(SLOT_SIGNO));
        (*res).trapno = read_volatile(ctx.add(SLOT_TRAPNO));
        (*res).err = read_volatile(ctx.add(SLOT_ERR));
        (*res).cr2 = read_volatile(ctx.add(SLOT_CR2));
        (*res).rip = read_volatile(ctx.add(SLOT_RIP));
        let out = (*res).mem.as_mut_ptr() as *mut [u8; 8];
        for k in 0..BUF_LEN / 8 {
            *out.add(k) = read_volatile(buf.add(k)).to_le_bytes();
        }
        let fx_out = (ctx as *const u8).add(CTX_FX_OUT as usize);
        for k in 0..FX_LEN {
            (*res).fx[k] = read_volatile(fx_out.add(k));
        }
        (*sh).done.store(i + 1, Ordering::SeqCst);
    }
    libc::_exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::hostdiff::gen::decode_at;
    use crate::cpu::flags::bit;

    fn case(code: &[u8], regs: [u64; 16]) -> Case {
        let l = region().unwrap().layout;
        let mut insns = Vec::new();
        let mut pos = 0;
        while pos < code.len() {
            let i = decode_at(&code[pos..], l.seq() + pos as u64).unwrap();
            pos += i.len();
            insns.push(i);
        }
        let n = insns.len();
        Case {
            index: 0,
            bits: 64,
            code: code.to_vec(),
            insns,
            regs,
            rflags: bit::FIXED1 | bit::IF | bit::CF,
            mem: Box::new([0x55; BUF_LEN]),
            undefined: vec![0; n + 1],
            vendor_bits: vec![[0; 16]; n + 1],
            family: crate::conformance::hostdiff::Family::Int,
            fx: crate::conformance::hostdiff::default_fx(),
            sw_undefined: vec![0; n + 1],
            last_bit: false,
            mem_ignore: Vec::new(),
        }
    }

    #[test]
    fn the_trampoline_encodes_absolute_operands_without_rip() {
        let bytes = encode_all(epilogue(0x5000_3000)).unwrap();
        let mut d = iced_x86::Decoder::with_ip(64, &bytes, 0, iced_x86::DecoderOptions::NONE);
        // FXSAVE64 of the x87 and SSE state, then the first GPR store.
        let fxsave = d.decode();
        assert_eq!(fxsave.code(), Code::Fxsave64_m512byte);
        assert_eq!(fxsave.memory_base(), Register::None);
        assert_eq!(fxsave.memory_displacement64(), 0x5000_3000 + CTX_FX_OUT);
        let first = d.decode();
        assert_eq!(first.memory_base(), Register::None);
        assert_eq!(first.memory_displacement64(), 0x5000_3000);
    }

    #[test]
    fn the_x87_state_travels_in_and_out_of_a_native_run() {
        let region = region().unwrap();
        let l = region.layout;
        let mut runner = Runner::new(region).unwrap();
        let mut regs = [0u64; 16];
        regs[4] = l.buf() + 0x800;
        // fld1; faddp st(1) with ST0 = 2: 3 in ST0 of the image coming back.
        let mut c = case(&[0xD9, 0xE8, 0xDE, 0xC1], regs);
        c.family = crate::conformance::hostdiff::Family::X87;
        c.fx[2..4].copy_from_slice(&(7u16 << 11).to_le_bytes());
        c.fx[4] = 0x80;
        c.fx[32..42].copy_from_slice(
            &crate::cpu::softfloat::F80 {
                se: 0x4000,
                m: 1 << 63,
            }
            .to_bytes(),
        );
        // fdivr st(0), st(0) of 0 / 0 with #IA unmasked, then fld1: #MF at the FLD1.
        let mut z = case(&[0xD8, 0xF8, 0xD9, 0xE8], regs);
        z.fx[0..2].copy_from_slice(&0x037Eu16.to_le_bytes());
        z.fx[4] = 0x01;
        let out = runner.run(&[c, z]).unwrap();
        assert_eq!(out[0].event, Event::Completed);
        let st0 = crate::cpu::softfloat::F80::from_bytes(out[0].fx[32..42].try_into().unwrap());
        assert_eq!(
            st0,
            crate::cpu::softfloat::F80 {
                se: 0x4000,
                m: 0xC000_0000_0000_0000
            }
        );
        let Event::Exception(e) = &out[1].event else {
            panic!("{:?}", out[1].event)
        };
        assert_eq!((e.vector, e.rip), (Some(16), l.seq() + 2));
        let fsw = u16::from_le_bytes([out[1].fx[2], out[1].fx[3]]);
        assert_eq!(fsw & 0x80FF, 0x8081, "IE, ES and B at the #MF");
    }

    #[test]
    fn runs_natively_and_reports_results_and_faults() {
        let region = region().unwrap();
        let l = region.layout;
        let mut runner = Runner::new(region).unwrap();
        let mut regs = [0u64; 16];
        regs[0] = 5;
        regs[3] = 7;
        regs[4] = l.buf() + 0x800;
        // adc rax, rbx; mov [rsp-8], rax
        let ok = case(&[0x48, 0x11, 0xD8, 0x48, 0x89, 0x44, 0x24, 0xF8], regs);
        // div ecx with ECX = 0: #DE at the instruction, registers as before it.
        let de = case(&[0x90, 0xF7, 0xF1], regs);
        // mov al, [guard]: #PF with CR2 = the guard page.
        let mut pf_code = vec![0x8A, 0x04, 0x25];
        pf_code.extend_from_slice(&(l.guard() as u32).to_le_bytes());
        let pf = case(&pf_code, regs);
        // ud2: #UD.
        let ud = case(&[0x0F, 0x0B], regs);
        let out = runner.run(&[ok.clone(), de, pf, ud, ok]).unwrap();
        assert_eq!(out[0].event, Event::Completed);
        assert_eq!(out[0].regs[0], 13);
        assert_eq!(out[0].regs[4], l.buf() + 0x800);
        assert_eq!(out[0].rflags & bit::CF, 0);
        assert_eq!(&out[0].mem[0x7F8..0x800], &13u64.to_le_bytes());
        assert_eq!(
            out[0].mem[0x7F0], 0x55,
            "the signal frames never land in the buffer"
        );
        assert_eq!(
            out[1].event,
            Event::Exception(Exc {
                vector: Some(0),
                code: 0,
                addr: 0,
                rip: l.seq() + 1,
                delivered: true,
            })
        );
        assert_eq!(out[1].regs[0], 5);
        let Event::Exception(e) = out[2].event.clone() else {
            panic!("{:?}", out[2].event)
        };
        assert_eq!(
            (e.vector, e.addr, e.code & 7, e.rip),
            (Some(14), l.guard(), 4, l.seq())
        );
        let Event::Exception(e) = out[3].event.clone() else {
            panic!("{:?}", out[3].event)
        };
        assert_eq!(e.vector, Some(6));
        assert_eq!(
            out[4].regs[0], 13,
            "the child recovers and runs the next case"
        );
    }

    #[test]
    fn alignment_checks_raise_ac_and_the_handler_survives_ac_set() {
        let region = region().unwrap();
        let l = region.layout;
        let mut runner = Runner::new(region).unwrap();
        let mut regs = [0u64; 16];
        regs[3] = l.buf() + 0x801;
        regs[4] = l.buf() + 0x800;
        let with_ac = |code: &[u8]| {
            let mut c = case(code, regs);
            c.rflags |= bit::AC;
            c
        };
        // mov eax, [rbx] (misaligned): #AC(0); ud2 with AC set: #UD; then a plain case.
        let cases = [
            with_ac(&[0x8B, 0x03]),
            with_ac(&[0x0F, 0x0B]),
            with_ac(&[0x90]),
        ];
        let out = runner.run(&cases).unwrap();
        let vector = |o: &Outcome| match &o.event {
            Event::Exception(e) => e.vector,
            other => panic!("{other:?}"),
        };
        assert_eq!(vector(&out[0]), Some(17));
        assert_eq!(vector(&out[1]), Some(6));
        assert_eq!(out[2].event, Event::Completed);
        assert_ne!(out[2].rflags & bit::AC, 0);
    }
}
