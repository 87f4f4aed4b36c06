//! The ingest function end to end on the local stack: a real upload to the bucket, the S3
//! notification moto delivers to the ingest queue, the real handler, then what the team sees —
//! the table's contents and the report in the bucket.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{dynamo_faults, read_object, receive_event};
use sais_local::{LocalStack, REGION};
use sais_shared::aws::{AwsClients, local_sdk_config};
use sais_shared::ingest::Ingest;
use sais_shared::store::batch::RetryPolicy;

fn mavis(folder: &str, file: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/tests/data/mavis/{folder}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("test file")
}

async fn upload(stack: &LocalStack, key: &str, body: Vec<u8>) {
    stack.upload(key, body).await.expect("put_object");
}

/// The notifications for the uploads so far (moto's set-up test event included).
async fn notifications(stack: &LocalStack, uploads: usize) -> SqsEvent {
    receive_event(
        stack,
        &stack.ingest_queue_url,
        uploads + 1,
        Duration::from_secs(20),
    )
    .await
}

type Item = HashMap<String, AttributeValue>;

async fn all_items(stack: &LocalStack) -> Vec<Item> {
    let mut items = stack.all_items().await.expect("scan");
    items.sort_by(|a, b| format!("{:?}", a.get("pk")).cmp(&format!("{:?}", b.get("pk"))));
    items
}

fn children(items: &[Item]) -> Vec<&Item> {
    items
        .iter()
        .filter(|i| matches!(i.get("item_type"), Some(AttributeValue::S(t)) if t == "child"))
        .collect()
}

fn s(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        other => panic!("{name} is {other:?}"),
    }
}

async fn object_versions(stack: &LocalStack, prefix: &str) -> usize {
    stack
        .clients
        .s3
        .list_object_versions()
        .bucket(stack.bucket())
        .prefix(prefix)
        .send()
        .await
        .expect("list versions")
        .versions()
        .len()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn a_valid_cohort_upload_becomes_children_and_an_imported_report_once() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let key = "RYG-sais/cohort/Year 8 (autumn) [v2].csv";
    upload(&stack, key, mavis("cohort_import", "valid.csv")).await;
    let event = notifications(&stack, 1).await;

    let ingest = stack.ingest();
    let response = ingest.handle_batch(event.clone()).await.expect("batch");
    assert!(response.batch_item_failures.is_empty());

    let items = all_items(&stack).await;
    let kids = children(&items);
    assert_eq!(kids.len(), 3, "valid.csv has three children");
    let mut names: Vec<String> = kids.iter().map(|k| s(k, "first_name")).collect();
    names.sort();
    assert_eq!(names, ["Jennifer", "Jimmy", "Mark"]);
    let mark = kids.iter().find(|k| s(k, "first_name") == "Mark").unwrap();
    let Some(AttributeValue::L(parents)) = mark.get("parents") else {
        panic!("parents stored as a list")
    };
    assert_eq!(parents.len(), 2, "Mark has two parents");
    assert!(kids.iter().all(|k| s(k, "pk").starts_with("T#RYG-sais#C#")));

    let report_key = "RYG-sais/reports/Year 8 (autumn) [v2].csv.report.json";
    let report: serde_json::Value = serde_json::from_slice(
        &read_object(&stack, report_key)
            .await
            .expect("report written"),
    )
    .expect("report is JSON");
    assert_eq!(report["status"], "imported");
    assert_eq!(report["rows"], 3);
    assert_eq!(report["kind"], "cohort");
    assert!(
        read_object(
            &stack,
            "RYG-sais/reports/Year 8 (autumn) [v2].csv.errors.csv"
        )
        .await
        .is_none()
    );

    // The same notification again: nothing changes, not even the report.
    let versions_before = object_versions(&stack, "RYG-sais/reports/").await;
    let response = ingest.handle_batch(event).await.expect("batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        all_items(&stack).await,
        items,
        "a re-delivered event changes nothing"
    );
    assert_eq!(
        object_versions(&stack, "RYG-sais/reports/").await,
        versions_before
    );
}

#[tokio::test]
async fn a_rejected_file_writes_nothing_to_the_table_and_explains_why() {
    let stack = LocalStack::isolated().await.expect("local stack");
    upload(
        &stack,
        "RYG-sais/cohort/bad.csv",
        mavis("cohort_import", "invalid_fields.csv"),
    )
    .await;
    let ingest = stack.ingest();
    let response = ingest
        .handle_batch(notifications(&stack, 1).await)
        .await
        .expect("batch");
    assert!(response.batch_item_failures.is_empty());

    let items = all_items(&stack).await;
    assert!(
        children(&items).is_empty(),
        "nothing written from a rejected file"
    );

    let report: serde_json::Value = serde_json::from_slice(
        &read_object(&stack, "RYG-sais/reports/bad.csv.report.json")
            .await
            .expect("report"),
    )
    .expect("json");
    assert_eq!(report["status"], "rejected");
    assert!(report["errors"].as_array().is_some_and(|e| !e.is_empty()));
    let errors_csv = String::from_utf8(
        read_object(&stack, "RYG-sais/reports/bad.csv.errors.csv")
            .await
            .expect("errors.csv"),
    )
    .expect("utf-8");
    assert!(errors_csv.starts_with("ROW,COLUMN,MESSAGE\n"));
    assert!(errors_csv.contains("CHILD_NHS_NUMBER"));
}

#[tokio::test]
async fn a_class_list_in_a_folder_that_is_not_a_urn_gets_a_report_not_a_crash() {
    let stack = LocalStack::isolated().await.expect("local stack");
    upload(
        &stack,
        "RYG-sais/class-list/Oak School/9X.csv",
        mavis("class_import", "valid.csv"),
    )
    .await;
    upload(&stack, "RYG-sais/notes/readme.txt", b"hello".to_vec()).await;
    let ingest = stack.ingest();
    let response = ingest
        .handle_batch(notifications(&stack, 2).await)
        .await
        .expect("batch");
    assert!(response.batch_item_failures.is_empty());
    let report: serde_json::Value = serde_json::from_slice(
        &read_object(&stack, "RYG-sais/reports/9X.csv.report.json")
            .await
            .expect("report"),
    )
    .expect("json");
    assert_eq!(report["file_errors"][0]["code"], "invalid_urn");
    let report: serde_json::Value = serde_json::from_slice(
        &read_object(&stack, "RYG-sais/reports/readme.txt.report.json")
            .await
            .expect("report for an unsupported file"),
    )
    .expect("json");
    assert_eq!(report["status"], "rejected");
    assert!(children(&all_items(&stack).await).is_empty());
}

#[tokio::test]
async fn a_message_that_is_not_an_s3_notification_fails_so_it_is_retried_not_dropped() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let ingest = stack.ingest();
    let mut event = SqsEvent::default();
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some("{\"not\": \"s3\"}".into());
    event.records = vec![record];
    let response = ingest.handle_batch(event).await.expect("batch");
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, "m-1");
}

/// A cohort of `n` children with valid, distinct NHS numbers.
fn cohort(n: usize) -> Vec<u8> {
    let mut csv = String::from(
        "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,PARENT_1_NAME,PARENT_1_EMAIL\n",
    );
    let mut base: u64 = 999_000_000;
    let mut made = 0;
    while made < n {
        base += 1;
        let digits: Vec<u64> = base.to_string().chars().map(|c| c as u64 - 48).collect();
        let sum: u64 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => continue,
            c => c,
        };
        csv.push_str(&format!(
            "Child,Number{},2013-05-0{},SW1A 1AA,123456,{base}{check},Parent,parent{made}@example.com\n",
            letters(made),
            made % 9 + 1
        ));
        made += 1;
    }
    csv.into_bytes()
}

fn letters(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return s;
        }
    }
}

#[tokio::test]
async fn every_row_is_written_when_dynamodb_returns_unprocessed_items_and_throttles() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let (proxy, counters) = dynamo_faults::start(&stack.endpoint).await;
    let proxied = AwsClients::from_config(&local_sdk_config(&proxy, REGION));
    let clients = AwsClients {
        dynamodb: proxied.dynamodb,
        ..stack.clients.clone()
    };
    upload(&stack, "RYG-sais/cohort/big.csv", cohort(260)).await;
    let ingest = Ingest::new(clients, stack.table())
        .with_erasure_key(sais_local::LocalStack::erasure_key())
        .with_retry_policy(fast_retries());
    let response = ingest
        .handle_batch(notifications(&stack, 1).await)
        .await
        .expect("batch");
    assert!(response.batch_item_failures.is_empty());

    use std::sync::atomic::Ordering::SeqCst;
    assert!(
        counters.unprocessed.load(SeqCst) > 0,
        "the proxy held items back"
    );
    assert!(counters.throttled.load(SeqCst) > 0, "the proxy throttled");
    assert_eq!(
        children(&all_items(&stack).await).len(),
        260,
        "every row written"
    );
}

const SMALL_COHORT: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,PARENT_1_NAME,PARENT_1_EMAIL\n\
    Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,Sarah Smith,sarah@example.com\n";

/// Puts `body` at `key` and runs `ingest` on it; returns the object's tags and the report.
async fn ingest_with(
    stack: &LocalStack,
    ingest: &Ingest,
    key: &str,
    body: &str,
) -> (Vec<(String, String)>, serde_json::Value) {
    let object = stack
        .put_and_ingest(ingest, key, body.as_bytes().to_vec())
        .await
        .expect("upload and ingest");
    let tags = stack
        .clients
        .s3
        .get_object_tagging()
        .bucket(stack.bucket())
        .key(key)
        .set_version_id(object.version_id)
        .send()
        .await
        .expect("tags")
        .tag_set
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    (tags, e2e::report_of(stack, key).await)
}

#[tokio::test]
async fn raw_uploads_are_tagged_for_deletion_after_the_teams_retention_and_settings_are_not() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let ingest = stack.ingest();
    let (tags, report) =
        ingest_with(&stack, &ingest, "RYG-sais/cohort/first.csv", SMALL_COHORT).await;
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(
        tags,
        [("sais:kind".to_owned(), "upload-30d".to_owned())],
        "the deployment's default, 30 days"
    );

    let (tags, _) = ingest_with(
        &stack,
        &ingest,
        "RYG-sais/team.json",
        r#"{"name": "Leeds SAIS", "notify_api_key_secret": "sais/RYG-sais/notify", "retention": {"uploads_days": 45}}"#,
    )
    .await;
    assert!(tags.is_empty(), "team settings are kept, not expired");
    let (tags, _) = ingest_with(&stack, &ingest, "RYG-sais/cohort/second.csv", SMALL_COHORT).await;
    assert_eq!(
        tags,
        [("sais:kind".to_owned(), "upload-30d".to_owned())],
        "45 days: deleted by the 30-day rule, never kept longer than the team said"
    );
    ingest_with(
        &stack,
        &ingest,
        "RYG-sais/team.json",
        r#"{"name": "Leeds SAIS", "notify_api_key_secret": "sais/RYG-sais/notify", "retention": {"uploads_days": 14}}"#,
    )
    .await;
    let (tags, report) = ingest_with(
        &stack,
        &ingest,
        "RYG-sais/objections/o.csv",
        "CHILD_NHS_NUMBER,SCOPE,REASON,RECORDED_BY\n9990000018,text,Prefers email,SAIS nurse\n",
    )
    .await;
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(tags, [("sais:kind".to_owned(), "upload-14d".to_owned())]);
}

#[tokio::test]
async fn an_upload_older_than_the_teams_retention_is_not_read_and_its_report_says_why() {
    let stack = LocalStack::isolated().await.expect("local stack");
    ingest_with(
        &stack,
        &stack.ingest(),
        "RYG-sais/team.json",
        r#"{"name": "Leeds SAIS", "notify_api_key_secret": "sais/RYG-sais/notify", "retention": {"uploads_days": 7}}"#,
    )
    .await;
    let key = "RYG-sais/cohort/old.csv";
    let object = stack
        .upload(key, SMALL_COHORT.as_bytes().to_vec())
        .await
        .expect("upload");
    // Its event, redriven from the dead-letter queue eight days later. (S3 stamps whole
    // seconds: let the second of the upload pass before the clock moves.)
    let uploaded = time::OffsetDateTime::now_utc().unix_timestamp();
    while time::OffsetDateTime::now_utc().unix_timestamp() == uploaded {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stack.clock.advance(time::Duration::days(8));
    stack
        .ingest()
        .ingest_object(&object)
        .await
        .expect("a past-retention upload is reported, not failed");
    let report = e2e::report_of(&stack, key).await;
    assert_eq!(report["status"], "rejected");
    assert_eq!(
        report["file_errors"][0]["code"], "upload_expired",
        "{report}"
    );
    assert!(
        all_items(&stack).await.iter().all(|i| i
            .get("item_type")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            != Some("child")),
        "nothing was read into the table"
    );
}

#[test]
fn the_template_has_a_lifecycle_rule_for_every_retention_tag_the_ingest_writes() {
    let template = std::fs::read_to_string(format!(
        "{}/../infra/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for days in sais_shared::ingest::EXPIRY_PERIODS {
        let rule = format!("Value: upload-{days}d\n            ExpirationInDays: {days}\n");
        assert!(
            template.contains(&rule),
            "no 'delete after {days} days' rule"
        );
    }
    for days in [1, 6, 7, 29, 30, 45, 364, 365] {
        let value = sais_shared::ingest::expiry_tag_value(days);
        let period: u32 = value
            .trim_start_matches("upload-")
            .trim_end_matches('d')
            .parse()
            .unwrap();
        assert!(
            period <= days,
            "{days} days → {value}: kept longer than asked"
        );
    }
}
