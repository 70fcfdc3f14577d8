"""The reference SSR2 loss in PyTorch, as hewei98/SSR2-GCD computes it (K matrices of d x d and
torch.logdet with autograd), and the reference's cosine classifier, SimGCD classification block
and co-teaching pseudo-label loss, shared by the benchmark scripts."""
import math
import os

import torch
import torch.nn.functional as F

# torch 2.15 + MKL 2024.2 on a 2-core VM: multi-threaded *batched* LU returned invalid pivots for
# these matrices and the backward failed in lu_solve; one logdet per matrix is the same work.
# `find_working_logdet` decides which form runs here.
BATCHED = True


def logdet(a):
    return torch.logdet(a) if BATCHED else torch.stack([torch.logdet(x) for x in a])


def total_rate(z, eps):
    """R(Z) = 1/2 logdet(I + d/(m eps) Z^T Z) on the d x d side."""
    m, d = z.shape
    return logdet((torch.eye(d) + d / (m * eps) * z.T @ z).unsqueeze(0))[0] / 2


def compress(z, Pi, eps):
    """R_c(Z, Pi), Pi of shape (k, 1, m): the reference's CompressLoss."""
    m, d = z.shape
    k = Pi.shape[0]
    W = z.T.reshape(1, d, m)
    trPi = Pi.sum(2) + 1e-8
    scale = (d / (trPi * eps)).view(k, 1, 1)
    ld = logdet(torch.eye(d).expand(k, d, d) + scale * W.mul(Pi).matmul(W.transpose(1, 2)))
    return (trPi.squeeze(1) * ld / (2 * m)).sum()


def ssr2_loss(z, logits, labelled, labels, batch, eps=0.5):
    """SPEC §4 after warm-up for one modality: (-R + R_c^s + R_c^u) / (2B)."""
    k = logits.shape[1]
    zs = torch.cat([f[labelled] for f in z.chunk(2)])
    # Compact label ids: empty classes contribute exactly 0, and MKL's batched LU above also
    # rejects the identity matrices they produce.
    ys = torch.unique(torch.cat([labels[labelled]] * 2), return_inverse=True)[1]
    Pi = torch.zeros(int(ys.max()) + 1, 1, len(ys))
    Pi[ys, 0, torch.arange(len(ys))] = 1
    zu = torch.cat([f[~labelled] for f in z.chunk(2)])
    pu = torch.cat([f[~labelled] for f in logits.softmax(1).chunk(2)])
    return (-total_rate(z, eps) + compress(zs, Pi, eps) + compress(zu, pu.T.reshape(k, 1, -1), eps)) / (2 * batch)


def find_working_logdet(first_step):
    """Run `first_step` with batched logdet, falling back to one logdet per matrix if MKL fails
    (its error lines are silenced). Returns the step's result."""
    global BATCHED
    saved = os.dup(1), os.dup(2)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1), os.dup2(quiet, 2)
    try:
        return first_step()
    except RuntimeError:
        BATCHED = False
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
    return first_step()


def how():
    return "batched logdet" if BATCHED else "logdet per class"


class Cosine(torch.nn.Module):
    """Cosine classifier with a gain per class: k classes over d-dimensional features."""

    def __init__(self, k, d):
        super().__init__()
        self.v = torch.nn.Parameter(torch.empty(k, d).uniform_(-d ** -0.5, d ** -0.5))
        self.g = torch.nn.Parameter(torch.ones(k))

    def forward(self, z):
        return F.normalize(z, dim=1) @ F.normalize(self.v, dim=1).T * self.g


def branch(logits, lab, y, t_temp):
    """SimGCD block of one branch over two views: supervised CE, self-distillation, mean entropy."""
    k = logits.shape[1]
    sup = torch.cat([f[lab] for f in (logits / 0.1).chunk(2)])
    ce = F.cross_entropy(sup, torch.cat([y[lab]] * 2))
    q = F.softmax(logits.detach() / t_temp, 1).chunk(2)
    s = F.log_softmax(logits / 0.05, 1).chunk(2)
    distill = ((-q[0] * s[1]).sum(1).mean() + (-q[1] * s[0]).sum(1).mean()) / 2
    pbar = F.softmax(logits / 0.05, 1).mean(0)
    me = (pbar * torch.log(pbar)).sum() + math.log(k)
    return 0.2 * ce + 0.8 * (distill + 2 * me)


def pseudo(logits, sel):
    """Co-teaching: CE on the rows the other branch selected (sel >= 0)."""
    rows = sel >= 0
    return F.cross_entropy(logits[rows] / 0.1, sel[rows]) if rows.any() else logits.sum() * 0
