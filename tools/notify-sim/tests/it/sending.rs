//! Creating notifications and reading them back, with Notify's response shapes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use notify_sim::NotificationType;
use serde_json::{Value, json};

use crate::common::{is_notify_timestamp, start, template};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_text_is_created_with_notifys_201_body() {
    let h = start(|_| {}).await;
    let template_id = template();
    let reply = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700 900123", "template_id": template_id, "reference": "msg-1",
                   "personalisation": {"child_name": "Sam", "date": "1 May"}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let b = &reply.body;
    assert_eq!(
        keys(b),
        set(&[
            "id",
            "reference",
            "uri",
            "template",
            "content",
            "scheduled_for"
        ])
    );
    let id = b["id"].as_str().unwrap();
    assert_eq!(b["reference"], "msg-1");
    assert_eq!(b["scheduled_for"], Value::Null);
    assert_eq!(b["uri"], h.url(&format!("/v2/notifications/{id}")));
    assert_eq!(keys(&b["template"]), set(&["id", "version", "uri"]));
    assert_eq!(b["template"]["id"], template_id.as_str());
    assert_eq!(b["template"]["version"], 1);
    assert_eq!(keys(&b["content"]), set(&["body", "from_number"]));
    assert_eq!(b["content"]["body"], "child_name: Sam\ndate: 1 May");

    let received = h.sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id.to_string(), id);
    assert_eq!(received[0].to, "07700 900123");
    assert_eq!(received[0].notification_type, NotificationType::Sms);
    assert_eq!(received[0].personalisation["child_name"], "Sam");
    assert_eq!(received[0].reference.as_deref(), Some("msg-1"));
}

#[tokio::test]
async fn an_email_and_a_letter_have_their_own_content_shapes() {
    let h = start(|_| {}).await;
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "parent@example.com", "template_id": template(),
                   "one_click_unsubscribe_url": "https://example.com/unsubscribe"}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        keys(&reply.body["content"]),
        set(&["body", "subject", "from_email", "one_click_unsubscribe_url"])
    );
    assert_eq!(reply.body["reference"], Value::Null);
    assert_eq!(
        reply.body["content"]["one_click_unsubscribe_url"],
        "https://example.com/unsubscribe"
    );

    let reply = h
        .letter(
            json!({"address_line_1": "The Occupier", "address_line_2": "1 High Street",
                       "postcode": "SW1A 1AA", "child_name": "Sam"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(keys(&reply.body["content"]), set(&["body", "subject"]));
    let received = h.sim.received();
    assert_eq!(received[1].to, "The Occupier");
    assert_eq!(received[1].notification_type, NotificationType::Letter);
}

#[tokio::test]
async fn a_notification_moves_from_created_to_its_final_status() {
    let h = start(|c| c.callback_delay = Duration::from_millis(400)).await;
    let reply = h.sms("07700900123", "ref").await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let first = h.get(&format!("/v2/notifications/{id}")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["status"], "created");
    assert_eq!(first.body["completed_at"], Value::Null);
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let last = h.get(&format!("/v2/notifications/{id}")).await;
    let n = &last.body;
    assert_eq!(n["status"], "delivered");
    assert_eq!(n["type"], "sms");
    assert_eq!(n["phone_number"], "07700900123");
    assert_eq!(n["email_address"], Value::Null);
    assert_eq!(n["line_1"], Value::Null);
    assert_eq!(n["reference"], "ref");
    assert_eq!(n["body"], "child_name: Sam");
    for field in ["created_at", "sent_at", "completed_at"] {
        assert!(
            is_notify_timestamp(n[field].as_str().unwrap()),
            "{field}: {}",
            n[field]
        );
    }
    for field in [
        "id",
        "reference",
        "email_address",
        "phone_number",
        "line_1",
        "line_2",
        "line_3",
        "line_4",
        "line_5",
        "line_6",
        "postcode",
        "type",
        "status",
        "template",
        "body",
        "subject",
        "created_at",
        "created_by_name",
        "sent_at",
        "completed_at",
    ] {
        assert!(n.get(field).is_some(), "missing {field}");
    }
    assert_eq!(h.sim.received()[0].status, "delivered");
}

#[tokio::test]
async fn letters_read_accepted_then_received_with_their_address_lines() {
    let h = start(|c| c.callback_delay = Duration::from_millis(300)).await;
    let reply = h
        .letter(json!({"address_line_1": "The Occupier", "address_line_2": "1 High St", "postcode": "SW1A 1AA"}))
        .await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let n = h.get(&format!("/v2/notifications/{id}")).await.body;
    assert_eq!(n["status"], "accepted");
    assert_eq!(n["line_1"], "The Occupier");
    assert_eq!(n["line_2"], "1 High St");
    assert_eq!(n["postcode"], "SW1A 1AA");
    assert_eq!(n["type"], "letter");
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let n = h.get(&format!("/v2/notifications/{id}")).await.body;
    assert_eq!(n["status"], "received");
}

#[tokio::test]
async fn unknown_and_malformed_ids_get_notifys_errors() {
    let h = start(|_| {}).await;
    let reply = h
        .get(&format!("/v2/notifications/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        json!({"status_code": 404, "errors": [{"error": "NoResultFound", "message": "No result found"}]})
    );
    let reply = h.get("/v2/notifications/not-a-uuid").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.message(0), "notification_id is not a valid UUID");
}

#[tokio::test]
async fn a_notification_can_be_found_by_reference_newest_first() {
    let h = start(|_| {}).await;
    let first = h.sms("07700900123", "child-42").await.body["id"].clone();
    h.sms("07700900124", "someone-else").await;
    let second = h.email("parent@example.com", "child-42").await.body["id"].clone();

    let reply = h.get("/v2/notifications?reference=child-42").await;
    assert_eq!(reply.status, 200);
    let list = reply.body["notifications"].as_array().unwrap();
    let ids: Vec<&Value> = list.iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, vec![&second, &first]);
    assert_eq!(
        reply.body["links"]["current"],
        h.url("/v2/notifications?reference=child-42")
    );
    let next = reply.body["links"]["next"].as_str().unwrap();
    assert!(next.ends_with(&format!("older_than={}", first.as_str().unwrap())));

    let reply = h
        .get("/v2/notifications?reference=child-42&template_type=sms")
        .await;
    assert_eq!(reply.body["notifications"].as_array().unwrap().len(), 1);

    let reply = h.get("/v2/notifications?reference=nobody").await;
    assert_eq!(reply.body["notifications"], json!([]));
    assert!(reply.body["links"].get("next").is_none());
}

#[tokio::test]
async fn listing_filters_by_status_and_pages_with_older_than() {
    let h = start(|_| {}).await;
    let mut ids = Vec::new();
    for n in ["07700900123", "07700900002", "07700900003"] {
        ids.push(h.sms(n, "batch").await.body["id"].clone());
    }
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let failed = h.get("/v2/notifications?status=failed").await.body;
    assert_eq!(failed["notifications"].as_array().unwrap().len(), 2);
    let perm = h
        .get("/v2/notifications?status=permanent-failure&status=delivered")
        .await
        .body;
    assert_eq!(perm["notifications"].as_array().unwrap().len(), 2);
    let older = h
        .get(&format!(
            "/v2/notifications?older_than={}",
            ids[1].as_str().unwrap()
        ))
        .await
        .body;
    let older_ids: Vec<&Value> = older["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert_eq!(older_ids, vec![&ids[0]]);
    let bad = h.get("/v2/notifications?status=elephant").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.message(0)
            .starts_with("status elephant is not one of [cancelled, created")
    );
    let bad = h.get("/v2/notifications?colour=blue").await;
    assert_eq!(
        bad.message(0),
        "Additional properties are not allowed (colour was unexpected)"
    );
}

#[tokio::test]
async fn smoke_test_recipients_answer_201_but_are_not_stored() {
    let h = start(|_| {}).await;
    for number in ["07700900000", "+447700900111", "07700 900222"] {
        let reply = h.sms(number, "smoke").await;
        assert_eq!(reply.status, 201);
        let id = reply.body["id"].as_str().unwrap();
        assert_eq!(h.get(&format!("/v2/notifications/{id}")).await.status, 404);
    }
    let reply = h
        .email("simulate-delivered-2@notifications.service.gov.uk", "smoke")
        .await;
    assert_eq!(reply.status, 201);
    let list = h.get("/v2/notifications?reference=smoke").await.body;
    assert_eq!(list["notifications"], json!([]));
    let received = h.sim.received();
    assert_eq!(received.len(), 4);
    assert!(
        received
            .iter()
            .all(|n| n.simulated && n.status == "delivered")
    );
}

#[tokio::test]
async fn configured_latency_delays_every_api_response() {
    let h = start(|c| c.latency = Duration::from_millis(300)).await;
    let started = Instant::now();
    let reply = h.get("/v2/notifications").await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
