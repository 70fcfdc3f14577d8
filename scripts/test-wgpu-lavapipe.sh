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
# One lavapipe worker thread: measured alone (warm shader cache), 90 s and 97 CPU-s for the
# reference tests against 106 s and 126 CPU-s with one per core (docs/CI.md).
export LP_NUM_THREADS=${LP_NUM_THREADS:-1}
native_cargo test --test reference
# Data parallelism: two copies of the model on the one adapter give the one-device step.
native_cargo test --test devices step_on_two_copies
# The trainer on wgpu against the CPU device: the digits preset and a tiny-CLIP fine-tune epoch
# (first-step loss within 1e-4 relative, final scores within 5 points; docs/SCALE.md).
native_cargo test --test devices _on_the_gpu_match -- --ignored --nocapture
# The CLI on a wgpu-trained run: `eval` reproduces report.json's scores on wgpu and on the CPU
# (it exits non-zero when they differ), and `predict` gives the same classes on both devices.
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
"$SSR2_BIN" train --device wgpu --seeds 0 --epochs 1 --out "$run/w" --quiet
for device in wgpu cpu; do
    "$SSR2_BIN" eval --run "$run/w/seed-0" --device "$device" >/dev/null
    "$SSR2_BIN" predict --run "$run/w/seed-0" --device "$device" --out "$run/$device.csv" --quiet
done
python3 - "$run/wgpu.csv" "$run/cpu.csv" <<'PY'
import csv, sys
gpu, cpu = ([r for r in csv.DictReader(open(p))] for p in sys.argv[1:3])
assert len(gpu) == len(cpu) > 0, (len(gpu), len(cpu))
assert [r["id"] for r in gpu] == [r["id"] for r in cpu]
same = sum(a["class"] == b["class"] for a, b in zip(gpu, cpu))
worst = max(abs(float(a["confidence"]) - float(b["confidence"])) for a, b in zip(gpu, cpu))
print(f"predict on a wgpu-trained run: {same}/{len(cpu)} classes equal on wgpu and cpu, confidence within {worst:.1e}")
assert same == len(cpu) and worst < 1e-4
PY
