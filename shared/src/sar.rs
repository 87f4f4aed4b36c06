//! Subject access: everything the service holds about a child, as one JSON document — the
//! child's details and parents, responses and objections (with who recorded them and why),
//! the status of each contact detail, every message with its template (the content
//! reference), channel, recipient, status history and any grounds, the channel policy's
//! decisions, the manual follow-up list entries, the texts their parents sent in (from a number
//! a parent of the child has; an erased number links to nobody) and the erasures made.

use serde_json::{Map, Value, json};

use crate::domain::NhsNumber;
use crate::store::{Store, StoreError};
use crate::uploads::TeamCode;

/// Who the request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// By NHS number.
    NhsNumber(NhsNumber),
    /// By names, date of birth (`YYYY-MM-DD`) and postcode, as the files give them.
    Details {
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// Date of birth, `YYYY-MM-DD`.
        date_of_birth: String,
        /// Postcode, formatted as stored (`LS1 1AA`).
        postcode: String,
    },
}

/// Attributes that are the table's plumbing, not information about anyone.
const PLUMBING: &[&str] = &[
    "pk",
    "sk",
    "gsi1pk",
    "gsi1sk",
    "gsi2pk",
    "gsi2sk",
    "lease_until",
];

/// The export for `subject`: `{"team", "generated_at", "children": [...]}`; no children when
/// nobody matches.
pub async fn export(
    store: &Store,
    team: &TeamCode,
    subject: &Subject,
) -> Result<Value, StoreError> {
    let child_ids: Vec<String> = match subject {
        Subject::NhsNumber(nhs) => {
            let id = crate::store::child_id_for_nhs(team, nhs);
            store
                .existing_children(team, std::slice::from_ref(&id))
                .await?
                .into_iter()
                .collect()
        }
        Subject::Details {
            first_name,
            last_name,
            date_of_birth,
            postcode,
        } => {
            let wanted = format!(
                "{}\n{}\n{}\n{}",
                first_name.trim().to_lowercase(),
                last_name.trim().to_lowercase(),
                date_of_birth.trim(),
                postcode.trim().to_uppercase()
            );
            let mut found = store
                .children_by_details(team, &std::collections::HashSet::from([wanted]))
                .await?;
            let mut ids: Vec<String> = found.drain().flat_map(|(_, ids)| ids).collect();
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let follow_ups = store.follow_ups(team).await?;
    let texts = if child_ids.is_empty() {
        Vec::new()
    } else {
        store.received_texts(team).await?
    };
    let mut children = Vec::new();
    for child_id in child_ids {
        let mut child = Map::new();
        child.insert("child_id".into(), json!(child_id));
        let (mut decisions, mut erasures) = (Vec::new(), Vec::new());
        let mut details: Vec<String> = Vec::new();
        for item in store.child_partition(team, &child_id).await? {
            let sk = item["sk"].as_str().unwrap_or_default().to_owned();
            if sk == crate::store::keys::CHILD_SK {
                for p in item["parents"].as_array().into_iter().flatten() {
                    for kind in ["email", "phone"] {
                        if let Some(v) = p[kind].as_str() {
                            details.push(format!("{kind}:{v}"));
                        }
                    }
                }
                child.insert("details".into(), without_plumbing(item));
            } else if sk == crate::store::STATE_SK {
                let state = without_plumbing(item);
                let (mut responses, mut objections) = (Map::new(), Vec::new());
                let mut recorded_at = Map::new();
                for (name, value) in state.as_object().into_iter().flatten() {
                    if let Some(programme) = name.strip_prefix("resp_") {
                        responses.insert(programme.to_owned(), value.clone());
                    } else if name.starts_with("obj_") {
                        objections.push(value.clone());
                    } else if let Some(what) = name.strip_prefix(crate::store::OUTCOME_AT_PREFIX) {
                        // `<programme>#<outcome>`: when that outcome was first recorded.
                        recorded_at.insert(what.replacen('#', " ", 1), value.clone());
                    }
                }
                child.insert("responses".into(), Value::Object(responses));
                child.insert("responses_recorded_at".into(), Value::Object(recorded_at));
                child.insert("objections".into(), Value::Array(objections));
            } else if sk.starts_with(crate::store::keys::DECISION_PREFIX) {
                decisions.push(without_plumbing(item));
            } else if sk.starts_with(crate::store::keys::ERASURE_PREFIX) {
                erasures.push(without_plumbing(item));
            }
        }
        let mut statuses = Vec::new();
        for detail in &details {
            statuses.push(json!({
                "detail": detail,
                "status": store.detail_status(team, detail).await?,
            }));
        }
        let messages: Vec<Value> = store
            .messages_of_child(team, &child_id)
            .await?
            .into_iter()
            .map(|m| without_plumbing(serde_json::to_value(m).unwrap_or_default()))
            .collect();
        let listed: Vec<Value> = follow_ups
            .iter()
            .filter(|f| f.child_id == child_id)
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .collect();
        let phones: Vec<&str> = details
            .iter()
            .filter_map(|d| d.strip_prefix("phone:"))
            .collect();
        let replies: Vec<Value> = texts
            .iter()
            .filter(|t| t.from.as_deref().is_some_and(|f| phones.contains(&f)))
            .map(|t| serde_json::to_value(t).unwrap_or_default())
            .collect();
        child.insert("contact_details".into(), Value::Array(statuses));
        child.insert("messages".into(), Value::Array(messages));
        child.insert("decisions".into(), Value::Array(decisions));
        child.insert("manual_follow_up".into(), Value::Array(listed));
        child.insert("replies".into(), Value::Array(replies));
        child.insert("erasures".into(), Value::Array(erasures));
        children.push(Value::Object(child));
    }
    Ok(json!({
        "team": team.as_str(),
        "generated_at": store.clock().rfc3339(),
        "children": children,
    }))
}

/// A record without the table's keys.
fn without_plumbing(mut value: Value) -> Value {
    if let Some(o) = value.as_object_mut() {
        for key in PLUMBING {
            o.remove(*key);
        }
    }
    value
}
