//! Where parameters come from: a safetensors checkpoint (Hugging Face key layout, f32/f16/bf16)
//! or seeded random values (benchmarks and tests at full shape without a download).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::ClipError;

/// A named-parameter source. Names and shapes follow the Hugging Face CLIP layout, with
/// PyTorch's `[out, in]` order for linear weights.
pub trait Source {
    /// The values of `name` in row-major order; checks the shape.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClipError>;
}

/// A safetensors file held in memory.
pub struct Checkpoint {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Checkpoint {
    pub fn open(path: &Path) -> Result<Self, ClipError> {
        let bytes = std::fs::read(path).map_err(|e| ClipError::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    /// A checkpoint already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ClipError> {
        let ckpt = Checkpoint {
            path: path.to_path_buf(),
            bytes,
        };
        ckpt.view()?;
        Ok(ckpt)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn view(&self) -> Result<SafeTensors<'_>, ClipError> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| ClipError::Checkpoint {
            path: self.path.clone(),
            msg: e.to_string(),
        })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .view()
            .map(|v| v.names().into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn contains(&self, name: &str) -> bool {
        self.view().is_ok_and(|v| v.tensor(name).is_ok())
    }
}

impl Source for Checkpoint {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClipError> {
        let view = self.view()?;
        let t = view.tensor(name).map_err(|_| ClipError::MissingTensor {
            path: self.path.clone(),
            name: name.to_string(),
        })?;
        if t.shape() != shape {
            return Err(ClipError::WrongShape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                actual: t.shape().to_vec(),
            });
        }
        let values = decode(&self.path, name, t.dtype(), t.data())?;
        check_finite(&self.path, name, &values)?;
        Ok(values)
    }
}

/// Little-endian f32, f16 or bf16 bytes of tensor `name` of `path` as f32 values.
fn decode(path: &Path, name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, ClipError> {
    let values = match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(ClipError::WrongDtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(values)
}

/// A NaN or infinite weight would flow silently into every embedding: refuse it here.
fn check_finite(path: &Path, name: &str, values: &[f32]) -> Result<(), ClipError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ClipError::NonFinite {
            path: path.to_path_buf(),
            name: name.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Bytes that can be read by range: a file in memory, or in the browser a JS buffer, from which
/// only the tensor being loaded is copied into wasm memory.
pub trait ByteRange {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read(&self, range: Range<usize>) -> Vec<u8>;
}

impl ByteRange for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn read(&self, range: Range<usize>) -> Vec<u8> {
        self[range].to_vec()
    }
}

/// One tensor's entry in a safetensors header.
#[derive(serde::Deserialize)]
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// A safetensors file read one tensor at a time: the header is parsed once, each [`Source::get`]
/// reads only that tensor's bytes. Loading a model from it never holds a second full copy of the
/// weights beside the one on the device.
pub struct Streamed<B> {
    path: PathBuf,
    bytes: B,
    entries: HashMap<String, Entry>,
    /// Where the data section starts (after the 8-byte length and the JSON header).
    start: usize,
}

impl<B: ByteRange> Streamed<B> {
    /// Parses and checks the header; `path` names the file in errors.
    pub fn new(path: &Path, bytes: B) -> Result<Self, ClipError> {
        let bad = |msg: String| ClipError::Checkpoint {
            path: path.to_path_buf(),
            msg,
        };
        let total = bytes.len();
        if total < 8 {
            return Err(bad(format!("{total} bytes, too short for a header")));
        }
        let n = u64::from_le_bytes(bytes.read(0..8).try_into().expect("8 bytes"));
        let start = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(8))
            .filter(|&s| s <= total)
            .ok_or_else(|| {
                bad(format!(
                    "header length {n} runs past the file's {total} bytes"
                ))
            })?;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes.read(8..start))
                .map_err(|e| bad(format!("header is not JSON ({e})")))?;
        let mut entries = HashMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let e: Entry = serde_json::from_value(value)
                .map_err(|e| bad(format!("header entry `{name}`: {e}")))?;
            let [b, end] = e.data_offsets;
            let need = e.shape.iter().product::<usize>() * e.dtype.bitsize() / 8;
            if b > end || end - b != need || start + end > total {
                return Err(bad(format!(
                    "tensor `{name}`: data_offsets {b}..{end} do not fit its shape {:?} ({need} \
                     bytes) within the file",
                    e.shape
                )));
            }
            entries.insert(name, e);
        }
        Ok(Streamed {
            path: path.to_path_buf(),
            bytes,
            entries,
            start,
        })
    }

    /// Tensor shape by name, when present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }
}

impl<B: ByteRange> Source for Streamed<B> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClipError> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| ClipError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        if e.shape != shape {
            return Err(ClipError::WrongShape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                actual: e.shape.clone(),
            });
        }
        let [b, end] = e.data_offsets;
        let data = self.bytes.read(self.start + b..self.start + end);
        let values = decode(&self.path, name, e.dtype, &data)?;
        check_finite(&self.path, name, &values)?;
        Ok(values)
    }
}

/// Seeded pseudo-random parameters: N(0, 0.02²) weights, unit norm-layer scales, zero biases,
/// roughly transformers' initialisation. Deterministic per (seed, name).
pub struct Random {
    pub seed: u64,
}

impl Source for Random {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClipError> {
        let n: usize = shape.iter().product();
        let is_norm =
            name.contains("layer_norm") || name.contains("layrnorm") || name.contains("layernorm");
        if name.ends_with(".bias") {
            return Ok(vec![0.0; n]);
        }
        if is_norm {
            return Ok(vec![1.0; n]);
        }
        let mut state = self.seed ^ fnv1a(name);
        Ok((0..n).map(|_| 0.02 * normal(&mut state)).collect())
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64 step.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Standard normal by Box-Muller.
fn normal(state: &mut u64) -> f32 {
    let u1 = ((next(state) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = (next(state) >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/reference/clip-tiny/model.safetensors")
    }

    #[test]
    fn streamed_reads_every_tensor_like_the_checkpoint() {
        let path = tiny();
        let bytes = std::fs::read(&path).unwrap();
        let ckpt = Checkpoint::from_bytes(&path, bytes.clone()).unwrap();
        let streamed = Streamed::new(&path, bytes).unwrap();
        for name in ckpt.names() {
            let shape = streamed.shape(&name).unwrap().to_vec();
            assert_eq!(
                ckpt.get(&name, &shape).unwrap(),
                streamed.get(&name, &shape).unwrap()
            );
        }
        let err = streamed.get("nope", &[1]).unwrap_err().to_string();
        assert!(err.contains("`nope` is missing"), "{err}");
    }

    #[test]
    fn streamed_refuses_truncated_files_naming_them() {
        let path = tiny();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 5, 12, bytes.len() - 1] {
            let err = Streamed::new(&path, bytes[..cut].to_vec())
                .err()
                .expect("refused");
            assert!(err.to_string().contains("model.safetensors"), "{err}");
        }
    }
}
