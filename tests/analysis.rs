//! Incidents and findings, end to end: the three outages bundled in
//! sample-logs/ come out with the right class and the right linked change,
//! and a quiet corpus has none.

mod common;

use common::*;
use fedtrail::time::parse_timestamp;

fn at(text: &str) -> i64 {
    parse_timestamp(text).unwrap()
}

fn scan_sample(out: &std::path::Path) {
    let result = fedtrail(&["scan", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1), "{}", text(&result.stderr));
}

#[test]
fn sample_logs_show_each_outage_as_an_incident_linked_to_its_change() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    scan_sample(&out);
    let incidents = rows(&out.join("incidents.parquet"));
    let summary: Vec<(String, String, Option<String>, Option<String>)> = incidents
        .iter()
        .map(|r| {
            (
                str_field(r, "stage").unwrap().to_string(),
                str_field(r, "dominant_class").unwrap().to_string(),
                str_field(r, "suspected_change_name").map(str::to_string),
                str_field(r, "recovered_by_change_name").map(str::to_string),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        summary,
        [
            // The IdP rotated its certificate: no AWS change caused it, the
            // metadata upload ended it.
            (
                s("sts"),
                s("signature_invalid"),
                None,
                Some(s("UpdateSAMLProvider"))
            ),
            // Connect users re-created in lower case while the IdP still sends mixed case.
            (
                s("connect"),
                s("connect_user_not_onboarded"),
                Some(s("DeleteUser")),
                None
            ),
            // An SCP region allow-list attached to the APAC OU, then fixed.
            (
                s("sts"),
                s("scp_denied"),
                Some(s("AttachPolicy")),
                Some(s("UpdatePolicy"))
            ),
        ]
    );
    let (cert, connect, scp) = (&incidents[0], &incidents[1], &incidents[2]);
    // Each incident sits inside its scenario's window (generate/mod.rs).
    for (row, from, to) in [
        (cert, "2026-05-26T08:00:00Z", "2026-05-26T11:10:00Z"),
        (connect, "2026-05-26T13:10:00Z", "2026-05-26T17:30:00Z"),
        (scp, "2026-05-27T02:00:00Z", "2026-05-27T05:45:00Z"),
    ] {
        let (start, end) = (
            long_field(row, "start").unwrap(),
            long_field(row, "end").unwrap(),
        );
        assert!(start >= at(from) && end <= at(to), "{row:?}");
        assert!(
            end - start > 2 * 3_600_000_000,
            "one incident, not fragments: {row:?}"
        );
        assert!(long_field(row, "failures").unwrap() >= 20, "{row:?}");
        assert!(
            long_field(row, "affected_sessions").unwrap() >= 5,
            "{row:?}"
        );
    }
    assert_eq!(
        list_field(cert, "providers"),
        ["arn:aws:iam::111122223333:saml-provider/OktaProd"]
    );
    assert_eq!(list_field(scp, "regions")[0], "ap-southeast-2");
    assert_eq!(
        long_field(cert, "recovered_by_change_time"),
        Some(at("2026-05-26T11:05:00Z"))
    );
    assert_eq!(
        str_field(scp, "suspected_change_target"),
        Some("p-4xregionlock")
    );
    assert_eq!(
        long_field(scp, "suspected_change_time"),
        Some(at("2026-05-27T01:55:00Z"))
    );
}

#[test]
fn sample_logs_findings_name_the_rotation_recovery_the_case_drift_and_the_region() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    scan_sample(&out);
    let findings = rows(&out.join("findings.parquet"));
    let find = |id: &str, subject: &str| {
        findings
            .iter()
            .find(|r| {
                str_field(r, "finding") == Some(id)
                    && str_field(r, "subject").unwrap().contains(subject)
            })
            .unwrap_or_else(|| panic!("no {id} finding about {subject}: {findings:#?}"))
    };
    let cert = find("certificate_rotation", "OktaProd");
    assert_eq!(str_field(cert, "failure_class"), Some("signature_invalid"));
    assert_eq!(
        str_field(cert, "related_change_name"),
        Some("UpdateSAMLProvider")
    );
    let ttr = long_field(cert, "time_to_recovery_minutes").unwrap();
    let first = long_field(cert, "first_seen").unwrap();
    assert_eq!(ttr, (at("2026-05-26T11:05:00Z") - first) / 60_000_000);
    assert!((175..=185).contains(&ttr), "about three hours: {ttr}");
    let detail = str_field(cert, "detail").unwrap();
    assert!(detail.contains("to recovery"), "{detail}");
    assert!(
        detail.contains("1 metadata upload(s) before that were rejected"),
        "{detail}"
    );

    let drift = find("session_name_case_drift", "4f8c2a1e");
    assert_eq!(
        str_field(drift, "failure_class"),
        Some("connect_user_not_onboarded")
    );
    assert_eq!(str_field(drift, "related_change_name"), Some("DeleteUser"));

    let region = find("regional_concentration", "ap-southeast-2");
    assert_eq!(str_field(region, "failure_class"), Some("scp_denied"));
    assert_eq!(
        str_field(region, "related_change_name"),
        Some("AttachPolicy")
    );
    for f in &findings {
        let ids = list_field(f, "evidence_event_ids");
        let n = long_field(f, "evidence_count").unwrap();
        assert_eq!(ids.len() as i64, n.min(20), "{f:?}");
    }
}

#[test]
fn a_quiet_corpus_with_scattered_failures_has_no_incident_and_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, out) = (dir.path().join("c"), dir.path().join("r"));
    generate(&corpus, &["--scenario", "none", "--events", "20000"]);
    let result = scan(&[&corpus], &out, &[]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let failures = rows(&out.join("failures.parquet"));
    let observed: i64 = failures
        .iter()
        .filter_map(|r| long_field(r, "failures"))
        .sum();
    assert!(
        observed >= 50,
        "the baseline does hold scattered failures: {observed}"
    );
    assert_eq!(rows(&out.join("incidents.parquet")), Vec::<Row>::new());
    assert_eq!(rows(&out.join("findings.parquet")), Vec::<Row>::new());
}

#[test]
fn each_scenario_alone_yields_its_own_incident_only() {
    for (scenario, class) in [
        ("cert-rotation", "signature_invalid"),
        ("connect-lowercase", "connect_user_not_onboarded"),
        ("scp-new-region", "scp_denied"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (corpus, out) = (dir.path().join("c"), dir.path().join("r"));
        generate(&corpus, &["--scenario", scenario, "--seed", "11"]);
        let result = scan(&[&corpus], &out, &[]);
        assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
        let classes: Vec<String> = rows(&out.join("incidents.parquet"))
            .iter()
            .map(|r| str_field(r, "dominant_class").unwrap().to_string())
            .collect();
        assert_eq!(classes, [class], "{scenario}");
    }
}

#[test]
fn incident_thresholds_are_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let strict = fedtrail(&[
        "scan",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--incident-min-failures",
        "100",
    ]);
    assert_eq!(strict.status.code(), Some(1));
    let kept: Vec<String> = rows(&out.join("incidents.parquet"))
        .iter()
        .map(|r| str_field(r, "dominant_class").unwrap().to_string())
        .collect();
    assert_eq!(
        kept,
        ["signature_invalid"],
        "only the rotation has 100 failures"
    );
    let bad = fedtrail(&["scan", "--incident-factor", "0.5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("--incident-factor"),
        "{}",
        text(&bad.stderr)
    );
}
