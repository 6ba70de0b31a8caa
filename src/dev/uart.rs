//! The 16550A UART (National Semiconductor PC16550D datasheet; the register names below are
//! the datasheet's). A PC has four at the standard COM ports ([`COM_PORTS`]).
//!
//! Transmission is instantaneous: a byte written to THR leaves at once into the output queue
//! that the board drains with [`Uart::take_output`] (or, in loopback, into the receiver), so
//! THR and the transmitter shift register are always empty (LSR.THRE and LSR.TEMT read 1) and
//! the THRE interrupt, cleared by the THR write, is raised again by the same write because THR
//! empties at once. Linux's 8250 driver and polling kernels work this way without spending
//! virtual time in busy-waits on LSR.THRE (at 115200 baud a character is 87 µs, 87,000
//! instructions of polling).
//!
//! Reception keeps time: the character-timeout interrupt fires four character times (computed
//! from the divisor latch and LCR) after the last character arrived or the last RBR read,
//! through [`Timed`].
//!
//! On a PC the chip's INTR output reaches the interrupt controller only through a buffer that
//! the OUT2 pin enables, so [`Uart::irq`] is INTR AND MCR.OUT2. In loopback mode the datasheet
//! forces the OUT2 pin inactive, so the PC sees no interrupt then.

use std::collections::VecDeque;

use super::bus::{DevCtx, PortIo, Timed};

/// Base port and ISA IRQ of COM1–COM4, as PC BIOSes and kernels assume them.
pub const COM_PORTS: [(u16, u8); 4] = [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)];

/// Receiver buffer (read, DLAB=0) / transmitter holding register (write, DLAB=0) / divisor
/// latch LSB (DLAB=1).
pub const RBR: u16 = 0;
/// Interrupt enable register (DLAB=0) / divisor latch MSB (DLAB=1).
pub const IER: u16 = 1;
/// Interrupt identification (read) / FIFO control (write).
pub const IIR: u16 = 2;
/// Line control register.
pub const LCR: u16 = 3;
/// Modem control register.
pub const MCR: u16 = 4;
/// Line status register.
pub const LSR: u16 = 5;
/// Modem status register.
pub const MSR: u16 = 6;
/// Scratch register.
pub const SCR: u16 = 7;

/// IER: enable received data available (and character timeout) interrupt.
pub const IER_ERBFI: u8 = 0x01;
/// IER: enable transmitter holding register empty interrupt.
pub const IER_ETBEI: u8 = 0x02;
/// IER: enable receiver line status interrupt.
pub const IER_ELSI: u8 = 0x04;
/// IER: enable modem status interrupt.
pub const IER_EDSSI: u8 = 0x08;

/// IIR: no interrupt pending (bit 0 is active low).
pub const IIR_NO_INT: u8 = 0x01;
/// IIR: receiver line status (priority 1).
pub const IIR_RLS: u8 = 0x06;
/// IIR: received data available (priority 2).
pub const IIR_RDA: u8 = 0x04;
/// IIR: character timeout (priority 2).
pub const IIR_CTI: u8 = 0x0C;
/// IIR: transmitter holding register empty (priority 3).
pub const IIR_THRE: u8 = 0x02;
/// IIR: modem status (priority 4).
pub const IIR_MS: u8 = 0x00;
/// IIR bits 7:6: both set when FCR0 has enabled the FIFOs.
pub const IIR_FIFOS: u8 = 0xC0;

/// FCR: enable both FIFOs.
pub const FCR_ENABLE: u8 = 0x01;
/// FCR: clear the receiver FIFO (self-clearing).
pub const FCR_RX_RESET: u8 = 0x02;
/// FCR: clear the transmitter FIFO (self-clearing).
pub const FCR_TX_RESET: u8 = 0x04;
/// FCR: DMA mode select (only changes the RXRDY/TXRDY pins, which a PC leaves unconnected).
pub const FCR_DMA_MODE: u8 = 0x08;
/// FCR bits 7:6: receiver trigger level 1, 4, 8 or 14 bytes.
pub const FCR_TRIGGER: u8 = 0xC0;

/// LCR bits 1:0: word length 5 + n bits.
pub const LCR_WLS: u8 = 0x03;
/// LCR: two stop bits (1.5 with 5-bit words).
pub const LCR_STB: u8 = 0x04;
/// LCR: parity enable.
pub const LCR_PEN: u8 = 0x08;
/// LCR: set break (holds the serial output at spacing).
pub const LCR_BREAK: u8 = 0x40;
/// LCR: divisor latch access bit.
pub const LCR_DLAB: u8 = 0x80;

/// MCR: data terminal ready.
pub const MCR_DTR: u8 = 0x01;
/// MCR: request to send.
pub const MCR_RTS: u8 = 0x02;
/// MCR: OUT1 output.
pub const MCR_OUT1: u8 = 0x04;
/// MCR: OUT2 output (enables the IRQ buffer on PCs).
pub const MCR_OUT2: u8 = 0x08;
/// MCR: local loopback.
pub const MCR_LOOP: u8 = 0x10;

/// LSR: data ready.
pub const LSR_DR: u8 = 0x01;
/// LSR: overrun error.
pub const LSR_OE: u8 = 0x02;
/// LSR: parity error.
pub const LSR_PE: u8 = 0x04;
/// LSR: framing error.
pub const LSR_FE: u8 = 0x08;
/// LSR: break interrupt.
pub const LSR_BI: u8 = 0x10;
/// LSR: transmitter holding register (or FIFO) empty.
pub const LSR_THRE: u8 = 0x20;
/// LSR: transmitter empty (THR and shift register).
pub const LSR_TEMT: u8 = 0x40;
/// LSR: at least one parity, framing or break error in the receiver FIFO.
pub const LSR_RXFE: u8 = 0x80;

/// MSR: delta clear to send.
pub const MSR_DCTS: u8 = 0x01;
/// MSR: delta data set ready.
pub const MSR_DDSR: u8 = 0x02;
/// MSR: trailing edge of ring indicator.
pub const MSR_TERI: u8 = 0x04;
/// MSR: delta data carrier detect.
pub const MSR_DDCD: u8 = 0x08;
/// MSR: clear to send.
pub const MSR_CTS: u8 = 0x10;
/// MSR: data set ready.
pub const MSR_DSR: u8 = 0x20;
/// MSR: ring indicator.
pub const MSR_RI: u8 = 0x40;
/// MSR: data carrier detect.
pub const MSR_DCD: u8 = 0x80;

/// Depth of each FIFO.
pub const FIFO_SIZE: usize = 16;
/// The UART's reference clock: the PC's 1.8432 MHz crystal (baud = clock / (16 × divisor)).
pub const CLOCK_HZ: u64 = 1_843_200;

/// The modem inputs of a host that is "connected and ready": CTS, DSR and DCD asserted.
const HOST_MODEM_LINES: u8 = MSR_CTS | MSR_DSR | MSR_DCD;

/// One received character and the line errors that arrived with it (PC16550D: in FIFO mode
/// the error bits belong to the character and are revealed when it reaches the FIFO's top).
#[derive(Clone, Copy, Debug)]
struct RxChar {
    byte: u8,
    errors: u8,
}

/// One 16550A UART.
#[derive(Debug)]
pub struct Uart {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    /// FCR0, FCR3 and the trigger bits; the reset bits are not stored (they self-clear).
    fcr: u8,
    /// The receiver FIFO; in 16450 mode (FIFOs off) it holds at most the one RBR byte.
    rx: VecDeque<RxChar>,
    /// The last byte read from RBR (read back when the receiver is empty).
    rbr: u8,
    /// Latched LSR error bits (OE, PE, FE, BI), cleared by reading LSR.
    lsr_errors: u8,
    /// The THRE interrupt latch.
    thre_pending: bool,
    /// The character-timeout interrupt latch.
    timeout_pending: bool,
    /// Virtual time of the last received character or RBR read (the timeout timer's start).
    rx_idle_since: u64,
    /// Modem inputs from the host side (MSR bits 7:4 outside loopback).
    modem_inputs: u8,
    /// MSR: the current lines in bits 7:4, the latched deltas in bits 3:0.
    msr: u8,
    out: Vec<u8>,
    /// The latest virtual time the UART has seen.
    now: u64,
}

impl Default for Uart {
    fn default() -> Uart {
        Uart::new()
    }
}

impl Uart {
    /// A UART in its master-reset state (PC16550D table IV): IER, FCR, LCR, MCR cleared,
    /// LSR = THRE | TEMT, no interrupt pending, divisor 12 (9600 baud), a host on the line
    /// with CTS, DSR and DCD asserted.
    pub fn new() -> Uart {
        Uart {
            ier: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            dll: 12,
            dlm: 0,
            fcr: 0,
            rx: VecDeque::with_capacity(FIFO_SIZE),
            rbr: 0,
            lsr_errors: 0,
            thre_pending: false,
            timeout_pending: false,
            rx_idle_since: 0,
            modem_inputs: HOST_MODEM_LINES,
            msr: HOST_MODEM_LINES,
            out: Vec::new(),
            now: 0,
        }
    }

    /// The interrupt line as the PC sees it: the chip's INTR output gated by the OUT2 pin
    /// (MCR.OUT2 set and not in loopback, where the datasheet forces OUT2 inactive).
    pub fn irq(&self) -> bool {
        self.mcr & MCR_OUT2 != 0 && self.mcr & MCR_LOOP == 0 && self.pending().is_some()
    }

    /// Bytes the guest transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the receiver has room for a byte from the host without an overrun (false in
    /// loopback, where the receiver is disconnected from the line). The board holds host
    /// input back while this is false.
    pub fn can_receive(&self) -> bool {
        self.mcr & MCR_LOOP == 0 && self.rx.len() < self.rx_capacity()
    }

    /// A byte arrives on the serial input. With the receiver full it is lost and LSR.OE is
    /// set; in loopback it is ignored. It is stamped with the latest time the UART has seen,
    /// so the board calls [`Timed::tick`] with the current time first.
    pub fn receive(&mut self, byte: u8) {
        if self.mcr & MCR_LOOP == 0 {
            self.rx_push(RxChar { byte, errors: 0 });
        }
    }

    /// The host line holds spacing for a character time or longer: one zero character with
    /// LSR.BI is received (PC16550D, LSR bit 4).
    pub fn receive_break(&mut self) {
        if self.mcr & MCR_LOOP == 0 {
            self.rx_push(RxChar {
                byte: 0,
                errors: LSR_BI,
            });
        }
    }

    /// Sets the host-side modem inputs (MSR bits 7:4: CTS, DSR, RI, DCD); changes latch the
    /// MSR delta bits. Ignored by MSR while in loopback.
    pub fn set_modem_inputs(&mut self, lines: u8) {
        self.modem_inputs = lines & 0xF0;
        self.update_msr();
    }

    /// The modem control outputs the host would see (MCR bits 3:0: DTR, RTS, OUT1, OUT2);
    /// all inactive in loopback.
    pub fn modem_outputs(&self) -> u8 {
        if self.mcr & MCR_LOOP != 0 {
            0
        } else {
            self.mcr & 0x0F
        }
    }

    /// The time one character takes on the line at the current divisor and LCR format, in
    /// ns: start bit, 5–8 data bits, parity, 1, 1.5 or 2 stop bits, each 16 clocks of the
    /// divided 1.8432 MHz reference. A divisor of 0 counts as 65536.
    pub fn char_time_ns(&self) -> u64 {
        let divisor = match u16::from_le_bytes([self.dll, self.dlm]) {
            0 => 65536,
            d => d as u64,
        };
        let data_bits = 5 + (self.lcr & LCR_WLS) as u64;
        let parity = ((self.lcr & LCR_PEN) != 0) as u64;
        // Stop bits in half bits: 1 -> 2; with STB, 1.5 -> 3 for 5-bit words, else 2 -> 4.
        let stop_halves = match (self.lcr & LCR_STB != 0, data_bits) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + data_bits + parity) + stop_halves;
        // One bit is 16 * divisor reference clocks.
        (half_bits * 16 * divisor * 1_000_000_000).div_ceil(2 * CLOCK_HZ)
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        [1, 4, 8, 14][(self.fcr >> 6) as usize]
    }

    /// The RDA condition: the FIFO at or above its trigger level, or RBR full in 16450 mode.
    fn rx_data_available(&self) -> bool {
        if self.fifo_enabled() {
            self.rx.len() >= self.trigger_level()
        } else {
            !self.rx.is_empty()
        }
    }

    /// The highest-priority enabled interrupt, as IIR bits 3:0 report it (PC16550D table
    /// IV: RLS, then RDA/timeout, then THRE, then modem status).
    fn pending(&self) -> Option<u8> {
        if self.ier & IER_ELSI != 0 && self.lsr_errors != 0 {
            return Some(IIR_RLS);
        }
        if self.ier & IER_ERBFI != 0 {
            if self.rx_data_available() {
                return Some(IIR_RDA);
            }
            if self.timeout_pending {
                return Some(IIR_CTI);
            }
        }
        if self.ier & IER_ETBEI != 0 && self.thre_pending {
            return Some(IIR_THRE);
        }
        if self.ier & IER_EDSSI != 0 && self.msr & 0x0F != 0 {
            return Some(IIR_MS);
        }
        None
    }

    /// When the character timeout fires if nothing happens first: four character times after
    /// the last character in or the last read, with the FIFOs on and data in the receiver.
    fn timeout_deadline(&self) -> Option<u64> {
        if self.fifo_enabled() && !self.rx.is_empty() && !self.timeout_pending {
            Some(self.rx_idle_since.saturating_add(4 * self.char_time_ns()))
        } else {
            None
        }
    }

    /// A character completes in the receiver shift register.
    fn rx_push(&mut self, c: RxChar) {
        // The timeout timer restarts on every character received (PC16550D, FIFO interrupt
        // mode operation).
        self.rx_idle_since = self.now;
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(c);
            if self.rx.len() == 1 {
                self.lsr_errors |= c.errors;
            }
        } else if self.fifo_enabled() {
            // FIFO full: the new character is overwritten in the shift register and lost.
            self.lsr_errors |= LSR_OE;
        } else {
            // 16450 mode: the new character overwrites RBR.
            self.rx[0] = c;
            self.lsr_errors |= LSR_OE | c.errors;
        }
    }

    fn read_rbr(&mut self) -> u8 {
        if let Some(c) = self.rx.pop_front() {
            self.rbr = c.byte;
            // The next character's errors show when it reaches the top of the FIFO.
            if let Some(next) = self.rx.front() {
                self.lsr_errors |= next.errors;
            }
        }
        // A read clears a pending timeout and restarts its timer.
        self.timeout_pending = false;
        self.rx_idle_since = self.now;
        self.rbr
    }

    fn read_lsr(&mut self) -> u8 {
        let mut v = LSR_THRE | LSR_TEMT | self.lsr_errors;
        if !self.rx.is_empty() {
            v |= LSR_DR;
        }
        if self.fifo_enabled() && self.rx.iter().any(|c| c.errors != 0) {
            v |= LSR_RXFE;
        }
        // OE, PE, FE and BI are reset whenever the CPU reads LSR.
        self.lsr_errors = 0;
        v
    }

    fn read_iir(&mut self) -> u8 {
        let id = self.pending();
        // Reading IIR clears the THRE interrupt when it is the one reported.
        if id == Some(IIR_THRE) {
            self.thre_pending = false;
        }
        let fifos = if self.fifo_enabled() { IIR_FIFOS } else { 0 };
        id.unwrap_or(IIR_NO_INT) | fifos
    }

    fn write_thr(&mut self, byte: u8) {
        // Writing THR clears the THRE interrupt; the byte moves on at once and THR empties
        // again, which raises it anew (see the module comment).
        self.thre_pending = false;
        if self.mcr & MCR_LOOP != 0 {
            // Loopback: the transmitter shift register feeds the receiver shift register.
            self.rx_push(RxChar { byte, errors: 0 });
        } else {
            self.out.push(byte);
        }
        self.thre_pending = true;
    }

    fn write_ier(&mut self, value: u8) {
        let old = self.ier;
        self.ier = value & 0x0F;
        // Enabling ETBEI while THR is empty raises the THRE interrupt (the rising edge of
        // THRE AND ETBEI); Linux's 8250 driver tests that the chip re-arms this way.
        if self.ier & IER_ETBEI != 0 && old & IER_ETBEI == 0 {
            self.thre_pending = true;
        }
    }

    fn write_fcr(&mut self, value: u8) {
        let was_enabled = self.fifo_enabled();
        if value & FCR_ENABLE == 0 {
            // Clearing FCR0 leaves FIFO mode and clears both FIFOs; the other bits are not
            // programmed without FCR0.
            if was_enabled {
                self.rx.clear();
                self.timeout_pending = false;
            }
            self.fcr = 0;
            return;
        }
        // Changing between 16450 and FIFO mode clears the FIFOs.
        if !was_enabled || value & FCR_RX_RESET != 0 {
            self.rx.clear();
            self.timeout_pending = false;
        }
        // The transmitter FIFO is always empty here, so FCR_TX_RESET has nothing to clear.
        self.fcr = value & (FCR_ENABLE | FCR_DMA_MODE | FCR_TRIGGER);
    }

    fn write_mcr(&mut self, value: u8) {
        // Bits 7:5 are always 0 on the 16550A.
        self.mcr = value & 0x1F;
        self.update_msr();
    }

    /// Recomputes MSR bits 7:4 from the host inputs, or in loopback from MCR (PC16550D,
    /// MCR bit 4: RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD), latching the deltas.
    fn update_msr(&mut self) {
        let lines = if self.mcr & MCR_LOOP != 0 {
            let m = self.mcr;
            ((m & MCR_RTS) << 3)
                | ((m & MCR_DTR) << 5)
                | ((m & MCR_OUT1) << 4)
                | ((m & MCR_OUT2) << 4)
        } else {
            self.modem_inputs
        };
        let old = self.msr & 0xF0;
        let changed = old ^ lines;
        let mut deltas = 0;
        if changed & MSR_CTS != 0 {
            deltas |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            deltas |= MSR_DDSR;
        }
        if changed & MSR_DCD != 0 {
            deltas |= MSR_DDCD;
        }
        // TERI latches only on the trailing edge: RI going from on to off.
        if old & MSR_RI != 0 && lines & MSR_RI == 0 {
            deltas |= MSR_TERI;
        }
        self.msr = lines | (self.msr & 0x0F) | deltas;
    }

    fn read_msr(&mut self) -> u8 {
        let v = self.msr;
        // Reading MSR clears the delta bits (and so the modem status interrupt).
        self.msr &= 0xF0;
        v
    }

    fn read_reg(&mut self, reg: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match reg {
            RBR if dlab => self.dll,
            RBR => self.read_rbr(),
            IER if dlab => self.dlm,
            IER => self.ier,
            IIR => self.read_iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => self.read_lsr(),
            MSR => self.read_msr(),
            _ => self.scr,
        }
    }

    fn write_reg(&mut self, reg: u16, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match reg {
            RBR if dlab => self.dll = value,
            RBR => self.write_thr(value),
            IER if dlab => self.dlm = value,
            IER => self.write_ier(value),
            IIR => self.write_fcr(value),
            LCR => self.lcr = value,
            MCR => self.write_mcr(value),
            // LSR and MSR are read-only (writes are for factory test only).
            LSR | MSR => {}
            _ => self.scr = value,
        }
    }
}

impl PortIo for Uart {
    /// Reads the register at `port & 7`; wider accesses read consecutive registers, as the
    /// ISA bus splits them for an 8-bit device (the board splits accesses that run past the
    /// UART's eight ports).
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32 {
        self.tick(ctx.now);
        let mut v = 0u32;
        for i in 0..size.min(4) as u16 {
            v |= (self.read_reg(port.wrapping_add(i) & 7) as u32) << (8 * i);
        }
        v
    }

    /// Writes the register at `port & 7` (wider accesses: consecutive registers, low byte
    /// first).
    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32) {
        self.tick(ctx.now);
        for i in 0..size.min(4) as u16 {
            self.write_reg(port.wrapping_add(i) & 7, (value >> (8 * i)) as u8);
        }
    }
}

impl Timed for Uart {
    fn deadline(&self) -> Option<u64> {
        self.timeout_deadline()
    }

    fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        if let Some(t) = self.timeout_deadline() {
            if self.now >= t {
                self.timeout_pending = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    const BASE: u16 = 0x3F8;

    /// A UART on COM1 with guest memory for the access context and a virtual clock.
    struct Rig {
        uart: Uart,
        mem: PhysMem,
        now: u64,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                uart: Uart::new(),
                mem: PhysMem::new(4096).unwrap(),
                now: 0,
            }
        }
        fn inb(&mut self, reg: u16) -> u8 {
            let mut ctx = DevCtx {
                now: self.now,
                mem: &mut self.mem,
            };
            self.uart.io_read(&mut ctx, BASE + reg, 1) as u8
        }
        fn outb(&mut self, reg: u16, v: u8) {
            let mut ctx = DevCtx {
                now: self.now,
                mem: &mut self.mem,
            };
            self.uart.io_write(&mut ctx, BASE + reg, 1, v as u32);
        }
        fn advance(&mut self, ns: u64) {
            self.now += ns;
            self.uart.tick(self.now);
        }
        /// 115200 baud, 8N1, FIFOs on with the given FCR trigger bits, OUT2 set.
        fn setup_fifo(&mut self, fcr_trigger: u8) {
            self.outb(LCR, LCR_DLAB);
            self.outb(RBR, 1);
            self.outb(IER, 0);
            self.outb(LCR, 0x03);
            self.outb(IIR, FCR_ENABLE | FCR_RX_RESET | FCR_TX_RESET | fcr_trigger);
            self.outb(MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
        }
    }

    #[test]
    fn reset_state_matches_the_datasheet() {
        // PC16550D table IV: after master reset IIR reads 01 (no interrupt), LSR reads 60
        // (THR and transmitter empty), IER/LCR/MCR read 0.
        let mut r = Rig::new();
        assert_eq!(r.inb(IIR), 0x01);
        assert_eq!(r.inb(LSR), 0x60);
        assert_eq!(r.inb(IER), 0);
        assert_eq!(r.inb(LCR), 0);
        assert_eq!(r.inb(MCR), 0);
        assert!(!r.uart.irq());
    }

    #[test]
    fn divisor_latch_is_behind_dlab() {
        // With LCR.DLAB set, offsets 0 and 1 are the divisor latch; clearing DLAB brings back
        // RBR/THR and IER, and the latch keeps its value.
        let mut r = Rig::new();
        r.outb(LCR, LCR_DLAB | 0x03);
        r.outb(RBR, 0x34);
        r.outb(IER, 0x12);
        assert_eq!(r.inb(RBR), 0x34);
        assert_eq!(r.inb(IER), 0x12);
        r.outb(LCR, 0x03);
        assert_eq!(r.inb(IER), 0, "IER untouched by the DLM write");
        r.outb(IER, 0x0F);
        assert_eq!(r.inb(IER), 0x0F);
        r.outb(LCR, LCR_DLAB);
        assert_eq!(r.inb(RBR), 0x34);
        assert_eq!(r.inb(IER), 0x12);
        assert!(
            r.uart.take_output().is_empty(),
            "divisor writes transmit nothing"
        );
    }

    #[test]
    fn lcr_mcr_scr_ier_round_trip() {
        // LCR and SCR are plain 8-bit read/write; MCR keeps bits 4:0 (7:5 read 0 on the
        // 16550A); IER keeps bits 3:0 (Linux's probe checks that 0x0F reads back and the
        // upper nibble stays 0).
        let mut r = Rig::new();
        for v in [0x00u8, 0x5A, 0xA5, 0xFF] {
            r.outb(LCR, v);
            assert_eq!(r.inb(LCR), v);
            r.outb(SCR, v);
            assert_eq!(r.inb(SCR), v);
        }
        r.outb(LCR, 0x03);
        r.outb(MCR, 0xFF);
        assert_eq!(r.inb(MCR), 0x1F);
        r.outb(MCR, 0);
        r.outb(IER, 0xFF);
        assert_eq!(r.inb(IER), 0x0F);
    }

    #[test]
    fn character_time_follows_divisor_and_format() {
        // 115200 baud 8N1 is 10 bits of 8.68 µs; 9600 7E2 is 11 bits of 104.2 µs; 5-bit words
        // with STB use 1.5 stop bits.
        let mut r = Rig::new();
        r.outb(LCR, LCR_DLAB);
        r.outb(RBR, 1);
        r.outb(IER, 0);
        r.outb(LCR, 0x03);
        assert_eq!(r.uart.char_time_ns(), 86_806);
        r.outb(LCR, LCR_DLAB);
        r.outb(RBR, 12);
        r.outb(LCR, 0x02 | LCR_PEN | LCR_STB);
        assert_eq!(r.uart.char_time_ns(), 1_145_834);
        r.outb(LCR, LCR_STB);
        // 1 + 5 + 1.5 = 7.5 bits at 9600 baud.
        assert_eq!(r.uart.char_time_ns(), 781_250);
    }

    #[test]
    fn transmit_goes_to_the_output_queue() {
        // Bytes written to THR leave on the line; LSR keeps THRE and TEMT set.
        let mut r = Rig::new();
        r.outb(LCR, 0x03);
        for b in b"ok\n" {
            r.outb(RBR, *b);
            assert_eq!(r.inb(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
        }
        assert_eq!(r.uart.take_output(), b"ok\n");
        assert!(r.uart.take_output().is_empty());
    }

    #[test]
    fn rx_16450_mode_holds_one_byte_and_overruns() {
        // Without FIFOs RBR holds one character: DR is set until it is read, and a second
        // character before the read overwrites it and sets OE (cleared by reading LSR).
        let mut r = Rig::new();
        r.outb(LCR, 0x03);
        assert!(r.uart.can_receive());
        r.uart.receive(b'a');
        assert!(!r.uart.can_receive());
        assert_eq!(r.inb(LSR) & LSR_DR, LSR_DR);
        r.uart.receive(b'b');
        let lsr = r.inb(LSR);
        assert_eq!(lsr & (LSR_DR | LSR_OE), LSR_DR | LSR_OE);
        assert_eq!(r.inb(LSR) & LSR_OE, 0, "OE clears on LSR read");
        assert_eq!(r.inb(RBR), b'b');
        assert_eq!(r.inb(LSR) & LSR_DR, 0);
        assert_eq!(
            r.inb(RBR),
            b'b',
            "RBR reads back the last character when empty"
        );
    }

    #[test]
    fn fifo_holds_sixteen_then_overruns() {
        // With FIFOs on the receiver holds 16 characters; the 17th is lost and sets OE, and
        // the 16 come out in order.
        let mut r = Rig::new();
        r.setup_fifo(0);
        assert_eq!(
            r.inb(IIR) & IIR_FIFOS,
            IIR_FIFOS,
            "IIR bits 7:6 show the FIFOs"
        );
        for i in 0..16u8 {
            assert!(r.uart.can_receive());
            r.uart.receive(i);
        }
        assert!(!r.uart.can_receive());
        r.uart.receive(0xEE);
        assert_eq!(r.inb(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        for i in 0..16u8 {
            assert_eq!(r.inb(RBR), i);
        }
        assert_eq!(r.inb(LSR) & (LSR_DR | LSR_OE), 0);
    }

    #[test]
    fn fcr_resets_and_mode_changes_clear_the_fifo() {
        // FCR1 clears the receiver FIFO; clearing FCR0 leaves FIFO mode and clears it too;
        // the other FCR bits are ignored unless FCR0 is set.
        let mut r = Rig::new();
        r.setup_fifo(0);
        r.uart.receive(1);
        r.uart.receive(2);
        r.outb(IIR, FCR_ENABLE | FCR_RX_RESET);
        assert_eq!(r.inb(LSR) & LSR_DR, 0);
        r.uart.receive(3);
        r.outb(IIR, 0);
        assert_eq!(r.inb(LSR) & LSR_DR, 0);
        assert_eq!(r.inb(IIR) & IIR_FIFOS, 0);
        r.outb(IIR, 0xC0);
        assert_eq!(
            r.inb(IIR) & IIR_FIFOS,
            0,
            "trigger bits without FCR0 do nothing"
        );
    }

    #[test]
    fn rda_interrupt_follows_each_trigger_level() {
        // In FIFO mode the RDA interrupt is raised when the FIFO reaches the trigger level
        // (1, 4, 8, 14) and cleared when it drops below.
        for (bits, level) in [(0x00u8, 1usize), (0x40, 4), (0x80, 8), (0xC0, 14)] {
            let mut r = Rig::new();
            r.setup_fifo(bits);
            r.outb(IER, IER_ERBFI);
            for i in 0..level {
                assert_eq!(r.inb(IIR), 0xC1, "below trigger {level} with {i} bytes");
                assert!(!r.uart.irq());
                r.uart.receive(i as u8);
            }
            assert_eq!(r.inb(IIR), 0xC0 | IIR_RDA, "at trigger {level}");
            assert!(r.uart.irq());
            r.inb(RBR);
            assert_eq!(r.inb(IIR), 0xC1, "one read drops below trigger {level}");
        }
    }

    #[test]
    fn character_timeout_fires_after_four_character_times() {
        // With fewer bytes than the trigger level, the timeout interrupt (IIR 0xC) is raised
        // four character times after the last character or read; a read clears it and
        // restarts the timer.
        let mut r = Rig::new();
        r.setup_fifo(0x80); // trigger 8
        r.outb(IER, IER_ERBFI);
        let ct = r.uart.char_time_ns();
        r.uart.receive(b'x');
        r.uart.receive(b'y');
        assert_eq!(r.uart.deadline(), Some(4 * ct));
        r.advance(4 * ct - 1);
        assert_eq!(r.inb(IIR), 0xC1, "not yet");
        r.advance(1);
        assert_eq!(r.inb(IIR), 0xC0 | IIR_CTI);
        assert!(r.uart.irq());
        assert_eq!(
            r.uart.deadline(),
            None,
            "no new deadline while the timeout is pending"
        );
        assert_eq!(r.inb(RBR), b'x');
        assert_eq!(r.inb(IIR), 0xC1, "the read clears the timeout");
        let t0 = r.now;
        assert_eq!(
            r.uart.deadline(),
            Some(t0 + 4 * ct),
            "the read restarted the timer"
        );
        r.advance(4 * ct);
        assert_eq!(r.inb(IIR), 0xC0 | IIR_CTI);
        assert_eq!(r.inb(RBR), b'y');
        assert_eq!(r.uart.deadline(), None, "empty FIFO: no timeout");
        r.advance(100 * ct);
        assert_eq!(r.inb(IIR), 0xC1);
    }

    #[test]
    fn a_new_character_restarts_the_timeout_timer() {
        // The timer restarts with every character received.
        let mut r = Rig::new();
        r.setup_fifo(0xC0);
        r.outb(IER, IER_ERBFI);
        let ct = r.uart.char_time_ns();
        r.uart.receive(1);
        r.advance(3 * ct);
        r.uart.receive(2);
        r.advance(3 * ct);
        assert_eq!(r.inb(IIR), 0xC1);
        r.advance(ct);
        assert_eq!(r.inb(IIR), 0xC0 | IIR_CTI);
    }

    #[test]
    fn thre_interrupt_rules() {
        // Setting ETBEI with THR empty raises THRE; reading IIR while THRE is the reported
        // source clears it; writing THR clears it and, the byte leaving at once, raises it
        // again; enabling ETBEI anew re-arms it (the test Linux's 8250 startup runs).
        let mut r = Rig::new();
        r.setup_fifo(0);
        r.outb(IER, IER_ETBEI);
        assert!(r.uart.irq());
        assert_eq!(r.inb(IIR), 0xC0 | IIR_THRE);
        assert_eq!(r.inb(IIR), 0xC1, "the IIR read cleared THRE");
        assert!(!r.uart.irq());
        r.outb(IER, IER_ETBEI);
        assert_eq!(r.inb(IIR), 0xC1, "rewriting ETBEI=1 is no new edge");
        r.outb(RBR, b'a');
        assert_eq!(r.inb(IIR), 0xC0 | IIR_THRE, "THR emptied after the write");
        r.outb(IER, 0);
        assert_eq!(r.inb(IIR), 0xC1);
        r.outb(IER, IER_ETBEI);
        assert_eq!(
            r.inb(IIR),
            0xC0 | IIR_THRE,
            "ETBEI 0 -> 1 with THR empty re-arms"
        );
        assert_eq!(r.inb(IIR), 0xC1);
    }

    #[test]
    fn rls_interrupt_is_cleared_by_reading_lsr() {
        // An overrun raises the receiver line status interrupt (highest priority, IIR 6),
        // reported ahead of RDA; reading LSR clears it.
        let mut r = Rig::new();
        r.outb(LCR, 0x03);
        r.outb(MCR, MCR_OUT2);
        r.outb(IER, IER_ELSI | IER_ERBFI);
        r.uart.receive(1);
        assert_eq!(r.inb(IIR), IIR_RDA);
        r.uart.receive(2);
        assert_eq!(r.inb(IIR), IIR_RLS);
        assert!(r.uart.irq());
        assert_eq!(r.inb(LSR) & LSR_OE, LSR_OE);
        assert_eq!(r.inb(IIR), IIR_RDA);
        assert_eq!(r.inb(RBR), 2);
        assert_eq!(r.inb(IIR), IIR_NO_INT);
    }

    #[test]
    fn break_sets_bi_when_its_character_reaches_the_top() {
        // A break loads one zero character; BI (and an RLS interrupt) shows when that
        // character is at the top of the FIFO, and LSR7 while it is in the FIFO.
        let mut r = Rig::new();
        r.setup_fifo(0xC0);
        r.outb(IER, IER_ELSI);
        r.uart.receive(b'a');
        r.uart.receive_break();
        let lsr = r.inb(LSR);
        assert_eq!(
            lsr & (LSR_BI | LSR_RXFE),
            LSR_RXFE,
            "error in FIFO, not yet at top"
        );
        assert_eq!(r.inb(IIR), 0xC1);
        assert_eq!(r.inb(RBR), b'a');
        assert_eq!(r.inb(IIR), 0xC0 | IIR_RLS);
        let lsr = r.inb(LSR);
        assert_eq!(lsr & (LSR_BI | LSR_DR), LSR_BI | LSR_DR);
        assert_eq!(r.inb(IIR), 0xC1);
        assert_eq!(r.inb(RBR), 0);
        assert_eq!(r.inb(LSR) & (LSR_RXFE | LSR_DR), 0);
    }

    #[test]
    fn modem_status_interrupt_and_deltas() {
        // A change on CTS/DSR/DCD latches its delta bit, RI going off latches TERI, and the
        // modem status interrupt (lowest priority, IIR 0) stays until MSR is read.
        let mut r = Rig::new();
        r.outb(MCR, MCR_OUT2);
        r.outb(IER, IER_EDSSI);
        assert_eq!(r.inb(IIR), IIR_NO_INT);
        r.uart.set_modem_inputs(MSR_DSR | MSR_RI);
        assert_eq!(r.inb(IIR), IIR_MS);
        assert!(r.uart.irq());
        assert_eq!(r.inb(MSR), MSR_DSR | MSR_RI | MSR_DCTS | MSR_DDCD);
        assert_eq!(r.inb(IIR), IIR_NO_INT);
        r.uart.set_modem_inputs(MSR_DSR);
        assert_eq!(r.inb(MSR), MSR_DSR | MSR_TERI);
        r.uart.set_modem_inputs(MSR_DSR | MSR_RI);
        assert_eq!(
            r.inb(MSR),
            MSR_DSR | MSR_RI,
            "RI turning on is no trailing edge"
        );
    }

    #[test]
    fn iir_priority_order() {
        // With every source active IIR reports RLS, then RDA, then THRE, then modem status,
        // each appearing once the higher one is cleared.
        let mut r = Rig::new();
        r.outb(LCR, 0x03);
        r.outb(MCR, MCR_OUT2);
        r.uart.receive(1);
        r.uart.receive(2); // overrun
        r.uart.set_modem_inputs(0);
        r.outb(IER, 0x0F);
        assert_eq!(r.inb(IIR), IIR_RLS);
        r.inb(LSR);
        assert_eq!(r.inb(IIR), IIR_RDA);
        r.inb(RBR);
        assert_eq!(r.inb(IIR), IIR_THRE);
        assert_eq!(r.inb(IIR), IIR_MS);
        r.inb(MSR);
        assert_eq!(r.inb(IIR), IIR_NO_INT);
        assert!(!r.uart.irq());
    }

    #[test]
    fn out2_gates_the_pc_interrupt_line() {
        // The PC's IRQ buffer is enabled by OUT2: a pending interrupt reaches the PIC only
        // with MCR.OUT2 set.
        let mut r = Rig::new();
        r.outb(IER, IER_ETBEI);
        assert_eq!(
            r.inb(IIR) & 0x0F,
            IIR_THRE,
            "INTR is active inside the chip"
        );
        r.outb(IER, 0);
        r.outb(IER, IER_ETBEI);
        assert!(!r.uart.irq());
        r.outb(MCR, MCR_OUT2);
        assert!(r.uart.irq());
    }

    #[test]
    fn loopback_as_linux_serial8250_probes_it() {
        // Linux's autoconfig writes MCR = LOOP | OUT2 | RTS (0x1A) and expects MSR & 0xF0 to
        // read 0x90 (DCD from OUT2, CTS from RTS); then DTR -> DSR and OUT1 -> RI, and the
        // bytes it writes come back in the receiver (the FIFO size test overruns at 16).
        let mut r = Rig::new();
        r.outb(MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
        assert_eq!(r.inb(MSR) & 0xF0, 0x90);
        r.outb(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        assert_eq!(r.inb(MSR) & 0xF0, MSR_DSR | MSR_RI);
        r.outb(MCR, MCR_LOOP);
        assert_eq!(
            r.inb(MSR),
            MSR_TERI | MSR_DDSR,
            "RI off is TERI; DSR off is DDSR"
        );
        assert_eq!(
            r.uart.modem_outputs(),
            0,
            "outputs are inactive in loopback"
        );

        r.outb(LCR, LCR_DLAB);
        r.outb(RBR, 1);
        r.outb(IER, 0);
        r.outb(LCR, 0x03);
        r.outb(IIR, FCR_ENABLE | FCR_RX_RESET | FCR_TX_RESET);
        for i in 0..=255u8 {
            r.outb(RBR, i);
        }
        assert!(
            r.uart.take_output().is_empty(),
            "nothing leaves on the line"
        );
        let mut n = 0;
        while r.inb(LSR) & LSR_DR != 0 {
            assert_eq!(r.inb(RBR), n);
            n += 1;
        }
        assert_eq!(n, 16);
        assert!(!r.uart.can_receive(), "host input waits while in loopback");
        r.uart.receive(0x55);
        assert_eq!(
            r.inb(LSR) & LSR_DR,
            0,
            "the line is disconnected in loopback"
        );
    }

    #[test]
    fn loopback_interrupts_work_but_do_not_reach_the_pc() {
        // In loopback the receiver and modem status interrupts work inside the chip (IIR),
        // but OUT2 is forced inactive, so the PC's IRQ line stays low.
        let mut r = Rig::new();
        r.outb(MCR, MCR_LOOP | MCR_OUT2);
        r.outb(IER, IER_ERBFI | IER_EDSSI);
        r.outb(RBR, 0x42);
        assert_eq!(r.inb(IIR), IIR_RDA);
        assert!(!r.uart.irq());
        assert_eq!(r.inb(RBR), 0x42);
        assert_eq!(
            r.inb(IIR),
            IIR_MS,
            "CTS and DSR dropped when loopback began"
        );
        r.outb(MCR, MCR_OUT2);
        assert_eq!(
            r.inb(MSR) & 0xF0,
            MSR_CTS | MSR_DSR | MSR_DCD,
            "host lines again"
        );
    }

    #[test]
    fn linux_autoconfig_sees_a_16550a() {
        // The sequence of Linux's 8250 autoconfig and startup: the IER test, the loopback
        // test, FCR0 making IIR bits 7:6 read 3 (16550A), no EFR behind LCR 0x80/0xBF (offset
        // 2 still reads IIR), no 64-byte FIFO bit (IIR bit 5) with or without DLAB, IER bit 6
        // stuck at 0 (no XScale), and THRE raised when ETBEI is enabled (no TXEN bug).
        let mut r = Rig::new();
        r.outb(IER, 0);
        assert_eq!(r.inb(IER) & 0x0F, 0);
        r.outb(IER, 0x0F);
        assert_eq!(r.inb(IER) & 0x0F, 0x0F);
        r.outb(IER, 0);
        r.outb(MCR, MCR_LOOP | 0x0A);
        assert_eq!(r.inb(MSR) & 0xF0, 0x90);
        r.outb(MCR, 0);
        r.outb(LCR, 0xBF);
        r.outb(IIR, 0);
        r.outb(LCR, 0);
        r.outb(IIR, FCR_ENABLE);
        assert_eq!(r.inb(IIR) >> 6, 3);
        r.outb(LCR, 0x80);
        assert_ne!(r.inb(IIR), 0, "no EFR at offset 2 with DLAB");
        r.outb(LCR, 0xBF);
        assert_ne!(r.inb(IIR), 0, "no EFR at offset 2 with LCR 0xBF");
        r.outb(LCR, 0);
        r.outb(IIR, FCR_ENABLE | 0x20);
        assert_eq!(r.inb(IIR) & 0xE0, 0xC0);
        r.outb(LCR, 0x80);
        r.outb(IIR, FCR_ENABLE | 0x20);
        assert_eq!(r.inb(IIR) & 0xE0, 0xC0);
        r.outb(LCR, 0);
        r.outb(IER, 0x40);
        assert_eq!(r.inb(IER) & 0x40, 0);
        r.outb(IER, 0);
        // Startup: clear everything, the LSR safety check, the TXEN test.
        r.outb(IIR, FCR_ENABLE | FCR_RX_RESET | FCR_TX_RESET);
        r.inb(LSR);
        r.inb(RBR);
        r.inb(IIR);
        r.inb(MSR);
        assert_ne!(r.inb(LSR), 0xFF);
        r.outb(LCR, 0x03);
        r.outb(IER, IER_ETBEI);
        let lsr = r.inb(LSR);
        let iir = r.inb(IIR);
        r.outb(IER, 0);
        assert!(lsr & LSR_TEMT != 0 && iir & IIR_NO_INT == 0);
    }

    #[test]
    fn any_guest_value_is_safe() {
        // Every value to every register, interleaved with reads, host input and time, must
        // leave the chip consistent (the FIFO never exceeds 16) and never panic.
        let mut r = Rig::new();
        for reg in 0..8u16 {
            for v in 0..=255u8 {
                r.outb(reg, v);
                r.uart.receive(v);
                r.advance(v as u64 * 1000);
                for rd in 0..8u16 {
                    r.inb(rd);
                }
                assert!(r.uart.rx.len() <= FIFO_SIZE);
            }
        }
    }

    #[test]
    fn wide_accesses_split_into_bytes() {
        // A 16-bit OUT to LCR writes LCR then MCR, as the ISA bus splits it.
        let mut r = Rig::new();
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut r.mem,
        };
        r.uart.io_write(&mut ctx, BASE + LCR, 2, 0x0B03);
        assert_eq!(r.uart.io_read(&mut ctx, BASE + LCR, 2), 0x0B03);
    }
}
