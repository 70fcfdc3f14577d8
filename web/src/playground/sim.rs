//! The playground's model and training step, all on Burn tensors via `ssr2-core`: a 3 -> 16 -> 3
//! MLP encoder with a cosine head, trained by SSR2 (SPEC §4) or by SupCon + InfoNCE, each plus
//! the SimGCD classification block (SPEC §5) so the head's soft memberships mean something.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ssr2_core::LogdetRoute;
use ssr2_core::classifier::CosineClassifier;
use ssr2_core::loss::cluster::{ClusterConfig, branch_loss};
use ssr2_core::loss::contrastive::{info_nce, supcon};
use ssr2_core::loss::ssr2::{BatchLabels, Ssr2Config, rate_terms, ssr2_loss};
use ssr2_core::ops::{index_tensor, l2_normalize};

/// Points of the playground's data set (K classes share them).
pub const POINTS: usize = 300;
const HIDDEN: usize = 16;
/// Std of the jitter that makes the two views of a point (the "augmentation").
const VIEW_NOISE: f64 = 0.05;
/// Steps without the unlabelled term `R_c^u`, while the head's memberships are still random.
const WARMUP_STEPS: usize = 20;
/// Teacher temperature of the self-distillation term (SPEC §5 end value).
const TEACHER_TEMP: f64 = 0.04;
/// SimGCD's weight of SupCon against InfoNCE in the contrastive baseline.
const SUPCON_WEIGHT: f64 = 0.35;
const CONTRAST_TEMP: f64 = 0.07;

/// Representation loss of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    Ssr2,
    Contrastive,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Ssr2 => "SSR2 (rate reduction)",
            LossKind::Contrastive => "contrastive (SupCon + InfoNCE)",
        }
    }
}

/// Everything the user can turn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    pub eps2: f64,
    pub batch: usize,
    pub classes: usize,
    pub subspace_dim: usize,
    pub noise: f64,
    pub labelled: f64,
    pub lr: f64,
    pub loss: LossKind,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            eps2: ssr2_core::loss::ssr2::EPS2,
            batch: 64,
            classes: 4,
            subspace_dim: 1,
            noise: 0.1,
            labelled: 0.5,
            lr: 0.01,
            loss: LossKind::Ssr2,
        }
    }
}

/// The data set: unit points in 3-D, one line or plane per class (`ssr2-data`'s generator).
pub struct Data {
    pub x: Vec<f32>,
    pub labels: Vec<usize>,
    pub labelled: Vec<bool>,
    pub num_old: usize,
    pub classes: usize,
}

impl Data {
    pub fn new(k: &Knobs, seed: u64) -> Result<Data, String> {
        let cfg = ssr2_data::SyntheticConfig {
            num_classes: k.classes,
            num_old: k.classes.div_ceil(2),
            per_class: POINTS / k.classes.max(1),
            image_dim: 3,
            text_dim: k.subspace_dim,
            subspace_dim: k.subspace_dim,
            noise: k.noise,
            center: 1.0,
            labelled_fraction: k.labelled,
            num_tags: 1,
            num_attributes: 1,
            retrieval_noise: 0.0,
            imbalance: 0.0,
            seed,
        };
        let ds = ssr2_data::generate(&cfg).map_err(|e| format!("data: {e}"))?;
        Ok(Data {
            x: ds.image.data.clone(),
            labels: ds.labels.clone(),
            labelled: ds.labelled.clone(),
            num_old: ds.num_old,
            classes: k.classes,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
}

#[derive(Module, Debug)]
pub struct Encoder {
    first: Linear,
    second: Linear,
    head: CosineClassifier,
}

impl Encoder {
    /// Weights drawn on the host from `rng` (uniform in +-1/sqrt(fan_in), as `nn.Linear`), so
    /// every device starts from the same encoder.
    fn new(classes: usize, rng: &mut Rng, device: &Device) -> Self {
        let mut uniform = |shape: [usize; 2], fan_in: usize| {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let v: Vec<f32> = (0..shape[0] * shape[1])
                .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
                .collect();
            Tensor::<2>::from_data(TensorData::new(v, shape), device)
        };
        let mut linear = |d_in: usize, d_out: usize| Linear {
            weight: Param::from_tensor(uniform([d_in, d_out], d_in)),
            bias: Some(Param::from_tensor(
                uniform([1, d_out], d_in).reshape([d_out]),
            )),
        };
        let (first, second) = (linear(3, HIDDEN), linear(HIDDEN, 3));
        let head = CosineClassifier::from_tensors(
            uniform([classes, 3], 3),
            Tensor::ones([classes], device),
        );
        Self {
            first,
            second,
            head,
        }
    }

    /// Unit features (`n x 3`) and cosine logits (`n x K`).
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let z = l2_normalize(self.second.forward(relu(self.first.forward(x))));
        let logits = self.head.forward(z.clone());
        (z, logits)
    }
}

/// Tiny xorshift generator: batches and view noise, reproducible per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One training run: model, optimiser state, and its own random stream.
pub struct Run {
    pub loss: LossKind,
    model: Option<Encoder>,
    optim: ModuleOptimizer,
    rng: Rng,
    pub steps: usize,
}

impl Run {
    /// `device` must be an autodiff device.
    pub fn new(loss: LossKind, classes: usize, seed: u64, device: &Device) -> Self {
        // Fixed initial weights per seed, drawn on the host: the same knobs replay the same run
        // on every device (and the browser test's "delta R rises" check is reproducible).
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let model = Encoder::new(classes, &mut rng, device);
        Self {
            loss,
            model: Some(model),
            optim: AdamConfig::new().init(),
            rng,
            steps: 0,
        }
    }

    /// One optimiser step on a fresh batch; returns the (unread) loss.
    pub fn step(&mut self, data: &Data, k: &Knobs, device: &Device) -> Tensor<1> {
        let b = k.batch.min(data.len()).max(2);
        let idx: Vec<usize> = (0..b)
            .map(|_| (self.rng.next() % data.len() as u64) as usize)
            .collect();
        let mut rows = Vec::with_capacity(2 * b * 3);
        for _view in 0..2 {
            for &i in &idx {
                for j in 0..3 {
                    rows.push(data.x[i * 3 + j] + (VIEW_NOISE * self.rng.normal()) as f32);
                }
            }
        }
        let x = Tensor::<2>::from_data(TensorData::new(rows, [2 * b, 3]), device);
        let batch = BatchLabels {
            labelled: idx.iter().map(|&i| data.labelled[i]).collect(),
            labels: idx.iter().map(|&i| data.labels[i]).collect(),
        };
        let model = self.model.take().expect("model present between steps");
        let (z, logits) = model.forward(x);
        let cls = branch_loss(
            logits.clone(),
            &batch,
            TEACHER_TEMP,
            &ClusterConfig::default(),
        )
        .total;
        let rep = match self.loss {
            LossKind::Ssr2 => {
                let warmup = self.steps < WARMUP_STEPS;
                let cfg = Ssr2Config {
                    eps2: k.eps2,
                    batch_size: b,
                    route: LogdetRoute::Auto,
                };
                // x 2B: the loss in units of delta R, so it is not drowned by the head's terms
                // at this tiny scale. A batch whose rates cannot be factored (NaN features after
                // a divergent step) trains the head alone.
                match rate_terms(z, logits, &batch, warmup, &cfg) {
                    Ok(terms) => ssr2_loss(&[terms], warmup, b).mul_scalar(2.0 * b as f64),
                    Err(_) => Tensor::zeros([1], device),
                }
            }
            LossKind::Contrastive => {
                let (lab_rows, lab) = batch.labelled_rows();
                let nce = info_nce(z.clone(), CONTRAST_TEMP);
                if lab_rows.is_empty() {
                    nce
                } else {
                    let zl = z.select(0, index_tensor(&lab_rows, device));
                    let sup = supcon(zl, &lab[..lab.len() / 2], CONTRAST_TEMP);
                    sup.mul_scalar(SUPCON_WEIGHT) + nce.mul_scalar(1.0 - SUPCON_WEIGHT)
                }
            }
        };
        let total = cls + rep;
        let grads = GradientsParams::from_grads(total.backward(), &model);
        self.model = Some(self.optim.step(k.lr, model, grads));
        self.steps += 1;
        total.detach()
    }

    /// Features and predictions of every point, read back to the host (async: WebGPU-safe).
    pub async fn embed(&self, data: &Data) -> Result<(Vec<f32>, Vec<usize>), String> {
        let model = self.model.as_ref().expect("model").valid();
        let device = model.head.weight.device();
        let x = Tensor::<2>::from_data(TensorData::new(data.x.clone(), [data.len(), 3]), &device);
        let (z, logits) = model.forward(x);
        let pred = logits
            .argmax(1)
            .into_data_async()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let z = z.into_data_async().await.map_err(|e| format!("{e:?}"))?;
        Ok((
            z.iter::<f32>().collect(),
            pred.iter::<i64>().map(|p| p as usize).collect(),
        ))
    }
}
