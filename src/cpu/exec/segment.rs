//! Segment-register instructions (to be written).

use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

/// Decodes the segment group.
pub fn decode(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}

/// MOV to/from a segment register.
pub fn decode_mov_sreg(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}

/// PUSH/POP of a segment register.
pub fn decode_push_pop_sreg(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}
