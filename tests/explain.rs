//! `fedtrail explain`: every class and every real error string of
//! TAXONOMY.md gets a specific answer, classified exactly as `scan` would;
//! unknown text is said to be unknown.

mod common;

use common::*;
use fedtrail::classify::taxonomy::CLASSES;

#[test]
fn every_class_id_is_explained_with_causes_commands_and_a_fix() {
    for class in CLASSES {
        let out = fedtrail(&["explain", class.id]);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            class.id,
            text(&out.stderr)
        );
        assert!(
            stdout.starts_with(&format!("{} (stage {})", class.id, class.stage.as_str())),
            "{stdout}"
        );
        for section in [
            "What it means",
            "Likely causes, most likely first",
            "confirm: ",
            "Fix",
        ] {
            assert!(
                stdout.contains(section),
                "{}: no {section:?}\n{stdout}",
                class.id
            );
        }
    }
}

/// The error texts of TAXONOMY.md's class table, as CloudTrail records them,
/// with the class `scan` gives each.
const REAL_ERRORS: &[(&str, &str)] = &[
    ("Not authorized to perform sts:AssumeRoleWithSAML", "trust_policy_denied"),
    ("AccessDenied", "trust_policy_denied"),
    ("User: arn:aws:sts::111122223333:assumed-role/x is not authorized to perform: sts:AssumeRoleWithSAML with an explicit deny in a service control policy", "scp_denied"),
    ("not authorized to perform: sts:TagSession", "session_tags_denied"),
    ("RoleSessionName is required in AuthnResponse", "session_name_missing"),
    ("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}", "session_name_invalid"),
    ("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64}", "source_identity_invalid"),
    ("Response signature invalid", "signature_invalid"),
    ("Issuer not present in specified provider", "issuer_mismatch"),
    ("SAML Assertion does not contain the required audience", "audience_mismatch"),
    ("Specified provider doesn't exist", "provider_not_found"),
    ("Invalid SAML response", "role_attribute_invalid"),
    ("Request ARN is invalid", "role_attribute_invalid"),
    ("The requested DurationSeconds exceeds the MaxSessionDuration set for this role", "duration_exceeds_max"),
    ("ExpiredToken", "assertion_expired"),
    ("Response has expired", "assertion_expired"),
    ("Token must be redeemed within 5 minutes of issuance", "assertion_expired"),
    ("Assertion is not yet valid", "assertion_not_yet_valid"),
    ("RegionDisabled", "region_disabled"),
    ("STS is not activated in this region for account:111122223333", "region_disabled"),
    ("IDPRejectedClaim", "idp_rejected_claim"),
    ("MalformedPolicyDocument", "policy_invalid"),
    ("PackedPolicyTooLarge", "policy_invalid"),
    ("UserNotFoundException", "connect_user_not_onboarded"),
    ("ResourceNotFoundException", "connect_instance_not_found"),
    ("The root user cannot be used for federation with Amazon Connect", "connect_root_not_supported"),
    ("InvalidRequestException", "connect_invalid_request"),
    ("InvalidParameterException", "connect_invalid_request"),
    ("ThrottlingException", "connect_throttled"),
    ("LimitExceededException", "connect_throttled"),
    ("ExternalIdPDirectoryLogin", "idc_external_idp_failed"),
    ("CredentialVerification", "idc_credential_failed"),
    ("Could not parse metadata", "metadata_invalid"),
    ("InvalidInput", "metadata_invalid"),
];

#[test]
fn each_real_error_string_is_classified_as_scan_would() {
    for (error, class) in REAL_ERRORS {
        let out = fedtrail(&["explain", error, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{error}: {}", text(&out.stdout));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["class"], *class, "{error}");
        assert_eq!(v["recognised"], true);
        assert!(v["matched"].as_str().unwrap().contains("rule"), "{v}");
        assert!(!v["causes"].as_array().unwrap().is_empty());
        assert!(v["causes"][0]["confirm"][0].as_str().is_some());
        assert!(!v["fix"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_code_with_another_meaning_on_connect_says_so() {
    let out = fedtrail(&["explain", "AccessDeniedException"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("trust_policy_denied (stage sts)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("As a connect error the same text means connect_access_denied"),
        "{stdout}"
    );
}

#[test]
fn unknown_text_is_said_to_be_unknown() {
    let out = fedtrail(&["explain", "the coffee machine is empty"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("does not recognise \"the coffee machine is empty\""),
        "{}",
        text(&out.stdout)
    );
    let json = fedtrail(&["explain", "nonsense", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["recognised"], false);
}

#[test]
fn list_names_every_class() {
    let out = fedtrail(&["explain", "--list"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    for class in CLASSES {
        assert!(
            stdout.lines().any(|l| l.starts_with(class.id)),
            "{}",
            class.id
        );
    }
    assert_eq!(
        fedtrail(&["explain"]).status.code(),
        Some(2),
        "a query or --list is required"
    );
}
