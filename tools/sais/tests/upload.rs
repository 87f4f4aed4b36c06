//! `sais upload` and `sais reports` as staff run them, against a local stack: a file with
//! errors is refused before it reaches the bucket; a good one is uploaded, read by the ingest
//! function (run here, as Lambda's event source mapping would run it) and its report printed;
//! the team's reports are fetched into a folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sais_local::LocalStack;

const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE";
const AVA: &str =
    "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,8,Sarah Smith,sarah@example.com,07700 900123";
const BEN: &str =
    "Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,Tom Jones,tom@example.com,07700 900124";
/// Ben with an NHS number whose check digit is wrong.
const BEN_BAD_NHS: &str =
    "Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000025,8,Tom Jones,tom@example.com,07700 900124";

/// A fresh folder under the system's temporary folder.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sais-upload-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `rows` as a cohort file at `<dir>/cohort/<name>`.
fn cohort_file(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let path = dir.join("cohort").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

/// Runs the built `sais` with the environment `make up` prints for this stack.
fn sais(stack: &LocalStack, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &stack.endpoint)
        .env("AWS_REGION", "eu-west-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("UPLOADS_BUCKET", stack.bucket())
        .env("TABLE_NAME", stack.table())
        .output()
        .expect("sais runs")
}

/// `sais` run off the test's runtime (it blocks while the ingest loop runs on the runtime).
async fn sais_async(stack: &LocalStack, args: &[&str]) -> Output {
    let stack = stack.clone();
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        sais(&stack, &args)
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn object_exists(stack: &LocalStack, key: &str) -> bool {
    stack
        .clients
        .s3
        .head_object()
        .bucket(stack.bucket())
        .key(key)
        .send()
        .await
        .is_ok()
}

/// The ingest function fed from the stack's ingest queue, as Lambda's SQS event source mapping
/// feeds it, until `stop` is set.
fn run_ingest(stack: &LocalStack, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let stack = stack.clone();
    tokio::spawn(async move {
        let ingest = stack.ingest();
        let sqs = &stack.clients.sqs;
        while !stop.load(Ordering::Relaxed) {
            let received = sqs
                .receive_message()
                .queue_url(&stack.ingest_queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receiving from the ingest queue");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let mut event = SqsEvent::default();
            let mut handles = Vec::new();
            for m in messages {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.body = m.body;
                handles.push(m.receipt_handle.unwrap_or_default());
                event.records.push(record);
            }
            let response = ingest.handle_batch(event).await.expect("ingest runs");
            assert!(response.batch_item_failures.is_empty(), "ingest failed");
            for handle in handles {
                sqs.delete_message()
                    .queue_url(&stack.ingest_queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("deleting an ingested message");
            }
        }
    })
}

#[tokio::test]
async fn a_file_with_errors_is_refused_with_its_row_errors_and_not_uploaded() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let dir = temp_dir("bad");
    let file = cohort_file(&dir, "cohort.csv", &[AVA, BEN_BAD_NHS]);
    let output = sais_async(
        &stack,
        &["upload", "--team", "UPL-sais", file.to_str().unwrap()],
    )
    .await;
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    // Exactly what `sais validate` prints of the file.
    let validated = Command::new(env!("CARGO_BIN_EXE_sais"))
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(validated.status.code(), Some(1));
    assert_eq!(stdout, text(&validated.stdout));
    assert!(stdout.contains("REJECTED"), "{stdout}");
    assert!(stdout.contains("Row 3"), "{stdout}");
    assert!(stdout.contains("[invalid_nhs_number]"), "{stdout}");
    assert!(
        text(&output.stderr).contains("not uploaded"),
        "{}",
        text(&output.stderr)
    );
    assert!(!object_exists(&stack, "UPL-sais/cohort/cohort.csv").await);
    let listed = stack
        .clients
        .s3
        .list_objects_v2()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty(), "nothing reached the bucket");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_good_file_is_uploaded_and_its_report_printed_then_the_reports_fetched() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = run_ingest(&stack, stop.clone());
    let dir = temp_dir("good");
    let file = cohort_file(&dir, "Year 8 cohort.csv", &[AVA, BEN]);

    let output = sais_async(
        &stack,
        &[
            "upload",
            "--team",
            "UPL-sais",
            "--wait",
            "60s",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("Year 8 cohort.csv (cohort): IMPORTED\n"),
        "the service's verdict, not a forecast: {stdout}"
    );
    assert!(stdout.contains("rows: 2, valid: 2, errors: 0"), "{stdout}");
    assert!(
        stderr.contains("uploaded to s3://")
            && stderr.contains("/UPL-sais/cohort/Year 8 cohort.csv"),
        "{stderr}"
    );
    assert!(object_exists(&stack, "UPL-sais/cohort/Year 8 cohort.csv").await);
    let children = stack.items_of_type("child").await.unwrap();
    assert_eq!(children.len(), 2, "ingest read the file");

    // A second upload under the same name waits for its own report, not the first one's.
    let file = cohort_file(&dir, "Year 8 cohort.csv", &[AVA]);
    let output = sais_async(
        &stack,
        &["upload", "--team", "UPL-sais", file.to_str().unwrap()],
    )
    .await;
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("rows: 1, valid: 1"), "{stdout}");
    stop.store(true, Ordering::Relaxed);
    ingest.await.unwrap();

    let out = dir.join("fetched");
    let output = sais_async(
        &stack,
        &[
            "reports",
            "--team",
            "UPL-sais",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("Year 8 cohort.csv.report.json"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("Year 8 cohort.csv.report.json")).expect("the report fetched"),
    )
    .unwrap();
    assert_eq!(report["status"], "imported");
    assert_eq!(report["rows"], 1, "the latest report");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_upload_whose_report_never_comes_fails_after_its_wait() {
    // No ingest runs for this stack: the file is uploaded, and no report comes.
    let stack = LocalStack::isolated().await.expect("local stack");
    let dir = temp_dir("late");
    let file = cohort_file(&dir, "cohort.csv", &[AVA]);
    let output = sais_async(
        &stack,
        &[
            "upload",
            "--team",
            "UPL-sais",
            "--wait",
            "2s",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no report after 2s"));
    assert!(output.stdout.is_empty());
    assert!(object_exists(&stack, "UPL-sais/cohort/cohort.csv").await);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_whose_kind_cannot_be_told_is_a_usage_error() {
    let dir = temp_dir("usage");
    let file = dir.join("children.csv");
    std::fs::write(&file, format!("{HEADER}\n{AVA}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(["upload", "--team", "UPL-sais", "--bucket", "b"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(text(&output.stderr).contains("--kind"));
    let _ = std::fs::remove_dir_all(&dir);
}
