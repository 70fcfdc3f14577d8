//! The weighted labelled/unlabelled sampler of SPEC §8: draws with replacement, weight 1 for a
//! labelled sample and `n_l / n_u` for an unlabelled one, so each batch is about half labelled.

use crate::rng::Rng;

/// Batches of sample indices for one epoch: `floor(n / batch)` batches (drop last).
pub fn epoch_batches(labelled: &[bool], batch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let lab: Vec<usize> = (0..labelled.len()).filter(|&i| labelled[i]).collect();
    let unl: Vec<usize> = (0..labelled.len()).filter(|&i| !labelled[i]).collect();
    let n = labelled.len();
    let batches = n / batch;
    let mut draw = || {
        // Both groups carry total weight n_l, so a draw picks either group with probability 1/2.
        let from_lab = if lab.is_empty() {
            false
        } else if unl.is_empty() {
            true
        } else {
            rng.uniform() < 0.5
        };
        let pool = if from_lab { &lab } else { &unl };
        pool[rng.below(pool.len())]
    };
    (0..batches)
        .map(|_| (0..batch).map(|_| draw()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_half_labelled_and_drop_last() {
        let labelled: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect(); // 10% labelled
        let batches = epoch_batches(&labelled, 64, &mut Rng::derive(1, 0, 0));
        assert_eq!(batches.len(), 1000 / 64);
        let total: usize = batches.iter().map(Vec::len).sum();
        let lab: usize = batches.iter().flatten().filter(|&&i| labelled[i]).count();
        let share = lab as f64 / total as f64;
        assert!((share - 0.5).abs() < 0.05, "labelled share {share}");
    }
}
