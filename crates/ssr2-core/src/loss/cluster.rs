//! The SimGCD/TextGCD classification block of one branch (SPEC §5): supervised cross-entropy,
//! cross-view self-distillation and the mean-entropy regulariser.

use crate::loss::ssr2::BatchLabels;
use crate::ops::{cross_entropy, index_tensor};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// Temperatures and weights of the classification block (SPEC §5 defaults).
#[derive(Clone, Copy, Debug)]
pub struct ClusterConfig {
    /// Temperature of the supervised cross-entropy (0.1).
    pub sup_temp: f64,
    /// Student temperature of self-distillation and of the mean-entropy term (0.05; CIFAR-10 0.1).
    pub student_temp: f64,
    /// Weight of the mean-entropy regulariser inside the unsupervised part (2).
    pub memax_weight: f64,
    /// Weight of the supervised part (0.2); the unsupervised part gets 1 - this.
    pub sup_weight: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            sup_temp: 0.1,
            student_temp: 0.05,
            memax_weight: 2.0,
            sup_weight: 0.2,
        }
    }
}

/// The terms of one branch, kept apart for logging.
#[derive(Clone, Debug)]
pub struct BranchTerms {
    pub supervised: Tensor<1>,
    pub distill: Tensor<1>,
    pub mean_entropy: Tensor<1>,
    /// `sup_weight * CE + (1 - sup_weight) * (distill + memax_weight * L_me)`.
    pub total: Tensor<1>,
}

/// Teacher temperature at `epoch` (0-based): linear from `start` to `end` over the first
/// `warm_epochs` epochs (inclusive linspace, as numpy), then `end` (SPEC §5).
pub fn teacher_temperature(epoch: usize, start: f64, end: f64, warm_epochs: usize) -> f64 {
    if epoch >= warm_epochs {
        end
    } else if warm_epochs == 1 {
        start
    } else {
        start + (end - start) * epoch as f64 / (warm_epochs - 1) as f64
    }
}

/// Cross-entropy of labelled rows (both views), `logits / sup_temp`.
pub fn supervised_ce(logits: Tensor<2>, batch: &BatchLabels, sup_temp: f64) -> Tensor<1> {
    let (rows, labels) = batch.labelled_rows();
    if rows.is_empty() {
        return Tensor::zeros([1], &logits.device());
    }
    let picked = logits
        .clone()
        .select(0, index_tensor(&rows, &logits.device()));
    cross_entropy(picked.div_scalar(sup_temp), &labels)
}

/// Cross-view self-distillation: teacher `softmax(sg(logits)/teacher_temp)` of one view against
/// the student `log_softmax(logits/student_temp)` of the other, averaged over both pairs.
pub fn self_distillation(logits: Tensor<2>, teacher_temp: f64, student_temp: f64) -> Tensor<1> {
    let [rows, k] = logits.dims();
    let b = rows / 2;
    let teacher = softmax(logits.clone().detach().div_scalar(teacher_temp), 1);
    let student = log_softmax(logits.div_scalar(student_temp), 1);
    let half = |t: Tensor<2>, v: usize| t.slice([v * b..(v + 1) * b, 0..k]);
    let h = |q: Tensor<2>, p: Tensor<2>| (q * p).sum().neg().div_scalar(b as f64);
    (h(half(teacher.clone(), 0), half(student.clone(), 1)) + h(half(teacher, 1), half(student, 0)))
        .div_scalar(2.0)
        .reshape([1])
}

/// Mean-entropy regulariser `sum(pbar log pbar) + log K`, `pbar = mean softmax(logits/temp)`.
pub fn mean_entropy(logits: Tensor<2>, student_temp: f64) -> Tensor<1> {
    let [_, k] = logits.dims();
    let pbar = softmax(logits.div_scalar(student_temp), 1).mean_dim(0);
    (pbar.clone() * pbar.log())
        .sum()
        .add_scalar((k as f64).ln())
        .reshape([1])
}

/// The whole classification loss of one branch (SPEC §5).
pub fn branch_loss(
    logits: Tensor<2>,
    batch: &BatchLabels,
    teacher_temp: f64,
    cfg: &ClusterConfig,
) -> BranchTerms {
    let supervised = supervised_ce(logits.clone(), batch, cfg.sup_temp);
    let distill = self_distillation(logits.clone(), teacher_temp, cfg.student_temp);
    let mean_entropy = mean_entropy(logits, cfg.student_temp);
    let unsup = distill.clone() + mean_entropy.clone().mul_scalar(cfg.memax_weight);
    let total =
        supervised.clone().mul_scalar(cfg.sup_weight) + unsup.mul_scalar(1.0 - cfg.sup_weight);
    BranchTerms {
        supervised,
        distill,
        mean_entropy,
        total,
    }
}
