//! Far control transfers (to be written).

use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

/// Decodes the far-transfer group.
pub fn decode(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}

/// Far JMP/CALL (direct ptr16:16/32 or indirect m16:16/32/64).
pub fn decode_far_jmp_call(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}
