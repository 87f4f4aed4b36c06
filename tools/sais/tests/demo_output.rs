//! What `sais demo` leaves behind: every report it made, copied from the emulator's bucket to
//! the `--out` folder (replaced at each run), and the campaign page's path on its last line;
//! days on which nothing happened are not shown.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scenario_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios")
        .join(name)
}

fn demo(prefix: &str, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(["demo", "--team", "OUT-sais", "--stack-prefix", prefix])
        .args(extra)
        .arg("--input")
        .arg(scenario_dir("rehearsal-day"))
        .arg("--out")
        .arg(out)
        .output()
        .expect("sais demo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir`, relative to it, `/`-separated.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_string_lossy();
                files.push(relative.replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_demo_leaves_every_report_and_the_page_to_open() {
    let prefix = format!("dout{}", std::process::id());
    let out = std::env::temp_dir().join(format!("{prefix}-demo-output"));
    let _ = std::fs::remove_dir_all(&out);

    // A folder with a reports/ folder no demo wrote is not emptied.
    std::fs::create_dir_all(out.join("reports")).unwrap();
    std::fs::write(out.join("reports/mine.txt"), "keep").unwrap();
    let refused = demo(&format!("{prefix}a"), &out, &[]);
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("reports/mine.txt")).unwrap(),
        "keep"
    );
    std::fs::remove_dir_all(&out).unwrap();

    let output = demo(&format!("{prefix}b"), &out, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    let reports = out.join("reports");
    let files = files_under(&reports);
    // Every file's report, and the campaign's CSV, summary and page.
    for expected in [
        "cohort.csv.report.json",
        "answers.csv.report.json",
        "hpv-rehearsal.json.report.json",
        "campaigns/hpv-rehearsal.csv",
        "campaigns/hpv-rehearsal.summary.json",
        "campaigns/hpv-rehearsal.html",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
    let page = std::path::absolute(reports.join("campaigns/hpv-rehearsal.html")).unwrap();
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .contains("hpv-rehearsal")
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("Open the campaign page: {}", page.display()),
        "{stdout}"
    );
    assert!(
        !stdout.contains("s3://"),
        "no address of the vanished bucket: {stdout}"
    );
    // Each file written is listed, and every day shown has something under it.
    for file in &files {
        assert!(
            stdout.contains(&format!("  {file}\n")),
            "{file} listed: {stdout}"
        );
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let mut days = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("Day ") {
            days += 1;
            assert!(
                lines.get(i + 1).is_some_and(|next| next.starts_with("  ")),
                "an empty day is shown: {line:?} in {stdout}"
            );
        }
    }
    assert!(
        days >= 3,
        "the request, the answer and reminders' days: {stdout}"
    );
    assert!(
        days < 10,
        "the rehearsal's quiet days are left out: {stdout}"
    );

    // Run again into the same folder: the last run's files are replaced, and --json says
    // where they are.
    std::fs::write(reports.join("stale.txt"), "from before").unwrap();
    let again = demo(&format!("{prefix}c"), &out, &["--json"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON out");
    assert!(!reports.join("stale.txt").exists());
    assert_eq!(files_under(&reports), files);
    assert_eq!(
        json["out"].as_str(),
        Some(std::path::absolute(&out).unwrap().to_str().unwrap())
    );
    assert_eq!(json["pages"][0].as_str(), page.to_str());
    assert!(json["summary"].is_object() && json["children"].is_array());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_parents_reply_in_the_demo_is_in_that_days_replies_against_the_child_and_in_no_log() {
    let prefix = format!("drep{}", std::process::id());
    let out = std::env::temp_dir().join(format!("{prefix}-demo-output"));
    let _ = std::fs::remove_dir_all(&out);
    let log = std::env::temp_dir().join(format!("{prefix}-log.jsonl"));
    // The shipped example: day 2 (2027-01-01) brings a STOP and Zoë Brown's parent's question.
    let input = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/demo");
    let run = Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(["demo", "--stack-prefix", &prefix])
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--log-file")
        .arg(&log)
        .output()
        .expect("sais demo runs");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let replies = std::fs::read_to_string(out.join("reports/replies/2027-01-01.csv"))
        .expect("the day's replies");
    let mut reader = csv::Reader::from_reader(replies.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1, "the reply, not the STOP: {replies}");
    let header = reader.headers().unwrap().clone();
    let cell = |name: &str| rows[0][header.iter().position(|h| h == name).unwrap()].to_owned();
    assert!(cell("MESSAGE").starts_with("Zoë is away on the 20th"));
    assert!(
        cell("CHILDREN").starts_with("Zoë Brown"),
        "{}",
        cell("CHILDREN")
    );
    assert_eq!(cell("NHS_NUMBERS"), "9990000042");
    let page = std::fs::read_to_string(out.join("reports/campaigns/hpv-2027-spring.html")).unwrap();
    assert!(
        page.contains("Zoë is away on the 20th"),
        "the page's replies section"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.is_empty(), "the functions logged");
    for secret in ["Zoë is away", "away on the 20th", "900662", "7700 900662"] {
        assert!(!logged.contains(secret), "a log line holds {secret:?}");
    }
}
