#!/usr/bin/env bash
# One short run on the accelerator machine: CLIP ViT-B/16 image encoding, ours on wgpu (Vulkan)
# next to transformers/PyTorch on CUDA, plus the tiny-model parity through `embed-text` on wgpu.
# Build and carry exactly as in scripts/gpu-core-check.sh (gpu-bin/ssr2.gz and .gl/).
set -u
BIN=${BIN:-gpu-bin/ssr2}
. "$(dirname "$0")/gpu-env.sh"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== CLIP ViT-B/16 image encoding, batch 32: PyTorch CUDA vs ours on wgpu =="
timeout 240 python3 bench/clip_images.py --device cuda --ours-device wgpu --bin "$BIN" --reps 10
echo "== tiny CLIP text embeddings on wgpu vs transformers (max abs diff) =="
timeout 60 "$BIN" embed-text --model tests/reference/clip-tiny --texts tests/reference/clip-tiny/texts.txt \
    --out /tmp/t.npy --device wgpu --quiet && tiny_text_diff /tmp/t.npy wgpu || exit 1
