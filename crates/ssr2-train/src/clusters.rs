//! How many clusters the heads get (`model.num_classes`): the data's class count, a number, or
//! an estimate from the features and the labelled samples.

use crate::config::{NumClasses, TrainConfig};
use crate::report::KEstimate;
use ssr2_core::estimate_k::{Data, gcd_accuracy};
use ssr2_data::Dataset;

/// The head count for `ds`, and the estimate behind it when `num_classes = "auto"`.
pub fn resolve(
    cfg: &TrainConfig,
    ds: &Dataset,
    seed: u64,
) -> Result<(usize, Option<KEstimate>), String> {
    let (k, estimate) = match cfg.model.num_classes {
        NumClasses::Data => (ds.num_classes(), None),
        NumClasses::Fixed(k) => (k, None),
        NumClasses::Auto => {
            let e = estimate(ds, seed)?;
            (e.best, Some(e))
        }
    };
    if k < ds.num_old {
        return Err(format!(
            "model.num_classes: {k} clusters cannot hold the {} old classes of `{}`",
            ds.num_old, ds.name
        ));
    }
    // More clusters than samples (or classes) only sizes the heads: nothing could fill them.
    let most = ds.len().max(ds.num_classes());
    if k == 0 || k > most {
        return Err(format!(
            "model.num_classes: {k} clusters for the {} samples and {} classes of `{}`: expected \
             1..={most}",
            ds.len(),
            ds.num_classes(),
            ds.name
        ));
    }
    Ok((k, estimate))
}

/// GCD's estimator (labelled accuracy of k-means, Brent's method) on the unit-norm image
/// features, over `[labelled classes, 4 x labelled classes]`.
fn estimate(ds: &Dataset, seed: u64) -> Result<KEstimate, String> {
    let (x, labels) = estimate_inputs(ds);
    let data = Data {
        x: &x,
        n: ds.len(),
        d: ds.image.cols,
        labels: &labels,
    };
    let lo = data.labelled_classes();
    if lo == 0 {
        return Err("model.num_classes = \"auto\" needs labelled samples".into());
    }
    let hi = (4 * lo).max(lo + 1).min(ds.len());
    let curve = gcd_accuracy(&data, lo, hi, seed, &mut |_, _| {});
    Ok(KEstimate {
        method: "gcd: labelled accuracy of k-means, Brent's method".into(),
        min: lo,
        max: hi,
        points: curve.points,
        best: curve.best,
    })
}

/// What the estimators read from a dataset: its image features with every row scaled to unit
/// length (zero rows stay zero), and each sample's class where it is labelled.
pub fn estimate_inputs(ds: &Dataset) -> (Vec<f32>, Vec<Option<usize>>) {
    let d = ds.image.cols.max(1);
    let mut x = ds.image.data.clone();
    for row in x.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
        }
    }
    let labels = (0..ds.len())
        .map(|i| ds.labelled[i].then_some(ds.labels[i]))
        .collect();
    (x, labels)
}
