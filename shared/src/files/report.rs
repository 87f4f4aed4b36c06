//! The report written back for every upload (`<team>/reports/<file>.report.json`) and the
//! spreadsheet of row errors (`<file>.errors.csv`) for rejected files.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Error and warning codes, exactly as file-formats.md names them.
pub mod codes {
    /// The file is separated by semicolons.
    pub const NOT_COMMA_SEPARATED: &str = "not_comma_separated";
    /// A required column is missing.
    pub const MISSING_COLUMN: &str = "missing_column";
    /// A column appears twice.
    pub const DUPLICATE_COLUMN: &str = "duplicate_column";
    /// No data rows.
    pub const NO_ROWS: &str = "no_rows";
    /// The file could not be read or is not a supported kind.
    pub const UNREADABLE: &str = "unreadable";
    /// The upload is older than the team keeps uploads: not read.
    pub const UPLOAD_EXPIRED: &str = "upload_expired";
    /// The class list's folder is not a 6-digit URN.
    pub const INVALID_URN: &str = "invalid_urn";
    /// A row has more or fewer cells than the header.
    pub const ROW_WIDTH: &str = "row_width";
    /// A cell is longer than 300 characters.
    pub const CELL_TOO_LONG: &str = "cell_too_long";
    /// A required cell is empty.
    pub const MISSING_VALUE: &str = "missing_value";
    /// A parent's relationship or preference is given without any name, email or phone.
    pub const PARENT_INCOMPLETE: &str = "parent_incomplete";
    /// Two rows describe the same child.
    pub const DUPLICATE_CHILD: &str = "duplicate_child";
    /// Warning: a column we do not read.
    pub const UNKNOWN_COLUMN: &str = "unknown_column";
    /// Warning: a landline, which never gets texts.
    pub const PHONE_NOT_MOBILE: &str = "phone_not_mobile";
    /// Warning: an O or I in a postcode was read as 0 or 1.
    pub const POSTCODE_CORRECTED: &str = "postcode_corrected";
    /// Warning: no parent email or mobile, so only letters can reach this child's family.
    pub const NO_ELECTRONIC_CONTACT: &str = "no_electronic_contact";
    /// Warning: both parents give the same email.
    pub const SHARED_EMAIL: &str = "shared_email";
    /// Warning: the file was read as Windows-1252.
    pub const WINDOWS_1252: &str = "windows_1252";
    /// A contact detail erased earlier (serious harm or a correction): not stored, never used.
    pub const DETAIL_ERASED: &str = "detail_erased";
    /// A setting names a secret outside its team's folder of the team secrets.
    pub const SECRET_OUTSIDE_TEAM: &str = "secret_outside_team";
    /// A setting names a secret in the team's folder whose name is not of its kind
    /// (`notify-api-key…`, `notify-callback-token…`): no function that needs it may read it.
    pub const SECRET_WRONG_KIND: &str = "secret_wrong_kind";
    /// A setting names a secret that does not exist or does not hold what it should.
    pub const SECRET_UNUSABLE: &str = "secret_unusable";
}

/// A file-level problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileIssue {
    /// One of [`codes`].
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FileIssue {
    /// A file issue with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A row-level error or warning. Column names and most messages are static text, so a file with
/// many warnings costs little memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Spreadsheet row (the header is 1); none for whole-file warnings.
    pub row: Option<u64>,
    /// The column, when one cell is at fault.
    pub column: Option<Cow<'static, str>>,
    /// One of [`codes`] or a field code such as `invalid_nhs_number`.
    pub code: &'static str,
    /// What is wrong and how to fix it; never the cell's value.
    pub message: Cow<'static, str>,
}

impl Issue {
    /// An issue at this row and column.
    pub fn new(
        row: u64,
        column: Option<impl Into<Cow<'static, str>>>,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            row: Some(row),
            column: column.map(Into::into),
            code,
            message: message.into(),
        }
    }
}

/// Whether the upload was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every row was valid and the file was (or, for `sais validate`, would be) written.
    Imported,
    /// Something was wrong; nothing was written.
    Rejected,
}

/// `report.json`, exactly as file-formats.md lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The upload's file name.
    pub file: String,
    /// `cohort`, `class-list`, ….
    pub kind: String,
    /// Imported or rejected.
    pub status: Status,
    /// How the bytes were read (`utf-8`, `utf-8-bom`, `windows-1252`).
    pub encoding: Option<String>,
    /// Data rows (blank and instruction rows excluded).
    pub rows: u64,
    /// Data rows without errors.
    pub rows_valid: u64,
    /// File-level errors.
    pub file_errors: Vec<FileIssue>,
    /// Row errors, in row order.
    pub errors: Vec<Issue>,
    /// Warnings, in row order.
    pub warnings: Vec<Issue>,
    /// When the report was made (RFC 3339, UTC).
    pub processed_at: String,
}

/// Prefixes a cell that a spreadsheet would run as a formula with `'`.
pub fn guard_formula(cell: &str) -> String {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

impl Report {
    /// The number of the process's exit code for `sais validate`: 0 imported, 1 row errors,
    /// 2 a file-level error.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Imported => 0,
            Status::Rejected if self.file_errors.is_empty() => 1,
            Status::Rejected => 2,
        }
    }

    /// `errors.csv`: `ROW,COLUMN,MESSAGE`, one line per file or row error, formula-guarded.
    pub fn errors_csv(&self) -> Vec<u8> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut write = |row: String, column: &str, message: &str| {
            // Writing to a Vec cannot fail.
            let _ = out.write_record([
                guard_formula(&row),
                guard_formula(column),
                guard_formula(message),
            ]);
        };
        write("ROW".into(), "COLUMN", "MESSAGE");
        for f in &self.file_errors {
            write(String::new(), "", &f.message);
        }
        for e in &self.errors {
            write(
                e.row.map(|r| r.to_string()).unwrap_or_default(),
                e.column.as_deref().unwrap_or(""),
                &e.message,
            );
        }
        out.into_inner().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_cells_are_defused() {
        for cell in ["=1+1", "+44", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(guard_formula(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(guard_formula("CHILD_NHS_NUMBER"), "CHILD_NHS_NUMBER");
    }

    #[test]
    fn errors_csv_has_a_header_and_one_line_per_error() {
        let report = Report {
            file: "f.csv".into(),
            kind: "cohort".into(),
            status: Status::Rejected,
            encoding: Some("utf-8".into()),
            rows: 1,
            rows_valid: 0,
            file_errors: vec![],
            errors: vec![Issue::new(
                2,
                Some("CHILD_NHS_NUMBER"),
                "invalid_nhs_number",
                "=CHILD_NHS_NUMBER should be a valid 10-digit NHS number",
            )],
            warnings: vec![],
            processed_at: "2026-11-21T10:00:00Z".into(),
        };
        let text = String::from_utf8(report.errors_csv()).unwrap();
        assert_eq!(
            text,
            "ROW,COLUMN,MESSAGE\n2,CHILD_NHS_NUMBER,'=CHILD_NHS_NUMBER should be a valid 10-digit NHS number\n"
        );
        assert_eq!(report.exit_code(), 1);
    }
}
