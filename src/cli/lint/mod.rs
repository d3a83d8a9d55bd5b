//! `rollgate lint FILE...`: the checks the API server and the controller would make, run
//! offline on manifests before they merge. One line per problem, `file:line field: message`:
//!
//! 1. YAML size and nesting ([`bounds`], before any parser loads the text), then syntax (each
//!    document of a multi-document file);
//! 2. rollgate documents against the CRD's schema (types, required and unknown fields, enums,
//!    bounds, patterns) and its CEL rules ([`schema`], [`rules`]);
//! 3. for a Rollout the schema accepts, what the controller checks before it runs one
//!    ([`crate::plan::spec::validate`], gate query templates) — as in the cluster, a document
//!    the API server would reject never gets that far;
//! 4. with `--prometheus`, every gate query once against a real Prometheus ([`dry_run`]).

mod autoscaling;
pub mod bounds;
pub mod dry_run;
pub mod positions;
mod references;
pub mod rules;
pub mod schema;
mod semantics;
#[cfg(test)]
mod tests;

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CliError, LintArgs, Output};
use positions::Positions;

/// A problem in a document, before it is placed in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub field: String,
    pub message: String,
}

impl Finding {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// One line of lint output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One problem, one line: a multi-line query in a message is folded.
        let message = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, "{}:{} {}: {message}", self.file, self.line, self.field)
    }
}

/// One YAML document of a file, with where its fields are.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub positions: Positions,
}

impl Document {
    fn place(&self, file: &str, finding: Finding) -> Problem {
        Problem {
            file: file.to_string(),
            line: self.positions.of(&finding.field),
            field: finding.field,
            message: finding.message,
        }
    }

    /// `kind` if this is a rollgate resource.
    pub fn rollgate_kind(&self) -> Option<&str> {
        let api_version = self.value.get("apiVersion")?.as_str()?;
        let group = api_version.split('/').next()?;
        (group == crate::api::GROUP)
            .then(|| self.value.get("kind")?.as_str())
            .flatten()
    }
}

/// The documents of a YAML stream; a syntax error is a problem and ends the file, and so does
/// YAML too large or too deeply nested to parse safely.
pub fn documents(file: &str, text: &str) -> (Vec<Document>, Vec<Problem>) {
    let yaml_problem = |line, message: String| Problem {
        file: file.to_string(),
        line,
        field: "(yaml)".into(),
        message,
    };
    let checked = match bounds::check(text) {
        Ok(checked) => checked,
        Err(refusal) => {
            return (
                vec![],
                vec![yaml_problem(refusal.line(), refusal.to_string())],
            );
        }
    };
    // Past a syntax error the bounds are unknown: parse only the documents before it.
    let text = &text[..checked.len];
    let mut positions = positions::index(text).into_iter();
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let at = positions.next().unwrap_or_default();
        match Value::deserialize(de) {
            Ok(Value::Null) => {}
            Ok(value) => docs.push(Document {
                value,
                positions: at,
            }),
            Err(e) => {
                let line = e.location().map_or(at.line(), |l| l.line());
                let message = e.to_string();
                // serde_norway appends " at line L column C": the line is already in front.
                let message = message.split(" at line ").next().unwrap_or(&message);
                problems.push(yaml_problem(line, message.to_string()));
                break;
            }
        }
    }
    if let (Some(e), true) = (checked.error, problems.is_empty()) {
        problems.push(yaml_problem(e.line, e.message));
    }
    (docs, problems)
}

/// Everything lint checks without a network, for one file's text.
pub fn lint_text(file: &str, text: &str) -> Vec<Problem> {
    let (docs, mut problems) = documents(file, text);
    for doc in &docs {
        problems.extend(lint_document(doc).into_iter().map(|f| doc.place(file, f)));
    }
    let docs: Vec<(String, Document)> = docs.into_iter().map(|d| (file.to_string(), d)).collect();
    problems.extend(autoscaling::check(&docs));
    problems
}

/// The CRD serving `kind` of the rollgate group.
fn crd_for(kind: &str) -> Option<CustomResourceDefinition> {
    crate::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
}

/// What is wrong with one document (nothing for documents of other groups).
pub fn lint_document(document: &Document) -> Vec<Finding> {
    let Some(kind) = document.rollgate_kind() else {
        return Vec::new();
    };
    let doc = &document.value;
    let Some(crd) = crd_for(kind) else {
        let kinds: Vec<String> = crate::api::crds()
            .into_iter()
            .map(|c| c.spec.names.kind)
            .collect();
        return vec![Finding::new(
            "kind",
            format!("{kind:?} is not a rollgate.dev kind ({})", kinds.join(", ")),
        )];
    };
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let Some(version) = crd
        .spec
        .versions
        .iter()
        .find(|v| format!("{}/{}", crd.spec.group, v.name) == api_version)
    else {
        let served: Vec<String> = crd
            .spec
            .versions
            .iter()
            .map(|v| format!("{}/{}", crd.spec.group, v.name))
            .collect();
        return vec![Finding::new(
            "apiVersion",
            format!("{api_version} is not served; use {}", served.join(" or ")),
        )];
    };
    let mut findings = metadata(doc);
    // kubectl cannot send these at all (JSON has no NaN or Infinity): nothing else is checked.
    let not_finite: Vec<Finding> = document
        .positions
        .non_finite()
        .iter()
        .map(|(field, v)| Finding::new(field, not_finite(field, *v)))
        .collect();
    if !not_finite.is_empty() {
        findings.extend(not_finite);
        return findings;
    }
    // The API server fills apiVersion, kind and metadata itself and ignores status on create.
    let mut body = doc.clone();
    if let Some(map) = body.as_object_mut() {
        for key in ["apiVersion", "kind", "metadata", "status"] {
            map.remove(key);
        }
    }
    if let Some(root) = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
    {
        schema::check(root, &body, "", &mut findings);
    }
    if findings.is_empty() && kind == "Rollout" {
        findings.extend(semantics::check(doc));
    }
    if findings.is_empty() && kind == "Release" {
        findings.extend(semantics::check_release(doc));
    }
    findings
}

/// The API server's checks of an object's name and namespace.
fn metadata(doc: &Value) -> Vec<Finding> {
    let text = |field: &str| {
        doc.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
    };
    let mut findings = Vec::new();
    match text("name") {
        Some(name) => {
            if let Err(e) = crate::api::names::dns_subdomain(name) {
                findings.push(Finding::new("metadata.name", e));
            }
        }
        None if doc.pointer("/metadata/generateName").is_none() => {
            findings.push(Finding::new("metadata.name", "is required"));
        }
        None => {}
    }
    if let Some(Err(e)) = text("namespace").map(crate::api::names::dns_label) {
        findings.push(Finding::new("metadata.namespace", e));
    }
    findings
}

/// Why a NaN or infinite number cannot stand at `field`.
fn not_finite(field: &str, value: f64) -> String {
    let shown = crate::gates::judge::shown(value);
    let gate_bound =
        field.starts_with("spec.gates[") && (field.ends_with("].min") || field.ends_with("].max"));
    if gate_bound {
        crate::gates::judge::not_finite(&shown)
    } else {
        format!(
            "must be a finite number, got {shown}: JSON, and so the API server, has no NaN or Infinity"
        )
    }
}

/// Reads, lints and prints; the exit code is 1 when anything is wrong.
pub async fn run(args: &LintArgs) -> Result<i32, CliError> {
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut clean_rollouts = Vec::new();
    let mut all = Vec::new();
    let mut others = Vec::new();
    for path in &args.files {
        let file = path.display().to_string();
        let text = read_at_most(path, bounds::MAX_BYTES).map_err(|source| CliError::Read {
            path: file.clone(),
            source,
        })?;
        let (docs, mut found) = documents(&file, &text);
        for doc in docs {
            let Some(kind) = doc.rollgate_kind() else {
                // Other kinds matter only beside a Rollout (an HPA of its target).
                others.push((file.clone(), doc));
                continue;
            };
            checked += 1;
            let before = found.len();
            let kind = kind.to_string();
            found.extend(lint_document(&doc).into_iter().map(|f| doc.place(&file, f)));
            if found.len() == before && kind == "Rollout" {
                clean_rollouts.push((file.clone(), doc.clone()));
            }
            all.push((file.clone(), doc));
        }
        problems.extend(found);
    }
    others.extend(all.iter().cloned());
    problems.extend(autoscaling::check(&others));
    if let Some(url) = &args.prometheus {
        problems.extend(dry_run::run(url, &args.revision, &clean_rollouts).await);
    }
    if args.cluster {
        let scope = super::Scope {
            namespace: None,
            context: args.context.clone(),
            output: args.output,
        };
        let cluster = super::cluster::Cluster::connect(&scope).await?;
        let in_files = references::defined(&all, &cluster.namespace);
        problems.extend(
            references::check(
                &cluster.client,
                &cluster.namespace,
                &clean_rollouts,
                &in_files,
            )
            .await,
        );
    }
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    args.output.print(&problems, |problems| {
        problems.iter().map(|p| format!("{p}\n")).collect()
    })?;
    if args.output == Output::Human {
        eprintln!(
            "rollgate lint: {} file(s), {checked} rollgate document(s), {} problem(s)",
            args.files.len(),
            problems.len()
        );
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

/// The file's text, or its first `max + 1` bytes when it is longer (which [`bounds`] refuses):
/// a huge file is never read whole.
fn read_at_most(path: &std::path::Path, max: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        // Cut anywhere: only the length is reported.
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
