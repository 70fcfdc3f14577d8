//! CLIP (ViT image encoder and causal text encoder) as Burn modules, loaded from Hugging Face
//! folders (`config.json`, `model.safetensors`; `tokenizer.json` or `vocab.json` + `merges.txt`
//! for texts), on any Burn device.
//!
//! Both towers expose the projected embedding, the pre-projection pooled feature and the input
//! of the last block, so that a trainer can fine-tune only the last block (SPEC §8).

pub mod activation;
mod block;
pub mod config;
mod error;
mod model;
pub mod text;
// The BPE tokenizer (Hugging Face `tokenizers`, which does not build for wasm32): only commands
// that encode texts need it.
#[cfg(feature = "tokenizer")]
pub mod tokenizer;
mod tokens;
pub mod vision;
pub mod weights;

pub use block::Block;
pub use config::{Activation, ClipConfig};
pub use error::ClipError;
pub use model::{Clip, ClipFolder};
pub use text::{TextOutput, TextTower};
#[cfg(feature = "tokenizer")]
pub use tokenizer::ClipTokenizer;
pub use tokens::{CONTEXT_LENGTH, Tokens, pad};
pub use vision::{VisionOutput, VisionTower};
pub use weights::{ByteRange, Checkpoint, Random, Source, Streamed};
