#!/usr/bin/env python3
"""Issue 4's ratios from the contention runner's slices, paired round by round.

    cargo run --release -p fusebox-benches --bin contention -- \
        --group closed_success,closed_mixed,open_reject --threads 1,2 \
        --secs 2.1 --rounds 21 --slices target/slices.csv
    python3 benches/paired.py target/slices.csv

With `--rounds N` every contender of every group at every thread count
runs one slice per round, in turns, so the slices of one round ran within
a few seconds of each other. A ratio taken within each round and then
summarised (median and interquartile range over the rounds) cancels the
machine's slower and faster periods where they last longer than a round,
which a ratio of two medians taken minutes apart does not.

Standard library only. Rows whose contenders were not run are skipped.
"""

import csv
import statistics
import sys

CS, CM, OR = "closed_success", "closed_mixed", "open_reject"


def load(path):
    d = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["group"], r["contender"], int(r["threads"]), int(r["round"]))
            d[key] = float(r["ns_per_op_thread"])
    return d


def quartiles(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 4], statistics.median(xs), xs[(3 * n) // 4]


def main(path):
    d = load(path)
    threads = sorted({k[2] for k in d})
    rounds = sorted({k[3] for k in d})

    def per_round(f, t):
        out = []
        for r in rounds:
            try:
                out.append(f(lambda g, c: d[(g, c, t, r)]))
            except KeyError:
                pass
        return out

    def show(label, xs, target=None):
        if not xs:
            return
        lo, med, hi = quartiles(xs)
        line = f"{label:56} median {med:6.2f}  IQR {lo:6.2f}-{hi:6.2f}"
        if target is not None:
            text, ok = target
            verdict = "met" if ok(med) else "missed"
            line += f"  target {text}: {verdict} (met in {sum(map(ok, xs))} of {len(xs)} rounds)"
        print(line)

    for t in threads:
        print(f"--- {t} thread(s), {len(rounds)} rounds")
        show("fusebox-precise / floor-clock+add", per_round(lambda v: v(CS, "fusebox-precise") / v(CS, "floor-clock+add"), t), ("<= 1.3", lambda x: x <= 1.3))
        show("fusebox-recent / floor-padded-add", per_round(lambda v: v(CS, "fusebox-recent") / v(CS, "floor-padded-add"), t), ("<= 2.5", lambda x: x <= 2.5))
        show("fusebox-recent / recloser", per_round(lambda v: v(CS, "fusebox-recent") / v(CS, "recloser"), t), ("<= 0.6", lambda x: x <= 0.6))
        # fusebox's window write alone (no breaker around it), and what
        # counting with an add instead of a CAS would save on it.
        show("fusebox-recent / floor-slot-cas", per_round(lambda v: v(CS, "fusebox-recent") / v(CS, "floor-slot-cas"), t))
        show("fusebox-recent / floor-slot-rules", per_round(lambda v: v(CS, "fusebox-recent") / v(CS, "floor-slot-rules"), t))
        show("floor-slot-rules / floor-padded-add", per_round(lambda v: v(CS, "floor-slot-rules") / v(CS, "floor-padded-add"), t))
        show("floor-slot-cas / floor-padded-add", per_round(lambda v: v(CS, "floor-slot-cas") / v(CS, "floor-padded-add"), t))
        show("floor-slot-xadd / floor-padded-add", per_round(lambda v: v(CS, "floor-slot-xadd") / v(CS, "floor-padded-add"), t))
        for c in ["fusebox-precise", "fusebox-recent"]:
            show(f"{c}: 1 % failures / all success", per_round(lambda v, c=c: v(CM, c) / v(CS, c), t), ("<= 1.25", lambda x: x <= 1.25))
        for c in ["fusebox-precise", "fusebox-recent", "floor-padded-add", "floor-r1-word", "floor-r1-scan"]:
            show(f"{c}: 1 % failures - all success (ns)", per_round(lambda v, c=c: v(CM, c) - v(CS, c), t))
        # What exact R1 costs on its own, against what the target allows a
        # breaker: a quarter of its own all-success time.
        for f in ["floor-r1-word", "floor-r1-scan"]:
            for c in ["fusebox-precise", "fusebox-recent"]:
                show(
                    f"{f} extra / (0.25 x {c} all success)",
                    per_round(lambda v, f=f, c=c: (v(CM, f) - v(CS, f)) / (0.25 * v(CS, c)), t),
                )
        for c in ["fusebox-precise", "fusebox-recent"]:
            show(f"{c}: open rejection (ns)", per_round(lambda v, c=c: v(OR, c), t), ("<= 10", lambda x: x <= 10))

    if len(threads) > 1:
        t0 = threads[0]
        print(f"--- aggregate scaling against {t0} thread(s), from each contender's median slice")
        print(f"{'group':15} {'contender':18} " + " ".join(f"{t:>7}" for t in threads))
        for g in [CS, CM, OR]:
            for c in sorted({k[1] for k in d if k[0] == g}):
                m = {}
                for t in threads:
                    xs = [d[(g, c, t, r)] for r in rounds if (g, c, t, r) in d]
                    if xs:
                        m[t] = statistics.median(xs)
                if t0 in m:
                    cells = [f"{t * m[t0] / (t0 * m[t]):6.2f}x" if t in m else "      -" for t in threads]
                    print(f"{g:15} {c:18} " + " ".join(cells))

        # Scaling paired round by round: each round's aggregate at t against
        # the same round's at t0. The runner runs every thread count in
        # every round, so the two slices are seconds apart, not a whole
        # batch of thread counts apart (slices from a runner older than
        # that, which ran the thread counts one after another, pair slices
        # minutes apart here).
        print(f"--- scaling against {t0} thread(s), paired round by round")
        for t in threads[1:]:
            for g, c in [(CS, "fusebox-precise"), (CS, "fusebox-recent"), (CS, "floor-padded-add"),
                         (OR, "fusebox-precise"), (OR, "fusebox-recent")]:
                xs = []
                for r in rounds:
                    if (g, c, t, r) in d and (g, c, t0, r) in d:
                        xs.append(t * d[(g, c, t0, r)] / (t0 * d[(g, c, t, r)]))
                target = (">= 1.8", lambda x: x >= 1.8) if t == 2 * t0 and g == CS and c.startswith("fusebox") else None
                show(f"{g} {c}: {t} / {t0} threads", xs, target)

    # Aggregate against the best competitor (target: >= 10x at the highest
    # thread count), from median slices: aggregate = threads / ns_per_op_thread.
    competitors = ["mutex-breaker", "recloser", "failsafe", "failsafe-consec"]
    print("--- closed_success aggregate: fusebox / best competitor, from median slices")
    for t in threads:
        def agg(c):
            xs = [d[(CS, c, t, r)] for r in rounds if (CS, c, t, r) in d]
            return t * 1e3 / statistics.median(xs) if xs else None

        best = max(((agg(c), c) for c in competitors if agg(c)), default=None)
        if best is None:
            continue
        for c in ["fusebox-precise", "fusebox-recent", "floor-slot-rules", "floor-slot-cas", "floor-padded-add"]:
            a = agg(c)
            if a:
                print(f"{t:3} thread(s): {c:17} {a:8.1f} Mops/s = {a / best[0]:5.2f}x {best[1]} ({best[0]:.1f})")

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
