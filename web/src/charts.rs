//! Plain SVG charts (lines and bars) built from data; scales and ticks come from `ssr2-view`.

use leptos::prelude::*;
use ssr2_view::scale::{Linear, ticks};

/// One named line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub colour: String,
}

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub colour: String,
    /// Tooltip.
    pub title: String,
}

const PAD_L: f64 = 42.0;
const PAD_R: f64 = 8.0;
const PAD_T: f64 = 8.0;
const PAD_B: f64 = 22.0;

fn y_domain(values: impl Iterator<Item = f64>, zero: bool) -> (f64, f64) {
    let v: Vec<f32> = values.filter(|x| x.is_finite()).map(|x| x as f32).collect();
    let (lo, hi) = ssr2_view::scale::extent(&v);
    if zero {
        (lo.min(0.0), hi.max(0.0))
    } else {
        (lo, hi)
    }
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Lines over a shared x index (epoch or step), with a legend.
#[component]
pub fn LineChart(
    series: Vec<Series>,
    #[prop(default = 360.0)] width: f64,
    #[prop(default = 180.0)] height: f64,
    #[prop(default = "")] x_label: &'static str,
) -> impl IntoView {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let (y0, y1) = y_domain(series.iter().flat_map(|s| s.values.iter().copied()), false);
    let xs = Linear::new((0.0, (n.max(2) - 1) as f64), (PAD_L, width - PAD_R));
    let ys = Linear::new((y0, y1), (height - PAD_B, PAD_T));
    let lines = series
        .iter()
        .map(|s| {
            let pts: Vec<String> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| format!("{:.1},{:.1}", xs.map(i as f64), ys.map(*v)))
                .collect();
            view! { <polyline points=pts.join(" ") fill="none" stroke=s.colour.clone() stroke-width="1.6"/> }
        })
        .collect_view();
    let grid = y_grid(ys, (y0, y1), width);
    let legend = series
        .iter()
        .map(|s| {
            view! { <span class="key"><i style=format!("background:{}", s.colour)></i>{s.name.clone()}</span> }
        })
        .collect_view();
    view! {
        <div class="chart">
            <svg width=width height=height viewBox=format!("0 0 {width} {height}")>
                {grid}
                <line x1=PAD_L x2=width - PAD_R y1=height - PAD_B y2=height - PAD_B stroke="#999"/>
                <text x=width - PAD_R y=height - 6.0 text-anchor="end" class="tick">
                    {format!("{x_label} 0 … {}", n.saturating_sub(1))}
                </text>
                {lines}
            </svg>
            <div class="legend">{legend}</div>
        </div>
    }
}

/// Horizontal grid lines, each labelled with its value, at the ticks of `[y0, y1]`.
fn y_grid(ys: Linear, (y0, y1): (f64, f64), width: f64) -> impl IntoView {
    ticks(y0, y1, 4)
        .into_iter()
        .map(|t| {
            let y = ys.map(t);
            view! {
                <line x1=PAD_L x2=width - PAD_R y1=y y2=y stroke="#e4e4e4"/>
                <text x=PAD_L - 4.0 y=y + 3.0 text-anchor="end" class="tick">{fmt_tick(t)}</text>
            }
        })
        .collect_view()
}

/// Vertical bars from zero, one per entry, labelled underneath.
#[component]
pub fn BarChart(
    bars: Vec<Bar>,
    #[prop(default = 360.0)] width: f64,
    #[prop(default = 160.0)] height: f64,
) -> impl IntoView {
    let (y0, y1) = y_domain(bars.iter().map(|b| b.value), true);
    let ys = Linear::new((y0, y1), (height - PAD_B, PAD_T));
    let slot = (width - PAD_L - PAD_R) / bars.len().max(1) as f64;
    let grid = y_grid(ys, (y0, y1), width);
    let rects = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let x = PAD_L + i as f64 * slot + slot * 0.12;
            let (top, bottom) = if b.value >= 0.0 {
                (ys.map(b.value), ys.map(0.0))
            } else {
                (ys.map(0.0), ys.map(b.value))
            };
            let h = (bottom - top).max(0.0);
            view! {
                <rect x=x y=top width=slot * 0.76 height=h fill=b.colour.clone()>
                    <title>{b.title.clone()}</title>
                </rect>
                <text x=x + slot * 0.38 y=height - 8.0 text-anchor="middle" class="tick">{b.label.clone()}</text>
            }
        })
        .collect_view();
    view! {
        <svg class="chart" width=width height=height viewBox=format!("0 0 {width} {height}")>
            {grid}
            <line x1=PAD_L x2=width - PAD_R y1=ys.map(0.0) y2=ys.map(0.0) stroke="#999"/>
            {rects}
        </svg>
    }
}
