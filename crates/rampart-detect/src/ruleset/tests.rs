//! End-to-end tests of the rule set: every modifier and condition form,
//! filters, routing and hostile input, each compiled from YAML and run on
//! JSON events, with the prefilter checked against exhaustive evaluation.

use serde_json::{Value, json};

use crate::{CompileError, CompileOptions, LogSource, RuleSet, compile_str};

fn rule(detection: &str) -> String {
    let body: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    format!("title: t\nid: r1\nlogsource: {{product: test}}\ndetection:\n{body}")
}

fn compile(detection: &str) -> RuleSet {
    compile_with(detection, CompileOptions::default())
}

fn compile_with(detection: &str, options: CompileOptions) -> RuleSet {
    let (set, rejected) = compile_str(&rule(detection), options);
    assert!(rejected.is_empty(), "{rejected:?}");
    set
}

fn reject(detection: &str) -> CompileError {
    let (set, rejected) = compile_str(&rule(detection), CompileOptions::default());
    assert!(set.is_empty());
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    rejected[0].reason.clone()
}

/// Whether the single rule matches, asserting the prefilter agrees.
fn hit(set: &RuleSet, ev: &Value) -> bool {
    let source = LogSource::any();
    let fast = set.matches(ev, &source);
    assert_eq!(fast, set.matches_exhaustive(ev, &source), "prefilter disagrees on {ev}");
    !fast.is_empty()
}

#[test]
fn plain_values_are_case_insensitive_whole_matches() {
    let s = compile("sel:\n  Image: 'C:\\Windows\\cmd.exe'\ncondition: sel");
    assert!(hit(&s, &json!({"Image": "c:\\windows\\CMD.EXE"})));
    assert!(!hit(&s, &json!({"Image": "c:\\windows\\cmd.exe2"})));
    assert!(!hit(&s, &json!({"Other": "c:\\windows\\cmd.exe"})));
}

#[test]
fn contains_startswith_endswith_and_all() {
    let s = compile(
        "sel:\n  CommandLine|contains|all: [' -a', ' -b']\n  Image|endswith: '\\x.exe'\n  User|startswith: adm\ncondition: sel",
    );
    let ok = json!({"CommandLine": "x -B -A", "Image": "C:\\X.EXE", "User": "Admin"});
    assert!(hit(&s, &ok));
    assert!(!hit(&s, &json!({"CommandLine": "x -a", "Image": "C:\\X.EXE", "User": "Admin"})));
    assert!(!hit(&s, &json!({"CommandLine": "x -a -b", "Image": "C:\\X.EXE", "User": "root"})));
}

#[test]
fn many_contains_values_use_one_automaton() {
    let values: Vec<String> = (0..50).map(|i| format!("'needle{i}x'")).collect();
    let s = compile(&format!("sel:\n  F|contains: [{}]\ncondition: sel", values.join(", ")));
    assert!(hit(&s, &json!({"F": "aaa NEEDLE42X bbb"})));
    assert!(!hit(&s, &json!({"F": "needle42"})));
}

#[test]
fn wildcards_and_escapes() {
    let s = compile("sel:\n  F: 'a*b?d'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "AxxxbXd"})));
    assert!(!hit(&s, &json!({"F": "abd"})));
    let s = compile("sel:\n  F: 'a\\*b'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "a*b"})));
    assert!(!hit(&s, &json!({"F": "axb"})));
    let s = compile("sel:\n  F: '*'\ncondition: sel");
    assert!(hit(&s, &json!({"F": ""})));
    assert!(!hit(&s, &json!({"G": "x"})));
}

#[test]
fn cased_matches_exactly() {
    let s = compile("sel:\n  F|cased|contains: Secret\ncondition: sel");
    assert!(hit(&s, &json!({"F": "a Secret b"})));
    assert!(!hit(&s, &json!({"F": "a secret b"})));
}

#[test]
fn regex_with_sub_modifiers() {
    let s = compile("sel:\n  F|re: '^ab+c$'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "abbbc"})));
    assert!(!hit(&s, &json!({"F": "ABBC"})), "re is case-sensitive by default");
    let s = compile("sel:\n  F|re|i: '^ab+c$'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "ABBC"})));
    let s = compile("sel:\n  F|re|m: '^x$'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "a\nx\nb"})));
    let s = compile("sel:\n  F|re|s: 'a.b'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "a\nb"})));
    let s = compile("sel:\n  F|re: 'a.b'\ncondition: sel");
    assert!(!hit(&s, &json!({"F": "a\nb"})));
}

#[test]
fn invalid_regex_is_a_located_error() {
    match reject("sel:\n  F|re: '(unclosed'\ncondition: sel") {
        CompileError::InvalidRegex { selection, key, message } => {
            assert_eq!((selection.as_str(), key.as_str()), ("sel", "F|re"));
            assert!(message.contains("(unclosed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(reject("sel:\n  F|re: '(?<=a)b'\ncondition: sel"), CompileError::InvalidRegex { .. }));
}

#[test]
fn base64_and_base64offset() {
    let s = compile("sel:\n  F|base64: 'cmd'\ncondition: sel");
    assert!(hit(&s, &json!({"F": "Y21k"})));
    let s = compile("sel:\n  F|base64offset|contains: '/bin/sh'\ncondition: sel");
    // The value at offsets 0, 1 and 2 inside longer encoded texts.
    for text in ["/bin/sh -c", "x/bin/sh", "xy/bin/sh"] {
        let enc = data_encoding::BASE64.encode(text.as_bytes());
        assert!(hit(&s, &json!({"F": enc})), "{text}");
    }
    assert!(!hit(&s, &json!({"F": data_encoding::BASE64.encode(b"/bin/bash")})));
}

#[test]
fn utf16_encodings_before_base64() {
    let wide = |s: &str, be: bool, bom: bool| {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        for u in s.encode_utf16() {
            bytes.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        data_encoding::BASE64.encode(&bytes)
    };
    let s = compile("sel:\n  F|wide|base64: 'ping'\ncondition: sel");
    assert!(hit(&s, &json!({"F": wide("ping", false, false)})));
    let s = compile("sel:\n  F|utf16le|base64: 'ping'\ncondition: sel");
    assert!(hit(&s, &json!({"F": wide("ping", false, false)})));
    let s = compile("sel:\n  F|utf16be|base64: 'ping'\ncondition: sel");
    assert!(hit(&s, &json!({"F": wide("ping", true, false)})));
    let s = compile("sel:\n  F|utf16|base64: 'ping'\ncondition: sel");
    assert!(hit(&s, &json!({"F": wide("ping", false, true)})));
    let s = compile("sel:\n  F|utf16le|base64offset|contains: 'ping'\ncondition: sel");
    assert!(hit(&s, &json!({"F": wide("xping", false, false)})));
    assert!(matches!(reject("sel:\n  F|wide: 'ping'\ncondition: sel"), CompileError::ModifierUse { .. }));
}

#[test]
fn invalid_base64_inputs_are_errors_not_panics() {
    assert!(matches!(reject("sel:\n  F|base64: 'a*b'\ncondition: sel"), CompileError::InvalidValue { .. }));
    assert!(matches!(reject("sel:\n  F|base64offset|contains: ''\ncondition: sel"), CompileError::InvalidValue { .. }));
}

#[test]
fn windash_accepts_every_dash() {
    let s = compile("sel:\n  F|windash|contains: ' -enc '\ncondition: sel");
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert!(hit(&s, &json!({"F": format!("powershell {dash}enc AAA")})), "{dash}");
    }
    assert!(!hit(&s, &json!({"F": "powershell +enc AAA"})));
}

#[test]
fn cidr_v4_and_v6() {
    let s = compile("sel:\n  Ip|cidr: ['10.0.0.0/8', 'fe80::/10']\ncondition: sel");
    assert!(hit(&s, &json!({"Ip": "10.20.30.40"})));
    assert!(hit(&s, &json!({"Ip": "FE80::1"})));
    assert!(!hit(&s, &json!({"Ip": "192.168.1.1"})));
    assert!(!hit(&s, &json!({"Ip": "not an ip"})));
    assert!(matches!(reject("sel:\n  Ip|cidr: '10.0.0.0/40'\ncondition: sel"), CompileError::InvalidValue { .. }));
}

#[test]
fn exists_true_and_false() {
    let s = compile("sel:\n  F|exists: true\ncondition: sel");
    assert!(hit(&s, &json!({"F": null})));
    assert!(!hit(&s, &json!({"G": 1})));
    let s = compile("sel:\n  F|exists: false\ncondition: sel");
    assert!(hit(&s, &json!({"G": 1})));
    assert!(matches!(reject("sel:\n  F|exists: maybe\ncondition: sel"), CompileError::ModifierUse { .. }));
}

#[test]
fn neq_for_strings_and_numbers() {
    let s = compile("sel:\n  F|neq: [a, b]\ncondition: sel");
    assert!(hit(&s, &json!({"F": "c"})));
    assert!(!hit(&s, &json!({"F": "B"})));
    let s = compile("sel:\n  N|neq: 4\ncondition: sel");
    assert!(hit(&s, &json!({"N": 5})));
    assert!(!hit(&s, &json!({"N": 4})));
}

#[test]
fn numeric_comparisons() {
    let s = compile("sel:\n  N|gt: 10\n  M|lte: 2.5\ncondition: sel");
    assert!(hit(&s, &json!({"N": 11, "M": 2.5})));
    assert!(hit(&s, &json!({"N": "11", "M": "1"})), "numeric strings compare as numbers");
    assert!(!hit(&s, &json!({"N": 10, "M": 1})));
    let s = compile("sel:\n  N|lt: 0\ncondition: sel\n");
    assert!(hit(&s, &json!({"N": -1})));
    let s = compile("sel:\n  N|gte: 3\ncondition: sel\n");
    assert!(hit(&s, &json!({"N": 3})) && !hit(&s, &json!({"N": "x"})));
    assert!(matches!(reject("sel:\n  N|gt: ten\ncondition: sel"), CompileError::InvalidValue { .. }));
}

#[test]
fn fieldref_compares_two_fields() {
    let s = compile("sel:\n  A|fieldref: B\ncondition: sel");
    assert!(hit(&s, &json!({"A": "x", "B": "X"})));
    assert!(!hit(&s, &json!({"A": "x", "B": "y"})));
    assert!(!hit(&s, &json!({"A": "x"})));
    let s = compile("sel:\n  A|fieldref|neq: B\ncondition: sel");
    assert!(hit(&s, &json!({"A": "x", "B": "y"})));
    let s = compile("sel:\n  A|fieldref|endswith: B\ncondition: sel");
    assert!(hit(&s, &json!({"A": "c:\\x\\evil.exe", "B": "evil.exe"})));
}

#[test]
fn expand_uses_configured_placeholders() {
    let mut opts = CompileOptions::default();
    opts.placeholders.insert("Admins".into(), vec!["alice".into(), "bob".into()]);
    let s = compile_with("sel:\n  User|expand: '%Admins%'\ncondition: sel", opts);
    assert!(hit(&s, &json!({"User": "Bob"})));
    assert!(!hit(&s, &json!({"User": "carol"})));
    assert_eq!(reject("sel:\n  User|expand: '%Admins%'\ncondition: sel"), CompileError::Placeholder("Admins".into()));
}

#[test]
fn time_modifiers() {
    let s = compile("sel:\n  T|hour|gte: 22\ncondition: sel");
    assert!(hit(&s, &json!({"T": "2025-10-24T23:41:00Z"})));
    assert!(!hit(&s, &json!({"T": "2025-10-24T08:00:00Z"})));
    for (m, v) in [("minute", 41), ("day", 24), ("week", 43), ("month", 10), ("year", 2025)] {
        let s = compile(&format!("sel:\n  T|{m}: {v}\ncondition: sel"));
        assert!(hit(&s, &json!({"T": "2025-10-24 23:41:00.589"})), "{m}");
    }
}

#[test]
fn null_empty_and_numbers_vs_strings() {
    let s = compile("sel:\n  F: null\ncondition: sel");
    assert!(hit(&s, &json!({"F": null})));
    assert!(hit(&s, &json!({"G": 1})));
    assert!(!hit(&s, &json!({"F": ""})));
    let s = compile("sel:\n  F: ''\ncondition: sel");
    assert!(hit(&s, &json!({"F": ""})) && !hit(&s, &json!({"G": 1})));
    let s = compile("sel:\n  EventID: 4688\ncondition: sel");
    assert!(hit(&s, &json!({"EventID": 4688})) && hit(&s, &json!({"EventID": "4688"})));
    let s = compile("sel:\n  EventID: '4688'\ncondition: sel");
    assert!(hit(&s, &json!({"EventID": 4688})));
    let s = compile("sel:\n  B: true\ncondition: sel");
    assert!(hit(&s, &json!({"B": true})) && !hit(&s, &json!({"B": false})));
}

#[test]
fn lists_are_or_maps_are_and_and_arrays_match_any_member() {
    let s = compile("sel:\n  - {A: 1, B: 2}\n  - {C: 3}\ncondition: sel");
    assert!(hit(&s, &json!({"A": 1, "B": 2})));
    assert!(hit(&s, &json!({"C": 3})));
    assert!(!hit(&s, &json!({"A": 1, "C": 4})));
    let s = compile("sel:\n  Tags: b\ncondition: sel");
    assert!(hit(&s, &json!({"Tags": ["a", "B"]})));
}

#[test]
fn nested_fields_by_dotted_path() {
    let s = compile("sel:\n  process.name: bash\ncondition: sel");
    assert!(hit(&s, &json!({"process": {"name": "bash"}})));
    assert!(hit(&s, &json!({"process.name": "bash"})));
}

#[test]
fn keywords_search_every_string() {
    let s = compile("keywords:\n  - 'drop table'\n  - 'select \\*'\ncondition: keywords");
    assert!(hit(&s, &json!({"msg": {"sql": "DROP TABLE users"}})));
    assert!(hit(&s, &json!({"q": "select * from x"})));
    assert!(!hit(&s, &json!({"q": "select a from x"})));
}

#[test]
fn condition_forms() {
    let det = "sel_a: {A: 1}\nsel_b: {B: 1}\nfilter_x: {X: 1}\n_hidden: {H: 1}";
    let cases: &[(&str, Value, bool)] = &[
        ("sel_a and not filter_x", json!({"A": 1}), true),
        ("sel_a and not filter_x", json!({"A": 1, "X": 1}), false),
        ("sel_a or sel_b", json!({"B": 1}), true),
        ("(sel_a or sel_b) and filter_x", json!({"B": 1}), false),
        ("1 of sel_*", json!({"B": 1}), true),
        ("all of sel_*", json!({"B": 1}), false),
        ("all of sel_*", json!({"A": 1, "B": 1}), true),
        ("1 of them", json!({"X": 1}), true),
        ("1 of them", json!({"H": 1}), false),
        ("all of them", json!({"A": 1, "B": 1, "X": 1}), true),
        ("2 of sel_* or _hidden", json!({"H": 1}), true),
        ("not 1 of sel_*", json!({"Z": 1}), true),
    ];
    for (cond, ev, want) in cases {
        let s = compile(&format!("{det}\ncondition: {cond}"));
        assert_eq!(hit(&s, ev), *want, "{cond} on {ev}");
    }
    let s = compile(&format!("{det}\ncondition: [sel_a, sel_b]"));
    assert!(hit(&s, &json!({"B": 1})), "a list of conditions is ORed");
}

#[test]
fn unknown_selections_and_modifiers_are_named() {
    assert!(
        matches!(reject("sel: {A: 1}\ncondition: sel and nope"), CompileError::Condition { message, .. } if message.contains("nope"))
    );
    assert!(matches!(reject("sel: {A: 1}\ncondition: 1 of x*"), CompileError::Condition { .. }));
    assert_eq!(
        reject("sel: {A|frob: 1}\ncondition: sel"),
        CompileError::UnsupportedModifier { key: "A|frob".into(), modifier: "frob".into() }
    );
}

#[test]
fn hostile_inputs_give_errors_not_panics() {
    let deep = format!("sel: {{A: 1}}\ncondition: {}sel{}", "(".repeat(5000), ")".repeat(5000));
    assert!(matches!(reject(&deep), CompileError::Condition { .. }));
    let huge: Vec<String> = (0..20_000).map(|i| format!("v{i}")).collect();
    let s = compile(&format!("sel:\n  F|contains: [{}]\ncondition: sel", huge.join(", ")));
    assert!(hit(&s, &json!({"F": "xx v19999 yy"})));
    let (_, rejected) = compile_str("title: [unclosed", CompileOptions::default());
    assert!(matches!(rejected[0].reason, CompileError::Yaml { .. }));
    let (_, rejected) = compile_str("\u{0}\u{1}garbage: : :", CompileOptions::default());
    assert_eq!(rejected.len(), 1);
    let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = if i == 1 { String::new() } else { (i - 1).to_string() }
        ));
    }
    laughs.push_str("title: bomb\ndetection: {s: {F: *a11}, condition: s}\n");
    let (set, rejected) = compile_str(&laughs, CompileOptions::default());
    assert!(set.is_empty() && rejected.len() == 1, "alias expansion must be refused, not followed");
    let deep_event = (0..500).fold(json!("x"), |v, _| json!({ "a": v }));
    let s = compile("keywords: [needle]\ncondition: keywords");
    assert!(!hit(&s, &deep_event));
}

#[test]
fn routing_by_logsource() {
    let yaml = "title: a\nid: a\nlogsource: {product: windows, category: process_creation}\ndetection: {s: {F: x}, condition: s}\n\
                ---\ntitle: b\nid: b\nlogsource: {product: linux}\ndetection: {s: {F: x}, condition: s}\n";
    let (set, rejected) = compile_str(yaml, CompileOptions::default());
    assert!(rejected.is_empty());
    let ev = json!({"F": "x"});
    let ids = |ls: LogSource| set.matches(&ev, &ls).into_iter().filter_map(|m| m.rule_id).collect::<Vec<_>>();
    assert_eq!(ids(LogSource::new(Some("windows"), Some("process_creation"), Some("sysmon"))), vec!["a"]);
    assert_eq!(ids(LogSource::new(Some("linux"), Some("process_creation"), None)), vec!["b"]);
    assert_eq!(ids(LogSource::any()), vec!["a", "b"]);
    assert!(ids(LogSource::new(Some("macos"), None, None)).is_empty());
}

#[test]
fn field_mappings_apply_per_logsource() {
    let mut opts = CompileOptions::default();
    opts.field_mappings.push(crate::FieldMapping {
        logsource: LogSource::new(Some("test"), None, None),
        fields: [("Image".to_string(), "process.executable".to_string())].into_iter().collect(),
        roots: vec![],
    });
    let s = compile_with("sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel", opts);
    assert!(hit(&s, &json!({"process": {"executable": "C:\\cmd.exe"}})));
}

#[test]
fn filters_narrow_the_rules_they_name() {
    let yaml = "title: base\nid: base-id\nname: base_rule\nlogsource: {product: windows}\ndetection: {s: {User|startswith: adm}, condition: s}\n\
                ---\ntitle: no dc\nlogsource: {product: windows}\nfilter:\n  rules: [base_rule]\n  dc: {Host|startswith: DC}\n  condition: not dc\n\
                ---\ntitle: orphan\nlogsource: {product: windows}\nfilter:\n  rules: [missing]\n  x: {A: 1}\n  condition: not x\n";
    let (set, rejected) = compile_str(yaml, CompileOptions::default());
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(matches!(rejected[0].reason, CompileError::UnknownRule(_)));
    let src = LogSource::new(Some("windows"), None, None);
    assert_eq!(set.matches(&json!({"User": "admin", "Host": "WS1"}), &src).len(), 1);
    assert!(set.matches(&json!({"User": "admin", "Host": "DC01"}), &src).is_empty());
}

#[test]
fn explain_names_the_selections_and_values() {
    let s =
        compile("sel: {Image|endswith: '\\cmd.exe', User: bob}\nfilter: {User: alice}\ncondition: sel and not filter");
    let ev = json!({"Image": "C:\\cmd.exe", "User": "bob"});
    let ex = s.explain(&ev, &LogSource::any());
    assert_eq!(ex.len(), 1);
    assert!(ex[0].matched);
    let sel = &ex[0].selections[0];
    assert!(sel.matched);
    assert!(sel.alternatives[0].iter().any(|i| i.key == "Image|endswith" && i.matched && i.values == ["C:\\cmd.exe"]));
    assert!(!ex[0].selections[1].matched);
    let one = s.explain_rule("r1", &json!({"User": "bob"})).unwrap();
    assert!(!one.matched && one.selections[0].alternatives[0].iter().any(|i| i.values == ["<absent>"]));
}

#[test]
fn collections_compile_each_rule() {
    let yaml = "action: global\ntitle: shared\nlogsource: {product: test}\n---\nid: one\ndetection: {s: {A: 1}, condition: s}\n\
                ---\nid: two\ndetection: {s: {B: 1}, condition: s}\n";
    let (set, rejected) = compile_str(yaml, CompileOptions::default());
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(set.len(), 2);
    assert_eq!(set.matches(&json!({"B": 1}), &LogSource::any())[0].rule_id.as_deref(), Some("two"));
}

#[test]
fn duplicate_ids_are_rejected() {
    let yaml = "title: a\nid: same\ndetection: {s: {A: 1}, condition: s}\n---\ntitle: b\nid: same\ndetection: {s: {A: 1}, condition: s}\n";
    let (set, rejected) = compile_str(yaml, CompileOptions::default());
    assert_eq!((set.len(), rejected.len()), (1, 1));
}
