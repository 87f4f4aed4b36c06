//! The dispatcher on the local stack with the Notify simulator: every send happens exactly once,
//! whatever SQS, Notify or the function itself does, and no personal data reaches the logs.

use std::time::Duration;

use sais_local::{LocalNotify, LocalStack, start_notify_sim};
use sais_shared::dispatch::{DispatchError, Dispatcher, SendJob};
use sais_shared::policy::Purpose;

use e2e::TEAM;
const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_ADDRESS_LINE_1,CHILD_TOWN,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE,PARENT_1_CONTACT_PREFERENCE";

struct World {
    stack: LocalStack,
    notify: LocalNotify,
    dispatcher: Dispatcher,
}

async fn world(rows: &[&str], configure: impl FnOnce(&mut notify_sim::Config)) -> World {
    let stack = LocalStack::isolated().await.expect("local stack");
    let notify = start_notify_sim(configure).await.expect("simulator");
    let csv = format!("{HEADER}\n{}\n", rows.join("\n"));
    let key = format!("{TEAM}/cohort/c.csv");
    e2e::upload_and_ingest(&stack, &key, csv).await;
    stack
        .store()
        .put_campaign(&team(), &campaign())
        .await
        .expect("campaign");
    let dispatcher = stack
        .dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_millis(500),
        )
        .expect("dispatcher");
    World {
        stack,
        notify,
        dispatcher,
    }
}

use e2e::{campaign, child_id, team};

fn job(child_id: &str) -> SendJob {
    e2e::job(child_id, Purpose::ConsentRequest)
}

async fn fault(notify: &LocalNotify, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/faults", notify.sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("fault");
    assert!(response.status().is_success());
}

/// Notifications the simulator created (smoke-test recipients aside).
fn received(notify: &LocalNotify) -> Vec<notify_sim::Notification> {
    notify.sim.received()
}

const EMAIL_ONLY: &str = "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,Sarah Smith,sarah.smith@example.com,,email";

#[tokio::test]
async fn the_same_job_delivered_twice_sends_one_email() {
    let w = world(&[EMAIL_ONLY], |_| {}).await;
    let id = child_id(&w.stack, "9990000018").await;
    let first = w.dispatcher.handle_job(&job(&id)).await.expect("first");
    let second = w.dispatcher.handle_job(&job(&id)).await.expect("second");
    assert_eq!((first.sent, second.sent, second.already_sent), (1, 0, 1));
    let got = received(&w.notify);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, "sarah.smith@example.com");
    assert_eq!(got[0].personalisation["child_first_name"], "Ava");
}

#[tokio::test]
async fn a_crash_after_notify_accepted_is_reconciled_by_reference_not_resent() {
    let w = world(&[EMAIL_ONLY], |_| {}).await;
    // The first attempt dies after Notify accepted, before recording it; its lease is over at
    // once, so the retry may take over.
    let (dispatcher, proxy) = e2e::dispatcher_through_proxy(&w.stack, &w.notify).await;
    let id = child_id(&w.stack, "9990000018").await;
    e2e::crash_after_notify_accepted(&proxy);
    e2e::run_until_crash(&proxy, dispatcher.handle_job(&job(&id))).await;
    let retried = dispatcher.handle_job(&job(&id)).await.expect("retry");
    assert_eq!((retried.sent, retried.already_sent), (0, 1));
    let got = received(&w.notify);
    assert_eq!(got.len(), 1, "exactly one notification at Notify");
    let message_id = got[0].reference.clone().expect("reference");
    let record = w
        .stack
        .store()
        .message(&team(), &message_id)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.state, "sent");
    assert_eq!(record.notify_id, Some(got[0].id.to_string()));
}

#[tokio::test]
async fn notify_answering_500_fails_the_job_and_the_retry_sends_once() {
    let w = world(&[EMAIL_ONLY], |_| {}).await;
    // The first attempt "dies"; its lease is over at once, so the retry may take over.
    let w = World {
        dispatcher: w.dispatcher.with_lease_seconds(0),
        ..w
    };
    let id = child_id(&w.stack, "9990000018").await;
    fault(
        &w.notify,
        serde_json::json!({"mode": "error_500", "count": 1}),
    )
    .await;
    assert!(
        w.dispatcher.handle_job(&job(&id)).await.is_err(),
        "the job is retried, not dropped"
    );
    assert!(received(&w.notify).is_empty());
    let retried = w.dispatcher.handle_job(&job(&id)).await.expect("retry");
    assert_eq!(retried.sent, 1);
    assert_eq!(received(&w.notify).len(), 1);
}

#[tokio::test]
async fn a_timeout_before_notify_created_anything_is_sent_again_once() {
    let w = world(&[EMAIL_ONLY], |_| {}).await;
    // The first attempt "dies"; its lease is over at once, so the retry may take over.
    let w = World {
        dispatcher: w.dispatcher.with_lease_seconds(0),
        ..w
    };
    let id = child_id(&w.stack, "9990000018").await;
    fault(
        &w.notify,
        serde_json::json!({"mode": "timeout", "count": 1, "hold_ms": 2000}),
    )
    .await;
    assert!(w.dispatcher.handle_job(&job(&id)).await.is_err());
    let retried = w.dispatcher.handle_job(&job(&id)).await.expect("retry");
    assert_eq!(retried.sent, 1);
    assert_eq!(received(&w.notify).len(), 1);
}

#[tokio::test]
async fn a_timeout_after_notify_created_the_message_is_not_sent_again() {
    let w = world(&[EMAIL_ONLY], |_| {}).await;
    // The first attempt "dies"; its lease is over at once, so the retry may take over.
    let w = World {
        dispatcher: w.dispatcher.with_lease_seconds(0),
        ..w
    };
    let id = child_id(&w.stack, "9990000018").await;
    fault(
        &w.notify,
        serde_json::json!({"mode": "timeout_after_create", "count": 1, "hold_ms": 2000}),
    )
    .await;
    assert!(w.dispatcher.handle_job(&job(&id)).await.is_err());
    let retried = w.dispatcher.handle_job(&job(&id)).await.expect("retry");
    assert_eq!((retried.sent, retried.already_sent), (0, 1));
    assert_eq!(received(&w.notify).len(), 1);
}

#[tokio::test]
async fn a_family_with_no_electronic_contact_gets_one_letter_to_the_parent_or_carer() {
    let w = world(
        &["Zoë,Jones,2013-05-02,LS1 4AP,123456,9990000026,4 Park Avenue,Leeds,,,01134960000,"],
        |_| {},
    )
    .await;
    let id = child_id(&w.stack, "9990000026").await;
    let outcome = w.dispatcher.handle_job(&job(&id)).await.expect("job");
    assert_eq!(outcome.sent, 1);
    let got = received(&w.notify);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].notification_type,
        notify_sim::NotificationType::Letter
    );
    assert_eq!(got[0].to, "The parent or carer of Zoë Jones");
}

#[tokio::test]
async fn after_notifys_daily_limit_the_job_is_held_and_requeued_not_lost() {
    let w = world(
        &[
            EMAIL_ONLY,
            "Leo,Brown,2013-05-03,SW1A 2AA,123456,9990000034,1 High Street,London,Paul Brown,paul.brown@example.com,,email",
        ],
        |c| c.daily_limits.email = 1,
    )
    .await;
    let first = child_id(&w.stack, "9990000018").await;
    let second = child_id(&w.stack, "9990000034").await;
    assert_eq!(
        w.dispatcher
            .handle_job(&job(&first))
            .await
            .expect("first")
            .sent,
        1
    );
    let held = w.dispatcher.handle_job(&job(&second)).await.expect("held");
    assert!(held.held);
    // Held jobs stay held (without calling Notify) until midnight UTC.
    let again = w
        .dispatcher
        .handle_job(&job(&second))
        .await
        .expect("still held");
    assert!(again.held);
    assert_eq!(received(&w.notify).len(), 1);
    let attrs = w
        .stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&w.stack.send_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("attributes");
    let delayed: u32 = attrs
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        delayed, 2,
        "each hold put the job back on the queue with a delay"
    );
}

#[tokio::test]
async fn the_dispatchers_logs_carry_no_personal_data() {
    let rows = [
        EMAIL_ONLY,
        "Zoë,Jones,2013-05-02,LS1 4AP,123456,9990000026,4 Park Avenue,Leeds,Jo Jones,,07700 900123,text",
    ];
    let w = world(&rows, |_| {}).await;
    let ids = [
        child_id(&w.stack, "9990000018").await,
        child_id(&w.stack, "9990000026").await,
    ];
    let captured = e2e::Captured::global();
    for id in &ids {
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some(format!("m-{id}"));
        message.body = Some(serde_json::to_string(&job(id)).unwrap());
        w.dispatcher.handle_message(message).await.expect("job");
    }
    assert_eq!(received(&w.notify).len(), 2);
    let logs = captured.text();
    assert!(logs.contains("send job done"), "the run was logged");
    for secret in [
        "sarah.smith@example.com",
        "Sarah",
        "Smith",
        "Ava",
        "Zoë",
        "Jones",
        "9990000018",
        "9990000026",
        "7700900123",
        "07700 900123",
        "SW1A 1AA",
        "LS1 4AP",
        "Downing",
        "Park Avenue",
        "2013-05-0",
    ] {
        assert!(
            !logs.contains(secret),
            "a log line contains personal data ({secret:?})"
        );
    }
}

const ANY_PREFERENCE: &str = "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,Sarah Smith,sarah.smith@example.com,07700 900123,";

#[tokio::test]
async fn an_objection_to_texts_read_at_send_time_leaves_email_only() {
    let w = world(&[ANY_PREFERENCE], |_| {}).await;
    let id = child_id(&w.stack, "9990000018").await;
    w.stack
        .store()
        .record_objection(&team(), &id, "obj-1", "text", None, false, None)
        .await
        .expect("objection");
    let outcome = w.dispatcher.handle_job(&job(&id)).await.expect("job");
    assert_eq!(outcome.sent, 1);
    let got = received(&w.notify);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].notification_type,
        notify_sim::NotificationType::Email
    );
    assert!(outcome.plan.skipped.iter().any(|s| s.reason == "objection"));
}

#[tokio::test]
async fn a_family_that_answered_is_not_sent_the_reminder() {
    let w = world(&[ANY_PREFERENCE], |_| {}).await;
    let id = child_id(&w.stack, "9990000018").await;
    w.stack
        .store()
        .record_response(&team(), &id, "hpv", "consent_given")
        .await
        .expect("response");
    let mut reminder = job(&id);
    reminder.purpose = Purpose::ConsentReminder;
    let outcome = w.dispatcher.handle_job(&reminder).await.expect("job");
    assert_eq!(outcome.sent, 0);
    assert_eq!(outcome.plan.skipped[0].reason, "answered");
    assert!(received(&w.notify).is_empty());
}

#[tokio::test]
async fn two_attempts_at_the_same_job_at_once_send_one_email() {
    let w = world(&[EMAIL_ONLY], |c| c.latency = Duration::from_millis(300)).await;
    let id = child_id(&w.stack, "9990000018").await;
    let the_job = job(&id);
    let (a, b) = tokio::join!(
        w.dispatcher.handle_job(&the_job),
        w.dispatcher.handle_job(&the_job)
    );
    let sent = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Ok(o) if o.sent == 1))
        .count();
    // The other attempt either meets the first one in flight and backs off, or — when the
    // first finished before it looked — finds the message already sent.
    let stood_back = [&a, &b]
        .iter()
        .filter(|r| {
            matches!(r, Err(DispatchError::InFlight)) || matches!(r, Ok(o) if o.already_sent == 1)
        })
        .count();
    assert_eq!(
        (sent, stood_back),
        (1, 1),
        "one sends, the other does not: {a:?} {b:?}"
    );
    assert_eq!(received(&w.notify).len(), 1);
}

#[tokio::test]
async fn one_batch_of_different_families_reads_each_familys_own_records() {
    // Three children in one SQS batch: email only; an objection to texts; and a family whose
    // email has failed before. The batch's records are read together; each family must still
    // get exactly what its own records allow.
    let objecting = "Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,1 High Street,London,Tom Jones,tom.jones@example.com,07700 900124,";
    let failed = "Cara,Khan,2013-07-03,SW1A 1AA,123456,9990000034,2 High Street,London,Ali Khan,ali.khan@example.com,07700 900125,email";
    let w = world(&[EMAIL_ONLY, objecting, failed], |_| {}).await;
    let ava = child_id(&w.stack, "9990000018").await;
    let ben = child_id(&w.stack, "9990000026").await;
    let cara = child_id(&w.stack, "9990000034").await;
    w.stack
        .store()
        .record_objection(&team(), &ben, "obj-1", "text", None, false, None)
        .await
        .expect("objection");
    w.stack
        .store()
        .set_detail_status(&team(), "email:ali.khan@example.com", "failed")
        .await
        .expect("status");

    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = [&ava, &ben, &cara]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
            m.message_id = Some(format!("m{i}"));
            m.body = Some(serde_json::to_string(&job(id)).unwrap());
            m
        })
        .collect();
    let response = w.dispatcher.handle_batch(event).await.expect("batch");
    assert!(response.batch_item_failures.is_empty());

    let mut got: Vec<(String, String)> = received(&w.notify)
        .into_iter()
        .map(|n| (n.to.clone(), format!("{:?}", n.notification_type)))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("+447700900125".to_owned(), "Sms".to_owned()),
            ("sarah.smith@example.com".to_owned(), "Email".to_owned()),
            ("tom.jones@example.com".to_owned(), "Email".to_owned()),
        ],
        "Ava gets her email; Ben gets no text; Cara's failed email falls back to her text"
    );
}

#[tokio::test]
async fn every_token_two_dispatchers_take_comes_out_of_the_one_shared_bucket() {
    use sais_shared::store::pacer::Pacer;
    // 60 a minute: Notify's burst is 21, ours 90 % of 20 = 18 tokens, refilled at ~1 a second.
    let stack = LocalStack::isolated().await.expect("local stack");
    let a = Pacer::new(
        stack.clients.dynamodb.clone(),
        stack.table(),
        "NOTIFY#test",
        60,
    );
    let b = Pacer::new(
        stack.clients.dynamodb.clone(),
        stack.table(),
        "NOTIFY#test",
        60,
    );
    for i in 0..12 {
        let pacer = if i % 2 == 0 { &a } else { &b };
        pacer.acquire().await.expect("token");
    }
    let item = stack
        .clients
        .dynamodb
        .get_item()
        .table_name(stack.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("NOTIFY#test".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PACER".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("pacer item")
        .item
        .expect("the bucket exists");
    let left: i64 = item["tokens_milli"].as_n().unwrap().parse().unwrap();
    // Each instance takes tokens in blocks (at most 5), so the bucket has paid for at least the
    // 12 used; a few seconds of refill at most adds a few more.
    assert!(
        left <= 18_000 - 12_000 + 3_000,
        "the shared bucket still holds {left} milli-tokens after 12 sends"
    );
}

/// Each step of a send failing because of our own infrastructure or a passing Notify fault:
/// the job fails (SQS delivers it again), and no recipient, message or contact detail is
/// blamed. The dispatcher's table and queue calls go through a fault proxy in front of moto.
mod each_step_of_a_send {
    use super::*;
    use fault_proxy::{Fault, FaultProxy, Rule, Service};

    struct Faulty {
        w: World,
        proxy: FaultProxy,
        child: String,
    }

    /// `rows` ingested without faults; a dispatcher whose AWS calls go through the proxy, with
    /// the SDK's standard retries (fast backoff) as on Lambda, and leases over at once.
    async fn faulty(rows: &[&str], configure: impl FnOnce(&mut notify_sim::Config)) -> Faulty {
        let w = world(rows, configure).await;
        let (dispatcher, proxy) = e2e::dispatcher_through_proxy(&w.stack, &w.notify).await;
        let child = child_id(&w.stack, "9990000018").await;
        Faulty {
            w: World { dispatcher, ..w },
            proxy,
            child,
        }
    }

    impl Faulty {
        /// Every contact-detail status and every message's (state, status), read past the proxy.
        async fn statuses(&self) -> (Vec<(String, String)>, Vec<(String, String)>) {
            let text =
                |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
                 n: &str| {
                    i.get(n)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
            let details = self
                .w
                .stack
                .items_of_type("contact_status")
                .await
                .expect("scan")
                .iter()
                .map(|i| (text(i, "detail"), text(i, "status")))
                .collect();
            let messages = self
                .w
                .stack
                .items_of_type("message")
                .await
                .expect("scan")
                .iter()
                .map(|i| (text(i, "state"), text(i, "status")))
                .collect();
            (details, messages)
        }

        /// After the fault: nothing blamed; then, faults gone, the retry sends exactly once.
        async fn retry_sends_once(&self, sent_before: usize) {
            let (details, messages) = self.statuses().await;
            assert!(details.is_empty(), "no contact detail marked: {details:?}");
            assert!(
                messages.iter().all(|(state, _)| state != "failed"),
                "no message recorded as failed: {messages:?}"
            );
            assert_eq!(received(&self.w.notify).len(), sent_before);
            self.proxy.clear();
            self.w.notify.sim.clear_faults();
            let retried = self
                .w
                .dispatcher
                .handle_job(&job(&self.child))
                .await
                .expect("the retry succeeds");
            assert_eq!(retried.sent + retried.already_sent, 1);
            assert_eq!(retried.permanent_failures, 0);
            assert_eq!(received(&self.w.notify).len(), 1, "sent exactly once");
            let (details, messages) = self.statuses().await;
            assert!(details.is_empty(), "no contact detail marked: {details:?}");
            assert_eq!(messages, vec![("sent".to_owned(), "created".to_owned())]);
        }
    }

    #[tokio::test]
    async fn a_throttled_pacer_fails_the_job_and_blames_nobody() {
        let f = faulty(&[EMAIL_ONLY], |_| {}).await;
        // As a new on-demand table does under a burst: the pacer's item is throttled.
        f.proxy.add(
            Rule::new(Fault::Throttle)
                .service(Service::DynamoDb)
                .pattern("PACER")
                .always(),
        );
        let result = f.w.dispatcher.handle_job(&job(&f.child)).await;
        assert!(
            matches!(result, Err(DispatchError::Pacer(_))),
            "a pacer failure is the pacer's: {result:?}"
        );
        f.retry_sends_once(0).await;
    }

    #[tokio::test]
    async fn a_failed_intent_put_fails_the_job_and_blames_nobody() {
        let f = faulty(&[EMAIL_ONLY], |_| {}).await;
        f.proxy.add(
            Rule::new(Fault::ServerError)
                .service(Service::DynamoDb)
                .operation("PutItem")
                .pattern(r#""state":{"S":"intent"}"#)
                .always(),
        );
        let result = f.w.dispatcher.handle_job(&job(&f.child)).await;
        assert!(matches!(result, Err(DispatchError::Store(_))), "{result:?}");
        assert!(f.statuses().await.1.is_empty(), "no message record");
        f.retry_sends_once(0).await;
    }

    #[tokio::test]
    async fn a_notify_outage_fails_the_job_and_blames_nobody() {
        let f = faulty(&[EMAIL_ONLY], |_| {}).await;
        f.w.notify
            .sim
            .inject(notify_sim::FaultMode::Error500, 10, None);
        let result = f.w.dispatcher.handle_job(&job(&f.child)).await;
        assert!(
            matches!(result, Err(DispatchError::Notify(_))),
            "{result:?}"
        );
        f.retry_sends_once(0).await;
    }

    #[tokio::test]
    async fn a_failed_status_update_after_notify_accepted_fails_the_job_and_is_reconciled() {
        let f = faulty(&[EMAIL_ONLY], |_| {}).await;
        f.proxy.add(
            Rule::new(Fault::ServerError)
                .service(Service::DynamoDb)
                .operation("UpdateItem")
                .pattern("#status = :intent")
                .always(),
        );
        let result = f.w.dispatcher.handle_job(&job(&f.child)).await;
        assert!(matches!(result, Err(DispatchError::Store(_))), "{result:?}");
        // Notify has it; the record is still the intent, and the retry finds it by reference.
        f.retry_sends_once(1).await;
    }

    #[tokio::test]
    async fn a_failed_requeue_of_a_held_job_fails_the_job_and_blames_nobody() {
        let f = faulty(&[EMAIL_ONLY], |c| c.daily_limits.email = 0).await;
        f.proxy.add(
            Rule::new(Fault::Throttle)
                .service(Service::Sqs)
                .operation("SendMessage")
                .always(),
        );
        let result = f.w.dispatcher.handle_job(&job(&f.child)).await;
        assert!(
            matches!(result, Err(DispatchError::Requeue(_))),
            "{result:?}"
        );
        let (details, messages) = f.statuses().await;
        assert!(details.is_empty(), "no contact detail marked: {details:?}");
        assert!(
            messages.iter().all(|(state, _)| state != "failed"),
            "{messages:?}"
        );
        assert_eq!(received(&f.w.notify).len(), 0);
        // The queue takes it once it can: the job is held again, not lost.
        f.proxy.clear();
        let held =
            f.w.dispatcher
                .handle_job(&job(&f.child))
                .await
                .expect("held");
        assert!(held.held);
    }

    #[tokio::test]
    async fn a_letter_whose_sender_died_after_recording_it_is_still_polled() {
        // No email or phone: a letter to the child's address.
        let f = faulty(
            &["Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,10 Downing Street,London,Sarah Smith,,,"],
            |_| {},
        )
        .await;
        f.proxy.add(
            Rule::new(Fault::CrashAfterForward)
                .service(Service::DynamoDb)
                .operation("UpdateItem")
                .pattern("#status = :intent"),
        );
        let mut crashed = f.proxy.crashed();
        crashed.borrow_and_update();
        // The process dies once the record of the letter is written, before it opens the letter
        // for polling: its future is dropped there.
        let first = job(&f.child);
        tokio::select! {
            r = f.w.dispatcher.handle_job(&first) => panic!("the crash did not happen: {r:?}"),
            _ = crashed.changed() => {}
        }
        assert_eq!(received(&f.w.notify).len(), 1);
        assert!(
            f.w.stack
                .store()
                .open_letters()
                .await
                .expect("letters")
                .is_empty()
        );
        // SQS delivers the job again: nothing is sent again, and the letter is polled.
        f.proxy.clear();
        let retried =
            f.w.dispatcher
                .handle_job(&job(&f.child))
                .await
                .expect("retry");
        assert_eq!((retried.sent, retried.already_sent), (0, 1));
        assert_eq!(received(&f.w.notify).len(), 1);
        let open = f.w.stack.store().open_letters().await.expect("letters");
        assert_eq!(open.len(), 1, "the letter's status will be read");
    }
}
