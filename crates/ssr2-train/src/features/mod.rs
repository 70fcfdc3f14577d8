//! Features mode: the adapters and cosine heads (`ssr2-head`) trained on extracted features,
//! whose views are feature-space augmentations of the stored rows (SPEC §5, §8). Its inputs are
//! `inputs.rs`, its augmentations `augment.rs`; the loop is `epochs.rs`.

pub mod augment;
pub mod eval;
pub mod inputs;

pub use eval::{embed, evaluate};
pub use inputs::heads_for;

use crate::TrainError;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::epochs::{Mode, Progress, Run, RunDir, run_epochs};
use crate::eval::{Embedded, Evaluation, rta_config};
use crate::objective::ModalityOut;
use crate::replicas::Devices;
use crate::report::{RunReport, build_report, inference_block, provenance, scores, write_run};
use crate::rng::Rng;
use burn::prelude::*;
use inputs::{TextRows, image_rows, image_views_input, text_rows};
use ssr2_core::rta::RtaConfig;
use ssr2_data::Dataset;
use ssr2_head::HeadModel;
use std::ops::Range;

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
    crate::epochs::check_run(cfg, ds, devices)?;
    augment::check_pixel_augment(&cfg.augment, ds.image.cols).map_err(TrainError::Config)?;
    let config_toml = cfg.to_toml();
    let data_sha256 = ssr2_data::dataset_sha256(ds);
    let id = checkpoint::Identity {
        seed,
        config_toml: &config_toml,
        data_sha256: &data_sha256,
    };
    let use_text = cfg.model.use_text && ds.text.is_some();
    let ad = device.clone().autodiff();
    let (classes, k_estimate) =
        crate::clusters::resolve(cfg, ds, seed).map_err(TrainError::Config)?;
    let mut model = crate::rng::seeded_init(&ad, seed, |host| {
        heads_for(&cfg.model, ds, classes, use_text, host)
    })
    .map_err(TrainError::Config)?;
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
    report.dataset.image_dim = Some(ds.image.cols);
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

    fn embed_unlabelled(&mut self, model: &HeadModel) -> Result<Embedded, TrainError> {
        let idx = self.ds.unlabelled_indices();
        Ok(embed(
            &model.valid(),
            self.ds,
            &idx,
            &self.cfg.rta,
            self.device,
        ))
    }

    fn start_epoch(&mut self, epoch: usize, _batches: &[Vec<usize>]) -> Result<(), TrainError> {
        self.aug_rng = Rng::derive(self.seed, epoch as u64, 1);
        Ok(())
    }

    type Batch = FeatureBatch;

    fn batch(&mut self, _bi: usize, idx: &[usize]) -> Result<FeatureBatch, TrainError> {
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
    ) -> Result<(ModalityOut, Option<ModalityOut>), TrainError> {
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

    fn evaluate(&mut self, model: &HeadModel) -> Result<Evaluation, TrainError> {
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
