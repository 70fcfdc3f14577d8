//! `ssr2 estimate-k`: how many classes the data holds, when it is not known.

use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_core::estimate_k::{Data, KCurve, coding_length, gcd_accuracy, labelled_distortion};
use ssr2_data::Dataset;
use std::path::PathBuf;

/// Estimate the number of classes K from the features and the labelled samples.
///
/// Two estimators, each printed as a curve over the K it tried and its choice:
/// `gcd` is the original GCD method (k-means on all samples for each K, scored by the clustering
/// accuracy on the labelled samples, Brent's method over K); `coding-length` is ours from rate
/// reduction (the total coding length of the semi-supervised k-means partition, labelled samples
/// fixed to their classes, minimised over K). Rows are L2-normalised first. The true K of the
/// data (its class list) is printed for reference only; the estimators never see it.
#[derive(Args)]
pub struct EstimateKArgs {
    /// Built-in data: digits or synthetic.
    #[arg(long, value_parser = ["digits", "synthetic"], default_value = "digits")]
    data: String,
    /// Synthetic data only: generate this many classes (half of them old) instead of the
    /// preset's.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=10_000))]
    classes: Option<usize>,
    /// Synthetic data only: samples per class (default: the preset's).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=100_000))]
    per_class: Option<usize>,
    /// A feature bundle (safetensors, docs/BUNDLE.md): its `image` features and labelled mask.
    #[arg(long, value_name = "BUNDLE")]
    features: Option<PathBuf>,
    /// Which estimator(s): gcd, coding-length or both.
    #[arg(long, default_value = "both", value_parser = ["both", "gcd", "coding-length"])]
    method: String,
    /// Smallest K tried (default: the number of labelled classes).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    min: Option<usize>,
    /// Largest K tried (default: 4 x the smallest, at most the number of samples).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    max: Option<usize>,
    /// epsilon^2 of the coding length: a number, or `auto` for the labelled classes' own spread
    /// (mean squared distance of labelled rows to their class mean).
    #[arg(long, default_value = "0.5")]
    eps2: String,
    /// Seed of the labelled split (built-in data) and of the k-means starts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress line (each K tried, on stderr).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &EstimateKArgs) -> Result<()> {
    let ds = dataset(args)?;
    let (x, labels) = ssr2_train::clusters::estimate_inputs(&ds);
    let d = ds.image.cols;
    let data = Data {
        x: &x,
        n: ds.len(),
        d,
        labels: &labels,
    };
    let origin = args.features.as_ref().map_or(ds.name.clone(), |p| p.display().to_string());
    if ds.is_empty() || d == 0 {
        return Err(Fail::arg(format!(
            "{origin}: {} samples of {d} features: estimate-k needs samples with features",
            ds.len()
        )));
    }
    let labelled = data.labelled_classes();
    // K below the labelled classes cannot hold them, K above the samples cannot be filled:
    // clamped, and said.
    let lo = args.min.unwrap_or(labelled).max(labelled).max(1);
    if args.min.is_some_and(|m| m < lo) {
        eprintln!("note: --min {} is below the {labelled} labelled classes: K tried from {lo}", args.min.unwrap_or(0));
    }
    let hi = args.max.unwrap_or((4 * lo).max(lo + 1)).min(ds.len());
    if args.max.is_some_and(|m| m > hi) {
        eprintln!("note: --max {} is above the {} samples: K tried up to {hi}", args.max.unwrap_or(0), ds.len());
    }
    if lo > hi || labelled == 0 {
        return Err(Fail::arg(format!(
            "estimate-k needs labelled samples and --min <= --max <= {} samples (got {lo}..{hi})",
            ds.len()
        )));
    }
    let eps2 = match args.eps2.as_str() {
        "auto" => labelled_distortion(&data).unwrap_or(0.5),
        text => match text.parse::<f64>() {
            // As `rate` does: the coding length's scale d/(m eps2) must fit float32.
            Ok(v) if ssr2_core::logdet::rate_scale(d, 1.0, v).is_ok() => v,
            _ => {
                return Err(Fail::arg(format!(
                    "--eps2 must be a positive number or auto whose scale d/(m eps2) fits \
                     float32, got {text}"
                )));
            }
        },
    };
    let progress = tried_bar(args.quiet);
    let reporter = |method: &str| {
        let bar = progress.clone();
        let mut count = 0;
        let method = method.to_string();
        move |k: usize, v: f64| {
            count += 1;
            bar.set_message(format!("{method}: K = {k} gives {v:.4} ({count} K tried)"));
            bar.tick();
        }
    };
    let gcd = (args.method != "coding-length")
        .then(|| gcd_accuracy(&data, lo, hi, args.seed, &mut reporter("gcd")));
    let rate = (args.method != "gcd")
        .then(|| coding_length(&data, [lo, hi], eps2, 12, args.seed, &mut reporter("coding-length")));
    progress.finish_and_clear();
    if args.json {
        let curve = |c: &Option<KCurve>| {
            c.as_ref()
                .map(|c| serde_json::json!({"best": c.best, "points": c.points}))
        };
        let out = serde_json::json!({
            "data": ds.name, "n": ds.len(), "d": d, "true_k": ds.num_classes(),
            "min": lo, "max": hi, "eps2": eps2, "gcd": curve(&gcd), "coding_length": curve(&rate),
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{}: {} samples, {d} features; K tried in {lo}..={hi}",
        ds.name,
        ds.len()
    );
    if let Some(c) = &gcd {
        print_curve("gcd (labelled accuracy, higher is better)", c);
    }
    if let Some(c) = &rate {
        print_curve("coding-length (nats, lower is better)", c);
    }
    println!("true K of the data (not used): {}", ds.num_classes());
    Ok(())
}

/// A spinner line naming the last K tried (each one runs k-means with restarts over all samples,
/// which takes minutes on large bundles); hidden with --quiet or when stderr is not a terminal.
fn tried_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("estimate-k {spinner} {msg} [{elapsed}]")
            .expect("template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn print_curve(name: &str, c: &KCurve) {
    println!("{name}");
    for &(k, v) in &c.points {
        let mark = if k == c.best { "  <- chosen" } else { "" };
        println!("  K = {k:>5}  {v:>14.4}{mark}");
    }
    println!("  estimated K = {}", c.best);
}

fn dataset(args: &EstimateKArgs) -> Result<Dataset> {
    if let Some(path) = &args.features {
        return ssr2_data::read_bundle(path).map_err(|e| Fail(e.to_string()));
    }
    match args.data.as_str() {
        "synthetic" => {
            let mut cfg = ssr2_train::TrainConfig::preset("synthetic")
                .expect("preset exists")
                .data
                .synthetic;
            cfg.seed = args.seed;
            if let Some(k) = args.classes {
                cfg.num_classes = k;
                cfg.num_old = k / 2;
            }
            if let Some(m) = args.per_class {
                cfg.per_class = m;
            }
            ssr2_data::generate(&cfg).map_err(|e| Fail::arg(e.to_string()))
        }
        _ => Ok(ssr2_data::digits(args.seed)),
    }
}
