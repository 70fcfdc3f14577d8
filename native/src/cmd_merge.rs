//! `ssr2 merge`: shard bundles of one extraction joined into one bundle.

use crate::fail::{Fail, Result};
use clap::Args;
use std::path::PathBuf;

/// Join feature bundles written by `ssr2 extract --shard I/N` (given in shard order 0..N-1)
/// into one bundle, exactly the one an unsharded extract writes: the training samples of every
/// shard in order, then their test samples. The shards must come from one dataset (same
/// classes and features); a sample id seen twice is an error.
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
    let parts = args
        .shards
        .iter()
        .map(|p| ssr2_data::read_bundle(p).map_err(|e| Fail(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let all = ssr2_data::concat(parts).map_err(|e| {
        Fail(format!(
            "{}: {e} (parts numbered in the order given)",
            args.shards[0].display()
        ))
    })?;
    ssr2_data::write_bundle(&args.out, &all).map_err(|e| Fail(e.to_string()))?;
    eprintln!(
        "wrote {}: {} training and {} test samples from {} shards",
        args.out.display(),
        all.len(),
        all.test.as_ref().map_or(0, |t| t.len()),
        args.shards.len()
    );
    Ok(())
}
