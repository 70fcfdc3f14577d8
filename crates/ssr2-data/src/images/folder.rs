//! torchvision-style ImageFolder: one subfolder per class, classes in sorted name order.

use std::path::{Path, PathBuf};

use super::{ImageSource, Raw};
use crate::DataError;

/// File extensions read as images (compared lower-cased), the ones our decoder supports.
pub(crate) const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp"];

fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Sorted names of the subfolders of `dir`.
fn subfolders(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        // Follows symlinks, like torchvision (os.scandir + is_dir()).
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every image file below `dir` (recursively), in torchvision's order: by containing folder
/// path (as a string), then file name, i.e. `sorted(os.walk(dir))` then `sorted(fnames)`.
/// Symlinked folders are followed, as torchvision does, but a link back into the folders above
/// it (a cycle, which would never end) is refused, and so is an image name that is not a
/// regular file (a FIFO or device would block or never end).
fn images_below(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let real = |p: &Path| p.canonicalize().map_err(|e| io(p, e));
    let mut found = Vec::new();
    // Each folder to read with the real paths of the folders above it, itself included.
    let mut stack = vec![(dir.to_path_buf(), vec![real(dir)?])];
    while let Some((d, above)) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let path = entry.map_err(|e| io(&d, e))?.path();
            // Follows symlinks; a dangling one is skipped unless it names an image.
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if is_image(&path) => return Err(io(&path, e)),
                Err(_) => continue,
            };
            if meta.is_dir() {
                let target = real(&path)?;
                if above.contains(&target) {
                    return Err(DataError::format(
                        &path.display().to_string(),
                        format!(
                            "links back to {}, a folder above it: a cycle (remove the link)",
                            target.display()
                        ),
                    ));
                }
                let mut chain = above.clone();
                chain.push(target);
                stack.push((path, chain));
            } else if is_image(&path) {
                if !meta.is_file() {
                    return Err(DataError::format(
                        &path.display().to_string(),
                        "not a regular file (a FIFO, socket or device): only image files are read",
                    ));
                }
                found.push(path);
            }
        }
    }
    let key = |p: &PathBuf| {
        let folder = p.parent().map(|f| f.to_string_lossy().into_owned());
        (
            folder,
            p.file_name().map(|n| n.to_string_lossy().into_owned()),
        )
    };
    found.sort_by_cached_key(key);
    Ok(found)
}

/// The id of an image: its path relative to `root`, `/`-separated.
fn relative_id(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// The images of the class folders `classes` (names under `root`), labelled by position.
fn read_classes(root: &Path, classes: Vec<String>) -> Result<Raw, DataError> {
    let mut items = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        let files = images_below(&dir)?;
        if files.is_empty() {
            return Err(DataError::format(
                &dir.display().to_string(),
                format!(
                    "class folder has no image files (extensions {})",
                    IMAGE_EXTENSIONS.join(", ")
                ),
            ));
        }
        for f in files {
            let id = relative_id(root, &f);
            items.push((ImageSource::File(f), label, id));
        }
    }
    Ok(Raw {
        class_names: classes,
        items,
    })
}

/// Every image below `dir` (torchvision's order) with its id (path relative to `dir`); an
/// empty folder is an error.
pub(super) fn files_with_ids(dir: &Path) -> Result<Vec<(PathBuf, String)>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::format(
            &dir.display().to_string(),
            "not a folder of images",
        ));
    }
    let files = images_below(dir)?;
    if files.is_empty() {
        return Err(DataError::format(
            &dir.display().to_string(),
            format!(
                "no image files below this folder (extensions {})",
                IMAGE_EXTENSIONS.join(", ")
            ),
        ));
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let id = relative_id(dir, &f);
            (f, id)
        })
        .collect())
}

/// ImageFolder at `root`: class = sorted subfolder names.
pub(super) fn imagefolder(root: &Path) -> Result<Raw, DataError> {
    let classes = subfolders(root)?;
    if classes.is_empty() {
        return Err(DataError::format(
            &root.display().to_string(),
            "no class subfolders, expected one folder per class",
        ));
    }
    read_classes(root, classes)
}

/// ImageNet-100: the `subset` (indices into the 1000 sorted wnid folders of the ImageNet-1K
/// train folder `root`) in listed order.
pub(super) fn imagenet100(root: &Path, subset: &[usize]) -> Result<Raw, DataError> {
    let all = subfolders(root)?;
    if all.len() != 1000 {
        return Err(DataError::format(
            &root.display().to_string(),
            format!(
                "{} class folders, expected the 1000 wnid folders of the ImageNet-1K train set",
                all.len()
            ),
        ));
    }
    let classes = subset.iter().map(|&i| all[i].clone()).collect();
    read_classes(root, classes)
}
