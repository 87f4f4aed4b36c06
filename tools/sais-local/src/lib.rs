//! The local stack: moto's standalone server standing in for S3, SQS and DynamoDB, with the
//! resources of `infra/template.yaml` created under the same physical names.
//!
//! Test support, in its own crate so that no Lambda function links it (nor the Notify simulator
//! it starts): used by the integration tests, the benchmarks, `sais demo` and `sais chaos`. Tests share one moto server per
//! process (or the one named by `SAIS_MOTO_ENDPOINT`, which `make test` starts once) and isolate
//! themselves by creating every resource under a fresh prefix, so they can run in parallel.
//!
//! moto gaps and how the code copes (see also `docs/local-stack.md`):
//! - it does not enforce `BatchWriteItem`'s 25-item limit: our writer chunks by 25 itself, and a
//!   unit test checks the chunking;
//! - it never expires TTL items: every read filters items whose `expires_at` has passed;
//! - it cannot run Lambda code or drive SQS → Lambda event-source mappings: the local runner
//!   receives from the queues itself and calls the real handlers with real SQS/S3 event shapes.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Event,
    NotificationConfiguration, QueueConfiguration, VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;

use sais_shared::aws::{AwsClients, local_sdk_config};
use sais_shared::config::ResourceNames;

/// The region the local stack uses (the service runs in London).
pub const REGION: &str = "eu-west-2";
/// moto's default account id.
pub const ACCOUNT_ID: &str = "123456789012";
/// Environment variable naming a running moto server to reuse instead of starting one.
pub const MOTO_ENDPOINT_ENV: &str = "SAIS_MOTO_ENDPOINT";

/// Why the local stack could not be started or set up.
#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    /// `moto_server` could not be found or started.
    #[error("could not start moto_server: {0} (run `make venv`, or set SAIS_MOTO_ENDPOINT)")]
    Start(String),
    /// moto did not answer in time.
    #[error("moto_server at {0} did not become ready")]
    NotReady(String),
    /// Creating a resource failed.
    #[error("creating {resource} failed: {message}")]
    Create {
        /// Which resource.
        resource: String,
        /// The SDK's error.
        message: String,
    },
}

fn create_err(resource: impl Into<String>, e: impl std::fmt::Debug) -> LocalStackError {
    LocalStackError::Create {
        resource: resource.into(),
        message: format!("{e:?}"),
    }
}

/// A moto server this process started; it is stopped when the process exits.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

static SHARED_MOTO: OnceLock<Result<String, String>> = OnceLock::new();

/// The endpoint of a moto server shared by everything in this process: `SAIS_MOTO_ENDPOINT` when
/// set, otherwise one started on a free loopback port on first use.
pub fn shared_moto_endpoint() -> Result<String, LocalStackError> {
    SHARED_MOTO
        .get_or_init(|| {
            if let Ok(endpoint) = std::env::var(MOTO_ENDPOINT_ENV)
                && !endpoint.trim().is_empty()
            {
                return Ok(endpoint.trim_end_matches('/').to_owned());
            }
            start_moto().map(|m| m.endpoint).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(LocalStackError::Start)
}

/// How to start moto: `MOTO_SERVER` (an executable taking moto_server's arguments), else this
/// crate's `python/moto_server.py` (moto's server with DynamoDB's conditional writes atomic, as
/// in AWS) run by the project's `.venv` Python, or by `python3` on `PATH`.
fn moto_command() -> Command {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Command::new(p);
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv_python = crate_dir.join("../../.venv/bin/python");
    let mut command = if venv_python.exists() {
        Command::new(venv_python)
    } else {
        Command::new("python3")
    };
    command.arg(crate_dir.join("python/moto_server.py"));
    command
}

/// A free TCP port on 127.0.0.1 (released before returning; a race with another process is
/// possible but harmless: moto then fails to bind and we report it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `moto_server` on a free loopback port and waits until it answers.
///
/// The child is spawned from a thread that lives as long as the process and asks the kernel to
/// stop it when that thread dies, so no moto is left behind by a test run, even a panicking one.
pub fn start_moto() -> Result<MotoServer, LocalStackError> {
    let port = free_port().map_err(|e| LocalStackError::Start(e.to_string()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-server".into())
        .spawn(move || {
            let mut command = moto_command();
            let program = format!("{command:?}");
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                use std::os::unix::process::CommandExt;
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            match command.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(()));
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{program}: {e}")));
                }
            }
        })
        .map_err(|e| LocalStackError::Start(e.to_string()))?;
    rx.recv()
        .map_err(|e| LocalStackError::Start(e.to_string()))?
        .map_err(LocalStackError::Start)?;

    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_listening(port, Duration::from_secs(60))
        .then_some(MotoServer {
            endpoint: endpoint.clone(),
        })
        .ok_or(LocalStackError::NotReady(endpoint))
}

fn wait_until_listening(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// One isolated copy of the service's AWS resources on a moto server.
#[derive(Debug, Clone)]
pub struct LocalStack {
    /// moto's endpoint.
    pub endpoint: String,
    /// The physical names (same convention as the SAM template).
    pub names: ResourceNames,
    /// SDK clients pointed at moto.
    pub clients: AwsClients,
    /// The ingest queue's URL.
    pub ingest_queue_url: String,
    /// The ingest dead-letter queue's URL.
    pub ingest_dlq_url: String,
    /// The send queue's URL.
    pub send_queue_url: String,
    /// The send dead-letter queue's URL.
    pub send_dlq_url: String,
    /// The one clock of everything made from this stack (shared by its clones): the system
    /// clock until a rehearsal moves it.
    pub clock: sais_shared::domain::Clock,
}

/// How many receives before a message is dead-lettered (as in the template).
pub const MAX_RECEIVE_COUNT: u32 = 5;

impl LocalStack {
    /// A fresh stack with a unique prefix on the shared moto server, for one test.
    pub async fn isolated() -> Result<Self, LocalStackError> {
        let endpoint = shared_moto_endpoint()?;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Self::create(&endpoint, &prefix).await
    }

    /// Creates every resource of the template under `prefix` on the moto server at `endpoint`.
    pub async fn create(endpoint: &str, prefix: &str) -> Result<Self, LocalStackError> {
        let names = ResourceNames::new(prefix, ACCOUNT_ID, REGION);
        let clients = AwsClients::from_config(&local_sdk_config(endpoint, REGION));

        let (ingest_queue_url, ingest_dlq_url) = create_queue_with_dlq(
            &clients.sqs,
            &names.ingest_queue(),
            &names.ingest_dlq(),
            1800,
        )
        .await?;
        let (send_queue_url, send_dlq_url) =
            create_queue_with_dlq(&clients.sqs, &names.send_queue(), &names.send_dlq(), 360)
                .await?;
        create_table(&clients.dynamodb, &names.table()).await?;
        create_bucket(&clients, &names, &ingest_queue_url).await?;

        Ok(Self {
            endpoint: endpoint.to_owned(),
            names,
            clients,
            ingest_queue_url,
            ingest_dlq_url,
            send_queue_url,
            send_dlq_url,
            clock: sais_shared::domain::Clock::system(),
        })
    }

    /// The uploads bucket's name.
    pub fn bucket(&self) -> String {
        self.names.uploads_bucket()
    }

    /// The table's name.
    pub fn table(&self) -> String {
        self.names.table()
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, LocalStackError> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| create_err(url, e))?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| create_err(url, "no QueueArn attribute"))
}

async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    dlq_name: &str,
    visibility_timeout_s: u32,
) -> Result<(String, String), LocalStackError> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(dlq_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| create_err(dlq_name, e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_s.to_string(),
        )
        .send()
        .await
        .map_err(|e| create_err(name, e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}

fn key_attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has its required fields")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element has its required fields")
}

fn gsi(name: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(&format!("{name}pk"), KeyType::Hash))
        .key_schema(key(&format!("{name}sk"), KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index has its required fields")
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), LocalStackError> {
    let mut request = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range));
    for attr in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
        request = request.attribute_definitions(key_attr(attr));
    }
    request
        .global_secondary_indexes(gsi("gsi1"))
        .global_secondary_indexes(gsi("gsi2"))
        .send()
        .await
        .map_err(|e| create_err(table, e))?;
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl spec has its required fields"),
        )
        .send()
        .await
        .map_err(|e| create_err(table, e))?;
    Ok(())
}

async fn create_bucket(
    clients: &AwsClients,
    names: &ResourceNames,
    ingest_queue_url: &str,
) -> Result<(), LocalStackError> {
    let bucket = names.uploads_bucket();
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .map_err(|e| create_err(&bucket, e))?;
    clients
        .s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| create_err(&bucket, e))?;
    let queue_arn = queue_arn(&clients.sqs, ingest_queue_url).await?;
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .map_err(|e| create_err(&bucket, e))?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| create_err(&bucket, e))?;
    Ok(())
}

/// A Notify simulator running in this process, with the API key the service uses for it.
pub struct LocalNotify {
    /// The simulator.
    pub sim: notify_sim::SimHandle,
    /// The live-looking key it accepts.
    pub api_key: String,
}

impl LocalNotify {
    /// A Notify client for the simulator (as the reminders function builds one).
    pub fn client(&self) -> Result<sais_shared::notify::NotifyClient, LocalStackError> {
        let key = sais_shared::notify::ApiKey::parse(&self.api_key)
            .map_err(|e| LocalStackError::Start(e.to_string()))?;
        sais_shared::notify::NotifyClient::new(&self.sim.base_url(), key, Duration::from_secs(10))
            .map_err(|e| LocalStackError::Start(e.to_string()))
    }

    /// A parent texts the service's number: the simulator sends the inbound-text callback.
    pub async fn text_in(&self, from: &str, message: &str) -> Result<(), LocalStackError> {
        self.text_in_at(from, message, None).await
    }

    /// As [`Self::text_in`], received at `at` (a rehearsal's day) rather than now.
    pub async fn text_in_at(
        &self,
        from: &str,
        message: &str,
        at: Option<time::OffsetDateTime>,
    ) -> Result<(), LocalStackError> {
        let mut body = serde_json::json!({"source_number": from, "message": message});
        if let Some(at) = at {
            body["received_at"] = serde_json::Value::String(
                at.format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| LocalStackError::Start(e.to_string()))?,
            );
        }
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/inbound", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .map_err(|e| LocalStackError::Start(e.to_string()))?;
        if !response.status().is_success() {
            return Err(LocalStackError::Start(format!(
                "the simulator refused an inbound text ({})",
                response.status()
            )));
        }
        Ok(())
    }
}

/// Starts the Notify simulator on a free loopback port; `configure` adjusts its settings (rate
/// limit, daily limits, latency, callbacks) before it starts.
pub async fn start_notify_sim(
    configure: impl FnOnce(&mut notify_sim::Config),
) -> Result<LocalNotify, LocalStackError> {
    let api_key =
        notify_sim::make_api_key("sais-local", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut config = notify_sim::Config::new(api_key.clone());
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| LocalStackError::Start(e.to_string()))?;
    let sim = notify_sim::spawn(config, listener)
        .await
        .map_err(|e| LocalStackError::Start(e.to_string()))?;
    Ok(LocalNotify { sim, api_key })
}

impl LocalStack {
    /// Each team's own Notify service as deployed: its settings in the table, its secrets in
    /// the emulator's Secrets Manager, `api_key` (at `notify_base_url`) for teams that name none.
    pub fn team_services(
        &self,
        notify_base_url: &str,
        api_key: &str,
        rate_limit_per_min: u32,
        notify_timeout: Duration,
    ) -> Result<sais_shared::teams::TeamServices, LocalStackError> {
        let key = sais_shared::notify::ApiKey::parse(api_key)
            .map_err(|e| LocalStackError::Start(e.to_string()))?;
        let defaults = sais_shared::teams::NotifyDefaults {
            base_url: notify_base_url.to_owned(),
            key,
            rate_limit_per_min,
            timeout: notify_timeout,
        };
        defaults
            .client()
            .map_err(|e| LocalStackError::Start(e.to_string()))?;
        Ok(sais_shared::teams::TeamServices::new(
            std::sync::Arc::new(
                sais_shared::aws::team_directory(&self.clients, &self.table())
                    .with_secret_prefix(self.names.team_secret_prefix()),
            ),
            defaults,
            self.clients.dynamodb.clone(),
            self.table(),
        ))
    }

    /// A dispatcher over this stack, sending to the Notify at `notify_base_url` (each team's
    /// own service when its settings name one, see [`Self::team_services`]).
    pub fn dispatcher(
        &self,
        notify_base_url: &str,
        api_key: &str,
        rate_limit_per_min: u32,
        notify_timeout: Duration,
    ) -> Result<sais_shared::dispatch::Dispatcher, LocalStackError> {
        let services =
            self.team_services(notify_base_url, api_key, rate_limit_per_min, notify_timeout)?;
        Ok(sais_shared::dispatch::Dispatcher::with_services(
            self.store(),
            self.clients.sqs.clone(),
            self.send_queue_url.clone(),
            services,
        ))
    }

    /// Stores a secret in the emulator's Secrets Manager, as an operator fills a team's secret.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<(), LocalStackError> {
        self.clients
            .secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| {
                LocalStackError::Start(format!(
                    "secret {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(())
    }

    /// The store over this stack's table.
    pub fn store(&self) -> sais_shared::store::Store {
        sais_shared::store::Store::new(self.clients.dynamodb.clone(), self.table())
            .with_erasure_key(Self::erasure_key())
            .with_clock(self.clock.clone())
    }

    /// The ingest function's core over this stack (with the local erasure key), making the
    /// team's reports again after an erasure, as deployed.
    pub fn ingest(&self) -> sais_shared::ingest::Ingest {
        sais_shared::ingest::Ingest::new(self.clients.clone(), self.table())
            .with_erasure_key(Self::erasure_key())
            .with_clock(self.clock.clone())
            .with_report_rewrites(self.clients.s3.clone(), self.bucket())
    }

    /// The erasure key of local stacks: fixed, and only ever used on 127.0.0.1 (in AWS the key
    /// is the `<prefix>/erasure-key` secret the template generates).
    pub fn erasure_key() -> sais_shared::store::ErasureKey {
        sais_shared::store::ErasureKey::new(b"local stack only, never a deployed erasure key")
            .expect("long enough")
    }
}

/// A campaign with a template for every purpose and channel, for tests, benchmarks and demos.
pub fn example_campaign(
    id: &str,
    programme: &str,
    first_session: time::Date,
) -> sais_shared::campaign::Campaign {
    use sais_shared::campaign::{Campaign, ChannelTemplates, Templates};
    let templates = ChannelTemplates {
        email: Some(uuid::Uuid::from_u128(1)),
        sms: Some(uuid::Uuid::from_u128(2)),
        letter: Some(uuid::Uuid::from_u128(3)),
    };
    Campaign {
        id: id.into(),
        programme: programme.into(),
        schools: vec!["123456".into()],
        year_groups: vec![],
        sessions: vec![first_session],
        consent_deadline: None,
        send_requests_on: None,
        reminder_days_before_deadline: vec![7],
        session_reminder: true,
        letters: true,
        urgent: false,
        override_grounds: None,
        templates: Templates {
            consent_request: templates.clone(),
            consent_reminder: templates.clone(),
            session_reminder: templates,
        },
        personalisation: [("programme_name".to_owned(), programme.to_uppercase())].into(),
    }
}

/// A table item.
type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

impl LocalStack {
    /// Every item of a kind (`child`, `message`, …) in the table, by scanning it.
    pub async fn items_of_type(&self, item_type: &str) -> Result<Vec<Item>, LocalStackError> {
        Ok(self
            .all_items()
            .await?
            .into_iter()
            .filter(|i| {
                i.get("item_type")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(item_type)
            })
            .collect())
    }

    /// Every item in the table, by scanning it.
    pub async fn all_items(&self) -> Result<Vec<Item>, LocalStackError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(self.table())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| create_err("scan", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Puts `body` at `key` in the bucket, as a team's upload; returns the object as its S3
    /// notification would announce it.
    pub async fn upload(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> Result<sais_shared::uploads::ObjectCreated, LocalStackError> {
        let size = body.len() as u64;
        let put = self
            .clients
            .s3
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| create_err(key, e))?;
        Ok(sais_shared::uploads::ObjectCreated {
            bucket: self.bucket(),
            key: key.to_owned(),
            version_id: put.version_id,
            etag: put.e_tag,
            size,
        })
    }

    /// Puts `body` at `key` in the bucket and runs `ingest` on it, as its S3 notification
    /// would; returns the object as announced.
    pub async fn put_and_ingest(
        &self,
        ingest: &sais_shared::ingest::Ingest,
        key: &str,
        body: Vec<u8>,
    ) -> Result<sais_shared::uploads::ObjectCreated, LocalStackError> {
        let object = self.upload(key, body).await?;
        ingest
            .ingest_object(&object)
            .await
            .map_err(|e| LocalStackError::Start(e.to_string()))?;
        Ok(object)
    }
}

/// Serves the real webhook handler over local HTTP, as the Function URL does; returns its base
/// URL (Notify's callback URL is `<base>/notify/<team>`).
pub async fn serve_webhook(
    webhook: sais_shared::webhook::Webhook,
) -> Result<String, LocalStackError> {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::Arc;

    async fn handle(
        State(webhook): State<Arc<sais_shared::webhook::Webhook>>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        let reply = webhook.handle(uri.path(), authorization, &body).await;
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [("content-type", "application/json")], reply.body).into_response()
    }

    let app = axum::Router::new()
        .fallback(axum::routing::post(handle))
        .with_state(Arc::new(webhook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| LocalStackError::Start(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| LocalStackError::Start(e.to_string()))?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}
