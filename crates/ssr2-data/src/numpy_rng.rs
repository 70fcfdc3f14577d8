//! numpy's legacy `RandomState` (MT19937), as far as the GCD split needs it: seeding,
//! `permutation` and `choice(n, size, replace=False)`. The reference draws its labelled subset
//! with `np.random.seed(0); np.random.choice(...)`; reproducing the stream bit for bit gives the
//! very same labelled images (tested against numpy's output in
//! `tests/reference/numpy_split/legacy_random_state.json`).

/// State size of MT19937 (Matsumoto & Nishimura 1998).
const N: usize = 624;
/// Middle word offset of the twist.
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The Mersenne Twister with numpy's legacy seeding.
#[derive(Clone)]
pub struct LegacyRandomState {
    key: [u32; N],
    pos: usize,
}

impl LegacyRandomState {
    /// `np.random.seed(seed)` for an integer seed: MT19937's `init_genrand` (numpy's
    /// `mt19937_seed`; integers must fit 32 bits there, as here).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        key[0] = seed;
        for i in 1..N {
            // Knuth's multiplier, as init_genrand of mt19937ar.c.
            key[i] = 1_812_433_253u32
                .wrapping_mul(key[i - 1] ^ (key[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        LegacyRandomState { key, pos: N }
    }

    /// `np.random.seed(array_of_uint32)`: MT19937's `init_by_array` (numpy's
    /// `mt19937_init_by_array`).
    pub fn from_array(init: &[u32]) -> Self {
        let mut s = Self::new(19_650_218);
        let len = init.len().max(1);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(len) {
            let prev = s.key[i - 1] ^ (s.key[i - 1] >> 30);
            let word = init.get(j).copied().unwrap_or(0);
            s.key[i] = (s.key[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(word)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                s.key[0] = s.key[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = s.key[i - 1] ^ (s.key[i - 1] >> 30);
            s.key[i] = (s.key[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                s.key[0] = s.key[N - 1];
                i = 1;
            }
        }
        // The most significant bit is 1: a non-zero initial state.
        s.key[0] = 0x8000_0000;
        s.pos = N;
        s
    }

    /// The 624 state words and the position, as `RandomState.get_state()` shows them.
    pub fn state(&self) -> (&[u32], usize) {
        (&self.key, self.pos)
    }

    /// Regenerates the whole state block (the MT19937 twist).
    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.key[i] & UPPER_MASK) | (self.key[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// One tempered 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Two outputs, high word first (numpy's `mt19937_next64`).
    fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        (hi << 32) | u64::from(self.next_u32())
    }

    /// A uniform integer in `0..=max` by masked rejection (numpy's legacy `random_interval`,
    /// used by the legacy `shuffle`).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        // Smallest all-ones mask covering max.
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(n)`: `arange(n)` shuffled by the legacy Fisher-Yates (from the end, each
    /// position swapped with `interval(i)`).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u64) as usize;
            v.swap(i, j);
        }
        v
    }

    /// `choice(n, size, replace=False)` without probabilities: legacy numpy takes the first
    /// `size` entries of `permutation(n)`.
    ///
    /// # Panics
    /// If `size > n` (numpy raises there too).
    pub fn choice_without_replacement(&mut self, n: usize, size: usize) -> Vec<usize> {
        assert!(size <= n, "cannot take {size} of {n} without replacement");
        let mut p = self.permutation(n);
        p.truncate(size);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mt19937ar.c's published check: `init_by_array({0x123, 0x234, 0x345, 0x456})` starts
    /// with 1067595299 955945823 477289528 (mt19937ar.out).
    #[test]
    fn matches_the_reference_implementation_output() {
        let mut s = LegacyRandomState::from_array(&[0x123, 0x234, 0x345, 0x456]);
        let got: Vec<u32> = (0..5).map(|_| s.next_u32()).collect();
        assert_eq!(
            got,
            [1067595299, 955945823, 477289528, 4107218783, 4228976476]
        );
    }

    #[test]
    fn interval_stays_in_range_and_permutations_are_permutations() {
        let mut s = LegacyRandomState::new(3);
        for max in [0u64, 1, 2, 5, 1 << 33] {
            for _ in 0..50 {
                assert!(s.interval(max) <= max);
            }
        }
        let mut p = s.permutation(50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }
}
