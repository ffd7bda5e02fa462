//! Builders for synthetic CloudTrail records, shaped like the real public
//! records in `tests/fixtures/` and varied the ways real trails vary: several
//! `eventVersion`s, both spellings of STS error codes, message tails, `null`
//! request parameters on failures, durations as numbers or strings.

use serde_json::{json, Value};

use super::rng::Rng;
use crate::time::format_micros;

/// One generated record and where CloudTrail would deliver it.
pub struct Rec {
    pub time: i64,
    pub account: &'static str,
    pub region: &'static str,
    pub json: Value,
}

/// A SAML federation setup in one account.
#[derive(Clone, Copy)]
pub struct Federation {
    pub account: &'static str,
    pub provider: &'static str,
    pub issuer: &'static str,
    pub version: &'static str,
}

impl Federation {
    pub fn provider_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:saml-provider/{}",
            self.account, self.provider
        )
    }

    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{role}", self.account)
    }
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];

fn ip(rng: &mut Rng) -> String {
    // Documentation ranges only (RFC 5737).
    let nets = ["192.0.2", "198.51.100", "203.0.113"];
    format!("{}.{}", rng.pick(&nets), rng.below(254) + 1)
}

fn header(
    rng: &mut Rng,
    t: i64,
    version: &str,
    source: &str,
    name: &str,
    region: &str,
    account: &str,
) -> Value {
    json!({
        "eventVersion": version,
        "eventTime": format_micros(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip(rng),
        "userAgent": rng.pick(BROWSERS),
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
    })
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(map) = v.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// How an STS failure looks in CloudTrail.
#[derive(Clone)]
pub struct StsError {
    pub code: &'static str,
    pub message: String,
}

/// `AssumeRoleWithSAML`, successful when `error` is `None`.
#[allow(clippy::too_many_arguments)]
pub fn assume_role_with_saml(
    rng: &mut Rng,
    t: i64,
    fed: &Federation,
    region: &'static str,
    role: &str,
    session: &str,
    endpoint: &str,
    error: Option<StsError>,
) -> Rec {
    let mut v = header(
        rng,
        t,
        fed.version,
        "sts.amazonaws.com",
        "AssumeRoleWithSAML",
        region,
        fed.account,
    );
    let duration: Value = if rng.chance(0.2) {
        json!("3600")
    } else {
        json!(3600)
    };
    let role_arn = fed.role_arn(role);
    let provider_arn = fed.provider_arn();
    let identity = json!({
        "type": "SAMLUser",
        "principalId": format!("{}:{session}", fed.provider),
        "userName": session,
        "identityProvider": fed.provider,
    });
    set(&mut v, "userIdentity", identity);
    let resources = json!([
        {"accountId": fed.account, "type": "AWS::IAM::Role", "ARN": role_arn},
        {"accountId": fed.account, "type": "AWS::IAM::SAMLProvider", "ARN": provider_arn},
    ]);
    let full_request = |rng: &mut Rng| {
        json!({
            "sAMLAssertionID": format!("_{}", rng.uuid()),
            "roleSessionName": session,
            "roleArn": role_arn,
            "principalArn": provider_arn,
            "durationSeconds": duration,
        })
    };
    match error {
        None => {
            set(&mut v, "requestParameters", full_request(rng));
            let assumed = format!("arn:aws:sts::{}:assumed-role/{role}/{session}", fed.account);
            set(
                &mut v,
                "responseElements",
                json!({
                    "credentials": {"accessKeyId": format!("ASIA{}", rng.token(16).to_uppercase()), "sessionToken": "<redacted>", "expiration": "redacted"},
                    "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{session}", rng.token(17).to_uppercase()), "arn": assumed},
                    "subject": session,
                    "subjectType": "persistent",
                    "issuer": fed.issuer,
                    "audience": if endpoint == "regional" { format!("https://{region}.signin.aws.amazon.com/saml") } else { "https://signin.aws.amazon.com/saml".to_string() },
                    "nameQualifier": fed.provider,
                }),
            );
            set(&mut v, "resources", resources);
        }
        Some(err) => {
            set(&mut v, "errorCode", json!(err.code));
            let tail = rng.chance(0.25);
            let message = if tail {
                format!(
                    "{} (Service: AWSSecurityTokenService; Status Code: 400; Error Code: {}; Request ID: {})",
                    err.message,
                    err.code,
                    rng.uuid()
                )
            } else {
                err.message
            };
            set(&mut v, "errorMessage", json!(message));
            // Failed calls often carry no request parameters at all; then
            // the role and provider survive only in resources[] or the text.
            match rng.below(3) {
                0 => {
                    set(&mut v, "requestParameters", Value::Null);
                    set(&mut v, "resources", resources);
                }
                1 => set(
                    &mut v,
                    "requestParameters",
                    json!({"roleArn": role_arn, "principalArn": provider_arn, "durationSeconds": duration}),
                ),
                _ => set(&mut v, "requestParameters", full_request(rng)),
            }
            set(&mut v, "responseElements", Value::Null);
        }
    }
    if fed.version >= "1.08" {
        set(
            &mut v,
            "additionalEventData",
            json!({"RequestDetails": {"endpointType": endpoint, "awsServingRegion": region}}),
        );
    }
    Rec {
        time: t,
        account: fed.account,
        region,
        json: v,
    }
}

/// A federated `ConsoleLogin`.
pub fn console_login(
    rng: &mut Rng,
    t: i64,
    fed: &Federation,
    role: &str,
    session: &str,
    ok: bool,
) -> Rec {
    let mut v = header(
        rng,
        t,
        fed.version,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "us-east-1",
        fed.account,
    );
    set(&mut v, "eventType", json!("AwsConsoleSignIn"));
    set(
        &mut v,
        "userIdentity",
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{session}", rng.token(17).to_uppercase()),
            "arn": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", fed.account),
            "accountId": fed.account,
        }),
    );
    set(&mut v, "requestParameters", Value::Null);
    set(
        &mut v,
        "responseElements",
        json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }}),
    );
    if !ok {
        set(&mut v, "errorMessage", json!("Failed authentication"));
    }
    set(
        &mut v,
        "additionalEventData",
        json!({
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "No",
            "SamlProviderArn": fed.provider_arn(),
        }),
    );
    Rec {
        time: t,
        account: fed.account,
        region: "us-east-1",
        json: v,
    }
}

/// Amazon Connect `GetFederationToken`, called by the federated agent's role session.
#[allow(clippy::too_many_arguments)]
pub fn connect_federation(
    rng: &mut Rng,
    t: i64,
    fed: &Federation,
    region: &'static str,
    role: &str,
    session: &str,
    instance: &str,
    error: Option<(&'static str, &str)>,
) -> Rec {
    let mut v = header(
        rng,
        t,
        fed.version,
        "connect.amazonaws.com",
        "GetFederationToken",
        region,
        fed.account,
    );
    set(
        &mut v,
        "userIdentity",
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{session}", rng.token(17).to_uppercase()),
            "arn": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", fed.account),
            "accountId": fed.account,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": fed.role_arn(role), "accountId": fed.account, "userName": role},
                "attributes": {"creationDate": format_micros(t - 2_000_000), "mfaAuthenticated": "false"},
            },
        }),
    );
    let instance_param = if rng.chance(0.5) {
        json!(instance)
    } else {
        let arn = format!(
            "arn:aws:connect:{region}:{}:instance/{instance}",
            fed.account
        );
        json!(arn.replace(':', "%3A").replace('/', "%2F"))
    };
    set(
        &mut v,
        "requestParameters",
        json!({"InstanceId": instance_param}),
    );
    match error {
        None => set(
            &mut v,
            "responseElements",
            json!({"Credentials": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        Some((code, message)) => {
            set(&mut v, "errorCode", json!(code));
            set(&mut v, "errorMessage", json!(message));
            set(&mut v, "responseElements", Value::Null);
        }
    }
    Rec {
        time: t,
        account: fed.account,
        region,
        json: v,
    }
}

/// An IAM Identity Center sign-in step (`CredentialVerification`,
/// `UserAuthentication`, `ExternalIdPDirectoryLogin`).
pub fn identity_center(
    rng: &mut Rng,
    t: i64,
    account: &'static str,
    name: &str,
    user: &str,
    ok: bool,
    error: Option<(&str, &str)>,
) -> Rec {
    let mut v = header(
        rng,
        t,
        "1.08",
        "signin.amazonaws.com",
        name,
        "us-east-1",
        account,
    );
    set(
        &mut v,
        "eventType",
        json!(if name == "ExternalIdPDirectoryLogin" {
            "AwsConsoleSignIn"
        } else {
            "AwsServiceEvent"
        }),
    );
    set(
        &mut v,
        "userIdentity",
        json!({"type": "Unknown", "principalId": account, "accountId": account, "userName": user}),
    );
    set(&mut v, "requestParameters", Value::Null);
    let verdict = if ok { "Success" } else { "Failure" };
    match name {
        "ExternalIdPDirectoryLogin" => set(&mut v, "responseElements", json!({name: verdict})),
        _ => {
            set(&mut v, "responseElements", Value::Null);
            set(&mut v, "serviceEventDetails", json!({name: verdict}));
        }
    }
    set(
        &mut v,
        "additionalEventData",
        json!({"AuthWorkflowID": rng.uuid(), "CredentialType": "EXTERNAL_IDP", "UserName": user}),
    );
    if let Some((code, message)) = error {
        if !code.is_empty() {
            set(&mut v, "errorCode", json!(code));
        }
        set(&mut v, "errorMessage", json!(message));
    }
    Rec {
        time: t,
        account,
        region: "us-east-1",
        json: v,
    }
}

/// A management call that changes configuration (IAM, Organizations,
/// Connect, Identity Center).
#[allow(clippy::too_many_arguments)]
pub fn change(
    rng: &mut Rng,
    t: i64,
    account: &'static str,
    region: &'static str,
    source: &str,
    name: &str,
    actor: &str,
    request: Value,
    response: Value,
    error: Option<(&str, &str)>,
) -> Rec {
    let mut v = header(rng, t, "1.09", source, name, region, account);
    set(
        &mut v,
        "userIdentity",
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{actor}", rng.token(17).to_uppercase()),
            "arn": format!("arn:aws:sts::{account}:assumed-role/PlatformAdmin/{actor}"),
            "accountId": account,
        }),
    );
    set(&mut v, "requestParameters", request);
    set(&mut v, "responseElements", response);
    set(&mut v, "readOnly", json!(false));
    if let Some((code, message)) = error {
        set(&mut v, "errorCode", json!(code));
        set(&mut v, "errorMessage", json!(message));
    }
    Rec {
        time: t,
        account,
        region,
        json: v,
    }
}

/// An everyday API call of some other service: the bulk of any trail.
pub fn noise(rng: &mut Rng, t: i64, account: &'static str, region: &'static str) -> Rec {
    const CALLS: &[(&str, &str)] = &[
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("s3.amazonaws.com", "GetBucketAcl"),
        ("kms.amazonaws.com", "Decrypt"),
        ("kms.amazonaws.com", "GenerateDataKey"),
        ("lambda.amazonaws.com", "ListFunctions20150331"),
        ("monitoring.amazonaws.com", "GetMetricData"),
        ("logs.amazonaws.com", "CreateLogStream"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("ssm.amazonaws.com", "GetParameter"),
        ("dynamodb.amazonaws.com", "DescribeTable"),
        ("iam.amazonaws.com", "GetRole"),
        ("secretsmanager.amazonaws.com", "GetSecretValue"),
        ("cloudformation.amazonaws.com", "DescribeStacks"),
        ("connect.amazonaws.com", "DescribeUser"),
        ("sso.amazonaws.com", "GetRoleCredentials"),
    ];
    let (source, name) = *rng.pick(CALLS);
    let version = *rng.pick(&["1.05", "1.08", "1.09", "1.10", "1.11"]);
    let mut v = header(rng, t, version, source, name, region, account);
    set(
        &mut v,
        "userIdentity",
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{}", rng.token(17).to_uppercase(), rng.token(8)),
            "arn": format!("arn:aws:sts::{account}:assumed-role/app-role-{}/worker", rng.below(12)),
            "accountId": account,
        }),
    );
    set(
        &mut v,
        "userAgent",
        json!(*rng.pick(&[
            "aws-sdk-go-v2/1.36.3",
            "aws-cli/2.17.60",
            "Boto3/1.35.0",
            "aws-sdk-java/2.46.14"
        ])),
    );
    set(
        &mut v,
        "requestParameters",
        if rng.chance(0.5) {
            Value::Null
        } else {
            json!({"maxResults": 100})
        },
    );
    set(&mut v, "responseElements", Value::Null);
    set(&mut v, "readOnly", json!(true));
    if rng.chance(0.03) {
        set(&mut v, "errorCode", json!("AccessDenied"));
        set(
            &mut v,
            "errorMessage",
            json!(format!("User is not authorized to perform: {}", name)),
        );
    }
    Rec {
        time: t,
        account,
        region,
        json: v,
    }
}

/// Records that look like federation but are not, and must not be counted
/// as such: STS's own GetFederationToken, web-identity federation, an IAM
/// user's failed console login, other Connect API errors.
pub fn trap(rng: &mut Rng, t: i64, account: &'static str, kind: u64) -> Rec {
    let region = "us-east-1";
    let mut v;
    match kind % 5 {
        0 => {
            v = header(
                rng,
                t,
                "1.08",
                "sts.amazonaws.com",
                "GetFederationToken",
                region,
                account,
            );
            set(
                &mut v,
                "userIdentity",
                json!({"type": "IAMUser", "userName": "broker", "arn": format!("arn:aws:iam::{account}:user/broker"), "accountId": account}),
            );
            set(
                &mut v,
                "requestParameters",
                json!({"name": "partner-session", "durationSeconds": 3600}),
            );
            if rng.chance(0.5) {
                set(&mut v, "errorCode", json!("AccessDenied"));
                set(
                    &mut v,
                    "errorMessage",
                    json!("User is not authorized to perform: sts:GetFederationToken"),
                );
            }
        }
        1 => {
            v = header(
                rng,
                t,
                "1.08",
                "sts.amazonaws.com",
                "AssumeRoleWithWebIdentity",
                region,
                account,
            );
            set(
                &mut v,
                "userIdentity",
                json!({"type": "WebIdentityUser", "principalId": "accounts.google.com:1234", "userName": "1234", "identityProvider": "accounts.google.com"}),
            );
            set(&mut v, "errorCode", json!("InvalidIdentityToken"));
            set(
                &mut v,
                "errorMessage",
                json!("Couldn't retrieve verification key from your identity provider"),
            );
            set(&mut v, "requestParameters", Value::Null);
        }
        2 => {
            v = header(
                rng,
                t,
                "1.05",
                "signin.amazonaws.com",
                "ConsoleLogin",
                region,
                account,
            );
            set(&mut v, "eventType", json!("AwsConsoleSignIn"));
            set(
                &mut v,
                "userIdentity",
                json!({"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "accountId": account, "accessKeyId": "", "userName": "anaya"}),
            );
            set(&mut v, "errorMessage", json!("Failed authentication"));
            set(&mut v, "requestParameters", Value::Null);
            set(
                &mut v,
                "responseElements",
                json!({"ConsoleLogin": "Failure"}),
            );
            set(
                &mut v,
                "additionalEventData",
                json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"}),
            );
        }
        3 => {
            v = header(
                rng,
                t,
                "1.09",
                "connect.amazonaws.com",
                "CreateContactFlowModule",
                region,
                account,
            );
            set(
                &mut v,
                "userIdentity",
                json!({"type": "IAMUser", "userName": "Seshu", "arn": format!("arn:aws:iam::{account}:user/Seshu"), "accountId": account}),
            );
            set(
                &mut v,
                "errorCode",
                json!("InvalidContactFlowModuleException"),
            );
            set(
                &mut v,
                "requestParameters",
                json!({"InstanceId": "bd16d991-11c8-4d1e-9900-edd5ed4a9b21", "Content": "***", "Name": "VoiceToChatFlowModule"}),
            );
        }
        _ => {
            v = header(
                rng,
                t,
                "1.09",
                "connect.amazonaws.com",
                "DescribeUser",
                region,
                account,
            );
            set(
                &mut v,
                "userIdentity",
                json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{account}:assumed-role/ConnectAdmin/ops"), "accountId": account}),
            );
            set(&mut v, "errorCode", json!("ResourceNotFoundException"));
            set(
                &mut v,
                "errorMessage",
                json!("User not found for the given id"),
            );
            set(
                &mut v,
                "requestParameters",
                json!({"InstanceId": "bd16d991-11c8-4d1e-9900-edd5ed4a9b21", "UserId": "x"}),
            );
        }
    }
    Rec {
        time: t,
        account,
        region,
        json: v,
    }
}
