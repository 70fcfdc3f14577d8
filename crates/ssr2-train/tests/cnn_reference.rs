//! The CNN adapter against PyTorch (`tests/reference/make_cnn_reference.py`): features, the
//! gradient of every weight and the batch norms' running statistics after one training forward.

use burn::module::Param;
use burn::nn::{BatchNormConfig, LinearConfig};
use burn::prelude::*;
use serde_json::Value;
use ssr2_head::Adapter;
use ssr2_head::conv::ConvStem;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/cnn_reference.json"
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

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// PyTorch's parameter `name` with its own shape, transposed when `transpose` (Linear weights:
/// PyTorch stores `[out, in]`, Burn `[in, out]`).
fn param<const D: usize>(
    r: &Value,
    name: &str,
    transpose: bool,
    device: &Device,
) -> Param<Tensor<D>> {
    let p = &r["params"][name];
    let shape: Vec<usize> = p["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as usize)
        .collect();
    let t = tensor::<D>(floats(&p["values"]), shape.try_into().unwrap(), device);
    Param::from_tensor(if transpose { t.transpose() } else { t }).set_require_grad(true)
}

/// Largest error relative to the largest reference magnitude, floored at 0.1: a convolution's
/// bias in front of a batch norm has a zero gradient in exact arithmetic, f32 rounding noise here.
fn max_rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().map(|v| v.abs() as f64).fold(0.1, f64::max);
    got.iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - *b as f64).abs() / scale)
        .fold(0.0, f64::max)
}

#[test]
fn cnn_adapter_matches_pytorch() {
    let r = reference();
    let device = Device::flex().autodiff();
    let dim = |k: &str| r[k].as_u64().unwrap() as usize;
    let (n, side, c, hidden, out) = (
        dim("n"),
        dim("side"),
        dim("channels"),
        dim("hidden"),
        dim("out"),
    );
    let mut stem = ConvStem::new(side, c, &device);
    for (b, (conv, bn)) in stem
        .blocks
        .iter_mut()
        .zip([("conv1", "bn1"), ("conv2", "bn2")])
    {
        b.conv.weight = param(&r, &format!("{conv}.weight"), false, &device);
        b.conv.bias = Some(param(&r, &format!("{conv}.bias"), false, &device));
        b.norm.gamma = param(&r, &format!("{bn}.weight"), false, &device);
        b.norm.beta = param(&r, &format!("{bn}.bias"), false, &device);
    }
    let mut first = LinearConfig::new(ConvStem::out_dim(side, c), hidden).init(&device);
    first.weight = param(&r, "fc1.weight", true, &device);
    first.bias = Some(param(&r, "fc1.bias", false, &device));
    let mut bn3 = BatchNormConfig::new(hidden).init(&device);
    bn3.gamma = param(&r, "bn3.weight", false, &device);
    bn3.beta = param(&r, "bn3.bias", false, &device);
    let mut second = LinearConfig::new(hidden, out).init(&device);
    second.weight = param(&r, "fc2.weight", true, &device);
    second.bias = Some(param(&r, "fc2.bias", false, &device));
    let adapter = Adapter {
        norm: None,
        conv: Some(stem),
        first,
        hidden_norm: Some(bn3),
        second: Some(second),
    };

    let x = tensor(floats(&r["x"]), [n, side * side], &device);
    let g = tensor(floats(&r["g"]), [n, out], &device);
    let z = adapter.forward(x);
    let grads = (z.clone() * g).sum().backward();
    let read = |t: Tensor<1>| t.try_into_vec_as::<f32>().unwrap();
    let flat = |t: Tensor<4>| read(t.flatten(0, 3));
    // f32 against f64: features and gradients within 1e-5 of their largest magnitude.
    let tol = 1e-5;
    let e = max_rel_err(&read(z.flatten(0, 1)), &floats(&r["z"]));
    assert!(e < tol, "features: {e:e}");
    let check = |name: &str, got: Vec<f32>| {
        let e = max_rel_err(&got, &floats(&r["grads"][name]));
        assert!(e < tol, "gradient of {name}: {e:e}");
    };
    let a = &adapter;
    let stem = a.conv.as_ref().unwrap();
    for (b, (conv, bn)) in stem.blocks.iter().zip([("conv1", "bn1"), ("conv2", "bn2")]) {
        check(
            &format!("{conv}.weight"),
            flat(b.conv.weight.grad(&grads).unwrap()),
        );
        let bias = b.conv.bias.as_ref().unwrap();
        check(&format!("{conv}.bias"), read(bias.grad(&grads).unwrap()));
        check(
            &format!("{bn}.weight"),
            read(b.norm.gamma.grad(&grads).unwrap()),
        );
        check(
            &format!("{bn}.bias"),
            read(b.norm.beta.grad(&grads).unwrap()),
        );
    }
    let t2 = |t: Tensor<2>| read(t.transpose().flatten(0, 1));
    check("fc1.weight", t2(a.first.weight.grad(&grads).unwrap()));
    check(
        "fc1.bias",
        read(a.first.bias.as_ref().unwrap().grad(&grads).unwrap()),
    );
    let bn3 = a.hidden_norm.as_ref().unwrap();
    check("bn3.weight", read(bn3.gamma.grad(&grads).unwrap()));
    check("bn3.bias", read(bn3.beta.grad(&grads).unwrap()));
    let second = a.second.as_ref().unwrap();
    check("fc2.weight", t2(second.weight.grad(&grads).unwrap()));
    check(
        "fc2.bias",
        read(second.bias.as_ref().unwrap().grad(&grads).unwrap()),
    );

    // Running statistics after the training forward: what evaluation normalises with. Burn
    // moves the running variance towards the biased batch variance, PyTorch towards the unbiased
    // one (times m / (m - 1), m values per feature); the expected values undo that factor.
    let norms = [&stem.blocks[0].norm, &stem.blocks[1].norm, bn3];
    let per_feature = [n * side * side, n * (side / 2).pow(2), n];
    for ((bn, name), m) in norms
        .into_iter()
        .zip(["bn1", "bn2", "bn3"])
        .zip(per_feature)
    {
        let mean = read(bn.running_mean.value_sync());
        let e = max_rel_err(&mean, &floats(&r["running"][name]["mean"]));
        assert!(e < tol, "{name} running mean: {e:e}");
        let biased: Vec<f32> = floats(&r["running"][name]["var"])
            .iter()
            .map(|v| 0.9 + (v - 0.9) * (m - 1) as f32 / m as f32)
            .collect();
        let e = max_rel_err(&read(bn.running_var.value_sync()), &biased);
        assert!(e < tol, "{name} running var: {e:e}");
    }
}
