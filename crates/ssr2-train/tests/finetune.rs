//! Fine-tune mode end to end on the random tiny CLIP (tests/reference/clip-tiny, 32 px) and the
//! digits written as PNG files: two epochs with co-teaching, frozen parameters untouched,
//! trainable ones changed, no gradients for frozen parameters, resume equivalence, and the
//! prefix cache equal to the uncached run with the same pre-drawn views.

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use ssr2_clip::{Clip, ClipFolder, ClipTokenizer};
use ssr2_core::rta::RtaConfig;
use ssr2_core::testutil::max_abs_diff;
use ssr2_data::ImageList;
use ssr2_train::TrainConfig;
use ssr2_train::finetune::forward::{image_features_from_pixels, row_texts, text_features};
use ssr2_train::finetune::loader::{ImageLoader, Job};
use ssr2_train::finetune::model::split;
use ssr2_train::finetune::{Candidates, Inputs, Outcome, finetune};
use ssr2_train::finetune::{Frozen, Trainable};
use ssr2_train::{Progress, RunDir, Silent, TrainError};
use std::path::Path;
use std::sync::Arc;

mod common;
use common::tiny;

/// Every 4th digit (450 images), as `ssr2 export-digits` writes them.
fn digit_folder(dir: &Path) -> ImageList {
    common::digit_folder(dir, 4)
}

/// Two tags and two attributes per image, not naming its class.
fn candidates(images: &ImageList) -> Candidates {
    let words = ["round", "thin", "bold", "curved", "straight", "tall"];
    let n = images.items.len();
    Candidates {
        base: "a photo of a digit".into(),
        tags: (0..n)
            .map(|i| {
                vec![
                    format!("a photo of a {} mark", words[i % 6]),
                    format!("a photo of a {} line", words[(i / 6) % 6]),
                ]
            })
            .collect(),
        attributes: (0..n)
            .map(|i| {
                vec![
                    format!("digit which has a {} stroke", words[(i / 2) % 6]),
                    format!("digit which has a {} loop", words[(i / 3) % 6]),
                ]
            })
            .collect(),
    }
}

fn config(epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig::preset("paper").unwrap();
    cfg.finetune.model = Some(tiny().display().to_string());
    cfg.optim.epochs = epochs;
    cfg.optim.batch_size = 64;
    // Warm-up is epoch 0 only, so epoch 1 runs the co-teaching selection pass (both directions).
    cfg.optim.warmup_epochs = 0;
    cfg.optim.align_epochs = 0;
    cfg.optim.lr_backbone = 0.01;
    cfg.finetune.workers = 2;
    cfg
}

fn inputs(images: &ImageList, text: bool) -> Inputs {
    let folder = ClipFolder::open(&tiny()).unwrap();
    let ad = Device::flex().autodiff();
    Inputs {
        clip: folder.load(&ad).unwrap(),
        tokenizer: Some(folder.tokenizer().unwrap()),
        images: images.clone(),
        candidates: text.then(|| candidates(images)),
        test: None,
    }
}

/// `finetune` on the CPU with the tiny CLIP; `run`: a run directory and whether to resume it.
fn train(
    images: &ImageList,
    text: bool,
    cfg: &TrainConfig,
    seed: u64,
    run: Option<(&Path, bool)>,
    progress: &mut dyn Progress,
) -> Result<Outcome, TrainError> {
    let run_dir = run.map(|(path, resume)| RunDir { path, resume });
    finetune(
        inputs(images, text),
        cfg,
        seed,
        &Device::flex(),
        run_dir,
        progress,
    )
}

/// The tiny CLIP split into its frozen and trainable parts on `ad`, and its tokenizer.
fn tiny_model(ad: &Device) -> (Frozen, Trainable, ClipTokenizer) {
    let folder = ClipFolder::open(&tiny()).unwrap();
    let (frozen, trainable) = split(folder.load(ad).unwrap(), 10, true, 0, ad);
    (frozen, trainable, folder.tokenizer().unwrap())
}

/// Every float parameter's values, in visiting order.
#[derive(Default)]
struct Values(Vec<Vec<f32>>);
impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().try_into_vec_as::<f32>().unwrap());
    }
}
fn values<M: Module>(m: &M) -> Vec<Vec<f32>> {
    let mut v = Values::default();
    m.visit(&mut v);
    v.0
}

#[test]
fn two_epochs_train_only_the_last_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    assert_eq!(images.items.len(), 450);
    let cfg = config(2);
    let run = dir.path().join("run");
    let out = train(&images, true, &cfg, 0, Some((&run, false)), &mut Silent).unwrap();
    assert_eq!(out.report.history.len(), 2);
    assert_eq!(out.report.dataset.modalities, vec!["image", "text"]);
    assert!(out.epoch_losses.iter().all(|l| l.is_finite()));
    // Epoch 1 is after warm-up: the pseudo-label terms are in its loss.
    assert!(out.report.history[1].loss["pseudo_and_inter"] > 0.0);
    assert_eq!(out.report.history[0].loss["pseudo_and_inter"], 0.0);
    for f in [
        "report.json",
        "heads.safetensors",
        "config.toml",
        "state.json",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
    let all = out.report.final_scores.all;
    assert!((0.0..=1.0).contains(&all));
    assert!(out.stats.images_per_second > 0.0);

    // Frozen parameters are bit-identical to a fresh load; trainable ones moved.
    let fresh = ClipFolder::open(&tiny())
        .unwrap()
        .load(&Device::flex())
        .unwrap();
    let (frozen0, trainable0) = split(fresh, 10, true, 0, &Device::flex());
    assert_eq!(values(&out.frozen.valid()), values(&frozen0));
    let before = values(&trainable0.vision_block);
    let after = values(&out.trainable.valid().vision_block);
    assert_eq!(before.len(), after.len());
    assert!(
        before.iter().zip(&after).all(|(a, b)| a != b),
        "every vision-block tensor changed"
    );
    let moved = |a: &Vec<Vec<f32>>, b: &Vec<Vec<f32>>| a.iter().zip(b).all(|(x, y)| x != y);
    assert!(moved(
        &values(&trainable0.text_block),
        &values(&out.trainable.valid().text_block)
    ));
    assert!(moved(
        &values(&trainable0.vision_projection),
        &values(&out.trainable.valid().vision_projection)
    ));
    assert!(moved(
        &values(&trainable0.text_projection),
        &values(&out.trainable.valid().text_projection)
    ));
}

#[test]
fn frozen_parameters_get_no_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let ad = Device::flex().autodiff();
    let (frozen, trainable, tok) = tiny_model(&ad);
    let loader = ImageLoader {
        items: Arc::new(images.items.iter().map(|i| i.source.clone()).collect()),
        size: 32,
        resize: 36,
        workers: 2,
    };
    let jobs: Vec<Job> = (0..8)
        .map(|i| Job {
            sample: i,
            seed: Some(i as u64),
        })
        .collect();
    let z = image_features_from_pixels(&frozen, &trainable, loader.load(&jobs).unwrap(), 32, &ad);
    let c = candidates(&images);
    let rows: Vec<usize> = (0..8).collect();
    let texts = row_texts(&c, &rows, None);
    let rta = RtaConfig::default();
    let zt = text_features(&frozen, &trainable, &tok, &c, 8, &texts, None, &rta, &ad).unwrap();
    let loss = (z * zt).sum().reshape([1]);
    let grads = loss.backward();
    let g_frozen = GradientsParams::from_grads(grads, &frozen);
    assert!(
        g_frozen.is_empty(),
        "{} frozen gradients stored",
        g_frozen.len()
    );
    let loss2 =
        image_features_from_pixels(&frozen, &trainable, loader.load(&jobs).unwrap(), 32, &ad)
            .sum()
            .reshape([1]);
    let g = GradientsParams::from_grads(loss2.backward(), &trainable);
    // Vision block (12 tensors) + projection weight: every one has a gradient.
    assert_eq!(g.len(), values(&trainable.vision_block).len() + 1);
}

/// Stops after the first epoch.
struct StopAfterOne;
impl Progress for StopAfterOne {
    fn should_stop(&mut self) -> bool {
        true
    }
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let cfg = config(2);
    let once = train(&images, true, &cfg, 3, None, &mut Silent).unwrap();
    let run = dir.path().join("run");
    let e = train(
        &images,
        true,
        &cfg,
        3,
        Some((&run, false)),
        &mut StopAfterOne,
    )
    .err()
    .unwrap();
    assert!(matches!(e, TrainError::Stopped { epoch: 0 }), "{e:?}");
    let resumed = train(&images, true, &cfg, 3, Some((&run, true)), &mut Silent).unwrap();
    assert_eq!(resumed.report.history.len(), 2);
    assert_eq!(
        values(&once.trainable.valid()),
        values(&resumed.trainable.valid()),
        "resumed weights equal the uninterrupted run's"
    );
    assert_eq!(once.report.history[1].loss, resumed.report.history[1].loss);
}

#[test]
fn prefix_cache_equals_uncached_with_one_pre_drawn_view() {
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let mut cfg = config(2);
    cfg.finetune.views = 1;
    let plain = train(&images, true, &cfg, 1, None, &mut Silent).unwrap();
    cfg.finetune.cache = true;
    let cached = train(&images, true, &cfg, 1, None, &mut Silent).unwrap();
    assert!(cached.stats.cache_bytes > 0);
    let (a, b) = (plain.step_losses[0], cached.step_losses[0]);
    assert!(
        (a - b).abs() < 1e-5,
        "first step: uncached {a} vs cached {b}"
    );
    // Later steps follow the same trajectory up to float rounding (amplified by training).
    for (a, b) in plain.step_losses.iter().zip(&cached.step_losses).take(7) {
        assert!(
            (a - b).abs() < 1e-4 * a.abs(),
            "epoch 0: uncached {a} vs cached {b}"
        );
    }
    let (a, b) = (
        plain.report.final_scores.all,
        cached.report.final_scores.all,
    );
    assert!((a - b).abs() < 1e-9, "accuracy {a} vs {b}");
}

#[test]
fn image_only_without_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let out = train(&images, false, &config(1), 0, None, &mut Silent).unwrap();
    assert_eq!(out.report.dataset.modalities, vec!["image"]);
    assert!(out.trainable.text_head.is_none());
}

#[test]
fn random_clip_shape_runs() {
    // The same code path as the GPU check's random weights.
    let folder = ClipFolder::open(&tiny()).unwrap();
    let clip = Clip::random(&folder.config, 5, &Device::flex());
    assert_eq!(clip.vision.blocks.len(), 3);
}

#[test]
fn text_cache_is_exact_and_bounded_by_its_budget() {
    use ssr2_train::finetune::cache::PrefixCache;
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let ad = Device::flex().autodiff();
    let (frozen, trainable, tok) = tiny_model(&ad);
    let c = candidates(&images);
    let rows: Vec<usize> = (0..8).collect();
    let texts = row_texts(&c, &rows, None);
    let rta = RtaConfig::default();
    let run = |cache: Option<(&mut PrefixCache, usize)>| {
        text_features(&frozen, &trainable, &tok, &c, 8, &texts, cache, &rta, &ad)
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    let plain = run(None);
    let mut empty = PrefixCache::default();
    let none_kept = run(Some((&mut empty, 0)));
    assert_eq!(empty.texts.len(), 0, "a zero budget keeps nothing");
    let mut full = PrefixCache::default();
    let first = run(Some((&mut full, 1 << 30)));
    let again = run(Some((&mut full, 1 << 30)));
    // 8 bases (one distinct), 16 tags, 16 attributes: the distinct sequences are kept.
    let distinct: std::collections::HashSet<&String> = texts.iter().collect();
    assert_eq!(full.texts.len(), distinct.len());
    assert!(full.text_bytes > 0 && full.bytes() == full.text_bytes);
    for other in [&none_kept, &first, &again] {
        let d = max_abs_diff(&plain, other);
        assert!(d < 1e-6, "cached text features differ by {d}");
    }
}

#[test]
fn texts_encoded_by_length_equal_one_padded_batch() {
    use ssr2_train::finetune::forward::encode_by_length;
    let ad = Device::flex().autodiff();
    let (frozen, trainable, tok) = tiny_model(&ad);
    // 40 texts from 1 to 30 words: more than one length group (at least 32 rows each).
    let texts: Vec<String> = (0..40)
        .map(|i| vec!["stroke"; 1 + (i * 7) % 30].join(" "))
        .collect();
    let tokens = tok.batch(&texts).unwrap();
    assert!(tokens.length_groups(32).len() > 1);
    let grouped = encode_by_length(&frozen, &trainable, &tokens, None, &ad);
    let padded = trainable.text_features(&frozen, frozen.text_prefix(&tokens, &ad), &tokens.eos);
    let (a, b) = (
        grouped.try_into_vec_as::<f32>().unwrap(),
        padded.try_into_vec_as::<f32>().unwrap(),
    );
    let d = max_abs_diff(&a, &b);
    assert!(d < 1e-6, "grouped vs padded features differ by {d}");
}

#[test]
fn an_empty_base_prompt_is_encoded_and_weighted() {
    // SPEC §7: CIFAR/ImageNet have base "", which the reference still tokenises (start and end
    // tokens) and adds as 0.1 * E("").
    let dir = tempfile::tempdir().unwrap();
    let images = digit_folder(&dir.path().join("digits"));
    let ad = Device::flex();
    let (frozen, trainable, tok) = tiny_model(&ad);
    let mut c = candidates(&images);
    c.base = String::new();
    let rows: Vec<usize> = (0..3).collect();
    let texts = row_texts(&c, &rows, None);
    assert_eq!(texts.len(), 3 * (1 + 2 + 2));
    assert!(texts[..3].iter().all(String::is_empty));
    let rta = RtaConfig::default();
    let got = text_features(&frozen, &trainable, &tok, &c, 3, &texts, None, &rta, &ad)
        .unwrap()
        .try_into_vec_as::<f32>()
        .unwrap();
    // Independently: each text's unit embedding, then SPEC §7's weighted sum in f64.
    let emb = |t: &str| -> Vec<f64> {
        let one = tok.batch(&[t]).unwrap();
        let z =
            ssr2_train::finetune::forward::encode_by_length(&frozen, &trainable, &one, None, &ad)
                .try_into_vec_as::<f32>()
                .unwrap();
        let norm = z.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        z.iter().map(|v| *v as f64 / norm).collect()
    };
    let base = emb("");
    let d = base.len();
    for (r, &i) in rows.iter().enumerate() {
        let (t, a) = (&c.tags[i], &c.attributes[i]);
        let (t1, t2, a1, a2) = (emb(&t[0]), emb(&t[1]), emb(&a[0]), emb(&a[1]));
        let mut v: Vec<f64> = (0..d)
            .map(|k| {
                0.1 * base[k]
                    + 0.65 * (0.5 * t1[k] + 0.5 * t2[k])
                    + 0.35 * (0.5 * a1[k] + 0.5 * a2[k])
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        let row: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let diff = max_abs_diff(&got[r * d..(r + 1) * d], &row);
        assert!(diff < 1e-5, "row {r}: {diff}");
    }
}
