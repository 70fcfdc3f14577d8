//! The SSR2-GCD trainer in features mode: configuration, sampler, augmentation, the epoch loop,
//! evaluation, checkpoints with resume, and the run report the browser opens.

pub mod augment;
pub mod checkpoint;
pub mod clusters;
pub mod config;
pub mod conv;
mod epochs;
pub mod eval;
#[cfg(feature = "finetune")]
pub mod finetune;
pub mod inputs;
pub mod model;
pub mod objective;
pub mod optim;
pub mod replicas;
pub mod report;
pub mod rng;
pub mod sampler;
pub mod trainer;

pub use config::{PRESETS, TrainConfig};
pub use report::RunReport;
pub use replicas::Devices;
pub use trainer::{Progress, RunDir, Silent, train, train_on};
