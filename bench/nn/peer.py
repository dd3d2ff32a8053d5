#!/usr/bin/env python3
"""PyTorch peer of bench/nn: the same NMT (bidirectional-first LSTM encoder,
Luong "general" attention with input feeding, 2-layer LSTM decoder) or NLM
(2-layer LSTM), the same sizes, trained with Adam + gradient-norm clipping
on batches of exactly the shapes and per-row lengths grain timed (read from
--batches, a JSON list of {"src": [...], "tgt": [...]} lengths, 0 = filler
row), with random token ids. Prints training target tokens/s and the epoch
time it implies. Debian python3-torch 1.13, 2 threads."""
import argparse
import json
import time

import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.manual_seed(1)


class NMT(nn.Module):
    def __init__(s, vs, vt, e, h, p):
        super().__init__()
        s.se, s.te = nn.Embedding(vs, e), nn.Embedding(vt, e)
        s.enc0 = nn.LSTM(e, h, bidirectional=True)
        s.enc1 = nn.LSTM(2 * h, h)
        s.dec0 = nn.LSTMCell(e + h, h)
        s.dec1 = nn.LSTMCell(h, h)
        s.wa = nn.Linear(h, h, bias=False)
        s.wc = nn.Linear(2 * h, h, bias=False)  # [ctx; h], ctx is h wide (top layer unidirectional)
        s.out = nn.Linear(h, vt)
        s.drop = nn.Dropout(p)
        s.h = h

    def forward(s, src, slen, tin):
        x = s.drop(s.se(src))
        x = nn.utils.rnn.pack_padded_sequence(x, slen, enforce_sorted=False)
        m, _ = s.enc0(x)
        m, _ = nn.utils.rnn.pad_packed_sequence(m, total_length=src.shape[0])
        m, _ = s.enc1(s.drop(m))
        keys = s.wa(m)  # (S, B, H)
        smask = torch.arange(src.shape[0])[:, None] >= slen[None, :]
        b = src.shape[1]
        z = torch.zeros(b, s.h)
        h0 = c0 = h1 = c1 = feed = z
        emb = s.drop(s.te(tin))
        outs = []
        for t in range(tin.shape[0]):
            h0, c0 = s.dec0(torch.cat([emb[t], feed], 1), (h0, c0))
            h1, c1 = s.dec1(s.drop(h0), (h1, c1))
            sc = (keys * h1[None]).sum(2).masked_fill(smask, float("-inf"))
            a = torch.softmax(sc, 0)
            ctx = (a[:, :, None] * m).sum(0)
            feed = s.drop(torch.tanh(s.wc(torch.cat([ctx, h1], 1))))
            outs.append(feed)
        return s.out(torch.stack(outs))


class NLM(nn.Module):
    def __init__(s, v, e, h, p):
        super().__init__()
        s.emb, s.lstm, s.out, s.drop = nn.Embedding(v, e), nn.LSTM(e, h, 2, dropout=p), nn.Linear(h, v), nn.Dropout(p)

    def forward(s, tin):
        y, _ = s.lstm(s.drop(s.emb(tin)))
        return s.out(s.drop(y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--src-vocab", type=int, required=True)
    ap.add_argument("--tgt-vocab", type=int, required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--epoch-tokens", type=int, required=True)
    a = ap.parse_args()
    batches = json.load(open(a.batches))
    h = a.hidden
    net = NMT(a.src_vocab, a.tgt_vocab, h, h, 0.3) if a.model == "nmt" else NLM(a.tgt_vocab, h, h, 0.3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss(ignore_index=-1)
    net.train()

    def step(bt):
        tl = torch.tensor(bt["tgt"])
        T, B = bt["T"], len(bt["tgt"])
        tin = torch.randint(4, a.tgt_vocab, (T, B))
        tout = torch.randint(4, a.tgt_vocab, (T, B))
        tout[torch.arange(T)[:, None] >= tl[None, :]] = -1
        if a.model == "nmt":
            sl = torch.tensor([max(x, 1) for x in bt["src"]])
            src = torch.randint(4, a.src_vocab, (bt["S"], B))
            logits = net(src, sl, tin)
        else:
            logits = net(tin)
        loss = lossf(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        return int((tout >= 0).sum())

    step(batches[0])  # warm-up
    t0, tokens = time.time(), 0
    for bt in batches:
        tokens += step(bt)
    el = time.time() - t0
    tps = tokens / el
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads): {len(batches)} steps in {el:.1f} s: "
          f"{tps:.0f} target tok/s, {el / len(batches):.3f} s/step → {a.epoch_tokens / tps / 60:.1f} min per epoch")


if __name__ == "__main__":
    main()
