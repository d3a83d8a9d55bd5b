//! A small validator of documents against the CRDs' OpenAPI schema: types, required fields,
//! unknown fields, enums, bounds, lengths, patterns, and (through [`super::rules`]) the CEL
//! rules. Messages say what is wrong in the words of the field, not of JSON Schema.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

use super::Finding;
use super::rules;

/// Checks `value` (at `path`) against `schema`, adding what is wrong to `out`.
pub fn check(schema: &JSONSchemaProps, value: &Value, path: &str, out: &mut Vec<Finding>) {
    let before = out.len();
    if value.is_null() && schema.nullable == Some(true) {
        return;
    }
    if let Some(expected) = wrong_type(schema, value) {
        out.push(Finding::new(
            path,
            format!("must be of type {expected}, got {}", describe(value)),
        ));
        return;
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.iter().any(|a| &a.0 == value)
    {
        out.push(Finding::new(path, not_one_of(value, allowed)));
    }
    match value {
        Value::String(s) => string(schema, s, path, out),
        Value::Number(n) => number(schema, n.as_f64().unwrap_or(f64::NAN), path, out),
        Value::Array(items) => array(schema, items, path, out),
        Value::Object(map) => object(schema, map, path, out),
        _ => {}
    }
    // Like the API server's rules, each sees a node whose shape is already right; unlike it,
    // a rule is not repeated for what a field below already reported.
    if out.len() == before {
        for rule in schema.x_kubernetes_validations.iter().flatten() {
            let message = rule.message.as_deref().unwrap_or(&rule.rule);
            match rules::evaluate(&rule.rule, message, value) {
                Some(violations) => out.extend(
                    violations
                        .into_iter()
                        .map(|v| Finding::new(&format!("{path}{}", v.sub), v.message)),
                ),
                None => out.push(Finding::new(
                    path,
                    format!("cannot evaluate the rule {:?} offline (rollgate lint is older than the CRD)", rule.rule),
                )),
            }
        }
    }
}

/// The expected type when `value` is not of it.
fn wrong_type(schema: &JSONSchemaProps, value: &Value) -> Option<String> {
    if schema.x_kubernetes_int_or_string == Some(true) {
        let ok = value.is_string() || value.is_i64() || value.is_u64();
        return (!ok).then(|| "integer or string".into());
    }
    let expected = schema.type_.as_deref()?;
    let ok = match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => true,
    };
    (!ok).then(|| expected.to_string())
}

/// A value as a message shows it: `string "ten"`, `number 1.5`, `an object`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn not_one_of(
    value: &Value,
    allowed: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON],
) -> String {
    let words: Vec<&str> = allowed.iter().filter_map(|a| a.0.as_str()).collect();
    let shown = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let mut message = format!("{shown} is not one of {}", words.join(", "));
    if let Some(s) = value.as_str()
        && let Some(close) = words.iter().find(|w| w.eq_ignore_ascii_case(s))
    {
        message += &format!(" (did you mean {close:?}?)");
    }
    message
}

fn string(schema: &JSONSchemaProps, s: &str, path: &str, out: &mut Vec<Finding>) {
    let len = s.chars().count() as i64;
    if let Some(min) = schema.min_length.filter(|m| len < *m) {
        let message = if min == 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters long")
        };
        out.push(Finding::new(path, message));
    }
    if let Some(max) = schema.max_length.filter(|m| len > *m) {
        out.push(Finding::new(
            path,
            format!("must be at most {max} characters long, got {len}"),
        ));
    }
    if let Some(pattern) = &schema.pattern {
        let matches = regex::Regex::new(pattern).map(|re| re.is_match(s));
        if matches == Ok(false) {
            out.push(Finding::new(path, pattern_message(pattern, s)));
        }
    }
}

/// What a pattern means, for the patterns of the rollgate API; the pattern itself otherwise.
fn pattern_message(pattern: &str, s: &str) -> String {
    match pattern {
        crate::api::DURATION_PATTERN => format!("{s:?} is not a duration like 30s, 5m or 1h30m"),
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" => format!(
            "{s:?} must consist of lower case letters, digits and '-', and start and end with a letter or digit"
        ),
        r"^[0-9]+(\.[0-9]+)?%?$" => {
            format!("{s:?} is neither a percentage like 20% nor a number like 0.01")
        }
        "^https?://" => format!("{s:?} must start with http:// or https://"),
        _ => format!("{s:?} does not match {pattern}"),
    }
}

fn number(schema: &JSONSchemaProps, n: f64, path: &str, out: &mut Vec<Finding>) {
    let exclusive_min = schema.exclusive_minimum == Some(true);
    if let Some(min) = schema.minimum
        && (n < min || (exclusive_min && n == min))
    {
        let bound = if exclusive_min {
            "greater than"
        } else {
            "at least"
        };
        out.push(Finding::new(
            path,
            format!("must be {bound} {min}, got {n}"),
        ));
    }
    let exclusive_max = schema.exclusive_maximum == Some(true);
    if let Some(max) = schema.maximum
        && (n > max || (exclusive_max && n == max))
    {
        let bound = if exclusive_max {
            "less than"
        } else {
            "at most"
        };
        out.push(Finding::new(
            path,
            format!("must be {bound} {max}, got {n}"),
        ));
    }
}

fn array(schema: &JSONSchemaProps, items: &[Value], path: &str, out: &mut Vec<Finding>) {
    let len = items.len() as i64;
    if let Some(min) = schema.min_items.filter(|m| len < *m) {
        let what = if min == 1 {
            "item".to_string()
        } else {
            "items".to_string()
        };
        out.push(Finding::new(
            path,
            format!("must have at least {min} {what}"),
        ));
    }
    if let Some(max) = schema.max_items.filter(|m| len > *m) {
        out.push(Finding::new(
            path,
            format!("must have at most {max} items, got {len}"),
        ));
    }
    if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
        for (i, v) in items.iter().enumerate() {
            check(item, v, &format!("{path}[{i}]"), out);
        }
    }
}

fn object(
    schema: &JSONSchemaProps,
    map: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<Finding>,
) {
    let field = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let properties = schema.properties.as_ref();
    for (key, v) in map {
        if let Some(child) = properties.and_then(|p| p.get(key)) {
            check(child, v, &field(key), out);
        } else if let Some(JSONSchemaPropsOrBool::Schema(child)) = &schema.additional_properties {
            check(child, v, &field(key), out);
        } else if properties.is_some() && schema.x_kubernetes_preserve_unknown_fields != Some(true)
        {
            let known: Vec<&str> = properties
                .into_iter()
                .flatten()
                .map(|(k, _)| k.as_str())
                .collect();
            out.push(Finding::new(&field(key), unknown_field(key, &known)));
        }
    }
    for required in schema.required.iter().flatten() {
        if !map.contains_key(required) {
            out.push(Finding::new(&field(required), "is required"));
        }
    }
}

fn unknown_field(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&k.to_lowercase(), &key.to_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min();
    match closest {
        Some((_, k)) => format!("unknown field {key:?} (did you mean {k:?}?)"),
        None => format!("unknown field {key:?} (known: {})", known.join(", ")),
    }
}
