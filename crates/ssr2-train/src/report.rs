//! The run report (`report.json`): what the browser explorer opens. Format in `docs/REPORT.md`.

// The report's types live in the Burn-free `ssr2-view`, which the browser app reads them with.
pub use ssr2_view::report::{
    ClassRank, DatasetInfo, EpochEval, EpochRecord, INDUCTIVE, Inference, InferenceBranch,
    KEstimate, Projection, Provenance, REPORT_FORMAT, REPORT_VERSION, RunReport, Scores,
    TRANSDUCTIVE, Thumbnail, Thumbnails, check_header, parse_report,
};

/// `Some(v)` for a finite value, `None` for NaN (JSON has no NaN).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Two leading principal axes of `n x d` rows (power iteration with deflation on the covariance)
/// and the rows projected on them.
pub fn pca_2d(rows: &[f32], n: usize, d: usize) -> ([f64; 2], Vec<f32>, Vec<f32>) {
    if n == 0 || d == 0 {
        return ([0.0, 0.0], vec![], vec![]);
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| rows[i * d + j] as f64).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<f64> = (0..n * d).map(|x| rows[x] as f64 - mean[x % d]).collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        let r = &centred[i * d..(i + 1) * d];
        for a in 0..d {
            for b in a..d {
                cov[a * d + b] += r[a] * r[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a * d + b] = cov[b * d + a];
        }
    }
    let total: f64 = (0..d).map(|a| cov[a * d + a]).sum::<f64>().max(1e-300);
    let mut axes: Vec<Vec<f64>> = Vec::new();
    let mut explained = [0.0; 2];
    for (k, share) in explained.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..d)
            .map(|j| 1.0 + ((j * 7 + k * 13) % 11) as f64 / 11.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..300 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect();
            for u in &axes {
                let dot: f64 = w.iter().zip(u).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            lambda = norm;
            v = w.into_iter().map(|x| x / norm).collect();
        }
        *share = lambda / total;
        axes.push(v);
    }
    let project = |u: &Vec<f64>| -> Vec<f32> {
        (0..n)
            .map(|i| {
                centred[i * d..(i + 1) * d]
                    .iter()
                    .zip(u)
                    .map(|(x, y)| x * y)
                    .sum::<f64>() as f32
            })
            .collect()
    };
    (explained, project(&axes[0]), project(&axes[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_axes() {
        // Points spread 10x along e0 and 3x along e2, barely along e1.
        let n = 200;
        let mut rows = Vec::new();
        for i in 0..n {
            let t = (i as f32 / n as f32 - 0.5) * 20.0;
            let s = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 6.0;
            rows.extend([t, 0.01 * s, s]);
        }
        let (explained, x, y) = pca_2d(&rows, n, 3);
        assert!(explained[0] > explained[1] && explained[0] + explained[1] > 0.999);
        // x is the e0 coordinate (up to sign and centring).
        let corr: f32 = x
            .iter()
            .enumerate()
            .map(|(i, v)| v * (rows[i * 3]))
            .sum::<f32>()
            .abs();
        assert!(corr > 0.0 && y.len() == n);
    }
}
