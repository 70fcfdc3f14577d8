//! Frozen-prefix cache: the input of each tower's last block depends only on the tower's input,
//! so it is computed once and reused (exact). Images: per pre-drawn augmented view (and the test
//! view); texts: per token sequence (each lexicon entry and each typo variant seen).

use super::model::Frozen;
use burn::prelude::*;
use ssr2_clip::Tokens;
use ssr2_clip::tokenizer::pad;
use std::collections::HashMap;

/// Which image: a sample's pre-drawn train view `Some(k)`, or its test view `None`.
pub type ImageKey = (usize, Option<usize>);

fn read3(t: Tensor<3>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("synchronous read")
}

/// Host-side prefix outputs.
#[derive(Default)]
pub struct PrefixCache {
    /// `[tokens, hidden]` per image, row-major.
    pub images: HashMap<ImageKey, Vec<f32>>,
    /// `[eos + 1, hidden]` per token sequence (padding after the end token is not stored:
    /// attention is causal, so it never reaches the pooled token).
    pub texts: HashMap<Vec<i64>, Vec<f32>>,
    /// Bytes held by `texts`.
    pub text_bytes: usize,
}

impl PrefixCache {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * self.images.values().map(Vec::len).sum::<usize>() + self.text_bytes
    }

    /// Stores the prefixes of images `keys` computed from their pixels (`[n, 3, s, s]`).
    pub fn put_images(&mut self, frozen: &Frozen, keys: &[ImageKey], pixels: Tensor<4>) {
        let before = frozen.image_prefix(pixels);
        let [_, t, h] = before.dims();
        let host = read3(before);
        for (i, key) in keys.iter().enumerate() {
            self.images
                .insert(*key, host[i * t * h..(i + 1) * t * h].to_vec());
        }
    }

    /// The cached prefixes of `keys` as `[n, tokens, hidden]` (every key must be present).
    pub fn images(
        &self,
        keys: &[ImageKey],
        tokens: usize,
        hidden: usize,
        device: &Device,
    ) -> Tensor<3> {
        let mut data = Vec::with_capacity(keys.len() * tokens * hidden);
        for key in keys {
            data.extend_from_slice(&self.images[key]);
        }
        Tensor::from_data(TensorData::new(data, [keys.len(), tokens, hidden]), device)
    }

    /// Prefixes of `tokens` as `[n, length, hidden]` (zeros after each end token), computing the
    /// sequences not cached in one batch. New sequences are kept while the text part of the
    /// cache holds less than `budget` bytes (typo variants are unbounded); beyond it they are
    /// computed every time, which gives the same values.
    pub fn texts(
        &mut self,
        frozen: &Frozen,
        tokens: &Tokens,
        budget: usize,
        device: &Device,
    ) -> Tensor<3> {
        let hidden = frozen.text.positions.dims()[1];
        let n = tokens.batch();
        let mut missing: Vec<Vec<i64>> = Vec::new();
        for i in 0..n {
            let row = tokens.row(i);
            if !self.texts.contains_key(row) && !missing.iter().any(|m| m == row) {
                missing.push(row.to_vec());
            }
        }
        let mut fresh: HashMap<Vec<i64>, Vec<f32>> = HashMap::new();
        if !missing.is_empty() {
            let seqs: Vec<Vec<u32>> = missing
                .iter()
                .map(|r| r.iter().map(|&t| t as u32).collect())
                .collect();
            let batch = pad(&seqs);
            let before = frozen.text_prefix(&batch, device);
            let l = batch.length;
            let host = read3(before);
            for (i, row) in missing.into_iter().enumerate() {
                let start = i * l * hidden;
                let values = host[start..start + row.len() * hidden].to_vec();
                fresh.insert(row, values);
            }
        }
        let l = tokens.length;
        let mut data = vec![0f32; n * l * hidden];
        for i in 0..n {
            let row = tokens.row(i);
            let values = self.texts.get(row).unwrap_or_else(|| &fresh[row]);
            data[i * l * hidden..i * l * hidden + values.len()].copy_from_slice(values);
        }
        for (row, values) in fresh {
            if self.text_bytes + 4 * values.len() <= budget {
                self.text_bytes += 4 * values.len();
                self.texts.insert(row, values);
            }
        }
        Tensor::from_data(TensorData::new(data, [n, l, hidden]), device)
    }
}
