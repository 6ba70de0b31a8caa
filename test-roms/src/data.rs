//! The data files the kernels are booted with: two multiboot modules (the second is the
//! bzImage kernel's initrd too). Their lengths and FNV-1a hashes are built into the kernels
//! that check them.

use iced_x86::code_asm::IcedError;

/// Module A's file name.
pub const A: &str = "data-a.txt";
/// Module B's file name.
pub const B: &str = "data-b.bin";

/// Module A: one line of text.
pub fn a_bytes() -> Vec<u8> {
    b"vx86 test module A\n".to_vec()
}

/// Module B: 5000 bytes (more than a page, so the next module's alignment shows).
pub fn b_bytes() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect()
}

/// Builds module A.
pub fn a() -> Result<Vec<u8>, IcedError> {
    Ok(a_bytes())
}

/// Builds module B.
pub fn b() -> Result<Vec<u8>, IcedError> {
    Ok(b_bytes())
}
