//! The generator's parameters and their checks.

use serde::{Deserialize, Serialize};

use crate::DataError;

/// Parameters of [`generate`](super::generate); missing fields take their defaults when deserialised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// K, old plus new classes.
    pub num_classes: usize,
    /// Old classes are `0..num_old`.
    pub num_old: usize,
    /// Samples of the largest class (all classes when `imbalance = 0`).
    pub per_class: usize,
    /// Image feature dimension.
    pub image_dim: usize,
    /// Text feature dimension.
    pub text_dim: usize,
    /// Dimension of each class subspace (both modalities).
    pub subspace_dim: usize,
    /// Std of the isotropic Gaussian noise added before normalising (both modalities).
    pub noise: f64,
    /// Offset of each class's latent mean along the first axis of its subspace, in units of the
    /// latent std. 0 makes each class a whole subspace through the origin (x and -x in the same
    /// class, which no cosine classifier can separate); larger values make each class a cone.
    pub center: f64,
    /// Fraction of old-class samples whose label is visible (floor, over all old samples).
    pub labelled_fraction: f64,
    /// T, tag candidates per sample.
    pub num_tags: usize,
    /// A, attribute candidates per sample.
    pub num_attributes: usize,
    /// Probability that a candidate is retrieved from a wrong (uniformly random other) class.
    pub retrieval_noise: f64,
    /// In [0, 1): class k gets `round(per_class * (1 - imbalance)^(k / (K - 1)))` samples.
    pub imbalance: f64,
    /// Seed of everything random, the split included.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            num_classes: 10,
            num_old: 5,
            per_class: 200,
            image_dim: 64,
            text_dim: 64,
            subspace_dim: 3,
            noise: 0.1,
            center: 2.0,
            labelled_fraction: 0.5,
            num_tags: 4,
            num_attributes: 4,
            retrieval_noise: 0.3,
            imbalance: 0.0,
            seed: 0,
        }
    }
}

/// Largest number of feature values a generated set may hold.
const MAX_VALUES: u128 = 1 << 28;

/// Rejects configurations [`generate`](super::generate) cannot honour, naming the field.
pub(super) fn check_config(cfg: &SyntheticConfig) -> Result<(), DataError> {
    let at_least_one = [
        ("num_classes", cfg.num_classes),
        ("per_class", cfg.per_class),
        ("subspace_dim", cfg.subspace_dim),
        ("num_tags", cfg.num_tags),
        ("num_attributes", cfg.num_attributes),
    ];
    for (field, v) in at_least_one {
        if v == 0 {
            return Err(DataError::invalid(field, "is 0, expected at least 1"));
        }
    }
    if cfg.num_old > cfg.num_classes {
        let msg = format!(
            "is {}, expected at most num_classes = {}",
            cfg.num_old, cfg.num_classes
        );
        return Err(DataError::invalid("num_old", msg));
    }
    for (field, dim) in [("image_dim", cfg.image_dim), ("text_dim", cfg.text_dim)] {
        if dim < cfg.subspace_dim {
            let msg = format!(
                "is {dim}, expected at least subspace_dim = {}",
                cfg.subspace_dim
            );
            return Err(DataError::invalid(field, msg));
        }
    }
    // Bound what gets allocated (image rows, text rows and each row's candidate texts), so a
    // typo is an error, not an abort: 2^28 values is 1 GiB of f32.
    let (n, texts) = (
        cfg.num_classes as u128 * cfg.per_class as u128,
        1 + cfg.num_tags as u128 + cfg.num_attributes as u128,
    );
    let values = n * (cfg.image_dim as u128 + cfg.text_dim as u128 * texts);
    if values > MAX_VALUES {
        return Err(DataError::invalid(
            "per_class",
            format!(
                "the set would hold {values} feature values (num_classes x per_class x \
                 (image_dim + text_dim x (1 + num_tags + num_attributes))), at most {MAX_VALUES}"
            ),
        ));
    }
    if !cfg.center.is_finite() {
        return Err(DataError::invalid(
            "center",
            format!("is {}, expected a finite number", cfg.center),
        ));
    }
    if !(cfg.noise.is_finite() && cfg.noise >= 0.0) {
        return Err(DataError::invalid(
            "noise",
            format!("is {}, expected a finite number >= 0", cfg.noise),
        ));
    }
    if !(0.0..=1.0).contains(&cfg.retrieval_noise) {
        let msg = format!("is {}, expected a number in [0, 1]", cfg.retrieval_noise);
        return Err(DataError::invalid("retrieval_noise", msg));
    }
    if !(0.0..1.0).contains(&cfg.imbalance) {
        return Err(DataError::invalid(
            "imbalance",
            format!("is {}, expected a number in [0, 1)", cfg.imbalance),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn bad_configs_name_their_field() {
        let d = SyntheticConfig::default;
        let cases = [
            (
                SyntheticConfig {
                    num_classes: 0,
                    num_old: 0,
                    ..d()
                },
                "num_classes",
            ),
            (SyntheticConfig { num_old: 11, ..d() }, "num_old"),
            (
                SyntheticConfig {
                    per_class: 0,
                    ..d()
                },
                "per_class",
            ),
            (
                SyntheticConfig {
                    image_dim: 2,
                    ..d()
                },
                "image_dim",
            ),
            (SyntheticConfig { text_dim: 2, ..d() }, "text_dim"),
            (
                SyntheticConfig {
                    subspace_dim: 0,
                    ..d()
                },
                "subspace_dim",
            ),
            (SyntheticConfig { noise: -0.1, ..d() }, "noise"),
            (
                SyntheticConfig {
                    noise: f64::INFINITY,
                    ..d()
                },
                "noise",
            ),
            (
                SyntheticConfig {
                    labelled_fraction: 2.0,
                    ..d()
                },
                "labelled_fraction",
            ),
            (SyntheticConfig { num_tags: 0, ..d() }, "num_tags"),
            (
                SyntheticConfig {
                    num_attributes: 0,
                    ..d()
                },
                "num_attributes",
            ),
            (
                SyntheticConfig {
                    retrieval_noise: 1.5,
                    ..d()
                },
                "retrieval_noise",
            ),
            (
                SyntheticConfig {
                    imbalance: 1.0,
                    ..d()
                },
                "imbalance",
            ),
        ];
        for (cfg, want) in cases {
            match generate(&cfg) {
                Err(DataError::Invalid { field, .. }) => assert_eq!(field, want),
                other => panic!("{want}: expected Invalid, got {:?}", other.map(|d| d.len())),
            }
        }
    }

    #[test]
    fn config_defaults_and_partial_json() {
        let cfg: SyntheticConfig = serde_json::from_str(r#"{"per_class": 7, "seed": 3}"#).unwrap();
        assert_eq!(
            cfg,
            SyntheticConfig {
                per_class: 7,
                seed: 3,
                ..Default::default()
            }
        );
        assert!(serde_json::from_str::<SyntheticConfig>(r#"{"per_clas": 7}"#).is_err());
        let d = SyntheticConfig::default();
        assert_eq!(
            (
                d.num_classes,
                d.num_old,
                d.per_class,
                d.image_dim,
                d.text_dim,
                d.subspace_dim
            ),
            (10, 5, 200, 64, 64, 3)
        );
        assert_eq!(
            (d.noise, d.labelled_fraction, d.retrieval_noise, d.imbalance),
            (0.1, 0.5, 0.3, 0.0)
        );
        assert_eq!((d.num_tags, d.num_attributes, d.seed), (4, 4, 0));
    }
}
