//! End-to-end tests of the analysis module: built-in analyzers token by
//! token, CrateDB's documented `CREATE ANALYZER` examples, EXTENDS chains,
//! the errors `CREATE ANALYZER` gives, and that no input makes any analyzer
//! panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::error::Error;

fn params(v: Value) -> Vec<(String, Value)> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn tokens(name: &str, custom: &BTreeMap<String, AnalyzerDef>, text: &str) -> Vec<String> {
    let mut a = build(name, custom).expect("analyzer builds");
    analyze(&mut a, text)
}

fn positioned(
    name: &str,
    custom: &BTreeMap<String, AnalyzerDef>,
    text: &str,
) -> Vec<(usize, String)> {
    let mut a = build(name, custom).expect("analyzer builds");
    analyze_with_positions(&mut a, text)
}

fn none() -> BTreeMap<String, AnalyzerDef> {
    BTreeMap::new()
}

fn register(custom: &mut BTreeMap<String, AnalyzerDef>, def: AnalyzerDef) {
    validate(&def, custom).expect("definition is valid");
    custom.insert(def.name.clone(), def);
}

#[test]
fn builtin_analyzers_token_by_token() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "standard",
            "The quick brown fox jumps Over the lAzY DOG.",
            &[
                "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog",
            ],
        ),
        (
            "standard",
            "Don't stop-believing 3.14",
            &["don't", "stop", "believing", "3.14"],
        ),
        ("default", "Hello WORLD", &["hello", "world"]),
        (
            "simple",
            "It's 2 late-night SNACKS",
            &["it", "s", "late", "night", "snacks"],
        ),
        (
            "whitespace",
            "The  Quick-Brown\tfox.",
            &["The", "Quick-Brown", "fox."],
        ),
        (
            "stop",
            "The QUICK brown fox is in the box",
            &["quick", "brown", "fox", "box"],
        ),
        ("keyword", "New York, NY", &["New York, NY"]),
        (
            "pattern",
            "Hello, world_2 CAFÉ",
            &["hello", "world_2", "caf"],
        ),
        (
            "snowball",
            "The runners were running quickly",
            &["runner", "were", "run", "quick"],
        ),
        (
            "fingerprint",
            "Yes yes, Gödel said this sentence is consistent and.",
            &["and consistent godel is said sentence this yes"],
        ),
        ("english", "The end of the Galaxy.", &["end", "galaxi"]),
        (
            "english",
            "John's generalizations about ponies aren't relational",
            &["john", "gener", "about", "poni", "aren't", "relat"],
        ),
        ("german", "Die Häuser und die Katzen", &["haus", "katz"]),
        ("french", "L'avion et les enfants", &["avion", "enfant"]),
        ("spanish", "Los niños corrían", &["niñ", "corr"]),
        ("turkish", "İSTANBUL'da", &["istanbul"]),
        ("russian", "Мы читали книги", &["чита", "книг"]),
    ];
    for (name, text, expected) in cases {
        assert_eq!(tokens(name, &none(), text), *expected, "{name} on {text:?}");
    }
}

#[test]
fn stop_words_leave_position_gaps() {
    assert_eq!(
        positioned("english", &none(), "The end of the Galaxy."),
        vec![(1, "end".to_string()), (4, "galaxi".to_string())]
    );
    assert_eq!(
        positioned("stop", &none(), "a cat and a dog"),
        vec![(1, "cat".to_string()), (4, "dog".to_string())]
    );
    assert_eq!(
        positioned("standard", &none(), "a cat"),
        vec![(0, "a".to_string()), (1, "cat".to_string())]
    );
}

#[test]
fn lists_name_what_builds() {
    for name in builtin_analyzers() {
        assert!(build(name, &none()).is_ok(), "analyzer {name}");
    }
    for name in builtin_tokenizers() {
        let def = AnalyzerDef {
            tokenizer: Some(Component::named(*name)),
            ..AnalyzerDef::named("t")
        };
        assert!(validate(&def, &none()).is_ok(), "tokenizer {name}");
    }
    let needs_params = ["keep", "pattern_replace"];
    for name in builtin_token_filters()
        .iter()
        .filter(|n| !needs_params.contains(n))
    {
        let def = AnalyzerDef {
            tokenizer: Some(Component::named("standard")),
            token_filters: vec![Component::named(*name)],
            ..AnalyzerDef::named("t")
        };
        assert!(validate(&def, &none()).is_ok(), "token filter {name}");
    }
    assert!(builtin_char_filters().contains(&"html_strip"));
}

/// The examples of CrateDB's `CREATE ANALYZER` documentation.
fn docs_analyzers() -> BTreeMap<String, AnalyzerDef> {
    let mut custom = BTreeMap::new();
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::named("whitespace")),
            token_filters: vec![Component::named("lowercase"), Component::named("kstem")],
            char_filters: vec![Component::named("html_strip")],
            ..AnalyzerDef::named("myanalyzer")
        },
    );
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::named("whitespace")),
            token_filters: vec![Component::named("lowercase"), Component::named("kstem")],
            char_filters: vec![Component::with(
                "mymapping",
                params(json!({"type": "mapping", "mappings": ["ph=>f", "qu=>q", "foo=>bar"]})),
            )],
            ..AnalyzerDef::named("myanalyzer_customized")
        },
    );
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("snowball".into()),
            parameters: params(json!({"language": "german"})),
            ..AnalyzerDef::named("german_snowball")
        },
    );
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("myanalyzer".into()),
            tokenizer: Some(Component::with(
                "mypattern",
                params(json!({"type": "pattern", "pattern": ".*"})),
            )),
            ..AnalyzerDef::named("e2")
        },
    );
    custom
}

#[test]
fn documented_examples() {
    let custom = docs_analyzers();
    assert_eq!(
        tokens(
            "myanalyzer",
            &custom,
            "<p>The <b>Jumping</b> Foxes</p><br>ran"
        ),
        vec!["the", "jump", "fox", "ran"]
    );
    assert_eq!(
        tokens("myanalyzer_customized", &custom, "phone quick food Quest"),
        vec!["fone", "qick", "bard", "quest"]
    );
    assert_eq!(
        tokens("german_snowball", &custom, "Die Katzen und die Häuser"),
        vec!["katz", "haus"]
    );
    // The pattern '.*' splits: a line has no text between its matches.
    assert_eq!(tokens("e2", &custom, "Some Text"), Vec::<String>::new());
    assert_eq!(tokens("e2", &custom, "<b>a</b>\nb"), vec!["\n"]);
}

#[test]
fn extends_chains() {
    let mut custom = docs_analyzers();
    // Extending a custom analyzer replaces only what is given.
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("myanalyzer".into()),
            token_filters: vec![Component::named("uppercase")],
            ..AnalyzerDef::named("loud")
        },
    );
    assert_eq!(
        tokens("loud", &custom, "<i>quiet</i> words"),
        vec!["QUIET", "WORDS"]
    );
    // Extending an extended built-in merges the parameters.
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("german_snowball".into()),
            parameters: params(json!({"stopwords": ["katzen"]})),
            ..AnalyzerDef::named("german_cats")
        },
    );
    assert_eq!(tokens("german_cats", &custom, "Die Katzen"), vec!["die"]);
    // A built-in's parameters: standard with stop words and a short token cap.
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("standard".into()),
            parameters: params(json!({"stopwords": "_english_", "max_token_length": 4})),
            ..AnalyzerDef::named("short")
        },
    );
    assert_eq!(
        positioned("short", &custom, "The galaxy"),
        vec![(1, "gala".to_string()), (2, "xy".to_string())]
    );
    register(
        &mut custom,
        AnalyzerDef {
            extends: Some("english".into()),
            parameters: params(json!({"stem_exclusion": ["galaxy"]})),
            ..AnalyzerDef::named("en_keep")
        },
    );
    assert_eq!(
        tokens("en_keep", &custom, "galaxy stars"),
        vec!["galaxy", "star"]
    );
    // A cycle written around validation is caught when building.
    let mut cyclic = BTreeMap::new();
    for (name, parent) in [("a", "b"), ("b", "a")] {
        cyclic.insert(
            name.to_string(),
            AnalyzerDef {
                extends: Some(parent.into()),
                ..AnalyzerDef::named(name)
            },
        );
    }
    assert!(
        matches!(build("a", &cyclic), Err(Error::InvalidArgument(m)) if m.contains("extends itself"))
    );
}

#[test]
fn create_analyzer_errors() {
    let custom = docs_analyzers();
    let tok = |c: Component| AnalyzerDef {
        tokenizer: Some(c),
        ..AnalyzerDef::named("x")
    };
    let filter = |c: Component| AnalyzerDef {
        tokenizer: Some(Component::named("standard")),
        token_filters: vec![c],
        ..AnalyzerDef::named("x")
    };
    let char_filter = |c: Component| AnalyzerDef {
        tokenizer: Some(Component::named("standard")),
        char_filters: vec![c],
        ..AnalyzerDef::named("x")
    };
    let cases: Vec<(AnalyzerDef, Error)> = vec![
        (
            AnalyzerDef {
                tokenizer: Some(Component::named("standard")),
                ..AnalyzerDef::named("Default")
            },
            Error::InvalidArgument("Overriding the default analyzer is forbidden".into()),
        ),
        (
            AnalyzerDef {
                tokenizer: Some(Component::named("standard")),
                ..AnalyzerDef::named("english")
            },
            Error::InvalidArgument("Cannot override builtin analyzer 'english'".into()),
        ),
        (
            AnalyzerDef {
                extends: Some("nope".into()),
                ..AnalyzerDef::named("x")
            },
            Error::InvalidArgument("Extended Analyzer 'nope' does not exist".into()),
        ),
        (
            AnalyzerDef::named("x"),
            Error::Unsupported("Tokenizer missing from non-extended analyzer".into()),
        ),
        (
            tok(Component::named("a9tok")),
            Error::InvalidArgument("Non-existing tokenizer 'a9tok'".into()),
        ),
        (
            tok(Component::with(
                "standard",
                params(json!({"max_token_length": 3})),
            )),
            Error::InvalidArgument("tokenizer name 'standard' is reserved".into()),
        ),
        (
            tok(Component::with("mytok", params(json!({"pattern": "x"})))),
            Error::InvalidArgument("'type' property missing".into()),
        ),
        (
            tok(Component::with("mytok", params(json!({"type": "bogus"})))),
            Error::InvalidArgument("Non-existing built-in tokenizer type 'bogus'".into()),
        ),
        (
            filter(Component::named("bogus")),
            Error::InvalidArgument("Non-existing built-in token-filter 'bogus'".into()),
        ),
        (
            filter(Component::with("stop", params(json!({"type": "stop"})))),
            Error::InvalidArgument(
                "token-filter name 'stop' is reserved, 'type' property forbidden here".into(),
            ),
        ),
        (
            filter(Component::with("myf", params(json!({"type": "bogus"})))),
            Error::InvalidArgument("Non-existing built-in token-filter type 'bogus'".into()),
        ),
        (
            char_filter(Component::named("bogus")),
            Error::InvalidArgument("Non-existing built-in char-filter 'bogus'".into()),
        ),
        (
            char_filter(Component::named("mapping")),
            Error::InvalidArgument(
                "CHAR_FILTER of type 'mapping' needs additional parameters".into(),
            ),
        ),
        (
            char_filter(Component::with("m", params(json!({"type": "bogus"})))),
            Error::InvalidArgument("Non-existing built-in char-filter type 'bogus'".into()),
        ),
        (
            filter(Component::with(
                "myngram",
                params(json!({"type": "ngram", "min_gram": 3, "max_gram": 2})),
            )),
            Error::InvalidArgument("minGram must not be greater than maxGram".into()),
        ),
        (
            AnalyzerDef {
                extends: Some("cjk".into()),
                ..AnalyzerDef::named("x")
            },
            Error::Unsupported("the cjk analyzer is not supported".into()),
        ),
        (
            filter(Component::named("synonym")),
            Error::Unsupported("the synonym token filter is not supported".into()),
        ),
    ];
    for (def, expected) in cases {
        assert_eq!(validate(&def, &custom), Err(expected), "{def:?}");
    }
    assert!(
        matches!(build("nope", &custom), Err(Error::InvalidArgument(m)) if m == "No analyzer found for [nope]")
    );
    assert!(matches!(build("thai", &custom), Err(Error::Unsupported(_))));
    // Custom components with a type are accepted, built-ins may take parameters.
    let ok = AnalyzerDef {
        tokenizer: Some(Component::with(
            "my_ngram",
            params(json!({"type": "ngram", "token_chars": ["letter", "digit"]})),
        )),
        token_filters: vec![
            Component::with("stop", params(json!({"stopwords": ["x"]}))),
            Component::with(
                "mystem",
                params(json!({"type": "snowball", "language": "german"})),
            ),
        ],
        ..AnalyzerDef::named("x")
    };
    assert_eq!(validate(&ok, &custom), Ok(()));
}

#[test]
fn definitions_round_trip_through_serde() {
    for def in docs_analyzers().values() {
        let json = serde_json::to_string(def).expect("serializes");
        let back: AnalyzerDef = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(&back, def);
        for packed in [rmp_serde::to_vec(def), rmp_serde::to_vec_named(def)] {
            let back: AnalyzerDef = rmp_serde::from_slice(&packed.expect("msgpack serializes"))
                .expect("msgpack deserializes");
            assert_eq!(&back, def);
        }
    }
}

#[test]
fn shingles_and_ngrams_in_a_chain() {
    let mut custom = BTreeMap::new();
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::named("standard")),
            token_filters: vec![
                Component::named("lowercase"),
                Component::named("stop"),
                Component::named("shingle"),
            ],
            ..AnalyzerDef::named("shingle_default")
        },
    );
    assert_eq!(
        tokens(
            "shingle_default",
            &custom,
            "This sentence only has Humans in the text."
        ),
        vec![
            "_ sentence",
            "sentence",
            "sentence only",
            "only",
            "only has",
            "has",
            "has humans",
            "humans",
            "humans _",
            "_ _",
            "_ text",
            "text"
        ]
        .into_iter()
        .filter(|t| *t != "_ _")
        .collect::<Vec<_>>()
    );
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::with(
                "edges",
                params(
                    json!({"type": "edge_ngram", "min_gram": 2, "max_gram": 10, "token_chars": ["letter"]}),
                ),
            )),
            token_filters: vec![Component::named("lowercase")],
            ..AnalyzerDef::named("autocomplete")
        },
    );
    assert_eq!(
        tokens("autocomplete", &custom, "Quick Fo"),
        vec!["qu", "qui", "quic", "quick", "fo"]
    );
}

/// Every analyzer a test can name: the built-ins, the documented examples
/// and a chain through every stream-shaping filter.
fn every_analyzer() -> (Vec<String>, BTreeMap<String, AnalyzerDef>) {
    let mut custom = docs_analyzers();
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::with(
                "t",
                params(json!({"type": "uax_url_email", "max_token_length": 5})),
            )),
            token_filters: vec![
                Component::named("asciifolding"),
                Component::named("elision"),
                Component::with(
                    "ng",
                    params(
                        json!({"type": "edge_ngram", "min_gram": 1, "max_gram": 3, "preserve_original": true}),
                    ),
                ),
                Component::with(
                    "sh",
                    params(json!({"type": "shingle", "max_shingle_size": 3})),
                ),
                Component::named("unique"),
                Component::named("reverse"),
                Component::named("porter_stem"),
                Component::named("fingerprint"),
            ],
            char_filters: vec![
                Component::named("html_strip"),
                Component::with(
                    "p",
                    params(
                        json!({"type": "pattern_replace", "pattern": "(\\d)", "replacement": "<$1>"}),
                    ),
                ),
            ],
            ..AnalyzerDef::named("kitchen_sink")
        },
    );
    register(
        &mut custom,
        AnalyzerDef {
            tokenizer: Some(Component::with(
                "n",
                params(
                    json!({"type": "ngram", "token_chars": ["letter", "punctuation", "symbol"]}),
                ),
            )),
            token_filters: vec![
                Component::named("kstem"),
                Component::named("decimal_digit"),
                Component::named("classic"),
            ],
            ..AnalyzerDef::named("grams")
        },
    );
    let mut names: Vec<String> = builtin_analyzers().iter().map(|s| s.to_string()).collect();
    names.extend(custom.keys().cloned());
    (names, custom)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_analyzer_panics(text in "\\PC{0,40}|[<&a-zA-Z'’;#x0-9 \\-/.]{0,40}|\\p{Thai}{0,10}") {
        let (names, custom) = every_analyzer();
        for name in &names {
            let mut a = build(name, &custom).expect("analyzer builds");
            let _ = analyze_with_positions(&mut a, &text);
        }
    }
}
