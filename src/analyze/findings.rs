//! Findings: the cross-event patterns of TAXONOMY.md ("Findings across
//! events"), each with its evidence. One detector per finding id; every
//! detector is a plain function of the run's events and changes.

use std::collections::{BTreeMap, BTreeSet};

use super::incidents::{improbable, IncidentParams, MIN_BUCKET_FAILURES, RECOVERY_SLACK};
use super::link::{suspected_cause, Failing};
use super::{human_duration, ranked, short_name, who, LinkedChange};
use crate::aggregate::BUCKET;
use crate::model::{ConfigChange, FedEvent, Micros, Outcome, Stage};
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

/// Every finding of the run, most severe first, then by time.
pub fn findings(
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(certificate_rotation(events, changes, params));
    out.extend(regional_concentration(events, changes, params));
    out.extend(case_drift(events, changes, params));
    out.extend(format_mismatch(events));
    out.extend(whitespace(events));
    out.extend(endpoint_audience_mismatch(events));
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

/// Builds a finding from its evidence events (sorted by time, not empty).
fn finding(
    id: &'static str,
    severity: &'static str,
    subject: String,
    evidence: &[&FedEvent],
    detail: String,
) -> Finding {
    Finding {
        finding: id,
        severity,
        subject,
        account_id: evidence[0].account_id.as_deref().map(str::to_owned),
        failure_class: dominant_class(evidence),
        evidence_count: evidence.len() as u64,
        first_seen: evidence.iter().map(|e| e.event_time).min().unwrap_or(0),
        last_seen: evidence.iter().map(|e| e.event_time).max().unwrap_or(0),
        detail,
        related_change: None,
        time_to_recovery: None,
        evidence_event_ids: evidence
            .iter()
            .filter_map(|e| e.event_id.as_deref().map(str::to_owned))
            .take(EVIDENCE_IDS)
            .collect(),
    }
}

fn dominant_class(events: &[&FedEvent]) -> Option<&'static str> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in events.iter().filter_map(|e| e.failure_class) {
        *counts.entry(c).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c)))
        .map(|(c, _)| c)
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
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let mut by_provider: BTreeMap<&str, Vec<&FedEvent>> = BTreeMap::new();
    for e in events {
        if e.failure_class == Some("signature_invalid") {
            if let Some(p) = e.provider_arn.as_deref() {
                by_provider.entry(p).or_default().push(e);
            }
        }
    }
    let span = match (events.first(), events.last()) {
        (Some(a), Some(b)) => b.event_time - a.event_time,
        _ => 0,
    };
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
                    let after = events
                        .iter()
                        .filter(|e| {
                            e.event_time > c.event_time
                                && e.provider_arn.as_deref() == Some(provider)
                                && e.outcome == Outcome::Success
                        })
                        .count();
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
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    let mut by_role: BTreeMap<(&str, &str), Vec<&FedEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.stage != Stage::Config) {
        if let (Some(account), Some(role)) = (e.account_id.as_deref(), e.role_arn.as_deref()) {
            by_role.entry((account, role)).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for ((_, role), role_events) in by_role {
        let mut failed_in: BTreeMap<&str, Vec<&FedEvent>> = BTreeMap::new();
        for e in role_events.iter().filter(|e| e.is_failure()) {
            if let Some(r) = e.region.as_deref() {
                failed_in.entry(r).or_default().push(e);
            }
        }
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
            let span: Vec<&&FedEvent> = role_events
                .iter()
                .filter(|e| e.event_time >= first && e.event_time <= last)
                .collect();
            let here = span
                .iter()
                .filter(|e| e.region.as_deref() == Some(region))
                .count();
            let elsewhere: Vec<&&&FedEvent> = span
                .iter()
                .filter(|e| e.region.as_deref() != Some(region))
                .collect();
            let ok_elsewhere = elsewhere.iter().filter(|e| !e.is_failure()).count();
            let rate_here = failures.len() as f64 / here as f64;
            let rate_elsewhere = if elsewhere.is_empty() {
                1.0
            } else {
                (elsewhere.len() - ok_elsewhere) as f64 / elsewhere.len() as f64
            };
            if rate_here < 0.5 || ok_elsewhere == 0 || rate_elsewhere > 0.1 {
                continue;
            }
            let class = dominant_class(&failures).unwrap_or("sts_other");
            let others = ranked(
                elsewhere
                    .iter()
                    .filter(|e| !e.is_failure())
                    .map(|e| e.region.as_deref()),
            );
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
                    elsewhere.len(),
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
    events: &[FedEvent],
    changes: &[ConfigChange],
    params: &IncidentParams,
) -> Vec<Finding> {
    // The distinct (account, name) pairs first: far fewer than events, so
    // each name is lower-cased once.
    let distinct: std::collections::HashSet<(&str, &str)> = events
        .iter()
        .filter(|e| e.stage != Stage::Config)
        .filter_map(|e| Some((e.account_id.as_deref()?, e.session_name.as_deref()?)))
        .collect();
    // account -> lower-cased name -> spellings
    let mut names: BTreeMap<&str, BTreeMap<String, BTreeSet<&str>>> = BTreeMap::new();
    for (a, s) in distinct {
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
        let connect_ok: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.stage == Stage::Connect && !e.is_failure())
            .filter(|e| e.account_id.as_deref() == Some(account))
            .filter_map(|e| e.session_name.as_deref())
            .collect();
        let in_drift = |e: &FedEvent| {
            e.account_id.as_deref() == Some(account)
                && e.session_name
                    .as_deref()
                    .is_some_and(|s| drifted.contains_key(&s.to_lowercase()))
        };
        let failed: Vec<&FedEvent> = events
            .iter()
            .filter(|e| e.is_failure() && in_drift(e))
            .collect();
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
        let evidence: Vec<&FedEvent> = if failed.is_empty() {
            events.iter().filter(|e| in_drift(e)).collect()
        } else {
            failed
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
        } else if evidence.iter().any(|e| e.is_failure()) {
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
        let mut f = finding(
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
fn format_mismatch<'a>(events: &'a [FedEvent]) -> Vec<Finding> {
    let mut by_account: BTreeMap<&str, (Vec<&FedEvent>, BTreeSet<&str>)> = BTreeMap::new();
    for e in events.iter().filter(|e| e.stage == Stage::Connect) {
        let (Some(a), Some(s)) = (e.account_id.as_deref(), e.session_name.as_deref()) else {
            continue;
        };
        let entry = by_account.entry(a).or_default();
        if e.failure_class == Some("connect_user_not_onboarded") {
            entry.0.push(e);
        } else if !e.is_failure() {
            entry.1.insert(s);
        }
    }
    let mut out = Vec::new();
    for (account, (failed, ok)) in by_account {
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
fn whitespace(events: &[FedEvent]) -> Vec<Finding> {
    let mut by_account: BTreeMap<&str, Vec<&FedEvent>> = BTreeMap::new();
    for e in events {
        if padded(e.session_name.as_deref())
            || padded(e.role_arn.as_deref())
            || padded(e.provider_arn.as_deref())
        {
            by_account
                .entry(e.account_id.as_deref().unwrap_or("(unknown)"))
                .or_default()
                .push(e);
        }
    }
    by_account
        .into_iter()
        .map(|(account, evidence)| {
            let failures = evidence.iter().filter(|e| e.is_failure()).count();
            let example = evidence
                .iter()
                .find_map(|e| {
                    [&e.session_name, &e.role_arn, &e.provider_arn]
                        .into_iter()
                        .find_map(|v| v.as_deref().filter(|s| padded(Some(s))))
                })
                .unwrap_or("");
            finding(
                "session_name_whitespace",
                if failures > 0 { "high" } else { "medium" },
                format!("account {account}"),
                &evidence,
                format!(
                    "{} events ({failures} failed) carry a session name or role attribute with leading or trailing whitespace, e.g. {example:?}: trim it in the IdP's attribute mapping",
                    evidence.len()
                ),
            )
        })
        .collect()
}

/// `endpoint_audience_mismatch`: audience or trust-policy failures on one
/// STS endpoint type (regional or global) while the other one succeeds for
/// the same provider.
fn endpoint_audience_mismatch(events: &[FedEvent]) -> Vec<Finding> {
    type PerEndpoint<'a> = BTreeMap<&'a str, (Vec<&'a FedEvent>, u64)>;
    let mut by_provider: BTreeMap<&str, PerEndpoint> = BTreeMap::new();
    for e in events.iter().filter(|e| e.stage == Stage::Sts) {
        let (Some(p), Some(ep)) = (e.provider_arn.as_deref(), e.endpoint_type.as_deref()) else {
            continue;
        };
        let slot = by_provider.entry(p).or_default().entry(ep).or_default();
        match e.failure_class {
            Some("audience_mismatch" | "trust_policy_denied") => slot.0.push(e),
            None => slot.1 += 1,
            _ => {}
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
