//! A tiny AML byte-code encoder: just what the board's DSDT needs (names, scopes, devices,
//! packages, integers, strings, buffers and resource templates).
//!
//! References: ACPI 6.4 §20.2 (AML grammar: §20.2.2 name strings and segments, §20.2.3
//! data objects, §20.2.4 package length encoding, §20.2.5 term objects), §6.4 (resource
//! data types: small and large descriptors), §6.1.5 (`_HID` EISA ID compression).
//!
//! Each function returns the bytes of one term; callers concatenate them. Name paths are
//! written as in ASL (`"\\_SB.PCI0"`, `"_CRS"`); segments shorter than four characters are
//! padded with `_`.

/// NameOp.
const NAME_OP: u8 = 0x08;
/// BytePrefix, WordPrefix, DWordPrefix, StringPrefix, QWordPrefix.
const BYTE_PREFIX: u8 = 0x0A;
const WORD_PREFIX: u8 = 0x0B;
const DWORD_PREFIX: u8 = 0x0C;
const STRING_PREFIX: u8 = 0x0D;
const QWORD_PREFIX: u8 = 0x0E;
/// ScopeOp.
const SCOPE_OP: u8 = 0x10;
/// BufferOp.
const BUFFER_OP: u8 = 0x11;
/// PackageOp.
const PACKAGE_OP: u8 = 0x12;
/// ExtOpPrefix, then DeviceOp.
const EXT_OP_PREFIX: u8 = 0x5B;
const DEVICE_OP: u8 = 0x82;
/// ZeroOp, OneOp.
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
/// RootChar, DualNamePrefix, MultiNamePrefix.
const ROOT_CHAR: u8 = b'\\';
const DUAL_NAME_PREFIX: u8 = 0x2E;
const MULTI_NAME_PREFIX: u8 = 0x2F;

/// A NameSeg: up to four characters, padded with `_`.
pub fn name_seg(s: &str) -> [u8; 4] {
    let mut seg = [b'_'; 4];
    for (d, c) in seg.iter_mut().zip(s.bytes()) {
        *d = c;
    }
    seg
}

/// A NameString: an optional root `\`, then one segment, a dual-name path or a multi-name
/// path of the `.`-separated segments.
pub fn name_string(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let rel = match path.strip_prefix('\\') {
        Some(r) => {
            out.push(ROOT_CHAR);
            r
        }
        None => path,
    };
    let segs: Vec<&str> = rel.split('.').filter(|s| !s.is_empty()).collect();
    match segs.len() {
        // The root itself: a null name after `\`.
        0 => out.push(0),
        1 => {}
        2 => out.push(DUAL_NAME_PREFIX),
        n => {
            out.push(MULTI_NAME_PREFIX);
            out.push(n as u8);
        }
    }
    for s in segs {
        out.extend_from_slice(&name_seg(s));
    }
    out
}

/// The PkgLength of a term whose contents (after the PkgLength) are `len` bytes: the
/// encoded length counts its own bytes; one byte up to 63, else 2–4 bytes with the count
/// of follow bytes in bits 7:6 of the first and its low nibble first.
pub fn pkg_length(len: usize) -> Vec<u8> {
    if len + 1 < 1 << 6 {
        return vec![(len + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = len + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            let mut out = vec![(extra as u8) << 6 | (total & 0xF) as u8];
            for i in 0..extra {
                out.push((total >> (4 + 8 * i)) as u8);
            }
            return out;
        }
    }
    // Beyond 256 MiB: not a size any table here comes near.
    vec![0xFF, 0xFF, 0xFF, 0xFF]
}

/// An opcode, PkgLength and contents.
fn with_pkg(op: &[u8], contents: &[u8]) -> Vec<u8> {
    let mut out = op.to_vec();
    out.extend(pkg_length(contents.len()));
    out.extend_from_slice(contents);
    out
}

/// An integer in its shortest encoding (Zero, One, or a Byte/Word/DWord/QWord constant).
pub fn integer(v: u64) -> Vec<u8> {
    match v {
        0 => vec![ZERO_OP],
        1 => vec![ONE_OP],
        2..=0xFF => vec![BYTE_PREFIX, v as u8],
        0x100..=0xFFFF => [&[WORD_PREFIX][..], &(v as u16).to_le_bytes()].concat(),
        0x1_0000..=0xFFFF_FFFF => [&[DWORD_PREFIX][..], &(v as u32).to_le_bytes()].concat(),
        _ => [&[QWORD_PREFIX][..], &v.to_le_bytes()].concat(),
    }
}

/// A string constant (ASCII, NUL-terminated).
pub fn string(s: &str) -> Vec<u8> {
    let mut out = vec![STRING_PREFIX];
    out.extend(s.bytes().filter(|&b| b != 0 && b < 0x80));
    out.push(0);
    out
}

/// The 32-bit compressed EISA ID of a PNP ID such as `"PNP0A03"` (three letters, four hex
/// digits), as ASL's `EisaId()` makes it.
pub fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    let letter = |i: usize| (b.get(i).copied().unwrap_or(b'@') & 0x1F) as u16;
    let hex = |i: usize| {
        b.get(i)
            .and_then(|&c| (c as char).to_digit(16))
            .unwrap_or(0) as u8
    };
    let w = letter(0) << 10 | letter(1) << 5 | letter(2);
    u32::from_le_bytes([
        (w >> 8) as u8,
        w as u8,
        hex(3) << 4 | hex(4),
        hex(5) << 4 | hex(6),
    ])
}

/// `Name (path, value)`; `value` is an encoded data object.
pub fn name(path: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![NAME_OP];
    out.extend(name_string(path));
    out.extend_from_slice(value);
    out
}

/// `Scope (path) { body }`.
pub fn scope(path: &str, body: &[u8]) -> Vec<u8> {
    with_pkg(&[SCOPE_OP], &[name_string(path), body.to_vec()].concat())
}

/// `Device (path) { body }`.
pub fn device(path: &str, body: &[u8]) -> Vec<u8> {
    with_pkg(
        &[EXT_OP_PREFIX, DEVICE_OP],
        &[name_string(path), body.to_vec()].concat(),
    )
}

/// `Package () { elements }`; each element an encoded data object.
pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut contents = vec![elements.len().min(255) as u8];
    for e in elements {
        contents.extend_from_slice(e);
    }
    with_pkg(&[PACKAGE_OP], &contents)
}

/// `Buffer () { bytes }`.
pub fn buffer(bytes: &[u8]) -> Vec<u8> {
    with_pkg(
        &[BUFFER_OP],
        &[integer(bytes.len() as u64), bytes.to_vec()].concat(),
    )
}

/// Resource descriptors (ACPI 6.4 §6.4), for `_CRS` buffers.
pub mod res {
    /// `ResourceTemplate () { descriptors }`: a buffer of the descriptors and an end tag
    /// whose checksum byte 0 means "the checksum is not used".
    pub fn template(descriptors: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = descriptors.concat();
        bytes.extend_from_slice(&[0x79, 0x00]);
        super::buffer(&bytes)
    }

    /// `IO (Decode16, min, max, align, len)`: the small I/O port descriptor.
    pub fn io(min: u16, max: u16, align: u8, len: u8) -> Vec<u8> {
        let (a, b) = (min.to_le_bytes(), max.to_le_bytes());
        vec![0x47, 0x01, a[0], a[1], b[0], b[1], align, len]
    }

    /// `IRQNoFlags () { irq }`: the two-byte small IRQ descriptor (edge, active high,
    /// exclusive).
    pub fn irq_no_flags(irq: u8) -> Vec<u8> {
        let m = (1u16 << (irq & 15)).to_le_bytes();
        vec![0x22, m[0], m[1]]
    }

    /// Word address space descriptor: `kind` 1 = I/O (entire range), 2 = bus numbers;
    /// produced by the bridge, min and max fixed, positive decode.
    fn word_space(kind: u8, min: u16, max: u16) -> Vec<u8> {
        let len = (max as u32 + 1 - min as u32) as u16;
        // Type-specific flags: for I/O, _RNG = 3 (ISA and non-ISA ranges).
        let specific = if kind == 1 { 0x03 } else { 0x00 };
        let mut d = vec![0x88, 0x0D, 0x00, kind, 0x0C, specific];
        for v in [0u16, min, max, 0, len] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d
    }

    /// `WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, n)`.
    pub fn word_bus_number(min: u16, max: u16) -> Vec<u8> {
        word_space(2, min, max)
    }

    /// `WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max,
    /// 0, n)`.
    pub fn word_io(min: u16, max: u16) -> Vec<u8> {
        word_space(1, min, max)
    }

    /// `DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable or
    /// NonCacheable, ReadWrite, 0, min, max, 0, n)`.
    pub fn dword_memory(min: u32, max: u32, cacheable: bool) -> Vec<u8> {
        let len = max.wrapping_sub(min).wrapping_add(1);
        // Type-specific flags: bit 0 read-write, bits 2:1 _MEM (1 = cacheable).
        let specific = 0x01 | (cacheable as u8) << 1;
        let mut d = vec![0x87, 0x17, 0x00, 0x00, 0x0C, specific];
        for v in [0u32, min, max, 0, len] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d
    }

    /// `Memory32Fixed (ReadWrite or ReadOnly, base, len)`.
    pub fn memory32_fixed(writable: bool, base: u32, len: u32) -> Vec<u8> {
        let mut d = vec![0x86, 0x09, 0x00, writable as u8];
        d.extend_from_slice(&base.to_le_bytes());
        d.extend_from_slice(&len.to_le_bytes());
        d
    }
}

/// Decoding, for tests that read the tables back.
#[cfg(test)]
pub mod decode {
    /// A PkgLength at the start of `b`: (the length it encodes, bytes it took).
    pub fn pkg_length(b: &[u8]) -> (usize, usize) {
        let extra = (b[0] >> 6) as usize;
        if extra == 0 {
            return ((b[0] & 0x3F) as usize, 1);
        }
        let mut len = (b[0] & 0xF) as usize;
        for i in 0..extra {
            len |= (b[1 + i] as usize) << (4 + 8 * i);
        }
        (len, 1 + extra)
    }

    /// An integer data object at the start of `b`: (value, bytes it took).
    pub fn integer(b: &[u8]) -> (u64, usize) {
        let le = |n: usize| {
            let mut v = 0u64;
            for i in 0..n {
                v |= (b[1 + i] as u64) << (8 * i);
            }
            v
        };
        match b[0] {
            0x00 => (0, 1),
            0x01 => (1, 1),
            0xFF => (u64::MAX, 1),
            0x0A => (le(1), 2),
            0x0B => (le(2), 3),
            0x0C => (le(4), 5),
            0x0E => (le(8), 9),
            op => panic!("not an integer: opcode {op:#x}"),
        }
    }

    /// A package of integers at the start of `b`: its elements.
    pub fn integer_package(b: &[u8]) -> Vec<u64> {
        assert_eq!(b[0], 0x12, "PackageOp");
        let (len, n) = pkg_length(&b[1..]);
        let body = &b[1 + n..1 + len];
        let count = body[0] as usize;
        let mut at = 1;
        let mut out = Vec::new();
        for _ in 0..count {
            let (v, used) = integer(&body[at..]);
            out.push(v);
            at += used;
        }
        assert_eq!(at, body.len(), "the package holds exactly its elements");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_length_uses_one_to_four_bytes() {
        // §20.2.4: one byte holds up to 63; otherwise bits 7:6 count the follow bytes and
        // the length counts the PkgLength bytes themselves.
        assert_eq!(pkg_length(0), [0x01]);
        assert_eq!(pkg_length(62), [0x3F]);
        assert_eq!(pkg_length(63), [0x41, 0x04], "63 + 2 = 0x41");
        assert_eq!(pkg_length(0xFFD), [0x4F, 0xFF]);
        assert_eq!(pkg_length(0xFFE), [0x81, 0x00, 0x01], "0xFFE + 3 = 0x1001");
        for len in [0, 5, 62, 63, 100, 4093, 4094, 70_000, 1 << 20] {
            let enc = pkg_length(len);
            assert_eq!(decode::pkg_length(&enc), (len + enc.len(), enc.len()));
        }
    }

    #[test]
    fn names_are_padded_segments_with_prefixes() {
        assert_eq!(name_string("_S5"), b"_S5_");
        assert_eq!(name_string("\\_S5"), b"\\_S5_");
        assert_eq!(name_string("\\_SB.PCI0"), b"\\\x2E_SB_PCI0");
        assert_eq!(name_string("\\_SB.PCI0.ISA"), b"\\\x2F\x03_SB_PCI0ISA_");
        assert_eq!(name_string("\\"), b"\\\0");
    }

    #[test]
    fn integers_take_their_shortest_form() {
        assert_eq!(integer(0), [0x00]);
        assert_eq!(integer(1), [0x01]);
        assert_eq!(integer(9), [0x0A, 9]);
        assert_eq!(integer(0x1_0000), [0x0C, 0, 0, 1, 0]);
        assert_eq!(integer(0x1234), [0x0B, 0x34, 0x12]);
        assert_eq!(integer(1 << 32), [0x0E, 0, 0, 0, 0, 1, 0, 0, 0]);
        for v in [
            0,
            1,
            2,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            u64::MAX - 1,
        ] {
            assert_eq!(decode::integer(&integer(v)), (v, integer(v).len()));
        }
    }

    #[test]
    fn eisa_ids_compress_as_asl_does() {
        // EisaId("PNP0A03") is 0x030AD041, EisaId("PNP0501") 0x0105D041 (as iasl emits).
        assert_eq!(eisa_id("PNP0A03"), 0x030A_D041);
        assert_eq!(eisa_id("PNP0501"), 0x0105_D041);
        assert_eq!(eisa_id("PNP0303"), 0x0303_D041);
    }

    #[test]
    fn terms_wrap_their_contents() {
        // Name (_S5, Package () { Zero, Zero }) and a device around a name.
        let p = package(&[integer(0), integer(0)]);
        assert_eq!(p, [0x12, 0x04, 0x02, 0x00, 0x00]);
        assert_eq!(decode::integer_package(&p), [0, 0]);
        assert_eq!(
            name("_S5", &p),
            [0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0, 0]
        );
        let d = device("KBD", &name("_UID", &integer(0)));
        assert_eq!(&d[..3], [0x5B, 0x82, 0x0B]);
        assert_eq!(&d[3..7], b"KBD_");
        assert_eq!(d.len(), 3 + 0x0B - 1);
        assert_eq!(
            scope("\\_SB", &[])[..],
            [0x10, 0x06, b'\\', b'_', b'S', b'B', b'_']
        );
        assert_eq!(string("ACPI0007"), b"\x0DACPI0007\0");
        assert_eq!(buffer(&[1, 2, 3]), [0x11, 0x06, 0x0A, 0x03, 1, 2, 3]);
    }

    #[test]
    fn resource_descriptors_have_their_spec_lengths() {
        // §6.4.2.5: IO is 8 bytes; §6.4.2.1: IRQ without flags 3; §6.4.3.5.3: word
        // address space 16; §6.4.3.5.2: dword address space 26; §6.4.3.4: Memory32Fixed 12.
        assert_eq!(
            res::io(0x3F8, 0x3F8, 1, 8),
            [0x47, 1, 0xF8, 3, 0xF8, 3, 1, 8]
        );
        assert_eq!(res::irq_no_flags(4), [0x22, 0x10, 0x00]);
        assert_eq!(res::irq_no_flags(12), [0x22, 0x00, 0x10]);
        let w = res::word_io(0x0D00, 0xFFFF);
        assert_eq!(w.len(), 16);
        assert_eq!(&w[..6], [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03]);
        assert_eq!(&w[8..], [0x00, 0x0D, 0xFF, 0xFF, 0, 0, 0x00, 0xF3]);
        let b = res::word_bus_number(0, 0xFF);
        assert_eq!(&b[3..6], [0x02, 0x0C, 0x00]);
        assert_eq!(&b[14..], [0x00, 0x01], "256 buses");
        let m = res::dword_memory(0x0800_0000, 0xFEBF_FFFF, false);
        assert_eq!(m.len(), 26);
        assert_eq!(&m[..6], [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01]);
        assert_eq!(&m[22..], (0xFEC0_0000u32 - 0x0800_0000).to_le_bytes());
        assert_eq!(res::dword_memory(0xA_0000, 0xB_FFFF, true)[5], 0x03);
        assert_eq!(res::memory32_fixed(false, 0xFED0_0000, 0x400).len(), 12);
        let t = res::template(&[res::irq_no_flags(1)]);
        assert_eq!(t, [0x11, 0x08, 0x0A, 0x05, 0x22, 0x02, 0x00, 0x79, 0x00]);
    }
}
