//! Cohort (CHIS extract) and class-list files: the columns, the field rules, duplicate children
//! across the whole file, and the normalised record each valid row becomes.

use arrayvec::ArrayVec;
use serde::Serialize;
use time::Date;

use super::csv_file::{Header, HeaderCheck, Row, RowVisitor};
use super::report::{FileIssue, Issue, codes};
use crate::domain::{
    AddressLine, ContactPreference, DateOfBirth, EmailAddress, Gender, Invalid, NhsNumber,
    ParentName, PersonName, PhoneNumber, Postcode, Relationship, SchoolUrn, YearGroup, parse_flag,
};

/// Which of the two child files this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildFileKind {
    /// A CHIS cohort extract: the school is a column.
    Cohort,
    /// A school's class list: the school is the folder.
    ClassList {
        /// The school, from the folder name.
        urn: SchoolUrn,
    },
}

impl ChildFileKind {
    /// The name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cohort => "cohort",
            Self::ClassList { .. } => "class-list",
        }
    }
}

/// A parent or carer as given on one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentRow {
    /// 1 or 2: which block of columns.
    pub slot: u8,
    /// Full name, when given.
    pub name: Option<ParentName>,
    /// Relationship to the child.
    pub relationship: Relationship,
    /// Email, when given and valid.
    pub email: Option<EmailAddress>,
    /// Phone, when given and valid (mobile or landline).
    pub phone: Option<PhoneNumber>,
    /// How they prefer to be contacted; none means any.
    pub preference: Option<ContactPreference>,
}

/// A child's postal address as given (any part may be missing in a class list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AddressRow {
    /// First line.
    pub line_1: Option<AddressLine>,
    /// Second line.
    pub line_2: Option<AddressLine>,
    /// Town.
    pub town: Option<AddressLine>,
    /// Postcode.
    pub postcode: Option<Postcode>,
}

/// One valid row: a child with their parents, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildRow {
    /// The spreadsheet row it came from.
    pub row: u64,
    /// NHS number, when given.
    pub nhs_number: Option<NhsNumber>,
    /// Legal first name.
    pub first_name: PersonName,
    /// Legal last name.
    pub last_name: PersonName,
    /// The first name the child uses, when different.
    pub preferred_first_name: Option<PersonName>,
    /// The last name the child uses, when different.
    pub preferred_last_name: Option<PersonName>,
    /// Date of birth.
    pub date_of_birth: DateOfBirth,
    /// Gender, when given.
    pub gender: Option<Gender>,
    /// The school (from the column, or the class list's folder).
    pub school_urn: SchoolUrn,
    /// Year group, when given.
    pub year_group: Option<YearGroup>,
    /// Registration (form) group, when given.
    pub registration: Option<String>,
    /// Postal address.
    pub address: AddressRow,
    /// The S-flag: never sent letters; address never shown.
    pub restricted: bool,
    /// Marked deceased: never contacted.
    pub deceased: bool,
    /// Parents and carers (0 to 2), held inline.
    pub parents: ArrayVec<ParentRow, 2>,
}

const FIRST_NAME: &str = "CHILD_FIRST_NAME";
const LAST_NAME: &str = "CHILD_LAST_NAME";
const DATE_OF_BIRTH: &str = "CHILD_DATE_OF_BIRTH";
const POSTCODE: &str = "CHILD_POSTCODE";
const SCHOOL_URN: &str = "CHILD_SCHOOL_URN";
const NHS_NUMBER: &str = "CHILD_NHS_NUMBER";
const PREFERRED_FIRST_NAME: &str = "CHILD_PREFERRED_FIRST_NAME";
const PREFERRED_LAST_NAME: &str = "CHILD_PREFERRED_LAST_NAME";
const GENDER: &str = "CHILD_GENDER";
const YEAR_GROUP: &str = "CHILD_YEAR_GROUP";
const REGISTRATION: &str = "CHILD_REGISTRATION";
const ADDRESS_LINE_1: &str = "CHILD_ADDRESS_LINE_1";
const ADDRESS_LINE_2: &str = "CHILD_ADDRESS_LINE_2";
const TOWN: &str = "CHILD_TOWN";
const RESTRICTED: &str = "CHILD_RESTRICTED";
const DECEASED: &str = "CHILD_DECEASED";
const PARENT_COLUMNS: [[&str; 5]; 2] = [
    [
        "PARENT_1_NAME",
        "PARENT_1_RELATIONSHIP",
        "PARENT_1_EMAIL",
        "PARENT_1_PHONE",
        "PARENT_1_CONTACT_PREFERENCE",
    ],
    [
        "PARENT_2_NAME",
        "PARENT_2_RELATIONSHIP",
        "PARENT_2_EMAIL",
        "PARENT_2_PHONE",
        "PARENT_2_CONTACT_PREFERENCE",
    ],
];

/// Every column the child files may have.
fn known_columns() -> impl Iterator<Item = &'static str> {
    [
        FIRST_NAME,
        LAST_NAME,
        DATE_OF_BIRTH,
        POSTCODE,
        SCHOOL_URN,
        NHS_NUMBER,
        PREFERRED_FIRST_NAME,
        PREFERRED_LAST_NAME,
        GENDER,
        YEAR_GROUP,
        REGISTRATION,
        ADDRESS_LINE_1,
        ADDRESS_LINE_2,
        TOWN,
        RESTRICTED,
        DECEASED,
    ]
    .into_iter()
    .chain(PARENT_COLUMNS.into_iter().flatten())
}

#[derive(Debug, Default, Clone, Copy)]
struct ParentColumns {
    name: Option<usize>,
    relationship: Option<usize>,
    email: Option<usize>,
    phone: Option<usize>,
    preference: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Columns {
    first_name: Option<usize>,
    last_name: Option<usize>,
    date_of_birth: Option<usize>,
    postcode: Option<usize>,
    school_urn: Option<usize>,
    nhs_number: Option<usize>,
    preferred_first_name: Option<usize>,
    preferred_last_name: Option<usize>,
    gender: Option<usize>,
    year_group: Option<usize>,
    registration: Option<usize>,
    address_line_1: Option<usize>,
    address_line_2: Option<usize>,
    town: Option<usize>,
    restricted: Option<usize>,
    deceased: Option<usize>,
    parents: [ParentColumns; 2],
}

/// Finds the rows that describe the same child, across the whole file, in little memory:
/// 8 bytes a row for NHS numbers and 16 for the name/date-of-birth/postcode match.
#[derive(Debug, Default)]
struct Duplicates {
    /// (NHS number << 30) | row.
    by_nhs: Vec<u64>,
    /// (hash of names, date of birth and postcode) << 64 | row << 1 | has NHS number.
    by_details: Vec<u128>,
}

const ROW_BITS: u32 = 30;

impl Duplicates {
    fn add(&mut self, row: u64, nhs: Option<u64>, details: Option<u64>) {
        if let Some(nhs) = nhs {
            self.by_nhs.push((nhs << ROW_BITS) | row);
        }
        if let Some(hash) = details {
            self.by_details
                .push(((hash as u128) << 64) | ((row as u128) << 1) | nhs.is_some() as u128);
        }
    }

    /// Groups of rows (ascending) that are the same child.
    fn groups(mut self) -> Vec<Vec<u64>> {
        let mut groups = Vec::new();
        self.by_nhs.sort_unstable();
        for run in self.by_nhs.chunk_by(|a, b| a >> ROW_BITS == b >> ROW_BITS) {
            if run.len() > 1 {
                groups.push(run.iter().map(|v| v & ((1 << ROW_BITS) - 1)).collect());
            }
        }
        self.by_details.sort_unstable();
        for run in self.by_details.chunk_by(|a, b| a >> 64 == b >> 64) {
            // Same details only make a duplicate when at least one of a pair lacks an NHS
            // number: two children with different NHS numbers are different children.
            let without: Vec<u64> = run
                .iter()
                .filter(|v| *v & 1 == 0)
                .map(|v| ((v >> 1) as u64) & ((1 << ROW_BITS) - 1))
                .collect();
            if without.is_empty() || run.len() < 2 {
                continue;
            }
            let mut rows: Vec<u64> = run
                .iter()
                .map(|v| ((v >> 1) as u64) & ((1 << ROW_BITS) - 1))
                .collect();
            rows.sort_unstable();
            groups.push(rows);
        }
        groups
    }
}

/// A 64-bit hash (foldhash, fixed seed) of the case-folded names, date of birth and postcode.
/// Collisions between different children are about 1 in 30 million for a million-row file.
fn details_hash(
    scratch: &mut Vec<u8>,
    first: &str,
    last: &str,
    dob: &DateOfBirth,
    postcode: &str,
) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x5a15_de7a_11ed_c0de).build_hasher();
    for part in [first, last] {
        if part.is_ascii() {
            hash_words(&mut h, part.as_bytes(), true);
        } else {
            scratch.clear();
            for c in part.chars() {
                if c.is_ascii() {
                    scratch.push(c.to_ascii_lowercase() as u8);
                    continue;
                }
                for c in c.to_lowercase() {
                    let mut buf = [0; 4];
                    scratch.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            hash_words(&mut h, scratch, false);
        }
    }
    let date = dob.date();
    h.write_u32(((date.year() as u32) << 9) | u32::from(date.ordinal()));
    hash_words(&mut h, postcode.as_bytes(), false);
    h.finish()
}

/// Feeds `bytes` to `h` eight at a time, then their length, lower-casing them on the way when
/// `ascii_lower` (they must then be ASCII). The same bytes, lower-cased here or before, feed the
/// same words.
fn hash_words(h: &mut impl std::hash::Hasher, bytes: &[u8], ascii_lower: bool) {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte is set when the byte is at least `A`, or more than `Z`.
    const FROM_A: u64 = u64::from_ne_bytes([0x80 - b'A'; 8]);
    const PAST_Z: u64 = u64::from_ne_bytes([0x80 - b'Z' - 1; 8]);
    let lower = |w: u64| {
        if !ascii_lower {
            return w;
        }
        let low = w & LOW7;
        let upper = (low + FROM_A) & !(low + PAST_Z) & HIGH;
        w | (upper >> 2)
    };
    let word = |chunk: &[u8]| lower(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h.write_u64(word(chunk));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // The last eight bytes (overlapping the word before; the length, fed next, tells the
        // two apart), or the few there are.
        h.write_u64(match bytes.len().checked_sub(8) {
            Some(from) => word(&bytes[from..]),
            None => lower(rest.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b))),
        });
    }
    h.write_usize(bytes.len());
}

/// Validates a cohort or class-list file row by row and hands each valid row to `sink`.
pub struct ChildFileValidator<S: FnMut(ChildRow)> {
    kind: ChildFileKind,
    today: Date,
    columns: Columns,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    duplicates: Duplicates,
    /// Reused by [`details_hash`].
    scratch: Vec<u8>,
    sink: S,
}

/// What validation found, once the whole file has been read.
pub type ChildFileOutcome = super::RowsOutcome;

impl<S: FnMut(ChildRow)> ChildFileValidator<S> {
    /// A validator for this kind of file, judging ages on `today`.
    pub fn new(kind: ChildFileKind, today: Date, sink: S) -> Self {
        Self {
            kind,
            today,
            columns: Columns::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            duplicates: Duplicates::default(),
            scratch: Vec::new(),
            sink,
        }
    }

    /// Adds the duplicate-child errors (which need the whole file) and sorts everything by row.
    pub fn finish(mut self) -> ChildFileOutcome {
        let duplicates = std::mem::take(&mut self.duplicates);
        for group in duplicates.groups() {
            for &row in &group {
                let others: Vec<String> = group
                    .iter()
                    .filter(|&&r| r != row)
                    .map(|r| r.to_string())
                    .collect();
                let (label, list) = if others.len() == 1 {
                    ("row", others[0].clone())
                } else {
                    ("rows", others.join(", "))
                };
                self.errors.push(Issue::new(
                    row,
                    None::<&'static str>,
                    codes::DUPLICATE_CHILD,
                    format!("This child is also on {label} {list}; keep one row per child"),
                ));
            }
        }
        // Stable sort keeps column order within a row.
        self.errors.sort_by_key(|e| e.row);
        self.errors.dedup();
        self.warnings.sort_by_key(|w| w.row);
        let mut rows_with_errors = 0;
        let mut last = None;
        for e in &self.errors {
            if e.row != last {
                rows_with_errors += 1;
                last = e.row;
            }
        }
        ChildFileOutcome {
            errors: self.errors,
            warnings: self.warnings,
            rows_with_errors,
        }
    }
}

fn missing(row: u64, column: &'static str) -> Issue {
    Issue::new(
        row,
        Some(column),
        codes::MISSING_VALUE,
        format!("{column} is empty; it must be filled in for every child"),
    )
}

fn invalid(row: u64, column: &'static str, why: Invalid) -> Issue {
    Issue::new(
        row,
        Some(column),
        why.code,
        format!("{column} should be {}", why.expected),
    )
}

/// Collects the issues of one row while parsing its cells.
struct RowCheck<'r> {
    number: u64,
    errors: &'r mut Vec<Issue>,
    failed: bool,
}

impl RowCheck<'_> {
    /// Parses an optional cell; a blank cell is `None`, an invalid one an error.
    fn optional<T>(
        &mut self,
        column: &'static str,
        cell: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        if cell.is_empty() {
            return None;
        }
        match parse(cell) {
            Ok(v) => Some(v),
            Err(why) => {
                self.errors.push(invalid(self.number, column, why));
                self.failed = true;
                None
            }
        }
    }

    /// Parses a required cell; blank is `missing_value`.
    fn required<T>(
        &mut self,
        column: &'static str,
        cell: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        if cell.is_empty() {
            self.errors.push(missing(self.number, column));
            self.failed = true;
            return None;
        }
        self.optional(column, cell, parse)
    }
}

impl<S: FnMut(ChildRow)> RowVisitor for ChildFileValidator<S> {
    fn header(&mut self, header: &Header) -> HeaderCheck {
        let mut check = HeaderCheck::default();
        let p = |name| header.position(name);
        let mut c = Columns {
            first_name: p(FIRST_NAME),
            last_name: p(LAST_NAME),
            date_of_birth: p(DATE_OF_BIRTH),
            postcode: p(POSTCODE),
            school_urn: p(SCHOOL_URN),
            nhs_number: p(NHS_NUMBER),
            preferred_first_name: p(PREFERRED_FIRST_NAME),
            preferred_last_name: p(PREFERRED_LAST_NAME),
            gender: p(GENDER),
            year_group: p(YEAR_GROUP),
            registration: p(REGISTRATION),
            address_line_1: p(ADDRESS_LINE_1),
            address_line_2: p(ADDRESS_LINE_2),
            town: p(TOWN),
            restricted: p(RESTRICTED),
            deceased: p(DECEASED),
            parents: Default::default(),
        };
        for (slot, names) in PARENT_COLUMNS.iter().enumerate() {
            c.parents[slot] = ParentColumns {
                name: p(names[0]),
                relationship: p(names[1]),
                email: p(names[2]),
                phone: p(names[3]),
                preference: p(names[4]),
            };
        }
        let mut required = vec![FIRST_NAME, LAST_NAME, DATE_OF_BIRTH];
        let known: Vec<&str> = match self.kind {
            ChildFileKind::Cohort => {
                required.extend([POSTCODE, SCHOOL_URN]);
                known_columns().collect()
            }
            // A class list's school is its folder; a URN column is not ours to read there.
            ChildFileKind::ClassList { .. } => {
                c.school_urn = None;
                known_columns().filter(|&n| n != SCHOOL_URN).collect()
            }
        };
        for name in required {
            if header.position(name).is_none() {
                check.file_errors.push(FileIssue::new(
                    codes::MISSING_COLUMN,
                    format!("The column {name} is missing; add it to the header row"),
                ));
            }
        }
        for name in header.names() {
            if !name.is_empty() && !known.contains(&name.as_str()) {
                check.warnings.push(Issue::new(
                    1,
                    Some(name.clone()),
                    codes::UNKNOWN_COLUMN,
                    format!("The column {name} is not one we read; its values are ignored"),
                ));
            }
        }
        self.columns = c;
        check
    }

    fn row_error(&mut self, issue: Issue) {
        self.errors.push(issue);
    }

    fn row(&mut self, row: &Row<'_>) {
        let c = self.columns;
        let number = row.number;
        let today = self.today;
        let mut check = RowCheck {
            number,
            errors: &mut self.errors,
            failed: false,
        };
        let get = |p: Option<usize>| row.get(p);

        let first_name = check.required(FIRST_NAME, get(c.first_name), PersonName::parse);
        let last_name = check.required(LAST_NAME, get(c.last_name), PersonName::parse);
        let date_of_birth = check.required(DATE_OF_BIRTH, get(c.date_of_birth), |s| {
            DateOfBirth::parse(s, today)
        });
        let postcode = match self.kind {
            ChildFileKind::Cohort => check.required(POSTCODE, get(c.postcode), Postcode::parse),
            ChildFileKind::ClassList { .. } => {
                check.optional(POSTCODE, get(c.postcode), Postcode::parse)
            }
        };
        let school_urn = match &self.kind {
            ChildFileKind::Cohort => {
                check.required(SCHOOL_URN, get(c.school_urn), SchoolUrn::parse)
            }
            ChildFileKind::ClassList { urn } => Some(urn.clone()),
        };
        let nhs_number = check.optional(NHS_NUMBER, get(c.nhs_number), NhsNumber::parse);
        let preferred_first_name = check.optional(
            PREFERRED_FIRST_NAME,
            get(c.preferred_first_name),
            PersonName::parse,
        );
        let preferred_last_name = check.optional(
            PREFERRED_LAST_NAME,
            get(c.preferred_last_name),
            PersonName::parse,
        );
        let gender = check.optional(GENDER, get(c.gender), Gender::parse);
        let year_group = check.optional(YEAR_GROUP, get(c.year_group), YearGroup::parse);
        let line_1 = check.optional(ADDRESS_LINE_1, get(c.address_line_1), AddressLine::parse);
        let line_2 = check.optional(ADDRESS_LINE_2, get(c.address_line_2), AddressLine::parse);
        let town = check.optional(TOWN, get(c.town), AddressLine::parse);
        let restricted = check.optional(RESTRICTED, get(c.restricted), parse_flag);
        let deceased = check.optional(DECEASED, get(c.deceased), parse_flag);
        let registration = Some(get(c.registration)).filter(|s| !s.is_empty());

        // This row's warnings go straight on the list, and come off it if the row fails.
        let warnings_before = self.warnings.len();
        let parents = parent_rows(&mut check, &mut self.warnings, &c, row);

        let failed = check.failed;
        // Duplicates are judged on whatever identifies the child, even on rows with other errors.
        self.note_for_duplicates(
            number,
            nhs_number.as_ref(),
            (&first_name, &last_name, &date_of_birth),
            postcode.as_ref().map(|p| p.value.as_str()),
        );

        let (false, Some(first_name), Some(last_name), Some(date_of_birth), Some(school_urn)) =
            (failed, first_name, last_name, date_of_birth, school_urn)
        else {
            self.warnings.truncate(warnings_before);
            return;
        };
        let corrected = postcode.as_ref().is_some_and(|p| p.corrected);
        valid_row_warnings(&mut self.warnings, number, corrected, &parents);
        (self.sink)(ChildRow {
            row: number,
            nhs_number,
            first_name,
            last_name,
            preferred_first_name,
            preferred_last_name,
            date_of_birth,
            gender,
            school_urn,
            year_group,
            registration: registration.map(str::to_owned),
            address: AddressRow {
                line_1,
                line_2,
                town,
                postcode: postcode.map(|p| p.value),
            },
            restricted: restricted.unwrap_or(false),
            deceased: deceased.unwrap_or(false),
            parents,
        });
    }
}

impl<S: FnMut(ChildRow)> ChildFileValidator<S> {
    /// Remembers what identifies the row's child (its NHS number, or a hash of its names, date
    /// of birth and postcode), for the duplicate check at the end of the file.
    fn note_for_duplicates(
        &mut self,
        number: u64,
        nhs_number: Option<&NhsNumber>,
        (first_name, last_name, date_of_birth): (
            &Option<PersonName>,
            &Option<PersonName>,
            &Option<DateOfBirth>,
        ),
        postcode: Option<&str>,
    ) {
        let details = match (first_name, last_name, date_of_birth) {
            (Some(f), Some(l), Some(d)) => Some(details_hash(
                &mut self.scratch,
                f.as_str(),
                l.as_str(),
                d,
                postcode.unwrap_or(""),
            )),
            _ => None,
        };
        if number < (1 << ROW_BITS) {
            self.duplicates
                .add(number, nhs_number.map(NhsNumber::as_u64), details);
        }
    }
}

/// The row's parent blocks: each one with a name, email or phone becomes a parent; a block
/// with only a relationship or preference is an error; a landline is a warning.
fn parent_rows(
    check: &mut RowCheck<'_>,
    warnings: &mut Vec<Issue>,
    c: &Columns,
    row: &Row<'_>,
) -> ArrayVec<ParentRow, 2> {
    let number = check.number;
    let get = |p: Option<usize>| row.get(p);
    let mut parents = ArrayVec::<ParentRow, 2>::new();
    for (slot, pc) in c.parents.iter().enumerate() {
        let names = &PARENT_COLUMNS[slot];
        let name_cell = get(pc.name);
        let email_cell = get(pc.email);
        let phone_cell = get(pc.phone);
        let relationship_cell = get(pc.relationship);
        let preference_cell = get(pc.preference);
        let name = check.optional(names[0], name_cell, ParentName::parse);
        let email = check.optional(names[2], email_cell, EmailAddress::parse);
        let phone = check.optional(names[3], phone_cell, PhoneNumber::parse);
        let preference = match ContactPreference::parse(preference_cell) {
            Ok(p) => p,
            Err(why) => {
                check.errors.push(invalid(number, names[4], why));
                check.failed = true;
                None
            }
        };
        let identified = !(name_cell.is_empty() && email_cell.is_empty() && phone_cell.is_empty());
        if !identified {
            if !relationship_cell.is_empty() || !preference_cell.is_empty() {
                check.errors.push(Issue::new(
                    number,
                    Some(names[0]),
                    codes::PARENT_INCOMPLETE,
                    format!(
                        "Parent {} has a relationship or contact preference but no name, email or phone; add one or clear the block",
                        slot + 1
                    ),
                ));
                check.failed = true;
            }
            continue;
        }
        if let Some(p) = &phone
            && !p.is_mobile()
        {
            warnings.push(Issue::new(
                number,
                Some(names[3]),
                codes::PHONE_NOT_MOBILE,
                "This parent's phone is not a mobile number, so it will never be sent texts",
            ));
        }
        parents.push(ParentRow {
            slot: slot as u8 + 1,
            name,
            relationship: Relationship::parse(relationship_cell),
            email,
            phone,
            preference,
        });
    }
    parents
}

/// The warnings of a row that is valid: a corrected postcode, no electronic contact, both
/// parents sharing one email address.
fn valid_row_warnings(
    warnings: &mut Vec<Issue>,
    number: u64,
    postcode_corrected: bool,
    parents: &[ParentRow],
) {
    if postcode_corrected {
        warnings.push(Issue::new(
            number,
            Some(POSTCODE),
            codes::POSTCODE_CORRECTED,
            "CHILD_POSTCODE had a letter O or I where a digit belongs; it was read as 0 or 1",
        ));
    }
    if !parents
        .iter()
        .any(|p| p.email.is_some() || p.phone.as_ref().is_some_and(PhoneNumber::is_mobile))
    {
        warnings.push(Issue::new(
            number,
            None::<&'static str>,
            codes::NO_ELECTRONIC_CONTACT,
            "No parent has an email address or mobile number, so only letters can reach this family",
        ));
    }
    if let [a, b] = parents
        && a.email.is_some()
        && a.email == b.email
    {
        warnings.push(Issue::new(
            number,
            Some(PARENT_COLUMNS[1][2]),
            codes::SHARED_EMAIL,
            "Both parents give the same email address; it is sent one message",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(first: &str, last: &str, dob: &str, postcode: &str) -> u64 {
        let today = time::macros::date!(2026 - 11 - 30);
        let dob = DateOfBirth::parse(dob, today).unwrap();
        details_hash(&mut Vec::new(), first, last, &dob, postcode)
    }

    #[test]
    fn details_hash_ignores_case_only() {
        let h = hash("Ava", "O'Neill-Smith", "2013-08-15", "SW1A 1AA");
        assert_eq!(h, hash("AVA", "o'neill-smith", "2013-08-15", "SW1A 1AA"));
        assert_eq!(
            hash("José", "Núñez", "2013-08-15", ""),
            hash("JOSÉ", "NÚÑEZ", "2013-08-15", "")
        );
        // The Kelvin sign lower-cases to an ASCII `k`.
        assert_eq!(
            hash("\u{212A}ate", "Lee", "2013-08-15", ""),
            hash("kate", "Lee", "2013-08-15", "")
        );
        for (first, last, dob, postcode) in [
            ("Ava", "O'Neill-Smith", "2013-08-16", "SW1A 1AA"),
            ("Ava", "O'Neill-Smith", "2013-08-15", "SW1A 1AB"),
            ("AvaO", "'Neill-Smith", "2013-08-15", "SW1A 1AA"),
            ("Ava ", "O'Neill-Smith", "2013-08-15", "SW1A 1AA"),
            ("Eva", "O'Neill-Smith", "2013-08-15", "SW1A 1AA"),
        ] {
            assert_ne!(h, hash(first, last, dob, postcode), "{first} {last}");
        }
    }

    #[test]
    fn word_lower_casing_matches_ascii_lower_casing() {
        use std::hash::BuildHasher;
        let all: Vec<u8> = (0..128).collect();
        for window in all.windows(11) {
            let state = foldhash::quality::FixedState::with_seed(1);
            let (mut a, mut b) = (state.build_hasher(), state.build_hasher());
            hash_words(&mut a, window, true);
            hash_words(&mut b, &window.to_ascii_lowercase(), false);
            assert_eq!(std::hash::Hasher::finish(&a), std::hash::Hasher::finish(&b));
        }
    }
}
