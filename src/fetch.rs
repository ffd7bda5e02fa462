//! Fetch: the only async stage. Gets objects' bytes from S3 with many
//! requests in flight and hands them, through a bounded channel, to the
//! CPU workers, so memory stays flat whatever the bucket size. Request-level
//! faults (throttling, 5xx, timeouts, resets) are retried by the SDK's
//! standard retry policy; a body cut short is retried here, with
//! exponential backoff and jitter. An object that still fails is handed on
//! as an error with the last reason, and the run goes on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::Client;
use tokio::sync::{mpsc, Semaphore};

use crate::source::s3::Requests;

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// An S3-compatible endpoint (path-style addressing is used with it).
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    /// The region of the bucket's endpoint; default from the environment or profile.
    pub region: Option<String>,
    /// GETs in flight.
    pub concurrency: usize,
    /// Attempts per request (the first included).
    pub attempts: u32,
}

/// The standard credential and region chain (environment, profile, SSO,
/// instance role), with the retry policy and, if none is found, us-east-1.
pub async fn aws_config(opts: &S3Options) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(opts.attempts.max(1)));
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &opts.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let shared = loader.load().await;
    if shared.region().is_some() {
        return shared;
    }
    shared
        .into_builder()
        .region(aws_config::Region::from_static("us-east-1"))
        .build()
}

/// An S3 client; `--endpoint-url` (or `AWS_ENDPOINT_URL[_S3]`) selects an
/// S3-compatible store, addressed path-style.
pub fn s3_client(shared: &SdkConfig, opts: &S3Options) -> Client {
    let env_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let mut conf = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(opts.endpoint_url.is_some() || env_endpoint);
    if let Some(endpoint) = &opts.endpoint_url {
        conf = conf.endpoint_url(endpoint);
    }
    Client::from_conf(conf.build())
}

/// A CloudTrail client (`AWS_ENDPOINT_URL_CLOUDTRAIL` selects another endpoint).
pub fn cloudtrail_client(shared: &SdkConfig) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(shared)
}

/// One object's bytes, or why they could not be had.
pub type Fetched = Result<Vec<u8>, String>;

/// An S3 object to get, by its index among the listed objects. Its key is
/// in the two parts the listing shares: the prefix listed, then the rest.
pub struct Wanted {
    pub index: usize,
    pub bucket: Arc<str>,
    pub prefix: Arc<str>,
    pub rest: Arc<str>,
}

/// Gets every wanted object with `concurrency` requests in flight, sending
/// results to `out` as they complete. Starts no new request once `stop` is
/// set (`--strict` saw an unreadable object).
pub async fn fetch_all(
    client: Client,
    wanted: Vec<Wanted>,
    opts: S3Options,
    requests: Arc<Requests>,
    out: mpsc::Sender<(usize, Fetched)>,
    stop: Arc<AtomicBool>,
) {
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for Wanted {
        index,
        bucket,
        prefix,
        rest,
    } in wanted
    {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (client, out, requests) = (client.clone(), out.clone(), requests.clone());
        let attempts = opts.attempts.max(1);
        tasks.spawn(async move {
            let key = format!("{prefix}{rest}");
            let result = get(&client, &bucket, &key, attempts, &requests).await;
            // The permit is held until the consumer has room: GETs in flight
            // plus results waiting never exceed the bounds.
            let _ = out.send((index, result)).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// One GET, its body read in full; a body cut short is retried.
async fn get(
    client: &Client,
    bucket: &str,
    key: &str,
    attempts: u32,
    requests: &Requests,
) -> Fetched {
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        requests.get.fetch_add(1, Ordering::Relaxed);
        let response = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(r) => r,
            // The SDK has already retried what is worth retrying.
            Err(e) => return Err(format!("cannot fetch: {}", DisplayErrorContext(e))),
        };
        let expected = response.content_length();
        match response.body.collect().await {
            Ok(body) => {
                let bytes = body.into_bytes().to_vec();
                if expected.is_some_and(|n| n >= 0 && n as usize != bytes.len()) {
                    last = format!(
                        "body cut short: {} of {} bytes",
                        bytes.len(),
                        expected.unwrap_or_default()
                    );
                    continue;
                }
                requests
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                return Ok(bytes);
            }
            Err(e) => last = format!("body cut short: {}", DisplayErrorContext(e)),
        }
    }
    Err(format!("cannot fetch after {attempts} attempts: {last}"))
}

/// Exponential backoff with full jitter: up to 100 ms, 200 ms, 400 ms, ...
/// capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    let cap = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    Duration::from_millis(nanos % cap.max(1))
}
