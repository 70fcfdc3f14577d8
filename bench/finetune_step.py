#!/usr/bin/env python3
"""One fine-tune training step (SPEC §8 recipe): the PyTorch reference vs `ssr2 train --mode
finetune`, same shapes, same device, in one run.

Per step both sides run B images x 2 views through CLIP's vision tower and 9 texts (base prompt,
4 tags, 4 attributes) x 2 views x B through the text tower, only the last block of each tower,
both projections and both cosine classifiers trainable (the rest frozen, no gradients), the RTA
weighting, the SSR2 loss of both modalities after warm-up (reference formula: K matrices of d x d
and torch.logdet), the SimGCD classification block of both branches, the co-teaching
pseudo-label losses, backward, plain SGD with two groups. Random weights (transformers CLIPModel
and ours at the same config), random images, the same texts through the same tokenizer.
Ours is timed inside `ssr2 train` (epoch 1, after warm-up): its step time also includes image
decoding/augmentation on loader threads, typo augmentation and tokenization, which the PyTorch
loop does not do (it gets ready tensors), and is reported without and with the prefix cache.

    cargo build --release -p ssr2 && python3 bench/finetune_step.py            # CPU, shape small
    python3 bench/finetune_step.py --shape vitb16 --batch 128 --device cuda --ours-device wgpu
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel, CLIPTokenizerFast

import ssr2_reference as ref

HERE = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--shape", default="small", choices=["small", "vitb16", "tiny"])
p.add_argument("--batch", type=int, default=16, help="images per step B (2B image rows, 9 x 2B texts)")
p.add_argument("--steps", type=int, default=6)
p.add_argument("--device", default="cpu", help="PyTorch device")
p.add_argument("--ours-device", default="cpu", help="ssr2 --device")
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "ssr2"))
p.add_argument("--tokenizer", default=os.path.join(HERE, "..", "tests", "reference", "clip-tiny"))
p.add_argument("--tf32", action="store_true",
               help="on CUDA, also time PyTorch with TF32 matmuls (Burn's CUDA autotune may pick TF32 kernels for f32)")
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
dev = torch.device(args.device)
K, B = 10, args.batch

# ------------------------------------------------------------------ same shapes as synthetic.rs
SHAPES = {  # vision (hidden, layers, heads, image, patch), text (hidden, layers, heads), projection
    "vitb16": ((768, 12, 12, 224, 16), (512, 12, 8), 512),
    "small": ((192, 4, 3, 64, 16), (128, 4, 2), 128),
    "tiny": ((48, 2, 4, 32, 8), (64, 2, 4), 24),
}
(vh, vl, vhd, img, patch), (th, tl, thd), proj = SHAPES[args.shape]
tok = CLIPTokenizerFast.from_pretrained(args.tokenizer)
cfg = CLIPConfig(
    vision_config=dict(hidden_size=vh, intermediate_size=4 * vh, num_hidden_layers=vl, num_attention_heads=vhd,
                       image_size=img, patch_size=patch, hidden_act="quick_gelu", layer_norm_eps=1e-5),
    text_config=dict(hidden_size=th, intermediate_size=4 * th, num_hidden_layers=tl, num_attention_heads=thd,
                     vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                     eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id),
    projection_dim=proj,
)
model = CLIPModel(cfg).to(dev).float()
for p_ in model.parameters():
    p_.requires_grad_(False)
trainable = [model.vision_model.encoder.layers[-1], model.text_model.encoder.layers[-1],
             model.visual_projection, model.text_projection]
for m in trainable:
    for p_ in m.parameters():
        p_.requires_grad_(True)


head_i, head_t = ref.Cosine(K, proj).to(dev), ref.Cosine(K, proj).to(dev)
opt = torch.optim.SGD([
    {"params": list(head_i.parameters()) + list(head_t.parameters()), "lr": 0.1},
    {"params": [p_ for m in trainable for p_ in m.parameters()], "lr": 1e-3},
])


# The texts of synthetic.rs's `candidates`.
W = ["round", "striped", "small", "large", "bright", "dark", "feathered", "metal", "wooden", "spotted", "curved", "long"]
pick = lambda i, j: W[(i * 7 + j * 5) % len(W)]


def texts(rows):
    base = ["a photo of a thing"] * len(rows)
    tags = [f"a photo of a {pick(i, j)} object" for i in rows for j in range(4)]
    attrs = [f"thing which has a {pick(i, j + 4)} part" + " and a long curved edge" * ((i + 3 * j) % 4)
             for i in rows for j in range(4)]
    return base + tags + attrs


def rta(e, n):
    e = F.normalize(e, dim=1)
    base, tg, at = e[:n], e[n:5 * n].view(n, 4, -1), e[5 * n:].view(n, 4, -1)
    part = lambda x: 0.5 * x[:, 0] + 0.5 / 3 * x[:, 1:].sum(1)
    return F.normalize(0.1 * base + 0.65 * part(tg) + 0.35 * part(at), dim=1)


def step(seed):
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, 1000, (B,), generator=g).tolist()
    lab = torch.rand(B, generator=g) < 0.5
    y = torch.randint(0, K // 2, (B,), generator=g)
    y[~lab] = torch.randint(0, K, (int((~lab).sum()),), generator=g)
    pixels = torch.randn(2 * B, 3, img, img, generator=g).to(dev)
    enc = tok(texts(rows + rows), padding=True, return_tensors="pt").to(dev)
    z_i = F.normalize(model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output), dim=1)
    z_t = rta(model.text_projection(model.text_model(**enc).pooler_output), 2 * B)
    l_i, l_t = head_i(z_i), head_t(z_t)
    sel = torch.where(torch.rand(2 * B, generator=g) < 0.5, torch.randint(0, K, (2 * B,), generator=g), -1).to(dev)
    lab, y = lab.to(dev), y.to(dev)
    loss = (ref.ssr2_loss(z_i, l_i, lab, y, B) + ref.ssr2_loss(z_t, l_t, lab, y, B)
            + ref.branch(l_i, lab, y, 0.035) + ref.branch(l_t, lab, y, 0.035) + ref.pseudo(l_i, sel) + ref.pseudo(l_t, sel))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_torch(tf32):
    # PyTorch's default keeps f32 matmuls in full f32 (TF32 off).
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if dev.type == "cpu":
        ref.find_working_logdet(lambda: step(0))
    else:
        step(0)
    t = time.perf_counter()
    for s in range(args.steps):
        step(s + 1)
    return 1e3 * (time.perf_counter() - t) / args.steps


torch_ms = time_torch(False)
tf32_ms = time_torch(True) if args.tf32 and dev.type == "cuda" else None


# ------------------------------------------------------------------ ours
def ours(cache_views):
    n = B * args.steps
    toml = f"""
seeds = [0]
[optim]
epochs = 2
batch_size = {B}
warmup_epochs = 0
coteach_text_from = 0
[finetune]
synthetic = "{args.shape}"
synthetic_images = {n}
tokenizer = "{os.path.join(args.tokenizer, 'tokenizer.json')}"
views = {cache_views}
cache = {"true" if cache_views else "false"}
workers = {os.cpu_count()}
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        open(path, "w").write(toml)
        subprocess.run([args.bin, "train", "--config", path, "--device", args.ours_device,
                        "--out", os.path.join(tmp, "run"), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(os.path.join(tmp, "run", "seed-0", "report.json")))
    # Epoch 1: after warm-up, with co-teaching, like the PyTorch step.
    return 1e3 * report["history"][1]["train_seconds"] / (n // B)


plain_ms, cached_ms = ours(0), ours(1)
print(f"fine-tune step, shape {args.shape}: {2 * B} image rows, 9 x {2 * B} texts, K = {K}; "
      f"PyTorch on {args.device}, ours on {args.ours_device}, {args.threads} threads")
name = f"PyTorch {torch.__version__} + transformers ({ref.how()}"
rows = [(name + ")", torch_ms)] + ([(name + ", TF32)", tf32_ms)] if tf32_ms else [])
rows += [("ssr2 train --mode finetune", plain_ms), ("ssr2 train --mode finetune --cache-views 1", cached_ms)]
print(f"{'implementation':<58} {'ms/step':>9} {'vs PyTorch':>10}" + (f" {'vs TF32':>8}" if tf32_ms else ""))
for label, ms in rows:
    print(f"{label:<58} {ms:>9.1f} {torch_ms / ms:>9.2f}x" + (f" {tf32_ms / ms:>7.2f}x" if tf32_ms else ""))
