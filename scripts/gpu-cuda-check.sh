#!/usr/bin/env bash
# The CUDA build on the accelerator machine in one call (the `device` tool), about 9 min: checks
# that Burn's CUDA backend starts (NVRTC + headers found), compares tiny-CLIP text embeddings on
# CUDA with transformers and the coding rates with numpy f64 (Burn's autotune may pick TF32
# tensor-core matmuls for f32, which these diffs would show), times the SSR2 loss, then runs
# scripts/gpu-check.sh with --device cuda (two fine-tune epochs at ViT-B/16 shape without and
# with the prefix cache, then one step of the PyTorch reference next to ours). Stops after the
# first part when CUDA does not start, so a wgpu check still fits in the session's device time.
#
# Here:  bash scripts/cuda-llvm.sh     (offline stand-in for the LLVM bundle; see that script)
#        for f in cuda-nvrtc cuda; do
#            CUDARC_CUDA_VERSION=13000 CARGO_TARGET_DIR=target-cuda cargo build --release -p ssr2 --features $f
#            n=gpu-cuda/ssr2; [ $f = cuda ] && n=gpu-cuda/ssr2-llvm
#            mkdir -p gpu-cuda && strip -o $n target-cuda/release/ssr2 && xz -9 -T2 -f $n
#        done
#        (13000: the CUDA API of the device image, driver 580 / nvcc 13.0; cudarc loads what it
#        needs at run time. xz: 26 MB each, so both fit the 64 MiB a call carries.)
#        Optionally the core's reference tests, run on CUDA when present:
#        CUDARC_CUDA_VERSION=13000 CARGO_TARGET_DIR=target-cuda cargo test --release -p ssr2-core \
#            --features cuda-nvrtc --test reference --no-run   (then strip it to gpu-cuda/reference)
# There: bash scripts/gpu-cuda-check.sh    (carry gpu-cuda, holding only the .xz files, and .gl).
#        The NVRTC build is tried first; when it cannot start, the LLVM build (kernels through
#        LLVM 22).
set -u
# Every comparison has a tolerance; the script exits 1 when any fails (timings are printed only).
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export BIN=${BIN:-gpu-cuda/ssr2}
. "$(dirname "$0")/gpu-env.sh"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "CUDA_PATH=${CUDA_PATH:-unset (using /usr/local/cuda)}; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
ok=""
for b in "$BIN" gpu-cuda/ssr2-llvm; do
    unpack "$b"
    [ -x "$b" ] || continue
    echo "== $b: tiny CLIP text embeddings on CUDA vs transformers =="
    if timeout 90 "$b" embed-text --model tests/reference/clip-tiny \
        --texts tests/reference/clip-tiny/texts.txt --out "$OUT/t.npy" --device cuda --quiet; then
        ok=$b
        break
    fi
done
if [ -z "$ok" ]; then
    echo "CUDA did not start with any carried build (errors above); stopping here"
    exit 1
fi
export BIN=$ok
# TF32 is allowed in CLIP's own matmuls (PyTorch's default on these GPUs), hence 5e-3 here.
check tiny_text_diff "$OUT/t.npy" cuda 5e-3
if [ -x gpu-cuda/reference ]; then
    echo "== ssr2-core reference tests on CUDA (all log-det routes; Gram products full f32) =="
    check env SSR2_TEST_DEVICE=cuda timeout 300 gpu-cuda/reference --test-threads 1
fi
echo "== coding rates at paper shape on CUDA (kernel route) vs numpy f64, tolerance 1e-4 =="
check timeout 60 python3 bench/rate_device.py --device cuda --bin "$BIN"
echo "== SSR2 loss (2B = 256, d = 512, K = 200) on CUDA: kernel and host log-det routes =="
timeout 60 "$BIN" bench --device cuda --route kernel
timeout 60 "$BIN" bench --device cuda --route host
echo "== PyTorch on CUDA (TF32 off) vs ours on CUDA, kernel route =="
timeout 120 python3 bench/ssr2_loss.py --device cuda --route kernel --bin "$BIN" --reps 10
DEVICE=cuda LIMIT=${LIMIT:-130} BENCH_LIMIT=${BENCH_LIMIT:-200} check bash "$(dirname "$0")/gpu-check.sh"
finish
