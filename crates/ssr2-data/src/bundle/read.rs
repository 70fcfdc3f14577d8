//! Bundle bytes -> checked dataset.

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::{BUNDLE_VERSION, FORMAT};
use crate::{CandidateFeatures, DataError, Dataset, ImageViews, Matrix, TextFeatures};

/// Largest feature magnitude accepted: squared norms of 512-d rows must fit float32 with room to
/// spare (CLIP features are below 100).
const MAX_ABS_FEATURE: f32 = 1e15;

/// Every tensor name a bundle may hold.
const KNOWN_TENSORS: [&str; 10] = [
    "image",
    "image_views",
    "image_pooled",
    "text",
    "text_tags",
    "text_attributes",
    "text_base",
    "label",
    "labelled",
    "split",
];

/// Every `__metadata__` entry of bundle bytes (the format's keys and any extra ones), read from
/// the header alone.
pub fn bundle_metadata(
    bytes: &[u8],
    origin: &str,
) -> Result<std::collections::BTreeMap<String, String>, DataError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| DataError::format(origin, format!("is not a safetensors file ({e})")))?;
    Ok(header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// Parses and checks bundle bytes; `origin` (usually the file name) prefixes every message.
pub fn bundle_from_bytes(bytes: &[u8], origin: &str) -> Result<Dataset, DataError> {
    let not_safetensors = |e: safetensors::SafeTensorError| {
        DataError::format(origin, format!("is not a safetensors file ({e})"))
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
    let r = Reader {
        st: SafeTensors::deserialize(bytes).map_err(not_safetensors)?,
        origin,
    };
    let meta = |key: &str| -> Result<String, DataError> {
        let map = header.metadata().as_ref().ok_or_else(|| {
            r.err(format!(
                "has no `__metadata__`, expected one with `format` = \"{FORMAT}\""
            ))
        })?;
        map.get(key)
            .cloned()
            .ok_or_else(|| r.err(format!("metadata `{key}` is missing")))
    };
    let format = meta("format")?;
    if format != FORMAT {
        return Err(r.err(format!(
            "metadata `format` is \"{format}\", expected \"{FORMAT}\""
        )));
    }
    let version = meta("version")?;
    if version != BUNDLE_VERSION.to_string() {
        return Err(r.err(format!(
            "bundle version `{version}` is not supported (supported: {BUNDLE_VERSION})"
        )));
    }
    let num_old = meta("num_old")?;
    let num_old: usize = num_old.parse().map_err(|_| {
        r.err(format!(
            "metadata `num_old` is \"{num_old}\", expected a non-negative integer"
        ))
    })?;
    let class_names = r.string_list("class_names", &meta("class_names")?)?;
    let sample_ids = r.string_list("sample_ids", &meta("sample_ids")?)?;
    r.check_names()?;

    let image = r.required("image", Dtype::F32, "[n, d_img]", 2)?;
    let (n, d_img) = (image.shape()[0], image.shape()[1]);
    let image = Matrix::new(n, d_img, r.f32s("image", &image)?);
    let labels = r.labels(n, class_names.len())?;
    let labelled = r.labelled(n)?;
    if sample_ids.len() != n {
        let msg = format!(
            "metadata `sample_ids` has {} entries but `image` has n = {n} rows",
            sample_ids.len()
        );
        return Err(r.err(msg));
    }
    let image_views = r.image_views(n, d_img)?;
    let image_pooled = match r.optional("image_pooled", Dtype::F32, "[n, d_hidden]", 2)? {
        None => None,
        Some(view) => {
            r.check_n("image_pooled", &view, n)?;
            let d = view.shape()[1];
            Some(Matrix::new(n, d, r.f32s("image_pooled", &view)?))
        }
    };
    let text = r.text(n)?;
    let ds = Dataset {
        name: meta("dataset")?,
        class_names,
        num_old,
        image,
        image_views,
        image_pooled,
        text,
        labels,
        labelled,
        sample_ids,
        test: None,
    };
    let ds = match r.split(n)? {
        Some(is_test) => ds
            .split_off_test(&is_test)
            .map_err(|e| r.err(e.to_string()))?,
        None => ds,
    };
    // Whatever is left (new-class samples labelled, duplicate ids, ...) is a dataset invariant.
    ds.validate().map_err(|e| r.err(e.to_string()))?;
    Ok(ds)
}

/// Typed access to the tensors of one bundle, with messages naming `origin`.
struct Reader<'a> {
    st: SafeTensors<'a>,
    origin: &'a str,
}

impl<'a> Reader<'a> {
    fn err(&self, message: String) -> DataError {
        DataError::format(self.origin, message)
    }

    /// A metadata value that must be a JSON array of strings.
    fn string_list(&self, key: &str, raw: &str) -> Result<Vec<String>, DataError> {
        serde_json::from_str(raw).map_err(|e| {
            self.err(format!(
                "metadata `{key}` is not a JSON array of strings ({e})"
            ))
        })
    }

    /// Rejects unknown tensor names (a typo would silently drop data).
    fn check_names(&self) -> Result<(), DataError> {
        let mut names = self.st.names();
        names.sort();
        match names.iter().find(|name| !KNOWN_TENSORS.contains(name)) {
            None => Ok(()),
            Some(name) => Err(self.err(format!(
                "has an unknown tensor `{name}` (a bundle holds {})",
                KNOWN_TENSORS.join(", ")
            ))),
        }
    }

    /// Tensor `name` if present, checked for dtype and rank; `shape` documents the expectation.
    fn optional(
        &self,
        name: &str,
        dtype: Dtype,
        shape: &str,
        rank: usize,
    ) -> Result<Option<TensorView<'a>>, DataError> {
        let Ok(view) = self.st.tensor(name) else {
            return Ok(None);
        };
        if view.dtype() != dtype {
            return Err(self.err(format!(
                "tensor `{name}` has dtype {:?}, expected {dtype:?}",
                view.dtype()
            )));
        }
        if view.shape().len() != rank {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?} (rank {}), expected {shape} (rank {rank})",
                view.shape(),
                view.shape().len()
            )));
        }
        Ok(Some(view))
    }

    fn required(
        &self,
        name: &str,
        dtype: Dtype,
        shape: &str,
        rank: usize,
    ) -> Result<TensorView<'a>, DataError> {
        self.optional(name, dtype, shape, rank)?
            .ok_or_else(|| self.err(format!("missing tensor `{name}` ({dtype:?} {shape})")))
    }

    /// Axis 0 of `view` must be the image count n.
    fn check_n(&self, name: &str, view: &TensorView, n: usize) -> Result<(), DataError> {
        if view.shape()[0] == n {
            Ok(())
        } else {
            Err(self.err(format!(
                "tensor `{name}` has shape {:?} but `image` has n = {n} rows",
                view.shape()
            )))
        }
    }

    /// The values of an f32 tensor, all finite.
    fn f32s(&self, name: &str, view: &TensorView) -> Result<Vec<f32>, DataError> {
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        match values.iter().position(|v| !v.is_finite()) {
            None => {}
            Some(p) => {
                return Err(self.err(format!(
                    "tensor `{name}` has a non-finite value ({}) at flat index {p}",
                    values[p]
                )));
            }
        }
        match values.iter().position(|v| v.abs() > MAX_ABS_FEATURE) {
            None => Ok(values),
            Some(p) => Err(self.err(format!(
                "tensor `{name}` has the value {:e} at flat index {p}; features must stay within \
                 ±{MAX_ABS_FEATURE:e} (their products overflow float32 beyond that)",
                values[p]
            ))),
        }
    }

    /// `label`: i64 [n], each in 0..num_classes.
    fn labels(&self, n: usize, num_classes: usize) -> Result<Vec<usize>, DataError> {
        let view = self.required("label", Dtype::I64, "[n]", 1)?;
        self.check_n("label", &view, n)?;
        let raw = view
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
        raw.enumerate()
            .map(|(i, y)| match usize::try_from(y) {
                Ok(y) if y < num_classes => Ok(y),
                _ => Err(self.err(format!(
                    "tensor `label` has value {y} at index {i}, expected 0..{num_classes} (number of `class_names`)"
                ))),
            })
            .collect()
    }

    /// `labelled`: u8 [n], each 0 or 1.
    fn labelled(&self, n: usize) -> Result<Vec<bool>, DataError> {
        let view = self.required("labelled", Dtype::U8, "[n]", 1)?;
        self.flags("labelled", &view, n, "0 or 1")
    }

    /// The 0/1 bytes of a u8 `[n]` tensor as flags; `expected` describes the two values.
    fn flags(
        &self,
        name: &str,
        view: &TensorView,
        n: usize,
        expected: &str,
    ) -> Result<Vec<bool>, DataError> {
        self.check_n(name, view, n)?;
        view.data()
            .iter()
            .enumerate()
            .map(|(i, &v)| match v {
                0 | 1 => Ok(v == 1),
                _ => Err(self.err(format!(
                    "tensor `{name}` has value {v} at index {i}, expected {expected}"
                ))),
            })
            .collect()
    }

    /// `split`: u8 [n] if present, 1 for a test sample, 0 for a training one.
    fn split(&self, n: usize) -> Result<Option<Vec<bool>>, DataError> {
        match self.optional("split", Dtype::U8, "[n]", 1)? {
            None => Ok(None),
            Some(view) => self
                .flags("split", &view, n, "0 (train) or 1 (test)")
                .map(Some),
        }
    }

    /// `image_views`: f32 [n, V, d_img] if present.
    fn image_views(&self, n: usize, d_img: usize) -> Result<Option<ImageViews>, DataError> {
        let Some(view) = self.optional("image_views", Dtype::F32, "[n, V, d_img]", 3)? else {
            return Ok(None);
        };
        self.check_n("image_views", &view, n)?;
        let (per_sample, d) = (view.shape()[1], view.shape()[2]);
        if d != d_img {
            return Err(self.err(format!(
                "tensor `image_views` has shape {:?} but `image` has d_img = {d_img}",
                view.shape()
            )));
        }
        Ok(Some(ImageViews {
            data: Matrix::new(n * per_sample, d, self.f32s("image_views", &view)?),
            per_sample,
        }))
    }

    /// The text side: `text`, or `text_tags` + `text_attributes` (+ `text_base`), or nothing.
    fn text(&self, n: usize) -> Result<Option<TextFeatures>, DataError> {
        let aggregated = self.optional("text", Dtype::F32, "[n, d_txt]", 2)?;
        let tags = self.optional("text_tags", Dtype::F32, "[n, T, d_txt]", 3)?;
        let attributes = self.optional("text_attributes", Dtype::F32, "[n, A, d_txt]", 3)?;
        let base = self.optional("text_base", Dtype::F32, "[d_txt]", 1)?;
        if let Some(view) = aggregated {
            if let Some(other) = [
                ("text_tags", &tags),
                ("text_attributes", &attributes),
                ("text_base", &base),
            ]
            .iter()
            .find_map(|(name, v)| v.as_ref().map(|_| *name))
            {
                return Err(self.err(format!(
                    "has both `text` and `{other}`; a bundle holds one kind of text"
                )));
            }
            self.check_n("text", &view, n)?;
            let d = view.shape()[1];
            return Ok(Some(TextFeatures::Aggregated(Matrix::new(
                n,
                d,
                self.f32s("text", &view)?,
            ))));
        }
        let (tags, attributes) = match (tags, attributes) {
            (None, None) if base.is_none() => return Ok(None),
            (Some(t), Some(a)) => (t, a),
            (t, _) => {
                let missing = if t.is_none() {
                    "text_tags"
                } else {
                    "text_attributes"
                };
                return Err(self.err(format!("missing tensor `{missing}` (F32 [n, T, d_txt]), needed by the other text tensors")));
            }
        };
        self.check_n("text_tags", &tags, n)?;
        self.check_n("text_attributes", &attributes, n)?;
        let (num_tags, d) = (tags.shape()[1], tags.shape()[2]);
        let num_attributes = attributes.shape()[1];
        let wrong_d = |name: &str, shape: &[usize]| {
            self.err(format!(
                "tensor `{name}` has shape {shape:?} but `text_tags` has d_txt = {d}"
            ))
        };
        if attributes.shape()[2] != d {
            return Err(wrong_d("text_attributes", attributes.shape()));
        }
        let base = match base {
            Some(b) if b.shape()[0] != d => return Err(wrong_d("text_base", b.shape())),
            Some(b) => Some(self.f32s("text_base", &b)?),
            None => None,
        };
        Ok(Some(TextFeatures::Candidates(CandidateFeatures {
            tags: Matrix::new(n * num_tags, d, self.f32s("text_tags", &tags)?),
            num_tags,
            attributes: Matrix::new(
                n * num_attributes,
                d,
                self.f32s("text_attributes", &attributes)?,
            ),
            num_attributes,
            base,
        })))
    }
}
