//! Incidents: outage windows found in the failure timeline. For each stage
//! and failure class, failures are counted per 5-minute bucket; a bucket is
//! *hot* when it holds at least [`MIN_BUCKET_FAILURES`] failures of the class
//! and at least `factor` times its baseline, the median per bucket over every
//! bucket of the stage in the scanned period (robust to outages shorter than
//! half of it). Scattered failures of mixed classes never make a bucket hot. Hot buckets separated
//! by at most `gap` merge into one window; a window becomes an incident when
//! it holds at least `min_failures` failures from `min_sessions` people. Each
//! incident is then described (dominant class, roles, providers, regions) and
//! linked to the change that most likely caused it and the one that ended it.

use std::collections::{BTreeMap, BTreeSet};

use super::link::{recovery, suspected_cause, Failing};
use super::{ranked, who, LinkedChange};
use crate::aggregate::BUCKET;
use crate::model::{ConfigChange, FedEvent, Micros, Stage};
use crate::time::{MICROS_PER_HOUR, MICROS_PER_MINUTE};

/// A bucket needs at least this many failures to be hot, whatever the baseline.
pub const MIN_BUCKET_FAILURES: u64 = 2;
/// How far from the last failure a change may be to count as the recovery.
pub const RECOVERY_SLACK: Micros = 15 * MICROS_PER_MINUTE;

/// The thresholds of incident detection (flags of `scan`).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentParams {
    /// How many times its baseline a bucket must reach to be hot.
    pub factor: f64,
    /// Hot buckets at most this far apart belong to one incident.
    pub gap: Micros,
    /// Fewest failures an incident may have.
    pub min_failures: u64,
    /// Fewest distinct people (session, user or source IP) it may affect.
    pub min_sessions: u64,
    /// How long before an incident a change may be to be its suspected cause.
    pub lookback: Micros,
}

impl Default for IncidentParams {
    fn default() -> Self {
        IncidentParams {
            factor: 3.0,
            gap: MICROS_PER_HOUR,
            min_failures: 5,
            min_sessions: 3,
            lookback: 24 * MICROS_PER_HOUR,
        }
    }
}

/// A row of `incidents.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `STAGE-CLASS-YYYYMMDDTHHMMZ` of the first failure: stable across reruns.
    pub incident_id: String,
    /// First and last failure of the incident.
    pub start: Micros,
    pub end: Micros,
    pub stage: Stage,
    pub dominant_class: &'static str,
    /// The dominant class's share of the failures, 0..1.
    pub dominant_share: f64,
    pub failures: u64,
    /// Attempts of the stage in the same window, failed or not.
    pub attempts: u64,
    pub affected_sessions: u64,
    /// The most failures in one 5-minute bucket.
    pub peak_bucket_failures: u64,
    /// Failures per bucket before the incident (the baseline it was measured against).
    pub baseline_bucket_failures: f64,
    /// Each list is ordered by failures, most first.
    pub accounts: Vec<String>,
    pub roles: Vec<String>,
    pub providers: Vec<String>,
    pub regions: Vec<String>,
    pub suspected_change: Option<LinkedChange>,
    pub recovered_by_change: Option<LinkedChange>,
}

/// A run of hot buckets: first bucket start, last bucket start, peak, baseline.
struct Window {
    first: Micros,
    last: Micros,
    peak: u64,
    baseline: f64,
}

/// Finds the incidents of a run; `events` and `changes` sorted by time (as
/// `aggregate::merge` leaves them). Ordered by start, then stage.
pub fn incidents(
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Incident> {
    let mut out = Vec::new();
    for stage in Stage::ALL {
        let of_stage: Vec<&FedEvent> = events.iter().filter(|e| e.stage == stage).collect();
        let classes: BTreeSet<&'static str> =
            of_stage.iter().filter_map(|e| e.failure_class).collect();
        for class in classes {
            for w in hot_windows(&of_stage, class, params) {
                let lo = of_stage.partition_point(|e| e.event_time < w.first);
                let hi = of_stage.partition_point(|e| e.event_time < w.last + BUCKET);
                let window = &of_stage[lo..hi];
                if let Some(i) = describe(stage, class, window, &w, changes, params) {
                    out.push(i);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (a.start, a.stage, a.dominant_class).cmp(&(b.start, b.stage, b.dominant_class))
    });
    out
}

/// The merged runs of hot buckets of one class among one stage's events
/// (sorted by time); the baseline spans every bucket of the stage.
fn hot_windows(events: &[&FedEvent], class: &str, params: &IncidentParams) -> Vec<Window> {
    let bucket_of = |t: Micros| t.div_euclid(BUCKET) * BUCKET;
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Vec::new();
    };
    let (first, last) = (bucket_of(first.event_time), bucket_of(last.event_time));
    let mut per_bucket: BTreeMap<Micros, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.failure_class == Some(class)) {
        *per_bucket.entry(bucket_of(e.event_time)).or_default() += 1;
    }
    // Buckets without failures are zeros of the median; they are not stored.
    let buckets = ((last - first) / BUCKET + 1) as usize;
    let baseline = median(per_bucket.values().copied(), buckets);
    let threshold = (params.factor * baseline)
        .ceil()
        .max(MIN_BUCKET_FAILURES as f64);
    let mut windows: Vec<Window> = Vec::new();
    for (&bucket, &n) in per_bucket.iter().filter(|(_, n)| **n as f64 >= threshold) {
        match windows.last_mut() {
            Some(w) if bucket - (w.last + BUCKET) <= params.gap => {
                w.last = bucket;
                w.peak = w.peak.max(n);
            }
            _ => windows.push(Window {
                first: bucket,
                last: bucket,
                peak: n,
                baseline,
            }),
        }
    }
    windows
}

/// The median of `len` values: `nonzero` plus as many zeros as it takes.
fn median(nonzero: impl Iterator<Item = u64>, len: usize) -> f64 {
    let mut v: Vec<u64> = nonzero.collect();
    if v.is_empty() || len == 0 {
        return 0.0;
    }
    v.resize(len.max(v.len()), 0);
    v.sort_unstable();
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid] as f64
    } else {
        (v[mid - 1] + v[mid]) as f64 / 2.0
    }
}

/// Turns a window into an incident, or `None` when it is too small.
fn describe(
    stage: Stage,
    class: &'static str,
    events: &[&FedEvent],
    w: &Window,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Option<Incident> {
    let all_failed = events.iter().filter(|e| e.is_failure()).count();
    let failed: Vec<&FedEvent> = events
        .iter()
        .copied()
        .filter(|e| e.failure_class == Some(class))
        .collect();
    let people: BTreeSet<&str> = failed.iter().filter_map(|e| who(e)).collect();
    if (failed.len() as u64) < params.min_failures || (people.len() as u64) < params.min_sessions {
        return None;
    }
    let (start, end) = (failed[0].event_time, failed[failed.len() - 1].event_time);
    let names = |f: fn(&FedEvent) -> Option<&str>| -> Vec<String> {
        ranked(failed.iter().map(|e| f(e)))
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    let accounts = names(|e| e.account_id.as_deref());
    let roles = names(|e| e.role_arn.as_deref());
    let providers = names(|e| e.provider_arn.as_deref());
    let regions = names(|e| e.region.as_deref());
    let failing = Failing {
        class,
        accounts: accounts.iter().map(String::as_str).collect(),
        providers: providers.iter().map(String::as_str).collect(),
        roles: roles.iter().map(String::as_str).collect(),
        people: people.clone(),
        start,
        end,
    };
    let suspected_change = suspected_cause(changes, &failing, params.lookback);
    let recovered_by_change = recovery(changes, &failing, RECOVERY_SLACK);
    Some(Incident {
        incident_id: format!(
            "{}-{class}-{}",
            stage.as_str(),
            chrono::DateTime::from_timestamp_micros(start)
                .map_or_else(String::new, |t| t.format("%Y%m%dT%H%MZ").to_string())
        ),
        start,
        end,
        stage,
        dominant_class: class,
        dominant_share: failed.len() as f64 / all_failed as f64,
        failures: failed.len() as u64,
        attempts: events.len() as u64,
        affected_sessions: people.len() as u64,
        peak_bucket_failures: w.peak,
        baseline_bucket_failures: w.baseline,
        accounts,
        roles,
        providers,
        regions,
        suspected_change,
        recovered_by_change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use std::sync::Arc;

    const MIN: Micros = MICROS_PER_MINUTE;

    fn sign_in(t: Micros, who: &str, class: Option<&'static str>) -> FedEvent {
        FedEvent {
            event_time: t,
            event_id: Some(format!("{t}-{who}")),
            account_id: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            outcome: if class.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            failure_class: class,
            role_arn: Some("arn:aws:iam::111122223333:role/Engineer".into()),
            provider_arn: Some("arn:aws:iam::111122223333:saml-provider/OktaProd".into()),
            session_name: Some(who.into()),
            source_object: Arc::from("o"),
            ..FedEvent::default()
        }
    }

    /// Two days of steady sign-ins (one a minute) with a single failure every
    /// 47 minutes, of rotating classes.
    fn quiet_baseline() -> Vec<FedEvent> {
        let classes = ["assertion_expired", "trust_policy_denied", "sts_other"];
        (0..2 * 24 * 60)
            .map(|m| {
                let class = (m % 47 == 0).then(|| classes[(m / 47) as usize % 3]);
                sign_in(m * MIN, &format!("user{}", m % 40), class)
            })
            .collect()
    }

    #[test]
    fn a_quiet_baseline_with_scattered_failures_has_no_incident() {
        let events = quiet_baseline();
        assert!(incidents(&events, &[], &IncidentParams::default()).is_empty());
    }

    #[test]
    fn a_burst_becomes_one_incident_with_its_cause_and_recovery() {
        let mut events = quiet_baseline();
        let start = 30 * 60 * MIN;
        // Two hours of signature failures, three people a minute, with one
        // ten-minute lull in the middle.
        for m in 0..120 {
            if (60..70).contains(&m) {
                continue;
            }
            for p in 0..3 {
                events.push(sign_in(
                    start + m * MIN + p,
                    &format!("burst{p}"),
                    Some("signature_invalid"),
                ));
            }
        }
        events.sort_by_key(|e| e.event_time);
        let provider = "arn:aws:iam::111122223333:saml-provider/OktaProd";
        let update = |t: Micros| ConfigChange {
            event_time: t,
            event_id: Some(format!("u{t}")),
            account_id: Some("111122223333".into()),
            event_source: "iam.amazonaws.com".into(),
            event_name: "UpdateSAMLProvider".into(),
            target: Some(provider.into()),
            target_type: "provider",
            ..ConfigChange::default()
        };
        let changes = [update(start - 90 * MIN), update(start + 121 * MIN)];
        let found = incidents(&events, &changes, &IncidentParams::default());
        assert_eq!(found.len(), 1, "{found:#?}");
        let i = &found[0];
        assert_eq!((i.start, i.end), (start, start + 119 * MIN + 2));
        assert_eq!(i.dominant_class, "signature_invalid");
        // The burst's failures; the baseline's own two in the same window
        // are of other classes and only lower the share.
        assert_eq!(i.failures, 330);
        assert_eq!(i.dominant_share, 330.0 / 332.0);
        assert_eq!(i.affected_sessions, 3);
        assert_eq!(i.providers, [provider]);
        assert_eq!(i.incident_id, "sts-signature_invalid-19700102T0600Z");
        assert_eq!(
            i.suspected_change.as_ref().map(|c| c.event_time),
            Some(start - 90 * MIN)
        );
        assert_eq!(
            i.recovered_by_change.as_ref().map(|c| c.event_time),
            Some(start + 121 * MIN)
        );
    }

    #[test]
    fn one_person_retrying_is_not_an_incident() {
        let mut events = quiet_baseline();
        for k in 0..20 {
            events.push(sign_in(
                10 * 60 * MIN + k * 10_000_000,
                "alone",
                Some("sts_other"),
            ));
        }
        events.sort_by_key(|e| e.event_time);
        assert!(incidents(&events, &[], &IncidentParams::default()).is_empty());
    }

    #[test]
    fn a_busy_baseline_raises_the_bar() {
        // Four failures every bucket for a day, then a bucket with eight:
        // below three times the baseline, so not hot; then twenty: hot.
        let mut events = Vec::new();
        for b in 0..288 {
            for k in 0..4 {
                events.push(sign_in(b * BUCKET + k, &format!("u{k}"), Some("sts_other")));
            }
        }
        let t = 288 * BUCKET;
        for k in 0..8 {
            events.push(sign_in(t + k, &format!("v{k}"), Some("sts_other")));
        }
        assert!(incidents(&events, &[], &IncidentParams::default()).is_empty());
        for k in 0..20 {
            events.push(sign_in(t + BUCKET + k, &format!("w{k}"), Some("sts_other")));
        }
        let found = incidents(&events, &[], &IncidentParams::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].failures, 20);
        assert_eq!(found[0].baseline_bucket_failures, 4.0);
    }
}
