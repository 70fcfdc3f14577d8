//! The lesson's numbers, recomputed on every drag with `ssr2-core` on the CPU device (3 x 3
//! log-determinants: synchronous and cheap): R, R_c, ΔR (SPEC §3), hard labels vs soft
//! memberships, ε-ball covers, and the moves a drag makes.

use super::sim::{Data, Knobs};
use burn::prelude::*;
use ssr2_core::{LogdetRoute, RateError, coding_rate, coding_rate_hard, coding_rate_soft};

/// The lesson's own copy of the playground's points, which drags edit.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Points {
    /// `n x 3`, row-major.
    pub x: Vec<f32>,
    pub labels: Vec<usize>,
    pub classes: usize,
    pub num_old: usize,
}

impl Points {
    /// The playground's data for these knobs (same seed, so the same points).
    pub fn new(k: &Knobs) -> Points {
        match Data::new(k, 1) {
            Ok(d) => Points {
                x: d.x,
                labels: d.labels,
                classes: d.classes,
                num_old: d.num_old,
            },
            Err(_) => Points::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn point(&self, i: usize) -> [f64; 3] {
        let p = &self.x[i * 3..i * 3 + 3];
        [p[0] as f64, p[1] as f64, p[2] as f64]
    }

    fn members(&self, c: usize) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.labels[i] == c).collect()
    }
}

/// R, R_c and ΔR of all points with their true labels, and each class's own rate.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Rates {
    pub r: f64,
    pub rc: f64,
    pub dr: f64,
    /// `R(Z_c)` of each class alone; R_c is their mean weighted by class size.
    pub class_r: Vec<f64>,
}

/// Hard labels for the labelled points, soft memberships for the rest (SPEC §4's two parts).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Semi {
    pub labelled: Vec<bool>,
    /// `n x K` memberships (the guess; the labelled points' rows are not used).
    pub p: Vec<f32>,
    /// `R_c^s`: labelled rows, hard labels.
    pub rc_s: f64,
    /// `R_c^u`: unlabelled rows, soft memberships.
    pub rc_u: f64,
    /// `R_c` of the unlabelled rows had their true labels been known.
    pub rc_u_true: f64,
    pub n_s: usize,
    pub n_u: usize,
}

const ROUTE: LogdetRoute = LogdetRoute::Host;

fn tensor(rows: Vec<f32>, cols: usize) -> Tensor<2> {
    let m = rows.len() / cols;
    Tensor::<2>::from_data(TensorData::new(rows, [m, cols]), &Device::flex())
}

/// The value of a rate, NaN when it cannot be computed (points dragged to infinity).
fn read(rate: Result<Tensor<1>, RateError>) -> f64 {
    rate.ok()
        .and_then(|t| t.try_into_vec_as::<f32>().ok())
        .and_then(|v| v.first().copied())
        .map_or(f64::NAN, f64::from)
}

/// Rows `idx` of a row-major matrix of width `w`.
fn rows(x: &[f32], w: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| x[i * w..(i + 1) * w].iter().copied())
        .collect()
}

pub fn rates(p: &Points, eps2: f64) -> Rates {
    if p.labels.is_empty() {
        return Rates::default();
    }
    // R(Z) = 1/2 logdet(I + d/(m eps2) Z^T Z); R_c = sum_j m_j/(2m) logdet(I + d/(m_j eps2) Z_j^T Z_j)
    // (SPEC §3).
    let r = read(coding_rate(tensor(p.x.clone(), 3), eps2, ROUTE));
    let rc = read(coding_rate_hard(
        tensor(p.x.clone(), 3),
        &p.labels,
        eps2,
        ROUTE,
    ));
    let class_r = (0..p.classes)
        .map(|c| {
            read(coding_rate(
                tensor(rows(&p.x, 3, &p.members(c)), 3),
                eps2,
                ROUTE,
            ))
        })
        .collect();
    Rates {
        r,
        rc,
        dr: r - rc,
        class_r,
    }
}

/// Which points carry a label at labelled fraction `frac`: only old classes' points, picked by a
/// fixed spread of each index over [0, 1) so a larger fraction keeps the earlier ones.
pub fn labelled(p: &Points, frac: f64) -> Vec<bool> {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    (0..p.len())
        .map(|i| p.labels[i] < p.num_old && (i as f64 * GOLDEN).fract() < frac)
        .collect()
}

/// Soft memberships standing in for the trained head: softmax over classes of
/// `-(squared distance to the class's nearest other point) / temp`.
pub fn memberships(p: &Points, temp: f64) -> Vec<f32> {
    let (n, k) = (p.len(), p.classes);
    let mut out = vec![0f32; n * k];
    for i in 0..n {
        let a = p.point(i);
        let mut near = vec![f64::INFINITY; k];
        for j in (0..n).filter(|&j| j != i) {
            let b = p.point(j);
            let d2 = (0..3).map(|t| (a[t] - b[t]).powi(2)).sum::<f64>();
            let c = p.labels[j];
            near[c] = near[c].min(d2);
        }
        let logits: Vec<f64> = near.iter().map(|d| -d / temp.max(1e-6)).collect();
        let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = e.iter().sum();
        for c in 0..k {
            out[i * k + c] = (e[c] / total) as f32;
        }
    }
    out
}

pub fn semi(p: &Points, frac: f64, temp: f64, eps2: f64) -> Semi {
    let lab = labelled(p, frac);
    let probs = memberships(p, temp);
    let s: Vec<usize> = (0..p.len()).filter(|&i| lab[i]).collect();
    let u: Vec<usize> = (0..p.len()).filter(|&i| !lab[i]).collect();
    let labels_of = |idx: &[usize]| idx.iter().map(|&i| p.labels[i]).collect::<Vec<_>>();
    let hard = |idx: &[usize]| {
        if idx.is_empty() {
            return 0.0;
        }
        read(coding_rate_hard(
            tensor(rows(&p.x, 3, idx), 3),
            &labels_of(idx),
            eps2,
            ROUTE,
        ))
    };
    // R_c^u = sum_j t_j/(2m) logdet(I + d/(t_j eps2) Z^T diag(P_j) Z), t_j = sum_i P_ij (SPEC §3).
    let rc_u = if u.is_empty() {
        0.0
    } else {
        read(coding_rate_soft(
            tensor(rows(&p.x, 3, &u), 3),
            tensor(rows(&probs, p.classes, &u), p.classes),
            eps2,
            ROUTE,
        ))
    };
    Semi {
        rc_s: hard(&s),
        rc_u,
        rc_u_true: hard(&u),
        n_s: s.len(),
        n_u: u.len(),
        labelled: lab,
        p: probs,
    }
}

/// A greedy ε-net: each of `idx` in turn becomes a ball's centre unless it already lies within
/// `eps` of one. Every point ends up inside a ball; the count is what R measures, roughly.
pub fn cover(p: &Points, idx: impl Iterator<Item = usize>, eps: f64) -> Vec<usize> {
    let mut centres: Vec<usize> = Vec::new();
    for i in idx {
        let a = p.point(i);
        let inside = centres.iter().any(|&c| {
            let b = p.point(c);
            (0..3).map(|t| (a[t] - b[t]).powi(2)).sum::<f64>() <= eps * eps
        });
        if !inside {
            centres.push(i);
        }
    }
    centres
}

/// Shift class `c`'s points by `t`.
pub fn shift(p: &mut Points, c: usize, t: [f64; 3]) {
    for i in 0..p.len() {
        if p.labels[i] == c {
            for j in 0..3 {
                p.x[i * 3 + j] += t[j] as f32;
            }
        }
    }
}

/// Turn class `c`'s points about the origin so that points facing the viewer (`v`) move along
/// `t` (in the view plane): by angle |t| about `v x t` (Rodrigues). Its own rate cannot change.
pub fn turn(p: &mut Points, c: usize, t: [f64; 3], v: [f64; 3]) {
    let angle = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
    if angle < 1e-12 {
        return;
    }
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let k = cross(v, t).map(|x| x / angle);
    let (s, co) = angle.sin_cos();
    for i in 0..p.len() {
        if p.labels[i] == c {
            let a = p.point(i);
            let kxa = cross(k, a);
            let ka = k[0] * a[0] + k[1] * a[1] + k[2] * a[2];
            for j in 0..3 {
                p.x[i * 3 + j] = (a[j] * co + kxa[j] * s + k[j] * ka * (1.0 - co)) as f32;
            }
        }
    }
}
