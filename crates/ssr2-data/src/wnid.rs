//! ImageNet-1K class ids (WordNet synset ids, "wnids") to their words, for readers that must
//! compare class names with text (data/imagenet1k_lemmas.tsv, from WordNet through timm).

const LEMMAS: &str = include_str!("../data/imagenet1k_lemmas.tsv");

/// The words of an ImageNet-1K class id, most common first (`n01440764` -> `["tench", "Tinca
/// tinca"]`); `None` for any other string.
pub fn wnid_words(wnid: &str) -> Option<Vec<&'static str>> {
    let looks = wnid.len() == 9 && wnid.starts_with('n') && wnid[1..].bytes().all(|b| b.is_ascii_digit());
    if !looks {
        return None;
    }
    LEMMAS.lines().find_map(|line| {
        let (id, words) = line.split_once('\t')?;
        (id == wnid).then(|| words.split(", ").collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thousand_classes_have_words() {
        assert_eq!(LEMMAS.lines().count(), 1000);
        assert_eq!(wnid_words("n01440764"), Some(vec!["tench", "Tinca tinca"]));
        assert_eq!(wnid_words("n15075141").unwrap()[0], "toilet tissue");
        assert_eq!(wnid_words("n99999999"), None);
        assert_eq!(wnid_words("cat"), None);
    }
}
