//! Small browser helpers: the next animation frame as a future, a clock, URL parameters.

use wasm_bindgen::JsCast;

/// Resolves on the next `requestAnimationFrame`, so long loops yield to the page every frame.
pub async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let window = web_sys::window().expect("window");
        let cb: &js_sys::Function = resolve.unchecked_ref();
        let _ = window.request_animation_frame(cb);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Milliseconds since page load (monotonic).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Value of `name` in the page's query string.
pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}
