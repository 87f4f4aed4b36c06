//! Ingesting one object, on fakes: what is written, reported and marked done, and what a
//! failure of the table or the bucket leaves behind (always: the message fails and the upload
//! is processed again, never marked done unreported).

use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::domain::Clock;
use crate::fakes::ingest::{FakeBucket, FakeIngestTable};

const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,PARENT_1_NAME,PARENT_1_EMAIL\n";
const AVA: &str = "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,Sarah Smith,sarah@example.com\n";
const BEN: &str = "Ben,Jones,2013-07-09,SW1A 2AA,123456,9990000026,Tom Jones,tom@example.com\n";
const COHORT_KEY: &str = "RYG-sais/cohort/autumn.csv";
const REPORT_KEY: &str = "RYG-sais/reports/autumn.csv.report.json";
const ERRORS_KEY: &str = "RYG-sais/reports/autumn.csv.errors.csv";

struct World {
    clock: Clock,
    table: FakeIngestTable,
    bucket: FakeBucket,
    ingest: Ingest<FakeIngestTable, FakeBucket>,
}

fn world() -> World {
    let clock = Clock::fixed(datetime!(2026-12-04 09:00 UTC));
    let table = FakeIngestTable::new(clock.clone(), true);
    let bucket = FakeBucket::default();
    let quick = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let ingest = Ingest::with_ports(table.clone(), bucket.clone()).with_retry_policy(quick);
    World {
        clock,
        table,
        bucket,
        ingest,
    }
}

fn cohort(rows: &[&str]) -> Vec<u8> {
    let mut file = HEADER.to_owned();
    for row in rows {
        file.push_str(row);
    }
    file.into_bytes()
}

impl World {
    fn upload(&self, key: &str, body: &[u8]) -> ObjectCreated {
        self.bucket.upload(key, body, Some(self.clock.epoch()))
    }

    fn report(&self, key: &str) -> serde_json::Value {
        let object = self.bucket.get(key).expect("a report");
        serde_json::from_slice(&object.body).expect("the report is JSON")
    }

    fn children(&self) -> Vec<String> {
        let tables = self.table.tables();
        tables
            .children
            .values()
            .map(|c| c.first_name.as_str().to_owned())
            .collect()
    }

    fn processed(&self) -> usize {
        self.table.tables().processed.len()
    }
}

#[tokio::test]
async fn a_valid_cohort_writes_every_child_then_its_report_then_marks_it_done() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));

    let outcome = w.ingest.ingest_object(&object).await.expect("ingested");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Imported));
    assert_eq!(w.children(), ["Ava", "Ben"]);
    let report = w.report(REPORT_KEY);
    let content_type = w.bucket.get(REPORT_KEY).and_then(|r| r.content_type);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(report["status"], "imported");
    assert_eq!(report["rows_valid"], 2);
    assert_eq!(
        report["processed_at"], "2026-12-04T09:00:00Z",
        "stamped on the clock"
    );
    let tables = w.table.tables();
    let done: Vec<_> = tables.processed.values().collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, "imported");
    assert_eq!(done[0].report_key, REPORT_KEY);
    let upload_id = tables
        .latest
        .get("cohort")
        .expect("the cohort's latest upload");
    assert!(tables.children.values().all(|c| &c.upload_id == upload_id));
    let tags = w.bucket.get(COHORT_KEY).expect("the upload").tags;
    assert_eq!(tags.get(EXPIRY_TAG).map(String::as_str), Some("upload-30d"));
}

#[tokio::test]
async fn the_same_event_again_changes_nothing() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.ingest.ingest_object(&object).await.expect("first");
    let writes = w.table.tables().batch_writes;

    let again = w.ingest.ingest_object(&object).await.expect("again");

    assert_eq!(again, IngestOutcome::AlreadyProcessed);
    assert_eq!(
        w.table.tables().batch_writes,
        writes,
        "no child written twice"
    );
}

#[tokio::test]
async fn an_invalid_file_writes_no_child_and_its_errors_are_listed_beside_its_report() {
    let w = world();
    let bad = "Cy,Brown,2013-02-30,SW1A 1AA,123456,9990000018,Ann Brown,ann@example.com\n";
    let object = w.upload(COHORT_KEY, &cohort(&[AVA, bad]));

    let outcome = w.ingest.ingest_object(&object).await.expect("reported");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Rejected));
    assert!(
        w.children().is_empty(),
        "one bad row: no row of the file is written"
    );
    assert_eq!(w.report(REPORT_KEY)["status"], "rejected");
    let errors = String::from_utf8(w.bucket.get(ERRORS_KEY).expect("errors").body).unwrap();
    assert!(errors.contains("CHILD_DATE_OF_BIRTH"), "{errors}");
    let tables = w.table.tables();
    let statuses: Vec<_> = tables
        .processed
        .values()
        .map(|p| p.status.as_str())
        .collect();
    assert_eq!(statuses, ["rejected"]);
}

#[tokio::test]
async fn a_fixed_reupload_removes_the_old_list_of_errors() {
    let w = world();
    let bad = "Cy,Brown,2013-02-30,SW1A 1AA,123456,9990000018,Ann Brown,ann@example.com\n";
    let first = w.upload(COHORT_KEY, &cohort(&[bad]));
    w.ingest.ingest_object(&first).await.expect("rejected");
    assert!(w.bucket.get(ERRORS_KEY).is_some());

    let fixed = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));
    let outcome = w.ingest.ingest_object(&fixed).await.expect("imported");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Imported));
    assert!(
        w.bucket.get(ERRORS_KEY).is_none(),
        "no stale errors beside the new report"
    );
}

#[tokio::test]
async fn a_failed_report_write_fails_the_message_and_the_retry_completes_it() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));
    w.bucket.fail("put", 1);

    let failed = w.ingest.ingest_object(&object).await;

    assert!(
        matches!(
            failed,
            Err(IngestError::S3 {
                operation: "put",
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(w.processed(), 0, "never marked done unreported");
    assert!(w.bucket.get(REPORT_KEY).is_none());

    let retried = w.ingest.ingest_object(&object).await.expect("the retry");
    assert_eq!(retried, IngestOutcome::Reported(Status::Imported));
    assert_eq!(w.children(), ["Ava", "Ben"], "the same children, once each");
    assert_eq!(w.processed(), 1);
}

#[tokio::test]
async fn a_table_that_gives_up_on_writes_fails_the_message_with_no_report() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));
    w.table.fail("write_children", 1);

    let failed = w.ingest.ingest_object(&object).await;

    assert!(
        matches!(
            failed,
            Err(IngestError::Store(BatchWriteError::GaveUp { .. }))
        ),
        "{failed:?}"
    );
    assert!(
        w.bucket.get(REPORT_KEY).is_none(),
        "no report says imported"
    );
    assert_eq!(w.processed(), 0);
    assert!(!w.table.tables().latest.contains_key("cohort"));
}

#[tokio::test]
async fn a_ledger_that_cannot_be_read_fails_the_message_before_anything_is_read() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.table.fail("upload_done", 1);

    let failed = w.ingest.ingest_object(&object).await;

    assert!(matches!(failed, Err(IngestError::Ledger(_))), "{failed:?}");
    assert!(w.children().is_empty());
    assert!(w.bucket.get(REPORT_KEY).is_none());
}

#[tokio::test]
async fn a_bucket_that_fails_mid_read_is_a_retry_not_a_rejection() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.bucket.fail("open", 1);

    let failed = w.ingest.ingest_object(&object).await;

    assert!(matches!(failed, Err(IngestError::S3 { .. })), "{failed:?}");
    assert!(
        w.bucket.get(REPORT_KEY).is_none(),
        "staff are not told the file is bad"
    );
    assert_eq!(w.processed(), 0);
}

#[tokio::test]
async fn an_upload_replaced_before_it_was_read_is_left_to_its_successor() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.bucket.remove(COHORT_KEY);

    let outcome = w.ingest.ingest_object(&object).await.expect("handled");

    assert_eq!(outcome, IngestOutcome::Superseded);
    assert!(w.children().is_empty());
    assert!(w.bucket.get(REPORT_KEY).is_none());
    assert_eq!(w.processed(), 0);
}

#[tokio::test]
async fn an_upload_older_than_the_teams_retention_is_reported_and_not_read() {
    let w = world();
    let settings = br#"{"name": "Ryedale SAIS", "notify_api_key_secret": "sais/RYG-sais/notify", "retention": {"uploads_days": 7}}"#;
    let settings = w.upload("RYG-sais/team.json", settings);
    let saved = w.ingest.ingest_object(&settings).await.expect("settings");
    assert_eq!(saved, IngestOutcome::Reported(Status::Imported));
    let ten_days_ago = w.clock.epoch() - 10 * 86_400;
    let object = w
        .bucket
        .upload(COHORT_KEY, &cohort(&[AVA]), Some(ten_days_ago));

    let outcome = w.ingest.ingest_object(&object).await.expect("reported");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Rejected));
    assert!(w.children().is_empty(), "expired data is not brought back");
    let report = w.report(REPORT_KEY);
    assert_eq!(report["file_errors"][0]["code"], codes::UPLOAD_EXPIRED);
}

#[tokio::test]
async fn a_response_dated_today_on_the_clock_is_recorded_for_its_child() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));
    w.ingest.ingest_object(&object).await.expect("cohort");
    // The clock's today (a rehearsal's simulated day), not the machine's.
    w.clock.advance(time::Duration::days(30));
    let responses = format!(
        "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME,DATE\n9990000026,hpv,consent_given,{}\n",
        w.clock.today()
    );
    let object = w.upload("RYG-sais/responses/week1.csv", responses.as_bytes());

    let outcome = w.ingest.ingest_object(&object).await.expect("responses");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Imported));
    let tables = w.table.tables();
    let ben = tables
        .children
        .values()
        .find(|c| c.first_name.as_str() == "Ben")
        .expect("Ben");
    assert_eq!(
        tables.responses,
        [(ben.child_id.clone(), "hpv".into(), "consent_given".into())]
    );
}

#[tokio::test]
async fn a_responses_file_whose_record_fails_is_retried_not_reported() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.ingest.ingest_object(&object).await.expect("cohort");
    let responses = "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME\n9990000018,hpv,consent_refused\n";
    let object = w.upload("RYG-sais/responses/week1.csv", responses.as_bytes());
    w.table.fail("record_response", 1);

    let failed = w.ingest.ingest_object(&object).await;

    assert!(matches!(failed, Err(IngestError::Ledger(_))), "{failed:?}");
    assert!(
        w.bucket
            .get("RYG-sais/reports/week1.csv.report.json")
            .is_none()
    );
    let retried = w.ingest.ingest_object(&object).await.expect("retried");
    assert_eq!(retried, IngestOutcome::Reported(Status::Imported));
    assert_eq!(w.table.tables().responses.len(), 1);
}

#[tokio::test]
async fn a_detail_erased_before_is_left_out_of_a_new_upload_with_a_warning() {
    let w = world();
    let object = w.upload(COHORT_KEY, &cohort(&[AVA]));
    w.ingest.ingest_object(&object).await.expect("cohort");
    let objections = "CHILD_NHS_NUMBER,SCOPE,PARENT_EMAIL,REASON,RECORDED_BY,SERIOUS_HARM\n9990000018,all,sarah@example.com,Safeguarding,SAIS nurse,Y\n";
    let object = w.upload("RYG-sais/objections/o.csv", objections.as_bytes());
    let outcome = w.ingest.ingest_object(&object).await.expect("objections");
    assert_eq!(outcome, IngestOutcome::Reported(Status::Imported));
    let erasures = w.table.erasure().log.lock().unwrap().len();
    assert_eq!(erasures, 1, "the serious-harm objection erased the detail");

    let again = w.upload(COHORT_KEY, &cohort(&[AVA, BEN]));
    let outcome = w.ingest.ingest_object(&again).await.expect("cohort again");

    assert_eq!(outcome, IngestOutcome::Reported(Status::Imported));
    let tables = w.table.tables();
    let ava = tables
        .children
        .values()
        .find(|c| c.first_name.as_str() == "Ava")
        .unwrap();
    assert!(
        ava.parents.iter().all(|p| p.email.is_none()),
        "the erased email is not stored"
    );
    drop(tables);
    let warnings = w.report(REPORT_KEY)["warnings"].to_string();
    assert!(warnings.contains(codes::DETAIL_ERASED), "{warnings}");
}
