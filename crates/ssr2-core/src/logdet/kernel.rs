//! [`LogdetRoute::Kernel`](super::LogdetRoute::Kernel): one CubeCL kernel factors a whole batch of
//! SPD matrices on the device (wgpu, WebGPU, CUDA from this one source) and writes `logdet` and
//! `M^-1`, so a coding rate costs one launch and no host read.
//!
//! One cube (workgroup) per matrix; each unit owns the rows `i ≡ unit (mod units)` during the
//! factorisation and the columns `c ≡ unit (mod units)` during the solves. The matrices live in
//! global memory (a 256 x 256 block is 256 KB, past any workgroup's shared memory), so every
//! phase ends with a storage barrier. f32 in, f32 accumulation.

use burn::backend::backend_extension;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::prelude::*;
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
// The kernels index row-major: outputs must be contiguous (`empty_device_dtype` may pitch rows).
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype as empty_device_dtype;
use burn_cubecl::{CubeBackend, tensor::CubeTensor};

/// Most units one cube uses; the strided loops serve any matrix size with fewer.
const MAX_UNITS: usize = 256;

/// The CubeCL kernels (their own module: CubeCL's `Tensor` and `Float` are not Burn's).
mod cube {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    /// `acc - sum_{t < len} a[a0 + t sa] b[b0 + t sb]`, four products per iteration: Mesa's
    /// llvmpipe (lavapipe) ends a shader after 65,535 loop iterations, and fewer, fatter
    /// iterations cost a real GPU nothing.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn minus_dot<F: Float>(
        acc: F,
        a: &mut Tensor<F>,
        a0: usize,
        sa: usize,
        b: &mut Tensor<F>,
        b0: usize,
        sb: usize,
        len: usize,
    ) -> F {
        let mut s = acc;
        let quads = len / 4;
        for t in 0..quads {
            let pa = a0 + 4 * t * sa;
            let pb = b0 + 4 * t * sb;
            s -= a[pa] * b[pb]
                + a[pa + sa] * b[pb + sb]
                + a[pa + 2 * sa] * b[pb + 2 * sb]
                + a[pa + 3 * sa] * b[pb + 3 * sb];
        }
        for t in 4 * quads..len {
            s -= a[a0 + t * sa] * b[b0 + t * sb];
        }
        s
    }

    /// `l[dst + t] -= alpha l[src + t stride]` for `t < len` (a row update from a column),
    /// four per iteration as in [`minus_dot`].
    #[cube]
    fn row_update<F: Float>(
        l: &mut Tensor<F>,
        dst: usize,
        src: usize,
        stride: usize,
        alpha: F,
        len: usize,
    ) {
        let quads = len / 4;
        for t in 0..quads {
            let d = dst + 4 * t;
            let s = src + 4 * t * stride;
            l[d] = l[d] - alpha * l[s];
            l[d + 1] = l[d + 1] - alpha * l[s + stride];
            l[d + 2] = l[d + 2] - alpha * l[s + 2 * stride];
            l[d + 3] = l[d + 3] - alpha * l[s + 3 * stride];
        }
        for t in 4 * quads..len {
            l[dst + t] = l[dst + t] - alpha * l[src + t * stride];
        }
    }

    /// Right-looking Cholesky `M = L L^T` of matrix `CUBE_POS_X`, `logdet M = 2 sum log L_ii`
    /// (SPEC §3), and, when `want_inv`, `M^-1` column by column from `L y = e_c`, `L^T x = y`.
    #[cube(launch)]
    pub fn spd_factor_kernel<F: Float>(
        m: &Tensor<F>,
        l: &mut Tensor<F>,
        inv: &mut Tensor<F>,
        ld: &mut Tensor<F>,
        #[comptime] want_inv: bool,
        #[define(F)] _dtype: ElemType,
    ) {
        let n = m.shape(1);
        let base = CUBE_POS_X as usize * n * n;
        let unit = UNIT_POS_X as usize;
        let units = CUBE_DIM_X as usize;

        // Lower triangle into the work buffer, by owned rows.
        let mut i = unit;
        while i < n {
            for c in 0..i + 1 {
                l[base + i * n + c] = m[base + i * n + c];
            }
            i += units;
        }
        sync_storage();

        for j in 0..n {
            // Column j below the pivot. L_jj itself is written after the barrier: every unit reads
            // the unscaled pivot here.
            let pivot = l[base + j * n + j].sqrt();
            let mut i = j + 1 + unit;
            while i < n {
                l[base + i * n + j] /= pivot;
                i += units;
            }
            sync_storage();
            if unit == j % units {
                l[base + j * n + j] = pivot;
            }
            // Schur complement of the owned rows: A_ic -= L_ij L_cj for j < c <= i.
            let mut i = j + 1 + unit;
            while i < n {
                let lij = l[base + i * n + j];
                row_update::<F>(
                    l,
                    base + i * n + j + 1,
                    base + (j + 1) * n + j,
                    n,
                    lij,
                    i - j,
                );
                i += units;
            }
            sync_storage();
        }

        if unit == 0 {
            let mut sum = F::new(0.0);
            for i in 0..n {
                sum += l[base + i * n + i].ln();
            }
            ld[CUBE_POS_X as usize] = sum * F::new(2.0);
        }

        if comptime!(want_inv) {
            let mut c = unit;
            while c < n {
                // Forward: L y = e_c (y_i = 0 above row c).
                for i in 0..c {
                    inv[base + i * n + c] = F::new(0.0);
                }
                for i in c..n {
                    let mut s = F::new(0.0);
                    if i == c {
                        s = F::new(1.0);
                    }
                    s = minus_dot::<F>(s, l, base + i * n + c, 1, inv, base + c * n + c, n, i - c);
                    inv[base + i * n + c] = s / l[base + i * n + i];
                }
                // Backward: L^T x = y, in place from the last row up.
                for r in 0..n {
                    let i = n - 1 - r;
                    let below = base + (i + 1) * n;
                    let s = minus_dot::<F>(
                        inv[base + i * n + c],
                        l,
                        below + i,
                        n,
                        inv,
                        below + c,
                        n,
                        r,
                    );
                    inv[base + i * n + c] = s / l[base + i * n + i];
                }
                c += units;
            }
        }
    }

    /// `out[b] = lhs[b] rhs[b']` (`b' = 0` when `rhs` has one batch), one unit per output element,
    /// plain f32 multiply-adds: the Gram products of the coding rates, never on TF32 tensor cores.
    #[cube(launch)]
    pub fn matmul_f32_kernel<F: Float>(
        lhs: &Tensor<F>,
        rhs: &Tensor<F>,
        out: &mut Tensor<F>,
        #[define(F)] _dtype: ElemType,
    ) {
        let pos = ABSOLUTE_POS;
        if pos >= out.len() {
            terminate!();
        }
        let (p, q, r) = (out.shape(1), out.shape(2), lhs.shape(2));
        let b = pos / (p * q);
        let i = (pos / q) % p;
        let j = pos % q;
        let mut rb = b;
        if rhs.shape(0) == 1 {
            rb = 0;
        }
        let mut sum = F::new(0.0);
        for t in 0..r {
            sum += lhs[b * p * r + i * r + t] * rhs[rb * r * q + t * q + j];
        }
        out[pos] = sum;
    }
}
use cube::{matmul_f32_kernel, spd_factor_kernel};

/// The batched SPD factorisation and the exact Gram products as a Burn backend extension, so
/// they run under fusion too.
#[backend_extension(Cube, Fusion: cfg(feature = "fusion"))]
pub trait SpdOps: Backend {
    /// `logdet` (`[k]`) of each matrix of `m` (`[k, n, n]`, SPD) and `M^-1` (`[k, n, n]`; a
    /// `[1, 1, 1]` placeholder when `want_inv` is false).
    #[fusion(meta = spd_meta)]
    fn spd_logdet_inv(
        m: FloatTensor<Self>,
        want_inv: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Batched `lhs [k, p, r] x rhs [k or 1, r, q]` in plain f32 arithmetic.
    #[fusion(meta = matmul_meta)]
    fn matmul_f32(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

#[cfg(feature = "fusion")]
fn matmul_meta(
    lhs: &burn::backend::fusion::custom::TensorSpec,
    rhs: &burn::backend::fusion::custom::TensorSpec,
) -> burn::backend::fusion::custom::TensorSpec {
    let [k, p, _] = lhs.shape.dims::<3>();
    let [_, _, q] = rhs.shape.dims::<3>();
    burn::backend::fusion::custom::TensorSpec::new([k, p, q].into(), lhs.dtype)
}

#[cfg(feature = "fusion")]
fn spd_meta(
    m: &burn::backend::fusion::custom::TensorSpec,
    want_inv: &bool,
) -> (
    burn::backend::fusion::custom::TensorSpec,
    burn::backend::fusion::custom::TensorSpec,
) {
    use burn::backend::fusion::custom::TensorSpec;
    let [k, n, _] = m.shape.dims::<3>();
    let inv = if *want_inv { [k, n, n] } else { [1, 1, 1] };
    (
        TensorSpec::new([k].into(), m.dtype),
        TensorSpec::new(inv.into(), m.dtype),
    )
}

impl SpdOps for CubeBackend {
    fn spd_logdet_inv(m: CubeTensor, want_inv: bool) -> (CubeTensor, CubeTensor) {
        let m = into_contiguous(m);
        let [k, n, _] = m.shape().dims::<3>();
        let (client, device, dtype) = (m.client.clone(), m.device.clone(), m.dtype);
        let empty = |dims: [usize; 3]| {
            empty_device_dtype(client.clone(), device.clone(), dims.into(), dtype)
        };
        let ld = empty_device_dtype(client.clone(), device.clone(), [k].into(), dtype);
        let inv = empty(if want_inv { [k, n, n] } else { [1, 1, 1] });
        if k == 0 || n == 0 {
            return (ld, inv);
        }
        let work = empty([k, n, n]);
        let hw_max = client.properties().hardware.max_cube_dim.0 as usize;
        let units = n.next_multiple_of(32).min(MAX_UNITS).min(hw_max);
        spd_factor_kernel::launch(
            &client,
            CubeCount::Static(k as u32, 1, 1),
            CubeDim::new_1d(units as u32),
            m.into_tensor_arg(),
            work.into_tensor_arg(),
            inv.clone().into_tensor_arg(),
            ld.clone().into_tensor_arg(),
            want_inv,
            dtype_to_storage_type(dtype),
        );
        (ld, inv)
    }

    fn matmul_f32(lhs: CubeTensor, rhs: CubeTensor) -> CubeTensor {
        let (lhs, rhs) = (into_contiguous(lhs), into_contiguous(rhs));
        let [k, p, _] = lhs.shape().dims::<3>();
        let [_, _, q] = rhs.shape().dims::<3>();
        let (client, dtype) = (lhs.client.clone(), lhs.dtype);
        let out = empty_device_dtype(client.clone(), lhs.device.clone(), [k, p, q].into(), dtype);
        let count = k * p * q;
        if count == 0 {
            return out;
        }
        let cube_dim = CubeDim::new(&client, count);
        matmul_f32_kernel::launch(
            &client,
            calculate_cube_count_elemwise(&client, count, cube_dim),
            cube_dim,
            lhs.into_tensor_arg(),
            rhs.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            dtype_to_storage_type(dtype),
        );
        out
    }
}

/// True for a device of a CubeCL runtime (wgpu, WebGPU, CUDA), where the kernel runs.
pub fn is_cube_device(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

/// `t` back on the autodiff side when the inputs were there (as an untracked constant): the
/// kernels run on the inner backend.
fn lift<const D: usize>(t: Tensor<D>, autodiff: bool) -> Tensor<D> {
    if autodiff { t.autodiff() } else { t }
}

/// `logdet` and (optionally) `M^-1` of each matrix of `m` through the kernel; `m` must live on a
/// CubeCL device. The results are constants (no autodiff graph).
pub fn kernel_route(m: Tensor<3>, want_inv: bool) -> (Tensor<1>, Option<Tensor<3>>) {
    let autodiff = m.is_autodiff();
    let (ld, inv) = burn::backend::Dispatch::spd_logdet_inv(m.inner().into_dispatch(), want_inv);
    let ld = lift(Tensor::<1>::from_dispatch(ld), autodiff);
    let inv = want_inv.then(|| lift(Tensor::<3>::from_dispatch(inv), autodiff));
    (ld, inv)
}

/// `lhs x rhs` (`[k, p, r]` x `[k or 1, r, q]`) whose value is the plain-f32 kernel's (CUDA's
/// autotune may otherwise pick TF32 tensor cores) and whose gradient is the ordinary matmul's:
/// `exact + (mm - sg(mm))` is `exact` in value.
pub fn matmul_exact(lhs: Tensor<3>, rhs: Tensor<3>) -> Tensor<3> {
    let autodiff = lhs.is_autodiff() || rhs.is_autodiff();
    let exact = lift(
        Tensor::<3>::from_dispatch(burn::backend::Dispatch::matmul_f32(
            lhs.clone().inner().into_dispatch(),
            rhs.clone().inner().into_dispatch(),
        )),
        autodiff,
    );
    if !(lhs.is_tracked() || rhs.is_tracked()) {
        return exact;
    }
    let mm = lhs.matmul(rhs);
    mm.clone() - mm.detach() + exact
}
