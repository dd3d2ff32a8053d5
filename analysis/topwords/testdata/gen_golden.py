#!/usr/bin/python3
"""Generate golden.json for the topwords package's NeuroX golden test.

Run with Debian's python3 and its NumPy 1.24:

    cd analysis/topwords && /usr/bin/python3 testdata/gen_golden.py

get_top_words below is NeuroX's neurox/analysis/corpus.py get_top_words
(master a9ac7cd) call for call, on one flat sentence: NumPy's float32 mean
and population std (pairwise sums), float32 |z|, per-type sums in token
order (NumPy 1.x makes 0 + float32 a float64, so these and the scores are
float64), the scores divided by the largest, Python's stable sort by
descending score, kept above min_threshold = 0.1. The activations are drawn
here (seeded) and stored exactly (float32 little-endian, base64), the tokens
as indices into the type list; each neuron's result as (type index, score),
the score a float64 printed exactly (Python's repr).
"""

import base64
import json
from collections import defaultdict

import numpy as np


def get_top_words(tokens, activation_values, min_threshold=0.1):
    mean = np.mean(activation_values)
    std = np.std(activation_values)
    token_wise_scores = np.abs((activation_values - mean) / std)
    agg = defaultdict(lambda: (0, 0))
    for idx, token in enumerate(tokens):
        curr_sum, curr_count = agg[token]
        agg[token] = (curr_sum + token_wise_scores[idx], curr_count + 1)
    type_wise_scores = [(k, v[0] / v[1]) for k, v in agg.items()]
    max_score = max([s for _, s in type_wise_scores])
    type_wise_scores = [(k, v / max_score) for k, v in type_wise_scores]
    ordered = sorted(type_wise_scores, key=lambda x: -x[1])
    return [(k, v) for (k, v) in ordered if v > min_threshold]


def main():
    rng = np.random.default_rng(20261128)
    n_tokens, n_types = 3000, 120
    # Zipf-like type frequencies: a few frequent types, a long tail.
    p = 1.0 / np.arange(1, n_types + 1)
    p /= p.sum()
    tokens = rng.choice(n_types, size=n_tokens, p=p)
    neurons = []
    # 0: N(0, 1) with types 3 and 17 planted at +4 and -3.
    a = rng.standard_normal(n_tokens)
    a[tokens == 3] += 4
    a[tokens == 17] -= 3
    neurons.append(("planted", a))
    # 1: ReLU-like, zero on most tokens: types made only of zeros tie exactly.
    b = np.maximum(rng.standard_normal(n_tokens) - 1.2, 0)
    b[tokens % 7 == 0] = 0
    neurons.append(("sparse", b))
    # 2: heavy tails (Student t, 2 degrees of freedom), offset 5.
    neurons.append(("heavy", 5 + rng.standard_t(2, n_tokens)))
    # 3: a per-type level plus noise, scale 1e-3.
    level = rng.standard_normal(n_types)
    neurons.append(("levels", 1e-3 * (level[tokens] + 0.5 * rng.standard_normal(n_tokens))))
    out = {"tokens": [int(t) for t in tokens], "types": ["w%d" % i for i in range(n_types)], "neurons": []}
    for name, v in neurons:
        v = v.astype(np.float32)
        words = get_top_words([out["types"][t] for t in tokens], v)
        out["neurons"].append({
            "name": name,
            "values": base64.b64encode(v.astype("<f4").tobytes()).decode(),
            "top": [[int(k[1:]), float(s)] for k, s in words],
        })
    out["numpy"] = np.__version__
    with open("testdata/golden.json", "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
