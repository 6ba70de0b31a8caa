//! The string group (to be written).

use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

/// Decodes the string group.
pub fn decode(_d: &Decoded, _op: &mut Op) -> Option<Flow> {
    None
}
