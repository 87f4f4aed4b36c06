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
}

/// Arguments of `sais validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file's kind; taken from the path (`…/cohort/…`, `…/class-list/<URN>/…`) when omitted.
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

/// The kind (and class list folder) the path implies: `…/cohort/…` or `…/class-list/<URN>/…`.
fn kind_from_path(path: &Path) -> Option<(Kind, Option<String>)> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let dirs = &parts[..parts.len().saturating_sub(1)];
    for (i, dir) in dirs.iter().enumerate().rev() {
        match dir.as_str() {
            "cohort" => return Some((Kind::Cohort, None)),
            "campaigns" => return Some((Kind::Campaign, None)),
            "class-list" => return Some((Kind::ClassList, dirs.get(i + 1).cloned())),
            _ => {}
        }
    }
    None
}

fn usage(message: &str) -> ExitCode {
    eprintln!("sais validate: {message}");
    ExitCode::from(crate::EX_USAGE)
}

/// Runs `sais validate`.
pub fn run(args: Args) -> ExitCode {
    let from_path = kind_from_path(&args.file);
    let Some(kind) = args.kind.or(from_path.as_ref().map(|(k, _)| *k)) else {
        return usage(
            "cannot tell the file's kind from its path; pass --kind cohort, class-list or campaign",
        );
    };
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let today = args
        .today
        .unwrap_or_else(|| OffsetDateTime::now_utc().date());

    let report = match kind {
        Kind::Cohort => check(&args.file, &file_name, &ChildFileKind::Cohort, today),
        Kind::Campaign => {
            let limit = sais_shared::files::campaign_file::MAX_CAMPAIGN_BYTES as u64 + 1;
            let mut bytes = Vec::new();
            let read = File::open(&args.file).and_then(|f| {
                std::io::Read::read_to_end(&mut std::io::Read::take(f, limit), &mut bytes)
            });
            match read {
                Ok(_) => {
                    sais_shared::files::campaign_file::validate_campaign(&file_name, &bytes, today)
                        .0
                }
                Err(e) => file_error_report(
                    &file_name,
                    "campaign",
                    codes::UNREADABLE,
                    format!("The file could not be read ({})", e.kind()),
                ),
            }
        }
        Kind::ClassList => {
            let folder = args
                .school_urn
                .clone()
                .or(from_path.and_then(|(_, urn)| urn));
            let Some(folder) = folder else {
                return usage(
                    "a class list needs its school: pass --school-urn, or keep it under class-list/<URN>/",
                );
            };
            match SchoolUrn::parse(&folder) {
                Ok(urn) => check(&args.file, &file_name, &ChildFileKind::ClassList { urn }, today),
                Err(_) => file_error_report(
                    &file_name,
                    "class-list",
                    codes::INVALID_URN,
                    "A class list must be in a folder named after the school's 6-digit URN (class-list/<URN>/)".into(),
                ),
            }
        }
    };

    // Streamed to stdout: a million-row file's report can hold hundreds of thousands of warnings.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write_readable(&mut out, &report)
    };
    if let Err(e) = written.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("sais validate: could not print the report: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(report.exit_code() as u8)
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

/// The report as a person reads it: the verdict, then errors grouped by row, then warnings.
pub fn write_readable(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let verdict = match report.status {
        Status::Imported => "would be IMPORTED".to_owned(),
        Status::Rejected if !report.file_errors.is_empty() => {
            "REJECTED: the file itself needs fixing; nothing would be imported".to_owned()
        }
        Status::Rejected => format!(
            "REJECTED: {} of {} rows have errors; fix them and upload again (nothing would be imported)",
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
    }
}
