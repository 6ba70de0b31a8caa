//! The two PS/2 devices behind the i8042: a keyboard (IBM PS/2 Technical Reference,
//! "Keyboard and auxiliary device controller"; scan code sets 1–3) and a mouse (the PS/2
//! mouse protocol, with the IntelliMouse wheel extension).
//!
//! Each device is a byte-serial state machine: the controller hands it the bytes the guest
//! sends ([`Keyboard::write`], [`Mouse::write`]) and takes the bytes it sends back one at a
//! time ([`Keyboard::pop`], [`Mouse::pop`]). Host input arrives as key events in scan code
//! set 2 ([`Keyboard::key`]) and mouse motion ([`Mouse::motion`]).

use std::collections::VecDeque;

/// Acknowledge, the reply to every command except Echo and Resend.
pub const ACK: u8 = 0xFA;
/// Resend: the reply to an unknown command or an invalid argument.
pub const RESEND: u8 = 0xFE;
/// Basic assurance test passed (sent after a reset).
pub const BAT_OK: u8 = 0xAA;
/// Reply to the keyboard Echo command.
pub const ECHO: u8 = 0xEE;

/// How many bytes of key events the keyboard buffers (the PS/2 keyboard's 16-byte buffer).
pub const KEY_BUFFER: usize = 16;
/// Bound on queued replies, so a guest that never reads cannot grow a queue without limit.
const REPLY_LIMIT: usize = 64;
/// How many bytes of movement packets the mouse buffers before it drops new motion.
const MOUSE_BUFFER: usize = 48;

/// The 8042's scan code translation table, set 2 -> set 1 (IBM PS/2 Technical Reference;
/// the same table as in A. Brouwer's "Keyboard scancodes", §10). Bytes 0x80 and up pass
/// through, except 0x83 (F7) and 0x84 (SysRq), whose set-1 codes are below 0x80.
pub const SET2_TO_SET1: [u8; 256] = {
    let low: [u8; 128] = [
        0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29,
        0x59, 0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11,
        0x03, 0x5b, 0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14,
        0x13, 0x06, 0x5d, 0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24,
        0x16, 0x08, 0x09, 0x5f, 0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35,
        0x26, 0x27, 0x19, 0x0c, 0x61, 0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36,
        0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76, 0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c,
        0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f, 0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
        0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
    ];
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 128 { low[i] } else { i as u8 };
        i += 1;
    }
    t[0x83] = 0x41;
    t[0x84] = 0x54;
    t
};

/// Translates a set-2 byte stream to set 1 as the 8042 does: each byte through
/// [`SET2_TO_SET1`], and a 0xF0 (break) prefix dropped with bit 7 set on the next code.
pub fn set2_to_set1(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut brk = false;
    for &b in bytes {
        if b == 0xF0 {
            brk = true;
            continue;
        }
        let t = SET2_TO_SET1[b as usize];
        out.push(if brk { t | 0x80 } else { t });
        brk = false;
    }
    out
}

/// Set-3 codes of the keys whose set-3 code differs from their set-2 code: (set-2 code,
/// E0-prefixed, set-3 code). Every other key has the same code in both sets.
const SET3_DIFFERS: &[(u8, bool, u8)] = &[
    (0x05, false, 0x07), // F1
    (0x06, false, 0x0F), // F2
    (0x04, false, 0x17), // F3
    (0x0C, false, 0x1F), // F4
    (0x03, false, 0x27), // F5
    (0x0B, false, 0x2F), // F6
    (0x83, false, 0x37), // F7
    (0x0A, false, 0x3F), // F8
    (0x01, false, 0x47), // F9
    (0x09, false, 0x4F), // F10
    (0x78, false, 0x56), // F11
    (0x07, false, 0x5E), // F12
    (0x76, false, 0x08), // Esc
    (0x7E, false, 0x5F), // Scroll Lock
    (0x14, false, 0x11), // left Ctrl
    (0x11, false, 0x19), // left Alt
    (0x58, false, 0x14), // Caps Lock
    (0x5D, false, 0x5C), // backslash
    (0x61, false, 0x13), // the extra key of 102-key layouts
    (0x77, false, 0x76), // Num Lock
    (0x7C, false, 0x7E), // keypad *
    (0x7B, false, 0x84), // keypad -
    (0x79, false, 0x7C), // keypad +
    (0x84, false, 0x57), // SysRq
    (0x11, true, 0x39),  // right Alt
    (0x14, true, 0x58),  // right Ctrl
    (0x70, true, 0x67),  // Insert
    (0x6C, true, 0x6E),  // Home
    (0x7D, true, 0x6F),  // Page Up
    (0x71, true, 0x64),  // Delete
    (0x69, true, 0x65),  // End
    (0x7A, true, 0x6D),  // Page Down
    (0x75, true, 0x63),  // Up
    (0x6B, true, 0x61),  // Left
    (0x72, true, 0x60),  // Down
    (0x74, true, 0x6A),  // Right
    (0x4A, true, 0x77),  // keypad /
    (0x5A, true, 0x79),  // keypad Enter
    (0x1F, true, 0x8B),  // left GUI
    (0x27, true, 0x8C),  // right GUI
    (0x2F, true, 0x8D),  // Menu
    (0x7C, true, 0x57),  // Print Screen
];

/// Converts one set-2 key event to set 3: single-byte codes, 0xF0 before a break, no E0
/// prefixes and no fake shifts. Pause (E1 …) becomes its set-3 make and break.
fn set2_to_set3(bytes: &[u8]) -> Vec<u8> {
    if bytes.first() == Some(&0xE1) {
        return vec![0x62, 0xF0, 0x62];
    }
    let mut out = Vec::with_capacity(bytes.len());
    let (mut e0, mut brk) = (false, false);
    for &b in bytes {
        match b {
            0xE0 => e0 = true,
            0xF0 => brk = true,
            code => {
                // E0 12 and E0 59 are the fake shifts set 2 wraps around some keys.
                if !(e0 && (code == 0x12 || code == 0x59)) {
                    let set3 = SET3_DIFFERS
                        .iter()
                        .find(|&&(c, e, _)| c == code && e == e0)
                        .map_or(code, |&(_, _, s)| s);
                    if brk {
                        out.push(0xF0);
                    }
                    out.push(set3);
                }
                e0 = false;
                brk = false;
            }
        }
    }
    out
}

/// A PS/2 keyboard.
#[derive(Debug)]
pub struct Keyboard {
    out: VecDeque<u8>,
    /// A command waiting for its argument byte (0xED, 0xF0, 0xF3).
    pending: Option<u8>,
    /// After the set-3 key-type commands 0xFB–0xFD, key codes follow until a command.
    key_list: bool,
    set: u8,
    scanning: bool,
    leds: u8,
    typematic: u8,
    last_sent: u8,
}

impl Default for Keyboard {
    fn default() -> Keyboard {
        Keyboard::new()
    }
}

impl Keyboard {
    /// A keyboard after its power-on self test: scan code set 2, scanning, LEDs off,
    /// typematic 10.9 characters/s after 500 ms (0x2B). (The BAT byte of power-on is not
    /// queued: firmware has long read it by the time a kernel runs.)
    pub fn new() -> Keyboard {
        Keyboard {
            out: VecDeque::new(),
            pending: None,
            key_list: false,
            set: 2,
            scanning: true,
            leds: 0,
            typematic: 0x2B,
            last_sent: 0,
        }
    }

    /// The scan code set in use (1, 2 or 3).
    pub fn scan_set(&self) -> u8 {
        self.set
    }

    /// The LED state the guest set: bit 0 Scroll Lock, bit 1 Num Lock, bit 2 Caps Lock.
    pub fn leds(&self) -> u8 {
        self.leds
    }

    /// The typematic rate/delay byte the guest set (bits 4:0 rate, 6:5 delay).
    pub fn typematic(&self) -> u8 {
        self.typematic
    }

    /// Whether the keyboard has a byte to send.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next byte the keyboard sends to the controller.
    pub fn pop(&mut self) -> Option<u8> {
        let b = self.out.pop_front()?;
        self.last_sent = b;
        Some(b)
    }

    /// A key event from the host: the make or break bytes in scan code set 2 (e.g. `[0x1C]`
    /// press A, `[0xF0, 0x1C]` release A, `[0xE0, 0x75]` press Up). The keyboard sends it in
    /// its current set. Returns false, dropping nothing, when the buffer has no room for the
    /// whole event (the board retries later); with scanning disabled the event is discarded
    /// as a real keyboard does, and true is returned.
    pub fn key(&mut self, set2: &[u8]) -> bool {
        if !self.scanning {
            return true;
        }
        let bytes = match self.set {
            1 => set2_to_set1(set2),
            3 => set2_to_set3(set2),
            _ => set2.to_vec(),
        };
        if self.out.len() + bytes.len() > KEY_BUFFER {
            return false;
        }
        self.out.extend(bytes);
        true
    }

    fn reply(&mut self, bytes: &[u8]) {
        if self.out.len() + bytes.len() <= REPLY_LIMIT {
            self.out.extend(bytes);
        }
    }

    fn set_defaults(&mut self) {
        self.set = 2;
        self.leds = 0;
        self.typematic = 0x2B;
        self.key_list = false;
    }

    /// A byte from the controller (a command or a command's argument).
    pub fn write(&mut self, b: u8) {
        if let Some(cmd) = self.pending.take() {
            // An argument with bit 7 set is a new command instead (IBM: the keyboard ends
            // the pending command and runs the new one).
            if b & 0x80 == 0 {
                self.argument(cmd, b);
                return;
            }
        }
        if self.key_list {
            if b < 0xED {
                // A key code for Set Key Type (set 3).
                self.reply(&[ACK]);
                return;
            }
            self.key_list = false;
        }
        match b {
            // Set/reset LEDs, select scan code set, set typematic rate: an argument follows.
            0xED | 0xF0 | 0xF3 => {
                self.pending = Some(b);
                self.reply(&[ACK]);
            }
            0xEE => self.reply(&[ECHO]),
            // Read ID: an MF2 keyboard.
            0xF2 => self.reply(&[ACK, 0xAB, 0x83]),
            // Enable: clears the output buffer and starts scanning.
            0xF4 => {
                self.out.clear();
                self.scanning = true;
                self.reply(&[ACK]);
            }
            // Default disable: defaults, buffer cleared, scanning stopped.
            0xF5 => {
                self.out.clear();
                self.set_defaults();
                self.scanning = false;
                self.reply(&[ACK]);
            }
            // Set default: defaults, buffer cleared, scanning continues.
            0xF6 => {
                self.out.clear();
                self.set_defaults();
                self.scanning = true;
                self.reply(&[ACK]);
            }
            // Set 3 key types for all keys: accepted (break codes are always sent).
            0xF7..=0xFA => self.reply(&[ACK]),
            // Set 3 key types for listed keys: the key codes follow.
            0xFB..=0xFD => {
                self.key_list = true;
                self.reply(&[ACK]);
            }
            0xFE => {
                let last = self.last_sent;
                self.reply(&[last]);
            }
            // Reset: acknowledge, run the BAT, report it.
            0xFF => {
                self.out.clear();
                self.set_defaults();
                self.scanning = true;
                self.reply(&[ACK, BAT_OK]);
            }
            _ => self.reply(&[RESEND]),
        }
    }

    fn argument(&mut self, cmd: u8, arg: u8) {
        match cmd {
            0xED => {
                self.leds = arg & 7;
                self.reply(&[ACK]);
            }
            0xF3 => {
                self.typematic = arg;
                self.reply(&[ACK]);
            }
            // 0xF0: 0 reports the current set, 1–3 select one.
            _ => match arg {
                0 => {
                    let set = self.set;
                    self.reply(&[ACK, set]);
                }
                1..=3 => {
                    self.set = arg;
                    self.reply(&[ACK]);
                }
                _ => {
                    // Invalid argument: ask for it again.
                    self.pending = Some(cmd);
                    self.reply(&[RESEND]);
                }
            },
        }
    }
}

/// Mouse buttons in the PS/2 packet's bit order.
pub const BUTTON_LEFT: u8 = 0x01;
/// Right button.
pub const BUTTON_RIGHT: u8 = 0x02;
/// Middle button.
pub const BUTTON_MIDDLE: u8 = 0x04;

/// A PS/2 mouse (with the IntelliMouse wheel: ID 3 after sample rates 200, 100, 80).
#[derive(Debug)]
pub struct Mouse {
    out: VecDeque<u8>,
    /// A command waiting for its argument (0xE8 resolution, 0xF3 sample rate).
    pending: Option<u8>,
    reporting: bool,
    remote: bool,
    wrap: bool,
    scaling_2_1: bool,
    resolution: u8,
    sample_rate: u8,
    id: u8,
    /// The last three sample rates set, oldest first (the IntelliMouse knock).
    rates: [u8; 3],
    buttons: u8,
    /// Motion accumulated in remote mode, sent on Read Data.
    acc: (i32, i32, i32),
    /// The last packet or reply sent, for Resend.
    last: Vec<u8>,
}

impl Default for Mouse {
    fn default() -> Mouse {
        Mouse::new()
    }
}

impl Mouse {
    /// A mouse after reset: stream mode, reporting disabled, 100 samples/s, 4 counts/mm,
    /// scaling 1:1, ID 0.
    pub fn new() -> Mouse {
        Mouse {
            out: VecDeque::new(),
            pending: None,
            reporting: false,
            remote: false,
            wrap: false,
            scaling_2_1: false,
            resolution: 2,
            sample_rate: 100,
            id: 0,
            rates: [0; 3],
            buttons: 0,
            acc: (0, 0, 0),
            last: Vec::new(),
        }
    }

    /// The device ID (0 for a plain PS/2 mouse, 3 once the wheel is enabled).
    pub fn id(&self) -> u8 {
        self.id
    }

    /// Whether the mouse has a byte to send.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next byte the mouse sends to the controller.
    pub fn pop(&mut self) -> Option<u8> {
        self.out.pop_front()
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.out.len() + bytes.len() <= REPLY_LIMIT {
            self.out.extend(bytes);
        }
        self.last = bytes.to_vec();
    }

    fn set_defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2_1 = false;
        self.resolution = 2;
        self.sample_rate = 100;
        self.acc = (0, 0, 0);
    }

    /// Host motion: `dx` right, `dy` up (the PS/2 convention), `dz` wheel (positive
    /// towards the user), `buttons` as [`BUTTON_LEFT`] | [`BUTTON_RIGHT`] | [`BUTTON_MIDDLE`].
    /// In stream mode with reporting enabled it becomes packets (large motion is split over
    /// several); in remote mode it accumulates for Read Data; otherwise it is discarded.
    /// Motion that does not fit the mouse's buffer is dropped.
    pub fn motion(&mut self, dx: i32, dy: i32, dz: i32, buttons: u8) {
        self.buttons = buttons & 7;
        if self.wrap {
            return;
        }
        if self.remote {
            self.acc.0 = self.acc.0.saturating_add(dx);
            self.acc.1 = self.acc.1.saturating_add(dy);
            self.acc.2 = self.acc.2.saturating_add(dz);
            return;
        }
        if !self.reporting {
            return;
        }
        let (dx, dy) = if self.scaling_2_1 {
            (scale_2_1(dx), scale_2_1(dy))
        } else {
            (dx, dy)
        };
        let (mut dx, mut dy, mut dz) = (dx, dy, dz);
        // Split motion beyond the 9-bit range into several packets, at most a bufferful.
        loop {
            let cx = dx.clamp(-256, 255);
            let cy = dy.clamp(-256, 255);
            let cz = dz.clamp(-8, 7);
            let p = self.packet(cx, cy, cz, false);
            if self.out.len() + p.len() > MOUSE_BUFFER {
                return;
            }
            self.out.extend(&p);
            self.last = p;
            dx -= cx;
            dy -= cy;
            dz -= cz;
            if dx == 0 && dy == 0 && dz == 0 {
                return;
            }
        }
    }

    /// A movement data packet: byte 0 buttons, bit 3 always set, X/Y sign bits 4/5 and
    /// overflow bits 6/7; bytes 1 and 2 the low 8 bits of X and Y; with ID 3 a wheel byte.
    fn packet(&self, dx: i32, dy: i32, dz: i32, overflow_ok: bool) -> Vec<u8> {
        let mut b0 = 0x08 | self.buttons;
        if dx < 0 {
            b0 |= 0x10;
        }
        if dy < 0 {
            b0 |= 0x20;
        }
        if overflow_ok && !(-256..=255).contains(&dx) {
            b0 |= 0x40;
        }
        if overflow_ok && !(-256..=255).contains(&dy) {
            b0 |= 0x80;
        }
        let cx = dx.clamp(-256, 255);
        let cy = dy.clamp(-256, 255);
        let mut p = vec![b0, cx as u8, cy as u8];
        if self.id == 3 {
            p.push(dz.clamp(-8, 7) as u8);
        }
        p
    }

    fn status(&self) -> [u8; 3] {
        // Status byte 1: bit 6 remote mode, bit 5 reporting, bit 4 scaling 2:1, bit 2 left,
        // bit 1 middle, bit 0 right.
        let mut s = 0;
        if self.remote {
            s |= 0x40;
        }
        if self.reporting {
            s |= 0x20;
        }
        if self.scaling_2_1 {
            s |= 0x10;
        }
        if self.buttons & BUTTON_LEFT != 0 {
            s |= 0x04;
        }
        if self.buttons & BUTTON_MIDDLE != 0 {
            s |= 0x02;
        }
        if self.buttons & BUTTON_RIGHT != 0 {
            s |= 0x01;
        }
        [s, self.resolution, self.sample_rate]
    }

    /// A byte from the controller (sent with the i8042's 0xD4 command).
    pub fn write(&mut self, b: u8) {
        if let Some(cmd) = self.pending.take() {
            if cmd == 0xE8 {
                if b <= 3 {
                    self.resolution = b;
                    self.send(&[ACK]);
                } else {
                    self.pending = Some(cmd);
                    self.send(&[RESEND]);
                }
            } else {
                self.sample_rate = b;
                self.rates = [self.rates[1], self.rates[2], b];
                if self.rates == [200, 100, 80] {
                    self.id = 3;
                }
                self.send(&[ACK]);
            }
            return;
        }
        if self.wrap && b != 0xEC && b != 0xFF {
            // Wrap mode echoes every byte but Reset Wrap Mode and Reset.
            self.send(&[b]);
            return;
        }
        match b {
            0xE6 => {
                self.scaling_2_1 = false;
                self.send(&[ACK]);
            }
            0xE7 => {
                self.scaling_2_1 = true;
                self.send(&[ACK]);
            }
            0xE8 | 0xF3 => {
                self.pending = Some(b);
                self.send(&[ACK]);
            }
            0xE9 => {
                let s = self.status();
                self.send(&[ACK, s[0], s[1], s[2]]);
            }
            0xEA => {
                self.remote = false;
                self.acc = (0, 0, 0);
                self.send(&[ACK]);
            }
            0xEB => {
                // Read Data: one packet with the motion since the last one (overflow bits
                // mark what did not fit).
                let (x, y, z) = self.acc;
                self.acc = (0, 0, 0);
                let mut p = vec![ACK];
                p.extend(self.packet(x, y, z, true));
                self.send(&p);
            }
            0xEC => {
                self.wrap = false;
                self.send(&[ACK]);
            }
            0xEE => {
                self.wrap = true;
                self.send(&[ACK]);
            }
            0xF0 => {
                self.remote = true;
                self.acc = (0, 0, 0);
                self.send(&[ACK]);
            }
            0xF2 => {
                let id = self.id;
                self.send(&[ACK, id]);
            }
            0xF4 => {
                self.reporting = true;
                self.send(&[ACK]);
            }
            0xF5 => {
                self.reporting = false;
                self.send(&[ACK]);
            }
            0xF6 => {
                self.set_defaults();
                self.send(&[ACK]);
            }
            0xFE => {
                let last = std::mem::take(&mut self.last);
                self.send(&last);
            }
            0xFF => {
                self.out.clear();
                self.set_defaults();
                self.wrap = false;
                self.id = 0;
                self.rates = [0; 3];
                self.send(&[ACK, BAT_OK, 0x00]);
            }
            _ => self.send(&[RESEND]),
        }
    }
}

/// 2:1 scaling of stream-mode counts (the PS/2 mouse's table: 1->1, 2->1, 3->3, 4->6,
/// 5->9, n->2n beyond).
fn scale_2_1(v: i32) -> i32 {
    let m = match v.unsigned_abs() {
        0 => 0,
        1 | 2 => 1,
        3 => 3,
        4 => 6,
        5 => 9,
        n => n.saturating_mul(2).min(i32::MAX as u32) as i32,
    };
    if v < 0 {
        -m
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_kbd(k: &mut Keyboard) -> Vec<u8> {
        std::iter::from_fn(|| k.pop()).collect()
    }

    fn drain_mouse(m: &mut Mouse) -> Vec<u8> {
        std::iter::from_fn(|| m.pop()).collect()
    }

    #[test]
    fn translation_table_spot_checks() {
        // Well-known set-2 -> set-1 pairs: A, Esc, Enter, Space, F1, F7, F11, F12, SysRq.
        for (s2, s1) in [
            (0x1C, 0x1E),
            (0x76, 0x01),
            (0x5A, 0x1C),
            (0x29, 0x39),
            (0x05, 0x3B),
            (0x83, 0x41),
            (0x78, 0x57),
            (0x07, 0x58),
            (0x84, 0x54),
            (0xE0, 0xE0),
            (0xFA, 0xFA),
        ] {
            assert_eq!(SET2_TO_SET1[s2], s1, "set-2 {s2:#04x}");
        }
        // Pause: E1 14 77 E1 F0 14 F0 77 -> E1 1D 45 E1 9D C5.
        assert_eq!(
            set2_to_set1(&[0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77]),
            [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]
        );
    }

    #[test]
    fn keyboard_sends_keys_in_the_selected_set() {
        // The same host event (release Up) in sets 2, 1 and 3.
        let mut k = Keyboard::new();
        assert!(k.key(&[0xE0, 0xF0, 0x75]));
        assert_eq!(drain_kbd(&mut k), [0xE0, 0xF0, 0x75]);
        k.write(0xF0);
        k.write(1);
        assert_eq!(
            drain_kbd(&mut k),
            [ACK, ACK],
            "the command and its argument"
        );
        k.key(&[0xE0, 0xF0, 0x75]);
        assert_eq!(drain_kbd(&mut k), [0xE0, 0xC8]);
        k.write(0xF0);
        k.write(3);
        drain_kbd(&mut k);
        k.key(&[0xE0, 0xF0, 0x75]);
        assert_eq!(drain_kbd(&mut k), [0xF0, 0x63]);
        // Print Screen make in set 3 drops the fake shift.
        k.key(&[0xE0, 0x12, 0xE0, 0x7C]);
        assert_eq!(drain_kbd(&mut k), [0x57]);
        k.key(&[0x1C]);
        assert_eq!(drain_kbd(&mut k), [0x1C], "A is the same in sets 2 and 3");
    }

    #[test]
    fn keyboard_buffer_refuses_what_does_not_fit() {
        // The 16-byte buffer takes whole events only; the board keeps the rest.
        let mut k = Keyboard::new();
        for _ in 0..8 {
            assert!(k.key(&[0xF0, 0x1C]));
        }
        assert!(!k.key(&[0x1C]));
        assert_eq!(drain_kbd(&mut k).len(), 16);
        assert!(k.key(&[0x1C]));
    }

    #[test]
    fn mouse_scaling_and_splitting() {
        // 2:1 scaling maps 1..5 to 1,1,3,6,9 and doubles beyond; motion beyond 9 bits is
        // split into several packets.
        assert_eq!(
            [1, 2, 3, 4, 5, 6, -4].map(scale_2_1),
            [1, 1, 3, 6, 9, 12, -6]
        );
        let mut m = Mouse::new();
        m.write(0xF4);
        drain_mouse(&mut m);
        m.motion(300, 0, 0, 0);
        assert_eq!(drain_mouse(&mut m), [0x08, 0xFF, 0x00, 0x08, 45, 0x00]);
    }
}
