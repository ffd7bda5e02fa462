//! End to end: the real binary over real files, its Parquet read back with
//! an independent reader.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use fedtrail::classify::taxonomy::CLASSES;

/// The command that made the committed `sample-logs/` (also in the README).
const SAMPLE_ARGS: &[&str] = &["--events", "12000", "--bad-objects"];

#[test]
fn sample_logs_are_what_generate_makes() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("sample-logs");
    generate(&fresh, SAMPLE_ARGS);
    let committed = repo().join("sample-logs");
    let (a, b) = (files_below(&committed), files_below(&fresh));
    assert_eq!(
        a,
        b,
        "sample-logs/ differs from `fedtrail generate --out sample-logs {}`",
        SAMPLE_ARGS.join(" ")
    );
    for file in &a {
        assert!(
            std::fs::read(committed.join(file)).unwrap()
                == std::fs::read(fresh.join(file)).unwrap(),
            "{} differs; regenerate sample-logs/",
            file.display()
        );
    }
}

#[test]
fn default_scan_reads_sample_logs_and_writes_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    // No SOURCE: the bundled sample-logs/, as the README's first command.
    let result = fedtrail(&["scan", "--out", out.to_str().unwrap()]);
    let stdout = text(&result.stdout);
    assert_eq!(
        result.status.code(),
        Some(1),
        "sample-logs holds broken objects: exit 1\n{stdout}\n{}",
        text(&result.stderr)
    );
    assert!(
        stdout.contains("Observed failures by stage and class"),
        "{stdout}"
    );
    for table in fedtrail::sinks::TABLES {
        assert!(out.join(table).exists(), "{table} missing");
    }

    // Column names and types, as DESIGN.md promises them.
    let events = event_files(&out);
    assert!(events.len() >= 3, "one partition per day");
    let schema = schema(&events[0]);
    let names: Vec<&str> = schema.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "event_time",
            "event_id",
            "account_id",
            "region",
            "stage",
            "event_source",
            "event_name",
            "outcome",
            "failure_class",
            "error_code",
            "error_message",
            "role_arn",
            "role_name",
            "provider_arn",
            "provider_name",
            "session_name",
            "user_name",
            "issuer",
            "audience",
            "duration_seconds",
            "connect_instance_id",
            "endpoint_type",
            "source_ip",
            "user_agent",
            "source_object",
        ]
    );
    for (name, ty) in &schema {
        match name.as_str() {
            "event_time" => assert!(
                ty.starts_with("INT64")
                    && ty.contains("is_adjusted_to_u_t_c: true")
                    && ty.contains("MICROS"),
                "{name}: {ty}"
            ),
            "duration_seconds" => assert!(ty.starts_with("INT64"), "{name}: {ty}"),
            _ => assert!(
                ty.starts_with("BYTE_ARRAY") && ty.contains("String"),
                "{name}: {ty}"
            ),
        }
    }
    for (table, columns) in [
        (
            "failures.parquet",
            &[
                "account_id",
                "region",
                "stage",
                "failure_class",
                "error_code",
                "role_arn",
                "provider_arn",
                "failures",
                "distinct_sessions",
                "distinct_source_ips",
                "first_seen",
                "last_seen",
                "sample_message",
            ][..],
        ),
        (
            "timeline.parquet",
            &[
                "bucket_start",
                "stage",
                "failure_class",
                "attempts",
                "failures",
            ][..],
        ),
        (
            "changes.parquet",
            &[
                "event_time",
                "event_id",
                "account_id",
                "region",
                "event_source",
                "event_name",
                "target",
                "target_type",
                "detail",
                "actor",
                "outcome",
                "failure_class",
                "error_code",
                "error_message",
                "source_object",
            ][..],
        ),
        (
            "objects.parquet",
            &[
                "source",
                "key",
                "bytes",
                "records",
                "federation_records",
                "change_records",
                "rejected_records",
                "status",
                "reason",
            ][..],
        ),
    ] {
        let names: Vec<String> = schema_of(&out.join(table));
        assert_eq!(names, columns, "{table}");
    }

    // Every class of the taxonomy is produced by the sample and lands in a table.
    let failures = rows(&out.join("failures.parquet"));
    let changes = rows(&out.join("changes.parquet"));
    let produced: BTreeSet<&str> = failures
        .iter()
        .chain(&changes)
        .filter_map(|r| str_field(r, "failure_class"))
        .collect();
    let missing: Vec<&str> = CLASSES
        .iter()
        .map(|c| c.id)
        .filter(|c| !produced.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "classes the sample never produces: {missing:?}"
    );

    // No trap is counted as federation.
    let all = all_events(&out);
    for row in &all {
        let (source, name) = (
            str_field(row, "event_source").unwrap(),
            str_field(row, "event_name").unwrap(),
        );
        let ok = matches!(
            (source, name),
            ("sts.amazonaws.com", "AssumeRoleWithSAML")
                | (
                    "signin.amazonaws.com",
                    "ConsoleLogin"
                        | "ExternalIdPDirectoryLogin"
                        | "CredentialVerification"
                        | "UserAuthentication"
                )
                | ("connect.amazonaws.com", "GetFederationToken")
        );
        assert!(ok, "not a federation event: {source} {name}");
        if name == "ConsoleLogin" {
            assert!(
                str_field(row, "provider_arn").is_some(),
                "a console login without a SAML provider was kept"
            );
        }
    }

    // The three outages are visible in the failures.
    let count = |class: &str, pred: &dyn Fn(&Row) -> bool| {
        all.iter()
            .filter(|r| str_field(r, "failure_class") == Some(class) && pred(r))
            .count()
    };
    assert!(
        count("signature_invalid", &|r| str_field(r, "provider_name")
            == Some("OktaProd"))
            >= 30
    );
    assert!(
        count("connect_user_not_onboarded", &|r| str_field(
            r,
            "session_name"
        )
        .is_some_and(|s| s != s.to_lowercase()))
            >= 5
    );
    assert!(
        count("scp_denied", &|r| str_field(r, "region")
            == Some("ap-southeast-2"))
            >= 5
    );

    // Every bad object has its reason in objects.parquet and summary.md.
    let objects = rows(&out.join("objects.parquet"));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let bad: Vec<&Row> = objects
        .iter()
        .filter(|r| str_field(r, "status") == Some("unreadable"))
        .collect();
    assert_eq!(bad.len(), 3, "truncated gzip, not gzip, no Records");
    for row in &bad {
        let key = str_field(row, "key").unwrap();
        let reason = str_field(row, "reason").expect("unreadable objects have a reason");
        assert!(
            summary.contains(key) && summary.contains(reason),
            "{key}: {reason} not in summary.md"
        );
    }
    let skipped: BTreeSet<&str> = objects
        .iter()
        .filter(|r| str_field(r, "status") == Some("skipped"))
        .filter_map(|r| str_field(r, "reason"))
        .collect();
    assert!(
        skipped.iter().any(|r| r.contains("digest"))
            && skipped.iter().any(|r| r.contains("Insights")),
        "{skipped:?}"
    );

    // Nothing lost: the record counts add up, per object and in total.
    let run = run_json(&out);
    let c = &run["counts"];
    let n = |k: &str| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("run.json counts.{k}"))
    };
    assert_eq!(
        n("records"),
        n("rejected")
            + n("not_federation")
            + n("outside_selection")
            + n("federation_events")
            + n("config_changes")
    );
    assert_eq!(n("rejected"), 2);
    assert_eq!(
        n("events_written") + n("duplicate_events"),
        n("federation_events")
    );
    assert!(
        n("duplicate_events") > 0,
        "the redelivered object's events are dropped once"
    );
    let per_object: i64 = objects
        .iter()
        .filter_map(|r| long_field(r, "records"))
        .sum();
    assert_eq!(per_object as u64, n("records"));
    assert_eq!(all.len() as u64, n("events_written"));
    assert_eq!(n("objects_listed") as usize, objects.len());
}

fn schema_of(path: &Path) -> Vec<String> {
    schema(path).into_iter().map(|(n, _)| n).collect()
}

/// One thread or two, events held in memory or spilled to disk in many
/// runs (merged in between, too): the same tables, byte for byte.
#[test]
fn same_input_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(
        &corpus,
        &["--events", "4000", "--seed", "11", "--bad-objects"],
    );
    let a = dir.path().join("a");
    assert_eq!(
        scan(&[&corpus], &a, &["--threads", "1"]).status.code(),
        Some(1)
    );
    let files = files_below(&a);
    let parquet: Vec<_> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(parquet.len() >= 5);
    let counts = &run_json(&a)["counts"];
    assert!(counts["duplicate_events"].as_u64().unwrap() > 0);
    for (name, flags) in [
        ("b", &["--threads", "2"][..]),
        ("c", &["--threads", "2", "--spill-events", "40"][..]),
    ] {
        let b = dir.path().join(name);
        assert_eq!(scan(&[&corpus], &b, flags).status.code(), Some(1));
        assert_eq!(files, files_below(&b), "{flags:?}");
        for f in &parquet {
            assert!(
                std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
                "{} differs with {flags:?}",
                f.display()
            );
        }
        assert_eq!(&run_json(&b)["counts"], counts, "{flags:?}");
    }
}

/// What a bad object must end as.
enum Verdict {
    /// Not read; the reason contains this.
    Unreadable(&'static str),
    /// Read; this many records rejected, the first reason containing this;
    /// and this many federation events kept.
    Rejected(u64, &'static str, u64),
    /// Read whole: this many federation events kept.
    Accepted(u64),
    /// Not read, by its key or its content; the reason contains this.
    Skipped(&'static str),
}

/// A federation failure record with its own eventID, plus `extra` fields.
fn signin(id: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-05-25T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithSAML","awsRegion":"us-east-1","eventID":"{id}","recipientAccountId":"111122223333","errorCode":"InvalidIdentityToken","errorMessage":"Specified provider doesn't exist"{extra}}}"#
    )
}

/// Issue 7's matrix: every kind of bad input beside good objects. Each bad
/// object ends unreadable, rejected, skipped or accepted as it should, with
/// one line on stderr naming it; the good objects' events are all there and
/// nothing else; the summary groups unreadable objects by reason.
#[test]
fn every_kind_of_bad_input_is_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(
        &corpus,
        &["--events", "300", "--scenario", "none", "--days", "1"],
    );
    // The cap under which the bomb is caught and the big record is read.
    let cap = ["--max-object-size", "16MiB"];
    let clean = dir.path().join("clean");
    assert_eq!(
        scan(&[&corpus], &clean, &cap).status.code(),
        Some(0),
        "a clean corpus exits 0"
    );
    let event_ids = |out: &Path| -> BTreeSet<String> {
        all_events(out)
            .iter()
            .map(|r| str_field(r, "event_id").unwrap().to_string())
            .collect()
    };
    let mut want_ids = event_ids(&clean);
    want_ids.extend(["j", "k", "l", "p", "s"].map(String::from));

    let good = gzip(format!(r#"{{"Records":[{}]}}"#, signin("x", "")).as_bytes());
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let bomb = {
        let mut text = br#"{"Records":["#.to_vec();
        text.resize(20 << 20, b' ');
        text.extend(b"]}");
        gzip(&text)
    };
    let deep = format!(
        r#"{{"Records":[{}]}}"#,
        signin(
            "d",
            &format!(r#","x":{}1{}"#, "[".repeat(5000), "]".repeat(5000))
        )
    );
    let huge = format!(
        r#"{{"Records":[{}]}}"#,
        signin("h", &format!(r#","pad":"{}""#, "x".repeat(11 << 20)))
    );
    let mut bad_utf8 =
        br#"{"Records":[{"eventSource":"s3.amazonaws.com","eventName":"GetObject","k":"__"}]}"#
            .to_vec();
    let at = bad_utf8.len() - 5;
    bad_utf8[at..at + 2].copy_from_slice(b"\xff\xfe");
    let records = |rs: &[String]| gzip(format!(r#"{{"Records":[{}]}}"#, rs.join(",")).as_bytes());
    let insight = br#"{"Records":[{"eventVersion":"1.07","eventType":"AwsCloudTrailInsight","eventTime":"2026-05-25T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithSAML","insightDetails":{"state":"Start"}}]}"#;
    let insight_key = "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/05/25/111122223333_CloudTrail-Insight_us-east-1_20260525T1000Z_abcdefghijklmnop.json.gz";
    let digest = br#"{"awsAccountId":"111122223333","digestStartTime":"2026-05-25T09:00:00Z","logFiles":[]}"#;

    use Verdict::*;
    let cases: Vec<(&str, Vec<u8>, Verdict)> = vec![
        ("truncated.json.gz", good[..good.len() - 12].to_vec(), Unreadable("truncated gzip stream")),
        ("badcrc.json.gz", bad_crc, Unreadable("corrupt gzip: CRC-32 mismatch")),
        ("text.json.gz", b"just some text".to_vec(), Unreadable("neither gzip nor JSON")),
        ("empty.json.gz", Vec::new(), Unreadable("empty object")),
        ("emptygzip.json.gz", gzip(b""), Unreadable("gzip stream holds no data")),
        ("bomb.json.gz", bomb, Unreadable("decompresses to more than 16777216 bytes")),
        ("badjson.json.gz", gzip(b"{\"Records\": [ {\"a\": }"), Unreadable("invalid JSON")),
        (
            // Plain in shape, so the prescan splits it; the record names a
            // kept event, so it is parsed, and found broken.
            "badrecord.json.gz",
            gzip(br#"{"Records":[{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithSAML","x":tru}]}"#),
            Unreadable("invalid JSON in record 0"),
        ),
        ("norecords.json.gz", gzip(b"{\"Items\": []}"), Unreadable("no \"Records\" array")),
        ("plain.json", br#"{"Records": 5}"#.to_vec(), Unreadable("\"Records\" is not an array")),
        ("badutf8.json.gz", gzip(&bad_utf8), Unreadable("invalid JSON")),
        ("deep.json.gz", gzip(deep.as_bytes()), Unreadable("invalid JSON in record 0")),
        (
            "notobject.json.gz",
            records(&["5".into(), signin("j", "")]),
            Rejected(1, "first: record 0: record is not a JSON object", 1),
        ),
        (
            // eventTime not a time, or not a string; a number as a string
            // is read as the number.
            "types.json.gz",
            records(&[
                signin("k1", "").replace("2026-05-25T10:00:00Z", "yesterday"),
                signin("k2", "").replace(r#""2026-05-25T10:00:00Z""#, "1779703200"),
                signin("k", r#","requestParameters":{"durationSeconds":"3600"}"#),
            ]),
            Rejected(2, "first: record 0: eventTime \"yesterday\" is not a timestamp", 1),
        ),
        ("huge.json.gz", gzip(huge.as_bytes()), Rejected(1, "over the 10 MiB fedtrail reads in one record", 0)),
        (
            "bom.json.gz",
            gzip(format!("\u{feff}{{\"Records\":[{}]}}", signin("l", "")).as_bytes()),
            Accepted(1),
        ),
        ("future.json.gz", records(&[signin("s", "").replace("1.08", "9.99")]), Accepted(1)),
        // The same eventID in two objects is one event.
        ("dup1.json.gz", records(&[signin("p", "")]), Accepted(1)),
        ("dup2.json.gz", records(&[signin("p", "")]), Accepted(1)),
        ("insight-elsewhere.json.gz", gzip(insight), Accepted(0)),
        (insight_key, gzip(insight), Skipped("CloudTrail Insights object")),
        ("digest.json.gz", gzip(digest), Skipped("digest")),
    ];
    let bad = corpus.join("bad");
    for (name, bytes, _) in &cases {
        let path = bad.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let out = dir.path().join("out");
    let result = scan(&[&corpus], &out, &cap);
    assert_eq!(result.status.code(), Some(1));
    let stderr = text(&result.stderr);
    let objects = rows(&out.join("objects.parquet"));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for (name, _, verdict) in &cases {
        let row = objects
            .iter()
            .find(|r| str_field(r, "key").is_some_and(|k| k.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} not in objects.parquet"));
        let status = str_field(row, "status").unwrap();
        let reason = str_field(row, "reason").unwrap_or("");
        let kept = long_field(row, "federation_records").unwrap() as u64;
        let rejected = long_field(row, "rejected_records").unwrap() as u64;
        let (want_status, want_reason) = match verdict {
            Unreadable(r) => ("unreadable", *r),
            Rejected(n, r, events) => {
                assert_eq!((rejected, kept), (*n, *events), "{name}: rejected, kept");
                ("ok", *r)
            }
            Accepted(events) => {
                assert_eq!((rejected, kept), (0, *events), "{name}: rejected, kept");
                ("ok", "")
            }
            Skipped(r) => ("skipped", *r),
        };
        assert_eq!(status, want_status, "{name}: {reason}");
        assert!(
            reason.contains(want_reason),
            "{name}: {reason:?} lacks {want_reason:?}"
        );
        // One line on stderr for each object with a problem (skips are
        // expected, and only counted).
        let lines = stderr.lines().filter(|l| l.contains(name)).count();
        let want_lines = usize::from(matches!(verdict, Unreadable(_) | Rejected(..)));
        assert_eq!(lines, want_lines, "{name} on stderr:\n{stderr}");
        if want_lines == 1 {
            let line = format!("{}: ", bad.join(name).display());
            assert!(
                stderr.contains(&line) && summary.contains(name),
                "{name} named in stderr and summary.md"
            );
        }
    }
    assert_eq!(
        event_ids(&out),
        want_ids,
        "exactly the good objects' events"
    );
    let run = run_json(&out);
    assert_eq!(run["counts"]["duplicate_events"], 1);
    let unreadable = cases
        .iter()
        .filter(|c| matches!(c.2, Unreadable(_)))
        .count() as u64;
    assert_eq!(run["counts"]["objects_unreadable"], unreadable);
    // The summary groups unreadable objects by kind of reason.
    for (kind, n) in [
        ("invalid JSON", 2),
        ("invalid JSON in record N", 2),
        ("corrupt gzip", 1),
        ("decompresses to more than N bytes", 1),
    ] {
        assert!(
            summary.contains(&format!("| {kind} | {n} |")),
            "summary lacks {kind} x {n}:\n{summary}"
        );
    }
}

#[test]
fn window_and_account_select_events_and_prune_objects() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, &["--events", "6000"]);
    let out = dir.path().join("out");
    let result = scan(
        &[&corpus],
        &out,
        &[
            "--start",
            "2026-05-26T06:00Z",
            "--end",
            "2026-05-26T12:00Z",
            "--account",
            "111122223333",
        ],
    );
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let events = all_events(&out);
    assert!(!events.is_empty());
    let (start, end) = (
        fedtrail::time::parse_timestamp("2026-05-26T06:00Z").unwrap(),
        fedtrail::time::parse_timestamp("2026-05-26T12:00Z").unwrap(),
    );
    for e in &events {
        let t = long_field(e, "event_time").unwrap();
        assert!(t >= start && t < end, "event outside the window");
        assert_eq!(str_field(e, "account_id"), Some("111122223333"));
    }
    // The same window found in a full scan: nothing is lost by pruning.
    let full = dir.path().join("full");
    assert_eq!(scan(&[&corpus], &full, &[]).status.code(), Some(0));
    let expected: Vec<String> = all_events(&full)
        .iter()
        .filter(|e| {
            long_field(e, "event_time").is_some_and(|t| t >= start && t < end)
                && str_field(e, "account_id") == Some("111122223333")
        })
        .map(|e| str_field(e, "event_id").unwrap().to_string())
        .collect();
    let got: Vec<String> = events
        .iter()
        .map(|e| str_field(e, "event_id").unwrap().to_string())
        .collect();
    assert_eq!(got, expected);
    let objects = rows(&out.join("objects.parquet"));
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for o in objects
        .iter()
        .filter(|o| str_field(o, "status") == Some("skipped"))
    {
        *reasons
            .entry(str_field(o, "reason").unwrap().to_string())
            .or_default() += 1;
    }
    let read = objects
        .iter()
        .filter(|o| str_field(o, "status") == Some("ok"))
        .count();
    assert!(
        reasons.keys().any(|r| r.contains("--account")),
        "{reasons:?}"
    );
    assert!(
        reasons.keys().any(|r| r.contains("before the window")),
        "{reasons:?}"
    );
    assert!(
        reasons.keys().any(|r| r.contains("after the window")),
        "{reasons:?}"
    );
    assert!(
        read * 5 < objects.len(),
        "a 6-hour window of one account reads a small share: {read} of {}",
        objects.len()
    );
}

#[test]
fn bad_flags_and_sources_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (
            vec!["scan", "/no/such/folder"],
            "/no/such/folder: cannot read",
        ),
        (vec!["scan", "--since", "3 days"], "is not a span"),
        (vec!["scan", "s3://"], "is not an S3 URL"),
        (vec!["scan", "--frobnicate"], "unexpected argument"),
    ] {
        let out = fedtrail(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A folder that is not a report is never replaced.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.tex"), "x").unwrap();
    let out = fedtrail(&["scan", "--out", precious.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("refusing to replace"),
        "{}",
        text(&out.stderr)
    );
    assert!(precious.join("thesis.tex").exists());
}

#[test]
fn a_second_run_replaces_the_report_whole() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(
        &corpus,
        &["--events", "500", "--scenario", "none", "--days", "2"],
    );
    let out = dir.path().join("out");
    assert_eq!(scan(&[&corpus], &out, &[]).status.code(), Some(0));
    assert_eq!(event_files(&out).len(), 2);
    // By default a second run merges into the report (see tests/incremental.rs)...
    assert_eq!(
        scan(&[&corpus], &out, &["--start", "2026-05-26"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(event_files(&out).len(), 2, "merged: the first day stays");
    // ...and with --full it replaces it.
    assert_eq!(
        scan(&[&corpus], &out, &["--start", "2026-05-26", "--full"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(event_files(&out).len(), 1, "the old partition is gone");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging folders left behind: {leftovers:?}"
    );
}

#[test]
fn objects_over_the_size_cap_are_unreadable_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    let record = r#"{"eventTime":"2026-05-26T08:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithSAML","eventID":"a"}"#;
    std::fs::write(
        corpus.join("small.json"),
        format!(r#"{{"Records":[{record}]}}"#),
    )
    .unwrap();
    std::fs::write(
        corpus.join("large.json"),
        format!(
            r#"{{"Records":[{record},{}]}}"#,
            record.replace("\"a\"", "\"b\"")
        ),
    )
    .unwrap();
    // A 1 TiB (sparse) object is reported by its size like any other.
    std::fs::File::create(corpus.join("huge.json"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let out = dir.path().join("out");
    let result = scan(&[&corpus], &out, &["--max-object-size", "200"]);
    assert_eq!(result.status.code(), Some(1), "{}", text(&result.stderr));
    let mut objects = rows(&out.join("objects.parquet"));
    let huge = objects.remove(0);
    assert_eq!(str_field(&huge, "key"), Some("huge.json"));
    assert_eq!(str_field(&huge, "status"), Some("unreadable"));
    let status: Vec<(&str, &str)> = objects
        .iter()
        .map(|o| {
            (
                str_field(o, "key").unwrap(),
                str_field(o, "status").unwrap(),
            )
        })
        .collect();
    assert_eq!(status, [("large.json", "unreadable"), ("small.json", "ok")]);
    assert!(str_field(&objects[0], "reason")
        .unwrap()
        .contains("exceeds --max-object-size 200"));
    assert_eq!(all_events(&out).len(), 1);
}

#[test]
fn a_report_written_inside_the_input_is_not_read_as_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(
        &input,
        &["--events", "300", "--scenario", "none", "--days", "1"],
    );
    // Walked after the logs ("AWSLogs/..." < "zz"), when this run's report
    // is being written in it.
    let out = input.join("zz/reports");
    std::fs::create_dir(input.join("zz")).unwrap();
    let first = scan(&[&input], &out, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let keys: Vec<String> = rows(&out.join("objects.parquet"))
        .iter()
        .filter_map(|r| str_field(r, "key").map(str::to_string))
        .collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.starts_with("AWSLogs/")),
        "{:?}",
        keys.iter()
            .filter(|k| !k.starts_with("AWSLogs/"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_pipe_among_the_logs_is_not_opened_and_not_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, out) = one_day(dir.path());
    // A first run opens each file before it stats it: a pipe opened for
    // reading would wait for a writer that never comes.
    let pipe = corpus.join("pipe.json.gz");
    let path = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_fedtrail"))
        .args([
            "scan",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            run.kill().unwrap();
            panic!("the scan was still running after 2 minutes: stuck opening the pipe");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let keys: Vec<String> = rows(&out.join("objects.parquet"))
        .iter()
        .filter_map(|r| str_field(r, "key").map(str::to_string))
        .collect();
    let files = files_below(&corpus)
        .into_iter()
        .filter(|f| corpus.join(f).is_file())
        .count();
    assert_eq!(keys.len(), files, "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("pipe")), "{keys:?}");
}

#[test]
fn a_file_that_cannot_be_listed_mid_scan_stops_it_and_keeps_the_last_report() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, out) = one_day(dir.path());
    let clean = scan(&[&corpus], &out, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    let before = std::fs::read(out.join("run.json")).unwrap();

    // Listed after every log ("AWSLogs/..." < "zz"), so the scan has read
    // them when the walk meets it: folders are listed as they are read.
    let broken = corpus.join("zz-broken.json.gz");
    std::os::unix::fs::symlink(dir.path().join("no-such-file"), &broken).unwrap();
    let stopped = scan(&[&corpus], &out, &[]);
    assert_eq!(stopped.status.code(), Some(2));
    let stderr = text(&stopped.stderr);
    assert!(
        stderr.contains(&format!("{}: cannot read", broken.display())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("run.json")).unwrap(),
        before,
        "the previous report stays whole"
    );
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["corpus", "out"], "nothing half-written is left");
}

#[test]
fn strict_stops_at_an_unreadable_object_and_keeps_the_last_report() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, out) = one_day(dir.path());
    let clean = scan(&[&corpus], &out, &["--strict"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    let before = std::fs::read(out.join("run.json")).unwrap();

    let bad = corpus.join("zz-not-gzip.json.gz");
    std::fs::write(&bad, b"not a log").unwrap();
    let strict = scan(&[&corpus], &out, &["--strict"]);
    assert_eq!(strict.status.code(), Some(2));
    let stderr = text(&strict.stderr);
    let line = format!("{}: neither gzip nor JSON", bad.display());
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
    assert!(stderr.contains("--strict"), "{stderr}");
    assert_eq!(
        std::fs::read(out.join("run.json")).unwrap(),
        before,
        "the previous report stays whole"
    );

    // Without --strict the same input is read to the end and exits 1.
    assert_eq!(scan(&[&corpus], &out, &[]).status.code(), Some(1));
}
