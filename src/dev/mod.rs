//! PC devices, one file each. A device is a plain state machine: registers behind a tiny
//! trait ([`bus::PortIo`], [`bus::Mmio`]), virtual time passed in, interrupt outputs read by
//! the board. Devices never name the CPU or each other; the wiring lives in
//! `machine::board`.

pub mod acpi_pm;
pub mod bus;
pub mod debug;
pub mod fw_cfg;
pub mod hpet;
pub mod i8042;
pub mod ioapic;
pub mod lapic;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod port92;
pub mod ps2;
pub mod rtc;
pub mod uart;
pub mod vga;
