//! What the dispatcher reads and writes in the table: the facts about a child at send time,
//! campaigns, message records (the audit trail a subject access request returns), contact
//! detail statuses, decisions and the daily-limit hold.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::SendJob;
use crate::campaign::Campaign;
use crate::domain::{Postcode, sanitise_letter_address};
use crate::files::now_rfc3339;
use crate::notify::Personalisation;
use crate::policy::{
    CampaignFacts, Channel, ChildFacts, DetailStatus, Objection, ObjectionScope, ParentFacts, Plan,
    PlannedSend, PolicyInput, Preference,
};
use crate::store::{ChildItem, TTL_ATTRIBUTE, keys};
use crate::uploads::TeamCode;

/// Message records and decisions are kept this long unless the team says otherwise.
pub const MESSAGE_RECORDS_DAYS: i64 = 400;

/// How long an attempt owns a message's intent: more than the dispatcher's 60-second timeout,
/// so a live attempt is never taken over; a dead one is, once this has passed.
pub const LEASE_SECONDS: i64 = 120;

/// A contact detail's status after a parent texted STOP.
pub const OPTED_OUT: &str = "opted_out";

const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x2f6b_8e1a_5c3d_4e9f_a0b1_c2d3_e4f5_0617);

/// The table could not be read or written.
mod campaigns;
mod erasure;
mod later;
use campaigns::senders_from_item;
pub use campaigns::{CampaignRef, Decision, RunRecord, run_record_expiry};
pub use erasure::{Erasure, ErasureKey, ErasureReason};
pub use later::{DueJob, FollowUp, OpenLetter};

///
/// `Display` says what failed (DynamoDB's error code and message, or which stored item could not
/// be read), never a stored value; the SDK's error, when there is one, is the `source`.
#[derive(Debug, thiserror::Error)]
#[error("table: {context}")]
pub struct StoreError {
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error with this description (never personal data).
    pub fn new(e: impl std::fmt::Display) -> Self {
        Self {
            context: e.to_string(),
            source: None,
        }
    }

    /// A DynamoDB request that failed, carrying the SDK's error as its source.
    pub fn sdk<E: std::error::Error + Send + Sync + 'static>(
        e: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Self {
        Self {
            context: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            source: Some(Box::new(e)),
        }
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::new(e)
}

fn sdk_err<E: std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_dynamodb::error::SdkError<E>,
) -> StoreError {
    StoreError::sdk(e)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn now_epoch() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The key of a contact detail's status item: `email:<address>` or `phone:<E.164>`.
pub fn detail_key(channel: Channel, recipient: &str) -> String {
    match channel {
        Channel::Email => format!("email:{recipient}"),
        _ => format!("phone:{recipient}"),
    }
}

/// The deterministic id of one message: (campaign, child, recipient, purpose, channel).
pub fn message_id(job: &SendJob, send: &PlannedSend) -> String {
    let mut name = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        job.team,
        job.campaign_id,
        job.child_id,
        send.recipient,
        job.purpose.as_str(),
        send.channel.as_str()
    );
    if let Some(occasion) = &job.occasion {
        // A second reminder is a new message; a consent request keeps the id it always had.
        name.push_str(&format!("\non {occasion}"));
    }
    if job.attempt > 0 {
        // A retry is a new message; first attempts keep the ids they always had.
        name.push_str(&format!("\nretry {}", job.attempt));
    }
    Uuid::new_v5(&MESSAGE_NAMESPACE, name.as_bytes()).to_string()
}

/// One status a message passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Notify's status (or ours: `intent`, `validation-failed`).
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The record of one message: written before Notify is called, completed after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// `T#<team>#M#<message id>`.
    pub pk: String,
    /// `MSG`.
    pub sk: String,
    /// The child's partition: messages by child.
    pub gsi1pk: String,
    /// `MSG#<created at>#<message id>`.
    pub gsi1sk: String,
    /// `message`.
    pub item_type: String,
    /// The team.
    pub team: String,
    /// The deterministic message id (also Notify's `reference`).
    pub message_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The child.
    pub child_id: String,
    /// Why it was sent.
    pub purpose: String,
    /// `email`, `sms` or `letter`.
    pub channel: String,
    /// The email address, phone number, or `letter`.
    pub recipient: String,
    /// Which parents it reaches.
    pub parent_slots: Vec<u8>,
    /// The Notify template.
    pub template_id: String,
    /// The template's version, once Notify has said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version: Option<u32>,
    /// What was filled into the template.
    pub personalisation: BTreeMap<String, String>,
    /// The policy's reason for this channel.
    pub reason: String,
    /// The recorded grounds, when this message overrode an objection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounds: Option<String>,
    /// `intent`, `sent` or `failed`.
    pub state: String,
    /// Notify's id, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_id: Option<String>,
    /// The latest status.
    pub status: String,
    /// Every status, in order.
    pub status_history: Vec<StatusChange>,
    /// The job kind that sent it (`campaign`, `fallback`, `retry`).
    pub job_kind: String,
    /// 0 for a first attempt, n for the n-th retry.
    #[serde(default)]
    pub attempt: u32,
    /// The job's occasion (a reminder's date, a session's date), carried to fallbacks and retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
    /// For a text: the fragments Notify bills for it, counted from the body it sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_fragments: Option<u32>,
    /// Until when (epoch seconds) the attempt that wrote or took over the intent owns it: no
    /// other attempt may reconcile or send before then. Longer than a dispatcher can live.
    #[serde(default)]
    pub lease_until: i64,
    /// When the intent was recorded.
    pub created_at: String,
    /// TTL.
    pub expires_at: i64,
}

impl MessageRecord {
    /// The intent to send `send` for `job`.
    pub fn intent(
        team: &TeamCode,
        job: &SendJob,
        send: &PlannedSend,
        template_id: Uuid,
        personalisation: &Personalisation,
    ) -> Self {
        let id = message_id(job, send);
        let now = now_rfc3339();
        Self {
            pk: message_pk(team, &id),
            sk: "MSG".into(),
            gsi1pk: keys::child_pk(team, &job.child_id),
            gsi1sk: format!("MSG#{now}#{id}"),
            item_type: "message".into(),
            team: team.to_string(),
            campaign_id: job.campaign_id.clone(),
            child_id: job.child_id.clone(),
            purpose: job.purpose.as_str().into(),
            channel: send.channel.as_str().into(),
            recipient: send.recipient.clone(),
            parent_slots: send.parent_slots.clone(),
            template_id: template_id.to_string(),
            template_version: None,
            personalisation: personalisation.clone(),
            reason: send.reason.into(),
            grounds: send.grounds.clone(),
            state: "intent".into(),
            notify_id: None,
            status: "intent".into(),
            status_history: vec![StatusChange {
                status: "intent".into(),
                at: now.clone(),
            }],
            job_kind: job.kind.clone(),
            attempt: job.attempt,
            occasion: job.occasion.clone(),
            sms_fragments: None,
            lease_until: now_epoch() + LEASE_SECONDS,
            created_at: now,
            expires_at: now_epoch() + MESSAGE_RECORDS_DAYS * 86_400,
            message_id: id,
        }
    }
}

/// A message item's partition key.
pub fn message_pk(team: &TeamCode, message_id: &str) -> String {
    format!("T#{team}#M#{message_id}")
}

/// Everything known about a child at send time.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The child item.
    pub child: ChildItem,
    /// Contact-detail statuses by `email:…`/`phone:…`.
    pub statuses: HashMap<String, DetailStatus>,
    /// Objections in force.
    pub objections: Vec<Objection>,
    /// Outcomes recorded for programmes (`consent_given`, `vaccinated`, …), by programme.
    pub responses: HashMap<String, String>,
    /// Not in the latest upload of the child's source.
    pub left_cohort: bool,
}

fn preference(p: Option<&str>) -> Preference {
    match p {
        Some("email") => Preference::Email,
        Some("text") => Preference::Text,
        Some("letter") => Preference::Letter,
        _ => Preference::Any,
    }
}

fn format_date(d: time::Date) -> String {
    format!("{} {} {}", d.day(), d.month(), d.year())
}

impl Facts {
    fn status(&self, key: &str) -> DetailStatus {
        self.statuses
            .get(key)
            .copied()
            .unwrap_or(DetailStatus::Usable)
    }

    /// The policy's input for a purpose.
    pub fn policy_input(
        &self,
        purpose: crate::policy::Purpose,
        campaign: &Campaign,
        failed_channels: &[Channel],
    ) -> PolicyInput {
        let outcome = self.responses.get(&campaign.programme).map(String::as_str);
        let parents = self
            .child
            .parents
            .iter()
            .map(|p| ParentFacts {
                slot: p.slot,
                email: p
                    .email
                    .as_ref()
                    .map(|e| (e.clone(), self.status(&format!("email:{e}")))),
                phone: p.phone.as_ref().map(|n| {
                    (
                        n.clone(),
                        p.phone_is_mobile,
                        self.status(&format!("phone:{n}")),
                    )
                }),
                preference: preference(p.preference.as_deref()),
            })
            .collect();
        PolicyInput {
            purpose,
            child: ChildFacts {
                deceased: self.child.deceased,
                restricted: self.child.restricted,
                left_cohort: self.left_cohort,
                answered: matches!(outcome, Some("consent_given" | "consent_refused")),
                consent_given: outcome == Some("consent_given"),
                vaccinated_or_ineligible: matches!(
                    outcome,
                    Some("vaccinated" | "already_vaccinated" | "not_eligible")
                ),
                letter_address: self.letter_address().is_some(),
            },
            parents,
            objections: self.objections.clone(),
            campaign: CampaignFacts {
                letters: campaign.letters,
                override_grounds: campaign.grounds(),
                templates: campaign.templates.for_purpose(purpose).channels(),
            },
            failed_channels: failed_channels.to_vec(),
        }
    }

    /// The letter's address lines under Notify's rules, addressed to "The parent or carer of
    /// <name>"; `None` when the child's address cannot take a letter.
    pub fn letter_address(&self) -> Option<Vec<String>> {
        let postcode = Postcode::parse(self.child.postcode.as_deref()?).ok()?.value;
        let name = format!(
            "The parent or carer of {} {}",
            self.child
                .preferred_first_name
                .as_deref()
                .unwrap_or(&self.child.first_name),
            self.child.last_name
        );
        let mut lines: Vec<&str> = vec![&name];
        lines.extend(self.child.address_lines.iter().map(String::as_str));
        lines.push(postcode.as_str());
        sanitise_letter_address(&lines, &postcode).ok()
    }

    /// The template values: minimal, never health details (product.md, content rules).
    pub fn personalisation(&self, campaign: &Campaign) -> Personalisation {
        let mut p: Personalisation = campaign.personalisation.clone().into_iter().collect();
        p.insert(
            "child_first_name".into(),
            self.child
                .preferred_first_name
                .clone()
                .unwrap_or_else(|| self.child.first_name.clone()),
        );
        if let Some(first) = campaign.first_session() {
            p.insert("session_date".into(), format_date(first));
        }
        if let Some(deadline) = campaign.deadline() {
            p.insert("consent_deadline".into(), format_date(deadline));
        }
        p
    }
}

/// The table, as the dispatcher and webhook use it.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    lease_seconds: i64,
    /// Seconds added to the real clock when judging leases: a local run that simulates days
    /// passing moves it on (shared by every clone of the store).
    clock_offset: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// The key erased details are remembered by (see [`ErasureKey`]).
    erasure_key: Option<ErasureKey>,
}

impl Store {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            lease_seconds: LEASE_SECONDS,
            clock_offset: Default::default(),
            erasure_key: None,
        }
    }

    /// Moves the clock that leases are judged by `seconds` on, for this store and its clones
    /// (a local run simulating a night passing; production never calls it).
    pub fn advance_lease_clock(&self, seconds: i64) {
        self.clock_offset
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }

    /// Now, on the clock leases are judged by.
    fn lease_now(&self) -> i64 {
        now_epoch() + self.clock_offset.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Changes how long an attempt owns an intent (tests that simulate a dead attempt use 0).
    pub fn with_lease_seconds(mut self, seconds: i64) -> Self {
        self.lease_seconds = seconds;
        self
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        // DynamoDB deletes expired items late: treat them as gone.
        Ok(out.item.filter(|item| !expired(item)))
    }

    /// Saves a campaign (campaign files are ingested in step 5; tests and the demo use this).
    pub async fn put_campaign(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("T#{team}#CAMPAIGN")))
            .item("sk", s(&campaign.id))
            .item("item_type", s("campaign"))
            .item("body", s(serde_json::to_string(campaign).map_err(err)?))
            .send()
            .await
            .map_err(sdk_err)?;
        self.index_campaign(team, campaign).await
    }

    /// A campaign by id.
    pub async fn campaign(
        &self,
        team: &TeamCode,
        id: &str,
    ) -> Result<Option<Campaign>, StoreError> {
        match self.get(format!("T#{team}#CAMPAIGN"), id).await? {
            Some(item) => campaign_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Reads items by key in as few `BatchGetItem` calls as possible (strongly consistent,
    /// unprocessed keys retried), dropping expired items.
    async fn batch_get(
        &self,
        wanted: &[(String, String)],
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::new();
        for chunk in wanted.chunks(100) {
            let mut keys_and_attrs = KeysAndAttributes::builder().consistent_read(true);
            for (pk, sk) in chunk {
                keys_and_attrs = keys_and_attrs.keys(HashMap::from([
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(sk)),
                ]));
            }
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                keys_and_attrs.build().map_err(err)?,
            )]));
            let mut attempt = 0u32;
            while let Some(items) = request.take().filter(|m| !m.is_empty()) {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(sdk_err)?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if expired(&item) {
                        continue;
                    }
                    if let (Some(pk), Some(sk)) = (str_attr(&item, "pk"), str_attr(&item, "sk")) {
                        found.insert((pk, sk), item);
                    }
                }
                request = out.unprocessed_keys;
            }
        }
        Ok(found)
    }

    /// Everything a send job needs, read now in two round trips: the daily-limit hold, the
    /// campaign, the child and their state (responses, objections); then whether the child is
    /// still in their source's latest upload and the status of every contact detail.
    pub async fn load(&self, team: &TeamCode, job: &SendJob) -> Result<Loaded, StoreError> {
        let mut loaded = self.load_many(&[(team.clone(), job)]).await?;
        Ok(loaded.pop().expect("one job in, one loaded out"))
    }

    /// [`Store::load`] for every job of a batch at once: still two round trips in all (keys
    /// that several jobs share, such as the campaign, are read once), so a batch of ten jobs
    /// costs two `BatchGetItem` calls instead of twenty. The result is in the jobs' order.
    pub async fn load_many(
        &self,
        jobs: &[(TeamCode, &SendJob)],
    ) -> Result<Vec<Loaded>, StoreError> {
        let first_keys = |team: &TeamCode, job: &SendJob| {
            let child_pk = keys::child_pk(team, &job.child_id);
            [
                (format!("T#{team}#HOLD"), "NOTIFY".to_owned()),
                (format!("T#{team}#SETTINGS"), "TEAM".to_owned()),
                (format!("T#{team}#CAMPAIGN"), job.campaign_id.clone()),
                (child_pk.clone(), keys::CHILD_SK.to_owned()),
                (child_pk, STATE_SK.to_owned()),
            ]
        };
        let mut wanted: Vec<(String, String)> = jobs
            .iter()
            .flat_map(|(team, job)| first_keys(team, job))
            .collect();
        wanted.sort();
        wanted.dedup();
        let first = self.batch_get(&wanted).await?;

        // What each job found in the first round, and the keys of its second.
        struct Partial {
            hold: Option<Duration>,
            senders: TeamSendSettings,
            campaign: Option<Campaign>,
            child: Option<(ChildItem, HashMap<String, String>, Vec<Objection>)>,
            latest_key: Option<(String, String)>,
            /// Each detail's status key, then (after every plain one) its erasure marker's.
            status_keys: Vec<((String, String), String)>,
        }
        let mut partials = Vec::with_capacity(jobs.len());
        for (team, job) in jobs {
            let [hold_key, settings_key, campaign_key, child_key, state_key] =
                first_keys(team, job);
            let hold = first.get(&hold_key).and_then(|item| {
                let until = item
                    .get("until")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0);
                let now = now_epoch();
                (until > now).then(|| Duration::from_secs((until - now) as u64))
            });
            let senders = match first.get(&settings_key) {
                Some(item) => senders_from_item(item)?,
                None => TeamSendSettings::default(),
            };
            let campaign = match first.get(&campaign_key) {
                Some(item) => Some(campaign_from_item(item)?),
                None => None,
            };
            let mut partial = Partial {
                hold,
                senders,
                campaign,
                child: None,
                latest_key: None,
                status_keys: Vec::new(),
            };
            if let Some(child_item) = first.get(&child_key) {
                let child: ChildItem = serde_dynamo::from_item(child_item.clone()).map_err(err)?;
                let (responses, objections) =
                    first.get(&state_key).map(read_state).unwrap_or_default();
                partial.latest_key = Some((keys::latest_pk(team), child.source.clone()));
                let details: Vec<String> = child
                    .parents
                    .iter()
                    .flat_map(|p| {
                        let email = p.email.as_ref().map(|e| format!("email:{e}"));
                        let phone = p.phone.as_ref().map(|n| format!("phone:{n}"));
                        email.into_iter().chain(phone)
                    })
                    .collect();
                for detail in &details {
                    partial.status_keys.push((
                        (keys::contact_pk(team, detail), "STATUS".into()),
                        detail.clone(),
                    ));
                }
                // An erased detail is known only by its marker (a keyed hash): checked last,
                // so it wins over any other status.
                for detail in &details {
                    if let Some(pk) = self.erased_status_key(team, detail) {
                        partial
                            .status_keys
                            .push(((pk, "STATUS".into()), detail.clone()));
                    }
                }
                partial.child = Some((child, responses, objections));
            }
            partials.push(partial);
        }

        let mut second_keys: Vec<(String, String)> = partials
            .iter()
            .flat_map(|p| {
                p.latest_key
                    .iter()
                    .chain(p.status_keys.iter().map(|(k, _)| k))
                    .cloned()
            })
            .collect();
        second_keys.sort();
        second_keys.dedup();
        let second = if second_keys.is_empty() {
            HashMap::new()
        } else {
            self.batch_get(&second_keys).await?
        };

        Ok(partials
            .into_iter()
            .map(|p| {
                let facts = p.child.map(|(child, responses, objections)| {
                    let left_cohort = p
                        .latest_key
                        .as_ref()
                        .and_then(|k| second.get(k))
                        .and_then(|l| str_attr(l, "upload_id"))
                        .is_some_and(|id| id != child.upload_id);
                    let statuses = p
                        .status_keys
                        .iter()
                        .filter_map(|(k, detail)| Some((second.get(k)?, detail.clone())))
                        .filter_map(|(item, detail)| {
                            let status = match str_attr(item, "status")?.as_str() {
                                "failed" => DetailStatus::Failed,
                                OPTED_OUT => DetailStatus::OptedOut,
                                "erased" => DetailStatus::Erased,
                                _ => DetailStatus::Usable,
                            };
                            Some((detail, status))
                        })
                        .collect();
                    Facts {
                        child,
                        statuses,
                        objections,
                        responses,
                        left_cohort,
                    }
                });
                Loaded {
                    hold: p.hold,
                    campaign: p.campaign,
                    facts,
                    senders: p.senders,
                }
            })
            .collect())
    }

    /// Records a response for a programme on the child's state item (`consent_given`,
    /// `consent_refused`, `vaccinated`, `already_vaccinated`, `not_eligible`). A consent answer
    /// never overwrites a final outcome (vaccinated, already vaccinated, not eligible): a late
    /// consent form must not start the reminders again. Returns whether it was recorded.
    pub async fn record_response(
        &self,
        team: &TeamCode,
        child_id: &str,
        programme: &str,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::child_pk(team, child_id)))
            .key("sk", s(STATE_SK))
            .update_expression("SET #r = :o, item_type = :t")
            .expression_attribute_names("#r", format!("{RESPONSE_PREFIX}{programme}"))
            .expression_attribute_values(":o", s(outcome))
            .expression_attribute_values(":t", s("child_state"));
        if matches!(outcome, "consent_given" | "consent_refused") {
            update = update
                .condition_expression("attribute_not_exists(#r) OR NOT (#r IN (:v, :a, :n))")
                .expression_attribute_values(":v", s("vaccinated"))
                .expression_attribute_values(":a", s("already_vaccinated"))
                .expression_attribute_values(":n", s("not_eligible"));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Which of these children exist (and have not expired).
    pub async fn existing_children(
        &self,
        team: &TeamCode,
        child_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let wanted: Vec<(String, String)> = child_ids
            .iter()
            .map(|id| (keys::child_pk(team, id), keys::CHILD_SK.to_owned()))
            .collect();
        Ok(self
            .batch_get(&wanted)
            .await?
            .into_values()
            .filter_map(|item| str_attr(&item, "child_id"))
            .collect())
    }

    /// Every child of the team whose names, date of birth and postcode are one of `wanted`
    /// (`first\nlast\ndate\npostcode`, names lower-case): one pass over the team's children,
    /// for response and objection rows that have no NHS number.
    pub async fn children_by_details(
        &self,
        team: &TeamCode,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        for shard in 0..crate::store::TEAM_SHARDS {
            for item in self
                .index_items("gsi2", &keys::team_children(team, shard), None)
                .await?
            {
                let field = |name| str_attr(&item, name).unwrap_or_default();
                let details = format!(
                    "{}\n{}\n{}\n{}",
                    field("first_name").to_lowercase(),
                    field("last_name").to_lowercase(),
                    field("date_of_birth"),
                    field("postcode")
                );
                if wanted.contains(&details) {
                    found.entry(details).or_default().push(field("child_id"));
                }
            }
        }
        Ok(found)
    }

    /// Records (or withdraws) an objection on the child's state item; `parent_detail` is the
    /// objecting parent's email or E.164 phone, `None` for every parent.
    pub async fn record_objection(
        &self,
        team: &TeamCode,
        child_id: &str,
        objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
    ) -> Result<(), StoreError> {
        self.record_objection_with(
            team,
            child_id,
            objection_id,
            scope,
            parent_detail,
            withdrawn,
            HashMap::new(),
        )
        .await
    }

    /// [`Store::record_objection`] with the audit details an objections file gives (reason,
    /// recorded by, serious harm, date), kept on the objection for subject access.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_objection_with(
        &self,
        team: &TeamCode,
        child_id: &str,
        objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
        details: HashMap<String, AttributeValue>,
    ) -> Result<(), StoreError> {
        let mut value = details;
        value.insert("scope".to_owned(), s(scope));
        value.insert("withdrawn".to_owned(), AttributeValue::Bool(withdrawn));
        if let Some(d) = parent_detail {
            value.insert("parent_detail".to_owned(), s(d));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::child_pk(team, child_id)))
            .key("sk", s(STATE_SK))
            .update_expression("SET #o = :v, item_type = :t")
            .expression_attribute_names("#o", format!("{OBJECTION_PREFIX}{objection_id}"))
            .expression_attribute_values(":v", AttributeValue::M(value))
            .expression_attribute_values(":t", s("child_state"))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Marks a contact detail (`email:…`/`phone:…`) failed or opted out for the team; an
    /// opt-out is never replaced by a failure.
    pub async fn set_detail_status(
        &self,
        team: &TeamCode,
        detail: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::contact_pk(team, detail)))
            .item("sk", s("STATUS"))
            .item("item_type", s("contact_status"))
            .item("detail", s(detail))
            .item("status", s(status))
            .item("updated_at", s(now_rfc3339()));
        if status != OPTED_OUT {
            // A parent's opt-out is their word, kept for staff and subject access requests: a
            // later delivery failure of the same number does not replace it.
            put = put
                .condition_expression("attribute_not_exists(pk) OR #status <> :opted_out")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":opted_out", s(OPTED_OUT));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Records the intent to send; false when a record with that id already exists.
    pub async fn put_intent(&self, record: &MessageRecord) -> Result<bool, StoreError> {
        let mut record = record.clone();
        record.lease_until = self.lease_now() + self.lease_seconds;
        let item = serde_dynamo::to_item(&record).map_err(err)?;
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Takes over an intent whose lease has run out (its attempt died); false when the lease
    /// is still held or another attempt took it over first.
    pub async fn take_over(
        &self,
        team: &TeamCode,
        message_id: &str,
        expired_lease: i64,
    ) -> Result<bool, StoreError> {
        if expired_lease > self.lease_now() {
            return Ok(false);
        }
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(team, message_id)))
            .key("sk", s("MSG"))
            .update_expression("SET lease_until = :new")
            .condition_expression("#state = :intent AND lease_until = :old")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":intent", s("intent"))
            .expression_attribute_values(":old", AttributeValue::N(expired_lease.to_string()))
            .expression_attribute_values(
                ":new",
                AttributeValue::N((self.lease_now() + self.lease_seconds).to_string()),
            )
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// A message record by id.
    pub async fn message(
        &self,
        team: &TeamCode,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        match self.get(message_pk(team, message_id), "MSG").await? {
            Some(item) => serde_dynamo::from_item(item).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    /// Completes a record after Notify accepted the message. A receipt that raced ahead of
    /// this update keeps its (later) status.
    pub async fn mark_sent(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
        template_version: u32,
        status: &str,
        sms_fragments: Option<u32>,
    ) -> Result<(), StoreError> {
        let change = status_change(status)?;
        let update = |with_status: bool| {
            let mut u = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(message_pk(team, message_id)))
                .key("sk", s("MSG"))
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":nid", s(notify_id.to_string()))
                .expression_attribute_values(":v", AttributeValue::N(template_version.to_string()))
                .expression_attribute_values(":g2", s(format!("T#{team}#N#{notify_id}")))
                .expression_attribute_values(":msg", s("MSG"));
            let mut base = "SET #state = :sent, notify_id = :nid, template_version = :v, gsi2pk = :g2, gsi2sk = :msg".to_owned();
            if let Some(n) = sms_fragments {
                // What the text cost (Notify bills per fragment); the body itself is not kept.
                base.push_str(", sms_fragments = :frags");
                u = u.expression_attribute_values(":frags", AttributeValue::N(n.to_string()));
            }
            if with_status {
                u = u
                    .update_expression(format!(
                        "{base}, #status = :st, status_history = list_append(status_history, :change)"
                    ))
                    .condition_expression("#status = :intent")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":st", s(status))
                    .expression_attribute_values(":intent", s("intent"))
                    .expression_attribute_values(":change", change.clone());
            } else {
                u = u
                    .update_expression(base.clone())
                    .condition_expression("attribute_exists(pk)");
            }
            u
        };
        match update(true).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                update(false).send().await.map_err(sdk_err)?;
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Moves a message's status from `expected` to `new`, appending to its history; false when
    /// the status was no longer `expected` (another callback got there first).
    ///
    /// `completes` is Notify's id when the record is still an intent: a receipt proves Notify
    /// created the message, so the record is completed as the dispatcher's own update would
    /// have (its attempt may have died before it could, and the retried job may no longer plan
    /// that message: the family answered, or the detail just failed).
    pub async fn apply_status(
        &self,
        team: &TeamCode,
        message_id: &str,
        expected: &str,
        new: &str,
        completes: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let mut update =
            "SET #status = :new, status_history = list_append(status_history, :change)".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(team, message_id)))
            .key("sk", s("MSG"))
            .condition_expression("#status = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":expected", s(expected))
            .expression_attribute_values(":change", status_change(new)?);
        if let Some(notify_id) = completes {
            update.push_str(", #state = :sent, notify_id = :nid, gsi2pk = :g2, gsi2sk = :msg");
            request = request
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":nid", s(notify_id.to_string()))
                .expression_attribute_values(":g2", s(format!("T#{team}#N#{notify_id}")))
                .expression_attribute_values(":msg", s("MSG"));
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Keeps an inbound text (not a STOP) for the team to read: content stored, never logged.
    pub async fn record_inbound(
        &self,
        team: &TeamCode,
        inbound_id: &str,
        from: Option<&str>,
        message: &str,
        received_at: &str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("T#{team}#INBOUND")))
            .item("sk", s(format!("{received_at}#{inbound_id}")))
            .item("item_type", s("inbound_text"))
            .item("message", s(message))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((now_epoch() + MESSAGE_RECORDS_DAYS * 86_400).to_string()),
            );
        if let Some(from) = from {
            put = put.item("from", s(from));
        }
        put.send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// Completes a record Notify refused for its recipient.
    pub async fn mark_failed(
        &self,
        team: &TeamCode,
        message_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let change = status_change(status)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(message_pk(team, message_id)))
            .key("sk", s("MSG"))
            .update_expression("SET #state = :failed, #status = :st, status_history = list_append(status_history, :change)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":change", change)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Records the policy's latest decision for (campaign, child, purpose): skips with reasons
    /// and the manual follow-up flag, for the campaign report.
    pub async fn record_decision(
        &self,
        team: &TeamCode,
        job: &SendJob,
        plan: &Plan,
    ) -> Result<(), StoreError> {
        let skipped: Vec<String> = plan.skipped.iter().map(|s| s.reason.to_owned()).collect();
        let plan_json = serde_json::to_string(plan).map_err(err)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::child_pk(team, &job.child_id)))
            .item(
                "sk",
                s(match &job.occasion {
                    Some(on) => format!("DEC#{}#{}#{on}", job.campaign_id, job.purpose.as_str()),
                    None => format!("DEC#{}#{}", job.campaign_id, job.purpose.as_str()),
                }),
            )
            .item("item_type", s("decision"))
            .item("campaign_id", s(&job.campaign_id))
            .item("purpose", s(job.purpose.as_str()))
            .item("occasion", s(job.occasion.as_deref().unwrap_or("")))
            .item(
                "skipped",
                AttributeValue::L(skipped.into_iter().map(s).collect()),
            )
            .item(
                "manual_follow_up",
                AttributeValue::Bool(plan.manual_follow_up),
            )
            .item("plan", s(plan_json))
            .item("decided_at", s(now_rfc3339()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((now_epoch() + MESSAGE_RECORDS_DAYS * 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        if plan.manual_follow_up {
            // Why no letter could stand in: the child-level letter skip says it.
            let reason = plan
                .skipped
                .iter()
                .find(|s| s.channel == Some(Channel::Letter))
                .map_or("no_reachable_channel", |s| s.reason);
            self.add_follow_up(
                team,
                &job.campaign_id,
                &job.child_id,
                job.purpose.as_str(),
                reason,
            )
            .await?;
        }
        Ok(())
    }

    /// Holds every send of the team until the next midnight UTC (Notify's daily reset).
    pub async fn hold_until_midnight(&self, team: &TeamCode) -> Result<Duration, StoreError> {
        let now = OffsetDateTime::now_utc();
        let midnight = (now.date() + time::Duration::days(1))
            .midnight()
            .assume_utc();
        let until = midnight.unix_timestamp() + 60;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("T#{team}#HOLD")))
            .item("sk", s("NOTIFY"))
            .item("item_type", s("hold"))
            .item("until", AttributeValue::N(until.to_string()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N((until + 86_400).to_string()),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        tracing::warn!(
            until,
            "Notify's daily limit reached: sends held until midnight UTC"
        );
        Ok(Duration::from_secs(
            (until - now.unix_timestamp()).max(1) as u64
        ))
    }
}

type Item = HashMap<String, AttributeValue>;

/// The child's state item: responses and objections, which uploads of those files update and
/// which a cohort upload never touches.
pub const STATE_SK: &str = "STATE";
const RESPONSE_PREFIX: &str = "resp_";
pub(crate) const OBJECTION_PREFIX: &str = "obj_";

/// What a send job reads before deciding anything.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// How long sends are still held after Notify's daily limit, if they are.
    pub hold: Option<Duration>,
    /// The campaign the job names.
    pub campaign: Option<Campaign>,
    /// The child and everything about them; `None` when the child is not (or no longer) known.
    pub facts: Option<Facts>,
    /// The team's Notify reply-to and text sender ids (from `team.json`), if it set them.
    pub senders: TeamSendSettings,
}

/// What the team's `team.json` says about sending: which Notify senders to use (`None`: the
/// service's default) and how long message records are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TeamSendSettings {
    /// Notify's id of the email reply-to address.
    pub email_reply_to_id: Option<uuid::Uuid>,
    /// Notify's id of the text message sender.
    pub sms_sender_id: Option<uuid::Uuid>,
    /// Days the team keeps records (`retention.records_days`); message records expire then.
    pub records_days: Option<u32>,
}

/// One entry for a record's `status_history`, as a one-element list to append.
fn status_change(status: &str) -> Result<AttributeValue, StoreError> {
    let change = serde_dynamo::to_attribute_value(StatusChange {
        status: status.to_owned(),
        at: now_rfc3339(),
    })
    .map_err(err)?;
    Ok(AttributeValue::L(vec![change]))
}

fn campaign_from_item(item: &Item) -> Result<Campaign, StoreError> {
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| err("campaign without body"))?;
    serde_json::from_str(body).map_err(err)
}

/// Responses by programme and the objections in force, from a child's state item.
fn read_state(item: &Item) -> (HashMap<String, String>, Vec<Objection>) {
    let mut responses = HashMap::new();
    let mut objections = Vec::new();
    for (name, value) in item {
        if let Some(programme) = name.strip_prefix(RESPONSE_PREFIX) {
            if let Ok(outcome) = value.as_s() {
                responses.insert(programme.to_owned(), outcome.clone());
            }
        } else if name.starts_with(OBJECTION_PREFIX)
            && let Ok(o) = value.as_m()
        {
            if o.get("withdrawn")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let scope = match o
                .get("scope")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some("email") => ObjectionScope::Email,
                Some("text") => ObjectionScope::Text,
                Some("letter") => ObjectionScope::Letter,
                Some("electronic") => ObjectionScope::Electronic,
                _ => ObjectionScope::All,
            };
            objections.push(Objection {
                scope,
                parent_detail: o.get("parent_detail").and_then(|v| v.as_s().ok()).cloned(),
            });
        }
    }
    (responses, objections)
}

fn str_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn expired(item: &HashMap<String, AttributeValue>) -> bool {
    item.get(TTL_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|t| t < now_epoch())
}
