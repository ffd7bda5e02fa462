//! S3 read throughput: `fedtrail scan` of a generated corpus served by the
//! in-process S3 test server on 127.0.0.1, at 1, 16 and 64 GETs in flight.
//! Prints objects/s and MB/s (stored bytes) per concurrency, the median of
//! several runs measured side by side in one process.
//!
//!     cargo bench --bench s3_fetch                # 100,000 records
//!     cargo bench --bench s3_fetch -- 400000 5    # records, runs per setting
//!
//! Client and server share this machine's cores and loopback, so the figures
//! are the pipeline's own cost per object, not a network's.

// The benchmark uses the server, not its fault injection.
#[allow(dead_code)]
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::time::Instant;

use s3_server::{fedtrail_aws, Server};

const FEDTRAIL: &str = env!("CARGO_BIN_EXE_fedtrail");

fn run(args: &[&str]) -> std::process::Output {
    let out = fedtrail_aws(FEDTRAIL)
        .args(args)
        .output()
        .expect("fedtrail runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bench");
    let n = records.to_string();
    run(&[
        "generate",
        "--out",
        bucket.to_str().unwrap(),
        "--events",
        &n,
        "--scenario",
        "none",
        "--days",
        "1",
    ]);
    let server = Server::start(dir.path());
    let endpoint = server.endpoint();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();

    // The answer must be right before it is timed: S3 and disk agree.
    // (--full everywhere: each run reads everything, none merges.)
    run(&[
        "scan",
        bucket.to_str().unwrap(),
        "--out",
        out,
        "--quiet",
        "--full",
    ]);
    let disk = run_json(Path::new(out));
    run(&[
        "scan",
        "s3://bench/",
        "--endpoint-url",
        &endpoint,
        "--out",
        out,
        "--quiet",
        "--full",
    ]);
    let s3 = run_json(Path::new(out));
    for k in [
        "objects_read",
        "records",
        "events_written",
        "failures_observed",
    ] {
        assert_eq!(
            disk["counts"][k], s3["counts"][k],
            "{k} differs between disk and S3"
        );
    }
    let objects = s3["counts"]["objects_read"].as_f64().unwrap();
    let bytes = s3["s3_requests"]["bytes_fetched"].as_f64().unwrap();

    let timed = |args: &[&str]| {
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                run(args);
                start.elapsed().as_secs_f64()
            })
            .collect();
        median(times)
    };
    println!(
        "scan of {records} records in {objects} objects ({:.1} MB stored), {runs} runs each, median:",
        bytes / 1e6
    );
    println!(
        "{:>16} {:>8} {:>10} {:>7} {:>11}",
        "source", "wall s", "objects/s", "MB/s", "vs disk"
    );
    let disk_t = timed(&[
        "scan",
        bucket.to_str().unwrap(),
        "--out",
        out,
        "--quiet",
        "--full",
    ]);
    let row = |name: &str, t: f64| {
        println!(
            "{name:>16} {t:>8.2} {:>10.0} {:>7.1} {:>10.2}x",
            objects / t,
            bytes / 1e6 / t,
            disk_t / t
        );
    };
    row("disk", disk_t);
    for concurrency in [1, 16, 64] {
        let c = concurrency.to_string();
        let t = timed(&[
            "scan",
            "s3://bench/",
            "--endpoint-url",
            &endpoint,
            "--concurrency",
            &c,
            "--out",
            out,
            "--quiet",
            "--full",
        ]);
        row(&format!("s3, {concurrency} in flight"), t);
    }
}
