#!/usr/bin/env python3
"""SSR2 loss forward+backward at paper shape: the PyTorch reference formula vs `ssr2 bench`.

The reference (hewei98/SSR2-GCD loss.py) builds K matrices of d x d and calls torch.logdet with
autograd; this script does the same, at the same shapes as `ssr2 bench` (2B = 256 rows, d = 512,
K = 200, half the rows labelled, one modality, after warm-up), on the same machine, and prints
both times and the ratio.

    cargo build --release -p ssr2 && python3 bench/ssr2_loss.py [--threads N] [--reps N]
Needs: pip install torch numpy.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=128)
p.add_argument("--dim", type=int, default=512)
p.add_argument("--classes", type=int, default=200)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--device", default="cpu", help="cpu or cuda (ours needs a build with --features cuda)")
p.add_argument("--route", default="auto", help="log-determinant route of ours: auto, host or tensor")
p.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "ssr2"))
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
dev = torch.device(args.device)
torch.set_default_device(dev)
torch.backends.cuda.matmul.allow_tf32 = False  # full f32 Gram products, as ours (SPEC §3)
B, d, K, eps = args.batch, args.dim, args.classes, 0.5


def total_rate(z):  # R(Z), d x d side, as the reference's TotalCodingRate
    m = z.shape[0]
    return torch.logdet(torch.eye(d) + d / (m * eps) * z.T @ z) / 2


def logdet_batch(a):
    # torch 2.15 + MKL 2024.2 returns garbage pivots from multi-threaded *batched* LU on these
    # matrices here (backward then fails in lu_solve); one logdet per matrix is the same work.
    return torch.logdet(a) if BATCHED else torch.stack([torch.logdet(x) for x in a])


def compress(z, Pi):  # R_c(Z, Pi) with Pi of shape (k, 1, m), as the reference's CompressLoss
    m = z.shape[0]
    k = Pi.shape[0]
    W = z.T.reshape(1, d, m)
    trPi = Pi.sum(2) + 1e-8
    scale = (d / (trPi * eps)).view(k, 1, 1)
    ld = logdet_batch(torch.eye(d).expand(k, d, d) + scale * W.mul(Pi).matmul(W.transpose(1, 2)))
    return (trPi.squeeze() * ld / (2 * m)).sum()


labelled = torch.arange(B) % 2 == 0
labels = (torch.arange(B) * 7) % (K // 2)
z0 = torch.nn.functional.normalize(torch.randn(2 * B, d), dim=1)
logits0 = torch.randn(2 * B, K)


def step():
    z = z0.clone().requires_grad_()
    logits = logits0.clone().requires_grad_()
    zs = torch.cat([f[labelled] for f in z.chunk(2)])
    # Compact the label ids: empty classes contribute exactly 0, and torch 2.15's batched LU
    # backward (MKL) rejects the identity matrices they produce.
    ys = torch.unique(torch.cat([labels[labelled]] * 2), return_inverse=True)[1]
    Pi_s = torch.zeros(int(ys.max()) + 1, 1, len(ys))
    Pi_s[ys, 0, torch.arange(len(ys))] = 1
    zu = torch.cat([f[~labelled] for f in z.chunk(2)])
    pu = torch.cat([f[~labelled] for f in logits.softmax(1).chunk(2)])
    loss = (-total_rate(z) + compress(zs, Pi_s) + compress(zu, pu.T.reshape(K, 1, -1))) / (2 * B)
    loss.backward()
    z.grad.sum().item(), logits.grad.sum().item()  # wait for the device, as ours reads back
    return loss.item()


BATCHED = True
saved = os.dup(1), os.dup(2)
quiet = os.open(os.devnull, os.O_WRONLY)
os.dup2(quiet, 1), os.dup2(quiet, 2)  # MKL prints one error line per bad call on failure
try:
    ref_loss = step()
except RuntimeError:
    BATCHED = False
finally:
    os.dup2(saved[0], 1), os.dup2(saved[1], 2)
if not BATCHED:
    ref_loss = step()
times = []
for _ in range(args.reps):
    t = time.perf_counter()
    step()
    times.append((time.perf_counter() - t) * 1e3)
ref_ms = statistics.median(times)

ours = json.loads(subprocess.check_output([args.bin, "bench", "--json", "--batch", str(B), "--dim", str(d),
                                           "--classes", str(K), "--device", args.device, "--route", args.route]))
where = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
print(f"SSR2 loss forward+backward, 2B = {2 * B} rows, d = {d}, K = {K}, half labelled, {where}")
print(f"{'implementation':<56} {'median ms':>10}")
how = "batched logdet" if BATCHED else "logdet per class"
print(f"{'PyTorch ' + torch.__version__ + ' reference (' + how + (', ' + str(args.threads) + ' threads' if dev.type == 'cpu' else '') + ')':<56} {ref_ms:>10.1f}")
print(f"{'ssr2 (' + ours['device'] + ', ' + ours['route'] + ' route)':<56} {ours['median_ms']:>10.1f}")
print(f"speed-up: {ref_ms / ours['median_ms']:.1f}x   (loss values: reference {ref_loss:.5f}, ours {ours['loss']:.5f} on different random inputs)")
