//! Scanning from S3: a real S3-protocol server (s3s over hyper, with SigV4
//! checking) runs inside the test process on 127.0.0.1, serving a folder of
//! generated logs; the real binary scans it over HTTP.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

const ACCESS_KEY: &str = "fedtrail-test";
const SECRET_KEY: &str = "fedtrail-test-secret";

/// An S3 server over a folder whose subfolders are buckets. It counts the
/// object GETs it serves (list requests are GETs too, and are not counted).
struct Server {
    addr: SocketAddr,
    gets: Arc<AtomicU64>,
}

impl Server {
    fn start(root: &Path) -> Server {
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let gets = Arc::new(AtomicU64::new(0));
        let counter = gets.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let (service, counter) = (service.clone(), counter.clone());
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let is_object_get = req.method() == hyper::Method::GET
                                && !req.uri().query().is_some_and(|q| q.contains("list-type"))
                                && req.uri().path().trim_matches('/').contains('/');
                            if is_object_get {
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                            let service = service.clone();
                            async move { hyper::service::Service::call(&service, req).await }
                        });
                        let _ = ConnBuilder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(socket), svc)
                            .await;
                    });
                }
            });
        });
        Server {
            addr: rx.recv().unwrap(),
            gets,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `fedtrail scan` against the test server, with credentials for it only.
fn scan_s3(server: &Server, url: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "scan",
        url,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--endpoint-url",
    ];
    let endpoint = server.endpoint();
    args.push(&endpoint);
    args.extend(extra);
    std::process::Command::new(env!("CARGO_BIN_EXE_fedtrail"))
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap()
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
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(from_s3.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["s3_requests"]["get"].as_u64(), Some(read));
    assert!(run["s3_requests"]["list"].as_u64().unwrap() > 0);
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
