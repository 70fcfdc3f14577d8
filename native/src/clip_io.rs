//! Shared by the CLIP commands: opening a model folder, preprocessing and embedding images in
//! batches, embedding texts, content hashes for caches.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rayon::prelude::*;
use ssr2_clip::tokenizer::pad;
use ssr2_clip::{Clip, ClipFolder, ClipTokenizer};
use ssr2_data::{CLIP_MEAN, CLIP_STD, ImageSource, load_rgb, test_transform};

use crate::fail::{Fail, Result};

pub struct Model {
    pub folder: ClipFolder,
    pub clip: Clip,
    /// Only for commands that encode texts: image-only commands need no tokenizer files.
    tokenizer: Option<ClipTokenizer>,
    pub device: Device,
}

impl Model {
    /// A CLIP folder for images only: config.json and model.safetensors.
    pub fn open(dir: &Path, device: Device) -> Result<Self> {
        Self::open_with(dir, device, false)
    }

    /// A CLIP folder for texts (and images): also its tokenizer, checked before the weights are
    /// read so that a missing one fails fast.
    pub fn open_for_text(dir: &Path, device: Device) -> Result<Self> {
        Self::open_with(dir, device, true)
    }

    fn open_with(dir: &Path, device: Device, text: bool) -> Result<Self> {
        let folder = ClipFolder::open(dir).map_err(|e| Fail(e.to_string()))?;
        let tokenizer = match text {
            true => Some(folder.tokenizer().map_err(|e| Fail(e.to_string()))?),
            false => None,
        };
        let clip = folder.load(&device).map_err(|e| Fail(e.to_string()))?;
        Ok(Model {
            folder,
            clip,
            tokenizer,
            device,
        })
    }

    fn tokenizer(&self) -> Result<&ClipTokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            Fail::input(
                &self.folder.dir,
                "opened without its tokenizer (internal: use Model::open_for_text)",
            )
        })
    }

    pub fn image_size(&self) -> usize {
        self.folder.config.vision.image_size
    }

    /// CLIP's test transform (resize the short side, centre crop, CLIP mean/std) of each image,
    /// decoded and preprocessed on all cores: `[b, 3, s, s]` values.
    pub fn preprocess(&self, sources: &[&ImageSource]) -> Result<Vec<f32>> {
        let s = self.image_size() as u32;
        let chunks: Vec<Vec<f32>> = sources
            .par_iter()
            .map(|src| {
                let img = load_rgb(src).map_err(|e| Fail(e.to_string()))?;
                Ok(test_transform(&img, s, CLIP_MEAN, CLIP_STD))
            })
            .collect::<Result<_>>()?;
        Ok(chunks.concat())
    }

    /// (normalised projected embeddings, pooled pre-projection features) of one batch.
    pub fn embed_pixels(&self, pixels: Vec<f32>, b: usize) -> (Vec<f32>, Vec<f32>) {
        let s = self.image_size();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [b, 3, s, s]), &self.device);
        let before = self.clip.vision.prefix(x);
        let (pooled, projected) = self.clip.vision.finish(before);
        let emb = ssr2_core::ops::l2_normalize(projected);
        (values(emb), values(pooled))
    }

    /// Normalised projected embeddings of `texts`, in their order. Batches are formed in order
    /// of token length, each padded to its own longest (exact: attention is causal and pooling
    /// happens at the end token), so a batch of short texts does no work for a long one.
    pub fn embed_texts<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let tokenizer = self.tokenizer()?;
        let seqs = texts
            .iter()
            .map(|t| tokenizer.encode(t.as_ref()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Fail(e.to_string()))?;
        let all = pad(&seqs);
        let mut order: Vec<usize> = (0..all.batch()).collect();
        order.sort_by_key(|&i| all.eos[i]);
        let d = self.folder.config.projection_dim;
        let mut out = vec![0f32; texts.len() * d];
        for chunk in order.chunks(batch.max(1)) {
            let emb = values(self.clip.encode_texts(&all.select(chunk), &self.device));
            for (k, &i) in chunk.iter().enumerate() {
                out[i * d..(i + 1) * d].copy_from_slice(&emb[k * d..(k + 1) * d]);
            }
            progress(chunk.len());
        }
        Ok(out)
    }
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("float tensors read back as f32")
}

/// Image files under `dir` (any depth), sorted by path.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_image(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out).map_err(|e| Fail::input(dir, format!("cannot list images: {e}")))?;
    out.sort();
    if out.is_empty() {
        return Err(Fail::input(
            dir,
            "no images found (looked for .png, .jpg, .jpeg, .bmp at any depth)",
        ));
    }
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    ["png", "jpg", "jpeg", "bmp"]
        .iter()
        .any(|x| ext.eq_ignore_ascii_case(x))
}

/// SHA-256 of a CLIP folder ([`ssr2_train::finetune::clip_folder_sha256`]).
pub fn clip_sha256(dir: &Path) -> Result<String> {
    ssr2_train::finetune::clip_folder_sha256(dir).map_err(Fail)
}

/// A 64-bit content hash of files (FNV-1a over 8-byte words, then a final mix): cache keys
/// that follow the content, not the path.
pub fn content_hash(paths: &[&Path]) -> Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for path in paths {
        let bytes =
            std::fs::read(path).map_err(|e| Fail::input(path, format!("cannot read: {e}")))?;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x0100_0000_01b3);
        }
        for &b in words.remainder() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ bytes.len() as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    Ok(h ^ (h >> 33))
}
