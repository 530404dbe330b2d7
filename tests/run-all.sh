#!/usr/bin/env bash
# Runs every test of Shoal: lints, the normal build's tests (unit, goldenscript,
# shell, black-box), the Python client tests, the simulation build's tests
# with the determinism check, and the CrateDB documentation conformance run.
#
# Needs only the Rust toolchain and python3 (for the venv with crate, crash
# and pytest, which this script creates in .venv). The conformance and SLT
# corpora are read from ../shared when present and skipped otherwise.
#
# Environment:
#   SHOAL_SIM_SEEDS   seeds per simulation test (default 24; a soak: 1000)
#   SHOAL_PROPERTY_CASES  random fault schedules per property test (default 200;
#                     a soak: `cargo scenario --property --cases 5000`)
#   SHOAL_FUZZ_CASES  generated cases of the SQL fuzz target (default 1200)
#   SHOAL_SLOW=1      also run the slow reports (sqllogictest corpus)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHOAL_SHARED:-$ROOT/../shared}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A clean clone builds everything twice (normal and simulation builds), and
# every test binary links the whole engine: keep only line tables (backtraces
# still name file and line) and no incremental caches, so that both builds fit
# in a few GB of disk (full debug info took 19 GB and filled CI's disk).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

step "python venv with crate, crash and pytest"
if [ ! -x .venv/bin/crash ] || [ ! -x .venv/bin/pytest ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "crate==2.3.0" "crash==0.32.0" "pytest>=7"
fi
export SHOAL_CRASH=$ROOT/.venv/bin/crash

step "build"
cargo build --workspace --bins
export SHOAL_BIN=$ROOT/target/debug/shoal

step "tests (normal build)"
export SHOAL_FUZZ_CASES=${SHOAL_FUZZ_CASES:-1200}
cargo test --workspace

step "python client tests"
.venv/bin/python -m pytest -q tests/python

step "simulation build: tests with the determinism check"
export MADSIM_TEST_NUM=${SHOAL_SIM_SEEDS:-24}
# Doctests are left to the normal build: rustdoc would compile the crate without the madsim cfg.
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim cargo test -p shoal-engine -p shoal-sim --lib --tests
# (The property tests are not madsim tests and check their own determinism.)
MADSIM_TEST_CHECK_DETERMINISM=1 MADSIM_TEST_NUM=2 RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim \
    cargo test -p shoal-sim --tests -- --skip property_

step "CrateDB documentation conformance"
if [ -f "$SHARED/conformance/cratedb-docs/run.py" ]; then
    bash tests/conformance.sh docs
else
    echo "SKIP: $SHARED/conformance not found"
fi

if [ "${SHOAL_SLOW:-0}" = 1 ]; then
    step "sqllogictest corpus (report)"
    if [ -f "$SHARED/conformance/slt/run_http.py" ]; then
        bash tests/conformance.sh slt
    else
        echo "SKIP: $SHARED/conformance/slt not found"
    fi
fi

step "all tests passed"
