//! Listing an S3 prefix that holds CloudTrail logs, without listing the
//! whole bucket: the layout's levels (organisation, account, region) are
//! discovered with delimiter listings or taken from the selection, and only
//! the date folders that can hold the window are listed in full. Folders are
//! listed concurrently; every request is counted for `run.json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::Client;
use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio::task::JoinSet;

use super::{Listed, Location, ObjectRef, SourceError};
use crate::filter::Filter;
use crate::model::Micros;

/// `s3://bucket/prefix` split in two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Empty, or ending in `/` when it names a folder.
    pub prefix: String,
}

impl S3Url {
    pub fn parse(text: &str) -> Result<S3Url, SourceError> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| SourceError::BadS3Url(text.into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(SourceError::BadS3Url(text.into()));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Request counters shared by listing and fetching.
#[derive(Debug, Default)]
pub struct Requests {
    pub list: AtomicU64,
    pub get: AtomicU64,
    pub bytes: AtomicU64,
}

/// How many folders are listed at once.
const LIST_CONCURRENCY: usize = 16;

/// A folder still to expand: its prefix and what level of the layout it is.
#[derive(Debug, Clone)]
enum Level {
    /// Above `AWSLogs/` (or an unknown layout): look for `AWSLogs/`.
    Top,
    /// `.../AWSLogs/`: organisation ids or accounts.
    Logs,
    /// `.../AWSLogs/o-xxx/`: accounts.
    Org,
    /// `.../ACCOUNT/CloudTrail/`: regions.
    Regions,
    /// `.../REGION/`: date folders.
    Region,
    /// A folder listed in full, optionally from a key on.
    Full { start_after: Option<String> },
}

/// Lists the log objects under `url` that the filter can select.
pub async fn list(
    client: &Client,
    url: &S3Url,
    filter: &Filter,
    requests: &Arc<Requests>,
) -> Result<Vec<ObjectRef>, SourceError> {
    let source: Arc<str> = Arc::from(format!("s3://{}/{}", url.bucket, url.prefix));
    let first = first_level(&url.prefix);
    let mut pending: JoinSet<Result<Expanded, SourceError>> = JoinSet::new();
    let mut queue = vec![(url.prefix.clone(), first)];
    let mut found = Vec::new();
    loop {
        while pending.len() < LIST_CONCURRENCY {
            let Some((prefix, level)) = queue.pop() else {
                break;
            };
            let (client, bucket, filter, requests) = (
                client.clone(),
                url.bucket.clone(),
                filter.clone(),
                requests.clone(),
            );
            pending.spawn(async move {
                expand(&client, &bucket, prefix, level, &filter, &requests).await
            });
        }
        let Some(done) = pending.join_next().await else {
            break;
        };
        let expanded = done.map_err(|e| SourceError::S3List {
            url: source.to_string(),
            message: e.to_string(),
        })??;
        queue.extend(expanded.folders);
        found.extend(expanded.objects);
    }
    found.sort_by(|a: &Listed, b| a.key.cmp(&b.key));
    found.dedup_by(|a, b| a.key == b.key);
    let bucket: Arc<str> = Arc::from(url.bucket.as_str());
    let (prefix, no_prefix): (Arc<str>, Arc<str>) = (Arc::from(url.prefix.as_str()), Arc::from(""));
    Ok(found
        .into_iter()
        .map(|Listed { key, size, version }| {
            let (prefix, relative) = match key.strip_prefix(&url.prefix) {
                Some(rest) => (prefix.clone(), rest.to_string()),
                None => (no_prefix.clone(), key.clone()),
            };
            let location = Location::S3 {
                bucket: bucket.clone(),
                prefix,
            };
            // Judged on the whole key, so that the layout above the user's
            // prefix still counts; named by the part below it.
            let mut obj = ObjectRef::found(&source, key, location, size, version, filter);
            obj.key = relative.into();
            obj
        })
        .collect())
}

/// Where in the layout a user's prefix starts.
fn first_level(prefix: &str) -> Level {
    let parts: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    match parts.iter().position(|p| *p == "AWSLogs") {
        None => Level::Top,
        Some(i) if i + 1 == parts.len() => Level::Logs,
        Some(i) if i + 2 == parts.len() && parts[i + 1].starts_with("o-") => Level::Org,
        // Deeper: the user named a narrower folder; list it whole.
        Some(_) => Level::Full { start_after: None },
    }
}

struct Expanded {
    folders: Vec<(String, Level)>,
    objects: Vec<Listed>,
}

/// One listing step: the child folders to expand next, or the objects of a
/// folder listed in full.
async fn expand(
    client: &Client,
    bucket: &str,
    prefix: String,
    level: Level,
    filter: &Filter,
    requests: &Requests,
) -> Result<Expanded, SourceError> {
    let mut out = Expanded {
        folders: Vec::new(),
        objects: Vec::new(),
    };
    let name_of = |child: &str| {
        child
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    match level {
        Level::Top => {
            let children = folders(client, bucket, &prefix, requests).await?;
            let logs = format!("{prefix}AWSLogs/");
            if children.contains(&logs) {
                out.folders.push((logs, Level::Logs));
            } else {
                out.folders
                    .push((prefix, Level::Full { start_after: None }));
            }
        }
        Level::Logs | Level::Org => {
            for child in folders(client, bucket, &prefix, requests).await? {
                let name = name_of(&child);
                let selected = |chosen: &[String]| chosen.is_empty() || chosen.contains(&name);
                let is_org = name.starts_with("o-") && matches!(level, Level::Logs);
                let is_account = name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit());
                if is_org && selected(&filter.org_ids) {
                    out.folders.push((child, Level::Org));
                } else if is_account && selected(&filter.accounts) {
                    out.folders
                        .push((format!("{child}CloudTrail/"), Level::Regions));
                }
            }
        }
        Level::Regions => {
            if filter.regions.is_empty() {
                for child in folders(client, bucket, &prefix, requests).await? {
                    out.folders.push((child, Level::Region));
                }
            } else {
                for region in &filter.regions {
                    out.folders
                        .push((format!("{prefix}{region}/"), Level::Region));
                }
            }
        }
        Level::Region => out.folders.extend(date_folders(&prefix, filter)),
        Level::Full { start_after } => {
            out.objects =
                objects(client, bucket, &prefix, start_after.as_deref(), requests).await?;
        }
    }
    Ok(out)
}

/// The date folders of one region that can hold the window: each day from
/// the start to the end plus the late-delivery slack, or everything from the
/// start's day on when the window is open-ended.
fn date_folders(region_prefix: &str, filter: &Filter) -> Vec<(String, Level)> {
    let day = |t: Micros| DateTime::<Utc>::from_timestamp_micros(t).map(|d| d.date_naive());
    let folder = |d: NaiveDate| format!("{region_prefix}{}/", d.format("%Y/%m/%d"));
    match (
        filter.start.and_then(day),
        filter.end.and_then(|e| day(e + filter.late_slack)),
    ) {
        (Some(first), Some(last)) => {
            let mut out = Vec::new();
            let mut d = first;
            while d <= last {
                out.push((folder(d), Level::Full { start_after: None }));
                d = match d.checked_add_days(Days::new(1)) {
                    Some(next) => next,
                    None => break,
                };
            }
            out
        }
        (Some(first), None) => {
            // Keys sort by date: list the region from the start's day on.
            let from = format!("{region_prefix}{}", first.format("%Y/%m/%d"));
            vec![(
                region_prefix.to_string(),
                Level::Full {
                    start_after: Some(from),
                },
            )]
        }
        _ => vec![(region_prefix.to_string(), Level::Full { start_after: None })],
    }
}

fn list_error(bucket: &str, prefix: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::S3List {
        url: format!("s3://{bucket}/{prefix}"),
        message: e.to_string(),
    }
}

/// The child folders of a prefix (a delimiter listing, all pages).
async fn folders(
    client: &Client,
    bucket: &str,
    prefix: &str,
    requests: &Requests,
) -> Result<Vec<String>, SourceError> {
    Ok(list_pages(client, bucket, prefix, true, None, requests)
        .await?
        .0)
}

/// Every object below a prefix (all pages).
async fn objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
    requests: &Requests,
) -> Result<Vec<Listed>, SourceError> {
    Ok(
        list_pages(client, bucket, prefix, false, start_after, requests)
            .await?
            .1,
    )
}

/// One ListObjectsV2 listing followed through all its pages: the common
/// prefixes (with `delimited`) and the objects.
async fn list_pages(
    client: &Client,
    bucket: &str,
    prefix: &str,
    delimited: bool,
    start_after: Option<&str>,
    requests: &Requests,
) -> Result<(Vec<String>, Vec<Listed>), SourceError> {
    let (mut folders, mut objects) = (Vec::new(), Vec::new());
    let mut token = None;
    loop {
        requests.list.fetch_add(1, Ordering::Relaxed);
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimited.then(|| "/".to_string()))
            .set_start_after(start_after.map(str::to_owned))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| list_error(bucket, prefix, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        for o in page.contents() {
            if let Some(key) = o.key().filter(|k| !k.ends_with('/')) {
                objects.push(Listed {
                    key: key.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    // The ETag; some S3-compatible stores list none, and
                    // then the modification time stands in.
                    version: o
                        .e_tag()
                        .map(|t| format!("etag {t}"))
                        .or_else(|| o.last_modified().map(|t| format!("modified {t}"))),
                });
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok((folders, objects));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_timestamp, MICROS_PER_HOUR};

    #[test]
    fn urls() {
        assert_eq!(
            S3Url::parse("s3://trail/logs/AWSLogs/").unwrap(),
            S3Url {
                bucket: "trail".into(),
                prefix: "logs/AWSLogs/".into()
            }
        );
        assert_eq!(S3Url::parse("s3://trail").unwrap().prefix, "");
        assert!(S3Url::parse("s3://").is_err());
        assert!(S3Url::parse("http://x").is_err());
    }

    #[test]
    fn levels_from_prefixes() {
        assert!(matches!(first_level(""), Level::Top));
        assert!(matches!(first_level("logs/"), Level::Top));
        assert!(matches!(first_level("logs/AWSLogs/"), Level::Logs));
        assert!(matches!(first_level("AWSLogs/o-abc/"), Level::Org));
        assert!(matches!(
            first_level("AWSLogs/111122223333/CloudTrail/"),
            Level::Full { .. }
        ));
    }

    #[test]
    fn a_window_lists_only_its_days() {
        let filter = Filter {
            start: parse_timestamp("2026-05-26T06:00Z"),
            end: parse_timestamp("2026-05-26T23:30Z"),
            late_slack: MICROS_PER_HOUR,
            ..Filter::default()
        };
        let days: Vec<String> = date_folders("p/us-east-1/", &filter)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(days, ["p/us-east-1/2026/05/26/", "p/us-east-1/2026/05/27/"]);
        let open = Filter {
            end: None,
            ..filter
        };
        match &date_folders("p/us-east-1/", &open)[..] {
            [(
                f,
                Level::Full {
                    start_after: Some(s),
                },
            )] => {
                assert_eq!(
                    (f.as_str(), s.as_str()),
                    ("p/us-east-1/", "p/us-east-1/2026/05/26")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
