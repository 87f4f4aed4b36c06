//! Erasing a contact detail (a serious-harm objection, or a correction): the email address or
//! phone number is removed from every record that holds it, and only a keyed hash of it is
//! kept, so the service can still refuse it if a later file brings it back but can never give
//! it back. The erasure itself is recorded — what kind of detail, when, by whom and why — and
//! never the detail.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{Store, StoreError, TTL_ATTRIBUTE, err, keys, s, sdk_err, str_attr};
use crate::uploads::TeamCode;

/// How long the record of an erasure (and the keyed hash that keeps the detail from being used
/// again) is kept: the longest a team keeps any record (8 years).
const ERASURE_RECORD_DAYS: i64 = 8 * 366;

/// The secret key erased details are hashed with (HMAC-SHA-256). In AWS it is the
/// `<prefix>/erasure-key` secret; without it, a stolen copy of the table could be searched for
/// an erased phone number by trying every number.
#[derive(Clone)]
pub struct ErasureKey(Arc<[u8]>);

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureKey(..)")
    }
}

impl ErasureKey {
    /// A key from the secret's bytes; `None` when it is too short to be a secret (under 32
    /// bytes).
    pub fn new(secret: &[u8]) -> Option<Self> {
        (secret.len() >= 32).then(|| Self(Arc::from(secret)))
    }

    /// The marker of a detail (`email:…` or `phone:…`) for a team: `erased:<hex>`.
    pub fn marker(&self, team: &TeamCode, detail: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(team.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(detail.as_bytes());
        let bytes = mac.finalize().into_bytes();
        // Written straight into one string: ingest computes this for every parent detail of
        // every row when the team has erasures.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("erased:");
        for b in bytes {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        hex
    }
}

/// Why a detail is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// A serious-harm objection: contacting this detail could cause serious harm.
    SeriousHarm,
    /// The detail was wrong (a correction).
    Correction,
}

impl ErasureReason {
    /// The reason's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeriousHarm => "serious_harm",
            Self::Correction => "correction",
        }
    }
}

/// What an erasure changed (counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The erasure's id.
    pub erasure_id: String,
    /// `email` or `phone`.
    pub detail_kind: String,
    /// Children whose parents held the detail.
    pub children: u64,
    /// Message records whose recipient it was.
    pub messages: u64,
    /// Objections that named the parent by it.
    pub objections: u64,
    /// Inbound texts that came from it.
    pub inbound_texts: u64,
}

/// What an erasure records of itself, on the team and on each child: never the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    /// The erasure's id.
    pub erasure_id: String,
    /// `email` or `phone`.
    pub detail_kind: String,
    /// When (RFC 3339).
    pub erased_at: String,
    /// Who erased it.
    pub erased_by: String,
    /// Why.
    pub reason: ErasureReason,
}

/// What an inbound text from an erased number reads afterwards.
pub const ERASED_TEXT: &str = "[erased with the sender's number]";

impl Store {
    /// Uses `key` to remember erased details (required for [`crate::erasure::erase_detail`]; the
    /// dispatcher checks details against it at send time).
    pub fn with_erasure_key(mut self, key: ErasureKey) -> Self {
        self.erasure_key = Some(key);
        self
    }

    /// The status-item key of an erased detail's marker, when an erasure key is set.
    pub(super) fn erased_status_key(&self, team: &TeamCode, detail: &str) -> Option<String> {
        self.erasure_marker(team, detail)
            .map(|marker| keys::contact_pk(team, &marker))
    }

    /// The erasure record's attributes (never the detail), for each item that records it.
    fn erasure_item(
        &self,
        record: &ErasureRecord,
        extra: &[(&str, AttributeValue)],
    ) -> HashMap<String, AttributeValue> {
        let expires = (self.now_epoch() + ERASURE_RECORD_DAYS * 86_400).to_string();
        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("item_type".to_owned(), s("erasure")),
            ("erasure_id".to_owned(), s(&record.erasure_id)),
            ("detail_kind".to_owned(), s(&record.detail_kind)),
            ("erased_at".to_owned(), s(&record.erased_at)),
            ("erased_by".to_owned(), s(&record.erased_by)),
            ("reason".to_owned(), s(record.reason.as_str())),
            (TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires)),
        ]);
        for (k, v) in extra {
            item.insert((*k).to_owned(), v.clone());
        }
        item
    }

    /// The markers of every detail erased for the team (from its erasure log), so that ingest
    /// can leave them out of a later file's rows. Erasures recorded before markers were logged
    /// are not in it (the dispatcher still never uses those details).
    pub async fn erased_markers(
        &self,
        team: &TeamCode,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(self
            .partition(&erasures_pk(team), None)
            .await?
            .iter()
            .filter_map(|item| str_attr(item, "marker"))
            .collect())
    }

    /// Every unexpired item of a child's partition, as plain JSON: the child, their state
    /// (responses and objections), the policy's decisions and the erasures recorded on them.
    pub async fn child_partition(
        &self,
        team: &TeamCode,
        child_id: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.partition(&keys::child_pk(team, child_id), None)
            .await?
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(err))
            .collect()
    }

    /// A contact detail's status: `erased`, `failed`, `opted_out` or `usable`.
    pub async fn detail_status(&self, team: &TeamCode, detail: &str) -> Result<String, StoreError> {
        if self.is_erased(team, detail).await? {
            return Ok("erased".into());
        }
        Ok(self
            .get(keys::contact_pk(team, detail), keys::STATUS_SK)
            .await?
            .and_then(|item| str_attr(&item, "status"))
            .unwrap_or_else(|| "usable".into()))
    }

    /// Whether a detail has been erased (its marker is present).
    pub async fn is_erased(&self, team: &TeamCode, detail: &str) -> Result<bool, StoreError> {
        match self.erased_status_key(team, detail) {
            Some(pk) => Ok(self.get(pk, keys::STATUS_SK).await?.is_some()),
            None => Ok(false),
        }
    }

    /// The team's message records and inbound texts whose recipient or sender is `value`: a
    /// scan of the table in four parallel segments, filtered by the service (erasure is rare
    /// and must find records even of children whose newer files no longer hold the detail).
    async fn team_items_holding(
        &self,
        team: &TeamCode,
        value: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        const SEGMENTS: i32 = 4;
        let scans = (0..SEGMENTS).map(|segment| async move {
            let mut found = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .segment(segment)
                    .total_segments(SEGMENTS)
                    .filter_expression("begins_with(pk, :team) AND (recipient = :v OR #from = :v)")
                    .expression_attribute_names("#from", "from")
                    .expression_attribute_values(":team", s(keys::team_prefix(team)))
                    .expression_attribute_values(":v", s(value))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                found.extend(page.items.unwrap_or_default());
                start = page.last_evaluated_key;
                if start.is_none() {
                    return Ok::<_, StoreError>(found);
                }
            }
        });
        let mut items = Vec::new();
        for found in futures::future::join_all(scans).await {
            items.extend(found?);
        }
        Ok(items)
    }

    async fn put(&self, item: HashMap<String, AttributeValue>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

/// Removes an email or phone from a child item's parents; true when any parent held it.
/// The team's erasure log.
/// The steps of an erasure (`crate::erasure` runs them in order): each changes the table for
/// one kind of record and can be run again.
impl Store {
    /// The marker of `detail` for `team`; `None` without an erasure key.
    pub fn erasure_marker(&self, team: &TeamCode, detail: &str) -> Option<String> {
        self.erasure_key.as_ref().map(|k| k.marker(team, detail))
    }

    /// Marks the detail erased (its marker's status item) and drops its status item.
    pub async fn mark_erased(
        &self,
        team: &TeamCode,
        detail: &str,
        marker: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        let mut item = self.erasure_item(record, &[]);
        item.insert("pk".into(), s(keys::contact_pk(team, marker)));
        item.insert("sk".into(), s(keys::STATUS_SK));
        item.insert("item_type".into(), s("contact_status"));
        item.insert("status".into(), s("erased"));
        self.put(item).await?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::contact_pk(team, detail)))
            .key("sk", s(keys::STATUS_SK))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Removes the detail from the parents of every child item that holds it; those children's ids.
    pub async fn scrub_parents(
        &self,
        team: &TeamCode,
        kind: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        // Expired child items too, until DynamoDB deletes them.
        let mut scrubbed = Vec::new();
        for shard in 0..crate::store::TEAM_SHARDS {
            for mut item in self
                .index_items_even_expired("gsi2", &keys::team_children(team, shard), None)
                .await?
            {
                if !remove_from_parents(&mut item, kind, value) {
                    continue;
                }
                let id = str_attr(&item, "child_id").unwrap_or_default();
                self.put(item).await?;
                scrubbed.push(id);
            }
        }
        Ok(scrubbed)
    }

    /// Re-marks the child's objections that name the parent by the detail; how many.
    pub async fn remark_objections(
        &self,
        team: &TeamCode,
        child_id: &str,
        value: &str,
        marker: &str,
    ) -> Result<u64, StoreError> {
        let pk = keys::child_pk(team, child_id);
        let Some(state) = self.get(pk.clone(), super::STATE_SK).await? else {
            return Ok(0);
        };
        let mut remarked = 0;
        for (name, objection) in &state {
            let names_it = name.starts_with(super::OBJECTION_PREFIX)
                && objection.as_m().ok().is_some_and(|m| {
                    m.get("parent_detail").and_then(|v| v.as_s().ok()) == Some(&value.to_owned())
                });
            if !names_it {
                continue;
            }
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(super::STATE_SK))
                .update_expression("SET #o.parent_detail = :m")
                .expression_attribute_names("#o", name)
                .expression_attribute_values(":m", s(marker))
                .send()
                .await
                .map_err(sdk_err)?;
            remarked += 1;
        }
        Ok(remarked)
    }

    /// Records the erasure on the child (without the detail).
    pub async fn record_on_child(
        &self,
        team: &TeamCode,
        child_id: &str,
        record: &ErasureRecord,
    ) -> Result<(), StoreError> {
        let mut item = self.erasure_item(record, &[]);
        item.insert("pk".into(), s(keys::child_pk(team, child_id)));
        item.insert(
            "sk".into(),
            s(keys::erasure_sk(&record.erased_at, &record.erasure_id)),
        );
        self.put(item).await
    }

    /// Erases the detail from message records sent to it and inbound texts from it (a text's
    /// words too, see [`ERASED_TEXT`]); how many of each.
    pub async fn erase_sent_and_received(
        &self,
        team: &TeamCode,
        value: &str,
    ) -> Result<(u64, u64), StoreError> {
        let (mut messages, mut texts) = (0, 0);
        for item in self.team_items_holding(team, value).await? {
            let (Some(pk), Some(sk)) = (str_attr(&item, "pk"), str_attr(&item, "sk")) else {
                continue;
            };
            let (attribute, counter) = match str_attr(&item, "item_type").as_deref() {
                Some("message") => ("recipient", &mut messages),
                Some("inbound_text") => ("from", &mut texts),
                _ => continue,
            };
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":erased", s("erased"));
            update = if attribute == "from" {
                // What the parent wrote goes with their number: it can say who they are.
                update
                    .update_expression("SET #a = :erased, #m = :erased_text")
                    .expression_attribute_names("#m", "message")
                    .expression_attribute_values(":erased_text", s(ERASED_TEXT))
            } else {
                update.update_expression("SET #a = :erased")
            };
            update.send().await.map_err(sdk_err)?;
            *counter += 1;
        }
        Ok((messages, texts))
    }

    /// Records the erasure on the team's log, with its marker and counts.
    pub async fn log_erasure(
        &self,
        team: &TeamCode,
        record: &ErasureRecord,
        outcome: &Erasure,
        marker: &str,
    ) -> Result<(), StoreError> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let mut item = self.erasure_item(
            record,
            &[
                ("children", n(outcome.children)),
                ("messages", n(outcome.messages)),
                ("objections", n(outcome.objections)),
                ("inbound_texts", n(outcome.inbound_texts)),
            ],
        );
        // The marker (a keyed hash, never the detail), so ingest can keep a file from bringing
        // the detail back: see `erased_markers`.
        item.insert("marker".into(), s(marker));
        item.insert("pk".into(), s(erasures_pk(team)));
        item.insert(
            "sk".into(),
            s(format!("{}#{}", record.erased_at, record.erasure_id)),
        );
        self.put(item).await
    }
}

fn erasures_pk(team: &TeamCode) -> String {
    keys::erasures_pk(team)
}

fn remove_from_parents(
    item: &mut HashMap<String, AttributeValue>,
    kind: &str,
    value: &str,
) -> bool {
    let Some(AttributeValue::L(parents)) = item.get_mut("parents") else {
        return false;
    };
    let mut changed = false;
    for parent in parents.iter_mut() {
        let AttributeValue::M(fields) = parent else {
            continue;
        };
        if fields
            .get(kind)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some(value)
        {
            fields.remove(kind);
            if kind == "phone" {
                fields.insert("phone_is_mobile".into(), AttributeValue::Bool(false));
            }
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_depends_on_the_key_the_team_and_the_detail_and_hides_the_detail() {
        let key = ErasureKey::new(&[7u8; 32]).unwrap();
        let other_key = ErasureKey::new(&[8u8; 32]).unwrap();
        let team = TeamCode::parse("RYG-sais").unwrap();
        let other_team = TeamCode::parse("RXX-sais").unwrap();
        let m = key.marker(&team, "phone:+447700900123");
        assert!(m.starts_with("erased:") && m.len() == 7 + 64);
        assert!(!m.contains("7700900123"));
        assert_eq!(m, key.marker(&team, "phone:+447700900123"), "stable");
        assert_ne!(m, key.marker(&team, "phone:+447700900124"));
        assert_ne!(m, key.marker(&other_team, "phone:+447700900123"));
        assert_ne!(m, other_key.marker(&team, "phone:+447700900123"));
        assert!(
            ErasureKey::new(b"short").is_none(),
            "a short key is refused"
        );
        assert_eq!(format!("{key:?}"), "ErasureKey(..)", "never printed");
    }
}
