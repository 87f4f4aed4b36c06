//! Ingest's ports: what reading an upload touches, as ingest needs it.
//!
//! In AWS each is the real thing — [`Store`] (DynamoDB) and [`S3Objects`](super::S3Objects) —
//! and `Ingest` is used with its default type parameters. A unit test gives it in-memory fakes
//! (`fakes::ingest`), so the paths that decide whether a file's children are written, whether
//! its report is written and whether it is marked done run in milliseconds, with a failure
//! injected exactly where it matters.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Read;

use super::IngestError;
use crate::campaign::Campaign;
use crate::domain::TeamCode;
use crate::erasure::ErasureLedger;
use crate::files::team_file::TeamSettings;
use crate::store::batch::{BatchWriteError, ChildPut, RetryPolicy, WriteStats, write_chunk};
use crate::store::{ChildItem, ObjectionAudit, Store, StoreError, UploadDone};
use crate::uploads::ObjectCreated;

/// The table, as far as ingesting an upload reads and writes it (its clock, and the steps of a
/// serious-harm erasure, are the [`ErasureLedger`]'s).
pub trait IngestLedger: ErasureLedger + Clone + 'static {
    /// One child item as the writer sends it, made on the thread that reads the file.
    type Put: Send + 'static;

    /// Whether the upload with ledger key `sk` has been processed to the end.
    fn upload_done(
        &self,
        team: &TeamCode,
        sk: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records the upload as processed, with where its report is.
    fn record_upload(
        &self,
        team: &TeamCode,
        sk: &str,
        done: &UploadDone<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records `upload_id` as the latest upload of `source` (the cohort, a school's list).
    fn set_latest_upload(
        &self,
        team: &TeamCode,
        source: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The team's `team.json`, if it uploaded one.
    fn team_settings(
        &self,
        team: &TeamCode,
    ) -> impl Future<Output = Result<Option<TeamSettings>, StoreError>> + Send;
    /// Saves the team's settings.
    fn put_team_settings(
        &self,
        team: &TeamCode,
        settings: &TeamSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Saves a campaign.
    fn put_campaign(
        &self,
        team: &TeamCode,
        campaign: &Campaign,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The markers of the team's erased details.
    fn erased_markers(
        &self,
        team: &TeamCode,
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// Which of these child ids exist.
    fn existing_children(
        &self,
        team: &TeamCode,
        child_ids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// The ids of the children with each wanted details key (name, date of birth, postcode).
    fn children_by_details(
        &self,
        team: &TeamCode,
        wanted: &HashSet<String>,
    ) -> impl Future<Output = Result<HashMap<String, Vec<String>>, StoreError>> + Send;
    /// Records a consent response; false when the child has no state to record it on.
    fn record_response(
        &self,
        team: &TeamCode,
        child_id: &str,
        programme: &str,
        outcome: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records (or withdraws) an objection on the child.
    #[allow(clippy::too_many_arguments)]
    fn record_objection(
        &self,
        team: &TeamCode,
        child_id: &str,
        objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
        audit: Option<&ObjectionAudit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The write of one child item.
    fn child_put(&self, item: &ChildItem) -> Result<Self::Put, BatchWriteError>;
    /// Writes at most 25 child items, retrying what the table leaves unprocessed.
    fn write_children(
        &self,
        chunk: Vec<Self::Put>,
        policy: RetryPolicy,
    ) -> impl Future<Output = Result<WriteStats, BatchWriteError>> + Send;
}

impl IngestLedger for Store {
    type Put = ChildPut;

    async fn upload_done(&self, team: &TeamCode, sk: &str) -> Result<bool, StoreError> {
        Store::upload_done(self, team, sk).await
    }
    async fn record_upload(
        &self,
        team: &TeamCode,
        sk: &str,
        done: &UploadDone<'_>,
    ) -> Result<(), StoreError> {
        Store::record_upload(self, team, sk, done).await
    }
    async fn set_latest_upload(
        &self,
        team: &TeamCode,
        source: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        Store::set_latest_upload(self, team, source, upload_id).await
    }
    async fn team_settings(&self, team: &TeamCode) -> Result<Option<TeamSettings>, StoreError> {
        Store::team_settings(self, team).await
    }
    async fn put_team_settings(
        &self,
        team: &TeamCode,
        settings: &TeamSettings,
    ) -> Result<(), StoreError> {
        Store::put_team_settings(self, team, settings).await
    }
    async fn put_campaign(&self, team: &TeamCode, campaign: &Campaign) -> Result<(), StoreError> {
        Store::put_campaign(self, team, campaign).await
    }
    async fn erased_markers(&self, team: &TeamCode) -> Result<HashSet<String>, StoreError> {
        Store::erased_markers(self, team).await
    }
    async fn existing_children(
        &self,
        team: &TeamCode,
        child_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        Store::existing_children(self, team, child_ids).await
    }
    async fn children_by_details(
        &self,
        team: &TeamCode,
        wanted: &HashSet<String>,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        Store::children_by_details(self, team, wanted).await
    }
    async fn record_response(
        &self,
        team: &TeamCode,
        child_id: &str,
        programme: &str,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        Store::record_response(self, team, child_id, programme, outcome).await
    }
    async fn record_objection(
        &self,
        team: &TeamCode,
        child_id: &str,
        objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
        audit: Option<&ObjectionAudit>,
    ) -> Result<(), StoreError> {
        Store::record_objection(
            self,
            team,
            child_id,
            objection_id,
            scope,
            parent_detail,
            withdrawn,
            audit,
        )
        .await
    }
    fn child_put(&self, item: &ChildItem) -> Result<ChildPut, BatchWriteError> {
        ChildPut::of(item)
    }
    async fn write_children(
        &self,
        chunk: Vec<ChildPut>,
        policy: RetryPolicy,
    ) -> Result<WriteStats, BatchWriteError> {
        write_chunk(self, chunk, policy).await
    }
}

/// What a stat of the announced object version found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// That version is no longer there (replaced or deleted).
    Gone,
    /// It is there; when it was uploaded (seconds since 1970 by the real clock), if said.
    Present {
        /// The object's `Last-Modified`.
        last_modified: Option<i64>,
    },
}

/// Why an object could not be opened for reading.
#[derive(Debug)]
pub enum OpenError {
    /// That version is no longer there: its successor has its own event.
    Gone,
    /// Any other failure (retried with the message).
    Failed(std::io::Error),
}

/// The upload bucket, as far as ingest reads and writes it: always the exact version an event
/// announced.
pub trait UploadObjects: Send + Sync + Clone + 'static {
    /// Stats the announced version.
    fn head(
        &self,
        object: &ObjectCreated,
    ) -> impl Future<Output = Result<Head, IngestError>> + Send;
    /// Opens the announced version for one streaming pass. Called on a blocking thread.
    fn open(&self, object: &ObjectCreated) -> Result<Box<dyn Read + Send>, OpenError>;
    /// At most `limit` bytes of the announced version (campaign and settings files); `None`
    /// when it is gone.
    fn read_small(
        &self,
        object: &ObjectCreated,
        limit: usize,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, IngestError>> + Send;
    /// Tags the announced version (`key=value`) for the bucket's lifecycle rules.
    fn tag(
        &self,
        object: &ObjectCreated,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), IngestError>> + Send;
    /// Writes an object (a report).
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), IngestError>> + Send;
    /// Deletes an object; nothing there is no error.
    fn delete(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), IngestError>> + Send;
}
