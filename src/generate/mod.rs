//! `fedtrail generate`: a deterministic synthetic CloudTrail corpus in the
//! real key layout, for the bundled `sample-logs/`, tests and benchmarks.
//!
//! The world: an organisation with a corporate account federated through
//! Okta, a contact-centre account and a new Sydney contact-centre account
//! federated through Azure AD into Amazon Connect, an IAM Identity Center
//! account, and a management account. Most records are other services'
//! everyday calls; some are traps that look like federation and are not.
//! Every failure class appears a few times as background; three outages
//! (see [`Scenario`]) run on top, each with the change that caused it and
//! the change that ended it.

mod records;
mod rng;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

use crate::classify::taxonomy::CLASSES;
use crate::cli::GenerateArgs;
use crate::time::{
    format_micros, parse_timestamp, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND,
};
use records::{Federation, Rec, StsError};
use rng::Rng;

/// A known outage the generator can play out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// The IdP's signing certificate is rotated; every Okta sign-in fails
    /// with `signature_invalid` until `UpdateSAMLProvider` uploads new metadata
    /// (one failed upload first: a BOM in the metadata).
    CertRotation,
    /// Connect usernames are migrated to lower case while the IdP still sends
    /// mixed-case `RoleSessionName`s: those agents get `UserNotFoundException`
    /// until the IdP lower-cases the claim.
    ConnectLowercase,
    /// A region allow-list SCP is attached to the OU of the new Sydney
    /// account: STS in ap-southeast-2 is denied there until the SCP is updated.
    ScpNewRegion,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::CertRotation,
        Scenario::ConnectLowercase,
        Scenario::ScpNewRegion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::CertRotation => "cert-rotation",
            Scenario::ConnectLowercase => "connect-lowercase",
            Scenario::ScpNewRegion => "scp-new-region",
        }
    }
}

/// A validated `generate` request.
#[derive(Debug, Clone)]
pub struct Spec {
    pub events: u64,
    pub seed: u64,
    pub scenarios: Vec<Scenario>,
    pub records_per_object: u64,
    /// Share of moments that are ordinary API calls, not sign-ins.
    pub noise_share: f64,
    /// Midnight UTC of the first day.
    pub start: i64,
    pub days: u32,
    pub bad_objects: bool,
}

impl TryFrom<&GenerateArgs> for Spec {
    type Error = anyhow::Error;

    fn try_from(args: &GenerateArgs) -> anyhow::Result<Spec> {
        let mut scenarios = Vec::new();
        for name in &args.scenarios {
            match name.as_str() {
                "none" => {}
                "all" => scenarios.extend(Scenario::ALL),
                other => scenarios.push(
                    Scenario::ALL
                        .into_iter()
                        .find(|s| s.name() == other)
                        .ok_or_else(|| anyhow::anyhow!("--scenario {other:?} is unknown; choose cert-rotation, connect-lowercase, scp-new-region, all or none"))?,
                ),
            }
        }
        if args.scenarios.is_empty() {
            scenarios.extend(Scenario::ALL);
        }
        scenarios.sort();
        scenarios.dedup();
        let start = parse_timestamp(&args.start)
            .filter(|t| t % (24 * MICROS_PER_HOUR) == 0)
            .ok_or_else(|| {
                anyhow::anyhow!("--start {:?} is not a date such as 2026-05-25", args.start)
            })?;
        anyhow::ensure!(args.days >= 1, "--days must be at least 1");
        anyhow::ensure!(
            scenarios.is_empty() || args.days >= 3,
            "the outage scenarios play out over three days: use --days 3 or more, or --scenario none"
        );
        anyhow::ensure!(args.events >= 1, "--events must be at least 1");
        anyhow::ensure!(
            args.records_per_object >= 1,
            "--records-per-object must be at least 1"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&args.noise_share),
            "--noise-share must be between 0 and 1, such as 0.99"
        );
        Ok(Spec {
            events: args.events,
            noise_share: args.noise_share,
            seed: args.seed,
            scenarios,
            records_per_object: args.records_per_object,
            start,
            days: args.days,
            bad_objects: args.bad_objects,
        })
    }
}

/// What `generate` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub records: u64,
    pub objects: u64,
    pub bytes: u64,
}

const ORG: &str = "o-7h2k9x4m1q";
const CORP: Federation = Federation {
    account: "111122223333",
    provider: "OktaProd",
    issuer: "http://www.okta.com/exk7fedtrail0prod",
    version: "1.08",
};
const CONTACT: Federation = Federation {
    account: "222233334444",
    provider: "AzureAD",
    issuer: "https://sts.windows.net/5f2c1d3e-7a8b-4c9d-9e0f-1a2b3c4d5e6f/",
    version: "1.09",
};
const SYDNEY: Federation = Federation {
    account: "333344445555",
    provider: "AzureAD",
    issuer: "https://sts.windows.net/5f2c1d3e-7a8b-4c9d-9e0f-1a2b3c4d5e6f/",
    version: "1.11",
};
const IDC_ACCOUNT: &str = "444455556666";
const MGMT_ACCOUNT: &str = "555566667777";
const CONTACT_INSTANCE: &str = "4f8c2a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b";
const SYDNEY_INSTANCE: &str = "9d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a";
const ENGINEER_ROLES: &[&str] = &["Admin", "ReadOnly", "Developer"];
const SCP_ID: &str = "p-4xregionlock";

const FIRST: &[&str] = &[
    "James", "Maria", "Wei", "Aisha", "Lucas", "Priya", "Tom", "Elena", "Kofi", "Yuki", "Omar",
    "Sara", "Diego", "Hana", "Ivan",
];
const LAST: &[&str] = &[
    "Doe", "Garcia", "Chen", "Khan", "Silva", "Patel", "Brown", "Rossi", "Mensah", "Sato",
    "Haddad", "Berg", "Lopez", "Kim", "Petrov",
];

/// An agent's Connect username (`jdoe`), and whether the IdP sends it in
/// mixed case (`JDoe`) — the agents the lower-case migration locks out.
struct Agent {
    lower: String,
    mixed: String,
    mixed_case_claim: bool,
}

fn agents(n: usize) -> Vec<Agent> {
    (0..n)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let suffix = if i >= FIRST.len() * LAST.len() {
                format!("{i}")
            } else {
                String::new()
            };
            let mixed = format!("{}{last}{suffix}", &first[..1]);
            Agent {
                lower: mixed.to_lowercase(),
                mixed,
                mixed_case_claim: i % 5 == 2,
            }
        })
        .collect()
}

/// The scenario clock, relative to the corpus start.
struct Timeline {
    start: i64,
    cert: Option<(i64, i64)>,
    lowercase: Option<(i64, i64)>,
    scp: Option<(i64, i64)>,
    sydney_live: i64,
}

impl Timeline {
    fn new(spec: &Spec) -> Timeline {
        let day = 24 * MICROS_PER_HOUR;
        let at = |d: i64, h: i64, m: i64| {
            spec.start + d * day + h * MICROS_PER_HOUR + m * MICROS_PER_MINUTE
        };
        let on = |s: Scenario| spec.scenarios.contains(&s);
        Timeline {
            start: spec.start,
            cert: on(Scenario::CertRotation).then(|| (at(1, 8, 0), at(1, 11, 5))),
            lowercase: on(Scenario::ConnectLowercase).then(|| (at(1, 13, 10), at(1, 17, 30))),
            scp: on(Scenario::ScpNewRegion).then(|| (at(2, 2, 0), at(2, 5, 40))),
            sydney_live: at(2, 0, 0).min(spec.start + i64::from(spec.days) * day / 2),
        }
    }

    fn within(window: Option<(i64, i64)>, t: i64) -> bool {
        window.is_some_and(|(a, b)| t >= a && t < b)
    }
}

/// Writes the corpus under `out` (which must be absent or empty).
pub fn write_corpus(out: &Path, spec: &Spec) -> anyhow::Result<Written> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty; generate writes into an empty or new folder",
            out.display()
        );
    }
    std::fs::create_dir_all(out)?;
    let mut sink = ObjectWriter::new(out, spec);
    let mut rng = Rng::new(spec.seed);
    let timeline = Timeline::new(spec);
    let agents = agents(60);
    let span = i64::from(spec.days) * 24 * MICROS_PER_HOUR;
    let mut fixed = fixed_events(&mut rng, spec, &timeline, &agents);
    fixed.sort_by_key(|(t, _)| *t);
    let mut fixed = fixed.into_iter().peekable();
    let mut produced = 0u64;
    while produced < spec.events {
        let t = spec.start
            + (((produced as f64) + rng.unit() * 0.9) / spec.events as f64 * span as f64) as i64;
        while let Some((_, recs)) = fixed.next_if(|(ft, _)| *ft <= t) {
            produced += recs.len() as u64;
            recs.into_iter().try_for_each(|r| sink.push(r))?;
        }
        for rec in slot(&mut rng, t, spec.noise_share, &timeline, &agents) {
            produced += 1;
            sink.push(rec)?;
        }
    }
    for (_, recs) in fixed {
        recs.into_iter().try_for_each(|r| sink.push(r))?;
    }
    sink.flush_all()?;
    if spec.bad_objects {
        sink.write_bad_objects(&mut rng, &timeline)?;
    }
    Ok(sink.written)
}

/// One moment of ordinary traffic: a noise call, a trap, or a sign-in.
fn slot(rng: &mut Rng, t: i64, noise_share: f64, tl: &Timeline, agents: &[Agent]) -> Vec<Rec> {
    let r = rng.unit();
    if r < noise_share {
        let (account, regions): (&'static str, &[&'static str]) = match rng.below(20) {
            0..=6 => (CORP.account, &["us-east-1", "eu-west-1"]),
            7..=11 => (CONTACT.account, &["us-east-1"]),
            12..=13 => (SYDNEY.account, &["us-east-1", "ap-southeast-2"]),
            14..=15 => (IDC_ACCOUNT, &["us-east-1"]),
            _ => (MGMT_ACCOUNT, &["us-east-1"]),
        };
        let region = *rng.pick(regions);
        return if rng.chance(0.03) {
            let kind = rng.below(5);
            vec![records::trap(rng, t, account, kind)]
        } else {
            vec![records::noise(rng, t, account, region)]
        };
    }
    if rng.chance(0.012) {
        let class = rng.pick(CLASSES).id;
        return example_failure(rng, t, class);
    }
    match rng.below(100) {
        0..=39 => engineer_sign_in(rng, t, tl),
        40..=74 => agent_sign_in(rng, t, tl, agents, false),
        75..=84 if t >= tl.sydney_live => agent_sign_in(rng, t, tl, agents, true),
        75..=84 => agent_sign_in(rng, t, tl, agents, false),
        _ => identity_center_sign_in(rng, t),
    }
}

fn engineer(rng: &mut Rng) -> String {
    format!(
        "{}.{}@example.com",
        rng.pick(FIRST).to_lowercase(),
        rng.pick(LAST).to_lowercase()
    )
}

/// An engineer federates through Okta into the corporate account, and half
/// the time opens the console.
fn engineer_sign_in(rng: &mut Rng, t: i64, tl: &Timeline) -> Vec<Rec> {
    let role = *rng.pick(ENGINEER_ROLES);
    let user = engineer(rng);
    let regional = rng.chance(0.3);
    let (region, endpoint) = if regional {
        ("eu-west-1", "regional")
    } else {
        ("us-east-1", "global")
    };
    let error = Timeline::within(tl.cert, t).then(|| StsError {
        code: if rng.chance(0.5) {
            "InvalidIdentityToken"
        } else {
            "InvalidIdentityTokenException"
        },
        message: "Response signature invalid".into(),
    });
    let failed = error.is_some();
    let mut out = Vec::new();
    for at in attempts(rng, t, failed) {
        out.push(records::assume_role_with_saml(
            rng,
            at,
            &CORP,
            region,
            role,
            &user,
            endpoint,
            error.clone(),
        ));
    }
    if !failed && rng.chance(0.5) {
        out.push(records::console_login(
            rng,
            t + 3 * MICROS_PER_SECOND,
            &CORP,
            role,
            &user,
            true,
        ));
    }
    out
}

/// A contact-centre agent federates through Azure AD and opens Connect.
fn agent_sign_in(rng: &mut Rng, t: i64, tl: &Timeline, agents: &[Agent], sydney: bool) -> Vec<Rec> {
    let agent = rng.pick(agents);
    let (fed, instance) = if sydney {
        (&SYDNEY, SYDNEY_INSTANCE)
    } else {
        (&CONTACT, CONTACT_INSTANCE)
    };
    let region = if sydney && rng.chance(0.7) {
        "ap-southeast-2"
    } else {
        "us-east-1"
    };
    // The IdP sends the mixed-case claim until it is fixed to lower-case.
    let fixed_at = tl.lowercase.map_or(i64::MAX, |(_, end)| end);
    let claim = if agent.mixed_case_claim && t < fixed_at {
        &agent.mixed
    } else {
        &agent.lower
    };
    // Connect knows the mixed-case name until the migration.
    let migrated_at = tl.lowercase.map_or(i64::MAX, |(start, _)| start);
    let connect_name = if agent.mixed_case_claim && t < migrated_at {
        &agent.mixed
    } else {
        &agent.lower
    };
    let scp_denied = sydney && region == "ap-southeast-2" && Timeline::within(tl.scp, t);
    let error = scp_denied.then(|| StsError {
        code: if rng.chance(0.5) { "AccessDenied" } else { "AccessDeniedException" },
        message: format!(
            "Not authorized to perform sts:AssumeRoleWithSAML on resource: {} with an explicit deny in a service control policy",
            fed.role_arn("ConnectAgent")
        ),
    });
    let not_found = !scp_denied && claim != connect_name;
    let mut out = Vec::new();
    for at in attempts(rng, t, scp_denied || not_found) {
        out.push(records::assume_role_with_saml(
            rng,
            at,
            fed,
            region,
            "ConnectAgent",
            claim,
            "regional",
            error.clone(),
        ));
        if !scp_denied {
            let error = not_found.then_some((
                "UserNotFoundException",
                "The specified user was not found in this instance",
            ));
            out.push(records::connect_federation(
                rng,
                at + 2 * MICROS_PER_SECOND,
                fed,
                region,
                "ConnectAgent",
                claim,
                instance,
                error,
            ));
        }
    }
    out
}

/// When a person tries to sign in: once, or, when it fails, two or three
/// times within a few minutes, as locked-out people do.
fn attempts(rng: &mut Rng, t: i64, failing: bool) -> Vec<i64> {
    let mut times = vec![t];
    if failing {
        for _ in 0..1 + rng.below(2) {
            let last = times[times.len() - 1];
            times.push(last + (20 + rng.below(70) as i64) * MICROS_PER_SECOND);
        }
    }
    times
}

fn identity_center_sign_in(rng: &mut Rng, t: i64) -> Vec<Rec> {
    let user = engineer(rng);
    let mut out = Vec::new();
    if rng.chance(0.3) {
        out.push(records::identity_center(
            rng,
            t,
            IDC_ACCOUNT,
            "ExternalIdPDirectoryLogin",
            &user,
            true,
            None,
        ));
    }
    out.push(records::identity_center(
        rng,
        t + MICROS_PER_SECOND,
        IDC_ACCOUNT,
        "CredentialVerification",
        &user,
        true,
        None,
    ));
    out.push(records::identity_center(
        rng,
        t + 2 * MICROS_PER_SECOND,
        IDC_ACCOUNT,
        "UserAuthentication",
        &user,
        true,
        None,
    ));
    out
}

fn sts_error(code: &'static str, message: impl Into<String>) -> Option<StsError> {
    Some(StsError {
        code,
        message: message.into(),
    })
}

/// One failure of the given class, as CloudTrail would record it.
fn example_failure(rng: &mut Rng, t: i64, class: &str) -> Vec<Rec> {
    let user = engineer(rng);
    let role = *rng.pick(ENGINEER_ROLES);
    let alt = rng.chance(0.5);
    let sts = |rng: &mut Rng, error: Option<StsError>| {
        vec![records::assume_role_with_saml(
            rng,
            t,
            &CORP,
            "us-east-1",
            role,
            &user,
            "global",
            error,
        )]
    };
    let agent = format!("{}{}", rng.pick(FIRST).to_lowercase(), rng.below(90) + 10);
    let connect = |rng: &mut Rng, code: &'static str, message: &str| {
        vec![records::connect_federation(
            rng,
            t,
            &CONTACT,
            "us-east-1",
            "ConnectAgent",
            &agent,
            CONTACT_INSTANCE,
            Some((code, message)),
        )]
    };
    let role_arn = CORP.role_arn(role);
    match class {
        "trust_policy_denied" => sts(rng, sts_error(if alt { "AccessDenied" } else { "AccessDeniedException" }, "Not authorized to perform sts:AssumeRoleWithSAML")),
        "scp_denied" => sts(rng, sts_error("AccessDenied", format!("Not authorized to perform sts:AssumeRoleWithSAML on resource: {role_arn} with an explicit deny in a service control policy"))),
        "session_tags_denied" => sts(rng, sts_error("AccessDenied", format!("Not authorized to perform: sts:TagSession on resource: {role_arn}"))),
        "session_name_missing" => sts(rng, sts_error("InvalidIdentityToken", "RoleSessionName is required in AuthnResponse")),
        "session_name_invalid" => sts(rng, sts_error("InvalidIdentityTokenException", "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")),
        "source_identity_invalid" => sts(rng, sts_error("InvalidIdentityToken", "Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64}")),
        "signature_invalid" => sts(rng, sts_error("InvalidIdentityToken", "Response signature invalid")),
        "issuer_mismatch" => sts(rng, sts_error(if alt { "AuthSamlInvalidSamlResponseException" } else { "InvalidIdentityToken" }, "Failed to assume role: Issuer not present in specified provider")),
        "audience_mismatch" => sts(rng, sts_error("InvalidIdentityToken", "Response does not contain the required audience.")),
        "provider_not_found" => sts(rng, sts_error("InvalidIdentityToken", "Specified provider doesn't exist.")),
        "role_attribute_invalid" => sts(rng, sts_error("InvalidIdentityToken", if alt { "Request ARN is invalid" } else { "Invalid SAML response: no valid Role attribute" })),
        "duration_exceeds_max" => sts(rng, sts_error("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")),
        "assertion_expired" => sts(rng, sts_error(if alt { "ExpiredToken" } else { "ExpiredTokenException" }, "Response has expired")),
        "assertion_not_yet_valid" => sts(rng, sts_error("InvalidIdentityToken", "Response is not yet valid")),
        "region_disabled" => sts(rng, sts_error("RegionDisabledException", format!("STS is not activated in this region for account:{}. Your account administrator can activate STS in this region using the IAM Console.", CORP.account))),
        "idp_rejected_claim" => sts(rng, sts_error("IDPRejectedClaim", "The identity provider rejected the claim")),
        "policy_invalid" => sts(rng, sts_error(if alt { "PackedPolicyTooLarge" } else { "MalformedPolicyDocument" }, if alt { "Packed policy consumes 118% of allotted space" } else { "The policy is not in the valid JSON format." })),
        "sts_other" => sts(rng, sts_error(if alt { "Throttling" } else { "InternalFailure" }, if alt { "Rate exceeded" } else { "An internal error occurred" })),
        "console_login_failed" => vec![records::console_login(rng, t, &CORP, role, &user, false)],
        "connect_user_not_onboarded" => connect(rng, "UserNotFoundException", "The specified user was not found in this instance"),
        "connect_access_denied" => connect(rng, "AccessDeniedException", &format!("User: arn:aws:sts::{}:assumed-role/ConnectAgent/{agent} is not authorized to perform: connect:GetFederationToken", CONTACT.account)),
        "connect_instance_not_found" => connect(rng, "ResourceNotFoundException", "Instance not found"),
        "connect_root_not_supported" => connect(rng, "InvalidRequestException", "The root user cannot be used for federation with Amazon Connect"),
        "connect_invalid_request" => connect(rng, if alt { "InvalidRequestException" } else { "InvalidParameterException" }, "The request is not valid"),
        "connect_throttled" => connect(rng, "ThrottlingException", "Rate exceeded"),
        "connect_other" => connect(rng, "InternalServiceException", "Request processing failed because of an error or failure with the service"),
        "idc_external_idp_failed" => vec![records::identity_center(rng, t, IDC_ACCOUNT, "ExternalIdPDirectoryLogin", &user, false, Some(("", "Not a valid response for the provided request id")))],
        "idc_credential_failed" => vec![records::identity_center(rng, t, IDC_ACCOUNT, "CredentialVerification", &user, false, None)],
        "idc_other" => vec![records::identity_center(rng, t, IDC_ACCOUNT, "ExternalIdPDirectoryLogin", &user, false, Some(("ThrottlingException", "Rate exceeded")))],
        "metadata_invalid" => vec![saml_provider_change(rng, t, "CreateSAMLProvider", "PartnerIdP", Some(("InvalidInputException", "Could not parse metadata.")))],
        "config_other" => vec![records::change(
            rng, t, CORP.account, "us-east-1", "iam.amazonaws.com", "UpdateAssumeRolePolicy", "platform-bot",
            json!({"roleName": "Developer", "policyDocument": "{...}"}), Value::Null,
            Some(("MalformedPolicyDocument", "Syntax errors in policy.")),
        )],
        other => unreachable!("no example for class {other}"),
    }
}

fn saml_provider_change(
    rng: &mut Rng,
    t: i64,
    name: &str,
    provider: &str,
    error: Option<(&str, &str)>,
) -> Rec {
    let arn = format!("arn:aws:iam::{}:saml-provider/{provider}", CORP.account);
    let request = if name == "CreateSAMLProvider" {
        json!({"name": provider, "sAMLMetadataDocument": "<?xml version=\"1.0\"?>..."})
    } else {
        json!({"sAMLProviderArn": arn, "sAMLMetadataDocument": "<?xml version=\"1.0\"?>..."})
    };
    let response = if error.is_none() {
        json!({"sAMLProviderArn": arn})
    } else {
        Value::Null
    };
    records::change(
        rng,
        t,
        CORP.account,
        "us-east-1",
        "iam.amazonaws.com",
        name,
        "idp-admin",
        request,
        response,
        error,
    )
}

/// Records at fixed times: three examples of every failure class spread over
/// the corpus, everyday configuration changes, and each scenario's changes.
fn fixed_events(
    rng: &mut Rng,
    spec: &Spec,
    tl: &Timeline,
    agents: &[Agent],
) -> Vec<(i64, Vec<Rec>)> {
    let span = i64::from(spec.days) * 24 * MICROS_PER_HOUR;
    let mut out = Vec::new();
    let n = CLASSES.len() as i64 * 3;
    for k in 0..n {
        let t = tl.start + (2 * k + 1) * span / (2 * n);
        out.push((
            t,
            example_failure(rng, t, CLASSES[k as usize % CLASSES.len()].id),
        ));
    }
    let hour = |h: i64| tl.start + h * MICROS_PER_HOUR;
    let iam = |rng: &mut Rng, t, name: &str, request: Value| {
        records::change(
            rng,
            t,
            CORP.account,
            "us-east-1",
            "iam.amazonaws.com",
            name,
            "platform-bot",
            request,
            Value::Null,
            None,
        )
    };
    let everyday = vec![
        (
            hour(10),
            iam(
                rng,
                hour(10),
                "AttachRolePolicy",
                json!({"roleName": "Developer", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}),
            ),
        ),
        (
            hour(15),
            iam(
                rng,
                hour(15),
                "PutRolePolicy",
                json!({"roleName": "app-role-3", "policyName": "inline-logs"}),
            ),
        ),
        (
            hour(40),
            iam(
                rng,
                hour(40),
                "UpdateRole",
                json!({"roleName": "Admin", "maxSessionDuration": 43200}),
            ),
        ),
        (
            hour(16),
            records::change(
                rng,
                hour(16),
                MGMT_ACCOUNT,
                "us-east-1",
                "organizations.amazonaws.com",
                "CreatePolicy",
                "org-admin",
                json!({"name": "cost-center-tags", "type": "TAG_POLICY", "content": "{...}"}),
                json!({"policy": {"policySummary": {"id": "p-95ouv1tagpol", "name": "cost-center-tags", "type": "TAG_POLICY"}}}),
                None,
            ),
        ),
        (
            hour(18),
            records::change(
                rng,
                hour(18),
                IDC_ACCOUNT,
                "us-east-1",
                "sso-directory.amazonaws.com",
                "UpdateExternalIdPConfigurationForDirectory",
                "idc-admin",
                json!({"directoryId": "d-9067fedtrl"}),
                Value::Null,
                None,
            ),
        ),
    ];
    out.extend(everyday.into_iter().map(|(t, r)| (t, vec![r])));
    if let Some((_, end)) = tl.cert {
        let failed_at = end - 24 * MICROS_PER_MINUTE;
        let bom = ("InvalidInput", "Could not parse metadata.");
        out.push((
            failed_at,
            vec![saml_provider_change(
                rng,
                failed_at,
                "UpdateSAMLProvider",
                CORP.provider,
                Some(bom),
            )],
        ));
        out.push((
            end,
            vec![saml_provider_change(
                rng,
                end,
                "UpdateSAMLProvider",
                CORP.provider,
                None,
            )],
        ));
    }
    if let Some((start, _)) = tl.lowercase {
        let mut recs = Vec::new();
        for (i, agent) in agents.iter().filter(|a| a.mixed_case_claim).enumerate() {
            let t = start - 10 * MICROS_PER_MINUTE + i as i64 * 20 * MICROS_PER_SECOND;
            let user = |rng: &mut Rng, name: &str, username: &str| {
                records::change(
                    rng,
                    t,
                    CONTACT.account,
                    "us-east-1",
                    "connect.amazonaws.com",
                    name,
                    "cc-admin",
                    json!({"InstanceId": CONTACT_INSTANCE, "Username": username}),
                    Value::Null,
                    None,
                )
            };
            recs.push(user(rng, "CreateUser", &agent.lower));
            recs.push(user(rng, "DeleteUser", &agent.mixed));
        }
        out.push((start - 10 * MICROS_PER_MINUTE, recs));
    }
    if let Some((start, end)) = tl.scp {
        let attach = records::change(
            rng,
            start - 5 * MICROS_PER_MINUTE,
            MGMT_ACCOUNT,
            "us-east-1",
            "organizations.amazonaws.com",
            "AttachPolicy",
            "org-admin",
            json!({"policyId": SCP_ID, "targetId": "ou-apac-5kq2x9rt"}),
            Value::Null,
            None,
        );
        let content = "{\"Statement\":[{\"Effect\":\"Deny\",\"NotAction\":[\"iam:*\",\"organizations:*\"],\"Resource\":\"*\",\"Condition\":{\"StringNotEquals\":{\"aws:RequestedRegion\":[\"us-east-1\",\"eu-west-1\",\"ap-southeast-2\"]}}}]}";
        let update = records::change(
            rng,
            end,
            MGMT_ACCOUNT,
            "us-east-1",
            "organizations.amazonaws.com",
            "UpdatePolicy",
            "org-admin",
            json!({"policyId": SCP_ID, "content": content}),
            json!({"policy": {"policySummary": {"id": SCP_ID, "name": "region-allow-list", "type": "SERVICE_CONTROL_POLICY"}}}),
            None,
        );
        out.push((start - 5 * MICROS_PER_MINUTE, vec![attach]));
        out.push((end, vec![update]));
    }
    out
}

/// Groups records into log objects per account and region, as CloudTrail
/// delivers them: a file every few minutes, at most `records_per_object`
/// records, named by its delivery time.
struct ObjectWriter<'a> {
    out: &'a Path,
    spec: &'a Spec,
    names: Rng,
    streams: BTreeMap<(&'static str, &'static str), Vec<Rec>>,
    written: Written,
    first_object: Option<PathBuf>,
}

/// The longest stretch of events one object covers. Real trails deliver
/// every five minutes; a sparse synthetic trail would then be mostly tiny
/// files, so objects here cover up to twenty. Late-delivery pruning stays
/// exact while this plus [`DELIVERY_DELAY`] is under `--late-slack` (1h).
const OBJECT_SPAN: i64 = 20 * MICROS_PER_MINUTE;
/// How long after its last event an object is delivered.
const DELIVERY_DELAY: i64 = 5 * MICROS_PER_MINUTE;

impl<'a> ObjectWriter<'a> {
    fn new(out: &'a Path, spec: &'a Spec) -> ObjectWriter<'a> {
        ObjectWriter {
            out,
            spec,
            names: Rng::new(spec.seed.wrapping_add(1)),
            streams: BTreeMap::new(),
            written: Written::default(),
            first_object: None,
        }
    }

    fn push(&mut self, rec: Rec) -> std::io::Result<()> {
        let key = (rec.account, rec.region);
        let full = self.streams.get(&key).is_some_and(|s| {
            s.len() as u64 >= self.spec.records_per_object || rec.time - s[0].time >= OBJECT_SPAN
        });
        if full {
            let records = self.streams.remove(&key).unwrap_or_default();
            self.flush(records)?;
        }
        self.streams.entry(key).or_default().push(rec);
        Ok(())
    }

    fn flush_all(&mut self) -> std::io::Result<()> {
        for (_, records) in std::mem::take(&mut self.streams) {
            self.flush(records)?;
        }
        Ok(())
    }

    fn key(&mut self, account: &str, region: &str, folder: &str, written: i64) -> PathBuf {
        let date = crate::time::date_of(written).replace('-', "/");
        let stamp = format_micros(written).replace(['-', ':'], "");
        let stamp = format!("{}Z", &stamp[..13]);
        let name = format!(
            "{account}_{folder}_{region}_{stamp}_{}.json.gz",
            self.names.token(16)
        );
        self.out.join(format!(
            "AWSLogs/{ORG}/{account}/{folder}/{region}/{date}/{name}"
        ))
    }

    fn flush(&mut self, records: Vec<Rec>) -> std::io::Result<()> {
        let Some(last) = records.iter().map(|r| r.time).max() else {
            return Ok(());
        };
        let path = self.key(
            records[0].account,
            records[0].region,
            "CloudTrail",
            last + DELIVERY_DELAY,
        );
        let document = json!({"Records": records.iter().map(|r| &r.json).collect::<Vec<_>>()});
        let text = serde_json::to_vec(&document).map_err(std::io::Error::other)?;
        // Every tenth object is written as two gzip members, as some
        // writers do; readers that stop after the first member lose data.
        let members = if self.written.objects % 10 == 9 { 2 } else { 1 };
        self.write(&path, &gzip_members(&text, members))?;
        self.written.records += records.len() as u64;
        self.first_object.get_or_insert(path);
        Ok(())
    }

    fn write(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes)?;
        self.written.objects += 1;
        self.written.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Objects that show how bad input is reported: broken ones (each
    /// unreadable with its own reason), one with rejected records, a
    /// duplicate delivery, and the digest and Insights objects a trail
    /// bucket also holds.
    fn write_bad_objects(&mut self, rng: &mut Rng, tl: &Timeline) -> std::io::Result<()> {
        let t = tl.start + 30 * MICROS_PER_HOUR;
        let (account, region) = (CORP.account, "us-east-1");
        let good = records::assume_role_with_saml(
            rng,
            t,
            &CORP,
            region,
            "Admin",
            "broken.example@example.com",
            "global",
            None,
        );
        let good_doc = serde_json::to_vec(&json!({"Records": [good.json.clone(), good.json]}))
            .map_err(std::io::Error::other)?;
        let full = gzip_members(&good_doc, 1);
        let truncated = full[..full.len() / 2].to_vec();
        let html = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".to_vec();
        let no_records = gzip_members(br#"{"message":"export job output","rows":[]}"#, 1);
        let bad_time = {
            let mut r = records::assume_role_with_saml(
                rng,
                t,
                &CORP,
                region,
                "Admin",
                "clock.skew@example.com",
                "global",
                None,
            )
            .json;
            r["eventTime"] = json!("not-a-time");
            r
        };
        let ok = records::assume_role_with_saml(
            rng,
            t,
            &CORP,
            region,
            "ReadOnly",
            "kept.user@example.com",
            "global",
            None,
        )
        .json;
        let rejected = gzip_members(
            &serde_json::to_vec(&json!({"Records": [ok, "stray string", bad_time]}))
                .map_err(std::io::Error::other)?,
            1,
        );
        for (offset, bytes) in [(1, truncated), (2, html), (3, no_records), (4, rejected)] {
            let path = self.key(account, region, "CloudTrail", t + offset * OBJECT_SPAN);
            self.write(&path, &bytes)?;
        }
        if let Some(first) = self.first_object.clone() {
            let copy = std::fs::read(&first)?;
            let name = first.file_name().map(|n| {
                n.to_string_lossy()
                    .replace(".json.gz", "_redelivered.json.gz")
            });
            if let Some(name) = name {
                self.write(&first.with_file_name(name), &copy)?;
            }
        }
        let digest = self.key(account, region, "CloudTrail-Digest", t);
        let digest_doc = json!({"awsAccountId": account, "digestStartTime": format_micros(t - MICROS_PER_HOUR), "digestEndTime": format_micros(t), "logFiles": []});
        self.write(
            &digest,
            &gzip_members(
                &serde_json::to_vec(&digest_doc).map_err(std::io::Error::other)?,
                1,
            ),
        )?;
        let insight = self.key(account, region, "CloudTrail-Insight", t);
        let insight_doc = json!({"Records": [{"eventVersion": "1.07", "eventType": "AwsCloudTrailInsight", "eventTime": format_micros(t), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithSAML", "insightDetails": {"state": "Start"}}]});
        self.write(
            &insight,
            &gzip_members(
                &serde_json::to_vec(&insight_doc).map_err(std::io::Error::other)?,
                1,
            ),
        )?;
        Ok(())
    }
}

/// Gzips `text` as `members` concatenated gzip members.
fn gzip_members(text: &[u8], members: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let size = text.len().div_ceil(members.max(1)).max(1);
    for chunk in text.chunks(size) {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(chunk).expect("writing to memory");
        out.extend(enc.finish().expect("writing to memory"));
    }
    out
}
