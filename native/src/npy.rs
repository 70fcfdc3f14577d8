//! Reading and writing `.npy` arrays with checks that name the file and what was expected.

use crate::fail::{Fail, Result};
use npyz::WriterBuilder;
use ssr2_data::npy;
use std::fs::File;
use std::path::Path;

/// A matrix read from disk, row-major.
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

fn open(path: &Path) -> Result<npy::Array> {
    npy::read(path).map_err(|e| Fail(e.to_string()))
}

/// A rank-2 float32/float64 array as f32, rejecting NaN, infinity and values beyond f32.
pub fn read_matrix(path: &Path, what: &str) -> Result<Matrix> {
    let arr = open(path)?;
    let shape = &arr.header.shape;
    if shape.len() != 2 {
        return Err(Fail::input(
            path,
            format!("{what} must be a 2-D array (m x d), got shape {shape:?}"),
        ));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let npy::Values::Float(values) = arr.values else {
        return Err(Fail::input(
            path,
            format!(
                "{what} must be float32 or float64, got dtype {}",
                arr.header.descr
            ),
        ));
    };
    if let Some(i) = values
        .iter()
        .position(|v| !(v.is_finite() && (*v as f32).is_finite()))
    {
        let why = if values[i].is_finite() {
            "a value beyond float32's range"
        } else {
            "a non-finite value"
        };
        return Err(Fail::input(
            path,
            format!(
                "{what} holds {why} ({:e}) at row {}, column {}",
                values[i],
                i / cols.max(1),
                i % cols.max(1)
            ),
        ));
    }
    let data = values.into_iter().map(|v| v as f32).collect();
    Ok(Matrix { rows, cols, data })
}

/// A rank-1 int32/int64 array of non-negative integers.
pub fn read_labels(path: &Path, what: &str) -> Result<Vec<usize>> {
    let arr = open(path)?;
    let shape = &arr.header.shape;
    if shape.len() != 1 {
        return Err(Fail::input(
            path,
            format!("{what} must be a 1-D array, got shape {shape:?}"),
        ));
    }
    let npy::Values::Int(raw) = arr.values else {
        return Err(Fail::input(
            path,
            format!(
                "{what} must be int32 or int64, got dtype {}",
                arr.header.descr
            ),
        ));
    };
    raw.iter()
        .enumerate()
        .map(|(i, &v)| {
            usize::try_from(v).map_err(|_| {
                Fail::input(
                    path,
                    format!("{what} must be non-negative, got {v} at index {i}"),
                )
            })
        })
        .collect()
}

/// Write a row-major f32 array atomically (temporary file, then rename).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let tmp = path.with_extension("npy.partial");
    let fail = |e: std::io::Error| Fail::output(path, e);
    {
        let file = File::create(&tmp).map_err(fail)?;
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(fail)?;
        w.extend(data.iter().copied()).map_err(fail)?;
        w.finish().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)
}
