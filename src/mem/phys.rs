//! Guest physical memory: RAM as one anonymous mapping, ROM images, MMIO holes, the address
//! mask (A20 gate, or the 20/24-bit buses of the 8086 and 80286), and the per-page "holds
//! decoded code" bits that self-modifying-code detection reads.

use std::ops::Range;

use memmap2::MmapMut;

/// Size of a guest page, the granularity of code tracking and of the CPU's TLB.
pub const PAGE_SIZE: u64 = 4096;

/// What backs one physical page, as the CPU's TLB needs to know when it fills an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Plain RAM at this host address (reads and writes may go straight to it).
    Ram(*mut u8),
    /// Read-only memory at this host address (writes are ignored, as on a PC's BIOS ROM).
    Rom(*const u8),
    /// Nothing here: the access goes to the bus (MMIO, or open bus reading all ones).
    Mmio,
}

/// The kind of a physical region, as the board declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM backed by the anonymous mapping at this byte offset.
    Ram {
        /// Byte offset of the region's start in the RAM mapping.
        offset: u64,
    },
    /// A ROM image (its bytes are owned here; guest writes are dropped).
    Rom {
        /// The image, exactly as long as the region.
        data: Box<[u8]>,
    },
    /// A hole served by devices on the bus.
    Mmio,
}

#[derive(Clone, Debug)]
struct Region {
    range: Range<u64>,
    kind: RegionKind,
}

/// Guest physical memory.
///
/// RAM is one anonymous mapping, so untouched guest pages cost the host nothing. Regions are
/// consulted only on slow paths (a TLB fill, a device's DMA): the CPU's hot path goes through
/// host pointers that its TLB caches.
pub struct PhysMem {
    ram: MmapMut,
    regions: Vec<Region>,
    /// The regions flattened into sorted, non-overlapping spans (start, end, region index),
    /// rebuilt by `map`, so lookups are a binary search.
    spans: Vec<(u64, u64, usize)>,
    addr_mask: u64,
    code_pages: Vec<u64>,
    dirty_code: Vec<u64>,
    id: u64,
}

impl PhysMem {
    /// Creates memory with `ram_size` bytes of RAM mapped at physical address 0.
    ///
    /// Fails only if the host refuses the mapping.
    pub fn new(ram_size: u64) -> std::io::Result<Self> {
        let len = ram_size.max(PAGE_SIZE) as usize;
        let ram = MmapMut::map_anon(len)?;
        let mut mem = PhysMem {
            ram,
            regions: Vec::new(),
            spans: Vec::new(),
            addr_mask: u64::MAX,
            code_pages: vec![0; (len as u64).div_ceil(PAGE_SIZE * 64) as usize],
            dirty_code: Vec::new(),
            id: next_id(),
        };
        mem.regions.push(Region {
            range: 0..ram_size,
            kind: RegionKind::Ram { offset: 0 },
        });
        mem.flatten();
        Ok(mem)
    }

    /// A number that differs between every `PhysMem` ever made, so that a CPU can tell when it
    /// is handed memory other than the one its TLB's host pointers point into.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes of RAM in the anonymous mapping.
    pub fn ram_size(&self) -> u64 {
        self.ram.len() as u64
    }

    /// Maps `range` to `kind`, on top of whatever was there (later regions win).
    ///
    /// RAM regions must lie inside the mapping; this is a board-construction error, not a
    /// guest one, so it is reported as `Err` with a message.
    pub fn map(&mut self, range: Range<u64>, kind: RegionKind) -> Result<(), String> {
        if range.start >= range.end {
            return Err(format!(
                "empty physical region {:#x}..{:#x}",
                range.start, range.end
            ));
        }
        match &kind {
            RegionKind::Ram { offset } => {
                if offset + (range.end - range.start) > self.ram.len() as u64 {
                    return Err(format!(
                        "RAM region {:#x}..{:#x} lies outside the RAM mapping",
                        range.start, range.end
                    ));
                }
            }
            RegionKind::Rom { data } => {
                if data.len() as u64 != range.end - range.start {
                    return Err(format!(
                        "ROM image of {} bytes does not fill {:#x}..{:#x}",
                        data.len(),
                        range.start,
                        range.end
                    ));
                }
            }
            RegionKind::Mmio => {}
        }
        self.regions.push(Region { range, kind });
        self.flatten();
        Ok(())
    }

    /// Rebuilds `spans` from `regions`, later regions on top.
    fn flatten(&mut self) {
        let mut cuts: Vec<u64> = self
            .regions
            .iter()
            .flat_map(|r| [r.range.start, r.range.end])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut spans: Vec<(u64, u64, usize)> = Vec::new();
        for w in cuts.windows(2) {
            let (start, end) = (w[0], w[1]);
            if let Some(i) = self
                .regions
                .iter()
                .rposition(|r| r.range.start <= start && end <= r.range.end)
            {
                match spans.last_mut() {
                    Some(last) if last.1 == start && last.2 == i => last.1 = end,
                    _ => spans.push((start, end, i)),
                }
            }
        }
        self.spans = spans;
    }

    /// The span holding `addr`: (start, end, region).
    #[inline]
    fn span(&self, addr: u64) -> Option<(u64, u64, &Region)> {
        let i = self.spans.partition_point(|s| s.1 <= addr);
        let &(start, end, r) = self.spans.get(i)?;
        (start <= addr).then(|| (start, end, &self.regions[r]))
    }

    /// The `len` bytes of RAM at `addr` (already masked), if they all lie in one RAM span.
    pub fn ram_slice(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let (_, end, region) = self.span(addr)?;
        match region.kind {
            RegionKind::Ram { offset } if addr + len <= end => {
                let off = (offset + (addr - region.range.start)) as usize;
                self.ram.get(off..off + len as usize)
            }
            _ => None,
        }
    }

    /// A host pointer to `len` bytes of RAM at `addr` (already masked), if they all lie in
    /// one RAM span. For slow paths that want whole words (page walks, DMA).
    #[inline]
    pub fn ram_ptr(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let (_, end, region) = self.span(addr)?;
        match region.kind {
            RegionKind::Ram { offset } if addr + len <= end => {
                let off = offset + (addr - region.range.start);
                // SAFETY: the span lies inside its RAM region, which `map` checked lies inside
                // the mapping, so `off + len <= ram.len()`.
                Some(unsafe { self.ram.as_ptr().add(off as usize) as *mut u8 })
            }
            _ => None,
        }
    }

    /// The mask applied to every physical address (A20 gate, bus width). All ones by default.
    pub fn addr_mask(&self) -> u64 {
        self.addr_mask
    }

    /// Sets the physical address mask; the CPU must flush its TLB afterwards.
    pub fn set_addr_mask(&mut self, mask: u64) {
        self.addr_mask = mask;
    }

    fn region(&self, addr: u64) -> Option<&Region> {
        self.span(addr).map(|(_, _, r)| r)
    }

    /// What backs the page holding physical address `addr` (already masked).
    ///
    /// A page is only reported as RAM or ROM when the whole page is, so that a host pointer
    /// into it is valid for every offset in the page.
    pub fn backing(&self, addr: u64) -> Backing {
        let page = addr & !(PAGE_SIZE - 1);
        let Some((_, end, region)) = self.span(page) else {
            return Backing::Mmio;
        };
        if end < page + PAGE_SIZE {
            // Another region (or a hole) starts inside this page.
            return Backing::Mmio;
        }
        match &region.kind {
            RegionKind::Ram { offset } => {
                let off = offset + (page - region.range.start);
                // SAFETY: `off + PAGE_SIZE <= ram.len()` was checked by `map`, so the pointer
                // stays inside the mapping, which lives as long as `self`.
                Backing::Ram(unsafe { self.ram.as_ptr().add(off as usize) as *mut u8 })
            }
            RegionKind::Rom { data } => {
                Backing::Rom(data[(page - region.range.start) as usize..].as_ptr())
            }
            RegionKind::Mmio => Backing::Mmio,
        }
    }

    /// Reads one byte; `None` if the address is MMIO (the caller asks the bus).
    pub fn read_u8(&self, addr: u64) -> Option<u8> {
        let addr = addr & self.addr_mask;
        let region = self.region(addr)?;
        match &region.kind {
            RegionKind::Ram { offset } => {
                Some(self.ram[(offset + addr - region.range.start) as usize])
            }
            RegionKind::Rom { data } => Some(data[(addr - region.range.start) as usize]),
            RegionKind::Mmio => None,
        }
    }

    /// Writes one byte; returns `false` if the address is MMIO (the caller asks the bus).
    /// Writes to ROM are dropped and count as handled.
    pub fn write_u8(&mut self, addr: u64, value: u8) -> bool {
        let addr = addr & self.addr_mask;
        let Some(region) = self.region(addr) else {
            return false;
        };
        match &region.kind {
            RegionKind::Ram { offset } => {
                let off = (offset + addr - region.range.start) as usize;
                self.note_write(addr);
                self.ram[off] = value;
                true
            }
            RegionKind::Rom { .. } => true,
            RegionKind::Mmio => false,
        }
    }

    /// Copies `data` into guest memory at `addr` (ROM is skipped, MMIO is an error), as
    /// loaders and DMA do. Pages holding decoded code are marked dirty for the CPU.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), u64> {
        // Page by page: inside a page the address mask (A20 and bus widths cut at bit 20 or
        // above) maps addresses linearly, so a page that lies in one RAM span is one copy.
        // Loading a 32-MiB initrd byte by byte took seconds in debug builds.
        let linear = self.addr_mask & (PAGE_SIZE - 1) == PAGE_SIZE - 1;
        let mut done = 0;
        while done < data.len() {
            let a = addr.wrapping_add(done as u64);
            let n = ((PAGE_SIZE - (a & (PAGE_SIZE - 1))) as usize).min(data.len() - done);
            let m = a & self.addr_mask;
            let ram_off = match self.span(m) {
                Some((_, end, r)) if linear && m + n as u64 <= end => match r.kind {
                    RegionKind::Ram { offset } => Some(offset + (m - r.range.start)),
                    _ => None,
                },
                _ => None,
            };
            match ram_off {
                Some(off) => {
                    self.note_write(m);
                    self.ram[off as usize..off as usize + n].copy_from_slice(&data[done..done + n]);
                }
                None => {
                    for (i, &b) in data[done..done + n].iter().enumerate() {
                        let a = a + i as u64;
                        if !self.write_u8(a, b) {
                            return Err(a);
                        }
                    }
                }
            }
            done += n;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `addr`; MMIO bytes read as 0xFF (open bus).
    pub fn read_bytes(&self, addr: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.read_u8(addr + i as u64).unwrap_or(0xFF);
        }
    }

    /// The whole RAM mapping as bytes (for snapshots and fast loaders).
    pub fn ram(&self) -> &[u8] {
        &self.ram
    }

    /// The whole RAM mapping, writable. Writers must call [`PhysMem::note_write`] for pages
    /// that may hold code, or use [`PhysMem::write_bytes`].
    pub fn ram_mut(&mut self) -> &mut [u8] {
        &mut self.ram
    }

    fn code_word(&self, addr: u64) -> Option<(usize, u64)> {
        let page = addr / PAGE_SIZE;
        let word = (page / 64) as usize;
        (word < self.code_pages.len()).then_some((word, 1 << (page % 64)))
    }

    /// Whether the page holding `addr` holds decoded code.
    #[inline]
    pub fn holds_code(&self, addr: u64) -> bool {
        self.code_word(addr)
            .is_some_and(|(w, bit)| self.code_pages[w] & bit != 0)
    }

    /// Marks the page holding `addr` as holding decoded code.
    pub fn set_holds_code(&mut self, addr: u64) {
        if let Some((w, bit)) = self.code_word(addr) {
            self.code_pages[w] |= bit;
        }
    }

    /// Clears the code mark of the page holding `addr`.
    pub fn clear_holds_code(&mut self, addr: u64) {
        if let Some((w, bit)) = self.code_word(addr) {
            self.code_pages[w] &= !bit;
        }
    }

    /// Records a write by someone other than the CPU's own store path: if the page holds
    /// code, it is queued for the CPU to invalidate at its next block boundary.
    pub fn note_write(&mut self, addr: u64) {
        if self.holds_code(addr) {
            self.clear_holds_code(addr);
            self.dirty_code.push(addr & !(PAGE_SIZE - 1));
        }
    }

    /// Takes the queue of code pages written behind the CPU's back.
    pub fn take_dirty_code(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.dirty_code)
    }

    /// Whether any code page has been written behind the CPU's back since the last take.
    #[inline]
    pub fn has_dirty_code(&self) -> bool {
        !self.dirty_code.is_empty()
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_reads_back_and_mmio_is_absent() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        assert!(m.write_u8(0x1234, 0xAB));
        assert_eq!(m.read_u8(0x1234), Some(0xAB));
        assert_eq!(m.read_u8(1 << 20), None, "beyond RAM is open bus");
        assert_eq!(m.backing(2 << 20), Backing::Mmio);
    }

    #[test]
    fn rom_ignores_writes_and_holes_punch_ram() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        m.map(
            0xF0000..0x100000,
            RegionKind::Rom {
                data: vec![0x90; 0x10000].into(),
            },
        )
        .unwrap();
        m.map(0xA0000..0xC0000, RegionKind::Mmio).unwrap();
        assert!(m.write_u8(0xF0000, 1));
        assert_eq!(m.read_u8(0xF0000), Some(0x90));
        assert_eq!(m.read_u8(0xA0000), None);
        assert!(matches!(m.backing(0xF0000), Backing::Rom(_)));
        assert_eq!(m.backing(0xB8000), Backing::Mmio);
    }

    #[test]
    fn address_mask_wraps_like_a20() {
        let mut m = PhysMem::new(2 << 20).unwrap();
        m.set_addr_mask(!(1 << 20));
        m.write_u8(0x100000, 7);
        assert_eq!(m.read_u8(0), Some(7));
    }

    #[test]
    fn bulk_writes_cross_ram_rom_and_mmio_like_byte_writes() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        m.map(
            0x3000..0x4000,
            RegionKind::Rom {
                data: vec![0x90; 0x1000].into(),
            },
        )
        .unwrap();
        m.map(0x5000..0x6000, RegionKind::Mmio).unwrap();
        m.set_holds_code(0x1000);
        let data: Vec<u8> = (0..0x3000u32).map(|i| i as u8).collect();
        // RAM 0x800..0x3000 takes the bytes, the ROM at 0x3000..0x3800 keeps its own.
        assert_eq!(m.write_bytes(0x800, &data), Ok(()));
        assert_eq!(m.read_u8(0x800), Some(0));
        assert_eq!(m.read_u8(0x2FFF), Some(0xFF));
        assert_eq!(m.read_u8(0x3000), Some(0x90), "ROM keeps its bytes");
        assert_eq!(m.take_dirty_code(), vec![0x1000], "the code page was noted");
        assert_eq!(
            m.write_bytes(0x4FF0, &[1; 0x20]),
            Err(0x5000),
            "MMIO stops the copy"
        );
        assert_eq!(m.read_u8(0x4FFF), Some(1));
        // With A20 masked, a copy across 1 MiB wraps to 0 as byte writes would.
        let mut m = PhysMem::new(2 << 20).unwrap();
        m.set_addr_mask(!(1 << 20));
        m.write_bytes(0xFFFFE, &[7, 8, 9, 10]).unwrap();
        assert_eq!(
            (m.read_u8(0xFFFFF), m.read_u8(0), m.read_u8(1)),
            (Some(8), Some(9), Some(10))
        );
    }

    #[test]
    fn writes_to_code_pages_are_queued() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        m.set_holds_code(0x7C00);
        m.write_bytes(0x7C10, &[1, 2]).unwrap();
        assert!(!m.holds_code(0x7C00));
        assert_eq!(m.take_dirty_code(), vec![0x7000]);
    }
}
