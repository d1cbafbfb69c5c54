"""The IAM check (scripts/iam-check.sh): each Lambda function's real flows, run
with exactly that function's translated IAM policy, against a moto_server that
enforces IAM.

  1. Translate template.yaml with the SAM translator; find every
     AWS::Serverless::Function and its role's policy statements.
  2. Start moto (in this process, on a free loopback port) with
     INITIAL_NO_AUTH_ACTION_COUNT: the first calls create an admin user,
     every later call is authorized.
  3. For each function: create its role in moto's IAM with its actions
     exactly and resources "*" (moto judges actions; resources are checked by
     tests/tests/template.rs, see README "IAM check"), assume it through
     moto's STS, run its flows (tests/tests/iamcheck.rs) with the assumed
     credentials in the environment.
  4. An AccessDenied fails the check, naming the action. Actions granted but
     never called by the flows are reported.

Usage: python scripts/iam_check.py TEMPLATE  (run from the repository root).
"""

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.parse
from io import BytesIO

# Set-up calls made before enforcement starts: CreateUser, PutUserPolicy,
# CreateAccessKey (see admin_credentials).
NO_AUTH_CALLS = 3
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_CALLS)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
REGION = os.environ["AWS_DEFAULT_REGION"]

import boto3  # noqa: E402
from cfnlint.decode import decode_str  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)
from samtranslator.translator.transform import transform  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

# Each function's flows: test names in tests/tests/iamcheck.rs. A function
# found in the template and absent here fails the check.
FLOWS = {
    "ExportFunction": ["worker_flow", "worker_s3_flow"],
    "IngestFunction": ["ingest_flow"],
    "QueryFunction": ["query_flow", "query_test_delivery_flow", "query_destination_changes_flow"],
    "SchedulerFunction": ["scheduler_flow"],
    "ArrivalsFunction": ["arrivals_flow"],
}
# Grants no flow can call because Lambda itself uses them with the function's
# role: reported as such, not as unused.
USED_BY_LAMBDA = {
    # Lambda's SQS event source mapping polls with the function's role and needs
    # ReceiveMessage, DeleteMessage and GetQueueAttributes (its documented
    # minimum); the flows do the receive and delete, not the attribute read.
    "ExportFunction": {"sqs:GetQueueAttributes": "the SQS event source mapping reads the queue's attributes"},
    # Lambda's DynamoDB event source mapping reads the events stream with the
    # function's role (its documented four actions); the flow gets the batch.
    "ArrivalsFunction": {
        "dynamodb:DescribeStream": "the DynamoDB event source mapping describes the stream",
        "dynamodb:GetRecords": "the DynamoDB event source mapping reads the stream",
        "dynamodb:GetShardIterator": "the DynamoDB event source mapping reads the stream",
        "dynamodb:ListStreams": "the DynamoDB event source mapping lists the streams",
    },
}
# Functions known to have no flow yet: reported loudly, not checked.
PENDING = {
}


def log(msg):
    print(f"iam-check: {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"iam-check: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class NoManagedPolicies:
    def load(self):
        return {}


def translate(path):
    with open(path, encoding="utf-8") as f:
        template, matches = decode_str(f.read())
    if matches:
        die(f"{path}: cannot parse: {matches}")
    template = json.loads(json.dumps(template))
    # Local paths are sam build's business; the translator wants S3 URIs (as sam validate does).
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://iamcheck/code.zip"
    params = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    return template, transform(template, params, NoManagedPolicies())


def as_list(x):
    return x if isinstance(x, list) else [x]


def role_of(cfn, fn_id):
    """The function's role resource id (explicit Role: !GetAtt X.Arn, or SAM's generated one)."""
    role = cfn["Resources"][fn_id]["Properties"].get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        att = role["Fn::GetAtt"]
        return att[0] if isinstance(att, list) else att.split(".")[0]
    die(f"{fn_id}: Role is {role!r}; expected !GetAtt ROLE.Arn")


def statements(sts):
    """The statements, with both branches of a conditional one (Fn::If) taken: the check grants the most."""
    for st in as_list(sts):
        if isinstance(st, dict) and "Fn::If" in st:
            yield from (b for b in statements(st["Fn::If"][1:]) if b != {"Ref": "AWS::NoValue"})
        else:
            yield st


def allowed_actions(cfn, role_id):
    props = cfn["Resources"][role_id]["Properties"]
    if props.get("ManagedPolicyArns"):
        die(f"{role_id}: managed policies {props['ManagedPolicyArns']} cannot be checked; use inline policies")
    actions = set()
    for policy in props.get("Policies", []):
        for st in statements(policy["PolicyDocument"]["Statement"]):
            if st.get("Effect") == "Deny":
                # A Deny narrows resources; with resources "*" in moto's copy it would deny the action
                # everywhere, so it is left to the template tests (tests/tests/template.rs).
                continue
            if "NotAction" in st:
                die(f"{role_id}/{policy['PolicyName']}: NotAction is not supported")
            actions.update(as_list(st["Action"]))
    return actions


# ---- moto, in process, with a request log -------------------------------------------------------

CALLS = []  # (access key id, "service:Action", status)
# (access key id, "service:Action", resource ARN) of DynamoDB and SQS requests: resources judged by the check
RESOURCE_CALLS = []
CALLS_LOCK = threading.Lock()

S3_OPS = {"PUT": "s3:PutObject", "GET": "s3:GetObject", "HEAD": "s3:GetObject", "DELETE": "s3:DeleteObject"}


# DynamoDB transactions are no IAM action of their own: AWS authorizes each
# item by its underlying action (Put by dynamodb:PutItem, ConditionCheck by
# dynamodb:ConditionCheckItem, ...), where moto asks for dynamodb:Transact*.
# So moto's copy of each role gets the Transact* actions, the recorder logs
# each item's underlying action instead, and main() judges those itself.
TRANSACT = {
    "TransactWriteItems": {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"},
    "TransactGetItems": {"Get": "GetItem"},
}
TRANSACT_GRANTS = [f"dynamodb:{op}" for op in TRANSACT]


def item_actions(op, body):
    """The underlying IAM actions of a DynamoDB transaction's items."""
    try:
        items = json.loads(body or b"{}").get("TransactItems", [])
    except ValueError:
        return [f"dynamodb:{op}"]
    return sorted({f"dynamodb:{TRANSACT[op][k]}" for item in items for k in item if k in TRANSACT[op]})


ACCOUNT = "123456789012"


def arn(service, rest):
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def short(full):
    """An ARN without its arn:aws:SERVICE:REGION:ACCOUNT: head, for messages."""
    return full.split(":", 5)[5] if full.count(":") >= 5 else full


def dynamo_resources(op, body):
    """(IAM action, resource ARN) of a DynamoDB request: its table and index, each
    transaction item's table under the item's own action, each batch's tables."""
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return []
    if op in TRANSACT:
        return sorted({(f"dynamodb:{TRANSACT[op][k]}", arn("dynamodb", f"table/{v.get('TableName', '')}"))
                       for item in req.get("TransactItems", []) for k, v in item.items() if k in TRANSACT[op]})
    if op in ("BatchGetItem", "BatchWriteItem"):
        return sorted({(f"dynamodb:{op}", arn("dynamodb", f"table/{t}")) for t in req.get("RequestItems", {})})
    if "TableName" not in req:
        return []
    res = f"table/{req['TableName']}"
    if req.get("IndexName"):
        res += f"/index/{req['IndexName']}"
    return [(f"dynamodb:{op}", arn("dynamodb", res))]


def sqs_resources(op, environ, body):
    """(IAM action, queue ARN) of an SQS request (JSON or query protocol)."""
    url = ""
    if environ.get("HTTP_X_AMZ_TARGET"):
        try:
            url = json.loads(body or b"{}").get("QueueUrl", "")
        except ValueError:
            url = ""
    else:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        url = form.get("QueueUrl", [""])[0]
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return [(f"sqs:{op}", arn("sqs", name))] if name else []


def action_of(environ, body):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    akid, service = "", ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        akid, service = scope[0], scope[3] if len(scope) > 3 else ""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        op = target.split(".")[-1]
    else:
        form = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
        op = form.get("Action", [""])[0]
        if not op and service == "s3":
            return akid, S3_OPS.get(environ["REQUEST_METHOD"], "s3:?")
    return akid, f"{service}:{op}"


def recording(app):
    def wrapped(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = BytesIO(body)
        akid, action = action_of(environ, body)
        service, _, op = action.partition(":")
        actions = item_actions(op, body) if service == "dynamodb" and op in TRANSACT else [action]
        resources = (
            dynamo_resources(op, body) if service == "dynamodb" else sqs_resources(op, environ, body) if service == "sqs" else []
        )

        def start(status, headers, exc_info=None):
            with CALLS_LOCK:
                CALLS.extend((akid, a, int(status.split()[0])) for a in actions)
                RESOURCE_CALLS.extend((akid, a, r) for a, r in resources)
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


def start_moto():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, recording(DomainDispatcherApplication(create_backend_app)), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def client(service, url, creds):
    return boto3.client(service, endpoint_url=url, region_name=REGION, **creds)


def admin_credentials(url):
    """The NO_AUTH_CALLS set-up calls: an admin user, with which everything else is set up."""
    iam = client("iam", url, {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"})
    iam.create_user(UserName="iamcheck-admin")
    iam.put_user_policy(
        UserName="iamcheck-admin",
        PolicyName="admin",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    key = iam.create_access_key(UserName="iamcheck-admin")["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def assume(url, admin, fn_id, actions):
    iam = client("iam", url, admin)
    name = f"iamcheck-{fn_id}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # Actions exact, resources "*": moto is the judge of actions only.
    # Transactions are let through; their items are judged in main() (TRANSACT).
    granted = sorted(set(actions) | set(TRANSACT_GRANTS))
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": granted, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="translated", PolicyDocument=json.dumps(policy))
    c = client("sts", url, admin).assume_role(RoleArn=arn, RoleSessionName=fn_id)["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def s3_target(url, admin, flow):
    """A bucket for the flow and a role standing for the customer's: it may
    s3:PutObject into that bucket only. The function's role assumes it."""
    name = "iamcheck-" + flow.replace("_", "-")
    client("s3", url, admin).create_bucket(Bucket=name)
    iam = client("iam", url, admin)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=f"{name}-dest", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    put = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"}]}
    iam.put_role_policy(RoleName=f"{name}-dest", PolicyName="put", PolicyDocument=json.dumps(put))
    return name, arn


def run_flow(url, admin, creds, flow):
    bucket, dest_role = s3_target(url, admin, flow)
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_ENDPOINT_URL") or k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            del env[k]
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ENDPOINT_URL_DYNAMODB=url,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID=creds[0],
        AWS_SECRET_ACCESS_KEY=creds[1],
        AWS_SESSION_TOKEN=creds[2],
        IAMCHECK_ADMIN_ACCESS_KEY_ID=admin["aws_access_key_id"],
        IAMCHECK_ADMIN_SECRET_ACCESS_KEY=admin["aws_secret_access_key"],
        IAMCHECK_S3_BUCKET=bucket,
        IAMCHECK_S3_ROLE_ARN=dest_role,
        RUST_BACKTRACE="0",
        AUDIT_EVENTS_TABLE="iamcheck-events",
        AUDIT_CONTROL_TABLE="iamcheck-control",
    )
    cmd = ["cargo", "test", "--quiet", "-p", "audit-log-tests", "--test", "iamcheck", "--", "--ignored", "--exact", flow]
    return subprocess.run(cmd, env=env).returncode


# Grants on a table the flows cannot reach, with the reason they stay: reported as such.
KNOWN_IDLE = {
    # store::put_event falls back to a GetItem when a failed conditional put
    # returns no item (ReturnValuesOnConditionCheckFailure answered without
    # one); DynamoDB and moto return the item, so the flows never take it.
    ("IngestFunction", "dynamodb:GetItem on table/iamcheck-events"): "the duplicate check's fallback read",
    # worker.rs: a window longer than one delivery's page goes on as its own
    # job (job.continued); the flows' windows hold a handful of events.
    ("ExportFunction", "sqs:SendMessage on iamcheck-jobs-*"): "the next part of a window longer than one page",
}


# ---- DynamoDB and SQS resources, judged here (moto judges actions only) ------------------------

# The tables the flows use (run_flow's environment) and their queues' names
# (tests/tests/iamcheck.rs `queues`), by the template's logical ids.
TABLES = {"EventsTable": "iamcheck-events", "ControlTable": "iamcheck-control"}
QUEUES = {"ExportQueue": "iamcheck-jobs-*", "ExportDLQ": "iamcheck-dlq-*"}


def logical_arn(logical):
    if logical in TABLES:
        return arn("dynamodb", f"table/{TABLES[logical]}")
    if logical in QUEUES:
        return arn("sqs", QUEUES[logical])
    return None


def resolve(resource):
    """A translated policy resource as an ARN pattern, when it names a table or a queue."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        att = resource["Fn::GetAtt"]
        logical, attr = (att if isinstance(att, list) else att.split(".", 1))[:2]
        return logical_arn(logical) if attr == "Arn" else None
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        text = text if isinstance(text, str) else text[0]
        for logical in list(TABLES) + list(QUEUES):
            text = text.replace(f"${{{logical}.Arn}}", logical_arn(logical))
        text = text.replace("${AWS::Region}", REGION).replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Partition}", "aws")
        return text if text.startswith(("arn:aws:dynamodb:", "arn:aws:sqs:")) and "${" not in text else None
    if isinstance(resource, str) and resource.startswith(("arn:aws:dynamodb:", "arn:aws:sqs:")):
        return resource
    return None


def iam_match(pattern, full):
    """IAM's resource wildcards: * any run of characters, ? any one."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, full) is not None


def resource_grants(cfn, role_id):
    """(action, ARN pattern) pairs the role's Allow statements grant on the tables and queues."""
    grants = set()
    for policy in cfn["Resources"][role_id]["Properties"].get("Policies", []):
        for st in statements(policy["PolicyDocument"]["Statement"]):
            if st.get("Effect") != "Allow":
                continue
            for r in as_list(st.get("Resource", [])):
                pattern = resolve(r)
                if pattern:
                    service = pattern.split(":")[2]
                    grants.update((a, pattern) for a in as_list(st["Action"]) if a.startswith(f"{service}:"))
    return grants


def resource_denials(grants, calls, drop):
    """The calls no grant covers: (action, resource ARN) of the role's requests."""
    out = set()
    for action, res in calls:
        if not any(a == action and (a, p) not in drop and iam_match(p, res) for a, p in grants):
            out.add((action, res))
    return sorted(out)


def main():
    if len(sys.argv) != 2:
        die("usage: iam_check.py TEMPLATE")
    source, cfn = translate(sys.argv[1])
    functions = sorted(k for k, r in source["Resources"].items() if r["Type"] == "AWS::Serverless::Function")
    log(f"{sys.argv[1]}: translated; functions: {', '.join(functions)}")
    unknown = [f for f in functions if f not in FLOWS and f not in PENDING]
    if unknown:
        die(f"no flows for {', '.join(unknown)}: add its flows to tests/tests/iamcheck.rs and FLOWS in scripts/iam_check.py")
    url = start_moto()
    admin = admin_credentials(url)
    failed, unused_report = [], []
    known_keys = {admin["aws_access_key_id"], "setup"}
    for fn in functions:
        if fn in PENDING:
            log(f"{fn}: NOT CHECKED: {PENDING[fn]}")
            continue
        actions = allowed_actions(cfn, role_of(cfn, fn))
        # IAMCHECK_DROP=Function:service:Action,...: withhold grants, to see the check fail.
        for drop in filter(None, os.environ.get("IAMCHECK_DROP", "").split(",")):
            if drop.startswith(f"{fn}:"):
                actions.discard(drop[len(fn) + 1 :])
        creds = assume(url, admin, fn, actions)
        known_keys.add(creds[0])
        for flow in FLOWS[fn]:
            log(f"{fn}: running {flow} with its role ({len(actions)} actions granted)")
            with CALLS_LOCK:
                start = len(CALLS)
            rc = run_flow(url, admin, creds, flow)
            if rc != 0:
                failed.append(f"{fn}/{flow}")
            # Calls with keys neither admin's nor a function's: the sessions of the
            # customer-side S3 role the function assumed (its PutObjects).
            with CALLS_LOCK:
                assumed = sorted({f"{a} ({st})" for k, a, st in CALLS[start:] if k not in known_keys and k})
            if assumed:
                log(f"{fn}/{flow}: through an assumed S3 destination role: {', '.join(assumed)}")
        with CALLS_LOCK:
            mine = [(a, st) for k, a, st in CALLS if k == creds[0]]
        # A 403 from moto, or a transaction item whose underlying action is not granted.
        if os.environ.get("IAMCHECK_DEBUG"):  # every call of the role, in order, with its status
            log(f"{fn}: calls {mine}")
        denied = sorted({a for a, st in mine if st == 403 or a not in actions})
        with CALLS_LOCK:
            on = [(a, r) for k, a, r in RESOURCE_CALLS if k == creds[0]]
        # IAMCHECK_NARROW=Function:service:Action@RESOURCE (table/NAME[/index/NAME], or a queue's
        # pattern as QUEUES writes it): withhold a grant on one resource, to see the judgement fail.
        drop = set()
        for n in filter(None, os.environ.get("IAMCHECK_NARROW", "").split(",")):
            if n.startswith(f"{fn}:"):
                a, _, r = n[len(fn) + 1 :].partition("@")
                drop.add((a, arn(a.split(":")[0], r)))
        grants = resource_grants(cfn, role_of(cfn, fn))
        off_resource = [f"{a} on {short(r)}" for a, r in resource_denials(grants, on, drop)]
        idle = sorted(
            f"{a} on {short(p)}" for a, p in grants if not any(ca == a and iam_match(p, r) for ca, r in on)
        )
        used = {a for a, st in mine if st != 403 and a in actions}
        for a in denied:
            log(f"{fn}: AccessDenied: {a} (not granted to its role)")
        for a in off_resource:
            log(f"{fn}: AccessDenied: {a} (granted on other resources only)")
        if denied or off_resource:
            failed.append(f"{fn}: denied {', '.join(denied + off_resource)}")
        # logs:* is CloudWatch Logs, written by the Lambda runtime, not by the flows.
        by_lambda = USED_BY_LAMBDA.get(fn, {})
        for a in sorted(set(by_lambda) & (actions - used)):
            log(f"{fn}: {a} granted for Lambda, not the code: {by_lambda[a]}")
        idle = [i for i in idle if i.split(" on ")[0] not in by_lambda]
        unused = sorted(a for a in actions if a not in used and not a.startswith("logs:") and a not in by_lambda)
        log(f"{fn}: called {', '.join(sorted(used)) or 'nothing'}")
        if unused:
            unused_report.append(f"{fn}: granted, never called by its flows: {', '.join(unused)}")
        for i in [i for i in idle if (fn, i) in KNOWN_IDLE]:
            log(f"{fn}: {i} kept, not reached by the flows: {KNOWN_IDLE[(fn, i)]}")
        idle = [i for i in idle if (fn, i) not in KNOWN_IDLE]
        if idle:
            unused_report.append(f"{fn}: granted on a table, index or queue its flows never used it on: {', '.join(idle)}")
    for line in unused_report:
        log(line)
    if failed:
        die(f"failed: {'; '.join(failed)}")
    log("ok: every flow ran with its function's translated permissions")


if __name__ == "__main__":
    main()
