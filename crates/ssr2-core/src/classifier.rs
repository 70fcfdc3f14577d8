//! Weight-normalised cosine classifier (SPEC §5): `logits_k = g_k * cos(z, v_k)`, `g` trainable
//! and initialised to 1, no bias.

use crate::ops::l2_normalize;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

/// One classifier head over `dim`-dimensional features and `classes` outputs.
#[derive(Module, Debug)]
pub struct CosineClassifier {
    /// Direction vectors `v_k`, one row per class (`K x d`).
    pub weight: Param<Tensor<2>>,
    /// Per-class gains `g_k` (`K`).
    pub gain: Param<Tensor<1>>,
}

impl CosineClassifier {
    /// Random directions (uniform in +-1/sqrt(d), as `nn.Linear`) and unit gains.
    pub fn new(dim: usize, classes: usize, device: &Device) -> Self {
        let bound = 1.0 / (dim as f64).sqrt();
        let weight = Tensor::random([classes, dim], Distribution::Uniform(-bound, bound), device);
        Self::from_tensors(weight, Tensor::ones([classes], device))
    }

    /// A classifier with the given directions (`K x d`) and gains (`K`).
    pub fn from_tensors(weight: Tensor<2>, gain: Tensor<1>) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            gain: Param::from_tensor(gain),
        }
    }

    /// `g_k * cos(z_i, v_k)` for every row of `z` (`n x d` -> `n x K`).
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let [k, _] = self.weight.dims();
        let v = l2_normalize(self.weight.val());
        l2_normalize(z).matmul(v.transpose()) * self.gain.val().reshape([1, k])
    }
}

/// Prediction of the two-branch model (SPEC §2): `argmax(0.5 softmax(img) + 0.5 softmax(txt))`
/// on the raw logits; with one branch, its argmax.
pub fn predict(logits_img: Tensor<2>, logits_txt: Option<Tensor<2>>) -> Tensor<1, Int> {
    use burn::tensor::activation::softmax;
    let [n, _] = logits_img.dims();
    let probs = match logits_txt {
        Some(txt) => (softmax(logits_img, 1) + softmax(txt, 1)).mul_scalar(0.5),
        None => softmax(logits_img, 1),
    };
    probs.argmax(1).reshape([n])
}
