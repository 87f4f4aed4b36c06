"""The uploader managed policies of infra/template.yaml, evaluated by moto's IAM enforcement.

The template gives each team in `Teams` (up to ten) a managed policy, `UploaderPolicy<N>` for
the N-th code, that the team's staff roles attach. This file renders those policies from the
template itself (read with cfn-lint's decoder; `!Sub`, `!Ref`, `!GetAtt`, `!Select`, `!Split`
and the `HasTeam<N>` conditions resolved for concrete values: bucket
`sais-uploads-123456789012-eu-west-2`, region eu-west-2, account 123456789012), and then lets
someone else's policy engine decide: it starts its own moto server with IAM enforcement,
creates the bucket, attaches the rendered policies of teams A and B to one IAM user each, and
makes real S3 calls with those users' access keys through boto3.

What moto's IAM enforcement evaluates (moto 5.2.5, `moto/iam/access_control.py` and
`moto/core/authorization.py`, read before relying on it): the caller's identity policies,
Allow/Deny by `Action` and by `Resource`, both with `*` wildcards, against the ARN of the
object (`arn:aws:s3:::<bucket>/<key>`) or the bucket that each S3 call names. That is what
keeps a team inside its own folders, and it is what the moto tests below assert.

What it does not evaluate, so is not asserted through moto:

- **Conditions.** moto checks only `StringEquals`, and only against values a caller passes
  for role trust policies; for an S3 call every condition counts as met. So the `s3:prefix`
  condition that limits `s3:ListBucket` to `<team>/reports/` is not evaluated (in moto a team
  may list any prefix), and neither are `kms:ViaService` and
  `kms:EncryptionContext:aws:s3:arn` on the data key.
  `test_no_uploader_statement_is_broader_than_a_team_and_the_conditions_say_what_moto_cannot_check`
  checks what those conditions say instead, on the rendered policy (structure, not evaluation).
- **KMS.** moto's S3 does not call KMS on the caller's behalf when the bucket uses SSE-KMS,
  so the data-key statement is never exercised.
- **The bucket policy.** moto applies a bucket policy's Deny but ignores its condition, so the
  template's `DenyInsecureTransport` (a Deny conditioned on `aws:SecureTransport`) would refuse
  every call; it is not installed here.

moto's counter of unauthenticated calls (`INITIAL_NO_AUTH_ACTION_COUNT`) lets the set-up run
without credentials; once it is done, `POST /moto-api/reset-auth` with 0 makes every later
call authenticated and authorised, and a user with no policy is refused everything (asserted
first, so a pass cannot come from enforcement being off).

Why ten slots and not `Fn::ForEach`: with the `AWS::LanguageExtensions` transform, cfn-lint
and `sam validate --lint` accept a per-team `Fn::ForEach`, but aws-sam-cli 1.170.0 expands it
locally only when given `--language-extensions` (or `SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1`):
without it `sam build` fails (`'list' object has no attribute 'get'`) and `sam validate`
refuses the template (`All 'Resources' must be Objects`). The slots need neither the transform
nor the flag. They are identical but for the position they read from `Teams`;
`test_every_slot_is_the_same_policy_for_its_own_position` checks that.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from cfnlint.decode import decode

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
REGION = "eu-west-2"
ACCOUNT = "123456789012"  # moto's default account
PREFIX = "sais"
BUCKET = f"{PREFIX}-uploads-{ACCOUNT}-{REGION}"
SLOTS = 10


# ---------------------------------------------------------------------------------------------
# Rendering the template for concrete parameter values
# ---------------------------------------------------------------------------------------------


def load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    assert not matches, f"cfn-lint could not read {TEMPLATE}: {matches}"
    assert template is not None
    return template


class Renderer:
    """Resolves the intrinsic functions the uploader policies use; refuses any other."""

    def __init__(self, template: dict[str, Any], teams: str, data_key_arn: str):
        self.template = template
        self.values: dict[str, str] = {
            "Prefix": PREFIX,
            "Teams": teams,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "sais",
            "UploadsBucket": BUCKET,
            "UploadsBucket.Arn": f"arn:aws:s3:::{BUCKET}",
            "DataKey.Arn": data_key_arn,
        }
        self._conditions: dict[str, bool] = {}

    def lookup(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        resources = self.template["Resources"]
        if name in resources and resources[name]["Type"] == "AWS::IAM::ManagedPolicy":
            # Ref of a managed policy is its ARN; the name is CloudFormation's to choose.
            return f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        raise KeyError(f"no value for {name} in this test")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.render(self.template["Conditions"][name]))
        return self._conditions[name]

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.render(variables[name]))
            return self.lookup(name)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def render(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if isinstance(value, str):
            return str(value)
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.lookup(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.lookup(".".join(str(p) for p in parts))
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(str(arg[0]), dict(arg[1]))
                return self.sub(str(arg), {})
            if key == "Fn::Select":
                index, items = self.render(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.render(arg)
                return text.split(separator)
            if key == "Fn::Join":
                separator, items = self.render(arg)
                return separator.join(items)
            if key == "Fn::Equals":
                left, right = self.render(arg)
                return left == right
            if key == "Fn::Not":
                return not self.render(arg[0])
            if key == "Condition":
                return self.condition(str(arg))
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} is not rendered by this test")
        return {str(k): self.render(v) for k, v in value.items()}

    def uploader_policies(self) -> dict[str, dict[str, Any]]:
        """The uploader policies the stack creates for `teams`, by logical id, rendered."""
        out = {}
        for logical_id, resource in self.template["Resources"].items():
            if not re.fullmatch(r"UploaderPolicy\d+", logical_id):
                continue
            assert resource["Type"] == "AWS::IAM::ManagedPolicy", logical_id
            if self.condition(resource["Condition"]):
                out[logical_id] = self.render(resource["Properties"])
        return out


def team_of(properties: dict[str, Any]) -> str:
    match = re.fullmatch(rf"/{PREFIX}/uploader/([^/]+)/", properties["Path"])
    assert match, properties["Path"]
    return match.group(1)


KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"


def policies_by_team(teams: str, data_key_arn: str = KEY_ARN) -> dict[str, dict[str, Any]]:
    rendered = Renderer(load_template(), teams, data_key_arn).uploader_policies()
    return {team_of(p): p for p in rendered.values()}


# ---------------------------------------------------------------------------------------------
# The template's shape (no policy engine needed)
# ---------------------------------------------------------------------------------------------


def test_each_listed_team_gets_one_policy_and_an_empty_list_gets_none():
    assert policies_by_team("") == {}
    assert sorted(policies_by_team("A,B")) == ["A", "B"]
    assert sorted(policies_by_team("RYG-sais")) == ["RYG-sais"]
    ten = ",".join(f"team-{c}" for c in "abcdefghij")
    assert sorted(policies_by_team(ten)) == ten.split(",")


def test_the_teams_parameter_accepts_up_to_ten_team_codes_and_nothing_else():
    parameter = load_template()["Parameters"]["Teams"]
    assert parameter["Default"] == ""
    pattern = parameter["AllowedPattern"]
    longest = ",".join("T" * 64 for _ in range(10))
    ok = ["", "A", "RYG-sais", "A,B", "RYG-sais,ABC-sais", longest]
    bad = [
        ",".join(f"T{i}" for i in range(11)),  # an eleventh team would have no slot
        "A,,B",
        "A,",
        ",A",
        "A, B",
        "RYG_sais",
        "T" * 65,
        "A/B",
    ]
    for value in ok:
        assert re.fullmatch(pattern, value), value
    for value in bad:
        assert not re.fullmatch(pattern, value), value


def test_every_slot_is_the_same_policy_for_its_own_position():
    codes = [f"team-{c}" for c in "abcdefghij"]
    assert len(codes) == SLOTS
    rendered = Renderer(load_template(), ",".join(codes), KEY_ARN).uploader_policies()
    assert sorted(rendered) == sorted(f"UploaderPolicy{n}" for n in range(1, SLOTS + 1))

    def generic(properties: dict[str, Any], code: str) -> str:
        text = json.dumps(
            {"Path": properties["Path"], "PolicyDocument": properties["PolicyDocument"]},
            sort_keys=True,
        )
        return text.replace(code, "<team>")

    first = generic(rendered["UploaderPolicy1"], codes[0])
    for n in range(1, SLOTS + 1):
        assert team_of(rendered[f"UploaderPolicy{n}"]) == codes[n - 1]
        assert generic(rendered[f"UploaderPolicy{n}"], codes[n - 1]) == first, f"slot {n} differs"


def test_every_created_policy_has_an_output_exported_under_its_team():
    template = load_template()
    renderer = Renderer(template, "A,B", KEY_ARN)
    outputs = template["Outputs"]
    shown = {}
    for n in range(1, SLOTS + 1):
        output = outputs[f"UploaderPolicy{n}Arn"]
        if renderer.condition(output["Condition"]):
            assert output["Value"] == {"Ref": f"UploaderPolicy{n}"}
            shown[renderer.render(output["Export"]["Name"])] = n
    assert shown == {"sais-uploader-A": 1, "sais-uploader-B": 2}


def test_no_uploader_statement_is_broader_than_a_team_and_the_conditions_say_what_moto_cannot_check():
    policy = policies_by_team("A,B")["A"]["PolicyDocument"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    for s in statements.values():
        assert s["Effect"] == "Allow"
        assert "NotAction" not in s and "NotResource" not in s
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert all(not a.endswith("*") for a in actions), s
        assert all(r != "*" for r in resources), s
    listing = statements["ListTheTeamsReports"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["A/reports/", "A/reports/*"]}}
    data_key = statements["DataKeyOnlyThroughS3ForTheUploadsBucket"]
    assert sorted(data_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert data_key["Resource"] == KEY_ARN
    assert data_key["Condition"] == {
        "StringEquals": {
            "kms:ViaService": f"s3.{REGION}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}",
        }
    }


# ---------------------------------------------------------------------------------------------
# moto's verdict
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_server_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """A moto server of our own, stopped at the end whatever happens."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = dict(os.environ)
    # Never enforce before reset-auth below, however many set-up calls there are.
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = "1000000"
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SAIS_MOTO_ENDPOINT"):
        env.pop(name, None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            moto_server_command(port), stdout=out, stderr=subprocess.STDOUT, env=env
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited: {log.read_text()}")
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start: {log.read_text()}")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(service: str, endpoint: str, key_id: str = "setup", secret: str = "setup"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def staff(moto):
    """S3 clients of team A's staff, team B's staff and a user with no policy, once enforced."""
    kms = client("kms", moto)
    key_arn = kms.create_key(Description="data key")["KeyMetadata"]["Arn"]
    s3 = client("s3", moto)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    seeds = ["A/reports/x.json", "B/reports/x.json", "A/cohort/x.csv", "A/team.json", "B/cohort/x.csv"]
    for key in seeds:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"seed")

    iam = client("iam", moto)
    clients = {}
    for team, properties in policies_by_team("A,B", key_arn).items():
        arn = iam.create_policy(
            PolicyName=f"uploader-{team}-{uuid.uuid4().hex[:6]}",
            Path=properties["Path"],
            PolicyDocument=json.dumps(properties["PolicyDocument"]),
        )["Policy"]["Arn"]
        user = f"staff-{team}"
        iam.create_user(UserName=user)
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        clients[team] = client("s3", moto, key["AccessKeyId"], key["SecretAccessKey"])
    assert sorted(clients) == ["A", "B"]
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    clients["nobody"] = client("s3", moto, key["AccessKeyId"], key["SecretAccessKey"])

    # From here on every call is authenticated and authorised.
    answer = requests.post(f"{moto}/moto-api/reset-auth", data=b"0", timeout=5)
    assert answer.ok, answer.text
    return clients


def allowed(call) -> bool:
    """True if S3 did it; False if S3 refused it as AccessDenied; any other error fails."""
    try:
        call()
        return True
    except ClientError as e:
        code = e.response["Error"]["Code"]
        assert code in ("AccessDenied", "403"), f"not a refusal: {e}"
        return False


def put(s3, key: str) -> bool:
    return allowed(lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x"))


def get(s3, key: str) -> bool:
    return allowed(lambda: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_enforcement_is_on_a_user_without_a_policy_may_do_nothing(staff):
    nobody = staff["nobody"]
    assert not put(nobody, "A/cohort/x.csv")
    assert not get(nobody, "A/reports/x.json")
    assert not allowed(lambda: nobody.list_objects_v2(Bucket=BUCKET, Prefix="A/reports/"))


@pytest.mark.parametrize(
    "key",
    [
        "cohort/Year 8 (autumn).csv",
        "class-list/123456/Class 9X.csv",
        "responses/x.csv",
        "objections/x.csv",
        "campaigns/hpv-2026.json",
        "team.json",
    ],
)
def test_staff_upload_into_every_folder_of_their_own_team(staff, key):
    assert put(staff["A"], f"A/{key}")
    assert put(staff["B"], f"B/{key}")


@pytest.mark.parametrize(
    "key",
    [
        "cohort/x.csv",
        "class-list/123456/x.csv",
        "responses/x.csv",
        "objections/x.csv",
        "campaigns/c.json",
        "team.json",
    ],
)
def test_staff_cannot_upload_into_another_teams_folders(staff, key):
    assert not put(staff["A"], f"B/{key}")
    assert not put(staff["B"], f"A/{key}")
    # A team code that merely starts with A is another team.
    assert not put(staff["A"], f"AB/{key}")
    assert not put(staff["A"], f"A-2/{key}")


def test_staff_read_their_own_reports_and_no_one_elses(staff):
    assert get(staff["A"], "A/reports/x.json")
    assert get(staff["B"], "B/reports/x.json")
    assert not get(staff["A"], "B/reports/x.json")
    assert not get(staff["B"], "A/reports/x.json")


def test_staff_never_write_or_delete_reports(staff):
    assert not put(staff["A"], "A/reports/x.json")
    assert not put(staff["A"], "A/reports/campaigns/hpv.html")
    assert not allowed(lambda: staff["A"].delete_object(Bucket=BUCKET, Key="A/reports/x.json"))


def test_raw_uploads_and_settings_are_write_only_for_staff(staff):
    assert not get(staff["A"], "A/cohort/x.csv")
    assert not get(staff["A"], "A/team.json")
    assert not get(staff["B"], "B/cohort/x.csv")
    assert not allowed(lambda: staff["A"].delete_object(Bucket=BUCKET, Key="A/cohort/x.csv"))


def test_staff_cannot_write_outside_the_known_folders(staff):
    for key in ["A/x.csv", "A/misc/x.csv", "A/team.json.bak", "A/teams.json", "x.csv", "A"]:
        assert not put(staff["A"], key), key


def test_a_large_file_goes_up_in_parts_and_a_failed_one_can_be_aborted(staff):
    s3 = staff["A"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="A/cohort/big.csv")["UploadId"]
    part = s3.upload_part(
        Bucket=BUCKET, Key="A/cohort/big.csv", UploadId=upload, PartNumber=1, Body=b"nhs_number\n"
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="A/cohort/big.csv",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    failed = s3.create_multipart_upload(Bucket=BUCKET, Key="A/cohort/failed.csv")["UploadId"]
    assert allowed(
        lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key="A/cohort/failed.csv", UploadId=failed)
    )
    assert not allowed(lambda: s3.create_multipart_upload(Bucket=BUCKET, Key="B/cohort/big.csv"))


def test_staff_list_their_reports_folder(staff):
    # The s3:prefix condition is not evaluated by moto (see the module docstring), so only the
    # grant itself is asserted here: the bucket may be listed by each team's staff, by no one
    # else.
    assert allowed(lambda: staff["A"].list_objects_v2(Bucket=BUCKET, Prefix="A/reports/"))
    assert allowed(lambda: staff["B"].list_objects_v2(Bucket=BUCKET, Prefix="B/reports/"))
    assert not allowed(lambda: staff["nobody"].list_objects_v2(Bucket=BUCKET, Prefix="A/reports/"))
