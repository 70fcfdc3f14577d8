//! What `ssr2 predict` and the browser's gallery show for one sample: the class its cluster was
//! matched to and the confidence. One implementation for both, so they cannot drift apart.

use crate::report::RunReport;

/// The class cluster `cluster` was matched to in training: old classes by name, discovered ones
/// as `new-<class id of the run's mapping>`, `unmatched-<cluster>` when no class was matched to
/// it; and whether that class is old.
pub fn matched_class(report: &RunReport, cluster: usize) -> (String, bool) {
    match report.mapping.get(cluster).copied().flatten() {
        Some(c) if c < report.dataset.num_old => (report.dataset.class_names[c].clone(), true),
        Some(c) => (format!("new-{c}"), false),
        None => (format!("unmatched-{cluster}"), false),
    }
}

/// The largest class probability: softmax of one branch's logits, or the mean of both
/// branches' (SPEC §2).
pub fn confidence(image: &[f32], text: Option<&[f32]>) -> f64 {
    let p = softmax(image);
    let p = match text {
        Some(t) => p
            .iter()
            .zip(softmax(t))
            .map(|(a, b)| 0.5 * (a + b))
            .collect(),
        None => p,
    };
    p.into_iter().fold(0.0, f64::max)
}

fn softmax(l: &[f32]) -> Vec<f64> {
    let max = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = l.iter().map(|&v| (v as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_the_top_softmax_probability() {
        // Independent: e^2 / (e^0 + e^2) and, for two branches, the mean of both tops.
        let one = confidence(&[0.0, 2.0], None);
        assert!((one - 2f64.exp() / (1.0 + 2f64.exp())).abs() < 1e-12);
        let both = confidence(&[0.0, 2.0], Some(&[0.0, 0.0]));
        assert!((both - 0.5 * (one + 0.5)).abs() < 1e-12);
        assert!((confidence(&[1.0; 4], None) - 0.25).abs() < 1e-12);
    }
}
