//! Dataset -> bundle bytes.

use std::collections::BTreeMap;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::{BUNDLE_VERSION, FORMAT};
use crate::{DataError, Dataset, TextFeatures};

/// One tensor to write: dtype, shape, little-endian bytes.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f32_tensor(shape: Vec<usize>, values: &[f32]) -> Owned {
    Owned {
        dtype: Dtype::F32,
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Serialises `ds` (checked with [`Dataset::validate`] first) as bundle bytes.
pub fn bundle_to_bytes(ds: &Dataset) -> Result<Vec<u8>, DataError> {
    bundle_to_bytes_with(ds, &[])
}

/// [`bundle_to_bytes`] with extra `__metadata__` entries (e.g. `extract --shard`'s record);
/// a key the format itself uses is refused.
pub fn bundle_to_bytes_with(ds: &Dataset, extra: &[(&str, String)]) -> Result<Vec<u8>, DataError> {
    ds.validate()?;
    // The test part is stored after the training samples, flagged by `split` (a joined copy
    // only when there is one).
    let joined;
    let (ds, is_test) = match &ds.test {
        None => (ds, Vec::new()),
        Some(_) => {
            let (all, flags) = ds.clone().with_test_appended();
            joined = all;
            (&joined, flags)
        }
    };
    let n = ds.len();
    let mut tensors: BTreeMap<&str, Owned> = BTreeMap::new();
    tensors.insert("image", f32_tensor(vec![n, ds.image.cols], &ds.image.data));
    if let Some(v) = &ds.image_views {
        let shape = vec![n, v.per_sample, v.data.cols];
        tensors.insert("image_views", f32_tensor(shape, &v.data.data));
    }
    if let Some(p) = &ds.image_pooled {
        tensors.insert("image_pooled", f32_tensor(vec![n, p.cols], &p.data));
    }
    match &ds.text {
        None => {}
        Some(TextFeatures::Aggregated(m)) => {
            tensors.insert("text", f32_tensor(vec![n, m.cols], &m.data));
        }
        Some(TextFeatures::Candidates(c)) => {
            let tag_shape = vec![n, c.num_tags, c.dim()];
            tensors.insert("text_tags", f32_tensor(tag_shape, &c.tags.data));
            let attr_shape = vec![n, c.num_attributes, c.dim()];
            tensors.insert(
                "text_attributes",
                f32_tensor(attr_shape, &c.attributes.data),
            );
            if let Some(b) = &c.base {
                tensors.insert("text_base", f32_tensor(vec![b.len()], b));
            }
        }
    }
    let label_bytes = ds
        .labels
        .iter()
        .flat_map(|&y| (y as i64).to_le_bytes())
        .collect();
    tensors.insert(
        "label",
        Owned {
            dtype: Dtype::I64,
            shape: vec![n],
            bytes: label_bytes,
        },
    );
    let labelled_bytes = ds.labelled.iter().map(|&l| u8::from(l)).collect();
    tensors.insert(
        "labelled",
        Owned {
            dtype: Dtype::U8,
            shape: vec![n],
            bytes: labelled_bytes,
        },
    );

    if is_test.contains(&true) {
        tensors.insert(
            "split",
            Owned {
                dtype: Dtype::U8,
                shape: vec![n],
                bytes: is_test.iter().map(|&t| u8::from(t)).collect(),
            },
        );
    }

    let json = |v: &[String]| serde_json::to_string(v).expect("a list of strings serialises");
    let metadata = [
        ("format", FORMAT.to_string()),
        ("version", BUNDLE_VERSION.to_string()),
        ("dataset", ds.name.clone()),
        ("num_old", ds.num_old.to_string()),
        ("class_names", json(&ds.class_names)),
        ("sample_ids", json(&ds.sample_ids)),
    ];
    if let Some((key, _)) = extra
        .iter()
        .find(|(k, _)| metadata.iter().any(|(m, _)| m == k))
    {
        return Err(DataError::invalid(
            "metadata",
            format!("`{key}` is the format's own key"),
        ));
    }
    let views = tensors
        .iter()
        .map(|(name, t)| {
            let view =
                TensorView::new(t.dtype, t.shape.clone(), &t.bytes).expect("shape and bytes agree");
            (name.to_string(), view)
        })
        .collect::<Vec<_>>();
    // The map type is std's or hashbrown's depending on safetensors' features; let it be inferred.
    let metadata = Some(
        metadata
            .into_iter()
            .chain(extra.iter().cloned())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    safetensors::serialize(views, metadata)
        .map_err(|e| DataError::format(&ds.name, format!("cannot serialise the bundle: {e}")))
}
