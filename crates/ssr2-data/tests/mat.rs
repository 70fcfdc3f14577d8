//! The MATLAB 5 reader against files written by scipy.io.savemat
//! (tests/reference/make_mat_fixtures.py; expected.json describes each variable).

use std::path::{Path, PathBuf};

use serde_json::Value;
use ssr2_data::mat::{MatValue, parse_mat, read_mat};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/mat")
}

/// Compares a value with its JSON description; `at` names it in failures.
fn check(v: &MatValue, want: &Value, at: &str) {
    let dims: Vec<usize> = want["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(v.dims(), dims.as_slice(), "{at}: dims");
    match (want["kind"].as_str().unwrap(), v) {
        ("numeric", MatValue::Numeric { data, .. }) => {
            let w: Vec<f64> = want["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(data, &w, "{at}: data");
        }
        ("char", MatValue::Char { .. }) => {
            assert_eq!(v.text().unwrap(), want["text"].as_str().unwrap(), "{at}");
        }
        ("cell", MatValue::Cell { items, .. }) => {
            let w = want["items"].as_array().unwrap();
            assert_eq!(items.len(), w.len(), "{at}: cell length");
            for (i, (x, y)) in items.iter().zip(w).enumerate() {
                check(x, y, &format!("{at}{{{i}}}"));
            }
        }
        ("struct", MatValue::Struct { fields, items, .. }) => {
            let wf: Vec<&str> = want["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(fields, &wf, "{at}: fields");
            let w = want["items"].as_array().unwrap();
            assert_eq!(items.len(), w.len(), "{at}: elements");
            for (i, (row, wrow)) in items.iter().zip(w).enumerate() {
                for (j, (x, y)) in row.iter().zip(wrow.as_array().unwrap()).enumerate() {
                    check(x, y, &format!("{at}({i}).{}", wf[j]));
                }
            }
        }
        (kind, other) => panic!("{at}: expected {kind}, got {other:?}"),
    }
}

#[test]
fn reads_scipy_files_plain_and_compressed() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    let files = expected.as_object().unwrap();
    assert_eq!(files.len(), 4);
    for (file, vars) in files {
        let got = read_mat(&dir().join(file)).unwrap();
        let want = vars.as_object().unwrap();
        let names: Vec<&String> = got.keys().collect();
        let mut want_names: Vec<&String> = want.keys().collect();
        want_names.sort();
        assert_eq!(names, want_names, "{file}");
        for (name, w) in want {
            check(&got[name], w, &format!("{file}:{name}"));
        }
    }
}

#[test]
fn struct_fields_by_name() {
    let vars = read_mat(&dir().join("cars_z.mat")).unwrap();
    let a = &vars["annotations"];
    assert_eq!(a.field(2, "class").unwrap().numbers().unwrap(), &[196.0]);
    assert_eq!(a.field(1, "fname").unwrap().text().unwrap(), "00002.jpg");
    assert!(a.field(0, "nope").is_none());
    assert!(a.field(3, "class").is_none());
}

#[test]
fn bad_files_are_named() {
    let e = parse_mat(&[0u8; 20], "x.mat").unwrap_err().to_string();
    assert!(e.starts_with("x.mat:") && e.contains("128-byte"), "{e}");
    let mut bytes = std::fs::read(dir().join("numeric.mat")).unwrap();
    bytes[126..128].copy_from_slice(b"XX");
    let e = parse_mat(&bytes, "y.mat").unwrap_err().to_string();
    assert!(e.contains("y.mat") && e.contains("endian"), "{e}");
    let mut bytes = std::fs::read(dir().join("numeric.mat")).unwrap();
    bytes.truncate(bytes.len() - 20);
    let e = parse_mat(&bytes, "z.mat").unwrap_err().to_string();
    assert!(e.contains("z.mat") && e.contains("bytes"), "{e}");
    let e = read_mat(&dir().join("missing.mat"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.mat"), "{e}");
}
