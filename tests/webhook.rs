//! The webhook on the local stack: the Notify simulator calls the real handler over HTTP with
//! its delivery receipts and inbound texts, and the fallback jobs it queues go through the real
//! dispatcher. What a family receives, and what is recorded, is checked at the end.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use sais_local::{LocalNotify, LocalStack, serve_webhook, start_notify_sim};
use sais_shared::dispatch::{Dispatcher, JobKind, SendJob};
use sais_shared::notify::Status;
use sais_shared::policy::Purpose;
use sais_shared::receipts::Receipts;
use sais_shared::store::MessageRecord;
use sais_shared::webhook::Webhook;
use time::OffsetDateTime;

use e2e::{CAMPAIGN, TEAM, team};
const TOKEN: &str = "callback-token-for-tests-0123456789";
const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_ADDRESS_LINE_1,CHILD_TOWN,CHILD_RESTRICTED,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE,PARENT_1_CONTACT_PREFERENCE";

struct World {
    stack: LocalStack,
    notify: LocalNotify,
    dispatcher: Dispatcher,
    receipts: Receipts,
    /// The webhook's URL for this team, as configured in Notify.
    callback_url: String,
}

async fn world(rows: &[&str]) -> World {
    world_with(rows, |_| {}).await
}

async fn world_with(rows: &[&str], configure: impl FnOnce(&mut notify_sim::Config)) -> World {
    let stack = LocalStack::isolated().await.expect("local stack");
    // Technical-failure retries without the 5-minute backoff, so the tests need not wait.
    let receipts = Receipts::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    )
    .with_technical_backoff(0);
    let base = serve_webhook(Webhook::new(receipts.clone(), TOKEN))
        .await
        .expect("webhook");
    let callback_url = format!("{base}/notify/{TEAM}");
    let notify = start_notify_sim(|c| {
        c.callback_url = Some(callback_url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
        c.callback_delay = Duration::from_millis(20);
        configure(c);
    })
    .await
    .expect("simulator");

    let csv = format!("{HEADER}\n{}\n", rows.join("\n"));
    let key = format!("{TEAM}/cohort/c.csv");
    e2e::upload_and_ingest(&stack, &key, csv).await;
    stack
        .store()
        .put_campaign(&team(), &e2e::campaign())
        .await
        .expect("campaign");
    let dispatcher = stack
        .dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_millis(2000),
        )
        .expect("dispatcher");
    World {
        stack,
        notify,
        dispatcher,
        receipts,
        callback_url,
    }
}

impl World {
    /// The child id ingest gave the child with this NHS number.
    async fn child(&self, nhs: &str) -> String {
        e2e::child_id(&self.stack, nhs).await
    }

    /// Sends a job as the reminders function would, then runs the dispatcher on everything the
    /// webhook queues until Notify's callbacks and the send queue are both quiet.
    async fn send(&self, child_id: &str, purpose: Purpose) {
        let job = e2e::job(child_id, purpose);
        self.dispatcher.handle_job(&job).await.expect("job");
        self.settle().await;
    }

    /// Runs queued jobs (fallbacks, retries) until nothing more happens.
    async fn settle(&self) {
        e2e::settle(&self.stack, &self.notify, &self.dispatcher).await;
    }

    /// What Notify was asked to send, in order: (type, recipient).
    fn sent(&self) -> Vec<(String, String)> {
        let mut got = self.notify.sim.received();
        got.sort_by_key(|n| n.created_at);
        got.into_iter()
            .map(|n| (n.notification_type.as_str().to_owned(), n.to))
            .collect()
    }

    /// Every message record, oldest first.
    async fn messages(&self) -> Vec<MessageRecord> {
        let mut records: Vec<MessageRecord> = self
            .stack
            .items_of_type("message")
            .await
            .expect("scan")
            .into_iter()
            .map(|i| serde_dynamo::from_item(i).expect("message record"))
            .collect();
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        records
    }

    async fn detail_status(&self, detail: &str) -> Option<String> {
        self.stack
            .items_of_type("contact_status")
            .await
            .expect("scan")
            .into_iter()
            .find(|i| {
                i.get("detail")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(detail)
            })
            .and_then(|i| i.get("status").and_then(|v| v.as_s().ok()).cloned())
    }

    /// A parent texts the service: the simulator passes it to the webhook, and this waits
    /// until the webhook has answered.
    async fn text_in(&self, from: &str, message: &str) {
        self.notify.text_in(from, message).await.expect("inbound");
        assert!(
            self.notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(10))
                .await
        );
    }

    /// Posts a body to the webhook as Notify would.
    async fn post(&self, authorization: Option<&str>, body: Vec<u8>) -> reqwest::StatusCode {
        let mut request = reqwest::Client::new()
            .post(&self.callback_url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        request.send().await.expect("post").status()
    }

    /// Posts Notify's delivery receipt for a notification the simulator holds.
    async fn receipt(&self, notification: &notify_sim::Notification, status: &str) -> u16 {
        let body = serde_json::json!({
            "id": notification.id,
            "reference": notification.reference,
            "to": notification.to,
            "status": status,
            "created_at": "2026-11-22T10:00:00.000000Z",
            "completed_at": null,
            "sent_at": null,
            "notification_type": notification.notification_type.as_str(),
            "template_id": notification.template_id,
            "template_version": notification.template_version,
        });
        self.post(
            Some(&format!("Bearer {TOKEN}")),
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .as_u16()
    }

    /// Everything in the table, for before/after comparisons.
    async fn snapshot(&self) -> Vec<serde_json::Value> {
        let out = self
            .stack
            .clients
            .dynamodb
            .scan()
            .table_name(self.stack.table())
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        // As JSON values: their maps are ordered, so equal items compare equal.
        let mut items: Vec<serde_json::Value> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| serde_dynamo::from_item(i).expect("item as JSON"))
            .collect();
        items.sort_by_key(|v| format!("{}/{}", v["pk"], v["sk"]));
        items
    }

    async fn queued(&self) -> usize {
        let out = self
            .stack
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&self.stack.send_queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("attributes");
        out.attributes
            .unwrap_or_default()
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

fn statuses(records: &[MessageRecord]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| (r.channel.as_str().to_owned(), r.status.clone()))
        .collect()
}

fn pair(kind: &str, to: &str) -> (String, String) {
    (kind.to_owned(), to.to_owned())
}

const LETTER_TO: &str = "The parent or carer of Ava Smith";

#[tokio::test]
async fn a_bounced_email_is_followed_by_a_text_that_is_delivered() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,perm-fail@simulator.notify,07700900001,email",
        // A sibling with the same parent: the address is failed for every child it belongs to.
        "Ben,Smith,2015-06-01,SW1A 1AA,123456,9990000026,10 Downing Street,London,,Sarah Smith,perm-fail@simulator.notify,07700900001,email",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    assert_eq!(
        w.sent(),
        vec![
            pair("email", "perm-fail@simulator.notify"),
            pair("sms", "+447700900001"),
        ]
    );
    assert_eq!(
        statuses(&w.messages().await),
        vec![
            ("email".into(), "permanent-failure".into()),
            ("sms".into(), "delivered".into()),
        ]
    );
    assert_eq!(
        w.detail_status("email:perm-fail@simulator.notify")
            .await
            .as_deref(),
        Some("failed")
    );

    let ben = w.child("9990000026").await;
    w.send(&ben, Purpose::ConsentRequest).await;
    let sent = w.sent();
    assert_eq!(sent.len(), 3, "no second email to the failed address");
    assert_eq!(sent[2], pair("sms", "+447700900001"));
}

#[tokio::test]
async fn when_email_and_text_both_fail_one_letter_goes_to_the_childs_address() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,perm-fail@simulator.notify,07700900002,email",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    assert_eq!(
        w.sent(),
        vec![
            pair("email", "perm-fail@simulator.notify"),
            pair("sms", "+447700900002"),
            pair("letter", LETTER_TO),
        ]
    );
    // Running the same job again (SQS redelivery) sends nothing more.
    w.send(&ava, Purpose::ConsentRequest).await;
    assert_eq!(w.sent().len(), 3);

    // Notify sends no callbacks for letters: the poll reads the letter's own status.
    let letter = w.messages().await.pop().expect("letter record");
    assert_eq!(
        (letter.channel.as_str(), letter.status.as_str()),
        ("letter", "created")
    );
    let notify = sais_shared::notify::NotifyClient::new(
        &w.notify.sim.base_url(),
        sais_shared::notify::ApiKey::parse(&w.notify.api_key).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let changed = w
        .receipts
        .poll_letters(&notify, OffsetDateTime::now_utc())
        .await
        .expect("poll");
    assert_eq!(changed, 1);
    let letter = w.messages().await.pop().expect("letter record");
    assert_eq!(letter.status, "received");
    assert!(
        w.stack
            .items_of_type("open_letter")
            .await
            .unwrap()
            .is_empty(),
        "a received letter is no longer polled"
    );
    assert!(
        w.receipts
            .store()
            .follow_ups(&team())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_restricted_child_gets_no_letter_and_is_listed_for_follow_up() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,Y,Sarah Smith,perm-fail@simulator.notify,07700900002,",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let sent = w.sent();
    assert_eq!(sent.len(), 2, "email and text, never a letter: {sent:?}");
    assert!(sent.iter().all(|(kind, _)| kind != "letter"));
    let list = w.receipts.store().follow_ups(&team()).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].child_id.as_str(),
            list[0].purpose.as_str(),
            list[0].reason.as_str()
        ),
        (ava.as_str(), "consent_request", "restricted_no_letter")
    );
}

#[tokio::test]
async fn a_temporary_failure_is_retried_after_24_hours_then_a_letter_is_sent() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,temp-fail@simulator.notify,,email",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    assert_eq!(w.sent(), vec![pair("email", "temp-fail@simulator.notify")]);

    let now = OffsetDateTime::now_utc();
    let released = w.receipts.release_due(now).await.expect("release");
    assert_eq!(released, 0, "nothing before 24 hours have passed");
    let released = w
        .receipts
        .release_due(now + time::Duration::hours(23))
        .await
        .expect("release");
    assert_eq!(released, 0);
    let released = w
        .receipts
        .release_due(now + time::Duration::hours(24) + time::Duration::minutes(1))
        .await
        .expect("release");
    assert_eq!(released, 1, "one retry of the same channel");
    w.settle().await;
    assert_eq!(
        w.sent(),
        vec![
            pair("email", "temp-fail@simulator.notify"),
            pair("email", "temp-fail@simulator.notify"),
            pair("letter", LETTER_TO),
        ]
    );
    let mut records: Vec<_> = w
        .messages()
        .await
        .into_iter()
        .map(|r| (r.channel.as_str().to_owned(), r.attempt, r.status))
        .collect();
    records.sort();
    assert_eq!(
        records,
        vec![
            ("email".into(), 0, "temporary-failure".into()),
            ("email".into(), 1, "temporary-failure".into()),
            ("letter".into(), 0, "created".into()),
        ]
    );
    // Released once only.
    let again = w
        .receipts
        .release_due(now + time::Duration::hours(48))
        .await
        .expect("release");
    assert_eq!(again, 0);
}

#[tokio::test]
async fn after_a_stop_reply_the_next_reminder_goes_by_email_only() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,07700900001,any",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    assert_eq!(w.sent().len(), 2, "email and text for 'any'");

    w.text_in("447700900001", "  stop \n").await;
    assert_eq!(
        w.detail_status("phone:+447700900001").await.as_deref(),
        Some("opted_out")
    );

    w.send(&ava, Purpose::ConsentReminder).await;
    let sent = w.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2], pair("email", "sarah.smith@example.com"));
}

#[tokio::test]
async fn a_failure_reported_after_a_stop_leaves_the_number_opted_out() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,07700900111,any",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let text = w
        .notify
        .sim
        .received()
        .into_iter()
        .find(|n| n.notification_type.as_str() == "sms")
        .expect("the text");
    w.text_in("447700900111", "STOP").await;
    assert_eq!(
        w.detail_status("phone:+447700900111").await.as_deref(),
        Some("opted_out")
    );

    // The text's receipt (07700900111 is a Notify smoke-test number the simulator never reports
    // on) comes after the STOP, as a failure: the opt-out stays on record.
    assert_eq!(w.receipt(&text, "permanent-failure").await, 200);
    w.settle().await;
    assert_eq!(
        w.detail_status("phone:+447700900111").await.as_deref(),
        Some("opted_out")
    );
    let texts = w
        .sent()
        .into_iter()
        .filter(|(kind, _)| kind == "sms")
        .count();
    assert_eq!(texts, 1, "no second text to an opted-out number");
}

#[tokio::test]
async fn other_inbound_texts_are_kept_for_the_team() {
    let w = world(&[]).await;
    w.text_in("07700900001", "Is the session still on Friday?")
        .await;
    let kept = w.stack.items_of_type("inbound_text").await.expect("scan");
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0]["message"],
        AttributeValue::S("Is the session still on Friday?".into())
    );
    assert_eq!(kept[0]["from"], AttributeValue::S("+447700900001".into()));
    assert!(w.detail_status("phone:+447700900001").await.is_none());
}

#[tokio::test]
async fn repeated_and_out_of_order_receipts_end_in_the_same_state() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,,email",
        "Ben,Jones,2013-05-02,SW1A 1AA,123456,9990000026,11 Downing Street,London,,Tom Jones,perm-fail@simulator.notify,07700900001,email",
    ])
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let email = w.notify.sim.received().pop().expect("the email");
    let before = w.messages().await;
    assert_eq!(
        statuses(&before),
        vec![("email".into(), "delivered".into())]
    );
    // Late and repeated receipts: a `sending` after `delivered`, and `delivered` again.
    for status in ["sending", "delivered", "created", "delivered"] {
        assert_eq!(w.receipt(&email, status).await, 200);
    }
    assert_eq!(w.messages().await, before, "nothing changed");

    // A permanent failure reported three times at once: one fallback text.
    let ben = w.child("9990000026").await;
    w.send(&ben, Purpose::ConsentRequest).await;
    let bounced = w
        .notify
        .sim
        .received()
        .into_iter()
        .find(|n| n.to == "perm-fail@simulator.notify")
        .expect("the bounced email");
    let (a, b, c) = tokio::join!(
        w.receipt(&bounced, "permanent-failure"),
        w.receipt(&bounced, "permanent-failure"),
        w.receipt(&bounced, "sending"),
    );
    assert_eq!((a, b, c), (200, 200, 200));
    w.settle().await;
    let texts: Vec<_> = w
        .sent()
        .into_iter()
        .filter(|(kind, _)| kind == "sms")
        .collect();
    assert_eq!(texts, vec![pair("sms", "+447700900001")]);
    let bounced_record = w
        .messages()
        .await
        .into_iter()
        .find(|r| r.recipient == "perm-fail@simulator.notify")
        .expect("record");
    assert_eq!(bounced_record.status, "permanent-failure");
    let history: Vec<_> = bounced_record
        .status_history
        .iter()
        .map(|c| c.status.as_str())
        .collect();
    assert_eq!(history, vec!["intent", "created", "permanent-failure"]);
    assert_eq!(
        Status::parse(&bounced_record.status),
        Status::PermanentFailure
    );
}

#[tokio::test]
async fn bad_callbacks_change_nothing_and_get_the_right_status() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,,email",
    ])
    .await;
    // No callbacks from the simulator here: this test posts them itself.
    w.notify.sim.set_callback(None, None);
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let email = w.notify.sim.received().pop().expect("the email");
    let before = w.snapshot().await;

    let receipt = |status: &str| {
        serde_json::to_vec(&serde_json::json!({
            "id": email.id,
            "reference": email.reference,
            "to": email.to,
            "status": status,
            "created_at": "2026-11-22T10:00:00.000000Z",
            "completed_at": null,
            "sent_at": null,
            "notification_type": "email",
            "template_id": email.template_id,
            "template_version": 1,
        }))
        .unwrap()
    };
    let bearer = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let mut oversized = receipt("permanent-failure");
    oversized.truncate(oversized.len() - 1);
    oversized.extend(format!(r#","padding":"{}"}}"#, "x".repeat(20_000)).bytes());
    let unknown_id = uuid::Uuid::new_v4();
    let unknown = serde_json::to_vec(&serde_json::json!({
        "id": unknown_id,
        "reference": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
        "to": "someone@example.com",
        "status": "permanent-failure",
        "created_at": "2026-11-22T10:00:00.000000Z",
        "completed_at": null,
        "sent_at": null,
        "notification_type": "email",
        "template_id": email.template_id,
        "template_version": 1,
    }))
    .unwrap();
    let mut not_a_callback: serde_json::Value =
        serde_json::from_slice(&receipt("permanent-failure")).unwrap();
    not_a_callback.as_object_mut().unwrap().remove("status");
    not_a_callback["surprise"] = serde_json::json!(true);

    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("no token", None, receipt("permanent-failure"), 401),
        (
            "wrong token",
            Some(&wrong),
            receipt("permanent-failure"),
            403,
        ),
        (
            "not a bearer token",
            Some(TOKEN),
            receipt("permanent-failure"),
            403,
        ),
        ("oversized body", Some(&bearer), oversized, 413),
        ("broken JSON", Some(&bearer), b"{\"id\": ".to_vec(), 400),
        ("a JSON array", Some(&bearer), b"[1, 2, 3]".to_vec(), 400),
        (
            "a receipt without its status",
            Some(&bearer),
            serde_json::to_vec(&not_a_callback).unwrap(),
            400,
        ),
        ("an unknown notification", Some(&bearer), unknown, 200),
        (
            "a status Notify adds later",
            Some(&bearer),
            receipt("pending-virus-check"),
            200,
        ),
    ];
    let captured = e2e::Captured::global();
    for (name, authorization, body, want) in cases {
        let got = w.post(authorization, body).await;
        assert_eq!(got.as_u16(), want, "{name}");
        assert_eq!(w.snapshot().await, before, "{name} changed stored data");
        assert_eq!(w.queued().await, 0, "{name} queued a job");
    }
    // The unknown receipt is counted by the template's metric filter
    // `{ $.fields.metric = "unknown_notification" }` on these JSON lines.
    let counted = captured
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["fields"]["metric"] == "unknown_notification"
                && v["fields"]["notify_id"] == unknown_id.to_string()
        })
        .count();
    assert_eq!(counted, 1);
    // So is the unknown status, by name, under `{ $.fields.metric = "unknown_status" }`.
    let unknown_statuses = captured
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["fields"]["metric"] == "unknown_status"
                && v["fields"]["status"] == "pending-virus-check"
                && v["fields"]["notify_id"] == email.id.to_string()
        })
        .count();
    assert_eq!(unknown_statuses, 1);
    // The real callback still works afterwards.
    assert_eq!(w.receipt(&email, "delivered").await, 200);
    assert_eq!(
        statuses(&w.messages().await),
        vec![("email".into(), "delivered".into())]
    );
}

#[tokio::test]
async fn a_receipt_and_an_inbound_text_with_fields_notify_adds_later_are_applied() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,07700900001,email",
    ])
    .await;
    // This test posts the callbacks itself, as Notify would on the day it adds a field.
    w.notify.sim.set_callback(None, None);
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let email = w.notify.sim.received().pop().expect("the email");
    let bearer = format!("Bearer {TOKEN}");

    let receipt = serde_json::json!({
        "id": email.id,
        "reference": email.reference,
        "to": email.to,
        "status": "permanent-failure",
        "created_at": "2026-11-22T10:00:00.000000Z",
        "completed_at": "2026-11-22T10:00:05.000000Z",
        "sent_at": "2026-11-22T10:00:01.000000Z",
        "notification_type": "email",
        "template_id": email.template_id,
        "template_version": email.template_version,
        // Fields Notify does not send today.
        "cost_in_pounds": 0.0,
        "is_international": false,
        "provider_response": {"code": "550", "text": "mailbox unavailable"},
    });
    let got = w
        .post(Some(&bearer), serde_json::to_vec(&receipt).unwrap())
        .await;
    assert_eq!(got.as_u16(), 200, "a receipt with added fields is applied");
    assert_eq!(
        statuses(&w.messages().await),
        vec![("email".into(), "permanent-failure".into())]
    );
    assert_eq!(
        w.detail_status("email:sarah.smith@example.com")
            .await
            .as_deref(),
        Some("failed")
    );
    // The bounce falls back to a text.
    w.settle().await;
    assert_eq!(
        w.sent(),
        vec![
            pair("email", "sarah.smith@example.com"),
            pair("sms", "+447700900001")
        ]
    );

    let inbound = serde_json::json!({
        "id": uuid::Uuid::new_v4(),
        "source_number": "447700900001",
        "destination_number": "07700900000",
        "message": "Stop.",
        "date_received": "2026-11-22T10:05:00.000000Z",
        "service_id": uuid::Uuid::new_v4(),
        "new_field_next_year": {"nested": [1, 2]},
    });
    let got = w
        .post(Some(&bearer), serde_json::to_vec(&inbound).unwrap())
        .await;
    assert_eq!(
        got.as_u16(),
        200,
        "an inbound text with added fields is applied"
    );
    assert_eq!(
        w.detail_status("phone:+447700900001").await.as_deref(),
        Some("opted_out"),
        "\"Stop.\" opts the number out"
    );
    assert!(
        w.stack
            .items_of_type("inbound_text")
            .await
            .expect("scan")
            .is_empty(),
        "an opt-out is acted on, not kept as a reply"
    );
}

#[tokio::test]
async fn a_receipt_completes_a_message_whose_sending_attempt_died_after_notify_accepted_it() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,07700900001,email",
    ])
    .await;
    w.notify.sim.set_callback(None, None);
    let ava = w.child("9990000018").await;
    // The attempt dies after Notify accepted the email, before recording it.
    let (dispatcher, proxy) = e2e::dispatcher_through_proxy(&w.stack, &w.notify).await;
    e2e::crash_after_notify_accepted(&proxy);
    let job = SendJob::new(
        &team(),
        CAMPAIGN,
        &ava,
        Purpose::ConsentRequest,
        JobKind::Campaign,
    );
    e2e::run_until_crash(&proxy, dispatcher.handle_job(&job)).await;
    let email = w.notify.sim.received().pop().expect("the email");
    assert_eq!(w.messages().await[0].state, "intent");

    // Its bounce comes back before SQS delivers the job again; the retried job then plans the
    // text instead (the email just failed), so nothing else would ever complete the record.
    assert_eq!(w.receipt(&email, "permanent-failure").await, 200);
    let records = w.messages().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, "sent", "the receipt completed the intent");
    assert_eq!(records[0].notify_id, Some(email.id.to_string()));
    assert_eq!(records[0].status, "permanent-failure");
    w.settle().await;
    assert_eq!(
        w.sent(),
        vec![
            pair("email", "sarah.smith@example.com"),
            pair("sms", "+447700900001")
        ]
    );
    assert!(
        w.messages().await.iter().all(|m| m.state == "sent"),
        "nothing left in intent"
    );
}

#[tokio::test]
async fn a_receipt_that_overtakes_the_dispatchers_own_update_is_kept() {
    // Notify answers slowly and calls back at once: the receipt reaches the webhook while the
    // record still says "intent", before the dispatcher records "created".
    let w = world_with(
        &[
            "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,perm-fail@simulator.notify,07700900001,email",
        ],
        |c| {
            c.latency = Duration::from_millis(400);
            c.callback_delay = Duration::ZERO;
        },
    )
    .await;
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    let records = w.messages().await;
    assert_eq!(
        records
            .iter()
            .map(|r| (r.channel.as_str(), r.state.as_str(), r.status.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("email", "sent", "permanent-failure"),
            ("sms", "sent", "delivered")
        ]
    );
    assert!(records.iter().all(|r| r.notify_id.is_some()));
}

#[tokio::test]
async fn technical_failures_are_retried_three_times_then_followed_up() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,sarah.smith@example.com,,email",
    ])
    .await;
    // Notify's own failures are reported here by hand: no simulated recipient produces them.
    w.notify.sim.set_callback(None, None);
    let ava = w.child("9990000018").await;
    w.send(&ava, Purpose::ConsentRequest).await;
    for attempt in 1..=3 {
        let last = w.notify.sim.received().pop().expect("a send");
        assert_eq!(w.receipt(&last, "technical-failure").await, 200);
        w.settle().await;
        assert_eq!(w.sent().len(), attempt + 1, "retry {attempt} sent");
    }
    assert!(
        w.receipts
            .store()
            .follow_ups(&team())
            .await
            .unwrap()
            .is_empty()
    );
    let last = w.notify.sim.received().pop().expect("a send");
    assert_eq!(w.receipt(&last, "technical-failure").await, 200);
    w.settle().await;
    let sent = w.sent();
    assert_eq!(sent.len(), 4, "no fourth retry");
    assert!(
        sent.iter()
            .all(|s| s == &pair("email", "sarah.smith@example.com"))
    );
    let list = w.receipts.store().follow_ups(&team()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].reason, "technical_failure");
    // The address did nothing wrong: it is not marked failed.
    assert!(
        w.detail_status("email:sarah.smith@example.com")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_letter_notify_could_not_print_puts_the_child_on_the_follow_up_list() {
    let w =
        world(&["Zoë,Jones,2013-05-02,LS1 4AP,123456,9990000026,4 Park Avenue,Leeds,,,,,"]).await;
    let zoe = w.child("9990000026").await;
    w.send(&zoe, Purpose::ConsentRequest).await;
    assert_eq!(
        w.sent(),
        vec![pair("letter", "The parent or carer of Zoë Jones")]
    );
    let letter = w.messages().await.pop().expect("letter");
    assert_eq!(w.stack.items_of_type("open_letter").await.unwrap().len(), 1);
    // What the hourly poll would apply when Notify's checks refuse the letter.
    let now = OffsetDateTime::now_utc();
    for status in ["accepted", "validation-failed", "accepted"] {
        w.receipts
            .apply(&team(), &letter.message_id, &Status::parse(status), now)
            .await
            .expect("apply");
    }
    let letter = w.messages().await.pop().expect("letter");
    assert_eq!(letter.status, "validation-failed");
    assert!(
        w.stack
            .items_of_type("open_letter")
            .await
            .unwrap()
            .is_empty()
    );
    let list = w.receipts.store().follow_ups(&team()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].child_id.as_str(), list[0].reason.as_str()),
        (zoe.as_str(), "letter_validation-failed")
    );
}

#[tokio::test]
async fn the_webhooks_logs_carry_no_personal_data() {
    let w = world(&[
        "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,,Sarah Smith,perm-fail@simulator.notify,07700900002,email",
    ])
    .await;
    let ava = w.child("9990000018").await;
    let captured = e2e::Captured::global();
    w.send(&ava, Purpose::ConsentRequest).await;
    for message in [
        "STOP",
        "My daughter Ava has a needle phobia, call 07700900777",
    ] {
        w.text_in("07700900002", message).await;
    }
    assert_eq!(w.sent().len(), 3, "email, text, letter");
    let logs = captured.text();
    assert!(
        logs.contains("detail failed: fallback queued"),
        "the webhook's work was logged"
    );
    assert!(logs.contains("inbound text recorded"));
    for secret in [
        "perm-fail@simulator.notify",
        "7700900002",
        "7700900777",
        "phobia",
        "Sarah",
        "Smith",
        "Ava",
        "9990000018",
        "SW1A 1AA",
        "Downing",
        "2013-05-01",
    ] {
        assert!(
            !logs.contains(secret),
            "a log line contains personal data ({secret:?})"
        );
    }
}

/// The Lambda entry point itself, fed the sample Function URL events in `events/`.
#[tokio::test]
async fn the_function_url_events_run_through_the_lambda_adapter() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let receipts = Receipts::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    );
    let webhook = Webhook::new(receipts, "local-demo-callback-token");
    let event = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(name);
        let raw = std::fs::read_to_string(path).expect("event");
        lambda_http::request::from_str(&raw).expect("Function URL event")
    };

    // A receipt for a message this stack never sent: answered 200, nothing stored.
    let response =
        sais_shared::webhook::handle_http(&webhook, &event("webhook-sms-delivered.json")).await;
    assert_eq!(response.status(), 200);
    assert!(stack.items_of_type("message").await.unwrap().is_empty());

    // The STOP text opts the number out.
    let response =
        sais_shared::webhook::handle_http(&webhook, &event("webhook-inbound-sms.json")).await;
    assert_eq!(response.status(), 200);
    let statuses = stack.items_of_type("contact_status").await.unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        statuses[0]["detail"],
        AttributeValue::S("phone:+447700900123".into())
    );
    assert_eq!(statuses[0]["status"], AttributeValue::S("opted_out".into()));

    // The same event with another token is refused.
    let mut forged = event("webhook-inbound-sms.json");
    forged.headers_mut().insert(
        "authorization",
        "Bearer local-demo-callback-tokeN".parse().unwrap(),
    );
    let response = sais_shared::webhook::handle_http(&webhook, &forged).await;
    assert_eq!(response.status(), 403);
}
