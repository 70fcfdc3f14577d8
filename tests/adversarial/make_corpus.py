#!/usr/bin/env python3
"""Writes the adversarial input corpus of tests/adversarial.rs into tests/adversarial/corpus/.

Standard library only (no numpy): .npy files, feature bundles (safetensors), gzipped IDX files
and images are written byte by byte, so the corpus is exactly what this script says. Each file
is an input a user (or an adversary) could hand to `ssr2`: degenerate shapes (n = 0, d = 0,
K = 0), values out of range, decompression bombs, oversized image headers. The expected
outcomes live in tests/adversarial.rs, next to the command lines.

    python3 tests/adversarial/make_corpus.py     # then commit tests/adversarial/corpus/
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def npy(shape, descr, values):
    fmt = {"<f4": "<f", "<i8": "<q", "<i4": "<i"}[descr]
    shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    data = b"".join(struct.pack(fmt, v) for v in values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def safetensors(tensors, metadata):
    """tensors: name -> (dtype, shape, bytes)."""
    header = {"__metadata__": metadata}
    blobs, at = [], 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def bundle(n, d, classes, num_old, labels=None, labelled=None, image=None, ids=None):
    labels = labels if labels is not None else [i % max(len(classes), 1) for i in range(n)]
    labelled = labelled if labelled is not None else [0] * n
    image = image if image is not None else [float((i * 7 + j) % 5) for i in range(n) for j in range(d)]
    ids = ids if ids is not None else ["s%d" % i for i in range(n)]
    return safetensors(
        {
            "image": ("F32", [n, d], struct.pack("<%df" % len(image), *image)),
            "label": ("I64", [n], struct.pack("<%dq" % n, *labels)),
            "labelled": ("U8", [n], bytes(labelled)),
        },
        {
            "format": "ssr2-bundle",
            "version": "1",
            "dataset": "adversarial",
            "num_old": str(num_old),
            "class_names": json.dumps(classes),
            "sample_ids": json.dumps(ids),
        },
    )


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + payload


def main():
    # Feature bundles with degenerate shapes.
    write("bundles/d0.safetensors", bundle(8, 0, ["a", "b"], 1))
    write("bundles/n0.safetensors", bundle(0, 4, ["a", "b"], 1))
    write("bundles/k0.safetensors", bundle(0, 4, [], 0))
    write("bundles/one-class.safetensors", bundle(8, 4, ["a"], 1, labelled=[1, 1, 0, 0, 0, 0, 0, 0]))
    write("bundles/no-new-class.safetensors", bundle(8, 4, ["a", "b"], 2, labelled=[1, 1, 1, 1, 0, 0, 0, 0]))
    write("bundles/num-old-beyond-k.safetensors", bundle(8, 4, ["a", "b"], 3))
    write("bundles/huge-values.safetensors", bundle(4, 2, ["a", "b"], 1, image=[1e30, 0, 0, 1, 1, 0, 0, 1]))
    write("bundles/duplicate-ids.safetensors", bundle(4, 2, ["a", "b"], 1, ids=["x", "y", "x", "z"]))
    write("bundles/label-beyond-k.safetensors", bundle(4, 2, ["a", "b"], 1, labels=[0, 1, 7, 0]))
    # The tiny CLIP's width (24), for `retrieve`: no samples (an empty shard), and eight.
    write("bundles/n0-d24.safetensors", bundle(0, 24, ["a", "b"], 1))
    write("bundles/n8-d24.safetensors", bundle(8, 24, ["a", "b"], 1, labelled=[1, 0, 0, 0, 0, 0, 0, 0]))
    # The digits' width (64), for `predict` with a digits run: no samples.
    write("bundles/n0-d64.safetensors", bundle(0, 64, ["a", "b"], 1))
    # Lexicons of `retrieve`: two entries each, and an empty file.
    write("lexicon/tags.txt", b"a photo of a cat\na photo of a dog\n")
    write("lexicon/attributes.txt", b"furry\nsmall\n")
    write("lexicon/empty.txt", b"")
    # .npy inputs of `rate` and `metrics`.
    write("npy/z-n0.npy", npy([0, 4], "<f4", []))
    write("npy/z-d0.npy", npy([5, 0], "<f4", []))
    write("npy/z-5x4.npy", npy([5, 4], "<f4", [float(i % 3) for i in range(20)]))
    write("npy/labels-5.npy", npy([5], "<i8", [0, 1, 0, 1, 2]))
    write("npy/labels-huge-ids.npy", npy([5], "<i8", [0, 1 << 40, 0, 1 << 40, 7]))
    write("npy/labels-empty.npy", npy([0], "<i8", []))
    write("npy/labels-4.npy", npy([4], "<i8", [0, 1, 0, 1]))
    # Fashion-MNIST folders whose training images are gzip bombs.
    labels = gzip.compress(idx([2], bytes([0, 1])), mtime=0)
    test_images = gzip.compress(idx([1, 28, 28], bytes(784)), mtime=0)
    test_labels = gzip.compress(idx([1], bytes([0])), mtime=0)
    for name, images in [
        # Announces 60e9 pixels in a few compressed bytes.
        ("announces-too-much", gzip.compress(idx([60_000_000, 28, 28], b""), mtime=0)),
        # Announces two images, inflates to 64 MiB of zeros.
        ("inflates-past-header", gzip.compress(idx([2, 28, 28], bytes(64 << 20)), 9, mtime=0)),
    ]:
        base = "fashion-%s/" % name
        write(base + "train-images-idx3-ubyte.gz", images)
        write(base + "train-labels-idx1-ubyte.gz", labels)
        write(base + "t10k-images-idx3-ubyte.gz", test_images)
        write(base + "t10k-labels-idx1-ubyte.gz", test_labels)
    # An image folder with one BMP header announcing 9000 x 9000 pixels (no pixel data).
    bmp = b"BM" + struct.pack("<I", 54) + bytes(4) + struct.pack("<I", 54)
    bmp += struct.pack("<IiiHH", 40, 9000, 9000, 1, 24) + bytes(24)
    write("images-huge/a/huge.bmp", bmp)
    write("images-huge/b/huge2.bmp", bmp)


if __name__ == "__main__":
    main()
