//! Host-side data for SSR2-GCD: GCD splits, the embedded digits set, a synthetic multi-modal
//! generator and the feature-bundle file format. No Burn here, so it builds fast and for wasm32.

mod bundle;
mod dataset;
mod digits;
mod error;
mod matrix;
mod rng;
mod split;
mod synthetic;

pub use bundle::{BUNDLE_VERSION, bundle_from_bytes, bundle_to_bytes, read_bundle, write_bundle};
pub use dataset::{Dataset, ImageViews, TextFeatures};
pub use digits::{digits, digits_raw};
pub use error::DataError;
pub use matrix::Matrix;
pub use split::{
    GcdSplit, KnownSplit, gcd_split, known_split, known_split_names, split_from_indices,
};
pub use synthetic::{SyntheticConfig, generate};
