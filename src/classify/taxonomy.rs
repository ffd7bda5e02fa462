//! The failure taxonomy as data: every class id (a public contract, see
//! `docs/TAXONOMY.md`) with a one-line hint, and the ordered rules that map a
//! failed record to a class. `classify` walks [`RULES`] top to bottom; the first
//! rule that matches wins, and a failure no rule matches gets its stage's
//! fallback class from [`fallback_class`].

use crate::model::Stage;

/// One failure class: its id (stable, used in reports and queries), its stage
/// and a one-line hint for summaries.
#[derive(Debug, Clone, Copy)]
pub struct ClassInfo {
    pub id: &'static str,
    pub stage: Stage,
    pub hint: &'static str,
}

/// Every class fedtrail can assign, in the order summaries list them.
pub const CLASSES: &[ClassInfo] = &[
    ClassInfo { id: "trust_policy_denied", stage: Stage::Sts, hint: "the role's trust policy does not let this SAML provider assume it (principal, SAML:aud/SAML:iss condition, or a misspelt role name)" },
    ClassInfo { id: "scp_denied", stage: Stage::Sts, hint: "an Organizations service control policy denies STS here, often only in some regions" },
    ClassInfo { id: "session_tags_denied", stage: Stage::Sts, hint: "the assertion sends PrincipalTag attributes but the trust policy does not allow sts:TagSession" },
    ClassInfo { id: "session_name_missing", stage: Stage::Sts, hint: "the IdP sent no (or an empty) RoleSessionName attribute" },
    ClassInfo { id: "session_name_invalid", stage: Stage::Sts, hint: "RoleSessionName breaks [a-zA-Z_0-9+=,.@-]{2,64}: spaces, other characters or too long" },
    ClassInfo { id: "source_identity_invalid", stage: Stage::Sts, hint: "the SourceIdentity attribute breaks the allowed pattern" },
    ClassInfo { id: "signature_invalid", stage: Stage::Sts, hint: "the IdP signs with a certificate IAM does not know: upload fresh metadata with update-saml-provider" },
    ClassInfo { id: "issuer_mismatch", stage: Stage::Sts, hint: "the assertion's Issuer differs from the provider metadata's entityID (scheme, trailing slash)" },
    ClassInfo { id: "audience_mismatch", stage: Stage::Sts, hint: "the Audience is not the global or allowed regional signin.aws.amazon.com/saml URL" },
    ClassInfo { id: "provider_not_found", stage: Stage::Sts, hint: "the provider ARN in the Role attribute names no IAM SAML provider (account id or name wrong)" },
    ClassInfo { id: "role_attribute_invalid", stage: Stage::Sts, hint: "the Role attribute is missing, empty, not 'roleArn,providerArn', or padded with whitespace" },
    ClassInfo { id: "duration_exceeds_max", stage: Stage::Sts, hint: "SessionDuration asks for more than the role's MaxSessionDuration" },
    ClassInfo { id: "assertion_expired", stage: Stage::Sts, hint: "the assertion was redeemed after NotOnOrAfter: slow redirects or an IdP clock behind" },
    ClassInfo { id: "assertion_not_yet_valid", stage: Stage::Sts, hint: "NotBefore lies in the future: the IdP clock runs ahead of AWS" },
    ClassInfo { id: "region_disabled", stage: Stage::Sts, hint: "STS is not activated for the account in this region" },
    ClassInfo { id: "idp_rejected_claim", stage: Stage::Sts, hint: "the identity provider rejected the claim" },
    ClassInfo { id: "policy_invalid", stage: Stage::Sts, hint: "the session policy or session tags are malformed or too large" },
    ClassInfo { id: "sts_other", stage: Stage::Sts, hint: "an STS failure no rule recognises (throttling lands here too): read the raw code and message" },
    ClassInfo { id: "console_login_failed", stage: Stage::Signin, hint: "a federated console sign-in failed after STS" },
    ClassInfo { id: "connect_user_not_onboarded", stage: Stage::Connect, hint: "no Connect user has exactly this RoleSessionName (case-sensitive; no just-in-time provisioning)" },
    ClassInfo { id: "connect_access_denied", stage: Stage::Connect, hint: "the federation role may not call connect:GetFederationToken on this instance" },
    ClassInfo { id: "connect_instance_not_found", stage: Stage::Connect, hint: "the relay state names a wrong Connect instance id or region" },
    ClassInfo { id: "connect_root_not_supported", stage: Stage::Connect, hint: "the root user cannot federate into Amazon Connect" },
    ClassInfo { id: "connect_invalid_request", stage: Stage::Connect, hint: "the federation request was malformed" },
    ClassInfo { id: "connect_throttled", stage: Stage::Connect, hint: "Connect federation calls were throttled" },
    ClassInfo { id: "connect_other", stage: Stage::Connect, hint: "a Connect federation failure no rule recognises: read the raw code and message" },
    ClassInfo { id: "idc_external_idp_failed", stage: Stage::IdentityCenter, hint: "IAM Identity Center rejected the external IdP's response (NameID format or value, unprovisioned user, encrypted or multiple assertions)" },
    ClassInfo { id: "idc_credential_failed", stage: Stage::IdentityCenter, hint: "a credential check failed at Identity Center sign-in (see CredentialType)" },
    ClassInfo { id: "idc_other", stage: Stage::IdentityCenter, hint: "an Identity Center sign-in failure no rule recognises (throttling lands here too)" },
    ClassInfo { id: "metadata_invalid", stage: Stage::Config, hint: "IAM could not parse the SAML metadata document (BOM, key under 1024 bits, repeated extensions, bad XML)" },
    ClassInfo { id: "config_other", stage: Stage::Config, hint: "a configuration change failed for another reason: read the raw code and message" },
];

/// Looks a class up by id.
pub fn class_info(id: &str) -> Option<&'static ClassInfo> {
    CLASSES.iter().find(|c| c.id == id)
}

/// The class a failure gets when no rule of its stage matches.
pub fn fallback_class(stage: Stage) -> &'static str {
    match stage {
        Stage::Sts => "sts_other",
        Stage::Signin => "console_login_failed",
        Stage::Connect => "connect_other",
        Stage::IdentityCenter => "idc_other",
        Stage::Config => "config_other",
    }
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy)]
pub enum Evidence {
    /// Any of these fragments occurs in the error message (case-insensitive;
    /// fragments are written in lower case).
    Message(&'static [&'static str]),
    /// The error code is one of these, compared after [`normalize_code`].
    Code(&'static [&'static str]),
    /// The event has this name (for stages whose class follows the event).
    EventName(&'static [&'static str]),
}

/// One row of the rule table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub stage: Stage,
    /// Restricts the rule to these event names; `None` means any event of the stage.
    pub events: Option<&'static [&'static str]>,
    pub evidence: Evidence,
    pub class: &'static str,
}

const THROTTLING: &[&str] = &["throttling", "requestlimitexceeded", "limitexceeded"];
const SAML_PROVIDER_WRITES: &[&str] = &["CreateSAMLProvider", "UpdateSAMLProvider"];

macro_rules! rule {
    ($stage:ident, $evidence:ident($($v:expr),+) => $class:literal) => {
        Rule { stage: Stage::$stage, events: None, evidence: Evidence::$evidence(&[$($v),+]), class: $class }
    };
    ($stage:ident [$events:expr], $evidence:ident($($v:expr),+) => $class:literal) => {
        Rule { stage: Stage::$stage, events: Some($events), evidence: Evidence::$evidence(&[$($v),+]), class: $class }
    };
}

/// The rules, in match order: within a stage, the most specific message
/// fragments first, then error codes, then event names.
pub const RULES: &[Rule] = &[
    // STS: message fragments, most specific first. An SCP or TagSession
    // denial also says "not authorized to perform", so they come before the
    // trust-policy rule.
    rule!(Sts, Message("service control policy") => "scp_denied"),
    rule!(Sts, Message("sts:tagsession") => "session_tags_denied"),
    rule!(Sts, Message("rolesessionname is required in authnresponse") => "session_name_missing"),
    rule!(Sts, Message("rolesessionname in authnresponse must match") => "session_name_invalid"),
    rule!(Sts, Message("source identity must match") => "source_identity_invalid"),
    rule!(Sts, Message("response signature invalid") => "signature_invalid"),
    rule!(Sts, Message("issuer not present in specified provider") => "issuer_mismatch"),
    rule!(Sts, Message("does not contain the required audience") => "audience_mismatch"),
    rule!(Sts, Message("specified provider doesn't exist", "specified provider does not exist") => "provider_not_found"),
    rule!(Sts, Message("durationseconds exceeds") => "duration_exceeds_max"),
    rule!(Sts, Message("not yet valid") => "assertion_not_yet_valid"),
    rule!(Sts, Message("response has expired", "token must be redeemed within", "expired") => "assertion_expired"),
    rule!(Sts, Message("sts is not activated in this region") => "region_disabled"),
    rule!(Sts, Message("invalid saml response", "request arn is invalid", "role attribute") => "role_attribute_invalid"),
    rule!(Sts, Message("not authorized to perform sts:assumerolewithsaml", "not authorized to perform: sts:assumerolewithsaml") => "trust_policy_denied"),
    // STS: error codes.
    rule!(Sts, Code("accessdenied") => "trust_policy_denied"),
    rule!(Sts, Code("expiredtoken") => "assertion_expired"),
    rule!(Sts, Code("regiondisabled") => "region_disabled"),
    rule!(Sts, Code("idprejectedclaim") => "idp_rejected_claim"),
    rule!(Sts, Code("malformedpolicydocument", "packedpolicytoolarge") => "policy_invalid"),
    // Connect (connect.amazonaws.com GetFederationToken).
    rule!(Connect, Message("cannot be used for federation with amazon connect") => "connect_root_not_supported"),
    rule!(Connect, Code("usernotfound") => "connect_user_not_onboarded"),
    rule!(Connect, Code("accessdenied") => "connect_access_denied"),
    rule!(Connect, Code("resourcenotfound") => "connect_instance_not_found"),
    rule!(Connect, Code("invalidrequest", "invalidparameter") => "connect_invalid_request"),
    rule!(Connect, Code("throttling", "requestlimitexceeded", "limitexceeded", "toomanyrequests") => "connect_throttled"),
    // IAM Identity Center: throttling is not a sign-in verdict, so it goes to
    // idc_other before the per-event rules.
    Rule {
        stage: Stage::IdentityCenter,
        events: None,
        evidence: Evidence::Code(THROTTLING),
        class: "idc_other",
    },
    rule!(IdentityCenter, EventName("ExternalIdPDirectoryLogin") => "idc_external_idp_failed"),
    rule!(IdentityCenter, EventName("CredentialVerification") => "idc_credential_failed"),
    // Config changes: a rejected metadata document.
    rule!(Config[SAML_PROVIDER_WRITES], Message("could not parse metadata", "unable to parse metadata") => "metadata_invalid"),
    rule!(Config[SAML_PROVIDER_WRITES], Code("invalidinput") => "metadata_invalid"),
];

/// Folds the spellings of one error code together: `AccessDenied`,
/// `AccessDeniedException` and `Client.AccessDenied` all become `accessdenied`.
pub fn normalize_code(code: &str) -> String {
    let code = code.trim();
    let code = code
        .strip_prefix("Client.")
        .or_else(|| code.strip_prefix("Server."))
        .unwrap_or(code);
    let lower = code.to_ascii_lowercase();
    match lower.strip_suffix("exception") {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => lower,
    }
}

/// The facts about one failure that the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct FailureFacts<'a> {
    pub stage: Stage,
    pub event_name: &'a str,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// Assigns exactly one class to a failure: the first matching rule, else the
/// stage's fallback.
pub fn classify_failure(facts: FailureFacts<'_>) -> &'static str {
    matching_rule(facts).map_or_else(|| fallback_class(facts.stage), |r| r.class)
}

/// The first rule that matches a failure, if any (`explain` shows it).
pub fn matching_rule(facts: FailureFacts<'_>) -> Option<&'static Rule> {
    let code = facts.error_code.map(normalize_code);
    let message = facts.error_message.map(str::to_lowercase);
    RULES
        .iter()
        .filter(|r| r.stage == facts.stage)
        .filter(|r| {
            r.events
                .is_none_or(|names| names.contains(&facts.event_name))
        })
        .find(|r| match r.evidence {
            Evidence::Message(frags) => message
                .as_deref()
                .is_some_and(|m| frags.iter().any(|f| m.contains(f))),
            Evidence::Code(codes) => code.as_deref().is_some_and(|c| codes.contains(&c)),
            Evidence::EventName(names) => names.contains(&facts.event_name),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_known_class_of_its_stage() {
        for rule in RULES {
            let info =
                class_info(rule.class).unwrap_or_else(|| panic!("unknown class {}", rule.class));
            assert_eq!(
                info.stage, rule.stage,
                "{} is not a {:?} class",
                rule.class, rule.stage
            );
        }
        for stage in Stage::ALL {
            assert!(class_info(fallback_class(stage)).is_some());
        }
    }

    #[test]
    fn message_fragments_are_lower_case() {
        for rule in RULES {
            if let Evidence::Message(frags) | Evidence::Code(frags) = rule.evidence {
                for f in frags {
                    assert_eq!(
                        *f,
                        f.to_lowercase(),
                        "rule fragment {f:?} must be lower case"
                    );
                }
            }
        }
    }

    #[test]
    fn code_spellings_fold_together() {
        for (raw, want) in [
            ("AccessDenied", "accessdenied"),
            ("AccessDeniedException", "accessdenied"),
            ("Client.AccessDenied", "accessdenied"),
            ("InvalidIdentityTokenException", "invalididentitytoken"),
            ("Exception", "exception"),
            (" RegionDisabled ", "regiondisabled"),
        ] {
            assert_eq!(normalize_code(raw), want, "{raw}");
        }
    }

    #[test]
    fn class_ids_are_unique() {
        let mut ids: Vec<_> = CLASSES.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CLASSES.len());
    }
}
