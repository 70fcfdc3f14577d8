//! Content checksums of files the tools write and read back (checkpoints, extract parts).

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of files, each hashed whole and the hashes combined in order: the identity of a
/// model folder (`config.json`, then the weights), the same whatever the folder's path.
pub fn files_sha256(paths: &[&std::path::Path]) -> Result<String, crate::DataError> {
    let mut each = String::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|source| crate::DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        each.push_str(&sha256_hex(&bytes));
        each.push('\n');
    }
    Ok(sha256_hex(each.as_bytes()))
}

/// A content hash of a dataset: every field that training reads (features, labels, the labelled
/// mask, ids, class names), in a fixed order with lengths, so two datasets hash alike exactly
/// when they hold the same values. Runs record it; `eval` and `--resume` compare it.
pub fn dataset_sha256(ds: &crate::Dataset) -> String {
    use crate::{Matrix, TextFeatures};
    let mut h = Sha256::new();
    let num = |h: &mut Sha256, v: usize| h.update((v as u64).to_le_bytes());
    let text = |h: &mut Sha256, s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    let values = |h: &mut Sha256, v: &[f32]| {
        h.update((v.len() as u64).to_le_bytes());
        v.iter().for_each(|x| h.update(x.to_le_bytes()));
    };
    let matrix = |h: &mut Sha256, m: &Matrix| {
        h.update((m.rows as u64).to_le_bytes());
        values(h, &m.data);
    };
    text(&mut h, &ds.name);
    num(&mut h, ds.class_names.len());
    ds.class_names.iter().for_each(|c| text(&mut h, c));
    num(&mut h, ds.num_old);
    matrix(&mut h, &ds.image);
    match &ds.image_views {
        Some(v) => {
            num(&mut h, v.per_sample);
            matrix(&mut h, &v.data);
        }
        None => num(&mut h, 0),
    }
    match &ds.image_pooled {
        Some(m) => matrix(&mut h, m),
        None => num(&mut h, 0),
    }
    match &ds.text {
        None => num(&mut h, 0),
        Some(TextFeatures::Aggregated(m)) => {
            num(&mut h, 1);
            matrix(&mut h, m);
        }
        Some(TextFeatures::Candidates(c)) => {
            num(&mut h, 2);
            num(&mut h, c.num_tags);
            matrix(&mut h, &c.tags);
            num(&mut h, c.num_attributes);
            matrix(&mut h, &c.attributes);
            values(&mut h, c.base.as_deref().unwrap_or(&[]));
        }
    }
    num(&mut h, ds.labels.len());
    ds.labels.iter().for_each(|&y| num(&mut h, y));
    h.update(ds.labelled.iter().map(|&l| l as u8).collect::<Vec<u8>>());
    num(&mut h, ds.sample_ids.len());
    ds.sample_ids.iter().for_each(|s| text(&mut h, s));
    // The test part, as the samples a bundle stores after the training ones.
    if let Some(t) = &ds.test {
        text(&mut h, &dataset_sha256(t));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dataset_hash_sees_every_change() {
        let ds = crate::digits(0);
        let base = super::dataset_sha256(&ds);
        assert_eq!(base, super::dataset_sha256(&ds.clone()));
        let mut a = ds.clone();
        a.image.data[17] += 1.0;
        let mut b = ds.clone();
        b.labelled[3] = !b.labelled[3];
        let mut c = ds.clone();
        c.sample_ids[0].push('x');
        for other in [a, b, c] {
            assert_ne!(super::dataset_sha256(&other), base);
        }
        assert_ne!(
            super::dataset_sha256(&crate::digits(1)),
            base,
            "another split"
        );
    }

    #[test]
    fn known_vector() {
        // FIPS 180-2 test vector "abc".
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
