//! `sais sar` and `sais erase` as staff run them, against a local stack holding one family.

use std::process::{Command, Output};

use sais_local::LocalStack;

const TEAM: &str = "RYG-sais";
const COHORT: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE\n\
    Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,8,Sarah Smith,sarah@example.com,07700 900123\n\
    Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,Tom Jones,tom@example.com,07700 900124\n";

async fn stack_with_two_families() -> LocalStack {
    let stack = LocalStack::isolated().await.expect("local stack");
    stack
        .put_and_ingest(
            &stack.ingest(),
            &format!("{TEAM}/cohort/cohort.csv"),
            COHORT.as_bytes().to_vec(),
        )
        .await
        .expect("upload and ingest");
    stack
}

fn sais(stack: &LocalStack, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &stack.endpoint)
        .env("AWS_REGION", "eu-west-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("TABLE_NAME", stack.table())
        .env("UPLOADS_BUCKET", stack.bucket())
        .env_remove("ERASURE_KEY_SECRET_ARN")
        .output()
        .expect("sais runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn staff_export_a_childs_records_and_erase_a_wrong_number_from_the_command_line() {
    let stack = stack_with_two_families().await;
    let by_nhs = json(&sais(
        &stack,
        &["sar", "--team", TEAM, "--nhs-number", "999 000 0018"],
    ));
    let by_details = json(&sais(
        &stack,
        &[
            "sar",
            "--team",
            TEAM,
            "--first-name",
            "Ava",
            "--last-name",
            "Smith",
            "--date-of-birth",
            "2013-05-01",
            "--postcode",
            "SW1A 1AA",
        ],
    ));
    assert_eq!(by_nhs["children"], by_details["children"]);
    let child = &by_nhs["children"][0];
    assert_eq!(child["details"]["last_name"], "Smith");
    assert_eq!(child["details"]["parents"][0]["phone"], "+447700900123");
    assert!(!by_nhs.to_string().contains("Jones"), "only Ava's records");

    // A replies file from before, that no campaign report would write again.
    let old_replies = format!("{TEAM}/reports/replies/2025-01-06.csv");
    stack
        .upload(
            &old_replies,
            b"RECEIVED_AT,FROM,MESSAGE\n2025-01-06T09:00:00Z,'+447700900123,Call me\n".to_vec(),
        )
        .await
        .expect("old replies file");

    let erased = json(&sais(
        &stack,
        &[
            "erase",
            "--team",
            TEAM,
            "--phone",
            "07700 900123",
            "--by",
            "J Smith, SAIS admin",
            "--reason",
            "correction",
        ],
    ));
    assert_eq!(erased["children"], 1);
    assert_eq!(erased["reports"]["files_deleted"], 1, "{erased}");
    assert_eq!(
        erased["reports"]["campaigns_rewritten"], 0,
        "no campaign report held the number"
    );
    let left = stack
        .clients
        .s3
        .list_object_versions()
        .bucket(stack.bucket())
        .prefix(&old_replies)
        .send()
        .await
        .expect("versions");
    assert!(
        left.versions().is_empty(),
        "no version of the file holding the number is left"
    );
    assert_eq!(erased["detail_kind"], "phone");
    assert!(
        !erased.to_string().contains("7700"),
        "the answer holds no number"
    );
    let after = json(&sais(
        &stack,
        &["sar", "--team", TEAM, "--nhs-number", "9990000018"],
    ));
    assert!(!after.to_string().contains("7700900123"));
    assert_eq!(after["children"][0]["erasures"][0]["reason"], "correction");
    let ben = json(&sais(
        &stack,
        &["sar", "--team", TEAM, "--nhs-number", "9990000026"],
    ));
    assert_eq!(
        ben["children"][0]["details"]["parents"][0]["phone"], "+447700900124",
        "another family's number is untouched"
    );
}

#[tokio::test]
async fn bad_arguments_are_usage_errors_that_change_nothing() {
    let stack = stack_with_two_families().await;
    for args in [
        &["sar", "--team", TEAM, "--nhs-number", "9990000019"][..],
        &["sar", "--team", TEAM][..],
        &["sar", "--team", "not a team", "--nhs-number", "9990000018"][..],
        &[
            "erase",
            "--team",
            TEAM,
            "--email",
            "not-an-email",
            "--by",
            "Me",
            "--reason",
            "correction",
        ][..],
        &[
            "erase",
            "--team",
            TEAM,
            "--phone",
            "07700 900123",
            "--by",
            "Me",
            "--reason",
            "because",
        ][..],
    ] {
        let out = sais(&stack, args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("not-an-email"),
            "errors do not repeat the input"
        );
    }
    let ava = json(&sais(
        &stack,
        &["sar", "--team", TEAM, "--nhs-number", "9990000018"],
    ));
    assert_eq!(
        ava["children"][0]["details"]["parents"][0]["phone"],
        "+447700900123"
    );
}
