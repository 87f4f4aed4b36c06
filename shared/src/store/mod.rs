//! The contacts table: one DynamoDB table holding children (with their parents), contact-detail
//! statuses, uploads and, later, messages. `docs/data-model.md` lays out every item and access
//! pattern; this module is the only place that knows the key shapes.

pub mod batch;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::files::children::{ChildRow, ParentRow};
use crate::uploads::TeamCode;

/// Name of the TTL attribute (epoch seconds); DynamoDB deletes late, so reads filter on it too.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How many shards spread a team's children over the `gsi2` "all children of a team" index,
/// so one busy team cannot exceed a single index partition's write rate during a big ingest.
pub const TEAM_SHARDS: u32 = 16;

/// The namespace of the service's deterministic ids (UUIDv5).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_94b7_4d0a_8e55_0c1d_2b3a_4f60);

/// A child's opaque id, stable across uploads: from the NHS number when there is one, else from
/// the name, date of birth and postcode. Opaque so ids can be logged and sent as references.
pub fn child_id(team: &TeamCode, row: &ChildRow) -> String {
    let name = match &row.nhs_number {
        Some(nhs) => return child_id_for_nhs(team, nhs),
        None => format!(
            "{team}\ndetails\n{}\n{}\n{}\n{}",
            row.first_name.as_str().to_lowercase(),
            row.last_name.as_str().to_lowercase(),
            row.date_of_birth.as_iso(),
            row.address
                .postcode
                .as_ref()
                .map(|p| p.as_str())
                .unwrap_or("")
        ),
    };
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}

/// Key builders: every key starts with the team, so no request can reach another team's items.
pub mod keys {
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
}

/// A parent as stored on the child item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredParent {
    /// 1 or 2: the block of columns it came from.
    pub slot: u8,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relationship (`mother`, `father`, `guardian`, `carer`, `unknown` or the text given).
    pub relationship: String,
    /// Email, lower-case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, E.164.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Whether `phone` can receive texts.
    pub phone_is_mobile: bool,
    /// `email`, `text`, `letter`, `any`; absent = any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<String>,
}

impl From<&ParentRow> for StoredParent {
    fn from(p: &ParentRow) -> Self {
        Self {
            slot: p.slot,
            name: p.name.as_ref().map(|n| n.as_str().to_owned()),
            relationship: p.relationship.as_str().to_owned(),
            email: p.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: p.phone.as_ref().map(|n| n.e164().to_owned()),
            phone_is_mobile: p.phone.as_ref().is_some_and(|n| n.is_mobile()),
            preference: p.preference.map(|c| c.as_str().to_owned()),
        }
    }
}

/// The child item: everything the newest file said about the child, replacing what was there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildItem {
    /// Partition key.
    pub pk: String,
    /// Sort key (`CHILD`).
    pub sk: String,
    /// School and year group index.
    pub gsi1pk: String,
    /// The child id (sort within the school/year).
    pub gsi1sk: String,
    /// All children of the team (sharded).
    pub gsi2pk: String,
    /// The child id.
    pub gsi2sk: String,
    /// Kind of item.
    pub item_type: String,
    /// The team.
    pub team: String,
    /// Opaque child id.
    pub child_id: String,
    /// NHS number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<String>,
    /// Legal first name.
    pub first_name: String,
    /// Legal last name.
    pub last_name: String,
    /// Preferred first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_first_name: Option<String>,
    /// Preferred last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_last_name: Option<String>,
    /// Date of birth, ISO.
    pub date_of_birth: String,
    /// Gender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// School URN.
    pub school_urn: String,
    /// Year group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_group: Option<u8>,
    /// Registration group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// Address lines and town, in order, as given.
    pub address_lines: Vec<String>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// The S-flag.
    pub restricted: bool,
    /// Marked deceased.
    pub deceased: bool,
    /// Parents and carers.
    pub parents: Vec<StoredParent>,
    /// Which source last described the child (`cohort` or `class-list#<URN>`).
    pub source: String,
    /// The upload that last described the child (see the `LATEST` items).
    pub upload_id: String,
    /// The spreadsheet row in that upload.
    pub source_row: u64,
    /// When it was written (RFC 3339).
    pub updated_at: String,
    /// TTL, epoch seconds.
    pub expires_at: i64,
}

/// The id of the child with this NHS number (see [`child_id`]).
pub fn child_id_for_nhs(team: &TeamCode, nhs: &crate::domain::NhsNumber) -> String {
    let name = format!("{team}\nnhs\n{}", nhs.as_str());
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}

/// Where a child came from, for the item's `source`, `upload_id` and timestamps.
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    /// The team.
    pub team: &'a TeamCode,
    /// `cohort` or `class-list#<URN>`.
    pub source: &'a str,
    /// The upload's id (from its key and version/ETag).
    pub upload_id: &'a str,
    /// When the upload was processed (RFC 3339).
    pub updated_at: &'a str,
    /// TTL for the record, epoch seconds.
    pub expires_at: i64,
}

impl ChildItem {
    /// The item for one valid row.
    pub fn from_row(row: &ChildRow, p: &Provenance<'_>) -> Self {
        let id = child_id(p.team, row);
        let shard = shard_of(&id);
        let address_lines = [&row.address.line_1, &row.address.line_2, &row.address.town]
            .into_iter()
            .flatten()
            .map(|l| l.as_str().to_owned())
            .collect();
        Self {
            pk: keys::child_pk(p.team, &id),
            sk: keys::CHILD_SK.to_owned(),
            gsi1pk: keys::school_year(
                p.team,
                row.school_urn.as_str(),
                row.year_group.as_ref().map(|y| y.get()),
            ),
            gsi1sk: id.clone(),
            gsi2pk: keys::team_children(p.team, shard),
            gsi2sk: id.clone(),
            item_type: "child".to_owned(),
            team: p.team.to_string(),
            nhs_number: row.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
            first_name: row.first_name.as_str().to_owned(),
            last_name: row.last_name.as_str().to_owned(),
            preferred_first_name: row
                .preferred_first_name
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            preferred_last_name: row
                .preferred_last_name
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            date_of_birth: row.date_of_birth.as_iso(),
            gender: row.gender.as_ref().map(|g| g.as_str().to_owned()),
            school_urn: row.school_urn.as_str().to_owned(),
            year_group: row.year_group.as_ref().map(|y| y.get()),
            registration: row.registration.clone(),
            address_lines,
            postcode: row.address.postcode.as_ref().map(|p| p.as_str().to_owned()),
            restricted: row.restricted,
            deceased: row.deceased,
            parents: row.parents.iter().map(StoredParent::from).collect(),
            source: p.source.to_owned(),
            upload_id: p.upload_id.to_owned(),
            source_row: row.row,
            updated_at: p.updated_at.to_owned(),
            expires_at: p.expires_at,
            child_id: id,
        }
    }
}

/// Which `gsi2` shard a child id falls in.
pub fn shard_of(child_id: &str) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in child_id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    h % TEAM_SHARDS
}
