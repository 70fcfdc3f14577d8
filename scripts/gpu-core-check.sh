#!/usr/bin/env bash
# One short run on the accelerator machine (the `device` tool): the SSR2 loss and the trainer on
# the GPU through wgpu (Vulkan), against the CPU device and against PyTorch on the same GPU.
# (CUDA: scripts/gpu-cuda-check.sh.)
#
# Here:   CARGO_TARGET_DIR=target-wgpu cargo build --release -p ssr2 --features wgpu
#         mkdir -p gpu-bin && strip -o gpu-bin/ssr2 target-wgpu/release/ssr2 && gzip -f gpu-bin/ssr2
#         (gzip: the stripped binary is 74 MB, over the 64 MiB a device call carries)
#         Optionally the core's reference tests (run on the GPU when present):
#         CARGO_TARGET_DIR=target-wgpu cargo test --release -p ssr2-core --features wgpu --test reference --no-run
#         and strip the printed test binary to gpu-bin/reference
#         Vulkan loader + glvnd for the GPU machine (NVIDIA's Vulkan ICD is libGLX_nvidia, which
#         needs glvnd): apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0
#         libgles2 into .gl/
# There:  bash scripts/gpu-core-check.sh     (carry gpu-bin and .gl); results in $OUT.
set -u
# Every comparison has a tolerance; the script exits 1 when any fails (timings are printed only).
BIN=${BIN:-gpu-bin/ssr2}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
. "$(dirname "$0")/gpu-env.sh"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== coding rates at paper shape on wgpu (kernel route) vs numpy f64, tolerance 1e-4 =="
check timeout 120 python3 bench/rate_device.py --device wgpu --bin "$BIN"
if [ -x gpu-bin/reference ]; then
    echo "== ssr2-core reference tests on wgpu (all log-det routes) =="
    check env SSR2_TEST_DEVICE=wgpu timeout 300 gpu-bin/reference --test-threads 1
fi
echo "== SSR2 loss (2B = 256, d = 512, K = 200): ours on wgpu (kernel and host log-det routes) and on the CPU =="
timeout 150 "$BIN" bench --device wgpu --route kernel
timeout 150 "$BIN" bench --device wgpu --route host
timeout 100 "$BIN" bench --device cpu
echo "== the same loss in PyTorch on the GPU (CUDA, TF32 off), next to ours on wgpu (kernel route) =="
timeout 150 python3 bench/ssr2_loss.py --device cuda --ours-device wgpu --route kernel --bin "$BIN" --reps 10
echo "== trainer: synthetic, seed 0, wgpu vs CPU =="
timeout 200 "$BIN" train --data synthetic --device wgpu --seeds 0 --out "$OUT/syn-wgpu" --quiet
timeout 200 "$BIN" train --data synthetic --device cpu --seeds 0 --out "$OUT/syn-cpu" --quiet
python3 - "$OUT" <<'PY'
import json, sys
for dev in ["wgpu", "cpu"]:
    r = json.load(open(f"{sys.argv[1]}/syn-{dev}/seed-0/report.json"))
    h = r["history"]
    print(dev, "final", r["final_scores"], "rank old/new", round(r["rank_old_mean"], 3), round(r["rank_new_mean"], 3),
          "train s/epoch", round(sum(e["train_seconds"] for e in h[-5:]) / 5, 3))
PY
finish
