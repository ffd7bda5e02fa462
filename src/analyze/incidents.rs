//! Incidents: outage windows found in the failure timeline. For each stage
//! and failure class, failures are counted per 5-minute bucket. A bucket is
//! *hot* when it holds at least [`MIN_BUCKET_FAILURES`] failures of the class
//! and at least `factor` times the class's mean per bucket over the scanned
//! period. Hot buckets at most `gap` apart form a window, which becomes an
//! incident when (1) its failures are at least `factor` times what the
//! class's rate outside the window predicts for its length, (2) chance at
//! that rate would give so many less often than [`SIGNIFICANCE`] (Poisson),
//! and (3) it holds at least `min_failures` failures from `min_sessions`
//! people. Steady background failures, however frequent, are not
//! incidents; a scan that is all outage still is one (nothing outside it).
//! Each incident is then described (roles, providers, regions) and linked to
//! the change that most likely caused it and the one that ended it.

use std::collections::{BTreeMap, BTreeSet};

use super::link::{recovery, suspected_cause, Failing};
use super::{ranked, who, LinkedChange};
use crate::aggregate::{Observed, BUCKET};
use crate::model::{ConfigChange, FedEvent, Micros, Stage};
use crate::time::{MICROS_PER_HOUR, MICROS_PER_MINUTE};

/// A bucket needs at least this many failures to be hot, whatever the baseline.
pub const MIN_BUCKET_FAILURES: u64 = 2;
/// A window is an incident only if chance would give its failures less
/// often than this, at the class's rate outside the window.
pub const SIGNIFICANCE: f64 = 1e-6;
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
    /// The class's failures per bucket outside the incident (the baseline it
    /// was measured against).
    pub baseline_bucket_failures: f64,
    /// Each list is ordered by failures, most first.
    pub accounts: Vec<String>,
    pub roles: Vec<String>,
    pub providers: Vec<String>,
    pub regions: Vec<String>,
    pub suspected_change: Option<LinkedChange>,
    pub recovered_by_change: Option<LinkedChange>,
}

/// A run of hot buckets: first and last bucket start, the most failures in
/// one bucket, and the class's failures per bucket outside the window.
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
    incidents_of(&Observed::of(events), changes, params)
}

/// [`incidents`] from what a pass over the events [`Observed`]: their
/// failures and their counts per bucket.
pub fn incidents_of(
    seen: &Observed,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Incident> {
    let mut out = Vec::new();
    for stage in Stage::ALL {
        let Some(span) = seen.span(stage) else {
            continue;
        };
        let failed: Vec<&FedEvent> = seen.failures.iter().filter(|e| e.stage == stage).collect();
        let classes: BTreeSet<&'static str> =
            failed.iter().filter_map(|e| e.failure_class).collect();
        for class in classes {
            for w in hot_windows(span, &failed, class, params) {
                // Windows are whole buckets: the stage's events in them are counted.
                let (from, to) = (w.first, w.last + BUCKET);
                let lo = failed.partition_point(|e| e.event_time < from);
                let hi = failed.partition_point(|e| e.event_time < to);
                let attempts = seen.events_in(stage, from, to);
                if let Some(i) =
                    describe(stage, class, &failed[lo..hi], attempts, &w, changes, params)
                {
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

/// The candidate windows of one class among one stage's failures (sorted by
/// time; the stage's events span `span`) that are unlikely to be chance:
/// runs of hot buckets, merged across `gap`, whose failures are at least
/// `factor` times what the class's rate outside the window predicts and
/// have a Poisson probability under that rate below [`SIGNIFICANCE`].
fn hot_windows(
    span: (Micros, Micros),
    failed: &[&FedEvent],
    class: &str,
    params: &IncidentParams,
) -> Vec<Window> {
    let bucket_of = |t: Micros| t.div_euclid(BUCKET) * BUCKET;
    let (first, last) = (bucket_of(span.0), bucket_of(span.1));
    let mut per_bucket: BTreeMap<Micros, u64> = BTreeMap::new();
    for e in failed.iter().filter(|e| e.failure_class == Some(class)) {
        *per_bucket.entry(bucket_of(e.event_time)).or_default() += 1;
    }
    let buckets = (last - first) / BUCKET + 1;
    let total: u64 = per_bucket.values().sum();
    let mean = total as f64 / buckets as f64;
    let threshold = (params.factor * mean)
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
                baseline: 0.0,
            }),
        }
    }
    windows.retain_mut(|w| {
        let inside: u64 = per_bucket.range(w.first..=w.last).map(|(_, n)| n).sum();
        let len = (w.last - w.first) / BUCKET + 1;
        w.baseline = if buckets > len {
            (total - inside) as f64 / (buckets - len) as f64
        } else {
            0.0
        };
        let expected = w.baseline * len as f64;
        improbable(inside, expected, params.factor)
    });
    windows
}

/// Whether `inside` failures are a burst where `expected` were due: at least
/// `factor` times as many, and less likely than [`SIGNIFICANCE`] by chance.
/// Incidents and the certificate-rotation finding share this test.
pub(crate) fn improbable(inside: u64, expected: f64, factor: f64) -> bool {
    inside as f64 >= factor * expected && poisson_sf(inside, expected) < SIGNIFICANCE
}

/// `P(X >= k)` for `X ~ Poisson(mu)`: how likely `k` or more failures are
/// by chance when `mu` are expected. At or below the mean it answers 1 (the
/// true value is above 0.4, never significant).
fn poisson_sf(k: u64, mu: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    if k as f64 <= mu {
        return 1.0;
    }
    // Sum the terms from k upwards in log space; past the mean they shrink.
    let ln_k_factorial: f64 = (2..=k).map(|j| (j as f64).ln()).sum();
    let mut ln_term = -mu + k as f64 * mu.ln() - ln_k_factorial;
    let mut sum = 0.0;
    for i in k + 1.. {
        let term = ln_term.exp();
        sum += term;
        if term <= sum * 1e-12 || i > k + 100_000 {
            break;
        }
        ln_term += mu.ln() - (i as f64).ln();
    }
    sum.min(1.0)
}

/// Turns a window into an incident, or `None` when it is too small.
/// `failures` are the stage's failures in the window, `attempts` its events.
fn describe(
    stage: Stage,
    class: &'static str,
    failures: &[&FedEvent],
    attempts: u64,
    w: &Window,
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Option<Incident> {
    let all_failed = failures.len();
    let failed: Vec<&FedEvent> = failures
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
        attempts,
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
            event_id: Some(format!("{t}-{who}").into()),
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
    fn poisson_tails_match_known_values() {
        let close = |a: f64, b: f64| (a - b).abs() <= b * 1e-6;
        assert!(close(poisson_sf(3, 0.2), 0.001_148_481_244_862_109_6));
        assert!(close(poisson_sf(20, 4.01), 1.062_224_497_250_241_5e-8));
        assert!(close(poisson_sf(5, 1.4), 0.014_253_296_339_822_42));
        assert_eq!(poisson_sf(1, 0.0), 0.0);
        assert_eq!(poisson_sf(0, 3.0), 1.0);
        assert_eq!(poisson_sf(3, 5.0), 1.0);
    }

    /// Two days of sign-ins with steady background failures of one class:
    /// about one every 20 minutes, at pseudo-random times, so some buckets
    /// hold two or three.
    fn steady_noise() -> Vec<FedEvent> {
        let mut state: u64 = 7;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        let mut events = Vec::new();
        for m in 0..2 * 24 * 60 {
            let class = (next() % 20 == 0).then_some("assertion_expired");
            let t = m * MIN + (next() % 50) as i64;
            events.push(sign_in(t, &format!("user{}", next() % 200), class));
        }
        events.sort_by_key(|e| e.event_time);
        events
    }

    #[test]
    fn steady_background_failures_are_not_incidents_but_a_burst_on_top_is() {
        let mut events = steady_noise();
        let hot = events
            .chunk_by(|a, b| a.event_time / BUCKET == b.event_time / BUCKET)
            .filter(|bucket| bucket.iter().filter(|e| e.is_failure()).count() >= 2)
            .count();
        assert!(hot >= 10, "the noise does make candidate buckets: {hot}");
        assert_eq!(incidents(&events, &[], &IncidentParams::default()), []);
        let start = 20 * 60 * MIN;
        for m in 0..40 {
            let who = format!("late{}", m % 7);
            events.push(sign_in(start + m * MIN, &who, Some("assertion_expired")));
        }
        events.sort_by_key(|e| e.event_time);
        let found = incidents(&events, &[], &IncidentParams::default());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].start, start);
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
        let baseline = found[0].baseline_bucket_failures;
        assert!((baseline - 4.0).abs() < 0.05, "{baseline}");
    }
}
