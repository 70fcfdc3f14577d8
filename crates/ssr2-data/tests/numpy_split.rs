//! numpy's legacy RandomState and the reference's labelled split, against numpy's own output
//! (`tests/reference/make_numpy_split_reference.py` wrote the JSON; exact equality throughout).

use serde_json::Value;
use ssr2_data::gcd_split;
use ssr2_data::numpy_rng::LegacyRandomState;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/numpy_split/legacy_random_state.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference JSON")).unwrap()
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn check_state(s: &LegacyRandomState, case: &Value) {
    let (key, pos) = s.state();
    let head: Vec<u64> = key[..8].iter().map(|&k| u64::from(k)).collect();
    let tail: Vec<u64> = key[key.len() - 4..].iter().map(|&k| u64::from(k)).collect();
    assert_eq!(head, ints(&case["key_head"]), "{case}");
    assert_eq!(tail, ints(&case["key_tail"]), "{case}");
    assert_eq!(pos as u64, case["pos"].as_u64().unwrap());
}

#[test]
fn seeding_matches_numpy() {
    let r = reference();
    for case in r["seeding"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap() as u32;
        check_state(&LegacyRandomState::new(seed), case);
    }
    for case in r["seeding_by_array"].as_array().unwrap() {
        let key: Vec<u32> = ints(&case["key"]).iter().map(|&k| k as u32).collect();
        check_state(&LegacyRandomState::from_array(&key), case);
    }
}

#[test]
fn raw_stream_matches_numpy_across_a_twist() {
    // 700 values: past the first 624-word block, so the twist is exercised twice.
    for case in reference()["raw"].as_array().unwrap() {
        let mut s = LegacyRandomState::new(case["seed"].as_u64().unwrap() as u32);
        let want = ints(&case["values"]);
        let got: Vec<u64> = (0..want.len()).map(|_| u64::from(s.next_u32())).collect();
        assert_eq!(got, want, "seed {}", case["seed"]);
    }
}

#[test]
fn permutation_and_choice_match_numpy() {
    let r = reference();
    for case in r["permutation"].as_array().unwrap() {
        let mut s = LegacyRandomState::new(case["seed"].as_u64().unwrap() as u32);
        let n = case["n"].as_u64().unwrap() as usize;
        let got: Vec<u64> = s.permutation(n).iter().map(|&v| v as u64).collect();
        assert_eq!(got, ints(&case["values"]), "seed {} n {n}", case["seed"]);
    }
    for case in r["choice"].as_array().unwrap() {
        let mut s = LegacyRandomState::new(0);
        let (n, size) = (case["n"].as_u64().unwrap(), case["size"].as_u64().unwrap());
        let got: Vec<u64> = s
            .choice_without_replacement(n as usize, size as usize)
            .iter()
            .map(|&v| v as u64)
            .collect();
        assert_eq!(got, ints(&case["values"]), "n {n}");
    }
}

#[test]
fn gcd_split_labels_the_reference_samples() {
    let r = reference();
    let c = &r["split"];
    let labels: Vec<usize> = ints(&c["labels"]).iter().map(|&y| y as usize).collect();
    let old: Vec<usize> = ints(&c["old_classes"])
        .iter()
        .map(|&y| y as usize)
        .collect();
    let s = gcd_split(&labels, 6, &old, c["prop"].as_f64().unwrap(), 0).unwrap();
    let got: Vec<u64> = (0..labels.len())
        .filter(|&i| s.labelled[i])
        .map(|i| i as u64)
        .collect();
    assert_eq!(got, ints(&c["labelled"]));
}
