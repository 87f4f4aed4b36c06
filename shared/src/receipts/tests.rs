//! Applying a delivery status, and releasing due retries, on fakes: each failure of our own
//! infrastructure fails the receipt (so Notify retries it) and acts once when it succeeds.

use time::macros::datetime;

use super::*;
use crate::domain::Clock;
use crate::fakes::{FakeLedger, FakeQueue};
use crate::store::keys;

type Fake = Receipts<FakeLedger, FakeQueue>;

const NOW: OffsetDateTime = datetime!(2027-02-17 09:00 UTC);

fn team() -> TeamCode {
    TeamCode::parse("RYG-sais").expect("team code")
}

fn receipts() -> Fake {
    Receipts::with_ports(
        FakeLedger::without_jobs(Clock::fixed(NOW)),
        FakeQueue::default(),
    )
}

/// A message record: `channel` to `recipient`, in `state` with `status`, on attempt `attempt`.
fn record(id: &str, channel: &str, recipient: &str, state: &str, status: &str) -> MessageRecord {
    serde_json::from_value(serde_json::json!({
        "pk": keys::message_pk(&team(), id), "sk": keys::MESSAGE_SK,
        "gsi1pk": keys::child_pk(&team(), "ava"),
        "gsi1sk": keys::message_by_child_sk("2027-02-17T08:00:00Z", id),
        "item_type": "message", "team": "RYG-sais", "message_id": id,
        "campaign_id": "hpv-y8", "child_id": "ava", "purpose": "consent_request",
        "channel": channel, "recipient": recipient, "parent_slots": [1],
        "template_id": "00000000-0000-0000-0000-000000000001",
        "personalisation": {}, "reason": "preference",
        "state": state, "notify_id": (state == "sent").then_some("6f9c1d2e-0000-4000-8000-000000000001"),
        "status": status,
        "status_history": [{"status": "intent", "at": "2027-02-17T08:00:00Z"}],
        "job_kind": "campaign", "attempt": 0, "lease_until": 0,
        "created_at": "2027-02-17T08:00:00Z", "expires_at": 0
    }))
    .expect("a message record")
}

fn email(id: &str, status: &str) -> MessageRecord {
    record(id, "email", "sarah.smith@example.com", "sent", status)
}

fn queued(r: &Fake) -> Vec<(SendJob, i32)> {
    r.queue.queued.lock().expect("lock").clone()
}

#[tokio::test]
async fn a_bounce_marks_the_address_failed_and_queues_the_fallback_once() {
    let r = receipts();
    r.store.insert(email("m1", "sending"));
    let applied = r
        .apply(&team(), "m1", &Status::PermanentFailure, NOW)
        .await
        .expect("applied");
    assert_eq!(applied, Applied::Recorded);
    assert_eq!(r.store.record("m1").status, "permanent-failure");
    assert_eq!(
        r.store
            .details
            .lock()
            .expect("lock")
            .get("email:sarah.smith@example.com"),
        Some(&"failed".to_owned())
    );
    let jobs = queued(&r);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0.kind, JobKind::Fallback);
    assert_eq!(jobs[0].0.child_id, "ava");
    // Notify delivers the same callback again: nothing more happens.
    let again = r
        .apply(&team(), "m1", &Status::PermanentFailure, NOW)
        .await
        .expect("applied");
    assert_eq!(again, Applied::Stale);
    assert_eq!(queued(&r).len(), 1, "one fallback");
}

#[tokio::test]
async fn a_queue_failure_fails_the_receipt_and_notifys_retry_queues_the_fallback_once() {
    let r = receipts();
    r.store.insert(email("m1", "sending"));
    r.queue.fail(1);
    let failed = r.apply(&team(), "m1", &Status::PermanentFailure, NOW).await;
    assert!(matches!(failed, Err(ReceiptError::Queue(_))), "{failed:?}");
    assert_eq!(
        r.store.record("m1").status,
        "sending",
        "not recorded: the webhook answers 500 and Notify sends it again"
    );
    let applied = r
        .apply(&team(), "m1", &Status::PermanentFailure, NOW)
        .await
        .expect("applied on Notify's retry");
    assert_eq!(applied, Applied::Recorded);
    assert_eq!(queued(&r).len(), 1, "one fallback, not two");
}

#[tokio::test]
async fn a_table_failure_recording_a_delivery_fails_the_receipt_and_changes_nothing() {
    let r = receipts();
    r.store.insert(email("m1", "sending"));
    r.store.fail("apply_status", 1);
    let failed = r.apply(&team(), "m1", &Status::Delivered, NOW).await;
    assert!(matches!(failed, Err(ReceiptError::Store(_))), "{failed:?}");
    assert_eq!(r.store.record("m1").status, "sending");
    assert!(r.store.details.lock().expect("lock").is_empty());
    assert!(queued(&r).is_empty());
    assert_eq!(
        r.apply(&team(), "m1", &Status::Delivered, NOW)
            .await
            .expect("applied"),
        Applied::Recorded
    );
}

#[tokio::test]
async fn a_first_temporary_failure_keeps_a_retry_for_a_day_later_and_blames_nobody() {
    let r = receipts();
    r.store.insert(email("m1", "sending"));
    r.apply(&team(), "m1", &Status::TemporaryFailure, NOW)
        .await
        .expect("applied");
    assert!(r.store.details.lock().expect("lock").is_empty());
    let due = r.store.due.lock().expect("lock").clone();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].1,
        NOW.unix_timestamp() + TEMPORARY_RETRY_AFTER_SECONDS
    );
    assert_eq!(due[0].2.kind, JobKind::Retry);
    assert_eq!(due[0].2.retry_of.as_deref(), Some("m1"));
    assert!(queued(&r).is_empty(), "not queued before it is due");

    // Released only once due; deleted only once queued.
    assert_eq!(r.release_due(NOW).await.expect("released"), 0);
    let tomorrow = NOW + time::Duration::days(1);
    r.queue.fail(1);
    assert!(r.release_due(tomorrow).await.is_err());
    assert_eq!(
        r.store.due.lock().expect("lock").len(),
        1,
        "kept for the next run"
    );
    assert_eq!(r.release_due(tomorrow).await.expect("released"), 1);
    assert!(r.store.due.lock().expect("lock").is_empty());
    assert_eq!(queued(&r)[0].0.retry_of.as_deref(), Some("m1"));
}

#[tokio::test]
async fn a_technical_failure_is_retried_with_growing_backoff_then_followed_up_by_hand() {
    let r = receipts();
    for attempt in 0..=TECHNICAL_RETRIES {
        let id = format!("m{attempt}");
        let mut m = email(&id, "sending");
        m.attempt = attempt;
        r.store.insert(m);
        r.apply(&team(), &id, &Status::TechnicalFailure, NOW)
            .await
            .expect("applied");
    }
    let delays: Vec<i32> = queued(&r).iter().map(|(_, d)| *d).collect();
    assert_eq!(delays, [300, 600, 900], "three retries, backing off");
    assert_eq!(
        r.store.follow_ups.lock().expect("lock").as_slice(),
        [(
            "ava".to_owned(),
            "consent_request".to_owned(),
            "technical_failure".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_receipt_for_an_intent_completes_it_with_notifys_id() {
    let r = receipts();
    r.store.insert(record(
        "m1",
        "email",
        "sarah.smith@example.com",
        "intent",
        "intent",
    ));
    let notify_id = uuid::Uuid::from_u128(7);
    let applied = r
        .apply_receipt(&team(), "m1", Some(notify_id), &Status::Delivered, NOW)
        .await
        .expect("applied");
    assert_eq!(applied, Applied::Recorded);
    let m = r.store.record("m1");
    assert_eq!((m.state.as_str(), m.status.as_str()), ("sent", "delivered"));
    assert_eq!(m.notify_id, Some(notify_id.to_string()));
}

#[tokio::test]
async fn a_status_notify_added_later_changes_nothing() {
    let r = receipts();
    r.store.insert(email("m1", "sending"));
    let applied = r
        .apply(&team(), "m1", &Status::parse("pending-virus-check-2"), NOW)
        .await
        .expect("applied");
    assert_eq!(applied, Applied::UnknownStatus);
    assert_eq!(r.store.record("m1").status, "sending");
    assert!(queued(&r).is_empty());
}

#[tokio::test]
async fn a_returned_letter_puts_the_child_on_the_follow_up_list_and_stops_polling_it() {
    let r = receipts();
    r.store
        .insert(record("l1", "letter", "letter", "sent", "accepted"));
    r.store.letters.lock().expect("lock").push("l1".into());
    r.apply(&team(), "l1", &Status::PermanentFailure, NOW)
        .await
        .expect("applied");
    assert_eq!(
        r.store.follow_ups.lock().expect("lock").as_slice(),
        [(
            "ava".to_owned(),
            "consent_request".to_owned(),
            "letter_permanent-failure".to_owned()
        )]
    );
    assert!(
        r.store.letters.lock().expect("lock").is_empty(),
        "no longer polled"
    );
    assert!(queued(&r).is_empty(), "a letter has no fallback");
}
