#!/usr/bin/env python3
"""Independent f64 reference values for ssr2-core's tests (numpy + scipy only).

Every formula here is written straight from docs/SPEC.md on the d x d ("covariance") side with
slogdet/inv, the way the public reference computes it, so it shares no algorithm with the Rust
code (which factors the Gram side by Cholesky and differentiates by a trace surrogate).

Regenerate:  pip install numpy scipy && python3 tests/reference/make_reference.py
Writes tests/reference/reference.json (committed, so CI needs no Python).
"""
import json
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

rng = np.random.default_rng(20260226)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def logdet(a):
    sign, ld = np.linalg.slogdet(a)
    assert sign > 0
    return ld


# ---------------------------------------------------------------- coding rates (SPEC §3)
def rate_R(z, eps2):
    m, d = z.shape
    a = d / (m * eps2)
    return 0.5 * logdet(np.eye(d) + a * z.T @ z)


def rate_Rc(z, p, eps2):
    m, d = z.shape
    total = 0.0
    for j in range(p.shape[1]):
        t = p[:, j].sum() + 1e-8
        a = d / (t * eps2)
        total += t / (2 * m) * logdet(np.eye(d) + a * z.T @ (p[:, [j]] * z))
    return total


def grad_R(z, eps2):
    m, d = z.shape
    a = d / (m * eps2)
    return a * z @ np.linalg.inv(np.eye(d) + a * z.T @ z)


def grad_Rc(z, p, eps2):
    """Closed forms of SPEC §3: dR_c/dZ and dR_c/dP (t_j includes +1e-8)."""
    m, d = z.shape
    gz = np.zeros_like(z)
    gp = np.zeros_like(p)
    for j in range(p.shape[1]):
        t = p[:, j].sum() + 1e-8
        a = d / (t * eps2)
        A = np.eye(d) + a * z.T @ (p[:, [j]] * z)
        Ainv = np.linalg.inv(A)
        gz += (d / (m * eps2)) * (p[:, [j]] * z) @ Ainv
        quad = np.einsum("id,de,ie->i", z, Ainv, z)
        gp[:, j] = (logdet(A) + (d / eps2) * quad - d + np.trace(Ainv)) / (2 * m)
    return gz, gp


def one_hot(y, k):
    p = np.zeros((len(y), k))
    p[np.arange(len(y)), y] = 1.0
    return p


def fd_check(f, x, g, h=1e-6):
    """Central finite differences along random directions, to validate the closed forms."""
    for _ in range(3):
        e = rng.standard_normal(x.shape)
        fd = (f(x + h * e) - f(x - h * e)) / (2 * h)
        an = float((g * e).sum())
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (fd, an)


def rate_case(name, m, d, k, eps2, empty_class=None):
    z = unit_rows(rng.standard_normal((m, d)))
    y = rng.integers(0, k, size=m)
    if empty_class is not None:
        y[y == empty_class] = (empty_class + 1) % k
    y[0] = k - 1 if empty_class != k - 1 else 0  # make k = max label + 1 hold
    p = softmax(2.0 * rng.standard_normal((m, k)))
    ph = one_hot(y, int(y.max()) + 1)
    gR = grad_R(z, eps2)
    gzh, _ = grad_Rc(z, ph, eps2)
    gzs, gps = grad_Rc(z, p, eps2)
    fd_check(lambda x: rate_R(x, eps2), z, gR)
    fd_check(lambda x: rate_Rc(x, ph, eps2), z, gzh)
    fd_check(lambda x: rate_Rc(x, p, eps2), z, gzs)
    fd_check(lambda x: rate_Rc(z, x, eps2), p, gps)
    return {
        "name": name, "m": m, "d": d, "k": k, "eps2": eps2,
        "Z": z.tolist(), "labels": y.tolist(), "P": p.tolist(),
        "R": rate_R(z, eps2), "Rc_hard": rate_Rc(z, ph, eps2), "Rc_soft": rate_Rc(z, p, eps2),
        "dR_dZ": gR.tolist(), "dRc_hard_dZ": gzh.tolist(),
        "dRc_soft_dZ": gzs.tolist(), "dRc_soft_dP": gps.tolist(),
    }


rates = [
    rate_case("tall_16x8_k3", 16, 8, 3, 0.5),
    rate_case("wide_12x40_k4", 12, 40, 4, 0.5),
    rate_case("tall_48x32_k6_eps0.05", 48, 32, 6, 0.05),
    rate_case("wide_64x96_k10", 64, 96, 10, 0.5),
    rate_case("empty_class_20x24_k5", 20, 24, 5, 0.5, empty_class=2),
]


# ---------------------------------------------------------------- SSR2 batch loss (SPEC §4)
def ssr2_case(name, B, d, K, labelled, eps2=0.5):
    mods = {}
    y = rng.integers(0, K // 2 + 1, size=B)
    lab = np.array(labelled, dtype=bool)
    rows_s = np.concatenate([np.where(lab)[0], np.where(lab)[0] + B])
    rows_u = np.concatenate([np.where(~lab)[0], np.where(~lab)[0] + B])
    y_s = np.concatenate([y[lab], y[lab]])
    total_w, total_f = 0.0, 0.0
    for mod in ["img", "txt"]:
        z = unit_rows(rng.standard_normal((2 * B, d)))
        logits = 3.0 * rng.standard_normal((2 * B, K))
        R = rate_R(z, eps2)
        rcs = rate_Rc(z[rows_s], one_hot(y_s, int(y_s.max()) + 1), eps2) if len(rows_s) else 0.0
        rcu = rate_Rc(z[rows_u], softmax(logits[rows_u]), eps2) if len(rows_u) else 0.0
        mods[mod] = {"Z": z.tolist(), "logits": logits.tolist(), "R": R, "Rc_s": rcs, "Rc_u": rcu}
        total_w += -R / (2 * B) + rcs / B
        total_f += (-R + rcs + rcu) / (2 * B)
    return {"name": name, "B": B, "d": d, "K": K, "eps2": eps2, "labelled": lab.tolist(),
            "labels": y.tolist(), "modalities": mods, "loss_warmup": total_w, "loss_full": total_f}


ssr2 = [
    ssr2_case("mixed", 6, 10, 4, [1, 0, 1, 1, 0, 0]),
    ssr2_case("all_labelled", 4, 12, 3, [1, 1, 1, 1]),
    ssr2_case("none_labelled", 5, 8, 5, [0, 0, 0, 0, 0]),
]


# ---------------------------------------------------------------- classification block (SPEC §5)
def cluster_case(B, K, teacher_temp, labelled):
    logits = 2.0 * rng.standard_normal((2 * B, K))
    y = rng.integers(0, K, size=B)
    lab = np.array(labelled, dtype=bool)
    rows = np.concatenate([np.where(lab)[0], np.where(lab)[0] + B])
    ys = np.concatenate([y[lab], y[lab]])
    ce = -log_softmax(logits[rows] / 0.1)[np.arange(len(rows)), ys].mean() if len(rows) else 0.0
    q = softmax(logits / teacher_temp)
    ls = log_softmax(logits / 0.05)
    h12 = -(q[:B] * ls[B:]).sum(1).mean()
    h21 = -(q[B:] * ls[:B]).sum(1).mean()
    distill = (h12 + h21) / 2
    pbar = softmax(logits / 0.05).mean(0)
    me = (pbar * np.log(pbar)).sum() + np.log(K)
    total = 0.2 * ce + 0.8 * (distill + 2 * me)
    return {"B": B, "K": K, "teacher_temp": teacher_temp, "logits": logits.tolist(),
            "labelled": lab.tolist(), "labels": y.tolist(),
            "supervised": ce, "distill": distill, "mean_entropy": me, "total": total}


cluster = [cluster_case(5, 6, 0.035, [1, 0, 0, 1, 1]), cluster_case(4, 3, 0.02, [0, 0, 0, 0])]
teacher_temps = np.concatenate([np.linspace(0.035, 0.02, 30), np.ones(20) * 0.02]).tolist()


# ---------------------------------------------------------------- contrastive baselines
def supcon_ref(feats_2n, labels, temp=0.07, base_temp=0.07):
    # SimGCD SupConLoss, contrast_mode="all", written as its loop of steps.
    n = len(labels)
    lab = np.tile(np.asarray(labels), 2)
    logits = feats_2n @ feats_2n.T / temp
    logits = logits - logits.max(1, keepdims=True)
    mask = (lab[:, None] == lab[None, :]).astype(float)
    logits_mask = 1 - np.eye(2 * n)
    mask = mask * logits_mask
    exp_logits = np.exp(logits) * logits_mask
    log_prob = logits - np.log(exp_logits.sum(1, keepdims=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return float((-(temp / base_temp) * mean_log_prob_pos).mean())


def info_nce_ref(feats, temp=1.0):
    n2 = feats.shape[0]
    b = n2 // 2
    labels = np.concatenate([np.arange(b), np.arange(b)])
    mask = labels[:, None] == labels[None, :]
    sim = feats @ feats.T
    keep = ~np.eye(n2, dtype=bool)
    mask = mask[keep].reshape(n2, -1)
    sim = sim[keep].reshape(n2, -1)
    pos = sim[mask].reshape(n2, -1)
    neg = sim[~mask].reshape(n2, -1)
    logits = np.concatenate([pos, neg], 1) / temp
    return float(-log_softmax(logits)[:, 0].mean())


def clip_ref(img, txt, scale=100.0):
    logits = scale * img @ txt.T
    return float(-log_softmax(logits)[np.arange(len(img)), np.arange(len(img))].mean())


f_sup = unit_rows(rng.standard_normal((10, 7)))
y_sup = [0, 1, 0, 2, 1]
f_nce = unit_rows(rng.standard_normal((12, 9)))
img_c, txt_c = unit_rows(rng.standard_normal((6, 5))), unit_rows(rng.standard_normal((6, 5)))
contrastive = {
    "supcon": {"features": f_sup.tolist(), "labels": y_sup, "temp": 0.07,
               "loss": supcon_ref(f_sup, y_sup)},
    "info_nce": {"features": f_nce.tolist(), "temp": 1.0, "loss": info_nce_ref(f_nce, 1.0),
                 "loss_t0.5": info_nce_ref(f_nce, 0.5)},
    "clip": {"img": img_c.tolist(), "txt": txt_c.tolist(), "scale": 100.0,
             "loss": clip_ref(img_c, txt_c)},
}


# ---------------------------------------------------------------- classifier, co-teaching, RTA
w = rng.standard_normal((5, 6))
g = 1.0 + 0.3 * rng.standard_normal(5)
zc = rng.standard_normal((4, 6))
cos = unit_rows(zc) @ unit_rows(w).T
lt = rng.standard_normal((4, 5))
classifier = {"weight": w.tolist(), "gain": g.tolist(), "z": zc.tolist(),
              "logits": (cos * g).tolist(), "logits_txt": lt.tolist(),
              "pred": np.argmax(0.5 * softmax(cos * g) + 0.5 * softmax(lt), 1).tolist()}

n_u, k_u = 50, 5
scores = softmax(rng.standard_normal((n_u, k_u)) / 0.3)
per = int(np.floor(0.6 * n_u / k_u))
chosen = -np.ones(n_u, dtype=int)
for c in range(k_u):
    top = np.argsort(-scores[:, c], kind="stable")[:per]
    chosen[top] = c
pl_logits = rng.standard_normal((n_u, k_u))
sel = chosen >= 0
pseudo = -log_softmax(pl_logits[sel] / 0.1)[np.arange(sel.sum()), chosen[sel]].mean()
coteach = {"scores": scores.tolist(), "n": n_u, "k": k_u, "chosen": chosen.tolist(),
           "logits": pl_logits.tolist(), "pseudo_loss": float(pseudo)}


def rta_ref(base, tags, attrs, alpha=0.5, beta=0.65):
    def ranked(c):
        c = c / np.linalg.norm(c, axis=-1, keepdims=True)
        out = (1 - alpha) * c[:, 0]
        if c.shape[1] > 1:
            out = out + alpha / (c.shape[1] - 1) * c[:, 1:].sum(1)
        return out
    t = beta * ranked(tags) + (1 - beta) * ranked(attrs)
    if base is not None:
        t = t + 0.1 * base / np.linalg.norm(base, axis=-1, keepdims=True)
    return t / np.linalg.norm(t, axis=-1, keepdims=True)


Bq, d_t = 3, 8
base = rng.standard_normal((Bq, d_t))
tags = rng.standard_normal((Bq, 4, d_t))
attrs = rng.standard_normal((Bq, 4, d_t))
tags1 = rng.standard_normal((Bq, 1, d_t))
bank = rng.standard_normal((20, d_t))
qs = rng.standard_normal((Bq, d_t))
sims = unit_rows(qs) @ unit_rows(bank).T
rta = {"base": base.tolist(), "tags": tags.tolist(), "attributes": attrs.tolist(),
       "out": rta_ref(base, tags, attrs).tolist(),
       "tags_single": tags1.tolist(), "out_single_no_base": rta_ref(None, tags1, attrs).tolist(),
       "bank": bank.tolist(), "queries": qs.tolist(),
       "top4": np.argsort(-sims, axis=1)[:, :4].tolist()}


# ---------------------------------------------------------------- metrics (SPEC §2, §9)
def acc_ref(y, p, num_old):
    D = max(p.max(), y.max()) + 1
    w = np.zeros((D, D), dtype=int)
    for i in range(len(y)):
        w[p[i], y[i]] += 1
    r, c = linear_sum_assignment(w.max() - w)
    ind_map = {i: j for i, j in zip(r, c)}
    total = sum(w[i, j] for i, j in zip(r, c)) / len(y)
    old = y < num_old
    hit = np.array([ind_map[p[i]] == y[i] for i in range(len(y))])
    return float(total), float(hit[old].mean()), float(hit[~old].mean())


hungarian = []
for n, K, num_old, noise in [(40, 6, 3, 0.5), (200, 10, 5, 0.3), (500, 30, 15, 0.6), (120, 8, 4, 0.9)]:
    y = rng.integers(0, K, size=n)
    perm = rng.permutation(K + 2)
    p = np.where(rng.random(n) < noise, rng.integers(0, K + 2, size=n), perm[y])
    a, o, nw = acc_ref(y, p, num_old)
    hungarian.append({"y_true": y.tolist(), "y_pred": p.tolist(), "num_old": num_old,
                      "all": a, "old": o, "new": nw})


def erank(s):
    q = s / s.sum()
    q = q[q > 0]
    return float(np.exp(-(q * np.log(q)).sum()))


def edge_ratio_ref(x, y, num_old, k):
    xn = unit_rows(x)
    s = xn @ xn.T
    np.fill_diagonal(s, -np.inf)
    E = set()
    for i in range(len(y)):
        for j in np.argsort(-s[i], kind="stable")[:k]:
            E.add((min(i, j), max(i, j)))
    E = sorted(E)
    diff = np.array([y[a] != y[b] for a, b in E])
    t_old = np.array([y[a] < num_old or y[b] < num_old for a, b in E])
    t_new = np.array([y[a] >= num_old or y[b] >= num_old for a, b in E])
    return {"all": float(diff.mean()), "old": float(diff[t_old].mean()),
            "new": float(diff[t_new].mean()), "edges": len(E)}


nf, df, kf, old_f = 90, 12, 6, 3
centers = rng.standard_normal((kf, df)) * 1.5
yf = rng.integers(0, kf, size=nf)
yf[:kf] = np.arange(kf)
xf = centers[yf] + rng.standard_normal((nf, df)) * np.where(yf[:, None] < old_f, 0.3, 1.0)
ranks = []
for c in range(kf):
    s = np.linalg.svd(xf[yf == c], compute_uv=False)
    ranks.append({"class": c, "effective_rank": erank(s), "singular_values": s.tolist()})
metrics = {
    "hungarian": hungarian,
    "ranks": {"features": xf.tolist(), "labels": yf.tolist(), "num_old": old_f, "classes": ranks,
              "old_mean": float(np.mean([r["effective_rank"] for r in ranks[:old_f]])),
              "new_mean": float(np.mean([r["effective_rank"] for r in ranks[old_f:]]))},
    "edge_ratio": {"k10": edge_ratio_ref(xf, yf, old_f, 10), "k3": edge_ratio_ref(xf, yf, old_f, 3)},
}

# ---------------------------------------------------------------- CLI fixtures (.npy files)
CLI = os.path.join(os.path.dirname(OUT), "cli")
os.makedirs(CLI, exist_ok=True)
cli = {}
for name, m, d, k, dtype in [("tall", 20, 6, 4, np.float64), ("wide", 8, 30, 3, np.float32)]:
    c = rate_case(name, m, d, k, 0.5)
    z, p = np.array(c["Z"]), np.array(c["P"])
    np.save(os.path.join(CLI, f"z_{name}.npy"), z.astype(dtype))
    np.save(os.path.join(CLI, f"p_{name}.npy"), p.astype(dtype))
    np.save(os.path.join(CLI, f"y_{name}.npy"), np.array(c["labels"], dtype=np.int32 if name == "tall" else np.int64))
    for key in ["Z", "P"]:
        c.pop(key)
    cli[name] = c
np.save(os.path.join(CLI, "z_tall_fortran.npy"), np.asfortranarray(np.load(os.path.join(CLI, "z_tall.npy"))))
h = hungarian[2]
np.save(os.path.join(CLI, "metrics_true.npy"), np.array(h["y_true"], dtype=np.int64))
np.save(os.path.join(CLI, "metrics_pred.npy"), np.array(h["y_pred"], dtype=np.int32))
cli["metrics"] = {"num_old": h["num_old"], "n": len(h["y_true"]), "all": h["all"], "old": h["old"], "new": h["new"]}

with open(OUT, "w") as f:
    json.dump({"about": __doc__.strip().splitlines()[0], "numpy": np.__version__,
               "rates": rates, "ssr2": ssr2, "cluster": cluster, "teacher_temps": teacher_temps,
               "contrastive": contrastive, "classifier": classifier, "coteach": coteach,
               "rta": rta, "metrics": metrics, "cli": cli}, f)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
