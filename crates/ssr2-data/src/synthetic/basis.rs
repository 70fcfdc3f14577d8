//! Random orthonormal class subspaces and the vectors drawn from them.

use crate::rng::{DataRng, normal};

/// normalize(basis * c + noise * N(0, I)).
pub(super) fn noisy_unit(rng: &mut DataRng, basis: &Basis, c: &[f64], noise: f64) -> Vec<f64> {
    let mut v = basis.combine(c);
    v.iter_mut().for_each(|x| *x += noise * normal(rng));
    let norm = dot(&v, &v).sqrt();
    // A zero vector (probability 0) stays zero rather than becoming NaN.
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// An orthonormal basis of an s-dimensional subspace of R^d, stored as s columns.
pub(super) struct Basis {
    pub(super) cols: Vec<Vec<f64>>,
}

impl Basis {
    /// Gaussian columns orthonormalised by Gram-Schmidt (twice, for accuracy).
    pub(super) fn random(rng: &mut DataRng, d: usize, s: usize) -> Self {
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(s);
        while cols.len() < s {
            let mut v: Vec<f64> = (0..d).map(|_| normal(rng)).collect();
            for _ in 0..2 {
                for u in &cols {
                    let p = dot(&v, u);
                    v.iter_mut().zip(u).for_each(|(x, y)| *x -= p * y);
                }
            }
            let norm = dot(&v, &v).sqrt();
            // A nearly dependent draw (probability ~0) is redrawn.
            if norm > 1e-6 {
                v.iter_mut().for_each(|x| *x /= norm);
                cols.push(v);
            }
        }
        Self { cols }
    }

    /// sum_j c_j * column_j.
    pub(super) fn combine(&self, c: &[f64]) -> Vec<f64> {
        let mut v = vec![0.0; self.cols[0].len()];
        for (u, &cj) in self.cols.iter().zip(c) {
            v.iter_mut().zip(u).for_each(|(x, y)| *x += cj * y);
        }
        v
    }
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn random_basis_is_orthonormal() {
        let b = Basis::random(&mut seeded(5), 10, 4);
        for (i, u) in b.cols.iter().enumerate() {
            for (j, v) in b.cols.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (dot(u, v) - want).abs() < 1e-12,
                    "<u{i}, u{j}> = {}",
                    dot(u, v)
                );
            }
        }
        // A full basis of R^d is possible too.
        assert_eq!(Basis::random(&mut seeded(5), 3, 3).cols.len(), 3);
    }

    #[test]
    fn noisy_unit_is_unit_and_exact_without_noise() {
        let mut rng = seeded(1);
        let b = Basis::random(&mut rng, 6, 2);
        let v = noisy_unit(&mut rng, &b, &[3.0, 4.0], 0.0);
        let expect: Vec<f64> = b.combine(&[0.6, 0.8]);
        assert!(v.iter().zip(&expect).all(|(x, y)| (x - y).abs() < 1e-12));
        let w = noisy_unit(&mut rng, &b, &[3.0, 4.0], 0.5);
        assert!((dot(&w, &w) - 1.0).abs() < 1e-12);
        assert!(w.iter().zip(&expect).any(|(x, y)| (x - y).abs() > 1e-3));
    }
}
