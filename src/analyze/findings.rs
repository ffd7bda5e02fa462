//! Findings: the cross-event patterns of TAXONOMY.md ("Findings across
//! events"), each with its evidence. One detector per finding id; every
//! detector is a plain function of the run's failures, of the [`Facts`] a
//! pass over all its events gathered, and of its changes. The facts hold
//! counts, distinct names and evidence, not the events themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::incidents::{improbable, IncidentParams, MIN_BUCKET_FAILURES, RECOVERY_SLACK};
use super::link::{suspected_cause, Failing};
use super::{human_duration, rank, short_name, who, LinkedChange};
use crate::aggregate::BUCKET;
use crate::model::{ConfigChange, FedEvent, Micros, Outcome, Stage, Text};
use crate::time::{format_micros, MICROS_PER_HOUR};

/// How many evidence event ids a finding lists.
pub const EVIDENCE_IDS: usize = 20;
/// Failures further apart than this belong to separate bursts (certificate
/// rotation, regional concentration).
pub const BURST_GAP: Micros = 2 * MICROS_PER_HOUR;
/// Fewest evidence events for the name-format and endpoint findings.
const MIN_EVIDENCE: usize = 3;

/// A row of `findings.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The finding id of TAXONOMY.md, e.g. `certificate_rotation`.
    pub finding: &'static str,
    /// `high` (sign-ins are failing because of it), `medium` or `info`.
    pub severity: &'static str,
    /// What it is about: a provider, role and region, Connect instance, account.
    pub subject: String,
    pub account_id: Option<String>,
    /// The most common failure class among the evidence (none when no
    /// evidence event failed).
    pub failure_class: Option<&'static str>,
    pub evidence_count: u64,
    pub first_seen: Micros,
    pub last_seen: Micros,
    /// One line for people.
    pub detail: String,
    pub related_change: Option<LinkedChange>,
    /// Certificate rotation: from the first failure to the fixing update.
    pub time_to_recovery: Option<Micros>,
    /// The first evidence events' ids (at most [`EVIDENCE_IDS`]).
    pub evidence_event_ids: Vec<String>,
}

/// Every finding of the run, most severe first, then by time; `events`
/// and `changes` sorted by time.
pub fn findings(
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let failures: Vec<FedEvent> = events.iter().filter(|e| e.is_failure()).cloned().collect();
    findings_of(&failures, &Facts::of(events, changes), changes, params)
}

/// [`findings`] from the run's failures (in time order) and the [`Facts`]
/// of all its events.
pub fn findings_of(
    failures: &[FedEvent],
    facts: &Facts,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(certificate_rotation(failures, facts, changes, params));
    out.extend(regional_concentration(failures, facts, changes, params));
    out.extend(case_drift(failures, facts, changes, params));
    out.extend(format_mismatch(failures, facts));
    out.extend(whitespace(facts));
    out.extend(endpoint_audience_mismatch(failures, facts));
    let rank = |s: &str| match s {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        (rank(a.severity), a.first_seen, a.finding, &a.subject).cmp(&(
            rank(b.severity),
            b.first_seen,
            b.finding,
            &b.subject,
        ))
    });
    out
}

/// What a finding says of its evidence events, gathered one event at a
/// time in time order: how many, when, the first ids, the classes.
#[derive(Debug, Clone, Default)]
struct Evidence {
    count: u64,
    /// The first event's place in the run and its account.
    first_seq: u64,
    account: Option<Text>,
    first: Micros,
    last: Micros,
    /// The first [`EVIDENCE_IDS`] ids, with each event's place in the run.
    ids: Vec<(u64, Text)>,
    classes: BTreeMap<&'static str, usize>,
}

impl Evidence {
    /// Takes the event at place `seq` of the run.
    fn add(&mut self, seq: u64, e: &FedEvent) {
        if self.count == 0 {
            self.first_seq = seq;
            self.account = e.account_id.clone();
            (self.first, self.last) = (e.event_time, e.event_time);
        }
        self.count += 1;
        self.first = self.first.min(e.event_time);
        self.last = self.last.max(e.event_time);
        if self.ids.len() < EVIDENCE_IDS {
            if let Some(id) = &e.event_id {
                self.ids.push((seq, id.clone()));
            }
        }
        if let Some(c) = e.failure_class {
            *self.classes.entry(c).or_default() += 1;
        }
    }

    /// The evidence of events sorted by time.
    fn of(events: &[&FedEvent]) -> Evidence {
        let mut evidence = Evidence::default();
        for (seq, e) in events.iter().enumerate() {
            evidence.add(seq as u64, e);
        }
        evidence
    }

    /// The evidence of the events of all `parts` together.
    fn join<'a>(parts: impl Iterator<Item = &'a Evidence>) -> Evidence {
        let mut all = Evidence::default();
        for p in parts.filter(|p| p.count > 0) {
            if all.count == 0 || p.first_seq < all.first_seq {
                all.first_seq = p.first_seq;
                all.account = p.account.clone();
            }
            if all.count == 0 {
                (all.first, all.last) = (p.first, p.last);
            }
            all.count += p.count;
            all.first = all.first.min(p.first);
            all.last = all.last.max(p.last);
            all.ids.extend(p.ids.iter().cloned());
            for (c, n) in &p.classes {
                *all.classes.entry(c).or_default() += n;
            }
        }
        all.ids.sort_by_key(|(seq, _)| *seq);
        all.ids.truncate(EVIDENCE_IDS);
        all
    }

    /// The most common failure class (ties: the first by name).
    fn dominant_class(&self) -> Option<&'static str> {
        self.classes
            .iter()
            .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
            .map(|(c, _)| *c)
    }
}

/// Builds a finding from its evidence events (sorted by time, not empty).
fn finding(
    id: &'static str,
    severity: &'static str,
    subject: String,
    evidence: &[&FedEvent],
    detail: String,
) -> Finding {
    finding_of(id, severity, subject, &Evidence::of(evidence), detail)
}

/// Builds a finding from its evidence (of at least one event).
fn finding_of(
    id: &'static str,
    severity: &'static str,
    subject: String,
    evidence: &Evidence,
    detail: String,
) -> Finding {
    Finding {
        finding: id,
        severity,
        subject,
        account_id: evidence.account.as_deref().map(str::to_owned),
        failure_class: evidence.dominant_class(),
        evidence_count: evidence.count,
        first_seen: evidence.first,
        last_seen: evidence.last,
        detail,
        related_change: None,
        time_to_recovery: None,
        evidence_event_ids: evidence.ids.iter().map(|(_, id)| id.to_string()).collect(),
    }
}

fn dominant_class(events: &[&FedEvent]) -> Option<&'static str> {
    Evidence::of(events).dominant_class()
}

/// A role's sign-ins by region: (all, successful).
type RegionCounts = BTreeMap<Option<Text>, (u64, u64)>;

fn count_in(counts: &mut RegionCounts, region: &Option<Text>, ok: bool) {
    let c = counts.entry(region.clone()).or_default();
    c.0 += 1;
    c.1 += u64::from(ok);
}

/// One burst of a role's failures in one region (failures at most
/// [`BURST_GAP`] apart), with the role's sign-ins in every region counted
/// from its first failure to its last: what regional concentration reads.
#[derive(Debug, Clone, Default)]
struct Window {
    first: Micros,
    last: Micros,
    /// Sign-ins from `first` to `last`, both included.
    within: RegionCounts,
    /// Sign-ins after `last`: within the burst if a later failure extends it.
    after: RegionCounts,
}

/// A role's bursts, counted as its sign-ins arrive in time order, so that
/// no sign-in is kept.
#[derive(Debug, Clone, Default)]
struct RoleWindows {
    /// The time of the role's latest sign-in, and the region and outcome
    /// of each of its sign-ins at that time (a burst that starts at that
    /// time counts them).
    now: Micros,
    at_now: Vec<(Option<Text>, bool)>,
    /// Region -> the burst there that a later failure may still extend.
    open: BTreeMap<Text, Window>,
    /// Bursts no later failure can extend: (region, window).
    closed: Vec<(Text, Window)>,
}

impl RoleWindows {
    /// Takes the role's next sign-in; `burst_region` is its region when it
    /// is a failure that belongs to a burst.
    fn add(&mut self, t: Micros, region: &Option<Text>, ok: bool, burst_region: Option<&Text>) {
        if t != self.now {
            self.now = t;
            self.at_now.clear();
        }
        let done: Vec<Text> = self
            .open
            .iter()
            .filter(|(_, w)| t - w.last > BURST_GAP)
            .map(|(r, _)| r.clone())
            .collect();
        for r in done {
            let w = self.open.remove(&r).expect("listed above");
            self.closed.push((r, w));
        }
        if let Some(r) = burst_region {
            match self.open.get_mut(r) {
                Some(w) => {
                    for (region, (n, k)) in std::mem::take(&mut w.after) {
                        let c = w.within.entry(region).or_default();
                        c.0 += n;
                        c.1 += k;
                    }
                    w.last = t;
                }
                None => {
                    let mut within = RegionCounts::new();
                    for (region, ok) in &self.at_now {
                        count_in(&mut within, region, *ok);
                    }
                    let w = Window {
                        first: t,
                        last: t,
                        within,
                        after: RegionCounts::new(),
                    };
                    self.open.insert(r.clone(), w);
                }
            }
        }
        for w in self.open.values_mut() {
            let counts = if t <= w.last {
                &mut w.within
            } else {
                &mut w.after
            };
            count_in(counts, region, ok);
        }
        self.at_now.push((region.clone(), ok));
    }

    /// The sign-ins of the burst in `region` that began at `first`.
    fn window(&self, region: &str, first: Micros) -> Option<&RegionCounts> {
        let open = self.open.get(region).filter(|w| w.first == first);
        let closed = || {
            self.closed
                .iter()
                .find(|(r, w)| &**r == region && w.first == first)
                .map(|(_, w)| w)
        };
        open.or_else(closed).map(|w| &w.within)
    }
}

/// A session name's events (any outcome), for case drift.
#[derive(Debug, Clone, Default)]
struct Named {
    /// Whether a sign-in (not a configuration event) used the name.
    signed_in: bool,
    evidence: Evidence,
}

/// What the findings read of a run's events besides the failures, gathered
/// in one pass over the events in time order ([`Facts::add`]).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Events taken so far: the next event's place in the run.
    seq: u64,
    /// The first and last event time.
    span: Option<(Micros, Micros)>,
    /// The times of the successful provider metadata writes (sorted,
    /// distinct), and per provider the successful events between them:
    /// `[k]` counts those after write `k - 1` and at or before write `k`.
    writes: Vec<Micros>,
    successes_between_writes: BTreeMap<Text, Vec<u64>>,
    /// Account -> role -> its bursts of failures by region, and its
    /// sign-ins counted over each.
    role_windows: BTreeMap<Text, BTreeMap<Text, RoleWindows>>,
    /// (account, session name) -> its events. Hashed, not ordered: one
    /// lookup an event, where a tree compared text at each level (its
    /// uses do not depend on its order).
    names: HashMap<(Text, Text), Named, rustc_hash::FxBuildHasher>,
    /// Account -> the session names of successful Connect sign-ins.
    connect_ok: BTreeMap<Text, BTreeSet<Text>>,
    /// Account (or `(unknown)`) -> events with a padded name or ARN, and
    /// the first padded value.
    padded: BTreeMap<Text, (Evidence, Text)>,
    /// Provider -> STS endpoint type -> successful sign-ins.
    endpoint_ok: BTreeMap<Text, BTreeMap<Text, u64>>,
}

impl Facts {
    /// Facts to gather for a run with these changes (sorted by time).
    pub fn new(changes: &[ConfigChange]) -> Facts {
        let mut writes: Vec<Micros> = changes
            .iter()
            .filter(|c| is_provider_write(c) && c.outcome == Outcome::Success)
            .map(|c| c.event_time)
            .collect();
        writes.sort_unstable();
        writes.dedup();
        Facts {
            writes,
            ..Facts::default()
        }
    }

    /// The facts of `events` (sorted by time).
    pub fn of(events: &[FedEvent], changes: &[ConfigChange]) -> Facts {
        let mut facts = Facts::new(changes);
        for e in events {
            facts.add(e);
        }
        facts
    }

    /// Takes the next event of the run (in time order).
    pub fn add(&mut self, e: &FedEvent) {
        let seq = self.seq;
        self.seq += 1;
        let t = e.event_time;
        self.span = Some(self.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        let ok = e.outcome == Outcome::Success;
        if let (true, Some(p)) = (ok, &e.provider_arn) {
            let k = self.writes.partition_point(|w| *w < t);
            let counts = self
                .successes_between_writes
                .entry(p.clone())
                .or_insert_with(|| vec![0; self.writes.len() + 1]);
            counts[k] += 1;
        }
        let signs_in = e.stage != Stage::Config;
        if let (true, Some(a), Some(r)) = (signs_in, &e.account_id, &e.role_arn) {
            let failed = e.is_failure();
            self.role_windows
                .entry(a.clone())
                .or_default()
                .entry(r.clone())
                .or_default()
                .add(t, &e.region, !failed, e.region.as_ref().filter(|_| failed));
        }
        if let (Some(a), Some(s)) = (&e.account_id, &e.session_name) {
            let named = self.names.entry((a.clone(), s.clone())).or_default();
            named.signed_in |= signs_in;
            named.evidence.add(seq, e);
            if e.stage == Stage::Connect && !e.is_failure() {
                self.connect_ok
                    .entry(a.clone())
                    .or_default()
                    .insert(s.clone());
            }
        }
        let value = [&e.session_name, &e.role_arn, &e.provider_arn]
            .into_iter()
            .find_map(|v| v.as_ref().filter(|s| padded(Some(s))));
        if let Some(value) = value {
            let account = e.account_id.clone().unwrap_or_else(|| "(unknown)".into());
            let (evidence, _) = self
                .padded
                .entry(account)
                .or_insert_with(|| (Evidence::default(), value.clone()));
            evidence.add(seq, e);
        }
        if let (Stage::Sts, None, Some(p), Some(ep)) =
            (e.stage, e.failure_class, &e.provider_arn, &e.endpoint_type)
        {
            *self
                .endpoint_ok
                .entry(p.clone())
                .or_default()
                .entry(ep.clone())
                .or_default() += 1;
        }
    }

    /// Successful events through `provider` after `write`, the time of a
    /// successful provider metadata write.
    fn successes_after(&self, provider: &str, write: Micros) -> u64 {
        let j = self.writes.partition_point(|w| *w < write);
        debug_assert_eq!(self.writes.get(j), Some(&write), "a write the facts know");
        self.successes_between_writes
            .get(provider)
            .map_or(0, |counts| counts.iter().skip(j + 1).sum())
    }
}

fn failing<'a>(class: &'a str, evidence: &[&'a FedEvent]) -> Failing<'a> {
    Failing {
        class,
        accounts: evidence
            .iter()
            .filter_map(|e| e.account_id.as_deref())
            .collect(),
        providers: evidence
            .iter()
            .filter_map(|e| e.provider_arn.as_deref())
            .collect(),
        roles: evidence
            .iter()
            .filter_map(|e| e.role_arn.as_deref())
            .collect(),
        people: evidence.iter().filter_map(|e| who(e)).collect(),
        start: evidence.first().map_or(0, |e| e.event_time),
        end: evidence.last().map_or(0, |e| e.event_time),
    }
}

/// Splits time-sorted events into bursts separated by more than `gap`.
fn bursts<'a>(events: &[&'a FedEvent], gap: Micros) -> Vec<Vec<&'a FedEvent>> {
    let mut out: Vec<Vec<&FedEvent>> = Vec::new();
    for e in events {
        match out.last_mut() {
            Some(b) if e.event_time - b[b.len() - 1].event_time <= gap => b.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

/// Whether `inside` failures within `inside_span` are a burst rather than
/// the background: at least `factor` times, and improbably more than, the
/// rate of the other `total - inside` failures over the rest of `span`
/// predicts (the test incidents use, in 5-minute buckets).
fn unusual(
    inside: u64,
    inside_span: Micros,
    total: u64,
    span: Micros,
    params: &IncidentParams,
) -> bool {
    let buckets = |t: Micros| (t / BUCKET + 1) as f64;
    let (len, all) = (buckets(inside_span), buckets(span));
    let rate = if all > len {
        (total - inside) as f64 / (all - len)
    } else {
        0.0
    };
    let expected = rate * len;
    improbable(inside, expected, params.factor)
}

fn is_provider_write(c: &ConfigChange) -> bool {
    matches!(
        c.event_name.as_str(),
        "UpdateSAMLProvider" | "CreateSAMLProvider"
    )
}

/// `certificate_rotation`: a burst of `signature_invalid` for one provider
/// (several in some 5-minute bucket, and well above that provider's
/// background of such failures), when it started, and whether and when an
/// `UpdateSAMLProvider` ended it.
fn certificate_rotation(
    failures: &[FedEvent],
    facts: &Facts,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let mut by_provider: BTreeMap<&str, Vec<&FedEvent>> = BTreeMap::new();
    for e in failures {
        if e.failure_class == Some("signature_invalid") {
            if let Some(p) = e.provider_arn.as_deref() {
                by_provider.entry(p).or_default().push(e);
            }
        }
    }
    let span = facts.span.map_or(0, |(first, last)| last - first);
    let mut out = Vec::new();
    for (provider, failures) in by_provider {
        let name = short_name(provider);
        for burst in bursts(&failures, BURST_GAP) {
            let burst_span = burst[burst.len() - 1].event_time - burst[0].event_time;
            let peak = burst
                .chunk_by(|a, b| a.event_time / BUCKET == b.event_time / BUCKET)
                .map(<[_]>::len)
                .max()
                .unwrap_or(0) as u64;
            let n = burst.len() as u64;
            if n < params.min_failures
                || peak < MIN_BUCKET_FAILURES
                || !unusual(n, burst_span, failures.len() as u64, span, params)
            {
                continue;
            }
            let (first, last) = (burst[0].event_time, burst[burst.len() - 1].event_time);
            let writes: Vec<&ConfigChange> = changes
                .iter()
                .filter(|c| is_provider_write(c) && c.event_time >= first)
                .filter(|c| {
                    c.target
                        .as_deref()
                        .is_some_and(|t| t == provider || short_name(t) == name)
                })
                .collect();
            let fix = writes
                .iter()
                .find(|c| c.outcome == Outcome::Success && c.event_time >= last - RECOVERY_SLACK);
            let rejected = writes
                .iter()
                .filter(|c| {
                    c.outcome == Outcome::Failure && fix.is_none_or(|f| c.event_time < f.event_time)
                })
                .count();
            let people: BTreeSet<&str> = burst.iter().filter_map(|e| who(e)).collect();
            let mut detail = format!(
                "{} signature_invalid failures ({} people) through {name} from {} to {}",
                burst.len(),
                people.len(),
                format_micros(first),
                format_micros(last)
            );
            let mut f = finding(
                "certificate_rotation",
                "high",
                format!("provider {name}"),
                &burst,
                String::new(),
            );
            match fix {
                Some(c) => {
                    let ttr = c.event_time - first;
                    let after = facts.successes_after(provider, c.event_time);
                    detail.push_str(&format!(
                        "; {} at {} ended it: {} to recovery ({after} successful sign-ins through {name} after it)",
                        c.event_name,
                        format_micros(c.event_time),
                        human_duration(ttr)
                    ));
                    f.time_to_recovery = Some(ttr);
                    f.related_change = Some(LinkedChange {
                        event_id: c.event_id.clone(),
                        event_name: c.event_name.clone(),
                        event_time: c.event_time,
                        account_id: c.account_id.clone(),
                        target: c.target.clone(),
                        reason: format!(
                            "{} of {name} after the failures began: new metadata with the IdP's current certificate",
                            c.event_name
                        ),
                    });
                }
                None => detail.push_str(&format!(
                    "; no successful UpdateSAMLProvider for {name} followed: upload the IdP's current metadata"
                )),
            }
            if rejected > 0 {
                detail.push_str(&format!(
                    "; {rejected} metadata upload(s) before that were rejected (see changes)"
                ));
            }
            f.detail = detail;
            out.push(f);
        }
    }
    out
}

/// `regional_concentration`: a role failing in one region while it succeeds
/// in others over the same stretch of time.
fn regional_concentration(
    failures: &[FedEvent],
    facts: &Facts,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    // (account, role) -> region -> failures
    type ByRegion<'a> = BTreeMap<&'a str, Vec<&'a FedEvent>>;
    let mut by_role: BTreeMap<(&str, &str), ByRegion> = BTreeMap::new();
    for e in failures.iter().filter(|e| e.stage != Stage::Config) {
        if let (Some(account), Some(role), Some(region)) = (
            e.account_id.as_deref(),
            e.role_arn.as_deref(),
            e.region.as_deref(),
        ) {
            by_role
                .entry((account, role))
                .or_default()
                .entry(region)
                .or_default()
                .push(e);
        }
    }
    let mut out = Vec::new();
    for ((account, role), failed_in) in by_role {
        let windows = facts
            .role_windows
            .get(account)
            .and_then(|roles| roles.get(role));
        let bursts = failed_in
            .into_iter()
            .flat_map(|(region, f)| bursts(&f, BURST_GAP).into_iter().map(move |b| (region, b)));
        for (region, failures) in bursts {
            if (failures.len() as u64) < params.min_failures {
                continue;
            }
            let (first, last) = (
                failures[0].event_time,
                failures[failures.len() - 1].event_time,
            );
            let empty = RegionCounts::new();
            let counts = windows
                .and_then(|w| w.window(region, first))
                .unwrap_or(&empty);
            debug_assert!(!counts.is_empty(), "every burst has its window");
            let (mut here, mut elsewhere, mut ok_elsewhere) = (0, 0, 0);
            let mut ok_by_region: BTreeMap<&str, u64> = BTreeMap::new();
            for (r, (n, ok)) in counts {
                if r.as_deref() == Some(region) {
                    here += n;
                    continue;
                }
                elsewhere += n;
                ok_elsewhere += ok;
                if let (Some(r), 1..) = (r.as_deref(), *ok) {
                    ok_by_region.insert(r, *ok);
                }
            }
            let rate_here = failures.len() as f64 / here as f64;
            let rate_elsewhere = if elsewhere == 0 {
                1.0
            } else {
                (elsewhere - ok_elsewhere) as f64 / elsewhere as f64
            };
            if rate_here < 0.5 || ok_elsewhere == 0 || rate_elsewhere > 0.1 {
                continue;
            }
            let class = dominant_class(&failures).unwrap_or("sts_other");
            let others = rank(ok_by_region);
            let others: Vec<&str> = others.iter().map(|(r, _)| r.as_str()).collect();
            let name = short_name(role);
            let mut f = finding(
                "regional_concentration",
                "high",
                format!("role {name} in {region}"),
                &failures,
                format!(
                    "{name} failed {} of {here} times in {region} ({class}) from {} to {}, while it succeeded {ok_elsewhere} of {} times in {}",
                    failures.len(),
                    format_micros(first),
                    format_micros(last),
                    elsewhere,
                    others.join(", ")
                ),
            );
            f.related_change =
                suspected_cause(changes, &failing(class, &failures), params.lookback);
            out.push(f);
        }
    }
    out
}

/// `session_name_case_drift`: one name in more than one spelling, in
/// particular a Connect "not onboarded" name that succeeds in another case.
fn case_drift(
    failures: &[FedEvent],
    facts: &Facts,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    // account -> lower-cased name -> spellings
    let mut names: BTreeMap<&str, BTreeMap<String, BTreeSet<&str>>> = BTreeMap::new();
    let signed_in = facts.names.iter().filter(|(_, n)| n.signed_in);
    for ((a, s), _) in signed_in {
        names
            .entry(a)
            .or_default()
            .entry(s.to_lowercase())
            .or_default()
            .insert(s);
    }
    let mut out = Vec::new();
    for (account, by_lower) in names {
        let drifted: BTreeMap<&String, &BTreeSet<&str>> =
            by_lower.iter().filter(|(_, s)| s.len() > 1).collect();
        if drifted.is_empty() {
            continue;
        }
        let connect_ok: BTreeSet<&str> = facts
            .connect_ok
            .get(account)
            .map(|names| names.iter().map(Text::as_str).collect())
            .unwrap_or_default();
        let in_drift = |e: &FedEvent| {
            e.account_id.as_deref() == Some(account)
                && e.session_name
                    .as_deref()
                    .is_some_and(|s| drifted.contains_key(&s.to_lowercase()))
        };
        let failed: Vec<&FedEvent> = failures.iter().filter(|e| in_drift(e)).collect();
        let not_onboarded: Vec<&FedEvent> = failed
            .iter()
            .copied()
            .filter(|e| e.failure_class == Some("connect_user_not_onboarded"))
            .filter(|e| {
                let s = e.session_name.as_deref().unwrap_or("");
                connect_ok
                    .iter()
                    .any(|ok| *ok != s && ok.eq_ignore_ascii_case(s))
            })
            .collect();
        // Without failures, the evidence is every event of the drifted names.
        let evidence = if failed.is_empty() {
            Evidence::join(
                facts
                    .names
                    .iter()
                    .filter(|((a, s), _)| {
                        a.as_str() == account && drifted.contains_key(&s.to_lowercase())
                    })
                    .map(|(_, n)| &n.evidence),
            )
        } else {
            Evidence::of(&failed)
        };
        let examples: Vec<String> = drifted
            .values()
            .take(3)
            .map(|s| s.iter().copied().collect::<Vec<_>>().join(" / "))
            .collect();
        let mut detail = format!(
            "{} session name(s) appear in more than one case ({})",
            drifted.len(),
            examples.join(", ")
        );
        let severity = if !not_onboarded.is_empty() {
            detail.push_str(&format!(
                "; {} Connect UserNotFoundException failures use a name that succeeds in another case: Connect usernames are case-sensitive",
                not_onboarded.len()
            ));
            "high"
        } else if !failed.is_empty() {
            "medium"
        } else {
            "info"
        };
        let instance = not_onboarded
            .iter()
            .find_map(|e| e.connect_instance_id.as_deref());
        let subject = match instance {
            Some(i) => format!("Connect instance {i}"),
            None => format!("account {account}"),
        };
        let mut f = finding_of(
            "session_name_case_drift",
            severity,
            subject,
            &evidence,
            detail,
        );
        if !not_onboarded.is_empty() {
            let people = failing("connect_user_not_onboarded", &not_onboarded);
            f.related_change = suspected_cause(changes, &people, params.lookback);
        }
        out.push(f);
    }
    out
}

fn looks_like_email(name: &str) -> bool {
    name.split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
}

/// `session_name_format_mismatch`: Connect "not onboarded" names that look
/// like e-mail addresses while the names that succeed do not, or the reverse.
fn format_mismatch<'a>(failures: &'a [FedEvent], facts: &'a Facts) -> Vec<Finding> {
    let mut by_account: BTreeMap<&str, Vec<&FedEvent>> = BTreeMap::new();
    for e in failures.iter().filter(|e| e.stage == Stage::Connect) {
        let (Some(a), Some(_)) = (e.account_id.as_deref(), e.session_name.as_deref()) else {
            continue;
        };
        if e.failure_class == Some("connect_user_not_onboarded") {
            by_account.entry(a).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (account, failed) in by_account {
        let ok: BTreeSet<&str> = facts
            .connect_ok
            .get(account)
            .map(|names| names.iter().map(Text::as_str).collect())
            .unwrap_or_default();
        let failing_names: BTreeSet<&str> = failed
            .iter()
            .filter_map(|e| e.session_name.as_deref())
            .collect();
        if failing_names.len() < MIN_EVIDENCE || ok.len() < MIN_EVIDENCE {
            continue;
        }
        let share = |names: &BTreeSet<&str>| {
            names.iter().filter(|n| looks_like_email(n)).count() as f64 / names.len() as f64
        };
        let (f_mail, ok_mail) = (share(&failing_names), share(&ok));
        let (failing_form, ok_form) =
            match (f_mail >= 0.8, ok_mail <= 0.2, f_mail <= 0.2, ok_mail >= 0.8) {
                (true, true, _, _) => ("e-mail addresses", "plain usernames"),
                (_, _, true, true) => ("plain usernames", "e-mail addresses"),
                _ => continue,
            };
        let example =
            |names: &BTreeSet<&'a str>| -> &'a str { names.iter().next().copied().unwrap_or("") };
        let detail = format!(
            "{} names failing with UserNotFoundException are {failing_form} (e.g. {}) while the {} names that succeed are {ok_form} (e.g. {}): the IdP sends a different attribute than the Connect username",
            failing_names.len(),
            example(&failing_names),
            ok.len(),
            example(&ok)
        );
        out.push(finding(
            "session_name_format_mismatch",
            "high",
            format!("account {account}"),
            &failed,
            detail,
        ));
    }
    out
}

fn padded(s: Option<&str>) -> bool {
    s.is_some_and(|s| s.trim() != s)
}

/// `session_name_whitespace`: names or role attributes with leading or
/// trailing whitespace.
fn whitespace(facts: &Facts) -> Vec<Finding> {
    facts
        .padded
        .values()
        .map(|(evidence, example)| {
            let failures: usize = evidence.classes.values().sum();
            finding_of(
                "session_name_whitespace",
                if failures > 0 { "high" } else { "medium" },
                format!(
                    "account {}",
                    evidence.account.as_deref().unwrap_or("(unknown)")
                ),
                evidence,
                format!(
                    "{} events ({failures} failed) carry a session name or role attribute with leading or trailing whitespace, e.g. {:?}: trim it in the IdP's attribute mapping",
                    evidence.count,
                    example.as_str()
                ),
            )
        })
        .collect()
}

/// `endpoint_audience_mismatch`: audience or trust-policy failures on one
/// STS endpoint type (regional or global) while the other one succeeds for
/// the same provider.
fn endpoint_audience_mismatch(failures: &[FedEvent], facts: &Facts) -> Vec<Finding> {
    type PerEndpoint<'a> = BTreeMap<&'a str, (Vec<&'a FedEvent>, u64)>;
    let mut by_provider: BTreeMap<&str, PerEndpoint> = BTreeMap::new();
    for e in failures.iter().filter(|e| e.stage == Stage::Sts) {
        let (Some(p), Some(ep)) = (e.provider_arn.as_deref(), e.endpoint_type.as_deref()) else {
            continue;
        };
        if let Some("audience_mismatch" | "trust_policy_denied") = e.failure_class {
            by_provider
                .entry(p)
                .or_default()
                .entry(ep)
                .or_default()
                .0
                .push(e);
        }
    }
    for (p, per_endpoint) in &facts.endpoint_ok {
        for (ep, ok) in per_endpoint {
            by_provider.entry(p).or_default().entry(ep).or_default().1 = *ok;
        }
    }
    let mut out = Vec::new();
    for (provider, per_endpoint) in by_provider {
        for (endpoint, (failed, ok)) in &per_endpoint {
            let ok_other: u64 = per_endpoint
                .iter()
                .filter(|(ep, _)| *ep != endpoint)
                .map(|(_, (_, ok))| *ok)
                .sum();
            if failed.len() < MIN_EVIDENCE || *ok > 0 || ok_other == 0 {
                continue;
            }
            let other = if *endpoint == "regional" {
                "global"
            } else {
                "regional"
            };
            let name = short_name(provider);
            out.push(finding(
                "endpoint_audience_mismatch",
                "high",
                format!("provider {name} via the {endpoint} STS endpoint"),
                failed,
                format!(
                    "{} audience or trust-policy failures through {name} on the {endpoint} STS endpoint, none succeeding there, while {ok_other} succeed on the {other} endpoint: the SAML:aud condition or the IdP's ACS URL allows only the {other} sign-in URL",
                    failed.len()
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_MINUTE;
    use std::sync::Arc;

    const MIN: Micros = MICROS_PER_MINUTE;

    fn ev(t: Micros, stage: Stage, who: &str, class: Option<&'static str>) -> FedEvent {
        FedEvent {
            event_time: t,
            event_id: Some(format!("e{t}-{who}").into()),
            account_id: Some("222233334444".into()),
            region: Some("us-east-1".into()),
            stage,
            outcome: if class.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            failure_class: class,
            role_arn: Some("arn:aws:iam::222233334444:role/ConnectAgent".into()),
            provider_arn: Some("arn:aws:iam::222233334444:saml-provider/AzureAD".into()),
            session_name: Some(who.into()),
            connect_instance_id: (stage == Stage::Connect).then(|| "inst-1".into()),
            source_object: Arc::from("o"),
            ..FedEvent::default()
        }
    }

    fn ids(found: &[Finding]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|f| (f.finding, f.subject.as_str()))
            .collect()
    }

    #[test]
    fn connect_names_failing_in_another_case_are_case_drift_linked_to_the_user_change() {
        let mut events = vec![
            ev(0, Stage::Connect, "JSmith", None),
            ev(MIN, Stage::Connect, "ABrown", None),
        ];
        for k in 0..4 {
            events.push(ev(
                60 * MIN + k * MIN,
                Stage::Connect,
                "JSmith",
                Some("connect_user_not_onboarded"),
            ));
        }
        events.push(ev(120 * MIN, Stage::Connect, "jsmith", None));
        let delete = ConfigChange {
            event_time: 50 * MIN,
            event_id: Some("del".into()),
            account_id: Some("222233334444".into()),
            event_source: "connect.amazonaws.com".into(),
            event_name: "DeleteUser".into(),
            target: Some("JSmith".into()),
            target_type: "user",
            ..ConfigChange::default()
        };
        let found = findings(&events, &[delete], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [("session_name_case_drift", "Connect instance inst-1")]
        );
        let f = &found[0];
        assert_eq!((f.severity, f.evidence_count), ("high", 4));
        assert_eq!((f.first_seen, f.last_seen), (60 * MIN, 63 * MIN));
        assert!(f.detail.contains("JSmith / jsmith"), "{}", f.detail);
        assert_eq!(
            f.related_change.as_ref().map(|c| c.event_name.as_str()),
            Some("DeleteUser")
        );
    }

    #[test]
    fn email_names_failing_where_usernames_succeed_are_a_format_mismatch() {
        let mut events = Vec::new();
        for (k, n) in ["ann", "bob", "cy", "dee"].iter().enumerate() {
            events.push(ev(k as i64, Stage::Connect, n, None));
            events.push(ev(
                100 + k as i64,
                Stage::Connect,
                &format!("{n}@corp.example"),
                Some("connect_user_not_onboarded"),
            ));
        }
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [("session_name_format_mismatch", "account 222233334444")]
        );
        assert!(found[0]
            .detail
            .starts_with("4 names failing with UserNotFoundException are e-mail addresses"));
    }

    #[test]
    fn names_drifting_without_failures_are_info_with_every_spelling_as_evidence() {
        // JDoe and jdoe interleaved (and one at the same time as another
        // name), ADoe and adoe apart; bsmith never drifts.
        let mut events = Vec::new();
        for k in 0..15 {
            let who = ["JDoe", "jdoe", "bsmith"][k as usize % 3];
            events.push(ev(k * MIN, Stage::Sts, who, None));
        }
        events.push(ev(20 * MIN, Stage::Sts, "ADoe", None));
        events.push(ev(20 * MIN, Stage::Sts, "adoe", None));
        events.push(ev(30 * MIN, Stage::Connect, "adoe", None));
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [("session_name_case_drift", "account 222233334444")]
        );
        let f = &found[0];
        assert_eq!((f.severity, f.failure_class), ("info", None));
        assert_eq!(f.evidence_count, 13, "10 of J/jdoe, 3 of A/adoe");
        assert_eq!((f.first_seen, f.last_seen), (0, 30 * MIN));
        let want: Vec<String> = events
            .iter()
            .filter(|e| !e.session_name.as_deref().unwrap().contains("bsmith"))
            .map(|e| e.event_id.as_deref().unwrap().to_owned())
            .collect();
        assert_eq!(f.evidence_event_ids, want, "in the run's order");
        assert!(f.detail.starts_with("2 session name(s)"), "{}", f.detail);
    }

    #[test]
    fn padded_names_are_reported() {
        let events = vec![
            ev(0, Stage::Sts, " jdoe", Some("session_name_invalid")),
            ev(1, Stage::Sts, "ok", None),
        ];
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [("session_name_whitespace", "account 222233334444")]
        );
        assert_eq!((found[0].evidence_count, found[0].severity), (1, "high"));
    }

    /// The windows counted as events arrive hold, for every burst of a
    /// role's failures in one region, exactly the role's sign-ins from the
    /// burst's first failure to its last, as counting over all the events
    /// afterwards finds them: random streams with shared times, absent
    /// regions, configuration events and bursts that split and join.
    #[test]
    fn windows_counted_as_events_arrive_match_counting_all_events_afterwards() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let regions = [
            None,
            Some("us-east-1"),
            Some("eu-west-1"),
            Some("ap-south-1"),
        ];
        let roles = ["arn:aws:iam::1:role/A", "arn:aws:iam::1:role/B"];
        let mut bursts_seen = 0;
        for round in 0..40 {
            let mut t = 0;
            let events: Vec<FedEvent> = (0..300)
                .map(|i| {
                    // Steps of up to 3 hours: bursts split beyond the 2-hour
                    // gap, and a step of the gap itself keeps them whole.
                    t += [0, 1, MIN, 30 * MIN, 120 * MIN, 180 * MIN][next(6) as usize];
                    let failed = next(3) == 0;
                    let stage =
                        [Stage::Sts, Stage::Sts, Stage::Connect, Stage::Config][next(4) as usize];
                    let mut e = ev(t, stage, &format!("u{i}"), failed.then_some("scp_denied"));
                    e.region = regions[next(4) as usize].map(Text::from);
                    e.role_arn = Some(roles[next(2) as usize].into());
                    e
                })
                .collect();
            let facts = Facts::of(&events, &[]);
            for role in roles {
                let of_role =
                    |e: &&FedEvent| e.stage != Stage::Config && e.role_arn.as_deref() == Some(role);
                for region in regions.iter().flatten() {
                    let failures: Vec<&FedEvent> = events
                        .iter()
                        .filter(of_role)
                        .filter(|e| e.is_failure() && e.region.as_deref() == Some(*region))
                        .collect();
                    for burst in bursts(&failures, BURST_GAP) {
                        let (first, last) =
                            (burst[0].event_time, burst[burst.len() - 1].event_time);
                        let mut want = RegionCounts::new();
                        for e in events.iter().filter(of_role) {
                            if e.event_time >= first && e.event_time <= last {
                                count_in(&mut want, &e.region, !e.is_failure());
                            }
                        }
                        let got = facts.role_windows["222233334444"][role].window(region, first);
                        assert_eq!(
                            got,
                            Some(&want),
                            "round {round}, {role} in {region} from {first}"
                        );
                        bursts_seen += 1;
                    }
                }
            }
        }
        assert!(bursts_seen > 200, "{bursts_seen} bursts");
    }

    #[test]
    fn a_role_failing_in_one_region_only_is_regional_concentration() {
        let mut events = Vec::new();
        for k in 0..10 {
            let mut e = ev(k * MIN, Stage::Sts, &format!("a{k}"), Some("scp_denied"));
            e.region = Some("ap-southeast-2".into());
            events.push(e);
            events.push(ev(k * MIN + 1, Stage::Sts, &format!("b{k}"), None));
        }
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [(
                "regional_concentration",
                "role ConnectAgent in ap-southeast-2"
            )]
        );
        assert!(
            found[0]
                .detail
                .contains("failed 10 of 10 times in ap-southeast-2 (scp_denied)"),
            "{}",
            found[0].detail
        );
        // The same failures everywhere are not concentrated.
        for e in events.iter_mut().filter(|e| !e.is_failure()) {
            e.outcome = Outcome::Failure;
            e.failure_class = Some("scp_denied");
        }
        assert!(findings(&events, &[], &IncidentParams::default()).is_empty());
    }

    #[test]
    fn signature_failures_then_an_update_give_the_time_to_recovery() {
        // Six people, each failing twice in a row, ten minutes apart.
        let mut events: Vec<FedEvent> = (0..12)
            .map(|k| {
                ev(
                    k / 2 * 10 * MIN + k % 2,
                    Stage::Sts,
                    &format!("u{}", k / 2),
                    Some("signature_invalid"),
                )
            })
            .collect();
        events.push(ev(70 * MIN, Stage::Sts, "u9", None));
        let write = |t: Micros, ok: bool| ConfigChange {
            event_time: t,
            event_id: Some(format!("w{t}")),
            account_id: Some("222233334444".into()),
            event_name: "UpdateSAMLProvider".into(),
            target: Some("arn:aws:iam::222233334444:saml-provider/AzureAD".into()),
            target_type: "provider",
            outcome: if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            ..ConfigChange::default()
        };
        let changes = [write(45 * MIN, false), write(55 * MIN, true)];
        let found = findings(&events, &changes, &IncidentParams::default());
        assert_eq!(ids(&found), [("certificate_rotation", "provider AzureAD")]);
        let f = &found[0];
        assert_eq!(f.time_to_recovery, Some(55 * MIN));
        assert!(
            f.detail
                .contains("55 min to recovery (1 successful sign-ins"),
            "{}",
            f.detail
        );
        assert!(
            f.detail
                .contains("1 metadata upload(s) before that were rejected"),
            "{}",
            f.detail
        );
        let without = findings(&events, &[], &IncidentParams::default());
        assert_eq!(without[0].time_to_recovery, None);
        assert!(without[0]
            .detail
            .contains("no successful UpdateSAMLProvider"));
    }

    #[test]
    fn background_signature_failures_are_not_a_rotation() {
        // One every 20 minutes for two days, through the same provider.
        let mut events: Vec<FedEvent> = (0..144)
            .map(|k| {
                ev(
                    k * 20 * MIN,
                    Stage::Sts,
                    &format!("u{k}"),
                    Some("signature_invalid"),
                )
            })
            .collect();
        assert!(findings(&events, &[], &IncidentParams::default()).is_empty());
        // A rotation on top: everyone fails for half an hour.
        for k in 0..60 {
            events.push(ev(
                1000 * MIN + k * 30_000_000,
                Stage::Sts,
                &format!("r{}", k % 9),
                Some("signature_invalid"),
            ));
        }
        events.sort_by_key(|e| e.event_time);
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(ids(&found), [("certificate_rotation", "provider AzureAD")]);
    }

    #[test]
    fn audience_failures_on_the_regional_endpoint_only_are_an_endpoint_mismatch() {
        let mut events = Vec::new();
        for k in 0..3 {
            let mut bad = ev(k, Stage::Sts, &format!("r{k}"), Some("audience_mismatch"));
            bad.endpoint_type = Some("regional".into());
            let mut good = ev(10 + k, Stage::Sts, &format!("g{k}"), None);
            good.endpoint_type = Some("global".into());
            events.extend([bad, good]);
        }
        let found = findings(&events, &[], &IncidentParams::default());
        assert_eq!(
            ids(&found),
            [(
                "endpoint_audience_mismatch",
                "provider AzureAD via the regional STS endpoint"
            )]
        );
    }
}
