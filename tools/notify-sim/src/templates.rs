//! Templates, as far as the API shows them: placeholders and rendering after notifications-utils
//! (`field.py`, `template.py`, `insensitive_dict.py`), and the JSON of notifications-api's
//! `Template.serialize_for_v2` and `create_post_template_preview_response`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::validation::pyrepr::repr;
use crate::vocab::{NotificationType, format_timestamp};

/// Who "created" templates made through the admin API (`created_by` is a user's email in Notify).
pub const DEFAULT_CREATED_BY: &str = "notify-sim@notifications.service.gov.uk";
/// Notify's `SMS_CHAR_COUNT_LIMIT`: longer texts are refused.
pub const SMS_CHAR_COUNT_LIMIT: usize = 918;

/// A template on a simulated service, as the admin API or [`crate::SimHandle::put_template`]
/// creates (or replaces) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Notify's id for the template, named by sends as `template_id`.
    pub id: Uuid,
    /// Which endpoint may use it: email, SMS or letter.
    pub kind: NotificationType,
    /// The name shown in Notify.
    pub name: String,
    /// The content, with `((placeholder))`s and `((name??text))` conditional placeholders.
    pub body: String,
    /// Email and letter subject (may have placeholders too); `None` for text messages.
    pub subject: Option<String>,
    /// The version sends and `GET /v2/template` report (1 unless given).
    pub version: u32,
}

impl Template {
    /// An email template, version 1.
    pub fn email(
        id: Uuid,
        name: impl Into<String>,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            id,
            kind: NotificationType::Email,
            name: name.into(),
            body: body.into(),
            subject: Some(subject.into()),
            version: 1,
        }
    }

    /// A text message template, version 1.
    pub fn sms(id: Uuid, name: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            id,
            kind: NotificationType::Sms,
            name: name.into(),
            body: body.into(),
            subject: None,
            version: 1,
        }
    }

    /// A letter template, version 1.
    pub fn letter(
        id: Uuid,
        name: impl Into<String>,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            id,
            kind: NotificationType::Letter,
            name: name.into(),
            body: body.into(),
            subject: Some(subject.into()),
            version: 1,
        }
    }

    /// The same template at another version.
    pub fn version(self, version: u32) -> Self {
        Self { version, ..self }
    }

    /// Checks what Notify itself would not let a template be: a subject exactly for email and
    /// letter templates, content, a name and a version of at least 1.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if self.body.trim().is_empty() {
            return Err("body must not be empty".into());
        }
        if self.version < 1 {
            return Err("version must be at least 1".into());
        }
        match (self.kind, &self.subject) {
            (NotificationType::Sms, Some(_)) => Err("sms templates have no subject".into()),
            (NotificationType::Email | NotificationType::Letter, None) => {
                Err(format!("{} templates need a subject", self.kind.as_str()))
            }
            (_, Some(s)) if s.trim().is_empty() => Err("subject must not be empty".into()),
            _ => Ok(()),
        }
    }

    /// Every placeholder name, in Notify's order (the subject's, then the body's), each
    /// spelling once (`((Name))` and `((name))` are two, as in notifications-utils).
    pub fn placeholders(&self) -> Vec<String> {
        let mut names = Vec::new();
        for text in self.subject.iter().chain(std::iter::once(&self.body)) {
            for p in placeholders_in(text) {
                if !names.contains(&p.name) {
                    names.push(p.name);
                }
            }
        }
        names
    }

    /// Fills the template in with `personalisation` as Notify does for a send or a preview;
    /// `Err` is the 400 `BadRequestError` "Missing personalisation: a, b".
    pub(crate) fn render(
        &self,
        personalisation: &Map<String, Value>,
    ) -> Result<Rendered, ApiError> {
        let values = Values::new(personalisation);
        let missing: Vec<String> = self
            .placeholders()
            .into_iter()
            .filter(|name| values.get(name).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Missing personalisation: {}",
                missing.join(", ")
            )));
        }
        let body = fill(&self.body, &values, ListStyle::Markdown)
            .trim()
            .to_owned();
        let subject = self
            .subject
            .as_ref()
            .map(|s| normalise_whitespace(&fill(s, &values, ListStyle::Prose)));
        let html = (self.kind == NotificationType::Email).then(|| html_body(&self.body, &values));
        Ok(Rendered {
            body,
            subject,
            html,
        })
    }
}

/// A template filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `content_with_placeholders_filled_in`.
    pub body: String,
    /// The subject filled in (email and letter).
    pub subject: Option<String>,
    /// Email only: the body as (simplified) HTML.
    pub html: Option<String>,
}

impl Rendered {
    /// `check_notification_content_is_not_empty`: 400 "Your message is empty.".
    pub fn check_not_empty(&self) -> Result<(), ApiError> {
        if self.body.trim().is_empty() {
            return Err(ApiError::BadRequest("Your message is empty.".into()));
        }
        Ok(())
    }

    /// `check_is_message_too_long` for texts: at most [`SMS_CHAR_COUNT_LIMIT`] characters.
    pub fn check_length(&self, kind: NotificationType) -> Result<(), ApiError> {
        let count = self.body.chars().count();
        if kind == NotificationType::Sms && count > SMS_CHAR_COUNT_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "Your message is too long. Text messages cannot be longer than \
                 {SMS_CHAR_COUNT_LIMIT} characters. Your message is {count} characters long."
            )));
        }
        Ok(())
    }
}

/// A template as a service holds it, with the timestamps `GET /v2/template` reports.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    /// What it is.
    pub template: Template,
    /// When it was first created.
    pub created_at: OffsetDateTime,
    /// When it was last replaced (`None` until then).
    pub updated_at: Option<OffsetDateTime>,
    /// The "user" who created it (an email address, as Notify shows).
    pub created_by: String,
}

impl StoredTemplate {
    /// Notify's `serialize_for_v2`, the body of `GET /v2/template/{id}`.
    pub fn to_v2_json(&self) -> Value {
        let t = &self.template;
        let personalisation: Map<String, Value> = t
            .placeholders()
            .into_iter()
            .map(|name| (name, json!({ "required": true })))
            .collect();
        json!({
            "id": t.id,
            "type": t.kind.as_str(),
            "created_at": format_timestamp(self.created_at),
            "updated_at": self.updated_at.map(format_timestamp),
            "created_by": self.created_by,
            "version": t.version,
            "body": t.body,
            "subject": if t.kind == NotificationType::Sms { Value::Null } else { json!(t.subject) },
            "name": t.name,
            "personalisation": personalisation,
            "postage": postage(t.kind),
            "letter_contact_block": null,
        })
    }

    /// `create_post_template_preview_response` for these values.
    pub fn preview_json(&self, rendered: &Rendered) -> Value {
        let t = &self.template;
        json!({
            "id": t.id,
            "type": t.kind.as_str(),
            "version": t.version,
            "body": rendered.body,
            "html": rendered.html,
            "subject": rendered.subject,
            "postage": postage(t.kind),
        })
    }
}

/// Letters go second class (the simulator has no first-class or international postage).
fn postage(kind: NotificationType) -> Value {
    match kind {
        NotificationType::Letter => json!("second"),
        _ => Value::Null,
    }
}

/// Parses the admin API's template body: `{"id", "type", "name", "body", "subject"?, "version"?}`.
pub fn from_admin_json(value: &Value) -> Result<Template, String> {
    let Value::Object(obj) = value else {
        return Err("expected a JSON object".into());
    };
    const KNOWN: &[&str] = &["id", "type", "name", "body", "subject", "version"];
    if let Some(extra) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {extra:?}: use id, type, name, body, subject, version"
        ));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} must be a string")),
        }
    };
    let required = |name: &str| text(name)?.ok_or_else(|| format!("{name} is required"));
    let id = required("id")?;
    let id = crate::auth::parse_python_uuid(&id).ok_or("id must be a UUID")?;
    let kind = required("type")?;
    let kind = NotificationType::parse(&kind).ok_or("type must be email, sms or letter")?;
    let version = match obj.get("version") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or("version must be a whole number")?,
    };
    let template = Template {
        id,
        kind,
        name: required("name")?,
        body: required("body")?,
        subject: text("subject")?,
        version,
    };
    template.check()?;
    Ok(template)
}

/// One `((…))` found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    /// Byte range of `((…))` in the text.
    start: usize,
    end: usize,
    /// The name: the body up to any `??`.
    name: String,
    /// The text after `??`, for a conditional placeholder.
    conditional: Option<String>,
}

/// `Field.placeholder_pattern`, `\({2}([^()]+)\){2}`, applied left to right as `re.sub` does.
fn placeholders_in(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(offset) = text[i..].find("((") {
        let start = i + offset;
        let inner_start = start + 2;
        let inner_len = text[inner_start..]
            .find(['(', ')'])
            .unwrap_or(text.len() - inner_start);
        let inner_end = inner_start + inner_len;
        if inner_len > 0 && text[inner_end..].starts_with("))") {
            let body = &text[inner_start..inner_end];
            let (name, conditional) = match body.split_once("??") {
                Some((name, rest)) => (name.to_owned(), Some(rest.to_owned())),
                None => (body.to_owned(), None),
            };
            found.push(Placeholder {
                start,
                end: inner_end + 2,
                name,
                conditional,
            });
            i = inner_end + 2;
        } else {
            // No match at `start`: the regex tries again one character on.
            i = start + 1;
        }
    }
    found
}

/// `InsensitiveDict.make_key`: case, spaces, hyphens and underscores do not matter.
fn make_key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The personalisation keyed as notifications-utils looks values up.
struct Values<'a> {
    by_key: Vec<(String, &'a Value)>,
}

impl<'a> Values<'a> {
    fn new(personalisation: &'a Map<String, Value>) -> Self {
        Self {
            by_key: personalisation
                .iter()
                .map(|(k, v)| (make_key(k), v))
                .collect(),
        }
    }

    /// The value for a placeholder; `None` (or JSON `null`) is missing.
    fn get(&self, name: &str) -> Option<&'a Value> {
        let key = make_key(name);
        // A later key that normalises the same wins, as when building a dict.
        self.by_key
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }
}

/// How a list value is written into the text.
#[derive(Clone, Copy)]
enum ListStyle {
    /// `markdown_lists=True`: a bulleted list on its own lines.
    Markdown,
    /// `unescaped_formatted_list`: "a, b and c".
    Prose,
}

/// `Field.get_replacement`: Python's `str()` of the value (lists per `style`).
fn replacement(value: &Value, style: ListStyle) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => s.trim().to_owned(),
                    other => repr(other),
                })
                .filter(|s| !s.is_empty())
                .collect();
            match (style, items.as_slice()) {
                (_, []) => String::new(),
                (ListStyle::Markdown, _) => format!(
                    "\n\n{}",
                    items
                        .iter()
                        .map(|i| format!("* {i}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                (ListStyle::Prose, [only]) => only.clone(),
                (ListStyle::Prose, [init @ .., last]) => format!("{} and {last}", init.join(", ")),
            }
        }
        other => repr(other),
    }
}

/// `str2bool`: whether a conditional placeholder's text is shown.
fn str2bool(value: &str) -> bool {
    matches!(
        value.to_lowercase().as_str(),
        "yes" | "y" | "true" | "t" | "1" | "include" | "show"
    )
}

/// `Field.replaced` with every placeholder present (missing ones are refused before this).
fn fill(text: &str, values: &Values<'_>, style: ListStyle) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for p in placeholders_in(text) {
        out.push_str(&text[last..p.start]);
        let value = values
            .get(&p.name)
            .map(|v| replacement(v, style))
            .unwrap_or_default();
        match &p.conditional {
            Some(shown) if str2bool(&value) => out.push_str(shown),
            Some(_) => {}
            None => out.push_str(&value),
        }
        last = p.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `normalise_whitespace`: every run of whitespace becomes one space, and the ends are trimmed.
fn normalise_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// The paragraph style of Notify's email HTML.
const PARAGRAPH: &str =
    r#"<p style="Margin: 0 0 20px 0; font-size: 19px; line-height: 25px; color: #0B0C0C;">"#;

/// A much simplified `html_body`: the filled-in body HTML-escaped, one `<p>` per paragraph
/// and `<br />` for single line breaks (no other Markdown).
fn html_body(body: &str, values: &Values<'_>) -> String {
    let filled = fill(body, values, ListStyle::Markdown).replace("\r\n", "\n");
    filled
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lines: Vec<String> = p.lines().map(|l| escape_html(l.trim())).collect();
            format!("{PARAGRAPH}{}</p>", lines.join("<br />"))
        })
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn placeholders_follow_notifys_pattern() {
        let names: Vec<String> = placeholders_in("Hi ((name)), (((x))) ((a??b)) (()) ((c)")
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, vec!["name", "x", "a"]);
        let t = Template::email(
            Uuid::nil(),
            "n",
            "About ((child name))",
            "((Parent)) and ((parent)) ((child name))",
        );
        assert_eq!(t.placeholders(), vec!["child name", "Parent", "parent"]);
    }

    #[test]
    fn values_match_placeholders_whatever_their_case_spaces_hyphens_and_underscores() {
        let t = Template::sms(Uuid::nil(), "n", "Hello ((First Name)), ((date-of_birth))");
        let r = t
            .render(&values(
                json!({"first_name": "Sam", "DATE OF BIRTH": "1 May", "extra": 1}),
            ))
            .unwrap();
        assert_eq!(r.body, "Hello Sam, 1 May");
        assert_eq!(r.subject, None);
        assert_eq!(r.html, None);
    }

    #[test]
    fn missing_and_null_values_are_listed_in_placeholder_order() {
        let t = Template::email(Uuid::nil(), "n", "((b))", "((a)) ((c??shown)) ((b))");
        match t.render(&values(json!({"a": null}))) {
            Err(ApiError::BadRequest(m)) => assert_eq!(m, "Missing personalisation: b, a, c"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conditional_placeholders_show_their_text_for_yes_values() {
        let t = Template::sms(Uuid::nil(), "n", "A((late??, you are late)).");
        let shown = t.render(&values(json!({"late": "yes"}))).unwrap();
        assert_eq!(shown.body, "A, you are late.");
        let hidden = t.render(&values(json!({"late": "no"}))).unwrap();
        assert_eq!(hidden.body, "A.");
        let by_bool = t.render(&values(json!({"late": true}))).unwrap();
        assert_eq!(by_bool.body, "A, you are late.");
    }

    #[test]
    fn values_are_written_as_python_would_and_lists_as_lists() {
        let t = Template::email(Uuid::nil(), "n", "Re: ((items))", "((n)) ((f)) ((items))");
        let r = t
            .render(&values(
                json!({"n": 3, "f": 1.5, "items": ["a", " b ", null, ""]}),
            ))
            .unwrap();
        assert_eq!(r.subject.as_deref(), Some("Re: a and b"));
        assert_eq!(r.body, "3 1.5 \n\n* a\n* b");
    }

    #[test]
    fn email_previews_have_html_with_values_escaped() {
        let t = Template::email(Uuid::nil(), "n", "S", "Hi ((name))\nline two\n\nNext");
        let r = t.render(&values(json!({"name": "<b>"}))).unwrap();
        let html = r.html.unwrap();
        assert!(html.contains("Hi &lt;b&gt;<br />line two</p>"), "{html}");
        assert_eq!(html.matches("<p ").count(), 2);
    }

    #[test]
    fn v2_json_lists_every_placeholder_as_required() {
        let t = Template::letter(Uuid::nil(), "Letter", "Dear ((name))", "Body ((x??y))");
        let stored = StoredTemplate {
            template: t,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: None,
            created_by: DEFAULT_CREATED_BY.into(),
        };
        let v = stored.to_v2_json();
        assert_eq!(
            v["personalisation"],
            json!({"name": {"required": true}, "x": {"required": true}})
        );
        assert_eq!(v["postage"], "second");
        assert_eq!(v["updated_at"], Value::Null);
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(v["letter_contact_block"], Value::Null);
    }

    #[test]
    fn admin_json_is_checked() {
        let id = Uuid::new_v4();
        let ok = from_admin_json(&json!({"id": id.to_string(), "type": "sms", "name": "n",
            "body": "b"}))
        .unwrap();
        assert_eq!(ok.version, 1);
        assert!(
            from_admin_json(&json!({"id": id.to_string(), "type": "email", "name": "n",
            "body": "b"}))
            .is_err()
        );
        assert!(
            from_admin_json(&json!({"id": "x", "type": "sms", "name": "n", "body": "b"})).is_err()
        );
        assert!(
            from_admin_json(&json!({"id": id.to_string(), "type": "fax", "name": "n",
            "body": "b"}))
            .is_err()
        );
        assert!(
            from_admin_json(&json!({"id": id.to_string(), "type": "sms", "name": "n",
            "body": "b", "colour": 1}))
            .is_err()
        );
    }

    #[test]
    fn texts_longer_than_918_characters_are_refused() {
        let r = Rendered {
            body: "a".repeat(919),
            subject: None,
            html: None,
        };
        assert!(r.check_length(NotificationType::Sms).is_err());
        assert!(r.check_length(NotificationType::Email).is_ok());
    }
}
