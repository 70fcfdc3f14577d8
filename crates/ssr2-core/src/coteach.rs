//! Co-teaching (SPEC §6): each branch picks its most confident unlabelled samples per class, and
//! the other branch learns those pseudo-labels.

use crate::ops::{cross_entropy, index_tensor};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Temperature of the confidence scores used for selection (0.01).
pub const SELECT_TEMP: f64 = 0.01;
/// Share of the unlabelled set that may be selected, spread evenly over classes (0.6).
pub const SELECT_FRACTION: f64 = 0.6;

/// Confidence scores `softmax(logits / 0.01)` over the unlabelled set (`N x K`).
pub fn confidence(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits.div_scalar(SELECT_TEMP), 1)
}

/// For each class `c` in order, the top `floor(N / K * fraction)` samples by `scores[:, c]`
/// become `c`; a later class overwrites an earlier one (as the reference). `scores` is row-major
/// `n x k`. Returns the chosen class per sample.
pub fn select_confident(scores: &[f32], n: usize, k: usize, fraction: f64) -> Vec<Option<usize>> {
    assert_eq!(scores.len(), n * k, "scores must be n x k");
    let per_class = per_class_count(n, k, fraction);
    let mut chosen = vec![None; n];
    let mut order: Vec<usize> = (0..n).collect();
    for c in 0..k {
        // Descending by score; ties by index, so the result does not depend on sort internals.
        order.sort_by(|&a, &b| {
            scores[b * k + c]
                .total_cmp(&scores[a * k + c])
                .then(a.cmp(&b))
        });
        for &i in order.iter().take(per_class) {
            chosen[i] = Some(c);
        }
    }
    chosen
}

/// Samples selected per class: `floor(N / K * fraction)`, in the reference's order of
/// operations (`main.py`: `math.floor(len(unlabelled) / K * selecting_ratio)`); `0.6 * N / K`
/// rounds differently, e.g. N = 35, K = 3.
pub fn per_class_count(n: usize, k: usize, fraction: f64) -> usize {
    (n as f64 / k as f64 * fraction).floor() as usize
}

/// Cross-entropy of `logits / temp` on the rows that carry a pseudo-label; 0 when none do. The
/// reference divides by `tau_s`, the supervised temperature (`loss.py`,
/// `coteaching_pseudolabel_loss`).
pub fn pseudo_label_loss(logits: Tensor<2>, labels: &[Option<usize>], temp: f64) -> Tensor<1> {
    let (rows, targets): (Vec<usize>, Vec<usize>) = labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|c| (i, c)))
        .unzip();
    if rows.is_empty() {
        return Tensor::zeros([1], &logits.device());
    }
    let picked = logits
        .clone()
        .select(0, index_tensor(&rows, &logits.device()));
    cross_entropy(picked.div_scalar(temp), &targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_count_divides_before_scaling_as_the_reference() {
        // Python: math.floor(35 / 3 * 0.6) == 6 (35 / 3 * 0.6 = 6.999...), while
        // math.floor(0.6 * 35 / 3) == 7.
        assert_eq!(per_class_count(35, 3, 0.6), 6);
        assert_eq!(per_class_count(50, 5, 0.6), 6);
        let scores: Vec<f32> = (0..35 * 3).map(|i| ((i * 37) % 101) as f32).collect();
        let chosen = select_confident(&scores, 35, 3, 0.6);
        // Class 2 is chosen last, so none of its 6 picks is overwritten.
        assert_eq!(chosen.iter().filter(|c| **c == Some(2)).count(), 6);
        assert!(chosen.iter().filter(|c| c.is_some()).count() <= 18);
    }

    /// softmax(logits / 0.01) saturates to exactly 1 and 0 for clear rows, so many samples tie;
    /// the rule (documented in docs/FIDELITY.md: the reference's argsort leaves ties unordered)
    /// takes the lowest indices, and a later class overwrites an earlier one.
    #[test]
    fn saturated_confidences_tie_and_ties_go_to_the_lowest_indices() {
        let device = Device::flex();
        let rows: Vec<[f32; 2]> = (0..10)
            .map(|i| if i < 6 { [5.0, -5.0] } else { [-4.0, 6.0] })
            .collect();
        let scores = confidence(Tensor::<2>::from_data(
            TensorData::new(rows.concat(), [10, 2]),
            &device,
        ))
        .try_into_vec_as::<f32>()
        .unwrap();
        // Saturated: exact ones and zeros, so the six class-0 rows tie on class 0.
        assert!((0..6).all(|i| scores[i * 2] == 1.0 && scores[i * 2 + 1] == 0.0));
        assert!((6..10).all(|i| scores[i * 2] == 0.0 && scores[i * 2 + 1] == 1.0));
        // floor(10 / 2 * 0.6) = 3 per class.
        let chosen = select_confident(&scores, 10, 2, SELECT_FRACTION);
        let want = [
            Some(0),
            Some(0),
            Some(0),
            None,
            None,
            None,
            Some(1),
            Some(1),
            Some(1),
            None,
        ];
        assert_eq!(chosen, want);
        // A sample confident for both classes keeps the later class.
        let both = [1.0f32, 1.0, 0.5, 0.5, 0.0, 0.0, 0.2, 0.9];
        assert_eq!(
            select_confident(&both, 4, 2, 0.5),
            [Some(1), None, None, None]
        );
    }

    #[test]
    fn pseudo_label_loss_uses_the_given_temperature() {
        let device = Device::flex();
        let logits = [[0.3f32, -1.2, 0.8], [1.5, 0.1, -0.4], [-0.2, 0.7, 0.05]];
        let labels = [Some(2), None, Some(1)];
        // Independent f64 cross-entropy of logits / temp over the labelled rows.
        let want = |temp: f64| -> f64 {
            let rows = [(0usize, 2usize), (2, 1)];
            let total: f64 = rows
                .iter()
                .map(|&(i, c)| {
                    let x: Vec<f64> = logits[i].iter().map(|&v| v as f64 / temp).collect();
                    let m = x.iter().cloned().fold(f64::MIN, f64::max);
                    let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    lse - x[c]
                })
                .sum();
            total / rows.len() as f64
        };
        let t = Tensor::<2>::from_data(logits, &device);
        for temp in [0.1, 0.2, 1.0] {
            let got = pseudo_label_loss(t.clone(), &labels, temp)
                .try_into_vec_as::<f32>()
                .unwrap()[0] as f64;
            assert!(
                (got - want(temp)).abs() < 1e-5 * want(temp).abs().max(1.0),
                "temp {temp}: {got} vs {}",
                want(temp)
            );
        }
        let none = pseudo_label_loss(t, &[None, None, None], 0.1)
            .try_into_vec_as::<f32>()
            .unwrap()[0];
        assert_eq!(none, 0.0);
    }
}
