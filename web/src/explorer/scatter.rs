//! 2-D scatter of the report's PCA projection, coloured by true class, predicted cluster or
//! old/new; hovering shows the nearest sample's id.

use leptos::prelude::*;
use ssr2_view::colour::{category, old_new};
use ssr2_view::report::Projection;
use ssr2_view::scale::{Linear, extent, nearest};

const W: f64 = 420.0;
const H: f64 = 360.0;
const PAD: f64 = 12.0;

#[derive(Clone, Copy, PartialEq)]
enum ColourBy {
    Truth,
    Cluster,
    OldNew,
}

#[component]
pub fn Scatter(projection: Projection, num_old: usize, class_names: Vec<String>) -> impl IntoView {
    let by = RwSignal::new(ColourBy::Truth);
    let (x0, x1) = extent(&projection.x);
    let (y0, y1) = extent(&projection.y);
    let sx = Linear::new((x0, x1), (PAD, W - PAD));
    let sy = Linear::new((y0, y1), (H - PAD, PAD));
    let px: Vec<f64> = projection.x.iter().map(|&v| sx.map(v as f64)).collect();
    let py: Vec<f64> = projection.y.iter().map(|&v| sy.map(v as f64)).collect();
    let hover: RwSignal<Option<usize>> = RwSignal::new(None);
    let p = projection.clone();
    let dots = {
        let (px, py) = (px.clone(), py.clone());
        move || {
            let by = by.get();
            (0..px.len())
                .map(|i| {
                    let fill = match by {
                        ColourBy::Truth => category(p.label[i]),
                        ColourBy::Cluster => category(p.pred[i]),
                        ColourBy::OldNew => old_new(p.label[i] < num_old).to_string(),
                    };
                    view! { <circle cx=format!("{:.1}", px[i]) cy=format!("{:.1}", py[i]) r="2.6" fill=fill fill-opacity="0.75"/> }
                })
                .collect_view()
        }
    };
    let on_move = {
        let (px, py) = (px.clone(), py.clone());
        move |ev: leptos::ev::MouseEvent| {
            hover.set(nearest(
                &px,
                &py,
                ev.offset_x() as f64,
                ev.offset_y() as f64,
                8.0,
            ));
        }
    };
    let p2 = projection.clone();
    let tip = move || {
        hover.get().map(|i| {
            let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
            format!(
                "{} — class {} ({}), cluster {}",
                p2.id[i],
                name(p2.label[i]),
                if p2.label[i] < num_old { "old" } else { "new" },
                p2.pred[i]
            )
        })
    };
    let explained = format!(
        "PCA of {} evaluation embeddings; the axes explain {:.0}% and {:.0}% of the variance.",
        projection.x.len(),
        100.0 * projection.explained[0],
        100.0 * projection.explained[1]
    );
    view! {
        <div class="scatter">
            <p class="note">{explained}</p>
            <label>"colour by "
                <select id="colour-by" on:change=move |ev| {
                    by.set(match event_target_value(&ev).as_str() {
                        "cluster" => ColourBy::Cluster,
                        "oldnew" => ColourBy::OldNew,
                        _ => ColourBy::Truth,
                    })
                }>
                    <option value="truth">"true class"</option>
                    <option value="cluster">"predicted cluster"</option>
                    <option value="oldnew">"old (blue) / new (orange)"</option>
                </select>
            </label>
            <svg id="scatter" width=W height=H on:mousemove=on_move on:mouseleave=move |_| hover.set(None)>
                <rect width=W height=H fill="#fafafa"/>
                {dots}
            </svg>
            <p id="hover" class="hover">{move || tip().unwrap_or_else(|| "hover a point to see its sample id".into())}</p>
        </div>
    }
}
