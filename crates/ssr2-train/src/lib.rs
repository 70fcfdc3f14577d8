//! The SSR2-GCD trainer: configuration, sampler, the one epoch loop (`epochs`) that both modes
//! run (`features/`: heads on extracted features; `finetune/`: CLIP's last blocks too),
//! evaluation, checkpoints with resume, and the run report the browser opens (`report`).

pub mod checkpoint;
pub mod clusters;
pub mod config;
pub mod data;
mod epochs;
mod error;
pub mod eval;
pub mod features;
#[cfg(feature = "finetune")]
pub mod finetune;
pub mod objective;
pub mod optim;
pub mod replicas;
pub mod report;
pub mod rng;
pub mod run;
pub mod sampler;
mod selection;

pub use config::{PRESETS, TrainConfig};
pub use epochs::{Progress, RunDir, Silent};
pub use error::TrainError;
pub use features::{train, train_on};
pub use replicas::Devices;
pub use report::RunReport;
