//! What each failure class means and what to do about it: the knowledge
//! behind `fedtrail explain`, one entry per class of the taxonomy. Commands
//! use upper-case placeholders (ROLE, PROVIDER_ARN, INSTANCE_ID, ACCOUNT,
//! REGION) for the values the failing events name.

/// One likely cause, with the commands that confirm or rule it out.
#[derive(Debug, Clone, Copy)]
pub struct Cause {
    pub cause: &'static str,
    pub confirm: &'static [&'static str],
}

/// The guide to one class.
#[derive(Debug, Clone, Copy)]
pub struct Guide {
    pub class: &'static str,
    /// What the failure means, in a sentence or two.
    pub means: &'static str,
    /// Likely causes, most likely first.
    pub causes: &'static [Cause],
    pub fix: &'static str,
}

const TRAIL: &str = "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=AssumeRoleWithSAML --max-results 20";
const TRUST: &str = "aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument";
const PROVIDER: &str = "aws iam get-saml-provider --saml-provider-arn PROVIDER_ARN";
const PROVIDERS: &str = "aws iam list-saml-providers";
const PROVIDER_CHANGES: &str = "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=UpdateSAMLProvider";
const CONNECT_USERS: &str =
    "aws connect list-users --instance-id INSTANCE_ID --query 'UserSummaryList[].Username'";
const ROLE_POLICIES: &str = "aws iam list-attached-role-policies --role-name ROLE && aws iam list-role-policies --role-name ROLE";

macro_rules! cause {
    ($cause:expr, [$($cmd:expr),* $(,)?]) => {
        Cause { cause: $cause, confirm: &[$($cmd),*] }
    };
}

/// Every class's guide, in the taxonomy's order.
pub const GUIDES: &[Guide] = &[
    Guide {
        class: "trust_policy_denied",
        means: "STS checked the SAML assertion and then refused: the role's trust policy does not let this SAML provider assume it.",
        causes: &[
            cause!("The trust policy's Principal names another SAML provider ARN (a provider re-created under a new name, or another account's).", [TRUST, PROVIDERS]),
            cause!("A SAML:aud or SAML:iss condition in the trust policy does not match what the assertion carries (global vs regional sign-in URL).", [TRUST]),
            cause!("The Role attribute names a role that does not exist or is misspelt (role names are case-sensitive).", ["aws iam get-role --role-name ROLE"]),
            cause!("The trust policy was edited just before the failures began.", ["aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=UpdateAssumeRolePolicy"]),
        ],
        fix: "Allow sts:AssumeRoleWithSAML for Principal {\"Federated\": PROVIDER_ARN} with the SAML:aud the IdP actually sends: aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json",
    },
    Guide {
        class: "scp_denied",
        means: "An AWS Organizations service control policy denies sts:AssumeRoleWithSAML in this account, often only in some regions.",
        causes: &[
            cause!("A region allow-list SCP (aws:RequestedRegion) that does not include the region users sign in to.", ["aws organizations list-policies-for-target --target-id ACCOUNT --filter SERVICE_CONTROL_POLICY", "aws organizations describe-policy --policy-id POLICY_ID --query Policy.Content"]),
            cause!("A policy newly attached to the account's OU.", ["aws organizations list-parents --child-id ACCOUNT", "aws organizations list-policies-for-target --target-id OU_ID --filter SERVICE_CONTROL_POLICY"]),
        ],
        fix: "Exempt sts:AssumeRoleWithSAML (or the region) in the SCP with aws organizations update-policy, or detach it from the OU; fedtrail's incident names the change that attached it.",
    },
    Guide {
        class: "session_tags_denied",
        means: "The assertion sends session tags (PrincipalTag attributes) but the trust policy does not allow sts:TagSession.",
        causes: &[
            cause!("A new attribute mapping in the IdP adds https://aws.amazon.com/SAML/Attributes/PrincipalTag:* attributes.", [TRUST]),
        ],
        fix: "Add \"sts:TagSession\" to the Action list of the trust policy statement for the SAML provider, or remove the PrincipalTag attributes from the IdP application.",
    },
    Guide {
        class: "session_name_missing",
        means: "The assertion has no RoleSessionName attribute, or it is empty, so STS cannot name the session.",
        causes: &[
            cause!("The IdP application lacks the https://aws.amazon.com/SAML/Attributes/RoleSessionName attribute, or maps it to a user property that is empty for these users.", [TRAIL]),
        ],
        fix: "Map RoleSessionName to a property every user has (the username or e-mail) in the IdP's AWS application.",
    },
    Guide {
        class: "session_name_invalid",
        means: "The RoleSessionName value breaks STS's rule: 2 to 64 characters from [a-zA-Z_0-9+=,.@-].",
        causes: &[
            cause!("The mapped property holds spaces (a display name such as 'Jane Doe') or characters outside the set (accents, apostrophes).", [TRAIL]),
            cause!("The value is longer than 64 characters or a single character.", [TRAIL]),
            cause!("Leading or trailing whitespace in the IdP's user data (fedtrail reports this as the session_name_whitespace finding).", [TRAIL]),
        ],
        fix: "Map RoleSessionName to the username or e-mail, or transform it in the IdP (strip spaces, trim) so it fits the pattern.",
    },
    Guide {
        class: "source_identity_invalid",
        means: "The SourceIdentity attribute breaks the allowed pattern ([a-zA-Z_0-9+=,.@-], 2 to 64 characters).",
        causes: &[
            cause!("The IdP maps https://aws.amazon.com/SAML/Attributes/SourceIdentity to a value with spaces or other characters.", [TRAIL]),
        ],
        fix: "Map SourceIdentity to a plain identifier such as the username, or drop the attribute.",
    },
    Guide {
        class: "signature_invalid",
        means: "STS could not verify the assertion's signature with the certificates in the IAM SAML provider's metadata: the IdP signs with a certificate IAM does not know.",
        causes: &[
            cause!("The IdP rotated its signing certificate and the new metadata was never uploaded to IAM (the failures start at the rotation, for every user of the provider).", [PROVIDER, PROVIDER_CHANGES]),
            cause!("The IdP application was re-created or switched to a new signing key.", [PROVIDER]),
            cause!("The wrong provider's metadata was uploaded (another IdP application or environment).", [PROVIDERS]),
        ],
        fix: "Download the IdP's current metadata and upload it: aws iam update-saml-provider --saml-provider-arn PROVIDER_ARN --saml-metadata-document file://metadata.xml. Next time, upload the IdP's metadata as soon as it lists the coming certificate, before the IdP starts signing with it.",
    },
    Guide {
        class: "issuer_mismatch",
        means: "The assertion's Issuer does not equal the entityID in the provider's metadata.",
        causes: &[
            cause!("Scheme or trailing-slash differences (http vs https, 'https://idp/' vs 'https://idp').", [PROVIDER]),
            cause!("The metadata belongs to another IdP application or tenant.", [PROVIDER]),
        ],
        fix: "Re-download the metadata from the same IdP application that signs in users and upload it with aws iam update-saml-provider.",
    },
    Guide {
        class: "audience_mismatch",
        means: "The assertion's Audience is not a sign-in URL this role accepts.",
        causes: &[
            cause!("The IdP posts to a regional sign-in endpoint (https://REGION.signin.aws.amazon.com/saml) while the trust policy's SAML:aud allows only https://signin.aws.amazon.com/saml, or the reverse.", [TRUST]),
            cause!("The IdP application's Audience / Entity ID field was changed or mistyped.", [TRAIL]),
        ],
        fix: "Make the IdP's Audience and ACS URL and the trust policy's SAML:aud agree; list both the global and the regional URL in SAML:aud when both are in use.",
    },
    Guide {
        class: "provider_not_found",
        means: "The provider ARN in the Role attribute names no IAM SAML provider.",
        causes: &[
            cause!("A wrong account id or provider name in the Role attribute (copied from another account).", [PROVIDERS]),
            cause!("The provider was deleted or re-created under another name.", [PROVIDERS, "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=DeleteSAMLProvider"]),
        ],
        fix: "Correct the Role attribute to 'arn:aws:iam::ACCOUNT:role/ROLE,arn:aws:iam::ACCOUNT:saml-provider/NAME', or create the provider with aws iam create-saml-provider.",
    },
    Guide {
        class: "role_attribute_invalid",
        means: "The Role attribute is missing, empty, or not a 'roleArn,providerArn' pair STS can read.",
        causes: &[
            cause!("The attribute is absent for these users (no group or role assignment in the IdP).", [TRAIL]),
            cause!("The ARNs are in the wrong order, malformed, or padded with whitespace.", [TRAIL]),
        ],
        fix: "Send https://aws.amazon.com/SAML/Attributes/Role as 'arn:aws:iam::ACCOUNT:role/ROLE,arn:aws:iam::ACCOUNT:saml-provider/NAME' with no spaces, for every user who may sign in.",
    },
    Guide {
        class: "duration_exceeds_max",
        means: "The SessionDuration attribute asks for a longer session than the role's MaxSessionDuration.",
        causes: &[
            cause!("The IdP sends SessionDuration (e.g. 43200) while the role keeps the default of 3600 seconds.", ["aws iam get-role --role-name ROLE --query Role.MaxSessionDuration"]),
            cause!("The role's maximum was lowered.", ["aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=UpdateRole"]),
        ],
        fix: "aws iam update-role --role-name ROLE --max-session-duration 43200 (at most 12 hours), or lower the IdP's SessionDuration.",
    },
    Guide {
        class: "assertion_expired",
        means: "The assertion was redeemed after its NotOnOrAfter time.",
        causes: &[
            cause!("The IdP's clock runs behind by more than about five minutes.", ["date -u   # on the IdP host, compared with a trusted NTP source"]),
            cause!("Slow redirects or a user replaying an old sign-in page (a browser tab left open).", [TRAIL]),
        ],
        fix: "Synchronise the IdP's clock with NTP; ask users to start the sign-in from the IdP again rather than reusing an old tab.",
    },
    Guide {
        class: "assertion_not_yet_valid",
        means: "The assertion's NotBefore lies in the future for AWS.",
        causes: &[
            cause!("The IdP's clock runs ahead of AWS.", ["date -u   # on the IdP host, compared with a trusted NTP source"]),
        ],
        fix: "Synchronise the IdP's clock with NTP.",
    },
    Guide {
        class: "region_disabled",
        means: "STS is not active for this account in the region of the endpoint used.",
        causes: &[
            cause!("The regional STS endpoint was deactivated (IAM account settings), or an opt-in region is not enabled.", ["aws sts get-caller-identity --region REGION", "aws account list-regions --region-opt-status-contains ENABLED ENABLED_BY_DEFAULT"]),
        ],
        fix: "Activate STS for the region in IAM account settings (or enable the opt-in region), or point the IdP at an endpoint in an active region.",
    },
    Guide {
        class: "idp_rejected_claim",
        means: "STS reports that the identity provider rejected the claim.",
        causes: &[
            cause!("The IdP refused the request (user disabled, MFA not completed, conditional access).", [TRAIL]),
        ],
        fix: "Check the IdP's own sign-in log for the user and time of the failure.",
    },
    Guide {
        class: "policy_invalid",
        means: "The session policy or the session tags are malformed or too large once packed.",
        causes: &[
            cause!("Too many or too long session tags or transitive tag keys from the IdP.", [TRAIL]),
        ],
        fix: "Send fewer or shorter PrincipalTag attributes; keep session policies small.",
    },
    Guide {
        class: "sts_other",
        means: "An AssumeRoleWithSAML failure that no rule recognises, including throttling: the raw code and message are kept in the events table.",
        causes: &[
            cause!("Throttling (Throttling, RequestLimitExceeded) during a sign-in storm.", [TRAIL]),
            cause!("A new or rare STS error.", [TRAIL]),
        ],
        fix: "Read error_code and error_message in events/ (fedtrail query -e \"SELECT error_code, error_message, count(*) FROM events WHERE failure_class = 'sts_other' GROUP BY 1, 2\").",
    },
    Guide {
        class: "console_login_failed",
        means: "STS issued credentials but the federated console sign-in that followed failed.",
        causes: &[
            cause!("The sign-in link or relay state points at a wrong or disabled console region.", ["aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=ConsoleLogin"]),
            cause!("A policy denies console access for the role (an SCP or a permissions boundary).", [ROLE_POLICIES]),
        ],
        fix: "Compare the failing ConsoleLogin records with successful ones for the same role; fix the relay state or the denying policy.",
    },
    Guide {
        class: "connect_user_not_onboarded",
        means: "The user authenticated with STS, but Amazon Connect has no user whose username equals the RoleSessionName exactly.",
        causes: &[
            cause!("Case differs: Connect usernames are case-sensitive, so 'JDoe' is not 'jdoe' (see the session_name_case_drift finding).", [CONNECT_USERS]),
            cause!("Format differs: the IdP sends an e-mail address and Connect holds plain usernames, or the reverse (session_name_format_mismatch).", [CONNECT_USERS]),
            cause!("The user was never created in Connect, or was deleted: Connect does not provision users on first sign-in.", [CONNECT_USERS, "aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventName,AttributeValue=DeleteUser"]),
        ],
        fix: "Make the RoleSessionName attribute equal the Connect username exactly (same case and format), or create the user: aws connect create-user --instance-id INSTANCE_ID --username NAME ...",
    },
    Guide {
        class: "connect_access_denied",
        means: "The federation role may not call connect:GetFederationToken on this instance.",
        causes: &[
            cause!("The role's policy lacks connect:GetFederationToken on arn:aws:connect:REGION:ACCOUNT:instance/INSTANCE_ID/user/${aws:userid}.", [ROLE_POLICIES]),
            cause!("A connect:InstanceId condition or an SCP names another instance or region.", [ROLE_POLICIES, "aws organizations list-policies-for-target --target-id ACCOUNT --filter SERVICE_CONTROL_POLICY"]),
        ],
        fix: "Grant connect:GetFederationToken on the instance's user resources to the federation role (aws iam put-role-policy --role-name ROLE ...).",
    },
    Guide {
        class: "connect_instance_not_found",
        means: "The relay state names a Connect instance that does not exist in that region.",
        causes: &[
            cause!("A wrong instance id or region in the relay state URL https://REGION.console.aws.amazon.com/connect/federate/INSTANCE_ID.", ["aws connect list-instances --region REGION"]),
        ],
        fix: "Correct the relay state in the IdP application to the instance's region and id.",
    },
    Guide {
        class: "connect_root_not_supported",
        means: "The root user tried to federate into Amazon Connect, which is not supported.",
        causes: &[cause!("Someone signed in as the account root and opened the Connect federation link.", ["aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventName,AttributeValue=GetFederationToken"])],
        fix: "Sign in through the IdP with a federated role instead of the root user.",
    },
    Guide {
        class: "connect_invalid_request",
        means: "Connect rejected the federation request as malformed.",
        causes: &[cause!("A malformed relay state or request parameters from a custom sign-in flow.", ["aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventName,AttributeValue=GetFederationToken"])],
        fix: "Compare the failing request with a successful one in events/ and correct the relay state.",
    },
    Guide {
        class: "connect_throttled",
        means: "Connect throttled the federation calls.",
        causes: &[cause!("Many agents signing in at once (a shift start) or a retry loop.", ["aws service-quotas list-service-quotas --service-code connect"])],
        fix: "Stagger sign-ins or break retry loops; ask for a quota increase if it recurs.",
    },
    Guide {
        class: "connect_other",
        means: "A GetFederationToken failure that no rule recognises: the raw code and message are kept in the events table.",
        causes: &[cause!("A new or rare Connect error.", ["aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventName,AttributeValue=GetFederationToken"])],
        fix: "Read error_code and error_message in events/ for these failures.",
    },
    Guide {
        class: "idc_external_idp_failed",
        means: "IAM Identity Center rejected the external IdP's SAML response at sign-in.",
        causes: &[
            cause!("NameID is not in urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress format, or does not equal an Identity Center username.", ["aws identitystore list-users --identity-store-id IDENTITY_STORE_ID --query 'Users[].UserName'"]),
            cause!("The user is not provisioned in Identity Center (no just-in-time creation; SCIM sync missing or failing).", ["aws identitystore list-users --identity-store-id IDENTITY_STORE_ID"]),
            cause!("The response holds more than one assertion, an encrypted assertion, or attributes beyond the ABAC limits (50, single-valued).", ["aws sso-admin list-instances"]),
        ],
        fix: "Send NameID as the e-mail-format username that exists in Identity Center, provision users before sign-in, and keep one unencrypted assertion per response.",
    },
    Guide {
        class: "idc_credential_failed",
        means: "A credential check failed during Identity Center sign-in (the record's CredentialType says which).",
        causes: &[cause!("A wrong password, MFA code or passkey for an Identity Center directory user.", ["aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventName,AttributeValue=CredentialVerification"])],
        fix: "Check the user's credentials or MFA device; repeated failures from many users point at an identity-source change.",
    },
    Guide {
        class: "idc_other",
        means: "An Identity Center sign-in failure that no rule recognises, including throttling.",
        causes: &[cause!("A new or rare Identity Center error.", ["aws cloudtrail lookup-events --region REGION --lookup-attributes AttributeKey=EventSource,AttributeValue=signin.amazonaws.com"])],
        fix: "Read error_code and error_message in events/ for these failures.",
    },
    Guide {
        class: "metadata_invalid",
        means: "IAM refused the SAML metadata document in CreateSAMLProvider or UpdateSAMLProvider.",
        causes: &[
            cause!("The file starts with a UTF-8 byte-order mark or is not well-formed XML.", ["head -c 3 metadata.xml | od -c   # a BOM shows as 357 273 277"]),
            cause!("The certificate's key is under 1024 bits, or the certificate repeats an extension.", ["openssl x509 -in cert.pem -noout -text"]),
        ],
        fix: "Save the metadata as UTF-8 without a BOM, use a signing certificate with a key of at least 2048 bits, and upload again with aws iam update-saml-provider.",
    },
    Guide {
        class: "config_other",
        means: "A configuration change (provider, role, SCP, Connect user, identity source) failed for another reason.",
        causes: &[cause!("Permissions of the caller, or a rare service error.", ["aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=Username,AttributeValue=ACTOR"])],
        fix: "Read error_code and error_message in changes.parquet.",
    },
];

/// The guide to a class id.
pub fn guide(class: &str) -> Option<&'static Guide> {
    GUIDES.iter().find(|g| g.class == class)
}
