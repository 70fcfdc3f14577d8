//! End-to-end tests of the `ssr2` command line: the JSON contracts of `ssr2 rate` and
//! `ssr2 metrics` against numpy/scipy references (`tests/reference/make_reference.py`), and one
//! clear line with exit status 2 for every kind of bad input.

#[path = "race.rs"]
mod race;
use npyz::WriterBuilder;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssr2"))
}
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/reference/cli")
        .join(name)
}
fn reference() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/reference.json"),
    )
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["cli"].clone()
}
fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("ssr2 runs")
}
fn json_ok(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "ssr2 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim().lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(text.trim()).unwrap()
}
/// The stdout of a command that must succeed (else its stderr is the failure message).
fn ok_stdout(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "ssr2 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
/// A run directory's report.json.
fn report_of(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap()).unwrap()
}
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let npy =
        npyz::NpyFile::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}
fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        _ => panic!(),
    }
}
fn frob_rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}
fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn rate_contract_and_values() {
    let r = reference();
    for name in ["tall", "wide"] {
        let want = &r[name];
        let z = fixture(&format!("z_{name}.npy"));
        let out = json_ok(&["rate", "--z", p(&z)]);
        let keys: Vec<&str> = out
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 7, "{keys:?}");
        for k in ["m", "d", "k", "eps2", "R", "Rc", "delta_R"] {
            assert!(out.get(k).is_some(), "missing {k}");
        }
        assert_eq!(out["m"], want["m"]);
        assert_eq!(out["d"], want["d"]);
        assert!(out["k"].is_null() && out["Rc"].is_null() && out["delta_R"].is_null());
        assert!(rel(out["R"].as_f64().unwrap(), want["R"].as_f64().unwrap()) < 1e-4);

        let out = json_ok(&[
            "rate",
            "--z",
            p(&z),
            "--labels",
            p(&fixture(&format!("y_{name}.npy"))),
        ]);
        let (rr, rc) = (
            want["R"].as_f64().unwrap(),
            want["Rc_hard"].as_f64().unwrap(),
        );
        assert!(rel(out["Rc"].as_f64().unwrap(), rc) < 1e-4);
        assert!((out["delta_R"].as_f64().unwrap() - (rr - rc)).abs() < 1e-4 * rr);
        assert_eq!(out["k"], want["k"]);
        assert_eq!(out["eps2"].as_f64(), Some(0.5));
    }
}

#[test]
fn rate_gradients_match_closed_forms() {
    let want = &reference()["tall"];
    let dir = tempfile::tempdir().unwrap();
    let grads = dir.path().join("g");
    let out = json_ok(&[
        "rate",
        "--z",
        p(&fixture("z_tall.npy")),
        "--probs",
        p(&fixture("p_tall.npy")),
        "--grads",
        p(&grads),
    ]);
    assert!(
        rel(
            out["Rc"].as_f64().unwrap(),
            want["Rc_soft"].as_f64().unwrap()
        ) < 1e-4
    );
    for (file, key, cols) in [
        ("dR_dZ.npy", "dR_dZ", 6),
        ("dRc_dZ.npy", "dRc_soft_dZ", 6),
        ("dRc_dP.npy", "dRc_soft_dP", 4),
    ] {
        let (shape, g) = read_npy(&grads.join(file));
        assert_eq!(shape, vec![20, cols], "{file}");
        let e = frob_rel(&g, &flat(&want[key]));
        assert!(e < 1e-3, "{file}: relative Frobenius error {e:.2e}");
    }
    // Hard labels write dR_dZ and dRc_dZ only.
    let hard = dir.path().join("h");
    json_ok(&[
        "rate",
        "--z",
        p(&fixture("z_tall.npy")),
        "--labels",
        p(&fixture("y_tall.npy")),
        "--grads",
        p(&hard),
    ]);
    let (_, g) = read_npy(&hard.join("dRc_dZ.npy"));
    assert!(frob_rel(&g, &flat(&want["dRc_hard_dZ"])) < 1e-3);
    assert!(!hard.join("dRc_dP.npy").exists());
}

#[test]
fn fortran_order_input_reads_the_same() {
    let c = json_ok(&["rate", "--z", p(&fixture("z_tall.npy"))]);
    let f = json_ok(&["rate", "--z", p(&fixture("z_tall_fortran.npy"))]);
    assert_eq!(c["R"], f["R"]);
}

#[test]
fn metrics_contract_and_values() {
    let want = &reference()["metrics"];
    let num_old = want["num_old"].to_string();
    let out = json_ok(&[
        "metrics",
        "--true",
        p(&fixture("metrics_true.npy")),
        "--pred",
        p(&fixture("metrics_pred.npy")),
        "--num-old",
        &num_old,
    ]);
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(out["n"], want["n"]);
    assert!((out["all"].as_f64().unwrap() - want["all"].as_f64().unwrap()).abs() < 1e-12);
    // Old/New may differ by one sample between equally optimal assignments (SPEC §2).
    let n = want["n"].as_f64().unwrap();
    for k in ["old", "new"] {
        assert!(
            (out[k].as_f64().unwrap() - want[k].as_f64().unwrap()).abs() <= 2.0 / n,
            "{k}"
        );
    }
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// Exit status 2, one line on stderr naming `names` (the file) and `expect`, no panic.
fn assert_user_error(args: &[&str], name: &str, expect: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(name), "names {name}: {err}");
    assert!(err.contains(expect), "says {expect}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no partial JSON on failure");
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let z = fixture("z_tall.npy");
    let zs = p(&z);
    let text = d.join("notes.npy");
    std::fs::write(&text, "not numpy").unwrap();
    let flat_z = d.join("flat.npy");
    write_npy::<f64>(&flat_z, &[20], &[0.5; 20]);
    let float_labels = d.join("float_labels.npy");
    write_npy::<f64>(&float_labels, &[20], &[1.0; 20]);
    let short = d.join("short.npy");
    write_npy::<i64>(&short, &[7], &[0; 7]);
    let negative = d.join("neg.npy");
    let mut v = vec![0i64; 20];
    v[3] = -1;
    write_npy::<i64>(&negative, &[20], &v);
    let int_z = d.join("int_z.npy");
    write_npy::<i64>(&int_z, &[4, 5], &[1; 20]);
    let nan_p = d.join("nan_p.npy");
    let mut pv = vec![0.25; 80];
    pv[9] = f64::NAN;
    write_npy::<f64>(&nan_p, &[20, 4], &pv);
    let missing = d.join("missing.npy");

    let truth = fixture("metrics_true.npy");
    let cases: [(&[&str], &str, &str); 11] = [
        (&["rate", "--z", p(&missing)], "missing.npy", "cannot open"),
        (&["rate", "--z", p(&text)], "notes.npy", "not a .npy"),
        (&["rate", "--z", p(&flat_z)], "flat.npy", "2-D"),
        (
            &["rate", "--z", zs, "--labels", p(&float_labels)],
            "float_labels.npy",
            "int32 or int64",
        ),
        (
            &["rate", "--z", zs, "--labels", p(&short)],
            "short.npy",
            "7 rows",
        ),
        (
            &["rate", "--z", zs, "--labels", p(&negative)],
            "neg.npy",
            "non-negative",
        ),
        (
            &["rate", "--z", zs, "--probs", p(&nan_p)],
            "nan_p.npy",
            "non-finite",
        ),
        (
            &["rate", "--z", p(&int_z)],
            "int_z.npy",
            "float32 or float64",
        ),
        (&["rate", "--z", zs, "--eps2", "0"], "--eps2", "positive"),
        // The default build has the CPU device only (the tests run it).
        (
            &["rate", "--z", zs, "--device", "cuda"],
            "--device cuda",
            "--features cuda",
        ),
        (
            &[
                "metrics",
                "--true",
                p(&truth),
                "--pred",
                p(&short),
                "--num-old",
                "3",
            ],
            "short.npy",
            "7 predictions",
        ),
    ];
    for (args, file, expect) in cases {
        assert_user_error(args, file, expect);
    }

    // Argument errors come from clap: status 2 as well.
    let out = run(&[
        "rate",
        "--z",
        zs,
        "--labels",
        p(&fixture("y_tall.npy")),
        "--probs",
        p(&fixture("p_tall.npy")),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_explains_every_option() {
    let out = run(&["rate", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for opt in ["--z", "--labels", "--probs", "--eps2", "--grads"] {
        assert!(text.contains(opt), "{opt} missing from help");
    }
    assert!(text.contains("float32 or float64"));
}

#[test]
fn train_then_eval_agree_and_write_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let res = run(&[
        "train",
        "--epochs",
        "2",
        "--seeds",
        "0,1",
        "--out",
        p(&out),
        "--quiet",
    ]);
    let table = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        table.contains("All") && table.contains("Old") && table.contains("New"),
        "{table}"
    );
    assert!(
        table.contains("mean±std"),
        "two seeds give mean and std: {table}"
    );
    for seed in ["seed-0", "seed-1"] {
        for file in [
            "report.json",
            "heads.safetensors",
            "config.toml",
            "state.json",
        ] {
            assert!(out.join(seed).join(file).exists(), "{seed}/{file}");
        }
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seed-0/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["format"], "ssr2-report");
    assert_eq!(report["history"].as_array().unwrap().len(), 2);
    let res = run(&["eval", "--run", p(&out.join("seed-0"))]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("matches report.json"), "{err}");
    // What the run needs to be reproduced or compared.
    let prov = &report["provenance"];
    let config = std::fs::read(out.join("seed-0/config.toml")).unwrap();
    assert_eq!(prov["config_sha256"], ssr2_data::sha256_hex(&config));
    // The digits preset holds out a fifth of each class; the hash covers both parts.
    let held = ssr2_data::hold_out(ssr2_data::digits(0), 0.2, 0).unwrap();
    assert_eq!(prov["data_sha256"], ssr2_data::dataset_sha256(&held));
    assert_eq!(
        prov["tool_version"],
        format!("ssr2 {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(prov["git_commit"].as_str().unwrap().len() >= 7, "{prov}");
    assert!(prov["evaluation"].as_str().unwrap().contains("last epoch"));
}

/// `eval` refuses a run whose data changed since training.
#[test]
fn eval_refuses_changed_data() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("digits.safetensors");
    let mut ds = ssr2_data::digits(0);
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&ds).unwrap()).unwrap();
    let out = dir.path().join("run");
    let args = [
        "train",
        "--features",
        p(&bundle),
        "--preset",
        "digits",
        "--epochs",
        "1",
    ];
    let res = run(&[&args[..], &["--seeds", "0", "--out", p(&out), "--quiet"]].concat());
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(run(&["eval", "--run", p(&out)]).status.success());
    ds.image.data[10] += 0.25;
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&ds).unwrap()).unwrap();
    assert_user_error(
        &["eval", "--run", p(&out)],
        "report.json",
        "trained on other data",
    );
    // `predict` on the run's own data reads the same bundle: refused the same way.
    assert_user_error(
        &["predict", "--run", p(&out.join("seed-0"))],
        "report.json",
        "trained on other data",
    );
}

/// A flag the run would not use is refused with the reason, never silently dropped; and a test
/// fraction that holds out no sample means no test split, never a NaN score.
#[test]
fn flags_a_run_would_ignore_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = p(&out);
    assert_user_error(&["train", "--candidates", "c.json", "--out", o], "--candidates", "fine-tune");
    assert_user_error(&["train", "--workers", "2", "--out", o], "--workers", "fine-tune");
    assert_user_error(&["train", "--root", "/tmp", "--out", o], "--root", "fine-tune");
    let bundle = dir.path().join("digits.safetensors");
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&ssr2_data::digits(0)).unwrap()).unwrap();
    assert_user_error(
        &["train", "--features", p(&bundle), "--split-seed", "3", "--out", o],
        "--split-seed",
        "bundle keeps",
    );
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/clip-tiny");
    let ft = ["train", "--mode", "finetune", "--model", p(&clip), "--dataset", "imagefolder"];
    assert_user_error(
        &[&ft[..], &["--root", p(dir.path()), "--limit", "5", "--out", o]].concat(),
        "--limit",
        "fine-tune run",
    );
    // Labelled indices past --limit would be dropped: refused, naming the sample.
    let labels = ssr2_data::digits(0).labels;
    let far = (100..labels.len()).find(|&i| labels[i] < 5).unwrap();
    let idx = dir.path().join("idx.npy");
    write_npy(&idx, &[3], &[0i64, 1, far as i64]);
    assert_user_error(
        &["train", "--labelled-indices", p(&idx), "--limit", "100", "--out", o, "--quiet"],
        "idx.npy",
        &format!("labels sample {far}, beyond --limit 100"),
    );
    // 0.005 of each digit's ~180 samples rounds down to none: no test split.
    let none = dir.path().join("none");
    let table = ok_stdout(&[
        "train", "--test-fraction", "0.005", "--epochs", "1", "--seeds", "0", "--out", p(&none),
        "--quiet",
    ]);
    assert!(!table.contains("inductive") && !table.contains("NaN"), "{table}");
    let report = report_of(&none.join("seed-0"));
    assert!(report.get("test_scores").is_none_or(|t| t.is_null()), "{report}");
    let res = run(&["eval", "--run", p(&none.join("seed-0"))]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

/// One writer per run directory: a second `train --out X` while the first writes is refused in
/// one line, two at once leave one intact run and one refusal, and `--resume` on a seed folder
/// refuses instead of nesting a new run in it.
#[test]
fn a_second_writer_is_refused_and_one_run_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let held = std::fs::File::create(out.join(".lock")).unwrap();
    held.try_lock().unwrap();
    let args = ["train", "--epochs", "3", "--seeds", "0", "--out", p(&out), "--quiet"];
    assert_user_error(&args, "run", "another ssr2 train is writing here");
    assert!(!out.join("config.toml").exists(), "the refused run wrote nothing");
    drop(held);
    // Two at once: whichever comes second is refused (by the lock, or, if the first has
    // already finished, because the directory holds a run).
    let outs = race::race(&args);
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "one run succeeds");
    let refused = outs.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("another ssr2 train is writing here") || err.contains("already holds a run"),
        "{err}"
    );
    let res = run(&["eval", "--run", p(&out.join("seed-0"))]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_user_error(
        &["train", "--resume", p(&out.join("seed-0")), "--quiet"],
        "seed-0",
        "one seed's folder",
    );
    assert!(!out.join("seed-0/seed-0").exists());
}

/// A run folder holding another run's heads or config, or a report whose heads path leaves the
/// folder, is refused by `eval` and `predict` (one line naming both hashes), never scored.
#[test]
fn eval_and_predict_refuse_another_runs_files() {
    let dir = tempfile::tempdir().unwrap();
    let train = |epochs: &str, out: &Path| {
        let args = ["train", "--epochs", epochs, "--seeds", "0", "--out", p(out), "--quiet"];
        let res = run(&args);
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
        out.join("seed-0")
    };
    let a = train("1", &dir.path().join("a"));
    let b = train("2", &dir.path().join("b"));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).unwrap()).unwrap();
    let heads = std::fs::read(a.join("heads.safetensors")).unwrap();
    assert_eq!(report["provenance"]["heads_sha256"], ssr2_data::sha256_hex(&heads));
    let refused = |what: &str, name: &str, expect: &str| {
        for cmd in ["eval", "predict"] {
            assert_user_error(&[cmd, "--run", p(&a)], name, expect);
        }
        eprintln!("refused: {what}");
    };
    let restore = |file: &str, bytes: &[u8]| std::fs::write(a.join(file), bytes).unwrap();
    // Another run's heads: same shapes, other weights.
    std::fs::copy(b.join("heads.safetensors"), a.join("heads.safetensors")).unwrap();
    let theirs = ssr2_data::sha256_hex(&std::fs::read(b.join("heads.safetensors")).unwrap());
    refused("heads", "heads.safetensors", &theirs[..12]);
    refused("heads", "heads.safetensors", &ssr2_data::sha256_hex(&heads)[..12]);
    restore("heads.safetensors", &heads);
    // Another run's config (it trained 2 epochs, not 1).
    let config = std::fs::read(a.join("config.toml")).unwrap();
    std::fs::copy(b.join("config.toml"), a.join("config.toml")).unwrap();
    refused("config", "config.toml", "another run");
    restore("config.toml", &config);
    // A heads path outside the folder.
    let text = std::fs::read_to_string(a.join("report.json")).unwrap();
    restore("report.json", text.replace("\"heads.safetensors\"", "\"../../b/seed-0/heads.safetensors\"").as_bytes());
    refused("heads path", "report.json", "in the run's folder");
    restore("report.json", text.as_bytes());
    assert!(run(&["eval", "--run", p(&a)]).status.success());
}

/// A CNN's weights fit every image side that pools to the same size (8x8 and 9x9 both pool to
/// 2x2), so a run records its input width and eval/predict refuse data of another width instead
/// of reading 9x9 images as if they were 8x8 (`eval` reads only the run's own, hash-checked data).
#[test]
fn a_cnn_run_refuses_images_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ssr2_train::TrainConfig::preset("digits").unwrap();
    cfg.model.adapter = ssr2_train::config::AdapterKind::Cnn;
    // Without the input standardisation, whose 64-value statistics would not load for 81.
    cfg.model.standardize = false;
    cfg.optim.epochs = 1;
    let config = dir.path().join("cnn.toml");
    std::fs::write(&config, cfg.to_toml()).unwrap();
    let out = dir.path().join("cnn");
    let res = run(&["train", "--config", p(&config), "--seeds", "0", "--out", p(&out), "--quiet"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let run_dir = out.join("seed-0");
    assert_eq!(report_of(&run_dir)["dataset"]["image_dim"], 64);
    // The same digits as 9x9 images: a zero column and a zero row around each 8x8 one.
    let write = |name: &str, side: usize| {
        let mut ds = ssr2_data::digits(0);
        let n = ds.image.rows;
        let mut data = vec![0.0f32; n * side * side];
        for i in 0..n {
            for r in 0..8 {
                for c in 0..8 {
                    data[i * side * side + r * side + c] = ds.image.data[i * 64 + r * 8 + c];
                }
            }
        }
        ds.image = ssr2_data::Matrix::new(n, side * side, data);
        let path = dir.path().join(name);
        ssr2_data::write_bundle(&path, &ds).unwrap();
        path
    };
    let (same, wider) = (write("digits8.safetensors", 8), write("digits9.safetensors", 9));
    let args = ["predict", "--run", p(&run_dir), "--features", p(&wider)];
    assert_user_error(&args, "report.json", "64 values per image (a 8x8 image");
    assert_user_error(&args, "report.json", "these samples have 81");
    let ok = run(&["predict", "--run", p(&run_dir), "--features", p(&same)]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

#[test]
fn train_rejects_bad_configs_and_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[optim]\nepochz = 3\n").unwrap();
    assert_user_error(&["train", "--config", p(&cfg)], "bad.toml", "epochz");
    let bundle = dir.path().join("bad.safetensors");
    std::fs::write(&bundle, b"definitely not safetensors").unwrap();
    assert_user_error(
        &[
            "train",
            "--features",
            p(&bundle),
            "--out",
            p(&dir.path().join("o")),
        ],
        "bad.safetensors",
        "",
    );
    assert_user_error(&["train", "--preset", "nope"], "--preset nope", "unknown");
    let res = run(&["train", "--print-config"]);
    assert!(String::from_utf8_lossy(&res.stdout).contains("[optim]"));
}

#[test]
fn explicit_labelled_indices_replace_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("labelled.npy");
    write_npy::<i64>(&idx, &[3], &[0, 10, 20]); // digits 0, 0, 0 in sklearn's order: old class
    let out = dir.path().join("run");
    let res = run(&[
        "train",
        "--epochs",
        "1",
        "--seeds",
        "0",
        "--test-fraction",
        "0",
        "--labelled-indices",
        p(&idx),
        "--out",
        p(&out),
        "--quiet",
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seed-0/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["dataset"]["n_labelled"], 3);
    // Which samples: every sample but those three is evaluated (the unlabelled set).
    let mut evaluated: Vec<String> = report["projection"]["id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    evaluated.sort();
    let want: Vec<String> = (0..1797)
        .filter(|i| ![0, 10, 20].contains(i))
        .map(|i| format!("digits/{i:04}"))
        .collect();
    assert_eq!(evaluated, want);
    let bad = dir.path().join("bad_idx.npy");
    write_npy::<i64>(&bad, &[2], &[0, 99_999]);
    assert_user_error(
        &[
            "train",
            "--labelled-indices",
            p(&bad),
            "--out",
            p(&dir.path().join("o")),
        ],
        "bad_idx.npy",
        "99999",
    );
}

/// The unlabelled (evaluated) sample ids of a run's report, sorted.
fn evaluated_ids(report: &Path) -> Vec<String> {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let mut ids: Vec<String> = r["projection"]["id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_labelled_split_follows_split_seed_not_the_run_seed() {
    // SPEC §1: the reference labels the same samples in every run (numpy seed 0).
    let dir = tempfile::tempdir().unwrap();
    let train = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let args = [
            &[
                "train",
                "--epochs",
                "1",
                "--seeds",
                "0,1",
                "--test-fraction",
                "0",
                "--quiet",
                "--out",
            ][..],
            &[p(&out)],
            extra,
        ]
        .concat();
        let res = run(&args);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        out
    };
    let a = train("a", &[]);
    let ids0 = evaluated_ids(&a.join("seed-0/report.json"));
    assert_eq!(ids0, evaluated_ids(&a.join("seed-1/report.json")));
    let unlabelled0: Vec<String> = ssr2_data::digits(0)
        .unlabelled_indices()
        .iter()
        .map(|i| format!("digits/{i:04}"))
        .collect();
    assert_eq!(ids0, unlabelled0);
    let b = train("b", &["--split-seed", "7"]);
    let ids7 = evaluated_ids(&b.join("seed-0/report.json"));
    assert_ne!(ids7, ids0);
    assert_eq!(ids7, evaluated_ids(&b.join("seed-1/report.json")));
    assert_user_error(
        &[
            "train",
            "--split-seed",
            "4294967296",
            "--out",
            p(&dir.path().join("c")),
        ],
        "split_seed",
        "4294967295",
    );
}

#[test]
fn killed_run_resumes_from_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = bin()
        .args([
            "train",
            "--epochs",
            "60",
            "--seeds",
            "0",
            "--out",
            p(&out),
            "--quiet",
        ])
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then kill the process mid-run.
    let state = out.join("seed-0/state.json");
    for _ in 0..600 {
        if state.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(state.exists(), "no checkpoint was written");
    let before: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let done = before["epoch"].as_u64().unwrap();
    assert!(done < 59, "the run finished before it was killed");
    let res = run(&["train", "--resume", p(&out), "--quiet"]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seed-0/report.json")).unwrap())
            .unwrap();
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 60);
    // The epochs before the kill were kept, not recomputed from scratch.
    let kept = before["history"].as_array().unwrap();
    assert_eq!(&history[..kept.len()], &kept[..]);
}

#[test]
fn export_digits_writes_an_image_folder_the_reader_opens() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits");
    let res = run(&["export-digits", "--out", p(&out)]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let text = String::from_utf8(res.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("1797"), "{text}");

    let list = ssr2_data::open_image_dataset("imagefolder", &out, &Default::default()).unwrap();
    let (x, labels) = ssr2_data::digits_raw();
    assert_eq!(
        list.class_names,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    assert_eq!(list.items.len(), 1797);
    assert_eq!(list.num_old, 5);
    // Items come class by class, ascending embedded index within a class.
    let mut want: Vec<usize> = (0..labels.len()).collect();
    want.sort_by_key(|&i| (labels[i], i));
    for (item, &i) in list.items.iter().zip(&want) {
        assert_eq!(item.id, format!("{}/{i:04}.png", labels[i]));
        assert_eq!(item.label, labels[i]);
    }
    // Pixel rule: (v * 255 + 8) / 16, checked on every pixel of a spread of images.
    for item in list.items.iter().step_by(97) {
        let i: usize = item.id[2..6].parse().unwrap();
        let img = ssr2_data::load_rgb(&item.source).unwrap();
        assert_eq!((img.width(), img.height()), (8, 8));
        for (k, px) in img.as_raw().chunks_exact(3).enumerate() {
            let v = x.data[i * 64 + k] as u32;
            let g = ((v * 255 + 8) / 16) as u8;
            assert_eq!(px, [g, g, g], "{} pixel {k}", item.id);
        }
    }
    assert!(
        !out.join("0/0000.png.partial").exists(),
        "temporary file left behind"
    );

    // A non-empty folder is refused without --force, accepted with it.
    let again = run(&["export-digits", "--out", p(&out)]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8(again.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("--force"),
        "{err}"
    );
    let forced = run(&["export-digits", "--out", p(&out), "--force"]);
    assert!(forced.status.success());
}

/// A `.npy` file with a hand-written header dict (headers numpy itself would never write).
fn raw_npy(path: &Path, dict: &str, data: &[u8]) {
    std::fs::write(path, ssr2_data::npy::file_bytes(dict, data)).unwrap();
}

/// The input classes of the hardening audit: each once panicked, aborted or allocated terabytes.
#[test]
fn audit_inputs_give_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str| d.join(name);
    raw_npy(
        &file("square.npy"),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        &[0; 16],
    );
    raw_npy(
        &file("overflow.npy"),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
        &[0; 16],
    );
    raw_npy(
        &file("trunc.npy"),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (20, 6), }",
        &[0; 8],
    );
    raw_npy(
        &file("header.npy"),
        "{'descr': '<f4', 'fortran_order': False,\n 'shape': (2, 3 ",
        &[0; 24],
    );
    write_npy::<f32>(&file("huge_z.npy"), &[20, 6], &[1e20; 120]);
    write_npy::<f32>(&file("empty_z.npy"), &[20, 0], &[]);
    let zs = fixture("z_tall.npy");
    let zs = p(&zs);
    std::fs::write(file("inf.toml"), "[optim]\nlr_head = inf\n").unwrap();
    let out = file("o");
    let paths: Vec<PathBuf> = [
        file("square.npy"),
        file("overflow.npy"),
        file("trunc.npy"),
        file("header.npy"),
        file("huge_z.npy"),
        file("empty_z.npy"),
        file("inf.toml"),
    ]
    .into();
    let cases: [(&[&str], &str, &str); 10] = [
        (
            &["rate", "--z", p(&paths[0])],
            "square.npy",
            "more elements",
        ),
        (
            &["rate", "--z", p(&paths[1])],
            "overflow.npy",
            "more elements",
        ),
        (
            &["rate", "--z", p(&paths[2])],
            "trunc.npy",
            "needs 480 data bytes",
        ),
        (
            &["rate", "--z", p(&paths[3])],
            "header.npy",
            "malformed .npy header",
        ),
        (
            &["rate", "--z", p(&paths[4])],
            "huge_z.npy",
            "too large for float32",
        ),
        (
            &["rate", "--z", zs, "--eps2", "1e-45"],
            "--eps2",
            "too small",
        ),
        (
            &["rate", "--z", p(&paths[5])],
            "empty_z.npy",
            "at least one row and one column",
        ),
        (
            &["train", "--config", p(&paths[6])],
            "optim.lr_head",
            "finite",
        ),
        (
            &["train", "--epochs", "1000000000", "--out", p(&out)],
            "optim.epochs",
            "100000",
        ),
        (
            &["train", "--seeds", "3,4,3", "--out", p(&out)],
            "seed 3",
            "listed twice",
        ),
    ];
    for (args, name, expect) in cases {
        assert_user_error(args, name, expect);
    }

    // A bundle whose features are finite but overflow float32 products.
    let mut ds = ssr2_data::digits(0);
    ds.image.data[5] = 1e30;
    let bundle = file("huge.safetensors");
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&ds).unwrap()).unwrap();
    assert_user_error(
        &["train", "--features", p(&bundle), "--out", p(&out)],
        "huge.safetensors",
        "features must stay within",
    );
}

/// Ids are names, not sizes: a label or cluster of 2^40 (or 10^7) costs nothing and gives the
/// same numbers as dense ids.
#[test]
fn huge_ids_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let dense: Vec<i64> = (0..20).map(|i| i % 4).collect();
    let huge: Vec<i64> = dense
        .iter()
        .map(|&c| [0, 1 << 40, 10_000_000, 5][c as usize])
        .collect();
    let (yd, yh) = (dir.path().join("dense.npy"), dir.path().join("huge.npy"));
    write_npy::<i64>(&yd, &[20], &dense);
    write_npy::<i64>(&yh, &[20], &huge);
    let z = fixture("z_tall.npy");
    let started = std::time::Instant::now();
    let a = json_ok(&["rate", "--z", p(&z), "--labels", p(&yd)]);
    let b = json_ok(&["rate", "--z", p(&z), "--labels", p(&yh)]);
    assert!(rel(a["Rc"].as_f64().unwrap(), b["Rc"].as_f64().unwrap()) < 1e-6);
    assert_eq!(
        b["k"].as_u64().unwrap(),
        (1u64 << 40) + 1,
        "k = max label + 1"
    );
    let m = json_ok(&[
        "metrics",
        "--true",
        p(&yd),
        "--pred",
        p(&yh),
        "--num-old",
        "2",
    ]);
    assert_eq!(m["all"].as_f64().unwrap(), 1.0);
    assert!(
        started.elapsed().as_secs() < 20,
        "ids must not size the work"
    );
}

/// Seeds of two runs never end up in one directory or one table.
#[test]
fn runs_are_never_mixed_and_eval_fails_on_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--epochs", "1", "--out", p(&out), "--quiet"];
        args.extend(extra);
        run(&args)
    };
    assert!(train(&["--seeds", "0"]).status.success());
    assert_user_error(
        &["train", "--epochs", "1", "--seeds", "1", "--out", p(&out)],
        "run",
        "already holds a run",
    );
    let res = train(&["--seeds", "1", "--overwrite"]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        !out.join("seed-0").exists(),
        "the old run's seed folder is gone"
    );
    assert!(out.join("seed-1/report.json").exists());
    assert!(run(&["eval", "--run", p(&out)]).status.success());

    let report = out.join("seed-1/report.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    v["final_scores"]["all"] = serde_json::json!(0.01);
    std::fs::write(&report, v.to_string()).unwrap();
    let res = run(&["eval", "--run", p(&out)]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(
        err.contains("DIFFERS") && err.contains("differ from report.json"),
        "{err}"
    );
}

/// `estimate-k` prints both curves with their choices; on the digits the GCD estimator lands
/// within one of the true 10 (measured: 9 with split seed 0's labelled half, 10 with the
/// ChaCha8 split used before) and the coding length stays within the range it was given.
#[test]
fn estimate_k_prints_curves_and_choices() {
    let v = json_ok(&["estimate-k", "--json"]);
    assert_eq!(v["true_k"], 10);
    assert_eq!((v["min"].as_u64(), v["max"].as_u64()), (Some(5), Some(20)));
    let best = v["gcd"]["best"].as_u64().unwrap();
    assert!((9..=11).contains(&best), "gcd estimate {best}");
    for method in ["gcd", "coding_length"] {
        let best = v[method]["best"].as_u64().unwrap();
        let points = v[method]["points"].as_array().unwrap();
        assert!(
            points.iter().any(|p| p[0].as_u64() == Some(best)),
            "{method}: {v}"
        );
        assert!((5..=20).contains(&best), "{method}: {v}");
    }
    assert_user_error(
        &["estimate-k", "--min", "30", "--max", "20"],
        "--min",
        "--max",
    );
}

/// `predict` on the run's own data reproduces the report's predictions of the unlabelled set
/// exactly, on the built-in digits and from a bundle; bad inputs are one line.
#[test]
fn predict_round_trips_the_reports_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("digits.safetensors");
    let ds = ssr2_data::digits(0);
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&ds).unwrap()).unwrap();
    let unlabelled: Vec<usize> = (0..ds.len()).filter(|&i| !ds.labelled[i]).collect();
    for features in [None, Some(&bundle)] {
        let out = dir.path().join(if features.is_some() { "b" } else { "d" });
        let mut args = vec![
            "train",
            "--epochs",
            "2",
            "--seeds",
            "0",
            "--test-fraction",
            "0",
            "--out",
            p(&out),
            "--quiet",
        ];
        if let Some(b) = features {
            args.extend(["--features", p(b), "--preset", "digits"]);
        }
        assert!(run(&args).status.success());
        let seed = out.join("seed-0");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(seed.join("report.json")).unwrap())
                .unwrap();
        let mut args = vec!["predict", "--run", p(&seed), "--json"];
        if let Some(b) = features {
            args.extend(["--features", p(b)]);
        }
        let rows = json_ok(&args);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), ds.len());
        let want = report["inference"]["pred"].as_array().unwrap();
        for (k, &i) in unlabelled.iter().enumerate() {
            assert_eq!(rows[i]["id"], ds.sample_ids[i].as_str());
            assert_eq!(rows[i]["cluster"], want[k], "sample {i}");
        }
        for r in rows {
            let c = r["cluster"].as_u64().unwrap() as usize;
            let class = report["mapping"][c].as_u64().unwrap() as usize;
            let name = if class < 5 {
                report["dataset"]["class_names"][class]
                    .as_str()
                    .unwrap()
                    .to_string()
            } else {
                format!("new-{class}")
            };
            assert_eq!(r["class"], name.as_str());
            assert_eq!(r["old"], class < 5);
            let conf = r["confidence"].as_f64().unwrap();
            assert!(conf > 0.1 - 1e-9 && conf <= 1.0, "{conf}");
        }
    }
    let csv = dir.path().join("pred.csv");
    let seed = dir.path().join("b/seed-0");
    let res = run(&[
        "predict",
        "--run",
        p(&seed),
        "--features",
        p(&bundle),
        "--out",
        p(&csv),
    ]);
    assert!(res.status.success() && res.stdout.is_empty());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("id,cluster,class,old,confidence\n"));
    assert_eq!(text.lines().count(), ds.len() + 1);
    // Other feature dimensions than the run's, and a run root instead of a seed folder.
    let mut narrow = ds.clone();
    narrow.image = ssr2_data::Matrix::new(ds.len(), 8, ds.image.data[..ds.len() * 8].to_vec());
    let other = dir.path().join("narrow.safetensors");
    std::fs::write(&other, ssr2_data::bundle_to_bytes(&narrow).unwrap()).unwrap();
    assert_user_error(
        &["predict", "--run", p(&seed), "--features", p(&other)],
        "heads.safetensors",
        "feature dimensions",
    );
    assert_user_error(
        &["predict", "--run", p(&dir.path().join("b"))],
        "b",
        "seed-N",
    );
}

/// `--num-classes auto` estimates K first (10 on the digits, measured) and records the curve;
/// a fixed count sizes the heads; eval and predict follow the heads' count.
#[test]
fn num_classes_auto_and_fixed() {
    let dir = tempfile::tempdir().unwrap();
    for (k, out) in [("auto", "a"), ("14", "f")] {
        let out = dir.path().join(out);
        // All 1797 digits: the measurement of the README's estimate-k table.
        let args = [
            "train",
            "--num-classes",
            k,
            "--epochs",
            "1",
            "--seeds",
            "0",
            "--test-fraction",
            "0",
            "--quiet",
        ];
        let res = run(&[&args[..], &["--out", p(&out)]].concat());
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("seed-0/report.json")).unwrap())
                .unwrap();
        if k == "auto" {
            let best = report["k_estimate"]["best"].as_u64().unwrap();
            assert!((9..=11).contains(&best), "{}", report["k_estimate"]);
            // `clusters` is recorded when it differs from the data's 10 classes.
            let heads = report["clusters"].as_u64().unwrap_or(10);
            assert_eq!(heads, best, "the heads have the estimated size");
            assert!(report["k_estimate"]["points"].as_array().unwrap().len() >= 3);
        } else {
            assert_eq!(report["clusters"], 14);
        }
        assert!(run(&["eval", "--run", p(&out)]).status.success());
        let rows = json_ok(&["predict", "--run", p(&out.join("seed-0")), "--json"]);
        assert_eq!(rows.as_array().unwrap().len(), 1797);
    }
    assert_user_error(
        &[
            "train",
            "--num-classes",
            "3",
            "--out",
            p(&dir.path().join("x")),
        ],
        "model.num_classes",
        "5 old classes",
    );
}

/// The digits preset holds out a fifth of each class: the report scores it inductively, the
/// table labels both kinds, `eval --split` re-scores either, and `predict --split test` gives the
/// clusters the inductive score is computed from.
#[test]
fn inductive_scores_are_on_the_held_out_split() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let table = ok_stdout(&[
        "train",
        "--epochs",
        "2",
        "--seeds",
        "0",
        "--out",
        p(&out),
        "--quiet",
    ]);
    assert!(
        table.contains("transductive (unlabelled train): "),
        "{table}"
    );
    assert!(table.contains("inductive (test): "), "{table}");
    let seed = out.join("seed-0");
    let report = report_of(&seed);
    let held = ssr2_data::hold_out(ssr2_data::digits(0), 0.2, 0).unwrap();
    let test = held.test.as_ref().unwrap();
    assert_eq!(report["dataset"]["n_test"], test.len());
    assert_eq!(report["dataset"]["n_train"], held.len());
    assert_eq!(held.len() + test.len(), 1797);
    assert_eq!(report["test_scores"]["n"], test.len());
    assert!(
        report["provenance"]["evaluation"]
            .as_str()
            .unwrap()
            .contains("inductive")
    );
    // No test sample was among the evaluated training samples.
    for id in report["projection"]["id"].as_array().unwrap() {
        assert!(!test.sample_ids.iter().any(|t| t == id.as_str().unwrap()));
    }
    // The inductive score is the cluster accuracy of the predicted clusters of the test split.
    let rows = json_ok(&["predict", "--run", p(&seed), "--split", "test", "--json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), test.len());
    let preds: Vec<usize> = rows
        .iter()
        .map(|r| r["cluster"].as_u64().unwrap() as usize)
        .collect();
    for (r, id) in rows.iter().zip(&test.sample_ids) {
        assert_eq!(r["id"], id.as_str());
    }
    let acc = ssr2_core::metrics::cluster_accuracy(&test.labels, &preds, test.num_old);
    let want = &report["test_scores"];
    assert!((acc.all - want["all"].as_f64().unwrap()).abs() < 1e-12);
    assert!((acc.new - want["new"].as_f64().unwrap()).abs() < 1e-12);
    // Thumbnails: the images of the samples the report names, in the clusters predict gives.
    let thumbs = &report["thumbnails"];
    assert_eq!(thumbs["side"], 8);
    let samples = thumbs["samples"].as_array().unwrap();
    assert!(samples.len() >= 10, "{}", samples.len());
    let train_rows = json_ok(&["predict", "--run", p(&seed), "--json"]);
    for t in samples {
        let id = t["id"].as_str().unwrap();
        let i = held.sample_ids.iter().position(|s| s == id).unwrap();
        let want: Vec<u64> = held
            .image
            .row(i)
            .iter()
            .map(|&v| (v * 255.0).round() as u64)
            .collect();
        let got: Vec<u64> = t["pixels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "{id}");
        assert_eq!(t["label"], held.labels[i]);
        assert_eq!(train_rows[i]["cluster"], t["cluster"], "{id}");
    }
    for split in ["inductive", "transductive", "both"] {
        let res = run(&["eval", "--run", p(&seed), "--split", split]);
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{err}");
        assert!(!err.contains("DIFFERS"), "{err}");
        let table = String::from_utf8_lossy(&res.stdout);
        assert_eq!(
            table.contains("inductive (test)"),
            split != "transductive",
            "{table}"
        );
    }
    // Without a held-out part there is no inductive score to ask for.
    let none = dir.path().join("none");
    let args = [
        "train",
        "--epochs",
        "1",
        "--seeds",
        "0",
        "--test-fraction",
        "0",
        "--quiet",
    ];
    ok_stdout(&[&args[..], &["--out", p(&none)]].concat());
    let report = report_of(&none.join("seed-0"));
    assert!(report["test_scores"].is_null() && report["dataset"]["n_test"] == 0);
    assert_user_error(
        &["eval", "--run", p(&none), "--split", "inductive"],
        "seed-0",
        "no test split",
    );
    assert_user_error(
        &[
            "predict",
            "--run",
            p(&none.join("seed-0")),
            "--split",
            "test",
        ],
        "seed-0",
        "no test split",
    );
    assert_user_error(
        &[
            "train",
            "--test-fraction",
            "1.5",
            "--out",
            p(&dir.path().join("x")),
        ],
        "data.test_fraction",
        "[0, 1)",
    );
}

/// Fashion-MNIST as Debian installs it (scripts/setup.sh): one short epoch, both scores, and a
/// missing folder named with the package to install.
#[test]
fn fashion_mnist_trains_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fm");
    let table = ok_stdout(&[
        "train",
        "--data",
        "fashion-mnist",
        "--epochs",
        "1",
        "--out",
        p(&out),
        "--quiet",
    ]);
    assert!(
        table.contains("transductive (unlabelled train): 45000 samples"),
        "{table}"
    );
    assert!(table.contains("inductive (test): 10000 samples"), "{table}");
    let report = report_of(&out.join("seed-0"));
    assert_eq!(report["dataset"]["n_train"], 60000);
    assert_eq!(report["dataset"]["n_labelled"], 15000);
    // One epoch already clusters far above chance (10 classes: 0.1).
    assert!(
        report["final_scores"]["all"].as_f64().unwrap() > 0.4,
        "{}",
        report["final_scores"]
    );
    assert_user_error(
        &[
            "train",
            "--data",
            "fashion-mnist",
            "--root",
            p(&dir.path().join("nowhere")),
            "--out",
            p(&dir.path().join("x")),
        ],
        "nowhere",
        "dataset-fashion-mnist",
    );
}

/// The small CNN preset on Fashion-MNIST's first 6,000 images: one epoch learns the old classes
/// and its run directory predicts with the batch norms' saved statistics.
#[test]
fn fashion_mnist_cnn_preset_trains_and_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    ok_stdout(&[
        "train",
        "--preset",
        "fashion-mnist-cnn",
        "--limit",
        "6000",
        "--epochs",
        "1",
        "--out",
        p(&out),
        "--quiet",
    ]);
    let report = report_of(&out.join("seed-0"));
    assert_eq!(report["config"]["model"]["adapter"], "cnn");
    assert_eq!(report["dataset"]["n_train"], 6000);
    // Measured 0.48 transductive (seed 0); chance is 0.1.
    let all = report["final_scores"]["all"].as_f64().unwrap();
    assert!(all > 0.4, "{}", report["final_scores"]);
    // Reloaded from the run directory (weights and the batch norms' running statistics), the
    // CNN scores what the report says, and predicts every training sample.
    let run_dir = out.join("seed-0");
    let eval = run(&["eval", "--run", p(&run_dir)]);
    let said = String::from_utf8_lossy(&eval.stderr);
    assert!(eval.status.success(), "{said}");
    assert_eq!(said.matches("(matches report.json)").count(), 2, "{said}");
    let csv = ok_stdout(&["predict", "--run", p(&run_dir)]);
    assert_eq!(
        csv.lines().count(),
        6000 + 1,
        "header + one row per training sample"
    );
    // Samples that are not 28x28 images: one line naming the run's config, no panic.
    let mut narrow = ssr2_data::digits(0);
    let n = narrow.len();
    narrow.image = ssr2_data::Matrix::new(n, 8, narrow.image.data[..n * 8].to_vec());
    let bundle = dir.path().join("narrow.safetensors");
    std::fs::write(&bundle, ssr2_data::bundle_to_bytes(&narrow).unwrap()).unwrap();
    assert_user_error(
        &["predict", "--run", p(&run_dir), "--features", p(&bundle)],
        "config.toml",
        "8 values",
    );
}

/// `ssr2 kmeans` on the digits: its rows are the GCD accuracy of ssr2-core's k-means on the
/// unlabelled training samples, and of the nearest cluster means on the held-out test split;
/// a bad bundle is one line and no table.
#[test]
fn kmeans_baseline_scores_the_unlabelled_and_test_samples() {
    use ssr2_core::kmeans::{Problem, nearest_mean, ss_kmeans_best};
    use ssr2_core::metrics::cluster_accuracy;
    let table = ok_stdout(&[
        "kmeans",
        "--data",
        "digits",
        "--restarts",
        "2",
        "--seeds",
        "4",
    ]);
    let held = ssr2_data::hold_out(ssr2_data::digits(0), 0.2, 0).unwrap();
    let test = held.test.as_ref().unwrap();
    let fixed = vec![None; held.len()];
    let prob = Problem {
        x: &held.image.data,
        n: held.len(),
        d: 64,
        fixed: &fixed,
    };
    let assign = ss_kmeans_best(&prob, 10, 4, 2);
    let unl = held.unlabelled_indices();
    let pick = |v: &[usize]| -> Vec<usize> { unl.iter().map(|&i| v[i]).collect() };
    let train = cluster_accuracy(&pick(&held.labels), &pick(&assign), 5);
    let induct = cluster_accuracy(
        &test.labels,
        &nearest_mean(&prob, &assign, 10, &test.image.data),
        5,
    );
    let row = |name: &str| -> Vec<String> {
        let line = table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{table}"));
        line.split_whitespace().map(String::from).collect()
    };
    let pct = |v: f64| format!("{:.1}", 100.0 * v);
    assert_eq!(
        row("trans.")[2..6],
        [
            pct(train.all),
            pct(train.old),
            pct(train.new),
            unl.len().to_string()
        ]
    );
    assert_eq!(
        row("induct.")[2..6],
        [
            pct(induct.all),
            pct(induct.old),
            pct(induct.new),
            test.len().to_string()
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"junk").unwrap();
    assert_user_error(
        &["kmeans", "--features", p(&bad)],
        "bad.safetensors",
        "safetensors",
    );
}

/// `--devices cpu,cpu` splits every batch over two copies of the model and trains the
/// one-device run: the same table, and report losses within float rounding.
#[test]
fn train_over_two_cpu_copies_is_the_one_device_run() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    // One batch an epoch, so each epoch's loss is one step's (over many steps training
    // amplifies the float rounding of the gradient sum).
    let common = ["train", "--seeds", "0", "--epochs", "3", "--batch", "1000", "--quiet"];
    let a = ok_stdout(&[&common[..], &["--out", p(&one)]].concat());
    let b = ok_stdout(&[&common[..], &["--devices", "cpu,cpu", "--out", p(&two)]].concat());
    assert_eq!(a, b, "the tables of one device and two copies");
    let (ra, rb) = (report_of(&one.join("seed-0")), report_of(&two.join("seed-0")));
    for e in 0..3 {
        let la = ra["history"][e]["loss"]["total"].as_f64().unwrap();
        let lb = rb["history"][e]["loss"]["total"].as_f64().unwrap();
        assert!(rel(lb, la) < 1e-5, "epoch {e}: loss {la} vs {lb}");
    }
    // A device this build does not know, and --devices with --device, are one-line errors.
    let bad = run(&["train", "--devices", "cpu,tpu", "--out", p(&dir.path().join("x"))]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("tpu") && err.lines().count() == 1, "{err}");
    let both = run(&["train", "--devices", "cpu,cpu", "--device", "cpu"]);
    assert_eq!(both.status.code(), Some(2));
}
