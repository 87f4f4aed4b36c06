//! Several services in one simulator: each authenticated by its own key, held to its own
//! limits, seeing only its own notifications and templates, with its own callbacks.

use std::time::Duration;

use notify_sim::{Config, FaultMode, ServiceConfig, Template};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::common::{Harness, Key, receiver, start, template};

const TOKEN_A: &str = "token-for-service-a-123456";
const TOKEN_B: &str = "token-for-service-b-654321";

fn sms_body(reference: &str) -> Value {
    json!({"phone_number": "07700900123", "template_id": template(), "reference": reference})
}

/// A simulator whose default service is `h.key()` plus service `b`, adjusted by `adjust_b`.
async fn two_services(
    adjust: impl FnOnce(&mut Config),
    adjust_b: impl FnOnce(&mut ServiceConfig),
) -> (Harness, Key) {
    let b = Key::random();
    let h = start(|c| {
        let mut service = ServiceConfig::new(b.api_key());
        adjust_b(&mut service);
        c.extra_services.push(service);
        adjust(c);
    })
    .await;
    (h, b)
}

#[tokio::test]
async fn each_service_has_its_own_rate_limit() {
    // A: 6 per minute (a bucket of 3: two sends); B: 12 per minute (a bucket of 5: four sends).
    let (h, b) = two_services(|c| c.rate_limit_per_min = 6, |s| s.rate_limit_per_min = 12).await;
    let a = h.key();
    let mut accepted_a = 0;
    let mut refusal_a = None;
    for i in 0..5 {
        let reply = h
            .post_as(&a, "/v2/notifications/sms", sms_body(&format!("a{i}")))
            .await;
        match reply.status {
            201 => accepted_a += 1,
            _ => {
                refusal_a = Some(reply);
                break;
            }
        }
    }
    assert_eq!(accepted_a, 2);
    let refusal_a = refusal_a.expect("A is rate limited");
    assert_eq!(refusal_a.status, 429);
    assert_eq!(
        refusal_a.message(0),
        "Exceeded rate limit for key type LIVE of 6 requests per 60 seconds"
    );

    // A's empty bucket does not touch B's.
    let mut accepted_b = 0;
    let mut refusal_b = None;
    for i in 0..8 {
        let reply = h
            .post_as(&b, "/v2/notifications/sms", sms_body(&format!("b{i}")))
            .await;
        match reply.status {
            201 => accepted_b += 1,
            _ => {
                refusal_b = Some(reply);
                break;
            }
        }
    }
    assert_eq!(accepted_b, 4);
    assert_eq!(
        refusal_b.expect("B is rate limited").message(0),
        "Exceeded rate limit for key type LIVE of 12 requests per 60 seconds"
    );

    let stats_a = h.admin_get("/_sim/stats").await;
    let stats_b = h
        .admin_get(&format!("/_sim/stats?service_id={}", b.service_id))
        .await;
    assert_eq!(stats_a["responses_429"]["rate_limit"], 1);
    assert_eq!(stats_b["responses_429"]["rate_limit"], 1);
    assert_eq!(stats_a["limits"]["bucket_capacity"], 3);
    assert_eq!(stats_b["limits"]["bucket_capacity"], 5);
    assert_eq!(stats_b["service_id"], b.service_id.to_string());
}

#[tokio::test]
async fn each_service_has_its_own_daily_limits() {
    let (h, b) = two_services(
        |c| {
            c.daily_limits = notify_sim::DailyLimits {
                email: 10,
                sms: 1,
                letter: 10,
            }
        },
        |_| {},
    )
    .await;
    assert_eq!(h.sms("07700900123", "a1").await.status, 201);
    let refused = h.sms("07700900123", "a2").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error(0), "TooManyRequestsError");
    for i in 0..3 {
        let reply = h
            .post_as(&b, "/v2/notifications/sms", sms_body(&format!("b{i}")))
            .await;
        assert_eq!(reply.status, 201);
    }
}

#[tokio::test]
async fn a_service_sees_only_its_own_notifications() {
    let (h, b) = two_services(|_| {}, |_| {}).await;
    let a = h.key();
    let sent_a = h
        .post_as(&a, "/v2/notifications/sms", sms_body("shared-ref"))
        .await;
    let sent_b = h
        .post_as(&b, "/v2/notifications/sms", sms_body("shared-ref"))
        .await;
    let (id_a, id_b) = (
        sent_a.body["id"].as_str().unwrap().to_owned(),
        sent_b.body["id"].as_str().unwrap().to_owned(),
    );
    // Each 201 names its own service in the template URI.
    assert!(
        sent_b.body["template"]["uri"]
            .as_str()
            .unwrap()
            .contains(&format!("/services/{}/", b.service_id))
    );

    assert_eq!(
        h.get_as(&a, &format!("/v2/notifications/{id_a}"))
            .await
            .status,
        200
    );
    assert_eq!(
        h.get_as(&b, &format!("/v2/notifications/{id_a}"))
            .await
            .status,
        404
    );
    assert_eq!(
        h.get_as(&a, &format!("/v2/notifications/{id_b}"))
            .await
            .status,
        404
    );
    let listed_b = h.get_as(&b, "/v2/notifications?reference=shared-ref").await;
    let ids: Vec<&str> = listed_b.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id_b.as_str()]);

    // The Rust handle and the admin API keep them apart too.
    let received_a = h.sim.received();
    assert_eq!(received_a.len(), 1);
    assert_eq!(received_a[0].id.to_string(), id_a);
    assert_eq!(received_a[0].service_id, a.service_id);
    let received_b = h.sim.notifications_for(b.service_id);
    assert_eq!(received_b.len(), 1);
    assert_eq!(received_b[0].id.to_string(), id_b);
    assert!(h.sim.notifications_for(Uuid::new_v4()).is_empty());
    let admin_b = h
        .admin_get(&format!("/_sim/notifications?service_id={}", b.service_id))
        .await;
    assert_eq!(admin_b.as_array().unwrap().len(), 1);
    assert_eq!(admin_b[0]["id"], id_b);
    assert_eq!(admin_b[0]["service_id"], b.service_id.to_string());
}

#[tokio::test]
async fn callbacks_go_to_each_services_own_url_with_its_own_token() {
    let rx_a = receiver(&[]).await;
    let rx_b = receiver(&[]).await;
    let (url_b, token_b) = (rx_b.url.clone(), TOKEN_B.to_owned());
    let (h, b) = two_services(
        |c| {
            c.callback_url = Some(rx_a.url.clone());
            c.callback_bearer_token = Some(TOKEN_A.into());
        },
        |s| {
            s.callback_url = Some(url_b);
            s.callback_bearer_token = Some(token_b);
        },
    )
    .await;
    let id_a = h.sms("07700900123", "a").await.body["id"].clone();
    let id_b = h
        .post_as(&b, "/v2/notifications/sms", sms_body("b"))
        .await
        .body["id"]
        .clone();
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);

    let calls_a = rx_a.calls();
    let calls_b = rx_b.calls();
    assert_eq!((calls_a.len(), calls_b.len()), (1, 1));
    assert_eq!(calls_a[0].body["id"], id_a);
    assert_eq!(
        calls_a[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN_A}"))
    );
    assert_eq!(calls_b[0].body["id"], id_b);
    assert_eq!(
        calls_b[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN_B}"))
    );

    // Each service's callback log, and its inbound texts, are its own.
    assert_eq!(h.sim.callback_log().len(), 1);
    let service_b = h.sim.service(b.service_id).expect("service b");
    assert_eq!(service_b.callback_log().len(), 1);
    let inbound = h
        .admin_post(
            &format!("/_sim/inbound?service_id={}", b.service_id),
            json!({"source_number": "447700900123", "message": "Yes please"}),
        )
        .await;
    assert_eq!(inbound.status, 201);
    let calls_b = rx_b.wait_for(2).await;
    assert_eq!(calls_b.len(), 2);
    assert_eq!(calls_b[1].body["message"], "Yes please");
    assert_eq!(rx_a.calls().len(), 1);
    let log_b = h
        .admin_get(&format!("/_sim/callbacks?service_id={}", b.service_id))
        .await;
    assert_eq!(log_b.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn templates_belong_to_one_service() {
    let (h, b) = two_services(|_| {}, |_| {}).await;
    let id = Uuid::new_v4();
    let made = h
        .admin_post(
            &format!("/_sim/templates?service_id={}", b.service_id),
            json!({"id": id.to_string(), "type": "sms", "name": "B's", "body": "Hi ((name))"}),
        )
        .await;
    assert_eq!(made.status, 201);
    // B now checks its sends; A (no templates) still accepts any template id.
    let refused = h.post_as(&b, "/v2/notifications/sms", sms_body("b")).await;
    assert_eq!(refused.message(0), "Template not found");
    assert_eq!(h.sms("07700900123", "a").await.status, 201);
    assert_eq!(h.get(&format!("/v2/template/{id}")).await.status, 404);
    assert_eq!(
        h.get_as(&b, &format!("/v2/template/{id}")).await.status,
        200
    );
    // Same from Rust.
    let a_template = Uuid::new_v4();
    h.sim
        .put_template(Template::sms(a_template, "A's", "Hello"))
        .unwrap();
    assert_eq!(
        h.get_as(&b, &format!("/v2/template/{a_template}"))
            .await
            .status,
        404
    );
    assert_eq!(h.sim.service(b.service_id).unwrap().templates()[0].id, id);
}

#[tokio::test]
async fn faults_and_resets_address_one_service() {
    let (h, b) = two_services(|_| {}, |_| {}).await;
    let queued = h
        .admin_post(
            &format!("/_sim/faults?service_id={}", b.service_id),
            json!({"mode": "error_500"}),
        )
        .await;
    assert_eq!(queued.body, json!({"queued": 1, "windows_active": 0}));
    assert_eq!(h.sms("07700900123", "a").await.status, 201);
    assert_eq!(
        h.post_as(&b, "/v2/notifications/sms", sms_body("b"))
            .await
            .status,
        500
    );
    assert_eq!(
        h.post_as(&b, "/v2/notifications/sms", sms_body("b2"))
            .await
            .status,
        201
    );

    let service_b = h.sim.service(b.service_id).unwrap();
    service_b.inject(FaultMode::Error429, 1, None);
    assert_eq!(h.sim.fault_stats().queued, 0);
    assert_eq!(service_b.fault_stats().queued, 1);

    // Resetting B leaves A's notifications.
    let reply = h
        .admin_post(
            &format!("/_sim/reset?service_id={}", b.service_id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(h.sim.notifications_for(b.service_id).is_empty());
    assert_eq!(service_b.fault_stats().queued, 0);
    assert_eq!(h.sim.received().len(), 1);
    // A reset without service_id resets every service.
    h.admin_post("/_sim/reset", json!({})).await;
    assert!(h.sim.received().is_empty());
}

#[tokio::test]
async fn the_admin_api_names_services_and_refuses_unknown_ones() {
    let (h, b) = two_services(
        |c| c.rate_limit_per_min = 60,
        |s| s.rate_limit_per_min = 120,
    )
    .await;
    let services = h.admin_get("/_sim/services").await;
    let list = services["services"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["service_id"], h.service_id.to_string());
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[1]["service_id"], b.service_id.to_string());
    assert_eq!(list[1]["rate_limit_per_min"], 120);
    assert!(!services.to_string().contains(&b.secret.to_string()));
    assert_eq!(h.sim.service_ids(), vec![h.service_id, b.service_id]);

    let unknown = h
        .admin_get_reply(&format!(
            "/_sim/notifications?service_id={}",
            Uuid::new_v4()
        ))
        .await;
    assert_eq!(unknown.status, 404);
    let invalid = h.admin_get_reply("/_sim/stats?service_id=nope").await;
    assert_eq!(invalid.status, 400);
}

#[tokio::test]
async fn a_key_for_a_service_the_simulator_lacks_is_service_not_found() {
    let (h, _b) = two_services(|_| {}, |_| {}).await;
    let stranger = Key::random();
    let reply = h
        .post_as(&stranger, "/v2/notifications/sms", sms_body("x"))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.message(0), "Invalid token: service not found");
}

#[tokio::test]
async fn two_services_with_one_service_id_do_not_start() {
    let a = Key::random();
    let same_service = Key {
        service_id: a.service_id,
        secret: Uuid::new_v4(),
    };
    let config = Config::new(a.api_key()).with_service(ServiceConfig::new(same_service.api_key()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = notify_sim::spawn(config, listener)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("service id"));
}
