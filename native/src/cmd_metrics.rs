//! `ssr2 metrics`: GCD clustering accuracy (All / Old / New) of predictions.

use crate::fail::{Fail, Result};
use crate::npy;
use clap::Args;
use ssr2_core::metrics::cluster_accuracy;
use std::path::PathBuf;

/// All/Old/New clustering accuracy (SPEC §2): one optimal (Hungarian) matching of predicted
/// clusters to classes over all samples, then accuracy over all samples, over samples of old
/// classes (true label < --num-old) and over the rest.
///
/// Prints {"n","all","old","new"} as fractions in [0, 1]; old or new is null when there are no
/// such samples.
#[derive(Args)]
pub struct MetricsArgs {
    /// True labels: .npy, int32 or int64, length n, old classes numbered 0..num_old-1.
    #[arg(long = "true", value_name = "t.npy")]
    truth: PathBuf,
    /// Predicted cluster ids: .npy, int32 or int64, length n (any non-negative ids).
    #[arg(long, value_name = "p.npy")]
    pred: PathBuf,
    /// Number of old (known) classes: labels below it count as Old, the rest as New.
    #[arg(long)]
    num_old: usize,
}

pub fn run(args: &MetricsArgs) -> Result<()> {
    let t = npy::read_labels(&args.truth, "true labels")?;
    let p = npy::read_labels(&args.pred, "predictions")?;
    if t.len() != p.len() {
        return Err(Fail::input(
            &args.pred,
            format!(
                "has {} predictions but {} has {} labels",
                p.len(),
                args.truth.display(),
                t.len()
            ),
        ));
    }
    if t.is_empty() {
        return Err(Fail::input(&args.truth, "holds no samples"));
    }
    let acc = cluster_accuracy(&t, &p, args.num_old);
    let num = |v: f64| if v.is_nan() { None } else { Some(v) };
    let out =
        serde_json::json!({"n": acc.n, "all": acc.all, "old": num(acc.old), "new": num(acc.new)});
    println!("{out}");
    Ok(())
}
