//! The board: which device answers which ports and MMIO ranges and drives which interrupt
//! line, written as tables that read like a schematic, and the [`Bus`] the CPU drives.

use crate::cpu::bus::ones;
use crate::cpu::{Bus, BusStatus};
use crate::dev::acpi_pm::{self, AcpiPm};
use crate::dev::bus::{DevCtx, Mmio, PortIo, Timed};
use crate::dev::debug::DebugPorts;
use crate::dev::fw_cfg::FwCfg;
use crate::dev::hpet::Hpet;
use crate::dev::i8042::I8042;
use crate::dev::ioapic::{DeliveryMode, IoApic};
use crate::dev::lapic::Lapic;
use crate::dev::pci::Pci;
use crate::dev::pic::Pic;
use crate::dev::pit::Pit;
use crate::dev::port92::Port92;
use crate::dev::rtc::Rtc;
use crate::dev::uart::Uart;
use crate::dev::vga::Vga;
use crate::mem::PhysMem;

use super::clock::{Clock, Timer};
use super::{Exit, MachineConfig};

/// Number of serial ports (COM1–COM4).
pub const SERIAL_PORTS: usize = 4;

/// The devices that answer port I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortDev {
    None,
    Pic,
    Pit,
    I8042,
    Rtc,
    Port92,
    Uart(u8),
    Debug,
    FwCfg,
    FpuClear,
    Vga,
    Pci,
    AcpiPm,
}

/// Port ranges (half-open) and the device that decodes them: the I/O map of the PC.
const PORT_MAP: &[(u16, u16, PortDev)] = &[
    (0x20, 0x22, PortDev::Pic),       // 8259A master
    (0x40, 0x44, PortDev::Pit),       // 8254 counters and control
    (0x60, 0x61, PortDev::I8042),     // keyboard controller data
    (0x61, 0x62, PortDev::Pit),       // system control port B (counter 2 gate, OUT2)
    (0x64, 0x65, PortDev::I8042),     // keyboard controller status/command
    (0x70, 0x72, PortDev::Rtc),       // MC146818 index (+NMI mask) and data
    (0x80, 0x81, PortDev::Debug),     // POST codes
    (0x92, 0x93, PortDev::Port92),    // system control port A (fast A20, reset)
    (0xA0, 0xA2, PortDev::Pic),       // 8259A slave
    (0xE9, 0xEA, PortDev::Debug),     // Bochs/QEMU debug console
    (0xF0, 0xF1, PortDev::FpuClear),  // clear the x87 error latch (IRQ 13, IGNNE#)
    (0xF4, 0xF8, PortDev::Debug),     // isa-debug-exit
    (0x2E8, 0x2F0, PortDev::Uart(3)), // COM4
    (0x2F8, 0x300, PortDev::Uart(1)), // COM2
    (0x3B4, 0x3B6, PortDev::Vga),     // VGA CRTC (monochrome addresses)
    (0x3BA, 0x3BB, PortDev::Vga),     // VGA input status 1 (monochrome)
    (0x3C0, 0x3D0, PortDev::Vga),     // VGA attribute, sequencer, DAC, graphics
    (0x3D4, 0x3D6, PortDev::Vga),     // VGA CRTC (colour addresses)
    (0x3DA, 0x3DB, PortDev::Vga),     // VGA input status 1 (colour)
    (0x3E8, 0x3F0, PortDev::Uart(2)), // COM3
    (0x3F8, 0x400, PortDev::Uart(0)), // COM1
    (0x4D0, 0x4D2, PortDev::Pic),     // ELCR (edge/level control)
    (0x510, 0x512, PortDev::FwCfg),   // fw_cfg selector and data
    (0x514, 0x51C, PortDev::FwCfg),   // fw_cfg DMA address
    (0xCF8, 0xD00, PortDev::Pci),     // PCI CONFIG_ADDRESS, PIIX3 reset control, CONFIG_DATA
];

/// Where the PIIX4's PM I/O space (the ACPI registers) starts: PMBA as firmware leaves it
/// and the FADT says (QEMU's value). It moves with PMBA: the board overlays it on
/// the port map wherever the guest puts it (never over the PCI configuration ports).
pub const PM_BASE: u16 = 0x600;

/// The I/O APIC's MMIO window.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;
/// The HPET's MMIO window.
pub const HPET_BASE: u64 = 0xFED0_0000;

/// ISA interrupt lines, as both the 8259 pair and the I/O APIC see them (IRQ 0 reaches the
/// I/O APIC on pin 2, as the MADT's interrupt source override will say).
mod irq {
    pub const PIT: u8 = 0;
    pub const KEYBOARD: u8 = 1;
    pub const COM2_4: u8 = 3;
    pub const COM1_3: u8 = 4;
    pub const RTC: u8 = 8;
    pub const FPU: u8 = 13;
    pub const MOUSE: u8 = 12;
    /// The ACPI SCI (level-triggered, active high; the MADT overrides its polarity).
    pub const SCI: u8 = 9;
}

/// The ISA IRQ of the ACPI SCI, as the FADT and MADT give it.
pub const SCI_IRQ: u8 = irq::SCI;

/// The I/O APIC pin of ISA IRQ `n`.
fn gsi(n: u8) -> usize {
    if n == 0 {
        2
    } else {
        n as usize
    }
}

/// The devices of the PC and their wiring.
pub struct Board {
    /// Debug console, isa-debug-exit, POST port.
    pub debug: DebugPorts,
    /// The 8259A pair.
    pub pic: Pic,
    /// The 8254 and port 0x61.
    pub pit: Pit,
    /// The MC146818 RTC and CMOS.
    pub rtc: Rtc,
    /// COM1–COM4.
    pub uarts: [Uart; SERIAL_PORTS],
    /// The i8042 with PS/2 keyboard and mouse.
    pub i8042: I8042,
    /// Port 0x92.
    pub port92: Port92,
    /// The local APIC.
    pub lapic: Lapic,
    /// The I/O APIC.
    pub ioapic: IoApic,
    /// The HPET.
    pub hpet: Hpet,
    /// QEMU's firmware configuration interface.
    pub fw_cfg: FwCfg,
    /// The VGA in text mode.
    pub vga: Vga,
    /// PCI configuration space: host bridge, ISA bridge, PM function; 0xCF9 reset.
    pub pci: Pci,
    /// The PIIX4's ACPI registers and PM timer.
    pub acpi_pm: AcpiPm,
    ports: Box<[PortDev]>,
    /// Where the PM I/O space is decoded now (PMBA with PMIOSE set).
    pm_base: Option<u16>,
    /// Virtual time of the access being served.
    now: u64,
    /// The A20 gate as last applied to guest memory.
    a20: bool,
    /// The A20 gate changed: the CPU must flush its TLB.
    a20_changed: bool,
    /// Stop the CPU at the next boundary when a timer falls due before this (the end of the
    /// slice the machine gave the CPU).
    slice_end: u64,
    /// A device's deadline moved before `slice_end`: the CPU must come back early.
    timer_moved: bool,
    /// The CPU's FERR# output (an x87 error signalled the legacy way), on IRQ 13.
    pub fpu_ferr: bool,
    /// A write to port 0xF0 asked to clear the x87 error (the CPU's IGNNE# input).
    pub fpu_clear: bool,
    /// The guest asked for a CPU reset (i8042 0xFE, port 0x92 bit 0, 0xCF9).
    reset: bool,
    /// The guest entered S5 through PM1a_CNT.
    power_off: bool,
}

impl Board {
    /// The standard board for `config`.
    pub fn new(config: &MachineConfig) -> Board {
        // No firmware runs before a direct boot: put the PM I/O space where the FADT says.
        let mut pci = Pci::new();
        pci.bios_init(PM_BASE);
        let pm_base = pci.pm_io_base();
        let mut rtc = Rtc::new(config.rtc_start);
        let (below, above) = super::layout::ram_split(config.memory);
        rtc.setup_pc(below, above);
        let mut pic = Pic::new();
        // A direct kernel boot has no BIOS to program the 8259s: leave them as one would.
        // Every line masked but the cascade (IRQ 2).
        pic.bios_init(!(1 << 2));
        let mut lapic = Lapic::new(0, true);
        // Likewise the local APIC: LINT0 as ExtINT and LINT1 as NMI (the "virtual wire").
        lapic.set_virtual_wire();
        let mut fw_cfg = FwCfg::new(1, config.memory);
        // The e820 table first, as QEMU does; a fresh board has no other files yet.
        let e820 = super::boot::E820Entry::table_bytes(&super::layout::e820_map(config.memory));
        let _ = fw_cfg.add_file("etc/e820", e820);
        Board {
            debug: DebugPorts::new(),
            pic,
            pit: Pit::new(),
            rtc,
            uarts: Default::default(),
            i8042: I8042::new(),
            port92: Port92::new(),
            lapic,
            ioapic: IoApic::new(),
            hpet: Hpet::new(),
            fw_cfg,
            vga: Vga::new(),
            pci,
            acpi_pm: AcpiPm::new(PM_BASE),
            ports: Board::ports(pm_base),
            pm_base,
            now: 0,
            a20: true,
            a20_changed: false,
            slice_end: u64::MAX,
            fpu_ferr: false,
            fpu_clear: false,
            timer_moved: false,
            reset: false,
            power_off: false,
        }
    }

    /// The port table: [`PORT_MAP`], and the PM I/O space at `pm_base` if it is decoded.
    fn ports(pm_base: Option<u16>) -> Box<[PortDev]> {
        let mut ports = vec![PortDev::None; 0x10000].into_boxed_slice();
        for &(start, end, dev) in PORT_MAP {
            for p in start..end {
                ports[p as usize] = dev;
            }
        }
        if let Some(base) = pm_base {
            for p in (base as usize..).take(acpi_pm::IO_SIZE as usize) {
                if let Some(slot) = ports.get_mut(p).filter(|d| **d != PortDev::Pci) {
                    *slot = PortDev::AcpiPm;
                }
            }
        }
        ports
    }

    /// Follows the guest moving (or disabling) the PM I/O space through PMBA/PMREGMISC.
    fn remap_pm(&mut self) {
        let base = self.pci.pm_io_base();
        if base != self.pm_base {
            self.pm_base = base;
            if let Some(b) = base {
                self.acpi_pm.set_base(b);
            }
            self.ports = Board::ports(base);
        }
    }

    /// Brings timed devices up to `now`, routes their interrupt lines, and records their
    /// next deadlines in `clock`.
    pub fn tick(&mut self, now: u64, clock: &mut Clock) {
        self.now = now;
        self.pit.tick(now);
        self.rtc.tick(now);
        self.lapic.tick(now);
        self.hpet.tick(now);
        for u in &mut self.uarts {
            u.tick(now);
        }
        self.i8042.tick(now);
        self.acpi_pm.tick(now);
        self.route();
        self.deadlines(clock);
    }

    /// Records every device's next deadline.
    fn deadlines(&self, clock: &mut Clock) {
        clock.set(Timer::Pit, self.pit.deadline());
        clock.set(Timer::Rtc, self.rtc.deadline());
        clock.set(Timer::Lapic, self.lapic.deadline());
        clock.set(Timer::Hpet, self.hpet.deadline());
        clock.set(
            Timer::Uart,
            self.uarts.iter().filter_map(|u| u.deadline()).min(),
        );
        clock.set(Timer::I8042, self.i8042.deadline());
        clock.set(Timer::Acpi, self.acpi_pm.deadline());
    }

    /// The earliest device deadline.
    fn earliest_deadline(&self) -> Option<u64> {
        let mut c = Clock::new();
        self.deadlines(&mut c);
        c.earliest()
    }

    /// Tells the board how far the CPU will run, so a device deadline that moves before it
    /// (the guest programming a timer) brings the CPU back in time.
    pub fn set_slice_end(&mut self, t: u64) {
        self.slice_end = t;
        self.timer_moved = false;
    }

    /// The schematic: samples every device's interrupt outputs and drives the 8259 pair, the
    /// I/O APIC and the local APIC's inputs with them.
    fn route(&mut self) {
        let now = self.now;
        let legacy = self.hpet.legacy();
        // HPET legacy replacement disconnects the PIT from IRQ 0 and the RTC from IRQ 8.
        let hpet_level = self.hpet.level_lines();
        let hpet_edges = self.hpet.take_edges();
        let pit = if legacy { false } else { self.pit.out(0, now) };
        let rtc = if legacy { false } else { self.rtc.irq() };
        let com1_3 = self.uarts[0].irq() || self.uarts[2].irq();
        let com2_4 = self.uarts[1].irq() || self.uarts[3].irq();
        let isa = [
            (irq::PIT, pit),
            (irq::KEYBOARD, self.i8042.irq1()),
            (irq::COM2_4, com2_4),
            (irq::COM1_3, com1_3),
            (irq::RTC, rtc),
            (irq::MOUSE, self.i8042.irq12()),
            (irq::FPU, self.fpu_ferr),
            (irq::SCI, self.acpi_pm.sci()),
        ];
        for (line, level) in isa {
            let hpet_pin = gsi(line);
            let hpet_lvl = hpet_level & (1 << hpet_pin) != 0;
            self.pic.set_irq(line, level || (legacy && hpet_lvl));
            self.ioapic.set_irq(hpet_pin, level || hpet_lvl);
        }
        // HPET pins that no ISA device shares (20–23), and edge pulses on any pin.
        for pin in 0..24usize {
            let bit = 1u32 << pin;
            let isa_pin = isa.iter().any(|&(l, _)| gsi(l) == pin);
            if !isa_pin && hpet_level & bit != 0 {
                self.ioapic.set_irq(pin, true);
            } else if !isa_pin {
                self.ioapic.set_irq(pin, false);
            }
            if hpet_edges & bit != 0 {
                if legacy && (pin == 2 || pin == 8) {
                    let line = if pin == 2 { 0 } else { 8 };
                    self.pic.set_irq(line, true);
                    self.pic.set_irq(line, false);
                }
                let held = isa.iter().any(|&(l, lv)| gsi(l) == pin && lv) || hpet_level & bit != 0;
                self.ioapic.set_irq(pin, true);
                self.ioapic.set_irq(pin, held);
            }
        }
        self.deliver_ioapic_messages();
        // The 8259's INT goes to LINT0 (ExtINT in virtual-wire mode).
        let int = self.pic.int_output();
        self.lapic.set_lint0(int);
        while let Some(v) = self.lapic.take_eoi() {
            self.ioapic.eoi(v);
        }
        // EOIs can redeliver level-triggered lines that are still asserted.
        self.deliver_ioapic_messages();
    }

    /// Hands the I/O APIC's interrupt messages to the local APIC they name.
    fn deliver_ioapic_messages(&mut self) {
        for d in self.ioapic.take_deliveries() {
            if !self.lapic.accepts(d.dest as u32, d.logical) {
                continue;
            }
            match d.mode {
                DeliveryMode::Fixed | DeliveryMode::LowestPriority => {
                    self.lapic.deliver(d.vector, d.level)
                }
                DeliveryMode::Nmi => self.lapic.deliver_nmi(),
                // SMI, INIT and ExtINT through the I/O APIC are not wired on this board: the
                // 8259 reaches the CPU through LINT0, and there is no SMM.
                DeliveryMode::Smi
                | DeliveryMode::Init
                | DeliveryMode::ExtInt
                | DeliveryMode::Reserved => {}
            }
        }
    }

    /// After a register access: route the lines, apply the A20 gate, notice resets, and
    /// check whether a device's deadline moved before the end of the CPU's slice.
    fn after_access(&mut self, mem: &mut PhysMem) {
        self.route();
        let a20 = self.i8042.a20() || self.port92.a20();
        if a20 != self.a20 {
            self.a20 = a20;
            self.a20_changed = true;
            mem.set_addr_mask(if a20 { u64::MAX } else { !(1 << 20) });
        }
        if self.i8042.reset_requested()
            || self.port92.reset_requested()
            || self.pci.reset_requested()
        {
            self.i8042.clear_reset();
            self.port92.clear_reset();
            self.pci.clear_reset();
            self.reset = true;
        }
        if self.acpi_pm.power_off_requested() {
            self.acpi_pm.clear_power_off();
            self.power_off = true;
        }
        // A deadline moved into the slice, or the slice's time ran out early (port I/O takes
        // virtual time beyond the instruction count the slice was sized by).
        if self.earliest_deadline().is_some_and(|d| d < self.slice_end)
            || self.now >= self.slice_end
        {
            self.timer_moved = true;
        }
    }

    /// Feeds host input to serial port `port`, as much as its receiver takes.
    pub fn serial_input(&mut self, port: usize, bytes: &[u8]) -> usize {
        let Some(u) = self.uarts.get_mut(port) else {
            return 0;
        };
        u.tick(self.now);
        let mut n = 0;
        for &b in bytes {
            if !u.can_receive() {
                break;
            }
            u.receive(b);
            n += 1;
        }
        self.route();
        n
    }

    /// Takes the bytes serial port `port` transmitted.
    pub fn serial_output(&mut self, port: usize) -> Vec<u8> {
        self.uarts
            .get_mut(port)
            .map(|u| u.take_output())
            .unwrap_or_default()
    }

    /// A request from the guest to end the run (isa-debug-exit, ACPI power-off, reset).
    pub fn exit_request(&self) -> Option<Exit> {
        if let Some(s) = self.debug.exit_status() {
            return Some(Exit::DebugExit(s));
        }
        if self.power_off {
            return Some(Exit::PowerOff);
        }
        self.reset.then_some(Exit::Reset)
    }

    fn port_dev(&self, port: u16) -> PortDev {
        self.ports[port as usize]
    }

    /// Whether the bytes of a `size`-byte access at `port` belong to more than one device
    /// (or to none past the first): the ISA bus then runs one byte cycle per port, each
    /// answered by the device at that port, instead of handing the device a wide access
    /// that it would fold back onto its own registers.
    fn spans_devices(&self, port: u16, size: u8) -> bool {
        let dev = self.port_dev(port);
        (1..size as u16).any(|i| self.port_dev(port.wrapping_add(i)) != dev)
    }

    /// One access to the device at `port`, all of whose bytes it decodes.
    fn port_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        let mut ctx = DevCtx { now: self.now, mem };
        match self.port_dev(port) {
            PortDev::Pic => self.pic.io_read(&mut ctx, port, size),
            PortDev::Pit => self.pit.io_read(&mut ctx, port, size),
            PortDev::I8042 => self.i8042.io_read(&mut ctx, port, size),
            PortDev::Rtc => self.rtc.io_read(&mut ctx, port, size),
            PortDev::Port92 => self.port92.io_read(&mut ctx, port, size),
            PortDev::Uart(i) => self.uarts[i as usize].io_read(&mut ctx, port, size),
            PortDev::Debug => self.debug.io_read(&mut ctx, port, size),
            PortDev::FwCfg => self.fw_cfg.io_read(&mut ctx, port, size),
            PortDev::FpuClear => ones(size) as u32,
            PortDev::Vga => self.vga.io_read(&mut ctx, port, size),
            PortDev::Pci => self.pci.io_read(&mut ctx, port, size),
            PortDev::AcpiPm => self.acpi_pm.io_read(&mut ctx, port, size),
            PortDev::None => ones(size) as u32,
        }
    }

    /// One access to the device at `port`, all of whose bytes it decodes.
    fn port_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        let mut ctx = DevCtx { now: self.now, mem };
        match self.port_dev(port) {
            PortDev::Pic => self.pic.io_write(&mut ctx, port, size, value),
            PortDev::Pit => self.pit.io_write(&mut ctx, port, size, value),
            PortDev::I8042 => self.i8042.io_write(&mut ctx, port, size, value),
            PortDev::Rtc => self.rtc.io_write(&mut ctx, port, size, value),
            PortDev::Port92 => self.port92.io_write(&mut ctx, port, size, value),
            PortDev::Uart(i) => self.uarts[i as usize].io_write(&mut ctx, port, size, value),
            PortDev::Debug => self.debug.io_write(&mut ctx, port, size, value),
            PortDev::FwCfg => self.fw_cfg.io_write(&mut ctx, port, size, value),
            PortDev::FpuClear => {
                // PC/AT: any write to 0xF0 drops IRQ 13 and asserts IGNNE# until FERR# falls.
                self.fpu_clear = true;
                self.fpu_ferr = false;
            }
            PortDev::Vga => self.vga.io_write(&mut ctx, port, size, value),
            PortDev::Pci => {
                self.pci.io_write(&mut ctx, port, size, value);
                self.remap_pm();
            }
            PortDev::AcpiPm => self.acpi_pm.io_write(&mut ctx, port, size, value),
            PortDev::None => {}
        }
    }
}

/// Virtual time an uncached access to a chipset register (HPET, I/O APIC, unclaimed MMIO)
/// takes: a round trip to the platform controller of about half a microsecond, as HPET reads
/// take on PC chipsets. Software measures it: Linux's HPET driver calibrates its minimum
/// comparator delta with a loop of counter reads and comparator writes lasting one
/// millisecond of HPET time, and would otherwise spin there a hundred thousand times.
pub const CHIPSET_MMIO_NS: u64 = 500;

impl Bus for Board {
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        let v = if self.spans_devices(port, size) {
            (0..size.min(4) as u16).fold(0, |v, i| {
                v | self.port_read(mem, port.wrapping_add(i), 1) << (8 * i)
            })
        } else {
            self.port_read(mem, port, size)
        };
        self.after_access(mem);
        v
    }

    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        if self.spans_devices(port, size) {
            for i in 0..size.min(4) as u16 {
                self.port_write(mem, port.wrapping_add(i), 1, value >> (8 * i) & 0xFF);
            }
        } else {
            self.port_write(mem, port, size, value);
        }
        self.after_access(mem);
    }

    fn mmio_read(&mut self, mem: &mut PhysMem, addr: u64, size: u8) -> u64 {
        let mut ctx = DevCtx { now: self.now, mem };
        let lapic = self.lapic.mmio_base();
        let v = if self.lapic.mmio_enabled() && (lapic..lapic + 0x1000).contains(&addr) {
            self.lapic.mmio_read(&mut ctx, addr - lapic, size)
        } else if (IOAPIC_BASE..IOAPIC_BASE + 0x1000).contains(&addr) {
            self.ioapic.mmio_read(&mut ctx, addr - IOAPIC_BASE, size)
        } else if (HPET_BASE..HPET_BASE + 0x400).contains(&addr) {
            self.hpet.mmio_read(&mut ctx, addr - HPET_BASE, size)
        } else {
            ones(size)
        };
        self.after_access(mem);
        v
    }

    fn mmio_write(&mut self, mem: &mut PhysMem, addr: u64, size: u8, value: u64) {
        let mut ctx = DevCtx { now: self.now, mem };
        let lapic = self.lapic.mmio_base();
        if self.lapic.mmio_enabled() && (lapic..lapic + 0x1000).contains(&addr) {
            self.lapic.mmio_write(&mut ctx, addr - lapic, size, value);
        } else if (IOAPIC_BASE..IOAPIC_BASE + 0x1000).contains(&addr) {
            self.ioapic
                .mmio_write(&mut ctx, addr - IOAPIC_BASE, size, value);
        } else if (HPET_BASE..HPET_BASE + 0x400).contains(&addr) {
            self.hpet
                .mmio_write(&mut ctx, addr - HPET_BASE, size, value);
        }
        self.after_access(mem);
    }

    fn mmio_latency_ns(&mut self, addr: u64) -> u64 {
        let lapic = self.lapic.mmio_base();
        if self.lapic.mmio_enabled() && (lapic..lapic + 0x1000).contains(&addr) {
            0
        } else {
            CHIPSET_MMIO_NS
        }
    }

    fn ack_interrupt(&mut self, mem: &mut PhysMem) -> Option<u8> {
        let v = if self.lapic.enabled() {
            if self.lapic.interrupt_pending() {
                Some(self.lapic.ack())
            } else if self.lapic.extint_pending() {
                Some(self.pic.ack())
            } else {
                None
            }
        } else if self.pic.int_output() {
            Some(self.pic.ack())
        } else {
            None
        };
        self.after_access(mem);
        v
    }

    fn status(&mut self) -> BusStatus {
        let mut s = BusStatus::empty();
        let intr = if self.lapic.enabled() {
            self.lapic.interrupt_pending() || self.lapic.extint_pending()
        } else {
            self.pic.int_output()
        };
        if intr {
            s |= BusStatus::INTR;
        }
        if self.lapic.take_nmi() {
            s |= BusStatus::NMI;
        }
        if std::mem::take(&mut self.a20_changed) {
            s |= BusStatus::A20;
        }
        if self.debug.exit_status().is_some()
            || self.reset
            || self.power_off
            || std::mem::take(&mut self.timer_moved)
        {
            s |= BusStatus::STOP;
        }
        s
    }

    fn sync_time(&mut self, now: u64) {
        self.now = now;
    }

    fn msr_read(&mut self, msr: u32) -> Option<u64> {
        match msr {
            0x1B => Some(self.lapic.apic_base()),
            0x6E0 => Some(self.lapic.tsc_deadline()),
            _ => self.lapic.msr_read(self.now, msr),
        }
    }

    fn msr_write(&mut self, msr: u32, value: u64) -> bool {
        let ok = match msr {
            0x1B => self.lapic.apic_base_write(value),
            0x6E0 => {
                self.lapic.set_tsc_deadline(value);
                true
            }
            _ => self.lapic.msr_write(self.now, msr, value),
        };
        self.route();
        if self.earliest_deadline().is_some_and(|d| d < self.slice_end) {
            self.timer_moved = true;
        }
        ok
    }
}
