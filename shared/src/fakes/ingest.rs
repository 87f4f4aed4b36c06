//! Ingest's fakes: a table that keeps what ingest writes (children, the uploads ledger, latest
//! uploads, settings, campaigns, responses, objections) and a bucket that holds objects by key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use super::{Failures, FakeErasureTable, lock};
use crate::campaign::Campaign;
use crate::domain::{Clock, TeamCode};
use crate::erasure::ErasureLedger;
use crate::files::team_file::TeamSettings;
use crate::ingest::IngestError;
use crate::ingest::ports::{Head, IngestLedger, OpenError, UploadObjects};
use crate::store::batch::{BatchWriteError, RetryPolicy, WriteStats};
use crate::store::{ChildItem, Erasure, ErasureRecord, ObjectionAudit, StoreError, UploadDone};
use crate::uploads::ObjectCreated;

/// An upload the ledger records as processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// `imported` or `rejected`.
    pub status: String,
    /// Rows read.
    pub rows: u64,
    /// Where its report is.
    pub report_key: String,
}

/// What the fake table holds.
#[derive(Debug, Default)]
pub struct IngestTables {
    /// Child id → its item, as last written.
    pub children: BTreeMap<String, ChildItem>,
    /// `BatchWriteItem` calls made.
    pub batch_writes: u64,
    /// Ledger key → the upload's outcome.
    pub processed: BTreeMap<String, Processed>,
    /// Source → the latest upload id.
    pub latest: BTreeMap<String, String>,
    /// The team's settings.
    pub settings: Option<TeamSettings>,
    /// Campaigns saved, by id.
    pub campaigns: BTreeMap<String, Campaign>,
    /// (child id, programme, outcome) in the order recorded.
    pub responses: Vec<(String, String, String)>,
    /// (child id, scope, parent detail, withdrawn) in the order recorded.
    pub objections: Vec<(String, String, Option<String>, bool)>,
}

/// The table, for ingest; its erasure steps are a [`FakeErasureTable`]'s.
#[derive(Debug, Clone)]
pub struct FakeIngestTable {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    erasure: FakeErasureTable,
    failures: Failures,
    tables: Mutex<IngestTables>,
}

impl FakeIngestTable {
    /// An empty table; `keyed` says whether an erasure key is configured.
    pub fn new(clock: Clock, keyed: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                erasure: FakeErasureTable::new(clock, keyed),
                failures: Failures::default(),
                tables: Mutex::default(),
            }),
        }
    }

    /// The next `times` calls of `operation` (a method name of [`IngestLedger`]) fail as
    /// DynamoDB would (a 500, or a batch write giving up on unprocessed items), changing nothing.
    pub fn fail(&self, operation: &'static str, times: u32) {
        self.inner.failures.arm(operation, times);
    }

    /// What the table holds.
    pub fn tables(&self) -> std::sync::MutexGuard<'_, IngestTables> {
        lock(&self.inner.tables)
    }

    /// The erasure steps' own tables.
    pub fn erasure(&self) -> &FakeErasureTable {
        &self.inner.erasure
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        self.inner.failures.check(operation)
    }
}

impl ErasureLedger for FakeIngestTable {
    fn clock(&self) -> &Clock {
        self.inner.erasure.clock()
    }
    fn marker(&self, team: &TeamCode, detail: &str) -> Option<String> {
        self.inner.erasure.marker(team, detail)
    }
    async fn mark_erased(
        &self,
        team: &TeamCode,
        detail: &str,
        marker: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .erasure
            .mark_erased(team, detail, marker, record)
            .await
    }
    async fn scrub_parents(
        &self,
        team: &TeamCode,
        kind: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.erasure.scrub_parents(team, kind, value).await
    }
    async fn remark_objections(
        &self,
        team: &TeamCode,
        child_id: &str,
        value: &str,
        marker: &str,
    ) -> Result<u64, StoreError> {
        self.inner
            .erasure
            .remark_objections(team, child_id, value, marker)
            .await
    }
    async fn record_on_child(
        &self,
        team: &TeamCode,
        child_id: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .erasure
            .record_on_child(team, child_id, record)
            .await
    }
    async fn erase_sent_and_received(
        &self,
        team: &TeamCode,
        value: &str,
    ) -> Result<(u64, u64), StoreError> {
        self.inner
            .erasure
            .erase_sent_and_received(team, value)
            .await
    }
    async fn log_erasure(
        &self,
        team: &TeamCode,
        record: &ErasureRecord,
        outcome: &Erasure,
        marker: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .erasure
            .log_erasure(team, record, outcome, marker)
            .await
    }
}

impl IngestLedger for FakeIngestTable {
    type Put = ChildItem;

    async fn upload_done(&self, _team: &TeamCode, sk: &str) -> Result<bool, StoreError> {
        self.check("upload_done")?;
        Ok(self.tables().processed.contains_key(sk))
    }
    async fn record_upload(
        &self,
        _team: &TeamCode,
        sk: &str,
        done: &UploadDone<'_>,
    ) -> Result<(), StoreError> {
        self.check("record_upload")?;
        let processed = Processed {
            status: done.status.to_owned(),
            rows: done.rows,
            report_key: done.report_key.to_owned(),
        };
        self.tables().processed.insert(sk.to_owned(), processed);
        Ok(())
    }
    async fn set_latest_upload(
        &self,
        _team: &TeamCode,
        source: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.check("set_latest_upload")?;
        let mut tables = self.tables();
        tables
            .latest
            .insert(source.to_owned(), upload_id.to_owned());
        Ok(())
    }
    async fn team_settings(&self, _team: &TeamCode) -> Result<Option<TeamSettings>, StoreError> {
        self.check("team_settings")?;
        Ok(self.tables().settings.clone())
    }
    async fn put_team_settings(
        &self,
        _team: &TeamCode,
        settings: &TeamSettings,
    ) -> Result<(), StoreError> {
        self.check("put_team_settings")?;
        self.tables().settings = Some(settings.clone());
        Ok(())
    }
    async fn put_campaign(&self, _team: &TeamCode, campaign: &Campaign) -> Result<(), StoreError> {
        self.check("put_campaign")?;
        let mut tables = self.tables();
        tables
            .campaigns
            .insert(campaign.id.clone(), campaign.clone());
        Ok(())
    }
    async fn erased_markers(&self, _team: &TeamCode) -> Result<HashSet<String>, StoreError> {
        self.check("erased_markers")?;
        Ok(lock(&self.inner.erasure.statuses)
            .iter()
            .filter(|(_, status)| status.as_str() == "erased")
            .map(|(marker, _)| marker.clone())
            .collect())
    }
    async fn existing_children(
        &self,
        _team: &TeamCode,
        child_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.check("existing_children")?;
        let tables = self.tables();
        Ok(child_ids
            .iter()
            .filter(|id| tables.children.contains_key(*id))
            .cloned()
            .collect())
    }
    async fn children_by_details(
        &self,
        _team: &TeamCode,
        wanted: &HashSet<String>,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        self.check("children_by_details")?;
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for child in self.tables().children.values() {
            let details = child.details_key();
            if wanted.contains(&details) {
                found
                    .entry(details)
                    .or_default()
                    .push(child.child_id.clone());
            }
        }
        Ok(found)
    }
    async fn record_response(
        &self,
        _team: &TeamCode,
        child_id: &str,
        programme: &str,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        self.check("record_response")?;
        let response = (
            child_id.to_owned(),
            programme.to_owned(),
            outcome.to_owned(),
        );
        self.tables().responses.push(response);
        Ok(true)
    }
    async fn record_objection(
        &self,
        _team: &TeamCode,
        child_id: &str,
        _objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
        _audit: Option<&ObjectionAudit>,
    ) -> Result<(), StoreError> {
        self.check("record_objection")?;
        let objection = (
            child_id.to_owned(),
            scope.to_owned(),
            parent_detail.map(str::to_owned),
            withdrawn,
        );
        self.tables().objections.push(objection);
        Ok(())
    }
    fn child_put(&self, item: &ChildItem) -> Result<ChildItem, BatchWriteError> {
        Ok(item.clone())
    }
    async fn write_children(
        &self,
        chunk: Vec<ChildItem>,
        policy: RetryPolicy,
    ) -> Result<WriteStats, BatchWriteError> {
        if self.inner.failures.take("write_children") {
            return Err(BatchWriteError::GaveUp {
                remaining: chunk.len(),
                attempts: policy.max_attempts,
            });
        }
        let mut tables = self.tables();
        tables.batch_writes += 1;
        let stats = WriteStats {
            requests: 1,
            items: chunk.len() as u64,
            unprocessed_retried: 0,
        };
        for child in chunk {
            tables.children.insert(child.child_id.clone(), child);
        }
        Ok(stats)
    }
}

/// An object in the fake bucket.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its content type, when written by ingest.
    pub content_type: Option<String>,
    /// When it was uploaded (real-clock seconds), if the bucket says.
    pub last_modified: Option<i64>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// The bucket: objects by key. Deleting the announced object makes it "gone" (replaced).
#[derive(Debug, Clone, Default)]
pub struct FakeBucket {
    inner: Arc<BucketInner>,
}

#[derive(Debug, Default)]
struct BucketInner {
    objects: Mutex<BTreeMap<String, StoredObject>>,
    failures: Failures,
}

impl FakeBucket {
    /// Puts an upload as staff would; the event announcing it.
    pub fn upload(&self, key: &str, body: &[u8], last_modified: Option<i64>) -> ObjectCreated {
        let object = StoredObject {
            body: body.to_vec(),
            content_type: None,
            last_modified,
            tags: BTreeMap::new(),
        };
        lock(&self.inner.objects).insert(key.to_owned(), object);
        ObjectCreated {
            bucket: "uploads".into(),
            key: key.to_owned(),
            version_id: None,
            etag: Some(format!("{:x}", body.len())),
            size: body.len() as u64,
        }
    }

    /// The object at `key`, if any.
    pub fn get(&self, key: &str) -> Option<StoredObject> {
        lock(&self.inner.objects).get(key).cloned()
    }

    /// Removes the object at `key` (a replacement or a delete by staff).
    pub fn remove(&self, key: &str) {
        lock(&self.inner.objects).remove(key);
    }

    /// The next `times` calls of `operation` (a method name of [`UploadObjects`]) fail as an S3
    /// 500 would.
    pub fn fail(&self, operation: &'static str, times: u32) {
        self.inner.failures.arm(operation, times);
    }

    fn check(&self, operation: &'static str) -> Result<(), IngestError> {
        match self.inner.failures.take(operation) {
            true => Err(IngestError::S3 {
                operation,
                message: "injected 500".into(),
                source: None,
            }),
            false => Ok(()),
        }
    }
}

impl UploadObjects for FakeBucket {
    async fn head(&self, object: &ObjectCreated) -> Result<Head, IngestError> {
        self.check("head")?;
        Ok(match self.get(&object.key) {
            None => Head::Gone,
            Some(o) => Head::Present {
                last_modified: o.last_modified,
            },
        })
    }

    fn open(&self, object: &ObjectCreated) -> Result<Box<dyn Read + Send>, OpenError> {
        if self.inner.failures.take("open") {
            return Err(OpenError::Failed(std::io::Error::other("injected 500")));
        }
        match self.get(&object.key) {
            None => Err(OpenError::Gone),
            Some(o) => Ok(Box::new(std::io::Cursor::new(o.body))),
        }
    }

    async fn read_small(
        &self,
        object: &ObjectCreated,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, IngestError> {
        self.check("read_small")?;
        Ok(self
            .get(&object.key)
            .map(|o| o.body.into_iter().take(limit).collect()))
    }

    async fn tag(&self, object: &ObjectCreated, key: &str, value: &str) -> Result<(), IngestError> {
        self.check("tag")?;
        if let Some(o) = lock(&self.inner.objects).get_mut(&object.key) {
            o.tags.insert(key.to_owned(), value.to_owned());
        }
        Ok(())
    }

    async fn put(
        &self,
        _bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), IngestError> {
        self.check("put")?;
        let object = StoredObject {
            body,
            content_type: Some(content_type.to_owned()),
            last_modified: None,
            tags: BTreeMap::new(),
        };
        lock(&self.inner.objects).insert(key.to_owned(), object);
        Ok(())
    }

    async fn delete(&self, _bucket: &str, key: &str) -> Result<(), IngestError> {
        self.check("delete")?;
        self.remove(key);
        Ok(())
    }
}
