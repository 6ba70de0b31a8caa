//! Byte-level helpers the loaders share: little-endian fields read from untrusted files
//! (every read is bounds-checked and returns `None` past the end), fields written into
//! buffers the loaders size themselves, the `layout!` tables that spell out each boot
//! structure with its offsets (STYLE.md 14: by hand, with layout tests instead of
//! `#[repr(C)]`), and the e820 memory map.

/// Declares a boot structure as a module of offset constants, in the order and with the
/// offsets of the specification, plus a `FIELDS` table (name, offset, length) that the
/// layout tests walk to prove the fields tile the structure without gaps or overlaps.
macro_rules! layout {
    (
        $(#[$doc:meta])*
        $name:ident, size $size:literal {
            $( $(#[$fdoc:meta])* $field:ident: $off:literal, $len:literal; )*
        }
    ) => {
        $(#[$doc])*
        #[allow(dead_code)]
        pub(crate) mod $name {
            /// Size of the structure in bytes (or its end, for a header inside a page).
            pub const SIZE: usize = $size;
            $( $(#[$fdoc])* pub const $field: usize = $off; )*
            /// Every field as (name, offset, length), in order, for the layout tests.
            pub const FIELDS: &[(&str, usize, usize)] = &[$((stringify!($field), $off, $len)),*];
        }
    };
}
pub(crate) use layout;

/// The little-endian `u8` at `off`, if the slice holds it.
pub(crate) fn le8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// The little-endian `u16` at `off`, if the slice holds it.
pub(crate) fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The little-endian `u32` at `off`, if the slice holds it.
pub(crate) fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The little-endian `u64` at `off`, if the slice holds it.
pub(crate) fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Writes a `u16` at `off` of a buffer the loader sized itself.
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a `u32` at `off` of a buffer the loader sized itself.
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a `u64` at `off` of a buffer the loader sized itself.
pub(crate) fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// `v` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Types of e820 entries (ACPI 6.4 Table 15.312, "Address Range Types").
pub mod e820 {
    /// Usable RAM.
    pub const RAM: u32 = 1;
    /// Reserved: in use or not to be used by the OS.
    pub const RESERVED: u32 = 2;
    /// ACPI tables, reclaimable after they are read.
    pub const ACPI: u32 = 3;
    /// ACPI non-volatile storage.
    pub const NVS: u32 = 4;
    /// Memory with errors.
    pub const UNUSABLE: u32 = 5;
    /// Size of one entry in its packed form (u64 address, u64 length, u32 type).
    pub const ENTRY_SIZE: usize = 20;
}

/// One entry of the PC memory map (INT 15h E820h), as the boot protocols pass it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    /// First physical address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Type ([`e820`]).
    pub kind: u32,
}

impl E820Entry {
    /// An entry of `size` bytes of type `kind` at `addr`.
    pub const fn new(addr: u64, size: u64, kind: u32) -> E820Entry {
        E820Entry { addr, size, kind }
    }

    /// One past the last address (saturating).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }

    /// The packed 20-byte form (u64 address, u64 length, u32 type, little-endian) used by
    /// Linux's `boot_params.e820_table` and QEMU's fw_cfg file `etc/e820`.
    pub fn to_bytes(&self) -> [u8; e820::ENTRY_SIZE] {
        let mut b = [0; e820::ENTRY_SIZE];
        put64(&mut b, 0, self.addr);
        put64(&mut b, 8, self.size);
        put32(&mut b, 16, self.kind);
        b
    }

    /// A whole map in the packed form (the contents of fw_cfg's `etc/e820`).
    pub fn table_bytes(map: &[E820Entry]) -> Vec<u8> {
        map.iter().flat_map(|e| e.to_bytes()).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks that `fields` tile `[start, end)` exactly: each field begins where the one
    /// before it ended, and the last ends at `end`.
    pub(crate) fn assert_tiles(fields: &[(&str, usize, usize)], start: usize, end: usize) {
        let mut at = start;
        for &(name, off, len) in fields {
            assert_eq!(off, at, "field {name} starts at {off:#x}, expected {at:#x}");
            at = off + len;
        }
        assert_eq!(at, end, "fields end at {at:#x}, expected {end:#x}");
    }

    #[test]
    fn little_endian_reads_stop_at_the_end() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(le16(&b, 6), Some(0x0807));
        assert_eq!(le16(&b, 7), None);
        assert_eq!(le32(&b, 4), Some(0x0807_0605));
        assert_eq!(le64(&b, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(le64(&b, 1), None);
        assert_eq!(
            le32(&b, usize::MAX),
            None,
            "offset overflow is just out of range"
        );
        assert_eq!(le8(&b, 8), None);
    }

    #[test]
    fn e820_entries_pack_into_twenty_bytes() {
        let e = E820Entry::new(0x10_0000, 0x7F0_0000, e820::RAM);
        let b = e.to_bytes();
        assert_eq!(le64(&b, 0), Some(0x10_0000));
        assert_eq!(le64(&b, 8), Some(0x7F0_0000));
        assert_eq!(le32(&b, 16), Some(1));
        assert_eq!(E820Entry::table_bytes(&[e, e]).len(), 40);
        assert_eq!(E820Entry::new(u64::MAX, 2, 2).end(), u64::MAX);
    }

    #[test]
    fn align_up_rounds_and_reports_overflow() {
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(0x1000, 0x1000), Some(0x1000));
        assert_eq!(align_up(u64::MAX, 8), None);
    }
}
