//! Instruction conformance runners: recorded single-step vectors (SingleStepTests) and
//! differential testing against the host CPU.

pub mod hostdiff;
pub mod metadata;
pub mod moo;
pub mod sst;
