//! Guest faults as values: what a handler returns when the instruction must not complete.

/// Exception vectors (SDM Vol. 3A 6.3.1), named as in the manual.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Vector {
    DE = 0,
    DB = 1,
    NMI = 2,
    BP = 3,
    OF = 4,
    BR = 5,
    UD = 6,
    NM = 7,
    DF = 8,
    TS = 10,
    NP = 11,
    SS = 12,
    GP = 13,
    PF = 14,
    MF = 16,
    AC = 17,
    MC = 18,
    XM = 19,
}

/// How an exception combines with one raised while delivering it (SDM Vol. 3A Table 6-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultClass {
    /// #DB, NMI, #BP, #OF, #BR, #UD, #NM, #MF, #AC, #MC, #XM.
    Benign,
    /// #DE, #TS, #NP, #SS, #GP.
    Contributory,
    /// #PF.
    PageFault,
    /// #DF itself: a fault while delivering it is a triple fault.
    DoubleFault,
}

impl Vector {
    /// The vector number.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The double-fault class of this vector.
    pub fn class(self) -> FaultClass {
        match self {
            Vector::DE | Vector::TS | Vector::NP | Vector::SS | Vector::GP => {
                FaultClass::Contributory
            }
            Vector::PF => FaultClass::PageFault,
            Vector::DF => FaultClass::DoubleFault,
            _ => FaultClass::Benign,
        }
    }

    /// Whether delivery pushes an error code (SDM Vol. 3A Table 6-1).
    pub fn has_error_code(self) -> bool {
        matches!(
            self,
            Vector::DF
                | Vector::TS
                | Vector::NP
                | Vector::SS
                | Vector::GP
                | Vector::PF
                | Vector::AC
        )
    }
}

/// A guest fault: the instruction did not complete and the exception is to be delivered with
/// RIP pointing at it. Eight bytes, so `Result<(), Fault>` returns in one register; the
/// linear address of a #PF travels beside it in the CPU (`Cpu::pf_addr`) until delivery
/// loads it into CR2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The exception.
    pub vector: Vector,
    /// The error code pushed with it (0 where the vector has none).
    pub code: u32,
}

impl Fault {
    /// A fault without error code.
    pub const fn new(vector: Vector) -> Fault {
        Fault { vector, code: 0 }
    }

    /// A fault with an error code.
    pub const fn with_code(vector: Vector, code: u32) -> Fault {
        Fault { vector, code }
    }

    /// #DE: divide error.
    pub const DE: Fault = Fault::new(Vector::DE);
    /// #UD: invalid opcode.
    pub const UD: Fault = Fault::new(Vector::UD);
    /// #NM: device not available.
    pub const NM: Fault = Fault::new(Vector::NM);
    /// #BR: BOUND range exceeded.
    pub const BR: Fault = Fault::new(Vector::BR);
    /// #MF: x87 floating-point error.
    pub const MF: Fault = Fault::new(Vector::MF);
    /// #XM: SIMD floating-point exception.
    pub const XM: Fault = Fault::new(Vector::XM);
    /// #DB raised as a fault (data/instruction breakpoints).
    pub const DB: Fault = Fault::new(Vector::DB);

    /// #GP(code).
    pub const fn gp(code: u32) -> Fault {
        Fault::with_code(Vector::GP, code)
    }

    /// #GP(0), the most common protection fault.
    pub const GP0: Fault = Fault::gp(0);

    /// #SS(code).
    pub const fn ss(code: u32) -> Fault {
        Fault::with_code(Vector::SS, code)
    }

    /// #NP(code).
    pub const fn np(code: u32) -> Fault {
        Fault::with_code(Vector::NP, code)
    }

    /// #TS(code).
    pub const fn ts(code: u32) -> Fault {
        Fault::with_code(Vector::TS, code)
    }

    /// #AC(0).
    pub const AC: Fault = Fault::with_code(Vector::AC, 0);

    /// #PF with error code `code` (see [`PfCode`]); the faulting address goes to
    /// `Cpu::pf_addr` (use `Cpu::page_fault`).
    pub const fn pf(code: u32) -> Fault {
        Fault {
            vector: Vector::PF,
            code,
        }
    }

    /// A selector error code (SDM Vol. 3A 6.13): the selector's index and TI, EXT clear.
    pub const fn selector_code(sel: u16) -> u32 {
        (sel & 0xFFFC) as u32
    }
}

bitflags::bitflags! {
    /// #PF error code bits (SDM Vol. 3A 4.7).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PfCode: u32 {
        /// P: the fault was a protection violation (0: the page was not present).
        const P = 1 << 0;
        /// W/R: the access was a write.
        const W = 1 << 1;
        /// U/S: the access was a user-mode access.
        const U = 1 << 2;
        /// RSVD: a reserved bit was set in a paging-structure entry.
        const RSVD = 1 << 3;
        /// I/D: the access was an instruction fetch.
        const I = 1 << 4;
        /// PK: protection keys (not modelled).
        const PK = 1 << 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_result_fits_one_register() {
        assert_eq!(std::mem::size_of::<Result<(), Fault>>(), 8);
    }

    #[test]
    fn classes_follow_table_6_5() {
        assert_eq!(Vector::GP.class(), FaultClass::Contributory);
        assert_eq!(Vector::PF.class(), FaultClass::PageFault);
        assert_eq!(Vector::UD.class(), FaultClass::Benign);
        assert!(Vector::AC.has_error_code() && !Vector::UD.has_error_code());
    }
}
