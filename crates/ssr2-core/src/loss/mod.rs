//! Losses: the SSR2 batch loss (SPEC §4), the SimGCD classification block (SPEC §5) and the
//! contrastive baselines of the paper's ablations.

pub mod cluster;
pub mod contrastive;
pub mod ssr2;
