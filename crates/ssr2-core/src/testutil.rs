//! Small helpers shared by the unit tests: a seeded normal generator and tensor readers.

use burn::prelude::*;

/// Deterministic standard-normal samples (SplitMix64 + Box-Muller), so tests need no RNG crate.
pub fn random_normal(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = state;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((x ^ (x >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (next().max(1e-12), next());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        })
        .collect()
}

/// L2-normalise each row of an `m x d` row-major matrix.
pub fn unit_rows(mut x: Vec<f32>, m: usize, d: usize) -> Vec<f32> {
    for i in 0..m {
        let row = &mut x[i * d..(i + 1) * d];
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    x
}

pub fn to_vec1(t: Tensor<1>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}
pub fn to_vec2(t: Tensor<2>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}
pub fn to_vec3(t: Tensor<3>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
    let rel = (actual - expected).abs() / expected.abs().max(1e-12);
    assert!(
        rel <= tol,
        "{what}: got {actual}, expected {expected} (rel {rel:.2e} > {tol:.0e})"
    );
}
