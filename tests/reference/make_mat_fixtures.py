"""Writes tests/reference/mat/: small MATLAB 5 files from scipy.io.savemat and expected.json,
which describes every variable as crates/ssr2-data/src/mat.rs should read it (column-major).

Run from the repository root: python3 tests/reference/make_mat_fixtures.py (numpy, scipy).
"""

import json
import os

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mat")


def num(a):
    a = np.atleast_2d(np.asarray(a))
    return {"kind": "numeric", "dims": list(a.shape), "data": [float(v) for v in a.flatten(order="F")]}


def text(s):
    return {"kind": "char", "dims": [1, len(s)] if s else [0, 0], "text": s}


def cell(items, shape):
    return {"kind": "cell", "dims": list(shape), "items": items}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    # Numeric classes, matrices (column-major order matters), scalars, empty.
    labels = np.array([[77, 77, 77, 2, 102, 1, 51]], dtype=np.float64)
    u8 = np.array([[1, 2, 3], [250, 251, 255]], dtype=np.uint8)
    u16 = np.array([[300, 65535, 0]], dtype=np.uint16)
    i32 = np.array([[-5]], dtype=np.int32)
    f64 = np.array([[0.5, -1.25], [3.0e10, 1.0 / 3.0]])
    empty = np.zeros((0, 0))
    numeric = {"labels": labels, "u8": u8, "u16": u16, "i32": i32, "f64": f64, "empty": empty}
    desc = {k: num(v) for k, v in numeric.items()}
    for fname, compress in [("numeric.mat", False), ("numeric_z.mat", True)]:
        scipy.io.savemat(os.path.join(OUT, fname), numeric, do_compression=compress)
        expected[fname] = desc

    # Stanford-Cars-like: a 1x3 struct array with numeric and char fields, a cell of names.
    fields = ["bbox_x1", "bbox_y1", "class", "fname"]
    rows = [(39, 116, 14, "00001.jpg"), (36, 48, 3, "00002.jpg"), (85, 5, 196, "08144.jpg")]
    st = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    items = []
    for i, (x1, y1, c, fn) in enumerate(rows):
        st[0, i] = (np.array([[x1]], np.uint16), np.array([[y1]], np.uint8), np.array([[c]], np.uint8), fn)
        items.append([num(np.array([[x1]])), num(np.array([[y1]])), num(np.array([[c]])), text(fn)])
    names = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "smart fortwo Convertible 2012", "Citroën"]
    cells = np.empty((1, len(names)), dtype=object)
    for i, n in enumerate(names):
        cells[0, i] = n
    cars = {"annotations": st, "class_names": cells}
    cars_desc = {
        "annotations": {"kind": "struct", "dims": [1, 3], "fields": fields, "items": items},
        "class_names": cell([text(n) for n in names], [1, len(names)]),
    }
    for fname, compress in [("cars.mat", False), ("cars_z.mat", True)]:
        scipy.io.savemat(os.path.join(OUT, fname), cars, do_compression=compress)
        expected[fname] = cars_desc

    write_dataset_annotations()
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


def write_dataset_annotations():
    """Annotation files shaped like the real Flowers102 and Stanford Cars ones, for the reader
    tests in crates/ssr2-data/tests/images.rs (which add the image files themselves)."""
    # Flowers102: 8 images, labels 1-based (double, 1 x N); trnid picks 4 of them.
    flowers = os.path.join(OUT, "flowers102")
    os.makedirs(flowers, exist_ok=True)
    labels = np.array([[1, 60, 1, 102, 52, 51, 60, 2]], dtype=np.float64)
    scipy.io.savemat(os.path.join(flowers, "imagelabels.mat"), {"labels": labels})
    setid = {
        "trnid": np.array([[8, 2, 3, 4, 6]], dtype=np.float64),
        "valid": np.array([[1]], dtype=np.float64),
        "tstid": np.array([[5, 7]], dtype=np.float64),
    }
    scipy.io.savemat(os.path.join(flowers, "setid.mat"), setid, do_compression=True)

    # Stanford Cars devkit: 196 class names (cell), 5 train annotations (struct array).
    cars = os.path.join(OUT, "stanford_cars")
    os.makedirs(cars, exist_ok=True)
    names = np.empty((1, 196), dtype=object)
    for i in range(196):
        names[0, i] = f"Car Model {i + 1} 20{i % 13:02d}"
    scipy.io.savemat(os.path.join(cars, "cars_meta.mat"), {"class_names": names}, do_compression=True)
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    rows = [(39, 116, 569, 375, 14, "00001.jpg"), (36, 48, 868, 372, 99, "00002.jpg"),
            (85, 109, 601, 381, 1, "00003.jpg"), (621, 393, 1484, 1096, 196, "00004.jpg"),
            (14, 36, 133, 99, 14, "00005.jpg")]
    st = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, r in enumerate(rows):
        st[0, i] = tuple(np.array([[v]], np.uint16 if v > 255 else np.uint8) for v in r[:5]) + (r[5],)
    scipy.io.savemat(os.path.join(cars, "cars_train_annos.mat"), {"annotations": st}, do_compression=True)


if __name__ == "__main__":
    main()
