//! The browser app: a run explorer (opens `report.json` files of `ssr2 train`) and a live
//! rate-reduction playground (trains a tiny encoder with `ssr2-core` on the page's device).

mod backend;
mod charts;
mod explorer;
mod frame;
mod playground;

use backend::Backend;
use explorer::Explorer;
use leptos::prelude::*;
use playground::Playground;
use wasm_bindgen::prelude::*;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Explorer,
    Playground,
}

#[component]
fn App() -> impl IntoView {
    let start = if frame::query_param("view").as_deref() == Some("playground") {
        Tab::Playground
    } else {
        Tab::Explorer
    };
    let (tab, set_tab) = signal(start);
    // The device is picked once (WebGPU if the browser offers an adapter, else CPU) and shared.
    let backend: RwSignal<Option<Backend>> = RwSignal::new(None);
    leptos::task::spawn_local(async move {
        backend.set(Some(backend::pick().await));
    });
    let backend_label = move || {
        backend
            .get()
            .map_or_else(|| "picking device…".to_string(), |b| b.label)
    };
    view! {
        <header>
            <h1>"SSR2-GCD"</h1>
            <nav>
                <button id="tab-explorer" class:active=move || tab.get() == Tab::Explorer
                    on:click=move |_| set_tab.set(Tab::Explorer)>"Run explorer"</button>
                <button id="tab-playground" class:active=move || tab.get() == Tab::Playground
                    on:click=move |_| set_tab.set(Tab::Playground)>"Rate-reduction playground"</button>
            </nav>
            <span class="backend" id="backend">"device: " {backend_label}</span>
        </header>
        <main>
            <Show when=move || backend.get().is_some()
                fallback=|| view! { <p>"Starting the compute device…"</p> }>
                {move || {
                    let b = backend.get().expect("shown only once picked");
                    match tab.get() {
                        Tab::Explorer => view! { <Explorer backend=b/> }.into_any(),
                        Tab::Playground => view! { <Playground backend=b/> }.into_any(),
                    }
                }}
            </Show>
        </main>
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
