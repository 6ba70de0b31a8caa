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
    /// Which fill lists the entry is on: [`ON_GLOBAL_LIST`], [`ON_LOCAL_LIST`].
    pub listed: u8,
}

/// `TlbMeta::listed`: the entry is on the list of global fills.
pub const ON_GLOBAL_LIST: u8 = 1;
/// `TlbMeta::listed`: the entry is on the list of non-global fills.
pub const ON_LOCAL_LIST: u8 = 2;

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
    /// `set * ENTRIES` for the set the current privilege uses (change with
    /// [`Tlb::set_base`]).
    pub base: usize,
    /// The address of `entries[base]`, so that a lookup on the hot path is one index into
    /// the current set. `entries` is boxed and never replaced, so it does not move.
    current: usize,
    /// Linear range covered by large pages filled since the last full flush (for INVLPG).
    large: (u64, u64),
    /// Bumped by every flush: the paging-structure cache of the page walk is valid only
    /// within one generation. Never 0, so an empty cache slot never matches.
    pub gen: u64,
    /// Bumped when a translation code may run through could have gone (a flush that drops
    /// an executable entry) and when CS, the mode or the CPL change: links between decoded
    /// blocks are valid only within one code generation. Never 0, so an empty link never
    /// matches.
    pub code_gen: u64,
    /// Whether an executable non-global entry was filled since the last flush of them.
    nonglobal_exec: bool,
    /// Whether a fill replaced an executable entry since the code generation last changed:
    /// INVLPG can then no longer tell from the entries whether code ran through that page.
    exec_evicted: bool,
    /// Indices of the entries filled with global translations since the last full flush
    /// (each once), so that a full flush visits those rather than every entry.
    global_filled: Vec<u16>,
    /// Indices of the entries filled with non-global translations since the last flush of
    /// them (each once): a CR3 load visits only these.
    local_filled: Vec<u16>,
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
        let current = entries.as_ptr() as usize;
        Tlb {
            entries,
            meta,
            base: 0,
            current,
            large: (u64::MAX, 0),
            gen: 1,
            code_gen: 1,
            nonglobal_exec: false,
            exec_evicted: false,
            global_filled: Vec::with_capacity(SETS * ENTRIES),
            local_filled: Vec::with_capacity(SETS * ENTRIES),
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

    /// Makes `set * ENTRIES` (`base`) the current set.
    pub fn set_base(&mut self, base: usize) {
        let base = base & (SETS * ENTRIES - 1) & !(ENTRIES - 1);
        self.base = base;
        self.current = self.entries[base..].as_ptr() as usize;
    }

    /// The current set's entry for linear address `lin`.
    #[inline(always)]
    fn current_entry(&self, lin: u64) -> &TlbEntry {
        // SAFETY: `current` is the address of `entries[base]` (see `set_base`), `base` is a
        // multiple of ENTRIES below SETS * ENTRIES, and the index is below ENTRIES: the
        // entry lies inside the boxed array, which lives as long as `self`.
        unsafe { &*(self.current as *const TlbEntry).add((lin >> 12) as usize & (ENTRIES - 1)) }
    }

    /// Host address for an `n`-byte read at `lin`, if the fast path allows it.
    #[inline(always)]
    pub fn read_ptr(&self, lin: u64, n: u64) -> Option<usize> {
        let e = self.current_entry(lin);
        (e.read == (lin.wrapping_add(n - 1)) >> 12).then(|| e.addend.wrapping_add(lin as usize))
    }

    /// Host address for an `n`-byte write at `lin`, if the fast path allows it.
    #[inline(always)]
    pub fn write_ptr(&self, lin: u64, n: u64) -> Option<usize> {
        let e = self.current_entry(lin);
        (e.write == (lin.wrapping_add(n - 1)) >> 12).then(|| e.addend.wrapping_add(lin as usize))
    }

    /// Stores an entry.
    pub fn fill(
        &mut self,
        idx: usize,
        entry: TlbEntry,
        mut meta: TlbMeta,
        lin: u64,
        large: Option<u64>,
    ) {
        if entry.exec != INVALID && !meta.global {
            self.nonglobal_exec = true;
        }
        let old = self.entries[idx].exec;
        if old != INVALID && old != entry.exec {
            self.exec_evicted = true;
        }
        // An entry goes on the list of its kind once; one refilled with the other kind is on
        // both, which only makes a flush look at it once more.
        meta.listed = self.meta[idx].listed;
        if meta.global && meta.listed & ON_GLOBAL_LIST == 0 {
            self.global_filled.push(idx as u16);
            meta.listed |= ON_GLOBAL_LIST;
        } else if !meta.global && meta.listed & ON_LOCAL_LIST == 0 {
            self.local_filled.push(idx as u16);
            meta.listed |= ON_LOCAL_LIST;
        }
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
        self.new_code_gen();
        self.nonglobal_exec = false;
        for &i in self.global_filled.iter().chain(self.local_filled.iter()) {
            self.entries[i as usize] = EMPTY;
            self.meta[i as usize].listed = 0;
        }
        self.global_filled.clear();
        self.local_filled.clear();
        self.large = (u64::MAX, 0);
    }

    /// Drops every non-global entry (MOV CR3 with CR4.PGE set).
    pub fn flush_nonglobal(&mut self) {
        self.gen += 1;
        if std::mem::take(&mut self.nonglobal_exec) {
            self.new_code_gen();
        }
        // An entry refilled with a global translation is on the global list too: it stays.
        for &i in &self.local_filled {
            let m = &mut self.meta[i as usize];
            if !m.global {
                self.entries[i as usize] = EMPTY;
            }
            m.listed &= !ON_LOCAL_LIST;
        }
        self.local_filled.clear();
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
        let mut exec = self.exec_evicted;
        for set in 0..SETS {
            let i = set * ENTRIES + (page as usize & (ENTRIES - 1));
            let e = &mut self.entries[i];
            exec |= e.exec == page;
            if e.read == page || e.write == page || e.exec == page {
                *e = EMPTY;
            }
        }
        if exec {
            self.new_code_gen();
        }
    }

    /// Voids every link between decoded blocks: code may run through other translations,
    /// or under another CS, mode or CPL.
    pub fn new_code_gen(&mut self) {
        self.code_gen += 1;
        self.exec_evicted = false;
    }

    /// Removes fast write access to physical page `phys` (it now holds decoded code).
    pub fn protect_phys(&mut self, phys: u64) {
        for &i in self.global_filled.iter().chain(self.local_filled.iter()) {
            let i = i as usize;
            if self.entries[i].write != INVALID && self.meta[i].phys == phys {
                self.entries[i].write = INVALID;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(page: u64, exec: bool) -> TlbEntry {
        TlbEntry {
            read: page,
            write: INVALID,
            exec: if exec { page } else { INVALID },
            addend: 0,
        }
    }

    fn fill(t: &mut Tlb, page: u64, exec: bool, global: bool) -> usize {
        let idx = Tlb::index_in(TlbSet::Supervisor, page << 12);
        let meta = TlbMeta {
            phys: page << 12,
            global,
            listed: 0,
        };
        t.fill(idx, entry(page, exec), meta, page << 12, None);
        idx
    }

    #[test]
    fn cr3_load_keeps_global_entries_and_links_to_global_code() {
        let mut t = Tlb::new();
        let kernel = fill(&mut t, 0x100, true, true);
        let data = fill(&mut t, 0x101, false, false);
        let gen = t.code_gen;
        t.flush_nonglobal();
        assert_eq!(t.entries[kernel].exec, 0x100, "global entry kept");
        assert_eq!(t.entries[data].read, INVALID, "non-global entry dropped");
        assert_eq!(t.code_gen, gen, "no executable translation went");
        fill(&mut t, 0x102, true, false);
        t.flush_nonglobal();
        assert_ne!(t.code_gen, gen, "user code's translation went");
        t.flush_all();
        assert_eq!(
            t.entries[kernel].exec, INVALID,
            "a full flush drops global entries"
        );
    }

    #[test]
    fn invlpg_changes_the_code_generation_only_for_pages_code_may_run_through() {
        let mut t = Tlb::new();
        fill(&mut t, 0x100, true, true);
        fill(&mut t, 0x200, false, false);
        let gen = t.code_gen;
        t.flush_page(0x200 << 12);
        assert_eq!(t.code_gen, gen, "a data page");
        t.flush_page(0x100 << 12);
        assert_ne!(t.code_gen, gen, "a code page");
        let gen = t.code_gen;
        fill(&mut t, 0x100, true, true);
        fill(&mut t, 0x100 + ENTRIES as u64, false, true); // evicts the code page's entry
        t.flush_page(0x300 << 12);
        assert_ne!(
            t.code_gen, gen,
            "after an eviction any page may have held code"
        );
    }

    #[test]
    fn every_entry_of_every_set_is_flushed_each_kind_by_its_list() {
        let mut t = Tlb::new();
        let meta = |page: u64, global| TlbMeta {
            phys: page << 12,
            global,
            listed: 0,
        };
        for idx in 0..SETS * ENTRIES {
            let page = idx as u64;
            t.fill(
                idx,
                entry(page, false),
                meta(page, idx % 2 == 0),
                page << 12,
                None,
            );
        }
        // Refilled with the other kind, twice: still one entry on each list.
        t.fill(1, entry(1, false), meta(1, true), 1 << 12, None);
        t.fill(1, entry(1, false), meta(1, false), 1 << 12, None);
        assert_eq!(t.global_filled.len(), SETS * ENTRIES / 2 + 1);
        assert_eq!(t.local_filled.len(), SETS * ENTRIES / 2);
        t.flush_nonglobal();
        for (i, e) in t.entries.iter().enumerate() {
            assert_eq!(e.read == INVALID, i % 2 == 1, "entry {i}");
        }
        t.flush_all();
        assert!(t.entries.iter().all(|e| e.read == INVALID));
        assert!(t.global_filled.is_empty() && t.local_filled.is_empty());
        assert!(t.meta.iter().all(|m| m.listed == 0));
    }
}
