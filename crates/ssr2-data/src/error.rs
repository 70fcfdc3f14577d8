//! The one error type of this crate.

/// Everything that can go wrong reading, checking or building data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file (or byte buffer) is not a valid bundle; `message` names the tensor or field.
    #[error("{origin}: {message}")]
    Format {
        /// The file, or whatever the bytes came from.
        origin: String,
        /// What is wrong, with expected and actual shapes or values.
        message: String,
    },
    /// An in-memory value breaks an invariant (a dataset field, a split or config parameter).
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// The field or parameter.
        field: String,
        /// What is wrong, with expected and actual values.
        message: String,
    },
}

impl DataError {
    /// Shorthand for [`DataError::Invalid`].
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Shorthand for [`DataError::Format`].
    pub(crate) fn format(origin: &str, message: impl Into<String>) -> Self {
        Self::Format {
            origin: origin.to_string(),
            message: message.into(),
        }
    }
}
