//! `ssr2 retrieve`: the offline half of RTA (SPEC §7). Encodes the lexicon once (cached by
//! content), keeps each image's top tags and attributes by cosine similarity, and stores their
//! embeddings (and the base prompt's) in the bundle for the trainer to aggregate.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;
use serde_json::json;
use ssr2_data::{Matrix, TextFeatures, read_bundle, write_bundle};

use crate::clip_io::{Model, content_hash, values};
use crate::cmd_embed::{bar, read_lines};
use crate::cmd_train::device;
use crate::fail::{Fail, Result};
use crate::npy::{read_matrix, write_f32};

/// Retrieve text candidates for every image of a feature bundle (RTA, SPEC §7).
///
/// The lexicon is yours: two files with one entry per line, tags ("a photo of a <tag>") and
/// attributes ("<concept> which has <attribute>"). The SSR2-GCD authors publish one with their
/// code; use its leak-free tag list (benchmark class names removed). Each file is encoded once
/// and cached under --cache, keyed by the model's and the file's content. The bundle's `image`
/// features must come from the same model (`ssr2 extract --model DIR`).
///
/// Writes the bundle with `text_tags` [n, T, d], `text_attributes` [n, A, d] and `text_base`,
/// and OUT.candidates.json with the retrieved entries as text (for fine-tuning).
#[derive(Args)]
pub struct RetrieveArgs {
    /// The CLIP folder the bundle was extracted with.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
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
    /// car/flower/pet for stanford_cars/flowers102/oxford_pets, none otherwise). "" = none.
    #[arg(long)]
    base: Option<String>,
    /// Output bundle (default: replace --bundle, atomically).
    #[arg(long, value_name = "BUNDLE")]
    out: Option<PathBuf>,
    /// Cache of encoded lexicons (default: $XDG_CACHE_HOME/ssr2 or ~/.cache/ssr2).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536), default_value_t = 256)]
    batch: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
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

pub fn run(args: &RetrieveArgs) -> Result<()> {
    if args.top == 0 {
        return Err(Fail::arg("--top must be at least 1"));
    }
    // Test samples get their candidates too (their ids follow the training ones in the sidecar).
    let (mut ds, is_test) = read_bundle(&args.bundle)
        .map_err(|e| Fail(e.to_string()))?
        .with_test_appended();
    let model = Model::open_for_text(&args.model, device(&args.device)?)?;
    let d = model.folder.config.projection_dim;
    if ds.image.cols != d {
        return Err(Fail::input(
            &args.bundle,
            format!(
                "image features have {} dimensions but the model projects to {d}: \
                 extract the bundle with the same model",
                ds.image.cols
            ),
        ));
    }
    let model_hash = content_hash(&[
        &args.model.join("config.json"),
        &model.folder.weights_path(),
    ])?;
    let (tag_names, tags) = lexicon_embeddings(&model, &args.tags, model_hash, args)?;
    let (attr_names, attrs) = lexicon_embeddings(&model, &args.attributes, model_hash, args)?;
    let top_tags = top_k(&ds.image, &tags, args.top, &model.device);
    let top_attrs = top_k(&ds.image, &attrs, args.top, &model.device);
    let gather = |lex: &Matrix, picks: &[Vec<usize>]| {
        let rows: Vec<usize> = picks.iter().flatten().copied().collect();
        lex.select_rows(&rows)
    };
    let base_text = args
        .base
        .clone()
        .unwrap_or_else(|| default_base(&ds.name).to_string());
    let base = if base_text.trim().is_empty() {
        None
    } else {
        Some(model.embed_texts(&[base_text.as_str()], 1, |_| {})?)
    };
    let (t, a) = (top_tags[0].len(), top_attrs[0].len());
    ds.text = Some(TextFeatures::Candidates {
        tags: gather(&tags, &top_tags),
        num_tags: t,
        attributes: gather(&attrs, &top_attrs),
        num_attributes: a,
        base,
    });
    let out = args.out.clone().unwrap_or_else(|| args.bundle.clone());
    let split = ds.clone().split_off_test(&is_test);
    write_bundle(&out, &split.map_err(|e| Fail(e.to_string()))?)
        .map_err(|e| Fail(e.to_string()))?;
    let names = |lex: &[String], picks: &[Vec<usize>]| -> Vec<Vec<String>> {
        picks
            .iter()
            .map(|p| p.iter().map(|&i| lex[i].clone()).collect())
            .collect()
    };
    let sidecar = json!({
        "format": "ssr2-candidates",
        "version": 1,
        "base": base_text,
        "sample_ids": ds.sample_ids,
        "tags": names(&tag_names, &top_tags),
        "attributes": names(&attr_names, &top_attrs),
    });
    let mut side = out.as_os_str().to_owned();
    side.push(".candidates.json");
    let side = PathBuf::from(side);
    let tmp = side.with_extension("partial");
    std::fs::write(&tmp, serde_json::to_string(&sidecar).expect("json"))
        .map_err(|e| Fail::output(&tmp, e))?;
    std::fs::rename(&tmp, &side).map_err(|e| Fail::output(&side, e))?;
    eprintln!(
        "wrote {}: {} images, top {t} of {} tags and top {a} of {} attributes{}; entries in {}",
        out.display(),
        ds.len(),
        tags.rows,
        attrs.rows,
        if base_text.is_empty() {
            String::new()
        } else {
            format!(", base \"{base_text}\"")
        },
        side.display()
    );
    Ok(())
}
