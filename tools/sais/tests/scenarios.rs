//! `sais demo --input` on the small scenarios in `tests/scenarios/`: the whole service on the
//! local stack (real ingest, schedule, dispatcher, webhook, Notify simulator), with each child's
//! outcome pinned — one child per rule of the channel policy and per failure path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// What happened to one child: messages as (day, purpose, channel, status, reason), the
/// reasons anything was skipped, and whether the team must follow the family up by hand.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<(u64, String, String, String, String)>,
    skipped: Vec<String>,
    manual_follow_up: bool,
}

fn scenario(name: &str) -> (serde_json::Value, BTreeMap<String, Outcome>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios")
        .join(name);
    // One stack per scenario: the tests of this binary run at once.
    let prefix = format!(
        "scn{}{}",
        std::process::id(),
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let log = std::env::temp_dir().join(format!("{prefix}-{name}.log"));
    // Each run's reports in a folder of its own (`json["out"]` names it), not the default
    // `demo-output/` the runs would share.
    let out = std::env::temp_dir().join(format!("{prefix}-{name}-out"));
    let output = Command::new(env!("CARGO_BIN_EXE_sais"))
        .args([
            "demo",
            "--json",
            "--team",
            "SCN-sais",
            "--stack-prefix",
            &prefix,
        ])
        .arg("--input")
        .arg(&dir)
        .arg("--log-file")
        .arg(&log)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("sais demo runs");
    assert!(
        output.status.success(),
        "sais demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON out");
    let mut outcomes = BTreeMap::new();
    for child in json["children"].as_array().expect("children") {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let mut skipped: Vec<String> = child["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}:{}", text(&s["purpose"]), text(&s["reason"])))
            .collect();
        skipped.sort();
        skipped.dedup();
        outcomes.insert(
            text(&child["first_name"]),
            Outcome {
                messages: child["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        (
                            m["day"].as_u64().unwrap(),
                            text(&m["purpose"]),
                            text(&m["channel"]),
                            text(&m["status"]),
                            text(&m["reason"]),
                        )
                    })
                    .collect(),
                skipped,
                manual_follow_up: child["manual_follow_up"].as_bool().unwrap(),
            },
        );
    }
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (
        json.as_object()
            .unwrap()
            .clone()
            .into_iter()
            .chain([
                ("logs".to_owned(), logs.into()),
                (
                    "stderr".to_owned(),
                    String::from_utf8_lossy(&output.stderr).into_owned().into(),
                ),
            ])
            .collect(),
        outcomes,
    )
}

fn m(
    day: u64,
    purpose: &str,
    channel: &str,
    status: &str,
    reason: &str,
) -> (u64, String, String, String, String) {
    (
        day,
        purpose.into(),
        channel.into(),
        status.into(),
        reason.into(),
    )
}

fn outcome(
    messages: &[(u64, String, String, String, String)],
    skipped: &[&str],
    follow_up: bool,
) -> Outcome {
    Outcome {
        messages: messages.to_vec(),
        skipped: skipped.iter().map(|s| (*s).to_owned()).collect(),
        manual_follow_up: follow_up,
    }
}

const REQ: &str = "consent_request";
const REM: &str = "consent_reminder";
const SES: &str = "session_reminder";

#[test]
fn every_rule_of_the_channel_policy_gives_each_family_what_it_should() {
    // Day 0 request, day 1 a STOP text, day 3 a consent form and the reminder, day 8 the
    // session reminder (see tests/scenarios/channel-policy).
    let (json, got) = scenario("channel-policy");
    let expected: BTreeMap<&str, Outcome> = [
        // Preference email: email only, while it works.
        (
            "Emma",
            outcome(
                &[
                    m(0, REQ, "email", "delivered", "preference"),
                    m(3, REM, "email", "delivered", "preference"),
                ],
                &[],
                false,
            ),
        ),
        // Notify answers 500 to the first request (it may or may not have made the message):
        // the job fails, SQS delivers it again after its visibility timeout (overnight here),
        // the dispatcher asks Notify whether it holds the message, finds it does not, and
        // sends it once.
        (
            "Nia",
            outcome(
                &[
                    m(1, REQ, "email", "delivered", "preference"),
                    m(3, REM, "email", "delivered", "preference"),
                ],
                &[],
                false,
            ),
        ),
        // A serious-harm objection to the email (day 2): the address is erased from the
        // records, and the reminder goes by text only.
        (
            "Oli",
            outcome(
                &[
                    m(0, REQ, "email", "delivered", "any"),
                    m(0, REQ, "sms", "delivered", "any"),
                    m(3, REM, "sms", "delivered", "any"),
                ],
                &[],
                false,
            ),
        ),
        // Preference text: text only.
        (
            "Tom",
            outcome(
                &[
                    m(0, REQ, "sms", "delivered", "preference"),
                    m(3, REM, "sms", "delivered", "preference"),
                ],
                &[],
                false,
            ),
        ),
        // No preference: both, to reach more parents.
        (
            "Anya",
            outcome(
                &[
                    m(0, REQ, "email", "delivered", "any"),
                    m(0, REQ, "sms", "delivered", "any"),
                    m(3, REM, "email", "delivered", "any"),
                    m(3, REM, "sms", "delivered", "any"),
                ],
                &[],
                false,
            ),
        ),
        // The preferred email bounces: the text goes at once, and the reminder skips the email.
        (
            "Bea",
            outcome(
                &[
                    m(0, REQ, "email", "permanent-failure", "preference"),
                    m(0, REQ, "sms", "delivered", "fallback_preference_unusable"),
                    m(3, REM, "sms", "delivered", "fallback_preference_unusable"),
                ],
                &[
                    "consent_reminder:email_failed",
                    "consent_request:email_failed",
                ],
                false,
            ),
        ),
        // Both fail: one letter to the parent or carer, and only letters after that.
        (
            "Lou",
            outcome(
                &[
                    m(0, REQ, "email", "permanent-failure", "any"),
                    m(0, REQ, "letter", "received", "fallback_no_electronic"),
                    m(0, REQ, "sms", "permanent-failure", "any"),
                    m(3, REM, "letter", "received", "fallback_no_electronic"),
                ],
                &[
                    "consent_reminder:email_failed",
                    "consent_reminder:phone_failed",
                    "consent_request:email_failed",
                    "consent_request:phone_failed",
                ],
                false,
            ),
        ),
        // Restricted: electronic contact allowed, never a letter; it fails → follow up by hand.
        (
            "Rae",
            outcome(
                &[m(0, REQ, "email", "permanent-failure", "any")],
                &[
                    "consent_reminder:email_failed",
                    "consent_reminder:restricted_no_letter",
                    "consent_request:email_failed",
                    "consent_request:restricted_no_letter",
                ],
                true,
            ),
        ),
        // A landline is never texted: a letter instead.
        (
            "Lee",
            outcome(
                &[
                    m(0, REQ, "letter", "received", "fallback_no_electronic"),
                    m(3, REM, "letter", "received", "fallback_no_electronic"),
                ],
                &["consent_reminder:landline", "consent_request:landline"],
                false,
            ),
        ),
        // Deceased: nothing, ever.
        ("Dot", outcome(&[], &[":deceased"], false)),
        // STOP on day 1: the reminder goes by email only.
        (
            "Sam",
            outcome(
                &[
                    m(0, REQ, "email", "delivered", "any"),
                    m(0, REQ, "sms", "delivered", "any"),
                    m(3, REM, "email", "delivered", "any"),
                ],
                &["consent_reminder:opted_out"],
                false,
            ),
        ),
        // Consent given on day 3: no reminder; the session reminder the day before.
        (
            "Ada",
            outcome(
                &[
                    m(0, REQ, "email", "delivered", "any"),
                    m(0, REQ, "sms", "delivered", "any"),
                    m(8, SES, "email", "delivered", "any"),
                    m(8, SES, "sms", "delivered", "any"),
                ],
                &[],
                false,
            ),
        ),
        // A temporary failure is tried once more 24 hours on; failing again, it counts as
        // failed, and the letter follows.
        (
            "Tim",
            outcome(
                &[
                    m(0, REQ, "sms", "temporary-failure", "preference"),
                    m(1, REQ, "letter", "received", "fallback_no_electronic"),
                    m(1, REQ, "sms", "temporary-failure", "preference"),
                    m(3, REM, "letter", "received", "fallback_no_electronic"),
                ],
                &[
                    "consent_reminder:phone_failed",
                    "consent_request:phone_failed",
                ],
                false,
            ),
        ),
        // Notify's provider fails: the same message is tried again three times (with backoff
        // on AWS; at once in the demo), then the family goes on the follow-up list. The email
        // address is not blamed, so the reminder tries it again.
        (
            "Tess",
            outcome(
                &[
                    m(0, REQ, "email", "technical-failure", "preference"),
                    m(0, REQ, "email", "technical-failure", "preference"),
                    m(0, REQ, "email", "technical-failure", "preference"),
                    m(0, REQ, "email", "technical-failure", "preference"),
                    m(3, REM, "email", "technical-failure", "preference"),
                    m(3, REM, "email", "technical-failure", "preference"),
                    m(3, REM, "email", "technical-failure", "preference"),
                    m(3, REM, "email", "technical-failure", "preference"),
                ],
                &[],
                true,
            ),
        ),
        // Only a letter can reach this family, and it comes back: the follow-up list (the
        // address is not blamed, so the reminder is posted again, and comes back again).
        (
            "Uma",
            outcome(
                &[
                    m(
                        0,
                        REQ,
                        "letter",
                        "permanent-failure",
                        "fallback_no_electronic",
                    ),
                    m(
                        3,
                        REM,
                        "letter",
                        "permanent-failure",
                        "fallback_no_electronic",
                    ),
                ],
                &[
                    "consent_reminder:no_contact_details",
                    "consent_request:no_contact_details",
                ],
                true,
            ),
        ),
    ]
    .into_iter()
    .collect();
    for (name, want) in &expected {
        assert_eq!(got.get(*name), Some(want), "{name}");
    }
    assert_eq!(got.len(), expected.len(), "no other children");

    assert_eq!(
        json["duplicates"], 0,
        "nobody is sent the same message twice"
    );
    let summary = &json["summary"];
    assert_eq!(summary["children"], 15);
    assert_eq!(summary["children_unreachable"], 3, "Rae, Tess and Uma");
    assert_eq!(summary["not_contacted"]["deceased"], 1);
    // Every child is reached, given a letter, skipped with a reason, or followed up.
    assert_eq!(
        summary["children_reached"].as_u64().unwrap()
            + summary["children_unreachable"].as_u64().unwrap()
            + summary["not_contacted"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
        15
    );

    // Nothing personal in any function's log line, its panics or error messages: every name,
    // NHS number, email, phone (as given and normalised), postcode, date of birth and address
    // line in the scenario's files.
    let logs = json["logs"].as_str().unwrap();
    assert!(logs.lines().count() > 50, "the functions logged their work");
    let personal = personal_data(&scenario_dir("channel-policy"));
    assert!(personal.len() > 150, "{} values", personal.len());
    for value in &personal {
        let leaked = logs
            .lines()
            .chain(json["stderr"].as_str().unwrap_or_default().lines())
            .find(|line| contains_word(line, value));
        assert!(leaked.is_none(), "{value:?} is in {leaked:?}");
    }
    assert!(
        !logs.contains("pat@example.com"),
        "the erased address is not logged either"
    );
}

fn scenario_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios")
        .join(name)
}

/// Every personal value in the CSV files under `dir`: cells of columns holding names, NHS
/// numbers, emails, phones, postcodes, dates of birth, addresses and texts' senders.
fn personal_data(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    const PERSONAL: &[&str] = &[
        "NAME",
        "EMAIL",
        "PHONE",
        "NHS_NUMBER",
        "POSTCODE",
        "DATE_OF_BIRTH",
        "ADDRESS",
        "TOWN",
        "FROM",
    ];
    let mut values = std::collections::BTreeSet::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "csv") {
                continue;
            }
            let mut reader = csv::Reader::from_path(&path).unwrap();
            let headers = reader.headers().unwrap().clone();
            for record in reader.records() {
                let record = record.unwrap();
                for (column, cell) in headers.iter().zip(record.iter()) {
                    let cell = cell.trim();
                    if cell.is_empty() || !PERSONAL.iter().any(|p| column.contains(p)) {
                        continue;
                    }
                    values.insert(cell.to_owned());
                    if column.contains("NAME") {
                        values.extend(cell.split_whitespace().map(str::to_owned));
                    }
                    if column.contains("PHONE") || column == "FROM" {
                        let digits: String = cell.chars().filter(char::is_ascii_digit).collect();
                        let national = digits
                            .strip_prefix("44")
                            .map_or(digits.clone(), |d| format!("0{d}"));
                        values.insert(format!("+44{}", &national[1..]));
                        values.insert(national.clone());
                        values.insert(national[1..].to_owned());
                    }
                }
            }
        }
    }
    values
}

/// Whether `value` appears in `line` as a whole word (so the surname "Email" is found, but
/// not inside "email_erased").
fn contains_word(line: &str, value: &str) -> bool {
    line.match_indices(value).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + value.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        boundary(before) && boundary(after)
    })
}

#[test]
fn a_consent_form_dated_on_a_rehearsed_day_is_accepted_that_day_and_stops_the_reminder() {
    // The rehearsal runs from the campaign's request day (2027-02-01), after the real today.
    // On day 2 (2027-02-03) a consent form dated that day arrives: in the future by the real
    // clock, but not by the rehearsal's one clock, so it is accepted and Ruth's parent is not
    // sent the day-3 reminder but, consented, is told of the session on day 8; Sam's
    // parent, who has not answered, is reminded and not told of the session.
    let (json, got) = scenario("rehearsal-day");
    let uploads = json["uploads"].as_array().cloned().unwrap_or_default();
    assert_eq!(uploads.len(), 3, "{json}");
    assert!(
        uploads.iter().all(|u| u["status"] == "imported"),
        "every file of the rehearsal is read on its day: {json}"
    );
    let ruth = &got["Ruth"];
    assert_eq!(
        ruth.messages,
        [
            m(0, REQ, "email", "delivered", "preference"),
            m(8, SES, "email", "delivered", "preference"),
        ],
        "{json}"
    );
    assert!(!ruth.manual_follow_up);
    assert_eq!(
        got["Sam"].messages,
        [
            m(0, REQ, "email", "delivered", "preference"),
            m(3, REM, "email", "delivered", "preference"),
        ],
        "{json}"
    );
}
