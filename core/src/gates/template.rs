//! Gate query templates. A placeholder may only sit inside a double-quoted string, because
//! that is the one place where escaping can keep any value a value: quotes, backslashes and
//! newlines are escaped, and inside a regex matcher (`=~`, `!~`) the value is first made a
//! literal RE2 pattern, so user data never changes what the query asks.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use super::lexer::{self, Quote, Token};

/// The values a gate query can refer to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemplateVars<'a> {
    pub namespace: &'a str,
    pub rollout: &'a str,
    pub target: &'a str,
    pub track: &'a str,
    pub revision: &'a str,
    pub stable_revision: &'a str,
    pub canary_revision: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    Namespace,
    Rollout,
    Target,
    Track,
    Revision,
    StableRevision,
    CanaryRevision,
}

impl Placeholder {
    pub const ALL: [Placeholder; 7] = [
        Self::Namespace,
        Self::Rollout,
        Self::Target,
        Self::Track,
        Self::Revision,
        Self::StableRevision,
        Self::CanaryRevision,
    ];

    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Rollout => "rollout",
            Self::Target => "target",
            Self::Track => "track",
            Self::Revision => "revision",
            Self::StableRevision => "stableRevision",
            Self::CanaryRevision => "canaryRevision",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    fn value<'a>(self, vars: &TemplateVars<'a>) -> &'a str {
        match self {
            Self::Namespace => vars.namespace,
            Self::Rollout => vars.rollout,
            Self::Target => vars.target,
            Self::Track => vars.track,
            Self::Revision => vars.revision,
            Self::StableRevision => vars.stable_revision,
            Self::CanaryRevision => vars.canary_revision,
        }
    }

    /// A well-placed use, for error messages.
    fn example(self) -> String {
        let label = match self {
            Self::Namespace => "namespace",
            Self::Track => "rollgate_track",
            _ => "label",
        };
        format!("{{{label}=\"{self}\"}}")
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}}", self.name())
    }
}

/// Where a misplaced placeholder was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    OutsideString,
    SingleQuoted,
    Backtick,
    Comment,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutsideString => "outside any string",
            Self::SingleQuoted => "in a single-quoted string",
            Self::Backtick => "in a backtick string, which has no escapes",
            Self::Comment => "in a comment",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {text}; known are {}", known())]
    Unknown { text: String },
    #[error("unterminated placeholder: the `{{{{` at byte {at} has no closing `}}}}`")]
    Unterminated { at: usize },
    #[error("placeholder {placeholder} must sit inside a double-quoted label value, like {}, but it is {place}", placeholder.example())]
    Misplaced {
        placeholder: Placeholder,
        place: Place,
    },
    #[error("the query does not lex as PromQL: {reason} at byte {at}")]
    Syntax { at: usize, reason: &'static str },
    /// The parser's own words; it reports no position.
    #[error("the query is not valid PromQL: {reason}")]
    Invalid { reason: String },
}

impl TemplateError {
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "unknown_placeholder",
            Self::Unterminated { .. } => "unterminated_placeholder",
            Self::Misplaced { .. } => "misplaced_placeholder",
            Self::Syntax { .. } => "query_syntax",
            Self::Invalid { .. } => "invalid_query",
        }
    }
}

fn known() -> String {
    let names: Vec<String> = Placeholder::ALL.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// What [`check`] puts in the placeholders: values like the real ones, which are escaped
/// into string literals and so can never make a query invalid themselves.
const PROBE: TemplateVars<'static> = TemplateVars {
    namespace: "default",
    rollout: "rollout",
    target: "target",
    track: "canary",
    revision: "0123abcd",
    stable_revision: "0123abcd",
    canary_revision: "4567ef01",
};

/// Validates a template without values: every placeholder known, closed and well placed, and
/// the query, rendered with [`PROBE`] values, PromQL that parses. The controller and
/// `rollgate lint` both call this, so what lint passes the controller accepts.
pub fn check(query: &str) -> Result<(), TemplateError> {
    let rendered = render(query, &PROBE)?;
    promql_parser::parser::parse(&rendered)
        .map(drop)
        .map_err(|reason| TemplateError::Invalid { reason })
}

/// Validates a template that must be one series selector (a metric name and label matchers),
/// like the counters of a sequential gate, which rollgate wraps in `increase()`.
pub fn check_selector(selector: &str) -> Result<(), TemplateError> {
    let rendered = render(selector, &PROBE)?;
    match promql_parser::parser::parse(&rendered) {
        Ok(promql_parser::parser::Expr::VectorSelector(_)) => Ok(()),
        Ok(_) => Err(TemplateError::Invalid {
            reason: "must be a series selector, like http_requests_total{code=~\"5..\"}, without functions or operators".into(),
        }),
        Err(reason) => Err(TemplateError::Invalid { reason }),
    }
}

/// The placeholders a template uses, in order (a compare gate needs `{{track}}` or a revision).
pub fn placeholders(query: &str) -> Result<Vec<Placeholder>, TemplateError> {
    Ok(slots(query)?.into_iter().map(|s| s.placeholder).collect())
}

/// The query with every placeholder replaced by its escaped value.
pub fn render(query: &str, vars: &TemplateVars<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(query.len() + 64);
    let mut done = 0;
    for slot in slots(query)? {
        out.push_str(&query[done..slot.span.start]);
        let value = slot.placeholder.value(vars);
        let value = if slot.regex {
            Cow::Owned(lexer::escape_regex(value))
        } else {
            Cow::Borrowed(value)
        };
        out.push_str(&lexer::escape_string(&value));
        done = slot.span.end;
    }
    out.push_str(&query[done..]);
    Ok(out)
}

/// One placeholder inside a double-quoted string; `span` covers the braces.
struct Slot {
    placeholder: Placeholder,
    span: Range<usize>,
    regex: bool,
}

fn slots(query: &str) -> Result<Vec<Slot>, TemplateError> {
    let tokens = lexer::lex(query).map_err(|e| TemplateError::Syntax {
        at: e.at,
        reason: e.reason,
    })?;
    let mut slots = Vec::new();
    let mut prev_brace = None;
    for token in tokens {
        let (span, place) = match token {
            Token::Code { ch: '{', at } if prev_brace == Some(at.wrapping_sub(1)) => {
                (at - 1..query.len(), Place::OutsideString)
            }
            Token::Code { ch, at } => {
                prev_brace = (ch == '{').then_some(at);
                continue;
            }
            Token::Str {
                quote: Quote::Double,
                span,
                regex,
            } => {
                let body_end = span.end - 1;
                let mut from = span.start + 1;
                while let Some(offset) = query[from..body_end].find("{{") {
                    let (placeholder, end) = placeholder_at(query, from + offset, body_end)?;
                    slots.push(Slot {
                        placeholder,
                        span: from + offset..end,
                        regex,
                    });
                    from = end;
                }
                continue;
            }
            Token::Str {
                quote: Quote::Single,
                span,
                ..
            } => (span, Place::SingleQuoted),
            Token::Str {
                quote: Quote::Backtick,
                span,
                ..
            } => (span, Place::Backtick),
            Token::Comment { span } => (span, Place::Comment),
        };
        if let Some(offset) = query[span.clone()].find("{{") {
            let (placeholder, _) = placeholder_at(query, span.start + offset, query.len())?;
            return Err(TemplateError::Misplaced { placeholder, place });
        }
    }
    Ok(slots)
}

/// The placeholder whose `{{` is at `start` and whose `}}` comes before `limit`.
fn placeholder_at(
    query: &str,
    start: usize,
    limit: usize,
) -> Result<(Placeholder, usize), TemplateError> {
    let inner = start + 2;
    let close = query[inner..limit]
        .find("}}")
        .ok_or(TemplateError::Unterminated { at: start })?;
    let end = inner + close + 2;
    let name = query[inner..inner + close].trim_matches([' ', '\t']);
    let placeholder = Placeholder::parse(name).ok_or_else(|| TemplateError::Unknown {
        text: query[start..end].to_owned(),
    })?;
    Ok((placeholder, end))
}

#[cfg(test)]
mod tests;
