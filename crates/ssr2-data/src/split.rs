//! GCD splits (SPEC §1): which classes are old, label remapping, which samples are labelled.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::DataError;
use crate::numpy_rng::LegacyRandomState;
use crate::rng::{seeded, shuffle};

/// The class lists of the standard benchmarks, compiled in.
const GCD_SPLITS_JSON: &str = include_str!("../data/gcd_splits.json");

/// A GCD split of one labelled sample set.
#[derive(Clone, Debug, PartialEq)]
pub struct GcdSplit {
    /// Per sample: true = label visible to training.
    pub labelled: Vec<bool>,
    /// Original class id -> new id (old classes first in the listed order, then new ascending).
    pub remap: Vec<usize>,
    /// Number of old classes; they are `0..num_old` after remapping.
    pub num_old: usize,
}

impl GcdSplit {
    /// Applies `remap` to original labels.
    ///
    /// # Panics
    /// If a label is not a class of this split.
    pub fn remap_labels(&self, labels: &[usize]) -> Vec<usize> {
        labels.iter().map(|&y| self.remap[y]).collect()
    }
}

/// Splits `labels` (original ids `< num_classes`) for GCD: remaps so `old_classes` come first in
/// the listed order, then new classes ascending, and labels `floor(labelled_fraction *
/// n_old_samples)` old-class samples drawn uniformly over ALL old-class samples (not per class).
///
/// Rounding is floor, like the reference's `int(prop * len)`. The draw is the reference's own
/// (`data/data_utils.py`, `subsample_instances`): `np.random.seed(seed); np.random.choice(
/// range(n_old), replace=False, size=take)` over the old-class samples in dataset order, with
/// numpy's legacy `RandomState` reproduced exactly; the reference always passes seed 0.
/// `seed` must fit 32 bits, as numpy's.
pub fn gcd_split(
    labels: &[usize],
    num_classes: usize,
    old_classes: &[usize],
    labelled_fraction: f64,
    seed: u64,
) -> Result<GcdSplit, DataError> {
    let seed = u32::try_from(seed).map_err(|_| {
        DataError::invalid(
            "split_seed",
            format!("is {seed}, expected 0..=4294967295 (numpy's seed range)"),
        )
    })?;
    split_with(
        labels,
        num_classes,
        old_classes,
        labelled_fraction,
        |n, take| LegacyRandomState::new(seed).choice_without_replacement(n, take),
    )
}

/// The synthetic generator's own split: as [`gcd_split`] but drawn by a ChaCha8 Fisher-Yates
/// shuffle seeded with the generator's seed (synthetic data has no reference split to match).
pub(crate) fn generator_split(
    labels: &[usize],
    num_classes: usize,
    old_classes: &[usize],
    labelled_fraction: f64,
    seed: u64,
) -> Result<GcdSplit, DataError> {
    split_with(
        labels,
        num_classes,
        old_classes,
        labelled_fraction,
        |n, take| {
            let mut order: Vec<usize> = (0..n).collect();
            shuffle(&mut seeded(seed), &mut order);
            order.truncate(take);
            order
        },
    )
}

/// The split with `draw(n_old, take)` choosing which positions among the old-class samples (in
/// dataset order) are labelled.
fn split_with(
    labels: &[usize],
    num_classes: usize,
    old_classes: &[usize],
    labelled_fraction: f64,
    draw: impl FnOnce(usize, usize) -> Vec<usize>,
) -> Result<GcdSplit, DataError> {
    if !(0.0..=1.0).contains(&labelled_fraction) {
        return Err(DataError::invalid(
            "labelled_fraction",
            format!("is {labelled_fraction}, expected a number in [0, 1]"),
        ));
    }
    let remap = remap_classes(num_classes, old_classes)?;
    if let Some(i) = labels.iter().position(|&y| y >= num_classes) {
        return Err(DataError::invalid(
            "labels",
            format!(
                "sample {i} has label {}, expected < {num_classes} (number of classes)",
                labels[i]
            ),
        ));
    }
    let num_old = old_classes.len();
    let old_samples: Vec<usize> = (0..labels.len())
        .filter(|&i| remap[labels[i]] < num_old)
        .collect();
    let take = (labelled_fraction * old_samples.len() as f64).floor() as usize;
    let picks = draw(old_samples.len(), take);
    let mut labelled = vec![false; labels.len()];
    for j in picks {
        labelled[old_samples[j]] = true;
    }
    Ok(GcdSplit {
        labelled,
        remap,
        num_old,
    })
}

/// Original class id -> new id; rejects out-of-range or repeated old classes.
fn remap_classes(num_classes: usize, old_classes: &[usize]) -> Result<Vec<usize>, DataError> {
    let mut remap = vec![usize::MAX; num_classes];
    for (new, &old) in old_classes.iter().enumerate() {
        if old >= num_classes {
            return Err(DataError::invalid(
                "old_classes",
                format!(
                    "class {old} is out of range, expected < {num_classes} (number of classes)"
                ),
            ));
        }
        if remap[old] != usize::MAX {
            return Err(DataError::invalid(
                "old_classes",
                format!("class {old} is listed twice"),
            ));
        }
        remap[old] = new;
    }
    let unlisted = remap.iter_mut().filter(|s| **s == usize::MAX);
    for (new, slot) in (old_classes.len()..).zip(unlisted) {
        *slot = new;
    }
    Ok(remap)
}

/// The labelled mask of `n` samples from the indices of the labelled ones (e.g. exported from
/// the Python reference); rejects out-of-range or duplicate indices.
pub fn split_from_indices(n: usize, labelled_idx: &[usize]) -> Result<Vec<bool>, DataError> {
    let mut labelled = vec![false; n];
    for &i in labelled_idx {
        if i >= n {
            return Err(DataError::invalid(
                "labelled_idx",
                format!("index {i} is out of range, expected < {n} (number of samples)"),
            ));
        }
        if labelled[i] {
            return Err(DataError::invalid(
                "labelled_idx",
                format!("index {i} appears twice"),
            ));
        }
        labelled[i] = true;
    }
    Ok(labelled)
}

/// The class split of a standard GCD benchmark (from `data/gcd_splits.json`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct KnownSplit {
    /// K, old plus new classes.
    pub num_classes: usize,
    /// Old class ids in the dataset's own order; they become `0..old.len()`.
    pub old: Vec<usize>,
    /// ImageNet-100 only: the 100 ImageNet-1K class indices (sorted-wnid order) that form it.
    #[serde(default, rename = "subset_of_imagenet1k_sorted_wnid_indices")]
    pub subset: Option<Vec<usize>>,
    /// Which part of the dataset is the train set, where the benchmark names one.
    #[serde(default)]
    pub split: Option<String>,
}

/// Every entry of the embedded JSON except `_about`, by name.
fn known_splits() -> BTreeMap<String, KnownSplit> {
    let all: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(GCD_SPLITS_JSON).expect("embedded gcd_splits.json is valid JSON");
    all.into_iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, v)| {
            let split = serde_json::from_value(v)
                .expect("embedded gcd_splits.json entries are well formed");
            (name, split)
        })
        .collect()
}

/// The class split of a standard benchmark (`"cifar100"`, `"cub200"`, ...), None if unknown.
pub fn known_split(dataset: &str) -> Option<KnownSplit> {
    known_splits().remove(dataset)
}

/// The names [`known_split`] knows, sorted (for help texts and error messages).
pub fn known_split_names() -> Vec<String> {
    known_splits().into_keys().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaps_old_first_in_listed_order_then_new_ascending() {
        let labels = [0, 1, 2, 3, 4, 5];
        let s = gcd_split(&labels, 6, &[4, 1], 0.0, 0).unwrap();
        assert_eq!(s.remap, vec![2, 1, 3, 4, 0, 5]);
        assert_eq!(s.num_old, 2);
        assert_eq!(s.remap_labels(&[4, 1, 0]), vec![0, 1, 2]);
        assert!(s.labelled.iter().all(|&l| !l));
    }

    #[test]
    fn labels_floor_of_fraction_of_old_samples_only() {
        // 7 old-class samples (classes 0 and 2), floor(0.5 * 7) = 3 labelled.
        let labels = [0, 1, 2, 0, 1, 2, 0, 2, 1, 0];
        for seed in 0..20 {
            let s = gcd_split(&labels, 3, &[0, 2], 0.5, seed).unwrap();
            assert_eq!(s.labelled.iter().filter(|&&l| l).count(), 3);
            for (i, &l) in s.labelled.iter().enumerate() {
                assert!(
                    !l || labels[i] != 1,
                    "seed {seed}: new-class sample {i} labelled"
                );
            }
        }
        let all = gcd_split(&labels, 3, &[0, 2], 1.0, 0).unwrap();
        assert_eq!(
            all.labelled,
            labels.iter().map(|&y| y != 1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn draw_is_seeded_and_uniform_over_all_old_samples() {
        // Class 0 has 90 samples, class 1 has 10: a per-class draw would label exactly 5 of
        // class 1; a draw over all old samples labels a hypergeometric number of them.
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i >= 90)).collect();
        let a = gcd_split(&labels, 2, &[0, 1], 0.5, 11).unwrap();
        assert_eq!(a, gcd_split(&labels, 2, &[0, 1], 0.5, 11).unwrap());
        assert_ne!(
            a.labelled,
            gcd_split(&labels, 2, &[0, 1], 0.5, 12).unwrap().labelled
        );
        let counts: Vec<usize> = (0..200)
            .map(|seed| {
                let s = gcd_split(&labels, 2, &[0, 1], 0.5, seed).unwrap();
                s.labelled[90..].iter().filter(|&&l| l).count()
            })
            .collect();
        assert!(
            counts.iter().any(|&c| c != 5),
            "class 1 always got exactly half"
        );
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        assert!((mean - 5.0).abs() < 0.5, "mean labelled in class 1: {mean}");
        // Every sample gets labelled under some seed.
        let mut hit = [false; 100];
        for seed in 0..200 {
            let s = gcd_split(&labels, 2, &[0, 1], 0.5, seed).unwrap();
            s.labelled
                .iter()
                .enumerate()
                .filter(|(_, l)| **l)
                .for_each(|(i, _)| hit[i] = true);
        }
        assert!(hit.iter().all(|&h| h));
    }

    #[test]
    fn rejects_bad_arguments() {
        let field = |r: Result<GcdSplit, DataError>| match r {
            Err(DataError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(field(gcd_split(&[0, 3], 3, &[0], 0.5, 0)), "labels");
        assert_eq!(field(gcd_split(&[0], 3, &[3], 0.5, 0)), "old_classes");
        assert_eq!(field(gcd_split(&[0], 3, &[1, 1], 0.5, 0)), "old_classes");
        assert_eq!(field(gcd_split(&[0], 3, &[0], 1.5, 0)), "labelled_fraction");
        assert_eq!(field(gcd_split(&[0], 3, &[0], 0.5, 1 << 32)), "split_seed");
        assert_eq!(
            field(gcd_split(&[0], 3, &[0], f64::NAN, 0)),
            "labelled_fraction"
        );
    }

    #[test]
    fn split_from_indices_builds_mask_and_rejects_bad_indices() {
        assert_eq!(
            split_from_indices(4, &[3, 0]).unwrap(),
            vec![true, false, false, true]
        );
        let e = split_from_indices(4, &[4]).unwrap_err().to_string();
        assert!(e.contains("labelled_idx") && e.contains("index 4"), "{e}");
        let e = split_from_indices(4, &[1, 1]).unwrap_err().to_string();
        assert!(e.contains("labelled_idx") && e.contains("twice"), "{e}");
    }

    #[test]
    fn known_splits_match_the_spec() {
        let expect = [
            ("cifar10", 10, 5),
            ("cifar100", 100, 80),
            ("imagenet100", 100, 50),
            ("imagenet1k", 1000, 500),
            ("oxford_pets", 37, 19),
            ("flowers102", 102, 51),
            ("cub200", 200, 100),
            ("stanford_cars", 196, 98),
            ("fgvc_aircraft", 100, 50),
        ];
        assert_eq!(known_split_names().len(), expect.len());
        for (name, k, n_old) in expect {
            let s = known_split(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!((s.num_classes, s.old.len()), (k, n_old), "{name}");
            // A valid split: old classes distinct and in range.
            gcd_split(&[], s.num_classes, &s.old, 0.5, 0).unwrap();
        }
        assert_eq!(known_split("cub200").unwrap().old[..5], [0, 5, 7, 9, 11]);
        assert_eq!(
            known_split("imagenet100").unwrap().subset.unwrap().len(),
            100
        );
        assert_eq!(
            known_split("oxford_pets").unwrap().split.as_deref(),
            Some("trainval")
        );
        assert!(known_split("mnist").is_none());
    }
}
