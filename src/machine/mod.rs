//! The PC: one CPU, guest memory, the board's devices and the virtual clock, and the run loop
//! that moves them forward together. Host front ends talk to it through [`Host`].

pub mod acpi;
pub mod aml;
pub mod board;
pub mod boot;
pub mod clock;
pub mod layout;

use crate::cpu::{Cpu, Model, RunExit};
use crate::Error;
use board::Board;
use clock::Clock;

/// How to build a machine.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Guest RAM in bytes.
    pub memory: u64,
    /// The RTC's starting time, in seconds since the Unix epoch (UTC).
    pub rtc_start: u64,
    /// Stop after this many guest instructions.
    pub max_instructions: Option<u64>,
    /// Pace virtual time to the host clock (for interactive use).
    pub realtime: bool,
    /// Report POST codes written to port 0x80.
    pub trace_post: bool,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            memory: 128 << 20,
            rtc_start: 0,
            max_instructions: None,
            realtime: false,
            trace_post: false,
        }
    }
}

/// Why a machine stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest wrote `v` to isa-debug-exit; the status is `(v << 1) | 1`.
    DebugExit(u32),
    /// The guest powered the machine off (ACPI: SLP_TYP of `\_S5` with SLP_EN).
    PowerOff,
    /// The CPU halted with interrupts disabled and nothing can wake it.
    Halted,
    /// A triple fault shut the processor down.
    TripleFault,
    /// The instruction limit was reached.
    InstructionLimit,
    /// The host asked the machine to stop (Ctrl-C, a timeout).
    Stopped,
    /// The guest reset the CPU (keyboard controller 0xFE, port 0x92, the PIIX3's 0xCF9, which
    /// is also the FADT's reset register); the caller reboots or, like QEMU's `-no-reboot`,
    /// exits.
    Reset,
}

impl Exit {
    /// The process exit status QEMU users expect: 0 for a clean stop, `(v << 1) | 1` from
    /// isa-debug-exit, 3 for a triple fault or a limit.
    pub fn status(self) -> u8 {
        match self {
            Exit::DebugExit(s) => (s & 0xFF) as u8,
            Exit::PowerOff | Exit::Halted | Exit::Stopped | Exit::Reset => 0,
            Exit::TripleFault | Exit::InstructionLimit => 3,
        }
    }

    /// A one-line description for the user.
    pub fn describe(self) -> String {
        match self {
            Exit::DebugExit(s) => format!("guest exited through isa-debug-exit with status {s}"),
            Exit::PowerOff => "guest powered off".into(),
            Exit::Halted => "guest halted with interrupts disabled".into(),
            Exit::TripleFault => "triple fault: the processor shut down".into(),
            Exit::InstructionLimit => "instruction limit reached".into(),
            Exit::Stopped => "stopped by the host".into(),
            Exit::Reset => "guest reset the machine".into(),
        }
    }
}

/// The host side of a machine: where device output goes and whether to stop.
pub trait Host {
    /// Bytes the guest wrote to serial port `port` (0 = COM1).
    fn serial_out(&mut self, port: usize, bytes: &[u8]);
    /// Bytes the guest wrote to the 0xE9 debug console.
    fn debugcon_out(&mut self, bytes: &[u8]);
    /// POST codes written to port 0x80 (only with `trace_post`).
    fn post_code(&mut self, code: u8);
    /// Input for serial port `port`, if the host has any now.
    fn serial_in(&mut self, port: usize) -> Vec<u8>;
    /// Whether the host wants the machine to stop (Ctrl-C).
    fn stop_requested(&mut self) -> bool;
    /// Whether a person may type input at any moment (an interactive terminal): then a guest
    /// that halts with nothing armed waits for input instead of ending the run.
    fn interactive(&self) -> bool {
        false
    }
    /// Whether the host wants a new frame of the screen now (it decides its own rate).
    fn display_due(&mut self) -> bool {
        false
    }
    /// A frame of the VGA text screen.
    fn display(&mut self, _frame: &crate::dev::vga::TextFrame) {}
}

/// Instructions per run slice when no timer is due sooner: bounds how late host input and
/// stop requests are noticed.
const SLICE: u64 = 1 << 20;

/// A PC.
pub struct Machine {
    /// The processor (it owns guest memory).
    pub cpu: Cpu,
    /// The devices.
    pub board: Board,
    /// Virtual time.
    pub clock: Clock,
    config: MachineConfig,
    /// Host input each serial port's receiver has not taken yet: a pasted line is longer
    /// than the 16-byte FIFO, and it goes in as the guest drains the FIFO (QEMU's chardev
    /// backends wait for the UART the same way) instead of overrunning it.
    serial_pending: [std::collections::VecDeque<u8>; board::SERIAL_PORTS],
}

impl Machine {
    /// Builds a machine with `config.memory` bytes of RAM and the standard board.
    pub fn new(config: MachineConfig) -> Result<Machine, Error> {
        let mem = layout::memory(config.memory)?;
        let mut cpu = Cpu::new(Model::Modern, mem);
        // The board has a local APIC: its MSRs go to it, and CPUID says so.
        cpu.apic = true;
        let board = Board::new(&config);
        Ok(Machine {
            cpu,
            board,
            clock: Clock::new(),
            config,
            serial_pending: Default::default(),
        })
    }

    /// Loads `kernel` (multiboot 1/2, ELF or Linux bzImage, detected from its contents) as
    /// QEMU's `-kernel` does and puts the CPU at its entry point. The ACPI tables go to the
    /// BIOS area first; the loader passes their RSDP on (boot_params.acpi_rsdp_addr, the
    /// multiboot 2 ACPI tags).
    pub fn boot(
        &mut self,
        kernel: &std::path::Path,
        bytes: &[u8],
        opts: &boot::BootOptions,
    ) -> Result<boot::BootPlan, Error> {
        let e820 = layout::e820_map(self.config.memory);
        let tables = self.acpi_config();
        let rsdp = acpi::install(&mut self.cpu.mem, &tables)?;
        let mut env = boot::BootEnv {
            mem: &mut self.cpu.mem,
            e820: &e820,
            acpi_rsdp: Some(rsdp),
            framebuffer: None,
        };
        let plan = boot::load(&mut env, kernel, bytes, opts)?;
        plan.apply(&mut self.cpu);
        if !opts.cmdline.is_empty() {
            // Firmware-style consumers find the command line in fw_cfg too.
            self.board.fw_cfg.set_cmdline(0, &opts.cmdline);
        }
        Ok(plan)
    }

    /// What the ACPI tables describe: this board's addresses, the PM I/O space where it is
    /// now, and the PCI hole above RAM.
    pub fn acpi_config(&self) -> acpi::AcpiConfig {
        acpi::AcpiConfig {
            low_ram_end: layout::ram_split(self.config.memory).0,
            pm_base: self.board.pci.pm_io_base().unwrap_or(board::PM_BASE),
            sci_irq: board::SCI_IRQ,
            lapic_base: crate::dev::lapic::DEFAULT_BASE,
            ioapic_base: board::IOAPIC_BASE,
            hpet_base: board::HPET_BASE,
            hpet_block_id: crate::dev::hpet::CAPABILITIES as u32,
        }
    }

    /// Virtual time now (ns).
    pub fn now(&self) -> u64 {
        self.cpu.now()
    }

    /// Runs until the guest or the host stops the machine.
    pub fn run(&mut self, host: &mut dyn Host) -> Exit {
        let start = std::time::Instant::now();
        loop {
            if host.stop_requested() {
                return Exit::Stopped;
            }
            self.feed_serial_input(host);
            let now = self.now();
            self.board.tick(now, &mut self.clock);
            let mut budget = SLICE;
            if let Some(d) = self.clock.earliest() {
                budget = budget.min(clock::instructions_until(now, d));
            }
            if let Some(max) = self.config.max_instructions {
                if self.cpu.icount >= max {
                    self.flush_output(host);
                    return Exit::InstructionLimit;
                }
                budget = budget.min(max - self.cpu.icount);
            }
            self.board.set_slice_end(now + budget);
            let exit = self.cpu.run(&mut self.board, budget);
            self.flush_output(host);
            if let Some(e) = self.board.exit_request() {
                return e;
            }
            match exit {
                RunExit::Budget | RunExit::Stopped => {}
                RunExit::Shutdown => return Exit::TripleFault,
                RunExit::Halted => {
                    if !self.cpu.flags.has(crate::cpu::flags::bit::IF) && !self.cpu.nmi_pending {
                        return Exit::Halted;
                    }
                    // Nothing to do until the next timer: skip virtual time to it. The guest
                    // may have armed a timer during the slice without cutting it short (its
                    // deadline lay beyond the slice's end): take the deadlines afresh.
                    self.board.tick(self.now(), &mut self.clock);
                    match self.clock.earliest() {
                        Some(d) => {
                            if self.config.realtime {
                                self.pace(start, d);
                            }
                            // The TSC follows: it is derived from the same virtual time.
                            self.cpu.idle_ns += d.saturating_sub(self.cpu.now());
                        }
                        None => {
                            // No timer can wake the CPU; only host input could.
                            if !self.config.realtime && !host.interactive() {
                                return Exit::Halted;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                    }
                }
            }
            if self.config.realtime {
                let now = self.now();
                self.pace(start, now);
            }
        }
    }

    /// Passes host input to the serial ports, as much as each receiver takes now; the rest
    /// waits for the next slice.
    fn feed_serial_input(&mut self, host: &mut dyn Host) {
        for port in 0..board::SERIAL_PORTS {
            let pending = &mut self.serial_pending[port];
            pending.extend(host.serial_in(port));
            if pending.is_empty() {
                continue;
            }
            let taken = self.board.serial_input(port, pending.make_contiguous());
            pending.drain(..taken);
        }
    }

    /// Sleeps until the host clock catches up with virtual time `t` (realtime mode).
    fn pace(&self, start: std::time::Instant, t: u64) {
        let host_ns = start.elapsed().as_nanos() as u64;
        if t > host_ns {
            std::thread::sleep(std::time::Duration::from_nanos(
                (t - host_ns).min(50_000_000),
            ));
        }
    }

    fn flush_output(&mut self, host: &mut dyn Host) {
        if host.display_due() {
            use crate::dev::vga::{TEXT_BASE, TEXT_SIZE};
            if let Some(text) = self.cpu.mem.ram_slice(TEXT_BASE, TEXT_SIZE) {
                if let Some(frame) = self.board.vga.frame(text) {
                    host.display(&frame);
                }
            }
        }
        let con = self.board.debug.take_console();
        if !con.is_empty() {
            host.debugcon_out(&con);
        }
        for code in self.board.debug.take_post() {
            if self.config.trace_post {
                host.post_code(code);
            }
        }
        for port in 0..board::SERIAL_PORTS {
            let out = self.board.serial_output(port);
            if !out.is_empty() {
                host.serial_out(port, &out);
            }
        }
    }
}
