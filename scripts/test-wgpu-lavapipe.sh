#!/usr/bin/env bash
# The core's reference tests on Burn's wgpu backend, without a GPU: Mesa's lavapipe (Vulkan on
# the CPU) runs the WGSL kernels, the batched Cholesky and exact Gram kernels of
# LogdetRoute::Kernel among them, next to the host and tensor routes. Every check has a stated
# tolerance and a failure exits non-zero. Part of scripts/test.sh (SKIP_LAVAPIPE=1 skips it),
# which builds the test binaries first: the same features here, so nothing is built twice.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
    echo "error: needs Mesa's lavapipe: apt-get install -y mesa-vulkan-drivers libvulkan1 (scripts/setup.sh)" >&2
    exit 1
fi
source scripts/native-build.env
export CUBECL_WGPU_DEFAULT_DEVICE=Cpu SSR2_TEST_DEVICE=wgpu
native_cargo test --test reference
# Data parallelism: two copies of the model on the one adapter give the one-device step.
native_cargo test --test replicas step_on_two_copies
# The trainer on wgpu against the CPU device: the digits preset and a tiny-CLIP fine-tune epoch
# (ignored in the CPU run; their measured differences are printed).
native_cargo test --test gpu_trainer -- --ignored --nocapture
# The CLI on wgpu: a digits run trained there, re-evaluated there (`eval` exits 2 unless it
# reproduces report.json's scores) and predicted; and the same preset over two copies.
[ -x "$SSR2_BIN" ] || native_cargo test --no-run
out=${CI_OUT:-ci-out}/wgpu
rm -rf "$out" && mkdir -p "$out"
"$SSR2_BIN" train --device wgpu --seeds 0 --epochs 5 --out "$out/run" --quiet
"$SSR2_BIN" eval --device wgpu --run "$out/run/seed-0"
"$SSR2_BIN" predict --device wgpu --run "$out/run/seed-0" --quiet --out "$out/predict.csv"
[ "$(wc -l <"$out/predict.csv")" -gt 100 ] || { echo "error: predict wrote too few rows" >&2; exit 1; }
"$SSR2_BIN" train --devices wgpu,wgpu --seeds 0 --epochs 5 --out "$out/two" --quiet
"$SSR2_BIN" eval --device wgpu --run "$out/two/seed-0"
