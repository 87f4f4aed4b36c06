//! The campaign report (product.md, flow 6): per child, what was sent, by which channel, its
//! status and why anything was skipped; totals by channel and status; the children nobody
//! could reach, for the team to phone or ask the school about.
//!
//! Written to the team's own folder: `<team>/reports/campaigns/<id>.csv` (one row per child,
//! purpose, recipient and channel), `<id>.summary.json` and `<id>.html` (the summary with a
//! chart, readable offline). A restricted child's address never appears: letters are shown as
//! "home address", and restricted children are never sent letters anyway.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::campaign::Campaign;
use crate::files::report::guard_formula;
use crate::policy::{Channel, Purpose, stop_reason};
use crate::schedule::runner::same_children;
use crate::store::{Decision, Facts, MessageRecord, Store, StoreError};
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
    /// The family is on the manual follow-up list for this purpose.
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

/// The totals of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The team.
    pub team: String,
    /// The campaign.
    pub campaign_id: String,
    /// When the report was made.
    pub generated_at: String,
    /// Children in the campaign's schools and year groups (each child once).
    pub children: u64,
    /// Children sent at least one message.
    pub children_contacted: u64,
    /// Children with a message delivered (email, text) or a letter accepted for printing.
    pub children_reached: u64,
    /// Children nobody could reach: on the manual follow-up list, or every message failed.
    pub children_unreachable: u64,
    /// Children not contacted, by reason (`answered`, `deceased`, `not_yet_due`, …).
    pub not_contacted: BTreeMap<String, u64>,
    /// Messages by channel, then by status.
    pub messages: BTreeMap<String, BTreeMap<String, u64>>,
    /// Letters sent.
    pub letters_sent: u64,
    /// Estimated Notify cost.
    pub estimated_cost: CostEstimate,
    /// The unreachable children's ids (names and NHS numbers are in the CSV).
    pub unreachable_child_ids: Vec<String>,
}

/// A campaign's report.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignReport {
    /// One row per child, purpose, recipient and channel.
    pub rows: Vec<ReportRow>,
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

/// Builds the report of `campaign` from the table: reads each child's records, messages and
/// the policy's decisions, then works out the rows and the summary from them.
pub async fn build(
    store: &Store,
    team: &TeamCode,
    campaign: &Campaign,
) -> Result<CampaignReport, StoreError> {
    let records = store.campaign_children(team, campaign).await?;
    let children = same_children(&records);
    let follow_ups: HashMap<(String, String), String> = store
        .follow_ups(team)
        .await?
        .into_iter()
        .filter(|f| f.campaign_id == campaign.id)
        .map(|f| ((f.child_id, f.purpose), f.reason))
        .collect();

    // Every record of the child: a message may have gone to either id.
    let records_ref = &records;
    let gathered: Vec<Child<'_>> = stream::iter(children.iter())
        .map(|group| async move {
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
            Ok::<_, StoreError>(Child {
                facts: &records[group[0]],
                child_ids: group
                    .iter()
                    .map(|&i| records[i].child.child_id.as_str())
                    .collect(),
                messages,
                decisions,
            })
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;

    let mut report = CampaignReport {
        rows: Vec::new(),
        summary: empty_summary(team, campaign, store.clock().rfc3339(), children.len()),
    };
    for child in &gathered {
        report.add_child(child, campaign, &follow_ups);
    }
    report.finish();
    Ok(report)
}

/// One child (all their records) and what was sent or decided for them in the campaign.
struct Child<'a> {
    /// The first of the child's records: the details the rows show.
    facts: &'a Facts,
    /// Every id the child has a record under.
    child_ids: Vec<&'a str>,
    /// Their messages, oldest first.
    messages: Vec<MessageRecord>,
    /// The policy's decisions (skips, manual follow-up).
    decisions: Vec<Decision>,
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
        generated_at,
        children: children as u64,
        children_contacted: 0,
        children_reached: 0,
        children_unreachable: 0,
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
        unreachable_child_ids: Vec::new(),
    }
}

impl CampaignReport {
    /// Adds a child's rows (a row a message, a row a skip, or one row saying why nothing went)
    /// and counts them in the summary.
    fn add_child(
        &mut self,
        child: &Child<'_>,
        campaign: &Campaign,
        follow_ups: &HashMap<(String, String), String>,
    ) {
        let facts = child.facts;
        let follow_up = |purpose: &str| {
            child
                .child_ids
                .iter()
                .any(|id| follow_ups.contains_key(&((*id).to_owned(), purpose.to_owned())))
        };
        for m in &child.messages {
            self.add_message(facts, m, follow_up(m.purpose.as_str()));
        }
        for d in &child.decisions {
            for reason in &d.skipped {
                let mut row = row_for(facts);
                row.purpose = d.purpose.clone();
                row.occasion = d.occasion.clone().unwrap_or_default();
                row.status = "skipped".into();
                row.reason = reason.clone();
                row.manual_follow_up = d.manual_follow_up || follow_up(&d.purpose);
                self.rows.push(row);
            }
        }
        let on_follow_up = ["consent_request", "consent_reminder", "session_reminder"]
            .iter()
            .any(|p| follow_up(p))
            || child.decisions.iter().any(|d| d.manual_follow_up);
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
                row.manual_follow_up = on_follow_up;
                self.rows.push(row);
            }
            *summary.not_contacted.entry(reason).or_default() += 1;
        } else {
            summary.children_contacted += 1;
        }
        let any_reached = child.messages.iter().any(reached);
        if any_reached {
            summary.children_reached += 1;
        }
        let all_failed = !child.messages.is_empty()
            && child
                .messages
                .iter()
                .all(|m| FAILED.contains(&m.status.as_str()));
        if on_follow_up || (!any_reached && all_failed) {
            summary.children_unreachable += 1;
            summary
                .unreachable_child_ids
                .push(facts.child.child_id.clone());
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

    /// Prices what was sent and puts the rows in order (by name, child, purpose, occasion).
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
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl CampaignReport {
    /// The CSV: a header and one line per row, every cell guarded against spreadsheet formulas.
    pub fn csv(&self) -> Vec<u8> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let _ = out.write_record([
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
            "REASON",
            "MANUAL_FOLLOW_UP",
            "MESSAGE_ID",
        ]);
        for r in &self.rows {
            let cells = [
                &r.child_id,
                &r.nhs_number,
                &r.first_name,
                &r.last_name,
                &r.school_urn,
                &r.purpose,
                &r.occasion,
                &r.channel,
                &r.recipient,
                &r.status,
                &r.reason,
                &(if r.manual_follow_up { "Y" } else { "" }).to_owned(),
                &r.message_id,
            ];
            let _ = out.write_record(cells.iter().map(|c| guard_formula(c)));
        }
        out.into_inner().unwrap_or_default()
    }

    /// The summary as JSON.
    pub fn summary_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.summary).unwrap_or_default()
    }

    /// A page a person can open offline: the totals and a bar chart of messages by channel and
    /// status, drawn as inline SVG (no scripts, no links out).
    pub fn html(&self) -> String {
        let s = &self.summary;
        let mut bars = String::new();
        let max = s
            .messages
            .values()
            .flat_map(|m| m.values())
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let mut y = 0;
        for (channel, statuses) in &s.messages {
            for (status, count) in statuses {
                let width = (*count as f64 / max as f64 * 400.0).round();
                let colour = if FAILED.contains(&status.as_str()) {
                    "#d4351c"
                } else if matches!(status.as_str(), "delivered" | "received" | "accepted") {
                    "#00703c"
                } else {
                    "#505a5f"
                };
                let _ = write!(
                    bars,
                    r#"<text x="0" y="{}" font-size="14">{} {}</text><rect x="220" y="{}" width="{width}" height="18" fill="{colour}"/><text x="{}" y="{}" font-size="14">{count}</text>"#,
                    y + 14,
                    escape(channel),
                    escape(status),
                    y,
                    230.0 + width,
                    y + 14
                );
                y += 26;
            }
        }
        let mut not_contacted = String::new();
        for (reason, count) in &s.not_contacted {
            let _ = write!(
                not_contacted,
                "<tr><td>{}</td><td>{count}</td></tr>",
                escape(reason)
            );
        }
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign {id}</title>
<style>body{{font-family:Arial,sans-serif;margin:2em;color:#0b0c0c}}table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #b1b4b6;padding:4px 12px;text-align:left}}</style></head>
<body>
<h1>Campaign {id}</h1>
<p>Team {team}. Report made {at}.</p>
<table>
<tr><th>Children in the campaign</th><td>{children}</td></tr>
<tr><th>Contacted</th><td>{contacted}</td></tr>
<tr><th>Reached (delivered, or a letter in the post)</th><td>{reached}</td></tr>
<tr><th>Nobody could reach (follow up by phone or through the school)</th><td>{unreachable}</td></tr>
<tr><th>Letters sent</th><td>{letters}</td></tr>
<tr><th>Estimated Notify cost</th><td>£{cost:.2} ({basis})</td></tr>
</table>
<h2>Messages by channel and status</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{height}" role="img" aria-label="Messages by channel and status">{bars}</svg>
<h2>Children not contacted</h2>
<table><tr><th>Reason</th><th>Children</th></tr>{not_contacted}</table>
<p>The list of children, with every message and reason, is in {id}.csv beside this page.</p>
</body></html>
"#,
            id = escape(&s.campaign_id),
            team = escape(&s.team),
            at = escape(&s.generated_at),
            children = s.children,
            contacted = s.children_contacted,
            reached = s.children_reached,
            unreachable = s.children_unreachable,
            letters = s.letters_sent,
            cost = s.estimated_cost.total_gbp,
            basis = escape(&s.estimated_cost.basis),
            height = y.max(26),
        )
    }

    /// Writes the three files to `<team>/reports/campaigns/` in `bucket`; returns their keys.
    pub async fn publish(
        &self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<Vec<String>, String> {
        let prefix = format!(
            "{}/reports/campaigns/{}",
            self.summary.team, self.summary.campaign_id
        );
        let files = [
            (
                format!("{prefix}.csv"),
                self.csv(),
                "text/csv; charset=utf-8",
            ),
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
        let mut keys = Vec::new();
        for (key, body, content_type) in files {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(content_type)
                .body(body.into())
                .send()
                .await
                .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
            keys.push(key);
        }
        Ok(keys)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
