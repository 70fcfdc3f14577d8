//! Features mode's evaluation: the heads forward the unlabelled samples (no augmentation), then
//! the shared scoring of `crate::eval`.

use super::inputs::{image_input, text_input};
use crate::config::{EvalConfig, RtaSettings};
use crate::eval::{CHUNK, Embedded, Evaluation, rta_config, score};
use burn::prelude::*;
use ssr2_data::Dataset;
use ssr2_head::HeadModel;

/// Forward the samples `idx` without augmentation. `model` should be on a non-autodiff device.
pub fn embed(
    model: &HeadModel,
    ds: &Dataset,
    idx: &[usize],
    rta: &RtaSettings,
    device: &Device,
) -> Embedded {
    let rta = rta_config(rta);
    let use_text = model.text.is_some() && ds.text.is_some();
    let [classes, dim] = model.image.head.weight.dims();
    let mut out = Embedded::start(idx, classes, dim, use_text);
    for chunk in idx.chunks(CHUNK) {
        let z = model
            .image
            .adapter
            .forward(image_input(ds, chunk, None, device));
        let li = model.image.head.forward(z.clone());
        let text = use_text.then(|| {
            let zt = model.embed_text(text_input(ds, chunk, None, device), &rta);
            let lt = model
                .text
                .as_ref()
                .expect("text branch")
                .head
                .forward(zt.clone());
            (zt, lt)
        });
        out.push(z, li, text);
    }
    out
}

/// Evaluate on the unlabelled samples of `ds`.
pub fn evaluate(
    model: &HeadModel,
    ds: &Dataset,
    rta: &RtaSettings,
    cfg: &EvalConfig,
    device: &Device,
) -> Evaluation {
    let idx = ds.unlabelled_indices();
    score(embed(model, ds, &idx, rta, device), ds, cfg)
}
