//! The token-bucket rate limit and the daily limits.

use std::time::{Duration, Instant};

use notify_sim::DailyLimits;
use serde_json::json;

use crate::common::{start, template};

fn rate_limit_body(limit: u32) -> serde_json::Value {
    json!({"status_code": 429, "errors": [{"error": "RateLimitError",
        "message": format!("Exceeded rate limit for key type LIVE of {limit} requests per 60 seconds")}]})
}

#[tokio::test]
async fn a_full_bucket_of_21_admits_20_sends_then_answers_rate_limit_error() {
    // 60 per minute: capacity min(ceil(60/3)+1, 1000) = 21, refilled at 1 token per second.
    let h = start(|c| c.rate_limit_per_min = 60).await;
    let started = Instant::now();
    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..25 {
        let reply = h.sms("07700900123", &format!("burst-{i}")).await;
        match reply.status {
            201 => accepted += 1,
            429 => {
                refusal = Some(reply.body);
                break;
            }
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    // Notify's script refuses once fewer than one token *remains*, so a full bucket of 21 admits
    // 20. Tokens refilled during the burst (one per whole second) may admit a few more.
    let refilled = started.elapsed().as_secs() as usize;
    assert!(
        (20..=20 + refilled).contains(&accepted),
        "accepted {accepted} with {refilled} s of refill"
    );
    assert_eq!(refusal, Some(rate_limit_body(60)));
    assert_eq!(h.sim.received().len(), accepted);
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["responses_429"]["rate_limit"], 1);
    assert_eq!(stats["limits"]["bucket_capacity"], 21);
}

#[tokio::test]
async fn the_bucket_refills_with_time() {
    let h = start(|c| c.rate_limit_per_min = 60).await;
    let mut refused = false;
    for i in 0..30 {
        if h.sms("07700900123", &format!("drain-{i}")).await.status == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused);
    // Two quiet seconds replenish two tokens: enough for at least one more send.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(h.sms("07700900123", "after-wait").await.status, 201);
    let mut refused_again = false;
    for i in 0..5 {
        if h.sms("07700900123", &format!("again-{i}")).await.status == 429 {
            refused_again = true;
            break;
        }
    }
    assert!(
        refused_again,
        "a handful of tokens, not a full bucket, came back"
    );
}

#[tokio::test]
async fn refused_requests_do_not_spend_tokens_and_reads_are_not_rate_limited() {
    let h = start(|c| c.rate_limit_per_min = 30).await; // capacity 11: 10 sends
    for _ in 0..15 {
        let reply = h
            .post(
                "/v2/notifications/sms",
                json!({"phone_number": "0", "template_id": template()}),
            )
            .await;
        assert_eq!(reply.status, 400);
        assert_eq!(h.get("/v2/notifications").await.status, 200);
    }
    for i in 0..10 {
        let reply = h.sms("07700900123", &format!("ok-{i}")).await;
        assert_eq!(reply.status, 201, "send {i}: {:?}", reply.body);
    }
    let reply = h.sms("07700900123", "one-too-many").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, rate_limit_body(30));
}

#[tokio::test]
async fn the_daily_limit_is_per_channel_and_answers_too_many_requests() {
    let h = start(|c| {
        c.daily_limits = DailyLimits {
            email: 2,
            sms: 250_000,
            letter: 0,
        }
    })
    .await;
    assert_eq!(h.email("a@example.com", "1").await.status, 201);
    assert_eq!(h.email("b@example.com", "2").await.status, 201);
    let reply = h.email("c@example.com", "3").await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.body,
        json!({"status_code": 429, "errors": [{"error": "TooManyRequestsError",
            "message": "Exceeded send limits (email: 2) for today"}]})
    );
    assert_eq!(h.sms("07700900123", "sms").await.status, 201);
    let reply = h
        .letter(json!({"address_line_1": "A", "address_line_2": "B", "postcode": "SW1A 1AA"}))
        .await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.message(0),
        "Exceeded send limits (letter: 0) for today"
    );
    let stats = h.admin_get("/_sim/stats").await;
    assert_eq!(stats["responses_429"]["daily_limit"], 2);
    assert_eq!(stats["limits"]["sent_today"]["email"], 2);
}

#[tokio::test]
async fn smoke_test_sends_do_not_count_against_the_daily_limit() {
    let h = start(|c| {
        c.daily_limits = DailyLimits {
            email: 1,
            sms: 1,
            letter: 1,
        }
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.sms("07700900000", "smoke").await.status, 201);
    }
    assert_eq!(h.sms("07700900123", "real").await.status, 201);
    assert_eq!(h.sms("07700900124", "real-2").await.status, 429);
}
