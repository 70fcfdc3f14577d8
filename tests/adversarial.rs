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

#[test]
fn every_adversarial_input_is_refused_in_one_line_or_answered_correctly() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus();
    let at = |rel: &str| c.join(rel).display().to_string();
    let out = |name: &str| tmp.path().join(name).display().to_string();
    let clip = tiny_clip().display().to_string();
    let cases: Vec<(Vec<String>, Expect)> = vec![
        // Feature bundles of degenerate shape, to every command that trains or clusters on one.
        // One class, or no new class: a valid (if odd) GCD problem, scored with New as "-".
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/d0.safetensors"),
                "--out".into(),
                out("d0"),
            ],
            Refused(&["d0.safetensors", "d = 0"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/n0.safetensors"),
                "--out".into(),
                out("n0"),
            ],
            Refused(&["n0.safetensors", "no samples"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/k0.safetensors"),
                "--out".into(),
                out("k0"),
            ],
            Refused(&["k0.safetensors"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/num-old-beyond-k.safetensors"),
                "--out".into(),
                out("old"),
            ],
            Refused(&["num_old"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/huge-values.safetensors"),
                "--out".into(),
                out("huge"),
            ],
            Refused(&["huge-values.safetensors"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/duplicate-ids.safetensors"),
                "--out".into(),
                out("dup"),
            ],
            Refused(&["appears twice"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/label-beyond-k.safetensors"),
                "--out".into(),
                out("lab"),
            ],
            Refused(&["label-beyond-k.safetensors", "value 7"]),
        ),
        (
            vec![
                "kmeans".into(),
                "--features".into(),
                at("bundles/d0.safetensors"),
            ],
            Refused(&["d0.safetensors", "d = 0"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/one-class.safetensors"),
                "--batch".into(),
                "4".into(),
                "--epochs".into(),
                "1".into(),
                "--out".into(),
                out("one"),
            ],
            Fine(&["100.0   100.0       -"]),
        ),
        (
            vec![
                "train".into(),
                "--features".into(),
                at("bundles/no-new-class.safetensors"),
                "--batch".into(),
                "4".into(),
                "--epochs".into(),
                "1".into(),
                "--out".into(),
                out("nonew"),
            ],
            Fine(&["All     Old     New"]),
        ),
        (
            vec![
                "kmeans".into(),
                "--features".into(),
                at("bundles/n0.safetensors"),
            ],
            Refused(&["n0.safetensors"]),
        ),
        (
            vec![
                "kmeans".into(),
                "--features".into(),
                at("bundles/k0.safetensors"),
            ],
            Refused(&["k0.safetensors"]),
        ),
        (
            vec![
                "estimate-k".into(),
                "--features".into(),
                at("bundles/d0.safetensors"),
            ],
            Refused(&["d0.safetensors"]),
        ),
        (
            vec![
                "estimate-k".into(),
                "--features".into(),
                at("bundles/n0.safetensors"),
            ],
            Refused(&["n0.safetensors"]),
        ),
        (
            vec![
                "estimate-k".into(),
                "--features".into(),
                at("bundles/k0.safetensors"),
            ],
            Refused(&["k0.safetensors"]),
        ),
        // Coding rates and metrics on empty or odd arrays.
        (
            vec!["rate".into(), "--z".into(), at("npy/z-n0.npy")],
            Refused(&["z-n0.npy"]),
        ),
        (
            vec!["rate".into(), "--z".into(), at("npy/z-d0.npy")],
            Refused(&["z-d0.npy"]),
        ),
        (
            vec![
                "rate".into(),
                "--z".into(),
                at("npy/z-5x4.npy"),
                "--labels".into(),
                at("npy/labels-huge-ids.npy"),
            ],
            Fine(&["\"R\""]),
        ),
        (
            vec![
                "rate".into(),
                "--z".into(),
                at("npy/z-5x4.npy"),
                "--labels".into(),
                at("npy/labels-4.npy"),
            ],
            Refused(&["labels-4.npy"]),
        ),
        (
            vec![
                "metrics".into(),
                "--true".into(),
                at("npy/labels-empty.npy"),
                "--pred".into(),
                at("npy/labels-empty.npy"),
                "--num-old".into(),
                "1".into(),
            ],
            Refused(&["labels-empty.npy"]),
        ),
        (
            vec![
                "metrics".into(),
                "--true".into(),
                at("npy/labels-5.npy"),
                "--pred".into(),
                at("npy/labels-4.npy"),
                "--num-old".into(),
                "1".into(),
            ],
            Refused(&["labels-4.npy"]),
        ),
        // Decompression bombs in the Fashion-MNIST reader.
        (
            vec![
                "train".into(),
                "--data".into(),
                "fashion-mnist".into(),
                "--root".into(),
                at("fashion-announces-too-much"),
                "--out".into(),
                out("f1"),
            ],
            Refused(&["train-images-idx3-ubyte.gz", "decompression bomb"]),
        ),
        (
            vec![
                "train".into(),
                "--data".into(),
                "fashion-mnist".into(),
                "--root".into(),
                at("fashion-inflates-past-header"),
                "--out".into(),
                out("f2"),
            ],
            Refused(&["train-images-idx3-ubyte.gz", "inflates to more than"]),
        ),
        // An image header beyond the pixel budget, refused before decoding.
        (
            vec![
                "extract".into(),
                "--model".into(),
                clip.clone(),
                "--dataset".into(),
                "imagefolder".into(),
                "--root".into(),
                at("images-huge"),
                "--no-test".into(),
                "--out".into(),
                out("x.safetensors"),
                "--quiet".into(),
            ],
            Refused(&["huge", "9000 x 9000"]),
        ),
    ];
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
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    // A digits run for `predict`.
    let run = out("run");
    let trained = s(&[
        "train", "--epochs", "1", "--seeds", "0", "--out", &run, "--quiet",
    ]);
    check(&trained, &Fine(&[])).unwrap();
    let seed0 = format!("{run}/seed-0");
    std::fs::create_dir(tmp.path().join("no-images")).unwrap();
    let retrieve = |bundle: &str, tags: &str, dest: &str| {
        s(&[
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
            s(&[
                "predict",
                "--run",
                &seed0,
                "--features",
                &at("bundles/n0-d64.safetensors"),
            ]),
            Fine(&["id,cluster,class,old,confidence"]),
        ),
        (
            s(&[
                "predict",
                "--run",
                &seed0,
                "--features",
                &at("bundles/n0-d24.safetensors"),
            ]),
            Refused(&["heads.safetensors", "feature dimensions"]),
        ),
        (
            s(&[
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
            s(&[
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
            s(&[
                "merge",
                "--out",
                &out("m.safetensors"),
                &at("bundles/n0-d24.safetensors"),
            ]),
            Refused(&["n0-d24.safetensors", "not a shard bundle"]),
        ),
    ];
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
