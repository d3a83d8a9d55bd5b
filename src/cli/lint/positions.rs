//! Where each field of a YAML document is, so a problem can name its line. Built from the
//! parser's events (which carry line marks) rather than from the text, so flow style, block
//! scalars and comments cannot confuse it.

use std::collections::HashMap;

use yaml_rust2::Event;
use yaml_rust2::parser::{MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Lines of one document's nodes by field path (`spec.stages[1].weight`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Positions {
    /// Line of the document's first node (1-based).
    first_line: usize,
    fields: HashMap<String, usize>,
    /// Fields YAML reads as NaN or ±Infinity (`.nan`, `-.inf`), in order. JSON, and so the
    /// API server, has no such numbers: the document's JSON value holds null there instead.
    non_finite: Vec<(String, f64)>,
}

impl Positions {
    /// The document's first line.
    pub fn line(&self) -> usize {
        self.first_line.max(1)
    }

    /// The fields whose value is NaN or ±Infinity, with the value.
    pub fn non_finite(&self) -> &[(String, f64)] {
        &self.non_finite
    }

    /// The line of `field`, or of its closest ancestor present in the document (a missing
    /// required field points at its parent).
    pub fn of(&self, field: &str) -> usize {
        let mut field = field;
        loop {
            if let Some(line) = self.fields.get(field) {
                return *line;
            }
            match parent(field) {
                Some(p) => field = p,
                None => return self.line(),
            }
        }
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
fn parent(field: &str) -> Option<&str> {
    if field.ends_with(']') {
        return field.rfind('[').map(|i| &field[..i]);
    }
    field.rfind('.').map(|i| &field[..i])
}

/// The untagged plain scalars serde_norway (YAML 1.2's core schema) reads as a non-finite float.
fn non_finite(scalar: &str) -> Option<f64> {
    match scalar.strip_prefix('+').unwrap_or(scalar) {
        ".inf" | ".Inf" | ".INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" if !scalar.starts_with('+') => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" if !scalar.starts_with('+') => Some(f64::NAN),
        _ => None,
    }
}

/// The positions of every document of a YAML stream, in order. A syntax error ends the index
/// where it occurs (the parser that reads the values reports it).
pub fn index(text: &str) -> Vec<Positions> {
    let mut sink = Sink::default();
    let _ = Parser::new_from_str(text).load(&mut sink, true);
    sink.docs
}

/// Longest field path recorded. Paths name CRD fields, a few dozen characters long; a longer
/// one (under a long unknown key) is not recorded, nor is anything below it, so that a long
/// key above many nodes cannot cost time and memory of its length for each of them. A problem
/// there points at the closest recorded ancestor.
const MAX_PATH: usize = 256;

/// `None`: a path longer than [`MAX_PATH`], or below one.
type Path = Option<String>;

enum Frame {
    Map { path: Path, key: Option<String> },
    Seq { path: Path, next: usize },
}

#[derive(Default)]
struct Sink {
    docs: Vec<Positions>,
    stack: Vec<Frame>,
}

fn join(path: &Path, key: &str) -> Path {
    let path = path.as_deref()?;
    if path.len() + key.len() >= MAX_PATH {
        return None;
    }
    Some(if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    })
}

fn element(path: &Path, index: usize) -> Path {
    let path = path.as_deref()?;
    (path.len() < MAX_PATH).then(|| format!("{path}[{index}]"))
}

impl Sink {
    /// Records the line of the node about to be read and returns its path.
    fn node(&mut self, line: usize) -> Path {
        let path = match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Map { path, key: Some(k) }) => join(path, k),
            // A complex key (a mapping or sequence used as a key): no field path.
            Some(Frame::Map { path, key: None }) => join(path, "?"),
            Some(Frame::Seq { path, next }) => element(path, *next),
        };
        if let Some(doc) = self.docs.last_mut() {
            if let Some(path) = &path {
                doc.fields.entry(path.clone()).or_insert(line);
            }
            if doc.first_line == 0 {
                doc.first_line = line;
            }
        }
        path
    }

    /// A node of the innermost collection is complete.
    fn advance(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => {
                *key = if key.is_none() {
                    Some("?".into())
                } else {
                    None
                }
            }
            Some(Frame::Seq { next, .. }) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Sink {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::DocumentStart => {
                self.docs.push(Positions::default());
                self.stack.clear();
            }
            Event::Scalar(value, style, _, tag) => {
                if let Some(Frame::Map {
                    path,
                    key: key @ None,
                }) = self.stack.last_mut()
                {
                    let field = join(path, &value);
                    *key = Some(value);
                    if let (Some(doc), Some(field)) = (self.docs.last_mut(), field) {
                        doc.fields.entry(field).or_insert(line);
                    }
                    return;
                }
                let path = self.node(line);
                if let (TScalarStyle::Plain, None, Some(v), Some(path)) =
                    (style, &tag, non_finite(&value), path)
                    && let Some(doc) = self.docs.last_mut()
                {
                    doc.non_finite.push((path, v));
                }
                self.advance();
            }
            Event::Alias(_) => {
                self.node(line);
                self.advance();
            }
            Event::MappingStart(..) => {
                let path = self.node(line);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.node(line);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.advance();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
apiVersion: v1
kind: ConfigMap
---
apiVersion: rollgate.dev/v1alpha1
kind: Rollout
spec:
  replicas: 3
  stages:
    - {weight: 10, bake: 5m}
    - weight: 100
      bake: 1m
  gates:
    - name: errors
      query: |
        sum(rate(x{a=\"b: c\"}[1m]))
        / 2
      max: 0.01
";

    #[test]
    fn fields_are_found_in_block_and_flow_style() {
        let docs = index(TEXT);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line(), 2);
        let d = &docs[1];
        assert_eq!(d.line(), 5);
        assert_eq!(d.of("spec.replicas"), 8);
        assert_eq!(d.of("spec.stages[0]"), 10);
        assert_eq!(d.of("spec.stages[0].weight"), 10);
        assert_eq!(d.of("spec.stages[1].weight"), 11);
        assert_eq!(d.of("spec.stages[1].bake"), 12);
        assert_eq!(d.of("spec.gates[0].query"), 15);
        assert_eq!(d.of("spec.gates[0].max"), 18);
    }

    #[test]
    fn paths_under_a_long_key_are_not_recorded_but_found_through_their_ancestor() {
        let key = "k".repeat(MAX_PATH);
        let text = format!("a:\n  {key}: [1, 2]\n  b: {{c: [3]}}\n");
        let d = &index(&text)[0];
        assert_eq!(d.fields.len(), 5, "{:?}", d.fields.keys());
        assert_eq!(d.of("a.b.c[0]"), 3);
        assert_eq!(d.of(&format!("a.{key}[1]")), 1);
    }

    #[test]
    fn a_missing_field_points_at_its_closest_ancestor() {
        let d = &index(TEXT)[1];
        assert_eq!(d.of("spec.targetRef"), 7);
        assert_eq!(d.of("spec.gates[0].compare.maxIncrease"), 14);
        assert_eq!(d.of("nothing.here"), 5);
    }
}
