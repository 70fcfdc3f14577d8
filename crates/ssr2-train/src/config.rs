//! Training configuration: every hyper-parameter of SPEC §4-8 in one TOML file, with presets.

use serde::{Deserialize, Serialize};
use ssr2_data::SyntheticConfig;
pub use ssr2_head::config::{AdapterKind, ModelConfig, NumClasses};

/// Where the training samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The embedded UCI digits (image-only, raw 8x8 pixels).
    Digits,
    /// The deterministic multi-modal subspace generator.
    Synthetic,
    /// A feature bundle file (`ssr2 extract` output or any file in the bundle format).
    Bundle,
    /// Fashion-MNIST's IDX files (Debian's `dataset-fashion-mnist`, or `data.root`): 784 pixels
    /// per image, its 10,000 test images as the test split.
    #[serde(rename = "fashion-mnist")]
    FashionMnist,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// Path of the feature bundle when `source = "bundle"`.
    pub bundle: Option<String>,
    /// `source = "fashion-mnist"`: the folder of its IDX files (default
    /// /usr/share/datasets/fashion-mnist).
    pub root: Option<String>,
    /// Settings of the generator when `source = "synthetic"`.
    pub synthetic: SyntheticConfig,
    /// Optional `.npy` of int sample positions that are labelled (e.g. the reference's split
    /// exported from Python); replaces the data's own labelled flags (both modes).
    pub labelled_indices: Option<String>,
    /// Fraction of each class held out as a test split for inductive evaluation, for data
    /// without one of its own (the digits, synthetic sets, a bundle without `split`); 0 = none.
    pub test_fraction: f64,
    /// Train on the first `limit` training samples only (0 = all): for scaling measurements.
    pub limit: usize,
    /// Seed of the labelled split, separate from the run seeds: the reference draws it once with
    /// numpy's legacy `RandomState(0)` for every run (SPEC §1), reproduced exactly. Used by the
    /// digits and by fine-tune mode; a bundle carries the split `ssr2 extract --split-seed` drew.
    pub split_seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: DataSource::Digits,
            bundle: None,
            root: None,
            synthetic: SyntheticConfig::default(),
            labelled_indices: None,
            test_fraction: 0.0,
            limit: 0,
            split_seed: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub epochs: usize,
    /// Images per batch `B` (the batch holds 2B rows: two views).
    pub batch_size: usize,
    /// Epochs `0..=warmup_epochs` use the warm-up SSR2 form and no co-teaching (SPEC §4, §6).
    pub warmup_epochs: usize,
    /// Class-aligning epochs after warm-up in which only the image branch learns pseudo-labels
    /// (the text branch's); the text branch learns the image branch's from epoch
    /// `warmup_epochs + align_epochs + 1` on (`main.py`: `epoch > class_aligning_epochs +
    /// warm_up_epochs`, 5 and 10).
    pub align_epochs: usize,
    /// Classifier learning rate, cosine-annealed per epoch to `lr_head_min` (SPEC §8).
    pub lr_head: f64,
    pub lr_head_min: f64,
    /// Learning rate of the adapters ("backbone" group), constant.
    pub lr_backbone: f64,
    /// SGD momentum (the reference uses none).
    pub momentum: f64,
    /// L2 weight decay (the reference uses none).
    pub weight_decay: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            epochs: 200,
            batch_size: 128,
            warmup_epochs: 10,
            align_epochs: 5,
            lr_head: 0.1,
            lr_head_min: 1e-4,
            lr_backbone: 1e-3,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl OptimConfig {
    /// Warm-up epoch: warm-up SSR2 form, no co-teaching (`main.py`: `epoch <= warm_up_epochs`).
    pub fn is_warmup(&self, epoch: usize) -> bool {
        epoch <= self.warmup_epochs
    }

    /// Whether the text branch learns the image branch's pseudo-labels in `epoch`.
    pub fn coteach_text(&self, epoch: usize) -> bool {
        epoch > self.warmup_epochs + self.align_epochs
    }
}

/// Representation loss inside each modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepLoss {
    /// Semi-supervised rate reduction (SPEC §4).
    Ssr2,
    /// SupCon on labelled rows + two-view InfoNCE on all rows (the SimGCD/TextGCD baseline).
    Contrastive,
}

/// Loss between the modalities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterModal {
    /// None (SSR2-GCD).
    None,
    /// CLIP's image-to-text loss (the ablation).
    Clip,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    pub rep_loss: RepLoss,
    pub inter_modal: InterModal,
    /// epsilon^2 of the coding rates (0.5).
    pub eps2: f64,
    /// Weight of the supervised parts (CE, SupCon): 0.2.
    pub sup_weight: f64,
    pub sup_temp: f64,
    pub student_temp: f64,
    pub teacher_temp_start: f64,
    pub teacher_temp_end: f64,
    pub teacher_temp_epochs: usize,
    pub memax_weight: f64,
    pub supcon_temp: f64,
    pub infonce_temp: f64,
    pub clip_scale: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            rep_loss: RepLoss::Ssr2,
            inter_modal: InterModal::None,
            eps2: ssr2_core::loss::ssr2::EPS2,
            sup_weight: 0.2,
            sup_temp: 0.1,
            student_temp: 0.05,
            teacher_temp_start: 0.035,
            teacher_temp_end: 0.02,
            teacher_temp_epochs: 30,
            memax_weight: 2.0,
            supcon_temp: 0.07,
            infonce_temp: 1.0,
            clip_scale: 100.0,
        }
    }
}

/// Feature-space augmentation making the two views of a sample (see `augment.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Gaussian noise, relative to each input row's RMS value.
    pub noise: f64,
    /// Probability of zeroing each input coordinate.
    pub dropout: f64,
    /// Pixel inputs (square single-channel images): random crop after zero padding by this
    /// many pixels (0 = off), applied before noise and dropout.
    pub crop_pad: usize,
    /// Pixel inputs: horizontal flip with probability 0.5.
    pub flip: bool,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            noise: 0.1,
            dropout: 0.1,
            crop_pad: 0,
            flip: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtaSettings {
    pub alpha: f64,
    pub beta: f64,
    pub base_weight: f64,
}

impl Default for RtaSettings {
    fn default() -> Self {
        Self {
            alpha: 0.5,
            beta: 0.65,
            base_weight: 0.1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Most evaluation embeddings kept in the report's 2-D projection.
    pub max_projection: usize,
    /// Neighbours of the k-NN graph of the edge ratio.
    pub edge_k: usize,
    /// Most samples used for the edge ratio (it is quadratic in them).
    pub max_edge_samples: usize,
    /// Largest `n x d` (per modality) for which the report carries the `inference` block
    /// (evaluation features and head weights, for in-browser inference); 0 turns it off.
    pub max_inference_values: usize,
    /// Pixel inputs (square single-channel images in [0, 1], e.g. the digits, Fashion-MNIST):
    /// this many sample images per predicted cluster go into the report (`thumbnails`), so the
    /// explorer shows what a discovered class looks like; 0 = none.
    pub thumbnails: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            max_projection: 5000,
            edge_k: 10,
            max_edge_samples: 2000,
            max_inference_values: 1_000_000,
            thumbnails: 0,
        }
    }
}

/// Fine-tune mode (`ssr2 train --mode finetune`): CLIP's last blocks trained on images (SPEC §8).
/// The schedule and optimiser are the `[optim]` table (paper defaults = SPEC §8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Hugging Face CLIP folder (config.json, model.safetensors, tokenizer.json).
    pub model: Option<String>,
    /// Image dataset name (`ssr2_data::image_dataset_names`).
    pub dataset: Option<String>,
    /// Dataset root folder.
    pub root: Option<String>,
    /// `imagefolder` only: number of old classes (default half).
    pub num_old: Option<usize>,
    /// `ssr2 retrieve`'s `.candidates.json`; absent = image-only training.
    pub candidates: Option<String>,
    /// Score the final model on the dataset's test split too (inductive), when it has one.
    pub inductive: bool,
    /// `imagefolder` / `imagenet100`: the test split's root (the same class subfolders).
    pub test_root: Option<String>,
    /// Train transform: resize the short side to this, then random crop of the model's size
    /// (SPEC §8: 256 for 224); 0 = `image_size * 256 / 224`.
    pub resize: u32,
    /// Typo probability per word of length >= 3 (SPEC §7: 0.1).
    pub typo_prob: f64,
    /// Pre-drawn augmented views per image (0 = a fresh view every epoch).
    pub views: usize,
    /// Cache the frozen prefix outputs (needs `views >= 1`; exact).
    pub cache: bool,
    /// Most MiB of cached text prefixes (each typo variant is a new entry; beyond the budget
    /// new ones are computed every step, with the same values).
    pub text_cache_mib: usize,
    /// Image decoding/augmentation threads.
    pub workers: usize,
    /// Images per forward pass in evaluation and in the co-teaching selection pass.
    pub eval_batch: usize,
    /// Benchmarks: random weights of this shape (`vitb16`, `small`, `tiny`) on random images
    /// instead of `model`/`dataset`.
    pub synthetic: Option<String>,
    /// Benchmarks: number of random images.
    pub synthetic_images: usize,
    /// Benchmarks: a `tokenizer.json` for the synthetic texts (none = image-only).
    pub tokenizer: Option<String>,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            model: None,
            dataset: None,
            root: None,
            num_old: None,
            candidates: None,
            inductive: true,
            test_root: None,
            resize: 0,
            typo_prob: 0.1,
            views: 0,
            cache: false,
            text_cache_mib: 4096,
            workers: 2,
            eval_batch: 256,
            synthetic: None,
            synthetic_images: 1024,
            tokenizer: None,
        }
    }
}

impl FinetuneConfig {
    /// True when the run fine-tunes CLIP (a model folder or a synthetic shape is set).
    pub fn enabled(&self) -> bool {
        self.model.is_some() || self.synthetic.is_some()
    }

    /// Check ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.typo_prob) {
            return Err("finetune.typo_prob: must be in [0, 1]".into());
        }
        if self.cache && self.views == 0 {
            return Err("finetune.cache: needs finetune.views >= 1 (pre-drawn views)".into());
        }
        if self.workers == 0 || self.eval_batch == 0 {
            return Err("finetune.workers / finetune.eval_batch: must be >= 1".into());
        }
        let bounds = [
            (self.workers, 1024, "finetune.workers"),
            (self.eval_batch, 65_536, "finetune.eval_batch"),
            (self.views, 100_000, "finetune.views"),
            (
                self.synthetic_images,
                10_000_000,
                "finetune.synthetic_images",
            ),
            (self.text_cache_mib, 1 << 20, "finetune.text_cache_mib"),
        ];
        if let Some((v, max, name)) = bounds.iter().find(|(v, max, _)| v > max) {
            return Err(format!("{name}: must be <= {max}, got {v}"));
        }
        Ok(())
    }
}

/// Every setting of a training run. The file used is written into the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds to run, one run each; the table reports mean and std over them.
    pub seeds: Vec<u64>,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub loss: LossConfig,
    pub augment: AugmentConfig,
    pub rta: RtaSettings,
    pub eval: EvalConfig,
    pub finetune: FinetuneConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::preset("paper").expect("paper preset exists")
    }
}

/// Names accepted by [`TrainConfig::preset`].
pub const PRESETS: [&str; 5] = [
    "paper",
    "digits",
    "synthetic",
    "fashion-mnist",
    "fashion-mnist-cnn",
];

impl TrainConfig {
    /// A named preset: `paper` (SPEC §8 on a feature bundle), `digits` (the embedded default,
    /// about a minute on two CPU cores), `synthetic` (multi-modal subspaces).
    pub fn preset(name: &str) -> Option<Self> {
        let base = TrainConfig {
            seeds: vec![0],
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optim: OptimConfig::default(),
            loss: LossConfig::default(),
            augment: AugmentConfig::default(),
            rta: RtaSettings::default(),
            eval: EvalConfig::default(),
            finetune: FinetuneConfig::default(),
        };
        match name {
            "paper" => Some(TrainConfig {
                data: DataConfig {
                    source: DataSource::Bundle,
                    ..DataConfig::default()
                },
                ..base
            }),
            "digits" => Some(TrainConfig {
                seeds: vec![0, 1, 2],
                data: DataConfig {
                    source: DataSource::Digits,
                    test_fraction: 0.2,
                    ..DataConfig::default()
                },
                model: ModelConfig {
                    adapter: AdapterKind::Mlp,
                    hidden: 256,
                    out_dim: 64,
                    use_text: false,
                    standardize: true,
                    ..ModelConfig::default()
                },
                // Tuned on seeds 0-4 (All 84.1 +- 3.8 at 60 epochs); raw pixels, trained from scratch.
                optim: OptimConfig {
                    epochs: 60,
                    warmup_epochs: 5,
                    align_epochs: 2,
                    lr_backbone: 0.01,
                    ..OptimConfig::default()
                },
                loss: LossConfig {
                    teacher_temp_epochs: 10,
                    ..LossConfig::default()
                },
                augment: AugmentConfig {
                    noise: 0.2,
                    dropout: 0.1,
                    ..AugmentConfig::default()
                },
                eval: EvalConfig {
                    thumbnails: 6,
                    ..EvalConfig::default()
                },
                ..base
            }),
            "fashion-mnist" => {
                let mut cfg = TrainConfig::preset("digits")?;
                cfg.seeds = vec![0];
                cfg.data = DataConfig {
                    source: DataSource::FashionMnist,
                    ..DataConfig::default()
                };
                cfg.optim.epochs = 10;
                cfg.optim.batch_size = 256;
                Some(cfg)
            }
            // The small CNN on the 28x28 images, with crops and flips for the two views in place of
            // the pixel MLP's noise.
            "fashion-mnist-cnn" => {
                let mut cfg = TrainConfig::preset("fashion-mnist")?;
                cfg.model.adapter = AdapterKind::Cnn;
                cfg.augment = AugmentConfig {
                    noise: 0.0,
                    dropout: 0.0,
                    crop_pad: 2,
                    flip: true,
                };
                Some(cfg)
            }
            "synthetic" => Some(TrainConfig {
                data: DataConfig {
                    source: DataSource::Synthetic,
                    ..DataConfig::default()
                },
                model: ModelConfig {
                    adapter: AdapterKind::Linear,
                    hidden: 256,
                    out_dim: 32,
                    use_text: true,
                    standardize: false,
                    ..ModelConfig::default()
                },
                optim: OptimConfig {
                    epochs: 30,
                    warmup_epochs: 5,
                    align_epochs: 2,
                    lr_backbone: 0.05,
                    ..OptimConfig::default()
                },
                loss: LossConfig {
                    teacher_temp_epochs: 10,
                    ..LossConfig::default()
                },
                ..base
            }),
            _ => None,
        }
    }

    /// Parse a TOML file's text; unknown keys are errors (typos must not pass silently).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let cfg: TrainConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Check ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.seeds.iter().find(|&&s| s > i64::MAX as u64) {
            return Err(format!("seeds: {s} is too large (at most {})", i64::MAX));
        }
        non_finite_field(self)?;
        if self.finetune.enabled() && self.model.num_classes == NumClasses::Auto {
            return Err(
                "model.num_classes = \"auto\" works in features mode; for fine-tuning \
                        give a number (`ssr2 estimate-k --features` on an extracted bundle \
                        estimates it)"
                    .into(),
            );
        }
        if let Some(s) = repeated(&self.seeds) {
            return Err(format!(
                "seeds: seed {s} is listed twice (each seed is one run directory)"
            ));
        }
        let o = &self.optim;
        let l = &self.loss;
        let checks: [(bool, &str); 15] = [
            (!self.seeds.is_empty(), "seeds: needs at least one seed"),
            (
                self.data.split_seed <= u64::from(u32::MAX),
                "data.split_seed: must be in 0..=4294967295 (numpy's seed range)",
            ),
            (
                (1..=MAX_EPOCHS).contains(&o.epochs),
                "optim.epochs: must be in 1..=100000",
            ),
            (
                (2..=MAX_BATCH).contains(&o.batch_size),
                "optim.batch_size: must be in 2..=65536",
            ),
            (
                self.model.out_dim <= MAX_WIDTH && self.model.hidden <= MAX_WIDTH,
                "model.out_dim / model.hidden: must be <= 65536",
            ),
            (
                o.lr_head > 0.0 && o.lr_head_min >= 0.0,
                "optim.lr_head: must be > 0 (lr_head_min >= 0)",
            ),
            (o.lr_backbone >= 0.0, "optim.lr_backbone: must be >= 0"),
            (
                (0.0..1.0).contains(&o.momentum),
                "optim.momentum: must be in [0, 1)",
            ),
            // The coding rates' scale d / (m eps2) must fit float32 for any width the model allows
            // (as `ssr2 rate` refuses it): eps2 >= about 2e-34.
            (
                ssr2_core::logdet::rate_scale(MAX_WIDTH, 1.0, l.eps2).is_ok(),
                "loss.eps2: must be a positive finite number whose coding-rate scale \
                 d/(m eps2) fits float32 (>= 2e-34)",
            ),
            (
                (0.0..=1.0).contains(&l.sup_weight),
                "loss.sup_weight: must be in [0, 1]",
            ),
            (
                l.sup_temp > 0.0
                    && l.student_temp > 0.0
                    && l.teacher_temp_start > 0.0
                    && l.teacher_temp_end > 0.0,
                "loss.*_temp: temperatures must be > 0",
            ),
            (
                self.model.out_dim >= 1 && self.model.hidden >= 1,
                "model.out_dim / model.hidden: must be >= 1",
            ),
            (
                (0.0..1.0).contains(&self.augment.dropout) && self.augment.noise >= 0.0,
                "augment: dropout in [0, 1), noise >= 0",
            ),
            (
                (0.0..1.0).contains(&self.data.test_fraction),
                "data.test_fraction: must be in [0, 1)",
            ),
            (
                self.data.source != DataSource::Bundle
                    || self.data.bundle.is_some()
                    || self.finetune.enabled(),
                "data.bundle: a bundle path is needed when data.source = \"bundle\"",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err(msg.to_string()),
            None => self.finetune.validate(),
        }
    }
}

/// Upper bounds that catch typos (an extra digit) before they become hours or terabytes.
pub const MAX_EPOCHS: usize = 100_000;
const MAX_BATCH: usize = 65_536;
const MAX_WIDTH: usize = 65_536;

/// The first value listed twice.
fn repeated(seeds: &[u64]) -> Option<u64> {
    let mut seen = std::collections::BTreeSet::new();
    seeds.iter().copied().find(|s| !seen.insert(*s))
}

/// TOML accepts `inf` and `nan`; no setting means either, so name the first one that holds one.
fn non_finite_field(cfg: &TrainConfig) -> Result<(), String> {
    fn walk(v: &toml::Value, path: &str) -> Option<(String, f64)> {
        match v {
            toml::Value::Float(f) if !f.is_finite() => Some((path.to_string(), *f)),
            toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &p)
            }),
            toml::Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            _ => None,
        }
    }
    // Also catches integers beyond TOML's i64 (the config is written into every run).
    let value =
        toml::Value::try_from(cfg).map_err(|e| format!("a setting is out of range ({e})"))?;
    match walk(&value, "") {
        Some((path, f)) => Err(format!("{path}: must be a finite number, got {f}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coteaching_stages_follow_the_warm_up_length() {
        // main.py: warm-up while epoch <= 10; text -> image from 11; both ways once
        // epoch > 10 + 5.
        let o = OptimConfig::default();
        assert!(o.is_warmup(10) && !o.is_warmup(11));
        assert!(!o.coteach_text(15) && o.coteach_text(16));
        // A longer warm-up moves both stages (not a fixed epoch 16).
        let long = OptimConfig {
            warmup_epochs: 20,
            ..OptimConfig::default()
        };
        assert!(long.is_warmup(20) && !long.coteach_text(16) && !long.coteach_text(25));
        assert!(long.coteach_text(26));
    }

    #[test]
    fn split_seed_defaults_to_zero_and_must_fit_numpy() {
        let mut cfg = TrainConfig::preset("digits").unwrap();
        assert_eq!(cfg.data.split_seed, 0);
        cfg.data.split_seed = u64::from(u32::MAX) + 1;
        assert!(cfg.validate().unwrap_err().contains("data.split_seed"));
    }
}
