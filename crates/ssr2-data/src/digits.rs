//! The embedded default dataset: UCI optical handwritten digits (scikit-learn's copy).

use crate::split::gcd_split;
use crate::{Dataset, Matrix};

/// `data/digits.bin`, written by `data/make_digits.py` (layout documented there).
const DIGITS_BIN: &[u8] = include_bytes!("../data/digits.bin");
/// Pixels per image (8 x 8).
const PIXELS: usize = 64;
/// Bits per packed pixel: values run 0..16, 17 levels.
const BITS: usize = 5;

/// The raw digits: 1797 x 64 pixel values 0..16 as f32, and the labels 0..9.
pub fn digits_raw() -> (Matrix, Vec<usize>) {
    let (magic, rest) = DIGITS_BIN.split_at(4);
    assert_eq!(magic, b"DIG1", "embedded digits.bin has a bad magic");
    let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let labels: Vec<usize> = rest[2..2 + n].iter().map(|&y| y as usize).collect();
    let packed = &rest[2 + n..];
    let mut data = Vec::with_capacity(n * PIXELS);
    for p in 0..n * PIXELS {
        let bit = p * BITS;
        // A 5-bit field spans at most two bytes; the byte after the last one may not exist.
        let lo = packed[bit / 8] as u16;
        let hi = packed.get(bit / 8 + 1).copied().unwrap_or(0) as u16;
        let v = ((lo | (hi << 8)) >> (bit % 8)) & 0x1f;
        data.push(v as f32);
    }
    (Matrix::new(n, PIXELS, data), labels)
}

/// The digits as a GCD dataset: old = classes 0..4, 50% of their samples labelled (seeded),
/// pixels scaled to [0, 1], image-only, ids `digits/0000`..`digits/1796`.
pub fn digits(seed: u64) -> Dataset {
    let (mut image, labels) = digits_raw();
    image.data.iter_mut().for_each(|v| *v /= 16.0);
    let old: Vec<usize> = (0..5).collect();
    let split = gcd_split(&labels, 10, &old, 0.5, seed).expect("digits labels are 0..9");
    let mut class_names = vec![String::new(); 10];
    for (orig, &new) in split.remap.iter().enumerate() {
        class_names[new] = orig.to_string();
    }
    Dataset {
        name: "digits".into(),
        class_names,
        num_old: split.num_old,
        labels: split.remap_labels(&labels),
        labelled: split.labelled,
        sample_ids: (0..image.rows).map(|i| format!("digits/{i:04}")).collect(),
        image,
        image_views: None,
        image_pooled: None,
        text: None,
        test: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_digits_match_scikit_learn() {
        let (x, y) = digits_raw();
        assert_eq!((x.rows, x.cols, y.len()), (1797, 64, 1797));
        let mut counts = [0usize; 10];
        y.iter().for_each(|&c| counts[c] += 1);
        // As reported by numpy.bincount(load_digits().target).
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        // Published-data facts computed once with numpy from scikit-learn 1.9.1's copy
        // (data/make_digits.py prints them): X.sum(), sum(X * (flat_index % 1000 + 1)),
        // sum(y * (index + 1)). The weighted sums catch reordered pixels or labels.
        let xi: Vec<i64> = x.data.iter().map(|&v| v as i64).collect();
        assert!(
            x.data
                .iter()
                .all(|&v| v == v.round() && (0.0..=16.0).contains(&v))
        );
        assert_eq!(xi.iter().sum::<i64>(), 561_718);
        let weighted: i64 = xi
            .iter()
            .enumerate()
            .map(|(i, &v)| v * (i as i64 % 1000 + 1))
            .sum();
        assert_eq!(weighted, 281_471_379);
        let label_sum: i64 = y
            .iter()
            .enumerate()
            .map(|(i, &c)| c as i64 * (i as i64 + 1))
            .sum();
        assert_eq!(label_sum, 7_272_861);
        // The first image, as printed by numpy.
        let first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0];
        assert_eq!(&xi[..16], &first);
        assert_eq!(*xi.iter().max().unwrap(), 16);
    }

    #[test]
    fn digits_dataset_is_a_valid_gcd_split() {
        let ds = digits(0);
        ds.validate().unwrap();
        assert_eq!(ds.name, "digits");
        assert_eq!(
            (ds.len(), ds.image.cols, ds.num_classes(), ds.num_old),
            (1797, 64, 10, 5)
        );
        assert_eq!(
            ds.class_names,
            (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
        );
        assert!(ds.text.is_none());
        assert_eq!(ds.sample_ids[0], "digits/0000");
        assert_eq!(ds.sample_ids[1796], "digits/1796");
        assert!(ds.image.data.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(ds.image.data.contains(&1.0));
        // Old-class samples: 178+182+177+183+181 = 901; floor(0.5 * 901) = 450 labelled.
        assert_eq!(ds.labelled_indices().len(), 450);
        assert!(ds.labelled_indices().iter().all(|&i| ds.labels[i] < 5));
        assert_eq!(digits(0), ds);
        assert_ne!(digits(1).labelled, ds.labelled);
        assert_eq!(digits(1).labels, ds.labels);
    }
}
