//! Synthetic inputs for timing fine-tune mode without data or weights: CLIP shapes (ViT-B/16 as
//! in SPEC §8, and small ones for CPUs), random RGB images, and RTA texts from a word list.

use super::data::Candidates;
use crate::rng::Rng;
use ssr2_clip::config::{Activation, ClipConfig, TextConfig, TowerConfig, VisionConfig};
use ssr2_data::{ImageItem, ImageList, ImageSource};
use std::sync::Arc;

fn tower(hidden: usize, layers: usize, heads: usize) -> TowerConfig {
    TowerConfig {
        hidden,
        intermediate: 4 * hidden,
        layers,
        heads,
        activation: Activation::QuickGelu,
        layer_norm_eps: 1e-5,
    }
}

/// Names [`shape`] accepts.
pub const SHAPES: [&str; 3] = ["vitb16", "small", "tiny"];

/// `vitb16`: OpenAI CLIP ViT-B/16 (224 px, 12 x 768 vision, 12 x 512 text, 512-d output).
/// `small`: 4 x 192 vision at 64 px, 4 x 128 text (CPU benchmarks). `tiny`: 2 x 48 at 32 px.
pub fn shape(name: &str) -> Option<ClipConfig> {
    let (vision, image, patch, text, proj) = match name {
        "vitb16" => (tower(768, 12, 12), 224, 16, tower(512, 12, 8), 512),
        "small" => (tower(192, 4, 3), 64, 16, tower(128, 4, 2), 128),
        "tiny" => (tower(48, 2, 4), 32, 8, tower(64, 2, 4), 24),
        _ => return None,
    };
    Some(ClipConfig {
        vision: VisionConfig {
            tower: vision,
            image_size: image,
            patch_size: patch,
        },
        text: TextConfig {
            tower: text,
            vocab_size: 49408,
            max_positions: 77,
            eos_token_id: 49407,
        },
        projection_dim: proj,
    })
}

/// `n` random RGB images of side `size` in `classes` classes (the first half old, half of
/// their samples labelled), held in memory.
pub fn images(n: usize, size: u32, classes: usize, seed: u64) -> ImageList {
    let mut rng = Rng::derive(seed, 0, 77);
    let num_old = classes / 2;
    let items: Vec<ImageItem> = (0..n)
        .map(|i| {
            let pixels: Vec<u8> = (0..size * size * 3).map(|_| rng.below(256) as u8).collect();
            ImageItem {
                source: ImageSource::Rgb {
                    width: size,
                    height: size,
                    pixels: Arc::from(pixels),
                },
                label: i % classes,
                id: format!("synthetic/{i}"),
            }
        })
        .collect();
    let labelled = items
        .iter()
        .enumerate()
        .map(|(i, it)| it.label < num_old && (i / classes).is_multiple_of(2))
        .collect();
    ImageList {
        name: "synthetic-images".into(),
        class_names: (0..classes).map(|c| format!("class {c}")).collect(),
        num_old,
        items,
        labelled,
    }
}

/// A base prompt and 4 tags + 4 attributes per image (9 texts per image and view, as the paper).
pub fn candidates(n: usize) -> Candidates {
    let w = [
        "round",
        "striped",
        "small",
        "large",
        "bright",
        "dark",
        "feathered",
        "metal",
        "wooden",
        "spotted",
        "curved",
        "long",
    ];
    let pick = |i: usize, j: usize| w[(i * 7 + j * 5) % w.len()];
    Candidates {
        base: "a photo of a thing".into(),
        tags: (0..n)
            .map(|i| {
                (0..4)
                    .map(|j| format!("a photo of a {} object", pick(i, j)))
                    .collect()
            })
            .collect(),
        attributes: (0..n)
            .map(|i| {
                (0..4)
                    .map(|j| {
                        // 5 to 17 words, like the lexicon's attributes (8-38 tokens).
                        let more = " and a long curved edge".repeat((i + 3 * j) % 4);
                        format!("thing which has a {} part{more}", pick(i, j + 4))
                    })
                    .collect()
            })
            .collect(),
    }
}
