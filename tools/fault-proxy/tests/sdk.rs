//! The proxy in front of a real moto, driven by the real AWS SDK: every fault is seen by the SDK
//! as the service's own error (or as a dropped connection, a slow answer, no answer at all), and
//! its standard retry classifier treats it as it would on AWS.
//!
//! Run with `PATH=$PWD/.venv/bin:$PATH scripts/with-moto.sh cargo test -p fault-proxy`.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::retry::ErrorKind;
use common::{Stack, get, put, standard_retries, status, unique};
use fault_proxy::{Budget, Fault, Rule, Seen, Service};

fn faults(log: &[Seen]) -> Vec<Option<&str>> {
    log.iter().map(|s| s.fault.as_deref()).collect()
}

#[tokio::test]
async fn dynamodb_throttle_is_provisioned_throughput_exceeded_and_retried() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let once = stack.ddb(RetryConfig::disabled());
    let retrying = stack.ddb(standard_retries());
    let put_rule = |n| {
        Rule::new(Fault::Throttle)
            .service(Service::DynamoDb)
            .operation("PutItem")
            .times(n)
    };

    // Retries off: the one throttled attempt is the answer.
    stack.proxy.add(put_rule(1));
    let err = put(&once, &table, "A").await.unwrap_err();
    assert_eq!(status(&err), Some(400));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "code {:?}",
        err.code()
    );
    assert!(!stack.has_item(&table, "A").await);

    // Standard retries (3 attempts), throttled twice: the third attempt succeeds.
    stack.proxy.clear();
    stack.proxy.add(put_rule(2));
    put(&retrying, &table, "B")
        .await
        .expect("the third attempt gets through");
    assert!(stack.has_item(&table, "B").await);
    assert_eq!(stack.proxy.fired(), 3);

    // Throttled five times: all three attempts are throttled and the error comes back.
    stack.proxy.clear();
    stack.proxy.add(put_rule(5));
    let err = put(&retrying, &table, "C").await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception())
    );
    assert!(!stack.has_item(&table, "C").await);
    assert_eq!(stack.proxy.fired(), 6);

    let log = stack.proxy.log();
    assert!(
        log.iter()
            .all(|s| s.service == Service::DynamoDb && s.operation == "PutItem")
    );
    assert_eq!(
        faults(&log),
        [
            Some("Throttle"),
            Some("Throttle"),
            Some("Throttle"),
            None,
            Some("Throttle"),
            Some("Throttle"),
            Some("Throttle"),
        ]
    );
}

#[tokio::test]
async fn dynamodb_throttling_exception_and_server_error_codes() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let once = stack.ddb(RetryConfig::disabled());

    stack.proxy.add(Rule::new(Fault::ThrottlingException));
    let err = put(&once, &table, "A").await.unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(status(&err), Some(400));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_throttling_exception())
    );

    stack.proxy.add(Rule::new(Fault::ServerError));
    let err = put(&once, &table, "A").await.unwrap_err();
    assert_eq!(err.code(), Some("InternalServerError"));
    assert_eq!(status(&err), Some(500));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_internal_server_error())
    );
    assert!(!stack.has_item(&table, "A").await);

    // Both are retried by the standard classifier: one of each, then success.
    let retrying = stack.ddb(standard_retries());
    stack.proxy.add(Rule::new(Fault::ThrottlingException));
    stack.proxy.add(Rule::new(Fault::ServerError));
    put(&retrying, &table, "A")
        .await
        .expect("retried past both");
    assert!(stack.has_item(&table, "A").await);
    assert_eq!(
        faults(&stack.proxy.log()),
        [
            Some("ThrottlingException"),
            Some("ServerError"),
            Some("ThrottlingException"),
            Some("ServerError"),
            None
        ]
    );
}

#[tokio::test]
async fn sqs_throttle_is_request_throttled_and_a_pattern_selects_one_queue() {
    let stack = Stack::new().await;
    let direct = stack.sqs_direct();
    let throttled_name = unique("fp-hot");
    let other_name = unique("fp-calm");
    let mut urls = Vec::new();
    for name in [&throttled_name, &other_name] {
        urls.push(
            direct
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("queue created")
                .queue_url
                .expect("a queue URL"),
        );
    }
    let (hot, calm) = (&urls[0], &urls[1]);
    let once = stack.sqs(RetryConfig::disabled());
    let send = |url: &str| {
        once.send_message()
            .queue_url(url)
            .message_body("hello")
            .send()
    };

    stack.proxy.add(
        Rule::new(Fault::Throttle)
            .service(Service::Sqs)
            .operation("SendMessage")
            .pattern(throttled_name.clone())
            .always(),
    );
    let err = send(hot).await.unwrap_err();
    assert_eq!(err.code(), Some("RequestThrottled"));
    assert_eq!(status(&err), Some(400));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_request_throttled())
    );
    send(calm).await.expect("the other queue is untouched");

    stack.proxy.clear();
    stack
        .proxy
        .add(Rule::new(Fault::ThrottlingException).service(Service::Sqs));
    let err = send(calm).await.unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(status(&err), Some(400));

    stack
        .proxy
        .add(Rule::new(Fault::ServerError).service(Service::Sqs));
    let err = send(calm).await.unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert_eq!(err.code(), Some("InternalError"));

    // Retried: throttled, then a server error, then through.
    stack.proxy.clear();
    stack
        .proxy
        .add(Rule::new(Fault::Throttle).pattern(throttled_name.clone()));
    stack
        .proxy
        .add(Rule::new(Fault::ServerError).pattern(throttled_name.clone()));
    stack
        .sqs(standard_retries())
        .send_message()
        .queue_url(hot)
        .message_body("hello")
        .send()
        .await
        .expect("retried past both");

    let count = |url: &str| {
        let direct = direct.clone();
        let url = url.to_owned();
        async move {
            direct
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .expect("attributes")
                .attributes
                .unwrap_or_default()
                .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        }
    };
    assert_eq!(count(hot).await.as_deref(), Some("1"));
    assert_eq!(count(calm).await.as_deref(), Some("1"));
    assert!(
        stack
            .proxy
            .log()
            .iter()
            .all(|s| s.service == Service::Sqs && s.operation == "SendMessage")
    );
}

#[tokio::test]
async fn s3_slow_down_server_errors_and_head_without_a_body() {
    let stack = Stack::new().await;
    let bucket = unique("fp-bucket");
    let direct = stack.s3_direct();
    direct
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    common::REGION,
                ))
                .build(),
        )
        .send()
        .await
        .expect("bucket created");
    direct
        .put_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .body(b"a,b\n".to_vec().into())
        .send()
        .await
        .expect("object stored");
    let once = stack.s3(RetryConfig::disabled());

    stack.proxy.add(
        Rule::new(Fault::Throttle)
            .service(Service::S3)
            .operation("GetObject"),
    );
    let err = once
        .get_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SlowDown"));
    assert_eq!(status(&err), Some(503));
    assert_eq!(err.message(), Some("Please reduce your request rate."));

    stack
        .proxy
        .add(Rule::new(Fault::ThrottlingException).operation("GetObject"));
    let err = once
        .get_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(status(&err), Some(400));

    stack
        .proxy
        .add(Rule::new(Fault::ServerError).operation("HeadObject"));
    let err = once
        .head_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(500));

    stack.proxy.add(
        Rule::new(Fault::ServerError)
            .operation("PutObject")
            .pattern("in/b.csv"),
    );
    let err = once
        .put_object()
        .bucket(&bucket)
        .key("in/b.csv")
        .body(b"x\n".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert_eq!(err.code(), Some("InternalError"));
    let absent = direct
        .head_object()
        .bucket(&bucket)
        .key("in/b.csv")
        .send()
        .await
        .unwrap_err();
    assert!(
        absent.as_service_error().is_some_and(|e| e.is_not_found()),
        "the PutObject never reached moto"
    );

    // Retried: SlowDown twice, then the object.
    stack
        .proxy
        .add(Rule::new(Fault::Throttle).operation("GetObject").times(2));
    let got = stack
        .s3(standard_retries())
        .get_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .send()
        .await
        .expect("retried past SlowDown");
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"a,b\n");

    // A HEAD's throttle is the status alone; the SDK still retries it (503).
    stack
        .proxy
        .add(Rule::new(Fault::Throttle).operation("HeadObject"));
    stack
        .s3(standard_retries())
        .head_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .send()
        .await
        .expect("retried past a bodiless 503");

    let ops: Vec<(String, Option<String>)> = stack
        .proxy
        .log()
        .into_iter()
        .map(|s| (s.operation, s.fault))
        .collect();
    let o = |op: &str, fault: Option<&str>| (op.to_owned(), fault.map(str::to_owned));
    assert_eq!(
        ops,
        [
            o("GetObject", Some("Throttle")),
            o("GetObject", Some("ThrottlingException")),
            o("HeadObject", Some("ServerError")),
            o("PutObject", Some("ServerError")),
            o("GetObject", Some("Throttle")),
            o("GetObject", Some("Throttle")),
            o("GetObject", None),
            o("HeadObject", Some("Throttle")),
            o("HeadObject", None),
        ]
    );
}

#[tokio::test]
async fn secrets_manager_throttling_and_internal_service_error() {
    let stack = Stack::new().await;
    let name = unique("fp-secret");
    stack
        .secrets_direct()
        .create_secret()
        .name(&name)
        .secret_string("not-a-real-secret")
        .send()
        .await
        .expect("secret created");
    let once = stack.secrets(RetryConfig::disabled());

    stack.proxy.add(
        Rule::new(Fault::Throttle)
            .service(Service::SecretsManager)
            .operation("GetSecretValue"),
    );
    let err = once
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(status(&err), Some(400));

    stack.proxy.add(Rule::new(Fault::ServerError));
    let err = once
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_internal_service_error())
    );

    stack.proxy.add(Rule::new(Fault::Throttle));
    stack.proxy.add(Rule::new(Fault::ServerError));
    let out = stack
        .secrets(standard_retries())
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("retried past both");
    assert!(out.secret_string.is_some());
}

#[tokio::test]
async fn a_dropped_connection_is_a_dispatch_failure_and_nothing_reaches_moto() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    stack.proxy.add(
        Rule::new(Fault::DropConnection)
            .operation("PutItem")
            .pattern("DROPPED"),
    );
    let err = put(&stack.ddb(RetryConfig::disabled()), &table, "DROPPED")
        .await
        .unwrap_err();
    let SdkError::DispatchFailure(failure) = &err else {
        panic!("expected a dispatch failure, got code {:?}", err.code());
    };
    // hyper's "connection closed before message completed" (IncompleteMessage), which the SDK's
    // connector classifies as a transient error (a reset would be an I/O error).
    assert!(
        failure.as_other() == Some(ErrorKind::TransientError) || failure.is_io(),
        "the connection closed without a response"
    );
    assert!(err.raw_response().is_none(), "no response at all");
    assert!(!stack.has_item(&table, "DROPPED").await);

    // The standard classifier retries it as a transient error.
    stack
        .proxy
        .add(Rule::new(Fault::DropConnection).operation("PutItem"));
    put(&stack.ddb(standard_retries()), &table, "DROPPED")
        .await
        .expect("retried on a new connection");
    assert!(stack.has_item(&table, "DROPPED").await);
    assert_eq!(
        faults(&stack.proxy.log()),
        [Some("DropConnection"), Some("DropConnection"), None]
    );
}

#[tokio::test]
async fn latency_delays_then_forwards() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(RetryConfig::disabled());
    put(&client, &table, "SLOW").await.expect("stored");
    stack.proxy.add(
        Rule::new(Fault::Latency(Duration::from_millis(300)))
            .operation("GetItem")
            .pattern("SLOW"),
    );
    let started = Instant::now();
    let out = get(&client, &table, "SLOW").await.expect("answered late");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(out.item.is_some());
    assert_eq!(faults(&stack.proxy.log()), [None, Some("Latency")]);
}

#[tokio::test]
async fn crash_after_forward_stores_the_item_and_never_answers() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(RetryConfig::disabled());
    let mut crashed = stack.proxy.crashed();

    stack
        .proxy
        .add(Rule::new(Fault::CrashAfterForward).operation("PutItem"));
    let call = tokio::time::timeout(Duration::from_secs(1), put(&client, &table, "AFTER")).await;
    assert!(call.is_err(), "the call never completes");
    tokio::time::timeout(Duration::from_secs(5), crashed.changed())
        .await
        .expect("the crash is signalled")
        .unwrap();
    assert_eq!(*crashed.borrow_and_update(), 1);
    assert!(
        stack.has_item(&table, "AFTER").await,
        "moto applied the write"
    );

    stack
        .proxy
        .add(Rule::new(Fault::CrashBeforeForward).operation("PutItem"));
    let call = tokio::time::timeout(Duration::from_secs(1), put(&client, &table, "BEFORE")).await;
    assert!(call.is_err(), "the call never completes");
    tokio::time::timeout(Duration::from_secs(5), crashed.changed())
        .await
        .expect("the crash is signalled")
        .unwrap();
    assert_eq!(*crashed.borrow(), 2);
    assert!(
        !stack.has_item(&table, "BEFORE").await,
        "the write never reached moto"
    );

    // The abandoned calls' connections close, and the held requests go with them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stack.proxy.held() > 0 {
        assert!(Instant::now() < deadline, "held requests are released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        faults(&stack.proxy.log()),
        [Some("CrashAfterForward"), Some("CrashBeforeForward")]
    );
}

#[tokio::test]
async fn a_time_budget_fires_during_its_window_and_not_after() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(RetryConfig::disabled());
    put(&client, &table, "K").await.expect("stored");
    let window = Duration::from_millis(1000);
    stack.proxy.add(Rule {
        service: Some(Service::DynamoDb),
        operation: Some("GetItem".into()),
        pattern: None,
        skip: 0,
        fault: Fault::Throttle,
        budget: Budget::For(window),
    });
    let started = Instant::now();
    let mut during = 0;
    while started.elapsed() < window * 2 / 5 {
        let err = get(&client, &table, "K").await.unwrap_err();
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception())
        );
        during += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(during >= 2);
    tokio::time::sleep(window.saturating_sub(started.elapsed()) + Duration::from_millis(50)).await;
    for _ in 0..3 {
        get(&client, &table, "K").await.expect("the window is over");
    }
    assert_eq!(stack.proxy.fired(), during);
}

#[tokio::test]
async fn skip_lets_the_first_requests_through() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(RetryConfig::disabled());
    stack.proxy.add(
        Rule::new(Fault::ServerError)
            .operation("PutItem")
            .skip(2)
            .times(1),
    );
    put(&client, &table, "1").await.expect("skipped");
    put(&client, &table, "2").await.expect("skipped");
    assert_eq!(
        put(&client, &table, "3").await.unwrap_err().code(),
        Some("InternalServerError")
    );
    put(&client, &table, "4").await.expect("budget spent");
    assert_eq!(stack.proxy.fired(), 1);
    assert_eq!(stack.proxy.requests(), 4);
}

#[tokio::test]
async fn operation_and_pattern_select_only_their_requests() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(RetryConfig::disabled());
    for pk in ["PACER#2026-12-03", "CHILD#1"] {
        put(&client, &table, pk).await.expect("stored");
    }
    stack.proxy.add(
        Rule::new(Fault::Throttle)
            .service(Service::DynamoDb)
            .operation("UpdateItem")
            .pattern("PACER")
            .always(),
    );
    let update = |pk: &str| {
        client
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression("SET v = v + :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
    };

    get(&client, &table, "PACER#2026-12-03")
        .await
        .expect("a GetItem of the pacer is not touched");
    update("CHILD#1")
        .await
        .expect("an UpdateItem of another key is not touched");
    let err = update("PACER#2026-12-03").await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception())
    );
    let log = stack.proxy.log();
    let tail: Vec<(&str, Option<&str>)> = log[2..]
        .iter()
        .map(|s| (s.operation.as_str(), s.fault.as_deref()))
        .collect();
    assert_eq!(
        tail,
        [
            ("GetItem", None),
            ("UpdateItem", None),
            ("UpdateItem", Some("Throttle"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_are_forwarded() {
    let stack = Stack::new().await;
    let table = stack.table().await;
    let client = stack.ddb(standard_retries());
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (client, table) = (client.clone(), table.clone());
        calls.spawn(async move { put(&client, &table, &format!("P{i}")).await.is_ok() });
    }
    let mut ok = 0;
    while let Some(result) = calls.join_next().await {
        ok += usize::from(result.unwrap());
    }
    assert_eq!(ok, 64);
    assert_eq!(stack.proxy.requests(), 64);
    for i in [0, 31, 63] {
        assert!(stack.has_item(&table, &format!("P{i}")).await);
    }
}
