//! What the daily schedule reads and writes: the index of campaigns, the children of a
//! campaign with their state, and one run record per (campaign, occasion).
//!
//! Items (see docs/data-model.md):
//! - `CAMPAIGNS` / `<team>#<campaign id>`: every campaign, with its last sending day, so the
//!   daily run finds the active ones in one query. No personal data.
//! - `T#<team>#RUNS` / `<campaign id>#<purpose>[#<occasion>]`: the uploads whose children an
//!   occasion has been queued for, so a re-run on the same day queues nothing new and a later
//!   day's catch-up queues only children from newer files.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use time::Date;

use super::children::read_state;
use super::{
    ChildItem, Facts, Item, STATE_SK, Store, StoreError, TTL_ATTRIBUTE, err, keys, s, sdk_err,
    str_attr,
};
use crate::campaign::{Campaign, CampaignDates};
use crate::jobs::SendJob;
use crate::policy::{Channel, Plan};
use crate::uploads::TeamCode;

/// Year groups a campaign without `year_groups` covers: reception to year 13, and children
/// whose file gave no year group.
const ALL_YEARS: std::ops::RangeInclusive<u8> = 0..=13;

/// A campaign in the index of every team's campaigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRef {
    /// The team.
    pub team: TeamCode,
    /// The campaign's id.
    pub campaign_id: String,
    /// The last day it has anything to send.
    pub last_send_day: Date,
}

/// What an occasion's earlier runs covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRecord {
    /// Uploads whose children have been queued (or judged not to be chased).
    pub covered_uploads: BTreeSet<String>,
    /// Jobs queued by every run of this occasion.
    pub queued: u64,
}

impl Store {
    /// Seconds since the epoch a year from now: run records outlive their campaign comfortably.
    pub fn run_record_expiry(&self) -> i64 {
        self.now_epoch() + 400 * 24 * 3600
    }

    /// Adds a campaign to the index the daily run reads (done with every campaign saved).
    pub(super) async fn index_campaign(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> Result<(), StoreError> {
        let Some(dates) = CampaignDates::of(campaign) else {
            return Ok(());
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::CAMPAIGNS_PK))
            .item("sk", s(format!("{team}#{}", campaign.id)))
            .item("item_type", s("campaign_index"))
            .item("team", s(team.to_string()))
            .item("campaign_id", s(&campaign.id))
            .item("last_send_day", s(dates.last_send_day().to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Every team's campaigns that still have something to send on or after `date`.
    pub async fn active_campaigns(&self, date: Date) -> Result<Vec<CampaignRef>, StoreError> {
        let mut active = self.every_campaign().await?;
        active.retain(|c| c.last_send_day >= date);
        Ok(active)
    }

    /// Every campaign of every team on record, ended or not.
    pub async fn every_campaign(&self) -> Result<Vec<CampaignRef>, StoreError> {
        let format = time::format_description::well_known::Iso8601::DATE;
        let mut campaigns = Vec::new();
        for item in self.partition(keys::CAMPAIGNS_PK, None).await? {
            let (Some(team), Some(campaign_id), Some(last)) = (
                str_attr(&item, "team").and_then(|t| TeamCode::parse(&t)),
                str_attr(&item, "campaign_id"),
                str_attr(&item, "last_send_day").and_then(|d| Date::parse(&d, &format).ok()),
            ) else {
                continue;
            };
            campaigns.push(CampaignRef {
                team,
                campaign_id,
                last_send_day: last,
            });
        }
        Ok(campaigns)
    }

    /// The children in a campaign's schools and year groups, each with their responses,
    /// objections and whether they left the cohort; contact-detail statuses are not read
    /// (the dispatcher reads those at send time).
    pub async fn campaign_children(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> Result<Vec<Facts>, StoreError> {
        let latest = self.latest_uploads(team).await?;
        let mut children = Vec::new();
        for school in &campaign.schools {
            children.extend(
                self.school_children(team, campaign, school, &latest)
                    .await?,
            );
        }
        Ok(children)
    }

    /// The latest complete upload of each source (`cohort`, `class-list#<URN>`): a child whose
    /// record came from an older upload of its source has left the cohort.
    pub async fn latest_uploads(
        &self,
        team: &TeamCode,
    ) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .partition(&keys::latest_pk(team), None)
            .await?
            .into_iter()
            .filter_map(|item| Some((str_attr(&item, "sk")?, str_attr(&item, "upload_id")?)))
            .collect())
    }

    /// [`Store::campaign_children`] for one of the campaign's schools: the daily run works
    /// school by school, so a national campaign never holds every child at once.
    pub async fn school_children(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
        school: &str,
        latest: &HashMap<String, String>,
    ) -> Result<Vec<Facts>, StoreError> {
        let mut years: Vec<Option<u8>> = if campaign.year_groups.is_empty() {
            ALL_YEARS.map(Some).chain([None]).collect()
        } else {
            campaign.year_groups.iter().copied().map(Some).collect()
        };
        years.dedup();
        let mut children: Vec<ChildItem> = Vec::new();
        for &year in &years {
            let gsi1pk = keys::school_year(team, school, year);
            for item in self.index_items("gsi1", &gsi1pk, None).await? {
                if str_attr(&item, "item_type").as_deref() == Some("child") {
                    children.push(serde_dynamo::from_item(item).map_err(err)?);
                }
            }
        }
        let state_keys: Vec<(String, String)> = children
            .iter()
            .map(|c| (keys::child_pk(team, &c.child_id), STATE_SK.to_owned()))
            .collect();
        let mut states = self.batch_get(&state_keys).await?;
        Ok(children
            .into_iter()
            .map(|child| {
                let (responses, objections) = states
                    .remove(&(keys::child_pk(team, &child.child_id), STATE_SK.to_owned()))
                    .map(|state| read_state(&state))
                    .unwrap_or_default();
                let left_cohort = latest
                    .get(&child.source)
                    .is_some_and(|latest| *latest != child.upload_id);
                Facts {
                    child,
                    statuses: HashMap::new(),
                    objections,
                    responses,
                    left_cohort,
                }
            })
            .collect())
    }

    /// What earlier runs of an occasion covered (nothing, before the first run).
    pub async fn run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
    ) -> Result<RunRecord, StoreError> {
        let Some(item) = self
            .get(runs_pk(team), &format!("{campaign_id}#{run_key}"))
            .await?
        else {
            return Ok(RunRecord::default());
        };
        Ok(RunRecord {
            covered_uploads: item
                .get("covered_uploads")
                .and_then(|v| v.as_ss().ok())
                .map(|ss| ss.iter().cloned().collect())
                .unwrap_or_default(),
            queued: item
                .get("queued")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }

    /// Records an occasion's run, once every job it queued is on the queue.
    pub async fn put_run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
        record: &RunRecord,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(runs_pk(team)))
            .item("sk", s(format!("{campaign_id}#{run_key}")))
            .item("item_type", s("schedule_run"))
            .item("queued", AttributeValue::N(record.queued.to_string()))
            .item("ran_at", s(self.clock.rfc3339()))
            .item(TTL_ATTRIBUTE, AttributeValue::N(expires_at.to_string()));
        if !record.covered_uploads.is_empty() {
            put = put.item(
                "covered_uploads",
                AttributeValue::Ss(record.covered_uploads.iter().cloned().collect()),
            );
        }
        put.send().await.map_err(sdk_err)?;
        Ok(())
    }
}

fn runs_pk(team: &TeamCode) -> String {
    keys::runs_pk(team)
}

/// A policy decision the dispatcher recorded for a child (skips, manual follow-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `consent_request`, …
    pub purpose: String,
    /// The occasion, when the purpose is sent more than once.
    pub occasion: Option<String>,
    /// Reason codes of what was skipped.
    pub skipped: Vec<String>,
    /// Nobody could be reached automatically.
    pub manual_follow_up: bool,
    /// When the policy decided (RFC 3339), when recorded.
    pub decided_at: Option<String>,
}

impl Store {
    /// Every message record of a child (any campaign), oldest first.
    pub async fn messages_of_child(
        &self,
        team: &TeamCode,
        child_id: &str,
    ) -> Result<Vec<super::MessageRecord>, StoreError> {
        self.index_items("gsi1", &keys::child_pk(team, child_id), Some("MSG#"))
            .await?
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(err))
            .collect()
    }

    /// Every unexpired item of one partition of an index (`<index>pk = key`, with `<index>sk`
    /// beginning with `sk_prefix` when given), page by page.
    pub(super) async fn index_items(
        &self,
        index: &str,
        key: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<super::Item>, StoreError> {
        let mut items = self.index_items_even_expired(index, key, sk_prefix).await?;
        items.retain(|i| !self.expired(i));
        Ok(items)
    }

    /// Every item of one partition of an index, expired ones included: DynamoDB deletes expired
    /// items up to a few days late, and until then they still hold what they held (erasure must
    /// reach them).
    pub(super) async fn index_items_even_expired(
        &self,
        index: &str,
        key: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<super::Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .expression_attribute_names("#pk", format!("{index}pk"))
                .expression_attribute_values(":pk", s(key))
                .set_exclusive_start_key(start);
            query = match sk_prefix {
                Some(prefix) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", format!("{index}sk"))
                    .expression_attribute_values(":prefix", s(prefix)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let page = query.send().await.map_err(sdk_err)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The dispatcher's decisions for a child in a campaign.
    pub async fn decisions(
        &self,
        team: &TeamCode,
        child_id: &str,
        campaign_id: &str,
    ) -> Result<Vec<Decision>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :dec)")
            .expression_attribute_values(":pk", s(keys::child_pk(team, child_id)))
            .expression_attribute_values(":dec", s(keys::decisions_of_campaign(campaign_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|item| !self.expired(item))
            .map(|item| Decision {
                purpose: str_attr(&item, "purpose").unwrap_or_default(),
                occasion: str_attr(&item, "occasion").filter(|o| !o.is_empty()),
                skipped: item
                    .get("skipped")
                    .and_then(|v| v.as_l().ok())
                    .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                    .unwrap_or_default(),
                manual_follow_up: item
                    .get("manual_follow_up")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
                decided_at: str_attr(&item, "decided_at"),
            })
            .collect())
    }
}

impl Store {
    /// Saves a team's settings (from `team.json`).
    pub async fn put_team_settings(
        &self,
        team: &TeamCode,
        settings: &crate::files::team_file::TeamSettings,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::settings_pk(team)))
            .item("sk", s(keys::SETTINGS_SK))
            .item("item_type", s("team_settings"))
            .item("body", s(serde_json::to_string(settings).map_err(err)?))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// A team's settings, if it has uploaded a `team.json`.
    pub async fn team_settings(
        &self,
        team: &TeamCode,
    ) -> Result<Option<crate::files::team_file::TeamSettings>, StoreError> {
        match self.get(keys::settings_pk(team), keys::SETTINGS_SK).await? {
            Some(item) => settings_from_item(&item).map(Some),
            None => Ok(None),
        }
    }
}

/// A team's settings from their item.
pub(super) fn settings_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<crate::files::team_file::TeamSettings, StoreError> {
    let body = str_attr(item, "body").ok_or_else(|| err("settings without a body"))?;
    serde_json::from_str(&body).map_err(err)
}

/// The Notify senders a team's settings item names.
pub(super) fn senders_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<super::TeamSendSettings, StoreError> {
    let settings = settings_from_item(item)?;
    Ok(super::TeamSendSettings {
        email_reply_to_id: settings.email_reply_to_id,
        sms_sender_id: settings.sms_sender_id,
        records_days: settings.retention.records_days,
    })
}

impl Store {
    /// Saves a campaign (campaign files are ingested in step 5; tests and the demo use this).
    pub async fn put_campaign(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::campaign_pk(team)))
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
        match self.get(keys::campaign_pk(team), id).await? {
            Some(item) => campaign_from_item(&item).map(Some),
            None => Ok(None),
        }
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
                s(keys::decision_sk(
                    &job.campaign_id,
                    job.purpose.as_str(),
                    job.occasion.as_deref(),
                )),
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
            .item("decided_at", s(self.clock.rfc3339()))
            .item(TTL_ATTRIBUTE, self.records_ttl())
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
        let now = self.clock.now();
        let midnight = (now.date() + time::Duration::days(1))
            .midnight()
            .assume_utc();
        let until = midnight.unix_timestamp() + 60;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::hold_pk(team)))
            .item("sk", s(keys::HOLD_SK))
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

pub(super) fn campaign_from_item(item: &Item) -> Result<Campaign, StoreError> {
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| err("campaign without body"))?;
    serde_json::from_str(body).map_err(err)
}
