"""NeuroX's probe protocol in PyTorch, the peer of bench/probe.

Mirrors neurox.interpretation.linear_probe._train_probe on the CPU: a
torch.nn.Linear probe, CrossEntropyLoss + l1 * sum|W| + l2 * sqrt(sum W^2)
added on every batch, Adam(lr=1e-3), batches of 32 consecutive rows, 10
epochs; then test accuracy. Prints "RESULT <seconds> <accuracy>". The
optional fifth argument sets torch's thread count (default: all cores).
"""
import os
import sys
import time

import numpy as np
import torch

d, rows, neurons, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
threads = int(sys.argv[5]) if len(sys.argv) > 5 else os.cpu_count()
xtr = torch.from_numpy(np.fromfile(d + "/train.x", dtype="<f4").reshape(rows, neurons))
ytr = torch.from_numpy(np.fromfile(d + "/train.y", dtype="<i4").astype(np.int64))
xte = torch.from_numpy(np.fromfile(d + "/test.x", dtype="<f4").reshape(-1, neurons))
yte = torch.from_numpy(np.fromfile(d + "/test.y", dtype="<i4").astype(np.int64))
torch.set_num_threads(threads)
torch.manual_seed(1)
l1 = l2 = 1e-5
probe = torch.nn.Linear(neurons, labels)
crit = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
print("torch", torch.__version__, "threads", torch.get_num_threads(), flush=True)
start = time.time()
for epoch in range(10):
    e0 = time.time()
    for i in range(0, rows, 32):
        x, y = xtr[i:i + 32], ytr[i:i + 32]
        opt.zero_grad()
        w = probe.weight
        loss = crit(probe(x), y) + l1 * torch.abs(w).sum() + l2 * torch.sqrt(torch.pow(w, 2).sum())
        loss.backward()
        opt.step()
    print("torch epoch %d: %.2f s" % (epoch + 1, time.time() - e0), file=sys.stderr, flush=True)
secs = time.time() - start
with torch.no_grad():
    acc = (probe(xte).argmax(1) == yte).float().mean().item()
print("torch neurox protocol: %.2f s, test accuracy %.4f" % (secs, acc))
print("RESULT %.4f %.4f" % (secs, acc))
