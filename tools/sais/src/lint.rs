//! `sais lint-template --sms FILE`: a text-message template checked as Notify will bill it,
//! with every placeholder at the longest value the service sends. Exit 0 when it may be used
//! (warnings allowed), 1 when it has errors, 2 when the files cannot be read, 64 usage.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use sais_shared::notify::lint::{lint_sms, longest_values};

/// Arguments of `sais lint-template`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text-message template (the text as written in Notify, with ((placeholders))).
    #[arg(long)]
    sms: PathBuf,
    /// The campaign file whose personalisation (programme name, consent link, phone) fills
    /// the placeholders; without it those count as missing.
    #[arg(long)]
    campaign: Option<PathBuf>,
    /// Print `{"encoding","characters","fragments","warnings","errors"}`.
    #[arg(long)]
    json: bool,
}

/// Runs `sais lint-template`.
pub fn run(args: Args) -> ExitCode {
    let template = match std::fs::read_to_string(&args.sms) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "sais lint-template: cannot read the template ({})",
                e.kind()
            );
            return ExitCode::from(2);
        }
    };
    let mut personalisation = BTreeMap::new();
    if let Some(path) = &args.campaign {
        let campaign: Result<sais_shared::campaign::Campaign, String> = std::fs::read(path)
            .map_err(|e| e.kind().to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|_| "not a valid campaign".into()));
        match campaign {
            Ok(c) => personalisation = c.personalisation,
            Err(e) => {
                eprintln!(
                    "sais lint-template: the campaign file: {e} (check it with sais validate)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let consent_url = personalisation.get("consent_url").cloned();
    let report = lint_sms(
        template.trim_end_matches(['\n', '\r']),
        &longest_values(&personalisation),
        consent_url.as_deref(),
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "{} characters at the longest, {} fragment(s), {:?}",
            report.characters, report.fragments, report.encoding
        );
        for w in &report.warnings {
            println!("  warning: {} [{}]", w.message, w.code);
        }
        for e in &report.errors {
            println!("  error: {} [{}]", e.message, e.code);
        }
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
