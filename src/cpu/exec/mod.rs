//! Instruction handlers, one file per instruction group. Each group has a `decode` function
//! that picks the handler for the exact operand form and width, and the handlers themselves.

pub mod alu;
pub mod bcd;
pub mod bit;
pub mod bmi;
pub mod branch;
pub mod far;
pub mod flagops;
pub mod io;
pub mod misc;
pub mod mov;
pub mod muldiv;
pub mod segment;
pub mod shift;
pub mod sse;
pub mod stack;
pub mod string;
pub mod system;
pub mod x87;

/// The result every handler returns.
pub type R = Result<(), crate::cpu::Fault>;
