//! What the simulator remembers: notifications, limits, queued faults and the callback log.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

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
    /// The service that sent it.
    pub service_id: Uuid,
    /// Email, SMS or letter.
    pub kind: NotificationType,
    /// The sender's reference.
    pub reference: Option<String>,
    /// Recipient as submitted (letters: address line 1).
    pub to: String,
    /// The template the sender named.
    pub template_id: Uuid,
    /// The template's version (1 when the service has no templates).
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
            service_id: self.service_id,
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
    /// The service that sent it (not in Notify's own notification view).
    pub service_id: Uuid,
    /// The sender's reference.
    pub reference: Option<String>,
    /// Email, SMS or letter.
    pub notification_type: NotificationType,
    /// Recipient as submitted; for letters, address line 1.
    pub to: String,
    /// The template named in the request.
    pub template_id: Uuid,
    /// The template's version (1 when the service has no templates).
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
    /// The rendered body: the template filled in, or (when the service has no templates) the
    /// personalisation listed as `key: value` lines.
    pub body: String,
    /// Email and letter subject.
    pub subject: Option<String>,
    /// A smoke-test recipient: Notify does not store it, so the API cannot find it later.
    pub simulated: bool,
    /// The `email_reply_to_id` or `sms_sender_id` the request named (not in Notify's own
    /// notification view; the simulator shows it so tests can check which sender was used).
    pub sender_id: Option<Uuid>,
}

/// What an injected fault does to a request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer 500 `Exception` "Internal server error" without creating anything.
    #[serde(rename = "error_500")]
    Error500,
    /// Answer 429 `RateLimitError` "Exceeded rate limit for key type LIVE of N requests per 60
    /// seconds" (N the configured limit) without creating anything.
    #[serde(rename = "error_429")]
    Error429,
    /// Hold the request, then close the connection without creating anything.
    Timeout,
    /// Create the notification, then hold the request and close the connection. On a `GET`
    /// there is nothing to create, so it acts as [`FaultMode::Timeout`].
    TimeoutAfterCreate,
    /// Hold the request, then serve it normally (a latency spike).
    Latency,
}

impl FaultMode {
    /// Every mode, in the order stats list them.
    pub const ALL: [FaultMode; 5] = [
        FaultMode::Error500,
        FaultMode::Error429,
        FaultMode::Timeout,
        FaultMode::TimeoutAfterCreate,
        FaultMode::Latency,
    ];

    /// The name the admin API uses (`error_500`, `latency`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Error500 => "error_500",
            FaultMode::Error429 => "error_429",
            FaultMode::Timeout => "timeout",
            FaultMode::TimeoutAfterCreate => "timeout_after_create",
            FaultMode::Latency => "latency",
        }
    }

    /// How long the mode holds a request when no hold is given: 30 s for the timeout modes
    /// (longer than most clients wait), 2 s for a latency spike, nothing for the error modes.
    pub fn default_hold(self) -> Duration {
        match self {
            FaultMode::Timeout | FaultMode::TimeoutAfterCreate => Duration::from_millis(30_000),
            FaultMode::Latency => Duration::from_millis(2_000),
            FaultMode::Error500 | FaultMode::Error429 => Duration::ZERO,
        }
    }
}

/// Which requests a fault may hit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOn {
    /// `POST /v2/notifications/email|sms|letter` (the default).
    #[default]
    Send,
    /// `GET /v2/notifications/{id}` and `GET /v2/notifications?reference=…` (the list).
    Get,
    /// Either.
    Any,
}

impl FaultOn {
    /// Whether a fault aimed at `self` hits a request of kind `request` (`Send` or `Get`).
    pub fn hits(self, request: FaultOn) -> bool {
        self == FaultOn::Any || self == request
    }

    /// The name the admin API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultOn::Send => "send",
            FaultOn::Get => "get",
            FaultOn::Any => "any",
        }
    }
}

/// How long an injected fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSpan {
    /// The next `n` requests it may hit (that would otherwise succeed).
    Count(u32),
    /// Every request it may hit (that would otherwise succeed) from now until the window ends.
    For(Duration),
}

/// A fault to inject through [`crate::SimHandle::inject_fault`]: the same thing as a
/// `POST /_sim/faults` body. [`Fault::new`] gives one fault on the next send with the mode's
/// default hold; the builder methods change that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What to do.
    pub mode: FaultMode,
    /// A number of requests or a time window.
    pub span: FaultSpan,
    /// Which requests it may hit.
    pub on: FaultOn,
    /// How long `timeout`, `timeout_after_create` and `latency` hold a request;
    /// `None`: [`FaultMode::default_hold`].
    pub hold: Option<Duration>,
}

impl Fault {
    /// One `mode` fault on the next send, default hold.
    pub fn new(mode: FaultMode) -> Self {
        Self {
            mode,
            span: FaultSpan::Count(1),
            on: FaultOn::Send,
            hold: None,
        }
    }

    /// The next `n` requests instead (`"count": n`).
    pub fn count(self, n: u32) -> Self {
        Self {
            span: FaultSpan::Count(n),
            ..self
        }
    }

    /// Every request during the next `window`, starting now (`"for_ms"`).
    pub fn for_duration(self, window: Duration) -> Self {
        Self {
            span: FaultSpan::For(window),
            ..self
        }
    }

    /// Which requests it may hit (`"on"`).
    pub fn on(self, on: FaultOn) -> Self {
        Self { on, ..self }
    }

    /// How long the holding modes hold (`"hold_ms"`).
    pub fn hold(self, hold: Duration) -> Self {
        Self {
            hold: Some(hold),
            ..self
        }
    }

    /// The hold in force: the one given or the mode's default.
    pub fn effective_hold(&self) -> Duration {
        self.hold.unwrap_or_else(|| self.mode.default_hold())
    }
}

/// Most faults one injection may queue by count.
pub const MAX_QUEUED_FAULTS: u32 = 100_000;

/// One fault waiting in the queue (count faults, one entry per request to hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedFault {
    /// What to do.
    pub mode: FaultMode,
    /// How long the holding modes hold the request open.
    pub hold: Duration,
    /// Which requests it may hit.
    pub on: FaultOn,
}

/// A fault that hits every matching request until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWindow {
    /// What to do.
    pub mode: FaultMode,
    /// How long the holding modes hold the request open.
    pub hold: Duration,
    /// Which requests it may hit.
    pub on: FaultOn,
    /// When the window closes.
    pub until: Instant,
}

/// Faults that fired, per mode (`/_sim/stats` `faults.fired_by_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultsFired {
    /// `error_500` faults.
    pub error_500: u64,
    /// `error_429` faults.
    pub error_429: u64,
    /// `timeout` faults.
    pub timeout: u64,
    /// `timeout_after_create` faults.
    pub timeout_after_create: u64,
    /// `latency` faults.
    pub latency: u64,
    /// 500s for the first send to a `server-error@simulator.notify` address (not injected, but
    /// a fault all the same).
    pub server_error_address: u64,
}

impl FaultsFired {
    /// How many fired in all.
    pub fn total(&self) -> u64 {
        self.error_500
            + self.error_429
            + self.timeout
            + self.timeout_after_create
            + self.latency
            + self.server_error_address
    }

    /// How many `mode` faults fired.
    pub fn of(&self, mode: FaultMode) -> u64 {
        match mode {
            FaultMode::Error500 => self.error_500,
            FaultMode::Error429 => self.error_429,
            FaultMode::Timeout => self.timeout,
            FaultMode::TimeoutAfterCreate => self.timeout_after_create,
            FaultMode::Latency => self.latency,
        }
    }

    /// Counts one `mode` fault.
    pub fn count(&mut self, mode: FaultMode) {
        let n = match mode {
            FaultMode::Error500 => &mut self.error_500,
            FaultMode::Error429 => &mut self.error_429,
            FaultMode::Timeout => &mut self.timeout,
            FaultMode::TimeoutAfterCreate => &mut self.timeout_after_create,
            FaultMode::Latency => &mut self.latency,
        };
        *n += 1;
    }
}

/// The fault picture at one moment, as [`crate::SimHandle::fault_stats`] and `/_sim/stats`
/// report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    /// Count faults still waiting for a request.
    pub queued: usize,
    /// Time windows still open.
    pub windows_active: usize,
    /// Faults that fired, per mode.
    pub fired: FaultsFired,
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
    /// Faults that fired, per mode.
    pub faults_fired: FaultsFired,
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
    /// Count faults waiting for the next requests they may hit, oldest first.
    pub faults: VecDeque<QueuedFault>,
    /// Time-window faults, oldest first (closed ones are pruned as they are noticed).
    pub fault_windows: Vec<FaultWindow>,
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
            fault_windows: Vec::new(),
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

    /// Adds `fault` to the queue (count) or the open windows (time), starting now.
    pub fn add_fault(&mut self, fault: Fault, now: Instant) {
        let hold = fault.effective_hold();
        match fault.span {
            FaultSpan::Count(n) => {
                for _ in 0..n.min(MAX_QUEUED_FAULTS) {
                    self.faults.push_back(QueuedFault {
                        mode: fault.mode,
                        hold,
                        on: fault.on,
                    });
                }
            }
            FaultSpan::For(window) => {
                if let Some(until) = now.checked_add(window).filter(|u| *u > now) {
                    self.fault_windows.push(FaultWindow {
                        mode: fault.mode,
                        hold,
                        on: fault.on,
                        until,
                    });
                }
            }
        }
    }

    /// Forgets queued faults and open windows.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
        self.fault_windows.clear();
    }

    /// The fault that hits a `request` (`Send` or `Get`) arriving `now`, counted as fired: the
    /// oldest queued fault that may hit it (and it leaves the queue), else the oldest open
    /// window that may.
    pub fn take_fault(&mut self, request: FaultOn, now: Instant) -> Option<(FaultMode, Duration)> {
        let queued = self
            .faults
            .iter()
            .position(|f| f.on.hits(request))
            .and_then(|i| self.faults.remove(i))
            .map(|f| (f.mode, f.hold));
        let fault = queued.or_else(|| {
            self.fault_windows.retain(|w| w.until > now);
            self.fault_windows
                .iter()
                .find(|w| w.on.hits(request))
                .map(|w| (w.mode, w.hold))
        });
        if let Some((mode, _)) = fault {
            self.counters.faults_fired.count(mode);
        }
        fault
    }

    /// Queued faults, open windows and what has fired.
    pub fn fault_stats(&mut self, now: Instant) -> FaultStats {
        self.fault_windows.retain(|w| w.until > now);
        FaultStats {
            queued: self.faults.len(),
            windows_active: self.fault_windows.len(),
            fired: self.counters.faults_fired,
        }
    }

    /// A stored (non-simulated) record by id, as the API may return it.
    pub fn find(&self, id: Uuid) -> Option<&Record> {
        let i = *self.by_id.get(&id)?;
        self.records.get(i).filter(|r| !r.simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(state: &mut State, request: FaultOn, now: Instant) -> Option<FaultMode> {
        state.take_fault(request, now).map(|(mode, _)| mode)
    }

    #[test]
    fn queued_faults_go_to_the_first_request_they_may_hit_in_order() {
        let mut s = State::new(60);
        let now = Instant::now();
        s.add_fault(Fault::new(FaultMode::Error500).on(FaultOn::Get), now);
        s.add_fault(Fault::new(FaultMode::Error429).count(2), now);
        assert_eq!(taken(&mut s, FaultOn::Send, now), Some(FaultMode::Error429));
        assert_eq!(taken(&mut s, FaultOn::Get, now), Some(FaultMode::Error500));
        assert_eq!(taken(&mut s, FaultOn::Get, now), None);
        assert_eq!(taken(&mut s, FaultOn::Send, now), Some(FaultMode::Error429));
        assert_eq!(taken(&mut s, FaultOn::Send, now), None);
        assert_eq!(s.counters.faults_fired.error_429, 2);
        assert_eq!(s.counters.faults_fired.total(), 3);
    }

    #[test]
    fn windows_apply_after_the_queue_until_they_close() {
        let mut s = State::new(60);
        let t0 = Instant::now();
        let window = Duration::from_secs(5);
        s.add_fault(Fault::new(FaultMode::Latency).for_duration(window), t0);
        s.add_fault(Fault::new(FaultMode::Timeout), t0);
        assert_eq!(taken(&mut s, FaultOn::Send, t0), Some(FaultMode::Timeout));
        let inside = t0 + Duration::from_secs(4);
        for _ in 0..3 {
            assert_eq!(
                s.take_fault(FaultOn::Send, inside),
                Some((FaultMode::Latency, FaultMode::Latency.default_hold()))
            );
        }
        assert_eq!(taken(&mut s, FaultOn::Get, inside), None);
        assert_eq!(s.fault_stats(inside).windows_active, 1);
        assert_eq!(taken(&mut s, FaultOn::Send, t0 + window), None);
        assert_eq!(s.fault_stats(t0 + window).windows_active, 0);
        assert_eq!(s.counters.faults_fired.latency, 3);
    }

    #[test]
    fn holds_default_per_mode_and_empty_spans_add_nothing() {
        assert_eq!(
            Fault::new(FaultMode::Timeout).effective_hold(),
            Duration::from_secs(30)
        );
        assert_eq!(
            Fault::new(FaultMode::Latency).effective_hold(),
            Duration::from_secs(2)
        );
        let mut s = State::new(60);
        let now = Instant::now();
        s.add_fault(Fault::new(FaultMode::Error500).count(0), now);
        s.add_fault(
            Fault::new(FaultMode::Error500).for_duration(Duration::ZERO),
            now,
        );
        assert_eq!(s.fault_stats(now), FaultStats::default());
    }

    #[test]
    fn fault_names_match_their_serde_names() {
        for mode in FaultMode::ALL {
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
        for on in [FaultOn::Send, FaultOn::Get, FaultOn::Any] {
            assert_eq!(serde_json::to_value(on).unwrap(), on.as_str());
        }
    }
}
