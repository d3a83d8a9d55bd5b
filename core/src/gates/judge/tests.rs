use proptest::prelude::*;

use super::*;
use crate::api::{Compare, CompareAgainst};

const INF: f64 = f64::INFINITY;

fn gate(min: Option<f64>, max: Option<f64>, max_increase: Option<&str>) -> Gate {
    Gate {
        name: "errors".into(),
        query: "x".into(),
        min,
        max,
        compare: max_increase.map(|m| Compare {
            against: CompareAgainst::Stable,
            max_increase: m.into(),
        }),
        interval: None,
        failure_limit: None,
        on_no_data: None,
        sequential: None,
        alert: None,
        msprt: None,
        kayenta: None,
        dry_run: false,
        error_limit: None,
    }
}

fn ok(values: &[f64]) -> Measurement {
    Ok(values.to_vec())
}

fn verdict(gate: &Gate, canary: &[f64]) -> Verdict {
    judge(gate, &ok(canary), None).verdict
}

#[test]
fn absolute_bounds_are_inclusive() {
    let at_most = gate(None, Some(0.01), None);
    let at_least = gate(Some(0.99), None, None);
    let cases = [
        (&at_most, 0.01, Verdict::Pass),
        (&at_most, 0.0, Verdict::Pass),
        (&at_most, 0.0101, Verdict::Fail),
        (&at_least, 0.99, Verdict::Pass),
        (&at_least, 0.5, Verdict::Fail),
        (&at_most, INF, Verdict::Fail),
        (&at_most, -INF, Verdict::Pass),
        (&at_least, -INF, Verdict::Fail),
        (&at_least, INF, Verdict::Pass),
    ];
    for (gate, value, want) in cases {
        assert_eq!(
            verdict(gate, &[value]),
            want,
            "{value} against {:?}/{:?}",
            gate.min,
            gate.max
        );
    }
}

#[test]
fn judgement_reports_value_threshold_and_message() {
    let j = judge(&gate(Some(0.9), Some(1.1), None), &ok(&[1.2]), None);
    assert_eq!(j.verdict, Verdict::Fail);
    assert_eq!(j.value, Some(1.2));
    assert_eq!(j.threshold.as_deref(), Some(">= 0.9 and <= 1.1"));
    assert_eq!(j.message, "1.2 breaks >= 0.9 and <= 1.1");
    assert_eq!(j.stable_value, None);
}

#[test]
fn prometheus_errors_are_errors_never_passes() {
    let j = judge(
        &gate(None, Some(1.0), None),
        &Err("connection refused".into()),
        None,
    );
    assert_eq!(
        (j.verdict, j.message.as_str()),
        (Verdict::Error, "query failed: connection refused")
    );
    let compare = gate(None, None, Some("20%"));
    assert_eq!(
        judge(&compare, &ok(&[0.0]), Some(&Err("timeout".into()))).verdict,
        Verdict::Error
    );
    assert_eq!(judge(&compare, &ok(&[0.0]), None).verdict, Verdict::Error);
    assert_eq!(
        judge(&gate(None, None, None), &ok(&[0.0]), None).verdict,
        Verdict::Error
    );
    assert_eq!(
        judge(
            &gate(None, None, Some("lots")),
            &ok(&[0.0]),
            Some(&ok(&[0.0]))
        )
        .verdict,
        Verdict::Error
    );
}

#[test]
fn empty_results_and_nan_are_no_data() {
    let max = gate(None, Some(1.0), None);
    assert_eq!(verdict(&max, &[]), Verdict::NoData);
    assert_eq!(verdict(&max, &[f64::NAN]), Verdict::NoData);
    assert_eq!(verdict(&max, &[0.5, f64::NAN, 2.0]), Verdict::NoData);
    assert_eq!(
        judge(&max, &ok(&[]), None).message,
        "query returned no data"
    );
}

#[test]
fn every_series_must_pass_and_the_worst_is_reported() {
    let max = gate(None, Some(1.0), None);
    let j = judge(&max, &ok(&[0.2, 1.5, 0.9, 3.0]), None);
    assert_eq!((j.verdict, j.value), (Verdict::Fail, Some(3.0)));
    assert_eq!(j.message, "3 breaks <= 1 (worst of 4 series, 2 failing)");
    let j = judge(&max, &ok(&[0.2, 0.9, 0.5]), None);
    assert_eq!((j.verdict, j.value), (Verdict::Pass, Some(0.9)));
    // With both bounds, the worst is whichever is furthest outside (or closest to the edge).
    let band = gate(Some(0.0), Some(10.0), None);
    assert_eq!(
        judge(&band, &ok(&[9.0, -5.0, 12.0]), None).value,
        Some(-5.0)
    );
    assert_eq!(judge(&band, &ok(&[9.5, 0.2, 5.0]), None).value, Some(0.2));
}

#[test]
fn relative_compare_allows_the_increase_over_stable() {
    let g = gate(None, None, Some("20%"));
    let j = judge(&g, &ok(&[0.0119]), Some(&ok(&[0.01])));
    assert_eq!((j.verdict, j.stable_value), (Verdict::Pass, Some(0.01)));
    assert_eq!(j.threshold.as_deref(), Some("<= stable + 20% (0.012)"));
    assert_eq!(
        judge(&g, &ok(&[0.0121]), Some(&ok(&[0.01]))).verdict,
        Verdict::Fail
    );
    assert_eq!(
        judge(&g, &ok(&[0.001]), Some(&ok(&[0.01]))).verdict,
        Verdict::Pass
    );
}

#[test]
fn relative_compare_with_stable_zero_allows_no_increase() {
    let g = gate(None, None, Some("20%"));
    assert_eq!(
        judge(&g, &ok(&[0.0]), Some(&ok(&[0.0]))).verdict,
        Verdict::Pass
    );
    assert_eq!(
        judge(&g, &ok(&[1e-9]), Some(&ok(&[0.0]))).verdict,
        Verdict::Fail
    );
    // The absolute form is the way to allow slack over a zero baseline.
    let g = gate(None, None, Some("0.001"));
    assert_eq!(
        judge(&g, &ok(&[0.0005]), Some(&ok(&[0.0]))).verdict,
        Verdict::Pass
    );
}

#[test]
fn relative_compare_never_tightens_below_a_negative_stable() {
    let g = gate(None, None, Some("20%"));
    let j = judge(&g, &ok(&[-10.0]), Some(&ok(&[-10.0])));
    assert_eq!(
        (j.verdict, j.threshold.as_deref()),
        (Verdict::Pass, Some("<= stable + 20% (-8)"))
    );
    assert_eq!(
        judge(&g, &ok(&[-7.0]), Some(&ok(&[-10.0]))).verdict,
        Verdict::Fail
    );
}

#[test]
fn absolute_compare_adds_to_stable() {
    let g = gate(None, None, Some("0.01"));
    let j = judge(&g, &ok(&[0.51]), Some(&ok(&[0.5])));
    assert_eq!(
        (j.verdict, j.threshold.as_deref()),
        (Verdict::Pass, Some("<= stable + 0.01 (0.51)"))
    );
    assert_eq!(
        judge(&g, &ok(&[0.52]), Some(&ok(&[0.5]))).verdict,
        Verdict::Fail
    );
}

#[test]
fn compare_uses_the_lowest_stable_series_and_other_bounds_still_hold() {
    let g = gate(None, Some(0.05), Some("0.01"));
    let j = judge(&g, &ok(&[0.025]), Some(&ok(&[0.03, 0.01])));
    assert_eq!((j.verdict, j.stable_value), (Verdict::Fail, Some(0.01)));
    assert_eq!(
        j.threshold.as_deref(),
        Some("<= 0.05 and <= stable + 0.01 (0.02)")
    );
    assert_eq!(
        judge(&g, &ok(&[0.06]), Some(&ok(&[0.1]))).verdict,
        Verdict::Fail
    );
}

#[test]
fn compare_without_a_usable_stable_value_is_no_data() {
    let g = gate(None, None, Some("20%"));
    for stable in [vec![], vec![f64::NAN], vec![INF], vec![-INF, 1.0]] {
        let j = judge(&g, &ok(&[0.0]), Some(&Ok(stable.clone())));
        assert_eq!(
            j.verdict,
            Verdict::NoData,
            "stable {stable:?}: {}",
            j.message
        );
    }
    assert_eq!(
        judge(&g, &ok(&[0.0]), Some(&ok(&[]))).message,
        "stable query returned no data"
    );
    assert_eq!(
        judge(&g, &ok(&[INF]), Some(&ok(&[1.0]))).verdict,
        Verdict::Fail
    );
}

#[test]
fn no_data_policy_decides_only_no_data() {
    use NoDataPolicy::*;
    let cases = [
        (Verdict::NoData, Fail, Verdict::Fail),
        (Verdict::NoData, Pass, Verdict::Pass),
        (Verdict::NoData, Hold, Verdict::NoData),
        (Verdict::Error, Pass, Verdict::Error),
        (Verdict::Error, Fail, Verdict::Error),
        (Verdict::Fail, Pass, Verdict::Fail),
        (Verdict::Pass, Fail, Verdict::Pass),
    ];
    for (verdict, policy, want) in cases {
        assert_eq!(
            apply_no_data_policy(verdict, policy),
            want,
            "{verdict:?} under {policy:?}"
        );
    }
    assert_eq!(
        apply_no_data_policy(Verdict::NoData, NoDataPolicy::default()),
        Verdict::Fail
    );
}

#[test]
fn max_increase_parses_percent_and_absolute() {
    assert_eq!(MaxIncrease::parse("20%"), Ok(MaxIncrease::Relative(0.2)));
    assert_eq!(MaxIncrease::parse("0.01"), Ok(MaxIncrease::Absolute(0.01)));
    assert_eq!(
        MaxIncrease::parse("1.5%").map(|m| m.to_string()),
        Ok("1.5%".into())
    );
    for bad in ["", "%", "abc", "-1", "inf", "NaN%"] {
        assert!(MaxIncrease::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn numbers_are_printed_without_float_noise() {
    let cases = [
        (0.012000000000000002, "0.012"),
        (1e-9, "1e-9"),
        (2.5e20, "2.5e20"),
        (-8.0, "-8"),
        (0.0, "0"),
        (INF, "inf"),
    ];
    for (v, want) in cases {
        assert_eq!(number(v), want);
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![4 => -2.0..2.0f64, 1 => any::<f64>(), 1 => Just(INF), 1 => Just(-INF), 1 => Just(0.0)]
}

fn measurement() -> impl Strategy<Value = Measurement> {
    prop_oneof![
        4 => prop::collection::vec(value(), 0..4).prop_map(Ok),
        1 => Just(Err("unreachable".to_owned())),
        1 => Just(Ok(vec![f64::NAN])),
    ]
}

fn any_gate() -> impl Strategy<Value = Gate> {
    let bound = prop::option::of(-2.0..2.0f64);
    let increase = prop::option::of(prop_oneof![
        Just("0%"),
        Just("20%"),
        Just("0.01"),
        Just("1")
    ]);
    (bound.clone(), bound, increase).prop_map(|(min, max, increase)| gate(min, max, increase))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_value_outside_the_bounds_never_passes(g in any_gate(), canary in measurement(), stable in measurement()) {
        let j = judge(&g, &canary, Some(&stable));
        if j.verdict == Verdict::Pass {
            let canary = canary.unwrap();
            prop_assert!(!canary.is_empty());
            for v in canary {
                prop_assert!(g.min.is_none_or(|min| v >= min), "{v} < min");
                prop_assert!(g.max.is_none_or(|max| v <= max), "{v} > max");
                if let Some(compare) = &g.compare {
                    let baseline = stable.as_ref().unwrap().iter().copied().fold(INF, f64::min);
                    prop_assert!(v <= MaxIncrease::parse(&compare.max_increase).unwrap().limit(baseline));
                }
            }
        }
    }

    #[test]
    fn no_data_and_errors_pass_only_when_on_no_data_says_so(
        g in any_gate(),
        canary in measurement(),
        stable in measurement(),
        policy in prop_oneof![Just(NoDataPolicy::Fail), Just(NoDataPolicy::Hold), Just(NoDataPolicy::Pass)],
    ) {
        let raw = judge(&g, &canary, Some(&stable)).verdict;
        let decided = apply_no_data_policy(raw, policy);
        if canary.is_err() {
            prop_assert_eq!(raw, Verdict::Error);
        }
        match raw {
            Verdict::Error => prop_assert_eq!(decided, Verdict::Error),
            Verdict::NoData if policy != NoDataPolicy::Pass => prop_assert_ne!(decided, Verdict::Pass),
            _ => {}
        }
        if matches!(&canary, Ok(v) if v.is_empty() || v.iter().any(|x| x.is_nan())) {
            prop_assert_ne!(raw, Verdict::Pass);
        }
    }
}

/// A gate's kind is decided once from its spec; what it needs follows from the kind.
#[test]
fn a_gate_is_a_threshold_or_a_comparison_and_nothing_else() {
    assert_eq!(
        Kind::of(&gate(None, Some(0.01), None)),
        Ok(Kind::Threshold {
            min: None,
            max: Some(0.01)
        })
    );
    let compare = Kind::of(&gate(Some(0.0), None, Some("20%"))).unwrap();
    assert_eq!(
        compare,
        Kind::Compare {
            max_increase: MaxIncrease::Relative(0.2),
            min: Some(0.0),
            max: None
        }
    );
    assert!(compare.needs_baseline());
    assert!(
        !Kind::of(&gate(Some(1.0), None, None))
            .unwrap()
            .needs_baseline()
    );
    let none = Kind::of(&gate(None, None, None)).unwrap_err();
    assert_eq!(
        (none.field.as_str(), none.message.as_str()),
        (
            "",
            "a gate needs min, max, compare, sequential, alert, msprt or kayenta"
        )
    );
    let bad = Kind::of(&gate(None, None, Some("lots"))).unwrap_err();
    assert_eq!(bad.field, "compare.maxIncrease");
}

/// Preflight asks of stable only whether the query runs and returns data.
#[test]
fn preflight_tells_a_broken_query_from_no_data_from_data() {
    let cases: [(Measurement, Verdict); 5] = [
        (Err("bad_data: parse error".into()), Verdict::Error),
        (Ok(vec![]), Verdict::NoData),
        (Ok(vec![0.1, f64::NAN]), Verdict::NoData),
        (Ok(vec![0.0]), Verdict::Pass),
        (Ok(vec![INF]), Verdict::Pass),
    ];
    for (m, want) in cases {
        let j = preflight(&m);
        assert_eq!(j.verdict, want, "{m:?}");
        assert_eq!(j.message.is_empty(), m.is_ok(), "{m:?}");
    }
}

fn msprt_test() -> crate::gates::Msprt {
    crate::gates::Msprt {
        test: crate::gates::msprt::Test {
            alpha: 0.001,
            tolerance: 0.0,
            direction: crate::api::Direction::Increase,
            burn_in: 5,
        },
        on_inconclusive: crate::api::InconclusivePolicy::Hold,
    }
}

/// The mSPRT gate's answers before and around its statistics: not started, one series per
/// track or an error, no data inconclusive while the stage's series fill, then no data.
#[test]
fn an_msprt_gate_needs_one_series_per_track_and_time_to_fill_them() {
    let one: RangeMeasurement = Ok(vec![(0..10).map(|i| (i, 0.3)).collect()]);
    let stable: RangeMeasurement = Ok(vec![(0..10).map(|i| (i, 0.1)).collect()]);
    let m = msprt_test();
    let j = judge_series("latency", &m, &one, &stable, None);
    assert_eq!(j.verdict, Verdict::Inconclusive);
    let two: RangeMeasurement = Ok(vec![vec![(0, 0.1)], vec![(0, 0.2)]]);
    let j = judge_series("latency", &m, &one, &two, Some(60));
    assert_eq!(j.verdict, Verdict::Error);
    assert!(
        j.message.starts_with("stable query returned 2 series"),
        "{}",
        j.message
    );
    let empty: RangeMeasurement = Ok(vec![]);
    assert_eq!(
        judge_series("latency", &m, &empty, &stable, Some(10)).verdict,
        Verdict::Inconclusive
    );
    assert_eq!(
        judge_series("latency", &m, &empty, &stable, Some(60)).verdict,
        Verdict::NoData
    );
    let failed: RangeMeasurement = Err("timeout".into());
    assert_eq!(
        judge_series("latency", &m, &one, &failed, Some(60)).message,
        "stable query failed: timeout"
    );
    // Ten pairs of exactly 3×: past the earliest verdict at α = 0.001, a regression.
    let j = judge_series("latency", &m, &one, &stable, Some(10));
    assert_eq!(j.verdict, Verdict::Fail, "{}", j.message);
    assert_eq!(j.evidence.unwrap().intervals, Some(10));
}
