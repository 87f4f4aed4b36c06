//! Facts about a child: gender, year group, date of birth, and the yes/no flags.

use time::{Date, Month};

use super::Invalid;
use super::serde_str::string_serde;

const INVALID_GENDER: Invalid = Invalid {
    code: "invalid_gender",
    expected: "female, male, not known or not specified",
};

const INVALID_FLAG: Invalid = Invalid {
    code: "invalid_flag",
    expected: "Y or N",
};

const INVALID_YEAR_GROUP: Invalid = Invalid {
    code: "invalid_year_group",
    expected: "a year group from 0 (reception) to 13",
};

const DOB_FORMAT: Invalid = Invalid {
    code: "invalid_date_of_birth",
    expected: "a real date written YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY",
};

const DOB_IN_FUTURE: Invalid = Invalid {
    code: "invalid_date_of_birth",
    expected: "a date that is not in the future",
};

const DOB_TOO_OLD: Invalid = Invalid {
    code: "invalid_date_of_birth",
    expected: "the date of birth of someone under 20",
};

/// A child's gender as the NHS records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Not known: not recorded.
    NotKnown,
    /// Not specified: the person chose not to say.
    NotSpecified,
}

impl Gender {
    /// Parses `female`, `male`, `not known` or `not specified`, in any case.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let is = |gender: Self| s.eq_ignore_ascii_case(gender.as_str());
        // By length first: this runs for every row.
        match s.len() {
            4 if is(Self::Male) => Ok(Self::Male),
            6 if is(Self::Female) => Ok(Self::Female),
            9 if is(Self::NotKnown) => Ok(Self::NotKnown),
            13 if is(Self::NotSpecified) => Ok(Self::NotSpecified),
            _ => Err(INVALID_GENDER),
        }
    }

    /// The canonical lower-case value: `female`, `male`, `not known`, `not specified`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::NotKnown => "not known",
            Self::NotSpecified => "not specified",
        }
    }
}

string_serde!(Gender, Gender::parse);

/// Parses a yes/no cell: `Y`/`N`, `yes`/`no`, `true`/`false` or `1`/`0`, in any case.
pub fn parse_flag(s: &str) -> Result<bool, Invalid> {
    let is = |word: &str| s.eq_ignore_ascii_case(word);
    match s.as_bytes() {
        [b'y' | b'Y' | b'1'] => Ok(true),
        [b'n' | b'N' | b'0'] => Ok(false),
        [_, _] if is("no") => Ok(false),
        [_, _, _] if is("yes") => Ok(true),
        [_, _, _, _] if is("true") => Ok(true),
        [_, _, _, _, _] if is("false") => Ok(false),
        _ => Err(INVALID_FLAG),
    }
}

/// A school year group, 0 (reception) to 13.
// Serialised as a number, as campaign files write `"year_groups": [8]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "u8")]
pub struct YearGroup(u8);

impl YearGroup {
    /// Parses one or two digits from 0 to 13.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let year = match s.as_bytes() {
            [d @ b'0'..=b'9'] => d - b'0',
            [t @ b'0'..=b'9', d @ b'0'..=b'9'] => (t - b'0') * 10 + (d - b'0'),
            _ => return Err(INVALID_YEAR_GROUP),
        };
        Self::new(year)
    }

    /// The year group's number.
    pub fn get(&self) -> u8 {
        self.0
    }

    fn new(year: u8) -> Result<Self, Invalid> {
        if year <= 13 {
            Ok(Self(year))
        } else {
            Err(INVALID_YEAR_GROUP)
        }
    }
}

impl From<YearGroup> for u8 {
    fn from(year: YearGroup) -> u8 {
        year.0
    }
}

impl<'de> serde::Deserialize<'de> for YearGroup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let year = u8::deserialize(deserializer)?;
        Self::new(year).map_err(serde::de::Error::custom)
    }
}

/// A child's date of birth: a real date, not in the future and under 20 years ago when uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateOfBirth(Date);

impl DateOfBirth {
    /// Parses `YYYY-MM-DD`, `YYYYMMDD` or `DD/MM/YYYY`, and checks the age on `today`.
    pub fn parse(s: &str, today: Date) -> Result<Self, Invalid> {
        let date = parse_date(s)?;
        if date > today {
            return Err(DOB_IN_FUTURE);
        }
        // Age in whole years; someone born on 29 February turns 20 on 1 March in other years.
        let birthday_passed = (today.month(), today.day()) >= (date.month(), date.day());
        let age = today.year() - date.year() - i32::from(!birthday_passed);
        if age >= 20 {
            return Err(DOB_TOO_OLD);
        }
        Ok(Self(date))
    }

    /// The date.
    pub fn date(&self) -> Date {
        self.0
    }

    /// The date as `YYYY-MM-DD`.
    pub fn as_iso(&self) -> String {
        let d = self.0;
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

impl serde::Serialize for DateOfBirth {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_iso())
    }
}

impl<'de> serde::Deserialize<'de> for DateOfBirth {
    /// Reads `YYYY-MM-DD` back as a real date. The age rule is not re-applied: it held on the
    /// day of upload, and a stored record must stay readable as the child grows up.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::serde_str::deserialize(deserializer, |s| {
            if s.len() == 10 && s.as_bytes()[4] == b'-' {
                parse_date(s).map(Self)
            } else {
                Err(DOB_FORMAT)
            }
        })
    }
}

/// A real date from `YYYY-MM-DD`, `YYYYMMDD` or `DD/MM/YYYY`.
fn parse_date(s: &str) -> Result<Date, Invalid> {
    let b = s.as_bytes();
    let (year, month, day) = match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => (&b[0..4], &b[5..7], &b[8..10]),
        10 if b[2] == b'/' && b[5] == b'/' => (&b[6..10], &b[3..5], &b[0..2]),
        8 => (&b[0..4], &b[4..6], &b[6..8]),
        _ => return Err(DOB_FORMAT),
    };
    let year = digits(year).ok_or(DOB_FORMAT)?;
    let month = digits(month).ok_or(DOB_FORMAT)?;
    let day = digits(day).ok_or(DOB_FORMAT)?;
    let month =
        Month::try_from(u8::try_from(month).map_err(|_| DOB_FORMAT)?).map_err(|_| DOB_FORMAT)?;
    let day = u8::try_from(day).map_err(|_| DOB_FORMAT)?;
    Date::from_calendar_date(year as i32, month, day).map_err(|_| DOB_FORMAT)
}

/// The value of a run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 15);

    fn dob(s: &str) -> Result<Date, Invalid> {
        DateOfBirth::parse(s, TODAY).map(|d| d.date())
    }

    #[test]
    fn gender_is_read_in_any_case() {
        assert_eq!(Gender::parse("Female"), Ok(Gender::Female));
        assert_eq!(Gender::parse("MALE"), Ok(Gender::Male));
        assert_eq!(Gender::parse("not known"), Ok(Gender::NotKnown));
        assert_eq!(Gender::parse("Not Specified"), Ok(Gender::NotSpecified));
    }

    #[test]
    fn other_genders_are_rejected() {
        for s in ["F", "boy", "notknown", "not  known", "unknown"] {
            assert_eq!(Gender::parse(s), Err(INVALID_GENDER), "{s}");
        }
    }

    #[test]
    fn flags_accept_every_spelling_of_yes_and_no() {
        for s in ["Y", "y", "yes", "YES", "true", "True", "1"] {
            assert_eq!(parse_flag(s), Ok(true), "{s}");
        }
        for s in ["N", "n", "no", "No", "false", "FALSE", "0"] {
            assert_eq!(parse_flag(s), Ok(false), "{s}");
        }
    }

    #[test]
    fn other_flags_are_rejected() {
        for s in ["2", "ye", "t", "maybe", "yes please"] {
            assert_eq!(parse_flag(s), Err(INVALID_FLAG), "{s}");
        }
    }

    #[test]
    fn year_groups_run_from_reception_to_thirteen() {
        assert_eq!(YearGroup::parse("0").unwrap().get(), 0);
        assert_eq!(YearGroup::parse("8").unwrap().get(), 8);
        assert_eq!(YearGroup::parse("08").unwrap().get(), 8);
        assert_eq!(YearGroup::parse("13").unwrap().get(), 13);
    }

    #[test]
    fn other_year_groups_are_rejected() {
        for s in ["14", "-1", "R", "Year 8", "100", "8.0"] {
            assert_eq!(YearGroup::parse(s), Err(INVALID_YEAR_GROUP), "{s}");
        }
    }

    #[test]
    fn year_groups_serialise_as_numbers_and_revalidate() {
        assert_eq!(
            serde_json::to_string(&YearGroup::parse("8").unwrap()).unwrap(),
            "8"
        );
        assert_eq!(serde_json::from_str::<YearGroup>("9").unwrap().get(), 9);
        assert!(serde_json::from_str::<YearGroup>("14").is_err());
    }

    #[test]
    fn dates_of_birth_are_read_in_all_three_formats() {
        assert_eq!(dob("2010-01-02"), Ok(date!(2010 - 01 - 02)));
        assert_eq!(dob("20100102"), Ok(date!(2010 - 01 - 02)));
        assert_eq!(dob("02/01/2010"), Ok(date!(2010 - 01 - 02)));
    }

    #[test]
    fn dates_that_do_not_exist_are_rejected() {
        for s in [
            "2010-02-30",
            "2010-13-01",
            "2010-00-10",
            "31/04/2010",
            "20100229",
            "2010-01-00",
        ] {
            assert_eq!(dob(s), Err(DOB_FORMAT), "{s}");
        }
        assert_eq!(dob("2012-02-29"), Ok(date!(2012 - 02 - 29)));
    }

    #[test]
    fn other_formats_are_rejected() {
        for s in [
            "invalid",
            "2/1/2010",
            "2010/01/02",
            "02-01-2010",
            "2010-1-2",
            "2010-01-0a",
            "201001021",
            "+010-01-01",
        ] {
            assert_eq!(dob(s), Err(DOB_FORMAT), "{s}");
        }
    }

    #[test]
    fn a_date_of_birth_in_the_future_is_rejected_but_today_is_fine() {
        assert_eq!(dob("2026-03-16"), Err(DOB_IN_FUTURE));
        assert_eq!(dob("2026-03-15"), Ok(TODAY));
    }

    #[test]
    fn a_child_must_be_under_twenty_on_the_day() {
        // Exactly 20 years old today is not under 20; a day younger is.
        assert_eq!(dob("2006-03-15"), Err(DOB_TOO_OLD));
        assert_eq!(dob("2006-03-16"), Ok(date!(2006 - 03 - 16)));
        assert_eq!(dob("1990-01-01"), Err(DOB_TOO_OLD));
    }

    #[test]
    fn a_leap_day_birthday_turns_twenty_on_the_first_of_march() {
        let born = "2004-02-29";
        assert!(DateOfBirth::parse(born, date!(2024 - 02 - 28)).is_ok());
        assert!(DateOfBirth::parse(born, date!(2024 - 02 - 29)).is_err());
        let born = "2005-02-28";
        assert!(DateOfBirth::parse(born, date!(2025 - 02 - 27)).is_ok());
        assert!(DateOfBirth::parse(born, date!(2025 - 02 - 28)).is_err());
        // In a year without 29 February, 28 February is still 19.
        assert!(DateOfBirth::parse("2008-02-29", date!(2028 - 02 - 28)).is_ok());
        assert!(DateOfBirth::parse("2008-02-29", date!(2028 - 03 - 01)).is_err());
    }

    #[test]
    fn dates_of_birth_serialise_as_iso_and_stay_readable_as_the_child_grows_up() {
        let d = DateOfBirth::parse("02/01/2010", TODAY).unwrap();
        assert_eq!(d.as_iso(), "2010-01-02");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "\"2010-01-02\"");
        assert_eq!(serde_json::from_str::<DateOfBirth>(&json).unwrap(), d);
        assert!(serde_json::from_str::<DateOfBirth>("\"1990-01-01\"").is_ok());
        assert!(serde_json::from_str::<DateOfBirth>("\"2010-02-30\"").is_err());
        assert!(serde_json::from_str::<DateOfBirth>("\"02/01/2010\"").is_err());
    }

    #[test]
    fn gender_serialises_as_its_canonical_value() {
        assert_eq!(
            serde_json::to_string(&Gender::NotKnown).unwrap(),
            "\"not known\""
        );
        assert_eq!(
            serde_json::from_str::<Gender>("\"Female\"").unwrap(),
            Gender::Female
        );
    }
}
