//! Checkpoints at the end of every epoch, written so that a crash never leaves a half-written
//! one: each epoch's weights go to their own file (temporary name, then rename), and `state.json`
//! — renamed last — says which epoch is complete. Older epochs are deleted afterwards.

use crate::TrainError;
use crate::optim::Sgd;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use ssr2_data::sha256_hex;
use ssr2_view::report::EpochRecord;
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
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
    let name = weights_name(epoch);
    let tmp = dir.join(format!("partial-{name}"));
    // Serialised in memory, so the checksum is taken from the bytes written, not a read-back.
    let bytes = ssr2_head::weight_bytes(model).map_err(|e| TrainError::file(&tmp, e))?;
    let weights_sha256 = sha256_hex(&bytes);
    std::fs::write(&tmp, &bytes).map_err(|e| TrainError::file(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(&name)).map_err(|e| TrainError::file(&tmp, e))?;
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
    let state = dir.join(STATE);
    ssr2_data::write_atomic(&state, text.as_bytes()).map_err(|e| TrainError::file(&state, e))?;
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
pub fn load_state(dir: &Path) -> Result<Option<State>, TrainError> {
    let path = dir.join(STATE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file(&path, e))?;
    let state: State = serde_json::from_str(&text)
        .map_err(|e| TrainError::file(&path, format!("corrupt checkpoint state ({e})")))?;
    if !state.checksum.is_empty() && state.checksum != state.digest() {
        return Err(TrainError::file(
            &path,
            "corrupt checkpoint: state.json does not match its checksum (edited or damaged)",
        ));
    }
    Ok(Some(state))
}

/// Load the weights a state refers to into `model`, after checking them against the state's
/// checksum.
pub fn load_weights<M: Module>(dir: &Path, state: &State, model: &mut M) -> Result<(), TrainError> {
    let path: PathBuf = dir.join(&state.weights);
    let bytes = read_weights(&path)?;
    if !state.weights_sha256.is_empty() && sha256_hex(&bytes) != state.weights_sha256 {
        return Err(TrainError::file(
            &path,
            "corrupt checkpoint: the file does not match the checksum in state.json",
        ));
    }
    ssr2_head::load_weights(&path, bytes, model).map_err(TrainError::Weights)
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
) -> Result<Option<(usize, Vec<EpochRecord>)>, TrainError> {
    let Some(state) = load_state(dir)? else {
        return Ok(None);
    };
    let path = dir.join(STATE);
    if state.config_toml != id.config_toml || state.seed != id.seed {
        return Err(TrainError::file(
            dir,
            "the checkpoint was made with another configuration or seed; use a new --out directory",
        ));
    }
    if !state.data_sha256.is_empty() && state.data_sha256 != id.data_sha256 {
        return Err(TrainError::file(
            dir,
            format!(
                "the checkpoint was trained on other data (content hash {} here, {} in the \
                 checkpoint); resume with the run's own data or start a new run",
                short(id.data_sha256),
                short(&state.data_sha256)
            ),
        ));
    }
    if state.epoch >= epochs {
        return Err(TrainError::file(
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
        return Err(TrainError::file(
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
pub fn load_heads<M: Module>(path: &Path, model: &mut M) -> Result<(), TrainError> {
    let bytes = read_weights(path)?;
    ssr2_head::load_weights(path, bytes, model).map_err(TrainError::Weights)
}

fn read_weights(path: &Path) -> Result<Vec<u8>, TrainError> {
    if !path.exists() {
        return Err(TrainError::file(path, "weights file missing"));
    }
    std::fs::read(path).map_err(|e| TrainError::file(path, e))
}

/// The first 12 hex digits of a hash, as shown in messages.
pub fn short(hash: &str) -> &str {
    // By characters: a hash read from a damaged file may hold multi-byte ones.
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(i, _)| &hash[..i])
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
