//! Consent responses and vaccinations (`<team>/responses/*.csv`, file-formats.md): which child
//! (NHS number, or names, date of birth and postcode), which programme, what happened.
//!
//! Validation is pure and streams like the child files; matching rows to children needs the
//! table and happens in the ingest function, where a row that matches no child is a warning
//! (`unknown_child`), not an error.

use std::io::Read;

use time::Date;

use super::csv_file::{Header, HeaderCheck, Row, RowVisitor, TextEncoding, read_pass};
use super::report::{FileIssue, Issue, Report, codes};
use super::{RowsOutcome, read_with_fallback};
use crate::domain::{DateOfBirth, Invalid, NhsNumber, PersonName, Postcode};
use crate::files::campaign_file::PROGRAMMES;

/// The outcomes a response row may record.
pub const OUTCOMES: &[&str] = &[
    "consent_given",
    "consent_refused",
    "vaccinated",
    "already_vaccinated",
    "not_eligible",
];

/// Codes for response rows beyond the CSV ones.
pub mod response_codes {
    /// Not one of the programmes.
    pub const INVALID_PROGRAMME: &str = "invalid_programme";
    /// Not one of the outcomes.
    pub const INVALID_OUTCOME: &str = "invalid_outcome";
    /// Not a real date, or in the future.
    pub const INVALID_DATE: &str = "invalid_date";
    /// Warning: no child in the service matches the row.
    pub const UNKNOWN_CHILD: &str = "unknown_child";
}

use response_codes::*;

const NHS_NUMBER: &str = "CHILD_NHS_NUMBER";
const FIRST_NAME: &str = "CHILD_FIRST_NAME";
const LAST_NAME: &str = "CHILD_LAST_NAME";
const DATE_OF_BIRTH: &str = "CHILD_DATE_OF_BIRTH";
const POSTCODE: &str = "CHILD_POSTCODE";
const PROGRAMME: &str = "PROGRAMME";
const OUTCOME: &str = "OUTCOME";
const DATE: &str = "DATE";
const MATCH_COLUMNS: [&str; 4] = [FIRST_NAME, LAST_NAME, DATE_OF_BIRTH, POSTCODE];

/// How a response row names its child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildMatch {
    /// By NHS number.
    Nhs(NhsNumber),
    /// By the four details, as the store compares them: names lower-case, the date ISO, the
    /// postcode normalised.
    Details {
        /// First name, lower-case.
        first_name: String,
        /// Last name, lower-case.
        last_name: String,
        /// Date of birth, `YYYY-MM-DD`.
        date_of_birth: String,
        /// Postcode, `SW1A 1AA`.
        postcode: String,
    },
}

/// One valid response row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRow {
    /// The spreadsheet row.
    pub row: u64,
    /// Which child.
    pub child: ChildMatch,
    /// `hpv`, `flu`, …
    pub programme: &'static str,
    /// `consent_given`, …
    pub outcome: &'static str,
    /// When, if given.
    pub date: Option<Date>,
}

/// Reads which child a row names from its cells (`CHILD_NHS_NUMBER`, then the four match
/// columns): by NHS number when given, else by all four details. Errors go to `errors`.
pub(crate) fn read_child_match(
    n: u64,
    cells: [&str; 5],
    today: Date,
    errors: &mut Vec<Issue>,
) -> Option<ChildMatch> {
    let invalid = |column: &'static str, why: Invalid| {
        error(
            n,
            column,
            why.code,
            format!("{column} should be {}", why.expected),
        )
    };
    if !cells[0].is_empty() {
        return match NhsNumber::parse(cells[0]) {
            Ok(nhs) => Some(ChildMatch::Nhs(nhs)),
            Err(e) => {
                errors.push(invalid(NHS_NUMBER, e));
                None
            }
        };
    }
    let before = errors.len();
    for (i, column) in MATCH_COLUMNS.iter().enumerate() {
        if cells[i + 1].is_empty() {
            errors.push(error(
                n,
                column,
                codes::MISSING_VALUE,
                format!("{column} is empty; without an NHS number the child is matched by first name, last name, date of birth and postcode"),
            ));
        }
    }
    let first = PersonName::parse(cells[1]).map_err(|e| invalid(FIRST_NAME, e));
    let last = PersonName::parse(cells[2]).map_err(|e| invalid(LAST_NAME, e));
    let dob = DateOfBirth::parse(cells[3], today).map_err(|e| invalid(DATE_OF_BIRTH, e));
    let postcode = Postcode::parse(cells[4]).map_err(|e| invalid(POSTCODE, e));
    match (first, last, dob, postcode) {
        (Ok(f), Ok(l), Ok(d), Ok(p)) => Some(ChildMatch::Details {
            first_name: f.as_str().to_lowercase(),
            last_name: l.as_str().to_lowercase(),
            date_of_birth: d.as_iso(),
            postcode: p.value.as_str().to_owned(),
        }),
        (f, l, d, p) => {
            if errors.len() == before {
                errors.extend(f.err());
                errors.extend(l.err());
                errors.extend(d.err());
                errors.extend(p.err());
            }
            None
        }
    }
}

/// The child-matching columns, in the order [`read_child_match`] takes their cells.
pub(crate) const CHILD_MATCH_COLUMNS: [&str; 5] =
    [NHS_NUMBER, FIRST_NAME, LAST_NAME, DATE_OF_BIRTH, POSTCODE];

/// Checks response rows and hands each valid one to `sink`.
pub struct ResponsesValidator<S: FnMut(ResponseRow)> {
    today: Date,
    columns: [Option<usize>; 8],
    outcome: RowsOutcome,
    sink: S,
}

impl<S: FnMut(ResponseRow)> ResponsesValidator<S> {
    /// A validator judging dates on `today`.
    pub fn new(today: Date, sink: S) -> Self {
        Self {
            today,
            columns: [None; 8],
            outcome: RowsOutcome::default(),
            sink,
        }
    }

    /// What was found, in row order.
    pub fn finish(mut self) -> RowsOutcome {
        self.outcome.errors.sort_by_key(|e| e.row);
        self.outcome.warnings.sort_by_key(|w| w.row);
        let mut rows = 0;
        let mut last = None;
        for e in &self.outcome.errors {
            if e.row != last {
                rows += 1;
                last = e.row;
            }
        }
        self.outcome.rows_with_errors = rows;
        self.outcome
    }
}

fn error(row: u64, column: &'static str, code: &'static str, message: String) -> Issue {
    Issue::new(row, Some(column), code, message)
}

impl<S: FnMut(ResponseRow)> RowVisitor for ResponsesValidator<S> {
    fn header(&mut self, header: &Header) -> HeaderCheck {
        let mut check = HeaderCheck::default();
        let names = [
            NHS_NUMBER,
            FIRST_NAME,
            LAST_NAME,
            DATE_OF_BIRTH,
            POSTCODE,
            PROGRAMME,
            OUTCOME,
            DATE,
        ];
        for (i, name) in names.iter().enumerate() {
            self.columns[i] = header.position(name);
        }
        for required in [PROGRAMME, OUTCOME] {
            if header.position(required).is_none() {
                check.file_errors.push(FileIssue::new(
                    codes::MISSING_COLUMN,
                    format!("The column {required} is missing; add it to the header row"),
                ));
            }
        }
        if header.position(NHS_NUMBER).is_none() {
            for name in MATCH_COLUMNS {
                if header.position(name).is_none() {
                    check.file_errors.push(FileIssue::new(
                        codes::MISSING_COLUMN,
                        format!("The column {name} is missing; without CHILD_NHS_NUMBER, children are matched by first name, last name, date of birth and postcode"),
                    ));
                }
            }
        }
        for name in header.names() {
            if !name.is_empty() && !names.contains(&name.as_str()) {
                check.warnings.push(Issue::new(
                    1,
                    Some(name.clone()),
                    codes::UNKNOWN_COLUMN,
                    format!("The column {name} is not one we read; its values are ignored"),
                ));
            }
        }
        check
    }

    fn row(&mut self, row: &Row<'_>) {
        let n = row.number;
        let get = |i: usize| row.get(self.columns[i]);
        let mut errors = Vec::new();
        let child = read_child_match(
            n,
            [get(0), get(1), get(2), get(3), get(4)],
            self.today,
            &mut errors,
        );

        let programme = PROGRAMMES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(get(5)))
            .copied();
        if programme.is_none() {
            errors.push(if get(5).is_empty() {
                error(
                    n,
                    PROGRAMME,
                    codes::MISSING_VALUE,
                    "PROGRAMME is empty; give hpv, flu, menacwy, td_ipv or mmr".into(),
                )
            } else {
                error(
                    n,
                    PROGRAMME,
                    INVALID_PROGRAMME,
                    "PROGRAMME should be one of hpv, flu, menacwy, td_ipv, mmr".into(),
                )
            });
        }
        let outcome = OUTCOMES
            .iter()
            .find(|o| o.eq_ignore_ascii_case(get(6)))
            .copied();
        if outcome.is_none() {
            errors.push(error(
                n,
                OUTCOME,
                if get(6).is_empty() {
                    codes::MISSING_VALUE
                } else {
                    INVALID_OUTCOME
                },
                format!("OUTCOME should be one of {}", OUTCOMES.join(", ")),
            ));
        }
        let date = match get(7) {
            "" => None,
            text => match DateOfBirth::parse(text, self.today) {
                // The same formats and "not in the future" rule as a date of birth.
                Ok(d) => Some(d.date()),
                Err(_) => {
                    errors.push(error(
                        n,
                        DATE,
                        INVALID_DATE,
                        "DATE should be a real date (YYYY-MM-DD or DD/MM/YYYY), not in the future"
                            .into(),
                    ));
                    None
                }
            },
        };

        match (child, programme, outcome) {
            (Some(child), Some(programme), Some(outcome)) if errors.is_empty() => {
                (self.sink)(ResponseRow {
                    row: n,
                    child,
                    programme,
                    outcome,
                    date,
                });
            }
            _ => self.outcome.errors.extend(errors),
        }
    }

    fn row_error(&mut self, issue: Issue) {
        self.outcome.errors.push(issue);
    }
}

/// Validates a responses file, calling `sink` with every valid row, and reports (without the
/// `unknown_child` warnings, which need the table). Passes work as in
/// [`super::validate_child_file`].
pub fn validate_responses_file<R, O>(
    file: &str,
    today: Date,
    encoding: Option<TextEncoding>,
    open: O,
    mut sink: impl FnMut(ResponseRow),
) -> Report
where
    R: Read,
    O: FnMut() -> std::io::Result<R>,
{
    read_with_fallback(file, "responses", encoding, open, |input, encoding| {
        let mut validator = ResponsesValidator::new(today, &mut sink);
        let summary = read_pass(input, encoding, &mut validator)?;
        Ok((summary, validator.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::report::Status;
    use time::macros::date;

    fn run(csv: &str) -> (Report, Vec<ResponseRow>) {
        let mut rows = Vec::new();
        let report = validate_responses_file(
            "r.csv",
            date!(2026 - 11 - 30),
            None,
            || Ok(csv.as_bytes()),
            |r| rows.push(r),
        );
        (report, rows)
    }

    #[test]
    fn rows_match_by_nhs_number_or_by_the_four_details() {
        let (report, rows) = run(
            "CHILD_NHS_NUMBER,CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,PROGRAMME,OUTCOME,DATE\n\
             999 000 0018,,,,,HPV,Consent_Given,2026-11-20\n\
             ,Ava,SMITH,01/05/2013,sw1a1aa,flu,vaccinated,\n",
        );
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        assert_eq!(
            rows[0].child,
            ChildMatch::Nhs(NhsNumber::parse("9990000018").unwrap())
        );
        assert_eq!(
            (rows[0].programme, rows[0].outcome),
            ("hpv", "consent_given")
        );
        assert_eq!(rows[0].date, Some(date!(2026 - 11 - 20)));
        assert_eq!(
            rows[1].child,
            ChildMatch::Details {
                first_name: "ava".into(),
                last_name: "smith".into(),
                date_of_birth: "2013-05-01".into(),
                postcode: "SW1A 1AA".into()
            }
        );
    }

    #[test]
    fn bad_rows_reject_the_file_with_each_problem_named() {
        let (report, rows) = run(
            "CHILD_NHS_NUMBER,CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,PROGRAMME,OUTCOME,DATE\n\
             9990000017,,,,,hpv,consent_given,\n\
             ,Ava,,2013-05-01,SW1A 1AA,hpv,consent_given,\n\
             9990000018,,,,,covid,maybe,2099-01-01\n",
        );
        assert_eq!(report.status, Status::Rejected);
        assert!(rows.is_empty(), "no row of a rejected file is handed on");
        let got: Vec<(Option<u64>, &str)> = report.errors.iter().map(|e| (e.row, e.code)).collect();
        assert_eq!(
            got,
            [
                (Some(2), "invalid_nhs_number"),
                (Some(3), codes::MISSING_VALUE),
                (Some(4), INVALID_PROGRAMME),
                (Some(4), INVALID_OUTCOME),
                (Some(4), INVALID_DATE),
            ]
        );
    }

    #[test]
    fn without_an_nhs_number_column_the_four_match_columns_are_required() {
        let (report, _) = run("CHILD_FIRST_NAME,PROGRAMME,OUTCOME\nAva,hpv,vaccinated\n");
        let missing: Vec<&str> = report.file_errors.iter().map(|e| e.code).collect();
        assert_eq!(missing, [codes::MISSING_COLUMN; 3]);
    }
}
