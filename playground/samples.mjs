// The playground's example rules and records: small, hand-written, with documentation account
// ids (111122223333) and addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24).

/** Example rules, one per format the engine reads. */
export const RULES = {
  'Sigma: Roles Anywhere profile created': `title: IAM Roles Anywhere profile created
id: 8f6d1c2a-3b4e-4f50-9a61-7c8d9e0f1a2b
status: experimental
description: A Roles Anywhere profile lets workloads outside AWS assume the roles it lists.
author: trailtag playground
logsource:
  product: aws
  service: cloudtrail
detection:
  service:
    eventSource: rolesanywhere.amazonaws.com
  creation:
    eventName: CreateProfile
  condition: service and creation
falsepositives:
  - Platform teams onboarding on-premises workloads
level: medium
tags:
  - attack.persistence
  - attack.t1098.003
`,
  'Elastic KQL: console login without MFA': `[metadata]
maturity = "production"

[rule]
rule_id = "3c1f9e2d-5a4b-4c6d-8e7f-0a1b2c3d4e5f"
name = "AWS Console Login Without MFA"
description = "A console sign-in succeeded without a second factor."
type = "query"
language = "kuery"
severity = "medium"
risk_score = 47
author = ["trailtag playground"]
license = "Apache-2.0"
query = '''
event.dataset: "aws.cloudtrail" and event.provider: "signin.amazonaws.com"
  and event.action: "ConsoleLogin" and event.outcome: "success"
  and aws.cloudtrail.console_login.additional_eventdata.mfa_used: false
'''
`,
  'trailtag TOML: failed console login': `[rule]
id = "console_login_failed"
name = "AWS Console Login Failure"
description = "A console sign-in was refused: a wrong password, or someone guessing one."
severity = "low"
risk_score = 21
query = '''
eventSource == "signin.amazonaws.com"
  and eventName == "ConsoleLogin"
  and responseElements.ConsoleLogin == "Failure"
'''

[rule.context]
user = "userIdentity.userName"
`,
};

const identity = {
  type: 'IAMUser',
  principalId: 'AIDAEXAMPLEALICE0001',
  arn: 'arn:aws:iam::111122223333:user/alice',
  accountId: '111122223333',
  accessKeyId: 'AKIAEXAMPLEALICE0001',
  userName: 'alice',
};
const cli = 'aws-cli/2.27.1 md/awscrt#0.25.4 ua/2.1 os/linux#6.8.0 lang/python#3.13.3';
const browser = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

function call(eventSource, eventName, extra) {
  return {
    eventVersion: '1.10',
    userIdentity: identity,
    eventTime: '2026-10-02T09:20:11Z',
    eventSource,
    eventName,
    awsRegion: 'eu-west-1',
    sourceIPAddress: '203.0.113.10',
    userAgent: cli,
    ...extra,
    requestID: '5f0a2c1e-7b3d-4e8f-9a10-2b3c4d5e6f70',
    eventID: '0b1c2d3e-4f50-4a61-8b72-9c8d7e6f5a40',
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
  };
}

function consoleLogin(outcome, mfaUsed) {
  return {
    eventVersion: '1.09',
    userIdentity: {
      type: 'IAMUser',
      principalId: 'AIDAEXAMPLECAROL0001',
      arn: 'arn:aws:iam::111122223333:user/carol',
      accountId: '111122223333',
      userName: 'carol',
    },
    eventTime: '2026-10-03T07:41:09Z',
    eventSource: 'signin.amazonaws.com',
    eventName: 'ConsoleLogin',
    awsRegion: 'us-east-1',
    sourceIPAddress: '198.51.100.23',
    userAgent: browser,
    ...(outcome === 'Failure' ? { errorMessage: 'Failed authentication' } : {}),
    requestParameters: null,
    responseElements: { ConsoleLogin: outcome },
    additionalEventData: {
      LoginTo: 'https://console.aws.amazon.com/console/home',
      MobileVersion: 'No',
      MFAUsed: mfaUsed,
    },
    eventID: '7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f01',
    readOnly: false,
    eventType: 'AwsConsoleSignIn',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
  };
}

const profile = {
  name: 'onprem-workers',
  profileArn: 'arn:aws:rolesanywhere:eu-west-1:111122223333:profile/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
  profileId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
  roleArns: ['arn:aws:iam::111122223333:role/onprem-deploy'],
  durationSeconds: 3600,
  enabled: true,
};

/** Example records, pretty-printed as a person would paste them. */
export const RECORDS = Object.fromEntries(
  Object.entries({
    'Roles Anywhere CreateProfile': call('rolesanywhere.amazonaws.com', 'CreateProfile', {
      requestParameters: {
        name: profile.name,
        roleArns: profile.roleArns,
        durationSeconds: 3600,
        enabled: true,
      },
      responseElements: { profile },
    }),
    'Roles Anywhere UpdateProfile (a near miss)': call('rolesanywhere.amazonaws.com', 'UpdateProfile', {
      requestParameters: { profileId: profile.profileId, durationSeconds: 43200 },
      responseElements: { profile: { ...profile, durationSeconds: 43200 } },
    }),
    'ConsoleLogin without MFA': consoleLogin('Success', 'No'),
    'ConsoleLogin refused': consoleLogin('Failure', 'No'),
    'IAM CreateGroup': call('iam.amazonaws.com', 'CreateGroup', {
      requestParameters: { groupName: 'ops' },
      responseElements: {
        group: {
          groupName: 'ops',
          groupId: 'AGPAEXAMPLEGROUP0001',
          arn: 'arn:aws:iam::111122223333:group/ops',
          path: '/',
          createDate: 'Oct 2, 2026, 9:20:11 AM',
        },
      },
    }),
  }).map(([name, record]) => [name, JSON.stringify(record, null, 2)]),
);
