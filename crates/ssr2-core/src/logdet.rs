//! Log-determinants of batches of symmetric positive-definite matrices, with exact gradients.
//!
//! Every matrix the coding rates factor is `I + (PSD)`, so all eigenvalues are >= 1: Cholesky
//! needs no pivoting or jitter, and `logdet = 2 * sum(log(diag(L)))` (SPEC §3). We never form
//! `det()` (it overflows at d = 512).
//!
//! Two routes compute the same thing:
//! - [`LogdetRoute::Host`]: read the batch back, factor in f64 (faer), upload `logdet` and `M^-1`.
//!   Fastest on CPU devices; needs a synchronous read, which WebGPU in a browser cannot do.
//! - [`LogdetRoute::Tensor`]: Cholesky and triangular inversion written in tensor ops, so it runs
//!   on any device without leaving it, at the cost of O(n) launches per factorisation.
//! - [`LogdetRoute::Kernel`]: one CubeCL kernel per batch (`logdet/kernel.rs`), on wgpu, WebGPU
//!   and CUDA devices; in builds without a CubeCL backend, and on the CPU device, it falls back to
//!   the host route.
//!
//! Gradients use the trace surrogate `sum(M^-1 ⊙ (M - sg(M)))`, which is 0 in value and has
//! gradient `M^-1` (SPEC §3), so no custom autodiff op is needed and every device is covered.

use burn::prelude::*;
use std::fmt;

/// Why a coding rate could not be computed. Every coding-rate matrix is `I + PSD` in exact
/// arithmetic, so this only happens when float32 overflows (huge features, a tiny `eps2`) or the
/// input already holds NaN/infinity; callers report it instead of panicking.
#[derive(Clone, Debug, PartialEq)]
pub enum RateError {
    /// `eps2` is not a positive finite number.
    BadEps2(f64),
    /// The scale `d / (m eps2)` of a coding rate does not fit float32.
    ScaleOverflow { eps2: f64, scale: f64 },
    /// A matrix to factor holds NaN or infinity (matrix `block` of the batch).
    NonFinite { block: usize },
    /// A matrix is not positive definite in float64 (matrix `block` of the batch).
    NotPositiveDefinite { block: usize },
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::BadEps2(e) => write!(f, "eps2 must be a positive finite number, got {e}"),
            RateError::ScaleOverflow { eps2, scale } => write!(
                f,
                "eps2 = {eps2:e} is too small: the coding-rate scale d/(m eps2) = {scale:e} \
                 exceeds float32's range"
            ),
            RateError::NonFinite { block } => write!(
                f,
                "coding-rate matrix {block} holds NaN or infinity: the features are non-finite \
                 or too large for float32 (|z|^2 d/(m eps2) must stay below ~3e38)"
            ),
            RateError::NotPositiveDefinite { block } => write!(
                f,
                "coding-rate matrix {block} is not positive definite: the features are too \
                 large for float32"
            ),
        }
    }
}

impl std::error::Error for RateError {}

/// `a = d / (t eps2)` as a float32 scale, or why not.
pub fn rate_scale(d: usize, t: f64, eps2: f64) -> Result<f64, RateError> {
    if !(eps2.is_finite() && eps2 > 0.0) {
        return Err(RateError::BadEps2(eps2));
    }
    let scale = d as f64 / (t * eps2);
    if !(scale as f32).is_finite() {
        return Err(RateError::ScaleOverflow { eps2, scale });
    }
    Ok(scale)
}

/// Which algorithm factors the SPD batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogdetRoute {
    /// Host f64 where the device allows synchronous reads, tensor ops otherwise.
    #[default]
    Auto,
    /// Read back to the host and factor in f64.
    Host,
    /// Cholesky in tensor ops on the device itself.
    Tensor,
    /// One batched Cholesky kernel on a CubeCL device (wgpu, WebGPU, CUDA); the host route on
    /// other devices.
    Kernel,
}

impl LogdetRoute {
    /// The concrete route for `device`: the kernel on GPU devices, the host route on the CPU
    /// device. Without a CubeCL backend in the build, a GPU device in a browser (no synchronous
    /// read there) gets the tensor route.
    pub fn resolve(self, device: &Device) -> LogdetRoute {
        let gpu = !is_cpu_device(device);
        match self {
            LogdetRoute::Auto | LogdetRoute::Kernel if gpu && cfg!(feature = "cube") => {
                LogdetRoute::Kernel
            }
            LogdetRoute::Auto if gpu && cfg!(target_arch = "wasm32") => LogdetRoute::Tensor,
            LogdetRoute::Auto | LogdetRoute::Kernel => LogdetRoute::Host,
            r => r,
        }
    }
}

#[cfg(feature = "cube")]
pub mod kernel;

/// Batched `lhs [k, p, r] x rhs [k or 1, r, q]` for the coding rates' Gram products, in full
/// f32 on every device: on CubeCL devices the value comes from a plain multiply-add kernel, since
/// Burn's CUDA autotune may pick TF32 tensor cores (10-bit mantissas) for f32 matmuls. The
/// gradient is the ordinary matmul's.
pub fn gram_matmul(lhs: Tensor<3>, rhs: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "cube")]
    if kernel::is_cube_device(&lhs.device()) {
        return kernel::matmul_exact(lhs, rhs);
    }
    lhs.matmul(rhs)
}

/// [`gram_matmul`] of two matrices.
pub fn gram_matmul2(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    let [p, _] = lhs.dims();
    let [_, q] = rhs.dims();
    gram_matmul(lhs.unsqueeze_dim(0), rhs.unsqueeze_dim(0)).reshape([p, q])
}

/// True for the pure-Rust CPU device (flex), whose reads complete immediately.
pub fn is_cpu_device(device: &Device) -> bool {
    format!("{:?}", device.clone().inner()).contains("Flex")
}

/// `logdet` of each matrix of `m` (`[k, n, n]`, SPD) and, when `want_inv`, the inverses.
/// Both results are detached constants.
/// The host route checks every matrix and returns an error instead of panicking; the tensor and
/// kernel routes do not read back, so a non-finite input gives NaN there.
pub fn spd_logdet_inv(
    m: Tensor<3>,
    want_inv: bool,
    route: LogdetRoute,
) -> Result<(Tensor<1>, Option<Tensor<3>>), RateError> {
    let m = m.detach();
    match route.resolve(&m.device()) {
        LogdetRoute::Tensor => Ok(tensor_route(m, want_inv)),
        #[cfg(feature = "cube")]
        LogdetRoute::Kernel => Ok(kernel::kernel_route(m, want_inv)),
        _ => host_route(m, want_inv),
    }
}

/// Differentiable `logdet` of each SPD matrix of `m` (`[k, n, n]` -> `[k]`); d logdet/dM = M^-1.
pub fn spd_logdet(m: Tensor<3>, route: LogdetRoute) -> Result<Tensor<1>, RateError> {
    let [k, _, _] = m.dims();
    let tracked = m.is_tracked();
    let (ld, inv) = spd_logdet_inv(m.clone(), tracked, route)?;
    Ok(match inv {
        // Trace surrogate (SPEC §3): value 0, gradient M^-1.
        Some(inv) => {
            let delta = m.clone() - m.detach();
            ld + (delta * inv).sum_dim(2).sum_dim(1).reshape([k])
        }
        None => ld,
    })
}

fn host_route(m: Tensor<3>, want_inv: bool) -> Result<(Tensor<1>, Option<Tensor<3>>), RateError> {
    let [k, n, _] = m.dims();
    let device = m.device();
    let data: Vec<f32> = m.try_into_vec_as::<f32>().expect("readable f32 data");
    let (lds, invs) = host_logdet_inv(&data, k, n, want_inv)?;
    let ld = Tensor::<1>::from_data(TensorData::new(lds, [k]), &device);
    let inv = want_inv.then(|| Tensor::<3>::from_data(TensorData::new(invs, [k, n, n]), &device));
    Ok((ld, inv))
}

/// f64 Cholesky of each `n x n` block of `a`; returns f32 logdets and (optionally) inverses,
/// or the first block that is non-finite or not positive definite.
pub fn host_logdet_inv(
    a: &[f32],
    k: usize,
    n: usize,
    want_inv: bool,
) -> Result<(Vec<f32>, Vec<f32>), RateError> {
    let one = |b: usize| -> Result<(f32, Vec<f32>), RateError> {
        use faer::linalg::solvers::DenseSolveCore;
        let block = &a[b * n * n..(b + 1) * n * n];
        if block.iter().any(|v| !v.is_finite()) {
            return Err(RateError::NonFinite { block: b });
        }
        let mat = faer::Mat::<f64>::from_fn(n, n, |i, j| block[i * n + j] as f64);
        let llt = mat
            .llt(faer::Side::Lower)
            .map_err(|_| RateError::NotPositiveDefinite { block: b })?;
        let l = llt.L();
        let ld = 2.0 * (0..n).map(|i| l[(i, i)].ln()).sum::<f64>();
        let inv: Vec<f32> = if want_inv {
            let inv = llt.inverse();
            (0..n * n).map(|x| inv[(x / n, x % n)] as f32).collect()
        } else {
            Vec::new()
        };
        if !(ld as f32).is_finite() || inv.iter().any(|v| !v.is_finite()) {
            return Err(RateError::NonFinite { block: b });
        }
        Ok((ld as f32, inv))
    };
    #[cfg(not(target_arch = "wasm32"))]
    let parts: Vec<(f32, Vec<f32>)> = {
        use rayon::prelude::*;
        (0..k).into_par_iter().map(one).collect::<Result<_, _>>()?
    };
    #[cfg(target_arch = "wasm32")]
    let parts: Vec<(f32, Vec<f32>)> = (0..k).map(one).collect::<Result<_, _>>()?;
    let lds = parts.iter().map(|p| p.0).collect();
    let invs = if want_inv {
        parts.into_iter().flat_map(|p| p.1).collect()
    } else {
        Vec::new()
    };
    Ok((lds, invs))
}

/// Lower Cholesky factor of each SPD matrix, right-looking, one column per step.
pub fn cholesky_tensor(a: Tensor<3>) -> Tensor<3> {
    let [k, n, _] = a.dims();
    let device = a.device();
    let mut schur = a;
    let mut cols = Vec::with_capacity(n);
    for j in 0..n {
        let rest = n - j;
        let pivot = schur.clone().slice([0..k, 0..1, 0..1]).sqrt(); // [k,1,1]
        let col = schur.clone().slice([0..k, 0..rest, 0..1]) / pivot; // [k,rest,1]
        let padded = if j == 0 {
            col.clone()
        } else {
            Tensor::cat(vec![Tensor::zeros([k, j, 1], &device), col.clone()], 1)
        };
        cols.push(padded);
        if rest > 1 {
            let below = col.slice([0..k, 1..rest, 0..1]); // [k,rest-1,1]
            schur = schur.slice([0..k, 1..rest, 1..rest]) - below.clone().matmul(below.transpose());
        }
    }
    Tensor::cat(cols, 2)
}

/// Inverse of each lower-triangular matrix, by forward substitution one row per step.
pub fn lower_inverse_tensor(l: Tensor<3>) -> Tensor<3> {
    let [k, n, _] = l.dims();
    let device = l.device();
    let eye = Tensor::<2>::eye(n, &device).unsqueeze_dim::<3>(0); // [1,n,n]
    let mut rows: Vec<Tensor<3>> = Vec::with_capacity(n);
    for i in 0..n {
        let e = eye.clone().slice([0..1, i..i + 1, 0..n]).expand([k, 1, n]);
        let lii = l.clone().slice([0..k, i..i + 1, i..i + 1]);
        let row = if i == 0 {
            e / lii
        } else {
            let li = l.clone().slice([0..k, i..i + 1, 0..i]); // [k,1,i]
            let prev = Tensor::cat(rows.clone(), 1); // [k,i,n]
            (e - li.matmul(prev)) / lii
        };
        rows.push(row);
    }
    Tensor::cat(rows, 1)
}

fn tensor_route(m: Tensor<3>, want_inv: bool) -> (Tensor<1>, Option<Tensor<3>>) {
    let [k, n, _] = m.dims();
    let l = cholesky_tensor(m);
    let diag = (l.clone() * Tensor::<2>::eye(n, &l.device()).unsqueeze_dim::<3>(0))
        .sum_dim(2)
        .reshape([k, n]);
    let ld = diag.log().sum_dim(1).reshape([k]).mul_scalar(2.0);
    let inv = want_inv.then(|| {
        let linv = lower_inverse_tensor(l);
        linv.clone().transpose().matmul(linv)
    });
    (ld, inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn spd_batch(k: usize, n: usize, seed: u64) -> Vec<f32> {
        let mut out = Vec::with_capacity(k * n * n);
        for b in 0..k {
            let x = random_normal(n * (n + 3), seed + b as u64);
            for i in 0..n {
                for j in 0..n {
                    let dot: f32 = (0..n + 3)
                        .map(|t| x[i * (n + 3) + t] * x[j * (n + 3) + t])
                        .sum();
                    out.push(dot / n as f32 + if i == j { 1.0 } else { 0.0 });
                }
            }
        }
        out
    }

    #[test]
    fn routes_agree_on_values_and_inverses() {
        let device = Device::flex();
        let (k, n) = (3, 37);
        let a = spd_batch(k, n, 7);
        let (ld_h, inv_h) = host_logdet_inv(&a, k, n, true).unwrap();
        let m = Tensor::<3>::from_data(TensorData::new(a, [k, n, n]), &device);
        let (ld_t, inv_t) = spd_logdet_inv(m, true, LogdetRoute::Tensor).unwrap();
        let ld_t = to_vec1(ld_t);
        let inv_t = to_vec3(inv_t.unwrap());
        for b in 0..k {
            assert_rel(ld_t[b] as f64, ld_h[b] as f64, 1e-5, "logdet");
        }
        let err = max_abs_diff(&inv_t, &inv_h);
        assert!(err < 1e-5, "inverse mismatch {err}");
    }

    #[test]
    fn gradient_is_the_inverse() {
        let device = Device::flex().autodiff();
        let (k, n) = (2, 9);
        let a = spd_batch(k, n, 3);
        let (_, inv) = host_logdet_inv(&a, k, n, true).unwrap();
        for route in [LogdetRoute::Host, LogdetRoute::Tensor] {
            let m = Tensor::<3>::from_data(TensorData::new(a.clone(), [k, n, n]), &device)
                .require_grad();
            let grads = spd_logdet(m.clone(), route).unwrap().sum().backward();
            let g = to_vec3(m.grad(&grads).unwrap());
            assert!(max_abs_diff(&g, &inv) < 1e-5, "{route:?}");
        }
    }

    #[test]
    fn failures_are_errors_not_panics() {
        let nan = vec![1.0, f32::NAN, f32::NAN, 1.0];
        assert_eq!(
            host_logdet_inv(&nan, 1, 2, true),
            Err(RateError::NonFinite { block: 0 })
        );
        let indefinite = vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 1.0];
        assert_eq!(
            host_logdet_inv(&indefinite, 2, 2, false),
            Err(RateError::NotPositiveDefinite { block: 1 })
        );
        assert!(matches!(
            rate_scale(4, 2.0, 1e-45),
            Err(RateError::ScaleOverflow { .. })
        ));
        assert_eq!(rate_scale(4, 2.0, 0.0), Err(RateError::BadEps2(0.0)));
        assert_eq!(rate_scale(4, 2.0, 0.5), Ok(4.0));
    }
}
