"""Each function starts as deployed, and works as deployed.

The four shipped binaries (`make package`: .aws-sam/build/<Name>Function/bootstrap) run under
cargo-lambda's Lambda emulator (`cargo lambda watch --only-lambda-apis`, invoked with `cargo
lambda invoke --data-file`), each with exactly the environment infra/template.yaml gives it,
against moto holding the template's resources and secrets under their physical names, and the
Notify simulator. The team's Notify service (the simulator's default service, whose key is
the deployment's default) holds the templates the campaign names, as a team sets them up before
uploading it. The sample events in events/ drive the functions, in the order the service runs:
ingest takes a cohort and a campaign, checks the campaign's templates against the simulator
(GET /v2/template/{id}, and a preview of each text) and writes its reports; a campaign naming a
template the service does not have is rejected, naming it; the reminders run for the day queues
the jobs; the dispatcher sends them to the simulator (which checks each send against its
template); the simulator's delivery receipts reach the webhook through the emulator's Function
URL (200) and a receipt with a bad token is refused (403); a team whose team.json names its own
callback-token secret is held to that token. Then each function is started without each variable
and secret it needs: it must stop at once with a log line naming what is missing.

Run with `make startup-test` (which builds what it needs), or `.venv/bin/pytest tests/startup`
after `make package` and `cargo build -p notify-sim`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import startup_stack as stack
from startup_stack import (
    REPO,
    CargoLambda,
    Function,
    LocalStack,
    Processes,
    RuntimeStub,
    http_json,
    load_template,
    s3_event_key,
    sqs_records,
    start_moto,
    start_notify_sim,
    start_once,
)

EVENTS = REPO / "events"
FIXTURES = Path(__file__).parent / "fixtures"
# A valid cohort extract (the demo's): the file the ingest sample announces.
COHORT = REPO / "events" / "demo" / "cohort" / "cohort.csv"
# The campaign the reminders and dispatcher samples name (team RYG-sais, hpv-2026-autumn).
CAMPAIGN = FIXTURES / "hpv-2026-autumn.json"
# A second team, never seen by the running webhook before its test: the webhook caches each
# team's settings for 5 minutes (shared/src/teams.rs), so RYG-sais, whose callbacks it has
# already checked against the deployment's token, would keep that token for the rest of the run.
OWN_TOKEN_TEAM = "ABC-sais"
FUNCTIONS = ("ingest", "dispatcher", "webhook", "reminders")
NOTIFY_SIM = Path(os.environ.get("NOTIFY_SIM_BIN", REPO / "target" / "debug" / "notify-sim"))
# Seconds a function may take to reach the Runtime API, or to give up, on this machine.
START_TIMEOUT = 20

# Variables a function's own Environment sets that it does not need: without one it starts
# with a default. NOTIFY_RATE_LIMIT_PER_MIN is read by shared/src/aws.rs notify_defaults (used at
# start-up by ingest, the dispatcher and the reminders), which takes Notify's own default of
# 3,000 a minute when it is unset; the template sets it (NotifyRateLimitPerMinute) on the
# dispatcher only, the one function that paces sends.
OPTIONAL_WITH_DEFAULT = {
    "NOTIFY_RATE_LIMIT_PER_MIN": "3000 (Notify's default rate limit)",
    # The template's Teams parameter, empty by default: no teams share a Notify service's
    # callbacks (shared/src/config.rs teams_env).
    "TEAMS": "no teams (the Teams parameter's default)",
}

# What the service fills in every template, whatever the channel (shared/src/notify/
# placeholders.rs PER_CHILD; `sais templates` lists them), besides the campaign's own
# personalisation names. Letters are filled with address_line_1…7 too, which Notify prints in the
# address block, so a letter template does not write them.
PER_CHILD_PLACEHOLDERS = ("child_first_name", "session_date", "consent_deadline")


# -------------------------------------------------------------------------------------------------
# What the template says, read once at collection so the failure cases are one test each
# -------------------------------------------------------------------------------------------------

TEMPLATE = load_template()


def _template_variables() -> dict[str, dict[str, object]]:
    """Per binary: each variable the template gives the function, with its unresolved value."""
    globals_ = TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    out = {}
    for resource in TEMPLATE["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        own = resource["Properties"].get("Environment", {}).get("Variables", {})
        out[binary] = {**globals_, **own}
    return out


VARIABLES = _template_variables()


def _secret_variables() -> list[tuple[str, str]]:
    """(binary, variable) for every variable the template sets to a secret's Ref."""
    return [
        (binary, name)
        for binary, variables in VARIABLES.items()
        for name, value in variables.items()
        if isinstance(value, dict)
        and isinstance(value.get("Ref"), str)
        and TEMPLATE["Resources"].get(value["Ref"], {}).get("Type") == "AWS::SecretsManager::Secret"
    ]


def _is_placeholder(value: object) -> bool:
    return isinstance(value, str) and value.startswith("REPLACE_ME")


def _campaign_templates(campaign: dict) -> list[dict]:
    """The Notify templates a team writes for `campaign` (one per purpose and channel it names),
    as the simulator's admin API takes them (`POST /_sim/templates`): each of its channel's
    kind, using only placeholders the service fills. Texts are kept to one fragment at the
    longest values the service sends, so the check finds nothing to warn of but their cost."""
    own = sorted(campaign.get("personalisation", {}))
    fields = " ".join(f"(({name}))" for name in (*PER_CHILD_PLACEHOLDERS, *own))
    out = []
    for purpose, channels in campaign["templates"].items():
        for channel, template_id in channels.items():
            name = f"{campaign['id']} {purpose} ({channel})"
            if channel == "sms":
                body = "((child_first_name)): ((programme_name)) vaccination ((session_date)). Consent by ((consent_deadline)): ((consent_url))"
                out.append({"id": template_id, "type": "sms", "name": name, "body": body})
            elif channel in ("email", "letter"):
                out.append({
                    "id": template_id,
                    "type": channel,
                    "name": name,
                    "subject": "((programme_name)) vaccination for ((child_first_name))",
                    "body": f"{purpose.replace('_', ' ').capitalize()}: {fields}",
                })
            else:
                raise AssertionError(f"the campaign names a template for channel {channel!r}")
    return out


# -------------------------------------------------------------------------------------------------
# The deployed stack, once for the module
# -------------------------------------------------------------------------------------------------


@dataclass
class Deployed:
    procs: Processes
    moto: str
    stack: LocalStack
    functions: dict[str, Function]
    emulator: CargoLambda
    stub: RuntimeStub
    sim: str
    # Never shown in a failure's traceback.
    api_key: str = field(repr=False)
    callback_token: str = field(repr=False)
    running: dict
    logs: Path

    def overrides(self, function: Function) -> dict[str, str]:
        """What the local stack replaces: AWS's endpoint (added), and Notify's URL (a parameter
        whose https-only pattern the simulator's http:// address could not pass)."""
        out = {"AWS_ENDPOINT_URL": self.moto}
        if "NOTIFY_BASE_URL" in function.template_env:
            out["NOTIFY_BASE_URL"] = self.sim
        return out

    def invoke(self, binary: str, event: Path) -> object:
        proc, log = self.running[binary]
        return self.emulator.invoke(binary, event, proc, log)

    def client(self, service: str):
        return self.stack.clients[service]

    def ref(self, logical_id: str) -> str:
        return self.stack.ref(logical_id)

    def only(self, kind: str, named: str) -> str:
        """The one resource of `kind` whose logical id contains `named`."""
        ids = [i for i in self.stack.logical_ids(kind) if named in i]
        assert len(ids) == 1, f"expected one {kind} named like {named}, found {ids}"
        return ids[0]

    def secret_for(self, binary: str, variable: str) -> tuple[str, str]:
        """The (logical id, ARN) of the secret the function's variable names."""
        arn = self.functions[binary].template_env[variable]
        logical = self.stack.secret_logical_id(arn)
        assert logical, f"{variable} of {binary} names no secret the template creates"
        return logical, arn


def _operator_secret(api_key: str):
    def fill(logical: str, name: str, template_value: str) -> str:
        # The template creates the Notify API key with a placeholder that the operator replaces
        # (put-secret-value) after the first deploy; locally, with the simulator's key.
        if _is_placeholder(template_value) and name.endswith("notify-api-key"):
            return api_key
        if _is_placeholder(template_value):
            raise stack.TemplateError(f"the start-up test does not know what the operator puts in {name}")
        return template_value

    return fill


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    missing = [f for f in FUNCTIONS if not (stack.SAM_BUILD / f"{f.capitalize()}Function" / "bootstrap").exists()]
    if missing:
        pytest.fail(f"no shipped binary for {missing} in {stack.SAM_BUILD}: run `make package` first")
    if not NOTIFY_SIM.exists():
        pytest.fail(f"{NOTIFY_SIM} is missing: run `cargo build -p notify-sim` (or set NOTIFY_SIM_BIN)")
    logs = tmp_path_factory.mktemp("logs")
    procs = Processes()
    stub = RuntimeStub()
    try:
        moto = start_moto(procs, logs / "moto.log")
        api_key = f"startup-test-{uuid.uuid4()}-{uuid.uuid4()}"
        local = LocalStack(TEMPLATE, moto, _operator_secret(api_key))
        local.create_all()
        fns = stack.functions(TEMPLATE, local.resolver)
        assert sorted(fns) == sorted(FUNCTIONS), f"the template's functions are {sorted(fns)}"
        for fn in fns.values():
            assert fn.bootstrap.exists(), f"{fn.bootstrap} is missing: run `make package`"

        emulator = CargoLambda(procs, sorted(fns), logs / "emulator", logs / "cargo-lambda.log")
        token_arn = fns["webhook"].template_env["CALLBACK_TOKEN_SECRET_ARN"]
        callback_token = local.secret_values[local.secret_logical_id(token_arn)]
        # Notify's callback settings: the webhook's Function URL with the team's path, and the
        # token from the callback-token secret.
        sim = start_notify_sim(
            procs,
            NOTIFY_SIM,
            api_key,
            logs / "notify-sim.log",
            callback_url=f"{emulator.function_url('webhook')}/notify/RYG-sais",
            callback_token=callback_token,
        )
        # The team's Notify set-up, done before the campaign is uploaded: every template the
        # campaign names, in the service its key (the deployment's default) belongs to.
        for template in _campaign_templates(json.loads(CAMPAIGN.read_text())):
            http_json(f"{sim}/_sim/templates", template)
        deployed = Deployed(procs, moto, local, fns, emulator, stub, sim, api_key, callback_token, {}, logs)
        for binary, fn in fns.items():
            log = logs / f"{binary}.log"
            env = fn.environment(emulator.runtime_api(binary), deployed.overrides(fn))
            proc = procs.spawn([fn.bootstrap], env=env, cwd=fn.bootstrap.parent,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
            deployed.running[binary] = (proc, log)
        yield deployed
    finally:
        procs.stop_all()
        stub.close()


def _write(path: Path, event: object) -> Path:
    path.write_text(json.dumps(event, indent=2))
    return path


def _sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def _s3_record(sqs_record: dict) -> dict:
    body = json.loads(sqs_record["body"])
    (record,) = body["Records"]
    return record


def _announce(sqs_record: dict, put: dict, size: int, key: str | None = None) -> dict:
    """The sample's SQS record, announcing the object `put` made (its version id, ETag and size:
    values S3 assigns, which no sample can know)."""
    out = copy.deepcopy(sqs_record)
    body = json.loads(out["body"])
    obj = body["Records"][0]["s3"]["object"]
    if key is not None:
        obj["key"] = s3_event_key(key)
        out["messageId"] = str(uuid.uuid4())
    obj.update(versionId=put["VersionId"], eTag=put["ETag"].strip('"'), size=size)
    out["body"] = json.dumps(body)
    return out


def _report(d: Deployed, bucket: str, key: str) -> dict:
    return json.loads(d.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _ingest_sample() -> tuple[dict, str]:
    """The ingest sample and the bucket it names."""
    sample = _sample("ingest-sqs-s3-notification.json")
    bucket = _s3_record(sample["Records"][0])["s3"]["bucket"]["name"]
    return sample, bucket


def _upload(d: Deployed, tmp_path: Path, key: str, body: bytes) -> dict:
    """`body` uploaded to the uploads bucket at `key` and announced to ingest as S3 and SQS
    announce it (the sample's record for this object); the report ingest writes for it."""
    sample, bucket = _ingest_sample()
    put = d.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    event = {"Records": [_announce(sample["Records"][0], put, len(body), key=key)]}
    name = key.rsplit("/", 1)[1]
    response = d.invoke("ingest", _write(tmp_path / f"ingest-{name}.json", event))
    assert response == {"batchItemFailures": []}
    team = key.split("/")[0]
    return _report(d, bucket, f"{team}/reports/{name}.report.json")


def _codes(issues: list[dict]) -> list[tuple[object, str]]:
    return [(i.get("column"), i["code"]) for i in issues]


# -------------------------------------------------------------------------------------------------
# The functions as deployed, one after another
# -------------------------------------------------------------------------------------------------


def test_the_template_sets_no_variable_lambda_reserves(deployed):
    for fn in deployed.functions.values():
        reserved = sorted(set(fn.template_env) & stack.LAMBDA_RESERVED)
        assert not reserved, f"{fn.name} sets Lambda's own {reserved}"


def test_each_function_starts_with_the_template_environment(deployed):
    for binary, fn in deployed.functions.items():
        result = start_once(deployed.procs, deployed.stub, fn, deployed.overrides(fn), timeout=START_TIMEOUT)
        assert result.polled, f"{binary} did not start (exit {result.returncode}): {result.errors()}"
        assert not result.errors(), f"{binary} logged errors at start-up: {result.errors()}"


def test_ingest_writes_the_report(deployed, tmp_path):
    sample = _sample("ingest-sqs-s3-notification.json")
    announced = _s3_record(sample["Records"][0])
    bucket = announced["s3"]["bucket"]["name"]
    assert bucket == deployed.ref(deployed.only("AWS::S3::Bucket", "Uploads")), "the sample names the uploads bucket"
    key = urllib.parse.unquote_plus(announced["s3"]["object"]["key"])
    body = COHORT.read_bytes()
    put = deployed.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    # The sample as S3 and SQS deliver it for this upload; its second record, S3's test event,
    # is as in the sample.
    sample["Records"][0] = _announce(sample["Records"][0], put, len(body))
    response = deployed.invoke("ingest", _write(tmp_path / "ingest.json", sample))
    assert response == {"batchItemFailures": []}

    team, file_name = key.split("/")[0], key.rsplit("/", 1)[1]
    report = _report(deployed, bucket, f"{team}/reports/{file_name}.report.json")
    assert report["status"] == "imported", (report["file_errors"], [e.get("code") for e in report["errors"]])
    assert report["kind"] == "cohort"
    assert report["rows"] == report["rows_valid"] == len(body.decode().strip().splitlines()) - 1

    # The campaign the other samples name, uploaded and announced the same way. Ingest checks
    # each template it names against the team's Notify service (the simulator) first.
    report = _upload(deployed, tmp_path, f"{team}/campaigns/{CAMPAIGN.name}", CAMPAIGN.read_bytes())
    assert report["status"] == "imported", (report["file_errors"], _codes(report["errors"]))
    # The check ran against the simulator: the texts' cost (`text_cost`) is reported only once
    # each text has been previewed there; and nothing about the templates needed a warning.
    assert "text_cost" in [w["code"] for w in report["warnings"]], _codes(report["warnings"])
    template_warnings = [c for c in _codes(report["warnings"]) if str(c[0]).startswith("templates.")]
    assert not template_warnings, template_warnings


def test_a_campaign_naming_a_template_the_service_lacks_is_rejected(deployed, tmp_path):
    """A campaign whose consent reminder text names a template the team's Notify service does
    not have: ingest (the real bootstrap, against the simulator) rejects it with a report naming
    the template's place in the campaign, and saves nothing of it."""
    campaign = json.loads(CAMPAIGN.read_text())
    campaign["id"] = "hpv-2026-autumn-unknown-template"
    missing = str(uuid.uuid4())
    campaign["templates"]["consent_reminder"]["sms"] = missing
    sample, _ = _ingest_sample()
    team = urllib.parse.unquote_plus(_s3_record(sample["Records"][0])["s3"]["object"]["key"]).split("/")[0]
    report = _upload(
        deployed, tmp_path, f"{team}/campaigns/{campaign['id']}.json", json.dumps(campaign, indent=2).encode()
    )
    assert report["status"] == "rejected", (report["file_errors"], _codes(report["errors"]))
    assert report["rows_valid"] == 0
    assert _codes(report["errors"]) == [("templates.consent_reminder.sms", "template_not_found")], report["errors"]
    assert missing in report["errors"][0]["message"]
    # Nothing saved: the team has the campaign imported before (its item as the store keys it,
    # shared/src/store/keys.rs campaign_pk), and not this one.
    table = deployed.functions["ingest"].template_env["TABLE_NAME"]

    def stored(campaign_id: str) -> bool:
        key = {"pk": {"S": f"T#{team}#CAMPAIGN"}, "sk": {"S": campaign_id}}
        return "Item" in deployed.client("dynamodb").get_item(TableName=table, Key=key)

    assert stored(json.loads(CAMPAIGN.read_text())["id"]), "the imported campaign is not where the store keeps campaigns"
    assert not stored(campaign["id"]), "the rejected campaign was saved"


def _queue(d: Deployed, named: str) -> tuple[str, str]:
    logical = d.only("AWS::SQS::Queue", named)
    return d.ref(logical), d.stack.getatt(logical, "Arn")


def _visible(d: Deployed, url: str) -> int:
    attributes = d.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_reminders_queues_the_days_jobs(deployed):
    send_url, _ = _queue(deployed, "SendQueue")
    assert send_url == deployed.functions["reminders"].template_env["SEND_QUEUE_URL"]
    before = _visible(deployed, send_url)
    response = deployed.invoke("reminders", EVENTS / "reminders-manual.json")
    sample = _sample("reminders-manual.json")
    (run,) = response["campaigns"]
    assert (run["team"], run["campaign_id"], run["date"]) == (sample["team"], sample["campaign_id"], sample["date"])
    queued = sum(o["queued"] for o in run["occasions"])
    assert run["children"] > 0 and queued > 0, run
    assert [o["purpose"] for o in run["occasions"]] == ["consent_request"]
    assert _visible(deployed, send_url) - before == queued


def test_the_dispatcher_sample_runs(deployed):
    # Jobs for children this stack does not hold: handled (nothing to send), not failed.
    response = deployed.invoke("dispatcher", EVENTS / "dispatcher-sqs-send-jobs.json")
    assert response == {"batchItemFailures": []}


def test_the_dispatcher_sends_the_queued_jobs_to_the_simulator(deployed, tmp_path):
    send_url, send_arn = _queue(deployed, "SendQueue")
    sqs = deployed.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=send_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=600, WaitTimeSeconds=1
    )["Messages"]
    assert messages, "the reminders run queued nothing"
    # As the event-source mapping delivers a batch (the sample's shape), and deletes what the
    # function did not report failed.
    event = {"Records": sqs_records(messages, send_arn)}
    response = deployed.invoke("dispatcher", _write(tmp_path / "dispatcher.json", event))
    assert response == {"batchItemFailures": []}
    for m in messages:
        sqs.delete_message(QueueUrl=send_url, ReceiptHandle=m["ReceiptHandle"])

    notifications = http_json(f"{deployed.sim}/_sim/notifications")
    assert notifications, "the simulator received nothing"
    # Each send was checked against its template (the simulator refuses one it does not have,
    # of the wrong kind or missing a placeholder's value) and sent as the template, filled in.
    templates = {t["id"]: t for t in _campaign_templates(json.loads(CAMPAIGN.read_text()))}
    for n in notifications:
        assert n["template_id"] in templates, f"notification {n['id']} names a template the campaign does not"
        assert n["notification_type"] == templates[n["template_id"]]["type"]
        assert "((" not in n["body"], f"notification {n['id']} has a placeholder left unfilled"
    children = {json.loads(m["Body"])["child_id"] for m in messages}
    table = deployed.functions["dispatcher"].template_env["TABLE_NAME"]
    for n in notifications:
        item = deployed.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": f"T#RYG-sais#M#{n['reference']}"}, "sk": {"S": "MSG"}}
        ).get("Item")
        assert item, f"notification {n['id']} has no message record"
        assert item["child_id"]["S"] in children


def test_the_webhook_records_the_simulators_signed_receipts(deployed):
    """Notify (the simulator) posts each delivery receipt with the callback token to the
    webhook's Function URL; the webhook answers 200 and records the status."""
    # Notify sends no receipt for a letter, nor for its smoke-test numbers and addresses (the
    # demo cohort has parents on 07700 900000 and 900111): those never reach the webhook.
    sent = http_json(f"{deployed.sim}/_sim/notifications")
    notifications = [n for n in sent if n["notification_type"] != "letter" and not n["simulated"]]
    assert notifications, "nothing was sent by email or text"
    ids = {n["id"] for n in notifications}
    deadline = time.monotonic() + 60
    while True:
        attempts = [a for a in http_json(f"{deployed.sim}/_sim/callbacks") if a["id"] in ids]
        if {a["id"] for a in attempts} == ids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {a["id"] for a in attempts} == ids, f"{len(ids - {a['id'] for a in attempts})} receipts were not sent"
    assert {a["status_code"] for a in attempts} == {200}, [(a["status_code"], a["error"]) for a in attempts]

    table = deployed.functions["webhook"].template_env["TABLE_NAME"]
    final = {n["id"]: n for n in http_json(f"{deployed.sim}/_sim/notifications")}
    for notification_id in ids:
        n = final[notification_id]
        item = deployed.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": f"T#RYG-sais#M#{n['reference']}"}, "sk": {"S": "MSG"}}
        )["Item"]
        assert item["status"]["S"] == n["status"], (notification_id, item["status"]["S"], n["status"])


def test_the_webhook_answers_the_receipt_sample_200_with_the_token(deployed, tmp_path):
    event = _sample("webhook-delivery-receipt.json")
    event["headers"]["authorization"] = f"Bearer {deployed.callback_token}"
    response = deployed.invoke("webhook", _write(tmp_path / "receipt.json", event))
    assert response["statusCode"] == 200, response.get("body")


def test_the_webhook_answers_a_bad_token_403(deployed, tmp_path):
    event = _sample("webhook-delivery-receipt.json")
    event["headers"]["authorization"] = "Bearer not-the-callback-token"
    response = deployed.invoke("webhook", _write(tmp_path / "receipt-bad-token.json", event))
    assert response["statusCode"] == 403, response.get("body")


def _receipt_for(team: str, token: str) -> dict:
    """The receipt sample, posted to `team`'s path with `token`."""
    event = _sample("webhook-delivery-receipt.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/notify/{team}"
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_a_team_with_its_own_callback_token_is_held_to_it(deployed, tmp_path):
    """A team.json naming the team's own callback-token secret (created by the operator under
    TEAM_SECRET_PREFIX/<team>/): ingest takes it, and the webhook then accepts on /notify/<team>
    that token (200) and no longer the deployment's (403). A team.json naming a secret outside
    the team's folder is rejected first, and changes nothing."""
    team = OWN_TOKEN_TEAM
    prefix = deployed.functions["ingest"].template_env["TEAM_SECRET_PREFIX"]
    assert prefix == deployed.functions["webhook"].template_env["TEAM_SECRET_PREFIX"]
    secret_name = f"{prefix}{team}/notify-callback-token"
    token = uuid.uuid4().hex + uuid.uuid4().hex
    deployed.client("secretsmanager").create_secret(Name=secret_name, SecretString=token)
    settings = {"name": "ABC SAIS team", "retention": {"uploads_days": 30}, "letters": True}

    # Another team's folder: refused at upload, nothing stored.
    outside = {**settings, "callback_token_secret": f"{prefix}RYG-sais/notify-callback-token"}
    report = _upload(deployed, tmp_path, f"{team}/team.json", json.dumps(outside).encode())
    assert report["status"] == "rejected", _codes(report["errors"])
    assert _codes(report["errors"]) == [("callback_token_secret", "secret_outside_team")], report["errors"]

    own = {**settings, "callback_token_secret": secret_name}
    report = _upload(deployed, tmp_path, f"{team}/team.json", json.dumps(own).encode())
    assert report["status"] == "imported", (report["file_errors"], _codes(report["errors"]))

    accepted = deployed.invoke("webhook", _write(tmp_path / "receipt-own-token.json", _receipt_for(team, token)))
    assert accepted["statusCode"] == 200, accepted.get("body")
    refused = deployed.invoke(
        "webhook", _write(tmp_path / "receipt-default-token.json", _receipt_for(team, deployed.callback_token))
    )
    assert refused["statusCode"] == 403, refused.get("body")
    # The team's token is good on its own path only.
    other = deployed.invoke("webhook", _write(tmp_path / "receipt-other-team.json", _receipt_for("RYG-sais", token)))
    assert other["statusCode"] == 403, other.get("body")


# -------------------------------------------------------------------------------------------------
# Start-up without what the template provides
# -------------------------------------------------------------------------------------------------


def _failed_naming(result: stack.StartResult, *names: str) -> None:
    assert not result.polled, f"started without {names}"
    assert result.returncode not in (None, 0), f"exit status {result.returncode}"
    assert result.seconds < START_TIMEOUT
    errors = result.errors()
    assert len(errors) == 1, f"expected one ERROR line, got {errors or result.output[-1500:]}"
    for name in names:
        assert name in errors[0], f"the error does not name {name}: {errors[0]}"


@pytest.mark.parametrize(
    "binary,variable",
    [(b, v) for b in sorted(VARIABLES) for v in VARIABLES[b]],
)
def test_a_missing_variable_stops_start_up_naming_it(deployed, binary, variable):
    """Every variable the function's own Environment sets is one it needs: without it, it stops
    at start-up with one log line naming it, unless it is one with a default
    (OPTIONAL_WITH_DEFAULT), without which it starts normally. A Globals variable the function
    does not read leaves it starting normally; one it reads behaves as its own."""
    fn = deployed.functions[binary]
    result = start_once(deployed.procs, deployed.stub, fn, deployed.overrides(fn), remove=(variable,),
                        timeout=START_TIMEOUT)
    if variable in OPTIONAL_WITH_DEFAULT:
        assert result.polled, (
            f"{binary} did not start without {variable}, which defaults to {OPTIONAL_WITH_DEFAULT[variable]}: "
            f"{result.errors() or result.output[-1500:]}"
        )
    if result.polled:
        assert variable not in fn.own_variables or variable in OPTIONAL_WITH_DEFAULT, (
            f"{binary} started without its own {variable}"
        )
        assert not result.errors(), result.errors()
        return
    _failed_naming(result, variable)


@pytest.mark.parametrize("binary", FUNCTIONS)
def test_no_region_stops_start_up_naming_it(deployed, binary):
    # AWS_REGION is Lambda's, not the template's: the SDK configuration must not guess one.
    fn = deployed.functions[binary]
    result = start_once(deployed.procs, deployed.stub, fn, deployed.overrides(fn), remove=("AWS_REGION",),
                        timeout=START_TIMEOUT)
    _failed_naming(result, "AWS_REGION")


@pytest.mark.parametrize("binary,variable", _secret_variables())
def test_a_missing_secret_stops_start_up_naming_it(deployed, binary, variable):
    """The secret deleted (pending deletion, as `aws secretsmanager delete-secret` leaves it):
    the function stops at start-up naming the secret and the variable."""
    fn = deployed.functions[binary]
    _, arn = deployed.secret_for(binary, variable)
    sm = deployed.client("secretsmanager")
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    try:
        result = start_once(deployed.procs, deployed.stub, fn, deployed.overrides(fn), timeout=START_TIMEOUT)
    finally:
        sm.restore_secret(SecretId=arn)
    _failed_naming(result, arn, variable)


@pytest.mark.parametrize(
    "binary,variable",
    [
        (b, v)
        for b, v in _secret_variables()
        if _is_placeholder(TEMPLATE["Resources"][VARIABLES[b][v]["Ref"]]["Properties"].get("SecretString"))
    ],
)
def test_the_placeholder_api_key_stops_start_up_naming_its_secret(deployed, binary, variable):
    """Deployed but not yet given the Notify key (the template's placeholder still in the
    secret): the function stops at start-up naming the secret, not the value."""
    fn = deployed.functions[binary]
    logical, arn = deployed.secret_for(binary, variable)
    placeholder = TEMPLATE["Resources"][logical]["Properties"]["SecretString"]
    sm = deployed.client("secretsmanager")
    sm.put_secret_value(SecretId=arn, SecretString=placeholder)
    try:
        result = start_once(deployed.procs, deployed.stub, fn, deployed.overrides(fn), timeout=START_TIMEOUT)
    finally:
        sm.put_secret_value(SecretId=arn, SecretString=deployed.stack.secret_values[logical])
    _failed_naming(result, arn, variable)
    assert placeholder not in result.output
