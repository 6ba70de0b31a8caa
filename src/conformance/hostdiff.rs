//! Differential testing against the host CPU (to be written).

use crate::Error;

/// Runs `count` random sequences natively and in vx86; returns the exit status.
pub fn main(_count: u64, _seed: Option<u64>) -> Result<u8, Error> {
    Err(Error::option("host-diff", "not written yet"))
}
