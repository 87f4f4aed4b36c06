//! Children: the child item (everything the newest file said, parents included), the child's
//! state item (responses and objections, which only those files update) and the lookups ingest
//! makes by id and by details.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Item, Store, StoreError, TEAM_SHARDS, conditional, keys, s, sdk_err, str_attr};
use crate::domain::{
    AddressLine, ContactPreference, DateOfBirth, EmailAddress, Gender, NhsNumber, ParentName,
    PersonName, PhoneNumber, Postcode, Relationship, SchoolUrn,
};
use crate::files::children::{ChildRow, ParentRow};
use crate::policy::{Objection, ObjectionScope};
use crate::uploads::TeamCode;

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

/// A parent as stored on the child item: the domain's types, so a stored detail is always a
/// valid one (each is validated again when read back). Stored as it always was
/// ([`StoredParentItem`]): the phone in E.164 with whether it is a UK mobile beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredParentItem", try_from = "StoredParentItem")]
pub struct StoredParent {
    /// 1 or 2.
    pub slot: u8,
    /// Full name, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<ParentName>,
    /// Relationship to the child.
    pub relationship: Relationship,
    /// Email (lower-cased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    /// Phone, stored in E.164 form; whether it can be texted is its kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
    /// How they prefer to be contacted; none means any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<ContactPreference>,
}

/// A stored parent's attributes in the table.
#[derive(Serialize, Deserialize)]
struct StoredParentItem {
    slot: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<ParentName>,
    relationship: Relationship,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default)]
    phone_is_mobile: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preference: Option<ContactPreference>,
}

impl From<StoredParent> for StoredParentItem {
    fn from(p: StoredParent) -> Self {
        Self {
            slot: p.slot,
            name: p.name,
            relationship: p.relationship,
            email: p.email,
            phone_is_mobile: p.phone.as_ref().is_some_and(PhoneNumber::is_mobile),
            phone: p.phone.map(|n| n.e164().to_owned()),
            preference: p.preference,
        }
    }
}

impl TryFrom<StoredParentItem> for StoredParent {
    type Error = crate::domain::Invalid;

    fn try_from(p: StoredParentItem) -> Result<Self, Self::Error> {
        let phone = p
            .phone
            .as_deref()
            .map(|n| PhoneNumber::from_stored(n, p.phone_is_mobile))
            .transpose()?;
        Ok(Self {
            slot: p.slot,
            name: p.name,
            relationship: p.relationship,
            email: p.email,
            phone,
            preference: p.preference,
        })
    }
}

impl From<&ParentRow> for StoredParent {
    fn from(p: &ParentRow) -> Self {
        Self {
            slot: p.slot,
            name: p.name.clone(),
            relationship: p.relationship.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            preference: p.preference,
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
    pub team: TeamCode,
    /// Opaque child id.
    pub child_id: String,
    /// NHS number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
    /// Legal first name.
    pub first_name: PersonName,
    /// Legal last name.
    pub last_name: PersonName,
    /// Preferred first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_first_name: Option<PersonName>,
    /// Preferred last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_last_name: Option<PersonName>,
    /// Date of birth (stored ISO).
    pub date_of_birth: DateOfBirth,
    /// Gender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// School URN.
    pub school_urn: SchoolUrn,
    /// Year group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_group: Option<u8>,
    /// Registration group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// Address lines and town, in order, as given.
    pub address_lines: Vec<AddressLine>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<Postcode>,
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
    /// What a row without an NHS number is matched on: the names (lower-cased), the date of
    /// birth and the postcode.
    pub fn details_key(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.first_name.as_str().to_lowercase(),
            self.last_name.as_str().to_lowercase(),
            self.date_of_birth.as_iso(),
            self.postcode.as_ref().map_or("", |p| p.as_str())
        )
    }

    /// The item for one valid row.
    pub fn from_row(row: &ChildRow, p: &Provenance<'_>) -> Self {
        let id = child_id(p.team, row);
        let shard = shard_of(&id);
        let address_lines = [&row.address.line_1, &row.address.line_2, &row.address.town]
            .into_iter()
            .flatten()
            .cloned()
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
            team: p.team.clone(),
            nhs_number: row.nhs_number.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            preferred_first_name: row.preferred_first_name.clone(),
            preferred_last_name: row.preferred_last_name.clone(),
            date_of_birth: row.date_of_birth.clone(),
            gender: row.gender,
            school_urn: row.school_urn.clone(),
            year_group: row.year_group.as_ref().map(|y| y.get()),
            registration: row.registration.clone(),
            address_lines,
            postcode: row.address.postcode.clone(),
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

impl Store {
    /// Records a response for a programme on the child's state item (`consent_given`,
    /// `consent_refused`, `vaccinated`, `already_vaccinated`, `not_eligible`). A consent answer
    /// never overwrites a final outcome (vaccinated, already vaccinated, not eligible): a late
    /// consent form must not start the reminders again. Returns whether it was recorded.
    pub async fn record_response(
        &self,
        team: &TeamCode,
        child_id: &str,
        programme: &str,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::child_pk(team, child_id)))
            .key("sk", s(STATE_SK))
            // When this outcome was first recorded, for the campaign report's answers by day:
            // an upload of the same answer again does not move it.
            .update_expression("SET #r = :o, item_type = :t, #at = if_not_exists(#at, :now)")
            .expression_attribute_names("#r", format!("{RESPONSE_PREFIX}{programme}"))
            .expression_attribute_names("#at", outcome_at(programme, outcome))
            .expression_attribute_values(":o", s(outcome))
            .expression_attribute_values(":t", s("child_state"))
            .expression_attribute_values(":now", s(self.clock.rfc3339()));
        if matches!(outcome, "consent_given" | "consent_refused") {
            update = update
                .condition_expression("attribute_not_exists(#r) OR NOT (#r IN (:v, :a, :n))")
                .expression_attribute_values(":v", s("vaccinated"))
                .expression_attribute_values(":a", s("already_vaccinated"))
                .expression_attribute_values(":n", s("not_eligible"));
        }
        conditional(update.send().await)
    }

    /// Which of these children exist (and have not expired).
    pub async fn existing_children(
        &self,
        team: &TeamCode,
        child_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let wanted: Vec<(String, String)> = child_ids
            .iter()
            .map(|id| (keys::child_pk(team, id), keys::CHILD_SK.to_owned()))
            .collect();
        Ok(self
            .batch_get(&wanted)
            .await?
            .into_values()
            .filter_map(|item| str_attr(&item, "child_id"))
            .collect())
    }

    /// Every child of the team whose names, date of birth and postcode are one of `wanted`
    /// (`first\nlast\ndate\npostcode`, names lower-case): one pass over the team's children,
    /// for response and objection rows that have no NHS number.
    pub async fn children_by_details(
        &self,
        team: &TeamCode,
        wanted: &HashSet<String>,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        for shard in 0..TEAM_SHARDS {
            for item in self
                .index_items("gsi2", &keys::team_children(team, shard), None)
                .await?
            {
                let field = |name| str_attr(&item, name).unwrap_or_default();
                let details = format!(
                    "{}\n{}\n{}\n{}",
                    field("first_name").to_lowercase(),
                    field("last_name").to_lowercase(),
                    field("date_of_birth"),
                    field("postcode")
                );
                if wanted.contains(&details) {
                    found.entry(details).or_default().push(field("child_id"));
                }
            }
        }
        Ok(found)
    }

    /// When each child's outcomes for `programme` were first recorded (RFC 3339), by child id
    /// and outcome (`consent_given`, …); outcomes recorded before times were kept have none.
    pub async fn outcome_times(
        &self,
        team: &TeamCode,
        child_ids: &[String],
        programme: &str,
    ) -> Result<HashMap<String, HashMap<String, String>>, StoreError> {
        let wanted: Vec<(String, String)> = child_ids
            .iter()
            .map(|id| (keys::child_pk(team, id), STATE_SK.to_owned()))
            .collect();
        let prefix = format!("{OUTCOME_AT_PREFIX}{programme}#");
        let mut times: HashMap<String, HashMap<String, String>> = HashMap::new();
        for ((pk, _), item) in self.batch_get(&wanted).await? {
            let Some(child_id) = pk.rsplit("#C#").next() else {
                continue;
            };
            for (name, value) in &item {
                if let (Some(outcome), Ok(at)) = (name.strip_prefix(&prefix), value.as_s()) {
                    times
                        .entry(child_id.to_owned())
                        .or_default()
                        .insert(outcome.to_owned(), at.clone());
                }
            }
        }
        Ok(times)
    }

    /// The team's children whose parents have one of `numbers` (E.164), by number: one pass
    /// over the team's children, for the replies parents text in. Page by page, and only the
    /// children that match are read whole, so a large team's pass holds a page at a time.
    pub async fn children_with_phones(
        &self,
        team: &TeamCode,
        numbers: &HashSet<String>,
    ) -> Result<HashMap<String, Vec<ChildItem>>, StoreError> {
        if numbers.is_empty() {
            return Ok(HashMap::new());
        }
        let shards: Vec<Vec<(String, ChildItem)>> = futures::stream::iter(0..TEAM_SHARDS)
            .map(|shard| self.shard_children_with_phones(team, shard, numbers))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let mut found: HashMap<String, Vec<ChildItem>> = HashMap::new();
        for (number, child) in shards.into_iter().flatten() {
            found.entry(number).or_default().push(child);
        }
        for children in found.values_mut() {
            children.sort_by(|a, b| a.child_id.cmp(&b.child_id));
        }
        Ok(found)
    }

    /// [`Store::children_with_phones`] for one shard of the team's children: (number, child)
    /// for each number a parent of the child has.
    async fn shard_children_with_phones(
        &self,
        team: &TeamCode,
        shard: u32,
        numbers: &HashSet<String>,
    ) -> Result<Vec<(String, ChildItem)>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk")
                .expression_attribute_values(":pk", s(keys::team_children(team, shard)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                if str_attr(&item, "item_type").as_deref() != Some("child") || self.expired(&item) {
                    continue;
                }
                let mut matched: Vec<String> = parent_phones(&item)
                    .filter(|n| numbers.contains(*n))
                    .map(str::to_owned)
                    .collect();
                if matched.is_empty() {
                    continue;
                }
                matched.sort();
                matched.dedup();
                let child: ChildItem = serde_dynamo::from_item(item).map_err(super::err)?;
                found.extend(matched.into_iter().map(|n| (n, child.clone())));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Records (or withdraws) an objection on the child's state item; `parent_detail` is the
    /// objecting parent's email or E.164 phone, `None` for every parent. `audit` is what an
    /// objections file says about it, kept on the objection for subject access.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_objection(
        &self,
        team: &TeamCode,
        child_id: &str,
        objection_id: &str,
        scope: &str,
        parent_detail: Option<&str>,
        withdrawn: bool,
        audit: Option<&ObjectionAudit>,
    ) -> Result<(), StoreError> {
        let mut value = HashMap::new();
        if let Some(a) = audit {
            value.insert("reason".to_owned(), s(&a.reason));
            value.insert("recorded_by".to_owned(), s(&a.recorded_by));
            value.insert(
                "serious_harm".to_owned(),
                AttributeValue::Bool(a.serious_harm),
            );
            value.insert("recorded_at".to_owned(), s(&a.recorded_at));
            if let Some(date) = &a.date {
                value.insert("date".to_owned(), s(date));
            }
        }
        value.insert("scope".to_owned(), s(scope));
        value.insert("withdrawn".to_owned(), AttributeValue::Bool(withdrawn));
        if let Some(d) = parent_detail {
            value.insert("parent_detail".to_owned(), s(d));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::child_pk(team, child_id)))
            .key("sk", s(STATE_SK))
            .update_expression("SET #o = :v, item_type = :t")
            .expression_attribute_names("#o", format!("{OBJECTION_PREFIX}{objection_id}"))
            .expression_attribute_values(":v", AttributeValue::M(value))
            .expression_attribute_values(":t", s("child_state"))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

/// What an objections file says about an objection, beside its scope: kept for subject access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionAudit {
    /// Why the parent objected, as recorded.
    pub reason: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// Whether contact would cause serious harm (the detail is then erased).
    pub serious_harm: bool,
    /// When the service recorded it (RFC 3339).
    pub recorded_at: String,
    /// The date the file gives for it, if any.
    pub date: Option<String>,
}

/// The child's state item: responses and objections, which uploads of those files update and
/// which a cohort upload never touches.
pub const STATE_SK: &str = "STATE";
const RESPONSE_PREFIX: &str = "resp_";
/// What the state item's attributes holding when an outcome was first recorded start with:
/// `outcome_at#<programme>#<outcome>` (not `resp_`, which names the outcomes themselves).
pub const OUTCOME_AT_PREFIX: &str = "outcome_at#";

/// The state item's attribute holding when `outcome` was first recorded for `programme`.
fn outcome_at(programme: &str, outcome: &str) -> String {
    format!("{OUTCOME_AT_PREFIX}{programme}#{outcome}")
}
pub const OBJECTION_PREFIX: &str = "obj_";

/// The phone numbers (E.164) of the parents on a child item, as stored.
fn parent_phones(item: &Item) -> impl Iterator<Item = &str> {
    item.get("parents")
        .and_then(|v| v.as_l().ok())
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_m().ok()?.get("phone")?.as_s().ok().map(String::as_str))
}

/// Responses by programme and the objections in force, from a child's state item.
pub(super) fn read_state(item: &Item) -> (HashMap<String, String>, Vec<Objection>) {
    let mut responses = HashMap::new();
    let mut objections = Vec::new();
    for (name, value) in item {
        if let Some(programme) = name.strip_prefix(RESPONSE_PREFIX) {
            if let Ok(outcome) = value.as_s() {
                responses.insert(programme.to_owned(), outcome.clone());
            }
        } else if name.starts_with(OBJECTION_PREFIX)
            && let Ok(o) = value.as_m()
        {
            if o.get("withdrawn")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let scope = match o
                .get("scope")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some("email") => ObjectionScope::Email,
                Some("text") => ObjectionScope::Text,
                Some("letter") => ObjectionScope::Letter,
                Some("electronic") => ObjectionScope::Electronic,
                _ => ObjectionScope::All,
            };
            objections.push(Objection {
                scope,
                parent_detail: o.get("parent_detail").and_then(|v| v.as_s().ok()).cloned(),
            });
        }
    }
    (responses, objections)
}

#[cfg(test)]
mod tests {
    use crate::fakes::fixtures;

    #[test]
    fn a_stored_child_reads_back_as_the_domain_types_it_was_written_as() {
        let ava = fixtures::child("c1", "Ava", "Sarah@Example.com", "07700 900123");
        let parent = &ava.parents[0];
        assert_eq!(parent.email.as_ref().unwrap().as_str(), "sarah@example.com");
        let phone = parent.phone.as_ref().unwrap();
        assert_eq!(phone.e164(), "+447700900123");
        assert!(
            phone.is_mobile(),
            "whether it can be texted comes from the number"
        );
        let item = serde_dynamo::to_item::<_, super::Item>(&ava).unwrap();
        let back: super::ChildItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, ava);
    }

    #[test]
    fn a_stored_detail_that_is_not_valid_is_refused_on_read_without_its_value() {
        let ava = fixtures::child("c1", "Ava", "sarah@example.com", "07700 900123");
        let mut json = serde_json::to_value(&ava).unwrap();
        json["parents"][0]["email"] = "not-an-address@".into();
        let refused = serde_json::from_value::<super::ChildItem>(json).unwrap_err();
        assert!(!refused.to_string().contains("not-an-address"), "{refused}");
    }
}
