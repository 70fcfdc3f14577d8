//! Semi-supervised k-means (Vaze et al., GCD 2022, §3.3): points with a known class stay in that
//! class's cluster, every other point joins its nearest centre. Host-side, f32 rows.

/// Rows `x` (`n x d`, row-major) and, per row, the cluster it is fixed to (`None` = free).
pub struct Problem<'a> {
    pub x: &'a [f32],
    pub n: usize,
    pub d: usize,
    pub fixed: &'a [Option<usize>],
}

/// Iterations at most (Lloyd steps); runs stop earlier when no assignment changes.
pub const MAX_ITER: usize = 100;

/// A deterministic generator for seeding (splitmix64), so estimates repeat exactly.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn dist2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| {
            let t = (p - q) as f64;
            t * t
        })
        .sum()
}

/// Index and squared distance of the nearest of `centres` (`k x d`) to `row`.
fn nearest(row: &[f32], centres: &[f32], d: usize) -> (usize, f64) {
    centres
        .chunks_exact(d)
        .map(|c| dist2(row, c))
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |best, (j, v)| if v < best.1 { (j, v) } else { best },
        )
}

/// `f(i)` for every row, on all cores where there are threads.
fn per_row<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        (0..n).map(f).collect()
    }
}

/// Cluster of every row for `k` clusters. Clusters named by `fixed` start at their members'
/// mean; the others are seeded by k-means++ over the free rows. Fixed ids must be `< k`.
pub fn ss_kmeans(p: &Problem, k: usize, seed: u64) -> Vec<usize> {
    let (n, d) = (p.n, p.d);
    assert!(k >= 1 && n >= 1, "k-means needs points and clusters");
    assert!(
        p.fixed.iter().flatten().all(|&c| c < k),
        "fixed ids must be < k"
    );
    let row = |i: usize| &p.x[i * d..(i + 1) * d];
    let mut centres = vec![0f32; k * d];
    let mut seeded = vec![false; k];
    for (c, filled) in move_centres(p, k, &mut centres, |i| p.fixed[i])
        .into_iter()
        .enumerate()
    {
        seeded[c] = filled;
    }
    let mut rng = Rng(seed);
    let free: Vec<usize> = (0..n).filter(|&i| p.fixed[i].is_none()).collect();
    let pool = if free.is_empty() {
        (0..n).collect()
    } else {
        free
    };
    for c in 0..k {
        if seeded[c] {
            continue;
        }
        // k-means++: a free row drawn with probability proportional to its squared distance to
        // the nearest centre so far (uniformly while there is none).
        let placed: Vec<f32> = (0..k)
            .filter(|&j| seeded[j])
            .flat_map(|j| centres[j * d..(j + 1) * d].to_vec())
            .collect();
        let weights: Vec<f64> = if placed.is_empty() {
            vec![1.0; pool.len()]
        } else {
            pool.iter()
                .map(|&i| nearest(row(i), &placed, d).1)
                .collect()
        };
        let pick = draw(&weights, &mut rng);
        centres[c * d..(c + 1) * d].copy_from_slice(row(pool[pick]));
        seeded[c] = true;
    }
    let mut assign: Vec<usize> = vec![usize::MAX; n];
    for _ in 0..MAX_ITER {
        let next = per_row(n, |i| {
            p.fixed[i].unwrap_or_else(|| nearest(row(i), &centres, d).0)
        });
        if next == assign {
            break;
        }
        assign = next;
        // An emptied cluster keeps its centre (it may win points back).
        move_centres(p, k, &mut centres, |i| Some(assign[i]));
    }
    assign
}

/// For each row of `rows` (`m x p.d`, row-major), the nearest mean of the clusters `assign` gives
/// `p`'s rows (an empty cluster's mean is the origin): new points placed in a finished
/// clustering.
pub fn nearest_mean(p: &Problem, assign: &[usize], k: usize, rows: &[f32]) -> Vec<usize> {
    let d = p.d;
    let (sums, counts) = member_sums(p, k, |i| Some(assign[i]));
    let means: Vec<f32> = (0..k * d)
        .map(|j| (sums[j] / counts[j / d].max(1) as f64) as f32)
        .collect();
    per_row(rows.len() / d.max(1), |i| {
        nearest(&rows[i * d..(i + 1) * d], &means, d).0
    })
}

/// The best of `restarts` runs (seeds `seed..seed+restarts`) by inertia, the sum of squared
/// distances to the centres: one k-means++ start often lands in a poor local optimum.
pub fn ss_kmeans_best(p: &Problem, k: usize, seed: u64, restarts: usize) -> Vec<usize> {
    (0..restarts.max(1) as u64)
        .map(|r| ss_kmeans(p, k, seed.wrapping_add(r)))
        .map(|a| (inertia(p, &a, k), a))
        .fold((f64::INFINITY, Vec::new()), |best, run| {
            if run.0 < best.0 { run } else { best }
        })
        .1
}

/// Sum of squared distances of the rows to their cluster means.
pub fn inertia(p: &Problem, assign: &[usize], k: usize) -> f64 {
    let d = p.d;
    let (sums, counts) = member_sums(p, k, |i| Some(assign[i]));
    (0..p.n)
        .map(|i| {
            let c = assign[i];
            let mean: Vec<f32> = sums[c * d..(c + 1) * d]
                .iter()
                .map(|s| (s / counts[c] as f64) as f32)
                .collect();
            dist2(&p.x[i * d..(i + 1) * d], &mean)
        })
        .sum()
}

/// Per-cluster sums (f64) and counts of the rows that `of` places.
fn member_sums(
    p: &Problem,
    k: usize,
    of: impl Fn(usize) -> Option<usize>,
) -> (Vec<f64>, Vec<usize>) {
    let d = p.d;
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    for i in 0..p.n {
        if let Some(c) = of(i) {
            counts[c] += 1;
            for (s, &v) in sums[c * d..(c + 1) * d]
                .iter_mut()
                .zip(&p.x[i * d..(i + 1) * d])
            {
                *s += v as f64;
            }
        }
    }
    (sums, counts)
}

/// Moves each centre with members (placed by `of`) to their mean; says which had members.
fn move_centres(
    p: &Problem,
    k: usize,
    centres: &mut [f32],
    of: impl Fn(usize) -> Option<usize>,
) -> Vec<bool> {
    let d = p.d;
    let (sums, counts) = member_sums(p, k, of);
    for (c, centre) in centres.chunks_exact_mut(d).enumerate() {
        if counts[c] > 0 {
            for (v, s) in centre.iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                *v = (s / counts[c] as f64) as f32;
            }
        }
    }
    counts.iter().map(|&n| n > 0).collect()
}

/// An index drawn with probability proportional to `weights` (uniform if all are 0).
fn draw(weights: &[f64], rng: &mut Rng) -> usize {
    let total: f64 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return ((rng.next_f64() * weights.len() as f64) as usize).min(weights.len() - 1);
    }
    let mut t = rng.next_f64() * total;
    for (i, &w) in weights.iter().enumerate() {
        if t < w {
            return i;
        }
        t -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rows_go_to_the_nearest_cluster_mean() {
        // Means (0, 1) and (10, 11); cluster 2 is empty, its mean the origin.
        let x = [0.0, 0.0, 0.0, 2.0, 10.0, 10.0, 10.0, 12.0];
        let fixed = [None; 4];
        let p = Problem {
            x: &x,
            n: 4,
            d: 2,
            fixed: &fixed,
        };
        let rows = [1.0, 1.0, 9.0, 11.0, 0.0, -0.9];
        assert_eq!(nearest_mean(&p, &[0, 0, 1, 1], 3, &rows), vec![0, 1, 2]);
    }

    /// Three well-separated blobs; one labelled point per blob for the first two.
    fn blobs() -> (Vec<f32>, Vec<usize>) {
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut rng = Rng(1);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..60 {
            let c = i % 3;
            x.push(centres[c][0] + rng.next_f64() as f32);
            x.push(centres[c][1] + rng.next_f64() as f32);
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn recovers_blobs_and_keeps_fixed_points() {
        let (x, y) = blobs();
        let mut fixed = vec![None; 60];
        fixed[0] = Some(2); // a point of blob 0 named cluster 2
        fixed[1] = Some(0); // a point of blob 1 named cluster 0
        let p = Problem {
            x: &x,
            n: 60,
            d: 2,
            fixed: &fixed,
        };
        let a = ss_kmeans(&p, 3, 7);
        assert_eq!((a[0], a[1]), (2, 0));
        for i in 0..60 {
            assert_eq!(a[i], a[y[i]], "row {i} joins its blob's cluster");
        }
        assert_eq!(a, ss_kmeans(&p, 3, 7), "deterministic");
    }
}
