//! SSR2-GCD on Burn tensors: coding rates, the SSR2 loss, classification and contrastive losses,
//! cosine classifiers, co-teaching, RTA and the evaluation metrics.
//!
//! This crate knows no files, network or UI; every function takes tensors (or host slices for
//! labels) and runs on whichever Burn device they live on. Section numbers refer to
//! `docs/SPEC.md`.

pub mod classifier;
pub mod coteach;
pub mod estimate_k;
pub mod kmeans;
pub mod logdet;
pub mod loss;
pub mod metrics;
pub mod ops;
pub mod rate;
pub mod rta;

#[cfg(any(test, feature = "testutil"))]
#[doc(hidden)]
pub mod testutil;

pub use logdet::{LogdetRoute, RateError};
pub use rate::{coding_rate, coding_rate_hard, coding_rate_soft};
