//! stub
use iced_x86::code_asm::IcedError;
pub fn build() -> Result<Vec<u8>, IcedError> { Ok(vec![]) }
pub fn build32() -> Result<Vec<u8>, IcedError> { Ok(vec![]) }
pub fn build64() -> Result<Vec<u8>, IcedError> { Ok(vec![]) }
