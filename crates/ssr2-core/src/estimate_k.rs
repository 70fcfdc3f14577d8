//! Estimating the number of classes `K` when it is unknown (host-side, unit-norm rows).
//!
//! Two criteria:
//! - [`gcd_accuracy`] — the GCD method (Vaze et al. 2022, §3.3 and their `estimate_k`): k-means
//!   on all the data for each `K`, scored by the clustering accuracy on the labelled points, and
//!   Brent's method over `K` maximising it. The k-means here is plain, as in their code: with the
//!   labelled points fixed to their classes (the semi-supervised k-means they cluster with
//!   afterwards) the labelled accuracy would be 1 for every `K` and could not choose.
//! - [`coding_length`] — ours, from rate reduction: the total lossy coding length of the data
//!   segmented into `K` groups by semi-supervised k-means (labelled points fixed to their
//!   classes; Ma et al., TPAMI 2007, eq. 9),
//!   `L(K) = sum_j [(m_j + d)/2 logdet(I + d/(m_j eps2) Z_j^T Z_j) + m_j ln(m / m_j)]`: the nats
//!   to code each group within distortion `eps2` plus those to say which group each point is in.
//!   More groups compress each group better (the `R_c` part of `Delta R` falls) but cost more
//!   membership and basis nats, so `L` has an interior minimum; `Delta R` alone only grows with
//!   `K` and cannot choose. `K` minimises `L`.

use crate::kmeans::{Problem, inertia, ss_kmeans_best};

/// k-means starts per evaluated `K` (the best by inertia is kept), as scikit-learn's default
/// `n_init` that the GCD code relied on.
pub const RESTARTS: usize = 10;
use crate::metrics::cluster_accuracy;

/// One criterion's curve and its choice.
#[derive(Clone, Debug, PartialEq)]
pub struct KCurve {
    /// `(K, value)` for every `K` evaluated, in increasing `K`.
    pub points: Vec<(usize, f64)>,
    /// The chosen `K`.
    pub best: usize,
}

/// The data: unit rows `x` (`n x d`) and, per row, its class if labelled.
pub struct Data<'a> {
    pub x: &'a [f32],
    pub n: usize,
    pub d: usize,
    pub labels: &'a [Option<usize>],
}

impl Data<'_> {
    /// Number of distinct labelled classes (the smallest sensible `K`).
    pub fn labelled_classes(&self) -> usize {
        let mut ids: Vec<usize> = self.labels.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Labelled classes renumbered `0..c` (k-means clusters are `0..K`).
    fn dense_labels(&self) -> Vec<Option<usize>> {
        let mut ids: Vec<usize> = self.labels.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        self.labels
            .iter()
            .map(|l| l.map(|c| ids.binary_search(&c).expect("present")))
            .collect()
    }
}

/// The distortion a known class shows: the mean squared distance of labelled rows to their
/// class mean. Coding with this `eps2` keeps a class's spread as noise and resolves groups that
/// differ by more than it, which is what a class is here.
pub fn labelled_distortion(data: &Data) -> Option<f64> {
    let d = data.d;
    let (rows, classes): (Vec<usize>, Vec<usize>) = data
        .dense_labels()
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|c| (i, c)))
        .unzip();
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|&i| data.x[i * d..(i + 1) * d].iter().copied())
        .collect();
    let fixed: Vec<Option<usize>> = classes.iter().map(|&c| Some(c)).collect();
    let p = Problem {
        x: &x,
        n: rows.len(),
        d,
        fixed: &fixed,
    };
    let total = inertia(&p, &classes, data.labelled_classes());
    (!rows.is_empty() && total > 0.0).then(|| total / rows.len() as f64)
}

/// (a) The GCD estimate: Brent's method over `K` in `[lo, hi]` maximising the labelled
/// accuracy of k-means on all the data; `best` is where the search converged (as theirs).
/// `on_k(K, accuracy)` is called after each K tried (progress).
pub fn gcd_accuracy(
    data: &Data,
    lo: usize,
    hi: usize,
    seed: u64,
    on_k: &mut dyn FnMut(usize, f64),
) -> KCurve {
    let labels = data.dense_labels();
    let labelled: Vec<usize> = (0..data.n).filter(|&i| labels[i].is_some()).collect();
    let truth: Vec<usize> = labelled
        .iter()
        .map(|&i| labels[i].expect("labelled"))
        .collect();
    let free = vec![None; data.n];
    let mut score = |k: usize| {
        let p = Problem {
            x: data.x,
            n: data.n,
            d: data.d,
            fixed: &free,
        };
        let assign = ss_kmeans_best(&p, k, seed, RESTARTS);
        let pred: Vec<usize> = labelled.iter().map(|&i| assign[i]).collect();
        let acc = cluster_accuracy(&truth, &pred, usize::MAX).all;
        let acc = if acc.is_nan() { 0.0 } else { acc };
        on_k(k, acc);
        acc
    };
    let (points, best) = brent_integer(|k| -score(k), lo, hi);
    let points = points.into_iter().map(|(k, v)| (k, -v)).collect();
    KCurve { points, best }
}

/// (b) Ours: the total coding length over the candidate `K`s (a grid of at most `steps`
/// values in `[lo, hi]`, then Brent's method around the grid's minimum); `K` minimises it.
/// `on_k(K, length)` is called after each K tried (progress).
pub fn coding_length(
    data: &Data,
    [lo, hi]: [usize; 2],
    eps2: f64,
    steps: usize,
    seed: u64,
    on_k: &mut dyn FnMut(usize, f64),
) -> KCurve {
    let fixed = data.dense_labels();
    let mut length = |k: usize| {
        let p = Problem {
            x: data.x,
            n: data.n,
            d: data.d,
            fixed: &fixed,
        };
        let v = segmentation_length(data, &ss_kmeans_best(&p, k, seed, RESTARTS), k, eps2);
        on_k(k, v);
        v
    };
    let grid = grid(lo, hi, steps);
    let mut points: Vec<(usize, f64)> = grid.iter().map(|&k| (k, length(k))).collect();
    let at = points
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |b, (i, &(_, v))| if v < b.1 { (i, v) } else { b },
        )
        .0;
    let (a, b) = (
        grid[at.saturating_sub(1)],
        grid[(at + 1).min(grid.len() - 1)],
    );
    for (k, v) in brent_integer(&mut length, a, b).0 {
        if !points.iter().any(|&(q, _)| q == k) {
            points.push((k, v));
        }
    }
    points.sort_by_key(|&(k, _)| k);
    let best = points
        .iter()
        .fold(
            (0, f64::INFINITY),
            |b, &(k, v)| if v < b.1 { (k, v) } else { b },
        )
        .0;
    KCurve { points, best }
}

/// Up to `steps` distinct integers spread evenly (geometrically) over `[lo, hi]`.
fn grid(lo: usize, hi: usize, steps: usize) -> Vec<usize> {
    let steps = steps.max(2);
    let (l, h) = (lo as f64, hi as f64);
    let mut g: Vec<usize> = (0..steps)
        .map(|i| (l * (h / l).powf(i as f64 / (steps - 1) as f64)).round() as usize)
        .map(|k| k.clamp(lo, hi))
        .collect();
    g.dedup();
    g
}

/// Total coding length (nats) of `x` segmented by `assign` into `k` groups (Ma et al. 2007).
pub fn segmentation_length(data: &Data, assign: &[usize], k: usize, eps2: f64) -> f64 {
    let d = data.d;
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in assign.iter().enumerate() {
        groups[c].push(i);
    }
    let m = data.n as f64;
    groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let mj = g.len() as f64;
            let ld = group_logdet(data, g, d as f64 / (mj * eps2));
            (mj + d as f64) / 2.0 * ld + mj * (m / mj).ln()
        })
        .sum()
}

/// `logdet(I + a Z_g^T Z_g)` on the smaller side, in f64.
fn group_logdet(data: &Data, g: &[usize], a: f64) -> f64 {
    let d = data.d;
    let row = |i: usize| &data.x[i * d..(i + 1) * d];
    let dot = |p: &[f32], q: &[f32]| {
        p.iter()
            .zip(q)
            .map(|(u, v)| *u as f64 * *v as f64)
            .sum::<f64>()
    };
    let size = g.len().min(d);
    let mat = if g.len() <= d {
        faer::Mat::<f64>::from_fn(size, size, |r, c| {
            a * dot(row(g[r]), row(g[c])) + if r == c { 1.0 } else { 0.0 }
        })
    } else {
        faer::Mat::<f64>::from_fn(size, size, |r, c| {
            a * g
                .iter()
                .map(|&i| row(i)[r] as f64 * row(i)[c] as f64)
                .sum::<f64>()
                + if r == c { 1.0 } else { 0.0 }
        })
    };
    match mat.llt(faer::Side::Lower) {
        Ok(llt) => 2.0 * (0..size).map(|i| llt.L()[(i, i)].ln()).sum::<f64>(),
        Err(_) => f64::INFINITY,
    }
}

/// Brent's bounded minimisation (Brent 1973, ch. 5: golden section with parabolic steps) of
/// `f` over the integers of `[lo, hi]`: `f` is evaluated at rounded points, once each. Returns
/// every evaluation in increasing `K`, and the `K` the search converged to.
pub fn brent_integer(
    mut f: impl FnMut(usize) -> f64,
    lo: usize,
    hi: usize,
) -> (Vec<(usize, f64)>, usize) {
    let mut seen: Vec<(usize, f64)> = Vec::new();
    let round = |x: f64| (x.round() as usize).clamp(lo, hi);
    let mut eval = |x: f64| -> f64 {
        let k = round(x);
        if let Some(&(_, v)) = seen.iter().find(|&&(q, _)| q == k) {
            return v;
        }
        let v = f(k);
        seen.push((k, v));
        v
    };
    let x = if hi > lo {
        golden_parabolic(&mut eval, lo as f64, hi as f64, 0.5)
    } else {
        eval(lo as f64);
        lo as f64
    };
    seen.sort_by_key(|&(k, _)| k);
    (seen, round(x))
}

/// The minimiser's abscissa.
fn golden_parabolic(f: &mut impl FnMut(f64) -> f64, mut a: f64, mut b: f64, xtol: f64) -> f64 {
    const GOLD: f64 = 0.381_966_011_250_105; // (3 - sqrt 5) / 2
    let (mut x, mut e, mut step) = (a + GOLD * (b - a), 0.0f64, 0.0f64);
    let (mut w, mut v) = (x, x);
    let mut fx = f(x);
    let (mut fw, mut fv) = (fx, fx);
    for _ in 0..100 {
        let mid = 0.5 * (a + b);
        let tol1 = 1e-8 * x.abs() + xtol / 3.0;
        let tol2 = 2.0 * tol1;
        if (x - mid).abs() <= tol2 - 0.5 * (b - a) {
            break;
        }
        let mut parabolic = false;
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            let last = e;
            e = step;
            if p.abs() < (0.5 * q * last).abs() && p > q * (a - x) && p < q * (b - x) {
                step = p / q;
                let u = x + step;
                if u - a < tol2 || b - u < tol2 {
                    step = tol1.copysign(mid - x);
                }
                parabolic = true;
            }
        }
        if !parabolic {
            e = if x >= mid { a - x } else { b - x };
            step = GOLD * e;
        }
        let u = if step.abs() >= tol1 {
            x + step
        } else {
            x + tol1.copysign(step)
        };
        let fu = f(u);
        if fu <= fx {
            if u >= x {
                a = x
            } else {
                b = x
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u
            } else {
                b = u
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brent_finds_the_minimum_of_a_unimodal_integer_function() {
        let mut calls = 0;
        let (pts, at) = brent_integer(
            |k| {
                calls += 1;
                ((k as f64) - 37.0).powi(2)
            },
            2,
            400,
        );
        let best = pts.iter().fold(
            (0, f64::INFINITY),
            |b, &(k, v)| if v < b.1 { (k, v) } else { b },
        );
        assert_eq!((best.0, at), (37, 37));
        assert!(calls < 30, "{calls} evaluations");
    }

    #[test]
    fn labelled_distortion_is_the_mean_squared_spread() {
        let x = [1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8, 0.6, 0.8, 0.3, 0.3];
        let labels = [Some(4), Some(4), Some(9), Some(9), None];
        let data = Data {
            x: &x,
            n: 5,
            d: 2,
            labels: &labels,
        };
        // Class 4: both rows 0.5 from their mean; class 9: identical rows.
        assert!((labelled_distortion(&data).unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn grid_is_increasing_and_bounded() {
        let g = grid(5, 400, 12);
        assert_eq!((g[0], *g.last().unwrap()), (5, 400));
        assert!(g.windows(2).all(|w| w[0] < w[1]));
    }

    /// Both criteria find K = 6 on six well-separated unit-norm clusters, half of each labelled.
    #[test]
    fn both_criteria_find_separated_clusters() {
        let (k_true, per, d) = (6, 40, 8);
        let mut state = 3u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32 * 0.1
        };
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for i in 0..k_true * per {
            let c = i % k_true;
            let mut row: Vec<f32> = (0..d)
                .map(|j| if j == c { 1.0 } else { 0.0 } + noise())
                .collect();
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
            x.extend(row);
            labels.push((i % 2 == 0).then_some(c));
        }
        let data = Data {
            x: &x,
            n: k_true * per,
            d,
            labels: &labels,
        };
        let mut tried = Vec::new();
        assert_eq!(gcd_accuracy(&data, 3, 20, 0, &mut |k, _| tried.push(k)).best, k_true);
        assert!(!tried.is_empty() && tried.iter().all(|k| (3..=20).contains(k)));
        assert_eq!(coding_length(&data, [3, 20], 0.5, 8, 0, &mut |_, _| {}).best, k_true);
    }
}
