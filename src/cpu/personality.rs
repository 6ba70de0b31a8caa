//! The 8086 and 80286 personalities: opcode aliases and behaviours the recorded test vectors
//! show, applied at decode time so the default model pays nothing (to be completed).

use iced_x86::{Decoder, DecoderOptions, Instruction};

use super::decode::{translate, DecodedOp};
use super::state::Model;

/// Decodes one instruction for an old model; returns the op and its length (0 if the bytes
/// end before the instruction does).
pub fn decode(model: Model, bytes: &[u8], bits: u32, ins: &mut Instruction) -> (DecodedOp, usize) {
    let mut d = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE);
    d.decode_out(ins);
    if ins.is_invalid() && d.last_error() == iced_x86::DecoderError::NoMoreBytes {
        return (translate(ins, bits, model), 0);
    }
    (translate(ins, bits, model), ins.len())
}
