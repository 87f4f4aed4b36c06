//! Campaign files (`<team>/campaigns/<id>.json`, file-formats.md): checked field by field, with
//! errors reported like CSV errors but naming the field's path (`sessions[1]`) instead of a row.
//! Messages never repeat a value from the file.

use serde_json::{Map, Value};
use time::{Date, Duration};

use super::report::{FileIssue, Issue, Report, Status, codes};
use super::{file_error_report, now_rfc3339};
use crate::campaign::Campaign;
use crate::domain::SchoolUrn;

/// The largest campaign file read (a campaign is a few hundred bytes; this is generous).
pub const MAX_CAMPAIGN_BYTES: usize = 256 * 1024;

/// Error codes for campaign files, beyond the CSV ones.
pub mod campaign_codes {
    /// A field the campaign format does not have.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// The wrong kind of value (a number where text belongs, …).
    pub const INVALID_TYPE: &str = "invalid_type";
    /// The id is not the file's name, or has characters ids cannot have.
    pub const INVALID_ID: &str = "invalid_id";
    /// Not one of the programmes the service knows.
    pub const INVALID_PROGRAMME: &str = "invalid_programme";
    /// Not a real `YYYY-MM-DD` date, or dates in an impossible order.
    pub const INVALID_DATE: &str = "invalid_date";
    /// A year group outside reception (0) to year 13.
    pub const INVALID_YEAR_GROUP: &str = "invalid_year_group";
    /// Reminder days outside 0 to 60.
    pub const INVALID_REMINDER: &str = "invalid_reminder";
    /// Not a Notify template id (a UUID).
    pub const INVALID_TEMPLATE: &str = "invalid_template";
    /// `urgent` without the grounds for overriding objections.
    pub const MISSING_GROUNDS: &str = "missing_grounds";
    /// A link in the personalisation that is not https.
    pub const INVALID_LINK: &str = "invalid_link";
    /// Warning: every session is in the past, so nothing will be sent.
    pub const CAMPAIGN_FINISHED: &str = "campaign_finished";
}

use campaign_codes::*;

/// The programmes of file-formats.md.
pub const PROGRAMMES: &[&str] = &["hpv", "flu", "menacwy", "td_ipv", "mmr"];

const FIELDS: &[&str] = &[
    "id",
    "programme",
    "schools",
    "year_groups",
    "sessions",
    "consent_deadline",
    "send_requests_on",
    "reminder_days_before_deadline",
    "session_reminder",
    "letters",
    "urgent",
    "override_grounds",
    "templates",
    "personalisation",
];

const PURPOSES: &[&str] = &["consent_request", "consent_reminder", "session_reminder"];
const CHANNELS: &[&str] = &["email", "sms", "letter"];

/// The issues found in a JSON file, named by field path.
pub(crate) struct Check {
    pub(crate) errors: Vec<Issue>,
    pub(crate) warnings: Vec<Issue>,
}

impl Check {
    /// A field the format does not have is an error (a misspelt one would be ignored).
    fn unknown_fields(&mut self, object: &Map<String, Value>) {
        for name in object.keys() {
            if !FIELDS.contains(&name.as_str()) {
                self.error(
                    name.clone(),
                    UNKNOWN_FIELD,
                    format!("{name} is not a campaign field; remove it or check its spelling"),
                );
            }
        }
    }

    /// The id: the file's name without `.json`, and fit to be part of message ids.
    fn id(&mut self, object: &Map<String, Value>, file_name: &str) {
        let stem = file_name
            .strip_suffix(".json")
            .or_else(|| file_name.strip_suffix(".JSON"))
            .unwrap_or(file_name);
        match object.get("id").and_then(Value::as_str) {
            None => self.error(
                "id",
                codes::MISSING_VALUE,
                "id is missing; give the campaign's id, the same as the file name",
            ),
            Some(id) if id != stem => self.error(
                "id",
                INVALID_ID,
                "id should be the same as the file's name without .json",
            ),
            Some(id)
                if id.is_empty()
                    || id.len() > 64
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                self.error(
                    "id",
                    INVALID_ID,
                    "id should be up to 64 letters, digits, - and _ (it is part of message ids)",
                )
            }
            Some(_) => {}
        }
    }

    /// The programme: one of the five.
    fn programme(&mut self, object: &Map<String, Value>) {
        match object.get("programme").and_then(Value::as_str) {
            Some(p) if PROGRAMMES.contains(&p) => {}
            Some(_) => self.error(
                "programme",
                INVALID_PROGRAMME,
                format!("programme should be one of {}", PROGRAMMES.join(", ")),
            ),
            None => self.error(
                "programme",
                codes::MISSING_VALUE,
                "programme is missing; give one of hpv, flu, menacwy, td_ipv, mmr",
            ),
        }
    }

    /// The schools: at least one, each a 6-digit URN.
    fn schools(&mut self, object: &Map<String, Value>) {
        match object.get("schools").and_then(Value::as_array) {
            Some(schools) if !schools.is_empty() => {
                for (i, urn) in schools.iter().enumerate() {
                    if urn.as_str().is_none_or(|u| SchoolUrn::parse(u).is_err()) {
                        self.error(
                            format!("schools[{i}]"),
                            codes::INVALID_URN,
                            "each school should be its 6-digit URN, in quotes",
                        );
                    }
                }
            }
            _ => self.error(
                "schools",
                codes::MISSING_VALUE,
                "schools should list at least one school's URN",
            ),
        }
    }

    /// The session dates, the consent deadline and the request day, in order; a warning when every session is past.
    fn dates(&mut self, object: &Map<String, Value>, today: Date) {
        let mut sessions = Vec::new();
        match object.get("sessions").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for (i, d) in list.iter().enumerate() {
                    sessions.extend(self.date(&format!("sessions[{i}]"), d));
                }
            }
            _ => self.error(
                "sessions",
                codes::MISSING_VALUE,
                "sessions should list at least one session date",
            ),
        }
        let first_session = sessions.iter().min().copied();
        let deadline = object
            .get("consent_deadline")
            .filter(|v| !v.is_null())
            .and_then(|v| self.date("consent_deadline", v));
        let requests_on = object
            .get("send_requests_on")
            .filter(|v| !v.is_null())
            .and_then(|v| self.date("send_requests_on", v));
        if let Some(first) = first_session {
            let effective_deadline = deadline.unwrap_or(first - Duration::days(1));
            if deadline.is_some_and(|d| d >= first) {
                self.error(
                    "consent_deadline",
                    INVALID_DATE,
                    "consent_deadline should be before the first session",
                );
            }
            if requests_on.unwrap_or(first - Duration::days(21)) >= effective_deadline {
                self.error(
                    "send_requests_on",
                    INVALID_DATE,
                    "send_requests_on should be before the consent deadline",
                );
            }
            if sessions.iter().all(|&s| s < today) {
                self.warnings.push(Issue {
                    row: None,
                    column: Some("sessions".into()),
                    code: CAMPAIGN_FINISHED,
                    message: "Every session is in the past, so this campaign will send nothing"
                        .into(),
                });
            }
        }
    }

    /// The reminders, the flags, and the grounds an urgent campaign must record.
    fn sending(&mut self, object: &Map<String, Value>) {
        self.small_numbers(
            object,
            "reminder_days_before_deadline",
            60,
            INVALID_REMINDER,
            "each reminder should be a number of days from 0 to 60",
            "reminder_days_before_deadline should be a list of numbers, such as [7]",
        );
        for flag in ["session_reminder", "letters", "urgent"] {
            self.flag(object, flag);
        }
        let grounds = object.get("override_grounds");
        if grounds.is_some_and(|g| !g.is_null() && !g.is_string()) {
            self.error(
                "override_grounds",
                INVALID_TYPE,
                "override_grounds should be text, or null",
            );
        }
        let has_grounds = grounds
            .and_then(Value::as_str)
            .is_some_and(|g| !g.trim().is_empty());
        if object.get("urgent").and_then(Value::as_bool) == Some(true) && !has_grounds {
            self.error(
                "override_grounds",
                MISSING_GROUNDS,
                "an urgent campaign must record its compelling legitimate grounds for overriding objections in override_grounds",
            );
        }
    }

    /// The templates: for known purposes and channels, Notify ids, at least one for the consent request.
    fn templates(&mut self, object: &Map<String, Value>) {
        match object.get("templates").and_then(Value::as_object) {
            Some(templates) => {
                for (purpose, channels) in templates {
                    if !PURPOSES.contains(&purpose.as_str()) {
                        self.error(
                            format!("templates.{purpose}"),
                            UNKNOWN_FIELD,
                            "templates are given for consent_request, consent_reminder and session_reminder only",
                        );
                        continue;
                    }
                    let Some(channels) = channels.as_object() else {
                        self.error(
                            format!("templates.{purpose}"),
                            INVALID_TYPE,
                            format!("templates.{purpose} should be {{\"email\": …, \"sms\": …, \"letter\": …}}"),
                        );
                        continue;
                    };
                    for (channel, id) in channels {
                        let path = format!("templates.{purpose}.{channel}");
                        if !CHANNELS.contains(&channel.as_str()) {
                            self.error(
                                path,
                                UNKNOWN_FIELD,
                                "a template is given for email, sms or letter",
                            );
                        } else if !id.is_null()
                            && id
                                .as_str()
                                .is_none_or(|t| uuid::Uuid::parse_str(t).is_err())
                        {
                            self.error(
                                path.clone(),
                                INVALID_TEMPLATE,
                                format!("{path} should be a Notify template id (a UUID)"),
                            );
                        }
                    }
                }
                let request = templates
                    .get("consent_request")
                    .and_then(Value::as_object)
                    .is_some_and(|c| c.values().any(|v| !v.is_null()));
                if !request {
                    self.error(
                        "templates.consent_request",
                        codes::MISSING_VALUE,
                        "templates.consent_request needs at least one template (email, sms or letter)",
                    );
                }
            }
            None => self.error(
                "templates",
                codes::MISSING_VALUE,
                "templates is missing; give the Notify template ids for each purpose and channel",
            ),
        }
    }

    /// Personalisation: text values, links on https.
    fn personalisation(&mut self, object: &Map<String, Value>) {
        if let Some(personalisation) = object.get("personalisation") {
            match personalisation.as_object() {
                Some(values) => {
                    for (name, v) in values {
                        let path = format!("personalisation.{name}");
                        match v.as_str() {
                            None => self.error(
                                path.clone(),
                                INVALID_TYPE,
                                format!("{path} should be text"),
                            ),
                            Some(link)
                                if name.ends_with("_url") && !link.starts_with("https://") =>
                            {
                                self.error(
                                    path.clone(),
                                    INVALID_LINK,
                                    format!("{path} should be a link starting https://"),
                                )
                            }
                            Some(_) => {}
                        }
                    }
                }
                None => self.error(
                    "personalisation",
                    INVALID_TYPE,
                    "personalisation should be an object of names and text values",
                ),
            }
        }
    }

    /// An error at `path`.
    pub(crate) fn error(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.errors.push(Issue {
            row: None,
            column: Some(path.into().into()),
            code,
            message: message.into().into(),
        });
    }

    fn date(&mut self, path: &str, value: &Value) -> Option<Date> {
        let format = time::format_description::well_known::Iso8601::DATE;
        match value.as_str() {
            Some(text) if text.len() == 10 => match Date::parse(text, &format) {
                Ok(date) => Some(date),
                Err(_) => {
                    self.error(
                        path,
                        INVALID_DATE,
                        format!("{path} should be a real date written YYYY-MM-DD"),
                    );
                    None
                }
            },
            _ => {
                self.error(
                    path,
                    INVALID_DATE,
                    format!("{path} should be a date written YYYY-MM-DD, in quotes"),
                );
                None
            }
        }
    }

    /// An optional list of whole numbers from 0 to `max`, each checked.
    fn small_numbers(
        &mut self,
        object: &Map<String, Value>,
        name: &str,
        max: u64,
        code: &'static str,
        each: &str,
        whole: &str,
    ) {
        match object.get(name).map(Value::as_array) {
            None => {}
            Some(None) => self.error(name, INVALID_TYPE, whole),
            Some(Some(list)) => {
                for (i, n) in list.iter().enumerate() {
                    if n.as_u64().is_none_or(|n| n > max) {
                        self.error(format!("{name}[{i}]"), code, each);
                    }
                }
            }
        }
    }

    pub(crate) fn flag(&mut self, object: &Map<String, Value>, name: &str) {
        if let Some(v) = object.get(name)
            && !v.is_boolean()
        {
            self.error(
                name,
                INVALID_TYPE,
                format!("{name} should be true or false"),
            );
        }
    }
}

/// Reads a small JSON file that must be one object; the error says what is wrong without
/// quoting the file (only a position).
pub(crate) fn read_json_object(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() > MAX_CAMPAIGN_BYTES {
        return Err(format!(
            "The file is larger than {} KiB; it should be a few hundred bytes",
            MAX_CAMPAIGN_BYTES / 1024
        ));
    }
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| "The file is not UTF-8 text; save it as UTF-8".to_owned())?;
    // Only the position: serde's message can quote the file.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "The file is not valid JSON (line {}, column {}); check for a missing comma, quote or bracket",
            e.line(),
            e.column()
        )
    })?;
    if !value.is_object() {
        return Err("The file should be one JSON object: { \"name\": …, … }".into());
    }
    Ok(value)
}

/// A report for a JSON file: imported when `check` found no errors.
pub(crate) fn json_report(file_name: &str, kind: &str, check: Check) -> Report {
    let ok = check.errors.is_empty();
    Report {
        file: file_name.to_owned(),
        kind: kind.to_owned(),
        status: if ok {
            Status::Imported
        } else {
            Status::Rejected
        },
        encoding: Some("utf-8".to_owned()),
        rows: 1,
        rows_valid: u64::from(ok),
        file_errors: Vec::<FileIssue>::new(),
        errors: check.errors,
        warnings: check.warnings,
        processed_at: now_rfc3339(),
    }
}

/// Checks a campaign file named `file_name` and, when it is valid, returns the campaign with
/// its report. `today` decides the "already finished" warning.
pub fn validate_campaign(file_name: &str, bytes: &[u8], today: Date) -> (Report, Option<Campaign>) {
    let reject = |message: String| {
        (
            file_error_report(file_name, "campaign", codes::UNREADABLE, message),
            None,
        )
    };
    let value = match read_json_object(bytes) {
        Ok(value) => value,
        Err(message) => return reject(message),
    };
    let object = value.as_object().expect("read_json_object gives an object");

    let mut check = Check {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    check.unknown_fields(object);
    check.id(object, file_name);
    check.programme(object);
    check.schools(object);
    check.small_numbers(
        object,
        "year_groups",
        13,
        INVALID_YEAR_GROUP,
        "each year group should be a number from 0 (reception) to 13",
        "year_groups should be a list of numbers, such as [8, 9]",
    );

    check.dates(object, today);
    check.sending(object);
    check.templates(object);
    check.personalisation(object);

    let mut campaign = None;
    if check.errors.is_empty() {
        match serde_json::from_value::<Campaign>(value) {
            Ok(c) => campaign = Some(c),
            Err(_) => check.error(
                "",
                INVALID_TYPE,
                "The campaign could not be read; check each field against the format",
            ),
        }
    }
    let report = json_report(file_name, "campaign", check);
    (report, campaign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 01);

    fn good() -> Value {
        json!({
            "id": "hpv-2026-autumn",
            "programme": "hpv",
            "schools": ["123456"],
            "year_groups": [8],
            "sessions": ["2026-12-03"],
            "consent_deadline": "2026-12-02",
            "send_requests_on": "2026-11-12",
            "reminder_days_before_deadline": [7],
            "session_reminder": true,
            "letters": true,
            "urgent": false,
            "override_grounds": null,
            "templates": {
                "consent_request": {"email": "f33517ff-2a88-4f6e-b855-c550268ce08a", "sms": "a5e7b0f0-5d0c-4f7e-9c1c-1c1e2b1d6a11", "letter": "c2f9f0b4-7c55-4e0e-8d0a-9e3d4c5b6a71"},
                "consent_reminder": {"email": "f33517ff-2a88-4f6e-b855-c550268ce08b", "sms": "a5e7b0f0-5d0c-4f7e-9c1c-1c1e2b1d6a12"},
                "session_reminder": {"email": "f33517ff-2a88-4f6e-b855-c550268ce08c", "sms": "a5e7b0f0-5d0c-4f7e-9c1c-1c1e2b1d6a13"}
            },
            "personalisation": {"programme_name": "HPV", "consent_url": "https://example.nhs.uk/consent", "team_phone": "0113 000 0000"}
        })
    }

    fn check(v: &Value) -> (Report, Option<Campaign>) {
        validate_campaign("hpv-2026-autumn.json", v.to_string().as_bytes(), TODAY)
    }

    fn codes_of(v: &Value) -> Vec<(String, &'static str)> {
        check(v)
            .0
            .errors
            .iter()
            .map(|e| (e.column.clone().unwrap_or_default().into_owned(), e.code))
            .collect()
    }

    #[test]
    fn the_example_of_file_formats_is_imported() {
        let (report, campaign) = check(&good());
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        let c = campaign.unwrap();
        assert_eq!(c.sessions, [date!(2026 - 12 - 03)]);
        assert_eq!(c.deadline(), Some(date!(2026 - 12 - 02)));
    }

    #[test]
    fn the_defaults_apply_when_dates_and_flags_are_left_out() {
        let mut v = good();
        for field in [
            "consent_deadline",
            "send_requests_on",
            "reminder_days_before_deadline",
            "session_reminder",
            "letters",
            "urgent",
            "override_grounds",
            "year_groups",
            "personalisation",
        ] {
            v.as_object_mut().unwrap().remove(field);
        }
        let (report, campaign) = check(&v);
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        let c = campaign.unwrap();
        assert_eq!(c.requests_on(), Some(date!(2026 - 11 - 12)));
        assert_eq!(c.reminder_days_before_deadline, [7]);
        assert!(c.letters && c.session_reminder && !c.urgent);
    }

    #[test]
    fn each_bad_field_is_named_by_its_path_without_its_value() {
        let mut v = good();
        v["programme"] = json!("covid");
        v["schools"] = json!(["123456", "12345X"]);
        v["sessions"] = json!(["2026-12-03", "2026-02-30"]);
        v["year_groups"] = json!([8, 14]);
        v["templates"]["consent_reminder"]["sms"] = json!("not-a-uuid");
        v["personalisation"]["consent_url"] = json!("http://example.com");
        v["colour"] = json!("blue");
        let got = codes_of(&v);
        for expected in [
            ("programme", INVALID_PROGRAMME),
            ("schools[1]", codes::INVALID_URN),
            ("sessions[1]", INVALID_DATE),
            ("year_groups[1]", INVALID_YEAR_GROUP),
            ("templates.consent_reminder.sms", INVALID_TEMPLATE),
            ("personalisation.consent_url", INVALID_LINK),
            ("colour", UNKNOWN_FIELD),
        ] {
            assert!(
                got.contains(&(expected.0.to_owned(), expected.1)),
                "{expected:?} in {got:?}"
            );
        }
        let text = serde_json::to_string(&check(&v).0).unwrap();
        for value in [
            "covid",
            "12345X",
            "2026-02-30",
            "not-a-uuid",
            "http://example.com",
            "blue",
        ] {
            assert!(!text.contains(value), "the report repeats {value}");
        }
    }

    #[test]
    fn an_urgent_campaign_must_give_its_grounds() {
        let mut v = good();
        v["urgent"] = json!(true);
        assert_eq!(
            codes_of(&v),
            [("override_grounds".to_owned(), MISSING_GROUNDS)]
        );
        v["override_grounds"] = json!("   ");
        assert_eq!(codes_of(&v).len(), 1);
        v["override_grounds"] = json!("Measles outbreak at the school: UKHSA advice of 2026-11-20");
        assert!(codes_of(&v).is_empty());
    }

    #[test]
    fn dates_in_an_impossible_order_are_errors() {
        let mut v = good();
        v["consent_deadline"] = json!("2026-12-03");
        assert!(codes_of(&v).contains(&("consent_deadline".to_owned(), INVALID_DATE)));
        let mut v = good();
        v["send_requests_on"] = json!("2026-12-02");
        assert!(codes_of(&v).contains(&("send_requests_on".to_owned(), INVALID_DATE)));
    }

    #[test]
    fn the_id_must_be_the_file_name() {
        let mut v = good();
        v["id"] = json!("hpv-2027");
        assert_eq!(codes_of(&v), [("id".to_owned(), INVALID_ID)]);
    }

    #[test]
    fn broken_json_is_a_file_error_with_a_position_only() {
        let (report, campaign) = validate_campaign(
            "c.json",
            b"{\"id\": \"c\",\n \"programme\": \"secret\" oops}",
            TODAY,
        );
        assert!(campaign.is_none());
        assert_eq!(report.file_errors[0].code, codes::UNREADABLE);
        assert!(report.file_errors[0].message.contains("line 2"));
        assert!(!report.file_errors[0].message.contains("secret"));
        let (report, _) = validate_campaign("c.json", b"[1, 2]", TODAY);
        assert_eq!(report.status, Status::Rejected);
    }

    #[test]
    fn a_campaign_whose_sessions_are_all_past_is_imported_with_a_warning() {
        let (report, _) = validate_campaign(
            "hpv-2026-autumn.json",
            good().to_string().as_bytes(),
            date!(2027 - 01 - 01),
        );
        assert_eq!(report.status, Status::Imported);
        assert_eq!(report.warnings[0].code, CAMPAIGN_FINISHED);
    }
}
