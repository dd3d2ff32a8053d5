"""NumPy + OpenBLAS peer of bench/crosscorr: MaxCorr between two models.

Reads the same .npy files as grain, standardizes every neuron in place
(population statistics, float32 data), multiplies
Z_A^T Z_B / T with OpenBLAS SGEMM, and takes each neuron's max |r| with its
partner (both directions). Prints one JSON line; when grain's result file is
given (int32 partner indices then float32 r for model A's neurons), also the
largest |r| difference and the share of identical partners.

    python3 peer.py A.npy B.npy [grain.bin]
"""
import json
import sys
import time

import numpy as np


def vmhwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def standardize(x):
    """In place: x <- (x - mean) / std.

    The mean is accumulated in float64 (numpy's buffered pairwise sum), the
    variance of the centred data in float32 (einsum): the fastest variant
    measured here (a float64 einsum takes about 0.25 s more for both models,
    and (x - x.mean(0)) / x.std(0) several seconds more).
    """
    t = x.shape[0]
    mean = x.mean(axis=0, dtype=np.float64)
    x -= mean.astype(np.float32)
    var = np.einsum("ij,ij->j", x, x).astype(np.float64) / t
    with np.errstate(divide="ignore"):
        inv = np.where(var > 0, 1 / np.sqrt(var), 0).astype(np.float32)
    x *= inv
    return x


def main():
    pa, pb = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    a = np.load(pa)
    b = np.load(pb)
    loaded = time.perf_counter()
    t = a.shape[0]
    za, zb = standardize(a), standardize(b)
    r = za.T @ zb
    r *= np.float32(1 / t)
    ar = np.abs(r)
    ia = ar.argmax(axis=1)
    ib = ar.argmax(axis=0)
    ra = r[np.arange(r.shape[0]), ia]
    rb = r[ib, np.arange(r.shape[1])]
    end = time.perf_counter()
    n, m = r.shape
    sec = end - start
    out = {
        "tool": "numpy", "mode": "np.load", "tokens": t, "n": n, "m": m,
        "seconds": sec, "gflops_equiv": 2 * n * m * t / sec / 1e9,
        "vmhwm_bytes": vmhwm(),
        "input_bytes": a.nbytes + b.nbytes + 2 * 128,
        "compute_seconds": end - loaded,
    }
    if len(sys.argv) > 3:
        g = np.fromfile(sys.argv[3], dtype=np.uint8)
        gi = g[: 4 * n].view("<i4")
        gr = g[4 * n:].view("<f4")
        out["max_abs_diff_vs_grain"] = float(np.abs(gr - ra).max())
        out["argmax_agreement"] = float((gi == ia).mean())
    del rb
    print(json.dumps(out))


main()
