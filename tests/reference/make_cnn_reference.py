#!/usr/bin/env python3
"""The CNN adapter (`model.adapter = "cnn"`) by PyTorch, for ssr2-train's `tests/cnn_reference.rs`.

Two blocks of Conv2d(3x3, padding 1) - BatchNorm2d (training mode: batch statistics) - ReLU -
MaxPool2d(2), flatten, Linear - BatchNorm1d - ReLU - Linear, then L2 normalisation, on a batch of
8x8 single-channel images with fixed pseudo-random weights. Records the features, the gradient of
`sum(features * G)` for a fixed G with respect to every weight, and the running statistics after
the one training forward (momentum 0.1).

Regenerate:  pip install torch && python3 tests/reference/make_cnn_reference.py
Writes tests/reference/cnn_reference.json (committed; CI needs no torch).
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20261201)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cnn_reference.json")
N, SIDE, C, HIDDEN, D_OUT = 6, 8, 3, 5, 4


def rand(*shape, scale=0.5):
    return (torch.rand(*shape, dtype=DT) * 2 - 1) * scale


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, C, 3, padding=1).to(DT)
        self.bn1 = nn.BatchNorm2d(C).to(DT)
        self.conv2 = nn.Conv2d(C, 2 * C, 3, padding=1).to(DT)
        self.bn2 = nn.BatchNorm2d(2 * C).to(DT)
        self.fc1 = nn.Linear(2 * C * (SIDE // 4) ** 2, HIDDEN).to(DT)
        self.bn3 = nn.BatchNorm1d(HIDDEN).to(DT)
        self.fc2 = nn.Linear(HIDDEN, D_OUT).to(DT)

    def forward(self, x):
        h = x.reshape(-1, 1, SIDE, SIDE)
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(h))), 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)
        h = self.fc2(F.relu(self.bn3(self.fc1(h.flatten(1)))))
        return F.normalize(h, dim=1)


model = Stem()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(rand(*p.shape))
    for bn in (model.bn1, model.bn2, model.bn3):
        bn.weight.copy_(1 + rand(*bn.weight.shape, scale=0.3))
model.train()
x = torch.rand(N, SIDE * SIDE, dtype=DT)
g = rand(N, D_OUT, scale=1.0)
z = model(x)
(z * g).sum().backward()

tensors = {name: p.detach() for name, p in model.named_parameters()}
grads = {name: p.grad.detach() for name, p in model.named_parameters()}
running = {}
for name in ("bn1", "bn2", "bn3"):
    bn = getattr(model, name)
    running[name] = {"mean": bn.running_mean.tolist(), "var": bn.running_var.tolist()}

flat = lambda t: t.flatten().tolist()
with open(OUT, "w") as f:
    json.dump(
        {
            "n": N,
            "side": SIDE,
            "channels": C,
            "hidden": HIDDEN,
            "out": D_OUT,
            "x": flat(x),
            "g": flat(g),
            "params": {k: {"shape": list(v.shape), "values": flat(v)} for k, v in tensors.items()},
            "z": flat(z.detach()),
            "grads": {k: flat(v) for k, v in grads.items()},
            "running": running,
        },
        f,
    )
print("wrote", OUT)
