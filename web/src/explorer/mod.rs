//! The run explorer: open one or more `report.json` files (drag-and-drop, file picker or
//! `?run=<url>[,<url>…]`) and see what the run learned. Several files = several seeds.

mod classify;
mod infer;
mod model;
mod scatter;
mod sections;

use crate::backend::Backend;
use leptos::prelude::*;
use leptos::task::spawn_local;
use sections::Report;
use ssr2_view::RunReport;
use wasm_bindgen::JsCast;

/// The explorer's error line (`#error`), shared with the sections that take files.
#[derive(Clone, Copy)]
pub struct ErrorBox(pub RwSignal<Option<String>>);

/// Reports on screen, with where each came from.
pub type Runs = Vec<(String, RunReport)>;

async fn read_file(file: web_sys::File) -> Result<(String, String), String> {
    let name = file.name();
    let file = gloo_file::File::from(file);
    gloo_file::futures::read_as_text(&file)
        .await
        .map(|t| (name.clone(), t))
        .map_err(|e| format!("{name}: cannot read the file ({e})"))
}

async fn read_url(url: String) -> Result<(String, String), String> {
    let resp = gloo_net::http::Request::get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: download failed ({e})"))?;
    if !resp.ok() {
        return Err(format!(
            "{url}: the server answered {} {}",
            resp.status(),
            resp.status_text()
        ));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{url}: cannot read the answer ({e})"))?;
    Ok((url, text))
}

/// Parse everything; on any failure keep what was shown before and report the first error.
fn accept(
    loaded: Vec<Result<(String, String), String>>,
    runs: RwSignal<Runs>,
    error: RwSignal<Option<String>>,
) {
    let mut out = Vec::new();
    for item in loaded {
        match item
            .and_then(|(origin, text)| ssr2_view::parse_report(&text, &origin).map(|r| (origin, r)))
        {
            Ok(run) => out.push(run),
            Err(e) => {
                error.set(Some(e));
                return;
            }
        }
    }
    if out.is_empty() {
        return;
    }
    error.set(None);
    runs.set(out);
}

/// The files of a file input or a drop, in order.
pub(super) fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
        .unwrap_or_default()
}

#[component]
pub fn Explorer(backend: Backend) -> impl IntoView {
    let runs: RwSignal<Runs> = RwSignal::new(Vec::new());
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let loading = RwSignal::new(false);
    provide_context(ErrorBox(error));
    let open_files = move |files: Vec<web_sys::File>| {
        if files.is_empty() {
            return;
        }
        loading.set(true);
        spawn_local(async move {
            let mut loaded = Vec::new();
            for f in files {
                loaded.push(read_file(f).await);
            }
            accept(loaded, runs, error);
            loading.set(false);
        });
    };
    if let Some(urls) = crate::frame::query_param("run") {
        loading.set(true);
        spawn_local(async move {
            let mut loaded = Vec::new();
            for url in urls.split(',').filter(|u| !u.is_empty()) {
                loaded.push(read_url(url.to_string()).await);
            }
            accept(loaded, runs, error);
            loading.set(false);
        });
    }
    let dragging = RwSignal::new(false);
    view! {
        <section
            class="drop"
            class:dragging=move || dragging.get()
            on:dragover=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(false);
                open_files(files_of(ev.data_transfer().and_then(|d| d.files())));
            }
        >
            <p>
                "Drop one " <code>"report.json"</code> " here (several = several seeds of one run), or "
                <label class="button">
                    "choose files"
                    <input id="file-input" type="file" accept=".json,application/json" multiple
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
                            open_files(files_of(input.files()));
                            input.set_value("");
                        }/>
                </label>
                ", or open " <code>"?run=<url>"</code> ". "
                <code>"ssr2 train"</code> " writes one per seed under " <code>"runs/…/seed-N/"</code> "."
            </p>
            <Show when=move || loading.get()><p>"Loading…"</p></Show>
            {move || error.get().map(|e| view! { <p id="error" class="error">{e}</p> })}
        </section>
        {move || {
            let r = runs.get();
            (!r.is_empty()).then(|| view! { <Report runs=r backend=backend.clone()/> })
        }}
    }
}
