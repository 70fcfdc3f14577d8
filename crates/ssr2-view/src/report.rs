//! Reading `report.json` (format `ssr2-report`, version 1, `docs/REPORT.md`). The reader keeps
//! only what the explorer shows and checks the shapes, so a bad file fails here with a message
//! that names the file and the field, not later inside a chart.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The format string every report carries.
pub const FORMAT: &str = "ssr2-report";
/// The only version this reader understands.
pub const VERSION: u64 = 1;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub num_classes: usize,
    pub num_old: usize,
    pub class_names: Vec<String>,
    pub n_train: usize,
    pub n_labelled: usize,
    pub n_unlabelled: usize,
    pub modalities: Vec<String>,
}

/// All/Old/New as fractions; `None` where a part has no samples.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Scores {
    pub all: f64,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub n: usize,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EpochEval {
    pub scores: Scores,
    pub rank_old: Option<f64>,
    pub rank_new: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Epoch {
    pub epoch: usize,
    pub loss: BTreeMap<String, f64>,
    pub eval: EpochEval,
    #[serde(default)]
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ClassRank {
    pub class: usize,
    pub old: bool,
    pub count: usize,
    pub effective_rank: f64,
    pub singular_values: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Projection {
    pub method: String,
    pub explained: [f64; 2],
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub label: Vec<usize>,
    pub pred: Vec<usize>,
    pub id: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct InferenceBranch {
    pub features: Vec<f32>,
    pub weight: Vec<f32>,
    pub gain: Vec<f32>,
}

/// Evaluated samples and trained heads (optional block, see `docs/REPORT.md`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Inference {
    pub n: usize,
    pub dim: usize,
    pub classes: usize,
    pub labels: Vec<usize>,
    pub pred: Vec<usize>,
    pub image: InferenceBranch,
    pub text: Option<InferenceBranch>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunReport {
    pub format: String,
    pub version: u64,
    #[serde(default)]
    pub created_by: String,
    pub seed: u64,
    pub dataset: DatasetInfo,
    pub config: serde_json::Value,
    pub history: Vec<Epoch>,
    pub final_scores: Scores,
    pub rank_old_mean: Option<f64>,
    pub rank_new_mean: Option<f64>,
    pub class_ranks: Vec<ClassRank>,
    pub mapping: Vec<Option<usize>>,
    pub projection: Projection,
    #[serde(default)]
    pub inference: Option<Inference>,
}

/// Parse and check a report; `origin` (file name or URL) starts every error message.
pub fn parse_report(text: &str, origin: &str) -> Result<RunReport, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("{origin}: not a JSON file ({e}); expected an ssr2 report.json"))?;
    check_header(&value, origin)?;
    let report: RunReport = serde_json::from_value(value).map_err(|e| {
        format!("{origin}: does not match the {FORMAT} version {VERSION} layout: {e}")
    })?;
    check_shapes(&report).map_err(|e| format!("{origin}: {e}"))?;
    Ok(report)
}

fn check_header(value: &serde_json::Value, origin: &str) -> Result<(), String> {
    let format = value.get("format").and_then(|v| v.as_str());
    if format != Some(FORMAT) {
        return Err(format!(
            "{origin}: not an ssr2 run report (field `format` is {}, expected \"{FORMAT}\")",
            shown(value.get("format"))
        ));
    }
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(VERSION) {
        return Err(format!(
            "{origin}: report version {} is not supported (this app reads version {VERSION})",
            shown(value.get("version"))
        ));
    }
    Ok(())
}

fn shown(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "missing".to_string(), |v| v.to_string())
}

/// Lengths that must agree for the charts and the inference to make sense.
fn check_shapes(r: &RunReport) -> Result<(), String> {
    let k = r.dataset.num_classes;
    if r.dataset.class_names.len() != k {
        return Err(format!(
            "dataset.class_names has {} names, expected num_classes = {k}",
            r.dataset.class_names.len()
        ));
    }
    let p = &r.projection;
    let n = p.x.len();
    for (field, len) in [
        ("y", p.y.len()),
        ("label", p.label.len()),
        ("pred", p.pred.len()),
        ("id", p.id.len()),
    ] {
        if len != n {
            return Err(format!(
                "projection.{field} has {len} entries, projection.x has {n}"
            ));
        }
    }
    if let Some(c) = p.label.iter().chain(&p.pred).find(|&&c| c >= k) {
        return Err(format!(
            "projection refers to class {c}, the dataset has {k} classes"
        ));
    }
    if let Some(inf) = &r.inference {
        check_inference(inf, k)?;
    }
    Ok(())
}

fn check_inference(inf: &Inference, k: usize) -> Result<(), String> {
    let (n, d, c) = (inf.n, inf.dim, inf.classes);
    if c != k {
        return Err(format!(
            "inference.classes is {c}, expected num_classes = {k}"
        ));
    }
    let mut sizes = vec![
        ("inference.labels", inf.labels.len(), n),
        ("inference.pred", inf.pred.len(), n),
    ];
    for (name, b) in [("image", Some(&inf.image)), ("text", inf.text.as_ref())] {
        if let Some(b) = b {
            sizes.push((leak(name, "features"), b.features.len(), n * d));
            sizes.push((leak(name, "weight"), b.weight.len(), c * d));
            sizes.push((leak(name, "gain"), b.gain.len(), c));
        }
    }
    for (field, got, want) in sizes {
        if got != want {
            return Err(format!("{field} has {got} values, expected {want}"));
        }
    }
    if let Some(c) = inf.labels.iter().chain(&inf.pred).find(|&&x| x >= k) {
        return Err(format!(
            "inference refers to class {c}, the dataset has {k} classes"
        ));
    }
    Ok(())
}

fn leak(branch: &str, field: &str) -> &'static str {
    // Only six distinct names exist; a match keeps them static without allocation games.
    match (branch, field) {
        ("image", "features") => "inference.image.features",
        ("image", "weight") => "inference.image.weight",
        ("image", "gain") => "inference.image.gain",
        ("text", "features") => "inference.text.features",
        ("text", "weight") => "inference.text.weight",
        _ => "inference.text.gain",
    }
}

/// A small valid report (two classes, one old), for tests of this crate and of the app.
pub fn sample_json() -> String {
    serde_json::json!({
        "format": "ssr2-report", "version": 1, "created_by": "test", "seed": 7,
        "dataset": {"name": "toy", "num_classes": 2, "num_old": 1, "class_names": ["a", "b"],
            "n_train": 6, "n_labelled": 2, "n_unlabelled": 4, "modalities": ["image"]},
        "config": {"optim": {"epochs": 2}},
        "history": [
            {"epoch": 0, "loss": {"total": 1.0, "R_image": 2.0}, "seconds": 0.1,
             "eval": {"scores": {"all": 0.5, "old": 0.5, "new": 0.5, "n": 4}, "rank_old": 1.0, "rank_new": 1.0}},
            {"epoch": 1, "loss": {"total": 0.5, "R_image": 2.5}, "seconds": 0.1,
             "eval": {"scores": {"all": 0.75, "old": 1.0, "new": 0.5, "n": 4}, "rank_old": 1.5, "rank_new": 1.2}}
        ],
        "final_scores": {"all": 0.75, "old": 1.0, "new": 0.5, "n": 4},
        "rank_old_mean": 1.5, "rank_new_mean": 1.2,
        "class_ranks": [
            {"class": 0, "old": true, "count": 2, "effective_rank": 1.5, "singular_values": [1.0, 0.5]},
            {"class": 1, "old": false, "count": 2, "effective_rank": 1.2, "singular_values": [1.0, 0.2]}
        ],
        "edge_ratio": {},
        "mapping": [0, 1],
        "projection": {"method": "pca", "explained": [0.8, 0.2],
            "x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0, 1.0],
            "label": [0, 0, 1, 1], "pred": [0, 0, 1, 0], "id": ["s0", "s1", "s2", "s3"]},
        "heads": "heads.safetensors",
        "inference": {"n": 4, "dim": 2, "classes": 2, "labels": [0, 0, 1, 1], "pred": [0, 0, 1, 0],
            "image": {"features": [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.8, 0.2],
                      "weight": [1.0, 0.0, 0.0, 1.0], "gain": [5.0, 5.0]},
            "text": null}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_report() {
        let r = parse_report(&sample_json(), "toy.json").unwrap();
        assert_eq!(r.dataset.num_classes, 2);
        assert_eq!(r.history.len(), 2);
        assert_eq!(r.final_scores.old, Some(1.0));
        assert_eq!(r.inference.as_ref().unwrap().image.gain, vec![5.0, 5.0]);
    }

    #[test]
    fn inference_block_is_optional() {
        let mut v: serde_json::Value = serde_json::from_str(&sample_json()).unwrap();
        v.as_object_mut().unwrap().remove("inference");
        let r = parse_report(&v.to_string(), "old.json").unwrap();
        assert!(r.inference.is_none());
    }

    #[test]
    fn refuses_bad_files_with_the_reason() {
        let bad_json = parse_report("{\"format\": ", "a.json").unwrap_err();
        assert!(
            bad_json.starts_with("a.json: not a JSON file"),
            "{bad_json}"
        );

        let other = parse_report("{\"format\": \"png\"}", "b.json").unwrap_err();
        assert!(other.contains("not an ssr2 run report"), "{other}");

        let v2 = sample_json().replace("\"version\":1", "\"version\":2");
        let err = parse_report(&v2, "c.json").unwrap_err();
        assert!(err.contains("version 2 is not supported"), "{err}");

        let short =
            sample_json().replace("\"id\":[\"s0\",\"s1\",\"s2\",\"s3\"]", "\"id\":[\"s0\"]");
        let err = parse_report(&short, "d.json").unwrap_err();
        assert!(err.contains("projection.id has 1 entries"), "{err}");

        let gains = sample_json().replace("\"gain\":[5.0,5.0]", "\"gain\":[5.0]");
        let err = parse_report(&gains, "e.json").unwrap_err();
        assert!(
            err.contains("inference.image.gain has 1 values, expected 2"),
            "{err}"
        );

        let missing = sample_json().replace("\"final_scores\"", "\"final\"");
        let err = parse_report(&missing, "f.json").unwrap_err();
        assert!(err.contains("final_scores"), "{err}");
    }
}
