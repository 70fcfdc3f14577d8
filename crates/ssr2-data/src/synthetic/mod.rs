//! Deterministic multi-modal generator: one random subspace per class and modality, the two
//! modalities tied by shared latent coefficients. Fast enough for a browser (~5000 points).

mod basis;
mod config;

use rand::Rng;

use self::basis::{Basis, dot, noisy_unit};
pub use self::config::SyntheticConfig;
use self::config::check_config;
use crate::rng::{DataRng, normal, seeded};
use crate::split::generator_split;
use crate::{CandidateFeatures, DataError, Dataset, Matrix, TextFeatures};

/// Std of the per-candidate perturbation of the latent coefficients, so a sample's candidates
/// are close to its true text direction but not identical (even at `noise = 0`).
const CANDIDATE_JITTER: f64 = 0.3;

/// Generates a synthetic dataset with RTA candidate text (no base prompt), samples grouped by
/// class in class order.
///
/// Class k has orthonormal bases U_k (image) and V_k (text). A sample draws
/// c ~ N(center e_1, I_s);
/// image = normalize(U_k c + noise N(0, I)). Each tag and attribute is
/// normalize(V_j c' + noise N(0, I)), c' = c + 0.3 N(0, I_s), with j = k with probability
/// 1 - retrieval_noise and a uniformly random other class otherwise; true-class candidates come
/// first, each group by decreasing cosine to V_k c (as a similarity-ranking retriever would).
/// Imbalance: class sizes decay geometrically from `per_class` (class 0) to
/// `per_class * (1 - imbalance)` (class K-1), at least 1 each.
pub fn generate(cfg: &SyntheticConfig) -> Result<Dataset, DataError> {
    check_config(cfg)?;
    let mut rng = seeded(cfg.seed);
    let k_total = cfg.num_classes;
    let image_bases: Vec<Basis> = (0..k_total)
        .map(|_| Basis::random(&mut rng, cfg.image_dim, cfg.subspace_dim))
        .collect();
    let text_bases: Vec<Basis> = (0..k_total)
        .map(|_| Basis::random(&mut rng, cfg.text_dim, cfg.subspace_dim))
        .collect();
    let sizes = class_sizes(cfg);
    let n: usize = sizes.iter().sum();
    let mut image = Vec::with_capacity(n * cfg.image_dim);
    let mut tags = Vec::with_capacity(n * cfg.num_tags * cfg.text_dim);
    let mut attributes = Vec::with_capacity(n * cfg.num_attributes * cfg.text_dim);
    let mut labels = Vec::with_capacity(n);
    for (k, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            let offset = |i: usize| if i == 0 { cfg.center } else { 0.0 };
            let c: Vec<f64> = (0..cfg.subspace_dim)
                .map(|i| normal(&mut rng) + offset(i))
                .collect();
            push_f32(
                &mut image,
                &noisy_unit(&mut rng, &image_bases[k], &c, cfg.noise),
            );
            let truth = text_bases[k].combine(&c);
            let mut draw = |count: usize, out: &mut Vec<f32>| {
                let cands = candidates(&mut rng, cfg, &text_bases, k, &c, &truth, count);
                cands.iter().for_each(|v| push_f32(out, v));
            };
            draw(cfg.num_tags, &mut tags);
            draw(cfg.num_attributes, &mut attributes);
            labels.push(k);
        }
    }
    let old: Vec<usize> = (0..cfg.num_old).collect();
    let split = generator_split(&labels, k_total, &old, cfg.labelled_fraction, cfg.seed)?;
    Ok(Dataset {
        name: "synthetic".into(),
        class_names: (0..k_total).map(|k| format!("class-{k}")).collect(),
        num_old: cfg.num_old,
        image: Matrix::new(n, cfg.image_dim, image),
        image_views: None,
        image_pooled: None,
        text: Some(TextFeatures::Candidates(CandidateFeatures {
            tags: Matrix::new(n * cfg.num_tags, cfg.text_dim, tags),
            num_tags: cfg.num_tags,
            attributes: Matrix::new(n * cfg.num_attributes, cfg.text_dim, attributes),
            num_attributes: cfg.num_attributes,
            base: None,
        })),
        // Old classes are already 0..num_old, so the remap is the identity.
        labels,
        labelled: split.labelled,
        sample_ids: (0..n).map(|i| format!("synthetic/{i:05}")).collect(),
        test: None,
    })
}

/// `count` candidate text vectors of a class-`k` sample with coefficients `c`, best first.
fn candidates(
    rng: &mut DataRng,
    cfg: &SyntheticConfig,
    text_bases: &[Basis],
    k: usize,
    c: &[f64],
    truth: &[f64],
    count: usize,
) -> Vec<Vec<f64>> {
    let k_total = text_bases.len();
    let mut ranked: Vec<(bool, f64, Vec<f64>)> = (0..count)
        .map(|_| {
            let wrong = k_total > 1 && rng.random::<f64>() < cfg.retrieval_noise;
            let j = if wrong {
                // Uniform over the other K-1 classes.
                let r = rng.random_range(0..k_total - 1);
                if r >= k { r + 1 } else { r }
            } else {
                k
            };
            let jittered: Vec<f64> = c
                .iter()
                .map(|x| x + CANDIDATE_JITTER * normal(rng))
                .collect();
            let v = noisy_unit(rng, &text_bases[j], &jittered, cfg.noise);
            (wrong, dot(&v, truth), v)
        })
        .collect();
    // True-class first, then by decreasing similarity to the true direction.
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    ranked.into_iter().map(|(_, _, v)| v).collect()
}

/// Samples per class (see [`generate`]).
fn class_sizes(cfg: &SyntheticConfig) -> Vec<usize> {
    let k_total = cfg.num_classes;
    (0..k_total)
        .map(|k| {
            let t = if k_total > 1 {
                k as f64 / (k_total - 1) as f64
            } else {
                0.0
            };
            let size = (cfg.per_class as f64 * (1.0 - cfg.imbalance).powf(t)).round() as usize;
            size.max(1)
        })
        .collect()
}

fn push_f32(out: &mut Vec<f32>, v: &[f64]) {
    out.extend(v.iter().map(|&x| x as f32));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coefficients of `v` in the class-`k` basis of the given modality (re-drawn from the seed).
    fn project(cfg: &SyntheticConfig, text: bool, k: usize, v: &[f32]) -> Vec<f64> {
        let mut rng = seeded(cfg.seed);
        let image: Vec<Basis> = (0..cfg.num_classes)
            .map(|_| Basis::random(&mut rng, cfg.image_dim, cfg.subspace_dim))
            .collect();
        let bases = if text {
            (0..cfg.num_classes)
                .map(|_| Basis::random(&mut rng, cfg.text_dim, cfg.subspace_dim))
                .collect()
        } else {
            image
        };
        let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        bases[k].cols.iter().map(|u| dot(u, &v)).collect()
    }

    fn norm(v: &[f64]) -> f64 {
        dot(v, v).sqrt()
    }

    fn candidates_of(ds: &Dataset) -> (&Matrix, usize, &Matrix, usize) {
        match ds.text.as_ref().unwrap() {
            TextFeatures::Candidates(c) if c.base.is_none() => {
                (&c.tags, c.num_tags, &c.attributes, c.num_attributes)
            }
            other => panic!("expected candidates without base, got {other:?}"),
        }
    }

    #[test]
    fn shapes_names_and_split() {
        let cfg = SyntheticConfig {
            per_class: 30,
            text_dim: 16,
            num_tags: 3,
            num_attributes: 2,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        ds.validate().unwrap();
        assert_eq!(
            (ds.len(), ds.image.cols, ds.num_classes(), ds.num_old),
            (300, 64, 10, 5)
        );
        let (tags, t, attrs, a) = candidates_of(&ds);
        assert_eq!(
            (tags.rows, tags.cols, t, attrs.rows, attrs.cols, a),
            (900, 16, 3, 600, 16, 2)
        );
        assert_eq!(ds.name, "synthetic");
        assert_eq!(ds.class_names[3], "class-3");
        assert_eq!(
            (ds.sample_ids[0].as_str(), ds.sample_ids[299].as_str()),
            ("synthetic/00000", "synthetic/00299")
        );
        for k in 0..10 {
            assert_eq!(
                ds.labels.iter().filter(|&&y| y == k).count(),
                30,
                "class {k}"
            );
        }
        // floor(0.5 * 150) old-class samples labelled, none from new classes.
        assert_eq!(ds.labelled_indices().len(), 75);
        assert!(ds.labelled_indices().iter().all(|&i| ds.labels[i] < 5));
        for m in [&ds.image, tags, attrs] {
            for i in 0..m.rows {
                let n2: f32 = m.row(i).iter().map(|x| x * x).sum();
                assert!((n2 - 1.0).abs() < 1e-5, "row {i} has squared norm {n2}");
            }
        }
    }

    #[test]
    fn deterministic_by_seed() {
        let cfg = SyntheticConfig {
            per_class: 20,
            ..Default::default()
        };
        let a = generate(&cfg).unwrap();
        assert_eq!(a, generate(&cfg).unwrap());
        let b = generate(&SyntheticConfig { seed: 1, ..cfg }).unwrap();
        assert_ne!(a.image, b.image);
        assert_ne!(a.text, b.text);
    }

    #[test]
    fn imbalance_gives_geometric_class_sizes() {
        let cfg = SyntheticConfig {
            imbalance: 0.5,
            per_class: 200,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        let counts: Vec<usize> = (0..10)
            .map(|k| ds.labels.iter().filter(|&&y| y == k).count())
            .collect();
        let expect: Vec<usize> = (0..10)
            .map(|k| (200.0 * 0.5f64.powf(k as f64 / 9.0)).round() as usize)
            .collect();
        assert_eq!(counts, expect);
        assert_eq!((counts[0], counts[9]), (200, 100));
        // Every class keeps at least one sample even at extreme imbalance.
        let tiny = generate(&SyntheticConfig {
            imbalance: 0.999,
            per_class: 2,
            ..Default::default()
        })
        .unwrap();
        assert!((0..10).all(|k| tiny.labels.contains(&k)));
    }

    #[test]
    fn noiseless_images_lie_in_their_class_subspace() {
        let cfg = SyntheticConfig {
            noise: 0.0,
            per_class: 20,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        for i in 0..ds.len() {
            let own = norm(&project(&cfg, false, ds.labels[i], ds.image.row(i)));
            assert!(
                (own - 1.0).abs() < 1e-5,
                "sample {i}: projection norm {own}"
            );
            let other = norm(&project(
                &cfg,
                false,
                (ds.labels[i] + 1) % 10,
                ds.image.row(i),
            ));
            assert!(
                other < 0.9,
                "sample {i} also lies in another class subspace ({other})"
            );
        }
    }

    #[test]
    fn exact_retrieval_keeps_candidates_in_the_true_text_subspace() {
        let cfg = SyntheticConfig {
            noise: 1e-3,
            retrieval_noise: 0.0,
            per_class: 20,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        let (tags, t, attrs, a) = candidates_of(&ds);
        for i in 0..ds.len() {
            let rows = (i * t..(i + 1) * t)
                .map(|r| tags.row(r))
                .chain((i * a..(i + 1) * a).map(|r| attrs.row(r)));
            for v in rows {
                let p = norm(&project(&cfg, true, ds.labels[i], v));
                assert!(p > 0.99, "sample {i}: candidate projection norm {p}");
            }
        }
    }

    #[test]
    fn noisy_retrieval_puts_true_class_candidates_first() {
        let cfg = SyntheticConfig {
            noise: 1e-3,
            retrieval_noise: 0.5,
            per_class: 20,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        let (tags, t, _, _) = candidates_of(&ds);
        let mut wrong = 0;
        for i in 0..ds.len() {
            let own: Vec<bool> = (i * t..(i + 1) * t)
                .map(|r| norm(&project(&cfg, true, ds.labels[i], tags.row(r))) > 0.9)
                .collect();
            wrong += own.iter().filter(|&&o| !o).count();
            assert!(
                own.windows(2).all(|w| w[0] || !w[1]),
                "sample {i}: order {own:?}"
            );
        }
        let rate = wrong as f64 / (ds.len() * t) as f64;
        assert!((rate - 0.5).abs() < 0.08, "wrong-class rate {rate}");
    }

    #[test]
    fn modalities_share_coefficients() {
        // With no noise, the image's coordinates in U_k and the best tag's in V_k are both c
        // (up to scale and the candidate jitter), so they point the same way.
        let cfg = SyntheticConfig {
            noise: 0.0,
            retrieval_noise: 0.0,
            per_class: 20,
            ..Default::default()
        };
        let ds = generate(&cfg).unwrap();
        let (tags, t, _, _) = candidates_of(&ds);
        let mean_cos = (0..ds.len())
            .map(|i| {
                let ci = project(&cfg, false, ds.labels[i], ds.image.row(i));
                let ct = project(&cfg, true, ds.labels[i], tags.row(i * t));
                dot(&ci, &ct) / (norm(&ci) * norm(&ct))
            })
            .sum::<f64>()
            / ds.len() as f64;
        assert!(
            mean_cos > 0.85,
            "mean cosine of image and text coefficients {mean_cos}"
        );
    }

    #[test]
    fn single_class_ignores_retrieval_noise() {
        let cfg = SyntheticConfig {
            num_classes: 1,
            num_old: 1,
            per_class: 5,
            retrieval_noise: 1.0,
            ..Default::default()
        };
        generate(&cfg).unwrap().validate().unwrap();
    }
}
