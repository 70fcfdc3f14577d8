"""The slow (pure Python) CLIP tokenizer layout, vocab.json + merges.txt, for the Rust tokenizer.

Saves transformers' slow `CLIPTokenizer` (transformers 4.x; 5.x has only the tokenizers-backed
one) built from the vocabulary and merges of tests/reference/clip-tiny/tokenizer.json, and the
token ids it gives for a set of texts. No torch, no downloads:

    pip install "transformers<5" ftfy regex
    python tests/reference/make_clip_slow_tokenizer.py   # tests/reference/clip-tiny-slow/

Writes vocab.json, merges.txt (and the tokenizer config files save_pretrained adds) and
slow_ids.json: {"texts": [...], "ids": [[...], ...]}, each row start token .. end token.
"""
import json
import os
import sys
import tempfile

import transformers
from transformers import CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FAST = os.path.join(HERE, "clip-tiny", "tokenizer.json")
OUT = os.path.join(HERE, "clip-tiny-slow")

TEXTS = [
    "a photo of a cat",
    "A Photo Of A CAT",
    "it's a dog's life, isn't it? they'll say we'd've, I'm sure you're right",
    "IT'S LOUD",
    "numbers 1234567 and 3.14159, 2024-06-01",
    "punctuation!!! ??? ... --- (a) [b] {c} #tag @user 50% $9.99",
    "café crème brûlée, naïve Zoë, ÅNGSTRÖM",
    "decomposed e\u0301 accent",
    "ελληνικά και русский",
    "日本語のテキスト",
    "emoji 🐱 cat 🎉",
    "  extra   spaces\tand\ttabs  ",
    "",
    "a",
    " ".join(["long"] * 40 + ["sentence", "with", "many", "different", "words"] * 12),
]


def vocab_and_merges(path):
    with open(path, encoding="utf-8") as f:
        model = json.load(f)["model"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
    return model["vocab"], merges


def slow_tokenizer(vocab, merges, tmp):
    vocab_file = os.path.join(tmp, "vocab.json")
    merges_file = os.path.join(tmp, "merges.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_file, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = CLIPTokenizer(vocab_file=vocab_file, merges_file=merges_file)
    if tok.fix_text is None:
        sys.exit("needs ftfy (pip install ftfy): CLIP's own text cleaning")
    return tok


def main():
    if not transformers.__version__.startswith("4."):
        sys.exit(f"needs transformers 4.x for the slow CLIPTokenizer (have {transformers.__version__})")
    vocab, merges = vocab_and_merges(FAST)
    with tempfile.TemporaryDirectory() as tmp:
        tok = slow_tokenizer(vocab, merges, tmp)
        os.makedirs(OUT, exist_ok=True)
        tok.save_pretrained(OUT)
    # Reload what was saved: the committed files are the reference.
    tok = CLIPTokenizer.from_pretrained(OUT)
    ids = tok(TEXTS, max_length=77, truncation=True)["input_ids"]
    assert all(2 <= len(row) <= 77 for row in ids)
    with open(os.path.join(OUT, "slow_ids.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": TEXTS, "ids": ids}, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: vocab {len(vocab)}, {len(merges)} merges, {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
