#!/usr/bin/env python3
"""Gradients of the combined training losses by PyTorch autograd, for ssr2-core's
`tests/grad_reference.rs`.

Written from docs/SPEC.md §3-6 the way the authors' code computes it (d x d log-determinants,
`P = softmax(logits)` NOT detached in R_c^u, the self-distillation teacher detached, pseudo-labels
at `logits / tau_s`), so it shares no algorithm with the Rust code (Gram-side Cholesky, trace
surrogate). It also records the gradients under the two wrong stop-gradient rules (teacher not
detached; P detached): the Rust test must match the right ones and be far from the wrong ones.

Regenerate:  pip install torch && python3 tests/reference/make_grad_reference.py
Writes tests/reference/grad_reference.json (committed; CI needs no torch).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20260301)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grad_reference.json")
B, D, K, EPS2 = 6, 5, 4, 0.5
SUP_T, STUDENT_T, TEACHER_T, SUP_W, MEMAX = 0.1, 0.05, 0.035, 0.2, 2.0


def coding_rate(z):
    m, d = z.shape
    return 0.5 * torch.logdet(torch.eye(d, dtype=DT) + d / (m * EPS2) * z.T @ z)


def coding_rate_soft(z, p):
    # sum_j t_j / (2m) logdet(I + d / (t_j eps2) Z^T diag(P_j) Z)
    m, d = z.shape
    total = torch.zeros((), dtype=DT)
    for j in range(p.shape[1]):
        t = p[:, j].sum() + 1e-8
        a = torch.eye(d, dtype=DT) + d / (t * EPS2) * z.T @ (p[:, j:j + 1] * z)
        total = total + t / (2 * m) * torch.logdet(a)
    return total


def ssr2(z, logits, labelled, labels, warmup, detach_p=False):
    mask = torch.tensor(labelled)
    two = lambda t: torch.cat([c[mask] for c in t.chunk(2)], 0)
    two_u = lambda t: torch.cat([c[~mask] for c in t.chunk(2)], 0)
    y = torch.tensor(labels)[mask].repeat(2)
    rcs = coding_rate_soft(two(z), F.one_hot(y, K).to(DT))
    r = coding_rate(z)
    if warmup:
        return -r / (2 * B) + rcs / B
    p = F.softmax(logits, 1)
    if detach_p:
        p = p.detach()
    rcu = coding_rate_soft(two_u(z), two_u(p))
    return (rcs + rcu - r) / (2 * B)


def branch(logits, labelled, labels, detach_teacher=True):
    mask = torch.tensor(labelled)
    y = torch.tensor(labels)[mask].repeat(2)
    sup = torch.cat([c[mask] for c in (logits / SUP_T).chunk(2)], 0)
    ce = F.cross_entropy(sup, y)
    teacher = logits.detach() if detach_teacher else logits
    q = F.softmax(teacher / TEACHER_T, 1).chunk(2)
    s = (logits / STUDENT_T).chunk(2)
    distill = 0.5 * (torch.sum(-q[0] * F.log_softmax(s[1], 1), 1).mean()
                     + torch.sum(-q[1] * F.log_softmax(s[0], 1), 1).mean())
    pbar = F.softmax(logits / STUDENT_T, 1).mean(0)
    me = torch.sum(pbar * torch.log(pbar)) + math.log(K)
    return SUP_W * ce + (1 - SUP_W) * (distill + MEMAX * me)


def pseudo(logits, chosen):
    rows = [i for i, c in enumerate(chosen) if c >= 0]
    return F.cross_entropy(logits[rows] / SUP_T, torch.tensor([chosen[i] for i in rows]))


def grads(fn, z0, l0):
    z = z0.clone().requires_grad_(True)
    lg = l0.clone().requires_grad_(True)
    loss = fn(z, lg)
    gz, gl = torch.autograd.grad(loss, [z, lg], allow_unused=True)
    zero = lambda g, like: torch.zeros_like(like) if g is None else g
    return {"loss": loss.item(), "dz": zero(gz, z0).flatten().tolist(),
            "dlogits": zero(gl, l0).flatten().tolist()}


def main():
    z = F.normalize(torch.randn(2 * B, D, dtype=DT), dim=1)
    logits = 0.6 * torch.randn(2 * B, K, dtype=DT)
    labelled = [True, False, True, False, False, True]
    labels = [1, 0, 3, 0, 0, 1]
    chosen = [2, -1, -1, 0, 3, -1, 2, -1, -1, 0, 3, -1]  # both views of images 0, 3, 4
    cases = {
        "ssr2_warmup": lambda z, l: ssr2(z, l, labelled, labels, True),
        "ssr2": lambda z, l: ssr2(z, l, labelled, labels, False),
        "branch": lambda z, l: branch(l, labelled, labels),
        "pseudo": lambda z, l: pseudo(l, chosen),
        "total": lambda z, l: (ssr2(z, l, labelled, labels, False) + branch(l, labelled, labels)
                               + pseudo(l, chosen)),
        # The wrong stop-gradient rules, for the test to be far from.
        "wrong_teacher_not_detached": lambda z, l: branch(l, labelled, labels, False),
        "wrong_p_detached": lambda z, l: ssr2(z, l, labelled, labels, False, detach_p=True),
    }
    out = {"B": B, "d": D, "K": K, "eps2": EPS2, "sup_temp": SUP_T, "student_temp": STUDENT_T,
           "teacher_temp": TEACHER_T, "sup_weight": SUP_W, "memax_weight": MEMAX,
           "z": z.flatten().tolist(), "logits": logits.flatten().tolist(),
           "labelled": labelled, "labels": labels, "chosen": chosen,
           "torch_version": torch.__version__}
    out["cases"] = {name: grads(fn, z, logits) for name, fn in cases.items()}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
