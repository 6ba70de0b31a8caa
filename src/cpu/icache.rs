//! The decoded-block cache, keyed by physical address and decode mode (Bochs's icache,
//! QEMU's TB cache). Blocks are invalidated per physical page when the page is written.

use std::collections::HashMap;

use super::op::Op;

/// Most instructions in one block.
pub const MAX_BLOCK: usize = 32;
/// Ops the arena holds before the whole cache is flushed.
const ARENA: usize = 1 << 20;
/// Entries in the direct-mapped lookup table.
const TABLE: usize = 1 << 16;

/// One decoded block.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    /// Physical address of the first byte, shifted left 2, plus the decode mode.
    pub key: u64,
    /// Index of the first op in the arena.
    pub start: u32,
    /// Number of ops.
    pub count: u16,
    /// Bytes of guest code the block covers.
    pub bytes: u16,
    /// Cleared when the block's page is written.
    pub valid: bool,
    /// Whether the block holds only instructions after which no event can be pending that
    /// was not pending before (ALU, moves, near branches…): the run loop may chain straight
    /// into the next block without looking at interrupts, HLT or the trap flag.
    pub plain: bool,
    /// Links to the blocks that ran next, most recent first. A link is followed only if RIP
    /// and the link generation still match and the successor is still valid and mapped there
    /// (see `Cpu::follow_link`), so the next block is found without a TLB walk or a hash
    /// probe (DESIGN.md §2).
    pub links: [Link; 2],
}

/// A cached successor of a block.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// RIP at which the successor starts.
    pub rip: u64,
    /// Index of the successor.
    pub block: u32,
    /// The code generation it was made in (0: empty; see `Tlb::code_gen`).
    pub gen: u64,
}

/// What a link between two blocks silently assumes stays the same: it was checked when the
/// link was made (the CS limit, the code size, execute rights at the privilege).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkContext {
    /// The processor mode (`Mode as u8`).
    pub mode: u8,
    /// The CPL.
    pub cpl: u8,
    /// The code size in bits.
    pub bits: u8,
    /// CS's base.
    pub cs_base: u64,
    /// CS's limit.
    pub cs_limit: u32,
}

/// The block cache.
pub struct ICache {
    ops: Vec<Op>,
    blocks: Vec<Block>,
    table: Box<[u32]>,
    pages: HashMap<u64, Vec<u32>>,
    /// What the links of the current code generation were made under.
    context: LinkContext,
    /// Bumped by every flush: block indices taken before a flush name other blocks after it.
    epoch: u64,
}

impl Default for ICache {
    fn default() -> Self {
        ICache::new()
    }
}

/// The cache key of a block at `phys` decoded with `bits`-bit code size.
#[inline(always)]
pub fn key(phys: u64, bits: u32) -> u64 {
    phys << 2 | (bits as u64 >> 5)
}

#[inline(always)]
fn slot(key: u64) -> usize {
    ((key >> 2) ^ (key >> 16) ^ (key & 3) << 14) as usize & (TABLE - 1)
}

impl ICache {
    /// An empty cache. The arena's capacity is reserved once and never grows, so that ops
    /// stay put while a block runs.
    pub fn new() -> ICache {
        ICache {
            ops: Vec::with_capacity(ARENA),
            blocks: Vec::new(),
            table: vec![0; TABLE].into_boxed_slice(),
            pages: HashMap::new(),
            context: LinkContext::default(),
            epoch: 0,
        }
    }

    /// Notes the CS, mode and CPL code now runs under; returns whether they changed (and
    /// every link must go).
    pub fn enter(&mut self, context: LinkContext) -> bool {
        let changed = context != self.context;
        self.context = context;
        changed
    }

    /// How many times the cache was flushed: a block index is meaningful only within one
    /// epoch.
    #[inline(always)]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The index of the block for `key`, if cached and valid.
    #[inline(always)]
    pub fn lookup(&self, key: u64) -> Option<u32> {
        let b = self.table[slot(key)];
        if b == 0 {
            return None;
        }
        let block = &self.blocks[(b - 1) as usize];
        (block.key == key && block.valid).then_some(b - 1)
    }

    /// Block `id`.
    #[inline(always)]
    pub fn block(&self, id: u32) -> &Block {
        &self.blocks[id as usize]
    }

    /// The successor of block `from` at `rip` that a link of code generation `gen` names.
    /// The caller checks that it is still valid.
    #[inline(always)]
    pub fn follow(&self, from: u32, rip: u64, gen: u64) -> Option<u32> {
        let b = &self.blocks[from as usize];
        let [l0, l1] = &b.links;
        if l0.rip == rip && l0.gen == gen {
            Some(l0.block)
        } else if l1.rip == rip && l1.gen == gen {
            Some(l1.block)
        } else {
            None
        }
    }

    /// Records that block `to` ran after block `from` at `rip` (both of this epoch) in code
    /// generation `gen`. The new link goes first; the older one stays as the second, so a
    /// block that alternates between two successors (a loop's branch) keeps both.
    #[inline]
    pub fn link(&mut self, from: u32, rip: u64, to: u32, gen: u64) {
        if let Some(b) = self.blocks.get_mut(from as usize) {
            let link = Link {
                rip,
                block: to,
                gen,
            };
            if b.links[0].rip != rip || b.links[0].gen != gen {
                b.links[1] = b.links[0];
            }
            b.links[0] = link;
        }
    }

    /// A pointer to the first op of `block`.
    ///
    /// The arena never reallocates (its capacity is fixed) and is cleared only by
    /// [`ICache::insert`] and [`ICache::flush`], which the run loop calls between blocks, so
    /// the pointer stays valid while the block executes.
    #[inline(always)]
    pub fn ops_ptr(&self, block: &Block) -> *const Op {
        self.ops[block.start as usize..].as_ptr()
    }

    /// Adds a block of `ops` covering `bytes` bytes at physical address `phys` (whose pages
    /// the caller has marked as holding code).
    pub fn insert(&mut self, key: u64, ops: &[Op], bytes: u16, plain: bool) -> u32 {
        if self.ops.len() + ops.len() > ARENA || self.blocks.len() >= u32::MAX as usize - 1 {
            self.flush();
        }
        let block = Block {
            key,
            start: self.ops.len() as u32,
            count: ops.len() as u16,
            bytes,
            valid: true,
            plain,
            links: [Link::default(); 2],
        };
        self.ops.extend_from_slice(ops);
        let id = self.blocks.len() as u32;
        self.blocks.push(block);
        self.table[slot(key)] = id + 1;
        let phys = key >> 2;
        let first = phys & !0xFFF;
        let last = (phys + bytes.max(1) as u64 - 1) & !0xFFF;
        self.pages.entry(first).or_default().push(id);
        if last != first {
            self.pages.entry(last).or_default().push(id);
        }
        id
    }

    /// Drops every block that covers bytes of physical page `page`.
    pub fn invalidate_page(&mut self, page: u64) {
        if let Some(ids) = self.pages.remove(&page) {
            for id in ids {
                if let Some(b) = self.blocks.get_mut(id as usize) {
                    b.valid = false;
                }
            }
        }
    }

    /// Drops everything.
    pub fn flush(&mut self) {
        self.epoch += 1;
        self.ops.clear();
        self.blocks.clear();
        self.table.fill(0);
        self.pages.clear();
    }

    /// Number of valid blocks (for statistics and tests).
    pub fn len(&self) -> usize {
        self.blocks.iter().filter(|b| b.valid).count()
    }

    /// Whether no block is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
