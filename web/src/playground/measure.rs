//! What the playground shows of a run, measured on the host from its features of all points:
//! the coding rates with the true labels (SPEC §3), effective ranks and All/Old/New.

use ssr2_core::logdet::host_logdet_inv;
use ssr2_core::metrics::{class_ranks, cluster_accuracy};

/// One frame's measurements of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Measures {
    /// `R(Z)` of all points.
    pub r: f64,
    /// `R_c(Z, y)` with the true labels.
    pub rc: f64,
    /// `delta R = R - R_c`: what rate reduction maximises.
    pub delta: f64,
    /// `R(Z_c)` of each class alone (its volume; small = compressed).
    pub class_r: Vec<f64>,
    /// Effective rank of each class (SPEC §9).
    pub ranks: Vec<f64>,
    pub all: f64,
    pub old: f64,
    pub new: f64,
}

/// `logdet(I + a Z^T Z)` of `rows` (m x 3, row-major).
fn logdet_gram(rows: &[f32], a: f64) -> f64 {
    let mut g = [0f32; 9];
    for r in rows.chunks_exact(3) {
        for i in 0..3 {
            for j in 0..3 {
                g[i * 3 + j] += (a * r[i] as f64 * r[j] as f64) as f32;
            }
        }
    }
    for i in 0..3 {
        g[i * 4] += 1.0;
    }
    // NaN (shown as such) when the features are not finite.
    host_logdet_inv(&g, 1, 3, false).map_or(f64::NAN, |(ld, _)| ld[0] as f64)
}

/// Measurements of features `z` (`n x 3`) with true `labels` and predictions `pred`.
pub fn measure(
    z: &[f32],
    labels: &[usize],
    labelled: &[bool],
    pred: &[usize],
    classes: usize,
    num_old: usize,
    eps2: f64,
) -> Measures {
    let n = labels.len();
    let d = 3.0;
    let r = 0.5 * logdet_gram(z, d / (n as f64 * eps2));
    let mut rc = 0.0;
    let mut class_r = vec![0.0; classes];
    for (c, cr) in class_r.iter_mut().enumerate() {
        let rows: Vec<f32> = (0..n)
            .filter(|&i| labels[i] == c)
            .flat_map(|i| z[i * 3..i * 3 + 3].iter().copied())
            .collect();
        let m = rows.len() / 3;
        if m == 0 {
            continue;
        }
        let ld = logdet_gram(&rows, d / (m as f64 * eps2));
        *cr = 0.5 * ld;
        rc += m as f64 / (2.0 * n as f64) * ld;
    }
    let summary = class_ranks(z, 3, labels, num_old);
    let mut ranks = vec![0.0; classes];
    for c in summary.classes {
        if c.class < classes {
            ranks[c.class] = c.effective_rank;
        }
    }
    // Scores on the unlabelled points, as in GCD.
    let unl: Vec<usize> = (0..n).filter(|&i| !labelled[i]).collect();
    let y: Vec<usize> = unl.iter().map(|&i| labels[i]).collect();
    let p: Vec<usize> = unl.iter().map(|&i| pred[i]).collect();
    let acc = cluster_accuracy(&y, &p, num_old);
    Measures {
        r,
        rc,
        delta: r - rc,
        class_r,
        ranks,
        all: acc.all,
        old: acc.old,
        new: acc.new,
    }
}
