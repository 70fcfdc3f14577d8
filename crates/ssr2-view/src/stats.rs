//! Mean and spread over seeds, and how the tables print them.

/// Mean and sample standard deviation (n - 1; 0 for one value) of the finite values, `None`
/// when there are none.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, std))
}

/// A fraction as a percentage with one decimal ("81.2"), "–" for none.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{:.1}", 100.0 * x))
}

/// A fraction over seeds: "81.2 ± 1.3" (percent), just "81.2" for one seed, "–" for none.
pub fn pct_mean_std(values: &[Option<f64>]) -> String {
    let v: Vec<f64> = values.iter().flatten().copied().collect();
    match mean_std(&v) {
        None => "–".into(),
        Some((m, _)) if v.len() == 1 => format!("{:.1}", 100.0 * m),
        Some((m, s)) => format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
        assert_eq!(m, 2.0);
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), Some((4.0, 0.0)));
        assert_eq!(mean_std(&[]), None);
    }

    #[test]
    fn percent_strings() {
        assert_eq!(pct(Some(0.8125)), "81.2");
        assert_eq!(pct(None), "–");
        assert_eq!(pct_mean_std(&[Some(0.8), Some(0.9)]), "85.0 ± 7.1");
        assert_eq!(pct_mean_std(&[Some(0.8), None]), "80.0");
        assert_eq!(pct_mean_std(&[None]), "–");
    }
}
