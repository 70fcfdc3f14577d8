//! Checkpoints at the end of every epoch, written so that a crash never leaves a half-written
//! one: each epoch's weights go to their own file (temporary name, then rename), and `state.json`
//! — renamed last — says which epoch is complete. Older epochs are deleted afterwards.

use crate::optim::Sgd;
use crate::report::EpochRecord;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};
use ssr2_data::sha256_hex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const STATE: &str = "state.json";

/// What makes a checkpoint this run's: the seed, the settings and the data it trains on.
#[derive(Clone, Copy)]
pub struct Identity<'a> {
    pub seed: u64,
    /// The run's configuration as TOML.
    pub config_toml: &'a str,
    /// [`ssr2_data::dataset_sha256`] of the training data.
    pub data_sha256: &'a str,
}

/// What `state.json` holds.
#[derive(Serialize, Deserialize)]
pub struct State {
    /// Last completed epoch.
    pub epoch: usize,
    pub seed: u64,
    /// The run's configuration as TOML; resuming with a different one is refused.
    pub config_toml: String,
    pub weights: String,
    pub history: Vec<EpochRecord>,
    /// SGD momentum buffers by parameter path (empty without momentum).
    pub momentum: BTreeMap<String, Vec<f32>>,
    /// Content hash of the training data; resuming on other data is refused.
    #[serde(default)]
    pub data_sha256: String,
    /// SHA-256 of the weights file, checked on resume (a file corrupted in place is refused).
    #[serde(default)]
    pub weights_sha256: String,
    /// SHA-256 of this state written with an empty `checksum` (an edited state.json is refused).
    #[serde(default)]
    pub checksum: String,
}

impl State {
    /// The checksum this state should carry.
    fn digest(&self) -> String {
        let mut bare = serde_json::to_value(self).expect("state serialises");
        bare["checksum"] = serde_json::Value::String(String::new());
        sha256_hex(bare.to_string().as_bytes())
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

fn weights_name(epoch: usize) -> String {
    format!("epoch-{epoch:04}.safetensors")
}

/// Write the checkpoint of `epoch` into `dir` (created if needed).
pub fn save<M: Module>(
    dir: &Path,
    epoch: usize,
    id: Identity,
    model: &M,
    sgd: &Sgd,
    history: &[EpochRecord],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let name = weights_name(epoch);
    let tmp = dir.join(format!("partial-{name}"));
    // Serialised in memory, so the checksum is taken from the bytes written, not a read-back.
    let mut store = SafetensorsStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| io_err(&tmp, format!("{e:?}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| io_err(&tmp, format!("{e:?}")))?;
    let weights_sha256 = sha256_hex(&bytes);
    std::fs::write(&tmp, &bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(&name)).map_err(|e| io_err(&tmp, e))?;
    let momentum = sgd
        .buffers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone()
                    .try_into_vec_as::<f32>()
                    .expect("synchronous read"),
            )
        })
        .collect();
    let state = State {
        epoch,
        seed: id.seed,
        config_toml: id.config_toml.to_string(),
        data_sha256: id.data_sha256.to_string(),
        weights: name.clone(),
        history: history.to_vec(),
        momentum,
        weights_sha256,
        checksum: String::new(),
    };
    let state = State {
        checksum: state.digest(),
        ..state
    };
    let text = serde_json::to_string(&state).expect("state serialises");
    ssr2_data::write_atomic(&dir.join(STATE), text.as_bytes()).map_err(|e| e.to_string())?;
    // Only now are older weights unreferenced.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if file.starts_with("epoch-") && file != name {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The last complete checkpoint in `dir`, if any.
pub fn load_state(dir: &Path) -> Result<Option<State>, String> {
    let path = dir.join(STATE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let state: State = serde_json::from_str(&text)
        .map_err(|e| io_err(&path, format!("corrupt checkpoint state ({e})")))?;
    if !state.checksum.is_empty() && state.checksum != state.digest() {
        return Err(io_err(
            &path,
            "corrupt checkpoint: state.json does not match its checksum (edited or damaged)",
        ));
    }
    Ok(Some(state))
}

/// Load the weights a state refers to into `model`, after checking them against the state's
/// checksum.
pub fn load_weights<M: Module>(dir: &Path, state: &State, model: &mut M) -> Result<(), String> {
    let path: PathBuf = dir.join(&state.weights);
    let bytes = read_weights(&path)?;
    if !state.weights_sha256.is_empty() && sha256_hex(&bytes) != state.weights_sha256 {
        return Err(io_err(
            &path,
            "corrupt checkpoint: the file does not match the checksum in state.json",
        ));
    }
    load_bytes(&path, bytes, model)
}

/// Where training resumes: the checkpoint's weights and momentum go into `model` and `sgd`;
/// returns the first epoch still to train and the history so far. `None` without a checkpoint.
/// Refuses a checkpoint of another configuration or seed, or one inconsistent with itself.
pub fn resume<M: Module>(
    dir: &Path,
    id: Identity,
    epochs: usize,
    model: &mut M,
    sgd: &mut Sgd,
    device: &Device,
) -> Result<Option<(usize, Vec<EpochRecord>)>, String> {
    let Some(state) = load_state(dir)? else {
        return Ok(None);
    };
    let path = dir.join(STATE);
    if state.config_toml != id.config_toml || state.seed != id.seed {
        return Err(format!(
            "{}: the checkpoint was made with another configuration or seed; use a new --out directory",
            dir.display()
        ));
    }
    if !state.data_sha256.is_empty() && state.data_sha256 != id.data_sha256 {
        return Err(format!(
            "{}: the checkpoint was trained on other data (content hash {} here, {} in the \
             checkpoint); resume with the run's own data or start a new run",
            dir.display(),
            short(id.data_sha256),
            short(&state.data_sha256)
        ));
    }
    if state.epoch >= epochs {
        return Err(io_err(
            &path,
            format!(
                "corrupt checkpoint: epoch {} is beyond the configuration's {epochs} epochs (0-{})",
                state.epoch,
                epochs - 1
            ),
        ));
    }
    let consecutive = state.history.iter().enumerate().all(|(i, r)| r.epoch == i);
    if state.history.len() != state.epoch + 1 || !consecutive {
        return Err(io_err(
            &path,
            format!(
                "corrupt checkpoint: epoch {} but the history holds {} epochs",
                state.epoch,
                state.history.len()
            ),
        ));
    }
    load_weights(dir, &state, model)?;
    restore_momentum(&state, sgd, device);
    Ok(Some((state.epoch + 1, state.history)))
}

/// Load adapter + classifier weights from a safetensors file written by this crate.
pub fn load_heads<M: Module>(path: &Path, model: &mut M) -> Result<(), String> {
    let bytes = read_weights(path)?;
    load_bytes(path, bytes, model)
}

/// [`load_heads`] from bytes already in memory (the browser's file input); `path` names them.
pub fn load_heads_bytes<M: Module>(
    path: &Path,
    bytes: Vec<u8>,
    model: &mut M,
) -> Result<(), String> {
    load_bytes(path, bytes, model)
}

fn read_weights(path: &Path) -> Result<Vec<u8>, String> {
    if !path.exists() {
        return Err(io_err(path, "weights file missing"));
    }
    std::fs::read(path).map_err(|e| io_err(path, e))
}

/// Loads the weights held in `bytes` (read from `path`) after checking they are finite.
fn load_bytes<M: Module>(path: &Path, bytes: Vec<u8>, model: &mut M) -> Result<(), String> {
    check_finite(path, &bytes)?;
    // Partial, so that a missing tensor comes back as data we can name in one line (the
    // store's own error is a multi-line summary).
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| io_err(path, format!("cannot load weights ({})", one_line(&e.to_string()))))?;
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

/// The first 12 hex digits of a hash, as shown in messages.
pub fn short(hash: &str) -> &str {
    // By characters: a hash read from a damaged file may hold multi-byte ones.
    hash.char_indices().nth(12).map_or(hash, |(i, _)| &hash[..i])
}

/// Restore SGD momentum buffers from a state.
pub fn restore_momentum(state: &State, sgd: &mut Sgd, device: &Device) {
    sgd.buffers = state
        .momentum
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), device),
            )
        })
        .collect();
}
