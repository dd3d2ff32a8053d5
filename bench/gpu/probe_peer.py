"""NeuroX's probe protocol in PyTorch on the GPU: the peer of gpubench probe.

Mirrors neurox.interpretation.linear_probe._train_probe (as
bench/probe/peer.py does on the CPU), with the data on the GPU: a
torch.nn.Linear probe, CrossEntropyLoss + l1*sum|W| + l2*sqrt(sum W^2) on
every batch, Adam(lr=1e-3), batches of 32 consecutive rows, 10 epochs; then
held-out accuracy. The clock starts once the data are on the GPU. Prints
"RESULT probe torch-neurox rows=R neurons=N s=SECONDS acc=ACCURACY". GRAIN_PEER_DEVICE=cpu runs it on the CPU
(to check the script).

    python3 probe_peer.py DIR ROWS NEURONS LABELS [EPOCHS]
"""
import os
import sys
import time

import numpy as np
import torch

d, rows, neurons, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
epochs = int(sys.argv[5]) if len(sys.argv) > 5 else 10
dev = torch.device(os.environ.get("GRAIN_PEER_DEVICE", "cuda"))


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


t0 = time.time()
xtr = torch.from_numpy(np.fromfile(d + "/train.x", dtype="<f4").reshape(rows, neurons)).to(dev)
ytr = torch.from_numpy(np.fromfile(d + "/train.y", dtype="<i4").astype(np.int64)).to(dev)
xte = torch.from_numpy(np.fromfile(d + "/test.x", dtype="<f4").reshape(-1, neurons)).to(dev)
yte = torch.from_numpy(np.fromfile(d + "/test.y", dtype="<i4").astype(np.int64)).to(dev)
sync()
name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
print("torch %s on %s: data on the device in %.1f s" % (torch.__version__, name, time.time() - t0), flush=True)
torch.manual_seed(1)
l1 = l2 = 1e-5
probe = torch.nn.Linear(neurons, labels).to(dev)
crit = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
start = time.time()
for epoch in range(epochs):
    e0 = time.time()
    for i in range(0, rows, 32):
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
print("torch neurox protocol (%d epochs): %.2f s, held-out accuracy %.4f" % (epochs, secs, acc))
print("RESULT probe torch-neurox rows=%d neurons=%d s=%.3f acc=%.4f" % (rows, neurons, secs, acc))
