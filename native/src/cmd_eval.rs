//! `ssr2 eval`: re-evaluate a run's saved heads on its data and print the table.

use crate::cmd_train::{Split, load_dataset, print_scores};
use crate::device::DeviceArgs;
use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_head::HeadModel;
use ssr2_train::TrainConfig;
use ssr2_train::checkpoint::{load_heads, short};
use ssr2_train::features::evaluate;
use ssr2_train::report::scores;
use ssr2_train::report::{RunReport, Scores, parse_report};
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
    check_files(dir, &path, &report, text.as_bytes())?;
    let cfg = crate::cmd_train::parse_config(&cfg_path, &text)?;
    check_base_clip(&report, &cfg)?;
    Ok((report, cfg))
}

/// A fine-tune run's heads sit on the frozen layers of the CLIP it was fine-tuned from, and its
/// text branch on the retrieved texts: that folder and that candidates file must still hold
/// what they held (reports that record their SHA-256).
fn check_base_clip(report: &RunReport, cfg: &TrainConfig) -> Result<()> {
    let Some(p) = &report.provenance else {
        return Ok(());
    };
    type Hash = fn(&TrainConfig) -> std::result::Result<Option<String>, String>;
    let checks: [(_, _, _, _, Hash); 2] = [
        (
            &p.clip_sha256,
            &cfg.finetune.model,
            "CLIP",
            "the frozen layers under its heads",
            ssr2_train::finetune::clip_sha256,
        ),
        (
            &p.candidates_sha256,
            &cfg.finetune.candidates,
            "candidates file",
            "the texts of its text branch",
            ssr2_train::finetune::candidates_sha256,
        ),
    ];
    for (then, path, what, meaning, hash) in checks {
        let (Some(then), Some(path)) = (then, path) else {
            continue;
        };
        let now = hash(cfg).map_err(Fail)?.unwrap_or_default();
        if now != *then {
            return Err(Fail::input(
                Path::new(path),
                format!(
                    "SHA-256 {} but the run was fine-tuned from a {what} with {}: {meaning} \
                     changed (another {what} in its place?)",
                    short(&now),
                    short(then)
                ),
            ));
        }
    }
    Ok(())
}

/// The run's files are the ones its report describes: the heads file inside the run folder,
/// and, where the report records them, the SHA-256 of its config.toml and heads. Another run's
/// heads or config copied in would otherwise give that run's predictions under this run's name.
fn check_files(dir: &Path, report_path: &Path, report: &RunReport, config: &[u8]) -> Result<()> {
    let name = Path::new(&report.heads);
    let plain = matches!(
        name.components().collect::<Vec<_>>()[..],
        [std::path::Component::Normal(_)]
    );
    if !plain {
        return Err(Fail::input(
            report_path,
            format!(
                "heads is {:?}: it must name a file in the run's folder",
                report.heads
            ),
        ));
    }
    let Some(p) = &report.provenance else {
        return Ok(());
    };
    let mismatch = |file: &Path, what: &str, then: &str, now: &str| {
        Fail::input(
            file,
            format!(
                "SHA-256 {} but report.json records {} for its {what}: \
                 this file is not the one the run wrote (another run's?)",
                short(now),
                short(then)
            ),
        )
    };
    let now = ssr2_data::sha256_hex(config);
    if !p.config_sha256.is_empty() && p.config_sha256 != now {
        return Err(mismatch(
            &dir.join("config.toml"),
            "config",
            &p.config_sha256,
            &now,
        ));
    }
    if let Some(then) = &p.heads_sha256 {
        let heads = dir.join(name);
        let bytes = std::fs::read(&heads).map_err(|e| Fail::input(&heads, e))?;
        let now = ssr2_data::sha256_hex(&bytes);
        if *then != now {
            return Err(mismatch(&heads, "heads", then, &now));
        }
    }
    Ok(())
}

/// The run's trained heads, sized for `ds` and the run's cluster count.
pub fn trained_heads(
    dir: &Path,
    report: &RunReport,
    cfg: &TrainConfig,
    ds: &ssr2_data::Dataset,
    device: &burn::prelude::Device,
) -> Result<HeadModel> {
    if let Some(d) = report.dataset.image_dim
        && d != ds.image.cols
    {
        let image = match ssr2_head::image_side(d) {
            Some(s) if cfg.model.adapter == ssr2_head::AdapterKind::Cnn => {
                format!(" (a {s}x{s} image for its cnn adapter)")
            }
            _ => String::new(),
        };
        return Err(Fail(format!(
            "{}: the run's heads read {d} values per image{image}, these samples have {}",
            dir.join("report.json").display(),
            ds.image.cols
        )));
    }
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    let mut model =
        ssr2_train::features::heads_for(&cfg.model, ds, report.head_clusters(), use_text, device)
            .map_err(|e| {
            Fail(format!(
                "{}: {e} (do the samples have the run's feature dimensions?)",
                dir.join("config.toml").display()
            ))
        })?;
    load_heads(&dir.join(&report.heads), &mut model).map_err(|e| {
        Fail(format!(
            "{e} (do the samples have the run's feature dimensions?)"
        ))
    })?;
    Ok(model)
}

/// The data must be the data the run trained on (reports that record its content hash).
pub fn check_hash(dir: &Path, then: &str, now: &str) -> Result<()> {
    if now != then {
        return Err(Fail::input(
            &dir.join("report.json"),
            format!(
                "the run trained on other data (content hash {}), the data now gives {}: \
                 the bundle, images or split changed since training",
                short(then),
                short(now)
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
