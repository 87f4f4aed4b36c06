//! What the simulator remembers: notifications, limits, queued faults and the callback log.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rate_limit::{DailyCounter, TokenBucket};
use crate::vocab::{self, NotificationType, Status};

/// A notification as the simulator stores it (raw status, all timestamps).
#[derive(Debug, Clone)]
pub struct Record {
    /// Insertion order; newest-first listings sort on it.
    pub seq: u64,
    /// Notify's id for the notification.
    pub id: Uuid,
    /// Email, SMS or letter.
    pub kind: NotificationType,
    /// The sender's reference.
    pub reference: Option<String>,
    /// Recipient as submitted (letters: address line 1).
    pub to: String,
    /// The template the sender named.
    pub template_id: Uuid,
    /// Always 1: the simulator has no template history.
    pub template_version: u32,
    /// Values as submitted.
    pub personalisation: Map<String, Value>,
    /// Current raw status.
    pub status: Status,
    /// The status the simulated provider will report.
    pub outcome: Status,
    /// When the API accepted it.
    pub created_at: OffsetDateTime,
    /// When it was handed to the provider.
    pub sent_at: Option<OffsetDateTime>,
    /// When its status last changed.
    pub updated_at: Option<OffsetDateTime>,
    /// Rendered content.
    pub body: String,
    /// Email and letter subject.
    pub subject: Option<String>,
    /// Email only.
    pub one_click_unsubscribe_url: Option<String>,
    /// Sent to a smoke-test recipient: Notify answers 201 but never stores it.
    pub simulated: bool,
    /// The reply-to (email) or text sender id the request named.
    pub sender_id: Option<Uuid>,
}

impl Record {
    /// `completed_at` as Notify reports it: the last update, once the status is final.
    pub fn completed_at(&self) -> Option<OffsetDateTime> {
        if self.status.is_final() {
            self.updated_at
        } else {
            None
        }
    }

    /// The public snapshot handed to tests and the admin API.
    pub fn snapshot(&self) -> Notification {
        Notification {
            id: self.id,
            reference: self.reference.clone(),
            notification_type: self.kind,
            to: self.to.clone(),
            template_id: self.template_id,
            template_version: self.template_version,
            personalisation: Value::Object(self.personalisation.clone()),
            status: self.status.api_name(self.kind).to_owned(),
            created_at: self.created_at,
            sent_at: self.sent_at,
            completed_at: self.completed_at(),
            body: self.body.clone(),
            subject: self.subject.clone(),
            simulated: self.simulated,
            sender_id: self.sender_id,
        }
    }
}

/// A notification the simulator accepted (201), as tests and `/_sim/notifications` see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Notify's id.
    pub id: Uuid,
    /// The sender's reference.
    pub reference: Option<String>,
    /// Email, SMS or letter.
    pub notification_type: NotificationType,
    /// Recipient as submitted; for letters, address line 1.
    pub to: String,
    /// The template named in the request.
    pub template_id: Uuid,
    /// Always 1.
    pub template_version: u32,
    /// Personalisation exactly as submitted (letters include the address).
    pub personalisation: Value,
    /// Status as the API shows it now (letters: `accepted`/`received`).
    pub status: String,
    /// When it was accepted.
    #[serde(serialize_with = "vocab::serialize_timestamp")]
    pub created_at: OffsetDateTime,
    /// When it went to the simulated provider.
    #[serde(serialize_with = "vocab::serialize_opt_timestamp")]
    pub sent_at: Option<OffsetDateTime>,
    /// When it reached a final status.
    #[serde(serialize_with = "vocab::serialize_opt_timestamp")]
    pub completed_at: Option<OffsetDateTime>,
    /// The rendered body (the simulator lists the personalisation).
    pub body: String,
    /// Email and letter subject.
    pub subject: Option<String>,
    /// A smoke-test recipient: Notify does not store it, so the API cannot find it later.
    pub simulated: bool,
    /// The `email_reply_to_id` or `sms_sender_id` the request named (not in Notify's own
    /// notification view; the simulator shows it so tests can check which sender was used).
    pub sender_id: Option<Uuid>,
}

/// What an injected fault does to the next send request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer 500 `Exception` "Internal server error" without creating anything.
    #[serde(rename = "error_500")]
    Error500,
    /// Hold the request, then close the connection without creating anything.
    Timeout,
    /// Create the notification, then hold the request and close the connection.
    TimeoutAfterCreate,
}

/// One queued fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What to do.
    pub mode: FaultMode,
    /// How long the timeout modes hold the request open.
    pub hold: Duration,
}

/// Which kind of callback an attempt belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKind {
    /// A delivery receipt for a notification.
    DeliveryStatus,
    /// A received text message.
    InboundSms,
}

/// One POST to the service's callback URL, as `/_sim/callbacks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackAttempt {
    /// Delivery receipt or inbound text.
    pub kind: CallbackKind,
    /// The notification id (delivery receipts) or inbound message id.
    pub id: Uuid,
    /// 1 for the first try; Notify retries up to 5 more times.
    pub attempt: u32,
    /// The status reported (delivery receipts only).
    pub notification_status: Option<String>,
    /// When the attempt finished.
    #[serde(serialize_with = "vocab::serialize_timestamp")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Connection error or timeout, if it did not.
    pub error: Option<String>,
    /// `delivered`, `retrying`, `dropped` (a 4xx other than 429) or `gave_up` (retries exhausted).
    pub outcome: &'static str,
}

/// Counters reported by `/_sim/stats`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    /// 429 `RateLimitError` answers.
    pub rate_limited: u64,
    /// 429 `TooManyRequestsError` answers.
    pub daily_limited: u64,
    /// Faults that fired.
    pub faults_fired: u64,
}

/// Everything mutable, behind one mutex that is never held across an await.
#[derive(Debug)]
pub struct State {
    /// Every notification accepted, oldest first.
    pub records: Vec<Record>,
    /// Position in `records` by id.
    pub by_id: HashMap<Uuid, usize>,
    /// The API key's token bucket.
    pub bucket: TokenBucket,
    /// Today's sends per channel.
    pub daily: DailyCounter,
    /// Faults waiting for the next send requests.
    pub faults: VecDeque<Fault>,
    /// Every callback attempt.
    pub callback_log: Vec<CallbackAttempt>,
    /// Limits hit and faults fired.
    pub counters: Counters,
    /// `server-error+…@simulator.notify` addresses already answered with a 500.
    pub errored_once: std::collections::HashSet<String>,
    next_seq: u64,
}

impl State {
    /// An empty state with a full bucket.
    pub fn new(rate_limit_per_min: u32) -> Self {
        Self {
            records: Vec::new(),
            by_id: HashMap::new(),
            bucket: TokenBucket::new(rate_limit_per_min),
            daily: DailyCounter::default(),
            faults: VecDeque::new(),
            callback_log: Vec::new(),
            counters: Counters::default(),
            errored_once: Default::default(),
            next_seq: 0,
        }
    }

    /// The next insertion number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Stores a record.
    pub fn insert(&mut self, record: Record) {
        self.by_id.insert(record.id, self.records.len());
        self.records.push(record);
    }

    /// The record with this id, if any.
    pub fn get_mut(&mut self, id: Uuid) -> Option<&mut Record> {
        let i = *self.by_id.get(&id)?;
        self.records.get_mut(i)
    }

    /// A stored (non-simulated) record by id, as the API may return it.
    pub fn find(&self, id: Uuid) -> Option<&Record> {
        let i = *self.by_id.get(&id)?;
        self.records.get(i).filter(|r| !r.simulated)
    }
}
