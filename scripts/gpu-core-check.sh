#!/usr/bin/env bash
# One short run on a CUDA machine (the accelerator of the `device` tool): the SSR2 loss and the
# trainer on CUDA, against the CPU device and against PyTorch on the same GPU.
# Build here first:  CARGO_TARGET_DIR=target-cuda cargo build --release -p ssr2 --features cuda
#                    mkdir -p gpu-bin && strip -o gpu-bin/ssr2 target-cuda/release/ssr2
# Then run this script there with gpu-bin carried. Results go to $OUT (or ./gpu-out).
set -u
BIN=${BIN:-gpu-bin/ssr2}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# cudarc loads libcuda and NVRTC at run time; PyTorch's wheels ship NVRTC.
NV=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))" 2>/dev/null)
if [ -n "$NV" ]; then
    export LD_LIBRARY_PATH=$(find "$NV/nvidia" -maxdepth 3 -name 'lib' -type d | tr '\n' ':')${LD_LIBRARY_PATH:-}
fi
echo "== SSR2 loss, ours on CUDA (host and tensor log-det routes) and on the CPU =="
timeout 120 "$BIN" bench --device cuda --route host
timeout 120 "$BIN" bench --device cuda --route tensor --reps 5
timeout 120 "$BIN" bench --device cpu
echo "== SSR2 loss vs PyTorch on the same GPU =="
timeout 180 python3 bench/ssr2_loss.py --device cuda --bin "$BIN" --reps 10
echo "== trainer: synthetic, seed 0, CUDA vs CPU =="
/usr/bin/time -f "cuda wall %e s" timeout 240 "$BIN" train --data synthetic --device cuda --seeds 0 --out "$OUT/syn-cuda" --quiet
/usr/bin/time -f "cpu wall %e s" timeout 240 "$BIN" train --data synthetic --device cpu --seeds 0 --out "$OUT/syn-cpu" --quiet
python3 - "$OUT" <<'PY'
import json, sys
for dev in ["cuda", "cpu"]:
    r = json.load(open(f"{sys.argv[1]}/syn-{dev}/seed-0/report.json"))
    h = r["history"]
    print(dev, "final", r["final_scores"], "rank old/new", r["rank_old_mean"], r["rank_new_mean"],
          "train s/epoch (last 5)", sum(e["train_seconds"] for e in h[-5:]) / 5)
PY
