//! A fault-injecting HTTP proxy for tests: it sits in front of moto and makes the real AWS SDK see
//! throttling, server errors, dropped connections, latency and "crashes", each in the service's
//! own wire format, so the SDK's retry classifiers treat them as they would on AWS.
//!
//! Test support only: never linked into the Lambda functions. See the crate's README.
//!
//! It never logs anything; what it saw is available through [`FaultProxy::log`] (service,
//! operation and fault names only, never bodies).

#![warn(missing_docs)]

mod classify;
mod responses;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::classify::Classified;
use crate::responses::ErrorKind;

/// An AWS service, as named by a request's SigV4 credential scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Service {
    /// `dynamodb`.
    DynamoDb,
    /// `sqs`.
    Sqs,
    /// `s3`.
    S3,
    /// `secretsmanager`.
    SecretsManager,
    /// Any other signing name (`unknown` for an unsigned request).
    Other(String),
}

impl Service {
    /// The service for a SigV4 signing name (`dynamodb`, `sqs`, `s3`, `secretsmanager`, ...).
    pub fn from_signing_name(name: &str) -> Service {
        match name {
            "dynamodb" => Service::DynamoDb,
            "sqs" => Service::Sqs,
            "s3" => Service::S3,
            "secretsmanager" => Service::SecretsManager,
            other => Service::Other(other.to_owned()),
        }
    }
}

/// What a rule does to a request it fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service's own throttling error (DynamoDB `ProvisionedThroughputExceededException`,
    /// SQS `RequestThrottled`, S3 503 `SlowDown`, Secrets Manager `ThrottlingException`).
    Throttle,
    /// A 400 `ThrottlingException` in the service's protocol (DynamoDB's other throttle code).
    ThrottlingException,
    /// The service's own 500 error (`InternalServerError`, `InternalError`, `InternalServiceError`).
    ServerError,
    /// Closes the TCP connection without any response; the request is not forwarded.
    DropConnection,
    /// Waits this long, then forwards the request normally.
    Latency(Duration),
    /// Signals [`FaultProxy::crashed`], never forwards, never answers (the request is held open
    /// until the client goes away).
    CrashBeforeForward,
    /// Forwards to upstream, discards upstream's answer, signals [`FaultProxy::crashed`], never
    /// answers.
    CrashAfterForward,
}

impl Fault {
    /// The fault's name as [`Seen::fault`] records it (`Throttle`, `Latency`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Throttle => "Throttle",
            Fault::ThrottlingException => "ThrottlingException",
            Fault::ServerError => "ServerError",
            Fault::DropConnection => "DropConnection",
            Fault::Latency(_) => "Latency",
            Fault::CrashBeforeForward => "CrashBeforeForward",
            Fault::CrashAfterForward => "CrashAfterForward",
        }
    }
}

/// How long a rule keeps firing once its `skip` is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// For this many matching requests.
    Requests(u32),
    /// For every matching request in a window that starts at the first matching request.
    For(Duration),
}

/// One fault to inject: which requests it matches, how many to let through first, what it does
/// and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Only requests to this service (any service when `None`).
    pub service: Option<Service>,
    /// Only this operation (`PutItem`, `SendMessage`, `GetObject`, ...; any when `None`).
    pub operation: Option<String>,
    /// Only requests whose path-and-query or body (lossy UTF-8) contains this substring.
    pub pattern: Option<String>,
    /// The first `skip` matching requests pass through untouched before the budget starts.
    pub skip: u32,
    /// What the rule does.
    pub fault: Fault,
    /// For how many requests, or how long, the rule fires.
    pub budget: Budget,
}

impl Rule {
    /// A rule for `fault` on every request, firing once (`Budget::Requests(1)`), skipping none.
    pub fn new(fault: Fault) -> Rule {
        Rule {
            service: None,
            operation: None,
            pattern: None,
            skip: 0,
            fault,
            budget: Budget::Requests(1),
        }
    }

    /// Only requests to `service`.
    pub fn service(mut self, service: Service) -> Rule {
        self.service = Some(service);
        self
    }

    /// Only requests for `operation` (`PutItem`, `SendMessage`, `GetObject`, ...).
    pub fn operation(mut self, operation: impl Into<String>) -> Rule {
        self.operation = Some(operation.into());
        self
    }

    /// Only requests whose path-and-query or body contains `pattern`.
    pub fn pattern(mut self, pattern: impl Into<String>) -> Rule {
        self.pattern = Some(pattern.into());
        self
    }

    /// Fires on `n` matching requests (`Budget::Requests(n)`).
    pub fn times(mut self, n: u32) -> Rule {
        self.budget = Budget::Requests(n);
        self
    }

    /// Fires on every matching request until the rule is cleared (`Budget::Requests(u32::MAX)`).
    pub fn always(self) -> Rule {
        self.times(u32::MAX)
    }

    /// Fires on every matching request for `window` from the first one (`Budget::For(window)`).
    pub fn for_duration(mut self, window: Duration) -> Rule {
        self.budget = Budget::For(window);
        self
    }

    /// Lets the first `n` matching requests through untouched before the budget starts.
    pub fn skip(mut self, n: u32) -> Rule {
        self.skip = n;
        self
    }

    fn matches(&self, request: &Classified, path_and_query: &str, body: &str) -> bool {
        self.service.as_ref().is_none_or(|s| *s == request.service)
            && self
                .operation
                .as_deref()
                .is_none_or(|op| op == request.operation)
            && self
                .pattern
                .as_deref()
                .is_none_or(|p| path_and_query.contains(p) || body.contains(p))
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The service, from the credential scope.
    pub service: Service,
    /// The operation (`PutItem`, `GetObject`, ...; the HTTP method when unknown).
    pub operation: String,
    /// The name of the fault that fired on it ([`Fault::name`]), if any.
    pub fault: Option<String>,
}

/// A rule and how much of it has been used.
#[derive(Debug)]
struct Armed {
    rule: Rule,
    skipped: u32,
    fired: u32,
    window_start: Option<Instant>,
}

impl Armed {
    fn exhausted(&self, now: Instant) -> bool {
        match self.rule.budget {
            Budget::Requests(n) => self.fired >= n,
            Budget::For(window) => self
                .window_start
                .is_some_and(|start| now.duration_since(start) >= window),
        }
    }
}

type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

struct State {
    upstream_scheme: http::uri::Scheme,
    upstream_authority: http::uri::Authority,
    client: UpstreamClient,
    rules: Mutex<Vec<Armed>>,
    log: Mutex<Vec<Seen>>,
    requests: AtomicU64,
    fired: AtomicU64,
    crashed: watch::Sender<u64>,
    /// Requests held open by a crash (answered never; released when their client goes away).
    held: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not poison the proxy for the others.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// The fault to inject on this request, if a rule fires; updates the rules' counters.
    fn pick(&self, request: &Classified, path_and_query: &str, body: &[u8]) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        if rules.is_empty() {
            return None;
        }
        let body = String::from_utf8_lossy(body);
        let now = Instant::now();
        for armed in rules.iter_mut() {
            if armed.exhausted(now) || !armed.rule.matches(request, path_and_query, &body) {
                continue;
            }
            if armed.skipped < armed.rule.skip {
                armed.skipped += 1;
                continue;
            }
            let fires = match armed.rule.budget {
                Budget::Requests(n) => armed.fired < n,
                Budget::For(window) => {
                    let start = *armed.window_start.get_or_insert(now);
                    now.duration_since(start) < window
                }
            };
            if fires {
                armed.fired = armed.fired.saturating_add(1);
                return Some(armed.rule.fault);
            }
        }
        None
    }

    fn signal_crash(&self) {
        self.crashed.send_modify(|n| *n += 1);
    }

    /// Never completes; counts the request as held while it is pending (it is dropped when the
    /// client closes the connection, or when the proxy stops).
    async fn hold(&self) -> ! {
        struct Held<'a>(&'a AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.held.fetch_add(1, Ordering::SeqCst);
        let _held = Held(&self.held);
        loop {
            std::future::pending::<()>().await;
        }
    }

    /// Sends the request upstream and buffers the answer.
    async fn forward(
        &self,
        mut parts: http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ()> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        parts.uri = Uri::builder()
            .scheme(self.upstream_scheme.clone())
            .authority(self.upstream_authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ())?;
        strip_hop_by_hop(&mut parts.headers);
        if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            // The body is whole: its length is exact (and was chunked if there was none).
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(body.len()),
            );
        }
        parts.version = http::Version::HTTP_11;
        let response = self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|_| ())?;
        let (mut parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|_| ())?.to_bytes();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// Removes the headers that describe one connection rather than the message.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

/// Stops the accept loop (and every connection) when the last handle is dropped.
struct Stopper(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stopper {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A running fault-injecting proxy; cheap to clone. It stops when the last clone is dropped
/// (or with the tokio runtime it was started on).
#[derive(Clone)]
pub struct FaultProxy {
    state: Arc<State>,
    addr: SocketAddr,
    _stopper: Arc<Stopper>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint())
            .field("requests", &self.requests())
            .field("fired", &self.fired())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Binds 127.0.0.1:0 and forwards everything to `upstream` (e.g. `http://127.0.0.1:5000`).
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let invalid = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("upstream {upstream:?}: {why}"),
            )
        };
        let uri: Uri = upstream.parse().map_err(|_| invalid("not a URI"))?;
        let upstream_scheme = uri.scheme().cloned().ok_or_else(|| invalid("no scheme"))?;
        if upstream_scheme != http::uri::Scheme::HTTP {
            return Err(invalid("only http:// is supported"));
        }
        let upstream_authority = uri.authority().cloned().ok_or_else(|| invalid("no host"))?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        let (crashed, _) = watch::channel(0);
        let state = Arc::new(State {
            upstream_scheme,
            upstream_authority,
            client,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            fired: AtomicU64::new(0),
            crashed,
            held: AtomicUsize::new(0),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(accept_loop(listener, Arc::clone(&state), rx));
        Ok(FaultProxy {
            state,
            addr,
            _stopper: Arc::new(Stopper(Some(tx))),
        })
    }

    /// `http://127.0.0.1:PORT`: what the SDK's `endpoint_url` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule; rules are checked in the order added and the first matching rule with budget
    /// left fires.
    pub fn add(&self, rule: Rule) {
        lock(&self.state.rules).push(Armed {
            rule,
            skipped: 0,
            fired: 0,
            window_start: None,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.state.rules).clear();
    }

    /// How many requests got a fault, all rules together.
    pub fn fired(&self) -> u64 {
        self.state.fired.load(Ordering::SeqCst)
    }

    /// How many requests the proxy has seen.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The count of crash faults fired; a harness awaits `changed()` to learn that a crash happened.
    pub fn crashed(&self) -> watch::Receiver<u64> {
        self.state.crashed.subscribe()
    }

    /// Every request seen, in order: service, operation and the fault that fired, if any.
    pub fn log(&self) -> Vec<Seen> {
        lock(&self.state.log).clone()
    }

    /// How many requests a crash is holding open right now (each is released when its client
    /// closes the connection).
    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&state)));
                }
                // Typically out of file descriptors: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
    connections.abort_all();
}

/// Why a connection is closed without an answer (returned as the service's error, which makes
/// hyper close the connection without writing a response).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault-proxy: connection dropped")
    }
}

impl std::error::Error for Dropped {}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Dropped>> + Send>>;

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<State>) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| -> Answer {
        Box::pin(handle(Arc::clone(&state), request))
    });
    // Errors here are the client going away or a dropped connection: nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let request_number = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let classified = classify::classify(&parts, &body);
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let fault = state.pick(&classified, path_and_query, &body);
    if fault.is_some() {
        state.fired.fetch_add(1, Ordering::SeqCst);
    }
    lock(&state.log).push(Seen {
        service: classified.service.clone(),
        operation: classified.operation.clone(),
        fault: fault.map(|f| f.name().to_owned()),
    });
    let request_id = format!("fault-proxy-{request_number:08}");
    let error = |kind| {
        Ok(responses::error_response(
            &classified,
            &parts.method,
            kind,
            &request_id,
        ))
    };
    match fault {
        None => Ok(forward_or_bad_gateway(&state, parts, body).await),
        Some(Fault::Throttle) => error(ErrorKind::Throttle),
        Some(Fault::ThrottlingException) => error(ErrorKind::ThrottlingException),
        Some(Fault::ServerError) => error(ErrorKind::ServerError),
        Some(Fault::DropConnection) => Err(Dropped),
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(forward_or_bad_gateway(&state, parts, body).await)
        }
        Some(Fault::CrashBeforeForward) => {
            state.signal_crash();
            state.hold().await
        }
        Some(Fault::CrashAfterForward) => {
            let _ = state.forward(parts, body).await;
            state.signal_crash();
            state.hold().await
        }
    }
}

async fn forward_or_bad_gateway(
    state: &State,
    parts: http::request::Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
    match state.forward(parts, body).await {
        Ok(response) => response,
        Err(()) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(
                b"fault-proxy: the upstream did not answer",
            )))
            .expect("static response is valid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PUT_ITEM: &str = "POST / HTTP/1.1\r\nhost: x\r\n\
        authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/eu-west-2/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
        x-amz-target: DynamoDB_20120810.PutItem\r\ncontent-type: application/x-amz-json-1.0\r\n\
        content-length: 2\r\n\r\n{}";

    /// Nothing listens on port 9 of loopback: any forward fails (502).
    const NOWHERE: &str = "http://127.0.0.1:9";

    async fn send_raw(proxy: &FaultProxy) -> tokio::net::TcpStream {
        let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        stream.write_all(PUT_ITEM.as_bytes()).await.unwrap();
        stream
    }

    #[tokio::test]
    async fn a_dropped_connection_closes_without_a_byte_of_response() {
        let proxy = FaultProxy::start(NOWHERE).await.unwrap();
        proxy.add(Rule::new(Fault::DropConnection));
        let mut stream = send_raw(&proxy).await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the proxy closes the connection");
        // EOF (or a reset) with nothing written.
        assert!(read.is_err() || answer.is_empty(), "got {answer:?}");
        assert_eq!(proxy.fired(), 1);
        assert_eq!(
            proxy.log(),
            vec![Seen {
                service: Service::DynamoDb,
                operation: "PutItem".into(),
                fault: Some("DropConnection".into()),
            }]
        );
    }

    #[tokio::test]
    async fn a_crash_holds_the_request_until_the_client_goes_away() {
        let proxy = FaultProxy::start(NOWHERE).await.unwrap();
        proxy.add(Rule::new(Fault::CrashBeforeForward));
        let mut crashed = proxy.crashed();
        let mut stream = send_raw(&proxy).await;
        tokio::time::timeout(Duration::from_secs(5), crashed.changed())
            .await
            .expect("a crash is signalled")
            .unwrap();
        assert_eq!(*crashed.borrow(), 1);
        let mut buf = [0u8; 64];
        let nothing = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
        assert!(nothing.is_err(), "no answer comes");
        assert_eq!(proxy.held(), 1);
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.held() > 0 {
            assert!(Instant::now() < deadline, "the held request is released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn skip_then_budget_then_pass_through() {
        let proxy = FaultProxy::start(NOWHERE).await.unwrap();
        proxy.add(
            Rule::new(Fault::ServerError)
                .service(Service::DynamoDb)
                .operation("PutItem")
                .skip(1)
                .times(2),
        );
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let mut stream = send_raw(&proxy).await;
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            statuses.push(String::from_utf8_lossy(&buf[..n])[9..12].to_owned());
        }
        // 502: forwarded to an upstream that is not there.
        assert_eq!(statuses, ["502", "500", "500", "502"]);
        assert_eq!(proxy.fired(), 2);
        assert_eq!(proxy.requests(), 4);
    }

    #[test]
    fn rules_match_on_service_operation_and_pattern() {
        let classified = Classified {
            service: Service::DynamoDb,
            operation: "UpdateItem".into(),
            protocol: classify::Protocol::Json,
            json_content_type: "application/x-amz-json-1.0",
        };
        let rule = Rule::new(Fault::Throttle)
            .service(Service::DynamoDb)
            .operation("UpdateItem")
            .pattern("PACER");
        assert!(rule.matches(&classified, "/", r#"{"Key":{"pk":{"S":"PACER#1"}}}"#));
        assert!(!rule.matches(&classified, "/", r#"{"Key":{"pk":{"S":"CHILD#1"}}}"#));
        assert!(
            !rule
                .clone()
                .operation("GetItem")
                .matches(&classified, "/", "PACER")
        );
        assert!(
            !rule
                .service(Service::Sqs)
                .matches(&classified, "/", "PACER")
        );
    }
}
