#!/usr/bin/env bash
# Fine-tune mode on the accelerator machine in one short call (the `device` tool): prints the
# device, runs two epochs of `ssr2 train --mode finetune` on synthetic images at ViT-B/16 shape
# with random weights (12-layer 768 vision + 12-layer 512 text, last blocks trainable, 9 RTA
# texts per image and view), without and with the frozen-prefix cache, and prints step time,
# images/s, loader wait and memory (host peak from ssr2, GPU peak from nvidia-smi sampling);
# then, where PyTorch and transformers are installed, one step of the PyTorch reference against
# ours at the same shape (bench/finetune_step.py, PyTorch timed with TF32 off and on; BENCH=0
# skips it). Worst case about 9 min.
#
# Build here (default wgpu = Vulkan; for CUDA see scripts/gpu-cuda-check.sh, which calls this):
#   FEATURE=${FEATURE:-wgpu}
#   CARGO_TARGET_DIR=target-$FEATURE cargo build --release -p ssr2 --features $FEATURE
#   mkdir -p gpu-bin && strip -o gpu-bin/ssr2 target-$FEATURE/release/ssr2 && gzip -f gpu-bin/ssr2
#   Vulkan loader + glvnd debs in .gl/ (see scripts/gpu-core-check.sh).
# There: bash scripts/gpu-check.sh   (carry gpu-bin and .gl); DEVICE=cuda with a CUDA build.
# Locally on the CPU: SHAPE=tiny DEVICE=cpu BIN=target/release/ssr2 bash scripts/gpu-check.sh
set -u
BIN=${BIN:-gpu-bin/ssr2}
OUT=${OUT:-gpu-out}
SHAPE=${SHAPE:-vitb16}
DEVICE=${DEVICE:-wgpu}
IMAGES=${IMAGES:-768}
BATCH=${BATCH:-128}
EPOCHS=${EPOCHS:-2}
LIMIT=${LIMIT:-150}
BENCH=${BENCH:-1}
mkdir -p "$OUT"
. "$(dirname "$0")/gpu-env.sh"
GPU=0
if command -v nvidia-smi >/dev/null; then
    GPU=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
    echo "device: $DEVICE (no nvidia-smi) on $(nproc) CPU cores"
fi
TOK=${TOK:-tests/reference/clip-tiny/tokenizer.json}
run() { # $1 = label, rest = extra flags
    local label=$1; shift
    echo "== $label: shape $SHAPE, $IMAGES images, batch $BATCH, $EPOCHS epochs on $DEVICE =="
    if [ $GPU = 1 ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$OUT/mem-$label.txt" &
        SMI=$!
    fi
    timeout "$LIMIT" "$BIN" train --mode finetune --synthetic "$SHAPE" --synthetic-images "$IMAGES" \
        --tokenizer "$TOK" --batch "$BATCH" --epochs "$EPOCHS" --seeds 0 --device "$DEVICE" \
        --workers "$(nproc)" --out "$OUT/$label" --quiet "$@" | grep -v '^seed\|^[0-9]\|^synthetic'
    local status=${PIPESTATUS[0]}
    echo "exit status $status"
    [ "$status" = 0 ] || FAILED="$FAILED
  train $label (exit $status)"
    if [ $GPU = 1 ]; then
        kill "$SMI" 2>/dev/null
        echo "GPU memory peak: $(sort -n "$OUT/mem-$label.txt" | tail -1) MiB"
    fi
}
run uncached
run cached --cache-views 1
if [ "$BENCH" = 1 ] && python3 -c "import torch, transformers" 2>/dev/null; then
    echo "== one step: PyTorch reference vs ours, shape $SHAPE, B = $BATCH =="
    TORCH_DEVICE=cpu
    [ $GPU = 1 ] && TORCH_DEVICE=cuda
    timeout "${BENCH_LIMIT:-240}" python3 bench/finetune_step.py --shape "$SHAPE" --batch "$BATCH" --steps 4 \
        --device "$TORCH_DEVICE" --ours-device "$DEVICE" --bin "$BIN" ${BENCH_FLAGS---tf32} 2>&1 | grep -v '^runs written'
    echo "exit status ${PIPESTATUS[0]}"
fi
finish
