//! The sample events in `events/` are what AWS really delivers: each one parses with the
//! official Lambda event types, and the fields the functions rely on are where they expect.

use std::collections::BTreeSet;
use std::path::PathBuf;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_http::http::Method;
use serde_json::{Value, json};

/// Every top-level file in `events/` that a test below parses. A new sample event must be
/// added here together with a test that parses it.
const PARSED_EVENTS: &[&str] = &[
    "dispatcher-sqs-send-jobs.json",
    "ingest-sqs-class-list.json",
    "ingest-sqs-s3-notification.json",
    "reminders-hourly.json",
    "reminders-manual.json",
    "reminders-scheduled.json",
    "webhook-delivery-receipt.json",
    "webhook-inbound-sms.json",
    "webhook-sms-delivered.json",
];

const CALLBACK_AUTHORIZATION: &str = "Bearer local-demo-callback-token";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn read_event(name: &str) -> String {
    assert!(
        PARSED_EVENTS.contains(&name),
        "{name} is parsed here but missing from PARSED_EVENTS"
    );
    let path = repo_path("events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn sqs_event(name: &str) -> SqsEvent {
    serde_json::from_str(&read_event(name)).unwrap_or_else(|e| panic!("{name} as SqsEvent: {e}"))
}

fn body(message: &SqsMessage) -> &str {
    message.body.as_deref().expect("SQS message has a body")
}

/// Decodes an S3 event key the way S3 encodes it: `+` is a space, `%XX` a byte.
fn decode_s3_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or_else(|| panic!("bad percent escape in {key}"));
                decoded.push(hex);
                i += 3;
            }
            b => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).expect("decoded key is UTF-8")
}

/// Asserts the SQS envelope looks like what the event-source mapping delivers from `queue`.
fn assert_sqs_envelope(message: &SqsMessage, queue: &str) {
    assert_eq!(message.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(message.aws_region.as_deref(), Some("eu-west-2"));
    assert_eq!(
        message.event_source_arn.as_deref(),
        Some(format!("arn:aws:sqs:eu-west-2:123456789012:{queue}").as_str())
    );
    assert!(message.message_id.is_some() && message.receipt_handle.is_some());
    assert_eq!(message.md5_of_body.as_deref().map(str::len), Some(32));
    assert!(message.message_attributes.is_empty());
    for attribute in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(
            message.attributes.contains_key(attribute),
            "missing SQS attribute {attribute}"
        );
    }
}

/// Parses the single `ObjectCreated:Put` record in an S3 notification carried by SQS.
fn s3_object_created(message: &SqsMessage) -> (String, String) {
    let event: S3Event = serde_json::from_str(body(message)).expect("body is an S3 event");
    assert_eq!(event.records.len(), 1);
    let record = &event.records[0];
    assert_eq!(record.event_version.as_deref(), Some("2.1"));
    assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
    assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(
        record.s3.bucket.name.as_deref(),
        Some("sais-uploads-123456789012-eu-west-2")
    );
    let object = &record.s3.object;
    assert!(object.size.is_some_and(|size| size > 0));
    assert!(object.version_id.is_some() && object.e_tag.is_some() && object.sequencer.is_some());
    let raw = object.key.clone().expect("object key");
    let decoded = decode_s3_key(&raw);
    (raw, decoded)
}

#[test]
fn an_uploaded_cohort_file_arrives_with_its_key_url_encoded() {
    let event = sqs_event("ingest-sqs-s3-notification.json");
    assert_eq!(event.records.len(), 2);
    assert_sqs_envelope(&event.records[0], "sais-ingest");

    let (raw, decoded) = s3_object_created(&event.records[0]);
    assert_eq!(raw, "RYG-sais/cohort/Year+8+%28autumn%29+cohort.csv");
    assert_eq!(decoded, "RYG-sais/cohort/Year 8 (autumn) cohort.csv");
}

#[test]
fn the_s3_test_event_is_recognisable_and_is_not_an_object_event() {
    let event = sqs_event("ingest-sqs-s3-notification.json");
    let test_message = &event.records[1];
    assert_sqs_envelope(test_message, "sais-ingest");

    let body = body(test_message);
    assert!(
        serde_json::from_str::<S3Event>(body).is_err(),
        "the test event has no Records"
    );
    let value: Value = serde_json::from_str(body).expect("test event is JSON");
    assert_eq!(value["Event"], "s3:TestEvent");
    assert_eq!(value["Service"], "Amazon S3");
    assert_eq!(value["Bucket"], "sais-uploads-123456789012-eu-west-2");
}

#[test]
fn a_class_list_key_decodes_to_its_spaces_and_brackets() {
    let event = sqs_event("ingest-sqs-class-list.json");
    assert_eq!(event.records.len(), 1);
    assert_sqs_envelope(&event.records[0], "sais-ingest");

    let (raw, decoded) = s3_object_created(&event.records[0]);
    assert_eq!(raw, "RYG-sais/class-list/123456/Class+9X+%5Bfinal%5D.csv");
    assert_eq!(decoded, "RYG-sais/class-list/123456/Class 9X [final].csv");
}

#[test]
fn the_dispatcher_batch_carries_one_send_job_per_purpose() {
    let event = sqs_event("dispatcher-sqs-send-jobs.json");
    assert_eq!(event.records.len(), 3);

    let mut purposes = BTreeSet::new();
    for message in &event.records {
        assert_sqs_envelope(message, "sais-send");
        let job: Value = serde_json::from_str(body(message)).expect("send job is JSON");
        let fields: BTreeSet<&str> = job
            .as_object()
            .expect("send job is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "version",
                "team",
                "campaign_id",
                "child_id",
                "purpose",
                "kind"
            ])
        );
        assert_eq!(job["version"], 1);
        assert_eq!(job["team"], "RYG-sais");
        assert_eq!(job["campaign_id"], "hpv-2026-autumn");
        assert_eq!(job["kind"], "campaign");
        assert!(
            job["child_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("c-"))
        );
        purposes.insert(job["purpose"].as_str().expect("purpose").to_owned());
    }
    assert_eq!(
        purposes,
        BTreeSet::from(
            ["consent_request", "consent_reminder", "session_reminder"].map(String::from)
        )
    );
    // A redelivered job is part of the sample: the dispatcher must be idempotent.
    assert!(
        event
            .records
            .iter()
            .any(|m| m.attributes["ApproximateReceiveCount"] != "1")
    );
}

/// Parses a Function URL event both ways the webhook may: as the raw event type and through
/// `lambda_http`. Returns the JSON body.
fn notify_callback(name: &str) -> Value {
    let raw = read_event(name);

    let event: LambdaFunctionUrlRequest =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name} as Function URL: {e}"));
    assert_eq!(event.version.as_deref(), Some("2.0"));
    assert_eq!(event.raw_path.as_deref(), Some("/notify/RYG-sais"));
    let context = &event.request_context;
    assert_eq!(context.http.method.as_deref(), Some("POST"));
    assert!(
        context
            .domain_name
            .as_deref()
            .is_some_and(|d| d.ends_with(".lambda-url.eu-west-2.on.aws"))
    );
    assert!(context.request_id.is_some() && context.time_epoch > 0);
    assert_eq!(
        event.headers.get("authorization").map(|v| v.as_bytes()),
        Some(CALLBACK_AUTHORIZATION.as_bytes())
    );
    let url_body = event.body.clone().expect("callback has a body");
    assert_eq!(
        event.headers["content-length"].to_str().ok(),
        Some(url_body.len().to_string().as_str())
    );

    let request = lambda_http::request::from_str(&raw)
        .unwrap_or_else(|e| panic!("{name} through lambda_http: {e}"));
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri().path(), "/notify/RYG-sais");
    assert_eq!(
        request
            .headers()
            .get(lambda_http::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        Some(CALLBACK_AUTHORIZATION)
    );
    assert_eq!(
        request
            .headers()
            .get(lambda_http::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: &[u8] = request.body().as_ref();
    assert_eq!(body, url_body.as_bytes());
    serde_json::from_slice(body).expect("callback body is JSON")
}

fn assert_delivery_receipt_fields(receipt: &Value) {
    for field in [
        "id",
        "reference",
        "to",
        "status",
        "created_at",
        "notification_type",
        "template_id",
    ] {
        assert!(
            receipt[field].is_string(),
            "receipt field {field} is a string"
        );
    }
    for field in ["completed_at", "sent_at"] {
        assert!(receipt[field].is_string() || receipt[field].is_null());
    }
    assert!(
        receipt["template_version"].is_u64(),
        "template_version is a number"
    );
}

#[test]
fn a_permanent_failure_receipt_reaches_the_webhook_as_an_authorised_post() {
    let receipt = notify_callback("webhook-delivery-receipt.json");
    assert_delivery_receipt_fields(&receipt);
    assert_eq!(receipt["status"], "permanent-failure");
    assert_eq!(receipt["notification_type"], "email");
    assert_eq!(receipt["to"], "perm-fail@simulator.notify");
}

#[test]
fn an_inbound_stop_text_reaches_the_webhook_as_an_authorised_post() {
    let inbound = notify_callback("webhook-inbound-sms.json");
    for field in [
        "id",
        "source_number",
        "destination_number",
        "message",
        "date_received",
    ] {
        assert!(
            inbound[field].is_string(),
            "inbound field {field} is a string"
        );
    }
    assert_eq!(inbound["message"], "STOP");
}

#[test]
fn a_delivered_text_receipt_reaches_the_webhook_as_an_authorised_post() {
    let receipt = notify_callback("webhook-sms-delivered.json");
    assert_delivery_receipt_fields(&receipt);
    assert_eq!(receipt["status"], "delivered");
    assert_eq!(receipt["notification_type"], "sms");
}

#[test]
fn the_daily_schedule_delivers_an_eventbridge_scheduled_event() {
    let event: EventBridgeEvent = serde_json::from_str(&read_event("reminders-scheduled.json"))
        .expect("reminders-scheduled.json as EventBridgeEvent");
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.scheduler");
    assert_eq!(event.account.as_deref(), Some("123456789012"));
    assert_eq!(event.region.as_deref(), Some("eu-west-2"));
    assert_eq!(
        event.time.map(|t| t.to_rfc3339()),
        Some("2026-11-12T07:00:00+00:00".to_owned())
    );
    assert_eq!(
        event.resources,
        Some(vec![
            "arn:aws:scheduler:eu-west-2:123456789012:schedule/default/sais-reminders-daily"
                .to_owned()
        ])
    );
    assert_eq!(event.detail, json!({}));
}

#[test]
fn the_schedule_input_in_the_template_becomes_the_sample_scheduled_event() {
    let template = std::fs::read_to_string(repo_path("infra/template.yaml")).expect("template");
    let mut lines = template
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Input: !Sub"));
    lines.next().expect("the schedule has an Input");
    let input = lines.next().expect("Input body on the next line").trim();

    let sample: Value = serde_json::from_str(&read_event("reminders-scheduled.json")).unwrap();
    let substituted = input
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::Region}", "eu-west-2")
        .replace(
            "<aws.scheduler.execution-id>",
            sample["id"].as_str().unwrap(),
        )
        .replace(
            "<aws.scheduler.scheduled-time>",
            sample["time"].as_str().unwrap(),
        )
        .replace(
            "<aws.scheduler.schedule-arn>",
            sample["resources"][0].as_str().unwrap(),
        );
    let from_template: Value = serde_json::from_str(&substituted).expect("Input is JSON");
    assert_eq!(from_template, sample);
}

#[test]
fn a_manual_reminders_run_names_team_campaign_and_date() {
    let raw = read_event("reminders-manual.json");
    assert!(
        serde_json::from_str::<EventBridgeEvent>(&raw).is_err(),
        "a manual run must not look like a scheduled event"
    );
    let run: Value = serde_json::from_str(&raw).expect("manual run is JSON");
    assert_eq!(
        run,
        json!({"team": "RYG-sais", "campaign_id": "hpv-2026-autumn", "date": "2026-11-12"})
    );
}

#[test]
fn each_reminders_sample_asks_the_function_for_its_own_run() {
    use sais_shared::schedule::RemindersTask;
    let task = |name: &str| {
        RemindersTask::from_event(&serde_json::from_str(&read_event(name)).unwrap()).unwrap()
    };
    let hourly: EventBridgeEvent =
        serde_json::from_str(&read_event("reminders-hourly.json")).expect("an EventBridge event");
    assert_eq!(hourly.detail["task"], "due-work");
    assert_eq!(task("reminders-hourly.json"), RemindersTask::DueWork);
    assert!(matches!(
        task("reminders-scheduled.json"),
        RemindersTask::Daily { .. }
    ));
    assert!(matches!(
        task("reminders-manual.json"),
        RemindersTask::Campaign { .. }
    ));
    // The hourly schedule in the template sends the same detail as the sample.
    let template = std::fs::read_to_string(repo_path("infra/template.yaml")).expect("template");
    assert!(template.contains(r#""detail":{"task":"due-work"}"#));
}

#[test]
fn every_sample_event_is_parsed_by_a_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo_path("events"))
        .expect("events/ exists")
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = PARSED_EVENTS.iter().map(|s| (*s).to_owned()).collect();

    let untested: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        untested.is_empty(),
        "events with no test (add one and list them in PARSED_EVENTS): {untested:?}"
    );
    assert!(
        missing.is_empty(),
        "listed events missing from events/: {missing:?}"
    );
}
