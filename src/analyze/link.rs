//! Linking failures to configuration changes: which change most likely
//! caused a cluster of failures, and which one ended it. A change is a
//! candidate when it succeeded, is in an account that failed (or is an
//! Organizations policy change, which reaches every account), and is of a
//! kind that can cause the cluster's class; it ranks higher when its target
//! is one of the failing providers, roles or users, then by nearness in time.

use std::collections::BTreeSet;

use super::{human_duration, short_name};
use crate::model::{ConfigChange, Micros, Outcome};

/// A change linked to an incident or finding, with why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedChange {
    pub event_id: Option<String>,
    pub event_name: String,
    pub event_time: Micros,
    pub account_id: Option<String>,
    pub target: Option<String>,
    /// One line for people: what the change touched and how it relates.
    pub reason: String,
}

/// What a cluster of failures looks like to the linker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failing<'a> {
    pub class: &'a str,
    pub accounts: BTreeSet<&'a str>,
    /// Provider ARNs.
    pub providers: BTreeSet<&'a str>,
    /// Role ARNs.
    pub roles: BTreeSet<&'a str>,
    /// Session and user names.
    pub people: BTreeSet<&'a str>,
    pub start: Micros,
    pub end: Micros,
}

/// The `target_type`s of changes that can cause a class of failure
/// (`ConfigChange::target_type`). Classes whose cause lives outside AWS
/// (IdP clocks, assertion contents) have none.
fn causing_kinds(class: &str) -> &'static [&'static str] {
    match class {
        "signature_invalid" | "issuer_mismatch" | "metadata_invalid" => &["provider"],
        "provider_not_found" | "role_attribute_invalid" | "audience_mismatch" => {
            &["provider", "role"]
        }
        "trust_policy_denied"
        | "session_tags_denied"
        | "duration_exceeds_max"
        | "source_identity_invalid"
        | "policy_invalid" => &["role"],
        "scp_denied" => &["policy"],
        "console_login_failed" | "connect_access_denied" => &["role", "policy"],
        "connect_user_not_onboarded" => &["user"],
        "idc_external_idp_failed" | "idc_credential_failed" | "idc_other" => &["identity_source"],
        "sts_other" | "connect_other" | "config_other" => {
            &["provider", "role", "policy", "user", "identity_source"]
        }
        _ => &[],
    }
}

/// Whether a change can explain the failures: `Some((rank, what))` where rank
/// 3 means its target is exactly one of the failing providers, roles or
/// users, 2 a user differing only in case, and 1 that it is of a kind that
/// can cause the class.
fn relevance(c: &ConfigChange, f: &Failing<'_>) -> Option<(u8, String)> {
    if c.outcome != Outcome::Success || !causing_kinds(f.class).contains(&c.target_type) {
        return None;
    }
    let org_wide = c.event_source == "organizations.amazonaws.com";
    let same_account = c
        .account_id
        .as_deref()
        .is_some_and(|a| f.accounts.contains(a));
    if !(org_wide || same_account) {
        return None;
    }
    let target = c.target.as_deref().unwrap_or("");
    let named = match c.target_type {
        "provider" => f
            .providers
            .iter()
            .find(|p| **p == target || short_name(p) == short_name(target))
            .map(|p| (3, format!("the failing provider {}", short_name(p)))),
        "role" => f
            .roles
            .iter()
            .find(|r| short_name(r) == target)
            .map(|_| (3, format!("the failing role {target}"))),
        "user" if f.people.contains(target) => {
            Some((3, format!("user {target}, a failing session name")))
        }
        "user" => f
            .people
            .iter()
            .find(|p| p.eq_ignore_ascii_case(target))
            .map(|p| {
                (2, format!("user {target}, which differs only in case from the failing session name {p}"))
            }),
        _ => None,
    };
    let what = |s: String| {
        let detail = c
            .detail
            .as_deref()
            .map_or(String::new(), |d| format!(" ({d})"));
        format!("{} of {s}{detail}", c.event_name)
    };
    match named {
        Some((rank, n)) => Some((rank, what(n))),
        None if org_wide => Some((1, what(format!("policy {target} in the organisation")))),
        None => Some((1, what(format!("{} {target}", c.target_type)))),
    }
}

fn linked(c: &ConfigChange, reason: String) -> LinkedChange {
    LinkedChange {
        event_id: c.event_id.clone(),
        event_name: c.event_name.clone(),
        event_time: c.event_time,
        account_id: c.account_id.clone(),
        target: c.target.clone(),
        reason,
    }
}

/// The change most likely to have caused the failures: a relevant change in
/// the `lookback` before the first failure, the best-ranked, then the latest.
pub(crate) fn suspected_cause(
    changes: &[ConfigChange],
    f: &Failing<'_>,
    lookback: Micros,
) -> Option<LinkedChange> {
    changes
        .iter()
        .filter(|c| c.event_time <= f.start && c.event_time >= f.start - lookback)
        .filter_map(|c| relevance(c, f).map(|(rank, what)| (rank, c.event_time, c, what)))
        .max_by_key(|(rank, time, _, _)| (*rank, *time))
        .map(|(_, _, c, what)| {
            let before = human_duration(f.start - c.event_time);
            linked(c, format!("{what}, {before} before the first failure"))
        })
}

/// The change that ended the failures: a relevant change within `slack` of
/// the last failure (before or after it), the best-ranked, then the latest.
pub(crate) fn recovery(
    changes: &[ConfigChange],
    f: &Failing<'_>,
    slack: Micros,
) -> Option<LinkedChange> {
    changes
        .iter()
        .filter(|c| c.event_time > f.start && (c.event_time - f.end).abs() <= slack)
        .filter_map(|c| relevance(c, f).map(|(rank, what)| (rank, c.event_time, c, what)))
        .max_by_key(|(rank, time, _, _)| (*rank, *time))
        .map(|(_, _, c, what)| {
            let after = human_duration(c.event_time - f.start);
            linked(c, format!("{what}, {after} after the first failure"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_MINUTE;

    const MIN: Micros = MICROS_PER_MINUTE;

    fn change(t: Micros, name: &str, kind: &'static str, target: &str) -> ConfigChange {
        ConfigChange {
            event_time: t,
            event_id: Some(format!("{name}-{t}")),
            account_id: Some("111122223333".into()),
            event_source: if kind == "policy" {
                "organizations.amazonaws.com".into()
            } else {
                "iam.amazonaws.com".into()
            },
            event_name: name.into(),
            target: Some(target.into()),
            target_type: kind,
            ..ConfigChange::default()
        }
    }

    fn failing(class: &'static str) -> Failing<'static> {
        Failing {
            class,
            accounts: ["111122223333"].into(),
            providers: ["arn:aws:iam::111122223333:saml-provider/OktaProd"].into(),
            roles: ["arn:aws:iam::111122223333:role/Engineer"].into(),
            people: ["JSmith"].into(),
            start: 100 * MIN,
            end: 200 * MIN,
        }
    }

    #[test]
    fn a_change_to_the_failing_role_beats_a_later_unrelated_one() {
        let changes = [
            change(40 * MIN, "UpdateAssumeRolePolicy", "role", "Engineer"),
            change(90 * MIN, "UpdateAssumeRolePolicy", "role", "Other"),
            change(
                95 * MIN,
                "UpdateSAMLProvider",
                "provider",
                "arn:aws:iam::111122223333:saml-provider/OktaProd",
            ),
        ];
        let cause = suspected_cause(&changes, &failing("trust_policy_denied"), 24 * 60 * MIN)
            .expect("a cause");
        assert_eq!(cause.event_time, 40 * MIN);
        assert!(
            cause.reason.contains("the failing role Engineer"),
            "{}",
            cause.reason
        );
        assert!(cause
            .reason
            .ends_with("1 h 00 min before the first failure"));
    }

    #[test]
    fn changes_of_the_wrong_kind_or_account_or_time_are_not_causes() {
        let mut elsewhere = change(90 * MIN, "UpdateSAMLProvider", "provider", "x");
        elsewhere.account_id = Some("999999999999".into());
        let mut failed = change(90 * MIN, "UpdateSAMLProvider", "provider", "x");
        failed.outcome = Outcome::Failure;
        let changes = [
            elsewhere,
            failed,
            change(95 * MIN, "AttachRolePolicy", "role", "Engineer"),
            change(101 * MIN, "UpdateSAMLProvider", "provider", "x"),
            change(10 * MIN, "UpdateSAMLProvider", "provider", "x"),
        ];
        let f = failing("signature_invalid");
        assert_eq!(suspected_cause(&changes, &f, 60 * MIN), None);
        assert_eq!(
            suspected_cause(&changes, &failing("assertion_expired"), 600 * MIN),
            None
        );
    }

    #[test]
    fn organisation_policies_count_from_any_account_and_recovery_is_near_the_end() {
        let mut attach = change(95 * MIN, "AttachPolicy", "policy", "p-1");
        attach.account_id = Some("555566667777".into());
        let mut update = change(201 * MIN, "UpdatePolicy", "policy", "p-1");
        update.account_id = Some("555566667777".into());
        let early = change(120 * MIN, "UpdatePolicy", "policy", "p-1");
        let changes = [attach, early, update];
        let f = failing("scp_denied");
        let cause = suspected_cause(&changes, &f, 60 * MIN).expect("a cause");
        assert_eq!(cause.event_name, "AttachPolicy");
        let fix = recovery(&changes, &f, 15 * MIN).expect("a recovery");
        assert_eq!(fix.event_time, 201 * MIN);
    }

    #[test]
    fn user_changes_match_session_names_ignoring_case() {
        let changes = [change(90 * MIN, "DeleteUser", "user", "jsmith")];
        let cause = suspected_cause(&changes, &failing("connect_user_not_onboarded"), 60 * MIN)
            .expect("a cause");
        assert!(
            cause.reason.contains("differs only in case"),
            "{}",
            cause.reason
        );
    }
}
