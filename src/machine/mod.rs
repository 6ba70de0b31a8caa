//! The PC: the board that owns CPU, memory, devices and clock, and the boot paths.

pub mod boot;
