//! A campaign (`<team>/campaigns/<id>.json`, file-formats.md): which children, which sessions,
//! when to send, which Notify templates, and whether it may override objections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};
use uuid::Uuid;

use crate::policy::{Channel, Purpose};

/// Notify template ids for one purpose, per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTemplates {
    /// Email template.
    #[serde(default)]
    pub email: Option<Uuid>,
    /// Text message template.
    #[serde(default)]
    pub sms: Option<Uuid>,
    /// Letter template.
    #[serde(default)]
    pub letter: Option<Uuid>,
}

impl ChannelTemplates {
    /// The template for a channel.
    pub fn for_channel(&self, channel: Channel) -> Option<Uuid> {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Letter => self.letter,
        }
    }

    /// Channels that have a template.
    pub fn channels(&self) -> Vec<Channel> {
        [Channel::Email, Channel::Sms, Channel::Letter]
            .into_iter()
            .filter(|c| self.for_channel(*c).is_some())
            .collect()
    }
}

/// Templates per purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The consent request.
    #[serde(default)]
    pub consent_request: ChannelTemplates,
    /// Reminders before the deadline.
    #[serde(default)]
    pub consent_reminder: ChannelTemplates,
    /// The day-before session reminder.
    #[serde(default)]
    pub session_reminder: ChannelTemplates,
}

impl Templates {
    /// The templates for a purpose.
    pub fn for_purpose(&self, purpose: Purpose) -> &ChannelTemplates {
        match purpose {
            Purpose::ConsentRequest => &self.consent_request,
            Purpose::ConsentReminder => &self.consent_reminder,
            Purpose::SessionReminder => &self.session_reminder,
        }
    }
}

// Dates as the campaign file writes them: `2026-12-03`.
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// The dates a campaign sends on, with the defaults of file-formats.md applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignDates {
    /// The consent request (default: 21 days before the first session).
    pub requests_on: Date,
    /// The consent deadline (default: the day before the first session).
    pub deadline: Date,
    /// The reminder dates, ascending: each of `reminder_days_before_deadline` before the
    /// deadline, kept only when after the request day and not after the deadline.
    pub reminders: Vec<Date>,
    /// The sessions, ascending, without repeats.
    pub sessions: Vec<Date>,
}

impl CampaignDates {
    /// The dates of a campaign; `None` when it has no sessions (nothing to send for).
    pub fn of(campaign: &Campaign) -> Option<Self> {
        let mut sessions = campaign.sessions.clone();
        sessions.sort_unstable();
        sessions.dedup();
        let first = *sessions.first()?;
        let requests_on = campaign
            .send_requests_on
            .unwrap_or(first - Duration::days(21));
        let deadline = campaign
            .consent_deadline
            .unwrap_or(first - Duration::days(1));
        let mut reminders: Vec<Date> = campaign
            .reminder_days_before_deadline
            .iter()
            .map(|&days| deadline - Duration::days(i64::from(days)))
            .filter(|&d| d > requests_on && d <= deadline)
            .collect();
        reminders.sort_unstable();
        reminders.dedup();
        Some(Self {
            requests_on,
            deadline,
            reminders,
            sessions,
        })
    }

    /// The last day the campaign has anything to send: the day before its last session.
    pub fn last_send_day(&self) -> Date {
        let last_session = *self
            .sessions
            .last()
            .expect("a campaign with dates has sessions");
        (last_session - Duration::days(1)).max(self.deadline)
    }
}

/// A list of `YYYY-MM-DD` dates.
mod iso_dates {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::Date;

    #[derive(Serialize, Deserialize)]
    struct IsoDate(#[serde(with = "super::iso_date")] Date);

    pub fn serialize<S: Serializer>(dates: &[Date], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(dates.iter().map(|&d| IsoDate(d)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Date>, D::Error> {
        Ok(Vec::<IsoDate>::deserialize(deserializer)?
            .into_iter()
            .map(|d| d.0)
            .collect())
    }
}

fn default_reminders() -> Vec<u32> {
    vec![7]
}

fn yes() -> bool {
    true
}

/// A campaign as the team writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// The campaign's id (also its file name).
    pub id: String,
    /// `hpv`, `flu`, `menacwy`, `td_ipv` or `mmr`.
    pub programme: String,
    /// The schools (URNs) whose children are in the campaign.
    pub schools: Vec<String>,
    /// The year groups in the campaign (all when empty).
    #[serde(default)]
    pub year_groups: Vec<u8>,
    /// Session dates.
    #[serde(with = "iso_dates")]
    pub sessions: Vec<Date>,
    /// Consent deadline; default the day before the first session.
    #[serde(default, with = "iso_date::option")]
    pub consent_deadline: Option<Date>,
    /// When to send the consent requests; default 21 days before the first session.
    #[serde(default, with = "iso_date::option")]
    pub send_requests_on: Option<Date>,
    /// Reminder days before the deadline; default `[7]`.
    #[serde(default = "default_reminders")]
    pub reminder_days_before_deadline: Vec<u32>,
    /// Send session reminders the day before each session.
    #[serde(default = "yes")]
    pub session_reminder: bool,
    /// Letters allowed.
    #[serde(default = "yes")]
    pub letters: bool,
    /// Urgent: with grounds recorded, objections may be overridden.
    #[serde(default)]
    pub urgent: bool,
    /// The compelling legitimate grounds for overriding objections (required when urgent).
    #[serde(default)]
    pub override_grounds: Option<String>,
    /// Notify templates.
    pub templates: Templates,
    /// Values for the templates' placeholders (`programme_name`, `consent_url`, `team_phone`, …).
    #[serde(default)]
    pub personalisation: BTreeMap<String, String>,
}

impl Campaign {
    /// The first session, which the defaults count from.
    pub fn first_session(&self) -> Option<Date> {
        self.sessions.iter().min().copied()
    }

    /// The consent deadline, defaulting to the day before the first session.
    pub fn deadline(&self) -> Option<Date> {
        self.consent_deadline
            .or_else(|| self.first_session().map(|d| d - Duration::days(1)))
    }

    /// The request date, defaulting to 21 days before the first session.
    pub fn requests_on(&self) -> Option<Date> {
        self.send_requests_on
            .or_else(|| self.first_session().map(|d| d - Duration::days(21)))
    }

    /// The grounds that let this campaign override objections: only when urgent and recorded.
    pub fn grounds(&self) -> Option<String> {
        match (&self.urgent, &self.override_grounds) {
            (true, Some(g)) if !g.trim().is_empty() => Some(g.trim().to_owned()),
            _ => None,
        }
    }
}
