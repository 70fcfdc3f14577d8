//! Picking the compute device at run time: Burn's WebGPU device when the browser offers an
//! adapter, the pure-Rust CPU device (flex) otherwise. One wasm build carries both.

use burn::tensor::Device;

/// The device the page computes on, and how it is named on screen.
#[derive(Clone, Debug)]
pub struct Backend {
    pub device: Device,
    /// Shown in the header: "WebGPU" or "CPU (flex)" plus why WebGPU was not used.
    pub label: String,
    pub gpu: bool,
}

/// WebGPU if available (and not turned off with `?backend=cpu`), else CPU.
pub async fn pick() -> Backend {
    let cpu = |why: String| Backend {
        device: Device::flex(),
        label: format!("CPU (flex) — {why}"),
        gpu: false,
    };
    if crate::frame::query_param("backend").as_deref() == Some("cpu") {
        return cpu("chosen with ?backend=cpu".into());
    }
    let has_gpu = web_sys::window()
        .map(|w| {
            js_sys::Reflect::get(&w.navigator(), &"gpu".into())
                .map(|v| !v.is_undefined())
                .unwrap_or(false)
        })
        .unwrap_or(false);
    if !has_gpu {
        return cpu("this browser offers no WebGPU".into());
    }
    match Device::wgpu_options().init_async().await {
        Ok(device) => Backend {
            device,
            label: "WebGPU".into(),
            gpu: true,
        },
        Err(e) => {
            // The full error is long (every backend it tried); keep it for the console only.
            leptos::logging::log!("WebGPU unavailable: {e:?}");
            cpu("no WebGPU adapter".into())
        }
    }
}
