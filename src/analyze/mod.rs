//! Analyze: cross-event answers over the merged run. `incidents` finds outage
//! windows in the failure timeline and links each to the configuration
//! change most likely to have caused it (and the one that ended it);
//! `findings` reports the patterns of TAXONOMY.md that no single event shows
//! (case drift, regional concentration, certificate rotation...). Both are
//! plain, deterministic functions of `aggregate`'s output; `sinks` writes and
//! renders what they return.

pub mod findings;
pub mod incidents;
mod link;

pub use findings::{findings, Finding};
pub use incidents::{incidents, incidents_of, Incident, IncidentParams};
pub use link::LinkedChange;

use std::collections::BTreeMap;

use crate::model::FedEvent;

/// Who an event is, for counting affected people: the session name, else the
/// user name, else the source IP.
pub(crate) fn who(e: &FedEvent) -> Option<&str> {
    e.session_name
        .as_deref()
        .or(e.user_name.as_deref())
        .or(e.source_ip.as_deref())
}

/// Counts values, most frequent first (ties in value order): the lists of
/// roles, providers and regions an incident names.
pub(crate) fn ranked<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for v in values.flatten() {
        *counts.entry(v).or_default() += 1;
    }
    rank(counts)
}

/// Counted values, the most frequent first (ties in the values' order).
pub(crate) fn rank(counts: BTreeMap<&str, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v
}

/// A duration for people: `45 min`, `3 h 05 min`, `2 d 4 h`.
pub fn human_duration(micros: i64) -> String {
    let minutes = micros.max(0) / 60_000_000;
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {:02} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

/// The last part of an ARN (`arn:aws:iam::1:saml-provider/OktaProd` ->
/// `OktaProd`): how roles and providers are named to people.
pub fn short_name(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let min = 60_000_000;
        assert_eq!(human_duration(45 * min), "45 min");
        assert_eq!(human_duration(185 * min), "3 h 05 min");
        assert_eq!(human_duration((52 * 60 + 10) * min), "2 d 4 h");
        assert_eq!(human_duration(-5), "0 min");
    }

    #[test]
    fn short_names_drop_the_arn_prefix() {
        assert_eq!(
            short_name("arn:aws:iam::111122223333:saml-provider/OktaProd"),
            "OktaProd"
        );
        assert_eq!(short_name("arn:aws:iam::111122223333:role/team/Dev"), "Dev");
        assert_eq!(short_name("plain"), "plain");
    }

    #[test]
    fn ranked_puts_the_most_frequent_first() {
        let r = ranked([Some("b"), Some("a"), None, Some("b")].into_iter());
        assert_eq!(r, [("b".to_string(), 2), ("a".to_string(), 1)]);
    }
}
