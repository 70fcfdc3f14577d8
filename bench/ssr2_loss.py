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

import ssr2_reference as ref

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=128)
p.add_argument("--dim", type=int, default=512)
p.add_argument("--classes", type=int, default=200)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--device", default="cpu", help="cpu or cuda (ours needs a build with --features cuda)")
p.add_argument("--ours-device", default=None, help="device of ours if it differs (e.g. wgpu next to torch's cuda)")
p.add_argument("--route", default="auto", help="log-determinant route of ours: auto, host, tensor or kernel")
p.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "ssr2"))
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
dev = torch.device(args.device)
torch.set_default_device(dev)
torch.backends.cuda.matmul.allow_tf32 = False  # full f32 Gram products, as ours (SPEC §3)
B, d, K, eps = args.batch, args.dim, args.classes, 0.5


labelled = torch.arange(B) % 2 == 0
labels = (torch.arange(B) * 7) % (K // 2)
z0 = torch.nn.functional.normalize(torch.randn(2 * B, d), dim=1)
logits0 = torch.randn(2 * B, K)


def step():
    z = z0.clone().requires_grad_()
    logits = logits0.clone().requires_grad_()
    loss = ref.ssr2_loss(z, logits, labelled, labels, B, eps)
    loss.backward()
    z.grad.sum().item(), logits.grad.sum().item()  # wait for the device, as ours reads back
    return loss.item()


ref_loss = ref.find_working_logdet(step)
times = []
for _ in range(args.reps):
    t = time.perf_counter()
    step()
    times.append((time.perf_counter() - t) * 1e3)
ref_ms = statistics.median(times)

ours = json.loads(subprocess.check_output([args.bin, "bench", "--json", "--batch", str(B), "--dim", str(d),
                                           "--classes", str(K), "--device", args.ours_device or args.device,
                                           "--route", args.route]))
where = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
print(f"SSR2 loss forward+backward, 2B = {2 * B} rows, d = {d}, K = {K}, half labelled, {where}")
print(f"{'implementation':<56} {'median ms':>10}")
how = ref.how()
print(f"{'PyTorch ' + torch.__version__ + ' reference (' + how + (', ' + str(args.threads) + ' threads' if dev.type == 'cpu' else '') + ')':<56} {ref_ms:>10.1f}")
print(f"{'ssr2 (' + ours['device'] + ', ' + ours['route'] + ' route)':<56} {ours['median_ms']:>10.1f}")
print(f"speed-up: {ref_ms / ours['median_ms']:.1f}x   (loss values: reference {ref_loss:.5f}, ours {ours['loss']:.5f} on different random inputs)")
