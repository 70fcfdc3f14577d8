#!/usr/bin/env python3
"""Reference outputs of numpy's legacy RandomState for ssr2-data's split tests.

The SSR2-GCD reference code draws the labelled subset with
`np.random.seed(0); np.random.choice(range(n), replace=False, size=int(0.5 * n))` over the
old-class samples in the dataset's order (docs/FIDELITY.md). ssr2-data reimplements the legacy
MT19937 stream and `choice(replace=False)`; these are the values it must reproduce.

Regenerate:  pip install numpy && python3 tests/reference/make_numpy_split_reference.py
Writes tests/reference/numpy_split/legacy_random_state.json (committed; CI needs no numpy).
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numpy_split",
                   "legacy_random_state.json")


def state_head(rs):
    _, key, pos, _, _ = rs.get_state()
    return {"key_head": [int(k) for k in key[:8]], "key_tail": [int(k) for k in key[-4:]],
            "pos": int(pos)}


def raw_stream(seed, count):
    # randint over the full uint32 range returns the raw 32-bit outputs (numpy's bounded
    # generator passes them through when the range is 0xffffffff).
    rs = np.random.RandomState(seed)
    return [int(v) for v in rs.randint(0, 2**32, size=count, dtype=np.uint32)]


def labelled_like_the_reference(labels, old_classes, prop):
    # Old-class samples in dataset order, then the seed-0 choice over their positions.
    old = [i for i, t in enumerate(labels) if t in old_classes]
    np.random.seed(0)
    pick = np.random.choice(range(len(old)), replace=False, size=(int(prop * len(old)),))
    return sorted(old[j] for j in pick)


def main():
    out = {"numpy_version": np.__version__}
    out["seeding"] = [
        {"seed": s, **state_head(np.random.RandomState(s))} for s in [0, 1, 5489, 2**32 - 1]
    ]
    out["seeding_by_array"] = [
        {"key": k, **state_head(np.random.RandomState(np.array(k, dtype=np.uint32)))}
        for k in [[0, 0], [1, 2, 3], [2**32 - 1, 7, 123456789]]
    ]
    out["raw"] = [{"seed": s, "values": raw_stream(s, 700)} for s in [0, 12345]]
    out["permutation"] = []
    for seed in [0, 1, 7]:
        for n in [1, 2, 3, 10, 37, 100, 1000]:
            rs = np.random.RandomState(seed)
            out["permutation"].append(
                {"seed": seed, "n": n, "values": [int(v) for v in rs.permutation(n)]})
    out["choice"] = []
    # Old-class sample counts of the benchmarks (CUB 2997 train images of its 100 old classes,
    # Pets 1905, Flowers 510, CIFAR-10 25000, CIFAR-100 40000) and small cases.
    for n in [1, 2, 7, 100, 510, 1905, 2997, 25000, 40000]:
        np.random.seed(0)
        size = int(0.5 * n)
        idx = np.random.choice(range(n), replace=False, size=(size,))
        out["choice"].append({"seed": 0, "n": n, "size": size,
                              "values": [int(v) for v in idx]})
    labels = [(i * 7 + i // 3) % 6 for i in range(97)]
    out["split"] = {"labels": labels, "old_classes": [4, 1, 2], "prop": 0.5,
                    "labelled": labelled_like_the_reference(labels, {4, 1, 2}, 0.5)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
