//! Team settings (`<team>/team.json`, file-formats.md): the team's name, its own Notify service
//! (the API key's secret, the callback token's secret, the service's rate limit; each optional,
//! the deployment's default otherwise), optional reply-to and sender ids, retention and whether
//! letters are allowed by default. Checked field by field like a campaign file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::campaign_file::{Check, json_report, read_json_object};
use super::report::{Report, codes};

/// How long raw uploads are kept unless the team says otherwise (days).
pub const DEFAULT_UPLOADS_DAYS: u32 = 30;

/// Retention settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Days raw uploads are kept.
    pub uploads_days: u32,
    /// Days contact records and message records are kept after their last update.
    pub records_days: Option<u32>,
}

/// A team's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSettings {
    /// The team's name, as people know it.
    pub name: String,
    /// The Secrets Manager name of the team's own Notify service's API key (none: the
    /// deployment's default key).
    #[serde(default)]
    pub notify_api_key_secret: Option<String>,
    /// The Secrets Manager name of the bearer token the team's Notify service sends with its
    /// callbacks (none: the deployment's default token).
    #[serde(default)]
    pub callback_token_secret: Option<String>,
    /// The team's Notify service's rate limit, requests a minute (none: the deployment's).
    #[serde(default)]
    pub notify_rate_limit_per_min: Option<u32>,
    /// Notify's id of the email reply-to address to use.
    pub email_reply_to_id: Option<uuid::Uuid>,
    /// Notify's id of the text sender to use.
    pub sms_sender_id: Option<uuid::Uuid>,
    /// Retention.
    pub retention: Retention,
    /// Whether campaigns may send letters unless they say otherwise.
    pub letters: bool,
}

const FIELDS: &[&str] = &[
    "name",
    "notify_api_key_secret",
    "callback_token_secret",
    "notify_rate_limit_per_min",
    "email_reply_to_id",
    "sms_sender_id",
    "retention",
    "letters",
];

/// The highest rate limit a team may set (Notify's own default is 3,000 a minute).
pub const MAX_RATE_LIMIT_PER_MIN: u64 = 60_000;

impl TeamSettings {
    /// The secrets this team's settings name that the service will not read, as (field, code,
    /// message): one outside the team's own folder of the deployment's team secrets
    /// (`<secret_prefix><team>/`: a team may not name another team's), or one whose name there
    /// does not begin with its kind ([`API_KEY_SECRET_NAME`], [`CALLBACK_TOKEN_SECRET_NAME`]:
    /// each function may read only the kind it uses, so the public webhook cannot read an API
    /// key).
    pub fn secrets_outside(
        &self,
        secret_prefix: &str,
        team: &str,
    ) -> Vec<(&'static str, &'static str, String)> {
        let folder = format!("{secret_prefix}{team}/");
        [
            (
                "notify_api_key_secret",
                &self.notify_api_key_secret,
                API_KEY_SECRET_NAME,
            ),
            (
                "callback_token_secret",
                &self.callback_token_secret,
                CALLBACK_TOKEN_SECRET_NAME,
            ),
        ]
        .into_iter()
        .filter_map(|(field, name, kind)| {
            let name = name.as_deref()?;
            // A secret may be named by its ARN too: compare the name part.
            let bare = name.split_once(":secret:").map_or(name, |(_, rest)| rest);
            match bare.strip_prefix(&folder) {
                Some(rest) if rest.starts_with(kind) => None,
                Some(_) => Some((
                    field,
                    codes::SECRET_WRONG_KIND,
                    format!(
                        "{field} should name a secret whose name begins {folder}{kind} (each \
                         function may read only the kind of secret it uses); create it so"
                    ),
                )),
                None => Some((
                    field,
                    codes::SECRET_OUTSIDE_TEAM,
                    format!(
                        "{field} should name a secret under {folder} (the service reads only \
                         its teams' secrets, each team's under its own folder); create it there"
                    ),
                )),
            }
        })
        .collect()
    }
}

/// How the name of a team's Notify API-key secret begins, after the team's folder (the IAM
/// policies of the functions that send let them read only these).
pub const API_KEY_SECRET_NAME: &str = "notify-api-key";
/// How the name of a team's callback-token secret begins, after the team's folder (the
/// webhook's IAM policy lets it read only these).
pub const CALLBACK_TOKEN_SECRET_NAME: &str = "notify-callback-token";

/// Checks a `team.json` and, when it is valid, returns the settings with its report.
pub fn validate_team_settings(file_name: &str, bytes: &[u8]) -> (Report, Option<TeamSettings>) {
    let value = match read_json_object(bytes) {
        Ok(v) => v,
        Err(message) => {
            return (
                super::file_error_report(file_name, "team-settings", codes::UNREADABLE, message),
                None,
            );
        }
    };
    let object = value.as_object().expect("an object");
    let mut check = Check {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    for name in object.keys() {
        if !FIELDS.contains(&name.as_str()) {
            check.error(
                name.clone(),
                super::campaign_file::campaign_codes::UNKNOWN_FIELD,
                format!("{name} is not a team setting; remove it or check its spelling"),
            );
        }
    }
    let text = |check: &mut Check, name: &str, max: usize| -> Option<String> {
        match object.get(name).and_then(Value::as_str).map(str::trim) {
            Some(t) if !t.is_empty() && t.len() <= max => Some(t.to_owned()),
            _ => {
                check.error(
                    name,
                    codes::MISSING_VALUE,
                    format!("{name} should be text of 1 to {max} characters"),
                );
                None
            }
        }
    };
    let name = text(&mut check, "name", 100);
    let secret = |check: &mut Check, field: &str| -> Option<String> {
        match object.get(field) {
            None | Some(Value::Null) => None,
            Some(_) => text(check, field, 512),
        }
    };
    let notify_api_key_secret = secret(&mut check, "notify_api_key_secret");
    let callback_token_secret = secret(&mut check, "callback_token_secret");
    let notify_rate_limit_per_min = match object.get("notify_rate_limit_per_min") {
        None | Some(Value::Null) => None,
        Some(v) => match v
            .as_u64()
            .filter(|n| (1..=MAX_RATE_LIMIT_PER_MIN).contains(n))
        {
            Some(n) => Some(n as u32),
            None => {
                check.error(
                    "notify_rate_limit_per_min",
                    super::campaign_file::campaign_codes::INVALID_TYPE,
                    format!(
                        "notify_rate_limit_per_min should be the requests a minute your Notify \
                         service allows, a whole number from 1 to {MAX_RATE_LIMIT_PER_MIN} \
                         (Notify's default is 3000)"
                    ),
                );
                None
            }
        },
    };
    let mut id = |field: &str| -> Option<uuid::Uuid> {
        match object.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_str().and_then(|t| uuid::Uuid::parse_str(t).ok()) {
                Some(id) => Some(id),
                None => {
                    check.error(
                        field,
                        super::campaign_file::campaign_codes::INVALID_TYPE,
                        format!("{field} should be the id Notify shows for it (a UUID)"),
                    );
                    None
                }
            },
        }
    };
    let email_reply_to_id = id("email_reply_to_id");
    let sms_sender_id = id("sms_sender_id");
    let mut retention = Retention {
        uploads_days: DEFAULT_UPLOADS_DAYS,
        records_days: None,
    };
    match object.get("retention") {
        None | Some(Value::Null) => {}
        Some(Value::Object(r)) => {
            for (key, value) in r {
                let path = format!("retention.{key}");
                let (low, high) = match key.as_str() {
                    "uploads_days" => (1, 365),
                    "records_days" => (30, 3650),
                    _ => {
                        check.error(
                            path,
                            super::campaign_file::campaign_codes::UNKNOWN_FIELD,
                            "retention has uploads_days and records_days only",
                        );
                        continue;
                    }
                };
                match value.as_u64().filter(|d| (low..=high).contains(d)) {
                    Some(days) if key == "uploads_days" => retention.uploads_days = days as u32,
                    Some(days) => retention.records_days = Some(days as u32),
                    None => check.error(
                        path.clone(),
                        super::campaign_file::campaign_codes::INVALID_TYPE,
                        format!("{path} should be a number of days from {low} to {high}"),
                    ),
                }
            }
        }
        Some(_) => check.error(
            "retention",
            super::campaign_file::campaign_codes::INVALID_TYPE,
            "retention should be {\"uploads_days\": …, \"records_days\": …}",
        ),
    }
    check.flag(object, "letters");
    let letters = object
        .get("letters")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let settings = match (check.errors.is_empty(), name) {
        (true, Some(name)) => Some(TeamSettings {
            name,
            notify_api_key_secret,
            callback_token_secret,
            notify_rate_limit_per_min,
            email_reply_to_id,
            sms_sender_id,
            retention,
            letters,
        }),
        _ => None,
    };
    (json_report(file_name, "team-settings", check), settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::report::Status;
    use serde_json::json;

    fn check(v: Value) -> (Report, Option<TeamSettings>) {
        validate_team_settings("team.json", v.to_string().as_bytes())
    }

    #[test]
    fn a_full_settings_file_is_imported_and_defaults_fill_the_gaps() {
        let (report, settings) = check(json!({
            "name": "Leeds SAIS",
            "notify_api_key_secret": "sais/teams/RYG-sais/notify-api-key",
            "email_reply_to_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
            "retention": {"records_days": 730}
        }));
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        let s = settings.unwrap();
        assert_eq!(s.retention.uploads_days, 30, "the default");
        assert_eq!(s.retention.records_days, Some(730));
        assert!(s.letters && s.sms_sender_id.is_none());
    }

    #[test]
    fn each_bad_setting_is_named_by_its_path() {
        let (report, settings) = check(json!({
            "name": "",
            "sms_sender_id": "sender-1",
            "retention": {"uploads_days": 0, "forever": true},
            "letters": "yes",
            "notify_rate_limit_per_min": 0,
            "colour": "blue"
        }));
        assert!(settings.is_none());
        let mut fields: Vec<String> = report
            .errors
            .iter()
            .map(|e| e.column.clone().unwrap_or_default().into_owned())
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "colour",
                "letters",
                "name",
                "notify_rate_limit_per_min",
                "retention.forever",
                "retention.uploads_days",
                "sms_sender_id"
            ]
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(!text.contains("sender-1") && !text.contains("blue"));
    }

    #[test]
    fn a_team_without_its_own_service_uses_the_default_and_one_with_names_only_its_own_secrets() {
        let (report, settings) = check(json!({"name": "Leeds SAIS"}));
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        let s = settings.unwrap();
        assert_eq!(s.notify_api_key_secret, None);
        assert!(s.secrets_outside("sais/teams/", "RYG").is_empty());

        let (_, settings) = check(json!({
            "name": "Leeds SAIS",
            "notify_api_key_secret": "sais/teams/RYG/notify-api-key",
            "callback_token_secret": "sais/teams/RYGX/notify-callback-token",
            "notify_rate_limit_per_min": 600
        }));
        let s = settings.unwrap();
        assert_eq!(s.notify_rate_limit_per_min, Some(600));
        let outside = s.secrets_outside("sais/teams/", "RYG");
        assert_eq!(outside.len(), 1, "another team's folder is refused");
        assert_eq!(outside[0].0, "callback_token_secret");
        assert_eq!(outside[0].1, codes::SECRET_OUTSIDE_TEAM);
        assert!(outside[0].2.contains("sais/teams/RYG/"));
        let arn = TeamSettings {
            notify_api_key_secret: Some(
                "arn:aws:secretsmanager:eu-west-2:1:secret:sais/teams/RYG/notify-api-key-AbCdEf"
                    .into(),
            ),
            callback_token_secret: None,
            ..s.clone()
        };
        assert!(arn.secrets_outside("sais/teams/", "RYG").is_empty());
        // In the team's folder, but named as the other kind, or as no kind.
        let crossed = TeamSettings {
            notify_api_key_secret: Some("sais/teams/RYG/notify-callback-token".into()),
            callback_token_secret: Some("sais/teams/RYG/token".into()),
            ..s
        };
        let refused = crossed.secrets_outside("sais/teams/", "RYG");
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused.iter().all(|r| r.1 == codes::SECRET_WRONG_KIND));
        assert!(
            refused[0]
                .2
                .contains("begins sais/teams/RYG/notify-api-key")
        );
        assert!(
            refused[1]
                .2
                .contains("begins sais/teams/RYG/notify-callback-token")
        );
    }
}
