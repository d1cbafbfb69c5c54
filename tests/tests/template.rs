//! `template.yaml` read as data and held to the code and to the deployment
//! contract: the tables `auditctl init` creates, least-privilege roles, the
//! export queue, and how `sam build` builds each function. No network.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;

use audit_aws::store::schema::{TableSpec, CONTROL, EVENTS};
use serde_yaml::Value;

// ---------------------------------------------------------------- reading

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
}

fn template() -> Value {
    let path = workspace().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml is readable");
    serde_yaml::from_str(&text).expect("template.yaml is valid YAML")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["Resources"]
        .get(name)
        .unwrap_or_else(|| panic!("template.yaml has no resource {name}"))
}

/// Logical names of the resources of one type, in template order.
fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<&'a str> {
    let Some(resources) = t["Resources"].as_mapping() else {
        return Vec::new();
    };
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .filter_map(|(name, _)| name.as_str())
        .collect()
}

/// A function property, falling back to `Globals.Function`.
fn function_property<'a>(t: &'a Value, function: &str, key: &str) -> &'a Value {
    let own = &resource(t, function)["Properties"][key];
    if own.is_null() {
        &t["Globals"]["Function"][key]
    } else {
        own
    }
}

/// A sequence's items, a single value as one item, nothing for null.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned)
}

/// `!GetAtt x` or `{Fn::GetAtt: x}` as `("GetAtt", x)`; `!Ref x` as `("Ref", x)`.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (key, arg) = m.iter().next()?;
            let key = key.as_str()?;
            let name = if key == "Ref" {
                key
            } else {
                key.strip_prefix("Fn::")?
            };
            Some((name.to_owned(), arg))
        }
        _ => None,
    }
}

/// What a reference names, so a message can say "on EventsTable":
/// `!Ref EventsTable` and `!GetAtt EventsTable.Arn` are `EventsTable`,
/// `!Sub '${EventsTable.Arn}/index/*'` is `EventsTable/index/*`, other
/// `${...}` stay as written, and a plain string is itself.
fn target(v: &Value) -> String {
    // Before `as_str`, which looks through tags.
    let Some((tag, arg)) = intrinsic(v) else {
        return text(v);
    };
    let resolved = match tag.as_str() {
        "Ref" => arg.as_str().map(str::to_owned),
        "GetAtt" => match arg {
            Value::String(s) => Some(s.strip_suffix(".Arn").unwrap_or(s).to_owned()),
            Value::Sequence(parts) if parts.len() == 2 && parts[1].as_str() == Some("Arn") => {
                parts[0].as_str().map(str::to_owned)
            }
            _ => None,
        },
        "Sub" => arg
            .as_str()
            .or_else(|| arg.get(0)?.as_str())
            .map(arns_to_names),
        _ => None,
    };
    resolved.unwrap_or_else(|| format!("<unresolved {v:?}>"))
}

/// `${Name.Arn}` becomes `Name`; every other `${...}` is kept.
fn arns_to_names(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let whole = &rest[start..=start + len];
        out.push_str(&rest[..start]);
        match whole[2..whole.len() - 1].strip_suffix(".Arn") {
            Some(name) => out.push_str(name),
            None => out.push_str(whole),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Differences between two sets, named from both sides; nothing when equal.
fn set_diff<T: Ord + Debug>(
    what: &str,
    template: &BTreeSet<T>,
    code: &BTreeSet<T>,
    out: &mut Vec<String>,
) {
    let only_template: Vec<_> = template.difference(code).collect();
    let only_code: Vec<_> = code.difference(template).collect();
    if !only_template.is_empty() || !only_code.is_empty() {
        out.push(format!(
            "{what}: only in template.yaml {only_template:?}, only in schema.rs {only_code:?}"
        ));
    }
}

// ---------------------------------------------------------------- 1. tables

type KeySchema = BTreeSet<(String, String)>;

/// A table as sets, so order in the template does not matter.
#[derive(Debug, Default)]
struct Table {
    billing: String,
    keys: KeySchema,
    attributes: BTreeSet<(String, String)>,
    /// (name, key schema, projection type)
    indexes: BTreeSet<(String, KeySchema, String)>,
    local_indexes: usize,
    ttl: Option<String>,
    /// The stream's view type, if the table has a stream.
    stream: Option<String>,
}

fn spec_keys(partition: &str, sort: &str) -> KeySchema {
    [("HASH", partition), ("RANGE", sort)]
        .into_iter()
        .map(|(kind, name)| (kind.to_owned(), name.to_owned()))
        .collect()
}

/// What `auditctl init` creates (see `schema::ensure_table`).
fn table_from_spec(spec: &TableSpec) -> Table {
    Table {
        billing: "PAY_PER_REQUEST".to_owned(),
        keys: spec_keys(spec.partition, spec.sort),
        attributes: spec
            .key_attributes()
            .into_iter()
            .map(|a| (a.to_owned(), "S".to_owned()))
            .collect(),
        indexes: spec
            .indexes
            .iter()
            .map(|i| {
                let keys = spec_keys(i.partition, i.sort);
                (i.name.to_owned(), keys, "ALL".to_owned())
            })
            .collect(),
        local_indexes: 0,
        ttl: spec.ttl_attribute.map(str::to_owned),
        stream: spec.stream_new_images.then(|| "NEW_IMAGE".to_owned()),
    }
}

fn template_keys(v: &Value) -> KeySchema {
    one_or_many(v)
        .into_iter()
        .map(|k| (text(&k["KeyType"]), text(&k["AttributeName"])))
        .collect()
}

fn table_from_template(t: &Value, name: &str) -> Table {
    let table = resource(t, name);
    assert_eq!(
        table["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "{name} is a DynamoDB table"
    );
    let p = &table["Properties"];
    let ttl = &p["TimeToLiveSpecification"];
    Table {
        billing: text(&p["BillingMode"]),
        keys: template_keys(&p["KeySchema"]),
        attributes: one_or_many(&p["AttributeDefinitions"])
            .into_iter()
            .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
            .collect(),
        indexes: one_or_many(&p["GlobalSecondaryIndexes"])
            .into_iter()
            .map(|i| {
                (
                    text(&i["IndexName"]),
                    template_keys(&i["KeySchema"]),
                    text(&i["Projection"]["ProjectionType"]),
                )
            })
            .collect(),
        local_indexes: one_or_many(&p["LocalSecondaryIndexes"]).len(),
        ttl: (ttl["Enabled"].as_bool() == Some(true)).then(|| text(&ttl["AttributeName"])),
        stream: p["StreamSpecification"]["StreamViewType"]
            .as_str()
            .map(str::to_owned),
    }
}

fn table_differences(name: &str, template: &Table, code: &Table) -> Vec<String> {
    let mut out = Vec::new();
    if template.billing != code.billing {
        out.push(format!(
            "{name} BillingMode: template.yaml {:?}, auditctl init {:?}",
            template.billing, code.billing
        ));
    }
    set_diff(
        &format!("{name} KeySchema"),
        &template.keys,
        &code.keys,
        &mut out,
    );
    set_diff(
        &format!("{name} AttributeDefinitions"),
        &template.attributes,
        &code.attributes,
        &mut out,
    );
    set_diff(
        &format!("{name} GlobalSecondaryIndexes"),
        &template.indexes,
        &code.indexes,
        &mut out,
    );
    if template.local_indexes != code.local_indexes {
        out.push(format!(
            "{name} LocalSecondaryIndexes: template.yaml has {}, schema.rs has none",
            template.local_indexes
        ));
    }
    if template.ttl != code.ttl {
        out.push(format!(
            "{name} TTL attribute: template.yaml {:?}, schema.rs {:?}",
            template.ttl, code.ttl
        ));
    }
    if template.stream != code.stream {
        out.push(format!(
            "{name} stream: template.yaml {:?}, schema.rs {:?}",
            template.stream, code.stream
        ));
    }
    out
}

#[test]
fn template_tables_match_the_code() {
    let t = template();
    let mut differences = Vec::new();
    for (name, spec) in [("EventsTable", &EVENTS), ("ControlTable", &CONTROL)] {
        let ours = table_from_template(&t, name);
        differences.extend(table_differences(name, &ours, &table_from_spec(spec)));
    }
    assert!(
        differences.is_empty(),
        "template.yaml and audit_aws::store::schema disagree:\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn a_table_difference_is_named() {
    let mut t = template();
    let gsis = t["Resources"]["EventsTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence_mut()
        .expect("EventsTable has GSIs");
    gsis.retain(|i| i["IndexName"].as_str() != Some("by_group"));
    let ours = table_from_template(&t, "EventsTable");
    let differences = table_differences("EventsTable", &ours, &table_from_spec(&EVENTS));
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(
        differences[0].starts_with("EventsTable GlobalSecondaryIndexes")
            && differences[0].contains("only in schema.rs [(\"by_group\""),
        "{differences:?}"
    );
}

// ---------------------------------------------------------------- 2. IAM

/// Which role each function runs as.
const FUNCTION_ROLES: &[(&str, &str)] = &[
    ("IngestFunction", "IngestRole"),
    ("QueryFunction", "QueryRole"),
    ("ExportFunction", "ExportRole"),
    // The scheduler has a role of its own: a tick and sealing need nothing
    // the worker alone needs (receiving, backing off, dead-lettering jobs,
    // destination secrets), and the worker nothing of the tick's.
    ("SchedulerFunction", "SchedulerRole"),
    // The stream's consumer: reads the stream, puts marks, nothing else.
    ("ArrivalsFunction", "ArrivalsRole"),
];

const LOGS: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];
const DESTINATION_SECRETS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:audit-log/${Stage}/destinations/*";
const SIGNING_KEY: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:audit-log/${Stage}/integrity/signing-key*";

/// A role's allow-list: (resource, actions on it).
type Grants = &'static [(&'static str, &'static [&'static str])];

/// Everything each role may do. Anything else fails.
const ALLOWED: &[(&str, Grants)] = &[
    (
        "IngestRole",
        &[
            ("EventsTable", &["dynamodb:PutItem", "dynamodb:GetItem"]),
            ("ControlTable", &["dynamodb:GetItem"]),
            ("IngestLogGroup", LOGS),
        ],
    ),
    (
        "QueryRole",
        &[
            // PutItem: self-audit events (destination changes, replays),
            // written as conditional puts of new ids; never Update/Delete.
            ("EventsTable", &["dynamodb:GetItem", "dynamodb:PutItem"]),
            // Searches, downloads and integrity read the indexes, never the table.
            ("EventsTable/index/*", &["dynamodb:Query"]),
            (
                "ControlTable",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
            ),
            (
                DESTINATION_SECRETS,
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:DescribeSecret",
                    // `POST /v1/destinations/{id}/test` sends with the secret.
                    "secretsmanager:GetSecretValue",
                ],
            ),
            ("CursorSecret", &["secretsmanager:GetSecretValue"]),
            // S3 test deliveries go through the destination's role, as the
            // worker's deliveries do.
            ("ExportRoleArns", &["sts:AssumeRole"]),
            // No signing key: the public keys come from the registry in the
            // control table (`query_role_cannot_read_the_signing_key`).
            ("ExportQueue", &["sqs:SendMessage"]),
            ("QueryLogGroup", LOGS),
        ],
    ),
    (
        "ExportRole",
        &[
            ("EventsTable/index/by_recorded", &["dynamodb:Query"]),
            // The job's destination (GetItem), its status, job counters and
            // the org's record of a dead-lettered job (UpdateItem). No Query,
            // Put or Delete: those are the tick's.
            ("ControlTable", &["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            (
                "ExportQueue",
                &[
                    // The next part of a window too large for one delivery.
                    "sqs:SendMessage",
                    // The event source mapping's (Lambda's documented minimum).
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    // Backoff.
                    "sqs:ChangeMessageVisibility",
                ],
            ),
            ("ExportDLQ", &["sqs:SendMessage"]),
            (DESTINATION_SECRETS, &["secretsmanager:GetSecretValue"]),
            // The parameter: only the role ARNs the operator listed.
            ("ExportRoleArns", &["sts:AssumeRole"]),
            ("ExportLogGroup", LOGS),
        ],
    ),
    (
        "SchedulerRole",
        &[
            // Sealing hashes each period's events by recording time.
            ("EventsTable/index/by_recorded", &["dynamodb:Query"]),
            // Settling a late arrival re-stamps its rts (conditionally).
            ("EventsTable", &["dynamodb:UpdateItem"]),
            (
                "ControlTable",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    // A finished seal deletes its progress item.
                    "dynamodb:DeleteItem",
                ],
            ),
            ("ControlTable/index/by_tick", &["dynamodb:Query"]),
            // Sends window jobs; never receives, deletes or dead-letters one.
            ("ExportQueue", &["sqs:SendMessage"]),
            // Sealing signs digests with the key the stack created; creating
            // one is nobody's job in a deployment.
            ("SigningKeySecret", &["secretsmanager:GetSecretValue"]),
            // Checkpoints published under Object Lock: written, never read
            // or deleted.
            ("CheckpointBucket/*", &["s3:PutObject"]),
            // Digest files and public keys beside S3 exports, through the
            // destination's role.
            ("ExportRoleArns", &["sts:AssumeRole"]),
            ("SchedulerLogGroup", LOGS),
        ],
    ),
    (
        "ArrivalsRole",
        &[
            // Lambda's DynamoDB event source mapping reads the stream with
            // the function's role (its documented four actions).
            (
                "EventsTable.StreamArn",
                &[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
            ),
            // One mark per late write.
            ("ControlTable", &["dynamodb:PutItem"]),
            ("ArrivalsLogGroup", LOGS),
        ],
    ),
];

/// Actions that change the append-only events table.
const EVENT_WRITES: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
];

fn is_allowed(role: &str, action: &str, resource: &str) -> bool {
    ALLOWED
        .iter()
        .filter(|(r, _)| *r == role)
        .flat_map(|(_, grants)| grants.iter())
        .any(|(res, actions)| *res == resource && actions.contains(&action))
}

/// The statements of a policy document; both branches of an `!If`, none for
/// `!Ref AWS::NoValue`.
fn statements(v: &Value) -> Vec<&Value> {
    one_or_many(v)
        .into_iter()
        .flat_map(|s| match intrinsic(s) {
            Some((tag, arg)) if tag == "If" => one_or_many(arg)
                .into_iter()
                .skip(1)
                .flat_map(statements)
                .collect(),
            Some((tag, arg)) if tag == "Ref" && arg.as_str() == Some("AWS::NoValue") => Vec::new(),
            _ => vec![s],
        })
        .collect()
}

/// Every way the template gives a function a permission its allow-list does
/// not name, as sentences like "QueryRole has dynamodb:PutItem on EventsTable".
fn permission_violations(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let global = &t["Globals"]["Function"];
    for key in ["Role", "Policies"] {
        if !global[key].is_null() {
            out.push(format!("Globals.Function sets {key}"));
        }
    }
    for kind in ["AWS::Serverless::Function", "AWS::Lambda::Function"] {
        for function in resources_of_type(t, kind) {
            let props = &resource(t, function)["Properties"];
            if !props["Policies"].is_null() {
                out.push(format!("{function} has SAM Policies beside its role"));
            }
            let role = target(&props["Role"]);
            match FUNCTION_ROLES.iter().find(|(f, _)| *f == function) {
                Some((_, expected)) if role == *expected => {}
                Some((_, expected)) => {
                    out.push(format!("{function} runs as {role}, not {expected}"));
                }
                None => out.push(format!("{function} has no allow-list in this test")),
            }
        }
    }
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for name in resources_of_type(t, kind) {
            out.push(format!(
                "{name} ({kind}) grants permissions outside the roles' inline policies"
            ));
        }
    }
    for role in resources_of_type(t, "AWS::IAM::Role") {
        out.extend(role_violations(role, &resource(t, role)["Properties"]));
    }
    out
}

fn role_violations(role: &str, props: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !ALLOWED.iter().any(|(r, _)| *r == role) {
        out.push(format!("{role} has no allow-list in this test"));
    }
    if !props["ManagedPolicyArns"].is_null() {
        out.push(format!("{role} has managed policies"));
    }
    for policy in one_or_many(&props["Policies"]) {
        for statement in statements(&policy["PolicyDocument"]["Statement"]) {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for key in ["NotAction", "NotResource"] {
                if !statement[key].is_null() {
                    out.push(format!("{role} has an Allow with {key}"));
                }
            }
            let resources: Vec<String> = one_or_many(&statement["Resource"])
                .into_iter()
                .map(target)
                .collect();
            for action in one_or_many(&statement["Action"]).into_iter().map(text) {
                for resource in &resources {
                    out.extend(grant_violation(role, &action, resource));
                }
            }
        }
    }
    out
}

fn grant_violation(role: &str, action: &str, resource: &str) -> Option<String> {
    let grant = format!("{role} has {action} on {resource}");
    if action.contains('*') {
        return Some(format!("{grant}: a wildcard action"));
    }
    if resource == "*" {
        return Some(format!("{grant}: Resource '*'"));
    }
    let on_events = resource == "EventsTable" || resource.starts_with("EventsTable/");
    // Events are only ever added: conditional puts by ingest, and by query for
    // the log's own events (group audit_log). Nothing deletes one.
    let adds_events = resource == "EventsTable"
        && action == "dynamodb:PutItem"
        && matches!(role, "IngestRole" | "QueryRole");
    // The one change to a stored event: settling a late arrival moves its
    // `rts` (conditional on the one it was written with, keeping it in
    // `late_rts`; the content and its hash's other fields never change).
    let restamps =
        resource == "EventsTable" && action == "dynamodb:UpdateItem" && role == "SchedulerRole";
    if on_events && EVENT_WRITES.contains(&action) && !adds_events && !restamps {
        return Some(format!(
            "{grant}: the events table is append-only; only ingest and the log's own events put"
        ));
    }
    (!is_allowed(role, action, resource)).then(|| format!("{grant}: not on its allow-list"))
}

#[test]
fn no_function_gains_a_permission_it_should_not_have() {
    let violations = permission_violations(&template());
    assert!(
        violations.is_empty(),
        "template.yaml grants more than the allow-list:\n  {}",
        violations.join("\n  ")
    );
}

/// Adds a statement to a role's `data` policy in a copy of the template.
fn with_statement(role: &str, statement: &str) -> Value {
    let mut t = template();
    let statement: Value = serde_yaml::from_str(statement).expect("the statement is YAML");
    let policies = t["Resources"][role]["Properties"]["Policies"]
        .as_sequence_mut()
        .expect("the role has inline policies");
    let data = policies
        .iter_mut()
        .find(|p| p["PolicyName"].as_str() == Some("data"))
        .expect("the role has a data policy");
    data["PolicyDocument"]["Statement"]
        .as_sequence_mut()
        .expect("the data policy has statements")
        .push(statement);
    t
}

#[test]
fn the_permission_check_fails_on_a_widened_role() {
    let cases = [
        (
            "QueryRole",
            "{ Effect: Allow, Action: dynamodb:UpdateItem, Resource: !GetAtt EventsTable.Arn }",
            "QueryRole has dynamodb:UpdateItem on EventsTable: the events table is append-only",
        ),
        (
            "ExportRole",
            "{ Effect: Allow, Action: [dynamodb:DeleteItem], Resource: !Sub '${EventsTable.Arn}/index/*' }",
            "ExportRole has dynamodb:DeleteItem on EventsTable/index/*: the events table is append-only",
        ),
        (
            "IngestRole",
            "{ Effect: Allow, Action: dynamodb:Query, Resource: { 'Fn::GetAtt': [EventsTable, Arn] } }",
            "IngestRole has dynamodb:Query on EventsTable: not on its allow-list",
        ),
        (
            "IngestRole",
            "{ Effect: Allow, Action: 'logs:*', Resource: !GetAtt IngestLogGroup.Arn }",
            "IngestRole has logs:* on IngestLogGroup: a wildcard action",
        ),
        (
            "ExportRole",
            "{ Effect: Allow, Action: sqs:ReceiveMessage, Resource: '*' }",
            "ExportRole has sqs:ReceiveMessage on *: Resource '*'",
        ),
        (
            "QueryRole",
            "!If [SomeCondition, { Effect: Allow, Action: sqs:PurgeQueue, Resource: !GetAtt ExportDLQ.Arn }, !Ref AWS::NoValue]",
            "QueryRole has sqs:PurgeQueue on ExportDLQ: not on its allow-list",
        ),
    ];
    for (role, statement, expected) in cases {
        let violations = permission_violations(&with_statement(role, statement));
        assert!(
            violations.iter().any(|v| v.starts_with(expected)),
            "adding {statement} to {role} should report {expected:?}, got {violations:?}"
        );
    }

    let mut t = template();
    t["Resources"]["QueryFunction"]["Properties"]["Role"] =
        serde_yaml::from_str("!GetAtt ExportRole.Arn").expect("a GetAtt");
    assert!(
        permission_violations(&t)
            .contains(&"QueryFunction runs as ExportRole, not QueryRole".to_owned()),
        "a function on another function's role is reported"
    );
}

/// The internet-facing query function must not be able to sign digests:
/// only the sealer (ExportRole) reads the private signing key.
#[test]
fn query_role_cannot_read_the_signing_key() {
    assert!(!is_allowed(
        "QueryRole",
        "secretsmanager:GetSecretValue",
        SIGNING_KEY
    ));
    let widened = with_statement(
        "QueryRole",
        &format!("{{ Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: !Sub '{SIGNING_KEY}' }}"),
    );
    let expected = format!("QueryRole has secretsmanager:GetSecretValue on {SIGNING_KEY}");
    assert!(
        permission_violations(&widened)
            .iter()
            .any(|v| v.starts_with(&expected)),
        "a grant on the signing key to the query role is reported"
    );
    assert!(permission_violations(&template()).is_empty());
}

// ---------------------------------------------------------------- 3. export queue

/// `ExportQueue::from_env` looks a queue URL up by name (`sqs:GetQueueUrl`,
/// granted to no role) when its variable is unset: every function that
/// builds the queue adapter must be given both URLs.
#[test]
fn functions_that_use_the_export_queue_are_given_both_urls() {
    let t = template();
    for function in ["QueryFunction", "ExportFunction"] {
        let vars = &resource(&t, function)["Properties"]["Environment"]["Variables"];
        for var in ["AUDIT_EXPORT_QUEUE_URL", "AUDIT_EXPORT_DLQ_URL"] {
            assert!(
                !vars[var].is_null(),
                "{function} lacks {var}: it would look the queue up at start-up and fail"
            );
        }
    }
}

#[test]
fn export_queue_matches_the_contract() {
    let t = template();
    let queue = &resource(&t, "ExportQueue")["Properties"];
    let dlq = &resource(&t, "ExportDLQ")["Properties"];

    let redrive = &queue["RedrivePolicy"];
    assert_eq!(
        target(&redrive["deadLetterTargetArn"]),
        "ExportDLQ",
        "ExportQueue's RedrivePolicy dead-letters to ExportDLQ"
    );
    let max_receives = number(&redrive["maxReceiveCount"]);
    assert!(
        max_receives.is_some_and(|n| n >= 1),
        "ExportQueue's maxReceiveCount is at least 1, got {max_receives:?}"
    );
    // `auditctl init` creates the local queues from the same constants.
    use audit_aws::queue as code;
    let same = [
        (max_receives, code::MAX_RECEIVE_COUNT, "maxReceiveCount"),
        (
            number(&queue["VisibilityTimeout"]),
            code::VISIBILITY_TIMEOUT_SECS,
            "VisibilityTimeout",
        ),
        (
            number(&queue["MessageRetentionPeriod"]),
            code::QUEUE_RETENTION_SECS,
            "queue MessageRetentionPeriod",
        ),
        (
            number(&dlq["MessageRetentionPeriod"]),
            code::DLQ_RETENTION_SECS,
            "DLQ MessageRetentionPeriod",
        ),
    ];
    for (template_value, code_value, what) in same {
        assert_eq!(
            template_value,
            Some(u64::from(code_value)),
            "{what}: template.yaml and auditctl init differ"
        );
    }

    let events: Vec<&Value> = resource(&t, "ExportFunction")["Properties"]["Events"]
        .as_mapping()
        .expect("ExportFunction has events")
        .values()
        .collect();
    let sqs: Vec<&&Value> = events
        .iter()
        .filter(|e| e["Type"].as_str() == Some("SQS"))
        .collect();
    assert_eq!(sqs.len(), 1, "ExportFunction has one SQS event source");
    let sqs = &sqs[0]["Properties"];
    assert_eq!(
        target(&sqs["Queue"]),
        "ExportQueue",
        "the SQS event reads ExportQueue"
    );
    let response_types: Vec<String> = one_or_many(&sqs["FunctionResponseTypes"])
        .into_iter()
        .map(text)
        .collect();
    assert_eq!(
        response_types,
        ["ReportBatchItemFailures"],
        "the SQS event reports partial batch failures"
    );

    let timeout = number(function_property(&t, "ExportFunction", "Timeout")).unwrap_or(3);
    let window = number(&sqs["MaximumBatchingWindowInSeconds"]).unwrap_or(0);
    let visibility =
        number(&queue["VisibilityTimeout"]).expect("ExportQueue sets a VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout + window,
        "ExportQueue's VisibilityTimeout ({visibility} s) must be at least 6 x ExportFunction's \
         Timeout ({timeout} s) plus the batching window ({window} s)"
    );

    let retention = |q: &Value| number(&q["MessageRetentionPeriod"]).unwrap_or(345_600);
    assert!(
        retention(dlq) > retention(queue),
        "ExportDLQ keeps messages longer than ExportQueue, or redriven jobs expire on arrival"
    );

    assert!(
        !events
            .iter()
            .any(|e| matches!(e["Type"].as_str(), Some("Schedule" | "ScheduleV2"))),
        "the worker has no schedule: the scheduler is a function of its own"
    );
    let events: Vec<&Value> = resource(&t, "SchedulerFunction")["Properties"]["Events"]
        .as_mapping()
        .expect("SchedulerFunction has events")
        .values()
        .collect();
    let schedules: Vec<&&Value> = events
        .iter()
        .filter(|e| matches!(e["Type"].as_str(), Some("Schedule" | "ScheduleV2")))
        .collect();
    assert_eq!(events.len(), 1, "SchedulerFunction has only its schedule");
    assert_eq!(
        schedules.len(),
        1,
        "SchedulerFunction has one schedule event"
    );
    let schedule = &schedules[0]["Properties"];
    let expression = schedule["Schedule"]
        .as_str()
        .or_else(|| schedule["ScheduleExpression"].as_str())
        .unwrap_or_default();
    assert!(
        expression.starts_with("rate(") || expression.starts_with("cron("),
        "the schedule has a rate or cron expression, got {expression}"
    );
    assert_ne!(
        schedule["Enabled"].as_bool(),
        Some(false),
        "the schedule is enabled"
    );
}

// ---------------------------------------------------------------- 4. build

#[test]
fn every_function_is_built_by_cargo_lambda_for_arm64() {
    let t = template();
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    let found: BTreeSet<&str> = functions.iter().copied().collect();
    let expected: BTreeSet<&str> = FUNCTION_ROLES.iter().map(|(f, _)| *f).collect();
    assert_eq!(found, expected, "the template's functions");

    let mut binaries = BTreeMap::new();
    for function in functions {
        let metadata = &resource(&t, function)["Metadata"];
        assert_eq!(
            metadata["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{function} is built by cargo lambda"
        );
        let binary = metadata["BuildProperties"]["Binary"].as_str().unwrap_or("");
        assert!(
            !binary.is_empty(),
            "{function} names its binary in Metadata.BuildProperties.Binary"
        );
        if let Some(other) = binaries.insert(binary.to_owned(), function) {
            panic!("{function} and {other} both build binary {binary}");
        }
        let runtime = function_property(&t, function, "Runtime");
        assert_eq!(
            runtime.as_str(),
            Some("provided.al2023"),
            "{function}'s Runtime"
        );
        let architectures: Vec<String> =
            one_or_many(function_property(&t, function, "Architectures"))
                .into_iter()
                .map(text)
                .collect();
        assert_eq!(architectures, ["arm64"], "{function}'s Architectures");
        assert_eq!(
            function_property(&t, function, "CodeUri").as_str(),
            Some("."),
            "{function}'s CodeUri is the workspace, where cargo lambda finds the binary"
        );
    }
}

/// The binaries the workspace builds, as `cargo metadata` lists them.
fn workspace_binaries() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    packages
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"bin".into()))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_function_binary_is_a_workspace_binary() {
    let t = template();
    let built = workspace_binaries();
    let missing: Vec<String> = resources_of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .filter_map(|function| {
            let binary = text(&resource(&t, function)["Metadata"]["BuildProperties"]["Binary"]);
            (!built.contains(&binary)).then(|| format!("{function} -> {binary}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "`sam build` runs `cargo lambda build --bin <Binary>`, but the workspace has no such \
         binary for: {missing:?} (it builds {built:?})"
    );
}

// ---------------------------------------------------------------- 5. deploy-day contract

fn timeout_of(t: &Value, function: &str) -> u64 {
    number(function_property(t, function, "Timeout")).unwrap_or(3)
}

/// API Gateway's HTTP API integration timeout, which no setting raises.
const API_GATEWAY_LIMIT_SECS: u64 = 30;

#[test]
fn timeouts_fit_together() {
    let t = template();
    for function in ["IngestFunction", "QueryFunction"] {
        let timeout = timeout_of(&t, function);
        assert!(
            timeout < API_GATEWAY_LIMIT_SECS,
            "{function}'s Timeout ({timeout} s) must be under API Gateway's {API_GATEWAY_LIMIT_SECS} s"
        );
    }
    // A test delivery may take the deliverer's whole 10 s timeout, plus the
    // destination's lookup and status write.
    assert!(
        timeout_of(&t, "QueryFunction") >= 20,
        "QueryFunction needs room for a 10 s test delivery"
    );
    let worker = timeout_of(&t, "ExportFunction");
    let visibility = number(&resource(&t, "ExportQueue")["Properties"]["VisibilityTimeout"])
        .expect("a VisibilityTimeout");
    assert!(
        worker < visibility,
        "the worker's Timeout ({worker} s) is under the queue's visibility ({visibility} s)"
    );
    assert!(
        timeout_of(&t, "SchedulerFunction") < 60,
        "the scheduler ends before the next minute's tick"
    );
}

#[test]
fn the_scheduler_runs_alone_and_is_never_retried() {
    let t = template();
    let props = &resource(&t, "SchedulerFunction")["Properties"];
    assert_eq!(
        number(&props["ReservedConcurrentExecutions"]),
        Some(1),
        "one scheduler at a time"
    );
    assert_eq!(
        number(&props["EventInvokeConfig"]["MaximumRetryAttempts"]),
        Some(0),
        "a failed or timed-out tick is not retried (the next tick redoes it)"
    );
    let age = number(&props["EventInvokeConfig"]["MaximumEventAgeInSeconds"]);
    assert!(
        age.is_some_and(|a| a <= 60),
        "a throttled tick is dropped within a minute, got {age:?}"
    );
    assert_eq!(
        resource(&t, "SchedulerFunction")["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("scheduler")
    );
}

#[test]
fn the_worker_and_the_api_are_bounded() {
    let t = template();
    let sqs = &resource(&t, "ExportFunction")["Properties"]["Events"]["Jobs"]["Properties"];
    let max = number(&sqs["ScalingConfig"]["MaximumConcurrency"]);
    assert!(
        max.is_some_and(|m| (2..=10).contains(&m)),
        "the worker's SQS source sets a MaximumConcurrency (2..=10), got {max:?}"
    );
    let route = &resource(&t, "AuditApi")["Properties"]["DefaultRouteSettings"];
    for key in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        assert!(
            number(&route[key]).is_some_and(|n| n > 0),
            "AuditApi's stage sets {key}"
        );
    }
}

/// An alarm's (namespace, metric, dimension name, what the dimension names).
fn alarm(t: &Value, name: &str) -> (String, String, String, String, String) {
    let p = &resource(t, name)["Properties"];
    let dim = &p["Dimensions"][0];
    (
        text(&p["Namespace"]),
        text(&p["MetricName"]),
        text(&dim["Name"]),
        target(&dim["Value"]),
        text(&p["TreatMissingData"]),
    )
}

#[test]
fn alarms_watch_what_stalls_silently() {
    let t = template();
    let expect = |name: &str, want: (&str, &str, &str, &str, &str)| {
        let got = alarm(&t, name);
        let want = (
            want.0.to_owned(),
            want.1.to_owned(),
            want.2.to_owned(),
            want.3.to_owned(),
            want.4.to_owned(),
        );
        assert_eq!(got, want, "{name}");
    };
    expect(
        "ExportQueueOldestMessageAlarm",
        (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "QueueName",
            "ExportQueue.QueueName",
            "notBreaching",
        ),
    );
    expect(
        "ExportDLQNotEmptyAlarm",
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            "ExportDLQ.QueueName",
            "notBreaching",
        ),
    );
    expect(
        "SchedulerErrorsAlarm",
        (
            "AWS/Lambda",
            "Errors",
            "FunctionName",
            "SchedulerFunction",
            "notBreaching",
        ),
    );
    // No lag value means no tick ran or the listing failed: as bad as lag.
    expect(
        "ExportLagAlarm",
        (
            audit_domain::metrics::DEFAULT_NAMESPACE,
            audit_domain::metrics::EXPORT_LAG_SECONDS,
            "Stage",
            "Stage",
            "breaching",
        ),
    );
    let oldest = number(&resource(&t, "ExportQueueOldestMessageAlarm")["Properties"]["Threshold"])
        .expect("a threshold");
    assert!(
        oldest < u64::from(audit_aws::queue::QUEUE_RETENTION_SECS) / 4,
        "the oldest-job alarm fires long before the queue's retention drops jobs"
    );
}

#[test]
fn the_retention_parameter_reaches_the_code() {
    let t = template();
    let var = &t["Globals"]["Function"]["Environment"]["Variables"]
        [audit_domain::retention::DEFAULT_RETENTION_ENV];
    assert_eq!(target(var), "DefaultRetentionDays");
    let p = &t["Parameters"]["DefaultRetentionDays"];
    use audit_domain::retention::RetentionDays;
    assert_eq!(number(&p["MinValue"]), Some(u64::from(RetentionDays::MIN)));
    assert_eq!(number(&p["MaxValue"]), Some(u64::from(RetentionDays::MAX)));
    assert_eq!(
        number(&p["Default"]),
        Some(u64::from(RetentionDays::DEFAULT.get()))
    );
}

#[test]
fn secrets_exist_after_deploy_and_are_read_by_id() {
    let t = template();
    for secret in ["CursorSecret", "SigningKeySecret"] {
        let p = &resource(&t, secret)["Properties"];
        assert!(
            !p["GenerateSecretString"].is_null(),
            "{secret} is generated by the stack: no manual step, no first-use create"
        );
    }
    assert_eq!(
        text(&resource(&t, "SigningKeySecret")["Properties"]["Name"]),
        "audit-log/${Stage}/integrity/signing-key",
        "the name AUDIT_SIGNING_KEY_SECRET gives"
    );
    let query = &resource(&t, "QueryFunction")["Properties"]["Environment"]["Variables"];
    assert!(
        query["AUDIT_CURSOR_SECRET"].is_null(),
        "the cursor secret is not resolved into a plaintext variable"
    );
    assert_eq!(target(&query["AUDIT_CURSOR_SECRET_ID"]), "CursorSecret");
    for function in ["ExportFunction", "SchedulerFunction", "QueryFunction"] {
        let vars = &resource(&t, function)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            text(&vars["AUDIT_SIGNING_KEY_SECRET"]),
            "audit-log/${Stage}/integrity/signing-key",
            "{function} names the stack's signing key"
        );
    }
}

/// `(method, path)` of every HttpApi route in the template.
fn http_routes(t: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for function in resources_of_type(t, "AWS::Serverless::Function") {
        let Some(events) = resource(t, function)["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for e in events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        {
            routes.push((
                text(&e["Properties"]["Method"]),
                text(&e["Properties"]["Path"]),
            ));
        }
    }
    routes
}

#[test]
fn head_activity_reaches_the_query_function() {
    let routes = http_routes(&template());
    assert!(
        routes.contains(&("HEAD".into(), "/activity".into())),
        "API Gateway answers HEAD only on a route that names it: {routes:?}"
    );
}

/// The README's deploy guide counts the "has no authentication" prompts of
/// `sam deploy --guided`: one per route (the functions check API keys
/// themselves). Keep the number there true.
#[test]
fn the_readme_counts_the_unauthenticated_route_prompts() {
    let n = http_routes(&template()).len();
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let said = format!("{n} routes");
    assert!(
        readme.contains(&said),
        "README.md's deploy guide should say the guided deploy asks about {said}"
    );
}

// ---------------------------------------------------------------- secret ARNs
//
// The IAM check (scripts/iam-check.sh) lets moto judge actions only; the
// resources a secret grant must cover are checked here against AWS's
// documented formats: an existing secret is
// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX` (six random
// characters), and a call on a secret that does not exist yet (the first
// seal's GetSecretValue, then CreateSecret) is authorized against the bare
// `...:secret:NAME`.

/// IAM's resource wildcard match: `*` any run, `?` any one character.
fn iam_matches(pattern: &str, arn: &str) -> bool {
    let (p, a): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    let (mut pi, mut ai, mut star, mut mark) = (0, 0, None, 0);
    while ai < a.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == a[ai]) {
            pi += 1;
            ai += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ai;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ai = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A `!Sub` secret ARN with the pseudo parameters and `Stage` filled in.
fn sub_arn(s: &str) -> String {
    s.replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${Stage}", "dev")
}

/// The resources each role grants `action` on, resolved.
fn granted_resources(t: &Value, role: &str, action: &str) -> Vec<String> {
    let mut out = Vec::new();
    for policy in one_or_many(&resource(t, role)["Properties"]["Policies"]) {
        for st in statements(&policy["PolicyDocument"]["Statement"]) {
            if st["Effect"].as_str() != Some("Allow") {
                continue;
            }
            if !one_or_many(&st["Action"])
                .iter()
                .any(|a| a.as_str() == Some(action))
            {
                continue;
            }
            for r in one_or_many(&st["Resource"]) {
                out.push(sub_arn(&target(r)));
            }
        }
    }
    out
}

fn signing_key_violations(t: &Value) -> Vec<String> {
    let name =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:audit-log/dev/integrity/signing-key";
    let mut out = Vec::new();
    for role in resources_of_type(t, "AWS::IAM::Role") {
        for action in [
            "secretsmanager:GetSecretValue",
            "secretsmanager:CreateSecret",
        ] {
            let granted = granted_resources(t, role, action);
            if !granted.iter().any(|g| g.contains("signing-key")) {
                continue; // this role does not touch the signing key with this action
            }
            for (what, arn) in [
                ("the missing secret's bare name", name.to_owned()),
                ("the existing secret", format!("{name}-AbC123")),
            ] {
                if !granted.iter().any(|g| iam_matches(g, &arn)) {
                    out.push(format!(
                        "{role}: {action} does not cover {what} {arn} (grants {granted:?})"
                    ));
                }
            }
        }
    }
    out
}

/// The stack creates the signing key (`SigningKeySecret`), so the sealer's
/// grant is that secret's own ARN and nothing needs `CreateSecret`; a grant
/// by name pattern (as before the stack created it, and as an operator may
/// add) must also cover the bare name AWS authorizes a missing secret by.
#[test]
fn the_signing_key_grants_cover_a_secret_that_does_not_exist_yet() {
    let t = template();
    let v = signing_key_violations(&t);
    assert!(v.is_empty(), "{}", v.join("\n"));
    assert!(
        granted_resources(&t, "SchedulerRole", "secretsmanager:GetSecretValue")
            .contains(&"SigningKeySecret".to_owned()),
        "the sealer (the scheduler) reads the secret the stack created"
    );
    for role in resources_of_type(&t, "AWS::IAM::Role") {
        assert!(
            !granted_resources(&t, role, "secretsmanager:CreateSecret")
                .iter()
                .any(|r| r.contains("signing-key") || r == "SigningKeySecret"),
            "{role} does not create the signing key: the stack does"
        );
    }
    // A pattern grant that misses the bare name is caught.
    let narrow = with_statement(
        "SchedulerRole",
        "{ Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: !Sub 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:audit-log/${Stage}/integrity/signing-key-*' }",
    );
    assert!(
        signing_key_violations(&narrow)
            .iter()
            .any(|v| v.contains("bare name")),
        "signing-key-* does not cover the missing secret"
    );
}

#[test]
fn iam_wildcards_match_as_aws_documents() {
    assert!(iam_matches("a/b-*", "a/b-XyZ123"));
    assert!(!iam_matches("a/b-*", "a/b"));
    assert!(iam_matches("a/b*", "a/b"));
    assert!(iam_matches("a/b-??????", "a/b-XyZ123"));
    assert!(!iam_matches("a/b-??????", "a/b-XyZ12"));
}

// ---------------------------------------------------------------- 7. roles of their own, resources

/// Every (action, resource) a role's Allow statements grant, resources named
/// as `target` names them (`ControlTable`, `EventsTable/index/by_recorded`).
fn grants_of(t: &Value, role: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for policy in one_or_many(&resource(t, role)["Properties"]["Policies"]) {
        for st in statements(&policy["PolicyDocument"]["Statement"]) {
            if st["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for action in one_or_many(&st["Action"]).into_iter().map(text) {
                for r in one_or_many(&st["Resource"]) {
                    out.insert((action.clone(), target(r)));
                }
            }
        }
    }
    out
}

/// What a role must not have, as (role, action, resource or "*" for any).
const NEVER: &[(&str, &str, &str)] = &[
    // The tick sends jobs; only the worker (its event source mapping) takes them.
    ("SchedulerRole", "sqs:ReceiveMessage", "*"),
    ("SchedulerRole", "sqs:DeleteMessage", "*"),
    ("SchedulerRole", "sqs:ChangeMessageVisibility", "*"),
    ("SchedulerRole", "sqs:GetQueueAttributes", "*"),
    ("SchedulerRole", "*", "ExportDLQ"),
    // Digest files go to S3 through roles; no destination credential is read.
    ("SchedulerRole", "*", DESTINATION_SECRETS),
    // The worker neither signs nor cuts windows nor writes digests.
    ("ExportRole", "*", "SigningKeySecret"),
    ("ExportRole", "*", "ControlTable/index/by_tick"),
    ("ExportRole", "dynamodb:PutItem", "*"),
    ("ExportRole", "dynamodb:DeleteItem", "*"),
    ("ExportRole", "dynamodb:Query", "ControlTable"),
    ("ExportRole", "*", "SchedulerLogGroup"),
    ("SchedulerRole", "*", "ExportLogGroup"),
];

fn separation_violations(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (role, action, res) in NEVER {
        for (a, r) in grants_of(t, role) {
            if (*action == "*" || a == *action) && (*res == "*" || r == *res) {
                out.push(format!("{role} has {a} on {r}"));
            }
        }
    }
    for (function, role) in [
        ("ExportFunction", "ExportRole"),
        ("SchedulerFunction", "SchedulerRole"),
    ] {
        let runs_as = target(&resource(t, function)["Properties"]["Role"]);
        if runs_as != role {
            out.push(format!("{function} runs as {runs_as}, not {role}"));
        }
    }
    out
}

#[test]
fn the_scheduler_and_the_worker_have_least_privilege_roles_of_their_own() {
    let t = template();
    let v = separation_violations(&t);
    assert!(v.is_empty(), "{}", v.join("\n"));
    // What each needs is there: the tick sends and seals, the worker takes jobs.
    let scheduler = grants_of(&t, "SchedulerRole");
    for (a, r) in [
        ("sqs:SendMessage", "ExportQueue"),
        ("dynamodb:Query", "ControlTable/index/by_tick"),
        ("secretsmanager:GetSecretValue", "SigningKeySecret"),
        ("dynamodb:Query", "EventsTable/index/by_recorded"),
        ("sts:AssumeRole", "ExportRoleArns"),
    ] {
        assert!(
            scheduler.contains(&(a.to_owned(), r.to_owned())),
            "SchedulerRole has {a} on {r}"
        );
    }
    let worker = grants_of(&t, "ExportRole");
    for (a, r) in [
        ("sqs:ReceiveMessage", "ExportQueue"),
        ("sqs:DeleteMessage", "ExportQueue"),
        ("sqs:GetQueueAttributes", "ExportQueue"),
        ("sqs:ChangeMessageVisibility", "ExportQueue"),
        ("sqs:SendMessage", "ExportDLQ"),
        ("secretsmanager:GetSecretValue", DESTINATION_SECRETS),
        ("sts:AssumeRole", "ExportRoleArns"),
    ] {
        assert!(
            worker.contains(&(a.to_owned(), r.to_owned())),
            "ExportRole has {a} on {r}"
        );
    }
    // The check fails on a scheduler that could take jobs, or a shared role.
    let widened = with_statement(
        "SchedulerRole",
        "{ Effect: Allow, Action: sqs:ReceiveMessage, Resource: !GetAtt ExportQueue.Arn }",
    );
    assert!(separation_violations(&widened)
        .contains(&"SchedulerRole has sqs:ReceiveMessage on ExportQueue".to_owned()));
    assert!(permission_violations(&widened)
        .iter()
        .any(|v| v.starts_with(
            "SchedulerRole has sqs:ReceiveMessage on ExportQueue: not on its allow-list"
        )));
    let mut shared = template();
    shared["Resources"]["SchedulerFunction"]["Properties"]["Role"] =
        serde_yaml::from_str("!GetAtt ExportRole.Arn").expect("a GetAtt");
    assert!(separation_violations(&shared)
        .contains(&"SchedulerFunction runs as ExportRole, not SchedulerRole".to_owned()));
}

/// A function's environment variable, its own over `Globals.Function`'s.
fn env_var(t: &Value, function: &str, name: &str) -> String {
    let own = &resource(t, function)["Properties"]["Environment"]["Variables"][name];
    if own.is_null() {
        text(&t["Globals"]["Function"]["Environment"]["Variables"][name])
    } else {
        text(own)
    }
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";

/// Every way a destination-secret grant misses a secret the code names, or
/// reaches one it must not. The code names a destination's secret
/// `<AUDIT_DESTINATION_SECRET_PREFIX><org>/<destination id>`
/// (`SecretStore::name_for`); AWS's ARN for it is `…:secret:<name>-XXXXXX`
/// (six random characters), and `CreateSecret`, made before the secret
/// exists, is authorized against the bare `…:secret:<name>`.
fn destination_secret_violations(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (function, role) in FUNCTION_ROLES {
        let prefix = env_var(t, function, "AUDIT_DESTINATION_SECRET_PREFIX");
        let actions: BTreeSet<String> = grants_of(t, role)
            .into_iter()
            // Grants by name pattern; a `!Ref` of a template secret is one secret.
            .filter(|(a, r)| a.starts_with("secretsmanager:") && r.starts_with("arn:"))
            .map(|(a, _)| a)
            .collect();
        if actions.is_empty() {
            continue;
        }
        if prefix == "~" || prefix == "Null" || prefix.is_empty() {
            out.push(format!(
                "{function}: its role grants destination secrets but AUDIT_DESTINATION_SECRET_PREFIX is unset (the code's default {} is outside any stage's grant)",
                audit_aws::secrets::DEFAULT_PREFIX
            ));
            continue;
        }
        let name = format!("{}acme/dst_01HZX", sub_arn(&prefix));
        for action in &actions {
            let granted: Vec<String> = granted_resources(t, role, action)
                .into_iter()
                .filter(|g| g.starts_with("arn:"))
                .collect();
            let mut must = vec![("the existing secret", format!("{SECRET_ARN}{name}-AbC123"))];
            if action == "secretsmanager:CreateSecret" {
                must.push(("the secret to be created", format!("{SECRET_ARN}{name}")));
            }
            for (what, arn) in must {
                if !granted.iter().any(|g| iam_matches(g, &arn)) {
                    out.push(format!("{role}: {action} does not cover {what} {arn} ({function} names it; grants {granted:?})"));
                }
            }
            for (what, arn) in [
                (
                    "another stage's destination secret",
                    format!("{SECRET_ARN}audit-log/other/destinations/acme/dst_01HZX-AbC123"),
                ),
                (
                    "the cursor secret",
                    format!("{SECRET_ARN}audit-log/dev/cursor-AbC123"),
                ),
                (
                    "the signing key",
                    format!("{SECRET_ARN}audit-log/dev/integrity/signing-key-AbC123"),
                ),
                (
                    "the code's default prefix",
                    format!(
                        "{SECRET_ARN}{}acme/dst_01HZX-AbC123",
                        audit_aws::secrets::DEFAULT_PREFIX
                    ),
                ),
            ] {
                if granted.iter().any(|g| iam_matches(g, &arn)) {
                    out.push(format!("{role}: {action} reaches {what} {arn}"));
                }
            }
        }
    }
    out
}

#[test]
fn destination_secret_grants_cover_the_names_the_code_uses_and_nothing_else() {
    let t = template();
    let v = destination_secret_violations(&t);
    assert!(v.is_empty(), "{}", v.join("\n"));
    // The roles that handle destination credentials are checked at all.
    for role in ["QueryRole", "ExportRole"] {
        assert!(
            !granted_resources(&t, role, "secretsmanager:GetSecretValue").is_empty(),
            "{role} reads destination secrets"
        );
    }
    // A grant that leaves out the bare name, or reaches too far, is caught.
    let mut exact = template();
    let narrow = "!Sub 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:audit-log/${Stage}/destinations/*-??????'";
    let wide = "!Sub 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:audit-log/*'";
    for (pattern, expected) in [
        (narrow, "does not cover the secret to be created"),
        (wide, "reaches the cursor secret"),
    ] {
        let statements = exact["Resources"]["QueryRole"]["Properties"]["Policies"]
            .as_sequence_mut()
            .and_then(|p| {
                p.iter_mut()
                    .find(|p| p["PolicyName"].as_str() == Some("data"))
            })
            .and_then(|p| p["PolicyDocument"]["Statement"].as_sequence_mut())
            .expect("QueryRole's data statements");
        let manage = statements
            .iter_mut()
            .find(|s| s["Sid"].as_str() == Some("ManageDestinationSecrets"))
            .expect("the ManageDestinationSecrets statement");
        manage["Resource"] = serde_yaml::from_str(pattern).expect("a Sub");
        let v = destination_secret_violations(&exact);
        assert!(
            v.iter().any(|v| v.contains(expected)),
            "{pattern}: expected {expected:?} in {v:?}"
        );
        exact = template();
    }
    // Without the prefix variable the code's default would be used: caught.
    let mut unset = template();
    unset["Resources"]["ExportFunction"]["Properties"]["Environment"]["Variables"]
        .as_mapping_mut()
        .expect("ExportFunction's variables")
        .remove("AUDIT_DESTINATION_SECRET_PREFIX");
    assert!(destination_secret_violations(&unset)
        .iter()
        .any(|v| v.starts_with("ExportFunction: its role grants destination secrets")));
}

/// The sealer's signing key name is the stack's secret: the name the
/// scheduler's code reads (`AUDIT_SIGNING_KEY_SECRET`) is `SigningKeySecret`'s
/// `Name`, whose ARN (`!Ref`) is what its role is granted.
#[test]
fn the_scheduler_reads_the_signing_key_the_stack_creates_and_is_granted() {
    let t = template();
    assert_eq!(
        env_var(&t, "SchedulerFunction", "AUDIT_SIGNING_KEY_SECRET"),
        text(&resource(&t, "SigningKeySecret")["Properties"]["Name"]),
    );
    assert_eq!(
        granted_resources(&t, "SchedulerRole", "secretsmanager:GetSecretValue"),
        vec!["SigningKeySecret".to_owned()],
        "the scheduler reads the signing key and no other secret"
    );
}

/// `sts:AssumeRole` is granted on the operator's `ExportRoleArns` alone, and
/// only under `HasExportRoles` (an empty list would be `Resource: [""]`,
/// which IAM refuses). Each role that writes to S3 destinations has it: the
/// worker (deliveries), the scheduler (digest files), query (test deliveries).
#[test]
fn s3_role_assumption_is_on_the_listed_roles_only_and_conditional() {
    let t = template();
    let mut with_grant = Vec::new();
    for role in resources_of_type(&t, "AWS::IAM::Role") {
        for policy in one_or_many(&resource(&t, role)["Properties"]["Policies"]) {
            for st in one_or_many(&policy["PolicyDocument"]["Statement"]) {
                let conditional = matches!(intrinsic(st), Some((tag, arg)) if tag == "If" && arg[0].as_str() == Some("HasExportRoles"));
                for inner in statements(st) {
                    if !one_or_many(&inner["Action"])
                        .iter()
                        .any(|a| a.as_str() == Some("sts:AssumeRole"))
                    {
                        continue;
                    }
                    with_grant.push(role);
                    assert!(
                        conditional,
                        "{role}: sts:AssumeRole outside !If HasExportRoles"
                    );
                    let resources: Vec<String> = one_or_many(&inner["Resource"])
                        .into_iter()
                        .map(target)
                        .collect();
                    assert_eq!(resources, vec!["ExportRoleArns".to_owned()], "{role}");
                }
            }
        }
    }
    with_grant.sort_unstable();
    assert_eq!(with_grant, vec!["ExportRole", "QueryRole", "SchedulerRole"]);
}

/// The global secondary indexes a table declares.
fn indexes_of(t: &Value, table: &str) -> BTreeSet<String> {
    one_or_many(&resource(t, table)["Properties"]["GlobalSecondaryIndexes"])
        .into_iter()
        .map(|i| text(&i["IndexName"]))
        .collect()
}

/// A grant on `Table/index/NAME` names an index the table has (AWS's format
/// `arn:…:table/TABLE/index/INDEX`; a typo there is a silent AccessDenied).
#[test]
fn index_grants_name_indexes_the_tables_declare() {
    let t = template();
    let mut seen = 0;
    for role in resources_of_type(&t, "AWS::IAM::Role") {
        for (action, r) in grants_of(&t, role) {
            let Some((table, index)) = r.split_once("/index/") else {
                continue;
            };
            assert_eq!(
                action, "dynamodb:Query",
                "{role}: only Query reads an index ({r})"
            );
            seen += 1;
            if index != "*" {
                assert!(
                    indexes_of(&t, table).contains(index),
                    "{role}: {r} names no index of {table} ({:?})",
                    indexes_of(&t, table)
                );
            }
        }
    }
    assert!(seen >= 4, "the index grants were found ({seen})");
}

/// Does a template route path (`{name}` one segment, `{proxy+}` one or more)
/// match an OpenAPI path (whose `{name}` stands for one segment)?
fn route_matches(route: &str, path: &str) -> bool {
    let r: Vec<&str> = route.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, seg) in r.iter().enumerate() {
        if seg.ends_with("+}") {
            return p.len() > i;
        }
        let Some(other) = p.get(i) else { return false };
        if !(seg.starts_with('{') || seg == other) {
            return false;
        }
    }
    r.len() == p.len()
}

/// Every operation the API documents reaches a function through API
/// Gateway: a route the router answers but the template does not declare is
/// a 404 from API Gateway, however well it is tested locally.
#[test]
fn every_documented_operation_has_a_template_route() {
    let routes = http_routes(&template());
    let text = std::fs::read_to_string(workspace().join("openapi.yaml")).expect("openapi.yaml");
    let api: Value = serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML");
    let paths = api["paths"].as_mapping().expect("openapi paths");
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, item) in paths {
        let path = path.as_str().expect("a path");
        for method in item.as_mapping().into_iter().flat_map(|m| m.keys()) {
            let method = method.as_str().unwrap_or_default().to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
                continue;
            }
            checked += 1;
            let routed = routes
                .iter()
                .any(|(m, r)| (m == &method || m == "ANY") && route_matches(r, path));
            if !routed {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(checked > 10, "read the documented operations: {checked}");
    assert!(missing.is_empty(), "no template route for {missing:?}");
}

#[test]
fn a_route_matches_its_own_segments_only() {
    assert!(route_matches("/v1/events/{id}", "/v1/events/{id}"));
    assert!(!route_matches("/v1/events/{id}", "/v1/events/{id}/proof"));
    assert!(route_matches(
        "/v1/events/{id}/proof",
        "/v1/events/{id}/proof"
    ));
    assert!(route_matches(
        "/v1/integrity/{proxy+}",
        "/v1/integrity/consistency"
    ));
    assert!(!route_matches("/v1/integrity/{proxy+}", "/v1/integrity"));
}

#[test]
fn checkpoints_are_published_under_a_compliance_lock_for_the_longest_retention() {
    let t = template();
    let bucket = resource(&t, "CheckpointBucket");
    assert_eq!(bucket["Type"].as_str(), Some("AWS::S3::Bucket"));
    assert_eq!(bucket["DeletionPolicy"].as_str(), Some("Retain"));
    let props = &bucket["Properties"];
    assert_eq!(props["ObjectLockEnabled"].as_bool(), Some(true));
    assert_eq!(
        props["VersioningConfiguration"]["Status"].as_str(),
        Some("Enabled"),
        "Object Lock needs versioning"
    );
    let lock = &props["ObjectLockConfiguration"];
    assert_eq!(lock["ObjectLockEnabled"].as_str(), Some("Enabled"));
    let retention = &lock["Rule"]["DefaultRetention"];
    assert_eq!(
        retention["Mode"].as_str(),
        Some("COMPLIANCE"),
        "governance mode lets a privileged insider delete"
    );
    let days = number(&retention["Days"]).expect("retention in days");
    assert!(
        days >= u64::from(audit_domain::limits::MAX_RETENTION_DAYS),
        "checkpoints must outlive the longest org retention: {days} days"
    );
    let variables = &function_property(&t, "SchedulerFunction", "Environment")["Variables"];
    assert_eq!(
        target(&variables["AUDIT_CHECKPOINT_BUCKET"]),
        "CheckpointBucket"
    );

    // Nobody adds a version over a published checkpoint: a PUT without
    // If-None-Match is denied to every principal.
    let policy = &resource(&t, "CheckpointBucketPolicy")["Properties"];
    assert_eq!(target(&policy["Bucket"]), "CheckpointBucket");
    let statements = one_or_many(&policy["PolicyDocument"]["Statement"]);
    assert!(
        statements
            .iter()
            .any(|st| st["Effect"].as_str() == Some("Deny")
                && st["Principal"].as_str() == Some("*")
                && text(&st["Action"]) == "s3:PutObject"
                && target(&st["Resource"]) == "CheckpointBucket/*"
                && st["Condition"]["Null"]["s3:if-none-match"].as_str() == Some("true")),
        "{statements:?}"
    );
}
