//! Lexicon leak check (`ssr2 retrieve`): a kept candidate that names a new class hands the model
//! the answer it should discover (SPEC §7: the public tag list holds benchmark class names; the
//! authors ship a deduplicated variant without them).

/// Lower case; possessives dropped (`brewer's` -> `brewer`); every other non-alphanumeric
/// character a space; each word singular (`albatrosses`, `cats`, `butterflies`); a leading
/// number (CUB's `001.`) dropped. Both sides get the same treatment, so `Brewer's Blackbirds`
/// matches the class `009.Brewer_Blackbird`.
fn normalise(text: &str) -> String {
    let t = text
        .to_lowercase()
        .replace(['\u{2019}', '`'], "'")
        .replace("'s ", " ")
        .replace('\'', "");
    let t = t.strip_suffix("'s").unwrap_or(&t);
    let t: String = t.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let words: Vec<String> = t.split_whitespace().map(singular).collect();
    let start = usize::from(words.len() > 1 && words[0].chars().all(|c| c.is_ascii_digit()));
    words[start..].join(" ")
}

/// A rough English singular: `ies` -> `y`, `es` after s/x/z/ch/sh dropped, a final `s` (not
/// `ss`, `us`, `is`) dropped. Applied to class names and texts alike, it only has to agree
/// with itself.
fn singular(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    for end in ["sses", "xes", "zes", "ches", "shes"] {
        if word.len() > end.len() + 1 && word.ends_with(end) {
            return word[..word.len() - 2].to_string();
        }
    }
    let keep = ["ss", "us", "is"].iter().any(|e| word.ends_with(e));
    if word.len() > 3 && word.ends_with('s') && !keep {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
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
    // An ImageNet class named by its wnid is compared through its words.
    let names: Vec<(String, &String)> = new_classes
        .iter()
        .flat_map(|c| {
            let words = crate::wnid_words(c).unwrap_or_else(|| vec![c.as_str()]);
            words.into_iter().map(move |w| (format!(" {} ", normalise(w)), c))
        })
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
        // Case, punctuation, possessives and plurals on either side.
        let new = vec!["009.Brewer_Blackbird".to_string(), "Butterfly".to_string()];
        for (text, class) in [
            ("two Brewer's Blackbirds", "009.Brewer_Blackbird"),
            ("brewers blackbird, perched", "009.Brewer_Blackbird"),
            ("BREWER\u{2019}S BLACKBIRD", "009.Brewer_Blackbird"),
            ("a field of butterflies", "Butterfly"),
        ] {
            let found = find_leaks([text], &new);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].class, class);
        }
        assert!(find_leaks(["a brew of blackberries"], &new).is_empty());
        // ImageNet folders named by wnid: their words, any synonym.
        let new = vec!["n01440764".to_string(), "n01443537".to_string()];
        let found = find_leaks(["a photo of two tenches", "carassius auratus in a bowl", "a pond"], &new);
        let classes: Vec<&str> = found.iter().map(|l| l.class.as_str()).collect();
        assert_eq!(classes, ["n01440764", "n01443537"]);
        let line = describe(&leaks, 2);
        assert!(
            line.contains("(class cat)") && line.ends_with("and 2 more"),
            "{line}"
        );
    }
}
