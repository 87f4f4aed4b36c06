//! What goes to Notify and what comes back: request bodies that serialise exactly the fields
//! Notify accepts (it refuses unknown ones, and absent optionals are left out rather than sent
//! as `null`), and the parts of its answers a sender needs.
//!
//! Recipients are plain strings here: the domain types (`EmailAddress`, `PhoneNumber`,
//! `sanitise_letter_address`) have already checked them, and Notify has the last word.
//! `Debug` shows neither recipients nor personalisation values.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use super::vocab::{NotificationType, Status};

/// Template placeholders and their values (`((name))` → value).
pub type Personalisation = BTreeMap<String, String>;

/// Most address lines Notify prints, postcode included.
pub const MAX_ADDRESS_LINES: usize = 7;

/// `POST /v2/notifications/email`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct EmailRequest {
    /// The recipient.
    pub email_address: String,
    /// The Notify template to send.
    pub template_id: Uuid,
    /// Values for the template's placeholders.
    pub personalisation: Personalisation,
    /// Our own id for the message, unique per send: how a send in doubt is found again.
    pub reference: String,
    /// A reply-to address configured in Notify, instead of the service default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_reply_to_id: Option<Uuid>,
}

/// `POST /v2/notifications/sms`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SmsRequest {
    /// The recipient's mobile number.
    pub phone_number: String,
    /// The Notify template to send.
    pub template_id: Uuid,
    /// Values for the template's placeholders.
    pub personalisation: Personalisation,
    /// Our own id for the message, unique per send: how a send in doubt is found again.
    pub reference: String,
    /// A text message sender configured in Notify, instead of the service default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_sender_id: Option<Uuid>,
}

/// `POST /v2/notifications/letter`; the address travels in the personalisation.
#[derive(Clone, PartialEq, Eq)]
pub struct LetterRequest {
    /// The Notify template to send.
    pub template_id: Uuid,
    /// Address lines in order, sent as `address_line_1`…; the last line must be the postcode
    /// unless [`LetterRequest::postcode`] is given (`sanitise_letter_address` output fits as is).
    pub address: Vec<String>,
    /// Sent as Notify's `postcode` key, which counts as the last line.
    pub postcode: Option<String>,
    /// Values for the template's other placeholders (`address_line_*` and `postcode` here are ignored).
    pub personalisation: Personalisation,
    /// Our own id for the message, unique per send: how a send in doubt is found again.
    pub reference: String,
}

impl LetterRequest {
    /// Lines Notify would print, postcode included.
    pub fn line_count(&self) -> usize {
        self.address.len() + usize::from(self.postcode.is_some())
    }
}

/// The letter's `personalisation`: the template's values with the address keys laid over them.
struct LetterPersonalisation<'a>(&'a LetterRequest);

impl Serialize for LetterPersonalisation<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let letter = self.0;
        let is_address_key = |k: &str| k == "postcode" || k.starts_with("address_line_");
        let mut map = s.serialize_map(None)?;
        for (key, value) in &letter.personalisation {
            if !is_address_key(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (i, line) in letter.address.iter().enumerate() {
            map.serialize_entry(&format!("address_line_{}", i + 1), line)?;
        }
        if let Some(postcode) = &letter.postcode {
            map.serialize_entry("postcode", postcode)?;
        }
        map.end()
    }
}

impl Serialize for LetterRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("template_id", &self.template_id)?;
        map.serialize_entry("personalisation", &LetterPersonalisation(self))?;
        map.serialize_entry("reference", &self.reference)?;
        map.end()
    }
}

/// Placeholder names without their values, for `Debug`.
struct Keys<'a>(&'a Personalisation);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for EmailRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailRequest")
            .field("email_address", &REDACTED)
            .field("template_id", &self.template_id)
            .field("personalisation", &Keys(&self.personalisation))
            .field("reference", &self.reference)
            .field("email_reply_to_id", &self.email_reply_to_id)
            .finish()
    }
}

impl fmt::Debug for SmsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsRequest")
            .field("phone_number", &REDACTED)
            .field("template_id", &self.template_id)
            .field("personalisation", &Keys(&self.personalisation))
            .field("reference", &self.reference)
            .field("sms_sender_id", &self.sms_sender_id)
            .finish()
    }
}

impl fmt::Debug for LetterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LetterRequest")
            .field("template_id", &self.template_id)
            .field("address_lines", &self.line_count())
            .field("personalisation", &Keys(&self.personalisation))
            .field("reference", &self.reference)
            .finish()
    }
}

/// Notify's 201 answer to a send: the notification exists from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNotification {
    /// Notify's id for the notification: delivery receipts carry it.
    pub id: Uuid,
    /// The reference we sent, echoed.
    pub reference: Option<String>,
    /// The template sent.
    pub template_id: Uuid,
    /// The template's version at the time of sending.
    pub template_version: u32,
    /// Where `GET` finds the notification.
    pub uri: String,
    /// Fragments the rendered body takes as a text (meaningful for texts only); the body itself
    /// is personal and is not kept.
    pub sms_fragments: u32,
}

/// A notification as `GET /v2/notifications/{id}` and the list endpoint describe it, without
/// the recipient, address or rendered content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationStatus {
    /// Notify's id for the notification.
    pub id: Uuid,
    /// The reference sent with it.
    pub reference: Option<String>,
    /// Email, text or letter.
    pub notification_type: NotificationType,
    /// Where it has got to.
    pub status: Status,
    /// The template sent.
    pub template_id: Uuid,
    /// The template's version at the time of sending.
    pub template_version: u32,
    /// When Notify accepted it.
    pub created_at: OffsetDateTime,
    /// When it was handed to a provider.
    pub sent_at: Option<OffsetDateTime>,
    /// When it reached a final status.
    pub completed_at: Option<OffsetDateTime>,
}

/// `template` in Notify's answers.
#[derive(Deserialize)]
pub(crate) struct TemplateRef {
    id: Uuid,
    version: u32,
}

/// The 201 body of a send. `content` holds the rendered, personal message: only its length is
/// used (to count a text's fragments), and it is dropped at once.
#[derive(Deserialize)]
pub(crate) struct SentBody {
    id: Uuid,
    reference: Option<String>,
    uri: String,
    template: TemplateRef,
    #[serde(default)]
    content: Option<SentContent>,
}

#[derive(Deserialize)]
pub(crate) struct SentContent {
    #[serde(default)]
    body: String,
}

impl From<SentBody> for SentNotification {
    fn from(b: SentBody) -> Self {
        Self {
            id: b.id,
            reference: b.reference,
            template_id: b.template.id,
            template_version: b.template.version,
            uri: b.uri,
            sms_fragments: b
                .content
                .map_or(1, |c| super::sms_length::sms_length(&c.body).fragments),
        }
    }
}

/// One notification in a `GET` answer; fields holding personal data are not read at all.
#[derive(Deserialize)]
pub(crate) struct NotificationBody {
    id: Uuid,
    reference: Option<String>,
    #[serde(rename = "type")]
    notification_type: NotificationType,
    status: Status,
    template: TemplateRef,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    sent_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    completed_at: Option<OffsetDateTime>,
}

impl From<NotificationBody> for NotificationStatus {
    fn from(b: NotificationBody) -> Self {
        Self {
            id: b.id,
            reference: b.reference,
            notification_type: b.notification_type,
            status: b.status,
            template_id: b.template.id,
            template_version: b.template.version,
            created_at: b.created_at,
            sent_at: b.sent_at,
            completed_at: b.completed_at,
        }
    }
}

/// `links` of a list page.
#[derive(Deserialize, Default)]
pub(crate) struct Links {
    pub(crate) next: Option<String>,
}

/// One page of `GET /v2/notifications`.
#[derive(Deserialize)]
pub(crate) struct ListBody {
    pub(crate) notifications: Vec<NotificationBody>,
    #[serde(default)]
    pub(crate) links: Links,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Uuid {
        Uuid::parse_str("f33517ff-2a88-4f6e-b855-c550268ce08a").unwrap()
    }

    #[test]
    fn an_email_without_a_reply_to_sends_no_null_for_it() {
        let request = EmailRequest {
            email_address: "parent@example.com".into(),
            template_id: template(),
            personalisation: [("child".to_owned(), "Sam".to_owned())].into(),
            reference: "ref-1".into(),
            email_reply_to_id: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"email_address": "parent@example.com", "template_id": template(),
                   "personalisation": {"child": "Sam"}, "reference": "ref-1"})
        );
    }

    #[test]
    fn a_text_names_its_sender_only_when_one_is_chosen() {
        let sender = Uuid::new_v4();
        let request = SmsRequest {
            phone_number: "07700900001".into(),
            template_id: template(),
            personalisation: Personalisation::new(),
            reference: "ref-2".into(),
            sms_sender_id: Some(sender),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"phone_number": "07700900001", "template_id": template(),
                   "personalisation": {}, "reference": "ref-2", "sms_sender_id": sender})
        );
    }

    #[test]
    fn a_letter_carries_its_address_in_the_personalisation() {
        let request = LetterRequest {
            template_id: template(),
            address: vec!["A Parent".into(), "1 High Street".into()],
            postcode: Some("SW1A 1AA".into()),
            personalisation: [
                ("child".to_owned(), "Sam".to_owned()),
                ("address_line_1".to_owned(), "stale".to_owned()),
            ]
            .into(),
            reference: "ref-3".into(),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"template_id": template(), "reference": "ref-3", "personalisation": {
                "child": "Sam", "address_line_1": "A Parent", "address_line_2": "1 High Street",
                "postcode": "SW1A 1AA"}})
        );
    }

    #[test]
    fn debug_output_hides_recipients_and_personalisation_values() {
        let request = SmsRequest {
            phone_number: "07700900001".into(),
            template_id: template(),
            personalisation: [("child".to_owned(), "Samira".to_owned())].into(),
            reference: "ref-4".into(),
            sms_sender_id: None,
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("07700900001"));
        assert!(!shown.contains("Samira"));
        assert!(shown.contains("child"));
    }

    #[test]
    fn a_notification_reads_notifys_timestamps_and_letter_statuses() {
        let body = json!({
            "id": "740e5834-3a29-46b4-9a6f-16142fde533a", "reference": null,
            "email_address": null, "phone_number": null, "line_1": "A Parent",
            "type": "letter", "status": "accepted",
            "template": {"id": template(), "version": 3, "uri": "x"},
            "created_at": "2017-05-14T12:15:30.000000Z", "sent_at": null, "completed_at": null,
            "estimated_delivery": "2017-05-17T16:00:00.000000Z"
        });
        let n: NotificationStatus = serde_json::from_value::<NotificationBody>(body)
            .unwrap()
            .into();
        assert_eq!(n.notification_type, NotificationType::Letter);
        assert_eq!(n.status, Status::Accepted);
        assert_eq!(n.template_version, 3);
        assert_eq!(n.created_at.unix_timestamp(), 1_494_764_130);
        assert_eq!(n.completed_at, None);
    }
}

/// A template of the service, as `GET /v2/template/{id}` answers. Fields Notify adds later are
/// ignored; the type is kept as Notify spells it, so a kind this code does not know is reported
/// rather than refused.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    /// The template's id.
    pub id: Uuid,
    /// `email`, `sms` or `letter`.
    #[serde(rename = "type")]
    pub template_type: String,
    /// The name the team gave it in Notify.
    #[serde(default)]
    pub name: String,
    /// The version Notify sends now.
    #[serde(default)]
    pub version: u32,
    /// The body, with its `((placeholders))`.
    #[serde(default)]
    pub body: String,
    /// The subject (email and letter).
    #[serde(default)]
    pub subject: Option<String>,
    /// Each placeholder in the body and subject, as Notify names it.
    #[serde(default)]
    pub personalisation: BTreeMap<String, serde_json::Value>,
}

/// A template filled with values, as `POST /v2/template/{id}/preview` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplatePreview {
    /// The template's id.
    pub id: Uuid,
    /// `email`, `sms` or `letter`.
    #[serde(rename = "type")]
    pub template_type: String,
    /// The body as Notify would send it.
    #[serde(default)]
    pub body: String,
    /// The subject as Notify would send it.
    #[serde(default)]
    pub subject: Option<String>,
}

/// What a preview is asked with.
#[derive(Serialize)]
pub(crate) struct PreviewRequest<'a> {
    pub personalisation: &'a Personalisation,
}
