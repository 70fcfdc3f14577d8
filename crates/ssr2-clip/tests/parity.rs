//! Parity with transformers/PyTorch on a random-weight CLIP (tests/reference/clip-tiny, written
//! by tests/reference/make_clip_reference.py): tokens exactly, embeddings to 1e-4 max abs.

use std::path::PathBuf;

use burn::prelude::*;
use ssr2_clip::{Checkpoint, ClipError, ClipFolder, Source};
use ssr2_core::testutil::max_abs_diff;

/// The committed tiny model, or another folder written by the same script
/// (`SSR2_CLIP_PARITY_DIR`, e.g. the full ViT-B/16 shape check).
fn tiny_dir() -> PathBuf {
    match std::env::var_os("SSR2_CLIP_PARITY_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/clip-tiny"),
    }
}

fn device() -> Device {
    match std::env::var("SSR2_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(burn::tensor::DeviceKind::default()),
        _ => Device::flex(),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn expected(name: &str, shape: &[usize]) -> Vec<f32> {
    let ck = Checkpoint::open(&tiny_dir().join("expected.safetensors")).unwrap();
    ck.get(name, shape).unwrap()
}

fn texts() -> Vec<String> {
    let s = std::fs::read_to_string(tiny_dir().join("texts.txt")).unwrap();
    s.lines().map(str::to_string).collect()
}

#[test]
fn tokens_match_open_clip() {
    let folder = ClipFolder::open(&tiny_dir()).unwrap();
    let tok = folder.tokenizer().unwrap();
    let texts = texts();
    let bytes = std::fs::read(tiny_dir().join("expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("input_ids").unwrap();
    assert_eq!(t.shape(), [texts.len(), 77]);
    let ids: Vec<i64> = t
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    for (i, text) in texts.iter().enumerate() {
        let ours: Vec<i64> = tok
            .encode(text)
            .unwrap()
            .iter()
            .map(|&t| t as i64)
            .collect();
        let row = &ids[i * 77..(i + 1) * 77];
        let n = row.iter().position(|&t| t == tok.end as i64).unwrap() + 1;
        assert_eq!(ours, row[..n], "text {i}: {text:?}");
    }
}

#[test]
fn image_embeddings_match_transformers() {
    let dev = device();
    let folder = ClipFolder::open(&tiny_dir()).unwrap();
    let cfg = &folder.config;
    let model = folder.load(&dev).unwrap();
    let s = cfg.vision.image_size;
    let bytes = std::fs::read(tiny_dir().join("expected.safetensors")).unwrap();
    let b = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensor("pixel_values")
        .unwrap()
        .shape()[0];
    let pixels = expected("pixel_values", &[b, 3, s, s]);
    let pixels = Tensor::<4>::from_data(TensorData::new(pixels, [b, 3, s, s]), &dev);
    let out = model.vision.forward(pixels.clone());
    let (h, p) = (cfg.vision.tower.hidden, cfg.projection_dim);
    let tokens = cfg.vision.num_positions();
    let d = max_abs_diff(
        &values(out.before_last),
        &expected("image_before_last", &[b, tokens, h]),
    );
    assert!(d < 1e-4, "input of the last block: max abs diff {d}");
    let d = max_abs_diff(&values(out.pooled), &expected("image_pooled", &[b, h]));
    assert!(d < 1e-4, "pooled: max abs diff {d}");
    let d = max_abs_diff(
        &values(model.encode_images(pixels)),
        &expected("image_embeds", &[b, p]),
    );
    eprintln!("images: normalised embeddings max abs diff {d:e}");
    assert!(d < 1e-4, "normalised embeddings: max abs diff {d}");
}

#[test]
fn text_embeddings_match_transformers() {
    let dev = device();
    let folder = ClipFolder::open(&tiny_dir()).unwrap();
    let cfg = &folder.config;
    let model = folder.load(&dev).unwrap();
    let tokens = folder.tokenizer().unwrap().batch(&texts()).unwrap();
    let (b, h, p, l) = (
        tokens.batch(),
        cfg.text.tower.hidden,
        cfg.projection_dim,
        tokens.length,
    );
    let out = model.text.forward(&tokens, &dev);
    // Ours is padded to the longest text; causal attention makes those positions identical.
    let full = expected("text_before_last", &[b, 77, h]);
    let cut: Vec<f32> = (0..b)
        .flat_map(|i| full[i * 77 * h..(i * 77 + l) * h].to_vec())
        .collect();
    let d = max_abs_diff(&values(out.before_last), &cut);
    assert!(d < 1e-4, "input of the last block: max abs diff {d}");
    let d = max_abs_diff(&values(out.pooled), &expected("text_pooled", &[b, h]));
    assert!(d < 1e-4, "pooled: max abs diff {d}");
    let d = max_abs_diff(
        &values(model.encode_texts(&tokens, &dev)),
        &expected("text_embeds", &[b, p]),
    );
    eprintln!("texts: normalised embeddings max abs diff {d:e}");
    assert!(d < 1e-4, "normalised embeddings: max abs diff {d}");
}

#[test]
fn broken_folders_name_the_file_and_tensor() {
    let dev = device();
    let tiny_dir =
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/clip-tiny");
    let tmp = std::env::temp_dir().join(format!("ssr2-clip-broken-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // No config.json.
    let e = ClipFolder::open(&tmp).err().unwrap();
    assert!(e.to_string().contains("config.json"), "{e}");
    // A checkpoint missing one tensor and with one of the wrong shape.
    std::fs::copy(tiny_dir().join("config.json"), tmp.join("config.json")).unwrap();
    let e = ClipFolder::open(&tmp).unwrap().load(&dev).err().unwrap();
    assert!(
        e.to_string().contains("model.safetensors: file not found"),
        "{e}"
    );
    let ck = Checkpoint::open(&tiny_dir().join("model.safetensors")).unwrap();
    let write = |skip: &str, reshape: &str| {
        let mut tensors = Vec::new();
        for name in ck.names() {
            if name == skip || name == "logit_scale" {
                continue;
            }
            let bytes = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let t = st.tensor(&name).unwrap();
            let mut shape = t.shape().to_vec();
            if name == reshape {
                shape = vec![shape.iter().product()];
            }
            tensors.push((name, shape, t.data().to_vec()));
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap();
                (n.clone(), v)
            })
            .collect();
        safetensors::serialize_to_file(views, None, &tmp.join("model.safetensors")).unwrap();
    };
    write("text_model.encoder.layers.1.mlp.fc2.bias", "");
    let e = ClipFolder::open(&tmp).unwrap().load(&dev).err().unwrap();
    assert!(matches!(e, ClipError::MissingTensor { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: tensor `text_model.encoder.layers.1.mlp.fc2.bias` is missing",
            tmp.join("model.safetensors").display()
        )
    );
    write("", "vision_model.embeddings.class_embedding.x");
    write("", "visual_projection.weight");
    let e = ClipFolder::open(&tmp).unwrap().load(&dev).err().unwrap();
    assert!(
        e.to_string()
            .ends_with("tensor `visual_projection.weight` has shape [1152], expected [24, 48]"),
        "{e}"
    );
    std::fs::write(tmp.join("model.safetensors"), b"not safetensors").unwrap();
    let e = ClipFolder::open(&tmp).unwrap().load(&dev).err().unwrap();
    assert!(e.to_string().contains("not a safetensors file"), "{e}");
    std::fs::remove_dir_all(&tmp).ok();
}
