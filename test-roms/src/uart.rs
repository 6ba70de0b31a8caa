//! `uart.elf`: COM1 probed the way Linux's 8250 driver probes a port (`autoconfig()` and
//! `serial8250_startup()` in drivers/tty/serial/8250/8250_port.c), then used:
//! - IER: writing 0 reads back 0, writing 0x0F reads back 0x0F in the low nibble, and the
//!   upper bits (the XScale UUE bit) stay 0;
//! - loopback: MCR = LOOP | OUT2 | RTS (0x1A) must show CTS and DCD in MSR (0xF0 bits: 0x90);
//! - FIFOs: with FCR = 0x01, IIR bits 7:6 read 3 (a 16550A); with the 64-byte bit too, IIR
//!   bit 5 stays clear (not a 16750); with DLAB set, offset 2 still reads IIR (no EFR, not
//!   a 16650);
//! - the scratch register of all four ports holds what is written;
//! - the divisor latch holds 115200 baud's divisor and LCR reads back;
//! - bytes written in loopback come back through the receiver FIFO in order, LSR.DR
//!   following, and never reach the wire;
//! - the THRE interrupt: IIR shows it when enabled, and with MCR.OUT2 it reaches the 8259 as
//!   IRQ 4 (vector 0x24); reading IIR clears it.
//!
//! Then it prints a line on COM1 (the test checks that exactly that line arrived).

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel};
use super::irq::{handler, reset, wait};
use super::rt::{self, var, Out, Rt, CODE, R};

const COM1: u16 = 0x3F8;
/// Register offsets (PC16550D datasheet, table II).
const THR: u16 = 0;
const IER: u16 = 1;
const IIR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCR: u16 = 7;

/// Slot of the IRQ 4 interrupts; IIR as the handler read it.
const IRQ4: u64 = 20;
const IIR_IN_HANDLER: u64 = 100;

/// The line the kernel prints on COM1 at the end.
pub const LINE: &str = "uart: COM1 is a 16550A\n";

/// Reads COM1 register `reg` into AL (EAX zero-extended).
fn rd(r: &mut Rt, reg: u16) -> R {
    r.xor(eax, eax)?;
    r.inb(COM1 + reg)
}

/// Writes `v` to COM1 register `reg`.
fn wr(r: &mut Rt, reg: u16, v: u8) -> R {
    r.outb(COM1 + reg, v)
}

/// Builds `uart.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        r.init_stack()?;
        r.setup_idt()?;
        r.print("uart: probing COM1 as Linux's 8250 driver does\n")?;
        r.pic_init(0x20, 0x28)?;
        probe(r)?;
        loopback(r)?;
        thre_interrupt(r)?;
        // Out of loopback: DTR, RTS, OUT2; a line on the wire.
        wr(r, MCR, 0x0B)?;
        for b in LINE.bytes() {
            let mut wait = r.label();
            r.set(&mut wait)?;
            r.inb(COM1 + LSR)?;
            r.test(al, 0x20)?;
            r.jz(wait)?;
            wr(r, THR, b)?;
        }
        r.pass("uart")
    })?;
    Ok(Kernel::new(false, Boot::Plain, code).build())
}

fn probe(r: &mut Rt) -> R {
    rd(r, LSR)?;
    r.check_eq(eax, 0x60, "LSR after reset: THRE and TEMT")?;
    wr(r, IER, 0)?;
    rd(r, IER)?;
    r.check_eq(eax, 0, "IER after writing 0")?;
    wr(r, IER, 0xFF)?;
    rd(r, IER)?;
    r.check_eq(
        eax,
        0x0F,
        "IER after writing 0xff (bits 7:4 are 0 on a 16550A)",
    )?;
    wr(r, IER, 0)?;

    wr(r, MCR, 0x1A)?; // LOOP | OUT2 | RTS
    rd(r, MSR)?;
    r.and(eax, 0xF0)?;
    r.check_eq(eax, 0x90, "MSR & 0xf0 in loopback with MCR 0x1a (CTS, DCD)")?;
    wr(r, MCR, 0x1F)?; // LOOP | OUT2 | OUT1 | RTS | DTR: every status line
    rd(r, MSR)?;
    r.and(eax, 0xF0)?;
    r.check_eq(eax, 0xF0, "MSR & 0xf0 in loopback with MCR 0x1f")?;
    wr(r, MCR, 0)?;
    r.print("loopback: MCR 0x1a gives MSR 0x90\n")?;

    wr(r, LCR, 0xBF)?; // Linux's "configuration mode B"
    wr(r, IIR, 0)?; // EFR on a 16650; FCR here
    wr(r, LCR, 0)?;
    wr(r, IIR, 0x01)?; // FCR: enable the FIFOs
    rd(r, IIR)?;
    r.shr(eax, 6)?;
    r.check_eq(eax, 3, "IIR bits 7:6 with the FIFOs enabled (3: 16550A)")?;
    wr(r, LCR, 0x80)?; // DLAB: a 16650 would show EFR (0) at offset 2
    rd(r, IIR)?;
    r.check_eq(
        eax,
        0xC1,
        "offset 2 with DLAB set (IIR: FIFOs on, no interrupt)",
    )?;
    wr(r, LCR, 0)?;
    wr(r, IIR, 0x21)?; // FCR: FIFOs + the 16750's 64-byte bit
    rd(r, IIR)?;
    r.shr(eax, 5)?;
    r.check_eq(eax, 6, "IIR bits 7:5 after FCR 0x21 (6: not a 16750)")?;
    wr(r, IIR, 0x07)?; // FIFOs on, both cleared
    r.print("FIFOs: IIR bits 7:6 = 3, a 16550A (not a 16650 or 16750)\n")?;

    for (port, name) in [
        (0x3F8u16, "COM1"),
        (0x2F8, "COM2"),
        (0x3E8, "COM3"),
        (0x2E8, "COM4"),
    ] {
        for v in [0xA5u8, 0x5A] {
            r.outb(port + SCR, v)?;
            r.xor(eax, eax)?;
            r.inb(port + SCR)?;
            r.check_eq(eax, v as u32, &format!("{name} scratch register"))?;
        }
    }
    r.print("scratch registers: COM1-COM4 present\n")?;

    wr(r, LCR, 0x83)?; // DLAB, 8N1
    wr(r, 0, 1)?; // divisor 1: 115200 baud
    wr(r, 1, 0)?;
    rd(r, 0)?;
    r.check_eq(eax, 1, "divisor latch low")?;
    rd(r, 1)?;
    r.check_eq(eax, 0, "divisor latch high")?;
    wr(r, LCR, 0x03)?;
    rd(r, LCR)?;
    r.check_eq(eax, 0x03, "LCR (8N1)")?;
    rd(r, IER)?;
    r.check_eq(eax, 0, "IER again with DLAB clear")?;
    r.print("divisor latch: 115200 baud, 8N1\n")
}

fn loopback(r: &mut Rt) -> R {
    wr(r, MCR, 0x10)?;
    for b in b"LOOP" {
        wr(r, THR, *b)?;
    }
    for b in b"LOOP" {
        rd(r, LSR)?;
        r.and(eax, 1)?;
        r.check_eq(eax, 1, "LSR.DR with looped-back bytes waiting")?;
        rd(r, 0)?;
        r.check_eq(eax, *b as u32, "a looped-back byte, in order")?;
    }
    rd(r, LSR)?;
    r.and(eax, 1)?;
    r.check_eq(eax, 0, "LSR.DR once the FIFO is read")?;
    wr(r, MCR, 0)?;
    r.print("loopback: 4 bytes back through the receiver FIFO\n")
}

fn thre_interrupt(r: &mut Rt) -> R {
    let h = handler(r, IRQ4, |r| {
        // Reading IIR while it shows THRE clears that interrupt (PC16550D table IV).
        rd(r, IIR)?;
        r.mov(dword_ptr(var(IIR_IN_HANDLER)), eax)?;
        r.outb(0x20, 0x20)
    })?;
    r.set_gate(0x24, h)?;
    reset(r, IRQ4)?;
    wr(r, IER, 0x02)?; // ETBEI
    rd(r, IIR)?;
    r.check_eq(eax, 0xC2, "IIR with ETBEI set: THRE interrupt pending")?;
    wr(r, IER, 0)?;
    wr(r, IER, 0x02)?;
    r.outb(0x21, 0xEF)?; // unmask IRQ 4
    wr(r, MCR, 0x08)?; // OUT2 connects INTR to IRQ 4
    wait(r, IRQ4, 1)?;
    wr(r, IER, 0)?;
    r.outb(0x21, 0xFF)?;
    r.check_eq(
        dword_ptr(var(IIR_IN_HANDLER)),
        0xC2,
        "IIR in the IRQ 4 handler",
    )?;
    r.check_eq(dword_ptr(var(IRQ4)), 1, "IRQ 4 interrupts")?;
    rd(r, IIR)?;
    r.check_eq(eax, 0xC1, "IIR after the handler read it")?;
    r.print("THRE interrupt: IIR 0xc2, IRQ 4 through the 8259 with OUT2\n")
}
