//! The chaos suite's subset that `make test` runs (`sais chaos --subset`): the pacer throttled,
//! the intent's conditional put failing, Notify answering 500 and the dispatcher dying after
//! Notify accepted. Each run's families must all end as in the fault-free reference run, with
//! faults fired and their retries visible. `make chaos` runs every fault class.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn under_the_subsets_faults_every_family_ends_as_without_faults() {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/chaos/scenario");
    let output = Command::new(env!("CARGO_BIN_EXE_sais"))
        .args(["chaos", "--subset", "--json", "--input"])
        .arg(&scenario)
        .output()
        .expect("sais chaos runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "JSON out ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let runs = json["runs"].as_array().expect("runs");
    let classes: Vec<&str> = runs.iter().filter_map(|r| r["class"].as_str()).collect();
    assert_eq!(
        classes,
        [
            "reference",
            "ddb-pacer-throttle",
            "ddb-intent-put-500",
            "notify-500",
            "crash-send-after-notify-accepted"
        ]
    );
    for run in runs {
        let class = run["class"].as_str().unwrap_or_default();
        assert!(run["error"].is_null(), "{class}: {}", run["error"]);
        assert!(
            run["families"].as_u64().unwrap() >= 20,
            "{class}: at least 20 families"
        );
        assert_eq!(
            run["identical"], run["families"],
            "{class}: {}",
            run["differences"]
        );
        for count in ["lost", "duplicated", "wrongly_blamed", "stuck"] {
            assert_eq!(run[count], 0, "{class}: {count} {}", run["differences"]);
        }
        if class != "reference" {
            assert!(
                run["faults_fired"].as_u64().unwrap() > 0,
                "{class}: no fault fired"
            );
            assert!(
                run["retries"].as_u64().unwrap() > 0,
                "{class}: no retry seen"
            );
        }
    }
    assert!(output.status.success(), "sais chaos failed");
    assert_eq!(json["passed"], true);
}
