//! Padded batches of token ids (no tokenizer needed: the text tower reads these).

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
        eos: seqs.iter().map(|s| s.len().saturating_sub(1)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
