//! The run report (`report.json`): what the browser explorer opens. Format in `docs/REPORT.md`.

// The report's types live in the Burn-free `ssr2-view`, which the browser app reads them with.
pub use ssr2_view::report::{
    ClassRank, DatasetInfo, EpochEval, EpochRecord, INDUCTIVE, Inference, InferenceBranch,
    KEstimate, Projection, Provenance, REPORT_FORMAT, REPORT_VERSION, RunReport, Scores,
    TRANSDUCTIVE, Thumbnail, Thumbnails, check_header, parse_report,
};

use crate::TrainError;
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::eval::Evaluation;
use burn::prelude::*;
use ssr2_data::Dataset;
use ssr2_head::HeadModel;
use std::path::Path;

/// `Some(v)` for a finite value, `None` for NaN (JSON has no NaN).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
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

/// All / Old / New of an evaluation, as the report stores them (`None` for an empty part).
pub fn scores(ev: &Evaluation) -> Scores {
    Scores {
        all: ev.accuracy.all,
        old: finite(ev.accuracy.old),
        new: finite(ev.accuracy.new),
        n: ev.accuracy.n,
    }
}

pub(crate) fn epoch_eval(ev: &Evaluation) -> EpochEval {
    EpochEval {
        scores: scores(ev),
        rank_old: finite(ev.ranks.old_mean),
        rank_new: finite(ev.ranks.new_mean),
        edge_ratio_all: finite(ev.edges.all),
        edge_ratio_old: finite(ev.edges.old),
        edge_ratio_new: finite(ev.edges.new),
    }
}

/// Where a run came from; the evaluation is always the last epoch's.
pub(crate) fn provenance(id: &checkpoint::Identity, device: &Device) -> Provenance {
    Provenance {
        tool_version: format!("ssr2 {}", env!("CARGO_PKG_VERSION")),
        git_commit: env!("SSR2_GIT_COMMIT").to_string(),
        config_sha256: ssr2_data::sha256_hex(id.config_toml.as_bytes()),
        data_sha256: id.data_sha256.to_string(),
        heads_sha256: None,
        clip_sha256: None,
        candidates_sha256: None,
        device: format!("{device:?}"),
        evaluation: "last epoch, no model selection; final_scores: transductive (the unlabelled \
                     training samples); test_scores: inductive (the held-out test split)"
            .into(),
    }
}

pub(crate) fn build_report(
    ds: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    use_text: bool,
    history: Vec<EpochRecord>,
    ev: &Evaluation,
) -> RunReport {
    let e = &ev.embedded;
    let n = e.indices.len();
    let keep = n.min(cfg.eval.max_projection);
    let step = n.div_ceil(keep.max(1)).max(1);
    let sub: Vec<usize> = (0..n).step_by(step).collect();
    let rows: Vec<f32> = sub
        .iter()
        .flat_map(|&i| e.z_image[i * e.dim..(i + 1) * e.dim].iter().copied())
        .collect();
    let (explained, x, y) = pca_2d(&rows, sub.len(), e.dim);
    let mut modalities = vec!["image".to_string()];
    if use_text {
        modalities.push("text".into());
    }
    RunReport {
        format: REPORT_FORMAT.into(),
        version: REPORT_VERSION,
        created_by: format!("ssr2 {}", env!("CARGO_PKG_VERSION")),
        seed,
        dataset: DatasetInfo {
            name: ds.name.clone(),
            num_classes: ds.num_classes(),
            num_old: ds.num_old,
            class_names: ds.class_names.clone(),
            n_train: ds.len(),
            n_labelled: ds.labelled_indices().len(),
            n_unlabelled: n,
            n_test: ds.test.as_ref().map_or(0, |t| t.len()),
            modalities,
            image_dim: None,
        },
        config: serde_json::to_value(cfg).expect("config serialises"),
        history,
        final_scores: scores(ev),
        test_scores: None,
        rank_old_mean: finite(ev.ranks.old_mean),
        rank_new_mean: finite(ev.ranks.new_mean),
        class_ranks: ev
            .ranks
            .classes
            .iter()
            .map(|c| ClassRank {
                class: c.class,
                old: c.class < ds.num_old,
                count: c.count,
                effective_rank: c.effective_rank,
                singular_values: c.singular_values.clone(),
            })
            .collect(),
        edge_ratio: epoch_eval(ev),
        mapping: ev.accuracy.dense_mapping(mapping_max_id(ev)),
        projection: Projection {
            method: "pca".into(),
            explained,
            x,
            y,
            label: sub.iter().map(|&i| ev.labels[i]).collect(),
            pred: sub.iter().map(|&i| e.preds[i]).collect(),
            id: sub
                .iter()
                .map(|&i| ds.sample_ids[e.indices[i]].clone())
                .collect(),
        },
        heads: "heads.safetensors".into(),
        inference: None,
        provenance: None,
        clusters: (e.classes != ds.num_classes()).then_some(e.classes),
        k_estimate: None,
        thumbnails: thumbnails(ds, ev, cfg.eval.thumbnails),
    }
}

/// The first `per_cluster` evaluated images of each predicted cluster, when the inputs are
/// square single-channel images (pixel values in [0, 1]).
fn thumbnails(ds: &Dataset, ev: &Evaluation, per_cluster: usize) -> Option<Thumbnails> {
    let d = ds.image.cols;
    let side = ssr2_head::image_side(d).filter(|_| per_cluster > 0)?;
    let e = &ev.embedded;
    let mut taken = vec![0usize; e.classes];
    let mut samples = Vec::new();
    for (k, &i) in e.indices.iter().enumerate() {
        let cluster = e.preds[k];
        if taken[cluster] == per_cluster {
            continue;
        }
        taken[cluster] += 1;
        let pixels = ds.image.data[i * d..(i + 1) * d]
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        samples.push(Thumbnail {
            cluster,
            label: ds.labels[i],
            id: ds.sample_ids[i].clone(),
            pixels,
        });
    }
    Some(Thumbnails { side, samples })
}

/// The report's `inference` block, or `None` when `n x d` exceeds `max_values`.
pub fn inference_block(model: &HeadModel, ev: &Evaluation, max_values: usize) -> Option<Inference> {
    let e = &ev.embedded;
    let n = e.indices.len();
    if n == 0 || n * e.dim > max_values {
        return None;
    }
    let branch = |b: &ssr2_head::Branch, features: &[f32]| InferenceBranch {
        features: features.to_vec(),
        weight: b.head.weight.val().try_into_vec_as::<f32>().expect("read"),
        gain: b.head.gain.val().try_into_vec_as::<f32>().expect("read"),
    };
    let text = match (&model.text, &e.z_text) {
        (Some(b), Some(z)) => Some(branch(b, z)),
        _ => None,
    };
    Some(Inference {
        n,
        dim: e.dim,
        classes: e.classes,
        labels: ev.labels.clone(),
        pred: e.preds.clone(),
        image: branch(&model.image, &e.z_image),
        text,
    })
}

/// The largest class or cluster id of an evaluation (the dense mapping's last index).
fn mapping_max_id(ev: &Evaluation) -> usize {
    ev.labels
        .iter()
        .chain(ev.accuracy.mapping.iter().map(|(p, _)| p))
        .copied()
        .max()
        .unwrap_or(0)
}
/// Write `report.json`, `heads.safetensors` and `config.toml` into `dir`, each atomically;
/// the report records the heads' SHA-256, so a reader can tell another run's heads.
pub fn write_run<M: Module>(
    dir: &Path,
    report: &RunReport,
    config_toml: &str,
    model: &M,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), TrainError> {
        let path = dir.join(name);
        ssr2_data::write_atomic(&path, bytes).map_err(|e| TrainError::file(&path, e))
    };
    let heads = ssr2_head::weight_bytes(model)
        .map_err(|e| TrainError::file(&dir.join("heads.safetensors"), e))?;
    write("heads.safetensors", &heads)?;
    let mut report = report.clone();
    if let Some(p) = report.provenance.as_mut() {
        p.heads_sha256 = Some(ssr2_data::sha256_hex(&heads));
    }
    write("config.toml", config_toml.as_bytes())?;
    write(
        "report.json",
        serde_json::to_string_pretty(&report)
            .expect("report serialises")
            .as_bytes(),
    )
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
