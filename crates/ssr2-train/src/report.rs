//! The run report (`report.json`): what the browser explorer opens. Format in `docs/REPORT.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies the file type; readers reject other values.
pub const REPORT_FORMAT: &str = "ssr2-report";
/// Bumped on any incompatible change; readers reject unknown versions.
pub const REPORT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub num_classes: usize,
    pub num_old: usize,
    pub class_names: Vec<String>,
    pub n_train: usize,
    pub n_labelled: usize,
    pub n_unlabelled: usize,
    /// "image", and "text" when the text branch trained.
    pub modalities: Vec<String>,
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
    pub edge_ratio_all: Option<f64>,
    pub edge_ratio_old: Option<f64>,
    pub edge_ratio_new: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr_head: f64,
    pub lr_backbone: f64,
    pub teacher_temp: f64,
    /// Mean of each loss term over the epoch's batches (names in `ssr2_train::objective`).
    pub loss: BTreeMap<String, f64>,
    pub eval: EpochEval,
    /// Wall time of the epoch's training steps (sampling, augmentation, forward, backward, update).
    pub train_seconds: f64,
    /// Wall time of the whole epoch, co-teaching selection and evaluation included.
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRankEntry {
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub version: u32,
    pub created_by: String,
    pub seed: u64,
    pub dataset: DatasetInfo,
    /// The whole configuration, as in the run's `config.toml`.
    pub config: serde_json::Value,
    pub history: Vec<EpochRecord>,
    /// Scores of the last epoch on the unlabelled set (no model selection).
    pub final_scores: Scores,
    pub rank_old_mean: Option<f64>,
    pub rank_new_mean: Option<f64>,
    pub class_ranks: Vec<ClassRankEntry>,
    pub edge_ratio: EpochEval,
    /// `mapping[p]` = class matched to cluster `p` by the Hungarian assignment (`null` = none).
    pub mapping: Vec<Option<usize>>,
    pub projection: Projection,
    /// File of the trained adapter and classifier weights, relative to the report.
    pub heads: String,
    /// What a reader needs to recompute the predictions (absent when too large or turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<Inference>,
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

/// `Some(v)` for a finite value, `None` for NaN (JSON has no NaN).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Check the format and version of a parsed report.
pub fn check_header(value: &serde_json::Value, origin: &str) -> Result<(), String> {
    let format = value.get("format").and_then(|v| v.as_str());
    if format != Some(REPORT_FORMAT) {
        return Err(format!(
            "{origin}: not an ssr2 run report (field `format` is {format:?}, expected \"{REPORT_FORMAT}\")"
        ));
    }
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(REPORT_VERSION as u64) {
        return Err(format!(
            "{origin}: report version {version:?} is not supported (this build reads version {REPORT_VERSION})"
        ));
    }
    Ok(())
}

/// Two leading principal axes of `n x d` rows (power iteration with deflation on the covariance)
/// and the rows projected on them.
pub fn pca_2d(rows: &[f32], n: usize, d: usize) -> ([f64; 2], Vec<f32>, Vec<f32>) {
    if n == 0 || d == 0 {
        return ([0.0, 0.0], vec![], vec![]);
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| rows[i * d + j] as f64).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<f64> = (0..n * d).map(|x| rows[x] as f64 - mean[x % d]).collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        let r = &centred[i * d..(i + 1) * d];
        for a in 0..d {
            for b in a..d {
                cov[a * d + b] += r[a] * r[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a * d + b] = cov[b * d + a];
        }
    }
    let total: f64 = (0..d).map(|a| cov[a * d + a]).sum::<f64>().max(1e-300);
    let mut axes: Vec<Vec<f64>> = Vec::new();
    let mut explained = [0.0; 2];
    for (k, share) in explained.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..d)
            .map(|j| 1.0 + ((j * 7 + k * 13) % 11) as f64 / 11.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..300 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect();
            for u in &axes {
                let dot: f64 = w.iter().zip(u).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            lambda = norm;
            v = w.into_iter().map(|x| x / norm).collect();
        }
        *share = lambda / total;
        axes.push(v);
    }
    let project = |u: &Vec<f64>| -> Vec<f32> {
        (0..n)
            .map(|i| {
                centred[i * d..(i + 1) * d]
                    .iter()
                    .zip(u)
                    .map(|(x, y)| x * y)
                    .sum::<f64>() as f32
            })
            .collect()
    };
    (explained, project(&axes[0]), project(&axes[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_axes() {
        // Points spread 10x along e0 and 3x along e2, barely along e1.
        let n = 200;
        let mut rows = Vec::new();
        for i in 0..n {
            let t = (i as f32 / n as f32 - 0.5) * 20.0;
            let s = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 6.0;
            rows.extend([t, 0.01 * s, s]);
        }
        let (explained, x, y) = pca_2d(&rows, n, 3);
        assert!(explained[0] > explained[1] && explained[0] + explained[1] > 0.999);
        // x is the e0 coordinate (up to sign and centring).
        let corr: f32 = x
            .iter()
            .enumerate()
            .map(|(i, v)| v * (rows[i * 3]))
            .sum::<f32>()
            .abs();
        assert!(corr > 0.0 && y.len() == n);
    }
}
