//! `fedtrail query`: every saved query runs on the bundled sample's reports
//! and matches its snapshot (`tests/snapshots/query/NAME.csv`; rewrite them
//! with `UPDATE_SNAPSHOTS=1 cargo test --test query` and read the diff);
//! formats, parameters and errors behave as documented.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fedtrail::query::saved::SAVED;

fn sample_reports() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let result = fedtrail(&["scan", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1), "{}", text(&result.stderr));
    (dir, out)
}

fn query(data: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["query", "--data", data.to_str().unwrap()];
    all.extend(args);
    fedtrail(&all)
}

/// The parameters the snapshots use: the certificate-rotation window and the
/// hours before the SCP outage.
fn params(name: &str) -> Vec<&'static str> {
    match name {
        "incident_users" => vec![
            "--param",
            "start=2026-05-26T08:00:00Z",
            "--param",
            "end=2026-05-26T11:10:00Z",
        ],
        "changes_before" => vec![
            "--param",
            "at=2026-05-27T02:05:00Z",
            "--param",
            "lookback=6h",
        ],
        _ => vec![],
    }
}

#[test]
fn every_saved_query_matches_its_snapshot() {
    let (_dir, data) = sample_reports();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatched = Vec::new();
    for (name, _) in SAVED {
        let mut args = vec![*name, "--format", "csv"];
        args.extend(params(name));
        let out = query(&data, &args);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let csv = text(&out.stdout);
        assert!(
            csv.lines().count() > 1,
            "{name} returned no rows on the sample:\n{csv}"
        );
        let path = repo().join(format!("tests/snapshots/query/{name}.csv"));
        if update {
            std::fs::write(&path, &csv).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(csv.as_str()) {
            mismatched.push(format!("{name}:\n{csv}"));
        }
    }
    assert!(
        mismatched.is_empty(),
        "output differs from tests/snapshots/query (UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        mismatched.join("\n")
    );
}

#[test]
fn the_saved_queries_are_the_files_in_queries() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("queries"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = SAVED.iter().map(|(n, _)| n.to_string()).collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
    let mut snapshots: Vec<String> = std::fs::read_dir(repo().join("tests/snapshots/query"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".csv")
                .to_string()
        })
        .collect();
    snapshots.sort();
    assert_eq!(snapshots, built_in, "one snapshot per saved query");
    // A saved query can be named or given as its file.
    let (_dir, data) = sample_reports();
    let by_name = query(&data, &["top_failing_roles", "--format", "csv"]);
    let by_file = query(&data, &["queries/top_failing_roles.sql", "--format", "csv"]);
    assert_eq!(by_name.stdout, by_file.stdout);
}

#[test]
fn results_come_as_table_csv_json_lines_or_parquet() {
    let (dir, data) = sample_reports();
    let sql = "SELECT failure_class, count(*) AS n, max(event_time) AS last FROM events WHERE outcome = 'failure' GROUP BY failure_class ORDER BY n DESC, failure_class";
    let csv = text(&query(&data, &["-e", sql, "--format", "csv"]).stdout);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(csv.lines().next(), Some("failure_class,n,last"));
    assert!(
        rows[0].starts_with("signature_invalid,178,2026-05-27T"),
        "{csv}"
    );

    let json = text(&query(&data, &["-e", sql, "--format", "json"]).stdout);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), rows.len());
    assert_eq!(objects[0]["failure_class"], "signature_invalid");
    assert_eq!(objects[0]["n"], 178);

    let table = text(&query(&data, &["-e", sql, "--format", "table"]).stdout);
    assert!(table.starts_with("failure_class"), "{table}");
    assert!(
        table.ends_with(&format!("({} rows)\n", rows.len())),
        "{table}"
    );

    let file = dir.path().join("out.parquet");
    let out = query(
        &data,
        &[
            "-e",
            sql,
            "--format",
            "parquet",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let back = common::rows(&file);
    assert_eq!(back.len(), rows.len());
    assert_eq!(long_field(&back[0], "n"), Some(178));
    let no_file = query(&data, &["-e", sql, "--format", "parquet"]);
    assert_eq!(no_file.status.code(), Some(2));
    assert!(text(&no_file.stderr).contains("needs --out"));
}

#[test]
fn parameters_are_typed_values_not_sql() {
    let (_dir, data) = sample_reports();
    let count = |args: &[&str]| {
        let out = query(&data, args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout).lines().nth(1).unwrap().to_string()
    };
    let sql = "SELECT count(*) AS n FROM events WHERE session_name = :who";
    assert_eq!(
        count(&["-e", sql, "--param", "who=x' OR '1'='1", "--format", "csv"]),
        "0"
    );
    let literal = "SELECT count(*) AS n FROM events WHERE session_name = 'ESato'";
    let esato = count(&["-e", literal, "--format", "csv"]);
    assert_ne!(esato, "0");
    assert_eq!(
        count(&["-e", sql, "--param", "who=ESato", "--format", "csv"]),
        esato
    );
    let window = "SELECT count(*) AS n FROM events WHERE event_time >= :start AND event_time < :end AND failure_class = 'signature_invalid'";
    assert_eq!(
        count(&[
            "-e",
            window,
            "--param",
            "start=2026-05-26T08:00:00Z",
            "--param",
            "end=2026-05-26T11:10:00Z",
            "--format",
            "csv"
        ]),
        "172"
    );
    let missing = query(&data, &["incident_users"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains(
            "queries/incident_users.sql: parameter :start has no value; add --param start=VALUE"
        ),
        "{}",
        text(&missing.stderr)
    );
    let bad = query(
        &data,
        &[
            "incident_users",
            "--param",
            "start=yesterday",
            "--param",
            "end=2026-05-27",
        ],
    );
    assert!(
        text(&bad.stderr).contains("--param start=\"yesterday\": not a time"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn mistakes_get_errors_that_say_what_to_do() {
    let (dir, data) = sample_reports();
    let bad_sql = dir.path().join("bad.sql");
    std::fs::write(
        &bad_sql,
        "-- title: broken\nSELECT failure_class,\n  count(*\nFROM events\n",
    )
    .unwrap();
    let syntax = query(&data, &[bad_sql.to_str().unwrap()]);
    assert_eq!(syntax.status.code(), Some(2));
    let err = text(&syntax.stderr);
    assert!(
        err.contains("bad.sql: SQL syntax error:") && err.contains("Line: 4, Column: 1"),
        "{err}"
    );

    let table = text(&query(&data, &["-e", "SELECT * FROM eventz"]).stderr);
    assert!(
        table.contains("no table \"eventz\"; the dataset has:")
            && table.contains("  incidents: incident_id,"),
        "{table}"
    );

    let column = text(&query(&data, &["-e", "SELECT sesion_name FROM events"]).stderr);
    assert!(
        column.contains("sesion_name") && column.contains("session_name"),
        "{column}"
    );

    let nothing = fedtrail(&[
        "query",
        "top_failing_roles",
        "--data",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(
        text(&nothing.stderr).contains(
            "holds no fedtrail dataset (no run.json); write one with `fedtrail scan --out"
        ),
        "{}",
        text(&nothing.stderr)
    );

    let unknown = text(&query(&data, &["top_failing_role"]).stderr);
    assert!(
        unknown.contains("no saved query is called \"top_failing_role\"")
            && unknown.contains("top_failing_roles"),
        "{unknown}"
    );
}

#[test]
fn events_are_pruned_by_date_partition() {
    let (_dir, data) = sample_reports();
    // Break one day's file: a query on another day never opens it.
    std::fs::write(
        data.join("events/date=2026-05-27/part-0.parquet"),
        b"not parquet",
    )
    .unwrap();
    let one_day = query(
        &data,
        &[
            "-e",
            "SELECT count(*) AS n FROM events WHERE date = '2026-05-25'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(one_day.status.code(), Some(0), "{}", text(&one_day.stderr));
    let all = query(
        &data,
        &["-e", "SELECT count(*) AS n FROM events", "--format", "csv"],
    );
    assert_eq!(
        all.status.code(),
        Some(2),
        "the broken day is read when needed"
    );
}

#[test]
fn list_shows_questions_parameters_and_tables() {
    let (_dir, data) = sample_reports();
    let out = text(&query(&data, &["--list"]).stdout);
    for (name, _) in SAVED {
        assert!(out.contains(&format!("\n  {name}\n")), "{name}");
    }
    assert!(out.contains("--param start=<timestamp>"), "{out}");
    assert!(out.contains("  events: event_time,"), "{out}");
}
