//! The trainer's failures by kind: what the user must change differs (a setting, the data, a
//! run file), while each still prints as one line naming what to fix.

use std::fmt::Display;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting out of range or contradicting another or the data's shape (names the key).
    #[error("{0}")]
    Config(String),
    /// The data cannot be trained on as configured (no unlabelled samples, too few samples).
    #[error("{0}")]
    Data(String),
    /// A run file (checkpoint, weights, report) cannot be read or written, or is not this run's.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// Weights that do not fit the model or hold NaN (the message names the file and tensor).
    #[error("{0}")]
    Weights(String),
    /// What the run reads (images, texts, the CLIP folder, candidates) could not be read, or the
    /// model failed on it.
    #[error("{0}")]
    Input(String),
    /// The loss stopped being a finite number.
    #[error("the loss became {value} at epoch {epoch}, batch {batch}; lower the learning rates")]
    Diverged {
        epoch: usize,
        batch: usize,
        value: f32,
    },
    /// Asked to stop after an epoch; its checkpoint resumes the run.
    #[error("stopped after epoch {epoch}; resume to continue")]
    Stopped { epoch: usize },
}

impl TrainError {
    pub(crate) fn file(path: &Path, message: impl Display) -> Self {
        TrainError::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}
