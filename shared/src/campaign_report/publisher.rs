//! The team's report files in the bucket: written after each daily run, and rewritten when a
//! contact detail is erased. A report made before an erasure still shows the detail — a
//! message's recipient in `<id>.csv`, a text's sender and words in the day's replies file and on
//! the page — so erasing it from the records alone would leave it in the files staff download
//! and keep. After an erasure every campaign report the team has is made again from the erased
//! records; a file still holding the detail (a campaign no longer held, a day whose texts have
//! since expired) is deleted; and the bucket's earlier versions of the team's reports are
//! deleted, since they hold what the current ones no longer do.

use std::collections::BTreeSet;

use aws_sdk_s3::error::DisplayErrorContext;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{CampaignReport, build, page::esc};
use crate::campaign::Campaign;
use crate::domain::Clock;
use crate::store::{Store, StoreError};
use crate::uploads::TeamCode;

/// A campaign's files, by the end of their name (the longest first: `.follow-up.csv` before
/// `.csv`).
const CAMPAIGN_FILES: [&str; 4] = [".follow-up.csv", ".summary.json", ".html", ".csv"];

/// The periods the template has a lifecycle rule deleting reports after
/// (`sais:kind=report-<N>d`); a team keeps records at least 30 days.
pub const REPORT_EXPIRY_PERIODS: &[u32] = &[30, 60, 90, 180, 365];

/// The tag value for the reports of a team keeping records `days`: the longest period with a
/// rule that is not longer.
pub fn report_expiry_tag_value(days: u32) -> String {
    let period = REPORT_EXPIRY_PERIODS
        .iter()
        .rev()
        .find(|&&p| p <= days)
        .copied()
        .unwrap_or(REPORT_EXPIRY_PERIODS[0]);
    format!("report-{period}d")
}

/// Report files read at once while looking for an erased detail.
const READ_AT_ONCE: usize = 2;

/// S3 calls in flight at once while reading or deleting a team's reports.
const S3_CONCURRENCY: usize = 8;

/// Why the reports could not be written or rewritten; the caller retries (the daily run logs
/// it and alarms; an erasure's upload is retried whole).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The records could not be read.
    #[error("reading the records for a report: {0}")]
    Store(#[from] StoreError),
    /// An S3 call failed.
    #[error("S3 {operation} of a report failed: {message}")]
    S3 {
        /// Which call.
        operation: &'static str,
        /// The SDK's error code and message.
        message: String,
    },
}

impl ReportError {
    fn s3(operation: &'static str, e: impl std::error::Error) -> Self {
        Self::S3 {
            operation,
            message: DisplayErrorContext(e).to_string(),
        }
    }
}

/// What an erasure changed in the team's reports (counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportsErased {
    /// Campaign reports made again from the erased records (those whose files held it).
    pub campaigns_rewritten: u64,
    /// Report files deleted because they still held the detail.
    pub files_deleted: u64,
    /// Earlier versions of the team's report files deleted.
    pub earlier_versions_deleted: u64,
}

/// What the daily run's reports came to (counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailyReports {
    /// Campaign reports written (with the team's replies files).
    pub campaigns: u64,
    /// Teams with no campaign run that day whose replies files were written.
    pub replies_only_teams: u64,
    /// Reports or replies that could not be made (logged, alarmed on).
    pub failed: u64,
}

/// Writes a team's campaign reports to the uploads bucket, from the table.
#[derive(Debug, Clone)]
pub struct ReportPublisher {
    store: Store,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl ReportPublisher {
    /// Reports made from `store`, written to `bucket`.
    pub fn new(store: Store, s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            store,
            s3,
            bucket: bucket.into(),
        }
    }

    /// Dates the reports with `clock` (a local run that rehearses days moves it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.store = self.store.with_clock(clock);
        self
    }

    /// Makes the campaign's report and writes its files; the keys written (none when the table
    /// holds no such campaign).
    pub async fn publish(
        &self,
        team: &TeamCode,
        campaign_id: &str,
    ) -> Result<Vec<String>, ReportError> {
        let Some(campaign) = self.store.campaign(team, campaign_id).await? else {
            return Ok(Vec::new());
        };
        Ok(self.make(team, &campaign).await?.1)
    }

    /// Makes `campaign`'s report from the table and writes its files, each tagged to be deleted
    /// once the team's records would be (`retention.records_days`, else 400 days, at most a
    /// year: a report rewritten every day of its campaign goes that long after the last).
    pub async fn make(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> Result<(CampaignReport, Vec<String>), ReportError> {
        let records_days = self.records_days(team).await?;
        let report = build(&self.store, team, campaign).await?;
        let keys = report
            .publish(&self.s3, &self.bucket, records_days)
            .await
            .map_err(|message| ReportError::S3 {
                operation: "PutObject",
                message,
            })?;
        Ok((report, keys))
    }

    /// How long the team keeps its records (`retention.records_days`, else 400 days).
    async fn records_days(&self, team: &TeamCode) -> Result<u32, ReportError> {
        Ok(self
            .store
            .team_settings(team)
            .await?
            .and_then(|s| s.retention.records_days)
            .unwrap_or(crate::ingest::DEFAULT_RECORDS_DAYS as u32))
    }

    /// Makes and writes one campaign's report, as after its run (by hand, or daily); whether
    /// it was written. A failure is logged with the `report_failed` metric (alarmed on).
    pub async fn report_campaign(&self, team: &TeamCode, campaign_id: &str) -> bool {
        match self.publish(team, campaign_id).await {
            Ok(keys) => {
                tracing::info!(campaign_id, files = keys.len(), "campaign report written");
                true
            }
            Err(error) => {
                tracing::error!(
                    campaign_id,
                    %error,
                    metric = "report_failed",
                    "campaign report failed"
                );
                false
            }
        }
    }

    /// After the daily run: the report of each campaign it ran (`runs`: team, campaign id),
    /// then the replies files of every other team with a campaign on record, whose parents
    /// still text between campaigns. A report that cannot be made is logged with the
    /// `report_failed` metric (alarmed on: `reports-failed`) and does not stop the others: the
    /// day's jobs are already queued, and the next run makes it again.
    pub async fn after_daily_run(&self, runs: &[(String, String)]) -> DailyReports {
        let mut out = DailyReports::default();
        let mut reported = BTreeSet::new();
        for (team, campaign_id) in runs {
            let Some(team) = TeamCode::parse(team) else {
                continue;
            };
            if self.report_campaign(&team, campaign_id).await {
                out.campaigns += 1;
                reported.insert(team);
            } else {
                out.failed += 1;
            }
        }
        let teams: BTreeSet<TeamCode> = match self.store.every_campaign().await {
            Ok(campaigns) => campaigns.into_iter().map(|c| c.team).collect(),
            Err(error) => {
                tracing::error!(%error, metric = "report_failed", "teams' replies not written: the campaigns could not be listed");
                out.failed += 1;
                return out;
            }
        };
        for team in teams.difference(&reported) {
            let written = async {
                let days = self.records_days(team).await?;
                super::publish_replies(&self.store, &self.s3, &self.bucket, team, days).await
            };
            match written.await {
                Ok(keys) => {
                    tracing::info!(team = %team, files = keys.len(), "replies written");
                    out.replies_only_teams += 1;
                }
                Err(error) => {
                    tracing::error!(team = %team, %error, metric = "report_failed", "replies failed");
                    out.failed += 1;
                }
            }
        }
        out
    }

    /// After `details` (each `email:…` or `phone:+44…`) were erased from the team's records:
    /// makes again, from the erased records, each campaign report whose files hold one of them
    /// (and with it the team's replies files; or those alone when only they hold one), deletes
    /// any report file that still holds one (a campaign no longer held, a day whose texts have
    /// expired), then every earlier version of the team's report files. Every file that shows
    /// a text's words shows its number beside them, so finding the detail finds the words.
    /// Safe to run again: what was made again holds nothing to find.
    pub async fn after_erasure(
        &self,
        team: &TeamCode,
        details: &[String],
    ) -> Result<ReportsErased, ReportError> {
        let forms: Vec<String> = details.iter().flat_map(|d| written_forms(d)).collect();
        let mut outcome = ReportsErased::default();
        let campaigns_folder = format!("{team}/reports/campaigns/");
        let mut keys = self.keys(&campaigns_folder).await?;
        keys.extend(self.keys(&format!("{team}/reports/replies/")).await?);

        let holding = self.holding(keys, &forms).await?;
        let campaigns: BTreeSet<&str> = holding
            .iter()
            .filter_map(|k| k.strip_prefix(&campaigns_folder))
            .filter_map(campaign_of)
            .collect();
        for id in campaigns {
            if !self.publish(team, id).await?.is_empty() {
                outcome.campaigns_rewritten += 1;
            }
        }
        let replies_held = holding.iter().any(|k| !k.starts_with(&campaigns_folder));
        if replies_held && outcome.campaigns_rewritten == 0 {
            let days = self.records_days(team).await?;
            super::publish_replies(&self.store, &self.s3, &self.bucket, team, days).await?;
        }

        // What was not made again (or anything the new files still hold, which they should
        // not): deleted.
        for key in self.holding(holding, &forms).await? {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| ReportError::s3("DeleteObject", e))?;
            outcome.files_deleted += 1;
        }

        let earlier = self.earlier_versions(&format!("{team}/reports/")).await?;
        stream::iter(earlier.iter().cloned())
            .map(|(key, version)| async move {
                self.s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .version_id(&version)
                    .send()
                    .await
                    .map_err(|e| ReportError::s3("DeleteObject (version)", e))
            })
            .buffer_unordered(S3_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        outcome.earlier_versions_deleted = earlier.len() as u64;

        tracing::info!(
            campaigns_rewritten = outcome.campaigns_rewritten,
            files_deleted = outcome.files_deleted,
            earlier_versions_deleted = outcome.earlier_versions_deleted,
            "reports rewritten after an erasure"
        );
        Ok(outcome)
    }

    /// Those of `keys` whose file holds one of `forms`, read two at a time (a big campaign's
    /// CSV is tens of megabytes).
    async fn holding(
        &self,
        keys: Vec<String>,
        forms: &[String],
    ) -> Result<Vec<String>, ReportError> {
        // Owned items: a future borrowing the stream's items is not `Send` for every lifetime,
        // which an ingest spawned on the runtime needs.
        stream::iter(keys)
            .map(|key| async move {
                let body = self.body(&key).await?;
                Ok::<_, ReportError>(body.filter(|b| holds(b, forms)).map(|_| key))
            })
            .buffered(READ_AT_ONCE)
            .try_filter_map(|k| async move { Ok(k) })
            .try_collect()
            .await
    }

    /// Every key under `prefix`.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, ReportError> {
        crate::aws::list_keys(&self.s3, &self.bucket, prefix)
            .await
            .map_err(|e| ReportError::s3("ListObjectsV2", e))
    }

    /// The object's bytes; `None` when it is gone.
    async fn body(&self, key: &str) -> Result<Option<Vec<u8>>, ReportError> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(Some(
                object
                    .body
                    .collect()
                    .await
                    .map_err(|e| ReportError::s3("GetObject (body)", e))?
                    .to_vec(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(ReportError::s3("GetObject", e)),
        }
    }

    /// Every version under `prefix` that is not the current one (delete markers included), as
    /// (key, version id).
    async fn earlier_versions(&self, prefix: &str) -> Result<Vec<(String, String)>, ReportError> {
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| ReportError::s3("ListObjectVersions", e))?;
            let versions = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id(), v.is_latest()));
            let markers = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id(), m.is_latest()));
            for (key, version, latest) in versions.chain(markers) {
                if let (Some(key), Some(version), Some(false)) = (key, version, latest)
                    && version != "null"
                {
                    found.push((key.to_owned(), version.to_owned()));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(found);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }
}

/// The campaign id of a file name under `reports/campaigns/`.
fn campaign_of(name: &str) -> Option<&str> {
    CAMPAIGN_FILES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// How a detail can appear in a report, lower-cased: a phone number in international digits
/// (`447700900123`, inside `+44…` and `'+44…`), national (`07700900123`) and national spaced
/// (`07700 900123`); an email address as written and as the page escapes it. Compared with
/// the file ASCII lower-cased, as an address's domain is.
fn written_forms(detail: &str) -> Vec<String> {
    let mut forms = Vec::new();
    match detail.split_once(':') {
        Some(("phone", number)) => {
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            if let Some(national) = digits.strip_prefix("44") {
                forms.push(format!("0{national}"));
                if national.len() == 10 {
                    forms.push(format!("0{} {}", &national[..4], &national[4..]));
                }
            }
            forms.push(digits);
        }
        Some(("email", address)) => {
            let address = address.to_ascii_lowercase();
            forms.push(esc(&address));
            forms.push(address);
        }
        _ => {}
    }
    forms.retain(|f| f.len() >= 5);
    forms.sort();
    forms.dedup();
    forms
}

/// Whether `body` holds any of `forms` (ASCII lower-cased).
fn holds(body: &[u8], forms: &[String]) -> bool {
    let lower = body.to_ascii_lowercase();
    let text = String::from_utf8_lossy(&lower);
    forms.iter().any(|f| text.contains(f.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_number_is_found_however_a_report_writes_it() {
        let forms = written_forms("phone:+447700900123");
        for written in [
            "FROM\n'+447700900123\n",
            "<td>+447700900123</td>",
            "07700900123",
            "call 07700 900123",
        ] {
            assert!(holds(written.as_bytes(), &forms), "{written}");
        }
        assert!(!holds(b"+447700900124 07700 900124", &forms));
    }

    #[test]
    fn an_email_address_is_found_in_any_case_and_escaped() {
        let forms = written_forms("email:o'neill@example.com");
        assert!(holds(b"O'Neill@Example.com", &forms));
        assert!(holds(b"<td>o&#39;neill@example.com</td>", &forms));
        assert!(!holds(b"neill@example.com", &forms));
    }

    #[test]
    fn a_campaign_is_known_by_each_of_its_files() {
        for name in [
            "hpv-2027.csv",
            "hpv-2027.follow-up.csv",
            "hpv-2027.summary.json",
            "hpv-2027.html",
        ] {
            assert_eq!(campaign_of(name), Some("hpv-2027"), "{name}");
        }
        assert_eq!(campaign_of("notes.txt"), None);
        assert_eq!(campaign_of(".csv"), None);
    }
}
