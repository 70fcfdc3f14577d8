#!/usr/bin/env python3
"""One training step of the authors' own code, for ssr2-train's `tests/onestep.rs`.

Takes a local copy of the SSR2-GCD repository (github hewei98/SSR2-GCD; it is read, never
copied here), builds a tiny random-weight CLIP with its `clip/model.py`, wraps it in its
`model.CustomCLIP`, and runs one step of its training loop (the model, the losses of `loss.py`
combined as `main.py`'s `train_one_epoch` does, plain two-group SGD) on fixed inputs: pre-drawn
image views (pixels after the transform), token ids of the base prompt, tags and attributes for
each of the two text views, labels, the labelled mask and the co-teaching selections. Twice from
the same weights: in warm-up (epoch 0) and after it with both co-teaching directions (epoch 16).

Writes tests/reference/onestep/: the model converted to the Hugging Face layout ours reads
(config.json, model.safetensors), the classifier weights, the inputs, and per step the loss
terms and the features and logits of the updated model on the same inputs.

Usage:  pip install torch numpy
        git clone https://github.com/hewei98/SSR2-GCD /tmp/ssr2-authors
        python3 tests/reference/make_onestep_reference.py /tmp/ssr2-authors
"""
import argparse
import importlib.util
import json
import math
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onestep")
B, K, T, A = 4, 3, 2, 2
VOCAB, CTX, SOT, EOT = 64, 16, 62, 63
CLS_LR, BASE_LR = 0.1, 0.05


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def authors_modules(root):
    # `model.py` imports `clip.clip` (torchvision, downloads) only for `load_clip_to_cpu`, which
    # is not used here: stand in an empty module for it.
    pkg = types.ModuleType("clip")
    pkg.clip = types.ModuleType("clip.clip")
    sys.modules["clip"], sys.modules["clip.clip"] = pkg, pkg.clip
    clip_model = load(os.path.join(root, "clip", "model.py"), "authors_clip_model")
    model = load(os.path.join(root, "model.py"), "authors_model")
    loss = load(os.path.join(root, "loss.py"), "authors_loss")
    return clip_model, model, loss


def to_hf(sd):
    """OpenAI CLIP state dict -> Hugging Face CLIPModel tensor names (weights [out, in])."""
    out = {}

    def blocks(src, dst, layers):
        for i in range(layers):
            s, d = f"{src}.{i}", f"{dst}.{i}"
            w, b = sd[f"{s}.attn.in_proj_weight"], sd[f"{s}.attn.in_proj_bias"]
            for j, n in enumerate(["q_proj", "k_proj", "v_proj"]):
                h = w.shape[1]
                out[f"{d}.self_attn.{n}.weight"] = w[j * h:(j + 1) * h]
                out[f"{d}.self_attn.{n}.bias"] = b[j * h:(j + 1) * h]
            pairs = [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                     ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]
            for a, c in pairs:
                out[f"{d}.{c}.weight"] = sd[f"{s}.{a}.weight"]
                out[f"{d}.{c}.bias"] = sd[f"{s}.{a}.bias"]

    v = "vision_model"
    out[f"{v}.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out[f"{v}.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[f"{v}.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    for a, c in [("visual.ln_pre", f"{v}.pre_layrnorm"), ("visual.ln_post", f"{v}.post_layernorm"),
                 ("ln_final", "text_model.final_layer_norm")]:
        out[f"{c}.weight"], out[f"{c}.bias"] = sd[f"{a}.weight"], sd[f"{a}.bias"]
    blocks("visual.transformer.resblocks", f"{v}.encoder.layers", VISION_LAYERS)
    blocks("transformer.resblocks", "text_model.encoder.layers", TEXT_LAYERS)
    out["visual_projection.weight"] = sd["visual.proj"].T
    out["text_projection.weight"] = sd["text_projection"].T
    out["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    out["logit_scale"] = sd["logit_scale"].reshape([])
    return {k: t.detach().float().contiguous() for k, t in out.items()}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


VISION_WIDTH, VISION_LAYERS, PATCH, RES = 64, 2, 8, 32
TEXT_WIDTH, TEXT_HEADS, TEXT_LAYERS, EMBED = 32, 2, 2, 16


def hf_config():
    tower = {"hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "attention_dropout": 0.0}
    return {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": EMBED,
        "logit_scale_init_value": 2.6592,
        "text_config": {**tower, "hidden_size": TEXT_WIDTH, "intermediate_size": 4 * TEXT_WIDTH,
                        "num_attention_heads": TEXT_HEADS, "num_hidden_layers": TEXT_LAYERS,
                        "max_position_embeddings": CTX, "vocab_size": VOCAB,
                        "bos_token_id": SOT, "eos_token_id": EOT, "pad_token_id": 0},
        "vision_config": {**tower, "hidden_size": VISION_WIDTH,
                          "intermediate_size": 4 * VISION_WIDTH,
                          "num_attention_heads": VISION_WIDTH // 64,
                          "num_hidden_layers": VISION_LAYERS, "image_size": RES,
                          "patch_size": PATCH, "num_channels": 3},
    }


def token_seq(gen):
    n = int(gen.integers(2, 9))
    return [SOT] + [int(t) for t in gen.integers(1, SOT, size=n)] + [EOT]


def padded(seqs):
    x = torch.zeros((len(seqs), 1, CTX), dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, 0, :len(s)] = torch.tensor(s)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("authors", help="local copy of github hewei98/SSR2-GCD")
    root = ap.parse_args().authors
    torch.Tensor.cuda = lambda self, *a, **k: self  # their forward moves tokens to the GPU
    clip_model, model_mod, loss_mod = authors_modules(root)
    torch.manual_seed(7)
    gen = np.random.default_rng(7)
    clip = clip_model.CLIP(EMBED, RES, VISION_LAYERS, VISION_WIDTH, PATCH, CTX, VOCAB,
                           TEXT_WIDTH, TEXT_HEADS, TEXT_LAYERS).float()
    # Spread the tiny model's random weights so one step moves the features measurably.
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if p.dim() == 2 and "embedding" not in name:
                p.mul_(1.5)
    init_clip = {k: v.clone() for k, v in clip.state_dict().items()}
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "model.safetensors"), to_hf(init_clip))
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(hf_config(), f, indent=1)

    # Inputs: two pre-drawn views per image; per view and image a base, T tags, A attributes.
    images = torch.randn(2 * B, 3, RES, RES)
    base = [[token_seq(gen) for _ in range(B)] for _ in range(2)]
    tags = [[[token_seq(gen) for _ in range(B)] for _ in range(2)] for _ in range(T)]
    attrs = [[[token_seq(gen) for _ in range(B)] for _ in range(2)] for _ in range(A)]
    labels = torch.tensor([2, 0, 1, 0])
    mask = torch.tensor([True, False, True, False])
    img_id = [f"img{i}" for i in range(B)]
    selected_t = {"img1": 2, "img3": 0}  # chosen by the text branch: image branch learns them
    selected_i = {"img3": 1}             # chosen by the image branch: text branch learns them

    def fresh_model():
        c = clip_model.CLIP(EMBED, RES, VISION_LAYERS, VISION_WIDTH, PATCH, CTX, VOCAB,
                            TEXT_WIDTH, TEXT_HEADS, TEXT_LAYERS).float()
        c.load_state_dict(init_clip)
        torch.manual_seed(11)
        m = model_mod.CustomCLIP(c, K)
        # main.py: the last block of each tower, both projections and both classifiers.
        for name, p in m.named_parameters():
            p.requires_grad_(False)
        last = [f"visual.transformer.resblocks.{VISION_LAYERS - 1}.",
                f"model.transformer.resblocks.{TEXT_LAYERS - 1}."]
        for name, p in m.named_parameters():
            if (any(s in name for s in last) or "visual.proj" in name
                    or "text_projection" in name or "classifier" in name):
                p.requires_grad_(True)
        return m

    args = types.SimpleNamespace(tau_s=0.1, tau_u=0.05, memax_weight=2.0, lambda_loss=0.2,
                                 device="cpu", alpha=0.5, beta=0.65)
    schedule = np.concatenate((np.linspace(0.035, 0.02, 30), np.ones(200 - 30) * 0.02))
    tokens = (
        [padded(base[v]) for v in range(2)],
        [[padded(tags[t][v]) for v in range(2)] for t in range(T)],
        [[padded(attrs[a][v]) for v in range(2)] for a in range(A)],
    )

    def step(epoch, warm_up_epochs=10, class_aligning_epochs=5):
        m = fresh_model()
        heads = {n: p.detach().clone() for n, p in m.named_parameters() if "classifier" in n}
        sel_t = selected_t if epoch > warm_up_epochs else None
        sel_i = selected_i if epoch > warm_up_epochs + class_aligning_epochs else None
        cls = [p for n, p in m.named_parameters() if "classifier" in n and p.requires_grad]
        other = [p for n, p in m.named_parameters() if "classifier" not in n and p.requires_grad]
        opt = torch.optim.SGD([{"params": cls, "lr": CLS_LR}, {"params": other, "lr": BASE_LR}])
        tcr, compress = loss_mod.TotalCodingRate(eps=0.5), loss_mod.CompressLoss(eps=0.5)
        # As train_one_epoch in main.py.
        li, lt, fi, ft = m(images, *tokens, args.alpha, args.beta)
        pi, pt = F.softmax(li, dim=-1), F.softmax(lt, dim=-1)
        sup_labels = torch.cat([labels[mask] for _ in range(2)], dim=0)
        two = lambda x, keep: torch.cat([c[keep] for c in x.chunk(2)], dim=0)
        if epoch <= warm_up_epochs:
            l_compress = (compress(two(fi, mask), sup_labels, None)
                          + compress(two(ft, mask), sup_labels, None)) / (1 * B)
        else:
            l_compress = (compress(two(fi, mask), sup_labels, None)
                          + compress(two(ft, mask), sup_labels, None)
                          + compress(two(fi, ~mask), two(pi, ~mask), None)
                          + compress(two(ft, ~mask), two(pt, ~mask), None)) / (2 * B)
        l_uniform = (tcr(fi) + tcr(ft)) / (2 * B)
        l_base = loss_mod.simgcd_loss(li, lt, labels, mask, schedule, epoch, args)
        l_pi = loss_mod.coteaching_pseudolabel_loss(sel_t, li, img_id, args)
        l_pt = loss_mod.coteaching_pseudolabel_loss(sel_i, lt, img_id, args)
        total = l_uniform + l_compress + l_base + l_pi + l_pt
        opt.zero_grad()
        total.backward()
        opt.step()
        with torch.no_grad():
            li2, lt2, fi2, ft2 = m(images, *tokens, args.alpha, args.beta)
        flat = lambda t: t.detach().flatten().tolist()
        return heads, {
            "epoch": epoch, "warmup": epoch <= warm_up_epochs,
            "teacher_temp": float(schedule[epoch]),
            "pseudo_for_image": sel_t is not None, "pseudo_for_text": sel_i is not None,
            "loss": {"total": total.item(), "rep": (l_uniform + l_compress).item(),
                     "cls": l_base.item(), "pseudo": (l_pi + l_pt).item()},
            "before": {"image_logits": flat(li), "text_logits": flat(lt),
                       "image_features": flat(fi), "text_features": flat(ft)},
            "after": {"image_logits": flat(li2), "text_logits": flat(lt2),
                      "image_features": flat(fi2), "text_features": flat(ft2)},
        }

    heads, warm = step(0)
    _, after = step(16)
    seqs = lambda views: [s for v in views for s in v]  # rows: view 1 images, then view 2
    ref = {
        "about": "one step of the SSR2-GCD authors' training loop; see the script",
        "torch_version": torch.__version__,
        "B": B, "K": K, "T": T, "A": A, "cls_lr": CLS_LR, "base_lr": BASE_LR,
        "images": images.flatten().tolist(), "image_size": RES,
        "base": seqs(base), "tags": [seqs(t) for t in tags], "attributes": [seqs(a) for a in attrs],
        "labels": labels.tolist(), "labelled": mask.tolist(),
        "pseudo_for_image": {int(k[3:]): c for k, c in selected_t.items()},
        "pseudo_for_text": {int(k[3:]): c for k, c in selected_i.items()},
        "image_head": {"v": heads["image_classifier.weight_v"].flatten().tolist(),
                       "g": heads["image_classifier.weight_g"].flatten().tolist()},
        "text_head": {"v": heads["text_classifier.weight_v"].flatten().tolist(),
                      "g": heads["text_classifier.weight_g"].flatten().tolist()},
        "steps": [warm, after],
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")
    for s in ref["steps"]:
        print(f"epoch {s['epoch']}: loss {s['loss']}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
