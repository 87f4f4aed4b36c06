//! The local stack behaves like the AWS the functions run on: real SDK calls against moto, with
//! S3 notifying the ingest queue in S3's own event format.

use std::time::Duration;

use e2e::receive_event;
use sais_local::LocalStack;
use sais_shared::uploads::{
    KeyClass, S3Notification, UploadKind, classify_key, parse_s3_notification,
};

#[tokio::test]
async fn an_upload_with_spaces_and_brackets_notifies_the_ingest_queue_with_its_key() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let key = "RYG-sais/cohort/Year 8 (autumn) [v2].csv";
    stack
        .upload(key, b"CHILD_FIRST_NAME\n".to_vec())
        .await
        .expect("put_object");

    // Like AWS, moto first sends an `s3:TestEvent` when the notification is configured.
    let event = receive_event(&stack, &stack.ingest_queue_url, 2, Duration::from_secs(20)).await;
    let (tests, created): (Vec<_>, Vec<_>) = event
        .records
        .iter()
        .map(|r| r.body.as_deref().expect("body"))
        .partition(|b| b.contains("\"s3:TestEvent\""));
    assert_eq!(
        tests.len(),
        1,
        "one test event when the notification is set up"
    );
    assert_eq!(created.len(), 1, "one notification for one upload");
    let S3Notification::Created(objects) = parse_s3_notification(created[0]).expect("an S3 event")
    else {
        panic!("expected object-created records")
    };
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].bucket, stack.bucket());
    assert_eq!(objects[0].size, 17);
    let decoded = objects[0].key.clone();
    assert_eq!(decoded, key);
    assert!(matches!(
        classify_key(&decoded),
        KeyClass::Upload(u) if u.kind == UploadKind::Cohort
    ));
}

#[tokio::test]
async fn two_isolated_stacks_do_not_see_each_others_objects() {
    let (a, b) = tokio::join!(LocalStack::isolated(), LocalStack::isolated());
    let (a, b) = (a.expect("stack a"), b.expect("stack b"));
    assert_ne!(a.bucket(), b.bucket());
    a.upload("T/cohort/a.csv", b"x".to_vec())
        .await
        .expect("put");
    let listed = b
        .clients
        .s3
        .list_objects_v2()
        .bucket(b.bucket())
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test]
async fn the_table_has_the_keys_and_indexes_of_the_template() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let table = stack
        .clients
        .dynamodb
        .describe_table()
        .table_name(stack.table())
        .send()
        .await
        .expect("describe_table")
        .table
        .expect("table");
    let mut indexes: Vec<String> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["gsi1", "gsi2"]);
}
