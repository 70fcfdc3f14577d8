//! The head's settings: the `[model]` table of a run's config.

use serde::{Deserialize, Serialize};

/// The trainable adapter in front of each classifier.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// One linear map (the projection CLIP would train).
    Linear,
    /// Linear - ReLU - linear, for raw inputs such as the digits' pixels.
    Mlp,
    /// Two convolution blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool; 16 then 32 channels)
    /// under the MLP, for square single-channel images such as Fashion-MNIST's.
    Cnn,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub adapter: AdapterKind,
    /// Hidden width of the MLP adapter.
    pub hidden: usize,
    /// Dimension of the L2-normalised features the losses see.
    pub out_dim: usize,
    /// Use the text modality when the data has one (false = unimodal SSR2).
    pub use_text: bool,
    /// Standardise raw image inputs per coordinate (statistics of the training set, saved with
    /// the weights); for raw pixels, not for CLIP features.
    pub standardize: bool,
    /// Clusters the heads predict: "data" (the data's class count), "auto" (estimated from the
    /// features and the labelled samples, `ssr2_core::estimate_k`), or a number.
    pub num_classes: NumClasses,
}

/// How many clusters the classifiers have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NumClassesText", into = "NumClassesText")]
pub enum NumClasses {
    /// The data's own class count (the GCD benchmarks give it).
    #[default]
    Data,
    /// Estimated before training (GCD's labelled-accuracy method).
    Auto,
    /// This many.
    Fixed(usize),
}

/// `"data"`, `"auto"` or a number, as written in TOML.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum NumClassesText {
    Word(String),
    Count(u64),
}

impl NumClasses {
    /// From a flag's text: `data`, `auto` or a number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = match text.parse::<u64>() {
            Ok(k) => NumClassesText::Count(k),
            Err(_) => NumClassesText::Word(text.to_string()),
        };
        NumClasses::try_from(t)
    }
}

impl TryFrom<NumClassesText> for NumClasses {
    type Error = String;
    fn try_from(t: NumClassesText) -> Result<Self, String> {
        match t {
            NumClassesText::Word(w) if w == "data" => Ok(NumClasses::Data),
            NumClassesText::Word(w) if w == "auto" => Ok(NumClasses::Auto),
            NumClassesText::Count(k) if (1..=100_000).contains(&k) => {
                Ok(NumClasses::Fixed(k as usize))
            }
            NumClassesText::Count(k) => Err(format!("model.num_classes: {k} is not in 1..=100000")),
            NumClassesText::Word(w) => Err(format!(
                "model.num_classes: \"{w}\" is not \"data\", \"auto\" or a number"
            )),
        }
    }
}

impl From<NumClasses> for NumClassesText {
    fn from(n: NumClasses) -> Self {
        match n {
            NumClasses::Data => NumClassesText::Word("data".into()),
            NumClasses::Auto => NumClassesText::Word("auto".into()),
            NumClasses::Fixed(k) => NumClassesText::Count(k as u64),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            adapter: AdapterKind::Linear,
            hidden: 256,
            out_dim: 512,
            use_text: true,
            standardize: false,
            num_classes: NumClasses::Data,
        }
    }
}
