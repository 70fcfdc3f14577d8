//! The rotating 3-D scatter, drawn on a canvas: orthographic view of the unit sphere turning
//! about the vertical axis, tilted so both poles are visible.

use ssr2_view::colour::category;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

const TILT: f64 = 0.35;

/// Screen position and depth of a 3-D point at rotation `angle`.
fn project(p: [f64; 3], angle: f64) -> (f64, f64, f64) {
    let (s, c) = angle.sin_cos();
    let x = p[0] * c + p[2] * s;
    let z = -p[0] * s + p[2] * c;
    let (ts, tc) = TILT.sin_cos();
    let y = p[1] * tc - z * ts;
    let depth = p[1] * ts + z * tc;
    (x, y, depth)
}

/// Draw `points` (`n x 3`) coloured by `labels`; filled = labelled, ring = unlabelled.
pub fn scatter3d(
    canvas: &HtmlCanvasElement,
    points: &[f32],
    labels: &[usize],
    labelled: &[bool],
    angle: f64,
) {
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (cx, cy, r) = (w / 2.0, h / 2.0, 0.42 * w.min(h));
    ctx.clear_rect(0.0, 0.0, w, h);
    ctx.set_stroke_style_str("#ddd");
    ctx.begin_path();
    let _ = ctx.arc(cx, cy, r, 0.0, std::f64::consts::TAU);
    ctx.stroke();
    for (axis, name) in [
        ([1.0, 0.0, 0.0], "x"),
        ([0.0, 1.0, 0.0], "y"),
        ([0.0, 0.0, 1.0], "z"),
    ] {
        let (x, y, _) = project(axis, angle);
        ctx.set_stroke_style_str("#bbb");
        ctx.begin_path();
        ctx.move_to(cx, cy);
        ctx.line_to(cx + x * r, cy - y * r);
        ctx.stroke();
        ctx.set_fill_style_str("#999");
        let _ = ctx.fill_text(name, cx + x * r * 1.06, cy - y * r * 1.06);
    }
    // Back to front, so near points cover far ones.
    let mut order: Vec<(f64, usize)> = points
        .chunks_exact(3)
        .enumerate()
        .map(|(i, p)| (project([p[0] as f64, p[1] as f64, p[2] as f64], angle).2, i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (depth, i) in order {
        let p = &points[i * 3..i * 3 + 3];
        let (x, y, _) = project([p[0] as f64, p[1] as f64, p[2] as f64], angle);
        let colour = category(labels[i]);
        ctx.set_global_alpha(0.55 + 0.45 * (depth + 1.0) / 2.0);
        ctx.begin_path();
        let _ = ctx.arc(cx + x * r, cy - y * r, 3.0, 0.0, std::f64::consts::TAU);
        if labelled[i] {
            ctx.set_fill_style_str(&colour);
            ctx.fill();
        } else {
            ctx.set_stroke_style_str(&colour);
            ctx.stroke();
        }
    }
    ctx.set_global_alpha(1.0);
}
