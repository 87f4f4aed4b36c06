//! Key builders: every key starts with the team, so no request can reach another team's items;
//! the only place a key's shape is written down (docs/data-model.md lists them).

use crate::uploads::TeamCode;

/// A child's partition: the child item and its responses and objections.
pub fn child_pk(team: &TeamCode, child_id: &str) -> String {
    format!("T#{team}#C#{child_id}")
}
/// The child item's sort key.
pub const CHILD_SK: &str = "CHILD";
/// `gsi1`: children of a school and year group.
pub fn school_year(team: &TeamCode, urn: &str, year_group: Option<u8>) -> String {
    match year_group {
        Some(y) => format!("T#{team}#S#{urn}#Y#{y}"),
        None => format!("T#{team}#S#{urn}#Y#-"),
    }
}
/// `gsi2`: all children of a team, spread over shards.
pub fn team_children(team: &TeamCode, shard: u32) -> String {
    format!("T#{team}#CHILDREN#{shard}")
}
/// The uploads ledger: one item per (key, version or ETag) processed.
pub fn uploads_pk(team: &TeamCode) -> String {
    format!("T#{team}#UPLOADS")
}
/// The latest complete upload per source (`cohort`, `class-list#<URN>`).
pub fn latest_pk(team: &TeamCode) -> String {
    format!("T#{team}#LATEST")
}
/// A contact detail's status (failed, opted out, erased): `email:<address>` or `phone:<E.164>`.
pub fn contact_pk(team: &TeamCode, detail: &str) -> String {
    format!("T#{team}#CD#{detail}")
}
/// A message record's partition.
pub fn message_pk(team: &TeamCode, message_id: &str) -> String {
    format!("T#{team}#M#{message_id}")
}
/// A message record's sort key.
pub const MESSAGE_SK: &str = "MSG";
/// `gsi2` of a sent message: found by Notify's id (receipts name it).
pub fn notify_id_pk(team: &TeamCode, notify_id: &uuid::Uuid) -> String {
    format!("T#{team}#N#{notify_id}")
}
/// The sort key of a contact detail's status item (and of an erased detail's marker).
pub const STATUS_SK: &str = "STATUS";
/// The team's campaigns (sort key: the campaign id).
pub fn campaign_pk(team: &TeamCode) -> String {
    format!("T#{team}#CAMPAIGN")
}
/// The index of every team's campaigns the daily run reads (no personal data).
pub const CAMPAIGNS_PK: &str = "CAMPAIGNS";
/// The runs of a team's campaigns' occasions (sort key: `<campaign>#<purpose>[#<occasion>]`).
pub fn runs_pk(team: &TeamCode) -> String {
    format!("T#{team}#RUNS")
}
/// The team's settings from `team.json`.
pub fn settings_pk(team: &TeamCode) -> String {
    format!("T#{team}#SETTINGS")
}
/// The settings item's sort key.
pub const SETTINGS_SK: &str = "TEAM";
/// The team's hold after Notify's daily limit.
pub fn hold_pk(team: &TeamCode) -> String {
    format!("T#{team}#HOLD")
}
/// The hold item's sort key.
pub const HOLD_SK: &str = "NOTIFY";
/// Texts parents sent that are not an opt-out (sort key: `<received at>#<id>`).
pub fn inbound_pk(team: &TeamCode) -> String {
    format!("T#{team}#INBOUND")
}
/// The team's manual follow-up list (sort key: `<campaign>#<child>#<purpose>`).
pub fn follow_up_pk(team: &TeamCode) -> String {
    format!("T#{team}#FOLLOWUP")
}
/// The team's erasure records.
pub fn erasures_pk(team: &TeamCode) -> String {
    format!("T#{team}#ERASURES")
}
/// What every key of the team's items starts with.
pub fn team_prefix(team: &TeamCode) -> String {
    format!("T#{team}#")
}
/// `gsi1` sort key of a message in its child's partition: by time.
pub fn message_by_child_sk(created_at: &str, message_id: &str) -> String {
    format!("MSG#{created_at}#{message_id}")
}
/// What the sort keys of the policy's decisions on a child start with.
pub const DECISION_PREFIX: &str = "DEC#";
/// The sort keys of the decisions on a child for one campaign start with this.
pub fn decisions_of_campaign(campaign_id: &str) -> String {
    format!("{DECISION_PREFIX}{campaign_id}#")
}
/// The sort key of the policy's latest decision for (campaign, purpose[, occasion]).
pub fn decision_sk(campaign_id: &str, purpose: &str, occasion: Option<&str>) -> String {
    match occasion {
        Some(on) => format!("{DECISION_PREFIX}{campaign_id}#{purpose}#{on}"),
        None => format!("{DECISION_PREFIX}{campaign_id}#{purpose}"),
    }
}
/// What the sort keys of the erasures recorded on a child start with.
pub const ERASURE_PREFIX: &str = "ERASURE#";
/// The sort key of an erasure recorded on a child.
pub fn erasure_sk(erased_at: &str, erasure_id: &str) -> String {
    format!("{ERASURE_PREFIX}{erased_at}#{erasure_id}")
}
