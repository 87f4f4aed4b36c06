//! Shared helpers: a simulator per test on a free port, a signed client, and a callback receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use notify_sim::{Config, SimHandle, make_api_key, make_jwt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;

/// A running simulator with the credentials of its one API key.
pub struct Harness {
    pub sim: SimHandle,
    pub service_id: Uuid,
    pub secret: Uuid,
    pub http: reqwest::Client,
}

/// Starts a simulator with fast callbacks, after letting the test adjust the config.
pub async fn start(adjust: impl FnOnce(&mut Config)) -> Harness {
    let service_id = Uuid::new_v4();
    let secret = Uuid::new_v4();
    let mut config = Config::new(make_api_key("nhs-school-imms-test", service_id, secret));
    config.callback_delay = Duration::from_millis(50);
    config.callback_retry_interval = Duration::from_millis(100);
    adjust(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sim = notify_sim::spawn(config, listener).await.expect("spawn");
    Harness {
        sim,
        service_id,
        secret,
        http: reqwest::Client::new(),
    }
}

/// The credentials of one service's API key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub service_id: Uuid,
    pub secret: Uuid,
}

impl Key {
    /// A fresh service id and secret.
    pub fn random() -> Self {
        Self {
            service_id: Uuid::new_v4(),
            secret: Uuid::new_v4(),
        }
    }

    /// The API key as Notify shows it.
    pub fn api_key(&self) -> String {
        make_api_key("other-service-test", self.service_id, self.secret)
    }

    /// `Bearer <fresh JWT>` for this key.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", make_jwt(self.service_id, self.secret, now()))
    }
}

/// Seconds since the epoch, as a JWT `iat`.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A template id (any UUID: the simulator has no templates).
pub fn template() -> String {
    Uuid::new_v4().to_string()
}

/// A response's status and JSON body (`Null` when the body is not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `errors[i].message`.
    pub fn message(&self, i: usize) -> &str {
        self.body["errors"][i]["message"]
            .as_str()
            .unwrap_or_default()
    }

    /// `errors[i].error`.
    pub fn error(&self, i: usize) -> &str {
        self.body["errors"][i]["error"].as_str().unwrap_or_default()
    }
}

impl Harness {
    /// The base URL of the simulator.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// `Bearer <fresh JWT>` for the configured key.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", make_jwt(self.service_id, self.secret, now()))
    }

    /// The default service's credentials.
    pub fn key(&self) -> Key {
        Key {
            service_id: self.service_id,
            secret: self.secret,
        }
    }

    /// POSTs JSON as another service.
    pub async fn post_as(&self, key: &Key, path: &str, body: Value) -> Reply {
        self.post_with(path, Some(&key.bearer()), &body.to_string())
            .await
    }

    /// GETs as another service.
    pub async fn get_as(&self, key: &Key, path: &str) -> Reply {
        let resp = self
            .http
            .get(self.url(path))
            .header("authorization", key.bearer())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// An admin DELETE.
    pub async fn admin_delete(&self, path: &str) -> Reply {
        let resp = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// An admin GET with its status.
    pub async fn admin_get_reply(&self, path: &str) -> Reply {
        let resp = self.http.get(self.url(path)).send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// POSTs raw bytes with a given Authorization header (or none).
    pub async fn post_with(&self, path: &str, auth: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// POSTs JSON, authenticated.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_with(path, Some(&self.bearer()), &body.to_string())
            .await
    }

    /// GETs, authenticated.
    pub async fn get(&self, path: &str) -> Reply {
        let resp = self
            .http
            .get(self.url(path))
            .header("authorization", self.bearer())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Sends a text with a reference.
    pub async fn sms(&self, number: &str, reference: &str) -> Reply {
        self.post(
            "/v2/notifications/sms",
            json!({"phone_number": number, "template_id": template(), "reference": reference,
                   "personalisation": {"child_name": "Sam"}}),
        )
        .await
    }

    /// Sends an email with a reference.
    pub async fn email(&self, address: &str, reference: &str) -> Reply {
        self.post(
            "/v2/notifications/email",
            json!({"email_address": address, "template_id": template(), "reference": reference}),
        )
        .await
    }

    /// Sends a letter.
    pub async fn letter(&self, personalisation: Value) -> Reply {
        self.post(
            "/v2/notifications/letter",
            json!({"template_id": template(), "personalisation": personalisation}),
        )
        .await
    }

    /// An admin call.
    pub async fn admin_post(&self, path: &str, body: Value) -> Reply {
        let resp = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// An admin GET.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }
}

/// One request received by the callback receiver.
#[derive(Debug, Clone)]
pub struct Call {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
struct ReceiverState {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

/// A small HTTP server standing in for the service's callback endpoint.
pub struct Receiver {
    pub url: String,
    state: ReceiverState,
}

/// Starts a receiver that answers with `script` in turn, then 200.
pub async fn receiver(script: &[u16]) -> Receiver {
    let state = ReceiverState::default();
    state.script.lock().unwrap().extend(script.iter().copied());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/notify/callback", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/notify/callback", post(record))
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, state }
}

async fn record(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.calls.lock().unwrap().push(Call {
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let code = state.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

impl Receiver {
    /// Everything received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Waits until at least `n` calls arrived (or 10 s passed) and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.calls().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.calls()
    }
}

/// Whether `s` looks like `2017-05-14T12:15:30.000000Z`.
pub fn is_notify_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && s[20..26].bytes().all(|c| c.is_ascii_digit())
}
