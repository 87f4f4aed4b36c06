//! The channel policy (product.md, "Channel policy"): a pure function from what is known about a
//! child at send time to a plan — per parent the channels to use, the letter decision, and a
//! reason code for everything skipped. No I/O: the dispatcher loads the facts, this decides.

use serde::{Deserialize, Serialize};

/// Why a message is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The first request for consent.
    ConsentRequest,
    /// A reminder before the consent deadline.
    ConsentReminder,
    /// The day before a session, for children with consent.
    SessionReminder,
}

impl Purpose {
    /// Every purpose, in the order a campaign sends them.
    pub const ALL: [Purpose; 3] = [
        Self::ConsentRequest,
        Self::ConsentReminder,
        Self::SessionReminder,
    ];

    /// The name used in jobs, records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentRequest => "consent_request",
            Self::ConsentReminder => "consent_reminder",
            Self::SessionReminder => "session_reminder",
        }
    }
}

/// A way of reaching a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email to a parent.
    Email,
    /// Text message to a parent's UK mobile.
    Sms,
    /// A letter to the child's address, addressed to "The parent or carer of <name>".
    Letter,
}

impl Channel {
    /// The name used in records and reports (`email`, `sms`, `letter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Letter => "letter",
        }
    }

    /// The contact detail a send on this channel goes to (`recipient` as the record holds it:
    /// an address, or a number in E.164); a letter goes to the child's address, which has none.
    pub fn detail(self, recipient: &str) -> Option<crate::domain::ContactDetail> {
        match self {
            Self::Email => Some(crate::domain::ContactDetail::Email(recipient.to_owned())),
            Self::Sms => Some(crate::domain::ContactDetail::Phone(recipient.to_owned())),
            Self::Letter => None,
        }
    }
}

/// What is known about a contact detail (an email address or phone number) for the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailStatus {
    /// Nothing against it.
    Usable,
    /// A permanent failure (or a temporary failure retried once) was recorded.
    Failed,
    /// The number replied STOP: no more texts.
    OptedOut,
    /// Erased after a serious-harm objection: must never be used.
    Erased,
}

/// The scope of an objection (file-formats.md, objections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionScope {
    /// No messages at all.
    All,
    /// No email.
    Email,
    /// No texts.
    Text,
    /// No letters.
    Letter,
    /// Neither email nor text.
    Electronic,
}

impl ObjectionScope {
    /// Whether this scope covers the channel.
    pub fn covers(self, channel: Channel) -> bool {
        matches!(
            (self, channel),
            (Self::All, _)
                | (Self::Email, Channel::Email)
                | (Self::Text, Channel::Sms)
                | (Self::Letter, Channel::Letter)
                | (Self::Electronic, Channel::Email | Channel::Sms)
        )
    }
}

/// An objection in force (withdrawn objections are not passed in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// What it covers.
    pub scope: ObjectionScope,
    /// Which parent, by their email or phone (E.164) as stored; `None` = every parent of the child
    /// (and the child's letters).
    pub parent_detail: Option<String>,
}

/// A parent's contact preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    /// Email only while it works.
    Email,
    /// Text only while it works.
    Text,
    /// Letters.
    Letter,
    /// Email and text (also blank).
    Any,
}

/// One parent as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentFacts {
    /// 1 or 2.
    pub slot: u8,
    /// Email (lower-case) and its status.
    pub email: Option<(String, DetailStatus)>,
    /// Phone (E.164), whether it is a UK mobile, and its status.
    pub phone: Option<(String, bool, DetailStatus)>,
    /// Their preference.
    pub preference: Preference,
}

/// Where the child stands, for rule 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildFacts {
    /// Marked deceased.
    pub deceased: bool,
    /// The S-flag.
    pub restricted: bool,
    /// No longer in the latest cohort or class list of their source.
    pub left_cohort: bool,
    /// A consent response (given or refused) for the campaign's programme.
    pub answered: bool,
    /// Consent given for the campaign's programme (session reminders go only to these).
    pub consent_given: bool,
    /// Vaccinated, already vaccinated, or not eligible for the programme.
    pub vaccinated_or_ineligible: bool,
    /// A postal address that can take a letter (Notify's rules, not a pseudo-postcode).
    pub letter_address: bool,
}

/// What the campaign allows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignFacts {
    /// Letters may be sent (campaign and team setting).
    pub letters: bool,
    /// Urgent, with compelling legitimate grounds recorded: objections may be overridden.
    pub override_grounds: Option<String>,
    /// Channels that have a template for this purpose.
    pub templates: Vec<Channel>,
}

/// Everything the policy needs, loaded at send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInput {
    /// Why the message is being sent.
    pub purpose: Purpose,
    /// The child.
    pub child: ChildFacts,
    /// Every parent listed for the child.
    pub parents: Vec<ParentFacts>,
    /// Objections in force for this child.
    pub objections: Vec<Objection>,
    /// The campaign's settings.
    pub campaign: CampaignFacts,
    /// Channels that already failed permanently for this (child, purpose) — fallback runs skip them.
    pub failed_channels: Vec<Channel>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedSend {
    /// The channel.
    pub channel: Channel,
    /// The recipient: an email address, an E.164 number, or `letter` for the child's address.
    pub recipient: String,
    /// The parents this reaches (both when they share an email).
    pub parent_slots: Vec<u8>,
    /// Why this channel: `preference`, `any`, `fallback_from_email`, `fallback_no_electronic`, ….
    pub reason: &'static str,
    /// The grounds recorded when this send overrides an objection.
    pub grounds: Option<String>,
}

/// Something not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The parent, when the skip is about one parent.
    pub parent_slot: Option<u8>,
    /// The channel, when the skip is about one channel.
    pub channel: Option<Channel>,
    /// A reason code such as `deceased`, `objection`, `detail_failed`, `landline`, ….
    pub reason: &'static str,
}

/// The policy's decision for one (child, purpose).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// Messages to send.
    pub sends: Vec<PlannedSend>,
    /// What was not sent and why (`skipped:<reason>` in reports).
    pub skipped: Vec<Skipped>,
    /// Nobody can be reached automatically: the team must follow up by hand.
    pub manual_follow_up: bool,
}

/// Decides who gets which message by which channel. See product.md's "Channel policy".
pub fn plan(input: &PolicyInput) -> Plan {
    decide(input)
}

mod decide;

/// Rule 1 alone: why nothing at all is sent for this child and purpose (`deceased`,
/// `left_cohort`, `answered`, `vaccinated`, `no_consent`, `objection_all`), if anything. The
/// daily schedule uses it not to queue jobs the dispatcher would skip.
pub fn stop_reason(input: &PolicyInput) -> Option<&'static str> {
    decide::stop_reason(input)
}
use decide::decide;
