//! The terminal side of a machine: serial and debug-console output to stdout or files, host
//! stdin fed to COM1 from a reader thread, and Ctrl-C turned into a clean stop.

use std::fs::File;
use std::io::{Read, Write};
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
    input: Option<Receiver<Vec<u8>>>,
    stop: Arc<AtomicBool>,
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
        let input = (*serial == Sink::Stdio).then(spawn_stdin_reader);
        Ok(Console {
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

/// Reads stdin on its own thread, in chunks, into a channel the machine drains between
/// run slices.
fn spawn_stdin_reader() -> Receiver<Vec<u8>> {
    let (tx, rx) = crossbeam::channel::unbounded();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

impl Host for Console {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        if port == 0 {
            self.serial.write(bytes);
        }
    }

    fn debugcon_out(&mut self, bytes: &[u8]) {
        self.debugcon.write(bytes);
    }

    fn post_code(&mut self, code: u8) {
        eprintln!("vx86: POST {code:#04x}");
    }

    fn serial_in(&mut self, port: usize) -> Vec<u8> {
        let Some(rx) = self.input.as_ref().filter(|_| port == 0) else {
            return Vec::new();
        };
        let mut all = Vec::new();
        while let Ok(b) = rx.try_recv() {
            all.extend_from_slice(&b);
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
