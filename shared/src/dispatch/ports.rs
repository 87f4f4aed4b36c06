//! The dispatcher's ports: what a send job touches, as the dispatcher needs it.
//!
//! In AWS each is the real thing — [`Store`] (DynamoDB), [`SqsSendQueue`], [`NotifyClient`],
//! [`Pacer`] — and the dispatcher is `Dispatcher` with its default type parameters. A unit test
//! gives it in-memory fakes instead (`dispatch::fakes`), so the paths that decide whether a
//! family is sent a message, sent it twice or blamed for our failure run in milliseconds, with
//! any failure injected exactly where it matters.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{QueueError, SendJob};
use crate::domain::{Clock, TeamCode};
use crate::notify::{
    EmailRequest, LetterRequest, NotificationStatus, NotifyClient, NotifyError, SentNotification,
    SmsRequest,
};
use crate::policy::Plan;
use crate::store::pacer::{Pacer, PacerError};
use crate::store::{Loaded, MessageRecord, Store, StoreError};
use crate::teams::TeamError;

/// What every flow that reads and completes message records needs of the table: the one
/// clock, a message record, a contact detail's status.
pub trait MessageLedger: Send + Sync {
    /// The one clock (leases, TTLs, the daily-limit hold, receipts).
    fn clock(&self) -> &Clock;
    /// The message record, if any.
    fn message(
        &self,
        team: &TeamCode,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send;
    /// Records a contact detail's status (`failed`, `opted_out`).
    fn set_detail_status(
        &self,
        team: &TeamCode,
        detail: &str,
        status: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl MessageLedger for Store {
    fn clock(&self) -> &Clock {
        Store::clock(self)
    }
    async fn message(
        &self,
        team: &TeamCode,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Store::message(self, team, message_id).await
    }
    async fn set_detail_status(
        &self,
        team: &TeamCode,
        detail: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        Store::set_detail_status(self, team, detail, status).await
    }
}

/// The table, as far as a send job reads and writes it.
pub trait SendLedger: MessageLedger {
    /// Everything one job needs, read at send time.
    fn load(
        &self,
        team: &TeamCode,
        job: &SendJob,
    ) -> impl Future<Output = Result<Loaded, StoreError>> + Send;
    /// The same for a batch of jobs, in order.
    fn load_many(
        &self,
        jobs: &[(TeamCode, &SendJob)],
    ) -> impl Future<Output = Result<Vec<Loaded>, StoreError>> + Send;
    /// Records the intent to send; false when a record with its id already exists.
    fn put_intent(
        &self,
        record: &MessageRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Takes over an intent whose lease (`expired_lease`) has run out; false if it has not,
    /// or another attempt took it first.
    fn take_over(
        &self,
        team: &TeamCode,
        message_id: &str,
        expired_lease: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records that Notify accepted the message.
    fn mark_sent(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
        template_version: u32,
        status: &str,
        sms_fragments: Option<u32>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Completes a record Notify refused for its recipient.
    fn mark_failed(
        &self,
        team: &TeamCode,
        message_id: &str,
        status: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Opens a sent letter for polling (Notify sends no callbacks for letters).
    fn open_letter(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Holds the team's sends until Notify's daily limit resets; how long that is.
    fn hold_until_midnight(
        &self,
        team: &TeamCode,
    ) -> impl Future<Output = Result<Duration, StoreError>> + Send;
    /// Records what was skipped, and whether the family must be followed up by hand.
    fn record_decision(
        &self,
        team: &TeamCode,
        job: &SendJob,
        plan: &Plan,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl SendLedger for Store {
    async fn load(&self, team: &TeamCode, job: &SendJob) -> Result<Loaded, StoreError> {
        Store::load(self, team, job).await
    }
    async fn load_many(&self, jobs: &[(TeamCode, &SendJob)]) -> Result<Vec<Loaded>, StoreError> {
        Store::load_many(self, jobs).await
    }
    async fn put_intent(&self, record: &MessageRecord) -> Result<bool, StoreError> {
        Store::put_intent(self, record).await
    }
    async fn take_over(
        &self,
        team: &TeamCode,
        message_id: &str,
        expired_lease: i64,
    ) -> Result<bool, StoreError> {
        Store::take_over(self, team, message_id, expired_lease).await
    }
    async fn mark_sent(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
        template_version: u32,
        status: &str,
        sms_fragments: Option<u32>,
    ) -> Result<(), StoreError> {
        Store::mark_sent(
            self,
            team,
            message_id,
            notify_id,
            template_version,
            status,
            sms_fragments,
        )
        .await
    }
    async fn mark_failed(
        &self,
        team: &TeamCode,
        message_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        Store::mark_failed(self, team, message_id, status).await
    }
    async fn open_letter(
        &self,
        team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
    ) -> Result<(), StoreError> {
        Store::open_letter(self, team, message_id, notify_id).await
    }
    async fn hold_until_midnight(&self, team: &TeamCode) -> Result<Duration, StoreError> {
        Store::hold_until_midnight(self, team).await
    }
    async fn record_decision(
        &self,
        team: &TeamCode,
        job: &SendJob,
        plan: &Plan,
    ) -> Result<(), StoreError> {
        Store::record_decision(self, team, job, plan).await
    }
}

/// GOV.UK Notify, as far as sending goes.
pub trait NotifyPort: Send + Sync {
    /// Sends an email.
    fn send_email(
        &self,
        request: &EmailRequest,
    ) -> impl Future<Output = Result<SentNotification, NotifyError>> + Send;
    /// Sends a text.
    fn send_sms(
        &self,
        request: &SmsRequest,
    ) -> impl Future<Output = Result<SentNotification, NotifyError>> + Send;
    /// Sends a letter.
    fn send_letter(
        &self,
        request: &LetterRequest,
    ) -> impl Future<Output = Result<SentNotification, NotifyError>> + Send;
    /// Every notification sent with `reference` (how a send in doubt is reconciled).
    fn find_by_reference(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Vec<NotificationStatus>, NotifyError>> + Send;
    /// One notification's status (how a letter in the post is followed).
    fn get_notification(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<NotificationStatus, NotifyError>> + Send;
}

impl NotifyPort for NotifyClient {
    async fn send_email(&self, request: &EmailRequest) -> Result<SentNotification, NotifyError> {
        NotifyClient::send_email(self, request).await
    }
    async fn send_sms(&self, request: &SmsRequest) -> Result<SentNotification, NotifyError> {
        NotifyClient::send_sms(self, request).await
    }
    async fn send_letter(&self, request: &LetterRequest) -> Result<SentNotification, NotifyError> {
        NotifyClient::send_letter(self, request).await
    }
    async fn find_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<NotificationStatus>, NotifyError> {
        NotifyClient::find_by_reference(self, reference).await
    }
    async fn get_notification(&self, id: Uuid) -> Result<NotificationStatus, NotifyError> {
        NotifyClient::get_notification(self, id).await
    }
}

/// A team's Notify service: the client that sends with its key and the pacer of its limit.
#[derive(Debug)]
pub struct NotifyService<N = NotifyClient, P = Pacer> {
    /// The client, with the service's API key.
    pub notify: N,
    /// The service's shared rate limit.
    pub pacer: P,
}

/// A team's service, shared by every job of the team while it is cached.
pub type TeamService<N = NotifyClient, P = Pacer> = Arc<NotifyService<N, P>>;

/// Which Notify service sends for a team. In AWS, [`crate::teams::TeamServices`]: the team's own
/// service when its settings name one, the deployment's otherwise.
pub trait NotifyServices: Send + Sync {
    /// The client type.
    type Notify: NotifyPort;
    /// The pacer type.
    type Pacer: Pace;
    /// The team's service. Failing is our own set-up's or infrastructure's failure (a secret
    /// that cannot be read): retried, never recorded against a family.
    fn for_team(
        &self,
        team: &TeamCode,
    ) -> impl Future<Output = Result<TeamService<Self::Notify, Self::Pacer>, TeamError>> + Send;
}

/// One Notify service for every team (the local stack's single simulator, unit tests).
#[derive(Debug)]
pub struct OneService<N, P>(Arc<NotifyService<N, P>>);

impl<N, P> OneService<N, P> {
    /// Every team sends through `notify`, paced by `pacer`.
    pub fn new(notify: N, pacer: P) -> Self {
        Self(Arc::new(NotifyService { notify, pacer }))
    }

    /// The one service.
    pub fn service(&self) -> &NotifyService<N, P> {
        &self.0
    }
}

impl<N: NotifyPort, P: Pace> NotifyServices for OneService<N, P> {
    type Notify = N;
    type Pacer = P;
    async fn for_team(&self, _team: &TeamCode) -> Result<Arc<NotifyService<N, P>>, TeamError> {
        Ok(Arc::clone(&self.0))
    }
}

/// The send queue: where the schedule and the webhook put jobs, and a held job goes back to
/// wait.
pub trait SendQueue: Send + Sync {
    /// Puts `job` on the queue, visible after `delay_seconds` (0–900).
    fn enqueue(
        &self,
        job: &SendJob,
        delay_seconds: i32,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Puts up to ten `(id, body)` entries on the queue in one request; the ids of the entries
    /// the queue did not take (to be sent again).
    fn enqueue_batch(
        &self,
        entries: &[(String, String)],
    ) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;
}

/// The send queue in SQS.
#[derive(Debug, Clone)]
pub struct SqsSendQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl SqsSendQueue {
    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
        }
    }
}

impl SendQueue for SqsSendQueue {
    async fn enqueue(&self, job: &SendJob, delay_seconds: i32) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(QueueError::Encode)?;
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(QueueError::sqs)?;
        Ok(())
    }

    async fn enqueue_batch(&self, entries: &[(String, String)]) -> Result<Vec<String>, QueueError> {
        let entries = entries
            .iter()
            .map(|(id, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(QueueError::sqs)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(QueueError::sqs)?;
        Ok(out.failed.into_iter().map(|f| f.id).collect())
    }
}

/// The shared rate limit every dispatcher draws from before calling Notify.
pub trait Pace: Send + Sync {
    /// Waits for a token.
    fn acquire(&self) -> impl Future<Output = Result<(), PacerError>> + Send;
    /// Empties the bucket (after a 429, so every dispatcher backs off).
    fn drain(&self) -> impl Future<Output = Result<(), PacerError>> + Send;
}

impl Pace for Pacer {
    async fn acquire(&self) -> Result<(), PacerError> {
        Pacer::acquire(self).await
    }
    async fn drain(&self) -> Result<(), PacerError> {
        Pacer::drain(self).await
    }
}

/// One client is one service for every team, unpaced: how the local stack and tests follow
/// letters with the simulator's single key.
impl NotifyServices for NotifyClient {
    type Notify = NotifyClient;
    type Pacer = Unpaced;
    async fn for_team(
        &self,
        _team: &TeamCode,
    ) -> Result<Arc<NotifyService<NotifyClient, Unpaced>>, TeamError> {
        Ok(Arc::new(NotifyService {
            notify: self.clone(),
            pacer: Unpaced,
        }))
    }
}

/// No pacing: for callers that only read from Notify (following letters in the post).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpaced;

impl Pace for Unpaced {
    async fn acquire(&self) -> Result<(), PacerError> {
        Ok(())
    }
    async fn drain(&self) -> Result<(), PacerError> {
        Ok(())
    }
}
