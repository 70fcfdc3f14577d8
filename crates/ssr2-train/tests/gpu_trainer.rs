//! The trainer on a GPU backend against the CPU device: the digits preset and a tiny-CLIP
//! fine-tune epoch on the device of `SSR2_TEST_DEVICE` (wgpu over Mesa's lavapipe in CI). Ignored
//! in the plain test run; scripts/test-wgpu-lavapipe.sh runs them with `--ignored` from the wgpu
//! build. Tolerances: the first step's loss within 1e-4 relative (the same inputs and initial
//! weights; only the kernels' float rounding differs), final scores within 5 points (training
//! amplifies the rounding; the measured differences are printed and kept in docs/SCALE.md).

use burn::prelude::*;
use ssr2_clip::ClipFolder;
use ssr2_train::finetune::{Candidates, Inputs, finetune};
use ssr2_train::{Silent, TrainConfig, train};

mod common;
use common::tiny;

fn gpu() -> Device {
    match std::env::var("SSR2_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(burn::tensor::DeviceKind::default()),
        other => panic!(
            "SSR2_TEST_DEVICE={other:?}: these tests compare a GPU device (wgpu, in a build with \
             that feature) with the CPU"
        ),
    }
}

fn close(what: &str, cpu: f64, gpu: f64, rel: f64) {
    let d = (cpu - gpu).abs() / cpu.abs().max(1e-12);
    eprintln!("{what}: cpu {cpu:.7} gpu {gpu:.7} (relative difference {d:.2e})");
    assert!(d < rel, "{what}: cpu {cpu} vs gpu {gpu}, relative difference {d:e} >= {rel:e}");
}

#[test]
#[ignore = "needs SSR2_TEST_DEVICE=wgpu (scripts/test-wgpu-lavapipe.sh)"]
fn digits_first_step_and_scores_on_the_gpu_match_the_cpu() {
    let ds = ssr2_data::digits(0);
    let mut cfg = TrainConfig::preset("digits").unwrap();
    // One batch an epoch (floor(n / batch) = 1): epoch 0's loss is the first step's.
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = ds.len() / 2 + 1;
    let cpu = train(&ds, &cfg, 0, &Device::flex(), None, &mut Silent).unwrap();
    let gpu_run = train(&ds, &cfg, 0, &gpu(), None, &mut Silent).unwrap();
    for term in ["total", "R_image", "Rc_s_image", "cls_image"] {
        let (a, b) = (cpu.history[0].loss[term], gpu_run.history[0].loss[term]);
        close(&format!("digits first step, {term}"), a, b, 1e-4);
    }
    let mut cfg = TrainConfig::preset("digits").unwrap();
    cfg.optim.epochs = 8;
    let cpu = train(&ds, &cfg, 0, &Device::flex(), None, &mut Silent).unwrap();
    let gpu_run = train(&ds, &cfg, 0, &gpu(), None, &mut Silent).unwrap();
    let (a, b) = (cpu.final_scores.all, gpu_run.final_scores.all);
    eprintln!("digits, 8 epochs: All cpu {:.2} gpu {:.2} ({:+.2} points)", 100.0 * a, 100.0 * b, 100.0 * (b - a));
    assert!((a - b).abs() < 0.05, "All: cpu {a} vs gpu {b}");
}

#[test]
#[ignore = "needs SSR2_TEST_DEVICE=wgpu (scripts/test-wgpu-lavapipe.sh)"]
fn tiny_clip_finetune_epoch_on_the_gpu_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let images = common::digit_folder(dir.path(), 6);
    let n = images.items.len();
    let candidates = Candidates {
        base: "a photo of a digit".into(),
        tags: (0..n).map(|i| vec![format!("a mark {}", i % 5)]).collect(),
        attributes: (0..n).map(|i| vec![format!("a stroke {}", i % 3)]).collect(),
    };
    let mut cfg = TrainConfig::preset("paper").unwrap();
    cfg.finetune.model = Some(tiny().display().to_string());
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = 32;
    cfg.optim.warmup_epochs = 0;
    cfg.optim.align_epochs = 0;
    cfg.optim.lr_backbone = 0.01;
    cfg.finetune.workers = 2;
    let run = |device: &Device| {
        let folder = ClipFolder::open(&tiny()).unwrap();
        let ad = device.clone().autodiff();
        let inputs = Inputs {
            clip: folder.load(&ad).unwrap(),
            tokenizer: Some(folder.tokenizer().unwrap()),
            images: images.clone(),
            candidates: Some(candidates.clone()),
            test: None,
        };
        finetune(inputs, &cfg, 0, device, None, &mut Silent).unwrap()
    };
    let (cpu, gpu_run) = (run(&Device::flex()), run(&gpu()));
    close("tiny CLIP first step", cpu.step_losses[0], gpu_run.step_losses[0], 1e-4);
    let (a, b) = (cpu.report.final_scores.all, gpu_run.report.final_scores.all);
    eprintln!("tiny CLIP, 1 epoch: All cpu {:.2} gpu {:.2} ({:+.2} points)", 100.0 * a, 100.0 * b, 100.0 * (b - a));
    assert!((a - b).abs() < 0.05, "All: cpu {a} vs gpu {b}");
}
