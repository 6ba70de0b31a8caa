//! vx86: a whole-system x86 PC emulator with a pure-Rust interpreter CPU.
//!
//! # Architecture
//!
//! - [`cpu`]: the processor. It owns guest memory and drives a [`cpu::Bus`] for port I/O,
//!   MMIO and interrupt acknowledge. Instructions are decoded once per block by iced-x86 into
//!   [`cpu::Op`]s (a handler pointer plus pre-extracted operands), cached by physical address
//!   and run as a flat loop of indirect calls. Memory goes through a software TLB (one compare
//!   and one add on a hit); flags are lazy; faults are values delivered by the run loop.
//! - [`mem`]: guest physical memory (RAM as an anonymous mapping, ROM, MMIO holes, A20).
//! - [`conformance`]: the instruction conformance runners (recorded 8086/80286 vectors, and
//!   differential testing against the host CPU).
//! - [`error`]: host-side errors, each naming the file or option at fault.
//!
//! Arrows point down: `cpu` uses `mem`; `mem` uses nothing of vx86's.

#![deny(missing_docs)]

pub mod conformance;
pub mod cpu;
pub mod dev;
pub mod error;
pub mod host;
pub mod initramfs;
pub mod launch;
pub mod linux_guest;
pub mod machine;
pub mod mem;
pub mod workloads;

pub use error::Error;
