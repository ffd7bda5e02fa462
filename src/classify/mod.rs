//! Classify: one parsed CloudTrail record in, one verdict out — a federation
//! event ([`FedEvent`]), a configuration change ([`ConfigChange`]), or
//! [`Classified::Ignored`]. Pure and synchronous: no I/O, no clock, no state,
//! so `pipeline` runs it on any rayon worker. The failure classes come from the
//! rule table in [`taxonomy`]; the forgiving field reads from [`json`].

pub mod json;
pub mod taxonomy;

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{shared, ConfigChange, FedEvent, Outcome, Stage, Text};
use crate::time::parse_timestamp;
use json::{Record, Value};
use taxonomy::{classify_failure, FailureFacts};

/// What a record turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    Event(Box<FedEvent>),
    Change(Box<ConfigChange>),
    /// Not a federation event nor a change of interest (most records).
    Ignored,
}

/// Why a record could not be used. The object it came from is still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is not a JSON object")]
    NotObject,
    #[error("record has no {0} string")]
    Missing(&'static str),
    #[error("eventTime {0:?} is not a timestamp")]
    BadTime(String),
    #[error("record is {0} bytes, over the {MAX_RECORD_MIB} MiB fedtrail reads in one record")]
    TooLarge(usize),
}

/// The largest record fedtrail reads, in MiB. CloudTrail's own records are
/// far smaller; anything this size is not an API call worth parsing.
pub const MAX_RECORD_MIB: usize = 10;

/// Where a record came from: the object's display name, and the account the
/// key layout names (used when the record itself carries none).
#[derive(Debug, Clone)]
pub struct Origin {
    pub object: Arc<str>,
    pub account: Option<Text>,
}

/// The kinds of record fedtrail keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Federation(Stage),
    Change(&'static str),
}

/// Role-policy changes are kept only for roles seen in federation events
/// (`aggregate` applies that filter once every event is known).
pub const ROLE_POLICY_EVENTS: &[&str] = &[
    "PutRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "DeleteRolePolicy",
];

const IDC_EVENTS: &[&str] = &[
    "ExternalIdPDirectoryLogin",
    "CredentialVerification",
    "UserAuthentication",
];

const IDENTITY_SOURCE_EVENTS: &[&str] = &[
    "AssociateDirectory",
    "DisassociateDirectory",
    "CreateExternalIdPConfigurationForDirectory",
    "UpdateExternalIdPConfigurationForDirectory",
    "DeleteExternalIdPConfigurationForDirectory",
    "EnableExternalIdPConfigurationForDirectory",
    "DisableExternalIdPConfigurationForDirectory",
];

/// Federation and change events `kind_of` keeps that are not in the lists
/// above.
const OTHER_KEPT_EVENTS: &[&str] = &[
    "AssumeRoleWithSAML",
    "ConsoleLogin",
    "GetFederationToken",
    "CreateSAMLProvider",
    "UpdateSAMLProvider",
    "DeleteSAMLProvider",
    "UpdateAssumeRolePolicy",
    "UpdateRole",
    "CreatePolicy",
    "UpdatePolicy",
    "AttachPolicy",
    "DetachPolicy",
    "DeletePolicy",
    "CreateUser",
    "DeleteUser",
    "UpdateUserIdentityInfo",
];

/// Every event name `kind_of` can keep, for sources that must ask for
/// events by name (CloudTrail LookupEvents).
pub fn kept_event_names() -> Vec<&'static str> {
    [
        OTHER_KEPT_EVENTS,
        IDC_EVENTS,
        ROLE_POLICY_EVENTS,
        IDENTITY_SOURCE_EVENTS,
    ]
    .concat()
}

/// Decides from source and name alone (plus, for console sign-ins, whether
/// the principal is federated) whether fedtrail keeps a record. The traps of
/// TAXONOMY.md live here: STS's own `GetFederationToken`,
/// `AssumeRoleWithWebIdentity`, IAM-user console logins and other Connect
/// APIs all answer `None`.
fn kind_of(source: &str, name: &str, record: &Record<'_, '_>) -> Option<Kind> {
    match rule(source, name)? {
        Rule::Keep(kind) => Some(kind),
        Rule::IfSaml => is_saml_principal(record).then_some(Kind::Federation(Stage::Signin)),
    }
}

/// Whether [`classify`] can keep a record with this `eventSource` and
/// `eventName` whose JSON text is `text`: when not, it ignores the record
/// whatever else it holds, so the [`prescan`](crate::prescan) need not
/// parse it. A console sign-in is kept for a SAML principal only
/// ([`is_saml_principal`]), whose text names `SAMLUser` or
/// `SamlProviderArn`; one that names neither, and has no escape that could
/// spell either, is an IAM user's or root's.
pub fn may_keep(source: &str, name: &str, text: &[u8]) -> bool {
    match rule(source, name) {
        None => false,
        Some(Rule::Keep(_)) => true,
        Some(Rule::IfSaml) => {
            use memchr::memmem::Finder;
            use std::sync::LazyLock;
            // Made once: making a finder costs more than its search.
            static WORDS: LazyLock<[Finder<'static>; 2]> =
                LazyLock::new(|| [Finder::new("SAMLUser"), Finder::new("SamlProviderArn")]);
            memchr::memchr(b'\\', text).is_some()
                || WORDS.iter().any(|word| word.find(text).is_some())
        }
    }
}

/// Whether [`classify`] can keep a record named `name` whose JSON text is
/// `text`, whatever its source: [`may_keep`] for one of the sources
/// [`rule`] keeps records from. The prescan asks this rather than
/// `may_keep`: finding each record's `eventSource` as well as its
/// `eventName` cost it more than parsing the few records whose name is
/// kept only from another source than theirs (STS's own
/// `GetFederationToken`, IAM's `CreateUser`).
pub fn may_keep_named(name: &str, text: &[u8]) -> bool {
    KEEPING_SOURCES
        .iter()
        .any(|source| may_keep(source, name, text))
}

/// Every source [`rule`] keeps records from.
const KEEPING_SOURCES: &[&str] = &[
    "sts.amazonaws.com",
    "signin.amazonaws.com",
    "connect.amazonaws.com",
    "iam.amazonaws.com",
    "organizations.amazonaws.com",
    "sso.amazonaws.com",
    "sso-directory.amazonaws.com",
];

/// What a record's source and name alone say about keeping it.
enum Rule {
    Keep(Kind),
    /// A console sign-in: kept when the principal is federated.
    IfSaml,
}

/// The part of [`kind_of`] that needs the record's source and name only.
fn rule(source: &str, name: &str) -> Option<Rule> {
    let kind = match (source, name) {
        ("sts.amazonaws.com", "AssumeRoleWithSAML") => Kind::Federation(Stage::Sts),
        ("signin.amazonaws.com", "ConsoleLogin") => return Some(Rule::IfSaml),
        ("connect.amazonaws.com", "GetFederationToken") => Kind::Federation(Stage::Connect),
        ("signin.amazonaws.com" | "sso.amazonaws.com", n) if IDC_EVENTS.contains(&n) => {
            Kind::Federation(Stage::IdentityCenter)
        }
        (
            "iam.amazonaws.com",
            "CreateSAMLProvider" | "UpdateSAMLProvider" | "DeleteSAMLProvider",
        ) => Kind::Change("provider"),
        ("iam.amazonaws.com", "UpdateAssumeRolePolicy" | "UpdateRole") => Kind::Change("role"),
        ("iam.amazonaws.com", n) if ROLE_POLICY_EVENTS.contains(&n) => Kind::Change("role"),
        (
            "organizations.amazonaws.com",
            "CreatePolicy" | "UpdatePolicy" | "AttachPolicy" | "DetachPolicy" | "DeletePolicy",
        ) => Kind::Change("policy"),
        ("connect.amazonaws.com", "CreateUser" | "DeleteUser" | "UpdateUserIdentityInfo") => {
            Kind::Change("user")
        }
        ("sso.amazonaws.com" | "sso-directory.amazonaws.com", n)
            if IDENTITY_SOURCE_EVENTS.contains(&n) =>
        {
            Kind::Change("identity_source")
        }
        _ => return None,
    };
    Some(Rule::Keep(kind))
}

/// A console sign-in is a SAML federation when it names the SAML provider or
/// the principal is a SAML user; an IAM user's or root's login is not.
fn is_saml_principal(record: &Record<'_, '_>) -> bool {
    record
        .str(&["additionalEventData", "SamlProviderArn"])
        .is_some()
        || record.str(&["userIdentity", "type"]) == Some("SAMLUser")
}

/// Classifies one record. Only records fedtrail keeps are checked for a
/// usable `eventTime`; every other record is [`Classified::Ignored`] after
/// one pass over its top-level keys ([`Record::of`]) and two string reads.
pub fn classify(record: &Value<'_, '_>, origin: &Origin) -> Result<Classified, RecordError> {
    let record = &Record::of(*record).ok_or(RecordError::NotObject)?;
    let source = record
        .str(&["eventSource"])
        .ok_or(RecordError::Missing("eventSource"))?;
    let name = record
        .str(&["eventName"])
        .ok_or(RecordError::Missing("eventName"))?;
    let Some(kind) = kind_of(source, name, record) else {
        return Ok(Classified::Ignored);
    };
    // An Insights event names the API call whose rate it describes; it is
    // not that call.
    if record.str(&["eventType"]) == Some("AwsCloudTrailInsight") {
        return Ok(Classified::Ignored);
    }
    let time_text = record
        .str(&["eventTime"])
        .ok_or(RecordError::Missing("eventTime"))?;
    let time =
        parse_timestamp(time_text).ok_or_else(|| RecordError::BadTime(time_text.to_string()))?;
    let common = Common::read(record, source, name, time, origin);
    Ok(match kind {
        Kind::Federation(stage) => {
            Classified::Event(Box::new(federation_event(record, stage, common)))
        }
        Kind::Change(target_type) => {
            Classified::Change(Box::new(config_change(record, target_type, common)))
        }
    })
}

/// The fields every kept record shares, read in place from the record (or
/// the object it came from): an event's strings are copied once, into the
/// run's shared set, not first into strings of their own.
struct Common<'a> {
    time: i64,
    event_id: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    source: &'a str,
    name: &'a str,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    object: Arc<str>,
}

impl<'a> Common<'a> {
    fn read(
        record: &Record<'_, 'a>,
        source: &'a str,
        name: &'a str,
        time: i64,
        origin: &'a Origin,
    ) -> Common<'a> {
        let error_message = record.str(&["errorMessage"]);
        let error_code = record
            .str(&["errorCode"])
            .or_else(|| error_message.and_then(code_from_message_tail));
        Common {
            time,
            event_id: record.str(&["eventID"]),
            account_id: record
                .str(&["recipientAccountId"])
                .or_else(|| record.str(&["userIdentity", "accountId"]))
                .or(origin.account.as_deref()),
            region: record.str(&["awsRegion"]),
            source,
            name,
            error_code,
            error_message,
            object: origin.object.clone(),
        }
    }
}

/// Recovers `X` from a Java-SDK style tail `(... Error Code: X; Request ID: ...)`.
fn code_from_message_tail(message: &str) -> Option<&str> {
    let rest = &message[message.find("Error Code: ")? + "Error Code: ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn is_failure(record: &Record<'_, '_>, stage: Stage, name: &str, common: &Common) -> bool {
    if common.error_code.is_some() || common.error_message.is_some() {
        return true;
    }
    match stage {
        Stage::Signin | Stage::IdentityCenter => {
            record.str(&["responseElements", name]) == Some("Failure")
                || record.str(&["serviceEventDetails", name]) == Some("Failure")
        }
        _ => false,
    }
}

fn federation_event(record: &Record<'_, '_>, stage: Stage, c: Common) -> FedEvent {
    let failed = is_failure(record, stage, c.name, &c);
    let failure_class = failed.then(|| {
        classify_failure(FailureFacts {
            stage,
            event_name: c.name,
            error_code: c.error_code,
            error_message: c.error_message,
        })
    });
    let message = c.error_message;
    let assumed = record
        .str(&["responseElements", "assumedRoleUser", "arn"])
        .or_else(|| {
            record
                .str(&["userIdentity", "arn"])
                .filter(|a| a.contains(":assumed-role/"))
        })
        .and_then(AssumedRole::parse);
    let role_arn = record
        .str(&["requestParameters", "roleArn"])
        .or_else(|| record.resource_arn("AWS::IAM::Role"))
        .or_else(|| message.and_then(|m| arn_in_text(m, ":role/")))
        .or_else(|| {
            record
                .str(&["userIdentity", "sessionContext", "sessionIssuer", "arn"])
                .filter(|a| a.contains(":role/"))
        })
        .map(Cow::Borrowed)
        .or_else(|| assumed.as_ref().map(|a| Cow::Owned(a.role_arn())));
    let provider_arn = record
        .str(&["requestParameters", "principalArn"])
        .or_else(|| record.resource_arn("AWS::IAM::SAMLProvider"))
        .or_else(|| record.str(&["additionalEventData", "SamlProviderArn"]))
        .or_else(|| message.and_then(|m| arn_in_text(m, ":saml-provider/")));
    let session_name = record
        .str(&["requestParameters", "roleSessionName"])
        .or_else(|| assumed.as_ref().map(|a| a.session));
    let user_name = record
        .str(&["userIdentity", "userName"])
        .or_else(|| record.str(&["additionalEventData", "UserName"]))
        .or_else(|| record.str(&["responseElements", "subject"]));
    let connect_instance_id = record
        .str(&["requestParameters", "InstanceId"])
        .or_else(|| record.str(&["requestParameters", "instanceId"]))
        .map(connect_instance_id);
    let text = |s: Option<&str>| s.map(shared);
    FedEvent {
        event_time: c.time,
        // Unique to the event: not worth a place in the shared set.
        event_id: c.event_id.map(Text::from),
        account_id: text(c.account_id),
        region: text(c.region),
        stage,
        event_source: shared(c.source),
        event_name: shared(c.name),
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        failure_class,
        role_name: role_arn.as_deref().map(|a| shared(last_segment(a))),
        role_arn: text(role_arn.as_deref()),
        provider_name: provider_arn.map(|a| shared(last_segment(a))),
        provider_arn: text(provider_arn),
        session_name: text(session_name),
        user_name: text(user_name),
        issuer: text_at(record, &["responseElements", "issuer"]),
        audience: text_at(record, &["responseElements", "audience"]),
        duration_seconds: record.int(&["requestParameters", "durationSeconds"]),
        connect_instance_id: text(connect_instance_id.as_deref()),
        endpoint_type: text_at(
            record,
            &["additionalEventData", "RequestDetails", "endpointType"],
        ),
        source_ip: text_at(record, &["sourceIPAddress"]),
        user_agent: text_at(record, &["userAgent"]),
        error_code: text(c.error_code),
        error_message: text(c.error_message),
        source_object: c.object,
    }
}

/// A non-empty string at `path`, [`shared`].
fn text_at(record: &Record<'_, '_>, path: &[&str]) -> Option<Text> {
    record.str(path).map(shared)
}

fn config_change(record: &Record<'_, '_>, target_type: &'static str, c: Common) -> ConfigChange {
    let failed = c.error_code.is_some() || c.error_message.is_some();
    let failure_class = failed.then(|| {
        classify_failure(FailureFacts {
            stage: Stage::Config,
            event_name: c.name,
            error_code: c.error_code,
            error_message: c.error_message,
        })
    });
    let (target, detail) = change_target(record, &c);
    let actor = record
        .string(&["userIdentity", "arn"])
        .or_else(|| record.string(&["userIdentity", "invokedBy"]))
        .or_else(|| record.string(&["userIdentity", "principalId"]))
        .or_else(|| record.string(&["userIdentity", "type"]));
    let owned = |s: Option<&str>| s.map(str::to_owned);
    ConfigChange {
        event_time: c.time,
        event_id: owned(c.event_id),
        account_id: owned(c.account_id),
        region: owned(c.region),
        event_source: c.source.to_owned(),
        event_name: c.name.to_owned(),
        target,
        target_type,
        detail,
        actor,
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        failure_class,
        error_code: owned(c.error_code),
        error_message: owned(c.error_message),
        source_object: c.object,
    }
}

/// What a change touched (`target`, the key incidents link on) and a short
/// human detail.
fn change_target(record: &Record<'_, '_>, c: &Common) -> (Option<String>, Option<String>) {
    let req = |k: &str| record.string(&["requestParameters", k]);
    match c.name {
        "CreateSAMLProvider" | "UpdateSAMLProvider" | "DeleteSAMLProvider" => {
            let named = req("name");
            let arn = req("sAMLProviderArn")
                .or_else(|| record.string(&["responseElements", "sAMLProviderArn"]))
                .or_else(|| {
                    let (account, name) = (c.account_id?, named.as_deref()?);
                    Some(format!("arn:aws:iam::{account}:saml-provider/{name}"))
                });
            (arn, named)
        }
        "CreatePolicy" | "UpdatePolicy" | "DeletePolicy" | "AttachPolicy" | "DetachPolicy" => {
            let summary = ["responseElements", "policy", "policySummary"];
            let id = req("policyId")
                .or_else(|| record.string(&[summary[0], summary[1], summary[2], "id"]));
            let detail = match req("targetId") {
                Some(t) if c.name == "AttachPolicy" => Some(format!("attached to {t}")),
                Some(t) if c.name == "DetachPolicy" => Some(format!("detached from {t}")),
                _ => req("name")
                    .or_else(|| record.string(&[summary[0], summary[1], summary[2], "name"])),
            };
            (id.or_else(|| req("name")), detail)
        }
        "CreateUser" | "DeleteUser" | "UpdateUserIdentityInfo" => {
            let user = req("Username").or_else(|| req("UserId"));
            let instance = record
                .str(&["requestParameters", "InstanceId"])
                .map(connect_instance_id);
            (user, instance.map(|i| format!("Connect instance {i}")))
        }
        _ if ROLE_POLICY_EVENTS.contains(&c.name)
            || matches!(c.name, "UpdateAssumeRolePolicy" | "UpdateRole") =>
        {
            let detail = req("policyArn").or_else(|| req("policyName")).or_else(|| {
                record
                    .int(&["requestParameters", "maxSessionDuration"])
                    .map(|d| format!("maxSessionDuration {d}"))
            });
            (req("roleName"), detail)
        }
        _ => {
            let dir = req("directoryId").or_else(|| req("instanceArn"));
            (dir, None)
        }
    }
}

/// The parts of an STS assumed-role ARN
/// (`arn:aws:sts::123456789012:assumed-role/RoleName/session`).
struct AssumedRole<'a> {
    partition: &'a str,
    account: &'a str,
    role: &'a str,
    session: &'a str,
}

impl<'a> AssumedRole<'a> {
    fn parse(arn: &'a str) -> Option<AssumedRole<'a>> {
        let mut parts = arn.splitn(6, ':');
        let (_, partition, _, _, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let rest = resource.strip_prefix("assumed-role/")?;
        let (role, session) = rest.split_once('/')?;
        Some(AssumedRole {
            partition,
            account,
            role,
            session,
        })
    }

    /// The IAM role ARN (without its path, which assumed-role ARNs drop).
    fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account, self.role
        )
    }
}

/// The first ARN in free text whose resource contains `marker`
/// (`... on resource: arn:aws:iam::1:role/X`).
fn arn_in_text<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut rest = text;
    while let Some(at) = rest.find("arn:aws") {
        let candidate: &str = rest[at..]
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ')' | '(' | '"' | '\''))
            .next()
            .unwrap_or_default();
        let candidate = candidate.trim_end_matches('.');
        if candidate.contains(marker) {
            return Some(candidate);
        }
        rest = &rest[at + "arn:aws".len()..];
    }
    None
}

/// The last `/`-separated segment of an ARN (role or provider name).
fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A Connect instance id from either a bare id or a (possibly URL-encoded)
/// instance ARN.
fn connect_instance_id(raw: &str) -> String {
    let decoded = percent_decode(raw);
    match decoded.split_once("instance/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => decoded,
    }
}

/// Decodes `%XX` escapes; malformed escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_kept_is_listed_for_lookup() {
        const SOURCES: &[&str] = KEEPING_SOURCES;
        let tape_text =
            br#"{"additionalEventData": {"SamlProviderArn": "arn:aws:iam::1:saml-provider/X"}}"#;
        let mut text = tape_text.to_vec();
        let tape = simd_json::to_tape(&mut text).unwrap();
        let saml = Record::of(tape.as_value()).unwrap();
        let names = kept_event_names();
        assert_eq!(names.len(), 30, "every name once");
        for name in &names {
            let keeps = |s: &&str| kind_of(s, name, &saml).is_some();
            assert!(SOURCES.iter().any(keeps), "{name} is listed but never kept");
            for source in SOURCES.iter().chain(&["s3.amazonaws.com"]) {
                let may = may_keep(source, name, tape_text);
                assert_eq!(may, keeps(source), "{source} {name}");
            }
            // The prescan's question: some source's record with it is kept.
            assert!(may_keep_named(name, tape_text), "{name}");
        }
        assert!(may_keep("connect.amazonaws.com", "GetFederationToken", b""));
        assert!(!may_keep("sts.amazonaws.com", "GetFederationToken", b""));
        assert!(may_keep_named("GetFederationToken", b""));
        assert!(!may_keep_named("ConsoleLogin", b"{}"));
        assert!(!may_keep_named("GetObject", tape_text));
        let kept = [
            "ExternalIdPDirectoryLogin",
            "DeleteRolePolicy",
            "DisableExternalIdPConfigurationForDirectory",
        ];
        for name in kept {
            assert!(names.contains(&name));
        }
    }

    /// A console sign-in is left unparsed only when its text names no SAML
    /// principal; whatever `classify` keeps, `may_keep` lets through.
    #[test]
    fn a_console_sign_in_may_be_kept_only_when_its_text_may_name_saml() {
        let origin = Origin {
            object: "test".into(),
            account: None,
        };
        let login = |identity: &str, extra: &str| {
            format!(
                r#"{{"eventVersion":"1.05","userIdentity":{{{identity}}},"eventTime":"2026-05-25T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","responseElements":{{"ConsoleLogin":"Success"}}{extra}}}"#
            )
        };
        let iam = r#""type":"IAMUser","accountId":"111122223333","userName":"alice""#;
        let saml = r#""type":"SAMLUser","principalId":"X:alice","userName":"alice""#;
        let escaped = r#""type":"SAML\u0055ser","principalId":"X:alice","userName":"alice""#;
        let arn = r#","additionalEventData":{"SamlProviderArn":"arn:aws:iam::111122223333:saml-provider/Okta"}"#;
        for (text, kept) in [
            (login(iam, ""), false),
            (
                login(r#""type":"Root","accountId":"111122223333""#, ""),
                false,
            ),
            (login(saml, ""), true),
            (login(escaped, ""), true),
            (login(iam, arn), true),
        ] {
            let mut bytes = text.clone().into_bytes();
            let tape = simd_json::to_tape(&mut bytes).unwrap();
            let verdict = classify(&tape.as_value(), &origin).unwrap();
            assert_eq!(matches!(verdict, Classified::Event(_)), kept, "{text}");
            let may = may_keep("signin.amazonaws.com", "ConsoleLogin", text.as_bytes());
            assert_eq!(may, kept, "{text}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(
            connect_instance_id("arn%3Aaws%3Aconnect%3Aus-east-1%3A768637739934%3Ainstance%2Fbd16d991-11c8-4d1e-9900-edd5ed4a9b21"),
            "bd16d991-11c8-4d1e-9900-edd5ed4a9b21"
        );
        assert_eq!(connect_instance_id("bd16d991-11c8"), "bd16d991-11c8");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            arn_in_text(
                "Not authorized to perform sts:AssumeRoleWithSAML on resource: arn:aws:iam::1:role/X. (Service: STS)",
                ":role/"
            ),
            Some("arn:aws:iam::1:role/X")
        );
        assert_eq!(arn_in_text("no arn here", ":role/"), None);
        assert_eq!(
            code_from_message_tail("Bad (Service: AWSSecurityTokenService; Status Code: 400; Error Code: InvalidIdentityToken; Request ID: 1)"),
            Some("InvalidIdentityToken")
        );
        let a =
            AssumedRole::parse("arn:aws:sts::604384964611:assumed-role/NAM-EC2User/bob").unwrap();
        assert_eq!(a.role_arn(), "arn:aws:iam::604384964611:role/NAM-EC2User");
        assert_eq!(a.session, "bob");
        assert!(AssumedRole::parse("arn:aws:iam::1:user/x").is_none());
    }
}
