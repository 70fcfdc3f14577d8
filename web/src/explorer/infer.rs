//! In-page inference: recompute the report's predictions from its `inference` block with the
//! same `ssr2-core` classifier the trainer uses, on the page's device, and compare.

use burn::prelude::*;
use ssr2_core::classifier::{CosineClassifier, predict};
use ssr2_core::metrics::cluster_accuracy;
use ssr2_view::report::{Inference, InferenceBranch, Scores};

/// Outcome of the check, as shown on the page.
pub struct Check {
    pub agree: usize,
    pub n: usize,
    pub scores_equal: bool,
    pub text: String,
}

fn logits(b: &InferenceBranch, inf: &Inference, device: &Device) -> Tensor<2> {
    let (n, d, k) = (inf.n, inf.dim, inf.classes);
    let head = CosineClassifier::from_tensors(
        Tensor::<2>::from_data(TensorData::new(b.weight.clone(), [k, d]), device),
        Tensor::<1>::from_data(TensorData::new(b.gain.clone(), [k]), device),
    );
    head.forward(Tensor::<2>::from_data(
        TensorData::new(b.features.clone(), [n, d]),
        device,
    ))
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

/// Predictions (SPEC §2) and All/Old/New recomputed on `device`, compared with the report.
pub async fn check(
    inf: &Inference,
    num_old: usize,
    reported: &Scores,
    device: &Device,
    device_name: &str,
) -> Result<Check, String> {
    let li = logits(&inf.image, inf, device);
    let lt = inf.text.as_ref().map(|b| logits(b, inf, device));
    let data = predict(li, lt)
        .into_data_async()
        .await
        .map_err(|e| format!("reading predictions from the device failed: {e:?}"))?;
    let pred: Vec<usize> = data.iter::<i64>().map(|p| p as usize).collect();
    let agree = pred.iter().zip(&inf.pred).filter(|(a, b)| a == b).count();
    let acc = cluster_accuracy(&inf.labels, &pred, num_old);
    let fin = |v: f64| v.is_finite().then_some(v);
    let scores_equal = same(Some(acc.all), Some(reported.all))
        && same(fin(acc.old), reported.old)
        && same(fin(acc.new), reported.new);
    let n = inf.n;
    let pct = |v: f64| ssr2_view::stats::pct(fin(v));
    let scores = format!("{} / {} / {}", pct(acc.all), pct(acc.old), pct(acc.new));
    let text = if agree == n && scores_equal {
        format!(
            "agrees: {agree}/{n} predictions, All/Old/New equal ({scores}), recomputed on {device_name}"
        )
    } else {
        format!(
            "DISAGREES: {agree}/{n} predictions match; recomputed All/Old/New {scores} vs reported {} / {} / {} (on {device_name})",
            ssr2_view::stats::pct(Some(reported.all)),
            ssr2_view::stats::pct(reported.old),
            ssr2_view::stats::pct(reported.new)
        )
    };
    Ok(Check {
        agree,
        n,
        scores_equal,
        text,
    })
}
