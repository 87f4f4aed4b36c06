//! Where an uploaded file sits in the bucket says whose it is and what it is:
//! `<team>/cohort/…csv`, `<team>/class-list/<URN>/…csv`, `<team>/responses/…csv`,
//! `<team>/objections/…csv`, `<team>/campaigns/<id>.json`, `<team>/team.json`.
//! Reports the service writes back live under `<team>/reports/` and are never ingested.

pub use crate::domain::TeamCode;

/// What kind of upload a key holds, from its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadKind {
    /// A CHIS cohort extract.
    Cohort,
    /// A school's class list; `folder` is the URN folder as written (checked by the reader).
    ClassList {
        /// The folder name that should be the school's 6-digit URN.
        folder: String,
    },
    /// Consent answers and vaccinations.
    Responses,
    /// Objections to contact.
    Objections,
    /// A campaign definition.
    Campaign,
    /// The team's settings.
    TeamSettings,
}

impl UploadKind {
    /// Whether it is a raw upload of personal data (CSV files), kept only for the team's
    /// `uploads_days`; campaigns and team settings are kept.
    pub fn is_raw_upload(&self) -> bool {
        matches!(
            self,
            Self::Cohort | Self::ClassList { .. } | Self::Responses | Self::Objections
        )
    }

    /// The kind's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cohort => "cohort",
            Self::ClassList { .. } => "class-list",
            Self::Responses => "responses",
            Self::Objections => "objections",
            Self::Campaign => "campaign",
            Self::TeamSettings => "team",
        }
    }
}

/// An uploaded object, classified by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Whose file it is.
    pub team: TeamCode,
    /// What it is.
    pub kind: UploadKind,
    /// The decoded key.
    pub key: String,
    /// The last path segment (used to name the report).
    pub file_name: String,
}

impl Upload {
    /// Where this upload's report goes: `<team>/reports/<file name>.report.json`.
    pub fn report_key(&self) -> String {
        format!("{}/reports/{}.report.json", self.team, self.file_name)
    }

    /// Where this upload's row errors go when rejected: `<team>/reports/<file name>.errors.csv`.
    pub fn errors_key(&self) -> String {
        format!("{}/reports/{}.errors.csv", self.team, self.file_name)
    }
}

/// What to do with an object-created notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClass {
    /// A file to ingest.
    Upload(Upload),
    /// One of our own reports: ignore it (writing reports must never trigger ingest).
    Report,
    /// A key in no known place: report it to the team when there is one, never crash.
    Unsupported {
        /// The team, when the first segment is a valid team code.
        team: Option<TeamCode>,
        /// The decoded key.
        key: String,
        /// Why it is not ingested, in plain English.
        reason: &'static str,
    },
}

/// Decodes a key as S3 writes it in event notifications (`+` for space, `%XX` escapes).
pub fn decode_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    match urlencoding::decode(&spaced) {
        Ok(decoded) => decoded.into_owned(),
        // Not valid percent-encoding of UTF-8: keep what S3 gave us rather than guess.
        Err(_) => spaced,
    }
}

/// Classifies a decoded object key.
pub fn classify_key(key: &str) -> KeyClass {
    let segments: Vec<&str> = key.split('/').collect();
    let unsupported = |team: Option<TeamCode>, reason| KeyClass::Unsupported {
        team,
        key: key.to_owned(),
        reason,
    };
    let Some(team) = TeamCode::parse(segments[0]) else {
        return unsupported(None, "the first folder is not a team code");
    };
    let file_name = segments.last().copied().unwrap_or_default().to_owned();
    let lower = file_name.to_ascii_lowercase();
    let upload = |kind| {
        KeyClass::Upload(Upload {
            team: team.clone(),
            kind,
            key: key.to_owned(),
            file_name: file_name.clone(),
        })
    };
    match segments.as_slice() {
        [_, "reports", ..] => KeyClass::Report,
        [_, "team.json"] => upload(UploadKind::TeamSettings),
        [_, "campaigns", name] if lower.ends_with(".json") && !name.is_empty() => {
            upload(UploadKind::Campaign)
        }
        [_, "cohort", .., _] if lower.ends_with(".csv") => upload(UploadKind::Cohort),
        [_, "class-list", folder, .., _] if lower.ends_with(".csv") => {
            upload(UploadKind::ClassList {
                folder: (*folder).to_owned(),
            })
        }
        [_, "responses", .., _] if lower.ends_with(".csv") => upload(UploadKind::Responses),
        [_, "objections", .., _] if lower.ends_with(".csv") => upload(UploadKind::Objections),
        [_, "cohort" | "class-list" | "responses" | "objections", ..] => {
            unsupported(Some(team), "only .csv files are read from this folder")
        }
        [_, "campaigns", ..] => unsupported(Some(team), "campaigns must be <id>.json files"),
        _ => unsupported(
            Some(team),
            "files must go under cohort/, class-list/<URN>/, responses/, objections/ or campaigns/",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_events_are_decoded_with_plus_as_space() {
        assert_eq!(
            decode_event_key("RYG-sais/cohort/Year+8+%28autumn%29+cohort.csv"),
            "RYG-sais/cohort/Year 8 (autumn) cohort.csv"
        );
        assert_eq!(decode_event_key("a/b%2Bc.csv"), "a/b+c.csv");
    }

    #[test]
    fn a_class_list_key_names_its_school_folder() {
        let KeyClass::Upload(u) = classify_key("RYG-sais/class-list/123456/Class 9X [final].csv")
        else {
            panic!("not an upload")
        };
        assert_eq!(
            u.kind,
            UploadKind::ClassList {
                folder: "123456".into()
            }
        );
        assert_eq!(
            u.report_key(),
            "RYG-sais/reports/Class 9X [final].csv.report.json"
        );
    }

    #[test]
    fn reports_are_never_ingested() {
        assert_eq!(
            classify_key("RYG-sais/reports/x.csv.report.json"),
            KeyClass::Report
        );
    }

    #[test]
    fn unknown_places_are_reported_not_ingested() {
        assert!(matches!(
            classify_key("RYG-sais/misc/x.csv"),
            KeyClass::Unsupported { team: Some(_), .. }
        ));
        assert!(matches!(
            classify_key("RYG-sais/cohort/x.xlsx"),
            KeyClass::Unsupported { team: Some(_), .. }
        ));
        assert!(matches!(
            classify_key("bad team!/cohort/x.csv"),
            KeyClass::Unsupported { team: None, .. }
        ));
    }

    #[test]
    fn campaigns_and_team_settings_are_json() {
        assert!(matches!(
            classify_key("T/campaigns/hpv-2026.json"),
            KeyClass::Upload(Upload {
                kind: UploadKind::Campaign,
                ..
            })
        ));
        assert!(matches!(
            classify_key("T/team.json"),
            KeyClass::Upload(Upload {
                kind: UploadKind::TeamSettings,
                ..
            })
        ));
    }
}

/// An object-created record from an S3 notification, reduced to what ingest needs.
///
/// Parsed leniently on purpose: AWS's records carry `userIdentity`, `requestParameters` and a
/// `versionId` that moto leaves out, and we use none of the former.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    /// The object's version (versioned buckets on AWS).
    pub version_id: Option<String>,
    /// The object's ETag (always present; identifies the content when there is no version).
    pub etag: Option<String>,
    /// The object's size in bytes.
    pub size: u64,
}

impl ObjectCreated {
    /// What makes a delivery of this notification the same upload: the version, else the ETag.
    pub fn identity(&self) -> String {
        match (&self.version_id, &self.etag) {
            (Some(v), _) if !v.is_empty() && v != "null" => format!("v:{v}"),
            (_, Some(e)) => format!("e:{}", e.trim_matches('"')),
            _ => "unversioned".to_owned(),
        }
    }
}

/// What an SQS message from the uploads bucket says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Notification {
    /// S3's `s3:TestEvent`, sent when notifications are configured: nothing to do.
    Test,
    /// Objects created.
    Created(Vec<ObjectCreated>),
}

/// The SQS body is not an S3 notification.
#[derive(Debug, thiserror::Error)]
#[error("not an S3 notification: {0}")]
pub struct NotAnS3Notification(String);

mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Body {
        #[serde(rename = "Event")]
        pub event: Option<String>,
        #[serde(rename = "Records", default)]
        pub records: Vec<Record>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Record {
        #[serde(default)]
        pub event_name: String,
        pub s3: S3,
    }
    #[derive(Deserialize)]
    pub struct S3 {
        pub bucket: Bucket,
        pub object: Object,
    }
    #[derive(Deserialize)]
    pub struct Bucket {
        pub name: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Object {
        pub key: String,
        #[serde(default)]
        pub size: u64,
        #[serde(default)]
        pub e_tag: Option<String>,
        #[serde(default)]
        pub version_id: Option<String>,
    }
}

/// Parses the body of an SQS message fed by S3 event notifications.
pub fn parse_s3_notification(body: &str) -> Result<S3Notification, NotAnS3Notification> {
    let parsed: wire::Body =
        serde_json::from_str(body).map_err(|e| NotAnS3Notification(e.to_string()))?;
    if parsed.event.as_deref() == Some("s3:TestEvent") {
        return Ok(S3Notification::Test);
    }
    if parsed.records.is_empty() {
        return Err(NotAnS3Notification("no Records".into()));
    }
    Ok(S3Notification::Created(
        parsed
            .records
            .into_iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated"))
            .map(|r| ObjectCreated {
                bucket: r.s3.bucket.name,
                key: decode_event_key(&r.s3.object.key),
                version_id: r.s3.object.version_id,
                etag: r.s3.object.e_tag,
                size: r.s3.object.size,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod notification_tests {
    use super::*;

    #[test]
    fn a_test_event_is_recognised() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse_s3_notification(body).unwrap(), S3Notification::Test);
    }

    #[test]
    fn a_record_without_user_identity_or_version_still_parses() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"T%2Fcohort%2FYear+8.csv","size":17,"eTag":"abc"}}}]}"#;
        let S3Notification::Created(records) = parse_s3_notification(body).unwrap() else {
            panic!("expected records")
        };
        assert_eq!(records[0].key, "T/cohort/Year 8.csv");
        assert_eq!(records[0].identity(), "e:abc");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_s3_notification("[]").is_err());
        assert!(parse_s3_notification("{}").is_err());
        assert!(parse_s3_notification("not json").is_err());
    }
}
