//! CLIP's BPE tokenizer through Hugging Face `tokenizers` (the model folder's `tokenizer.json`):
//! start token, lower-cased byte-level BPE with `</w>` word ends, end token, 77 positions.

use std::path::{Path, PathBuf};

use crate::ClipError;

/// CLIP's context length.
pub const CONTEXT_LENGTH: usize = 77;

/// A padded batch of token ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Tokens {
    /// `[batch, length]`, row-major; padding is 0 (never attended: attention is causal and
    /// pooling happens at the end token).
    pub ids: Vec<i64>,
    /// Padded length: the longest sequence of the batch.
    pub length: usize,
    /// Position of each sequence's end token.
    pub eos: Vec<usize>,
}

impl Tokens {
    pub fn batch(&self) -> usize {
        self.eos.len()
    }

    /// Row `i` up to and including its end token.
    pub fn row(&self, i: usize) -> &[i64] {
        &self.ids[i * self.length..i * self.length + self.eos[i] + 1]
    }

    /// Rows `rows`, in that order, padded to their own longest.
    pub fn select(&self, rows: &[usize]) -> Tokens {
        let length = rows.iter().map(|&i| self.eos[i] + 1).max().unwrap_or(1);
        let mut ids = vec![0i64; rows.len() * length];
        for (k, &i) in rows.iter().enumerate() {
            let row = self.row(i);
            ids[k * length..k * length + row.len()].copy_from_slice(row);
        }
        Tokens {
            ids,
            length,
            eos: rows.iter().map(|&i| self.eos[i]).collect(),
        }
    }

    /// All rows grouped by length, shortest first, each group at least `min_rows` long (but the
    /// last) and never splitting one length. Encoding each group padded to its own longest gives
    /// the same features as padding all to the batch's longest (attention is causal and pooling
    /// happens at the end token) with less work: lexicon texts are 7-38 tokens long.
    pub fn length_groups(&self, min_rows: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.batch()).collect();
        order.sort_by_key(|&i| self.eos[i]);
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match groups.last_mut() {
                Some(g) if g.len() < min_rows || self.eos[g[g.len() - 1]] == self.eos[i] => {
                    g.push(i)
                }
                _ => groups.push(vec![i]),
            }
        }
        groups
    }
}

pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pub start: u32,
    pub end: u32,
}

impl ClipTokenizer {
    /// Loads a `tokenizer.json` (as in every Hugging Face CLIP folder).
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        if !path.exists() {
            return Err(ClipError::Tokenizer {
                path: path.to_path_buf(),
                msg: "file not found (a Hugging Face CLIP folder has tokenizer.json)".into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ClipError::Tokenizer {
            path: path.to_path_buf(),
            msg: format!("not a tokenizer.json ({e})"),
        })?;
        let id = |tok: &str| {
            inner.token_to_id(tok).ok_or_else(|| ClipError::Tokenizer {
                path: path.to_path_buf(),
                msg: format!("vocabulary has no `{tok}` token: not a CLIP tokenizer"),
            })
        };
        Ok(ClipTokenizer {
            start: id("<|startoftext|>")?,
            end: id("<|endoftext|>")?,
            inner,
            path: path.to_path_buf(),
        })
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

/// Pads sequences (each ending with its end token) with zeros to the longest.
pub fn pad(seqs: &[Vec<u32>]) -> Tokens {
    let length = seqs.iter().map(Vec::len).max().unwrap_or(1);
    let mut ids = vec![0i64; seqs.len() * length];
    for (i, s) in seqs.iter().enumerate() {
        for (j, &t) in s.iter().enumerate() {
            ids[i * length + j] = t as i64;
        }
    }
    Tokens {
        ids,
        length,
        eos: seqs.iter().map(|s| s.len() - 1).collect(),
    }
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

    #[test]
    fn length_groups_cover_every_row_once_shortest_first() {
        let seqs: Vec<Vec<u32>> = [3, 5, 3, 9, 5, 4, 3, 12]
            .iter()
            .map(|&n| (0..n as u32).map(|t| t + 1).collect())
            .collect();
        let tokens = pad(&seqs);
        let groups = tokens.length_groups(3);
        assert_eq!(groups, vec![vec![0, 2, 6], vec![5, 1, 4], vec![3, 7]]);
        let sub = tokens.select(&groups[1]);
        assert_eq!(sub.length, 5);
        assert_eq!(sub.eos, vec![3, 4, 4]);
        assert_eq!(sub.row(0), tokens.row(5));
        assert_eq!(sub.ids[4], 0, "padding after a shorter row");
    }

    #[test]
    fn padding_keeps_end_positions() {
        let t = pad(&[vec![5, 1, 9], vec![5, 9]]);
        assert_eq!(t.length, 3);
        assert_eq!(t.ids, vec![5, 1, 9, 5, 9, 0]);
        assert_eq!(t.eos, vec![2, 1]);
        assert_eq!(t.row(1), &[5, 9]);
    }
}
