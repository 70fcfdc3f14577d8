//! `ssr2 retrieve`: the offline half of RTA (SPEC §7). Encodes the lexicon once (cached by
//! content), keeps each image's top tags and attributes by cosine similarity, and stores their
//! embeddings (and the base prompt's) in the bundle for the trainer to aggregate.

use crate::device::DeviceArgs;
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use burn::prelude::*;
use clap::Args;
use serde_json::json;
use ssr2_data::{
    CandidateFeatures, Dataset, ImageSource, Matrix, OpenOptions, TextFeatures, open_image_dataset,
    read_bundle, write_bundle,
};
use ssr2_train::finetune::data::strip_tag;

use crate::clip_io::{Model, content_hash, values};
use crate::cmd_embed::{bar, read_lines};
use crate::fail::{Fail, Result};
use ssr2_data::leak::{describe, find_leaks};
use crate::npy::{read_matrix, write_f32};

/// Retrieve text candidates for every image of a feature bundle (RTA, SPEC §7).
///
/// The lexicon is yours: two files with one entry per line, tags ("a photo of a <tag>") and
/// attributes ("<concept> which has <attribute>"). The SSR2-GCD authors publish one with their
/// code; use its leak-free tag list (benchmark class names removed): kept candidates that name a
/// new class of the dataset are reported (--strict refuses them). Each file is encoded once and
/// cached under --cache, keyed by the model's and the file's content.
///
/// --model is the retrieval CLIP; the paper retrieves with open_clip's LAION ViT-B/16 and trains
/// OpenAI's. With --train-model (the CLIP the bundle was extracted with) the retrieval model
/// embeds the dataset's images itself (--root, --dataset) and the training model embeds the kept
/// texts; without it, --model must be the bundle's model and its image features rank the lexicon.
///
/// Writes the bundle with `text_tags` [n, T, d] (tags without "a photo of a ", as the trainable
/// encoder sees them), `text_attributes` [n, A, d] and `text_base` (an empty base prompt is
/// encoded too), and OUT.candidates.json with the retrieved entries as text and the models used.
#[derive(Args)]
pub struct RetrieveArgs {
    /// The retrieval CLIP folder (ranks the lexicon for each image).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The CLIP folder the bundle was extracted with (the model to train), when it is not
    /// --model: it embeds the kept entries; the retrieval model then embeds the images itself.
    #[arg(long, value_name = "DIR")]
    train_model: Option<PathBuf>,
    /// With --train-model: the dataset's root folder (images re-encoded by --model).
    #[arg(long, value_name = "PATH")]
    root: Option<PathBuf>,
    /// With --train-model, imagefolder / imagenet100 bundles holding a test split: its root, as
    /// at extraction (the other benchmarks read it from --root).
    #[arg(long, value_name = "PATH")]
    test_root: Option<PathBuf>,
    /// With --train-model: the dataset name (default: the bundle's).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// With --train-model and --dataset imagefolder: number of old classes, as at extraction.
    #[arg(long, value_name = "N")]
    old: Option<usize>,
    /// The feature bundle from `ssr2 extract`.
    #[arg(long, value_name = "BUNDLE")]
    bundle: PathBuf,
    /// Tag lexicon, one entry per line.
    #[arg(long, value_name = "TAGS.csv")]
    tags: PathBuf,
    /// Attribute lexicon, one entry per line.
    #[arg(long, value_name = "ATTRS.csv")]
    attributes: PathBuf,
    /// Candidates kept per image, for tags and for attributes (T = A).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000), default_value_t = 4)]
    top: usize,
    /// The dataset's base prompt; default by dataset name ("A photo of a bird" for cub200,
    /// car/flower/pet for stanford_cars/flowers102/oxford_pets, "" otherwise). "" is encoded
    /// too (start and end tokens), as the reference does.
    #[arg(long)]
    base: Option<String>,
    /// Refuse (exit 2) when a kept candidate names a new class of the dataset, instead of
    /// warning.
    #[arg(long)]
    strict: bool,
    /// Output bundle (default: replace --bundle, atomically).
    #[arg(long, value_name = "BUNDLE")]
    out: Option<PathBuf>,
    /// Cache of encoded lexicons (default: $XDG_CACHE_HOME/ssr2 or ~/.cache/ssr2).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Texts (and images) per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536), default_value_t = 256)]
    batch: usize,
    #[command(flatten)]
    device: DeviceArgs,
    #[arg(long)]
    quiet: bool,
}

/// SPEC §7's base prompts.
pub fn default_base(dataset: &str) -> &'static str {
    match dataset {
        "cub200" => "A photo of a bird",
        "stanford_cars" => "A photo of a car",
        "flowers102" => "A photo of a flower",
        "oxford_pets" => "A photo of a pet",
        _ => "",
    }
}

fn cache_dir(arg: &Option<PathBuf>) -> PathBuf {
    if let Some(d) = arg {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("ssr2");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/ssr2")
}

/// One lexicon entry per line; a CSV-quoted line ("...") is unquoted.
fn read_lexicon(path: &Path) -> Result<Vec<String>> {
    Ok(read_lines(path)?
        .into_iter()
        .map(|l| {
            let t = l.trim();
            if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
                t[1..t.len() - 1].replace("\"\"", "\"")
            } else {
                t.to_string()
            }
        })
        .collect())
}

/// The lexicon's embeddings [m, d], from the cache or encoded (and cached) now.
fn lexicon_embeddings(
    model: &Model,
    path: &Path,
    model_hash: u64,
    args: &RetrieveArgs,
) -> Result<(Vec<String>, Matrix)> {
    let entries = read_lexicon(path)?;
    let d = model.folder.config.projection_dim;
    let dir = cache_dir(&args.cache);
    let key = format!(
        "lexicon-{model_hash:016x}-{:016x}.npy",
        content_hash(&[path])?
    );
    let cached = dir.join(key);
    if cached.exists() {
        let m = read_matrix(&cached, "cached lexicon embeddings")?;
        if m.rows == entries.len() && m.cols == d {
            return Ok((entries, Matrix::new(m.rows, m.cols, m.data)));
        }
    }
    let name = path
        .file_name()
        .map_or("lexicon".into(), |s| s.to_string_lossy().to_string());
    let bar = bar(entries.len(), &name, args.quiet);
    let emb = model.embed_texts(&entries, args.batch, |k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(&dir).map_err(|e| Fail::output(&dir, e))?;
    write_f32(&cached, &[entries.len(), d], &emb)?;
    let m = entries.len();
    Ok((entries, Matrix::new(m, d, emb)))
}

/// Indices of the `k` largest similarities of each image row, best first.
fn top_k(images: &Matrix, lexicon: &Matrix, k: usize, device: &Device) -> Vec<Vec<usize>> {
    let (m, d) = (lexicon.rows, lexicon.cols);
    let lex =
        Tensor::<2>::from_data(TensorData::new(lexicon.data.clone(), [m, d]), device).transpose();
    let mut out = Vec::with_capacity(images.rows);
    let rows_per_chunk = 256;
    for start in (0..images.rows).step_by(rows_per_chunk) {
        let end = (start + rows_per_chunk).min(images.rows);
        let chunk = images.data[start * d..end * d].to_vec();
        let x = Tensor::<2>::from_data(TensorData::new(chunk, [end - start, d]), device);
        let sims = values(x.matmul(lex.clone()));
        for row in sims.chunks_exact(m) {
            let mut idx: Vec<usize> = (0..m).collect();
            let kk = k.min(m);
            idx.select_nth_unstable_by(kk - 1, |&a, &b| row[b].total_cmp(&row[a]));
            idx.truncate(kk);
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            out.push(idx);
        }
    }
    out
}

/// A model folder's identity for caches and the candidates file: content hash of its
/// config.json and weights.
fn model_hash(model: &Model, dir: &Path) -> Result<u64> {
    content_hash(&[&dir.join("config.json"), &model.folder.weights_path()])
}

/// The retrieval model's embeddings of the bundle's images, in the bundle's order: from the
/// dataset's files (matched by sample id), preprocessed as `extract` does.
fn retrieval_image_embeddings(model: &Model, ds: &Dataset, args: &RetrieveArgs) -> Result<Matrix> {
    let root = args
        .root
        .as_ref()
        .ok_or_else(|| Fail::arg("--train-model: needs --root (the dataset's images)"))?;
    let name = args.dataset.clone().unwrap_or_else(|| ds.name.clone());
    let opts = OpenOptions {
        num_old: args.old,
        ..OpenOptions::default()
    };
    let list = open_image_dataset(&name, root, &opts).map_err(|e| Fail(e.to_string()))?;
    // The bundle's test images (read from the same root) are re-encoded too, when it has them.
    let test = match ds.sample_ids.len() > list.items.len() {
        true => ssr2_data::open_image_test_set(&name, root, args.test_root.as_deref(), &list)
            .map_err(|e| Fail(e.to_string()))?,
        false => None,
    };
    let by_id: HashMap<&str, &ImageSource> = list
        .items
        .iter()
        .chain(test.iter().flat_map(|t| &t.items))
        .map(|it| (it.id.as_str(), &it.source))
        .collect();
    let sources = ds
        .sample_ids
        .iter()
        .map(|id| {
            by_id.get(id.as_str()).copied().ok_or_else(|| {
                Fail::input(
                    root,
                    format!("no image `{id}` of the bundle under this root"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let d = model.folder.config.projection_dim;
    let bar = bar(sources.len(), "images", args.quiet);
    let mut out = Vec::with_capacity(sources.len() * d);
    for chunk in sources.chunks(args.batch) {
        let pixels = model.preprocess(chunk)?;
        out.extend(model.embed_pixels(pixels, chunk.len()).0);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(Matrix::new(sources.len(), d, out))
}

/// Embeddings `[picks, d]` of the entries `texts[picks]` as `model` encodes them, each distinct
/// text encoded once.
fn embed_kept(
    model: &Model,
    texts: &[String],
    picks: &[Vec<usize>],
    batch: usize,
) -> Result<Matrix> {
    let mut slot: HashMap<&str, usize> = HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    let rows: Vec<usize> = picks
        .iter()
        .flatten()
        .map(|&i| {
            *slot.entry(texts[i].as_str()).or_insert_with(|| {
                distinct.push(texts[i].as_str());
                distinct.len() - 1
            })
        })
        .collect();
    let d = model.folder.config.projection_dim;
    let emb = model.embed_texts(&distinct, batch, |_| {})?;
    Ok(Matrix::new(distinct.len(), d, emb).select_rows(&rows))
}

/// Kept candidates that name a new class (SPEC §7 forbids them): a warning, or with `--strict`
/// an error. Returns how many there are.
fn check_leaks(
    ds: &Dataset,
    kept_tags: &[Vec<String>],
    kept_attrs: &[Vec<String>],
    args: &RetrieveArgs,
) -> Result<usize> {
    let new_classes = &ds.class_names[ds.num_old.min(ds.class_names.len())..];
    let kept = kept_tags
        .iter()
        .chain(kept_attrs)
        .flatten()
        .map(String::as_str);
    let leaks = find_leaks(kept, new_classes);
    if !leaks.is_empty() {
        let what = format!(
            "{} kept candidates name a new class of `{}`: {}; use a leak-free lexicon \
             (e.g. Lexicon_tags_deduplicated.csv)",
            leaks.len(),
            ds.name,
            describe(&leaks, 5)
        );
        if args.strict {
            return Err(Fail::input(&args.tags, format!("--strict: {what}")));
        }
        eprintln!("warning: {what}");
    }
    Ok(leaks.len())
}

pub fn run(args: &RetrieveArgs) -> Result<()> {
    if args.top == 0 {
        return Err(Fail::arg("--top must be at least 1"));
    }
    // Test samples get their candidates too (their ids follow the training ones in the sidecar).
    let (mut ds, is_test) = read_bundle(&args.bundle)
        .map_err(|e| Fail(e.to_string()))?
        .with_test_appended();
    let dev = args.device.open()?;
    let retrieval = Model::open_for_text(&args.model, dev.clone())?;
    let trained = match &args.train_model {
        Some(dir) => Some(Model::open_for_text(dir, dev)?),
        None => None,
    };
    let text_model = trained.as_ref().unwrap_or(&retrieval);
    let text_dir = args.train_model.as_ref().unwrap_or(&args.model);
    let d = text_model.folder.config.projection_dim;
    if ds.image.cols != d {
        return Err(Fail::input(
            &args.bundle,
            format!(
                "image features have {} dimensions but {} projects to {d}: extract the bundle \
                 with the training model (--train-model, or --model without it)",
                ds.image.cols,
                text_dir.display()
            ),
        ));
    }
    let retrieval_hash = model_hash(&retrieval, &args.model)?;
    // The bundle's own features unless the retrieval model differs from the bundle's.
    let reencoded;
    let images = match &trained {
        Some(_) => {
            reencoded = retrieval_image_embeddings(&retrieval, &ds, args)?;
            &reencoded
        }
        None => &ds.image,
    };
    let (tag_names, tags) = lexicon_embeddings(&retrieval, &args.tags, retrieval_hash, args)?;
    let (attr_names, attrs) =
        lexicon_embeddings(&retrieval, &args.attributes, retrieval_hash, args)?;
    let top_tags = top_k(images, &tags, args.top, &retrieval.device);
    let top_attrs = top_k(images, &attrs, args.top, &retrieval.device);
    let names = |lex: &[String], picks: &[Vec<usize>]| -> Vec<Vec<String>> {
        picks
            .iter()
            .map(|p| p.iter().map(|&i| lex[i].clone()).collect())
            .collect()
    };
    let (kept_tags, kept_attrs) = (names(&tag_names, &top_tags), names(&attr_names, &top_attrs));
    let leaks = check_leaks(&ds, &kept_tags, &kept_attrs, args)?;
    // What the trainable encoder sees (SPEC §7): tags without "a photo of a ", attributes trimmed.
    let stripped: Vec<String> = tag_names.iter().map(|t| strip_tag(t)).collect();
    let tag_emb = embed_kept(text_model, &stripped, &top_tags, args.batch)?;
    let attr_emb = match &trained {
        Some(m) => embed_kept(m, &attr_names, &top_attrs, args.batch)?,
        None => {
            let rows: Vec<usize> = top_attrs.iter().flatten().copied().collect();
            attrs.select_rows(&rows)
        }
    };
    let base_text = args
        .base
        .clone()
        .unwrap_or_else(|| default_base(&ds.name).to_string());
    let base = Some(text_model.embed_texts(&[base_text.as_str()], 1, |_| {})?);
    // Per sample: the top `--top` of each lexicon (fewer when a lexicon is smaller). From the
    // lexicons, not the first sample's list: an empty shard has no samples and is still written.
    let (t, a) = (args.top.min(tags.rows), args.top.min(attrs.rows));
    ds.text = Some(TextFeatures::Candidates(CandidateFeatures {
        tags: tag_emb,
        num_tags: t,
        attributes: attr_emb,
        num_attributes: a,
        base,
    }));
    let out = args.out.clone().unwrap_or_else(|| args.bundle.clone());
    let (n, sample_ids) = (ds.len(), ds.sample_ids.clone());
    let split = ds
        .split_off_test(&is_test)
        .map_err(|e| Fail(e.to_string()))?;
    write_bundle(&out, &split).map_err(|e| Fail(e.to_string()))?;
    let text_hash = match &trained {
        Some(m) => model_hash(m, text_dir)?,
        None => retrieval_hash,
    };
    let sidecar = json!({
        "format": "ssr2-candidates",
        "version": 1,
        "base": base_text,
        "retrieval_model": {"path": args.model.display().to_string(),
                            "content_hash": format!("{retrieval_hash:016x}")},
        "text_model": {"path": text_dir.display().to_string(),
                       "content_hash": format!("{text_hash:016x}")},
        "leaks": leaks,
        "sample_ids": sample_ids,
        "tags": kept_tags,
        "attributes": kept_attrs,
    });
    let mut side = out.as_os_str().to_owned();
    side.push(".candidates.json");
    let side = PathBuf::from(side);
    let text = serde_json::to_string(&sidecar).expect("json");
    crate::fail::write_atomic(&side, text.as_bytes())?;
    eprintln!(
        "wrote {}: {} images, top {t} of {} tags and top {a} of {} attributes retrieved with {}, \
         base \"{base_text}\"; entries in {}",
        out.display(),
        n,
        tags.rows,
        attrs.rows,
        args.model.display(),
        side.display()
    );
    Ok(())
}
