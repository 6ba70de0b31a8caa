//! The bus the CPU drives for port I/O, MMIO and interrupt acknowledge: the cold path. RAM is
//! not on it; the CPU reaches RAM through its TLB's host pointers.

use crate::mem::PhysMem;

bitflags::bitflags! {
    /// What the bus tells the CPU after an access (polled, never pushed).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct BusStatus: u8 {
        /// The INTR line is asserted (a maskable interrupt is waiting for INTA).
        const INTR = 1 << 0;
        /// The NMI line saw an edge.
        const NMI = 1 << 1;
        /// The machine wants the CPU to stop at the next boundary (reset, power-off, exit).
        const STOP = 1 << 2;
        /// The physical address mask (A20 gate) changed: the CPU must flush its TLB.
        const A20 = 1 << 3;
        /// The CPU's INIT line was asserted.
        const INIT = 1 << 4;
    }
}

/// Port I/O, MMIO and interrupt acknowledge, as the machine (or a test) provides them.
///
/// Sizes are in bytes (1, 2, 4 or 8). Every method gets guest memory so that devices can DMA.
pub trait Bus {
    /// IN from `port`.
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32;
    /// OUT to `port`.
    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32);
    /// A read from a physical address that is not RAM or ROM.
    fn mmio_read(&mut self, mem: &mut PhysMem, addr: u64, size: u8) -> u64;
    /// A write to a physical address that is not RAM or ROM.
    fn mmio_write(&mut self, mem: &mut PhysMem, addr: u64, size: u8, value: u64);
    /// Virtual time (ns) an access to `addr` takes before the device sees it: the bus cycle
    /// to a chipset device (0 for registers inside the processor, such as the local APIC).
    fn mmio_latency_ns(&mut self, _addr: u64) -> u64 {
        0
    }
    /// The INTA cycle: the vector of the highest-priority pending interrupt, if any is still
    /// pending (a spurious one may vanish between INTR and INTA).
    fn ack_interrupt(&mut self, mem: &mut PhysMem) -> Option<u8>;
    /// The state of the lines the CPU samples.
    fn status(&mut self) -> BusStatus;
    /// Virtual time (ns) of the access that follows: the CPU calls this before every other
    /// bus method, so devices see exactly when an instruction touched them.
    fn sync_time(&mut self, _now: u64) {}
    /// RDMSR of an MSR the board implements (the local APIC's: IA32_APIC_BASE, the x2APIC
    /// range, IA32_TSC_DEADLINE), only asked when the CPU's `apic` is set. `None` is #GP(0).
    fn msr_read(&mut self, _msr: u32) -> Option<u64> {
        None
    }
    /// WRMSR of a board MSR (see [`Bus::msr_read`]); `false` is #GP(0).
    fn msr_write(&mut self, _msr: u32, _value: u64) -> bool {
        false
    }
}

/// A bus with nothing on it: ports and MMIO read all ones, writes vanish, no interrupts.
#[derive(Default, Debug)]
pub struct OpenBus;

impl Bus for OpenBus {
    fn io_read(&mut self, _: &mut PhysMem, _: u16, size: u8) -> u32 {
        ones(size) as u32
    }
    fn io_write(&mut self, _: &mut PhysMem, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: &mut PhysMem, _: u64, size: u8) -> u64 {
        ones(size)
    }
    fn mmio_write(&mut self, _: &mut PhysMem, _: u64, _: u8, _: u64) {}
    fn ack_interrupt(&mut self, _: &mut PhysMem) -> Option<u8> {
        None
    }
    fn status(&mut self) -> BusStatus {
        BusStatus::empty()
    }
}

/// All ones in `size` bytes.
pub fn ones(size: u8) -> u64 {
    // Clamped, so that no size can make the shift overflow.
    u64::MAX >> (64 - 8 * size.clamp(1, 8) as u32)
}

/// Where the CPU keeps the bus it was handed for one call of `run`.
///
/// Handlers get only `&mut Cpu`, so the bus borrowed by `Cpu::run` is parked here as a raw
/// pointer for the duration of that call and removed before it returns.
pub(crate) struct BusSlot {
    ptr: Option<std::ptr::NonNull<dyn Bus + 'static>>,
    open: OpenBus,
}

impl BusSlot {
    pub(crate) fn new() -> BusSlot {
        BusSlot {
            ptr: None,
            open: OpenBus,
        }
    }

    /// Parks `bus`; the caller must call [`BusSlot::detach`] before the borrow ends.
    pub(crate) fn attach(&mut self, bus: &mut dyn Bus) {
        // SAFETY: only the lifetime is erased. `Cpu::run` detaches before returning, so the
        // pointer is never used after the `&mut dyn Bus` borrow it came from has ended.
        let bus: &mut (dyn Bus + 'static) =
            unsafe { std::mem::transmute::<&mut dyn Bus, &mut (dyn Bus + 'static)>(bus) };
        self.ptr = Some(std::ptr::NonNull::from(bus));
    }

    pub(crate) fn detach(&mut self) {
        self.ptr = None;
    }

    /// The attached bus, told that the coming access happens at virtual time `now`.
    #[inline]
    pub(crate) fn at(&mut self, now: u64) -> &mut dyn Bus {
        let b = self.get();
        b.sync_time(now);
        b
    }

    /// The attached bus, or an open bus outside `run`.
    #[inline]
    pub(crate) fn get(&mut self) -> &mut dyn Bus {
        match self.ptr {
            // SAFETY: attached by `attach` from a live `&mut dyn Bus` that `run` holds for the
            // whole time the pointer is set; the CPU thread is the only user, and no other
            // reference to that bus exists while `run` executes.
            Some(mut p) => unsafe { p.as_mut() },
            None => &mut self.open,
        }
    }
}
