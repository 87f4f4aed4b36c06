//! NHS numbers.

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_nhs_number",
    expected: "a valid 10-digit NHS number",
};

/// A 10-digit NHS number whose modulus-11 check digit is right.
// Held inline rather than as a `String`: the reader makes hundreds of thousands per second.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

impl NhsNumber {
    /// Parses an NHS number, ignoring spaces and hyphens (`999 000 0018`, `999-000-0018`).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut digits = [0u8; 10];
        let mut len = 0;
        for &b in s.as_bytes() {
            match b {
                b'0'..=b'9' => {
                    let slot = digits.get_mut(len).ok_or(INVALID)?;
                    *slot = b;
                    len += 1;
                }
                b' ' | b'-' => {}
                _ => return Err(INVALID),
            }
        }
        if len != 10 {
            return Err(INVALID);
        }
        // Weights 10 down to 2 over the first nine digits.
        let sum: u32 = digits[..9]
            .iter()
            .zip((2..=10).rev())
            .map(|(&d, weight)| u32::from(d - b'0') * weight)
            .sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            // No check digit can make this sum valid, so NHS numbers are never issued with it.
            10 => return Err(INVALID),
            check => check,
        };
        if u32::from(digits[9] - b'0') != check {
            return Err(INVALID);
        }
        Ok(Self(digits))
    }

    /// The ten digits, without spaces.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an NHS number is ASCII digits")
    }

    /// The number as an integer, for compact keys.
    pub fn as_u64(&self) -> u64 {
        self.0.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0'))
    }
}

string_serde!(NhsNumber, NhsNumber::parse);

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> String {
        NhsNumber::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn a_valid_number_is_accepted_as_written() {
        assert_eq!(valid("9990000018"), "9990000018");
    }

    #[test]
    fn spaces_and_hyphens_are_removed() {
        assert_eq!(valid("999 000 0026"), "9990000026");
        assert_eq!(valid("999-000-0034"), "9990000034");
    }

    #[test]
    fn a_check_digit_that_computes_to_eleven_is_zero() {
        assert_eq!(valid("9999075320"), "9999075320");
        assert_eq!(valid("9435750060"), "9435750060");
    }

    #[test]
    fn a_number_whose_check_computes_to_ten_is_rejected_whatever_its_last_digit() {
        // 9,9,9,0,0,0,0,0,0 weighted 10..2 sums to 243, and 11 - 243 mod 11 = 10.
        for last in 0..=9 {
            assert_eq!(NhsNumber::parse(&format!("999000000{last}")), Err(INVALID));
        }
    }

    #[test]
    fn a_wrong_check_digit_is_rejected() {
        assert_eq!(NhsNumber::parse("9990000019"), Err(INVALID));
    }

    #[test]
    fn too_few_or_too_many_digits_are_rejected() {
        assert_eq!(NhsNumber::parse("999000001"), Err(INVALID));
        assert_eq!(NhsNumber::parse("99900000180"), Err(INVALID));
        assert_eq!(NhsNumber::parse(""), Err(INVALID));
    }

    #[test]
    fn letters_and_other_punctuation_are_rejected() {
        assert_eq!(NhsNumber::parse("invalid"), Err(INVALID));
        assert_eq!(NhsNumber::parse("999000001A"), Err(INVALID));
        assert_eq!(NhsNumber::parse("999.000.0018"), Err(INVALID));
    }

    #[test]
    fn the_numbers_in_the_mavis_files_are_valid() {
        for n in [
            "9999075320",
            "9435753868",
            "9733576468",
            "9991569146",
            "9686905561",
        ] {
            assert!(NhsNumber::parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn as_u64_is_the_same_number() {
        assert_eq!(
            NhsNumber::parse("999 000 0018").unwrap().as_u64(),
            9_990_000_018
        );
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        let n = NhsNumber::parse("9990000018").unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"9990000018\"");
        assert_eq!(serde_json::from_str::<NhsNumber>(&json).unwrap(), n);
        assert!(serde_json::from_str::<NhsNumber>("\"9990000019\"").is_err());
    }
}
