//! The daily run on fakes: who is queued, who is not chased and why, and that a run which
//! could not queue everyone records nothing, so running it again queues everyone once.

use time::macros::{date, datetime};

use super::*;
use crate::domain::Clock;
use crate::fakes::{FakeLedger, FakeQueue, fixtures};
use crate::policy::Purpose;

type Fake = Scheduler<FakeLedger, FakeQueue>;

const REQUEST_DAY: Date = date!(2027 - 02 - 17);
const REMINDER_DAY: Date = date!(2027 - 03 - 02);

fn team() -> TeamCode {
    TeamCode::parse("RYG-sais").expect("team code")
}

/// The campaign's school with Ava and Ben.
fn scheduler() -> Fake {
    let store = FakeLedger::without_jobs(Clock::fixed(datetime!(2027-02-17 06:00 UTC)));
    store
        .campaigns
        .lock()
        .expect("lock")
        .push((team(), fixtures::campaign()));
    let mut children = store.children.lock().expect("lock");
    for (id, name) in [("ava", "Ava"), ("ben", "Ben")] {
        let email = format!("{id}.parent@example.com");
        children.push(fixtures::facts(fixtures::child(
            id,
            name,
            &email,
            "+447700900123",
        )));
    }
    drop(children);
    Scheduler::with_ports(store, FakeQueue::default())
}

fn queued(s: &Fake) -> Vec<(String, Purpose)> {
    let mut jobs: Vec<(String, Purpose)> = s
        .queue
        .queued
        .lock()
        .expect("lock")
        .iter()
        .map(|(j, _)| (j.child_id.clone(), j.purpose))
        .collect();
    jobs.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    jobs
}

#[tokio::test]
async fn the_request_day_queues_each_child_once_and_a_second_run_queues_nobody_again() {
    let s = scheduler();
    let run = s
        .run_campaign(&team(), "hpv-y8", REQUEST_DAY)
        .await
        .expect("ran");
    assert_eq!(run.children, 2);
    assert_eq!(run.occasions.len(), 1);
    assert_eq!(run.occasions[0].purpose, "consent_request");
    assert_eq!(run.occasions[0].queued, 2);
    assert_eq!(
        queued(&s),
        [
            ("ava".to_owned(), Purpose::ConsentRequest),
            ("ben".to_owned(), Purpose::ConsentRequest)
        ]
    );
    // The same day run again (a retried invocation): everyone is already covered.
    let again = s
        .run_campaign(&team(), "hpv-y8", REQUEST_DAY)
        .await
        .expect("ran");
    assert_eq!(
        (
            again.occasions[0].queued,
            again.occasions[0].already_covered
        ),
        (0, 2)
    );
    assert_eq!(queued(&s).len(), 2);
}

#[tokio::test]
async fn a_day_before_the_requests_queues_nothing() {
    let s = scheduler();
    let run = s
        .run_campaign(&team(), "hpv-y8", date!(2027 - 02 - 10))
        .await
        .expect("ran");
    assert!(run.occasions.is_empty());
    assert!(queued(&s).is_empty());
}

#[tokio::test]
async fn the_reminder_is_not_sent_to_a_family_that_answered() {
    let s = scheduler();
    s.run_campaign(&team(), "hpv-y8", REQUEST_DAY)
        .await
        .expect("the requests");
    // Ava's parent answers before the reminder day.
    s.store.children.lock().expect("lock")[0]
        .responses
        .insert("hpv".into(), "consent_given".into());
    let run = s
        .run_campaign(&team(), "hpv-y8", REMINDER_DAY)
        .await
        .expect("ran");
    let reminder = run
        .occasions
        .iter()
        .find(|o| o.purpose == "consent_reminder")
        .expect("the reminder is due");
    assert_eq!(reminder.queued, 1);
    assert_eq!(reminder.not_chased.values().sum::<u64>(), 1, "{reminder:?}");
    assert_eq!(
        queued(&s),
        [
            ("ava".to_owned(), Purpose::ConsentRequest),
            ("ben".to_owned(), Purpose::ConsentReminder),
            ("ben".to_owned(), Purpose::ConsentRequest),
        ]
    );
}

#[tokio::test]
async fn a_queue_that_keeps_failing_fails_the_run_and_records_nothing_so_the_rerun_queues_all() {
    let s = scheduler();
    s.queue.fail(SQS_ATTEMPTS);
    let failed = s.run_campaign(&team(), "hpv-y8", REQUEST_DAY).await;
    assert!(matches!(failed, Err(ScheduleError::Queue(_))), "{failed:?}");
    assert!(
        s.store.runs.lock().expect("lock").is_empty(),
        "no run record: nobody is counted as covered"
    );
    let run = s
        .run_campaign(&team(), "hpv-y8", REQUEST_DAY)
        .await
        .expect("the rerun");
    assert_eq!(run.occasions[0].queued, 2);
    assert_eq!(queued(&s).len(), 2);
}

#[tokio::test]
async fn entries_the_queue_refused_are_sent_again_and_nobody_is_queued_twice() {
    let s = scheduler();
    s.queue.refuse_entries(1);
    let run = s
        .run_campaign(&team(), "hpv-y8", REQUEST_DAY)
        .await
        .expect("ran");
    assert_eq!(run.occasions[0].queued, 2);
    assert_eq!(
        queued(&s),
        [
            ("ava".to_owned(), Purpose::ConsentRequest),
            ("ben".to_owned(), Purpose::ConsentRequest)
        ]
    );
}

#[tokio::test]
async fn one_campaign_failing_does_not_stop_the_others_and_the_run_still_fails() {
    let s = scheduler();
    let mut other = fixtures::campaign();
    other.id = "flu-y8".into();
    other.programme = "flu".into();
    s.store
        .campaigns
        .lock()
        .expect("lock")
        .push((team(), other));
    s.store.fail("school_children", 1);
    let result = s.run_all(REQUEST_DAY).await;
    assert!(matches!(result, Err(ScheduleError::Store(_))), "{result:?}");
    let jobs = s.queue.queued.lock().expect("lock").clone();
    assert_eq!(jobs.len(), 2, "the other campaign's children were queued");
    assert!(jobs.iter().all(|(j, _)| j.campaign_id == "flu-y8"));
}
