//! Contact details: each email address's and phone number's status for the team (failed, opted
//! out, erased), and the texts parents send that are not an opt-out.

use super::{Store, StoreError, TTL_ATTRIBUTE, conditional, keys, s, sdk_err};
use crate::uploads::TeamCode;

/// A contact detail's status after a parent texted STOP.
pub const OPTED_OUT: &str = "opted_out";

impl Store {
    /// Marks a contact detail (`email:…`/`phone:…`) failed or opted out for the team; an
    /// opt-out is never replaced by a failure.
    pub async fn set_detail_status(
        &self,
        team: &TeamCode,
        detail: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::contact_pk(team, detail)))
            .item("sk", s(keys::STATUS_SK))
            .item("item_type", s("contact_status"))
            .item("detail", s(detail))
            .item("status", s(status))
            .item("updated_at", s(self.clock.rfc3339()));
        if status != OPTED_OUT {
            // A parent's opt-out is their word, kept for staff and subject access requests: a
            // later delivery failure of the same number does not replace it.
            put = put
                .condition_expression("attribute_not_exists(pk) OR #status <> :opted_out")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":opted_out", s(OPTED_OUT));
        }
        conditional(put.send().await).map(drop)
    }

    /// Keeps an inbound text (not a STOP) for the team to read: content stored, never logged.
    pub async fn record_inbound(
        &self,
        team: &TeamCode,
        inbound_id: &str,
        from: Option<&str>,
        message: &str,
        received_at: &str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::inbound_pk(team)))
            .item("sk", s(format!("{received_at}#{inbound_id}")))
            .item("item_type", s("inbound_text"))
            .item("message", s(message))
            .item(TTL_ATTRIBUTE, self.records_ttl());
        if let Some(from) = from {
            put = put.item("from", s(from));
        }
        put.send().await.map_err(sdk_err)?;
        Ok(())
    }
}
