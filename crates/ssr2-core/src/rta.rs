//! Retrieval-based Text Aggregation (SPEC §7): retrieve the best lexicon entries per image and
//! fold their text embeddings into one text feature.

use crate::ops::l2_normalize;
use burn::prelude::*;

/// Weights of the aggregation (SPEC §7 defaults).
#[derive(Clone, Copy, Debug)]
pub struct RtaConfig {
    /// Weight of the base prompt (0.1).
    pub base_weight: f64,
    /// Share given to the lower-ranked candidates within tags and within attributes (0.5).
    pub alpha: f64,
    /// Share of tags against attributes (0.65).
    pub beta: f64,
}

impl Default for RtaConfig {
    fn default() -> Self {
        Self {
            base_weight: 0.1,
            alpha: 0.5,
            beta: 0.65,
        }
    }
}

/// `(1-alpha) E_1 + alpha/(c-1) sum_{i>=2} E_i` over `c` candidates (`[B, c, d]` -> `[B, d]`).
/// With one candidate the sum is empty and only `(1-alpha) E_1` remains (the reference divides
/// by zero there).
fn ranked_mean(cands: Tensor<3>, alpha: f64) -> Tensor<2> {
    let [b, c, d] = cands.dims();
    let best = cands
        .clone()
        .slice([0..b, 0..1, 0..d])
        .reshape([b, d])
        .mul_scalar(1.0 - alpha);
    if c == 1 {
        return best;
    }
    let rest = cands.slice([0..b, 1..c, 0..d]).sum_dim(1).reshape([b, d]);
    best + rest.mul_scalar(alpha / (c - 1) as f64)
}

/// The aggregated, unit-norm text feature per image. `base` is `[B, d]` (or absent for datasets
/// with an empty base prompt), `tags` is `[B, T, d]`, `attributes` is `[B, A, d]`, all best first;
/// each embedding is L2-normalised here first.
pub fn aggregate(
    base: Option<Tensor<2>>,
    tags: Tensor<3>,
    attributes: Tensor<3>,
    cfg: &RtaConfig,
) -> Tensor<2> {
    let tag_part = ranked_mean(l2_normalize(tags), cfg.alpha).mul_scalar(cfg.beta);
    let attr_part = ranked_mean(l2_normalize(attributes), cfg.alpha).mul_scalar(1.0 - cfg.beta);
    let mut t = tag_part + attr_part;
    if let Some(base) = base {
        t = t + l2_normalize(base).mul_scalar(cfg.base_weight);
    }
    l2_normalize(t)
}

/// Indices of the `top` most cosine-similar bank rows for each query, best first.
/// `queries` is `[N, d]`, `bank` is `[C, d]`; returns `N` lists of `min(top, C)` indices.
pub fn retrieve(queries: Tensor<2>, bank: Tensor<2>, top: usize) -> Vec<Vec<usize>> {
    let [n, _] = queries.dims();
    let [c, _] = bank.dims();
    let sims: Vec<f32> = l2_normalize(queries)
        .matmul(l2_normalize(bank).transpose())
        .try_into_vec_as::<f32>()
        .expect("readable similarities");
    (0..n)
        .map(|i| {
            let row = &sims[i * c..(i + 1) * c];
            let mut idx: Vec<usize> = (0..c).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            idx.truncate(top.min(c));
            idx
        })
        .collect()
}
