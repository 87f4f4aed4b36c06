//! The follow-up list: the children a person must act on, because no message of the campaign
//! can reach their family — nobody reachable, a restricted child whose electronic contact
//! failed, letters off, a letter that came back. A child whose parent answered, who was
//! vaccinated (or is not eligible), who left or who died is never on it.

use serde::Serialize;

use super::words::{channel_in_words, purpose_in_words, reason_in_words, status_label};
use super::{FAILED, Standing, day_of, reached, sent_on};
use crate::policy::Purpose;
use crate::store::{Decision, Facts, FollowUp, MessageRecord};

/// The follow-up CSV's columns.
pub(super) const CSV_HEADER: [&str; 12] = [
    "CHILD_ID",
    "NHS_NUMBER",
    "FIRST_NAME",
    "LAST_NAME",
    "DATE_OF_BIRTH",
    "SCHOOL_URN",
    "YEAR_GROUP",
    "REASON",
    "REASON_IN_WORDS",
    "PURPOSES",
    "TRIED",
    "LISTED_AT",
];

/// The letter's reasons a policy decision may give for listing a family.
const LETTER_REASONS: &[&str] = &[
    "restricted_no_letter",
    "letters_off",
    "no_address",
    "objection",
    "no_template",
    "channel_failed",
];

/// One child a person must follow up. Never an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUpEntry {
    /// The child's opaque id.
    pub child_id: String,
    /// NHS number, when known.
    pub nhs_number: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// School URN.
    pub school_urn: String,
    /// Year group, when the file gave one.
    pub year_group: Option<u8>,
    /// Why (`restricted_no_letter`, `letters_off`, `letter_permanent-failure`, `all_failed`, …).
    pub reason: String,
    /// The purposes no message could be delivered for (`consent_request`, …).
    pub purposes: Vec<String>,
    /// When the family was first put on the list, when it was (RFC 3339).
    pub listed_at: String,
    /// What was tried, oldest first.
    pub tried: Vec<Attempt>,
}

/// One thing tried for a child: a message and its status, or a decision that nothing could be
/// sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The day (`YYYY-MM-DD`), when known.
    pub date: String,
    /// `consent_request`, …
    pub purpose: String,
    /// `email`, `sms`, `letter`; empty when nothing could be sent.
    pub channel: String,
    /// Notify's status of the message, or `skipped` when nothing could be sent.
    pub status: String,
    /// When nothing could be sent, why (the policy's reason codes).
    pub reasons: Vec<String>,
}

impl Attempt {
    /// The attempt in a line with its codes: `2026-11-12 consent request by text:
    /// permanent-failure`, or `… consent request: nothing could be sent (no_contact_details)`.
    pub fn describe(&self) -> String {
        let when = if self.date.is_empty() {
            String::new()
        } else {
            format!("{} ", self.date)
        };
        let purpose = purpose_in_words(&self.purpose);
        if self.channel.is_empty() {
            format!(
                "{when}{purpose}: nothing could be sent ({})",
                self.reasons.join(", ")
            )
        } else {
            format!(
                "{when}{purpose} by {}: {}",
                channel_in_words(&self.channel),
                self.status
            )
        }
    }

    /// The attempt in plain words, without the date: "Consent request by text: could not be
    /// delivered: …".
    pub fn in_words(&self) -> String {
        let purpose = purpose_in_words(&self.purpose);
        let mut purpose = purpose.to_owned();
        if let Some(first) = purpose.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        if self.channel.is_empty() {
            let why: Vec<&str> = self.reasons.iter().map(|r| reason_in_words(r)).collect();
            format!("{purpose}: nothing could be sent. {}", why.join(" "))
        } else {
            format!(
                "{purpose} by {} — {}: {}",
                channel_in_words(&self.channel),
                status_label(&self.status),
                reason_in_words(&self.status)
            )
        }
    }
}

impl FollowUpEntry {
    /// The child's name as the page shows it.
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// The entry's CSV cells, in [`CSV_HEADER`]'s order.
    pub(super) fn csv_cells(&self) -> [String; 12] {
        [
            self.child_id.clone(),
            self.nhs_number.clone(),
            self.first_name.clone(),
            self.last_name.clone(),
            self.date_of_birth.clone(),
            self.school_urn.clone(),
            self.year_group.map(|y| y.to_string()).unwrap_or_default(),
            self.reason.clone(),
            reason_in_words(&self.reason).to_owned(),
            self.purposes.join("; "),
            self.tried
                .iter()
                .map(Attempt::describe)
                .collect::<Vec<_>>()
                .join("; "),
            self.listed_at.clone(),
        ]
    }
}

/// The child's entry on the follow-up list, if a person must act: the store's list for the
/// campaign names them (`listed`, by purpose), the policy decided nobody could be reached, or
/// every message failed and none got through; and the child still has no answer, and no
/// message made since they were listed got through.
pub(super) fn entry_for(
    facts: &Facts,
    standing: Standing,
    messages: &[MessageRecord],
    decisions: &[Decision],
    listed: &[Option<&FollowUp>],
) -> Option<FollowUpEntry> {
    if standing != Standing::NoAnswer {
        return None;
    }
    // A listing stands until a message made after it gets through (a newer file gave the
    // family a detail that works): then nobody needs to phone.
    let stands = |at: Option<&str>| {
        at.is_none_or(|at| {
            !messages
                .iter()
                .any(|m| reached(m) && m.created_at.as_str() > at)
        })
    };
    let listed: Vec<&FollowUp> = listed
        .iter()
        .flatten()
        .copied()
        .filter(|f| stands(Some(f.listed_at.as_str())))
        .collect();
    let decided: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.manual_follow_up && stands(d.decided_at.as_deref()))
        .collect();
    let all_failed = !messages.is_empty()
        && messages.iter().all(|m| FAILED.contains(&m.status.as_str()))
        && !messages.iter().any(reached);
    if listed.is_empty() && decided.is_empty() && !all_failed {
        return None;
    }
    let reason = listed
        .iter()
        .max_by(|a, b| a.listed_at.cmp(&b.listed_at))
        .map(|f| f.reason.clone())
        .or_else(|| {
            decided.iter().find_map(|d| {
                d.skipped
                    .iter()
                    .find(|s| LETTER_REASONS.contains(&s.as_str()))
                    .cloned()
                    .or_else(|| Some("no_reachable_channel".to_owned()))
            })
        })
        .unwrap_or_else(|| "all_failed".to_owned());
    let mut purposes: Vec<&str> = listed
        .iter()
        .map(|f| f.purpose.as_str())
        .chain(decided.iter().map(|d| d.purpose.as_str()))
        .collect();
    if purposes.is_empty() {
        purposes.extend(messages.iter().map(|m| m.purpose.as_str()));
    }
    let order = |p: &str| Purpose::ALL.iter().position(|q| q.as_str() == p);
    purposes.sort_by_key(|p| order(p));
    purposes.dedup();

    let mut tried: Vec<Attempt> = messages
        .iter()
        .map(|m| Attempt {
            date: sent_on(m).to_owned(),
            purpose: m.purpose.as_str().to_owned(),
            channel: m.channel.as_str().to_owned(),
            status: m.status.clone(),
            reasons: Vec::new(),
        })
        .chain(decided.iter().map(|d| {
            Attempt {
                date: d
                    .decided_at
                    .as_deref()
                    .map(day_of)
                    .unwrap_or_default()
                    .to_owned(),
                purpose: d.purpose.clone(),
                channel: String::new(),
                status: "skipped".to_owned(),
                reasons: d.skipped.clone(),
            }
        }))
        .collect();
    tried.sort_by(|a, b| {
        (&a.date, order(&a.purpose), a.channel.is_empty()).cmp(&(
            &b.date,
            order(&b.purpose),
            b.channel.is_empty(),
        ))
    });

    let c = &facts.child;
    Some(FollowUpEntry {
        child_id: c.child_id.clone(),
        nhs_number: c
            .nhs_number
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        first_name: c.first_name.as_str().to_owned(),
        last_name: c.last_name.as_str().to_owned(),
        date_of_birth: c.date_of_birth.as_iso(),
        school_urn: c.school_urn.as_str().to_owned(),
        year_group: c.year_group,
        reason,
        purposes: purposes.into_iter().map(str::to_owned).collect(),
        listed_at: listed
            .iter()
            .map(|f| f.listed_at.as_str())
            .min()
            .unwrap_or_default()
            .to_owned(),
        tried,
    })
}
