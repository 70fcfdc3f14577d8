#!/usr/bin/env python3
"""Regenerate digits.bin from scikit-learn's bundled copy of the UCI optical digits.

Usage: pip install scikit-learn && python3 make_digits.py   (writes digits.bin next to this file)

Layout (all little-endian):
  4 bytes  magic b"DIG1"
  2 bytes  n (u16), number of images (1797)
  n bytes  labels, one byte each (0..9)
  then the n*64 pixels (row-major, 8x8 per image, values 0..16) packed 5 bits each,
  least significant bit first, the last byte zero-padded.
5 bits, not 4: pixel values run 0..16 inclusive, 17 levels.
"""
import pathlib

import numpy as np
from sklearn.datasets import load_digits


def pack5(values):
    out = bytearray()
    acc = 0
    nbits = 0
    for v in values:
        acc |= int(v) << nbits
        nbits += 5
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def main():
    d = load_digits()
    x = d.data
    y = d.target
    assert x.shape == (1797, 64)
    assert np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= 16
    pixels = x.astype(np.uint8).reshape(-1)
    blob = b"DIG1" + len(y).to_bytes(2, "little") + y.astype(np.uint8).tobytes() + pack5(pixels)
    path = pathlib.Path(__file__).with_name("digits.bin")
    path.write_bytes(blob)
    # Facts the Rust test hard-codes.
    xi = x.astype(np.int64)
    weights = (np.arange(xi.size) % 1000 + 1).reshape(xi.shape)
    print(f"wrote {path} ({len(blob)} bytes)")
    print("counts per class:", np.bincount(y).tolist())
    print("pixel sum:", int(xi.sum()))
    print("position-weighted pixel sum:", int((xi * weights).sum()))
    print("position-weighted label sum:", int((y.astype(np.int64) * (np.arange(len(y)) + 1)).sum()))


if __name__ == "__main__":
    main()
