//! `ssr2 train --mode finetune`: CLIP's last blocks trained on images (SPEC §8), one run per
//! seed; prints All / Old / New and the measured step time, throughput, loader wait and memory.

use crate::print::{Bars, print_table};
use ssr2_train::data::labelled_override;
use crate::fail::{Fail, Result};
use burn::prelude::*;
use indicatif::MultiProgress;
use ssr2_clip::{Clip, ClipFolder, ClipTokenizer};
use ssr2_data::{ImageList, OpenOptions, open_image_dataset, open_image_test_set};
use ssr2_train::RunDir;
use ssr2_train::config::TrainConfig;
use ssr2_train::Devices;
use ssr2_train::finetune::{Candidates, Inputs, Stats, finetune_on, synthetic};
use std::path::{Path, PathBuf};

/// The model, images and texts of one seed.
pub fn inputs(cfg: &TrainConfig, seed: u64, ad: &Device) -> Result<Inputs> {
    let ft = &cfg.finetune;
    if let Some(name) = &ft.synthetic {
        let shape = synthetic::shape(name).ok_or_else(|| {
            Fail::arg(format!(
                "finetune.synthetic: `{name}`, expected one of {}",
                synthetic::SHAPES.join(", ")
            ))
        })?;
        let n = ft.synthetic_images;
        let mut images = synthetic::images(n, shape.vision.image_size as u32, 10, seed);
        override_labelled(cfg, &mut images)?;
        let tokenizer = match &ft.tokenizer {
            Some(p) => Some(synthetic_tokenizer(Path::new(p), shape.text.vocab_size)?),
            None => None,
        };
        return Ok(Inputs {
            clip: Clip::random(&shape, seed, ad),
            candidates: tokenizer.as_ref().map(|_| synthetic::candidates(n)),
            tokenizer,
            images,
            test: None,
        });
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| Fail::arg(format!("--mode finetune: {flag} is required")))
    };
    let model = PathBuf::from(need(&ft.model, "--model")?);
    let dataset = need(&ft.dataset, "--dataset")?;
    let root = PathBuf::from(need(&ft.root, "--root")?);
    let folder = ClipFolder::open(&model).map_err(|e| Fail::arg(e.to_string()))?;
    let opts = OpenOptions {
        num_old: ft.num_old,
        split_seed: cfg.data.split_seed,
        ..OpenOptions::default()
    };
    let mut images =
        open_image_dataset(&dataset, &root, &opts).map_err(|e| Fail::arg(e.to_string()))?;
    override_labelled(cfg, &mut images)?;
    let candidates = match &ft.candidates {
        Some(p) => Some(Candidates::read(Path::new(p), &images).map_err(Fail::arg)?),
        None => None,
    };
    let tokenizer = match candidates {
        Some(_) => Some(folder.tokenizer().map_err(|e| Fail::arg(e.to_string()))?),
        None => None,
    };
    let test = test_split(ft, &dataset, &root, &images)?;
    Ok(Inputs {
        clip: folder.load(ad).map_err(|e| Fail::arg(e.to_string()))?,
        tokenizer,
        images,
        candidates,
        test,
    })
}

/// The test images (and their retrieved texts) for the inductive score: none when
/// `finetune.inductive` is off or the dataset's test files are absent (with a warning).
fn test_split(
    ft: &ssr2_train::config::FinetuneConfig,
    dataset: &str,
    root: &Path,
    images: &ssr2_data::ImageList,
) -> Result<Option<(ssr2_data::ImageList, Option<Candidates>)>> {
    if !ft.inductive {
        return Ok(None);
    }
    let test_root = ft.test_root.as_deref().map(Path::new);
    let list = match open_image_test_set(dataset, root, test_root, images) {
        Ok(Some(list)) => list,
        Ok(None) => return Ok(None),
        Err(ssr2_data::DataError::Io { path, source })
            if source.kind() == std::io::ErrorKind::NotFound && test_root.is_none() =>
        {
            eprintln!(
                "warning: no test split ({path} is missing): no inductive scores \
                 (finetune.inductive = false silences this)"
            );
            return Ok(None);
        }
        Err(e) => return Err(Fail::arg(format!("finetune test split: {e}"))),
    };
    let texts = match &ft.candidates {
        Some(p) => Some(Candidates::read(Path::new(p), &list).map_err(|e| {
            Fail::arg(format!(
                "{e} (the test images need candidates too: retrieve on a bundle extracted with \
                 its test split, or set finetune.inductive = false)"
            ))
        })?),
        None => None,
    };
    Ok(Some((list, texts)))
}

/// `data.labelled_indices`, when set, replaces the images' labelled flags.
fn override_labelled(cfg: &TrainConfig, images: &mut ImageList) -> Result<()> {
    let labels: Vec<usize> = images.items.iter().map(|it| it.label).collect();
    if let Some(mask) = labelled_override(cfg, &labels, images.num_old)? {
        images.labelled = mask;
    }
    Ok(())
}

/// The benchmark's tokenizer: a tokenizer.json, or a folder with either tokenizer layout; its
/// ids must fit the synthetic shape's vocabulary.
fn synthetic_tokenizer(path: &Path, vocab_size: usize) -> Result<ClipTokenizer> {
    let tok = if path.is_dir() {
        ClipTokenizer::from_dir(path)
    } else {
        ClipTokenizer::from_file(path)
    };
    let tok = tok.map_err(|e| Fail::arg(e.to_string()))?;
    tok.check_vocab_size(vocab_size)
        .map_err(|e| Fail::arg(e.to_string()))?;
    Ok(tok)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn print_stats(device: &str, batch: usize, s: &Stats) {
    let step_ms = 1000.0 * s.step_seconds / s.steps.max(1) as f64;
    println!(
        "finetune on {device}: {} steps of {batch} images (2 views), {step_ms:.1} ms/step, \
         {:.1} images/s, loader wait {:.2} s ({:.1}% of step time), cache {:.1} MiB \
         (filled in {:.2} s), peak host memory {}",
        s.steps,
        s.images_per_second,
        s.loader_wait_seconds,
        100.0 * s.loader_wait_seconds / s.step_seconds.max(1e-9),
        s.cache_bytes as f64 / (1 << 20) as f64,
        s.cache_seconds,
        peak_rss_mib().map_or("?".into(), |m| format!("{m:.0} MiB")),
    );
}

pub fn run(
    cfg: &TrainConfig,
    devices: &Devices,
    device_name: &str,
    out: &Path,
    resume: bool,
    multi: &MultiProgress,
) -> Result<()> {
    let ad = devices.main().clone().autodiff();
    let mut reports = Vec::new();
    for &seed in &cfg.seeds {
        let inputs = inputs(cfg, seed, &ad)?;
        let mut bars = Bars::new(multi, seed);
        let dir = out.join(format!("seed-{seed}"));
        let run_dir = RunDir { path: &dir, resume };
        let outcome =
            finetune_on(inputs, cfg, seed, devices, Some(run_dir), &mut bars).map_err(Fail::arg)?;
        bars.batches.finish_and_clear();
        bars.epochs.finish();
        print_stats(device_name, cfg.optim.batch_size, &outcome.stats);
        reports.push(outcome.report);
    }
    print_table(&reports);
    eprintln!("runs written to {}", out.display());
    Ok(())
}
