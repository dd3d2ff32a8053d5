#!/usr/bin/env python3
"""Compares the training runs that device_run.sh ran on the GPU and on the
CPU (`grain train --json`, one file per model and device) and prints RESULT
lines: each epoch's training and validation loss on both devices with their
relative difference, and the training tokens/s of each epoch with the GPU's
speed-up (the first epoch also builds the graphs of every batch shape).

    train_compare.py OUT_DIR
"""
import json
import os
import sys


def main(out):
    for kind in ("nmt", "nlm"):
        runs = {}
        for dev in ("cuda", "cpu"):
            try:
                with open(os.path.join(out, f"train-{kind}-{dev}.json")) as f:
                    runs[dev] = json.load(f)["history"]
            except (OSError, ValueError, KeyError) as e:
                print(f"RESULT train {kind} {dev}: no result ({e})")
        if len(runs) < 2:
            continue
        worst = 0.0
        for g, c in zip(runs["cuda"], runs["cpu"]):
            rel = max(abs(g[k] - c[k]) / max(abs(c[k]), 1e-12) for k in ("train_loss", "val_loss"))
            worst = max(worst, rel)
            speed = g["tokens_per_s"] / c["tokens_per_s"] if c["tokens_per_s"] else float("nan")
            print(f"RESULT train {kind} epoch {g['epoch']}: train loss cuda {g['train_loss']:.6f} cpu {c['train_loss']:.6f}, "
                  f"val loss cuda {g['val_loss']:.6f} cpu {c['val_loss']:.6f}, max rel diff {rel:.2e}; "
                  f"tok/s cuda {g['tokens_per_s']:.0f} cpu {c['tokens_per_s']:.0f} ({speed:.2f}x)")
        print(f"RESULT train {kind}: {len(runs['cuda'])} epochs; max relative loss difference cuda vs cpu {worst:.2e}")


if __name__ == "__main__":
    main(sys.argv[1])
