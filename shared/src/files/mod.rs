//! Uploaded files: reading, validating and reporting. The same code runs in the ingest function
//! and in `sais validate`, so a team sees before uploading exactly what the service will say.

pub mod campaign_file;
pub mod children;
pub mod csv_file;
pub mod objections;
pub mod report;
pub mod responses;
pub mod team_file;

use std::io::Read;

use time::{Date, OffsetDateTime};

use children::{ChildFileKind, ChildFileValidator, ChildRow};
use csv_file::{PassSummary, ReadError, TextEncoding, read_pass};
use report::{FileIssue, Issue, Report, Status, codes};

/// The current time as reports write it.
pub fn now_rfc3339() -> String {
    crate::domain::rfc3339(OffsetDateTime::now_utc())
}

/// A report that rejects the file for one file-level reason.
pub fn file_error_report(file: &str, kind: &str, code: &'static str, message: String) -> Report {
    Report {
        file: file.to_owned(),
        kind: kind.to_owned(),
        status: Status::Rejected,
        encoding: None,
        rows: 0,
        rows_valid: 0,
        file_errors: vec![FileIssue::new(code, message)],
        errors: Vec::new(),
        warnings: Vec::new(),
        processed_at: now_rfc3339(),
    }
}

/// Validates a cohort or class-list file, calling `sink` with every valid row, and reports.
///
/// `open` is called once per pass over the bytes. With `encoding` unknown (`None`) the first
/// pass reads UTF-8 and, if the bytes turn out not to be UTF-8, a second pass reads
/// Windows-1252 — so `sink` may see the early rows twice. Callers that write therefore validate
/// first (with a sink that does nothing), then, only if the report says imported, pass its
/// encoding back in for the writing pass, which then reads the file exactly once.
pub fn validate_child_file<R, O>(
    file: &str,
    kind: &ChildFileKind,
    today: Date,
    encoding: Option<TextEncoding>,
    open: O,
    mut sink: impl FnMut(ChildRow),
) -> Report
where
    R: Read,
    O: FnMut() -> std::io::Result<R>,
{
    read_with_fallback(file, kind.name(), encoding, open, |input, encoding| {
        let mut validator = ChildFileValidator::new(kind.clone(), today, &mut sink);
        let summary = read_pass(input, encoding, &mut validator)?;
        Ok((summary, validator.finish()))
    })
}

/// Runs `pass` over the file with the given encoding, or, when that is unknown, as UTF-8 and
/// again as Windows-1252 if the bytes turn out not to be UTF-8; reports what it found.
pub(crate) fn read_with_fallback<R, O>(
    file: &str,
    kind: &str,
    encoding: Option<TextEncoding>,
    mut open: O,
    mut pass: impl FnMut(R, TextEncoding) -> Result<(PassSummary, RowsOutcome), ReadError>,
) -> Report
where
    R: Read,
    O: FnMut() -> std::io::Result<R>,
{
    let mut run = |encoding| {
        let input = open().map_err(|e| ReadError::Io(e.to_string()))?;
        pass(input, encoding)
    };
    let result = match run(encoding.unwrap_or(TextEncoding::Utf8)) {
        Err(ReadError::NotUtf8) => run(TextEncoding::Windows1252),
        other => other,
    };
    report_from(file, kind, result)
}

/// What a schema's validator found once the whole file has been read.
#[derive(Debug, Default)]
pub struct RowsOutcome {
    /// Row errors in row order.
    pub errors: Vec<Issue>,
    /// Warnings in row order.
    pub warnings: Vec<Issue>,
    /// Rows with at least one error.
    pub rows_with_errors: u64,
}

/// The report of a CSV pass: file errors, the schema's row errors and warnings, the encoding.
pub fn report_from(
    file: &str,
    kind: &str,
    result: Result<(PassSummary, RowsOutcome), ReadError>,
) -> Report {
    match result {
        Err(ReadError::NotUtf8) => file_error_report(
            file,
            kind,
            codes::UNREADABLE,
            "The file's text encoding could not be read; save it as \"CSV UTF-8\"".into(),
        ),
        Err(ReadError::Io(e)) => file_error_report(
            file,
            kind,
            codes::UNREADABLE,
            format!("The file could not be read ({e}); upload it again"),
        ),
        Ok((summary, outcome)) => {
            let mut warnings: Vec<Issue> = Vec::new();
            if summary.encoding == TextEncoding::Windows1252 {
                warnings.push(Issue {
                    row: None,
                    column: None,
                    code: codes::WINDOWS_1252,
                    message: "The file is not UTF-8, so it was read as Windows-1252 (Excel's default); check accented names look right, or save as \"CSV UTF-8\"".into(),
                });
            }
            warnings.extend(summary.header_warnings);
            warnings.extend(outcome.warnings);
            let rejected = !summary.file_errors.is_empty() || !outcome.errors.is_empty();
            Report {
                file: file.to_owned(),
                kind: kind.to_owned(),
                status: if rejected {
                    Status::Rejected
                } else {
                    Status::Imported
                },
                encoding: Some(summary.encoding.name().to_owned()),
                rows: summary.rows,
                rows_valid: summary.rows.saturating_sub(outcome.rows_with_errors),
                file_errors: summary.file_errors,
                errors: outcome.errors,
                warnings,
                processed_at: now_rfc3339(),
            }
        }
    }
}
