//! A sample of the SingleStepTests vectors recorded on a real 8086 and 80286 (the full runs
//! belong to `scripts/test.sh`): each group of files must pass at least 99.5% of its
//! non-skipped tests.
//!
//! The vectors live in the shared data folder (`$VX86_SHARED/conformance`, by default
//! `../shared/conformance` beside the repository); see `conformance/README.md` there.

use std::path::PathBuf;

use vx86::conformance::sst::{self, Options, REQUIRED_PERCENT};
use vx86::cpu::Model;

fn folder(sub: &str) -> PathBuf {
    let shared = std::env::var_os("VX86_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("conformance").join(sub);
    assert!(
        dir.join("metadata.json").exists(),
        "the SingleStepTests vectors are missing at {}: set VX86_SHARED to the folder holding \
         conformance/ (8086/v1_binary and 80286/v1_real_mode from github.com/SingleStepTests)",
        dir.display()
    );
    dir
}

/// Runs the files whose names start with each of `groups` and checks the pass rate of each.
fn check(sub: &str, model: Model, groups: &[&str]) {
    let dir = folder(sub);
    for g in groups {
        let opts = Options {
            model,
            filter: Some(g.to_string()),
            keep_failures: 3,
            threads: 0,
        };
        let report = sst::run(&dir, &opts).unwrap_or_else(|e| panic!("{e}"));
        let failures: Vec<&String> = report.files.iter().flat_map(|f| &f.failures).collect();
        assert!(report.passed() > 0, "{sub} {g}: nothing ran");
        assert!(
            report.percent() >= REQUIRED_PERCENT,
            "{sub} {g}: {} passed, {} failed; first failures: {failures:#?}",
            report.passed(),
            report.failed()
        );
    }
}

#[test]
fn the_8086_sample_passes() {
    // ALU, MOV, LEA, CALL; and what the 8086 personality handles: 60-6F as Jcc, C0/C8 as
    // RET/RETF, PUSH SP, SETMO (D0 /6), the FF /7 PUSH alias, 8C/8E with reg 4-7, DIV with
    // its #DE.
    check(
        "8086/v1_binary",
        Model::I8086,
        &[
            "00", "31", "54", "64", "74", "89", "8C", "8D", "8E", "C0", "C8", "D0.6", "E8", "F6.6",
            "FF.6", "FF.7",
        ],
    );
}

#[test]
fn the_80286_sample_passes() {
    // ALU, MOV, LEA, CALL; and what the 80286 personality handles: LOCK MOV (88), the
    // 10-byte limit (81.0), BOUND (62), POP m16 (8F), WAIT (9B), word strings at offset
    // FFFF (A5, A7), segment overrun on SS (07).
    check(
        "80286/v1_real_mode",
        Model::I80286,
        &[
            "00", "07", "31", "62", "74", "81.0", "88", "89", "8D", "8F", "9B", "A5", "A7", "E8",
            "F6.6", "FF.6",
        ],
    );
}

#[test]
fn skipped_tests_never_count() {
    // D8 is an x87 escape: every test is skipped, none passes or fails.
    let opts = Options {
        model: Model::I8086,
        filter: Some("D8".into()),
        keep_failures: 0,
        threads: 1,
    };
    let report = sst::run(&folder("8086/v1_binary"), &opts).unwrap();
    assert_eq!((report.passed(), report.failed()), (0, 0));
    assert_eq!(report.skipped(), 1000);
}
