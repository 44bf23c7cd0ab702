#!/usr/bin/env bash
# Fuzz smoke run for CI: builds every cargo-fuzz target and runs each for a
# short fixed time. Exits non-zero on any crash (a divergence from the
# reference model is a crash). Skips cleanly without a nightly toolchain.
#
#   FUZZ_SECONDS=30 bash fuzz/run.sh      # seconds per target (default 30)
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "nightly toolchain absent: skipping fuzz"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

# The crate forbids unsafe code: no sanitizer, just coverage-guided runs.
cargo +nightly fuzz build -s none
for target in $(cargo +nightly fuzz list); do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run -s none "$target" -- \
        -max_total_time="$seconds" -max_len=8192 -len_control=0
done
