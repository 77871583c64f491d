//! Unit tests of key-policy parsing and evaluation: the AWS default policy,
//! user allows and denies, wildcards, and every refused construct.

use super::*;

const ACCT: &str = "123456789012";

fn parse(text: &str) -> KeyPolicy {
    KeyPolicy::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_default_policy_delegates_everything_to_roles() {
    let p = parse(&default_policy_text(ACCT));
    for op in Operation::ALL {
        assert_eq!(p.evaluate(ACCT, "alice", action(*op)), Decision::Delegate, "{op:?}");
    }
    assert_eq!(p.evaluate("999999999999", "alice", "Encrypt"), Decision::NotAllowed, "another account's root");
}

#[test]
fn a_user_statement_allows_only_its_actions_and_deny_wins() {
    let p = parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCT}:user/app"]}},
              "Action":["kms:Encrypt","kms:GenerateDataKey*"],"Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/intern"}},"Action":"kms:Decrypt","Resource":"*"}}
        ]}}"#
    ));
    assert_eq!(p.evaluate(ACCT, "app", "Encrypt"), Decision::Allow);
    assert_eq!(p.evaluate(ACCT, "app", "GenerateDataKeyWithoutPlaintext"), Decision::Allow, "wildcard");
    assert_eq!(p.evaluate(ACCT, "app", "Decrypt"), Decision::Delegate, "root statement still applies");
    assert_eq!(p.evaluate(ACCT, "intern", "Decrypt"), Decision::Deny);
    assert_eq!(p.evaluate(ACCT, "intern", "decrypt"), Decision::Deny, "actions are case-insensitive");
    assert_eq!(p.evaluate(ACCT, "intern", "Encrypt"), Decision::Delegate);
}

#[test]
fn without_a_root_statement_only_named_users_get_in() {
    let p = parse(&format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/app"}},"Action":"kms:Encrypt","Resource":"*"}}}}"#
    ));
    assert_eq!(p.evaluate(ACCT, "app", "Encrypt"), Decision::Allow);
    assert_eq!(p.evaluate(ACCT, "app", "PutKeyPolicy"), Decision::NotAllowed);
    assert_eq!(p.evaluate(ACCT, "admin", "Encrypt"), Decision::NotAllowed);
}

#[test]
fn a_deny_on_the_root_denies_every_user() {
    let p = parse(&format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}}
        ]}}"#
    ));
    assert_eq!(p.evaluate(ACCT, "anyone", "Encrypt"), Decision::Allow);
    assert_eq!(p.evaluate(ACCT, "anyone", "ScheduleKeyDeletion"), Decision::Deny);
}

#[test]
fn unsupported_or_malformed_documents_are_refused_with_a_reason() {
    let cases = [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        (r#"{"Statement":[]}"#, "non-empty"),
        (r#"{"Version":"2008-10-17","Statement":{}}"#, "Version"),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{}}}"#,
            "Condition",
        ),
        (r#"{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"kms:*","Resource":"*"}}"#, "NotAction"),
        (r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}}"#, "Effect"),
        (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#, "kms:NAME"),
        (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:x"}}"#, "Resource"),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::12:root"},"Action":"kms:*","Resource":"*"}}"#,
            "12 digits",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"x"},"Action":"kms:*","Resource":"*"}}"#,
            "AWS principals",
        ),
        (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}}"#, "non-empty list"),
        (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}}"#, "unknown"),
    ];
    for (doc, reason) in cases {
        let err = KeyPolicy::parse(doc).err().unwrap_or_else(|| panic!("{doc} must be refused"));
        assert!(err.to_string().contains(reason), "{doc}: {err}");
    }
    let huge = format!(r#"{{"Id":"{}","Statement":{{}}}}"#, "x".repeat(MAX_POLICY_BYTES));
    assert!(KeyPolicy::parse(&huge).is_err());
}

#[test]
fn wildcards_match_like_iam() {
    assert!(wildcard("*", "encrypt"));
    assert!(wildcard("generatedatakey*", "generatedatakeypairwithoutplaintext"));
    assert!(wildcard("re?ncrypt*", "reencryptfrom"));
    assert!(!wildcard("encrypt", "encrypts"));
    assert!(!wildcard("*crypt", "encryptx"));
    assert!(wildcard("*a*b*c*", "xxaxxbxxcxx"));
}

#[test]
fn management_and_use_are_told_apart() {
    assert!(is_management(Operation::ScheduleKeyDeletion));
    assert!(is_management(Operation::PutKeyPolicy));
    assert!(!is_management(Operation::Encrypt));
    assert!(!is_management(Operation::GetKeyPolicy));
    assert!(!is_management(Operation::DescribeKey));
}
