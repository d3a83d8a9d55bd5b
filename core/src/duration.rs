//! Go-style durations as they appear in the API (`30s`, `5m`, `1h30m`, `500ms`).

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {value:?} is not a duration like 30s, 5m or 1h30m")]
pub struct DurationError {
    pub field: String,
    pub value: String,
}

/// Parses a duration made of `<number><unit>` pairs, units `ms`, `s`, `m`, `h`.
pub fn parse(field: &str, value: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        field: field.to_string(),
        value: value.to_string(),
    };
    let mut total = Duration::ZERO;
    let mut rest = value;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return Err(err());
        };
        let part = unit
            .checked_mul(u32::try_from(n).map_err(|_| err())?)
            .ok_or_else(err)?;
        total = total.checked_add(part).ok_or_else(err)?;
        rest = &rest[len..];
    }
    Ok(total)
}

/// Parses an optional duration, falling back to `default`.
pub fn parse_or(
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, DurationError> {
    value.map_or(Ok(default), |v| parse(field, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_durations_parse() {
        assert_eq!(parse("f", "30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("f", "1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("f", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("f", "2m5s"), Ok(Duration::from_secs(125)));
    }

    #[test]
    fn malformed_durations_name_the_field() {
        for bad in ["", "5", "m", "5x", "1.5h", "-1s", "99999999999h"] {
            let e = parse("spec.stages[0].bake", bad).unwrap_err();
            assert!(e.to_string().starts_with("spec.stages[0].bake:"), "{e}");
        }
    }
}
