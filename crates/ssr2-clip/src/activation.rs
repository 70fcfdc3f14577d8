//! CLIP's MLP activation. On Burn's CPU device (flex) `sigmoid` runs one element at a time on one
//! thread, which made quick_gelu the largest cost of a text tower after the matmuls; outside
//! autodiff we evaluate it on the host in one pass on all cores instead (same formula).

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// quick_gelu(x) = x * sigmoid(1.702 x) (OpenAI CLIP).
// transformers 5.24.0 activations.py:117 QuickGELUActivation (:123)
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if !x.is_tracked() && x.device() == Device::flex() {
        return host::quick_gelu(x);
    }
    x.clone() * sigmoid(x * 1.702)
}

#[cfg(feature = "flex")]
mod host {
    use burn::prelude::*;
    use rayon::prelude::*;

    pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        let (shape, device) = (x.shape(), x.device());
        let mut v = x.try_into_vec_as::<f32>().expect("synchronous read");
        v.par_chunks_mut(1 << 14).for_each(|chunk| {
            for e in chunk {
                // sigmoid(z) = 1 / (1 + exp(-z)): exp overflows to inf for z < -88, giving 0.
                *e *= 1.0 / (1.0 + (-1.702 * *e).exp());
            }
        });
        Tensor::from_data(TensorData::new(v, shape), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_equals_burn_ops() {
        let device = Device::flex();
        let values: Vec<f32> = (0..4000).map(|i| (i as f32 - 2000.0) * 0.07).collect();
        let x = Tensor::<2>::from_data(TensorData::new(values, [40, 100]), &device);
        let ops = (x.clone() * sigmoid(x.clone() * 1.702))
            .try_into_vec_as::<f32>()
            .unwrap();
        let fast = quick_gelu(x).try_into_vec_as::<f32>().unwrap();
        for (a, b) in ops.iter().zip(&fast) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
