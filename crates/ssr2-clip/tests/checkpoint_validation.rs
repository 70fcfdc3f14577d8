//! Non-finite weights are refused where they are read, naming the file, tensor and index
//! (they used to give NaN embeddings and a successful exit).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use ssr2_clip::{Checkpoint, ClipError, ClipFolder, Source};

fn tiny(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/reference/clip-tiny")
        .join(name)
}

/// The tiny model's safetensors bytes with `value` written at `index` of tensor `name`.
fn with_value(name: &str, index: usize, value: f32) -> Vec<u8> {
    let bytes = std::fs::read(tiny("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    let t = tensors.iter_mut().find(|t| t.0 == name).unwrap();
    assert_eq!(t.1, Dtype::F32);
    t.3[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn folder_with_weights(test: &str, weights: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("weights-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(tiny("config.json"), dir.join("config.json")).unwrap();
    std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    let folder = ClipFolder::open(dir).unwrap();
    let err = folder.load(&Device::flex()).unwrap_err();
    assert!(matches!(err, ClipError::NonFinite { .. }), "{err}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn nan_weight_names_file_tensor_and_index() {
    let name = "text_model.encoder.layers.1.mlp.fc1.weight";
    let dir = folder_with_weights("nan", &with_value(name, 37, f32::NAN));
    let msg = load_error(&dir);
    let file = dir.join("model.safetensors").display().to_string();
    assert!(msg.starts_with(&file), "{msg}");
    assert!(
        msg.contains(name) && msg.contains("index 37") && msg.contains("NaN"),
        "{msg}"
    );
}

#[test]
fn infinite_weight_is_refused_too() {
    let name = "vision_model.post_layernorm.bias";
    let dir = folder_with_weights("inf", &with_value(name, 0, f32::NEG_INFINITY));
    let msg = load_error(&dir);
    assert!(
        msg.contains(name) && msg.contains("index 0") && msg.contains("inf"),
        "{msg}"
    );
}

#[test]
fn f16_infinity_is_caught_after_conversion() {
    // 0x7c00 is +inf in f16; the check runs on the converted f32 values.
    let data: Vec<u8> = [0x3c00u16, 0x7c00]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::F16, vec![2], &data).unwrap();
    let bytes = safetensors::serialize([("w", view)], None).unwrap();
    let ck = Checkpoint::from_bytes(Path::new("half.safetensors"), bytes).unwrap();
    let err = ck.get("w", &[2]).unwrap_err().to_string();
    assert!(err.contains("`w`") && err.contains("index 1"), "{err}");
}
