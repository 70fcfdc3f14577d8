//! A trained fine-tune run on images after training: predictions for any images, and the
//! re-evaluation of the run's own unlabelled and test images (`ssr2 predict`, `ssr2 eval`).

use super::data::Candidates;
use super::model::{Frozen, Trainable, split};
use super::train::{Ctx, Inputs, meta_dataset, score_test};
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::eval::{Embedded, Evaluation, score};
use burn::prelude::*;
use ssr2_clip::ClipTokenizer;
use ssr2_data::ImageList;
use std::path::Path;

/// The run's model: `inputs`' CLIP split as in training, with the trained part (`weights`: its
/// heads.safetensors, `classes` clusters) loaded; and the inputs' texts.
struct Loaded {
    frozen: Frozen,
    trainable: Trainable,
    size: usize,
    dims: [usize; 2],
    tokenizer: Option<ClipTokenizer>,
    images: ImageList,
    candidates: Option<Candidates>,
    test: Option<(ImageList, Option<Candidates>)>,
}

impl Loaded {
    fn new(
        inputs: Inputs,
        classes: usize,
        weights: &Path,
        device: &Device,
    ) -> Result<Self, String> {
        let use_text = inputs.check_texts()?;
        let Inputs {
            clip,
            tokenizer,
            images,
            candidates,
            test,
        } = inputs;
        let size = clip.vision.image_size;
        let dims = clip.vision.positions.dims();
        let (frozen, mut trainable) = split(clip, classes, use_text, 0, device);
        checkpoint::load_heads(weights, &mut trainable).map_err(|e| e.to_string())?;
        Ok(Loaded {
            frozen,
            trainable,
            size,
            dims,
            tokenizer,
            images,
            candidates,
            test,
        })
    }

    /// The forward context over `images` with `texts`.
    fn ctx<'a>(
        &'a self,
        cfg: &'a TrainConfig,
        images: &ImageList,
        texts: Option<&'a Candidates>,
    ) -> Ctx<'a> {
        Ctx::new(
            cfg,
            self.tokenizer.as_ref(),
            texts,
            images,
            self.size,
            self.dims,
        )
    }
}

/// The trained model on every image of `inputs`, with the test transform and no text
/// augmentation: features, logits and predictions in the images' order. `done` hears how many
/// images are finished.
pub fn predict(
    inputs: Inputs,
    cfg: &TrainConfig,
    classes: usize,
    weights: &Path,
    device: &Device,
    done: &mut dyn FnMut(usize),
) -> Result<Embedded, String> {
    let m = Loaded::new(inputs, classes, weights, device)?;
    let ctx = m.ctx(cfg, &m.images, m.candidates.as_ref());
    let all: Vec<usize> = (0..m.images.items.len()).collect();
    let [classes, dim] = m.trainable.image_head.weight.dims();
    let mut out = Embedded::start(&[], classes, dim, m.candidates.is_some());
    // Chunks of a few evaluation batches, so the caller can show progress.
    for chunk in all.chunks(cfg.finetune.eval_batch.max(1) * 4) {
        out.append(ctx.embed(&m.frozen, &m.trainable, chunk, None, device)?);
        done(chunk.len());
    }
    Ok(out)
}

/// The run's scores recomputed: transductive on the unlabelled images of `inputs`, inductive on
/// its test images when it has them (the same passes as the end of training).
pub fn evaluate(
    inputs: Inputs,
    cfg: &TrainConfig,
    classes: usize,
    weights: &Path,
    device: &Device,
) -> Result<(Evaluation, Option<Evaluation>), String> {
    let m = Loaded::new(inputs, classes, weights, device)?;
    let ds = meta_dataset(&m.images);
    let ctx = m.ctx(cfg, &m.images, m.candidates.as_ref());
    let emb = ctx.embed(
        &m.frozen,
        &m.trainable,
        &ds.unlabelled_indices(),
        None,
        device,
    )?;
    let train = score(emb, &ds, &cfg.eval);
    let model = (&m.frozen, &m.trainable);
    let [tokens, hidden] = m.dims;
    let shape = [m.size, tokens, hidden];
    let test = match &m.test {
        Some(t) => Some(score_test(
            cfg,
            m.tokenizer.as_ref(),
            t,
            model,
            shape,
            device,
        )?),
        None => None,
    };
    Ok((train, test))
}
