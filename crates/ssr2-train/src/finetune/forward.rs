//! One batch through the model: image prefix (computed or cached) then the trainable last
//! block; texts per RTA candidate through the text tower, then the RTA weighting (SPEC §7).

use super::cache::PrefixCache;
use super::data::Candidates;
use super::model::{Frozen, Trainable};
use super::typo::typo;
use crate::rng::Rng;
use burn::prelude::*;
use ssr2_clip::{ClipTokenizer, Tokens};
use ssr2_core::rta::{RtaConfig, aggregate};

/// The texts of `rows` (sample indices), ordered: bases, then tags `[row, t]`, then attributes
/// `[row, a]`. With `typos = Some((p, rng))` each text is typo-augmented independently (SPEC §7).
pub fn row_texts(
    c: &Candidates,
    rows: &[usize],
    mut typos: Option<(f64, &mut Rng)>,
) -> Vec<String> {
    let mut aug = |s: &str| match typos.as_mut() {
        Some((p, rng)) => typo(s, *p, rng),
        None => s.to_string(),
    };
    // The base prompt always (an empty one is encoded as start and end tokens, SPEC §7).
    let mut out: Vec<String> = rows.iter().map(|_| aug(&c.base)).collect();
    for &i in rows {
        out.extend(c.tags[i].iter().map(|s| aug(s)));
    }
    for &i in rows {
        out.extend(c.attributes[i].iter().map(|s| aug(s)));
    }
    out
}

/// Unit-norm RTA text features of `n` rows from their texts (in [`row_texts`] order): each text
/// through the frozen prefix (or the cache, with its text byte budget) and the trainable last block, then aggregated.
#[allow(clippy::too_many_arguments)]
pub fn text_features(
    frozen: &Frozen,
    trainable: &Trainable,
    tokenizer: &ClipTokenizer,
    c: &Candidates,
    n: usize,
    texts: &[String],
    cache: Option<(&mut PrefixCache, usize)>,
    rta: &RtaConfig,
    device: &Device,
) -> Result<Tensor<2>, String> {
    let tokens = tokenizer.batch(texts).map_err(|e| e.to_string())?;
    let z = encode_by_length(frozen, trainable, &tokens, cache, device);
    let d = z.dims()[1];
    let (t, a) = (c.tags[0].len(), c.attributes[0].len());
    let b0 = n;
    let base = Some(z.clone().slice([0..n, 0..d]));
    let tags = z.clone().slice([b0..b0 + n * t, 0..d]).reshape([n, t, d]);
    let attrs = z
        .slice([b0 + n * t..b0 + n * t + n * a, 0..d])
        .reshape([n, a, d]);
    Ok(aggregate(base, tags, attrs, rta))
}

/// Unit-norm features of every row of `tokens`, in row order. Rows are encoded in groups of
/// similar length, each padded only to its own longest (exact, see `Tokens::length_groups`):
/// with lexicon-like texts it halved the `small` benchmark step (docs/FINETUNE.md).
pub fn encode_by_length(
    frozen: &Frozen,
    trainable: &Trainable,
    tokens: &Tokens,
    mut cache: Option<(&mut PrefixCache, usize)>,
    device: &Device,
) -> Tensor<2> {
    let n = tokens.batch();
    // At most about 8 groups: each group is one pass of the last block (kernel launches on a GPU).
    let groups = tokens.length_groups((n / 8).max(32));
    let mut parts = Vec::with_capacity(groups.len());
    for rows in &groups {
        let sub = tokens.select(rows);
        let before = match cache.as_mut() {
            Some((cache, budget)) => cache.texts(frozen, &sub, *budget, device),
            None => frozen.text_prefix(&sub, device),
        };
        parts.push(trainable.text_features(frozen, before, &sub.eos));
    }
    let z = Tensor::cat(parts, 0);
    // Row k of `z` is text `order[k]`; put the rows back in text order.
    let mut back = vec![0i64; n];
    for (k, &i) in groups.iter().flatten().enumerate() {
        back[i] = k as i64;
    }
    let back = Tensor::<1, Int>::from_data(TensorData::new(back, [n]), &z.device());
    z.select(0, back)
}

/// Unit-norm image features of `[n, 3, s, s]` pixels given as host values.
pub fn image_features_from_pixels(
    frozen: &Frozen,
    trainable: &Trainable,
    pixels: Vec<f32>,
    size: usize,
    device: &Device,
) -> Tensor<2> {
    let n = pixels.len() / (3 * size * size);
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, size, size]), device);
    trainable.image_features(frozen, frozen.image_prefix(x))
}
