//! The trainer across devices. First, several devices give the one-device step (src/replicas.rs). Two copies of the model on the
//! CPU device (`cpu,cpu`), each encoding its shard of a batch, with the loss computed on the
//! joined batch, give the one-device loss, gradients and weights after a step within 1e-5, in
//! features mode and in fine-tune mode (tiny CLIP); the per-replica objective (each copy's loss
//! on its own shard, summed) does not, so the comparison can tell them apart. End to end,
//! `train_on` and `finetune_on` over `cpu,cpu` reproduce the one-device runs.
//! With `SSR2_TEST_DEVICE=wgpu` (a wgpu build, scripts/test-wgpu-lavapipe.sh) the copies are two
//! on the one wgpu adapter, compared with the one-device step on that adapter.
//!
//! Second, the trainer on a GPU device against the CPU device (ignored in the plain run;
//! scripts/test-wgpu-lavapipe.sh runs them with `SSR2_TEST_DEVICE=wgpu --ignored`): the digits
//! preset and a tiny-CLIP fine-tune epoch. Both devices start from the same weights
//! (`rng::seeded_init` draws them on the host), so the first step's loss agrees within 1e-4
//! relative (only the kernels' float rounding differs); training amplifies that rounding, so the
//! final scores are held to 5 points. The measured differences are printed (docs/SCALE.md).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use ssr2_clip::ClipFolder;
use ssr2_core::loss::ssr2::BatchLabels;
use ssr2_core::rta::RtaConfig;
use ssr2_train::config::LossConfig;
use ssr2_train::finetune::forward::{image_features_from_pixels, row_texts, text_features};
use ssr2_train::finetune::model::split;
use ssr2_train::finetune::{Candidates, Inputs, finetune, finetune_on};
use ssr2_train::features::inputs::{image_rows, image_views_input, text_rows};
use ssr2_head::HeadModel;
use ssr2_train::objective::{BatchContext, ModalityOut, batch_loss};
use ssr2_train::optim::Sgd;
use ssr2_train::replicas::{Devices, join, merge_grads, shard_ranges};
use ssr2_train::{RunDir, Silent, TrainConfig, train_on};
use ssr2_data::Dataset;
use std::ops::Range;

mod common;
use common::tiny;

/// The device under test: the CPU device, or wgpu with `SSR2_TEST_DEVICE=wgpu`.
fn device() -> Device {
    match std::env::var("SSR2_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(burn::tensor::DeviceKind::default()),
        Ok("cpu") | Err(_) => Device::flex(),
        Ok(other) => panic!("SSR2_TEST_DEVICE={other}: this build tests cpu (wgpu with its feature)"),
    }
}

fn two() -> Devices {
    Devices::new(vec![device(), device()]).unwrap()
}

/// A copy's inputs: the model copy, the samples of the batch it encodes, and its device.
type Encode<'a, M> = &'a dyn Fn(&M, Range<usize>, &Device) -> (ModalityOut, Option<ModalityOut>);

/// What one SGD step saw and left.
struct Step {
    loss: f32,
    grads: Vec<Vec<f32>>,
    weights: Vec<Vec<f32>>,
}

#[derive(Default)]
struct Values<'a> {
    grads: Option<&'a GradientsParams>,
    out: Vec<Vec<f32>>,
}
impl ModuleVisitor for Values<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = match self.grads {
            Some(g) => match g.get::<D>(param.id) {
                Some(t) => t,
                None => return,
            },
            None => param.val(),
        };
        self.out.push(t.try_into_vec_as::<f32>().unwrap());
    }
}

fn values<M: Module>(m: &M, grads: Option<&GradientsParams>) -> Vec<Vec<f32>> {
    let mut v = Values { grads, out: Vec::new() };
    m.visit(&mut v);
    v.out
}

/// Labels of a batch of `b` samples: every other one labelled.
fn context(b: usize) -> BatchContext {
    BatchContext {
        labels: BatchLabels {
            labelled: (0..b).map(|i| i % 2 == 0).collect(),
            labels: (0..b).map(|i| i % 3).collect(),
        },
        pseudo_for_image: None,
        pseudo_for_text: None,
        warmup: false,
        teacher_temp: 0.05,
    }
}

fn sgd_step<M: Module>(model: &M, mut grads: GradientsParams, loss: f32) -> Step {
    let g = values(model, Some(&grads));
    let stepped = Sgd::default().step(model.clone(), &mut grads, &|_| 0.5);
    Step {
        loss,
        grads: g,
        weights: values(&stepped, None),
    }
}

/// The data-parallel step over `devices`: shards encoded by `model` and its copies, the loss on
/// the joined batch of `b` samples.
fn joined_step<M: Module>(model: &M, devices: &Devices, b: usize, encode: Encode<M>) -> Step {
    let copies = devices.fork(model);
    let main = devices.main().clone().autodiff();
    let parts = shard_ranges(b, devices.len())
        .into_iter()
        .enumerate()
        .map(|(r, rows)| match r {
            0 => encode(model, rows, &main),
            _ => encode(&copies[r - 1], rows, &devices.all()[r].clone().autodiff()),
        })
        .collect();
    let (image, text) = join(parts, &main);
    let loss = batch_loss(&image, text.as_ref(), &context(b), &LossConfig::default(), b).unwrap();
    let value = loss.total.clone().into_scalar::<f32>();
    let grads = merge_grads(&mut loss.total.backward(), model, &copies, devices);
    sgd_step(model, grads, value)
}

/// The per-replica objective: each copy's loss on its own shard, summed on the first device.
fn summed_step<M: Module>(model: &M, devices: &Devices, b: usize, encode: Encode<M>) -> Step {
    let copies = devices.fork(model);
    let main = devices.main().clone().autodiff();
    let all = context(b);
    let mut total: Option<Tensor<1>> = None;
    for (r, rows) in shard_ranges(b, devices.len()).into_iter().enumerate() {
        let (m, d) = match r {
            0 => (model, main.clone()),
            _ => (&copies[r - 1], devices.all()[r].clone().autodiff()),
        };
        let ctx = BatchContext {
            labels: BatchLabels {
                labelled: all.labels.labelled[rows.clone()].to_vec(),
                labels: all.labels.labels[rows.clone()].to_vec(),
            },
            ..context(rows.len())
        };
        let n = rows.len();
        let (image, text) = encode(m, rows, &d);
        let part = batch_loss(&image, text.as_ref(), &ctx, &LossConfig::default(), n).unwrap();
        let part = part.total.to_device(&main);
        total = Some(match total {
            Some(t) => t + part,
            None => part,
        });
    }
    let total = total.unwrap();
    let value = total.clone().into_scalar::<f32>();
    let grads = merge_grads(&mut total.backward(), model, &copies, devices);
    sgd_step(model, grads, value)
}

/// Largest difference relative to the largest magnitude, over every tensor.
fn rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "tensor count");
    let scale = a.iter().flatten().fold(1e-12f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| {
        assert_eq!(x.len(), y.len());
        x.iter().zip(y).fold(m, |m, (p, q)| m.max((p - q).abs()))
    });
    diff / scale
}

/// The one-device step, the joined step over two copies, and the summed per-copy step.
fn compare<M: Module>(model: &M, b: usize, encode: Encode<M>, what: &str) {
    let one = joined_step(model, &Devices::one(&device()), b, encode);
    let joined = joined_step(model, &two(), b, encode);
    let summed = summed_step(model, &two(), b, encode);
    let loss_diff = (one.loss - joined.loss).abs() / one.loss.abs().max(1e-12);
    assert!(loss_diff < 1e-5, "{what}: loss {} vs {} on two copies", one.loss, joined.loss);
    let g = rel_diff(&one.grads, &joined.grads);
    assert!(g < 1e-5, "{what}: gradients differ by {g} (relative) on two copies");
    let w = rel_diff(&one.weights, &joined.weights);
    assert!(w < 1e-5, "{what}: weights after the step differ by {w} (relative)");
    let gs = rel_diff(&one.grads, &summed.grads);
    assert!(
        gs > 1e-3,
        "{what}: the summed per-copy losses gave the same gradients ({gs}): the test cannot tell"
    );
    eprintln!("{what}: joined step within {g:.1e} (gradients), {w:.1e} (weights); per-copy sum off by {gs:.2e}");
}

fn synthetic() -> (TrainConfig, Dataset) {
    let cfg = TrainConfig::preset("synthetic").unwrap();
    let ds = ssr2_data::generate(&cfg.data.synthetic).unwrap();
    (cfg, ds)
}

#[test]
fn features_mode_step_on_two_copies_is_the_one_device_step() {
    let (cfg, ds) = synthetic();
    let ad = device().autodiff();
    let classes = ds.num_classes();
    let model = ssr2_train::rng::seeded_init(&ad, 7, |host| {
        ssr2_train::features::heads_for(&cfg.model, &ds, classes, true, host)
    })
    .unwrap();
    let b = 37; // odd: shards of 19 and 18
    let idx: Vec<usize> = (0..b).map(|i| i * 3 % ds.len()).collect();
    let image = [image_rows(&ds, &idx, None), image_rows(&ds, &idx.iter().rev().copied().collect::<Vec<_>>(), None)];
    let text = [text_rows(&ds, &idx, None), text_rows(&ds, &idx, None)];
    let rta = ssr2_train::eval::rta_config(&cfg.rta);
    let encode = |m: &HeadModel, rows: Range<usize>, d: &Device| {
        let views = [(image[0].as_slice(), rows.clone()), (image[1].as_slice(), rows.clone())];
        let z = m.image.adapter.forward(image_views_input(&views, ds.image.cols, d));
        let img = ModalityOut {
            logits: m.image.head.forward(z.clone()),
            z,
        };
        let input = text[0].input(&[(&text[0], rows.clone()), (&text[1], rows)], d);
        let zt = m.embed_text(input, &rta);
        let head = &m.text.as_ref().unwrap().head;
        let txt = ModalityOut {
            logits: head.forward(zt.clone()),
            z: zt,
        };
        (img, Some(txt))
    };
    compare(&model, b, &encode, "features mode");
}

fn candidates(n: usize) -> Candidates {
    let words = ["round", "thin", "bold", "curved", "straight", "tall"];
    Candidates {
        base: "a photo of a digit".into(),
        tags: (0..n)
            .map(|i| vec![format!("a {} mark", words[i % 6]), format!("a {} line", words[(i / 6) % 6])])
            .collect(),
        attributes: (0..n)
            .map(|i| vec![format!("a {} stroke", words[(i / 2) % 6])])
            .collect(),
    }
}

#[test]
fn finetune_mode_step_on_two_copies_is_the_one_device_step() {
    let ad = device().autodiff();
    let folder = ClipFolder::open(&tiny()).unwrap();
    let (frozen, trainable) = split(folder.load(&ad).unwrap(), 4, true, 0, &ad);
    let tok = folder.tokenizer().unwrap();
    let size = frozen.vision.image_size;
    let b = 9;
    // Both views' pixels: 2b images, view 0 first, a fixed pseudo-random pattern.
    let per = 3 * size * size;
    let pixels: Vec<f32> = (0..2 * b * per)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let c = candidates(b);
    let rows_all: Vec<usize> = (0..b).chain(0..b).collect();
    let texts = row_texts(&c, &rows_all, None);
    let rta = RtaConfig::default();
    let encode = |m: &ssr2_train::finetune::Trainable, rows: Range<usize>, d: &Device| {
        let picked: Vec<usize> = rows.clone().chain(rows.start + b..rows.end + b).collect();
        let px: Vec<f32> = picked
            .iter()
            .flat_map(|&i| pixels[i * per..(i + 1) * per].iter().copied())
            .collect();
        let z = image_features_from_pixels(&frozen, m, px, size, d);
        let img = ModalityOut {
            logits: m.image_head.forward(z.clone()),
            z,
        };
        let sample_rows: Vec<usize> = picked.iter().map(|&i| i % b).collect();
        let mine = row_texts(&c, &sample_rows, None);
        let zt = text_features(&frozen, m, &tok, &c, picked.len(), &mine, None, &rta, d).unwrap();
        let head = m.text_head.as_ref().unwrap();
        let txt = ModalityOut {
            logits: head.forward(zt.clone()),
            z: zt,
        };
        (img, Some(txt))
    };
    assert_eq!(texts.len(), 2 * b * 4);
    compare(&trainable, b, &encode, "fine-tune mode");
}

#[test]
fn train_on_two_cpu_copies_reproduces_the_one_device_run() {
    let (mut cfg, ds) = synthetic();
    cfg.optim.epochs = 3;
    cfg.optim.warmup_epochs = 1;
    // One batch an epoch (floor(n / batch) = 1): each epoch's loss is one step's.
    cfg.optim.batch_size = ds.len() / 2 + 1;
    let dir = tempfile::tempdir().unwrap();
    let run = |devices: &Devices, name: &str| {
        let path = dir.path().join(name);
        let report = train_on(&ds, &cfg, 1, devices, Some(RunDir { path: &path, resume: false }), &mut Silent).unwrap();
        let heads = std::fs::read(path.join("heads.safetensors")).unwrap();
        (report, heads)
    };
    let (one, heads_one) = run(&Devices::one(&Device::flex()), "one");
    let (two, heads_two) = run(&Devices::new(vec![Device::flex(), Device::flex()]).unwrap(), "two");
    for (a, b) in one.history.iter().zip(&two.history) {
        let (la, lb) = (a.loss["total"], b.loss["total"]);
        eprintln!("epoch {}: one device {la} two copies {lb} ({:.1e})", a.epoch, (la - lb).abs() / la.abs());
        assert!((la - lb).abs() < 1e-5 * la.abs().max(1e-6), "epoch {}: loss {la} vs {lb}", a.epoch);
    }
    assert!((one.final_scores.all - two.final_scores.all).abs() < 0.02);
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&heads_one).unwrap(),
        safetensors::SafeTensors::deserialize(&heads_two).unwrap(),
    );
    let mut names = a.names();
    names.sort();
    for name in names {
        let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        let f = |t: &safetensors::tensor::TensorView| -> Vec<f32> {
            t.data().chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        let d = rel_diff(&[f(&x)], &[f(&y)]);
        assert!(d < 1e-5, "{name}: two copies' weights differ by {d} (relative) after three steps");
    }
}

/// The paper preset for the tiny CLIP: one epoch of `batch`, no warm-up, a backbone that moves.
fn tiny_finetune(batch: usize) -> TrainConfig {
    let mut cfg = TrainConfig::preset("paper").unwrap();
    cfg.finetune.model = Some(tiny().display().to_string());
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = batch;
    cfg.optim.warmup_epochs = 0;
    cfg.optim.align_epochs = 0;
    cfg.optim.lr_backbone = 0.01;
    cfg.finetune.workers = 2;
    cfg
}

/// The tiny CLIP loaded on `device` (with autodiff), the images and their candidate texts.
fn tiny_inputs(images: &ssr2_data::ImageList, device: &Device) -> Inputs {
    let folder = ClipFolder::open(&tiny()).unwrap();
    Inputs {
        clip: folder.load(&device.clone().autodiff()).unwrap(),
        tokenizer: Some(folder.tokenizer().unwrap()),
        images: images.clone(),
        candidates: Some(candidates(images.items.len())),
        test: None,
    }
}

#[test]
fn finetune_on_two_cpu_copies_reproduces_the_one_device_run() {
    let dir = tempfile::tempdir().unwrap();
    let images = common::digit_folder(dir.path(), 15);
    let cfg = tiny_finetune(31); // odd: shards of 16 and 15
    let inputs = || tiny_inputs(&images, &Device::flex());
    let one = finetune(inputs(), &cfg, 2, &Device::flex(), None, &mut Silent).unwrap();
    let devices = Devices::new(vec![Device::flex(), Device::flex()]).unwrap();
    let two = finetune_on(inputs(), &cfg, 2, &devices, None, &mut Silent).unwrap();
    let (a, b) = (one.step_losses[0], two.step_losses[0]);
    assert!((a - b).abs() < 1e-5 * a.abs(), "first step: one device {a} vs two copies {b}");
    for (a, b) in one.step_losses.iter().zip(&two.step_losses) {
        assert!((a - b).abs() < 1e-4 * a.abs(), "step loss {a} vs {b}");
    }
    let w = rel_diff(&values(&one.trainable.valid(), None), &values(&two.trainable.valid(), None));
    assert!(w < 1e-4, "weights after the epoch differ by {w} (relative)");
}

#[test]
fn several_devices_refuse_the_cnn_and_batches_smaller_than_the_devices() {
    let mut cfg = TrainConfig::preset("digits").unwrap();
    let ds = ssr2_data::digits(0);
    let three = Devices::new(vec![Device::flex(), Device::flex(), Device::flex()]).unwrap();
    cfg.optim.batch_size = 2;
    let e = train_on(&ds, &cfg, 0, &three, None, &mut Silent).unwrap_err();
    assert!(matches!(e, ssr2_train::TrainError::Config(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("batch_size = 2") && e.contains("3 devices"), "{e}");
    let mut cnn = TrainConfig::preset("fashion-mnist-cnn").unwrap();
    cnn.optim.batch_size = 64;
    let e = three.check(&cnn).unwrap_err();
    assert!(e.contains("batch norm"), "{e}");
}

/// The GPU device of `SSR2_TEST_DEVICE` for the CPU-vs-GPU trainer tests.
fn gpu() -> Device {
    let device = device();
    assert!(
        device != Device::flex(),
        "these tests compare a GPU device with the CPU: run them with SSR2_TEST_DEVICE=wgpu"
    );
    device
}

fn close(what: &str, cpu: f64, gpu: f64, rel: f64) {
    let d = (cpu - gpu).abs() / cpu.abs().max(1e-12);
    eprintln!("{what}: cpu {cpu:.7} gpu {gpu:.7} (relative difference {d:.2e})");
    assert!(d < rel, "{what}: cpu {cpu} vs gpu {gpu}, relative difference {d:e} >= {rel:e}");
}

fn points(what: &str, cpu: f64, gpu: f64, within: f64) {
    let d = 100.0 * (gpu - cpu);
    eprintln!("{what}: All cpu {:.2} gpu {:.2} ({d:+.2} points)", 100.0 * cpu, 100.0 * gpu);
    assert!(d.abs() < within, "{what}: All cpu {cpu} vs gpu {gpu}: {d:+.2} points");
}

#[test]
#[ignore = "needs SSR2_TEST_DEVICE=wgpu (scripts/test-wgpu-lavapipe.sh)"]
fn digits_on_the_gpu_match_the_cpu() {
    let ds = ssr2_data::digits(0);
    let mut cfg = TrainConfig::preset("digits").unwrap();
    // One batch an epoch (floor(n / batch) = 1): epoch 0's loss is the first step's.
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = ds.len() / 2 + 1;
    let cpu = ssr2_train::train(&ds, &cfg, 0, &Device::flex(), None, &mut Silent).unwrap();
    let gpu_run = ssr2_train::train(&ds, &cfg, 0, &gpu(), None, &mut Silent).unwrap();
    for term in ["total", "R_image", "Rc_s_image", "cls_image"] {
        let (a, b) = (cpu.history[0].loss[term], gpu_run.history[0].loss[term]);
        close(&format!("digits first step, {term}"), a, b, 1e-4);
    }
    let mut cfg = TrainConfig::preset("digits").unwrap();
    cfg.optim.epochs = 2;
    let cpu = ssr2_train::train(&ds, &cfg, 0, &Device::flex(), None, &mut Silent).unwrap();
    let gpu_run = ssr2_train::train(&ds, &cfg, 0, &gpu(), None, &mut Silent).unwrap();
    points("digits, 2 epochs", cpu.final_scores.all, gpu_run.final_scores.all, 5.0);
}

#[test]
#[ignore = "needs SSR2_TEST_DEVICE=wgpu (scripts/test-wgpu-lavapipe.sh)"]
fn tiny_clip_finetune_epoch_on_the_gpu_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    // 90 digits: lavapipe runs the tiny CLIP at about a tenth of the CPU device's speed.
    let images = common::digit_folder(dir.path(), 20);
    let cfg = tiny_finetune(32);
    let run = |device: &Device| {
        finetune(tiny_inputs(&images, device), &cfg, 0, device, None, &mut Silent).unwrap()
    };
    let (cpu, gpu_run) = (run(&Device::flex()), run(&gpu()));
    close("tiny CLIP first step", cpu.step_losses[0], gpu_run.step_losses[0], 1e-4);
    points("tiny CLIP, 1 epoch", cpu.report.final_scores.all, gpu_run.report.final_scores.all, 5.0);
}
