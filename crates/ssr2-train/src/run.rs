//! A trained run's folder (`OUT/seed-N`), as `eval` and `predict` read it: the report, the
//! config and the heads, each checked against what the report records (SHA-256s, the heads'
//! place, the base CLIP and candidates of a fine-tune run, the data), and the heads rebuilt for
//! the data at hand. Every refusal is one line naming the file.

use crate::TrainConfig;
use crate::TrainError;
use crate::checkpoint::{load_heads, short};
use crate::report::{RunReport, parse_report};
use burn::prelude::*;
use ssr2_data::Dataset;
use ssr2_head::HeadModel;
use std::path::Path;

/// A configuration's TOML, its error flattened to one line naming the key.
pub fn parse_config(path: &Path, text: &str) -> Result<TrainConfig, TrainError> {
    TrainConfig::from_toml(text).map_err(|e| {
        TrainError::file(
            path,
            e.lines().next().unwrap_or("invalid").to_string()
                + &e.lines()
                    .skip(1)
                    .map(|l| format!(" {}", l.trim()))
                    .collect::<String>(),
        )
    })
}

/// A run directory's report (checked) and configuration.
pub fn read_run(dir: &Path) -> Result<(RunReport, TrainConfig), TrainError> {
    let path = dir.join("report.json");
    if !path.exists() {
        return Err(TrainError::file(
            dir,
            "no report.json here: give one seed's run directory (OUT/seed-N)",
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file(&path, e))?;
    let report = parse_report(&text, &path.display().to_string()).map_err(TrainError::Input)?;
    let cfg_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| TrainError::file(&cfg_path, e))?;
    check_files(dir, &path, &report, text.as_bytes())?;
    let cfg = parse_config(&cfg_path, &text)?;
    #[cfg(feature = "finetune")]
    check_base_clip(&report, &cfg)?;
    Ok((report, cfg))
}

/// The run's files are the ones its report describes: the heads file inside the run folder,
/// and, where the report records them, the SHA-256 of its config.toml and heads. Another run's
/// heads or config copied in would otherwise give that run's predictions under this run's name.
fn check_files(dir: &Path, report_path: &Path, report: &RunReport, config: &[u8]) -> Result<(), TrainError> {
    let name = Path::new(&report.heads);
    let plain = matches!(
        name.components().collect::<Vec<_>>()[..],
        [std::path::Component::Normal(_)]
    );
    if !plain {
        return Err(TrainError::file(
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
        TrainError::file(
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
        let bytes = std::fs::read(&heads).map_err(|e| TrainError::file(&heads, e))?;
        let now = ssr2_data::sha256_hex(&bytes);
        if *then != now {
            return Err(mismatch(&heads, "heads", then, &now));
        }
    }
    Ok(())
}

/// A fine-tune run's heads sit on the frozen layers of the CLIP it was fine-tuned from, and its
/// text branch on the retrieved texts: that folder and that candidates file must still hold
/// what they held (reports that record their SHA-256).
#[cfg(feature = "finetune")]
fn check_base_clip(report: &RunReport, cfg: &TrainConfig) -> Result<(), TrainError> {
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
            crate::finetune::clip_sha256,
        ),
        (
            &p.candidates_sha256,
            &cfg.finetune.candidates,
            "candidates file",
            "the texts of its text branch",
            crate::finetune::candidates_sha256,
        ),
    ];
    for (then, path, what, meaning, hash) in checks {
        let (Some(then), Some(path)) = (then, path) else {
            continue;
        };
        let now = hash(cfg).map_err(TrainError::Input)?.unwrap_or_default();
        if now != *then {
            return Err(TrainError::file(
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

/// The data must be the data the run trained on (reports that record its content hash).
pub fn check_hash(dir: &Path, then: &str, now: &str) -> Result<(), TrainError> {
    if now != then {
        return Err(TrainError::file(
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

/// The run's trained heads, sized for `ds` and the run's cluster count.
pub fn trained_heads(
    dir: &Path,
    report: &RunReport,
    cfg: &TrainConfig,
    ds: &Dataset,
    device: &Device,
) -> Result<HeadModel, TrainError> {
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    let mut model =
        crate::features::heads_for(&cfg.model, ds, report.head_clusters(), use_text, device)
            .map_err(|e| {
                TrainError::file(
                    &dir.join("config.toml"),
                    format!("{e} (do the samples have the run's feature dimensions?)"),
                )
            })?;
    load_heads(&dir.join(&report.heads), &mut model).map_err(|e| {
        TrainError::Weights(format!(
            "{e} (do the samples have the run's feature dimensions?)"
        ))
    })?;
    // After loading, which names the tensor when the shapes differ: this catches the widths
    // the weights fit too (a CNN's, for every side that pools to the same size).
    if let Some(d) = report.dataset.image_dim
        && d != ds.image.cols
    {
        let image = match ssr2_head::image_side(d) {
            Some(s) if cfg.model.adapter == ssr2_head::AdapterKind::Cnn => {
                format!(" (a {s}x{s} image for its cnn adapter)")
            }
            _ => String::new(),
        };
        return Err(TrainError::file(
            &dir.join("report.json"),
            format!(
                "the run's heads read {d} values per image{image}, these samples have {}",
                ds.image.cols
            ),
        ));
    }
    Ok(model)
}
