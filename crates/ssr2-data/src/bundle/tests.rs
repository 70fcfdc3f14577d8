use std::collections::BTreeMap;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::*;
use crate::{ImageViews, Matrix, SyntheticConfig, TextFeatures, digits, generate};

const ORIGIN: &str = "bundle.safetensors";

/// 100 samples, 10 classes, candidate text with a base prompt.
fn synthetic_with_base() -> Dataset {
    let cfg = SyntheticConfig {
        per_class: 10,
        text_dim: 8,
        num_tags: 3,
        num_attributes: 2,
        ..Default::default()
    };
    let mut ds = generate(&cfg).unwrap();
    if let Some(TextFeatures::Candidates(c)) = &mut ds.text {
        c.base = Some((0..8).map(|i| i as f32 / 8.0).collect());
    }
    ds
}

/// `ds` with `per_sample` distinct, deterministic augmented views of each image.
fn with_views(mut ds: Dataset, per_sample: usize) -> Dataset {
    let (rows, d) = (ds.len() * per_sample, ds.image.cols);
    let data = (0..rows * d)
        .map(|i| (i % 97) as f32 / 97.0 - 0.5)
        .collect();
    ds.image_views = Some(ImageViews {
        data: Matrix::new(rows, d, data),
        per_sample,
    });
    ds
}

/// A bundle taken apart, so tests can break one thing and put it back together.
struct Parts {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    meta: BTreeMap<String, String>,
}

impl Parts {
    fn of(ds: &Dataset) -> Self {
        let bytes = bundle_to_bytes(ds).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header
            .metadata()
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(name, v)| (name, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
            .collect();
        Self { tensors, meta }
    }

    fn bytes(&self) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(name, (dtype, shape, data))| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        // An empty map means no `__metadata__` at all.
        let meta = (!self.meta.is_empty()).then(|| {
            self.meta
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        safetensors::serialize(views, meta).unwrap()
    }

    fn set_f32(&mut self, name: &str, index: usize, value: f32) {
        let data = &mut self.tensors.get_mut(name).unwrap().2;
        data[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn set_i64(&mut self, name: &str, index: usize, value: i64) {
        let data = &mut self.tensors.get_mut(name).unwrap().2;
        data[index * 8..index * 8 + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn put_f32(&mut self, name: &str, shape: Vec<usize>) {
        let len: usize = shape.iter().product();
        self.tensors
            .insert(name.into(), (Dtype::F32, shape, vec![0; len * 4]));
    }
}

fn read_err(parts: &Parts) -> String {
    match bundle_from_bytes(&parts.bytes(), ORIGIN) {
        Err(e @ DataError::Format { .. }) => e.to_string(),
        other => panic!("expected a Format error, got {:?}", other.map(|d| d.len())),
    }
}

#[test]
fn round_trips_are_exact_for_every_text_kind() {
    let candidates = synthetic_with_base();
    let mut no_base = candidates.clone();
    if let Some(TextFeatures::Candidates(c)) = &mut no_base.text {
        c.base = None;
    }
    let mut aggregated = candidates.clone();
    let rows: Vec<usize> = (0..100).map(|i| i * 3).collect();
    let first_tags = match &candidates.text {
        Some(TextFeatures::Candidates(c)) => c.tags.select_rows(&rows),
        _ => unreachable!(),
    };
    aggregated.text = Some(TextFeatures::Aggregated(first_tags));
    let image_only = digits(3);
    let views_and_text = with_views(candidates.clone(), 4);
    let views_image_only = with_views(image_only.clone(), 1);
    let mut pooled = image_only.clone();
    let n = pooled.len();
    pooled.image_pooled = Some(Matrix::new(n, 3, (0..n * 3).map(|i| i as f32).collect()));
    for ds in [
        pooled,
        candidates,
        no_base,
        aggregated,
        image_only,
        views_and_text,
        views_image_only,
    ] {
        let back = bundle_from_bytes(&bundle_to_bytes(&ds).unwrap(), ORIGIN).unwrap();
        assert_eq!(back, ds, "{}", ds.name);
    }
}

#[test]
fn file_round_trip_is_atomic_and_io_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("ssr2-data-bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("b.safetensors");
    let ds = synthetic_with_base();
    write_bundle(&path, &ds).unwrap();
    assert!(!dir.join("b.safetensors.partial").exists());
    assert_eq!(read_bundle(&path).unwrap(), ds);
    // The file on disk is the byte form.
    assert_eq!(
        bundle_from_bytes(&std::fs::read(&path).unwrap(), ORIGIN).unwrap(),
        ds
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = dir.join("nope").join("b.safetensors");
    let e = read_bundle(&missing).unwrap_err();
    assert!(
        matches!(e, DataError::Io { .. }) && e.to_string().contains("b.safetensors"),
        "{e}"
    );
    let e = write_bundle(&missing, &ds).unwrap_err();
    assert!(
        matches!(e, DataError::Io { .. }) && e.to_string().contains("b.safetensors.partial"),
        "{e}"
    );
}

#[test]
fn writer_refuses_an_invalid_dataset() {
    let mut ds = synthetic_with_base();
    ds.labels[0] = 10;
    assert!(
        matches!(bundle_to_bytes(&ds), Err(DataError::Invalid { field, .. }) if field == "labels")
    );
    let mut ds = with_views(synthetic_with_base(), 2);
    ds.image_views.as_mut().unwrap().per_sample = 3;
    assert!(matches!(
        bundle_to_bytes(&ds),
        Err(DataError::Invalid { field, .. }) if field == "image_views rows"
    ));
}

#[test]
fn non_safetensors_bytes_are_rejected() {
    for bytes in [&b"hello, world"[..], &[][..], &[255u8; 64][..]] {
        let e = bundle_from_bytes(bytes, ORIGIN).unwrap_err().to_string();
        assert!(
            e.starts_with("bundle.safetensors: is not a safetensors file"),
            "{e}"
        );
    }
}

#[test]
fn the_row_count_message_is_exact() {
    let mut p = Parts::of(&synthetic_with_base());
    let label = p.tensors.get_mut("label").unwrap();
    label.1 = vec![99];
    label.2.truncate(99 * 8);
    assert_eq!(
        read_err(&p),
        "bundle.safetensors: tensor `label` has shape [99] but `image` has n = 100 rows"
    );
}

#[test]
fn each_rejection_names_its_tensor_or_field() {
    type Breaker = Box<dyn Fn(&mut Parts)>;
    let cases: Vec<(&[&str], Breaker)> = vec![
        (
            &["`format`", "ssr2-bundle"],
            Box::new(|p| drop(p.meta.insert("format".into(), "other".into()))),
        ),
        (
            &["version `2`", "supported: 1"],
            Box::new(|p| drop(p.meta.insert("version".into(), "2".into()))),
        ),
        (
            &["`dataset`", "missing"],
            Box::new(|p| drop(p.meta.remove("dataset"))),
        ),
        (&["`__metadata__`"], Box::new(|p| p.meta.clear())),
        (
            &["`num_old`"],
            Box::new(|p| drop(p.meta.insert("num_old".into(), "-1".into()))),
        ),
        (
            &["`class_names`", "JSON"],
            Box::new(|p| drop(p.meta.insert("class_names".into(), "[\"a\",".into()))),
        ),
        (
            &["`sample_ids`", "JSON"],
            Box::new(|p| drop(p.meta.insert("sample_ids".into(), "{}".into()))),
        ),
        (
            &["`sample_ids`", "n = 100"],
            Box::new(|p| drop(p.meta.insert("sample_ids".into(), "[\"x\"]".into()))),
        ),
        (
            &["missing tensor `image`"],
            Box::new(|p| drop(p.tensors.remove("image"))),
        ),
        (
            &["missing tensor `labelled`"],
            Box::new(|p| drop(p.tensors.remove("labelled"))),
        ),
        (
            &["`label`", "dtype F64, expected I64"],
            Box::new(|p| p.tensors.get_mut("label").unwrap().0 = Dtype::F64),
        ),
        (
            &["`image`", "rank 1"],
            Box::new(|p| p.tensors.get_mut("image").unwrap().1 = vec![100 * 64]),
        ),
        (
            &["`label`", "value 10 at index 4"],
            Box::new(|p| p.set_i64("label", 4, 10)),
        ),
        (
            &["`label`", "value -1"],
            Box::new(|p| p.set_i64("label", 0, -1)),
        ),
        (
            &["`labelled`", "value 2"],
            Box::new(|p| p.tensors.get_mut("labelled").unwrap().2[7] = 2),
        ),
        // Sample 99 is of class 9, a new class.
        (
            &["`labelled`", "sample 99", "new"],
            Box::new(|p| p.tensors.get_mut("labelled").unwrap().2[99] = 1),
        ),
        (
            &["`image`", "non-finite", "NaN"],
            Box::new(|p| p.set_f32("image", 5, f32::NAN)),
        ),
        (
            &["`text_tags`", "non-finite"],
            Box::new(|p| p.set_f32("text_tags", 9, f32::INFINITY)),
        ),
        (
            &["`text_base`", "non-finite"],
            Box::new(|p| p.set_f32("text_base", 0, f32::NEG_INFINITY)),
        ),
        (
            &["`text_attributes`", "d_txt = 8"],
            Box::new(|p| p.put_f32("text_attributes", vec![100, 2, 7])),
        ),
        (
            &["`text_base`", "d_txt = 8"],
            Box::new(|p| p.put_f32("text_base", vec![9])),
        ),
        (
            &["`text_tags`", "n = 100"],
            Box::new(|p| p.put_f32("text_tags", vec![50, 3, 8])),
        ),
        (
            &["missing tensor `text_attributes`"],
            Box::new(|p| drop(p.tensors.remove("text_attributes"))),
        ),
        (
            &["both `text` and `text_tags`"],
            Box::new(|p| p.put_f32("text", vec![100, 8])),
        ),
        (
            &["unknown tensor `txet`"],
            Box::new(|p| p.put_f32("txet", vec![100, 8])),
        ),
        (
            &["`num_tags`"],
            Box::new(|p| p.put_f32("text_tags", vec![100, 0, 8])),
        ),
    ];
    for (needles, breaker) in cases {
        let mut p = Parts::of(&synthetic_with_base());
        breaker(&mut p);
        let e = read_err(&p);
        assert!(e.starts_with("bundle.safetensors: "), "{e}");
        for needle in needles {
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        }
    }
}

#[test]
fn aggregated_text_with_wrong_rows_is_rejected() {
    let mut ds = synthetic_with_base();
    ds.text = Some(TextFeatures::Aggregated(Matrix::new(
        100,
        2,
        vec![0.5; 200],
    )));
    let mut p = Parts::of(&ds);
    p.put_f32("text", vec![101, 2]);
    assert_eq!(
        read_err(&p),
        "bundle.safetensors: tensor `text` has shape [101, 2] but `image` has n = 100 rows"
    );
}

#[test]
fn views_are_written_only_when_present() {
    let plain = Parts::of(&synthetic_with_base());
    assert!(!plain.tensors.contains_key("image_views"));
    let p = Parts::of(&with_views(synthetic_with_base(), 3));
    let (dtype, shape, _) = &p.tensors["image_views"];
    assert_eq!((*dtype, shape.as_slice()), (Dtype::F32, &[100, 3, 64][..]));
}

#[test]
fn bad_image_views_are_rejected() {
    type Breaker = Box<dyn Fn(&mut Parts)>;
    let cases: Vec<(&[&str], Breaker)> = vec![
        (
            &["tensor `image_views` has shape [99, 3, 64] but `image` has n = 100 rows"],
            Box::new(|p| p.put_f32("image_views", vec![99, 3, 64])),
        ),
        (
            &["tensor `image_views` has shape [100, 3, 63] but `image` has d_img = 64"],
            Box::new(|p| p.put_f32("image_views", vec![100, 3, 63])),
        ),
        (
            &["`image_views`", "rank 2", "[n, V, d_img] (rank 3)"],
            Box::new(|p| p.put_f32("image_views", vec![300, 64])),
        ),
        (
            &["`image_views`", "dtype F64, expected F32"],
            Box::new(|p| {
                let t = p.tensors.get_mut("image_views").unwrap();
                t.0 = Dtype::F64;
                t.2 = vec![0; t.2.len() * 2];
            }),
        ),
        (
            &["`image_views`", "dtype F16, expected F32"],
            Box::new(|p| {
                let t = p.tensors.get_mut("image_views").unwrap();
                t.0 = Dtype::F16;
                t.2.truncate(t.2.len() / 2);
            }),
        ),
        (
            &["`image_views`", "non-finite", "NaN"],
            Box::new(|p| p.set_f32("image_views", 17, f32::NAN)),
        ),
        (
            &["`image_views`", "0 views per sample"],
            Box::new(|p| p.put_f32("image_views", vec![100, 0, 64])),
        ),
    ];
    for (needles, breaker) in cases {
        let mut p = Parts::of(&with_views(synthetic_with_base(), 3));
        breaker(&mut p);
        let e = read_err(&p);
        assert!(e.starts_with("bundle.safetensors: "), "{e}");
        for needle in needles {
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        }
    }
}

#[test]
fn a_test_split_round_trips_and_bad_split_values_are_refused() {
    for ds in [
        with_views(synthetic_with_base(), 2),
        with_views(digits(1), 1),
    ] {
        let held = crate::hold_out(ds, 0.2, 5).unwrap();
        let parts = Parts::of(&held);
        let (_, shape, data) = &parts.tensors["split"];
        assert_eq!(shape[0], held.len() + held.test.as_ref().unwrap().len());
        // Training samples first, then the test samples.
        assert!(data.windows(2).all(|w| w[0] <= w[1]));
        let back = bundle_from_bytes(&parts.bytes(), ORIGIN).unwrap();
        assert_eq!(back, held);
    }
    // No test part: no `split` tensor.
    assert!(!Parts::of(&digits(1)).tensors.contains_key("split"));

    let held = crate::hold_out(digits(1), 0.2, 5).unwrap();
    let mut parts = Parts::of(&held);
    parts.tensors.get_mut("split").unwrap().2[7] = 2;
    assert_eq!(
        read_err(&parts),
        "bundle.safetensors: tensor `split` has value 2 at index 7, expected 0 (train) or 1 (test)"
    );
    // A labelled sample in the test split.
    let mut parts = Parts::of(&held);
    let first_labelled = parts.tensors["labelled"]
        .2
        .iter()
        .position(|&l| l == 1)
        .unwrap();
    parts.tensors.get_mut("split").unwrap().2[first_labelled] = 1;
    let err = read_err(&parts);
    assert!(err.contains("test split but labelled"), "{err}");
}
