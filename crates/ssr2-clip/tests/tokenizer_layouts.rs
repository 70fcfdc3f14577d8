//! Both tokenizer layouts of a CLIP folder give transformers' slow `CLIPTokenizer` ids
//! (tests/reference/clip-tiny-slow, written by tests/reference/make_clip_slow_tokenizer.py), and
//! bad or mismatched tokenizer files fail with one line naming the file.

use std::path::{Path, PathBuf};

use ssr2_clip::{ClipFolder, ClipTokenizer};

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/reference")
        .join(name)
}

/// A fresh empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tokenizer-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `files` of the reference folder `from` copied into a fresh folder.
fn folder_with(name: &str, from: &str, files: &[&str]) -> PathBuf {
    let dir = scratch(name);
    for f in files {
        std::fs::copy(reference(from).join(f), dir.join(f)).unwrap();
    }
    dir
}

/// (texts, ids) recorded from the slow tokenizer.
fn slow_reference() -> Vec<(String, Vec<u32>)> {
    let text = std::fs::read_to_string(reference("clip-tiny-slow/slow_ids.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let texts = json["texts"].as_array().unwrap();
    let ids = json["ids"].as_array().unwrap();
    assert_eq!(texts.len(), ids.len());
    texts
        .iter()
        .zip(ids)
        .map(|(t, row)| {
            let row = row.as_array().unwrap();
            let row = row.iter().map(|v| v.as_u64().unwrap() as u32).collect();
            (t.as_str().unwrap().to_string(), row)
        })
        .collect()
}

fn assert_matches_slow(tok: &ClipTokenizer, layout: &str) {
    let cases = slow_reference();
    assert!(
        cases.iter().any(|(_, ids)| ids.len() == 77),
        "a text is cut to 77"
    );
    assert!(
        cases.iter().any(|(t, _)| t.is_empty()),
        "the empty text is covered"
    );
    for (text, ids) in cases {
        assert_eq!(tok.encode(&text).unwrap(), ids, "{layout}: {text:?}");
    }
}

#[test]
fn vocab_and_merges_give_the_slow_tokenizers_ids() {
    let dir = reference("clip-tiny-slow");
    let tok =
        ClipTokenizer::from_vocab_merges(&dir.join("vocab.json"), &dir.join("merges.txt")).unwrap();
    assert_matches_slow(&tok, "vocab.json + merges.txt");
    assert_matches_slow(&ClipTokenizer::from_dir(&dir).unwrap(), "from_dir");
}

#[test]
fn tokenizer_json_gives_the_slow_tokenizers_ids() {
    let tok = ClipTokenizer::from_file(&reference("clip-tiny/tokenizer.json")).unwrap();
    assert_matches_slow(&tok, "tokenizer.json");
}

#[test]
fn folder_falls_back_to_vocab_and_merges() {
    let dir = folder_with("fallback", "clip-tiny", &["config.json"]);
    for f in ["vocab.json", "merges.txt"] {
        std::fs::copy(reference("clip-tiny-slow").join(f), dir.join(f)).unwrap();
    }
    let tok = ClipFolder::open(&dir).unwrap().tokenizer().unwrap();
    assert_eq!(tok.path(), dir.join("vocab.json"));
    assert_matches_slow(&tok, "folder with vocab.json + merges.txt");
}

fn tokenizer_error(dir: &Path) -> String {
    let err = ClipFolder::open(dir)
        .unwrap()
        .tokenizer()
        .err()
        .expect("an error");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn missing_tokenizer_names_the_folder_and_both_layouts() {
    let dir = folder_with("missing", "clip-tiny", &["config.json"]);
    let msg = tokenizer_error(&dir);
    assert!(msg.starts_with(&dir.display().to_string()), "{msg}");
    assert!(
        msg.contains("tokenizer.json") && msg.contains("vocab.json + merges.txt"),
        "{msg}"
    );
    std::fs::copy(
        reference("clip-tiny-slow/vocab.json"),
        dir.join("vocab.json"),
    )
    .unwrap();
    let msg = tokenizer_error(&dir);
    assert!(msg.contains("merges.txt is not"), "{msg}");
}

#[test]
fn bad_merges_line_is_named() {
    let dir = folder_with("bad-merges", "clip-tiny-slow", &["vocab.json"]);
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\ni n\nt h e\n").unwrap();
    let err = ClipTokenizer::from_dir(&dir)
        .err()
        .expect("an error")
        .to_string();
    assert!(
        err.contains("merges.txt") && err.contains("line 3"),
        "{err}"
    );
    // A merge whose parts are not in the vocabulary.
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\nqq zz\n").unwrap();
    let err = ClipTokenizer::from_dir(&dir)
        .err()
        .expect("an error")
        .to_string();
    assert!(err.contains("merges.txt") && err.contains("qq"), "{err}");
}

#[test]
fn bad_vocab_json_is_named() {
    let dir = folder_with("bad-vocab", "clip-tiny-slow", &["merges.txt"]);
    std::fs::write(dir.join("vocab.json"), r#"{"a": -1}"#).unwrap();
    let err = ClipTokenizer::from_dir(&dir)
        .err()
        .expect("an error")
        .to_string();
    assert!(
        err.contains("vocab.json") && err.contains("token to id"),
        "{err}"
    );
}

/// Regression: a token id past the text tower's embedding table panicked (index out of bounds)
/// in the embedding lookup; now pairing the tokenizer with the model refuses it.
#[test]
fn token_ids_beyond_the_models_vocabulary_are_refused() {
    let dir = folder_with("big-id", "clip-tiny", &["config.json"]);
    let text = std::fs::read_to_string(reference("clip-tiny-slow/vocab.json")).unwrap();
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap();
    vocab.insert("zebra</w>".into(), 5000.into());
    std::fs::write(
        dir.join("vocab.json"),
        serde_json::to_string(&vocab).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        reference("clip-tiny-slow/merges.txt"),
        dir.join("merges.txt"),
    )
    .unwrap();
    let msg = tokenizer_error(&dir);
    assert!(
        msg.contains(&dir.join("vocab.json").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("`zebra</w>`") && msg.contains("5000") && msg.contains("vocab_size 1514"),
        "{msg}"
    );
    // Same for tokenizer.json against a config with a smaller table.
    let dir = folder_with("small-table", "clip-tiny", &["tokenizer.json"]);
    let config = std::fs::read_to_string(reference("clip-tiny/config.json")).unwrap();
    let config = config.replace("\"vocab_size\": 1514", "\"vocab_size\": 1000");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let msg = tokenizer_error(&dir);
    assert!(
        msg.contains("tokenizer.json") && msg.contains("vocab_size 1000"),
        "{msg}"
    );
}

#[test]
fn position_table_shorter_than_77_is_refused() {
    let dir = folder_with("short-positions", "clip-tiny", &["tokenizer.json"]);
    let config = std::fs::read_to_string(reference("clip-tiny/config.json")).unwrap();
    let config = config.replace(
        "\"max_position_embeddings\": 77",
        "\"max_position_embeddings\": 16",
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
    let msg = tokenizer_error(&dir);
    assert!(msg.contains("max_position_embeddings is 16"), "{msg}");
}

/// `dir/tokenizer.json`: the tiny one with `from` replaced by `to` (once).
fn edited_tokenizer_json(test: &str, from: &str, to: &str) -> PathBuf {
    let dir = scratch(test);
    let text = std::fs::read_to_string(reference("clip-tiny/tokenizer.json")).unwrap();
    assert!(text.contains(from));
    std::fs::write(dir.join("tokenizer.json"), text.replacen(from, to, 1)).unwrap();
    dir
}

fn from_dir_error(dir: &Path) -> String {
    let msg = ClipTokenizer::from_dir(dir)
        .err()
        .expect("an error")
        .to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(msg.contains("tokenizer.json"), "{msg}");
    msg
}

/// Regression (found by tests/properties.rs): one flipped byte inside `decoder` panicked in
/// the `tokenizers` crate ("Helper") instead of failing to parse.
#[test]
fn syntax_error_inside_decoder_is_an_error() {
    let dir = edited_tokenizer_json("decoder-syntax", "\"decoder\": {", "\"decoder\": {!");
    let msg = from_dir_error(&dir);
    assert!(msg.contains("not a CLIP tokenizer.json"), "{msg}");
}

/// A malformed SentencePiece normalizer panics inside the `tokenizers` crate; CLIP never has one.
#[test]
fn precompiled_normalizer_is_refused() {
    let dir = edited_tokenizer_json(
        "precompiled",
        "\"type\": \"NFC\"",
        "\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAA\"",
    );
    let msg = from_dir_error(&dir);
    assert!(msg.contains("Precompiled"), "{msg}");
}

/// Padding in the file would put pad ids before the end token; it is ignored.
#[test]
fn padding_and_truncation_in_the_file_are_ignored() {
    let dir = edited_tokenizer_json(
        "padding",
        "\"padding\": null",
        "\"padding\": {\"strategy\": {\"Fixed\": 77}, \"direction\": \"Right\", \
         \"pad_to_multiple_of\": null, \"pad_id\": 1513, \"pad_type_id\": 0, \
         \"pad_token\": \"<|endoftext|>\"}",
    );
    let tok = ClipTokenizer::from_dir(&dir).unwrap();
    let plain = ClipTokenizer::from_file(&reference("clip-tiny/tokenizer.json")).unwrap();
    assert_eq!(
        tok.encode("a photo of a cat").unwrap(),
        plain.encode("a photo of a cat").unwrap()
    );
}

/// Regression (found by tests/properties.rs): a continuing-subword prefix longer than a
/// merge's second part panicked inside the `tokenizers` crate while building the merges.
#[test]
fn continuing_subword_prefix_is_refused() {
    let dir = edited_tokenizer_json(
        "subword-prefix",
        "\"continuing_subword_prefix\": \"\"",
        "\"continuing_subword_prefix\": \"¡\"",
    );
    let msg = from_dir_error(&dir);
    assert!(msg.contains("continuing_subword_prefix"), "{msg}");
}

/// BPE dropout would make the ids random from run to run.
#[test]
fn bpe_dropout_is_refused() {
    let dir = edited_tokenizer_json("dropout", "\"dropout\": null", "\"dropout\": 0.5");
    let msg = from_dir_error(&dir);
    assert!(msg.contains("dropout"), "{msg}");
}
