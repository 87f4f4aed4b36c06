//! Least privilege in `infra/template.yaml` (product.md: "every AWS permission is the narrowest
//! that works"), checked on the template's text without AWS:
//!
//! - no policy statement allows every action (`*`), a whole service (`s3:*`), every resource
//!   (`*`), or uses `NotAction`/`NotResource` — except the allowances in [`ALLOWANCES`], each
//!   named by policy kind, effect and Sid and printed when the check fails;
//! - each function's role grants every AWS API call the function's code makes ([`NEEDS`], read
//!   from `shared/src`), on the resource the code uses it on;
//! - nothing beyond that is granted except the grants listed, with their reason, in
//!   [`GRANTED_BUT_NOT_CALLED`], so a new permission has to be argued for here.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use serde_yaml::Value;

// ---------------------------------------------------------------------------------------------
// Reading the template
// ---------------------------------------------------------------------------------------------

/// Where a policy statement sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// An inline policy of an `AWS::IAM::Role`.
    Role,
    /// An `AWS::IAM::ManagedPolicy` or `AWS::IAM::Policy`.
    Managed,
    /// An `AWS::KMS::Key`'s key policy.
    Key,
    /// A bucket, queue or topic policy (`AWS::S3::BucketPolicy`, `AWS::SQS::QueuePolicy`,
    /// `AWS::SNS::TopicPolicy`).
    Resource,
}

/// One policy statement, with CloudFormation's intrinsic functions turned into text:
/// `!GetAtt X.Arn` → `${X.Arn}`, `!Ref X` → `${X}`, `!Sub s` → `s`.
#[derive(Debug, Clone)]
struct Statement {
    /// The logical id of the resource holding it (and the policy's name, for roles).
    place: String,
    kind: Policy,
    sid: Option<String>,
    effect: String,
    actions: Vec<String>,
    resources: Vec<String>,
    /// `NotAction` or `NotResource` is used.
    negated: bool,
    /// `Principal: "*"` or `Principal: {AWS: "*"}`: anyone, in any account.
    anyone: bool,
}

fn text(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(text).collect(),
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match (tag.trim_start_matches('!'), &tagged.value) {
                ("GetAtt", Value::String(s)) => vec![format!("${{{s}}}")],
                ("GetAtt", Value::Sequence(parts)) => {
                    let parts: Vec<String> = parts.iter().flat_map(text).collect();
                    vec![format!("${{{}}}", parts.join("."))]
                }
                ("Ref", Value::String(s)) => vec![format!("${{{s}}}")],
                ("Sub", Value::String(s)) => vec![s.clone()],
                // `!Sub [template, {vars}]`: the template is what matters here.
                ("Sub", Value::Sequence(parts)) => parts.first().map(text).unwrap_or_default(),
                // Anything else (`!Join`, `!If`, …) is kept visibly so a check can name it.
                (other, inner) => vec![format!("!{other} {inner:?}")],
            }
        }
        other => vec![format!("{other:?}")],
    }
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_mapping()?.get(name)
}

fn statements_of(document: &Value, place: &str, kind: Policy) -> Vec<Statement> {
    let items = match field(document, "Statement") {
        Some(Value::Sequence(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    items
        .iter()
        .map(|s| Statement {
            place: place.to_owned(),
            kind,
            sid: field(s, "Sid").and_then(Value::as_str).map(str::to_owned),
            effect: field(s, "Effect")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            actions: field(s, "Action").map(text).unwrap_or_default(),
            resources: field(s, "Resource").map(text).unwrap_or_default(),
            negated: field(s, "NotAction").is_some() || field(s, "NotResource").is_some(),
            anyone: field(s, "Principal").is_some_and(|p| {
                text(p).iter().any(|t| t == "*")
                    || field(p, "AWS").is_some_and(|a| text(a).iter().any(|t| t == "*"))
            }),
        })
        .collect()
}

/// Every permission-granting or -denying statement in the template, and the problems found
/// while reading it (things this test cannot check, so must not be there).
fn statements(template: &Value) -> (Vec<Statement>, Vec<String>) {
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    let Some(resources) = field(template, "Resources").and_then(Value::as_mapping) else {
        return (out, vec!["the template has no Resources".into()]);
    };
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or("?");
        let kind = field(resource, "Type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let props = field(resource, "Properties")
            .cloned()
            .unwrap_or(Value::Null);
        match kind {
            "AWS::IAM::Role" => {
                if field(&props, "ManagedPolicyArns").is_some() {
                    unreadable.push(format!(
                        "{id} attaches managed policies whose statements this test cannot see"
                    ));
                }
                for policy in field(&props, "Policies")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    let name = field(policy, "PolicyName")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    if let Some(doc) = field(policy, "PolicyDocument") {
                        out.extend(statements_of(doc, &format!("{id}/{name}"), Policy::Role));
                    }
                }
            }
            "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" => {
                if let Some(doc) = field(&props, "PolicyDocument") {
                    out.extend(statements_of(doc, id, Policy::Managed));
                }
            }
            "AWS::KMS::Key" => {
                if let Some(doc) = field(&props, "KeyPolicy") {
                    out.extend(statements_of(doc, id, Policy::Key));
                }
            }
            "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
                if let Some(doc) = field(&props, "PolicyDocument") {
                    out.extend(statements_of(doc, id, Policy::Resource));
                }
            }
            "AWS::Serverless::Function" => {
                if field(&props, "Policies").is_some() {
                    unreadable.push(format!(
                        "{id} uses SAM Policies (a generated role this test cannot see); give it an explicit Role"
                    ));
                }
                if field(&props, "Role").is_none() {
                    unreadable.push(format!("{id} has no explicit Role"));
                }
            }
            _ => {}
        }
    }
    (out, unreadable)
}

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn template() -> Value {
    let path = repo_path("infra/template.yaml");
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Wildcards and their allowances
// ---------------------------------------------------------------------------------------------

/// What is broad about a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breadth {
    /// `Action: "*"` or a whole service, `s3:*`.
    EveryAction,
    /// `Resource: "*"`.
    EveryResource,
    /// `NotAction` or `NotResource`.
    Negation,
    /// An `Allow` to `Principal: "*"` in a resource or key policy.
    Anyone,
}

/// A breadth a statement may have, and why.
struct Allowance {
    kind: Policy,
    effect: &'static str,
    /// `None`: any statement of that kind and effect.
    sid: Option<&'static str>,
    breadth: Breadth,
    /// Every action of the statement must start with this (e.g. `xray:`).
    actions_prefix: Option<&'static str>,
    why: &'static str,
}

const ALLOWANCES: &[Allowance] = &[
    Allowance {
        kind: Policy::Key,
        effect: "Allow",
        sid: None,
        breadth: Breadth::EveryResource,
        actions_prefix: Some("kms:"),
        why: "in a key policy, Resource \"*\" means the key itself",
    },
    Allowance {
        kind: Policy::Key,
        effect: "Allow",
        sid: Some("AccountAdministersKeyThroughIam"),
        breadth: Breadth::EveryAction,
        actions_prefix: Some("kms:"),
        why: "AWS's default delegation of the key to the account's IAM policies (kms:* for the account root); narrower risks an unmanageable key",
    },
    Allowance {
        kind: Policy::Role,
        effect: "Allow",
        sid: Some("XRayHasNoResourceLevelPermissions"),
        breadth: Breadth::EveryResource,
        actions_prefix: Some("xray:"),
        why: "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions",
    },
    Allowance {
        kind: Policy::Resource,
        effect: "Deny",
        sid: Some("DenyInsecureTransport"),
        breadth: Breadth::EveryAction,
        actions_prefix: None,
        why: "a wildcard in a Deny only widens what is refused (every action without TLS)",
    },
];

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} policy {} statements{}{}: {:?} allowed, because {}",
            self.kind,
            self.effect,
            self.sid
                .map(|s| format!(" with Sid {s}"))
                .unwrap_or_default(),
            self.actions_prefix
                .map(|p| format!(" whose actions are all {p}…"))
                .unwrap_or_default(),
            self.breadth,
            self.why
        )
    }
}

fn breadths(s: &Statement) -> Vec<Breadth> {
    let mut found = Vec::new();
    if s.actions.iter().any(|a| a == "*" || a.ends_with(":*")) {
        found.push(Breadth::EveryAction);
    }
    if s.resources.iter().any(|r| r == "*") {
        found.push(Breadth::EveryResource);
    }
    if s.negated {
        found.push(Breadth::Negation);
    }
    if s.anyone && s.effect == "Allow" {
        found.push(Breadth::Anyone);
    }
    found
}

fn allowed(s: &Statement, breadth: Breadth) -> bool {
    ALLOWANCES.iter().any(|a| {
        a.kind == s.kind
            && a.effect == s.effect
            && a.breadth == breadth
            && a.sid.is_none_or(|sid| s.sid.as_deref() == Some(sid))
            && a.actions_prefix
                .is_none_or(|p| !s.actions.is_empty() && s.actions.iter().all(|x| x.starts_with(p)))
    })
}

/// Every breadth not covered by an allowance, described for the failure message.
fn violations(statements: &[Statement]) -> Vec<String> {
    let mut out = Vec::new();
    for s in statements {
        for b in breadths(s) {
            if !allowed(s, b) {
                out.push(format!(
                    "{} ({:?} policy, {} {}): {:?}; actions {:?}, resources {:?}",
                    s.place,
                    s.kind,
                    s.effect,
                    s.sid.as_deref().unwrap_or("without Sid"),
                    b,
                    s.actions,
                    s.resources
                ));
            }
        }
    }
    out
}

fn check_wildcards(template: &Value) -> Result<(), String> {
    let (statements, unreadable) = statements(template);
    let mut problems = unreadable;
    problems.extend(violations(&statements));
    if problems.is_empty() {
        return Ok(());
    }
    let allowances: Vec<String> = ALLOWANCES.iter().map(|a| format!("  - {a}")).collect();
    Err(format!(
        "policy statements broader than allowed:\n  - {}\nthe only allowances are:\n{}",
        problems.join("\n  - "),
        allowances.join("\n")
    ))
}

#[test]
fn no_policy_in_the_template_grants_a_wildcard_beyond_the_listed_allowances() {
    let template = template();
    let (statements, _) = statements(&template);
    // The reading found the policies (so an empty result is not a pass by accident).
    for place in [
        "IngestRole/ingest",
        "DispatcherRole/dispatcher",
        "WebhookRole/webhook",
        "RemindersRole/reminders",
        "SchedulerRole/invoke-reminders",
        "DataKey",
        "UploadsBucketPolicy",
        "IngestQueuePolicy",
        "TlsOnlyQueuesPolicy",
        "AlarmTopicPolicy",
    ] {
        assert!(
            statements.iter().any(|s| s.place == place),
            "no statements read from {place}"
        );
    }
    if let Err(message) = check_wildcards(&template) {
        panic!("{message}");
    }
}

fn inline(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).expect("test YAML")
}

#[test]
fn a_role_allowing_every_s3_action_on_every_resource_is_caught() {
    let template = inline(
        r#"
Resources:
  BadRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: bad
          PolicyDocument:
            Statement:
              - Sid: Uploads
                Effect: Allow
                Action: s3:*
                Resource: "*"
"#,
    );
    let message = check_wildcards(&template).expect_err("caught");
    assert!(message.contains("BadRole/bad"), "{message}");
    assert!(message.contains("EveryAction"), "{message}");
    assert!(message.contains("EveryResource"), "{message}");
    // The failure says what is allowed instead.
    assert!(
        message.contains("XRayHasNoResourceLevelPermissions"),
        "{message}"
    );
}

#[test]
fn an_allowance_covers_only_its_own_sid_kind_effect_and_actions() {
    let template = inline(
        r#"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Sid: XRayHasNoResourceLevelPermissions
                Effect: Allow
                Action: [xray:PutTraceSegments, dynamodb:Scan]
                Resource: "*"
              - Sid: Star
                Effect: Allow
                Action: "*"
                Resource: !GetAtt Table.Arn
              - Sid: Everything but
                Effect: Allow
                NotAction: iam:*
                Resource: !Sub ${Table.Arn}
  Policy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          - Sid: AccountAdministersKeyThroughIam
            Effect: Allow
            Action: kms:*
            Resource: "*"
  Bucket:
    Type: AWS::S3::BucketPolicy
    Properties:
      PolicyDocument:
        Statement:
          - Sid: DenyInsecureTransport
            Effect: Allow
            Principal: "*"
            Action: s3:*
            Resource: !Sub ${B.Arn}/*
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies: [AmazonS3FullAccess]
"#,
    );
    let (statements, unreadable) = statements(&template);
    let found = violations(&statements);
    let count = |place: &str| found.iter().filter(|v| v.starts_with(place)).count();
    assert_eq!(
        count("Role/p"),
        3,
        "X-Ray Sid with a non-X-Ray action, \"*\", NotAction: {found:#?}"
    );
    assert_eq!(
        count("Policy"),
        2,
        "a key's Sid outside a key policy: {found:#?}"
    );
    assert_eq!(
        count("Bucket"),
        2,
        "an Allow of s3:* to anyone under a Deny's Sid: {found:#?}"
    );
    assert_eq!(
        unreadable.len(),
        2,
        "SAM Policies and no Role: {unreadable:?}"
    );
}

#[test]
fn the_listed_allowances_pass_where_they_apply() {
    let template = inline(
        r#"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - Sid: AccountAdministersKeyThroughIam
            Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
          - Sid: ServiceUse
            Effect: Allow
            Principal: {Service: s3.amazonaws.com}
            Action: [kms:Decrypt]
            Resource: "*"
  Queue:
    Type: AWS::SQS::QueuePolicy
    Properties:
      PolicyDocument:
        Statement:
          - Sid: DenyInsecureTransport
            Effect: Deny
            Principal: "*"
            Action: sqs:*
            Resource: !GetAtt Q.Arn
"#,
    );
    assert_eq!(check_wildcards(&template), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// What each function's code calls, and what its role grants
// ---------------------------------------------------------------------------------------------

/// One AWS permission a function's code needs, on an example resource it uses it on (written as
/// the template writes ARNs, `${Logical.Arn}`, so a grant's wildcards can be matched against it).
struct Need {
    role: &'static str,
    action: &'static str,
    resource: &'static str,
    /// Where the code makes the call.
    call: &'static str,
}

const TABLE: &str = "${ContactsTable.Arn}";
const BUCKET: &str = "${UploadsBucket.Arn}";
const GSI1: &str = "${ContactsTable.Arn}/index/gsi1";
const GSI2: &str = "${ContactsTable.Arn}/index/gsi2";
const KEY: &str = "${DataKey.Arn}";
const UPLOAD: &str = "${UploadsBucket.Arn}/RYG-sais/cohort/Year 8.csv";
const UPLOAD_REPORT: &str = "${UploadsBucket.Arn}/RYG-sais/reports/Year 8.csv.report.json";
const UPLOAD_ERRORS: &str = "${UploadsBucket.Arn}/RYG-sais/reports/Year 8.csv.errors.csv";
const CAMPAIGN_REPORT: &str = "${UploadsBucket.Arn}/RYG-sais/reports/campaigns/hpv-2026.html";
const REPLIES_REPORT: &str = "${UploadsBucket.Arn}/RYG-sais/reports/replies/2026-11-20.csv";
/// A team's own API-key secret, as its `team.json` names it (under `TEAM_SECRET_PREFIX`).
const TEAM_SECRET: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/teams/RYG-sais/notify-api-key-AbCdEf";
/// A team's own callback-token secret.
const TEAM_TOKEN_SECRET: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/teams/RYG-sais/notify-callback-token-AbCdEf";

macro_rules! needs {
    ($($role:literal $action:literal $resource:expr, $call:literal;)*) => {
        &[$(Need { role: $role, action: $action, resource: $resource, call: $call },)*]
    };
}

/// Read from `shared/src` and `functions/*/src/main.rs`: every SDK call each function makes
/// (DynamoDB, S3, SQS, Secrets Manager), the event source Lambda polls with the role, the
/// logs and traces every function writes, and the KMS use behind the encrypted resources.
const NEEDS: &[Need] = needs![
    // Ingest: SQS event source → S3 object → validate → DynamoDB → report in S3.
    "IngestRole" "sqs:ReceiveMessage" "${IngestQueue.Arn}", "SQS event source mapping (functions/ingest)";
    "IngestRole" "sqs:DeleteMessage" "${IngestQueue.Arn}", "SQS event source mapping";
    "IngestRole" "sqs:GetQueueAttributes" "${IngestQueue.Arn}", "SQS event source mapping";
    "IngestRole" "s3:GetObject" UPLOAD, "ingest.rs get_announced (by ETag when unversioned)";
    "IngestRole" "s3:GetObjectVersion" UPLOAD, "ingest.rs get_announced (by version id)";
    "IngestRole" "s3:PutObject" UPLOAD_REPORT, "ingest.rs write_report (report.json)";
    "IngestRole" "s3:PutObject" UPLOAD_ERRORS, "ingest.rs write_report (errors.csv when rejected)";
    "IngestRole" "s3:DeleteObject" UPLOAD_ERRORS, "ingest.rs write_report (old errors.csv when imported)";
    "IngestRole" "dynamodb:BatchWriteItem" TABLE, "store/batch.rs write_chunk (children)";
    "IngestRole" "dynamodb:GetItem" TABLE, "store/uploads.rs upload_done; store/campaigns.rs team_settings";
    "IngestRole" "dynamodb:PutItem" TABLE, "store/uploads.rs record_upload, set_latest_upload; store/campaigns.rs put_campaign, put_team_settings; store/contacts.rs set_detail_status";
    "IngestRole" "dynamodb:UpdateItem" TABLE, "store/children.rs record_response, record_objection";
    "IngestRole" "dynamodb:BatchGetItem" TABLE, "store/children.rs existing_children (responses, objections by NHS number)";
    "IngestRole" "dynamodb:Query" GSI2, "store/children.rs children_by_details (rows without NHS number); store/erasure.rs scrub_parents (every child of the team)";
    "IngestRole" "dynamodb:Query" TABLE, "store/erasure.rs erased_markers (the team's erasure log, before a child file is written)";
    "IngestRole" "dynamodb:DeleteItem" TABLE, "store/erasure.rs mark_erased (the erased detail's status item)";
    "IngestRole" "dynamodb:Scan" TABLE, "store/erasure.rs team_items_holding (messages and inbound texts of an erased detail)";
    "IngestRole" "s3:ListBucket" BUCKET, "campaign_report/publisher.rs after_erasure (the team's reports)";
    "IngestRole" "s3:ListBucketVersions" BUCKET, "campaign_report/publisher.rs after_erasure (earlier versions)";
    "IngestRole" "s3:GetObject" CAMPAIGN_REPORT, "campaign_report/publisher.rs after_erasure (does it hold the detail)";
    "IngestRole" "s3:PutObject" CAMPAIGN_REPORT, "campaign_report/publisher.rs after_erasure → publish";
    "IngestRole" "s3:PutObject" REPLIES_REPORT, "campaign_report/publisher.rs after_erasure → publish (each day's replies)";
    "IngestRole" "s3:PutObjectTagging" REPLIES_REPORT, "campaign_report.rs publish (x-amz-tagging: the report's retention)";
    "IngestRole" "s3:DeleteObject" REPLIES_REPORT, "campaign_report/publisher.rs after_erasure (a file still holding the detail)";
    "IngestRole" "s3:DeleteObjectVersion" CAMPAIGN_REPORT, "campaign_report/publisher.rs after_erasure (earlier versions)";
    "IngestRole" "dynamodb:Query" GSI1, "campaign_report build (after an erasure): school_children, messages_of_child";
    "IngestRole" "s3:PutObjectTagging" UPLOAD, "ingest.rs tag_for_expiry (unversioned bucket)";
    "IngestRole" "s3:PutObjectVersionTagging" UPLOAD, "ingest.rs tag_for_expiry (by version id)";
    "IngestRole" "secretsmanager:GetSecretValue" "${ErasureKeySecret}", "functions/ingest main → aws.rs erasure_key";
    "IngestRole" "secretsmanager:GetSecretValue" "${NotifyApiKeySecret}", "functions/ingest main → aws.rs notify_defaults (campaign templates checked)";
    "IngestRole" "secretsmanager:GetSecretValue" TEAM_SECRET, "teams.rs TeamDirectory::secret (a team's own key, campaign templates)";
    "IngestRole" "secretsmanager:GetSecretValue" TEAM_TOKEN_SECRET, "ingest check_team_secrets (the team's token secret exists and is not empty)";
    "IngestRole" "kms:Decrypt" KEY, "reading SSE-KMS objects and encrypted SQS messages";
    "IngestRole" "kms:GenerateDataKey" KEY, "writing SSE-KMS reports";
    "IngestRole" "logs:CreateLogStream" "${IngestLogGroup.Arn}", "Lambda logging";
    "IngestRole" "logs:PutLogEvents" "${IngestLogGroup.Arn}", "Lambda logging";
    "IngestRole" "xray:PutTraceSegments" "*", "Tracing: Active";
    // Dispatcher: SQS send jobs → facts from DynamoDB → Notify → records.
    "DispatcherRole" "secretsmanager:GetSecretValue" "${NotifyApiKeySecret}", "functions/dispatcher main → aws.rs secret_string";
    "DispatcherRole" "secretsmanager:GetSecretValue" "${ErasureKeySecret}", "functions/dispatcher main → aws.rs erasure_key";
    "DispatcherRole" "secretsmanager:GetSecretValue" TEAM_SECRET, "teams.rs TeamDirectory::secret (a team's own key)";
    "DispatcherRole" "sqs:ReceiveMessage" "${SendQueue.Arn}", "SQS event source mapping (functions/dispatcher)";
    "DispatcherRole" "sqs:DeleteMessage" "${SendQueue.Arn}", "SQS event source mapping";
    "DispatcherRole" "sqs:GetQueueAttributes" "${SendQueue.Arn}", "SQS event source mapping";
    "DispatcherRole" "sqs:SendMessage" "${SendQueue.Arn}", "dispatch/ports.rs SqsSendQueue::enqueue (requeue with delay)";
    "DispatcherRole" "dynamodb:BatchGetItem" TABLE, "store/loading.rs load_many → batch_get";
    "DispatcherRole" "dynamodb:GetItem" TABLE, "store/messages.rs message; store/pacer.rs take_from_shared";
    "DispatcherRole" "dynamodb:PutItem" TABLE, "store/messages.rs put_intent; store/campaigns.rs record_decision, hold_until_midnight; store/contacts.rs set_detail_status; store/due.rs open_letter; store/pacer.rs";
    "DispatcherRole" "dynamodb:UpdateItem" TABLE, "store/messages.rs take_over, mark_sent, mark_failed";
    "DispatcherRole" "kms:Decrypt" KEY, "the secret and encrypted SQS messages";
    "DispatcherRole" "kms:GenerateDataKey" KEY, "sending to the encrypted send queue";
    "DispatcherRole" "logs:CreateLogStream" "${DispatcherLogGroup.Arn}", "Lambda logging";
    "DispatcherRole" "logs:PutLogEvents" "${DispatcherLogGroup.Arn}", "Lambda logging";
    "DispatcherRole" "xray:PutTraceSegments" "*", "Tracing: Active";
    // Webhook: callback → receipts.rs apply / webhook.rs inbound.
    "WebhookRole" "secretsmanager:GetSecretValue" "${NotifyCallbackTokenSecret}", "functions/webhook main → aws.rs secret_string";
    "WebhookRole" "secretsmanager:GetSecretValue" TEAM_TOKEN_SECRET, "teams.rs TeamDirectory::callback_tokens (a team's own token)";
    "WebhookRole" "dynamodb:GetItem" TABLE, "receipts.rs apply → store/messages.rs message";
    "WebhookRole" "dynamodb:UpdateItem" TABLE, "store/messages.rs apply_status";
    "WebhookRole" "dynamodb:PutItem" TABLE, "store/contacts.rs set_detail_status, record_inbound; store/due.rs schedule_job, add_follow_up";
    "WebhookRole" "dynamodb:DeleteItem" TABLE, "store/due.rs close_letter (receipts.rs act, letter statuses)";
    "WebhookRole" "sqs:SendMessage" "${SendQueue.Arn}", "receipts.rs enqueue (fallback and retry jobs)";
    "WebhookRole" "kms:Decrypt" KEY, "the secret";
    "WebhookRole" "kms:GenerateDataKey" KEY, "sending to the encrypted send queue";
    "WebhookRole" "logs:CreateLogStream" "${WebhookLogGroup.Arn}", "Lambda logging";
    "WebhookRole" "logs:PutLogEvents" "${WebhookLogGroup.Arn}", "Lambda logging";
    "WebhookRole" "xray:PutTraceSegments" "*", "Tracing: Active";
    // Reminders: daily runs, due work (retries, letter statuses), campaign reports.
    "RemindersRole" "secretsmanager:GetSecretValue" "${NotifyApiKeySecret}", "functions/reminders main → aws.rs secret_string";
    "RemindersRole" "secretsmanager:GetSecretValue" TEAM_SECRET, "teams.rs TeamDirectory::secret (letters followed with the team's key)";
    "RemindersRole" "dynamodb:Query" TABLE, "active_campaigns, latest_uploads, decisions, due_jobs, open_letters, follow_ups";
    "RemindersRole" "dynamodb:Query" GSI1, "store/campaigns.rs school_children, messages_of_child";
    "RemindersRole" "dynamodb:Query" TABLE, "store/contacts.rs received_texts (campaign_report: parents' replies)";
    "RemindersRole" "dynamodb:Query" GSI2, "store/children.rs children_with_phones (campaign_report: whose parent sent a reply)";
    "RemindersRole" "dynamodb:BatchGetItem" TABLE, "store/children.rs outcome_times (campaign_report: answers by day)";
    "RemindersRole" "dynamodb:GetItem" TABLE, "store/campaigns.rs campaign, run_record; store/messages.rs message";
    "RemindersRole" "dynamodb:BatchGetItem" TABLE, "store/campaigns.rs school_children (state items)";
    "RemindersRole" "dynamodb:PutItem" TABLE, "store/campaigns.rs put_run_record; store/due.rs add_follow_up, schedule_job";
    "RemindersRole" "dynamodb:UpdateItem" TABLE, "receipts.rs poll_letters → store/messages.rs apply_status";
    "RemindersRole" "dynamodb:DeleteItem" TABLE, "store/due.rs delete_due, close_letter";
    "RemindersRole" "sqs:SendMessage" "${SendQueue.Arn}", "schedule/runner.rs enqueue_batch (SendMessageBatch); receipts.rs release_due";
    "RemindersRole" "sqs:SendMessage" "${ScheduleDlq.Arn}", "EventInvokeConfig OnFailure destination (written with the function's role)";
    "RemindersRole" "s3:PutObject" CAMPAIGN_REPORT, "campaign_report.rs publish";
    "RemindersRole" "s3:PutObject" REPLIES_REPORT, "campaign_report.rs publish (each day's replies)";
    "RemindersRole" "s3:PutObjectTagging" CAMPAIGN_REPORT, "campaign_report.rs publish (x-amz-tagging: the report's retention)";
    "RemindersRole" "s3:PutObjectTagging" REPLIES_REPORT, "campaign_report.rs publish_replies (a team with no campaign running)";
    "RemindersRole" "kms:Decrypt" KEY, "the secret";
    "RemindersRole" "kms:GenerateDataKey" KEY, "encrypted send queue and reports";
    "RemindersRole" "logs:CreateLogStream" "${RemindersLogGroup.Arn}", "Lambda logging";
    "RemindersRole" "logs:PutLogEvents" "${RemindersLogGroup.Arn}", "Lambda logging";
    "RemindersRole" "xray:PutTraceSegments" "*", "Tracing: Active";
    // EventBridge Scheduler.
    "SchedulerRole" "lambda:InvokeFunction" "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Prefix}-reminders", "the two schedules";
    "SchedulerRole" "sqs:SendMessage" "${ScheduleDlq.Arn}", "the schedules' DeadLetterConfig";
    "SchedulerRole" "kms:GenerateDataKey" KEY, "the encrypted schedule DLQ (an SSE-KMS queue's senders need both)";
    "SchedulerRole" "kms:Decrypt" KEY, "the encrypted schedule DLQ";
];

/// Granted although no code calls it, each with the reason it stays.
const GRANTED_BUT_NOT_CALLED: &[(&str, &str, &str)] = &[
    (
        "IngestRole",
        "sqs:ChangeMessageVisibility",
        "what AWSLambdaSQSQueueExecutionRole grants an event source",
    ),
    (
        "DispatcherRole",
        "sqs:ChangeMessageVisibility",
        "what AWSLambdaSQSQueueExecutionRole grants an event source",
    ),
    (
        "IngestRole",
        "dynamodb:ConditionCheckItem",
        "only used inside TransactWriteItems, which no code calls",
    ),
    (
        "DispatcherRole",
        "dynamodb:ConditionCheckItem",
        "only used inside TransactWriteItems, which no code calls",
    ),
    (
        "RemindersRole",
        "dynamodb:ConditionCheckItem",
        "only used inside TransactWriteItems, which no code calls",
    ),
    (
        "DispatcherRole",
        "dynamodb:Query",
        "no dispatcher path queries today",
    ),
    (
        "WebhookRole",
        "dynamodb:Query",
        "no webhook path queries today",
    ),
    (
        "RemindersRole",
        "s3:GetObject",
        "campaigns are read from the table, not from */campaigns/* in S3",
    ),
    (
        "IngestRole",
        "xray:PutTelemetryRecords",
        "the X-Ray daemon's telemetry",
    ),
    (
        "DispatcherRole",
        "xray:PutTelemetryRecords",
        "the X-Ray daemon's telemetry",
    ),
    (
        "WebhookRole",
        "xray:PutTelemetryRecords",
        "the X-Ray daemon's telemetry",
    ),
    (
        "RemindersRole",
        "xray:PutTelemetryRecords",
        "the X-Ray daemon's telemetry",
    ),
];

/// IAM's wildcard match: `*` is any run of characters (`/` included), `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn role_of(place: &str) -> &str {
    place.split('/').next().unwrap_or(place)
}

fn grants(statements: &[Statement], role: &str, action: &str, resource: &str) -> bool {
    statements.iter().any(|s| {
        s.kind == Policy::Role
            && role_of(&s.place) == role
            && s.effect == "Allow"
            && !s.negated
            && s.actions
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && s.resources.iter().any(|r| glob(r, resource))
    })
}

fn denied(statements: &[Statement], role: &str, action: &str) -> bool {
    statements.iter().any(|s| {
        s.kind == Policy::Role
            && role_of(&s.place) == role
            && s.effect == "Deny"
            && s.actions
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
    })
}

#[test]
fn each_role_grants_every_call_its_function_makes_on_the_resource_it_makes_it_on() {
    let (statements, _) = statements(&template());
    let missing: Vec<String> = NEEDS
        .iter()
        .filter(|n| {
            !grants(&statements, n.role, n.action, n.resource)
                || denied(&statements, n.role, n.action)
        })
        .map(|n| {
            format!(
                "{} needs {} on {} ({})",
                n.role, n.action, n.resource, n.call
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "roles missing permissions their code uses:\n  - {}",
        missing.join("\n  - ")
    );
}

#[test]
fn each_role_grants_nothing_beyond_its_calls_and_the_listed_exceptions() {
    let (statements, _) = statements(&template());
    let roles: BTreeSet<&str> = NEEDS.iter().map(|n| n.role).collect();
    let mut extra = Vec::new();
    for s in statements
        .iter()
        .filter(|s| s.kind == Policy::Role && s.effect == "Allow")
    {
        let role = role_of(&s.place);
        assert!(roles.contains(role), "{role} has no entry in NEEDS");
        for action in &s.actions {
            let needed = NEEDS.iter().any(|n| {
                n.role == role && glob(&action.to_ascii_lowercase(), &n.action.to_ascii_lowercase())
            });
            let excepted = GRANTED_BUT_NOT_CALLED
                .iter()
                .any(|(r, a, _)| *r == role && a == action);
            if !needed && !excepted {
                extra.push(format!(
                    "{} ({}): {action}",
                    s.place,
                    s.sid.as_deref().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        extra.is_empty(),
        "granted but called by no code (add the call to NEEDS, or the reason to GRANTED_BUT_NOT_CALLED):\n  - {}",
        extra.join("\n  - ")
    );
}

#[test]
fn the_public_webhook_cannot_read_an_api_key_and_the_senders_cannot_read_a_callback_token() {
    // team.json may name only <prefix>/teams/<team>/notify-api-key… and …/notify-callback-token…
    // (files/team_file.rs), so each role is given the one kind it uses.
    let (statements, _) = statements(&template());
    let team_api_key = TEAM_SECRET;
    let team_token = TEAM_TOKEN_SECRET;
    let read = "secretsmanager:GetSecretValue";
    assert!(!grants(&statements, "WebhookRole", read, team_api_key));
    assert!(!grants(
        &statements,
        "WebhookRole",
        read,
        "${NotifyApiKeySecret}"
    ));
    for role in ["DispatcherRole", "RemindersRole"] {
        assert!(grants(&statements, role, read, team_api_key), "{role}");
        assert!(!grants(&statements, role, read, team_token), "{role}");
        assert!(
            !grants(&statements, role, read, "${NotifyCallbackTokenSecret}"),
            "{role}"
        );
    }
    // A secret in a team's folder that is neither kind is read by no function.
    let other = team_api_key.replace("notify-api-key", "database-password");
    for role in [
        "IngestRole",
        "DispatcherRole",
        "WebhookRole",
        "RemindersRole",
    ] {
        assert!(!grants(&statements, role, read, &other), "{role}");
    }
}

#[test]
fn the_wildcard_matcher_follows_iams_rules() {
    assert!(glob("${B.Arn}/*", "${B.Arn}/RYG/reports/x.json"));
    assert!(glob("${B.Arn}/*/reports/*", "${B.Arn}/RYG/reports/x.json"));
    assert!(!glob("${B.Arn}/*/reports/*", "${B.Arn}/RYG/cohort/x.csv"));
    assert!(glob("s3:get*", "s3:getobject"));
    assert!(!glob("${T.Arn}", "${T.Arn}/index/gsi1"));
    assert!(glob("*", "anything"));
}

#[test]
fn the_public_webhook_is_capped_by_reserved_concurrency_unless_the_parameter_is_zero() {
    let t = template();
    let parameter = &t["Parameters"]["WebhookMaxConcurrency"];
    let default = parameter["Default"].as_u64().expect("a numeric default");
    // Notify's whole 3,000 receipts a minute need about 5 instances; the default leaves room.
    assert!(
        default >= 10,
        "default {default} would throttle ordinary receipts"
    );
    assert_eq!(parameter["MinValue"].as_u64(), Some(0));
    let reserved = format!(
        "{:?}",
        t["Resources"]["WebhookFunction"]["Properties"]["ReservedConcurrentExecutions"]
    );
    for part in ["LimitsWebhook", "WebhookMaxConcurrency", "AWS::NoValue"] {
        assert!(reserved.contains(part), "{part} missing from {reserved}");
    }
    let condition = format!("{:?}", t["Conditions"]["LimitsWebhook"]);
    assert!(
        condition.contains("WebhookMaxConcurrency") && condition.contains("Not"),
        "{condition}"
    );
}

#[test]
fn every_metric_the_code_logs_is_counted_by_a_filter_that_an_alarm_watches() {
    // The JSON log lines carry `metric: <name>`; each name must reach CloudWatch through a
    // metric filter on the log group of every function that logs it, and an alarm must watch
    // the metric, or the failure it counts is seen by nobody.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut logged: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> =
        Default::default();
    for (file, group) in [
        ("shared/src/webhook.rs", "WebhookLogGroup"),
        ("shared/src/receipts/mod.rs", "RemindersLogGroup"),
        // The daily run's reports (campaign_report/publisher.rs after_daily_run).
        (
            "shared/src/campaign_report/publisher.rs",
            "RemindersLogGroup",
        ),
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect(file);
        for part in text.split("metric = \"").skip(1) {
            let name = part.split('"').next().unwrap_or_default().to_owned();
            logged.entry(name).or_default().insert(group);
        }
    }
    assert!(logged.contains_key("unknown_status"), "{logged:?}");
    assert!(logged.contains_key("unknown_notification"), "{logged:?}");
    assert!(logged.contains_key("report_failed"), "{logged:?}");
    let t = template();
    let resources = t["Resources"].as_mapping().expect("resources");
    for (name, groups) in &logged {
        let pattern = format!("$.fields.metric = \"{name}\"");
        let mut metrics = std::collections::BTreeSet::new();
        let mut filtered_groups = std::collections::BTreeSet::new();
        for (_, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Logs::MetricFilter") {
                continue;
            }
            let props = &resource["Properties"];
            if !props["FilterPattern"]
                .as_str()
                .is_some_and(|p| p.contains(&pattern))
            {
                continue;
            }
            filtered_groups.insert(format!("{:?}", props["LogGroupName"]));
            for m in props["MetricTransformations"]
                .as_sequence()
                .expect("transformations")
            {
                metrics.insert(m["MetricName"].as_str().expect("metric name").to_owned());
            }
        }
        for group in groups {
            assert!(
                filtered_groups.iter().any(|g| g.contains(group)),
                "metric {name}: no filter on {group}"
            );
        }
        for metric in &metrics {
            let watched = resources.iter().any(|(_, r)| {
                r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                    && r["Properties"]["MetricName"].as_str() == Some(metric)
                    && r["Properties"]["AlarmActions"].as_sequence().is_some()
            });
            assert!(watched, "metric {metric} ({name}) has no alarm");
        }
        assert!(!metrics.is_empty(), "metric {name} is counted by no filter");
    }
}

#[test]
fn no_lambda_function_links_the_local_stack_the_simulator_or_the_fault_proxy() {
    // What ships is each function's crate and the library; test support lives in crates of
    // its own (tools/sais-local, tools/notify-sim, tools/fault-proxy) that only tests and tools use.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let test_support = ["sais-local", "notify-sim", "fault-proxy"];
    for manifest in [
        "shared/Cargo.toml",
        "functions/ingest/Cargo.toml",
        "functions/dispatcher/Cargo.toml",
        "functions/webhook/Cargo.toml",
        "functions/reminders/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(root.join(manifest)).expect(manifest);
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            // Dev-dependencies never reach a binary; everything else might.
            if section.contains("dev-dependencies") {
                continue;
            }
            for name in test_support {
                assert!(
                    !line.starts_with(&format!("{name} "))
                        && !line.starts_with(&format!("{name}.")),
                    "{manifest} [{section}] depends on {name}"
                );
            }
        }
    }
}
