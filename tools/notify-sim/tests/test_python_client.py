"""GOV.UK Notify's official Python client (notifications-python-client) against the simulator binary.

If the real client can send, read back and list notifications, and sees Notify's errors as it
would from Notify, the simulator speaks the same API as the real service.

Run: cargo build -p notify-sim && NOTIFY_SIM_BIN=target/debug/notify-sim .venv/bin/pytest -q tools/notify-sim/tests
"""

import os
import pathlib
import subprocess
import time
import uuid

import pytest
import requests
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
SIM_BIN = os.environ.get("NOTIFY_SIM_BIN", str(REPO_ROOT / "target" / "debug" / "notify-sim"))
READY_PREFIX = "notify-sim listening on "


class Simulator:
    """A notify-sim process with its own API key, stopped on exit."""

    def __init__(self, *extra_args):
        if not os.access(SIM_BIN, os.X_OK):
            pytest.fail(f"simulator binary not found at {SIM_BIN}: build it or set NOTIFY_SIM_BIN")
        self.service_id = uuid.uuid4()
        self.secret = uuid.uuid4()
        self.api_key = f"pytest_key-{self.service_id}-{self.secret}"
        self.process = subprocess.Popen(
            [SIM_BIN, "--listen", "127.0.0.1:0", "--api-key", self.api_key, "--callback-delay-ms", "100", *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # The first stdout line announces the bound port; a failed start closes stdout instead.
        line = self.process.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self.stop()
            pytest.fail(f"simulator did not start (first line: {line!r})")
        self.base_url = line[len(READY_PREFIX) :].strip()

    def client(self, api_key=None):
        return NotificationsAPIClient(api_key or self.api_key, base_url=self.base_url)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def sim():
    simulator = Simulator()
    yield simulator
    simulator.stop()


def template_id():
    return str(uuid.uuid4())


def wait_for_status(client, notification_id, wanted, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        notification = client.get_notification_by_id(notification_id)
        if notification["status"] == wanted or time.monotonic() > deadline:
            return notification
        time.sleep(0.05)


def test_the_official_client_sends_an_email_a_text_and_a_letter(sim):
    client = sim.client()
    email = client.send_email_notification(
        email_address="parent@example.com",
        template_id=template_id(),
        personalisation={"child_name": "Sam"},
        reference="email-1",
    )
    sms = client.send_sms_notification(phone_number="07700 900123", template_id=template_id(), reference="sms-1")
    letter = client.send_letter_notification(
        template_id=template_id(),
        personalisation={"address_line_1": "The Occupier", "address_line_2": "1 High Street", "postcode": "SW1A 1AA"},
        reference="letter-1",
    )

    assert set(email) == {"id", "reference", "uri", "template", "content", "scheduled_for"}
    assert email["reference"] == "email-1"
    assert email["content"]["body"] == "child_name: Sam"
    assert set(email["content"]) == {"body", "subject", "from_email", "one_click_unsubscribe_url"}
    assert set(sms["content"]) == {"body", "from_number"}
    assert set(letter["content"]) == {"body", "subject"}
    assert email["uri"] == f"{sim.base_url}/v2/notifications/{email['id']}"
    assert len({email["id"], sms["id"], letter["id"]}) == 3


def test_get_notification_by_id_returns_the_status_as_it_changes(sim):
    client = sim.client()
    sent = client.send_sms_notification(phone_number="+447700900002", template_id=template_id())

    notification = wait_for_status(client, sent["id"], "permanent-failure")

    assert notification["id"] == sent["id"]
    assert notification["type"] == "sms"
    assert notification["status"] == "permanent-failure"
    assert notification["phone_number"] == "+447700900002"
    assert notification["completed_at"] is not None


def test_get_all_notifications_finds_a_notification_by_reference(sim):
    client = sim.client()
    wanted = client.send_email_notification(
        email_address="parent@example.com", template_id=template_id(), reference="child-42-consent"
    )
    client.send_email_notification(email_address="other@example.com", template_id=template_id(), reference="other")

    result = client.get_all_notifications(reference="child-42-consent")

    assert [n["id"] for n in result["notifications"]] == [wanted["id"]]
    assert result["links"]["current"].endswith("/v2/notifications?reference=child-42-consent")
    # The client's iterator follows links.next until an empty page.
    assert [n["id"] for n in client.get_all_notifications_iterator(reference="child-42-consent")] == [wanted["id"]]


def test_a_client_with_the_wrong_secret_gets_auth_error(sim):
    wrong_key = f"pytest_key-{sim.service_id}-{uuid.uuid4()}"

    with pytest.raises(HTTPError) as raised:
        sim.client(wrong_key).send_sms_notification(phone_number="07700900123", template_id=template_id())

    assert raised.value.status_code == 403
    assert raised.value.message[0]["error"] == "AuthError"
    assert raised.value.message[0]["message"] == "Invalid token: API key not found"


def test_a_bad_phone_number_is_a_validation_error(sim):
    with pytest.raises(HTTPError) as raised:
        sim.client().send_sms_notification(phone_number="08515111111", template_id=template_id())

    assert raised.value.status_code == 400
    assert raised.value.message == [{"error": "ValidationError", "message": "phone_number Not a UK mobile number"}]


def test_a_two_line_address_is_a_validation_error(sim):
    with pytest.raises(HTTPError) as raised:
        sim.client().send_letter_notification(
            template_id=template_id(),
            personalisation={"address_line_1": "The Occupier", "postcode": "SW1A 1AA"},
        )

    assert raised.value.status_code == 400
    assert raised.value.message == [{"error": "ValidationError", "message": "Address must be at least 3 lines"}]


def test_rate_limit_error_once_the_bucket_is_empty():
    # 30 per minute: a bucket of min(ceil(30/3)+1, 1000) = 11 tokens, refilled at 0.5 per second.
    # Notify refuses once fewer than one token would remain, so a full bucket admits 10 sends.
    simulator = Simulator("--rate-limit-per-min", "30")
    try:
        client = simulator.client()
        accepted = 0
        with pytest.raises(HTTPError) as raised:
            for _ in range(15):
                client.send_sms_notification(phone_number="07700900123", template_id=template_id())
                accepted += 1
    finally:
        simulator.stop()

    assert accepted == 10
    assert raised.value.status_code == 429
    assert raised.value.message == [
        {"error": "RateLimitError", "message": "Exceeded rate limit for key type LIVE of 30 requests per 60 seconds"}
    ]


def test_injected_faults_reach_the_client_as_notify_errors(sim):
    def fault(**body):
        response = requests.post(f"{sim.base_url}/_sim/faults", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    client = sim.client()
    assert fault(mode="error_429", count=2) == {"queued": 2, "windows_active": 0}
    for _ in range(2):
        with pytest.raises(HTTPError) as raised:
            client.send_sms_notification(phone_number="07700900123", template_id=template_id(), reference="burst")
        assert raised.value.status_code == 429
        assert raised.value.message == [
            {"error": "RateLimitError", "message": "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}
        ]

    fault(mode="error_500", on="get")
    sent = client.send_sms_notification(phone_number="07700900123", template_id=template_id(), reference="burst")
    with pytest.raises(HTTPError) as raised:
        client.get_all_notifications(reference="burst")
    assert raised.value.status_code == 500
    found = client.get_all_notifications(reference="burst")["notifications"]
    assert [n["id"] for n in found] == [sent["id"]]

    stats = requests.get(f"{sim.base_url}/_sim/stats", timeout=5).json()["faults"]
    assert stats["fired_by_mode"]["error_429"] == 2
    assert stats["fired_by_mode"]["error_500"] == 1


def make_template(sim, service_id=None, **template):
    params = {"service_id": str(service_id)} if service_id else None
    response = requests.post(f"{sim.base_url}/_sim/templates", params=params, json=template, timeout=5)
    response.raise_for_status()
    return response.json()


def test_the_official_client_reads_and_previews_a_template(sim):
    client = sim.client()
    email_id = template_id()
    make_template(
        sim,
        id=email_id,
        type="email",
        name="Consent reminder",
        subject="Vaccination for ((child name))",
        body="Dear ((parent name)),\n\n((child name)) is due a vaccination.",
        version=2,
    )

    template = client.get_template(email_id)
    assert template["id"] == email_id
    assert template["type"] == "email"
    assert template["version"] == 2
    assert template["subject"] == "Vaccination for ((child name))"
    assert template["personalisation"] == {"child name": {"required": True}, "parent name": {"required": True}}
    assert client.get_template_version(email_id, 2)["version"] == 2
    assert [t["id"] for t in client.get_all_templates(template_type="email")["templates"]] == [email_id]

    preview = client.post_template_preview(email_id, personalisation={"Parent_Name": "Alex", "CHILD NAME": "Sam"})
    assert preview["body"] == "Dear Alex,\n\nSam is due a vaccination."
    assert preview["subject"] == "Vaccination for Sam"
    assert preview["version"] == 2
    assert preview["html"].startswith("<p")

    with pytest.raises(HTTPError) as raised:
        client.post_template_preview(email_id, personalisation={"parent name": "Alex"})
    assert raised.value.status_code == 400
    assert raised.value.message == [{"error": "BadRequestError", "message": "Missing personalisation: child name"}]

    with pytest.raises(HTTPError) as raised:
        client.get_template(template_id())
    assert raised.value.status_code == 404
    assert raised.value.message == [{"error": "NoResultFound", "message": "No result found"}]


def test_sends_are_checked_against_the_services_templates(sim):
    client = sim.client()
    sms_id = template_id()
    make_template(sim, id=sms_id, type="sms", name="Reminder", body="((child name)) is due on ((date)).")

    sent = client.send_sms_notification(
        phone_number="07700900123", template_id=sms_id, personalisation={"child_name": "Sam", "date": "1 May"}
    )
    assert sent["content"]["body"] == "Sam is due on 1 May."

    for send, message in [
        (lambda: client.send_sms_notification(phone_number="07700900123", template_id=template_id()), "Template not found"),
        (
            lambda: client.send_email_notification(email_address="parent@example.com", template_id=sms_id),
            "sms template is not suitable for email notification",
        ),
    ]:
        with pytest.raises(HTTPError) as raised:
            send()
        assert raised.value.status_code == 400
        assert raised.value.message == [{"error": "BadRequestError", "message": message}]


def test_a_second_service_from_the_command_line_has_its_own_notifications_and_limit():
    other_service = uuid.uuid4()
    other_key = f"other_key-{other_service}-{uuid.uuid4()}"
    simulator = Simulator("--service", f"{other_key},rate=30")
    try:
        default, other = simulator.client(), simulator.client(other_key)
        sent = other.send_sms_notification(phone_number="07700900123", template_id=template_id(), reference="other")
        assert other.get_notification_by_id(sent["id"])["id"] == sent["id"]
        with pytest.raises(HTTPError) as raised:
            default.get_notification_by_id(sent["id"])
        assert raised.value.status_code == 404

        services = requests.get(f"{simulator.base_url}/_sim/services", timeout=5).json()["services"]
        assert [s["service_id"] for s in services] == [str(simulator.service_id), str(other_service)]
        assert services[1]["rate_limit_per_min"] == 30
    finally:
        simulator.stop()
