//! Loading safetensors weights into a module, with the checks that keep a bad file from
//! becoming a wrong model: finite values only, every tensor present, one-line errors.

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::path::Path;

/// `model`'s weights as safetensors bytes (in memory, so a hash is of the bytes written).
pub fn weight_bytes<M: Module>(model: &M) -> Result<Vec<u8>, String> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| format!("{e:?}"))?;
    store.get_bytes().map_err(|e| format!("{e:?}"))
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Loads the weights held in `bytes` (read from `path`, which only names them in messages) after
/// checking they are finite and that every tensor of `model` is there.
pub fn load_weights<M: Module>(path: &Path, bytes: Vec<u8>, model: &mut M) -> Result<(), String> {
    check_finite(path, &bytes)?;
    // Partial, so that a missing tensor comes back as data we can name in one line (the
    // store's own error is a multi-line summary).
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true);
    let result = model.load_from(&mut store).map_err(|e| {
        io_err(
            path,
            format!("cannot load weights ({})", one_line(&e.to_string())),
        )
    })?;
    if let Some((name, _)) = result.missing.first() {
        return Err(io_err(
            path,
            format!(
                "weights do not fit the model: tensor `{name}` is missing ({} of {} missing)",
                result.missing.len(),
                result.missing.len() + result.applied.len()
            ),
        ));
    }
    if let Some(e) = result.errors.first() {
        return Err(io_err(
            path,
            format!(
                "weights do not fit the model: {} ({} tensors do not fit)",
                one_line(&e.to_string()),
                result.errors.len()
            ),
        ));
    }
    Ok(())
}

/// Whitespace runs (newlines included) as single spaces: messages are one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Refuses a safetensors file holding NaN or infinity, naming the tensor.
fn check_finite(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| io_err(path, format!("not a safetensors file ({e})")))?;
    for (name, view) in st.tensors() {
        let bad = match view.dtype() {
            safetensors::Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
            safetensors::Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .any(|b| !f64::from_le_bytes(b.try_into().expect("8 bytes")).is_finite()),
            _ => false,
        };
        if bad {
            return Err(io_err(
                path,
                format!(
                    "tensor `{name}` holds NaN or infinity (the run diverged or the file is corrupt)"
                ),
            ));
        }
    }
    Ok(())
}
