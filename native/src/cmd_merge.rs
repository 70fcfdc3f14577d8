//! `ssr2 merge`: shard bundles of one extraction joined into one bundle.

use crate::fail::{Fail, Result};
use clap::Args;
use std::path::PathBuf;

/// Join feature bundles written by `ssr2 extract --shard I/N` (given in shard order 0..N-1)
/// into one bundle, exactly the one an unsharded extract writes: the training samples of every
/// shard in order, then their test samples. Each shard records which part of which extraction
/// it holds; a missing, repeated or out-of-order shard, or one of another extraction (CLIP,
/// dataset, images, split seed or batch), is refused with the shard named.
#[derive(Args)]
pub struct MergeArgs {
    /// Output bundle (written atomically).
    #[arg(long, value_name = "BUNDLE")]
    out: PathBuf,
    /// The shard bundles, in shard order.
    #[arg(required = true, num_args = 1.., value_name = "SHARD")]
    shards: Vec<PathBuf>,
}

pub fn run(args: &MergeArgs) -> Result<()> {
    let mut records = Vec::with_capacity(args.shards.len());
    let mut parts = Vec::with_capacity(args.shards.len());
    let mut clip = None;
    for path in &args.shards {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Fail::input(path, e))?;
        let meta = ssr2_data::bundle_metadata(&bytes, &origin).map_err(|e| Fail(e.to_string()))?;
        let record =
            ssr2_data::ShardRecord::from_metadata(&meta, &origin).map_err(|e| Fail(e.to_string()))?;
        records.push((origin.clone(), record));
        // One extraction (checked below), so one CLIP: the first shard's record is carried over.
        clip = clip.or_else(|| meta.get(ssr2_data::CLIP_KEY).cloned());
        parts.push(bytes);
    }
    // Which shards, from which extraction, in which order: checked before any join.
    ssr2_data::check_shards(&records).map_err(|e| Fail(e.to_string()))?;
    let parts = parts
        .iter()
        .zip(&records)
        .map(|(bytes, (origin, _))| {
            ssr2_data::bundle_from_bytes(bytes, origin).map_err(|e| Fail(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let all = ssr2_data::concat(parts).map_err(|e| {
        Fail(format!(
            "{}: {e} (parts numbered in the order given)",
            args.shards[0].display()
        ))
    })?;
    let extra: Vec<(&str, String)> = clip.map(|c| (ssr2_data::CLIP_KEY, c)).into_iter().collect();
    ssr2_data::write_bundle_with(&args.out, &all, &extra).map_err(|e| Fail(e.to_string()))?;
    eprintln!(
        "wrote {}: {} training and {} test samples from {} shards",
        args.out.display(),
        all.len(),
        all.test.as_ref().map_or(0, |t| t.len()),
        args.shards.len()
    );
    Ok(())
}
