//! Everything a send job reads before deciding anything, in two round trips for a whole batch:
//! the daily-limit hold, the team's settings, the campaign, the child and their state; then
//! whether the child is still in their source's latest upload and every contact detail's status.

use std::collections::HashMap;
use std::time::Duration;

use super::campaigns::{campaign_from_item, senders_from_item};
use super::children::read_state;
use super::{ChildItem, Item, OPTED_OUT, STATE_SK, Store, StoreError, err, keys, str_attr};
use crate::campaign::Campaign;
use crate::domain::ContactDetail;
use crate::jobs::SendJob;
use crate::policy::{DetailStatus, Objection};
use crate::uploads::TeamCode;

/// Everything known about a child at send time (what it means for the policy and the
/// templates is worked out in [`crate::facts`]).
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

impl Store {
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
        // First round: the hold, the settings, the campaign, the child and their state.
        let mut wanted: Vec<(String, String)> = jobs
            .iter()
            .flat_map(|(team, job)| first_keys(team, job))
            .collect();
        wanted.sort();
        wanted.dedup();
        let first = self.batch_get(&wanted).await?;
        let partials = jobs
            .iter()
            .map(|(team, job)| self.first_round(&first, team, job))
            .collect::<Result<Vec<_>, _>>()?;

        // Second round: the child's source's latest upload and every detail's status.
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
        Ok(partials.into_iter().map(|p| p.complete(&second)).collect())
    }

    /// What one job found in the first round, and the keys of its second.
    fn first_round(
        &self,
        first: &HashMap<(String, String), Item>,
        team: &TeamCode,
        job: &SendJob,
    ) -> Result<Partial, StoreError> {
        let [hold_key, settings_key, campaign_key, child_key, state_key] = first_keys(team, job);
        let hold = first.get(&hold_key).and_then(|item| {
            let until = item
                .get("until")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0);
            let now = self.now_epoch();
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
        let Some(child_item) = first.get(&child_key) else {
            return Ok(partial);
        };
        let child: ChildItem = serde_dynamo::from_item(child_item.clone()).map_err(err)?;
        let (responses, objections) = first.get(&state_key).map(read_state).unwrap_or_default();
        partial.latest_key = Some((keys::latest_pk(team), child.source.clone()));
        let details: Vec<String> = child
            .parents
            .iter()
            .flat_map(|p| {
                let email = p.email.as_ref().map(|e| ContactDetail::email(e).key());
                let phone = p.phone.as_ref().map(|n| ContactDetail::phone(n).key());
                email.into_iter().chain(phone)
            })
            .collect();
        for detail in &details {
            partial.status_keys.push((
                (keys::contact_pk(team, detail), keys::STATUS_SK.into()),
                detail.clone(),
            ));
        }
        // An erased detail is known only by its marker (a keyed hash): checked last, so it
        // wins over any other status.
        for detail in &details {
            if let Some(pk) = self.erased_status_key(team, detail) {
                partial
                    .status_keys
                    .push(((pk, keys::STATUS_SK.into()), detail.clone()));
            }
        }
        partial.child = Some((child, responses, objections));
        Ok(partial)
    }
}

/// The keys of a job's first round: the daily-limit hold, the team's settings, the campaign,
/// the child and their state.
fn first_keys(team: &TeamCode, job: &SendJob) -> [(String, String); 5] {
    let child_pk = keys::child_pk(team, &job.child_id);
    [
        (keys::hold_pk(team), keys::HOLD_SK.to_owned()),
        (keys::settings_pk(team), keys::SETTINGS_SK.to_owned()),
        (keys::campaign_pk(team), job.campaign_id.clone()),
        (child_pk.clone(), keys::CHILD_SK.to_owned()),
        (child_pk, STATE_SK.to_owned()),
    ]
}

/// What a job found in the first round, and the keys of its second.
struct Partial {
    hold: Option<Duration>,
    senders: TeamSendSettings,
    campaign: Option<Campaign>,
    child: Option<(ChildItem, HashMap<String, String>, Vec<Objection>)>,
    latest_key: Option<(String, String)>,
    /// Each detail's status key, then (after every plain one) its erasure marker's.
    status_keys: Vec<((String, String), String)>,
}

impl Partial {
    /// The job's records, with what the second round found: whether the child left their
    /// source's latest upload, and each detail's status (an erasure marker last, so it wins).
    fn complete(self, second: &HashMap<(String, String), Item>) -> Loaded {
        let facts = self.child.map(|(child, responses, objections)| {
            let left_cohort = self
                .latest_key
                .as_ref()
                .and_then(|k| second.get(k))
                .and_then(|l| str_attr(l, "upload_id"))
                .is_some_and(|id| id != child.upload_id);
            let statuses = self
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
            hold: self.hold,
            campaign: self.campaign,
            facts,
            senders: self.senders,
        }
    }
}
