"""NeuroX's probe protocol in PyTorch: the peer of bench/probe (CPU) and of
gpubench probe (bench/gpu, on the GPU).

Mirrors neurox.interpretation.linear_probe._train_probe: a torch.nn.Linear
probe, CrossEntropyLoss + l1*sum|W| + l2*sqrt(sum W^2) on every batch,
Adam(lr=1e-3), batches of 32 consecutive rows, EPOCHS epochs (NeuroX: 10);
then held-out accuracy. The data are on the device before the clock
starts. Prints "RESULT probe torch-neurox rows=R neurons=N s=SECONDS
acc=ACCURACY".

    python3 peer.py DIR ROWS NEURONS LABELS [--epochs 10] [--threads N] [--device cpu|cuda]

--threads sets torch's CPU thread count (default: all cores).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("rows", type=int)
ap.add_argument("neurons", type=int)
ap.add_argument("labels", type=int)
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--device", default="cpu")
a = ap.parse_args()
dev = torch.device(a.device)
torch.set_num_threads(a.threads)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def load(name, shape, dtype):
    x = np.fromfile(os.path.join(a.dir, name), dtype=dtype)
    return torch.from_numpy(x.reshape(shape) if shape else x.astype(np.int64)).to(dev)


t0 = time.time()
xtr, ytr = load("train.x", (a.rows, a.neurons), "<f4"), load("train.y", None, "<i4")
xte, yte = load("test.x", (-1, a.neurons), "<f4"), load("test.y", None, "<i4")
sync()
where = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu, %d threads" % torch.get_num_threads()
print("torch %s on %s: data on the device in %.1f s" % (torch.__version__, where, time.time() - t0), flush=True)
torch.manual_seed(1)
l1 = l2 = 1e-5
probe = torch.nn.Linear(a.neurons, a.labels).to(dev)
crit = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
start = time.time()
for epoch in range(a.epochs):
    e0 = time.time()
    for i in range(0, a.rows, 32):
        x, y = xtr[i:i + 32], ytr[i:i + 32]
        opt.zero_grad()
        w = probe.weight
        loss = crit(probe(x), y) + l1 * torch.abs(w).sum() + l2 * torch.sqrt(torch.pow(w, 2).sum())
        loss.backward()
        opt.step()
    sync()
    print("torch epoch %d: %.2f s" % (epoch + 1, time.time() - e0), file=sys.stderr, flush=True)
secs = time.time() - start
with torch.no_grad():
    acc = (probe(xte).argmax(1) == yte).float().mean().item()
print("torch neurox protocol (%d epochs): %.2f s, held-out accuracy %.4f" % (a.epochs, secs, acc))
print("RESULT probe torch-neurox rows=%d neurons=%d s=%.3f acc=%.4f" % (a.rows, a.neurons, secs, acc))
