//! `ssr2 extract`: CLIP image features of a dataset's training (and test) images -> a feature
//! bundle.
//! Resumable: finished batches are kept in `OUT.parts/` until the bundle is written.

use crate::device::DeviceArgs;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};
use ssr2_data::{
    Dataset, ImageSource, Matrix, OpenOptions, image_dataset_names, open_image_dataset,
};

use crate::clip_io::Model;
use crate::cmd_embed::bar;
use crate::fail::{Fail, Result, write_atomic};

/// Extract CLIP image features for every training image of a dataset into a feature bundle
/// (docs/BUNDLE.md) that `ssr2 train --features` reads: L2-normalised projected embeddings
/// (`image`), the features before the projection (`image_pooled`), true labels remapped old
/// classes first, and the GCD labelled mask (SPEC §1). The official test split's images follow,
/// flagged by the `split` tensor: training never sees them, and they are scored inductively.
///
/// Interrupted runs continue where they stopped: finished batches wait in OUT.parts/ (checked
/// against the model, dataset and batch size) until the bundle is complete. Then run
/// `ssr2 retrieve` to add the RTA text candidates.
#[derive(Args)]
pub struct ExtractArgs {
    /// A Hugging Face CLIP folder: config.json, model.safetensors (no tokenizer needed).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Dataset layout (see docs/DATASETS.md): cifar10, cifar100, oxford_pets, flowers102,
    /// stanford_cars, cub200, imagefolder, ...
    #[arg(long)]
    dataset: String,
    /// The dataset's root folder.
    #[arg(long, value_name = "PATH")]
    root: PathBuf,
    /// Output bundle (written atomically when complete).
    #[arg(long, value_name = "BUNDLE")]
    out: PathBuf,
    /// imagefolder / imagenet100: the test split's root, with the same class subfolders (e.g.
    /// ImageNet's val set sorted into wnid folders). The other benchmarks read their official
    /// test split from --root.
    #[arg(long, value_name = "PATH")]
    test_root: Option<PathBuf>,
    /// Leave the test split out (by default its images are extracted too and stored flagged by
    /// the bundle's `split` tensor, for inductive evaluation).
    #[arg(long, conflicts_with = "test_root")]
    no_test: bool,
    /// imagefolder only: the first N classes (sorted names) are old (default: half).
    #[arg(long, value_name = "N")]
    old: Option<usize>,
    /// Seed of the labelled-sample draw (50% of old-class samples).
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Images per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096), default_value_t = 32)]
    batch: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// Discard the progress of an interrupted run instead of continuing it.
    #[arg(long)]
    restart: bool,
    #[arg(long)]
    quiet: bool,
    /// Extract one shard of the work only: `I/N` (I = 0..N-1) takes the I-th of N contiguous
    /// runs of batches over the training then test images. `ssr2 merge` joins the N shard
    /// bundles into exactly the unsharded bundle (same --batch on every shard).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Testing hook: stop (as if killed) after computing this many new batches.
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

/// What the finished batches in OUT.parts/ were computed with.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Manifest {
    model_hash: String,
    dataset: String,
    root: String,
    samples: usize,
    /// Of `samples`, the test split's (after the training images).
    #[serde(default)]
    test_samples: usize,
    batch: usize,
    /// `[I, N]` when extracting one shard.
    #[serde(default)]
    shard: Option<(usize, usize)>,
    /// The extraction's identity ([`extraction_id`]): a continued run must see the same images.
    #[serde(default)]
    extraction: String,
}

/// `I/N` with I < N.
fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("`{s}`: expected I/N with 0 <= I < N (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i < n { Ok((i, n)) } else { Err(bad()) }
}

fn parts_dir(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".parts");
    PathBuf::from(s)
}

/// This shard's rows of `n_all`: whole batches of the unsharded run, so every row is computed
/// exactly as there. Saturating: an index near usize::MAX gives an empty shard, never a wrapped
/// one.
fn shard_rows(n_all: usize, batch: usize, shard: Option<(usize, usize)>) -> Range<usize> {
    match shard {
        None => 0..n_all,
        Some((i, shards)) => {
            let per = n_all.div_ceil(batch).div_ceil(shards).saturating_mul(batch);
            i.saturating_mul(per).min(n_all)..(i.saturating_add(1)).saturating_mul(per).min(n_all)
        }
    }
}

/// The embeddings (`d` each) and pre-projection features (`h`) of `items`, `batch` images at a
/// time; a batch whose part file is in `parts` (an interrupted run's) is read back, each new one
/// written there.
fn embed_items(
    model: &Model,
    items: &[&ssr2_data::ImageItem],
    parts: &Path,
    [batch, d, h]: [usize; 3],
    args: &ExtractArgs,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = items.len();
    let bar = bar(n, "images", args.quiet);
    let mut image = Vec::with_capacity(n * d);
    let mut pooled = Vec::with_capacity(n * h);
    let mut computed = 0;
    for (k, chunk) in items.chunks(batch).enumerate() {
        let part = parts.join(format!("part-{k:06}.f32"));
        let rows = chunk.len();
        let (emb, pool) = match read_part(&part, rows, d, h)? {
            Some(done) => done,
            None => {
                let refs: Vec<&ImageSource> = chunk.iter().map(|it| &it.source).collect();
                let pixels = model.preprocess(&refs)?;
                let (emb, pool) = model.embed_pixels(pixels, rows);
                write_part(&part, &emb, &pool)?;
                computed += 1;
                if args.stop_after == Some(computed) {
                    return Err(Fail(format!(
                        "stopped after {computed} batches (--stop-after)"
                    )));
                }
                (emb, pool)
            }
        };
        image.extend(emb);
        pooled.extend(pool);
        bar.inc(rows as u64);
    }
    bar.finish_and_clear();
    Ok((image, pooled))
}

pub fn run(args: &ExtractArgs) -> Result<()> {
    if !image_dataset_names().contains(&args.dataset.as_str()) {
        return Err(Fail::arg(format!(
            "--dataset {}: unknown, expected one of {}",
            args.dataset,
            image_dataset_names().join(", ")
        )));
    }
    let opts = OpenOptions {
        num_old: args.old,
        split_seed: args.split_seed,
        ..OpenOptions::default()
    };
    let list =
        open_image_dataset(&args.dataset, &args.root, &opts).map_err(|e| Fail(e.to_string()))?;
    let test = test_split(args, &list)?;
    let model = Model::open(&args.model, args.device.open()?)?;
    let batch = args.batch.max(1);
    let n_test = test.as_ref().map_or(0, |t| t.items.len());
    // Training images first, then the test split's: one list for the batches and their parts.
    let items: Vec<&ssr2_data::ImageItem> = list
        .items
        .iter()
        .chain(test.iter().flat_map(|t| &t.items))
        .collect();
    let n_all = items.len();
    let rows = shard_rows(n_all, batch, args.shard);
    // One read of the weights: the CLIP's SHA-256 keys the manifest, the extraction's identity
    // and the bundle's `clip_sha256`.
    let model_hash = crate::clip_io::clip_sha256(&args.model)?;
    let extraction = extraction_id(args, &model_hash, &list, &items, n_test, batch);
    let items = &items[rows.clone()];
    let n = items.len();
    let manifest = Manifest {
        model_hash,
        dataset: args.dataset.clone(),
        root: args.root.display().to_string(),
        samples: n,
        test_samples: n_test,
        batch,
        shard: args.shard,
        extraction: extraction.clone(),
    };
    let (parts, _lock) = prepare_parts(&parts_dir(&args.out), &manifest, args.restart)?;

    // Widths from the model, so that an empty shard has its bundle's columns too.
    let (d, h) = (
        model.folder.config.projection_dim,
        model.folder.config.vision.tower.hidden,
    );
    let (image, pooled) = embed_items(&model, items, &parts, [batch, d, h], args)?;

    let mut labelled = list.labelled.clone();
    labelled.resize(n_all, false);
    let all = Dataset {
        name: list.name.clone(),
        class_names: list.class_names.clone(),
        num_old: list.num_old,
        image: Matrix::new(n, d, image),
        image_views: None,
        image_pooled: Some(Matrix::new(n, h, pooled)),
        text: None,
        labels: items.iter().map(|it| it.label).collect(),
        labelled: labelled[rows.clone()].to_vec(),
        sample_ids: items.iter().map(|it| it.id.clone()).collect(),
        test: None,
    };
    let is_test: Vec<bool> = rows.clone().map(|i| i >= n_all - n_test).collect();
    let ds = all
        .split_off_test(&is_test)
        .map_err(|e| Fail(e.to_string()))?;
    let mut extra = vec![(ssr2_data::CLIP_KEY, manifest.model_hash.clone())];
    let record = args.shard.map(|(index, count)| {
        ssr2_data::ShardRecord {
            index,
            count,
            rows: [rows.start, rows.end],
            total_rows: n_all,
            extraction,
        }
        .to_metadata()
    });
    extra.extend(record);
    ssr2_data::write_bundle_with(&args.out, &ds, &extra).map_err(|e| Fail(e.to_string()))?;
    std::fs::remove_dir_all(&parts).map_err(|e| Fail::output(&parts, e))?;
    eprintln!(
        "wrote {}: {} training images ({} labelled), {} test images, {} classes ({} old), \
         features {d}, pre-projection {h}{}",
        args.out.display(),
        ds.len(),
        ds.labelled.iter().filter(|&&l| l).count(),
        ds.test.as_ref().map_or(0, |t| t.len()),
        ds.class_names.len(),
        ds.num_old,
        match args.shard {
            Some((i, shards)) =>
                format!(" (shard {i}/{shards}: rows {}..{})", rows.start, rows.end),
            None => String::new(),
        }
    );
    Ok(())
}

/// The dataset's test split, unless --no-test. A benchmark whose test files are absent (e.g.
/// Stanford Cars without `cars_test_annos_withlabels.mat`) is extracted without one, with a
/// warning; a test split that is there but broken is an error.
fn test_split(
    args: &ExtractArgs,
    list: &ssr2_data::ImageList,
) -> Result<Option<ssr2_data::ImageList>> {
    if args.no_test {
        return Ok(None);
    }
    match ssr2_data::open_image_test_set(&args.dataset, &args.root, args.test_root.as_deref(), list)
    {
        Ok(t) => Ok(t),
        Err(ssr2_data::DataError::Io { path, source })
            if source.kind() == std::io::ErrorKind::NotFound && args.test_root.is_none() =>
        {
            eprintln!(
                "warning: no test split ({path} is missing): the bundle holds the training images \
                 only, so runs on it have no inductive scores (--no-test silences this)"
            );
            Ok(None)
        }
        Err(e) => Err(Fail(e.to_string())),
    }
}

/// SHA-256 of what decides the extraction's rows: the CLIP's weights, the dataset and its old
/// classes, the images (ids, labels, labelled flags, training then test), the split seed and
/// the batch size. The same on every shard of one extraction, on any machine.
fn extraction_id(
    args: &ExtractArgs,
    model_hash: &str,
    list: &ssr2_data::ImageList,
    items: &[&ssr2_data::ImageItem],
    n_test: usize,
    batch: usize,
) -> String {
    let samples: Vec<(&str, usize)> = items.iter().map(|it| (it.id.as_str(), it.label)).collect();
    let identity = serde_json::json!({
        "model": model_hash,
        "dataset": args.dataset,
        "num_old": list.num_old,
        "split_seed": args.split_seed,
        "batch": batch,
        "samples": samples,
        "labelled": list.labelled,
        "test_samples": n_test,
    });
    ssr2_data::sha256_hex(identity.to_string().as_bytes())
}

/// Creates OUT.parts/ with its manifest, or checks that an existing one matches; locked for
/// this process (the returned file), so two extractions into one OUT never mix their parts.
fn prepare_parts(dir: &Path, manifest: &Manifest, restart: bool) -> Result<(PathBuf, File)> {
    let lock = crate::lock::lock_dir(dir, "ssr2 extract")?;
    let path = dir.join("manifest.json");
    if restart {
        // Everything but the lock this process holds.
        for entry in std::fs::read_dir(dir)
            .map_err(|e| Fail::input(dir, e))?
            .flatten()
        {
            let p = entry.path();
            if p.file_name().is_some_and(|n| n != ".lock") {
                std::fs::remove_file(&p).map_err(|e| Fail::output(&p, e))?;
            }
        }
    }
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Fail::input(&path, format!("cannot read: {e}")))?;
        let old: Manifest = serde_json::from_str(&text).map_err(|e| {
            Fail::input(
                &path,
                format!("not an extract manifest ({e}); use --restart"),
            )
        })?;
        if &old != manifest {
            return Err(Fail::input(
                &path,
                "unfinished extraction with another model, dataset, image set, split or batch \
                 size: use --restart to discard it",
            ));
        }
        eprintln!("continuing the unfinished extraction in {}", dir.display());
        return Ok((dir.to_path_buf(), lock));
    }
    let text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
    write_atomic(&path, text.as_bytes())?;
    Ok((dir.to_path_buf(), lock))
}

/// Hex digits of the SHA-256 that ends every part file.
const DIGEST_LEN: usize = 64;

/// One finished batch: embeddings then pooled features, little-endian f32, then the SHA-256 of
/// those bytes (so a part corrupted in place is recomputed, never used).
fn write_part(path: &Path, emb: &[f32], pooled: &[f32]) -> Result<()> {
    let mut bytes: Vec<u8> = emb
        .iter()
        .chain(pooled)
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let digest = ssr2_data::sha256_hex(&bytes);
    bytes.extend(digest.as_bytes());
    write_atomic(path, &bytes)
}

fn read_part(path: &Path, rows: usize, d: usize, h: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let data_len = rows * (d + h) * 4;
    let intact = bytes.len() == data_len + DIGEST_LEN
        && ssr2_data::sha256_hex(&bytes[..data_len]).as_bytes() == &bytes[data_len..];
    if !intact {
        // A torn, corrupted or foreign file: recompute that batch.
        eprintln!(
            "{}: damaged (size or checksum), recomputing it",
            path.display()
        );
        return Ok(None);
    }
    let v: Vec<f32> = bytes[..data_len]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (emb, pooled) = v.split_at(rows * d);
    Ok(Some((emb.to_vec(), pooled.to_vec())))
}
