//! `ssr2 eval`: re-evaluate a run's saved heads on its data and print the table.

use crate::print::{Split, print_scores};
use ssr2_train::data::load_dataset;
use crate::device::DeviceArgs;
use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_train::TrainConfig;
use ssr2_train::run::{check_hash, read_run, trained_heads};
use ssr2_train::features::evaluate;
use ssr2_train::report::scores;
use ssr2_train::report::{RunReport, Scores};
use std::path::{Path, PathBuf};

/// Re-evaluate the heads saved in a run directory (heads.safetensors) on the run's data and
/// print All / Old / New; also checks them against the numbers in report.json (exit status 2
/// when they differ).
///
/// Transductive scores are on the unlabelled training samples (the GCD protocol's usual
/// number); inductive scores are on the held-out test split, when the data has one (a bundle's
/// `split` tensor or `data.test_fraction`). Both are of the last epoch, with no model selection.
#[derive(Args)]
pub struct EvalArgs {
    /// A run directory written by `ssr2 train` (OUT/seed-N), or OUT to evaluate every seed.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Which samples: transductive (unlabelled training samples), inductive (the test split) or
    /// both. Default: both where the run has a test split.
    #[arg(long, value_enum, value_name = "SPLIT")]
    split: Option<SplitArg>,
    #[command(flatten)]
    device: DeviceArgs,
}

fn run_dirs(root: &PathBuf) -> Result<Vec<PathBuf>> {
    if root.join("report.json").exists() {
        return Ok(vec![root.clone()]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| Fail::input(root, format!("cannot read run directory: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("report.json").exists())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(Fail::input(
            root,
            "no report.json here or in its sub-directories",
        ));
    }
    Ok(dirs)
}

/// `--split` values.
#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum SplitArg {
    Transductive,
    Inductive,
    Both,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let device = args.device.open()?;
    let splits = match args.split {
        Some(SplitArg::Transductive) => vec![Split::Transductive],
        Some(SplitArg::Inductive) => vec![Split::Inductive],
        _ => vec![Split::Transductive, Split::Inductive],
    };
    let mut reports = Vec::new();
    let mut differ = Vec::new();
    let mut first_cfg: Option<(PathBuf, TrainConfig)> = None;
    for dir in run_dirs(&args.run)? {
        let (mut report, cfg) = read_run(&dir)?;
        same_run(&mut first_cfg, &dir.join("config.toml"), &cfg)?;
        let (transductive, inductive) = rescore(&dir, &report, &cfg, &device)?;
        if inductive.is_none() && args.split == Some(SplitArg::Inductive) {
            return Err(Fail::input(
                &dir,
                "the run's data has no test split, so there is no inductive score \
                 (train with --test-fraction F, or on a bundle with a `split` tensor)",
            ));
        }
        for &split in &splits {
            let now = match split {
                Split::Transductive => transductive.clone(),
                Split::Inductive => match &inductive {
                    Some(s) => s.clone(),
                    None => continue,
                },
            };
            let agrees = split.scores(&report).is_some_and(|s| same_scores(s, &now));
            eprintln!(
                "{}: {} All {:.4} ({} report.json)",
                dir.display(),
                split.label(),
                now.all,
                if agrees { "matches" } else { "DIFFERS from" }
            );
            if !agrees {
                differ.push(format!("{} ({})", dir.display(), split.label()));
            }
            match split {
                Split::Transductive => report.final_scores = now,
                Split::Inductive => report.test_scores = Some(now),
            }
        }
        reports.push(report);
    }
    print_scores(&reports, &splits);
    if !differ.is_empty() {
        return Err(Fail::arg(format!(
            "re-evaluated scores differ from report.json in {} (the data or weights changed since training)",
            differ.join(", ")
        )));
    }
    Ok(())
}

/// The run's scores recomputed from its saved weights: transductive, and inductive when its
/// data has a test split. Features runs re-read their data (refused when its hash changed);
/// fine-tune runs re-run their images through the fine-tuned CLIP.
fn rescore(
    dir: &Path,
    report: &RunReport,
    cfg: &TrainConfig,
    device: &burn::prelude::Device,
) -> Result<(Scores, Option<Scores>)> {
    if cfg.finetune.enabled() {
        let inputs = crate::cmd_finetune::inputs(cfg, report.seed, device)?;
        if let Some(p) = &report.provenance {
            check_hash(
                dir,
                &p.data_sha256,
                &ssr2_train::finetune::data_sha256(&inputs),
            )?;
        }
        let weights = dir.join(&report.heads);
        let (train, test) =
            ssr2_train::finetune::evaluate(inputs, cfg, report.head_clusters(), &weights, device)
                .map_err(Fail)?;
        return Ok((scores(&train), test.as_ref().map(scores)));
    }
    let ds = load_dataset(cfg)?;
    if let Some(p) = &report.provenance {
        check_hash(dir, &p.data_sha256, &ssr2_data::dataset_sha256(&ds))?;
    }
    let model = trained_heads(dir, report, cfg, &ds, device)?;
    let train = evaluate(&model, &ds, &cfg.rta, &cfg.eval, device);
    let test = ds
        .test
        .as_deref()
        .map(|t| scores(&evaluate(&model, t, &cfg.rta, &cfg.eval, device)));
    Ok((scores(&train), test))
}

/// Equal up to summation order; a part without samples must stay without.
fn same_scores(a: &Scores, b: &Scores) -> bool {
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    };
    a.n == b.n && close(Some(a.all), Some(b.all)) && close(a.old, b.old) && close(a.new, b.new)
}

/// Seeds evaluated together must come from one run: the same settings apart from the seeds.
fn same_run(
    first: &mut Option<(PathBuf, TrainConfig)>,
    path: &Path,
    cfg: &TrainConfig,
) -> Result<()> {
    let mut this = cfg.clone();
    this.seeds.clear();
    match first {
        None => *first = Some((path.to_path_buf(), this)),
        Some((p, c)) if *c != this => {
            return Err(Fail::input(
                path,
                format!(
                    "settings differ from {}: these seed folders come from different runs",
                    p.display()
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}
