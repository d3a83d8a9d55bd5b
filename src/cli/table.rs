//! Plain-text tables and durations the way kubectl prints them.

/// Columns padded to their widest cell, three spaces apart, no trailing blanks.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// kubectl's age format (`45s`, `3m20s`, `17m`, `5h10m`, `20h`, `3d4h`, `40d`, `2y10d`).
pub fn age(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    if hours < 24 * 365 * 8 {
        return with_rest(days / 365, "y", days % 365, "d");
    }
    format!("{}y", days / 365)
}

fn with_rest(n: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{n}{unit}")
    } else {
        format!("{n}{unit}{rest}{rest_unit}")
    }
}

/// A countdown to the second: `42s`, `4m05s`, `1h02m03s`.
pub fn countdown(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Text fitted to a terminal `width` wide, so a redrawn frame never wraps unpredictably: a
/// labelled line (`Message:    …`) wraps at spaces under its value; a table row is cut with `…`
/// (`rollgate status` without `--watch` has every cell whole).
pub fn fit(text: &str, width: usize) -> String {
    const LABEL: usize = 12;
    let mut out = String::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        if chars.len() <= width || width <= LABEL + 8 {
            out += line;
        } else if is_labelled(line) {
            let mut rows = vec![String::new()];
            for word in line.split(' ') {
                let row = rows.last_mut().expect("one row at least");
                let len = row.chars().count();
                if len > LABEL && len + 1 + word.chars().count() > width {
                    rows.push(" ".repeat(LABEL) + word);
                } else {
                    if !row.is_empty() {
                        row.push(' ');
                    }
                    *row += word;
                }
            }
            // A word wider than the space left (a query) is broken where the line ends.
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let mut rest: Vec<char> = row.trim_end().chars().collect();
                while rest.len() > width {
                    out.extend(&rest[..width]);
                    out.push('\n');
                    rest = std::iter::repeat_n(' ', LABEL)
                        .chain(rest[width..].iter().copied())
                        .collect();
                }
                out.extend(rest);
            }
        } else {
            out.extend(&chars[..width - 1]);
            out.push('…');
        }
        out.push('\n');
    }
    out
}

/// `Phase:      Healthy`: a word and a colon at the start, the value from column 12.
fn is_labelled(line: &str) -> bool {
    line.chars().count() > 12
        && line[..line.char_indices().nth(12).map_or(line.len(), |(i, _)| i)]
            .trim_end()
            .ends_with(':')
        && !line.starts_with(' ')
}

/// `[██████░░░░░░░░░░░░░░]` for `percent` of `width` cells.
pub fn bar(percent: i32, width: usize) -> String {
    let filled = (percent.clamp(0, 100) as usize * width).div_ceil(100);
    let mut out = String::from("[");
    out.extend(std::iter::repeat_n('█', filled));
    out.extend(std::iter::repeat_n('░', width - filled));
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_trailing_blanks() {
        let t = render(
            &["NAME", "PHASE", "AGE"],
            &[
                vec!["checkout".into(), "Healthy".into(), "3d".into()],
                vec!["cart".into(), "".into(), "12m".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME       PHASE     AGE\ncheckout   Healthy   3d\ncart                 12m\n"
        );
    }

    #[test]
    fn ages_follow_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (45, "45s"),
            (119, "119s"),
            (200, "3m20s"),
            (300, "5m"),
            (17 * 60 + 5, "17m"),
            (5 * 3600 + 600, "5h10m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (40 * 86400, "40d"),
            (2 * 365 * 86400 + 10 * 86400, "2y10d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(age(seconds), want, "{seconds}s");
        }
    }

    #[test]
    fn countdowns_keep_seconds() {
        assert_eq!(countdown(42), "42s");
        assert_eq!(countdown(245), "4m05s");
        assert_eq!(countdown(3723), "1h02m03s");
        assert_eq!(countdown(-3), "0s");
    }

    #[test]
    fn frames_fit_the_terminal_wrapping_labels_and_cutting_rows() {
        let text = "Message:    stage 2/4 at 50%: waiting for every gate to pass: latency failing\n  NAME   VALUE   THRESHOLD   A-LONG-COLUMN\nshort\n";
        assert_eq!(
            fit(text, 40),
            "Message:    stage 2/4 at 50%: waiting\n            for every gate to pass:\n            latency failing\n  NAME   VALUE   THRESHOLD   A-LONG-COL…\nshort\n"
        );
    }

    #[test]
    fn a_word_wider_than_the_line_is_broken_under_the_label() {
        let text = format!("Message:    query {}\n", "x".repeat(40));
        let indent = " ".repeat(12);
        let (full, rest) = ("x".repeat(18), "x".repeat(4));
        assert_eq!(
            fit(&text, 30),
            format!("Message:    query\n{indent}{full}\n{indent}{full}\n{indent}{rest}\n")
        );
    }

    #[test]
    fn bars_fill_by_percent() {
        assert_eq!(bar(0, 10), "[░░░░░░░░░░]");
        assert_eq!(bar(25, 10), "[███░░░░░░░]");
        assert_eq!(bar(100, 10), "[██████████]");
    }
}
