//! Instruction conformance runners.
