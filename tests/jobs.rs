//! The scheduler files users copy (docs/jobs/): the Slurm array job and the Kubernetes Indexed Job
//! for sharded extraction. Each is parsed (the settings the scheduler reads agree: array task
//! count, completions, parallelism, SHARDS) and the commands it contains are run here, with the
//! index variables their schedulers set, on the random tiny CLIP over the exported digits, then
//! merged: both give the bundle of one unsharded `ssr2 extract`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn jobs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/jobs")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `ssr2` first on PATH, as on a cluster node.
fn path_with_ssr2() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_ssr2")).parent().unwrap().to_path_buf();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Environment of a local stand-in for the cluster: the tiny CLIP on the digits, on the CPU.
fn local_env(cmd: &mut Command, digits: &Path, out: &Path) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/clip-tiny");
    cmd.env("PATH", path_with_ssr2())
        .env("MODEL", model)
        .env("DATASET", "imagefolder")
        .env("ROOT", digits)
        .env("OUT", out)
        .env("DEVICE", "cpu")
        .env("EXTRA_ARGS", "--old 5 --batch 300");
}

/// The value of `key: value` on its own line (first occurrence), quotes removed.
fn yaml_value<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no `{key}:` in the job file"))
        .trim()
        .trim_matches('"')
}

#[test]
fn slurm_and_kubernetes_jobs_extract_the_unsharded_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let ssr2 = env!("CARGO_BIN_EXE_ssr2");
    let digits = d("digits");
    ok(Command::new(ssr2).args(["export-digits", "--out", p(&digits)]), "export-digits");
    let once = d("once");
    let mut single = Command::new(ssr2);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/clip-tiny");
    single.args(["extract", "--model", p(&model), "--dataset", "imagefolder", "--root", p(&digits)])
        .args(["--old", "5", "--batch", "300", "--quiet", "--out"])
        .arg(once.with_extension("safetensors"));
    ok(&mut single, "unsharded extract");
    let want = ssr2_data::read_bundle(&once.with_extension("safetensors")).unwrap();

    // Slurm: the array's tasks (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), then the merge.
    let sbatch = std::fs::read_to_string(jobs().join("slurm-extract.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --job-name="), "Slurm directives");
    assert!(sbatch.contains("$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"));
    let slurm_out = d("slurm");
    let shards = 3;
    for i in 0..shards {
        let mut task = Command::new("bash");
        task.arg(jobs().join("slurm-extract.sbatch"))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", shards.to_string());
        local_env(&mut task, &digits, &slurm_out);
        ok(&mut task, &format!("slurm task {i}"));
    }
    let mut merge = Command::new("bash");
    merge.arg(jobs().join("slurm-merge.sbatch")).env("SHARDS", shards.to_string());
    local_env(&mut merge, &digits, &slurm_out);
    ok(&mut merge, "slurm merge");
    let got = ssr2_data::read_bundle(&slurm_out.with_extension("safetensors")).unwrap();
    assert!(got == want, "the Slurm job's merged bundle differs from the unsharded one");

    // Kubernetes: completions = parallelism = SHARDS, Indexed; each pod runs `args` under
    // `command` with JOB_COMPLETION_INDEX set.
    let yaml = std::fs::read_to_string(jobs().join("k8s-extract-job.yaml")).unwrap();
    assert_eq!(yaml_value(&yaml, "kind"), "Job");
    assert_eq!(yaml_value(&yaml, "completionMode"), "Indexed");
    let completions: usize = yaml_value(&yaml, "completions").parse().unwrap();
    assert_eq!(yaml_value(&yaml, "parallelism"), completions.to_string());
    let lines: Vec<&str> = yaml.lines().collect();
    let shards_at = lines.iter().position(|l| l.trim() == "- name: SHARDS").unwrap();
    assert_eq!(yaml_value(lines[shards_at + 1], "value"), completions.to_string());
    assert!(yaml.contains(r#"command: ["/bin/sh", "-c"]"#));
    let args_at = lines.iter().position(|l| l.trim() == "args:").unwrap();
    let script = lines[args_at + 1].trim().strip_prefix("- ").unwrap();
    assert!(script.contains("$JOB_COMPLETION_INDEX/$SHARDS"), "{script}");
    let k8s_out = d("k8s");
    let shards = 2; // fewer pods than the file's 8: the same command, a smaller local run
    for i in 0..shards {
        let mut pod = Command::new("/bin/sh");
        pod.args(["-c", script])
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .env("SHARDS", shards.to_string());
        local_env(&mut pod, &digits, &k8s_out);
        ok(&mut pod, &format!("pod {i}"));
    }
    let mut merge = Command::new(ssr2);
    merge.args(["merge", "--out"]).arg(k8s_out.with_extension("safetensors"));
    for i in 0..shards {
        merge.arg(format!("{}.shard-{i}.safetensors", k8s_out.display()));
    }
    ok(&mut merge, "merge of the pods' shards");
    let got = ssr2_data::read_bundle(&k8s_out.with_extension("safetensors")).unwrap();
    assert!(got == want, "the Kubernetes job's merged bundle differs from the unsharded one");
}
