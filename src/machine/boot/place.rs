//! Where each piece of a boot goes in guest RAM, and putting it there.
//!
//! The [`Placer`] knows the usable RAM (the e820 map's type-1 ranges minus anything another
//! entry reserves) and every range already claimed (kernel segments, modules, boot
//! information), so a loader can claim a fixed range with a precise error when it does not
//! fit, or ask for free space low or high in a window. [`Blob`] builds a boot-information
//! block whose internal pointers are fixed up once its address is known.

use super::layout::{align_up, e820, put32, E820Entry};
use crate::mem::PhysMem;

/// One claimed range of guest memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// What lives there ("kernel segment 0", "multiboot information", …).
    pub what: String,
}

/// Free-RAM bookkeeping for one boot.
#[derive(Clone, Debug)]
pub(crate) struct Placer {
    /// Usable RAM, sorted and disjoint, as `[start, end)`.
    ram: Vec<(u64, u64)>,
    /// The e820 entries that are not RAM, for error messages.
    reserved: Vec<E820Entry>,
    /// Claimed ranges, in claim order.
    claims: Vec<Claim>,
}

impl Placer {
    /// A placer for the RAM the map describes.
    pub(crate) fn new(map: &[E820Entry]) -> Placer {
        let mut ram: Vec<(u64, u64)> = map
            .iter()
            .filter(|e| e.kind == e820::RAM && e.size > 0)
            .map(|e| (e.addr, e.end()))
            .collect();
        let reserved: Vec<E820Entry> = map
            .iter()
            .filter(|e| e.kind != e820::RAM && e.size > 0)
            .copied()
            .collect();
        // A reserved entry wins over RAM that overlaps it (firmware maps can overlap).
        for r in &reserved {
            ram = ram
                .into_iter()
                .flat_map(|(s, e)| {
                    let left = (s, e.min(r.addr));
                    let right = (s.max(r.end()), e);
                    [left, right].into_iter().filter(|(a, b)| a < b)
                })
                .collect();
        }
        ram.sort_unstable();
        // Merge touching ranges so a claim may span adjacent RAM entries.
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in ram {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        Placer {
            ram: merged,
            reserved,
            claims: Vec::new(),
        }
    }

    /// Everything claimed so far.
    pub(crate) fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// The end of the RAM range holding `addr`, if `addr` is RAM.
    pub(crate) fn ram_end_at(&self, addr: u64) -> Option<u64> {
        self.ram
            .iter()
            .find(|&&(s, e)| s <= addr && addr < e)
            .map(|&(_, e)| e)
    }

    /// Claims `len` bytes at `start` for `what`: they must be usable RAM, not yet claimed.
    /// The error says which rule the range breaks, with the addresses.
    pub(crate) fn claim(&mut self, start: u64, len: u64, what: &str) -> Result<(), String> {
        if len == 0 {
            return Ok(());
        }
        let top = self.ram.last().map_or(0, |r| r.1);
        let Some(end) = start.checked_add(len) else {
            return Err(format!(
                "{what} at {start:#x} of {len:#x} bytes wraps around the address space"
            ));
        };
        let span = format!("{what} at {start:#x}..{end:#x}");
        if let Some(r) = self
            .reserved
            .iter()
            .find(|r| r.addr < end && start < r.end())
        {
            return Err(format!(
                "{span} overlaps reserved memory {:#x}..{:#x} (e820 type {})",
                r.addr,
                r.end(),
                r.kind
            ));
        }
        if end > top {
            return Err(format!("{span} lies beyond RAM (RAM ends at {top:#x})"));
        }
        if !self.ram.iter().any(|&(s, e)| s <= start && end <= e) {
            return Err(format!("{span} is not inside usable RAM"));
        }
        if let Some(c) = self.claims.iter().find(|c| c.start < end && start < c.end) {
            return Err(format!(
                "{span} overlaps the {} at {:#x}..{:#x}",
                c.what, c.start, c.end
            ));
        }
        self.claims.push(Claim {
            start,
            end,
            what: what.to_string(),
        });
        Ok(())
    }

    /// Free RAM as sorted `[start, end)` gaps between claims.
    fn free(&self) -> Vec<(u64, u64)> {
        let mut claims: Vec<(u64, u64)> = self.claims.iter().map(|c| (c.start, c.end)).collect();
        claims.sort_unstable();
        let mut free = Vec::new();
        for &(s, e) in &self.ram {
            let mut at = s;
            for &(cs, ce) in &claims {
                if ce <= at || cs >= e {
                    continue;
                }
                if cs > at {
                    free.push((at, cs));
                }
                at = at.max(ce);
            }
            if at < e {
                free.push((at, e));
            }
        }
        free
    }

    /// Finds `len` free bytes aligned to `align` (a power of two) inside `[lo, hi)`, the
    /// lowest such place or (with `high`) the highest, and claims them for `what`.
    pub(crate) fn alloc(
        &mut self,
        len: u64,
        align: u64,
        (lo, hi): (u64, u64),
        high: bool,
        what: &str,
    ) -> Option<u64> {
        let len = len.max(1);
        let fits = |&(s, e): &(u64, u64)| -> Option<u64> {
            let (s, e) = (s.max(lo), e.min(hi));
            if high {
                let a = e.checked_sub(len)? & !(align - 1);
                (a >= s).then_some(a)
            } else {
                let a = align_up(s, align)?;
                (a.checked_add(len)? <= e).then_some(a)
            }
        };
        let free = self.free();
        let at = if high {
            free.iter().rev().find_map(fits)
        } else {
            free.iter().find_map(fits)
        }?;
        self.claim(at, len, what).ok()?;
        Some(at)
    }
}

/// Copies `data` to guest physical `addr`.
pub(crate) fn write(mem: &mut PhysMem, addr: u64, data: &[u8], what: &str) -> Result<(), String> {
    mem.write_bytes(addr, data)
        .map_err(|a| format!("cannot write the {what} at {a:#x}: no RAM there"))
}

/// Zeroes `len` bytes of guest memory at `addr` (a segment's bss).
pub(crate) fn zero(mem: &mut PhysMem, addr: u64, len: u64, what: &str) -> Result<(), String> {
    const CHUNK: u64 = 64 * 1024;
    let zeros = [0u8; CHUNK as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        write(mem, addr + done, &zeros[..n as usize], what)?;
        done += n;
    }
    Ok(())
}

/// A boot-information block under construction: bytes, plus the offsets of the 32-bit
/// fields that hold pointers into the block itself, fixed up when its address is known.
#[derive(Debug, Default)]
pub(crate) struct Blob {
    /// The bytes; pointer fields hold block-relative offsets until [`Blob::placed_at`].
    pub(crate) data: Vec<u8>,
    fixups: Vec<usize>,
}

impl Blob {
    /// Appends `bytes` at the next multiple of `align`; returns their offset.
    pub(crate) fn push(&mut self, bytes: &[u8], align: usize) -> usize {
        let at = self.data.len().next_multiple_of(align);
        self.data.resize(at, 0);
        self.data.extend_from_slice(bytes);
        at
    }

    /// Appends a NUL-terminated copy of `s`; returns its offset.
    pub(crate) fn push_str(&mut self, s: &str, align: usize) -> usize {
        let at = self.push(s.as_bytes(), align);
        self.data.push(0);
        at
    }

    /// Makes the `u32` at `field` point at offset `target` of the block.
    pub(crate) fn point(&mut self, field: usize, target: usize) {
        put32(&mut self.data, field, target as u32);
        self.fixups.push(field);
    }

    /// The bytes as they must lie at guest address `base` (below 4 GiB).
    pub(crate) fn placed_at(mut self, base: u64) -> Vec<u8> {
        for &f in &self.fixups {
            let rel = u32::from_le_bytes(self.data[f..f + 4].try_into().expect("4 bytes"));
            put32(&mut self.data, f, rel.wrapping_add(base as u32));
        }
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc_map() -> Vec<E820Entry> {
        vec![
            E820Entry::new(0, 0x9FC00, e820::RAM),
            E820Entry::new(0x9FC00, 0x100000 - 0x9FC00, e820::RESERVED),
            E820Entry::new(0x100000, (64 << 20) - 0x100000, e820::RAM),
            E820Entry::new(0xFEC0_0000, 0x140_0000, e820::RESERVED),
        ]
    }

    #[test]
    fn claims_must_be_free_ram() {
        let mut p = Placer::new(&pc_map());
        p.claim(0x100000, 0x1000, "kernel").unwrap();
        assert_eq!(
            p.claim(0x100800, 0x10, "module").unwrap_err(),
            "module at 0x100800..0x100810 overlaps the kernel at 0x100000..0x101000"
        );
        assert_eq!(
            p.claim(0x9F000, 0x2000, "segment").unwrap_err(),
            "segment at 0x9f000..0xa1000 overlaps reserved memory 0x9fc00..0x100000 (e820 type 2)"
        );
        assert_eq!(
            p.claim(0x400_0000, 1, "segment").unwrap_err(),
            "segment at 0x4000000..0x4000001 lies beyond RAM (RAM ends at 0x4000000)"
        );
        assert!(p.claim(u64::MAX, 2, "x").unwrap_err().contains("wraps"));
        assert!(p.claim(5, 0, "empty").is_ok(), "empty claims are free");
    }

    #[test]
    fn alloc_finds_the_lowest_or_highest_free_place() {
        let mut p = Placer::new(&pc_map());
        p.claim(0x10000, 0x100, "first").unwrap();
        let a = p
            .alloc(0x100, 16, (0x10000, 0xA0000), false, "low")
            .unwrap();
        assert_eq!(a, 0x10100);
        let h = p
            .alloc(0x1800, 0x1000, (0, 0x200_0000), true, "high")
            .unwrap();
        assert_eq!(h, 0x200_0000 - 0x2000, "aligned down below the limit");
        assert_eq!(
            p.alloc(0x9F000, 1, (0x10000, 0xA0000), false, "huge"),
            None,
            "nothing that large is free in the window"
        );
        assert_eq!(p.ram_end_at(0x100000), Some(64 << 20));
        assert_eq!(p.ram_end_at(0xA0000), None);
    }

    #[test]
    fn reserved_entries_punch_overlapping_ram() {
        let map = [
            E820Entry::new(0, 0x200000, e820::RAM),
            E820Entry::new(0x100000, 0x1000, e820::ACPI),
        ];
        let mut p = Placer::new(&map);
        assert!(p.claim(0x100800, 1, "x").is_err());
        assert!(p.claim(0x101000, 0x1000, "y").is_ok());
    }

    #[test]
    fn blobs_fix_up_their_pointers() {
        let mut b = Blob::default();
        let head = b.push(&[0; 8], 4);
        let s = b.push_str("vx86", 4);
        b.point(head + 4, s);
        let bytes = b.placed_at(0x9000);
        assert_eq!(&bytes[4..8], &(0x9008u32).to_le_bytes());
        assert_eq!(&bytes[8..13], b"vx86\0");
    }
}
