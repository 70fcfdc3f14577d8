#!/usr/bin/env python3
"""The benchmark class lists the authors' code uses, for ssr2-data's split tests.

CUB-200 and Stanford Cars: the Semantic Shift Benchmark pickles shipped with the SSR2-GCD code
(`data/ssb_splits/{cub,scars}_osr_splits.pkl`; old = `known_classes`, new = the `Hard`, `Medium`
and `Easy` unknown classes, as `data/get_datasets.py` reads them). They are read with an
unpickler that refuses every class, so only plain lists, dicts, ints and strings load.
ImageNet-100: `np.random.seed(0); np.sort(np.random.choice(range(1000), size=(100,),
replace=False))` (`data/imagenet.py`), old = its first 50.

Usage:  python3 tests/reference/make_class_list_reference.py CUB_PKL SCARS_PKL
(e.g. extracted from a local copy of github hewei98/SSR2-GCD; never commit their files).
Writes tests/reference/class_lists.json (committed; CI reads only that).
"""
import json
import os
import pickle
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "class_lists.json")


class DataOnly(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}: data only")


def ssb(path):
    with open(path, "rb") as f:
        info = DataOnly(f).load()
    unknown = info["unknown_classes"]
    new = list(unknown["Hard"]) + list(unknown["Medium"]) + list(unknown["Easy"])
    return {"old": [int(c) for c in info["known_classes"]], "new": [int(c) for c in new]}


def main():
    cub, scars = sys.argv[1:3]
    np.random.seed(0)
    subset = np.sort(np.random.choice(range(1000), size=(100,), replace=False))
    out = {
        "cub200": ssb(cub),
        "stanford_cars": ssb(scars),
        "imagenet100": {"subset_of_imagenet1k_sorted_wnid_indices": [int(c) for c in subset],
                        "old": list(range(50))},
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
