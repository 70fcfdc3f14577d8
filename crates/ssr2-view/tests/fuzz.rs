//! Property-based fuzzing of the browser's report reader: arbitrary text, mutations of a valid
//! report and type-swapped fields give a report or a one-line error, never a panic.

use proptest::prelude::*;
use ssr2_view::report::{parse_report, sample_json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn one_line(r: Result<ssr2_view::report::RunReport, String>) {
    if let Err(e) = r {
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(e.starts_with("fuzz.json:"), "names the file: {e}");
    }
}

/// Replaces the value of every occurrence of `"key":` by `with`, textually.
fn swap_values(json: &serde_json::Value, key: &str, with: &serde_json::Value) -> serde_json::Value {
    match json {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == key {
                        with.clone()
                    } else {
                        swap_values(v, key, with)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(|v| swap_values(v, key, with)).collect())
        }
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        one_line(parse_report(&text, "fuzz.json"));
    }

    #[test]
    fn byte_mutations(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..5),
        cut in prop::option::of(any::<usize>()),
    ) {
        let mut bytes = sample_json().into_bytes();
        let n = bytes.len();
        for (at, v) in flips {
            bytes[at % n] = v;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (n + 1));
        }
        one_line(parse_report(&String::from_utf8_lossy(&bytes), "fuzz.json"));
    }

    #[test]
    fn field_swaps(
        key in prop::sample::select(vec![
            "num_classes", "num_old", "x", "label", "pred", "mapping", "class_names",
            "history", "version", "seed", "final", "projection", "inference", "weights",
        ]),
        with in prop::sample::select(vec![
            serde_json::json!(null), serde_json::json!(-1), serde_json::json!(1e308),
            serde_json::json!(18446744073709551615u64), serde_json::json!([]),
            serde_json::json!([1e300, -1]), serde_json::json!("x"), serde_json::json!({}),
        ]),
    ) {
        let valid: serde_json::Value = serde_json::from_str(&sample_json()).unwrap();
        let text = swap_values(&valid, key, &with).to_string();
        one_line(parse_report(&text, "fuzz.json"));
    }
}
