//! "Classify your images": a CLIP folder's image tower and the run's image head on the page's
//! device. Dropped or picked images are decoded and preprocessed exactly as `ssr2 predict` does
//! (ssr2-data), embedded in chunks (ssr2-clip), classified (ssr2-train's heads, ssr2-core's
//! prediction) and named (ssr2-view), then shown grouped by predicted category.

use super::{ErrorBox, files_of};
use super::model::{Models, Weights, read_bytes};
use crate::backend::Backend;
use leptos::prelude::*;
use leptos::task::spawn_local;
use ssr2_view::RunReport;
use ssr2_view::predict::{confidence, matched_class};
use std::rc::Rc;
use wasm_bindgen::JsCast;

/// Images per forward pass; the page repaints between chunks.
const CHUNK: usize = 16;

/// One classified image, as shown and as the e2e test reads it.
#[derive(Clone, Debug)]
struct Item {
    file: String,
    thumb: String,
    cluster: usize,
    class: String,
    old: bool,
    confidence: f64,
}

/// What the user gave so far; the built models are kept until an input changes.
#[derive(Default)]
struct Inputs {
    clip: Option<Weights>,
    heads: Option<(String, Vec<u8>)>,
    built: Option<Rc<Models>>,
}

fn input_files(ev: &web_sys::Event) -> Vec<web_sys::File> {
    let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
    let files = files_of(input.files());
    input.set_value("");
    files
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// The wasm module's linear memory in MB (it only grows): what the weights, the CPU device's
/// tensors and the decoded images cost the page.
fn wasm_mb() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| b.byte_length() as f64 / 1e6)
}

/// A small picture of the image for the gallery: the file itself when small, else a PNG of it
/// scaled to 128 px on the short side.
fn thumbnail(bytes: &[u8], img: &ssr2_data::image::RgbImage, mime: &str) -> String {
    let b64 = ssr2_view::image::base64;
    if bytes.len() <= 256 * 1024 && !mime.is_empty() {
        return format!("data:{mime};base64,{}", b64(bytes));
    }
    let small = ssr2_data::resize_short_side(img, 128);
    ssr2_data::encode_png(&small)
        .map(|png| format!("data:image/png;base64,{}", b64(&png)))
        .unwrap_or_default()
}

/// Embeds, classifies and names `files` chunk by chunk, reporting progress.
async fn classify(
    files: Vec<web_sys::File>,
    models: &Models,
    report: &RunReport,
    progress: RwSignal<(usize, usize)>,
    items: RwSignal<Vec<Item>>,
) -> Result<(), String> {
    let s = models.image_size();
    progress.set((0, files.len()));
    for (c, chunk) in files.chunks(CHUNK).enumerate() {
        let mut pixels = Vec::with_capacity(chunk.len() * 3 * s * s);
        let mut shown = Vec::with_capacity(chunk.len());
        for f in chunk {
            let name = f.name();
            let bytes = read_bytes(f).await?;
            let img = ssr2_data::decode_rgb(&bytes, &name).map_err(|e| e.to_string())?;
            pixels.extend(ssr2_data::test_transform(
                &img,
                s as u32,
                ssr2_data::CLIP_MEAN,
                ssr2_data::CLIP_STD,
            ));
            shown.push((name, thumbnail(&bytes, &img, &f.type_())));
        }
        let (logits, preds, k) = models.predict(pixels, chunk.len()).await?;
        let new: Vec<Item> = shown
            .into_iter()
            .enumerate()
            .map(|(i, (file, thumb))| {
                let cluster = preds[i];
                let (class, old) = matched_class(report, cluster);
                Item {
                    file,
                    thumb,
                    cluster,
                    class,
                    old,
                    confidence: confidence(&logits[i * k..(i + 1) * k], None),
                }
            })
            .collect();
        items.update(|v| v.extend(new));
        progress.set((c * CHUNK + chunk.len(), files.len()));
        // Let the page repaint the progress bar and the gallery so far.
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
    Ok(())
}

/// Items grouped by category: old classes in class order, then the discovered ones, then
/// clusters no class was matched to.
fn groups(report: &RunReport, items: &[Item]) -> Vec<(String, bool, Vec<Item>)> {
    let mut out: Vec<(String, bool, Vec<Item>)> = Vec::new();
    for it in items {
        match out.iter_mut().find(|g| g.0 == it.class) {
            Some(g) => g.2.push(it.clone()),
            None => out.push((it.class.clone(), it.old, vec![it.clone()])),
        }
    }
    let rank = |class: &str, old: bool| {
        let idx = report.dataset.class_names.iter().position(|n| n == class);
        let num = |p: &str| class.strip_prefix(p).and_then(|v| v.parse::<usize>().ok());
        match (old, num("new-"), num("unmatched-")) {
            (true, _, _) => (0, idx.unwrap_or(0)),
            (false, Some(c), _) => (1, c),
            (false, _, Some(c)) => (2, c),
            _ => (3, 0),
        }
    };
    out.sort_by_key(|g| rank(&g.0, g.1));
    out
}

#[component]
pub fn Classify(report: RunReport, backend: Backend) -> impl IntoView {
    let error = use_context::<ErrorBox>().expect("explorer error box").0;
    let inputs = StoredValue::new_local(Inputs::default());
    let clip_name = RwSignal::new(String::new());
    let heads_name = RwSignal::new(String::new());
    let progress = RwSignal::new((0usize, 0usize));
    let busy = RwSignal::new(false);
    let items: RwSignal<Vec<Item>> = RwSignal::new(Vec::new());
    let note = RwSignal::new(String::new());
    let device_name = if backend.gpu { "WebGPU" } else { "CPU (flex)" };
    // Refuse a run the page cannot classify for as soon as it is shown.
    if let Err(e) = super::model::check_run(&report) {
        error.set(Some(e));
    }

    let on_clip = move |files: Vec<web_sys::File>| {
        spawn_local(async move {
            match Weights::open(files).await {
                Ok(w) => {
                    clip_name.set(w.describe());
                    inputs.update_value(|s| {
                        s.clip = Some(w);
                        s.built = None;
                    });
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let on_heads = move |files: Vec<web_sys::File>| {
        spawn_local(async move {
            let read = match files.as_slice() {
                [f] => read_bytes(f).await.map(|b| (f.name(), b)),
                _ => Err(format!(
                    "choose one heads.safetensors (got {} files)",
                    files.len()
                )),
            };
            match read {
                Ok((name, bytes)) => {
                    heads_name.set(format!("{name} ({} bytes)", bytes.len()));
                    inputs.update_value(|s| {
                        s.heads = Some((name, bytes));
                        s.built = None;
                    });
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // Held by the arena, so that the image handler below is `Copy` (used by drop and picker).
    let run = StoredValue::new_local((report.clone(), backend.device.clone()));
    let on_images = move |files: Vec<web_sys::File>| {
        if files.is_empty() || busy.get_untracked() {
            return;
        }
        let (report, device) = run.get_value();
        busy.set(true);
        items.set(Vec::new());
        note.set(String::new());
        spawn_local(async move {
            let t0 = now_ms();
            let built = inputs.with_value(|s| s.built.clone());
            let models = match built {
                Some(m) => Ok(m),
                None => {
                    let out = inputs.with_value(|s| {
                        Models::build(s.clip.as_ref(), s.heads.as_ref(), &report, &device)
                    });
                    out.map(Rc::new)
                }
            };
            let t1 = now_ms();
            let n = files.len();
            let out = match models {
                Ok(m) => {
                    inputs.update_value(|s| s.built = Some(m.clone()));
                    classify(files, &m, &report, progress, items).await
                }
                Err(e) => Err(e),
            };
            let t2 = now_ms();
            match out {
                Ok(()) => {
                    error.set(None);
                    note.set(format!(
                        "{n} images embedded on {device_name} in {:.2} s ({:.1} ms per image; model built in {:.2} s; wasm memory {:.0} MB)",
                        (t2 - t1) / 1e3,
                        (t2 - t1) / n as f64,
                        (t1 - t0) / 1e3,
                        wasm_mb()
                    ));
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let dragging = RwSignal::new(false);
    let report_g = report.clone();
    view! {
        <p class="note">"Give the CLIP folder the run's bundle was extracted with (its "
            <code>"config.json"</code>" and "<code>"model.safetensors"</code>
            "; image tower only) and the run's "<code>"heads.safetensors"</code>
            ", then drop or pick images: each is embedded on this page's device and given the cluster and class "
            <code>"ssr2 predict"</code>" would give it."</p>
        <p>
            <label class="button">"CLIP files"
                <input id="clip-files" type="file" multiple accept=".json,.safetensors"
                    on:change=move |ev| on_clip(input_files(&ev))/></label>
            " " <span id="clip-name">{move || clip_name.get()}</span>
        </p>
        <p>
            <label class="button">"heads.safetensors"
                <input id="heads-file" type="file" accept=".safetensors"
                    on:change=move |ev| on_heads(input_files(&ev))/></label>
            " " <span id="heads-name">{move || heads_name.get()}</span>
        </p>
        <div class="drop images"
            class:dragging=move || dragging.get()
            on:dragover=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(false);
                on_images(files_of(ev.data_transfer().and_then(|d| d.files())));
            }
        >
            "Drop images here, or "
            <label class="button">"choose images"
                <input id="image-files" type="file" multiple accept="image/png,image/jpeg,image/bmp"
                    on:change=move |ev| on_images(input_files(&ev))/></label>
        </div>
        <p>
            <progress id="classify-progress"
                max=move || progress.get().1.max(1).to_string()
                value=move || progress.get().0.to_string()></progress>
            " " {move || { let (d, n) = progress.get(); if n > 0 { format!("{d} / {n} images") } else { String::new() } }}
        </p>
        <p id="classify-device" class="note">{move || note.get()}</p>
        <div id="gallery" data-done=move || (!busy.get() && !items.get().is_empty()).to_string()>
            {move || groups(&report_g, &items.get()).into_iter().map(|(class, old, members)| {
                let title = if old { format!("{class} (old class)") } else { format!("{class} (discovered)") };
                let count = members.len();
                view! {
                    <div class="gallery-group" data-category=class.clone()>
                        <h4>{format!("{title}: {count} image{}", if count == 1 { "" } else { "s" })}</h4>
                        {members.into_iter().map(|it| view! {
                            <figure class="gallery-item"
                                data-file=it.file.clone()
                                data-cluster=it.cluster.to_string()
                                data-class=it.class.clone()
                                data-confidence=it.confidence.to_string()>
                                <img src=it.thumb.clone() alt=it.file.clone()/>
                                <figcaption>{format!("{} · cluster {} · {:.1}%", it.file, it.cluster, 100.0 * it.confidence)}</figcaption>
                            </figure>
                        }).collect_view()}
                    </div>
                }
            }).collect_view()}
        </div>
    }
}
