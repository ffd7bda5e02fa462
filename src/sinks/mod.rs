//! Sinks: the run's results written out — the Parquet tables, `run.json`,
//! `summary.md` and `report.html` — atomically (`load` reads a dataset
//! back). Everything is written into a hidden folder beside `--out` and
//! swapped into place only when complete (see `atomic`), so a run that
//! dies leaves the previous report whole.

mod atomic;
pub mod html;
pub mod load;
pub mod objects;
pub mod parquet;
pub mod summary;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::atomic::Staging;
use self::objects::Problems;
use crate::aggregate::{FailureRow, Merged, RunCounts, TimelineRow};
use crate::analyze::{Finding, Incident, IncidentParams};
use crate::model::{FedEvent, Micros};
use crate::time::date_of;
use crate::time::{MICROS_PER_DAY, MICROS_PER_MINUTE};

/// Why the dataset could not be written (the run ends with exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write Parquet")]
    Parquet {
        path: PathBuf,
        #[source]
        source: polars::prelude::PolarsError,
    },
    #[error("{0}: refusing to replace a folder that is not a fedtrail report (it has no run.json); choose another --out")]
    NotAReport(PathBuf),
}

impl SinkError {
    pub fn io(path: &Path, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The run as described in `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub version: String,
    pub started_at: String,
    pub finished_at: String,
    pub inputs: Vec<String>,
    pub selection: Selection,
    pub threads: usize,
    pub incident_detection: IncidentSettings,
    pub counts: RunCounts,
    /// Requests made to S3 (absent when every input was local).
    pub s3_requests: Option<S3Requests>,
    pub unreadable_by_reason: Vec<ReasonCount>,
    pub skipped_by_reason: Vec<ReasonCount>,
    /// How this run used the state of the report it replaced (absent in
    /// reports written before incremental runs).
    #[serde(default)]
    pub incremental: Option<Incremental>,
    pub durations: Durations,
    pub throughput: Throughput,
    pub exit_code: i32,
}

/// What an incremental run read and what it kept of the previous report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Incremental {
    /// The state file the run read (and wrote).
    pub state_file: String,
    /// Whether the run merged into a previous report (false on a first run
    /// and under `--full`).
    pub merged_into_previous: bool,
    /// Listed objects not in the previous report: read.
    pub objects_new: u64,
    /// Listed objects whose size or version changed: read, their earlier rows replaced.
    pub objects_changed: u64,
    /// Listed objects the previous report holds as they are: not read.
    pub objects_unchanged: u64,
    /// Rows kept from the previous report.
    pub carried_objects: u64,
    pub carried_events: u64,
    pub carried_changes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    pub start: Option<String>,
    pub end: Option<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub org_ids: Vec<String>,
    pub late_slack_minutes: i64,
}

/// The incident thresholds the run used, as `run.json` records them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentSettings {
    pub factor: f64,
    pub gap_minutes: i64,
    pub min_failures: u64,
    pub min_sessions: u64,
    pub cause_lookback_minutes: i64,
}

impl From<&IncidentSettings> for IncidentParams {
    fn from(s: &IncidentSettings) -> Self {
        IncidentParams {
            factor: s.factor,
            gap: s.gap_minutes * MICROS_PER_MINUTE,
            min_failures: s.min_failures,
            min_sessions: s.min_sessions,
            lookback: s.cause_lookback_minutes * MICROS_PER_MINUTE,
        }
    }
}

impl From<&IncidentParams> for IncidentSettings {
    fn from(p: &IncidentParams) -> Self {
        IncidentSettings {
            factor: p.factor,
            gap_minutes: p.gap / MICROS_PER_MINUTE,
            min_failures: p.min_failures,
            min_sessions: p.min_sessions,
            cause_lookback_minutes: p.lookback / MICROS_PER_MINUTE,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct S3Requests {
    pub list: u64,
    pub get: u64,
    pub bytes_fetched: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReasonCount {
    pub reason: String,
    pub objects: u64,
}

/// Where the time went, up to the moment the reports are written (run.json
/// is one of them, so the write itself cannot be in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Durations {
    /// Listing the remote inputs (S3, LookupEvents). Local folders are
    /// listed as their files are read, within `process_s`.
    pub list_s: f64,
    /// Listing local folders, fetching, decoding and classifying.
    pub process_s: f64,
    /// Merging and de-duplicating the events (writing the events table as
    /// they come), and aggregating.
    pub merge_s: f64,
    pub until_write_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    pub objects_per_s: f64,
    pub records_per_s: f64,
    pub inflated_mb_per_s: f64,
    pub stored_mb_per_s: f64,
}

/// Everything the sinks write.
pub struct Report<'a> {
    pub merged: &'a Merged,
    /// The objects not read cleanly (their table is written as the scan
    /// runs: see `objects`).
    pub problems: &'a Problems,
    pub failures: &'a [FailureRow],
    pub timeline: &'a [TimelineRow],
    pub incidents: &'a [Incident],
    pub findings: &'a [Finding],
    pub run: &'a RunInfo,
}

/// The files of a dataset, relative to `--out`.
pub const TABLES: &[&str] = &[
    "events",
    "failures.parquet",
    "timeline.parquet",
    "incidents.parquet",
    "findings.parquet",
    "changes.parquet",
    "objects.parquet",
    "run.json",
    "summary.md",
    "report.html",
];

/// A dataset being written to `out`: its files go to a hidden staging folder
/// that replaces any previous report at `out` whole when
/// [`Dataset::publish`] is called, and is removed if it never is.
pub struct Dataset {
    out: PathBuf,
    staging: Staging,
}

impl Dataset {
    /// Starts a dataset at `out`, refusing a folder that is not a report (so
    /// a long run fails before it starts, not after).
    pub fn begin(out: &Path) -> Result<Dataset, SinkError> {
        if out.exists() && !is_replaceable(out)? {
            return Err(SinkError::NotAReport(out.to_path_buf()));
        }
        Ok(Dataset {
            out: out.to_path_buf(),
            staging: Staging::create(out)?,
        })
    }

    /// The folder the dataset is written to before it is published.
    pub fn folder(&self) -> &Path {
        &self.staging.dir
    }

    /// Where a file of the dataset is written before it is published.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.dir.join(name)
    }

    /// Writes the tables and reports of `report` (all but the events and
    /// objects tables and `state.json`, written as the scan runs).
    pub fn write(&self, report: &Report<'_>) -> Result<(), SinkError> {
        write_files(&self.staging.dir, report)
    }

    /// Puts the dataset, written whole, in place at `out`.
    pub fn publish(self) -> Result<(), SinkError> {
        self.staging.publish(&self.out)
    }
}

/// An existing `--out` may be replaced when it is a previous report or empty.
fn is_replaceable(out: &Path) -> Result<bool, SinkError> {
    if !out.is_dir() {
        return Ok(false);
    }
    if out.join("run.json").is_file() {
        return Ok(true);
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| SinkError::io(out, e))?;
    Ok(entries.next().is_none())
}

/// Rows per Parquet row group of the large tables (events, objects): one
/// group's rows, and one of its columns, are held at a time
/// (`parquet::write_by_column`), so this bounds the write's memory whatever
/// the size of a day or of the trail. A 1M-record scan's days never fill
/// larger groups and a 10M one's do: at 16,384 rows a 10M small-object scan
/// peaked 16 MB higher (63 against 47 MB), at 8,192 about 10 MB. The price
/// is in queries: the saved queries took 1.26x as long over 4,096-row
/// groups as over 16,384-row ones (README, "Memory").
const ROWS_PER_GROUP: usize = 4_096;

/// The events table, written as the merged events arrive in time order:
/// one file per day (`events/date=YYYY-MM-DD/part-0.parquet`), a row group
/// every [`ROWS_PER_GROUP`] events, so only one group is held at a time.
pub struct EventsWriter {
    dir: PathBuf,
    day: Micros,
    file: Option<parquet::RowsWriter<FedEvent>>,
}

impl EventsWriter {
    /// Starts the table in `dataset` (an `events` folder, empty until the
    /// first event).
    pub fn create(dataset: &Dataset) -> Result<EventsWriter, SinkError> {
        let dir = dataset.file("events");
        std::fs::create_dir(&dir).map_err(|e| SinkError::io(&dir, e))?;
        Ok(EventsWriter {
            dir,
            day: Micros::MIN,
            file: None,
        })
    }

    /// Writes the next event; events must come in time order.
    pub fn push(&mut self, e: FedEvent) -> Result<(), SinkError> {
        let day = e.event_time.div_euclid(MICROS_PER_DAY);
        debug_assert!(
            day >= self.day || self.file.is_none(),
            "events in time order"
        );
        if self.file.is_none() || day != self.day {
            if let Some(file) = self.file.take() {
                file.finish()?;
            }
            let part = self.dir.join(format!("date={}", date_of(e.event_time)));
            std::fs::create_dir(&part).map_err(|e| SinkError::io(&part, e))?;
            self.day = day;
            self.file = Some(parquet::RowsWriter::new(
                &part.join("part-0.parquet"),
                ROWS_PER_GROUP,
                parquet::events_columns,
            ));
        }
        self.file.as_mut().expect("opened above").push(e)
    }

    /// Writes the last day's last group and footer.
    pub fn finish(self) -> Result<(), SinkError> {
        self.file.map_or(Ok(()), parquet::RowsWriter::finish)
    }
}

impl parquet::Rows<FedEvent> for EventsWriter {
    fn push(&mut self, e: FedEvent) -> Result<(), SinkError> {
        EventsWriter::push(self, e)
    }

    fn finish(self) -> Result<(), SinkError> {
        EventsWriter::finish(self)
    }
}

/// Writes every table but the events (see [`EventsWriter`]) and objects
/// (see `objects`), `run.json` and the human reports.
fn write_files(dir: &Path, report: &Report<'_>) -> Result<(), SinkError> {
    parquet::write(
        &dir.join("failures.parquet"),
        parquet::failures_frame(report.failures),
    )?;
    parquet::write(
        &dir.join("timeline.parquet"),
        parquet::timeline_frame(report.timeline),
    )?;
    parquet::write(
        &dir.join("incidents.parquet"),
        parquet::incidents_frame(report.incidents),
    )?;
    parquet::write(
        &dir.join("findings.parquet"),
        parquet::findings_frame(report.findings),
    )?;
    parquet::write(
        &dir.join("changes.parquet"),
        parquet::changes_frame(&report.merged.changes),
    )?;
    let run = serde_json::to_string_pretty(report.run).expect("RunInfo serialises");
    write_text(&dir.join("run.json"), &(run + "\n"))?;
    write_text(&dir.join("summary.md"), &summary::markdown(report))?;
    write_text(&dir.join("report.html"), &html::render(report))?;
    Ok(())
}

/// Rewrites `summary.md` and `report.html` in an existing dataset folder,
/// each replaced atomically (`fedtrail report`).
pub fn write_human_reports(dir: &Path, report: &Report<'_>) -> Result<(), SinkError> {
    for (name, text) in [
        ("summary.md", summary::markdown(report)),
        ("report.html", html::render(report)),
    ] {
        replace_file(&dir.join(name), &text)?;
    }
    Ok(())
}

/// Writes `text` to `path` through a hidden file beside it and a rename, so
/// a reader sees the old file or the new one, whole.
pub fn replace_file(path: &Path, text: &str) -> Result<(), SinkError> {
    let staging = hidden_beside(path);
    write_text(&staging, text)?;
    std::fs::rename(&staging, path).map_err(|e| SinkError::io(path, e))
}

/// [`replace_file`] with a copy of the file `from`.
pub fn replace_file_with_copy(path: &Path, from: &Path) -> Result<(), SinkError> {
    let staging = hidden_beside(path);
    std::fs::copy(from, &staging).map_err(|e| SinkError::io(&staging, e))?;
    std::fs::rename(&staging, path).map_err(|e| SinkError::io(path, e))
}

fn hidden_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_text(path: &Path, text: &str) -> Result<(), SinkError> {
    std::fs::write(path, text).map_err(|e| SinkError::io(path, e))
}
