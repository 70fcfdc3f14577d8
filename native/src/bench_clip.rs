//! `ssr2 bench-clip`: image-encoding throughput of the CLIP vision tower (random weights).
//! `bench/clip_images.py` runs it next to transformers/PyTorch at the same shape.

use crate::device::DeviceArgs;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Args;
use ssr2_clip::Clip;
use ssr2_clip::config::{Activation, ClipConfig, TextConfig, TowerConfig, VisionConfig};

use crate::fail::{Fail, Result};

/// Time CLIP image encoding (preprocessed pixels -> normalised embeddings, no gradients) at
/// ViT-B/16 shape with seeded random weights, and print images per second.
#[derive(Args)]
pub struct BenchClipArgs {
    /// Images per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024), default_value_t = 32)]
    batch: usize,
    /// Timed batches (after one untimed warm-up batch); the median is reported.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000), default_value_t = 3)]
    reps: usize,
    /// Vision layers (12 = ViT-B/16; fewer for a quick run).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=48), default_value_t = 12)]
    layers: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// openai/clip-vit-base-patch16's shapes.
pub fn vit_b16(layers: usize) -> ClipConfig {
    let tower = |hidden, intermediate, layers, heads| TowerConfig {
        hidden,
        intermediate,
        layers,
        heads,
        activation: Activation::QuickGelu,
        layer_norm_eps: 1e-5,
    };
    ClipConfig {
        vision: VisionConfig {
            tower: tower(768, 3072, layers, 12),
            image_size: 224,
            patch_size: 16,
        },
        text: TextConfig {
            tower: tower(512, 2048, 12, 8),
            vocab_size: 49408,
            max_positions: 77,
            eos_token_id: 2,
        },
        projection_dim: 512,
    }
}

pub fn run(args: &BenchClipArgs) -> Result<()> {
    if args.batch == 0 || args.reps == 0 || args.layers == 0 {
        return Err(Fail::arg(
            "bench-clip needs --batch, --reps and --layers >= 1",
        ));
    }
    let device = args.device.open()?;
    let cfg = vit_b16(args.layers);
    let model = Clip::random(&cfg, 0, &device);
    device.seed(0);
    let b = args.batch;
    let pixels = Tensor::<4>::random([b, 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
    let step = || {
        let emb = model.encode_images(pixels.clone());
        // Reading back waits for the device.
        let _ = emb.into_data();
    };
    step();
    let mut times: Vec<f64> = (0..args.reps)
        .map(|_| {
            let t = Instant::now();
            step();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let per_sec = b as f64 / median;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"batch": b, "layers": args.layers, "device": args.device.device,
                "median_s": median, "images_per_s": per_sec})
        );
    } else {
        println!(
            "CLIP ViT-B/16 image encoding ({} layers, batch {b}, {}): {:.3} s per batch, {per_sec:.1} images/s",
            args.layers, args.device.device, median
        );
    }
    Ok(())
}
