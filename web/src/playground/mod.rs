//! The rate-reduction playground (the teaching view): data on the left, knobs in the middle,
//! two runs training live on the right — SSR2 against a contrastive loss on the same data.
//! The lesson mode walks through the ideas one at a time on points the student drags.

mod draw;
mod lesson;
mod lesson_math;
mod measure;
mod sim;

use crate::backend::Backend;
use crate::charts::{Bar, BarChart, LineChart, Series};
use crate::frame::{next_frame, now_ms};
use leptos::html::Canvas;
use leptos::prelude::*;
use lesson::{Lesson, RunRanks};
use measure::{Measures, measure};
use sim::{Data, Knobs, LossKind, Run};
use ssr2_view::colour::{category, old_new};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Time the CPU path may spend on training steps per animation frame.
const CPU_BUDGET_MS: f64 = 25.0;
/// Steps per frame on WebGPU: the queue is asynchronous, so a time budget would only fill it.
const GPU_STEPS_PER_FRAME: usize = 2;
/// Points of the loss and delta-R curves kept on screen.
const CURVE_LEN: usize = 400;

/// What the page shows of one run.
#[derive(Clone, Debug, PartialEq, Default)]
struct RunView {
    title: String,
    m: Option<Measures>,
    loss: Vec<f64>,
    delta: Vec<f64>,
    delta_start: Option<f64>,
}

#[component]
pub fn Playground(backend: Backend) -> impl IntoView {
    let knobs = RwSignal::new(Knobs::default());
    let running = RwSignal::new(false);
    let compare = RwSignal::new(true);
    let reset = RwSignal::new(0u32);
    let step = RwSignal::new(0usize);
    let rate = RwSignal::new(None::<f64>);
    let error = RwSignal::new(None::<String>);
    let views = RwSignal::new([RunView::default(), RunView::default()]);
    let lesson_on = RwSignal::new(crate::frame::query_param("lesson").is_some());
    let lesson_step = RwSignal::new(0usize);
    let canvases = [
        NodeRef::<Canvas>::new(),
        NodeRef::<Canvas>::new(),
        NodeRef::<Canvas>::new(),
    ];
    let alive = Arc::new(AtomicBool::new(true));
    {
        let alive = alive.clone();
        on_cleanup(move || alive.store(false, Ordering::Relaxed));
    }
    let device = backend.device.clone().autodiff();
    let gpu = backend.gpu;
    leptos::task::spawn_local(async move {
        let mut seen = u32::MAX;
        let mut state: Option<(Data, Vec<Run>)> = None;
        let mut angle = 0.0f64;
        let (mut t_run, mut steps_run) = (0.0f64, 0usize);
        while alive.load(Ordering::Relaxed) {
            let k = knobs.get_untracked();
            let want_b = compare.get_untracked();
            let gen_now = reset.get_untracked();
            if gen_now != seen
                || state
                    .as_ref()
                    .is_some_and(|(_, r)| (r.len() == 2) != want_b || r[0].loss != k.loss)
            {
                seen = gen_now;
                (t_run, steps_run) = (0.0, 0);
                step.set(0);
                rate.set(None);
                match Data::new(&k, 1) {
                    Ok(data) => {
                        let mut runs = vec![Run::new(k.loss, k.classes, 1, &device)];
                        if want_b {
                            runs.push(Run::new(LossKind::Contrastive, k.classes, 1, &device));
                        }
                        let titles: Vec<String> =
                            runs.iter().map(|r| r.loss.name().to_string()).collect();
                        views.set([
                            RunView {
                                title: titles[0].clone(),
                                ..Default::default()
                            },
                            RunView {
                                title: titles.get(1).cloned().unwrap_or_default(),
                                ..Default::default()
                            },
                        ]);
                        error.set(None);
                        state = Some((data, runs));
                    }
                    Err(e) => {
                        error.set(Some(e));
                        state = None;
                    }
                }
            }
            if let Some((data, runs)) = state.as_mut() {
                let mut losses = Vec::new();
                if running.get_untracked() {
                    let t0 = now_ms();
                    let mut n = 0;
                    loop {
                        losses = runs.iter_mut().map(|r| r.step(data, &k, &device)).collect();
                        n += 1;
                        let spent = now_ms() - t0;
                        if (gpu && n >= GPU_STEPS_PER_FRAME) || (!gpu && spent >= CPU_BUDGET_MS) {
                            break;
                        }
                    }
                    steps_run += n;
                    t_run += now_ms() - t0;
                }
                let frame_start = now_ms();
                let mut shown = Vec::new();
                for (i, run) in runs.iter().enumerate() {
                    let loss = match losses.get(i) {
                        Some(l) => l
                            .clone()
                            .into_scalar_async::<f32>()
                            .await
                            .ok()
                            .map(|v| v as f64),
                        None => None,
                    };
                    match run.embed(data).await {
                        Ok((z, pred)) => {
                            let m = measure(
                                &z,
                                &data.labels,
                                &data.labelled,
                                &pred,
                                data.classes,
                                data.num_old,
                                k.eps2,
                            );
                            if let Some(c) = canvases[i + 1].get_untracked() {
                                draw::scatter3d(&c, &z, &data.labels, &data.labelled, angle);
                            }
                            shown.push((loss, m));
                        }
                        Err(e) => error.set(Some(format!(
                            "reading features from the device failed: {e}"
                        ))),
                    }
                }
                if let Some(c) = canvases[0].get_untracked() {
                    draw::scatter3d(&c, &data.x, &data.labels, &data.labelled, angle);
                }
                let stepped = !losses.is_empty();
                views.update(|v| {
                    for (i, (loss, m)) in shown.into_iter().enumerate() {
                        let view = &mut v[i];
                        if view.delta_start.is_none() {
                            view.delta_start = Some(m.delta);
                        }
                        if stepped {
                            push_capped(&mut view.loss, loss.unwrap_or(f64::NAN));
                            push_capped(&mut view.delta, m.delta);
                        }
                        view.m = Some(m);
                    }
                });
                if running.get_untracked() {
                    t_run += now_ms() - frame_start;
                    step.set(runs[0].steps);
                }
            }
            angle += 0.01;
            let t_frame = now_ms();
            next_frame().await;
            if running.get_untracked() && state.is_some() {
                // Whole loop time per step: training, reading back, measuring and drawing.
                t_run += now_ms() - t_frame;
                if steps_run > 0 {
                    rate.set(Some(steps_run as f64 / (t_run / 1000.0).max(1e-9)));
                }
            }
        }
    });

    let set = move |f: fn(&mut Knobs, f64)| {
        move |ev: leptos::ev::Event| {
            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                knobs.update(|k| f(k, v));
            }
        }
    };
    let set_data = move |f: fn(&mut Knobs, f64)| {
        move |ev: leptos::ev::Event| {
            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                knobs.update(|k| f(k, v));
                reset.update(|g| *g += 1);
            }
        }
    };
    let run_ranks = Signal::derive(move || {
        views.with(|v| {
            v.iter()
                .filter_map(|rv| {
                    rv.m.as_ref().map(|m| RunRanks {
                        title: rv.title.clone(),
                        ranks: m.ranks.clone(),
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    let trained = Signal::from(step);
    // The lesson's last step compares the two runs: it shows the playground below it.
    let columns_hidden = move || lesson_on.get() && lesson_step.get() + 1 < lesson::STEPS.len();
    let rate_text = move || rate.get().map_or_else(|| "–".into(), |r| format!("{r:.1}"));
    let runs_view = move |i: usize| {
        let canvas = canvases[i + 1];
        view! {
            <div class="run" class:hidden=move || i == 1 && !compare.get()>
                <h3>{move || views.get()[i].title.clone()}</h3>
                <canvas node_ref=canvas width="260" height="260"></canvas>
                {move || run_panel(i, views.get()[i].clone(), knobs.get_untracked().classes, knobs.get_untracked().classes.div_ceil(2))}
            </div>
        }
    };
    view! {
        <div class="playground">
            <div class="controls">
                <button id="lesson" class:active=move || lesson_on.get()
                    on:click=move |_| lesson_on.update(|l| *l = !*l)>
                    {move || if lesson_on.get() { "✕ close the lesson" } else { "📖 lesson" }}
                </button>
                <button id="play" on:click=move |_| running.update(|r| *r = !*r)>
                    {move || if running.get() { "❚❚ pause" } else { "▶ train" }}
                </button>
                <button id="reset" on:click=move |_| reset.update(|g| *g += 1)>"↺ reset"</button>
                <span>"step " <b id="step">{move || step.get()}</b></span>
                <span>"steps/s " <b id="steps-per-s">{rate_text}</b>
                    {move || if compare.get() { " (both runs per step)" } else { "" }}</span>
                <span class="note">"device: " {backend.label.clone()}</span>
                {move || error.get().map(|e| view! { <span class="error" id="pg-error">{e}</span> })}
            </div>
            {move || lesson_on.get().then(|| view! {
                <Lesson knobs=knobs step=lesson_step runs=run_ranks trained=trained/>
            })}
            <div class="columns" class:hidden=columns_hidden>
                <div class="col data">
                    <h3>"Data"</h3>
                    <canvas node_ref=canvases[0] width="220" height="220"></canvas>
                    <p class="note">"300 unit points in 3-D, one colour per class; filled = labelled, ring = unlabelled. Old classes: the first ⌈K/2⌉; new classes never have labels."</p>
                    <Knob name="classes K" min=2.0 max=8.0 stepv=1.0 value=move || knobs.get().classes as f64
                        on=set_data(|k, v| k.classes = v as usize)
                        help="How many classes; half (rounded up) are old and may carry labels, the rest are new."/>
                    <Knob name="subspace dimension" min=1.0 max=2.0 stepv=1.0 value=move || knobs.get().subspace_dim as f64
                        on=set_data(|k, v| k.subspace_dim = v as usize)
                        help="1: each class lies along a line through the origin; 2: on a plane."/>
                    <Knob name="noise" min=0.0 max=0.5 stepv=0.01 value=move || knobs.get().noise
                        on=set_data(|k, v| k.noise = v)
                        help="Std of the Gaussian noise added before each point is put on the sphere; more noise blurs the subspaces."/>
                    <Knob name="labelled fraction" min=0.1 max=0.9 stepv=0.05 value=move || knobs.get().labelled
                        on=set_data(|k, v| k.labelled = v)
                        help="Share of the old classes' points whose label the loss may use."/>
                </div>
                <div class="col knobs">
                    <h3>"Training"</h3>
                    <Knob name="ε²" min=0.05 max=2.0 stepv=0.05 value=move || knobs.get().eps2
                        on=set(|k, v| k.eps2 = v)
                        help="Precision of the coding rate: smaller ε² counts finer detail, so spreading and compressing both weigh more."/>
                    <Knob name="batch size" min=16.0 max=256.0 stepv=16.0 value=move || knobs.get().batch as f64
                        on=set(|k, v| k.batch = v as usize)
                        help="Points per step (each seen in two jittered views); the rates are measured on the batch."/>
                    <Knob name="learning rate" min=0.001 max=0.05 stepv=0.001 value=move || knobs.get().lr
                        on=set(|k, v| k.lr = v)
                        help="Adam's step size for the 3→16→3 encoder and the cosine head."/>
                    <label class="knob"><span class="name">"loss of run A"</span>
                        <select id="loss" on:change=move |ev| {
                            let v = event_target_value(&ev);
                            knobs.update(|k| k.loss = if v == "contrastive" { LossKind::Contrastive } else { LossKind::Ssr2 });
                        }>
                            <option value="ssr2">"SSR2"</option>
                            <option value="contrastive">"contrastive"</option>
                        </select>
                        <span class="help">"SSR2 expands all features and compresses each class (labels or the head's soft memberships); contrastive pulls views and labelled classes together."</span>
                    </label>
                    <label class="knob"><span class="name">"compare"</span>
                        <input type="checkbox" prop:checked=move || compare.get() on:change=move |_| compare.update(|c| *c = !*c)/>
                        <span class="help">"Train a second run with the contrastive loss side by side on the same data."</span>
                    </label>
                    <p class="note">"Both runs add SimGCD's classification terms for the cosine head. R = coding rate of all points, R_c = of each class (true labels, weighted by size), ΔR = R − R_c; measured on all 300 points every frame (SPEC §3)."</p>
                </div>
                <div class="col output">
                    {runs_view(0)}
                    {runs_view(1)}
                </div>
            </div>
        </div>
    }
}

fn push_capped(v: &mut Vec<f64>, x: f64) {
    v.push(x);
    if v.len() > CURVE_LEN {
        v.remove(0);
    }
}

fn run_panel(i: usize, v: RunView, classes: usize, num_old: usize) -> impl IntoView {
    let tag = if i == 0 { "a" } else { "b" };
    let Some(m) = v.m.clone() else {
        return view! { <p>"…"</p> }.into_any();
    };
    let rates = vec![
        Bar {
            label: "R".into(),
            value: m.r,
            colour: "#555".into(),
            title: format!("R = {:.3}", m.r),
        },
        Bar {
            label: "R_c".into(),
            value: m.rc,
            colour: "#999".into(),
            title: format!("R_c = {:.3}", m.rc),
        },
        Bar {
            label: "ΔR".into(),
            value: m.delta,
            colour: "#59a14f".into(),
            title: format!("ΔR = {:.3}", m.delta),
        },
    ];
    let per_class: Vec<Bar> = (0..classes.min(m.class_r.len()))
        .map(|c| Bar {
            label: c.to_string(),
            value: m.class_r[c],
            colour: category(c),
            title: format!("R of class {c} alone = {:.3}", m.class_r[c]),
        })
        .collect();
    let ranks: Vec<Bar> = (0..classes.min(m.ranks.len()))
        .map(|c| Bar {
            label: c.to_string(),
            value: m.ranks[c],
            colour: old_new(c < num_old).into(),
            title: format!(
                "class {c} ({}): effective rank {:.2}",
                if c < num_old { "old" } else { "new" },
                m.ranks[c]
            ),
        })
        .collect();
    let pct = |x: f64| ssr2_view::stats::pct(x.is_finite().then_some(x));
    view! {
        <p class="numbers">
            "ΔR " <b id=format!("delta-{tag}")>{format!("{:.3}", m.delta)}</b>
            " (start " <span id=format!("delta-start-{tag}")>{format!("{:.3}", v.delta_start.unwrap_or(f64::NAN))}</span> ")"
            " · All/Old/New " <span id=format!("acc-{tag}")>{format!("{} / {} / {}", pct(m.all), pct(m.old), pct(m.new))}</span>
        </p>
        <div class="pair">
            <div><h4>"R, R_c, ΔR"</h4><BarChart bars=rates width=150.0 height=120.0/></div>
            <div><h4>"R of each class"</h4><BarChart bars=per_class width=170.0 height=120.0/></div>
        </div>
        <div class="pair">
            <div><h4>"effective rank (old blue, new orange)"</h4><BarChart bars=ranks width=170.0 height=120.0/></div>
            <div><h4>"loss and ΔR per step"</h4>
                <LineChart series=vec![
                    Series { name: "loss".into(), values: v.loss.clone(), colour: "#e15759".into() },
                    Series { name: "ΔR".into(), values: v.delta.clone(), colour: "#59a14f".into() },
                ] width=170.0 height=120.0/></div>
        </div>
    }
    .into_any()
}

/// A slider with its value and one sentence saying what it does.
#[component]
fn Knob(
    name: &'static str,
    min: f64,
    max: f64,
    stepv: f64,
    value: impl Fn() -> f64 + Send + Sync + Copy + 'static,
    on: impl Fn(leptos::ev::Event) + 'static,
    help: &'static str,
) -> impl IntoView {
    view! {
        <label class="knob">
            <span class="name">{name} " " <b>{move || format!("{}", value())}</b></span>
            <input type="range" min=min max=max step=stepv prop:value=move || value().to_string() on:change=on/>
            <span class="help">{help}</span>
        </label>
    }
}
