//! Small tensor helpers shared by the losses and classifiers.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Row-wise L2 normalisation, `x / max(|x|, 1e-12)` as `torch.nn.functional.normalize`.
pub fn l2_normalize<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let norm = x.clone().square().sum_dim(D - 1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Row indices as an `Int` tensor on `device`.
pub fn index_tensor(rows: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_data(TensorData::new(data, [rows.len()]), device)
}

/// One-hot rows (`n x k`) for host class indices.
pub fn one_hot(targets: &[usize], k: usize, device: &Device) -> Tensor<2> {
    let mut data = vec![0f32; targets.len() * k];
    for (i, &t) in targets.iter().enumerate() {
        assert!(t < k, "target {t} out of range for {k} classes");
        data[i * k + t] = 1.0;
    }
    Tensor::from_data(TensorData::new(data, [targets.len(), k]), device)
}

/// Mean cross-entropy of `logits` (`n x k`) against host targets; 0 for an empty batch.
pub fn cross_entropy(logits: Tensor<2>, targets: &[usize]) -> Tensor<1> {
    let [n, k] = logits.dims();
    let device = logits.device();
    if n == 0 {
        return Tensor::zeros([1], &device);
    }
    assert_eq!(n, targets.len(), "one target per row");
    let picked = log_softmax(logits, 1) * one_hot(targets, k, &device);
    picked.sum().neg().div_scalar(n as f64).reshape([1])
}
