//! The VGA in 80×25 colour text mode, as a PC leaves it for a kernel: the register file
//! (CRTC, sequencer, graphics controller, attribute controller, DAC, misc output, input
//! status) that drivers program, with the cursor and the display start address the screen
//! follows. The text buffer itself is ordinary memory at 0xB8000 (the board maps it as RAM),
//! which is what text-mode software writes to.

use super::bus::{DevCtx, PortIo};

/// Physical address of the colour text buffer.
pub const TEXT_BASE: u64 = 0xB_8000;
/// Bytes of text buffer (the 32 KiB window at 0xB8000).
pub const TEXT_SIZE: u64 = 0x8000;
/// Columns of the text mode.
pub const COLUMNS: usize = 80;
/// Rows of the text mode.
pub const ROWS: usize = 25;

/// CRTC register indices (IBM VGA Technical Reference).
pub mod crtc {
    /// Cursor start scan line; bit 5 disables the cursor.
    pub const CURSOR_START: u8 = 0x0A;
    /// Cursor end scan line.
    pub const CURSOR_END: u8 = 0x0B;
    /// Start address, high byte.
    pub const START_HIGH: u8 = 0x0C;
    /// Start address, low byte.
    pub const START_LOW: u8 = 0x0D;
    /// Cursor location, high byte.
    pub const CURSOR_HIGH: u8 = 0x0E;
    /// Cursor location, low byte.
    pub const CURSOR_LOW: u8 = 0x0F;
    /// Registers 0–7 are write-protected while bit 7 of this one is set.
    pub const VERTICAL_RETRACE_END: u8 = 0x11;
}

/// One frame of a text screen: `cells` holds (character, attribute) byte pairs row by row.
pub struct TextFrame<'a> {
    /// Character/attribute pairs, `columns * rows` of them.
    pub cells: &'a [u8],
    /// Columns per row.
    pub columns: usize,
    /// Rows.
    pub rows: usize,
    /// The cursor cell, if shown.
    pub cursor: Option<(usize, usize)>,
    /// The sixteen colours as RGB.
    pub palette: [[u8; 3]; 16],
}

/// The values BIOS mode 3 leaves in the CRTC (80×25, 9×16 cells).
const MODE3_CRTC: [u8; 25] = [
    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00,
    0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
];

/// The VGA register file.
#[derive(Clone, Debug)]
pub struct Vga {
    misc: u8,
    crtc_index: u8,
    crtc: [u8; 25],
    seq_index: u8,
    seq: [u8; 5],
    gc_index: u8,
    gc: [u8; 9],
    ac_index: u8,
    ac_flip: bool,
    ac: [u8; 21],
    dac_read: u8,
    dac_write: u8,
    dac_step: u8,
    dac: Box<[[u8; 3]; 256]>,
    feature: u8,
    retrace: bool,
}

impl Default for Vga {
    fn default() -> Self {
        Vga::new()
    }
}

impl Vga {
    /// A VGA in BIOS mode 3 (80×25 colour text at 0xB8000).
    pub fn new() -> Vga {
        let mut dac = Box::new([[0u8; 3]; 256]);
        // The EGA palette in DAC entries 0-63 (6-bit components): bits 2/1/0 are R/G/B at
        // two thirds, bits 5/4/3 add one third. The attribute palette picks 16 of them.
        for (i, e) in dac.iter_mut().enumerate().take(64) {
            let c =
                |hi: usize, lo: usize| ((i >> hi) & 1) as u8 * 0x2A + ((i >> lo) & 1) as u8 * 0x15;
            *e = [c(2, 5), c(1, 4), c(0, 3)];
        }
        Vga {
            misc: 0x67,
            crtc_index: 0,
            crtc: MODE3_CRTC,
            seq_index: 0,
            seq: [0x03, 0x00, 0x03, 0x00, 0x02],
            gc_index: 0,
            gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF],
            ac_index: 0,
            ac_flip: false,
            ac: [
                0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D,
                0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00,
            ],
            dac_read: 0,
            dac_write: 0,
            dac_step: 0,
            dac,
            feature: 0,
            retrace: false,
        }
    }

    /// The character cell (0-based, in the 80×25 grid) where the cursor is, or `None` when
    /// the cursor is disabled or off the screen.
    pub fn cursor(&self) -> Option<(usize, usize)> {
        if self.crtc[crtc::CURSOR_START as usize] & 0x20 != 0 {
            return None;
        }
        let pos = (self.crtc[crtc::CURSOR_HIGH as usize] as usize) << 8
            | self.crtc[crtc::CURSOR_LOW as usize] as usize;
        let rel = pos.checked_sub(self.start_address())?;
        (rel < COLUMNS * ROWS).then_some((rel % COLUMNS, rel / COLUMNS))
    }

    /// The display start address in character cells (CRTC 0x0C/0x0D): the first cell shown.
    pub fn start_address(&self) -> usize {
        (self.crtc[crtc::START_HIGH as usize] as usize) << 8
            | self.crtc[crtc::START_LOW as usize] as usize
    }

    /// The RGB colour (8 bits per component) of text attribute colour `index` (0–15),
    /// through the attribute controller's palette and the DAC.
    pub fn colour(&self, index: u8) -> [u8; 3] {
        let dac = self.ac[(index & 15) as usize] as usize & 0x3F;
        let [r, g, b] = self.dac[dac];
        [r << 2 | r >> 4, g << 2 | g >> 4, b << 2 | b >> 4]
    }

    /// The screen as it shows now, from the text buffer `text` (the bytes at
    /// [`TEXT_BASE`]): the cells from the display start address on.
    pub fn frame<'a>(&self, text: &'a [u8]) -> Option<TextFrame<'a>> {
        let start = self.start_address() * 2;
        let cells = text.get(start..start + COLUMNS * ROWS * 2)?;
        Some(TextFrame {
            cells,
            columns: COLUMNS,
            rows: ROWS,
            cursor: self.cursor(),
            palette: self.palette(),
        })
    }

    /// The 16 text colours as RGB, in attribute-index order.
    pub fn palette(&self) -> [[u8; 3]; 16] {
        std::array::from_fn(|i| self.colour(i as u8))
    }

    /// Whether the CRTC is at the colour addresses (0x3D4) rather than mono (0x3B4).
    fn colour_io(&self) -> bool {
        self.misc & 1 != 0
    }

    fn read_byte(&mut self, port: u16) -> u8 {
        let colour = self.colour_io();
        match port {
            0x3C0 => self.ac_index,
            0x3C1 => self
                .ac
                .get(self.ac_index as usize & 0x1F)
                .copied()
                .unwrap_or(0),
            0x3C2 => 0x10, // input status 0: switch sense
            0x3C4 => self.seq_index,
            0x3C5 => self.seq.get(self.seq_index as usize).copied().unwrap_or(0),
            0x3C7 => 0, // DAC state: read mode
            0x3C8 => self.dac_write,
            0x3C9 => {
                let v = self.dac[self.dac_read as usize][self.dac_step as usize];
                self.step_dac(true);
                v
            }
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gc_index,
            0x3CF => self.gc.get(self.gc_index as usize).copied().unwrap_or(0),
            0x3B4 | 0x3D4 if (port == 0x3D4) == colour => self.crtc_index,
            0x3B5 | 0x3D5 if (port == 0x3D5) == colour => self
                .crtc
                .get(self.crtc_index as usize)
                .copied()
                .unwrap_or(0),
            0x3BA | 0x3DA if (port == 0x3DA) == colour => {
                // Reading input status 1 resets the attribute flip-flop. The retrace and
                // display-enable bits alternate from read to read, so loops that wait for a
                // retrace to begin and end both finish.
                self.ac_flip = false;
                self.retrace = !self.retrace;
                if self.retrace {
                    0x09
                } else {
                    0x00
                }
            }
            _ => 0xFF,
        }
    }

    fn step_dac(&mut self, read: bool) {
        self.dac_step += 1;
        if self.dac_step == 3 {
            self.dac_step = 0;
            if read {
                self.dac_read = self.dac_read.wrapping_add(1);
            } else {
                self.dac_write = self.dac_write.wrapping_add(1);
            }
        }
    }

    fn write_byte(&mut self, port: u16, v: u8) {
        let colour = self.colour_io();
        match port {
            0x3C0 => {
                // The attribute controller alternates index and data writes.
                if !self.ac_flip {
                    self.ac_index = v & 0x3F;
                } else if let Some(r) = self.ac.get_mut(self.ac_index as usize & 0x1F) {
                    *r = v;
                }
                self.ac_flip = !self.ac_flip;
            }
            0x3C2 => self.misc = v,
            0x3C4 => self.seq_index = v & 7,
            0x3C5 => {
                if let Some(r) = self.seq.get_mut(self.seq_index as usize) {
                    *r = v;
                }
            }
            0x3C7 => {
                self.dac_read = v;
                self.dac_step = 0;
            }
            0x3C8 => {
                self.dac_write = v;
                self.dac_step = 0;
            }
            0x3C9 => {
                self.dac[self.dac_write as usize][self.dac_step as usize] = v & 0x3F;
                self.step_dac(false);
            }
            0x3CE => self.gc_index = v & 0xF,
            0x3CF => {
                if let Some(r) = self.gc.get_mut(self.gc_index as usize) {
                    *r = v;
                }
            }
            0x3B4 | 0x3D4 if (port == 0x3D4) == colour => self.crtc_index = v & 0x3F,
            0x3B5 | 0x3D5 if (port == 0x3D5) == colour => {
                let i = self.crtc_index as usize;
                // CRTC registers 0-7 are locked while VRE bit 7 is set (bit 4 of 7 excepted).
                let locked = i < 8 && self.crtc[crtc::VERTICAL_RETRACE_END as usize] & 0x80 != 0;
                if let Some(r) = self.crtc.get_mut(i) {
                    if !locked {
                        *r = v;
                    } else if i == 7 {
                        *r = (*r & !0x10) | (v & 0x10);
                    }
                }
            }
            0x3BA | 0x3DA if (port == 0x3DA) == colour => self.feature = v,
            _ => {}
        }
    }
}

impl PortIo for Vga {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        (0..size as u16).fold(0, |acc, i| {
            acc | (self.read_byte(port + i) as u32) << (8 * i)
        })
    }

    fn io_write(&mut self, _: &mut DevCtx, port: u16, size: u8, value: u32) {
        for i in 0..size as u16 {
            self.write_byte(port + i, (value >> (8 * i)) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    fn out(v: &mut Vga, port: u16, val: u8) {
        let mut mem = PhysMem::new(4096).unwrap();
        v.io_write(
            &mut DevCtx {
                now: 0,
                mem: &mut mem,
            },
            port,
            1,
            val as u32,
        );
    }

    fn inb(v: &mut Vga, port: u16) -> u8 {
        let mut mem = PhysMem::new(4096).unwrap();
        v.io_read(
            &mut DevCtx {
                now: 0,
                mem: &mut mem,
            },
            port,
            1,
        ) as u8
    }

    #[test]
    fn cursor_follows_the_crtc_location_registers() {
        let mut v = Vga::new();
        assert_eq!(v.cursor(), Some((0, 0)));
        // Cursor at row 3, column 5: cell 245.
        out(&mut v, 0x3D4, crtc::CURSOR_HIGH);
        out(&mut v, 0x3D5, 0);
        out(&mut v, 0x3D4, crtc::CURSOR_LOW);
        out(&mut v, 0x3D5, 245);
        assert_eq!(v.cursor(), Some((5, 3)));
        // Bit 5 of Cursor Start hides it.
        out(&mut v, 0x3D4, crtc::CURSOR_START);
        out(&mut v, 0x3D5, 0x20);
        assert_eq!(v.cursor(), None);
    }

    #[test]
    fn a_word_write_sets_index_and_data_as_drivers_do() {
        let mut v = Vga::new();
        let mut mem = PhysMem::new(4096).unwrap();
        // outw 0x3D4, 0x500C: start address high = 0x50.
        v.io_write(
            &mut DevCtx {
                now: 0,
                mem: &mut mem,
            },
            0x3D4,
            2,
            0x500C,
        );
        assert_eq!(v.start_address(), 0x5000);
        out(&mut v, 0x3D4, crtc::CURSOR_LOW);
        assert_eq!(inb(&mut v, 0x3D5), 0);
    }

    #[test]
    fn attribute_controller_flip_flop_resets_on_input_status_read() {
        let mut v = Vga::new();
        out(&mut v, 0x3C0, 0x01); // index 1
        let _ = inb(&mut v, 0x3DA); // reset: the next write is an index again
        out(&mut v, 0x3C0, 0x02); // index 2
        out(&mut v, 0x3C0, 0x3F); // palette entry 2 = 0x3F
        assert_eq!(v.ac[2], 0x3F);
        assert_eq!(v.ac[1], 0x01);
    }

    #[test]
    fn default_palette_is_cga() {
        let v = Vga::new();
        assert_eq!(v.colour(0), [0, 0, 0]);
        assert_eq!(v.colour(1), [0, 0, 0xAA]);
        assert_eq!(v.colour(6), [0xAA, 0x55, 0]);
        assert_eq!(v.colour(15), [0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn input_status_alternates_so_retrace_waits_end() {
        let mut v = Vga::new();
        let a = inb(&mut v, 0x3DA) & 8;
        let b = inb(&mut v, 0x3DA) & 8;
        assert_ne!(a, b);
    }

    #[test]
    fn dac_writes_auto_increment_per_three_components() {
        let mut v = Vga::new();
        out(&mut v, 0x3C8, 5);
        for c in [1, 2, 3, 4] {
            out(&mut v, 0x3C9, c);
        }
        assert_eq!(v.dac[5], [1, 2, 3]);
        assert_eq!(v.dac[6][0], 4);
    }
}
