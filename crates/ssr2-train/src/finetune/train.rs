//! Fine-tune mode (SPEC §4-8) for the shared epoch loop (`epochs.rs`): online image views from
//! the loader threads (or the prefix cache), two typo-augmented text views per step, evaluation
//! of the unlabelled set through the fine-tuned encoders.

use super::cache::{ImageKey, PrefixCache};
use super::data::Candidates;
use super::forward::{image_features_from_pixels, row_texts, text_features};
use super::loader::{ImageLoader, Job, Prefetch};
use super::model::{Frozen, Trainable, split};
use super::views::{pool_seed, view_seed};
use crate::TrainError;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::epochs::{Mode, Run, run_epochs};
use crate::epochs::{Progress, RunDir};
use crate::eval::{Embedded, Evaluation, rta_config, score};
use crate::objective::ModalityOut;
use crate::replicas::Devices;
use crate::report::RunReport;
use crate::report::{build_report, provenance, scores, write_run};
use crate::rng::Rng;
use burn::prelude::*;
use ssr2_clip::{Clip, ClipTokenizer};
use ssr2_core::rta::RtaConfig;
use ssr2_data::{Dataset, ImageList, Matrix};
use std::ops::Range;
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
/// SHA-256 of a CLIP folder (`config.json`, then `model.safetensors`): the model's identity in
/// bundles (`clip_sha256`) and fine-tune reports.
pub fn clip_folder_sha256(dir: &std::path::Path) -> Result<String, String> {
    ssr2_data::files_sha256(&[&dir.join("config.json"), &dir.join("model.safetensors")])
        .map_err(|e| e.to_string())
}

/// SHA-256 of the CLIP folder a fine-tune run starts from; `None` for the synthetic weights of
/// the benchmarks.
pub fn clip_sha256(cfg: &TrainConfig) -> Result<Option<String>, String> {
    cfg.finetune
        .model
        .as_deref()
        .map(|dir| clip_folder_sha256(std::path::Path::new(dir)))
        .transpose()
}

/// SHA-256 of a fine-tune run's candidates file; `None` without one (image-only).
pub fn candidates_sha256(cfg: &TrainConfig) -> Result<Option<String>, String> {
    let Some(path) = &cfg.finetune.candidates else {
        return Ok(None);
    };
    ssr2_data::files_sha256(&[std::path::Path::new(path)])
        .map(Some)
        .map_err(|e| e.to_string())
}

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
        self.encode_texts(frozen, trainable, rows.len(), &texts, cache, device)
    }

    /// RTA text features of `n` rows from their texts (in `row_texts` order).
    fn encode_texts(
        &self,
        frozen: &Frozen,
        trainable: &Trainable,
        n: usize,
        texts: &[String],
        cache: Option<&mut PrefixCache>,
        device: &Device,
    ) -> Result<Tensor<2>, String> {
        let c = self.candidates.expect("text branch has candidates");
        let tok = self.tokenizer.expect("tokenizer");
        let budget = self.cfg.finetune.text_cache_mib << 20;
        text_features(
            frozen,
            trainable,
            tok,
            c,
            n,
            texts,
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
) -> Result<Outcome, TrainError> {
    finetune_on(inputs, cfg, seed, &Devices::one(device), run_dir, progress)
}

/// [`finetune`] with each batch split over `devices` (the first holds the model, `replicas.rs`);
/// the images are loaded for the whole batch and each device gets its shard.
pub fn finetune_on(
    inputs: Inputs,
    cfg: &TrainConfig,
    seed: u64,
    devices: &Devices,
    run_dir: Option<RunDir>,
    progress: &mut dyn Progress,
) -> Result<Outcome, TrainError> {
    let device = devices.main();
    let ds = inputs.meta_dataset();
    crate::epochs::check_run(cfg, &ds, devices)?;
    let use_text = inputs.check_texts().map_err(TrainError::Config)?;
    let Inputs {
        clip,
        tokenizer,
        images,
        candidates,
        test,
    } = inputs;
    let unlabelled = ds.unlabelled_indices();
    let b = cfg.optim.batch_size;
    let config_toml = cfg.to_toml();
    let data_sha256 = ssr2_data::dataset_sha256(&ds);
    let id = checkpoint::Identity {
        seed,
        config_toml: &config_toml,
        data_sha256: &data_sha256,
    };
    let ad = device.clone().autodiff();
    let size = clip.vision.image_size;
    let [tokens, hidden] = clip.vision.positions.dims();
    let clip = clip.fork(&ad);
    let (classes, _) = crate::clusters::resolve(cfg, &ds, seed).map_err(TrainError::Config)?;
    // No draw from the device's generator: the classifiers come from `seed` through our own
    // generator and the rest is the loaded CLIP, so every device starts from the same weights.
    let (frozen, trainable) = split(clip, classes, use_text, seed, &ad);
    let ctx = Ctx::new(
        cfg,
        tokenizer.as_ref(),
        candidates.as_ref(),
        &images,
        size,
        [tokens, hidden],
    );
    let ft = &cfg.finetune;
    let mut stats = Stats::default();
    let mut cache = None;
    if ft.cache {
        let t = Instant::now();
        cache = Some(
            fill_cache(&ctx, &frozen.valid(), seed, ds.len(), &unlabelled, device)
                .map_err(TrainError::Input)?,
        );
        stats.cache_seconds = t.elapsed().as_secs_f64();
    }
    let run = Run {
        cfg,
        ds: &ds,
        use_text,
        devices,
        run_dir: run_dir.as_ref(),
        id,
    };
    let mut mode = Finetune {
        ctx: &ctx,
        ds: &ds,
        frozen: &frozen,
        frozen_copies: devices.fork(&frozen),
        use_text,
        cache,
        unlabelled: &unlabelled,
        seed,
        device,
        plan: Vec::new(),
        prefetch: None,
        text_rng: Rng::derive(seed, 0, 1),
        waited: Duration::ZERO,
        stats: &mut stats,
    };
    let trained = run_epochs(&mut mode, trainable, &run, progress)?;
    let (trainable, ev) = (trained.model, trained.eval);
    let (cache, waited) = (mode.cache, mode.waited);
    let mut report = build_report(&ds, cfg, seed, use_text, trained.history, &ev);
    if let Some(t) = &test {
        let model = (&frozen.valid(), &trainable.valid());
        let ev = score_test(
            cfg,
            tokenizer.as_ref(),
            t,
            model,
            [size, tokens, hidden],
            device,
        )
        .map_err(TrainError::Input)?;
        report.test_scores = Some(scores(&ev));
    }
    let mut prov = provenance(&id, device);
    prov.clip_sha256 = clip_sha256(cfg).map_err(TrainError::Input)?;
    prov.candidates_sha256 = candidates_sha256(cfg).map_err(TrainError::Input)?;
    report.provenance = Some(prov);
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
        epoch_losses: trained.epoch_losses,
        step_losses: trained.step_losses,
    })
}

/// One batch of fine-tune mode: its `B` samples' image keys and pixels (none when they come from
/// the cache) for both views, rows `0..B` view 0 and `B..2B` view 1, and, with texts, every text
/// of those rows in `row_texts` order.
struct TuneBatch {
    samples: usize,
    keys: Vec<ImageKey>,
    pixels: Option<Vec<f32>>,
    texts: Option<Vec<String>>,
}

/// The texts of rows `picked` out of `texts`, the `row_texts` of `n` rows: bases, then each row's
/// tags, then each row's attributes.
fn shard_texts(texts: &[String], n: usize, c: &Candidates, picked: &[usize]) -> Vec<String> {
    let (t, a) = (c.tags[0].len(), c.attributes[0].len());
    let mut out: Vec<String> = picked.iter().map(|&i| texts[i].clone()).collect();
    for &i in picked {
        out.extend_from_slice(&texts[n + i * t..n + (i + 1) * t]);
    }
    for &i in picked {
        out.extend_from_slice(&texts[n + n * t + i * a..n + n * t + (i + 1) * a]);
    }
    out
}

/// Fine-tune mode: the last CLIP blocks, projections and heads on image views from the loader
/// threads (or the prefix cache) and typo-augmented texts.
struct Finetune<'a> {
    ctx: &'a Ctx<'a>,
    ds: &'a Dataset,
    frozen: &'a Frozen,
    /// The frozen towers on the other devices, in order.
    frozen_copies: Vec<Frozen>,
    use_text: bool,
    cache: Option<PrefixCache>,
    unlabelled: &'a [usize],
    seed: u64,
    device: &'a Device,
    /// The epoch's image keys and loader jobs, per batch.
    plan: Vec<(Vec<ImageKey>, Vec<Job>)>,
    prefetch: Option<Prefetch>,
    text_rng: Rng,
    waited: Duration,
    stats: &'a mut Stats,
}

impl Mode for Finetune<'_> {
    type Model = Trainable;

    fn embed_unlabelled(&mut self, model: &Trainable) -> Result<Embedded, TrainError> {
        let (f, t) = (self.frozen.valid(), model.valid());
        self.ctx
            .embed(&f, &t, self.unlabelled, self.cache.as_mut(), self.device)
            .map_err(TrainError::Input)
    }

    fn start_epoch(&mut self, epoch: usize, batches: &[Vec<usize>]) -> Result<(), TrainError> {
        let (seed, b, views) = (
            self.seed,
            self.ctx.cfg.optim.batch_size,
            self.ctx.cfg.finetune.views,
        );
        self.text_rng = Rng::derive(seed, epoch as u64, 1);
        // Both views of each sample: rows 0..B are view 0, rows B..2B view 1.
        // Each draw (position in the epoch's sampled sequence) gets its own views.
        self.plan = batches
            .iter()
            .enumerate()
            .map(|(bi, idx)| {
                (0..2)
                    .flat_map(|slot| idx.iter().enumerate().map(move |(r, &i)| (r, i, slot)))
                    .map(|(r, i, slot)| {
                        let (s, k) = view_seed(seed, epoch, bi * b + r, i, slot, views);
                        let job = Job {
                            sample: i,
                            seed: Some(s),
                        };
                        ((i, k), job)
                    })
                    .unzip()
            })
            .collect();
        self.prefetch = match &self.cache {
            Some(_) => None,
            None => {
                let jobs = self.plan.iter().map(|p| p.1.clone()).collect();
                Some(self.ctx.loader.prefetch(jobs, 2))
            }
        };
        Ok(())
    }

    type Batch = TuneBatch;

    fn batch(&mut self, bi: usize, idx: &[usize]) -> Result<TuneBatch, TrainError> {
        let pixels = match self.prefetch.as_mut() {
            Some(p) => Some(p.next_batch().map_err(TrainError::Input)?),
            None => None,
        };
        // Every text of both views, typos drawn for the whole batch.
        let texts = self.use_text.then(|| {
            let rows: Vec<usize> = idx.iter().chain(idx.iter()).copied().collect();
            let c = self.ctx.candidates.expect("text branch has candidates");
            let p = self.ctx.cfg.finetune.typo_prob;
            row_texts(c, &rows, Some((p, &mut self.text_rng)))
        });
        Ok(TuneBatch {
            samples: idx.len(),
            keys: self.plan[bi].0.clone(),
            pixels,
            texts,
        })
    }

    fn encode(
        &mut self,
        model: &Trainable,
        batch: &TuneBatch,
        rows: Range<usize>,
        replica: usize,
        device: &Device,
    ) -> Result<(ModalityOut, Option<ModalityOut>), TrainError> {
        let frozen = match replica {
            0 => self.frozen,
            r => &self.frozen_copies[r - 1],
        };
        // Positions in the batch's `2 B` image rows: `rows` of view 0, then of view 1.
        let b = batch.samples;
        let picked: Vec<usize> = rows.clone().chain(rows.start + b..rows.end + b).collect();
        let keys: Vec<ImageKey> = picked.iter().map(|&i| batch.keys[i]).collect();
        let pixels = batch.pixels.as_ref().map(|p| {
            let per = p.len() / (2 * b);
            picked
                .iter()
                .flat_map(|&i| p[i * per..(i + 1) * per].iter().copied())
                .collect()
        });
        let cache = self.cache.as_ref();
        let z_img = self
            .ctx
            .image_features(frozen, model, &keys, pixels, cache, device);
        let image = ModalityOut {
            logits: model.image_head.forward(z_img.clone()),
            z: z_img,
        };
        let text = match (&model.text_head, &batch.texts) {
            (Some(head), Some(texts)) => {
                let c = self.ctx.candidates.expect("text branch has candidates");
                let mine = shard_texts(texts, 2 * b, c, &picked);
                let z = self
                    .ctx
                    .encode_texts(
                        frozen,
                        model,
                        picked.len(),
                        &mine,
                        self.cache.as_mut(),
                        device,
                    )
                    .map_err(TrainError::Input)?;
                Some(ModalityOut {
                    logits: head.forward(z.clone()),
                    z,
                })
            }
            _ => None,
        };
        Ok((image, text))
    }

    fn end_epoch(&mut self, steps: usize, train_seconds: f64) {
        if let Some(p) = self.prefetch.take() {
            self.waited += p.waited;
        }
        self.stats.steps += steps;
        self.stats.step_seconds += train_seconds;
    }

    fn is_head(&self, path: &str) -> bool {
        path.starts_with("image_head") || path.starts_with("text_head")
    }

    fn evaluate(&mut self, model: &Trainable) -> Result<Evaluation, TrainError> {
        let emb = self.embed_unlabelled(model)?;
        Ok(score(emb, self.ds, &self.ctx.cfg.eval))
    }
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
