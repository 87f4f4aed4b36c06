//! The report's pure parts: plain words on every row, the CSVs' shape and guards, the page's
//! structure.

use super::*;

fn entry() -> FollowUpEntry {
    FollowUpEntry {
        child_id: "c1".into(),
        nhs_number: "9990000018".into(),
        first_name: "Rae".into(),
        last_name: "=Restricted".into(),
        date_of_birth: "2013-01-06".into(),
        school_urn: "123456".into(),
        year_group: Some(8),
        reason: "restricted_no_letter".into(),
        purposes: vec!["consent_request".into()],
        listed_at: "2026-11-12T09:00:00Z".into(),
        tried: vec![Attempt {
            date: "2026-11-12".into(),
            purpose: "consent_request".into(),
            channel: "sms".into(),
            status: "permanent-failure".into(),
            reasons: Vec::new(),
        }],
    }
}

fn report() -> CampaignReport {
    let campaign = crate::campaign::Campaign {
        id: "hpv-y8".into(),
        programme: "hpv".into(),
        schools: vec!["123456".into()],
        year_groups: vec![8],
        sessions: vec![time::macros::date!(2026 - 12 - 03)],
        consent_deadline: None,
        send_requests_on: None,
        reminder_days_before_deadline: vec![7],
        session_reminder: true,
        letters: true,
        urgent: false,
        override_grounds: None,
        templates: Default::default(),
        personalisation: Default::default(),
    };
    let team = TeamCode::parse("RYG-sais").unwrap();
    let mut summary = empty_summary(&team, &campaign, "2026-11-13T10:00:00Z".into(), 1);
    summary.children_unreachable = 1;
    CampaignReport {
        rows: Vec::new(),
        follow_up: vec![entry()],
        replies: vec![Reply {
            inbound_id: "i1".into(),
            received_at: "2026-11-13T08:30:00.000000Z".into(),
            from: "+447700900002".into(),
            message: "@SUM(1+1) <b>hello</b>".into(),
            children: Vec::new(),
            in_campaign: false,
        }],
        summary,
    }
}

#[test]
fn the_follow_up_csv_says_why_in_words_beside_the_code_and_guards_every_cell() {
    let csv = String::from_utf8(report().follow_up_csv()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(follow_up::CSV_HEADER.to_vec())
    );
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        &row[3], "'=Restricted",
        "a cell that would be a formula is guarded"
    );
    assert_eq!(&row[7], "restricted_no_letter");
    assert_eq!(&row[8], reason_in_words("restricted_no_letter"));
    assert_eq!(
        &row[10],
        "2026-11-12 consent request by text: permanent-failure"
    );
}

#[test]
fn each_days_replies_go_in_that_days_file_with_whose_number_it_is() {
    let files = report().replies_csvs();
    assert_eq!(files.keys().collect::<Vec<_>>(), ["2026-11-13"]);
    let csv = String::from_utf8(files["2026-11-13"].clone()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[1], "'+447700900002");
    assert_eq!(&row[2], "'@SUM(1+1) <b>hello</b>");
    assert_eq!(&row[3], replies::NOT_ON_ANY_RECORD);
}

#[test]
fn the_page_escapes_what_parents_wrote_and_loads_nothing() {
    let html = report().html();
    assert!(html.contains("&lt;b&gt;hello&lt;/b&gt;"));
    assert!(!html.contains("<b>hello"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert!(html.contains("@media print"));
    assert!(html.contains(&page::esc(reason_in_words("restricted_no_letter"))));
}

#[test]
fn dates_read_as_people_write_them() {
    assert_eq!(page::long_date("2026-11-03"), "3 November 2026");
}

mod follow_up_list {
    use super::super::Standing;
    use super::super::follow_up::entry_for;
    use crate::fakes::fixtures;
    use crate::store::{FollowUp, MessageRecord};

    fn message(channel: &str, status: &str, created_at: &str) -> MessageRecord {
        serde_json::from_value(serde_json::json!({
            "pk": "p", "sk": "MSG", "gsi1pk": "g", "gsi1sk": format!("MSG#{created_at}"),
            "item_type": "message", "team": "RYG-sais", "message_id": "m",
            "campaign_id": "hpv", "child_id": "c1", "purpose": "consent_request",
            "channel": channel, "recipient": "+447700900002", "parent_slots": [1],
            "template_id": "t", "personalisation": {}, "reason": "preference",
            "state": "sent", "notify_id": "n", "status": status,
            "status_history": [
                {"status": "intent", "at": created_at},
                {"status": status, "at": created_at}
            ],
            "job_kind": "campaign", "attempt": 0, "lease_until": 0,
            "created_at": created_at, "expires_at": 0
        }))
        .expect("a message record")
    }

    fn listing(at: &str) -> FollowUp {
        FollowUp {
            campaign_id: "hpv".into(),
            child_id: "c1".into(),
            purpose: "consent_request".into(),
            reason: "restricted_no_letter".into(),
            listed_at: at.into(),
        }
    }

    #[test]
    fn a_listed_family_stays_listed_until_someone_answers() {
        let facts = fixtures::facts(fixtures::child(
            "c1",
            "Rae",
            "rae@example.com",
            "07700900002",
        ));
        let failed = [message("sms", "permanent-failure", "2026-11-12T09:00:00Z")];
        let listed = listing("2026-11-12T09:05:00Z");
        let entry =
            entry_for(&facts, Standing::NoAnswer, &failed, &[], &[Some(&listed)]).expect("listed");
        assert_eq!(entry.reason, "restricted_no_letter");
        assert_eq!(entry.purposes, ["consent_request"]);
        assert_eq!(entry.tried.len(), 1);
        for standing in [
            Standing::Given,
            Standing::Refused,
            Standing::Vaccinated,
            Standing::NotEligible,
            Standing::LeftOrDied,
        ] {
            assert!(
                entry_for(&facts, standing, &failed, &[], &[Some(&listed)]).is_none(),
                "{standing:?}"
            );
        }
    }

    #[test]
    fn a_message_that_gets_through_after_the_listing_takes_the_family_off() {
        let facts = fixtures::facts(fixtures::child(
            "c1",
            "Rae",
            "rae@example.com",
            "07700900002",
        ));
        let listed = listing("2026-11-12T09:05:00Z");
        let later = [
            message("sms", "permanent-failure", "2026-11-12T09:00:00Z"),
            message("email", "delivered", "2026-11-20T09:00:00Z"),
        ];
        assert!(entry_for(&facts, Standing::NoAnswer, &later, &[], &[Some(&listed)]).is_none());
        let earlier = [message("email", "delivered", "2026-11-01T09:00:00Z")];
        assert!(
            entry_for(&facts, Standing::NoAnswer, &earlier, &[], &[Some(&listed)]).is_some(),
            "reached before, not since"
        );
    }

    #[test]
    fn a_family_every_message_failed_for_is_listed_even_unlisted() {
        let facts = fixtures::facts(fixtures::child(
            "c1",
            "Tess",
            "t@example.com",
            "07700900003",
        ));
        let failed = [message(
            "email",
            "technical-failure",
            "2026-11-12T09:00:00Z",
        )];
        let entry = entry_for(&facts, Standing::NoAnswer, &failed, &[], &[None]).expect("listed");
        assert_eq!(entry.reason, "all_failed");
        assert!(entry_for(&facts, Standing::NoAnswer, &[], &[], &[None]).is_none());
    }
}
