//! The commands' `.npy` files, read and written by ssr2-data (its checks name the file and what
//! was expected); writes are atomic.

use crate::fail::{Result, write_atomic};
use std::path::Path;

pub use ssr2_data::Matrix;
pub use ssr2_data::npy::{read_labels, read_matrix};

/// A row-major float32 array, written atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_atomic(path, &ssr2_data::npy::f32_bytes(shape, data))
}
