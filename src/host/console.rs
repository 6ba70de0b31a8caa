//! The terminal side of a machine: serial and debug-console output to stdout or files, host
//! stdin fed to COM1 from a reader thread, and Ctrl-C turned into a clean stop.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::Receiver;

use crate::machine::Host;
use crate::Error;

/// Where a character device goes: `stdio`, `none`, or `file:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// The terminal.
    Stdio,
    /// Nowhere.
    None,
    /// A file (created or truncated).
    File(PathBuf),
}

impl std::str::FromStr for Sink {
    type Err = String;
    fn from_str(s: &str) -> Result<Sink, String> {
        match s {
            "stdio" => Ok(Sink::Stdio),
            "none" | "null" => Ok(Sink::None),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(Sink::File(PathBuf::from(p))),
                _ => Err(format!("'{s}' is not stdio, none or file:PATH")),
            },
        }
    }
}

enum Out {
    Stdout,
    None,
    File(File),
}

impl Out {
    fn open(sink: &Sink, what: &str) -> Result<Out, Error> {
        Ok(match sink {
            Sink::Stdio => Out::Stdout,
            Sink::None => Out::None,
            Sink::File(p) => Out::File(
                File::create(p)
                    .map_err(|e| Error::file(p, format!("cannot create the {what} file: {e}")))?,
            ),
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        // A closed stdout or a full disk must not kill the machine: output is best effort.
        let _ = match self {
            Out::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(bytes).and_then(|_| o.flush())
            }
            Out::None => Ok(()),
            Out::File(f) => f.write_all(bytes),
        };
    }
}

/// A [`Host`] on the process's terminal and files.
pub struct Console {
    serial: Out,
    debugcon: Out,
    input: Option<Receiver<Input>>,
    stop: Arc<AtomicBool>,
    raw: Option<RawTerminal>,
    last_serial: u8,
    last_debugcon: u8,
    deadline: Option<std::time::Instant>,
    timed_out: bool,
    screen: Option<(crate::host::display::TerminalScreen, std::time::Instant)>,
}

impl Console {
    /// A console with COM1 on `serial` and the 0xE9 console on `debugcon`. Host stdin feeds
    /// COM1 when `serial` is the terminal.
    pub fn new(serial: &Sink, debugcon: &Sink) -> Result<Console, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // A second Ctrl-C (or a handler already installed by an embedding program) is fine.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        // With COM1 on an interactive terminal, the terminal goes raw: the guest sees every
        // key, and Ctrl-A x quits (as in QEMU). Piped input is passed through unchanged.
        let interactive = *serial == Sink::Stdio && std::io::stdin().is_terminal();
        let raw = if interactive {
            RawTerminal::enable()
        } else {
            None
        };
        let input = (*serial == Sink::Stdio).then(|| spawn_stdin_reader(raw.is_some()));
        Ok(Console {
            raw,
            last_serial: 0,
            last_debugcon: 0,
            serial: Out::open(serial, "serial")?,
            debugcon: Out::open(debugcon, "debug console")?,
            input,
            stop,
            deadline: None,
            timed_out: false,
            screen: None,
        })
    }

    /// Draws the guest's VGA text screen on the terminal (which then belongs to it: serial
    /// and debug-console output must go elsewhere).
    pub fn show_screen(&mut self) {
        self.screen = Some((
            crate::host::display::TerminalScreen::new(),
            std::time::Instant::now(),
        ));
    }

    /// What to print for guest output: on a raw terminal a bare LF also returns the carriage,
    /// as the terminal's own output processing would (QEMU keeps OPOST for the same reason);
    /// guests that send CR LF are unaffected.
    fn cook(&mut self, bytes: &[u8], serial: bool) -> Vec<u8> {
        let last = if serial {
            &mut self.last_serial
        } else {
            &mut self.last_debugcon
        };
        if self.raw.is_none() {
            return bytes.to_vec();
        }
        let mut out = Vec::with_capacity(bytes.len() + 8);
        for &b in bytes {
            if b == b'\n' && *last != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            *last = b;
        }
        out
    }

    /// Asks the machine to stop after `secs` seconds of host time.
    pub fn stop_after(&mut self, secs: f64) {
        self.deadline =
            Some(std::time::Instant::now() + std::time::Duration::from_secs_f64(secs.max(0.0)));
    }

    /// Whether the stop came from the timeout.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

/// What the stdin thread sends the machine.
enum Input {
    /// Bytes for COM1.
    Data(Vec<u8>),
    /// The user typed the quit sequence (Ctrl-A x).
    Quit,
}

/// The escape character of the terminal console, as in QEMU: Ctrl-A.
const ESCAPE: u8 = 0x01;

/// Splits raw terminal input into guest bytes and console commands: Ctrl-A x quits,
/// Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h prints help; anything else after Ctrl-A is dropped.
#[derive(Default)]
struct EscapeParser {
    pending: bool,
}

impl EscapeParser {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in bytes {
            if self.pending {
                self.pending = false;
                match b {
                    b'x' | b'X' => return true,
                    ESCAPE => out.push(ESCAPE),
                    b'h' | b'H' | b'?' => {
                        eprint!("\r\nvx86: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A\r\n");
                    }
                    _ => {}
                }
            } else if b == ESCAPE {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        false
    }
}

/// Reads stdin on its own thread, in chunks, into a channel the machine drains between
/// run slices. On a terminal in raw mode, Ctrl-A x is the way out (Ctrl-C goes to the guest).
fn spawn_stdin_reader(escapes: bool) -> Receiver<Input> {
    let (tx, rx) = crossbeam::channel::unbounded();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        let mut parser = EscapeParser::default();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut data = Vec::with_capacity(n);
                    let quit = if escapes {
                        parser.feed(&buf[..n], &mut data)
                    } else {
                        data.extend_from_slice(&buf[..n]);
                        false
                    };
                    if (!data.is_empty() && tx.send(Input::Data(data)).is_err()) || quit {
                        let _ = tx.send(Input::Quit);
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Puts the terminal in raw mode while it lives (so keys, Ctrl-C included, reach the guest
/// as typed), and restores it when dropped.
struct RawTerminal;

impl RawTerminal {
    fn enable() -> Option<RawTerminal> {
        crossterm::terminal::enable_raw_mode()
            .ok()
            .map(|_| RawTerminal)
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

impl Host for Console {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        if port == 0 {
            let out = self.cook(bytes, true);
            self.serial.write(&out);
        }
    }

    fn debugcon_out(&mut self, bytes: &[u8]) {
        let out = self.cook(bytes, false);
        self.debugcon.write(&out);
    }

    fn post_code(&mut self, code: u8) {
        eprintln!("vx86: POST {code:#04x}");
    }

    fn serial_in(&mut self, port: usize) -> Vec<u8> {
        let Some(rx) = self.input.as_ref().filter(|_| port == 0) else {
            return Vec::new();
        };
        let mut all = Vec::new();
        while let Ok(i) = rx.try_recv() {
            match i {
                Input::Data(b) => all.extend_from_slice(&b),
                Input::Quit => self.stop.store(true, Ordering::SeqCst),
            }
        }
        all
    }

    fn display_due(&mut self) -> bool {
        // About 30 frames per second of host time.
        match &mut self.screen {
            Some((_, last)) if last.elapsed() >= std::time::Duration::from_millis(33) => {
                *last = std::time::Instant::now();
                true
            }
            _ => false,
        }
    }

    fn display(&mut self, frame: &crate::dev::vga::TextFrame) {
        if let Some((screen, _)) = &mut self.screen {
            let out = screen.render(frame);
            if !out.is_empty() {
                Out::Stdout.write(&out);
            }
        }
    }

    fn interactive(&self) -> bool {
        self.raw.is_some()
    }

    fn stop_requested(&mut self) -> bool {
        if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            self.timed_out = true;
            return true;
        }
        self.stop.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_a_x_quits_and_ctrl_a_twice_sends_one() {
        let mut p = EscapeParser::default();
        let mut out = Vec::new();
        assert!(!p.feed(b"ls\x03\x01\x01", &mut out));
        assert_eq!(
            out, b"ls\x03\x01",
            "Ctrl-C passes through; Ctrl-A Ctrl-A is one Ctrl-A"
        );
        out.clear();
        assert!(
            !p.feed(b"a\x01", &mut out),
            "an escape split across reads waits"
        );
        assert!(p.feed(b"x", &mut out));
        assert_eq!(out, b"a");
    }

    #[test]
    fn sinks_parse_like_qemu_chardevs() {
        assert_eq!("stdio".parse::<Sink>(), Ok(Sink::Stdio));
        assert_eq!("none".parse::<Sink>(), Ok(Sink::None));
        assert_eq!(
            "file:/tmp/x".parse::<Sink>(),
            Ok(Sink::File("/tmp/x".into()))
        );
        assert!("file:".parse::<Sink>().is_err());
        assert!("tcp:1234".parse::<Sink>().is_err());
    }
}
