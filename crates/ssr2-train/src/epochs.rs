//! The one epoch loop of every training mode (SPEC §4-8): co-teaching selection before each
//! epoch after warm-up, the epoch's sampled batches, both views through the mode's encoders, the
//! loss, the SGD step, then evaluation and a checkpoint after each epoch. A mode supplies only
//! its encoders, views and inputs ([`Mode`]); features mode is `features/`, fine-tune mode
//! `finetune/train.rs`.

use crate::TrainError;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::eval::{Embedded, Evaluation};
use crate::objective::{ModalityOut, TERM_NAMES, batch_loss};
use crate::optim::Sgd;
use crate::optim::cosine_lr;
use crate::replicas::{Devices, join, merge_grads, shard_ranges};
use crate::report::{EpochRecord, epoch_eval};
use crate::rng::Rng;
use crate::sampler::epoch_batches;
use crate::selection::{Selection, batch_context, coteach_selection};
use burn::prelude::*;
use ssr2_core::loss::cluster::teacher_temperature;
use ssr2_data::Dataset;
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

/// What a training mode supplies to [`run_epochs`].
pub(crate) trait Mode {
    /// The trained part, stepped by SGD and checkpointed after each epoch.
    type Model: Module;
    /// Embeddings of the unlabelled samples: co-teaching's selection when no evaluation of the
    /// previous epoch is at hand (the first epoch after warm-up, or after a resume).
    fn embed_unlabelled(&mut self, model: &Self::Model) -> Result<Embedded, TrainError>;
    /// Before the epoch's first step, with its batches (view plans, loader threads, RNGs).
    fn start_epoch(&mut self, epoch: usize, batches: &[Vec<usize>]) -> Result<(), TrainError>;
    /// One batch's inputs, both views drawn for the whole batch, so that they do not depend on
    /// how the batch is split across devices.
    type Batch;
    /// The inputs of batch `bi` (samples `idx`).
    fn batch(&mut self, bi: usize, idx: &[usize]) -> Result<Self::Batch, TrainError>;
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
    ) -> Result<(ModalityOut, Option<ModalityOut>), TrainError>;
    /// After the epoch's last step, with its step count and the steps' wall time.
    fn end_epoch(&mut self, _steps: usize, _train_seconds: f64) {}
    /// True for a classifier head's parameter (head learning rate); the rest is backbone.
    fn is_head(&self, path: &str) -> bool;
    /// Evaluation on the unlabelled set.
    fn evaluate(&mut self, model: &Self::Model) -> Result<Evaluation, TrainError>;
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
) -> Result<(ModalityOut, Option<ModalityOut>), TrainError> {
    let batch = mode.batch(bi, idx)?;
    let main = devices.main().clone().autodiff();
    let mut parts = Vec::with_capacity(devices.len());
    for (r, rows) in shard_ranges(idx.len(), devices.len())
        .into_iter()
        .enumerate()
    {
        let (m, device) = match r {
            0 => (model, main.clone()),
            _ => (&copies[r - 1], devices.all()[r].clone().autodiff()),
        };
        parts.push(mode.encode(m, &batch, rows, r, &device)?);
    }
    Ok(join(parts, &main))
}

/// Where a step is in the run, and the epoch's rates.
#[derive(Clone, Copy)]
struct Step {
    epoch: usize,
    bi: usize,
    warmup: bool,
    lr_head: f64,
    teacher_temp: f64,
}

/// One SGD step on batch `idx` (SPEC §4-6): both views forward (split over the devices), the
/// loss with co-teaching's pseudo-labels, gradients, the update. Returns the stepped model and
/// the loss terms ([`TERM_NAMES`] order); a non-finite loss stops the run.
fn step<M: Mode>(
    mode: &mut M,
    model: M::Model,
    sgd: &mut Sgd,
    run: &Run,
    selected: &(Option<Selection>, Option<Selection>),
    at: Step,
    idx: &[usize],
) -> Result<(M::Model, Vec<f32>), TrainError> {
    let (o, Step { epoch, bi, .. }) = (&run.cfg.optim, at);
    let copies = run.devices.fork(&model);
    let (image, text) = forward(mode, &model, &copies, run.devices, bi, idx)?;
    let ctx = batch_context(
        run.ds,
        idx,
        (&selected.0, &selected.1),
        o.coteach_text(epoch),
        at.warmup,
        at.teacher_temp,
    );
    let loss = batch_loss(&image, text.as_ref(), &ctx, &run.cfg.loss, o.batch_size)
        .map_err(|e| TrainError::Config(format!("epoch {epoch}, batch {bi}: {e}")))?;
    let mut grads = merge_grads(&mut loss.total.backward(), &model, &copies, run.devices);
    drop(copies);
    let model = sgd.step(model, &mut grads, &|path: &str| {
        if mode.is_head(path) {
            at.lr_head
        } else {
            o.lr_backbone
        }
    });
    let terms = loss
        .terms
        .try_into_vec_as::<f32>()
        .expect("synchronous read");
    if !terms[0].is_finite() {
        return Err(TrainError::Diverged {
            epoch,
            batch: bi,
            value: terms[0],
        });
    }
    Ok((model, terms))
}

/// What every mode refuses before its first epoch: settings out of range, what several devices
/// cannot train exactly, inconsistent data, no unlabelled samples, or fewer samples than a batch.
pub(crate) fn check_run(
    cfg: &TrainConfig,
    ds: &Dataset,
    devices: &Devices,
) -> Result<(), TrainError> {
    cfg.validate().map_err(TrainError::Config)?;
    devices.check(cfg).map_err(TrainError::Config)?;
    ds.validate().map_err(|e| TrainError::Data(e.to_string()))?;
    if ds.unlabelled_indices().is_empty() {
        return Err(TrainError::Data(format!(
            "dataset `{}` has no unlabelled samples to discover classes in",
            ds.name
        )));
    }
    if ds.len() < cfg.optim.batch_size {
        return Err(TrainError::Config(format!(
            "optim.batch_size = {} exceeds the {} samples of `{}`",
            cfg.optim.batch_size,
            ds.len(),
            ds.name
        )));
    }
    Ok(())
}

/// Train `model` through `run`'s epochs (from its checkpoint when resuming).
pub(crate) fn run_epochs<M: Mode>(
    mode: &mut M,
    mut model: M::Model,
    run: &Run,
    progress: &mut dyn Progress,
) -> Result<Trained<M::Model>, TrainError> {
    let (cfg, o, seed) = (run.cfg, &run.cfg.optim, run.id.seed);
    let mut sgd = Sgd {
        momentum: o.momentum,
        weight_decay: o.weight_decay,
        ..Sgd::default()
    };
    let (mut start, mut history) = (0, Vec::new());
    if let Some(dir) = run.run_dir.filter(|d| d.resume)
        && let Some((next, done)) = checkpoint::resume(
            dir.path,
            run.id,
            o.epochs,
            &mut model,
            &mut sgd,
            run.devices.main(),
        )?
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
            let at = Step {
                epoch,
                bi,
                warmup,
                lr_head,
                teacher_temp,
            };
            let terms;
            (model, terms) = step(mode, model, &mut sgd, run, &selected, at, idx)?;
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

/// Callbacks for progress display (progress bars natively, nothing in tests).
pub trait Progress {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    fn batch_done(&mut self, _batch: usize) {}
    fn epoch_end(&mut self, _record: &EpochRecord) {}
    /// Asked after each epoch's checkpoint: true stops the run there (it can be resumed).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// No output.
pub struct Silent;
impl Progress for Silent {}

/// Where a run keeps its checkpoint and writes its report.
pub struct RunDir<'a> {
    pub path: &'a Path,
    /// Continue from the last checkpoint in `path` if there is one.
    pub resume: bool,
}

/// Where and with what the per-epoch checkpoints are written (none without a run directory).
pub(crate) struct Checkpointing<'a> {
    pub run_dir: Option<&'a RunDir<'a>>,
    pub id: checkpoint::Identity<'a>,
}

/// What an epoch measured, in either mode; [`end_epoch`] turns it into the report's record.
pub(crate) struct EpochEnd<'a> {
    pub epoch: usize,
    pub lr_head: f64,
    pub lr_backbone: f64,
    pub teacher_temp: f64,
    /// Each loss term summed over the epoch's batches, in [`TERM_NAMES`] order.
    pub loss_sums: &'a [f64],
    pub batches: usize,
    pub eval: &'a Evaluation,
    /// Wall time of the training steps alone (not the selection pass or the evaluation).
    pub train_seconds: f64,
    pub started: Instant,
}

/// The end of an epoch in both modes: report it, keep it in the history, checkpoint `model`,
/// and stop early (resumably) when asked, unless it was the last epoch.
pub(crate) fn end_epoch<M: Module>(
    end: EpochEnd,
    history: &mut Vec<EpochRecord>,
    progress: &mut dyn Progress,
    ckpt: &Checkpointing,
    model: &M,
    sgd: &Sgd,
    last: bool,
) -> Result<(), TrainError> {
    let nb = end.batches.max(1) as f64;
    let record = EpochRecord {
        epoch: end.epoch,
        lr_head: end.lr_head,
        lr_backbone: end.lr_backbone,
        teacher_temp: end.teacher_temp,
        loss: TERM_NAMES
            .iter()
            .zip(end.loss_sums)
            .map(|(n, s)| (n.to_string(), s / nb))
            .collect(),
        eval: epoch_eval(end.eval),
        train_seconds: end.train_seconds,
        seconds: end.started.elapsed().as_secs_f64(),
    };
    let epoch = record.epoch;
    progress.epoch_end(&record);
    history.push(record);
    if let Some(dir) = ckpt.run_dir {
        checkpoint::save(dir.path, epoch, ckpt.id, model, sgd, history)?;
    }
    if !last && progress.should_stop() {
        return Err(TrainError::Stopped { epoch });
    }
    Ok(())
}

/// Head learning rate (cosine decay) and teacher temperature (ramp) of `epoch` (SPEC §8).
pub(crate) fn epoch_rates(cfg: &TrainConfig, epoch: usize) -> (f64, f64) {
    let (o, l) = (&cfg.optim, &cfg.loss);
    let lr_head = cosine_lr(o.lr_head, o.lr_head_min, epoch, o.epochs);
    let teacher_temp = teacher_temperature(
        epoch,
        l.teacher_temp_start,
        l.teacher_temp_end,
        l.teacher_temp_epochs,
    );
    (lr_head, teacher_temp)
}
