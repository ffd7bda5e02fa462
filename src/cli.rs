//! The command line as typed: clap structs holding raw flag values. Nothing
//! here is validated beyond what clap does; `config` turns these into the
//! resolved configuration the pipeline runs on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fedtrail",
    version,
    about = "Find out why SAML sign-in to AWS, IAM Identity Center or Amazon Connect failed, from CloudTrail logs",
    long_about = "fedtrail reads CloudTrail log objects in bulk, finds every SAML federation attempt \
(AssumeRoleWithSAML, federated console sign-in, IAM Identity Center sign-in, Amazon Connect \
GetFederationToken), classifies each failure by cause, role, SAML provider and region, collects the \
IAM, Organizations, Connect and Identity Center changes that can explain an outage, and writes \
Parquet reports plus a human summary.\n\n\
Exit codes: 0 every input read cleanly; 1 finished, but some objects were unreadable or some \
records rejected (all listed in objects.parquet and summary.md); 2 could not run.",
    after_help = "Start with `fedtrail scan` (reads the bundled sample-logs/) and open reports/summary.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail logs and report every SAML federation failure.
    Scan(ScanArgs),
    /// Explain a failure class or an error message: what it means, likely causes, how to
    /// confirm each, and the fix.
    Explain(ExplainArgs),
    /// Run SQL (a saved query, a .sql file or -e TEXT) over a dataset written by `scan`.
    Query(QueryArgs),
    /// Re-render summary.md and report.html from a dataset written by `scan`.
    Report(ReportArgs),
    /// Write a synthetic CloudTrail corpus with known outages (demos, tests, benchmarks).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  fedtrail explain signature_invalid
  fedtrail explain \"RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}\"
  fedtrail explain UserNotFoundException --format json
  fedtrail explain --list

Exit codes: 0 explained; 1 the text matches no class; 2 bad flags.")]
pub struct ExplainArgs {
    /// A class id (see --list), an error code, or an error message as CloudTrail records it.
    #[arg(value_name = "CLASS|TEXT", required_unless_present = "list")]
    pub query: Option<String>,

    /// List every class with a one-line summary.
    #[arg(long, conflicts_with = "query")]
    pub list: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  fedtrail query --list
  fedtrail query top_failing_roles
  fedtrail query queries/users_failing_connect_only.sql --format csv > out.csv
  fedtrail query incident_users --param start=2026-05-26T08:00:00Z --param end=2026-05-26T11:10:00Z
  fedtrail query -e \"SELECT failure_class, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC\"
  fedtrail query changes_before --param at=2026-05-27T02:05:00Z --param lookback=6h --format parquet --out c.parquet

Tables: events (partitioned by date), failures, timeline, incidents, findings, changes, objects;
`fedtrail query --list --data DIR` shows their columns. Parameters are written :name in SQL and
replaced by typed literals (timestamps, numbers, spans such as 6h, text), never spliced as text.
Timestamps are UTC: compare event_time with :param or STRPTIME(..., '%Y-%m-%dT%H:%M:%S%z').
Exit codes: 0 done; 2 the query or the dataset has a problem (the message says which).")]
pub struct QueryArgs {
    /// A saved query's name (see --list) or a .sql file with one statement.
    #[arg(value_name = "NAME|FILE.sql", required_unless_present_any = ["execute", "list"], conflicts_with = "execute")]
    pub query: Option<String>,

    /// SQL to run, instead of a saved query or file.
    #[arg(short = 'e', long, value_name = "SQL")]
    pub execute: Option<String>,

    /// The dataset folder written by `fedtrail scan`.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub data: PathBuf,

    /// Output format. [default: table on a terminal, csv otherwise]
    #[arg(long, value_enum)]
    pub format: Option<crate::query::output::Format>,

    /// Write the result to this file instead of stdout (needed for parquet).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// A query parameter, NAME=VALUE (repeat for more).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// List the saved queries with their questions and parameters (and the dataset's tables,
    /// if --data holds one).
    #[arg(long)]
    pub list: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Example:
  fedtrail report reports/     # after `fedtrail scan`; rewrites reports/summary.md and reports/report.html")]
pub struct ReportArgs {
    /// A dataset folder written by `fedtrail scan`.
    #[arg(value_name = "DIR", default_value = "reports")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  fedtrail scan
  fedtrail scan ./AWSLogs --since 48h --account 123456789012 --region us-east-1 --out /tmp/r
  fedtrail scan ./AWSLogs --start 2026-05-26T06:00Z --end 2026-05-26T12:00Z
  fedtrail scan s3://org-trail-bucket/AWSLogs/ --start 2026-05-26T06:00Z --end 2026-05-26T12:00Z
  fedtrail scan s3://bucket/prefix --endpoint-url http://127.0.0.1:9000
  fedtrail scan trail:org-trail --since 24h --region ap-southeast-2
  fedtrail scan lookup: --since 6h --aws-region us-east-1")]
pub struct ScanArgs {
    /// Folders (walked recursively), files, s3://bucket/prefix URLs, trail:NAME (the
    /// trail's bucket, found with DescribeTrails) or lookup: (the LookupEvents API: last 90
    /// days, management events, one region) of CloudTrail logs. [default: sample-logs]
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// Only events from this long ago until now: 90m, 24h, 7d, 2w.
    #[arg(long, value_name = "SPAN", conflicts_with_all = ["start", "end"])]
    pub since: Option<String>,

    /// Only events at or after this time (RFC 3339, e.g. 2026-05-26T06:00Z; a bare date means midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,

    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,

    /// Only this 12-digit account (repeat for more). Other accounts' objects are not read, so
    /// add the management account to see its SCP changes.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,

    /// Only this region, e.g. us-east-1 (repeat for more).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// Only objects of this organisation trail id, e.g. o-a1b2c3d4e5 (repeat for more).
    #[arg(long = "org-id", value_name = "ORG")]
    pub org_ids: Vec<String>,

    /// How long after --end a log file may still carry events of the window.
    #[arg(long, value_name = "SPAN", default_value = "1h")]
    pub late_slack: String,

    /// Where to write the reports; an existing report there is replaced whole.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,

    /// Worker threads for decompression and parsing. [default: all cores]
    /// The tables are written by threads of their own, which encode a row
    /// group's columns on all cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Largest decompressed object to read (objects above it are reported unreadable): 512MiB, 2GiB, 100MB.
    #[arg(long, value_name = "SIZE", default_value = "512MiB")]
    pub max_object_size: String,

    /// Federation events held in memory while reading: every N kept events
    /// are sorted, and the N before them written to a temporary file in the
    /// report's staging folder (beside --out), then merged back as the
    /// events table is written. 2 x N are held (3 x N briefly, while N are
    /// written); a scan that keeps fewer than 2 x N writes none. Lower
    /// holds less memory (a few hundred bytes an event); the files take
    /// about as much disk while the scan runs.
    #[arg(long, value_name = "N", default_value_t = crate::spill::RUN,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub spill_events: usize,

    /// S3-compatible endpoint for s3:// sources, e.g. http://127.0.0.1:9000 (path-style
    /// addressing). AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS profile for s3://, trail: and lookup: sources. [default: the standard chain]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Region for AWS API calls: the S3 endpoint, DescribeTrails, LookupEvents.
    /// [default: AWS_REGION or the profile's, else us-east-1]
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,

    /// S3 GET requests in flight.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub concurrency: usize,

    /// Attempts per S3 request before an object is reported unreadable.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_attempts: u32,

    /// Print nothing on stdout and show no progress; problems still go to stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Where to keep what the report holds (each object read, with its size and ETag or
    /// modification time), so the next run reads only new or changed objects and merges them
    /// into the report. [default: OUT/state.json]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Rebuild the report from every selected object, ignoring the state and the previous
    /// report (which is still replaced only once the new one is complete).
    #[arg(long)]
    pub full: bool,

    /// Replace session names, user names and source IPs with keyed pseudonyms (HMAC-SHA-256)
    /// in every table and report, so they can be shared without personal data. The same name
    /// gets the same pseudonym in every run with the same key. The key (at least 16 bytes) comes
    /// from --redact-key-file or the FEDTRAIL_REDACT_KEY environment variable; without one
    /// the run is refused.
    #[arg(long)]
    pub redact: bool,

    /// File holding the --redact key (its bytes; a trailing newline is ignored). Takes
    /// precedence over FEDTRAIL_REDACT_KEY.
    #[arg(long, value_name = "FILE", requires = "redact")]
    pub redact_key_file: Option<PathBuf>,

    /// Fail fast: stop at the first unreadable object with exit code 2 and write no report
    /// (the previous one stays). Without it, unreadable objects are reported and counted, the
    /// run goes on, and it exits 1.
    #[arg(long)]
    pub strict: bool,

    /// Incidents: a 5-minute bucket is hot when its failures reach this many times the
    /// stage's median per bucket over the scanned period (and at least 2).
    #[arg(
        long,
        value_name = "X",
        default_value_t = 3.0,
        help_heading = "Incident detection"
    )]
    pub incident_factor: f64,

    /// Incidents: hot buckets this close together are one incident.
    #[arg(
        long,
        value_name = "SPAN",
        default_value = "1h",
        help_heading = "Incident detection"
    )]
    pub incident_gap: String,

    /// Incidents: fewest failures an incident may have (also the smallest certificate
    /// rotation or regional concentration finding).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        help_heading = "Incident detection"
    )]
    pub incident_min_failures: u64,

    /// Incidents: fewest distinct people (session, user or source IP) an incident may affect.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        help_heading = "Incident detection"
    )]
    pub incident_min_sessions: u64,

    /// How long before an incident a configuration change may be to be named its suspected
    /// cause. Scan at least this far back to see the change.
    #[arg(
        long,
        value_name = "SPAN",
        default_value = "24h",
        help_heading = "Incident detection"
    )]
    pub cause_lookback: String,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  fedtrail generate --out /tmp/corpus --events 1000000 --seed 7
  fedtrail generate --out /tmp/cert --scenario cert-rotation --events 20000
  fedtrail generate --out sample-logs --events 12000 --bad-objects   # the bundled sample-logs/")]
pub struct GenerateArgs {
    /// Folder to write the corpus into (created; must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// How many CloudTrail records to write in all.
    #[arg(long, value_name = "N", default_value_t = 12_000)]
    pub events: u64,

    /// Seed for the generator: the same seed and flags give the same bytes.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub seed: u64,

    /// Outage scenarios to include (repeat; default: all):
    /// cert-rotation, connect-lowercase, scp-new-region, or none.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,

    /// Share of moments filled with ordinary API calls rather than sign-ins, from 0 to 1. The
    /// default makes a sign-in-heavy corpus that exercises every stage; a real organisation
    /// trail is mostly other traffic (0.99 or more).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.55)]
    pub noise_share: f64,

    /// Most records per log object; an object also closes after 20 minutes of events.
    #[arg(long, value_name = "N", default_value_t = 35)]
    pub records_per_object: u64,

    /// First day of the corpus (UTC); it spans --days days.
    #[arg(long, value_name = "DATE", default_value = "2026-05-25")]
    pub start: String,

    /// How many days the corpus spans.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub days: u32,

    /// Also write broken objects, one with bad records, a duplicate delivery, and digest and
    /// Insights objects, to show how bad input is reported.
    #[arg(long)]
    pub bad_objects: bool,
}
