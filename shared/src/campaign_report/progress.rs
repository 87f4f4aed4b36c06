//! Consent progress: per school and year group, how many children have consent given, refused,
//! no answer yet, or are vaccinated; and over the campaign's days, the messages sent and the
//! answers received.

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

use super::{Child, Standing, day_of, sent, sent_on};
use crate::campaign::Campaign;

/// The longest run of days the day-by-day series covers (a campaign's days are weeks, not
/// years; a stray date must not make a page of thousands of days).
const MAX_DAYS: i64 = 400;

/// Children counted by where they stand on the programme.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressCounts {
    /// Children (each once).
    pub children: u64,
    /// Consent given (and not yet vaccinated).
    pub consent_given: u64,
    /// Consent refused.
    pub consent_refused: u64,
    /// No answer yet.
    pub no_answer: u64,
    /// Vaccinated, here or before.
    pub vaccinated: u64,
    /// Not eligible for the programme.
    pub not_eligible: u64,
    /// Died, or no longer on the latest cohort or class list.
    pub left_or_died: u64,
}

impl ProgressCounts {
    fn add(&mut self, standing: Standing) {
        self.children += 1;
        *match standing {
            Standing::Given => &mut self.consent_given,
            Standing::Refused => &mut self.consent_refused,
            Standing::NoAnswer => &mut self.no_answer,
            Standing::Vaccinated => &mut self.vaccinated,
            Standing::NotEligible => &mut self.not_eligible,
            Standing::LeftOrDied => &mut self.left_or_died,
        } += 1;
    }

    /// Children with an answer (given or refused), or vaccinated.
    pub fn answered(&self) -> u64 {
        self.consent_given + self.consent_refused + self.vaccinated
    }
}

/// One school and year group's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolYearProgress {
    /// The school's URN.
    pub school_urn: String,
    /// The year group, when the files gave one.
    pub year_group: Option<u8>,
    /// The counts.
    #[serde(flatten)]
    pub counts: ProgressCounts,
}

/// One day of the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayActivity {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Messages that went to Notify that day (emails, texts, letters).
    pub messages_sent: u64,
    /// Consent answers (given or refused) recorded that day.
    pub answers_received: u64,
}

/// The consent answers so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsentProgress {
    /// Per school and year group, in URN then year order.
    pub by_school_year: Vec<SchoolYearProgress>,
    /// Every child of the campaign.
    pub totals: ProgressCounts,
    /// Every day from the consent request's day (or the first message, if earlier) to today or
    /// the last session, whichever is first (or the last message or answer, if later).
    pub by_day: Vec<DayActivity>,
    /// Answers recorded before the service kept when answers came in: counted in the totals,
    /// on no day.
    pub answers_without_date: u64,
}

fn parse_day(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The campaign's progress from its children.
pub(super) fn build(campaign: &Campaign, children: &[Child<'_>], today: Date) -> ConsentProgress {
    let mut by_school_year: BTreeMap<(String, Option<u8>), ProgressCounts> = BTreeMap::new();
    let mut totals = ProgressCounts::default();
    let mut sent_by_day: BTreeMap<Date, u64> = BTreeMap::new();
    let mut answers_by_day: BTreeMap<Date, u64> = BTreeMap::new();
    let mut answers_without_date = 0;
    for child in children {
        let standing = Standing::of(&child.facts, &campaign.programme);
        let c = &child.facts.child;
        by_school_year
            .entry((c.school_urn.as_str().to_owned(), c.year_group))
            .or_default()
            .add(standing);
        totals.add(standing);
        for m in child.messages.iter().filter(|m| sent(m)) {
            if let Some(day) = parse_day(sent_on(m)) {
                *sent_by_day.entry(day).or_default() += 1;
            }
        }
        if matches!(standing, Standing::Given | Standing::Refused) {
            match child
                .answered_at
                .as_deref()
                .and_then(|a| parse_day(day_of(a)))
            {
                Some(day) => *answers_by_day.entry(day).or_default() += 1,
                None => answers_without_date += 1,
            }
        }
    }

    let events = sent_by_day.keys().chain(answers_by_day.keys());
    let (first_event, last_event) = (events.clone().min().copied(), events.max().copied());
    let start = [campaign.requests_on(), first_event]
        .into_iter()
        .flatten()
        .min();
    let planned_end = campaign
        .sessions
        .iter()
        .max()
        .map(|last| (*last).min(today))
        .or(Some(today));
    let end = [planned_end, last_event].into_iter().flatten().max();
    let mut by_day = Vec::new();
    if let (Some(start), Some(end)) = (start, end) {
        let end = end.min(start + time::Duration::days(MAX_DAYS - 1));
        let mut day = start;
        while day <= end {
            by_day.push(DayActivity {
                date: day.to_string(),
                messages_sent: sent_by_day.get(&day).copied().unwrap_or(0),
                answers_received: answers_by_day.get(&day).copied().unwrap_or(0),
            });
            day += time::Duration::days(1);
        }
    }

    ConsentProgress {
        by_school_year: by_school_year
            .into_iter()
            .map(|((school_urn, year_group), counts)| SchoolYearProgress {
                school_urn,
                year_group,
                counts,
            })
            .collect(),
        totals,
        by_day,
        answers_without_date,
    }
}
