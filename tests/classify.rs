//! Classification, table-driven: the real public records in
//! `tests/fixtures/samples/` (copied from the team's shared samples), then one
//! built record per failure class and per trap of TAXONOMY.md.

use std::sync::Arc;

use fedtrail::classify::taxonomy::CLASSES;
use fedtrail::classify::{classify, Classified, Origin, RecordError};
use fedtrail::model::{ConfigChange, FedEvent, Outcome, Stage};
use serde_json::{json, Value};

fn origin() -> Origin {
    Origin {
        object: Arc::from("test-object"),
        account: None,
    }
}

/// Classifies a record as the scanner does: parsed to simd-json's tape.
fn run(record: &Value) -> Result<Classified, RecordError> {
    let mut bytes = serde_json::to_vec(record).unwrap();
    let tape = simd_json::to_tape(&mut bytes).unwrap();
    classify(&tape.as_value(), &origin())
}

fn event(record: &Value) -> FedEvent {
    match run(record) {
        Ok(Classified::Event(e)) => *e,
        other => panic!("expected a federation event, got {other:?} for {record}"),
    }
}

fn change(record: &Value) -> ConfigChange {
    match run(record) {
        Ok(Classified::Change(c)) => *c,
        other => panic!("expected a config change, got {other:?} for {record}"),
    }
}

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn real_samples_classify_as_documented() {
    let e = event(&sample(
        "assumerolewithsaml_success_idc_v1.11_aidansteele.json",
    ));
    assert_eq!(
        (e.stage, e.outcome, e.failure_class),
        (Stage::Sts, Outcome::Success, None)
    );
    assert_eq!(
        e.role_name.as_deref(),
        Some("AWSReservedSSO_AdministratorAccess_7243976e43c75fc5")
    );
    assert_eq!(
        e.provider_name.as_deref(),
        Some("AWSSSO_9882ccf00912484e_DO_NOT_DELETE")
    );
    assert_eq!(
        e.session_name.as_deref(),
        Some("aidan.steele@glassechidna.com.au")
    );
    assert_eq!(
        e.audience.as_deref(),
        Some("https://signin.aws.amazon.com/saml")
    );
    assert_eq!(e.endpoint_type.as_deref(), Some("regional"));
    assert_eq!(e.duration_seconds, Some(43200));
    assert_eq!(e.account_id.as_deref(), Some("950363612855"));
    assert_eq!(
        e.event_time,
        fedtrail::time::parse_timestamp("2026-07-01T00:08:20Z").unwrap()
    );

    let e = event(&sample(
        "assumerolewithsaml_success_okta_v1.05_splunk_cim.json",
    ));
    assert_eq!(
        e.issuer.as_deref(),
        Some("http://www.okta.com/exksfwc0mwQGJQoJ62p6")
    );
    assert_eq!(e.provider_name.as_deref(), Some("SplunkcloudOkta"));
    assert_eq!(e.endpoint_type, None, "1.05 records have no RequestDetails");

    let e = event(&sample(
        "assumerolewithsaml_success_v1.08_awsdoc_iam_guide.json",
    ));
    assert_eq!(e.role_name.as_deref(), Some("SAMLTestRoleShibboleth"));
    assert_eq!(e.duration_seconds, Some(1800));

    let e = event(&sample("consolelogin_saml_success_v1.05_microfocus.json"));
    assert_eq!((e.stage, e.outcome), (Stage::Signin, Outcome::Success));
    assert_eq!(e.provider_name.as_deref(), Some("NAM-IDP"));
    assert_eq!(e.role_name.as_deref(), Some("NAM-EC2User"));
    assert_eq!(e.session_name.as_deref(), Some("bob"));

    // This record's eventTime is "redacted" in the public copy; see below.
    let mut idp = sample("externalidpdirectorylogin_failure_v1.05_panther.json");
    idp["eventTime"] = json!("2020-08-01T10:00:00Z");
    let e = event(&idp);
    assert_eq!(e.stage, Stage::IdentityCenter);
    assert_eq!(e.failure_class, Some("idc_external_idp_failed"));
    assert_eq!(
        e.error_message.as_deref(),
        Some("Not a valid response for the provided request id: aws_ccV60redacted")
    );

    let e = event(&sample(
        "sso_credentialverification_failure_v1.08_awsdoc.json",
    ));
    assert_eq!(
        (e.stage, e.failure_class),
        (Stage::IdentityCenter, Some("idc_credential_failed"))
    );
    assert_eq!(e.user_name.as_deref(), Some("user1"));

    let e = event(&sample(
        "userauthentication_external_idp_v1.09_elastic.json",
    ));
    assert_eq!(
        (e.stage, e.outcome),
        (Stage::IdentityCenter, Outcome::Success)
    );
    assert_eq!(e.user_name.as_deref(), Some("redacted@example.com"));

    let c = change(&sample(
        "iam_createsamlprovider_by_awssso_v1.08_panther.json",
    ));
    assert_eq!(
        c.target.as_deref(),
        Some("arn:aws:iam::123412341234:saml-provider/AWSSSO_abdf34fd171b4a7e_DO_NOT_DELETE")
    );
    assert_eq!(
        c.event_time,
        fedtrail::time::parse_timestamp("2022-12-12T21:46:17Z").unwrap(),
        "space-separated eventTime"
    );
    assert_eq!(c.outcome, Outcome::Success);

    let c = change(&sample("iam_updateassumerolepolicy_v1.10_elastic.json"));
    assert_eq!(
        (c.target.as_deref(), c.target_type),
        (Some("cloudtrail-role"), "role")
    );

    let c = change(&sample("iam_updatesamlprovider_synthetic_panther.json"));
    assert_eq!(c.event_name, "UpdateSAMLProvider");

    let c = change(&sample(
        "organizations_updatepolicy_scp_v1.08_redacted.json",
    ));
    assert_eq!(
        (c.target.as_deref(), c.target_type),
        (Some("p-bvdv3rx3"), "policy")
    );
    assert_eq!(
        c.detail.as_deref(),
        Some("Block service access for root user")
    );

    for ignored in [
        "connect_createcontactflowmodule_failure_v1.09_real.json",
        "consolelogin_iamuser_failure_v1.05_awsdoc.json",
        "sso_CreateTokenWithIAM_v1.11_aidansteele.json",
        "sso_GetRoleCredentials_v1.11_aidansteele.json",
        "sts_assumerole_failure_accessdenied_v1.08_stratus.json",
    ] {
        assert_eq!(
            run(&sample(ignored)),
            Ok(Classified::Ignored),
            "{ignored} is not federation"
        );
    }
}

#[test]
fn a_record_with_a_redacted_time_is_rejected_not_guessed() {
    // The Panther sample's eventTime is "redacted": kept records need a time.
    let r = sample("externalidpdirectorylogin_failure_v1.05_panther.json");
    assert_eq!(run(&r), Err(RecordError::BadTime("redacted".into())));
    assert_eq!(run(&json!("a string")), Err(RecordError::NotObject));
    assert_eq!(
        run(&json!({"eventSource": "sts.amazonaws.com"})),
        Err(RecordError::Missing("eventName"))
    );
    assert_eq!(
        run(&json!({"eventSource": 7, "eventName": "X"})),
        Err(RecordError::Missing("eventSource"))
    );
}

/// A small builder for one failed federation record.
struct Failure {
    record: Value,
}

impl Failure {
    fn new(source: &str, name: &str) -> Failure {
        Failure {
            record: json!({
                "eventVersion": "1.08",
                "eventTime": "2026-05-26T08:00:00Z",
                "eventSource": source,
                "eventName": name,
                "awsRegion": "us-east-1",
                "eventID": "e1",
                "recipientAccountId": "111122223333",
                "requestParameters": null,
                "responseElements": null,
            }),
        }
    }

    fn sts() -> Failure {
        Failure::new("sts.amazonaws.com", "AssumeRoleWithSAML")
    }

    fn connect() -> Failure {
        let mut f = Failure::new("connect.amazonaws.com", "GetFederationToken");
        f.record["userIdentity"] = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ConnectAgent/JDoe"});
        f.record["requestParameters"] = json!({"InstanceId": "4f8c2a1e"});
        f
    }

    fn code(mut self, code: &str) -> Failure {
        self.record["errorCode"] = json!(code);
        self
    }

    fn message(mut self, message: &str) -> Failure {
        self.record["errorMessage"] = json!(message);
        self
    }

    fn set(mut self, key: &str, value: Value) -> Failure {
        self.record[key] = value;
        self
    }

    fn class(&self) -> Option<&'static str> {
        event(&self.record).failure_class
    }
}

#[test]
fn every_class_from_its_evidence() {
    let cases: Vec<(&str, Failure)> = vec![
        ("trust_policy_denied", Failure::sts().code("AccessDenied").message("Not authorized to perform sts:AssumeRoleWithSAML")),
        ("trust_policy_denied", Failure::sts().code("AccessDeniedException").message("User is not authorized to perform: sts:AssumeRoleWithSAML on resource: arn:aws:iam::111122223333:role/X")),
        ("trust_policy_denied", Failure::sts().code("AccessDenied")),
        ("scp_denied", Failure::sts().code("AccessDenied").message("Not authorized to perform sts:AssumeRoleWithSAML on resource: arn:aws:iam::1:role/A with an explicit deny in a service control policy")),
        ("session_tags_denied", Failure::sts().code("AccessDenied").message("Not authorized to perform: sts:TagSession on resource: arn:aws:iam::1:role/A")),
        ("session_name_missing", Failure::sts().code("InvalidIdentityToken").message("RoleSessionName is required in AuthnResponse")),
        ("session_name_invalid", Failure::sts().code("InvalidIdentityTokenException").message("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")),
        ("source_identity_invalid", Failure::sts().code("InvalidIdentityToken").message("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64}")),
        ("signature_invalid", Failure::sts().code("InvalidIdentityToken").message("Response signature invalid (Service: AWSSecurityTokenService; Status Code: 400; Error Code: InvalidIdentityToken; Request ID: 1)")),
        ("issuer_mismatch", Failure::sts().code("AuthSamlInvalidSamlResponseException").message("Failed to assume role: Issuer not present in specified provider")),
        ("audience_mismatch", Failure::sts().code("InvalidIdentityToken").message("Response does not contain the required audience.")),
        ("provider_not_found", Failure::sts().code("InvalidIdentityToken").message("Specified provider doesn't exist.")),
        ("role_attribute_invalid", Failure::sts().code("InvalidIdentityToken").message("Request ARN is invalid")),
        ("role_attribute_invalid", Failure::sts().message("Your request included an invalid SAML response.")),
        ("duration_exceeds_max", Failure::sts().code("ValidationError").message("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")),
        ("assertion_expired", Failure::sts().code("ExpiredTokenException")),
        ("assertion_expired", Failure::sts().code("InvalidIdentityToken").message("Token must be redeemed within 5 minutes of issuance")),
        ("assertion_not_yet_valid", Failure::sts().code("InvalidIdentityToken").message("Response is not yet valid")),
        ("region_disabled", Failure::sts().code("RegionDisabledException").message("STS is not activated in this region for account:1.")),
        ("region_disabled", Failure::sts().code("RegionDisabled")),
        ("idp_rejected_claim", Failure::sts().code("IDPRejectedClaim")),
        ("policy_invalid", Failure::sts().code("PackedPolicyTooLarge")),
        ("policy_invalid", Failure::sts().code("MalformedPolicyDocumentException")),
        ("sts_other", Failure::sts().code("Throttling").message("Rate exceeded")),
        ("sts_other", Failure::sts().code("ValidationError").message("1 validation error detected")),
        ("sts_other", Failure::sts().code("InvalidIdentityToken")),
        ("sts_other", Failure::sts().message("Something new (Service: AWSSecurityTokenService; Status Code: 400; Error Code: BrandNewError; Request ID: 2)")),
        ("console_login_failed", Failure::new("signin.amazonaws.com", "ConsoleLogin")
            .message("Failed authentication")
            .set("responseElements", json!({"ConsoleLogin": "Failure"}))
            .set("additionalEventData", json!({"SamlProviderArn": "arn:aws:iam::1:saml-provider/Okta"}))),
        ("connect_user_not_onboarded", Failure::connect().code("UserNotFoundException")),
        ("connect_access_denied", Failure::connect().code("AccessDeniedException")),
        ("connect_access_denied", Failure::connect().code("AccessDenied")),
        ("connect_instance_not_found", Failure::connect().code("ResourceNotFoundException")),
        ("connect_root_not_supported", Failure::connect().code("InvalidRequestException").message("The root user cannot be used for federation with Amazon Connect")),
        ("connect_invalid_request", Failure::connect().code("InvalidRequestException")),
        ("connect_invalid_request", Failure::connect().code("InvalidParameterException")),
        ("connect_throttled", Failure::connect().code("ThrottlingException")),
        ("connect_throttled", Failure::connect().code("LimitExceededException")),
        ("connect_other", Failure::connect().code("InternalServiceException")),
        ("connect_other", Failure::connect().code("DuplicateResourceException")),
        ("idc_external_idp_failed", Failure::new("signin.amazonaws.com", "ExternalIdPDirectoryLogin").set("responseElements", json!({"ExternalIdPDirectoryLogin": "Failure"}))),
        ("idc_credential_failed", Failure::new("signin.amazonaws.com", "CredentialVerification").set("serviceEventDetails", json!({"CredentialVerification": "Failure"}))),
        ("idc_other", Failure::new("signin.amazonaws.com", "UserAuthentication").set("serviceEventDetails", json!({"UserAuthentication": "Failure"}))),
        ("idc_other", Failure::new("signin.amazonaws.com", "ExternalIdPDirectoryLogin").code("ThrottlingException")),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (want, failure) in &cases {
        assert_eq!(failure.class(), Some(*want), "{}", failure.record);
        seen.insert(*want);
    }
    // Config-stage classes are checked below; every other class has a case.
    let missing: Vec<_> = CLASSES
        .iter()
        .filter(|c| c.stage != Stage::Config && !seen.contains(c.id))
        .map(|c| c.id)
        .collect();
    assert!(
        missing.is_empty(),
        "classes without a test case: {missing:?}"
    );
}

#[test]
fn failed_records_recover_role_provider_and_session() {
    // requestParameters null: role and provider from resources[].
    let e = event(
        &Failure::sts()
            .code("InvalidIdentityToken")
            .message("Response signature invalid")
            .set("resources", json!([
                {"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/Admin"},
                {"type": "AWS::IAM::SAMLProvider", "ARN": "arn:aws:iam::111122223333:saml-provider/OktaProd"}
            ]))
            .record,
    );
    assert_eq!(
        (e.role_name.as_deref(), e.provider_name.as_deref()),
        (Some("Admin"), Some("OktaProd"))
    );
    // Nothing structured: the role comes from the message text.
    let e = event(
        &Failure::sts()
            .code("AccessDenied")
            .message("Not authorized to perform sts:AssumeRoleWithSAML on resource: arn:aws:iam::111122223333:role/path/Agents with an explicit deny in a service control policy")
            .record,
    );
    assert_eq!(
        e.role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/path/Agents")
    );
    assert_eq!(e.role_name.as_deref(), Some("Agents"));
    assert_eq!(e.failure_class, Some("scp_denied"));
    // Connect: the session name is the agent's RoleSessionName, the instance
    // id may be a URL-encoded ARN.
    let e = event(
        &Failure::connect()
            .code("UserNotFoundException")
            .set("requestParameters", json!({"InstanceId": "arn%3Aaws%3Aconnect%3Aus-east-1%3A111122223333%3Ainstance%2F4f8c2a1e-5b6d"}))
            .record,
    );
    assert_eq!(e.session_name.as_deref(), Some("JDoe"));
    assert_eq!(e.role_name.as_deref(), Some("ConnectAgent"));
    assert_eq!(e.connect_instance_id.as_deref(), Some("4f8c2a1e-5b6d"));
    // Type drift: duration as a string.
    let e = event(
        &Failure::sts()
            .code("AccessDenied")
            .set("requestParameters", json!({"durationSeconds": "43200"}))
            .record,
    );
    assert_eq!(e.duration_seconds, Some(43200));
    // The error code recovered from a message tail when errorCode is absent.
    let e = event(&Failure::sts().message("x (Service: AWSSecurityTokenService; Status Code: 400; Error Code: ExpiredToken; Request ID: 9)").record);
    assert_eq!(
        (e.error_code.as_deref(), e.failure_class),
        (Some("ExpiredToken"), Some("assertion_expired"))
    );
}

#[test]
fn config_classes() {
    let provider = |name: &str, code: &str, message: &str| {
        change(&json!({
            "eventTime": "2026-05-26T10:41:00Z", "eventSource": "iam.amazonaws.com", "eventName": name,
            "recipientAccountId": "111122223333", "errorCode": code, "errorMessage": message,
            "requestParameters": {"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/OktaProd"},
        }))
    };
    let c = provider(
        "UpdateSAMLProvider",
        "InvalidInput",
        "Could not parse metadata.",
    );
    assert_eq!(
        (c.outcome, c.failure_class),
        (Outcome::Failure, Some("metadata_invalid"))
    );
    assert_eq!(
        c.target.as_deref(),
        Some("arn:aws:iam::111122223333:saml-provider/OktaProd")
    );
    assert_eq!(
        provider("CreateSAMLProvider", "InvalidInputException", "bad").failure_class,
        Some("metadata_invalid")
    );
    assert_eq!(
        provider("DeleteSAMLProvider", "NoSuchEntity", "gone").failure_class,
        Some("config_other")
    );
}

#[test]
fn traps_are_not_federation() {
    let traps = [
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "GetFederationToken", "errorCode": "AccessDenied"}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithWebIdentity", "errorCode": "InvalidIdentityToken"}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
               "userIdentity": {"type": "IAMUser", "userName": "anaya"}, "errorMessage": "Failed authentication",
               "responseElements": {"ConsoleLogin": "Failure"}}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
               "userIdentity": {"type": "Root"}, "responseElements": {"ConsoleLogin": "Success"}}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "connect.amazonaws.com", "eventName": "DescribeUser", "errorCode": "ResourceNotFoundException"}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "connect.amazonaws.com", "eventName": "ListUsers", "errorCode": "UserNotFoundException"}),
        json!({"eventTime": "2026-05-26T08:00:00Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "errorCode": "AccessDenied"}),
        // An Insights event about the rate of a federation call is not one.
        json!({"eventVersion": "1.07", "eventType": "AwsCloudTrailInsight", "eventTime": "2026-05-26T08:00:00Z",
               "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithSAML", "insightDetails": {"state": "Start"}}),
    ];
    for trap in &traps {
        assert_eq!(run(trap), Ok(Classified::Ignored), "{trap}");
    }
}
