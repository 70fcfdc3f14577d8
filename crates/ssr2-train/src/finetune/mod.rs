//! Fine-tune mode (SPEC §8): CLIP's last transformer block of each encoder, both projections and
//! both classifiers trained on images with online augmentation; everything else frozen.

pub mod cache;
pub mod data;
pub mod forward;
pub mod infer;
pub mod loader;
pub mod model;
pub mod synthetic;
pub mod train;
pub mod typo;
pub mod views;

pub use data::Candidates;
pub use infer::{evaluate, predict};
pub use model::{Frozen, Trainable};
pub use train::{
    Inputs, Outcome, Stats, candidates_sha256, clip_folder_sha256, clip_sha256, data_sha256,
    finetune, finetune_on,
};
