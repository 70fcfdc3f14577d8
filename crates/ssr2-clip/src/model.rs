//! The two towers together, and a Hugging Face CLIP folder on disk.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ssr2_core::ops::l2_normalize;

use crate::ClipError;
use crate::config::ClipConfig;
use crate::text::TextTower;
#[cfg(feature = "tokenizer")]
use crate::tokenizer::{CONTEXT_LENGTH, ClipTokenizer};
use crate::tokens::Tokens;
use crate::vision::VisionTower;
use crate::weights::{Checkpoint, Random, Source};

#[derive(Module, Debug)]
pub struct Clip {
    pub vision: VisionTower,
    pub text: TextTower,
}

impl Clip {
    pub fn load(src: &dyn Source, cfg: &ClipConfig, device: &Device) -> Result<Self, ClipError> {
        Ok(Clip {
            vision: VisionTower::load(src, &cfg.vision, cfg.projection_dim, device)?,
            text: TextTower::load(src, &cfg.text, cfg.projection_dim, device)?,
        })
    }

    /// Seeded random weights of the given shape (benchmarks, tests).
    pub fn random(cfg: &ClipConfig, seed: u64, device: &Device) -> Self {
        Self::load(&Random { seed }, cfg, device).expect("random weights have every tensor")
    }

    /// L2-normalised projected image embeddings of preprocessed `[b, 3, s, s]` pixels.
    pub fn encode_images(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.vision.encode(pixels)
    }

    /// L2-normalised projected text embeddings.
    pub fn encode_texts(&self, tokens: &Tokens, device: &Device) -> Tensor<2> {
        let before = self.text.prefix(tokens, device);
        l2_normalize(self.text.finish(before, tokens).1)
    }
}

/// A Hugging Face CLIP folder: `config.json`, `model.safetensors` and, to encode texts,
/// `tokenizer.json` or `vocab.json` + `merges.txt`.
pub struct ClipFolder {
    pub dir: PathBuf,
    pub config: ClipConfig,
}

impl ClipFolder {
    /// Reads and checks `config.json`; the weights are read by [`ClipFolder::load`].
    pub fn open(dir: &Path) -> Result<Self, ClipError> {
        if !dir.is_dir() {
            return Err(ClipError::config(
                dir,
                "not a directory (expected a Hugging Face CLIP folder with config.json and \
                 model.safetensors, and tokenizer.json or vocab.json + merges.txt for texts)",
            ));
        }
        let config = ClipConfig::from_file(&dir.join("config.json"))?;
        Ok(ClipFolder {
            dir: dir.to_path_buf(),
            config,
        })
    }

    pub fn weights_path(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }

    /// Loads every tensor of both towers onto `device`.
    pub fn load(&self, device: &Device) -> Result<Clip, ClipError> {
        let path = self.weights_path();
        if !path.exists() {
            let hint = if self.dir.join("pytorch_model.bin").exists() {
                " (only pytorch_model.bin is there: save the model with \
                 `save_pretrained(dir, safe_serialization=True)`)"
            } else {
                ""
            };
            return Err(ClipError::config(&path, format!("file not found{hint}")));
        }
        Clip::load(&Checkpoint::open(&path)?, &self.config, device)
    }

    /// The folder's tokenizer (`tokenizer.json`, or `vocab.json` + `merges.txt`), checked
    /// against the text tower: the end-token rule and the embedding table's size.
    #[cfg(feature = "tokenizer")]
    pub fn tokenizer(&self) -> Result<ClipTokenizer, ClipError> {
        let positions = self.config.text.max_positions;
        if positions < CONTEXT_LENGTH {
            // Encoded texts are up to 77 tokens long: each needs a position embedding.
            return Err(ClipError::config(
                self.dir.join("config.json"),
                format!(
                    "text_config.max_position_embeddings is {positions}, expected at least \
                     {CONTEXT_LENGTH} (CLIP's context length)"
                ),
            ));
        }
        let tok = ClipTokenizer::from_dir(&self.dir)?;
        let eos = self.config.text.eos_token_id;
        // transformers pools at `eos_token_id`, or at the largest id when it is 2 (old configs).
        let largest = tok.end as usize + 1 == self.config.text.vocab_size;
        if eos != tok.end as usize && !(eos == 2 && largest) {
            return Err(ClipError::Tokenizer {
                path: tok.path().to_path_buf(),
                msg: format!(
                    "end token id {} does not match config.json's eos_token_id {eos}",
                    tok.end
                ),
            });
        }
        tok.check_vocab_size(self.config.text.vocab_size)?;
        Ok(tok)
    }
}
