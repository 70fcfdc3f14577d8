//! Turning dataset rows into device tensors: the two augmented views for training and the plain
//! rows for evaluation.

use crate::augment::{augment_rows, crop_flip, gather_rows};
use crate::config::AugmentConfig;
use crate::model::TextInput;
use crate::rng::Rng;
use burn::prelude::*;
use ssr2_data::{Dataset, Matrix, TextFeatures};

fn rows(m: &Matrix, idx: &[usize], aug: Option<(&AugmentConfig, &mut Rng)>) -> Vec<f32> {
    match aug {
        Some((cfg, rng)) => augment_rows(&m.data, m.cols, idx, cfg, rng),
        None => gather_rows(&m.data, m.cols, idx),
    }
}

fn tensor2(data: Vec<f32>, n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [n, d]), device)
}

/// Candidate rows of the samples `idx` (`per` candidates each, stored consecutively).
fn candidate_rows(idx: &[usize], per: usize) -> Vec<usize> {
    idx.iter().flat_map(|&i| i * per..(i + 1) * per).collect()
}

/// Image inputs `[len(idx), d_img]`. A training view (`aug` given) is one of the bundle's
/// pre-extracted augmented views, drawn at random, when it has them; otherwise the feature-space
/// augmentation of `augment.rs`. Evaluation (`aug = None`) uses the test-transform features.
pub fn image_input(
    ds: &Dataset,
    idx: &[usize],
    aug: Option<(&AugmentConfig, &mut Rng)>,
    device: &Device,
) -> Tensor<2> {
    let data = match (aug, &ds.image_views) {
        (Some((_, rng)), Some(views)) => {
            let picked: Vec<usize> = idx
                .iter()
                .map(|&i| i * views.per_sample + rng.below(views.per_sample))
                .collect();
            gather_rows(&views.data.data, views.data.cols, &picked)
        }
        (Some((cfg, rng)), None) if cfg.crop_pad > 0 || cfg.flip => {
            let side = crate::augment::image_side(ds.image.cols).unwrap_or(0);
            let m = &ds.image;
            let cropped = crop_flip(&m.data, side, idx, cfg.crop_pad, cfg.flip, rng);
            let all: Vec<usize> = (0..idx.len()).collect();
            augment_rows(&cropped, m.cols, &all, cfg, rng)
        }
        (aug, _) => rows(&ds.image, idx, aug),
    };
    tensor2(data, idx.len(), ds.image.cols, device)
}

/// Text inputs of the samples `idx` (the dataset must have text).
pub fn text_input(
    ds: &Dataset,
    idx: &[usize],
    aug: Option<(&AugmentConfig, &mut Rng)>,
    device: &Device,
) -> TextInput {
    let n = idx.len();
    match ds.text.as_ref().expect("dataset has text") {
        TextFeatures::Aggregated(m) => {
            TextInput::Aggregated(tensor2(rows(m, idx, aug), n, m.cols, device))
        }
        TextFeatures::Candidates {
            tags,
            num_tags,
            attributes,
            num_attributes,
            base,
        } => {
            let d = tags.cols;
            let (t, a) = (*num_tags, *num_attributes);
            let (tag_rows, attr_rows) = match aug {
                Some((cfg, rng)) => {
                    let tr = augment_rows(&tags.data, d, &candidate_rows(idx, t), cfg, rng);
                    let ar = augment_rows(&attributes.data, d, &candidate_rows(idx, a), cfg, rng);
                    (tr, ar)
                }
                None => (
                    gather_rows(&tags.data, d, &candidate_rows(idx, t)),
                    gather_rows(&attributes.data, d, &candidate_rows(idx, a)),
                ),
            };
            TextInput::Candidates {
                tags: Tensor::from_data(TensorData::new(tag_rows, [n, t, d]), device),
                attributes: Tensor::from_data(TensorData::new(attr_rows, [n, a, d]), device),
                base: base
                    .as_ref()
                    .map(|b| Tensor::from_data(TensorData::new(b.clone(), [d]), device)),
            }
        }
    }
}

/// Stack the two views of text inputs.
pub fn cat_text(a: TextInput, b: TextInput) -> TextInput {
    match (a, b) {
        (TextInput::Aggregated(x), TextInput::Aggregated(y)) => {
            TextInput::Aggregated(Tensor::cat(vec![x, y], 0))
        }
        (
            TextInput::Candidates {
                tags: t1,
                attributes: a1,
                base,
            },
            TextInput::Candidates {
                tags: t2,
                attributes: a2,
                ..
            },
        ) => TextInput::Candidates {
            tags: Tensor::cat(vec![t1, t2], 0),
            attributes: Tensor::cat(vec![a1, a2], 0),
            base,
        },
        _ => unreachable!("both views come from the same dataset"),
    }
}
