//! Pipeline: wires the stages together for `scan` — source lists, workers on
//! a rayon pool read, decode and classify one object each (parsing only the
//! records `prescan` cannot rule out), `aggregate` gathers their outputs as
//! objects finish and merges them, `analyze` finds incidents and findings,
//! and `sinks` write the dataset — and for `report`, which reads a dataset
//! back and renders its human reports again. No stage logic lives here beyond the
//! per-object loop that feeds records to `classify` and counts what became
//! of each.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::aggregate::{self, FailureRow, Merged, ObjectOutput, RecordCounts, TimelineRow};
use crate::analyze::{self, Finding, Incident, IncidentParams};
use crate::classify::json::Value;
use crate::classify::{classify, Classified, Origin, RecordError, MAX_RECORD_MIB};
use crate::decode::{self, DecodeError, Scratch};
use crate::fetch::{self, Fetched, S3Options};
use crate::filter::Filter;
use crate::model::{ConfigChange, FedEvent, ObjectReport, ObjectStatus};
use crate::redact::Redactor;
use crate::sinks::load::{self, LoadError, Loaded};
use crate::sinks::objects::{InOrder, ObjectsTable, Problems};
use crate::sinks::{
    self, Dataset, Durations, IncidentSettings, Incremental, Report, RunInfo, S3Requests,
    Selection, SinkError, Throughput,
};
use crate::source::s3::{Requests, S3Url};
use crate::source::{self, Location, ObjectRef, SourceError};
use crate::state::{self, State, StateError, Verdict};
use crate::time::{format_micros, MICROS_PER_MINUTE};

/// A validated `scan` configuration (see `config` for how flags become one).
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub inputs: Vec<String>,
    pub filter: Filter,
    pub out: PathBuf,
    pub threads: usize,
    /// Largest decompressed object read, in bytes.
    pub max_object_bytes: u64,
    /// Show a progress bar (only honoured when stderr is a terminal).
    pub progress: bool,
    /// Print per-object problems to stderr as they happen.
    pub report_problems: bool,
    /// Stop at the first unreadable object, writing nothing (exit code 2).
    pub strict: bool,
    /// A copy of the state kept outside the report (`--state`).
    pub state: Option<PathBuf>,
    /// Ignore the state and the previous report (`--full`).
    pub full: bool,
    /// Pseudonymise personal fields as records are classified (`--redact`).
    pub redact: Option<Redactor>,
    /// Thresholds of incident detection and change linking.
    pub incidents: IncidentParams,
    /// How to reach S3, for `s3://` inputs.
    pub s3: S3Options,
}

/// Why a scan could not run to the end (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(
        "{object}: {reason}\n--strict: stopped at this unreadable object; no report was written"
    )]
    Strict { object: String, reason: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{out} was written {then} and this run is {now}: its rows cannot be merged; run with --full to rebuild it, or choose another --out")]
    Redaction {
        out: String,
        then: String,
        now: String,
    },
    #[error(
        "cannot read the previous report to merge this run into (run with --full to rebuild it)"
    )]
    Previous(#[source] LoadError),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot start {threads} worker threads")]
    Threads {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

/// The tables derived from a merged run.
struct Derived {
    failures: Vec<FailureRow>,
    timeline: Vec<TimelineRow>,
    incidents: Vec<Incident>,
    findings: Vec<Finding>,
}

impl Derived {
    fn of(merged: &Merged, params: &IncidentParams) -> Derived {
        Derived {
            failures: aggregate::failures(&merged.events),
            timeline: aggregate::timeline(&merged.events),
            incidents: analyze::incidents(&merged.events, &merged.changes, params),
            findings: analyze::findings(&merged.events, &merged.changes, params),
        }
    }
}

/// Why `fedtrail report` could not re-render a dataset (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RerenderError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Re-renders `summary.md` and `report.html` of the dataset in `dir` from
/// its events, changes and objects, with the incident thresholds its
/// run.json records, so the reports say what `scan` said. Returns what was
/// written, for people.
pub fn rerender(dir: &Path) -> Result<String, RerenderError> {
    let loaded = load::load(dir)?;
    let merged = &loaded.merged;
    let params = IncidentParams::from(&loaded.run.incident_detection);
    let d = Derived::of(merged, &params);
    let problems = Problems::of(&loaded.objects);
    let report = Report {
        merged,
        problems: &problems,
        failures: &d.failures,
        timeline: &d.timeline,
        incidents: &d.incidents,
        findings: &d.findings,
        run: &loaded.run,
    };
    sinks::write_human_reports(dir, &report)?;
    Ok(format!(
        "rewrote {0}/summary.md and {0}/report.html ({1} events, {2} incidents, {3} findings)\n",
        dir.display(),
        merged.events.len(),
        d.incidents.len(),
        d.findings.len()
    ))
}

/// The state and the report an incremental run merges into: none under
/// `--full`, without a state file, or when the report the state describes is
/// gone (then everything is read, and said so).
fn previous_report(
    cfg: &ScanConfig,
    state_file: &Path,
) -> Result<Option<(State, Loaded)>, ScanError> {
    if cfg.full {
        return Ok(None);
    }
    let Some(state) = State::load(state_file)? else {
        return Ok(None);
    };
    let key_id = cfg.redact.as_ref().map(Redactor::key_id);
    if state.redaction != key_id {
        let how = |id: &Option<String>| match id {
            Some(id) => format!("with --redact (key id {id})"),
            None => "without --redact".to_string(),
        };
        return Err(ScanError::Redaction {
            out: cfg.out.display().to_string(),
            then: how(&state.redaction),
            now: how(&key_id),
        });
    }
    if !cfg.out.join("run.json").is_file() {
        eprintln!(
            "fedtrail: {}: the state lists objects, but {} holds no report; reading everything",
            state_file.display(),
            cfg.out.display()
        );
        return Ok(None);
    }
    let loaded = load::load(&cfg.out).map_err(ScanError::Previous)?;
    Ok(Some((state, loaded)))
}

/// What the workers hand over as each object finishes, under one lock.
struct Collector {
    /// Events, changes and counts.
    gathered: aggregate::Gathered,
    /// Rows of objects that finished before an object listed ahead of them.
    in_order: InOrder<ObjectReport>,
    table: ObjectsTable,
    /// The first error writing the objects table (the run stops with it).
    error: Option<SinkError>,
    /// For each object read: whether it was read whole.
    read_now: Vec<Option<bool>>,
    /// Under `--strict`: the first unreadable object in key order, and why.
    unreadable: Option<(usize, String)>,
}

impl Collector {
    /// Takes the output of object `i` of `n`; `expected(j)` says whether
    /// object `j` is read in this run.
    fn take(&mut self, i: usize, out: ObjectOutput, n: usize, expected: impl Fn(usize) -> bool) {
        let report = self.gathered.take(i as u32, out);
        if report.status != ObjectStatus::Skipped {
            self.read_now[i] = Some(report.status == ObjectStatus::Ok);
        }
        if report.status == ObjectStatus::Unreadable
            && self.unreadable.as_ref().is_none_or(|(j, _)| i < *j)
        {
            let reason = report.reason.clone().unwrap_or_default();
            self.unreadable = Some((i, reason));
        }
        if self.error.is_some() {
            return;
        }
        let table = &mut self.table;
        if let Err(e) = self
            .in_order
            .put(i, report, n, expected, |row| table.push(row))
        {
            self.error = Some(e);
        }
    }
}

/// Why an object was not read under `--strict`.
const STOPPED: &str = "not read: --strict stopped the run";

/// What a finished scan hands back to the CLI.
pub struct ScanOutcome {
    /// 0 when every input was read cleanly, 1 when some were not.
    pub exit_code: i32,
    /// The text summary for stdout.
    pub summary: String,
    pub run: RunInfo,
}

/// Runs a whole scan: list, read, classify, merge, write.
pub fn scan(cfg: &ScanConfig) -> Result<ScanOutcome, ScanError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let requests = Arc::new(Requests::default());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|source| ScanError::Threads {
            threads: cfg.threads,
            source,
        })?;
    let mut aws: Option<Aws> = None;
    let mut objects = Vec::new();
    for input in &cfg.inputs {
        let remote = ["s3://", "trail:", "lookup:"]
            .iter()
            .any(|p| input.starts_with(p));
        if !remote {
            objects.extend(pool.install(|| source::list(input, &cfg.filter))?);
            continue;
        }
        if aws.is_none() {
            aws = Some(Aws::start(cfg)?);
        }
        let aws = aws.as_ref().expect("set above");
        if input.starts_with("lookup:") {
            let found = aws.runtime.block_on(source::cloudtrail::lookup(
                &aws.cloudtrail,
                &cfg.filter,
                &requests,
            ))?;
            objects.extend(found);
            continue;
        }
        let url = match input.strip_prefix("trail:") {
            Some(name) => aws
                .runtime
                .block_on(source::cloudtrail::trail_url(&aws.cloudtrail, name))?,
            None => input.clone(),
        };
        let url = S3Url::parse(&url)?;
        objects.extend(aws.runtime.block_on(source::s3::list(
            &aws.s3,
            &url,
            &cfg.filter,
            &requests,
        ))?);
    }
    // One order for everything that follows: the objects table's and the
    // state's, and the tie-break between events of the same time (whichever
    // worker finished first). Each input's listing is in key order already.
    objects.sort_unstable_by(|a, b| (&a.source, &a.key).cmp(&(&b.source, &b.key)));
    let list_s = clock.elapsed().as_secs_f64();
    // Written beside `--out` and put in its place at the end. Begun before
    // the previous report is read: a run that died moving its report into
    // place left it parked, and beginning puts it back.
    let dataset = Dataset::begin(&cfg.out)?;

    // An incremental run reads only what the previous report lacks.
    let state_file = cfg
        .state
        .clone()
        .unwrap_or_else(|| cfg.out.join(state::FILE_NAME));
    let mut previous = previous_report(cfg, &state_file)?;
    // None for the objects decided without reading (skipped, too large).
    let verdicts: Vec<Option<Verdict>> = objects
        .iter()
        .map(|o| {
            before_reading(o, cfg).is_none().then(|| {
                previous
                    .as_ref()
                    .map_or(Verdict::New, |(s, _)| s.verdict(o))
            })
        })
        .collect();
    let tally = |v: Verdict| verdicts.iter().filter(|&&x| x == Some(v)).count() as u64;
    let mut incremental = Incremental {
        state_file: state_file.display().to_string(),
        merged_into_previous: previous.is_some(),
        objects_new: tally(Verdict::New),
        objects_changed: tally(Verdict::Changed),
        objects_unchanged: tally(Verdict::Unchanged),
        ..Incremental::default()
    };

    // Each object's row is written as soon as it and every object before
    // it are finished; the previous report's rows are merged in as they go.
    let previous_rows = previous
        .as_mut()
        .map_or_else(Vec::new, |(_, loaded)| std::mem::take(&mut loaded.objects));
    let table = ObjectsTable::create(&dataset.file("objects.parquet"), previous_rows);
    let n = objects.len();
    let collector = Mutex::new(Collector {
        gathered: aggregate::Gathered::default(),
        in_order: InOrder::default(),
        table,
        error: None,
        read_now: vec![None; n],
        unreadable: None,
    });
    // Objects unchanged since the last run are not read, and have no row.
    let expected = |i: usize| verdicts[i] != Some(Verdict::Unchanged);
    let bar = progress_bar(cfg, n as u64);
    // Set under --strict once an object is unreadable: later ones are not read.
    let stop = Arc::new(AtomicBool::new(false));
    // The bytes come from `fetch`, called only when the object is read.
    let finish = |i: usize, scratch: &mut Scratch, fetch: &mut dyn FnMut() -> Fetched| {
        let obj = &objects[i];
        let out = if stop.load(Ordering::Relaxed) {
            finished(obj, ObjectStatus::Skipped, Some(STOPPED.into()))
        } else {
            // Objects decided by their key or size are never read.
            match before_reading(obj, cfg) {
                Some((status, reason)) => finished(obj, status, Some(reason)),
                None => read_object_guarded(obj, fetch(), cfg, scratch),
            }
        };
        // Under --strict, the run's error names the unreadable object.
        let stopping = cfg.strict && out.report.status == ObjectStatus::Unreadable;
        if stopping {
            stop.store(true, Ordering::Relaxed);
        }
        if cfg.report_problems && !stopping {
            if let Some(line) = problem_line(obj, &out.report) {
                bar.suspend(|| eprintln!("fedtrail: {line}"));
            }
        }
        bar.inc(1);
        collector
            .lock()
            .expect("no worker panics holding it")
            .take(i, out, n, expected);
    };
    // Objects decided without reading (skipped, too large), local files and
    // LookupEvents documents go straight to the workers; S3 objects come
    // through the fetch stage.
    let (remote, local): (Vec<usize>, Vec<usize>) = (0..n)
        .filter(|&i| expected(i))
        .partition(|&i| verdicts[i].is_some() && is_remote(&objects[i]));
    // Each worker takes the next object in key order, so objects finish
    // nearly in order and few rows wait for the one before them.
    let next = AtomicUsize::new(0);
    pool.broadcast(|_| {
        let mut scratch = Scratch::default();
        while let Some(&i) = local.get(next.fetch_add(1, Ordering::Relaxed)) {
            finish(i, &mut scratch, &mut || read_in_hand(&objects[i]));
        }
    });
    if let Some(Aws {
        runtime,
        s3: client,
        ..
    }) = &aws
    {
        let wanted = remote
            .iter()
            .filter_map(|&i| match &objects[i].location {
                Location::S3 { bucket, prefix } => Some(fetch::Wanted {
                    index: i,
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    rest: objects[i].key.clone(),
                }),
                Location::File { .. } | Location::Path(_) | Location::Lookup { .. } => None,
            })
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel(cfg.threads * 2);
        let fetcher = runtime.spawn(fetch::fetch_all(
            client.clone(),
            wanted,
            cfg.s3.clone(),
            requests.clone(),
            tx,
            stop.clone(),
        ));
        pool.install(|| {
            std::iter::from_fn(|| rx.blocking_recv())
                .par_bridge()
                .for_each_init(Scratch::default, |scratch, (i, bytes)| {
                    let mut bytes = Some(bytes);
                    finish(i, scratch, &mut || {
                        bytes.take().expect("an object is read once")
                    });
                });
        });
        // All results were received, so the fetch task has finished.
        let _ = runtime.block_on(fetcher);
    }
    bar.finish_and_clear();
    let Collector {
        gathered,
        in_order,
        table,
        error,
        read_now,
        unreadable,
    } = collector.into_inner().expect("no worker panics holding it");
    if cfg.strict {
        if let Some((i, reason)) = unreadable {
            let object = objects[i].display();
            return Err(ScanError::Strict { object, reason });
        }
    }
    if let Some(error) = error {
        return Err(error.into());
    }
    debug_assert_eq!(in_order.waiting(), 0, "every row was written");
    let written = table.finish()?;
    let process_s = clock.elapsed().as_secs_f64() - list_s;

    // The next state: this run's listing only (so it does not grow without
    // end), each object the report now holds as it is, written as it is
    // worked out.
    let (last_state, previous) = previous.unzip();
    let held = (0..n).filter_map(|i| {
        let obj = &objects[i];
        if read_now[i] == Some(true) {
            // An object without a version is read again every time.
            return Some((obj.display(), obj.size, obj.version.as_deref()?));
        }
        if verdicts[i] == Some(Verdict::Unchanged) {
            let name = obj.display();
            let seen = last_state.as_ref()?.objects.get(&name)?;
            return Some((name, seen.bytes, seen.version.as_str()));
        }
        None
    });
    let state_path = dataset.file(state::FILE_NAME);
    let redaction = cfg.redact.as_ref().map(Redactor::key_id);
    state::write(&state_path, redaction.as_deref(), held)
        .map_err(|e| SinkError::io(&state_path, e))?;
    // An incremental run replaces the rows of every object it read again.
    let previous: Option<(Merged, HashSet<String>)> = previous.map(|p| {
        let reread = (0..n)
            .filter(|&i| read_now[i].is_some())
            .map(|i| objects[i].display())
            .collect();
        (p.merged, reread)
    });
    // A large trail lists hundreds of thousands of objects: what was only
    // needed to read them goes before the merge and the writing.
    drop((last_state, read_now, verdicts));
    drop(objects);
    let (mut merged, carried) = match previous {
        Some((previous, reread)) => aggregate::merge_onto(previous, gathered, &reread),
        None => (
            aggregate::merge_gathered(gathered),
            aggregate::Carried::default(),
        ),
    };
    merged.counts.objects_listed += incremental.objects_unchanged;
    incremental.carried_objects = written.carried;
    incremental.carried_events = carried.events;
    incremental.carried_changes = carried.changes;
    let Derived {
        failures,
        timeline,
        incidents,
        findings,
    } = Derived::of(&merged, &cfg.incidents);
    let counts = merged.counts.clone();
    let exit_code = i32::from(counts.objects_unreadable > 0 || counts.records.rejected > 0);
    let elapsed = clock.elapsed().as_secs_f64();
    let rate = |n: f64| if process_s > 0.0 { n / process_s } else { 0.0 };
    let mut run = RunInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished_at: String::new(),
        inputs: cfg.inputs.clone(),
        selection: Selection {
            start: cfg.filter.start.map(format_micros),
            end: cfg.filter.end.map(format_micros),
            accounts: cfg.filter.accounts.clone(),
            regions: cfg.filter.regions.clone(),
            org_ids: cfg.filter.org_ids.clone(),
            late_slack_minutes: cfg.filter.late_slack / MICROS_PER_MINUTE,
        },
        threads: cfg.threads,
        incident_detection: IncidentSettings::from(&cfg.incidents),
        unreadable_by_reason: written.unreadable_by_reason,
        skipped_by_reason: written.skipped_by_reason,
        incremental: Some(incremental),
        throughput: Throughput {
            objects_per_s: rate(counts.objects_read as f64),
            records_per_s: rate(counts.records.records as f64),
            inflated_mb_per_s: rate(counts.bytes_inflated as f64 / 1e6),
            stored_mb_per_s: rate(counts.bytes_stored as f64 / 1e6),
        },
        counts,
        s3_requests: aws.as_ref().map(|_| S3Requests {
            list: requests.list.load(Ordering::Relaxed),
            get: requests.get.load(Ordering::Relaxed),
            bytes_fetched: requests.bytes.load(Ordering::Relaxed),
        }),
        durations: Durations {
            list_s,
            process_s,
            merge_s: elapsed - list_s - process_s,
            until_write_s: elapsed,
        },
        exit_code,
    };
    run.finished_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let report = Report {
        merged: &merged,
        problems: &written.problems,
        failures: &failures,
        timeline: &timeline,
        incidents: &incidents,
        findings: &findings,
        run: &run,
    };
    dataset.publish(&report)?;
    if let Some(copy) = &cfg.state {
        sinks::replace_file_with_copy(copy, &cfg.out.join(state::FILE_NAME))?;
    }
    let summary = sinks::summary::terminal(&report, &cfg.out.display().to_string());
    // Freeing a run's worth of events takes a while; a command-line run
    // exits without waiting for it.
    std::thread::spawn(move || drop(merged));
    Ok(ScanOutcome {
        exit_code,
        summary,
        run,
    })
}

fn progress_bar(cfg: &ScanConfig, len: u64) -> ProgressBar {
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} objects ({per_sec}, eta {eta})",
    )
    .expect("template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// One stderr line for an object that was not read cleanly.
fn problem_line(obj: &ObjectRef, report: &ObjectReport) -> Option<String> {
    match report.status {
        ObjectStatus::Unreadable => Some(format!(
            "{}: {}",
            obj.display(),
            report.reason.as_deref().unwrap_or("unreadable")
        )),
        ObjectStatus::Ok if report.rejected_records > 0 => Some(format!(
            "{}: {} record(s) rejected; {}",
            obj.display(),
            report.rejected_records,
            report.reason.as_deref().unwrap_or("")
        )),
        _ => None,
    }
}

/// The async runtime and AWS clients, made once when an input needs them.
struct Aws {
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

impl Aws {
    fn start(cfg: &ScanConfig) -> Result<Aws, ScanError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ScanError::Runtime)?;
        let shared = runtime.block_on(fetch::aws_config(&cfg.s3));
        let s3 = fetch::s3_client(&shared, &cfg.s3);
        let cloudtrail = fetch::cloudtrail_client(&shared);
        Ok(Aws {
            runtime,
            s3,
            cloudtrail,
        })
    }
}

fn is_remote(obj: &ObjectRef) -> bool {
    matches!(obj.location, Location::S3 { .. })
}

/// The bytes of an object that needs no fetch stage: a local file, or a
/// LookupEvents document already in hand.
fn read_in_hand(obj: &ObjectRef) -> Fetched {
    match &obj.location {
        Location::File { .. } | Location::Path(_) => {
            let path = obj.path().expect("a local file");
            read_file(&path, obj.size).map_err(|e| format!("cannot read: {e}"))
        }
        Location::Lookup { document, .. } => Ok(document.to_vec()),
        Location::S3 { .. } => Err("internal error: an S3 object was not fetched".into()),
    }
}

/// A whole file, whose size the listing found: unlike `std::fs::read`,
/// which asks the file system for it again, one `statx` fewer per object.
/// A file that changed since is still read to its end.
fn read_file(path: &Path, listed_size: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    // Room for one byte more, so the read that finds the end needs none.
    let mut raw = Vec::with_capacity(usize::try_from(listed_size).map_or(0, |n| n + 1));
    // `&File` reads without the size query `File::read_to_end` makes.
    (&file).take(u64::MAX).read_to_end(&mut raw)?;
    Ok(raw)
}

/// The verdict on an object that is decided before its bytes are read:
/// skipped by its key, or too large to read.
fn before_reading(obj: &ObjectRef, cfg: &ScanConfig) -> Option<(ObjectStatus, String)> {
    if let Some(reason) = &obj.skip {
        return Some((ObjectStatus::Skipped, reason.clone()));
    }
    // Gzip only grows when inflated: a stored object over the cap cannot
    // fit under it, so it is not even read into memory.
    (obj.size > cfg.max_object_bytes).then(|| {
        let reason = format!(
            "stored size {} bytes exceeds --max-object-size {}",
            obj.size, cfg.max_object_bytes
        );
        (ObjectStatus::Unreadable, reason)
    })
}

/// [`read_object`], with a panic turned into an unreadable object rather
/// than the end of the run.
fn read_object_guarded(
    obj: &ObjectRef,
    fetched: Fetched,
    cfg: &ScanConfig,
    scratch: &mut Scratch,
) -> ObjectOutput {
    match catch_unwind(AssertUnwindSafe(|| read_object(obj, fetched, cfg, scratch))) {
        Ok(out) => out,
        Err(panic) => {
            *scratch = Scratch::default();
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            finished(
                obj,
                ObjectStatus::Unreadable,
                Some(format!(
                    "internal error while reading (please report this): {what}"
                )),
            )
        }
    }
}

/// An output with no records: a skipped or unreadable object.
fn finished(obj: &ObjectRef, status: ObjectStatus, reason: Option<String>) -> ObjectOutput {
    ObjectOutput {
        report: ObjectReport {
            source: obj.source.clone(),
            key: obj.key.clone(),
            bytes: obj.size,
            records: 0,
            federation_records: 0,
            change_records: 0,
            rejected_records: 0,
            status,
            reason,
        },
        events: Vec::new(),
        changes: Vec::new(),
        counts: RecordCounts::default(),
        inflated_bytes: 0,
    }
}

/// Reads one object: decode its bytes, classify each record, filter.
fn read_object(
    obj: &ObjectRef,
    fetched: Fetched,
    cfg: &ScanConfig,
    scratch: &mut Scratch,
) -> ObjectOutput {
    let raw = match fetched {
        Ok(raw) => raw,
        Err(reason) => return finished(obj, ObjectStatus::Unreadable, Some(reason)),
    };
    if let Err(e) = scratch
        .inflater
        .inflate(&raw, cfg.max_object_bytes, &mut scratch.inflated)
    {
        return finished(obj, ObjectStatus::Unreadable, Some(e.to_string()));
    }
    drop(raw);
    let inflated_bytes = scratch.inflated.len() as u64;
    let origin = Origin {
        object: Arc::from(obj.display()),
        account: obj.account.as_ref().map(|a| a.to_string()),
    };
    let mut tally = Tally::new(&cfg.filter, &origin, cfg.redact.as_ref());
    if scratch.prescan.split(&scratch.inflated) {
        // Only candidate records are parsed, each in place on its own.
        for (index, span) in scratch.prescan.spans.iter().enumerate() {
            if span.bytes.len() > MAX_RECORD_MIB << 20 {
                tally.reject(index, RecordError::TooLarge(span.bytes.len()));
                continue;
            }
            if !span.candidate {
                tally.counts.records += 1;
                tally.counts.not_federation += 1;
                continue;
            }
            let text = &mut scratch.inflated[span.bytes.clone()];
            match simd_json::to_tape_with_buffers(text, &mut scratch.parser) {
                Ok(tape) => tally.record(index, &tape.as_value()),
                Err(e) => {
                    let reason = format!("invalid JSON in record {index}: {e}");
                    return finished(obj, ObjectStatus::Unreadable, Some(reason));
                }
            }
        }
    } else {
        let document = match decode::parse(&mut scratch.inflated, &mut scratch.parser) {
            Ok(doc) => doc,
            Err(e) => return finished(obj, ObjectStatus::Unreadable, Some(e.to_string())),
        };
        let records = match decode::records(&document) {
            Ok(records) => records,
            Err(e @ DecodeError::Digest) => {
                return finished(obj, ObjectStatus::Skipped, Some(e.to_string()))
            }
            Err(e) => return finished(obj, ObjectStatus::Unreadable, Some(e.to_string())),
        };
        for (index, record) in records.iter().enumerate() {
            tally.record(index, &record);
        }
    }
    let Tally {
        counts,
        events,
        changes,
        first_rejection,
        ..
    } = tally;
    ObjectOutput {
        report: ObjectReport {
            source: obj.source.clone(),
            key: obj.key.clone(),
            bytes: obj.size,
            records: counts.records,
            federation_records: counts.federation_events,
            change_records: counts.config_changes,
            rejected_records: counts.rejected,
            status: ObjectStatus::Ok,
            reason: first_rejection,
        },
        events,
        changes,
        counts,
        inflated_bytes,
    }
}

/// What the records of one object became, as they are classified.
struct Tally<'a> {
    filter: &'a Filter,
    origin: &'a Origin,
    redact: Option<&'a Redactor>,
    counts: RecordCounts,
    events: Vec<FedEvent>,
    changes: Vec<ConfigChange>,
    first_rejection: Option<String>,
}

impl<'a> Tally<'a> {
    fn new(filter: &'a Filter, origin: &'a Origin, redact: Option<&'a Redactor>) -> Tally<'a> {
        Tally {
            filter,
            origin,
            redact,
            counts: RecordCounts::default(),
            events: Vec::new(),
            changes: Vec::new(),
            first_rejection: None,
        }
    }

    /// Counts a record that cannot be used, keeping the first reason.
    fn reject(&mut self, index: usize, e: RecordError) {
        self.counts.records += 1;
        self.counts.rejected += 1;
        self.first_rejection
            .get_or_insert_with(|| format!("first: record {index}: {e}"));
    }

    fn record(&mut self, index: usize, record: &Value<'_, '_>) {
        let classified = match classify(record, self.origin) {
            Ok(classified) => classified,
            Err(e) => return self.reject(index, e),
        };
        let counts = &mut self.counts;
        counts.records += 1;
        match classified {
            Classified::Ignored => counts.not_federation += 1,
            Classified::Event(e) => {
                if self
                    .filter
                    .admits(e.event_time, e.account_id.as_deref(), e.region.as_deref())
                {
                    counts.federation_events += 1;
                    let mut e = *e;
                    if let Some(r) = self.redact {
                        r.event(&mut e);
                    }
                    self.events.push(e);
                } else {
                    counts.outside_selection += 1;
                }
            }
            // Changes in a read object are kept for the whole window whatever
            // their account or region: an SCP is edited in the management
            // account, and IAM changes are logged in us-east-1, yet either can
            // break sign-in anywhere. (Objects of unselected accounts or
            // regions are not read at all.)
            Classified::Change(c) => {
                if self.filter.in_window(c.event_time) {
                    counts.config_changes += 1;
                    let mut c = *c;
                    if let Some(r) = self.redact {
                        r.change(&mut c);
                    }
                    self.changes.push(c);
                } else {
                    counts.outside_selection += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_whatever_size_the_listing_saw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json.gz");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        // As listed, grown since, shrunk since, and empty.
        for listed in [100_000, 10, 1 << 20, 0] {
            assert_eq!(read_file(&path, listed).unwrap(), bytes, "listed {listed}");
        }
        std::fs::write(&path, b"").unwrap();
        assert!(read_file(&path, 0).unwrap().is_empty());
        let err = read_file(&dir.path().join("gone"), 5).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
