//! SingleStepTests runner (to be written).

use std::path::Path;

use crate::cpu::Model;
use crate::Error;

/// Runs every MOO.gz file in `dir` and prints the pass rates; returns the exit status.
pub fn main(dir: &Path, _model: Model, _filter: Option<&str>) -> Result<u8, Error> {
    Err(Error::file(
        dir,
        "the SingleStepTests runner is not written yet",
    ))
}
