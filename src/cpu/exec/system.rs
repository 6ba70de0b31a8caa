//! System instructions (to be written).

use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

/// Decodes the system group.
pub fn decode(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}

/// MOV to/from control and debug registers.
pub fn decode_mov_crdr(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}
