//! Features mode (adapters and heads on precomputed features) and what both modes share around
//! the epoch loop (`epochs.rs`): co-teaching selection, batch labels, epoch records, the report.

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::epochs::{Mode, Run, run_epochs};
use crate::eval::{Embedded, Evaluation, embed, evaluate, rta_config};
use crate::inputs::{TextRows, image_rows, image_views_input, text_rows};
use crate::model::HeadModel;
use crate::objective::{BatchContext, ModalityOut, TERM_NAMES};
use crate::optim::{Sgd, cosine_lr};
use crate::replicas::Devices;
use crate::report::*;
use crate::rng::Rng;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use ssr2_core::coteach::{SELECT_FRACTION, confidence, select_confident};
use ssr2_core::loss::cluster::teacher_temperature;
use ssr2_core::loss::ssr2::BatchLabels;
use ssr2_core::rta::RtaConfig;
use ssr2_data::Dataset;
use std::collections::HashMap;
use std::path::Path;
use std::ops::Range;
use std::time::Instant;

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
) -> Result<(), String> {
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
        return Err(format!("stopped after epoch {epoch}; resume to continue"));
    }
    Ok(())
}

/// The trainer's failure: one line for the user.
pub type TrainError = String;

/// Train one seed on `ds` and return its report (also written to the run directory, if any).
pub fn train(
    ds: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    device: &Device,
    run_dir: Option<RunDir>,
    progress: &mut dyn Progress,
) -> Result<RunReport, TrainError> {
    train_on(ds, cfg, seed, &Devices::one(device), run_dir, progress)
}

/// [`train`] with each batch split over `devices` (the first holds the model; `replicas.rs`).
/// The step is the one-device step: the same run, up to float rounding.
pub fn train_on(
    ds: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    devices: &Devices,
    run_dir: Option<RunDir>,
    progress: &mut dyn Progress,
) -> Result<RunReport, TrainError> {
    let device = devices.main();
    cfg.validate()?;
    check_devices(cfg, devices)?;
    ds.validate().map_err(|e| e.to_string())?;
    crate::augment::check_pixel_augment(&cfg.augment, ds.image.cols)?;
    if ds.unlabelled_indices().is_empty() {
        return Err(format!(
            "dataset `{}` has no unlabelled samples to discover classes in",
            ds.name
        ));
    }
    if ds.len() < cfg.optim.batch_size {
        return Err(format!(
            "optim.batch_size = {} exceeds the {} samples of `{}`",
            cfg.optim.batch_size,
            ds.len(),
            ds.name
        ));
    }
    let config_toml = cfg.to_toml();
    let data_sha256 = ssr2_data::dataset_sha256(ds);
    let id = checkpoint::Identity {
        seed,
        config_toml: &config_toml,
        data_sha256: &data_sha256,
    };
    let use_text = cfg.model.use_text && ds.text.is_some();
    let ad = device.clone().autodiff();
    let (classes, k_estimate) = crate::clusters::resolve(cfg, ds, seed)?;
    let mut model = crate::rng::seeded_init(&ad, seed, |host| {
        HeadModel::for_dataset(&cfg.model, ds, classes, use_text, host)
    })?;
    model.fit_input_norm(&ds.image.data, ds.image.cols, &ad);

    let run = Run {
        cfg,
        ds,
        use_text,
        devices,
        run_dir: run_dir.as_ref(),
        id,
    };
    let mut mode = Features {
        cfg,
        ds,
        seed,
        use_text,
        rta: rta_config(&cfg.rta),
        device,
        aug_rng: Rng::derive(seed, 0, 1),
    };
    let trained = run_epochs(&mut mode, model, &run, progress)?;
    let (model, ev) = (trained.model, trained.eval);
    let mut report = build_report(ds, cfg, seed, use_text, trained.history, &ev);
    // Inductive: the final model on the held-out samples, never seen in training.
    report.test_scores = ds
        .test
        .as_ref()
        .map(|t| scores(&evaluate(&model.valid(), t, &cfg.rta, &cfg.eval, device)));
    report.provenance = Some(provenance(&id, device));
    report.k_estimate = k_estimate;
    report.inference = inference_block(&model.valid(), &ev, cfg.eval.max_inference_values);
    if let Some(dir) = &run_dir {
        write_run(dir.path, &report, &config_toml, &model.valid())?;
    }
    Ok(report)
}

/// Refuses what several devices cannot train exactly: a batch norm normalises over the batch,
/// so each device would normalise its own shard; a shard needs a sample.
pub fn check_devices(cfg: &TrainConfig, devices: &Devices) -> Result<(), String> {
    let k = devices.len();
    if k == 1 {
        return Ok(());
    }
    if cfg.model.adapter == crate::config::AdapterKind::Cnn {
        return Err(format!(
            "model.adapter = \"cnn\" normalises over the batch (batch norm), so {k} devices would \
             each normalise their own shard and train another model; train it on one device"
        ));
    }
    if cfg.optim.batch_size < k {
        return Err(format!(
            "optim.batch_size = {} is smaller than the {k} devices: each needs a sample a batch",
            cfg.optim.batch_size
        ));
    }
    Ok(())
}

/// One batch of features mode: both views of the image rows and, with texts, of the text rows.
struct FeatureBatch {
    image: [Vec<f32>; 2],
    text: Option<[TextRows; 2]>,
}

/// Features mode: adapters and heads on precomputed features; views are feature-space
/// augmentations of the stored features.
struct Features<'a> {
    cfg: &'a TrainConfig,
    ds: &'a Dataset,
    seed: u64,
    use_text: bool,
    rta: RtaConfig,
    device: &'a Device,
    aug_rng: Rng,
}

impl Mode for Features<'_> {
    type Model = HeadModel;

    fn embed_unlabelled(&mut self, model: &HeadModel) -> Result<Embedded, String> {
        let idx = self.ds.unlabelled_indices();
        Ok(embed(
            &model.valid(),
            self.ds,
            &idx,
            &self.cfg.rta,
            self.device,
        ))
    }

    fn start_epoch(&mut self, epoch: usize, _batches: &[Vec<usize>]) -> Result<(), String> {
        self.aug_rng = Rng::derive(self.seed, epoch as u64, 1);
        Ok(())
    }

    type Batch = FeatureBatch;

    fn batch(&mut self, _bi: usize, idx: &[usize]) -> Result<FeatureBatch, String> {
        let (ds, aug, rng) = (self.ds, &self.cfg.augment, &mut self.aug_rng);
        // Drawn in this order since the first release: image views, then text views.
        let image = [(); 2].map(|_| image_rows(ds, idx, Some((aug, &mut *rng))));
        let text = self
            .use_text
            .then(|| [(); 2].map(|_| text_rows(ds, idx, Some((aug, &mut *rng)))));
        Ok(FeatureBatch { image, text })
    }

    fn encode(
        &mut self,
        model: &HeadModel,
        batch: &FeatureBatch,
        rows: Range<usize>,
        _replica: usize,
        device: &Device,
    ) -> Result<(ModalityOut, Option<ModalityOut>), String> {
        let [v0, v1] = &batch.image;
        let views = [(v0.as_slice(), rows.clone()), (v1.as_slice(), rows.clone())];
        let x = image_views_input(&views, self.ds.image.cols, device);
        let z_img = model.image.adapter.forward(x);
        let image = ModalityOut {
            logits: model.image.head.forward(z_img.clone()),
            z: z_img,
        };
        let text = batch.text.as_ref().map(|[t0, t1]| {
            let input = t0.input(&[(t0, rows.clone()), (t1, rows.clone())], device);
            let z = model.embed_text(input, &self.rta);
            let head = &model.text.as_ref().expect("text branch").head;
            ModalityOut {
                logits: head.forward(z.clone()),
                z,
            }
        });
        Ok((image, text))
    }

    fn is_head(&self, path: &str) -> bool {
        path.contains("head")
    }

    fn evaluate(&mut self, model: &HeadModel) -> Result<Evaluation, String> {
        let (cfg, ds) = (self.cfg, self.ds);
        Ok(evaluate(
            &model.valid(),
            ds,
            &cfg.rta,
            &cfg.eval,
            self.device,
        ))
    }
}

/// Pseudo-labels chosen by one branch: `sample index -> class`.
pub(crate) type Selection = HashMap<usize, usize>;

/// Batch `idx` (each sample twice: two views) with its labels and the co-teaching pseudo-labels
/// each branch learns from the other's `selected` (image, text) choice; the text branch learns
/// from the image branch only when `coteach_text`.
pub(crate) fn batch_context(
    ds: &Dataset,
    idx: &[usize],
    selected: (&Option<Selection>, &Option<Selection>),
    coteach_text: bool,
    warmup: bool,
    teacher_temp: f64,
) -> BatchContext {
    let (by_image, by_text) = selected;
    let rows = |sel: &Selection| -> Vec<Option<usize>> {
        idx.iter()
            .chain(idx.iter())
            .map(|i| sel.get(i).copied())
            .collect()
    };
    BatchContext {
        labels: BatchLabels {
            labelled: idx.iter().map(|&i| ds.labelled[i]).collect(),
            labels: idx.iter().map(|&i| ds.labels[i]).collect(),
        },
        pseudo_for_image: by_text.as_ref().map(rows),
        pseudo_for_text: by_image.as_ref().filter(|_| coteach_text).map(rows),
        warmup,
        teacher_temp,
    }
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

/// The co-teaching selection before an epoch, when `active` (after warm-up, text branch on):
/// from the previous epoch's evaluation, which embedded the unlabelled set with the current
/// weights; only the first epoch after a resume calls `embed`.
pub(crate) fn coteach_selection<E>(
    active: bool,
    last: Option<&Evaluation>,
    embed: impl FnOnce() -> Result<Embedded, E>,
    device: &Device,
) -> Result<(Option<Selection>, Option<Selection>), E> {
    if !active {
        return Ok((None, None));
    }
    let fresh;
    let emb = match last {
        Some(ev) => &ev.embedded,
        None => {
            fresh = embed()?;
            &fresh
        }
    };
    Ok(select_pseudo_labels(emb, device))
}

/// SPEC §6: per class, the most confident unlabelled samples of each branch, chosen by the image
/// branch and by the text branch, from the logits of the unlabelled set.
pub(crate) fn select_pseudo_labels(
    emb: &Embedded,
    device: &Device,
) -> (Option<Selection>, Option<Selection>) {
    let idx = &emb.indices;
    let k = emb.classes;
    let pick = |logits: &[f32]| -> Selection {
        let n = logits.len() / k;
        let logits = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [n, k]), device);
        let scores = confidence(logits)
            .try_into_vec_as::<f32>()
            .expect("synchronous read");
        select_confident(&scores, n, k, SELECT_FRACTION)
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (idx[i], c)))
            .collect()
    };
    let by_image = pick(&emb.logits_image);
    let by_text = emb.logits_text.as_deref().map(pick);
    (Some(by_image), by_text)
}

pub(crate) fn epoch_eval(ev: &Evaluation) -> EpochEval {
    EpochEval {
        scores: scores(ev),
        rank_old: finite(ev.ranks.old_mean),
        rank_new: finite(ev.ranks.new_mean),
        edge_ratio_all: finite(ev.edges.all),
        edge_ratio_old: finite(ev.edges.old),
        edge_ratio_new: finite(ev.edges.new),
    }
}

/// All / Old / New of an evaluation, as the report stores them (`None` for an empty part).
pub fn scores(ev: &Evaluation) -> Scores {
    Scores {
        all: ev.accuracy.all,
        old: finite(ev.accuracy.old),
        new: finite(ev.accuracy.new),
        n: ev.accuracy.n,
    }
}

/// Where a run came from; the evaluation is always the last epoch's.
pub(crate) fn provenance(id: &checkpoint::Identity, device: &Device) -> Provenance {
    Provenance {
        tool_version: format!("ssr2 {}", env!("CARGO_PKG_VERSION")),
        git_commit: env!("SSR2_GIT_COMMIT").to_string(),
        config_sha256: ssr2_data::sha256_hex(id.config_toml.as_bytes()),
        data_sha256: id.data_sha256.to_string(),
        heads_sha256: None,
        clip_sha256: None,
        candidates_sha256: None,
        device: format!("{device:?}"),
        evaluation: "last epoch, no model selection; final_scores: transductive (the unlabelled \
                     training samples); test_scores: inductive (the held-out test split)"
            .into(),
    }
}

pub(crate) fn build_report(
    ds: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    use_text: bool,
    history: Vec<EpochRecord>,
    ev: &Evaluation,
) -> RunReport {
    let e = &ev.embedded;
    let n = e.indices.len();
    let keep = n.min(cfg.eval.max_projection);
    let step = n.div_ceil(keep.max(1)).max(1);
    let sub: Vec<usize> = (0..n).step_by(step).collect();
    let rows: Vec<f32> = sub
        .iter()
        .flat_map(|&i| e.z_image[i * e.dim..(i + 1) * e.dim].iter().copied())
        .collect();
    let (explained, x, y) = pca_2d(&rows, sub.len(), e.dim);
    let mut modalities = vec!["image".to_string()];
    if use_text {
        modalities.push("text".into());
    }
    RunReport {
        format: REPORT_FORMAT.into(),
        version: REPORT_VERSION,
        created_by: format!("ssr2 {}", env!("CARGO_PKG_VERSION")),
        seed,
        dataset: DatasetInfo {
            name: ds.name.clone(),
            num_classes: ds.num_classes(),
            num_old: ds.num_old,
            class_names: ds.class_names.clone(),
            n_train: ds.len(),
            n_labelled: ds.labelled_indices().len(),
            n_unlabelled: n,
            n_test: ds.test.as_ref().map_or(0, |t| t.len()),
            modalities,
        },
        config: serde_json::to_value(cfg).expect("config serialises"),
        history,
        final_scores: scores(ev),
        test_scores: None,
        rank_old_mean: finite(ev.ranks.old_mean),
        rank_new_mean: finite(ev.ranks.new_mean),
        class_ranks: ev
            .ranks
            .classes
            .iter()
            .map(|c| ClassRank {
                class: c.class,
                old: c.class < ds.num_old,
                count: c.count,
                effective_rank: c.effective_rank,
                singular_values: c.singular_values.clone(),
            })
            .collect(),
        edge_ratio: epoch_eval(ev),
        mapping: ev.accuracy.dense_mapping(mapping_max_id(ev)),
        projection: Projection {
            method: "pca".into(),
            explained,
            x,
            y,
            label: sub.iter().map(|&i| ev.labels[i]).collect(),
            pred: sub.iter().map(|&i| e.preds[i]).collect(),
            id: sub
                .iter()
                .map(|&i| ds.sample_ids[e.indices[i]].clone())
                .collect(),
        },
        heads: "heads.safetensors".into(),
        inference: None,
        provenance: None,
        clusters: (e.classes != ds.num_classes()).then_some(e.classes),
        k_estimate: None,
        thumbnails: thumbnails(ds, ev, cfg.eval.thumbnails),
    }
}

/// The first `per_cluster` evaluated images of each predicted cluster, when the inputs are
/// square single-channel images (pixel values in [0, 1]).
fn thumbnails(ds: &Dataset, ev: &Evaluation, per_cluster: usize) -> Option<Thumbnails> {
    let d = ds.image.cols;
    let side = crate::augment::image_side(d).filter(|_| per_cluster > 0)?;
    let e = &ev.embedded;
    let mut taken = vec![0usize; e.classes];
    let mut samples = Vec::new();
    for (k, &i) in e.indices.iter().enumerate() {
        let cluster = e.preds[k];
        if taken[cluster] == per_cluster {
            continue;
        }
        taken[cluster] += 1;
        let pixels = ds.image.data[i * d..(i + 1) * d]
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        samples.push(Thumbnail {
            cluster,
            label: ds.labels[i],
            id: ds.sample_ids[i].clone(),
            pixels,
        });
    }
    Some(Thumbnails { side, samples })
}

/// The report's `inference` block, or `None` when `n x d` exceeds `max_values`.
pub fn inference_block(model: &HeadModel, ev: &Evaluation, max_values: usize) -> Option<Inference> {
    let e = &ev.embedded;
    let n = e.indices.len();
    if n == 0 || n * e.dim > max_values {
        return None;
    }
    let branch = |b: &crate::model::Branch, features: &[f32]| InferenceBranch {
        features: features.to_vec(),
        weight: b.head.weight.val().try_into_vec_as::<f32>().expect("read"),
        gain: b.head.gain.val().try_into_vec_as::<f32>().expect("read"),
    };
    let text = match (&model.text, &e.z_text) {
        (Some(b), Some(z)) => Some(branch(b, z)),
        _ => None,
    };
    Some(Inference {
        n,
        dim: e.dim,
        classes: e.classes,
        labels: ev.labels.clone(),
        pred: e.preds.clone(),
        image: branch(&model.image, &e.z_image),
        text,
    })
}

/// Write `report.json`, `heads.safetensors` and `config.toml` into `dir`, each atomically;
/// the report records the heads' SHA-256, so a reader can tell another run's heads.
pub fn write_run<M: Module>(
    dir: &Path,
    report: &RunReport,
    config_toml: &str,
    model: &M,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), TrainError> {
        ssr2_data::write_atomic(&dir.join(name), bytes).map_err(|e| e.to_string())
    };
    let tmp = dir.join("partial-heads.safetensors");
    model
        .save_into(&mut SafetensorsStore::from_file(&tmp).overwrite(true))
        .map_err(|e| format!("{}: {e:?}", tmp.display()))?;
    let heads = std::fs::read(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("heads.safetensors"))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut report = report.clone();
    if let Some(p) = report.provenance.as_mut() {
        p.heads_sha256 = Some(ssr2_data::sha256_hex(&heads));
    }
    write("config.toml", config_toml.as_bytes())?;
    write(
        "report.json",
        serde_json::to_string_pretty(&report)
            .expect("report serialises")
            .as_bytes(),
    )
}

/// The largest class or cluster id of an evaluation (the dense mapping's last index).
fn mapping_max_id(ev: &Evaluation) -> usize {
    ev.labels
        .iter()
        .chain(ev.accuracy.mapping.iter().map(|(p, _)| p))
        .copied()
        .max()
        .unwrap_or(0)
}
