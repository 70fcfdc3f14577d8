//! Plain SGD with two parameter groups (SPEC §8): classifiers on a cosine schedule, adapters at a
//! constant rate. Momentum and weight decay are available (PyTorch semantics, dampening 0); the
//! reference uses neither. State is keyed by parameter path so checkpoints can restore it.

use burn::module::{ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::collections::BTreeMap;

/// SGD state and settings.
#[derive(Debug, Default)]
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
    /// Momentum buffers by parameter path, flattened.
    pub buffers: BTreeMap<String, Tensor<1>>,
}

/// `lr_min + (lr0 - lr_min) (1 + cos(pi e / E)) / 2` at epoch `e` of `E` (PyTorch's
/// CosineAnnealingLR stepped per epoch).
pub fn cosine_lr(lr0: f64, lr_min: f64, epoch: usize, epochs: usize) -> f64 {
    let t = epoch as f64 / epochs.max(1) as f64;
    lr_min + (lr0 - lr_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
}

impl Sgd {
    /// One update of every parameter that has a gradient; `lr_for(path)` picks its group's rate.
    pub fn step<M: Module>(
        &mut self,
        module: M,
        grads: &mut GradientsParams,
        lr_for: &dyn Fn(&str) -> f64,
    ) -> M {
        let mut mapper = SgdMapper {
            sgd: self,
            grads,
            path: Vec::new(),
            lr_for,
        };
        module.map(&mut mapper)
    }
}

struct SgdMapper<'a> {
    sgd: &'a mut Sgd,
    grads: &'a mut GradientsParams,
    path: Vec<String>,
    lr_for: &'a dyn Fn(&str) -> f64,
}

impl ModuleMapper for SgdMapper<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(mut grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = self.path.join(".");
        let lr = (self.lr_for)(&path);
        let value = tensor.clone().inner();
        if self.sgd.weight_decay > 0.0 {
            grad = grad + value.clone().mul_scalar(self.sgd.weight_decay);
        }
        if self.sgd.momentum > 0.0 {
            let dims = grad.dims();
            let flat: Tensor<1> = grad.reshape([dims.iter().product::<usize>()]);
            let buf = match self.sgd.buffers.remove(&path) {
                Some(b) => b.mul_scalar(self.sgd.momentum) + flat,
                None => flat,
            };
            grad = buf.clone().reshape(dims);
            self.sgd.buffers.insert(path, buf);
        }
        let updated = value - grad.mul_scalar(lr);
        let mut updated = Tensor::from_inner(updated);
        if tensor.is_require_grad() {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_end_points() {
        assert!((cosine_lr(0.1, 1e-4, 0, 200) - 0.1).abs() < 1e-12);
        assert!((cosine_lr(0.1, 1e-4, 200, 200) - 1e-4).abs() < 1e-12);
        assert!((cosine_lr(0.1, 1e-4, 100, 200) - (0.1 + 1e-4) / 2.0).abs() < 1e-12);
    }
}
