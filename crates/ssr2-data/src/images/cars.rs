//! Stanford Cars, `cars_train` (8,144 images) or `cars_test` (8,041): the devkit's MATLAB
//! annotation files.

use std::path::Path;

use super::{ImageSource, Part, Raw, check_files};
use crate::DataError;
use crate::mat::{MatValue, read_mat};

/// `devkit/cars_train_annos.mat` (test: `devkit/cars_test_annos_withlabels.mat`; struct array
/// `annotations`, fields `class` (1-based) and `fname`), `devkit/cars_meta.mat` (cell array
/// `class_names`), images `cars_train/<fname>` (test: `cars_test/<fname>`).
pub(super) fn cars(root: &Path, k: usize, part: Part) -> Result<Raw, DataError> {
    let devkit = root.join("devkit");
    let meta = devkit.join("cars_meta.mat");
    let (annos, folder) = match part {
        Part::Train => (devkit.join("cars_train_annos.mat"), "cars_train"),
        Part::Test => (devkit.join("cars_test_annos_withlabels.mat"), "cars_test"),
    };
    let meta_origin = meta.display().to_string();
    let class_names = match read_mat(&meta)?.remove("class_names") {
        Some(MatValue::Cell { items, .. }) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.text().ok_or_else(|| {
                    DataError::format(
                        &meta_origin,
                        format!("class_names[{i}] is not a one-line char array"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(DataError::format(
                &meta_origin,
                "no cell array `class_names`",
            ));
        }
    };
    let origin = annos.display().to_string();
    let vars = read_mat(&annos)?;
    let Some(a @ MatValue::Struct { items: elems, .. }) = vars.get("annotations") else {
        return Err(DataError::format(&origin, "no struct array `annotations`"));
    };
    let mut items = Vec::with_capacity(elems.len());
    for i in 0..elems.len() {
        let bad =
            |what: &str| DataError::format(&origin, format!("annotations({}): {what}", i + 1));
        let class = a
            .field(i, "class")
            .and_then(MatValue::numbers)
            .and_then(|n| n.first().copied())
            .ok_or_else(|| bad("no numeric field `class`"))?;
        if !(class >= 1.0 && class <= k as f64 && class.fract() == 0.0) {
            return Err(bad(&format!(
                "class {class}, expected an integer in 1..={k}"
            )));
        }
        let fname = a
            .field(i, "fname")
            .and_then(MatValue::text)
            .ok_or_else(|| bad("no char field `fname`"))?;
        let rel = format!("{folder}/{fname}");
        items.push((ImageSource::File(root.join(&rel)), class as usize - 1, rel));
    }
    check_files(&items, &annos)?;
    Ok(Raw { class_names, items })
}
