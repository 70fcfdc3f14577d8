//! CUB-200-2011, official train or test split: the id-keyed text tables of the archive.

use std::collections::HashMap;
use std::path::Path;

use super::{
    ImageSource, Part, Raw, check_files, class_id, dataset_dir, line_error, read_text, table,
};
use crate::DataError;

/// `id -> second field` of a two-column table keyed by image id.
fn by_id(path: &Path) -> Result<HashMap<String, (usize, String)>, DataError> {
    let text = read_text(path)?;
    let rows = table(path, &text, 2)?;
    Ok(rows
        .into_iter()
        .map(|(line, f)| (f[0].to_string(), (line, f[1].to_string())))
        .collect())
}

/// Images in `images.txt` order with `train_test_split.txt` = 1 (train) or 0 (test); names from `classes.txt`
/// without the `NNN.` prefix, underscores as spaces (`001.Black_footed_Albatross` ->
/// `Black footed Albatross`).
pub(super) fn cub(root: &Path, k: usize, part: Part) -> Result<Raw, DataError> {
    let keep = match part {
        Part::Train => "1",
        Part::Test => "0",
    };
    let dir = dataset_dir(root, "CUB_200_2011");
    let classes_txt = dir.join("classes.txt");
    let text = read_text(&classes_txt)?;
    let mut class_names = vec![String::new(); k];
    for (line, f) in table(&classes_txt, &text, 2)? {
        let c = class_id(&classes_txt, line, f[0], k)?;
        let raw = f[1..].join(" ");
        let name = raw.split_once('.').map_or(raw.as_str(), |(_, n)| n);
        class_names[c] = name.replace('_', " ");
    }
    if let Some(c) = class_names.iter().position(|n| n.is_empty()) {
        return Err(DataError::format(
            &classes_txt.display().to_string(),
            format!("class {} has no name, expected all of 1..={k}", c + 1),
        ));
    }
    let labels_txt = dir.join("image_class_labels.txt");
    let split_txt = dir.join("train_test_split.txt");
    let labels = by_id(&labels_txt)?;
    let split = by_id(&split_txt)?;
    let images_txt = dir.join("images.txt");
    let text = read_text(&images_txt)?;
    let mut items = Vec::new();
    for (line, f) in table(&images_txt, &text, 2)? {
        let missing = |file: &Path| {
            line_error(
                &images_txt,
                line,
                format!("image id {} is not in {}", f[0], file.display()),
            )
        };
        let (sline, is_train) = split.get(f[0]).ok_or_else(|| missing(&split_txt))?;
        match is_train.as_str() {
            v @ ("1" | "0") if v == keep => {}
            "1" | "0" => continue,
            other => {
                return Err(line_error(
                    &split_txt,
                    *sline,
                    format!("`{other}`, expected 1 (train) or 0 (test)"),
                ));
            }
        }
        let (lline, c) = labels.get(f[0]).ok_or_else(|| missing(&labels_txt))?;
        let y = class_id(&labels_txt, *lline, c, k)?;
        let id = format!("images/{}", f[1]);
        items.push((ImageSource::File(dir.join(&id)), y, id));
    }
    check_files(&items, &images_txt)?;
    Ok(Raw { class_names, items })
}
