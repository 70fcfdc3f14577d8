//! Data parallelism in one process, exact (docs/SCALE.md). Each device encodes a shard of every
//! batch with its own copy of the model; the shards' features and logits are moved to the first
//! device and joined into the whole batch there, where the loss is computed whole, since the
//! coding rates' log-determinants couple every row. One backward reaches every copy through the
//! moves (autodiff's `to_device` is differentiable), and the copies' gradients are summed on the
//! first device (Burn's `MultiGradientsParams`) for one SGD step. A sum of per-shard losses would
//! be another objective: `tests/replicas.rs` shows that it fails the comparison this passes.
//!
//! Moving to Burn's `all_gather` / `all_reduce` (0.23) replaces [`join`] and [`merge_grads`].

use crate::config::{AdapterKind, TrainConfig};
use crate::objective::ModalityOut;
use burn::module::{ModuleVisitor, Param};
use burn::optim::{GradientsParams, MultiGradientsParams};
use burn::prelude::*;
use std::ops::Range;

/// The devices a run trains on: the first holds the model, the loss and the optimiser, and
/// evaluates; every device encodes one shard of each batch.
#[derive(Clone, Debug)]
pub struct Devices(Vec<Device>);

impl Devices {
    /// Refuses what several devices cannot train exactly: a batch norm normalises over the batch,
    /// so each device would normalise its own shard; a shard needs a sample.
    pub fn check(&self, cfg: &TrainConfig) -> Result<(), String> {
        let k = self.len();
        if k == 1 {
            return Ok(());
        }
        if cfg.model.adapter == AdapterKind::Cnn {
            return Err(format!(
                "model.adapter = \"cnn\" normalises over the batch (batch norm), so {k} devices would \
                 each normalise their own shard and train another model; train it on one device"
            ));
        }
        if cfg.optim.batch_size < k {
            return Err(format!(
                "optim.batch_size = {} is smaller than the {k} devices: each needs a sample a batch",
                cfg.optim.batch_size
            ));
        }
        Ok(())
    }

    /// `devices` in order (at least one).
    pub fn new(devices: Vec<Device>) -> Result<Self, String> {
        if devices.is_empty() {
            return Err("no device given".into());
        }
        Ok(Self(devices))
    }

    /// One device.
    pub fn one(device: &Device) -> Self {
        Self(vec![device.clone()])
    }

    pub fn main(&self) -> &Device {
        &self.0[0]
    }

    pub fn all(&self) -> &[Device] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The model's copies for one step: fresh autodiff leaves on every device but the first
    /// (which trains `model` itself), with `model`'s parameter ids.
    pub fn fork<M: Module>(&self, model: &M) -> Vec<M> {
        self.0[1..]
            .iter()
            .map(|d| model.clone().fork(&d.clone().autodiff()))
            .collect()
    }
}

/// `n` samples cut into `k` contiguous shards whose sizes differ by at most one (the first ones
/// larger).
pub fn shard_ranges(n: usize, k: usize) -> Vec<Range<usize>> {
    let k = k.max(1);
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// The whole batch on `main` from each shard's rows `[view 0; view 1]`: `[view 0 of every shard;
/// view 1 of every shard]`, the order one device gives. One shard is returned untouched.
fn join_views(parts: Vec<Tensor<2>>, main: &Device) -> Tensor<2> {
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part");
    }
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for part in parts {
        let [rows, cols] = part.dims();
        let part = part.to_device(main);
        first.push(part.clone().slice([0..rows / 2, 0..cols]));
        second.push(part.slice([rows / 2..rows, 0..cols]));
    }
    first.extend(second);
    Tensor::cat(first, 0)
}

fn join_modality(parts: Vec<ModalityOut>, main: &Device) -> ModalityOut {
    let (z, logits): (Vec<_>, Vec<_>) = parts.into_iter().map(|m| (m.z, m.logits)).unzip();
    ModalityOut {
        z: join_views(z, main),
        logits: join_views(logits, main),
    }
}

/// Each shard's image (and text) outputs joined into the whole batch's on `main` (autodiff).
pub fn join(
    parts: Vec<(ModalityOut, Option<ModalityOut>)>,
    main: &Device,
) -> (ModalityOut, Option<ModalityOut>) {
    let (image, text): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let text: Option<Vec<ModalityOut>> = text.into_iter().collect();
    (
        join_modality(image, main),
        text.map(|t| join_modality(t, main)),
    )
}

/// The gradients of `model` and of its `copies`, taken from one backward, summed on the first
/// device (a single device's are returned as they are).
pub fn merge_grads<M: Module>(
    grads: &mut burn::tensor::Gradients,
    model: &M,
    copies: &[M],
    devices: &Devices,
) -> GradientsParams {
    let own = GradientsParams::from_module(grads, model);
    if copies.is_empty() {
        return own;
    }
    let mut multi = MultiGradientsParams::default();
    multi.grads.push((own, devices.main().clone()));
    for (copy, device) in copies.iter().zip(&devices.all()[1..]) {
        multi
            .grads
            .push((GradientsParams::from_module(grads, copy), device.clone()));
    }
    let mut sum = Sum {
        multi,
        out: GradientsParams::new(),
        main: devices.main().clone(),
    };
    model.visit(&mut sum);
    sum.out
}

/// Visits the parameters and sums each one's gradients across the devices.
struct Sum {
    multi: MultiGradientsParams,
    out: GradientsParams,
    main: Device,
}

impl ModuleVisitor for Sum {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some((grad, _)) = self.multi.remove::<D>(param.id) {
            self.out.register(param.id, grad.to_device(&self.main));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_and_differ_by_at_most_one() {
        for n in 1..40 {
            for k in 1..6 {
                let s = shard_ranges(n, k);
                assert_eq!(s.len(), k);
                assert_eq!(s[0].start, 0);
                assert_eq!(s[k - 1].end, n);
                assert!(s.windows(2).all(|w| w[0].end == w[1].start));
                let (lo, hi) = (
                    s.iter().map(|r| r.len()).min(),
                    s.iter().map(|r| r.len()).max(),
                );
                assert!(hi.unwrap() - lo.unwrap() <= 1, "{n} over {k}: {s:?}");
            }
        }
    }
}
