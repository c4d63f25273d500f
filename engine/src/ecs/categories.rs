//! `event.category` and `event.type` from `eventName`: the categorisation table of Elastic's
//! CloudTrail pipeline (newest version, `../shared/spec/ecs-mapping.md` §4).
//!
//! Every record starts with `event.type = ["info"]` and no category. If its action (`eventName`,
//! present and not removed by the clean-up) is in the table, the row's category and type replace
//! them; the lookup is exact and ignores the service. A row with no types removes `event.type`
//! (the second clean-up pass drops the empty list).

/// One row: the actions it covers, their categories and their types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// `eventName`s, exactly.
    pub actions: &'static [&'static str],
    /// `event.category`.
    pub categories: &'static [&'static str],
    /// `event.type` (empty: the field is removed).
    pub types: &'static [&'static str],
}

/// `event.type` of a record whose action is not in the table.
pub const DEFAULT_TYPES: &[&str] = &["info"];

const fn row(
    actions: &'static [&'static str],
    categories: &'static [&'static str],
    types: &'static [&'static str],
) -> Row {
    Row {
        actions,
        categories,
        types,
    }
}

/// The table.
pub const TABLE: &[Row] = &[
    row(
        &[
            "AddUserToGroup",
            "AttachGroupPolicy",
            "DeleteGroupPolicy",
            "DetachGroupPolicy",
            "PutGroupPolicy",
            "RemoveUserFromGroup",
            "UpdateGroup",
        ],
        &["iam"],
        &["group", "change"],
    ),
    row(&["CreateGroup"], &["iam"], &["group", "creation"]),
    row(&["DeleteGroup"], &["iam"], &["group", "deletion"]),
    row(
        &[
            "GetGroup",
            "GetGroupPolicy",
            "ListAttachedGroupPolicies",
            "ListGroupPolicies",
            "ListGroups",
        ],
        &["iam"],
        &["group", "info"],
    ),
    row(
        &[
            "AttachUserPolicy",
            "ChangePassword",
            "CreateAccessKey",
            "CreateVirtualMFADevice",
            "DeactivateMFADevice",
            "DeleteAccessKey",
            "DeleteSSHPublicKey",
            "DeleteUserPermissionsBoundary",
            "DeleteUserPolicy",
            "DeleteVirtualMFADevice",
            "DetachUserPolicy",
            "EnableMFADevice",
            "PutUserPermissionsBoundary",
            "PutUserPolicy",
            "TagUser",
            "UntagUser",
            "UpdateAccessKey",
            "UpdateLoginProfile",
            "UpdateSSHPublicKey",
            "UpdateUser",
        ],
        &["iam"],
        &["user", "change"],
    ),
    row(&["CreateUser"], &["iam"], &["user", "creation"]),
    row(&["DeleteUser"], &["iam"], &["user", "deletion"]),
    row(
        &[
            "GetUser",
            "GetUserPolicy",
            "ListAttachedUserPolicies",
            "ListGroupsForUser",
            "ListUserPolicies",
            "ListUsers",
            "ListUserTags",
        ],
        &["iam"],
        &["user", "info"],
    ),
    row(&["CreateKeyPair"], &["iam"], &["admin", "creation"]),
    row(
        &[
            "SetDefaultPolicyVersion",
            "SetSecurityTokenServicePreferences",
            "UpdateAccountPasswordPolicy",
            "UpdateRole",
        ],
        &["iam"],
        &["admin", "change"],
    ),
    row(
        &["ListRoles", "GetPolicy", "ListAttachedRolePolicies"],
        &["iam"],
        &["info"],
    ),
    row(&["CreatePolicy"], &["iam"], &["creation"]),
    row(&["AttachRolePolicy"], &["iam"], &["change"]),
    row(
        &["AssumeRole", "ConsoleLogin", "GetCallerIdentity"],
        &["authentication"],
        &["info"],
    ),
    row(&["CreateBucket"], &["file"], &["creation"]),
    row(&["DeleteBucket"], &["file"], &["deletion"]),
    row(
        &["ListBuckets", "ListObjects", "HeadObject", "GetObject"],
        &["file"],
        &["info"],
    ),
    row(&["PutObject"], &["file"], &["change"]),
    row(&["DeleteObject"], &["file"], &["delete"]),
    row(&["CreateDocument"], &["file"], &["creation"]),
    row(
        &[
            "DescribeInstances",
            "DescribeVolumes",
            "ListInstanceAssociations",
        ],
        &["host"],
        &["info"],
    ),
    row(
        &[
            "DescribeSecurityGroups",
            "DescribeNetworkInterfaces",
            "DescribeVpcs",
            "DescribeNetworkAcls",
            "DescribeLoadBalancers",
        ],
        &["network"],
        &["info"],
    ),
    row(
        &["AuthorizeSecurityGroupIngress"],
        &["network"],
        &["access"],
    ),
    row(&["DescribeRegions"], &["api"], &["info"]),
    row(&["Publish", "Converse"], &["api"], &[]),
    row(&["SendCommand"], &["process"], &[]),
    row(&["DescribeTrails"], &["configuration"], &["info"]),
    row(&["CreateTopic"], &["configuration"], &["creation"]),
    row(&["Subscribe"], &["configuration"], &["change"]),
    row(&["DeleteTrail"], &["configuration"], &["deletion"]),
    row(&["ListFunctions"], &["package"], &["info"]),
    row(
        &["ListTables", "DescribeDBInstances"],
        &["database"],
        &["info"],
    ),
    row(
        &[
            "StartSession",
            "CreateControlChannel",
            "OpenControlChannel",
            "CreateDataChannel",
            "OpenDataChannel",
        ],
        &["session"],
        &["start"],
    ),
    row(&["TerminateSession"], &["session"], &["end"]),
];

/// The row of `action`, if the table has one.
pub fn row_of(action: &str) -> Option<&'static Row> {
    TABLE.iter().find(|row| row.actions.contains(&action))
}

/// Every action in the table.
pub fn all_actions() -> impl Iterator<Item = &'static str> {
    TABLE.iter().flat_map(|row| row.actions.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_action_is_in_two_rows() {
        let mut actions: Vec<&str> = all_actions().collect();
        let total = actions.len();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions.len(), total);
        assert_eq!(row_of("CreateGroup").unwrap().types, ["group", "creation"]);
        assert!(row_of("CreateTrustAnchor").is_none());
    }
}
