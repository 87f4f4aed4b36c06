//! `sais templates` as a team runs it while setting up its Notify service.

use std::process::Command;

fn templates(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sais"))
        .arg("templates")
        .args(args)
        .output()
        .expect("sais runs")
}

const CAMPAIGN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../events/demo/campaigns/hpv-2027-spring.json"
);

#[test]
fn with_a_campaign_each_purpose_and_channel_shows_its_template_and_the_placeholders_filled() {
    let out = templates(&["--json", "--campaign", CAMPAIGN]);
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 9, "3 purposes × 3 channels");

    let campaign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(CAMPAIGN).unwrap()).unwrap();
    for entry in list {
        let (purpose, channel) = (
            entry["purpose"].as_str().unwrap(),
            entry["channel"].as_str().unwrap(),
        );
        assert_eq!(
            entry["template_id"], campaign["templates"][purpose][channel],
            "{purpose} {channel}: the campaign's own template id"
        );
        let names: Vec<&str> = entry["placeholders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(names.starts_with(&["child_first_name", "session_date", "consent_deadline"]));
        for key in campaign["personalisation"].as_object().unwrap().keys() {
            assert!(
                names.contains(&key.as_str()),
                "{purpose} {channel} fills {key}"
            );
        }
        assert_eq!(
            names.iter().any(|n| n.starts_with("address_line_1")),
            channel == "letter"
        );
    }
}

#[test]
fn without_a_campaign_it_lists_what_to_write_and_an_unreadable_campaign_is_exit_2() {
    let out = templates(&[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("consent_request: asks the parent for consent"));
    assert!(text.contains("((child_first_name)): the child's preferred first name"));

    let out = templates(&["--campaign", "/nonexistent/campaign.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the campaign file"));
}
