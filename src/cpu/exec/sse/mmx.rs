//! MMX: the eight 64-bit MMX registers alias the mantissas of the x87 registers R0–R7
//! (SDM Vol. 1 9.5). Until the x87 register file exists, MMX forms raise #UD, as on a
//! processor that does not report MMX.

use super::Simd;
use crate::cpu::Handler;

/// The handler of the MMX form of operation `O` for source form `s`, or `None` (#UD).
pub fn handler<O: Simd>(_s: u8) -> Option<Handler> {
    None
}

/// Decodes the MMX moves (MOVD/MOVQ with MMX registers, MOVQ2DQ, MOVDQ2Q, MOVNTQ, MASKMOVQ,
/// PEXTRW/PINSRW/PMOVMSKB on MMX registers, EMMS).
pub fn decode_move(
    _d: &crate::cpu::decode::Decoded,
    _op: &mut crate::cpu::Op,
) -> Option<crate::cpu::decode::Flow> {
    None
}

/// Decodes the conversions between MMX registers (or m64) and XMM registers (CVTPI2PS,
/// CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI, CVTTPD2PI).
pub fn decode_convert(
    _d: &crate::cpu::decode::Decoded,
    _op: &mut crate::cpu::Op,
) -> Option<crate::cpu::decode::Flow> {
    None
}
