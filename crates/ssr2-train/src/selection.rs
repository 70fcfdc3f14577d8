//! Co-teaching's pseudo-labels (SPEC §6): before each epoch after warm-up, each branch's most
//! confident unlabelled samples per class, and each batch's labels with the pseudo-labels each
//! branch learns from the other's choice.

use crate::eval::{Embedded, Evaluation};
use crate::objective::BatchContext;
use burn::prelude::*;
use ssr2_core::coteach::{SELECT_FRACTION, confidence, select_confident};
use ssr2_core::loss::ssr2::BatchLabels;
use ssr2_data::Dataset;
use std::collections::HashMap;

/// Pseudo-labels chosen by one branch: `sample index -> class`.
pub(crate) type Selection = HashMap<usize, usize>;

/// The co-teaching selection before an epoch, when `active` (after warm-up, text branch on):
/// from the previous epoch's evaluation, which embedded the unlabelled set with the current
/// weights; only the first epoch after a resume calls `embed`.
pub(crate) fn coteach_selection<E>(
    active: bool,
    last: Option<&Evaluation>,
    embed: impl FnOnce() -> Result<Embedded, E>,
    device: &Device,
) -> Result<(Option<Selection>, Option<Selection>), E> {
    if !active {
        return Ok((None, None));
    }
    let fresh;
    let emb = match last {
        Some(ev) => &ev.embedded,
        None => {
            fresh = embed()?;
            &fresh
        }
    };
    Ok(select_pseudo_labels(emb, device))
}

/// SPEC §6: per class, the most confident unlabelled samples of each branch, chosen by the image
/// branch and by the text branch, from the logits of the unlabelled set.
pub(crate) fn select_pseudo_labels(
    emb: &Embedded,
    device: &Device,
) -> (Option<Selection>, Option<Selection>) {
    let idx = &emb.indices;
    let k = emb.classes;
    let pick = |logits: &[f32]| -> Selection {
        let n = logits.len() / k;
        let logits = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [n, k]), device);
        let scores = confidence(logits)
            .try_into_vec_as::<f32>()
            .expect("synchronous read");
        select_confident(&scores, n, k, SELECT_FRACTION)
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (idx[i], c)))
            .collect()
    };
    let by_image = pick(&emb.logits_image);
    let by_text = emb.logits_text.as_deref().map(pick);
    (Some(by_image), by_text)
}

/// Batch `idx` (each sample twice: two views) with its labels and the co-teaching pseudo-labels
/// each branch learns from the other's `selected` (image, text) choice; the text branch learns
/// from the image branch only when `coteach_text`.
pub(crate) fn batch_context(
    ds: &Dataset,
    idx: &[usize],
    selected: (&Option<Selection>, &Option<Selection>),
    coteach_text: bool,
    warmup: bool,
    teacher_temp: f64,
) -> BatchContext {
    let (by_image, by_text) = selected;
    let rows = |sel: &Selection| -> Vec<Option<usize>> {
        idx.iter()
            .chain(idx.iter())
            .map(|i| sel.get(i).copied())
            .collect()
    };
    BatchContext {
        labels: BatchLabels {
            labelled: idx.iter().map(|&i| ds.labelled[i]).collect(),
            labels: idx.iter().map(|&i| ds.labels[i]).collect(),
        },
        pseudo_for_image: by_text.as_ref().map(rows),
        pseudo_for_text: by_image.as_ref().filter(|_| coteach_text).map(rows),
        warmup,
        teacher_temp,
    }
}
