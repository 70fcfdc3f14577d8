//! Co-teaching (SPEC §6): each branch picks its most confident unlabelled samples per class, and
//! the other branch learns those pseudo-labels.

use crate::ops::{cross_entropy, index_tensor};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Temperature of the confidence scores used for selection (0.01).
pub const SELECT_TEMP: f64 = 0.01;
/// Share of the unlabelled set that may be selected, spread evenly over classes (0.6).
pub const SELECT_FRACTION: f64 = 0.6;
/// Temperature of the pseudo-label cross-entropy (0.1).
pub const PSEUDO_TEMP: f64 = 0.1;

/// Confidence scores `softmax(logits / 0.01)` over the unlabelled set (`N x K`).
pub fn confidence(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits.div_scalar(SELECT_TEMP), 1)
}

/// For each class `c` in order, the top `floor(fraction * N / K)` samples by `scores[:, c]`
/// become `c`; a later class overwrites an earlier one (as the reference). `scores` is row-major
/// `n x k`. Returns the chosen class per sample.
pub fn select_confident(scores: &[f32], n: usize, k: usize, fraction: f64) -> Vec<Option<usize>> {
    assert_eq!(scores.len(), n * k, "scores must be n x k");
    let per_class = ((fraction * n as f64) / k as f64).floor() as usize;
    let mut chosen = vec![None; n];
    let mut order: Vec<usize> = (0..n).collect();
    for c in 0..k {
        // Descending by score; ties by index, so the result does not depend on sort internals.
        order.sort_by(|&a, &b| {
            scores[b * k + c]
                .total_cmp(&scores[a * k + c])
                .then(a.cmp(&b))
        });
        for &i in order.iter().take(per_class) {
            chosen[i] = Some(c);
        }
    }
    chosen
}

/// Cross-entropy of `logits / 0.1` on the rows that carry a pseudo-label; 0 when none do.
pub fn pseudo_label_loss(logits: Tensor<2>, labels: &[Option<usize>]) -> Tensor<1> {
    let (rows, targets): (Vec<usize>, Vec<usize>) = labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|c| (i, c)))
        .unzip();
    if rows.is_empty() {
        return Tensor::zeros([1], &logits.device());
    }
    let picked = logits
        .clone()
        .select(0, index_tensor(&rows, &logits.device()));
    cross_entropy(picked.div_scalar(PSEUDO_TEMP), &targets)
}
