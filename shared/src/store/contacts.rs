//! Contact details: each email address's and phone number's status for the team (failed, opted
//! out, erased), and the texts parents send that are not an opt-out.

use super::{Store, StoreError, TTL_ATTRIBUTE, conditional, keys, s, sdk_err, str_attr};
use crate::uploads::TeamCode;

/// A text a parent sent that is not an opt-out, as kept for the team to read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceivedText {
    /// Notify's id of the text.
    pub inbound_id: String,
    /// When Notify received it, as Notify stamped it.
    pub received_at: String,
    /// The sender's number in E.164, `erased` once the number was erased, or `None` when the
    /// number could not be read.
    pub from: Option<String>,
    /// The text itself (never logged).
    pub message: String,
}

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

impl Store {
    /// Every text the team's parents sent that is not an opt-out (the `INBOUND` partition),
    /// oldest first; expired ones are left out.
    pub async fn received_texts(&self, team: &TeamCode) -> Result<Vec<ReceivedText>, StoreError> {
        let items = self.partition(&keys::inbound_pk(team), None).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let sk = str_attr(&item, "sk")?;
                let (received_at, inbound_id) = sk.split_once('#')?;
                Some(ReceivedText {
                    inbound_id: inbound_id.to_owned(),
                    received_at: received_at.to_owned(),
                    from: str_attr(&item, "from"),
                    message: str_attr(&item, "message").unwrap_or_default(),
                })
            })
            .collect())
    }
}
