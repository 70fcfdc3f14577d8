//! Numeric properties under extreme inputs: coding rates and metrics return a value or an error
//! for any finite input (huge and tiny magnitudes, empty and zero-width shapes, huge ids), never
//! a panic or an allocation sized by an id. Fixed case budgets keep CI fast.

use burn::prelude::*;
use proptest::prelude::*;
use ssr2_core::metrics::{cluster_accuracy, effective_rank_from_singular_values, singular_values};
use ssr2_core::{LogdetRoute, coding_rate, coding_rate_hard, coding_rate_soft};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Finite f32 values across the whole range, with the awkward ones over-represented.
fn extreme() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -2.0f32..2.0,
        1 => prop::sample::select(vec![
            0.0f32, -0.0, 1e-38, -1e-38, 1e-45, 1e10, -1e10, 1e20, 1e30, -1e30, f32::MAX, f32::MIN,
        ]),
        1 => any::<f32>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn eps2() -> impl Strategy<Value = f64> {
    prop::sample::select(vec![
        0.5,
        1e-3,
        1e-30,
        1e-45,
        f32::MIN_POSITIVE as f64,
        1e30,
        1e300,
    ])
}

fn value(t: Tensor<1>) -> f32 {
    t.try_into_vec_as::<f32>().unwrap()[0]
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn rates_are_values_or_errors(
        (m, d, z) in (0usize..7, 0usize..7).prop_flat_map(|(m, d)| {
            (Just(m), Just(d), prop::collection::vec(extreme(), m * d))
        }),
        eps2 in eps2(),
        ids in prop::collection::vec(
            prop::sample::select(vec![0usize, 1, 2, 1 << 40, usize::MAX]), 7),
        route in prop::sample::select(vec![LogdetRoute::Host, LogdetRoute::Tensor]),
    ) {
        let device = Device::flex();
        let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [m, d]), &device);
        // The host route reports failures; the tensor route may give NaN but must not panic.
        let check = |r: Result<Tensor<1>, _>| {
            if let Ok(t) = r {
                let v = value(t);
                assert!(route == LogdetRoute::Tensor || v.is_finite(), "host route: {v}");
            }
        };
        check(coding_rate(zt.clone(), eps2, route));
        check(coding_rate_hard(zt.clone(), &ids[..m], eps2, route));
        let p = Tensor::<2>::full([m, 3], 1.0 / 3.0, &device);
        check(coding_rate_soft(zt, p, eps2, route));
    }

    #[test]
    fn moderate_inputs_always_succeed_with_rc_below_r(
        (m, d, z) in (1usize..9, 1usize..9).prop_flat_map(|(m, d)| {
            (Just(m), Just(d), prop::collection::vec(-1e3f32..1e3, m * d))
        }),
        ids in prop::collection::vec(prop::sample::select(vec![3usize, 1 << 50, 17]), 9),
    ) {
        let device = Device::flex();
        let zt = Tensor::<2>::from_data(TensorData::new(z, [m, d]), &device);
        let r = value(coding_rate(zt.clone(), 0.5, LogdetRoute::Host).unwrap());
        let rc = value(coding_rate_hard(zt, &ids[..m], 0.5, LogdetRoute::Host).unwrap());
        prop_assert!(r.is_finite() && rc.is_finite());
        prop_assert!(rc <= r * (1.0 + 1e-4) + 1e-4, "R_c {} > R {}", rc, r);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn accuracy_of_any_ids(
        pairs in prop::collection::vec(
            (prop_oneof![0usize..5, Just(usize::MAX), Just(1usize << 40), any::<usize>()],
             prop_oneof![0usize..5, Just(usize::MAX), Just(1usize << 40), any::<usize>()]),
            0..40),
        num_old in prop_oneof![0usize..6, Just(usize::MAX)],
    ) {
        let (t, p): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let acc = cluster_accuracy(&t, &p, num_old);
        prop_assert_eq!(acc.n, t.len());
        if !t.is_empty() {
            prop_assert!((0.0..=1.0).contains(&acc.all));
            // Relabelling clusters one-to-one cannot change the score.
            let shifted: Vec<usize> = p.iter().map(|&x| x ^ 1).collect();
            prop_assert_eq!(cluster_accuracy(&t, &shifted, num_old).all, acc.all);
        }
    }

    #[test]
    fn spectra_of_any_values(
        (n, d, rows) in (0usize..5, 0usize..5).prop_flat_map(|(n, d)| {
            (Just(n), Just(d), prop::collection::vec(
                prop_oneof![extreme(), Just(f32::NAN), Just(f32::INFINITY)], n * d))
        }),
    ) {
        let s = singular_values(&rows, n, d);
        prop_assert_eq!(s.len(), if n == 0 || d == 0 { 0 } else { n.min(d) });
        let _ = effective_rank_from_singular_values(&s);
    }
}

/// Regressions from the audit: each once panicked in the Cholesky or aborted on allocation.
#[test]
fn audit_regressions() {
    let device = Device::flex();
    let big = Tensor::<2>::from_data(TensorData::new(vec![1e25f32; 20 * 6], [20, 6]), &device);
    assert!(coding_rate(big, 0.5, LogdetRoute::Host).is_err());
    let z = Tensor::<2>::from_data(TensorData::new(vec![0.3f32; 20 * 6], [20, 6]), &device);
    assert!(coding_rate(z.clone(), f32::MIN_POSITIVE as f64 / 4.0, LogdetRoute::Host).is_err());
    let empty = Tensor::<2>::zeros([20, 0], &device);
    assert_eq!(
        value(coding_rate(empty, 0.5, LogdetRoute::Host).unwrap()),
        0.0
    );
    let mut ids = vec![0usize; 20];
    ids[3] = 1 << 40;
    ids[4] = 10_000_000;
    let started = std::time::Instant::now();
    assert!(value(coding_rate_hard(z, &ids, 0.5, LogdetRoute::Host).unwrap()).is_finite());
    assert!(
        started.elapsed().as_secs() < 5,
        "ids must not size the work"
    );
    let acc = cluster_accuracy(&[0, 1 << 40], &[1 << 40, 0], 1);
    assert_eq!(acc.all, 1.0);
}
