#!/usr/bin/env python3
"""One training epoch of SSR2-GCD in features mode: an equivalent PyTorch loop vs `ssr2 train`.

Shapes (paper batch size): B = 128 images per batch (2B = 256 rows), K = 100 classes, image and
text features of d = 512, linear 512 -> 512 adapters (the projections CLIP trains), cosine
classifiers, RTA over 4 tags + 4 attributes per image, two feature-space views per modality.
Per step, both implementations compute: the SSR2 loss of both modalities after warm-up (R, R_c of
labelled rows by labels, R_c of unlabelled rows by softmax memberships; the reference formula:
K matrices of d x d and torch.logdet), the SimGCD classification block of both branches, the
co-teaching pseudo-label losses, backward, and plain SGD with two parameter groups.
Only the training steps are timed (not evaluation).

    cargo build --release -p ssr2 && python3 bench/train_epoch.py [--threads N]
Needs: pip install torch.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F

import ssr2_reference as ref

p = argparse.ArgumentParser()
p.add_argument("--classes", type=int, default=100)
p.add_argument("--per-class", type=int, default=26)
p.add_argument("--dim", type=int, default=512)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "ssr2"))
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
K, d, B, T, A, eps = args.classes, args.dim, args.batch, 4, 4, 0.5
N = K * args.per_class
n_old = K // 2

# ------------------------------------------------------------------ data of the same shapes
labels = torch.arange(N) % K
old = labels < n_old
labelled = torch.zeros(N, dtype=torch.bool)
old_idx = torch.nonzero(old).squeeze(1)
labelled[old_idx[torch.randperm(len(old_idx))[: len(old_idx) // 2]]] = True
img = F.normalize(torch.randn(N, d), dim=1)
tags = F.normalize(torch.randn(N, T, d), dim=2)
attrs = F.normalize(torch.randn(N, A, d), dim=2)


# ------------------------------------------------------------------ model
adapt_i, adapt_t = torch.nn.Linear(d, d), torch.nn.Linear(d, d)
head_i, head_t = ref.Cosine(K, d), ref.Cosine(K, d)
opt = torch.optim.SGD([
    {"params": list(head_i.parameters()) + list(head_t.parameters()), "lr": 0.1},
    {"params": list(adapt_i.parameters()) + list(adapt_t.parameters()), "lr": 0.05},
])

def view(x):
    rms = x.pow(2).mean(-1, keepdim=True).sqrt()
    return (x + 0.1 * rms * torch.randn_like(x)) * (torch.rand_like(x) >= 0.1)


def rta(tg, at):
    e_t = F.normalize(adapt_t(tg), dim=-1)
    e_a = F.normalize(adapt_t(at), dim=-1)
    part = lambda e: 0.5 * e[:, 0] + 0.5 / (e.shape[1] - 1) * e[:, 1:].sum(1)
    return F.normalize(0.65 * part(e_t) + 0.35 * part(e_a), dim=1)


sel_i = torch.where(torch.rand(N) < 0.5, torch.randint(0, K, (N,)), -1)
sel_t = torch.where(torch.rand(N) < 0.5, torch.randint(0, K, (N,)), -1)


def step(idx):
    lab, y = labelled[idx], labels[idx]
    z_i = F.normalize(adapt_i(torch.cat([view(img[idx]), view(img[idx])])), dim=1)
    z_t = rta(torch.cat([view(tags[idx]), view(tags[idx])]), torch.cat([view(attrs[idx]), view(attrs[idx])]))
    l_i, l_t = head_i(z_i), head_t(z_t)
    both = torch.cat([idx, idx])
    loss = (ref.ssr2_loss(z_i, l_i, lab, y, B, eps) + ref.ssr2_loss(z_t, l_t, lab, y, B, eps) + ref.branch(l_i, lab, y, 0.02) + ref.branch(l_t, lab, y, 0.02)
            + ref.pseudo(l_i, sel_t[both]) + ref.pseudo(l_t, sel_i[both]))
    opt.zero_grad()
    loss.backward()
    opt.step()


weights = torch.where(labelled, 1.0, labelled.sum() / (~labelled).sum())
batches = list(torch.multinomial(weights, (N // B) * B, replacement=True).split(B))
ref.find_working_logdet(lambda: step(batches[0]))
t = time.perf_counter()
for idx in batches:
    step(idx)
torch_s = time.perf_counter() - t

# ------------------------------------------------------------------ ours, same shapes and losses
cfg = f"""
seeds = [0]
[data]
source = "synthetic"
[data.synthetic]
num_classes = {K}
num_old = {n_old}
per_class = {args.per_class}
image_dim = {d}
text_dim = {d}
num_tags = {T}
num_attributes = {A}
[model]
adapter = "linear"
out_dim = {d}
[optim]
epochs = 2
batch_size = {B}
warmup_epochs = 0
coteach_text_from = 0
lr_backbone = 0.05
"""
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bench.toml")
    open(path, "w").write(cfg)
    subprocess.run([args.bin, "train", "--config", path, "--out", os.path.join(tmp, "run"), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    report = json.load(open(os.path.join(tmp, "run", "seed-0", "report.json")))
# Epoch 1 is after warm-up with co-teaching, like the PyTorch loop.
ours_s = report["history"][1]["train_seconds"]
nb = N // B
print(f"SSR2-GCD training epoch, features mode: N = {N}, B = {B}, d = {d}, K = {K}, {nb} steps, CPU, {args.threads} threads")
print(f"{'implementation':<58} {'epoch s':>8} {'ms/step':>8}")
how = ref.how()
print(f"{'PyTorch ' + torch.__version__ + ' loop (' + how + ')':<58} {torch_s:>8.2f} {1e3 * torch_s / nb:>8.1f}")
print(f"{'ssr2 train (Burn flex, host logdet route)':<58} {ours_s:>8.2f} {1e3 * ours_s / nb:>8.1f}")
print(f"speed-up: {torch_s / ours_s:.1f}x")
