//! An S3-protocol server for tests and benchmarks: s3s over hyper, with
//! SigV4 checking, on 127.0.0.1, serving a folder whose subfolders are
//! buckets. A thin layer in front of it counts object GETs and injects
//! faults into chosen keys. The process that starts it owns it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Response = hyper::Response<BoxBody<Bytes, BoxError>>;

/// A fault the server answers an object GET with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 SlowDown, as S3 throttles.
    SlowDown,
    /// 500 InternalError.
    Internal,
    /// The connection is dropped without an answer.
    Reset,
    /// 200 with the full Content-Length, but the body stops half-way.
    Truncate,
    /// 403 AccessDenied.
    Denied,
}

/// Faults per object path (`/bucket/key`): each GET takes the next one;
/// once they are used up the object is served normally, unless `always` is set.
#[derive(Default)]
pub struct Faults {
    pub queued: Mutex<HashMap<String, Vec<Fault>>>,
    pub always: Mutex<HashMap<String, Fault>>,
}

impl Faults {
    pub fn next(&self, path: &str) -> Option<Fault> {
        if let Some(f) = self.always.lock().unwrap().get(path) {
            return Some(*f);
        }
        let mut queued = self.queued.lock().unwrap();
        let faults = queued.get_mut(path)?;
        (!faults.is_empty()).then(|| faults.remove(0))
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

pub const ACCESS_KEY: &str = "fedtrail-test";
pub const SECRET_KEY: &str = "fedtrail-test-secret";

/// An S3 server over a folder whose subfolders are buckets. It counts the
/// object GETs it serves (list requests are GETs too, and are not counted).
pub struct Server {
    pub addr: SocketAddr,
    pub gets: Arc<AtomicU64>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        Server::with_faults(root, Arc::default())
    }

    pub fn with_faults(root: &Path, faults: Arc<Faults>) -> Server {
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let gets = Arc::new(AtomicU64::new(0));
        let counter = gets.clone();
        let addr = spawn_loopback(service_fn(
            move |req: hyper::Request<hyper::body::Incoming>| {
                let is_object_get = req.method() == hyper::Method::GET
                    && !req.uri().query().is_some_and(|q| q.contains("list-type"))
                    && req.uri().path().trim_matches('/').contains('/');
                let fault = if is_object_get {
                    counter.fetch_add(1, Ordering::Relaxed);
                    faults.next(req.uri().path())
                } else {
                    None
                };
                answer(service.clone(), req, fault)
            },
        ));
        Server { addr, gets }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The real service's answer, or the fault.
async fn answer(
    service: s3s::service::S3Service,
    req: hyper::Request<hyper::body::Incoming>,
    fault: Option<Fault>,
) -> Result<Response, BoxError> {
    match fault {
        None => real(&service, req).await.map(|r| r.map(|b| b.boxed())),
        Some(Fault::SlowDown) => Ok(s3_error(
            503,
            "SlowDown",
            "Please reduce your request rate.",
        )),
        Some(Fault::Internal) => Ok(s3_error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )),
        Some(Fault::Denied) => Ok(s3_error(403, "AccessDenied", "Access Denied")),
        Some(Fault::Reset) => Err("connection reset by the test server".into()),
        Some(Fault::Truncate) => {
            let (parts, body) = match real(&service, req).await {
                Ok(response) => response.into_parts(),
                Err(e) => return Err(e),
            };
            let full = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => return Err(e.to_string().into()),
            };
            let half = full.slice(..full.len() / 2);
            let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
                Ok(Frame::data(half)),
                Err("body cut short by the test server".into()),
            ];
            Ok(hyper::Response::from_parts(
                parts,
                StreamBody::new(futures::stream::iter(frames)).boxed(),
            ))
        }
    }
}

async fn real(
    service: &s3s::service::S3Service,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<s3s::Body>, BoxError> {
    match hyper::service::Service::call(service, req).await {
        Ok(response) => Ok(response),
        Err(e) => Err(format!("{e:?}").into()),
    }
}

/// The `fedtrail` binary with credentials for the test server and nothing
/// of this machine's AWS configuration (no profile, no endpoints, no IMDS).
pub fn fedtrail_aws(binary: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary);
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_CLOUDTRAIL");
    cmd
}

/// Serves `service` on a fresh 127.0.0.1 port from a thread and runtime of
/// its own, for as long as the process lives; returns the address.
pub fn spawn_loopback<S, B>(service: S) -> SocketAddr
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
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
                // Small request/response exchanges otherwise wait on
                // Nagle's algorithm and delayed ACKs (~40 ms each).
                let _ = socket.set_nodelay(true);
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}
