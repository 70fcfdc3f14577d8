//! The two-branch head of SPEC §5 that a run trains and the browser runs: per modality an
//! adapter (linear, MLP, or a small CNN stem for raw images, optionally after a fixed input
//! standardisation) and a cosine classifier; the `[model]` settings that shape it; and the
//! loader of its safetensors weights.
//!
//! Below the trainer (`ssr2-train`) and beside the browser app, which both build it: it knows
//! Burn tensors and bytes, no files.

pub mod config;
pub mod conv;
pub mod model;
mod weights;

pub use config::{AdapterKind, ModelConfig, NumClasses};
pub use conv::image_side;
pub use model::{Adapter, Branch, HeadModel, InputNorm, TextInput};
pub use weights::{load_weights, weight_bytes};
