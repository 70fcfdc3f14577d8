//! User-facing failures: one line naming the file and what was expected, exit status 2.

use std::fmt;
use std::path::Path;

pub type Result<T> = std::result::Result<T, Fail>;

/// An error the user can fix (bad file, bad argument); printed as one line, exit status 2.
#[derive(Debug)]
pub struct Fail(pub String);

impl Fail {
    pub fn input(path: &Path, why: impl fmt::Display) -> Self {
        Fail(format!("{}: {why}", path.display()))
    }
    pub fn output(path: &Path, why: impl fmt::Display) -> Self {
        Fail(format!("{}: cannot write: {why}", path.display()))
    }
    pub fn arg(why: impl fmt::Display) -> Self {
        Fail(why.to_string())
    }
}

/// The project's atomic write ([`ssr2_data::write_atomic`]), its error as a `Fail`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ssr2_data::write_atomic(path, bytes).map_err(|e| Fail(e.to_string()))
}

/// The libraries' failures are one line already.
impl From<ssr2_train::TrainError> for Fail {
    fn from(e: ssr2_train::TrainError) -> Self {
        Fail(e.to_string())
    }
}

impl From<ssr2_data::DataError> for Fail {
    fn from(e: ssr2_data::DataError) -> Self {
        Fail(e.to_string())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
