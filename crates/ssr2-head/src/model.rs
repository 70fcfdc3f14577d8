//! The features-mode model: per modality a trainable adapter producing L2-normalised features,
//! and a cosine classifier (SPEC §5). Text with RTA candidates is aggregated online (SPEC §7).

use crate::config::{AdapterKind, ModelConfig};
use crate::conv::{ConvStem, image_side};
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ssr2_core::classifier::CosineClassifier;
use ssr2_core::ops::l2_normalize;
use ssr2_core::rta::{RtaConfig, aggregate};

/// Fixed per-coordinate standardisation `(x - mean) / std` of raw inputs, measured on the
/// training set and saved with the weights (not trained).
#[derive(Module, Debug)]
pub struct InputNorm {
    pub mean: Param<Tensor<1>>,
    pub inv_std: Param<Tensor<1>>,
}

impl InputNorm {
    /// Statistics of the rows of a row-major `n x d` matrix. Each std is floored at the mean std
    /// over coordinates, so nearly constant inputs (and their augmentation noise) are not blown up.
    pub fn fit(data: &[f32], d: usize, device: &Device) -> Self {
        let n = (data.len() / d.max(1)).max(1) as f64;
        let column = |j: usize| data.iter().skip(j).step_by(d).map(|&v| v as f64);
        let mean: Vec<f64> = (0..d).map(|j| column(j).sum::<f64>() / n).collect();
        let std: Vec<f64> = (0..d)
            .map(|j| (column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
            .collect();
        let floor = (std.iter().sum::<f64>() / d.max(1) as f64).max(1e-6);
        let inv: Vec<f32> = std.iter().map(|&s| (1.0 / s.max(floor)) as f32).collect();
        let mean: Vec<f32> = mean.into_iter().map(|v| v as f32).collect();
        let fixed = |v: Vec<f32>| {
            Param::from_tensor(Tensor::<1>::from_data(TensorData::new(v, [d]), device))
                .set_require_grad(false)
        };
        Self {
            mean: fixed(mean),
            inv_std: fixed(inv),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let d = self.mean.dims()[0];
        (x - self.mean.val().reshape([1, d])) * self.inv_std.val().reshape([1, d])
    }
}

/// Channels of the CNN adapter's first block (the second has twice as many).
const CNN_CHANNELS: usize = 16;

/// The CNN adapter reads each image input row as a square single-channel image: refuse others.
fn check_adapter(cfg: &ModelConfig, d_img: usize) -> Result<(), String> {
    if cfg.adapter == AdapterKind::Cnn && image_side(d_img).is_none() {
        return Err(format!(
            "model.adapter = \"cnn\" reads square single-channel images, but the image inputs \
             have {d_img} values (not a square of 4 or more pixels per side); use \"mlp\""
        ));
    }
    Ok(())
}

/// A `d x d` linear map that starts at the identity, without bias: on CLIP features it starts
/// from CLIP's own embedding, as the reference's fine-tuned projection does (it has no bias), so
/// plain SGD at the backbone rate 1e-3 adapts it rather than having to undo a random map.
fn identity_linear(d: usize, device: &Device) -> Linear {
    let mut lin = LinearConfig::new(d, d).with_bias(false).init(device);
    lin.weight = Param::from_tensor(Tensor::<2>::eye(d, device));
    lin
}

/// Linear, or linear - ReLU - linear, optionally after a fixed input standardisation and a
/// convolutional stem. A square linear adapter (e.g. 512 -> 512 on CLIP features) starts at the
/// identity without bias; others start random (Burn's default initialisation, with bias).
#[derive(Module, Debug)]
pub struct Adapter {
    pub norm: Option<InputNorm>,
    pub conv: Option<ConvStem>,
    pub first: Linear,
    /// Batch norm of the hidden layer (the CNN adapter's): centres the conv features, which
    /// are all non-negative after ReLU and max-pooling, so the features do not start collapsed.
    pub hidden_norm: Option<BatchNorm>,
    pub second: Option<Linear>,
}

impl Adapter {
    pub fn new(
        kind: AdapterKind,
        d_in: usize,
        hidden: usize,
        d_out: usize,
        device: &Device,
    ) -> Self {
        let layers = |first, hidden_norm, second| Self {
            norm: None,
            conv: None,
            first,
            hidden_norm,
            second,
        };
        match kind {
            AdapterKind::Linear if d_in == d_out => {
                layers(identity_linear(d_in, device), None, None)
            }
            AdapterKind::Linear => layers(LinearConfig::new(d_in, d_out).init(device), None, None),
            AdapterKind::Mlp => layers(
                LinearConfig::new(d_in, hidden).init(device),
                None,
                Some(LinearConfig::new(hidden, d_out).init(device)),
            ),
            AdapterKind::Cnn => {
                let side = image_side(d_in).expect("HeadModel::new checks the side");
                // The stem first: the layers draw their initial weights in this order.
                let conv = Some(ConvStem::new(side, CNN_CHANNELS, device));
                Self {
                    conv,
                    ..layers(
                        LinearConfig::new(ConvStem::out_dim(side, CNN_CHANNELS), hidden)
                            .init(device),
                        Some(BatchNormConfig::new(hidden).init(device)),
                        Some(LinearConfig::new(hidden, d_out).init(device)),
                    )
                }
            }
        }
    }

    /// Unit-norm features of each input row.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = through(&self.norm, x, InputNorm::forward);
        let x = through(&self.conv, x, ConvStem::forward);
        let h = through(&self.hidden_norm, self.first.forward(x), BatchNorm::forward);
        let h = through(&self.second, h, |second, h| second.forward(relu(h)));
        l2_normalize(h)
    }
}

/// `x` through the optional layer `layer`.
fn through<L>(
    layer: &Option<L>,
    x: Tensor<2>,
    f: impl FnOnce(&L, Tensor<2>) -> Tensor<2>,
) -> Tensor<2> {
    match layer {
        Some(layer) => f(layer, x),
        None => x,
    }
}

/// One modality: adapter + classifier.
#[derive(Module, Debug)]
pub struct Branch {
    pub adapter: Adapter,
    pub head: CosineClassifier,
}

impl Branch {
    pub fn new(
        cfg: &ModelConfig,
        kind: AdapterKind,
        d_in: usize,
        classes: usize,
        device: &Device,
    ) -> Self {
        Self {
            adapter: Adapter::new(kind, d_in, cfg.hidden, cfg.out_dim, device),
            head: CosineClassifier::new(cfg.out_dim, classes, device),
        }
    }
}

/// The trainable heads of a run: image branch, and text branch when the data has text.
#[derive(Module, Debug)]
pub struct HeadModel {
    pub image: Branch,
    pub text: Option<Branch>,
}

/// Text inputs of a batch, already on the device.
#[allow(clippy::large_enum_variant)] // built once per batch; boxing buys nothing
pub enum TextInput {
    /// One vector per row: `[n, d_txt]`.
    Aggregated(Tensor<2>),
    /// RTA candidates per row: tags `[n, T, d_txt]`, attributes `[n, A, d_txt]`, shared base `[d_txt]`.
    Candidates {
        tags: Tensor<3>,
        attributes: Tensor<3>,
        base: Option<Tensor<1>>,
    },
}

impl HeadModel {
    /// Fresh heads; with `cfg.standardize` the adapters carry an input standardisation slot
    /// (identity until [`HeadModel::fit_input_norm`] or loading fills it). The CNN adapter reads
    /// images, so it is the image branch's only (text features go through the MLP), and image
    /// inputs that are not square images are refused.
    pub fn new(
        cfg: &ModelConfig,
        d_img: usize,
        d_txt: Option<usize>,
        classes: usize,
        device: &Device,
    ) -> Result<Self, String> {
        check_adapter(cfg, d_img)?;
        let text_kind = match cfg.adapter {
            AdapterKind::Cnn => AdapterKind::Mlp,
            kind => kind,
        };
        let mut model = Self {
            image: Branch::new(cfg, cfg.adapter, d_img, classes, device),
            text: d_txt.map(|d| Branch::new(cfg, text_kind, d, classes, device)),
        };
        if cfg.standardize {
            model.image.adapter.norm = Some(InputNorm::fit(&vec![0.0; d_img], d_img, device));
        }
        Ok(model)
    }

    /// Measure the image standardisation on the training inputs (`n x d_img`, row-major).
    pub fn fit_input_norm(&mut self, images: &[f32], d_img: usize, device: &Device) {
        if self.image.adapter.norm.is_some() {
            self.image.adapter.norm = Some(InputNorm::fit(images, d_img, device));
        }
    }

    /// Unit-norm text features: each candidate through the text adapter separately, then the
    /// RTA weighting (SPEC §7).
    pub fn embed_text(&self, input: TextInput, rta: &RtaConfig) -> Tensor<2> {
        let branch = self.text.as_ref().expect("text branch");
        match input {
            TextInput::Aggregated(x) => branch.adapter.forward(x),
            TextInput::Candidates {
                tags,
                attributes,
                base,
            } => {
                let [n, t, d] = tags.dims();
                let [_, a, _] = attributes.dims();
                let e_tags = branch.adapter.forward(tags.reshape([n * t, d]));
                let e_attr = branch.adapter.forward(attributes.reshape([n * a, d]));
                let out = e_tags.dims()[1];
                let base = base.map(|b| branch.adapter.forward(b.reshape([1, d])).expand([n, out]));
                aggregate(
                    base,
                    e_tags.reshape([n, t, out]),
                    e_attr.reshape([n, a, out]),
                    rta,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_linear_adapter_starts_at_the_identity_without_bias() {
        let device = Device::flex();
        let a = Adapter::new(AdapterKind::Linear, 6, 0, 6, &device);
        assert!(a.first.bias.is_none());
        let x = [
            [3.0f32, -1.0, 0.5, 2.0, 0.0, 1.0],
            [0.1, 0.2, -0.3, 0.4, 0.5, -0.6],
        ];
        let got = a
            .forward(Tensor::<2>::from_data(x, &device))
            .try_into_vec_as::<f32>()
            .unwrap();
        // Independent: each row divided by its Euclidean norm, in f64.
        for (r, row) in x.iter().enumerate() {
            let n = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            for (k, v) in row.iter().enumerate() {
                assert!((got[r * 6 + k] as f64 - *v as f64 / n).abs() < 1e-6);
            }
        }
        // Not square: random with bias, as before.
        let b = Adapter::new(AdapterKind::Linear, 6, 0, 4, &device);
        assert!(b.first.bias.is_some());
    }

    #[test]
    fn the_cnn_adapter_takes_square_images_only() {
        let device = Device::flex();
        let cfg = ModelConfig {
            adapter: AdapterKind::Cnn,
            hidden: 8,
            out_dim: 4,
            ..ModelConfig::default()
        };
        let err = HeadModel::new(&cfg, 512, None, 10, &device).unwrap_err();
        assert!(err.contains("cnn") && err.contains("512 values"), "{err}");
        let err = HeadModel::new(&cfg, 9, None, 10, &device).unwrap_err();
        assert!(
            err.contains("9 values"),
            "3x3 is below the 4x4 minimum: {err}"
        );
        // 28x28 -> 16 channels -> 32 channels at 7x7 -> 8 hidden -> 4 unit-norm features; the
        // 512-d text features go through the MLP.
        let m = HeadModel::new(&cfg, 784, Some(512), 10, &device).unwrap();
        assert_eq!(m.image.adapter.first.weight.dims(), [32 * 7 * 7, 8]);
        let z = m
            .image
            .adapter
            .forward(Tensor::<2>::ones([3, 784], &device));
        assert_eq!(z.dims(), [3, 4]);
        let text = &m.text.as_ref().unwrap().adapter;
        assert!(text.conv.is_none() && text.hidden_norm.is_none());
        assert_eq!(text.first.weight.dims(), [512, 8]);
        let mlp = ModelConfig {
            adapter: AdapterKind::Mlp,
            ..cfg
        };
        HeadModel::new(&mlp, 512, None, 10, &device).unwrap();
    }
}
