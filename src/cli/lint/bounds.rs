//! What lint refuses to parse: more than [`MAX_BYTES`] of YAML, or YAML nested deeper than
//! [`MAX_DEPTH`]. YAML scanners (libyaml's and its ports) keep one pending key per open flow
//! collection and look at all of them for every token, so `[[[[…` costs time quadratic in its
//! depth; and loading a document recurses as deep as it nests. Both are refused here, in time
//! linear in the input, before any parser loads the text.

use yaml_rust2::Event;
use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::{Marker, ScanError, Scanner};

/// Most bytes of YAML read per file: a manifest is a few kilobytes.
pub const MAX_BYTES: usize = 1 << 20;
/// Deepest nesting of mappings and sequences accepted: a Rollout needs six levels.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("more than 1 MiB ({MAX_BYTES} bytes) of YAML: rollgate lint reads no more per file")]
    TooLarge,
    #[error(
        "mappings and sequences nested more than {MAX_DEPTH} levels deep: rollgate lint refuses such YAML unparsed"
    )]
    TooDeep { line: usize },
}

impl Refusal {
    pub fn line(&self) -> usize {
        match self {
            Self::TooLarge => 1,
            Self::TooDeep { line } => *line,
        }
    }
}

/// A syntax error, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl From<ScanError> for SyntaxError {
    fn from(e: ScanError) -> Self {
        Self {
            line: e.marker().line(),
            message: e.info().to_string(),
        }
    }
}

/// The part of a text that parsers may be given: all of it, or, when it has a syntax error,
/// the documents before the one with the error (bounds are not known past an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub len: usize,
    pub error: Option<SyntaxError>,
}

/// Refuses `text` when it is too large or too deep; otherwise says how much of it to parse.
pub fn check(text: &str) -> Result<Checked, Refusal> {
    if text.len() > MAX_BYTES {
        return Err(Refusal::TooLarge);
    }
    let flow = flow_depth(text)?;
    let text = &text[..flow.len];
    match depth(text)? {
        Some((doc_start, error)) => Ok(Checked {
            len: doc_start,
            error: Some(error),
        }),
        None => Ok(flow),
    }
}

/// Bounds the scanner's flow depth (what makes scanning quadratic), one token at a time:
/// `fetch_next_token` scans one token without the key lookahead that would scan a whole flow
/// collection first. Each token is known by the characters it consumed: after the blanks and
/// comments before it, a token that starts with `[` or `{` opens a flow collection, with `]`
/// or `}` closes one (no other token starts with them).
fn flow_depth(text: &str) -> Result<Checked, Refusal> {
    let mut scanner = Scanner::new(text.chars());
    let mut at = Offsets::new(text);
    let mut depth = 0usize;
    let mut doc_start = 0;
    let chars = text.chars().count();
    // Past the last character one more fetch gives the end of the stream, or its error.
    let mut end_fetched = false;
    while !end_fetched {
        end_fetched = scanner.mark().index() >= chars;
        let from = at.byte;
        if let Err(e) = scanner.fetch_next_token() {
            return Ok(Checked {
                len: doc_start,
                error: Some(e.into()),
            });
        }
        let end = at.advance_to(scanner.mark().index());
        let token = skip_blanks_and_comments(&text[from..end]);
        let start = end - token.len();
        match token.chars().next() {
            Some('[' | '{') => depth += 1,
            Some(']' | '}') => depth = depth.saturating_sub(1),
            Some('-') if is_document_start(text, start) => doc_start = start,
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(Refusal::TooDeep {
                line: scanner.mark().line(),
            });
        }
    }
    Ok(Checked {
        len: text.len(),
        error: None,
    })
}

/// What the scanner skips before a token.
fn skip_blanks_and_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start_matches([' ', '\t', '\r', '\n', '\u{feff}']);
        match s.strip_prefix('#') {
            Some(comment) => s = comment.find(['\n', '\r']).map_or("", |i| &comment[i..]),
            None => return s,
        }
    }
}

/// A `---` marker at the start of a line, followed by a blank or the end.
fn is_document_start(text: &str, at: usize) -> bool {
    let line_start = at == 0 || text[..at].ends_with(['\n', '\r']);
    let rest = &text[at..];
    line_start
        && rest.starts_with("---")
        && rest[3..]
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_whitespace())
}

/// The real nesting depth, from the parser's events, once flow depth is bounded (so the
/// scanner's lookahead is cheap). A syntax error ends the check: the start of its document
/// and the error are returned.
fn depth(text: &str) -> Result<Option<(usize, SyntaxError)>, Refusal> {
    let mut parser = Parser::new_from_str(text);
    let mut at = Offsets::new(text);
    let mut depth = 0usize;
    let mut doc_start = 0;
    loop {
        let (event, mark): (Event, Marker) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => return Ok(Some((doc_start, e.into()))),
        };
        match event {
            Event::StreamEnd => return Ok(None),
            // Marked at its `---`, or at its first token when it has none.
            Event::DocumentStart => doc_start = at.advance_to(mark.index()),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Refusal::TooDeep { line: mark.line() });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

/// Byte offsets of increasing character indices (the scanner counts characters).
struct Offsets<'a> {
    chars: std::str::CharIndices<'a>,
    index: usize,
    byte: usize,
    len: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.char_indices(),
            index: 0,
            byte: 0,
            len: text.len(),
        }
    }

    /// The byte offset of character `index` (not before the last one asked for).
    fn advance_to(&mut self, index: usize) -> usize {
        while self.index < index {
            self.index += 1;
            self.byte = match self.chars.next() {
                Some((i, c)) => i + c.len_utf8(),
                None => self.len,
            };
        }
        self.byte
    }
}
