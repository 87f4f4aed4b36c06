//! Parents' replies: every text the team's parents sent that is not an opt-out, with the
//! children whose parent has that number (each child once, however many records they have),
//! for the daily replies CSVs and the campaign page. The text is personal data: it is written
//! to the team's reports and never logged.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::day_of;
use crate::store::{ChildItem, ReceivedText};

/// The replies CSV's columns.
pub(super) const CSV_HEADER: [&str; 6] = [
    "RECEIVED_AT",
    "FROM",
    "MESSAGE",
    "CHILDREN",
    "NHS_NUMBERS",
    "CHILD_IDS",
];

/// What the replies say of a number no child's parent has.
pub const NOT_ON_ANY_RECORD: &str = "number not on any record";
/// What the replies say of a number erased since the text came in.
pub const NUMBER_ERASED: &str = "number erased since (it is no longer linked to any child)";

/// A text a parent sent, and whose parent they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// Notify's id of the text.
    pub inbound_id: String,
    /// When Notify received it.
    pub received_at: String,
    /// The number it came from (E.164), `erased`, or empty when Notify's number could not be
    /// read.
    pub from: String,
    /// The text.
    pub message: String,
    /// The children whose parent has that number.
    pub children: Vec<ReplyChild>,
    /// Whether one of those children is in this campaign.
    pub in_campaign: bool,
}

/// A child whose parent has the number a text came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyChild {
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
    /// Year group, when known.
    pub year_group: Option<u8>,
    /// The names of the child's parents with that number, when the files gave them.
    pub parents: Vec<String>,
}

impl ReplyChild {
    /// "Ava Smith (born 2013-05-01, school 123456, year 8; parent Sarah Smith)".
    pub fn describe(&self) -> String {
        let year = self
            .year_group
            .map(|y| format!(", year {y}"))
            .unwrap_or_default();
        let parents = if self.parents.is_empty() {
            String::new()
        } else {
            format!("; parent {}", self.parents.join(" and "))
        };
        format!(
            "{} {} (born {}, school {}{year}{parents})",
            self.first_name, self.last_name, self.date_of_birth, self.school_urn
        )
    }
}

impl Reply {
    /// The day it came in, `YYYY-MM-DD`.
    pub fn date(&self) -> &str {
        day_of(&self.received_at)
    }

    /// Whose parent sent it, in words: the children, or that the number is on no record.
    pub fn whose(&self) -> String {
        if !self.children.is_empty() {
            return self
                .children
                .iter()
                .map(ReplyChild::describe)
                .collect::<Vec<_>>()
                .join("; ");
        }
        if self.from == "erased" {
            NUMBER_ERASED.to_owned()
        } else {
            NOT_ON_ANY_RECORD.to_owned()
        }
    }

    /// Whether the campaign's page shows it: from a parent of one of its children, or from a
    /// number on no record (someone must read it, and no other page would show it).
    pub fn on_campaign_page(&self) -> bool {
        self.in_campaign || self.children.is_empty()
    }

    /// The reply's CSV cells, in [`CSV_HEADER`]'s order.
    pub(super) fn csv_cells(&self) -> [String; 6] {
        let join = |f: fn(&ReplyChild) -> &str| {
            self.children
                .iter()
                .map(f)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        };
        [
            self.received_at.clone(),
            self.from.clone(),
            self.message.clone(),
            self.whose(),
            join(|c| c.nhs_number.as_str()),
            join(|c| c.child_id.as_str()),
        ]
    }
}

/// How many texts parents sent in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepliesSummary {
    /// Every text the team holds (not opt-outs).
    pub total: u64,
    /// From a parent of a child in this campaign.
    pub from_this_campaigns_families: u64,
    /// From a number no child's parent has (or one erased since).
    pub not_on_any_record: u64,
    /// The days with texts: each has its `<team>/reports/replies/<date>.csv`.
    pub dates: Vec<String>,
}

/// Each text with the children whose parent has its number; `in_campaign` holds the ids of the
/// campaign's children's records.
pub(super) fn matched(
    texts: Vec<ReceivedText>,
    by_phone: &HashMap<String, Vec<ChildItem>>,
    in_campaign: &HashSet<&str>,
) -> Vec<Reply> {
    let mut replies: Vec<Reply> = texts
        .into_iter()
        .map(|t| {
            let from = t.from.unwrap_or_default();
            let records = by_phone.get(&from).map(Vec::as_slice).unwrap_or_default();
            Reply {
                in_campaign: records
                    .iter()
                    .any(|c| in_campaign.contains(c.child_id.as_str())),
                children: each_child_once(records, &from),
                inbound_id: t.inbound_id,
                received_at: t.received_at,
                message: t.message,
                from,
            }
        })
        .collect();
    replies.sort_by(|a, b| (&a.received_at, &a.inbound_id).cmp(&(&b.received_at, &b.inbound_id)));
    replies
}

/// The children of these records, each once (a child on a cohort and a class list has two
/// records): the same NHS number, or the same names and date of birth.
fn each_child_once(records: &[ChildItem], number: &str) -> Vec<ReplyChild> {
    let mut ordered: Vec<&ChildItem> = records.iter().collect();
    ordered.sort_by_key(|c| (c.nhs_number.is_none(), c.child_id.clone()));
    let mut seen: HashSet<String> = HashSet::new();
    let mut children = Vec::new();
    for c in ordered {
        let by_details = format!(
            "{}\n{}\n{}",
            c.first_name.as_str().to_lowercase(),
            c.last_name.as_str().to_lowercase(),
            c.date_of_birth.as_iso()
        );
        let by_nhs = c.nhs_number.as_ref().map(|n| n.as_str().to_owned());
        if seen.contains(&by_details) || by_nhs.as_ref().is_some_and(|n| seen.contains(n)) {
            continue;
        }
        seen.insert(by_details);
        seen.extend(by_nhs.clone());
        children.push(ReplyChild {
            child_id: c.child_id.clone(),
            nhs_number: by_nhs.unwrap_or_default(),
            first_name: c.first_name.as_str().to_owned(),
            last_name: c.last_name.as_str().to_owned(),
            date_of_birth: c.date_of_birth.as_iso(),
            school_urn: c.school_urn.as_str().to_owned(),
            year_group: c.year_group,
            parents: c
                .parents
                .iter()
                .filter(|p| p.phone.as_ref().is_some_and(|n| n.e164() == number))
                .filter_map(|p| p.name.as_ref().map(|n| n.as_str().to_owned()))
                .collect(),
        });
    }
    children.sort_by(|a, b| (&a.last_name, &a.first_name).cmp(&(&b.last_name, &b.first_name)));
    children
}

/// The counts of the replies.
pub(super) fn summary(replies: &[Reply]) -> RepliesSummary {
    let mut dates: Vec<String> = replies.iter().map(|r| r.date().to_owned()).collect();
    dates.dedup();
    RepliesSummary {
        total: replies.len() as u64,
        from_this_campaigns_families: replies.iter().filter(|r| r.in_campaign).count() as u64,
        not_on_any_record: replies.iter().filter(|r| r.children.is_empty()).count() as u64,
        dates,
    }
}
