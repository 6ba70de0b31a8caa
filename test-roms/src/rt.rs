//! The guest runtime every kernel links in: console output (0xE9 or COM1), hex and decimal
//! numbers, checks that report what they saw and end the run through isa-debug-exit, an IDT
//! whose unexpected vectors report themselves, and the switch from 32-bit protected mode to
//! 64-bit mode.
//!
//! Kernels are written as Rust calls on an [`Rt`], which derefs to iced-x86's
//! `CodeAssembler`, so ordinary instructions are `r.mov(eax, 1)?` and the helpers are
//! `r.print("...")?`, `r.check_eq(eax, 5, "what")?`. Routines (`puts`, `put_hex`, ...) are
//! emitted once, after the kernel's code; so are the strings. [`assemble`] runs a kernel's
//! code twice, since 32-bit code takes label addresses as immediates (see [`Rt::addr`]).
//!
//! The helpers preserve every general register (they may change the flags). Code written
//! for both modes uses 32-bit registers; [`Rt::m`] gives a memory operand on the register
//! of the mode's address size.

use std::ops::{Deref, DerefMut};

use iced_x86::code_asm::asm_traits::{CodeAsmCmp, CodeAsmMov};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

/// Where a kernel is loaded: 1 MiB, as multiboot and bzImage kernels are.
pub const BASE: u64 = 0x10_0000;
/// The first byte of code: the headers (ELF, multiboot) come before it.
pub const CODE: u64 = BASE + 0x200;
/// The bss: zeroed by the loader up to [`END`].
pub const BSS: u64 = 0x11_0000;
/// 256 bytes of scratch memory for the routines (number formatting, IDTR/GDTR images).
pub const SCRATCH: u64 = BSS;
/// Kernel variables: [`var`] `n` is the dword at `VARS + 4n` (1 KiB of them).
pub const VARS: u64 = BSS + 0x400;
/// The IDT (256 gates of up to 16 bytes).
pub const IDT: u64 = BSS + 0x1000;
/// The page tables of [`Rt::enter_long_mode`]: PML4, PDPT, four page directories.
pub const PAGE_TABLES: u64 = BSS + 0x3000;
/// Top of the stack (it grows down towards the page tables' end, 0x119000).
pub const STACK_TOP: u64 = 0x12_0000;
/// End of the kernel's memory (bss included).
pub const END: u64 = 0x12_0000;

/// isa-debug-exit value of a kernel whose checks all passed: the run's status is 1.
pub const PASS: u8 = 0;
/// isa-debug-exit value of a failed check: the run's status is `(0x55 << 1) | 1`.
pub const FAIL: u8 = 0x55;
/// The isa-debug-exit port.
pub const EXIT_PORT: u8 = 0xF4;

/// Selectors of the GDT that [`Rt::enter_long_mode`] loads (0x08 is flat 32-bit code).
pub mod sel {
    /// Flat data.
    pub const DATA: u16 = 0x10;
    /// 64-bit code.
    pub const CODE64: u16 = 0x18;
}

/// The address of kernel variable `n`.
pub const fn var(n: u64) -> u64 {
    VARS + 4 * n
}

/// Where [`Rt`]'s console output goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// The 0xE9 debug console (test kernels).
    E9,
    /// COM1, polling LSR.THRE before each byte (the demo).
    Com1,
}

/// A result of emitting code.
pub type R = Result<(), IcedError>;

/// Assembles `bits`-bit code printing to `out` at `ip`, written by `f`. Runs `f` twice: the
/// first pass learns where the labels land, the second writes their addresses into the code.
pub fn assemble(
    bits: u32,
    out: Out,
    ip: u64,
    f: impl Fn(&mut Rt) -> R,
) -> Result<Vec<u8>, IcedError> {
    let mut first = Rt::new(bits, out)?;
    f(&mut first)?;
    let (_, addrs) = first.finish(ip)?;
    let mut second = Rt::new(bits, out)?;
    second.resolved = Some(addrs.clone());
    f(&mut second)?;
    let (code, again) = second.finish(ip)?;
    assert_eq!(
        addrs, again,
        "the second pass laid the code out differently"
    );
    Ok(code)
}

/// Assembles code that refers to the address just after itself (16-byte aligned), where the
/// caller puts what follows (64-bit code, markers): `f` gets that address. The layout must
/// not depend on it (absolute operands are 32 bits wide either way). Returns the code and
/// the address.
pub fn assemble_with_next(
    bits: u32,
    out: Out,
    ip: u64,
    f: impl Fn(&mut Rt, u64) -> R,
) -> Result<(Vec<u8>, u64), IcedError> {
    let len = assemble(bits, out, ip, |r| f(r, 0))?.len() as u64;
    let next = (ip + len).next_multiple_of(16);
    let code = assemble(bits, out, ip, |r| f(r, next))?;
    assert_eq!(
        code.len() as u64,
        len,
        "the code's size depends on the address after it"
    );
    Ok((code, next))
}

/// Labels of the shared routines.
#[derive(Clone, Copy)]
struct Routines {
    putc: CodeLabel,
    puts: CodeLabel,
    put_hex: CodeLabel,
    put_dec: CodeLabel,
    fail_eq: CodeLabel,
    fail_range: CodeLabel,
    fail_msg: CodeLabel,
    exit: CodeLabel,
    set_gate: CodeLabel,
    strcmp: CodeLabel,
    fnv: CodeLabel,
    exc_stubs: CodeLabel,
    unexpected: CodeLabel,
}

/// A kernel being assembled, with its runtime.
pub struct Rt {
    a: CodeAssembler,
    /// 32 or 64.
    pub bits: u32,
    out: Out,
    strings: Vec<(CodeLabel, Vec<u8>)>,
    r: Routines,
    /// Labels whose address the code took, in order.
    taken: Vec<CodeLabel>,
    /// Every label placed, as placed (with its instruction index).
    placed: Vec<CodeLabel>,
    /// Their addresses, from the first pass.
    resolved: Option<Vec<u64>>,
}

impl Deref for Rt {
    type Target = CodeAssembler;
    fn deref(&self) -> &CodeAssembler {
        &self.a
    }
}

impl DerefMut for Rt {
    fn deref_mut(&mut self) -> &mut CodeAssembler {
        &mut self.a
    }
}

/// The 64-bit register with the same number as `r`.
fn wide(r: AsmRegister32) -> AsmRegister64 {
    match r {
        _ if r == eax => rax,
        _ if r == ecx => rcx,
        _ if r == edx => rdx,
        _ if r == ebx => rbx,
        _ if r == esp => rsp,
        _ if r == ebp => rbp,
        _ if r == esi => rsi,
        _ => rdi,
    }
}

impl Rt {
    /// A kernel in `bits`-bit code printing to `out`.
    fn new(bits: u32, out: Out) -> Result<Rt, IcedError> {
        let mut a = CodeAssembler::new(bits)?;
        let mut l = || a.create_label();
        let r = Routines {
            putc: l(),
            puts: l(),
            put_hex: l(),
            put_dec: l(),
            fail_eq: l(),
            fail_range: l(),
            fail_msg: l(),
            exit: l(),
            set_gate: l(),
            strcmp: l(),
            fnv: l(),
            exc_stubs: l(),
            unexpected: l(),
        };
        Ok(Rt {
            a,
            bits,
            out,
            strings: Vec::new(),
            r,
            taken: Vec::new(),
            placed: Vec::new(),
            resolved: None,
        })
    }

    /// A fresh label.
    pub fn label(&mut self) -> CodeLabel {
        self.a.create_label()
    }

    /// Places `l` at the next instruction (after a NOP when another label already is). Kernels
    /// place labels with this, not `set_label`, so that their addresses can be taken.
    pub fn set(&mut self, l: &mut CodeLabel) -> R {
        if self.a.set_label(l).is_err() {
            self.a.nop()?;
            self.a.set_label(l)?;
        }
        self.placed.push(*l);
        Ok(())
    }

    /// A memory operand addressed by `r` in the mode's address size.
    pub fn m(&self, r: AsmRegister32) -> AsmMemoryOperand {
        if self.bits == 64 {
            ptr(wide(r))
        } else {
            ptr(r)
        }
    }

    /// Pushes `r` (its 64-bit form in 64-bit mode).
    pub fn push_r(&mut self, r: AsmRegister32) -> R {
        if self.bits == 64 {
            self.a.push(wide(r))
        } else {
            self.a.push(r)
        }
    }

    /// Pops `r` (its 64-bit form in 64-bit mode).
    pub fn pop_r(&mut self, r: AsmRegister32) -> R {
        if self.bits == 64 {
            self.a.pop(wide(r))
        } else {
            self.a.pop(r)
        }
    }

    /// A NUL-terminated string emitted after the code; returns its label.
    pub fn string(&mut self, s: &[u8]) -> CodeLabel {
        let l = self.a.create_label();
        let mut v = s.to_vec();
        v.push(0);
        self.strings.push((l, v));
        l
    }

    /// The address of label `l`: 0 in the first pass, which only learns the layout; the
    /// real address in the second (see [`assemble`]).
    pub fn addr(&mut self, l: CodeLabel) -> u32 {
        let a = match &self.resolved {
            Some(v) => v[self.taken.len()] as u32,
            None => 0,
        };
        self.taken.push(l);
        a
    }

    /// Loads the address of `l` into `r` (`mov r, imm32`: the same size in both passes, and
    /// iced's label operands are RIP-relative, which 32-bit code does not have).
    pub fn mov_addr(&mut self, r: AsmRegister32, l: CodeLabel) -> R {
        let a = self.addr(l);
        mov_imm(&mut self.a, r, a)
    }

    /// Prints `s`.
    pub fn print(&mut self, s: &str) -> R {
        let l = self.string(s.as_bytes());
        self.push_r(esi)?;
        self.mov_addr(esi, l)?;
        self.a.call(self.r.puts)?;
        self.pop_r(esi)
    }

    /// Prints the NUL-terminated string at the address in `r`.
    pub fn print_at(&mut self, r: AsmRegister32) -> R {
        self.push_r(esi)?;
        self.a.mov(esi, r)?;
        self.a.call(self.r.puts)?;
        self.pop_r(esi)
    }

    /// Prints `op` as 8 hex digits.
    pub fn print_hex<T>(&mut self, op: T) -> R
    where
        CodeAssembler: CodeAsmMov<AsmRegister32, T>,
    {
        self.print_hex_n(op, 8)
    }

    /// Prints the low `digits` hex digits of `op`.
    pub fn print_hex_n<T>(&mut self, op: T, digits: u32) -> R
    where
        CodeAssembler: CodeAsmMov<AsmRegister32, T>,
    {
        self.push_r(eax)?;
        self.push_r(ecx)?;
        self.a.mov(eax, op)?;
        mov_imm(&mut self.a, ecx, digits)?;
        self.a.call(self.r.put_hex)?;
        self.pop_r(ecx)?;
        self.pop_r(eax)
    }

    /// Prints `op` in decimal, zero-padded to `width` digits.
    pub fn print_dec<T>(&mut self, op: T, width: u32) -> R
    where
        CodeAssembler: CodeAsmMov<AsmRegister32, T>,
    {
        self.push_r(eax)?;
        self.push_r(ecx)?;
        self.a.mov(eax, op)?;
        mov_imm(&mut self.a, ecx, width)?;
        self.a.call(self.r.put_dec)?;
        self.pop_r(ecx)?;
        self.pop_r(eax)
    }

    /// Fails unless `op == expect`, reporting `what`, the value and the expectation.
    pub fn check_eq<T: Copy>(&mut self, op: T, expect: u32, what: &str) -> R
    where
        CodeAssembler: CodeAsmCmp<T, u32> + CodeAsmMov<AsmRegister32, T>,
    {
        let mut ok = self.label();
        self.a.cmp(op, expect)?;
        self.a.je(ok)?;
        self.a.mov(eax, op)?;
        mov_imm(&mut self.a, edx, expect)?;
        let msg = self.string(what.as_bytes());
        self.mov_addr(esi, msg)?;
        self.a.jmp(self.r.fail_eq)?;
        self.set(&mut ok)
    }

    /// Fails unless the byte at `mem` is `expect`.
    pub fn check_u8(&mut self, mem: AsmMemoryOperand, expect: u8, what: &str) -> R {
        self.push_r(eax)?;
        self.a.movzx(eax, byte_ptr(mem))?;
        self.check_eq(eax, expect as u32, what)?;
        self.pop_r(eax)
    }

    /// Fails unless the word at `mem` is `expect`.
    pub fn check_u16(&mut self, mem: AsmMemoryOperand, expect: u16, what: &str) -> R {
        self.push_r(eax)?;
        self.a.movzx(eax, word_ptr(mem))?;
        self.check_eq(eax, expect as u32, what)?;
        self.pop_r(eax)
    }

    /// Fails unless `lo <= op <= hi` (unsigned), reporting in decimal.
    pub fn check_range<T: Copy>(&mut self, op: T, lo: u32, hi: u32, what: &str) -> R
    where
        CodeAssembler: CodeAsmCmp<T, u32> + CodeAsmMov<AsmRegister32, T>,
    {
        let mut bad = self.label();
        let mut ok = self.label();
        self.a.cmp(op, lo)?;
        self.a.jb(bad)?;
        self.a.cmp(op, hi)?;
        self.a.jbe(ok)?;
        self.set(&mut bad)?;
        self.a.mov(eax, op)?;
        mov_imm(&mut self.a, ecx, lo)?;
        mov_imm(&mut self.a, edx, hi)?;
        let msg = self.string(what.as_bytes());
        self.mov_addr(esi, msg)?;
        self.a.jmp(self.r.fail_range)?;
        self.set(&mut ok)
    }

    /// Fails unless the NUL-terminated string at the address in `r` is `expect`.
    pub fn check_str(&mut self, r: AsmRegister32, expect: &str, what: &str) -> R {
        let want = self.string(expect.as_bytes());
        self.push_r(esi)?;
        self.push_r(edi)?;
        self.a.mov(esi, r)?;
        self.mov_addr(edi, want)?;
        self.a.call(self.r.strcmp)?;
        self.pop_r(edi)?;
        self.pop_r(esi)?;
        let mut ok = self.label();
        self.a.je(ok)?;
        self.print(&format!("FAIL: {what}: expected \"{expect}\", got \""))?;
        self.print_at(r)?;
        self.print("\"\n")?;
        self.exit(FAIL)?;
        self.set(&mut ok)
    }

    /// Compares the NUL-terminated strings at ESI and EDI: ZF set when equal.
    pub fn call_strcmp(&mut self) -> R {
        self.a.call(self.r.strcmp)
    }

    /// Fails unless the NUL-terminated string at the address in `r` ends with `suffix`.
    pub fn check_suffix(&mut self, r: AsmRegister32, suffix: &str, what: &str) -> R {
        let want = self.string(suffix.as_bytes());
        let mut ok = self.label();
        let mut bad = self.label();
        let mut len = self.label();
        self.push_r(esi)?;
        self.push_r(edi)?;
        // EDI = the string, ESI = its end; back up by the suffix's length unless that
        // leaves the string.
        self.a.mov(edi, r)?;
        self.a.mov(esi, edi)?;
        self.set(&mut len)?;
        let m = self.m(esi);
        self.a.cmp(byte_ptr(m), 0)?;
        let mut end = self.label();
        self.a.je(end)?;
        self.a.inc(esi)?;
        self.a.jmp(len)?;
        self.set(&mut end)?;
        self.a.sub(esi, suffix.len() as u32)?;
        self.a.cmp(esi, edi)?;
        self.a.jb(bad)?;
        self.mov_addr(edi, want)?;
        self.a.call(self.r.strcmp)?;
        self.a.je(ok)?;
        self.set(&mut bad)?;
        self.pop_r(edi)?;
        self.pop_r(esi)?;
        self.print(&format!(
            "FAIL: {what}: expected a string ending in \"{suffix}\", got \""
        ))?;
        self.print_at(r)?;
        self.print("\"\n")?;
        self.exit(FAIL)?;
        self.set(&mut ok)?;
        self.pop_r(edi)?;
        self.pop_r(esi)
    }

    /// Fails unless the FNV-1a hash of the `len` bytes at the address in `r` is `hash`
    /// (see [`fnv1a`]).
    pub fn check_fnv(&mut self, r: AsmRegister32, len: u32, hash: u32, what: &str) -> R {
        self.push_r(eax)?;
        self.push_r(ecx)?;
        self.push_r(esi)?;
        self.a.mov(esi, r)?;
        self.a.mov(ecx, len)?;
        self.a.call(self.r.fnv)?;
        self.check_eq(eax, hash, what)?;
        self.pop_r(esi)?;
        self.pop_r(ecx)?;
        self.pop_r(eax)
    }

    /// Fails unless the dwords at the address in `r` are `table`, reporting the first that
    /// differs.
    pub fn check_table(&mut self, r: AsmRegister32, table: &[u32], what: &str) -> R {
        let data: Vec<u8> = table.iter().flat_map(|d| d.to_le_bytes()).collect();
        let want = self.string(&data);
        for reg in [eax, ecx, esi, edi] {
            self.push_r(reg)?;
        }
        self.a.mov(esi, r)?;
        self.mov_addr(edi, want)?;
        self.a.xor(ecx, ecx)?;
        let mut next = self.label();
        let mut ok = self.label();
        let mut bad = self.label();
        self.set(&mut next)?;
        let (ms, md) = (self.m(esi), self.m(edi));
        let (ms, md) = if self.bits == 64 {
            (ms + rcx * 4, md + rcx * 4)
        } else {
            (ms + ecx * 4, md + ecx * 4)
        };
        self.a.mov(eax, dword_ptr(ms))?;
        self.a.cmp(eax, dword_ptr(md))?;
        self.a.jne(bad)?;
        self.a.inc(ecx)?;
        self.a.cmp(ecx, table.len() as u32)?;
        self.a.jb(next)?;
        self.a.jmp(ok)?;
        self.set(&mut bad)?;
        self.print(&format!("FAIL: {what}: dword "))?;
        self.print_dec(ecx, 0)?;
        self.print(" = 0x")?;
        self.print_hex(eax)?;
        self.print(", expected 0x")?;
        self.print_hex(dword_ptr(md))?;
        self.print("\n")?;
        self.exit(FAIL)?;
        self.set(&mut ok)?;
        for reg in [edi, esi, ecx, eax] {
            self.pop_r(reg)?;
        }
        Ok(())
    }

    /// Fails with `what` unless the last comparison found "below" (unsigned).
    pub fn fail_unless_below(&mut self, what: &str) -> R {
        self.fail_unless(|a, l| a.jb(l), what)
    }

    /// Fails with `what` unless ZF is set.
    pub fn fail_unless_zero(&mut self, what: &str) -> R {
        self.fail_unless(|a, l| a.jz(l), what)
    }

    /// Fails with `what` unless the last comparison found equality.
    pub fn fail_unless_equal(&mut self, what: &str) -> R {
        self.fail_unless(|a, l| a.je(l), what)
    }

    /// Fails with `what` unless the last comparison found a difference.
    pub fn fail_unless_not_equal(&mut self, what: &str) -> R {
        self.fail_unless(|a, l| a.jne(l), what)
    }

    fn fail_unless(&mut self, jump_ok: fn(&mut CodeAssembler, CodeLabel) -> R, what: &str) -> R {
        let mut ok = self.label();
        jump_ok(&mut self.a, ok)?;
        self.fail(what)?;
        self.set(&mut ok)
    }

    /// Prints "FAIL: `what`" and ends the run with [`FAIL`].
    pub fn fail(&mut self, what: &str) -> R {
        let msg = self.string(what.as_bytes());
        self.mov_addr(esi, msg)?;
        self.a.jmp(self.r.fail_msg)
    }

    /// Writes `code` to isa-debug-exit (and halts, should the write not end the run).
    pub fn exit(&mut self, code: u8) -> R {
        self.a.mov(al, code as u32)?;
        self.a.jmp(self.r.exit)
    }

    /// Prints "`name`: all checks passed" and ends the run with [`PASS`].
    pub fn pass(&mut self, name: &str) -> R {
        self.print(&format!("{name}: all checks passed\n"))?;
        self.exit(PASS)
    }

    /// Sets up the stack at [`STACK_TOP`].
    pub fn init_stack(&mut self) -> R {
        if self.bits == 64 {
            self.a.mov(rsp, STACK_TOP)
        } else {
            self.a.mov(esp, STACK_TOP as u32)
        }
    }

    /// Fills the IDT at [`IDT`]: vectors 0–31 report the exception, error code and faulting
    /// address and fail; 32–255 report an unexpected interrupt and fail. Loads IDTR.
    pub fn setup_idt(&mut self) -> R {
        let mut l1 = self.label();
        let mut l2 = self.label();
        self.mov_addr(eax, self.r.exc_stubs)?;
        self.a.xor(ecx, ecx)?;
        self.set(&mut l1)?;
        self.a.call(self.r.set_gate)?;
        self.a.add(eax, STUB_SIZE as u32)?;
        self.a.inc(ecx)?;
        self.a.cmp(ecx, 32)?;
        self.a.jb(l1)?;
        self.mov_addr(eax, self.r.unexpected)?;
        self.set(&mut l2)?;
        self.a.call(self.r.set_gate)?;
        self.a.inc(ecx)?;
        self.a.cmp(ecx, 256)?;
        self.a.jb(l2)?;
        let gate = if self.bits == 64 { 16 } else { 8 };
        self.a.mov(word_ptr(SCRATCH), (256 * gate - 1) as u32)?;
        self.a.mov(dword_ptr(SCRATCH + 2), IDT as u32)?;
        self.a.mov(dword_ptr(SCRATCH + 6), 0)?;
        self.a.lidt(ptr(SCRATCH))
    }

    /// Points IDT gate `vector` at `handler` (an interrupt gate: IF clears on entry).
    pub fn set_gate(&mut self, vector: u8, handler: CodeLabel) -> R {
        self.push_r(eax)?;
        self.push_r(ecx)?;
        self.mov_addr(eax, handler)?;
        self.a.mov(ecx, vector as u32)?;
        self.a.call(self.r.set_gate)?;
        self.pop_r(ecx)?;
        self.pop_r(eax)
    }

    /// Returns from an interrupt handler.
    pub fn iret(&mut self) -> R {
        if self.bits == 64 {
            self.a.iretq()
        } else {
            self.a.iretd()
        }
    }

    /// Emits `in al, port` for any port.
    pub fn inb(&mut self, port: u16) -> R {
        if port < 0x100 {
            self.a.in_(al, port as u32)
        } else {
            self.a.mov(dx, port as u32)?;
            self.a.in_(al, dx)
        }
    }

    /// Emits `out port, value` (through AL; DX for ports above 0xFF).
    pub fn outb(&mut self, port: u16, value: u8) -> R {
        self.a.mov(al, value as u32)?;
        self.out_al(port)
    }

    /// Emits `out port, al`.
    pub fn out_al(&mut self, port: u16) -> R {
        if port < 0x100 {
            self.a.out(port as u32, al)
        } else {
            self.a.mov(dx, port as u32)?;
            self.a.out(dx, al)
        }
    }

    /// Reprograms the 8259 pair: vectors `master`..+7 and `slave`..+7, cascade on IR2, all
    /// lines masked.
    pub fn pic_init(&mut self, master: u8, slave: u8) -> R {
        for (cmd, data, base, icw3) in [(0x20, 0x21, master, 0x04), (0xA0, 0xA1, slave, 0x02)] {
            self.outb(cmd, 0x11)?; // ICW1: edge, cascade, ICW4 follows
            self.outb(data, base)?; // ICW2: vector base
            self.outb(data, icw3)?; // ICW3: slave on IR2 / slave ID 2
            self.outb(data, 0x01)?; // ICW4: 8086 mode, normal EOI
            self.outb(data, 0xFF)?; // OCW1: all masked
        }
        Ok(())
    }

    /// Switches from 32-bit protected mode (this assembler) to 64-bit mode and jumps to
    /// `target` (64-bit code below 4 GiB), as SDM Vol. 3A 10.8.5 lays it out: identity-maps
    /// the first 4 GiB with 2-MiB pages at [`PAGE_TABLES`], loads a GDT with [`sel`]'s
    /// selectors, sets CR4.PAE, CR3, EFER.LME and CR0.PG (long mode is then active, in
    /// compatibility mode), and far-jumps to the 64-bit code segment. With `verbose` it
    /// prints each step. Clobbers EAX, ECX, EDX, EDI.
    pub fn enter_long_mode(&mut self, target: u64, verbose: bool) -> R {
        let say = |r: &mut Rt, s: &str| if verbose { r.print(s) } else { Ok(()) };
        let pml4 = PAGE_TABLES;
        let pdpt = PAGE_TABLES + 0x1000;
        let pd = PAGE_TABLES + 0x2000;
        self.a.mov(dword_ptr(pml4), (pdpt | 3) as u32)?;
        for i in 0..4 {
            self.a
                .mov(dword_ptr(pdpt + 8 * i), ((pd + 0x1000 * i) | 3) as u32)?;
        }
        let mut fill = self.label();
        self.a.mov(edi, pd as u32)?;
        self.a.mov(eax, 0x83)?; // present, writable, 2-MiB page
        self.a.mov(ecx, 4 * 512)?;
        self.set(&mut fill)?;
        self.a.mov(dword_ptr(edi), eax)?;
        self.a.mov(dword_ptr(edi + 4), 0)?;
        self.a.add(eax, 0x20_0000)?;
        self.a.add(edi, 8)?;
        self.a.dec(ecx)?;
        self.a.jnz(fill)?;
        say(
            self,
            "[32-bit] page tables built: the first 4 GiB identity-mapped with 2 MiB pages\n",
        )?;

        // The GDT: null, flat 32-bit code, flat data, 64-bit code (SDM Vol. 3A 3.4.5).
        let mut gdt = self.label();
        let mut after = self.label();
        self.a.jmp(after)?;
        self.set(&mut gdt)?;
        self.a.dq(&[
            0,
            0x00CF_9A00_0000_FFFF,
            0x00CF_9200_0000_FFFF,
            0x00AF_9A00_0000_FFFF,
        ])?;
        self.set(&mut after)?;
        self.mov_addr(eax, gdt)?;
        self.a.mov(word_ptr(SCRATCH), 31)?;
        self.a.mov(dword_ptr(SCRATCH + 2), eax)?;
        self.a.lgdt(ptr(SCRATCH))?;
        say(
            self,
            "[32-bit] GDT loaded with a 64-bit code segment (0x18)\n",
        )?;
        self.a.mov(eax, cr4)?;
        self.a.or(eax, 1 << 5)?;
        self.a.mov(cr4, eax)?;
        self.a.mov(eax, pml4 as u32)?;
        self.a.mov(cr3, eax)?;
        say(self, "[32-bit] CR4.PAE set, CR3 points at the PML4\n")?;
        self.a.mov(ecx, 0xC000_0080u32)?;
        self.a.rdmsr()?;
        self.a.or(eax, 1 << 8)?;
        self.a.wrmsr()?;
        say(self, "[32-bit] EFER.LME set\n")?;
        self.a.mov(eax, cr0)?;
        self.a.or(eax, 0x8000_0000u32)?;
        self.a.mov(cr0, eax)?;
        say(
            self,
            "[compat] CR0.PG set: long mode is active, still running 32-bit code\n",
        )?;
        self.a.jmp_far(sel::CODE64, target as u32)
    }

    /// The first instructions of 64-bit code entered from [`Rt::enter_long_mode`]: data
    /// segments and the stack.
    pub fn long_mode_prologue(&mut self) -> R {
        self.a.mov(eax, sel::DATA as u32)?;
        self.a.mov(ds, ax)?;
        self.a.mov(es, ax)?;
        self.a.mov(ss, ax)?;
        self.init_stack()
    }

    /// Emits the routines and strings and assembles the code at `ip`; returns the bytes
    /// and the addresses of the labels the code took.
    fn finish(mut self, ip: u64) -> Result<(Vec<u8>, Vec<u64>), IcedError> {
        self.emit_routines()?;
        let strings = std::mem::take(&mut self.strings);
        for (mut l, s) in strings {
            self.set(&mut l)?;
            self.a.db(&s)?;
        }
        let res = self
            .a
            .assemble_options(ip, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
        let addrs = self
            .taken
            .iter()
            .map(|l| match self.placed.iter().find(|p| *p == l) {
                Some(p) => res.label_ip(p),
                None => res.label_ip(l),
            })
            .collect::<Result<Vec<u64>, IcedError>>()?;
        Ok((res.inner.code_buffer, addrs))
    }

    fn emit_routines(&mut self) -> R {
        let b64 = self.bits == 64;
        // A copy: placing its labels records them in `placed`; `self.r` keeps the same ids.
        let mut r = self.r;

        // putc: AL = the byte.
        self.set(&mut r.putc)?;
        self.push_r(edx)?;
        self.push_r(eax)?;
        match self.out {
            Out::E9 => self.a.out(0xE9, al)?,
            Out::Com1 => {
                // Wait for LSR.THRE (bit 5), then write THR.
                let mut wait = self.label();
                self.a.mov(dx, 0x3FD)?;
                self.set(&mut wait)?;
                self.a.in_(al, dx)?;
                self.a.test(al, 0x20)?;
                self.a.jz(wait)?;
                self.pop_r(eax)?;
                self.push_r(eax)?;
                self.a.mov(dx, 0x3F8)?;
                self.a.out(dx, al)?;
            }
        }
        self.pop_r(eax)?;
        self.pop_r(edx)?;
        self.a.ret()?;

        // puts: ESI = a NUL-terminated string.
        self.set(&mut r.puts)?;
        self.push_r(eax)?;
        self.push_r(esi)?;
        let mut next = self.label();
        let mut done = self.label();
        self.set(&mut next)?;
        let m = self.m(esi);
        self.a.mov(al, byte_ptr(m))?;
        self.a.test(al, al)?;
        self.a.jz(done)?;
        self.a.call(r.putc)?;
        self.a.inc(esi)?;
        self.a.jmp(next)?;
        self.set(&mut done)?;
        self.pop_r(esi)?;
        self.pop_r(eax)?;
        self.a.ret()?;

        // put_hex: the low ECX (1-8) hex digits of EAX.
        self.set(&mut r.put_hex)?;
        self.push_r(eax)?;
        self.push_r(ecx)?;
        self.push_r(edx)?;
        self.a.mov(edx, eax)?;
        // Bring the first digit to print to the top: rotate left by 32 - 4 * ECX.
        self.push_r(ecx)?;
        self.a.shl(ecx, 2)?;
        self.a.neg(ecx)?;
        self.a.add(ecx, 32)?;
        self.a.rol(edx, cl)?;
        self.pop_r(ecx)?;
        let mut digit = self.label();
        let mut dec = self.label();
        self.set(&mut digit)?;
        self.a.rol(edx, 4)?;
        self.a.mov(eax, edx)?;
        self.a.and(eax, 0xF)?;
        self.a.cmp(al, 10)?;
        self.a.jb(dec)?;
        self.a.add(al, (b'a' - b'0' - 10) as u32)?;
        self.set(&mut dec)?;
        self.a.add(al, b'0' as u32)?;
        self.a.call(r.putc)?;
        self.a.dec(ecx)?;
        self.a.jnz(digit)?;
        self.pop_r(edx)?;
        self.pop_r(ecx)?;
        self.pop_r(eax)?;
        self.a.ret()?;

        // put_dec: EAX unsigned, ECX = minimum digits. Digits go backwards into SCRATCH.
        self.set(&mut r.put_dec)?;
        for reg in [eax, ecx, edx, esi, edi] {
            self.push_r(reg)?;
        }
        self.a.mov(edi, (SCRATCH + 0x40) as u32)?;
        self.a.mov(byte_ptr(SCRATCH + 0x40), 0)?;
        self.a.mov(esi, 10)?;
        let mut more = self.label();
        let mut pad = self.label();
        let mut print = self.label();
        self.set(&mut more)?;
        self.a.xor(edx, edx)?;
        self.a.div(esi)?;
        self.a.add(dl, b'0' as u32)?;
        self.a.dec(edi)?;
        let m = self.m(edi);
        self.a.mov(byte_ptr(m), dl)?;
        self.a.dec(ecx)?;
        self.a.test(eax, eax)?;
        self.a.jnz(more)?;
        self.set(&mut pad)?;
        self.a.cmp(ecx, 0)?;
        self.a.jle(print)?;
        self.a.dec(edi)?;
        let m = self.m(edi);
        self.a.mov(byte_ptr(m), b'0' as u32)?;
        self.a.dec(ecx)?;
        self.a.jmp(pad)?;
        self.set(&mut print)?;
        self.a.mov(esi, edi)?;
        self.a.call(r.puts)?;
        for reg in [edi, esi, edx, ecx, eax] {
            self.pop_r(reg)?;
        }
        self.a.ret()?;

        // strcmp: ESI, EDI; ZF set when equal. Clobbers nothing else but flags.
        self.set(&mut r.strcmp)?;
        self.push_r(eax)?;
        self.push_r(esi)?;
        self.push_r(edi)?;
        let mut loop_ = self.label();
        let mut out = self.label();
        self.set(&mut loop_)?;
        let (ms, md) = (self.m(esi), self.m(edi));
        self.a.mov(al, byte_ptr(ms))?;
        self.a.cmp(al, byte_ptr(md))?;
        self.a.jne(out)?;
        self.a.inc(esi)?;
        self.a.inc(edi)?;
        self.a.test(al, al)?;
        self.a.jnz(loop_)?;
        self.set(&mut out)?;
        self.pop_r(edi)?;
        self.pop_r(esi)?;
        self.pop_r(eax)?;
        self.a.ret()?;

        // fnv: FNV-1a over ECX bytes at ESI into EAX.
        self.set(&mut r.fnv)?;
        self.push_r(ecx)?;
        self.push_r(edx)?;
        self.push_r(esi)?;
        self.a.mov(eax, FNV_OFFSET)?;
        let mut byte = self.label();
        let mut fdone = self.label();
        self.set(&mut byte)?;
        self.a.test(ecx, ecx)?;
        self.a.jz(fdone)?;
        let ms = self.m(esi);
        self.a.movzx(edx, byte_ptr(ms))?;
        self.a.xor(eax, edx)?;
        self.a.imul_3(eax, eax, FNV_PRIME as i32)?;
        self.a.inc(esi)?;
        self.a.dec(ecx)?;
        self.a.jmp(byte)?;
        self.set(&mut fdone)?;
        self.pop_r(esi)?;
        self.pop_r(edx)?;
        self.pop_r(ecx)?;
        self.a.ret()?;

        // fail_eq: ESI = what, EAX = got, EDX = expected.
        let s_fail = self.string(b"FAIL: ");
        let s_eq = self.string(b" = 0x");
        let s_exp = self.string(b", expected 0x");
        let s_nl = self.string(b"\n");
        self.set(&mut r.fail_eq)?;
        self.print_label(s_fail, &r)?;
        self.a.call(r.puts)?;
        self.print_label(s_eq, &r)?;
        self.a.mov(ecx, 8)?;
        self.a.call(r.put_hex)?;
        self.print_label(s_exp, &r)?;
        self.a.mov(eax, edx)?;
        self.a.call(r.put_hex)?;
        self.print_label(s_nl, &r)?;
        self.a.mov(al, FAIL as u32)?;
        self.a.jmp(r.exit)?;

        // fail_range: ESI = what, EAX = got, ECX = lo, EDX = hi.
        let s_is = self.string(b" = ");
        let s_not = self.string(b", not in ");
        let s_dots = self.string(b"..=");
        self.set(&mut r.fail_range)?;
        self.print_label(s_fail, &r)?;
        self.a.call(r.puts)?;
        self.print_label(s_is, &r)?;
        self.push_r(ecx)?;
        self.a.xor(ecx, ecx)?;
        self.a.call(r.put_dec)?;
        self.print_label(s_not, &r)?;
        self.pop_r(eax)?;
        self.a.call(r.put_dec)?;
        self.print_label(s_dots, &r)?;
        self.a.mov(eax, edx)?;
        self.a.call(r.put_dec)?;
        self.print_label(s_nl, &r)?;
        self.a.mov(al, FAIL as u32)?;
        self.a.jmp(r.exit)?;

        // fail_msg: ESI = what.
        self.set(&mut r.fail_msg)?;
        self.print_label(s_fail, &r)?;
        self.a.call(r.puts)?;
        self.print_label(s_nl, &r)?;
        self.a.mov(al, FAIL as u32)?;
        self.set(&mut r.exit)?;
        self.a.out(EXIT_PORT as u32, al)?;
        let mut halt = self.label();
        self.set(&mut halt)?;
        self.a.cli()?;
        self.a.hlt()?;
        self.a.jmp(halt)?;

        // set_gate: ECX = vector, EAX = handler; an interrupt gate in the current CS.
        self.set(&mut r.set_gate)?;
        self.push_r(edx)?;
        self.push_r(edi)?;
        self.push_r(eax)?;
        if b64 {
            self.a.mov(edi, ecx)?;
            self.a.shl(edi, 4)?;
        } else {
            self.a.lea(edi, ptr(ecx * 8))?;
        }
        self.a.add(edi, IDT as u32)?;
        let md = self.m(edi);
        self.a.mov(word_ptr(md), ax)?;
        self.a.mov(dx, cs)?;
        self.a.mov(word_ptr(md + 2), dx)?;
        self.a.mov(ax, 0x8E00)?;
        self.a.mov(dword_ptr(md + 4), eax)?;
        if b64 {
            self.a.mov(dword_ptr(md + 8), 0)?;
            self.a.mov(dword_ptr(md + 12), 0)?;
        }
        self.pop_r(eax)?;
        self.pop_r(edi)?;
        self.pop_r(edx)?;
        self.a.ret()?;

        // Exception stubs, STUB_SIZE bytes each: push a dummy error code unless the CPU
        // pushed one, push the vector, jump to the common report.
        self.set(&mut r.exc_stubs)?;
        for v in 0u8..32 {
            let has_error = matches!(v, 8 | 10..=14 | 17 | 21 | 29 | 30);
            let first: [u8; 2] = if has_error {
                [0x90, 0x90]
            } else {
                [0x6A, 0x00]
            };
            let rel = ((31 - v as i32) * STUB_SIZE as i32) as u32;
            let mut stub = vec![first[0], first[1], 0x6A, v, 0xE9];
            stub.extend_from_slice(&rel.to_le_bytes());
            self.a.db(&stub)?;
        }
        // Common report: vector, error code and faulting address on the stack.
        let w = if b64 { 8 } else { 4 };
        let s_exc = self.string(b"FAIL: unexpected exception 0x");
        let s_err = self.string(b", error code 0x");
        let s_at = self.string(b", at 0x");
        self.print_label(s_exc, &r)?;
        self.a.mov(ecx, 8)?;
        let stack = self.m(esp);
        self.a.mov(eax, dword_ptr(stack))?;
        self.a.call(r.put_hex)?;
        self.print_label(s_err, &r)?;
        self.a.mov(eax, dword_ptr(stack + w))?;
        self.a.call(r.put_hex)?;
        self.print_label(s_at, &r)?;
        self.a.mov(eax, dword_ptr(stack + 2 * w))?;
        self.a.call(r.put_hex)?;
        self.print_label(s_nl, &r)?;
        self.a.mov(al, FAIL as u32)?;
        self.a.jmp(r.exit)?;

        let s_unexp = self.string(b"unexpected interrupt (vector 32-255)");
        self.set(&mut r.unexpected)?;
        self.mov_addr(esi, s_unexp)?;
        self.a.jmp(r.fail_msg)
    }

    /// Prints the string at label `l` (inside the routines: no register changes).
    fn print_label(&mut self, l: CodeLabel, r: &Routines) -> R {
        self.push_r(esi)?;
        self.mov_addr(esi, l)?;
        self.a.call(r.puts)?;
        self.pop_r(esi)
    }
}

/// `mov r, imm32`, outside the generic helpers (whose bounds would capture the inference).
fn mov_imm(a: &mut CodeAssembler, r: AsmRegister32, v: u32) -> R {
    a.mov(r, v)
}

/// FNV-1a's 32-bit offset basis.
const FNV_OFFSET: u32 = 0x811C_9DC5;
/// FNV-1a's 32-bit prime.
const FNV_PRIME: u32 = 0x0100_0193;

/// The 32-bit FNV-1a hash of `data`, as the guest computes it.
pub fn fnv1a(data: &[u8]) -> u32 {
    data.iter()
        .fold(FNV_OFFSET, |h, &b| (h ^ b as u32).wrapping_mul(FNV_PRIME))
}

/// Bytes of one exception stub: `push 0` or two NOPs, `push vector`, `jmp rel32`.
const STUB_SIZE: usize = 9;
