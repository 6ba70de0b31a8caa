//! CPUID: one coherent processor model (to be completed).

/// The processor signature (family/model/stepping) reported in EAX of leaf 1 and EDX at reset.
pub const SIGNATURE: u32 = 0x0006_06A6;

/// MAXPHYADDR: physical address bits (CPUID 0x80000008 EAX[7:0]).
pub const PHYS_ADDR_BITS: u32 = 40;
