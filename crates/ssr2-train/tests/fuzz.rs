//! Property-based fuzzing of what the trainer reads back from disk (TOML configs, checkpoints,
//! saved heads) and of its numeric inputs: a value or a one-line error, never a panic, and
//! never a finished run built on a corrupt checkpoint. Fixed case budgets keep CI fast.

use burn::prelude::*;
use proptest::prelude::*;
use ssr2_head::HeadModel;
use ssr2_train::checkpoint::load_heads;
use ssr2_train::{RunDir, Silent, TrainConfig, train};
use std::path::Path;
use std::sync::OnceLock;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn tiny() -> TrainConfig {
    let mut cfg = TrainConfig::preset("synthetic").unwrap();
    cfg.optim.epochs = 2;
    cfg.optim.warmup_epochs = 0;
    cfg.optim.batch_size = 16;
    cfg.data.synthetic.per_class = 12;
    cfg
}

/// One finished two-epoch run, shared by the checkpoint cases (only read, copied per case).
fn finished_run() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tiny();
        let ds = ssr2_data::generate(&cfg.data.synthetic).unwrap();
        let run = RunDir {
            path: dir.path(),
            resume: false,
        };
        train(&ds, &cfg, 0, &Device::flex(), Some(run), &mut Silent).unwrap();
        dir
    })
    .path()
}

fn copy_run(to: &Path) {
    for entry in std::fs::read_dir(finished_run()).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn resume(dir: &Path) -> Result<ssr2_train::RunReport, String> {
    let cfg = tiny();
    let ds = ssr2_data::generate(&cfg.data.synthetic).unwrap();
    let run = RunDir {
        path: dir,
        resume: true,
    };
    train(&ds, &cfg, 0, &Device::flex(), Some(run), &mut Silent).map_err(|e| e.to_string())
}

fn mutate(bytes: &mut Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) {
    let n = bytes.len();
    for &(at, v) in flips {
        bytes[at % n] = v;
    }
    if let Some(c) = cut {
        bytes.truncate(c % (n + 1));
    }
}

fn weights_file(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("epoch-")
        })
        .unwrap()
}

fn heads_model() -> HeadModel {
    let cfg = tiny();
    let ds = ssr2_data::generate(&cfg.data.synthetic).unwrap();
    ssr2_train::features::heads_for(&cfg.model, &ds, ds.num_classes(), true, &Device::flex())
        .unwrap()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn toml_arbitrary_text(text in any::<String>()) {
        if let Ok(cfg) = TrainConfig::from_toml(&text) {
            let _ = cfg.to_toml();
        }
    }

    #[test]
    fn toml_edited_values(
        line in any::<prop::sample::Index>(),
        value in prop::sample::select(vec![
            "inf", "-inf", "nan", "0", "-1", "1e308", "9223372036854775807",
            "18446744073709551616", "\"x\"", "[]", "[0, 0]", "[-1]", "{}", "true", "0.0",
        ]),
    ) {
        let text = TrainConfig::preset("paper").unwrap().to_toml();
        let lines: Vec<&str> = text.lines().collect();
        let i = line.index(lines.len());
        let edited: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(j, l)| match (j == i, l.split_once(" = ")) {
                (true, Some((k, _))) => format!("{k} = {value}"),
                _ => l.to_string(),
            })
            .collect();
        if let Ok(cfg) = TrainConfig::from_toml(&edited.join("\n")) {
            // Whatever is accepted is in range and writes back out.
            prop_assert!(cfg.validate().is_ok());
            prop_assert!(TrainConfig::from_toml(&cfg.to_toml()).is_ok());
        }
    }

    #[test]
    fn heads_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heads.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        prop_assert!(load_heads(&path, &mut heads_model()).is_err());
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn mutated_heads_load_or_fail_cleanly(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<usize>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heads.safetensors");
        let mut bytes = std::fs::read(finished_run().join("heads.safetensors")).unwrap();
        mutate(&mut bytes, &flips, cut);
        std::fs::write(&path, &bytes).unwrap();
        let _ = load_heads(&path, &mut heads_model());
    }

    #[test]
    fn mutated_checkpoints_resume_exactly_or_fail(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..3),
        in_state in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        copy_run(dir.path());
        let path = if in_state { dir.path().join("state.json") } else { weights_file(dir.path()) };
        let mut bytes = std::fs::read(&path).unwrap();
        mutate(&mut bytes, &flips, None);
        std::fs::write(&path, &bytes).unwrap();
        match resume(dir.path()) {
            Ok(report) => prop_assert_eq!(report.history.len(), tiny().optim.epochs),
            Err(e) => prop_assert!(!e.contains('\n'), "one line: {}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(6))]

    #[test]
    fn extreme_feature_scales_train_or_fail_cleanly(
        scale in prop::sample::select(vec![0.0f32, 1e-30, 1e10, 1e15, 3e15]),
        lr in prop::sample::select(vec![0.1f64, 1e30]),
    ) {
        let mut cfg = tiny();
        cfg.optim.epochs = 1;
        cfg.optim.lr_head = lr;
        let mut ds = ssr2_data::generate(&cfg.data.synthetic).unwrap();
        ds.image.data.iter_mut().for_each(|v| *v *= scale);
        let _ = train(&ds, &cfg, 0, &Device::flex(), None, &mut Silent);
    }
}

/// Regressions from the audit (each gave a panic or a silent wrong result).
#[test]
fn audit_regressions() {
    // A state.json whose epoch is beyond the configuration's.
    let dir = tempfile::tempdir().unwrap();
    copy_run(dir.path());
    let state = dir.path().join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["epoch"] = serde_json::json!(7);
    std::fs::write(&state, v.to_string()).unwrap();
    let e = resume(dir.path()).unwrap_err();
    assert!(e.contains("state.json does not match its checksum"), "{e}");
    // Without a checksum (as written before checksums existed) the epoch itself is checked.
    v["checksum"] = serde_json::json!("");
    std::fs::write(&state, v.to_string()).unwrap();
    let e = resume(dir.path()).unwrap_err();
    assert!(e.contains("beyond the configuration's 2 epochs"), "{e}");

    // Resuming on other data (one feature value changed) is refused.
    let dir = tempfile::tempdir().unwrap();
    copy_run(dir.path());
    let cfg = tiny();
    let mut other = ssr2_data::generate(&cfg.data.synthetic).unwrap();
    other.image.data[0] += 0.5;
    let run = RunDir {
        path: dir.path(),
        resume: true,
    };
    let e = train(&other, &cfg, 0, &Device::flex(), Some(run), &mut Silent).unwrap_err();
    // A file of the run (its checkpoint) that is not this run's, named by its folder.
    assert!(
        matches!(&e, ssr2_train::TrainError::File { path, .. } if path == dir.path()),
        "{e:?}"
    );
    assert!(e.to_string().contains("trained on other data"), "{e}");

    // Weights corrupted in place (same size) are refused, not used.
    let dir = tempfile::tempdir().unwrap();
    copy_run(dir.path());
    let w = weights_file(dir.path());
    let mut bytes = std::fs::read(&w).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&w, &bytes).unwrap();
    let e = resume(dir.path()).unwrap_err();
    assert!(e.contains("checksum"), "{e}");

    // NaN weights in heads.safetensors.
    let path = finished_run().join("heads.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (name, view) = st
        .tensors()
        .into_iter()
        .find(|(_, v)| v.dtype() == safetensors::Dtype::F32)
        .unwrap();
    let mut data = view.data().to_vec();
    data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != &name)
        .collect();
    tensors.push((
        name.clone(),
        safetensors::tensor::TensorView::new(view.dtype(), view.shape().to_vec(), &data).unwrap(),
    ));
    let out = safetensors::serialize(tensors, None).unwrap();
    let nan_path = dir.path().join("nan-heads.safetensors");
    std::fs::write(&nan_path, out).unwrap();
    let e = load_heads(&nan_path, &mut heads_model()).unwrap_err();
    assert!(matches!(e, ssr2_train::TrainError::Weights(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains(&name) && e.contains("NaN"), "{e}");

    // Settings no run can mean.
    let mut cfg = tiny();
    cfg.optim.lr_head = f64::INFINITY;
    assert!(cfg.validate().unwrap_err().contains("optim.lr_head"));
    let mut cfg = tiny();
    cfg.optim.epochs = 1_000_000_000;
    assert!(cfg.validate().unwrap_err().contains("optim.epochs"));
    let mut cfg = tiny();
    cfg.seeds = vec![1, 2, 1];
    assert!(cfg.validate().unwrap_err().contains("listed twice"));
    let mut cfg = tiny();
    cfg.finetune.synthetic = Some("tiny".into());
    cfg.model.num_classes = ssr2_train::config::NumClasses::Auto;
    assert!(
        cfg.validate()
            .unwrap_err()
            .contains("works in features mode")
    );
    let e = TrainConfig::from_toml("[optim]\nlr_head = inf\n").unwrap_err();
    assert!(e.contains("optim.lr_head") && e.contains("finite"), "{e}");
}
