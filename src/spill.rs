//! Spill: a run's kept events held in sorted runs, all but the last two on
//! disk, and read back merged into one time order. A nightly scan of an
//! organisation's trail keeps millions of federation events; held until the
//! end, they would make a scan's memory grow with the trail.
//!
//! Events arrive in any order with a tie-break each (the object's place in
//! key order, then the record's place in the object). Every [`RUN`] events
//! are sorted by `(time, tie)` and held by a thread of the spill's own,
//! which writes the run it held before to a file in the report's staging
//! folder, so that the workers, which push under one lock, do not wait on
//! each other while a run is sorted or written; the file's name is removed
//! as soon as it is created, so nothing is left behind whatever happens to
//! the run. [`Spill::merge`] reads the runs back together with the two in
//! memory, smallest `(time, tie)` first, and drops the later copies of an
//! event id CloudTrail delivered twice. (A scan of a million records keeps
//! ~18,000 events: one run held and one filling, nothing on disk.)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::classify::taxonomy::CLASSES;
use crate::model::{FedEvent, Micros, Outcome, Stage, Text, TextSet};

/// Events per run (about 8 MB of events). A spill holds two runs in
/// memory, the last one full and one filling, and briefly a third, the
/// one before, while it is written.
pub const RUN: usize = 16_384;

/// Runs on disk at most: when there are this many, they are merged into
/// one, so that a spill of any size keeps this many files open.
const MAX_RUNS: usize = 64;

/// Events gathered as objects finish, sorted in runs.
pub struct Spill {
    /// Where runs are written; `None` keeps every event in memory.
    dir: Option<PathBuf>,
    limit: usize,
    pending: Vec<(u64, FedEvent)>,
    /// Writes the full runs, once there is one.
    writer: Option<RunWriter>,
    len: u64,
}

/// The thread that writes a spill's runs: it takes each full run, sorts
/// it and holds it, and writes the run it held before (then frees it); it
/// ends with the runs' files and the last run, never written, or with the
/// first write that failed (later runs are then dropped). A spill whose
/// events fill one run writes nothing; every spill writes one run fewer
/// than it fills. At most three runs are in memory, briefly: the run
/// being written, the one just taken and the one filling.
struct RunWriter {
    runs: SyncSender<Vec<(u64, FedEvent)>>,
    thread: JoinHandle<std::io::Result<Written>>,
}

/// The runs a [`RunWriter`] wrote, each file with its count of events,
/// and the last run it took, sorted, in memory.
#[derive(Default)]
struct Written {
    files: Vec<(File, usize)>,
    last: Option<Vec<(u64, FedEvent)>>,
}

impl RunWriter {
    fn start(dir: PathBuf) -> RunWriter {
        let (runs, full) = std::sync::mpsc::sync_channel::<Vec<(u64, FedEvent)>>(0);
        let thread = std::thread::Builder::new()
            .name("spill events".into())
            .spawn(move || {
                let mut files = Vec::new();
                let mut last: Option<Vec<(u64, FedEvent)>> = None;
                let mut result = Ok(());
                for mut run in full {
                    // The run held goes to disk now that another takes its
                    // place.
                    if let Some(held) = last.take() {
                        if result.is_ok() {
                            result = write_run(&dir, held, &mut files);
                        }
                    }
                    sort(&mut run);
                    last = Some(run);
                }
                result.map(|()| Written { files, last })
            })
            .expect("the system starts a thread");
        RunWriter { runs, thread }
    }

    /// The runs written, once every run handed over is.
    fn finish(self) -> std::io::Result<Written> {
        drop(self.runs);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spill's writer panicked")))
    }
}

/// Writes `run`, sorted, to a new file in `dir`, added to `written`;
/// merges the files into one when there are [`MAX_RUNS`].
fn write_run(
    dir: &Path,
    run: Vec<(u64, FedEvent)>,
    written: &mut Vec<(File, usize)>,
) -> std::io::Result<()> {
    let mut events = run.iter().map(|(tie, e)| (*tie, e));
    let file = run_file(dir, written.len(), || Ok(events.next()))?;
    written.push((file, run.len()));
    drop(run);
    if written.len() < MAX_RUNS {
        return Ok(());
    }
    // Every event is kept: copies are dropped only by the last merge.
    let n = written.len();
    let count = written.iter().map(|(_, n)| n).sum();
    let mut merge = Merge::of(std::mem::take(written), Vec::new())?;
    let file = run_file(dir, n, || merge.next_tied())?;
    written.push((file, count));
    Ok(())
}

impl Spill {
    /// A spill that writes a run to `dir` every `limit` events.
    pub fn to_disk(dir: &Path, limit: usize) -> Spill {
        Spill {
            dir: Some(dir.to_path_buf()),
            limit: limit.max(1),
            ..Spill::in_memory()
        }
    }

    /// A spill that keeps every event in memory (a small run, a test).
    pub fn in_memory() -> Spill {
        Spill {
            dir: None,
            limit: usize::MAX,
            pending: Vec::new(),
            writer: None,
            len: 0,
        }
    }

    /// Where the runs are written, to name it in an error.
    pub fn place(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("(memory)"))
    }

    /// Events pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes an event with its tie-break; ties must differ between events.
    pub fn push(&mut self, tie: u64, event: FedEvent) {
        self.len += 1;
        if self.pending.capacity() == 0 {
            // Room for a run at once, not grown by doubling (each time a
            // copy of every event, into pages not yet touched).
            self.pending.reserve_exact(self.limit.min(RUN));
        }
        self.pending.push((tie, event));
        if self.pending.len() >= self.limit {
            let run = std::mem::take(&mut self.pending);
            self.write(run);
        }
    }

    /// Hands a full run to the writer, started with the first.
    fn write(&mut self, run: Vec<(u64, FedEvent)>) {
        let dir = self.dir.as_ref().expect("only a spill to disk has a limit");
        let writer = self
            .writer
            .get_or_insert_with(|| RunWriter::start(dir.clone()));
        // The writer stops taking runs only when it has panicked, which
        // `merge` reports.
        let _ = writer.runs.send(run);
    }

    /// Every event pushed, in `(time, tie)` order, without the later
    /// copies of an event id seen at the same time. Fails if a run could
    /// not be written.
    pub fn merge(mut self) -> std::io::Result<Merge> {
        let written = match self.writer {
            Some(writer) => writer.finish()?,
            None => Written::default(),
        };
        sort(&mut self.pending);
        let memory = written.last.into_iter().chain([self.pending]).collect();
        Merge::of(written.files, memory)
    }
}

/// Run `n`'s file in `dir` (see [`unlinked_file`]), holding every event
/// `next` gives, in that order.
fn run_file<E: std::borrow::Borrow<FedEvent>>(
    dir: &Path,
    n: usize,
    mut next: impl FnMut() -> std::io::Result<Option<(u64, E)>>,
) -> std::io::Result<File> {
    let file = unlinked_file(dir, n)?;
    let mut out = BufWriter::with_capacity(1 << 16, &file);
    let mut buf = Vec::new();
    while let Some((tie, e)) = next()? {
        buf.clear();
        encode(&mut buf, tie, e.borrow());
        out.write_all(&buf)?;
    }
    out.flush()?;
    drop(out);
    Ok(file)
}

/// A new file for run `n` in `dir`, open for writing and reading back,
/// whose name is removed at once: nothing is left behind whatever happens.
fn unlinked_file(dir: &Path, n: usize) -> std::io::Result<File> {
    let path = dir.join(format!(".events-run-{n}"));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl Default for Spill {
    fn default() -> Spill {
        Spill::in_memory()
    }
}

fn sort(events: &mut [(u64, FedEvent)]) {
    events.sort_unstable_by_key(|(tie, e)| (e.event_time, *tie));
}

/// One run being read back.
enum Source {
    Disk {
        file: BufReader<File>,
        left: usize,
        buf: Vec<u8>,
    },
    Memory(std::vec::IntoIter<(u64, FedEvent)>),
}

/// The merged events of a [`Spill`]: an iterator of `io::Result<FedEvent>`.
pub struct Merge {
    sources: Vec<Source>,
    /// Each source's next event.
    heads: Vec<Option<FedEvent>>,
    heap: BinaryHeap<Reverse<(Micros, u64, usize)>>,
    /// Strings read back are shared, as the workers shared them.
    texts: TextSet,
    /// The time of the last event given, and the ids given at that time
    /// (hashed by Fx, not SipHash: a lookup an event).
    at: Micros,
    ids: rustc_hash::FxHashSet<Text>,
    duplicates: u64,
}

impl Merge {
    /// Merges the runs on disk and those sorted in memory.
    fn of(runs: Vec<(File, usize)>, memory: Vec<Vec<(u64, FedEvent)>>) -> std::io::Result<Merge> {
        let mut sources = Vec::with_capacity(runs.len() + memory.len());
        for (mut file, count) in runs {
            file.rewind()?;
            sources.push(Source::Disk {
                file: BufReader::with_capacity(1 << 16, file),
                left: count,
                buf: Vec::new(),
            });
        }
        sources.extend(
            memory
                .into_iter()
                .map(|run| Source::Memory(run.into_iter())),
        );
        let mut merge = Merge {
            heads: Vec::with_capacity(sources.len()),
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            texts: TextSet::default(),
            at: Micros::MIN,
            ids: rustc_hash::FxHashSet::default(),
            duplicates: 0,
        };
        for i in 0..merge.sources.len() {
            let head = merge.read(i)?;
            merge.heads.push(None);
            merge.place(i, head);
        }
        Ok(merge)
    }

    /// The runs read back from disk.
    #[cfg(test)]
    fn disk_runs(&self) -> usize {
        let on_disk = |s: &&Source| matches!(s, Source::Disk { .. });
        self.sources.iter().filter(on_disk).count()
    }

    /// Events dropped so far as later copies of an event id.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    fn read(&mut self, i: usize) -> std::io::Result<Option<(u64, FedEvent)>> {
        match &mut self.sources[i] {
            Source::Memory(it) => Ok(it.next()),
            Source::Disk { file, left, buf } => {
                if *left == 0 {
                    return Ok(None);
                }
                *left -= 1;
                decode(file, buf, &mut self.texts).map(Some)
            }
        }
    }

    fn place(&mut self, i: usize, head: Option<(u64, FedEvent)>) {
        if let Some((tie, e)) = head {
            self.heap.push(Reverse((e.event_time, tie, i)));
            self.heads[i] = Some(e);
        }
    }

    /// The next event in `(time, tie)` order, copies included.
    fn next_tied(&mut self) -> std::io::Result<Option<(u64, FedEvent)>> {
        let Some(Reverse((_, tie, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let e = self.heads[i]
            .take()
            .expect("a source in the heap has a head");
        let head = self.read(i)?;
        self.place(i, head);
        Ok(Some((tie, e)))
    }

    fn next_event(&mut self) -> std::io::Result<Option<FedEvent>> {
        while let Some((_, e)) = self.next_tied()? {
            let time = e.event_time;
            if time != self.at {
                self.at = time;
                self.ids.clear();
            }
            if let Some(id) = &e.event_id {
                if !self.ids.insert(id.clone()) {
                    self.duplicates += 1;
                    continue;
                }
            }
            return Ok(Some(e));
        }
        Ok(None)
    }
}

impl Iterator for Merge {
    type Item = std::io::Result<FedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

// The encoding of one event in a run: fixed fields, then each string as a
// little-endian u32 length (`NONE` for an absent one) and its bytes.

const NONE: u32 = u32::MAX;

fn put_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

fn stage_code(s: Stage) -> u8 {
    Stage::ALL.iter().position(|x| *x == s).expect("a stage") as u8
}

fn class_code(c: Option<&'static str>) -> u8 {
    c.map_or(0, |c| {
        let i = CLASSES
            .iter()
            .position(|k| k.id == c)
            .expect("a failure class of the taxonomy");
        i as u8 + 1
    })
}

fn encode(out: &mut Vec<u8>, tie: u64, e: &FedEvent) {
    out.extend_from_slice(&e.event_time.to_le_bytes());
    out.extend_from_slice(&tie.to_le_bytes());
    out.push(stage_code(e.stage));
    out.push(u8::from(e.outcome == Outcome::Failure));
    out.push(class_code(e.failure_class));
    out.push(u8::from(e.duration_seconds.is_some()));
    out.extend_from_slice(&e.duration_seconds.unwrap_or(0).to_le_bytes());
    for s in texts_of(e) {
        put_text(out, s);
    }
    put_text(out, Some(&e.event_source));
    put_text(out, Some(&e.event_name));
    put_text(out, Some(&e.source_object));
}

/// The optional strings of an event, in the order they are written.
fn texts_of(e: &FedEvent) -> [Option<&str>; 17] {
    [
        e.event_id.as_deref(),
        e.account_id.as_deref(),
        e.region.as_deref(),
        e.error_code.as_deref(),
        e.error_message.as_deref(),
        e.role_arn.as_deref(),
        e.role_name.as_deref(),
        e.provider_arn.as_deref(),
        e.provider_name.as_deref(),
        e.session_name.as_deref(),
        e.user_name.as_deref(),
        e.issuer.as_deref(),
        e.audience.as_deref(),
        e.connect_instance_id.as_deref(),
        e.endpoint_type.as_deref(),
        e.source_ip.as_deref(),
        e.user_agent.as_deref(),
    ]
}

fn read_array<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// The next string of an event, read into `buf`; `None` when absent.
fn get_text<'b>(r: &mut impl Read, buf: &'b mut Vec<u8>) -> std::io::Result<Option<&'b str>> {
    let len = u32::from_le_bytes(read_array(r)?);
    if len == NONE {
        return Ok(None);
    }
    buf.resize(len as usize, 0);
    r.read_exact(buf)?;
    std::str::from_utf8(buf)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn decode(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    texts: &mut TextSet,
) -> std::io::Result<(u64, FedEvent)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let event_time = i64::from_le_bytes(read_array(r)?);
    let tie = u64::from_le_bytes(read_array(r)?);
    let [stage, failed, class, has_duration] = read_array(r)?;
    let duration = i64::from_le_bytes(read_array(r)?);
    let stage = *Stage::ALL.get(stage as usize).ok_or_else(|| bad("stage"))?;
    let failure_class = match class {
        0 => None,
        c => Some(CLASSES.get(c as usize - 1).ok_or_else(|| bad("class"))?.id),
    };
    // Event ids are all different: not worth sharing.
    let event_id = get_text(r, buf)?.map(Text::from);
    let mut shared =
        || -> std::io::Result<Option<Text>> { Ok(get_text(r, buf)?.map(|s| texts.get(s))) };
    let mut e = FedEvent {
        event_time,
        event_id,
        account_id: shared()?,
        region: shared()?,
        stage,
        outcome: if failed == 1 {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        failure_class,
        error_code: shared()?,
        error_message: shared()?,
        role_arn: shared()?,
        role_name: shared()?,
        provider_arn: shared()?,
        provider_name: shared()?,
        session_name: shared()?,
        user_name: shared()?,
        issuer: shared()?,
        audience: shared()?,
        duration_seconds: (has_duration == 1).then_some(duration),
        connect_instance_id: shared()?,
        endpoint_type: shared()?,
        source_ip: shared()?,
        user_agent: shared()?,
        ..FedEvent::default()
    };
    e.event_source = shared()?.ok_or_else(|| bad("event source"))?;
    e.event_name = shared()?.ok_or_else(|| bad("event name"))?;
    e.source_object = Arc::from(get_text(r, buf)?.ok_or_else(|| bad("object"))?);
    Ok((tie, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: Micros, id: &str, object: &str) -> FedEvent {
        FedEvent {
            event_time: t,
            event_id: Some(Text::from(id)),
            event_source: Text::from("sts.amazonaws.com"),
            event_name: Text::from("AssumeRoleWithSAML"),
            source_object: Arc::from(object),
            ..FedEvent::default()
        }
    }

    #[test]
    fn every_field_comes_back_from_disk_as_it_went() {
        let full = FedEvent {
            event_time: -1_234_567,
            event_id: Some("id-1".into()),
            account_id: Some("111122223333".into()),
            region: Some("eu-west-1".into()),
            stage: Stage::Connect,
            event_source: "connect.amazonaws.com".into(),
            event_name: "GetFederationToken".into(),
            outcome: Outcome::Failure,
            failure_class: Some("connect_user_not_onboarded"),
            error_code: Some("UserNotFoundException".into()),
            error_message: Some("ünïcode message".into()),
            role_arn: Some("arn:aws:iam::1:role/R".into()),
            role_name: Some("R".into()),
            provider_arn: Some("arn:aws:iam::1:saml-provider/P".into()),
            provider_name: Some("P".into()),
            session_name: Some("jdoe".into()),
            user_name: Some("".into()),
            issuer: Some("https://idp".into()),
            audience: Some("https://signin.aws.amazon.com/saml".into()),
            duration_seconds: Some(3600),
            connect_instance_id: Some("4f8c".into()),
            endpoint_type: Some("regional".into()),
            source_ip: Some("10.0.0.1".into()),
            user_agent: Some("agent".into()),
            source_object: Arc::from("logs/a.json.gz"),
        };
        let bare = event(5, "id-2", "logs/b.json.gz");
        let last = event(9, "id-3", "logs/c.json.gz");
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::to_disk(dir.path(), 1);
        spill.push(7, full.clone());
        spill.push(
            8,
            FedEvent {
                event_id: None,
                ..bare.clone()
            },
        );
        // The last run written is merged from memory.
        spill.push(9, last.clone());
        let merge = spill.merge().unwrap();
        assert_eq!(merge.disk_runs(), 2, "each event went to a run of its own");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no names left"
        );
        let back: Vec<FedEvent> = merge.map(Result::unwrap).collect();
        assert_eq!(
            back,
            [
                full,
                FedEvent {
                    event_id: None,
                    ..bare
                },
                last
            ]
        );
    }

    #[test]
    fn runs_merge_into_time_then_tie_order_dropping_copies_at_one_time() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        // 5,000 events over 300 instants; some ids delivered twice (same
        // time, another object), one id reused at another time.
        let mut input: Vec<(u64, FedEvent)> = (0..5_000u64)
            .map(|k| (k + 100, event(next(300) as i64, &format!("id-{k}"), "a")))
            .collect();
        for k in (0..5_000).step_by(97) {
            let (_, e) = &input[k];
            input.push((
                50_000 + k as u64,
                FedEvent {
                    source_object: "b".into(),
                    ..e.clone()
                },
            ));
        }
        input.push((60_000, event(1_000, "id-0", "c")));
        let copies = (0..5_000).step_by(97).count() as u64;
        let mut order = input.clone();
        order.sort_by_key(|(tie, e)| (e.event_time, *tie));
        let mut seen = std::collections::HashSet::new();
        let expected: Vec<FedEvent> = order
            .into_iter()
            .filter(|(_, e)| seen.insert((e.event_time, e.event_id.clone())))
            .map(|(_, e)| e)
            .collect();

        // In memory; one or two full runs (held, not written); a few runs;
        // enough to be compacted, once and twice; the last run written
        // compacted (65 full runs of 77: 64 written, one held). The last
        // full run is never written.
        let runs = [
            (usize::MAX, 0),
            (3_000, 0),
            (2_000, 1),
            (1_000, 4),
            (64, 14),
            (36, 13),
            (77, 1),
        ];
        for (limit, on_disk) in runs {
            let dir = tempfile::tempdir().unwrap();
            let mut spill = if limit == usize::MAX {
                Spill::in_memory()
            } else {
                Spill::to_disk(dir.path(), limit)
            };
            // Pushed in an order unrelated to time or tie.
            for (tie, e) in input.iter().rev() {
                spill.push(*tie, e.clone());
            }
            assert_eq!(spill.len(), input.len() as u64);
            let mut merge = spill.merge().unwrap();
            assert_eq!(merge.disk_runs(), on_disk, "limit {limit}");
            let got: Vec<FedEvent> = merge.by_ref().map(Result::unwrap).collect();
            assert_eq!(merge.duplicates(), copies, "limit {limit}");
            assert_eq!(got.len(), expected.len(), "limit {limit}");
            assert!(
                got == expected,
                "limit {limit}: same events in the same order"
            );
            assert!(
                got.iter().all(|e| &*e.source_object != "b"),
                "the first copy is kept"
            );
        }
    }

    #[test]
    fn a_run_that_cannot_be_written_is_reported_by_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let mut spill = Spill::to_disk(&gone, 2);
        for k in 0..5 {
            spill.push(k, event(k as i64, &format!("{k}"), "a"));
        }
        assert_eq!(spill.len(), 5);
        let err = spill.merge().err().expect("the folder does not exist");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
