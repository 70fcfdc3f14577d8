//! The explorer's sections for a set of reports (one per seed); the first one drives the
//! per-run charts, the score table covers all of them.

use super::Runs;
use super::classify::Classify;
use super::infer;
use super::scatter::Scatter;
use crate::backend::Backend;
use crate::charts::{Bar, BarChart, LineChart, Series};
use leptos::prelude::*;
use ssr2_view::RunReport;
use ssr2_view::image::grey_bmp_data_url;
use ssr2_view::report::{INDUCTIVE, KEstimate, Scores, TRANSDUCTIVE, Thumbnails};
use ssr2_view::colour::{category, old_new, sequential, text_on};
use ssr2_view::confusion::{confusion, loss_series, max_cell, score_series};
use ssr2_view::stats::{pct, pct_mean_std};

#[component]
pub fn Report(runs: Runs, backend: Backend) -> impl IntoView {
    let first = runs[0].1.clone();
    let d = &first.dataset;
    let seeds: Vec<String> = runs.iter().map(|(_, r)| r.seed.to_string()).collect();
    let held_out = if d.n_test > 0 {
        format!(", {} held-out test samples", d.n_test)
    } else {
        String::new()
    };
    let title = format!(
        "{} — {} classes ({} old, {} new), {} training samples ({} labelled){held_out}; seed{} {}",
        d.name,
        d.num_classes,
        d.num_old,
        d.num_classes - d.num_old,
        d.n_train,
        d.n_labelled,
        if seeds.len() > 1 { "s" } else { "" },
        seeds.join(", ")
    );
    let thumbs = first.thumbnails.clone().map(|t| {
        let report = first.clone();
        view! { <section class="card wide"><h3>"What each predicted cluster holds"</h3><Thumbs thumbnails=t report=report/></section> }
    });
    let k_curve = first.k_estimate.clone().map(|k| {
        view! { <section class="card"><h3>"Estimated number of classes"</h3><KCurve estimate=k/></section> }
    });
    view! {
        <h2 id="run-title">{title}</h2>
        <div class="grid">
            <section class="card"><h3>"Final accuracy (%): last epoch, no model selection"</h3><ScoreTable runs=runs.clone()/></section>
            {k_curve}
            <section class="card"><h3>"In-page inference"</h3><Inference report=first.clone() backend=backend.clone()/></section>
            <section class="card"><h3>"Loss terms per epoch"</h3>
                <LineChart series=coloured(loss_series(&first.history)) x_label="epoch"/></section>
            <section class="card"><h3>"All / Old / New per epoch"</h3>
                <LineChart series=coloured(score_series(&first.history)) x_label="epoch"/></section>
            <section class="card"><h3>"Effective rank per class"</h3><Ranks report=first.clone()/></section>
            <section class="card"><h3>"Singular values of chosen classes"</h3><Spectra report=first.clone()/></section>
            <section class="card wide"><h3>"Embeddings (2-D)"</h3>
                <Scatter projection=first.projection.clone() num_old=d.num_old class_names=d.class_names.clone()/></section>
            {thumbs}
            <section class="card wide" id="classify"><h3>"Classify your images"</h3><Classify report=first.clone() backend=backend/></section>
            <section class="card wide"><h3>"Confusion matrix after the optimal assignment"</h3><Confusion report=first.clone()/></section>
            <section class="card wide"><h3>"Configuration"</h3>
                <details><summary>"show the whole configuration"</summary>
                    <pre>{serde_json::to_string_pretty(&first.config).unwrap_or_default()}</pre></details></section>
        </div>
    }
}

fn coloured(series: Vec<(String, Vec<f64>)>) -> Vec<Series> {
    series
        .into_iter()
        .enumerate()
        .map(|(i, (name, values))| Series {
            name,
            values,
            colour: category(i),
        })
        .collect()
}

#[component]
fn ScoreTable(runs: Runs) -> impl IntoView {
    let multi = runs.len() > 1;
    let head = runs
        .iter()
        .map(|(_, r)| view! { <th>{format!("seed {}", r.seed)}</th> })
        .collect_view();
    let transductive = ScoreRows(&runs, TRANSDUCTIVE, "score", |r| Some(&r.final_scores));
    let inductive = runs
        .iter()
        .any(|(_, r)| r.test_scores.is_some())
        .then(|| ScoreRows(&runs, INDUCTIVE, "test-score", |r| r.test_scores.as_ref()));
    view! {
        <table class="scores">
            <tr><th></th>{head}<th>{if multi { "mean ± std" } else { "value" }}</th></tr>
            {transductive}
            {inductive}
        </table>
    }
}

/// A labelled group of All / Old / New rows; cell ids are `{id}-all`, `{id}-old`, `{id}-new`.
#[allow(non_snake_case)]
fn ScoreRows(
    runs: &Runs,
    label: &'static str,
    id: &'static str,
    get: fn(&RunReport) -> Option<&Scores>,
) -> impl IntoView + use<> {
    let n = runs.first().and_then(|(_, r)| get(r)).map_or(0, |s| s.n);
    let parts: [(&str, fn(&Scores) -> Option<f64>); 3] = [
        ("All", |s| Some(s.all)),
        ("Old", |s| s.old),
        ("New", |s| s.new),
    ];
    let cols = runs.len() + 2;
    let rows = parts
        .iter()
        .map(|(name, part)| {
            let values: Vec<Option<f64>> = runs.iter().map(|(_, r)| get(r).and_then(part)).collect();
            let cells = values.iter().map(|v| view! { <td>{pct(*v)}</td> }).collect_view();
            let cell_id = format!("{id}-{}", name.to_lowercase());
            view! { <tr><th>{*name}</th>{cells}<td id=cell_id class="mean">{pct_mean_std(&values)}</td></tr> }
        })
        .collect_view();
    view! {
        <tr><th colspan=cols class="split" id=format!("{id}-split")>{format!("{label}, {n} samples")}</th></tr>
        {rows}
    }
}

/// A few evaluated images per predicted cluster, under the class the cluster was matched to.
#[component]
fn Thumbs(thumbnails: Thumbnails, report: RunReport) -> impl IntoView {
    let d = &report.dataset;
    let mut clusters: Vec<usize> = thumbnails.samples.iter().map(|s| s.cluster).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let side = thumbnails.side;
    let rows = clusters
        .into_iter()
        .map(|c| {
            let name = match report.mapping.get(c).copied().flatten() {
                Some(k) if k < d.num_old => format!("cluster {c}: {} (old)", d.class_names[k]),
                Some(k) => format!("cluster {c}: new-{k}"),
                None => format!("cluster {c}: unmatched"),
            };
            let imgs = thumbnails
                .samples
                .iter()
                .filter(|s| s.cluster == c)
                .map(|s| {
                    let title = format!("{} (true class {})", s.id, d.class_names[s.label]);
                    view! { <img class="thumb" src=grey_bmp_data_url(side, &s.pixels) title=title alt=s.id.clone()/> }
                })
                .collect_view();
            view! { <div class="thumb-row"><span class="thumb-name">{name}</span>{imgs}</div> }
        })
        .collect_view();
    view! {
        <p class="note">"The first evaluated images the model put in each cluster (hover: sample id and true class)."</p>
        <div id="thumbnails">{rows}</div>
    }
}

/// The criterion over the K tried by the estimate of the class count; the chosen K stands out.
#[component]
fn KCurve(estimate: KEstimate) -> impl IntoView {
    let bars = estimate
        .points
        .iter()
        .map(|&(k, v)| Bar {
            label: k.to_string(),
            value: v,
            colour: if k == estimate.best { "#d62728" } else { "#9ecae1" }.into(),
            title: format!("K = {k}: {v:.4}"),
        })
        .collect();
    view! {
        <p class="note">{format!("{}, K from {} to {}.", estimate.method, estimate.min, estimate.max)}</p>
        <div id="k-curve"><BarChart bars=bars/></div>
        <p>"chosen K = "<span id="k-best">{estimate.best}</span></p>
    }
}

#[component]
fn Inference(report: RunReport, backend: Backend) -> impl IntoView {
    let result: RwSignal<Option<(bool, String)>> = RwSignal::new(None);
    match report.inference.clone() {
        None => result.set(Some((false, "this report has no inference block (written by an older trainer, or larger than eval.max_inference_values)".into()))),
        Some(inf) => {
            let (num_old, scores) = (report.dataset.num_old, report.final_scores.clone());
            let name = if backend.gpu { "WebGPU" } else { "CPU (flex)" };
            leptos::task::spawn_local(async move {
                let out = match infer::check(&inf, num_old, &scores, &backend.device, name).await {
                    Ok(c) => (c.agree == c.n && c.scores_equal, c.text),
                    Err(e) => (false, e),
                };
                result.set(Some(out));
            });
        }
    }
    view! {
        <p class="note">"Recomputes every prediction from the report's features and head weights with ssr2-core's cosine classifier (SPEC §2) on this page's device, then All/Old/New with ssr2-core's Hungarian matching."</p>
        <p id="inference" class:ok=move || result.get().is_some_and(|r| r.0) class:bad=move || result.get().is_some_and(|r| !r.0)>
            {move || result.get().map_or_else(|| "computing…".to_string(), |r| r.1)}
        </p>
    }
}

#[component]
fn Ranks(report: RunReport) -> impl IntoView {
    let names = report.dataset.class_names.clone();
    let bars: Vec<Bar> = report
        .class_ranks
        .iter()
        .map(|c| Bar {
            label: c.class.to_string(),
            value: c.effective_rank,
            colour: old_new(c.old).into(),
            title: format!(
                "{} ({}, {} samples): effective rank {:.2}",
                names.get(c.class).cloned().unwrap_or_default(),
                if c.old { "old" } else { "new" },
                c.count,
                c.effective_rank
            ),
        })
        .collect();
    let mean = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.2}"));
    view! {
        <BarChart bars=bars/>
        <p class="note">
            <span class="key"><i style="background:#4e79a7"></i>"old"</span>
            <span class="key"><i style="background:#f28e2b"></i>"new"</span>
            {format!(" mean: old {}, new {} (SPEC §9). Similar heights = old and new classes keep similar dimensions.",
                mean(report.rank_old_mean), mean(report.rank_new_mean))}
        </p>
    }
}

#[component]
fn Spectra(report: RunReport) -> impl IntoView {
    let k = report.dataset.num_classes;
    let num_old = report.dataset.num_old;
    // One old and one new class to start with.
    let mut start = vec![false; k];
    if k > 0 {
        start[0] = true;
    }
    if num_old < k {
        start[num_old] = true;
    }
    let chosen = RwSignal::new(start);
    let classes = report.class_ranks.clone();
    let boxes = (0..k)
        .map(|c| {
            view! {
                <label class="check">
                    <input type="checkbox" prop:checked=move || chosen.get()[c]
                        on:change=move |_| chosen.update(|v| v[c] = !v[c])/>
                    {c.to_string()}
                </label>
            }
        })
        .collect_view();
    let chart = move || {
        let on = chosen.get();
        let series: Vec<Series> = classes
            .iter()
            .filter(|c| on.get(c.class).copied().unwrap_or(false))
            .map(|c| Series {
                name: format!("{} ({})", c.class, if c.old { "old" } else { "new" }),
                values: c.singular_values.clone(),
                colour: category(c.class),
            })
            .collect();
        view! { <LineChart series=series x_label="index"/> }
    };
    view! { <div class="boxes">"classes: " {boxes}</div> {chart} }
}

#[component]
fn Confusion(report: RunReport) -> impl IntoView {
    let k = report.dataset.num_classes;
    let p = &report.projection;
    let m = confusion(&p.label, &p.pred, &report.mapping, k);
    let top = max_cell(&m) as f64;
    let unmatched = m.iter().any(|r| r[k] > 0);
    let cols = if unmatched { k + 1 } else { k };
    let head = (0..cols)
        .map(|c| view! { <th>{if c < k { c.to_string() } else { "–".into() }}</th> })
        .collect_view();
    let rows = m
        .iter()
        .enumerate()
        .map(|(y, row)| {
            let cells = row[..cols]
                .iter()
                .map(|&v| {
                    let t = v as f64 / top;
                    let style = format!("background:{};color:{}", sequential(t), text_on(t));
                    view! { <td style=style>{if v > 0 { v.to_string() } else { String::new() }}</td> }
                })
                .collect_view();
            let mark = if y < report.dataset.num_old { "old" } else { "new" };
            view! { <tr><th title=mark>{format!("{y}")}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <p class="note">{format!("Rows: true class; columns: the class each predicted cluster was matched to{}. Counts over the {} projected samples.",
            if unmatched { " (– = unmatched cluster)" } else { "" }, p.x.len())}</p>
        <table class="confusion"><tr><th></th>{head}</tr>{rows}</table>
    }
}
