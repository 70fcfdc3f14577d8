//! Reading `report.json` (format `ssr2-report`, version 1, `docs/REPORT.md`). The reader keeps
//! only what the explorer shows and checks the shapes, so a bad file fails here with a message
//! that names the file and the field, not later inside a chart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies the file type; readers reject other values.
pub const REPORT_FORMAT: &str = "ssr2-report";
/// Bumped on any incompatible change; readers reject unknown versions.
pub const REPORT_VERSION: u32 = 1;

// One definition for the writer (`ssr2-train`) and the readers (`ssr2 eval`, the browser app).
// Fields only the trainer fills carry `serde(default)`, so a hand-made report stays readable.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub num_classes: usize,
    pub num_old: usize,
    pub class_names: Vec<String>,
    pub n_train: usize,
    pub n_labelled: usize,
    pub n_unlabelled: usize,
    /// Samples of the held-out test split (0 when the data has none).
    #[serde(default)]
    pub n_test: usize,
    /// "image", and "text" when the text branch trained.
    pub modalities: Vec<String>,
    /// Features-mode runs: values per image input the heads read (a CNN adapter reads them as a
    /// square image of this many pixels), so that other data of another width is refused even
    /// where the weights' shapes would fit it. Absent in older reports and fine-tune runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_dim: Option<usize>,
}

/// All/Old/New as fractions in [0, 1]; `None` where a part has no samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub all: f64,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub n: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochEval {
    pub scores: Scores,
    pub rank_old: Option<f64>,
    pub rank_new: Option<f64>,
    #[serde(default)]
    pub edge_ratio_all: Option<f64>,
    #[serde(default)]
    pub edge_ratio_old: Option<f64>,
    #[serde(default)]
    pub edge_ratio_new: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    #[serde(default)]
    pub lr_head: f64,
    #[serde(default)]
    pub lr_backbone: f64,
    #[serde(default)]
    pub teacher_temp: f64,
    /// Mean of each loss term over the epoch's batches (names in `ssr2_train::objective`).
    pub loss: BTreeMap<String, f64>,
    pub eval: EpochEval,
    /// Wall time of the epoch's training steps (sampling, augmentation, forward, backward, update).
    #[serde(default)]
    pub train_seconds: f64,
    /// Wall time of the whole epoch, co-teaching selection and evaluation included.
    #[serde(default)]
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRank {
    pub class: usize,
    pub old: bool,
    pub count: usize,
    pub effective_rank: f64,
    pub singular_values: Vec<f64>,
}

/// 2-D PCA projection of evaluation embeddings, column-wise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub method: String,
    /// Share of the variance along each of the two axes.
    pub explained: [f64; 2],
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub label: Vec<usize>,
    pub pred: Vec<usize>,
    pub id: Vec<String>,
}

/// One classifier and the features it sees (row-major, flat).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceBranch {
    /// Final unit-norm features of the evaluated samples, `n x dim`.
    pub features: Vec<f32>,
    /// Classifier directions, `classes x dim`.
    pub weight: Vec<f32>,
    /// Classifier gains, `classes`.
    pub gain: Vec<f32>,
}

/// Evaluation samples and trained heads, so a reader can redo the prediction of SPEC §2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inference {
    pub n: usize,
    pub dim: usize,
    pub classes: usize,
    /// True class of each evaluated sample.
    pub labels: Vec<usize>,
    /// The report's prediction (cluster index) of each evaluated sample.
    pub pred: Vec<usize>,
    pub image: InferenceBranch,
    pub text: Option<InferenceBranch>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub created_by: String,
    pub seed: u64,
    pub dataset: DatasetInfo,
    /// The whole configuration, as in the run's `config.toml`.
    pub config: serde_json::Value,
    pub history: Vec<EpochRecord>,
    /// Transductive: scores of the last epoch on the unlabelled training samples (no model
    /// selection).
    pub final_scores: Scores,
    /// Inductive: the final model's scores on the held-out test split, clustered on its own
    /// (absent when the data has no test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_scores: Option<Scores>,
    pub rank_old_mean: Option<f64>,
    pub rank_new_mean: Option<f64>,
    pub class_ranks: Vec<ClassRank>,
    pub edge_ratio: EpochEval,
    /// `mapping[p]` = class matched to cluster `p` by the Hungarian assignment (`null` = none).
    pub mapping: Vec<Option<usize>>,
    pub projection: Projection,
    /// File of the trained adapter and classifier weights, relative to the report.
    #[serde(default)]
    pub heads: String,
    /// What a reader needs to recompute the predictions (absent when too large or turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<Inference>,
    /// Where the run came from (absent in reports written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Clusters the heads predict, when not the data's class count (`model.num_classes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<usize>,
    /// The estimate of the class count the run used (`model.num_classes = "auto"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_estimate: Option<KEstimate>,
    /// A few evaluated images per predicted cluster (pixel inputs with `eval.thumbnails`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<Thumbnails>,
}

/// Sample images of the predicted clusters: greyscale `side x side`, row-major, 0-255.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thumbnails {
    pub side: usize,
    pub samples: Vec<Thumbnail>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// Predicted cluster.
    pub cluster: usize,
    /// True class.
    pub label: usize,
    pub id: String,
    pub pixels: Vec<u8>,
}

/// How `final_scores` are measured, for tables and charts.
pub const TRANSDUCTIVE: &str = "transductive (unlabelled train)";
/// How `test_scores` are measured.
pub const INDUCTIVE: &str = "inductive (test)";

impl RunReport {
    /// Clusters the heads predict: `clusters` when recorded, else the data's class count.
    pub fn head_clusters(&self) -> usize {
        self.clusters.unwrap_or(self.dataset.num_classes)
    }

    /// True for a fine-tune run: its config names a CLIP folder or a synthetic CLIP shape
    /// (`[finetune] model` or `synthetic`, as `ssr2_train`'s `FinetuneConfig::enabled`).
    pub fn is_finetune(&self) -> bool {
        let set = |key: &str| !self.config["finetune"][key].is_null();
        set("model") || set("synthetic")
    }
}

/// An estimate of the number of classes: the criterion over the K tried, and the choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KEstimate {
    pub method: String,
    pub min: usize,
    pub max: usize,
    /// `[K, value]` for every K evaluated, in increasing K.
    pub points: Vec<(usize, f64)>,
    pub best: usize,
}

/// What a reader needs to reproduce or compare a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `ssr2 <version>` that trained it.
    pub tool_version: String,
    /// The git commit it was built from (`unknown` outside a checkout).
    pub git_commit: String,
    /// SHA-256 of the run's `config.toml`.
    pub config_sha256: String,
    /// Content hash of the training data (features, labels, labelled mask, ids).
    pub data_sha256: String,
    /// SHA-256 of the run's heads file (`heads`); absent in reports written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads_sha256: Option<String>,
    /// Fine-tune runs: SHA-256 of the CLIP folder they were fine-tuned from (`config.json`,
    /// `model.safetensors`; `ssr2_data::files_sha256`), whose frozen part the heads need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_sha256: Option<String>,
    /// Fine-tune runs with texts: SHA-256 of the candidates file (`ssr2 retrieve`'s
    /// `.candidates.json`) their texts came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_sha256: Option<String>,
    /// The device it trained on.
    pub device: String,
    /// Which scores `final_scores` (and `test_scores`) hold.
    pub evaluation: String,
}

/// Parse and check a report; `origin` (file name or URL) starts every error message.
pub fn parse_report(text: &str, origin: &str) -> Result<RunReport, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("{origin}: not a JSON file ({e}); expected an ssr2 report.json"))?;
    check_header(&value, origin)?;
    let report: RunReport = serde_json::from_value(value).map_err(|e| {
        format!("{origin}: does not match the {REPORT_FORMAT} version {REPORT_VERSION} layout: {e}")
    })?;
    check_shapes(&report).map_err(|e| format!("{origin}: {e}"))?;
    Ok(report)
}

/// Check the format and version of a parsed report; `origin` starts the error message.
pub fn check_header(value: &serde_json::Value, origin: &str) -> Result<(), String> {
    let format = value.get("format").and_then(|v| v.as_str());
    if format != Some(REPORT_FORMAT) {
        return Err(format!(
            "{origin}: not an ssr2 run report (field `format` is {}, expected \"{REPORT_FORMAT}\")",
            shown(value.get("format"))
        ));
    }
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(REPORT_VERSION as u64) {
        return Err(format!(
            "{origin}: report version {} is not supported (this build reads version {REPORT_VERSION})",
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
    if r.dataset.num_old > k {
        return Err(format!(
            "dataset.num_old is {}, more than num_classes = {k}",
            r.dataset.num_old
        ));
    }
    if let Some(c) = r.mapping.iter().flatten().find(|&&c| c >= k) {
        return Err(format!(
            "mapping refers to class {c}, the dataset has {k} classes"
        ));
    }
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
    if let Some(c) = p.label.iter().find(|&&c| c >= k) {
        return Err(format!(
            "projection refers to class {c}, the dataset has {k} classes"
        ));
    }
    let clusters = r.head_clusters();
    // The cluster count sizes the heads a reader builds: bounded by the data it describes.
    let most = k.max(r.dataset.n_train.saturating_add(r.dataset.n_test));
    if clusters == 0 || clusters > most {
        return Err(format!(
            "clusters is {clusters}, expected 1..={most} (the run's {} samples and {k} classes)",
            r.dataset.n_train.saturating_add(r.dataset.n_test)
        ));
    }
    if let Some(c) = p.pred.iter().find(|&&c| c >= clusters) {
        return Err(format!(
            "projection refers to cluster {c}, the heads have {clusters}"
        ));
    }
    if let Some(inf) = &r.inference {
        check_inference(inf, k, clusters)?;
    }
    if let Some(t) = &r.thumbnails {
        for (i, s) in t.samples.iter().enumerate() {
            if Some(s.pixels.len()) != t.side.checked_mul(t.side)
                || s.cluster >= clusters
                || s.label >= k
            {
                return Err(format!(
                    "thumbnails.samples[{i}]: {} pixels for side {}, cluster {} of {clusters}, \
                     class {} of {k}",
                    s.pixels.len(),
                    t.side,
                    s.cluster,
                    s.label
                ));
            }
        }
    }
    Ok(())
}

fn check_inference(inf: &Inference, k: usize, clusters: usize) -> Result<(), String> {
    let (n, d, c) = (inf.n, inf.dim, inf.classes);
    if c != clusters {
        return Err(format!(
            "inference.classes is {c}, expected the heads' {clusters} clusters"
        ));
    }
    let mut sizes = vec![
        ("inference.labels", inf.labels.len(), n),
        ("inference.pred", inf.pred.len(), n),
    ];
    let (Some(nd), Some(cd)) = (n.checked_mul(d), c.checked_mul(d)) else {
        return Err(format!(
            "inference sizes n = {n}, dim = {d}, classes = {c} are too large"
        ));
    };
    for (name, b) in [("image", Some(&inf.image)), ("text", inf.text.as_ref())] {
        if let Some(b) = b {
            sizes.push((leak(name, "features"), b.features.len(), nd));
            sizes.push((leak(name, "weight"), b.weight.len(), cd));
            sizes.push((leak(name, "gain"), b.gain.len(), c));
        }
    }
    for (field, got, want) in sizes {
        if got != want {
            return Err(format!("{field} has {got} values, expected {want}"));
        }
    }
    if let Some(c) = inf.labels.iter().find(|&&x| x >= k) {
        return Err(format!(
            "inference refers to class {c}, the dataset has {k} classes"
        ));
    }
    if let Some(c) = inf.pred.iter().find(|&&x| x >= clusters) {
        return Err(format!(
            "inference refers to cluster {c}, the heads have {clusters}"
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
        "edge_ratio": {"scores": {"all": 0.75, "old": 1.0, "new": 0.5, "n": 4}, "rank_old": null,
            "rank_new": null, "edge_ratio_all": 0.9, "edge_ratio_old": null, "edge_ratio_new": null},
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

    /// Heads with more clusters than the data has classes (`model.num_classes`): predictions up
    /// to `clusters` are valid, beyond it they are not; without `clusters`, the class count rules.
    /// `clusters` sizes the heads a reader allocates: bounded by the data the report describes.
    #[test]
    fn a_cluster_count_beyond_the_data_is_refused() {
        for clusters in [0u64, 7, 1_000_000_000_000] {
            let mut v: serde_json::Value = serde_json::from_str(&sample_json()).unwrap();
            v["clusters"] = serde_json::json!(clusters);
            let err = parse_report(&v.to_string(), "k.json").unwrap_err();
            assert!(
                err.contains(&format!("clusters is {clusters}, expected 1..=6")),
                "{err}"
            );
        }
    }

    #[test]
    fn predictions_are_checked_against_the_heads_cluster_count() {
        let mut v: serde_json::Value = serde_json::from_str(&sample_json()).unwrap();
        v.as_object_mut().unwrap().remove("inference");
        v["projection"]["pred"] = serde_json::json!([0, 2, 1, 0]);
        let err = parse_report(&v.to_string(), "k.json").unwrap_err();
        assert!(err.contains("cluster 2, the heads have 2"), "{err}");
        v["clusters"] = serde_json::json!(3);
        v["k_estimate"] = serde_json::json!({"method": "gcd", "min": 1, "max": 4,
            "points": [[1, 0.5], [3, 0.9], [4, 0.7]], "best": 3});
        let r = parse_report(&v.to_string(), "k.json").unwrap();
        assert_eq!(r.k_estimate.unwrap().points[1], (3, 0.9));
    }

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
