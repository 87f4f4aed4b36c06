"""The deployed stack on this machine: infra/template.yaml read as CloudFormation would, its
resources created in moto under their physical names, and each function's shipped binary run
with the environment the template gives it.

Used by tests/startup/test_startup.py (each function starts and works as deployed) and by
scripts/cold-start.py (how long each binary takes to start). Nothing here is hand-copied from the
template: the resources' names and properties, the functions, their memory sizes and their
variables are all read from it, so a change to the template is what these tests run.

What the local stack replaces, and nothing else:
- AWS itself: moto's server (tools/sais-local/python/moto_server.py) at AWS_ENDPOINT_URL, with
  the role's credentials replaced by dummy ones (moto accepts any);
- GOV.UK Notify: the simulator (tools/notify-sim) at NOTIFY_BASE_URL, with its key put in the
  Notify API key secret, as the operator does after the first deploy;
- the Lambda service: a Runtime API emulator at AWS_LAMBDA_RUNTIME_API (cargo-lambda's, or for
  start-up timing only, RuntimeStub below).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import boto3
import cfnlint.decode

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
SAM_BUILD = REPO / ".aws-sam" / "build"
MOTO_SERVER = REPO / "tools" / "sais-local" / "python" / "moto_server.py"
VENV_BIN = REPO / ".venv" / "bin"

# The pseudo parameters of a stack in London in moto's default account.
REGION = "eu-west-2"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# The role's credentials Lambda would put in the environment: moto accepts any.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Variables Lambda sets itself; a template may not set them (Lambda rejects the function).
LAMBDA_RESERVED = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
}

NO_VALUE = object()  # AWS::NoValue


class TemplateError(Exception):
    """The template says something this local stand-in cannot reproduce."""


# -------------------------------------------------------------------------------------------------
# The template, resolved as CloudFormation resolves it
# -------------------------------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict:
    """The template with its short tags (!Ref, !Sub, …) as their long forms, via cfn-lint."""
    template, matches = cfnlint.decode.decode(str(path))
    if template is None or matches:
        raise TemplateError(f"{path} does not parse: {[str(m) for m in matches]}")
    return template


class Resolver:
    """Evaluates intrinsic functions. Parameters take their defaults; resources resolve through
    `physical` (ref(logical_id) and getatt(logical_id, attribute)), which creates them on demand."""

    def __init__(self, template: dict, physical: Any, overrides: dict[str, str] | None = None):
        self.template = template
        self.physical = physical
        self.overrides = overrides or {}

    @property
    def resources(self) -> dict:
        return self.template.get("Resources", {})

    def parameter(self, name: str) -> Any:
        spec = self.template.get("Parameters", {})[name]
        value = self.overrides.get(name, spec.get("Default"))
        if value is None:
            raise TemplateError(f"parameter {name} has no default, and the start-up test sets none")
        kind = str(spec.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return [v.strip() for v in str(value).split(",")] if str(value) else []
        # CloudFormation hands every scalar parameter over as a string (Number 30 -> "30").
        return value if isinstance(value, str) else json.dumps(value)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in ("AWS::StackName", "AWS::StackId", "AWS::NotificationARNs"):
            raise TemplateError(f"{name} has no local value")
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.resources:
            return self.physical.ref(name)
        raise TemplateError(f"Ref to {name}, which the template does not define")

    def condition(self, name: str) -> bool:
        return bool(self._condition(self.template.get("Conditions", {})[name]))

    def _condition(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Fn::Equals":
                return self._value(arg[0]) == self._value(arg[1])
            if fn == "Fn::Not":
                return not self._condition(arg[0])
            if fn == "Fn::And":
                return all(self._condition(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._condition(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
        return self._value(expr)

    def _value(self, expr: Any) -> Any:
        value = self.resolve(expr)
        return value if not isinstance(value, (int, float)) else json.dumps(value)

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self.physical.getatt(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (fn, arg), = value.items()
                if fn == "Ref":
                    return self.ref(arg)
                if fn == "Fn::Sub":
                    return self.sub(arg)
                if fn == "Fn::GetAtt":
                    logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                    return self.physical.getatt(logical, attribute)
                if fn == "Fn::Join":
                    separator, items = arg
                    return separator.join(str(v) for v in self.resolve(items))
                if fn == "Fn::If":
                    name, then, otherwise = arg
                    return self.resolve(then if self.condition(name) else otherwise)
                if fn == "Fn::Select":
                    index, items = arg
                    return self.resolve(items)[int(self.resolve(index))]
                if fn == "Fn::Split":
                    separator, text = arg
                    return str(self.resolve(text)).split(separator)
                if fn.startswith("Fn::"):
                    raise TemplateError(f"{fn} is not evaluated locally")
            out = {}
            for k, v in value.items():
                resolved = self.resolve(v)
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        return value


# -------------------------------------------------------------------------------------------------
# The resources, created in moto from the template's own properties
# -------------------------------------------------------------------------------------------------


def generate_secret_string(spec: dict) -> str:
    """A value as Secrets Manager's GenerateSecretString makes one (length and character sets)."""
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    alphabet = "".join(c for c in alphabet if c not in str(spec.get("ExcludeCharacters", "")))
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


def _condition_holds(resolver: Resolver, resource: dict) -> bool:
    return "Condition" not in resource or resolver.condition(resource["Condition"])


class LocalStack:
    """The template's data resources in moto: the table, queues, bucket and secrets, each under
    the physical name the template gives it. A resource is created the first time it is
    referenced (a DLQ before the queue whose RedrivePolicy names it), or by create_all().

    Properties with no bearing on the functions' start-up or behaviour here are not applied:
    KMS encryption (the data key is not created), point-in-time recovery, deletion protection,
    public access blocks, lifecycle rules and resource policies."""

    SUPPORTED = {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
    }

    def __init__(
        self,
        template: dict,
        endpoint: str,
        operator_secret: Callable[[str, str, str], str],
    ):
        """`operator_secret(logical_id, name, template_value)` gives the value of a secret the
        template creates with a placeholder for the operator to replace."""
        self.template = template
        self.endpoint = endpoint
        self.operator_secret = operator_secret
        self.resolver = Resolver(template, self)
        self.clients = {
            service: client(service, endpoint)
            for service in ("dynamodb", "sqs", "s3", "secretsmanager")
        }
        self.created: dict[str, dict[str, Any]] = {}
        self.secret_values: dict[str, str] = {}  # logical id -> value (never printed)
        self._creating: set[str] = set()

    # The Resolver's view of resources.
    def ref(self, logical: str) -> Any:
        resource = self.template["Resources"][logical]
        kind = resource["Type"]
        if kind in self.SUPPORTED:
            return self._ensure(logical)["Ref"]
        # Resources a function only ever sees by name: their name is all there is to resolve.
        named_by = {
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
        }
        if kind in named_by and named_by[kind] in resource.get("Properties", {}):
            return self.resolver.resolve(resource["Properties"][named_by[kind]])
        raise TemplateError(f"Ref to {logical} ({kind}), which has no local stand-in")

    def getatt(self, logical: str, attribute: str) -> Any:
        if logical not in self.template["Resources"]:
            raise TemplateError(f"GetAtt on {logical}, which the template does not define")
        kind = self.template["Resources"][logical]["Type"]
        if kind not in self.SUPPORTED:
            raise TemplateError(f"GetAtt {logical}.{attribute} ({kind}) has no local stand-in")
        attributes = self._ensure(logical)["attributes"]
        if attribute not in attributes:
            raise TemplateError(f"GetAtt {logical}.{attribute} is not available locally")
        return attributes[attribute]

    def create_all(self) -> None:
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] in self.SUPPORTED and _condition_holds(self.resolver, resource):
                self._ensure(logical)

    def logical_ids(self, kind: str) -> list[str]:
        return [k for k, r in self.template["Resources"].items() if r["Type"] == kind]

    def _ensure(self, logical: str) -> dict[str, Any]:
        if logical in self.created:
            return self.created[logical]
        if logical in self._creating:
            raise TemplateError(f"{logical} depends on itself")
        self._creating.add(logical)
        try:
            resource = self.template["Resources"][logical]
            create = {
                "AWS::DynamoDB::Table": self._table,
                "AWS::SQS::Queue": self._queue,
                "AWS::S3::Bucket": self._bucket,
                "AWS::SecretsManager::Secret": self._secret,
            }[resource["Type"]]
            self.created[logical] = create(logical, resource.get("Properties", {}))
        finally:
            self._creating.discard(logical)
        return self.created[logical]

    def _props(self, properties: dict, *names: str) -> dict:
        """The named properties, resolved (the others are never evaluated)."""
        return {n: self.resolver.resolve(properties[n]) for n in names if n in properties}

    def _table(self, logical: str, properties: dict) -> dict:
        p = self._props(
            properties,
            "TableName",
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "BillingMode",
            "ProvisionedThroughput",
            "TimeToLiveSpecification",
        )
        ttl = p.pop("TimeToLiveSpecification", None)
        ddb = self.clients["dynamodb"]
        table = ddb.create_table(**p)["TableDescription"]
        if ttl:
            ddb.update_time_to_live(
                TableName=p["TableName"],
                TimeToLiveSpecification={
                    "Enabled": bool(ttl.get("Enabled")),
                    "AttributeName": ttl["AttributeName"],
                },
            )
        return {
            "Ref": p["TableName"],
            "attributes": {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")},
        }

    def _queue(self, logical: str, properties: dict) -> dict:
        p = self._props(
            properties,
            "QueueName",
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "RedrivePolicy",
            "RedriveAllowPolicy",
            "FifoQueue",
            "ContentBasedDeduplication",
        )
        name = p.pop("QueueName", None) or logical
        attributes = {
            k: json.dumps(v) if isinstance(v, dict) else (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in p.items()
        }
        sqs = self.clients["sqs"]
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "attributes": {"Arn": arn, "QueueName": name, "QueueUrl": url}}

    def _bucket(self, logical: str, properties: dict) -> dict:
        p = self._props(properties, "BucketName", "VersioningConfiguration", "NotificationConfiguration")
        name = p["BucketName"]
        s3 = self.clients["s3"]
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(
                Bucket=name,
                VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]},
            )
        queues = p.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queues:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={
                    "QueueConfigurations": [
                        {"QueueArn": q["Queue"], "Events": [q["Event"]], **_s3_filter(q)}
                        for q in queues
                    ]
                },
            )
        return {
            "Ref": name,
            "attributes": {
                "Arn": f"arn:{PARTITION}:s3:::{name}",
                "DomainName": f"{name}.s3.{URL_SUFFIX}",
                "RegionalDomainName": f"{name}.s3.{REGION}.{URL_SUFFIX}",
            },
        }

    def _secret(self, logical: str, properties: dict) -> dict:
        p = self._props(properties, "Name", "Description", "SecretString", "GenerateSecretString")
        name = p.get("Name") or logical
        if "GenerateSecretString" in p:
            value = generate_secret_string(p["GenerateSecretString"])
        else:
            value = self.operator_secret(logical, name, p.get("SecretString", ""))
        out = self.clients["secretsmanager"].create_secret(
            Name=name, Description=p.get("Description", ""), SecretString=value
        )
        self.secret_values[logical] = value
        return {"Ref": out["ARN"], "attributes": {"Id": out["ARN"]}, "name": name}

    def secret_logical_id(self, arn: str) -> str | None:
        for logical, made in self.created.items():
            if self.template["Resources"][logical]["Type"] == "AWS::SecretsManager::Secret" and made["Ref"] == arn:
                return logical
        return None


def _s3_filter(queue_configuration: dict) -> dict:
    rules = queue_configuration.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


# -------------------------------------------------------------------------------------------------
# The functions and the environment each runs with
# -------------------------------------------------------------------------------------------------


@dataclass
class Function:
    """One AWS::Serverless::Function of the template."""

    logical_id: str
    binary: str  # Metadata.BuildProperties.Binary: the Cargo binary SAM builds
    name: str  # FunctionName
    memory_mb: int
    handler: str
    log_group: str
    log_format: str | None
    template_env: dict[str, str]  # Globals' variables merged with the function's, resolved
    own_variables: list[str]  # the names the function's own Environment sets (not Globals')

    @property
    def bootstrap(self) -> Path:
        return SAM_BUILD / self.logical_id / "bootstrap"

    def environment(self, runtime_api: str, overrides: dict[str, str]) -> dict[str, str]:
        """The process environment Lambda would give this function, locally.

        Lambda's own variables (with local values), then exactly the template's variables, then
        `overrides`: what the local stack replaces. An override may only replace a variable the
        template sets, except AWS_ENDPOINT_URL, the one variable the local stack adds."""
        for key in overrides:
            if key != "AWS_ENDPOINT_URL" and key not in self.template_env:
                raise TemplateError(f"{self.name}: the template no longer sets {key}, which the local stack replaces")
        env = {
            # What Lambda sets in every execution environment.
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **DUMMY_CREDENTIALS,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        }
        if self.log_format:
            env["AWS_LAMBDA_LOG_FORMAT"] = self.log_format
        env.update(self.template_env)
        env.update(overrides)
        return env


def functions(template: dict, resolver: Resolver) -> dict[str, Function]:
    """Every function of the template, by its binary name."""
    globals_ = template.get("Globals", {}).get("Function", {})
    out = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function" or not _condition_holds(resolver, resource):
            continue
        props = resource.get("Properties", {})
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            raise TemplateError(f"{logical} names no Metadata.BuildProperties.Binary")
        own = props.get("Environment", {}).get("Variables", {})
        variables = {**globals_.get("Environment", {}).get("Variables", {}), **own}
        env = {}
        for key, value in variables.items():
            resolved = resolver.resolve(value)
            if resolved is NO_VALUE:
                continue
            if isinstance(resolved, (dict, list)):
                raise TemplateError(f"{logical}: {key} does not resolve to a string")
            env[key] = resolved if isinstance(resolved, str) else json.dumps(resolved)
        logging = {**globals_.get("LoggingConfig", {}), **props.get("LoggingConfig", {})}
        out[binary] = Function(
            logical_id=logical,
            binary=binary,
            name=resolver.resolve(props.get("FunctionName", logical)),
            memory_mb=int(resolver.resolve(props.get("MemorySize", globals_.get("MemorySize", 128)))),
            handler=resolver.resolve(props.get("Handler", globals_.get("Handler", "bootstrap"))),
            log_group=str(resolver.resolve(logging["LogGroup"])) if "LogGroup" in logging else f"/aws/lambda/{logical}",
            log_format=logging.get("LogFormat"),
            template_env=env,
            own_variables=list(own),
        )
    return out


# -------------------------------------------------------------------------------------------------
# Processes: every one started here is stopped by stop_all(), and dies with the test run
# -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # The child gets SIGTERM if the test process dies, so nothing is left running even when
    # pytest itself is killed.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """Child processes, each in its own process group, stopped together by stop_all()."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("cwd", REPO)
        proc = subprocess.Popen(
            [str(a) for a in args], start_new_session=True, preexec_fn=_die_with_parent, **kwargs
        )
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            # The leader has gone; anything it left in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        while self.procs:
            self.stop(self.procs.pop())


def start_moto(procs: Processes, log: Path) -> str:
    """moto's server with DynamoDB's conditional writes atomic (as `make test` runs it)."""
    port = free_port()
    proc = procs.spawn(
        [sys.executable, MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc, 60, "moto_server")
    return f"http://127.0.0.1:{port}"


def start_notify_sim(
    procs: Processes,
    binary: Path,
    api_key: str,
    log: Path,
    callback_url: str | None = None,
    callback_token: str | None = None,
) -> str:
    """The Notify simulator; returns its base URL (printed on its first stdout line)."""
    args = [binary, "--api-key", api_key, "--callback-delay-ms", "300"]
    if callback_url:
        args += ["--callback-url", callback_url, "--callback-bearer-token", callback_token]
    proc = procs.spawn(args, stdout=subprocess.PIPE, stderr=log.open("wb"))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline().decode()), daemon=True)
    reader.start()
    reader.join(30)
    match = re.search(r"listening on (\S+)", lines[0]) if lines else None
    if not match:
        raise RuntimeError(f"notify-sim did not start (exit {proc.poll()}); see {log}")
    return match.group(1).rstrip("/")


class CargoLambda:
    """cargo-lambda's Lambda emulator (`cargo lambda watch --only-lambda-apis`): it serves the
    Runtime API the functions poll and the invoke API (and Function URLs) it is called on; the
    functions are the shipped binaries, started by us with their own environment."""

    def __init__(self, procs: Processes, binaries: list[str], workdir: Path, log: Path):
        self.exe = VENV_BIN / "cargo-lambda"
        if not self.exe.exists():
            raise RuntimeError(f"{self.exe} is missing: run `make venv`")
        # The emulator takes the functions it serves from a Cargo manifest's binaries (an
        # invocation of any other name is refused). A manifest naming the template's binaries,
        # and nothing else, so that it never reads or locks the workspace being tested.
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "main.rs").write_text("fn main() {}\n")
        bins = "".join(f'[[bin]]\nname = "{b}"\npath = "main.rs"\n\n' for b in binaries)
        (workdir / "Cargo.toml").write_text(
            '[package]\nname = "lambda-emulator"\nversion = "0.0.0"\nedition = "2021"\n'
            f"publish = false\n\n{bins}[workspace]\n"
        )
        self.workdir = workdir
        self.port = free_port()
        self.log = log
        self.proc = procs.spawn(
            [self.exe, "lambda", "watch", "--only-lambda-apis", "--manifest-path", workdir / "Cargo.toml",
             "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port)],
            cwd=workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "NO_COLOR": "1"},
        )
        wait_for_port(self.port, self.proc, 120, "cargo lambda watch")

    def runtime_api(self, function: str) -> str:
        # As `watch --only-lambda-apis` says to set it, with the function's name in the path
        # (its router serves /.rt/<function>/2018-06-01/runtime/…).
        return f"http://127.0.0.1:{self.port}/.rt/{function}"

    def function_url(self, function: str) -> str:
        return f"http://127.0.0.1:{self.port}/lambda-url/{function}"

    def invoke(self, function: str, data_file: Path, running: subprocess.Popen, log: Path,
               timeout: float = 120) -> Any:
        """`cargo lambda invoke <function> --data-file …`; the function's JSON response. Fails at
        once, with the function's log, if the function's process ends meanwhile."""
        proc = subprocess.Popen(
            [self.exe, "lambda", "invoke", function, "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.port), "--data-file", data_file, "--output-format", "json"],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"}, start_new_session=True, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if running.poll() is not None:
                    raise AssertionError(
                        f"{function} exited ({running.returncode}) during the invocation:\n{tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"cargo lambda invoke {function} took over {timeout} s:\n{tail(log)}")
                time.sleep(0.05)
            out, err = proc.communicate()
        finally:
            Processes.stop(proc, grace=1)
        if proc.returncode != 0:
            raise AssertionError(
                f"cargo lambda invoke {function} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}\n"
                f"{function}'s log:\n{tail(log)}"
            )
        return json.loads(out)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -------------------------------------------------------------------------------------------------
# A stand-in Runtime API that only notes when each process first asks for an invocation
# -------------------------------------------------------------------------------------------------


class RuntimeStub:
    """An HTTP server answering nothing but noting, per path prefix, when the first
    `GET …/2018-06-01/runtime/invocation/next` arrives: the moment a function's start-up is done
    and it waits for work. Used for start-up checks and timing only; the polling request is held
    open, as Lambda holds it until an invocation comes (or the process is stopped)."""

    NEXT = "/2018-06-01/runtime/invocation/next"

    def __init__(self) -> None:
        self.first_poll: dict[str, float] = {}
        self.events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.endswith(stub.NEXT):
                    prefix = self.path[: -len(stub.NEXT)].strip("/")
                    now = time.monotonic()
                    with stub._lock:
                        stub.first_poll.setdefault(prefix, now)
                        stub.events.setdefault(prefix, threading.Event()).set()
                    stub._stopping.wait(60)
                self.send_response(404)
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a held poll whose process was stopped: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def runtime_api(self, prefix: str) -> str:
        # As cargo-lambda's emulator gives it (scheme, host, port and a path prefix).
        return f"http://127.0.0.1:{self.port}/{prefix}"

    def event(self, prefix: str) -> threading.Event:
        with self._lock:
            return self.events.setdefault(prefix, threading.Event())

    def close(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class StartResult:
    """How one start of a bootstrap ended: it reached the Runtime API (`polled`), or it exited."""

    polled: bool
    seconds: float
    returncode: int | None
    output: str
    log_lines: list[dict] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [
            str(line.get("fields", {}).get("error", ""))
            for line in self.log_lines
            if line.get("level") == "ERROR"
        ]


def start_once(
    procs: Processes,
    stub: RuntimeStub,
    function: Function,
    overrides: dict[str, str],
    remove: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> StartResult:
    """Runs the function's bootstrap once against `stub` until it first polls for an invocation
    (then stops it) or exits; `remove` names variables to leave out."""
    prefix = f"{function.binary}-{secrets.token_hex(6)}"
    env = function.environment(stub.runtime_api(prefix), overrides)
    for name in remove:
        env.pop(name, None)
    polled = stub.event(prefix)
    started = time.monotonic()
    proc = procs.spawn([function.bootstrap], env=env, cwd=function.bootstrap.parent,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if polled.wait(0.002):
            break
        if proc.poll() is not None:
            break
    seconds = (stub.first_poll[prefix] if polled.is_set() else time.monotonic()) - started
    if proc.poll() is None and not polled.is_set():
        Processes.stop(proc)
        procs.procs.remove(proc)
        raise AssertionError(f"{function.name} neither polled the Runtime API nor exited within {timeout} s")
    Processes.stop(proc)
    procs.procs.remove(proc)
    reader.join(5)
    text = b"".join(output).decode(errors="replace")
    lines = []
    for raw in text.splitlines():
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw)
            if isinstance(parsed, dict):
                lines.append(parsed)
    return StartResult(
        polled=polled.is_set(),
        seconds=seconds,
        returncode=None if polled.is_set() else proc.returncode,
        output=text,
        log_lines=lines,
    )


# -------------------------------------------------------------------------------------------------
# Events the way AWS delivers them
# -------------------------------------------------------------------------------------------------


def s3_event_key(key: str) -> str:
    """An object key as S3 writes it in event notifications (`+` for space, %XX escapes)."""
    return urllib.parse.quote_plus(key, safe="/")


def sqs_records(messages: list[dict], queue_arn: str) -> list[dict]:
    """Messages received from a queue as the SQS event-source mapping hands them to Lambda."""
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {
                k: m.get("Attributes", {}).get(k, "")
                for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
            },
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        for m in messages
    ]


def http_json(url: str, payload: Any | None = None, timeout: float = 10) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
