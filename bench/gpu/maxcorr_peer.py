"""MaxCorr in PyTorch on the GPU: the peer of gpubench maxcorr.

Activations resident in GPU memory, built like gpubench's (x = Z W + noise,
a shared latent Z of 32 dimensions, W per model); timed: column mean and
standard deviation (population), standardization, Z_A^T Z_B / T, and the
max |r| per row and per column. Two variants, the faster of which is the
baseline: "chunked" standardizes and multiplies 32768 tokens at a time,
accumulating into one N x M matrix (grain's algorithm); "whole"
standardizes both models at once and multiplies once (needs twice the
memory). Precision: fp32 (allow_tf32 off), tf32 (allow_tf32 on), bf16
(chunks cast to bfloat16, float32 output). Median of REPS timed runs after
a warm-up, each synchronized. Prints one "RESULT maxcorr torch-..." line
per case. GRAIN_PEER_DEVICE=cpu runs it on the CPU (to check the script).

    python3 maxcorr_peer.py N M T[,T...] PRECS [REPS]
"""
import os
import sys
import time

import torch

n, m = int(sys.argv[1]), int(sys.argv[2])
tokens = [int(float(t)) for t in sys.argv[3].split(",")]
precs = sys.argv[4].split(",")
reps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
dev = torch.device(os.environ.get("GRAIN_PEER_DEVICE", "cuda"))
CHUNK = 32768
name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
print("torch %s on %s" % (torch.__version__, name), flush=True)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def build(t, cols, z, seed):
    g = torch.Generator(device=dev).manual_seed(seed)
    w = torch.randn(32, cols, device=dev, generator=g) / 32 ** 0.5
    x = torch.randn(t, cols, device=dev, generator=g)
    x.addmm_(z, w)
    return x


def empty_cache():
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def stats(x):
    sd, mu = torch.std_mean(x, dim=0, correction=0)
    inv = torch.where(sd > 0, 1 / sd, torch.zeros_like(sd))
    return mu, inv


def mm(a, b, prec):
    if prec == "bf16":
        return torch.mm(a.t().bfloat16(), b.bfloat16(), out_dtype=torch.float32)
    return a.t() @ b


def chunked(x, y, prec):
    t = x.shape[0]
    mx, ix = stats(x)
    my, iy = stats(y)
    c = torch.zeros(x.shape[1], y.shape[1], device=dev)
    for t0 in range(0, t, CHUNK):
        za = (x[t0:t0 + CHUNK] - mx) * ix
        zb = (y[t0:t0 + CHUNK] - my) * iy
        c += mm(za, zb, prec)
    c /= t
    return c.abs().amax(1), c.abs().amax(0)


def whole(x, y, prec):
    t = x.shape[0]
    mx, ix = stats(x)
    my, iy = stats(y)
    c = mm((x - mx) * ix, (y - my) * iy, prec) / t
    return c.abs().amax(1), c.abs().amax(0)


def timed(fn, *args):
    fn(*args)
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(*args)
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    times.sort()
    return times[len(times) // 2]


for t in tokens:
    g = torch.Generator(device=dev).manual_seed(1)
    z = torch.randn(t, 32, device=dev, generator=g)
    x, y = build(t, n, z, 2), build(t, m, z, 3)
    del z
    for prec in precs:
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        best = None
        for variant, fn in (("chunked", chunked), ("whole", whole)):
            try:
                ms = timed(fn, x, y, prec)
            except (RuntimeError, TypeError) as err:  # out of memory; bf16 without out_dtype
                print("torch %s T=%d %s: %s" % (variant, t, prec, str(err).split("\n")[0][:120]), flush=True)
                empty_cache()
                continue
            tf = 2 * n * m * t / (ms / 1e3) / 1e12
            print("torch %-7s T=%-8d %-5s %10.2f ms %8.1f TFLOP/s-eq" % (variant, t, prec, ms, tf), flush=True)
            if best is None or ms < best[1]:
                best = (variant, ms, tf)
            empty_cache()
        if best:
            print("RESULT maxcorr torch-%s T=%d prec=%s ms=%.3f tflops=%.1f" % (best[0], t, prec, best[1], best[2]), flush=True)
    del x, y
    empty_cache()

# The products alone by operand layout, CHUNK tokens (K) per product, random
# standardized-like operands: token-major (K x N, as the chunks above: a^T b)
# and neuron-major (N x K: a b^T, both operands K-contiguous). Median of 20
# products after 3 warm-ups, each timed alone with events.
if dev.type == "cuda":
    g = torch.Generator(device=dev).manual_seed(4)
    tok_a = torch.randn(CHUNK, n, device=dev, generator=g)
    tok_b = torch.randn(CHUNK, m, device=dev, generator=g)
    nm_a, nm_b = tok_a.t().contiguous(), tok_b.t().contiguous()
    for prec in ("tf32", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        cases = {"token-major": (tok_a.t(), tok_b), "neuron-major": (nm_a, nm_b.t())}
        if prec == "bf16":
            cases = {k: (a.bfloat16(), b.bfloat16()) for k, (a, b) in cases.items()}
        for layout, (a, b) in cases.items():
            c = torch.empty(n, m, device=dev)

            def product():
                if prec == "tf32":
                    torch.mm(a, b, out=c)
                else:
                    torch.mm(a, b, out_dtype=torch.float32)

            try:
                for _ in range(3):
                    product()
                times = []
                for _ in range(20):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    product()
                    e1.record()
                    e1.synchronize()
                    times.append(e0.elapsed_time(e1))
            except (RuntimeError, TypeError) as err:  # bf16 without out_dtype
                print("torch product %s %s: %s" % (prec, layout, str(err).split("\n")[0][:120]), flush=True)
                continue
            times.sort()
            ms = times[len(times) // 2]
            print("torch product %-5s %-12s %d x %d x %d: %.3f ms, %.1f TFLOP/s" % (
                prec, layout, n, m, CHUNK, ms, 2 * n * m * CHUNK / (ms / 1e3) / 1e12), flush=True)
