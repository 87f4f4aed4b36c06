//! NHS England's Mavis test files (MIT, `data/mavis/LICENCE`) give the outcomes their README
//! states: the files teams already make are read the way they expect.

use std::path::PathBuf;

use sais_shared::domain::SchoolUrn;
use sais_shared::files::children::{ChildFileKind, ChildRow};
use sais_shared::files::csv_file::TextEncoding;
use sais_shared::files::report::{Report, Status};
use sais_shared::files::validate_child_file;
use time::macros::date;

fn path(folder: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/mavis")
        .join(folder)
        .join(file)
}

fn check(folder: &str, file: &str) -> (Report, Vec<ChildRow>) {
    let kind = if folder == "cohort_import" {
        ChildFileKind::Cohort
    } else {
        ChildFileKind::ClassList {
            urn: SchoolUrn::parse("123456").unwrap(),
        }
    };
    let p = path(folder, file);
    let today = date!(2026 - 11 - 21);
    // As ingest does: validate, then read again with the encoding found to collect the rows.
    let report = validate_child_file(file, &kind, today, None, || std::fs::File::open(&p), |_| {});
    let encoding = report.encoding.as_deref().and_then(TextEncoding::from_name);
    let mut rows = Vec::new();
    let again = validate_child_file(
        file,
        &kind,
        today,
        encoding,
        || std::fs::File::open(&p),
        |row| rows.push(row),
    );
    assert_eq!(again.status, report.status, "both passes agree");
    (report, rows)
}

fn assert_imported(folder: &str, file: &str, children: usize) -> Report {
    let (report, rows) = check(folder, file);
    assert_eq!(
        report.status,
        Status::Imported,
        "{folder}/{file}: {:#?}",
        report.errors
    );
    assert_eq!(report.rows_valid as usize, children, "{folder}/{file}");
    // A rejected-first UTF-8 pass may hand rows twice; the valid files here are read once.
    assert_eq!(rows.len(), children, "{folder}/{file}");
    report
}

fn error_codes(report: &Report) -> Vec<(u64, Option<String>, &'static str)> {
    report
        .errors
        .iter()
        .map(|e| {
            (
                e.row.unwrap_or(0),
                e.column.as_deref().map(str::to_owned),
                e.code,
            )
        })
        .collect()
}

fn assert_rejected_with(folder: &str, file: &str, expected: &[(u64, Option<&str>, &str)]) {
    let (report, _) = check(folder, file);
    assert_eq!(report.status, Status::Rejected, "{folder}/{file}");
    let got = error_codes(&report);
    for (row, column, code) in expected {
        assert!(
            got.iter()
                .any(|(r, c, k)| r == row && c.as_deref() == *column && k == code),
            "{folder}/{file}: expected row {row} {column:?} {code}; got {got:#?}"
        );
    }
}

fn assert_file_error(folder: &str, file: &str, code: &str) {
    let (report, rows) = check(folder, file);
    assert_eq!(report.status, Status::Rejected);
    assert_eq!(
        report
            .file_errors
            .iter()
            .map(|e| e.code)
            .collect::<Vec<_>>(),
        [code],
        "{folder}/{file}"
    );
    assert!(rows.is_empty(), "a file error means no rows are read");
    assert_eq!(report.exit_code(), 2);
}

fn warning_columns(report: &Report, code: &str) -> Vec<String> {
    report
        .warnings
        .iter()
        .filter(|w| w.code == code)
        .filter_map(|w| w.column.as_deref().map(str::to_owned))
        .collect()
}

const COHORT: &str = "cohort_import";
const CLASS: &str = "class_import";

#[test]
fn the_valid_cohort_files_are_imported() {
    let r = assert_imported(COHORT, "valid.csv", 3);
    assert_eq!(
        warning_columns(&r, "unknown_column"),
        ["CHILD_PREFERRED_GIVEN_NAME"]
    );
    assert_imported(COHORT, "valid_minimal.csv", 1);
    let r = assert_imported(COHORT, "valid_extra_fields.csv", 3);
    let mut unknown = warning_columns(&r, "unknown_column");
    unknown.sort();
    assert_eq!(
        unknown,
        ["CHILD_PREFERRED_GIVEN_NAME", "SCHOOL_NAME", "YEAR"]
    );
    assert_imported(COHORT, "valid_with_bom.csv", 1);
    assert_imported(COHORT, "valid_unknown_school.csv", 2);
    assert_imported(COHORT, "valid_with_duplicates.csv", 4);
    assert_imported(COHORT, "valid_with_changes.csv", 1);
    assert_imported(COHORT, "duplicate_except_postcode.csv", 1);
}

#[test]
fn an_instruction_row_is_skipped_and_numbering_follows_the_spreadsheet() {
    let (report, rows) = check(COHORT, "valid_instruction_row.csv");
    assert_eq!(report.status, Status::Imported);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 3);
}

#[test]
fn a_windows_1252_cohort_is_read_as_such_with_its_postcode_corrected() {
    let (report, rows) = check(COHORT, "valid_iso_8859_1_encoding.csv");
    assert_eq!(report.status, Status::Imported, "{:#?}", report.errors);
    assert_eq!(rows.len(), 16);
    assert_eq!(report.encoding.as_deref(), Some("windows-1252"));
    assert!(report.warnings.iter().any(|w| w.code == "windows_1252"));
    assert!(
        rows.iter().any(|r| r.last_name.as_str() == "Jalapeño-Pérez"
            || r.first_name.as_str() == "Jalapeño-Pérez"),
        "the accented name is decoded"
    );
    assert!(
        rows.iter().any(|r| r
            .address
            .postcode
            .as_ref()
            .is_some_and(|p| p.as_str() == "ST1 0QS")),
        "st1 oqs is read as ST1 0QS"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.code == "postcode_corrected")
    );
}

#[test]
fn landlines_in_the_pds_file_are_kept_with_a_warning() {
    let r = assert_imported(COHORT, "pds_extravaganza.csv", 10);
    assert!(r.warnings.iter().any(|w| w.code == "phone_not_mobile"));
}

#[test]
fn the_invalid_cohort_files_are_rejected_for_the_right_reasons() {
    assert_rejected_with(
        COHORT,
        "invalid_minimal.csv",
        &[(2, Some("CHILD_DATE_OF_BIRTH"), "missing_value")],
    );
    assert_rejected_with(
        COHORT,
        "invalid_instruction_row.csv",
        &[(3, Some("CHILD_DATE_OF_BIRTH"), "missing_value")],
    );
    assert_rejected_with(
        COHORT,
        "invalid_iso_8859_1_encoding.csv",
        &[(2, None, "row_width")],
    );
    assert_rejected_with(
        COHORT,
        "duplicate_nhs_numbers.csv",
        &[(2, None, "duplicate_child"), (3, None, "duplicate_child")],
    );
    let dup = |r| (r, None, "duplicate_child");
    assert_rejected_with(
        COHORT,
        "pds_extravaganza_invalid.csv",
        &[dup(4), dup(5), dup(12), dup(13)],
    );
    let (report, _) = check(COHORT, "pds_extravaganza_invalid.csv");
    let dup_rows: Vec<u64> = report
        .errors
        .iter()
        .filter(|e| e.code == "duplicate_child")
        .filter_map(|e| e.row)
        .collect();
    assert_eq!(dup_rows, [4, 5, 12, 13]);
    assert_rejected_with(
        COHORT,
        "invalid_fields.csv",
        &[
            (3, Some("CHILD_SCHOOL_URN"), "missing_value"),
            (8, Some("CHILD_FIRST_NAME"), "missing_value"),
            (9, Some("CHILD_LAST_NAME"), "missing_value"),
            (10, Some("CHILD_DATE_OF_BIRTH"), "missing_value"),
            (13, Some("CHILD_POSTCODE"), "missing_value"),
            (15, Some("CHILD_SCHOOL_URN"), "invalid_urn"),
            (16, Some("PARENT_1_EMAIL"), "invalid_email"),
            (17, Some("PARENT_1_PHONE"), "invalid_phone"),
            (18, Some("CHILD_DATE_OF_BIRTH"), "invalid_date_of_birth"),
            (19, Some("CHILD_POSTCODE"), "invalid_postcode"),
            (20, Some("CHILD_NHS_NUMBER"), "invalid_nhs_number"),
            (21, Some("CHILD_FIRST_NAME"), "invalid_name"),
            (22, Some("CHILD_LAST_NAME"), "invalid_name"),
        ],
    );
    assert!(
        check(COHORT, "invalid_fields.csv")
            .0
            .errors
            .iter()
            .any(|e| e.code == "duplicate_child")
    );
}

#[test]
fn empty_and_malformed_cohort_files_are_file_errors() {
    assert_file_error(COHORT, "empty.csv", "no_rows");
    assert_file_error(COHORT, "malformed.csv", "not_comma_separated");
}

#[test]
fn the_valid_class_lists_are_imported() {
    assert_imported(CLASS, "valid.csv", 4);
    assert_imported(CLASS, "valid_minimal.csv", 1);
    let (report, rows) = check(CLASS, "valid_instruction_row.csv");
    assert_eq!(report.status, Status::Imported);
    assert_eq!(rows.len(), 1);
    assert_imported(CLASS, "valid_with_bom.csv", 1);
    let r = assert_imported(CLASS, "valid_extra_fields.csv", 3);
    assert!(!warning_columns(&r, "unknown_column").is_empty());
    assert_imported(CLASS, "duplicates.csv", 3);
    assert_imported(CLASS, "pds_extravaganza.csv", 1);
    assert_imported(CLASS, "review_one.csv", 4);
    assert_imported(CLASS, "review_one_new_patient.csv", 1);
    assert_imported(CLASS, "review_two.csv", 5);
}

#[test]
fn every_class_list_child_belongs_to_the_folders_school() {
    let (_, rows) = check(CLASS, "valid.csv");
    assert!(rows.iter().all(|r| r.school_urn.as_str() == "123456"));
}

#[test]
fn the_invalid_class_lists_are_rejected_for_the_right_reasons() {
    assert_rejected_with(
        CLASS,
        "invalid_minimal.csv",
        &[(2, Some("CHILD_DATE_OF_BIRTH"), "missing_value")],
    );
    assert_rejected_with(
        CLASS,
        "invalid_instruction_row.csv",
        &[(3, Some("CHILD_DATE_OF_BIRTH"), "missing_value")],
    );
    assert_rejected_with(
        CLASS,
        "invalid_fields.csv",
        &[
            (3, Some("CHILD_LAST_NAME"), "missing_value"),
            (8, Some("CHILD_FIRST_NAME"), "missing_value"),
            (9, Some("CHILD_DATE_OF_BIRTH"), "missing_value"),
            (14, Some("PARENT_1_EMAIL"), "invalid_email"),
            (15, Some("PARENT_1_PHONE"), "invalid_phone"),
            (16, Some("CHILD_DATE_OF_BIRTH"), "invalid_date_of_birth"),
            (17, Some("CHILD_POSTCODE"), "invalid_postcode"),
            (18, Some("CHILD_NHS_NUMBER"), "invalid_nhs_number"),
        ],
    );
    let (report, _) = check(CLASS, "invalid_fields.csv");
    for column in ["CHILD_ADDRESS_LINE_1", "CHILD_TOWN"] {
        assert!(
            !report
                .errors
                .iter()
                .any(|e| e.column.as_deref() == Some(column) && e.code == "missing_value"),
            "a blank {column} is fine in a class list"
        );
    }
    assert!(
        !report
            .errors
            .iter()
            .any(|e| e.column.as_deref() == Some("CHILD_POSTCODE") && e.code == "missing_value")
    );
}

#[test]
fn empty_and_malformed_class_lists_are_file_errors() {
    assert_file_error(CLASS, "empty.csv", "no_rows");
    assert_file_error(CLASS, "malformed.csv", "not_comma_separated");
}

#[test]
fn no_message_repeats_the_value_of_the_cell_it_is_about() {
    for (folder, file) in [
        (COHORT, "invalid_fields.csv"),
        (CLASS, "invalid_fields.csv"),
    ] {
        let (report, _) = check(folder, file);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path(folder, file))
            .expect("file");
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        let header: Vec<String> = records[0].iter().map(|h| h.trim().to_uppercase()).collect();
        let mut checked = 0;
        for e in &report.errors {
            let (Some(row), Some(column)) = (e.row, e.column.as_deref()) else {
                continue;
            };
            let Some(col) = header.iter().position(|h| h == column) else {
                continue;
            };
            let value = records[(row - 1) as usize].get(col).unwrap_or("").trim();
            if value.len() > 2 {
                checked += 1;
                assert!(
                    !e.message.contains(value),
                    "{file} row {row}: message {:?} repeats the cell's value",
                    e.message
                );
            }
        }
        assert!(
            checked >= 3,
            "{file}: only {checked} errors had a value to check"
        );
    }
}
