//! `--redact` (issue 7): session names, user names and source IPs never
//! reach the report, the analyses still find what they found, and the same
//! key gives the same pseudonyms run after run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const KEY: &str = "a redaction key for the tests, 32b";

fn scan_redacted(corpus: &Path, out: &Path, key: Option<&str>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedtrail"));
    cmd.args([
        "scan",
        corpus.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .args(extra)
    .env_remove("FEDTRAIL_REDACT_KEY");
    if let Some(key) = key {
        cmd.env("FEDTRAIL_REDACT_KEY", key);
    }
    cmd.output().unwrap()
}

/// Everything a report says, as text: every Parquet row, and the text files.
fn report_text(out: &Path) -> String {
    let mut all = String::new();
    for f in files_below(out) {
        let path = out.join(&f);
        if f.extension().is_some_and(|e| e == "parquet") {
            for row in rows(&path) {
                all.push_str(&format!("{row:?}\n"));
            }
        } else {
            all.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    all
}

/// The findings of a report, without their detail text (which quotes
/// example names).
fn findings(out: &Path) -> BTreeSet<String> {
    rows(&out.join("findings.parquet"))
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?}",
                str_field(r, "finding").unwrap(),
                str_field(r, "severity").unwrap(),
                str_field(r, "subject").unwrap(),
                long_field(r, "evidence_count")
            )
        })
        .collect()
}

#[test]
fn redacted_reports_hold_no_names_or_ips_and_find_the_same_things() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, &["--events", "6000"]);
    let plain = dir.path().join("plain");
    assert_eq!(scan(&[&corpus], &plain, &[]).status.code(), Some(0));

    // The personal values the plain report holds.
    let mut personal = BTreeSet::new();
    for e in all_events(&plain) {
        for field in ["session_name", "user_name", "source_ip"] {
            if let Some(v) = str_field(&e, field) {
                personal.insert(v.trim().to_string());
            }
        }
    }
    for c in rows(&plain.join("changes.parquet")) {
        if str_field(&c, "target_type") == Some("user") {
            personal.extend(str_field(&c, "target").map(str::to_string));
        }
    }
    personal.retain(|v| v.len() >= 4 && v != "HIDDEN_DUE_TO_SECURITY_REASONS");
    assert!(personal.len() > 50, "{}", personal.len());

    let out = dir.path().join("redacted");
    let result = scan_redacted(&corpus, &out, Some(KEY), &["--redact"]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let said = report_text(&out);
    let leaked: Vec<&String> = personal
        .iter()
        .filter(|v| said.contains(v.as_str()))
        .collect();
    assert!(leaked.is_empty(), "in the redacted report: {leaked:?}");

    // The analyses see the same people: the same findings (case drift and
    // format mismatch included), failures and incidents.
    assert_eq!(findings(&out), findings(&plain));
    let shape = |out: &Path| -> Vec<String> {
        rows(&out.join("failures.parquet"))
            .iter()
            .map(|r| {
                format!(
                    "{:?} {:?} {:?} {:?}",
                    str_field(r, "failure_class"),
                    long_field(r, "failures"),
                    long_field(r, "distinct_sessions"),
                    long_field(r, "distinct_source_ips")
                )
            })
            .collect()
    };
    assert_eq!(shape(&out), shape(&plain));
    assert_eq!(
        rows(&out.join("incidents.parquet")).len(),
        rows(&plain.join("incidents.parquet")).len()
    );
    assert!(findings(&out)
        .iter()
        .any(|f| f.starts_with("session_name_case_drift")));

    // Same key, same pseudonyms; another key, others.
    let again = dir.path().join("again");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let from_file = ["--redact", "--redact-key-file", key_file.to_str().unwrap()];
    assert_eq!(
        scan_redacted(&corpus, &again, None, &from_file)
            .status
            .code(),
        Some(0)
    );
    let names = |out: &Path| -> Vec<Option<String>> {
        all_events(out)
            .iter()
            .map(|r| str_field(r, "session_name").map(str::to_string))
            .collect()
    };
    assert_eq!(names(&again), names(&out));
    let other = dir.path().join("other");
    let other_key = Some("quite another key, also 32 bytes");
    assert_eq!(
        scan_redacted(&corpus, &other, other_key, &["--redact"])
            .status
            .code(),
        Some(0)
    );
    assert_ne!(names(&other), names(&out));

    // A redacted report is never merged with plain rows, or another key's.
    for (key, args, want) in [
        (None, &[][..], "written with --redact"),
        (
            other_key,
            &["--redact"][..],
            "this run is with --redact (key id",
        ),
    ] {
        let result = scan_redacted(&corpus, &out, key, args);
        assert_eq!(result.status.code(), Some(2));
        let err = text(&result.stderr);
        assert!(err.contains(want) && err.contains("--full"), "{err}");
    }
}

#[test]
fn redact_without_a_good_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(
        &corpus,
        &["--events", "300", "--scenario", "none", "--days", "1"],
    );
    let out = dir.path().join("out");
    let missing = dir.path().join("no-such-key");
    for (key, args, want) in [
        (
            None,
            vec!["--redact"],
            "--redact needs a key: set FEDTRAIL_REDACT_KEY",
        ),
        (
            Some("short"),
            vec!["--redact"],
            "the --redact key is 5 bytes; use at least 16",
        ),
        (
            None,
            vec!["--redact", "--redact-key-file", missing.to_str().unwrap()],
            "cannot read it",
        ),
    ] {
        let result = scan_redacted(&corpus, &out, key, &args);
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        let err = text(&result.stderr);
        assert!(err.contains(want), "{err}");
        assert!(!out.exists(), "nothing written");
    }
}
