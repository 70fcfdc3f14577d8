//! Coding rates `R(Z)` and `R_c(Z, ·)` (SPEC §3), differentiable in `Z` and in soft memberships.
//!
//! Rows of `Z` are samples and are used as given (no normalisation here). Each log-determinant is
//! taken on the smaller side: the `m x m` Gram side when `m <= d`, the `d x d` side otherwise.

use crate::logdet::{
    LogdetRoute, RateError, gram_matmul, gram_matmul2, rate_scale, spd_logdet, spd_logdet_inv,
};
use burn::prelude::*;

/// `+1e-8` on each class mass keeps an empty class at exactly 0 (SPEC §3).
pub const CLASS_MASS_EPS: f64 = 1e-8;

/// `R(Z) = 1/2 logdet(I + a Z^T Z)`, `a = d / (m eps2)` (SPEC §3). Returns shape `[1]`; 0 for
/// an empty `Z` (no rows or no columns: the determinant of an empty matrix is 1).
pub fn coding_rate(z: Tensor<2>, eps2: f64, route: LogdetRoute) -> Result<Tensor<1>, RateError> {
    let [m, d] = z.dims();
    let device = z.device();
    if m == 0 || d == 0 {
        rate_scale(1, 1.0, eps2)?;
        return Ok(Tensor::zeros([1], &device));
    }
    let a = rate_scale(d, m as f64, eps2)?;
    let gram = if m <= d {
        gram_matmul2(z.clone(), z.transpose())
    } else {
        gram_matmul2(z.clone().transpose(), z)
    };
    let n = m.min(d);
    let mat = Tensor::<2>::eye(n, &device) + gram.mul_scalar(a);
    Ok(spd_logdet(mat.unsqueeze_dim(0), route)?.mul_scalar(0.5))
}

/// `R_c(Z, labels)` with hard labels (SPEC §3). Label values are ids, not sizes: only the classes
/// present are factored (an absent class contributes exactly 0), so any `usize` id is fine.
/// `labels[i]` is the class of row `i`. Returns shape `[1]`.
pub fn coding_rate_hard(
    z: Tensor<2>,
    labels: &[usize],
    eps2: f64,
    route: LogdetRoute,
) -> Result<Tensor<1>, RateError> {
    let [m, d] = z.dims();
    assert_eq!(labels.len(), m, "one label per row of Z");
    let device = z.device();
    rate_scale(1, 1.0, eps2)?;
    if m == 0 || d == 0 {
        return Ok(Tensor::zeros([1], &device));
    }
    let members = class_members(labels);
    let k = members.len();
    let width = members.iter().map(Vec::len).max().unwrap_or(0);
    // Gather each class's rows into a [k, width, d] block; padding rows are zero (index m),
    // which leaves identity rows in the Gram matrix and so adds nothing to the logdet.
    let index: Vec<i64> = members
        .iter()
        .flat_map(|rows| (0..width).map(move |t| rows.get(t).map_or(m, |&i| i) as i64))
        .collect();
    let padded = Tensor::cat(vec![z, Tensor::zeros([1, d], &device)], 0);
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [k * width]), &device);
    let blocks = padded.select(0, index).reshape([k, width, d]);
    let gram = if width <= d {
        gram_matmul(blocks.clone(), blocks.transpose())
    } else {
        gram_matmul(blocks.clone().transpose(), blocks)
    };
    let n = width.min(d);
    let mass: Vec<f64> = members
        .iter()
        .map(|r| r.len() as f64 + CLASS_MASS_EPS)
        .collect();
    let scale = mass
        .iter()
        .map(|&t| rate_scale(d, t, eps2).map(|a| a as f32))
        .collect::<Result<Vec<f32>, _>>()?;
    let weight: Vec<f32> = mass.iter().map(|t| (t / (2.0 * m as f64)) as f32).collect();
    let scale = Tensor::<1>::from_data(TensorData::new(scale, [k]), &device).reshape([k, 1, 1]);
    let weight = Tensor::<1>::from_data(TensorData::new(weight, [k]), &device);
    let mat = Tensor::<2>::eye(n, &device).unsqueeze_dim::<3>(0) + gram * scale;
    Ok((spd_logdet(mat, route)? * weight).sum().reshape([1]))
}

/// Row indices of each distinct label, in increasing label order.
fn class_members(labels: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&i| (labels[i], i));
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || labels[order[pos - 1]] != labels[i] {
            members.push(Vec::new());
        }
        members.last_mut().expect("pushed above").push(i);
    }
    members
}

/// `R_c(Z, P)` with soft memberships `P` (`m x k`, rows are probabilities), differentiable in both
/// `Z` and `P` (SPEC §3). Returns shape `[1]`.
pub fn coding_rate_soft(
    z: Tensor<2>,
    p: Tensor<2>,
    eps2: f64,
    route: LogdetRoute,
) -> Result<Tensor<1>, RateError> {
    let [m, d] = z.dims();
    let [mp, k] = p.dims();
    assert_eq!(m, mp, "P needs one row per row of Z");
    let device = z.device();
    if m == 0 || k == 0 || d == 0 {
        rate_scale(1, 1.0, eps2)?;
        return Ok(Tensor::zeros([1], &device));
    }
    // The largest scale, of a class with no mass, must fit float32 too.
    rate_scale(d, CLASS_MASS_EPS, eps2)?;
    // t_j = sum_i P[i,j] + 1e-8,  a_j = d / (t_j eps2)  (SPEC §3), kept in the graph for dP.
    let mass = p.clone().sum_dim(0).reshape([k]).add_scalar(CLASS_MASS_EPS);
    let scale = mass.clone().recip().mul_scalar(d as f64 / eps2);
    let logdets = if m <= d {
        soft_logdets_gram(z, p, scale, route)?
    } else {
        // d side: A_j = I + a_j Z^T D_j Z is built directly; no square roots involved.
        let weighted = p.transpose().unsqueeze_dim::<3>(2) * z.clone().unsqueeze_dim::<3>(0); // [k,m,d]
        let inner = gram_matmul(weighted.transpose(), z.unsqueeze_dim::<3>(0)); // [k,d,d]
        let mat =
            Tensor::<2>::eye(d, &device).unsqueeze_dim::<3>(0) + inner * scale.reshape([k, 1, 1]);
        spd_logdet(mat, route)?
    };
    Ok((logdets * mass)
        .sum()
        .div_scalar(2.0 * m as f64)
        .reshape([1]))
}

/// `logdet(I_m + a_j D_j G)` for every class `j` on the Gram side, `G = Z Z^T`.
///
/// The value comes from the symmetric form `I + a_j D^1/2 G D^1/2` (Sylvester), factored by
/// Cholesky. The gradient comes from the trace surrogate on `N_j = I + a_j D_j G`, which is linear
/// in `P`, so nothing is differentiated through `sqrt(P)` (infinite slope at 0, SPEC §3). With
/// `S = D^1/2` and `M = I + a S G S`: `N^-1 = I - a S M^-1 S G` (push-through identity).
fn soft_logdets_gram(
    z: Tensor<2>,
    p: Tensor<2>,
    scale: Tensor<1>,
    route: LogdetRoute,
) -> Result<Tensor<1>, RateError> {
    let [m, _] = z.dims();
    let [_, k] = p.dims();
    let device = z.device();
    let gram = gram_matmul2(z.clone(), z.transpose()); // [m,m]
    let tracked = gram.is_tracked() || p.is_tracked() || scale.is_tracked();
    let root = p.clone().detach().clamp_min(0.0).sqrt().transpose(); // [k,m]
    let outer = root.clone().unsqueeze_dim::<3>(2) * root.unsqueeze_dim::<3>(1); // [k,m,m]
    let a = scale.clone().detach().reshape([k, 1, 1]);
    let eye = Tensor::<2>::eye(m, &device).unsqueeze_dim::<3>(0);
    let sym = eye.clone() + outer.clone() * gram.clone().detach().unsqueeze_dim::<3>(0) * a.clone();
    let (ld, minv) = spd_logdet_inv(sym, tracked, route)?;
    let Some(minv) = minv else { return Ok(ld) };
    let n_inv = eye - (outer * minv).matmul(gram.clone().detach().unsqueeze_dim::<3>(0)) * a;
    // X_j = a_j D_j G, the non-constant part of N_j, built in the graph.
    let x =
        scale.reshape([k, 1, 1]) * p.transpose().unsqueeze_dim::<3>(2) * gram.unsqueeze_dim::<3>(0);
    let surrogate = (n_inv.transpose() * x).sum_dim(2).sum_dim(1).reshape([k]);
    Ok(ld + surrogate.clone() - surrogate.detach())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn one_hot(labels: &[usize], k: usize) -> Vec<f32> {
        labels
            .iter()
            .flat_map(|&c| (0..k).map(move |j| if j == c { 1.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn hard_labels_equal_one_hot_soft_memberships() {
        let device = Device::flex();
        for (m, d) in [(12, 5), (10, 30)] {
            let z = unit_rows(random_normal(m * d, 11), m, d);
            let labels: Vec<usize> = (0..m).map(|i| (i * 7) % 4).collect();
            let zt = Tensor::<2>::from_data(TensorData::new(z, [m, d]), &device);
            let p = Tensor::<2>::from_data(TensorData::new(one_hot(&labels, 4), [m, 4]), &device);
            let hard =
                to_vec1(coding_rate_hard(zt.clone(), &labels, 0.5, LogdetRoute::Host).unwrap())[0];
            let soft = to_vec1(coding_rate_soft(zt, p, 0.5, LogdetRoute::Host).unwrap())[0];
            assert_rel(hard as f64, soft as f64, 1e-5, "hard vs one-hot");
        }
    }

    #[test]
    fn one_class_and_uniform_memberships_give_r() {
        let device = Device::flex();
        for (m, d) in [(9, 16), (20, 6)] {
            let zt = Tensor::<2>::from_data(
                TensorData::new(unit_rows(random_normal(m * d, 5), m, d), [m, d]),
                &device,
            );
            let r = to_vec1(coding_rate(zt.clone(), 0.5, LogdetRoute::Host).unwrap())[0] as f64;
            let one =
                to_vec1(coding_rate_hard(zt.clone(), &vec![0; m], 0.5, LogdetRoute::Host).unwrap())
                    [0];
            assert_rel(one as f64, r, 1e-5, "one class");
            // Uniform memberships over k classes: each class sees all rows with weight 1/k, so
            // a_j D_j = (d / (m/k eps2)) / k = d/(m eps2) and each term is R * 2 * (m/k) / (2m).
            let k = 3;
            let p = Tensor::<2>::full([m, k], 1.0 / k as f64, &device);
            let uni = to_vec1(coding_rate_soft(zt, p, 0.5, LogdetRoute::Host).unwrap())[0];
            assert_rel(uni as f64, r, 1e-5, "uniform");
        }
    }

    #[test]
    fn empty_classes_contribute_zero() {
        let device = Device::flex();
        let (m, d) = (8, 4);
        let zt = Tensor::<2>::from_data(
            TensorData::new(unit_rows(random_normal(m * d, 9), m, d), [m, d]),
            &device,
        );
        let dense: Vec<usize> = (0..m).map(|i| i % 2).collect();
        let sparse: Vec<usize> = dense.iter().map(|&c| c * 5).collect(); // classes 1..4 empty
        let a = to_vec1(coding_rate_hard(zt.clone(), &dense, 0.5, LogdetRoute::Host).unwrap())[0];
        let b = to_vec1(coding_rate_hard(zt, &sparse, 0.5, LogdetRoute::Host).unwrap())[0];
        assert!(b.is_finite());
        assert_rel(a as f64, b as f64, 1e-6, "empty classes");
    }

    fn value(t: Tensor<1>) -> f64 {
        to_vec1(t)[0] as f64
    }

    fn softmax_rows(x: Vec<f32>, m: usize, k: usize) -> Vec<f32> {
        let mut out = x;
        for i in 0..m {
            let row = &mut out[i * k..(i + 1) * k];
            let mx = row.iter().cloned().fold(f32::MIN, f32::max);
            row.iter_mut().for_each(|v| *v = (*v - mx).exp());
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        out
    }

    /// Properties over many random draws: R_c <= R (concavity of logdet), and rates do not
    /// depend on the order of the rows.
    #[test]
    fn compression_never_exceeds_expansion_and_ignores_row_order() {
        let device = Device::flex();
        for seed in 0..12u64 {
            let (m, d, k) = (
                6 + (seed as usize * 5) % 30,
                3 + (seed as usize * 7) % 40,
                2 + seed as usize % 5,
            );
            let z = unit_rows(random_normal(m * d, 100 + seed), m, d);
            let labels: Vec<usize> = (0..m).map(|i| (i * 31 + seed as usize) % k).collect();
            let p = softmax_rows(random_normal(m * k, 200 + seed), m, k);
            let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [m, d]), &device);
            let pt = Tensor::<2>::from_data(TensorData::new(p.clone(), [m, k]), &device);
            let r = value(coding_rate(zt.clone(), 0.5, LogdetRoute::Host).unwrap());
            let hard =
                value(coding_rate_hard(zt.clone(), &labels, 0.5, LogdetRoute::Host).unwrap());
            let soft = value(coding_rate_soft(zt, pt, 0.5, LogdetRoute::Host).unwrap());
            assert!(
                hard <= r + 1e-5 && soft <= r + 1e-5,
                "seed {seed}: R {r} hard {hard} soft {soft}"
            );
            // Reverse the rows (and their memberships).
            let rev = |x: &[f32], w: usize| -> Vec<f32> {
                (0..m)
                    .rev()
                    .flat_map(|i| x[i * w..(i + 1) * w].to_vec())
                    .collect()
            };
            let zr = Tensor::<2>::from_data(TensorData::new(rev(&z, d), [m, d]), &device);
            let pr = Tensor::<2>::from_data(TensorData::new(rev(&p, k), [m, k]), &device);
            let lr: Vec<usize> = labels.iter().rev().copied().collect();
            assert_rel(
                value(coding_rate(zr.clone(), 0.5, LogdetRoute::Host).unwrap()),
                r,
                1e-5,
                "R permuted",
            );
            assert_rel(
                value(coding_rate_hard(zr.clone(), &lr, 0.5, LogdetRoute::Host).unwrap()),
                hard,
                1e-5,
                "Rc permuted",
            );
            assert_rel(
                value(coding_rate_soft(zr, pr, 0.5, LogdetRoute::Host).unwrap()),
                soft,
                1e-5,
                "Rc soft permuted",
            );
        }
    }

    /// Directional finite differences of R_c(Z, P) in Z and in P, on both sides and routes.
    #[test]
    fn soft_gradients_match_finite_differences() {
        let ad = Device::flex().autodiff();
        for (m, d, k) in [(10, 24, 3), (30, 8, 4)] {
            let z = unit_rows(random_normal(m * d, 1), m, d);
            let p = softmax_rows(random_normal(m * k, 2), m, k);
            let ez = random_normal(m * d, 3);
            let ep = random_normal(m * k, 4);
            for route in [LogdetRoute::Host, LogdetRoute::Tensor] {
                let zt =
                    Tensor::<2>::from_data(TensorData::new(z.clone(), [m, d]), &ad).require_grad();
                let pt =
                    Tensor::<2>::from_data(TensorData::new(p.clone(), [m, k]), &ad).require_grad();
                let grads = coding_rate_soft(zt.clone(), pt.clone(), 0.5, route)
                    .unwrap()
                    .backward();
                let gz = to_vec2(zt.grad(&grads).unwrap());
                let gp = to_vec2(pt.grad(&grads).unwrap());
                let dot = |g: &[f32], e: &[f32]| {
                    g.iter()
                        .zip(e)
                        .map(|(a, b)| (*a as f64) * (*b as f64))
                        .sum::<f64>()
                };
                let h = 1e-3f32;
                let at = |zs: &[f32], ps: &[f32]| {
                    let dev = Device::flex();
                    value(
                        coding_rate_soft(
                            Tensor::<2>::from_data(TensorData::new(zs.to_vec(), [m, d]), &dev),
                            Tensor::<2>::from_data(TensorData::new(ps.to_vec(), [m, k]), &dev),
                            0.5,
                            route,
                        )
                        .unwrap(),
                    )
                };
                let shift = |x: &[f32], e: &[f32], s: f32| -> Vec<f32> {
                    x.iter().zip(e).map(|(a, b)| a + s * b).collect()
                };
                let fd_z =
                    (at(&shift(&z, &ez, h), &p) - at(&shift(&z, &ez, -h), &p)) / (2.0 * h as f64);
                let fd_p =
                    (at(&z, &shift(&p, &ep, h)) - at(&z, &shift(&p, &ep, -h))) / (2.0 * h as f64);
                assert_rel(dot(&gz, &ez), fd_z, 1e-2, &format!("dZ {m}x{d} {route:?}"));
                assert_rel(dot(&gp, &ep), fd_p, 1e-2, &format!("dP {m}x{d} {route:?}"));
            }
        }
    }

    #[test]
    fn huge_label_ids_cost_nothing_and_match_dense_ids() {
        let device = Device::flex();
        let (m, d) = (10, 4);
        let zt = Tensor::<2>::from_data(
            TensorData::new(unit_rows(random_normal(m * d, 21), m, d), [m, d]),
            &device,
        );
        let dense: Vec<usize> = (0..m).map(|i| i % 3).collect();
        let huge: Vec<usize> = dense.iter().map(|&c| [1 << 40, 7, usize::MAX][c]).collect();
        let a = value(coding_rate_hard(zt.clone(), &dense, 0.5, LogdetRoute::Host).unwrap());
        let b = value(coding_rate_hard(zt, &huge, 0.5, LogdetRoute::Host).unwrap());
        assert_rel(a, b, 1e-6, "compacted ids");
    }

    #[test]
    fn extreme_inputs_give_errors_not_panics() {
        let device = Device::flex();
        let big = Tensor::<2>::from_data(TensorData::new(vec![1e20f32; 12], [3, 4]), &device);
        assert!(coding_rate(big.clone(), 0.5, LogdetRoute::Host).is_err());
        assert!(coding_rate_hard(big, &[0, 1, 0], 0.5, LogdetRoute::Host).is_err());
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 12], [3, 4]), &device);
        assert!(matches!(
            coding_rate(z.clone(), 1e-45, LogdetRoute::Host),
            Err(RateError::ScaleOverflow { .. })
        ));
        assert!(matches!(
            coding_rate(z, f64::NAN, LogdetRoute::Host),
            Err(RateError::BadEps2(_))
        ));
        let empty = Tensor::<2>::zeros([5, 0], &device);
        assert_eq!(
            value(coding_rate(empty, 0.5, LogdetRoute::Host).unwrap()),
            0.0
        );
    }
}
