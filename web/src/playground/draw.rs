//! The 3-D scatters, drawn on a canvas: orthographic view of the unit sphere turned about the
//! vertical axis, tilted so both poles are visible. The playground's runs rotate; the lesson's
//! picture stands still (so a drag means the same thing all the time) and adds ε-balls.

use ssr2_view::colour::category;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

const TILT: f64 = 0.35;

/// 3-D unit directions of the screen's x (right) and y (up) axes and of the viewer, at `angle`.
pub fn view_axes(angle: f64) -> [[f64; 3]; 3] {
    let (s, c) = angle.sin_cos();
    let (ts, tc) = TILT.sin_cos();
    [[c, 0.0, s], [s * ts, tc, -c * ts], [-s * tc, ts, c * tc]]
}

/// Screen position (unit sphere = radius 1) and depth (larger = nearer) of a 3-D point.
pub fn project(p: [f64; 3], angle: f64) -> (f64, f64, f64) {
    let dot = |a: [f64; 3]| a[0] * p[0] + a[1] * p[1] + a[2] * p[2];
    let [ex, ey, v] = view_axes(angle);
    (dot(ex), dot(ey), dot(v))
}

/// Where the unit sphere sits on a `w x h` canvas: centre and radius in pixels.
pub fn screen(w: f64, h: f64) -> (f64, f64, f64) {
    (w / 2.0, h / 2.0, 0.42 * w.min(h))
}

fn point(points: &[f32], i: usize) -> [f64; 3] {
    let p = &points[i * 3..i * 3 + 3];
    [p[0] as f64, p[1] as f64, p[2] as f64]
}

/// The canvas's 2-D context, cleared, with the sphere's outline and the axes drawn.
fn frame(
    canvas: &HtmlCanvasElement,
    angle: f64,
) -> Option<(CanvasRenderingContext2d, f64, f64, f64)> {
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (cx, cy, r) = screen(w, h);
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
    Some((ctx, cx, cy, r))
}

/// Dots back to front (near points cover far ones); filled or a ring, in the given colour.
fn dots(
    ctx: &CanvasRenderingContext2d,
    (cx, cy, r): (f64, f64, f64),
    points: &[f32],
    angle: f64,
    colour: impl Fn(usize) -> String,
    filled: impl Fn(usize) -> bool,
) {
    let mut order: Vec<(f64, usize)> = (0..points.len() / 3)
        .map(|i| (project(point(points, i), angle).2, i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (depth, i) in order {
        let (x, y, _) = project(point(points, i), angle);
        let colour = colour(i);
        ctx.set_global_alpha(0.55 + 0.45 * (depth.clamp(-1.0, 1.0) + 1.0) / 2.0);
        ctx.begin_path();
        let _ = ctx.arc(cx + x * r, cy - y * r, 3.0, 0.0, std::f64::consts::TAU);
        if filled(i) {
            ctx.set_fill_style_str(&colour);
            ctx.fill();
        } else {
            ctx.set_stroke_style_str(&colour);
            ctx.stroke();
        }
    }
    ctx.set_global_alpha(1.0);
}

/// Draw `points` (`n x 3`) coloured by `labels`; filled = labelled, ring = unlabelled.
pub fn scatter3d(
    canvas: &HtmlCanvasElement,
    points: &[f32],
    labels: &[usize],
    labelled: &[bool],
    angle: f64,
) {
    if let Some((ctx, cx, cy, r)) = frame(canvas, angle) {
        dots(
            &ctx,
            (cx, cy, r),
            points,
            angle,
            |i| category(labels[i]),
            |i| labelled[i],
        );
    }
}

/// The lesson's picture: `balls` (point index and colour) drawn as ε-balls of radius `eps`
/// (a ball's outline has radius `eps` in any orthographic view), then the points.
pub fn lesson(
    canvas: &HtmlCanvasElement,
    points: &[f32],
    colour: impl Fn(usize) -> String,
    filled: impl Fn(usize) -> bool,
    balls: &[(usize, String)],
    eps: f64,
    angle: f64,
) {
    let Some((ctx, cx, cy, r)) = frame(canvas, angle) else {
        return;
    };
    for (i, c) in balls {
        let (x, y, _) = project(point(points, *i), angle);
        ctx.begin_path();
        let _ = ctx.arc(cx + x * r, cy - y * r, eps * r, 0.0, std::f64::consts::TAU);
        ctx.set_global_alpha(0.07);
        ctx.set_fill_style_str(c);
        ctx.fill();
        ctx.set_global_alpha(0.6);
        ctx.set_stroke_style_str(c);
        ctx.stroke();
    }
    ctx.set_global_alpha(1.0);
    dots(&ctx, (cx, cy, r), points, angle, colour, filled);
}
