#!/usr/bin/env python3
"""Compares the ablation sweeps that device_run.sh ran on the GPU and on the
CPU (`grain eval --sweep --json`, one file per model and device) and prints
RESULT lines: the wall time of each sweep (from summary.txt), the speed-up,
and each evaluation's score on both devices with the largest difference.

    ablation_compare.py OUT_DIR
"""
import json
import os
import re
import sys


def main(out):
    times = {}
    with open(os.path.join(out, "summary.txt")) as f:
        for line in f:
            m = re.search(r"\] OK (ablation-\w+-\w+) after ([\d.]+)s", line)
            if m:
                times[m.group(1)] = float(m.group(2))
    for kind in ("nmt", "nlm"):
        runs = {}
        for dev in ("cuda", "cpu"):
            try:
                with open(os.path.join(out, f"ablation-{kind}-{dev}.json")) as f:
                    runs[dev] = json.load(f)
            except (OSError, ValueError) as e:
                print(f"RESULT ablation {kind} {dev}: no result ({e})")
        if len(runs) < 2:
            continue
        metric = runs["cuda"]["metric"]
        def scores(r):
            # grain's JSON leaves out a BLEU of exactly 0.
            s = {("unmasked", 0): r["unmasked"].get(metric, 0.0)}
            for e in r["sweep"]:
                s[(e["selection"], e["percent"])] = e.get(metric, 0.0)
            return s
        a, b = scores(runs["cuda"]), scores(runs["cpu"])
        worst = 0.0
        for k in sorted(a, key=lambda k: (k[1], k[0])):
            d = abs(a[k] - b.get(k, float("nan")))
            worst = max(worst, d)
            print(f"RESULT ablation {kind} {k[0]} {k[1]}%: {metric} cuda {a[k]:.4f} cpu {b.get(k, float('nan')):.4f} |Δ| {d:.4f}")
        tc, tp = times.get(f"ablation-{kind}-cuda"), times.get(f"ablation-{kind}-cpu")
        speed = f"{tp / tc:.2f}x" if tc and tp else "n/a"
        print(f"RESULT ablation {kind}: {len(a)} evaluations; cuda {tc} s, cpu {tp} s, GPU speed-up {speed}; "
              f"max |Δ{metric}| {worst:.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
