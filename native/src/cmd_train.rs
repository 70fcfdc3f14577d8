//! `ssr2 train`: train SSR2-GCD on features and print All / Old / New per seed.

use crate::device::DeviceArgs;
use crate::fail::{Fail, Result};
use clap::Args;
use crate::print::{Bars, print_table};
use indicatif::MultiProgress;
use ssr2_train::config::{DataSource, InterModal, RepLoss, TrainConfig};
use ssr2_train::report::RunReport;
use ssr2_train::{Devices, PRESETS, RunDir};
use std::path::{Path, PathBuf};

/// Train SSR2-GCD on features and print All / Old / New accuracy on the unlabelled set.
///
/// With no arguments it trains on the embedded UCI digits (old classes 0-4, half of their
/// samples labelled; digits 5-9 must be discovered), three seeds in about half a minute on two
/// CPU cores. Settings come from a preset (--preset) or a TOML file (--config), then the flags
/// below override them. Each seed writes a run directory (report.json, heads.safetensors,
/// config.toml and its last checkpoint) under --out; see docs/REPORT.md.
#[derive(Args)]
pub struct TrainArgs {
    /// Training data: digits (embedded, image-only), synthetic (multi-modal subspaces), or a
    /// feature bundle file given with --features.
    #[arg(long, value_parser = ["digits", "synthetic", "fashion-mnist"])]
    data: Option<String>,
    /// A feature bundle (safetensors, see docs/BUNDLE.md) to train on.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "data")]
    features: Option<PathBuf>,
    /// Labelled sample positions (.npy, int32/int64), replacing the data's own split: use it to
    /// reproduce a split exported from another implementation.
    #[arg(long, value_name = "IDX.npy")]
    labelled_indices: Option<PathBuf>,
    /// Hold out this fraction of each class as a test split, scored inductively after training
    /// (the "inductive (test)" rows) and never trained on; for data without a test split of its
    /// own. The digits preset holds out 0.2; 0 turns it off.
    #[arg(long, value_name = "F")]
    test_fraction: Option<f64>,
    /// Train on the first N training samples only (for scaling measurements; 0 = all).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Seed of the labelled split (default 0, the reference's for every run): numpy's legacy
    /// `np.random.seed(S); choice(...)` reproduced exactly; separate from --seeds. Digits and
    /// fine-tune mode; a bundle keeps the split it was extracted with.
    #[arg(long, value_name = "S")]
    split_seed: Option<u64>,
    /// A TOML configuration file (print one with --print-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start from a named preset: paper, digits, synthetic, fashion-mnist (784 raw pixels through
    /// an MLP) or fashion-mnist-cnn (a small CNN with crop and flip views; about 15x slower on a
    /// CPU). Default: the one matching the data.
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// Seeds to run, comma-separated; the table shows each and their mean and std.
    #[arg(long, value_delimiter = ',', value_name = "S,S,..")]
    seeds: Option<Vec<u64>>,
    /// Clusters to discover: data (the data's class count), auto (estimated from the features and
    /// the labelled samples first, as `ssr2 estimate-k --method gcd`; the curve goes into the
    /// report), or a number.
    #[arg(long, value_name = "data|auto|K")]
    num_classes: Option<String>,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Representation loss inside each modality: ssr2 (the method) or contrastive (SupCon +
    /// InfoNCE, the baseline of the paper's ablation).
    #[arg(long, value_parser = ["ssr2", "contrastive"])]
    rep_loss: Option<String>,
    /// Loss between modalities: none (SSR2-GCD) or clip (image-to-text, the ablation).
    #[arg(long, value_parser = ["none", "clip"])]
    inter_modal: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Split every batch over several devices of this process, comma-separated: cuda:0,cuda:1,
    /// wgpu:0,wgpu:1 (discrete GPUs by index), or one device repeated (cpu,cpu or wgpu,wgpu:
    /// copies on one device, for testing). The first holds the model; each device encodes its
    /// shard of the batch and the loss is computed on the whole batch, so the run is the
    /// one-device run up to float rounding (docs/SCALE.md). Not with the cnn adapter (its batch
    /// norm normalises per batch).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "DEV,DEV,..",
        conflicts_with = "device"
    )]
    devices: Option<Vec<String>>,
    /// Output directory; each seed writes OUT/seed-N. Default runs/latest, which each new run
    /// replaces; a directory given here that already holds a run is refused (see --overwrite).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the runs in this directory from their last checkpoints (same settings).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Replace a run already in --out (its config.toml and seed-N folders are deleted first).
    /// Without it, training into a directory that holds a run is refused, so seeds of two
    /// different runs never end up in one table.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bars (for logs and scripts).
    #[arg(long)]
    quiet: bool,
    /// features: train heads on a feature bundle; finetune: train CLIP's last blocks on images
    /// (SPEC §8, see docs/FINETUNE.md).
    #[arg(long, default_value = "features", value_parser = ["features", "finetune"])]
    mode: String,
    /// Fine-tune: Hugging Face CLIP folder.
    #[arg(long, value_name = "CLIPDIR")]
    model: Option<PathBuf>,
    /// Fine-tune: image dataset name (cub200, cifar100, imagefolder, ...).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Fine-tune: dataset root folder. --data fashion-mnist: the folder of its IDX files
    /// (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist).
    #[arg(long, value_name = "PATH")]
    root: Option<PathBuf>,
    /// Fine-tune, imagefolder: number of old classes (default half).
    #[arg(long, value_name = "N")]
    num_old: Option<usize>,
    /// Fine-tune, imagefolder / imagenet100: the test split's root (the same class subfolders),
    /// scored inductively after training. The other benchmarks read their official test split
    /// from --root (`finetune.inductive = false` turns it off).
    #[arg(long, value_name = "PATH")]
    test_root: Option<PathBuf>,
    /// Fine-tune: `ssr2 retrieve`'s OUT.candidates.json (RTA texts); without it, image-only.
    #[arg(long, value_name = "FILE")]
    candidates: Option<PathBuf>,
    /// Fine-tune: pre-drawn augmented views per image whose frozen-prefix outputs are cached
    /// (0 = off: a fresh view every epoch, nothing cached).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100000), value_name = "N")]
    cache_views: Option<usize>,
    /// Fine-tune: image decoding/augmentation threads.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024), value_name = "N")]
    workers: Option<usize>,
    /// Override the batch size (images per step).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=65536), value_name = "B")]
    batch: Option<usize>,
    /// Fine-tune benchmark: random weights of this shape on random images.
    #[arg(long, hide = true, value_parser = ["vitb16", "small", "tiny"])]
    synthetic: Option<String>,
    /// Fine-tune benchmark: number of random images.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10000000), hide = true)]
    synthetic_images: Option<usize>,
    /// Fine-tune benchmark: tokenizer.json for the synthetic texts (none = image-only).
    #[arg(long, hide = true)]
    tokenizer: Option<PathBuf>,
}

/// The devices of `--devices` (or the one of `--device`), each started.
fn devices(args: &TrainArgs) -> Result<Devices> {
    let Some(names) = &args.devices else {
        return Ok(Devices::one(&args.device.open()?));
    };
    let list = names
        .iter()
        .map(|n| crate::device::device(n.trim()))
        .collect::<Result<Vec<_>>>()?;
    Devices::new(list).map_err(|e| Fail::arg(format!("--devices: {e}")))
}

fn read_config(path: &PathBuf) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::input(path, format!("cannot read: {e}")))?;
    Ok(ssr2_train::run::parse_config(path, &text)?)
}

/// The configuration the flags ask for.
fn resolve_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = if let Some(dir) = &args.resume {
        read_config(&dir.join("config.toml"))?
    } else if let Some(path) = &args.config {
        read_config(path)?
    } else {
        let name =
            args.preset
                .clone()
                .unwrap_or_else(|| match (&args.features, args.data.as_deref()) {
                    (Some(_), _) => "paper".into(),
                    (_, Some("synthetic")) => "synthetic".into(),
                    (_, Some("fashion-mnist")) => "fashion-mnist".into(),
                    _ => "digits".into(),
                });
        TrainConfig::preset(&name).ok_or_else(|| {
            Fail::arg(format!(
                "--preset {name}: unknown (known: {})",
                PRESETS.join(", ")
            ))
        })?
    };
    if let Some(path) = &args.features {
        cfg.data.source = DataSource::Bundle;
        cfg.data.bundle = Some(path.display().to_string());
    }
    match args.data.as_deref() {
        Some("digits") => cfg.data.source = DataSource::Digits,
        Some("synthetic") => cfg.data.source = DataSource::Synthetic,
        Some("fashion-mnist") => cfg.data.source = DataSource::FashionMnist,
        _ => {}
    }
    if cfg.data.source == DataSource::FashionMnist && args.root.is_some() {
        cfg.data.root = args.root.as_ref().map(|p| p.display().to_string());
    }
    if let Some(f) = args.test_fraction {
        cfg.data.test_fraction = f;
    }
    if let Some(n) = args.limit {
        cfg.data.limit = n;
    }
    if let Some(p) = &args.labelled_indices {
        cfg.data.labelled_indices = Some(p.display().to_string());
    }
    if let Some(s) = args.split_seed {
        cfg.data.split_seed = s;
    }
    if let Some(s) = &args.seeds {
        cfg.seeds = s.clone();
    }
    if let Some(e) = args.epochs {
        cfg.optim.epochs = e;
    }
    if let Some(k) = &args.num_classes {
        cfg.model.num_classes = ssr2_train::config::NumClasses::parse(k)
            .map_err(|e| Fail::arg(format!("--num-classes: {e}")))?;
    }
    if let Some(b) = args.batch {
        cfg.optim.batch_size = b;
    }
    let ft = &mut cfg.finetune;
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    if args.model.is_some() {
        ft.model = path(&args.model);
    }
    if args.dataset.is_some() {
        ft.dataset = args.dataset.clone();
    }
    if args.root.is_some() && cfg.data.source != DataSource::FashionMnist {
        ft.root = path(&args.root);
    }
    if args.num_old.is_some() {
        ft.num_old = args.num_old;
    }
    if args.candidates.is_some() {
        ft.candidates = path(&args.candidates);
    }
    if args.test_root.is_some() {
        ft.test_root = path(&args.test_root);
    }
    if let Some(v) = args.cache_views {
        ft.views = v;
        ft.cache = v > 0;
    }
    if let Some(w) = args.workers {
        ft.workers = w;
    }
    if args.synthetic.is_some() {
        ft.synthetic = args.synthetic.clone();
    }
    if let Some(n) = args.synthetic_images {
        ft.synthetic_images = n;
    }
    if args.tokenizer.is_some() {
        ft.tokenizer = path(&args.tokenizer);
    }
    if args.mode == "finetune" && !cfg.finetune.enabled() {
        return Err(Fail::arg(
            "--mode finetune: needs --model CLIPDIR --dataset NAME --root PATH",
        ));
    }
    refuse_ignored(args, &cfg)?;
    match args.rep_loss.as_deref() {
        Some("contrastive") => cfg.loss.rep_loss = RepLoss::Contrastive,
        Some("ssr2") => cfg.loss.rep_loss = RepLoss::Ssr2,
        _ => {}
    }
    match args.inter_modal.as_deref() {
        Some("clip") => cfg.loss.inter_modal = InterModal::Clip,
        Some("none") => cfg.loss.inter_modal = InterModal::None,
        _ => {}
    }
    cfg.validate().map_err(Fail::arg)?;
    Ok(cfg)
}

/// A flag the run would not use is refused, so that no run silently differs from its command
/// line (a features run given --candidates, a fine-tune run given --features, ...).
fn refuse_ignored(args: &TrainArgs, cfg: &TrainConfig) -> Result<()> {
    let first =
        |flags: &[(&'static str, bool)]| flags.iter().find(|(_, given)| *given).map(|f| f.0);
    if cfg.finetune.enabled() {
        let features_only = [
            ("--features", args.features.is_some()),
            ("--data", args.data.is_some()),
            ("--limit", args.limit.is_some()),
            ("--test-fraction", args.test_fraction.is_some()),
        ];
        if let Some(flag) = first(&features_only) {
            return Err(Fail::arg(format!(
                "{flag}: a features-mode flag, which a fine-tune run (--model) would ignore: it \
                 reads images (--dataset, --root; its test split from --test-root)"
            )));
        }
        return Ok(());
    }
    let finetune_only = [
        ("--dataset", args.dataset.is_some()),
        ("--num-old", args.num_old.is_some()),
        ("--test-root", args.test_root.is_some()),
        ("--candidates", args.candidates.is_some()),
        ("--cache-views", args.cache_views.is_some()),
        ("--workers", args.workers.is_some()),
        ("--tokenizer", args.tokenizer.is_some()),
        ("--synthetic-images", args.synthetic_images.is_some()),
        (
            "--root",
            args.root.is_some() && cfg.data.source != DataSource::FashionMnist,
        ),
    ];
    if let Some(flag) = first(&finetune_only) {
        return Err(Fail::arg(format!(
            "{flag}: only used by fine-tune runs (--mode finetune --model CLIPDIR --dataset NAME \
             --root PATH{}); this features run would ignore it",
            if flag == "--root" {
                ", or --data fashion-mnist"
            } else {
                ""
            }
        )));
    }
    if args.split_seed.is_some() && cfg.data.source == DataSource::Bundle {
        return Err(Fail::arg(
            "--split-seed: a bundle keeps the labelled split it was extracted with; give \
             --split-seed to `ssr2 extract`, or the labelled samples with --labelled-indices",
        ));
    }
    Ok(())
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let cfg = resolve_config(args)?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let devices = devices(args)?;
    // runs/latest is, by its name, replaced by every new run; a chosen --out is protected.
    let (out, replace) = match (&args.resume, &args.out) {
        (Some(dir), _) => (dir.clone(), false),
        (None, Some(dir)) => (dir.clone(), args.overwrite),
        (None, None) => (PathBuf::from("runs/latest"), true),
    };
    let multi = MultiProgress::new();
    if args.quiet {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if args.resume.is_some() {
        refuse_seed_folder(&out)?;
    }
    // One writer per run directory, from before anything in it is replaced.
    let _lock = crate::lock::lock_dir(&out, "ssr2 train")?;
    // Written first, so that `--resume OUT` finds the settings even if the run is killed.
    if args.resume.is_none() {
        claim_out_dir(&out, replace)?;
        crate::fail::write_atomic(&out.join("config.toml"), cfg.to_toml().as_bytes())?;
    }
    if cfg.finetune.enabled() {
        let name = match &args.devices {
            Some(list) => list.join(","),
            None => args.device.device.clone(),
        };
        return crate::cmd_finetune::run(
            &cfg,
            &devices,
            &name,
            &out,
            args.resume.is_some(),
            &multi,
        );
    }
    let mut reports: Vec<RunReport> = Vec::new();
    for &seed in &cfg.seeds {
        let ds = ssr2_train::data::load_dataset(&cfg)?;
        let mut bars = Bars::new(&multi, seed);
        let dir = out.join(format!("seed-{seed}"));
        let run_dir = RunDir {
            path: &dir,
            resume: args.resume.is_some(),
        };
        let report = ssr2_train::train_on(&ds, &cfg, seed, &devices, Some(run_dir), &mut bars)
            .map_err(Fail::arg)?;
        bars.batches.finish_and_clear();
        bars.epochs.finish();
        reports.push(report);
    }
    print_table(&reports);
    eprintln!("runs written to {}", out.display());
    Ok(())
}

/// `--resume` takes the run directory (OUT), not one of its seed folders, which would start a
/// new run nested inside the seed's folder.
fn refuse_seed_folder(dir: &Path) -> Result<()> {
    let is_seed = dir.join("report.json").exists() || dir.join("state.json").exists();
    let parent = dir.parent().filter(|p| p.join("config.toml").exists());
    if let (true, Some(parent)) = (is_seed, parent) {
        return Err(Fail::input(
            dir,
            format!(
                "is one seed's folder: resume the run with --resume {}",
                parent.display()
            ),
        ));
    }
    if !dir.join("config.toml").exists() {
        return Err(Fail::input(
            dir,
            "no config.toml here: --resume takes the --out directory of an earlier `ssr2 train`",
        ));
    }
    Ok(())
}

/// The parts of `out` that belong to a run: its config.toml and seed-N folders.
fn run_entries(out: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            name == "config.toml"
                || name == "report.json"
                || (p.is_dir()
                    && name
                        .strip_prefix("seed-")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        })
        .collect();
    found.sort();
    found
}

/// Refuses to train into a directory holding a run, unless `overwrite`, which removes that run
/// (only its config.toml and seed-N folders; anything else in the directory is left alone).
fn claim_out_dir(out: &Path, overwrite: bool) -> Result<()> {
    let old = run_entries(out);
    if old.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(Fail::input(
            out,
            "already holds a run (config.toml, seed-N folders): use another --out, \
             --resume to continue it, or --overwrite to replace it",
        ));
    }
    for path in old {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Fail::output(&path, format!("cannot remove the old run: {e}")))?;
    }
    Ok(())
}

