#!/usr/bin/env bash
# The whole test suite: the Linux guests fetched (scripts/fetch-linux-guests.sh), unit and
# integration tests (the Linux boots among them), then the conformance runs with their pass
# rates per group (recorded 8086 and 80286 vectors, and a differential run against the host
# CPU with a fresh seed). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=${VX86_SHARED:-../shared}
jobs=${CARGO_BUILD_JOBS:-}

echo "== build"
cargo build --release ${jobs:+-j "$jobs"}

status=0
echo "== Linux guests (Debian kernels and busybox; cached in .cache/guests)"
VX86="${CARGO_TARGET_DIR:-target}/release/vx86" ./scripts/fetch-linux-guests.sh || status=1

echo "== unit and integration tests"
cargo test --release ${jobs:+-j "$jobs"}

vx86=target/release/vx86
if [ -d "$shared/conformance" ]; then
    echo "== conformance: 8086 (SingleStepTests, recorded on an Intel P80C86A-2)"
    "$vx86" conformance sst "$shared/conformance/8086/v1_binary" --cpu 8086 || status=1
    echo "== conformance: 80286 real mode (SingleStepTests, recorded on a Harris N80C286-12)"
    "$vx86" conformance sst "$shared/conformance/80286/v1_real_mode" --cpu 286 || status=1
else
    echo "conformance vectors not found at $shared/conformance: set VX86_SHARED to the folder holding conformance/" >&2
    status=1
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64)
        echo "== conformance: differential run against the host CPU"
        seed=${VX86_SEED:-$(date +%s%N)}
        "$vx86" conformance host-diff --count "${VX86_HOSTDIFF_COUNT:-200000}" --seed "$seed" || status=1
        ;;
    *)
        echo "== conformance: host-diff skipped (needs an x86-64 Linux host)"
        ;;
esac

exit $status
