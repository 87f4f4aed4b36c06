//! `sais validate`: the ingest function's validation, on a local file, with no AWS.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use sais_shared::domain::SchoolUrn;
use sais_shared::files::children::ChildFileKind;
use sais_shared::files::report::{Issue, Report, Status};
use sais_shared::files::{file_error_report, report::codes, validate_child_file};
use time::{Date, OffsetDateTime, macros::format_description};

/// Which schema to check a file against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A CHIS cohort extract.
    Cohort,
    /// A school's class list (needs the school's URN).
    ClassList,
    /// A campaign definition (`campaigns/<id>.json`).
    Campaign,
    /// Consent answers and vaccinations (`responses/`).
    Responses,
    /// Objections to contact (`objections/`).
    Objections,
    /// The team's settings (`team.json`).
    Team,
}

/// Arguments of `sais validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file's kind; taken from the path (`…/cohort/…`, `…/class-list/<URN>/…`,
    /// `…/campaigns/…`, `…/responses/…`, `…/objections/…`, `team.json`) when omitted.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// The school of a class list; taken from the path's `class-list/<URN>/` when omitted.
    #[arg(long)]
    school_urn: Option<String>,
    /// Print exactly the report.json the service would write.
    #[arg(long)]
    json: bool,
    /// Judge ages as on this date (YYYY-MM-DD) instead of today.
    #[arg(long, value_parser = parse_date)]
    today: Option<Date>,
    /// The CSV file to check.
    file: PathBuf,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|_| "expected a date as YYYY-MM-DD".to_owned())
}

/// The kind (and class list folder) the path implies: `…/cohort/…`, `…/class-list/<URN>/…`,
/// `…/campaigns/…`, `…/responses/…`, `…/objections/…` or a file named `team.json`.
fn kind_from_path(path: &Path) -> Option<(Kind, Option<String>)> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts
        .last()
        .is_some_and(|name| name.eq_ignore_ascii_case("team.json"))
    {
        return Some((Kind::Team, None));
    }
    let dirs = &parts[..parts.len().saturating_sub(1)];
    for (i, dir) in dirs.iter().enumerate().rev() {
        match dir.as_str() {
            "cohort" => return Some((Kind::Cohort, None)),
            "campaigns" => return Some((Kind::Campaign, None)),
            "responses" => return Some((Kind::Responses, None)),
            "objections" => return Some((Kind::Objections, None)),
            "class-list" => return Some((Kind::ClassList, dirs.get(i + 1).cloned())),
            _ => {}
        }
    }
    None
}

/// The file's kind and, for a class list, its school's folder: from `--kind` and
/// `--school-urn`, else from the path; the message of a usage error when they cannot be told.
pub(crate) fn kind_of(
    kind: Option<Kind>,
    school_urn: Option<&str>,
    file: &Path,
) -> Result<(Kind, Option<String>), &'static str> {
    let from_path = kind_from_path(file);
    let Some(kind) = kind.or(from_path.as_ref().map(|(k, _)| *k)) else {
        return Err(
            "cannot tell the file's kind from its path; pass --kind cohort, class-list, campaign, responses, objections or team",
        );
    };
    if kind != Kind::ClassList {
        return Ok((kind, None));
    }
    let folder = school_urn
        .map(str::to_owned)
        .or(from_path.and_then(|(_, urn)| urn));
    match folder {
        Some(folder) => Ok((kind, Some(folder))),
        None => Err(
            "a class list needs its school: pass --school-urn, or keep it under class-list/<URN>/",
        ),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("sais validate: {message}");
    ExitCode::from(crate::EX_USAGE)
}

/// Runs `sais validate`.
pub fn run(args: Args) -> ExitCode {
    let (kind, folder) = match kind_of(args.kind, args.school_urn.as_deref(), &args.file) {
        Ok(k) => k,
        Err(message) => return usage(message),
    };
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let today = args
        .today
        .unwrap_or_else(|| OffsetDateTime::now_utc().date());
    let report = check_file(&args.file, &file_name, kind, folder.as_deref(), today);

    // Streamed to stdout: a million-row file's report can hold hundreds of thousands of warnings.
    if let Err(e) = print_report(&report, args.json, Verdict::WouldBe) {
        eprintln!("sais validate: could not print the report: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(report.exit_code() as u8)
}

/// Prints `report` to stdout, as JSON (exactly the service's report.json) or as a person reads
/// it; a closed pipe is not an error.
pub(crate) fn print_report(report: &Report, json: bool, verdict: Verdict) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write_readable_as(&mut out, report, verdict)
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// The ingest function's checks of the file at `path`, named `file_name` in the report, as
/// `kind` (a class list in the school folder `folder`), judged as on `today`.
pub(crate) fn check_file(
    path: &Path,
    file_name: &str,
    kind: Kind,
    folder: Option<&str>,
    today: Date,
) -> Report {
    let unreadable = |kind: &str, e: std::io::Error| {
        file_error_report(
            file_name,
            kind,
            codes::UNREADABLE,
            format!("The file could not be read ({})", e.kind()),
        )
    };
    // Campaign and team files are read whole, up to the size the service reads.
    let small = || {
        let limit = sais_shared::files::campaign_file::MAX_CAMPAIGN_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|f| {
                std::io::Read::read_to_end(&mut std::io::Read::take(f, limit), &mut bytes)
            })
            .map(|_| bytes)
    };
    let open = || File::open(path).map(|f| BufReader::with_capacity(256 * 1024, f));
    match kind {
        Kind::Cohort => check(path, file_name, &ChildFileKind::Cohort, today),
        Kind::Campaign => match small() {
            Ok(bytes) => {
                sais_shared::files::campaign_file::validate_campaign(file_name, &bytes, today).0
            }
            Err(e) => unreadable("campaign", e),
        },
        Kind::Team => match small() {
            Ok(bytes) => sais_shared::files::team_file::validate_team_settings(file_name, &bytes).0,
            Err(e) => unreadable("team-settings", e),
        },
        Kind::Responses => sais_shared::files::responses::validate_responses_file(
            file_name,
            today,
            None,
            open,
            |_| {},
        ),
        Kind::Objections => sais_shared::files::objections::validate_objections_file(
            file_name,
            today,
            None,
            open,
            |_| {},
        ),
        Kind::ClassList => match SchoolUrn::parse(folder.unwrap_or_default()) {
            Ok(urn) => check(path, file_name, &ChildFileKind::ClassList { urn }, today),
            Err(_) => file_error_report(
                file_name,
                "class-list",
                codes::INVALID_URN,
                "A class list must be in a folder named after the school's 6-digit URN (class-list/<URN>/)".into(),
            ),
        },
    }
}

fn check(path: &Path, file_name: &str, kind: &ChildFileKind, today: Date) -> Report {
    validate_child_file(
        file_name,
        kind,
        today,
        None,
        || File::open(path).map(|f| BufReader::with_capacity(256 * 1024, f)),
        |_| {},
    )
}

/// Whether a report is `sais validate`'s forecast or the service's verdict on an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Checked here: "would be imported".
    WouldBe,
    /// The service's report of an upload: "imported".
    Was,
}

/// The report as a person reads it: the verdict (what would happen, for a check; what did, for
/// an upload's report), then errors grouped by row, then warnings.
pub(crate) fn write_readable_as(
    out: &mut impl Write,
    report: &Report,
    tense: Verdict,
) -> std::io::Result<()> {
    let (would, nothing) = match tense {
        Verdict::WouldBe => ("would be ", "nothing would be imported"),
        Verdict::Was => ("", "nothing was imported"),
    };
    let verdict = match report.status {
        Status::Imported => format!("{would}IMPORTED"),
        Status::Rejected if !report.file_errors.is_empty() => {
            format!("REJECTED: the file itself needs fixing; {nothing}")
        }
        Status::Rejected => format!(
            "REJECTED: {} of {} rows have errors; fix them and upload again ({nothing})",
            report.rows - report.rows_valid,
            report.rows
        ),
    };
    writeln!(out, "{} ({}): {verdict}", report.file, report.kind)?;
    writeln!(
        out,
        "rows: {}, valid: {}, errors: {}, warnings: {}, encoding: {}",
        report.rows,
        report.rows_valid,
        report.errors.len() + report.file_errors.len(),
        report.warnings.len(),
        report.encoding.as_deref().unwrap_or("unknown")
    )?;
    if !report.file_errors.is_empty() {
        writeln!(out, "\nFile errors:")?;
        for e in &report.file_errors {
            writeln!(out, "    {} [{}]", e.message, e.code)?;
        }
    }
    write_grouped(out, "Errors", &report.errors)?;
    write_grouped(out, "Warnings", &report.warnings)
}

fn write_grouped(out: &mut impl Write, title: &str, issues: &[Issue]) -> std::io::Result<()> {
    if issues.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{title}:")?;
    let mut current = None;
    for issue in issues {
        if issue.row != current {
            current = issue.row;
            match issue.row {
                Some(row) => writeln!(out, "  Row {row}")?,
                None => writeln!(out, "  Whole file")?,
            }
        }
        match &issue.column {
            Some(column) => writeln!(out, "    {column}: {} [{}]", issue.message, issue.code)?,
            None => writeln!(out, "    {} [{}]", issue.message, issue.code)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_comes_from_the_folders() {
        assert_eq!(
            kind_from_path(Path::new("uploads/RYG/cohort/y8.csv")),
            Some((Kind::Cohort, None))
        );
        assert_eq!(
            kind_from_path(Path::new("RYG/class-list/123456/9X.csv")),
            Some((Kind::ClassList, Some("123456".into())))
        );
        assert_eq!(kind_from_path(Path::new("cohort.csv")), None);
        assert_eq!(
            kind_from_path(Path::new("events/demo/day-4/responses/week-1.csv")),
            Some((Kind::Responses, None))
        );
        assert_eq!(
            kind_from_path(Path::new("day-3/objections/x.csv")),
            Some((Kind::Objections, None))
        );
        assert_eq!(
            kind_from_path(Path::new("events/demo/team.json")),
            Some((Kind::Team, None))
        );
    }
}
