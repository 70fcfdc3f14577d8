"""Reference outputs for the Burn CLIP port (crates/ssr2-clip), no downloads.

Builds a Hugging Face CLIP with random weights from a small config, a CLIP BPE tokenizer from
open_clip's bundled vocabulary (truncated to keep the fixture small), a few texts and images, and
writes what transformers/PyTorch computes for them. The Rust tests load the same folder.

    pip install torch transformers open_clip_torch ftfy regex pillow --no-deps-for-open_clip
    python tests/reference/make_clip_reference.py            # tests/reference/clip-tiny/
    python tests/reference/make_clip_reference.py --full OUT # ViT-B/16 shape, random, not committed
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

TEXTS = [
    "a photo of a cat",
    "A photo of a Bengal cat.",
    "apple pie which has lattice pattern on top of the crust",
    "a photo of a 2012 BMW M3 coupe",
    "Black-footed Albatross which has a hooked bill!!",
    "  multiple   spaces\tand\ttabs  ",
    "numbers 1234567 and 3.14, don't stop",
    "café crème brûlée",
    "",
    "a",
]


def open_clip_bpe_lines():
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        sys.exit("needs open_clip_torch (pip install --no-deps open_clip_torch) for the BPE file")
    path = os.path.join(os.path.dirname(spec.origin), "bpe_simple_vocab_16e6.txt.gz")
    return gzip.open(path).read().decode("utf-8").split("\n")


def bytes_to_unicode():
    # CLIP's reversible byte -> printable character table.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def open_clip_simple_tokenizer(bpe_path):
    """open_clip's port of OpenAI's CLIP BPE (ftfy + html unescape + lower-casing), loaded from
    its file so that open_clip's model code (and torchvision) is not needed."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    path = os.path.join(os.path.dirname(spec.origin), "tokenizer.py")
    mod_spec = importlib.util.spec_from_file_location("open_clip_tokenizer", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.SimpleTokenizer(bpe_path=bpe_path)


def write_tokenizer(out, num_merges):
    """CLIP's vocabulary from the first `num_merges` merges; transformers writes the Hugging Face
    files (tokenizer.json, vocab.json, merges.txt) and open_clip's tokenizer is the reference."""
    lines = open_clip_bpe_lines()
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]][:num_merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(out, exist_ok=True)
    hf = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)
    hf.save_pretrained(out)
    bpe_path = os.path.join(out, "bpe_simple_vocab.txt.gz")
    with gzip.open(bpe_path, "wt", encoding="utf-8") as f:
        f.write(lines[0] + "\n" + "\n".join(" ".join(m) for m in merges))  # no final newline: it would add an empty merge
    reference = open_clip_simple_tokenizer(bpe_path)
    os.remove(bpe_path)
    return hf, reference, len(vocab)


def tiny_config(vocab_size):
    return CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="gelu",  # the vision side keeps quick_gelu: both activations are tested
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
        ),
        vision_config=dict(
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            hidden_act="quick_gelu",
        ),
        projection_dim=24,
    )


def full_config(vocab_size):
    # openai/clip-vit-base-patch16's shapes.
    return CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=512, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=8,
                         max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=vocab_size - 2, eos_token_id=2, pad_token_id=1),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=224, patch_size=16,
                           hidden_act="quick_gelu"),
        projection_dim=512,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", metavar="OUT", help="ViT-B/16 shapes, full vocabulary, into OUT")
    ap.add_argument("--texts", metavar="FILE", help="texts to tokenize instead of the built-in ones")
    ap.add_argument("--max-texts", type=int, default=500)
    args = ap.parse_args()
    texts = TEXTS
    if args.texts:
        with open(args.texts, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f][: args.max_texts]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if args.full:
        out = args.full
        hf, reference, vocab_size = write_tokenizer(out, 49152 - 256 - 2)
        config = full_config(vocab_size)
        n_images = 8
    else:
        out = os.path.join(HERE, "clip-tiny")
        hf, reference, vocab_size = write_tokenizer(out, 1000)
        config = tiny_config(vocab_size)
        n_images = 4
    model = CLIPModel(config).eval()
    model.save_pretrained(out, safe_serialization=True)

    # Tokens from open_clip's tokenizer (CLIP's own algorithm; pads with 0 after the end token).
    ids = reference(texts, context_length=77)
    # transformers' tokenizer.json (what the Rust side loads) must agree on these texts.
    hf_ids = hf(texts, padding="max_length", max_length=77, truncation=True)["input_ids"]
    for a, b in zip(ids.tolist(), hf_ids):
        n = a.index(vocab_size - 1) + 1
        assert a[:n] == b[:n], f"open_clip and transformers tokenizers disagree: {a[:n]} {b[:n]}"
    enc = {"input_ids": ids}

    size = config.vision_config.image_size
    pixels = torch.tensor(rng.standard_normal((n_images, 3, size, size)), dtype=torch.float32)
    with torch.no_grad():
        v = model.vision_model(pixel_values=pixels, output_hidden_states=True)
        t = model.text_model(input_ids=enc["input_ids"], output_hidden_states=True)
        img = model.visual_projection(v.pooler_output)
        txt = model.text_projection(t.pooler_output)
    expected = {
        "pixel_values": pixels,
        "input_ids": enc["input_ids"].to(torch.int64),
        "image_embeds": torch.nn.functional.normalize(img, dim=-1),
        "image_pooled": v.pooler_output,
        "image_before_last": v.hidden_states[-2],
        "text_embeds": torch.nn.functional.normalize(txt, dim=-1),
        "text_pooled": t.pooler_output,
        "text_before_last": t.hidden_states[-2],
    }
    # PNG files through transformers' CLIPImageProcessor (PIL bicubic resize of the short side,
    # centre crop, CLIP mean/std): the whole `ssr2 embed-images` path.
    from PIL import Image
    from transformers import CLIPImageProcessor

    png_dir = os.path.join(out, "images")
    os.makedirs(png_dir, exist_ok=True)
    png_rng = np.random.default_rng(1)
    pngs = []
    for i, (w, h) in enumerate([(45, 37), (32, 32), (20, 61)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                        png_rng.integers(0, 256, (h, w))], axis=-1).astype(np.uint8)
        path = os.path.join(png_dir, f"img{i}.png")
        Image.fromarray(img).save(path)
        pngs.append(Image.open(path).convert("RGB"))
    proc = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    png_pixels = proc(images=pngs, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        png_emb = model.visual_projection(model.vision_model(pixel_values=png_pixels).pooler_output)
    expected["png_image_embeds"] = torch.nn.functional.normalize(png_emb, dim=-1)
    save_file({k: x.contiguous() for k, x in expected.items()}, os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "texts.txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    print(f"wrote {out}: vocab {vocab_size}, {n_images} images, {len(texts)} texts")


if __name__ == "__main__":
    main()
