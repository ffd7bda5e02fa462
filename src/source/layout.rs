//! The CloudTrail key layout, read from an object key alone:
//! `[prefix/]AWSLogs/[o-orgid/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_RANDOM.json.gz`.
//! Pure functions; `source` uses them to prune and to skip digest and
//! Insights objects before anything is read.

use chrono::NaiveDate;

use crate::model::{shared, Micros, Text};

/// What kind of object a CloudTrail folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// `CloudTrail/`: API records.
    Trail,
    /// `CloudTrail-Digest/`: integrity hashes, no records.
    Digest,
    /// `CloudTrail-Insight/`: Insights events, no API records.
    Insight,
}

/// What a key says about its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub org_id: Option<Text>,
    pub account: Text,
    pub kind: LogKind,
    pub region: Option<Text>,
    /// The delivery date folder (not the events' time).
    pub date: Option<NaiveDate>,
    /// The time written in the file name, when it follows the standard form.
    pub file_time: Option<Micros>,
}

/// Reads the layout from a key (`/`-separated, any prefix). `None` when the
/// key has no `AWSLogs/ACCOUNT/CloudTrail*/` part.
pub fn parse_key(key: &str) -> Option<KeyInfo> {
    let mut rest = split(key, b'/');
    rest.find(|p| *p == "AWSLogs")?;
    let mut next = rest.next()?;
    let org_id = if next.starts_with("o-") {
        let org = shared(next);
        next = rest.next()?;
        Some(org)
    } else {
        None
    };
    if !is_account_id(next) {
        return None;
    }
    let account = shared(next);
    let kind = match rest.next()? {
        "CloudTrail" => LogKind::Trail,
        "CloudTrail-Digest" => LogKind::Digest,
        "CloudTrail-Insight" => LogKind::Insight,
        _ => return None,
    };
    let region = rest.next().map(shared);
    let date = match (rest.next(), rest.next(), rest.next()) {
        (Some(y), Some(m), Some(d)) => {
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        }
        _ => None,
    };
    let file_time = file_name_time(last_part(key));
    Some(KeyInfo {
        org_id,
        account,
        kind,
        region,
        date,
        file_time,
    })
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The `YYYYMMDDTHHmmZ` stamp of a standard log file name.
fn file_name_time(name: &str) -> Option<Micros> {
    let stamp =
        split(name, b'_').find(|p| p.len() == 14 && p.as_bytes()[8] == b'T' && p.ends_with('Z'))?;
    // By hand: chrono's format parser costs more than the rest of listing.
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(4..6)?, digits(6..8)?)?;
    let time = date.and_hms_opt(digits(9..11)?, digits(11..13)?, 0)?;
    Some(time.and_utc().timestamp_micros())
}

/// The parts of `text` between `sep` bytes, as `str::split` gives them,
/// found with the `memchr` crate: `str::split`'s own search (a char
/// searcher around core's word-at-a-time `memchr`) was half of the ~3,500
/// instructions this module spent on each key of a listing.
fn split(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(sep, text.as_bytes()) {
            Some(at) => {
                rest = Some(&text[at + 1..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// What follows the last `/` of a key (all of it when it has none).
pub fn last_part(key: &str) -> &str {
    memchr::memrchr(b'/', key.as_bytes()).map_or(key, |at| &key[at + 1..])
}

/// Whether a file name looks like a log object fedtrail can read.
pub fn is_log_file_name(name: &str) -> bool {
    name.ends_with(".json.gz") || name.ends_with(".json") || name.ends_with(".gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> Micros {
        crate::time::parse_timestamp(text).unwrap()
    }

    #[test]
    fn layouts() {
        struct Case {
            key: &'static str,
            org: Option<&'static str>,
            account: &'static str,
            kind: LogKind,
            region: Option<&'static str>,
            file_time: Option<&'static str>,
        }
        let cases = [
            Case {
                key: "AWSLogs/123456789012/CloudTrail/us-east-1/2026/05/26/123456789012_CloudTrail_us-east-1_20260526T0805Z_abcdEFGH12345678.json.gz",
                org: None, account: "123456789012", kind: LogKind::Trail, region: Some("us-east-1"), file_time: Some("2026-05-26T08:05Z"),
            },
            Case {
                key: "logs/prefix/AWSLogs/o-abc123def4/123456789012/CloudTrail/ap-southeast-2/2026/05/27/123456789012_CloudTrail_ap-southeast-2_20260527T2355Z_x.json.gz",
                org: Some("o-abc123def4"), account: "123456789012", kind: LogKind::Trail, region: Some("ap-southeast-2"), file_time: Some("2026-05-27T23:55Z"),
            },
            Case {
                key: "AWSLogs/123456789123/CloudTrail-Digest/us-west-2/2020/09/11/123456789123_CloudTrail-Digest_us-west-2_leh-ct-test_us-west-2_20200911T193649Z.json.gz",
                org: None, account: "123456789123", kind: LogKind::Digest, region: Some("us-west-2"), file_time: None,
            },
            Case {
                key: "AWSLogs/o-x/123456789012/CloudTrail-Insight/eu-west-1/2026/01/01/f.json.gz",
                org: Some("o-x"), account: "123456789012", kind: LogKind::Insight, region: Some("eu-west-1"), file_time: None,
            },
        ];
        for c in cases {
            let info = parse_key(c.key).unwrap_or_else(|| panic!("{} should parse", c.key));
            assert_eq!(info.org_id.as_deref(), c.org, "{}", c.key);
            assert_eq!(info.account, c.account, "{}", c.key);
            assert_eq!(info.kind, c.kind, "{}", c.key);
            assert_eq!(info.region.as_deref(), c.region, "{}", c.key);
            assert_eq!(info.file_time, c.file_time.map(micros), "{}", c.key);
        }
        for key in [
            "foo/bar.json.gz",
            "AWSLogs/notanaccount/CloudTrail/x",
            "AWSLogs/123456789012/Config/x",
        ] {
            assert_eq!(parse_key(key), None, "{key}");
        }
    }

    #[test]
    fn keys_are_split_as_str_split_splits_them() {
        for text in [
            "",
            "/",
            "a",
            "a/",
            "/a",
            "a//b",
            "AWSLogs/1/x_y/é/日本_z",
            "_a__b_",
        ] {
            for sep in [b'/', b'_'] {
                let ours: Vec<&str> = split(text, sep).collect();
                let std: Vec<&str> = text.split(char::from(sep)).collect();
                assert_eq!(ours, std, "{text:?} by {}", char::from(sep));
            }
            assert_eq!(
                last_part(text),
                text.rsplit('/').next().unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn file_names() {
        assert!(is_log_file_name("a.json.gz"));
        assert!(is_log_file_name("a.json"));
        assert!(!is_log_file_name("README.md"));
        assert!(!is_log_file_name("a.json.gz.tmp"));
    }
}
