//! Fault injection: 500s, 429s, requests that hang and close, hangs after the notification
//! exists and latency spikes; by count or for a time window; on sends, reads or both.

use std::time::{Duration, Instant};

use notify_sim::{Fault, FaultMode, FaultOn, FaultStats, FaultsFired};
use serde_json::{Value, json};

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

// ---- error_429 -------------------------------------------------------------------------------

const RATE_LIMIT_BODY: &str = r#"{"status_code":429,"errors":[{"error":"RateLimitError","message":"Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}]}"#;

#[tokio::test]
async fn error_429_answers_notifys_rate_limit_error_and_creates_nothing() {
    let h = start(|_| {}).await;
    let reply = h
        .admin_post("/_sim/faults", json!({"mode": "error_429", "count": 3}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"queued": 3, "windows_active": 0}));
    let expected: Value = serde_json::from_str(RATE_LIMIT_BODY).unwrap();
    for i in 0..3 {
        let reply = h.sms("07700900123", &format!("burst-{i}")).await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.body, expected);
    }
    for i in 0..3 {
        let found = h
            .get(&format!("/v2/notifications?reference=burst-{i}"))
            .await;
        assert_eq!(found.status, 200);
        assert_eq!(
            found.body["notifications"],
            json!([]),
            "nothing was created"
        );
    }
    assert!(h.sim.received().is_empty());
    assert_eq!(h.sms("07700900123", "after").await.status, 201);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["faults"]["fired"], 3);
    assert_eq!(stats["faults"]["fired_by_mode"]["error_429"], 3);
    assert_eq!(stats["faults"]["queued"], 0);
    // The bucket itself never refused anything.
    assert_eq!(stats["responses_429"]["rate_limit"], 0);
}

#[tokio::test]
async fn error_429_burst_through_the_library_api() {
    let h = start(|_| {}).await;
    let stats = h.sim.inject(FaultMode::Error429, 5, None);
    assert_eq!(stats.queued, 5);
    for _ in 0..5 {
        let reply = h.email("parent@example.com", "burst").await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.error(0), "RateLimitError");
    }
    assert_eq!(h.email("parent@example.com", "burst").await.status, 201);
    let stats = h.sim.fault_stats();
    assert_eq!(
        stats,
        FaultStats {
            queued: 0,
            windows_active: 0,
            fired: FaultsFired {
                error_429: 5,
                ..FaultsFired::default()
            },
        }
    );
    assert_eq!(stats.fired.total(), 5);
    assert_eq!(stats.fired.of(FaultMode::Error429), 5);
    assert_eq!(h.sim.received().len(), 1);
}

// ---- latency -----------------------------------------------------------------------------

#[tokio::test]
async fn latency_holds_the_send_then_creates_the_notification() {
    let h = start(|_| {}).await;
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "latency", "count": 2, "hold_ms": 400}),
    )
    .await;
    for reference in ["slow-1", "slow-2"] {
        let started = Instant::now();
        let reply = h.sms("07700900123", reference).await;
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "held {:?}",
            started.elapsed()
        );
        assert_eq!(reply.status, 201);
        assert_eq!(reply.body["reference"], reference);
        let found = h
            .get(&format!("/v2/notifications?reference={reference}"))
            .await;
        let list = found.body["notifications"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], reply.body["id"]);
    }
    assert_eq!(h.sim.received().len(), 2);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["faults"]["fired_by_mode"]["latency"], 2);
}

#[tokio::test]
async fn latency_holds_two_seconds_by_default() {
    let h = start(|_| {}).await;
    h.sim.inject(FaultMode::Latency, 1, None);
    let started = Instant::now();
    let reply = h
        .letter(
            json!({"address_line_1": "A Parent", "address_line_2": "1 High Street",
                       "postcode": "SW1A 1AA"}),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(2000));
    assert_eq!(reply.status, 201);
    assert_eq!(h.sim.received().len(), 1);
    assert_eq!(h.sim.fault_stats().fired.latency, 1);
}

// ---- time windows ------------------------------------------------------------------------

#[tokio::test]
async fn a_window_fault_hits_every_send_in_the_window_and_none_after() {
    let h = start(|_| {}).await;
    let window = Duration::from_millis(1500);
    let before = Instant::now();
    let reply = h
        .admin_post("/_sim/faults", json!({"mode": "error_500", "for_ms": 1500}))
        .await;
    let after = Instant::now();
    assert_eq!(reply.body, json!({"queued": 0, "windows_active": 1}));
    // The window opened between `before` and `after`: a send answered before `before + window`
    // was handled inside it.
    let (mut inside, mut refused) = (0, 0);
    while before.elapsed() < window / 2 {
        let reply = h.sms("07700900123", "in-window").await;
        if reply.status == 500 {
            refused += 1;
        }
        if before.elapsed() < window {
            assert_eq!(reply.status, 500, "send {inside} inside the window");
            inside += 1;
        }
        // Paced well under the simulator's rate limit, so only the window can refuse a send.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(inside >= 2, "more than one send hit the window ({inside})");
    assert!(h.sim.received().is_empty());
    // …and a send arriving after `after + window` is past it.
    tokio::time::sleep(
        (after + window + Duration::from_millis(50)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_eq!(h.sms("07700900123", "after-window").await.status, 201);
    assert_eq!(h.sms("07700900123", "after-window").await.status, 201);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["faults"]["windows_active"], 0);
    assert_eq!(stats["faults"]["fired_by_mode"]["error_500"], refused);
}

#[tokio::test]
async fn a_window_through_the_library_api_leaves_count_faults_as_they_were() {
    let h = start(|_| {}).await;
    let window = Duration::from_millis(1000);
    let before = Instant::now();
    let stats = h.sim.inject_for(FaultMode::Error429, window, None);
    let after = Instant::now();
    assert_eq!((stats.queued, stats.windows_active), (0, 1));
    // A queued fault is taken first, then the window applies.
    h.sim.inject(FaultMode::Error500, 1, None);
    assert_eq!(h.sms("07700900123", "a").await.status, 500);
    let reply = h.sms("07700900123", "b").await;
    if before.elapsed() < window {
        assert_eq!(reply.status, 429);
        assert_eq!(reply.error(0), "RateLimitError");
    }
    tokio::time::sleep(
        (after + window + Duration::from_millis(50)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_eq!(h.sms("07700900123", "c").await.status, 201);
    assert_eq!(h.sim.fault_stats().windows_active, 0);
    assert_eq!(h.sim.fault_stats().fired.error_500, 1);
}

#[tokio::test]
async fn clear_closes_windows_too() {
    let h = start(|_| {}).await;
    h.admin_post("/_sim/faults", json!({"mode": "timeout", "for_ms": 60000}))
        .await;
    h.admin_post("/_sim/faults", json!({"mode": "error_500", "count": 2}))
        .await;
    let reply = h.admin_post("/_sim/faults", json!({"mode": "clear"})).await;
    assert_eq!(reply.body, json!({"queued": 0, "windows_active": 0}));
    assert_eq!(h.sms("07700900123", "fine").await.status, 201);
    h.sim
        .inject_for(FaultMode::Timeout, Duration::from_secs(60), None);
    h.sim.clear_faults();
    assert_eq!(h.sms("07700900123", "fine").await.status, 201);
    assert_eq!(h.sim.fault_stats().fired.total(), 0);
}

// ---- faults on reads -------------------------------------------------------------------------

#[tokio::test]
async fn on_get_faults_hit_reads_and_leave_sends_alone() {
    let h = start(|_| {}).await;
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "error_500", "on": "get", "count": 2}),
    )
    .await;
    // Sends are untouched and do not consume the read faults.
    let sent = h.sms("07700900123", "reconcile-me").await;
    assert_eq!(sent.status, 201);
    assert_eq!(h.email("parent@example.com", "other").await.status, 201);
    assert_eq!(h.admin_get("/_sim/stats").await["faults"]["queued"], 2);

    let by_reference = h.get("/v2/notifications?reference=reconcile-me").await;
    assert_eq!(by_reference.status, 500);
    assert_eq!(
        by_reference.body,
        json!({"status_code": 500, "errors": [{"error": "Exception", "message": "Internal server error"}]})
    );
    let id = sent.body["id"].as_str().unwrap();
    let by_id = h.get(&format!("/v2/notifications/{id}")).await;
    assert_eq!(by_id.status, 500);

    // A 429 on the status poll, then a hang-up on the reconcile call.
    h.sim
        .inject_fault(Fault::new(FaultMode::Error429).on(FaultOn::Get));
    let poll = h.get(&format!("/v2/notifications/{id}")).await;
    assert_eq!(poll.status, 429);
    assert_eq!(
        poll.body,
        serde_json::from_str::<Value>(RATE_LIMIT_BODY).unwrap()
    );
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "timeout", "on": "get", "hold_ms": 200}),
    )
    .await;
    let started = Instant::now();
    let hung = h
        .http
        .get(h.url("/v2/notifications?reference=reconcile-me"))
        .header("authorization", h.bearer())
        .send()
        .await;
    assert!(hung.is_err(), "the connection is closed without a response");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Faults used up: reads answer again, and nothing was lost.
    let found = h.get("/v2/notifications?reference=reconcile-me").await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["notifications"][0]["id"], id);
    assert_eq!(h.get(&format!("/v2/notifications/{id}")).await.status, 200);
    assert_eq!(h.sim.received().len(), 2);
    let fired = h.sim.fault_stats().fired;
    assert_eq!((fired.error_500, fired.error_429, fired.timeout), (2, 1, 1));
}

#[tokio::test]
async fn read_faults_skip_requests_that_fail_anyway() {
    let h = start(|_| {}).await;
    h.sim
        .inject_fault(Fault::new(FaultMode::Error500).on(FaultOn::Get));
    let unauthenticated = h.http.get(h.url("/v2/notifications")).send().await.unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert_eq!(h.get("/v2/notifications/not-a-uuid").await.status, 400);
    assert_eq!(h.get("/v2/notifications?colour=red").await.status, 400);
    assert_eq!(h.sim.fault_stats().queued, 1);
    assert_eq!(h.get("/v2/notifications").await.status, 500);
}

#[tokio::test]
async fn latency_on_get_holds_the_read_then_answers_it() {
    let h = start(|_| {}).await;
    let id = h.sms("07700900123", "poll").await.body["id"].clone();
    h.sim.inject_fault(
        Fault::new(FaultMode::Latency)
            .on(FaultOn::Get)
            .hold(Duration::from_millis(300)),
    );
    let started = Instant::now();
    let reply = h
        .get(&format!("/v2/notifications/{}", id.as_str().unwrap()))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["id"], id);
}

#[tokio::test]
async fn on_any_faults_hit_whichever_comes_first_and_windows_can_target_reads() {
    let h = start(|_| {}).await;
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "error_500", "on": "any", "count": 2}),
    )
    .await;
    assert_eq!(h.sms("07700900123", "x").await.status, 500);
    assert_eq!(h.get("/v2/notifications?reference=x").await.status, 500);
    assert_eq!(h.sms("07700900123", "x").await.status, 201);

    let window = Duration::from_millis(1000);
    let before = Instant::now();
    h.admin_post(
        "/_sim/faults",
        json!({"mode": "error_429", "on": "get", "for_ms": 1000}),
    )
    .await;
    let after = Instant::now();
    let send = h.sms("07700900123", "y").await;
    let read = h.get("/v2/notifications?reference=y").await;
    if before.elapsed() < window {
        assert_eq!(read.status, 429, "read inside the window");
    }
    assert_eq!(send.status, 201, "sends are left alone");
    tokio::time::sleep(
        (after + window + Duration::from_millis(50)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_eq!(h.get("/v2/notifications?reference=y").await.status, 200);
}

// ---- the admin API's checks and stats ----------------------------------------------------------

#[tokio::test]
async fn fault_requests_are_checked() {
    let h = start(|_| {}).await;
    for body in [
        json!({"mode": "error_500", "count": 2, "for_ms": 100}),
        json!({"mode": "error_500", "for_ms": 0}),
        json!({"mode": "error_500", "on": "post"}),
        json!({"mode": "error_500", "cuont": 2}),
        json!({"mode": "error_500", "count": -1}),
        json!({"count": 1}),
    ] {
        let reply = h.admin_post("/_sim/faults", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.body["error"].is_string(), "{body}");
    }
    assert_eq!(h.sim.fault_stats(), FaultStats::default());
}

#[tokio::test]
async fn stats_count_faults_fired_per_mode() {
    let h = start(|_| {}).await;
    h.sim.inject(FaultMode::Error500, 1, None);
    h.sim.inject(FaultMode::Error429, 2, None);
    h.sim
        .inject(FaultMode::Timeout, 1, Some(Duration::from_millis(10)));
    h.sim.inject(
        FaultMode::TimeoutAfterCreate,
        1,
        Some(Duration::from_millis(10)),
    );
    h.sim
        .inject(FaultMode::Latency, 1, Some(Duration::from_millis(10)));
    h.sim
        .inject_fault(Fault::new(FaultMode::Error500).on(FaultOn::Get).count(3));
    for _ in 0..6 {
        let _ = h
            .http
            .post(h.url("/v2/notifications/email"))
            .header("authorization", h.bearer())
            .json(&json!({"email_address": "parent@example.com", "template_id": template()}))
            .send()
            .await;
    }
    assert_eq!(
        h.email("server-error@simulator.notify", "x").await.status,
        500
    );
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(
        stats["faults"],
        json!({
            "queued": 3,
            "windows_active": 0,
            "fired": 7,
            "fired_by_mode": {
                "error_500": 1,
                "error_429": 2,
                "timeout": 1,
                "timeout_after_create": 1,
                "latency": 1,
                "server_error_address": 1,
            },
        })
    );
    // timeout_after_create and latency created theirs.
    assert_eq!(h.sim.received().len(), 2);
    h.sim.reset();
    assert_eq!(h.sim.fault_stats(), FaultStats::default());
}
