//! The i8042 keyboard controller (IBM PS/2 Technical Reference, "Keyboard/auxiliary device
//! controller"; Intel 8042 as programmed by PC firmware) with a PS/2 keyboard and mouse
//! behind it ([`super::ps2`]).
//!
//! Port 0x60 is the data port (output buffer / input buffer for data), port 0x64 the status
//! register (read) and command register (write). The controller has one output buffer byte:
//! its own replies, keyboard bytes (translated from set 2 to set 1 when the command byte
//! says so) and mouse bytes (flagged by status bit 5) take turns in it, one at a time,
//! controller replies first, then the keyboard, then the mouse. Its full flag drives IRQ1
//! (keyboard and controller bytes) or IRQ12 (mouse bytes) when the command byte enables them.
//!
//! After the guest reads a byte, the next one is loaded [`REFILL_NS`] later in virtual time,
//! not at once: the interrupt line drops between two bytes, so an edge-triggered 8259 sees a
//! new edge per byte, as with the real serial links (each PS/2 byte takes about 1 ms; the
//! delay is kept short so firmware polling loops with small iteration counts still see data).
//!
//! The A20 gate and the CPU reset line are output port bits 1 and 0; the board reads them
//! through [`I8042::a20`] and [`I8042::reset_requested`].

use crate::cpu::bus::ones;
use std::collections::VecDeque;

use super::bus::{DevCtx, PortIo, Timed};
use super::ps2::{Keyboard, Mouse, SET2_TO_SET1};

/// The data port.
pub const DATA_PORT: u16 = 0x60;
/// The status register (read) and command register (write).
pub const STATUS_PORT: u16 = 0x64;

/// Virtual time between the guest's read of the output buffer and the next byte's arrival.
pub const REFILL_NS: u64 = 1_000;

/// Status: output buffer full.
pub const STATUS_OBF: u8 = 0x01;
/// Status: input buffer full (the controller takes each byte at once, so always 0).
pub const STATUS_IBF: u8 = 0x02;
/// Status: system flag (command byte bit 2, set by a passed self test).
pub const STATUS_SYS: u8 = 0x04;
/// Status: the last write was to the command port (A2 = 1).
pub const STATUS_A2: u8 = 0x08;
/// Status: keyboard not inhibited by the keylock.
pub const STATUS_UNLOCKED: u8 = 0x10;
/// Status: the output buffer holds a byte from the auxiliary device (mouse).
pub const STATUS_AUX_OBF: u8 = 0x20;
/// Status: general timeout.
pub const STATUS_TIMEOUT: u8 = 0x40;
/// Status: parity error.
pub const STATUS_PARITY: u8 = 0x80;

/// Command byte: interrupt (IRQ1) on keyboard output buffer full.
pub const CCB_KBD_INT: u8 = 0x01;
/// Command byte: interrupt (IRQ12) on auxiliary output buffer full.
pub const CCB_AUX_INT: u8 = 0x02;
/// Command byte: system flag.
pub const CCB_SYS: u8 = 0x04;
/// Command byte: disable the keyboard interface (clock held low).
pub const CCB_KBD_DISABLE: u8 = 0x10;
/// Command byte: disable the auxiliary interface.
pub const CCB_AUX_DISABLE: u8 = 0x20;
/// Command byte: translate keyboard scan codes from set 2 to set 1.
pub const CCB_XLAT: u8 = 0x40;

/// Output port: system reset (active low: clearing it resets the CPU).
pub const OUT_RESET: u8 = 0x01;
/// Output port: A20 gate.
pub const OUT_A20: u8 = 0x02;
/// Output port: keyboard output buffer full (IRQ1 line).
pub const OUT_KBD_OBF: u8 = 0x10;
/// Output port: auxiliary output buffer full (IRQ12 line).
pub const OUT_AUX_OBF: u8 = 0x20;

/// The input port as read by command 0xC0: keyboard not inhibited (bit 7), no
/// manufacturing jumper (bit 5).
const INPUT_PORT: u8 = 0xA0;

/// The command byte a BIOS leaves after POST (SeaBIOS's value): translation on, system flag,
/// keyboard interrupt on, mouse interface disabled until a driver enables it.
const CCB_AFTER_POST: u8 = CCB_XLAT | CCB_AUX_DISABLE | CCB_SYS | CCB_KBD_INT;

/// The i8042 with its keyboard and mouse.
#[derive(Debug)]
pub struct I8042 {
    kbd: Keyboard,
    mouse: Mouse,
    /// Controller RAM; byte 0 is the command byte.
    ram: [u8; 32],
    outport: u8,
    /// The output buffer byte, and whether it is full and from the mouse.
    ob: u8,
    obf: bool,
    ob_aux: bool,
    /// Bytes the controller itself sends (replies, and 0xD2/0xD3 bytes with their source).
    replies: VecDeque<(u8, bool)>,
    /// A command waiting for its data byte at port 0x60.
    pending: Option<u8>,
    last_was_command: bool,
    /// Translation saw a set-2 break prefix (0xF0): the next code gets bit 7.
    xlat_break: bool,
    /// The output buffer takes no new byte before this time (see [`REFILL_NS`]).
    ob_free_at: u64,
    now: u64,
    reset: bool,
}

impl Default for I8042 {
    fn default() -> I8042 {
        I8042::new()
    }
}

impl I8042 {
    /// The controller as a BIOS leaves it after POST: command byte 0x65 (translation, system
    /// flag, IRQ1 on, mouse interface off), A20 enabled, keyboard scanning in set 2, mouse
    /// reset with reporting off, output buffer empty.
    pub fn new() -> I8042 {
        let mut ram = [0; 32];
        ram[0] = CCB_AFTER_POST;
        I8042 {
            kbd: Keyboard::new(),
            mouse: Mouse::new(),
            ram,
            outport: 0xC0 | 0x0C | OUT_A20 | OUT_RESET,
            ob: 0,
            obf: false,
            ob_aux: false,
            replies: VecDeque::new(),
            pending: None,
            last_was_command: false,
            xlat_break: false,
            ob_free_at: 0,
            now: 0,
            reset: false,
        }
    }

    /// IRQ1: the output buffer holds a keyboard or controller byte and the command byte
    /// enables the keyboard interrupt.
    pub fn irq1(&self) -> bool {
        self.obf && !self.ob_aux && self.ram[0] & CCB_KBD_INT != 0
    }

    /// IRQ12: the output buffer holds a mouse byte and the command byte enables the
    /// auxiliary interrupt.
    pub fn irq12(&self) -> bool {
        self.obf && self.ob_aux && self.ram[0] & CCB_AUX_INT != 0
    }

    /// Whether the output port gates A20 on.
    pub fn a20(&self) -> bool {
        self.outport & OUT_A20 != 0
    }

    /// Whether the guest pulsed or cleared the reset line (0xFE and the other pulse
    /// commands with bit 0 clear, or an output port write with bit 0 clear); latched until
    /// [`I8042::clear_reset`].
    pub fn reset_requested(&self) -> bool {
        self.reset
    }

    /// The board performed the reset: the latch clears and the output port's reset line
    /// returns high.
    pub fn clear_reset(&mut self) {
        self.reset = false;
        self.outport |= OUT_RESET;
    }

    /// The command byte (controller RAM byte 0).
    pub fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    /// The keyboard LEDs the guest set: bit 0 Scroll, bit 1 Num, bit 2 Caps Lock.
    pub fn leds(&self) -> u8 {
        self.kbd.leds()
    }

    /// A host key event as set-2 make/break bytes (see [`Keyboard::key`]). Returns false
    /// when the keyboard's buffer cannot take it yet; the board keeps it and retries.
    /// Stamped with the latest time the controller saw: the board calls [`Timed::tick`]
    /// with the current time first.
    pub fn key(&mut self, set2: &[u8]) -> bool {
        let taken = self.kbd.key(set2);
        self.pump();
        taken
    }

    /// Host mouse motion: `dx` right, `dy` up, `buttons` bit 0 left, 1 right, 2 middle.
    pub fn mouse_move(&mut self, dx: i32, dy: i32, buttons: u8) {
        self.mouse_event(dx, dy, 0, buttons);
    }

    /// Host mouse motion with a wheel delta `dz` (sent once the guest enabled the wheel).
    pub fn mouse_event(&mut self, dx: i32, dy: i32, dz: i32, buttons: u8) {
        self.mouse.motion(dx, dy, dz, buttons);
        self.pump();
    }

    fn reply(&mut self, b: u8) {
        self.push_reply(b, false);
    }

    fn push_reply(&mut self, b: u8, aux: bool) {
        // Bounded: a guest that issues commands and never reads cannot grow the queue.
        if self.replies.len() < 16 {
            self.replies.push_back((b, aux));
        }
    }

    /// Whether a byte is waiting that the controller may move into the output buffer.
    fn data_waiting(&self) -> bool {
        !self.replies.is_empty()
            || (self.ram[0] & CCB_KBD_DISABLE == 0 && self.kbd.has_output())
            || (self.ram[0] & CCB_AUX_DISABLE == 0 && self.mouse.has_output())
    }

    /// Moves the next byte into an empty output buffer once its refill time has come.
    fn pump(&mut self) {
        if self.obf || self.now < self.ob_free_at {
            return;
        }
        if let Some((b, aux)) = self.replies.pop_front() {
            self.load(b, aux);
            return;
        }
        if self.ram[0] & CCB_KBD_DISABLE == 0 {
            while let Some(b) = self.kbd.pop() {
                if self.ram[0] & CCB_XLAT == 0 {
                    self.load(b, false);
                    return;
                }
                // Translation: the 8042 swallows the break prefix and sets bit 7 of the
                // translated code that follows.
                if b == 0xF0 {
                    self.xlat_break = true;
                    continue;
                }
                let mut t = SET2_TO_SET1[b as usize];
                if std::mem::take(&mut self.xlat_break) {
                    t |= 0x80;
                }
                self.load(t, false);
                return;
            }
        }
        if self.ram[0] & CCB_AUX_DISABLE == 0 {
            if let Some(b) = self.mouse.pop() {
                self.load(b, true);
            }
        }
    }

    fn load(&mut self, b: u8, aux: bool) {
        self.ob = b;
        self.obf = true;
        self.ob_aux = aux;
    }

    fn status(&self) -> u8 {
        let mut s = STATUS_UNLOCKED | (self.ram[0] & CCB_SYS);
        if self.obf {
            s |= STATUS_OBF;
            if self.ob_aux {
                s |= STATUS_AUX_OBF;
            }
        }
        if self.last_was_command {
            s |= STATUS_A2;
        }
        s
    }

    fn read_data(&mut self) -> u8 {
        if self.obf {
            self.obf = false;
            self.ob_aux = false;
            self.ob_free_at = self.now.saturating_add(REFILL_NS);
        }
        // An empty output buffer reads as its last byte.
        self.ob
    }

    /// The output port as command 0xD0 reads it: bits 4 and 5 show the two IRQ lines'
    /// buffer-full signals.
    fn read_outport(&self) -> u8 {
        let mut v = self.outport & !(OUT_KBD_OBF | OUT_AUX_OBF);
        if self.obf && !self.ob_aux {
            v |= OUT_KBD_OBF;
        }
        if self.obf && self.ob_aux {
            v |= OUT_AUX_OBF;
        }
        v
    }

    fn write_outport(&mut self, v: u8) {
        self.outport = v;
        if v & OUT_RESET == 0 {
            self.reset = true;
        }
    }

    fn command(&mut self, cmd: u8) {
        self.pending = None;
        match cmd {
            // Read controller RAM (0x20: the command byte).
            0x20..=0x3F => self.reply(self.ram[(cmd & 0x1F) as usize]),
            // Write controller RAM: the byte follows at port 0x60.
            0x60..=0x7F | 0xD1..=0xD4 => self.pending = Some(cmd),
            // Test password installed: no.
            0xA4 => self.reply(0xF1),
            0xA7 => self.ram[0] |= CCB_AUX_DISABLE,
            0xA8 => self.ram[0] &= !CCB_AUX_DISABLE,
            // Auxiliary interface test: no error.
            0xA9 => self.reply(0x00),
            // Self test: passed; the system flag is set.
            0xAA => {
                self.ram[0] |= CCB_SYS;
                self.reply(0x55);
            }
            // Keyboard interface test: no error.
            0xAB => self.reply(0x00),
            0xAD => self.ram[0] |= CCB_KBD_DISABLE,
            0xAE => self.ram[0] &= !CCB_KBD_DISABLE,
            0xC0 => self.reply(INPUT_PORT),
            0xD0 => {
                let v = self.read_outport();
                self.reply(v);
            }
            0xDD => self.outport &= !OUT_A20,
            0xDF => self.outport |= OUT_A20,
            // Read test inputs: keyboard clock (bit 0) and data (bit 1) idle high.
            0xE0 => self.reply(0x03),
            // Pulse output port bits 3:0 low for 6 µs where the command's bit is 0; bit 0 is
            // the reset line (0xFE is the usual "reset the CPU").
            0xF0..=0xFF if cmd & OUT_RESET == 0 => self.reset = true,
            _ => {}
        }
    }

    fn data(&mut self, v: u8) {
        match self.pending.take() {
            Some(c @ 0x60..=0x7F) => self.ram[(c & 0x1F) as usize] = v,
            Some(0xD1) => self.write_outport(v),
            // Write keyboard / auxiliary output buffer: as if the device sent it (not
            // translated).
            Some(0xD2) => self.push_reply(v, false),
            Some(0xD3) => self.push_reply(v, true),
            Some(_) => {
                // 0xD4: to the mouse; sending to a device enables its interface.
                self.ram[0] &= !CCB_AUX_DISABLE;
                self.mouse.write(v);
            }
            None => {
                self.ram[0] &= !CCB_KBD_DISABLE;
                self.kbd.write(v);
            }
        }
    }
}

impl PortIo for I8042 {
    fn io_read(&mut self, ctx: &mut DevCtx, port: u16, size: u8) -> u32 {
        let ones = ones(size.min(4)) as u32;
        self.tick(ctx.now);
        let v = match port {
            DATA_PORT => {
                let v = self.read_data();
                self.pump();
                v
            }
            STATUS_PORT => self.status(),
            _ => return ones,
        };
        (ones & !0xFF) | v as u32
    }

    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, _size: u8, value: u32) {
        self.tick(ctx.now);
        match port {
            DATA_PORT => {
                self.last_was_command = false;
                self.data(value as u8);
            }
            STATUS_PORT => {
                self.last_was_command = true;
                self.command(value as u8);
            }
            _ => return,
        }
        self.pump();
    }
}

impl Timed for I8042 {
    fn deadline(&self) -> Option<u64> {
        if !self.obf && self.data_waiting() {
            Some(self.ob_free_at.max(self.now))
        } else {
            None
        }
    }

    fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        self.pump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::ps2::{ACK, BAT_OK};
    use crate::mem::PhysMem;

    /// A controller, guest memory for the access context, and a virtual clock that moves
    /// past the refill delay before every access (as a guest's polling loop would).
    struct Rig {
        kbc: I8042,
        mem: PhysMem,
        now: u64,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                kbc: I8042::new(),
                mem: PhysMem::new(4096).unwrap(),
                now: 0,
            }
        }
        fn inb(&mut self, port: u16) -> u8 {
            self.now += REFILL_NS;
            let mut ctx = DevCtx {
                now: self.now,
                mem: &mut self.mem,
            };
            self.kbc.io_read(&mut ctx, port, 1) as u8
        }
        fn outb(&mut self, port: u16, v: u8) {
            self.now += REFILL_NS;
            let mut ctx = DevCtx {
                now: self.now,
                mem: &mut self.mem,
            };
            self.kbc.io_write(&mut ctx, port, 1, v as u32);
        }
        /// Reads every byte the controller has, polling status as drivers do.
        fn drain(&mut self) -> Vec<u8> {
            let mut v = Vec::new();
            while self.inb(STATUS_PORT) & STATUS_OBF != 0 {
                v.push(self.inb(DATA_PORT));
            }
            v
        }
        fn command(&mut self, cmd: u8) -> Vec<u8> {
            self.outb(STATUS_PORT, cmd);
            self.drain()
        }
        fn kbd(&mut self, b: u8) -> Vec<u8> {
            self.outb(DATA_PORT, b);
            self.drain()
        }
        fn aux(&mut self, b: u8) -> Vec<u8> {
            self.outb(STATUS_PORT, 0xD4);
            self.outb(DATA_PORT, b);
            self.drain()
        }
    }

    #[test]
    fn self_test_and_interface_tests() {
        // 0xAA answers 0x55 and sets the system flag; 0xAB and 0xA9 answer 0 (no error).
        let mut r = Rig::new();
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, 0x00);
        assert_eq!(r.inb(STATUS_PORT) & STATUS_SYS, 0);
        assert_eq!(r.command(0xAA), [0x55]);
        assert_eq!(r.inb(STATUS_PORT) & STATUS_SYS, STATUS_SYS);
        assert_eq!(r.command(0xAB), [0x00]);
        assert_eq!(r.command(0xA9), [0x00]);
    }

    #[test]
    fn command_byte_read_write_and_status_bits() {
        // 0x20 reads the command byte, 0x60 writes it; status bit 3 tells whether the last
        // write went to the command port; bit 4 shows the keylock open.
        let mut r = Rig::new();
        assert_eq!(r.command(0x20), [CCB_AFTER_POST]);
        r.outb(STATUS_PORT, 0x60);
        assert_eq!(r.inb(STATUS_PORT) & STATUS_A2, STATUS_A2);
        r.outb(DATA_PORT, 0x47);
        assert_eq!(r.inb(STATUS_PORT) & STATUS_A2, 0);
        assert_eq!(r.command(0x20), [0x47]);
        assert_eq!(r.kbc.command_byte(), 0x47);
        assert_eq!(
            r.inb(STATUS_PORT) & (STATUS_UNLOCKED | STATUS_IBF),
            STATUS_UNLOCKED
        );
        // 0xAD/0xAE and 0xA7/0xA8 set and clear the disable bits.
        r.command(0xAD);
        r.command(0xA8);
        assert_eq!(r.command(0x20), [0x47 | CCB_KBD_DISABLE]);
        r.command(0xAE);
        r.command(0xA7);
        assert_eq!(r.command(0x20), [0x47 | CCB_AUX_DISABLE]);
        // Other RAM bytes: 0x61 writes byte 1, 0x21 reads it.
        r.outb(STATUS_PORT, 0x61);
        r.outb(DATA_PORT, 0x99);
        assert_eq!(r.command(0x21), [0x99]);
    }

    #[test]
    fn a20_through_output_port_and_dd_df() {
        // Output port bit 1 is the A20 gate: 0xD1 writes it, 0xD0 reads it back, 0xDD and
        // 0xDF turn it off and on.
        let mut r = Rig::new();
        assert!(r.kbc.a20());
        r.outb(STATUS_PORT, 0xD1);
        r.outb(DATA_PORT, 0xDD);
        assert!(!r.kbc.a20());
        assert_eq!(r.command(0xD0)[0] & OUT_A20, 0);
        r.outb(STATUS_PORT, 0xD1);
        r.outb(DATA_PORT, 0xDF);
        assert!(r.kbc.a20());
        assert_eq!(
            r.command(0xD0)[0] & (OUT_A20 | OUT_RESET),
            OUT_A20 | OUT_RESET
        );
        r.command(0xDD);
        assert!(!r.kbc.a20());
        r.command(0xDF);
        assert!(r.kbc.a20());
        assert!(!r.kbc.reset_requested());
    }

    #[test]
    fn reset_by_pulse_and_by_output_port() {
        // 0xFE pulses the reset line; 0xFF pulses nothing; writing the output port with bit 0
        // clear resets too. The request stays latched until the board clears it.
        let mut r = Rig::new();
        r.command(0xFF);
        assert!(!r.kbc.reset_requested());
        r.command(0xFE);
        assert!(r.kbc.reset_requested());
        r.kbc.clear_reset();
        assert!(!r.kbc.reset_requested());
        r.outb(STATUS_PORT, 0xD1);
        r.outb(DATA_PORT, OUT_A20);
        assert!(r.kbc.reset_requested());
        r.kbc.clear_reset();
        assert_eq!(r.command(0xD0)[0] & OUT_RESET, OUT_RESET);
    }

    #[test]
    fn keyboard_commands_and_replies() {
        // Reset answers ACK then BAT OK; echo answers 0xEE; identify answers ACK AB 83 (AB 41
        // through translation); LEDs and typematic take an argument, each acknowledged;
        // 0xF0 0 reports the set; unknown commands get Resend; Resend repeats the last byte.
        let mut r = Rig::new();
        r.command(0xA7);
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_SYS | CCB_KBD_INT);
        assert_eq!(r.kbd(0xFF), [ACK, BAT_OK]);
        assert_eq!(r.kbd(0xEE), [0xEE]);
        assert_eq!(r.kbd(0xF2), [ACK, 0xAB, 0x83]);
        assert_eq!(r.kbd(0xED), [ACK]);
        assert_eq!(r.kbd(0x05), [ACK]);
        assert_eq!(r.kbc.leds(), 0x05);
        assert_eq!(r.kbd(0xF3), [ACK]);
        assert_eq!(r.kbd(0x20), [ACK]);
        assert_eq!(r.kbd(0xF0), [ACK]);
        assert_eq!(r.kbd(0x00), [ACK, 2]);
        assert_eq!(r.kbd(0xF0), [ACK]);
        assert_eq!(r.kbd(0x07), [0xFE], "invalid set");
        assert_eq!(r.kbd(0x03), [ACK]);
        assert_eq!(r.kbd(0xF0), [ACK]);
        assert_eq!(r.kbd(0x00), [ACK, 3]);
        assert_eq!(r.kbd(0xEF), [0xFE]);
        assert_eq!(r.kbd(0xFE), [0xFE], "resend repeats the last byte sent");
        assert_eq!(r.kbd(0xF6), [ACK]);
        assert_eq!(r.kbd(0xF0), [ACK]);
        assert_eq!(r.kbd(0x00), [ACK, 2], "set default restores set 2");
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_SYS | CCB_KBD_INT | CCB_XLAT);
        assert_eq!(r.kbd(0xF2), [ACK, 0xAB, 0x41]);
    }

    #[test]
    fn scanning_enable_and_disable() {
        // 0xF5 stops scanning (keys are discarded), 0xF4 starts it again.
        let mut r = Rig::new();
        assert_eq!(r.kbd(0xF5), [ACK]);
        assert!(r.kbc.key(&[0x1C]));
        assert!(r.drain().is_empty());
        assert_eq!(r.kbd(0xF4), [ACK]);
        assert!(r.kbc.key(&[0x1C]));
        assert_eq!(r.drain(), [0x1E]);
    }

    #[test]
    fn translation_of_make_break_and_e0_codes() {
        // With command byte bit 6 the controller turns set 2 into set 1: A make 1C -> 1E,
        // A break F0 1C -> 9E, Up make E0 75 -> E0 48, Up break E0 F0 75 -> E0 C8, F7 break
        // F0 83 -> C1. Without bit 6 the bytes pass unchanged.
        let mut r = Rig::new();
        for (s2, s1) in [
            (&[0x1C][..], &[0x1E][..]),
            (&[0xF0, 0x1C], &[0x9E]),
            (&[0xE0, 0x75], &[0xE0, 0x48]),
            (&[0xE0, 0xF0, 0x75], &[0xE0, 0xC8]),
            (&[0xF0, 0x83], &[0xC1]),
        ] {
            assert!(r.kbc.key(s2));
            assert_eq!(r.drain(), s1, "set 2 {s2:02x?}");
        }
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_SYS | CCB_KBD_INT);
        r.kbc.key(&[0xE0, 0xF0, 0x75]);
        assert_eq!(r.drain(), [0xE0, 0xF0, 0x75]);
    }

    #[test]
    fn irq1_follows_the_output_buffer_and_enable_bit() {
        // IRQ1 is high while a keyboard byte waits and the command byte enables it; reading
        // port 0x60 drops it, and the next byte raises it again after the refill time, so
        // each byte is a new edge.
        let mut r = Rig::new();
        r.kbc.tick(r.now);
        r.kbc.key(&[0xE0, 0x75]);
        assert!(r.kbc.irq1());
        assert!(!r.kbc.irq12());
        let t = r.now;
        let mut ctx = DevCtx {
            now: t,
            mem: &mut r.mem,
        };
        assert_eq!(r.kbc.io_read(&mut ctx, DATA_PORT, 1), 0xE0);
        assert!(!r.kbc.irq1(), "the line drops when the byte is read");
        assert_eq!(r.kbc.deadline(), Some(t + REFILL_NS));
        let mut ctx = DevCtx {
            now: t + 1,
            mem: &mut r.mem,
        };
        assert_eq!(
            r.kbc.io_read(&mut ctx, STATUS_PORT, 1) as u8 & STATUS_OBF,
            0
        );
        r.kbc.tick(t + REFILL_NS);
        assert!(r.kbc.irq1());
        assert_eq!(r.kbc.deadline(), None);
        assert_eq!(r.drain(), [0x48]);
        // With IRQ1 disabled the buffer still fills but the line stays low.
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_XLAT);
        r.kbc.key(&[0x1C]);
        assert_eq!(r.inb(STATUS_PORT) & STATUS_OBF, STATUS_OBF);
        assert!(!r.kbc.irq1());
    }

    #[test]
    fn controller_replies_raise_irq1() {
        // A controller reply (here to 0x20) fills the output buffer like keyboard data: OBF
        // with the AUX bit clear, on IRQ1 when enabled.
        let mut r = Rig::new();
        r.outb(STATUS_PORT, 0x20);
        assert!(r.kbc.irq1());
        assert_eq!(
            r.inb(STATUS_PORT) & (STATUS_OBF | STATUS_AUX_OBF),
            STATUS_OBF
        );
    }

    #[test]
    fn mouse_reset_id_and_packets_on_irq12() {
        // Mouse bytes set status bit 5 and raise IRQ12 (not IRQ1): reset answers ACK AA 00,
        // get ID answers ACK 00, and with reporting on, motion arrives as 3-byte packets.
        let mut r = Rig::new();
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_XLAT | CCB_SYS | CCB_KBD_INT | CCB_AUX_INT);
        r.outb(STATUS_PORT, 0xD4);
        r.outb(DATA_PORT, 0xFF);
        assert_eq!(r.inb(STATUS_PORT) & (STATUS_OBF | STATUS_AUX_OBF), 0x21);
        assert!(r.kbc.irq12());
        assert!(!r.kbc.irq1());
        assert_eq!(r.drain(), [ACK, BAT_OK, 0x00]);
        assert!(!r.kbc.irq12());
        assert_eq!(r.aux(0xF2), [ACK, 0x00]);
        r.kbc.mouse_move(5, 5, 0);
        assert!(r.drain().is_empty(), "reporting is off after reset");
        assert_eq!(r.aux(0xF4), [ACK]);
        r.kbc.mouse_move(5, -3, 0x01);
        assert!(r.kbc.irq12());
        assert_eq!(r.drain(), [0x08 | 0x20 | 0x01, 5, 0xFD]);
        // Sample rate, resolution and scaling, then the status request reports them.
        assert_eq!(r.aux(0xF3), [ACK]);
        assert_eq!(r.aux(40), [ACK]);
        assert_eq!(r.aux(0xE8), [ACK]);
        assert_eq!(r.aux(3), [ACK]);
        assert_eq!(r.aux(0xE7), [ACK]);
        assert_eq!(r.aux(0xE9), [ACK, 0x20 | 0x10 | 0x04, 3, 40]);
        assert_eq!(r.aux(0xF5), [ACK]);
        r.kbc.mouse_move(1, 1, 0);
        assert!(r.drain().is_empty());
    }

    #[test]
    fn intellimouse_knock_gives_id_3_and_4_byte_packets() {
        // Sample rates 200, 100, 80 switch on the wheel: ID 3, and packets gain a Z byte.
        let mut r = Rig::new();
        r.command(0xA8);
        for rate in [200, 100, 80] {
            r.aux(0xF3);
            r.aux(rate);
        }
        assert_eq!(r.aux(0xF2), [ACK, 3]);
        r.aux(0xF4);
        r.kbc.mouse_event(0, 0, -1, 0x04);
        assert_eq!(r.drain(), [0x0C, 0, 0, 0xFF]);
    }

    #[test]
    fn d2_d3_write_the_output_buffer_as_each_device() {
        // 0xD2 puts a byte in the output buffer as keyboard data (IRQ1), 0xD3 as mouse data
        // (AUX bit, IRQ12); Linux's aux loopback probe relies on 0xD3.
        let mut r = Rig::new();
        r.outb(STATUS_PORT, 0x60);
        r.outb(DATA_PORT, CCB_KBD_INT | CCB_AUX_INT | CCB_XLAT);
        r.outb(STATUS_PORT, 0xD3);
        r.outb(DATA_PORT, 0x5A);
        assert!(r.kbc.irq12());
        assert_eq!(r.inb(STATUS_PORT) & STATUS_AUX_OBF, STATUS_AUX_OBF);
        assert_eq!(r.inb(DATA_PORT), 0x5A);
        r.outb(STATUS_PORT, 0xD2);
        r.outb(DATA_PORT, 0x1C);
        assert!(r.kbc.irq1());
        assert_eq!(r.drain(), [0x1C], "0xD2 bytes are not translated");
    }

    #[test]
    fn disabled_interfaces_hold_their_data() {
        // With the keyboard interface disabled (0xAD) keys wait in the keyboard and mouse
        // bytes still come through; 0xAE lets the keys out.
        let mut r = Rig::new();
        r.command(0xA8);
        r.aux(0xF4);
        r.command(0xAD);
        r.kbc.key(&[0x1C]);
        r.kbc.mouse_move(1, 0, 0);
        assert_eq!(r.drain(), [0x08, 1, 0]);
        assert_eq!(r.command(0xAE), [0x1E]);
    }

    #[test]
    fn controller_replies_go_before_device_bytes() {
        // A controller reply takes the output buffer before device bytes already waiting.
        let mut r = Rig::new();
        r.kbc.key(&[0xE0, 0x75]);
        assert_eq!(r.command(0x20), [0xE0, CCB_AFTER_POST, 0x48]);
    }

    #[test]
    fn output_buffer_interleaves_keyboard_and_mouse_with_the_aux_bit() {
        // One byte at a time: the keyboard's bytes go first, then the mouse's, each tagged
        // by status bit 5.
        let mut r = Rig::new();
        r.command(0xA8);
        r.aux(0xF4);
        r.kbc.mouse_move(2, 0, 0);
        r.kbc.key(&[0x1C]);
        let mut seen = Vec::new();
        while r.inb(STATUS_PORT) & STATUS_OBF != 0 {
            let aux = r.inb(STATUS_PORT) & STATUS_AUX_OBF != 0;
            seen.push((r.inb(DATA_PORT), aux));
        }
        assert_eq!(seen, [(0x08, true), (0x1E, false), (2, true), (0, true)]);
    }

    #[test]
    fn any_guest_value_is_safe() {
        // Every command followed by every data byte (which reaches the keyboard or, after
        // 0xD4, the mouse) never panics, and the queues stay bounded.
        let mut r = Rig::new();
        for cmd in 0..=255u8 {
            for v in 0..=255u8 {
                r.outb(STATUS_PORT, cmd);
                r.outb(DATA_PORT, v);
                r.kbc.mouse_event(v as i32 * 3, -(v as i32), 1, v);
                r.kbc.key(&[0xE0, 0xF0, v]);
                if v % 2 == 0 {
                    r.inb(DATA_PORT);
                }
                assert!(r.kbc.replies.len() <= 16);
            }
            r.kbc.clear_reset();
        }
    }

    #[test]
    fn other_ports_read_all_ones() {
        let mut r = Rig::new();
        let mut ctx = DevCtx {
            now: 0,
            mem: &mut r.mem,
        };
        assert_eq!(r.kbc.io_read(&mut ctx, 0x61, 1), 0xFF);
        r.kbc.io_write(&mut ctx, 0x65, 1, 0xFE);
        assert!(!r.kbc.reset_requested());
    }
}
