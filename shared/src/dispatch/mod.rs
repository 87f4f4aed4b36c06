//! The dispatcher: send jobs from SQS → the child's record, contact statuses, objections and the
//! campaign, read *at send time* → the channel policy → Notify, exactly once per (campaign,
//! child, recipient, purpose, channel), paced to the service's limit across every instance.
//!
//! Exactly once (aws.md): the message id is derived from those five parts; the intent is
//! recorded with a conditional put before Notify is called and the id is sent as `reference`;
//! a job that finds an intent without a Notify id (an earlier attempt died mid-call) asks
//! Notify for that reference before sending again.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::campaign::Campaign;
pub use crate::jobs::{JobKind, SendJob};
use crate::notify::{
    EmailRequest, LetterRequest, NotifyError, Personalisation, SenderAction, SmsRequest,
};
use crate::policy::{Channel, Plan, PlannedSend, plan};
use crate::sqs_batch::{BatchError, process_batch};
use crate::store::{Facts, Loaded, MessageRecord, Store, StoreError, TeamSendSettings};

pub mod ports;
pub use ports::{
    MessageLedger, NotifyPort, NotifyService, NotifyServices, OneService, Pace, SendLedger,
    SendQueue, SqsSendQueue, Unpaced,
};

#[cfg(test)]
mod tests;
use crate::uploads::TeamCode;

/// Why a job could not be finished now (the SQS message fails and is retried, then
/// dead-lettered with an alarm — never dropped).
///
/// Each variant keeps the failure's own kind and source: a failure of our infrastructure (the
/// table, the pacer, the queue) is never recorded against a recipient, a message or a contact
/// detail. Only Notify's answer about a recipient does that, and it is not an error here: it is
/// a [`JobOutcome::permanent_failures`] and a fallback.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The body is not a send job.
    #[error("not a send job")]
    BadJob(#[source] serde_json::Error),
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Pacing failed (the shared token bucket could not be read or written).
    #[error(transparent)]
    Pacer(#[from] crate::store::pacer::PacerError),
    /// The team's Notify service could not be resolved (its settings or a secret they name
    /// could not be read): our own set-up or infrastructure, never the family's.
    #[error("the team's Notify service: {0}")]
    Service(#[from] crate::teams::TeamError),
    /// Notify failed in a way worth retrying later, or is misconfigured (alarm).
    #[error("Notify: {0}")]
    Notify(#[source] NotifyError),
    /// The campaign the job names is not known.
    #[error("campaign not found")]
    NoCampaign,
    /// The campaign has no template for this purpose and channel.
    #[error("the campaign has no {channel} template for {purpose}")]
    NoTemplate {
        /// The purpose.
        purpose: &'static str,
        /// The channel.
        channel: &'static str,
    },
    /// Re-queueing a held job failed.
    #[error("re-queueing failed: {0}")]
    Requeue(#[source] QueueError),
    /// Another attempt is sending this message now; retry the job later.
    #[error("another attempt owns this message")]
    InFlight,
}

/// The send queue could not take a job. `Display` holds SQS's error code and message, never
/// the job's body.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The job could not be written as JSON.
    #[error("send queue: the job could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// SQS refused or did not answer.
    #[error("send queue: {context}")]
    Sqs {
        /// SQS's error code and message.
        context: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl QueueError {
    /// SQS's error (or the SDK's refusal to build the request), kept as the source.
    pub fn sqs(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Sqs {
            context: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            source: Box::new(e),
        }
    }
}

/// What a job came to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOutcome {
    /// Messages Notify accepted in this run.
    pub sent: u32,
    /// Messages found already sent (a repeated job, or reconciled by reference).
    pub already_sent: u32,
    /// Sends Notify refused for the recipient (the detail is marked failed; fallback planned).
    pub permanent_failures: u32,
    /// Held until Notify's daily limit resets.
    pub held: bool,
    /// The final plan.
    pub plan: Plan,
}

/// The dispatcher's dependencies, built once per process: in AWS the table, the send queue and
/// each team's Notify service with its shared pacer (the default type parameters); in a unit
/// test, fakes of the same [`ports`].
#[derive(Debug, Clone)]
pub struct Dispatcher<L = Store, Q = SqsSendQueue, S = crate::teams::TeamServices> {
    store: L,
    queue: Q,
    services: S,
    concurrency: usize,
}

/// How a single planned send ended.
enum Delivery {
    Sent,
    AlreadySent,
    Permanent(Channel),
}

impl<S: NotifyServices> Dispatcher<Store, SqsSendQueue, S> {
    /// A dispatcher over these clients, sending through each team's service in `services`.
    pub fn with_services(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        send_queue_url: impl Into<String>,
        services: S,
    ) -> Self {
        Self {
            store,
            queue: SqsSendQueue::new(sqs, send_queue_url),
            services,
            concurrency: 10,
        }
    }

    /// Changes how long an attempt owns a message's intent (tests simulating a dead attempt
    /// use 0 so the retry may take over at once).
    pub fn with_lease_seconds(mut self, seconds: i64) -> Self {
        self.store = self.store.with_lease_seconds(seconds);
        self
    }
}

impl<L: SendLedger, Q: SendQueue, N: NotifyPort, P: Pace> Dispatcher<L, Q, OneService<N, P>> {
    /// A dispatcher over these ports, one Notify service for every team.
    pub fn with_ports(store: L, queue: Q, notify: N, pacer: P) -> Self {
        Self {
            store,
            queue,
            services: OneService::new(notify, pacer),
            concurrency: 10,
        }
    }
}

impl<L: SendLedger, Q: SendQueue, S: NotifyServices> Dispatcher<L, Q, S> {
    /// Handles one SQS batch; failed jobs are reported for retry.
    ///
    /// Every job's records are read together first (two `BatchGetItem` calls for the batch, not
    /// two per job); a job whose read could not be shared reads its own.
    pub async fn handle_batch(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        let mut jobs: Vec<(String, TeamCode, SendJob)> = Vec::new();
        for record in &event.records {
            let (Some(id), Ok(job)) = (&record.message_id, parse_job(record)) else {
                continue;
            };
            jobs.push((id.clone(), job.team.clone(), job));
        }
        let prepared: std::sync::Mutex<HashMap<String, (SendJob, Loaded)>> =
            std::sync::Mutex::default();
        let keys: Vec<(TeamCode, &SendJob)> = jobs.iter().map(|(_, t, j)| (t.clone(), j)).collect();
        match self.store.load_many(&keys).await {
            Ok(loaded) => {
                let mut map = prepared.lock().expect("not poisoned");
                for ((id, _, job), loaded) in jobs.iter().zip(loaded) {
                    map.insert(id.clone(), (job.clone(), loaded));
                }
            }
            Err(e) => tracing::warn!(error = %e, "batch read failed; each job reads its own"),
        }
        process_batch(event, self.concurrency, |m| {
            let ready = m
                .message_id
                .as_ref()
                .and_then(|id| prepared.lock().expect("not poisoned").remove(id));
            async move {
                match ready {
                    Some((job, loaded)) => {
                        let outcome = self.run_job(&job, loaded).await?;
                        log_outcome(&job, &outcome);
                        Ok(())
                    }
                    None => self.handle_message(m).await,
                }
            }
        })
        .await
    }

    /// Handles one SQS message.
    pub async fn handle_message(&self, message: SqsMessage) -> Result<(), DispatchError> {
        let job = parse_job(&message)?;
        let outcome = self.handle_job(&job).await?;
        log_outcome(&job, &outcome);
        Ok(())
    }

    /// Runs one job to completion (or to an error to be retried).
    pub async fn handle_job(&self, job: &SendJob) -> Result<JobOutcome, DispatchError> {
        let loaded = self.store.load(&job.team, job).await?;
        self.run_job(job, loaded).await
    }

    /// Runs one job on the records read for it.
    async fn run_job(&self, job: &SendJob, loaded: Loaded) -> Result<JobOutcome, DispatchError> {
        let team = job.team.clone();
        let mut outcome = JobOutcome::default();
        if let Some(wait) = loaded.hold {
            self.requeue(job, wait).await?;
            outcome.held = true;
            return Ok(outcome);
        }
        let campaign = loaded.campaign.ok_or(DispatchError::NoCampaign)?;
        let loaded_senders = loaded.senders;
        let Some(facts) = loaded.facts else {
            tracing::warn!(
                child_id = job.child_id.as_str(),
                "child not found; nothing to send"
            );
            return Ok(outcome);
        };

        // A retry sends to the retried message's channel and recipient only.
        let mut retry_target = match &job.retry_of {
            None => None,
            Some(id) => match self.store.message(&team, id).await? {
                Some(m) => Some((m.channel, m.recipient)),
                None => {
                    tracing::warn!(message_id = id.as_str(), "retried message not found");
                    return Ok(outcome);
                }
            },
        };
        let mut failed = job.failed_channels.clone();
        // A permanent failure found while sending makes the policy plan the fallback at once;
        // the message ids keep sends that already happened from happening again.
        for _round in 0..4 {
            let input = facts.policy_input(job.purpose, &campaign, &failed);
            let mut planned = plan(&input);
            if let Some((channel, recipient)) = &retry_target {
                planned
                    .sends
                    .retain(|s| s.channel == *channel && &s.recipient == recipient);
            }
            let mut new_failure = false;
            for send in &planned.sends {
                match self
                    .deliver(&team, job, &campaign, &facts, loaded_senders, send)
                    .await
                {
                    Ok(Delivery::Sent) => outcome.sent += 1,
                    Ok(Delivery::AlreadySent) => outcome.already_sent += 1,
                    Ok(Delivery::Permanent(channel)) => {
                        outcome.permanent_failures += 1;
                        if !failed.contains(&channel) {
                            failed.push(channel);
                            new_failure = true;
                        }
                    }
                    Err(DispatchError::Notify(e))
                        if e.action() == SenderAction::HoldUntilTomorrow =>
                    {
                        let wait = self.store.hold_until_midnight(&team).await?;
                        self.requeue(job, wait).await?;
                        outcome.held = true;
                        outcome.plan = planned;
                        return Ok(outcome);
                    }
                    Err(e) => return Err(e),
                }
            }
            outcome.plan = planned;
            if !new_failure {
                break;
            }
            // The retried channel failed for good: the fallback is the whole plan again.
            retry_target = None;
        }
        // Sends are recorded by their message records; a decision item is only needed when
        // something was skipped or the family must be followed up by hand.
        if !outcome.plan.skipped.is_empty() || outcome.plan.manual_follow_up {
            self.store
                .record_decision(&team, job, &outcome.plan)
                .await?;
        }
        Ok(outcome)
    }

    /// Sends one planned message exactly once.
    async fn deliver(
        &self,
        team: &TeamCode,
        job: &SendJob,
        campaign: &Campaign,
        facts: &Facts,
        senders: TeamSendSettings,
        send: &PlannedSend,
    ) -> Result<Delivery, DispatchError> {
        let template_id = campaign
            .templates
            .for_purpose(job.purpose)
            .for_channel(send.channel)
            .ok_or(DispatchError::NoTemplate {
                purpose: job.purpose.as_str(),
                channel: send.channel.as_str(),
            })?;
        let personalisation = facts.personalisation(campaign);
        let mut record = MessageRecord::intent(
            team,
            job,
            send,
            template_id,
            &personalisation,
            self.store.clock(),
        );
        if let Some(days) = senders.records_days {
            record.expires_at = self.store.clock().epoch() + i64::from(days) * 86_400;
        }
        let message_id = record.message_id.clone();

        if !self.store.put_intent(&record).await?
            && let Some(done) = self.resume(team, send, &message_id).await?
        {
            return Ok(done);
        }

        let result = self
            .call_notify(
                team,
                send,
                (template_id, &personalisation),
                facts,
                senders,
                &message_id,
            )
            .await;
        self.record_answer(team, send, &message_id, result).await
    }

    /// The intent was already there: a repeated job, or another attempt's. The delivery it
    /// already came to, or `None` when this attempt took over a dead attempt's intent and
    /// found nothing at Notify, so it sends.
    async fn resume(
        &self,
        team: &TeamCode,
        send: &PlannedSend,
        message_id: &str,
    ) -> Result<Option<Delivery>, DispatchError> {
        let Some(existing) = self.store.message(team, message_id).await? else {
            return Err(DispatchError::InFlight);
        };
        match existing.state.as_str() {
            "sent" => {
                // The attempt that sent a letter may have died between recording it and
                // opening it for polling (Notify sends no callbacks for letters): open it
                // again unless its final status is in (a put of the same item: idempotent).
                if !crate::notify::Status::parse(&existing.status).is_final()
                    && let Some(notify_id) =
                        existing.notify_id.as_deref().and_then(|id| id.parse().ok())
                {
                    self.poll_if_letter(team, send, message_id, notify_id)
                        .await?;
                }
                return Ok(Some(Delivery::AlreadySent));
            }
            "failed" => return Ok(Some(Delivery::Permanent(send.channel))),
            _ => {
                // Another attempt owns the intent: it may be sending right now. Only when
                // its lease has run out (it died) may this one reconcile and send.
                if !self
                    .store
                    .take_over(team, message_id, existing.lease_until)
                    .await?
                {
                    return Err(DispatchError::InFlight);
                }
                let found = self
                    .services
                    .for_team(team)
                    .await?
                    .notify
                    .find_by_reference(message_id)
                    .await
                    .map_err(DispatchError::Notify)?;
                if let Some(n) = found.first() {
                    self.store
                        .mark_sent(
                            team,
                            message_id,
                            n.id,
                            n.template_version,
                            n.status.as_str(),
                            // Notify's list answer has no body to count.
                            None,
                        )
                        .await?;
                    // The attempt that sent it died before it could open a letter for
                    // polling.
                    self.poll_if_letter(team, send, message_id, n.id).await?;
                    tracing::info!(message_id, "reconciled by reference");
                    return Ok(Some(Delivery::AlreadySent));
                }
            }
        }
        Ok(None)
    }

    /// Records Notify's answer: accepted (and a letter opened for polling), refused for the
    /// recipient (the message failed, the detail marked failed), or an error to retry.
    async fn record_answer(
        &self,
        team: &TeamCode,
        send: &PlannedSend,
        message_id: &str,
        result: Result<crate::notify::SentNotification, DispatchError>,
    ) -> Result<Delivery, DispatchError> {
        match result {
            Ok(sent) => {
                self.store
                    .mark_sent(
                        team,
                        message_id,
                        sent.id,
                        sent.template_version,
                        "created",
                        (send.channel == Channel::Sms).then_some(sent.sms_fragments),
                    )
                    .await?;
                self.poll_if_letter(team, send, message_id, sent.id).await?;
                Ok(Delivery::Sent)
            }
            // Only Notify's own answer about this recipient blames the recipient.
            Err(DispatchError::Notify(e)) if e.action() == SenderAction::PermanentForRecipient => {
                tracing::warn!(
                    message_id,
                    channel = send.channel.as_str(),
                    error = e
                        .error_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    "Notify refused the recipient; marking the detail failed"
                );
                self.store
                    .mark_failed(team, message_id, "validation-failed")
                    .await?;
                if let Some(detail) = send.channel.detail(&send.recipient) {
                    self.store
                        .set_detail_status(team, &detail.key(), "failed")
                        .await?;
                }
                Ok(Delivery::Permanent(send.channel))
            }
            Err(e) => Err(e),
        }
    }

    /// Notify sends no callbacks for letters: a sent letter is polled until its status is final
    /// (an idempotent put, so every path that finds a letter sent may call it).
    async fn poll_if_letter(
        &self,
        team: &TeamCode,
        send: &PlannedSend,
        message_id: &str,
        notify_id: uuid::Uuid,
    ) -> Result<(), DispatchError> {
        if send.channel == Channel::Letter {
            self.store.open_letter(team, message_id, notify_id).await?;
        }
        Ok(())
    }

    /// Calls Notify for one message, pacing first and retrying briefly on 429 and 5xx.
    ///
    /// A pacer failure is [`DispatchError::Pacer`]: the job is retried and nobody is blamed.
    async fn call_notify(
        &self,
        team: &TeamCode,
        send: &PlannedSend,
        (template_id, personalisation): (uuid::Uuid, &Personalisation),
        facts: &Facts,
        senders: TeamSendSettings,
        reference: &str,
    ) -> Result<crate::notify::SentNotification, DispatchError> {
        let service = self.services.for_team(team).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            service.pacer.acquire().await?;
            let result = match send.channel {
                Channel::Email => {
                    service
                        .notify
                        .send_email(&EmailRequest {
                            email_address: send.recipient.clone(),
                            template_id,
                            personalisation: personalisation.clone(),
                            reference: reference.to_owned(),
                            email_reply_to_id: senders.email_reply_to_id,
                        })
                        .await
                }
                Channel::Sms => {
                    service
                        .notify
                        .send_sms(&SmsRequest {
                            phone_number: send.recipient.clone(),
                            template_id,
                            personalisation: personalisation.clone(),
                            reference: reference.to_owned(),
                            sms_sender_id: senders.sms_sender_id,
                        })
                        .await
                }
                Channel::Letter => {
                    let Some(address) = facts.letter_address() else {
                        // The policy plans a letter only to a usable address; an address that
                        // cannot be printed is the record's, like Notify's own refusal of it.
                        return Err(DispatchError::Notify(NotifyError::InvalidRequest(
                            "no letter address",
                        )));
                    };
                    service
                        .notify
                        .send_letter(&LetterRequest {
                            template_id,
                            address,
                            postcode: None,
                            personalisation: personalisation.clone(),
                            reference: reference.to_owned(),
                        })
                        .await
                }
            };
            match result {
                Err(e) if e.action() == SenderAction::RetryLater && attempt < 4 => {
                    if e.status() == Some(429) {
                        // Notify says we went too fast: every dispatcher backs off. A failed
                        // drain only means the others are not told; this one still waits.
                        if let Err(drain) = service.pacer.drain().await {
                            tracing::warn!(error = %drain, "pacer could not be drained after a 429");
                        }
                    }
                    if e.may_have_been_created() {
                        // Never send twice: only a fresh job run may reconcile and resend.
                        return Err(DispatchError::Notify(e));
                    }
                    tokio::time::sleep(Duration::from_millis(250 * (1 << attempt))).await;
                }
                other => return other.map_err(DispatchError::Notify),
            }
        }
    }

    /// Puts the job back on the queue to run after `wait` (at most SQS's 15-minute delay; a
    /// longer hold is re-checked and re-queued each time).
    async fn requeue(&self, job: &SendJob, wait: Duration) -> Result<(), DispatchError> {
        let delay = wait.as_secs().clamp(1, 900) as i32;
        self.queue
            .enqueue(job, delay)
            .await
            .map_err(DispatchError::Requeue)
    }
}

fn parse_job(message: &SqsMessage) -> Result<SendJob, DispatchError> {
    serde_json::from_str(message.body.as_deref().unwrap_or("")).map_err(DispatchError::BadJob)
}

/// One log line per job: ids and counts only.
fn log_outcome(job: &SendJob, outcome: &JobOutcome) {
    tracing::info!(
        child_id = job.child_id.as_str(),
        campaign_id = job.campaign_id.as_str(),
        purpose = job.purpose.as_str(),
        sent = outcome.sent,
        already_sent = outcome.already_sent,
        permanent_failures = outcome.permanent_failures,
        skipped = outcome.plan.skipped.len(),
        manual_follow_up = outcome.plan.manual_follow_up,
        held = outcome.held,
        "send job done"
    );
}
