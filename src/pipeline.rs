//! Pipeline: wires the stages together for `scan` — source lists, workers on
//! a rayon pool read, decode and classify one object each (parsing only the
//! records `prescan` cannot rule out), `aggregate` gathers their outputs as
//! objects finish and merges them, `analyze` finds incidents and findings,
//! and `sinks` write the dataset — and for `report`, which reads a dataset
//! back and renders its human reports again. No stage logic lives here beyond the
//! per-object loop that feeds records to `classify` and counts what became
//! of each.

use std::collections::{HashSet, VecDeque};
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
use crate::sinks::parquet::OnThread;
use crate::sinks::{
    self, Dataset, Durations, EventsWriter, IncidentSettings, Incremental, Report, RunInfo,
    S3Requests, Selection, SinkError, Throughput,
};
use crate::source::s3::{Requests, S3Url};
use crate::source::{self, Listing, Location, ObjectRef, SourceError};
use crate::spill::Spill;
use crate::state::{self, Seen, State, StateError, StateWriter, Verdict};
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
    /// Kept events held in memory before a sorted run is written to disk.
    pub spill_events: usize,
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
        let seen = &merged.observed;
        Derived {
            failures: aggregate::failures(&seen.failures),
            timeline: seen.timeline(),
            incidents: analyze::incidents_of(seen, &merged.changes, params),
            findings: analyze::findings::findings_of(
                &seen.failures,
                &merged.facts,
                &merged.changes,
                params,
            ),
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
    let events = loaded.events.len();
    let merged = &Merged::of(&loaded.events, loaded.changes, loaded.run.counts.clone());
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
        events,
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

/// The objects of one source, in key order: a local input, listed as it is
/// read, or what a remote listing found.
enum Segment {
    Local(Listing),
    Listed(Vec<ObjectRef>),
}

/// The inputs' objects as segments in `(source, key)` order: the order of
/// the objects table and of the state, and the tie-break between events of
/// the same time (whichever worker finished first).
fn segments(listings: Vec<Listing>, mut listed: Vec<ObjectRef>) -> Vec<Segment> {
    listed.sort_by(|a, b| (&a.source, &a.key).cmp(&(&b.source, &b.key)));
    let mut segments: Vec<(Arc<str>, Segment)> = listings
        .into_iter()
        .map(|l| (l.source().clone(), Segment::Local(l)))
        .collect();
    let mut listed = listed.into_iter().peekable();
    while let Some(first) = listed.next() {
        let source = first.source.clone();
        let mut group = vec![first];
        group.extend(std::iter::from_fn(|| {
            listed.next_if(|o| o.source == source)
        }));
        segments.push((source, Segment::Listed(group)));
    }
    segments.sort_by(|a, b| a.0.cmp(&b.0));
    segments.into_iter().map(|(_, s)| s).collect()
}

/// The reading of a scan's objects: workers on the pool take the objects in
/// key order, each numbered by its place, and hand what they made of each
/// to the collector.
struct Reading<'a> {
    cfg: &'a ScanConfig,
    pool: &'a rayon::ThreadPool,
    /// The state of the report an incremental run merges into.
    last_state: Option<State>,
    collector: Mutex<Collector>,
    /// The next object's place in key order.
    places: AtomicUsize,
    /// Set under --strict once an object is unreadable: later ones are not read.
    stop: Arc<AtomicBool>,
    /// Set when the run cannot go on: no object is taken after it.
    halt: AtomicBool,
    bar: ProgressBar,
}

impl Reading<'_> {
    /// Reads a local input's files as they are listed: each worker takes the
    /// next [`PER_LOCK`] files under the listing's lock (which lists a folder
    /// when the walk reaches it), then finds each one's size and time and
    /// reads it outside, and hands what it made of them to the collector
    /// [`PER_LOCK`] at a time. (One file a lock, a 1M-record scan of small
    /// objects spent ~60 ms of its workers' time waiting on the two locks,
    /// mostly in being put to sleep and woken.)
    fn local(&self, listing: Listing) {
        let info = listing.info();
        let listing = Mutex::new(listing);
        self.pool.broadcast(|_| {
            let mut scratch = Scratch::default();
            let mut taken = VecDeque::with_capacity(PER_LOCK);
            // The place of the next file taken: a batch's places follow on.
            let mut next_place = 0;
            let mut finished = Vec::with_capacity(PER_LOCK);
            loop {
                if taken.is_empty() {
                    let mut listing = listing.lock().expect("no worker panics holding it");
                    if self.halt.load(Ordering::Relaxed) {
                        break;
                    }
                    taken.extend(listing.by_ref().take(PER_LOCK));
                    if taken.is_empty() {
                        break;
                    }
                    next_place = self.places.fetch_add(taken.len(), Ordering::Relaxed);
                    // Its lock is shared with every `inc`: not taken for nothing.
                    if !self.bar.is_hidden() {
                        self.bar.inc_length(taken.len() as u64);
                    }
                }
                let named = taken.pop_front().expect("taken above");
                let place = next_place;
                next_place += 1;
                let found = named.and_then(|n| {
                    let at = n.at();
                    // With no earlier state to compare it with, nearly
                    // every file is read: it is opened first and its size
                    // and time are read from it, one lookup of its name
                    // instead of two (one left unread, skipped by its key
                    // or size, costs an open for the stat it saves). An
                    // open that fails leaves it to the stat and the read
                    // to say why, as in an incremental run.
                    let file = match &at {
                        Some(at) if self.last_state.is_none() && n.is_plain_file() => {
                            at.open().ok()
                        }
                        _ => None,
                    };
                    let obj = n.stat(&info, &self.cfg.filter, file.as_ref())?;
                    Ok(obj.map(|obj| (obj, at, file)))
                });
                match found {
                    Ok(Some((obj, at, mut file))) => {
                        let verdict = self.verdict(&obj);
                        let mut read = |obj: &ObjectRef| match (&at, file.take()) {
                            (_, Some(file)) => read_whole(&file, obj.size).map_err(cannot_read),
                            (Some(at), None) => at
                                .open()
                                .and_then(|file| read_whole(&file, obj.size))
                                .map_err(cannot_read),
                            (None, None) => read_in_hand(obj),
                        };
                        finished.extend(self.object(place, obj, verdict, &mut scratch, &mut read));
                        if finished.len() >= PER_LOCK {
                            self.hand_over(finished.drain(..));
                        }
                    }
                    Ok(None) => self.put(place, Done::Nothing),
                    Err(e) => {
                        self.hand_over(finished.drain(..));
                        return self.fail(e.into());
                    }
                }
            }
            self.hand_over(finished);
        });
    }

    /// Reads what a remote listing found: S3 objects through the fetch
    /// stage, the rest (objects decided without reading, LookupEvents
    /// documents) straight on the workers.
    fn listed(&self, objects: Vec<ObjectRef>, aws: Option<&Aws>, requests: &Arc<Requests>) {
        let first = self.places.fetch_add(objects.len(), Ordering::Relaxed);
        self.bar.inc_length(objects.len() as u64);
        let (mut direct, mut fetched) = (Vec::new(), Vec::new());
        for (k, obj) in objects.iter().enumerate() {
            match self.verdict(obj) {
                Some(Verdict::Unchanged) => self.put(first + k, self.unchanged(obj)),
                Some(v) if is_remote(obj) => fetched.push((k, Some(v))),
                v => direct.push((k, v)),
            }
        }
        let next = AtomicUsize::new(0);
        self.pool.broadcast(|_| {
            let mut scratch = Scratch::default();
            while let Some(&(k, v)) = direct.get(next.fetch_add(1, Ordering::Relaxed)) {
                let obj = objects[k].clone();
                let finished = self.object(first + k, obj, v, &mut scratch, &mut read_in_hand);
                self.hand_over(finished);
            }
        });
        let Some(Aws {
            runtime,
            s3: client,
            ..
        }) = aws.filter(|_| !fetched.is_empty())
        else {
            return;
        };
        // Each fetched object is known by its place in `fetched`.
        let wanted = fetched
            .iter()
            .enumerate()
            .filter_map(|(j, &(k, _))| match &objects[k].location {
                Location::S3 { bucket, prefix } => Some(fetch::Wanted {
                    index: j,
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    rest: objects[k].key.clone(),
                }),
                Location::File { .. } | Location::Path(_) | Location::Lookup { .. } => None,
            })
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel(self.cfg.threads * 2);
        let fetcher = runtime.spawn(fetch::fetch_all(
            client.clone(),
            wanted,
            self.cfg.s3.clone(),
            requests.clone(),
            tx,
            self.stop.clone(),
        ));
        self.pool.install(|| {
            std::iter::from_fn(|| rx.blocking_recv())
                .par_bridge()
                .for_each_init(Scratch::default, |scratch, (j, bytes)| {
                    let mut bytes = Some(bytes);
                    let (k, verdict) = fetched[j];
                    let obj = objects[k].clone();
                    let finished = self.object(first + k, obj, verdict, scratch, &mut |_| {
                        bytes.take().expect("an object is read once")
                    });
                    self.hand_over(finished);
                });
        });
        // All results were received, so the fetch task has finished.
        let _ = runtime.block_on(fetcher);
    }

    /// How `obj` compares with the last run's state; `None` when it is
    /// decided without reading (skipped, too large).
    fn verdict(&self, obj: &ObjectRef) -> Option<Verdict> {
        before_reading(obj, self.cfg).is_none().then(|| {
            self.last_state
                .as_ref()
                .map_or(Verdict::New, |s| s.verdict(obj))
        })
    }

    /// An object unchanged since the last run: not read; its state stands.
    fn unchanged(&self, obj: &ObjectRef) -> Done {
        let name = obj.display();
        let seen = self.last_state.as_ref().and_then(|s| s.objects.get(&name));
        let seen = seen.expect("an unchanged object is in the state").clone();
        Done::Unchanged(name, seen)
    }

    /// Reads object `obj` (at `place`), unless its verdict or the run says
    /// not to; its bytes come from `fetch`, called only then. Returns what
    /// it made of the object, for [`Reading::hand_over`]; `None` when the
    /// object is unchanged since the last run (put in its place already).
    fn object(
        &self,
        place: usize,
        obj: ObjectRef,
        verdict: Option<Verdict>,
        scratch: &mut Scratch,
        fetch: &mut dyn FnMut(&ObjectRef) -> Fetched,
    ) -> Option<Finished> {
        let cfg = self.cfg;
        if verdict == Some(Verdict::Unchanged) {
            self.put(place, self.unchanged(&obj));
            return None;
        }
        // Made once, here: its events and its state entry name the object,
        // and the collector's lock is not held for it.
        let name: Arc<str> = Arc::from(obj.display());
        let out = if self.stop.load(Ordering::Relaxed) {
            finished(&obj, ObjectStatus::Skipped, Some(STOPPED.into()))
        } else {
            // Objects decided by their key or size are never read.
            match before_reading(&obj, cfg) {
                Some((status, reason)) => finished(&obj, status, Some(reason)),
                None => read_object_guarded(&obj, &name, fetch(&obj), cfg, scratch),
            }
        };
        // Under --strict, the run's error names the unreadable object.
        let stopping = cfg.strict && out.report.status == ObjectStatus::Unreadable;
        if stopping {
            self.stop.store(true, Ordering::Relaxed);
        }
        if cfg.report_problems && !stopping {
            if let Some(line) = problem_line(&obj, &out.report) {
                self.bar.suspend(|| eprintln!("fedtrail: {line}"));
            }
        }
        Some(Finished {
            place,
            obj,
            name,
            verdict,
            out,
        })
    }

    /// Gives the collector what was made of some objects, under one taking
    /// of its lock.
    fn hand_over(&self, finished: impl IntoIterator<Item = Finished>) {
        let mut handed = 0;
        let result = {
            let mut collector = self.collector();
            finished.into_iter().try_for_each(|f| {
                handed += 1;
                collector.take(f.place, f.obj, f.name, f.verdict, f.out)
            })
        };
        if handed > 0 {
            self.bar.inc(handed);
        }
        if let Err(e) = result {
            self.fail(e);
        }
    }

    fn put(&self, place: usize, done: Done) {
        let result = self.collector().put(place, done);
        self.bar.inc(1);
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Stops the run with `error` (the first one is reported).
    fn fail(&self, error: ScanError) {
        self.collector().error.get_or_insert(error);
        self.halt.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }

    fn collector(&self) -> std::sync::MutexGuard<'_, Collector> {
        self.collector.lock().expect("no worker panics holding it")
    }
}

/// Objects a worker takes from a local listing, and hands to the
/// collector, under one taking of each lock.
const PER_LOCK: usize = 16;

/// An object read (or decided without reading) and what was made of it,
/// not yet handed to the collector.
struct Finished {
    place: usize,
    obj: ObjectRef,
    name: Arc<str>,
    verdict: Option<Verdict>,
    out: ObjectOutput,
}

/// What became of the object at one place in key order.
enum Done {
    /// Not an object after all (a link to a folder, a socket).
    Nothing,
    /// Unchanged since the last run (by its display name): not read again,
    /// its rows and its state entry stand.
    Unchanged(String, Seen),
    /// Read, or decided without reading (skipped, too large): its row,
    /// with the object's display name.
    Read(ObjectRef, Arc<str>, ObjectReport),
}

/// How many objects of each verdict this run listed.
#[derive(Default)]
struct Verdicts {
    new: u64,
    changed: u64,
    unchanged: u64,
}

/// What the workers hand over as each object finishes, under one lock.
struct Collector {
    /// Events, changes and counts.
    gathered: aggregate::Gathered,
    /// Objects that finished before an object listed ahead of them.
    in_order: InOrder<Done>,
    table: ObjectsTable,
    state_path: PathBuf,
    state_out: StateWriter,
    /// An incremental run's objects read again (by display name): their
    /// earlier events and changes are replaced.
    reread: Option<HashSet<String>>,
    verdicts: Verdicts,
    /// Why the run stopped, if it did (the first reason).
    error: Option<ScanError>,
    /// Under `--strict`: the first unreadable object in key order (its
    /// place and name), and why.
    unreadable: Option<(usize, String, String)>,
}

impl Collector {
    /// Takes the output of `obj` (displayed as `name`), at `place` in key
    /// order.
    fn take(
        &mut self,
        place: usize,
        obj: ObjectRef,
        name: Arc<str>,
        verdict: Option<Verdict>,
        out: ObjectOutput,
    ) -> Result<(), ScanError> {
        match verdict {
            Some(Verdict::New) => self.verdicts.new += 1,
            Some(Verdict::Changed) => self.verdicts.changed += 1,
            Some(Verdict::Unchanged) | None => {}
        }
        let report = self.gathered.take(place as u32, out);
        if report.status == ObjectStatus::Unreadable
            && self.unreadable.as_ref().is_none_or(|(p, ..)| place < *p)
        {
            let reason = report.reason.clone().unwrap_or_default();
            self.unreadable = Some((place, name.to_string(), reason));
        }
        self.put(place, Done::Read(obj, name, report))
    }

    /// Writes every object now in order: its row, its state entry, and (in
    /// an incremental run) that it was read again.
    fn put(&mut self, place: usize, done: Done) -> Result<(), ScanError> {
        if let Done::Unchanged(..) = done {
            self.verdicts.unchanged += 1;
        }
        if self.error.is_some() {
            return Ok(());
        }
        let Collector {
            in_order,
            table,
            state_path,
            state_out,
            reread,
            ..
        } = self;
        let state_err = |e| ScanError::from(SinkError::io(state_path, e));
        in_order.put(place, done, |done| match done {
            Done::Nothing => Ok(()),
            Done::Unchanged(name, seen) => state_out
                .push(&name, seen.bytes, &seen.version)
                .map_err(state_err),
            Done::Read(obj, name, report) => {
                // An object without a version is read again every time.
                if let (ObjectStatus::Ok, Some(version)) = (report.status, &obj.version) {
                    state_out
                        .push(&name, obj.size, version)
                        .map_err(state_err)?;
                }
                if let Some(reread) = reread
                    .as_mut()
                    .filter(|_| report.status != ObjectStatus::Skipped)
                {
                    reread.insert(name.to_string());
                }
                Ok(table.push(report)?)
            }
        })
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
    // Local inputs are listed as they are read; remote ones are listed here.
    let mut listings = Vec::new();
    let mut listed = Vec::new();
    for input in &cfg.inputs {
        let remote = ["s3://", "trail:", "lookup:"]
            .iter()
            .any(|p| input.starts_with(p));
        if !remote {
            listings.push(Listing::open(input)?);
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
            listed.extend(found);
            continue;
        }
        let url = match input.strip_prefix("trail:") {
            Some(name) => aws
                .runtime
                .block_on(source::cloudtrail::trail_url(&aws.cloudtrail, name))?,
            None => input.clone(),
        };
        let url = S3Url::parse(&url)?;
        listed.extend(aws.runtime.block_on(source::s3::list(
            &aws.s3,
            &url,
            &cfg.filter,
            &requests,
        ))?);
    }
    let mut segments = segments(listings, listed);
    let list_s = clock.elapsed().as_secs_f64();
    // Written beside `--out` and put in its place at the end. Begun before
    // the previous report is read: a run that died moving its report into
    // place left it parked, and beginning puts it back.
    let dataset = Dataset::begin(&cfg.out)?;
    for segment in &mut segments {
        if let Segment::Local(listing) = segment {
            listing.pass_over(dataset.folder());
        }
    }

    // An incremental run reads only what the previous report lacks.
    let state_file = cfg
        .state
        .clone()
        .unwrap_or_else(|| cfg.out.join(state::FILE_NAME));
    let (last_state, mut previous) = previous_report(cfg, &state_file)?.unzip();
    // Each object's row is written as soon as it and every object before
    // it are finished; the previous report's rows are merged in as they go.
    // So is the next state: this run's listing only (so it does not grow
    // without end), each object the report now holds as it is.
    let previous_rows = previous
        .as_mut()
        .map_or_else(Vec::new, |loaded| std::mem::take(&mut loaded.objects));
    let table = ObjectsTable::create(&dataset.file("objects.parquet"), previous_rows);
    let state_path = dataset.file(state::FILE_NAME);
    let redaction = cfg.redact.as_ref().map(Redactor::key_id);
    let state_out = StateWriter::create(&state_path, redaction.as_deref())
        .map_err(|e| SinkError::io(&state_path, e))?;
    let reading = Reading {
        cfg,
        pool: &pool,
        last_state,
        collector: Mutex::new(Collector {
            gathered: aggregate::Gathered::new(Spill::to_disk(dataset.folder(), cfg.spill_events)),
            in_order: InOrder::default(),
            table,
            state_path,
            state_out,
            reread: previous.as_ref().map(|_| HashSet::new()),
            verdicts: Verdicts::default(),
            error: None,
            unreadable: None,
        }),
        places: AtomicUsize::new(0),
        stop: Arc::new(AtomicBool::new(false)),
        halt: AtomicBool::new(false),
        bar: progress_bar(cfg),
    };
    for segment in segments {
        match segment {
            Segment::Local(listing) => reading.local(listing),
            Segment::Listed(objects) => reading.listed(objects, aws.as_ref(), &requests),
        }
    }
    reading.bar.finish_and_clear();
    let Collector {
        gathered,
        in_order,
        mut table,
        state_out,
        state_path,
        reread,
        verdicts,
        error,
        unreadable,
        ..
    } = reading
        .collector
        .into_inner()
        .expect("no worker panics holding it");
    if let Some(error) = error {
        return Err(error);
    }
    if cfg.strict {
        if let Some((_, object, reason)) = unreadable {
            return Err(ScanError::Strict { object, reason });
        }
    }
    debug_assert_eq!(in_order.waiting(), 0, "every object was written");
    let process_s = clock.elapsed().as_secs_f64() - list_s;
    let mut incremental = Incremental {
        state_file: state_file.display().to_string(),
        merged_into_previous: previous.is_some(),
        objects_new: verdicts.new,
        objects_changed: verdicts.changed,
        objects_unchanged: verdicts.unchanged,
        ..Incremental::default()
    };
    // The events table is written as the events are merged, by a thread
    // of its own. An incremental run replaces the rows of every object it
    // read again. The objects table's writer finishes its last rows
    // meanwhile, and the events table's while the other tables are written.
    table.close()?;
    let events = EventsWriter::create(&dataset)?;
    let previous = previous.map(|p| (p.events, p.changes)).zip(reread);
    let ((mut merged, carried), events_table) = writing_events(events, |each| match previous {
        Some(((events, changes), reread)) => {
            aggregate::merge_onto(events, changes, gathered, &reread, each)
        }
        None => Ok((
            aggregate::merge_gathered(gathered, each)?,
            aggregate::Carried::default(),
        )),
    })?;
    let written = table.finish()?;
    state_out
        .finish()
        .map_err(|e| SinkError::io(&state_path, e))?;
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
    dataset.write(&report)?;
    events_table.finish()?;
    dataset.publish()?;
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

/// Runs `merge` with a function that hands each event it merges to
/// `events`, written on a thread of its own (the merge and the writing of
/// Parquet each take one core). Returns what the merge made and the
/// writer, still writing its last rows: its `finish` waits for the table.
/// When the writer fails, its error is the one the merge stops with and
/// the one returned.
fn writing_events<T>(
    events: EventsWriter,
    merge: impl FnOnce(&mut dyn FnMut(FedEvent) -> Result<(), SinkError>) -> Result<T, SinkError>,
) -> Result<(T, OnThread<FedEvent>), SinkError> {
    // Batches of 1,024 events, four of them queued at most.
    let mut writer = OnThread::new(Path::new("events"), events, 1024, 4);
    // A failed merge drops the writer, which stops once it has written
    // what it was handed.
    let merged = merge(&mut |e| writer.push(e))?;
    Ok((merged, writer))
}

/// A progress bar whose length grows as objects are listed.
fn progress_bar(cfg: &ScanConfig) -> ProgressBar {
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
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
            read_file(&path, obj.size).map_err(cannot_read)
        }
        Location::Lookup { document, .. } => Ok(document.to_vec()),
        Location::S3 { .. } => Err("internal error: an S3 object was not fetched".into()),
    }
}

fn cannot_read(e: std::io::Error) -> String {
    format!("cannot read: {e}")
}

/// A whole file, whose size the listing found.
fn read_file(path: &Path, listed_size: u64) -> std::io::Result<Vec<u8>> {
    read_whole(&std::fs::File::open(path)?, listed_size)
}

/// The whole of an open file, whose size the listing found: unlike
/// `std::fs::read`, which asks the file system for it again and then reads
/// until a read finds nothing, one `statx` and one `read` fewer per object
/// when the file is as listed. A file that changed since is read to its end.
/// The bytes are read into the buffer's spare room, not zeroed first
/// (zeroing every object was ~2% of a scan's instructions).
fn read_whole(file: &std::fs::File, listed_size: u64) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let listed = usize::try_from(listed_size).unwrap_or(usize::MAX - 1);
    // Room for one byte more: a read of a file that still has its listed
    // size stops short, at its end, and no read is needed to find the end.
    let mut raw = Vec::with_capacity(listed + 1);
    loop {
        if raw.len() == raw.capacity() {
            raw.reserve(raw.capacity().max(8192));
        }
        let spare = raw.spare_capacity_mut();
        // SAFETY: read(2) writes at most `spare.len()` bytes into the
        // vector's spare room, which the vector owns and nothing else
        // holds; the `n` bytes it reports are then initialised.
        let n = unsafe { libc::read(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        match usize::try_from(n) {
            Ok(0) => break,
            // SAFETY: as above, the first `n` bytes of the spare room.
            Ok(n) => unsafe { raw.set_len(raw.len() + n) },
            Err(_) => {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
        }
        if raw.len() == listed {
            break;
        }
    }
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
    name: &Arc<str>,
    fetched: Fetched,
    cfg: &ScanConfig,
    scratch: &mut Scratch,
) -> ObjectOutput {
    match catch_unwind(AssertUnwindSafe(|| {
        read_object(obj, name, fetched, cfg, scratch)
    })) {
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

/// Reads one object (displayed as `name`): decode its bytes, classify each
/// record, filter.
fn read_object(
    obj: &ObjectRef,
    name: &Arc<str>,
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
        object: name.clone(),
        account: obj.account.clone(),
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
        // A read that fails (a folder opens, but cannot be read).
        let err = read_file(dir.path(), 5).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::IsADirectory);
    }

    /// When the events table cannot be written, the merge feeding it stops
    /// soon after, and the run fails with the writer's error (naming the
    /// file it could not write), not the merge's.
    #[test]
    fn a_failed_events_writer_stops_the_merge_and_its_error_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = Dataset::begin(&dir.path().join("out")).unwrap();
        let events = EventsWriter::create(&dataset).unwrap();
        // The writer's first day partition has nowhere to go.
        std::fs::remove_dir(dataset.file("events")).unwrap();
        const TOTAL: usize = 100_000;
        let mut fed = 0;
        let result = writing_events(events, |each| {
            for i in 0..TOTAL {
                let e = FedEvent {
                    event_time: i as i64 * 1_000_000,
                    event_id: Some(format!("id-{i}").into()),
                    source_object: Arc::from("o"),
                    ..FedEvent::default()
                };
                each(e)?;
                fed += 1;
            }
            Ok(fed)
        });
        let Err(err) = result.map(|(fed, _)| fed) else {
            panic!("the merge went through although its writer failed")
        };
        assert!(
            matches!(&err, SinkError::Io { path, source }
                if path.ends_with("events/date=1970-01-01")
                    && source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        // The channel holds four batches of 1,024 and one is being filled.
        assert!(fed < 10 * 1024, "the merge went on for {fed} events");
    }
}
