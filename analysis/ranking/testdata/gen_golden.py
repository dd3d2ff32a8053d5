#!/usr/bin/python3
"""Generate golden.json for the ranking package's NumPy golden test.

Run with Debian's python3 and its NumPy 1.24 (not a pyenv or venv python):

    cd analysis/ranking && /usr/bin/python3 testdata/gen_golden.py

The functions below transcribe NeuroX's neurox/interpretation/linear_probe.py
(get_top_neurons, get_bottom_neurons, get_top_neurons_hard_threshold and the
union sets of get_neuron_ordering) call for call, on weights = np.abs(W) in
float32. One deliberate difference: NeuroX calls np.argsort(row), whose
default quicksort is not stable, so the order of exactly tied weights is an
implementation detail of the NumPy build; grain specifies a stable sort, so
this script passes kind="stable". The "notes" field records how many of the
golden per-label lists the default sort would have changed (in order, and in
which neurons they hold).

Everything is stored exactly: float32 values as little-endian bytes (base64)
or uint32 bit patterns, index lists as counts into the per-row stable
argsort (whose SHA-256 is stored), index sets as bitmasks (base64, bit j of
a row is byte j//8, bit j%8).
"""

import base64
import hashlib
import json
import os
import sys

import numpy as np

PERCENTAGES = [0.0, 0.01, 0.25, 1 / 3, 0.5, 0.51, 2 / 3, 0.9, 0.999, 1.0, 1.5]
FRACTIONS = [1.0, 1.5, 2.0, 3.3, 7.1, 10.0]
STRIDE = 100


def top_neurons(weights, percentage, kind="stable"):
    """NeuroX get_top_neurons on weights = |W| (float32)."""
    top = []
    for c in range(weights.shape[0]):
        total_mass = np.sum(weights[c, :])
        sort_idx = np.argsort(weights[c, :], kind=kind)[::-1]
        cum_sums = np.cumsum(weights[c, sort_idx])
        unselected_neurons = np.where(cum_sums >= total_mass * percentage)[0]
        if unselected_neurons.shape[0] == 0:
            selected_neurons = np.arange(cum_sums.shape[0])
        else:
            selected_neurons = np.arange(unselected_neurons[0] + 1)
        top.append(sort_idx[selected_neurons])
    return top


def bottom_neurons(weights, percentage, kind="stable"):
    """NeuroX get_bottom_neurons on weights = |W| (float32)."""
    bottom = []
    for c in range(weights.shape[0]):
        total_mass = np.sum(weights[c, :])
        sort_idx = np.argsort(weights[c, :], kind=kind)
        cum_sums = np.cumsum(weights[c, sort_idx])
        unselected_neurons = np.where(cum_sums >= total_mass * percentage)[0]
        if unselected_neurons.shape[0] == 0:
            selected_neurons = np.arange(cum_sums.shape[0])
        else:
            selected_neurons = np.arange(unselected_neurons[0] + 1)
        bottom.append(sort_idx[selected_neurons])
    return bottom


def hard_threshold(weights, fraction):
    """NeuroX get_top_neurons_hard_threshold on weights = |W| (float32)."""
    return [
        np.where(weights[c, :] > np.max(weights[c, :]) / fraction)[0]
        for c in range(weights.shape[0])
    ]


def union(lists):
    s = set()
    for l in lists:
        s.update(int(t) for t in l)
    return s


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def mask(indices, n):
    bits = np.zeros(n, dtype=np.uint8)
    bits[np.asarray(sorted(indices), dtype=np.int64)] = 1
    return np.packbits(bits, bitorder="little")


def sequential_cumsum_ok(row):
    """Check that np.cumsum is the sequential float32 running sum."""
    acc, out = np.float32(0), []
    for v in row:
        acc = np.float32(acc + v)
        out.append(acc)
    return np.array_equal(np.cumsum(row), np.array(out, dtype=np.float32))


def matrix_case(name, W, explicit_lists=False, union_masks=True):
    weights = np.abs(W)
    L, N = weights.shape
    asc = np.stack([np.argsort(weights[c, :], kind="stable") for c in range(L)])
    case = {
        "name": name,
        "labels": L,
        "neurons": N,
        "weights_f32le": b64(W.astype("<f4")),
        "totals_bits": [int(np.sum(weights[c, :]).view(np.uint32)) for c in range(L)],
        "argsort_sha256": hashlib.sha256(asc.astype("<u4").tobytes()).hexdigest(),
        "top_counts": [],
        "bottom_counts": [],
        "hard_masks": [],
        "union_sizes": [],
    }
    differ = [0, 0]  # lists in another order, lists with other neurons
    for p in PERCENTAGES:
        top = top_neurons(weights, p)
        bottom = bottom_neurons(weights, p)
        for c in range(L):  # the lists are prefixes of the stored argsort
            assert np.array_equal(top[c], asc[c, ::-1][: len(top[c])])
            assert np.array_equal(bottom[c], asc[c, : len(bottom[c])])
        case["top_counts"].append([len(t) for t in top])
        case["bottom_counts"].append([len(b) for b in bottom])
        if explicit_lists:
            case.setdefault("top_lists", []).append([t.tolist() for t in top])
            case.setdefault("bottom_lists", []).append([b.tolist() for b in bottom])
        for got, want in ((top_neurons(weights, p, "quicksort"), top),
                          (bottom_neurons(weights, p, "quicksort"), bottom)):
            differ[0] += sum(not np.array_equal(g, w) for g, w in zip(got, want))
            differ[1] += sum(set(g.tolist()) != set(w.tolist()) for g, w in zip(got, want))
    for f in FRACTIONS:
        hard = hard_threshold(weights, f)
        case["hard_masks"].append(b64(np.concatenate([mask(h, N) for h in hard])))
    masks = []
    for k in range(STRIDE + 1):
        u = union(top_neurons(weights, k / STRIDE))
        case["union_sizes"].append(len(u))
        masks.append(mask(u, N))
    if union_masks:
        case["union_masks"] = b64(np.concatenate(masks))
    else:
        case["union_masks_sha256"] = hashlib.sha256(np.concatenate(masks).tobytes()).hexdigest()
    return case, differ


def probe_like(rng, L, N, zero_rows, tie_rows):
    """Normal weights with per-row scales, L1-style exact zeros, rows of
    exact ties (|w| equal with either sign) and all-zero rows."""
    W = rng.standard_normal((L, N)).astype(np.float32)
    W *= rng.uniform(0.01, 3.0, size=(L, 1)).astype(np.float32)
    W[rng.random((L, N)) < 0.2] = 0
    for c in tie_rows:
        src = rng.integers(0, N, size=N // 4)
        dst = rng.integers(0, N, size=N // 4)
        W[c, dst] = W[c, src] * rng.choice(np.array([-1, 1], dtype=np.float32), size=N // 4)
    W[zero_rows, :] = 0
    return W


def crafted_cases():
    """Rows of 5 where the NumPy 1.x threshold rules matter: the product
    total*percentage is float64 and the comparison rounds it to float32,
    and max/fraction is float64 rounded to float32 before comparing. Each
    row is found by search so that a different rule (exact float64
    comparison, or float32 arithmetic) would select differently at one of
    the golden percentages (or ordering steps) or fractions."""
    rng = np.random.default_rng(7)
    rows, found_top, found_hard = [], 0, 0
    steps = sorted(set(PERCENTAGES) | {k / STRIDE for k in range(STRIDE + 1)})
    while found_top < 6 or found_hard < 4:
        row = (rng.integers(1, 40, size=5) * np.float32(rng.choice([0.1, 0.3, 1.0, 0.7]))).astype(np.float32)
        total = np.sum(row)
        sort_idx = np.argsort(row, kind="stable")[::-1]
        cum = np.cumsum(row[sort_idx])
        for p in steps:
            numpy_rule = np.where(cum >= total * p)[0]
            exact_rule = np.where(cum.astype(np.float64) >= np.float64(total) * p)[0]
            f32_rule = np.where(cum >= np.float32(total) * np.float32(p))[0]
            if found_top < 6 and (not np.array_equal(numpy_rule, exact_rule)
                                  or not np.array_equal(numpy_rule, f32_rule)):
                rows.append(row)
                found_top += 1
                break
        m = np.max(row)
        for f in FRACTIONS:
            t64 = np.float32(np.float64(m) / f)
            t32 = np.float32(m) / np.float32(f)
            if found_hard < 4 and t64 != t32:
                # one of the two thresholds is an element of the row, so
                # exactly one rule selects it
                rows.append(np.array([m, max(t64, t32), min(t64, t32), 0, 0], dtype=np.float32))
                found_hard += 1
                break
    return np.stack(rows).astype(np.float32)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(20190127)
    A = probe_like(rng, 45, 2048, zero_rows=[7, 30], tie_rows=[1, 2, 3, 20])
    A[11, :] = np.float32(0.5)  # one row of all-equal weights
    A[12, :] = 0
    A[12, 100] = np.float32(-2.0)  # a single non-zero weight
    B = (rng.integers(0, 8, size=(5, 300)) * np.float32(0.125)).astype(np.float32)
    B *= rng.choice(np.array([-1, 1], dtype=np.float32), size=B.shape)
    B[3, :] = 0
    C = (rng.lognormal(0.0, 2.5, size=(3, 10000)) * rng.choice([-1, 1], size=(3, 10000))).astype(np.float32)
    D = crafted_cases()

    assert sequential_cumsum_ok(np.abs(C[0, :]))
    cases, notes = [], []
    for name, W, kw in (("probe45x2048", A, {}),
                        ("ties5x300", B, {"explicit_lists": True}),
                        ("lognormal3x10000", C, {"union_masks": False}),
                        ("crafted", D, {"explicit_lists": True})):
        case, differ = matrix_case(name, W, **kw)
        cases.append(case)
        notes.append(f"{name}: under NumPy's default (unstable) argsort {differ[0]} of "
                     f"{2 * len(PERCENTAGES) * W.shape[0]} per-label top/bottom lists differ, "
                     f"{differ[1]} of them in their set of neurons")
    out = {
        "generator": "testdata/gen_golden.py",
        "numpy_version": np.__version__,
        "percentages": PERCENTAGES,
        "fractions": FRACTIONS,
        "stride": STRIDE,
        "notes": notes,
        "cases": cases,
    }
    with open(os.path.join(here, "golden.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("\n".join(notes), file=sys.stderr)


if __name__ == "__main__":
    main()
