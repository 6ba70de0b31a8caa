//! CPUID: the one processor model vx86 presents (SDM Vol. 2A CPUID).
//!
//! vx86 is a "GenuineIntel" family-6 x86-64 processor that runs under a hypervisor named
//! "vx86". It claims exactly what vx86 implements: the feature flags are named constants
//! ([`Feature`]) gathered in one table ([`CLAIMED`]), so that the rest of the emulator asks
//! [`features()`] instead of repeating bit numbers, and CR4/EFER reserved bits follow from it.
//! Not claimed (yet): AVX, the local APIC, machine checks, MONITOR/MWAIT,
//! RDRAND/RDSEED and VME (whose PUSHF/POPF/INT/IRET rules live elsewhere).

use super::state::{Cr4, Efer, Mode};
use super::Cpu;

/// The processor signature (family/model/stepping) reported in EAX of leaf 1 and EDX at reset:
/// family 6, model 0x6A, stepping 6.
pub const SIGNATURE: u32 = 0x0006_06A6;

/// MAXPHYADDR: physical address bits (CPUID 0x80000008 EAX[7:0]).
pub const PHYS_ADDR_BITS: u32 = 40;

/// Linear address bits (CPUID 0x80000008 EAX[15:8]): 4-level paging.
pub const LIN_ADDR_BITS: u32 = 48;

/// The vendor string of leaf 0 (EBX, EDX, ECX in that order).
pub const VENDOR: &[u8; 12] = b"GenuineIntel";

/// The hypervisor signature of leaf 0x40000000 (EBX, ECX, EDX in that order).
pub const HYPERVISOR: &[u8; 12] = b"vx86vx86vx86";

/// The brand string of leaves 0x80000002–0x80000004 (NUL-padded to 48 bytes).
pub const BRAND: &str = "vx86 virtual x86-64 processor";

/// The microcode revision IA32_BIOS_SIGN_ID reports in bits 63:32.
pub const MICROCODE_REVISION: u32 = 1;

/// The highest extended leaf.
pub const MAX_EXTENDED_LEAF: u32 = 0x8000_0008;

/// The highest hypervisor leaf.
pub const MAX_HYPERVISOR_LEAF: u32 = 0x4000_0000;

/// Which CPUID output register a feature flag lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Word {
    /// CPUID.01H:ECX.
    Leaf1Ecx = 0,
    /// CPUID.01H:EDX.
    Leaf1Edx = 1,
    /// CPUID.(EAX=07H,ECX=0):EBX.
    Leaf7Ebx = 2,
    /// CPUID.(EAX=07H,ECX=0):ECX.
    Leaf7Ecx = 3,
    /// CPUID.(EAX=07H,ECX=0):EDX.
    Leaf7Edx = 4,
    /// CPUID.80000001H:ECX.
    Ext1Ecx = 5,
    /// CPUID.80000001H:EDX.
    Ext1Edx = 6,
    /// CPUID.80000007H:EDX.
    Ext7Edx = 7,
}

const WORDS: usize = 8;

/// One feature flag: the register it is reported in and its bit (SDM Vol. 2A Tables 3-8,
/// 3-10 and the CPUID leaf descriptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The register.
    pub word: Word,
    /// The bit in it.
    pub bit: u8,
}

macro_rules! features {
    ($($(#[$doc:meta])* $name:ident = $word:ident, $bit:expr;)*) => {
        impl Feature {
            $($(#[$doc])* pub const $name: Feature = Feature { word: Word::$word, bit: $bit };)*
        }
    };
}

features! {
    /// x87 FPU on chip.
    FPU = Leaf1Edx, 0;
    /// Virtual-8086 mode enhancements (CR4.VME, CR4.PVI).
    VME = Leaf1Edx, 1;
    /// Debugging extensions (CR4.DE: DR4/DR5 raise #UD).
    DE = Leaf1Edx, 2;
    /// 4-MiB pages (CR4.PSE).
    PSE = Leaf1Edx, 3;
    /// RDTSC and CR4.TSD.
    TSC = Leaf1Edx, 4;
    /// RDMSR/WRMSR.
    MSR = Leaf1Edx, 5;
    /// Physical address extension.
    PAE = Leaf1Edx, 6;
    /// Machine-check exception (CR4.MCE).
    MCE = Leaf1Edx, 7;
    /// CMPXCHG8B.
    CX8 = Leaf1Edx, 8;
    /// An enabled local APIC.
    APIC = Leaf1Edx, 9;
    /// SYSENTER/SYSEXIT.
    SEP = Leaf1Edx, 11;
    /// Memory-type range registers.
    MTRR = Leaf1Edx, 12;
    /// Global pages (CR4.PGE).
    PGE = Leaf1Edx, 13;
    /// Machine-check architecture.
    MCA = Leaf1Edx, 14;
    /// CMOVcc.
    CMOV = Leaf1Edx, 15;
    /// Page attribute table.
    PAT = Leaf1Edx, 16;
    /// 36-bit (here: 40-bit) physical addresses in 4-MiB pages.
    PSE36 = Leaf1Edx, 17;
    /// CLFLUSH.
    CLFSH = Leaf1Edx, 19;
    /// MMX.
    MMX = Leaf1Edx, 23;
    /// FXSAVE/FXRSTOR (CR4.OSFXSR).
    FXSR = Leaf1Edx, 24;
    /// SSE.
    SSE = Leaf1Edx, 25;
    /// SSE2.
    SSE2 = Leaf1Edx, 26;
    /// More than one logical processor per package.
    HTT = Leaf1Edx, 28;
    /// SSE3.
    SSE3 = Leaf1Ecx, 0;
    /// PCLMULQDQ.
    PCLMULQDQ = Leaf1Ecx, 1;
    /// MONITOR/MWAIT.
    MONITOR = Leaf1Ecx, 3;
    /// VMX.
    VMX = Leaf1Ecx, 5;
    /// SSSE3.
    SSSE3 = Leaf1Ecx, 9;
    /// CMPXCHG16B.
    CX16 = Leaf1Ecx, 13;
    /// Process-context identifiers (CR4.PCIDE).
    PCID = Leaf1Ecx, 17;
    /// SSE4.1.
    SSE4_1 = Leaf1Ecx, 19;
    /// SSE4.2.
    SSE4_2 = Leaf1Ecx, 20;
    /// x2APIC.
    X2APIC = Leaf1Ecx, 21;
    /// MOVBE.
    MOVBE = Leaf1Ecx, 22;
    /// POPCNT.
    POPCNT = Leaf1Ecx, 23;
    /// The local APIC timer's TSC-deadline mode (IA32_TSC_DEADLINE).
    TSC_DEADLINE = Leaf1Ecx, 24;
    /// XSAVE/XRSTOR, XGETBV/XSETBV.
    XSAVE = Leaf1Ecx, 26;
    /// CR4.OSXSAVE as set by the OS (reported from CR4, never claimed statically).
    OSXSAVE = Leaf1Ecx, 27;
    /// AVX.
    AVX = Leaf1Ecx, 28;
    /// RDRAND.
    RDRAND = Leaf1Ecx, 30;
    /// Running under a hypervisor (leaf 0x40000000 is valid).
    HYPERVISOR = Leaf1Ecx, 31;
    /// RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE (CR4.FSGSBASE).
    FSGSBASE = Leaf7Ebx, 0;
    /// IA32_TSC_ADJUST.
    TSC_ADJUST = Leaf7Ebx, 1;
    /// BMI1: ANDN, BEXTR, BLSI, BLSMSK, BLSR, TZCNT.
    BMI1 = Leaf7Ebx, 3;
    /// AVX2.
    AVX2 = Leaf7Ebx, 5;
    /// Supervisor-mode execution prevention (CR4.SMEP).
    SMEP = Leaf7Ebx, 7;
    /// BMI2: BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX.
    BMI2 = Leaf7Ebx, 8;
    /// Enhanced REP MOVSB/STOSB.
    ERMS = Leaf7Ebx, 9;
    /// INVPCID.
    INVPCID = Leaf7Ebx, 10;
    /// RDSEED.
    RDSEED = Leaf7Ebx, 18;
    /// ADCX/ADOX.
    ADX = Leaf7Ebx, 19;
    /// Supervisor-mode access prevention (CR4.SMAP, CLAC/STAC).
    SMAP = Leaf7Ebx, 20;
    /// CLFLUSHOPT.
    CLFLUSHOPT = Leaf7Ebx, 23;
    /// User-mode instruction prevention (CR4.UMIP).
    UMIP = Leaf7Ecx, 2;
    /// 5-level paging (CR4.LA57).
    LA57 = Leaf7Ecx, 16;
    /// RDPID.
    RDPID = Leaf7Ecx, 22;
    /// IA32_ARCH_CAPABILITIES.
    ARCH_CAPABILITIES = Leaf7Edx, 29;
    /// LAHF/SAHF in 64-bit mode.
    LAHF_LM = Ext1Ecx, 0;
    /// LZCNT (Intel calls it LZCNT, AMD ABM).
    LZCNT = Ext1Ecx, 5;
    /// PREFETCHW.
    PREFETCHW = Ext1Ecx, 8;
    /// SYSCALL/SYSRET (in 64-bit mode on Intel processors).
    SYSCALL = Ext1Edx, 11;
    /// Execute-disable (EFER.NXE).
    NX = Ext1Edx, 20;
    /// 1-GiB pages.
    PAGE1GB = Ext1Edx, 26;
    /// RDTSCP and IA32_TSC_AUX.
    RDTSCP = Ext1Edx, 27;
    /// Intel 64 architecture (EFER.LME).
    LM = Ext1Edx, 29;
    /// The TSC runs at a constant rate in every state.
    INVARIANT_TSC = Ext7Edx, 8;
}

/// Every feature vx86 claims, and nothing else.
pub const CLAIMED: &[Feature] = &[
    Feature::FPU,
    Feature::DE,
    Feature::PSE,
    Feature::TSC,
    Feature::MSR,
    Feature::PAE,
    Feature::CX8,
    Feature::SEP,
    Feature::MTRR,
    Feature::PGE,
    Feature::CMOV,
    Feature::PAT,
    Feature::PSE36,
    Feature::CLFSH,
    Feature::MMX,
    Feature::FXSR,
    Feature::SSE,
    Feature::SSE2,
    Feature::SSE3,
    Feature::PCLMULQDQ,
    Feature::SSSE3,
    Feature::SSE4_1,
    Feature::SSE4_2,
    Feature::XSAVE,
    Feature::CLFLUSHOPT,
    Feature::CX16,
    Feature::PCID,
    Feature::MOVBE,
    Feature::POPCNT,
    Feature::HYPERVISOR,
    Feature::FSGSBASE,
    Feature::BMI1,
    Feature::SMEP,
    Feature::BMI2,
    Feature::INVPCID,
    Feature::ADX,
    Feature::SMAP,
    Feature::UMIP,
    Feature::RDPID,
    Feature::ARCH_CAPABILITIES,
    Feature::LAHF_LM,
    Feature::LZCNT,
    Feature::PREFETCHW,
    Feature::SYSCALL,
    Feature::NX,
    Feature::PAGE1GB,
    Feature::RDTSCP,
    Feature::LM,
    Feature::INVARIANT_TSC,
];

/// The feature words of the model: one `u32` per [`Word`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    words: [u32; WORDS],
}

impl Features {
    /// The words with exactly the features in `list` set.
    pub const fn of(list: &[Feature]) -> Features {
        let mut words = [0u32; WORDS];
        let mut i = 0;
        while i < list.len() {
            words[list[i].word as usize] |= 1 << list[i].bit;
            i += 1;
        }
        Features { words }
    }

    /// Whether the model claims `f`.
    #[inline(always)]
    pub const fn has(&self, f: Feature) -> bool {
        self.words[f.word as usize] & (1 << f.bit) != 0
    }

    /// The claimed bits of one register.
    pub const fn word(&self, w: Word) -> u32 {
        self.words[w as usize]
    }
}

const FEATURES: Features = Features::of(CLAIMED);

/// The features vx86 claims (a constant: tests on it fold away at compile time).
#[inline(always)]
pub const fn features() -> Features {
    FEATURES
}

/// Whether the model claims `f` (shorthand for `features().has(f)`).
#[inline(always)]
pub const fn has(f: Feature) -> bool {
    FEATURES.has(f)
}

/// The CR4 bits the claimed features make writable; the others are reserved and setting one
/// raises #GP(0) (SDM Vol. 3A 2.5). TSD and PCE exist on every processor with a TSC.
pub const fn cr4_valid() -> Cr4 {
    let pairs: [(bool, Cr4); 14] = [
        (has(Feature::VME), Cr4::VME.union(Cr4::PVI)),
        (has(Feature::TSC), Cr4::TSD),
        (has(Feature::DE), Cr4::DE),
        (has(Feature::PSE), Cr4::PSE),
        (has(Feature::PAE), Cr4::PAE),
        (has(Feature::MCE), Cr4::MCE),
        (has(Feature::PGE), Cr4::PGE),
        (true, Cr4::PCE),
        (has(Feature::FXSR), Cr4::OSFXSR.union(Cr4::OSXMMEXCPT)),
        (has(Feature::UMIP), Cr4::UMIP),
        (has(Feature::FSGSBASE), Cr4::FSGSBASE),
        (has(Feature::PCID), Cr4::PCIDE),
        (has(Feature::XSAVE), Cr4::OSXSAVE),
        (
            has(Feature::SMEP),
            Cr4::SMEP.union(if has(Feature::SMAP) {
                Cr4::SMAP
            } else {
                Cr4::empty()
            }),
        ),
    ];
    let mut m = Cr4::empty();
    let mut i = 0;
    while i < pairs.len() {
        if pairs[i].0 {
            m = m.union(pairs[i].1);
        }
        i += 1;
    }
    m
}

/// The IA32_EFER bits the claimed features define (SDM Vol. 3A 2.2.1); LMA among them,
/// though software cannot change it.
pub const fn efer_valid() -> Efer {
    let mut m = Efer::empty();
    if has(Feature::SYSCALL) {
        m = m.union(Efer::SCE);
    }
    if has(Feature::LM) {
        m = m.union(Efer::LME).union(Efer::LMA);
    }
    if has(Feature::NX) {
        m = m.union(Efer::NXE);
    }
    m
}

/// The highest basic leaf: 0xD once XSAVE is claimed (its leaf describes the state
/// components), 0xB until then.
pub const fn max_basic_leaf() -> u32 {
    if has(Feature::XSAVE) {
        0xD
    } else {
        0xB
    }
}

/// IA32_MISC_ENABLE bit 22: CPUID leaf 0 reports a maximum of 2.
pub const MISC_ENABLE_LIMIT_CPUID: u64 = 1 << 22;
/// IA32_MISC_ENABLE bit 34: the execute-disable feature is hidden and EFER.NXE reserved.
pub const MISC_ENABLE_XD_DISABLE: u64 = 1 << 34;

/// Four bytes of a string as a register value (little-endian, as CPUID returns text).
fn text(s: &[u8], at: usize) -> u32 {
    let b = |i: usize| s.get(at + i).map_or(0, |&c| c as u32);
    b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24
}

/// One cache of leaf 4: (type, level, line size, ways, total size in bytes).
const CACHES: [(u32, u32, u32, u32, u32); 3] = [
    (1, 1, 64, 8, 32 << 10), // L1 data, 32 KiB, 8-way
    (2, 1, 64, 8, 32 << 10), // L1 instruction, 32 KiB, 8-way
    (3, 2, 64, 16, 1 << 20), // L2 unified, 1 MiB, 16-way
];

/// CPUID with EAX = `leaf` and ECX = `subleaf`, as [EAX, EBX, ECX, EDX]. A few bits follow
/// the processor's state (CR4.OSXSAVE, IA32_MISC_ENABLE, the mode for SYSCALL).
pub fn query(cpu: &Cpu, leaf: u32, subleaf: u32) -> [u32; 4] {
    let f = features();
    let misc = cpu.msr.misc_enable;
    let max_basic = if misc & MISC_ENABLE_LIMIT_CPUID != 0 {
        2
    } else {
        max_basic_leaf()
    };
    match leaf {
        0 => [max_basic, text(VENDOR, 0), text(VENDOR, 8), text(VENDOR, 4)],
        1 => {
            // EBX: CLFLUSH line size 8 quadwords, one logical processor, initial APIC ID 0.
            let ebx = 8 << 8 | 1 << 16;
            let mut ecx = f.word(Word::Leaf1Ecx);
            if cpu.cr4.contains(Cr4::OSXSAVE) {
                ecx |= 1 << Feature::OSXSAVE.bit;
            }
            let mut edx = f.word(Word::Leaf1Edx);
            if cpu.apic {
                // The board's local APIC (its MSRs are forwarded to it, see `Cpu::apic`).
                edx |= 1 << Feature::APIC.bit;
                ecx |= 1 << Feature::X2APIC.bit | 1 << Feature::TSC_DEADLINE.bit;
            }
            // The APIC flag reads 0 while IA32_APIC_BASE.EN is clear (SDM Vol. 3A 11.4.3).
            if cpu.msr.apic_base & (1 << 11) == 0 {
                edx &= !(1 << Feature::APIC.bit);
            }
            [SIGNATURE, ebx, ecx, edx]
        }
        // One iteration; descriptor 0xFF: "use leaf 4 for the caches".
        2 => [0x0000_FF01, 0, 0, 0],
        4 if leaf <= max_basic => match CACHES.get(subleaf as usize) {
            Some(&(kind, level, line, ways, size)) => {
                let sets = size / (line * ways);
                [
                    kind | level << 5 | 1 << 8,
                    (line - 1) | (ways - 1) << 22,
                    sets - 1,
                    0,
                ]
            }
            None => [0; 4],
        },
        7 if leaf <= max_basic => match subleaf {
            0 => [
                0,
                f.word(Word::Leaf7Ebx),
                f.word(Word::Leaf7Ecx),
                f.word(Word::Leaf7Edx),
            ],
            _ => [0; 4],
        },
        // Topology: one thread per core, one core per package; x2APIC ID 0.
        0xB if leaf <= max_basic => match subleaf {
            0 => [0, 1, 1 << 8, 0],
            1 => [0, 1, 2 << 8 | 1, 0],
            n => [0, 0, n & 0xFF, 0],
        },
        0xD if leaf <= max_basic => xsave_leaf(cpu, subleaf),
        3..=0xC if leaf <= max_basic => [0; 4],
        MAX_HYPERVISOR_LEAF => [
            MAX_HYPERVISOR_LEAF,
            text(HYPERVISOR, 0),
            text(HYPERVISOR, 4),
            text(HYPERVISOR, 8),
        ],
        0x8000_0000 => [MAX_EXTENDED_LEAF, 0, 0, 0],
        0x8000_0001 => {
            let mut edx = f.word(Word::Ext1Edx);
            // Intel processors report SYSCALL only in 64-bit mode (SDM Vol. 2A Table 3-8 note).
            if cpu.mode != Mode::Long {
                edx &= !(1 << Feature::SYSCALL.bit);
            }
            if misc & MISC_ENABLE_XD_DISABLE != 0 {
                edx &= !(1 << Feature::NX.bit);
            }
            [0, 0, f.word(Word::Ext1Ecx), edx]
        }
        0x8000_0002..=0x8000_0004 => {
            let mut b = [0u8; 48];
            b[..BRAND.len()].copy_from_slice(BRAND.as_bytes());
            let at = (leaf - 0x8000_0002) as usize * 16;
            [
                text(&b, at),
                text(&b, at + 4),
                text(&b, at + 8),
                text(&b, at + 12),
            ]
        }
        0x8000_0005 => [0; 4],
        0x8000_0006 => {
            // L2: size in KiB, associativity code 8 (16 ways), 64-byte lines (as leaf 4).
            let (_, _, line, _, size) = CACHES[2];
            [0, 0, (size >> 10) << 16 | 0x8 << 12 | line, 0]
        }
        0x8000_0007 => [0, 0, 0, f.word(Word::Ext7Edx)],
        0x8000_0008 => [PHYS_ADDR_BITS | LIN_ADDR_BITS << 8, 0, 0, 0],
        // Beyond every range: the highest basic leaf's data (SDM Vol. 2A CPUID, "If a value
        // entered for CPUID.EAX is higher than the maximum input value...").
        _ => query(cpu, max_basic, subleaf),
    }
}

/// The state components vx86 supports in XCR0: x87 (bit 0) and SSE (bit 1).
pub const XCR0_SUPPORTED: u64 = 0b11;

/// Bytes of the standard-format XSAVE area for those components: the 512-byte legacy region
/// and the 64-byte header.
pub const XSAVE_AREA: u32 = 576;

/// Leaf 0xD, the processor extended state enumeration (SDM Vol. 1 13.2): sub-leaf 0 gives
/// the supported XCR0 bits and the area sizes (which do not depend on XCR0 here: x87 and SSE
/// live in the legacy region), sub-leaf 1 reports XSAVEOPT and no XSAVEC, XGETBV with
/// ECX = 1 or XSAVES; the user components 0 and 1 have no sub-leaf of their own.
fn xsave_leaf(cpu: &Cpu, subleaf: u32) -> [u32; 4] {
    if !has(Feature::XSAVE) {
        return [0; 4];
    }
    let _ = cpu;
    match subleaf {
        0 => [XCR0_SUPPORTED as u32, XSAVE_AREA, XSAVE_AREA, 0],
        1 => [1, 0, 0, 0],
        _ => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    fn cpu() -> Cpu {
        Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap())
    }

    fn string(regs: &[u32]) -> String {
        let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
        String::from_utf8(bytes)
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    }

    #[test]
    fn leaf_0_names_genuine_intel() {
        let c = cpu();
        let [max, b, cx, d] = query(&c, 0, 0);
        assert_eq!(max, 0xD);
        assert_eq!(string(&[b, d, cx]), "GenuineIntel");
    }

    #[test]
    fn leaf_1_is_family_6_with_the_hypervisor_bit() {
        let c = cpu();
        let [a, b, cx, d] = query(&c, 1, 0);
        assert_eq!(a, SIGNATURE);
        assert_eq!((a >> 8) & 0xF, 6, "family");
        assert_eq!(
            (a >> 4) & 0xF | ((a >> 16) & 0xF) << 4,
            0x6A,
            "model with extended model"
        );
        assert_eq!(b >> 24, 0, "initial APIC ID");
        assert_ne!(cx & 1 << 31, 0, "hypervisor present");
        for f in [
            Feature::FPU,
            Feature::TSC,
            Feature::MSR,
            Feature::PAE,
            Feature::PSE,
            Feature::PSE36,
            Feature::CX8,
            Feature::SEP,
        ] {
            assert_ne!(d & 1 << f.bit, 0, "{f:?}");
        }
        for f in [
            Feature::CX16,
            Feature::MOVBE,
            Feature::POPCNT,
            Feature::PCID,
        ] {
            assert_ne!(cx & 1 << f.bit, 0, "{f:?}");
        }
    }

    #[test]
    fn nothing_unimplemented_is_claimed() {
        let f = features();
        for x in [
            Feature::VME,
            Feature::MCE,
            Feature::APIC,
            Feature::MCA,
            Feature::HTT,
            Feature::MONITOR,
            Feature::VMX,
            Feature::X2APIC,
            Feature::TSC_DEADLINE,
            Feature::OSXSAVE,
            Feature::AVX,
            Feature::RDRAND,
            Feature::TSC_ADJUST,
            Feature::AVX2,
            Feature::RDSEED,
            Feature::LA57,
        ] {
            assert!(!f.has(x), "{x:?} is claimed but not implemented");
        }
        let c = cpu();
        let [_, _, cx, d] = query(&c, 1, 0);
        assert_eq!(
            cx & (1 << 27 | 1 << 28 | 1 << 30),
            0,
            "no OSXSAVE (CR4 is clear), AVX, RDRAND"
        );
        assert_eq!(d & 1 << 9, 0, "no local APIC");
    }

    #[test]
    fn leaf_7_claims_the_supervisor_protections_and_bit_manipulation() {
        let c = cpu();
        let [a, b, cx, d] = query(&c, 7, 0);
        assert_eq!(a, 0, "one subleaf");
        let want = 1 | 1 << 3 | 1 << 7 | 1 << 8 | 1 << 10 | 1 << 19 | 1 << 20 | 1 << 23;
        assert_eq!(
            b, want,
            "FSGSBASE BMI1 SMEP BMI2 INVPCID ADX SMAP CLFLUSHOPT"
        );
        assert_eq!(cx, 1 << 2 | 1 << 22, "UMIP RDPID");
        assert_eq!(d, 1 << 29, "ARCH_CAPABILITIES");
        assert_eq!(query(&c, 7, 1), [0; 4]);
    }

    #[test]
    fn extended_leaves_describe_a_64_bit_processor() {
        let mut c = cpu();
        assert_eq!(query(&c, 0x8000_0000, 0)[0], MAX_EXTENDED_LEAF);
        let [_, _, cx, d] = query(&c, 0x8000_0001, 0);
        assert_eq!(cx, 1 | 1 << 5 | 1 << 8, "LAHF-SAHF LZCNT PREFETCHW");
        assert_eq!(
            d,
            1 << 20 | 1 << 26 | 1 << 27 | 1 << 29,
            "NX 1GB RDTSCP LM; SYSCALL only in 64-bit mode"
        );
        c.enter_long_mode(0x1000, 0x10000, 1);
        assert_ne!(
            query(&c, 0x8000_0001, 0)[3] & 1 << 11,
            0,
            "SYSCALL in 64-bit mode"
        );
        let brand: Vec<u32> = (0x8000_0002..=0x8000_0004)
            .flat_map(|l| query(&c, l, 0))
            .collect();
        assert_eq!(string(&brand), BRAND);
        assert_eq!(query(&c, 0x8000_0008, 0)[0], 40 | 48 << 8);
        assert_eq!(query(&c, 0x8000_0007, 0)[3], 1 << 8, "invariant TSC");
    }

    #[test]
    fn hypervisor_leaf_names_vx86() {
        let c = cpu();
        let [a, b, cx, d] = query(&c, 0x4000_0000, 0);
        assert_eq!(a, 0x4000_0000);
        assert_eq!(string(&[b, cx, d]), "vx86vx86vx86");
    }

    #[test]
    fn caches_agree_between_leaf_4_and_0x80000006() {
        let c = cpu();
        let mut l2 = 0;
        for i in 0.. {
            let [a, b, cx, _] = query(&c, 4, i);
            if a & 0x1F == 0 {
                assert_eq!(i, 3);
                break;
            }
            let size = ((b >> 22) + 1) * ((b >> 12 & 0x3FF) + 1) * ((b & 0xFFF) + 1) * (cx + 1);
            if (a >> 5) & 7 == 2 {
                l2 = size;
            }
        }
        let ecx = query(&c, 0x8000_0006, 0)[2];
        assert_eq!(ecx >> 16, l2 >> 10, "L2 size in KiB");
        assert_eq!(ecx & 0xFF, 64, "line size");
        assert_eq!(query(&c, 2, 0)[0] & 0xFF, 1, "leaf 2 takes one iteration");
    }

    #[test]
    fn leaves_out_of_range_return_the_highest_basic_leaf() {
        let c = cpu();
        let top = query(&c, 0xD, 5);
        assert_eq!(query(&c, 0x20, 5), top);
        assert_eq!(query(&c, 0x8000_0009, 5), top);
        assert_eq!(query(&c, 0x4000_0001, 5), top);
        assert_eq!(
            query(&c, 0xA, 0),
            [0; 4],
            "leaves up to the maximum with no data read zero"
        );
    }

    #[test]
    fn misc_enable_limits_the_basic_leaves_and_hides_nx() {
        let mut c = cpu();
        c.msr.misc_enable = MISC_ENABLE_LIMIT_CPUID | MISC_ENABLE_XD_DISABLE;
        assert_eq!(query(&c, 0, 0)[0], 2);
        assert_eq!(
            query(&c, 7, 0),
            query(&c, 2, 0),
            "leaf 7 is now beyond the maximum"
        );
        assert_eq!(query(&c, 0x8000_0001, 0)[3] & 1 << 20, 0);
    }

    #[test]
    fn cr4_and_efer_masks_follow_the_features() {
        let cr4 = cr4_valid();
        for b in [
            Cr4::TSD,
            Cr4::DE,
            Cr4::PSE,
            Cr4::PAE,
            Cr4::PGE,
            Cr4::PCE,
            Cr4::UMIP,
            Cr4::FSGSBASE,
            Cr4::PCIDE,
            Cr4::SMEP,
            Cr4::SMAP,
            Cr4::OSFXSR,
            Cr4::OSXMMEXCPT,
            Cr4::OSXSAVE,
        ] {
            assert!(cr4.contains(b), "{b:?}");
        }
        for b in [Cr4::VME, Cr4::PVI, Cr4::MCE] {
            assert!(!cr4.contains(b), "{b:?}");
        }
        assert_eq!(efer_valid(), Efer::SCE | Efer::LME | Efer::LMA | Efer::NXE);
    }

    #[test]
    fn leaf_d_describes_the_x87_and_sse_state_components() {
        let c = cpu();
        assert_eq!(query(&c, 0xD, 0), [3, 576, 576, 0], "XCR0 bits, sizes");
        assert_eq!(query(&c, 0xD, 1), [1, 0, 0, 0], "XSAVEOPT only");
        assert_eq!(query(&c, 0xD, 2), [0; 4], "no AVX state");
    }

    #[test]
    fn osxsave_mirrors_cr4() {
        let mut c = cpu();
        c.cr4 |= Cr4::OSXSAVE;
        assert_ne!(query(&c, 1, 0)[2] & 1 << 27, 0);
    }

    /// How a claimed feature shows that vx86 implements it.
    enum Evidence {
        /// An instruction (code size, bytes, mnemonic) that must reach a real handler.
        Ins(u32, &'static [u8], iced_x86::Mnemonic),
        /// A CR4 bit that MOV to CR4 must accept (in 64-bit mode).
        Cr4Bit(Cr4),
        /// An EFER bit that WRMSR must accept (paging off).
        EferBit(Efer),
        /// An MSR that RDMSR must read.
        Msr(u32),
        /// Implemented without an instruction of its own; the string says where.
        Elsewhere(&'static str),
    }

    use iced_x86::Mnemonic as Mn;
    use Evidence::*;

    /// Evidence for the features whose instructions this branch's groups implement.
    const EVIDENCE: &[(Feature, Evidence)] = &[
        (Feature::FPU, Ins(32, &[0xD9, 0xE8], Mn::Fld1)),
        (Feature::DE, Cr4Bit(Cr4::DE)),
        (Feature::PSE, Cr4Bit(Cr4::PSE)),
        (Feature::TSC, Ins(32, &[0x0F, 0x31], Mn::Rdtsc)),
        (Feature::MSR, Ins(32, &[0x0F, 0x32], Mn::Rdmsr)),
        (Feature::PAE, Cr4Bit(Cr4::PAE)),
        (Feature::SEP, Ins(32, &[0x0F, 0x34], Mn::Sysenter)),
        (Feature::MTRR, Msr(0xFE)),
        (Feature::PGE, Cr4Bit(Cr4::PGE)),
        (Feature::CMOV, Ins(32, &[0x0F, 0x44, 0xC1], Mn::Cmove)),
        (Feature::PAT, Msr(0x277)),
        (
            Feature::PSE36,
            Elsewhere("32-bit paging takes PDE bits 20:13 as address bits 39:32 (mmu::paging)"),
        ),
        (Feature::PCID, Cr4Bit(Cr4::PCIDE)),
        (
            Feature::HYPERVISOR,
            Elsewhere("leaf 0x40000000 (hypervisor_leaf_names_vx86)"),
        ),
        (
            Feature::FSGSBASE,
            Ins(64, &[0xF3, 0x48, 0x0F, 0xAE, 0xC0], Mn::Rdfsbase),
        ),
        (Feature::SMEP, Cr4Bit(Cr4::SMEP)),
        (
            Feature::INVPCID,
            Ins(64, &[0x66, 0x0F, 0x38, 0x82, 0x03], Mn::Invpcid),
        ),
        (Feature::SMAP, Ins(32, &[0x0F, 0x01, 0xCA], Mn::Clac)),
        (Feature::UMIP, Cr4Bit(Cr4::UMIP)),
        (
            Feature::RDPID,
            Ins(32, &[0xF3, 0x0F, 0xC7, 0xF8], Mn::Rdpid),
        ),
        (Feature::ARCH_CAPABILITIES, Msr(0x10A)),
        (Feature::LAHF_LM, Ins(64, &[0x9F], Mn::Lahf)),
        (
            Feature::PREFETCHW,
            Ins(32, &[0x0F, 0x0D, 0x08], Mn::Prefetchw),
        ),
        (Feature::SYSCALL, Ins(64, &[0x0F, 0x05], Mn::Syscall)),
        (Feature::NX, EferBit(Efer::NXE)),
        (
            Feature::PAGE1GB,
            Elsewhere("4-level walks accept PS in a PDPTE (mmu::paging)"),
        ),
        (Feature::RDTSCP, Ins(32, &[0x0F, 0x01, 0xF9], Mn::Rdtscp)),
        (Feature::LM, EferBit(Efer::LME)),
        (
            Feature::INVARIANT_TSC,
            Elsewhere("the TSC is a fixed ratio of retired instructions (Cpu::tsc)"),
        ),
    ];

    /// Evidence for the SSE group's features (`exec::sse`).
    const EVIDENCE_SSE: &[(Feature, Evidence)] = &[
        (Feature::CLFSH, Ins(32, &[0x0F, 0xAE, 0x38], Mn::Clflush)),
        (Feature::MMX, Ins(32, &[0x0F, 0xFC, 0xC1], Mn::Paddb)),
        (Feature::FXSR, Ins(64, &[0x0F, 0xAE, 0x00], Mn::Fxsave)),
        (Feature::SSE, Ins(32, &[0x0F, 0x58, 0xC1], Mn::Addps)),
        (Feature::SSE2, Ins(32, &[0x66, 0x0F, 0x58, 0xC1], Mn::Addpd)),
        (
            Feature::SSE3,
            Ins(32, &[0xF2, 0x0F, 0x7C, 0xC1], Mn::Haddps),
        ),
        (
            Feature::PCLMULQDQ,
            Ins(32, &[0x66, 0x0F, 0x3A, 0x44, 0xC1, 0x00], Mn::Pclmulqdq),
        ),
        (
            Feature::SSSE3,
            Ins(32, &[0x66, 0x0F, 0x38, 0x00, 0xC1], Mn::Pshufb),
        ),
        (
            Feature::SSE4_1,
            Ins(32, &[0x66, 0x0F, 0x3A, 0x0B, 0xC1, 0x00], Mn::Roundsd),
        ),
        (
            Feature::SSE4_2,
            Ins(32, &[0x66, 0x0F, 0x3A, 0x63, 0xC1, 0x00], Mn::Pcmpistri),
        ),
        (Feature::XSAVE, Cr4Bit(Cr4::OSXSAVE)),
        (
            Feature::CLFLUSHOPT,
            Ins(32, &[0x66, 0x0F, 0xAE, 0x38], Mn::Clflushopt),
        ),
    ];

    /// Evidence for the features whose instructions live in the integer groups (bit, bmi,
    /// mov) that another branch implements.
    const EVIDENCE_INTEGER: &[(Feature, Evidence)] = &[
        (Feature::CX8, Ins(32, &[0x0F, 0xC7, 0x08], Mn::Cmpxchg8b)),
        (
            Feature::CX16,
            Ins(64, &[0x48, 0x0F, 0xC7, 0x08], Mn::Cmpxchg16b),
        ),
        (
            Feature::MOVBE,
            Ins(32, &[0x0F, 0x38, 0xF0, 0x01], Mn::Movbe),
        ),
        (
            Feature::POPCNT,
            Ins(32, &[0xF3, 0x0F, 0xB8, 0xC1], Mn::Popcnt),
        ),
        (
            Feature::BMI1,
            Ins(32, &[0xC4, 0xE2, 0x70, 0xF2, 0xC2], Mn::Andn),
        ),
        (
            Feature::BMI2,
            Ins(32, &[0xC4, 0xE2, 0x69, 0xF7, 0xC1], Mn::Shlx),
        ),
        (
            Feature::ADX,
            Ins(32, &[0x66, 0x0F, 0x38, 0xF6, 0xC1], Mn::Adcx),
        ),
        (
            Feature::LZCNT,
            Ins(32, &[0xF3, 0x0F, 0xBD, 0xC1], Mn::Lzcnt),
        ),
    ];

    fn check(f: Feature, e: &Evidence) {
        use crate::cpu::decode::translate;
        use crate::cpu::exec::misc;
        use crate::cpu::Handler;
        match *e {
            Ins(bits, bytes, mnemonic) => {
                let ins =
                    iced_x86::Decoder::with_ip(bits, bytes, 0, iced_x86::DecoderOptions::NONE)
                        .decode();
                assert_eq!(
                    ins.mnemonic(),
                    mnemonic,
                    "{f:?}: the sample is {mnemonic:?}"
                );
                let d = translate(&ins, bits, Model::Modern);
                let run = d.op.run as usize;
                assert!(
                    !d.unimplemented
                        && run != misc::invalid as Handler as usize
                        && run != misc::fpu_unavailable as Handler as usize,
                    "{f:?} is claimed but {mnemonic:?} raises #UD"
                );
            }
            Cr4Bit(b) => {
                let mut c = cpu();
                c.enter_long_mode(0x1000, 0x10000, 1);
                c.cr3 &= !0xFFF;
                assert_eq!(
                    c.write_cr4((Cr4::PAE | b).bits()),
                    Ok(()),
                    "{f:?}: CR4.{b:?}"
                );
            }
            EferBit(b) => assert_eq!(cpu().write_efer(b.bits()), Ok(()), "{f:?}: EFER.{b:?}"),
            Msr(i) => assert!(cpu().read_msr(i).is_ok(), "{f:?}: MSR {i:#x}"),
            Elsewhere(why) => assert!(!why.is_empty()),
        }
    }

    #[test]
    fn every_claimed_feature_has_evidence() {
        for f in CLAIMED {
            let n = EVIDENCE
                .iter()
                .chain(EVIDENCE_INTEGER)
                .chain(EVIDENCE_SSE)
                .filter(|(g, _)| g == f)
                .count();
            assert_eq!(
                n, 1,
                "{f:?} needs exactly one entry in EVIDENCE, EVIDENCE_INTEGER or EVIDENCE_SSE"
            );
        }
        for (f, _) in EVIDENCE.iter().chain(EVIDENCE_INTEGER).chain(EVIDENCE_SSE) {
            assert!(has(*f), "{f:?} has evidence but is not claimed");
        }
    }

    #[test]
    fn claimed_system_features_are_implemented() {
        for (f, e) in EVIDENCE {
            check(*f, e);
        }
    }

    #[test]
    fn claimed_sse_features_are_implemented() {
        for (f, e) in EVIDENCE_SSE {
            check(*f, e);
        }
    }

    #[test]
    fn claimed_integer_features_are_implemented() {
        for (f, e) in EVIDENCE_INTEGER {
            check(*f, e);
        }
    }
}
