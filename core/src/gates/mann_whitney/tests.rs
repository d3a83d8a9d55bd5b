use super::*;

/// R's answers (`reference.R`, R 4.2.2): name | conf.level | x | y | W p low high estimate.
const REFERENCE: &str = include_str!("reference.txt");

fn numbers(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect()
}

#[test]
fn matches_r_wilcox_test_on_fixed_inputs_ties_included() {
    let mut cases = 0;
    for line in REFERENCE.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split('|').collect();
        let name = parts[0].trim();
        let conf = numbers(parts[1])[0];
        let (x, y) = (numbers(parts[2]), numbers(parts[3]));
        let want = numbers(parts[4]);
        let got = test(&x, &y, conf).unwrap_or_else(|e| panic!("{name}: {e}"));
        let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs().max(1.0);
        assert_eq!(got.w, want[0], "{name}: W");
        assert!(
            close(got.p_value, want[1], 1e-9),
            "{name}: p {} vs {}",
            got.p_value,
            want[1]
        );
        for (what, g, w) in [
            ("conf.low", got.low, want[2]),
            ("conf.high", got.high, want[3]),
            ("estimate", got.estimate, want[4]),
        ] {
            assert!(close(g, w, 1e-9), "{name}: {what} {g} vs R's {w}");
        }
        cases += 1;
    }
    assert_eq!(cases, 6);
}

#[test]
fn all_ties_have_no_interval_and_empty_samples_no_test() {
    assert_eq!(
        test(&[1.0, 1.0], &[1.0, 1.0], 0.98),
        Err(MannWhitneyError::AllTied)
    );
    assert_eq!(test(&[], &[1.0], 0.98), Err(MannWhitneyError::Empty));
    assert_eq!(
        test(&[f64::NAN], &[1.0], 0.98),
        Err(MannWhitneyError::NotFinite)
    );
}

#[test]
fn the_normal_quantile_and_cdf_are_exact_to_double_precision() {
    // qnorm(0.99) and qnorm(0.025) in R.
    assert!((normal_quantile(0.99) - 2.326_347_874_040_840_8).abs() < 1e-14);
    assert!((normal_quantile(0.025) + 1.959_963_984_540_054).abs() < 1e-14);
    assert!((normal_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-15);
    assert!((normal_cdf(8.0) - 1.0).abs() < 1e-15 && normal_cdf(-8.0) < 1e-14);
}
