#!/usr/bin/env bash
# The many-core run of issue 4, prepared: the contention runner at 1, 2, 4, …
# cores and 2 × cores threads, interleaved, with every slice kept, then a
# shortened criterion pass over `closed_success` in whatever time is left.
# It needs no network and no compiler, so it can run on a lent machine that
# reaches neither.
#
# Here (with crates.io), build both executables:
#
#     cargo build --release -p fusebox-benches --bin contention   # target/release/contention
#     cargo bench -p fusebox-benches --bench breakers --no-run      # prints target/release/deps/breakers-<hash>
#
# There, with those two files carried along, from the repository root:
#
#     bash benches/device.sh OUT_DIR            # BUDGET_S=480 by default
#
# Back here: `python3 benches/paired.py OUT_DIR/slices.csv`, the table in
# OUT_DIR/contention.md and the chart OUT_DIR/contention.svg go into
# BENCHMARKS.md with OUT_DIR/machine.txt (the machine, the date, the load).
#
# Settings (environment): BUDGET_S (total seconds, default 480), SECS and
# ROUNDS (runner: seconds per point and slices per point, default 1.05 and
# 7), THREADS (default: the runner's own, 1, 2, 4, … cores, 2 × cores),
# BENCH_GROUPS (default: all five), RUNNER and BENCH (the executables' paths).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-${OUT:-target/device}}"
budget="${BUDGET_S:-480}"
secs="${SECS:-1.05}"
rounds="${ROUNDS:-7}"
groups="${BENCH_GROUPS:-all}"
runner="${RUNNER:-target/release/contention}"
bench="${BENCH:-$(ls -t target/release/deps/breakers-* 2>/dev/null | grep -v '\.d$' | head -n 1 || true)}"
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }

if [ ! -x "$runner" ]; then
  echo "no runner at $runner: build it first (cargo build --release -p fusebox-benches --bin contention)" >&2
  exit 2
fi
mkdir -p "$out"

{
  echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "nproc: $(nproc)"
  uname -srm
  lscpu 2>/dev/null || true
  echo "uptime before: $(uptime)"
} >"$out/machine.txt"

threads_arg=()
if [ -n "${THREADS:-}" ]; then
  threads_arg=(--threads "$THREADS")
fi

echo "runner: groups $groups, ${secs} s per point in $rounds slices ($(left) s left)" >&2
status=0
timeout --foreground "$(left)" "$runner" --group "$groups" "${threads_arg[@]}" \
  --secs "$secs" --rounds "$rounds" \
  --csv "$out/contention.csv" --svg "$out/contention.svg" --slices "$out/slices.csv" \
  >"$out/contention.md" 2>"$out/contention.log" || status=$?
echo "uptime after the runner: $(uptime)" >>"$out/machine.txt"
if [ "$status" -ne 0 ]; then
  echo "the runner failed (status $status): see $out/contention.log" >&2
  tr '\r' '\n' <"$out/contention.log" | tail -n 5 >&2
fi

# Criterion's own figures for the main group, shortened (the command line
# overrides the bench's 0.5 s warm-up, 2 s measurement and 20 samples).
remaining=$(left)
if [ -n "$bench" ] && [ -x "$bench" ] && [ "$remaining" -gt 60 ]; then
  echo "criterion closed_success ($remaining s left)" >&2
  timeout --foreground "$remaining" "$bench" --bench closed_success \
    --warm-up-time 0.3 --measurement-time 1 --sample-size 10 \
    >"$out/criterion.txt" 2>&1 || echo "criterion stopped (status $?)" >&2
  echo "uptime after criterion: $(uptime)" >>"$out/machine.txt"
else
  echo "criterion skipped (bench executable: '${bench:-none}', $remaining s left)" >&2
fi
exit "$status"
