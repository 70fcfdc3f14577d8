//! Contrastive baselines the paper compares against: SupCon, two-view InfoNCE, and CLIP's
//! image-to-text loss (as in SimGCD/TextGCD).

use crate::ops::cross_entropy;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Large negative used to drop self-similarities from a softmax.
const MASKED: f64 = -1e9;

fn drop_diagonal(logits: Tensor<2>) -> Tensor<2> {
    let [n, _] = logits.dims();
    let eye = Tensor::<2>::eye(n, &logits.device()).equal_elem(1.0);
    logits.mask_fill(eye, MASKED)
}

/// Supervised contrastive loss (Khosla et al.), `contrast_mode = all`, base temperature equal
/// to `temp` (0.07). `features` are `2n x d` unit rows: view 1 of `n` images, then view 2;
/// `labels` has one entry per image.
pub fn supcon(features: Tensor<2>, labels: &[usize], temp: f64) -> Tensor<1> {
    let [rows, _] = features.dims();
    let device = features.device();
    if rows == 0 {
        return Tensor::zeros([1], &device);
    }
    let n = labels.len();
    assert_eq!(rows, 2 * n, "SupCon expects two views per labelled image");
    let logits = drop_diagonal(
        features
            .clone()
            .matmul(features.transpose())
            .div_scalar(temp),
    );
    let log_prob = log_softmax(logits, 1);
    // Positives: same label, not self.
    let all: Vec<usize> = labels.iter().chain(labels).copied().collect();
    let mut pos = vec![0f32; rows * rows];
    let mut count = vec![0f32; rows];
    for i in 0..rows {
        for j in 0..rows {
            if i != j && all[i] == all[j] {
                pos[i * rows + j] = 1.0;
                count[i] += 1.0;
            }
        }
    }
    let pos = Tensor::<2>::from_data(TensorData::new(pos, [rows, rows]), &device);
    let count = Tensor::<1>::from_data(TensorData::new(count, [rows]), &device);
    let mean_pos = (pos * log_prob).sum_dim(1).reshape([rows]) / count;
    mean_pos.mean().neg().reshape([1])
}

/// Two-view InfoNCE (SimCLR/SimGCD `info_nce_logits`): each row's positive is the other view of
/// the same image, every other row is a negative. `features` are `2B x d` unit rows.
pub fn info_nce(features: Tensor<2>, temp: f64) -> Tensor<1> {
    let [rows, _] = features.dims();
    let b = rows / 2;
    let logits = drop_diagonal(
        features
            .clone()
            .matmul(features.transpose())
            .div_scalar(temp),
    );
    let partner: Vec<usize> = (0..rows).map(|i| (i + b) % rows).collect();
    cross_entropy(logits, &partner)
}

/// CLIP's image-to-text loss: `scale * img txt^T`, row `i` matches text `i` (one direction only).
pub fn clip_image_to_text(img: Tensor<2>, txt: Tensor<2>, scale: f64) -> Tensor<1> {
    let [n, _] = img.dims();
    let logits = img.matmul(txt.transpose()).mul_scalar(scale);
    let targets: Vec<usize> = (0..n).collect();
    cross_entropy(logits, &targets)
}
