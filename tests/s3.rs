//! Scanning from S3 and the CloudTrail API: a real S3-protocol server
//! (`common::s3_server`) and a CloudTrail JSON-protocol stub run inside the
//! test process on 127.0.0.1; the real binary scans them over HTTP.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::s3_server::*;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;

/// `fedtrail scan` against the test server, with credentials for it only.
fn scan_s3(server: &Server, url: &str, out: &Path, extra: &[&str]) -> Output {
    let endpoint = server.endpoint();
    let mut args = vec!["--endpoint-url", endpoint.as_str()];
    args.extend(extra);
    scan_aws(url, out, &args, &[])
}

/// `fedtrail scan SOURCE` with test credentials, no AWS configuration from
/// this machine, and the given extra environment.
fn scan_aws(source: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["scan", source, "--out", out.to_str().unwrap(), "--quiet"];
    args.extend(extra);
    let mut cmd = fedtrail_aws(env!("CARGO_BIN_EXE_fedtrail"));
    cmd.args(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Event rows without `source_object`, which names a path in one run and an
/// `s3://` URL in the other.
fn comparable(rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter()
        .map(|mut r| {
            r.remove("source_object");
            r
        })
        .collect()
}

#[test]
fn s3_and_disk_give_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("trail-bucket");
    generate(&bucket, &["--events", "3000", "--seed", "3"]);
    let server = Server::start(dir.path());

    let (from_disk, from_s3) = (dir.path().join("disk"), dir.path().join("s3"));
    assert_eq!(scan(&[&bucket], &from_disk, &[]).status.code(), Some(0));
    let result = scan_s3(
        &server,
        "s3://trail-bucket/",
        &from_s3,
        &["--concurrency", "8"],
    );
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));

    let disk_events = comparable(all_events(&from_disk));
    assert!(disk_events.len() > 500);
    assert_eq!(comparable(all_events(&from_s3)), disk_events);
    assert_eq!(
        rows(&from_s3.join("failures.parquet")),
        rows(&from_disk.join("failures.parquet"))
    );
    let objects = rows(&from_s3.join("objects.parquet"));
    let read = objects
        .iter()
        .filter(|o| str_field(o, "status") == Some("ok"))
        .count() as u64;
    assert_eq!(
        server.gets.load(Ordering::Relaxed),
        read,
        "one GET per object read"
    );
    let run = run_json(&from_s3);
    assert_eq!(run["s3_requests"]["get"].as_u64(), Some(read));
    assert!(run["s3_requests"]["list"].as_u64().unwrap() > 0);

    // The next run knows every object by its ETag: it lists, fetches
    // nothing, and keeps the same events.
    let before = server.gets.load(Ordering::Relaxed);
    let again = scan_s3(&server, "s3://trail-bucket/", &from_s3, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(server.gets.load(Ordering::Relaxed), before, "no GET");
    let run = run_json(&from_s3);
    assert_eq!(run["incremental"]["objects_unchanged"].as_u64(), Some(read));
    assert_eq!(comparable(all_events(&from_s3)), disk_events);
}

#[test]
fn a_window_fetches_only_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("trail");
    generate(&bucket, &["--events", "6000", "--seed", "5"]);
    let server = Server::start(dir.path());
    let window = ["--start", "2026-05-26T06:00Z", "--end", "2026-05-26T12:00Z"];

    let (from_disk, from_s3) = (dir.path().join("disk"), dir.path().join("s3"));
    assert_eq!(scan(&[&bucket], &from_disk, &window).status.code(), Some(0));
    let result = scan_s3(&server, "s3://trail/AWSLogs/", &from_s3, &window);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert_eq!(
        comparable(all_events(&from_s3)),
        comparable(all_events(&from_disk))
    );

    let total = files_below(&bucket).len() as u64;
    let gets = server.gets.load(Ordering::Relaxed);
    let listed = rows(&from_s3.join("objects.parquet"));
    let read = listed
        .iter()
        .filter(|o| str_field(o, "status") == Some("ok"))
        .count() as u64;
    assert_eq!(
        gets, read,
        "only the objects that can hold the window are fetched"
    );
    assert!(
        gets * 6 < total,
        "a 6-hour window of a 3-day bucket: {gets} GETs for {total} objects"
    );
    assert!(
        (listed.len() as u64) < total / 2,
        "only the window's date folders are listed: {} of {total}",
        listed.len()
    );
}

#[test]
fn an_unreachable_endpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let closed = Server {
        addr: "127.0.0.1:9".parse().unwrap(),
        gets: Arc::default(),
    };
    let result = scan_s3(
        &closed,
        "s3://trail/",
        &dir.path().join("out"),
        &["--max-attempts", "1"],
    );
    assert_eq!(result.status.code(), Some(2));
    let stderr = text(&result.stderr);
    assert!(stderr.contains("s3://trail/: cannot list"), "{stderr}");
}

/// Object paths (`/bucket/key`) of a generated corpus, in key order.
fn object_paths(bucket_dir: &Path, bucket: &str) -> Vec<String> {
    files_below(bucket_dir)
        .iter()
        .map(|f| format!("/{bucket}/{}", f.display()))
        .filter(|p| p.contains("/CloudTrail/"))
        .collect()
}

#[test]
fn transient_faults_are_retried_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("flaky");
    generate(
        &bucket,
        &[
            "--events",
            "1500",
            "--seed",
            "9",
            "--scenario",
            "none",
            "--days",
            "1",
        ],
    );
    let paths = object_paths(&bucket, "flaky");
    let faults = Arc::new(Faults::default());
    let plan = [
        vec![Fault::SlowDown, Fault::SlowDown],
        vec![Fault::Internal, Fault::SlowDown],
        vec![Fault::Reset],
        vec![Fault::Truncate],
        vec![Fault::Truncate, Fault::Reset, Fault::Internal],
    ];
    for (i, faults_of_key) in plan.iter().enumerate() {
        faults
            .queued
            .lock()
            .unwrap()
            .insert(paths[i * 7 + 1].clone(), faults_of_key.clone());
    }
    let server = Server::with_faults(dir.path(), faults.clone());
    let (clean, flaky) = (dir.path().join("clean"), dir.path().join("out"));
    assert_eq!(scan(&[&bucket], &clean, &[]).status.code(), Some(0));
    let result = scan_s3(&server, "s3://flaky/", &flaky, &[]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert!(
        faults.queued.lock().unwrap().values().all(Vec::is_empty),
        "every planned fault was served"
    );
    assert_eq!(
        comparable(all_events(&flaky)),
        comparable(all_events(&clean))
    );
    assert_eq!(
        rows(&flaky.join("failures.parquet")),
        rows(&clean.join("failures.parquet"))
    );
    let extra = plan.iter().map(Vec::len).sum::<usize>() as u64;
    assert_eq!(
        server.gets.load(Ordering::Relaxed),
        paths.len() as u64 + extra,
        "one retry per fault"
    );
}

#[test]
fn a_key_that_always_fails_is_unreadable_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("locked");
    generate(
        &bucket,
        &[
            "--events",
            "800",
            "--seed",
            "2",
            "--scenario",
            "none",
            "--days",
            "1",
        ],
    );
    let paths = object_paths(&bucket, "locked");
    let faults = Arc::new(Faults::default());
    faults
        .always
        .lock()
        .unwrap()
        .insert(paths[2].clone(), Fault::Denied);
    faults
        .always
        .lock()
        .unwrap()
        .insert(paths[5].clone(), Fault::Internal);
    let server = Server::with_faults(dir.path(), faults);
    let out = dir.path().join("out");
    let result = scan_s3(&server, "s3://locked/", &out, &["--max-attempts", "3"]);
    assert_eq!(result.status.code(), Some(1), "{}", text(&result.stderr));
    let stderr = text(&result.stderr);
    let objects = rows(&out.join("objects.parquet"));
    for (path, want) in [(&paths[2], "AccessDenied"), (&paths[5], "InternalError")] {
        let key = path.trim_start_matches("/locked/");
        let row = objects
            .iter()
            .find(|o| str_field(o, "key") == Some(key))
            .expect("listed");
        assert_eq!(str_field(row, "status"), Some("unreadable"));
        assert!(
            str_field(row, "reason").unwrap().contains(want),
            "{:?}",
            str_field(row, "reason")
        );
        assert!(
            stderr.contains(&format!("s3://locked/{key}: cannot fetch")),
            "{stderr}"
        );
    }
    let ok = objects
        .iter()
        .filter(|o| str_field(o, "status") == Some("ok"))
        .count();
    assert_eq!(ok, paths.len() - 2, "every other object was read");
}

#[test]
fn strict_stops_fetching_at_the_first_unreadable_object() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("strict");
    generate(
        &bucket,
        &[
            "--events",
            "800",
            "--records-per-object",
            "4",
            "--scenario",
            "none",
            "--days",
            "1",
        ],
    );
    let paths = object_paths(&bucket, "strict");
    assert!(paths.len() > 100, "{}", paths.len());
    let faults = Arc::new(Faults::default());
    faults
        .always
        .lock()
        .unwrap()
        .insert(paths[0].clone(), Fault::Denied);
    let server = Server::with_faults(dir.path(), faults);
    let out = dir.path().join("out");
    let result = scan_s3(
        &server,
        "s3://strict/",
        &out,
        &["--strict", "--concurrency", "2", "--threads", "1"],
    );
    assert_eq!(result.status.code(), Some(2), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("--strict: stopped"));
    let gets = server.gets.load(Ordering::Relaxed);
    assert!(
        gets < 20,
        "{gets} GETs of {} objects after the first failed",
        paths.len()
    );
    assert!(!out.exists(), "nothing written");
}

/// A stub of the CloudTrail API (JSON 1.1 protocol) on 127.0.0.1: one trail
/// for DescribeTrails, and LookupEvents over the given records, newest first,
/// in pages, answering the first request with a throttling error.
struct CloudTrailStub {
    addr: SocketAddr,
    lookups: Arc<AtomicU64>,
}

impl CloudTrailStub {
    fn start(trail: serde_json::Value, records: Vec<serde_json::Value>) -> CloudTrailStub {
        let lookups = Arc::new(AtomicU64::new(0));
        let counter = lookups.clone();
        let state: StubState = Arc::new((trail, records));
        let addr = spawn_loopback(service_fn(move |req| {
            stub_handle(req, state.clone(), counter.clone())
        }));
        CloudTrailStub { addr, lookups }
    }
}

type StubState = Arc<(serde_json::Value, Vec<serde_json::Value>)>;

async fn stub_handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: StubState,
    counter: Arc<AtomicU64>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let input: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    Ok(cloudtrail_answer(
        &target, &input, &state.0, &state.1, &counter,
    ))
}

fn json_response(status: u16, value: serde_json::Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

fn cloudtrail_answer(
    target: &str,
    input: &serde_json::Value,
    trail: &serde_json::Value,
    records: &[serde_json::Value],
    lookups: &AtomicU64,
) -> hyper::Response<Full<Bytes>> {
    if target.ends_with(".DescribeTrails") {
        return json_response(200, serde_json::json!({"trailList": [trail]}));
    }
    if !target.ends_with(".LookupEvents") {
        return json_response(
            400,
            serde_json::json!({"__type": "UnknownOperationException"}),
        );
    }
    if lookups.fetch_add(1, Ordering::Relaxed) == 0 {
        return json_response(
            400,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        );
    }
    let name = input["LookupAttributes"][0]["AttributeValue"]
        .as_str()
        .unwrap_or_default();
    let secs = |v: &serde_json::Value| v.as_f64().map(|s| (s * 1e6) as i64);
    let (start, end) = (secs(&input["StartTime"]), secs(&input["EndTime"]));
    let time = |r: &serde_json::Value| {
        fedtrail::time::parse_timestamp(r["eventTime"].as_str().unwrap_or("")).unwrap_or(0)
    };
    let mut matching: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["eventName"] == name)
        .filter(|r| start.is_none_or(|s| time(r) >= s) && end.is_none_or(|e| time(r) <= e))
        .collect();
    matching.sort_by_key(|r| std::cmp::Reverse(time(r)));
    let page = input["MaxResults"].as_u64().unwrap_or(50).min(50) as usize;
    let from: usize = input["NextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let events: Vec<serde_json::Value> = matching
        .iter()
        .skip(from)
        .take(page)
        .map(|r| serde_json::json!({"EventId": r["eventID"], "EventName": name, "EventTime": time(r) as f64 / 1e6, "CloudTrailEvent": r.to_string()}))
        .collect();
    let mut out = serde_json::json!({"Events": events});
    if from + page < matching.len() {
        out["NextToken"] = serde_json::json!((from + page).to_string());
    }
    json_response(200, out)
}

/// Every record of a generated corpus.
fn all_records(dir: &Path) -> Vec<serde_json::Value> {
    use std::io::Read;
    let mut out = Vec::new();
    for file in files_below(dir) {
        let raw = std::fs::read(dir.join(&file)).unwrap();
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut text)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
        out.extend(doc["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

#[test]
fn trail_name_finds_the_bucket_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("org-trail-bucket").join("cloudtrail");
    generate(
        &logs,
        &[
            "--events",
            "1200",
            "--seed",
            "4",
            "--scenario",
            "none",
            "--days",
            "1",
        ],
    );
    let s3 = Server::start(dir.path());
    let trail = serde_json::json!({
        "Name": "org-trail", "S3BucketName": "org-trail-bucket", "S3KeyPrefix": "cloudtrail",
        "IsOrganizationTrail": true, "HomeRegion": "us-east-1",
        "TrailARN": "arn:aws:cloudtrail:us-east-1:555566667777:trail/org-trail",
    });
    let stub = CloudTrailStub::start(trail, Vec::new());
    let (from_disk, from_trail) = (dir.path().join("disk"), dir.path().join("trail"));
    assert_eq!(scan(&[&logs], &from_disk, &[]).status.code(), Some(0));
    let ct = format!("http://{}", stub.addr);
    let result = scan_aws(
        "trail:org-trail",
        &from_trail,
        &["--endpoint-url", &s3.endpoint()],
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", &ct)],
    );
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert_eq!(
        comparable(all_events(&from_trail)),
        comparable(all_events(&from_disk))
    );
    let run = run_json(&from_trail);
    assert_eq!(run["inputs"][0], "trail:org-trail");
}

#[test]
fn lookup_events_feed_the_same_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    generate(&logs, &["--events", "3000", "--seed", "8"]);
    let stub = CloudTrailStub::start(serde_json::json!({}), all_records(&logs));
    let window = ["--start", "2026-05-26T06:00Z", "--end", "2026-05-26T12:00Z"];
    let (from_disk, from_lookup) = (dir.path().join("disk"), dir.path().join("lookup"));
    assert_eq!(scan(&[&logs], &from_disk, &window).status.code(), Some(0));
    let ct = format!("http://{}", stub.addr);
    let result = scan_aws(
        "lookup:",
        &from_lookup,
        &window,
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", &ct)],
    );
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let events = comparable(all_events(&from_lookup));
    assert!(events.len() > 100, "{}", events.len());
    assert_eq!(events, comparable(all_events(&from_disk)));
    let changes = |d: &Path| comparable(rows(&d.join("changes.parquet")));
    assert_eq!(changes(&from_lookup), changes(&from_disk));
    let pages = stub.lookups.load(Ordering::Relaxed);
    assert!(
        pages > fedtrail::classify::kept_event_names().len() as u64,
        "every name asked, the throttled call retried, pages followed: {pages}"
    );
}

#[test]
fn non_organisation_layout_with_a_selection() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("plain");
    generate(&bucket, &["--events", "4000", "--seed", "6"]);
    // Move AWSLogs/o-org/ACCOUNT/... up to AWSLogs/ACCOUNT/..., the layout of
    // a trail that is not an organisation trail.
    let logs = bucket.join("AWSLogs");
    for org in std::fs::read_dir(&logs).unwrap() {
        let org = org.unwrap().path();
        for account in std::fs::read_dir(&org).unwrap() {
            let account = account.unwrap().path();
            std::fs::rename(&account, logs.join(account.file_name().unwrap())).unwrap();
        }
        std::fs::remove_dir(&org).unwrap();
    }
    let server = Server::start(dir.path());
    let selection = [
        "--start",
        "2026-05-26T08:00Z",
        "--end",
        "2026-05-26T20:00Z",
        "--account",
        "222233334444",
        "--account",
        "333344445555",
        "--region",
        "us-east-1",
    ];
    let (from_disk, from_s3) = (dir.path().join("disk"), dir.path().join("s3"));
    assert_eq!(
        scan(&[&bucket], &from_disk, &selection).status.code(),
        Some(0)
    );
    let result = scan_s3(&server, "s3://plain/", &from_s3, &selection);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let events = comparable(all_events(&from_s3));
    assert!(!events.is_empty());
    assert_eq!(events, comparable(all_events(&from_disk)));
    for e in &events {
        assert!(matches!(
            str_field(e, "account_id"),
            Some("222233334444" | "333344445555")
        ));
        assert_eq!(str_field(e, "region"), Some("us-east-1"));
    }
    let listed = rows(&from_s3.join("objects.parquet"));
    assert!(
        listed.iter().all(|o| {
            let key = str_field(o, "key").unwrap();
            (key.contains("/222233334444/") || key.contains("/333344445555/"))
                && key.contains("/us-east-1/")
        }),
        "other accounts and regions are never listed"
    );
}
