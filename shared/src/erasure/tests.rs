//! An erasure on a fake table: the detail goes from everywhere, only its marker stays, and an
//! erasure that failed half-way has already stopped every send and is finished by a rerun.

use time::macros::datetime;

use super::*;
use crate::fakes::FakeErasureTable;

const EMAIL: &str = "sarah.smith@example.com";

fn team() -> TeamCode {
    TeamCode::parse("RYG-sais").expect("team code")
}

/// Ava's mother holds the email; Ben's parent another; two messages went to it, one to Ben's;
/// Ava's objection names her mother by it.
fn table(keyed: bool) -> FakeErasureTable {
    let t = FakeErasureTable::new(Clock::fixed(datetime!(2027-02-17 10:00 UTC)), keyed);
    t.statuses
        .lock()
        .expect("lock")
        .insert(format!("email:{EMAIL}"), "failed".into());
    let mut parents = t.parents.lock().expect("lock");
    parents.insert(
        "ava".into(),
        vec![format!("email:{EMAIL}"), "phone:+447700900123".into()],
    );
    parents.insert("ben".into(), vec!["email:ben.parent@example.com".into()]);
    drop(parents);
    t.objections
        .lock()
        .expect("lock")
        .insert("ava".into(), vec![EMAIL.into()]);
    let mut recipients = t.recipients.lock().expect("lock");
    recipients.insert("m1".into(), EMAIL.into());
    recipients.insert("m2".into(), EMAIL.into());
    recipients.insert("m3".into(), "ben.parent@example.com".into());
    drop(recipients);
    t
}

async fn erase(t: &FakeErasureTable) -> Result<Erasure, StoreError> {
    erase_detail(
        t,
        &team(),
        &format!("email:{EMAIL}"),
        "J Smith, SAIS admin",
        ErasureReason::SeriousHarm,
        &[],
    )
    .await
}

#[tokio::test]
async fn the_detail_goes_from_every_record_and_only_its_marker_is_kept() {
    let t = table(true);
    let outcome = erase(&t).await.expect("erased");
    assert_eq!(
        (
            outcome.children,
            outcome.messages,
            outcome.objections,
            outcome.inbound_texts
        ),
        (1, 2, 1, 0)
    );
    assert_eq!(outcome.detail_kind, "email");
    assert!(
        !t.dump().contains(EMAIL),
        "the address is nowhere: {}",
        t.dump()
    );
    let marker = t.log.lock().expect("lock")[0].2.clone();
    assert_eq!(
        t.statuses
            .lock()
            .expect("lock")
            .get(&marker)
            .map(String::as_str),
        Some("erased")
    );
    assert_eq!(
        t.parents.lock().expect("lock")["ava"],
        ["phone:+447700900123"]
    );
    assert_eq!(
        t.recipients.lock().expect("lock")["m3"],
        "ben.parent@example.com"
    );
    assert_eq!(
        t.on_children.lock().expect("lock").as_slice(),
        [("ava".to_owned(), outcome.erasure_id.clone())],
        "recorded on the child concerned only"
    );
}

#[tokio::test]
async fn an_erasure_that_failed_half_way_already_stops_sends_and_a_rerun_finishes_it() {
    let t = table(true);
    t.fail("erase_sent_and_received", 1);
    assert!(erase(&t).await.is_err());
    // The marker went first: the dispatcher already treats the detail as erased.
    assert!(
        t.statuses
            .lock()
            .expect("lock")
            .values()
            .any(|s| s == "erased")
    );
    assert!(t.log.lock().expect("lock").is_empty(), "not logged as done");
    assert_eq!(t.recipients.lock().expect("lock")["m1"], EMAIL);

    let rerun = erase(&t).await.expect("finished");
    assert_eq!(rerun.messages, 2);
    assert!(!t.dump().contains(EMAIL), "{}", t.dump());
    assert_eq!(t.log.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_detail_of_another_shape_or_a_missing_key_is_refused_and_changes_nothing() {
    for (keyed, detail) in [
        (true, "sarah.smith@example.com"),
        (true, "email:"),
        (true, "address:10 Downing Street"),
        (false, "email:sarah.smith@example.com"),
    ] {
        let t = table(keyed);
        let before = t.dump();
        let result = erase_detail(
            &t,
            &team(),
            detail,
            "J Smith",
            ErasureReason::Correction,
            &[],
        )
        .await;
        let error = result.expect_err("refused").to_string();
        assert!(!error.contains("sarah"), "no personal data in: {error}");
        assert_eq!(t.dump(), before, "{detail}: nothing changed");
    }
}
