#!/usr/bin/env python3
"""Coding rates at paper shape on a device against numpy in f64: how much precision the device's
matrix products keep on the loss path (on CUDA, Burn's autotune may pick TF32 tensor cores).

Z: 2B = 256 unit rows of d = 512; P: soft memberships over K = 200 classes. numpy computes
R = 1/2 logdet(I + d/(m eps2) Z^T Z) and R_c = sum_j tr(P_j)/(2m) logdet(I + d/(tr(P_j) eps2)
Z^T P_j Z) (SPEC §3, as tests/reference/make_reference.py) in float64; `ssr2 rate --device D`
takes the float32 Z and P.

    python3 bench/rate_device.py --device cpu            (or cuda / wgpu with such a build)

Exits 1 when any value is off by more than --tol (1e-4 relative, the contract's value tolerance).
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--device", default="cpu")
p.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "ssr2"))
p.add_argument("--rows", type=int, default=256)
p.add_argument("--dim", type=int, default=512)
p.add_argument("--classes", type=int, default=200)
p.add_argument("--tol", type=float, default=1e-4, help="largest relative difference that passes (exit 1 above it)")
args = p.parse_args()

rng = np.random.default_rng(0)
m, d, k, eps2 = args.rows, args.dim, args.classes, 0.5
z = rng.standard_normal((m, d)).astype(np.float32)
z /= np.linalg.norm(z, axis=1, keepdims=True)
logits = 3.0 * rng.standard_normal((m, k))
probs = np.exp(logits - logits.max(1, keepdims=True))
probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)

z64, p64 = z.astype(np.float64), probs.astype(np.float64)
logdet = lambda a: np.linalg.slogdet(a)[1]
R = 0.5 * logdet(np.eye(d) + d / (m * eps2) * z64.T @ z64)
Rc = 0.0
for j in range(k):
    t = p64[:, j].sum() + 1e-8
    Rc += t / (2 * m) * logdet(np.eye(d) + d / (t * eps2) * z64.T @ (p64[:, [j]] * z64))

with tempfile.TemporaryDirectory() as tmp:
    np.save(os.path.join(tmp, "z.npy"), z)
    np.save(os.path.join(tmp, "p.npy"), probs)
    out = subprocess.run([args.bin, "rate", "--z", os.path.join(tmp, "z.npy"), "--probs",
                          os.path.join(tmp, "p.npy"), "--device", args.device],
                         check=True, capture_output=True, text=True).stdout
ours = json.loads(out)
print(f"coding rates, m = {m}, d = {d}, K = {k}, eps2 = {eps2}: ours on {args.device} (f32 input) vs numpy f64")
worst = 0.0
for name, ref in [("R", R), ("Rc", Rc), ("delta_R", R - Rc)]:
    rel = abs(ours[name] - ref) / abs(ref)
    worst = max(worst, rel)
    print(f"{name:<8} numpy {ref:.7f}  ours {ours[name]:.7f}  rel diff {rel:.2e}")
print(f"{'ok' if worst <= args.tol else 'FAIL'}: largest relative difference {worst:.2e} (tolerance {args.tol:.0e})")
raise SystemExit(0 if worst <= args.tol else 1)
