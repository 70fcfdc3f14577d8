//! Text augmentation by typos (SPEC §7): each whitespace word of length >= 3 is altered with
//! probability `p` by one of replace / delete / insert at an inner index in `[1, len - 2]`.

use crate::rng::Rng;

/// A random lower-case letter a-z.
fn letter(rng: &mut Rng) -> char {
    (b'a' + rng.below(26) as u8) as char
}

/// One typo-augmented copy of `text`; words are re-joined by single spaces (as `" ".join(split())`).
pub fn typo(text: &str, p: f64, rng: &mut Rng) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            let mut chars: Vec<char> = w.chars().collect();
            let n = chars.len();
            // SPEC §7: only words of length >= 3, altered with probability p.
            if n < 3 || rng.uniform() >= p {
                return w.to_string();
            }
            let op = rng.below(3);
            let i = 1 + rng.below(n - 2); // inner index in [1, len - 2]
            match op {
                0 => chars[i] = letter(rng),
                1 => {
                    chars.remove(i);
                }
                _ => chars.insert(i, letter(rng)),
            }
            chars.into_iter().collect()
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_zero_only_normalises_spaces() {
        let mut rng = Rng::derive(0, 0, 0);
        assert_eq!(
            typo("  a photo  of a bird ", 0.0, &mut rng),
            "a photo of a bird"
        );
    }

    #[test]
    fn probability_one_alters_every_long_word_at_an_inner_position() {
        let mut rng = Rng::derive(3, 0, 0);
        for _ in 0..200 {
            let out = typo("ab photo bird", 1.0, &mut rng);
            let w: Vec<&str> = out.split(' ').collect();
            assert_eq!(w[0], "ab", "short words are kept");
            for (orig, new) in [("photo", w[1]), ("bird", w[2])] {
                let (o, n): (Vec<char>, Vec<char>) =
                    (orig.chars().collect(), new.chars().collect());
                assert!(n.len() + 1 >= o.len() && n.len() <= o.len() + 1, "{new}");
                assert_ne!(new, "", "{orig}");
                // First and last characters are never touched.
                assert_eq!(n[0], o[0], "{orig} -> {new}");
                assert_eq!(n[n.len() - 1], o[o.len() - 1], "{orig} -> {new}");
            }
        }
    }

    #[test]
    fn rate_matches_p() {
        let mut rng = Rng::derive(9, 0, 0);
        let changed = (0..4000)
            .filter(|_| typo("photograph", 0.1, &mut rng) != "photograph")
            .count();
        // Replace can redraw the same letter (1/26 of a third), so slightly under 0.1.
        let rate = changed as f64 / 4000.0;
        assert!((rate - 0.1).abs() < 0.02, "rate {rate}");
    }
}
