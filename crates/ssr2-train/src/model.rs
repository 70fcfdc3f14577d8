//! The features-mode model: per modality a trainable adapter producing L2-normalised features,
//! and a cosine classifier (SPEC §5). Text with RTA candidates is aggregated online (SPEC §7).

use crate::config::{AdapterKind, ModelConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ssr2_core::classifier::CosineClassifier;
use ssr2_core::ops::l2_normalize;
use ssr2_core::rta::{RtaConfig, aggregate};

/// Linear, or linear - ReLU - linear.
#[derive(Module, Debug)]
pub struct Adapter {
    pub first: Linear,
    pub second: Option<Linear>,
}

impl Adapter {
    pub fn new(kind: AdapterKind, d_in: usize, hidden: usize, d_out: usize, device: &Device) -> Self {
        match kind {
            AdapterKind::Linear => Self { first: LinearConfig::new(d_in, d_out).init(device), second: None },
            AdapterKind::Mlp => Self {
                first: LinearConfig::new(d_in, hidden).init(device),
                second: Some(LinearConfig::new(hidden, d_out).init(device)),
            },
        }
    }

    /// Unit-norm features of each input row.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.first.forward(x);
        let h = match &self.second {
            Some(second) => second.forward(relu(h)),
            None => h,
        };
        l2_normalize(h)
    }
}

/// One modality: adapter + classifier.
#[derive(Module, Debug)]
pub struct Branch {
    pub adapter: Adapter,
    pub head: CosineClassifier,
}

impl Branch {
    pub fn new(cfg: &ModelConfig, d_in: usize, classes: usize, device: &Device) -> Self {
        Self {
            adapter: Adapter::new(cfg.adapter, d_in, cfg.hidden, cfg.out_dim, device),
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
pub enum TextInput {
    /// One vector per row: `[n, d_txt]`.
    Aggregated(Tensor<2>),
    /// RTA candidates per row: tags `[n, T, d_txt]`, attributes `[n, A, d_txt]`, shared base `[d_txt]`.
    Candidates { tags: Tensor<3>, attributes: Tensor<3>, base: Option<Tensor<1>> },
}

impl HeadModel {
    pub fn new(cfg: &ModelConfig, d_img: usize, d_txt: Option<usize>, classes: usize, device: &Device) -> Self {
        Self {
            image: Branch::new(cfg, d_img, classes, device),
            text: d_txt.map(|d| Branch::new(cfg, d, classes, device)),
        }
    }

    /// Unit-norm text features: each candidate through the text adapter separately, then the
    /// RTA weighting (SPEC §7).
    pub fn embed_text(&self, input: TextInput, rta: &RtaConfig) -> Tensor<2> {
        let branch = self.text.as_ref().expect("text branch");
        match input {
            TextInput::Aggregated(x) => branch.adapter.forward(x),
            TextInput::Candidates { tags, attributes, base } => {
                let [n, t, d] = tags.dims();
                let [_, a, _] = attributes.dims();
                let e_tags = branch.adapter.forward(tags.reshape([n * t, d]));
                let e_attr = branch.adapter.forward(attributes.reshape([n * a, d]));
                let out = e_tags.dims()[1];
                let base = base.map(|b| branch.adapter.forward(b.reshape([1, d])).expand([n, out]));
                aggregate(base, e_tags.reshape([n, t, out]), e_attr.reshape([n, a, out]), rta)
            }
        }
    }
}
