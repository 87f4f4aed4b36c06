//! What the service does when Notify says what happened to a message: the status moves only
//! forward, and failures turn into action (product.md, channel policy rule 7).
//!
//! | status                         | email / text                                  | letter                         |
//! |--------------------------------|-----------------------------------------------|--------------------------------|
//! | `permanent-failure`            | detail marked failed; fallback job            | follow-up list                 |
//! | `temporary-failure`            | first time: retry due in 24 h; then as failed | —                              |
//! | `technical-failure`            | retry job (backoff), 3 times; then follow-up  | the same                       |
//! | `validation-failed`/`cancelled`| —                                             | follow-up list                 |
//! | `received`                     | —                                             | stop polling                   |
//!
//! Actions run before the status is stored, and each is idempotent (jobs have deterministic
//! message ids, items fixed keys): if recording fails half way, Notify's retry of the callback
//! (or the next poll) finishes the work, and a repeated callback changes nothing. A letter stops
//! being polled only once its final status is stored, so that next poll always comes.

use time::OffsetDateTime;

use std::future::Future;

use crate::dispatch::{
    MessageLedger, NotifyPort, NotifyServices, SendJob, SendQueue, SqsSendQueue,
};
use crate::jobs::JobKind;
use crate::notify::Status;
use crate::policy::{Channel, Purpose};
use crate::store::{DueJob, MessageRecord, Store, StoreError};
use crate::uploads::TeamCode;

/// How long after a temporary failure the channel is tried once more.
pub const TEMPORARY_RETRY_AFTER_SECONDS: i64 = 24 * 3600;

/// How many times a technical failure is retried before the family is followed up by hand.
pub const TECHNICAL_RETRIES: u32 = 3;

/// The delay before the first technical retry; it grows with each attempt, up to SQS's 15
/// minutes.
pub const TECHNICAL_BACKOFF_SECONDS: i32 = 300;

/// Due jobs queued at once by the hourly release.
pub const RELEASE_CONCURRENCY: usize = 16;

/// What a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Recorded (and acted on).
    Recorded,
    /// Older than, or the same as, what is stored: nothing changed.
    Stale,
    /// No message with that id.
    Unknown,
    /// A status this code does not know (Notify added it later): nothing changed.
    UnknownStatus,
}

/// Applies delivery statuses and releases due work: over the table and the send queue in AWS
/// (the default type parameters), over fakes of [`ReceiptLedger`] and [`SendQueue`] in a unit
/// test.
#[derive(Debug, Clone)]
pub struct Receipts<L = Store, Q = SqsSendQueue> {
    store: L,
    queue: Q,
    backoff_seconds: i32,
}

/// The table, as far as applying a status and releasing due work read and write it.
pub trait ReceiptLedger: MessageLedger {
    /// Moves a status from `expected` to `new`; false when it was no longer `expected`.
    fn apply_status(
        &self,
        team: &TeamCode,
        message_id: &str,
        expected: &str,
        new: &str,
        completes: Option<uuid::Uuid>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stops polling a letter.
    fn close_letter(
        &self,
        team: &TeamCode,
        message_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Puts the child on the team's list to follow up by hand.
    fn add_follow_up(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        child_id: &str,
        purpose: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Keeps `job` until `due` (epoch seconds).
    fn schedule_job(
        &self,
        due: i64,
        message_id: &str,
        job: &SendJob,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Jobs due by `now` (epoch seconds).
    fn due_jobs(&self, now: i64) -> impl Future<Output = Result<Vec<DueJob>, StoreError>> + Send;
    /// Forgets a due job once it is on the queue.
    fn delete_due(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl ReceiptLedger for Store {
    async fn apply_status(
        &self,
        team: &TeamCode,
        message_id: &str,
        expected: &str,
        new: &str,
        completes: Option<uuid::Uuid>,
    ) -> Result<bool, StoreError> {
        Store::apply_status(self, team, message_id, expected, new, completes).await
    }
    async fn close_letter(&self, team: &TeamCode, message_id: &str) -> Result<(), StoreError> {
        Store::close_letter(self, team, message_id).await
    }
    async fn add_follow_up(
        &self,
        team: &TeamCode,
        campaign_id: &str,
        child_id: &str,
        purpose: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        Store::add_follow_up(self, team, campaign_id, child_id, purpose, reason).await
    }
    async fn schedule_job(
        &self,
        due: i64,
        message_id: &str,
        job: &SendJob,
    ) -> Result<(), StoreError> {
        Store::schedule_job(self, due, message_id, job).await
    }
    async fn due_jobs(&self, now: i64) -> Result<Vec<DueJob>, StoreError> {
        Store::due_jobs(self, now).await
    }
    async fn delete_due(&self, key: &str) -> Result<(), StoreError> {
        Store::delete_due(self, key).await
    }
}

/// Recording or acting on a status failed; the caller retries (webhook: 500, so Notify retries).
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The table.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The send queue.
    #[error(transparent)]
    Queue(#[from] crate::dispatch::QueueError),
    /// The record kept changing under the update (Notify retries the callback).
    #[error("the message record kept changing")]
    Contended,
}

impl Receipts {
    /// Over `store`, queueing follow-on jobs on `send_queue_url`.
    pub fn new(store: Store, sqs: aws_sdk_sqs::Client, send_queue_url: impl Into<String>) -> Self {
        Self::with_ports(store, SqsSendQueue::new(sqs, send_queue_url))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads every open letter's status from Notify and applies it; returns how many changed.
    /// A letter Notify cannot find or answer for stays open for the next poll.
    pub async fn poll_letters<S: NotifyServices>(
        &self,
        services: &S,
        now: OffsetDateTime,
    ) -> Result<usize, ReceiptError> {
        let mut changed = 0;
        for letter in self.store.open_letters().await? {
            // Each letter is followed with its team's key: only that service knows it.
            let found = match services.for_team(&letter.team).await {
                Ok(service) => service.notify.get_notification(letter.notify_id).await,
                Err(e) => {
                    tracing::warn!(
                        message_id = letter.message_id.as_str(),
                        error = %e,
                        "letter status not read: the team's Notify service is not available; polled again next time"
                    );
                    continue;
                }
            };
            match found {
                Ok(found) => {
                    if let Status::Unknown(name) = &found.status {
                        tracing::warn!(
                            message_id = letter.message_id.as_str(),
                            status_chars = name.len(),
                            metric = "unknown_status",
                            "letter status this service does not know; polled again next time"
                        );
                    }
                    let applied = self
                        .apply(&letter.team, &letter.message_id, &found.status, now)
                        .await?;
                    if applied == Applied::Recorded {
                        changed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        message_id = letter.message_id.as_str(),
                        error = %e,
                        "letter status not read; polled again next time"
                    );
                }
            }
        }
        Ok(changed)
    }
}

impl<L: ReceiptLedger, Q: SendQueue> Receipts<L, Q> {
    /// Over these ports.
    pub fn with_ports(store: L, queue: Q) -> Self {
        Self {
            store,
            queue,
            backoff_seconds: TECHNICAL_BACKOFF_SECONDS,
        }
    }

    /// The clock receipts are judged by (the store's).
    pub fn clock(&self) -> &crate::domain::Clock {
        self.store.clock()
    }

    /// Changes the first technical-failure backoff (tests and the demo's simulated clock).
    pub fn with_technical_backoff(mut self, seconds: i32) -> Self {
        self.backoff_seconds = seconds;
        self
    }

    /// Records `status` for a message and acts on it; `now` is when (injectable for tests).
    pub async fn apply(
        &self,
        team: &TeamCode,
        message_id: &str,
        status: &Status,
        now: OffsetDateTime,
    ) -> Result<Applied, ReceiptError> {
        self.apply_receipt(team, message_id, None, status, now)
            .await
    }

    /// As [`Receipts::apply`], for a delivery receipt from Notify about the notification
    /// `notify_id`: a record still in `intent` (its attempt died after Notify accepted) is
    /// completed with it.
    pub async fn apply_receipt(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Option<uuid::Uuid>,
        status: &Status,
        now: OffsetDateTime,
    ) -> Result<Applied, ReceiptError> {
        if let Status::Unknown(_) = status {
            // Until the code knows what a status Notify added means, it moves nothing on: the
            // record keeps what staff and the policy already rely on.
            return Ok(Applied::UnknownStatus);
        }
        let mut acted = false;
        // The dispatcher's own update (intent → created) or another receipt can land between
        // the read and the conditional write: read again and decide again, a few times.
        for _ in 0..5 {
            let Some(record) = self.store.message(team, message_id).await? else {
                return Ok(Applied::Unknown);
            };
            let current = Status::parse(&record.status);
            // A receipt can beat the dispatcher's "created" update: the intent is then current.
            if !(status.supersedes(&current) || (record.state == "intent" && status != &current)) {
                tracing::info!(
                    message_id,
                    status = status.as_str(),
                    "older or repeated status ignored"
                );
                // An attempt that recorded a letter's final status may have died before it
                // stopped polling the letter: finish that (idempotent).
                if record.channel == Channel::Letter && current.is_final() {
                    self.store.close_letter(team, message_id).await?;
                }
                return Ok(Applied::Stale);
            }
            if !acted {
                self.act(team, &record, status, now).await?;
                acted = true;
            }
            if self
                .store
                .apply_status(
                    team,
                    message_id,
                    &record.status,
                    status.as_str(),
                    notify_id.filter(|_| record.state == "intent"),
                )
                .await?
            {
                tracing::info!(message_id, status = status.as_str(), "status recorded");
                // Only once its final status is recorded does polling of a letter stop: closed
                // any earlier, a failure in between would leave the status unread for good.
                if record.channel == Channel::Letter && status.is_final() {
                    self.store.close_letter(team, message_id).await?;
                }
                return Ok(Applied::Recorded);
            }
        }
        Err(ReceiptError::Contended)
    }

    async fn act(
        &self,
        team: &TeamCode,
        record: &MessageRecord,
        status: &Status,
        now: OffsetDateTime,
    ) -> Result<(), ReceiptError> {
        let channel = record.channel;
        let purpose = record.purpose;
        let follow_up = |reason: String| async move {
            self.store
                .add_follow_up(
                    team,
                    &record.campaign_id,
                    &record.child_id,
                    purpose.as_str(),
                    &reason,
                )
                .await
        };
        match (channel, status) {
            (
                Channel::Letter,
                Status::PermanentFailure | Status::ValidationFailed | Status::Cancelled,
            ) => {
                follow_up(format!("letter_{}", status.as_str())).await?;
            }
            (_, Status::TechnicalFailure) => {
                if record.attempt < TECHNICAL_RETRIES {
                    let job = self.retry_job(team, record, purpose);
                    let delay = (self.backoff_seconds * job.attempt as i32).min(900);
                    self.enqueue(&job, delay).await?;
                } else {
                    follow_up("technical_failure".into()).await?;
                }
            }
            (Channel::Email | Channel::Sms, Status::TemporaryFailure) if record.attempt == 0 => {
                let job = self.retry_job(team, record, purpose);
                let due = now.unix_timestamp() + TEMPORARY_RETRY_AFTER_SECONDS;
                self.store
                    .schedule_job(due, &record.message_id, &job)
                    .await?;
                tracing::info!(
                    message_id = record.message_id.as_str(),
                    due,
                    "temporary failure: retry scheduled"
                );
            }
            // A permanent failure, or a temporary one that came back on the retry.
            (
                Channel::Email | Channel::Sms,
                Status::PermanentFailure | Status::TemporaryFailure,
            ) => {
                if let Some(detail) = channel.detail(&record.recipient) {
                    self.store
                        .set_detail_status(team, &detail.key(), "failed")
                        .await?;
                }
                let job = SendJob::new(
                    team,
                    &record.campaign_id,
                    &record.child_id,
                    purpose,
                    JobKind::Fallback,
                )
                .on(record.occasion.clone());
                self.enqueue(&job, 0).await?;
                tracing::info!(
                    message_id = record.message_id.as_str(),
                    channel = channel.as_str(),
                    "detail failed: fallback queued"
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn retry_job(&self, team: &TeamCode, record: &MessageRecord, purpose: Purpose) -> SendJob {
        // Retries of retries keep pointing at the message first tried, for its recipient.
        let mut job = SendJob::new(
            team,
            &record.campaign_id,
            &record.child_id,
            purpose,
            JobKind::Retry,
        )
        .on(record.occasion.clone());
        job.retry_of = Some(record.message_id.clone());
        job.attempt = record.attempt + 1;
        job
    }

    async fn enqueue(&self, job: &SendJob, delay_seconds: i32) -> Result<(), ReceiptError> {
        self.queue
            .enqueue(job, delay_seconds)
            .await
            .map_err(ReceiptError::Queue)
    }

    /// Queues every job due by `now` (retries after temporary failures); returns how many.
    /// Run by the reminders function; a job is deleted only once it is on the queue.
    pub async fn release_due(&self, now: OffsetDateTime) -> Result<usize, ReceiptError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let due = self.store.due_jobs(now.unix_timestamp()).await?;
        // Many at once: a national campaign's hour can hold tens of thousands, and one at a
        // time (two round trips each) would not fit in the function's 15 minutes. Each job is
        // deleted only after it is on the queue; a failure leaves the rest for the next run.
        stream::iter(&due)
            .map(|job| async move {
                self.enqueue(&job.job, 0).await?;
                self.store.delete_due(&job.key).await?;
                Ok::<_, ReceiptError>(())
            })
            .buffer_unordered(RELEASE_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        if !due.is_empty() {
            tracing::info!(count = due.len(), "due retries queued");
        }
        Ok(due.len())
    }
}

#[cfg(test)]
mod tests;
