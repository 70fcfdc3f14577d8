//! Seeds of the augmented image views. Fresh views draw a new crop/flip at every draw of a
//! sample (the reference's dataset transform runs at each `__getitem__`, so a labelled image
//! drawn twice in an epoch by the sampler with replacement gets different views); with
//! `views = V` pre-drawn views, each draw picks one of `V` fixed draws per image, so their
//! frozen-prefix outputs can be cached.

use crate::rng::Rng;

/// The seed of view `slot` (0 or 1) of the sample at position `draw` of `epoch`'s sampled
/// sequence (batch index * B + row), and the pre-drawn index used (if any).
pub fn view_seed(
    seed: u64,
    epoch: usize,
    draw: usize,
    sample: usize,
    slot: usize,
    views: usize,
) -> (u64, Option<usize>) {
    let stream = 16 + 2 * draw as u64 + slot as u64;
    if views == 0 {
        return (Rng::derive(seed, epoch as u64, stream).next_u64(), None);
    }
    let k = Rng::derive(seed ^ 0xA5A5, epoch as u64, stream).below(views);
    (pool_seed(seed, sample, k), Some(k))
}

/// The seed of pre-drawn view `k` of `sample` (independent of the epoch).
pub fn pool_seed(seed: u64, sample: usize, k: usize) -> u64 {
    Rng::derive(seed ^ 0x5EED_F00D, sample as u64, k as u64).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_views_change_per_epoch_slot_and_draw_and_pre_drawn_ones_repeat() {
        assert_ne!(view_seed(1, 0, 5, 5, 0, 0).0, view_seed(1, 1, 5, 5, 0, 0).0);
        assert_ne!(view_seed(1, 0, 5, 5, 0, 0).0, view_seed(1, 0, 5, 5, 1, 0).0);
        // The same sample drawn twice in one epoch (positions 5 and 9): new crops each time.
        assert_ne!(view_seed(1, 0, 5, 5, 0, 0).0, view_seed(1, 0, 9, 5, 0, 0).0);
        // One pre-drawn view: every epoch, draw and slot use the same draw.
        let a = view_seed(1, 0, 5, 5, 0, 1);
        assert_eq!(a, view_seed(1, 7, 2, 5, 1, 1));
        assert_eq!(a, (pool_seed(1, 5, 0), Some(0)));
        // Several: only pool members are used.
        for e in 0..20 {
            let (s, k) = view_seed(1, e, e + 3, 3, 0, 4);
            assert_eq!(s, pool_seed(1, 3, k.unwrap()));
        }
    }
}
