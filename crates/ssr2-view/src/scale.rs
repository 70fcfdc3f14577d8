//! Mapping data to pixels: extents, linear scales, tick values, nearest point under the cursor.

/// Smallest and largest finite value; `(0, 1)` when there is none, widened when flat.
pub fn extent(values: &[f32]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v as f64);
            hi = hi.max(v as f64);
        }
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// Affine map from a data interval onto a pixel interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Linear {
    pub domain: (f64, f64),
    pub range: (f64, f64),
}

impl Linear {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Self {
        Self { domain, range }
    }

    pub fn map(&self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        let span = if (d1 - d0).abs() < 1e-300 {
            1.0
        } else {
            d1 - d0
        };
        r0 + (v - d0) / span * (r1 - r0)
    }
}

/// About `count` round tick values (1, 2 or 5 times a power of ten) covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || count == 0 {
        return vec![];
    }
    let raw = (hi - lo) / count as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Index of the point nearest to `(px, py)` (pixels) within `radius`, if any.
pub fn nearest(xs: &[f64], ys: &[f64], px: f64, py: f64, radius: f64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
        let d2 = (x - px).powi(2) + (y - py).powi(2);
        if d2 <= radius * radius && best.is_none_or(|(_, b)| d2 < b) {
            best = Some((i, d2));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_skips_nan_and_widens_flat_data() {
        assert_eq!(extent(&[3.0, f32::NAN, -1.0]), (-1.0, 3.0));
        assert_eq!(extent(&[2.0, 2.0]), (1.5, 2.5));
        assert_eq!(extent(&[]), (0.0, 1.0));
    }

    #[test]
    fn linear_maps_ends_and_flips() {
        let s = Linear::new((0.0, 10.0), (100.0, 0.0));
        assert_eq!(s.map(0.0), 100.0);
        assert_eq!(s.map(10.0), 0.0);
        assert_eq!(s.map(2.5), 75.0);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 50.0, 100.0]);
        assert!(ticks(1.0, 1.0, 4).is_empty());
    }

    #[test]
    fn nearest_point_within_radius() {
        let xs = [0.0, 10.0, 20.0];
        let ys = [0.0, 0.0, 0.0];
        assert_eq!(nearest(&xs, &ys, 9.0, 1.0, 3.0), Some(1));
        assert_eq!(nearest(&xs, &ys, 15.0, 0.0, 3.0), None);
    }
}
