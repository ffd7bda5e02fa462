//! The values that flow between stages: what `classify` makes of a record
//! (a [`FedEvent`] or a [`ConfigChange`]) and what the pipeline records about
//! every input object ([`ObjectReport`]). Plain data, no behaviour beyond
//! naming; `aggregate` and `sinks` consume these.

use std::collections::HashSet;
use std::sync::Arc;

/// Where in the sign-in chain an event sits (TAXONOMY.md, "Stages").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    #[default]
    Sts,
    Signin,
    Connect,
    IdentityCenter,
    Config,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Sts,
        Stage::Signin,
        Stage::Connect,
        Stage::IdentityCenter,
        Stage::Config,
    ];

    /// The stable id used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sts => "sts",
            Stage::Signin => "signin",
            Stage::Connect => "connect",
            Stage::IdentityCenter => "identity_center",
            Stage::Config => "config",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    #[default]
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Microseconds since the Unix epoch, UTC: the unit of every timestamp column.
pub type Micros = i64;

/// A shared, immutable string one pointer wide (`Option<Text>` too). Every
/// kept event is held until the run ends, and most of its strings (roles,
/// providers, user agents, regions) repeat from event to event, so each
/// thread stores each distinct value once ([`shared`]) and events share it.
pub type Text = arcstr::ArcStr;

/// Distinct strings handed out as shared [`Text`]s (or other shared
/// strings, such as `Arc<str>`): the same string asked for twice is stored
/// once.
#[derive(Debug)]
pub struct TextSet<T = Text>(HashSet<T, ahash::RandomState>);

impl<T> Default for TextSet<T> {
    fn default() -> Self {
        TextSet(HashSet::default())
    }
}

thread_local! {
    /// The distinct strings this thread has handed out through [`shared`].
    /// A scan's threads (its worker pool, its S3 runtime) end with the
    /// scan, and this set with them.
    static SHARED: std::cell::RefCell<TextSet> = std::cell::RefCell::new(TextSet::default());
}

/// `s` as a [`Text`] shared with every earlier caller on this thread that
/// asked for the same string: an event's roles, provider, user agent and
/// region, an object's account and region, are nearly always ones seen
/// before.
pub fn shared(s: &str) -> Text {
    SHARED.with_borrow_mut(|set| set.get(s))
}

impl<T> TextSet<T>
where
    T: Clone + Eq + std::hash::Hash + std::borrow::Borrow<str> + for<'a> From<&'a str>,
{
    pub fn get(&mut self, s: &str) -> T {
        if let Some(t) = self.0.get(s) {
            return t.clone();
        }
        let t = T::from(s);
        self.0.insert(t.clone());
        t
    }
}

/// One federation attempt (success or failure): a row of `events/`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FedEvent {
    pub event_time: Micros,
    pub event_id: Option<Text>,
    pub account_id: Option<Text>,
    pub region: Option<Text>,
    pub stage: Stage,
    pub event_source: Text,
    pub event_name: Text,
    pub outcome: Outcome,
    /// `None` for successes; a TAXONOMY.md class id for failures.
    pub failure_class: Option<&'static str>,
    pub error_code: Option<Text>,
    pub error_message: Option<Text>,
    pub role_arn: Option<Text>,
    pub role_name: Option<Text>,
    pub provider_arn: Option<Text>,
    pub provider_name: Option<Text>,
    pub session_name: Option<Text>,
    pub user_name: Option<Text>,
    pub issuer: Option<Text>,
    pub audience: Option<Text>,
    pub duration_seconds: Option<i64>,
    pub connect_instance_id: Option<Text>,
    pub endpoint_type: Option<Text>,
    pub source_ip: Option<Text>,
    pub user_agent: Option<Text>,
    pub source_object: Arc<str>,
}

impl FedEvent {
    pub fn is_failure(&self) -> bool {
        self.outcome == Outcome::Failure
    }
}

/// A configuration change that can explain an outage: a row of `changes.parquet`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigChange {
    pub event_time: Micros,
    pub event_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub event_source: String,
    pub event_name: String,
    /// What was changed: a provider, role or policy ARN/id, a user, a directory.
    pub target: Option<String>,
    /// `provider`, `role`, `policy`, `user` or `identity_source`.
    pub target_type: &'static str,
    /// A short human detail: the provider or policy name, the attach target.
    pub detail: Option<String>,
    pub actor: Option<String>,
    pub outcome: Outcome,
    pub failure_class: Option<&'static str>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source_object: Arc<str>,
}

/// What happened to one input object: a row of `objects.parquet`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectReport {
    /// The source root as the user named it (`sample-logs`, `s3://bucket/prefix`).
    pub source: Arc<str>,
    /// The object's key or path below the source root.
    pub key: Arc<str>,
    /// Size as stored (compressed).
    pub bytes: u64,
    pub records: u64,
    pub federation_records: u64,
    pub change_records: u64,
    pub rejected_records: u64,
    pub status: ObjectStatus,
    /// Why it was skipped or unreadable, or the first rejected record's reason.
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectStatus {
    Ok,
    Skipped,
    Unreadable,
}

impl ObjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectStatus::Ok => "ok",
            ObjectStatus::Skipped => "skipped",
            ObjectStatus::Unreadable => "unreadable",
        }
    }
}
