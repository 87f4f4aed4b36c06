//! The campaign report (product.md, flow 6): first the children a person must follow up — nobody
//! could reach the family, a restricted child's electronic contact failed, letters were off, a
//! letter came back — then the consent answers so far (per school and year group, and day by
//! day), the texts parents sent in, and what was sent: per child, by which channel, its status
//! and why anything was skipped, with totals by channel and status.
//!
//! Written to the team's own folder, `<team>/reports/campaigns/`: `<id>.csv` (one row per child,
//! purpose, recipient and channel), `<id>.follow-up.csv` (one row per child to follow up),
//! `<id>.summary.json` (the totals, no names) and `<id>.html` (the page, readable offline and
//! printable); and, for the team, `<team>/reports/replies/<date>.csv` (each day's texts from
//! parents, against the children whose parent has that number). Every code is shown beside its
//! meaning in plain words ([`reason_in_words`]). A restricted child's address never appears:
//! no report carries any child's address, letters are shown as "home address", and restricted
//! children are never sent letters anyway.

mod follow_up;
mod page;
mod progress;
mod publisher;
mod replies;
mod words;

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

pub use follow_up::{Attempt, FollowUpEntry};
pub use progress::{ConsentProgress, DayActivity, ProgressCounts, SchoolYearProgress};
pub use publisher::{
    DailyReports, REPORT_EXPIRY_PERIODS, ReportError, ReportPublisher, ReportsErased,
    report_expiry_tag_value,
};
pub use replies::{RepliesSummary, Reply, ReplyChild};
pub use words::{WORDS, channel_in_words, purpose_in_words, reason_in_words, status_label};

use crate::campaign::Campaign;
use crate::files::report::guard_formula;
use crate::policy::{Channel, Purpose, stop_reason};
use crate::schedule::runner::{merged, same_children};
use crate::store::{Decision, Facts, FollowUp, MessageRecord, Store, StoreError};
use crate::uploads::TeamCode;

/// GOV.UK Notify's price of one text-message fragment beyond the free allowance, in pounds,
/// excluding VAT (notifications.service.gov.uk/pricing, 2025–26). Emails are free.
pub const SMS_FRAGMENT_GBP: f64 = 0.024;
/// The price of a one-sheet second-class letter, in pounds, excluding VAT: an upper bound from
/// the published price list (2025–26).
pub const LETTER_GBP: f64 = 0.67;

/// Reads in flight at once while gathering a campaign's records.
const READ_CONCURRENCY: usize = 8;

/// One line of the report: a message, a skip, or a child not contacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// The child's opaque id.
    pub child_id: String,
    /// NHS number, when known.
    pub nhs_number: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// School URN.
    pub school_urn: String,
    /// `consent_request`, `consent_reminder`, `session_reminder`, or empty for a child never
    /// contacted.
    pub purpose: String,
    /// The reminder's date or the session's date, when the purpose is sent more than once.
    pub occasion: String,
    /// `email`, `sms`, `letter`, or empty.
    pub channel: String,
    /// The email address or mobile number; "home address" for a letter.
    pub recipient: String,
    /// Notify's status (`delivered`, `permanent-failure`, …), `skipped` or `not_contacted`.
    pub status: String,
    /// The policy's reason code (`preference`, `fallback_from_email`, `answered`, …).
    pub reason: String,
    /// The child is on the follow-up list, for this purpose.
    pub manual_follow_up: bool,
    /// The message's id (its Notify `reference`), for a message.
    pub message_id: String,
}

/// Cost estimate, from text fragments and letters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    /// Text fragments billed.
    pub sms_fragments: u64,
    /// Letters sent.
    pub letters: u64,
    /// Pounds, excluding VAT, before any free allowance.
    pub sms_gbp: f64,
    /// Pounds, excluding VAT.
    pub letters_gbp: f64,
    /// The two together.
    pub total_gbp: f64,
    /// The prices used.
    pub basis: String,
}

/// The totals of a campaign: counts and ids, never names or contact details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The team.
    pub team: String,
    /// The campaign.
    pub campaign_id: String,
    /// The programme (`hpv`, …).
    pub programme: String,
    /// The campaign's schools (URNs).
    pub schools: Vec<String>,
    /// The campaign's year groups (all when empty).
    pub year_groups: Vec<u8>,
    /// Its session dates, `YYYY-MM-DD`.
    pub sessions: Vec<String>,
    /// Its consent deadline, `YYYY-MM-DD`.
    pub consent_deadline: Option<String>,
    /// When the report was made.
    pub generated_at: String,
    /// Children in the campaign's schools and year groups (each child once).
    pub children: u64,
    /// Children sent at least one message.
    pub children_contacted: u64,
    /// Children with a message delivered (email, text) or a letter accepted for printing.
    pub children_reached: u64,
    /// Children nobody could reach: the follow-up list. A child whose parent answered, who was
    /// vaccinated, who left or who died is never counted.
    pub children_unreachable: u64,
    /// The follow-up list by reason code.
    pub follow_up_reasons: BTreeMap<String, u64>,
    /// Children not contacted, by reason (`answered`, `deceased`, `not_yet_due`, …).
    pub not_contacted: BTreeMap<String, u64>,
    /// Messages by channel, then by status.
    pub messages: BTreeMap<String, BTreeMap<String, u64>>,
    /// Letters sent.
    pub letters_sent: u64,
    /// Estimated Notify cost.
    pub estimated_cost: CostEstimate,
    /// The consent answers so far: per school and year group, and day by day.
    pub consent_progress: ConsentProgress,
    /// How many texts parents sent in.
    pub replies: RepliesSummary,
    /// The follow-up list's child ids (names and dates of birth are in the follow-up CSV).
    pub unreachable_child_ids: Vec<String>,
    /// What each code in this summary means.
    pub codes_in_words: BTreeMap<String, String>,
}

/// A campaign's report.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignReport {
    /// One row per child, purpose, recipient and channel.
    pub rows: Vec<ReportRow>,
    /// The children a person must follow up, by name.
    pub follow_up: Vec<FollowUpEntry>,
    /// Every text the team's parents sent in that is not an opt-out, oldest first, each with
    /// the children whose parent has that number.
    pub replies: Vec<Reply>,
    /// The totals.
    pub summary: Summary,
}

const FAILED: &[&str] = &[
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
    "validation-failed",
    "cancelled",
];

fn reached(m: &MessageRecord) -> bool {
    match m.channel.as_str() {
        "letter" => matches!(m.status.as_str(), "accepted" | "received" | "created"),
        _ => m.status == "delivered",
    }
}

/// Whether Notify took the message (so it counts as sent).
fn sent(m: &MessageRecord) -> bool {
    m.notify_id.is_some()
}

/// The day a message went to Notify: its first status after the intent (the intent of an
/// attempt that failed may be older), else when it was made.
fn sent_on(m: &MessageRecord) -> &str {
    let at = m
        .status_history
        .iter()
        .find(|c| c.status != "intent")
        .map_or(m.created_at.as_str(), |c| c.at.as_str());
    day_of(at)
}

/// The date part of an RFC 3339 time.
fn day_of(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

fn row_for(facts: &Facts) -> ReportRow {
    let c = &facts.child;
    ReportRow {
        child_id: c.child_id.clone(),
        nhs_number: c
            .nhs_number
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        first_name: c.first_name.as_str().to_owned(),
        last_name: c.last_name.as_str().to_owned(),
        school_urn: c.school_urn.as_str().to_owned(),
        purpose: String::new(),
        occasion: String::new(),
        channel: String::new(),
        recipient: String::new(),
        status: String::new(),
        reason: String::new(),
        manual_follow_up: false,
        message_id: String::new(),
    }
}

/// Where a child stands on the campaign's programme; anything but [`Standing::NoAnswer`]
/// keeps the child off the follow-up list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Died, or no longer on the latest cohort or class list.
    LeftOrDied,
    /// Vaccinated (here or before).
    Vaccinated,
    /// Not eligible for the programme.
    NotEligible,
    /// Consent given.
    Given,
    /// Consent refused.
    Refused,
    /// No answer yet.
    NoAnswer,
}

impl Standing {
    fn of(facts: &Facts, programme: &str) -> Self {
        if facts.child.deceased || facts.left_cohort {
            return Self::LeftOrDied;
        }
        match facts.responses.get(programme).map(String::as_str) {
            Some("vaccinated" | "already_vaccinated") => Self::Vaccinated,
            Some("not_eligible") => Self::NotEligible,
            Some("consent_given") => Self::Given,
            Some("consent_refused") => Self::Refused,
            _ => Self::NoAnswer,
        }
    }
}

/// Builds the report of `campaign` from the table: reads each child's records, messages, the
/// policy's decisions and when their answers came in, and the texts parents sent; then works
/// out the rows, the follow-up list, the consent progress and the summary from them.
pub async fn build(
    store: &Store,
    team: &TeamCode,
    campaign: &Campaign,
) -> Result<CampaignReport, StoreError> {
    let records = store.campaign_children(team, campaign).await?;
    let groups = same_children(&records);
    let mut follow_ups: HashMap<(String, String), FollowUp> = HashMap::new();
    for f in store.follow_ups(team).await? {
        if f.campaign_id == campaign.id {
            follow_ups.insert((f.child_id.clone(), f.purpose.clone()), f);
        }
    }
    let record_ids: Vec<String> = records.iter().map(|f| f.child.child_id.clone()).collect();
    let times = store
        .outcome_times(team, &record_ids, &campaign.programme)
        .await?;

    // Every record of the child: a message may have gone to either id.
    let records_ref = &records;
    let times_ref = &times;
    // Owned groups: a future borrowing the stream's item is not provably `Send` for every
    // lifetime, which ingest (an erasure makes the reports again) needs.
    let gathered: Vec<Child<'_>> = stream::iter(groups.iter().cloned())
        .map(|group| async move {
            let group = &group;
            let records = records_ref;
            let mut messages = Vec::new();
            let mut decisions = Vec::new();
            for &i in group {
                let id = &records[i].child.child_id;
                messages.extend(
                    store
                        .messages_of_child(team, id)
                        .await?
                        .into_iter()
                        .filter(|m| m.campaign_id == campaign.id),
                );
                decisions.extend(store.decisions(team, id, &campaign.id).await?);
            }
            messages.sort_by(|a, b| a.gsi1sk.cmp(&b.gsi1sk));
            let facts = merged(records, group);
            let answered_at = facts
                .responses
                .get(&campaign.programme)
                .and_then(|outcome| {
                    group
                        .iter()
                        .filter_map(|&i| times_ref.get(&records[i].child.child_id)?.get(outcome))
                        .min()
                        .cloned()
                });
            Ok::<_, StoreError>(Child {
                facts,
                child_ids: group
                    .iter()
                    .map(|&i| records[i].child.child_id.as_str())
                    .collect(),
                messages,
                decisions,
                answered_at,
            })
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;

    let in_campaign: HashSet<&str> = record_ids.iter().map(String::as_str).collect();
    let mut report = CampaignReport {
        rows: Vec::new(),
        follow_up: Vec::new(),
        replies: team_replies(store, team, &in_campaign).await?,
        summary: empty_summary(team, campaign, store.clock().rfc3339(), groups.len()),
    };
    for child in &gathered {
        report.add_child(child, campaign, &follow_ups);
    }
    report.summary.consent_progress = progress::build(campaign, &gathered, store.clock().today());
    report.summary.replies = replies::summary(&report.replies);
    report.finish();
    Ok(report)
}

/// The texts parents sent the team, each against every child of the team whose parent has the
/// number, marked when one of them is in `in_campaign`.
async fn team_replies(
    store: &Store,
    team: &TeamCode,
    in_campaign: &HashSet<&str>,
) -> Result<Vec<Reply>, StoreError> {
    let texts = store.received_texts(team).await?;
    let numbers: HashSet<String> = texts
        .iter()
        .filter_map(|t| t.from.clone())
        .filter(|n| n.starts_with('+'))
        .collect();
    let by_phone = store.children_with_phones(team, &numbers).await?;
    Ok(replies::matched(texts, &by_phone, in_campaign))
}

/// Each day's texts from parents as a CSV (`<team>/reports/replies/<date>.csv`), by date; only
/// dates that have texts.
fn replies_csvs(replies: &[Reply]) -> BTreeMap<String, Vec<u8>> {
    let mut by_date: BTreeMap<String, Vec<&Reply>> = BTreeMap::new();
    for reply in replies {
        by_date
            .entry(reply.date().to_owned())
            .or_default()
            .push(reply);
    }
    by_date
        .into_iter()
        .map(|(date, replies)| {
            let csv = csv_of(
                replies::CSV_HEADER,
                replies.into_iter().map(Reply::csv_cells),
            );
            (date, csv)
        })
        .collect()
}

/// The key of a team's replies file for `date`.
fn replies_key(team: &str, date: &str) -> String {
    format!("{team}/reports/replies/{date}.csv")
}

/// Writes report files to `bucket`, each tagged for the lifecycle rule deleting it after at
/// most `records_days` (the team's records are kept that long); returns their keys.
async fn put_reports(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    records_days: u32,
    files: Vec<(String, Vec<u8>, &str)>,
) -> Result<Vec<String>, String> {
    // The x-amz-tagging header is a URL query: `sais:kind` with its colon encoded.
    let tagging = format!("sais%3Akind={}", report_expiry_tag_value(records_days));
    let mut keys = Vec::new();
    for (key, body, content_type) in files {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type(content_type)
            .tagging(&tagging)
            .body(body.into())
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        keys.push(key);
    }
    Ok(keys)
}

/// The CSV content type of every report CSV.
const CSV: &str = "text/csv; charset=utf-8";

/// One child (all their records) and what was sent or decided for them in the campaign.
struct Child<'a> {
    /// The child's records merged: the first record's details, responses from any.
    facts: Facts,
    /// Every id the child has a record under.
    child_ids: Vec<&'a str>,
    /// Their messages, oldest first.
    messages: Vec<MessageRecord>,
    /// The policy's decisions (skips, manual follow-up).
    decisions: Vec<Decision>,
    /// When their current answer for the programme was first recorded, when known.
    answered_at: Option<String>,
}

fn empty_summary(
    team: &TeamCode,
    campaign: &Campaign,
    generated_at: String,
    children: usize,
) -> Summary {
    Summary {
        team: team.to_string(),
        campaign_id: campaign.id.clone(),
        programme: campaign.programme.clone(),
        schools: campaign.schools.clone(),
        year_groups: campaign.year_groups.clone(),
        sessions: campaign.sessions.iter().map(ToString::to_string).collect(),
        consent_deadline: campaign.deadline().map(|d| d.to_string()),
        generated_at,
        children: children as u64,
        children_contacted: 0,
        children_reached: 0,
        children_unreachable: 0,
        follow_up_reasons: BTreeMap::new(),
        not_contacted: BTreeMap::new(),
        messages: BTreeMap::new(),
        letters_sent: 0,
        estimated_cost: CostEstimate {
            sms_fragments: 0,
            letters: 0,
            sms_gbp: 0.0,
            letters_gbp: 0.0,
            total_gbp: 0.0,
            basis: format!(
                "£{SMS_FRAGMENT_GBP} a text fragment, £{LETTER_GBP} a letter, excluding VAT and before Notify's free text allowance; emails are free"
            ),
        },
        consent_progress: ConsentProgress::default(),
        replies: RepliesSummary::default(),
        unreachable_child_ids: Vec::new(),
        codes_in_words: BTreeMap::new(),
    }
}

impl CampaignReport {
    /// Adds a child's rows (a row a message, a row a skip, or one row saying why nothing went),
    /// puts them on the follow-up list if a person must act, and counts them in the summary.
    fn add_child(
        &mut self,
        child: &Child<'_>,
        campaign: &Campaign,
        follow_ups: &HashMap<(String, String), FollowUp>,
    ) {
        let facts = &child.facts;
        let listed = |purpose: &str| {
            child
                .child_ids
                .iter()
                .filter_map(|id| follow_ups.get(&((*id).to_owned(), purpose.to_owned())))
                .max_by(|a, b| a.listed_at.cmp(&b.listed_at))
        };
        let entry = follow_up::entry_for(
            facts,
            Standing::of(facts, &campaign.programme),
            &child.messages,
            &child.decisions,
            &Purpose::ALL.map(|p| listed(p.as_str())),
        );
        let on_list = |purpose: &str| {
            entry.as_ref().is_some_and(|e| {
                e.purposes.iter().any(|p| p == purpose) || e.reason == "all_failed"
            })
        };
        for m in &child.messages {
            self.add_message(facts, m, on_list(m.purpose.as_str()));
        }
        for d in &child.decisions {
            for reason in &d.skipped {
                let mut row = row_for(facts);
                row.purpose = d.purpose.clone();
                row.occasion = d.occasion.clone().unwrap_or_default();
                row.status = "skipped".into();
                row.reason = reason.clone();
                row.manual_follow_up = on_list(&d.purpose);
                self.rows.push(row);
            }
        }
        let summary = &mut self.summary;
        if child.messages.is_empty() {
            // Why nothing went: the policy's reason now, else what the dispatcher skipped.
            let reason: String =
                stop_reason(&facts.policy_input(Purpose::ConsentRequest, campaign, &[]))
                    .map(str::to_owned)
                    .or_else(|| {
                        child
                            .decisions
                            .iter()
                            .flat_map(|d| d.skipped.first())
                            .next()
                            .cloned()
                    })
                    .unwrap_or_else(|| "not_yet_sent".to_owned());
            if child.decisions.is_empty() {
                let mut row = row_for(facts);
                row.status = "not_contacted".into();
                row.reason = reason.clone();
                row.manual_follow_up = entry.is_some();
                self.rows.push(row);
            }
            *summary.not_contacted.entry(reason).or_default() += 1;
        } else {
            summary.children_contacted += 1;
        }
        if child.messages.iter().any(reached) {
            summary.children_reached += 1;
        }
        if let Some(entry) = entry {
            summary.children_unreachable += 1;
            *summary
                .follow_up_reasons
                .entry(entry.reason.clone())
                .or_default() += 1;
            summary
                .unreachable_child_ids
                .push(facts.child.child_id.clone());
            self.follow_up.push(entry);
        }
    }

    /// A message's row, counted by channel and status (and its cost: a text's fragments, a
    /// letter).
    fn add_message(&mut self, facts: &Facts, m: &MessageRecord, manual_follow_up: bool) {
        let mut row = row_for(facts);
        row.purpose = m.purpose.as_str().to_owned();
        row.occasion = m.occasion.clone().unwrap_or_default();
        row.channel = m.channel.as_str().to_owned();
        row.recipient = if m.channel == Channel::Letter {
            "home address".into()
        } else {
            m.recipient.clone()
        };
        row.status = m.status.clone();
        row.reason = m.reason.clone();
        row.manual_follow_up = manual_follow_up;
        row.message_id = m.message_id.clone();
        self.rows.push(row);
        let summary = &mut self.summary;
        *summary
            .messages
            .entry(m.channel.as_str().to_owned())
            .or_default()
            .entry(m.status.clone())
            .or_default() += 1;
        match m.channel.as_str() {
            "letter" if m.notify_id.is_some() => summary.letters_sent += 1,
            "sms" if m.notify_id.is_some() => {
                summary.estimated_cost.sms_fragments += u64::from(m.sms_fragments.unwrap_or(1))
            }
            _ => {}
        }
    }

    /// Prices what was sent, puts the rows and the follow-up list in order (by name, child,
    /// purpose, occasion) and says what every code in the summary means.
    fn finish(&mut self) {
        let cost = &mut self.summary.estimated_cost;
        cost.letters = self.summary.letters_sent;
        cost.sms_gbp = round2(cost.sms_fragments as f64 * SMS_FRAGMENT_GBP);
        cost.letters_gbp = round2(cost.letters as f64 * LETTER_GBP);
        cost.total_gbp = round2(cost.sms_gbp + cost.letters_gbp);
        self.rows.sort_by(|a, b| {
            (
                &a.last_name,
                &a.first_name,
                &a.child_id,
                &a.purpose,
                &a.occasion,
            )
                .cmp(&(
                    &b.last_name,
                    &b.first_name,
                    &b.child_id,
                    &b.purpose,
                    &b.occasion,
                ))
        });
        self.follow_up.sort_by(|a, b| {
            (&a.school_urn, &a.last_name, &a.first_name, &a.child_id).cmp(&(
                &b.school_urn,
                &b.last_name,
                &b.first_name,
                &b.child_id,
            ))
        });
        self.summary.unreachable_child_ids =
            self.follow_up.iter().map(|e| e.child_id.clone()).collect();
        let s = &self.summary;
        let codes: Vec<String> = s
            .follow_up_reasons
            .keys()
            .chain(s.not_contacted.keys())
            .chain(s.messages.values().flat_map(|m| m.keys()))
            .cloned()
            .collect();
        self.summary.codes_in_words = codes
            .into_iter()
            .map(|c| {
                let words = reason_in_words(&c).to_owned();
                (c, words)
            })
            .collect();
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A CSV of `header` and `rows`, every cell guarded against spreadsheet formulas.
fn csv_of<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(header);
    for cells in rows {
        let _ = out.write_record(cells.iter().map(|c| guard_formula(c)));
    }
    out.into_inner().unwrap_or_default()
}

impl CampaignReport {
    /// The CSV: a header and one line per row, each status and reason code beside its
    /// meaning, every cell guarded against spreadsheet formulas.
    pub fn csv(&self) -> Vec<u8> {
        csv_of(
            [
                "CHILD_ID",
                "NHS_NUMBER",
                "FIRST_NAME",
                "LAST_NAME",
                "SCHOOL_URN",
                "PURPOSE",
                "OCCASION",
                "CHANNEL",
                "RECIPIENT",
                "STATUS",
                "STATUS_IN_WORDS",
                "REASON",
                "REASON_IN_WORDS",
                "MANUAL_FOLLOW_UP",
                "MESSAGE_ID",
            ],
            self.rows.iter().map(|r| {
                [
                    r.child_id.clone(),
                    r.nhs_number.clone(),
                    r.first_name.clone(),
                    r.last_name.clone(),
                    r.school_urn.clone(),
                    r.purpose.clone(),
                    r.occasion.clone(),
                    r.channel.clone(),
                    r.recipient.clone(),
                    r.status.clone(),
                    words_or_blank(&r.status),
                    r.reason.clone(),
                    words_or_blank(&r.reason),
                    (if r.manual_follow_up { "Y" } else { "" }).to_owned(),
                    r.message_id.clone(),
                ]
            }),
        )
    }

    /// The follow-up list as a CSV (`<id>.follow-up.csv`): one line per child a person must
    /// follow up, with the reason in words and what was tried. Never an address.
    pub fn follow_up_csv(&self) -> Vec<u8> {
        csv_of(
            follow_up::CSV_HEADER,
            self.follow_up.iter().map(FollowUpEntry::csv_cells),
        )
    }

    /// Each day's texts from parents as a CSV (`<team>/reports/replies/<date>.csv`), by date;
    /// only dates that have texts.
    pub fn replies_csvs(&self) -> BTreeMap<String, Vec<u8>> {
        replies_csvs(&self.replies)
    }

    /// The summary as JSON.
    pub fn summary_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.summary).unwrap_or_default()
    }

    /// A page a person can open offline and print: the follow-up list first, the consent
    /// progress with a chart drawn as inline SVG, the parents' replies, then what was sent. No
    /// scripts, no links out.
    pub fn html(&self) -> String {
        page::render(self)
    }

    /// Writes the campaign's files to `<team>/reports/campaigns/` and each day's replies to
    /// `<team>/reports/replies/<date>.csv` in `bucket`, each tagged for the lifecycle rule
    /// deleting it after at most `records_days` (the team's records are kept that long);
    /// returns their keys.
    pub async fn publish(
        &self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        records_days: u32,
    ) -> Result<Vec<String>, String> {
        let team = &self.summary.team;
        let prefix = format!("{team}/reports/campaigns/{}", self.summary.campaign_id);
        let mut files = vec![
            (format!("{prefix}.csv"), self.csv(), CSV),
            (format!("{prefix}.follow-up.csv"), self.follow_up_csv(), CSV),
            (
                format!("{prefix}.summary.json"),
                self.summary_json(),
                "application/json",
            ),
            (
                format!("{prefix}.html"),
                self.html().into_bytes(),
                "text/html; charset=utf-8",
            ),
        ];
        for (date, body) in self.replies_csvs() {
            files.push((replies_key(team, &date), body, CSV));
        }
        put_reports(s3, bucket, records_days, files).await
    }
}

/// Writes the team's replies files alone (`<team>/reports/replies/<date>.csv`, every day it has
/// texts on record): for a team with no campaign running, whose parents still text.
async fn publish_replies(
    store: &Store,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    team: &TeamCode,
    records_days: u32,
) -> Result<Vec<String>, ReportError> {
    let replies = team_replies(store, team, &HashSet::new()).await?;
    let files = replies_csvs(&replies)
        .into_iter()
        .map(|(date, body)| (replies_key(team.as_str(), &date), body, CSV))
        .collect();
    put_reports(s3, bucket, records_days, files)
        .await
        .map_err(|message| ReportError::S3 {
            operation: "PutObject",
            message,
        })
}

/// A code's words, or nothing for an empty code.
fn words_or_blank(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        reason_in_words(code).to_owned()
    }
}

#[cfg(test)]
mod tests;
