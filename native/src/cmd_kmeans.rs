//! `ssr2 kmeans`: the k-means baseline on a run's input features, scored like `ssr2 train`.

use ssr2_train::data::load_dataset;
use crate::fail::{Fail, Result};
use clap::Args;
use ssr2_core::kmeans::{Problem, nearest_mean, ss_kmeans_best};
use ssr2_core::metrics::{Accuracy, cluster_accuracy};
use ssr2_data::Dataset;
use ssr2_train::TrainConfig;
use ssr2_train::config::DataSource;
use std::path::PathBuf;

/// k-means on the input features (raw pixels for the digits and Fashion-MNIST, the image
/// features of a bundle), K = the data's class count: the baseline a trained model should beat.
///
/// Clusters all training samples (k-means++ starts, the best of --restarts by inertia), then
/// prints All / Old / New on the unlabelled training samples (transductive) and, where the data
/// has a test split, on the test samples assigned to their nearest centre (inductive). With
/// --semi, labelled samples stay fixed to their class's cluster (GCD's semi-supervised k-means).
#[derive(Args)]
pub struct KmeansArgs {
    /// Built-in data: digits, synthetic or fashion-mnist.
    #[arg(long, value_parser = ["digits", "synthetic", "fashion-mnist"], default_value = "digits")]
    data: String,
    /// A feature bundle instead (its `image` features).
    #[arg(long, value_name = "BUNDLE")]
    features: Option<PathBuf>,
    /// fashion-mnist: the folder of its IDX files.
    #[arg(long, value_name = "PATH")]
    root: Option<PathBuf>,
    /// Semi-supervised: labelled samples fixed to their class.
    #[arg(long)]
    semi: bool,
    /// k-means++ starts; the one of least inertia is kept.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    restarts: usize,
    /// Seeds of the k-means starts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
}

pub fn run(args: &KmeansArgs) -> Result<()> {
    let mut cfg = TrainConfig::preset("digits").expect("preset");
    cfg.data.test_fraction = 0.0;
    cfg.data.source = match (&args.features, args.data.as_str()) {
        (Some(path), _) => {
            cfg.data.bundle = Some(path.display().to_string());
            DataSource::Bundle
        }
        (None, "synthetic") => DataSource::Synthetic,
        (None, "fashion-mnist") => DataSource::FashionMnist,
        _ => {
            cfg.data.test_fraction = 0.2;
            DataSource::Digits
        }
    };
    cfg.data.root = args.root.as_ref().map(|p| p.display().to_string());
    let ds = load_dataset(&cfg)?;
    if ds.len() < ds.num_classes() {
        return Err(Fail::arg(format!(
            "{} samples for {} clusters",
            ds.len(),
            ds.num_classes()
        )));
    }
    println!(
        "{:<6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "seed", "", "All", "Old", "New", "n", "seconds"
    );
    for &seed in &args.seeds {
        let started = std::time::Instant::now();
        let (train, test) = cluster(&ds, args.semi, args.restarts, seed);
        let seconds = started.elapsed().as_secs_f64();
        let pct = |v: f64| {
            if v.is_finite() {
                format!("{:.1}", 100.0 * v)
            } else {
                "-".into()
            }
        };
        for (name, acc) in [("trans.", Some(train)), ("induct.", test)] {
            if let Some(a) = acc {
                println!(
                    "{seed:<6} {name:>8} {:>7} {:>7} {:>7} {:>7} {seconds:>7.1}",
                    pct(a.all),
                    pct(a.old),
                    pct(a.new),
                    a.n
                );
            }
        }
    }
    Ok(())
}

/// Accuracy of k-means on the unlabelled training samples, and on the test samples by nearest
/// centre.
fn cluster(ds: &Dataset, semi: bool, restarts: usize, seed: u64) -> (Accuracy, Option<Accuracy>) {
    let (n, d, k) = (ds.len(), ds.image.cols, ds.num_classes());
    let fixed: Vec<Option<usize>> = (0..n)
        .map(|i| (semi && ds.labelled[i]).then_some(ds.labels[i]))
        .collect();
    let p = Problem {
        x: &ds.image.data,
        n,
        d,
        fixed: &fixed,
    };
    let assign = ss_kmeans_best(&p, k, seed, restarts);
    let unlabelled = ds.unlabelled_indices();
    let pick = |v: &[usize]| -> Vec<usize> { unlabelled.iter().map(|&i| v[i]).collect() };
    let train = cluster_accuracy(&pick(&ds.labels), &pick(&assign), ds.num_old);
    let test = ds.test.as_ref().map(|t| {
        let nearest = nearest_mean(&p, &assign, k, &t.image.data);
        cluster_accuracy(&t.labels, &nearest, t.num_old)
    });
    (train, test)
}
