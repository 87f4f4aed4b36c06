//! The ingest function's work: an S3 notification (via SQS) → validate the whole file → only if
//! it is valid, read it again and write the children → write the report back to the bucket.
//!
//! Idempotent per (bucket, key, version or ETag): an uploads ledger in the table remembers what
//! was processed, so a re-delivered notification changes nothing. Every failure either ends in a
//! report the team reads or an error that fails the SQS message (retried, then dead-lettered).

mod objects;
pub mod ports;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{StreamExt, TryStreamExt};
use time::Date;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::aws::AwsClients;
use crate::dispatch::NotifyServices;
use crate::domain::ContactDetail;
use crate::domain::SchoolUrn;
use crate::erasure::ErasureLedger;
use crate::files::campaign_file::{MAX_CAMPAIGN_BYTES, validate_campaign};
use crate::files::children::{ChildFileKind, ChildRow};
use crate::files::csv_file::TextEncoding;
use crate::files::objections::validate_objections_file;
use crate::files::report::{Report, Status, codes};
use crate::files::responses::{ChildMatch, response_codes, validate_responses_file};
use crate::files::team_file::validate_team_settings;
use crate::files::{file_error_report, validate_child_file};
use crate::notify::template_check::check_templates;
use crate::sqs_batch::{BatchError, process_batch};
use crate::store::Store;
use crate::store::batch::{BatchWriteError, MAX_BATCH_ITEMS, RetryPolicy, WriteStats};
use crate::store::{ChildItem, Provenance, child_id_for_nhs};
pub use objects::S3Objects;
use ports::{Head, IngestLedger, OpenError, UploadObjects};

use crate::uploads::{
    KeyClass, ObjectCreated, S3Notification, Upload, UploadKind, classify_key,
    parse_s3_notification,
};

/// Records are kept this long after their last upload unless the team says otherwise.
pub const DEFAULT_RECORDS_DAYS: i64 = 400;

/// Why an upload could not be processed (the SQS message fails and is retried).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The SQS body was not an S3 notification.
    #[error(transparent)]
    NotAnS3Notification(#[from] crate::uploads::NotAnS3Notification),
    /// Reading the object or writing the report failed.
    #[error("S3 {operation} failed: {message}")]
    S3 {
        /// Which call.
        operation: &'static str,
        /// The SDK's error code and message.
        message: String,
        /// The SDK's error, when the call was made.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Writing to the table failed.
    #[error(transparent)]
    Store(#[from] BatchWriteError),
    /// The uploads ledger could not be read or written.
    #[error("uploads ledger: {0}")]
    Ledger(#[source] crate::store::StoreError),
    /// The second pass did not agree with the first (the object changed underneath us).
    #[error("the file read differently on the second pass")]
    Inconsistent,
    /// A blocking task panicked or was cancelled.
    #[error("a reading task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The team's Notify service could not be resolved to check a campaign's templates.
    #[error("the team's Notify service: {0}")]
    TeamService(#[from] crate::teams::TeamError),
    /// Notify could not say whether a campaign's template is right (retried, not rejected).
    #[error(transparent)]
    TemplateCheck(#[from] crate::notify::template_check::TemplateCheckError),
    /// The team's reports could not be made again after an erasure (retried).
    #[error(transparent)]
    Reports(#[from] crate::campaign_report::ReportError),
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Not ours to ingest (our own report, or a key with no team).
    Ignored,
    /// The same upload was processed before: nothing changed.
    AlreadyProcessed,
    /// The object was replaced or removed before we read it; its successor has its own event.
    Superseded,
    /// A report was written with this status.
    Reported(Status),
}

/// What the function needs, built once per process: the table and the upload bucket (in AWS,
/// [`Store`] and [`S3Objects`]; fakes in unit tests).
#[derive(Debug, Clone)]
pub struct Ingest<L = Store, O = S3Objects> {
    ledger: L,
    objects: O,
    policy: RetryPolicy,
    write_concurrency: usize,
    records_days: i64,
    stats: Arc<std::sync::Mutex<WriteStats>>,
    /// Days raw uploads are kept when the team's `team.json` does not say (the template's
    /// `UploadRetentionDays`).
    default_upload_days: u32,
    /// Each team's Notify service, that a campaign's templates are checked against when it is
    /// uploaded (none: not checked, as `sais validate` without a service).
    templates: Option<Arc<crate::teams::TeamServices>>,
    /// The deployment's team-secret path (`TEAM_SECRET_PREFIX`): a `team.json` may name only
    /// secrets under its own team's folder of it (none: not checked).
    team_secret_prefix: Option<String>,
    /// The team's reports, made again when a serious-harm objection erases a detail they show
    /// (none: not rewritten, as in unit tests without a bucket).
    reports: Option<crate::campaign_report::ReportPublisher>,
}

/// What the team's retention says of an upload about to be read.
enum Retention {
    /// Read it; tag it for deletion after `tag_days` (raw uploads), keep what it makes for
    /// `records_days`.
    Read {
        tag_days: Option<u32>,
        records_days: i64,
    },
    /// Not read: already reported (past its retention) or gone.
    Done(IngestOutcome),
}

/// The secrets a team's settings name, read as the functions will read them: one that does
/// not exist, or an API-key secret not holding a Notify API key, is a problem to report (the
/// team's sends would otherwise stop at the first message); Secrets Manager failing is an error
/// to retry.
async fn check_team_secrets(
    directory: &crate::teams::TeamDirectory,
    settings: &crate::files::team_file::TeamSettings,
) -> Result<Vec<crate::files::report::Issue>, IngestError> {
    use crate::teams::TeamError;
    let mut problems = Vec::new();
    for (field, secret, is_key) in [
        (
            "notify_api_key_secret",
            &settings.notify_api_key_secret,
            true,
        ),
        (
            "callback_token_secret",
            &settings.callback_token_secret,
            false,
        ),
    ] {
        let Some(secret_id) = secret else {
            continue;
        };
        let message = match directory.secret(secret_id).await {
            Ok(value) if is_key && crate::notify::ApiKey::parse(value.trim()).is_err() => {
                format!(
                    "{field}: the secret {secret_id} does not hold a Notify API key; paste the \
                     whole key Notify showed when it was created (key name, service id and secret)"
                )
            }
            Ok(value) if crate::teams::tokens(&value).is_empty() => {
                format!(
                    "{field}: the secret {secret_id} is empty; put the token set in Notify in it"
                )
            }
            Ok(_) => continue,
            Err(TeamError::Secret {
                not_found: true, ..
            }) => format!(
                "{field}: there is no secret {secret_id}; create it (docs/deploy.md, adding a \
                 team) or correct the name"
            ),
            Err(e) => return Err(IngestError::TeamService(e)),
        };
        problems.push(crate::files::report::Issue {
            row: None,
            column: Some(field.into()),
            code: crate::files::report::codes::SECRET_UNUSABLE,
            message: message.into(),
        });
    }
    Ok(problems)
}

/// The upload a key names, with the reason it cannot be read (its report says so); `None` for
/// a key no team's upload can be (our own reports, a key outside any team's folder).
fn classify(object: &ObjectCreated) -> Option<(Upload, Option<&'static str>)> {
    match classify_key(&object.key) {
        KeyClass::Report => None,
        KeyClass::Unsupported { team: None, .. } => {
            tracing::warn!("upload outside any team's folder ignored");
            None
        }
        KeyClass::Unsupported {
            team: Some(team),
            key,
            reason,
        } => {
            let file_name = key.rsplit('/').next().unwrap_or_default().to_owned();
            // The kind is never read for an unsupported file: only its report is written.
            let upload = Upload {
                team,
                kind: UploadKind::Cohort,
                key,
                file_name,
            };
            Some((upload, Some(reason)))
        }
        KeyClass::Upload(upload) => Some((upload, None)),
    }
}

impl Ingest {
    /// Ingest writing to `table` with these clients.
    pub fn new(clients: AwsClients, table: impl Into<String>) -> Self {
        Self::with_ports(
            Store::new(clients.dynamodb.clone(), table),
            S3Objects::new(clients.s3.clone()),
        )
    }

    /// Reads every "now" and "today" from `clock` (dates in files, retention, TTLs): a local
    /// run that rehearses days moves it.
    pub fn with_clock(mut self, clock: crate::domain::Clock) -> Self {
        self.reports = self.reports.map(|r| r.with_clock(clock.clone()));
        self.ledger = self.ledger.with_clock(clock);
        self
    }

    /// Makes the team's reports in `bucket` again after a serious-harm objection erases a
    /// detail, so no report file keeps it.
    pub fn with_report_rewrites(
        mut self,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
    ) -> Self {
        let store = self.ledger.clone();
        self.reports = Some(crate::campaign_report::ReportPublisher::new(
            store, s3, bucket,
        ));
        self
    }

    /// The key erased contact details are remembered by: a serious-harm objection erases its
    /// detail (without it, such a file fails and is retried, then dead-lettered).
    pub fn with_erasure_key(mut self, key: crate::store::ErasureKey) -> Self {
        self.ledger = self.ledger.with_erasure_key(key);
        self
    }
}

impl<L: IngestLedger, O: UploadObjects> Ingest<L, O> {
    /// Ingest on these ports.
    pub fn with_ports(ledger: L, objects: O) -> Self {
        Self {
            ledger,
            objects,
            policy: RetryPolicy::default(),
            write_concurrency: 8,
            records_days: DEFAULT_RECORDS_DAYS,
            stats: Arc::default(),
            default_upload_days: crate::files::team_file::DEFAULT_UPLOADS_DAYS,
            templates: None,
            team_secret_prefix: None,
            reports: None,
        }
    }

    /// Checks each uploaded campaign's templates against its team's Notify service.
    pub fn with_template_check(mut self, services: Arc<crate::teams::TeamServices>) -> Self {
        self.templates = Some(services);
        self
    }

    /// Accepts in a `team.json` only secrets under `<prefix><team>/` (`TEAM_SECRET_PREFIX`).
    pub fn with_team_secret_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.team_secret_prefix = Some(prefix.into());
        self
    }

    /// How long raw uploads are kept when the team has not said (`UPLOAD_RETENTION_DAYS`).
    pub fn with_default_upload_days(mut self, days: u32) -> Self {
        self.default_upload_days = days;
        self
    }

    fn clock(&self) -> &crate::domain::Clock {
        self.ledger.clock()
    }

    /// Uses a different retry policy for unprocessed items (tests use a short one).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Every write request this instance has made to the table (batches, ledger, markers).
    pub fn write_stats(&self) -> WriteStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_single_write(&self) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.requests += 1;
        stats.items += 1;
    }

    /// Handles one SQS batch, reporting failed messages for retry.
    pub async fn handle_batch(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        // Files are processed one at a time per instance: each can be large, and its writes are
        // already concurrent.
        process_batch(event, 1, |message| self.handle_message(message)).await
    }

    /// Handles one SQS message (one S3 notification, possibly with several records).
    pub async fn handle_message(&self, message: SqsMessage) -> Result<(), IngestError> {
        let body = message.body.unwrap_or_default();
        match parse_s3_notification(&body)? {
            S3Notification::Test => {
                tracing::info!("S3 test event ignored");
                Ok(())
            }
            S3Notification::Created(objects) => {
                for object in objects {
                    let outcome = self.ingest_object(&object).await?;
                    tracing::info!(outcome = ?outcome, size = object.size, "upload handled");
                }
                Ok(())
            }
        }
    }

    /// Ingests one created object: classify its key → the ledger (processed already?) → the
    /// team's retention → the reader of its kind → its report, tag and ledger entry.
    pub async fn ingest_object(
        &self,
        object: &ObjectCreated,
    ) -> Result<IngestOutcome, IngestError> {
        let Some((upload, unsupported_reason)) = classify(object) else {
            return Ok(IngestOutcome::Ignored);
        };
        let ledger_sk = format!("{}\n{}", upload.key, object.identity());
        if self.already_processed(&upload, &ledger_sk).await? {
            return Ok(IngestOutcome::AlreadyProcessed);
        }
        let upload_id = Uuid::new_v5(&Uuid::NAMESPACE_URL, ledger_sk.as_bytes()).to_string();
        let (retention, records_days) = match self
            .retention(object, &upload, &ledger_sk, unsupported_reason.is_some())
            .await?
        {
            Retention::Read {
                tag_days,
                records_days,
            } => (tag_days, records_days),
            Retention::Done(outcome) => return Ok(outcome),
        };
        let report = match unsupported_reason {
            Some(reason) => file_error_report(
                &upload.file_name,
                "unsupported",
                codes::UNREADABLE,
                format!("This file was not read: {reason}"),
            ),
            None => match self
                .read_by_kind(&upload, object, &upload_id, records_days)
                .await?
            {
                Some(report) => report,
                None => return Ok(IngestOutcome::Superseded),
            },
        };
        self.finish(object, &upload, &ledger_sk, report, retention)
            .await
    }

    /// Whether and how long to keep a raw upload and what it makes: an upload past the team's
    /// retention is reported and not read (a re-delivered or redriven event must not bring
    /// expired data back); every one read is tagged so the bucket's lifecycle deletes it on
    /// time.
    async fn retention(
        &self,
        object: &ObjectCreated,
        upload: &Upload,
        ledger_sk: &str,
        unsupported: bool,
    ) -> Result<Retention, IngestError> {
        // A raw upload's team settings say how long it and the records it makes are kept.
        let raw = upload.kind.is_raw_upload() || unsupported;
        let settings = match raw {
            true => self
                .ledger
                .team_settings(&upload.team)
                .await
                .map_err(IngestError::Ledger)?,
            false => None,
        };
        let records_days = settings
            .as_ref()
            .and_then(|s| s.retention.records_days)
            .map_or(self.records_days, i64::from);
        if !raw {
            return Ok(Retention::Read {
                tag_days: None,
                records_days,
            });
        }
        let days = settings
            .as_ref()
            .map_or(self.default_upload_days, |s| s.retention.uploads_days);
        match self.uploaded_at(object).await? {
            None => Ok(Retention::Done(IngestOutcome::Superseded)),
            Some(at) if self.is_past_retention(at, days) => {
                let mut report = file_error_report(
                    &upload.file_name,
                    upload.kind.name(),
                    codes::UPLOAD_EXPIRED,
                    format!(
                        "This file is older than the {days} days the team keeps uploads, so it was not read; upload it again if it is still needed"
                    ),
                );
                report.processed_at = self.clock().rfc3339();
                self.write_report(&object.bucket, upload, &report).await?;
                self.mark_processed(upload, ledger_sk, &report).await?;
                tracing::warn!(days, "upload past its retention not read");
                Ok(Retention::Done(IngestOutcome::Reported(report.status)))
            }
            Some(_) => Ok(Retention::Read {
                tag_days: Some(days),
                records_days,
            }),
        }
    }

    /// Reads the upload with the reader of its kind; `None` when the object changed or
    /// vanished before it could be read.
    async fn read_by_kind(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
        upload_id: &str,
        records_days: i64,
    ) -> Result<Option<Report>, IngestError> {
        match &upload.kind {
            UploadKind::Cohort => {
                self.child_file(upload, object, ChildFileKind::Cohort, upload_id, records_days)
                    .await
            }
            UploadKind::ClassList { folder } => match SchoolUrn::parse(folder) {
                Ok(urn) => {
                    self.child_file(
                        upload,
                        object,
                        ChildFileKind::ClassList { urn },
                        upload_id,
                        records_days,
                    )
                    .await
                }
                Err(_) => Ok(Some(file_error_report(
                    &upload.file_name,
                    "class-list",
                    codes::INVALID_URN,
                    "A class list must be in a folder named after the school's 6-digit URN (class-list/<URN>/)".into(),
                ))),
            },
            UploadKind::Responses => self.responses_file(upload, object).await,
            UploadKind::Objections => self.objections_file(upload, object).await,
            UploadKind::TeamSettings => self.team_file(upload, object).await,
            UploadKind::Campaign => self.campaign_file(upload, object).await,
        }
    }

    /// Stamps the report on the one clock (a rehearsal's simulated day), tags the upload for
    /// expiry, writes the report back and records the upload as processed — in that order, so
    /// a crash between leaves it to be processed again, never marked done unreported.
    async fn finish(
        &self,
        object: &ObjectCreated,
        upload: &Upload,
        ledger_sk: &str,
        mut report: Report,
        tag_days: Option<u32>,
    ) -> Result<IngestOutcome, IngestError> {
        report.processed_at = self.clock().rfc3339();
        if let Some(days) = tag_days {
            self.tag_for_expiry(object, days).await?;
        }
        self.write_report(&object.bucket, upload, &report).await?;
        self.mark_processed(upload, ledger_sk, &report).await?;
        tracing::info!(
            kind = report.kind.as_str(),
            status = ?report.status,
            rows = report.rows,
            errors = report.errors.len(),
            warnings = report.warnings.len(),
            "report written"
        );
        Ok(IngestOutcome::Reported(report.status))
    }

    /// When the announced version was uploaded; `None` when it is no longer there.
    async fn uploaded_at(&self, object: &ObjectCreated) -> Result<Option<i64>, IngestError> {
        Ok(match self.objects.head(object).await? {
            Head::Gone => None,
            // S3 stamps by real time; read onto the clock's timeline. A head without the
            // stamp (never seen) is taken as just uploaded, not as 1970.
            Head::Present { last_modified } => Some(
                last_modified
                    .map_or_else(|| self.clock().epoch(), |secs| self.clock().stamped(secs)),
            ),
        })
    }

    fn is_past_retention(&self, uploaded_at: i64, days: u32) -> bool {
        let now = self.clock().epoch();
        uploaded_at + i64::from(days) * 86_400 < now
    }

    /// Tags the upload for the bucket's lifecycle rule that deletes it within `days`.
    async fn tag_for_expiry(&self, object: &ObjectCreated, days: u32) -> Result<(), IngestError> {
        self.objects
            .tag(object, EXPIRY_TAG, &expiry_tag_value(days))
            .await
    }

    /// Validates the whole file; only if it is valid, reads it again and writes every child.
    /// `None` when the object changed or vanished before it could be read.
    async fn child_file(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
        kind: ChildFileKind,
        upload_id: &str,
        records_days: i64,
    ) -> Result<Option<Report>, IngestError> {
        let today = self.clock().today();
        let source = match &kind {
            ChildFileKind::Cohort => "cohort".to_owned(),
            ChildFileKind::ClassList { urn } => format!("class-list#{}", urn.as_str()),
        };

        let first = self
            .read_pass(upload, object, &kind, today, None, None)
            .await?;
        let Some(report) = first else {
            return Ok(None);
        };
        if report.status == Status::Rejected {
            return Ok(Some(report));
        }

        // Details erased for the team (serious harm, corrections) stay out of what is stored,
        // even when a file brings them back.
        // Without an erasure key nothing can have been erased (the marker is its keyed hash).
        let keyed = self.ledger.marker(&upload.team, "").is_some();
        let erased = match keyed {
            true => {
                let markers = self
                    .ledger
                    .erased_markers(&upload.team)
                    .await
                    .map_err(IngestError::Ledger)?;
                (!markers.is_empty()).then(|| Arc::new(ErasedDetails { markers }))
            }
            false => None,
        };
        let left_out = Arc::new(std::sync::Mutex::new(Vec::new()));

        let encoding = report.encoding.as_deref().and_then(TextEncoding::from_name);
        let (tx, mut rx) = mpsc::channel::<L::Put>(MAX_BATCH_ITEMS * 64);
        let updated_at = self.clock().rfc3339();
        let expires_at = self.clock().epoch() + records_days * 86_400;
        let team = upload.team.clone();
        let sink = WriteSink {
            tx,
            ledger: self.ledger.clone(),
            team,
            source: source.clone(),
            upload_id: upload_id.to_owned(),
            updated_at,
            expires_at,
            erased,
            left_out: left_out.clone(),
        };
        let reading = self.read_pass(upload, object, &kind, today, encoding, Some(sink));
        let rows = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).chunks(MAX_BATCH_ITEMS);
        let store = &self.ledger;
        let writing = rows
            .map(|chunk| store.write_children(chunk, self.policy))
            .buffer_unordered(self.write_concurrency)
            .try_fold(WriteStats::default(), |mut total, stats| async move {
                total.add(stats);
                Ok(total)
            });
        let (second, written) = tokio::join!(reading, writing);
        let written = written?;
        let second = second?.ok_or(IngestError::Inconsistent)?;
        if second.status != Status::Imported || second.rows_valid != report.rows_valid {
            return Err(IngestError::Inconsistent);
        }
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(written);
        tracing::info!(
            items = written.items,
            requests = written.requests,
            unprocessed_retried = written.unprocessed_retried,
            "children written"
        );
        self.set_latest(upload, &source, upload_id).await?;
        let mut report = report;
        let left_out = std::mem::take(&mut *left_out.lock().unwrap_or_else(|e| e.into_inner()));
        if !left_out.is_empty() {
            tracing::info!(details = left_out.len(), "erased details left out");
        }
        for (row, column) in left_out {
            report.warnings.push(crate::files::report::Issue::new(
                row,
                Some(column),
                codes::DETAIL_ERASED,
                "This contact detail was erased earlier (serious harm or a correction), so it was not stored and will never be used",
            ));
        }
        report.warnings.sort_by_key(|w| w.row);
        Ok(Some(report))
    }

    /// Checks a campaign file and, only if it is valid, saves the campaign (the daily run picks
    /// it up from then on). `None` when the object changed or vanished before it could be read.
    async fn campaign_file(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
    ) -> Result<Option<Report>, IngestError> {
        let Some(bytes) = self.read_small(object, MAX_CAMPAIGN_BYTES + 1).await? else {
            return Ok(None);
        };
        let today = self.clock().today();
        let (mut report, mut campaign) = validate_campaign(&upload.file_name, &bytes, today);
        if let (Some(valid), Some(services)) = (&campaign, &self.templates) {
            // Before anything can be sent: the templates as the team's Notify service has them.
            let service = services.for_team(&upload.team).await?;
            let findings = check_templates(&service.notify, valid).await?;
            if !findings.errors.is_empty() {
                tracing::warn!(
                    campaign_id = valid.id.as_str(),
                    errors = findings.errors.len(),
                    "campaign rejected: its templates do not fit the team's Notify service"
                );
                report.status = Status::Rejected;
                report.rows_valid = 0;
                campaign = None;
            }
            report.errors.extend(findings.errors);
            report.warnings.extend(findings.warnings);
        }
        if let Some(campaign) = campaign {
            self.ledger
                .put_campaign(&upload.team, &campaign)
                .await
                .map_err(IngestError::Ledger)?;
            self.count_single_write();
        }
        Ok(Some(report))
    }

    /// Validates a responses file; only if it is valid, reads it again, matches each row to its
    /// child and records the outcome. A row that matches no child is a warning, not an error.
    async fn responses_file(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
    ) -> Result<Option<Report>, IngestError> {
        let today = self.clock().today();
        let file_name = upload.file_name.clone();
        let Some((mut report, rows)) = self
            .validate_then_collect(object, move |open, encoding, sink| {
                validate_responses_file(&file_name, today, encoding, open, sink)
            })
            .await?
        else {
            return Ok(None);
        };
        if report.status == Status::Rejected {
            return Ok(Some(report));
        }
        let store = &self.ledger;
        let team = &upload.team;
        let ledger = IngestError::Ledger;

        let matched = match_children(store, team, rows.iter().map(|r| &r.child)).await?;
        let mut writes: Vec<(String, &'static str, &'static str)> = Vec::new();
        let mut unknown = Vec::new();
        for (row, ids) in rows.iter().zip(matched) {
            if ids.is_empty() {
                unknown.push(row.row);
            }
            writes.extend(ids.into_iter().map(|id| (id, row.programme, row.outcome)));
        }
        // In file order per child and programme: a later row is the newer answer.
        let recorded = futures::stream::iter(writes)
            .then(|(id, programme, outcome)| {
                let store = &store;
                async move { store.record_response(team, &id, programme, outcome).await }
            })
            .try_fold(0u64, |n, done| async move { Ok(n + u64::from(done)) })
            .await
            .map_err(ledger)?;
        let unknown_children = unknown.len();
        for row in unknown {
            report.warnings.push(crate::files::report::Issue::new(
                row,
                None::<&'static str>,
                response_codes::UNKNOWN_CHILD,
                "No child in the service matches this row; check the NHS number (or the name, date of birth and postcode) against the cohort",
            ));
        }
        report.warnings.sort_by_key(|w| w.row);
        tracing::info!(
            rows = rows.len(),
            recorded,
            unknown_children,
            "responses recorded"
        );
        Ok(Some(report))
    }

    /// Validates an objections file; only if it is valid, reads it again, matches each row to
    /// its child and records (or withdraws) the objection, which the dispatcher upholds at every
    /// send. A serious-harm objection also marks the detail erased, so it is never used again.
    async fn objections_file(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
    ) -> Result<Option<Report>, IngestError> {
        let today = self.clock().today();
        let file_name = upload.file_name.clone();
        let Some((mut report, rows)) = self
            .validate_then_collect(object, move |open, encoding, sink| {
                validate_objections_file(&file_name, today, encoding, open, sink)
            })
            .await?
        else {
            return Ok(None);
        };
        if report.status == Status::Rejected {
            return Ok(Some(report));
        }
        let store = &self.ledger;
        let team = &upload.team;
        let ledger = IngestError::Ledger;
        let matched = match_children(store, team, rows.iter().map(|r| &r.child)).await?;
        let recorded_at = self.clock().rfc3339();
        let (mut recorded, mut erased) = (0u64, 0u64);
        let mut erased_details: Vec<String> = Vec::new();
        for (row, ids) in rows.iter().zip(matched) {
            if ids.is_empty() {
                report.warnings.push(crate::files::report::Issue::new(
                    row.row,
                    None::<&'static str>,
                    response_codes::UNKNOWN_CHILD,
                    "No child in the service matches this row; check the NHS number (or the name, date of birth and postcode) against the cohort",
                ));
                continue;
            }
            // The same scope and detail is the same objection: a withdrawal finds its addition.
            let objection_id = Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!(
                    "{}\n{}",
                    row.scope,
                    row.parent_detail.as_deref().unwrap_or("all")
                )
                .as_bytes(),
            )
            .simple()
            .to_string();
            // Objections name the parent by the detail as the child item stores it.
            let detail = row
                .parent_detail
                .as_deref()
                .map(|d| d.split_once(':').map_or(d, |(_, v)| v));
            let audit = crate::store::ObjectionAudit {
                reason: row.reason.clone(),
                recorded_by: row.recorded_by.clone(),
                serious_harm: row.serious_harm,
                recorded_at: recorded_at.clone(),
                date: row.date.map(|d| d.to_string()),
            };
            for id in &ids {
                store
                    .record_objection(
                        team,
                        id,
                        &objection_id,
                        row.scope,
                        detail,
                        row.withdraw,
                        Some(&audit),
                    )
                    .await
                    .map_err(ledger)?;
                recorded += 1;
            }
            if row.serious_harm
                && !row.withdraw
                && let Some(key) = &row.parent_detail
            {
                let erasure = crate::erasure::erase_detail(
                    store,
                    team,
                    key,
                    &row.recorded_by,
                    crate::store::ErasureReason::SeriousHarm,
                    &ids,
                )
                .await
                .map_err(ledger)?;
                erased += 1;
                erased_details.push(key.clone());
                report.warnings.push(crate::files::report::Issue::new(
                    row.row,
                    None::<&'static str>,
                    codes::DETAIL_ERASED,
                    format!(
                        "The {} was erased from {} children's records, {} messages and {} objections; it will never be used again",
                        if erasure.detail_kind == "email" { "email address" } else { "phone number" },
                        erasure.children,
                        erasure.messages,
                        erasure.objections
                    ),
                ));
            }
        }
        // The reports staff download are made again without the erased details; until that
        // is done the upload is not finished (it is retried whole, each step again).
        if let Some(reports) = &self.reports
            && !erased_details.is_empty()
        {
            erased_details.sort();
            erased_details.dedup();
            reports.after_erasure(team, &erased_details).await?;
        }
        report.warnings.sort_by_key(|w| w.row);
        tracing::info!(rows = rows.len(), recorded, erased, "objections recorded");
        Ok(Some(report))
    }

    /// Validates a file whose valid rows are collected in memory (responses, objections); only
    /// if it is valid, reads it again with the encoding found and returns its rows. `None` when
    /// the object changed or vanished meanwhile.
    async fn validate_then_collect<T, F>(
        &self,
        object: &ObjectCreated,
        validate: F,
    ) -> Result<Option<(Report, Vec<T>)>, IngestError>
    where
        T: Send + 'static,
        F: Fn(
                &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
                Option<TextEncoding>,
                &mut dyn FnMut(T),
            ) -> Report
            + Clone
            + Send
            + 'static,
    {
        let first = validate.clone();
        let Some(report) = self
            .blocking_pass(object, move |open, _| first(open, None, &mut |_| {}))
            .await?
        else {
            return Ok(None);
        };
        if report.status == Status::Rejected {
            return Ok(Some((report, Vec::new())));
        }
        let encoding = report.encoding.as_deref().and_then(TextEncoding::from_name);
        let rows = Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = rows.clone();
        let Some(second) = self
            .blocking_pass(object, move |open, _| {
                validate(open, encoding, &mut |row| {
                    collected
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(row);
                })
            })
            .await?
        else {
            return Ok(None);
        };
        if second.rows_valid != report.rows_valid {
            return Err(IngestError::Inconsistent);
        }
        let rows = std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Some((report, rows)))
    }

    /// Checks `team.json` and, only if it is valid, saves the settings.
    async fn team_file(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
    ) -> Result<Option<Report>, IngestError> {
        let Some(bytes) = self.read_small(object, MAX_CAMPAIGN_BYTES + 1).await? else {
            return Ok(None);
        };
        let (mut report, mut settings) = validate_team_settings(&upload.file_name, &bytes);
        if let (Some(valid), Some(prefix)) = (&settings, &self.team_secret_prefix) {
            let outside = valid.secrets_outside(prefix, upload.team.as_str());
            if !outside.is_empty() {
                report.status = Status::Rejected;
                report.rows_valid = 0;
                report
                    .errors
                    .extend(outside.into_iter().map(|(field, code, message)| {
                        crate::files::report::Issue {
                            row: None,
                            column: Some(field.into()),
                            code,
                            message: message.into(),
                        }
                    }));
                settings = None;
            }
        }
        if let (Some(valid), Some(services)) = (&settings, &self.templates) {
            let problems = check_team_secrets(services.directory(), valid).await?;
            if !problems.is_empty() {
                report.status = Status::Rejected;
                report.rows_valid = 0;
                report.errors.extend(problems);
                settings = None;
            }
        }
        if let Some(settings) = settings {
            self.ledger
                .put_team_settings(&upload.team, &settings)
                .await
                .map_err(IngestError::Ledger)?;
            self.count_single_write();
            // This process's next campaign check uses the new service at once.
            if let Some(services) = &self.templates {
                services.forget(&upload.team).await;
            }
        }
        Ok(Some(report))
    }

    /// Reads at most `limit` bytes of a small object (campaign and settings files).
    async fn read_small(
        &self,
        object: &ObjectCreated,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, IngestError> {
        self.objects.read_small(object, limit).await
    }

    /// One streaming pass over the object in a blocking thread; rows go to `sink` when given.
    async fn read_pass(
        &self,
        upload: &Upload,
        object: &ObjectCreated,
        kind: &ChildFileKind,
        today: Date,
        encoding: Option<TextEncoding>,
        sink: Option<WriteSink<L>>,
    ) -> Result<Option<Report>, IngestError> {
        let file_name = upload.file_name.clone();
        let kind = kind.clone();
        self.blocking_pass(object, move |open, aborted| match sink {
            None => validate_child_file(&file_name, &kind, today, encoding, open, |_| {}),
            Some(sink) => validate_child_file(&file_name, &kind, today, encoding, open, |row| {
                if !sink.send(&row) {
                    aborted.store(true, Ordering::Relaxed);
                }
            }),
        })
        .await
    }

    /// Runs `validate` in a blocking thread over a stream of the object (opened afresh for each
    /// pass it makes). `None` when the object changed or vanished before it could be read.
    /// `validate` sets the flag it is given to stop reading when its writer has failed.
    async fn blocking_pass<F>(
        &self,
        object: &ObjectCreated,
        validate: F,
    ) -> Result<Option<Report>, IngestError>
    where
        F: FnOnce(
                &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
                &Arc<AtomicBool>,
            ) -> Report
            + Send
            + 'static,
    {
        let objects = self.objects.clone();
        let object = object.clone();
        let aborted = Arc::new(AtomicBool::new(false));
        let gone = Arc::new(AtomicBool::new(false));
        let (aborted2, gone2) = (aborted.clone(), gone.clone());
        let report = tokio::task::spawn_blocking(move || {
            let mut open = || open_object(&objects, &object, &aborted2, &gone2);
            validate(&mut open, &aborted2)
        })
        .await
        .map_err(IngestError::Task)?;
        if gone.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if aborted.load(Ordering::Relaxed) {
            // The writer stopped (its error is reported by the caller); the report is moot.
            return Ok(Some(report));
        }
        if report
            .file_errors
            .iter()
            .any(|e| e.code == codes::UNREADABLE)
        {
            return Err(IngestError::S3 {
                operation: "GetObject",
                message: "the object could not be read to the end".into(),
                source: None,
            });
        }
        Ok(Some(report))
    }

    async fn already_processed(&self, upload: &Upload, sk: &str) -> Result<bool, IngestError> {
        self.ledger
            .upload_done(&upload.team, sk)
            .await
            .map_err(IngestError::Ledger)
    }

    async fn mark_processed(
        &self,
        upload: &Upload,
        sk: &str,
        report: &Report,
    ) -> Result<(), IngestError> {
        let status = match report.status {
            Status::Imported => "imported",
            Status::Rejected => "rejected",
        };
        self.ledger
            .record_upload(
                &upload.team,
                sk,
                &crate::store::UploadDone {
                    status,
                    kind: &report.kind,
                    rows: report.rows,
                    report_key: &upload.report_key(),
                    processed_at: &report.processed_at,
                },
            )
            .await
            .map_err(IngestError::Ledger)?;
        self.count_single_write();
        Ok(())
    }

    async fn set_latest(
        &self,
        upload: &Upload,
        source: &str,
        upload_id: &str,
    ) -> Result<(), IngestError> {
        self.ledger
            .set_latest_upload(&upload.team, source, upload_id)
            .await
            .map_err(IngestError::Ledger)?;
        self.count_single_write();
        Ok(())
    }

    async fn write_report(
        &self,
        bucket: &str,
        upload: &Upload,
        report: &Report,
    ) -> Result<(), IngestError> {
        let json = serde_json::to_vec_pretty(report).expect("a report always serialises");
        self.put(bucket, &upload.report_key(), json, "application/json")
            .await?;
        if report.status == Status::Rejected {
            self.put(
                bucket,
                &upload.errors_key(),
                report.errors_csv(),
                "text/csv",
            )
            .await?;
        } else {
            // A fixed re-upload must not leave the old list of errors beside its new report.
            self.objects.delete(bucket, &upload.errors_key()).await?;
        }
        Ok(())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), IngestError> {
        self.objects.put(bucket, key, body, content_type).await
    }
}

/// Turns valid rows into put requests on the reading thread and hands them to the writer.
struct WriteSink<L: IngestLedger> {
    tx: mpsc::Sender<L::Put>,
    /// Makes the put requests and the erasure markers.
    ledger: L,
    team: crate::uploads::TeamCode,
    source: String,
    upload_id: String,
    updated_at: String,
    expires_at: i64,
    /// The team's erased details, when it has any.
    erased: Option<Arc<ErasedDetails>>,
    /// Where an erased detail was left out: row and column.
    left_out: Arc<std::sync::Mutex<Vec<(u64, String)>>>,
}

/// The markers of a team's erased details.
struct ErasedDetails {
    markers: std::collections::HashSet<String>,
}

impl ErasedDetails {
    /// The row without its erased details (a copy only when it has one), and their columns.
    fn strip<'r>(
        &self,
        ledger: &impl ErasureLedger,
        team: &crate::uploads::TeamCode,
        row: &'r ChildRow,
    ) -> (std::borrow::Cow<'r, ChildRow>, Vec<String>) {
        let erased = |detail: String| {
            ledger
                .marker(team, &detail)
                .is_some_and(|m| self.markers.contains(&m))
        };
        let mut row = std::borrow::Cow::Borrowed(row);
        let mut columns = Vec::new();
        for i in 0..row.parents.len() {
            let parent = &row.parents[i];
            let slot = parent.slot;
            let email = parent
                .email
                .as_ref()
                .is_some_and(|e| erased(ContactDetail::email(e).key()));
            let phone = parent
                .phone
                .as_ref()
                .is_some_and(|p| erased(ContactDetail::phone(p).key()));
            if email {
                row.to_mut().parents[i].email = None;
                columns.push(format!("PARENT_{slot}_EMAIL"));
            }
            if phone {
                row.to_mut().parents[i].phone = None;
                columns.push(format!("PARENT_{slot}_PHONE"));
            }
        }
        (row, columns)
    }
}

impl<L: IngestLedger> WriteSink<L> {
    /// False when the writer has stopped.
    fn send(&self, row: &ChildRow) -> bool {
        let provenance = Provenance {
            team: &self.team,
            source: &self.source,
            upload_id: &self.upload_id,
            updated_at: &self.updated_at,
            expires_at: self.expires_at,
        };
        let row = match &self.erased {
            Some(erased) => {
                let (row, columns) = erased.strip(&self.ledger, &self.team, row);
                if !columns.is_empty() {
                    let number = row.row;
                    self.left_out
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(columns.into_iter().map(|c| (number, c)));
                }
                row
            }
            None => std::borrow::Cow::Borrowed(row),
        };
        match self
            .ledger
            .child_put(&ChildItem::from_row(&row, &provenance))
        {
            Ok(request) => self.tx.blocking_send(request).is_ok(),
            Err(_) => false,
        }
    }
}

/// The object tag the bucket's lifecycle rules match raw uploads by.
pub const EXPIRY_TAG: &str = "sais:kind";

/// The retention periods the template has a lifecycle rule for (`sais:kind=upload-<N>d`).
pub const EXPIRY_PERIODS: &[u32] = &[1, 7, 14, 30, 60, 90, 180, 365];

/// The tag value for a team keeping uploads `days`: the longest period with a rule that is not
/// longer than the team asked (S3 rules are fixed; ingest refuses anything older anyway).
pub fn expiry_tag_value(days: u32) -> String {
    let period = EXPIRY_PERIODS
        .iter()
        .rev()
        .find(|&&p| p <= days)
        .copied()
        .unwrap_or(1);
    format!("upload-{period}d")
}

/// Opens the exact version that was notified, as a blocking reader that stops once the writer
/// has failed (called on a blocking thread); `gone` is set when that version is no longer there.
fn open_object(
    objects: &impl UploadObjects,
    object: &ObjectCreated,
    aborted: &Arc<AtomicBool>,
    gone: &Arc<AtomicBool>,
) -> std::io::Result<Box<dyn Read + Send>> {
    match objects.open(object) {
        Ok(inner) => Ok(Box::new(AbortableRead {
            inner,
            aborted: aborted.clone(),
        })),
        Err(OpenError::Gone) => {
            gone.store(true, Ordering::Relaxed);
            Err(std::io::Error::other("the announced version is gone"))
        }
        Err(OpenError::Failed(e)) => Err(e),
    }
}

/// Stops reading (with an error) once the writer has failed, so a big file is not read in vain.
struct AbortableRead<R> {
    inner: R,
    aborted: Arc<AtomicBool>,
}

impl<R: Read> Read for AbortableRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.aborted.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("writing failed; reading stopped"));
        }
        self.inner.read(buf)
    }
}

/// The key `Store::children_by_details` matches on, for a row without an NHS number.
fn details_key(child: &ChildMatch) -> Option<String> {
    match child {
        ChildMatch::Nhs(_) => None,
        ChildMatch::Details {
            first_name,
            last_name,
            date_of_birth,
            postcode,
        } => Some(format!(
            "{first_name}\n{last_name}\n{date_of_birth}\n{postcode}"
        )),
    }
}

/// The children each row names: an NHS number gives the id directly (if that child exists); the
/// four details are looked up among the team's children — every record with them, so a child
/// listed twice gets the row on both. An empty list: no child matches.
async fn match_children<'a>(
    store: &impl IngestLedger,
    team: &crate::uploads::TeamCode,
    rows: impl Iterator<Item = &'a ChildMatch> + Clone,
) -> Result<Vec<Vec<String>>, IngestError> {
    let ledger = IngestError::Ledger;
    let by_nhs: Vec<String> = rows
        .clone()
        .filter_map(|c| match c {
            ChildMatch::Nhs(nhs) => Some(child_id_for_nhs(team, nhs)),
            ChildMatch::Details { .. } => None,
        })
        .collect();
    let existing = store
        .existing_children(team, &by_nhs)
        .await
        .map_err(ledger)?;
    let wanted: std::collections::HashSet<String> = rows.clone().filter_map(details_key).collect();
    let by_details = store
        .children_by_details(team, &wanted)
        .await
        .map_err(ledger)?;
    Ok(rows
        .map(|c| match c {
            ChildMatch::Nhs(nhs) => Some(child_id_for_nhs(team, nhs))
                .filter(|id| existing.contains(id))
                .into_iter()
                .collect(),
            details => details_key(details)
                .and_then(|k| by_details.get(&k).cloned())
                .unwrap_or_default(),
        })
        .collect())
}
