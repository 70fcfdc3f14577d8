//! CLIP's BPE tokenizer through Hugging Face `tokenizers` (the model folder's `tokenizer.json`,
//! or `vocab.json` + `merges.txt`): start token, lower-cased byte-level BPE with `</w>` word
//! ends, end token, 77 positions.

use std::path::{Path, PathBuf};

use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::normalizers::{Lowercase, NFC, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::ClipError;

pub use crate::tokens::{CONTEXT_LENGTH, Tokens, pad};

/// CLIP's special tokens; the end token is also the unknown token.
pub const START_TOKEN: &str = "<|startoftext|>";
pub const END_TOKEN: &str = "<|endoftext|>";

/// The two tokenizer layouts of a CLIP folder: Hugging Face's `tokenizer.json`, or the
/// `vocab.json` + `merges.txt` pair written by the slow `CLIPTokenizer` and open_clip exports.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
pub const VOCAB_JSON: &str = "vocab.json";
pub const MERGES_TXT: &str = "merges.txt";

/// CLIP's word split (transformers' and OpenAI's pattern): contractions, letter runs, single
/// digits, runs of other non-space characters.
const WORD_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pub start: u32,
    pub end: u32,
}

impl ClipTokenizer {
    /// The tokenizer of a CLIP folder: `tokenizer.json` when there is one, else `vocab.json` +
    /// `merges.txt`.
    pub fn from_dir(dir: &Path) -> Result<Self, ClipError> {
        let json = dir.join(TOKENIZER_JSON);
        if json.is_file() {
            return Self::from_file(&json);
        }
        let (vocab, merges) = (dir.join(VOCAB_JSON), dir.join(MERGES_TXT));
        if vocab.is_file() && merges.is_file() {
            return Self::from_vocab_merges(&vocab, &merges);
        }
        let missing = match (vocab.is_file(), merges.is_file()) {
            (true, false) => "vocab.json is there but merges.txt is not",
            (false, true) => "merges.txt is there but vocab.json is not",
            _ => "no tokenizer files",
        };
        Err(tokenizer_error(
            dir,
            format!(
                "{missing} (expected tokenizer.json, or vocab.json + merges.txt, to encode texts)"
            ),
        ))
    }

    /// Loads a `tokenizer.json` (as in every Hugging Face CLIP folder).
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        if !path.exists() {
            return Err(tokenizer_error(
                path,
                "file not found (a Hugging Face CLIP folder has tokenizer.json)",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ClipError::io(path, e))?;
        let inner = parse_tokenizer_json(&text)
            .map_err(|e| tokenizer_error(path, format!("not a CLIP tokenizer.json ({e})")))?;
        Self::with_special_tokens(inner, path)
    }

    /// Builds CLIP's BPE tokenizer from `vocab.json` (token to id) and `merges.txt` (one merge
    /// per line, by rank), the same pipeline as transformers' `CLIPTokenizer`.
    pub fn from_vocab_merges(vocab_path: &Path, merges_path: &Path) -> Result<Self, ClipError> {
        let vocab = read_vocab(vocab_path)?;
        let merges = read_merges(merges_path)?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .unk_token(END_TOKEN.into())
            .continuing_subword_prefix(String::new())
            .end_of_word_suffix("</w>".into())
            .build()
            .map_err(|e| tokenizer_error(merges_path, format!("does not fit vocab.json ({e})")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_normalizer(Some(clip_normalizer()));
        inner.with_pre_tokenizer(Some(clip_pre_tokenizer()));
        inner.add_special_tokens(&[
            AddedToken::from(START_TOKEN, true),
            AddedToken::from(END_TOKEN, true),
        ]);
        Self::with_special_tokens(inner, vocab_path)
    }

    fn with_special_tokens(inner: tokenizers::Tokenizer, path: &Path) -> Result<Self, ClipError> {
        let id = |tok: &str| {
            inner.token_to_id(tok).ok_or_else(|| {
                tokenizer_error(
                    path,
                    format!("vocabulary has no `{tok}` token: not a CLIP tokenizer"),
                )
            })
        };
        Ok(ClipTokenizer {
            start: id(START_TOKEN)?,
            end: id(END_TOKEN)?,
            inner,
            path: path.to_path_buf(),
        })
    }

    /// The file the vocabulary was read from (`tokenizer.json` or `vocab.json`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that every token id has a row in the text tower's embedding table: a tokenizer
    /// from another model would otherwise index past it.
    pub fn check_vocab_size(&self, vocab_size: usize) -> Result<(), ClipError> {
        let largest = self
            .inner
            .get_vocab(true)
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        match largest {
            Some((token, id)) if id as usize >= vocab_size => Err(tokenizer_error(
                &self.path,
                format!(
                    "token `{token}` has id {id}, but the model's text tower has vocab_size \
                     {vocab_size} (config.json): tokenizer and model do not match"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Start token, BPE tokens, end token; cut to 77 with the end token kept last (as CLIP).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ClipError> {
        let cleaned = clean(text);
        let enc = self
            .inner
            .encode(cleaned.as_str(), false)
            .map_err(|e| ClipError::Tokenizer {
                path: self.path.clone(),
                msg: format!("cannot encode {text:?}: {e}"),
            })?;
        let mut ids = Vec::with_capacity(CONTEXT_LENGTH);
        ids.push(self.start);
        ids.extend(enc.get_ids().iter().take(CONTEXT_LENGTH - 2));
        ids.push(self.end);
        Ok(ids)
    }

    /// Encodes and pads a batch to its longest sequence.
    pub fn batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tokens, ClipError> {
        let seqs = texts
            .iter()
            .map(|t| self.encode(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pad(&seqs))
    }
}

fn tokenizer_error(path: &Path, msg: impl Into<String>) -> ClipError {
    ClipError::Tokenizer {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// A `tokenizer.json` in two steps: JSON first, so that a syntax error is an error (the
/// `tokenizers` crate panics on some inside its parts), then the tokenizer from that value.
fn parse_tokenizer_json(text: &str) -> Result<tokenizers::Tokenizer, String> {
    let mut doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let obj = doc.as_object_mut().ok_or("expected a JSON object")?;
    check_bpe_model(obj.get("model").unwrap_or(&serde_json::Value::Null))?;
    if obj
        .get("normalizer")
        .is_some_and(|n| has_type(n, "Precompiled"))
    {
        // SentencePiece's normalizer is never CLIP's, and a malformed one panics when read.
        return Err("normalizer Precompiled is SentencePiece's, not CLIP's".into());
    }
    // Parts CLIP's `encode` does not use: ids are framed here, never decoded, and padding or
    // truncation in the file would silently change them.
    for field in ["decoder", "post_processor", "truncation", "padding"] {
        obj.insert(field.into(), serde_json::Value::Null);
    }
    serde_json::from_value(doc).map_err(|e| e.to_string())
}

/// The `model` of a CLIP tokenizer.json is a plain BPE: no dropout (random splits) and no
/// continuing-subword prefix (a long one panics inside `tokenizers` when merges are read).
fn check_bpe_model(model: &serde_json::Value) -> Result<(), String> {
    let field = |name: &str| model.get(name).unwrap_or(&serde_json::Value::Null);
    if field("type") != "BPE" {
        return Err(format!("model type is {}, expected \"BPE\"", field("type")));
    }
    if !(field("dropout").is_null() || field("dropout") == 0.0) {
        return Err(format!(
            "model dropout is {}, expected null",
            field("dropout")
        ));
    }
    let prefix = field("continuing_subword_prefix");
    if !(prefix.is_null() || prefix == "") {
        return Err(format!(
            "model continuing_subword_prefix is {prefix}, expected \"\" (CLIP's BPE has none)"
        ));
    }
    Ok(())
}

/// Whether a JSON part, or any part nested in it, has `"type": name`.
fn has_type(v: &serde_json::Value, name: &str) -> bool {
    match v {
        serde_json::Value::Object(o) => {
            o.get("type").is_some_and(|t| t == name) || o.values().any(|x| has_type(x, name))
        }
        serde_json::Value::Array(a) => a.iter().any(|x| has_type(x, name)),
        _ => false,
    }
}

/// `vocab.json`: one JSON object, token to id.
fn read_vocab(path: &Path) -> Result<Vocab, ClipError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClipError::io(path, e))?;
    let map: std::collections::HashMap<String, u32> = serde_json::from_str(&text).map_err(|e| {
        tokenizer_error(
            path,
            format!("not a vocab.json ({e}; expected an object of token to id)"),
        )
    })?;
    Ok(map.into_iter().collect())
}

/// `merges.txt`: an optional `#version` line, then `left right` per line, best rank first.
fn read_merges(path: &Path) -> Result<Merges, ClipError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClipError::io(path, e))?;
    let mut merges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || (i == 0 && line.starts_with("#version")) {
            continue;
        }
        match line.split_once(' ') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                merges.push((a.to_string(), b.to_string()))
            }
            _ => {
                return Err(tokenizer_error(
                    path,
                    format!(
                        "line {}: {line:?}, expected two tokens separated by one space",
                        i + 1
                    ),
                ));
            }
        }
    }
    Ok(merges)
}

/// NFC, whitespace runs to one space, lower case (what CLIP's `whitespace_clean` and `lower`
/// do after ftfy).
fn clip_normalizer() -> NormalizerSequence {
    let spaces = Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
        " ",
    )
    .expect("constant regex compiles");
    NormalizerSequence::new(vec![NFC.into(), spaces.into(), Lowercase.into()])
}

/// CLIP's word split, then bytes mapped to printable characters (no prefix space).
fn clip_pre_tokenizer() -> PreTokenizerSequence {
    let words = Split::new(
        SplitPattern::Regex(WORD_PATTERN.into()),
        SplitDelimiterBehavior::Removed,
        true,
    )
    .expect("constant regex compiles");
    PreTokenizerSequence::new(vec![words.into(), ByteLevel::new(false, true, true).into()])
}

/// CLIP's `basic_clean` minus ftfy: HTML entities unescaped twice, outer whitespace trimmed.
/// (`tokenizer.json` itself applies NFC, whitespace collapsing and lower-casing.)
pub fn clean(text: &str) -> String {
    unescape_html(&unescape_html(text)).trim().to_string()
}

/// The common HTML entities: named `&amp; &lt; &gt; &quot; &apos; &nbsp;` and numeric ones.
fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let decoded = tail.find(';').filter(|&j| j <= 10).and_then(|j| {
            let name = &tail[1..j];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, j + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_entities_are_unescaped_twice_like_clip() {
        assert_eq!(
            clean("  fish &amp;amp; chips &#39;n&#x27; &lt;b&gt; "),
            "fish & chips 'n' <b>"
        );
        assert_eq!(clean("AT&T & co"), "AT&T & co");
    }
}
