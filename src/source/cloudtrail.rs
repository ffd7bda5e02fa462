//! Sources that ask the CloudTrail API: `trail:NAME` finds a trail's bucket
//! and key prefix with DescribeTrails (then S3 is listed as usual), and
//! `lookup:` reads recent events with LookupEvents, for small windows
//! without S3 access. LookupEvents sees only management events of the last
//! 90 days, in the client's one region, at about two requests a second; its
//! results are grouped into one in-memory object per event name and read
//! through the same decode and classify path as log files.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudtrail::error::DisplayErrorContext;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;

use super::s3::Requests;
use super::{Location, ObjectRef, SourceError};
use crate::classify::kept_event_names;
use crate::filter::Filter;

/// The S3 URL of a trail's logs, `s3://bucket/[prefix/]AWSLogs/`.
pub async fn trail_url(client: &Client, name: &str) -> Result<String, SourceError> {
    let err = |message: String| SourceError::Trail {
        name: name.to_string(),
        message,
    };
    let out = client
        .describe_trails()
        .trail_name_list(name)
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| err(DisplayErrorContext(e).to_string()))?;
    let wanted = |t: &&aws_sdk_cloudtrail::types::Trail| {
        t.name() == Some(name) || t.trail_arn() == Some(name)
    };
    let trail = out
        .trail_list()
        .iter()
        .find(wanted)
        .or_else(|| out.trail_list().first())
        .ok_or_else(|| err("no such trail (DescribeTrails returned none)".into()))?;
    let bucket = trail
        .s3_bucket_name()
        .ok_or_else(|| err("the trail names no S3 bucket".into()))?;
    let prefix = trail
        .s3_key_prefix()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    Ok(match prefix {
        Some(p) => format!("s3://{bucket}/{p}/AWSLogs/"),
        None => format!("s3://{bucket}/AWSLogs/"),
    })
}

/// LookupEvents allows about two requests a second per account and region.
const LOOKUP_PACE: Duration = Duration::from_millis(500);

/// Reads every kept event name's events in the window with LookupEvents.
/// Returns one object per event name, its document in the location.
pub async fn lookup(
    client: &Client,
    filter: &Filter,
    requests: &Arc<Requests>,
) -> Result<Vec<ObjectRef>, SourceError> {
    let source: Arc<str> = Arc::from("lookup:");
    let to_time = |t: i64| DateTime::from_millis(t.div_euclid(1000));
    let mut out = Vec::new();
    let mut first = true;
    for name in kept_event_names() {
        let mut records: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            if !first {
                tokio::time::sleep(LOOKUP_PACE).await;
            }
            first = false;
            let attribute = LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventName)
                .attribute_value(name)
                .build()
                .expect("key and value are set");
            requests.list.fetch_add(1, Ordering::Relaxed);
            let page = client
                .lookup_events()
                .lookup_attributes(attribute)
                .set_start_time(filter.start.map(to_time))
                .set_end_time(filter.end.map(to_time))
                .max_results(50)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| SourceError::Lookup {
                    name: name.to_string(),
                    message: DisplayErrorContext(e).to_string(),
                })?;
            records.extend(
                page.events()
                    .iter()
                    .filter_map(|e| e.cloud_trail_event().map(str::to_owned)),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let document: Arc<[u8]> = format!("{{\"Records\":[{}]}}", records.join(","))
            .into_bytes()
            .into();
        out.push(ObjectRef {
            source: source.clone(),
            key: name.into(),
            size: document.len() as u64,
            location: Location::Lookup {
                event_name: name.to_string(),
                document,
            },
            version: None,
            account: None,
            skip: None,
        });
    }
    Ok(out)
}
