//! Fault injection: 500s, requests that hang and close, and hangs after the notification exists.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{start, template};

#[tokio::test]
async fn error_500_answers_notifys_internal_error_and_creates_nothing() {
    let h = start(|_| {}).await;
    let reply = h
        .admin_post("/_sim/faults", json!({"mode": "error_500", "count": 2}))
        .await;
    assert_eq!(reply.body["queued"], 2);
    for _ in 0..2 {
        let reply = h.sms("07700900123", "flaky").await;
        assert_eq!(reply.status, 500);
        assert_eq!(
            reply.body,
            json!({"status_code": 500, "errors": [{"error": "Exception", "message": "Internal server error"}]})
        );
    }
    assert!(h.sim.received().is_empty());
    assert_eq!(h.sms("07700900123", "flaky").await.status, 201);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["faults"]["fired"], 2);
}

#[tokio::test]
async fn faults_are_consumed_only_by_sends_that_would_succeed() {
    let h = start(|_| {}).await;
    h.admin_post("/_sim/faults", json!({"mode": "error_500"}))
        .await;
    let invalid = h
        .post("/v2/notifications/sms", json!({"template_id": template()}))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(h.get("/v2/notifications").await.status, 200);
    assert_eq!(h.sms("07700900123", "x").await.status, 500);
}

#[tokio::test]
async fn timeout_holds_the_request_then_closes_the_connection_without_creating() {
    let h = start(|_| {}).await;
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "timeout", "count": 1, "hold_ms": 300}),
    )
    .await;
    let started = Instant::now();
    let result = h
        .http
        .post(h.url("/v2/notifications/sms"))
        .header("authorization", h.bearer())
        .json(
            &json!({"phone_number": "07700900123", "template_id": template(), "reference": "lost"}),
        )
        .send()
        .await;
    assert!(
        result.is_err(),
        "the connection is closed without a response"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(h.sim.received().is_empty());
    let found = h.get("/v2/notifications?reference=lost").await.body;
    assert_eq!(found["notifications"], json!([]));
    assert_eq!(h.sms("07700900123", "next").await.status, 201);
}

#[tokio::test]
async fn timeout_after_create_leaves_a_notification_the_sender_can_find_by_reference() {
    let h = start(|_| {}).await;
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "timeout_after_create", "hold_ms": 200}),
    )
    .await;
    let result = h
        .http
        .post(h.url("/v2/notifications/sms"))
        .header("authorization", h.bearer())
        .json(&json!({"phone_number": "07700900123", "template_id": template(), "reference": "unsure"}))
        .send()
        .await;
    assert!(result.is_err());
    let found = h.get("/v2/notifications?reference=unsure").await.body;
    let list = found["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reference"], "unsure");
    assert_eq!(h.sim.received().len(), 1);
}

#[tokio::test]
async fn a_request_timeout_on_the_client_side_sees_the_hang() {
    let h = start(|_| {}).await;
    h.admin_post("/_sim/faults", json!({"mode": "timeout"}))
        .await; // default hold 30 s
    let result = h
        .http
        .post(h.url("/v2/notifications/sms"))
        .timeout(Duration::from_millis(300))
        .header("authorization", h.bearer())
        .json(&json!({"phone_number": "07700900123", "template_id": template()}))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["faults"]["queued"], 0);
}

#[tokio::test]
async fn unknown_fault_modes_are_refused_and_clear_empties_the_queue() {
    let h = start(|_| {}).await;
    let reply = h
        .admin_post("/_sim/faults", json!({"mode": "meltdown"}))
        .await;
    assert_eq!(reply.status, 400);
    h.admin_post("/_sim/faults", json!({"mode": "error_500", "count": 5}))
        .await;
    let reply = h.admin_post("/_sim/faults", json!({"mode": "clear"})).await;
    assert_eq!(reply.body["queued"], 0);
    assert_eq!(h.sms("07700900123", "fine").await.status, 201);
}
