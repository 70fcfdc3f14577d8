//! Evaluation on the unlabelled set (SPEC §2, §9): predictions, All/Old/New, per-class effective
//! ranks and our edge ratio, from the features of the test transform (no augmentation).

use crate::config::{EvalConfig, RtaSettings};
use burn::prelude::*;
use ssr2_core::classifier::predict;
use ssr2_core::metrics::{
    Accuracy, EdgeRatio, RankSummary, class_ranks, cluster_accuracy, edge_ratio,
};
use ssr2_core::rta::RtaConfig;
use ssr2_data::Dataset;

/// Rows per forward pass during evaluation.
pub(crate) const CHUNK: usize = 1024;

/// Features, logits and predictions of a set of samples.
pub struct Embedded {
    pub indices: Vec<usize>,
    /// Image features, `n x dim`, unit rows.
    pub z_image: Vec<f32>,
    pub dim: usize,
    /// Text features after RTA, `n x dim`, unit rows (when the text branch runs).
    pub z_text: Option<Vec<f32>>,
    pub logits_image: Vec<f32>,
    pub logits_text: Option<Vec<f32>>,
    pub classes: usize,
    pub preds: Vec<usize>,
}

impl Embedded {
    /// Nothing yet for `idx`; filled chunk by chunk with [`Embedded::push`] (both modes).
    pub(crate) fn start(idx: &[usize], classes: usize, dim: usize, with_text: bool) -> Self {
        Embedded {
            indices: idx.to_vec(),
            z_image: vec![],
            dim,
            z_text: with_text.then(Vec::new),
            logits_image: vec![],
            logits_text: with_text.then(Vec::new),
            classes,
            preds: vec![],
        }
    }

    /// Appends `other`, embedded after `self` with the same model.
    #[cfg_attr(not(feature = "finetune"), allow(dead_code))] // only fine-tuning embeds in parts
    pub(crate) fn append(&mut self, other: Embedded) {
        self.indices.extend(other.indices);
        self.z_image.extend(other.z_image);
        self.logits_image.extend(other.logits_image);
        self.preds.extend(other.preds);
        if let (Some(a), Some(b)) = (&mut self.z_text, other.z_text) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (&mut self.logits_text, other.logits_text) {
            a.extend(b);
        }
    }

    /// Appends one chunk: image features and logits, and text features and logits when the text
    /// branch runs; the prediction combines both logits (SPEC §2).
    pub(crate) fn push(
        &mut self,
        z: Tensor<2>,
        li: Tensor<2>,
        text: Option<(Tensor<2>, Tensor<2>)>,
    ) {
        let lt = text.as_ref().map(|(_, lt)| lt.clone());
        let p = predict(li.clone(), lt);
        self.preds.extend(
            p.try_into_vec_as::<i64>()
                .expect("read")
                .into_iter()
                .map(|v| v as usize),
        );
        self.z_image.extend(read(z));
        self.logits_image.extend(read(li));
        if let (Some((zt, lt)), Some(z_text), Some(logits_text)) =
            (text, self.z_text.as_mut(), self.logits_text.as_mut())
        {
            z_text.extend(read(zt));
            logits_text.extend(read(lt));
        }
    }
}

pub fn rta_config(s: &RtaSettings) -> RtaConfig {
    RtaConfig {
        base_weight: s.base_weight,
        alpha: s.alpha,
        beta: s.beta,
    }
}

pub(crate) fn read(t: Tensor<2>) -> Vec<f32> {
    t.try_into_vec_as::<f32>()
        .expect("synchronous read on this device")
}

/// Everything measured on one evaluation.
pub struct Evaluation {
    pub embedded: Embedded,
    pub labels: Vec<usize>,
    pub accuracy: Accuracy,
    pub ranks: RankSummary,
    pub edges: EdgeRatio,
}

/// Accuracy, ranks and edge ratio of features already computed for the unlabelled samples.
pub fn score(embedded: Embedded, ds: &Dataset, cfg: &EvalConfig) -> Evaluation {
    let idx = &embedded.indices;
    let labels: Vec<usize> = idx.iter().map(|&i| ds.labels[i]).collect();
    let accuracy = cluster_accuracy(&labels, &embedded.preds, ds.num_old);
    let ranks = class_ranks(&embedded.z_image, embedded.dim, &labels, ds.num_old);
    // The edge ratio is quadratic in samples: use an evenly spaced subset.
    let n = labels.len();
    let step = n.div_ceil(cfg.max_edge_samples.max(1)).max(1);
    let sub: Vec<usize> = (0..n).step_by(step).collect();
    let feats: Vec<f32> = sub
        .iter()
        .flat_map(|&i| {
            embedded.z_image[i * embedded.dim..(i + 1) * embedded.dim]
                .iter()
                .copied()
        })
        .collect();
    let sub_labels: Vec<usize> = sub.iter().map(|&i| labels[i]).collect();
    let edges = edge_ratio(&feats, embedded.dim, &sub_labels, ds.num_old, cfg.edge_k);
    Evaluation {
        embedded,
        labels,
        accuracy,
        ranks,
        edges,
    }
}
