//! Oxford Flowers102: the 1,020-image `train` split (`trnid`), as the GCD benchmarks use it, and
//! the 6,149-image `test` split (`tstid`).

use std::path::Path;

use super::{ImageSource, Part, Raw, check_files};
use crate::DataError;
use crate::mat::{MatValue, read_mat};

/// The numbers of variable `var` of a `.mat` file, checked to be positive integers.
pub(super) fn mat_integers(path: &Path, var: &str) -> Result<Vec<usize>, DataError> {
    let vars = read_mat(path)?;
    let origin = path.display().to_string();
    let nums = vars
        .get(var)
        .and_then(MatValue::numbers)
        .ok_or_else(|| DataError::format(&origin, format!("no numeric variable `{var}`")))?;
    nums.iter()
        .map(|&v| {
            if v >= 1.0 && v.fract() == 0.0 {
                Ok(v as usize)
            } else {
                Err(DataError::format(
                    &origin,
                    format!("`{var}` holds {v}, expected positive integers"),
                ))
            }
        })
        .collect()
}

/// `imagelabels.mat` (`labels`, 1-based, per image id) + `setid.mat` (`trnid` for train,
/// `tstid` for test: 1-based image ids) + `jpg/image_%05d.jpg`. No class names ship with the data: classes are named by their
/// 1-based label ("1".."102").
pub(super) fn flowers(root: &Path, k: usize, part: Part) -> Result<Raw, DataError> {
    let labels_mat = root.join("imagelabels.mat");
    let setid_mat = root.join("setid.mat");
    let labels = mat_integers(&labels_mat, "labels")?;
    let var = match part {
        Part::Train => "trnid",
        Part::Test => "tstid",
    };
    let ids = mat_integers(&setid_mat, var)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let y = *labels.get(id - 1).ok_or_else(|| {
            DataError::format(
                &setid_mat.display().to_string(),
                format!(
                    "{var} has image id {id}, expected <= {} (labels in {})",
                    labels.len(),
                    labels_mat.display()
                ),
            )
        })?;
        if y > k {
            return Err(DataError::format(
                &labels_mat.display().to_string(),
                format!("image {id} has label {y}, expected 1..={k}"),
            ));
        }
        let rel = format!("jpg/image_{id:05}.jpg");
        items.push((ImageSource::File(root.join(&rel)), y - 1, rel));
    }
    check_files(&items, &setid_mat)?;
    let class_names = (1..=k).map(|c| c.to_string()).collect();
    Ok(Raw { class_names, items })
}
