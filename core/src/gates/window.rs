//! How far back a query looks: the longest range selector (`[5m]`, `[1h30m:1m]`) in it. After
//! Prometheus comes back, a `rate()` over that range has no samples until it has filled again,
//! so no data in that time says nothing about the release.

use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;

/// The longest range in `query`, if it has any.
pub fn longest_range(query: &str) -> Option<Duration> {
    static RANGE: OnceLock<Regex> = OnceLock::new();
    let range = RANGE.get_or_init(|| {
        Regex::new(r"\[\s*((?:[0-9]+(?:ms|[smhdwy]))+)\s*(?::[^\]]*)?\]").expect("a valid regex")
    });
    range
        .captures_iter(query)
        .filter_map(|c| parse(&c[1]))
        .max()
}

/// A Prometheus duration: `1h30m`, `5s`, `250ms`.
fn parse(text: &str) -> Option<Duration> {
    static PART: OnceLock<Regex> = OnceLock::new();
    let part = PART.get_or_init(|| Regex::new(r"([0-9]+)(ms|[smhdwy])").expect("a valid regex"));
    let mut total = Duration::ZERO;
    for c in part.captures_iter(text) {
        let n: u64 = c[1].parse().ok()?;
        let unit = match &c[2] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "w" => Duration::from_secs(7 * 86_400),
            _ => Duration::from_secs(365 * 86_400),
        };
        total = total.checked_add(unit.checked_mul(u32::try_from(n).ok()?)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_range_selector_is_the_window() {
        let q = r#"sum(rate(x{a="[1h]"}[5s])) / sum(rate(y[1m30s])) + max_over_time(z[10m:1m])"#;
        // A label value that looks like a range is a range too here: the grace only grows.
        assert_eq!(longest_range(q), Some(Duration::from_secs(3600)));
        assert_eq!(
            longest_range("rate(x[5s]) + rate(y[1m30s])"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(longest_range("up"), None);
        assert_eq!(
            longest_range("rate(x[250ms])"),
            Some(Duration::from_millis(250))
        );
    }
}
