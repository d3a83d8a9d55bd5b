use super::*;
use crate::api::{Direction, Gate, KayentaGate, KayentaMetric as ApiMetric, ScoreThresholds};
use crate::gates::Kind;

fn metric(name: &str, critical: bool) -> ApiMetric {
    ApiMetric {
        name: name.into(),
        query: format!("{name}{{track=\"{{{{track}}}}\"}}"),
        group: None,
        direction: Some(Direction::Increase),
        critical,
        must_have_data: false,
        nan_strategy: None,
        effect_size: None,
    }
}

fn config(metrics: Vec<ApiMetric>) -> Kayenta {
    let gate = Gate {
        kayenta: Some(KayentaGate {
            metrics,
            group_weights: Default::default(),
            score_thresholds: ScoreThresholds {
                marginal: 75.0,
                pass: 95.0,
            },
            min_points: None,
        }),
        ..serde_json::from_value(serde_json::json!({"name": "canary"})).unwrap()
    };
    match Kind::of(&gate).unwrap() {
        Kind::Kayenta(k) => k,
        other => panic!("not a kayenta gate: {other:?}"),
    }
}

/// `n` points around `base`, one per 2 s step, with a deterministic wobble.
fn series(base: f64, n: usize) -> RangeMeasurement {
    Ok(vec![
        (0..n)
            .map(|i| {
                let wobble = 0.002 * (((i * 7919) % 13) as f64 - 6.0);
                (1_000 + 2 * i as i64, base + wobble)
            })
            .collect(),
    ])
}

fn window(age: u64, bake: u64) -> Window {
    Window {
        age: Some(Duration::from_secs(age)),
        bake: Duration::from_secs(bake),
        interval: Duration::from_secs(2),
    }
}

fn measured(canary: f64, stable: f64, n: usize) -> Measured {
    Measured {
        canary: series(canary, n),
        stable: series(stable, n),
    }
}

#[test]
fn nothing_is_judged_before_the_window_holds_min_points() {
    let k = config(vec![metric("latency", false)]);
    let j = judge(&k, &[measured(0.9, 0.2, 9)], &window(18, 60));
    assert_eq!(j.verdict, Verdict::Inconclusive);
    assert_eq!(
        j.message,
        "gathering points: 9 of the 10 intervals the test needs"
    );
    let before_ready = Window {
        age: None,
        ..window(0, 60)
    };
    assert_eq!(
        judge(&k, &[measured(0.9, 0.2, 0)], &before_ready).verdict,
        Verdict::Inconclusive
    );
}

/// Spinnaker's canary stage: below marginal fails at once; at or above it waits for the end
/// of the bake, where only the pass score passes.
#[test]
fn a_score_below_marginal_fails_early_and_the_bake_end_needs_pass() {
    // Four metrics, one regressed: score 75 (marginal, not pass).
    let k = config(
        ["a", "b", "c", "d"]
            .iter()
            .map(|n| metric(n, false))
            .collect(),
    );
    let one_bad = [
        measured(0.3, 0.2, 20),
        measured(0.2, 0.2, 20),
        measured(0.2, 0.2, 20),
        measured(0.2, 0.2, 20),
    ];
    let during = judge(&k, &one_bad, &window(40, 60));
    assert_eq!(during.verdict, Verdict::Inconclusive, "{}", during.message);
    assert_eq!(during.value, Some(75.0));
    let after = judge(&k, &one_bad, &window(60, 60));
    assert_eq!(after.verdict, Verdict::Fail, "{}", after.message);
    let two_bad = [
        measured(0.3, 0.2, 20),
        measured(0.3, 0.2, 20),
        measured(0.2, 0.2, 20),
        measured(0.2, 0.2, 20),
    ];
    let early = judge(&k, &two_bad, &window(40, 60));
    assert_eq!(early.verdict, Verdict::Fail);
    assert!(early.message.contains("fails early: below marginal"));
    let healthy = [
        measured(0.2, 0.2, 30),
        measured(0.2, 0.2, 30),
        measured(0.2, 0.2, 30),
        measured(0.2, 0.2, 30),
    ];
    assert_eq!(judge(&k, &healthy, &window(60, 60)).verdict, Verdict::Pass);
}

#[test]
fn the_evidence_names_each_metric_with_its_class_shift_and_effect() {
    let k = config(vec![metric("latency", true), metric("errors", false)]);
    let j = judge(
        &k,
        &[measured(0.6, 0.2, 30), measured(0.01, 0.01, 30)],
        &window(60, 60),
    );
    assert_eq!(j.verdict, Verdict::Fail);
    let e = j.evidence.unwrap();
    assert_eq!(e.test, "kayenta");
    assert_eq!(e.statistic, 0.0, "a critical metric failed");
    assert_eq!(e.intervals, Some(30));
    assert_eq!(e.metrics[0].class, "High");
    assert!(e.metrics[0].critical);
    let shift = e.metrics[0].shift.unwrap();
    assert!((shift - 0.4).abs() < 0.01, "{shift}");
    assert!(e.metrics[0].shift_low.unwrap() > 0.3);
    assert!((e.ratio - 3.0).abs() < 0.05, "{}", e.ratio);
    assert_eq!(e.metrics[1].class, "Pass");
    assert!(
        e.summary.starts_with(
            "Kayenta score 0 fails: below the pass score at the end of the bake (pass 95, marginal 75), after 30 intervals: latency High (critical) (shift +0.4"
        ) && e.summary.contains("mean ratio 3.01×); errors Pass"),
        "{}",
        e.summary
    );
}

#[test]
fn a_failed_query_is_an_error_and_never_a_score() {
    let k = config(vec![metric("latency", false)]);
    let broken = Measured {
        canary: Err("bad_data: parse error".into()),
        stable: series(0.2, 20),
    };
    let j = judge(&k, &[broken], &window(60, 60));
    assert_eq!(j.verdict, Verdict::Error);
    assert_eq!(
        j.message,
        "latency canary query failed: bad_data: parse error"
    );
}

#[test]
fn preflight_holds_on_what_kayenta_would_score_as_a_failure() {
    let mut must = metric("latency", false);
    must.must_have_data = true;
    let k = config(vec![
        must,
        metric("errors", false),
        metric("saturation", false),
    ]);
    let cases: [(&[Measurement], Verdict); 4] = [
        (&[Ok(vec![0.2]), Ok(vec![]), Ok(vec![0.5])], Verdict::Pass),
        (&[Ok(vec![]), Ok(vec![1.0]), Ok(vec![0.5])], Verdict::NoData),
        (&[Ok(vec![0.2]), Ok(vec![]), Ok(vec![])], Verdict::NoData),
        (
            &[Ok(vec![0.2]), Err("bad_data".into()), Ok(vec![0.5])],
            Verdict::Error,
        ),
    ];
    for (m, want) in cases {
        assert_eq!(preflight(&k, m).verdict, want, "{m:?}");
    }
}
