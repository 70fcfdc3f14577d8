//! `ssr2 bench`: time the SSR2 loss forward + backward at paper shape on a device.
//! A benchmark, not a test: `bench/ssr2_loss.py` runs it next to the PyTorch reference formula.

use crate::device::DeviceArgs;
use crate::fail::{Fail, Result};
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Args;
use ssr2_core::LogdetRoute;
use ssr2_core::loss::ssr2::{BatchLabels, Ssr2Config, rate_terms, ssr2_loss};
use ssr2_core::ops::l2_normalize;
use std::time::Instant;

/// Time one SSR2 loss evaluation (forward + backward, one modality, after warm-up: R of all
/// rows, R_c of the labelled half by labels, R_c of the unlabelled half by softmax memberships).
#[derive(Args)]
pub struct BenchArgs {
    /// Images per batch B (the batch has 2B rows: two views).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=4096), default_value_t = 128)]
    batch: usize,
    /// Feature dimension d.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8192), default_value_t = 512)]
    dim: usize,
    /// Number of classes K.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=10000), default_value_t = 200)]
    classes: usize,
    /// Timed repetitions (after one untimed warm-up run); the median is reported.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10000), default_value_t = 10)]
    reps: usize,
    /// Log-determinant route: auto (kernel on GPU devices, host on the CPU), host (f64 Cholesky
    /// on the CPU), tensor (on-device tensor ops) or kernel (one batched Cholesky kernel on a
    /// wgpu/CUDA device; host on the CPU).
    #[arg(long, default_value = "auto", value_parser = ["auto", "host", "tensor", "kernel"])]
    route: String,
    #[command(flatten)]
    device: DeviceArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.batch < 2 || args.dim == 0 || args.classes < 2 || args.reps == 0 {
        return Err(Fail::arg(
            "bench needs --batch >= 2, --dim >= 1, --classes >= 2, --reps >= 1",
        ));
    }
    let route = match args.route.as_str() {
        "host" => LogdetRoute::Host,
        "tensor" => LogdetRoute::Tensor,
        "kernel" => LogdetRoute::Kernel,
        _ => LogdetRoute::Auto,
    };
    let device = args.device.open()?.autodiff();
    device.seed(0);
    let (b, d, k) = (args.batch, args.dim, args.classes);
    let batch = BatchLabels {
        labelled: (0..b).map(|i| i % 2 == 0).collect(),
        labels: (0..b).map(|i| (i * 7) % (k / 2).max(1)).collect(),
    };
    let cfg = Ssr2Config {
        eps2: ssr2_core::loss::ssr2::EPS2,
        batch_size: b,
        route,
    };
    let z0 = l2_normalize(Tensor::<2>::random(
        [2 * b, d],
        Distribution::Normal(0.0, 1.0),
        &device,
    ));
    let logits0 = Tensor::<2>::random([2 * b, k], Distribution::Normal(0.0, 1.0), &device);
    let step = || {
        let z = z0.clone().detach().require_grad();
        let logits = logits0.clone().detach().require_grad();
        let terms = rate_terms(z.clone(), logits.clone(), &batch, false, &cfg)
            .expect("random unit rows have finite coding rates");
        let loss = ssr2_loss(&[terms], false, b);
        let grads = loss.clone().backward();
        let gz = z.grad(&grads).expect("z is tracked").sum();
        let gl = logits.grad(&grads).expect("logits are tracked").sum();
        let v = loss.try_into_vec_as::<f32>().expect("CPU read")[0];
        let _ = (gz.try_into_vec_as::<f32>(), gl.try_into_vec_as::<f32>());
        v
    };
    let loss = step();
    let mut times: Vec<f64> = (0..args.reps)
        .map(|_| {
            let t = Instant::now();
            step();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let route_name = format!("{:?}", route.resolve(&device)).to_lowercase();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"rows": 2 * b, "d": d, "K": k, "route": route_name, "device": args.device.device,
                "median_ms": median, "min_ms": times[0], "reps": args.reps, "loss": loss})
        );
    } else {
        println!(
            "SSR2 loss forward+backward, 2B = {} rows, d = {d}, K = {k}, half labelled",
            2 * b
        );
        println!(
            "{:<12} {:<10} {:>10} {:>10}",
            "device", "route", "median ms", "min ms"
        );
        println!(
            "{:<12} {:<10} {:>10.2} {:>10.2}",
            args.device.device, route_name, median, times[0]
        );
    }
    Ok(())
}
