//! The fine-tune epoch loop (SPEC §4-8): online image views from the loader threads (or the
//! prefix cache), two typo-augmented text views per step, the co-teaching selection pass before
//! each epoch after warm-up, evaluation on the unlabelled set every epoch, per-epoch checkpoints.

use super::cache::{ImageKey, PrefixCache};
use super::data::Candidates;
use super::forward::{image_features_from_pixels, row_texts, text_features};
use super::loader::{ImageLoader, Job};
use super::model::{Frozen, Trainable, split};
use super::views::{pool_seed, view_seed};
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::eval::{Embedded, Evaluation, rta_config, score};
use crate::objective::{ModalityOut, TERM_NAMES, batch_loss};
use crate::optim::Sgd;
use crate::report::{EpochRecord, RunReport};
use crate::rng::Rng;
use crate::sampler::epoch_batches;
use crate::trainer::{
    Checkpointing, EpochEnd, Progress, RunDir, batch_context, build_report, coteach_selection,
    end_epoch, epoch_rates, provenance, scores, write_run,
};
use burn::optim::GradientsParams;
use burn::prelude::*;
use ssr2_clip::{Clip, ClipTokenizer};
use ssr2_core::rta::RtaConfig;
use ssr2_data::{Dataset, ImageList, Matrix};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a fine-tune run starts from.
pub struct Inputs {
    pub clip: Clip,
    /// Needed with candidates.
    pub tokenizer: Option<ClipTokenizer>,
    pub images: ImageList,
    /// RTA texts per image; `None` = image-only.
    pub candidates: Option<Candidates>,
    /// The held-out test images (and their texts, with candidates), scored inductively after
    /// the last epoch; never trained on.
    pub test: Option<(ImageList, Option<Candidates>)>,
}

/// Measured costs of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub steps: usize,
    /// Wall time of the training steps (loader waits included).
    pub step_seconds: f64,
    /// Time the steps waited for the loader (device idle on the CPU).
    pub loader_wait_seconds: f64,
    /// Time to fill the prefix cache (0 without it).
    pub cache_seconds: f64,
    pub cache_bytes: usize,
    /// Training images per second (two views of each sample count as two images).
    pub images_per_second: f64,
}

/// The result of a run: report, final model parts, costs.
pub struct Outcome {
    pub report: RunReport,
    pub frozen: Frozen,
    pub trainable: Trainable,
    pub stats: Stats,
    /// Mean total loss of each epoch run in this call.
    pub epoch_losses: Vec<f64>,
    /// Total loss of every step run in this call.
    pub step_losses: Vec<f64>,
}

/// The `Dataset` the report and metrics read (no features: fine-tune mode works on images).
pub(super) fn meta_dataset(images: &ImageList) -> Dataset {
    let n = images.items.len();
    Dataset {
        name: images.name.clone(),
        class_names: images.class_names.clone(),
        num_old: images.num_old,
        image: Matrix::new(n, 0, Vec::new()),
        image_views: None,
        image_pooled: None,
        text: None,
        labels: images.items.iter().map(|it| it.label).collect(),
        labelled: images.labelled.clone(),
        sample_ids: images.items.iter().map(|it| it.id.clone()).collect(),
        test: None,
    }
}

impl Inputs {
    /// Whether the text branch runs (the images have retrieved texts); refuses texts without a
    /// tokenizer, and test images whose texts do not match the training images'.
    pub(super) fn check_texts(&self) -> Result<bool, String> {
        let use_text = self.candidates.is_some();
        if use_text && self.tokenizer.is_none() {
            return Err("finetune.candidates: texts need the model's tokenizer.json".into());
        }
        if let Some((_, texts)) = &self.test
            && texts.is_some() != use_text
        {
            return Err(
                "finetune: the test images need retrieved texts exactly when the \
                        training images have them"
                    .into(),
            );
        }
        Ok(use_text)
    }

    /// The `Dataset` of the images and their test part (ids, labels, labelled mask; no
    /// features): what reports, metrics and the data hash read.
    pub(super) fn meta_dataset(&self) -> Dataset {
        let mut ds = meta_dataset(&self.images);
        ds.test = self.test.as_ref().map(|(t, _)| Box::new(meta_dataset(t)));
        ds
    }
}

/// The content hash a fine-tune run records for its images (ids, labels, labelled mask, test
/// split): what `ssr2 eval` checks before re-scoring a run.
pub fn data_sha256(inputs: &Inputs) -> String {
    ssr2_data::dataset_sha256(&inputs.meta_dataset())
}

/// Everything a forward pass needs besides the model.
pub(super) struct Ctx<'a> {
    cfg: &'a TrainConfig,
    tokenizer: Option<&'a ClipTokenizer>,
    candidates: Option<&'a Candidates>,
    loader: Arc<ImageLoader>,
    rta: RtaConfig,
    size: usize,
    tokens: usize,
    hidden: usize,
}

impl<'a> Ctx<'a> {
    /// The context of `images` for a model of input size `size` with `tokens x hidden` vision
    /// block inputs.
    pub(super) fn new(
        cfg: &'a TrainConfig,
        tokenizer: Option<&'a ClipTokenizer>,
        candidates: Option<&'a Candidates>,
        images: &ImageList,
        size: usize,
        [tokens, hidden]: [usize; 2],
    ) -> Self {
        let ft = &cfg.finetune;
        let resize = if ft.resize == 0 {
            (size * 256 / 224) as u32
        } else {
            ft.resize
        };
        Ctx {
            cfg,
            tokenizer,
            candidates,
            loader: Arc::new(ImageLoader {
                items: Arc::new(images.items.iter().map(|it| it.source.clone()).collect()),
                size: size as u32,
                resize,
                workers: ft.workers,
            }),
            rta: rta_config(&cfg.rta),
            size,
            tokens,
            hidden,
        }
    }

    /// Image features of `keys`/`jobs`: from the cache when given, else from pixels.
    fn image_features(
        &self,
        frozen: &Frozen,
        trainable: &Trainable,
        keys: &[ImageKey],
        pixels: Option<Vec<f32>>,
        cache: Option<&PrefixCache>,
        device: &Device,
    ) -> Tensor<2> {
        match (cache, pixels) {
            (_, Some(p)) => image_features_from_pixels(frozen, trainable, p, self.size, device),
            (Some(c), None) => {
                trainable.image_features(frozen, c.images(keys, self.tokens, self.hidden, device))
            }
            (None, None) => unreachable!("pixels or cache"),
        }
    }

    fn texts(
        &self,
        frozen: &Frozen,
        trainable: &Trainable,
        rows: &[usize],
        typos: Option<&mut Rng>,
        cache: Option<&mut PrefixCache>,
        device: &Device,
    ) -> Result<Tensor<2>, String> {
        let c = self.candidates.expect("text branch has candidates");
        let p = self.cfg.finetune.typo_prob;
        let texts = row_texts(c, rows, typos.map(|r| (p, r)));
        let tok = self.tokenizer.expect("tokenizer");
        let budget = self.cfg.finetune.text_cache_mib << 20;
        text_features(
            frozen,
            trainable,
            tok,
            c,
            rows.len(),
            &texts,
            cache.map(|c| (c, budget)),
            &self.rta,
            device,
        )
    }

    /// SPEC §6/§2: both branches over `idx` with the test transform and no text augmentation.
    pub(super) fn embed(
        &self,
        frozen: &Frozen,
        trainable: &Trainable,
        idx: &[usize],
        mut cache: Option<&mut PrefixCache>,
        device: &Device,
    ) -> Result<Embedded, String> {
        let [classes, dim] = trainable.image_head.weight.dims();
        let mut out = Embedded::start(idx, classes, dim, trainable.text_head.is_some());
        for chunk in idx.chunks(self.cfg.finetune.eval_batch) {
            let keys: Vec<ImageKey> = chunk.iter().map(|&i| (i, None)).collect();
            let pixels = match &cache {
                Some(_) => None,
                None => {
                    let jobs: Vec<Job> = chunk
                        .iter()
                        .map(|&i| Job {
                            sample: i,
                            seed: None,
                        })
                        .collect();
                    Some(self.loader.load(&jobs)?)
                }
            };
            let z = self.image_features(frozen, trainable, &keys, pixels, cache.as_deref(), device);
            let li = trainable.image_head.forward(z.clone());
            let text = match &trainable.text_head {
                Some(head) => {
                    let zt =
                        self.texts(frozen, trainable, chunk, None, cache.as_deref_mut(), device)?;
                    Some((zt.clone(), head.forward(zt)))
                }
                None => None,
            };
            out.push(z, li, text);
        }
        Ok(out)
    }
}

/// Fill the cache with every pre-drawn view of every sample and the test view of the
/// unlabelled samples.
fn fill_cache(
    ctx: &Ctx,
    frozen: &Frozen,
    seed: u64,
    n: usize,
    unlabelled: &[usize],
    device: &Device,
) -> Result<PrefixCache, String> {
    let mut cache = PrefixCache::default();
    let views = ctx.cfg.finetune.views;
    let mut all: Vec<(ImageKey, Job)> = Vec::new();
    for i in 0..n {
        for k in 0..views {
            let job = Job {
                sample: i,
                seed: Some(pool_seed(seed, i, k)),
            };
            all.push(((i, Some(k)), job));
        }
    }
    all.extend(unlabelled.iter().map(|&i| {
        (
            (i, None),
            Job {
                sample: i,
                seed: None,
            },
        )
    }));
    let s = ctx.size;
    for chunk in all.chunks(ctx.cfg.finetune.eval_batch) {
        let jobs: Vec<Job> = chunk.iter().map(|c| c.1).collect();
        let keys: Vec<ImageKey> = chunk.iter().map(|c| c.0).collect();
        let pixels = ctx.loader.load(&jobs)?;
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [jobs.len(), 3, s, s]), device);
        cache.put_images(frozen, &keys, x);
    }
    Ok(cache)
}

/// Train one seed in fine-tune mode.
pub fn finetune(
    inputs: Inputs,
    cfg: &TrainConfig,
    seed: u64,
    device: &Device,
    run_dir: Option<RunDir>,
    progress: &mut dyn Progress,
) -> Result<Outcome, String> {
    cfg.validate()?;
    let use_text = inputs.check_texts()?;
    let ds = inputs.meta_dataset();
    let Inputs {
        clip,
        tokenizer,
        images,
        candidates,
        test,
    } = inputs;
    ds.validate().map_err(|e| e.to_string())?;
    let unlabelled = ds.unlabelled_indices();
    if unlabelled.is_empty() {
        return Err(format!("dataset `{}` has no unlabelled samples", ds.name));
    }
    let o = &cfg.optim;
    let b = o.batch_size;
    if ds.len() < b {
        return Err(format!(
            "optim.batch_size = {b} exceeds the {} images of `{}`",
            ds.len(),
            ds.name
        ));
    }
    let config_toml = cfg.to_toml();
    let data_sha256 = ssr2_data::dataset_sha256(&ds);
    let id = checkpoint::Identity {
        seed,
        config_toml: &config_toml,
        data_sha256: &data_sha256,
    };
    let ad = device.clone().autodiff();
    ad.seed(seed);
    let size = clip.vision.image_size;
    let [tokens, hidden] = clip.vision.positions.dims();
    let clip = clip.fork(&ad);
    let (classes, _) = crate::clusters::resolve(cfg, &ds, seed)?;
    let (frozen, mut trainable) = split(clip, classes, use_text, seed, &ad);
    let ctx = Ctx::new(
        cfg,
        tokenizer.as_ref(),
        candidates.as_ref(),
        &images,
        size,
        [tokens, hidden],
    );
    let ft = &cfg.finetune;
    let mut sgd = Sgd {
        momentum: o.momentum,
        weight_decay: o.weight_decay,
        ..Sgd::default()
    };
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut start = 0;
    if let Some(dir) = run_dir.as_ref().filter(|d| d.resume)
        && let Some((next, done)) = checkpoint::resume(
            dir.path,
            id,
            cfg.optim.epochs,
            &mut trainable,
            &mut sgd,
            device,
        )?
    {
        start = next;
        history = done;
    }
    let mut stats = Stats::default();
    let mut cache = None;
    if ft.cache {
        let t = Instant::now();
        cache = Some(fill_cache(
            &ctx,
            &frozen.valid(),
            seed,
            ds.len(),
            &unlabelled,
            device,
        )?);
        stats.cache_seconds = t.elapsed().as_secs_f64();
    }
    let mut last_eval: Option<Evaluation> = None;
    let mut epoch_losses = Vec::new();
    let mut step_losses = Vec::new();
    let mut waited = Duration::ZERO;
    let ckpt = Checkpointing {
        run_dir: run_dir.as_ref(),
        id,
    };
    for epoch in start..o.epochs {
        let started = Instant::now();
        let warmup = o.is_warmup(epoch);
        let (by_image, by_text) = coteach_selection(
            use_text && !warmup,
            last_eval.as_ref(),
            || {
                let (f, t) = (frozen.valid(), trainable.valid());
                ctx.embed(&f, &t, &unlabelled, cache.as_mut(), device)
            },
            device,
        )?;
        let (lr_head, teacher_temp) = epoch_rates(cfg, epoch);
        let l = &cfg.loss;
        let batches = epoch_batches(&ds.labelled, b, &mut Rng::derive(seed, epoch as u64, 0));
        let mut text_rng = Rng::derive(seed, epoch as u64, 1);
        // Both views of each sample: rows 0..B are view 0, rows B..2B view 1.
        // Each draw (position in the epoch's sampled sequence) gets its own views.
        let plan: Vec<(Vec<ImageKey>, Vec<Job>)> = batches
            .iter()
            .enumerate()
            .map(|(bi, idx)| {
                (0..2)
                    .flat_map(|slot| idx.iter().enumerate().map(move |(r, &i)| (r, i, slot)))
                    .map(|(r, i, slot)| {
                        let (s, k) = view_seed(seed, epoch, bi * b + r, i, slot, ft.views);
                        (
                            (i, k),
                            Job {
                                sample: i,
                                seed: Some(s),
                            },
                        )
                    })
                    .unzip()
            })
            .collect();
        let mut prefetch = match &cache {
            Some(_) => None,
            None => Some(
                ctx.loader
                    .prefetch(plan.iter().map(|p| p.1.clone()).collect(), 2),
            ),
        };
        progress.epoch_start(epoch, o.epochs, batches.len());
        let mut sums = vec![0.0f64; TERM_NAMES.len()];
        let steps_started = Instant::now();
        for (bi, idx) in batches.iter().enumerate() {
            let pixels = match prefetch.as_mut() {
                Some(p) => Some(p.next_batch()?),
                None => None,
            };
            let z_img = ctx.image_features(
                &frozen,
                &trainable,
                &plan[bi].0,
                pixels,
                cache.as_ref(),
                &ad,
            );
            let image = ModalityOut {
                logits: trainable.image_head.forward(z_img.clone()),
                z: z_img,
            };
            let text = match &trainable.text_head {
                Some(head) => {
                    let rows: Vec<usize> = idx.iter().chain(idx.iter()).copied().collect();
                    let z = ctx.texts(
                        &frozen,
                        &trainable,
                        &rows,
                        Some(&mut text_rng),
                        cache.as_mut(),
                        &ad,
                    )?;
                    Some(ModalityOut {
                        logits: head.forward(z.clone()),
                        z,
                    })
                }
                None => None,
            };
            let coteach_text = o.coteach_text(epoch);
            let ctx_b = batch_context(
                &ds,
                idx,
                (&by_image, &by_text),
                coteach_text,
                warmup,
                teacher_temp,
            );
            let loss = batch_loss(&image, text.as_ref(), &ctx_b, l, b)
                .map_err(|e| format!("epoch {epoch}, batch {bi}: {e}"))?;
            let mut grads = GradientsParams::from_grads(loss.total.backward(), &trainable);
            trainable = sgd.step(trainable, &mut grads, &|path: &str| {
                if path.starts_with("image_head") || path.starts_with("text_head") {
                    lr_head
                } else {
                    o.lr_backbone
                }
            });
            let terms = loss
                .terms
                .try_into_vec_as::<f32>()
                .expect("synchronous read");
            if !terms[0].is_finite() {
                return Err(format!(
                    "the loss became {} at epoch {epoch}, batch {bi}; lower the learning rates",
                    terms[0]
                ));
            }
            step_losses.push(terms[0] as f64);
            sums.iter_mut()
                .zip(&terms)
                .for_each(|(s, t)| *s += *t as f64);
            progress.batch_done(bi);
        }
        let train_seconds = steps_started.elapsed().as_secs_f64();
        if let Some(p) = &prefetch {
            waited += p.waited;
        }
        prefetch.take();
        stats.steps += batches.len();
        stats.step_seconds += train_seconds;
        epoch_losses.push(sums[0] / batches.len().max(1) as f64);
        let emb = ctx.embed(
            &frozen.valid(),
            &trainable.valid(),
            &unlabelled,
            cache.as_mut(),
            device,
        )?;
        let ev = score(emb, &ds, &cfg.eval);
        let end = EpochEnd {
            epoch,
            lr_head,
            lr_backbone: o.lr_backbone,
            teacher_temp,
            loss_sums: &sums,
            batches: batches.len(),
            eval: &ev,
            train_seconds,
            started,
        };
        let last = epoch + 1 == o.epochs;
        let model = trainable.valid();
        end_epoch(end, &mut history, progress, &ckpt, &model, &sgd, last)?;
        last_eval = Some(ev);
    }
    let ev = match last_eval {
        Some(ev) => ev,
        None => score(
            ctx.embed(
                &frozen.valid(),
                &trainable.valid(),
                &unlabelled,
                cache.as_mut(),
                device,
            )?,
            &ds,
            &cfg.eval,
        ),
    };
    let mut report = build_report(&ds, cfg, seed, use_text, history, &ev);
    if let Some(t) = &test {
        let model = (&frozen.valid(), &trainable.valid());
        let ev = score_test(
            cfg,
            tokenizer.as_ref(),
            t,
            model,
            [size, tokens, hidden],
            device,
        )?;
        report.test_scores = Some(scores(&ev));
    }
    report.provenance = Some(provenance(&id, device));
    if let Some(dir) = &run_dir {
        write_run(dir.path, &report, &config_toml, &trainable.valid())?;
    }
    stats.loader_wait_seconds = waited.as_secs_f64();
    stats.cache_bytes = cache.as_ref().map_or(0, PrefixCache::bytes);
    stats.images_per_second = (stats.steps * 2 * b) as f64 / stats.step_seconds.max(1e-9);
    Ok(Outcome {
        report,
        frozen,
        trainable,
        stats,
        epoch_losses,
        step_losses,
    })
}

/// Inductive: the model on the held-out images and their texts (test transform, no cache),
/// scored on its own; `shape` = the model's input size and vision block input `tokens x hidden`.
pub(super) fn score_test(
    cfg: &TrainConfig,
    tokenizer: Option<&ClipTokenizer>,
    (images, texts): &(ImageList, Option<Candidates>),
    (frozen, trainable): (&Frozen, &Trainable),
    [size, tokens, hidden]: [usize; 3],
    device: &Device,
) -> Result<Evaluation, String> {
    let ctx = Ctx::new(
        cfg,
        tokenizer,
        texts.as_ref(),
        images,
        size,
        [tokens, hidden],
    );
    let all: Vec<usize> = (0..images.items.len()).collect();
    let emb = ctx.embed(frozen, trainable, &all, None, device)?;
    Ok(score(emb, &meta_dataset(images), &cfg.eval))
}
