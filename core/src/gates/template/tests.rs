use proptest::prelude::*;

use super::super::lexer::{lex, unescape_regex, unquote};
use super::*;

const HARMLESS: TemplateVars<'static> = TemplateVars {
    namespace: "x",
    rollout: "x",
    target: "x",
    track: "x",
    revision: "x",
    stable_revision: "x",
    canary_revision: "x",
};

fn vars<'a>(track: &'a str, revision: &'a str) -> TemplateVars<'a> {
    TemplateVars {
        namespace: "shop",
        rollout: "web",
        target: "web",
        track,
        revision,
        ..HARMLESS
    }
}

#[test]
fn placeholders_are_replaced_inside_label_values() {
    let cases = [
        (
            r#"up{namespace="{{namespace}}"}"#,
            vars("canary", "abc"),
            r#"up{namespace="shop"}"#,
        ),
        (
            r#"up{rollgate_track="{{ track }}",rev="{{revision}}"}"#,
            vars("canary", "abc"),
            r#"up{rollgate_track="canary",rev="abc"}"#,
        ),
        (
            r#"up{pod="{{target}}-{{track}}-x"}"#,
            vars("canary", "abc"),
            r#"up{pod="web-canary-x"}"#,
        ),
        (
            "sum(up) # no placeholders\n",
            vars("canary", "abc"),
            "sum(up) # no placeholders\n",
        ),
        (
            r#"up{a="\"{{track}}\""}"#,
            vars("canary", "abc"),
            r#"up{a="\"canary\""}"#,
        ),
    ];
    for (template, vars, want) in cases {
        assert_eq!(render(template, &vars).unwrap(), want, "{template}");
    }
}

#[test]
fn hostile_values_are_escaped_for_promql_strings() {
    let cases = [
        (r#"a"b"#, r#"up{t="a\"b"}"#),
        (r"a\b", r#"up{t="a\\b"}"#),
        ("a\nb\rc\td", r#"up{t="a\nb\rc\td"}"#),
        ("\u{0}\u{1b}\u{85}", r#"up{t="\x00\x1b\u0085"}"#),
        (r#""} or vector(1) #"#, r#"up{t="\"} or vector(1) #"}"#),
        ("é😀", r#"up{t="é😀"}"#),
    ];
    for (value, want) in cases {
        assert_eq!(
            render(r#"up{t="{{track}}"}"#, &vars(value, "r")).unwrap(),
            want,
            "{value:?}"
        );
    }
}

#[test]
fn values_in_regex_matchers_match_literally() {
    let template = r#"up{pod=~"{{target}}-.*", t!~ "{{track}}", v="{{track}}"}"#;
    let values = TemplateVars {
        target: "a.b",
        track: r".*\",
        ..HARMLESS
    };
    assert_eq!(
        render(template, &values).unwrap(),
        r#"up{pod=~"a\\.b-.*", t!~ "\\.\\*\\\\", v=".*\\"}"#
    );
}

#[test]
fn check_accepts_well_placed_placeholders() {
    for template in [
        r#"sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}[1m]))"#,
        r#"up{a="{{rollout}}{{target}}{{revision}}{{stableRevision}}{{canaryRevision}}"} # a comment"#,
        "label_replace(up{a=\"{{\ttrack  }}\"}, `dst`, 'single', \"src\", \"(.*)\")",
    ] {
        assert_eq!(check(template), Ok(()), "{template}");
    }
    assert_eq!(
        placeholders(r#"x{a="{{track}}",b=~"{{ revision }}"}"#),
        Ok(vec![Placeholder::Track, Placeholder::Revision])
    );
}

#[test]
fn check_names_the_misplaced_placeholder_and_why() {
    let cases = [
        ("up{rollgate_track={{track}}}", Place::OutsideString),
        ("up{t='{{track}}'}", Place::SingleQuoted),
        ("up{t=`{{track}}`}", Place::Backtick),
        ("up # {{track}}", Place::Comment),
    ];
    for (template, place) in cases {
        let err = check(template).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Misplaced {
                placeholder: Placeholder::Track,
                place
            },
            "{template}"
        );
        assert!(
            err.to_string().starts_with(
                r#"placeholder {{track}} must sit inside a double-quoted label value, like {rollgate_track="{{track}}"}"#
            ),
            "{err}"
        );
    }
}

#[test]
fn check_rejects_unknown_unterminated_and_unlexable_templates() {
    let unknown = check(r#"up{a="{{ trak }}"}"#).unwrap_err();
    assert_eq!(
        unknown,
        TemplateError::Unknown {
            text: "{{ trak }}".into()
        }
    );
    assert!(unknown.to_string().contains("{{track}}"), "{unknown}");
    assert_eq!(
        check(r#"up{a="{{track"} # }}"#),
        Err(TemplateError::Unterminated { at: 6 })
    );
    assert_eq!(
        check("up{{foo}}").unwrap_err().category(),
        "unknown_placeholder"
    );
    for template in [
        r#"up{a="{{track}}}"#,
        r#"up{a="\q{{track}}"}"#,
        "up{a=\"{{track}}\n\"}",
    ] {
        assert_eq!(
            check(template).unwrap_err().category(),
            "query_syntax",
            "{template}"
        );
    }
}

#[test]
fn check_rejects_a_query_that_does_not_parse_as_promql() {
    let cases = [
        (
            r#"sum(rate(x{rollgate_track="{{track}}"[1m]))"#,
            "unexpected character inside braces: '['",
        ),
        (
            r#"sum(rate(x{rollgate_track="{{track}}"}[1m])"#,
            "unclosed left parenthesis",
        ),
        (r#"up{a="{{track}}"}}"#, "unexpected right brace '}'"),
        (r#"sum(up{a="{{track}}"}) by"#, "invalid promql query"),
    ];
    for (template, reason) in cases {
        let err = check(template).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Invalid {
                reason: reason.into()
            },
            "{template}"
        );
        assert_eq!(err.category(), "invalid_query");
        assert_eq!(
            err.to_string(),
            format!("the query is not valid PromQL: {reason}")
        );
    }
}

#[test]
fn placeholders_never_make_a_query_invalid() {
    // Every placeholder, in plain and regex matchers, where its raw text would not parse.
    let names = Placeholder::ALL.map(|p| p.to_string()).concat();
    for template in [
        format!(r#"up{{a="{names}"}}"#),
        format!(r#"up{{a=~"{names}.*", b!~"^{names}$"}}"#),
        format!(r#"label_replace(up, "dst", "{names}", "src", "(.*)")"#),
    ] {
        assert_eq!(check(&template), Ok(()), "{template}");
    }
}

#[derive(Debug, PartialEq)]
enum Shape {
    Code(char),
    Str(Quote, bool),
    Comment(String),
}

/// The query's token structure, with what string literals hold left out.
fn shape(query: &str) -> Vec<Shape> {
    lex(query)
        .unwrap_or_else(|e| panic!("{query:?} does not lex: {e}"))
        .into_iter()
        .map(|t| match t {
            Token::Code { ch, .. } => Shape::Code(ch),
            Token::Str { quote, regex, .. } => Shape::Str(quote, regex),
            Token::Comment { span } => Shape::Comment(query[span].to_owned()),
        })
        .collect()
}

/// What each double-quoted literal of `template` should read as, given `vars`.
fn expected_strings(template: &str, vars: &TemplateVars<'_>) -> Vec<String> {
    let slots = slots(template).unwrap();
    lex(template)
        .unwrap()
        .into_iter()
        .filter_map(|t| match t {
            Token::Str {
                quote: Quote::Double,
                span,
                regex,
            } => {
                let mut want = String::new();
                let mut done = span.start + 1;
                for slot in slots.iter().filter(|s| span.contains(&s.span.start)) {
                    want.push_str(&template[done..slot.span.start]);
                    let value = slot.placeholder.value(vars);
                    want.push_str(&if regex {
                        lexer::escape_regex(value)
                    } else {
                        value.to_owned()
                    });
                    done = slot.span.end;
                }
                want.push_str(&template[done..span.end - 1]);
                Some(want)
            }
            _ => None,
        })
        .collect()
}

fn decoded_strings(query: &str) -> Vec<(String, bool)> {
    lex(query)
        .unwrap()
        .into_iter()
        .filter_map(|t| match t {
            Token::Str {
                quote: Quote::Double,
                span,
                regex,
            } => Some((unquote(&query[span]).unwrap(), regex)),
            _ => None,
        })
        .collect()
}

/// Literal parts hold no escapes, so a template's string bodies read as written.
const TEMPLATES: &[&str] = &[
    r#"up{rollgate_track="{{track}}"}"#,
    r#"up{pod=~"{{target}}", rev!~"{{revision}}"}"#,
    r#"sum(rate(x{ns="{{ namespace }}", pod=~"{{rollout}}-.*"}[1m])) # {not a "string"}"#,
    "up{a=\"pre-{{stableRevision}}-{{canaryRevision}}-post\"} or on() label_replace(vector(1), 'a', `b`, \"c\", \"{{track}}\")\n# end",
];

fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\"} or vector(1) #".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just(".*".to_owned()),
        Just("{{track}}".to_owned()),
        Just("'`".to_owned()),
        Just("\u{FFFD}\u{202E}\u{85}".to_owned()),
        any::<char>().prop_map(String::from),
        "[a-z]{0,4}",
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..8).prop_map(|p| p.concat()),
        any::<String>()
    ]
}

fn all_vars() -> impl Strategy<Value = [String; 7]> {
    [
        hostile(),
        hostile(),
        hostile(),
        hostile(),
        hostile(),
        hostile(),
        hostile(),
    ]
}

fn as_vars(v: &[String; 7]) -> TemplateVars<'_> {
    TemplateVars {
        namespace: &v[0],
        rollout: &v[1],
        target: &v[2],
        track: &v[3],
        revision: &v[4],
        stable_revision: &v[5],
        canary_revision: &v[6],
    }
}

/// Pieces of templates, mostly well formed so that many pass `check`, some not.
fn template_piece() -> impl Strategy<Value = String> {
    let inside = prop_oneof![
        Just("{{track}}"),
        Just("{{ revision }}"),
        Just("\\\\"),
        Just("\\\""),
        Just("a"),
        Just(".*"),
        Just("{"),
        Just("}"),
        Just("'"),
        Just("`"),
        Just("#"),
    ];
    let code = prop_oneof![
        Just("{"),
        Just("}"),
        Just("=~"),
        Just("!~"),
        Just("="),
        Just(" "),
        Just("a"),
        Just(","),
        Just("\n"),
    ];
    let stray = prop_oneof![
        Just("\""),
        Just("'"),
        Just("`"),
        Just("#"),
        Just("{{track}}"),
        Just("\\"),
        Just("{{x}}")
    ];
    prop_oneof![
        4 => prop::collection::vec(inside, 0..5).prop_map(|p| format!("\"{}\"", p.concat())),
        1 => Just("'a{'".to_owned()),
        1 => Just("`a\\`".to_owned()),
        1 => Just("# c \"\n".to_owned()),
        4 => code.prop_map(String::from),
        1 => stray.prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn user_data_never_changes_the_query_shape(index in 0..TEMPLATES.len(), values in all_vars()) {
        let template = TEMPLATES[index];
        let vars = as_vars(&values);
        let rendered = render(template, &vars).unwrap();
        prop_assert_eq!(shape(&rendered), shape(&render(template, &HARMLESS).unwrap()));
        let decoded = decoded_strings(&rendered);
        let wanted = expected_strings(template, &vars);
        prop_assert_eq!(decoded.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), wanted);
        // Where a literal is exactly one placeholder, it reads back as the raw value.
        if index == 0 {
            prop_assert_eq!(&decoded[0].0, vars.track);
        }
        if index == 1 {
            prop_assert!(decoded[0].1);
            prop_assert_eq!(unescape_regex(&decoded[0].0), vars.target);
            prop_assert_eq!(unescape_regex(&decoded[1].0), vars.revision);
        }
    }

    #[test]
    fn any_template_that_checks_keeps_its_shape(pieces in prop::collection::vec(template_piece(), 0..10), values in all_vars()) {
        let template = pieces.concat();
        // The template layer's property: placeholders checked, whether or not it is PromQL.
        if placeholders(&template).is_ok() {
            let rendered = render(&template, &as_vars(&values)).unwrap();
            prop_assert_eq!(shape(&rendered), shape(&render(&template, &HARMLESS).unwrap()));
        }
    }
}
