//! The lesson: a few steps a student clicks through, each showing one idea of rate reduction on
//! the 3-D points, with the live values. Dragging on the picture moves (or turns) one class and
//! every value is recomputed at once, without training.

use super::draw;
use super::lesson_math::{Points, Rates, Semi, cover, rates, semi, shift, turn};
use super::sim::Knobs;
use crate::charts::{Bar, BarChart};
use leptos::html::Canvas;
use leptos::prelude::*;
use ssr2_core::metrics::class_ranks;
use ssr2_view::colour::{category, old_new};

/// The lesson's picture stands still at this rotation.
const ANGLE: f64 = 0.6;

/// Title and two or three plain sentences per step.
pub const STEPS: [(&str, &str); 5] = [
    (
        "R: the room all the points fill",
        "Each dot is one sample's feature, a point on the unit sphere. Cover the points with balls \
         of radius ε (the circles): the more balls it takes, the more room the points fill, and the \
         coding rate R counts that room in nats (roughly the log of the number of balls). Make ε \
         smaller: more balls, larger R.",
    ),
    (
        "R_c: each class's own room",
        "Now cover each class on its own (one colour per class). R_c is the classes' own rates, \
         each weighted by its share of the points: it is small when every class is a thin line or \
         a tight blob. A class alone fills less room than all points together, so R_c ≤ R.",
    ),
    (
        "ΔR = R − R_c: the gap",
        "Rate reduction wants all the points together to fill much room (large R) and each class \
         little (small R_c); the gap ΔR is what training makes large. Press on a point and drag: \
         its whole class moves. Pile two classes on each other and ΔR shrinks; switch the drag to \
         \"turn\" and only R moves, because turning a class leaves its own room unchanged.",
    ),
    (
        "Hard labels and soft memberships",
        "Only some points of the old classes carry a label (filled dots): their class is certain, \
         and they are compressed with hard labels (R_c^s). Every other point (ring) has only a guess, \
         a share of membership in each class drawn as a mix of the class colours (here from how near \
         each class's closest point lies, a stand-in for the trained head), and R_c^u compresses each \
         class with those shares. Blur the guesses (higher temperature) and R_c^u grows toward the \
         room of all unlabelled points together.",
    ),
    (
        "Why contrastive losses over-compress old classes",
        "A contrastive loss pulls the labelled points of each old class together, a pull the \
         unlabelled new classes never get, so old classes can end up squeezed into fewer directions \
         than new ones: a lower effective rank (how many directions a class really uses: 1 for a \
         line, 2 for a plane). SSR2 compresses every class by the same rule, labelled or not. Press \
         ▶ train (subspace dimension 2 shows it best) and compare, in each run, how far the old \
         classes' ranks (blue) fall below the new classes' (orange).",
    ),
];

/// What the lesson shows of a training run: its name and each class's effective rank.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRanks {
    pub title: String,
    pub ranks: Vec<f64>,
}

#[derive(Clone, Copy, PartialEq)]
enum DragMode {
    Move,
    Turn,
}

/// A drag in progress: the class it holds and the last pointer position (canvas pixels).
#[derive(Clone, Copy, PartialEq)]
struct Drag {
    class: usize,
    x: f64,
    y: f64,
}

fn num(v: f64) -> String {
    format!("{v:.3}")
}

/// Mean effective rank of the old classes (the first `num_old`) and of the new ones.
fn old_new_means(ranks: &[f64], num_old: usize) -> (f64, f64) {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (old, new) = ranks.split_at(num_old.min(ranks.len()));
    (mean(old), mean(new))
}

/// Colours mixed by membership (`#rrggbb` inputs), so an unsure point looks in between.
fn mix(p: &[f32]) -> String {
    let mut rgb = [0.0f64; 3];
    for (c, &w) in p.iter().enumerate() {
        let hex = category(c);
        for (t, v) in rgb.iter_mut().enumerate() {
            let byte = hex
                .get(1 + 2 * t..3 + 2 * t)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(128);
            *v += w as f64 * byte as f64;
        }
    }
    format!("rgb({:.0},{:.0},{:.0})", rgb[0], rgb[1], rgb[2])
}

/// Class of the point drawn nearest to canvas pixel (`x`, `y`).
fn nearest_class(p: &Points, (w, h): (f64, f64), x: f64, y: f64) -> Option<usize> {
    let (cx, cy, r) = draw::screen(w, h);
    (0..p.len())
        .map(|i| {
            let (sx, sy, _) = draw::project(p.point(i), ANGLE);
            ((cx + sx * r - x).powi(2) + (cy - sy * r - y).powi(2), i)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| p.labels[i])
}

#[component]
pub fn Lesson(
    knobs: RwSignal<Knobs>,
    step: RwSignal<usize>,
    runs: Signal<Vec<RunRanks>>,
    trained: Signal<usize>,
) -> impl IntoView {
    let points = RwSignal::new(Points::new(&knobs.get_untracked()));
    let eps2 = RwSignal::new(knobs.get_untracked().eps2);
    let frac = RwSignal::new(knobs.get_untracked().labelled);
    let temp = RwSignal::new(0.05f64);
    let mode = RwSignal::new(DragMode::Move);
    let drag = RwSignal::new(None::<Drag>);
    let canvas = NodeRef::<Canvas>::new();
    // New data knobs in the playground give the lesson the same new points.
    Effect::new(move |prev: Option<(usize, usize, u64, u64)>| {
        let k = knobs.get();
        let key = (
            k.classes,
            k.subspace_dim,
            k.noise.to_bits(),
            k.labelled.to_bits(),
        );
        if prev.is_some_and(|p| p != key) {
            points.set(Points::new(&k));
            frac.set(k.labelled);
        }
        key
    });
    let values = Memo::new(move |_| points.with(|p| rates(p, eps2.get())));
    // Soft memberships cost n^2 distances: only on the step that shows them.
    let semi_values = Memo::new(move |_| {
        (step.get() == 3).then(|| points.with(|p| semi(p, frac.get(), temp.get(), eps2.get())))
    });
    let balls = Memo::new(move |_| {
        let eps = eps2.get().sqrt();
        points.with(|p| match step.get() {
            0 => cover(p, 0..p.len(), eps)
                .into_iter()
                .map(|i| (i, "#555".to_string()))
                .collect(),
            1 => (0..p.classes)
                .flat_map(|c| {
                    cover(p, (0..p.len()).filter(|&i| p.labels[i] == c), eps)
                        .into_iter()
                        .map(move |i| (i, category(c)))
                })
                .collect(),
            _ => Vec::<(usize, String)>::new(),
        })
    });
    Effect::new(move |_| {
        let Some(c) = canvas.get() else { return };
        let s = step.get();
        let held = drag.get().map(|d| d.class);
        let semi = semi_values.get();
        let balls = balls.get();
        points.with(|p| {
            let k = p.classes;
            let colour = |i: usize| match (s, &semi) {
                (0, _) => "#555".to_string(),
                (3, Some(sv)) if !sv.labelled[i] => mix(&sv.p[i * k..(i + 1) * k]),
                _ => category(p.labels[i]),
            };
            let filled = |i: usize| match (s, &semi) {
                (3, Some(sv)) => sv.labelled[i],
                _ => held.is_none_or(|h| h == p.labels[i]),
            };
            draw::lesson(
                &c,
                &p.x,
                colour,
                filled,
                &balls,
                eps2.get_untracked().sqrt(),
                ANGLE,
            );
        });
    });

    let pixel = move |ev: &leptos::ev::PointerEvent| -> Option<(f64, f64, f64, f64)> {
        let c = canvas.get_untracked()?;
        let (w, h) = (c.width() as f64, c.height() as f64);
        // The page may scale the canvas: pointer offsets are CSS pixels.
        let sx = w / (c.client_width().max(1) as f64);
        let sy = h / (c.client_height().max(1) as f64);
        Some((ev.offset_x() as f64 * sx, ev.offset_y() as f64 * sy, w, h))
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        ev.prevent_default();
        let Some((x, y, w, h)) = pixel(&ev) else {
            return;
        };
        if let Some(class) = points.with_untracked(|p| nearest_class(p, (w, h), x, y)) {
            drag.set(Some(Drag { class, x, y }));
        }
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let Some(d) = drag.get_untracked() else {
            return;
        };
        let Some((x, y, w, h)) = pixel(&ev) else {
            return;
        };
        let (_, _, r) = draw::screen(w, h);
        let [ex, ey, v] = draw::view_axes(ANGLE);
        let (dx, dy) = ((x - d.x) / r, -(y - d.y) / r);
        let t = [0, 1, 2].map(|j| dx * ex[j] + dy * ey[j]);
        points.update(|p| match mode.get_untracked() {
            DragMode::Move => shift(p, d.class, t),
            DragMode::Turn => turn(p, d.class, t, v),
        });
        drag.set(Some(Drag { x, y, ..d }));
    };
    let on_up = move |_: leptos::ev::PointerEvent| drag.set(None);

    let last = STEPS.len() - 1;
    view! {
        <div class="lesson" id="lesson-panel">
            <div class="lesson-nav">
                <button id="lesson-back" prop:disabled=move || step.get() == 0
                    on:click=move |_| step.update(|s| *s = s.saturating_sub(1))>"← back"</button>
                <b id="lesson-step">{move || format!("{} / {}", step.get() + 1, STEPS.len())}</b>
                <button id="lesson-next" prop:disabled=move || { step.get() >= last }
                    on:click=move |_| step.update(|s| *s = (*s + 1).min(last))>"next →"</button>
                <h3 id="lesson-title">{move || STEPS[step.get().min(last)].0}</h3>
            </div>
            <div class="lesson-body">
                <div class="lesson-picture">
                    <canvas node_ref=canvas id="lesson-canvas" width="360" height="360"
                        on:pointerdown=on_down on:pointermove=on_move on:pointerup=on_up
                        on:pointerleave=on_up></canvas>
                    <div class="note">
                        "drag on the picture: "
                        <select id="lesson-drag" on:change=move |ev| mode.set(
                            if event_target_value(&ev) == "turn" { DragMode::Turn } else { DragMode::Move })>
                            <option value="move">"move a class"</option>
                            <option value="turn">"turn a class"</option>
                        </select>
                        " "
                        <button id="lesson-reset" on:click=move |_| points.set(Points::new(&knobs.get_untracked()))>
                            "↺ put back"</button>
                        {move || drag.get().map(|d| format!(" holding class {}", d.class))}
                    </div>
                </div>
                <div class="lesson-words">
                    <p id="lesson-text">{move || STEPS[step.get().min(last)].1}</p>
                    <p class="numbers">
                        "R = " <b id="lesson-r">{move || num(values.get().r)}</b>
                        " · R_c = " <b id="lesson-rc">{move || num(values.get().rc)}</b>
                        " · ΔR = R − R_c = " <b id="lesson-dr">{move || num(values.get().dr)}</b>
                        " nats (ε² = " {move || format!("{:.2}", eps2.get())} ")"
                    </p>
                    {move || {
                        let live = Live { points, values, semi: semi_values, balls, eps2, frac, temp, runs, trained };
                        step_panel(step.get(), live)
                    }}
                </div>
            </div>
        </div>
    }
}

/// The lesson's live state, as the step widgets read and set it.
#[derive(Clone, Copy)]
struct Live {
    points: RwSignal<Points>,
    values: Memo<Rates>,
    semi: Memo<Option<Semi>>,
    balls: Memo<Vec<(usize, String)>>,
    eps2: RwSignal<f64>,
    frac: RwSignal<f64>,
    temp: RwSignal<f64>,
    runs: Signal<Vec<RunRanks>>,
    trained: Signal<usize>,
}

/// The widgets of one step; values inside are reactive, so sliders survive every drag.
fn step_panel(step: usize, live: Live) -> AnyView {
    let Live {
        points,
        values,
        semi,
        balls,
        eps2,
        frac,
        temp,
        runs,
        trained,
    } = live;
    let slider = move |id: &'static str,
                       name: &'static str,
                       sig: RwSignal<f64>,
                       lo: f64,
                       hi: f64,
                       st: f64| {
        view! {
            <label class="knob"><span class="name">{name} " " <b>{move || format!("{:.2}", sig.get())}</b></span>
                <input type="range" id=id min=lo max=hi step=st prop:value=move || sig.get().to_string()
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            sig.set(v);
                        }
                    }/>
            </label>
        }
    };
    match step {
        0 | 1 => view! {
            {slider("lesson-eps", "ε²", eps2, 0.02, 1.0, 0.01)}
            <p><b id="lesson-balls">{move || balls.get().len()}</b>
                {if step == 0 { " balls of radius ε cover all the points." } else { " balls cover the classes, each class with its own." }}</p>
            {(step == 1).then(|| view! {
                <p class="note">"each class alone, R(Z_c): "
                    {move || {
                        let v = values.get();
                        v.class_r.iter().enumerate().map(|(c, r)| view! {
                            <span class="key"><i style=format!("background:{}", category(c))></i>{num(*r)}</span>
                        }).collect_view()
                    }}
                </p>
            })}
        }
        .into_any(),
        2 => view! {
            {move || {
                let v = values.get();
                let bars = [("R", v.r, "#555"), ("R_c", v.rc, "#999"), ("ΔR", v.dr, "#59a14f")]
                    .map(|(l, x, c)| Bar { label: l.into(), value: x, colour: c.into(), title: format!("{l} = {}", num(x)) })
                    .to_vec();
                view! { <BarChart bars=bars width=220.0 height=150.0/> }
            }}
        }
        .into_any(),
        3 => view! {
            {slider("lesson-frac", "labelled fraction of the old classes", frac, 0.0, 1.0, 0.05)}
            {slider("lesson-temp", "temperature of the guesses", temp, 0.01, 1.0, 0.01)}
            {move || semi.get().map(|s| view! {
                <p class="numbers">
                    "R_c^s (hard labels, " <span id="lesson-ns">{s.n_s}</span> " points) = " <b id="lesson-rcs">{num(s.rc_s)}</b>
                    <br/>"R_c^u (soft memberships, " <span id="lesson-nu">{s.n_u}</span> " points) = " <b id="lesson-rcu">{num(s.rc_u)}</b>
                    <br/>"R_c^u had their true labels been known = " <b id="lesson-rcu-true">{num(s.rc_u_true)}</b>
                </p>
            })}
        }
        .into_any(),
        _ => view! {
            <p class="note">"effective rank of each class (old blue, new orange) and the means; training step "
                {move || trained.get()}</p>
            <div class="pair">
                {move || {
                    let (x, labels, num_old) = points.with(|p| (p.x.clone(), p.labels.clone(), p.num_old));
                    let data: Vec<f64> = class_ranks(&x, 3, &labels, num_old).classes.iter().map(|c| c.effective_rank).collect();
                    let mut cols = vec![("the points above".to_string(), data, "data")];
                    for (r, id) in runs.get().into_iter().zip(["a", "b"]) {
                        cols.push((r.title, r.ranks, id));
                    }
                    cols.into_iter().map(|(title, ranks, id)| {
                        let bars: Vec<Bar> = ranks.iter().enumerate().map(|(c, &v)| Bar {
                            label: c.to_string(), value: v, colour: old_new(c < num_old).into(),
                            title: format!("class {c}: effective rank {v:.2}"),
                        }).collect();
                        let (old, new) = old_new_means(&ranks, num_old);
                        view! {
                            <div><h4>{title}</h4>
                                <p>"old " <b id=format!("lesson-rank-{id}")>{format!("{old:.2}")}</b>
                                   " · new " <b id=format!("lesson-rank-{id}-new")>{format!("{new:.2}")}</b></p>
                                <BarChart bars=bars width=160.0 height=110.0/></div>
                        }
                    }).collect_view()
                }}
            </div>
        }
        .into_any(),
    }
}
