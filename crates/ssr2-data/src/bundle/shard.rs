//! The record `ssr2 extract --shard I/N` writes into its bundle (`__metadata__` key `shard`), and
//! the checks `ssr2 merge` runs on a list of shard bundles before joining them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::DataError;

/// The metadata key holding the record (JSON).
pub const SHARD_KEY: &str = "shard";

/// Which part of which extraction a shard bundle holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// `I` of `--shard I/N`.
    pub index: usize,
    /// `N` of `--shard I/N`.
    pub count: usize,
    /// The rows `[start, end)` of the whole extraction (training images, then test images).
    pub rows: [usize; 2],
    /// Rows of the whole extraction.
    pub total_rows: usize,
    /// SHA-256 of everything that decides the rows' values: the CLIP weights, the dataset name,
    /// the sample list (ids, labels, labelled flags of the training and test images), the split
    /// seed and the batch size. Equal on every shard of one extraction.
    pub extraction: String,
}

impl ShardRecord {
    pub fn to_metadata(&self) -> (&'static str, String) {
        (SHARD_KEY, serde_json::to_string(self).expect("a shard record serialises"))
    }

    /// The record of a bundle's metadata; `None` when it has none (not written by `--shard`).
    pub fn from_metadata(
        meta: &BTreeMap<String, String>,
        origin: &str,
    ) -> Result<Option<Self>, DataError> {
        let Some(text) = meta.get(SHARD_KEY) else {
            return Ok(None);
        };
        let bad = |why: String| DataError::format(origin, format!("metadata `{SHARD_KEY}`: {why}"));
        let r: ShardRecord = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let [start, end] = r.rows;
        if r.count == 0 || r.index >= r.count || start > end || end > r.total_rows {
            return Err(bad(format!(
                "shard {}/{} with rows {start}..{end} of {} is not a possible shard",
                r.index, r.count, r.total_rows
            )));
        }
        Ok(Some(r))
    }
}

/// The shards, as given to `merge`, are one whole extraction: every one a shard bundle of the
/// same extraction, shards `0..N` each exactly once and in order, their rows back to back.
/// `shards[k]` is the k-th file's name and record.
pub fn check_shards(shards: &[(String, Option<ShardRecord>)]) -> Result<(), DataError> {
    let invalid = |m: String| DataError::invalid("shards", m);
    let mut records = Vec::with_capacity(shards.len());
    for (name, r) in shards {
        match r {
            Some(r) => records.push((name, r)),
            None => {
                return Err(invalid(format!(
                    "{name} is not a shard bundle (no `{SHARD_KEY}` record): merge joins the \
                     bundles of `ssr2 extract --shard I/N`"
                )));
            }
        }
    }
    let Some(&(first_name, first)) = records.first() else {
        return Err(invalid("none given".into()));
    };
    for &(name, r) in &records[1..] {
        if r.extraction != first.extraction || r.count != first.count || r.total_rows != first.total_rows {
            return Err(invalid(format!(
                "{name} (shard {}/{}) comes from another extraction than {first_name} (shard \
                 {}/{}): the CLIP, dataset, images, split seed or batch differ",
                r.index, r.count, first.index, first.count
            )));
        }
    }
    let n = first.count;
    let mut seen: Vec<Option<&String>> = vec![None; n];
    for &(name, r) in &records {
        if let Some(other) = seen[r.index] {
            return Err(invalid(format!("shard {}/{n} is given twice: {other} and {name}", r.index)));
        }
        seen[r.index] = Some(name);
    }
    let missing: Vec<String> = (0..n).filter(|&i| seen[i].is_none()).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "shard{} {} of {n} missing (given {} of {n})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            records.len()
        )));
    }
    let mut next_row = 0;
    for (k, &(name, r)) in records.iter().enumerate() {
        if r.index != k {
            return Err(invalid(format!(
                "{name} is shard {}/{n} but is given at position {k}: give the shards in order 0..{}",
                r.index,
                n - 1
            )));
        }
        if r.rows[0] != next_row {
            return Err(invalid(format!(
                "{name} holds rows {}..{}, expected rows from {next_row}",
                r.rows[0], r.rows[1]
            )));
        }
        next_row = r.rows[1];
    }
    if next_row != first.total_rows {
        return Err(invalid(format!(
            "the shards hold rows 0..{next_row} of {}",
            first.total_rows
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: usize, count: usize, rows: [usize; 2]) -> ShardRecord {
        ShardRecord { index, count, rows, total_rows: 10, extraction: "e".into() }
    }

    fn named(rs: &[ShardRecord]) -> Vec<(String, Option<ShardRecord>)> {
        rs.iter().map(|r| (format!("s{}", r.index), Some(r.clone()))).collect()
    }

    fn refused(shards: &[(String, Option<ShardRecord>)], says: &str) {
        let e = check_shards(shards).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }

    #[test]
    fn whole_extraction_in_order_passes_and_every_fault_is_named() {
        let all = [rec(0, 3, [0, 4]), rec(1, 3, [4, 8]), rec(2, 3, [8, 10])];
        check_shards(&named(&all)).unwrap();
        // An empty last shard is a shard.
        check_shards(&named(&[rec(0, 2, [0, 10]), rec(1, 2, [10, 10])])).unwrap();
        refused(&named(&[all[0].clone(), all[2].clone()]), "shard 1 of 3 missing");
        refused(&named(&[all[0].clone(), all[1].clone(), all[1].clone()]), "given twice");
        refused(&named(&[all[1].clone(), all[0].clone(), all[2].clone()]), "position 0");
        let mut other = all[2].clone();
        other.extraction = "f".into();
        refused(&named(&[all[0].clone(), all[1].clone(), other]), "another extraction");
        let mut plain = named(&all);
        plain[1].1 = None;
        refused(&plain, "s1 is not a shard bundle");
        let gap = [rec(0, 2, [0, 4]), rec(1, 2, [5, 10])];
        refused(&named(&gap), "expected rows from 4");
    }

    #[test]
    fn records_round_trip_and_impossible_ones_are_refused() {
        let r = rec(1, 3, [4, 8]);
        let (k, v) = r.to_metadata();
        let meta: BTreeMap<String, String> = [(k.to_string(), v)].into();
        assert_eq!(ShardRecord::from_metadata(&meta, "x").unwrap(), Some(r));
        assert_eq!(ShardRecord::from_metadata(&BTreeMap::new(), "x").unwrap(), None);
        for bad in [rec(3, 3, [0, 1]), rec(0, 0, [0, 1]), rec(0, 1, [5, 4]), rec(0, 1, [0, 11])] {
            let (k, v) = bad.to_metadata();
            let meta: BTreeMap<String, String> = [(k.to_string(), v)].into();
            assert!(ShardRecord::from_metadata(&meta, "x").is_err(), "{bad:?}");
        }
    }
}
