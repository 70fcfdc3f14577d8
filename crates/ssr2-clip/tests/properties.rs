//! Property tests: malformed checkpoints, tokenizer files and config files give Ok or a
//! `ClipError`, never a panic; any text encodes to 2..=77 ids framed by the special tokens.
//! Case counts are fixed and small so that the release-mode test run stays short
//! (`SSR2_PROPTEST_CASES=20000` searches longer).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use proptest::prelude::*;
use ssr2_clip::{Checkpoint, Clip, ClipConfig, ClipFolder, ClipTokenizer};

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/reference")
        .join(name)
}

/// A reference file's bytes, read once per test process.
fn read(name: &str) -> &'static [u8] {
    static FILES: OnceLock<Vec<(&str, Vec<u8>)>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        [
            "clip-tiny/model.safetensors",
            "clip-tiny/tokenizer.json",
            "clip-tiny/config.json",
            "clip-tiny-slow/vocab.json",
            "clip-tiny-slow/merges.txt",
        ]
        .into_iter()
        .map(|n| (n, std::fs::read(reference(n)).unwrap()))
        .collect()
    });
    &files.iter().find(|(n, _)| *n == name).unwrap().1
}

/// `n` cases, or `SSR2_PROPTEST_CASES` for a longer local search.
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("SSR2_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

fn tiny_config() -> ClipConfig {
    ClipConfig::from_file(&reference("clip-tiny/config.json")).unwrap()
}

/// A per-test scratch folder (tests run in parallel threads).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prop-{test}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a byte-level fuzzer does to a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Flip(Vec<(usize, u8)>),
    /// Overwrite the first 8 bytes (safetensors' header length).
    HeaderLength(u64),
    Splice(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..8).prop_map(Mutation::Flip),
        prop_oneof![
            any::<u64>(),
            Just(u64::MAX),
            Just(u64::MAX - 7),
            Just(100_000_000),
            0u64..4096
        ]
        .prop_map(Mutation::HeaderLength),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(at, b)| Mutation::Splice(at, b)),
    ]
}

/// Most flips land in the first `focus` bytes: the header, where structure lives.
fn apply(bytes: &[u8], m: &Mutation, focus: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let n = out.len().max(1);
    match m {
        Mutation::Truncate(at) => out.truncate(at % n),
        Mutation::Flip(flips) => {
            for (k, (at, b)) in flips.iter().enumerate() {
                let range = if k % 2 == 0 { focus.min(n) } else { n };
                if let Some(x) = out.get_mut(at % range) {
                    *x ^= b | 1;
                }
            }
        }
        Mutation::HeaderLength(len) => {
            if out.len() >= 8 {
                out[..8].copy_from_slice(&len.to_le_bytes());
            }
        }
        Mutation::Splice(at, b) => {
            let at = at % n;
            out.splice(
                at.min(out.len())..(at + b.len()).min(out.len()),
                b.iter().copied(),
            );
        }
    }
    out
}

/// Loads both towers from checkpoint bytes; any outcome but a panic is fine.
fn load_checkpoint(bytes: Vec<u8>) {
    if let Ok(ck) = Checkpoint::from_bytes(Path::new("fuzz.safetensors"), bytes) {
        let _ = ck.names();
        let _ = Clip::load(&ck, &tiny_config(), &Device::flex());
    }
}

/// Length of the safetensors header (JSON), where flips matter most.
fn header_end(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn arbitrary_bytes_as_checkpoint(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load_checkpoint(bytes);
    }

    #[test]
    fn mutated_checkpoint(m in mutation()) {
        let valid = read("clip-tiny/model.safetensors");
        load_checkpoint(apply(valid, &m, header_end(valid)));
    }

    #[test]
    fn arbitrary_bytes_as_checkpoint_file(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let dir = scratch("checkpoint-file");
        std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
        std::fs::copy(reference("clip-tiny/config.json"), dir.join("config.json")).unwrap();
        let folder = ClipFolder::open(&dir).unwrap();
        prop_assert!(folder.load(&Device::flex()).is_err());
    }
}

/// Opens a tokenizer from a folder and, if that works, encodes a few texts.
fn try_tokenizer(dir: &Path) {
    if let Ok(tok) = ClipTokenizer::from_dir(dir) {
        for text in ["a photo of a cat", "", "it's 3.14 é 日本"] {
            if let Ok(ids) = tok.encode(text) {
                assert!((2..=77).contains(&ids.len()));
            }
        }
    }
}

/// A folder holding `files` (name, bytes) and nothing else.
fn folder(test: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = scratch(test);
    for name in ["tokenizer.json", "vocab.json", "merges.txt", "config.json"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Replaces one value of a JSON document, chosen by `pick`, with `value`.
fn replace_one(doc: &mut serde_json::Value, pick: usize, value: serde_json::Value) {
    fn count(v: &serde_json::Value) -> usize {
        1 + match v {
            serde_json::Value::Array(a) => a.iter().map(count).sum(),
            serde_json::Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut serde_json::Value, k: &mut usize, value: &serde_json::Value) -> bool {
        if *k == 0 {
            *v = value.clone();
            return true;
        }
        *k -= 1;
        match v {
            serde_json::Value::Array(a) => a.iter_mut().any(|x| walk(x, k, value)),
            serde_json::Value::Object(o) => o.values_mut().any(|x| walk(x, k, value)),
            _ => false,
        }
    }
    let mut k = pick % count(doc);
    walk(doc, &mut k, &value);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!(["a", "b"])),
    ]
}

/// The tokenizer.json with its large vocab/merges cut down, so that value picks reach the
/// structure (normalizer, pre-tokenizer, special tokens) as often as the vocabulary.
fn small_tokenizer_json() -> serde_json::Value {
    let mut doc: serde_json::Value =
        serde_json::from_slice(read("clip-tiny/tokenizer.json")).unwrap();
    let model = doc["model"].as_object_mut().unwrap();
    let merges: Vec<_> = model["merges"].as_array().unwrap()[..40].to_vec();
    model["merges"] = merges.into();
    doc
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn mutated_tokenizer_json(m in mutation()) {
        let bytes = apply(read("clip-tiny/tokenizer.json"), &m, 4096);
        try_tokenizer(&folder("tokenizer-json", &[("tokenizer.json", &bytes)]));
    }

    #[test]
    fn tokenizer_json_with_one_value_replaced(pick in any::<usize>(), value in json_value()) {
        let mut doc = small_tokenizer_json();
        replace_one(&mut doc, pick, value);
        let bytes = serde_json::to_vec(&doc).unwrap();
        try_tokenizer(&folder("tokenizer-json-value", &[("tokenizer.json", &bytes)]));
    }

    #[test]
    fn arbitrary_tokenizer_files(
        tokenizer in prop::collection::vec(any::<u8>(), 0..256),
        vocab in prop::collection::vec(any::<u8>(), 0..256),
        merges in ".{0,200}",
    ) {
        try_tokenizer(&folder("arbitrary-tok", &[("tokenizer.json", &tokenizer)]));
        try_tokenizer(&folder("arbitrary-vm", &[("vocab.json", &vocab), ("merges.txt", merges.as_bytes())]));
    }

    #[test]
    fn mutated_vocab_and_merges(
        vm in mutation(),
        mm in mutation(),
        extra in prop::collection::vec(("[a-z<>/|]{0,4}", "[a-z<>/|]{0,4}"), 0..6),
    ) {
        let vocab = apply(read("clip-tiny-slow/vocab.json"), &vm, 24_000);
        let mut merges = apply(read("clip-tiny-slow/merges.txt"), &mm, 7_000);
        for (a, b) in extra {
            merges.extend(format!("{a} {b}\n").bytes());
        }
        try_tokenizer(&folder("vocab-merges", &[("vocab.json", &vocab), ("merges.txt", &merges)]));
    }

    #[test]
    fn vocab_with_one_value_replaced(pick in any::<usize>(), value in json_value()) {
        let mut doc: serde_json::Value =
            serde_json::from_slice(read("clip-tiny-slow/vocab.json")).unwrap();
        replace_one(&mut doc, pick, value);
        let vocab = serde_json::to_vec(&doc).unwrap();
        let merges = read("clip-tiny-slow/merges.txt");
        try_tokenizer(&folder("vocab-value", &[("vocab.json", &vocab), ("merges.txt", merges)]));
    }

    #[test]
    fn mutated_config_json(m in mutation(), pick in any::<usize>(), value in json_value()) {
        let bytes = apply(read("clip-tiny/config.json"), &m, 1200);
        let _ = ClipConfig::from_json(&String::from_utf8_lossy(&bytes));
        let mut doc: serde_json::Value =
            serde_json::from_slice(read("clip-tiny/config.json")).unwrap();
        replace_one(&mut doc, pick, value);
        let text = serde_json::to_string(&doc).unwrap();
        let dir = folder("config", &[("config.json", text.as_bytes()), ("tokenizer.json", read("clip-tiny/tokenizer.json"))]);
        if let Ok(folder) = ClipFolder::open(&dir) {
            let _ = folder.config.vision.num_positions();
            if let Ok(tok) = folder.tokenizer() {
                prop_assert!(tok.encode("a photo").is_ok());
            }
        }
    }
}

fn tiny_tokenizer() -> &'static ClipTokenizer {
    static TOK: OnceLock<ClipTokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        ClipFolder::open(&reference("clip-tiny"))
            .unwrap()
            .tokenizer()
            .unwrap()
    })
}

fn slow_tokenizer() -> &'static ClipTokenizer {
    static TOK: OnceLock<ClipTokenizer> = OnceLock::new();
    TOK.get_or_init(|| ClipTokenizer::from_dir(&reference("clip-tiny-slow")).unwrap())
}

fn check_frame(tok: &ClipTokenizer, text: &str) -> Result<Vec<u32>, TestCaseError> {
    let ids = tok
        .encode(text)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!((2..=77).contains(&ids.len()), "{} ids", ids.len());
    prop_assert_eq!(ids[0], tok.start);
    prop_assert_eq!(*ids.last().unwrap(), tok.end);
    Ok(ids)
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn any_text_encodes_to_a_framed_sequence(text in any::<String>()) {
        let fast = check_frame(tiny_tokenizer(), &text)?;
        let slow = check_frame(slow_tokenizer(), &text)?;
        // Both layouts build the same pipeline.
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn long_and_special_texts_are_framed(
        parts in prop::collection::vec(
            prop_oneof![
                Just("<|endoftext|>".to_string()),
                Just("<|startoftext|>".to_string()),
                Just("&amp;".to_string()),
                Just("&#0;".to_string()),
                Just("&#x110000;".to_string()),
                "[ \t\n\r]{1,5}",
                "\\PC{1,30}",
            ],
            0..60,
        )
    ) {
        let text = parts.concat();
        check_frame(tiny_tokenizer(), &text)?;
        check_frame(slow_tokenizer(), &text)?;
    }
}
