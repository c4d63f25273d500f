"""Raw CloudTrail records whose ECS view holds given values, for synthesizing records that make
Elastic rules fire.

Elastic rules read ECS fields; trailtag tags raw records. `raw_record` writes each ECS field's
value where Elastic's `aws.cloudtrail` pipeline takes that field from (the renames of
`../shared/spec/ecs-mapping.md`, section 3). Fields the pipeline derives or fixes are not
written: `event.category`/`event.type` follow from `event.action` through the pipeline's
table, `data_stream.dataset` is always `aws.cloudtrail`. A field no raw record can produce
here (GeoIP's `source.as.*`, the parsed `user_agent.name`, the entity enrichment's
`related.entity`) raises ValueError, and the witness builder skips that alternative.
"""

import ipaddress

SKELETON = {"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1"}

RENAMES = {
    "event.action": "eventName",
    "event.provider": "eventSource",
    "event.id": "eventID",
    "user_agent.original": "userAgent",
    "cloud.region": "awsRegion",
    "cloud.account.id": "userIdentity.accountId",
    "user.id": "userIdentity.principalId",
    "user.name": "userIdentity.userName",
    "tls.client.server_name": "tlsDetails.clientProvidedHostHeader",
    "aws.cloudtrail.error_code": "errorCode",
    "aws.cloudtrail.error_message": "errorMessage",
    "aws.cloudtrail.event_type": "eventType",
    "aws.cloudtrail.event_category": "eventCategory",
    "aws.cloudtrail.recipient_account_id": "recipientAccountId",
    "aws.cloudtrail.session_credential_from_console": "sessionCredentialFromConsole",
    "aws.cloudtrail.user_identity.type": "userIdentity.type",
    "aws.cloudtrail.user_identity.arn": "userIdentity.arn",
    "aws.cloudtrail.user_identity.access_key_id": "userIdentity.accessKeyId",
    "aws.cloudtrail.user_identity.invoked_by": "userIdentity.invokedBy",
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn":
        "userIdentity.sessionContext.sessionIssuer.arn",
    "aws.cloudtrail.user_identity.session_context.session_issuer.type":
        "userIdentity.sessionContext.sessionIssuer.type",
    "aws.cloudtrail.user_identity.session_context.mfa_authenticated":
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
}
# The `flattened` copies: the object itself, so a path under them is a path in the record.
FLATTENED = {
    "aws.cloudtrail.flattened.request_parameters.": "requestParameters",
    "aws.cloudtrail.flattened.response_elements.": "responseElements",
    "aws.cloudtrail.flattened.additional_eventdata.": "additionalEventData",
    "aws.cloudtrail.flattened.service_event_details.": "serviceEventDetails",
}
# The Java-rendered strings of those objects: a value to find in the string becomes one entry
# of the object (`{note=<value>}`).
RENDERED = {
    "aws.cloudtrail.request_parameters": "requestParameters",
    "aws.cloudtrail.response_elements": "responseElements",
    "aws.cloudtrail.additional_eventdata": "additionalEventData",
    "aws.cloudtrail.service_event_details": "serviceEventDetails",
}
CONSTANTS = {"data_stream.dataset": "aws.cloudtrail", "event.dataset": "aws.cloudtrail",
             "event.module": "aws", "event.kind": "event", "data_stream.type": "logs"}
DERIVED = {"event.category", "event.type"}
SPECIAL = {"event.outcome", "source.address", "source.ip", "aws.cloudtrail.resources.arn",
           "aws.cloudtrail.console_login.additional_eventdata.mfa_used"}
# Fields whose near misses cannot be written: a constant or derived value, and an outcome the
# pipeline always sets (`success` when there is no error).
UNCHANGEABLE = set(CONSTANTS) | DERIVED
UNREMOVABLE = UNCHANGEABLE | {"event.outcome"}


def writable(name):
    """Whether `raw_record` can give ECS field `name` a value."""
    return (name in RENAMES or name in RENDERED or name in CONSTANTS or name in DERIVED
            or name in SPECIAL or any(name.startswith(p) for p in FLATTENED))


def _set(record, path, value, list_keys=("items",)):
    """Sets dotted `path`; a key named `items` holds a list, as CloudTrail writes EC2 lists."""
    keys = path.split(".")
    node = record
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = {}
            node[key] = [child] if key in list_keys else child
        if isinstance(child, list):
            child = child[0]
        if not isinstance(child, dict):
            raise ValueError(f"{path}: {key} is already a value")
        node = child
    if isinstance(node.get(keys[-1]), dict):
        raise ValueError(f"{path} is already an object")
    node[keys[-1]] = value


def _typed(value):
    """A flattened leaf as CloudTrail would write it: booleans and integers typed."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return value


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def raw_record(fields, resources=1):
    """A raw CloudTrail record whose ECS view has `fields` (ECS name -> string or None).
    `resources=2` writes a resource ARN the way S3 data events do, beside the bucket's."""
    record = dict(SKELETON)
    for name, value in fields.items():
        if value is None or name in DERIVED or name in SPECIAL:
            continue
        if name in CONSTANTS:
            if value != CONSTANTS[name]:
                raise ValueError(f"{name} is always {CONSTANTS[name]}")
        elif name in RENAMES:
            _set(record, RENAMES[name], value)
        elif name in RENDERED:
            _set(record, f"{RENDERED[name]}.note", value)
        else:
            prefix = next((p for p in FLATTENED if name.startswith(p)), None)
            if prefix is None:
                raise ValueError(f"{name}: no raw CloudTrail field makes it here")
            _set(record, f"{FLATTENED[prefix]}.{name[len(prefix):]}", _typed(value))
    _source(record, fields)
    _outcome(record, fields)
    if fields.get("aws.cloudtrail.resources.arn") is not None:
        record["resources"] = [{"ARN": fields["aws.cloudtrail.resources.arn"],
                                "type": "AWS::S3::Object"}]
        if resources == 2:
            record["resources"].append({"ARN": "arn:aws:s3:::bucket", "type": "AWS::S3::Bucket"})
    mfa = fields.get("aws.cloudtrail.console_login.additional_eventdata.mfa_used")
    if mfa is not None:
        _set(record, "additionalEventData.MFAUsed", "No" if mfa == "false" else "Yes")
    return record


def _source(record, fields):
    address, ip = fields.get("source.address"), fields.get("source.ip")
    if ip is not None and not _is_ip(ip):
        ip = "198.51.100.7"
    if address is not None and ip is not None and address != ip:
        raise ValueError("source.ip must be source.address")
    if address is not None or ip is not None:
        record["sourceIPAddress"] = address if address is not None else ip


def _outcome(record, fields):
    outcome = fields.get("event.outcome")
    failed = outcome not in (None, "success")
    if failed and "errorCode" not in record:
        record["errorCode"] = "AccessDenied"
    if fields.get("event.action") == "ConsoleLogin":
        _set(record, "responseElements.ConsoleLogin", "Failure" if failed else "Success")
