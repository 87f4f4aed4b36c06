//! Request validation: every rule answers 400 with Notify's wording and creates nothing.

use serde_json::{Value, json};

use crate::common::{Harness, Reply, start, template};

fn assert_validation(reply: &Reply, messages: &[&str]) {
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.body["status_code"], 400);
    let errors: Vec<Value> = messages
        .iter()
        .map(|m| json!({"error": "ValidationError", "message": m}))
        .collect();
    assert_eq!(reply.body["errors"], Value::Array(errors));
}

async fn sms_to(h: &Harness, number: &str) -> Reply {
    h.post(
        "/v2/notifications/sms",
        json!({"phone_number": number, "template_id": template()}),
    )
    .await
}

#[tokio::test]
async fn missing_required_fields_are_all_reported_at_once() {
    let h = start(|_| {}).await;
    let reply = h
        .post("/v2/notifications/sms", json!({"template_id": "notUUID"}))
        .await;
    assert_validation(
        &reply,
        &[
            "template_id is not a valid UUID",
            "phone_number is a required property",
        ],
    );
    let reply = h.post("/v2/notifications/email", json!({})).await;
    assert_validation(
        &reply,
        &[
            "email_address is a required property",
            "template_id is a required property",
        ],
    );
    assert!(h.sim.received().is_empty());
}

#[tokio::test]
async fn phone_numbers_follow_notifys_uk_mobile_rules() {
    let h = start(|_| {}).await;
    for (number, message) in [
        ("08515111111", "phone_number Not a UK mobile number"),
        (
            "07515111*11",
            "phone_number Must not contain letters or symbols",
        ),
        (
            "notaphonenumber",
            "phone_number Must not contain letters or symbols",
        ),
        ("077009001234", "phone_number Too many digits"),
        ("0770090012", "phone_number Not enough digits"),
    ] {
        assert_validation(&sms_to(&h, number).await, &[message]);
    }
    let reply = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": 7700900001_u64, "template_id": template()}),
        )
        .await;
    assert_validation(&reply, &["phone_number 7700900001 is not of type string"]);
    for ok in [
        "07700 900123",
        "+44 7700 900123",
        "(07700) 900-123",
        "447700900123",
    ] {
        assert_eq!(sms_to(&h, ok).await.status, 201, "{ok}");
    }
}

#[tokio::test]
async fn international_numbers_are_refused_because_the_service_cannot_text_abroad() {
    let h = start(|_| {}).await;
    let reply = sms_to(&h, "+33 1 23 45 67 89").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(0), "BadRequestError");
    assert_eq!(
        reply.message(0),
        "Cannot send to international mobile numbers"
    );
    assert_validation(
        &sms_to(&h, "+999 1234 5678").await,
        &["phone_number Not a valid country prefix"],
    );
}

#[tokio::test]
async fn email_addresses_follow_notifys_rules() {
    let h = start(|_| {}).await;
    for bad in [
        "example",
        "a@b",
        "a..b@example.com",
        "a b@example.com",
        "a@-x.com",
    ] {
        let reply = h.email(bad, "r").await;
        assert_validation(&reply, &["email_address Not a valid email address"]);
    }
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": null, "template_id": template()}),
        )
        .await;
    assert_validation(&reply, &["email_address None is not of type string"]);
}

#[tokio::test]
async fn reference_personalisation_and_unknown_fields_are_checked() {
    let h = start(|_| {}).await;
    let long = "x".repeat(1001);
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "a@example.com", "template_id": template(), "reference": long}),
        )
        .await;
    assert_validation(&reply, &[&format!("reference {long} is too long")]);
    let ok = "x".repeat(1000);
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "a@example.com", "template_id": template(), "reference": ok}),
        )
        .await;
    assert_eq!(reply.status, 201);

    let reply = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": template(), "personalisation": "not_a_dict"}),
        )
        .await;
    assert_validation(&reply, &["personalisation should contain key value pairs"]);

    let reply = h
        .post(
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": template(), "x": 1}),
        )
        .await;
    assert_validation(
        &reply,
        &["Additional properties are not allowed (x was unexpected)"],
    );
    let reply = h
        .post(
            "/v2/notifications/email",
            json!({"email_address": "a@example.com", "template_id": template(),
                   "one_click_unsubscribe_url": "http://insecure.example/u"}),
        )
        .await;
    assert_validation(
        &reply,
        &["one_click_unsubscribe_url is not a valid https url"],
    );
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_error() {
    let h = start(|_| {}).await;
    let reply = h
        .post_with(
            "/v2/notifications/sms",
            Some(&h.bearer()),
            "{\"phone_number\": ",
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body,
        json!({"status_code": 400, "errors": [{"error": "BadRequestError", "message": "Invalid JSON supplied in POST data"}]})
    );
    let reply = h
        .post_with("/v2/notifications/sms", Some(&h.bearer()), "[1, 2]")
        .await;
    assert_validation(&reply, &["[1, 2] is not of type object"]);
}

#[tokio::test]
async fn letter_addresses_follow_notifys_postal_rules() {
    let h = start(|_| {}).await;
    let cases = [
        (
            json!({"address_line_1": "The Occupier", "postcode": "SW1A 1AA"}),
            "Address must be at least 3 lines",
        ),
        (
            json!({"address_line_1": "1", "address_line_2": "2", "address_line_3": "3", "address_line_4": "4",
                   "address_line_5": "5", "address_line_6": "6\n7", "postcode": "SW1A 1AA"}),
            "Address must be no more than 7 lines",
        ),
        (
            json!({"address_line_1": "A", "address_line_2": "B", "postcode": "not a real postcode"}),
            "Must be a real UK postcode",
        ),
        (
            json!({"address_line_1": "A", "address_line_2": "]Buckingham Palace", "postcode": "SW1A 1AA"}),
            "Address lines must not start with any of the following characters: @ ( ) = [ ] ” \\ / , < >",
        ),
        (
            json!({"address_line_1": "No fixed abode", "address_line_2": "Town", "postcode": "SW1A 1AA"}),
            "Must be a real address",
        ),
        (
            json!({"address_line_1": "...", "address_line_2": "Town", "postcode": "SW1A 1AA"}),
            "Address lines 1 and 2 must contain at least one letter or number",
        ),
    ];
    for (address, message) in cases {
        assert_validation(&h.letter(address).await, &[message]);
    }
    let reply = h
        .post(
            "/v2/notifications/letter",
            json!({"template_id": template()}),
        )
        .await;
    assert_validation(&reply, &["personalisation is a required property"]);
    assert!(h.sim.received().is_empty());
}

#[tokio::test]
async fn an_unknown_notification_type_is_not_found() {
    let h = start(|_| {}).await;
    let reply = h.post("/v2/notifications/fax", json!({})).await;
    assert_eq!(reply.status, 404);
}
