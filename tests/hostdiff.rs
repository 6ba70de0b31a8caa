//! Differential test against the host CPU: a few thousand random user-mode integer
//! instruction sequences run natively and in vx86 must agree exactly. Runs on x86-64 Linux
//! hosts only; elsewhere it prints why it is skipped.

use vx86::conformance::hostdiff;

#[test]
fn random_sequences_match_the_host_cpu() {
    if !hostdiff::supported() {
        println!("SKIPPED: host-diff needs an x86-64 Linux host to run instructions natively");
        return;
    }
    let summary = hostdiff::run(4000, 1).expect("host-diff runs");
    assert_eq!(summary.passed + summary.failed, 4000);
    assert_eq!(
        summary.failed, 0,
        "vx86 differs from the host CPU (reports above)"
    );
}

#[test]
fn random_x87_sequences_match_the_host_fpu() {
    if !hostdiff::supported() {
        println!("SKIPPED: host-diff needs an x86-64 Linux host to run instructions natively");
        return;
    }
    let summary = hostdiff::run_family(4000, 2, hostdiff::Family::X87).expect("host-diff runs");
    assert_eq!(summary.passed + summary.failed, 4000);
    assert_eq!(
        summary.failed, 0,
        "vx86's x87 differs from the host FPU (reports above)"
    );
}

#[test]
fn random_sse_sequences_match_the_host_cpu() {
    if !hostdiff::supported() {
        println!("SKIPPED: host-diff needs an x86-64 Linux host to run instructions natively");
        return;
    }
    let summary = hostdiff::run_family(4000, 3, hostdiff::Family::Sse).expect("host-diff runs");
    assert_eq!(summary.passed + summary.failed, 4000);
    assert_eq!(
        summary.failed, 0,
        "vx86's SSE differs from the host CPU (reports above)"
    );
}
