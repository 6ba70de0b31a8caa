//! Architectural state outside the hot register file: control registers, descriptor-table
//! registers, debug registers, the operating mode and the CPU model.

/// Indices into [`crate::cpu::Cpu::gpr`], in the encoding order of the manual.
pub mod reg {
    #![allow(missing_docs)]
    pub const RAX: u8 = 0;
    pub const RCX: u8 = 1;
    pub const RDX: u8 = 2;
    pub const RBX: u8 = 3;
    pub const RSP: u8 = 4;
    pub const RBP: u8 = 5;
    pub const RSI: u8 = 6;
    pub const RDI: u8 = 7;
    pub const R8: u8 = 8;
    pub const R9: u8 = 9;
    pub const R10: u8 = 10;
    pub const R11: u8 = 11;
    pub const R12: u8 = 12;
    pub const R13: u8 = 13;
    pub const R14: u8 = 14;
    pub const R15: u8 = 15;
    /// RIP lives in the register file so that RIP-relative addressing is `base + disp`.
    pub const RIP: u8 = 16;
    /// Always zero: the "no base / no index" register of an effective address.
    pub const ZERO: u8 = 17;
    /// Byte registers AH, CH, DH, BH are encoded as `HIGH8 | n` (n = 0..3) in byte operands.
    pub const HIGH8: u8 = 0x10;
}

/// Segment register indices, in the encoding order of the manual (SDM Vol. 2 Table 3-6).
pub mod sreg {
    #![allow(missing_docs)]
    pub const ES: u8 = 0;
    pub const CS: u8 = 1;
    pub const SS: u8 = 2;
    pub const DS: u8 = 3;
    pub const FS: u8 = 4;
    pub const GS: u8 = 5;
    /// Flag on a segment index in `Op::seg`: a 64-bit-mode access through ES, CS, SS or DS,
    /// whose base is 0 and whose limit is not checked (SDM Vol. 3A 3.2.4): the fast path
    /// goes straight to the TLB. Only the handlers whose decoders set it look at it; every
    /// other use masks the index with 7.
    pub const FLAT: u8 = 8;
    /// Names for messages.
    pub const NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];
}

bitflags::bitflags! {
    /// CR0 (SDM Vol. 3A 2.5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Cr0: u64 {
        /// Protection enable.
        const PE = 1 << 0;
        /// Monitor coprocessor.
        const MP = 1 << 1;
        /// x87 emulation: x87 instructions raise #NM.
        const EM = 1 << 2;
        /// Task switched: x87/SSE instructions raise #NM.
        const TS = 1 << 3;
        /// Extension type (hard-wired to 1 since the 486).
        const ET = 1 << 4;
        /// Numeric error: report x87 errors with #MF rather than FERR#.
        const NE = 1 << 5;
        /// Write protect: supervisor writes honour read-only pages.
        const WP = 1 << 16;
        /// Alignment mask: with EFLAGS.AC at CPL 3, misaligned accesses raise #AC.
        const AM = 1 << 18;
        /// Not write-through (cache control only).
        const NW = 1 << 29;
        /// Cache disable (cache control only).
        const CD = 1 << 30;
        /// Paging.
        const PG = 1 << 31;
    }
}

bitflags::bitflags! {
    /// CR4 (SDM Vol. 3A 2.5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Cr4: u64 {
        /// Virtual-8086 mode extensions.
        const VME = 1 << 0;
        /// Protected-mode virtual interrupts.
        const PVI = 1 << 1;
        /// RDTSC is privileged.
        const TSD = 1 << 2;
        /// Debugging extensions.
        const DE = 1 << 3;
        /// 4-MiB pages in 32-bit paging.
        const PSE = 1 << 4;
        /// Physical address extension.
        const PAE = 1 << 5;
        /// Machine-check enable.
        const MCE = 1 << 6;
        /// Global pages.
        const PGE = 1 << 7;
        /// RDPMC at any privilege.
        const PCE = 1 << 8;
        /// FXSAVE/FXRSTOR and SSE enabled by the OS.
        const OSFXSR = 1 << 9;
        /// Unmasked SIMD exceptions raise #XM.
        const OSXMMEXCPT = 1 << 10;
        /// UMIP: SGDT/SIDT/SLDT/SMSW/STR at CPL > 0 raise #GP.
        const UMIP = 1 << 11;
        /// RDFSBASE and friends enabled.
        const FSGSBASE = 1 << 16;
        /// Process-context identifiers.
        const PCIDE = 1 << 17;
        /// XSAVE and extended states enabled.
        const OSXSAVE = 1 << 18;
        /// Supervisor-mode execution prevention.
        const SMEP = 1 << 20;
        /// Supervisor-mode access prevention.
        const SMAP = 1 << 21;
    }
}

bitflags::bitflags! {
    /// IA32_EFER (SDM Vol. 3A 2.2.1).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Efer: u64 {
        /// SYSCALL/SYSRET enable.
        const SCE = 1 << 0;
        /// Long mode enable.
        const LME = 1 << 8;
        /// Long mode active (read-only to software).
        const LMA = 1 << 10;
        /// No-execute enable.
        const NXE = 1 << 11;
    }
}

/// The operating mode, derived from CR0.PE, EFLAGS.VM, EFER.LMA and CS.L.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Real-address mode (CR0.PE = 0).
    Real,
    /// Protected mode (legacy, 16- or 32-bit code).
    Protected,
    /// Virtual-8086 mode (protected mode with EFLAGS.VM = 1).
    V8086,
    /// IA-32e compatibility mode (EFER.LMA = 1, CS.L = 0).
    Compat,
    /// IA-32e 64-bit mode (EFER.LMA = 1, CS.L = 1).
    Long,
}

/// The CPU model: differences the 8086 and 80286 test vectors record, chosen at decode time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Intel 8086: 1 MiB wrap, opcode aliases, unmasked shift counts, PUSH SP quirk.
    I8086,
    /// Intel 80286 (real mode as recorded): 16 MiB bus, FLAGS bits 12–15 clear in real mode.
    I80286,
    /// The modern x86-64 model vx86 emulates by default.
    Modern,
}

/// A descriptor-table register (GDTR, IDTR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableReg {
    /// Linear base address.
    pub base: u64,
    /// Limit in bytes (the last valid offset).
    pub limit: u32,
}

/// The model-specific registers that vx86 keeps as plain storage.
#[derive(Clone, Debug, Default)]
pub struct Msrs {
    /// IA32_SYSENTER_CS.
    pub sysenter_cs: u64,
    /// IA32_SYSENTER_ESP.
    pub sysenter_esp: u64,
    /// IA32_SYSENTER_EIP.
    pub sysenter_eip: u64,
    /// IA32_STAR: SYSCALL/SYSRET selectors and the legacy SYSCALL EIP.
    pub star: u64,
    /// IA32_LSTAR: 64-bit SYSCALL target.
    pub lstar: u64,
    /// IA32_CSTAR: compatibility-mode SYSCALL target.
    pub cstar: u64,
    /// IA32_FMASK: RFLAGS bits cleared by SYSCALL.
    pub fmask: u64,
    /// IA32_KERNEL_GS_BASE: exchanged with GS.base by SWAPGS.
    pub kernel_gs_base: u64,
    /// IA32_TSC_AUX: returned by RDTSCP in ECX.
    pub tsc_aux: u64,
    /// IA32_PAT.
    pub pat: u64,
    /// IA32_MISC_ENABLE.
    pub misc_enable: u64,
    /// IA32_APIC_BASE.
    pub apic_base: u64,
    /// IA32_TSC_DEADLINE (the local APIC, in the machine, reads it).
    pub tsc_deadline: u64,
    /// IA32_MTRR_DEF_TYPE.
    pub mtrr_def_type: u64,
    /// The fixed-range MTRRs, in MSR order 0x250, 0x258, 0x259, 0x268..=0x26F.
    pub mtrr_fixed: [u64; 11],
    /// The variable-range MTRRs as (PHYSBASEn, PHYSMASKn).
    pub mtrr_var: [(u64, u64); 8],
}
