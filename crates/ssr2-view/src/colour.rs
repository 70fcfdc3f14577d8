//! Colours: one per class (categorical), old vs new, and a sequential ramp for counts.

/// Ten well-separated hues (Tableau 10); classes beyond ten get golden-angle hues.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Colour of class or cluster `k`.
pub fn category(k: usize) -> String {
    match PALETTE.get(k) {
        Some(c) => (*c).to_string(),
        None => format!("hsl({:.0}, 60%, 50%)", (k as f64 * 137.508) % 360.0),
    }
}

/// Old classes blue, new classes orange (the same pair everywhere on the page).
pub fn old_new(old: bool) -> &'static str {
    if old { "#4e79a7" } else { "#f28e2b" }
}

/// White (t = 0) to dark blue (t = 1); `t` is clamped to [0, 1].
pub fn sequential(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "rgb({}, {}, {})",
        lerp(255.0, 8.0),
        lerp(255.0, 48.0),
        lerp(255.0, 107.0)
    )
}

/// Black text on light cells, white on dark ones.
pub fn text_on(t: f64) -> &'static str {
    if t > 0.5 { "#fff" } else { "#222" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_distinct_past_the_palette() {
        let colours: Vec<String> = (0..40).map(category).collect();
        let mut unique = colours.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 40);
        assert_eq!(category(0), "#4e79a7");
    }

    #[test]
    fn sequential_ends_and_clamps() {
        assert_eq!(sequential(0.0), "rgb(255, 255, 255)");
        assert_eq!(sequential(1.0), "rgb(8, 48, 107)");
        assert_eq!(sequential(7.0), sequential(1.0));
        assert_eq!(sequential(f64::NAN), sequential(0.0));
        assert_eq!(text_on(0.9), "#fff");
    }
}
