#!/usr/bin/env bash
# Runs the loom models in loom-tests/tests/ under `--cfg fusebox_loom`.
#
#   loom-tests/run.sh                 # every model
#   loom-tests/run.sh --test trip     # one model file
#   loom-tests/run.sh trip_race       # models whose name matches a filter
#   LOOM_MAX_PREEMPTIONS=3 loom-tests/run.sh
#
# The build goes to its own target dir (target/loom) so that the cfg flag
# does not invalidate the normal build cache.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export RUSTFLAGS="${RUSTFLAGS:-} --cfg fusebox_loom"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --cfg fusebox_loom"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$root/target/loom}"
# Models that need a tighter bound set it themselves (loom::model::Builder);
# this is the default for the others and for loom's own checks.
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

exec cargo test --release -p fusebox-loom-tests "$@"
