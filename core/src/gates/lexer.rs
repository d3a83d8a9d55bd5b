//! Just enough of PromQL's lexer to know where a placeholder sits: string literals (with
//! Prometheus' escape rules), `#` comments and everything else as single characters.
//! It mirrors `promql/parser/lex.go`, so what it accepts Prometheus lexes the same way; it
//! is no parser, and needs none: the template only cares about lexical context.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Quote {
    Double,
    Single,
    Backtick,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// A character outside strings and comments; whitespace is skipped.
    Code { ch: char, at: usize },
    /// A string literal; `span` includes the quotes. `regex` when it follows `=~` or `!~`.
    Str {
        quote: Quote,
        span: Range<usize>,
        regex: bool,
    },
    /// From `#` up to, not including, the end of the line.
    Comment { span: Range<usize> },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {at}")]
pub(crate) struct LexError {
    pub at: usize,
    pub reason: &'static str,
}

fn err<T>(at: usize, reason: &'static str) -> Result<T, LexError> {
    Err(LexError { at, reason })
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    // Set by `=~` / `!~`; whitespace and comments keep it, anything else clears it.
    let mut regex_op = false;
    while let Some((at, ch)) = chars.next() {
        match ch {
            '"' | '\'' | '`' => {
                let quote = match ch {
                    '"' => Quote::Double,
                    '\'' => Quote::Single,
                    _ => Quote::Backtick,
                };
                let end = loop {
                    match chars.next() {
                        None => return err(at, "unterminated string literal"),
                        Some((i, c)) if c == ch => break i + 1,
                        Some((_, '\\')) if quote != Quote::Backtick => {
                            chars.next();
                        }
                        Some((i, '\n')) if quote != Quote::Backtick => {
                            return err(i, "newline in a quoted string");
                        }
                        Some(_) => {}
                    }
                };
                let span = at..end;
                unquote(&src[span.clone()]).map_err(|e| LexError { at: at + e.at, ..e })?;
                tokens.push(Token::Str {
                    quote,
                    span,
                    regex: regex_op,
                });
                regex_op = false;
            }
            '#' => {
                let mut end = src.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Comment { span: at..end });
            }
            c if c.is_whitespace() => {}
            c => {
                let after_bang_or_eq = matches!(
                    tokens.last(),
                    Some(Token::Code { ch: '=' | '!', at: prev }) if prev + 1 == at
                );
                regex_op = c == '~' && after_bang_or_eq;
                tokens.push(Token::Code { ch: c, at });
            }
        }
    }
    Ok(tokens)
}

/// The value of a string literal, quotes included, as Prometheus reads it.
pub(crate) fn unquote(literal: &str) -> Result<String, LexError> {
    let quote = match literal.chars().next() {
        Some(q @ ('"' | '\'' | '`')) if literal.len() >= 2 && literal.ends_with(q) => q,
        _ => return err(0, "not a string literal"),
    };
    let body = &literal[1..literal.len() - 1];
    if body.contains('\u{FFFD}') {
        // Go decodes U+FFFD as `utf8.RuneError`, which Prometheus' lexer rejects.
        return err(1, "U+FFFD (invalid UTF-8) in a string");
    }
    if quote == '`' {
        return Ok(body.to_owned());
    }
    let mut out = Vec::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        let at = i + 1;
        let Some((_, e)) = chars.next() else {
            return err(at, "escape sequence not terminated");
        };
        let (digits, radix, max) = match e {
            'a' => (0, 0, 0x07),
            'b' => (0, 0, 0x08),
            'f' => (0, 0, 0x0c),
            'n' => (0, 0, 0x0a),
            'r' => (0, 0, 0x0d),
            't' => (0, 0, 0x09),
            'v' => (0, 0, 0x0b),
            '\\' => (0, 0, 0x5c),
            q if q == quote => (0, 0, q as u32),
            '0'..='7' => (3, 8, 0xff),
            'x' => (2, 16, 0xff),
            'u' => (4, 16, 0x10ffff),
            'U' => (8, 16, 0x10ffff),
            _ => return err(at, "unknown escape sequence"),
        };
        if digits == 0 {
            out.push(max as u8);
            continue;
        }
        let mut code: u32 = 0;
        for n in 0..digits {
            // An octal escape's first digit is the escape letter itself.
            let d = if radix == 8 && n == 0 {
                Some(e)
            } else {
                chars.next().map(|(_, d)| d)
            };
            let Some(v) = d.and_then(|d| d.to_digit(radix)) else {
                return err(at, "malformed numeric escape sequence");
            };
            code = code * radix + v;
        }
        if code > max || (0xD800..0xE000).contains(&code) {
            return err(at, "escape sequence is an invalid Unicode code point");
        }
        if matches!(e, 'u' | 'U') {
            let c = char::from_u32(code).expect("range checked above");
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        } else {
            // Go's `\xNN` and octal escapes are raw bytes.
            out.push(code as u8);
        }
    }
    String::from_utf8(out).or_else(|_| err(1, "escape sequences do not form valid UTF-8"))
}

/// `value` as the body of a double-quoted PromQL string: reads back as exactly `value`.
pub(crate) fn escape_string(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                write!(out, "\\x{:02x}", c as u32).expect("writing to a String")
            }
            // C1 controls, U+FFFD (rejected raw by the lexer), line separators and
            // bidirectional overrides, which make a query read differently than it parses.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{FFFD}' | '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{FEFF}'
                )
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                write!(out, "\\u{:04x}", c as u32).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out
}

/// RE2's metacharacters (Go's `regexp.QuoteMeta`); Go's RE2 has no `(?x)` mode, so
/// whitespace and `#` are already literal.
const RE2_META: &str = r"\.+*?()|[]{}^$";

/// `value` as an RE2 pattern matching exactly `value`.
pub(crate) fn escape_regex(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for c in value.chars() {
        if RE2_META.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) fn unescape_regex(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_comments_and_code_are_told_apart() {
        let q = "sum(x{a=\"b\\\"#\",c=~'d'}) # note \"x\"\n`raw\\`";
        let kinds: Vec<_> = lex(q)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::Str { quote, span, regex } => Some(format!("{quote:?}{regex}:{}", &q[span])),
                Token::Comment { span } => Some(format!("#:{}", &q[span])),
                Token::Code { .. } => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Doublefalse:\"b\\\"#\"",
                "Singletrue:'d'",
                "#:# note \"x\"",
                "Backtickfalse:`raw\\`"
            ]
        );
    }

    #[test]
    fn regex_context_survives_whitespace_but_needs_adjacent_operator() {
        let regex_flags = |q: &str| -> Vec<bool> {
            lex(q)
                .unwrap()
                .into_iter()
                .filter_map(|t| {
                    if let Token::Str { regex, .. } = t {
                        Some(regex)
                    } else {
                        None
                    }
                })
                .collect()
        };
        assert_eq!(
            regex_flags(r#"{a=~ "x", b!~"y", c="z", d=" ~ "}"#),
            [true, true, false, false]
        );
        assert_eq!(regex_flags("{a=~ # why\n \"x\"}"), [true]);
    }

    #[test]
    fn escapes_follow_prometheus() {
        assert_eq!(
            unquote(r#""a\"b\\c\n\x41\101\u00e9\U0001F600""#).unwrap(),
            "a\"b\\c\nAAé😀"
        );
        assert_eq!(unquote(r"'it\'s'").unwrap(), "it's");
        for bad in [
            r#""\'""#,
            r#""\q""#,
            r#""\x4""#,
            r#""\ud800""#,
            r#""\400""#,
            r#""\xff""#,
            "\"\u{FFFD}\"",
        ] {
            assert!(unquote(bad).is_err(), "{bad} must not lex");
        }
        assert!(lex("{a=\"x\ny\"}").is_err());
        assert!(lex("{a=\"x").is_err());
    }

    #[test]
    fn escape_string_round_trips() {
        let hostile = "a\"b\\c\n\r\t\u{0}\u{7f}\u{85}\u{FFFD}\u{202E}é😀";
        let literal = format!("\"{}\"", escape_string(hostile));
        assert_eq!(unquote(&literal).unwrap(), hostile);
        assert_eq!(escape_regex("a.b*(c)|d"), r"a\.b\*\(c\)\|d");
        assert_eq!(unescape_regex(&escape_regex("a.b*(c)|d\\")), "a.b*(c)|d\\");
    }
}
