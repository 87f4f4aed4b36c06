//! The `/_sim` admin API: inspection, stats and reset.

use std::time::Duration;

use serde_json::json;

use crate::common::{receiver, start};

#[tokio::test]
async fn sim_notifications_lists_everything_received_with_personalisation() {
    let h = start(|_| {}).await;
    h.sms("07700900123", "a").await;
    h.email("parent@example.com", "b").await;
    let list = h.admin_get("/_sim/notifications").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["notification_type"], "sms");
    assert_eq!(list[0]["to"], "07700900123");
    assert_eq!(list[0]["personalisation"]["child_name"], "Sam");
    assert_eq!(list[1]["reference"], "b");
    assert_eq!(list[1]["simulated"], false);
}

#[tokio::test]
async fn stats_count_notifications_by_type_and_status() {
    let h = start(|_| {}).await;
    h.sms("07700900123", "a").await;
    h.sms("07700900002", "b").await;
    h.email("parent@example.com", "c").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["notifications"]["total"], 3);
    assert_eq!(
        stats["notifications"]["by_type"],
        json!({"sms": 2, "email": 1})
    );
    assert_eq!(
        stats["notifications"]["by_status"],
        json!({"delivered": 2, "permanent-failure": 1})
    );
    assert_eq!(stats["callbacks"]["pending"], 0);
}

#[tokio::test]
async fn reset_clears_notifications_buckets_faults_and_the_callback_log() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.rate_limit_per_min = 6; // capacity 3: two sends
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some("token".into());
    })
    .await;
    assert_eq!(h.sms("07700900123", "a").await.status, 201);
    assert_eq!(h.sms("07700900123", "b").await.status, 201);
    assert_eq!(h.sms("07700900123", "c").await.status, 429);
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    assert_eq!(h.sim.callback_log().len(), 2);
    h.admin_post("/_sim/faults", json!({"mode": "error_500", "count": 3}))
        .await;

    let reply = h.admin_post("/_sim/reset", json!({})).await;
    assert_eq!(reply.status, 200);
    assert!(h.sim.received().is_empty());
    assert!(h.sim.callback_log().is_empty());
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["responses_429"]["rate_limit"], 0);
    assert_eq!(stats["faults"]["queued"], 0);
    // A full bucket again, no faults, and callbacks still go to the configured URL.
    assert_eq!(h.sms("07700900123", "after").await.status, 201);
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    assert_eq!(rx.calls().len(), 3);
}

#[tokio::test]
async fn reset_cancels_pending_status_changes_and_callbacks() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.callback_delay = Duration::from_secs(60);
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some("token".into());
    })
    .await;
    h.sms("07700900123", "slow").await;
    assert!(!h.sim.wait_callbacks_idle(Duration::from_millis(100)).await);
    h.sim.reset();
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(2)).await);
    assert!(rx.calls().is_empty());
}

#[tokio::test]
async fn admin_endpoints_reject_malformed_bodies_and_unknown_paths_are_404() {
    let h = start(|_| {}).await;
    let reply = h
        .admin_post("/_sim/inbound", json!({"message": "no source"}))
        .await;
    assert_eq!(reply.status, 400);
    let resp = h.http.get(h.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let reply = h
        .admin_post(
            "/_sim/inbound",
            json!({"source_number": "07700900123", "message": "hi"}),
        )
        .await;
    assert_eq!(reply.body["callback_scheduled"], false);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let h = start(|_| {}).await;
    let url = h.url("/_sim/stats");
    let http = h.http.clone();
    h.sim.shutdown().await;
    assert!(http.get(url).send().await.is_err());
}
