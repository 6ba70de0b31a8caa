//! The software TLB: linear page -> host pointer, with one tag per access kind so that a hit is
//! one compare and one add (DESIGN.md §2).
//!
//! There are four sets, one per way the current privilege sees memory: supervisor, supervisor
//! with EFLAGS.AC overriding SMAP, user, and user with alignment checking (never filled, so
//! every access takes the slow path that checks alignment). Each entry holds a tag per access
//! kind: the linear page number if that kind of access is allowed at the set's privilege
//! through the fast path, or [`INVALID`].

/// log2 of the entries per set.
pub const BITS: usize = 10;
/// Entries per set.
pub const ENTRIES: usize = 1 << BITS;
/// Number of sets.
pub const SETS: usize = 4;
/// A tag no linear page number can equal.
pub const INVALID: u64 = u64::MAX;

/// Which set the current privilege uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum TlbSet {
    /// CPL < 3, SMAP enforced (or off).
    Supervisor = 0,
    /// CPL < 3 with EFLAGS.AC = 1 and CR4.SMAP = 1: user pages are accessible.
    SupervisorAc = 1,
    /// CPL = 3.
    User = 2,
    /// CPL = 3 with CR0.AM and EFLAGS.AC: every access is checked for alignment.
    UserAligned = 3,
}

/// The hot part of an entry: the per-access tags and the host address offset.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TlbEntry {
    /// Page number for reads, or [`INVALID`].
    pub read: u64,
    /// Page number for writes, or [`INVALID`] (also for ROM, code pages, clean pages).
    pub write: u64,
    /// Page number for instruction fetch, or [`INVALID`].
    pub exec: u64,
    /// Host address of the page minus its linear address: host = addend + linear.
    pub addend: usize,
}

/// The cold part of an entry, for flushes and code lookups.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlbMeta {
    /// The physical page (address of its first byte).
    pub phys: u64,
    /// Whether the translation is global (survives CR3 loads when CR4.PGE is set).
    pub global: bool,
}

const EMPTY: TlbEntry = TlbEntry {
    read: INVALID,
    write: INVALID,
    exec: INVALID,
    addend: 0,
};

/// The software TLB.
pub struct Tlb {
    /// The entries of all sets, set `s` at `s * ENTRIES`.
    pub entries: Box<[TlbEntry; SETS * ENTRIES]>,
    /// Cold data per entry.
    pub meta: Box<[TlbMeta; SETS * ENTRIES]>,
    /// `set * ENTRIES` for the set the current privilege uses.
    pub base: usize,
    /// Linear range covered by large pages filled since the last full flush (for INVLPG).
    large: (u64, u64),
    /// Bumped whenever a translation, the privilege it is checked for, CS or the decoded
    /// code may change (every flush, a set switch, a mode change, an invalidated code page):
    /// links between decoded blocks are valid only within one generation. Never 0, so an
    /// empty link never matches.
    pub gen: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb::new()
    }
}

impl Tlb {
    /// An empty TLB.
    pub fn new() -> Tlb {
        let entries: Box<[TlbEntry; SETS * ENTRIES]> = vec![EMPTY; SETS * ENTRIES]
            .into_boxed_slice()
            .try_into()
            .expect("size");
        let meta: Box<[TlbMeta; SETS * ENTRIES]> = vec![TlbMeta::default(); SETS * ENTRIES]
            .into_boxed_slice()
            .try_into()
            .expect("size");
        Tlb {
            entries,
            meta,
            base: 0,
            large: (u64::MAX, 0),
            gen: 1,
        }
    }

    /// The index of the entry for linear address `lin` in the current set.
    #[inline(always)]
    pub fn index(&self, lin: u64) -> usize {
        (self.base + ((lin >> 12) as usize & (ENTRIES - 1))) & (SETS * ENTRIES - 1)
    }

    /// The index of the entry for `lin` in set `set`.
    #[inline(always)]
    pub fn index_in(set: TlbSet, lin: u64) -> usize {
        set as usize * ENTRIES + ((lin >> 12) as usize & (ENTRIES - 1))
    }

    /// Host address for an `n`-byte read at `lin`, if the fast path allows it.
    #[inline(always)]
    pub fn read_ptr(&self, lin: u64, n: u64) -> Option<usize> {
        let e = &self.entries[self.index(lin)];
        (e.read == (lin.wrapping_add(n - 1)) >> 12).then(|| e.addend.wrapping_add(lin as usize))
    }

    /// Host address for an `n`-byte write at `lin`, if the fast path allows it.
    #[inline(always)]
    pub fn write_ptr(&self, lin: u64, n: u64) -> Option<usize> {
        let e = &self.entries[self.index(lin)];
        (e.write == (lin.wrapping_add(n - 1)) >> 12).then(|| e.addend.wrapping_add(lin as usize))
    }

    /// Stores an entry.
    pub fn fill(
        &mut self,
        idx: usize,
        entry: TlbEntry,
        meta: TlbMeta,
        lin: u64,
        large: Option<u64>,
    ) {
        self.entries[idx] = entry;
        self.meta[idx] = meta;
        if let Some(size) = large {
            let start = lin & !(size - 1);
            self.large.0 = self.large.0.min(start);
            self.large.1 = self.large.1.max(start + (size - 1));
        }
    }

    /// Drops every entry (MOV CR3 without PGE, CR0/CR4 paging changes, A20 toggles).
    pub fn flush_all(&mut self) {
        self.gen += 1;
        self.entries.fill(EMPTY);
        self.large = (u64::MAX, 0);
    }

    /// Drops every non-global entry (MOV CR3 with CR4.PGE set).
    pub fn flush_nonglobal(&mut self) {
        self.gen += 1;
        for (e, m) in self.entries.iter_mut().zip(self.meta.iter()) {
            if !m.global {
                *e = EMPTY;
            }
        }
    }

    /// Drops the entries for the page holding `lin` in every set (INVLPG). If large pages
    /// may cover it, everything in their range goes too.
    pub fn flush_page(&mut self, lin: u64) {
        self.gen += 1;
        if lin >= self.large.0 && lin <= self.large.1 {
            self.flush_all();
            return;
        }
        let page = lin >> 12;
        for set in 0..SETS {
            let i = set * ENTRIES + (page as usize & (ENTRIES - 1));
            let e = &mut self.entries[i];
            if e.read == page || e.write == page || e.exec == page {
                *e = EMPTY;
            }
        }
    }

    /// Removes fast write access to physical page `phys` (it now holds decoded code).
    pub fn protect_phys(&mut self, phys: u64) {
        for (e, m) in self.entries.iter_mut().zip(self.meta.iter()) {
            if e.write != INVALID && m.phys == phys {
                e.write = INVALID;
            }
        }
    }
}
