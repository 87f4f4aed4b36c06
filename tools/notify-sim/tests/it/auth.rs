//! Authentication answers as Notify's auth.py words them.

use notify_sim::make_jwt;
use serde_json::json;
use uuid::Uuid;

use crate::common::{Reply, now, start, template};

fn sms_body() -> String {
    json!({"phone_number": "07700900123", "template_id": template()}).to_string()
}

fn assert_auth_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({"status_code": status, "errors": [{"error": "AuthError", "message": message}]})
    );
}

#[tokio::test]
async fn a_request_without_authorization_is_refused_with_401() {
    let h = start(|_| {}).await;
    let reply = h
        .post_with("/v2/notifications/sms", None, &sms_body())
        .await;
    assert_auth_error(
        &reply,
        401,
        "Unauthorized: authentication token must be provided",
    );
}

#[tokio::test]
async fn a_non_bearer_scheme_is_refused_with_401() {
    let h = start(|_| {}).await;
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some("Basic dXNlcjpwYXNz"),
            &sms_body(),
        )
        .await;
    assert_auth_error(
        &reply,
        401,
        "Unauthorized: authentication bearer scheme must be used",
    );
}

#[tokio::test]
async fn a_token_signed_with_the_wrong_secret_is_refused_with_403() {
    let h = start(|_| {}).await;
    let token = make_jwt(h.service_id, Uuid::new_v4(), now());
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some(&format!("Bearer {token}")),
            &sms_body(),
        )
        .await;
    assert_auth_error(&reply, 403, "Invalid token: API key not found");
}

#[tokio::test]
async fn a_token_issued_40_seconds_ago_is_a_clock_error() {
    let h = start(|_| {}).await;
    let token = make_jwt(h.service_id, h.secret, now() - 40);
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some(&format!("Bearer {token}")),
            &sms_body(),
        )
        .await;
    assert_auth_error(
        &reply,
        403,
        "Error: Your system clock must be accurate to within 30 seconds",
    );
}

#[tokio::test]
async fn a_token_issued_40_seconds_in_the_future_is_a_clock_error_too() {
    let h = start(|_| {}).await;
    let token = make_jwt(h.service_id, h.secret, now() + 40);
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some(&format!("Bearer {token}")),
            &sms_body(),
        )
        .await;
    assert_auth_error(
        &reply,
        403,
        "Error: Your system clock must be accurate to within 30 seconds",
    );
}

#[tokio::test]
async fn a_token_for_another_service_is_refused_as_service_not_found() {
    let h = start(|_| {}).await;
    let token = make_jwt(Uuid::new_v4(), h.secret, now());
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some(&format!("Bearer {token}")),
            &sms_body(),
        )
        .await;
    assert_auth_error(&reply, 403, "Invalid token: service not found");
}

#[tokio::test]
async fn a_token_that_is_not_a_jwt_gets_notifys_general_token_error() {
    let h = start(|_| {}).await;
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some("Bearer not.a.jwt"),
            &sms_body(),
        )
        .await;
    assert_auth_error(
        &reply,
        403,
        "Invalid token: make sure your API token matches the example at https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header",
    );
}

#[tokio::test]
async fn authentication_is_checked_before_the_body_and_get_endpoints_need_it_too() {
    let h = start(|_| {}).await;
    let reply = h
        .post_with("/v2/notifications/sms", Some("Bearer x.y.z"), "{not json")
        .await;
    assert_eq!(reply.error(0), "AuthError");
    let resp = h.http.get(h.url("/v2/notifications")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(h.sim.received().is_empty());
}
