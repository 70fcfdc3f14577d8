//! The SSR2 batch loss (SPEC §4): expand the whole batch, compress labelled rows by their labels
//! and unlabelled rows by the classifier's soft memberships, inside each modality.

use crate::logdet::LogdetRoute;
use crate::logdet::RateError;
use crate::ops::index_tensor;
use crate::rate::{coding_rate, coding_rate_hard, coding_rate_soft};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Which images of a batch carry labels. Rows of a batch are view 1 of all `B` images, then
/// view 2 of the same images in the same order.
#[derive(Clone, Debug)]
pub struct BatchLabels {
    /// `labelled[i]`: image `i` has a label.
    pub labelled: Vec<bool>,
    /// `labels[i]`: class of image `i`, read only where `labelled[i]`.
    pub labels: Vec<usize>,
}

impl BatchLabels {
    /// Images in the batch (`B`).
    pub fn images(&self) -> usize {
        self.labelled.len()
    }

    /// Row indices (both views) of the labelled images, with their labels.
    pub fn labelled_rows(&self) -> (Vec<usize>, Vec<usize>) {
        let b = self.images();
        let imgs: Vec<usize> = (0..b).filter(|&i| self.labelled[i]).collect();
        let rows = imgs
            .iter()
            .copied()
            .chain(imgs.iter().map(|i| i + b))
            .collect();
        let labels = imgs
            .iter()
            .chain(imgs.iter())
            .map(|&i| self.labels[i])
            .collect();
        (rows, labels)
    }

    /// Row indices (both views) of the unlabelled images.
    pub fn unlabelled_rows(&self) -> Vec<usize> {
        let b = self.images();
        let imgs: Vec<usize> = (0..b).filter(|&i| !self.labelled[i]).collect();
        imgs.iter()
            .copied()
            .chain(imgs.iter().map(|i| i + b))
            .collect()
    }
}

/// The three coding-rate terms of one modality.
#[derive(Clone, Debug)]
pub struct RateTerms {
    /// `R` of all `2B` rows.
    pub r: Tensor<1>,
    /// `R_c^s`: labelled rows, hard labels (0 without labelled rows).
    pub rc_labelled: Tensor<1>,
    /// `R_c^u`: unlabelled rows, `P = softmax(logits)` untempered (0 without unlabelled rows,
    /// and not computed during warm-up).
    pub rc_unlabelled: Tensor<1>,
}

/// epsilon^2 of the coding rate: the reference's default (SPEC §4).
pub const EPS2: f64 = 0.5;

/// Settings of the SSR2 loss.
#[derive(Clone, Copy, Debug)]
pub struct Ssr2Config {
    /// epsilon^2 of the coding rate ([`EPS2`] by default).
    pub eps2: f64,
    /// The configured batch size `B` (images), the global normaliser of SPEC §4.
    pub batch_size: usize,
    /// Log-determinant algorithm.
    pub route: LogdetRoute,
}

impl Default for Ssr2Config {
    fn default() -> Self {
        Self {
            eps2: EPS2,
            batch_size: 128,
            route: LogdetRoute::Auto,
        }
    }
}

/// Coding-rate terms of one modality: `z` is `2B x d` (unit rows), `logits` is `2B x K`.
pub fn rate_terms(
    z: Tensor<2>,
    logits: Tensor<2>,
    batch: &BatchLabels,
    warmup: bool,
    cfg: &Ssr2Config,
) -> Result<RateTerms, RateError> {
    let [rows, _] = z.dims();
    assert_eq!(
        rows,
        2 * batch.images(),
        "SSR2 expects 2B rows (two views of B images)"
    );
    let device = z.device();
    let r = coding_rate(z.clone(), cfg.eps2, cfg.route)?;
    let (lab_rows, lab) = batch.labelled_rows();
    let rc_labelled = if lab_rows.is_empty() {
        Tensor::zeros([1], &device)
    } else {
        let zs = z.clone().select(0, index_tensor(&lab_rows, &device));
        coding_rate_hard(zs, &lab, cfg.eps2, cfg.route)?
    };
    let unl_rows = batch.unlabelled_rows();
    let rc_unlabelled = if warmup || unl_rows.is_empty() {
        Tensor::zeros([1], &device)
    } else {
        let idx = index_tensor(&unl_rows, &device);
        let zu = z.select(0, idx.clone());
        let p = softmax(logits.select(0, idx), 1);
        coding_rate_soft(zu, p, cfg.eps2, cfg.route)?
    };
    Ok(RateTerms {
        r,
        rc_labelled,
        rc_unlabelled,
    })
}

/// SPEC §4, summed over the given modalities (image, text, or just one):
/// warm-up `sum(-R)/(2B) + sum(R_c^s)/B`; after `sum(-R + R_c^s + R_c^u)/(2B)`.
pub fn ssr2_loss(terms: &[RateTerms], warmup: bool, batch_size: usize) -> Tensor<1> {
    let two_b = 2.0 * batch_size as f64;
    let mut total: Option<Tensor<1>> = None;
    for t in terms {
        let part = if warmup {
            t.r.clone().neg().div_scalar(two_b)
                + t.rc_labelled.clone().div_scalar(batch_size as f64)
        } else {
            (t.rc_labelled.clone() + t.rc_unlabelled.clone() - t.r.clone()).div_scalar(two_b)
        };
        total = Some(match total {
            Some(acc) => acc + part,
            None => part,
        });
    }
    total.expect("at least one modality")
}
