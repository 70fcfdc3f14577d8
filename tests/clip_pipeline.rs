//! The CLIP commands end to end on the random tiny CLIP of tests/reference/clip-tiny:
//! `embed-text`/`embed-images` against transformers' numbers, then the whole path
//! export-digits -> extract (interrupted and resumed) -> retrieve -> train --features.

#[path = "race.rs"]
mod race;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ssr2_core::testutil::max_abs_diff;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssr2"))
}
fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/clip-tiny")
}
fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("ssr2 runs")
}
fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "ssr2 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
/// Exit status 2 and one line on stderr; returns the line.
fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "ssr2 {args:?} should fail with status 2"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err.trim().to_string()
}
fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
/// A 1-D int64 `.npy` file.
fn write_i64_npy(path: &Path, values: &[i64]) {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}
/// The unlabelled (evaluated) sample ids of a run's report, sorted.
fn evaluated_ids(report: &Path) -> Vec<String> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let mut ids: Vec<String> = r["projection"]["id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let npy =
        npyz::NpyFile::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}
fn expected(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(tiny().join("expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}
/// `ssr2 COMMAND --model tiny --INPUT_FLAG input --out OUT` against transformers' `expected` tensor.
fn embed_matches_transformers(command: &str, input_flag: &str, input: &Path, expected_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npy");
    ok(&[
        command,
        "--model",
        p(&tiny()),
        input_flag,
        p(input),
        "--out",
        p(&out),
        "--quiet",
    ]);
    let (shape, ours) = read_npy(&out);
    let (eshape, theirs) = expected(expected_name);
    assert_eq!(shape, eshape.iter().map(|&s| s as u64).collect::<Vec<_>>());
    let d = max_abs_diff(&ours, &theirs);
    assert!(d < 1e-4, "{command}: max abs diff {d}");
}

#[test]
fn embed_text_matches_transformers() {
    embed_matches_transformers(
        "embed-text",
        "--texts",
        &tiny().join("texts.txt"),
        "text_embeds",
    );
}

#[test]
fn embed_images_matches_transformers_from_png_files() {
    embed_matches_transformers(
        "embed-images",
        "--images",
        &tiny().join("images"),
        "png_image_embeds",
    );
}

#[test]
fn bad_models_and_images_give_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    let images = tiny().join("images");
    let empty = dir.path().join("empty-model");
    std::fs::create_dir(&empty).unwrap();
    let e = fails(&[
        "embed-images",
        "--model",
        p(&empty),
        "--images",
        p(&images),
        "--out",
        p(&out),
    ]);
    assert!(e.contains("config.json"), "{e}");
    let bad = dir.path().join("bad-images");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("broken.png"), b"not a png").unwrap();
    let e = fails(&[
        "embed-images",
        "--model",
        p(&tiny()),
        "--images",
        p(&bad),
        "--out",
        p(&out),
    ]);
    assert!(e.contains("broken.png"), "{e}");
    assert!(!out.exists(), "no output on failure");
    let e = fails(&[
        "embed-text",
        "--model",
        p(&tiny()),
        "--texts",
        p(&dir.path().join("none.txt")),
        "--out",
        p(&out),
    ]);
    assert!(e.contains("none.txt"), "{e}");
}

/// A CLIP folder under `dir` with the tiny model's config.json and model.safetensors, and
/// `extra` files (from tests/reference/NAME) beside them.
fn tiny_folder(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir(&folder).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny().join(f), folder.join(f)).unwrap();
    }
    for f in extra {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/reference")
            .join(f);
        std::fs::copy(src, folder.join(Path::new(f).file_name().unwrap())).unwrap();
    }
    folder
}

/// `ssr2 COMMAND --model MODEL INPUT_FLAG INPUT --out OUT`, the .npy read back.
fn embed(dir: &Path, command: &str, model: &Path, input_flag: &str, input: &Path) -> Vec<f32> {
    let out = dir.join(format!(
        "{command}-{}.npy",
        model.file_name().unwrap().to_string_lossy()
    ));
    ok(&[
        command,
        "--model",
        p(model),
        input_flag,
        p(input),
        "--out",
        p(&out),
        "--quiet",
    ]);
    read_npy(&out).1
}

#[test]
fn embed_images_needs_no_tokenizer_files() {
    let dir = tempfile::tempdir().unwrap();
    let bare = tiny_folder(dir.path(), "no-tokenizer", &[]);
    let images = tiny().join("images");
    let without = embed(dir.path(), "embed-images", &bare, "--images", &images);
    let with = embed(dir.path(), "embed-images", &tiny(), "--images", &images);
    assert_eq!(without, with);
}

#[test]
fn embed_text_with_vocab_and_merges_equals_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    let slow = tiny_folder(
        dir.path(),
        "slow-tokenizer",
        &["clip-tiny-slow/vocab.json", "clip-tiny-slow/merges.txt"],
    );
    let texts = tiny().join("texts.txt");
    let from_slow = embed(dir.path(), "embed-text", &slow, "--texts", &texts);
    let from_json = embed(dir.path(), "embed-text", &tiny(), "--texts", &texts);
    assert_eq!(from_slow, from_json);
}

#[test]
fn embed_text_without_tokenizer_files_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bare = tiny_folder(dir.path(), "no-tokenizer", &[]);
    let out = dir.path().join("x.npy");
    let texts = tiny().join("texts.txt");
    let e = fails(&[
        "embed-text",
        "--model",
        p(&bare),
        "--texts",
        p(&texts),
        "--out",
        p(&out),
    ]);
    assert!(e.starts_with("error: ") && e.contains(p(&bare)), "{e}");
    assert!(
        e.contains("tokenizer.json") && e.contains("vocab.json + merges.txt"),
        "{e}"
    );
    assert!(!out.exists(), "no output on failure");
}

#[test]
fn nan_weights_fail_in_one_line_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tiny_folder(dir.path(), "nan", &[]);
    let bytes = std::fs::read(folder.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let name = "vision_model.embeddings.class_embedding";
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    let t = tensors.iter_mut().find(|t| t.0 == name).unwrap();
    t.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let views = tensors.iter().map(|(n, d, s, b)| {
        let view = safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap();
        (n.clone(), view)
    });
    let written = safetensors::serialize(views, None).unwrap();
    std::fs::write(folder.join("model.safetensors"), written).unwrap();
    let out = dir.path().join("x.npy");
    let images = tiny().join("images");
    let e = fails(&[
        "embed-images",
        "--model",
        p(&folder),
        "--images",
        p(&images),
        "--out",
        p(&out),
    ]);
    assert!(
        e.contains("model.safetensors") && e.contains(name) && e.contains("index 2"),
        "{e}"
    );
    assert!(!out.exists(), "no output on failure");
}

#[test]
fn export_extract_retrieve_train_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    ok(&["export-digits", "--out", p(&d("digits"))]);

    let (model, digits) = (tiny(), d("digits"));
    // A test split: copies of the first 3 images of each digit, under other names.
    let test_root = d("digits-test");
    for c in 0..10 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(digits.join(c.to_string()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let dir = test_root.join(c.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        for f in &files[..3] {
            let name = format!("t{}", f.file_name().unwrap().to_string_lossy());
            std::fs::copy(f, dir.join(name)).unwrap();
        }
    }
    // Extraction stopped after 3 batches, then resumed, equals one uninterrupted run.
    let common = [
        "--model",
        p(&model),
        "--dataset",
        "imagefolder",
        "--root",
        p(&digits),
        "--test-root",
        p(&test_root),
        "--old",
        "5",
        "--batch",
        "200",
        "--quiet",
    ];
    let once = d("once.safetensors");
    ok(&[&["extract"][..], &common, &["--out", p(&once)]].concat());
    let resumed = d("resumed.safetensors");
    let args = [&["extract"][..], &common, &["--out", p(&resumed)]].concat();
    let e = fails(&[&args[..], &["--stop-after", "3"]].concat());
    assert!(e.contains("stopped after 3"), "{e}");
    assert!(!resumed.exists());
    // A finished part corrupted in place (same size: zeroed rows) is recomputed, never used.
    let part = d("resumed.safetensors.parts").join("part-000001.f32");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[..4000].fill(0);
    std::fs::write(&part, &bytes).unwrap();
    let out = ok(&args);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("continuing"), "{log}");
    assert!(log.contains("part-000001.f32: damaged"), "{log}");
    // (Compared as datasets: safetensors writes its metadata map in no fixed order.)
    let a = ssr2_data::read_bundle(&once).unwrap();
    let b = ssr2_data::read_bundle(&resumed).unwrap();
    assert!(
        a == b,
        "the resumed extraction differs from the uninterrupted one"
    );
    let parts = d("resumed.safetensors.parts");
    assert!(
        !parts.exists(),
        "parts are removed once the bundle is written"
    );
    // Three shards (the last one holds the test images), merged: the unsharded bundle exactly.
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| d(&format!("shard-{i}.safetensors")))
        .collect();
    for (i, shard) in shards.iter().enumerate() {
        let spec = format!("{i}/3");
        ok(&[
            &["extract"][..],
            &common,
            &["--shard", &spec, "--out", p(shard)],
        ]
        .concat());
    }
    let merged = d("merged.safetensors");
    let names: Vec<&str> = shards.iter().map(|s| p(s)).collect();
    ok(&[&["merge", "--out", p(&merged)][..], &names].concat());
    assert!(ssr2_data::read_bundle(&merged).unwrap() == ssr2_data::read_bundle(&once).unwrap());
    // Every shard once, in order, from one extraction: each fault is named before any join.
    let merge_fails = |files: &[&str], says: &str| {
        let e = fails(&[&["merge", "--out", p(&d("bad.safetensors"))][..], files].concat());
        assert!(e.contains(says), "{files:?}: {e}");
        assert!(!d("bad.safetensors").exists());
    };
    merge_fails(&[names[0], names[0], names[2]], "shard 0/3 is given twice");
    merge_fails(&[names[0], names[2]], "shard 1 of 3 missing");
    merge_fails(&[names[1], names[0], names[2]], "is shard 1/3 but is given at position 0");
    merge_fails(&[p(&once)], "is not a shard bundle");
    // The same shard of an extraction with another batch size: other rows, other values.
    let other = d("other-1.safetensors");
    let batch = common.iter().position(|a| *a == "--batch").map(|i| i + 1);
    let mut changed: Vec<&str> = common.to_vec();
    match batch {
        Some(i) => changed[i] = "100",
        None => changed.extend(["--batch", "100"]),
    }
    ok(&[&["extract"][..], &changed, &["--shard", "1/3", "--out", p(&other)]].concat());
    merge_fails(&[names[0], p(&other), names[2]], "comes from another extraction");
    // A shard past the images' end is empty, and still a bundle.
    let empty = d("empty.safetensors");
    ok(&[&["extract"][..], &common, &["--shard", "99/100", "--out", p(&empty)]].concat());
    assert_eq!(ssr2_data::read_bundle(&empty).unwrap().len(), 0);
    // An extraction into an OUT whose parts another process holds: refused, nothing mixed.
    let locked = d("locked.safetensors");
    std::fs::create_dir_all(d("locked.safetensors.parts")).unwrap();
    let held = std::fs::File::create(d("locked.safetensors.parts").join(".lock")).unwrap();
    held.try_lock().unwrap();
    let e = fails(&[&["extract"][..], &common, &["--out", p(&locked)]].concat());
    assert!(e.contains("another ssr2 extract is writing here"), "{e}");
    assert!(!locked.exists());
    drop(held);
    // Two extractions into one OUT at once: the bundle is whole (the uninterrupted one), and a
    // process that did not write it was refused by the lock, in one line.
    let raced = d("raced.safetensors");
    let args: Vec<&str> = [&["extract"][..], &common, &["--out", p(&raced)]].concat();
    let outs = race::race(&args);
    assert!(outs.iter().any(|o| o.status.success()), "one extraction finishes");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.trim().lines().count() == 1 && err.contains("another ssr2 extract"), "{err}");
    }
    assert!(ssr2_data::read_bundle(&raced).unwrap() == ssr2_data::read_bundle(&once).unwrap());
    // An index near usize::MAX: no overflow, an empty shard.
    let far = format!("{}/{}", usize::MAX - 1, usize::MAX);
    ok(&[&["extract"][..], &common, &["--shard", &far, "--out", p(&d("far.safetensors"))]].concat());
    // Parsed by clap: status 2, the value named.
    let x = d("x");
    let args = [
        &["extract"][..],
        &common,
        &["--shard", "3/3", "--out", p(&x)],
    ]
    .concat();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`3/3`: expected I/N"));
    let ds = ssr2_data::read_bundle(&once).unwrap();
    assert_eq!(ds.len(), 1797);
    // The test images follow, flagged: the same pixels as their training originals.
    let test = ds.test.as_ref().unwrap();
    assert_eq!(test.len(), 30);
    assert!(test.labelled.iter().all(|&l| !l));
    let orig = ds
        .sample_ids
        .iter()
        .position(|s| format!("0/t{}", &s[2..]) == test.sample_ids[0]);
    assert_eq!(test.image.row(0), ds.image.row(orig.unwrap()));
    assert_eq!(test.labels[0], ds.labels[orig.unwrap()]);
    assert_eq!(ds.num_old, 5);
    assert_eq!(ds.image.cols, 24);
    assert_eq!(ds.image_pooled.as_ref().unwrap().cols, 48);
    let (raw, labels) = ssr2_data::digits_raw();
    assert_eq!(raw.rows, 1797);
    let mut sorted_true = labels.clone();
    sorted_true.sort();
    let mut ours = ds.labels.clone();
    ours.sort();
    assert_eq!(
        ours, sorted_true,
        "labels 0-9 keep their counts (old 0-4 first)"
    );
    // Each label is the class of its sample's folder, and extract's rows are embed-images'
    // rows of the same files (embed-images lists them in sorted path order).
    for (i, id) in ds.sample_ids.iter().enumerate() {
        let folder = id.split('/').next().unwrap();
        assert_eq!(ds.class_names[ds.labels[i]], folder, "sample {id}");
    }
    ok(&[
        "embed-images",
        "--model",
        p(&model),
        "--images",
        p(&digits),
        "--out",
        p(&d("all.npy")),
        "--quiet",
    ]);
    let (shape, emb) = read_npy(&d("all.npy"));
    assert_eq!(shape, vec![1797, 24]);
    let mut ids: Vec<(usize, &String)> = ds.sample_ids.iter().enumerate().collect();
    ids.sort_by(|a, b| a.1.cmp(b.1));
    for (row, (i, id)) in ids.iter().enumerate() {
        let diff = max_abs_diff(ds.image.row(*i), &emb[row * 24..(row + 1) * 24]);
        assert!(
            diff < 1e-6,
            "{id}: extract and embed-images differ by {diff}"
        );
    }

    // A tiny lexicon; retrieval keeps the 4 best by cosine similarity.
    let tags: Vec<String> = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ]
    .iter()
    .map(|w| format!("a photo of a {w}"))
    .collect();
    let attrs = [
        "digit which has a loop",
        "digit which has a stroke",
        "\"digit which has a \"\"tail\"\"\"",
        "digit which has two loops",
        "digit which has a corner",
    ];
    std::fs::write(d("tags.csv"), tags.join("\n") + "\n").unwrap();
    std::fs::write(d("attrs.csv"), attrs.join("\n")).unwrap();
    let cache = d("cache");
    let bundle = d("with-text.safetensors");
    let retrieve = |out: &Path| {
        ok(&[
            "retrieve",
            "--model",
            p(&tiny()),
            "--bundle",
            p(&once),
            "--tags",
            p(&d("tags.csv")),
            "--attributes",
            p(&d("attrs.csv")),
            "--top",
            "4",
            "--base",
            "a photo of a digit",
            "--cache",
            p(&cache),
            "--out",
            p(out),
            "--quiet",
        ]);
    };
    retrieve(&bundle);
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        2,
        "one cache file per lexicon"
    );
    let ds = ssr2_data::read_bundle(&bundle).unwrap();
    let Some(ssr2_data::TextFeatures::Candidates(c)) = &ds.text else {
        panic!("retrieve stores candidates")
    };
    let t = &c.tags;
    assert_eq!((c.num_tags, c.num_attributes), (4, 4));
    assert_eq!((t.rows, c.attributes.rows), (1797 * 4, 1797 * 4));
    assert!(c.base.is_some());
    // Independent check: embed the lexicon with embed-text and rank by hand; the bundle stores
    // the kept tags as the trainable encoder sees them, without "a photo of a ".
    std::fs::write(d("tags.txt"), tags.join("\n")).unwrap();
    let words: Vec<&str> = tags.iter().map(|t| &t["a photo of a ".len()..]).collect();
    std::fs::write(d("words.txt"), words.join("\n")).unwrap();
    for (texts, npy) in [("tags.txt", "tags.npy"), ("words.txt", "words.npy")] {
        ok(&[
            "embed-text",
            "--model",
            p(&tiny()),
            "--texts",
            p(&d(texts)),
            "--out",
            p(&d(npy)),
            "--quiet",
        ]);
    }
    let (_, lex) = read_npy(&d("tags.npy"));
    let (_, stripped) = read_npy(&d("words.npy"));
    let side: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d("with-text.safetensors.candidates.json")).unwrap(),
    )
    .unwrap();
    for i in [0, 500, 1796] {
        let x = ds.image.row(i);
        let mut order: Vec<usize> = (0..10).collect();
        let sim = |j: usize| -> f32 { (0..24).map(|k| x[k] * lex[j * 24 + k]).sum() };
        order.sort_by(|&a, &b| sim(b).total_cmp(&sim(a)));
        let want: Vec<&str> = order[..4].iter().map(|&j| tags[j].as_str()).collect();
        let got: Vec<&str> = side["tags"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "sample {i}");
        // The stored vectors are those entries' embeddings, prefix removed.
        let first = &t.data[(i * 4) * 24..(i * 4 + 1) * 24];
        let j = order[0];
        assert!(max_abs_diff(first, &stripped[j * 24..(j + 1) * 24]) < 1e-5);
        assert!(max_abs_diff(first, &lex[j * 24..(j + 1) * 24]) > 1e-3);
    }
    assert_eq!(side["retrieval_model"]["path"], p(&tiny()));
    assert_eq!(side["text_model"]["path"], p(&tiny()));
    assert_eq!(side["leaks"], 0);
    assert_eq!(side["attributes"][0].as_array().unwrap().len(), 4);
    assert!(
        std::fs::read_to_string(d("with-text.safetensors.candidates.json"))
            .unwrap()
            .contains("digit which has a \\\"tail\\\"")
    );
    // A second retrieval reuses the cache (same content, another path).
    std::fs::copy(d("tags.csv"), d("tags-copy.csv")).unwrap();
    retrieve(&d("again.safetensors"));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);

    // A separate training model: the retrieval model embeds the images from --root itself and
    // the training model the kept texts (here the same weights from another folder, so the
    // candidates and vectors must equal the single-model run's).
    let train_copy = tiny_folder(dir.path(), "train-model", &["clip-tiny/tokenizer.json"]);
    let split = d("split.safetensors");
    ok(&[
        "retrieve",
        "--model",
        p(&tiny()),
        "--train-model",
        p(&train_copy),
        "--root",
        p(&digits),
        "--test-root",
        p(&test_root),
        "--dataset",
        "imagefolder",
        "--old",
        "5",
        "--bundle",
        p(&once),
        "--tags",
        p(&d("tags.csv")),
        "--attributes",
        p(&d("attrs.csv")),
        "--base",
        "a photo of a digit",
        "--cache",
        p(&cache),
        "--out",
        p(&split),
        "--quiet",
    ]);
    let side2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d("split.safetensors.candidates.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side2["tags"], side["tags"]);
    assert_eq!(side2["attributes"], side["attributes"]);
    assert_eq!(side2["retrieval_model"]["path"], p(&tiny()));
    assert_eq!(side2["text_model"]["path"], p(&train_copy));
    let Some(ssr2_data::TextFeatures::Candidates(c2)) = ssr2_data::read_bundle(&split).unwrap().text
    else {
        panic!("retrieve stores candidates")
    };
    assert!(max_abs_diff(&c2.tags.data, &t.data) < 1e-5);

    // Leak check: kept candidates naming a new class (5-9) are named; --strict refuses.
    std::fs::write(
        d("leaky.csv"),
        "a photo of a 7\na photo of a 3\na photo of a zero\n",
    )
    .unwrap();
    let leaky = |strict: bool| -> Vec<String> {
        let mut a: Vec<String> = [
            "retrieve",
            "--model",
            p(&tiny()),
            "--bundle",
            p(&once),
            "--tags",
            p(&d("leaky.csv")),
            "--attributes",
            p(&d("attrs.csv")),
            "--top",
            "3",
            "--cache",
            p(&cache),
            "--out",
            p(&d("leaky.safetensors")),
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if strict {
            a.push("--strict".into());
        }
        a
    };
    let args: Vec<String> = leaky(false);
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("warning: 1 kept candidates name a new class")
            && log.contains("\"a photo of a 7\" (class 7)"),
        "{log}"
    );
    let args: Vec<String> = leaky(true);
    let e = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("leaky.csv") && e.contains("--strict") && e.contains("a photo of a 7"),
        "{e}"
    );

    // The trainer reads it (RTA aggregation of the candidates, both modalities).
    let runs = d("runs");
    ok(&[
        "train",
        "--features",
        p(&bundle),
        "--seeds",
        "0",
        "--epochs",
        "2",
        "--out",
        p(&runs),
        "--quiet",
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("seed-0/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["dataset"]["modalities"],
        serde_json::json!(["image", "text"])
    );
    assert_eq!(report["dataset"]["n_train"], 1797);
    let all = report["final_scores"]["all"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&all));
    assert_eq!(report["dataset"]["n_test"], 30);
    assert_eq!(report["test_scores"]["n"], 30);

    // An image-only features run predicts a folder of images through the CLIP its bundle was
    // extracted with: the same rows as predicting the bundle.
    let plain = d("plain-run");
    ok(&[
        "train",
        "--features",
        p(&once),
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--out",
        p(&plain),
        "--quiet",
    ]);
    let seed = plain.join("seed-0");
    let rows = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = ok(&[
            &["predict", "--run", p(&seed), "--json", "--quiet"][..],
            extra,
        ]
        .concat());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().clone()
    };
    let from_bundle = rows(&["--features", p(&once)]);
    let from_images = rows(&["--images", p(&digits), "--model", p(&tiny())]);
    assert_eq!(from_bundle.len(), from_images.len());
    for (a, b) in from_bundle.iter().zip(&from_images) {
        assert_eq!((&a["id"], &a["cluster"]), (&b["id"], &b["cluster"]));
        let (ca, cb) = (
            a["confidence"].as_f64().unwrap(),
            b["confidence"].as_f64().unwrap(),
        );
        assert!((ca - cb).abs() < 1e-5, "{a} {b}");
    }
    let e = fails(&["predict", "--run", p(&seed), "--images", p(&digits)]);
    assert!(e.contains("--model"), "{e}");
    // Another CLIP of the same shape (one weight changed) is refused by the bundle's record.
    let meta = ssr2_data::read_bundle_metadata(&once).unwrap();
    assert_eq!(meta, ssr2_data::bundle_metadata(&std::fs::read(&once).unwrap(), "once").unwrap());
    let tiny_sha = ssr2_data::files_sha256(&[&tiny().join("config.json"), &tiny().join("model.safetensors")]);
    assert_eq!(meta.get(ssr2_data::CLIP_KEY), Some(&tiny_sha.unwrap()));
    let other = tiny_folder(dir.path(), "other-clip", &[]);
    let mut w = std::fs::read(other.join("model.safetensors")).unwrap();
    *w.last_mut().unwrap() ^= 1;
    std::fs::write(other.join("model.safetensors"), w).unwrap();
    let e = fails(&["predict", "--run", p(&seed), "--images", p(&digits), "--model", p(&other)]);
    assert!(e.contains("other-clip") && e.contains("extracted with"), "{e}");
    let e = fails(&[
        "predict",
        "--run",
        p(&runs.join("seed-0")),
        "--images",
        p(&digits),
        "--model",
        p(&tiny()),
    ]);
    assert!(e.contains("ssr2 retrieve"), "{e}");

    // Fine-tune mode on the PNG files with the retrieved texts, cached prefixes; from a copy of
    // the tiny CLIP, which is changed below.
    let base = tiny_folder(dir.path(), "base-clip", &["clip-tiny/tokenizer.json", "clip-tiny/tokenizer_config.json"]);
    let ft = d("finetune");
    let out = ok(&[
        "train",
        "--mode",
        "finetune",
        "--model",
        p(&base),
        "--dataset",
        "imagefolder",
        "--root",
        p(&digits),
        "--num-old",
        "5",
        "--candidates",
        p(&d("with-text.safetensors.candidates.json")),
        "--test-root",
        p(&test_root),
        "--cache-views",
        "1",
        "--batch",
        "128",
        "--epochs",
        "2",
        "--seeds",
        "3",
        "--out",
        p(&ft),
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("images/s"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ft.join("seed-3/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["dataset"]["modalities"],
        serde_json::json!(["image", "text"])
    );
    assert_eq!(report["history"].as_array().unwrap().len(), 2);
    // Inductive: the test images through the fine-tuned model.
    assert_eq!(report["test_scores"]["n"], 30);
    // Split seed 0 in both commands: run seed 3 labels the very samples extract labelled.
    let mut unlabelled: Vec<String> = ds
        .unlabelled_indices()
        .iter()
        .map(|&i| ds.sample_ids[i].clone())
        .collect();
    unlabelled.sort();
    assert_eq!(evaluated_ids(&ft.join("seed-3/report.json")), unlabelled);
    let config = std::fs::read_to_string(ft.join("config.toml")).unwrap();
    assert!(
        config.contains("[finetune]") && config.contains("cache = true"),
        "{config}"
    );
    // eval re-runs the images through the fine-tuned model: both scores as in the report.
    let out = ok(&["eval", "--run", p(&ft)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("matches report.json").count(), 2, "{err}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("inductive (test): 30 samples"), "{table}");
    predict_matches_the_finetune_report(&ft.join("seed-3"), &report, &digits, &side, &d);
    // The candidates file rewritten (other texts): refused, then restored.
    let cands = d("with-text.safetensors.candidates.json");
    let kept = std::fs::read(&cands).unwrap();
    std::fs::write(&cands, [&kept[..], b" "].concat()).unwrap();
    for cmd in ["eval", "predict"] {
        let e = fails(&[cmd, "--run", p(&ft.join("seed-3"))]);
        assert!(e.contains("candidates.json") && e.contains("candidates file"), "{e}");
    }
    std::fs::write(&cands, kept).unwrap();
    // The base CLIP replaced by another of the same shape: its frozen layers changed under the
    // heads, so eval and predict refuse, naming the folder.
    let mut w = std::fs::read(base.join("model.safetensors")).unwrap();
    *w.last_mut().unwrap() ^= 1;
    std::fs::write(base.join("model.safetensors"), w).unwrap();
    for cmd in ["eval", "predict"] {
        let e = fails(&[cmd, "--run", p(&ft.join("seed-3"))]);
        assert!(e.contains("base-clip") && e.contains("fine-tuned from a CLIP"), "{e}");
    }
}

/// `predict` on a fine-tune run: its own images reproduce the report's predictions; the same
/// images as a folder of new images with their candidates give the same rows; the tags are the
/// retrieved ones.
fn predict_matches_the_finetune_report(
    run: &Path,
    report: &serde_json::Value,
    images: &Path,
    side: &serde_json::Value,
    d: &impl Fn(&str) -> PathBuf,
) {
    let predict = |extra: &[&str]| -> serde_json::Value {
        let out = ok(&[
            &["predict", "--run", p(run), "--json", "--quiet"][..],
            extra,
        ]
        .concat());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let own = predict(&[]);
    let rows = own.as_array().unwrap();
    assert_eq!(rows.len(), 1797);
    let by_id: std::collections::HashMap<&str, &serde_json::Value> = rows
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let proj = &report["projection"];
    let ids = proj["id"].as_array().unwrap();
    assert!(!ids.is_empty());
    for (id, pred) in ids.iter().zip(proj["pred"].as_array().unwrap()) {
        assert_eq!(by_id[id.as_str().unwrap()]["cluster"], *pred, "{id}");
    }
    let sample_ids = side["sample_ids"].as_array().unwrap();
    // The tags as the text encoder reads them: the retrieved entries without "a photo of a ".
    for (i, id) in sample_ids.iter().enumerate().step_by(400) {
        let want: Vec<String> = side["tags"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_str()
                    .unwrap()
                    .trim_start_matches("a photo of a ")
                    .to_string()
            })
            .collect();
        assert_eq!(
            by_id[id.as_str().unwrap()]["tags"],
            serde_json::json!(want),
            "{id}"
        );
    }
    let cands = d("with-text.safetensors.candidates.json");
    let folder = predict(&["--images", p(images), "--candidates", p(&cands)]);
    let mut a: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    let mut b: Vec<String> = folder
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    a.sort();
    b.sort();
    assert!(a == b, "a folder of the same images predicts the same rows");
    let csv = ok(&["predict", "--run", p(run), "--quiet"]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.starts_with("id,cluster,class,old,confidence,tags\n"),
        "{csv:.80}"
    );
    let e = fails(&["predict", "--run", p(run), "--images", p(images)]);
    assert!(e.contains("--candidates"), "{e}");
    let e = fails(&[
        "predict",
        "--run",
        p(run),
        "--images",
        p(&d("nothing-here")),
    ]);
    assert!(
        e.contains("nothing-here") && e.contains("not a folder"),
        "{e}"
    );
}

#[test]
fn finetune_synthetic_shape_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        "train",
        "--mode",
        "finetune",
        "--synthetic",
        "tiny",
        "--synthetic-images",
        "96",
        "--tokenizer",
        p(&tiny().join("tokenizer.json")),
        "--batch",
        "32",
        "--epochs",
        "2",
        "--seeds",
        "0",
        "--out",
        p(&dir.path().join("runs")),
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ms/step") && stdout.contains("synthetic-images"),
        "{stdout}"
    );
    // --labelled-indices in fine-tune mode: exactly those samples are labelled (class i % 10,
    // old = 0..4), whatever the run seed.
    let idx = dir.path().join("labelled.npy");
    write_i64_npy(&idx, &[0, 11, 22, 33, 40]);
    let synthetic = |out: &Path, idx: &Path| {
        [
            "train",
            "--mode",
            "finetune",
            "--synthetic",
            "tiny",
            "--synthetic-images",
            "96",
            "--batch",
            "32",
            "--epochs",
            "1",
            "--seeds",
            "3",
            "--labelled-indices",
            p(idx),
            "--out",
            p(out),
            "--quiet",
        ]
        .map(String::from)
    };
    let runs = dir.path().join("idx-runs");
    let args = synthetic(&runs, &idx);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let want: Vec<String> = (0..96)
        .filter(|i| ![0, 11, 22, 33, 40].contains(i))
        .map(|i| format!("synthetic/{i}"))
        .collect();
    let mut want = want;
    want.sort();
    assert_eq!(evaluated_ids(&runs.join("seed-3/report.json")), want);
    let bad = dir.path().join("new-class.npy");
    write_i64_npy(&bad, &[0, 5]);
    let args = synthetic(&dir.path().join("bad-runs"), &bad);
    let e = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("new-class.npy") && e.contains("sample 5"), "{e}");
    let e = fails(&["train", "--mode", "finetune", "--dataset", "cub200"]);
    assert!(e.contains("--model"), "{e}");
    let e = fails(&[
        "train",
        "--mode",
        "finetune",
        "--model",
        p(&tiny()),
        "--dataset",
        "imagefolder",
        "--root",
        p(&dir.path().join("missing")),
    ]);
    assert!(e.contains("missing"), "{e}");
}
