"""CLIP image-encoding throughput: transformers/PyTorch vs `ssr2 bench-clip`, same shape.

ViT-B/16 vision tower with random weights, batch 32, no gradients, fp32, on the same CPU
(or GPU: --device cuda for PyTorch and --ours-device wgpu|cuda for ours).

    cargo build --release -p ssr2
    python3 bench/clip_images.py [--threads 2] [--layers 12] [--reps 3]
"""
import argparse
import json
import os
import subprocess
import time

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--layers", type=int, default=12)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--device", default="cpu", help="PyTorch device")
ap.add_argument("--ours-device", default="cpu", help="ssr2 device: cpu, wgpu, cuda")
ap.add_argument("--bin", default="target/release/ssr2")
args = ap.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=args.layers,
                       num_attention_heads=12, image_size=224, patch_size=16,
                       hidden_act="quick_gelu", projection_dim=512)
model = CLIPVisionModelWithProjection(cfg).eval().to(args.device)
pixels = torch.randn(args.batch, 3, 224, 224, device=args.device)


def step():
    with torch.no_grad():
        emb = torch.nn.functional.normalize(model(pixel_values=pixels).image_embeds, dim=-1)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return emb


step()
times = []
for _ in range(args.reps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
times.sort()
torch_ips = args.batch / times[len(times) // 2]

env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
out = subprocess.run([args.bin, "bench-clip", "--batch", str(args.batch), "--layers", str(args.layers),
                      "--reps", str(args.reps), "--device", args.ours_device, "--json"],
                     capture_output=True, text=True, env=env, check=True)
ours = json.loads(out.stdout)
ours_ips = ours["images_per_s"]
print(f"CLIP ViT-B/16 image encoding, {args.layers} layers, batch {args.batch}, {args.threads} threads")
print("| implementation | device | images/s |")
print("|---|---|---|")
print(f"| transformers {__import__('transformers').__version__} / torch {torch.__version__} | {args.device} | {torch_ips:.1f} |")
print(f"| ssr2 (Burn) | {args.ours_device} | {ours_ips:.1f} |")
print(f"ratio ours / PyTorch: {ours_ips / torch_ips:.2f}x")
