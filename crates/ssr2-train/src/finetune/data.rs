//! The training images of fine-tune mode and their RTA texts (`ssr2 retrieve`'s
//! `.candidates.json`: per sample the top tags and attributes as text, and the base prompt).

use serde::Deserialize;
use ssr2_data::ImageList;
use std::collections::HashMap;
use std::path::Path;

/// Retrieved texts of every training image, in the image list's order (SPEC §7).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    /// The class-agnostic base prompt; an empty one is still encoded (start and end tokens) and
    /// weighted, as the reference does for CIFAR and ImageNet.
    pub base: String,
    /// Per sample, best first; every sample has the same count. Tags are stored as the trainable
    /// text encoder sees them: the lexicon's "a photo of a " removed ([`strip_tag`]).
    pub tags: Vec<Vec<String>>,
    pub attributes: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct RawCandidates {
    format: String,
    base: String,
    sample_ids: Vec<String>,
    tags: Vec<Vec<String>>,
    attributes: Vec<Vec<String>>,
}

/// The tag text the trainable encoder sees: the reference removes every "a photo of a " and
/// trims (`utils.py`, `process_file`: `tag.replace('a photo of a ', '').strip()`).
pub fn strip_tag(tag: &str) -> String {
    tag.replace("a photo of a ", "").trim().to_string()
}

impl Candidates {
    /// Number of texts encoded per sample and view: base, tags, attributes.
    pub fn texts_per_sample(&self) -> usize {
        1 + self.tags[0].len() + self.attributes[0].len()
    }

    /// Reads `path` and orders its entries as `images` (matched by sample id).
    pub fn read(path: &Path, images: &ImageList) -> Result<Self, String> {
        let err = |msg: String| format!("{}: {msg}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let raw: RawCandidates =
            serde_json::from_str(&text).map_err(|e| err(format!("not a candidates file ({e})")))?;
        if raw.format != "ssr2-candidates" {
            return Err(err(format!(
                "format: `{}`, expected `ssr2-candidates`",
                raw.format
            )));
        }
        let n = raw.sample_ids.len();
        if raw.tags.len() != n || raw.attributes.len() != n {
            return Err(err(format!(
                "tags/attributes: {} and {} lists for {n} sample_ids",
                raw.tags.len(),
                raw.attributes.len()
            )));
        }
        let pos: HashMap<&str, usize> = raw
            .sample_ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let (mut tags, mut attributes): (Vec<Vec<String>>, Vec<Vec<String>>) =
            (Vec::new(), Vec::new());
        for item in &images.items {
            let Some(&i) = pos.get(item.id.as_str()) else {
                return Err(err(format!(
                    "sample_ids: no entry for image `{}` of the dataset",
                    item.id
                )));
            };
            tags.push(raw.tags[i].iter().map(|t| strip_tag(t)).collect());
            // Attributes are only trimmed (`process_file`: `attribute.strip()`).
            attributes.push(
                raw.attributes[i]
                    .iter()
                    .map(|a| a.trim().to_string())
                    .collect(),
            );
        }
        if tags.is_empty() {
            return Err(err("the dataset has no images".into()));
        }
        let (t, a) = (tags[0].len(), attributes[0].len());
        if t == 0 || a == 0 || tags.iter().any(|v| v.len() != t) {
            return Err(err("tags: every sample needs the same number (>= 1)".into()));
        }
        if attributes.iter().any(|v| v.len() != a) {
            return Err(err(
                "attributes: every sample needs the same number (>= 1)".into()
            ));
        }
        Ok(Candidates {
            base: raw.base,
            tags,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssr2_data::{ImageItem, ImageSource};

    fn list(ids: &[&str]) -> ImageList {
        ImageList {
            name: "t".into(),
            class_names: vec!["a".into(), "b".into()],
            num_old: 1,
            items: ids
                .iter()
                .map(|id| ImageItem {
                    source: ImageSource::File(id.into()),
                    label: 0,
                    id: id.to_string(),
                })
                .collect(),
            labelled: vec![false; ids.len()],
        }
    }

    #[test]
    fn entries_follow_the_image_order_and_errors_name_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let json = r#"{"format":"ssr2-candidates","version":1,"base":"a photo of a bird",
            "sample_ids":["x","y"],"tags":[["t1","t2"],["u1","u2"]],
            "attributes":[["a1"],["b1"]]}"#;
        std::fs::write(&path, json).unwrap();
        let c = Candidates::read(&path, &list(&["y", "x"])).unwrap();
        assert_eq!(c.tags, vec![vec!["u1", "u2"], vec!["t1", "t2"]]);
        assert_eq!(c.attributes, vec![vec!["b1"], vec!["a1"]]);
        assert_eq!(c.texts_per_sample(), 4);
        // Tags lose the lexicon's prefix, attributes only their outer spaces; an empty base
        // still counts (it is encoded).
        let prefixed = json
            .replace("\"t1\"", "\"a photo of a Abyssinian cat \"")
            .replace("\"a1\"", "\" cat which has a photo of a tail \"")
            .replace("a photo of a bird", "");
        std::fs::write(&path, prefixed).unwrap();
        let c = Candidates::read(&path, &list(&["x"])).unwrap();
        assert_eq!(c.tags, vec![vec!["Abyssinian cat", "t2"]]);
        assert_eq!(c.attributes, vec![vec!["cat which has a photo of a tail"]]);
        assert_eq!(c.texts_per_sample(), 4);
        let e = Candidates::read(&path, &list(&["x", "z"])).unwrap_err();
        assert!(
            e.contains("c.json") && e.contains("sample_ids") && e.contains("`z`"),
            "{e}"
        );
        std::fs::write(&path, json.replace("ssr2-candidates", "other")).unwrap();
        let e = Candidates::read(&path, &list(&["x"])).unwrap_err();
        assert!(e.contains("c.json") && e.contains("format"), "{e}");
    }
}
