//! `sais lint-template` as a team runs it: the JSON verdict and the exit status.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn lint(template: &str) -> (i32, serde_json::Value) {
    // Tests run in parallel in one process: each call gets its own file.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "sais-lint-{}-{}.txt",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, template).unwrap();
    let campaign = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/demo/campaigns/hpv-2027-spring.json"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(["lint-template", "--json", "--campaign", campaign, "--sms"])
        .arg(&path)
        .output()
        .expect("sais runs");
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).expect("JSON"),
    )
}

#[test]
fn a_short_template_passes_and_a_long_one_with_a_stray_link_fails() {
    let (code, report) =
        lint("((child_first_name)): ((programme_name)) jab on ((session_date)). ((consent_url))");
    assert_eq!(code, 0);
    assert_eq!(report["encoding"], "gsm7");
    assert_eq!(report["fragments"], 1);

    let long = format!("{} https://bit.ly/abc", "Please read this. ".repeat(20));
    let (code, report) = lint(&long);
    assert_eq!(code, 1);
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["over_two_fragments", "foreign_link"]);
}

#[test]
fn an_ellipsis_is_billed_as_the_three_dots_notify_sends() {
    // 158 GSM characters and `…`: Notify sends `...`, 161 characters, 2 fragments.
    let (code, report) = lint(&format!("{}…", "a".repeat(158)));
    assert_eq!(code, 0);
    assert_eq!(report["encoding"], "gsm7");
    assert_eq!(report["characters"], 161);
    assert_eq!(report["fragments"], 2);
    assert_eq!(report["warnings"][0]["code"], "over_one_fragment");

    let (_, report) = lint(&format!("{}…\n", "a".repeat(157)));
    assert_eq!(
        (&report["characters"], &report["fragments"]),
        (&160.into(), &1.into())
    );
}
