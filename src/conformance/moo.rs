//! The MOO file format of the SingleStepTests vectors: gzip-compressed little-endian chunks
//! (a 4-byte id, a u32 length, the payload), one `TEST` chunk per recorded instruction.

use std::io::Read;
use std::path::Path;

use crate::Error;

/// The registers a `REGS` chunk can hold, in the order of its bitmask (bit 0 = AX).
pub const REG_NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

/// Indices into [`State::regs`], in the order of [`REG_NAMES`].
pub mod r {
    #![allow(missing_docs)]
    pub const AX: usize = 0;
    pub const BX: usize = 1;
    pub const CX: usize = 2;
    pub const DX: usize = 3;
    pub const CS: usize = 4;
    pub const SS: usize = 5;
    pub const DS: usize = 6;
    pub const ES: usize = 7;
    pub const SP: usize = 8;
    pub const BP: usize = 9;
    pub const SI: usize = 10;
    pub const DI: usize = 11;
    pub const IP: usize = 12;
    pub const FLAGS: usize = 13;
}

/// The processor state before (`INIT`) or after (`FINA`) a test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The registers present in the chunk (`FINA` holds only those that changed).
    pub regs: [Option<u16>; 14],
    /// RAM bytes as (physical address, value): to poke before, to check after.
    pub ram: Vec<(u32, u8)>,
}

/// An exception or interrupt the instruction raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// The vector.
    pub vector: u8,
    /// The physical address of the FLAGS word the delivery pushed.
    pub flags_addr: u32,
}

/// One recorded instruction.
#[derive(Clone, Debug, Default)]
pub struct Test {
    /// The test's index in its file.
    pub index: u32,
    /// The disassembly, e.g. `add [bx+0Eh],bl`.
    pub name: String,
    /// The instruction bytes (prefixes included; the 80286 set appends the HLT).
    pub bytes: Vec<u8>,
    /// The state to load.
    pub init: State,
    /// The state to expect.
    pub fina: State,
    /// The exception the instruction raised, if any.
    pub exception: Option<Exception>,
    /// The SHA-1 that identifies the test (80286 set).
    pub hash: Option<[u8; 20]>,
}

/// A whole MOO file.
#[derive(Clone, Debug)]
pub struct MooFile {
    /// The format version.
    pub version: u8,
    /// The CPU the tests were recorded on, e.g. `8086` or `C286`.
    pub cpu: [u8; 4],
    /// The tests, in file order.
    pub tests: Vec<Test>,
}

/// A little-endian reader over a chunk payload that reports truncation as an error.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Bytes not read yet.
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next chunk: its id and payload.
    fn chunk(&mut self) -> Result<([u8; 4], &'a [u8]), String> {
        let id = self.take(4)?;
        let len = self.u32()? as usize;
        let payload = self.take(len)?;
        Ok(([id[0], id[1], id[2], id[3]], payload))
    }

    /// A u32 length followed by that many bytes.
    fn counted(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

fn parse_state(payload: &[u8]) -> Result<State, String> {
    let mut st = State::default();
    let mut c = Cursor::new(payload);
    while !c.done() {
        let (id, p) = c.chunk()?;
        let mut c = Cursor::new(p);
        match &id {
            b"REGS" => {
                let mask = c.u16()?;
                for (i, slot) in st.regs.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *slot = Some(c.u16()?);
                    }
                }
            }
            b"RAM " => {
                let n = c.u32()?;
                // Five bytes an entry: a corrupt count cannot reserve more than the chunk holds.
                st.ram.reserve((n as usize).min(c.left() / 5));
                for _ in 0..n {
                    let addr = c.u32()?;
                    let v = c.u8()?;
                    st.ram.push((addr, v));
                }
            }
            _ => {} // QUEU and anything newer: the prefetch queue is not modelled.
        }
    }
    Ok(st)
}

fn parse_test(payload: &[u8]) -> Result<Test, String> {
    let mut c = Cursor::new(payload);
    let mut t = Test {
        index: c.u32()?,
        ..Test::default()
    };
    while !c.done() {
        let (id, p) = c.chunk()?;
        let mut pc = Cursor::new(p);
        match &id {
            b"NAME" => t.name = String::from_utf8_lossy(pc.counted()?).into_owned(),
            b"BYTS" => t.bytes = pc.counted()?.to_vec(),
            b"INIT" => t.init = parse_state(p)?,
            b"FINA" => t.fina = parse_state(p)?,
            b"EXCP" => {
                t.exception = Some(Exception {
                    vector: pc.u8()?,
                    flags_addr: pc.u32()?,
                })
            }
            b"HASH" => {
                let mut h = [0u8; 20];
                h.copy_from_slice(pc.take(20)?);
                t.hash = Some(h);
            }
            _ => {} // CYCL, GMET: bus cycles and generator metadata.
        }
    }
    Ok(t)
}

/// Parses the decompressed bytes of a MOO file.
pub fn parse(data: &[u8]) -> Result<MooFile, String> {
    let mut c = Cursor::new(data);
    let (id, header) = c.chunk()?;
    if &id != b"MOO " {
        return Err("not a MOO file (no `MOO ` header chunk)".into());
    }
    let mut h = Cursor::new(header);
    let version = h.u8()?;
    h.take(3)?;
    let count = h.u32()?;
    let cpu = h
        .take(4)
        .map(|b| [b[0], b[1], b[2], b[3]])
        .unwrap_or(*b"    ");
    // A chunk takes at least eight bytes: a corrupt count cannot reserve more than that.
    let mut tests = Vec::with_capacity((count as usize).min(c.left() / 8));
    while !c.done() {
        let (id, p) = c.chunk()?;
        if &id == b"TEST" {
            tests.push(parse_test(p).map_err(|e| format!("test {}: {e}", tests.len()))?);
        }
    }
    if tests.len() != count as usize {
        return Err(format!(
            "header promises {count} tests, file holds {}",
            tests.len()
        ));
    }
    Ok(MooFile {
        version,
        cpu,
        tests,
    })
}

/// Reads and parses a MOO file, gzip-compressed when its name ends in `.gz`.
pub fn load(path: &Path) -> Result<MooFile, Error> {
    let raw = std::fs::read(path).map_err(|e| Error::file(path, e.to_string()))?;
    let data = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::file(path, format!("gzip: {e}")))?;
        out
    } else {
        raw
    };
    parse(&data).map_err(|e| Error::file(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn counted(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    /// The README's example test (80286 `00.MOO.gz`, test 0), built by hand.
    fn example() -> Vec<u8> {
        let mut regs = 0x3FFFu16.to_le_bytes().to_vec();
        for v in [
            715u16, 26659, 49548, 64181, 65535, 41175, 65535, 43996, 39769, 65535, 35262, 34633,
            38072, 6291,
        ] {
            regs.extend_from_slice(&v.to_le_bytes());
        }
        let mut ram = 2u32.to_le_bytes().to_vec();
        for (a, v) in [(1086632u32, 0u8), (1075233, 222)] {
            ram.extend_from_slice(&a.to_le_bytes());
            ram.push(v);
        }
        let init = [
            chunk(b"REGS", &regs),
            chunk(b"RAM ", &ram),
            chunk(b"QUEU", &[0; 4]),
        ]
        .concat();
        let mut fregs = ((1u16 << 12) | (1 << 13)).to_le_bytes().to_vec();
        fregs.extend_from_slice(&38076u16.to_le_bytes());
        fregs.extend_from_slice(&19u16.to_le_bytes());
        let mut fram = 1u32.to_le_bytes().to_vec();
        fram.extend_from_slice(&1075233u32.to_le_bytes());
        fram.push(1);
        let fina = [chunk(b"REGS", &fregs), chunk(b"RAM ", &fram)].concat();
        let mut excp = vec![6u8];
        excp.extend_from_slice(&0x1234u32.to_le_bytes());
        let test = [
            0u32.to_le_bytes().to_vec(),
            chunk(b"GMET", &[0; 10]),
            chunk(b"NAME", &counted(b"add [bx+0Eh],bl")),
            chunk(b"BYTS", &counted(&[0, 95, 14, 244])),
            chunk(b"INIT", &init),
            chunk(b"FINA", &fina),
            chunk(b"CYCL", &[0; 8]),
            chunk(b"EXCP", &excp),
            chunk(b"HASH", &[0xAB; 20]),
        ]
        .concat();
        let mut header = vec![1, 0, 0, 0];
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(b"C286");
        [
            chunk(b"MOO ", &header),
            chunk(b"META", &[0; 31]),
            chunk(b"TEST", &test),
        ]
        .concat()
    }

    #[test]
    fn parses_the_readme_example() {
        let f = parse(&example()).unwrap();
        assert_eq!((f.version, &f.cpu), (1, b"C286"));
        let t = &f.tests[0];
        assert_eq!(t.name, "add [bx+0Eh],bl");
        assert_eq!(t.bytes, [0, 95, 14, 244]);
        assert_eq!(t.init.regs[r::AX], Some(715));
        assert_eq!(t.init.regs[r::FLAGS], Some(6291));
        assert_eq!(t.init.ram, [(1086632, 0), (1075233, 222)]);
        assert_eq!(
            t.fina.regs[r::AX],
            None,
            "FINA holds only the registers that changed"
        );
        assert_eq!(t.fina.regs[r::IP], Some(38076));
        assert_eq!(t.fina.regs[r::FLAGS], Some(19));
        assert_eq!(t.fina.ram, [(1075233, 1)]);
        assert_eq!(
            t.exception,
            Some(Exception {
                vector: 6,
                flags_addr: 0x1234
            })
        );
        assert_eq!(t.hash, Some([0xAB; 20]));
    }

    #[test]
    fn truncation_and_count_mismatch_are_errors() {
        let full = example();
        assert!(parse(&full[..full.len() - 3])
            .unwrap_err()
            .contains("truncated"));
        let mut wrong = full.clone();
        wrong[12] = 2; // header test count
        assert!(parse(&wrong).unwrap_err().contains("promises 2"));
        // A corrupt count (4 billion tests, 4 billion RAM entries) is an error, not an
        // allocation that aborts the process.
        let mut huge = full.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).unwrap_err().contains("promises 4294967295"));
        let at = full.windows(4).position(|w| w == b"RAM ").unwrap() + 8;
        let mut huge = full;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).unwrap_err().contains("truncated"));
        assert!(parse(b"NOPE\0\0\0\0").is_err());
    }
}
