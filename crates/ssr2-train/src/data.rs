//! The dataset a features-mode config names (`[data]`): its source read (digits, synthetic,
//! a bundle, Fashion-MNIST), checked usable, the labelled split overridden by
//! `labelled_indices`, cut to `limit`, and a test split held out by `test_fraction`. Errors name
//! the file or the key.

use crate::TrainError;
use crate::config::{DataSource, TrainConfig};
use ssr2_data::Dataset;
use std::path::{Path, PathBuf};

pub fn load_dataset(cfg: &TrainConfig) -> Result<Dataset, TrainError> {
    let mut ds = read_source(cfg)?;
    check_usable(&ds, cfg)?;
    if let Some(mask) = labelled_override(cfg, &ds.labels, ds.num_old)? {
        ds.labelled = mask;
    }
    let limit = cfg.data.limit;
    if let Some(path) = cfg.data.labelled_indices.as_ref().filter(|_| limit > 0) {
        // A labelled sample past --limit would be dropped without a word.
        if let Some(i) = (limit..ds.len()).find(|&i| ds.labelled[i]) {
            return Err(TrainError::file(
                Path::new(path),
                format!("labels sample {i}, beyond --limit {limit} (samples 0..{limit} are kept)"),
            ));
        }
    }
    if limit > 0 && limit < ds.len() {
        let test = ds.test.take();
        ds = ds.subset(&(0..limit).collect::<Vec<_>>());
        ds.test = test;
    }
    if cfg.data.test_fraction > 0.0 {
        ds = ssr2_data::hold_out(ds, cfg.data.test_fraction, HOLD_OUT_SEED)
            .map_err(|e| TrainError::Config(format!("data.test_fraction: {e}")))?;
    }
    Ok(ds)
}

/// The held-out draw is the same for every run seed, so all seeds test on the same samples.
const HOLD_OUT_SEED: u64 = 0;

/// Data a command can work on at all: samples, features and classes (a bundle may hold none).
fn check_usable(ds: &Dataset, cfg: &TrainConfig) -> Result<(), TrainError> {
    let what = if ds.is_empty() {
        "no samples"
    } else if ds.image.cols == 0 {
        "samples of 0 features (d = 0)"
    } else if ds.num_classes() == 0 {
        "no classes"
    } else {
        return Ok(());
    };
    let origin = match (&cfg.data.source, &cfg.data.bundle) {
        (DataSource::Bundle, Some(path)) => path.clone(),
        _ => format!("dataset `{}`", ds.name),
    };
    Err(TrainError::Data(format!(
        "{origin}: {what}: nothing to train or cluster on"
    )))
}

/// The labelled mask from `data.labelled_indices`, if set: every index in range, once, and of an
/// old class (`labels` already remapped old-first); errors name the file.
pub fn labelled_override(
    cfg: &TrainConfig,
    labels: &[usize],
    num_old: usize,
) -> Result<Option<Vec<bool>>, TrainError> {
    let Some(path) = &cfg.data.labelled_indices else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let idx = ssr2_data::npy::read_labels(&path, "labelled indices")
        .map_err(|e| TrainError::Input(e.to_string()))?;
    let mask =
        ssr2_data::split_from_indices(labels.len(), &idx).map_err(|e| TrainError::file(&path, e))?;
    if let Some(i) = (0..labels.len()).find(|&i| mask[i] && labels[i] >= num_old) {
        return Err(TrainError::file(
            &path,
            format!(
                "labelled: sample {i} is labelled but its class {} is new (old classes are 0..{})",
                labels[i],
                num_old.saturating_sub(1)
            ),
        ));
    }
    Ok(Some(mask))
}

fn read_source(cfg: &TrainConfig) -> Result<Dataset, TrainError> {
    match cfg.data.source {
        DataSource::Digits => Ok(ssr2_data::digits(cfg.data.split_seed)),
        DataSource::Synthetic => ssr2_data::generate(&cfg.data.synthetic)
            .map_err(|e| TrainError::Config(format!("data.synthetic: {e}"))),
        DataSource::Bundle => {
            let path = PathBuf::from(cfg.data.bundle.as_deref().unwrap_or_default());
            ssr2_data::read_bundle(&path).map_err(|e| TrainError::Input(e.to_string()))
        }
        DataSource::FashionMnist => {
            let root = cfg.data.root.as_deref().map(Path::new);
            ssr2_data::fashion_mnist(root, cfg.data.split_seed)
                .map_err(|e| TrainError::Input(e.to_string()))
        }
    }
}
