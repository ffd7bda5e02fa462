//! Turns raw flags (`cli`) into validated configuration (`pipeline::ScanConfig`):
//! times and spans parsed, ids checked, defaults resolved. Every error names
//! the flag and says what a good value looks like.

use std::path::Path;

use crate::analyze::IncidentParams;
use crate::cli::ScanArgs;
use crate::filter::Filter;
use crate::model::Micros;
use crate::pipeline::ScanConfig;
use crate::redact::{Redactor, MIN_KEY_BYTES};
use crate::time::{parse_span, parse_timestamp};

/// The folder `scan` reads when no SOURCE is given.
pub const DEFAULT_SOURCE: &str = "sample-logs";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--incident-factor {0} must be a number of at least 1 (how many times the baseline a bucket must reach)")]
    BadFactor(String),
    #[error("--{flag} {value:?} is not a time; use RFC 3339 such as 2026-05-26T06:00:00Z or 2026-05-26T06:00Z")]
    BadTime { flag: &'static str, value: String },
    #[error(
        "--{flag} {value:?} is not a span; use a number and a unit, such as 90m, 24h, 7d or 2w"
    )]
    BadSpan { flag: &'static str, value: String },
    #[error("--start {start} is not before --end {end}")]
    EmptyWindow { start: String, end: String },
    #[error("--account {0:?} is not a 12-digit AWS account id")]
    BadAccount(String),
    #[error(
        "--org-id {0:?} is not an organisation id (o- followed by 10 to 32 letters or digits)"
    )]
    BadOrgId(String),
    #[error("--threads must be at least 1")]
    NoThreads,
    #[error("--concurrency must be at least 1")]
    NoConcurrency,
    #[error("--max-object-size {0:?} is not a size; use a number with an optional unit: 512MiB, 2GiB, 100MB, 4096")]
    BadSize(String),
    #[error("no SOURCE given and ./{DEFAULT_SOURCE} does not exist here; name a folder of CloudTrail logs, e.g. `fedtrail scan ./AWSLogs`")]
    NoDefaultSource,
    #[error("--redact needs a key: set FEDTRAIL_REDACT_KEY or pass --redact-key-file FILE (at least {MIN_KEY_BYTES} bytes, kept secret; the same key gives the same pseudonyms)")]
    RedactNoKey,
    #[error("--redact-key-file {path}: cannot read it: {reason}")]
    RedactKeyFile { path: String, reason: String },
    #[error("the --redact key is {0} bytes; use at least {MIN_KEY_BYTES} (for example `openssl rand -hex 32`)")]
    RedactShortKey(usize),
}

/// The `--redact` pseudonymiser, with its key from `--redact-key-file` or
/// else `env_key` (FEDTRAIL_REDACT_KEY). `None` without `--redact`.
pub fn redactor(
    args: &ScanArgs,
    env_key: Option<std::ffi::OsString>,
) -> Result<Option<Redactor>, ConfigError> {
    if !args.redact {
        return Ok(None);
    }
    let key: Vec<u8> = match (&args.redact_key_file, env_key) {
        (Some(path), _) => {
            let mut bytes = std::fs::read(path).map_err(|e| ConfigError::RedactKeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            bytes
        }
        (None, Some(key)) => key.into_encoded_bytes(),
        (None, None) => return Err(ConfigError::RedactNoKey),
    };
    Redactor::new(&key)
        .map(Some)
        .ok_or(ConfigError::RedactShortKey(key.len()))
}

/// Resolves `scan` flags. `now` is the current time, for `--since`.
pub fn scan_config(args: &ScanArgs, now: Micros, cores: usize) -> Result<ScanConfig, ConfigError> {
    let time =
        |flag: &'static str, value: &Option<String>| -> Result<Option<Micros>, ConfigError> {
            value
                .as_deref()
                .map(|v| {
                    parse_timestamp(v).ok_or(ConfigError::BadTime {
                        flag,
                        value: v.to_string(),
                    })
                })
                .transpose()
        };
    let (start, end) = match &args.since {
        Some(since) => (Some(now - span("since", since)?), None),
        None => (time("start", &args.start)?, time("end", &args.end)?),
    };
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return Err(ConfigError::EmptyWindow {
                start: args.start.clone().unwrap_or_default(),
                end: args.end.clone().unwrap_or_default(),
            });
        }
    }
    if let Some(bad) = args
        .accounts
        .iter()
        .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ConfigError::BadAccount(bad.clone()));
    }
    let org_ok = |o: &String| {
        o.strip_prefix("o-").is_some_and(|rest| {
            (10..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    };
    if let Some(bad) = args.org_ids.iter().find(|o| !org_ok(o)) {
        return Err(ConfigError::BadOrgId(bad.clone()));
    }
    let threads = args.threads.unwrap_or(cores);
    if threads == 0 {
        return Err(ConfigError::NoThreads);
    }
    if args.concurrency == 0 {
        return Err(ConfigError::NoConcurrency);
    }
    let max_object_bytes = parse_size(&args.max_object_size)
        .ok_or_else(|| ConfigError::BadSize(args.max_object_size.clone()))?;
    let inputs = if args.sources.is_empty() {
        if !Path::new(DEFAULT_SOURCE).exists() {
            return Err(ConfigError::NoDefaultSource);
        }
        vec![DEFAULT_SOURCE.to_string()]
    } else {
        args.sources.clone()
    };
    Ok(ScanConfig {
        inputs,
        filter: Filter {
            start,
            end,
            accounts: args.accounts.clone(),
            regions: args.regions.clone(),
            org_ids: args.org_ids.clone(),
            late_slack: span("late-slack", &args.late_slack)?,
        },
        out: args.out.clone(),
        threads,
        max_object_bytes,
        spill_events: args.spill_events,
        progress: !args.quiet,
        report_problems: true,
        strict: args.strict,
        state: args.state.clone(),
        full: args.full,
        redact: None,
        incidents: incident_params(args)?,
        s3: crate::fetch::S3Options {
            endpoint_url: args.endpoint_url.clone(),
            profile: args.profile.clone(),
            region: args.aws_region.clone(),
            concurrency: args.concurrency,
            attempts: args.max_attempts,
        },
    })
}

fn span(flag: &'static str, value: &str) -> Result<Micros, ConfigError> {
    parse_span(value).ok_or(ConfigError::BadSpan {
        flag,
        value: value.to_string(),
    })
}

fn incident_params(args: &ScanArgs) -> Result<IncidentParams, ConfigError> {
    if !(args.incident_factor.is_finite() && args.incident_factor >= 1.0) {
        return Err(ConfigError::BadFactor(args.incident_factor.to_string()));
    }
    Ok(IncidentParams {
        factor: args.incident_factor,
        gap: span("incident-gap", &args.incident_gap)?,
        min_failures: args.incident_min_failures.max(1),
        min_sessions: args.incident_min_sessions.max(1),
        lookback: span("cause-lookback", &args.cause_lookback)?,
    })
}

/// Parses `512MiB`, `2GiB`, `100MB`, `64KiB` or a plain byte count.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(line: &str) -> ScanArgs {
        let argv = std::iter::once("fedtrail").chain(line.split_whitespace());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Scan(a) => a,
            _ => unreachable!("the test parses scan lines only"),
        }
    }

    const NOW: Micros = 1_779_775_200_000_000; // 2026-05-26T06:00:00Z

    #[test]
    fn flags_resolve() {
        let cfg = scan_config(
            &args("scan x --since 24h --account 123456789012 --threads 3"),
            NOW,
            2,
        )
        .unwrap();
        assert_eq!(cfg.filter.start, Some(NOW - 24 * 3_600_000_000));
        assert_eq!(cfg.filter.end, None);
        assert_eq!(cfg.threads, 3);
        assert_eq!(cfg.inputs, ["x"]);
        assert_eq!(cfg.max_object_bytes, 512 << 20);
        let cfg = scan_config(
            &args("scan x --start 2026-05-26T06:00Z --end 2026-05-26T12:00Z"),
            NOW,
            2,
        )
        .unwrap();
        assert_eq!(
            cfg.filter.end.unwrap() - cfg.filter.start.unwrap(),
            6 * 3_600_000_000
        );
        assert_eq!(cfg.threads, 2);
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let cases = [
            (
                "scan x --start yesterday",
                "--start \"yesterday\" is not a time",
            ),
            ("scan x --since 3y", "--since \"3y\" is not a span"),
            (
                "scan x --start 2026-05-27 --end 2026-05-26",
                "is not before --end",
            ),
            ("scan x --account 12345", "not a 12-digit"),
            ("scan x --org-id org1", "not an organisation id"),
            ("scan x --threads 0", "at least 1"),
            ("scan x --max-object-size lots", "not a size"),
        ];
        for (line, want) in cases {
            let err = scan_config(&args(line), NOW, 2).unwrap_err().to_string();
            assert!(err.contains(want), "{line}: {err}");
        }
        assert!(Cli::try_parse_from([
            "fedtrail",
            "scan",
            "--since",
            "1h",
            "--start",
            "2026-01-01"
        ])
        .is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("100MB"), Some(100_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("1.5GiB"), None);
    }
}
