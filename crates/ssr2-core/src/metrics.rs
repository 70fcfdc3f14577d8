//! Evaluation on host data: All/Old/New accuracy (SPEC §2), effective rank and spectra per class,
//! and our edge ratio (SPEC §9).

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// All/Old/New accuracy of one evaluation, instance-weighted (SPEC §2 "v2").
#[derive(Clone, Debug, PartialEq)]
pub struct Accuracy {
    /// Samples evaluated.
    pub n: usize,
    pub all: f64,
    /// Accuracy over samples of old classes (`y < num_old`); NaN when there are none.
    pub old: f64,
    /// Accuracy over samples of new classes; NaN when there are none.
    pub new: f64,
    /// `(p, class)` for every predicted cluster id `p`, in increasing `p`: the true class it was
    /// matched to, `None` for a cluster left without one (more clusters than classes). Sparse, so
    /// ids of any size cost nothing.
    pub mapping: Vec<(usize, Option<usize>)>,
}

impl Accuracy {
    /// The mapping as a table indexed by cluster id, `0..=max id` (SPEC §2's `D`): ids absent from
    /// the predictions map to themselves. Only for small ids (the trainer's heads).
    pub fn dense_mapping(&self, max_id: usize) -> Vec<Option<usize>> {
        let mut dense: Vec<Option<usize>> = (0..=max_id).map(Some).collect();
        for &(p, class) in &self.mapping {
            if p <= max_id {
                dense[p] = class;
            }
        }
        dense
    }
}

/// SPEC §2: one optimal assignment between clusters and classes over all samples (Hungarian,
/// maximising matched counts), then All, Old and New under that same assignment.
pub fn cluster_accuracy(y_true: &[usize], y_pred: &[usize], num_old: usize) -> Accuracy {
    assert_eq!(y_true.len(), y_pred.len(), "one prediction per label");
    let n = y_true.len();
    if n == 0 {
        return Accuracy {
            n,
            all: f64::NAN,
            old: f64::NAN,
            new: f64::NAN,
            mapping: vec![],
        };
    }
    // Compact the ids first: arbitrary cluster ids (say 10^6) must not size the matrix, and
    // rows or columns without samples cannot change the optimal matched count.
    let (pred_ids, pred_idx) = compact(y_pred);
    let (true_ids, true_idx) = compact(y_true);
    let dim = pred_ids.len().max(true_ids.len());
    let mut counts = Matrix::new(dim, dim, 0i64);
    for (&t, &p) in true_idx.iter().zip(&pred_idx) {
        counts[(p, t)] += 1;
    }
    let (_, assignment) = kuhn_munkres(&counts);
    // Matched class index of each compacted cluster; a padding column means none.
    let matched: Vec<Option<usize>> = assignment[..pred_ids.len()]
        .iter()
        .map(|&col| (col < true_ids.len()).then_some(col))
        .collect();
    let mapping = pred_ids
        .iter()
        .zip(&matched)
        .map(|(&p, c)| (p, c.map(|c| true_ids[c])))
        .collect();
    let (mut hit, mut hit_old, mut n_old, mut hit_new, mut n_new) = (0usize, 0, 0, 0, 0);
    for ((&t, &ti), &pi) in y_true.iter().zip(&true_idx).zip(&pred_idx) {
        let ok = matched[pi] == Some(ti);
        hit += ok as usize;
        if t < num_old {
            n_old += 1;
            hit_old += ok as usize;
        } else {
            n_new += 1;
            hit_new += ok as usize;
        }
    }
    Accuracy {
        n,
        all: ratio(hit, n),
        old: ratio(hit_old, n_old),
        new: ratio(hit_new, n_new),
        mapping,
    }
}

/// `hits / count`, NaN for an empty part (reported as null).
fn ratio(hits: usize, count: usize) -> f64 {
    if count == 0 {
        f64::NAN
    } else {
        hits as f64 / count as f64
    }
}

/// Sorted distinct values, and each input's position among them.
fn compact(values: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut ids = values.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let idx = values
        .iter()
        .map(|v| ids.binary_search(v).expect("present"))
        .collect();
    (ids, idx)
}

/// Singular values of an `n x d` row-major matrix, largest first.
pub fn singular_values(rows: &[f32], n: usize, d: usize) -> Vec<f64> {
    assert_eq!(rows.len(), n * d, "rows must be n x d");
    if n == 0 || d == 0 {
        return Vec::new();
    }
    let mat = faer::Mat::<f64>::from_fn(n, d, |i, j| rows[i * d + j] as f64);
    if rows.iter().any(|v| !v.is_finite()) {
        return vec![f64::NAN; n.min(d)];
    }
    let Ok(mut s) = mat.singular_values() else {
        return vec![f64::NAN; n.min(d)];
    };
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// Effective rank (Roy & Vetterli): `exp(H(s / sum s))` over singular values, not their squares
/// (SPEC §9). 0 for an all-zero matrix.
pub fn effective_rank_from_singular_values(s: &[f64]) -> f64 {
    let total: f64 = s.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let h: f64 = s
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| {
            let p = v / total;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

/// Effective rank and spectrum of one ground-truth class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassRank {
    pub class: usize,
    pub count: usize,
    pub effective_rank: f64,
    pub singular_values: Vec<f64>,
}

/// Per-class ranks, and their means over old and over new classes (classes with samples only).
#[derive(Clone, Debug, PartialEq)]
pub struct RankSummary {
    pub classes: Vec<ClassRank>,
    pub old_mean: f64,
    pub new_mean: f64,
}

/// Effective rank of each ground-truth class of `features` (`n x d` row-major, used as given).
pub fn class_ranks(features: &[f32], d: usize, labels: &[usize], num_old: usize) -> RankSummary {
    let n = labels.len();
    assert_eq!(features.len(), n * d, "features must be n x d");
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut classes = Vec::new();
    for c in 0..k {
        let rows: Vec<f32> = (0..n)
            .filter(|&i| labels[i] == c)
            .flat_map(|i| features[i * d..(i + 1) * d].iter().copied())
            .collect();
        let count = rows.len() / d.max(1);
        if count == 0 {
            continue;
        }
        let s = singular_values(&rows, count, d);
        classes.push(ClassRank {
            class: c,
            count,
            effective_rank: effective_rank_from_singular_values(&s),
            singular_values: s,
        });
    }
    let mean = |old: bool| {
        let v: Vec<f64> = classes
            .iter()
            .filter(|c| (c.class < num_old) == old)
            .map(|c| c.effective_rank)
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let (old_mean, new_mean) = (mean(true), mean(false));
    RankSummary {
        classes,
        old_mean,
        new_mean,
    }
}

/// Our edge ratio (SPEC §9; not defined in any public source): on the symmetric k-NN cosine
/// graph (no self loops; an edge when either end lists the other), the fraction of edges that
/// join different true classes.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeRatio {
    /// Over all edges.
    pub all: f64,
    /// Over edges touching at least one old-class sample.
    pub old: f64,
    /// Over edges touching at least one new-class sample.
    pub new: f64,
    pub edges: usize,
}

/// Edge ratio of `features` (`n x d` row-major) with `k` neighbours per sample.
pub fn edge_ratio(
    features: &[f32],
    d: usize,
    labels: &[usize],
    num_old: usize,
    k: usize,
) -> EdgeRatio {
    let n = labels.len();
    assert_eq!(features.len(), n * d, "features must be n x d");
    let unit: Vec<f32> = features
        .chunks(d.max(1))
        .flat_map(|r| {
            let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(move |v| v / norm)
        })
        .collect();
    let mut edges = std::collections::BTreeSet::new();
    let mut sims = vec![0f32; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let zi = &unit[i * d..(i + 1) * d];
        for (j, s) in sims.iter_mut().enumerate() {
            *s = zi
                .iter()
                .zip(&unit[j * d..(j + 1) * d])
                .map(|(a, b)| a * b)
                .sum();
        }
        order.clear();
        order.extend((0..n).filter(|&j| j != i));
        order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
        for &j in order.iter().take(k) {
            edges.insert((i.min(j), i.max(j)));
        }
    }
    let (mut cross, mut cross_old, mut tot_old, mut cross_new, mut tot_new) = (0usize, 0, 0, 0, 0);
    for &(a, b) in &edges {
        let diff = (labels[a] != labels[b]) as usize;
        cross += diff;
        if labels[a] < num_old || labels[b] < num_old {
            tot_old += 1;
            cross_old += diff;
        }
        if labels[a] >= num_old || labels[b] >= num_old {
            tot_new += 1;
            cross_new += diff;
        }
    }
    EdgeRatio {
        all: ratio(cross, edges.len()),
        old: ratio(cross_old, tot_old),
        new: ratio(cross_new, tot_new),
        edges: edges.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_cluster_ids_and_extra_clusters() {
        // Clusters 1_000_000 and 7 are classes 0 and 1; cluster 42 is a third, unmatched cluster.
        let y = [0, 0, 1, 1, 1, 0];
        let p = [1_000_000, 1_000_000, 7, 7, 42, 1_000_000];
        let acc = cluster_accuracy(&y, &p, 1);
        assert_eq!(acc.all, 5.0 / 6.0);
        assert_eq!(acc.old, 1.0);
        assert_eq!(acc.new, 2.0 / 3.0);
        assert_eq!(
            acc.mapping,
            vec![(7, Some(1)), (42, None), (1_000_000, Some(0))]
        );
        assert_eq!(acc.dense_mapping(8)[7], Some(1));
    }

    #[test]
    fn ids_near_the_top_of_usize_allocate_nothing() {
        let y = [usize::MAX, usize::MAX, 1 << 40, 3];
        let p = [1 << 62, 1 << 62, 5, usize::MAX];
        let acc = cluster_accuracy(&y, &p, 4);
        assert_eq!(acc.all, 1.0);
        assert_eq!(acc.old, 1.0);
        assert_eq!(acc.new, 1.0);
    }

    #[test]
    fn effective_rank_of_known_spectra() {
        assert!((effective_rank_from_singular_values(&[1.0, 1.0, 1.0, 1.0]) - 4.0).abs() < 1e-12);
        assert!((effective_rank_from_singular_values(&[3.0, 0.0]) - 1.0).abs() < 1e-12);
        assert_eq!(effective_rank_from_singular_values(&[0.0, 0.0]), 0.0);
    }
}
