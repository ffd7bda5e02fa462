//! The user's selection — time window, accounts, regions, organisations — in
//! two forms: [`Filter::admits`] for a record (exact, on `eventTime`), and
//! [`Filter::key_verdict`] for an object key (a cheap, widened pre-check so
//! that objects which cannot hold a selected record are never read).

use crate::model::Micros;
use crate::source::layout::{KeyInfo, LogKind};
use crate::time::MICROS_PER_MINUTE;

/// Events are written before their log file's name time; a file named a
/// little before the window can still hold nothing in it, but clock and
/// batching jitter make a small early margin worth its cost.
const EARLY_MARGIN: Micros = 15 * MICROS_PER_MINUTE;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Inclusive start, on `eventTime`.
    pub start: Option<Micros>,
    /// Exclusive end, on `eventTime`.
    pub end: Option<Micros>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub org_ids: Vec<String>,
    /// How long after `end` a log file may still deliver events of the window.
    pub late_slack: Micros,
}

impl Filter {
    /// Whether a time falls inside the window.
    pub fn in_window(&self, time: Micros) -> bool {
        self.start.is_none_or(|s| time >= s) && self.end.is_none_or(|e| time < e)
    }

    /// Whether a record with this time, account and region is selected.
    pub fn admits(&self, time: Micros, account: Option<&str>, region: Option<&str>) -> bool {
        self.in_window(time)
            && admits_value(&self.accounts, account)
            && admits_value(&self.regions, region)
    }

    /// Why an object should not be read, judged from its key alone; `None`
    /// means read it.
    pub fn key_verdict(&self, info: &KeyInfo) -> Option<String> {
        match info.kind {
            LogKind::Digest => {
                return Some("CloudTrail digest object: integrity hashes, no API records".into())
            }
            LogKind::Insight => return Some("CloudTrail Insights object: no API records".into()),
            LogKind::Trail => {}
        }
        if !admits_value(&self.accounts, Some(&info.account)) {
            return Some(format!("account {} not selected (--account)", info.account));
        }
        if !admits_value(&self.regions, info.region.as_deref()) {
            return Some(format!(
                "region {} not selected (--region)",
                info.region.as_deref().unwrap_or("?")
            ));
        }
        if !self.org_ids.is_empty() && !admits_value(&self.org_ids, info.org_id.as_deref()) {
            return Some(format!(
                "organisation {} not selected (--org-id)",
                info.org_id.as_deref().unwrap_or("(none)")
            ));
        }
        let written = info.file_time?;
        if self.start.is_some_and(|s| written < s - EARLY_MARGIN) {
            return Some("log file written before the window opens".into());
        }
        if self.end.is_some_and(|e| written > e + self.late_slack) {
            return Some(format!(
                "log file written after the window closes plus {} min of late-delivery slack",
                self.late_slack / MICROS_PER_MINUTE
            ));
        }
        None
    }
}

/// An empty selection admits everything; otherwise the value must be listed
/// (a record without the value is not admitted).
fn admits_value(selected: &[String], value: Option<&str>) -> bool {
    selected.is_empty() || value.is_some_and(|v| selected.iter().any(|s| s == v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::layout::parse_key;
    use crate::time::{parse_timestamp, MICROS_PER_HOUR};

    fn t(text: &str) -> Micros {
        parse_timestamp(text).unwrap()
    }

    fn window() -> Filter {
        Filter {
            start: Some(t("2026-05-26T06:00Z")),
            end: Some(t("2026-05-26T12:00Z")),
            accounts: vec!["111122223333".into()],
            late_slack: MICROS_PER_HOUR,
            ..Filter::default()
        }
    }

    fn key(account: &str, stamp: &str) -> KeyInfo {
        parse_key(&format!(
            "AWSLogs/{account}/CloudTrail/us-east-1/2026/05/26/{account}_CloudTrail_us-east-1_{stamp}_r.json.gz"
        ))
        .unwrap()
    }

    #[test]
    fn records_are_judged_on_event_time() {
        let f = window();
        assert!(f.admits(
            t("2026-05-26T06:00Z"),
            Some("111122223333"),
            Some("us-east-1")
        ));
        assert!(
            !f.admits(t("2026-05-26T12:00Z"), Some("111122223333"), None),
            "end is exclusive"
        );
        assert!(!f.admits(t("2026-05-26T05:59Z"), Some("111122223333"), None));
        assert!(!f.admits(t("2026-05-26T07:00Z"), Some("999988887777"), None));
        assert!(
            !f.admits(t("2026-05-26T07:00Z"), None, None),
            "unknown account is not selected"
        );
        assert!(Filter::default().admits(0, None, None));
    }

    #[test]
    fn keys_are_pruned_with_slack() {
        let f = window();
        assert_eq!(f.key_verdict(&key("111122223333", "20260526T0805Z")), None);
        assert_eq!(
            f.key_verdict(&key("111122223333", "20260526T1255Z")),
            None,
            "late delivery"
        );
        assert_eq!(
            f.key_verdict(&key("111122223333", "20260526T0550Z")),
            None,
            "early margin"
        );
        assert!(f
            .key_verdict(&key("111122223333", "20260526T1305Z"))
            .unwrap()
            .contains("after the window"));
        assert!(f
            .key_verdict(&key("111122223333", "20260526T0500Z"))
            .unwrap()
            .contains("before the window"));
        assert!(f
            .key_verdict(&key("999988887777", "20260526T0805Z"))
            .unwrap()
            .contains("--account"));
    }
}
