//! ssr2-core against independent references: the shared MCR² vectors (cross-checked against five
//! public implementations) and `tests/reference/reference.json` (numpy/scipy, d x d side, f64).
//! Tolerances: values 1e-4 relative, gradients 1e-3 relative (Frobenius), as the contract asks.

use burn::prelude::*;
use serde_json::Value;
use ssr2_core::classifier::{CosineClassifier, predict};
use ssr2_core::coteach::{pseudo_label_loss, select_confident};
use ssr2_core::logdet::LogdetRoute;
use ssr2_core::loss::cluster::{ClusterConfig, branch_loss, teacher_temperature};
use ssr2_core::loss::contrastive::{clip_image_to_text, info_nce, supcon};
use ssr2_core::loss::ssr2::{BatchLabels, Ssr2Config, rate_terms, ssr2_loss};
use ssr2_core::metrics::{class_ranks, cluster_accuracy, edge_ratio};
use ssr2_core::rta::{RtaConfig, aggregate, retrieve};
use ssr2_core::{coding_rate, coding_rate_hard, coding_rate_soft};
use std::sync::LazyLock;

static REF: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../tests/reference/reference.json")).unwrap()
});
static MCR2: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../tests/reference/mcr2_vectors.json")).unwrap()
});

/// The device under test: the CPU device, or wgpu with `SSR2_TEST_DEVICE=wgpu` in a build with
/// the `wgpu` feature (e.g. Mesa's lavapipe: `CUBECL_WGPU_DEFAULT_DEVICE=Cpu`), or CUDA with
/// `SSR2_TEST_DEVICE=cuda` in a `cuda` build.
fn test_device() -> Device {
    match std::env::var("SSR2_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(burn::tensor::DeviceKind::default()),
        #[cfg(feature = "cuda")]
        Ok("cuda") => Device::cuda(0),
        Ok("cpu") | Err(_) => Device::flex(),
        Ok(other) => {
            panic!(
                "SSR2_TEST_DEVICE={other}: this build tests cpu (wgpu, cuda with those features)"
            )
        }
    }
}

const VALUE_TOL: f64 = 1e-4;
const GRAD_TOL: f64 = 1e-3;
/// Every route; on the CPU device the kernel route falls back to the host route, so the kernel
/// itself is under test with `SSR2_TEST_DEVICE=wgpu` (`scripts/test-wgpu-lavapipe.sh`).
const ROUTES: [LogdetRoute; 3] = [LogdetRoute::Host, LogdetRoute::Tensor, LogdetRoute::Kernel];

fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        Value::Bool(b) => vec![*b as u8 as f32],
        _ => panic!("not numeric: {v}"),
    }
}
fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}
fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect()
}
fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}
fn t2(v: &Value, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(flat(v), [rows, cols]), device)
}
fn t3(v: &Value, s: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(flat(v), s), device)
}
fn scalar(t: Tensor<1>) -> f64 {
    t.try_into_vec_as::<f32>().unwrap()[0] as f64
}
fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}
fn rel(actual: f64, expected: f64) -> f64 {
    (actual - expected).abs() / expected.abs().max(1e-12)
}
fn check(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        rel(actual, expected) <= tol,
        "{what}: {actual} vs {expected} (rel {:.2e})",
        rel(actual, expected)
    );
}
fn frob_rel(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len());
    let num: f64 = actual
        .iter()
        .zip(expected)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum();
    let den: f64 = expected.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den.max(1e-300)).sqrt()
}

#[test]
fn shared_mcr2_vectors_values_and_gradients() {
    let dev = test_device().autodiff();
    let inp = &MCR2["inputs"];
    let (m, d, k) = (16, 8, 3);
    let labels = usizes(&inp["y_hard"]);
    for route in ROUTES {
        for (eps_key, eps2) in [("eps2=0.5", 0.5), ("eps2=0.05", 0.05)] {
            let case = &MCR2["caseA_basic_numpy_f64"][eps_key];
            let z = t2(&inp["Z"], m, d, &dev);
            let p = t2(&inp["P_soft"], m, k, &dev);
            check(
                scalar(coding_rate(z.clone(), eps2, route).unwrap()),
                f(&case["R"]),
                VALUE_TOL,
                "R",
            );
            check(
                scalar(coding_rate_hard(z.clone(), &labels, eps2, route).unwrap()),
                f(&case["Rc_hard_with_trace_plus_1e-8"]),
                VALUE_TOL,
                "Rc hard",
            );
            check(
                scalar(coding_rate_soft(z, p, eps2, route).unwrap()),
                f(&case["Rc_soft_with_trace_plus_1e-8"]),
                VALUE_TOL,
                "Rc soft",
            );
        }
        let g = &MCR2["caseD_gradients_numpy_f64_closed_form"];
        let z = t2(&inp["Z"], m, d, &dev).require_grad();
        let p = t2(&inp["P_soft"], m, k, &dev).require_grad();
        let grads = coding_rate(z.clone(), 0.5, route).unwrap().backward();
        assert!(frob_rel(&vec_of(z.grad(&grads).unwrap()), &flat(&g["dR_dZ"])) < GRAD_TOL);
        let z = z.detach().require_grad();
        let grads = coding_rate_soft(z.clone(), p.clone(), 0.5, route)
            .unwrap()
            .backward();
        assert!(frob_rel(&vec_of(z.grad(&grads).unwrap()), &flat(&g["dRc_soft_dZ"])) < GRAD_TOL);
        assert!(frob_rel(&vec_of(p.grad(&grads).unwrap()), &flat(&g["dRc_soft_dP"])) < GRAD_TOL);
        let z = z.detach().require_grad();
        let grads = coding_rate_hard(z.clone(), &labels, 0.5, route)
            .unwrap()
            .backward();
        assert!(frob_rel(&vec_of(z.grad(&grads).unwrap()), &flat(&g["dRc_hard_dZ"])) < GRAD_TOL);
    }
    // SSR2 split of the shared vectors (B = 8).
    let b = &MCR2["caseB_ssr2_split_numpy_f64"];
    let z = t2(&inp["Z"], m, d, &test_device());
    let zs = z.clone().select(
        0,
        Tensor::from_data(
            TensorData::new(
                usizes(&b["Z_s_row_indices"])
                    .iter()
                    .map(|&x| x as i64)
                    .collect::<Vec<_>>(),
                [8],
            ),
            &test_device(),
        ),
    );
    check(
        scalar(coding_rate_hard(zs, &usizes(&b["y_s"]), 0.5, LogdetRoute::Host).unwrap()),
        f(&b["Rc_s(m=8,hard,k=2)"]),
        VALUE_TOL,
        "Rc_s",
    );
}

#[test]
fn rates_match_numpy_reference() {
    let dev = test_device().autodiff();
    for case in REF["rates"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (m, d, k) = (
            case["m"].as_u64().unwrap() as usize,
            case["d"].as_u64().unwrap() as usize,
            case["k"].as_u64().unwrap() as usize,
        );
        let eps2 = f(&case["eps2"]);
        let labels = usizes(&case["labels"]);
        for route in ROUTES {
            let z = t2(&case["Z"], m, d, &dev).require_grad();
            let r = coding_rate(z.clone(), eps2, route).unwrap();
            check(
                scalar(r.clone()),
                f(&case["R"]),
                VALUE_TOL,
                &format!("{name} R"),
            );
            let g = vec_of(z.grad(&r.backward()).unwrap());
            let e = frob_rel(&g, &flat(&case["dR_dZ"]));
            assert!(e < GRAD_TOL, "{name} {route:?} dR/dZ rel {e:.2e}");

            let z = z.detach().require_grad();
            let rc = coding_rate_hard(z.clone(), &labels, eps2, route).unwrap();
            check(
                scalar(rc.clone()),
                f(&case["Rc_hard"]),
                VALUE_TOL,
                &format!("{name} Rc hard"),
            );
            let g = vec_of(z.grad(&rc.backward()).unwrap());
            let e = frob_rel(&g, &flat(&case["dRc_hard_dZ"]));
            assert!(e < GRAD_TOL, "{name} {route:?} dRc_hard/dZ rel {e:.2e}");

            let z = z.detach().require_grad();
            let p = t2(&case["P"], m, k, &dev).require_grad();
            let rc = coding_rate_soft(z.clone(), p.clone(), eps2, route).unwrap();
            check(
                scalar(rc.clone()),
                f(&case["Rc_soft"]),
                VALUE_TOL,
                &format!("{name} Rc soft"),
            );
            let grads = rc.backward();
            let e = frob_rel(
                &vec_of(z.grad(&grads).unwrap()),
                &flat(&case["dRc_soft_dZ"]),
            );
            assert!(e < GRAD_TOL, "{name} {route:?} dRc_soft/dZ rel {e:.2e}");
            let e = frob_rel(
                &vec_of(p.grad(&grads).unwrap()),
                &flat(&case["dRc_soft_dP"]),
            );
            assert!(e < GRAD_TOL, "{name} {route:?} dRc_soft/dP rel {e:.2e}");
        }
    }
}

#[test]
fn ssr2_loss_matches_reference() {
    let dev = test_device();
    for case in REF["ssr2"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (b, d, k) = (
            case["B"].as_u64().unwrap() as usize,
            case["d"].as_u64().unwrap() as usize,
            case["K"].as_u64().unwrap() as usize,
        );
        let batch = BatchLabels {
            labelled: bools(&case["labelled"]),
            labels: usizes(&case["labels"]),
        };
        for route in ROUTES {
            let cfg = Ssr2Config {
                eps2: f(&case["eps2"]),
                batch_size: b,
                route,
            };
            for (warmup, key) in [(true, "loss_warmup"), (false, "loss_full")] {
                let terms: Vec<_> = ["img", "txt"]
                    .iter()
                    .map(|m| {
                        let md = &case["modalities"][*m];
                        let t = rate_terms(
                            t2(&md["Z"], 2 * b, d, &dev),
                            t2(&md["logits"], 2 * b, k, &dev),
                            &batch,
                            warmup,
                            &cfg,
                        )
                        .unwrap();
                        check(
                            scalar(t.r.clone()),
                            f(&md["R"]),
                            VALUE_TOL,
                            &format!("{name} {m} R"),
                        );
                        let rcs = f(&md["Rc_s"]);
                        if rcs == 0.0 {
                            assert_eq!(scalar(t.rc_labelled.clone()), 0.0);
                        } else {
                            check(
                                scalar(t.rc_labelled.clone()),
                                rcs,
                                VALUE_TOL,
                                &format!("{name} {m} Rc_s"),
                            );
                        }
                        if !warmup && f(&md["Rc_u"]) != 0.0 {
                            check(
                                scalar(t.rc_unlabelled.clone()),
                                f(&md["Rc_u"]),
                                VALUE_TOL,
                                &format!("{name} {m} Rc_u"),
                            );
                        }
                        t
                    })
                    .collect();
                check(
                    scalar(ssr2_loss(&terms, warmup, b)),
                    f(&case[key]),
                    VALUE_TOL,
                    &format!("{name} {key}"),
                );
            }
        }
    }
}

#[test]
fn classification_block_matches_reference() {
    let dev = test_device();
    for case in REF["cluster"].as_array().unwrap() {
        let (b, k) = (
            case["B"].as_u64().unwrap() as usize,
            case["K"].as_u64().unwrap() as usize,
        );
        let batch = BatchLabels {
            labelled: bools(&case["labelled"]),
            labels: usizes(&case["labels"]),
        };
        let t = branch_loss(
            t2(&case["logits"], 2 * b, k, &dev),
            &batch,
            f(&case["teacher_temp"]),
            &ClusterConfig::default(),
        );
        let sup = f(&case["supervised"]);
        if sup == 0.0 {
            assert_eq!(scalar(t.supervised.clone()), 0.0);
        } else {
            check(scalar(t.supervised), sup, VALUE_TOL, "supervised CE");
        }
        check(scalar(t.distill), f(&case["distill"]), VALUE_TOL, "distill");
        check(
            scalar(t.mean_entropy),
            f(&case["mean_entropy"]),
            1e-3,
            "mean entropy",
        );
        check(
            scalar(t.total),
            f(&case["total"]),
            VALUE_TOL,
            "branch total",
        );
    }
    for (e, want) in REF["teacher_temps"].as_array().unwrap().iter().enumerate() {
        check(
            teacher_temperature(e, 0.035, 0.02, 30),
            f(want),
            1e-12,
            "teacher temperature",
        );
    }
}

#[test]
fn contrastive_baselines_match_reference() {
    let dev = test_device();
    let c = &REF["contrastive"];
    let s = &c["supcon"];
    check(
        scalar(supcon(
            t2(&s["features"], 10, 7, &dev),
            &usizes(&s["labels"]),
            0.07,
        )),
        f(&s["loss"]),
        VALUE_TOL,
        "supcon",
    );
    let n = &c["info_nce"];
    check(
        scalar(info_nce(t2(&n["features"], 12, 9, &dev), 1.0)),
        f(&n["loss"]),
        VALUE_TOL,
        "infonce",
    );
    check(
        scalar(info_nce(t2(&n["features"], 12, 9, &dev), 0.5)),
        f(&n["loss_t0.5"]),
        VALUE_TOL,
        "infonce t=0.5",
    );
    let cl = &c["clip"];
    check(
        scalar(clip_image_to_text(
            t2(&cl["img"], 6, 5, &dev),
            t2(&cl["txt"], 6, 5, &dev),
            100.0,
        )),
        f(&cl["loss"]),
        VALUE_TOL,
        "clip",
    );
}

#[test]
fn classifier_coteach_and_rta_match_reference() {
    let dev = test_device();
    let c = &REF["classifier"];
    let head = CosineClassifier::from_tensors(
        t2(&c["weight"], 5, 6, &dev),
        Tensor::from_data(TensorData::new(flat(&c["gain"]), [5]), &dev),
    );
    let logits = head.forward(t2(&c["z"], 4, 6, &dev));
    let err = vec_of(logits.clone())
        .iter()
        .zip(flat(&c["logits"]))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "classifier logits off by {err}");
    let pred: Vec<usize> = vec_of(predict(logits, Some(t2(&c["logits_txt"], 4, 5, &dev))).float())
        .iter()
        .map(|&x| x as usize)
        .collect();
    assert_eq!(pred, usizes(&c["pred"]));

    let ct = &REF["coteach"];
    let (n, k) = (50, 5);
    let chosen = select_confident(&flat(&ct["scores"]), n, k, 0.6);
    let want: Vec<Option<usize>> = ct["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| usize::try_from(v.as_i64().unwrap()).ok())
        .collect();
    assert_eq!(chosen, want);
    check(
        scalar(pseudo_label_loss(
            t2(&ct["logits"], n, k, &dev),
            &chosen,
            0.1,
        )),
        f(&ct["pseudo_loss"]),
        VALUE_TOL,
        "pseudo-label CE",
    );

    let r = &REF["rta"];
    let out = aggregate(
        Some(t2(&r["base"], 3, 8, &dev)),
        t3(&r["tags"], [3, 4, 8], &dev),
        t3(&r["attributes"], [3, 4, 8], &dev),
        &RtaConfig::default(),
    );
    assert!(frob_rel(&vec_of(out), &flat(&r["out"])) < 1e-5);
    let out = aggregate(
        None,
        t3(&r["tags_single"], [3, 1, 8], &dev),
        t3(&r["attributes"], [3, 4, 8], &dev),
        &RtaConfig::default(),
    );
    assert!(frob_rel(&vec_of(out), &flat(&r["out_single_no_base"])) < 1e-5);
    let top = retrieve(
        t2(&r["queries"], 3, 8, &dev),
        t2(&r["bank"], 20, 8, &dev),
        4,
    );
    let want: Vec<Vec<usize>> = r["top4"].as_array().unwrap().iter().map(usizes).collect();
    assert_eq!(top, want);
}

#[test]
fn metrics_match_scipy_and_numpy() {
    let m = &REF["metrics"];
    for case in m["hungarian"].as_array().unwrap() {
        let acc = cluster_accuracy(
            &usizes(&case["y_true"]),
            &usizes(&case["y_pred"]),
            case["num_old"].as_u64().unwrap() as usize,
        );
        check(acc.all, f(&case["all"]), 1e-12, "All");
        // Equally optimal assignments may move Old/New by one sample (SPEC §2).
        let slack = 1.0 / acc.n as f64 + 1e-12;
        assert!(
            (acc.old - f(&case["old"])).abs() <= slack * 2.0,
            "Old {} vs {}",
            acc.old,
            f(&case["old"])
        );
        assert!(
            (acc.new - f(&case["new"])).abs() <= slack * 2.0,
            "New {} vs {}",
            acc.new,
            f(&case["new"])
        );
    }
    let r = &m["ranks"];
    let labels = usizes(&r["labels"]);
    let feats = flat(&r["features"]);
    let d = feats.len() / labels.len();
    let num_old = r["num_old"].as_u64().unwrap() as usize;
    let ranks = class_ranks(&feats, d, &labels, num_old);
    for (got, want) in ranks.classes.iter().zip(r["classes"].as_array().unwrap()) {
        check(
            got.effective_rank,
            f(&want["effective_rank"]),
            1e-5,
            "effective rank",
        );
        let s: Vec<f32> = got.singular_values.iter().map(|&x| x as f32).collect();
        assert!(frob_rel(&s, &flat(&want["singular_values"])) < 1e-5);
    }
    check(ranks.old_mean, f(&r["old_mean"]), 1e-5, "old mean rank");
    check(ranks.new_mean, f(&r["new_mean"]), 1e-5, "new mean rank");
    for (k, key) in [(10, "k10"), (3, "k3")] {
        let e = edge_ratio(&feats, d, &labels, num_old, k);
        let want = &m["edge_ratio"][key];
        assert_eq!(e.edges, want["edges"].as_u64().unwrap() as usize);
        check(e.all, f(&want["all"]), 1e-12, "edge ratio all");
        check(e.old, f(&want["old"]), 1e-12, "edge ratio old");
        check(e.new, f(&want["new"]), 1e-12, "edge ratio new");
    }
}

/// The batched kernel against the f64 host route on `I + a Z^T Z` batches, from 1 x 1 to the
/// paper's largest block (2B = 256): logdet 1e-4 relative, `M^-1` 1e-3 relative (Frobenius).
/// Sizes around the kernel's 32-unit granularity and past its 256 units (two rows and columns
/// per unit) are included; measured on lavapipe: inverses within 4e-7.
#[test]
fn kernel_route_matches_the_f64_host_route() {
    let dev = test_device();
    if matches!(
        std::env::var("SSR2_TEST_DEVICE").as_deref(),
        Ok("wgpu" | "cuda")
    ) {
        assert_eq!(LogdetRoute::Auto.resolve(&dev), LogdetRoute::Kernel);
        assert_eq!(
            LogdetRoute::Auto.resolve(&dev.clone().autodiff()),
            LogdetRoute::Kernel
        );
    }
    for (k, n, a) in [
        (3, 1, 2.0),
        (4, 5, 8.0),
        (2, 31, 1.0),
        (3, 33, 4.0),
        (2, 64, 16.0),
        (1, 96, 1.0),
        (1, 128, 1.0),
        (1, 200, 1.0),
        (2, 256, 2.0),
        (1, 300, 0.5),
    ] {
        let rows = n + 7;
        let z = uniform(k * rows * n, (k * 1000 + n) as u64);
        let z = Tensor::<3>::from_data(TensorData::new(z, [k, rows, n]), &dev);
        let gram = z
            .clone()
            .swap_dims(1, 2)
            .matmul(z)
            .mul_scalar(a / rows as f64);
        let eye = Tensor::<2>::eye(n, &dev).unsqueeze_dim::<3>(0);
        let m = gram + eye;
        let (ld_h, inv_h) =
            ssr2_core::logdet::spd_logdet_inv(m.clone(), true, LogdetRoute::Host).unwrap();
        let (ld_k, inv_k) =
            ssr2_core::logdet::spd_logdet_inv(m, true, LogdetRoute::Kernel).unwrap();
        for (b, (x, y)) in vec_of(ld_k).iter().zip(vec_of(ld_h)).enumerate() {
            check(
                *x as f64,
                y as f64,
                VALUE_TOL,
                &format!("logdet k={k} n={n} block {b}"),
            );
        }
        let e = frob_rel(&vec_of(inv_k.unwrap()), &vec_of(inv_h.unwrap()));
        assert!(e < GRAD_TOL, "inverse k={k} n={n}: rel {e:.2e}");
    }
}

/// Deterministic uniform values in [-1, 1) (a 64-bit LCG; the numbers only need to be fixed).
fn uniform(len: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The coding rates' Gram products keep full f32 precision on the device under test: against an
/// f64 product on the host, the error stays at f32 rounding (TF32 tensor cores, 10-bit mantissas,
/// would be off by ~1e-3). Includes a broadcast right-hand side, as the soft d-side uses.
#[test]
fn gram_products_are_full_f32() {
    let dev = test_device();
    for (k, kr, p, r, q) in [(3, 3, 40, 300, 50), (4, 1, 7, 512, 9)] {
        let a = uniform(k * p * r, 11 + p as u64);
        let b = uniform(kr * r * q, 12 + q as u64);
        let lhs = Tensor::<3>::from_data(TensorData::new(a.clone(), [k, p, r]), &dev);
        let rhs = Tensor::<3>::from_data(TensorData::new(b.clone(), [kr, r, q]), &dev);
        let ours = vec_of(ssr2_core::logdet::gram_matmul(lhs.clone(), rhs.clone()));
        let mut worst = 0f64;
        for bi in 0..k {
            let rb = if kr == 1 { 0 } else { bi };
            for i in 0..p {
                for j in 0..q {
                    let (mut exact, mut mag) = (0f64, 0f64);
                    for t in 0..r {
                        let x = a[bi * p * r + i * r + t] as f64 * b[rb * r * q + t * q + j] as f64;
                        exact += x;
                        mag += x.abs();
                    }
                    let got = ours[bi * p * q + i * q + j] as f64;
                    worst = worst.max((got - exact).abs() / mag);
                }
            }
        }
        assert!(
            worst < 1e-5,
            "[{k},{p},{r}]x[{kr},{r},{q}]: error {worst:.2e} of sum |terms|"
        );
        // Gradients flow as through an ordinary matmul.
        let lhs = lhs.autodiff().require_grad();
        let grads = ssr2_core::logdet::gram_matmul(lhs.clone(), rhs.clone().autodiff())
            .sum()
            .backward();
        let want = vec_of(rhs.sum_dim(2).reshape([kr, 1, r]).expand([k, p, r]));
        assert!(frob_rel(&vec_of(lhs.grad(&grads).unwrap()), &want) < 1e-6);
    }
}
