//! The one epoch loop of every training mode (SPEC §4-8): co-teaching selection before each
//! epoch after warm-up, the epoch's sampled batches, both views through the mode's encoders, the
//! loss, the SGD step, then evaluation and a checkpoint after each epoch. A mode supplies only
//! its encoders, views and inputs ([`Mode`]); features mode is `trainer.rs`, fine-tune mode
//! `finetune/train.rs`.

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::eval::{Embedded, Evaluation};
use crate::objective::{ModalityOut, TERM_NAMES, batch_loss};
use crate::optim::Sgd;
use crate::report::EpochRecord;
use crate::rng::Rng;
use crate::sampler::epoch_batches;
use crate::trainer::{
    Checkpointing, EpochEnd, Progress, RunDir, batch_context, coteach_selection, end_epoch,
    epoch_rates,
};
use crate::replicas::{Devices, join, merge_grads, shard_ranges};
use burn::prelude::*;
use ssr2_data::Dataset;
use std::ops::Range;
use std::time::Instant;

/// What a training mode supplies to [`run_epochs`].
pub(crate) trait Mode {
    /// The trained part, stepped by SGD and checkpointed after each epoch.
    type Model: Module;
    /// Embeddings of the unlabelled samples: co-teaching's selection when no evaluation of the
    /// previous epoch is at hand (the first epoch after warm-up, or after a resume).
    fn embed_unlabelled(&mut self, model: &Self::Model) -> Result<Embedded, String>;
    /// Before the epoch's first step, with its batches (view plans, loader threads, RNGs).
    fn start_epoch(&mut self, epoch: usize, batches: &[Vec<usize>]) -> Result<(), String>;
    /// One batch's inputs, both views drawn for the whole batch, so that they do not depend on
    /// how the batch is split across devices.
    type Batch;
    /// The inputs of batch `bi` (samples `idx`).
    fn batch(&mut self, bi: usize, idx: &[usize]) -> Result<Self::Batch, String>;
    /// Samples `rows` (positions in the batch) of both views through the image branch and,
    /// with texts, the text branch of `model` on `device` (autodiff), the copy of replica
    /// `replica`: rows of view 0, then the same rows of view 1.
    fn encode(
        &mut self,
        model: &Self::Model,
        batch: &Self::Batch,
        rows: Range<usize>,
        replica: usize,
        device: &Device,
    ) -> Result<(ModalityOut, Option<ModalityOut>), String>;
    /// After the epoch's last step, with its step count and the steps' wall time.
    fn end_epoch(&mut self, _steps: usize, _train_seconds: f64) {}
    /// True for a classifier head's parameter (head learning rate); the rest is backbone.
    fn is_head(&self, path: &str) -> bool;
    /// Evaluation on the unlabelled set.
    fn evaluate(&mut self, model: &Self::Model) -> Result<Evaluation, String>;
}

/// The run the epochs belong to.
pub(crate) struct Run<'a> {
    pub cfg: &'a TrainConfig,
    pub ds: &'a Dataset,
    pub use_text: bool,
    /// The devices each batch is split over; the first holds the model (see `replicas.rs`).
    pub devices: &'a Devices,
    /// Checkpoints go there (and a resume starts from there) when given.
    pub run_dir: Option<&'a RunDir<'a>>,
    pub id: checkpoint::Identity<'a>,
}

/// What the epochs leave behind.
pub(crate) struct Trained<M> {
    pub model: M,
    /// Every epoch's record, restored ones included.
    pub history: Vec<EpochRecord>,
    /// The evaluation of the final model: the last epoch's, or a fresh one when no epoch ran
    /// (resumed after the last epoch).
    pub eval: Evaluation,
    /// Mean total loss of each epoch run here (fine-tune mode reports it).
    #[cfg_attr(not(feature = "finetune"), allow(dead_code))]
    pub epoch_losses: Vec<f64>,
    /// Total loss of every step run here (fine-tune mode reports it).
    #[cfg_attr(not(feature = "finetune"), allow(dead_code))]
    pub step_losses: Vec<f64>,
}

/// Batch `bi` through `model` and its `copies`, one shard a device, joined on the first.
fn forward<M: Mode>(
    mode: &mut M,
    model: &M::Model,
    copies: &[M::Model],
    devices: &Devices,
    bi: usize,
    idx: &[usize],
) -> Result<(ModalityOut, Option<ModalityOut>), String> {
    let batch = mode.batch(bi, idx)?;
    let main = devices.main().clone().autodiff();
    let mut parts = Vec::with_capacity(devices.len());
    for (r, rows) in shard_ranges(idx.len(), devices.len()).into_iter().enumerate() {
        let (m, device) = match r {
            0 => (model, main.clone()),
            _ => (&copies[r - 1], devices.all()[r].clone().autodiff()),
        };
        parts.push(mode.encode(m, &batch, rows, r, &device)?);
    }
    Ok(join(parts, &main))
}

/// Train `model` through `run`'s epochs (from its checkpoint when resuming).
pub(crate) fn run_epochs<M: Mode>(
    mode: &mut M,
    mut model: M::Model,
    run: &Run,
    progress: &mut dyn Progress,
) -> Result<Trained<M::Model>, String> {
    let (cfg, o, seed) = (run.cfg, &run.cfg.optim, run.id.seed);
    let mut sgd = Sgd {
        momentum: o.momentum,
        weight_decay: o.weight_decay,
        ..Sgd::default()
    };
    let (mut start, mut history) = (0, Vec::new());
    if let Some(dir) = run.run_dir.filter(|d| d.resume)
        && let Some((next, done)) =
            checkpoint::resume(dir.path, run.id, o.epochs, &mut model, &mut sgd, run.devices.main())?
    {
        start = next;
        history = done;
    }
    let ckpt = Checkpointing {
        run_dir: run.run_dir,
        id: run.id,
    };
    let mut last_eval: Option<Evaluation> = None;
    let (mut epoch_losses, mut step_losses) = (Vec::new(), Vec::new());
    for epoch in start..o.epochs {
        let started = Instant::now();
        let warmup = o.is_warmup(epoch);
        let selected = coteach_selection(
            run.use_text && !warmup,
            last_eval.as_ref(),
            || mode.embed_unlabelled(&model),
            run.devices.main(),
        )?;
        let (lr_head, teacher_temp) = epoch_rates(cfg, epoch);
        let batches = epoch_batches(
            &run.ds.labelled,
            o.batch_size,
            &mut Rng::derive(seed, epoch as u64, 0),
        );
        mode.start_epoch(epoch, &batches)?;
        progress.epoch_start(epoch, o.epochs, batches.len());
        let mut sums = vec![0.0f64; TERM_NAMES.len()];
        let steps_started = Instant::now();
        for (bi, idx) in batches.iter().enumerate() {
            let copies = run.devices.fork(&model);
            let (image, text) = forward(mode, &model, &copies, run.devices, bi, idx)?;
            let ctx = batch_context(
                run.ds,
                idx,
                (&selected.0, &selected.1),
                o.coteach_text(epoch),
                warmup,
                teacher_temp,
            );
            let loss = batch_loss(&image, text.as_ref(), &ctx, &cfg.loss, o.batch_size)
                .map_err(|e| format!("epoch {epoch}, batch {bi}: {e}"))?;
            let mut grads = merge_grads(&mut loss.total.backward(), &model, &copies, run.devices);
            drop(copies);
            model = sgd.step(model, &mut grads, &|path: &str| {
                if mode.is_head(path) {
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
        mode.end_epoch(batches.len(), train_seconds);
        epoch_losses.push(sums[0] / batches.len().max(1) as f64);
        let ev = mode.evaluate(&model)?;
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
        end_epoch(
            end,
            &mut history,
            progress,
            &ckpt,
            &model.valid(),
            &sgd,
            last,
        )?;
        last_eval = Some(ev);
    }
    let eval = match last_eval {
        Some(ev) => ev,
        None => mode.evaluate(&model)?,
    };
    Ok(Trained {
        model,
        history,
        eval,
        epoch_losses,
        step_losses,
    })
}
