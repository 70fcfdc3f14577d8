//! `ssr2 predict`: the trained model's cluster for each sample of a feature bundle.

use crate::cmd_eval::{read_run, trained_heads};
use crate::cmd_train::{device, load_dataset};
use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_train::eval::embed;
use std::path::{Path, PathBuf};

/// Predict the cluster of every sample of a feature bundle with a trained run (features mode).
///
/// Writes one row per sample: its id, the predicted cluster, the class that cluster was matched
/// to in training (old classes by name, discovered ones as new-<class id of the run's mapping>,
/// `unmatched-<cluster>` for a cluster no class was matched to), whether that class is old, and
/// the confidence (the largest class probability: softmax of the logits, averaged over the image
/// and text branches when the run uses text). CSV by default, JSON with --json.
#[derive(Args)]
pub struct PredictArgs {
    /// A run directory written by `ssr2 train` (OUT/seed-N).
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// The samples: a feature bundle with the run's feature dimensions (docs/BUNDLE.md). Default:
    /// the run's own data.
    #[arg(long, value_name = "BUNDLE")]
    features: Option<PathBuf>,
    /// JSON (an array of objects) instead of CSV.
    #[arg(long)]
    json: bool,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Device: cpu, wgpu or cuda (when built with those features).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu", "cuda"])]
    device: String,
}

/// One predicted sample.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    cluster: usize,
    class: String,
    old: bool,
    confidence: f64,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let dir = &args.run;
    let (report, cfg) = read_run(dir)?;
    if cfg.finetune.enabled() {
        return Err(Fail::input(
            dir,
            "a fine-tuning run: predict reads feature bundles, so it needs a features-mode run",
        ));
    }
    let ds = match &args.features {
        Some(path) => ssr2_data::read_bundle(path).map_err(|e| Fail(e.to_string()))?,
        None => load_dataset(&cfg)?,
    };
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    if use_text && ds.text.is_none() {
        return Err(Fail::input(
            args.features.as_deref().unwrap_or(dir),
            "the run uses text features but these samples have none",
        ));
    }
    let device = device(&args.device)?;
    let model = trained_heads(dir, &report, &cfg, &ds, &device)?;
    let all: Vec<usize> = (0..ds.len()).collect();
    let e = embed(&model, &ds, &all, &cfg.rta, &device);
    let rows: Vec<Row> = (0..ds.len())
        .map(|i| {
            let cluster = e.preds[i];
            let (class, old) = match report.mapping.get(cluster).copied().flatten() {
                Some(c) if c < report.dataset.num_old => {
                    (report.dataset.class_names[c].clone(), true)
                }
                Some(c) => (format!("new-{c}"), false),
                None => (format!("unmatched-{cluster}"), false),
            };
            let text = e
                .logits_text
                .as_ref()
                .map(|l| &l[i * e.classes..(i + 1) * e.classes]);
            let confidence = confidence(&e.logits_image[i * e.classes..(i + 1) * e.classes], text);
            Row {
                id: ds.sample_ids[i].clone(),
                cluster,
                class,
                old,
                confidence,
            }
        })
        .collect();
    let out = if args.json { json(&rows) } else { csv(&rows) };
    match &args.out {
        Some(path) => write_atomic(path, out.as_bytes()),
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

/// The largest class probability: softmax of one branch, or the mean of both (SPEC §2).
fn confidence(image: &[f32], text: Option<&[f32]>) -> f64 {
    let softmax = |l: &[f32]| -> Vec<f64> {
        let max = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let e: Vec<f64> = l.iter().map(|&v| (v as f64 - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect()
    };
    let p = softmax(image);
    let p = match text {
        Some(t) => p
            .iter()
            .zip(softmax(t))
            .map(|(a, b)| 0.5 * (a + b))
            .collect(),
        None => p,
    };
    p.into_iter().fold(0.0, f64::max)
}

fn csv(rows: &[Row]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("id,cluster,class,old,confidence\n");
    for r in rows {
        out += &format!(
            "{},{},{},{},{:.6}\n",
            quote(&r.id),
            r.cluster,
            quote(&r.class),
            r.old,
            r.confidence
        );
    }
    out
}

fn json(rows: &[Row]) -> String {
    serde_json::to_string(rows).expect("rows serialise") + "\n"
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Fail::output(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Fail::output(path, e))
}
