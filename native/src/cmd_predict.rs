//! `ssr2 predict`: a trained run's cluster for each sample of a feature bundle (features mode) or
//! each image (fine-tune mode: the run's own images or a folder of new ones).

use crate::cmd_embed::bar;
use ssr2_train::run::{check_hash, read_run, trained_heads};
use ssr2_train::data::load_dataset;
use crate::device::DeviceArgs;
use crate::fail::{Fail, Result, write_atomic};
use clap::Args;
use ssr2_clip::ClipFolder;
use ssr2_data::Dataset;
use ssr2_train::TrainConfig;
use ssr2_train::checkpoint::short;
use ssr2_train::eval::Embedded;
use ssr2_train::features::embed;
use ssr2_train::finetune::{Candidates, Inputs};
use ssr2_train::report::RunReport;
use ssr2_view::predict::{confidence, matched_class};
use std::path::{Path, PathBuf};

/// Predict the cluster of new samples with a trained run.
///
/// Features-mode runs predict the samples of a feature bundle (--features; default: the run's
/// own data), or, when image-only, every image below --images DIR embedded with --model's CLIP.
/// Fine-tune runs predict images with the run's fine-tuned CLIP: the run's own images by
/// default, or every image below --images DIR (with --candidates for a run that uses text:
/// `ssr2 retrieve`'s texts for those images, ids = paths relative to DIR).
///
/// Writes one row per sample: its id, the predicted cluster, the class that cluster was matched
/// to in training (old classes by name, discovered ones as new-<class id of the run's mapping>,
/// `unmatched-<cluster>` for a cluster no class was matched to), whether that class is old, the
/// confidence (the largest class probability: softmax of the logits, averaged over the image
/// and text branches when the run uses text) and, for fine-tune runs with text, the retrieved
/// tags, best first. CSV by default, JSON with --json.
#[derive(Args)]
pub struct PredictArgs {
    /// A run directory written by `ssr2 train` (OUT/seed-N).
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Features-mode runs: a feature bundle with the run's feature dimensions (docs/BUNDLE.md).
    /// Default: the run's own data.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "images")]
    features: Option<PathBuf>,
    /// A folder of new images (searched recursively; jpg, jpeg, png, bmp): through the run's
    /// fine-tuned CLIP (fine-tune runs), or through --model's CLIP (image-only features runs).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Features-mode runs with --images: the CLIP folder the run's bundle was extracted with.
    #[arg(long, value_name = "CLIPDIR", requires = "images")]
    model: Option<PathBuf>,
    /// Fine-tune runs that use text, with --images: the retrieved texts of those images
    /// (`ssr2 retrieve`'s OUT.candidates.json).
    #[arg(long, value_name = "FILE", requires = "images")]
    candidates: Option<PathBuf>,
    /// Which samples of the run's data or bundle: train (its training samples, labelled ones
    /// included) or test (its held-out test split, when it has one). Features mode.
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    split: String,
    /// JSON (an array of objects) instead of CSV.
    #[arg(long)]
    json: bool,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// One predicted sample.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    cluster: usize,
    class: String,
    old: bool,
    confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let (report, cfg) = read_run(&args.run)?;
    let device = args.device.open()?;
    let (ids, e, tags) = if cfg.finetune.enabled() {
        finetuned(args, &report, &cfg, &device)?
    } else {
        features(args, &report, &cfg, &device)?
    };
    let rows: Vec<Row> = (0..ids.len())
        .map(|i| {
            row(
                &report,
                &e,
                i,
                ids[i].clone(),
                tags.as_ref().map(|t| t[i].clone()),
            )
        })
        .collect();
    let out = if args.json { json(&rows) } else { csv(&rows) };
    match &args.out {
        Some(path) => write_atomic(path, out.as_bytes()),
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

/// Ids, embeddings and retrieved tags (fine-tune runs with text; bundles store tag embeddings,
/// not texts) of the predicted samples.
type Predicted = (Vec<String>, Embedded, Option<Vec<Vec<String>>>);

fn features(
    args: &PredictArgs,
    report: &RunReport,
    cfg: &TrainConfig,
    device: &burn::prelude::Device,
) -> Result<Predicted> {
    let dir = &args.run;
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    let ds = match (&args.features, &args.images) {
        (Some(path), _) => ssr2_data::read_bundle(path).map_err(|e| Fail(e.to_string()))?,
        (None, Some(folder)) => {
            if use_text {
                return Err(Fail::input(
                    dir,
                    "the run uses text: extract the images with the run's CLIP (`ssr2 extract`), \
                     retrieve their texts (`ssr2 retrieve`) and pass the bundle with --features",
                ));
            }
            embedded_images(folder, args, report, cfg, device)?
        }
        (None, None) => {
            // The run's own data must still be the data it trained on.
            let ds = load_dataset(cfg)?;
            if let Some(p) = &report.provenance {
                check_hash(dir, &p.data_sha256, &ssr2_data::dataset_sha256(&ds))?;
            }
            ds
        }
    };
    let ds = match (args.split.as_str(), ds) {
        ("train", ds) => ds,
        (
            _,
            Dataset {
                test: Some(test), ..
            },
        ) => *test,
        (_, _) => {
            return Err(Fail::input(
                args.features.as_deref().unwrap_or(dir),
                "--split test: these samples have no test split",
            ));
        }
    };
    if use_text && ds.text.is_none() {
        return Err(Fail::input(
            args.features.as_deref().unwrap_or(dir),
            "the run uses text features but these samples have none",
        ));
    }
    let model = trained_heads(dir, report, cfg, &ds, device)?;
    let all: Vec<usize> = (0..ds.len()).collect();
    let e = embed(&model, &ds, &all, &cfg.rta, device);
    Ok((ds.sample_ids, e, None))
}

/// `--model` must be the CLIP the run's bundle was extracted with (bundles record its SHA-256):
/// another CLIP of the same width gives features the heads never saw.
fn check_bundle_clip(model_dir: &Path, run: &Path, cfg: &TrainConfig) -> Result<()> {
    let Some(bundle) = cfg.data.bundle.as_deref().map(Path::new) else {
        return Ok(());
    };
    let meta = ssr2_data::read_bundle_metadata(bundle).map_err(|e| Fail(e.to_string()))?;
    let Some(then) = meta.get(ssr2_data::CLIP_KEY) else {
        return Ok(());
    };
    let now = crate::clip_io::clip_sha256(model_dir)?;
    if now != *then {
        return Err(Fail::input(
            model_dir,
            format!(
                "SHA-256 {} but the bundle of {} was extracted with a CLIP with {}: give --model \
                 the CLIP the bundle was extracted with",
                short(&now),
                run.display(),
                short(then)
            ),
        ));
    }
    Ok(())
}

/// The images below `folder` as a dataset of their CLIP image features (`--model`, the CLIP the
/// run's bundle was extracted with), for an image-only features-mode run.
fn embedded_images(
    folder: &Path,
    args: &PredictArgs,
    report: &RunReport,
    cfg: &TrainConfig,
    device: &burn::prelude::Device,
) -> Result<ssr2_data::Dataset> {
    let Some(model_dir) = &args.model else {
        return Err(Fail::arg(
            "--images with a features-mode run: give --model CLIPDIR, the CLIP its bundle was \
             extracted with",
        ));
    };
    check_bundle_clip(model_dir, &args.run, cfg)?;
    let list = ssr2_data::images_to_predict(
        folder,
        report.dataset.class_names.clone(),
        report.dataset.num_old,
    )
    .map_err(|e| Fail(e.to_string()))?;
    let model = crate::clip_io::Model::open(model_dir, device.clone())?;
    let d = model.folder.config.projection_dim;
    let n = list.items.len();
    let progress = bar(n, "images", args.quiet);
    let mut image = Vec::with_capacity(n * d);
    for chunk in list.items.chunks(64) {
        let sources: Vec<&ssr2_data::ImageSource> = chunk.iter().map(|it| &it.source).collect();
        let pixels = model.preprocess(&sources)?;
        image.extend(model.embed_pixels(pixels, chunk.len()).0);
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(ssr2_data::Dataset {
        name: list.name,
        class_names: list.class_names,
        num_old: list.num_old,
        image: ssr2_data::Matrix::new(n, d, image),
        image_views: None,
        image_pooled: None,
        text: None,
        labels: vec![0; n],
        labelled: vec![false; n],
        sample_ids: list.items.into_iter().map(|it| it.id).collect(),
        test: None,
    })
}

/// A fine-tune run's prediction of its own images or of `--images`, with the tags it read.
fn finetuned(
    args: &PredictArgs,
    report: &RunReport,
    cfg: &TrainConfig,
    device: &burn::prelude::Device,
) -> Result<Predicted> {
    let dir = &args.run;
    if args.features.is_some() || args.split != "train" {
        return Err(Fail::input(
            dir,
            "a fine-tune run predicts images (its own, or --images DIR), not bundles or splits",
        ));
    }
    let use_text = report.dataset.modalities.iter().any(|m| m == "text");
    let inputs = match &args.images {
        None => crate::cmd_finetune::inputs(cfg, report.seed, device)?,
        Some(folder) => new_images(dir, folder, args.candidates.as_deref(), report, cfg, device)?,
    };
    if use_text != inputs.candidates.is_some() {
        return Err(Fail::input(
            args.candidates.as_deref().unwrap_or(dir),
            if use_text {
                "the run uses text: give --candidates with the retrieved texts of these images"
            } else {
                "the run is image-only: it reads no candidates"
            },
        ));
    }
    let ids: Vec<String> = inputs.images.items.iter().map(|it| it.id.clone()).collect();
    let tags = inputs.candidates.as_ref().map(|c| c.tags.clone());
    let progress = bar(ids.len(), "images", args.quiet);
    let e = ssr2_train::finetune::predict(
        inputs,
        cfg,
        report.head_clusters(),
        &dir.join(&report.heads),
        device,
        &mut |n| progress.inc(n as u64),
    )
    .map_err(Fail)?;
    progress.finish_and_clear();
    Ok((ids, e, tags))
}

/// The run's CLIP (and tokenizer, with texts) and the images below `folder`.
fn new_images(
    dir: &Path,
    folder: &Path,
    candidates: Option<&Path>,
    report: &RunReport,
    cfg: &TrainConfig,
    device: &burn::prelude::Device,
) -> Result<Inputs> {
    let Some(model) = &cfg.finetune.model else {
        return Err(Fail::input(
            dir,
            "this fine-tune run has no CLIP folder (a synthetic benchmark run)",
        ));
    };
    let images = ssr2_data::images_to_predict(
        folder,
        report.dataset.class_names.clone(),
        report.dataset.num_old,
    )
    .map_err(|e| Fail(e.to_string()))?;
    let clip = ClipFolder::open(Path::new(model)).map_err(|e| Fail::arg(e.to_string()))?;
    let candidates = match candidates {
        Some(p) => Some(Candidates::read(p, &images).map_err(Fail::arg)?),
        None => None,
    };
    let tokenizer = match candidates {
        Some(_) => Some(clip.tokenizer().map_err(|e| Fail::arg(e.to_string()))?),
        None => None,
    };
    Ok(Inputs {
        clip: clip.load(device).map_err(|e| Fail::arg(e.to_string()))?,
        tokenizer,
        images,
        candidates,
        test: None,
    })
}

/// Sample `i`'s row: cluster, matched class, old flag, confidence.
fn row(report: &RunReport, e: &Embedded, i: usize, id: String, tags: Option<Vec<String>>) -> Row {
    let cluster = e.preds[i];
    let (class, old) = matched_class(report, cluster);
    let k = e.classes;
    let text = e.logits_text.as_ref().map(|l| &l[i * k..(i + 1) * k]);
    Row {
        id,
        cluster,
        class,
        old,
        confidence: confidence(&e.logits_image[i * k..(i + 1) * k], text),
        tags,
    }
}

fn csv(rows: &[Row]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let with_tags = rows.first().is_some_and(|r| r.tags.is_some());
    let mut out = String::from("id,cluster,class,old,confidence");
    out += if with_tags { ",tags\n" } else { "\n" };
    for r in rows {
        out += &format!(
            "{},{},{},{},{:.6}",
            quote(&r.id),
            r.cluster,
            quote(&r.class),
            r.old,
            r.confidence
        );
        if let Some(t) = &r.tags {
            // Tags, best first, separated by `|`.
            out += &format!(",{}", quote(&t.join("|")));
        }
        out.push('\n');
    }
    out
}

fn json(rows: &[Row]) -> String {
    serde_json::to_string(rows).expect("rows serialise") + "\n"
}
