//! School unique reference numbers.

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_urn",
    expected: "a 6-digit school URN (888888 if the school is unknown, 999999 if home-schooled)",
};

/// A school's 6-digit unique reference number, or one of the two special values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchoolUrn([u8; 6]);

impl SchoolUrn {
    /// Parses exactly six ASCII digits.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bytes: [u8; 6] = s.as_bytes().try_into().map_err(|_| INVALID)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(INVALID);
        }
        Ok(Self(bytes))
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a URN is ASCII digits")
    }

    /// `888888`: the child's school is not known.
    pub fn is_unknown(&self) -> bool {
        &self.0 == b"888888"
    }

    /// `999999`: the child is educated at home.
    pub fn is_home_schooled(&self) -> bool {
        &self.0 == b"999999"
    }
}

string_serde!(SchoolUrn, SchoolUrn::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_a_urn() {
        let urn = SchoolUrn::parse("123456").unwrap();
        assert_eq!(urn.as_str(), "123456");
        assert!(!urn.is_unknown() && !urn.is_home_schooled());
    }

    #[test]
    fn the_special_values_are_recognised() {
        assert!(SchoolUrn::parse("888888").unwrap().is_unknown());
        assert!(SchoolUrn::parse("999999").unwrap().is_home_schooled());
    }

    #[test]
    fn anything_but_six_digits_is_rejected() {
        for s in ["12345", "1234567", "invalid", "12345A", "123 456", "١٢٣٤٥٦"] {
            assert_eq!(SchoolUrn::parse(s), Err(INVALID), "{s}");
        }
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        let urn = SchoolUrn::parse("120026").unwrap();
        let json = serde_json::to_string(&urn).unwrap();
        assert_eq!(serde_json::from_str::<SchoolUrn>(&json).unwrap(), urn);
        assert!(serde_json::from_str::<SchoolUrn>("\"12002\"").is_err());
    }
}
