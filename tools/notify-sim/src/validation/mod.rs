//! Request validation as notifications-api does it: JSON parsing (`get_valid_json`), the v2 JSON
//! schemas with `build_error_message`'s wording, then the recipient checks from notifications-utils.

pub mod address;
pub mod email;
pub mod phone;
pub mod pyrepr;

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::parse_python_uuid;
use crate::errors::ApiError;
use crate::vocab::{FILTERABLE_STATUSES, NotificationType};
use phone::PhoneNumber;
use pyrepr::repr;

/// Notify's longest accepted `reference` (notify.md).
pub const MAX_REFERENCE_CHARS: usize = 1000;

/// A send request that passed the schema (recipient permission and address checks come later,
/// after rate limiting, as in Notify).
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Which endpoint it came to.
    pub kind: NotificationType,
    /// The template named (any UUID while the service has no templates).
    pub template_id: Uuid,
    /// The sender's own reference, used to find the notification later.
    pub reference: Option<String>,
    /// Template values (and, for letters, the address).
    pub personalisation: Map<String, Value>,
    /// The recipient as submitted (letters: address line 1).
    pub to: String,
    /// The parsed number, for text messages.
    pub phone: Option<PhoneNumber>,
    /// Email only: echoed in the response content.
    pub one_click_unsubscribe_url: Option<String>,
    /// `email_reply_to_id` (email) or `sms_sender_id` (text), as sent.
    pub sender_id: Option<Uuid>,
}

/// What a schema property must be.
#[derive(Clone, Copy)]
enum Rule {
    /// A string of at most [`MAX_REFERENCE_CHARS`].
    Reference,
    /// A UUID string (`validate_uuid`, message "is not a valid UUID").
    Uuid,
    /// A JSON object (message "should contain key value pairs").
    Object,
    /// A string passing the phone rules.
    Phone,
    /// A string passing the email rules.
    Email,
    /// An `https` URL (message "is not a valid https url").
    HttpsUrl,
    /// Any string.
    String,
}

fn schema(kind: NotificationType) -> (&'static [(&'static str, Rule)], &'static [&'static str]) {
    match kind {
        NotificationType::Sms => (
            &[
                ("reference", Rule::Reference),
                ("phone_number", Rule::Phone),
                ("template_id", Rule::Uuid),
                ("sms_sender_id", Rule::Uuid),
                ("personalisation", Rule::Object),
            ],
            &["phone_number", "template_id"],
        ),
        NotificationType::Email => (
            &[
                ("reference", Rule::Reference),
                ("email_address", Rule::Email),
                ("template_id", Rule::Uuid),
                ("email_reply_to_id", Rule::Uuid),
                ("personalisation", Rule::Object),
                ("one_click_unsubscribe_url", Rule::HttpsUrl),
                // Sent by notifications-python-client 13; accepted so the official client works.
                ("sanitise_content_for", Rule::String),
            ],
            &["email_address", "template_id"],
        ),
        NotificationType::Letter => (
            &[
                ("reference", Rule::Reference),
                ("template_id", Rule::Uuid),
                ("personalisation", Rule::Object),
            ],
            &["template_id", "personalisation"],
        ),
    }
}

/// `get_valid_json`: the body must be JSON whatever the Content-Type; a falsy value counts as `{}`.
/// Also returns the top-level keys in the order sent, which the "unexpected" message lists.
pub fn parse_body(body: &[u8]) -> Result<(Value, Vec<String>), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::BadRequest("Invalid JSON supplied in POST data".into()))?;
    let falsy = match &value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    if falsy {
        return Ok((Value::Object(Map::new()), Vec::new()));
    }
    let keys = top_level_keys(body);
    Ok((value, keys))
}

/// Validates a send against its endpoint's schema, reporting every problem at once.
pub fn validate_send(
    kind: NotificationType,
    body: Value,
    key_order: &[String],
) -> Result<SendRequest, ApiError> {
    let (properties, required) = schema(kind);
    let Value::Object(obj) = body else {
        return Err(validation(vec![format!(
            "{} is not of type object",
            repr(&body)
        )]));
    };
    let mut errors = Vec::new();
    for (name, rule) in properties {
        if let Some(Err(message)) = obj.get(*name).map(|value| check(name, *rule, value)) {
            errors.push(message);
        }
    }
    for name in required {
        if !obj.contains_key(*name) {
            errors.push(format!("{name} is a required property"));
        }
    }
    let mut extras: Vec<&str> = key_order
        .iter()
        .map(String::as_str)
        .filter(|k| !properties.iter().any(|(p, _)| p == k))
        .collect();
    // Keys we could not order (should not happen) still count.
    for k in obj.keys() {
        if !properties.iter().any(|(p, _)| p == k) && !extras.contains(&k.as_str()) {
            extras.push(k);
        }
    }
    if !extras.is_empty() {
        errors.push(additional_properties_message(&extras));
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }

    let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
    let template_id = text("template_id")
        .as_deref()
        .and_then(parse_python_uuid)
        .unwrap_or_default();
    let personalisation = match obj.get("personalisation") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    let (to, phone) = match kind {
        NotificationType::Sms => {
            let to = text("phone_number").unwrap_or_default();
            let phone = phone::validate(&to).ok();
            (to, phone)
        }
        NotificationType::Email => (text("email_address").unwrap_or_default(), None),
        NotificationType::Letter => (
            personalisation
                .get("address_line_1")
                .map(pyrepr::py_str)
                .unwrap_or_default(),
            None,
        ),
    };
    Ok(SendRequest {
        kind,
        template_id,
        reference: text("reference"),
        personalisation,
        to,
        phone,
        one_click_unsubscribe_url: text("one_click_unsubscribe_url"),
        sender_id: text("email_reply_to_id")
            .or_else(|| text("sms_sender_id"))
            .as_deref()
            .and_then(parse_python_uuid),
    })
}

/// One property against its rule; `Err` is the finished message.
fn check(name: &str, rule: Rule, value: &Value) -> Result<(), String> {
    let not_string = || format!("{name} {} is not of type string", repr(value));
    match rule {
        Rule::Reference | Rule::String => {
            let s = value.as_str().ok_or_else(not_string)?;
            if matches!(rule, Rule::Reference) && s.chars().count() > MAX_REFERENCE_CHARS {
                return Err(format!("{name} {} is too long", repr(value)));
            }
            Ok(())
        }
        Rule::Uuid => value
            .as_str()
            .and_then(parse_python_uuid)
            .map(|_| ())
            .ok_or_else(|| format!("{name} is not a valid UUID")),
        Rule::Object => value
            .as_object()
            .map(|_| ())
            .ok_or_else(|| format!("{name} should contain key value pairs")),
        Rule::Phone => {
            let s = value.as_str().ok_or_else(not_string)?;
            phone::validate(s)
                .map(|_| ())
                .map_err(|m| format!("{name} {m}"))
        }
        Rule::Email => {
            let s = value.as_str().ok_or_else(not_string)?;
            if email::is_valid(s) {
                Ok(())
            } else {
                Err(format!("{name} {}", email::NOT_VALID))
            }
        }
        Rule::HttpsUrl => value
            .as_str()
            .filter(|s| is_https_url(s))
            .map(|_| ())
            .ok_or_else(|| format!("{name} is not a valid https url")),
    }
}

fn is_https_url(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
    })
}

/// jsonschema's wording, after Notify strips the quotes.
fn additional_properties_message(extras: &[&str]) -> String {
    let verb = if extras.len() == 1 { "was" } else { "were" };
    let listed = extras
        .iter()
        .map(|e| repr(&Value::String((*e).to_owned())))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Additional properties are not allowed ({listed} {verb} unexpected)")
}

/// Notify deletes every `'` from messages and drops duplicates (`unique_errors`).
fn validation(messages: Vec<String>) -> ApiError {
    let mut unique: Vec<String> = Vec::new();
    for m in messages {
        let m = m.replace('\'', "");
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    ApiError::Validation(unique)
}

/// The top-level keys of a JSON object body in the order they were sent.
fn top_level_keys(body: &[u8]) -> Vec<String> {
    struct Keys(Vec<String>);
    struct KeysVisitor;
    impl<'de> Visitor<'de> for KeysVisitor {
        type Value = Keys;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
            let mut keys: Vec<String> = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Ok(Keys(keys))
        }
    }
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(KeysVisitor)
        }
    }
    serde_json::from_slice::<Keys>(body)
        .map(|k| k.0)
        .unwrap_or_default()
}

/// The filters of `GET /v2/notifications`, validated like `get_notifications_request`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only notifications with this reference.
    pub reference: Option<String>,
    /// Only these statuses (Notify's names, including `failed`, `accepted`, `received`).
    pub statuses: Vec<String>,
    /// Only these types.
    pub template_types: Vec<NotificationType>,
    /// Only notifications created before this one.
    pub older_than: Option<Uuid>,
    /// The parameters as received, in order, for building `links`.
    pub params: Vec<(String, Vec<String>)>,
}

/// Parses and validates the query string of `GET /v2/notifications`.
pub fn validate_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    // Flask's request.args.to_dict(flat=False): each key with all its values, first-seen order.
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k), form_decode(v));
        match params.iter_mut().find(|(key, _)| *key == k) {
            Some((_, values)) => values.push(v),
            None => params.push((k, vec![v])),
        }
    }
    let first = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.first().cloned())
    };
    let all = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };

    let mut errors = Vec::new();
    let statuses = all("status");
    for s in &statuses {
        if !FILTERABLE_STATUSES.contains(&s.as_str()) {
            errors.push(format!(
                "status {s} is not one of [{}]",
                FILTERABLE_STATUSES.join(", ")
            ));
        }
    }
    let mut template_types = Vec::new();
    for t in all("template_type") {
        match NotificationType::parse(&t) {
            Some(kind) => template_types.push(kind),
            None => errors.push(format!(
                "template_type {t} is not one of [sms, email, letter]"
            )),
        }
    }
    if let Some(v) = first("include_jobs").filter(|v| v != "true" && v != "True") {
        errors.push(format!("include_jobs {v} is not one of [true, True]"));
    }
    let older_than = match first("older_than") {
        Some(v) => match parse_python_uuid(&v) {
            Some(id) => Some(id),
            None => {
                errors.push("older_than is not a valid UUID".into());
                None
            }
        },
        None => None,
    };
    const KNOWN: &[&str] = &[
        "reference",
        "status",
        "template_type",
        "include_jobs",
        "older_than",
    ];
    let extras: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !KNOWN.contains(k))
        .collect();
    if !extras.is_empty() {
        errors.push(additional_properties_message(&extras));
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    Ok(ListQuery {
        reference: first("reference"),
        statuses,
        template_types,
        older_than,
        params,
    })
}

/// `post_template_preview_request` for a preview body (already an object) and the path's id:
/// the template id and the personalisation (none given: empty).
pub fn validate_preview(
    id: &str,
    data: &Map<String, Value>,
) -> Result<(Uuid, Map<String, Value>), ApiError> {
    let mut errors = Vec::new();
    let template_id = parse_python_uuid(id);
    if template_id.is_none() {
        errors.push("id is not a valid UUID".to_owned());
    }
    if let Some(Err(message)) = data
        .get("personalisation")
        .map(|v| check("personalisation", Rule::Object, v))
    {
        errors.push(message);
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let personalisation = match data.get("personalisation") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    Ok((template_id.unwrap_or_default(), personalisation))
}

/// `get_all_template_request` for the query of `GET /v2/templates`: an optional `type`.
pub fn validate_templates_query(raw: Option<&str>) -> Result<Option<NotificationType>, ApiError> {
    // request.args.to_dict(): the first value of each key.
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k), form_decode(v));
        if !params.iter().any(|(key, _)| *key == k) {
            params.push((k, v));
        }
    }
    let mut errors = Vec::new();
    let mut kind = None;
    if let Some((_, t)) = params.iter().find(|(k, _)| k == "type") {
        match NotificationType::parse(t) {
            Some(k) => kind = Some(k),
            None => errors.push(format!("type {t} is not one of [sms, email, letter]")),
        }
    }
    let extras: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "type")
        .collect();
    if !extras.is_empty() {
        errors.push(additional_properties_message(&extras));
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    Ok(kind)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent-decoding.
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    urlencoding::decode(&spaced)
        .map(|c| c.into_owned())
        .unwrap_or(spaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(kind: NotificationType, body: &str) -> Vec<String> {
        let (value, keys) = parse_body(body.as_bytes()).unwrap();
        match validate_send(kind, value, &keys) {
            Err(ApiError::Validation(m)) => m,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn missing_fields_and_bad_uuid_are_reported_together() {
        let e = errors(NotificationType::Sms, r#"{"template_id": "notUUID"}"#);
        assert_eq!(
            e,
            vec![
                "template_id is not a valid UUID",
                "phone_number is a required property"
            ]
        );
    }

    #[test]
    fn type_errors_quote_the_value_as_python_would_without_quotes() {
        let id = Uuid::new_v4();
        let e = errors(
            NotificationType::Sms,
            &format!(r#"{{"phone_number": 7700900001, "template_id": "{id}"}}"#),
        );
        assert_eq!(e, vec!["phone_number 7700900001 is not of type string"]);
        let e = errors(
            NotificationType::Email,
            &format!(r#"{{"email_address": null, "template_id": "{id}"}}"#),
        );
        assert_eq!(e, vec!["email_address None is not of type string"]);
    }

    #[test]
    fn unknown_fields_are_listed_in_the_order_sent() {
        let id = Uuid::new_v4();
        let e = errors(
            NotificationType::Email,
            &format!(r#"{{"zz": 1, "email_address": "a@b.com", "aa": 2, "template_id": "{id}"}}"#),
        );
        assert_eq!(
            e,
            vec!["Additional properties are not allowed (zz, aa were unexpected)"]
        );
    }

    #[test]
    fn falsy_json_is_treated_as_an_empty_object_but_garbage_is_bad_request() {
        let e = errors(NotificationType::Letter, "null");
        assert_eq!(
            e,
            vec![
                "template_id is a required property",
                "personalisation is a required property"
            ]
        );
        assert!(matches!(
            parse_body(b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(parse_body(b""), Err(ApiError::BadRequest(_))));
        let e = errors(NotificationType::Sms, "[1]");
        assert_eq!(e, vec!["[1] is not of type object"]);
    }

    #[test]
    fn reference_longer_than_1000_characters_is_too_long() {
        let id = Uuid::new_v4();
        let body = json!({"email_address": "a@b.com", "template_id": id.to_string(), "reference": "r".repeat(1001)});
        let e = errors(NotificationType::Email, &body.to_string());
        assert_eq!(
            e,
            vec![format!("reference {} is too long", "r".repeat(1001))]
        );
    }

    #[test]
    fn preview_and_templates_queries_are_validated_like_notifys_schemas() {
        let id = Uuid::new_v4();
        let data = json!({"personalisation": {"a": 1}});
        let (got, p) = validate_preview(&id.to_string(), data.as_object().unwrap()).unwrap();
        assert_eq!((got, p["a"].clone()), (id, json!(1)));
        match validate_preview("nope", json!({"personalisation": [1]}).as_object().unwrap()) {
            Err(ApiError::Validation(m)) => assert_eq!(
                m,
                vec![
                    "id is not a valid UUID",
                    "personalisation should contain key value pairs"
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(validate_templates_query(None).unwrap(), None);
        assert_eq!(
            validate_templates_query(Some("type=sms")).unwrap(),
            Some(NotificationType::Sms)
        );
        match validate_templates_query(Some("type=fax&x=1")) {
            Err(ApiError::Validation(m)) => assert_eq!(
                m,
                vec![
                    "type fax is not one of [sms, email, letter]",
                    "Additional properties are not allowed (x was unexpected)"
                ]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_query_rejects_unknown_statuses_and_parameters() {
        let q = validate_list_query(Some("status=delivered&status=failed&reference=a+b")).unwrap();
        assert_eq!(q.statuses, vec!["delivered", "failed"]);
        assert_eq!(q.reference.as_deref(), Some("a b"));
        match validate_list_query(Some("status=elephant&foo=1")) {
            Err(ApiError::Validation(m)) => {
                assert!(m[0].starts_with("status elephant is not one of [cancelled, created,"));
                assert_eq!(
                    m[1],
                    "Additional properties are not allowed (foo was unexpected)"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
