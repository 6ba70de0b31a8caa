//! `demo.elf`: the kernel `vx86 run` boots when given nothing to boot. A multiboot 1 ELF32
//! kernel (so QEMU's `-kernel` runs it too) that prints on COM1 a banner with what it finds
//! (the CPU's brand string, the RAM the loader reports, the interrupt controllers and
//! timers, the loader's name and command line), then each step from the loader's 32-bit
//! protected mode to 64-bit mode, then ten ticks of the local APIC timer at 100 Hz with
//! their virtual time, and a goodbye; it ends with CLI; HLT, which vx86 reports as the guest
//! halting for good (exit status 0).

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel};
use super::irq::{self, handler, lapic_eoi, lapic_write, HPET, LAPIC};
use super::rt::{self, var, Out, Rt, CODE, R, SCRATCH};

/// Slot of the timer ticks; the TSC when the timer started.
const TICKS: u64 = 20;
const T0: u64 = 100;
/// How many ticks, and their period in ns (100 Hz).
const N: u32 = 10;
const PERIOD_NS: u32 = 10_000_000;

/// Builds `demo.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    // The 64-bit code follows the 32-bit code.
    let (code32, code64_at) = rt::assemble_with_next(32, Out::Com1, CODE, protected_mode)?;
    let code64 = rt::assemble(64, Out::Com1, code64_at, |r| long_mode(r, code64_at))?;
    let mut k = Kernel::new(false, Boot::Mb1 { flags: 1 << 1 }, code32);
    k.chunks.push((code64_at, code64));
    Ok(k.build())
}

/// COM1 at 115200 baud, 8N1, FIFOs on, DTR/RTS/OUT2, as a kernel's serial driver sets it.
fn serial_init(r: &mut Rt) -> R {
    for (reg, v) in [
        (1u16, 0u8),
        (3, 0x80),
        (0, 1),
        (1, 0),
        (3, 0x03),
        (2, 0xC7),
        (4, 0x0B),
    ] {
        r.outb(0x3F8 + reg, v)?;
    }
    Ok(())
}

fn protected_mode(r: &mut Rt, code64: u64) -> R {
    r.mov(dword_ptr(var(0)), eax)?;
    r.mov(dword_ptr(var(1)), ebx)?;
    r.init_stack()?;
    r.setup_idt()?;
    serial_init(r)?;
    r.print("\nvx86 demo kernel\n================\n")?;

    // CPUID 0x80000002-4: the brand string, 48 bytes.
    r.mov(edi, SCRATCH as u32 + 0x80)?;
    for leaf in 0x8000_0002u32..=0x8000_0004 {
        r.mov(eax, leaf)?;
        r.cpuid()?;
        for reg in [eax, ebx, ecx, edx] {
            r.mov(dword_ptr(edi), reg)?;
            r.add(edi, 4)?;
        }
    }
    r.mov(byte_ptr(edi), 0)?;
    r.print("cpu:     ")?;
    r.mov(esi, SCRATCH as u32 + 0x80)?;
    r.print_at(esi)?;

    // RAM from the multiboot information: mem_upper KiB above 1 MiB.
    r.mov(ebx, dword_ptr(var(1)))?;
    r.print("\nmemory:  ")?;
    r.mov(eax, dword_ptr(ebx + 8))?;
    r.add(eax, 1024)?;
    r.shr(eax, 10)?;
    r.print_dec(eax, 0)?;
    r.print(" MiB of RAM\n")?;

    // The board, as its registers describe it.
    r.print("board:   8259A PIC pair, 8254 PIT, MC146818 RTC, 16550A UART, local APIC version 0x")?;
    r.print_hex_n(dword_ptr(LAPIC as u64 + 0x30), 2)?;
    r.print(",\n         I/O APIC with ")?;
    irq::ioapic_read(r, 1)?;
    r.shr(eax, 16)?;
    r.and(eax, 0xFF)?;
    r.inc(eax)?;
    r.print_dec(eax, 0)?;
    r.print(" pins, HPET with ")?;
    r.mov(eax, dword_ptr(HPET as u64))?;
    r.shr(eax, 8)?;
    r.and(eax, 0x1F)?;
    r.inc(eax)?;
    r.print_dec(eax, 0)?;
    r.print(" timers at ")?;
    r.mov(eax, 1_000_000_000)?;
    r.xor(edx, edx)?;
    r.div(dword_ptr(HPET as u64 + 4))?;
    r.print_dec(eax, 0)?;
    r.print(" MHz\n")?;

    r.print("loader:  ")?;
    r.mov(esi, dword_ptr(ebx + 64))?;
    r.print_at(esi)?;
    r.print(" (multiboot 1), command line \"")?;
    r.mov(esi, dword_ptr(ebx + 16))?;
    r.print_at(esi)?;
    r.print("\"\n\n")?;

    r.print("[32-bit] entered from the loader in 32-bit protected mode, paging off\n")?;
    r.enter_long_mode(code64, true)
}

fn long_mode(r: &mut Rt, here: u64) -> R {
    r.long_mode_prologue()?;
    r.setup_idt()?;
    r.print(&format!(
        "[64-bit] far jump to 0x18:{here:#x} done: running 64-bit code\n"
    ))?;
    let h = handler(r, TICKS, lapic_eoi)?;
    r.set_gate(0x40, h)?;
    r.print("[64-bit] local APIC timer: periodic, 100 Hz of virtual time\n")?;
    lapic_write(r, 0xF0, 0x1FF)?; // software-enable, spurious vector 0xFF
    lapic_write(r, 0x3E0, 0xB)?; // divide by 1: the 1 GHz bus clock
    lapic_write(r, 0x320, 1 << 17 | 0x40)?; // periodic, vector 0x40
    r.rdtsc()?;
    r.mov(dword_ptr(var(T0)), eax)?;
    lapic_write(r, 0x380, PERIOD_NS)?;

    // Print each tick as it comes: EBX counts those printed.
    let mut next = r.label();
    let mut show = r.label();
    r.xor(ebx, ebx)?;
    r.set(&mut next)?;
    r.cli()?;
    r.cmp(dword_ptr(var(TICKS)), ebx)?;
    r.ja(show)?;
    r.sti()?;
    r.hlt()?;
    r.jmp(next)?;
    r.set(&mut show)?;
    r.inc(ebx)?;
    r.print("  tick ")?;
    pad(r, ebx, 10)?;
    r.print_dec(ebx, 0)?;
    r.print(&format!("/{N} at "))?;
    r.mov(eax, dword_ptr(rbx * 4 + (var(TICKS + 1) - 4) as i32))?;
    r.sub(eax, dword_ptr(var(T0)))?;
    print_ms(r)?;
    r.print(" ms\n")?;
    r.cmp(ebx, N)?;
    r.jb(next)?;

    lapic_write(r, 0x320, 1 << 16)?; // masked
    lapic_write(r, 0x380, 0)?;
    r.print(&format!("[64-bit] {N} ticks in "))?;
    r.mov(eax, dword_ptr(var(TICKS + N as u64)))?;
    r.sub(eax, dword_ptr(var(T0)))?;
    print_ms(r)?;
    r.print(" ms of virtual time\n\ngoodbye: halting with interrupts off\n")?;
    let mut halt = r.label();
    r.set(&mut halt)?;
    r.cli()?;
    r.hlt()?;
    r.jmp(halt)
}

/// Prints a space if `reg` is below `limit` (right-aligns numbers).
fn pad(r: &mut Rt, reg: AsmRegister32, limit: u32) -> R {
    let mut wide = r.label();
    r.cmp(reg, limit)?;
    r.jae(wide)?;
    r.print(" ")?;
    r.set(&mut wide)
}

/// Prints EAX nanoseconds as milliseconds with three decimals, right-aligned in 3 digits.
fn print_ms(r: &mut Rt) -> R {
    r.xor(edx, edx)?;
    r.mov(ecx, 1_000_000)?;
    r.div(ecx)?;
    pad(r, eax, 100)?;
    pad(r, eax, 10)?;
    r.print_dec(eax, 0)?;
    r.print(".")?;
    r.mov(eax, edx)?;
    r.xor(edx, edx)?;
    r.mov(ecx, 1000)?;
    r.div(ecx)?;
    r.print_dec(eax, 3)
}
