//! `--device`: one flag, one parser and one start-up check for every command that computes.

use crate::fail::{Fail, Result};
use burn::prelude::*;

/// The device a command runs on.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Device: cpu (always available), wgpu or cuda (builds with those features); wgpu:N or
    /// cuda:N picks adapter N.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

impl DeviceArgs {
    /// The device, started (a GPU that cannot start is a one-line error).
    pub fn open(&self) -> Result<Device> {
        device(&self.device)
    }
}

/// The device index after `kind:` in `name` (`kind` alone is index 0).
fn device_index(name: &str, kind: &str) -> Result<Option<usize>> {
    let Some(rest) = name.strip_prefix(kind) else {
        return Ok(None);
    };
    match rest.strip_prefix(':') {
        None if rest.is_empty() => Ok(Some(0)),
        Some(i) => i.parse().map(Some).map_err(|_| {
            Fail::arg(format!(
                "--device {name}: expected {kind}:N with N a device index"
            ))
        }),
        None => Ok(None),
    }
}

/// A device by name: cpu, cuda, cuda:N, wgpu (the default adapter) or wgpu:N (discrete GPU N).
pub fn device(name: &str) -> Result<Device> {
    #[cfg(feature = "cuda")]
    if let Some(i) = device_index(name, "cuda")? {
        return started(
            Device::cuda(i),
            name,
            "it needs an NVIDIA driver (libcuda.so.1), NVRTC (libnvrtc.so on the library path) \
             and the CUDA headers (CUDA_PATH, default /usr/local/cuda)",
        );
    }
    #[cfg(feature = "wgpu")]
    if let Some(i) = device_index(name, "wgpu")? {
        let kind = match name {
            "wgpu" => burn::tensor::DeviceKind::default(),
            _ => burn::tensor::DeviceKind::DiscreteGpu(i),
        };
        return started(
            Device::wgpu(kind),
            name,
            "it needs a Vulkan, Metal or DX12 driver (`vulkaninfo` lists what Vulkan sees)",
        );
    }
    let _ = device_index;
    match name {
        "cpu" => Ok(Device::flex()),
        other if other.starts_with("cuda") || other.starts_with("wgpu") => {
            let kind = &other[..4];
            Err(Fail::arg(format!(
                "--device {other}: this build has no {kind} support (rebuild with `--features {kind}`)"
            )))
        }
        other => Err(Fail::arg(format!(
            "--device {other}: expected cpu, cuda, cuda:N, wgpu or wgpu:N"
        ))),
    }
}

/// Runs one tiny kernel so that a GPU which cannot start is a one-line error here instead of a
/// panic deep inside a run (Burn starts devices lazily and panics on failure, often on its own
/// device thread, so the first panic message from any thread is the one that says why).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn started(device: Device, name: &str, needs: &str) -> Result<Device> {
    use std::sync::{Arc, Mutex};
    let first: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = first.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none() {
            *seen = text;
        }
    }));
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // A computed value, not a fill: the kernel compiler (NVRTC/LLVM, WGSL) must work too.
        Tensor::<1>::ones([2], &device)
            .add_scalar(1.0)
            .sum()
            .into_data()
    }));
    std::panic::set_hook(hook);
    if probe.is_ok() {
        return Ok(device);
    }
    let why = first.lock().unwrap_or_else(|e| e.into_inner()).take();
    let why = why.unwrap_or_else(|| "unknown error".into());
    let why: Vec<&str> = why
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Err(Fail::arg(format!(
        "--device {name}: the device did not start ({}); {needs}",
        why.join(" ")
    )))
}
