//! Property-based fuzzing of every reader in this crate that takes a file: `.npy`, feature
//! bundles and images. Inputs are arbitrary bytes and mutations (truncations, byte flips,
//! rewritten header fields) of valid files; the property is "a value or an error, never a
//! panic", plus a consistency check on what is accepted. Fixed case budgets keep CI fast.

use proptest::prelude::*;
use ssr2_data::npy::{self, Values};
use ssr2_data::{ImageSource, bundle_from_bytes, bundle_to_bytes, load_rgb};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn npy_file(dict: &str, data: &[u8]) -> Vec<u8> {
    npy::file_bytes(dict, data)
}

/// Byte edits: (position, new value) pairs and an optional cut.
fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    let n = bytes.len();
    for &(at, v) in flips {
        bytes[at % n] = v;
    }
    if let Some(c) = cut {
        bytes.truncate(c % (n + 1));
    }
    bytes
}

fn check_npy(bytes: &[u8]) {
    if let Ok(a) = npy::from_bytes(bytes, "fuzz.npy") {
        let count: usize = a.header.shape.iter().product();
        let len = match &a.values {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
        };
        assert_eq!(
            len, count,
            "accepted arrays hold exactly their shape's elements"
        );
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn npy_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_npy(&bytes);
        let mut with_magic = b"\x93NUMPY\x01\x00".to_vec();
        with_magic.extend(&bytes);
        check_npy(&with_magic);
    }

    #[test]
    fn npy_header_fields(
        descr in prop::sample::select(vec!["<f4", ">f8", "<i4", "|i8", "<c8", "", "<f4'", "O"]),
        fortran in prop::sample::select(vec!["True", "False", "1", "'x'"]),
        dims in prop::collection::vec(
            prop::sample::select(vec![
                "0".to_string(), "1".into(), "3".into(), "4294967296".into(),
                "18446744073709551615".into(), "99999999999999999999999".into(), "-1".into(),
                "2L".into(), "".into(),
            ]),
            0..4,
        ),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let shape = format!("({})", dims.join(", "));
        let dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        check_npy(&npy_file(&dict, &data));
    }

    #[test]
    fn npy_mutations(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        let data: Vec<u8> = (0..24).map(|i| i as u8).collect();
        let valid = npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &data);
        check_npy(&mutate(valid, &flips, cut));
    }
}

fn valid_bundle() -> Vec<u8> {
    let mut ds = ssr2_data::digits(0);
    let keep = 40;
    ds.image = ssr2_data::Matrix::new(
        keep,
        ds.image.cols,
        ds.image.data[..keep * ds.image.cols].to_vec(),
    );
    ds.labels.truncate(keep);
    ds.labelled.truncate(keep);
    ds.sample_ids.truncate(keep);
    bundle_to_bytes(&ds).expect("a valid dataset serialises")
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn bundle_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = bundle_from_bytes(&bytes, "fuzz.safetensors");
        // A plausible safetensors prefix: an 8-byte header length, then text.
        let mut framed = (bytes.len() as u64).to_le_bytes().to_vec();
        framed.extend(&bytes);
        let _ = bundle_from_bytes(&framed, "fuzz.safetensors");
    }

    #[test]
    fn bundle_mutations(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        let valid = valid_bundle();
        if let Ok(ds) = bundle_from_bytes(&mutate(valid, &flips, cut), "fuzz.safetensors") {
            prop_assert!(ds.validate().is_ok());
            prop_assert!(ds.image.data.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn images_arbitrary_and_mutated(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<usize>()),
        w in 0u32..5, h in 0u32..5, extra in 0usize..3,
    ) {
        let dir = std::env::temp_dir().join(format!("ssr2-fuzz-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.png");
        let png = ssr2_data::encode_png(&ssr2_data::image::RgbImage::new(3, 2)).unwrap();
        for candidate in [bytes.clone(), mutate(png, &flips, cut)] {
            std::fs::write(&path, &candidate).unwrap();
            let _ = load_rgb(&ImageSource::File(path.clone()));
        }
        let pixels: std::sync::Arc<[u8]> = vec![7u8; (w * h * 3) as usize + extra].into();
        let rgb = load_rgb(&ImageSource::Rgb { width: w, height: h, pixels });
        prop_assert_eq!(rgb.is_ok(), extra == 0);
    }
}

/// Regression: shapes whose byte count overflows usize were once allocated (abort).
#[test]
fn npy_overflowing_shape_regressions() {
    for shape in [
        "(4294967296, 4294967296)",
        "(9223372036854775807, 3)",
        "(2305843009213693952,)",
    ] {
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let e = npy::from_bytes(&npy_file(&dict, &[0; 8]), "big.npy").unwrap_err();
        assert!(e.to_string().starts_with("big.npy:"), "{e}");
    }
}
