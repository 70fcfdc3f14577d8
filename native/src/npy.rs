//! Reading and writing `.npy` arrays with checks that name the file and what was expected.

use crate::fail::{Fail, Result};
use npyz::{NpyFile, Order, TypeChar, WriterBuilder};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// A matrix read from disk, row-major.
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

fn open(path: &Path) -> Result<NpyFile<BufReader<File>>> {
    let file = File::open(path).map_err(|e| Fail::input(path, format!("cannot open: {e}")))?;
    NpyFile::new(BufReader::new(file))
        .map_err(|e| Fail::input(path, format!("not a .npy file ({e})")))
}

fn type_str(npy: &NpyFile<BufReader<File>>) -> Option<npyz::TypeStr> {
    match npy.dtype() {
        npyz::DType::Plain(t) => Some(t),
        _ => None,
    }
}

/// A rank-2 float32/float64 array as f32, rejecting NaN and infinity.
pub fn read_matrix(path: &Path, what: &str) -> Result<Matrix> {
    let npy = open(path)?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 {
        return Err(Fail::input(
            path,
            format!("{what} must be a 2-D array (m x d), got shape {shape:?}"),
        ));
    }
    let fortran = npy.order() == Order::Fortran;
    let ts = type_str(&npy);
    let data: Vec<f32> = match ts.as_ref().map(|t| (t.type_char(), t.size_field())) {
        Some((TypeChar::Float, 4)) => npy.into_vec::<f32>().map_err(|e| Fail::input(path, e))?,
        Some((TypeChar::Float, 8)) => npy
            .into_vec::<f64>()
            .map_err(|e| Fail::input(path, e))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => {
            return Err(Fail::input(
                path,
                format!(
                    "{what} must be float32 or float64, got dtype {}",
                    describe(ts)
                ),
            ));
        }
    };
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    let data = if fortran {
        transpose(&data, cols, rows)
    } else {
        data
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Fail::input(
            path,
            format!(
                "{what} holds a non-finite value at row {}, column {}",
                i / cols.max(1),
                i % cols.max(1)
            ),
        ));
    }
    Ok(Matrix { rows, cols, data })
}

/// A rank-1 int32/int64 array of non-negative integers.
pub fn read_labels(path: &Path, what: &str) -> Result<Vec<usize>> {
    let npy = open(path)?;
    let shape = npy.shape().to_vec();
    if shape.len() != 1 {
        return Err(Fail::input(
            path,
            format!("{what} must be a 1-D array, got shape {shape:?}"),
        ));
    }
    let ts = type_str(&npy);
    let raw: Vec<i64> = match ts.as_ref().map(|t| (t.type_char(), t.size_field())) {
        Some((TypeChar::Int, 4)) => npy
            .into_vec::<i32>()
            .map_err(|e| Fail::input(path, e))?
            .into_iter()
            .map(i64::from)
            .collect(),
        Some((TypeChar::Int, 8)) => npy.into_vec::<i64>().map_err(|e| Fail::input(path, e))?,
        _ => {
            return Err(Fail::input(
                path,
                format!("{what} must be int32 or int64, got dtype {}", describe(ts)),
            ));
        }
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

fn describe(ts: Option<npyz::TypeStr>) -> String {
    ts.map_or_else(|| "structured/array".into(), |t| t.to_string())
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    // `data` is rows x cols row-major; returns cols x rows row-major.
    (0..cols * rows)
        .map(|x| data[(x % rows) * cols + x / rows])
        .collect()
}
