//! The VGA text screen drawn in a terminal with ANSI escapes: 80×25 cells, the sixteen
//! attribute colours as 24-bit colour, the cursor, and only the rows that changed redrawn.

use std::io::Write;

pub use crate::dev::vga::TextFrame;

/// Code page 437 as Unicode, the font of the PC's text modes.
const CP437: [char; 256] = [
    ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼', '►', '◄', '↕',
    '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼', ' ', '!', '"', '#', '$', '%',
    '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', '0', '1', '2', '3', '4', '5', '6', '7', '8',
    '9', ':', ';', '<', '=', '>', '?', '@', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K',
    'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '[', '\\', ']', '^',
    '_', '`', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q',
    'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '{', '|', '}', '~', '⌂', 'Ç', 'ü', 'é', 'â', 'ä',
    'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù',
    'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬',
    '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜',
    '╛', '┐', '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨',
    '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π',
    'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷',
    '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', ' ',
];

/// Draws text frames on a terminal, redrawing only what changed.
#[derive(Default)]
pub struct TerminalScreen {
    last: Vec<u8>,
    last_cursor: Option<Option<(usize, usize)>>,
}

impl TerminalScreen {
    /// A screen that has drawn nothing yet (the first frame clears the terminal).
    pub fn new() -> TerminalScreen {
        TerminalScreen::default()
    }

    /// The escape sequences that bring the terminal from the last frame to `f`.
    pub fn render(&mut self, f: &TextFrame) -> Vec<u8> {
        let mut out = Vec::new();
        let first = self.last.len() != f.cells.len();
        if first {
            out.extend_from_slice(b"\x1b[2J");
            self.last = vec![0xFF; f.cells.len()];
        }
        for row in 0..f.rows {
            let span = row * f.columns * 2..(row + 1) * f.columns * 2;
            if f.cells.get(span.clone()) == self.last.get(span.clone()) {
                continue;
            }
            let _ = write!(out, "\x1b[{};1H", row + 1);
            let mut attr = None;
            for cell in f.cells[span].chunks_exact(2) {
                let (ch, a) = (cell[0], cell[1]);
                if attr != Some(a) {
                    let [fr, fg, fb] = f.palette[(a & 0xF) as usize];
                    // Bit 7 is blink in the BIOS's default mode: shown as the dimmer background.
                    let [br, bg, bb] = f.palette[((a >> 4) & 0x7) as usize];
                    let _ = write!(out, "\x1b[38;2;{fr};{fg};{fb};48;2;{br};{bg};{bb}m");
                    attr = Some(a);
                }
                let mut buf = [0u8; 4];
                out.extend_from_slice(CP437[ch as usize].encode_utf8(&mut buf).as_bytes());
            }
            out.extend_from_slice(b"\x1b[0m");
        }
        self.last.clear();
        self.last.extend_from_slice(f.cells);
        if first || self.last_cursor != Some(f.cursor) || !out.is_empty() {
            match f.cursor {
                Some((x, y)) => {
                    let _ = write!(out, "\x1b[{};{}H\x1b[?25h", y + 1, x + 1);
                }
                None => out.extend_from_slice(b"\x1b[?25l"),
            }
            self.last_cursor = Some(f.cursor);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(cells: &[u8], cursor: Option<(usize, usize)>) -> TextFrame<'_> {
        let mut palette = [[0u8; 3]; 16];
        palette[7] = [0xAA, 0xAA, 0xAA];
        TextFrame {
            cells,
            columns: 2,
            rows: 2,
            cursor,
            palette,
        }
    }

    #[test]
    fn first_frame_clears_and_draws_every_row_with_colours() {
        let cells = [b'H', 0x07, b'i', 0x07, 0xC9, 0x07, b' ', 0x07];
        let out =
            String::from_utf8(TerminalScreen::new().render(&frame(&cells, Some((1, 0))))).unwrap();
        assert!(out.starts_with("\x1b[2J"));
        assert!(out.contains("\x1b[1;1H\x1b[38;2;170;170;170;48;2;0;0;0mHi"));
        assert!(out.contains("╔ "), "CP437 0xC9 is a box-drawing corner");
        assert!(out.ends_with("\x1b[1;2H\x1b[?25h"));
    }

    #[test]
    fn unchanged_rows_are_not_redrawn() {
        let mut s = TerminalScreen::new();
        let mut cells = [b'a', 7, b'b', 7, b'c', 7, b'd', 7];
        s.render(&frame(&cells, None));
        assert!(
            s.render(&frame(&cells, None)).is_empty(),
            "nothing changed, nothing drawn"
        );
        cells[4] = b'x';
        let out = String::from_utf8(s.render(&frame(&cells, None))).unwrap();
        assert!(
            out.contains("\x1b[2;1H") && !out.contains("\x1b[1;1H"),
            "only row 2: {out:?}"
        );
    }
}
