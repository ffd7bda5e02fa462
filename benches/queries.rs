//! Saved-query latency: every query of `queries/` over the reports `scan`
//! writes for a generated corpus (1,000,000 records by default), run
//! in-process through the same code as `fedtrail query` (open the dataset,
//! plan, collect). Each query's result is checked to be non-empty before
//! it is timed; prints rows and the median and fastest of several runs.
//!
//!     cargo bench --bench queries                  # 1,000,000 records, 5 runs
//!     cargo bench --bench queries -- 200000 3      # records, runs per query

use std::time::Instant;

use fedtrail::query::saved::{parse, SAVED};
use fedtrail::query::{Dataset, Source};

const FEDTRAIL: &str = env!("CARGO_BIN_EXE_fedtrail");

fn run(args: &[&str]) {
    let out = std::process::Command::new(FEDTRAIL)
        .args(args)
        .output()
        .expect("fedtrail runs");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Parameters for the queries that need them: the generated corpus's
/// certificate-rotation window and the hours before its SCP outage.
fn params(name: &str) -> Vec<(String, String)> {
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    match name {
        "incident_users" => vec![
            p("start", "2026-05-26T08:00:00Z"),
            p("end", "2026-05-26T11:10:00Z"),
        ],
        "changes_before" => vec![p("at", "2026-05-27T02:05:00Z"), p("lookback", "6h")],
        _ => vec![],
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let (corpus, data) = (dir.path().join("corpus"), dir.path().join("reports"));
    let n = records.to_string();
    let t = Instant::now();
    run(&[
        "generate",
        "--out",
        corpus.to_str().unwrap(),
        "--events",
        &n,
    ]);
    run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--quiet",
    ]);
    println!(
        "corpus: {records} records generated and scanned in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    println!(
        "\n{:<42} {:>8} {:>11} {:>11}",
        "saved query", "rows", "median ms", "fastest ms"
    );
    let mut total = 0.0;
    for (name, sql) in SAVED {
        assert!(parse(sql).is_ok(), "{name}");
        let source = Source::resolve(name).unwrap();
        let params = params(name);
        let mut times = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let mut dataset = Dataset::open(&data).unwrap();
            let df = dataset.run(&source, &params).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rows = df.height();
        }
        assert!(rows > 0, "{name} returned nothing on the generated corpus");
        times.sort_by(f64::total_cmp);
        total += times[times.len() / 2];
        println!(
            "{:<42} {:>8} {:>11.1} {:>11.1}",
            name,
            rows,
            times[times.len() / 2],
            times[0]
        );
    }
    println!("{:<42} {:>8} {:>11.1}", "all saved queries", "", total);
}
