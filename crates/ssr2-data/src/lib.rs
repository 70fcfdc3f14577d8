//! Host-side data for SSR2-GCD: GCD splits, the embedded digits set, a synthetic multi-modal
//! generator, the feature-bundle file format, image dataset readers and image transforms.
//! No Burn here, so it builds fast and for wasm32.

mod atomic;
mod bundle;
mod checksum;
mod dataset;
mod digits;
mod error;
mod fashion;
mod holdout;
mod images;
pub mod leak;
pub mod mat;
mod matrix;
pub mod npy;
pub mod numpy_rng;
mod preprocess;
mod rng;
mod split;
mod synthetic;
mod wnid;

pub use atomic::{partial_path, write_atomic};
pub use bundle::{
    BUNDLE_VERSION, CLIP_KEY, SHARD_KEY, ShardRecord, bundle_from_bytes, bundle_metadata,
    bundle_to_bytes, bundle_to_bytes_with, check_shards, read_bundle, read_bundle_metadata,
    write_bundle, write_bundle_with,
};
pub use checksum::{dataset_sha256, files_sha256, sha256_hex};
pub use dataset::{CandidateFeatures, Dataset, ImageViews, TextFeatures};
pub use digits::{digits, digits_raw};
pub use error::DataError;
pub use fashion::{FASHION_MNIST_DIR, FASHION_SIDE, fashion_mnist};
pub use holdout::{concat, hold_out};
/// The `image` crate, re-exported so callers name the same `RgbImage` type.
pub use image;
pub use images::{
    ImageItem, ImageList, ImageSource, OpenOptions, decode_rgb, encode_png, image_dataset_names,
    images_to_predict, load_rgb, open_image_dataset, open_image_test_set,
};
pub use matrix::Matrix;
pub use preprocess::{
    CLIP_MEAN, CLIP_STD, CropRounding, IMAGENET_MEAN, IMAGENET_STD, center_crop, center_crop_with,
    resize_bicubic, resize_short_side, short_side_size, test_transform, test_transform_with,
    to_chw_normalized, train_transform,
};
pub use split::{
    GcdSplit, KnownSplit, gcd_split, known_split, known_split_names, split_from_indices,
};
pub use synthetic::{SyntheticConfig, generate};
pub use wnid::wnid_words;
