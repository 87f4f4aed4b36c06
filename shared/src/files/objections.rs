//! Objections (`<team>/objections/*.csv`, file-formats.md): a parent or carer objects to some or
//! all contact. Each row names the child (NHS number, or the four match columns), optionally
//! the parent (by email or phone), the scope, the reason and who recorded it; `ACTION=withdraw`
//! lifts an objection. The reason is stored for the audit trail and never logged.

use std::io::Read;

use time::Date;

use super::csv_file::{Header, HeaderCheck, Row, RowVisitor, TextEncoding, read_pass};
use super::report::{FileIssue, Issue, Report, codes};
use super::responses::{CHILD_MATCH_COLUMNS, ChildMatch, read_child_match};
use super::{RowsOutcome, read_with_fallback};
use crate::domain::ContactDetail;
use crate::domain::{DateOfBirth, EmailAddress, PhoneNumber, parse_flag};

/// Codes for objection rows beyond the CSV ones.
pub mod objection_codes {
    /// Not one of `all`, `email`, `text`, `letter`, `electronic`.
    pub const INVALID_SCOPE: &str = "invalid_scope";
    /// Not `add` or `withdraw`.
    pub const INVALID_ACTION: &str = "invalid_action";
    /// Both a parent email and a parent phone: one row names one detail.
    pub const AMBIGUOUS_PARENT: &str = "ambiguous_parent";
    /// Serious harm needs the detail to erase.
    pub const SERIOUS_HARM_NEEDS_DETAIL: &str = "serious_harm_needs_detail";
}

use objection_codes::*;

/// Scopes an objection may have.
pub const SCOPES: &[&str] = &["all", "email", "text", "letter", "electronic"];

const PARENT_EMAIL: &str = "PARENT_EMAIL";
const PARENT_PHONE: &str = "PARENT_PHONE";
const SCOPE: &str = "SCOPE";
const REASON: &str = "REASON";
const RECORDED_BY: &str = "RECORDED_BY";
const SERIOUS_HARM: &str = "SERIOUS_HARM";
const ACTION: &str = "ACTION";
const DATE: &str = "DATE";

/// One valid objection row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionRow {
    /// The spreadsheet row.
    pub row: u64,
    /// Which child.
    pub child: ChildMatch,
    /// The parent's detail as stored (`email:…` or `phone:+44…`), or `None` for every parent.
    pub parent_detail: Option<String>,
    /// `all`, `email`, `text`, `letter` or `electronic`.
    pub scope: &'static str,
    /// Why (stored, never logged).
    pub reason: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// Erase the named detail entirely.
    pub serious_harm: bool,
    /// `withdraw` rather than `add`.
    pub withdraw: bool,
    /// When, if given.
    pub date: Option<Date>,
}

/// Checks objection rows and hands each valid one to `sink`.
pub struct ObjectionsValidator<S: FnMut(ObjectionRow)> {
    today: Date,
    columns: [Option<usize>; 13],
    outcome: RowsOutcome,
    sink: S,
}

const NAMES: [&str; 13] = [
    CHILD_MATCH_COLUMNS[0],
    CHILD_MATCH_COLUMNS[1],
    CHILD_MATCH_COLUMNS[2],
    CHILD_MATCH_COLUMNS[3],
    CHILD_MATCH_COLUMNS[4],
    PARENT_EMAIL,
    PARENT_PHONE,
    SCOPE,
    REASON,
    RECORDED_BY,
    SERIOUS_HARM,
    ACTION,
    DATE,
];

impl<S: FnMut(ObjectionRow)> ObjectionsValidator<S> {
    /// A validator judging dates on `today`.
    pub fn new(today: Date, sink: S) -> Self {
        Self {
            today,
            columns: [None; 13],
            outcome: RowsOutcome::default(),
            sink,
        }
    }

    /// What was found, in row order.
    pub fn finish(mut self) -> RowsOutcome {
        self.outcome.errors.sort_by_key(|e| e.row);
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

fn issue(row: u64, column: &'static str, code: &'static str, message: &str) -> Issue {
    Issue::new(row, Some(column), code, message.to_owned())
}

impl<S: FnMut(ObjectionRow)> RowVisitor for ObjectionsValidator<S> {
    fn header(&mut self, header: &Header) -> HeaderCheck {
        let mut check = HeaderCheck::default();
        for (i, name) in NAMES.iter().enumerate() {
            self.columns[i] = header.position(name);
        }
        let mut required = vec![SCOPE, REASON, RECORDED_BY];
        if header.position(CHILD_MATCH_COLUMNS[0]).is_none() {
            required.extend(&CHILD_MATCH_COLUMNS[1..]);
        }
        for name in required {
            if header.position(name).is_none() {
                check.file_errors.push(FileIssue::new(
                    codes::MISSING_COLUMN,
                    format!("The column {name} is missing; add it to the header row"),
                ));
            }
        }
        for name in header.names() {
            if !name.is_empty() && !NAMES.contains(&name.as_str()) {
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
        let parent_detail = match (get(5), get(6)) {
            ("", "") => None,
            (email, "") => match EmailAddress::parse(email) {
                Ok(e) => Some(ContactDetail::email(&e).key()),
                Err(_) => {
                    errors.push(issue(
                        n,
                        PARENT_EMAIL,
                        "invalid_email",
                        "PARENT_EMAIL should be a valid email address such as name@example.com",
                    ));
                    None
                }
            },
            ("", phone) => match PhoneNumber::parse(phone) {
                Ok(p) => Some(ContactDetail::phone(&p).key()),
                Err(_) => {
                    errors.push(issue(
                        n,
                        PARENT_PHONE,
                        "invalid_phone",
                        "PARENT_PHONE should be a valid phone number such as 07700 900123",
                    ));
                    None
                }
            },
            _ => {
                errors.push(issue(n, PARENT_EMAIL, AMBIGUOUS_PARENT, "Give PARENT_EMAIL or PARENT_PHONE, not both: one row names one contact detail (use two rows for both)"));
                None
            }
        };
        let scope = SCOPES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(get(7)))
            .copied();
        if scope.is_none() {
            errors.push(issue(
                n,
                SCOPE,
                INVALID_SCOPE,
                "SCOPE should be one of all, email, text, letter, electronic",
            ));
        }
        for (i, column) in [(8, REASON), (9, RECORDED_BY)] {
            if get(i).is_empty() {
                errors.push(issue(
                    n,
                    column,
                    codes::MISSING_VALUE,
                    &format!("{column} is empty; every objection records it"),
                ));
            }
        }
        let serious_harm = match get(10) {
            "" => false,
            flag => parse_flag(flag).unwrap_or_else(|_| {
                errors.push(issue(
                    n,
                    SERIOUS_HARM,
                    "invalid_flag",
                    "SERIOUS_HARM should be Y or N",
                ));
                false
            }),
        };
        if serious_harm && parent_detail.is_none() && get(5).is_empty() && get(6).is_empty() {
            errors.push(issue(n, SERIOUS_HARM, SERIOUS_HARM_NEEDS_DETAIL, "A serious-harm objection erases a contact detail: give the PARENT_EMAIL or PARENT_PHONE to erase"));
        }
        let withdraw = match get(11).to_ascii_lowercase().as_str() {
            "" | "add" => false,
            "withdraw" => true,
            _ => {
                errors.push(issue(
                    n,
                    ACTION,
                    INVALID_ACTION,
                    "ACTION should be add or withdraw",
                ));
                false
            }
        };
        let date = match get(12) {
            "" => None,
            text => {
                match DateOfBirth::parse(text, self.today) {
                    Ok(d) => Some(d.date()),
                    Err(_) => {
                        errors.push(issue(n, DATE, "invalid_date", "DATE should be a real date (YYYY-MM-DD or DD/MM/YYYY), not in the future"));
                        None
                    }
                }
            }
        };
        match (child, scope) {
            (Some(child), Some(scope)) if errors.is_empty() => (self.sink)(ObjectionRow {
                row: n,
                child,
                parent_detail,
                scope,
                reason: get(8).to_owned(),
                recorded_by: get(9).to_owned(),
                serious_harm,
                withdraw,
                date,
            }),
            _ => self.outcome.errors.extend(errors),
        }
    }

    fn row_error(&mut self, issue: Issue) {
        self.outcome.errors.push(issue);
    }
}

/// Validates an objections file, calling `sink` with every valid row, and reports. Passes work
/// as in [`super::validate_child_file`].
pub fn validate_objections_file<R, O>(
    file: &str,
    today: Date,
    encoding: Option<TextEncoding>,
    open: O,
    mut sink: impl FnMut(ObjectionRow),
) -> Report
where
    R: Read,
    O: FnMut() -> std::io::Result<R>,
{
    read_with_fallback(file, "objections", encoding, open, |input, encoding| {
        let mut validator = ObjectionsValidator::new(today, &mut sink);
        let summary = read_pass(input, encoding, &mut validator)?;
        Ok((summary, validator.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::report::Status;
    use time::macros::date;

    fn run(csv: &str) -> (Report, Vec<ObjectionRow>) {
        let mut rows = Vec::new();
        let report = validate_objections_file(
            "o.csv",
            date!(2026 - 11 - 30),
            None,
            || Ok(csv.as_bytes()),
            |r| rows.push(r),
        );
        (report, rows)
    }

    #[test]
    fn objections_name_the_child_the_parent_the_scope_and_who_recorded_them() {
        let (report, rows) = run(
            "CHILD_NHS_NUMBER,PARENT_EMAIL,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,SERIOUS_HARM,ACTION\n\
             9990000018,,07700 900123,Text,Does not want texts,J Bloggs,,\n\
             9990000026,,,all,Moved away,J Bloggs,N,withdraw\n\
             9990000034,X@Example.com,,electronic,Safeguarding,J Bloggs,Y,add\n",
        );
        assert_eq!(report.status, Status::Imported, "{:?}", report.errors);
        assert_eq!(
            rows[0].parent_detail.as_deref(),
            Some("phone:+447700900123")
        );
        assert_eq!(rows[0].scope, "text");
        assert!(rows[1].withdraw && rows[1].parent_detail.is_none());
        assert!(rows[2].serious_harm);
        assert_eq!(
            rows[2].parent_detail.as_deref(),
            Some("email:x@example.com")
        );
    }

    #[test]
    fn incomplete_objections_are_rejected_row_by_row() {
        let (report, rows) = run(
            "CHILD_NHS_NUMBER,PARENT_EMAIL,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,SERIOUS_HARM,ACTION\n\
             9990000018,,,sms,,J Bloggs,,\n\
             9990000026,a@example.com,07700 900123,all,Why,J Bloggs,,\n\
             9990000034,,,all,Why,,Y,delete\n",
        );
        assert!(rows.is_empty());
        let got: Vec<(Option<u64>, &str)> = report.errors.iter().map(|e| (e.row, e.code)).collect();
        assert_eq!(
            got,
            [
                (Some(2), INVALID_SCOPE),
                (Some(2), codes::MISSING_VALUE),
                (Some(3), AMBIGUOUS_PARENT),
                (Some(4), codes::MISSING_VALUE),
                (Some(4), SERIOUS_HARM_NEEDS_DETAIL),
                (Some(4), INVALID_ACTION),
            ]
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(!text.contains("a@example.com"), "values are never repeated");
    }
}
