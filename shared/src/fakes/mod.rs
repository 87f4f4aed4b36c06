//! In-memory fakes of the flows' ports, for unit tests: a table that keeps message records,
//! detail statuses and due work as DynamoDB would (conditional puts and updates, leases), a
//! Notify that answers as scripted, a queue that keeps what it is given and a pacer that can
//! fail. One fake table serves every flow's port, so a test can run a send job and then apply
//! its receipt to the same records.
//!
//! Each fake can be told to fail one of its operations the next `n` times, with the error its
//! real counterpart would give, so a test reaches a fault path exactly where it matters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use uuid::Uuid;

pub mod ingest;

use crate::campaign::Campaign;
use crate::dispatch::ports::{MessageLedger, NotifyPort, Pace, SendLedger, SendQueue};
use crate::dispatch::{QueueError, SendJob};
use crate::domain::{Clock, TeamCode};
use crate::notify::{
    EmailRequest, LetterRequest, NotificationStatus, NotificationType, NotifyError,
    SentNotification, SmsRequest, Status,
};
use crate::policy::Plan;
use crate::receipts::ReceiptLedger;
use crate::schedule::runner::ScheduleLedger;
use crate::store::pacer::PacerError;
use crate::store::{CampaignRef, DueJob, Facts, RunRecord};
use crate::store::{Loaded, MessageRecord, StoreError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Operations told to fail, and how many more times each will.
#[derive(Debug, Default)]
struct Failures(Mutex<HashMap<&'static str, u32>>);

impl Failures {
    fn arm(&self, operation: &'static str, times: u32) {
        lock(&self.0).insert(operation, times);
    }

    fn take(&self, operation: &'static str) -> bool {
        let mut armed = lock(&self.0);
        match armed.get_mut(operation) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.take(operation) {
            Err(StoreError::new(format!("{operation}: injected 500")))
        } else {
            Ok(())
        }
    }
}

/// The table: what `load` answers is set by the test; message records, detail statuses,
/// letters opened for polling, holds and decisions are kept as written.
#[derive(Debug)]
pub struct FakeLedger {
    clock: Clock,
    lease_seconds: i64,
    loaded: Mutex<Option<Loaded>>,
    failures: Failures,
    /// Message records by id.
    pub messages: Mutex<BTreeMap<String, MessageRecord>>,
    /// Detail statuses by key (`email:…`, `phone:…`).
    pub details: Mutex<BTreeMap<String, String>>,
    /// Message ids of letters opened for polling.
    pub letters: Mutex<Vec<String>>,
    /// Teams held until midnight.
    pub holds: Mutex<Vec<TeamCode>>,
    /// Decisions recorded (skips, manual follow-up).
    pub decisions: Mutex<Vec<Plan>>,
    /// Children put on the team's follow-up list: (child id, purpose, reason).
    pub follow_ups: Mutex<Vec<(String, String, String)>>,
    /// Jobs kept until they are due: (key, due, job).
    pub due: Mutex<Vec<(String, i64, SendJob)>>,
    /// Campaigns, with their team.
    pub campaigns: Mutex<Vec<(TeamCode, Campaign)>>,
    /// Children, with what the policy needs (the schedule reads them by school).
    pub children: Mutex<Vec<Facts>>,
    /// Run records by `<campaign>#<run key>`.
    pub runs: Mutex<BTreeMap<String, RunRecord>>,
}

impl FakeLedger {
    /// A table whose `load` answers `loaded` for every job; leases of `lease_seconds`.
    pub fn new(clock: Clock, loaded: Loaded, lease_seconds: i64) -> Self {
        Self {
            clock,
            lease_seconds,
            loaded: Mutex::new(Some(loaded)),
            failures: Failures::default(),
            messages: Mutex::default(),
            details: Mutex::default(),
            letters: Mutex::default(),
            holds: Mutex::default(),
            decisions: Mutex::default(),
            follow_ups: Mutex::default(),
            due: Mutex::default(),
            campaigns: Mutex::default(),
            children: Mutex::default(),
            runs: Mutex::default(),
        }
    }

    /// A table with nothing for `load` to answer (flows other than a send job).
    pub fn without_jobs(clock: Clock) -> Self {
        let nothing = Loaded {
            hold: None,
            campaign: None,
            facts: None,
            senders: crate::store::TeamSendSettings::default(),
        };
        Self::new(clock, nothing, 0)
    }

    /// Puts a message record in the table as it is.
    pub fn insert(&self, record: MessageRecord) {
        lock(&self.messages).insert(record.message_id.clone(), record);
    }

    /// The record of `message_id`.
    pub fn record(&self, message_id: &str) -> MessageRecord {
        lock(&self.messages)
            .get(message_id)
            .cloned()
            .expect("a record with that id")
    }

    /// The next `times` calls of `operation` (a method name of [`SendLedger`]) fail as a
    /// DynamoDB 500 would, changing nothing.
    pub fn fail(&self, operation: &'static str, times: u32) {
        self.failures.arm(operation, times);
    }

    /// Every record, in id order.
    pub fn records(&self) -> Vec<MessageRecord> {
        lock(&self.messages).values().cloned().collect()
    }

    fn loaded(&self) -> Loaded {
        lock(&self.loaded)
            .clone()
            .expect("the test set what load answers")
    }
}

impl MessageLedger for FakeLedger {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    async fn message(
        &self,
        _team: &TeamCode,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        self.failures.check("message")?;
        Ok(lock(&self.messages).get(message_id).cloned())
    }

    async fn set_detail_status(
        &self,
        _team: &TeamCode,
        detail: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        self.failures.check("set_detail_status")?;
        lock(&self.details).insert(detail.to_owned(), status.to_owned());
        Ok(())
    }
}

impl SendLedger for FakeLedger {
    async fn load(&self, _team: &TeamCode, _job: &SendJob) -> Result<Loaded, StoreError> {
        self.failures.check("load")?;
        Ok(self.loaded())
    }

    async fn load_many(&self, jobs: &[(TeamCode, &SendJob)]) -> Result<Vec<Loaded>, StoreError> {
        self.failures.check("load_many")?;
        Ok(jobs.iter().map(|_| self.loaded()).collect())
    }

    async fn put_intent(&self, record: &MessageRecord) -> Result<bool, StoreError> {
        self.failures.check("put_intent")?;
        let mut messages = lock(&self.messages);
        if messages.contains_key(&record.message_id) {
            return Ok(false);
        }
        let mut record = record.clone();
        record.lease_until = self.clock.epoch() + self.lease_seconds;
        messages.insert(record.message_id.clone(), record);
        Ok(true)
    }

    async fn take_over(
        &self,
        _team: &TeamCode,
        message_id: &str,
        expired_lease: i64,
    ) -> Result<bool, StoreError> {
        self.failures.check("take_over")?;
        let now = self.clock.epoch();
        let mut messages = lock(&self.messages);
        match messages.get_mut(message_id) {
            Some(r)
                if r.state == "intent"
                    && r.lease_until == expired_lease
                    && r.lease_until <= now =>
            {
                r.lease_until = now + self.lease_seconds;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_sent(
        &self,
        _team: &TeamCode,
        message_id: &str,
        notify_id: Uuid,
        template_version: u32,
        status: &str,
        sms_fragments: Option<u32>,
    ) -> Result<(), StoreError> {
        self.failures.check("mark_sent")?;
        let mut messages = lock(&self.messages);
        let r = messages
            .get_mut(message_id)
            .ok_or_else(|| StoreError::new("mark_sent: no such record"))?;
        r.state = crate::store::MessageState::Sent;
        r.notify_id = Some(notify_id.to_string());
        r.template_version = Some(template_version);
        r.sms_fragments = sms_fragments.or(r.sms_fragments);
        // A receipt that got there first is not overwritten (as the real conditional update).
        if r.status == "intent" {
            r.status = status.into();
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        _team: &TeamCode,
        message_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        self.failures.check("mark_failed")?;
        let mut messages = lock(&self.messages);
        let r = messages
            .get_mut(message_id)
            .ok_or_else(|| StoreError::new("mark_failed: no such record"))?;
        r.state = crate::store::MessageState::Failed;
        r.status = status.into();
        Ok(())
    }

    async fn open_letter(
        &self,
        _team: &TeamCode,
        message_id: &str,
        _notify_id: Uuid,
    ) -> Result<(), StoreError> {
        self.failures.check("open_letter")?;
        let mut letters = lock(&self.letters);
        if !letters.iter().any(|l| l == message_id) {
            letters.push(message_id.to_owned());
        }
        Ok(())
    }

    async fn hold_until_midnight(&self, team: &TeamCode) -> Result<Duration, StoreError> {
        self.failures.check("hold_until_midnight")?;
        lock(&self.holds).push(team.clone());
        let now = self.clock.now();
        let midnight = (now.date() + time::Duration::days(1))
            .midnight()
            .assume_utc();
        Ok(Duration::from_secs(
            (midnight - now).whole_seconds().max(1) as u64
        ))
    }

    async fn record_decision(
        &self,
        _team: &TeamCode,
        _job: &SendJob,
        plan: &Plan,
    ) -> Result<(), StoreError> {
        self.failures.check("record_decision")?;
        lock(&self.decisions).push(plan.clone());
        Ok(())
    }
}

impl ReceiptLedger for FakeLedger {
    async fn apply_status(
        &self,
        _team: &TeamCode,
        message_id: &str,
        expected: &str,
        new: &str,
        completes: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        self.failures.check("apply_status")?;
        let mut messages = lock(&self.messages);
        let Some(r) = messages.get_mut(message_id) else {
            return Ok(false);
        };
        if r.status != expected {
            return Ok(false);
        }
        r.status = new.to_owned();
        r.status_history.push(crate::store::StatusChange {
            status: new.to_owned(),
            at: self.clock.rfc3339(),
        });
        if let Some(id) = completes {
            r.state = crate::store::MessageState::Sent;
            r.notify_id = Some(id.to_string());
        }
        Ok(true)
    }

    async fn close_letter(&self, _team: &TeamCode, message_id: &str) -> Result<(), StoreError> {
        self.failures.check("close_letter")?;
        lock(&self.letters).retain(|l| l != message_id);
        Ok(())
    }

    async fn add_follow_up(
        &self,
        _team: &TeamCode,
        _campaign_id: &str,
        child_id: &str,
        purpose: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.failures.check("add_follow_up")?;
        lock(&self.follow_ups).push((child_id.to_owned(), purpose.to_owned(), reason.to_owned()));
        Ok(())
    }

    async fn schedule_job(
        &self,
        due: i64,
        message_id: &str,
        job: &SendJob,
    ) -> Result<(), StoreError> {
        self.failures.check("schedule_job")?;
        let key = format!("{due:010}#{message_id}");
        let mut kept = lock(&self.due);
        if !kept.iter().any(|(k, _, _)| *k == key) {
            kept.push((key, due, job.clone()));
        }
        Ok(())
    }

    async fn due_jobs(&self, now: i64) -> Result<Vec<DueJob>, StoreError> {
        self.failures.check("due_jobs")?;
        Ok(lock(&self.due)
            .iter()
            .filter(|(_, due, _)| *due <= now)
            .map(|(key, due, job)| DueJob {
                key: key.clone(),
                due: *due,
                job: job.clone(),
            })
            .collect())
    }

    async fn delete_due(&self, key: &str) -> Result<(), StoreError> {
        self.failures.check("delete_due")?;
        lock(&self.due).retain(|(k, _, _)| k != key);
        Ok(())
    }
}

impl ScheduleLedger for FakeLedger {
    async fn active_campaigns(&self, date: time::Date) -> Result<Vec<CampaignRef>, StoreError> {
        self.failures.check("active_campaigns")?;
        Ok(lock(&self.campaigns)
            .iter()
            .filter(|(_, c)| c.first_session().is_some_and(|d| d >= date))
            .map(|(team, c)| CampaignRef {
                team: team.clone(),
                campaign_id: c.id.clone(),
                last_send_day: c.first_session().unwrap_or(date),
            })
            .collect())
    }

    async fn campaign(&self, team: &TeamCode, id: &str) -> Result<Option<Campaign>, StoreError> {
        self.failures.check("campaign")?;
        Ok(lock(&self.campaigns)
            .iter()
            .find(|(t, c)| t == team && c.id == id)
            .map(|(_, c)| c.clone()))
    }

    async fn run_record(
        &self,
        _team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
    ) -> Result<RunRecord, StoreError> {
        self.failures.check("run_record")?;
        Ok(lock(&self.runs)
            .get(&format!("{campaign_id}#{run_key}"))
            .cloned()
            .unwrap_or_default())
    }

    async fn latest_uploads(
        &self,
        _team: &TeamCode,
    ) -> Result<HashMap<String, String>, StoreError> {
        self.failures.check("latest_uploads")?;
        Ok(HashMap::new())
    }

    async fn school_children(
        &self,
        _team: &TeamCode,
        _campaign: &Campaign,
        school: &str,
        _latest: &HashMap<String, String>,
    ) -> Result<Vec<Facts>, StoreError> {
        self.failures.check("school_children")?;
        Ok(lock(&self.children)
            .iter()
            .filter(|f| f.child.school_urn.as_str() == school)
            .cloned()
            .collect())
    }

    async fn put_run_record(
        &self,
        _team: &TeamCode,
        campaign_id: &str,
        run_key: &str,
        record: &RunRecord,
        _expires_at: i64,
    ) -> Result<(), StoreError> {
        self.failures.check("put_run_record")?;
        lock(&self.runs).insert(format!("{campaign_id}#{run_key}"), record.clone());
        Ok(())
    }

    fn run_record_expiry(&self) -> i64 {
        self.clock.epoch() + 400 * 86_400
    }
}

/// How the fake Notify answers the next send.
#[derive(Debug)]
pub enum Answer {
    /// 201: created.
    Accept,
    /// Created, but the answer never arrives (a timeout after Notify accepted).
    TimeOutAfterCreating,
    /// Refused with this error; nothing created.
    Refuse(NotifyError),
}

/// One notification Notify created.
#[derive(Debug, Clone)]
pub struct Created {
    /// Notify's id.
    pub id: Uuid,
    /// Our reference (the message id).
    pub reference: String,
    /// Email, text or letter.
    pub kind: NotificationType,
    /// The address, number or first address line.
    pub to: String,
}

/// GOV.UK Notify: answers each send as scripted (`Accept` once the script runs out) and
/// lists what it created by reference.
#[derive(Debug, Default)]
pub struct FakeNotify {
    script: Mutex<VecDeque<Answer>>,
    /// What Notify created, in order.
    pub created: Mutex<Vec<Created>>,
}

impl FakeNotify {
    /// The next sends are answered so, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        lock(&self.script).extend(answers);
    }

    /// Everything created, in order.
    pub fn created(&self) -> Vec<Created> {
        lock(&self.created).clone()
    }

    fn answer(
        &self,
        kind: NotificationType,
        to: &str,
        reference: &str,
        template_id: Uuid,
    ) -> Result<SentNotification, NotifyError> {
        let answer = lock(&self.script).pop_front().unwrap_or(Answer::Accept);
        let create = || {
            let id = Uuid::new_v4();
            lock(&self.created).push(Created {
                id,
                reference: reference.to_owned(),
                kind,
                to: to.to_owned(),
            });
            SentNotification {
                id,
                reference: Some(reference.to_owned()),
                template_id,
                template_version: 1,
                uri: format!("https://notify.invalid/v2/notifications/{id}"),
                sms_fragments: 1,
            }
        };
        match answer {
            Answer::Accept => Ok(create()),
            Answer::TimeOutAfterCreating => {
                create();
                Err(NotifyError::Timeout)
            }
            Answer::Refuse(e) => Err(e),
        }
    }
}

impl NotifyPort for FakeNotify {
    async fn send_email(&self, r: &EmailRequest) -> Result<SentNotification, NotifyError> {
        self.answer(
            NotificationType::Email,
            &r.email_address,
            &r.reference,
            r.template_id,
        )
    }

    async fn send_sms(&self, r: &SmsRequest) -> Result<SentNotification, NotifyError> {
        self.answer(
            NotificationType::Sms,
            &r.phone_number,
            &r.reference,
            r.template_id,
        )
    }

    async fn send_letter(&self, r: &LetterRequest) -> Result<SentNotification, NotifyError> {
        let to = r.address.first().cloned().unwrap_or_default();
        self.answer(NotificationType::Letter, &to, &r.reference, r.template_id)
    }

    async fn find_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<NotificationStatus>, NotifyError> {
        Ok(lock(&self.created)
            .iter()
            .rev()
            .filter(|c| c.reference == reference)
            .map(|c| NotificationStatus {
                id: c.id,
                reference: Some(c.reference.clone()),
                notification_type: c.kind,
                status: Status::parse("sending"),
                template_id: Uuid::nil(),
                template_version: 1,
                created_at: time::OffsetDateTime::UNIX_EPOCH,
                sent_at: None,
                completed_at: None,
            })
            .collect())
    }

    async fn get_notification(&self, id: Uuid) -> Result<NotificationStatus, NotifyError> {
        let created = lock(&self.created);
        let c = created
            .iter()
            .find(|c| c.id == id)
            .ok_or(NotifyError::Api {
                status: 404,
                error: crate::notify::ErrorType::parse("NoResultFound"),
                message: "No result found".to_owned(),
                retry_after: None,
            })?;
        Ok(NotificationStatus {
            id: c.id,
            reference: Some(c.reference.clone()),
            notification_type: c.kind,
            status: Status::parse("sending"),
            template_id: Uuid::nil(),
            template_version: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            sent_at: None,
            completed_at: None,
        })
    }
}

/// The send queue: keeps each job with its delay.
#[derive(Debug, Default)]
pub struct FakeQueue {
    failures: Failures,
    /// Jobs queued, with their delay in seconds.
    pub queued: Mutex<Vec<(SendJob, i32)>>,
}

impl FakeQueue {
    /// The next `times` sends fail as an SQS 500 would.
    pub fn fail(&self, times: u32) {
        self.failures.arm("enqueue", times);
    }

    /// The next `times` entries of batch sends are refused (SQS's partial failure), the rest
    /// of their batch taken.
    pub fn refuse_entries(&self, times: u32) {
        self.failures.arm("entry", times);
    }
}

impl SendQueue for FakeQueue {
    async fn enqueue(&self, job: &SendJob, delay_seconds: i32) -> Result<(), QueueError> {
        if self.failures.take("enqueue") {
            return Err(QueueError::sqs(std::io::Error::other("injected 500")));
        }
        lock(&self.queued).push((job.clone(), delay_seconds));
        Ok(())
    }

    async fn enqueue_batch(&self, entries: &[(String, String)]) -> Result<Vec<String>, QueueError> {
        if self.failures.take("enqueue") {
            return Err(QueueError::sqs(std::io::Error::other("injected 500")));
        }
        let mut refused = Vec::new();
        for (id, body) in entries {
            if self.failures.take("entry") {
                refused.push(id.clone());
                continue;
            }
            let job: SendJob = serde_json::from_str(body).map_err(QueueError::Encode)?;
            lock(&self.queued).push((job, 0));
        }
        Ok(refused)
    }
}

/// The pacer: a token whenever asked, unless told to fail.
#[derive(Debug, Default)]
pub struct FakePacer {
    failures: Failures,
    /// Tokens handed out.
    pub acquired: Mutex<u32>,
}

impl FakePacer {
    /// The next `times` acquisitions fail as a throttled pacer item would.
    pub fn fail(&self, times: u32) {
        self.failures.arm("acquire", times);
    }
}

impl Pace for FakePacer {
    async fn acquire(&self) -> Result<(), PacerError> {
        if self.failures.take("acquire") {
            return Err(PacerError(StoreError::new(
                "ProvisionedThroughputExceededException: injected",
            )));
        }
        *lock(&self.acquired) += 1;
        Ok(())
    }

    async fn drain(&self) -> Result<(), PacerError> {
        Ok(())
    }
}

/// Records the fakes are seeded with.
pub mod fixtures {
    use std::collections::HashMap;

    use time::macros::date;
    use uuid::Uuid;

    use crate::campaign::{Campaign, ChannelTemplates, Templates};
    use crate::store::{ChildItem, Facts, Loaded, TeamSendSettings};

    /// An HPV campaign for school 123456: first session 2027-03-10, so requests go on
    /// 2027-02-17, the reminder on 2027-03-02, the session reminder on 2027-03-09; templates
    /// for every purpose and channel.
    pub fn campaign() -> Campaign {
        let templates = ChannelTemplates {
            email: Some(Uuid::from_u128(1)),
            sms: Some(Uuid::from_u128(2)),
            letter: Some(Uuid::from_u128(3)),
        };
        Campaign {
            id: "hpv-y8".into(),
            programme: "hpv".into(),
            schools: vec!["123456".into()],
            year_groups: vec![],
            sessions: vec![date!(2027 - 03 - 10)],
            consent_deadline: None,
            send_requests_on: None,
            reminder_days_before_deadline: vec![7],
            session_reminder: true,
            letters: true,
            urgent: false,
            override_grounds: None,
            templates: Templates {
                consent_request: templates.clone(),
                consent_reminder: templates.clone(),
                session_reminder: templates,
            },
            personalisation: [("programme_name".to_owned(), "HPV".to_owned())].into(),
        }
    }

    /// A child at school 123456 in year 8, whose mother has `email` and the mobile `phone` and
    /// prefers email; described by upload `u1`.
    pub fn child(id: &str, first_name: &str, email: &str, phone: &str) -> ChildItem {
        let team = crate::domain::TeamCode::parse("RYG-sais").expect("team code");
        // Stored as ingest stores it: in E.164.
        let phone = crate::domain::PhoneNumber::parse(phone).expect("a mobile number");
        serde_json::from_value(serde_json::json!({
            "pk": crate::store::keys::child_pk(&team, id), "sk": crate::store::keys::CHILD_SK,
            "gsi1pk": "x", "gsi1sk": id, "gsi2pk": "x", "gsi2sk": id,
            "item_type": "child", "team": "RYG-sais", "child_id": id,
            "first_name": first_name, "last_name": "Smith",
            "date_of_birth": "2013-05-01", "school_urn": "123456", "year_group": 8,
            "address_lines": ["10 Downing Street", "London"], "postcode": "SW1A 2AA",
            "restricted": false, "deceased": false,
            "parents": [{
                "slot": 1, "name": "Sarah Smith", "relationship": "mother",
                "email": email, "phone": phone.e164(), "phone_is_mobile": phone.is_mobile(), "preference": "email"
            }],
            "source": "cohort", "upload_id": "u1", "source_row": 2,
            "updated_at": "2027-02-01T09:00:00Z", "expires_at": 0
        }))
        .expect("a child item")
    }

    /// What a send job reads for `child` in [`campaign`].
    pub fn loaded(child: ChildItem) -> Loaded {
        Loaded {
            hold: None,
            campaign: Some(campaign()),
            facts: Some(facts(child)),
            senders: TeamSendSettings::default(),
        }
    }

    /// `child` with nothing recorded against them.
    pub fn facts(child: ChildItem) -> Facts {
        Facts {
            child,
            statuses: HashMap::new(),
            objections: Vec::new(),
            responses: HashMap::new(),
            left_cohort: false,
        }
    }
}

/// The table as an erasure sees it: children's parent details, objections naming a parent,
/// message recipients and texts' senders, detail statuses, and what the erasure recorded.
#[derive(Debug)]
pub struct FakeErasureTable {
    clock: Clock,
    keyed: bool,
    failures: Failures,
    /// Detail (or marker) → status.
    pub statuses: Mutex<BTreeMap<String, String>>,
    /// Child id → their parents' details (`email:…`, `phone:…`).
    pub parents: Mutex<BTreeMap<String, Vec<String>>>,
    /// Child id → the parent details their objections name (the value, as ingest stores it).
    pub objections: Mutex<BTreeMap<String, Vec<String>>>,
    /// Message id → recipient.
    pub recipients: Mutex<BTreeMap<String, String>>,
    /// Inbound text id → sender.
    pub senders: Mutex<BTreeMap<String, String>>,
    /// (child id, erasure id) recorded on children.
    pub on_children: Mutex<Vec<(String, String)>>,
    /// The team's erasure log: (record, counts, marker).
    pub log: Mutex<Vec<(crate::store::ErasureRecord, crate::store::Erasure, String)>>,
}

impl FakeErasureTable {
    /// An empty table; `keyed` says whether an erasure key is configured.
    pub fn new(clock: Clock, keyed: bool) -> Self {
        Self {
            clock,
            keyed,
            failures: Failures::default(),
            statuses: Mutex::default(),
            parents: Mutex::default(),
            objections: Mutex::default(),
            recipients: Mutex::default(),
            senders: Mutex::default(),
            on_children: Mutex::default(),
            log: Mutex::default(),
        }
    }

    /// The next `times` calls of `operation` (a step of [`crate::erasure::ErasureLedger`])
    /// fail as a DynamoDB 500 would, changing nothing.
    pub fn fail(&self, operation: &'static str, times: u32) {
        self.failures.arm(operation, times);
    }

    /// Everything the table holds, as text (to check a detail is nowhere in it).
    pub fn dump(&self) -> String {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
            lock(&self.statuses),
            lock(&self.parents),
            lock(&self.objections),
            lock(&self.recipients),
            lock(&self.senders),
            lock(&self.on_children),
            lock(&self.log)
        )
    }
}

impl crate::erasure::ErasureLedger for FakeErasureTable {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn marker(&self, team: &TeamCode, detail: &str) -> Option<String> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (team.as_str(), detail).hash(&mut h);
        self.keyed.then(|| format!("erased:{:016x}", h.finish()))
    }

    async fn mark_erased(
        &self,
        _team: &TeamCode,
        detail: &str,
        marker: &str,
        _record: &crate::store::ErasureRecord,
    ) -> Result<(), StoreError> {
        self.failures.check("mark_erased")?;
        let mut statuses = lock(&self.statuses);
        statuses.insert(marker.to_owned(), "erased".into());
        statuses.remove(detail);
        Ok(())
    }

    async fn scrub_parents(
        &self,
        _team: &TeamCode,
        kind: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.failures.check("scrub_parents")?;
        let detail = format!("{kind}:{value}");
        let mut changed = Vec::new();
        for (child, details) in lock(&self.parents).iter_mut() {
            let before = details.len();
            details.retain(|d| *d != detail);
            if details.len() != before {
                changed.push(child.clone());
            }
        }
        Ok(changed)
    }

    async fn remark_objections(
        &self,
        _team: &TeamCode,
        child_id: &str,
        value: &str,
        marker: &str,
    ) -> Result<u64, StoreError> {
        self.failures.check("remark_objections")?;
        let mut n = 0;
        if let Some(named) = lock(&self.objections).get_mut(child_id) {
            for d in named.iter_mut().filter(|d| *d == value) {
                *d = marker.to_owned();
                n += 1;
            }
        }
        Ok(n)
    }

    async fn record_on_child(
        &self,
        _team: &TeamCode,
        child_id: &str,
        record: &crate::store::ErasureRecord,
    ) -> Result<(), StoreError> {
        self.failures.check("record_on_child")?;
        lock(&self.on_children).push((child_id.to_owned(), record.erasure_id.clone()));
        Ok(())
    }

    async fn erase_sent_and_received(
        &self,
        _team: &TeamCode,
        value: &str,
    ) -> Result<(u64, u64), StoreError> {
        self.failures.check("erase_sent_and_received")?;
        let erase = |m: &Mutex<BTreeMap<String, String>>| {
            let mut n = 0;
            for v in lock(m).values_mut().filter(|v| *v == value) {
                *v = "erased".into();
                n += 1;
            }
            n
        };
        Ok((erase(&self.recipients), erase(&self.senders)))
    }

    async fn log_erasure(
        &self,
        _team: &TeamCode,
        record: &crate::store::ErasureRecord,
        outcome: &crate::store::Erasure,
        marker: &str,
    ) -> Result<(), StoreError> {
        self.failures.check("log_erasure")?;
        lock(&self.log).push((record.clone(), outcome.clone(), marker.to_owned()));
        Ok(())
    }
}
