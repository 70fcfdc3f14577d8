//! One fine-tune step against the authors' own training loop
//! (tests/reference/make_onestep_reference.py runs their `clip/model.py`, `model.py` and
//! `loss.py` on a tiny random CLIP and stores it converted to the Hugging Face layout): the same
//! pre-drawn image views, token ids, labels and co-teaching selections go through our forward
//! pass, `batch_loss` and the two-group SGD step. Loss terms to 1e-4 relative; features and
//! logits before and after the step to 1e-4 absolute. In warm-up (epoch 0) and after it with
//! both co-teaching directions (epoch 16).

use burn::optim::GradientsParams;
use burn::prelude::*;
use serde_json::Value;
use ssr2_clip::{ClipFolder, Tokens};
use ssr2_core::classifier::CosineClassifier;
use ssr2_core::loss::ssr2::BatchLabels;
use ssr2_core::rta::{RtaConfig, aggregate};
use ssr2_train::config::LossConfig;
use ssr2_train::finetune::forward::{encode_by_length, image_features_from_pixels};
use ssr2_train::finetune::model::split;
use ssr2_train::finetune::{Frozen, Trainable};
use ssr2_train::objective::{BatchContext, ModalityOut, batch_loss};
use ssr2_train::optim::Sgd;
use std::collections::HashMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/onestep")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Features and logits of both branches on the reference's inputs.
struct Forward {
    image: ModalityOut,
    text: ModalityOut,
}

fn forward(r: &Value, frozen: &Frozen, trainable: &Trainable, device: &Device) -> Forward {
    let (b, t, a, s) = (
        usize_of(&r["B"]),
        usize_of(&r["T"]),
        usize_of(&r["A"]),
        usize_of(&r["image_size"]),
    );
    let z_img = image_features_from_pixels(frozen, trainable, floats(&r["images"]), s, device);
    // Rows 0..2B (view 1 of every image, then view 2): bases, tags [row, t], attributes [row, a].
    let rows = 2 * b;
    let base: Vec<Vec<u32>> = (0..rows).map(|i| ints(&r["base"][i])).collect();
    let mut seqs = base;
    for i in 0..rows {
        seqs.extend((0..t).map(|k| ints(&r["tags"][k][i])));
    }
    for i in 0..rows {
        seqs.extend((0..a).map(|k| ints(&r["attributes"][k][i])));
    }
    let tokens: Tokens = ssr2_clip::tokenizer::pad(&seqs);
    let z = encode_by_length(frozen, trainable, &tokens, None, device);
    let d = z.dims()[1];
    let base = z.clone().slice([0..rows, 0..d]);
    let tags = z
        .clone()
        .slice([rows..rows + rows * t, 0..d])
        .reshape([rows, t, d]);
    let attrs = z
        .slice([rows + rows * t..rows * (1 + t + a), 0..d])
        .reshape([rows, a, d]);
    let z_txt = aggregate(Some(base), tags, attrs, &RtaConfig::default());
    let text_head = trainable.text_head.as_ref().unwrap();
    Forward {
        image: ModalityOut {
            logits: trainable.image_head.forward(z_img.clone()),
            z: z_img,
        },
        text: ModalityOut {
            logits: text_head.forward(z_txt.clone()),
            z: z_txt,
        },
    }
}

fn check_outputs(f: &Forward, want: &Value, what: &str) {
    let pairs = [
        ("image_features", values(f.image.z.clone())),
        ("text_features", values(f.text.z.clone())),
        ("image_logits", values(f.image.logits.clone())),
        ("text_logits", values(f.text.logits.clone())),
    ];
    for (name, got) in pairs {
        let err = max_abs(&got, &floats(&want[name]));
        eprintln!("{what} {name}: max abs diff {err:.2e}");
        assert!(err < 1e-4, "{what} {name}: max abs diff {err}");
    }
}

fn head(r: &Value, name: &str, k: usize, device: &Device) -> CosineClassifier {
    let v = floats(&r[name]["v"]);
    let d = v.len() / k;
    CosineClassifier::from_tensors(
        Tensor::from_data(TensorData::new(v, [k, d]), device),
        Tensor::from_data(TensorData::new(floats(&r[name]["g"]), [k]), device),
    )
}

/// Per row of the batch (both views), the pseudo-label of its image, if selected.
fn pseudo(r: &Value, key: &str, b: usize) -> Vec<Option<usize>> {
    let map: HashMap<usize, usize> = r[key]
        .as_object()
        .unwrap()
        .iter()
        .map(|(i, c)| (i.parse().unwrap(), usize_of(c)))
        .collect();
    (0..2 * b).map(|row| map.get(&(row % b)).copied()).collect()
}

#[test]
fn one_step_equals_the_authors_training_loop() {
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap())
            .unwrap();
    let (b, k) = (usize_of(&r["B"]), usize_of(&r["K"]));
    let ad = Device::flex().autodiff();
    for step in r["steps"].as_array().unwrap() {
        let epoch = step["epoch"].as_u64().unwrap();
        let clip = ClipFolder::open(&dir()).unwrap().load(&ad).unwrap();
        let (frozen, mut trainable) = split(clip, k, true, 0, &ad);
        trainable.image_head = head(&r, "image_head", k, &ad);
        trainable.text_head = Some(head(&r, "text_head", k, &ad));
        let trainable = trainable.set_require_grad(false).set_require_grad(true);
        let before = forward(&r, &frozen, &trainable, &ad);
        check_outputs(
            &before,
            &step["before"],
            &format!("epoch {epoch} before the step"),
        );
        let ctx = BatchContext {
            labels: BatchLabels {
                labelled: r["labelled"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_bool().unwrap())
                    .collect(),
                labels: ints(&r["labels"]).iter().map(|&y| y as usize).collect(),
            },
            pseudo_for_image: step["pseudo_for_image"]
                .as_bool()
                .unwrap()
                .then(|| pseudo(&r, "pseudo_for_image", b)),
            pseudo_for_text: step["pseudo_for_text"]
                .as_bool()
                .unwrap()
                .then(|| pseudo(&r, "pseudo_for_text", b)),
            warmup: step["warmup"].as_bool().unwrap(),
            teacher_temp: step["teacher_temp"].as_f64().unwrap(),
        };
        let loss = batch_loss(
            &before.image,
            Some(&before.text),
            &ctx,
            &LossConfig::default(),
            b,
        )
        .unwrap();
        let terms = values(loss.terms.clone());
        let want = &step["loss"];
        let pairs = [
            ("total", terms[0]),
            ("rep", terms[1] + terms[2]),
            ("cls", terms[9] + terms[10]),
            ("pseudo", terms[11]),
        ];
        for (name, got) in pairs {
            let w = want[name].as_f64().unwrap() as f32;
            eprintln!("epoch {epoch} loss {name}: {got} vs {w}");
            assert!(
                (got - w).abs() <= 1e-4 * w.abs().max(1e-2),
                "epoch {epoch} loss {name}: {got} vs {w}"
            );
        }
        let mut grads = GradientsParams::from_grads(loss.total.backward(), &trainable);
        let (lr_head, lr_base) = (
            r["cls_lr"].as_f64().unwrap(),
            r["base_lr"].as_f64().unwrap(),
        );
        let trainable = Sgd::default().step(trainable, &mut grads, &|path: &str| {
            if path.starts_with("image_head") || path.starts_with("text_head") {
                lr_head
            } else {
                lr_base
            }
        });
        let after = forward(&r, &frozen.valid(), &trainable.valid(), &Device::flex());
        check_outputs(
            &after,
            &step["after"],
            &format!("epoch {epoch} after the step"),
        );
    }
}
