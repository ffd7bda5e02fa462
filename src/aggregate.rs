//! Aggregate: the per-object outputs of the workers, merged once into the
//! run's dataset. Sorts everything into one deterministic order, drops
//! duplicate `eventID`s (CloudTrail delivers some records twice), keeps
//! role-policy changes only for roles seen in federation, and builds the
//! `failures` and `timeline` tables. Events are gathered in a [`Spill`]
//! and merged as a stream, so that the events table is written as they
//! come; the run keeps of each event only what the analyses read.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::analyze::findings::Facts;
use crate::classify::ROLE_POLICY_EVENTS;
use crate::model::{ConfigChange, FedEvent, Micros, ObjectReport, ObjectStatus, Stage, Text};
use crate::sinks::SinkError;
use crate::spill::Spill;
use crate::time::MICROS_PER_MINUTE;

/// What happened to one object's records; the counts add up:
/// `records = rejected + not_federation + outside_selection + federation_events + config_changes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    pub records: u64,
    pub rejected: u64,
    pub not_federation: u64,
    pub outside_selection: u64,
    pub federation_events: u64,
    pub config_changes: u64,
}

impl RecordCounts {
    pub fn add(&mut self, other: &RecordCounts) {
        self.records += other.records;
        self.rejected += other.rejected;
        self.not_federation += other.not_federation;
        self.outside_selection += other.outside_selection;
        self.federation_events += other.federation_events;
        self.config_changes += other.config_changes;
    }
}

/// Everything a worker learnt from one object.
#[derive(Debug, Clone)]
pub struct ObjectOutput {
    pub report: ObjectReport,
    pub events: Vec<FedEvent>,
    pub changes: Vec<ConfigChange>,
    pub counts: RecordCounts,
    pub inflated_bytes: u64,
}

/// The run's totals, as written to `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub objects_listed: u64,
    pub objects_read: u64,
    pub objects_skipped: u64,
    pub objects_unreadable: u64,
    pub bytes_stored: u64,
    pub bytes_inflated: u64,
    #[serde(flatten)]
    pub records: RecordCounts,
    /// Federation events dropped because their `eventID` was already seen.
    pub duplicate_events: u64,
    /// Config changes dropped because their `eventID` was already seen.
    pub duplicate_changes: u64,
    /// Role-policy changes dropped because no federation event names the role.
    pub unrelated_role_changes: u64,
    /// Federation events kept (after de-duplication).
    pub events_written: u64,
    pub failures_observed: u64,
    pub changes_written: u64,
}

/// The merged run, as the tables other than the events table, the
/// analyses and the human reports read it: not the kept events themselves
/// (they are written as they are merged), only their failures and what a
/// pass over them gathered. (Nor the objects table: its rows are written
/// as objects finish, see `sinks::objects`.)
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// The failures, and counts of all events per bucket.
    pub observed: Observed,
    /// What the findings read of all events.
    pub facts: Facts,
    pub changes: Vec<ConfigChange>,
    pub counts: RunCounts,
}

impl Merged {
    /// A run whose events (sorted by time) and changes are at hand: a
    /// report read back.
    pub fn of(events: &[FedEvent], changes: Vec<ConfigChange>, counts: RunCounts) -> Merged {
        Merged {
            observed: Observed::of(events),
            facts: Facts::of(events, &changes),
            changes,
            counts,
        }
    }
}

/// Worker outputs taken as each object is finished, so that a run holds
/// every kept event once and each object only as its report row: events
/// and changes are appended here and counts added up, and the small
/// per-object vectors are freed while the workers still run, their memory
/// reused for the next objects (collected at the end, each would leave a
/// hole the size of its events).
///
/// Items are in arrival order; each carries a tie-break (the object's place
/// in key order, then the record's place in the object) so that the final
/// order does not depend on which worker finished first.
#[derive(Default)]
pub struct Gathered {
    events: Spill,
    changes: Vec<ConfigChange>,
    change_ties: Vec<u64>,
    counts: RunCounts,
}

impl Gathered {
    /// Gathers events in `events`.
    pub fn new(events: Spill) -> Gathered {
        Gathered {
            events,
            ..Gathered::default()
        }
    }

    /// Takes an object's output: its events and changes, and its counts.
    /// Returns its report row. `rank` is the object's place among all
    /// listed objects in `(source, key)` order.
    pub fn take(&mut self, rank: u32, out: ObjectOutput) -> ObjectReport {
        let c = &mut self.counts;
        c.objects_listed += 1;
        match out.report.status {
            ObjectStatus::Ok => c.objects_read += 1,
            ObjectStatus::Skipped => c.objects_skipped += 1,
            ObjectStatus::Unreadable => c.objects_unreadable += 1,
        }
        c.bytes_stored += out.report.bytes;
        c.bytes_inflated += out.inflated_bytes;
        c.records.add(&out.counts);
        // Rank 0 is for rows carried from an earlier report: they come first.
        let base = (u64::from(rank) + 1) << 32;
        for (i, e) in out.events.into_iter().enumerate() {
            self.events.push(base | i as u64, e);
        }
        self.change_ties
            .extend((0..out.changes.len() as u64).map(|i| base | i));
        self.changes.extend(out.changes);
        out.report
    }
}

/// Merges worker outputs (in any order) into one deterministic dataset,
/// in memory; also returns the kept events, in order.
pub fn merge(mut outputs: Vec<ObjectOutput>) -> (Merged, Vec<FedEvent>) {
    outputs
        .sort_by(|a, b| (&a.report.source, &a.report.key).cmp(&(&b.report.source, &b.report.key)));
    let mut gathered = Gathered::default();
    for (rank, out) in outputs.into_iter().enumerate() {
        gathered.take(rank as u32, out);
    }
    let mut events = Vec::new();
    let merged = merge_gathered(gathered, |e| {
        events.push(e);
        Ok(())
    })
    .expect("an in-memory merge does no I/O");
    (merged, events)
}

/// [`merge`] for a run whose outputs were [`Gathered`] as objects
/// finished: each kept event is given to `each` in time order, and only
/// what the analyses read of it is kept.
pub fn merge_gathered(
    mut gathered: Gathered,
    each: impl FnMut(FedEvent) -> Result<(), SinkError>,
) -> Result<Merged, SinkError> {
    let merged = Merged {
        counts: std::mem::take(&mut gathered.counts),
        ..Merged::default()
    };
    finish(merged, gathered, each)
}

/// An event as the analyses and human reports read it: without the fields
/// only the events table shows (the object it came from, user agent,
/// issuer, audience, duration, event source and name). The object's name
/// in particular would otherwise keep every object with an event in memory.
pub fn for_analysis(e: &mut FedEvent) {
    thread_local! {
        static NOWHERE: std::sync::Arc<str> = std::sync::Arc::from("");
    }
    e.source_object = NOWHERE.with(std::sync::Arc::clone);
    e.user_agent = None;
    e.issuer = None;
    e.audience = None;
    e.duration_seconds = None;
    e.event_source = Text::default();
    e.event_name = Text::default();
}

/// What an incremental run kept of the report it merged into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    pub events: u64,
    pub changes: u64,
}

/// Merges this run's outputs onto a previous report (an incremental run).
/// Every object read again in this run (`reread`: display names, the
/// `source_object` of its rows) has its earlier events and changes
/// replaced; everything else of the previous report is kept. Counts of
/// records and objects are this run's; the written counts are the whole
/// report's. (Object rows are merged as they are written: see
/// `sinks::objects`.)
pub fn merge_onto(
    previous_events: Vec<FedEvent>,
    previous_changes: Vec<ConfigChange>,
    mut gathered: Gathered,
    reread: &HashSet<String>,
    each: impl FnMut(FedEvent) -> Result<(), SinkError>,
) -> Result<(Merged, Carried), SinkError> {
    let mut carried_events = 0;
    for e in previous_events {
        if !reread.contains(&*e.source_object) {
            // Earlier rows first (rank 0): on equal times they keep their place.
            gathered.events.push(carried_events, e);
            carried_events += 1;
        }
    }
    let mut changes: Vec<ConfigChange> = previous_changes
        .into_iter()
        .filter(|c| !reread.contains(&*c.source_object))
        .collect();
    let carried = Carried {
        events: carried_events,
        changes: changes.len() as u64,
    };
    gathered.change_ties.extend(0..changes.len() as u64);
    gathered.changes.append(&mut changes);
    Ok((merge_gathered(gathered, each)?, carried))
}

/// Sorts and de-duplicates changes, merges the events (each to `each`,
/// then observed for the analyses), drops role-policy changes of roles no
/// event names, and counts what is written.
fn finish(
    mut merged: Merged,
    gathered: Gathered,
    mut each: impl FnMut(FedEvent) -> Result<(), SinkError>,
) -> Result<Merged, SinkError> {
    let Gathered {
        events: spill,
        mut changes,
        change_ties,
        counts: _,
    } = gathered;
    merged.counts.duplicate_changes = sort_and_dedupe(&mut changes, &change_ties, |c| {
        (c.event_time, c.event_id.as_deref())
    });
    merged.facts = Facts::new(&changes);
    merged.changes = changes;

    let place = spill.place();
    let io = |e| SinkError::io(&place, e);
    // Hashed by Fx, not SipHash: one lookup an event on the merge's thread.
    let mut roles: rustc_hash::FxHashSet<Text> = rustc_hash::FxHashSet::default();
    let mut written = 0;
    let mut stream = spill.merge().map_err(io)?;
    for e in stream.by_ref() {
        let e = e.map_err(io)?;
        written += 1;
        if let Some(role) = &e.role_name {
            if !roles.contains(role) {
                roles.insert(role.clone());
            }
        }
        merged.observed.add_for_analysis(&e);
        merged.facts.add(&e);
        // Read by the analyses first, so that the event itself, not a copy
        // of it, goes on to the events table.
        each(e)?;
    }
    merged.counts.duplicate_events = stream.duplicates();
    drop(stream);

    let before = merged.changes.len();
    let unrelated = |c: &ConfigChange| {
        ROLE_POLICY_EVENTS.contains(&c.event_name.as_str())
            && !c.target.as_deref().is_some_and(|r| roles.contains(r))
    };
    merged.changes.retain(|c| !unrelated(c));
    merged.counts.unrelated_role_changes = (before - merged.changes.len()) as u64;

    merged.counts.events_written = written;
    merged.counts.failures_observed = merged.observed.failures.len() as u64;
    merged.counts.changes_written = merged.changes.len() as u64;
    Ok(merged)
}

/// Sorts by time, then by `ties` (one per item: objects in key order,
/// records in object order), and keeps the first item of each event id
/// (items without one are all kept); returns how many were dropped. Items
/// are large and a big run holds many, so the order is worked out on
/// `(time, tie, index)` triples and applied in place: each item moves once
/// and is never copied.
fn sort_and_dedupe<T>(
    items: &mut Vec<T>,
    ties: &[u64],
    key: impl Fn(&T) -> (Micros, Option<&str>),
) -> u64 {
    assert_eq!(items.len(), ties.len(), "one tie-break per item");
    let mut order: Vec<(Micros, u64, usize)> = items
        .iter()
        .zip(ties)
        .enumerate()
        .map(|(i, (it, &tie))| (key(it).0, tie, i))
        .collect();
    order.sort_unstable();
    // Whether the item that ends up at each position is kept.
    let keep: Vec<bool> = {
        let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
        order
            .iter()
            .map(|&(_, _, i)| key(&items[i]).1.is_none_or(|id| seen.insert(id)))
            .collect()
    };
    // Position `p` takes the item now at `order[p].2`: walk each cycle of
    // that permutation once, swapping along it.
    let mut done = vec![false; items.len()];
    for start in 0..items.len() {
        let mut at = start;
        while !done[at] {
            done[at] = true;
            let from = order[at].2;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
    drop((order, done));
    let before = items.len();
    let mut kept = keep.iter();
    items.retain(|_| *kept.next().expect("one flag per item"));
    (before - items.len()) as u64
}

/// A row of `failures.parquet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRow {
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub stage: Stage,
    pub failure_class: &'static str,
    pub error_code: Option<String>,
    pub role_arn: Option<String>,
    pub provider_arn: Option<String>,
    pub failures: u64,
    pub distinct_sessions: u64,
    pub distinct_source_ips: u64,
    pub first_seen: Micros,
    pub last_seen: Micros,
    pub sample_message: Option<String>,
}

type FailureKey = (
    Option<Text>,
    Option<Text>,
    Stage,
    &'static str,
    Option<Text>,
    Option<Text>,
    Option<Text>,
);

/// Groups the observed failures by account, region, stage, class, code, role
/// and provider; most failures first.
pub fn failures(events: &[FedEvent]) -> Vec<FailureRow> {
    struct Acc<'a> {
        failures: u64,
        sessions: BTreeSet<&'a str>,
        ips: BTreeSet<&'a str>,
        first: Micros,
        last: Micros,
        sample: Option<&'a str>,
    }
    let mut groups: BTreeMap<FailureKey, Acc> = BTreeMap::new();
    for e in events.iter().filter(|e| e.is_failure()) {
        let key = (
            e.account_id.clone(),
            e.region.clone(),
            e.stage,
            e.failure_class.unwrap_or("unclassified"),
            e.error_code.clone(),
            e.role_arn.clone(),
            e.provider_arn.clone(),
        );
        let acc = groups.entry(key).or_insert_with(|| Acc {
            failures: 0,
            sessions: BTreeSet::new(),
            ips: BTreeSet::new(),
            first: e.event_time,
            last: e.event_time,
            sample: e.error_message.as_deref(),
        });
        acc.failures += 1;
        acc.sessions.extend(e.session_name.as_deref());
        acc.ips.extend(e.source_ip.as_deref());
        acc.first = acc.first.min(e.event_time);
        acc.last = acc.last.max(e.event_time);
        if acc.sample.is_none() {
            acc.sample = e.error_message.as_deref();
        }
    }
    let mut rows: Vec<FailureRow> = groups
        .into_iter()
        .map(
            |(
                (account_id, region, stage, failure_class, error_code, role_arn, provider_arn),
                a,
            )| FailureRow {
                account_id: account_id.as_deref().map(str::to_owned),
                region: region.as_deref().map(str::to_owned),
                stage,
                failure_class,
                error_code: error_code.as_deref().map(str::to_owned),
                role_arn: role_arn.as_deref().map(str::to_owned),
                provider_arn: provider_arn.as_deref().map(str::to_owned),
                failures: a.failures,
                distinct_sessions: a.sessions.len() as u64,
                distinct_source_ips: a.ips.len() as u64,
                first_seen: a.first,
                last_seen: a.last,
                sample_message: a.sample.map(str::to_owned),
            },
        )
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.failures)); // stable: ties keep key order
    rows
}

/// What the tables and analyses read of a run's events, gathered in one
/// pass over them in time order: every failure, and counts of all events
/// per 5-minute bucket. Its size grows with the failures and the length of
/// the scanned period, not with the number of events.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Every failure, in time order.
    pub failures: Vec<FedEvent>,
    /// Events and failures per (bucket start, stage, class or `ok`).
    cells: BTreeMap<(Micros, Stage, &'static str), (u64, u64)>,
    /// The first and last event time of each stage.
    spans: BTreeMap<Stage, (Micros, Micros)>,
}

impl Observed {
    /// Takes the next event; events must come in time order (the failures
    /// are kept in the order they come).
    pub fn add(&mut self, e: &FedEvent) {
        self.count(e);
        if e.is_failure() {
            self.failures.push(e.clone());
        }
    }

    /// [`Observed::add`], keeping of a failure only what the analyses read
    /// (see [`for_analysis`]).
    pub fn add_for_analysis(&mut self, e: &FedEvent) {
        self.count(e);
        if e.is_failure() {
            let mut kept = e.clone();
            for_analysis(&mut kept);
            self.failures.push(kept);
        }
    }

    /// Counts `e` in its bucket and its stage's span.
    fn count(&mut self, e: &FedEvent) {
        let bucket = e.event_time.div_euclid(BUCKET) * BUCKET;
        let class = e.failure_class.unwrap_or("ok");
        let cell = self.cells.entry((bucket, e.stage, class)).or_default();
        cell.0 += 1;
        cell.1 += u64::from(e.is_failure());
        let span = self
            .spans
            .entry(e.stage)
            .or_insert((e.event_time, e.event_time));
        span.0 = span.0.min(e.event_time);
        span.1 = span.1.max(e.event_time);
    }

    /// [`Observed::add`] of each of `events` (in time order).
    pub fn of(events: &[FedEvent]) -> Observed {
        let mut seen = Observed::default();
        for e in events {
            seen.add(e);
        }
        seen
    }

    /// The first and last event time of a stage, if it has events.
    pub fn span(&self, stage: Stage) -> Option<(Micros, Micros)> {
        self.spans.get(&stage).copied()
    }

    /// Events of `stage` in the buckets that start in `from..to`.
    pub fn events_in(&self, stage: Stage, from: Micros, to: Micros) -> u64 {
        self.cells
            .range((from, Stage::Sts, "")..(to, Stage::Sts, ""))
            .filter(|((_, s, _), _)| *s == stage)
            .map(|(_, (n, _))| n)
            .sum()
    }

    /// The `timeline` table: events per bucket, stage and class, in time order.
    pub fn timeline(&self) -> Vec<TimelineRow> {
        self.cells
            .iter()
            .map(
                |(&(bucket_start, stage, failure_class), &(attempts, failures))| TimelineRow {
                    bucket_start,
                    stage,
                    failure_class,
                    attempts,
                    failures,
                },
            )
            .collect()
    }
}

/// The width of a timeline bucket.
pub const BUCKET: Micros = 5 * MICROS_PER_MINUTE;

/// A row of `timeline.parquet`: in one 5-minute bucket, the events of one
/// stage with one class (`ok` for successes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub bucket_start: Micros,
    pub stage: Stage,
    pub failure_class: &'static str,
    /// Events in this cell.
    pub attempts: u64,
    /// Failed events in this cell (0 for `ok` rows, `attempts` otherwise).
    pub failures: u64,
}

/// Counts events (in time order) per 5-minute bucket, stage and class.
pub fn timeline(events: &[FedEvent]) -> Vec<TimelineRow> {
    Observed::of(events).timeline()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use std::sync::Arc;

    #[test]
    fn sort_and_dedupe_orders_by_time_then_tie_keeping_first_ids() {
        let mut seed = 11u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 33) % n
        };
        for round in 0..50 {
            let len = round * 7;
            // (time, id, tie): ties are distinct, items arrive in any order.
            let mut items: Vec<(Micros, Option<String>, u64)> = (0..len)
                .map(|i| {
                    let id = (next(4) > 0).then(|| format!("e{}", next(len as u64 / 2 + 1)));
                    (next(20) as Micros, id, i as u64 * 3)
                })
                .collect();
            for i in (1..items.len()).rev() {
                items.swap(i, next(i as u64 + 1) as usize);
            }
            let mut want = items.clone();
            want.sort_by_key(|it| (it.0, it.2));
            let mut seen = HashSet::new();
            want.retain(|it| it.1.as_ref().is_none_or(|id| seen.insert(id.clone())));
            let ties: Vec<u64> = items.iter().map(|it| it.2).collect();
            let mut got = items;
            let dropped = sort_and_dedupe(&mut got, &ties, |it| (it.0, it.1.as_deref()));
            assert_eq!(got, want, "round {round}");
            assert_eq!(dropped as usize, len - want.len());
        }
    }

    fn event(time: Micros, id: &str, class: Option<&'static str>) -> FedEvent {
        FedEvent {
            event_time: time,
            event_id: Some(id.into()),
            outcome: if class.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            failure_class: class,
            session_name: Some(format!("user-{id}").into()),
            role_name: Some("Agents".into()),
            source_object: Arc::from("o"),
            ..FedEvent::default()
        }
    }

    fn output(key: &str, events: Vec<FedEvent>, changes: Vec<ConfigChange>) -> ObjectOutput {
        ObjectOutput {
            report: ObjectReport {
                source: Arc::from("s"),
                key: key.into(),
                bytes: 10,
                records: events.len() as u64,
                federation_records: events.len() as u64,
                change_records: 0,
                rejected_records: 0,
                status: ObjectStatus::Ok,
                reason: None,
            },
            counts: RecordCounts {
                records: events.len() as u64,
                federation_events: events.len() as u64,
                ..Default::default()
            },
            events,
            changes,
            inflated_bytes: 100,
        }
    }

    fn change(name: &str, role: &str) -> ConfigChange {
        ConfigChange {
            event_id: Some(format!("{name}-{role}")),
            event_name: name.into(),
            target: Some(role.into()),
            target_type: "role",
            ..ConfigChange::default()
        }
    }

    #[test]
    fn merge_sorts_dedupes_and_filters_role_changes() {
        let a = output(
            "b",
            vec![
                event(30, "x", None),
                event(10, "y", Some("signature_invalid")),
            ],
            vec![],
        );
        let b = output(
            "a",
            vec![event(30, "x", None)],
            vec![
                change("AttachRolePolicy", "Agents"),
                change("PutRolePolicy", "Unrelated"),
                change("UpdateAssumeRolePolicy", "Unrelated"),
            ],
        );
        let (m, events) = merge(vec![a, b]);
        let ids: Vec<_> = events
            .iter()
            .map(|e| e.event_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["y", "x"]);
        assert_eq!(m.counts.duplicate_events, 1);
        assert_eq!(m.counts.unrelated_role_changes, 1);
        let kept: Vec<_> = m.changes.iter().map(|c| c.event_name.as_str()).collect();
        assert_eq!(kept, ["AttachRolePolicy", "UpdateAssumeRolePolicy"]);
        assert_eq!(
            (
                m.counts.objects_read,
                m.counts.events_written,
                m.counts.failures_observed
            ),
            (2, 2, 1)
        );
        assert_eq!(m.observed.failures.len(), 1);
        assert_eq!(m.observed.failures[0].event_id.as_deref(), Some("y"));
    }

    #[test]
    fn gathering_as_objects_finish_gives_the_same_merge() {
        let outputs = || {
            vec![
                output(
                    "c",
                    vec![event(20, "z", None), event(10, "w", None)],
                    vec![],
                ),
                output(
                    "a",
                    vec![event(10, "x", None), event(20, "z", Some("sts_other"))],
                    vec![change("AttachRolePolicy", "Agents")],
                ),
                output("b", vec![event(10, "y", None)], vec![]),
            ]
        };
        let (want, want_events) = merge(outputs());
        // Finished in the order c, a, b; ranked by key.
        let mut gathered = Gathered::default();
        for (out, rank) in outputs().into_iter().zip([2, 0, 1]) {
            gathered.take(rank, out);
        }
        let mut got_events = Vec::new();
        let got = merge_gathered(gathered, |e| {
            got_events.push(e);
            Ok(())
        })
        .unwrap();
        let ids = |events: &[FedEvent]| -> Vec<String> {
            events
                .iter()
                .map(|e| e.event_id.as_deref().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&want_events), ["x", "y", "w", "z"]);
        assert_eq!(ids(&got_events), ids(&want_events));
        assert_eq!(
            got_events[3].failure_class,
            Some("sts_other"),
            "a's z, not c's"
        );
        assert_eq!(got.observed.timeline(), want.observed.timeline());
        assert_eq!(got.changes, want.changes);
        assert_eq!(got.counts, want.counts);
    }

    #[test]
    fn events_of_many_objects_come_out_in_time_then_object_order() {
        // Three objects of 5,000 events each, finished in the order c, a,
        // b; times repeat, so ties decide.
        let events_of = |key: &str| {
            (0..5000)
                .map(|i| event(i % 97, &format!("{key}{i}"), None))
                .collect::<Vec<_>>()
        };
        // Spilled to disk in runs of 1,000 events.
        let dir = tempfile::tempdir().unwrap();
        let mut gathered = Gathered::new(Spill::to_disk(dir.path(), 1_000));
        for (key, rank) in [("c", 2), ("a", 0), ("b", 1)] {
            gathered.take(rank, output(key, events_of(key), vec![]));
        }
        let mut written = Vec::new();
        let got = merge_gathered(gathered, |e| {
            written.push(e);
            Ok(())
        })
        .unwrap();
        let mut want: Vec<(Micros, u32, usize)> = (0..3)
            .flat_map(|rank| (0..5000).map(move |i| ((i % 97) as Micros, rank, i)))
            .collect();
        want.sort();
        let want: Vec<String> = want
            .iter()
            .map(|&(_, rank, i)| format!("{}{i}", ["a", "b", "c"][rank as usize]))
            .collect();
        assert_eq!(got.counts.events_written, 15_000);
        // The events table gets every field of each event.
        let written_ids: Vec<&str> = written
            .iter()
            .map(|e| e.event_id.as_deref().unwrap())
            .collect();
        assert_eq!(written_ids, want);
        assert!(written.iter().all(|e| &*e.source_object == "o"));
    }

    #[test]
    fn failures_and_timeline_count_what_they_say() {
        let events = vec![
            event(0, "1", Some("signature_invalid")),
            event(BUCKET - 1, "2", Some("signature_invalid")),
            event(BUCKET, "3", None),
            event(BUCKET + 1, "4", Some("assertion_expired")),
        ];
        let f = failures(&events);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].failure_class, f[0].failures, f[0].distinct_sessions),
            ("signature_invalid", 2, 2)
        );
        assert_eq!((f[0].first_seen, f[0].last_seen), (0, BUCKET - 1));
        let t = timeline(&events);
        let cells: Vec<_> = t
            .iter()
            .map(|r| (r.bucket_start, r.failure_class, r.attempts, r.failures))
            .collect();
        assert_eq!(
            cells,
            [
                (0, "signature_invalid", 2, 2),
                (BUCKET, "assertion_expired", 1, 1),
                (BUCKET, "ok", 1, 0)
            ]
        );
    }

    #[test]
    fn observed_keeps_failures_and_counts_events_per_stage_and_bucket() {
        let mut events = vec![
            event(0, "1", Some("signature_invalid")),
            event(BUCKET - 1, "2", None),
            event(BUCKET, "3", None),
            event(3 * BUCKET + 7, "4", Some("assertion_expired")),
        ];
        events.push(FedEvent {
            stage: Stage::Connect,
            ..event(2 * BUCKET, "5", None)
        });
        events.sort_by_key(|e| e.event_time);
        let seen = Observed::of(&events);
        let failed: Vec<_> = seen
            .failures
            .iter()
            .map(|e| e.event_id.as_deref())
            .collect();
        assert_eq!(failed, [Some("1"), Some("4")]);
        assert_eq!(seen.span(Stage::Sts), Some((0, 3 * BUCKET + 7)));
        assert_eq!(seen.span(Stage::Connect), Some((2 * BUCKET, 2 * BUCKET)));
        assert_eq!(seen.span(Stage::Signin), None);
        // Buckets starting in [from, to).
        assert_eq!(seen.events_in(Stage::Sts, 0, BUCKET), 2);
        assert_eq!(seen.events_in(Stage::Sts, 0, 4 * BUCKET), 4);
        assert_eq!(seen.events_in(Stage::Sts, BUCKET, 3 * BUCKET), 1);
        assert_eq!(seen.events_in(Stage::Connect, 0, 4 * BUCKET), 1);
        assert_eq!(seen.timeline(), timeline(&events));
    }
}
