//! Nothing that arrives from outside can make the service panic: uploaded files (CSV and JSON),
//! Notify's callbacks at the webhook, the bearer token beside them, and the Notify API key in
//! its secret. Each input is the bytes an uploader or caller controls; each property says what
//! the code must answer, not only that it returns.
//!
//! No AWS is reached: the webhook's clients point at a closed local port, and only requests
//! that are refused before any AWS call are generated for it.
//!
//! `PROPTEST_CASES` sets the number of cases of every property (the defaults keep the file
//! well under 30 s in a debug build); e.g. a long run by hand:
//! `PROPTEST_CASES=200000 cargo test --release -p sais-shared --test no_panic`.

use std::io::Cursor;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use sais_shared::domain::{
    EmailAddress, NhsNumber, ParentName, PersonName, PhoneNumber, Postcode, SchoolUrn,
};
use sais_shared::files::campaign_file::validate_campaign;
use sais_shared::files::children::ChildFileKind;
use sais_shared::files::csv_file::TextEncoding;
use sais_shared::files::objections::validate_objections_file;
use sais_shared::files::report::{Report, Status};
use sais_shared::files::responses::validate_responses_file;
use sais_shared::files::team_file::validate_team_settings;
use sais_shared::files::validate_child_file;
use sais_shared::notify::{ApiKey, NotifyClient};
use sais_shared::receipts::Receipts;
use sais_shared::uploads::{TeamCode, classify_key, decode_event_key, parse_s3_notification};
use sais_shared::webhook::{Callback, MAX_BODY_BYTES, Webhook, is_stop};
use serde_json::{Value, json};
use time::macros::date;

/// `cases` unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // A failure is kept as a plain regression test beside the code it found, not in a file
        // of seeds written into the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

/// What every report must satisfy, whatever the file held.
fn assert_consistent(report: &Report) {
    assert!(
        matches!(report.status, Status::Imported | Status::Rejected),
        "status"
    );
    assert!(report.rows_valid <= report.rows, "rows_valid ≤ rows");
    if report.status == Status::Imported {
        assert!(report.file_errors.is_empty() && report.errors.is_empty());
    }
    if !report.file_errors.is_empty() || !report.errors.is_empty() {
        assert_eq!(report.status, Status::Rejected);
    }
    // What ingest writes back: the JSON report and, when rejected, errors.csv.
    serde_json::to_vec_pretty(report).expect("a report serialises");
    let csv = report.errors_csv();
    assert!(csv.starts_with(b"ROW,COLUMN,MESSAGE"));
}

const TODAY: time::Date = date!(2026 - 11 - 30);

fn cohort(bytes: &[u8], encoding: Option<TextEncoding>) -> Report {
    validate_child_file(
        "upload.csv",
        &ChildFileKind::Cohort,
        TODAY,
        encoding,
        || Ok(Cursor::new(bytes)),
        |_| {},
    )
}

fn class_list(bytes: &[u8]) -> Report {
    let kind = ChildFileKind::ClassList {
        urn: SchoolUrn::parse("123456").expect("a URN"),
    };
    validate_child_file(
        "upload.csv",
        &kind,
        TODAY,
        None,
        || Ok(Cursor::new(bytes)),
        |_| {},
    )
}

fn responses(bytes: &[u8]) -> Report {
    validate_responses_file("upload.csv", TODAY, None, || Ok(Cursor::new(bytes)), |_| {})
}

fn objections(bytes: &[u8]) -> Report {
    validate_objections_file("upload.csv", TODAY, None, || Ok(Cursor::new(bytes)), |_| {})
}

// ---------------------------------------------------------------------------------------------
// CSV-shaped inputs: a real header, then rows of hostile cells
// ---------------------------------------------------------------------------------------------

const COHORT_REQUIRED: &[&str] = &[
    "CHILD_FIRST_NAME",
    "CHILD_LAST_NAME",
    "CHILD_DATE_OF_BIRTH",
    "CHILD_POSTCODE",
    "CHILD_SCHOOL_URN",
];

const COHORT_OPTIONAL: &[&str] = &[
    "CHILD_NHS_NUMBER",
    "CHILD_PREFERRED_FIRST_NAME",
    "CHILD_PREFERRED_LAST_NAME",
    "CHILD_GENDER",
    "CHILD_YEAR_GROUP",
    "CHILD_REGISTRATION",
    "CHILD_ADDRESS_LINE_1",
    "CHILD_ADDRESS_LINE_2",
    "CHILD_TOWN",
    "CHILD_RESTRICTED",
    "CHILD_DECEASED",
    "PARENT_1_NAME",
    "PARENT_1_RELATIONSHIP",
    "PARENT_1_EMAIL",
    "PARENT_1_PHONE",
    "PARENT_1_CONTACT_PREFERENCE",
    "PARENT_2_NAME",
    "PARENT_2_RELATIONSHIP",
    "PARENT_2_EMAIL",
    "PARENT_2_PHONE",
    "PARENT_2_CONTACT_PREFERENCE",
];

const RESPONSES_COLUMNS: &[&str] = &[
    "CHILD_NHS_NUMBER",
    "CHILD_FIRST_NAME",
    "CHILD_LAST_NAME",
    "CHILD_DATE_OF_BIRTH",
    "CHILD_POSTCODE",
    "PROGRAMME",
    "OUTCOME",
    "DATE",
];

const OBJECTIONS_COLUMNS: &[&str] = &[
    "CHILD_NHS_NUMBER",
    "CHILD_FIRST_NAME",
    "CHILD_LAST_NAME",
    "CHILD_DATE_OF_BIRTH",
    "CHILD_POSTCODE",
    "PARENT_EMAIL",
    "PARENT_PHONE",
    "SCOPE",
    "REASON",
    "RECORDED_BY",
    "SERIOUS_HARM",
    "ACTION",
    "DATE",
];

/// Values each field's rules accept, or nearly accept: rows that get past the header reach the
/// field parsers, duplicate detection and parent blocks, not only the width check.
const PLAUSIBLE: &[&str] = &[
    "Amelia",
    "O'Brien",
    "Zoë",
    "Jean-Luc",
    "J£mmy",
    "2014-09-01",
    "20140901",
    "01/09/2014",
    "31/02/2014",
    "2030-01-01",
    "9434765919",
    "943 476 5919",
    "9434765910",
    "SW1A 1AA",
    "st1 oqs",
    "ZZ99 3VZ",
    "123456",
    "888888",
    "999999",
    "8",
    "13",
    "14",
    "female",
    "not known",
    "Y",
    "no",
    "1",
    "mum",
    "Father",
    "carer",
    "email",
    "text",
    "sms",
    "letter",
    "any",
    "parent@example.com",
    "Parent.Name+tag@example.co.uk",
    "a@b",
    "07700 900123",
    "+44 (0)7700 900123",
    "447700900123",
    "0113 496 0000",
    "12 High Street",
    "@home",
    "=cmd|' /C calc'!A0",
    "hpv",
    "flu",
    "consent_given",
    "vaccinated",
    "all",
    "electronic",
    "add",
    "withdraw",
    "Required",
    "Optional: leave blank",
    "",
    " ",
];

/// Pieces that break naive CSV readers.
const HOSTILE: &[&str] = &[
    "\"",
    "\"\"",
    ",",
    "\r",
    "\n",
    "\r\n",
    "\u{FEFF}",
    "\u{0}",
    "'",
    ";",
    "\t",
    "\u{2028}",
    "é",
    "\u{1F600}",
    "\u{301}",
];

/// One cell's raw bytes, before any quoting.
fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(PLAUSIBLE).prop_map(|s| s.as_bytes().to_vec()),
        2 => vec(proptest::sample::select(HOSTILE), 0..6)
            .prop_map(|parts| parts.concat().into_bytes()),
        2 => any::<String>().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..12),
        // Non-UTF-8: Windows-1252 accents, lone continuation bytes, truncated sequences.
        1 => vec(prop_oneof![Just(0xE9u8), Just(0x80), Just(0xC3), Just(0xFF), Just(0x92)], 1..4)
            .prop_map(|mut b| { b.splice(0..0, b"Ren".iter().copied()); b }),
        // Around the 300-character limit, and far over it.
        1 => (proptest::sample::select(&[299usize, 300, 301, 5_000][..]), any::<char>())
            .prop_map(|(n, c)| c.to_string().repeat(n).into_bytes()),
    ]
}

/// A cell as written: bare, properly quoted, or with unbalanced quotes.
fn written_cell() -> impl Strategy<Value = Vec<u8>> {
    (cell(), 0..4u8).prop_map(|(raw, how)| match how {
        0 | 1 => raw,
        2 => {
            let mut out = vec![b'"'];
            for &b in &raw {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
            out
        }
        _ => [b"\"".as_slice(), &raw].concat(),
    })
}

/// A header cell: the column's name, in any case, spacing or hyphenation, or garbage.
fn header_cell(name: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(name.as_bytes().to_vec()),
        1 => Just(format!("  {}  ", name.to_lowercase().replace('_', " ")).into_bytes()),
        1 => Just(name.replace('_', "-").into_bytes()),
        1 => Just(format!("\"{name}\"").into_bytes()),
        1 => written_cell(),
    ]
}

/// A whole CSV file: optional BOM, a header from `required` (one sometimes left out) and any of
/// `optional` in any order (sometimes repeated), then rows of cells, with mixed line endings.
fn csv_file(
    required: &'static [&'static str],
    optional: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    let columns = (
        proptest::sample::subsequence(required, required.len().saturating_sub(1)..=required.len()),
        proptest::sample::subsequence(optional, 0..=optional.len()),
        any::<bool>(),
    )
        .prop_flat_map(|(mut req, opt, repeat)| {
            req.extend(opt);
            if repeat && let Some(first) = req.first().copied() {
                req.push(first);
            }
            Just(req).prop_shuffle()
        });
    (
        columns,
        any::<bool>(),
        proptest::sample::select(&["\n", "\r\n", "\r"][..]),
    )
        .prop_flat_map(|(columns, bom, eol)| {
            let width = columns.len();
            let header: Vec<_> = columns.into_iter().map(header_cell).collect();
            let row = prop_oneof![
                4 => vec(written_cell(), width..=width),
                1 => vec(written_cell(), 0..width + 3),
            ];
            let line_end = prop_oneof![
                8 => Just(eol.as_bytes().to_vec()),
                1 => proptest::sample::select(&["\n", "\r\n", "\r", "\n\n", ""][..])
                    .prop_map(|e| e.as_bytes().to_vec()),
            ];
            (
                Just(bom),
                header,
                vec((row, line_end), 0..10),
                any::<bool>(),
            )
        })
        .prop_map(|(bom, header, rows, trailing_eol)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            out.extend(header.join(&b','));
            out.extend_from_slice(b"\r\n");
            let n = rows.len();
            for (i, (cells, eol)) in rows.into_iter().enumerate() {
                out.extend(cells.join(&b','));
                if i + 1 < n || trailing_eol {
                    out.extend(eol);
                }
            }
            out
        })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_bytes_as_a_cohort_get_a_consistent_report(
        bytes in vec(any::<u8>(), 0..2048),
        known in proptest::option::of(proptest::sample::select(
            &[TextEncoding::Utf8, TextEncoding::Utf8Bom, TextEncoding::Windows1252][..],
        )),
    ) {
        assert_consistent(&cohort(&bytes, known));
    }

    #[test]
    fn any_bytes_as_a_class_list_responses_or_objections_get_a_consistent_report(
        bytes in vec(any::<u8>(), 0..2048),
    ) {
        assert_consistent(&class_list(&bytes));
        assert_consistent(&responses(&bytes));
        assert_consistent(&objections(&bytes));
    }

    #[test]
    fn a_cohort_shaped_file_of_hostile_cells_gets_a_consistent_report(
        bytes in csv_file(COHORT_REQUIRED, COHORT_OPTIONAL),
    ) {
        let report = cohort(&bytes, None);
        assert_consistent(&report);
        // The writing pass, told the encoding the validating pass found, agrees with it.
        let encoding = report.encoding.as_deref().and_then(TextEncoding::from_name);
        if let Some(encoding) = encoding {
            let again = cohort(&bytes, Some(encoding));
            prop_assert_eq!(again.status, report.status);
            prop_assert_eq!(again.rows, report.rows);
            prop_assert_eq!(again.rows_valid, report.rows_valid);
        }
    }

    #[test]
    fn a_class_list_shaped_file_of_hostile_cells_gets_a_consistent_report(
        bytes in csv_file(&COHORT_REQUIRED[..4], COHORT_OPTIONAL),
    ) {
        assert_consistent(&class_list(&bytes));
    }

    #[test]
    fn a_responses_shaped_file_of_hostile_cells_gets_a_consistent_report(
        bytes in csv_file(&RESPONSES_COLUMNS[5..7], &RESPONSES_COLUMNS[..5]),
    ) {
        assert_consistent(&responses(&bytes));
    }

    #[test]
    fn an_objections_shaped_file_of_hostile_cells_gets_a_consistent_report(
        bytes in csv_file(&OBJECTIONS_COLUMNS[7..10], OBJECTIONS_COLUMNS),
    ) {
        assert_consistent(&objections(&bytes));
    }
}

/// A file with every column of a schema and rows whose cells are plausible values or a marked
/// value (`Canary…`, with hostile characters around it), as bytes with the marker's text.
fn canary_file(columns: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let canary_cell = (
        proptest::sample::select(HOSTILE),
        proptest::sample::select(PLAUSIBLE),
        proptest::sample::select(HOSTILE),
    )
        .prop_map(|(a, p, b)| format!("{a}Canary{p}{b}"));
    let cell = prop_oneof![
        2 => proptest::sample::select(PLAUSIBLE).prop_map(str::to_owned),
        1 => canary_cell,
    ]
    .prop_map(|c| format!("\"{}\"", c.replace('"', "\"\"")));
    let width = columns.len();
    vec(
        prop_oneof![
            4 => vec(cell.clone(), width..=width),
            1 => vec(cell, 0..width + 2),
        ],
        1..8,
    )
    .prop_map(move |rows| {
        let mut out = columns.join(",");
        for row in rows {
            out.push_str("\r\n");
            out.push_str(&row.join(","));
        }
        out.into_bytes()
    })
}

/// No file error, row error or warning repeats a value from a data row: reports name the row and
/// the column, so they can be shared without the data in them.
fn assert_quotes_no_cell(report: &Report) {
    let issues = report
        .errors
        .iter()
        .chain(&report.warnings)
        .map(|i| {
            (
                i.message.to_string(),
                i.column.as_deref().unwrap_or("").to_owned(),
            )
        })
        .chain(
            report
                .file_errors
                .iter()
                .map(|f| (f.message.to_string(), String::new())),
        );
    for (message, column) in issues {
        assert!(
            !message.contains("Canary"),
            "a report quotes a cell: {message}"
        );
        assert!(
            !column.contains("Canary"),
            "a report quotes a cell: {column}"
        );
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn report_messages_never_repeat_a_cells_value(
        cohort_bytes in canary_file([COHORT_REQUIRED, COHORT_OPTIONAL].concat().leak()),
        responses_bytes in canary_file(RESPONSES_COLUMNS),
        objections_bytes in canary_file(OBJECTIONS_COLUMNS),
    ) {
        let report = cohort(&cohort_bytes, None);
        assert_consistent(&report);
        assert_quotes_no_cell(&report);
        let report = responses(&responses_bytes);
        assert_consistent(&report);
        assert_quotes_no_cell(&report);
        let report = objections(&objections_bytes);
        assert_consistent(&report);
        assert_quotes_no_cell(&report);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON files: campaigns and team settings
// ---------------------------------------------------------------------------------------------

fn example_campaign() -> Value {
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

fn example_team() -> Value {
    json!({
        "name": "Leeds SAIS",
        "notify_api_key_secret": "sais/RYG-sais/notify-api-key",
        "email_reply_to_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
        "sms_sender_id": "a5e7b0f0-5d0c-4f7e-9c1c-1c1e2b1d6a11",
        "retention": {"uploads_days": 30, "records_days": 730},
        "letters": true
    })
}

/// Any JSON value: scalars at the edges of their types, strings with hostile characters, and
/// nested arrays and objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        proptest::sample::select(&[0i64, -1, 1, 7, 13, 255, 256, 65_536, i64::MAX][..])
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        proptest::sample::select(PLAUSIBLE).prop_map(Value::from),
        proptest::sample::select(
            &[
                "2026-12-03",
                "2026-02-30",
                "9999-12-31",
                "0000-01-01",
                "f33517ff-2a88-4f6e-b855-c550268ce08a",
                "not-a-uuid",
                "https://example.nhs.uk/consent",
            ][..],
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// `base` with some fields replaced by any JSON, some removed and some added, nested objects
/// included (so `templates.consent_request.email` gets odd values too).
fn mutated(base: Value) -> impl Strategy<Value = Value> {
    fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        if let Value::Object(map) = value {
            for (k, v) in map {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(v, p, out);
            }
        }
    }
    let mut all = Vec::new();
    paths(&base, Vec::new(), &mut all);
    vec(
        (
            proptest::sample::select(all),
            proptest::option::of(json_value()),
        ),
        0..5,
    )
    .prop_map(move |edits| {
        let mut value = base.clone();
        for (path, replacement) in edits {
            let (last, parents) = path.split_last().expect("a path");
            let pointer: String = parents.iter().map(|p| format!("/{p}")).collect();
            if let Some(Value::Object(map)) = value.pointer_mut(&pointer) {
                match replacement {
                    Some(v) => map.insert(last.clone(), v),
                    None => map.remove(last),
                };
            }
        }
        value
    })
}

fn assert_json_outcome<T>(report: &Report, parsed: &Option<T>) {
    assert_consistent(report);
    assert_eq!(
        parsed.is_some(),
        report.status == Status::Imported,
        "a value exactly when imported"
    );
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_bytes_as_a_campaign_or_team_file_are_reported(bytes in vec(any::<u8>(), 0..1024)) {
        let (report, campaign) = validate_campaign("c.json", &bytes, TODAY);
        assert_json_outcome(&report, &campaign);
        let (report, team) = validate_team_settings("team.json", &bytes);
        assert_json_outcome(&report, &team);
    }

    #[test]
    fn any_json_as_a_campaign_or_team_file_is_reported(value in json_value()) {
        let bytes = value.to_string().into_bytes();
        let (report, campaign) = validate_campaign("c.json", &bytes, TODAY);
        assert_json_outcome(&report, &campaign);
        let (report, team) = validate_team_settings("team.json", &bytes);
        assert_json_outcome(&report, &team);
    }

    #[test]
    fn a_campaign_with_fields_replaced_by_any_json_is_reported(value in mutated(example_campaign())) {
        let (report, campaign) = validate_campaign("c.json", value.to_string().as_bytes(), TODAY);
        assert_json_outcome(&report, &campaign);
    }

    #[test]
    fn team_settings_with_fields_replaced_by_any_json_are_reported(value in mutated(example_team())) {
        let (report, team) = validate_team_settings("team.json", value.to_string().as_bytes());
        assert_json_outcome(&report, &team);
    }
}

// ---------------------------------------------------------------------------------------------
// Field parsers and upload keys, on any string
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn field_parsers_take_any_string(s in prop_oneof![
        any::<String>(),
        vec(proptest::sample::select(PLAUSIBLE), 1..4).prop_map(|p| p.concat()),
        vec(proptest::sample::select(&["0", "7", "+", "4", " ", "(", ")", "-", "9", "@", ".", "a", "é"][..]), 0..30)
            .prop_map(|p| p.concat()),
    ]) {
        let _ = PhoneNumber::parse(&s);
        let _ = EmailAddress::parse(&s);
        let _ = Postcode::parse(&s);
        let _ = NhsNumber::parse(&s);
        let _ = PersonName::parse(&s);
        let _ = ParentName::parse(&s);
        let _ = SchoolUrn::parse(&s);
        let _ = TeamCode::parse(&s);
        let _ = is_stop(&s);
    }

    #[test]
    fn upload_keys_and_s3_notifications_take_any_string(s in any::<String>(), value in json_value()) {
        let _ = classify_key(&s);
        let _ = classify_key(&decode_event_key(&s));
        let _ = parse_s3_notification(&s);
        let _ = parse_s3_notification(&json!({ "Records": [{ "s3": value }] }).to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook: callback bodies, paths and bearer tokens
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "k3Xq9vR2mT8wZ4pL6nB1cY7dF5gH0jKs3Xq9vR2mT8wZ4pL6nB1cY7dF5gH0jKsA";

/// A webhook whose AWS clients point at a closed port: every request generated below is
/// refused before any AWS call, so none is ever attempted.
fn webhook(token: &str) -> Webhook {
    let config = sais_shared::aws::local_sdk_config("http://127.0.0.1:9", "eu-west-2");
    let clients = sais_shared::aws::AwsClients::from_config(&config);
    let store = sais_shared::store::Store::new(clients.dynamodb, "no-table");
    Webhook::new(
        Receipts::new(
            store,
            clients.sqs,
            "http://127.0.0.1:9/000000000000/no-queue",
        ),
        token,
    )
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn shared_webhook() -> &'static Webhook {
    static WEBHOOK: OnceLock<Webhook> = OnceLock::new();
    WEBHOOK.get_or_init(|| webhook(TOKEN))
}

/// The handler's answer, checked for what every answer must be: a short JSON message that
/// never echoes the request or the token.
fn handle(hook: &Webhook, path: &str, authorization: Option<&str>, body: &[u8]) -> u16 {
    let reply = runtime().block_on(hook.handle(path, authorization, body));
    let parsed: Value = serde_json::from_str(&reply.body).expect("the reply is JSON");
    assert!(parsed["message"].is_string(), "{}", reply.body);
    assert!(!reply.body.contains(TOKEN));
    reply.status
}

const RECEIPT_FIELDS: &[&str] = &[
    "id",
    "reference",
    "to",
    "status",
    "created_at",
    "completed_at",
    "sent_at",
    "notification_type",
    "template_id",
    "template_version",
    "source_number",
    "destination_number",
    "message",
    "date_received",
];

/// Objects with a callback's field names and any values (some valid, some not).
fn callback_shaped() -> impl Strategy<Value = Value> {
    let field_value = prop_oneof![
        json_value(),
        proptest::sample::select(
            &[
                "740e5834-3a29-46b4-9a6f-16142fde533a",
                "delivered",
                "permanent-failure",
                "STOP",
                "07700900123",
                "2026-11-30T10:00:00.000000Z",
                "sms",
            ][..]
        )
        .prop_map(Value::from),
    ];
    vec(
        (proptest::sample::select(RECEIPT_FIELDS), field_value),
        0..RECEIPT_FIELDS.len() + 2,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn valid_team() -> impl Strategy<Value = String> {
    vec(
        proptest::sample::select(&['A', 'z', '0', '9', '-', 'R', 'Y', 'G'][..]),
        1..70,
    )
    .prop_map(String::from_iter)
}

/// Authorization values that are not exactly `Bearer <TOKEN>`: anything at all, and near misses.
fn wrong_authorization() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(TOKEN.to_owned()),
        Just(format!("bearer {TOKEN}")),
        Just(format!("Bearer  {TOKEN}")),
        Just(format!("Bearer {TOKEN} ")),
        Just(format!("Basic {TOKEN}")),
        Just("Bearer ".to_owned()),
        (0..TOKEN.len()).prop_map(|n| format!("Bearer {}", &TOKEN[..n])),
        any::<String>()
            .prop_map(|s| format!("Bearer {TOKEN}{s}"))
            .prop_filter("longer", |s| s.len() > TOKEN.len() + 7),
        (0..TOKEN.len(), any::<u8>()).prop_filter_map("a changed byte", |(i, b)| {
            let mut t = TOKEN.as_bytes().to_vec();
            (t[i] != b).then(|| {
                t[i] = b;
                format!("Bearer {}", String::from_utf8_lossy(&t))
            })
        }),
    ]
    .prop_filter("not the token", |s| s != &format!("Bearer {TOKEN}"))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_or_callback_shaped_json_parse_without_panicking(
        bytes in vec(any::<u8>(), 0..1024),
        shaped in callback_shaped(),
    ) {
        let _ = serde_json::from_slice::<Callback>(&bytes);
        let _ = serde_json::from_slice::<Callback>(shaped.to_string().as_bytes());
    }

    #[test]
    fn any_request_without_the_token_is_refused_before_anything_is_read(
        path in prop_oneof![any::<String>(), valid_team().prop_map(|t| format!("/notify/{t}"))],
        authorization in proptest::option::of(wrong_authorization()),
        body in prop_oneof![vec(any::<u8>(), 0..512), callback_shaped().prop_map(|v| v.to_string().into_bytes())],
    ) {
        let status = handle(shared_webhook(), &path, authorization.as_deref(), &body);
        prop_assert!(matches!(status, 401 | 403 | 404), "{}", status);
        if path.strip_prefix("/notify/").is_some_and(|t| TeamCode::parse(t.trim_end_matches('/')).is_some()) {
            prop_assert_eq!(status, if authorization.is_some() { 403 } else { 401 });
        }
    }

    #[test]
    fn with_the_token_a_body_that_is_not_a_callback_is_a_bad_request(
        team in valid_team(),
        slash in any::<bool>(),
        body in prop_oneof![
            vec(any::<u8>(), 0..512),
            callback_shaped().prop_map(|v| v.to_string().into_bytes()),
            (MAX_BODY_BYTES - 2..MAX_BODY_BYTES + 64).prop_map(|n| {
                let mut b = br#"{"id":""#.to_vec();
                b.resize(n, b'x');
                b
            }),
        ].prop_filter("not a callback", |b| serde_json::from_slice::<Callback>(b).is_err()),
    ) {
        let path = format!("/notify/{team}{}", if slash { "/" } else { "" });
        let status = handle(shared_webhook(), &path, Some(&format!("Bearer {TOKEN}")), &body);
        if TeamCode::parse(&team).is_none() {
            prop_assert_eq!(status, 404);
        } else if body.len() > MAX_BODY_BYTES {
            prop_assert_eq!(status, 413);
        } else {
            prop_assert_eq!(status, 400);
        }
    }

    #[test]
    fn a_webhook_with_no_configured_token_lets_nobody_in(
        authorization in proptest::option::of(prop_oneof![
            any::<String>(),
            Just("Bearer ".to_owned()),
            Just("Bearer".to_owned()),
            Just(String::new()),
        ]),
        body in callback_shaped(),
    ) {
        static EMPTY: OnceLock<Webhook> = OnceLock::new();
        let hook = EMPTY.get_or_init(|| webhook(""));
        let status = handle(hook, "/notify/RYG-sais", authorization.as_deref(), body.to_string().as_bytes());
        prop_assert!(matches!(status, 401 | 403), "{}", status);
    }
}

// ---------------------------------------------------------------------------------------------
// The Notify API key and the JWT made from it
// ---------------------------------------------------------------------------------------------

fn uuid_text() -> impl Strategy<Value = String> {
    (any::<u128>(), any::<bool>()).prop_map(|(n, upper)| {
        let s = uuid::Uuid::from_u128(n).hyphenated().to_string();
        if upper { s.to_uppercase() } else { s }
    })
}

/// A key name: anything, including hyphens, spaces inside and characters outside ASCII.
fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("sais-live-key".to_owned()),
        any::<String>().prop_map(|s| s.trim().to_owned()),
        vec(
            proptest::sample::select(&["-", "a", "é", "0", " ", "\u{1F600}"][..]),
            0..20
        )
        .prop_map(|p| p.concat().trim().to_owned()),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_string_as_an_api_key_is_parsed_or_refused_without_showing_it(
        key in prop_oneof![
            any::<String>(),
            // The right length, with anything in the id and secret places.
            (key_name(), vec(any::<char>(), 73..=73)).prop_map(|(n, tail)| format!("{n}-{}", String::from_iter(tail))),
            // A valid key with one character changed.
            (key_name(), uuid_text(), uuid_text(), 0usize..73, any::<char>()).prop_map(|(n, s, k, i, c)| {
                let mut chars: Vec<char> = format!("{n}-{s}-{k}").chars().collect();
                let at = chars.len() - 73 + i;
                chars[at] = c;
                String::from_iter(chars)
            }),
        ],
    ) {
        match ApiKey::parse(&key) {
            Ok(parsed) => {
                let shown = format!("{parsed:?}");
                prop_assert!(!shown.contains(key.trim()));
            },
            Err(e) => {
                let trimmed: Vec<char> = key.trim().chars().collect();
                if trimmed.len() >= 36 {
                    let secret: String = trimmed[trimmed.len() - 36..].iter().collect();
                    let (shown, debug) = (e.to_string(), format!("{e:?}"));
                    prop_assert!(!shown.contains(&secret));
                    prop_assert!(!debug.contains(&secret));
                }
            }
        }
    }

    #[test]
    fn a_well_formed_key_parses_from_the_end_and_never_shows_its_secret(
        name in key_name(),
        service in uuid_text(),
        secret in uuid_text(),
        before in proptest::sample::select(&["", " ", "\n", "\t "][..]),
        after in proptest::sample::select(&["", "\n", "\r\n", " "][..]),
    ) {
        let raw = if name.is_empty() {
            format!("{before}{service}-{secret}{after}")
        } else {
            format!("{before}{name}-{service}-{secret}{after}")
        };
        let key = ApiKey::parse(&raw).expect("a well-formed key");
        prop_assert_eq!(key.name(), name.as_str());
        prop_assert_eq!(key.service_id(), uuid::Uuid::try_parse(&service).expect("a uuid"));
        let shown = format!("{key:?}");
        prop_assert!(!shown.contains(&secret));
        let client = NotifyClient::new(
            sais_shared::notify::NOTIFY_BASE_URL,
            key,
            Duration::from_secs(1),
        )
        .expect("a client");
        let shown = format!("{client:?}");
        prop_assert!(!shown.contains(&secret));
    }
}

/// The `Authorization` header of one request the client sends to a local listener that answers
/// 404 to everything.
fn captured_authorization(client: &NotifyClient, listener: std::net::TcpListener) -> String {
    use std::io::{BufRead, BufReader, Write};
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a connection");
        let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
        let mut authorization = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("a line") == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = value.trim().to_owned();
            }
        }
        let mut stream = stream;
        let _ = stream.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        );
        authorization
    });
    let result = runtime().block_on(client.get_notification(uuid::Uuid::nil()));
    assert!(result.is_err(), "the listener answers 404");
    server.join().expect("the listener")
}

proptest! {
    // Each case builds an HTTP client (TLS set-up), and the second makes a real request on
    // loopback: fewer of them.
    #![proptest_config(config(32))]

    #[test]
    fn any_base_url_builds_a_client_or_is_refused(url in prop_oneof![
        any::<String>(),
        proptest::sample::select(&["http://", "https://", "ftp://x", "https://[::1", "http://127.0.0.1:0", "https://a b"][..])
            .prop_map(str::to_owned),
    ]) {
        let key = ApiKey::parse(
            "test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
        )
        .expect("a key");
        let _ = NotifyClient::new(&url, key, Duration::from_secs(1));
    }

    #[test]
    fn the_token_sent_to_notify_is_signed_with_the_keys_secret_for_its_service(
        name in key_name(),
        service in uuid_text(),
        secret in uuid_text(),
    ) {
        let key = ApiKey::parse(&format!("{name}-{service}-{secret}")).expect("a key");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let client = NotifyClient::new(&base, key, Duration::from_secs(5)).expect("a client");
        let authorization = captured_authorization(&client, listener);
        let token = authorization.strip_prefix("Bearer ").expect("a bearer token");
        prop_assert!(!token.contains(&secret), "the secret itself is never sent");

        #[derive(serde::Deserialize)]
        struct Claims {
            iss: String,
            iat: u64,
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Claims>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .expect("signed with the key's secret");
        let service_id = uuid::Uuid::try_parse(&service).expect("a uuid").to_string();
        prop_assert_eq!(decoded.claims.iss, service_id);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        prop_assert!(decoded.claims.iat.abs_diff(now) <= 60);
        // Signed with anything else, it does not verify.
        let other = jsonwebtoken::DecodingKey::from_secret(b"not-the-secret");
        prop_assert!(jsonwebtoken::decode::<Claims>(token, &other, &validation).is_err());
    }
}
