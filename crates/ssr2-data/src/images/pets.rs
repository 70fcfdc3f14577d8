//! Oxford-IIIT Pets: `annotations/trainval.txt` (train) or `annotations/test.txt` (test) +
//! `images/<name>.jpg`.

use std::path::Path;

use super::{ImageSource, Part, Raw, check_files, class_id, line_error, read_text, table};
use crate::DataError;

/// Lines `name classid species breedid`, class ids 1-based. A class is named after its image
/// names without the trailing `_<number>`, underscores as spaces (`american_bulldog_100` ->
/// `american bulldog`); a class without images is named by its 1-based id.
pub(super) fn pets(root: &Path, k: usize, part: Part) -> Result<Raw, DataError> {
    let file = match part {
        Part::Train => "trainval.txt",
        Part::Test => "test.txt",
    };
    let list = root.join("annotations").join(file);
    let text = read_text(&list)?;
    let mut class_names: Vec<Option<String>> = vec![None; k];
    let mut items = Vec::new();
    for (line, f) in table(&list, &text, 2)? {
        let (name, y) = (f[0], class_id(&list, line, f[1], k)?);
        let breed = name
            .rsplit_once('_')
            .map_or(name, |(b, _)| b)
            .replace('_', " ");
        match &class_names[y] {
            Some(known) if *known != breed => {
                return Err(line_error(
                    &list,
                    line,
                    format!(
                        "class {} is `{known}` on earlier lines, `{breed}` here",
                        y + 1
                    ),
                ));
            }
            _ => class_names[y] = Some(breed),
        }
        let id = format!("images/{name}.jpg");
        items.push((ImageSource::File(root.join(&id)), y, id));
    }
    check_files(&items, &list)?;
    let class_names = class_names
        .into_iter()
        .enumerate()
        .map(|(i, n)| n.unwrap_or_else(|| (i + 1).to_string()))
        .collect();
    Ok(Raw { class_names, items })
}
