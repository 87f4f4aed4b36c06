//! Templates: `GET /v2/template/{id}`, `POST /v2/template/{id}/preview`, `GET /v2/templates`,
//! the admin routes that make them, and sends checked against them once a service has any.

use std::collections::BTreeSet;
use std::time::Duration;

use notify_sim::Template;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Harness, is_notify_timestamp, receiver, start, template};

const EMAIL_BODY: &str = "Dear ((parent name)),\n\n((Child Name)) is due a vaccination.((late??\n\nThis is a reminder.))";
const EMAIL_SUBJECT: &str = "Vaccination for ((child_name))";

fn not_found_body() -> Value {
    json!({"status_code": 404, "errors": [{"error": "NoResultFound", "message": "No result found"}]})
}

fn bad_request_body(message: &str) -> Value {
    json!({"status_code": 400, "errors": [{"error": "BadRequestError", "message": message}]})
}

/// Creates a template through the admin API and returns its id.
async fn admin_template(h: &Harness, body: Value) -> Uuid {
    let reply = h.admin_post("/_sim/templates", body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().parse().unwrap()
}

async fn email_template(h: &Harness) -> Uuid {
    admin_template(
        h,
        json!({"id": Uuid::new_v4().to_string(), "type": "email", "name": "Consent reminder",
               "subject": EMAIL_SUBJECT, "body": EMAIL_BODY, "version": 3}),
    )
    .await
}

async fn sms_template(h: &Harness) -> Uuid {
    admin_template(
        h,
        json!({"id": Uuid::new_v4().to_string(), "type": "sms", "name": "Text reminder",
               "body": "((child name)) is due on ((date))."}),
    )
    .await
}

#[tokio::test]
async fn get_template_answers_with_notifys_json() {
    let h = start(|_| {}).await;
    let id = email_template(&h).await;

    let reply = h.get(&format!("/v2/template/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let t = &reply.body;
    let keys: BTreeSet<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "type",
            "created_at",
            "updated_at",
            "created_by",
            "version",
            "body",
            "subject",
            "name",
            "personalisation",
            "postage",
            "letter_contact_block"
        ])
    );
    assert_eq!(t["id"], id.to_string());
    assert_eq!(t["type"], "email");
    assert_eq!(t["version"], 3);
    assert_eq!(t["body"], EMAIL_BODY);
    assert_eq!(t["subject"], EMAIL_SUBJECT);
    assert_eq!(t["name"], "Consent reminder");
    assert!(is_notify_timestamp(t["created_at"].as_str().unwrap()));
    assert_eq!(t["updated_at"], Value::Null);
    assert!(t["created_by"].as_str().unwrap().contains('@'));
    assert_eq!(t["postage"], Value::Null);
    assert_eq!(t["letter_contact_block"], Value::Null);
    // Each spelling of each placeholder, subject and body, conditional ones by name.
    assert_eq!(
        t["personalisation"],
        json!({"child_name": {"required": true}, "parent name": {"required": true},
               "Child Name": {"required": true}, "late": {"required": true}})
    );

    let sms = sms_template(&h).await;
    let t = h.get(&format!("/v2/template/{sms}")).await.body;
    assert_eq!(
        (t["type"].clone(), t["subject"].clone()),
        (json!("sms"), Value::Null)
    );
    assert_eq!(t["version"], 1);

    let letter = admin_template(
        &h,
        json!({"id": Uuid::new_v4().to_string(), "type": "letter", "name": "Letter",
               "subject": "Your child", "body": "Hello"}),
    )
    .await;
    let t = h.get(&format!("/v2/template/{letter}")).await.body;
    assert_eq!(
        (t["postage"].clone(), t["subject"].clone()),
        (json!("second"), json!("Your child"))
    );
}

#[tokio::test]
async fn get_template_refuses_unknown_ids_bad_ids_and_missing_auth() {
    let h = start(|_| {}).await;
    let id = email_template(&h).await;

    let unknown = h.get(&format!("/v2/template/{}", Uuid::new_v4())).await;
    assert_eq!((unknown.status, unknown.body), (404, not_found_body()));
    let bad = h.get("/v2/template/not-a-uuid").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        json!({"status_code": 400, "errors": [{"error": "ValidationError", "message": "id is not a valid UUID"}]})
    );
    let unauthenticated = h
        .http
        .get(h.url(&format!("/v2/template/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // By version: the template's own, or nothing.
    assert_eq!(
        h.get(&format!("/v2/template/{id}/version/3")).await.status,
        200
    );
    let other = h.get(&format!("/v2/template/{id}/version/2")).await;
    assert_eq!((other.status, other.body), (404, not_found_body()));
}

#[tokio::test]
async fn replacing_a_template_keeps_created_at_and_sets_updated_at() {
    let h = start(|_| {}).await;
    let id = Uuid::new_v4();
    let body = |name: &str, version: u32| json!({"id": id.to_string(), "type": "sms", "name": name, "body": "Hi ((name))", "version": version});
    let first = h.admin_post("/_sim/templates", body("one", 1)).await;
    assert_eq!(first.status, 201);
    let second = h.admin_post("/_sim/templates", body("two", 2)).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["created_at"], first.body["created_at"]);
    assert!(is_notify_timestamp(
        second.body["updated_at"].as_str().unwrap()
    ));
    let t = h.get(&format!("/v2/template/{id}")).await.body;
    assert_eq!(
        (t["name"].clone(), t["version"].clone()),
        (json!("two"), json!(2))
    );
    let listed = h.admin_get("/_sim/templates").await;
    assert_eq!(listed["templates"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_admin_api_refuses_templates_notify_would_not_have() {
    let h = start(|_| {}).await;
    let id = Uuid::new_v4().to_string();
    for bad in [
        json!({"id": "x", "type": "sms", "name": "n", "body": "b"}),
        json!({"id": id, "type": "fax", "name": "n", "body": "b"}),
        json!({"id": id, "type": "email", "name": "n", "body": "b"}),
        json!({"id": id, "type": "sms", "name": "n", "body": "b", "subject": "s"}),
        json!({"id": id, "type": "sms", "name": "n", "body": ""}),
        json!({"id": id, "type": "sms", "name": "n", "body": "b", "version": 0}),
        json!({"id": id, "type": "sms", "name": "n", "body": "b", "colour": "red"}),
    ] {
        let reply = h.admin_post("/_sim/templates", bad.clone()).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.body["error"].is_string());
    }
    assert_eq!(
        h.admin_get("/_sim/templates").await,
        json!({"templates": []})
    );
}

#[tokio::test]
async fn preview_fills_the_template_in_whatever_the_keys_case_and_spacing() {
    let h = start(|_| {}).await;
    let id = email_template(&h).await;
    let reply = h
        .post(
            &format!("/v2/template/{id}/preview"),
            json!({"personalisation": {"Parent_Name": "Alex", "child name": "Sam", "LATE": "yes"}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let p = &reply.body;
    let keys: BTreeSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id", "type", "version", "body", "html", "subject", "postage"
        ])
    );
    assert_eq!(p["id"], id.to_string());
    assert_eq!(p["type"], "email");
    assert_eq!(p["version"], 3);
    assert_eq!(
        p["body"],
        "Dear Alex,\n\nSam is due a vaccination.\n\nThis is a reminder."
    );
    assert_eq!(p["subject"], "Vaccination for Sam");
    assert_eq!(p["postage"], Value::Null);
    let html = p["html"].as_str().unwrap();
    assert!(html.contains("Dear Alex,</p>"), "{html}");

    // The conditional text goes when its value is not a yes.
    let reply = h
        .post(
            &format!("/v2/template/{id}/preview"),
            json!({"personalisation": {"parent name": "Alex", "child_name": "Sam", "late": "no"}}),
        )
        .await;
    assert_eq!(
        reply.body["body"],
        "Dear Alex,\n\nSam is due a vaccination."
    );

    let sms = sms_template(&h).await;
    let reply = h
        .post(
            &format!("/v2/template/{sms}/preview"),
            json!({"personalisation": {"child name": "Sam", "date": "1 May"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["body"], "Sam is due on 1 May.");
    assert_eq!(reply.body["subject"], Value::Null);
    assert_eq!(reply.body["html"], Value::Null);
}

#[tokio::test]
async fn preview_lists_missing_personalisation_as_notify_does() {
    let h = start(|_| {}).await;
    let id = email_template(&h).await;
    let reply = h
        .post(
            &format!("/v2/template/{id}/preview"),
            json!({"personalisation": {"parent name": "Alex", "child_name": null}}),
        )
        .await;
    assert_eq!(reply.status, 400);
    // Subject placeholders first, then the body's; null counts as missing.
    assert_eq!(
        reply.body,
        bad_request_body("Missing personalisation: child_name, Child Name, late")
    );

    // No body at all is an empty preview request: fine for a template without placeholders.
    let plain = admin_template(
        &h,
        json!({"id": Uuid::new_v4().to_string(), "type": "sms", "name": "plain", "body": "Hello"}),
    )
    .await;
    let reply = h
        .post_with(
            &format!("/v2/template/{plain}/preview"),
            Some(&h.bearer()),
            "",
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["body"].clone()),
        (200, json!("Hello"))
    );

    let unknown = h
        .post(
            &format!("/v2/template/{}/preview", Uuid::new_v4()),
            json!({"personalisation": {}}),
        )
        .await;
    assert_eq!((unknown.status, unknown.body), (404, not_found_body()));
    let invalid = h
        .post(
            "/v2/template/nope/preview",
            json!({"personalisation": "not an object"}),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.error(0), "ValidationError");
    assert_eq!(invalid.message(0), "id is not a valid UUID");
    assert_eq!(
        invalid.message(1),
        "personalisation should contain key value pairs"
    );
}

#[tokio::test]
async fn get_templates_lists_the_services_templates_by_type() {
    let h = start(|_| {}).await;
    let email = email_template(&h).await;
    let sms = sms_template(&h).await;
    let all = h.get("/v2/templates").await;
    assert_eq!(all.status, 200);
    let ids: BTreeSet<String> = all.body["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from([email.to_string(), sms.to_string()]));
    let texts = h.get("/v2/templates?type=sms").await.body;
    assert_eq!(texts["templates"].as_array().unwrap().len(), 1);
    assert_eq!(texts["templates"][0]["id"], sms.to_string());
    let bad = h.get("/v2/templates?type=fax").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.message(0),
        "type fax is not one of [sms, email, letter]"
    );
}

#[tokio::test]
async fn template_reads_are_not_rate_limited_as_in_notify() {
    // 6 per minute: a bucket of 3, so two sends in a burst. Template reads spend no tokens
    // (notifications-api calls check_rate_limiting only when sending).
    let h = start(|c| c.rate_limit_per_min = 6).await;
    let id = sms_template(&h).await;
    for _ in 0..10 {
        assert_eq!(h.get(&format!("/v2/template/{id}")).await.status, 200);
        let preview = h
            .post(
                &format!("/v2/template/{id}/preview"),
                json!({"personalisation": {"child name": "Sam", "date": "today"}}),
            )
            .await;
        assert_eq!(preview.status, 200);
    }
    let send = |reference: &'static str| {
        h.post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": id.to_string(), "reference": reference,
                   "personalisation": {"child name": "Sam", "date": "today"}}),
        )
    };
    assert_eq!(send("a").await.status, 201);
    assert_eq!(send("b").await.status, 201);
    assert_eq!(send("c").await.status, 429);
}

#[tokio::test]
async fn without_templates_any_template_id_is_accepted_as_before() {
    let h = start(|_| {}).await;
    let reply = h.sms("07700900123", "any").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["template"]["version"], 1);
    assert_eq!(reply.body["content"]["body"], "child_name: Sam");
}

#[tokio::test]
async fn with_templates_a_send_must_name_one_of_the_right_type_with_every_placeholder() {
    let h = start(|_| {}).await;
    let email = email_template(&h).await;
    let sms = sms_template(&h).await;

    let unknown = h.sms("07700900123", "unknown").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body, bad_request_body("Template not found"));

    let wrong_type = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "parent@example.com", "template_id": sms.to_string()}),
        )
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.body),
        (
            400,
            bad_request_body("sms template is not suitable for email notification")
        )
    );
    let wrong_type = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": email.to_string()}),
        )
        .await;
    assert_eq!(
        wrong_type.body,
        bad_request_body("email template is not suitable for sms notification")
    );

    let missing = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "parent@example.com", "template_id": email.to_string(),
                   "personalisation": {"parent name": "Alex"}}),
        )
        .await;
    assert_eq!(
        missing.body,
        bad_request_body("Missing personalisation: child_name, Child Name, late")
    );
    assert!(h.sim.received().is_empty());
}

#[tokio::test]
async fn a_templated_send_stores_and_reports_the_rendered_template() {
    let rx = receiver(&[]).await;
    let h = start(|c| {
        c.callback_url = Some(rx.url.clone());
        c.callback_bearer_token = Some("callback-token-1234567890".into());
    })
    .await;
    let id = email_template(&h).await;
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "parent@example.com", "template_id": id.to_string(),
                   "reference": "templated",
                   "personalisation": {"parent name": "Alex", "child name": "Sam", "late": false}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["template"]["version"], 3);
    assert_eq!(
        reply.body["content"]["body"],
        "Dear Alex,\n\nSam is due a vaccination."
    );
    assert_eq!(reply.body["content"]["subject"], "Vaccination for Sam");

    let stored = &h.sim.received()[0];
    assert_eq!(stored.body, "Dear Alex,\n\nSam is due a vaccination.");
    assert_eq!(stored.subject.as_deref(), Some("Vaccination for Sam"));
    assert_eq!(stored.template_version, 3);
    let notification_id = reply.body["id"].as_str().unwrap();
    let got = h.get(&format!("/v2/notifications/{notification_id}")).await;
    assert_eq!(got.body["body"], "Dear Alex,\n\nSam is due a vaccination.");
    assert_eq!(got.body["template"]["version"], 3);

    assert!(h.sim.wait_callbacks_idle(Duration::from_secs(5)).await);
    let calls = rx.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["template_version"], 3);
}

#[tokio::test]
async fn empty_and_too_long_texts_are_refused() {
    let h = start(|_| {}).await;
    let id = admin_template(
        &h,
        json!({"id": Uuid::new_v4().to_string(), "type": "sms", "name": "n", "body": "((message))"}),
    )
    .await;
    let send = |message: String| {
        h.post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": id.to_string(),
                   "personalisation": {"message": message}}),
        )
    };
    assert_eq!(
        send(String::new()).await.body,
        bad_request_body("Your message is empty.")
    );
    assert_eq!(
        send("a".repeat(919)).await.body,
        bad_request_body(
            "Your message is too long. Text messages cannot be longer than 918 characters. \
             Your message is 919 characters long."
        )
    );
    assert_eq!(send("a".repeat(918)).await.status, 201);
}

#[tokio::test]
async fn deleting_every_template_accepts_any_template_id_again() {
    let h = start(|_| {}).await;
    let id = sms_template(&h).await;
    assert_eq!(h.sms("07700900123", "refused").await.status, 400);
    let missing = h
        .admin_delete(&format!("/_sim/templates/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        h.admin_delete(&format!("/_sim/templates/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(h.sms("07700900123", "accepted").await.status, 201);

    sms_template(&h).await;
    assert_eq!(h.admin_delete("/_sim/templates").await.status, 200);
    assert_eq!(h.sms("07700900123", "accepted again").await.status, 201);
}

#[tokio::test]
async fn templates_survive_a_reset_and_can_be_made_from_rust() {
    let h = start(|_| {}).await;
    let id = Uuid::new_v4();
    h.sim
        .put_template(Template::sms(id, "From Rust", "Hello ((name))"))
        .unwrap();
    assert!(
        h.sim
            .put_template(Template::sms(Uuid::new_v4(), "", "x"))
            .is_err()
    );
    h.sim.reset();
    assert_eq!(h.sim.default_service().templates().len(), 1);
    let reply = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": id.to_string(),
                   "personalisation": {"NAME": "Sam"}}),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["content"]["body"], "Hello Sam");
    // A template id the sender invented is refused now that the service has templates.
    let invented = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": template()}),
        )
        .await;
    assert_eq!(invented.body, bad_request_body("Template not found"));
}
