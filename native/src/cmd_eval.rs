//! `ssr2 eval`: re-evaluate a run's saved heads on its data and print the table.

use crate::cmd_train::{device, load_dataset, print_table};
use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_train::TrainConfig;
use ssr2_train::checkpoint::{load_heads, short};
use ssr2_train::eval::evaluate;
use ssr2_train::model::HeadModel;
use ssr2_train::report::{RunReport, parse_report};
use std::path::{Path, PathBuf};

/// Re-evaluate the heads saved in a run directory (heads.safetensors) on the run's data and
/// print All / Old / New; also checks them against the numbers in report.json.
#[derive(Args)]
pub struct EvalArgs {
    /// A run directory written by `ssr2 train` (OUT/seed-N), or OUT to evaluate every seed.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Device: cpu, wgpu or cuda (when built with those features).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu", "cuda"])]
    device: String,
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

pub fn run(args: &EvalArgs) -> Result<()> {
    let device = device(&args.device)?;
    let mut reports = Vec::new();
    let mut differ = Vec::new();
    let mut first_cfg: Option<(PathBuf, TrainConfig)> = None;
    for dir in run_dirs(&args.run)? {
        let (mut report, cfg) = read_run(&dir)?;
        same_run(&mut first_cfg, &dir.join("config.toml"), &cfg)?;
        let ds = load_dataset(&cfg)?;
        same_data(&report, &ds, &dir)?;
        let model = trained_heads(&dir, &report, &cfg, &ds, &device)?;
        let ev = evaluate(&model, &ds, &cfg.rta, &cfg.eval, &device);
        let s = &report.final_scores;
        let close = |a: f64, b: Option<f64>| match b {
            Some(b) => (a - b).abs() < 1e-9,
            None => a.is_nan(),
        };
        let agrees = close(ev.accuracy.all, Some(s.all))
            && close(ev.accuracy.old, s.old)
            && close(ev.accuracy.new, s.new);
        eprintln!(
            "{}: All {:.4} ({} report.json)",
            dir.display(),
            ev.accuracy.all,
            if agrees { "matches" } else { "DIFFERS from" }
        );
        if !agrees {
            differ.push(dir.display().to_string());
        }
        report.final_scores.all = ev.accuracy.all;
        report.final_scores.old = ssr2_train::report::finite(ev.accuracy.old);
        report.final_scores.new = ssr2_train::report::finite(ev.accuracy.new);
        reports.push(report);
    }
    print_table(&reports);
    if !differ.is_empty() {
        return Err(Fail::arg(format!(
            "re-evaluated scores differ from report.json in {} (the data or weights changed since training)",
            differ.join(", ")
        )));
    }
    Ok(())
}

/// A run directory's report (checked) and configuration.
pub fn read_run(dir: &Path) -> Result<(RunReport, TrainConfig)> {
    let path = dir.join("report.json");
    if !path.exists() {
        return Err(Fail::input(
            dir,
            "no report.json here: give one seed's run directory (OUT/seed-N)",
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Fail::input(&path, e))?;
    let report = parse_report(&text, &path.display().to_string()).map_err(Fail)?;
    let cfg_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| Fail::input(&cfg_path, e))?;
    let cfg = TrainConfig::from_toml(&text).map_err(|e| Fail::input(&cfg_path, e))?;
    Ok((report, cfg))
}

/// The run's trained heads, sized for `ds` and the run's cluster count.
pub fn trained_heads(
    dir: &Path,
    report: &RunReport,
    cfg: &TrainConfig,
    ds: &ssr2_data::Dataset,
    device: &burn::prelude::Device,
) -> Result<HeadModel> {
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    let mut model =
        HeadModel::for_dataset(&cfg.model, ds, report.head_clusters(), use_text, device);
    load_heads(&dir.join(&report.heads), &mut model).map_err(|e| {
        Fail(format!(
            "{e} (do the samples have the run's feature dimensions?)"
        ))
    })?;
    Ok(model)
}

/// The data must be the data the run trained on (reports that record its content hash).
fn same_data(report: &RunReport, ds: &ssr2_data::Dataset, dir: &Path) -> Result<()> {
    let Some(p) = &report.provenance else {
        return Ok(());
    };
    let now = ssr2_data::dataset_sha256(ds);
    if now != p.data_sha256 {
        return Err(Fail::input(
            &dir.join("report.json"),
            format!(
                "the run trained on other data (content hash {}), the data now gives {}: \
                 the bundle or split changed since training",
                short(&p.data_sha256),
                short(&now)
            ),
        ));
    }
    Ok(())
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
