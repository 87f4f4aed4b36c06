//! The daily run: for each active campaign, the occasions due today ([`super::due_on`]) become
//! one send job per child, queued with `SendMessageBatch`.
//!
//! - Children are those of the campaign's schools and year groups, each child once: records
//!   with the same NHS number, or the same names, date of birth and postcode when one lacks an
//!   NHS number, are one child (the record with an NHS number, then the newest, is sent to;
//!   responses and objections on any of them count), so a family is asked once.
//! - A child the dispatcher would skip outright is not queued: deceased, left the cohort,
//!   answered (requests and reminders), vaccinated, no consent (session reminders), or an
//!   objection to everything. The dispatcher applies the same rule again at send time.
//! - Idempotent: each occasion's run record names the uploads whose children it covered, so a
//!   second run the same day queues nothing new, and the consent request's catch-up on later
//!   days queues only children from newer files. Jobs have deterministic message ids, so even a
//!   run that died half-way and is run again sends nothing twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::future::Future;
use time::Date;

use super::{Occasion, due_on};
use crate::campaign::Campaign;
use crate::dispatch::{SendQueue, SqsSendQueue};
use crate::jobs::{JobKind, SendJob};
use crate::policy::stop_reason;
use crate::store::{CampaignRef, Facts, RunRecord, Store, StoreError};
use crate::uploads::TeamCode;

/// SQS's most messages in one `SendMessageBatch`.
const SQS_BATCH: usize = 10;
/// `SendMessageBatch` calls in flight at once (per school).
const SQS_CONCURRENCY: usize = 8;
/// Schools worked on at once.
const SCHOOL_CONCURRENCY: usize = 4;

/// What one school's part of a campaign run did.
struct SchoolRun {
    records: u64,
    children: u64,
    occasions: Vec<OccasionRun>,
    uploads: BTreeSet<String>,
}
/// Attempts at the entries SQS could not take, before the run fails (and is retried whole).
const SQS_ATTEMPTS: u32 = 5;

/// The run could not finish; it is retried (asynchronous invoke) and then dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SQS did not take every job.
    #[error(transparent)]
    Queue(#[from] crate::dispatch::QueueError),
    /// SQS kept refusing some entries of a batch (it answered for each, so no source).
    #[error("send queue: {0} jobs not accepted after {SQS_ATTEMPTS} attempts")]
    NotAccepted(usize),
    /// The campaign named is not known.
    #[error("campaign not found")]
    NoCampaign,
}

/// What one occasion's run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OccasionRun {
    /// `consent_request`, `consent_reminder` or `session_reminder`.
    pub purpose: String,
    /// The occasion (see `SendJob::occasion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
    /// Jobs put on the send queue by this run.
    pub queued: u64,
    /// Children an earlier run of this occasion already covered.
    pub already_covered: u64,
    /// Children not chased, by reason (`answered`, `deceased`, `duplicate`, …).
    pub not_chased: BTreeMap<String, u64>,
}

/// What a campaign's run on a date did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignRun {
    /// The team.
    pub team: String,
    /// The campaign.
    pub campaign_id: String,
    /// The date run for.
    pub date: String,
    /// Children in the campaign's schools and year groups (each child once).
    pub children: u64,
    /// Further records of those children (a class list listing a cohort child again without
    /// the NHS number, say): never sent to separately.
    pub duplicate_records: u64,
    /// Each occasion due that day.
    pub occasions: Vec<OccasionRun>,
}

/// The daily schedule's dependencies, built once per process.
#[derive(Debug, Clone)]
pub struct Scheduler<L = Store, Q = SqsSendQueue> {
    store: L,
    queue: Q,
}

impl Scheduler {
    /// A scheduler over these clients.
    pub fn new(store: Store, sqs: aws_sdk_sqs::Client, send_queue_url: impl Into<String>) -> Self {
        Self::with_ports(store, SqsSendQueue::new(sqs, send_queue_url))
    }
}

/// The table, as far as the daily run reads and writes it.
pub trait ScheduleLedger: Send + Sync {
    /// Campaigns with something to send on or after `date`.
    fn active_campaigns(
        &self,
        date: Date,
    ) -> impl Future<Output = Result<Vec<CampaignRef>, StoreError>> + Send;
    /// The campaign.
    fn campaign(
        &self,
        team: &TeamCode,
        id: &str,
    ) -> impl Future<Output = Result<Option<Campaign>, StoreError>> + Send;
    /// What earlier runs of an occasion covered.
    fn run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;
    /// The latest upload of each source (to tell who left the cohort).
    fn latest_uploads(
        &self,
        team: &TeamCode,
    ) -> impl Future<Output = Result<HashMap<String, String>, StoreError>> + Send;
    /// One school's children in the campaign, with what the policy needs.
    fn school_children(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
        school: &str,
        latest: &HashMap<String, String>,
    ) -> impl Future<Output = Result<Vec<Facts>, StoreError>> + Send;
    /// Records what a run of an occasion covered.
    fn put_run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
        record: &RunRecord,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// When a run record written now expires.
    fn run_record_expiry(&self) -> i64;
}

impl ScheduleLedger for Store {
    async fn active_campaigns(&self, date: Date) -> Result<Vec<CampaignRef>, StoreError> {
        Store::active_campaigns(self, date).await
    }
    async fn campaign(&self, team: &TeamCode, id: &str) -> Result<Option<Campaign>, StoreError> {
        Store::campaign(self, team, id).await
    }
    async fn run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
    ) -> Result<RunRecord, StoreError> {
        Store::run_record(self, team, campaign_id, run_key).await
    }
    async fn latest_uploads(&self, team: &TeamCode) -> Result<HashMap<String, String>, StoreError> {
        Store::latest_uploads(self, team).await
    }
    async fn school_children(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
        school: &str,
        latest: &HashMap<String, String>,
    ) -> Result<Vec<Facts>, StoreError> {
        Store::school_children(self, team, campaign, school, latest).await
    }
    async fn put_run_record(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
        record: &RunRecord,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        Store::put_run_record(self, team, campaign_id, run_key, record, expires_at).await
    }
    fn run_record_expiry(&self) -> i64 {
        Store::run_record_expiry(self)
    }
}

impl<L: ScheduleLedger, Q: SendQueue> Scheduler<L, Q> {
    /// A scheduler over these ports.
    pub fn with_ports(store: L, queue: Q) -> Self {
        Self { store, queue }
    }

    /// Runs every team's active campaigns for `date`. One campaign's failure does not stop the
    /// others; the error is returned after all have run, so the invocation is retried.
    pub async fn run_all(&self, date: Date) -> Result<Vec<CampaignRun>, ScheduleError> {
        let mut runs = Vec::new();
        let mut first_error = None;
        for campaign in self.store.active_campaigns(date).await? {
            match self
                .run_campaign(&campaign.team, &campaign.campaign_id, date)
                .await
            {
                Ok(run) => runs.push(run),
                Err(e) => {
                    tracing::error!(
                        team = %campaign.team,
                        campaign_id = campaign.campaign_id.as_str(),
                        error = %e,
                        "campaign run failed"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(runs),
        }
    }

    /// Runs one campaign for `date` (the daily run, or by hand for a missed day).
    pub async fn run_campaign(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        date: Date,
    ) -> Result<CampaignRun, ScheduleError> {
        let campaign = self
            .store
            .campaign(team, campaign_id)
            .await?
            .ok_or(ScheduleError::NoCampaign)?;
        let occasions = due_on(&campaign, date);
        let mut run = CampaignRun {
            team: team.to_string(),
            campaign_id: campaign_id.to_owned(),
            date: date.to_string(),
            children: 0,
            duplicate_records: 0,
            occasions: Vec::new(),
        };
        if occasions.is_empty() {
            return Ok(run);
        }
        // School by school, a few at a time: memory holds a few schools' children, never the
        // whole campaign (a national campaign has a million).
        let mut before = Vec::with_capacity(occasions.len());
        for occasion in &occasions {
            before.push(
                self.store
                    .run_record(team, &campaign.id, &occasion.run_key())
                    .await?,
            );
        }
        let latest = self.store.latest_uploads(team).await?;
        let (campaign_ref, occasions_ref, before_ref, latest_ref) =
            (&campaign, &occasions, &before, &latest);
        let schools: Vec<SchoolRun> = stream::iter(campaign.schools.iter())
            .map(|school| async move {
                let records = self
                    .store
                    .school_children(team, campaign_ref, school, latest_ref)
                    .await?;
                let children = same_children(&records);
                let mut school_run = SchoolRun {
                    records: records.len() as u64,
                    children: children.len() as u64,
                    occasions: Vec::new(),
                    uploads: records.iter().map(|f| f.child.upload_id.clone()).collect(),
                };
                for (occasion, record) in occasions_ref.iter().zip(before_ref) {
                    school_run.occasions.push(
                        self.run_occasion(
                            team,
                            campaign_ref,
                            occasion,
                            record,
                            &records,
                            &children,
                        )
                        .await?,
                    );
                }
                Ok::<_, ScheduleError>(school_run)
            })
            .buffer_unordered(SCHOOL_CONCURRENCY)
            .try_collect()
            .await?;

        let mut totals: Vec<OccasionRun> = occasions
            .iter()
            .map(|o| OccasionRun {
                purpose: o.purpose.as_str().to_owned(),
                occasion: o.occasion.clone(),
                ..OccasionRun::default()
            })
            .collect();
        let mut covered: BTreeSet<String> = BTreeSet::new();
        for school in schools {
            run.children += school.children;
            run.duplicate_records += school.records - school.children;
            covered.extend(school.uploads);
            for (total, part) in totals.iter_mut().zip(school.occasions) {
                total.queued += part.queued;
                total.already_covered += part.already_covered;
                for (reason, n) in part.not_chased {
                    *total.not_chased.entry(reason).or_default() += n;
                }
            }
        }
        // Only once every school's jobs are on the queue: a run that failed half-way is run
        // again whole (its repeated jobs are sent once, by their message ids).
        for ((occasion, mut record), total) in occasions.iter().zip(before).zip(&totals) {
            record.queued += total.queued;
            record.covered_uploads.extend(covered.iter().cloned());
            self.store
                .put_run_record(
                    team,
                    &campaign.id,
                    &occasion.run_key(),
                    &record,
                    self.store.run_record_expiry(),
                )
                .await?;
            tracing::info!(
                team = %team,
                campaign_id,
                purpose = total.purpose.as_str(),
                queued = total.queued,
                already_covered = total.already_covered,
                not_chased = total.not_chased.values().sum::<u64>(),
                "occasion queued"
            );
        }
        run.occasions = totals;
        Ok(run)
    }

    /// One occasion for one school's children: queues the jobs, counts the rest.
    async fn run_occasion(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
        occasion: &Occasion,
        record: &RunRecord,
        records: &[Facts],
        children: &[Vec<usize>],
    ) -> Result<OccasionRun, ScheduleError> {
        let mut result = OccasionRun::default();
        let mut jobs = Vec::new();
        for group in children {
            // A child any of whose records an earlier run covered has been dealt with: a
            // newer file naming them again must not make them a new family to ask.
            if group
                .iter()
                .any(|&i| record.covered_uploads.contains(&records[i].child.upload_id))
            {
                result.already_covered += 1;
                continue;
            }
            let facts = merged(records, group);
            match stop_reason(&facts.policy_input(occasion.purpose, campaign, &[])) {
                Some(reason) => *result.not_chased.entry(reason.to_owned()).or_default() += 1,
                None => jobs.push(
                    SendJob::new(
                        team,
                        &campaign.id,
                        &facts.child.child_id,
                        occasion.purpose,
                        JobKind::Campaign,
                    )
                    .on(occasion.occasion.clone()),
                ),
            }
        }
        self.enqueue(&jobs).await?;
        result.queued = jobs.len() as u64;
        Ok(result)
    }

    /// Puts jobs on the send queue ten to a request, several requests at once; entries SQS
    /// could not take are sent again with backoff, and a run that still cannot queue fails.
    async fn enqueue(&self, jobs: &[SendJob]) -> Result<(), ScheduleError> {
        stream::iter(jobs.chunks(SQS_BATCH))
            .map(|chunk| self.enqueue_batch(chunk))
            .buffer_unordered(SQS_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn enqueue_batch(&self, jobs: &[SendJob]) -> Result<(), ScheduleError> {
        let mut pending: Vec<(String, String)> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                serde_json::to_string(job)
                    .map(|body| (i.to_string(), body))
                    .map_err(|e| ScheduleError::Queue(crate::dispatch::QueueError::Encode(e)))
            })
            .collect::<Result<_, _>>()?;
        for attempt in 0..SQS_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let failed = match self.queue.enqueue_batch(&pending).await {
                Ok(failed) => failed,
                Err(e) if attempt + 1 < SQS_ATTEMPTS => {
                    tracing::warn!(error = %e, "SendMessageBatch failed; retrying");
                    continue;
                }
                Err(e) => return Err(ScheduleError::Queue(e)),
            };
            pending.retain(|(id, _)| failed.contains(id));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(ScheduleError::NotAccepted(pending.len()))
    }
}

/// The child's records merged: the first record's details, with the responses and objections
/// recorded against any of them (a response matched by NHS number lands on the record that has
/// one; an objection may have been recorded against either).
pub(crate) fn merged(records: &[Facts], group: &[usize]) -> Facts {
    let mut facts = records[group[0]].clone();
    for &i in &group[1..] {
        for (programme, outcome) in &records[i].responses {
            facts
                .responses
                .entry(programme.clone())
                .or_insert_with(|| outcome.clone());
        }
        facts
            .objections
            .extend(records[i].objections.iter().cloned());
    }
    facts
}

/// Groups the records that describe the same child: the same NHS number, or the same names,
/// date of birth and postcode when one of them has no NHS number (file-formats.md's rule for
/// duplicates within a file, applied across files). Each group lists the record to send to
/// first: one with an NHS number if any (responses are matched by it), then the newest.
pub fn same_children(records: &[Facts]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    // The child id breaks ties so every run decides the same way.
    order.sort_by(|&a, &b| {
        let (a, b) = (&records[a].child, &records[b].child);
        b.nhs_number
            .is_some()
            .cmp(&a.nhs_number.is_some())
            .then_with(|| b.updated_at.cmp(&a.updated_at))
            .then_with(|| a.child_id.cmp(&b.child_id))
    });
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_nhs: HashMap<&str, usize> = HashMap::new();
    // Details → the group, and whether a record in it lacks an NHS number.
    let mut by_details: HashMap<String, (usize, bool)> = HashMap::new();
    for i in order {
        let child = &records[i].child;
        let details = child.details_key();
        let nhs = child.nhs_number.as_ref().map(|n| n.as_str());
        let group = nhs.and_then(|n| by_nhs.get(n).copied()).or_else(|| {
            by_details
                .get(&details)
                .filter(|&&(_, any_without)| any_without || nhs.is_none())
                .map(|&(g, _)| g)
        });
        let g = match group {
            Some(g) => {
                groups[g].push(i);
                g
            }
            None => {
                groups.push(vec![i]);
                groups.len() - 1
            }
        };
        if let Some(n) = nhs {
            by_nhs.entry(n).or_insert(g);
        }
        let entry = by_details.entry(details).or_insert((g, false));
        entry.1 |= nhs.is_none();
    }
    groups
}

#[cfg(test)]
mod tests;
