//! Delivery receipts and inbound texts posted to the service, with Notify's retry rules.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use notify_sim::CallbackKind;
use serde_json::{Value, json};

use crate::common::{is_notify_timestamp, receiver, start};

const TOKEN: &str = "callback-token-1234567890";

#[tokio::test]
async fn final_statuses_are_posted_with_the_bearer_token_and_notifys_payload() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
    })
    .await;
    let mut expected = HashMap::new();
    for (number, status) in [
        ("07700 900123", "delivered"),
        ("+447700900002", "permanent-failure"),
        ("07700900003", "temporary-failure"),
    ] {
        let id = h.sms(number, &format!("ref-{status}")).await.body["id"].clone();
        expected.insert(id.as_str().unwrap().to_owned(), (number, status, "sms"));
    }
    for (address, status) in [
        ("parent@example.com", "delivered"),
        ("perm-fail@simulator.notify", "permanent-failure"),
        ("Temp-Fail@simulator.notify", "temporary-failure"),
    ] {
        let id = h.email(address, &format!("ref-{status}")).await.body["id"].clone();
        expected.insert(id.as_str().unwrap().to_owned(), (address, status, "email"));
    }
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
    let calls = rx.calls();
    assert_eq!(calls.len(), 6);
    for call in calls {
        assert_eq!(
            call.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(call.content_type.as_deref(), Some("application/json"));
        let b = &call.body;
        let keys: BTreeSet<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "id",
                "reference",
                "to",
                "status",
                "created_at",
                "completed_at",
                "sent_at",
                "notification_type",
                "template_id",
                "template_version"
            ])
        );
        let (to, status, kind) = expected[b["id"].as_str().unwrap()];
        assert_eq!(b["to"], to, "`to` is as submitted");
        assert_eq!(b["status"], status);
        assert_eq!(b["notification_type"], kind);
        assert_eq!(b["reference"], format!("ref-{status}"));
        assert_eq!(b["template_version"], 1);
        for field in ["created_at", "completed_at", "sent_at"] {
            assert!(
                is_notify_timestamp(b[field].as_str().unwrap()),
                "{}",
                b[field]
            );
        }
    }
}

#[tokio::test]
async fn letters_and_smoke_test_recipients_produce_no_callback() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
    })
    .await;
    h.letter(json!({"address_line_1": "A", "address_line_2": "B", "postcode": "SW1A 1AA"}))
        .await;
    h.sms("07700900111", "smoke").await;
    h.email("simulate-delivered@notifications.service.gov.uk", "smoke")
        .await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.calls().is_empty());
    assert_eq!(h.sim.received().len(), 3);
}

#[tokio::test]
async fn a_callback_answered_500_is_retried_after_the_retry_interval() {
    let rx = receiver(&[500]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
    })
    .await;
    let id = h.sms("07700900123", "retry").await.body["id"].clone();
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
    let calls = rx.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].body, calls[1].body,
        "the retry repeats the same receipt"
    );
    assert_eq!(calls[1].body["id"], id);
    let log = h.sim.callback_log();
    let summary: Vec<(u32, Option<u16>, &str)> = log
        .iter()
        .map(|a| (a.attempt, a.status_code, a.outcome))
        .collect();
    assert_eq!(
        summary,
        vec![(1, Some(500), "retrying"), (2, Some(200), "delivered")]
    );
    assert!(log.iter().all(|a| a.kind == CallbackKind::DeliveryStatus));
}

#[tokio::test]
async fn a_webhook_failing_its_first_attempts_gets_the_receipt_once_it_recovers() {
    // K = 3, and K = 5: the last of Notify's five retries still lands.
    for k in [3_usize, 5] {
        let retry = Duration::from_millis(50);
        let rx = receiver(&vec![500; k]).await;
        let h = start(|c| {
            c.callback_url = Some(rx.url.clone());
            c.callback_bearer_token = Some(TOKEN.into());
            c.callback_retry_interval = retry;
        })
        .await;
        let sent = h.sms("07700900123", "recovers").await;
        assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
        let calls = rx.calls();
        assert_eq!(
            calls.len(),
            k + 1,
            "K = {k}: {k} failures, then the one that lands"
        );
        assert!(
            calls.iter().all(|c| c.body == calls[0].body),
            "every attempt is the same receipt"
        );
        assert!(
            calls
                .iter()
                .all(|c| c.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
        );
        assert_eq!(calls[k].body["id"], sent.body["id"]);
        assert_eq!(calls[k].body["status"], "delivered");
        let log = h.sim.callback_log();
        let summary: Vec<(u32, Option<u16>, &str)> = log
            .iter()
            .map(|a| (a.attempt, a.status_code, a.outcome))
            .collect();
        let mut expected: Vec<(u32, Option<u16>, &str)> =
            (1..=k as u32).map(|n| (n, Some(500), "retrying")).collect();
        expected.push((k as u32 + 1, Some(200), "delivered"));
        assert_eq!(summary, expected, "K = {k}");
        for pair in log.windows(2) {
            assert!(
                pair[1].at - pair[0].at >= retry,
                "retries wait the retry interval"
            );
        }
        let stats = h.admin_get("/_sim/stats").await;
        assert_eq!(stats["callbacks"]["attempts"], k + 1);
        assert_eq!(stats["callbacks"]["delivered"], 1);
    }
}

#[tokio::test]
async fn a_429_is_retried_but_other_client_errors_are_dropped() {
    let rx = receiver(&[429, 404]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
    })
    .await;
    h.sms("07700900123", "a").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
    let outcomes: Vec<&str> = h.sim.callback_log().iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec!["retrying", "dropped"]);
    assert_eq!(rx.calls().len(), 2);
}

#[tokio::test]
async fn notify_gives_up_after_five_retries() {
    let rx = receiver(&[503; 10]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
        c.callback_retry_interval = Duration::from_millis(20);
    })
    .await;
    h.sms("07700900123", "a").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
    assert_eq!(rx.calls().len(), 6);
    let log = h.sim.callback_log();
    assert_eq!(
        log.last().map(|a| (a.attempt, a.outcome)),
        Some((6, "gave_up"))
    );
}

#[tokio::test]
async fn an_unreachable_callback_url_is_retried_as_a_connection_error() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = start(|c| {
        c.callback_url = Some(format!("http://127.0.0.1:{port}/cb"));
        c.callback_bearer_token = Some(TOKEN.into());
        c.callback_retry_interval = Duration::from_millis(10);
    })
    .await;
    h.sms("07700900123", "a").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(10)).await);
    let log = h.sim.callback_log();
    assert_eq!(log.len(), 6);
    assert!(
        log.iter()
            .all(|a| a.status_code.is_none() && a.error.is_some())
    );
}

#[tokio::test]
async fn an_inbound_text_is_posted_with_notifys_payload() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
    })
    .await;
    let reply = h
        .admin_post(
            "/_sim/inbound",
            json!({"source_number": "447700900123", "message": "STOP"}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["callback_scheduled"], true);
    let calls = rx.wait_for(1).await;
    assert_eq!(calls.len(), 1);
    let b = &calls[0].body;
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(b["id"], reply.body["id"]);
    assert_eq!(b["source_number"], "447700900123");
    assert_eq!(b["destination_number"], "447700900000");
    assert_eq!(b["message"], "STOP");
    assert!(is_notify_timestamp(b["date_received"].as_str().unwrap()));
    assert_eq!(b.as_object().unwrap().len(), 5);
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    assert_eq!(h.sim.callback_log()[0].kind, CallbackKind::InboundSms);
}

#[tokio::test]
async fn the_callback_target_can_be_changed_at_runtime() {
    let first = receiver(&[]).await;
    let second = receiver(&[]).await;
    let h = start(|_| {}).await;
    h.sms("07700900123", "no-callback").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    h.sim
        .set_callback(Some(first.url.clone()), Some("t1".into()));
    h.sms("07700900123", "first").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let reply = h
        .admin_post(
            "/_sim/callback-config",
            json!({"url": second.url, "bearer_token": "t2"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    h.sms("07700900123", "second").await;
    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let refs = |calls: Vec<crate::common::Call>| -> Vec<Value> {
        calls
            .into_iter()
            .map(|c| c.body["reference"].clone())
            .collect()
    };
    assert_eq!(refs(first.calls()), vec![json!("first")]);
    assert_eq!(refs(second.calls()), vec![json!("second")]);
    assert_eq!(
        second.calls()[0].authorization.as_deref(),
        Some("Bearer t2")
    );
}
