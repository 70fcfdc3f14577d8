"""Writes tests/reference/preprocess/: synthetic PNG inputs and what PIL, transformers'
CLIPImageProcessor and torch compute from them, for crates/ssr2-data/tests/preprocess.rs.

Run from the repository root: python3 tests/reference/make_preprocess_reference.py
Needs numpy, pillow, torch, transformers (no downloads). Outputs are deterministic.
"""

import json
import os

import numpy as np
import torch
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocess")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def synthetic(w, h, seed):
    """Gradients + hard-edged blocks (bicubic overshoot hits the uint8 clamp) + noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 255.0 * x / max(w - 1, 1)
    img[..., 1] = 255.0 * y / max(h - 1, 1)
    img[..., 2] = 127.5 + 127.5 * np.sin(x * 0.7 + y * 0.3)
    blocks = ((x // 5 + y // 4) % 2 == 0)
    img[blocks] = 255.0 - img[blocks]
    img += rng.normal(0, 30, img.shape)
    img[rng.rand(h, w) < 0.05] = 0.0
    img[rng.rand(h, w) < 0.05] = 255.0
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


def short_side_size(w, h, size):
    """torchvision's / transformers' rule: the long side is int(size * long / short)."""
    if w <= h:
        return size, int(size * h / w)
    return int(size * w / h), size


def save_f32(name, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    arr.tofile(os.path.join(OUT, name))
    return name


def main():
    import PIL

    # Pillow 13 picks the pass order per shape; older Pillow always resized horizontally first.
    assert PIL.__version__.split(".")[0] == "13", PIL.__version__
    os.makedirs(OUT, exist_ok=True)
    inputs = {"a": (61, 47, 1), "b": (120, 90, 2), "c": (13, 29, 3), "d": (40, 40, 4)}
    images = {}
    for name, (w, h, seed) in inputs.items():
        images[name] = synthetic(w, h, seed)
        images[name].save(os.path.join(OUT, f"{name}.png"))

    # PIL's bicubic resize: down, up, one axis only, odd and non-square, identity, 1x1, and
    # both pass orders of Pillow 13 (vertical first when the height shrinks by more than twice
    # as many pixels as the width: b 100x20, c 7x5, c 1x1, d 60x10; b 100x50 is the tie).
    resize_cases = [
        ("a", 17, 11), ("a", 61, 47), ("a", 30, 47), ("a", 61, 20), ("a", 122, 95),
        ("b", 33, 97), ("b", 64, 90), ("b", 120, 41), ("b", 7, 5), ("b", 150, 113),
        ("c", 40, 77), ("c", 1, 1), ("c", 5, 90), ("d", 23, 23), ("d", 96, 41),
        ("b", 100, 20), ("b", 100, 50), ("c", 7, 5), ("d", 60, 10),
    ]
    resize = []
    for name, w, h in resize_cases:
        out = images[name].resize((w, h), Image.BICUBIC)
        fname = f"resize_{name}_{w}x{h}.png"
        out.save(os.path.join(OUT, fname))
        resize.append({"input": f"{name}.png", "width": w, "height": h, "expected": fname})

    short_side = []
    for name, size in [("a", 32), ("b", 32), ("c", 20), ("d", 24), ("b", 100)]:
        w, h = images[name].size
        ow, oh = short_side_size(w, h, size)
        fname = f"short_{name}_{size}.png"
        images[name].resize((ow, oh), Image.BICUBIC).save(os.path.join(OUT, fname))
        short_side.append(
            {"input": f"{name}.png", "size": size, "width": ow, "height": oh, "expected": fname}
        )

    # The CLIP test transform as transformers' PIL backend computes it (CHW float32).
    test_transform = []
    for name, size in [("a", 32), ("b", 32), ("c", 20), ("d", 24), ("b", 45)]:
        proc = CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        )
        pv = proc(images=images[name], return_tensors="np")["pixel_values"][0]
        assert pv.shape == (3, size, size) and pv.dtype == np.float32, pv.shape
        fname = save_f32(f"clip_{name}_{size}.f32", pv)
        test_transform.append({"input": f"{name}.png", "size": size, "expected": fname})

    # torchvision's ToTensor + Normalize arithmetic (float32 x / 255, then (x - m) / s) in torch.
    chw = []
    for name in ["a", "c"]:
        t = torch.from_numpy(np.asarray(images[name])).permute(2, 0, 1).contiguous().float().div(255)
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        fname = save_f32(f"chw_imagenet_{name}.f32", t.sub(mean).div(std).numpy())
        chw.append({"input": f"{name}.png", "expected": fname})

    # Centre-crop offsets: transformers floors (h - size) // 2; torchvision rounds half to even.
    crops = [
        {"height": h, "size": s, "transformers_top": (h - s) // 2, "torchvision_top": int(round((h - s) / 2.0))}
        for h, s in [(10, 7), (10, 5), (11, 4), (9, 2), (224, 224), (13, 6)]
    ]
    manifest = {
        "about": "written by tests/reference/make_preprocess_reference.py",
        "resize": resize,
        "short_side": short_side,
        "clip_test_transform": test_transform,
        "chw_imagenet": chw,
        "crop_offsets": crops,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
