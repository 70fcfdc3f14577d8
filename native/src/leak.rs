//! Lexicon leak check for `ssr2 retrieve`: a kept candidate that names a new class hands the
//! model the answer it should discover (SPEC §7: the public tag list holds benchmark class
//! names; the authors ship a deduplicated variant without them).

/// Lower case, `_`/`-`/`.` as spaces, single spaces; a leading number (CUB's `001.`) dropped.
fn normalise(text: &str) -> String {
    let t = text.to_lowercase().replace(['_', '-', '.'], " ");
    let words: Vec<&str> = t.split_whitespace().collect();
    let start = usize::from(words.len() > 1 && words[0].chars().all(|c| c.is_ascii_digit()));
    words[start..].join(" ")
}

/// One kept candidate that names a new class.
#[derive(Clone, Debug, PartialEq)]
pub struct Leak {
    pub entry: String,
    pub class: String,
}

/// Every distinct entry of `kept` that contains a new class name as whole words, in first-seen
/// order, with the first such class.
pub fn find_leaks<'a>(
    kept: impl IntoIterator<Item = &'a str>,
    new_classes: &[String],
) -> Vec<Leak> {
    let names: Vec<(String, &String)> = new_classes
        .iter()
        .map(|c| (format!(" {} ", normalise(c)), c))
        .filter(|(n, _)| !n.trim().is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in kept {
        if !seen.insert(entry) {
            continue;
        }
        let text = format!(" {} ", normalise(entry));
        if let Some((_, class)) = names.iter().find(|(n, _)| text.contains(n.as_str())) {
            out.push(Leak {
                entry: entry.to_string(),
                class: (*class).clone(),
            });
        }
    }
    out
}

/// The leaks as one line: up to `max` entries with their class, then how many more.
pub fn describe(leaks: &[Leak], max: usize) -> String {
    let mut parts: Vec<String> = leaks
        .iter()
        .take(max)
        .map(|l| format!("\"{}\" (class {})", l.entry, l.class))
        .collect();
    if leaks.len() > max {
        parts.push(format!("and {} more", leaks.len() - max));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_word_class_names_are_found_after_normalising() {
        let new = vec![
            "001.Black_footed_Albatross".to_string(),
            "cat".to_string(),
            "7".to_string(),
        ];
        let kept = [
            "a photo of a black-footed albatross",
            "a photo of a catamaran",
            "a photo of a Cat",
            "a photo of a Cat",
            "a photo of a 7",
            "bird which has a black footed albatross wing",
            "a photo of a 17",
        ];
        let leaks = find_leaks(kept.iter().copied(), &new);
        let entries: Vec<&str> = leaks.iter().map(|l| l.entry.as_str()).collect();
        assert_eq!(
            entries,
            [
                "a photo of a black-footed albatross",
                "a photo of a Cat",
                "a photo of a 7",
                "bird which has a black footed albatross wing"
            ]
        );
        assert_eq!(leaks[0].class, "001.Black_footed_Albatross");
        assert!(find_leaks(["a photo of a dog"], &new).is_empty());
        let line = describe(&leaks, 2);
        assert!(
            line.contains("(class cat)") && line.ends_with("and 2 more"),
            "{line}"
        );
    }
}
