//! PCI configuration mechanism #1 (ports 0xCF8/0xCFC) and bus 0 of the i440FX/PIIX3 board
//! that QEMU's `pc` machine models: 00.0 the 82441FX host bridge, 01.0 the PIIX3 PCI-to-ISA
//! bridge (multi-function), 01.3 the PIIX4 power-management function (the ACPI fixed
//! hardware lives in `acpi_pm`; this file only holds its configuration space). Also the
//! PIIX3 reset control register at 0xCF9.
//!
//! References: PCI Local Bus Specification 3.0 §3.2.2.3.2 (configuration mechanism #1) and
//! §6.1–6.2 (the type-0 header, command and status registers, §6.2.5.1 base address
//! registers and their sizing); Intel 82441FX PMC datasheet (290549) §3 (PAM0–PAM6 at
//! 0x59–0x5F, SMRAM at 0x72); Intel 82371FB/SB PIIX3 datasheet (290550) §2.2 (PIRQRC\[A:D\] at
//! 0x60–0x63, reset 0x80) and §2.1.3 (reset control register at 0xCF9); Intel 82371AB PIIX4
//! datasheet (290562) §3.4 (function 3: PMBA at 0x40, PMREGMISC at 0x80, SMBBA at 0x90).
//!
//! Each function is a [`PciFunction`]: 256 bytes of configuration space with, per bit, whether
//! the guest may write it and whether a written 1 clears it (status bits). Chipset registers
//! with no effect on this board (PAM shadowing, SMRAM, DRAM timing) are plain storage: RAM
//! stays RAM whatever the PAM registers say.
//!
//! Board API: [`Pci::bios_init`] puts the PM I/O space where the FADT says (as firmware
//! does); [`Pci::pm_io_base`] says where it is now (the guest may move it);
//! [`Pci::reset_requested`] / [`Pci::clear_reset`] for 0xCF9; [`Pci::add`] plugs further
//! functions (IDE, display) into bus 0; [`Pci::pirq_route`] for PCI interrupts.

use super::bus::{DevCtx, PortIo};

/// CONFIG_ADDRESS: a dword register at 0xCF8 (only dword accesses reach it).
pub const CONFIG_ADDRESS: u16 = 0xCF8;
/// The PIIX3 reset control register (a byte at 0xCF9).
pub const RESET_CONTROL: u16 = 0xCF9;
/// CONFIG_DATA: 0xCFC–0xCFF, any width at any offset.
pub const CONFIG_DATA: u16 = 0xCFC;
/// CONFIG_ADDRESS bit 31: configuration cycles enabled.
pub const CONFIG_ENABLE: u32 = 1 << 31;
/// CONFIG_ADDRESS bits that are kept: enable, bus, device, function, dword register.
const CONFIG_ADDRESS_MASK: u32 = 0x80FF_FFFC;

/// RCR bit 1: SRST, a hard (system) reset rather than a soft (CPU INIT) one.
pub const RCR_SRST: u8 = 1 << 1;
/// RCR bit 2: RCPU, a 0 -> 1 transition resets (the kind chosen by SRST).
pub const RCR_RCPU: u8 = 1 << 2;

/// Type-0 header: vendor ID (16 bits, read-only).
pub const VENDOR_ID: u8 = 0x00;
/// Device ID (16 bits, read-only).
pub const DEVICE_ID: u8 = 0x02;
/// Command register (16 bits).
pub const COMMAND: u8 = 0x04;
/// Status register (16 bits; error bits are write-1-to-clear).
pub const STATUS: u8 = 0x06;
/// Revision ID.
pub const REVISION_ID: u8 = 0x08;
/// Class code: programming interface, subclass, base class (bytes 0x09–0x0B).
pub const CLASS_CODE: u8 = 0x09;
/// Cache line size.
pub const CACHE_LINE_SIZE: u8 = 0x0C;
/// Latency timer.
pub const LATENCY_TIMER: u8 = 0x0D;
/// Header type (bit 7: multi-function device).
pub const HEADER_TYPE: u8 = 0x0E;
/// Base address register 0 (BARs 0–5 follow, a dword each).
pub const BAR0: u8 = 0x10;
/// Interrupt line (written by software, no effect on hardware).
pub const INTERRUPT_LINE: u8 = 0x3C;
/// Interrupt pin (1 = INTA#, read-only).
pub const INTERRUPT_PIN: u8 = 0x3D;

/// Command bit 0: I/O space enable.
pub const CMD_IO: u16 = 1 << 0;
/// Command bit 1: memory space enable.
pub const CMD_MEMORY: u16 = 1 << 1;
/// Command bit 2: bus master enable.
pub const CMD_MASTER: u16 = 1 << 2;
/// Command bit 3: special cycle enable.
pub const CMD_SPECIAL: u16 = 1 << 3;
/// Command bit 6: parity error response.
pub const CMD_PARITY: u16 = 1 << 6;
/// Command bit 8: SERR# enable.
pub const CMD_SERR: u16 = 1 << 8;

/// Status bit 7: fast back-to-back capable (read-only).
pub const STS_FAST_B2B: u16 = 1 << 7;
/// Status bits 10:9 = 01: medium DEVSEL# timing (read-only).
pub const STS_DEVSEL_MEDIUM: u16 = 1 << 9;
/// Status bit 8: master data parity error (write 1 to clear).
pub const STS_DATA_PARITY: u16 = 1 << 8;
/// Status bit 11: signalled target abort (write 1 to clear).
pub const STS_SIG_TARGET_ABORT: u16 = 1 << 11;
/// Status bit 12: received target abort (write 1 to clear).
pub const STS_RCV_TARGET_ABORT: u16 = 1 << 12;
/// Status bit 13: received master abort (write 1 to clear).
pub const STS_RCV_MASTER_ABORT: u16 = 1 << 13;
/// Status bit 14: signalled system error (write 1 to clear).
pub const STS_SIG_SYSTEM_ERROR: u16 = 1 << 14;
/// Status bit 15: detected parity error (write 1 to clear).
pub const STS_PARITY_ERROR: u16 = 1 << 15;
/// The write-1-to-clear status bits.
const STS_W1C: u16 = STS_DATA_PARITY
    | STS_SIG_TARGET_ABORT
    | STS_RCV_TARGET_ABORT
    | STS_RCV_MASTER_ABORT
    | STS_SIG_SYSTEM_ERROR
    | STS_PARITY_ERROR;

/// 82441FX: PAM0 (BIOS area 0xF0000–0xFFFFF shadowing), first of seven PAM registers.
pub const I440FX_PAM0: u8 = 0x59;
/// 82441FX: SMRAM control (reset 0x02: C_BASE_SEG = 010, the A-segment).
pub const I440FX_SMRAM: u8 = 0x72;
/// PIIX3 function 0: PIRQRC\[A\] (PIRQA#–PIRQD# routing at 0x60–0x63).
pub const PIIX3_PIRQRC: u8 = 0x60;
/// PIRQRC bit 7: routing disabled.
pub const PIRQRC_DISABLE: u8 = 0x80;
/// PIIX4 function 3: PMBA, the power-management I/O base (bits 15:6; bit 0 reads 1).
pub const PIIX4_PMBA: u8 = 0x40;
/// PIIX4 function 3: PMREGMISC (bit 0 PMIOSE enables the PM I/O space).
pub const PIIX4_PMREGMISC: u8 = 0x80;
/// PMREGMISC bit 0: PM I/O space enable.
pub const PMIOSE: u8 = 0x01;
/// PIIX4 function 3: SMBBA, the SMBus I/O base (bits 15:4; bit 0 reads 1).
pub const PIIX4_SMBBA: u8 = 0x90;
/// Bytes of PM I/O space PMBA decodes.
pub const PM_IO_SIZE: u16 = 64;

/// Device 0 function 0: the host bridge.
pub const HOST_BRIDGE: (u8, u8) = (0, 0);
/// Device 1 function 0: the PCI-to-ISA bridge.
pub const ISA_BRIDGE: (u8, u8) = (1, 0);
/// Device 1 function 3: power management (ACPI).
pub const PM_FUNCTION: (u8, u8) = (1, 3);

/// A base address register a function implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Bytes decoded: a power of two (at least 4 for I/O, 16 for memory).
    pub size: u32,
    /// I/O space (bit 0 reads 1) rather than 32-bit memory space.
    pub io: bool,
    /// Memory BAR bit 3: prefetchable.
    pub prefetchable: bool,
}

/// One function's 256-byte configuration space.
#[derive(Clone)]
pub struct PciFunction {
    config: [u8; 256],
    /// Bits the guest may write.
    wmask: [u8; 256],
    /// Bits a written 1 clears.
    w1cmask: [u8; 256],
}

impl std::fmt::Debug for PciFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PciFunction({:04x}:{:04x})",
            self.read(VENDOR_ID, 2),
            self.read(DEVICE_ID, 2)
        )
    }
}

impl PciFunction {
    /// A function with type-0 header: IDs, 24-bit class code, revision, header type. The
    /// command register starts at `command` with `command_wmask` writable; the status
    /// register reads medium DEVSEL# timing and fast back-to-back, with its error bits
    /// write-1-to-clear; cache line size, latency timer and interrupt line are writable; the
    /// device-specific area 0x40–0xFF is plain storage until a register says otherwise.
    pub fn new(
        vendor: u16,
        device: u16,
        class: u32,
        revision: u8,
        header_type: u8,
        command: u16,
        command_wmask: u16,
    ) -> PciFunction {
        let mut f = PciFunction {
            config: [0; 256],
            wmask: [0; 256],
            w1cmask: [0; 256],
        };
        f.set(VENDOR_ID, &vendor.to_le_bytes());
        f.set(DEVICE_ID, &device.to_le_bytes());
        f.set(COMMAND, &command.to_le_bytes());
        f.wmask[COMMAND as usize..COMMAND as usize + 2]
            .copy_from_slice(&command_wmask.to_le_bytes());
        f.set(STATUS, &(STS_DEVSEL_MEDIUM | STS_FAST_B2B).to_le_bytes());
        f.w1cmask[STATUS as usize..STATUS as usize + 2].copy_from_slice(&STS_W1C.to_le_bytes());
        f.config[REVISION_ID as usize] = revision;
        f.set(CLASS_CODE, &class.to_le_bytes()[..3]);
        f.config[HEADER_TYPE as usize] = header_type;
        f.wmask[CACHE_LINE_SIZE as usize] = 0xFF;
        f.wmask[LATENCY_TIMER as usize] = 0xFF;
        f.wmask[INTERRUPT_LINE as usize] = 0xFF;
        f.wmask[0x40..].fill(0xFF);
        f
    }

    /// Gives the function BAR `n` (0–5): the guest may write the address bits; writing all
    /// ones reads back the size mask with the type bits (PCI 3.0 §6.2.5.1).
    pub fn set_bar(&mut self, n: usize, bar: Bar) {
        if n > 5 {
            return;
        }
        let at = BAR0 + 4 * n as u8;
        let size = bar
            .size
            .max(if bar.io { 4 } else { 16 })
            .next_power_of_two();
        let (low, mask) = if bar.io {
            (1, !(size - 1) & !0x3)
        } else {
            ((bar.prefetchable as u32) << 3, !(size - 1) & !0xF)
        };
        self.set(at, &low.to_le_bytes());
        self.wmask[at as usize..at as usize + 4].copy_from_slice(&mask.to_le_bytes());
    }

    /// Sets a register's value and which of its bits the guest may write (a chipset
    /// register with an initial value).
    pub fn register(&mut self, offset: u8, value: &[u8], wmask: &[u8]) {
        self.set(offset, value);
        for (i, &m) in wmask.iter().enumerate() {
            if let Some(w) = self.wmask.get_mut(offset as usize + i) {
                *w = m;
            }
        }
    }

    /// Sets status bits, as the function's hardware does when an error happens; the guest
    /// clears them by writing 1s.
    pub fn raise_status(&mut self, bits: u16) {
        let s = self.read(STATUS, 2) as u16 | (bits & STS_W1C);
        self.set(STATUS, &s.to_le_bytes());
    }

    /// `size` bytes (1–4) of configuration space at `offset`, little-endian; bytes past the
    /// end read 0xFF.
    pub fn read(&self, offset: u8, size: u8) -> u32 {
        (0..size.min(4)).fold(0, |v, i| {
            let b = self
                .config
                .get(offset as usize + i as usize)
                .copied()
                .unwrap_or(0xFF);
            v | (b as u32) << (8 * i)
        })
    }

    /// A configuration write of one byte: writable bits take the new value, written 1s in
    /// write-1-to-clear bits clear them, everything else stays.
    pub fn write_byte(&mut self, offset: u8, value: u8) {
        let i = offset as usize;
        let old = self.config[i];
        let new = (old & !self.wmask[i]) | (value & self.wmask[i]);
        self.config[i] = new & !(value & self.w1cmask[i]);
    }

    /// A configuration write of `size` bytes at `offset` (bytes past the end are dropped).
    pub fn write(&mut self, offset: u8, size: u8, value: u32) {
        for i in 0..size.min(4) {
            if let Some(o) = offset.checked_add(i) {
                self.write_byte(o, (value >> (8 * i)) as u8);
            }
        }
    }

    fn set(&mut self, offset: u8, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(c) = self.config.get_mut(offset as usize + i) {
                *c = b;
            }
        }
    }
}

/// The 82441FX host bridge (8086:1237, class 0600). Its PCICMD has MAE and BME hardwired to
/// 1; PERRE and SERRE are writable.
pub fn i440fx() -> PciFunction {
    let mut f = PciFunction::new(
        0x8086,
        0x1237,
        0x06_00_00,
        0x02,
        0x00,
        CMD_MEMORY | CMD_MASTER,
        CMD_PARITY | CMD_SERR,
    );
    // PAM0–PAM6: every segment routed to PCI (ROM) at reset; storage on this board.
    for i in 0..7 {
        f.register(I440FX_PAM0 + i, &[0x00], &[0xFF]);
    }
    f.register(I440FX_SMRAM, &[0x02], &[0xFF]);
    f
}

/// The PIIX3 PCI-to-ISA bridge, function 0 of a multi-function device (8086:7000, class
/// 0601, header type 0x80). I/O, memory and bus master are hardwired on; PIRQRC\[A:D\] start
/// disabled (0x80), as QEMU resets them.
pub fn piix3_isa() -> PciFunction {
    let mut f = PciFunction::new(
        0x8086,
        0x7000,
        0x06_01_00,
        0x00,
        0x80,
        CMD_IO | CMD_MEMORY | CMD_MASTER,
        CMD_SPECIAL | CMD_SERR,
    );
    // Reset values of the PIIX3 function-0 registers (datasheet §2.2, as QEMU resets them).
    let defaults: &[(u8, u8)] = &[
        (0x4C, 0x4D), // IORT: ISA I/O recovery timer
        (0x4E, 0x03), // XBCS: X-bus chip select (RTC, keyboard)
        (0x69, 0x02), // TOM: top of memory
        (0x70, 0x80), // MBIRQ0: motherboard IRQ routing, disabled
        (0x76, 0x0C), // MBDMA0
        (0x77, 0x0C), // MBDMA1
        (0x78, 0x02), // PCSC: programmable chip select
        (0xA0, 0x08), // SMICNTL
        (0xA8, 0x0F), // FTMR: fast-off timer
    ];
    for &(at, v) in defaults {
        f.register(at, &[v], &[0xFF]);
    }
    // PIRQRC: bit 7 disables routing, bits 3:0 the ISA IRQ; bits 6:4 reserved.
    for i in 0..4 {
        f.register(PIIX3_PIRQRC + i, &[PIRQRC_DISABLE], &[0x8F]);
    }
    f
}

/// The PIIX4 power-management function (8086:7113, class 0680, revision 3), interrupt pin
/// INTA# and line 9 (the SCI). PMBA at 0x40 decodes 64 bytes of I/O when PMREGMISC bit 0 is
/// set; SMBBA at 0x90 holds the SMBus base (no SMBus controller answers on this board).
pub fn piix4_pm() -> PciFunction {
    let mut f = PciFunction::new(0x8086, 0x7113, 0x06_80_00, 0x03, 0x00, 0, CMD_IO);
    f.register(INTERRUPT_PIN, &[1], &[0]);
    f.register(INTERRUPT_LINE, &[9], &[0xFF]);
    // Bits 15:6 of PMBA are the base; bit 0 (resource type indicator: I/O) reads 1.
    f.register(PIIX4_PMBA, &[0x01, 0, 0, 0], &[0xC0, 0xFF, 0, 0]);
    f.register(PIIX4_PMREGMISC, &[0], &[PMIOSE]);
    f.register(PIIX4_SMBBA, &[0x01, 0, 0, 0], &[0xF0, 0xFF, 0, 0]);
    f
}

/// The configuration mechanism and bus 0.
#[derive(Debug)]
pub struct Pci {
    /// CONFIG_ADDRESS as last written.
    address: u32,
    /// Functions on bus 0: (device << 3 | function, configuration space).
    functions: Vec<(u8, PciFunction)>,
    /// The reset control register (SRST, RCPU).
    rcr: u8,
    reset: bool,
}

impl Default for Pci {
    fn default() -> Self {
        Pci::new()
    }
}

impl Pci {
    /// The bus after power-on: host bridge, ISA bridge and PM function at their reset
    /// values (the PM I/O space disabled).
    pub fn new() -> Pci {
        let mut p = Pci {
            address: 0,
            functions: Vec::new(),
            rcr: 0,
            reset: false,
        };
        p.add(HOST_BRIDGE, i440fx());
        p.add(ISA_BRIDGE, piix3_isa());
        p.add(PM_FUNCTION, piix4_pm());
        p
    }

    /// What firmware does before a direct boot: the PM I/O space at `pm_base` (64-byte
    /// aligned), enabled, where the FADT describes it.
    pub fn bios_init(&mut self, pm_base: u16) {
        if let Some(f) = self.function_mut(PM_FUNCTION) {
            f.write(PIIX4_PMBA, 4, pm_base as u32);
            f.write_byte(PIIX4_PMREGMISC, PMIOSE);
        }
    }

    /// Plugs `f` in at (device, function) of bus 0, replacing what was there.
    pub fn add(&mut self, (dev, func): (u8, u8), f: PciFunction) {
        let devfn = (dev & 0x1F) << 3 | (func & 7);
        self.functions.retain(|(d, _)| *d != devfn);
        self.functions.push((devfn, f));
    }

    /// The function at (device, function) of bus 0.
    pub fn function(&self, (dev, func): (u8, u8)) -> Option<&PciFunction> {
        let devfn = (dev & 0x1F) << 3 | (func & 7);
        self.functions
            .iter()
            .find(|(d, _)| *d == devfn)
            .map(|(_, f)| f)
    }

    /// The function at (device, function) of bus 0, to change.
    pub fn function_mut(&mut self, (dev, func): (u8, u8)) -> Option<&mut PciFunction> {
        let devfn = (dev & 0x1F) << 3 | (func & 7);
        self.functions
            .iter_mut()
            .find(|(d, _)| *d == devfn)
            .map(|(_, f)| f)
    }

    /// Where the PM I/O space (64 ports) is decoded, if PMREGMISC.PMIOSE enables it.
    pub fn pm_io_base(&self) -> Option<u16> {
        let f = self.function(PM_FUNCTION)?;
        if f.read(PIIX4_PMREGMISC, 1) as u8 & PMIOSE == 0 {
            return None;
        }
        Some(f.read(PIIX4_PMBA, 2) as u16 & !(PM_IO_SIZE - 1))
    }

    /// The ISA IRQ that PCI interrupt line PIRQA#–PIRQD# (`n` = 0–3) is routed to, if
    /// routing is enabled and names a valid IRQ (3–7, 9–12, 14, 15).
    pub fn pirq_route(&self, n: u8) -> Option<u8> {
        let v = self.function(ISA_BRIDGE)?.read(PIIX3_PIRQRC + (n & 3), 1) as u8;
        let irq = v & 0x0F;
        (v & PIRQRC_DISABLE == 0 && matches!(irq, 3..=7 | 9..=12 | 14 | 15)).then_some(irq)
    }

    /// Whether the guest asked for a reset through 0xCF9 (latched until
    /// [`Pci::clear_reset`]).
    pub fn reset_requested(&self) -> bool {
        self.reset
    }

    /// The board performed the reset: the latch and RCPU clear, so the next 0 -> 1 write
    /// of RCPU resets again.
    pub fn clear_reset(&mut self) {
        self.reset = false;
        self.rcr &= !RCR_RCPU;
    }

    /// The function CONFIG_ADDRESS selects, with the dword register offset, if enabled and
    /// on bus 0 (there are no PCI-to-PCI bridges behind which another bus could be).
    fn selected(&mut self) -> Option<(&mut PciFunction, u8)> {
        if self.address & CONFIG_ENABLE == 0 || (self.address >> 16) & 0xFF != 0 {
            return None;
        }
        let devfn = (self.address >> 8) as u8;
        let reg = self.address as u8 & 0xFC;
        self.functions
            .iter_mut()
            .find(|(d, _)| *d == devfn)
            .map(|(_, f)| (f, reg))
    }

    /// One byte lane of an access to 0xCF8–0xCFB that is not a dword at 0xCF8: only the
    /// PIIX3's reset control register at 0xCF9 answers.
    fn rcr_read(&self, port: u16) -> u8 {
        if port == RESET_CONTROL {
            self.rcr
        } else {
            0xFF
        }
    }

    fn rcr_write(&mut self, port: u16, value: u8) {
        if port != RESET_CONTROL {
            return;
        }
        // PIIX3 §2.1.3: a 0 -> 1 transition of RCPU resets (hard if SRST, else soft); this
        // board treats both as a machine reset.
        if value & RCR_RCPU != 0 && self.rcr & RCR_RCPU == 0 {
            self.reset = true;
        }
        self.rcr = value & (RCR_SRST | RCR_RCPU);
    }
}

impl PortIo for Pci {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        if port == CONFIG_ADDRESS && size == 4 {
            return self.address;
        }
        let mut v = 0u32;
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = match p {
                0xCF8..=0xCFB => self.rcr_read(p),
                0xCFC..=0xCFF => match self.selected() {
                    Some((f, reg)) => f.read(reg + (p - CONFIG_DATA) as u8, 1) as u8,
                    // No device answers: the master abort reads all ones (a missing
                    // function's vendor ID is 0xFFFF).
                    None => 0xFF,
                },
                _ => 0xFF,
            };
            v |= (b as u32) << (8 * i);
        }
        v
    }

    fn io_write(&mut self, _: &mut DevCtx, port: u16, size: u8, value: u32) {
        let size = size.clamp(1, 4);
        if port == CONFIG_ADDRESS && size == 4 {
            self.address = value & CONFIG_ADDRESS_MASK;
            return;
        }
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = (value >> (8 * i)) as u8;
            match p {
                0xCF8..=0xCFB => self.rcr_write(p, b),
                0xCFC..=0xCFF => {
                    if let Some((f, reg)) = self.selected() {
                        f.write_byte(reg + (p - CONFIG_DATA) as u8, b);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::PhysMem;

    /// Drives the bus through its ports.
    struct Io {
        pci: Pci,
        mem: PhysMem,
    }

    impl Io {
        fn new() -> Io {
            Io {
                pci: Pci::new(),
                mem: PhysMem::new(4096).unwrap(),
            }
        }
        fn out(&mut self, port: u16, size: u8, v: u32) {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.pci.io_write(&mut ctx, port, size, v);
        }
        fn inp(&mut self, port: u16, size: u8) -> u32 {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.pci.io_read(&mut ctx, port, size)
        }
        fn addr(&mut self, dev: u8, func: u8, reg: u8) {
            let a = CONFIG_ENABLE | (dev as u32) << 11 | (func as u32) << 8 | reg as u32;
            self.out(CONFIG_ADDRESS, 4, a);
        }
        /// A configuration read the way Linux's `pci_conf1_read` does it.
        fn cfg_read(&mut self, dev: u8, func: u8, reg: u8, size: u8) -> u32 {
            self.addr(dev, func, reg & 0xFC);
            self.inp(CONFIG_DATA + (reg & 3) as u16, size)
        }
        fn cfg_write(&mut self, dev: u8, func: u8, reg: u8, size: u8, v: u32) {
            self.addr(dev, func, reg & 0xFC);
            self.out(CONFIG_DATA + (reg & 3) as u16, size, v);
        }
    }

    #[test]
    fn config_address_latches_only_dword_writes_and_reads_back() {
        // Mechanism #1: CONFIG_ADDRESS is a dword register; Linux's probe writes
        // 0x80000000 and expects to read it back, and its byte write to 0xCFB (the type-2
        // probe) must not disturb it. Reserved bits 30:24 and 1:0 read 0.
        let mut io = Io::new();
        io.out(CONFIG_ADDRESS, 4, 0x8000_0000);
        io.out(0xCFB, 1, 0x01);
        assert_eq!(io.inp(CONFIG_ADDRESS, 4), 0x8000_0000);
        io.out(CONFIG_ADDRESS, 4, 0xFFFF_FFFF);
        assert_eq!(io.inp(CONFIG_ADDRESS, 4), 0x80FF_FFFC);
        assert_eq!(
            io.inp(CONFIG_ADDRESS, 1),
            0xFF,
            "no byte-wide CONFIG_ADDRESS"
        );
        io.out(CONFIG_ADDRESS, 2, 0);
        assert_eq!(io.inp(CONFIG_ADDRESS, 4), 0x80FF_FFFC);
    }

    #[test]
    fn bus_0_holds_the_i440fx_piix3_and_piix4_pm() {
        // The IDs, class codes and header types Linux's enumeration reads.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(0, 0, 0, 4), 0x1237_8086);
        assert_eq!(io.cfg_read(0, 0, 0x08, 4) >> 8, 0x06_00_00);
        assert_eq!(io.cfg_read(0, 0, HEADER_TYPE, 1), 0x00);
        assert_eq!(io.cfg_read(1, 0, 0, 4), 0x7000_8086);
        assert_eq!(io.cfg_read(1, 0, 0x0A, 2), 0x0601);
        assert_eq!(io.cfg_read(1, 3, 0, 4), 0x7113_8086);
        assert_eq!(
            io.cfg_read(1, 3, 0x08, 4),
            0x0680_0003,
            "class 0680, revision 3"
        );
        assert_eq!(io.cfg_read(1, 3, INTERRUPT_PIN, 1), 1);
        assert_eq!(io.cfg_read(1, 3, INTERRUPT_LINE, 1), 9);
    }

    #[test]
    fn function_0_header_type_announces_the_other_functions() {
        // Bit 7 of the header type of function 0 tells software to scan functions 1–7;
        // the absent ones answer with a master abort: vendor/device read 0xFFFFFFFF.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(1, 0, HEADER_TYPE, 1), 0x80);
        assert_eq!(io.cfg_read(1, 1, 0, 4), 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(1, 2, 0, 2), 0xFFFF);
        assert_eq!(io.cfg_read(2, 0, 0, 4), 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(0, 1, 0, 4), 0xFFFF_FFFF);
        // Another bus, or the enable bit clear: nothing answers.
        io.out(CONFIG_ADDRESS, 4, CONFIG_ENABLE | 1 << 16);
        assert_eq!(io.inp(CONFIG_DATA, 4), 0xFFFF_FFFF);
        io.out(CONFIG_ADDRESS, 4, 0);
        assert_eq!(io.inp(CONFIG_DATA, 4), 0xFFFF_FFFF);
        io.out(CONFIG_DATA, 4, 0);
        assert_eq!(io.cfg_read(0, 0, 0, 4), 0x1237_8086, "writes went nowhere");
    }

    #[test]
    fn data_port_serves_bytes_and_words_at_any_offset() {
        // CONFIG_DATA is four byte lanes: 0xCFC + n reaches byte n of the selected dword.
        let mut io = Io::new();
        io.addr(0, 0, 0);
        assert_eq!(io.inp(0xCFC, 1), 0x86);
        assert_eq!(io.inp(0xCFD, 1), 0x80);
        assert_eq!(io.inp(0xCFE, 1), 0x37);
        assert_eq!(io.inp(0xCFF, 1), 0x12);
        assert_eq!(io.inp(0xCFD, 2), 0x3780);
        assert_eq!(io.inp(0xCFE, 2), 0x1237);
        // A dword at 0xCFF: one data lane, the rest of the access reads as open bus.
        assert_eq!(io.inp(0xCFF, 4), 0xFFFF_FF12);
        // Byte writes to the PAM registers at 0x59–0x5F, through every lane.
        for reg in I440FX_PAM0..I440FX_PAM0 + 7 {
            io.cfg_write(0, 0, reg, 1, 0x30 + reg as u32);
        }
        assert_eq!(
            io.cfg_read(0, 0, 0x58, 4),
            0x8B8A_8900,
            "PAM0-2 written, DRAMT at 0x58 untouched"
        );
        assert_eq!(io.cfg_read(0, 0, 0x5C, 4), 0x8F8E_8D8C);
        assert_eq!(
            io.cfg_read(0, 0, I440FX_SMRAM, 1),
            0x02,
            "SMRAM resets to 0x02"
        );
        io.cfg_write(0, 0, I440FX_SMRAM, 1, 0x0A);
        assert_eq!(io.cfg_read(0, 0, I440FX_SMRAM, 1), 0x0A);
    }

    #[test]
    fn read_only_header_fields_ignore_writes() {
        // IDs, revision, class code and header type are hardwired.
        let mut io = Io::new();
        io.cfg_write(1, 0, 0, 4, 0);
        io.cfg_write(1, 0, 0x08, 4, 0);
        io.cfg_write(1, 0, HEADER_TYPE, 1, 0);
        assert_eq!(io.cfg_read(1, 0, 0, 4), 0x7000_8086);
        assert_eq!(io.cfg_read(1, 0, 0x08, 4), 0x0601_0000);
        assert_eq!(io.cfg_read(1, 0, HEADER_TYPE, 1), 0x80);
        // The interrupt line is software's scratch register; the pin is fixed.
        io.cfg_write(1, 3, INTERRUPT_LINE, 2, 0x0B0B);
        assert_eq!(io.cfg_read(1, 3, INTERRUPT_LINE, 2), 0x010B);
    }

    #[test]
    fn command_register_keeps_hardwired_bits() {
        // 82441FX: MAE and BME are hardwired to 1, PERRE/SERRE writable, the rest 0.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(0, 0, COMMAND, 2), 0x0006);
        io.cfg_write(0, 0, COMMAND, 2, 0xFFFF);
        assert_eq!(io.cfg_read(0, 0, COMMAND, 2), 0x0146);
        io.cfg_write(0, 0, COMMAND, 2, 0);
        assert_eq!(io.cfg_read(0, 0, COMMAND, 2), 0x0006);
        // PIIX3 function 0: I/O, memory and bus master always on.
        io.cfg_write(1, 0, COMMAND, 2, 0);
        assert_eq!(io.cfg_read(1, 0, COMMAND, 2), 0x0007);
        // PIIX4 function 3: only the I/O space enable.
        io.cfg_write(1, 3, COMMAND, 2, 0xFFFF);
        assert_eq!(io.cfg_read(1, 3, COMMAND, 2), 0x0001);
    }

    #[test]
    fn status_error_bits_are_write_one_to_clear() {
        // PCI 3.0 §6.2.3: writing 1 to an error bit clears it, writing 0 leaves it; the
        // DEVSEL timing and capability bits are read-only.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x0280);
        io.pci
            .function_mut(ISA_BRIDGE)
            .unwrap()
            .raise_status(STS_RCV_MASTER_ABORT | STS_SIG_TARGET_ABORT);
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x2A80);
        io.cfg_write(1, 0, STATUS, 2, 0);
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x2A80, "zeros leave them");
        io.cfg_write(1, 0, STATUS, 2, STS_RCV_MASTER_ABORT as u32 | 0x0280);
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x0A80);
        // A dword write to the command register with status bits 0 clears nothing.
        io.cfg_write(1, 0, COMMAND, 4, 0x0000_0007);
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x0A80);
        io.cfg_write(1, 0, STATUS, 1, 0xFF);
        io.cfg_write(1, 0, STATUS + 1, 1, 0xFF);
        assert_eq!(io.cfg_read(1, 0, STATUS, 2), 0x0280);
    }

    #[test]
    fn bars_size_by_writing_all_ones() {
        // PCI 3.0 §6.2.5.1: software writes all ones and reads back the size mask with the
        // type bits: a 16-byte I/O BAR reads 0xFFFFFFF1, a 4 KiB prefetchable memory BAR
        // 0xFFFFF008; then it writes the address it chose.
        let mut io = Io::new();
        let mut f = PciFunction::new(0x8086, 0x7010, 0x01_01_80, 0, 0, 0, CMD_IO | CMD_MASTER);
        f.set_bar(
            4,
            Bar {
                size: 16,
                io: true,
                prefetchable: false,
            },
        );
        f.set_bar(
            0,
            Bar {
                size: 4096,
                io: false,
                prefetchable: true,
            },
        );
        io.pci.add((1, 1), f);
        let bar4 = BAR0 + 16;
        assert_eq!(io.cfg_read(1, 1, bar4, 4), 0x0000_0001);
        io.cfg_write(1, 1, bar4, 4, 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(1, 1, bar4, 4), 0xFFFF_FFF1);
        io.cfg_write(1, 1, bar4, 4, 0xC000);
        assert_eq!(io.cfg_read(1, 1, bar4, 4), 0xC001);
        io.cfg_write(1, 1, BAR0, 4, 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(1, 1, BAR0, 4), 0xFFFF_F008);
        io.cfg_write(1, 1, BAR0, 4, 0xFEBF_0123);
        assert_eq!(io.cfg_read(1, 1, BAR0, 4), 0xFEBF_0008);
        // BARs a function does not implement read 0 after all ones.
        io.cfg_write(1, 1, BAR0 + 4, 4, 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(1, 1, BAR0 + 4, 4), 0);
        io.cfg_write(0, 0, BAR0, 4, 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(0, 0, BAR0, 4), 0, "the host bridge has no BARs");
    }

    #[test]
    fn piix3_pirq_routing_resets_disabled_and_follows_writes() {
        // PIRQRC\[A:D\] reset to 0x80 (routing disabled); bits 6:4 are reserved.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(1, 0, PIIX3_PIRQRC, 4), 0x8080_8080);
        assert_eq!(io.pci.pirq_route(0), None);
        io.cfg_write(1, 0, PIIX3_PIRQRC, 4, 0x0B0B_0A7A);
        assert_eq!(io.cfg_read(1, 0, PIIX3_PIRQRC, 4), 0x0B0B_0A0A);
        assert_eq!(io.pci.pirq_route(0), Some(10));
        assert_eq!(io.pci.pirq_route(3), Some(11));
        io.cfg_write(1, 0, PIIX3_PIRQRC + 1, 1, 0x02);
        assert_eq!(io.pci.pirq_route(1), None, "IRQ 2 is not routable");
        assert_eq!(
            io.cfg_read(1, 0, 0x4C, 4),
            0x0003_004D,
            "IORT and XBCS defaults"
        );
    }

    #[test]
    fn pm_io_space_follows_pmba_and_pmiose() {
        // PIIX4 §3.4: PMBA bits 15:6 place 64 bytes of PM I/O, bit 0 reads 1; nothing is
        // decoded until PMREGMISC.PMIOSE is set. A guest may move it.
        let mut io = Io::new();
        assert_eq!(io.cfg_read(1, 3, PIIX4_PMBA, 4), 0x0000_0001);
        assert_eq!(io.pci.pm_io_base(), None, "disabled at power-on");
        io.pci.bios_init(0x600);
        assert_eq!(io.cfg_read(1, 3, PIIX4_PMBA, 4), 0x0000_0601);
        assert_eq!(io.cfg_read(1, 3, PIIX4_PMREGMISC, 1), 1);
        assert_eq!(io.pci.pm_io_base(), Some(0x600));
        // Sizing PMBA as if it were a BAR: the 64-byte I/O granularity shows.
        io.cfg_write(1, 3, PIIX4_PMBA, 4, 0xFFFF_FFFF);
        assert_eq!(io.cfg_read(1, 3, PIIX4_PMBA, 4), 0x0000_FFC1);
        io.cfg_write(1, 3, PIIX4_PMBA, 4, 0xB000);
        assert_eq!(io.pci.pm_io_base(), Some(0xB000));
        io.cfg_write(1, 3, PIIX4_PMREGMISC, 1, 0);
        assert_eq!(io.pci.pm_io_base(), None);
        assert_eq!(io.cfg_read(1, 3, PIIX4_SMBBA, 4), 1, "SMBus base unset");
    }

    #[test]
    fn reset_control_resets_on_rising_rcpu() {
        // PIIX3 RCR at 0xCF9: a 0 -> 1 transition of bit 2 (RCPU) resets, of the kind bit
        // 1 (SRST) chooses. Linux writes 0x02 then 0x06; the FADT's reset register writes
        // 0x06 at once. Byte accesses at 0xCF9 do not disturb CONFIG_ADDRESS.
        let mut io = Io::new();
        io.out(CONFIG_ADDRESS, 4, 0x8000_0800);
        io.out(RESET_CONTROL, 1, 0x02);
        assert!(!io.pci.reset_requested());
        assert_eq!(io.inp(RESET_CONTROL, 1), 0x02);
        io.out(RESET_CONTROL, 1, 0x06);
        assert!(io.pci.reset_requested());
        assert_eq!(io.inp(CONFIG_ADDRESS, 4), 0x8000_0800);
        io.pci.clear_reset();
        assert!(!io.pci.reset_requested());
        assert_eq!(io.inp(RESET_CONTROL, 1), 0x02, "RCPU clears with the reset");
        io.out(RESET_CONTROL, 1, 0x06);
        assert!(io.pci.reset_requested(), "a new rising edge resets again");
        io.pci.clear_reset();
        // RCPU already set: no edge, no reset.
        io.pci.rcr = RCR_RCPU;
        io.out(RESET_CONTROL, 1, 0x04);
        assert!(!io.pci.reset_requested());
        // A word write at 0xCF8 reaches the 0xCF9 lane.
        io.out(RESET_CONTROL, 1, 0);
        io.out(CONFIG_ADDRESS, 2, 0x0600);
        assert!(io.pci.reset_requested());
        assert_eq!(io.inp(0xCFA, 1), 0xFF);
    }
}
