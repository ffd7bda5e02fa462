//! DuckDB reads exactly what fedtrail writes: `queries/duckdb/views.sql`
//! over the sample's dataset, then every saved query without parameters run
//! unchanged in DuckDB, compared with `fedtrail query` (row count and first
//! column). Needs Python with the duckdb package, so it is ignored by a
//! plain `cargo test`; `.ci/run` installs duckdb in a virtualenv and runs it
//! with `FEDTRAIL_PYTHON=... cargo test --test duckdb -- --ignored`.

mod common;

use std::process::Command;

use common::*;
use fedtrail::query::saved::{parse, SAVED};

const SCRIPT: &str = r#"
import duckdb, json, sys
data, views, names = sys.argv[1], sys.argv[2], sys.argv[3:]
con = duckdb.connect()
con.execute("SET VARIABLE fedtrail = ?", [data])
con.execute(open(views).read())
out = {}
for name in names:
    rows = con.execute(open("queries/" + name + ".sql").read()).fetchall()
    out[name] = [str(r[0]) if r[0] is not None else "" for r in rows]
print(json.dumps(out))
"#;

#[test]
#[ignore = "needs Python with duckdb (FEDTRAIL_PYTHON); .ci/run installs it and runs this"]
fn duckdb_views_read_the_dataset_and_the_saved_queries_agree() {
    let python = std::env::var("FEDTRAIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("r");
    let scan = fedtrail(&["scan", "--quiet", "--out", data.to_str().unwrap()]);
    assert_eq!(scan.status.code(), Some(1), "{}", text(&scan.stderr));
    let names: Vec<&str> = SAVED
        .iter()
        .filter(|(_, sql)| parse(sql).unwrap().params.is_empty())
        .map(|(n, _)| *n)
        .collect();
    assert!(names.len() >= 10);
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&data)
        .arg("queries/duckdb/views.sql")
        .args(&names)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(out.status.success(), "{python}: {}", text(&out.stderr));
    let duck: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in names {
        let ours = fedtrail(&[
            "query",
            name,
            "--data",
            data.to_str().unwrap(),
            "--format",
            "csv",
        ]);
        assert_eq!(
            ours.status.code(),
            Some(0),
            "{name}: {}",
            text(&ours.stderr)
        );
        let first: Vec<String> = text(&ours.stdout)
            .lines()
            .skip(1)
            .map(first_field)
            .collect();
        let theirs: Vec<String> = duck[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(theirs, first, "{name}: DuckDB and fedtrail disagree");
    }
}

/// The first field of a CSV line (quoted or not).
fn first_field(line: &str) -> String {
    match line.strip_prefix('"') {
        Some(rest) => {
            let mut out = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('"', Some('"')) => {
                        out.push('"');
                        chars.next();
                    }
                    ('"', _) => break,
                    (c, _) => out.push(c),
                }
            }
            out
        }
        None => line.split(',').next().unwrap_or("").to_string(),
    }
}
