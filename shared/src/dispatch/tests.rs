//! The dispatcher's flow on fakes: a send job run against an in-memory table, Notify, queue and
//! pacer, with each failure injected where it matters. No moto, no simulator: milliseconds.

use time::macros::datetime;

use super::*;
use crate::domain::Clock;
use crate::fakes::{Answer, FakeLedger, FakeNotify, FakePacer, FakeQueue, fixtures};
use crate::notify::ErrorType;
use crate::policy::Purpose;
use crate::store::ChildItem;

type Fake = Dispatcher<FakeLedger, FakeQueue, OneService<FakeNotify, FakePacer>>;

const EMAIL: &str = "sarah.smith@example.com";
const PHONE: &str = "+447700900123";

fn team() -> TeamCode {
    TeamCode::parse("RYG-sais").expect("team code")
}

fn ava() -> ChildItem {
    fixtures::child("ava", "Ava", EMAIL, PHONE)
}

/// A dispatcher on fakes, for Ava, with leases of `lease_seconds`.
fn dispatcher(lease_seconds: i64) -> Fake {
    let clock = Clock::fixed(datetime!(2027-02-17 09:00 UTC));
    Dispatcher::with_ports(
        FakeLedger::new(clock, fixtures::loaded(ava()), lease_seconds),
        FakeQueue::default(),
        FakeNotify::default(),
        FakePacer::default(),
    )
}

fn job() -> SendJob {
    SendJob::new(
        &team(),
        "hpv-y8",
        "ava",
        Purpose::ConsentRequest,
        JobKind::Campaign,
    )
}

fn refused(status: u16, error: ErrorType) -> NotifyError {
    NotifyError::Api {
        status,
        error,
        message: String::new(),
        retry_after: None,
    }
}

/// (channel, state, status) of every record.
fn records(d: &Fake) -> Vec<(String, String, String)> {
    d.store
        .records()
        .into_iter()
        .map(|r| {
            (
                r.channel.as_str().to_owned(),
                r.state.as_str().to_owned(),
                r.status,
            )
        })
        .collect()
}

fn nobody_blamed(d: &Fake) {
    assert!(
        d.store.details.lock().expect("lock").is_empty(),
        "no contact detail marked"
    );
    assert!(
        d.store.records().iter().all(|r| r.state != "failed"),
        "no message marked failed"
    );
}

#[tokio::test]
async fn a_job_sends_its_email_once_and_running_it_again_sends_nothing_more() {
    let d = dispatcher(120);
    let first = d.handle_job(&job()).await.expect("sent");
    assert_eq!((first.sent, first.already_sent), (1, 0));
    let again = d.handle_job(&job()).await.expect("repeated");
    assert_eq!((again.sent, again.already_sent), (0, 1));
    let created = d.services.service().notify.created();
    assert_eq!(created.len(), 1, "one email at Notify");
    assert_eq!(created[0].to, EMAIL);
    assert_eq!(created[0].kind, crate::notify::NotificationType::Email);
    assert_eq!(
        records(&d),
        [("email".into(), "sent".into(), "created".into())]
    );
    assert_eq!(
        *d.services.service().pacer.acquired.lock().expect("lock"),
        1,
        "paced once"
    );
}

#[tokio::test]
async fn a_pacer_failure_fails_the_job_and_blames_nobody() {
    let d = dispatcher(0);
    d.services.service().pacer.fail(1);
    let result = d.handle_job(&job()).await;
    assert!(matches!(result, Err(DispatchError::Pacer(_))), "{result:?}");
    assert!(
        d.services.service().notify.created().is_empty(),
        "Notify was not called"
    );
    nobody_blamed(&d);
    // SQS delivers the job again: it sends, once.
    let retried = d.handle_job(&job()).await.expect("retried");
    assert_eq!(retried.sent, 1);
    assert_eq!(d.services.service().notify.created().len(), 1);
    nobody_blamed(&d);
}

#[tokio::test]
async fn notify_refusing_the_address_marks_it_failed_and_the_text_goes_in_the_same_run() {
    let d = dispatcher(120);
    d.services
        .service()
        .notify
        .script([Answer::Refuse(refused(400, ErrorType::ValidationError))]);
    let outcome = d.handle_job(&job()).await.expect("fell back");
    assert_eq!((outcome.sent, outcome.permanent_failures), (1, 1));
    assert_eq!(
        d.store
            .details
            .lock()
            .expect("lock")
            .get(&format!("email:{EMAIL}")),
        Some(&"failed".to_owned())
    );
    let created = d.services.service().notify.created();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0].kind, created[0].to.as_str()),
        (crate::notify::NotificationType::Sms, PHONE)
    );
    let mut got = records(&d);
    got.sort();
    assert_eq!(
        got,
        [
            ("email".into(), "failed".into(), "validation-failed".into()),
            ("sms".into(), "sent".into(), "created".into()),
        ]
    );
}

#[tokio::test]
async fn a_lost_answer_after_notify_accepted_is_reconciled_by_reference_not_resent() {
    let d = dispatcher(0);
    d.services
        .service()
        .notify
        .script([Answer::TimeOutAfterCreating]);
    let result = d.handle_job(&job()).await;
    assert!(
        matches!(result, Err(DispatchError::Notify(NotifyError::Timeout))),
        "{result:?}"
    );
    assert_eq!(
        records(&d),
        [("email".into(), "intent".into(), "intent".into())]
    );
    // The retry finds the intent, takes over its lapsed lease and asks Notify first.
    let retried = d.handle_job(&job()).await.expect("reconciled");
    assert_eq!((retried.sent, retried.already_sent), (0, 1));
    let created = d.services.service().notify.created();
    assert_eq!(created.len(), 1, "exactly one email at Notify");
    let record = d.store.records().pop().expect("record");
    assert_eq!(record.state, "sent");
    assert_eq!(record.notify_id, Some(created[0].id.to_string()));
    nobody_blamed(&d);
}

#[tokio::test]
async fn an_intent_another_attempt_still_holds_is_left_to_it() {
    let d = dispatcher(120);
    d.services
        .service()
        .notify
        .script([Answer::TimeOutAfterCreating]);
    assert!(d.handle_job(&job()).await.is_err());
    // Within the lease the other attempt may be sending right now: no second call to Notify.
    let result = d.handle_job(&job()).await;
    assert!(matches!(result, Err(DispatchError::InFlight)), "{result:?}");
    assert_eq!(d.services.service().notify.created().len(), 1);
}

#[tokio::test]
async fn a_table_failure_after_notify_accepted_fails_the_job_and_the_retry_sends_nothing_twice() {
    let d = dispatcher(0);
    d.store.fail("mark_sent", 1);
    let result = d.handle_job(&job()).await;
    assert!(matches!(result, Err(DispatchError::Store(_))), "{result:?}");
    nobody_blamed(&d);
    let retried = d.handle_job(&job()).await.expect("reconciled");
    assert_eq!((retried.sent, retried.already_sent), (0, 1));
    assert_eq!(d.services.service().notify.created().len(), 1);
    assert_eq!(
        records(&d),
        [("email".into(), "sent".into(), "sending".into())]
    );
}

#[tokio::test]
async fn a_failed_intent_put_fails_the_job_before_notify_is_called() {
    let d = dispatcher(0);
    d.store.fail("put_intent", 1);
    let result = d.handle_job(&job()).await;
    assert!(matches!(result, Err(DispatchError::Store(_))), "{result:?}");
    assert!(d.services.service().notify.created().is_empty());
    assert!(d.store.records().is_empty());
    nobody_blamed(&d);
}

#[tokio::test]
async fn a_notify_500_fails_the_job_and_the_retry_asks_notify_before_sending_once() {
    let d = dispatcher(0);
    // A 500 may have created the email: not resent in the run, never blamed on the family.
    d.services.service().notify.script([Answer::Refuse(refused(
        500,
        ErrorType::Other("Exception".into()),
    ))]);
    let result = d.handle_job(&job()).await;
    assert!(
        matches!(result, Err(DispatchError::Notify(_))),
        "{result:?}"
    );
    nobody_blamed(&d);
    let outcome = d.handle_job(&job()).await.expect("sent on the retry");
    assert_eq!((outcome.sent, outcome.already_sent), (1, 0));
    assert_eq!(d.services.service().notify.created().len(), 1);
    nobody_blamed(&d);
}

#[tokio::test]
async fn a_rate_limit_429_is_retried_in_the_run_after_draining_the_pacer_and_sent_once() {
    let d = dispatcher(0);
    d.services
        .service()
        .notify
        .script([Answer::Refuse(refused(429, ErrorType::RateLimitError))]);
    let outcome = d.handle_job(&job()).await.expect("sent on the second try");
    assert_eq!(outcome.sent, 1);
    assert_eq!(d.services.service().notify.created().len(), 1);
    assert_eq!(
        *d.services.service().pacer.acquired.lock().expect("lock"),
        2,
        "paced before each try"
    );
    nobody_blamed(&d);
}

#[tokio::test]
async fn notifys_daily_limit_holds_the_team_until_midnight_and_requeues_the_job() {
    let d = dispatcher(0);
    d.services.service().notify.script([Answer::Refuse(refused(
        429,
        ErrorType::TooManyRequestsError,
    ))]);
    let outcome = d.handle_job(&job()).await.expect("held");
    assert!(outcome.held);
    assert_eq!(d.store.holds.lock().expect("lock").as_slice(), [team()]);
    let queued = d.queue.queued.lock().expect("lock").clone();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, job());
    assert_eq!(
        queued[0].1, 900,
        "SQS's longest delay; re-checked when it comes back"
    );
    nobody_blamed(&d);
}

#[tokio::test]
async fn a_held_job_whose_requeue_fails_fails_so_sqs_keeps_it() {
    let mut held = fixtures::loaded(ava());
    held.hold = Some(std::time::Duration::from_secs(3600));
    let d = Dispatcher::with_ports(
        FakeLedger::new(Clock::fixed(datetime!(2027-02-17 09:00 UTC)), held, 0),
        FakeQueue::default(),
        FakeNotify::default(),
        FakePacer::default(),
    );
    d.queue.fail(1);
    let result = d.handle_job(&job()).await;
    assert!(
        matches!(result, Err(DispatchError::Requeue(_))),
        "{result:?}"
    );
    assert!(d.services.service().notify.created().is_empty());
    nobody_blamed(&d);
}

#[tokio::test]
async fn a_job_for_a_child_no_longer_known_sends_nothing_and_succeeds() {
    let mut gone = fixtures::loaded(ava());
    gone.facts = None;
    let d = Dispatcher::with_ports(
        FakeLedger::new(Clock::fixed(datetime!(2027-02-17 09:00 UTC)), gone, 0),
        FakeQueue::default(),
        FakeNotify::default(),
        FakePacer::default(),
    );
    let outcome = d.handle_job(&job()).await.expect("nothing to do");
    assert_eq!(outcome.sent, 0);
    assert!(d.services.service().notify.created().is_empty());
}

#[tokio::test]
async fn a_letter_is_opened_for_polling_even_when_its_first_attempt_died_before_it_could() {
    let mut child = ava();
    child.parents[0].email = None;
    child.parents[0].phone = None;
    let d = Dispatcher::with_ports(
        FakeLedger::new(
            Clock::fixed(datetime!(2027-02-17 09:00 UTC)),
            fixtures::loaded(child),
            0,
        ),
        FakeQueue::default(),
        FakeNotify::default(),
        FakePacer::default(),
    );
    // Notify accepted the letter; opening it for polling failed (Notify sends no callbacks
    // for letters, so without the poll its outcome would never be known).
    d.store.fail("open_letter", 1);
    assert!(matches!(
        d.handle_job(&job()).await,
        Err(DispatchError::Store(_))
    ));
    assert!(d.store.letters.lock().expect("lock").is_empty());
    let retried = d.handle_job(&job()).await.expect("retried");
    assert_eq!((retried.sent, retried.already_sent), (0, 1));
    let created = d.services.service().notify.created();
    assert_eq!(created.len(), 1, "one letter printed");
    assert_eq!(created[0].kind, crate::notify::NotificationType::Letter);
    let record = d.store.records().pop().expect("record");
    assert_eq!(
        d.store.letters.lock().expect("lock").as_slice(),
        [record.message_id]
    );
}
