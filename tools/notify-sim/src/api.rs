//! The `/v2` HTTP API: send, get one, list; get, list and preview templates. Request handling
//! follows notifications-api's order: authenticate (which also picks the service), parse JSON,
//! schema-validate, rate-limit, then the template (once the service has templates), then
//! recipient checks, then create.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::{Duration as TimeDuration, OffsetDateTime, Weekday};
use uuid::Uuid;

use crate::auth::parse_python_uuid;
use crate::errors::ApiError;
use crate::sim::{Service, Sim};
use crate::state::{FaultMode, FaultOn, Record};
use crate::validation::{self, ListQuery};
use crate::vocab::{NotificationType, format_timestamp};

/// Notify's `API_PAGE_SIZE` for `GET /v2/notifications`.
pub const PAGE_SIZE: usize = 250;

/// Marks a response that must not be sent: the connection is closed instead (timeout faults).
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The `/v2` routes, each response delayed by the configured latency.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v2/notifications", get(list_notifications))
        .route(
            "/v2/notifications/{segment}",
            get(get_notification).post(post_notification),
        )
        .route("/v2/template/{segment}", get(get_template))
        .route(
            "/v2/template/{segment}/version/{version}",
            get(get_template_version),
        )
        .route("/v2/template/{segment}/preview", post(preview_template))
        .route("/v2/templates", get(list_templates))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            add_latency,
        ))
        .with_state(sim)
}

/// The request is handled at once and the answer held back, as a slow network between Notify
/// and its client would: a notification (and its callback) can exist before the sender hears
/// of it.
async fn add_latency(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !sim.latency.is_zero() {
        tokio::time::sleep(sim.latency).await;
    }
    response
}

/// Flask's `request.url_root` without the trailing slash: the Host the client used.
fn url_root(sim: &Sim, headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| sim.base_url.clone())
}

fn drop_connection() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(DropConnection);
    response
}

async fn post_notification(
    State(sim): State<Arc<Sim>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = match sim.authenticate(&headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let Some(kind) = NotificationType::parse(&segment) else {
        return not_found().await;
    };
    let request = match validation::parse_body(&body)
        .and_then(|(value, keys)| validation::validate_send(kind, value, &keys))
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // Rate limits, then validate_template, then the recipient, then (texts) the length.
    let content = service.check_limits(kind).and_then(|()| {
        let content = service.template_for_send(&request)?;
        sim.check_recipient(&request)?;
        if let Some(c) = &content {
            c.rendered.check_length(kind)?;
        }
        Ok(content)
    });
    let content = match content {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let root = url_root(&sim, &headers);
    if service.first_send_errors(&request) {
        tracing::warn!(mode = "error_500_once", "injecting fault");
        return ApiError::Internal.into_response();
    }
    let Some((mode, hold)) = service.take_fault(FaultOn::Send) else {
        return (
            StatusCode::CREATED,
            Json(sim.create(&service, request, content, &root)),
        )
            .into_response();
    };
    tracing::warn!(mode = mode.as_str(), on = "send", "injecting fault");
    match mode {
        FaultMode::Error500 => ApiError::Internal.into_response(),
        FaultMode::Error429 => rate_limited(&service),
        FaultMode::Timeout => {
            tokio::time::sleep(hold).await;
            drop_connection()
        }
        FaultMode::TimeoutAfterCreate => {
            sim.create(&service, request, content, &root);
            tokio::time::sleep(hold).await;
            drop_connection()
        }
        FaultMode::Latency => {
            tokio::time::sleep(hold).await;
            (
                StatusCode::CREATED,
                Json(sim.create(&service, request, content, &root)),
            )
                .into_response()
        }
    }
}

/// The 429 an `error_429` fault answers: the bucket's own `RateLimitError`.
fn rate_limited(service: &Service) -> Response {
    ApiError::RateLimit {
        limit: service.rate_limit_per_min,
    }
    .into_response()
}

/// A fault for a read (`GET`) that would otherwise be answered: `Some(response)` to answer
/// instead, `None` to go on (after a latency hold, if that was the fault).
async fn read_fault(service: &Service) -> Option<Response> {
    let (mode, hold) = service.take_fault(FaultOn::Get)?;
    tracing::warn!(mode = mode.as_str(), on = "get", "injecting fault");
    match mode {
        FaultMode::Error500 => Some(ApiError::Internal.into_response()),
        FaultMode::Error429 => Some(rate_limited(service)),
        // Nothing to create on a read: both timeouts just hang up.
        FaultMode::Timeout | FaultMode::TimeoutAfterCreate => {
            tokio::time::sleep(hold).await;
            Some(drop_connection())
        }
        FaultMode::Latency => {
            tokio::time::sleep(hold).await;
            None
        }
    }
}

async fn get_notification(
    State(sim): State<Arc<Sim>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let service = match sim.authenticate(&headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let Some(id) = parse_python_uuid(&segment) else {
        return ApiError::Validation(vec!["notification_id is not a valid UUID".into()])
            .into_response();
    };
    if let Some(response) = read_fault(&service).await {
        return response;
    }
    let root = url_root(&sim, &headers);
    let state = service.lock();
    match state.find(id) {
        Some(record) => Json(notification_json(record, &root, service.id)).into_response(),
        None => ApiError::NoResultFound.into_response(),
    }
}

async fn list_notifications(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let service = match sim.authenticate(&headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let query = match validation::validate_list_query(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    if let Some(response) = read_fault(&service).await {
        return response;
    }
    let root = url_root(&sim, &headers);
    let state = service.lock();
    // Notify compares created_at with the older_than notification's; an unknown id matches nothing.
    let older_than_seq = match query.older_than {
        Some(id) => match state.find(id) {
            Some(r) => Some(r.seq),
            None => Some(0),
        },
        None => None,
    };
    let page: Vec<&Record> = state
        .records
        .iter()
        .rev()
        .filter(|r| !r.simulated)
        .filter(|r| older_than_seq.is_none_or(|seq| r.seq < seq))
        .filter(|r| query.reference.is_none() || r.reference == query.reference)
        .filter(|r| query.template_types.is_empty() || query.template_types.contains(&r.kind))
        .filter(|r| {
            query.statuses.is_empty() || query.statuses.iter().any(|s| r.status.matches_filter(s))
        })
        .take(PAGE_SIZE)
        .collect();
    let notifications: Vec<Value> = page
        .iter()
        .map(|r| notification_json(r, &root, service.id))
        .collect();
    let mut links = json!({ "current": list_link(&root, &query, None) });
    if let Some(last) = page.last() {
        links["next"] = json!(list_link(&root, &query, Some(last.id)));
    }
    Json(json!({ "notifications": notifications, "links": links })).into_response()
}

/// `GET /v2/template/{id}`: Notify's `serialize_for_v2`. Like every `/v2/template` route it
/// is authenticated but, as in Notify, not rate limited (only sends call `check_rate_limiting`).
async fn get_template(
    State(sim): State<Arc<Sim>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    template_by_id(&sim, &headers, &segment, None)
}

/// `GET /v2/template/{id}/version/{version}`: the template if it is at that version.
async fn get_template_version(
    State(sim): State<Arc<Sim>>,
    Path((segment, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    // Flask's `<int:version>` converter: anything but digits is no route at all.
    let Some(version) = version
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| version.parse::<u64>().ok())
        .flatten()
    else {
        return not_found().await;
    };
    template_by_id(&sim, &headers, &segment, Some(version))
}

fn template_by_id(sim: &Sim, headers: &HeaderMap, segment: &str, version: Option<u64>) -> Response {
    let service = match sim.authenticate(headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let Some(id) = parse_python_uuid(segment) else {
        return ApiError::Validation(vec!["id is not a valid UUID".into()]).into_response();
    };
    // `if version:` in Notify: 0 counts as no version at all.
    let version = version.filter(|v| *v != 0);
    match service.template(id) {
        Some(t) if version.is_none_or(|v| v == u64::from(t.template.version)) => {
            Json(t.to_v2_json()).into_response()
        }
        _ => ApiError::NoResultFound.into_response(),
    }
}

/// `POST /v2/template/{id}/preview` with `{"personalisation": {…}}` (an empty body is `{}`).
async fn preview_template(
    State(sim): State<Arc<Sim>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = match sim.authenticate(&headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let data = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match validation::parse_body(&body) {
            Ok((value, _)) => value,
            Err(e) => return e.into_response(),
        }
    };
    // Notify then sets `_data["id"]`, which fails (500) for a body that is not an object.
    let Value::Object(data) = data else {
        return ApiError::Internal.into_response();
    };
    let (id, personalisation) = match validation::validate_preview(segment.as_str(), &data) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let Some(template) = service.template(id) else {
        return ApiError::NoResultFound.into_response();
    };
    match template.template.render(&personalisation) {
        Ok(rendered) => Json(template.preview_json(&rendered)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v2/templates?type=`: `{"templates": [...]}`, by name then type.
async fn list_templates(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let service = match sim.authenticate(&headers) {
        Ok(service) => service,
        Err(e) => return e.into_response(),
    };
    let kind = match validation::validate_templates_query(query.as_deref()) {
        Ok(kind) => kind,
        Err(e) => return e.into_response(),
    };
    let mut templates = service.templates();
    templates.retain(|t| kind.is_none_or(|k| t.template.kind == k));
    templates.sort_by(|a, b| {
        (a.template.name.as_str(), a.template.kind.as_str())
            .cmp(&(b.template.name.as_str(), b.template.kind.as_str()))
    });
    let templates: Vec<Value> = templates.iter().map(|t| t.to_v2_json()).collect();
    Json(json!({ "templates": templates })).into_response()
}

/// `url_for(".get_notifications", **data)`; the next page replaces or appends `older_than`.
fn list_link(root: &str, query: &ListQuery, older_than: Option<Uuid>) -> String {
    let single = ["reference", "older_than", "include_jobs"];
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut replaced = false;
    for (key, values) in &query.params {
        if let (true, Some(id)) = (key == "older_than", older_than) {
            pairs.push((key.clone(), id.to_string()));
            replaced = true;
            continue;
        }
        let values = if single.contains(&key.as_str()) {
            &values[..values.len().min(1)]
        } else {
            &values[..]
        };
        pairs.extend(values.iter().map(|v| (key.clone(), v.clone())));
    }
    if let (Some(id), false) = (older_than, replaced) {
        pairs.push(("older_than".into(), id.to_string()));
    }
    let mut link = format!("{root}/v2/notifications");
    if !pairs.is_empty() {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
            .collect();
        link.push('?');
        link.push_str(&encoded.join("&"));
    }
    link
}

/// A notification as `GET /v2/notifications/{id}` returns it (`Notification.serialize`).
fn notification_json(r: &Record, root: &str, service_id: Uuid) -> Value {
    let is = |k: NotificationType| r.kind == k;
    let line = |key: &str| {
        if is(NotificationType::Letter) {
            r.personalisation.get(key).cloned().unwrap_or(Value::Null)
        } else {
            Value::Null
        }
    };
    let mut n = json!({
        "id": r.id,
        "reference": r.reference,
        "email_address": if is(NotificationType::Email) { json!(r.to) } else { Value::Null },
        "phone_number": if is(NotificationType::Sms) { json!(r.to) } else { Value::Null },
        "line_1": line("address_line_1"),
        "line_2": line("address_line_2"),
        "line_3": line("address_line_3"),
        "line_4": line("address_line_4"),
        "line_5": line("address_line_5"),
        "line_6": line("address_line_6"),
        "postcode": line("postcode"),
        "type": r.kind.as_str(),
        "status": r.status.api_name(r.kind),
        "template": {
            "id": r.template_id,
            "version": r.template_version,
            "uri": format!("{root}/services/{service_id}/templates/{}", r.template_id),
        },
        "body": r.body,
        "subject": r.subject,
        "created_at": format_timestamp(r.created_at),
        "created_by_name": null,
        "sent_at": r.sent_at.map(format_timestamp),
        "completed_at": r.completed_at().map(format_timestamp),
        "scheduled_for": null,
        "one_click_unsubscribe_url": r.one_click_unsubscribe_url,
        "postage": if is(NotificationType::Letter) { json!("second") } else { Value::Null },
        // Notify fills costs in a nightly billing run; a fresh notification has none yet.
        "is_cost_data_ready": false,
        "cost_in_pounds": null,
        "cost_details": {},
    });
    if is(NotificationType::Letter) {
        n["estimated_delivery"] = json!(format_timestamp(estimated_delivery(r.created_at)));
    }
    n
}

/// Roughly Notify's second-class estimate: printed the next working day, delivered two working
/// days after that.
fn estimated_delivery(created: OffsetDateTime) -> OffsetDateTime {
    let mut day = created;
    let mut working_days = 0;
    while working_days < 3 {
        day += TimeDuration::days(1);
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            working_days += 1;
        }
    }
    day.replace_time(time::macros::time!(16:00))
}

/// Unknown paths: Notify's app-level 404.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "result": "error", "message": "Not found" })),
    )
        .into_response()
}
