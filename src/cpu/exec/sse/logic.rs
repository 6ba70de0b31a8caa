//! Bitwise logic: PAND, PANDN, POR, PXOR and their floating-point twins ANDPS/PD, ANDNPS/PD,
//! ORPS/PD, XORPS/PD (the same operation on 128 bits; SDM Vol. 2 for each).

use iced_x86::Mnemonic as M;

use super::simd;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::Op;

simd_op!(
    /// `a AND b`.
    And,
    |a, b, i| a & b
);
simd_op!(
    /// `(NOT a) AND b`.
    AndNot,
    |a, b, i| !a & b
);
simd_op!(
    /// `a OR b`.
    Or,
    |a, b, i| a | b
);
simd_op!(
    /// `a XOR b`.
    Xor,
    |a, b, i| a ^ b
);

/// Decodes the logic family.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    match d.ins.mnemonic() {
        M::Pand | M::Andps | M::Andpd => simd::<And>(d, op),
        M::Pandn | M::Andnps | M::Andnpd => simd::<AndNot>(d, op),
        M::Por | M::Orps | M::Orpd => simd::<Or>(d, op),
        M::Pxor | M::Xorps | M::Xorpd => simd::<Xor>(d, op),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::exec::sse::Simd;

    #[test]
    fn logic_on_all_128_bits() {
        let a = 0xFF00_FF00_0000_0000_1234_5678_9ABC_DEF0u128;
        let b = u128::MAX << 4;
        assert_eq!(And::op(a, b, 0), a & !0xF);
        assert_eq!(AndNot::op(a, b, 0), !a & b);
        assert_eq!(Or::op(a, 0xF, 0), a | 0xF);
        assert_eq!(Xor::op(a, a, 0), 0);
        assert_eq!(Xor::op64(0xF0, 0xFF, 0), 0x0F);
    }
}
