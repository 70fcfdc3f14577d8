//! Gradients of the training losses against PyTorch autograd (tests/reference/
//! make_grad_reference.py, float64, written from SPEC §3-6 as the authors' code computes them):
//! dL/dZ and dL/dlogits of the SSR2 loss (warm-up and full), the classification block, the
//! pseudo-label loss and their sum. This guards the stop-gradient rules: the self-distillation
//! teacher is detached, `P = softmax(logits)` in R_c^u is not. The reference also holds the
//! gradients under the wrong rules; ours must be far from those.

use burn::prelude::*;
use serde_json::Value;
use ssr2_core::coteach::pseudo_label_loss;
use ssr2_core::logdet::LogdetRoute;
use ssr2_core::loss::cluster::{ClusterConfig, branch_loss};
use ssr2_core::loss::ssr2::{BatchLabels, Ssr2Config, rate_terms, ssr2_loss};

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/grad_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Loss, dL/dZ, dL/dlogits of `loss(z, logits)` by Burn autodiff on the CPU device.
fn ours(
    r: &Value,
    route: LogdetRoute,
    loss: impl Fn(Tensor<2>, Tensor<2>, LogdetRoute) -> Tensor<1>,
) -> (f32, Vec<f32>, Vec<f32>) {
    let device = Device::flex().autodiff();
    let (b, d, k) = (
        r["B"].as_u64().unwrap() as usize,
        r["d"].as_u64().unwrap() as usize,
        r["K"].as_u64().unwrap() as usize,
    );
    let z = Tensor::<2>::from_data(TensorData::new(floats(&r["z"]), [2 * b, d]), &device)
        .require_grad();
    let logits = Tensor::<2>::from_data(TensorData::new(floats(&r["logits"]), [2 * b, k]), &device)
        .require_grad();
    let l = loss(z.clone(), logits.clone(), route);
    let value = l.clone().try_into_vec_as::<f32>().unwrap()[0];
    let grads = l.backward();
    let read = |g: Option<Tensor<2>>, n: usize| match g {
        Some(g) => g.try_into_vec_as::<f32>().unwrap(),
        None => vec![0.0; n],
    };
    (
        value,
        read(z.grad(&grads), 2 * b * d),
        read(logits.grad(&grads), 2 * b * k),
    )
}

fn batch(r: &Value) -> BatchLabels {
    BatchLabels {
        labelled: r["labelled"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect(),
        labels: r["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect(),
    }
}

fn ssr2_term(
    r: &Value,
    z: Tensor<2>,
    logits: Tensor<2>,
    warmup: bool,
    route: LogdetRoute,
) -> Tensor<1> {
    let b = r["B"].as_u64().unwrap() as usize;
    let cfg = Ssr2Config {
        eps2: r["eps2"].as_f64().unwrap(),
        batch_size: b,
        route,
    };
    let terms = rate_terms(z, logits, &batch(r), warmup, &cfg).unwrap();
    ssr2_loss(&[terms], warmup, b)
}

fn branch_term(r: &Value, logits: Tensor<2>) -> Tensor<1> {
    let cfg = ClusterConfig {
        sup_temp: r["sup_temp"].as_f64().unwrap(),
        student_temp: r["student_temp"].as_f64().unwrap(),
        memax_weight: r["memax_weight"].as_f64().unwrap(),
        sup_weight: r["sup_weight"].as_f64().unwrap(),
    };
    branch_loss(logits, &batch(r), r["teacher_temp"].as_f64().unwrap(), &cfg).total
}

fn pseudo_term(r: &Value, logits: Tensor<2>) -> Tensor<1> {
    let chosen: Vec<Option<usize>> = r["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| usize::try_from(v.as_i64().unwrap()).ok())
        .collect();
    pseudo_label_loss(logits, &chosen, r["sup_temp"].as_f64().unwrap())
}

/// Loss to 1e-4 relative; gradients to 1e-4 of their largest entry (float32 against float64).
fn check(r: &Value, case: &str, got: (f32, Vec<f32>, Vec<f32>)) {
    let want = &r["cases"][case];
    let loss = want["loss"].as_f64().unwrap() as f32;
    assert!(
        (got.0 - loss).abs() <= 1e-4 * loss.abs().max(1e-3),
        "{case}: loss {} vs {loss}",
        got.0
    );
    for (name, g) in [("dz", &got.1), ("dlogits", &got.2)] {
        let w = floats(&want[name]);
        let scale = w.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
        let err = max_abs(g, &w);
        assert!(
            err <= 1e-4 * scale + 1e-7,
            "{case} {name}: max abs diff {err} (scale {scale})"
        );
    }
}

#[test]
fn ssr2_gradients_match_autograd_and_p_is_not_detached() {
    let r = reference();
    for route in [LogdetRoute::Host, LogdetRoute::Tensor, LogdetRoute::Kernel] {
        let warm = ours(&r, route, |z, l, route| ssr2_term(&r, z, l, true, route));
        check(&r, "ssr2_warmup", warm);
        let full = ours(&r, route, |z, l, route| ssr2_term(&r, z, l, false, route));
        // P = softmax(logits) carries gradient: far from the detached variant (all zero).
        let wrong = floats(&r["cases"]["wrong_p_detached"]["dlogits"]);
        let right = floats(&r["cases"]["ssr2"]["dlogits"]);
        assert!(max_abs(&full.2, &wrong) > 0.5 * max_abs(&right, &wrong));
        check(&r, "ssr2", full);
    }
}

#[test]
fn classification_and_pseudo_label_gradients_match_autograd_with_the_teacher_detached() {
    let r = reference();
    let route = LogdetRoute::Host;
    let branch = ours(&r, route, |_, l, _| branch_term(&r, l));
    let wrong = floats(&r["cases"]["wrong_teacher_not_detached"]["dlogits"]);
    let right = floats(&r["cases"]["branch"]["dlogits"]);
    assert!(max_abs(&branch.2, &wrong) > 0.5 * max_abs(&right, &wrong));
    check(&r, "branch", branch);
    check(&r, "pseudo", ours(&r, route, |_, l, _| pseudo_term(&r, l)));
    let total = ours(&r, route, |z, l, route| {
        ssr2_term(&r, z, l.clone(), false, route) + branch_term(&r, l.clone()) + pseudo_term(&r, l)
    });
    check(&r, "total", total);
}
