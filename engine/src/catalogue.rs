//! The keys CloudTrail records have, as far as we know them: the top-level members and the
//! members of the structured ones. Rule hygiene checks field names against it (`eventname` is
//! no field); the pair scanner picks the byte that tells the keys it wants from the ones every
//! record holds (`scan::prefilter`).

/// Top-level keys of a CloudTrail record, with the keys each structured member has (`None`:
/// any key below, as for the payloads).
pub(crate) const RECORD: &[(&str, Option<&[&str]>)] = &[
    ("eventVersion", Some(&[])),
    ("userIdentity", Some(USER_IDENTITY)),
    ("eventTime", Some(&[])),
    ("eventSource", Some(&[])),
    ("eventName", Some(&[])),
    ("awsRegion", Some(&[])),
    ("sourceIPAddress", Some(&[])),
    ("userAgent", Some(&[])),
    ("errorCode", Some(&[])),
    ("errorMessage", Some(&[])),
    ("requestParameters", None),
    ("responseElements", None),
    ("additionalEventData", None),
    ("requestID", Some(&[])),
    ("eventID", Some(&[])),
    ("readOnly", Some(&[])),
    (
        "resources",
        Some(&["ARN", "ARNPrefix", "accountId", "type"]),
    ),
    ("eventType", Some(&[])),
    ("apiVersion", Some(&[])),
    ("managementEvent", Some(&[])),
    ("recipientAccountId", Some(&[])),
    ("serviceEventDetails", None),
    ("sharedEventID", Some(&[])),
    ("vpcEndpointId", Some(&[])),
    ("vpcEndpointAccountId", Some(&[])),
    ("eventCategory", Some(&[])),
    (
        "addendum",
        Some(&[
            "reason",
            "updatedFields",
            "originalRequestID",
            "originalEventID",
        ]),
    ),
    ("sessionCredentialFromConsole", Some(&[])),
    ("edgeDeviceDetails", None),
    (
        "tlsDetails",
        Some(&[
            "tlsVersion",
            "cipherSuite",
            "clientProvidedHostHeader",
            "keyExchange",
        ]),
    ),
    ("insightDetails", None),
    ("eventContext", None),
    // Digest files, which arrive in the same buckets as records.
    ("awsAccountId", Some(&[])),
    ("digestStartTime", Some(&[])),
    ("digestEndTime", Some(&[])),
    ("digestS3Bucket", Some(&[])),
    ("digestS3Object", Some(&[])),
    ("digestPublicKeyFingerprint", Some(&[])),
    ("digestSignatureAlgorithm", Some(&[])),
    ("newestEventTime", Some(&[])),
    ("oldestEventTime", Some(&[])),
    ("previousDigestS3Bucket", Some(&[])),
    ("previousDigestS3Object", Some(&[])),
    ("previousDigestHashValue", Some(&[])),
    ("previousDigestHashAlgorithm", Some(&[])),
    ("previousDigestSignature", Some(&[])),
    (
        "logFiles",
        Some(&[
            "s3Bucket",
            "s3Object",
            "hashValue",
            "hashAlgorithm",
            "newestEventTime",
            "oldestEventTime",
        ]),
    ),
];

/// Keys of `userIdentity`; `sessionContext`, `onBehalfOf` and `inScopeOf` are accepted below.
const USER_IDENTITY: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
    "identityProvider",
    "credentialId",
    "onBehalfOf",
    "inScopeOf",
];

/// Structured members whose own members are accepted whatever they are.
pub(crate) const OPEN_BELOW: &[&str] = &["sessionContext", "onBehalfOf", "inScopeOf"];

/// Keys of `userIdentity.sessionContext` (open below for hygiene: its members vary by
/// identity type), as most assumed-role records hold them.
const SESSION_CONTEXT: &[&str] = &[
    "attributes",
    "creationDate",
    "mfaAuthenticated",
    "sessionIssuer",
    "webIdFederationData",
    "sourceIdentity",
    "ec2RoleDelivery",
];

/// Every key named above: top-level, one level down, and the session context's.
pub(crate) fn known_keys() -> impl Iterator<Item = &'static str> {
    RECORD
        .iter()
        .flat_map(|(key, members)| {
            std::iter::once(*key).chain(members.iter().flat_map(|m| m.iter().copied()))
        })
        .chain(SESSION_CONTEXT.iter().copied())
}
