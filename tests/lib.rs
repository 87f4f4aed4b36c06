//! Shared helpers for the end-to-end tests (the local stack itself lives in
//! `sais_local`, so the demo and the benchmarks use the same code).

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sais_local::LocalStack;

/// Receives messages from a queue until `want` have arrived or `timeout` passes, and wraps them
/// in the SQS event Lambda would deliver.
pub async fn receive_event(
    stack: &LocalStack,
    queue_url: &str,
    want: usize,
    timeout: Duration,
) -> SqsEvent {
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < want && Instant::now() < deadline {
        let out = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive_message");
        for m in out.messages.unwrap_or_default() {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id;
            record.receipt_handle = m.receipt_handle;
            record.body = m.body;
            record.md5_of_body = m.md5_of_body;
            record.event_source = Some("aws:sqs".into());
            record.aws_region = Some(sais_local::REGION.into());
            records.push(record);
        }
    }
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Uploads `csv` to the stack's bucket under `key` and runs the real ingest on it, as the S3
/// notification would.
pub async fn upload_and_ingest(stack: &LocalStack, key: &str, csv: String) {
    stack
        .put_and_ingest(&stack.ingest(), key, csv.into_bytes())
        .await
        .expect("upload and ingest");
}

/// The bytes of an object in the stack's bucket, if it is there.
pub async fn read_object(stack: &LocalStack, key: &str) -> Option<Vec<u8>> {
    let out = stack
        .clients
        .s3
        .get_object()
        .bucket(stack.bucket())
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.ok()?.into_bytes().to_vec())
}

/// The report ingest wrote for the upload at `key` (`<team>/reports/<file>.report.json`), or
/// null when there is none.
pub async fn report_of(stack: &LocalStack, key: &str) -> serde_json::Value {
    let team = key.split('/').next().unwrap_or_default();
    let name = key.rsplit('/').next().unwrap_or_default();
    match read_object(stack, &format!("{team}/reports/{name}.report.json")).await {
        Some(bytes) => serde_json::from_slice(&bytes).expect("a JSON report"),
        None => serde_json::Value::Null,
    }
}

/// A fault-injecting proxy in front of moto's DynamoDB: moto never returns `UnprocessedItems`
/// or throttles, so this stands in for a busy table. Every `BatchWriteItem` with more than one
/// item has only its first half forwarded and the rest returned as `UnprocessedItems`; every
/// third `BatchWriteItem` is answered with a `ThrottlingException` without being forwarded.
/// All other calls pass through untouched.
pub mod dynamo_faults {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use serde_json::{Value, json};

    /// Counts of what the proxy did.
    #[derive(Debug, Default)]
    pub struct Counters {
        /// BatchWriteItem calls received.
        pub batch_calls: AtomicU64,
        /// Items handed back as unprocessed.
        pub unprocessed: AtomicU64,
        /// Calls answered with a throttling error.
        pub throttled: AtomicU64,
    }

    struct Proxy {
        upstream: String,
        client: reqwest::Client,
        counters: Arc<Counters>,
    }

    /// Starts the proxy; returns its endpoint and counters.
    pub async fn start(upstream: &str) -> (String, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let state = Arc::new(Proxy {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            counters: counters.clone(),
        });
        let app = axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), counters)
    }

    async fn forward(p: &Proxy, headers: &HeaderMap, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let mut request = p.client.post(&p.upstream).body(body);
        for name in [
            "x-amz-target",
            "content-type",
            "authorization",
            "x-amz-date",
        ] {
            if let Some(v) = headers.get(name) {
                request = request.header(name, v.as_bytes());
            }
        }
        let response = request.send().await.expect("moto answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        (status, response.bytes().await.expect("body").to_vec())
    }

    async fn handle(State(p): State<Arc<Proxy>>, headers: HeaderMap, body: Bytes) -> Response {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let json_type = [("content-type", "application/x-amz-json-1.0")];
        if !target.ends_with(".BatchWriteItem") {
            let (status, bytes) = forward(&p, &headers, body.to_vec()).await;
            return (status, json_type, bytes).into_response();
        }
        let call = p.counters.batch_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call % 3 == 0 {
            p.counters.throttled.fetch_add(1, Ordering::SeqCst);
            let error = json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput."
            });
            return (StatusCode::BAD_REQUEST, json_type, error.to_string()).into_response();
        }
        let mut request: Value = serde_json::from_slice(&body).expect("json body");
        let items = request["RequestItems"]
            .as_object_mut()
            .expect("RequestItems");
        let (table, writes) = items.iter_mut().next().expect("one table");
        let table = table.clone();
        let all = writes.as_array().cloned().unwrap_or_default();
        let keep = all.len().div_ceil(2);
        let (sent, held) = all.split_at(keep);
        *writes = Value::Array(sent.to_vec());
        let (status, bytes) = forward(&p, &headers, request.to_string().into_bytes()).await;
        if !status.is_success() || held.is_empty() {
            return (status, json_type, bytes).into_response();
        }
        p.counters
            .unprocessed
            .fetch_add(held.len() as u64, Ordering::SeqCst);
        let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
        answer["UnprocessedItems"] = json!({ table: held });
        (status, json_type, answer.to_string()).into_response()
    }
}

/// Collects every log line written on this thread (as the JSON a function's logs would be).
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The process-wide capture: every log line any test in this test binary writes, as JSON at
    /// DEBUG and above for our code, INFO and above for libraries. A global subscriber, because per-thread ones race with tracing's
    /// callsite-interest cache when tests run in parallel (lines go missing).
    pub fn global() -> &'static Captured {
        static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        CAPTURED.get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            // Our crates at DEBUG; everything else (the AWS SDK, hyper) at INFO, as the functions
            // run (RUST_LOG=info). The SDK's DEBUG lines carry random request ids, which now and
            // then contain a test's name ("Ava") by chance.
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "info,sais_shared=debug,e2e=debug,webhook=debug,dispatch=debug",
                ))
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the test binaries");
            captured
        })
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// A dispatcher on `stack` whose AWS calls go through a fault proxy in front of moto, with the
/// SDK's standard retries (fast backoff) as on Lambda, and leases over at once (so a retry may
/// take over from an attempt that died).
pub async fn dispatcher_through_proxy(
    stack: &LocalStack,
    notify: &sais_local::LocalNotify,
) -> (sais_shared::dispatch::Dispatcher, fault_proxy::FaultProxy) {
    use sais_shared::aws::{AwsClients, local_sdk_config};
    let proxy = fault_proxy::FaultProxy::start(&stack.endpoint)
        .await
        .expect("proxy");
    let config = local_sdk_config(&proxy.endpoint(), sais_local::REGION)
        .to_builder()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    let mut through = stack.clone();
    through.clients = AwsClients::from_config(&config);
    let dispatcher = through
        .dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_millis(500),
        )
        .expect("dispatcher")
        .with_lease_seconds(0);
    (dispatcher, proxy)
}

/// Makes the next update that records a send (after Notify accepted it) "kill" its attempt:
/// the proxy holds the request and signals; [`run_until_crash`] then drops the attempt.
pub fn crash_after_notify_accepted(proxy: &fault_proxy::FaultProxy) {
    proxy.add(
        fault_proxy::Rule::new(fault_proxy::Fault::CrashBeforeForward)
            .service(fault_proxy::Service::DynamoDb)
            .operation("UpdateItem")
            .pattern("#status = :intent"),
    );
}

/// Runs `attempt` until the proxy signals a crash, then drops it mid-flight, as Lambda does to
/// an invocation that dies: nothing after the crash point runs. Panics if it ends first.
pub async fn run_until_crash<T: std::fmt::Debug>(
    proxy: &fault_proxy::FaultProxy,
    attempt: impl std::future::Future<Output = T>,
) {
    let mut crashed = proxy.crashed();
    crashed.borrow_and_update();
    tokio::select! {
        ended = attempt => panic!("the attempt should have died, but ended: {ended:?}"),
        _ = crashed.changed() => {}
    }
}

/// The team every end-to-end test works as.
pub const TEAM: &str = "RYG-sais";

/// The campaign most tests send for (see [`campaign`]).
pub const CAMPAIGN: &str = "hpv-2026-autumn";

/// [`TEAM`] as a team code.
pub fn team() -> sais_shared::uploads::TeamCode {
    sais_shared::uploads::TeamCode::parse(TEAM).expect("a valid team code")
}

/// [`CAMPAIGN`]: HPV at school 123456, first session 3 December 2026, templates for every
/// purpose and channel.
pub fn campaign() -> sais_shared::campaign::Campaign {
    sais_local::example_campaign(CAMPAIGN, "hpv", time::macros::date!(2026 - 12 - 03))
}

/// The child id ingest gave the child with this NHS number.
pub async fn child_id(stack: &LocalStack, nhs: &str) -> String {
    let items = stack.items_of_type("child").await.expect("scan");
    let item = items
        .into_iter()
        .find(|i| {
            i.get("nhs_number")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(nhs)
        })
        .expect("the child");
    item["child_id"].as_s().expect("id").clone()
}

/// The first-attempt job for `child_id` and `purpose` in [`CAMPAIGN`], as the schedule queues it.
pub fn job(
    child_id: &str,
    purpose: sais_shared::policy::Purpose,
) -> sais_shared::dispatch::SendJob {
    sais_shared::dispatch::SendJob::new(
        &team(),
        CAMPAIGN,
        child_id,
        purpose,
        sais_shared::dispatch::JobKind::Campaign,
    )
}

/// Runs every job on the stack's send queue through `dispatcher` (the day's, then the
/// fallbacks and retries the webhook queues) until Notify's callbacks and the queue are both
/// quiet, as the event source mapping would.
pub async fn settle(
    stack: &sais_local::LocalStack,
    notify: &sais_local::LocalNotify,
    dispatcher: &sais_shared::dispatch::Dispatcher,
) {
    for _ in 0..20 {
        assert!(
            notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(20))
                .await,
            "callbacks finish"
        );
        let out = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&stack.send_queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return;
        }
        for m in messages {
            let job: sais_shared::dispatch::SendJob =
                serde_json::from_str(m.body().expect("body")).expect("job");
            dispatcher.handle_job(&job).await.expect("queued job");
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&stack.send_queue_url)
                .receipt_handle(m.receipt_handle().expect("handle"))
                .send()
                .await
                .expect("delete");
        }
    }
    panic!("the send queue never went quiet");
}
