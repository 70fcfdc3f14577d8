//! The confusion matrix after the Hungarian assignment, and curve series from the history.

use crate::report::EpochRecord;

/// Counts `[true class][matched class]`, `k x (k + 1)`: cluster `p` is counted under the class
/// `mapping[p]` it was matched to; unmatched clusters go to the last column.
pub fn confusion(
    labels: &[usize],
    preds: &[usize],
    mapping: &[Option<usize>],
    k: usize,
) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0usize; k + 1]; k];
    for (&y, &p) in labels.iter().zip(preds) {
        if y >= k {
            continue;
        }
        let col = mapping
            .get(p)
            .copied()
            .flatten()
            .filter(|&c| c < k)
            .unwrap_or(k);
        m[y][col] += 1;
    }
    m
}

/// Largest cell of a matrix (at least 1, so it can divide).
pub fn max_cell(m: &[Vec<usize>]) -> usize {
    m.iter().flatten().copied().max().unwrap_or(0).max(1)
}

/// Per-epoch values of every loss term that is not zero throughout (contrastive runs leave the
/// coding rates at 0), `total` first.
pub fn loss_series(history: &[EpochRecord]) -> Vec<(String, Vec<f64>)> {
    let mut names: Vec<String> = history
        .iter()
        .flat_map(|e| e.loss.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names.sort_by_key(|n| n != "total");
    names
        .into_iter()
        .map(|n| {
            let v: Vec<f64> = history
                .iter()
                .map(|e| e.loss.get(&n).copied().unwrap_or(f64::NAN))
                .collect();
            (n, v)
        })
        .filter(|(_, v)| v.iter().any(|x| x.is_finite() && *x != 0.0))
        .collect()
}

/// All/Old/New per epoch (NaN where a part is missing).
pub fn score_series(history: &[EpochRecord]) -> Vec<(String, Vec<f64>)> {
    let get = |f: fn(&EpochRecord) -> Option<f64>| {
        history.iter().map(|e| f(e).unwrap_or(f64::NAN)).collect()
    };
    vec![
        ("All".into(), get(|e| Some(e.eval.scores.all))),
        ("Old".into(), get(|e| e.eval.scores.old)),
        ("New".into(), get(|e| e.eval.scores.new)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{parse_report, sample_json};

    #[test]
    fn counts_after_assignment() {
        // Cluster 1 is matched to class 0, cluster 0 to class 1, cluster 2 to nothing.
        let mapping = [Some(1), Some(0), None];
        let m = confusion(&[0, 0, 1, 1, 1], &[1, 1, 0, 2, 1], &mapping, 2);
        assert_eq!(m, vec![vec![2, 0, 0], vec![1, 1, 1]]);
        assert_eq!(max_cell(&m), 2);
        assert_eq!(max_cell(&[]), 1);
    }

    #[test]
    fn series_from_history() {
        let r = parse_report(&sample_json(), "t").unwrap();
        let loss = loss_series(&r.history);
        assert_eq!(loss[0], ("total".to_string(), vec![1.0, 0.5]));
        assert_eq!(loss[1].0, "R_image");
        let s = score_series(&r.history);
        assert_eq!(s[1].1, vec![0.5, 1.0]);
    }
}
