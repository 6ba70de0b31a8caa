//! Guest physical memory: RAM, ROM images and MMIO holes. A leaf that knows nothing of the CPU.

mod phys;

pub use phys::{Backing, PhysMem, RegionKind, PAGE_SIZE};
