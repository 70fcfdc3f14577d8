//! The shipped class splits against the authors' benchmark files
//! (tests/reference/make_class_list_reference.py: the Semantic Shift Benchmark pickles of CUB and
//! Cars, and ImageNet-100's numpy seed-0 class draw).

use serde_json::Value;
use ssr2_data::known_split;
use ssr2_data::numpy_rng::LegacyRandomState;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/class_lists.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sorted(v: &Value) -> Vec<usize> {
    let mut out: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn cub_and_cars_old_and_new_classes_are_the_benchmark_files() {
    let r = reference();
    for name in ["cub200", "stanford_cars"] {
        let s = known_split(name).unwrap();
        let mut old = s.old.clone();
        old.sort_unstable();
        // The same sets; the order within them only permutes label ids (docs/FIDELITY.md).
        assert_eq!(old, sorted(&r[name]["old"]), "{name} old");
        let new: Vec<usize> = (0..s.num_classes).filter(|c| !s.old.contains(c)).collect();
        assert_eq!(new, sorted(&r[name]["new"]), "{name} new");
    }
}

#[test]
fn imagenet100_is_numpys_seed_0_draw_of_1000_classes() {
    let r = reference();
    let want = sorted(&r["imagenet100"]["subset_of_imagenet1k_sorted_wnid_indices"]);
    let s = known_split("imagenet100").unwrap();
    assert_eq!(s.subset.as_deref(), Some(&want[..]));
    let mut ours = LegacyRandomState::new(0).choice_without_replacement(1000, 100);
    ours.sort_unstable();
    assert_eq!(ours, want);
    assert_eq!(s.old, sorted(&r["imagenet100"]["old"]));
}
