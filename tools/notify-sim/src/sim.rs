//! The simulated Notify services: limits, templates, creation, the status lifecycle and
//! callback scheduling.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::{ApiKey, Authenticator};
use crate::callbacks::{self, CallbackTarget};
use crate::config::{Config, DailyLimits, ServiceConfig};
use crate::errors::ApiError;
use crate::rate_limit::limit_for;
use crate::state::{
    CallbackAttempt, CallbackKind, Fault, FaultMode, FaultOn, FaultSpan, FaultStats, Notification,
    Record, State,
};
use crate::templates::{DEFAULT_CREATED_BY, Rendered, StoredTemplate, Template};
use crate::validation::SendRequest;
use crate::validation::address;
use crate::validation::email;
use crate::validation::phone::PhoneNumber;
use crate::vocab::{NotificationType, Status};

/// Smoke-test numbers: Notify answers 201 but neither stores nor sends them.
const SMOKE_TEST_NUMBERS: &[&str] = &["447700900000", "447700900111", "447700900222"];
/// Smoke-test email addresses, likewise.
const SMOKE_TEST_EMAILS: &[&str] = &[
    "simulate-delivered@notifications.service.gov.uk",
    "simulate-delivered-2@notifications.service.gov.uk",
    "simulate-delivered-3@notifications.service.gov.uk",
];
/// The sender shown in SMS responses (Notify's default text sender).
const SMS_SENDER: &str = "GOVUK";
/// The sender shown in email responses.
const EMAIL_FROM: &str = "notify.simulator@notifications.service.gov.uk";

/// Shared by every request handler and background task.
pub struct Sim {
    /// Checks `Authorization` headers against every service's key.
    pub auth: Authenticator,
    /// The simulated services, the default one first.
    services: Vec<Arc<Service>>,
    /// Creation to final status.
    pub callback_delay: Duration,
    /// Between callback retries.
    pub callback_retry: Duration,
    /// Added to every `/v2` response.
    pub latency: Duration,
    /// Posts callbacks (5 s timeout).
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`, used when a request has no `Host` header.
    pub base_url: String,
    /// Notifications awaiting a final status plus callbacks not yet finished, all services.
    pending: watch::Sender<usize>,
}

/// One simulated Notify service: its limits, templates, notifications, faults and callbacks.
pub struct Service {
    /// The service id (its API key's, and its JWTs' `iss`).
    pub id: Uuid,
    /// Per-minute limit, quoted in `RateLimitError`.
    pub rate_limit_per_min: u32,
    /// Daily limits per channel.
    pub daily_limits: DailyLimits,
    state: Mutex<State>,
    /// Templates made through the admin API, in the order first created. Kept across resets:
    /// they are the service's setup, like its callback URL.
    templates: Mutex<Vec<StoredTemplate>>,
    callback_target: Mutex<Option<CallbackTarget>>,
    /// This service's share of [`Sim`]'s pending work.
    pending: watch::Sender<usize>,
    /// Bumped by reset and shutdown; background work started under an older value stops.
    generation: watch::Sender<u64>,
    /// The token bucket's clock.
    started: Instant,
}

/// A send's template, found and filled in (only when the service has templates).
#[derive(Debug, Clone)]
pub struct SendContent {
    /// The template's version, reported in the response, the notification and callbacks.
    pub version: u32,
    /// Body and subject as sent.
    pub rendered: Rendered,
}

/// Counts one unit of pending work until dropped (also when its task is cancelled).
pub struct PendingGuard(Arc<Sim>, Arc<Service>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.pending.send_modify(|n| *n = n.saturating_sub(1));
        self.1.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Ignores poisoning: a panic elsewhere must not take the simulator down.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    /// Builds the services from their configuration; service ids must differ.
    pub fn new(config: &Config, base_url: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(callbacks::CALLBACK_TIMEOUT)
            .build()?;
        let mut keys: Vec<ApiKey> = Vec::new();
        let mut services = Vec::new();
        for service in config.services() {
            let key = ApiKey::parse(&service.api_key).map_err(anyhow::Error::msg)?;
            if keys.iter().any(|k| k.service_id == key.service_id) {
                anyhow::bail!("two services have the service id {}", key.service_id);
            }
            services.push(Arc::new(Service::new(&service, key.service_id)));
            keys.push(key);
        }
        Ok(Self {
            auth: Authenticator::new(&keys),
            services,
            callback_delay: config.callback_delay,
            callback_retry: config.callback_retry_interval,
            latency: config.latency,
            http,
            base_url,
            pending: watch::channel(0).0,
        })
    }

    /// Every service, the default one first.
    pub fn services(&self) -> &[Arc<Service>] {
        &self.services
    }

    /// The first service configured (the one `Config`'s own fields describe).
    pub fn default_service(&self) -> &Arc<Service> {
        // `new` always builds the default service.
        &self.services[0]
    }

    /// The service with this id.
    pub fn service(&self, id: Uuid) -> Option<&Arc<Service>> {
        self.services.iter().find(|s| s.id == id)
    }

    /// Authenticates a request against the services' API keys; `Ok` is the service it is for.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Arc<Service>, ApiError> {
        let header = headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        let id = self
            .auth
            .check(header, OffsetDateTime::now_utc().unix_timestamp())?;
        // The authenticator only knows the services' own ids.
        self.service(id)
            .cloned()
            .ok_or(ApiError::forbidden(crate::auth::SERVICE_NOT_FOUND))
    }

    /// The checks Notify makes after the template: the service may not text abroad, and
    /// letters need a postable UK address.
    pub fn check_recipient(&self, request: &SendRequest) -> Result<(), ApiError> {
        match request.kind {
            NotificationType::Sms => match request.phone {
                Some(PhoneNumber::International(_)) => Err(ApiError::BadRequest(
                    "Cannot send to international mobile numbers".into(),
                )),
                _ => Ok(()),
            },
            NotificationType::Letter => address::validate(&request.personalisation)
                .map_err(|m| ApiError::Validation(vec![m.to_owned()])),
            NotificationType::Email => Ok(()),
        }
    }

    /// Creates the notification on `service`, starts its lifecycle and returns Notify's 201
    /// body. `content` is the filled-in template when the service has templates.
    pub fn create(
        self: &Arc<Self>,
        service: &Arc<Service>,
        request: SendRequest,
        content: Option<SendContent>,
        url_root: &str,
    ) -> Value {
        let id = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let simulated = is_smoke_test(&request);
        let outcome = simulated_outcome(&request);
        let (body, subject, version) = match content {
            Some(SendContent { version, rendered }) => (
                rendered.body,
                match request.kind {
                    NotificationType::Sms => None,
                    _ => rendered.subject,
                },
                version,
            ),
            None => (
                render_body(&request.personalisation),
                match request.kind {
                    NotificationType::Sms => None,
                    _ => Some(format!(
                        "Simulated message for template {}",
                        request.template_id
                    )),
                },
                1,
            ),
        };
        let response = created_response(
            &request,
            id,
            version,
            &body,
            subject.as_deref(),
            service.id,
            url_root,
        );
        let kind = request.kind;
        let record = Record {
            seq: 0,
            id,
            service_id: service.id,
            kind,
            reference: request.reference,
            to: request.to,
            template_id: request.template_id,
            template_version: version,
            personalisation: request.personalisation,
            // Smoke-test notifications never enter the pipeline; they simply count as delivered.
            status: if simulated {
                Status::Delivered
            } else {
                Status::Created
            },
            outcome,
            created_at: now,
            sent_at: None,
            updated_at: simulated.then_some(now),
            body,
            subject,
            one_click_unsubscribe_url: request.one_click_unsubscribe_url,
            simulated,
            sender_id: request.sender_id,
        };
        {
            let mut state = service.lock();
            let record = Record {
                seq: state.next_seq(),
                ..record
            };
            state.insert(record);
            if !simulated {
                state.daily.record(kind, now.date());
            }
        }
        tracing::info!(service_id = %service.id, notification_id = %id, notification_type = kind.as_str(), simulated, "notification created");
        if !simulated {
            let guard = self.pending_guard(service);
            let generation = service.generation();
            tokio::spawn(Arc::clone(self).lifecycle(Arc::clone(service), id, generation, guard));
        }
        response
    }

    /// created → sending (half way) → final status (after `callback_delay`) → callback.
    async fn lifecycle(
        self: Arc<Self>,
        service: Arc<Service>,
        id: Uuid,
        generation: u64,
        _guard: PendingGuard,
    ) {
        let half = self.callback_delay / 2;
        if !service.sleep_unless_reset(generation, half).await {
            return;
        }
        if let Some(record) = service.lock().get_mut(id) {
            let now = OffsetDateTime::now_utc();
            record.status = Status::Sending;
            record.sent_at = Some(now);
            record.updated_at = Some(now);
        }
        if !service
            .sleep_unless_reset(generation, self.callback_delay - half)
            .await
        {
            return;
        }
        let receipt = {
            let mut state = service.lock();
            let Some(record) = state.get_mut(id) else {
                return;
            };
            record.status = record.outcome;
            record.updated_at = Some(OffsetDateTime::now_utc());
            tracing::info!(notification_id = %id, status = record.status.as_str(), "final status");
            // Notify sends delivery receipts for emails and texts only; letter updates from the
            // printer do not trigger the delivery-status callback.
            (record.kind != NotificationType::Letter).then(|| {
                (
                    callbacks::delivery_receipt(record),
                    record.status.as_str().to_owned(),
                )
            })
        };
        let target = service.callback_target();
        // The lifecycle's own guard keeps the callback counted as pending until it finishes.
        if let (Some((payload, status)), Some(target)) = (receipt, target) {
            deliver(
                Arc::clone(&self),
                Arc::clone(&service),
                target,
                CallbackKind::DeliveryStatus,
                id,
                Some(status),
                payload,
                generation,
            )
            .await;
        }
    }

    /// Sends an inbound-text callback to `service`; returns its id and whether a callback URL
    /// was configured.
    pub fn receive_text(
        self: &Arc<Self>,
        service: &Arc<Service>,
        source_number: &str,
        destination_number: &str,
        message: &str,
        received_at: Option<OffsetDateTime>,
    ) -> (Uuid, bool) {
        let id = Uuid::new_v4();
        let payload = callbacks::inbound_sms(
            id,
            source_number,
            destination_number,
            message,
            received_at.unwrap_or_else(OffsetDateTime::now_utc),
        );
        let Some(target) = service.callback_target() else {
            return (id, false);
        };
        let guard = self.pending_guard(service);
        let generation = service.generation();
        let sim = Arc::clone(self);
        let service = Arc::clone(service);
        tokio::spawn(async move {
            deliver(
                sim,
                service,
                target,
                CallbackKind::InboundSms,
                id,
                None,
                payload,
                generation,
            )
            .await;
            drop(guard);
        });
        (id, true)
    }

    /// Resets every service (see [`Service::reset`]).
    pub fn reset_all(&self) {
        for service in &self.services {
            service.reset();
        }
    }

    /// Stops all background work for good (shutdown).
    pub fn cancel_background_work(&self) {
        for service in &self.services {
            service.generation.send_modify(|g| *g += 1);
        }
    }

    /// Waits until nothing is pending on any service, or `timeout`; `true` if idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut rx = self.pending.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await,
            Ok(Ok(_))
        )
    }

    fn pending_guard(self: &Arc<Self>, service: &Arc<Service>) -> PendingGuard {
        self.pending.send_modify(|n| *n += 1);
        service.pending.send_modify(|n| *n += 1);
        PendingGuard(Arc::clone(self), Arc::clone(service))
    }
}

impl Service {
    fn new(config: &ServiceConfig, id: Uuid) -> Self {
        let target = config.callback_url.clone().map(|url| CallbackTarget {
            url,
            bearer_token: config.callback_bearer_token.clone(),
        });
        Self {
            id,
            rate_limit_per_min: config.rate_limit_per_min,
            daily_limits: config.daily_limits,
            state: Mutex::new(State::new(config.rate_limit_per_min)),
            templates: Mutex::new(Vec::new()),
            callback_target: Mutex::new(target),
            pending: watch::channel(0).0,
            generation: watch::channel(0).0,
            started: Instant::now(),
        }
    }

    /// The state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }

    fn templates_lock(&self) -> MutexGuard<'_, Vec<StoredTemplate>> {
        relock(&self.templates)
    }

    /// `check_rate_limiting`: the token bucket, then today's limit for the channel.
    pub fn check_limits(&self, kind: NotificationType) -> Result<(), ApiError> {
        let now = self.started.elapsed().as_secs_f64();
        let today = OffsetDateTime::now_utc().date();
        let mut state = self.lock();
        if !state.bucket.try_take(now) {
            state.counters.rate_limited += 1;
            return Err(ApiError::RateLimit {
                limit: self.rate_limit_per_min,
            });
        }
        if !state.daily.allows(kind, &self.daily_limits, today) {
            state.counters.daily_limited += 1;
            return Err(ApiError::TooManyRequests {
                kind,
                limit: limit_for(&self.daily_limits, kind),
            });
        }
        Ok(())
    }

    /// Notify's `validate_template` for a send, but only once the service has templates (until
    /// then any `template_id` is accepted, `Ok(None)`): the template must exist, be for this
    /// channel, get every placeholder and not come out empty.
    pub fn template_for_send(
        &self,
        request: &SendRequest,
    ) -> Result<Option<SendContent>, ApiError> {
        let templates = self.templates_lock();
        if templates.is_empty() {
            return Ok(None);
        }
        let Some(stored) = templates
            .iter()
            .find(|t| t.template.id == request.template_id)
        else {
            return Err(ApiError::BadRequest("Template not found".into()));
        };
        let template = &stored.template;
        if template.kind != request.kind {
            return Err(ApiError::BadRequest(format!(
                "{} template is not suitable for {} notification",
                template.kind.as_str(),
                request.kind.as_str()
            )));
        }
        let rendered = template.render(&request.personalisation)?;
        rendered.check_not_empty()?;
        Ok(Some(SendContent {
            version: template.version,
            rendered,
        }))
    }

    /// The template with this id, if the service has it.
    pub fn template(&self, id: Uuid) -> Option<StoredTemplate> {
        self.templates_lock()
            .iter()
            .find(|t| t.template.id == id)
            .cloned()
    }

    /// Every template, in the order first created.
    pub fn templates(&self) -> Vec<StoredTemplate> {
        self.templates_lock().clone()
    }

    /// Creates or replaces a template; `true` if it replaced one (which keeps its
    /// `created_at` and gets an `updated_at`).
    pub fn put_template(&self, template: Template) -> (StoredTemplate, bool) {
        let now = OffsetDateTime::now_utc();
        let mut templates = self.templates_lock();
        let id = template.id;
        let kind = template.kind;
        let (stored, replaced) = match templates.iter_mut().find(|t| t.template.id == id) {
            Some(existing) => {
                existing.template = template;
                existing.updated_at = Some(now);
                (existing.clone(), true)
            }
            None => {
                let stored = StoredTemplate {
                    template,
                    created_at: now,
                    updated_at: None,
                    created_by: DEFAULT_CREATED_BY.to_owned(),
                };
                templates.push(stored.clone());
                (stored, false)
            }
        };
        tracing::info!(service_id = %self.id, template_id = %id, template_type = kind.as_str(), replaced, "template saved");
        (stored, replaced)
    }

    /// Removes a template; `false` if there was none with that id.
    pub fn remove_template(&self, id: Uuid) -> bool {
        let mut templates = self.templates_lock();
        let before = templates.len();
        templates.retain(|t| t.template.id != id);
        templates.len() != before
    }

    /// Removes every template: sends are no longer checked against templates.
    pub fn clear_templates(&self) {
        self.templates_lock().clear();
    }

    /// Ours, not Notify's: the first send to `server-error@simulator.notify` (or any `+tag`
    /// of it) answers 500 without creating anything; later sends to the same address are
    /// accepted. Lets a scenario pin what one family's Notify outage does.
    pub fn first_send_errors(&self, request: &SendRequest) -> bool {
        if request.kind != NotificationType::Email
            || without_tag(&email::normalise(&request.to)) != "server-error@simulator.notify"
        {
            return false;
        }
        let mut state = self.lock();
        let first = state.errored_once.insert(email::normalise(&request.to));
        if first {
            state.counters.faults_fired.server_error_address += 1;
        }
        first
    }

    /// The fault that hits this request, if any (`request` is `Send` or `Get`), counted as fired.
    /// Callers ask only once the request would otherwise succeed.
    pub fn take_fault(&self, request: FaultOn) -> Option<(FaultMode, Duration)> {
        self.lock().take_fault(request, Instant::now())
    }

    /// Queues a count fault or opens a time window, starting now.
    pub fn inject(&self, fault: Fault) -> FaultStats {
        let mut state = self.lock();
        let now = Instant::now();
        state.add_fault(fault, now);
        let (count, for_ms) = match fault.span {
            FaultSpan::Count(n) => (Some(n), None),
            FaultSpan::For(window) => (None, Some(millis(window))),
        };
        tracing::info!(
            service_id = %self.id,
            mode = fault.mode.as_str(),
            on = fault.on.as_str(),
            count,
            for_ms,
            hold_ms = millis(fault.effective_hold()),
            "fault injected"
        );
        state.fault_stats(now)
    }

    /// Forgets queued faults and open windows (what has fired stays counted).
    pub fn clear_faults(&self) {
        self.lock().clear_faults();
        tracing::info!(service_id = %self.id, "faults cleared");
    }

    /// Queued faults, open windows and faults fired per mode.
    pub fn fault_stats(&self) -> FaultStats {
        self.lock().fault_stats(Instant::now())
    }

    /// Every notification accepted, oldest first, with its personalisation.
    pub fn notifications(&self) -> Vec<Notification> {
        self.lock().records.iter().map(Record::snapshot).collect()
    }

    /// Every callback attempt so far, in order.
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.lock().callback_log.clone()
    }

    /// Records a callback attempt unless the log was reset since the callback started.
    pub fn log_callback(&self, generation: u64, attempt: CallbackAttempt) {
        if self.generation() == generation {
            self.lock().callback_log.push(attempt);
        }
    }

    /// The current callback destination.
    pub fn callback_target(&self) -> Option<CallbackTarget> {
        relock(&self.callback_target).clone()
    }

    /// Replaces the callback destination (`None` turns callbacks off).
    pub fn set_callback_target(&self, target: Option<CallbackTarget>) {
        *relock(&self.callback_target) = target;
    }

    /// Forgets notifications, faults, buckets, counters and the callback log; stops pending
    /// work. Templates and the callback destination stay.
    pub fn reset(&self) {
        self.generation.send_modify(|g| *g += 1);
        *self.lock() = State::new(self.rate_limit_per_min);
    }

    /// The current generation (see `generation`).
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Resolves once the service has been reset (or shut down) since `generation`.
    pub async fn reset_signal(&self, generation: u64) {
        let mut rx = self.generation.subscribe();
        // The sender lives as long as `self`, so this only returns on a change.
        let _ = rx.wait_for(|g| *g != generation).await;
    }

    /// Sleeps for `duration`; `false` if a reset or shutdown came first.
    pub async fn sleep_unless_reset(&self, generation: u64, duration: Duration) -> bool {
        if self.generation() != generation {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => self.generation() == generation,
            () = self.reset_signal(generation) => false,
        }
    }

    /// Counts for `/_sim/stats`.
    pub fn stats(&self) -> Value {
        let today = OffsetDateTime::now_utc().date();
        let templates = self.templates_lock().len();
        let callbacks_enabled = self.callback_target().is_some();
        let mut state = self.lock();
        let faults = state.fault_stats(Instant::now());
        let sent_today: Map<String, Value> = [
            NotificationType::Email,
            NotificationType::Sms,
            NotificationType::Letter,
        ]
        .into_iter()
        .map(|k| (k.as_str().to_owned(), json!(state.daily.count(k, today))))
        .collect();
        let mut by_type = Map::new();
        let mut by_status = Map::new();
        for r in &state.records {
            let t = by_type.entry(r.kind.as_str()).or_insert(json!(0));
            *t = json!(t.as_u64().unwrap_or(0) + 1);
            let s = by_status
                .entry(r.status.api_name(r.kind))
                .or_insert(json!(0));
            *s = json!(s.as_u64().unwrap_or(0) + 1);
        }
        let attempts = state.callback_log.len();
        let delivered = state
            .callback_log
            .iter()
            .filter(|a| a.outcome == "delivered")
            .count();
        json!({
            "service_id": self.id,
            "notifications": {
                "total": state.records.len(),
                "by_type": by_type,
                "by_status": by_status,
            },
            "templates": templates,
            "callbacks": {
                "enabled": callbacks_enabled,
                "pending": *self.pending.borrow(),
                "attempts": attempts,
                "delivered": delivered,
            },
            "limits": {
                "rate_limit_per_min": self.rate_limit_per_min,
                "bucket_capacity": state.bucket.capacity(),
                "daily_limits": {
                    "email": self.daily_limits.email,
                    "sms": self.daily_limits.sms,
                    "letter": self.daily_limits.letter,
                },
                "sent_today": sent_today,
            },
            "responses_429": {
                "rate_limit": state.counters.rate_limited,
                "daily_limit": state.counters.daily_limited,
            },
            "faults": {
                "queued": faults.queued,
                "windows_active": faults.windows_active,
                "fired": faults.fired.total(),
                "fired_by_mode": faults.fired,
            },
        })
    }
}

/// Whole milliseconds, saturating, for log fields.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether the recipient is one of Notify's smoke-test recipients.
fn is_smoke_test(request: &SendRequest) -> bool {
    match request.kind {
        NotificationType::Sms => request
            .phone
            .as_ref()
            .is_some_and(|p| SMOKE_TEST_NUMBERS.contains(&p.normalised())),
        NotificationType::Email => {
            SMOKE_TEST_EMAILS.contains(&email::normalise(&request.to).as_str())
        }
        NotificationType::Letter => false,
    }
}

/// The final status Notify's research-mode provider reports for this recipient.
fn simulated_outcome(request: &SendRequest) -> Status {
    match request.kind {
        NotificationType::Sms => match request.phone.as_ref().map(PhoneNumber::normalised) {
            Some("447700900003") => Status::TemporaryFailure,
            Some("447700900002") => Status::PermanentFailure,
            _ => Status::Delivered,
        },
        // `perm-fail+bea@simulator.notify` behaves as `perm-fail@…` (ours, not Notify's), so
        // scenarios can give each family its own failing address.
        NotificationType::Email => match without_tag(&email::normalise(&request.to)).as_str() {
            "temp-fail@simulator.notify" => Status::TemporaryFailure,
            "perm-fail@simulator.notify" => Status::PermanentFailure,
            // Not one of Notify's: lets tests and the demo exercise a provider fault.
            "tech-fail@simulator.notify" => Status::TechnicalFailure,
            _ => Status::Delivered,
        },
        // Ours, not Notify's: a letter to an address with "Undeliverable" in it is returned,
        // so tests and the demo can exercise a letter that fails.
        NotificationType::Letter => {
            let undeliverable = request.personalisation.iter().any(|(key, value)| {
                key.starts_with("address_line")
                    && value
                        .as_str()
                        .is_some_and(|line| line.to_ascii_lowercase().contains("undeliverable"))
            });
            if undeliverable {
                Status::PermanentFailure
            } else {
                Status::Delivered
            }
        }
    }
}

/// A simulator address without its `+tag`.
fn without_tag(address: &str) -> String {
    match address.split_once('@') {
        Some((local, "simulator.notify")) => {
            format!(
                "{}@simulator.notify",
                local.split('+').next().unwrap_or(local)
            )
        }
        _ => address.to_owned(),
    }
}

/// Without templates, the body lists the personalisation, one `key: value` per line.
fn render_body(personalisation: &Map<String, Value>) -> String {
    personalisation
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Notify's 201 body (`app/v2/notifications/create_response.py`).
fn created_response(
    request: &SendRequest,
    id: Uuid,
    version: u32,
    body: &str,
    subject: Option<&str>,
    service_id: Uuid,
    url_root: &str,
) -> Value {
    let content = match request.kind {
        NotificationType::Sms => json!({ "body": body, "from_number": SMS_SENDER }),
        NotificationType::Email => json!({
            "body": body,
            "subject": subject,
            "from_email": EMAIL_FROM,
            "one_click_unsubscribe_url": request.one_click_unsubscribe_url,
        }),
        NotificationType::Letter => json!({ "body": body, "subject": subject }),
    };
    json!({
        "id": id,
        "reference": request.reference,
        "uri": format!("{url_root}/v2/notifications/{id}"),
        "template": {
            "id": request.template_id,
            "version": version,
            "uri": format!("{url_root}/services/{service_id}/templates/{}", request.template_id),
        },
        "content": content,
        "scheduled_for": null,
    })
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    Retry(Option<u16>, Option<String>),
    Drop(u16),
}

/// POSTs `payload`, retrying as Notify does: after connection errors, timeouts, 5xx and 429,
/// every `retry_interval`, at most [`callbacks::MAX_RETRIES`] times; any other 4xx is dropped at once.
/// Gives up silently if the simulator is reset meanwhile.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    sim: Arc<Sim>,
    service: Arc<Service>,
    target: CallbackTarget,
    kind: CallbackKind,
    id: Uuid,
    notification_status: Option<String>,
    payload: Value,
    generation: u64,
) {
    let body = payload.to_string();
    for attempt in 1..=callbacks::MAX_RETRIES + 1 {
        let mut request = sim
            .http
            .post(&target.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(token) = &target.bearer_token {
            request = request.bearer_auth(token);
        }
        let sent = tokio::select! {
            result = request.send() => result,
            () = service.reset_signal(generation) => return,
        };
        let outcome = match sent {
            Ok(response) => {
                let code = response.status();
                if code.is_client_error() && code != http::StatusCode::TOO_MANY_REQUESTS {
                    Outcome::Drop(code.as_u16())
                } else if code.is_server_error() || code == http::StatusCode::TOO_MANY_REQUESTS {
                    Outcome::Retry(Some(code.as_u16()), None)
                } else {
                    Outcome::Delivered(code.as_u16())
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timeout".to_owned()
                } else if e.is_connect() {
                    "connection error".to_owned()
                } else {
                    format!("request error: {e}")
                };
                Outcome::Retry(None, Some(what))
            }
        };
        let last = attempt > callbacks::MAX_RETRIES;
        let (status_code, error, label) = match &outcome {
            Outcome::Delivered(c) => (Some(*c), None, "delivered"),
            Outcome::Drop(c) => (Some(*c), None, "dropped"),
            Outcome::Retry(c, e) => (*c, e.clone(), if last { "gave_up" } else { "retrying" }),
        };
        tracing::info!(
            service_id = %service.id,
            callback = ?kind,
            %id,
            attempt,
            status_code,
            outcome = label,
            "callback attempt"
        );
        service.log_callback(
            generation,
            CallbackAttempt {
                kind,
                id,
                attempt,
                notification_status: notification_status.clone(),
                at: OffsetDateTime::now_utc(),
                status_code,
                error,
                outcome: label,
            },
        );
        match outcome {
            Outcome::Retry(..) if !last => {
                if !service
                    .sleep_unless_reset(generation, sim.callback_retry)
                    .await
                {
                    return;
                }
            }
            _ => return,
        }
    }
}
