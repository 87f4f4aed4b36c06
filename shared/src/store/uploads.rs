//! The uploads ledger: one item per object version processed (so a redelivered notification
//! changes nothing), and the latest complete upload of each source (so a child missing from it
//! has left the cohort).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreError, keys, s, sdk_err};
use crate::uploads::TeamCode;

/// What the ledger keeps of an upload once its report is written.
#[derive(Debug, Clone, Copy)]
pub struct UploadDone<'a> {
    /// `imported` or `rejected`.
    pub status: &'a str,
    /// The kind of file.
    pub kind: &'a str,
    /// Rows read.
    pub rows: u64,
    /// Where its report is.
    pub report_key: &'a str,
    /// When it was processed (RFC 3339).
    pub processed_at: &'a str,
}

impl Store {
    /// Whether the upload with ledger key `sk` has been processed to the end.
    pub async fn upload_done(&self, team: &TeamCode, sk: &str) -> Result<bool, StoreError> {
        Ok(self.get(keys::uploads_pk(team), sk).await?.is_some_and(
            |item| matches!(item.get("state"), Some(AttributeValue::S(s)) if s == "done"),
        ))
    }

    /// Records that the upload with ledger key `sk` has been processed.
    pub async fn record_upload(
        &self,
        team: &TeamCode,
        sk: &str,
        done: &UploadDone<'_>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::uploads_pk(team)))
            .item("sk", s(sk))
            .item("item_type", s("upload"))
            .item("state", s("done"))
            .item("status", s(done.status))
            .item("kind", s(done.kind))
            .item("rows", AttributeValue::N(done.rows.to_string()))
            .item("report_key", s(done.report_key))
            .item("processed_at", s(done.processed_at))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Makes `upload_id` the latest complete upload of `source` (`cohort`, `class-list#<URN>`).
    pub async fn set_latest_upload(
        &self,
        team: &TeamCode,
        source: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::latest_pk(team)))
            .item("sk", s(source))
            .item("item_type", s("latest"))
            .item("upload_id", s(upload_id))
            .item("updated_at", s(self.clock.rfc3339()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}
