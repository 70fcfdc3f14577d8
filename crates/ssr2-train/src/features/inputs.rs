//! Turning dataset rows into device tensors: the two augmented views for training and the plain
//! rows for evaluation.

use super::augment::{augment_rows, crop_flip, gather_rows};
use crate::config::AugmentConfig;
use crate::rng::Rng;
use burn::prelude::*;
use ssr2_data::{CandidateFeatures, Dataset, Matrix, TextFeatures};
use ssr2_head::{HeadModel, ModelConfig, TextInput};
use std::ops::Range;

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
    tensor2(image_rows(ds, idx, aug), idx.len(), ds.image.cols, device)
}

/// The values of [`image_input`] on the host, `len(idx) x d_img` row-major.
pub fn image_rows(
    ds: &Dataset,
    idx: &[usize],
    aug: Option<(&AugmentConfig, &mut Rng)>,
) -> Vec<f32> {
    match (aug, &ds.image_views) {
        (Some((_, rng)), Some(views)) => {
            let picked: Vec<usize> = idx
                .iter()
                .map(|&i| i * views.per_sample + rng.below(views.per_sample))
                .collect();
            gather_rows(&views.data.data, views.data.cols, &picked)
        }
        (Some((cfg, rng)), None) if cfg.crop_pad > 0 || cfg.flip => {
            let side = ssr2_head::image_side(ds.image.cols).unwrap_or(0);
            let m = &ds.image;
            let cropped = crop_flip(&m.data, side, idx, cfg.crop_pad, cfg.flip, rng);
            let all: Vec<usize> = (0..idx.len()).collect();
            augment_rows(&cropped, m.cols, &all, cfg, rng)
        }
        (aug, _) => rows(&ds.image, idx, aug),
    }
}

/// Text inputs of the samples `idx` (the dataset must have text).
pub fn text_input(
    ds: &Dataset,
    idx: &[usize],
    aug: Option<(&AugmentConfig, &mut Rng)>,
    device: &Device,
) -> TextInput {
    let rows = text_rows(ds, idx, aug);
    let all = 0..idx.len();
    rows.input(&[(&rows, all)], device)
}

/// The values of [`text_input`] on the host.
pub enum TextRows {
    /// `n x d` values.
    Aggregated { data: Vec<f32>, d: usize },
    /// `n x T x d` tag and `n x A x d` attribute values, and the shared base `d`.
    Candidates {
        tags: Vec<f32>,
        attributes: Vec<f32>,
        base: Option<Vec<f32>>,
        t: usize,
        a: usize,
        d: usize,
    },
}

/// Text rows of the samples `idx` (the dataset must have text), drawn as [`text_input`] draws them.
pub fn text_rows(ds: &Dataset, idx: &[usize], aug: Option<(&AugmentConfig, &mut Rng)>) -> TextRows {
    match ds.text.as_ref().expect("dataset has text") {
        TextFeatures::Aggregated(m) => TextRows::Aggregated {
            data: rows(m, idx, aug),
            d: m.cols,
        },
        TextFeatures::Candidates(c) => {
            let CandidateFeatures {
                tags,
                attributes,
                base,
                ..
            } = c;
            let (d, t, a) = (c.dim(), c.num_tags, c.num_attributes);
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
            TextRows::Candidates {
                tags: tag_rows,
                attributes: attr_rows,
                base: base.clone(),
                t,
                a,
                d,
            }
        }
    }
}

/// Samples `rows` of each part, one part after the other (`per` values a sample).
fn stack(parts: &[(&[f32], Range<usize>)], per: usize) -> Vec<f32> {
    let len: usize = parts.iter().map(|(_, r)| r.len()).sum();
    let mut out = Vec::with_capacity(len * per);
    for (data, r) in parts {
        out.extend_from_slice(&data[r.start * per..r.end * per]);
    }
    out
}

/// Samples `rows` of each image view, one view after the other, as one `[n, d]` input.
pub fn image_views_input(views: &[(&[f32], Range<usize>)], d: usize, device: &Device) -> Tensor<2> {
    let n = views.iter().map(|(_, r)| r.len()).sum();
    tensor2(stack(views, d), n, d, device)
}

impl TextRows {
    /// Samples `rows` of each of `views` (rows of the same dataset, `self` among them or not),
    /// one view after the other, as one input.
    pub fn input(&self, views: &[(&TextRows, Range<usize>)], device: &Device) -> TextInput {
        let n: usize = views.iter().map(|(_, r)| r.len()).sum();
        match self {
            TextRows::Aggregated { d, .. } => {
                let parts: Vec<(&[f32], Range<usize>)> = views
                    .iter()
                    .map(|(v, r)| match v {
                        TextRows::Aggregated { data, .. } => (data.as_slice(), r.clone()),
                        _ => unreachable!("views of one dataset"),
                    })
                    .collect();
                TextInput::Aggregated(tensor2(stack(&parts, *d), n, *d, device))
            }
            TextRows::Candidates { base, t, a, d, .. } => {
                let (mut tag_parts, mut attr_parts) = (Vec::new(), Vec::new());
                for (v, r) in views {
                    let TextRows::Candidates {
                        tags, attributes, ..
                    } = v
                    else {
                        unreachable!("views of one dataset")
                    };
                    tag_parts.push((tags.as_slice(), r.clone()));
                    attr_parts.push((attributes.as_slice(), r.clone()));
                }
                let (tags, attrs) = (stack(&tag_parts, t * d), stack(&attr_parts, a * d));
                TextInput::Candidates {
                    tags: Tensor::from_data(TensorData::new(tags, [n, *t, *d]), device),
                    attributes: Tensor::from_data(TensorData::new(attrs, [n, *a, *d]), device),
                    base: base
                        .as_ref()
                        .map(|b| Tensor::from_data(TensorData::new(b.clone(), [*d]), device)),
                }
            }
        }
    }
}

/// Fresh heads for `ds`'s image dimension with `classes` clusters, and a text branch when
/// `use_text` and the data has text.
pub fn heads_for(
    cfg: &ModelConfig,
    ds: &Dataset,
    classes: usize,
    use_text: bool,
    device: &Device,
) -> Result<HeadModel, String> {
    let d_txt = ds.text.as_ref().filter(|_| use_text).map(|t| t.dim());
    HeadModel::new(cfg, ds.image.cols, d_txt, classes, device)
}
