//! Erasing a contact detail (a serious-harm objection, or a correction): the email address or
//! phone number is removed from every record of the team that holds it — the parents of every
//! child, message records (the recipient becomes `erased`), objections naming the parent by it
//! and inbound texts from it — and only a keyed hash of it is kept, so the service can still
//! refuse it if a later file brings it back but can never give it back. The erasure is
//! recorded on the team and on each child concerned, without the detail.
//!
//! The order is the guarantee: the detail is marked erased first, so from that moment no send
//! uses it, whatever fails after; every later step can be run again, so an erasure that failed
//! half-way is finished by running it again.

use std::future::Future;

use uuid::Uuid;

use crate::domain::{Clock, TeamCode};
use crate::store::{Erasure, ErasureReason, ErasureRecord, Store, StoreError};

/// The table, as far as an erasure changes it (one method a step).
pub trait ErasureLedger: Send + Sync {
    /// The one clock.
    fn clock(&self) -> &Clock;
    /// The detail's marker (a keyed hash); `None` without an erasure key.
    fn marker(&self, team: &TeamCode, detail: &str) -> Option<String>;
    /// Marks the detail erased and drops its status.
    fn mark_erased(
        &self,
        team: &TeamCode,
        detail: &str,
        marker: &str,
        record: &ErasureRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes the detail from every child's parents; the ids of the children changed.
    fn scrub_parents(
        &self,
        team: &TeamCode,
        kind: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Re-marks the child's objections naming the parent by the detail; how many.
    fn remark_objections(
        &self,
        team: &TeamCode,
        child_id: &str,
        value: &str,
        marker: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Records the erasure on the child.
    fn record_on_child(
        &self,
        team: &TeamCode,
        child_id: &str,
        record: &ErasureRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Erases the detail from messages sent to it and texts from it; (messages, texts).
    fn erase_sent_and_received(
        &self,
        team: &TeamCode,
        value: &str,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
    /// Records the erasure on the team's log.
    fn log_erasure(
        &self,
        team: &TeamCode,
        record: &ErasureRecord,
        outcome: &Erasure,
        marker: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl ErasureLedger for Store {
    fn clock(&self) -> &Clock {
        Store::clock(self)
    }
    fn marker(&self, team: &TeamCode, detail: &str) -> Option<String> {
        self.erasure_marker(team, detail)
    }
    async fn mark_erased(
        &self,
        team: &TeamCode,
        detail: &str,
        marker: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        Store::mark_erased(self, team, detail, marker, record).await
    }
    async fn scrub_parents(
        &self,
        team: &TeamCode,
        kind: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        Store::scrub_parents(self, team, kind, value).await
    }
    async fn remark_objections(
        &self,
        team: &TeamCode,
        child_id: &str,
        value: &str,
        marker: &str,
    ) -> Result<u64, StoreError> {
        Store::remark_objections(self, team, child_id, value, marker).await
    }
    async fn record_on_child(
        &self,
        team: &TeamCode,
        child_id: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        Store::record_on_child(self, team, child_id, record).await
    }
    async fn erase_sent_and_received(
        &self,
        team: &TeamCode,
        value: &str,
    ) -> Result<(u64, u64), StoreError> {
        Store::erase_sent_and_received(self, team, value).await
    }
    async fn log_erasure(
        &self,
        team: &TeamCode,
        record: &ErasureRecord,
        outcome: &Erasure,
        marker: &str,
    ) -> Result<(), StoreError> {
        Store::log_erasure(self, team, record, outcome, marker).await
    }
}

/// Erases `detail` (`email:<lower-case address>` or `phone:<E.164>`) from every record of the
/// team that holds it. `also_children` are children known to be concerned (an objection's
/// child), whose records are searched even if no parent holds the detail now.
///
/// A detail of another shape, or a store without an erasure key, is refused before anything
/// changes.
pub async fn erase_detail<L: ErasureLedger>(
    ledger: &L,
    team: &TeamCode,
    detail: &str,
    erased_by: &str,
    reason: ErasureReason,
    also_children: &[String],
) -> Result<Erasure, StoreError> {
    let (kind, value) = detail
        .split_once(':')
        .filter(|(k, v)| matches!(*k, "email" | "phone") && !v.is_empty())
        .ok_or_else(|| StoreError::new("a detail to erase is email:… or phone:…"))?;
    let marker = ledger
        .marker(team, detail)
        .ok_or_else(|| StoreError::new("no erasure key is configured"))?;
    let record = ErasureRecord {
        erasure_id: Uuid::new_v4().simple().to_string(),
        detail_kind: kind.to_owned(),
        erased_at: ledger.clock().rfc3339(),
        erased_by: erased_by.to_owned(),
        reason,
    };
    let mut outcome = Erasure {
        erasure_id: record.erasure_id.clone(),
        detail_kind: kind.to_owned(),
        ..Erasure::default()
    };

    // First the marker, so from now on no send uses the detail, whatever happens next.
    ledger.mark_erased(team, detail, &marker, &record).await?;

    let scrubbed = ledger.scrub_parents(team, kind, value).await?;
    outcome.children = scrubbed.len() as u64;
    let mut concerned: Vec<String> = also_children.iter().cloned().chain(scrubbed).collect();
    concerned.retain(|id| !id.is_empty());
    concerned.sort();
    concerned.dedup();

    for child_id in &concerned {
        outcome.objections += ledger
            .remark_objections(team, child_id, value, &marker)
            .await?;
        ledger.record_on_child(team, child_id, &record).await?;
    }

    let (messages, texts) = ledger.erase_sent_and_received(team, value).await?;
    outcome.messages = messages;
    outcome.inbound_texts = texts;

    ledger.log_erasure(team, &record, &outcome, &marker).await?;
    tracing::info!(
        erasure_id = record.erasure_id.as_str(),
        detail_kind = kind,
        reason = reason.as_str(),
        children = outcome.children,
        messages = outcome.messages,
        objections = outcome.objections,
        inbound_texts = outcome.inbound_texts,
        "contact detail erased"
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests;
