//! Sub-sets and joins of datasets: test splits for inductive evaluation (holding a part out,
//! storing the test part after the training samples) and shards put back together.

use crate::rng::{seeded, shuffle};
use crate::{DataError, Dataset, ImageViews, TextFeatures};

impl Dataset {
    /// The samples `idx` (in that order) as a dataset of their own, without a test part.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let text = self.text.as_ref().map(|t| match t {
            TextFeatures::Aggregated(m) => TextFeatures::Aggregated(m.select_rows(idx)),
            TextFeatures::Candidates(c) => TextFeatures::Candidates(c.select(idx)),
        });
        Dataset {
            name: self.name.clone(),
            class_names: self.class_names.clone(),
            num_old: self.num_old,
            image: self.image.select_rows(idx),
            image_views: self.image_views.as_ref().map(|v| ImageViews {
                data: v.data.select_blocks(v.per_sample, idx),
                per_sample: v.per_sample,
            }),
            image_pooled: self.image_pooled.as_ref().map(|m| m.select_rows(idx)),
            text,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            labelled: idx.iter().map(|&i| self.labelled[i]).collect(),
            sample_ids: idx.iter().map(|&i| self.sample_ids[i].clone()).collect(),
            test: None,
        }
    }

    /// Moves the samples flagged in `is_test` into the test part (their labels hidden); the rest
    /// stay the training set. Fails when a flag count differs from n or a flagged sample is
    /// labelled.
    pub fn split_off_test(self, is_test: &[bool]) -> Result<Dataset, DataError> {
        if is_test.len() != self.len() {
            return Err(DataError::invalid(
                "split",
                format!("has length {}, expected {}", is_test.len(), self.len()),
            ));
        }
        if let Some(i) = (0..self.len()).find(|&i| is_test[i] && self.labelled[i]) {
            return Err(DataError::invalid(
                "split",
                format!("sample {i} is in the test split but labelled; test labels stay hidden"),
            ));
        }
        let (test, train): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| is_test[i]);
        let mut out = self.subset(&train);
        // No test sample is no test split: an empty one would score NaN.
        out.test = (!test.is_empty()).then(|| Box::new(self.subset(&test)));
        Ok(out)
    }

    /// The training samples followed by the test samples, and per row whether it is a test
    /// sample: the layout a bundle stores.
    pub fn with_test_appended(mut self) -> (Dataset, Vec<bool>) {
        let mut is_test = vec![false; self.len()];
        if let Some(t) = self.test.take() {
            is_test.resize(self.len() + t.len(), true);
            append_rows(&mut self, &t);
        }
        (self, is_test)
    }
}

/// Appends the samples of `b` (same tensors and widths) to `a`.
fn append_rows(a: &mut Dataset, b: &Dataset) {
    a.image.append(&b.image);
    if let (Some(x), Some(y)) = (&mut a.image_views, &b.image_views) {
        x.data.append(&y.data);
    }
    if let (Some(x), Some(y)) = (&mut a.image_pooled, &b.image_pooled) {
        x.append(y);
    }
    match (&mut a.text, &b.text) {
        (Some(TextFeatures::Aggregated(x)), Some(TextFeatures::Aggregated(y))) => x.append(y),
        (Some(TextFeatures::Candidates(x)), Some(TextFeatures::Candidates(y))) => x.append(y),
        _ => {}
    }
    a.labels.extend(&b.labels);
    a.labelled.extend(&b.labelled);
    a.sample_ids.extend(b.sample_ids.iter().cloned());
}

/// Shards of one dataset put back together: the training samples of every part in order, then
/// their test samples in order (so shards cut from training-then-test rows give back the whole).
/// The parts must agree on the dataset name, classes and tensors; ids must stay unique.
pub fn concat(parts: Vec<Dataset>) -> Result<Dataset, DataError> {
    let mut parts = parts.into_iter().enumerate();
    let Some((_, mut all)) = parts.next() else {
        return Err(DataError::invalid("parts", "none given"));
    };
    let mut test = all.test.take().map(|t| *t);
    for (k, mut part) in parts {
        let same = part.name == all.name
            && part.class_names == all.class_names
            && part.num_old == all.num_old
            && crate::dataset::shape(&part) == crate::dataset::shape(&all);
        if !same {
            return Err(DataError::invalid(
                "parts",
                format!("part {k} has another dataset, class list or feature shape than part 0"),
            ));
        }
        append_rows(&mut all, &part);
        match (&mut test, part.test.take()) {
            (Some(t), Some(p)) => append_rows(t, &p),
            (None, Some(p)) => test = Some(*p),
            _ => {}
        }
    }
    all.test = test.map(Box::new);
    all.validate()?;
    Ok(all)
}

/// Holds out `fraction` of each class (rounded down, drawn with `seed`) as the test part, for
/// data without a test split of its own (the digits, synthetic sets). The draw is among the
/// unlabelled samples, so the labelled set stays exactly as given (a class with too few
/// unlabelled samples gives what it has), and it does not depend on the run seed, so every seed
/// of a run is tested on the same samples.
pub fn hold_out(ds: Dataset, fraction: f64, seed: u64) -> Result<Dataset, DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::invalid(
            "test_fraction",
            format!("is {fraction}, expected a number in [0, 1)"),
        ));
    }
    if ds.test.is_some() {
        return Err(DataError::invalid(
            "test_fraction",
            "the data already has a test split; leave test_fraction at 0",
        ));
    }
    let mut rng = seeded(seed ^ 0x7e57);
    let mut is_test = vec![false; ds.len()];
    for class in 0..ds.num_classes() {
        let size = ds.labels.iter().filter(|&&y| y == class).count();
        let mut pool: Vec<usize> = (0..ds.len())
            .filter(|&i| ds.labels[i] == class && !ds.labelled[i])
            .collect();
        shuffle(&mut rng, &mut pool);
        let take = ((fraction * size as f64).floor() as usize).min(pool.len());
        pool[..take].iter().for_each(|&i| is_test[i] = true);
    }
    ds.split_off_test(&is_test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SyntheticConfig, generate};

    #[test]
    fn a_fraction_that_rounds_to_no_sample_is_no_test_split() {
        // 10 per class: 0.05 of 10 rounds down to 0 in every class.
        let ds = hold_out(data(), 0.05, 0).unwrap();
        assert!(ds.test.is_none());
        assert_eq!(ds.len(), 40);
        let ds = hold_out(data(), 0.1, 0).unwrap();
        assert_eq!(ds.test.as_ref().map(|t| t.len()), Some(4));
    }

    fn data() -> Dataset {
        let cfg = SyntheticConfig {
            num_classes: 4,
            num_old: 2,
            per_class: 10,
            ..SyntheticConfig::default()
        };
        generate(&cfg).unwrap()
    }

    #[test]
    fn hold_out_takes_the_fraction_of_each_class_and_keeps_every_sample_once() {
        let ds = data();
        let n = ds.len();
        let out = hold_out(ds.clone(), 0.3, 0).unwrap();
        let test = out.test.as_ref().unwrap();
        assert_eq!(test.len(), 4 * 3);
        assert_eq!(out.len() + test.len(), n);
        for c in 0..4 {
            assert_eq!(test.labels.iter().filter(|&&y| y == c).count(), 3);
        }
        assert!(test.labelled.iter().all(|&l| !l));
        // The labelled set is untouched.
        assert_eq!(out.labelled_indices().len(), ds.labelled_indices().len());
        out.validate().unwrap();
        test.validate().unwrap();
        // Each sample appears once, with its own features and label.
        let mut ids: Vec<&String> = out.sample_ids.iter().chain(&test.sample_ids).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        let j = ds
            .sample_ids
            .iter()
            .position(|s| *s == test.sample_ids[0])
            .unwrap();
        assert_eq!(test.image.row(0), ds.image.row(j));
        assert_eq!(test.labels[0], ds.labels[j]);
        // Same seed, same split; fraction 0 moves nothing.
        assert_eq!(hold_out(ds.clone(), 0.3, 0).unwrap(), out);
        assert!(hold_out(ds.clone(), 0.0, 0).unwrap().test.is_none());
        assert!(hold_out(ds.clone(), 1.0, 0).is_err());
        assert!(hold_out(out, 0.1, 0).is_err());
    }

    #[test]
    fn appended_test_part_splits_back_to_the_same_dataset() {
        let out = hold_out(data(), 0.25, 3).unwrap();
        let (all, is_test) = out.clone().with_test_appended();
        assert_eq!(all.len(), 40);
        assert_eq!(
            is_test.iter().filter(|&&t| t).count(),
            out.test.as_ref().unwrap().len()
        );
        assert_eq!(all.split_off_test(&is_test).unwrap(), out);
    }

    #[test]
    fn a_labelled_test_sample_is_refused() {
        let ds = data();
        let i = ds.labelled.iter().position(|&l| l).unwrap();
        let mut is_test = vec![false; ds.len()];
        is_test[i] = true;
        let err = ds.split_off_test(&is_test).unwrap_err().to_string();
        assert!(err.contains(&format!("sample {i}")), "{err}");
    }
}

#[cfg(test)]
mod concat_tests {
    use super::*;
    use crate::{SyntheticConfig, generate};

    #[test]
    fn shards_of_training_then_test_rows_concatenate_back_to_the_whole() {
        let cfg = SyntheticConfig {
            num_classes: 4,
            num_old: 2,
            per_class: 10,
            ..SyntheticConfig::default()
        };
        let whole = hold_out(generate(&cfg).unwrap(), 0.25, 1).unwrap();
        let (rows, is_test) = whole.clone().with_test_appended();
        // Three contiguous shards of the stored row order; the middle one spans both parts.
        let n_train = whole.len();
        let cuts = [0, 13, n_train + 3, rows.len()];
        let shards: Vec<Dataset> = cuts
            .windows(2)
            .map(|w| {
                let idx: Vec<usize> = (w[0]..w[1]).collect();
                let flags: Vec<bool> = idx.iter().map(|&i| is_test[i]).collect();
                rows.subset(&idx).split_off_test(&flags).unwrap()
            })
            .collect();
        assert_eq!(concat(shards.clone()).unwrap(), whole);
        let mut other = shards.clone();
        other[1].class_names[0] = "x".into();
        assert!(concat(other).unwrap_err().to_string().contains("part 1"));
        let dup = vec![shards[0].clone(), shards[0].clone()];
        assert!(
            concat(dup)
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
    }
}
