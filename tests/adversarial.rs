//! The adversarial corpus (tests/adversarial/corpus/, written by make_corpus.py): degenerate
//! shapes (n = 0, d = 0, K = 0), values out of range, decompression bombs and oversized image
//! headers, handed to every command that reads them. Each case ends with one `error:` line naming
//! what is wrong and exit status 2, or with status 0 and the correct result; never a panic, an
//! abort, a hang or a NaN in a table.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/adversarial/corpus")
}

fn tiny_clip() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/clip-tiny")
}

/// What a case must end with.
enum Expect {
    /// Status 2, one `error:` line holding every string.
    Refused(&'static [&'static str]),
    /// Status 0, stdout holding every string, and no NaN anywhere.
    Ok(&'static [&'static str]),
}
use Expect::{Ok as Fine, Refused};

fn check(args: &[String], expect: &Expect) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ssr2"))
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let said = format!(
        "ssr2 {}: status {:?}, stderr {stderr:?}",
        args.join(" "),
        out.status.code()
    );
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("panic: {said}"));
    }
    match expect {
        Refused(words) => {
            let line = stderr.trim();
            let fits = out.status.code() == Some(2)
                && line.lines().count() == 1
                && line.starts_with("error: ")
                && words.iter().all(|w| line.contains(w));
            if !fits {
                return Err(format!("expected one error line with {words:?}: {said}"));
            }
        }
        Fine(words) => {
            let fits = out.status.success()
                && words.iter().all(|w| stdout.contains(w))
                && !stdout.contains("NaN")
                && !stdout.to_lowercase().contains("nan ");
            if !fits {
                return Err(format!(
                    "expected success with {words:?}: {said}, stdout {stdout:?}"
                ));
            }
        }
    }
    Ok(())
}

/// Every case checked; the failures listed together.
fn check_all(cases: &[(Vec<String>, Expect)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(args, expect)| check(args, expect).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Arguments as owned strings.
fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

#[test]
fn every_adversarial_input_is_refused_in_one_line_or_answered_correctly() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus();
    let at = |rel: &str| c.join(rel).display().to_string();
    let out = |name: &str| tmp.path().join(name).display().to_string();
    let clip = tiny_clip().display().to_string();
    let on = |cmd: &str, flag: &str, file: &str| args(&[cmd, flag, &at(file)]);
    let train = |bundle: &str, dest: &str, extra: &[&str]| {
        let mut all = args(&["train", "--features", &at(bundle), "--out", &out(dest)]);
        all.extend(args(extra));
        all
    };
    let cases: Vec<(Vec<String>, Expect)> = vec![
        // Feature bundles of degenerate shape, to every command that trains or clusters on one.
        // One class, or no new class: a valid (if odd) GCD problem, scored with New as "-".
        (
            train("bundles/d0.safetensors", "d0", &[]),
            Refused(&["d0.safetensors", "d = 0"]),
        ),
        (
            train("bundles/n0.safetensors", "n0", &[]),
            Refused(&["n0.safetensors", "no samples"]),
        ),
        (
            train("bundles/k0.safetensors", "k0", &[]),
            Refused(&["k0.safetensors"]),
        ),
        (
            train("bundles/num-old-beyond-k.safetensors", "old", &[]),
            Refused(&["num_old"]),
        ),
        (
            train("bundles/huge-values.safetensors", "huge", &[]),
            Refused(&["huge-values.safetensors"]),
        ),
        (
            train("bundles/duplicate-ids.safetensors", "dup", &[]),
            Refused(&["appears twice"]),
        ),
        (
            train("bundles/label-beyond-k.safetensors", "lab", &[]),
            Refused(&["label-beyond-k.safetensors", "value 7"]),
        ),
        (
            on("kmeans", "--features", "bundles/d0.safetensors"),
            Refused(&["d0.safetensors", "d = 0"]),
        ),
        (
            train(
                "bundles/one-class.safetensors",
                "one",
                &["--batch", "4", "--epochs", "1"],
            ),
            Fine(&["100.0   100.0       -"]),
        ),
        (
            train(
                "bundles/no-new-class.safetensors",
                "nonew",
                &["--batch", "4", "--epochs", "1"],
            ),
            Fine(&["All     Old     New"]),
        ),
        (
            on("kmeans", "--features", "bundles/n0.safetensors"),
            Refused(&["n0.safetensors"]),
        ),
        (
            on("kmeans", "--features", "bundles/k0.safetensors"),
            Refused(&["k0.safetensors"]),
        ),
        (
            on("estimate-k", "--features", "bundles/d0.safetensors"),
            Refused(&["d0.safetensors"]),
        ),
        (
            on("estimate-k", "--features", "bundles/n0.safetensors"),
            Refused(&["n0.safetensors"]),
        ),
        (
            on("estimate-k", "--features", "bundles/k0.safetensors"),
            Refused(&["k0.safetensors"]),
        ),
        // Coding rates and metrics on empty or odd arrays.
        (on("rate", "--z", "npy/z-n0.npy"), Refused(&["z-n0.npy"])),
        (on("rate", "--z", "npy/z-d0.npy"), Refused(&["z-d0.npy"])),
        (
            args(&[
                "rate",
                "--z",
                &at("npy/z-5x4.npy"),
                "--labels",
                &at("npy/labels-huge-ids.npy"),
            ]),
            Fine(&["\"R\""]),
        ),
        (
            args(&[
                "rate",
                "--z",
                &at("npy/z-5x4.npy"),
                "--labels",
                &at("npy/labels-4.npy"),
            ]),
            Refused(&["labels-4.npy"]),
        ),
        (
            args(&[
                "metrics",
                "--true",
                &at("npy/labels-empty.npy"),
                "--pred",
                &at("npy/labels-empty.npy"),
                "--num-old",
                "1",
            ]),
            Refused(&["labels-empty.npy"]),
        ),
        (
            args(&[
                "metrics",
                "--true",
                &at("npy/labels-5.npy"),
                "--pred",
                &at("npy/labels-4.npy"),
                "--num-old",
                "1",
            ]),
            Refused(&["labels-4.npy"]),
        ),
        // Decompression bombs in the Fashion-MNIST reader.
        (
            args(&[
                "train",
                "--data",
                "fashion-mnist",
                "--root",
                &at("fashion-announces-too-much"),
                "--out",
                &out("f1"),
            ]),
            Refused(&["train-images-idx3-ubyte.gz", "decompression bomb"]),
        ),
        (
            args(&[
                "train",
                "--data",
                "fashion-mnist",
                "--root",
                &at("fashion-inflates-past-header"),
                "--out",
                &out("f2"),
            ]),
            Refused(&["train-images-idx3-ubyte.gz", "inflates to more than"]),
        ),
        // An image header beyond the pixel budget, refused before decoding.
        (
            args(&[
                "extract",
                "--model",
                &clip,
                "--dataset",
                "imagefolder",
                "--root",
                &at("images-huge"),
                "--no-test",
                "--out",
                &out("x.safetensors"),
                "--quiet",
            ]),
            Refused(&["huge", "9000 x 9000"]),
        ),
    ];
    check_all(&cases);
}

/// The commands that read features, texts or images beside training: `retrieve`, `predict`,
/// `embed-text`, `embed-images` and `merge`, given no samples, empty lexicons, empty folders and
/// bundles that are not shards.
#[test]
fn retrieve_predict_embed_and_merge_refuse_or_answer_degenerate_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus();
    let at = |rel: &str| c.join(rel).display().to_string();
    let out = |name: &str| tmp.path().join(name).display().to_string();
    let clip = tiny_clip().display().to_string();
    // A digits run for `predict`.
    let run = out("run");
    let trained = args(&[
        "train", "--epochs", "1", "--seeds", "0", "--out", &run, "--quiet",
    ]);
    check(&trained, &Fine(&[])).unwrap();
    let seed0 = format!("{run}/seed-0");
    std::fs::create_dir(tmp.path().join("no-images")).unwrap();
    let retrieve = |bundle: &str, tags: &str, dest: &str| {
        args(&[
            "retrieve",
            "--bundle",
            &at(bundle),
            "--model",
            &clip,
            "--tags",
            &at(tags),
            "--attributes",
            &at("lexicon/attributes.txt"),
            "--out",
            &out(dest),
        ])
    };
    let cases: Vec<(Vec<String>, Expect)> = vec![
        // No samples (an empty shard): an empty bundle with the candidates' shapes.
        (
            retrieve(
                "bundles/n0-d24.safetensors",
                "lexicon/tags.txt",
                "r0.safetensors",
            ),
            Fine(&[]),
        ),
        (
            retrieve(
                "bundles/n8-d24.safetensors",
                "lexicon/empty.txt",
                "r1.safetensors",
            ),
            Refused(&["empty.txt", "no lines"]),
        ),
        // Features of another width than the CLIP's projection.
        (
            retrieve(
                "bundles/d0.safetensors",
                "lexicon/tags.txt",
                "r2.safetensors",
            ),
            Refused(&["d0.safetensors", "0 dimensions", "projects to 24"]),
        ),
        // Predictions for no samples: the header only.
        (
            args(&[
                "predict",
                "--run",
                &seed0,
                "--features",
                &at("bundles/n0-d64.safetensors"),
            ]),
            Fine(&["id,cluster,class,old,confidence"]),
        ),
        (
            args(&[
                "predict",
                "--run",
                &seed0,
                "--features",
                &at("bundles/n0-d24.safetensors"),
            ]),
            Refused(&["heads.safetensors", "feature dimensions"]),
        ),
        (
            args(&[
                "embed-text",
                "--model",
                &clip,
                "--texts",
                &at("lexicon/empty.txt"),
                "--out",
                &out("t.npy"),
            ]),
            Refused(&["empty.txt", "no lines"]),
        ),
        (
            args(&[
                "embed-images",
                "--model",
                &clip,
                "--images",
                &out("no-images"),
                "--out",
                &out("i.npy"),
            ]),
            Refused(&["no-images", "no images found"]),
        ),
        (
            args(&[
                "merge",
                "--out",
                &out("m.safetensors"),
                &at("bundles/n0-d24.safetensors"),
            ]),
            Refused(&["n0-d24.safetensors", "not a shard bundle"]),
        ),
    ];
    check_all(&cases);
    // The empty shard's candidates: 0 samples of the top 2 tags and attributes, width 24.
    let ds = ssr2_data::read_bundle(std::path::Path::new(&out("r0.safetensors"))).unwrap();
    let Some(ssr2_data::TextFeatures::Candidates(c)) = &ds.text else {
        panic!("retrieve stores candidates")
    };
    assert_eq!(
        (ds.len(), c.num_tags, c.num_attributes, c.dim()),
        (0, 2, 2, 24)
    );
}
